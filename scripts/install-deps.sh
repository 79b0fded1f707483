#!/usr/bin/env bash
# Installs, with apt-get on Debian 12, exactly the packages Ringlog needs that
# are not installed yet. Quiet and idempotent: a second run does nothing.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config ninja-build
  liburing-dev libxxhash-dev libprotobuf-c-dev protobuf-c-compiler
  liblz4-dev libzstd-dev
  libssl-dev openssl
  libcriterion-dev
  clang libclang-rt-14-dev clang-format cppcheck
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
