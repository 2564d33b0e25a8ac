#!/usr/bin/env bash
# The main job on a built-in example: set-up, build, then `trixc check` of the
# examples (they pass) and of a deliberately broken runbook (it shows E201
# with a "did you mean"). Exits 0 when both behave as expected.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
dir=$(bash tools/build.sh | tail -1)
trixc="$(pwd)/$dir/trixc"

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

# The main job: a real run of examples/local-release.trix in a scratch folder
# (real processes, journal, rollback), first with a good build, then with a
# broken one that fails verification and rolls back.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp examples/local-release.trix "$work/"
(
  cd "$work"
  mkdir -p site/v1 build/v2 build/v3
  echo "<h1>v1</h1>" > site/v1/index.html
  ln -s v1 site/current
  echo "<h1>v2</h1>" > build/v2/index.html
  echo "<h1>oops</h1>" > build/v3/index.html

  echo
  echo "==> trixc plan local-release.trix"
  "$trixc" plan local-release.trix

  echo
  echo "==> trixc run local-release.trix (version v2: succeeds)"
  "$trixc" run local-release.trix
  [[ "$(readlink site/current)" == v2 ]] || { echo "demo: v2 should be live" >&2; exit 1; }

  echo
  echo "==> trixc run local-release.trix --param version=v3 (a broken build: verify fails, rollback)"
  set +e
  "$trixc" run local-release.trix --param version=v3
  rc=$?
  set -e
  [[ $rc -eq 11 ]] || { echo "demo: expected exit 11 (rolled back), got $rc" >&2; exit 1; }
  [[ "$(readlink site/current)" == v2 ]] || { echo "demo: v2 should be live again after the rollback" >&2; exit 1; }
  echo
  echo "==> trixc status"
  "$trixc" status
)
echo
echo "ok: v2 released, the broken v3 rolled back to v2 (exit 11), as it should be"
