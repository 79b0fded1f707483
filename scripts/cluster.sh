#!/usr/bin/env bash
# make cluster: three brokers of one cluster on 127.0.0.1:7171, :7181 and
# :7191 (metrics on the port + 1), data in DATA/node1..3, in the
# foreground. Ctrl-C (or SIGTERM) stops all three: each leaves cleanly,
# handing its leaderships over first. Extra arguments go to every broker.
set -u
RINGLOGD=$1
DATA=$2
shift 2
PEERS=1@127.0.0.1:7171,2@127.0.0.1:7181,3@127.0.0.1:7191
pids=()
stop() {
    trap - INT TERM
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    wait
    exit 0
}
trap stop INT TERM
for i in 1 2 3; do
    port=$((7161 + 10 * i))
    mkdir -p "$DATA/node$i"
    "$RINGLOGD" --node-id "$i" --peers "$PEERS" --listen "127.0.0.1:$port" \
        --metrics "127.0.0.1:$((port + 1))" --data-dir "$DATA/node$i" "$@" \
        2> >(sed -u "s/^/[node$i] /" >&2) &
    pids+=($!)
done
# A broker killed on purpose (to watch a failover) leaves the others running.
wait
