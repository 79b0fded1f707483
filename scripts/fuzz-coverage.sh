#!/usr/bin/env bash
# Line and branch coverage of what the fuzz corpora reach: builds the fuzz
# targets with clang's source-based coverage in BUILD_DIR (default
# build-fuzz-cov), runs each once over its seeds, kept findings and the
# corpus make fuzz grew (build-fuzz/corpus/NAME), and prints llvm-cov's
# report for proto/ (with pb_reader.h), broker/config.c and client/cli/format.c.
# Usage: scripts/fuzz-coverage.sh [BUILD_DIR] [JOBS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-fuzz-cov}
jobs=${2:-2}
CC=clang cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug \
  "-DCMAKE_C_FLAGS=-O1 -fprofile-instr-generate -fcoverage-mapping" \
  -DRINGLOG_FUZZ=ON -DRINGLOG_TESTS=OFF >/dev/null
cmake --build "$build" -j "$jobs" --target fuzz_all -- --no-print-directory >/dev/null
rm -rf "$build/profiles"
mkdir -p "$build/profiles"
objects=()
while read -r name; do
  dirs=()
  for d in "$root/tests/fuzz/corpus/$name" "$root/tests/fuzz/findings/$name" \
           "$root/build-fuzz/corpus/$name"; do
    [ -d "$d" ] && dirs+=("$d")
  done
  LLVM_PROFILE_FILE="$build/profiles/$name.profraw" \
    "$build/bin/fuzz_$name" -runs=0 "${dirs[@]}" >/dev/null 2>&1
  objects+=(-object "$build/bin/fuzz_$name")
done <"$build/fuzz-targets.txt"
llvm-profdata merge -sparse "$build"/profiles/*.profraw -o "$build/fuzz.profdata"
llvm-cov report "${objects[@]:1}" -instr-profile="$build/fuzz.profdata" \
  "$root"/proto/*.c "$root/proto/pb_reader.h" "$root/broker/config.c" "$root/client/cli/format.c"
