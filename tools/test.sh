#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this):
# set-up, a -Werror build and its tests, a sanitizer build and its tests,
# and a bounded libFuzzer run of the parser and checker.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh

phase() { printf '\n==> %s (%s)\n' "$1" "$(date +%T)"; }

phase "build"
dir=$(bash tools/build.sh | tail -1)
phase "tests"
ctest --test-dir "$dir" --output-on-failure

phase "sanitizer build"
asan=$(bash tools/build.sh --sanitize | tail -1)
phase "sanitizer tests"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$asan" --output-on-failure

phase "fuzz build"
fuzz=$(bash tools/build.sh --fuzz | tail -1)
phase "fuzz run (${TRIX_FUZZ_SECONDS:-60} s)"
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
find examples tests/golden tests/fuzz/regressions -name '*.trix' -exec cp {} "$corpus"/ \; 2>/dev/null || true
# Regressions first: every input that once crashed must now run clean.
if compgen -G "tests/fuzz/regressions/*" >/dev/null; then
  "$fuzz/trix_fuzz" tests/fuzz/regressions/*
fi
"$fuzz/trix_fuzz" -max_total_time="${TRIX_FUZZ_SECONDS:-60}" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$corpus/" "$corpus"
phase "all passed"
