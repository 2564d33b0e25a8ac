#!/usr/bin/env bash
# Configures and builds trixc with warnings as errors, as CI does.
#
#   tools/build.sh             build/       (RelWithDebInfo, GCC, with tests)
#   tools/build.sh --sanitize  build-asan/  (-fsanitize=address,undefined, with tests)
#   tools/build.sh --fuzz      build-fuzz/  (clang + libFuzzer target trix_fuzz, no tests)
#   tools/build.sh --release   build-release/ (Release trixc only, for benchmarks)
#
# Extra arguments after the mode go to cmake's configure step, e.g.
# `tools/build.sh -DCMAKE_BUILD_TYPE=Release`. Prints the build directory on
# the last line of stdout, so callers can `dir=$(tools/build.sh ... | tail -1)`.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=normal
case "${1:-}" in
  --sanitize) mode=sanitize; shift ;;
  --fuzz) mode=fuzz; shift ;;
  --release) mode=release; shift ;;
  -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
esac

args=(-DTRIX_WERROR=ON)
targets=()
case "$mode" in
  normal) dir=build ;;
  sanitize) dir=build-asan; args+=(-DTRIX_SANITIZE=ON) ;;
  release)
    dir=build-release
    # Not -Werror: GCC 12 at -O3 gives false -Wrestrict warnings inside
    # std::string's operator+ (GCC PR 105329). CI's builds keep -Werror.
    args=(-DTRIX_WERROR=OFF -DCMAKE_BUILD_TYPE=Release -DTRIX_TESTS=OFF)
    targets=(--target trixc)
    ;;
  fuzz)
    dir=build-fuzz
    args+=(-DTRIX_FUZZ=ON -DTRIX_TESTS=OFF)
    # libFuzzer exists only in clang; CMake reads CC/CXX on first configure.
    export CC=clang CXX=clang++
    # Only the fuzzer: trixc would cost another minute of instrumented
    # compiling and nothing runs it from this directory.
    targets=(--target trix_fuzz)
    ;;
esac

cmake -S . -B "$dir" "${args[@]}" "$@" >&2
cmake --build "$dir" -j "$(nproc)" "${targets[@]}" >&2
echo "$dir"
