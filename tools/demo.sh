#!/usr/bin/env bash
# The main job on a built-in example: set-up, build, then `trixc check` of the
# examples (they pass) and of a deliberately broken runbook (it shows E201
# with a "did you mean"). Exits 0 when both behave as expected.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
dir=$(bash tools/build.sh | tail -1)
trixc="$dir/trixc"

echo "==> trixc check examples/*.trix"
"$trixc" check examples/*.trix
echo "ok: every example passes"

echo
echo "==> trixc check examples/broken/typo.trix (expected to fail)"
set +e
"$trixc" check examples/broken/typo.trix
rc=$?
set -e
if [[ $rc -ne 1 ]]; then
  echo "demo: expected exit 1 from the broken example, got $rc" >&2
  exit 1
fi
echo "ok: the broken example was rejected with exit 1, as it should be"
