#!/usr/bin/env bash
# Benchmark of `trixc check` (not a test; docs/performance.md has results).
#
#   tests/bench/run_bench.sh [SIZES...]     default sizes: 10000 100000 1000000
#
# Builds the Release trixc into build-release/ if needed, generates runbooks
# of about each size with gen_runbook.py, and times `trixc check` on each
# (best wall time of $RUNS runs, from hyperfine when installed, else around
# GNU time; best user+sys CPU time and the peak RSS from GNU time -v; MB/s
# is from the wall time). Then times the
# check of examples/booking.trix with hyperfine when installed, else as the
# mean of 100 runs, next to `/bin/true` and `trixc --version` (process
# start-up on this machine, and trixc's own). Environment: RUNS (default 3),
# BENCH_DIR (default build-release/bench, where the generated files are kept
# between runs), TRIXC (another trixc binary to measure, e.g. one built from
# an older commit; then nothing is built).
set -euo pipefail
cd "$(dirname "$0")/../.."

sizes=("$@")
[[ ${#sizes[@]} -gt 0 ]] || sizes=(10000 100000 1000000)
runs=${RUNS:-3}
bench_dir=${BENCH_DIR:-build-release/bench}

if [[ -n "${TRIXC:-}" ]]; then
  trixc=$TRIXC
else
  if [[ ! -x build-release/trixc ]] || [[ -n "$(find compiler grammar runtime tools stdlib -newer build-release/trixc -type f | head -1)" ]]; then
    bash tools/build.sh --release >/dev/null
  fi
  trixc=build-release/trixc
fi
mkdir -p "$bench_dir"

now_ns() { date +%s%N; }

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
if rev=$(git rev-parse --short HEAD 2>/dev/null); then
  git diff --quiet HEAD 2>/dev/null || rev="$rev + uncommitted changes"
else
  rev="not a git checkout"
fi
if [[ -n "${TRIXC:-}" ]]; then
  echo "trixc:   $trixc (given by TRIXC)"
else
  echo "trixc:   $trixc, $(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' build-release/CMakeCache.txt) build of $rev"
fi
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) before the first run"
echo

declare -A secs
printf '%10s %8s %9s %8s %8s %13s %10s\n' lines MB seconds "CPU s" MB/s "peak RSS MB" RSS/source
for n in "${sizes[@]}"; do
  f="$bench_dir/gen_$n.trix"
  [[ -f "$f" ]] || python3 tests/bench/gen_runbook.py "$n" "$f"
  lines=$(wc -l <"$f")
  bytes=$(stat -c %s "$f")
  best=""
  cpu=""
  rss=0
  for ((r = 0; r < runs; r++)); do
    t0=$(now_ns)
    if ! /usr/bin/time -v -o "$bench_dir/time.txt" "$trixc" check "$f" >/dev/null 2>"$bench_dir/stderr.txt"; then
      echo "run_bench: trixc check $f failed:" >&2
      head -20 "$bench_dir/stderr.txt" >&2
      exit 1
    fi
    t1=$(now_ns)
    ns=$((t1 - t0))
    [[ -z "$best" || $ns -lt $best ]] && best=$ns
    kb=$(sed -n 's/.*Maximum resident set size (kbytes): *//p' "$bench_dir/time.txt")
    c=$(awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.3f", s }' "$bench_dir/time.txt")
    if [[ -z "$cpu" ]] || awk -v a="$c" -v b="$cpu" 'BEGIN { exit !(a < b) }'; then cpu=$c; fi
    ((kb > rss)) && rss=$kb
  done
  # hyperfine times the trixc process alone (the loop above also times
  # date and GNU time starting up, a few ms: most of a 100k-line check).
  if command -v hyperfine >/dev/null 2>&1; then
    hyperfine -N --warmup 1 --runs "$runs" --export-json "$bench_dir/hyperfine.json" "$trixc check $f" >/dev/null 2>&1 &&
      best=$(python3 -c 'import json,sys; print(int(min(json.load(open(sys.argv[1]))["results"][0]["times"]) * 1e9))' "$bench_dir/hyperfine.json")
  fi
  secs[$n]=$best
  awk -v l="$lines" -v b="$bytes" -v ns="$best" -v c="$cpu" -v kb="$rss" 'BEGIN {
    mb = b / 1e6; s = ns / 1e9; rmb = kb * 1024 / 1e6
    printf "%10d %8.2f %9.3f %8.2f %8.1f %13.1f %10.1f\n", l, mb, s, c, mb / s, rmb, rmb / mb }'
done

echo
prev=""
for n in "${sizes[@]}"; do
  if [[ -n "$prev" ]]; then
    awk -v a="$prev" -v b="$n" -v ta="${secs[$prev]}" -v tb="${secs[$n]}" \
      'BEGIN { printf "time ratio %s vs %s lines: %.1fx for %.0fx the input\n", b, a, tb / ta, b / a }'
  fi
  prev=$n
done

echo
echo "trixc check examples/booking.trix (with /bin/true and trixc --version for reference):"
if command -v hyperfine >/dev/null 2>&1; then
  hyperfine --warmup 5 --runs 100 -N /bin/true "$trixc --version" "$trixc check examples/booking.trix" 2>&1 |
    sed -n '/Benchmark/,/Range/p'
else
  # Without hyperfine: the mean of 100 sequential runs, after 5 warm-ups.
  for _ in 1 2 3 4 5; do "$trixc" check examples/booking.trix >/dev/null 2>&1; done
  t0=$(now_ns)
  for _ in $(seq 100); do "$trixc" check examples/booking.trix >/dev/null 2>&1; done
  t1=$(now_ns)
  awk -v ns="$((t1 - t0))" 'BEGIN { printf "  mean of 100 runs: %.2f ms (hyperfine not installed)\n", ns / 100 / 1e6 }'
fi
