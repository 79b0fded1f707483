#!/usr/bin/env bash
# Issue 14 item 11: `cmake --install` into a temporary prefix gives
# bin/ringlogd, bin/ringlog, the header, the libraries and a ringlog.pc that
# follows the prefix (checked after moving the whole prefix elsewhere). Both
# examples are then built with nothing but `pkg-config ringlog` and run
# against the installed ringlogd; the build tree's ringlog.pc is checked the
# same way. Usage: test_install.sh BUILD_DIR SOURCE_DIR [EXTRA_CFLAGS]
set -euo pipefail
build=$1 src=$2 cflags=${3:-}
work=$(mktemp -d /tmp/ringlog-install-XXXXXX)
broker_pid=
cleanup() {
    if [ -n "$broker_pid" ]; then kill "$broker_pid" 2>/dev/null || true; wait "$broker_pid" || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$work/prefix" >/dev/null
mv "$work/prefix" "$work/moved" # the .pc must not remember where it was installed
prefix=$work/moved
for b in ringlogd ringlog; do
    [ -x "$prefix/bin/$b" ] || fail "bin/$b not installed"
    version=$("$prefix/bin/$b" --version) || true
    [ "$version" = "$b 0.1.0" ] || fail "$b --version: $version"
done
pc=$(find "$prefix" -name ringlog.pc)
[ -n "$pc" ] || fail "ringlog.pc not installed"
! grep -q '/usr/local' "$pc" || fail "installed ringlog.pc names /usr/local: $(cat "$pc")"

# Builds both examples into $1 with the ringlog.pc found in $2.
build_examples() {
    local out=$1 libdir
    export PKG_CONFIG_PATH=$2
    libdir=$(pkg-config --variable=libdir ringlog)
    mkdir -p "$out"
    for ex in example_producer example_consumer; do
        # shellcheck disable=SC2046,SC2086 # pkg-config's words, the caller's flags
        cc $cflags -o "$out/$ex" "$src/examples/$ex.c" $(pkg-config --cflags --libs ringlog) \
            -Wl,-rpath,"$libdir" || fail "cc $ex with PKG_CONFIG_PATH=$2"
    done
}
build_examples "$work/installed" "$(dirname "$pc")"
build_examples "$work/buildtree" "$build/lib/pkgconfig"
# (Outputs are captured first: grep -q closing a pipe early fails it under pipefail.)
libs=$(ldd "$work/installed/example_producer")
grep "libringlog.so" <<<"$libs" | grep -q "$prefix/" ||
    fail "the installed example does not load the installed library: $libs"
libs=$(ldd "$work/buildtree/example_producer")
grep "libringlog.so" <<<"$libs" | grep -q "$build/" ||
    fail "the build-tree example does not load the build tree's library: $libs"

: >"$work/broker.log" # the background child opens it later: sed below must find it at once
"$prefix/bin/ringlogd" --data-dir "$work/data" --listen 127.0.0.1:0 --metrics off --shards 1 \
    2>"$work/broker.log" &
broker_pid=$!
addr=
for _ in $(seq 200); do
    addr=$(sed -n 's/^ringlogd ready .*listen=\([^ ]*\).*/\1/p' "$work/broker.log")
    [ -n "$addr" ] && break
    kill -0 "$broker_pid" 2>/dev/null || fail "ringlogd exited: $(cat "$work/broker.log")"
    sleep 0.1
done
[ -n "$addr" ] || fail "ringlogd not ready: $(cat "$work/broker.log")"
"$prefix/bin/ringlog" --bootstrap "$addr" topic create greetings
for dir in "$work/installed" "$work/buildtree"; do
    timeout 60 "$dir/example_producer" "$addr" greetings >/dev/null || fail "$dir/example_producer"
    out=$(timeout 60 "$dir/example_consumer" "$addr" greetings) || fail "$dir/example_consumer"
    grep -q "offset 0: key=greeting-0 value=hello, ringlog 0" <<<"$out" || fail "consumer: $out"
done
echo "installed, relocated and built both examples with pkg-config"
