#!/bin/sh
# The ABI check of issue 20 item 6: libringlog.so exports exactly the
# functions ringlog.h declares (no protobuf-c or internal symbol), each in
# the RINGLOG_0.1 version node.
# Usage: test_abi.sh LIBRINGLOG_SO RINGLOG_H
set -eu
lib=$1
header=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Declared: every function prototype of the header (after the preprocessor,
# so comments and macros do not count); typedefs of callbacks are not functions.
cc -E -P -x c "$header" | tr '\n' ' ' | tr ';' '\n' | grep -v '^ *typedef' |
    grep -o '\bringlog_[a-z0-9_]* *(' | tr -d ' (' | sort -u >"$tmp/declared"

# Exported: defined dynamic symbols, without the version node's own entry.
nm -D --defined-only "$lib" | awk '$2 != "A" { print $3 }' | sort >"$tmp/exported_versioned"
sed 's/@.*//' "$tmp/exported_versioned" | sort -u >"$tmp/exported"

status=0
if ! diff -u "$tmp/declared" "$tmp/exported" >"$tmp/diff"; then
    echo "libringlog.so exports differ from ringlog.h (- declared only, + exported only):"
    grep '^[-+][a-z_]' "$tmp/diff" || true
    status=1
fi
unversioned=$(grep -v '@@RINGLOG_0\.1$' "$tmp/exported_versioned" || true)
if [ -n "$unversioned" ]; then
    echo "exported outside the RINGLOG_0.1 version node:"
    echo "$unversioned"
    status=1
fi
if ! nm -D --defined-only "$lib" | grep -q ' A RINGLOG_0\.1$'; then
    echo "no RINGLOG_0.1 version node"
    status=1
fi
count=$(wc -l <"$tmp/declared")
if [ "$count" -lt 30 ]; then
    echo "only $count functions found in $header: the header parse is broken"
    status=1
fi
[ $status -eq 0 ] && echo "ok: $count functions, all exported in RINGLOG_0.1, nothing else"
exit $status
