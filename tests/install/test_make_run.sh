#!/usr/bin/env bash
# Issue 14 item 14: `make run` builds only what running a broker (and the
# quickstart's CLI) needs, not the tests, simulator and benchmarks. Reads the
# build command `make -n run` would run, configures a fresh Release tree
# (Ninja) and lists with `ninja -t commands` what building those targets
# would compile; nothing is compiled.
# Usage: test_make_run.sh SOURCE_DIR
set -euo pipefail
src=$1
work=$(mktemp -d /tmp/ringlog-make-run-XXXXXX)
trap 'rm -rf "$work"' EXIT

plan=$(make -s -n -C "$src" run BUILD_DIR="$work/build" JOBS=1)
build_cmd=$(grep -m1 -- 'cmake --build' <<<"$plan") || {
    echo "make run has no cmake --build step:"; echo "$plan"; exit 1; }
grep -q -- '--target' <<<"$build_cmd" || { echo "make run builds every target: $build_cmd"; exit 1; }
grep -q 'bin/ringlogd' <<<"$plan" || { echo "make run does not start ringlogd: $plan"; exit 1; }

targets=$(sed -n 's/.*--target \([^>;&|]*\).*/\1/p' <<<"$build_cmd")
(cd "$src" && cmake -S . -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null)
# shellcheck disable=SC2086 # one word per target
objects=$(ninja -C "$work/build" -t commands $targets | grep -o '[^ ]*\.c\.o\b' | sort -u)
count=$(grep -c . <<<"$objects" || true)
if grep -E '(^|/)(tests|bench)/' <<<"$objects"; then
    echo "make run would compile the tests or benchmarks (above)"; exit 1
fi
grep -q 'ringlogd.dir/main.c.o' <<<"$objects" || { echo "make run does not build ringlogd"; exit 1; }
grep -q 'ringlog.dir/cli/main.c.o' <<<"$objects" || { echo "make run does not build the ringlog CLI"; exit 1; }
echo "make run compiles $count objects"
