#!/usr/bin/env bash
# bench/peer_tls.sh BIN_DIR — replicated acks=all throughput with and
# without TLS (issue 17 item 1, links between brokers): three brokers of one
# cluster on 127.0.0.1 (ports 27471/27481/27491), replication factor 3,
# 1 KiB messages, 4 producers on 6 partitions, --flush none, ROUNDS short
# runs of DURATION s alternating plaintext and TLS (TLS: the links and the
# clients, certificates from scripts/make-dev-certs.sh). Prints one line
# per run and the median of each mode. Every process is started here and
# stopped by its PID; data and certificates live under a temporary
# directory removed at the end.
set -euo pipefail
BIN=${1:?usage: bench/peer_tls.sh BIN_DIR}
DURATION=${DURATION:-8}
ROUNDS=${ROUNDS:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
D=$(mktemp -d /tmp/ringlog-peer-tls-bench.XXXX)
PEERS=1@127.0.0.1:27471,2@127.0.0.1:27481,3@127.0.0.1:27491
BOOT=127.0.0.1:27471,127.0.0.1:27481,127.0.0.1:27491
declare -A PID
trap 'for p in "${PID[@]}"; do kill -KILL "$p" 2>/dev/null || true; done; rm -rf "$D"' EXIT
"$HERE/../scripts/make-dev-certs.sh" "$D/certs" 2>/dev/null

start_node() { # id mode
    local id=$1 tls=()
    [ "$2" = tls ] && tls=(--tls-cert "$D/certs/broker.crt" --tls-key "$D/certs/broker.key"
        --tls-ca "$D/certs/ca.crt")
    "$BIN/ringlogd" --node-id "$id" --peers "$PEERS" --listen "127.0.0.1:$((27461 + 10 * id))" \
        --metrics off --shards 1 --flush none --data-dir "$D/n$id" "${tls[@]}" >>"$D/n$id.log" 2>&1 &
    PID[$id]=$!
    for _ in $(seq 100); do grep -q "ready node=$id" "$D/n$id.log" 2>/dev/null && return; sleep 0.05; done
    echo "node $id did not start" >&2
    exit 1
}

stop_all() {
    for id in "${!PID[@]}"; do kill -TERM "${PID[$id]}" 2>/dev/null || true; done
    for id in "${!PID[@]}"; do wait "${PID[$id]}" 2>/dev/null || true; done
    PID=()
    rm -rf "$D"/n*
}

run() { # mode: writes "msgs/s errors" to $D/result (not a subshell: PID must reach stop_all)
    local env=()
    [ "$1" = tls ] && env=(RINGLOG_SECURITY_PROTOCOL=tls RINGLOG_TLS_CA="$D/certs/ca.crt")
    for id in 1 2 3; do start_node "$id" "$1"; done
    env "${env[@]}" "$BIN/ringlog" --bootstrap "$BOOT" topic create t --partitions 6 --replication-factor 3
    sleep 4 # leaderships settle on their preferred replicas
    env "${env[@]}" "$BIN/ringlog-bench" produce --topic t --bootstrap "$BOOT" --partitions 6 \
        --replication-factor 3 --msg-size 1024 --producers 4 --acks all --duration "$DURATION" \
        --warmup 2 --json --quiet 2>/dev/null | tail -1 |
        python3 -c 'import json,sys; j=json.load(sys.stdin); print("%.0f %d" % (j["msgs_per_sec"], j.get("errors", 0)))' \
            >"$D/result"
    stop_all
}

echo "peer TLS bench: $(date -u +%FT%TZ), $(nproc) cores, ${DURATION}s runs, $ROUNDS rounds"
declare -A ALL
for r in $(seq "$ROUNDS"); do
    for mode in plaintext tls; do
        run "$mode"
        read -r rate errors <"$D/result"
        echo "round $r $mode: $rate msgs/s (rf3 acks=all 1KiB, 4 producers), errors $errors"
        ALL[$mode]="${ALL[$mode]:-} $rate"
    done
done
for mode in plaintext tls; do
    echo "$mode median: $(printf '%s\n' ${ALL[$mode]} | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}') msgs/s"
done
