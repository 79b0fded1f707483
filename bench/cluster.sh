#!/usr/bin/env bash
# bench/cluster.sh BIN_DIR — issue 15's benchmark: three brokers of one
# cluster on this machine (127.0.0.1, ports 27171/27181/27191), replication
# factor 3, 1 KiB messages, acks=all, under --flush none and always:
#   - throughput (4 producers, 6 partitions, DURATION s);
#   - the same load on one broker with acks=1 in the same minutes (the
#     ratio the issue asks for: replicated >= 40 % of it);
#   - latency at 5,000 msgs/s (one producer, linger 0);
#   - failover: KILLS times, SIGKILL the leader of partition 0 and time
#     until the first acks=all write there succeeds (the CLI, which follows
#     NOT_LEADER and refreshes Metadata), then restart it and wait until it
#     is in sync again.
# Prints one line per figure; the raw JSON lines of ringlog-bench go to
# $OUT/raw.txt. Every process is started here and stopped by its PID; data
# lives under a temporary directory removed at the end.
set -euo pipefail
BIN=${1:?usage: bench/cluster.sh BIN_DIR}
DURATION=${DURATION:-10}
KILLS=${KILLS:-20}
SHARDS=${SHARDS:-1}
FLUSHES=${FLUSHES:-"none always"}
OUT=${OUT:-$(mktemp -d /tmp/ringlog-cluster-bench.XXXX)}
mkdir -p "$OUT"
D=$(mktemp -d /tmp/ringlog-cluster-data.XXXX)
PEERS=1@127.0.0.1:27171,2@127.0.0.1:27181,3@127.0.0.1:27191
declare -A PID
trap 'for p in "${PID[@]}"; do kill -KILL "$p" 2>/dev/null || true; done; rm -rf "$D"' EXIT

port_of() { echo $((27161 + 10 * $1)); }

start_node() { # id flush
    local id=$1 flush=$2
    "$BIN/ringlogd" --node-id "$id" --peers "$PEERS" --listen "127.0.0.1:$(port_of "$id")" \
        --metrics off --shards "$SHARDS" --flush "$flush" --data-dir "$D/n$id" \
        >>"$D/n$id.log" 2>&1 &
    PID[$id]=$!
    for _ in $(seq 100); do grep -q "ready node=$id" "$D/n$id.log" 2>/dev/null && return; sleep 0.05; done
    echo "node $id did not start" >&2
    exit 1
}

stop_all() {
    for id in "${!PID[@]}"; do kill -TERM "${PID[$id]}" 2>/dev/null || true; done
    # A graceful stop hands leaderships over first (up to 1.2 s); then KILL.
    for _ in $(seq 50); do
        local alive=0
        for id in "${!PID[@]}"; do kill -0 "${PID[$id]}" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for id in "${!PID[@]}"; do kill -KILL "${PID[$id]}" 2>/dev/null || true; done
    for id in "${!PID[@]}"; do wait "${PID[$id]}" 2>/dev/null || true; done
    PID=()
    rm -rf "$D"/n* "$D"/single
}

start_cluster() { # flush
    stop_all
    sync
    sleep 1
    for id in 1 2 3; do start_node "$id" "$1"; done
}

BOOT=127.0.0.1:27171,127.0.0.1:27181,127.0.0.1:27191

# The leader of partition 0 of topic $1, as the cluster says.
leader_of() {
    "$BIN/ringlog" --bootstrap "$BOOT" topic describe "$1" 2>/dev/null |
        sed -n 's/^partition=0 leader=\([0-9-]*\) .*/\1/p'
}

bench() { # name args...
    local name=$1
    shift
    local j
    j=$("$BIN/ringlog-bench" "$@" --json --quiet 2>/dev/null | tail -1) || j='{"error":"failed"}'
    echo "$name $j" >>"$OUT/raw.txt"
    python3 - "$name" "$j" <<'EOF'
import json, sys
name, raw = sys.argv[1], sys.argv[2]
try:
    j = json.loads(raw)
except Exception:
    print(f"{name}: failed ({raw[:80]})"); sys.exit()
lat = j.get("latency_us", {})
print(f"{name}: {j.get('msgs_per_sec', 0):,.0f} msgs/s, {j.get('mb_per_sec', 0):.1f} MB/s, "
      f"p50 {lat.get('p50', 0):.0f} us, p99 {lat.get('p99', 0):.0f} us, errors {j.get('errors', 0)}")
EOF
}

failover() { # flush
    local times=()
    "$BIN/ringlog" --bootstrap "$BOOT" topic create fo --partitions 1 --replication-factor 3
    sleep 3
    for k in $(seq "$KILLS"); do
        local leader
        leader=$(leader_of fo)
        [ -n "$leader" ] && [ "$leader" -gt 0 ] || { sleep 1; continue; }
        local others
        others=$(for id in 1 2 3; do [ "$id" != "$leader" ] && printf '127.0.0.1:%s,' "$(port_of "$id")"; done)
        local t0 t1
        t0=$(date +%s%N)
        kill -KILL "${PID[$leader]}"
        wait "${PID[$leader]}" 2>/dev/null || true
        until echo "k$k" | timeout 5 "$BIN/ringlog" --bootstrap "${others%,}" produce fo --partition 0 \
            --acks all >/dev/null 2>&1; do :; done
        t1=$(date +%s%N)
        times+=($(((t1 - t0) / 1000000)))
        start_node "$leader" "$1"
        # Back in sync (and leadership settled) before the next kill.
        for _ in $(seq 100); do
            "$BIN/ringlog" --bootstrap "$BOOT" topic describe fo 2>/dev/null | grep -q 'isr=[0-9],[0-9],[0-9]' && break
            sleep 0.1
        done
        sleep 2.5
    done
    printf '%s\n' "${times[@]}" | sort -n | python3 -c '
import sys
v = [int(x) for x in sys.stdin.read().split()]
if not v: print("failover: no kill measured"); sys.exit()
m = v[len(v) // 2] if len(v) % 2 else (v[len(v)//2 - 1] + v[len(v)//2]) / 2
print(f"failover ({len(v)} kills): median {m} ms, max {max(v)} ms, min {min(v)} ms; all: {v}")'
}

echo "cluster bench: $(date -u +%FT%TZ), $(nproc) cores, shards $SHARDS per broker, ${DURATION}s runs; raw in $OUT"
for flush in $FLUSHES; do
    start_cluster "$flush"
    # Topics made first, then 5 s for leaderships to settle on their preferred replicas.
    "$BIN/ringlog" --bootstrap "$BOOT" topic create t4 --partitions 6 --replication-factor 3
    "$BIN/ringlog" --bootstrap "$BOOT" topic create tl --partitions 1 --replication-factor 3
    sleep 5
    # Latency first: after the throughput test, its tail measured that test's gigabytes
    # being written back rather than the cluster at 5,000 msgs/s.
    bench "flush=$flush rf3 acks=all 1KiB at 5000/s" produce --topic tl --bootstrap "$BOOT" \
        --partitions 1 --replication-factor 3 --msg-size 1024 --rate 5000 --linger-ms 0 --acks all --duration "$DURATION" --warmup 3 \
        --callbacks io-thread
    bench "flush=$flush rf3 acks=all 1KiB 4 producers" produce --topic t4 --bootstrap "$BOOT" \
        --partitions 6 --replication-factor 3 --msg-size 1024 --producers 4 --acks all --duration "$DURATION" --warmup 2
    # Not in a pipeline: failover restarts brokers, and their PIDs must reach stop_all.
    failover "$flush" >"$D/failover.txt"
    sed "s/^/flush=$flush /" "$D/failover.txt"
    stop_all
    # One broker, acks=1, the same load, in the same minutes.
    sync
    sleep 1
    "$BIN/ringlogd" --listen 127.0.0.1:27301 --metrics off --shards "$SHARDS" --flush "$flush" \
        --data-dir "$D/single" >"$D/single.log" 2>&1 &
    PID[single]=$!
    for _ in $(seq 100); do grep -q ready "$D/single.log" && break; sleep 0.05; done
    bench "flush=$flush single broker acks=1 1KiB 4 producers" produce --topic t4 --bootstrap 127.0.0.1:27301 \
        --partitions 6 --msg-size 1024 --producers 4 --acks 1 --duration "$DURATION" --warmup 2
    stop_all
done
