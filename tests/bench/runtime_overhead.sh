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
# real, user and system seconds of a command (children included)
TIMEFORMAT='%R %U %S'
measure() { { time "$@" > /dev/null 2>&1; } 2>&1; }
loop() { for ((i = 0; i < n; i++)); do sh -c true; done; }
best() { sort -n | head -1; }
: > loop.times; : > trixc.times
for round in 1 2 3 4 5; do
  measure loop >> loop.times
  rm -rf .trix
  measure "$trixc" run bench.trix >> trixc.times
done
# best (minimum) wall time of the rounds, and the CPU time (user+sys) of that round
pick() { sort -n "$1" | head -1; }
read -r lw lu ls < <(pick loop.times)
read -r tw tu ts < <(pick trixc.times)
printf 'steps: %d  (best of 5 rounds; machine: %s, %s cores, load %s)\n' "$n" "$(lscpu | sed -n 's/^Model name: *//p' | head -1)" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'bash loop of sh -c true: %.3f s wall, %.3f s CPU\n' "$lw" "$(echo "$lu + $ls" | bc -l)"
printf 'trixc run:               %.3f s wall, %.3f s CPU  (%.2f ms per step)\n' "$tw" "$(echo "$tu + $ts" | bc -l)" "$(echo "$tw * 1000 / $n" | bc -l)"
printf 'ratio:                   %.2fx wall, %.2fx CPU  (target <= 1.3x)\n' "$(echo "$tw / $lw" | bc -l)" "$(echo "($tu + $ts) / ($lu + $ls)" | bc -l)"
