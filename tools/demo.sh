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
out=$("$trixc" check examples/broken/typo.trix 2>&1)
rc=$?
set -e
printf '%s\n' "$out"
if [[ $rc -ne 1 ]]; then
  echo "demo: expected exit 1 from the broken example, got $rc" >&2
  exit 1
fi
if ! grep -q 'error\[E201\].*did you mean `staging`' <<<"$out"; then
  echo "demo: expected E201 with \"did you mean \`staging\`\" for the typo" >&2
  exit 1
fi
echo "ok: the broken example was rejected (exit 1, E201 with a suggestion), as it should be"
