#!/usr/bin/env bash
# Installs the Debian 12 packages that building, testing and running trixc
# need, and only those that are missing. Idempotent: when everything is there
# it asks dpkg once and exits 0 without touching apt.
#
# As root it installs with apt-get; otherwise it prints the one `sudo
# apt-get install ...` line that would do it and exits 1. It never starts a
# service: nginx and Prometheus are started by the tests that need them, on
# their own ports.
set -euo pipefail

# Build: compilers, CMake, and the libraries CMakeLists.txt finds.
# libclang-rt-14-dev carries libFuzzer and clang's sanitizer runtimes (the
# `clang` package does not pull it in); `time` is GNU time for the benchmark.
# trixc builds against libcurl's headers (libcurl4-openssl-dev) but loads
# libcurl.so.4 (libcurl4) with dlopen on its first HTTP request.
build_pkgs=(cmake g++ clang libclang-rt-14-dev make pkg-config python3
  tao-pegtl-dev libfmt-dev nlohmann-json3-dev libcurl4-openssl-dev libcurl4
  libcli11-dev catch2 time)
# Run and validate: real servers for end-to-end tests, third-party
# validators of what trixc emits, Graphviz for `trixc graph --format svg`, and
# pre-commit to run .pre-commit-hooks.yaml in the editor-integrations test.
# tests/emit runs emitted step scripts, which call curl, jq and awk, and reads
# YAML with python3-yaml.
tool_pkgs=(prometheus nodejs npm jq graphviz pre-commit curl python3-yaml)

installed() {
  # dpkg-query exits 1 for a name it has never seen; the status tells the rest.
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

missing=()
for p in "${build_pkgs[@]}" "${tool_pkgs[@]}"; do
  installed "$p" && continue
  # NodeSource's nodejs package provides npm itself (and conflicts with
  # Debian's npm), so a working npm command is enough.
  if [[ "$p" == npm ]] && command -v npm >/dev/null 2>&1; then continue; fi
  missing+=("$p")
done
# Any nginx will do; nginx-light is the smallest that has what we use.
if ! installed nginx-light && ! installed nginx && ! installed nginx-full && ! installed nginx-core; then
  missing+=(nginx-light)
fi

# The pinned validators of emitted files (tests/emit) install with npm into
# ~/.cache/trix-validators; the repository is cloned next to shared/.
validators() {
  local v
  v="$(cd "$(dirname "$0")/.." && pwd)/../shared/validators"
  if [[ -x "$v/install.sh" || -f "$v/install.sh" ]]; then
    bash "$v/install.sh" >/dev/null && echo "setup: validators installed"
  else
    echo "setup: no validators at $v (tests/emit will fail until they are there)" >&2
  fi
}

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: all packages present"
  validators
  exit 0
fi

cmd=(apt-get install -y --no-install-recommends "${missing[@]}")
if [[ "$(id -u)" -ne 0 ]]; then
  echo "setup: missing packages; run:" >&2
  echo "sudo ${cmd[*]}"
  exit 1
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Keep package scripts from starting nginx or Prometheus: policy-rc.d exiting
# 101 tells invoke-rc.d "not allowed". Only add one if the machine has none,
# and remove only the one we added.
added_policy=0
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  added_policy=1
fi
cleanup() { if [[ $added_policy -eq 1 ]]; then rm -f /usr/sbin/policy-rc.d; fi; }
trap cleanup EXIT

# Package lists may be stale or absent on a new machine; refresh only when
# the first try fails, since `apt-get update` costs tens of seconds.
if ! "${cmd[@]}"; then
  echo "setup: install failed; running apt-get update and retrying" >&2
  apt-get update
  "${cmd[@]}"
fi
validators
echo "setup: done"
