#!/usr/bin/env bash
# How long a canary weight change takes from decision to traffic, nginx
# reload included: a real nginx and two local backends (the local canary
# example's stack, on 127.0.0.1:18090-18092), a canary of nine weight steps
# (10% ... 90%, then 100%), and the time trixc reports for each change
# ("applied in N ms": upstream rewritten atomically, `nginx -t`, reload, and
# waiting until the old nginx workers are gone so traffic follows the new
# weights). Prints min / median / max over the changes.
#
#   tests/bench/weight_change.sh [TRIXC]    (default build-release/trixc, else build/trixc)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
trixc=${1:-}
[[ -z "$trixc" && -x "$repo/build-release/trixc" ]] && trixc="$repo/build-release/trixc"
[[ -z "$trixc" ]] && trixc="$repo/build/trixc"
work=$(mktemp -d)
stack="python3 $repo/examples/local-canary/localstack.py"
trap '$stack down "$work/stack" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
cd "$work"
$stack up stack 18090 18091 18092 v2 >/dev/null
steps=""
for w in 10 20 30 40 50 60 70 80 90 100; do steps+="weight ${w}%"$'\n'; done
cat > rb.trix <<TRIX
environment local {}
service web {
  provider = nginx
  config   = "stack/upstream.conf"
  upstream = "app"
  stable   = "127.0.0.1:18091"
  canary   = "127.0.0.1:18092"
  reload   = "sh $repo/examples/local-canary/reload.sh stack"
}
pipeline p {
  stage s {
    deploy web version "v2" with canary {
$steps    }
  }
}
TRIX
"$trixc" run rb.trix --state-dir st > out.txt
grep -o 'applied in [0-9]* ms' out.txt | awk '{print $3}' | sort -n > ms.txt
n=$(wc -l < ms.txt)
echo "weight changes: $n"
echo "decision to traffic (ms): min $(head -1 ms.txt)  median $(sed -n "$(( (n + 1) / 2 ))p" ms.txt)  max $(tail -1 ms.txt)"
# The floor: the same reload alone, without trixc.
t0=$(date +%s%N); sh "$repo/examples/local-canary/reload.sh" stack; t1=$(date +%s%N)
echo "one reload by the script alone: $(( (t1 - t0) / 1000000 )) ms"
