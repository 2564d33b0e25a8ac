#!/usr/bin/env bash
# Runtime overhead benchmark (not a test): a pipeline of 500 `run "true"`
# steps through `trixc run` (journal and fsyncs included) against a bash loop
# of 500 `sh -c true`. Target: trixc at most 1.3x the loop.
#   tests/bench/runtime_overhead.sh [path/to/trixc] [steps]
set -euo pipefail
trixc=$(realpath "${1:-build/trixc}")
n=${2:-500}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
{
  echo 'environment local { }'
  echo 'pipeline p {'
  echo '  stage s {'
  for ((i = 0; i < n; i++)); do echo '    run "true"'; done
  echo '  }'
  echo '}'
} > bench.trix
now() { date +%s.%N; }
best_loop=999 best_trixc=999
for round in 1 2 3; do
  t0=$(now); for ((i = 0; i < n; i++)); do sh -c true; done; t1=$(now)
  loop=$(echo "$t1 - $t0" | bc -l)
  rm -rf .trix
  t0=$(now); "$trixc" run bench.trix > /dev/null; t1=$(now)
  run=$(echo "$t1 - $t0" | bc -l)
  best_loop=$(echo "if ($loop < $best_loop) $loop else $best_loop" | bc -l)
  best_trixc=$(echo "if ($run < $best_trixc) $run else $best_trixc" | bc -l)
done
printf 'steps: %d  (best of 3 rounds; machine: %s, %s cores)\n' "$n" "$(lscpu | sed -n 's/^Model name: *//p' | head -1)" "$(nproc)"
printf 'bash loop of sh -c true: %.3f s\n' "$best_loop"
printf 'trixc run:               %.3f s  (%.2f ms per step)\n' "$best_trixc" "$(echo "$best_trixc * 1000 / $n" | bc -l)"
printf 'ratio:                   %.2fx  (target <= 1.3x)\n' "$(echo "$best_trixc / $best_loop" | bc -l)"
