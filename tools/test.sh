#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this):
# set-up, a -Werror build and its tests, a sanitizer build and its tests,
# and a bounded libFuzzer run of the parser and checker.
#
# Environment: TRIX_FUZZ_SECONDS (default 60) bounds the fuzz run.
# Prints how long each phase took at the end (docs/performance.md quotes it).
set -euo pipefail
cd "$(dirname "$0")/.."

fuzz_seconds=${TRIX_FUZZ_SECONDS:-60}
timings=()
phase_name=""
phase_start=0
phase() {
  local now
  now=$(date +%s)
  if [[ -n "$phase_name" ]]; then timings+=("$(printf '%-18s %4ds' "$phase_name" $((now - phase_start)))"); fi
  phase_name=$1
  phase_start=$now
  [[ -n "$1" ]] && printf '\n==> %s (%s)\n' "$1" "$(date +%T)"
  return 0
}
start=$(date +%s)

phase "setup"
bash tools/setup.sh

phase "build"
dir=$(bash tools/build.sh | tail -1)
phase "tests"
ctest --test-dir "$dir" --output-on-failure

phase "sanitizer build"
asan=$(bash tools/build.sh --sanitize | tail -1)
# Every suite, e2e included: the e2e tests wait on observable state (status,
# journal, output) with generous limits instead of fixed sleeps, and passed 3
# times in a row pinned to one core shared with a higher-priority busy loop.
# The editor suites test the VS Code grammar and pre-commit wiring (node and
# Python tools, not trixc's memory safety); they run in the normal build only.
phase "sanitizer tests"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$asan" --output-on-failure -E editor

phase "fuzz build"
fuzz=$(bash tools/build.sh --fuzz | tail -1)

phase "fuzz run"
# Regressions first: every input that once crashed must now run clean.
if compgen -G "tests/fuzz/regressions/*.trix" >/dev/null; then
  "$fuzz/trix_fuzz" tests/fuzz/regressions/*.trix
fi
# A fresh corpus each run, seeded with every real runbook we have. Files are
# named by content hash: the same basename recurs across tests/golden/*/.
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
while IFS= read -r -d '' f; do
  cp "$f" "$corpus/$(sha1sum "$f" | cut -c1-16).trix"
done < <(find examples stdlib tests/golden tests/fuzz/regressions -name '*.trix' -print0)
# Crash inputs go to build-fuzz/artifacts/, which outlives the temporary
# corpus; minimise one with `trix_fuzz -minimize_crash=1 FILE` and add it to
# tests/fuzz/regressions/. -max_len covers examples/booking.trix (9 KB).
# -timeout makes an input that takes 10 s count as a crash (a hang).
artifacts="$fuzz/artifacts"
mkdir -p "$artifacts"
if ! "$fuzz/trix_fuzz" -max_total_time="$fuzz_seconds" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
  -dict=tests/fuzz/trix.dict -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" 2>"$fuzz/fuzz.log"; then
  tail -60 "$fuzz/fuzz.log"
  echo "test.sh: the fuzzer found a crash; the input is in $artifacts/" >&2
  exit 1
fi
grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$fuzz/fuzz.log" || true

phase ""
printf '\n==> all passed in %ds\n' $(($(date +%s) - start))
printf '  %s\n' "${timings[@]}"
