#!/usr/bin/env bash
# The main job on built-in examples: set-up, build, `trixc check` of the
# examples (they pass) and of a deliberately broken runbook (E201 with a "did
# you mean"), a real local release with a rollback, and a canary rollout
# through a real nginx (examples/local-canary.trix). Exits 0 when all behave.
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
cleanup() {
  # The canary part leaves nginx and two backends running until here.
  [[ -d "$work/examples" ]] && (cd "$work" && python3 examples/local-canary/localstack.py down .trix/local-canary >/dev/null 2>&1 || true)
  rm -rf "$work"
}
trap cleanup EXIT
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

# The main job: a canary rollout through a real nginx (examples/local-canary.trix).
# Two local backends (v1 stable, the new version beside it) behind nginx on
# 127.0.0.1:18080; traffic moves 25% -> 50% -> 100% with an analysis between
# the steps. Then a broken version fails its analysis at 25% and nginx sends
# everything back to v1.
for port in 18080 18081 18082; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "demo: port $port on 127.0.0.1 is in use; the local canary needs 18080-18082 free" >&2
    exit 1
  fi
done
mkdir -p "$work/examples"
cp -r examples/local-canary.trix examples/local-canary "$work/examples/"
(
  cd "$work"
  echo
  echo "==> trixc plan examples/local-canary.trix"
  "$trixc" plan examples/local-canary.trix

  echo
  echo "==> trixc run examples/local-canary.trix (v2: traffic shifts to it through nginx)"
  "$trixc" run examples/local-canary.trix
  share=$(python3 examples/local-canary/localstack.py share http://127.0.0.1:18080/ 20)
  [[ "$share" == "v2=100%" ]] || { echo "demo: all traffic should reach v2, got: $share" >&2; exit 1; }

  echo
  echo "==> trixc run examples/local-canary.trix --param version=v3-broken (fails its analysis: abort, traffic back)"
  set +e
  "$trixc" run examples/local-canary.trix --param version=v3-broken
  rc=$?
  set -e
  [[ $rc -eq 11 ]] || { echo "demo: expected exit 11 (rolled back), got $rc" >&2; exit 1; }
  share=$(python3 examples/local-canary/localstack.py share http://127.0.0.1:18080/ 20)
  [[ "$share" == "v1=100%" ]] || { echo "demo: all traffic should be back on v1, got: $share" >&2; exit 1; }
)
echo
echo "ok: v2 rolled out through nginx as a canary; the broken v3 failed its analysis and traffic went back to v1 (exit 11)"
