#!/usr/bin/env bash
# bench/groups.sh BIN_DIR — issue 16's consumer-group timings, with the CLI
# against one ringlogd on 127.0.0.1:27271 (--flush none, data in a temporary
# directory removed at the end):
#   - join: RUNS times, a new group's first member (`consume --group
#     --from-beginning --count 1`, a fresh process) from start to its first
#     message printed: process start, FindCoordinator, the first heartbeat
#     (join, target, assignment), the offset lookup and the first fetch;
#   - kill: RUNS times, two members (session-timeout-ms SESSION), one killed
#     with SIGKILL, then 40 keyed messages produced over the 4 partitions:
#     the time until the survivor has printed this run's messages of every
#     partition (those the killed member held included).
# Median and max of each, one line per figure. Every process is started here
# and stopped by its PID.
set -euo pipefail
BIN=${1:?usage: bench/groups.sh BIN_DIR}
RUNS=${RUNS:-20}
SESSION=${SESSION:-2000}
PORT=27271
D=$(mktemp -d /tmp/ringlog-groups-bench.XXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done; rm -rf "$D"' EXIT

"$BIN/ringlogd" --listen 127.0.0.1:$PORT --metrics off --shards 2 --flush none \
    --data-dir "$D/data" >"$D/broker.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -q "ready node" "$D/broker.log" && break; sleep 0.05; done
CLI=("$BIN/ringlog" --bootstrap 127.0.0.1:$PORT)
ms() { date +%s%3N; }
stats() { # label, then the figures in ms
    local label=$1
    shift
    printf '%s\n' "$@" | sort -n | awk -v l="$label" '{v[NR]=$1} END {
        m = NR % 2 ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2
        printf "%s: median %d ms, max %d ms over %d runs\n", l, m, v[NR], NR }'
}

"${CLI[@]}" topic create jt --partitions 6 >/dev/null
seq 1 60 | sed 's/.*/k&:v&/' | "${CLI[@]}" produce jt --key-separator : >/dev/null
join=()
for i in $(seq "$RUNS"); do
    t0=$(ms)
    "${CLI[@]}" consume jt --group "join-$i" --from-beginning --count 1 >/dev/null
    join+=($(($(ms) - t0)))
done
stats "join to first message (new process, new group)" "${join[@]}"

"${CLI[@]}" topic create kt --partitions 4 >/dev/null
kill_ms=()
for i in $(seq "$RUNS"); do
    g="kill-$i"
    for m in a b; do
        "${CLI[@]}" consume kt --group "$g" --from-beginning -X "session-timeout-ms=$SESSION" \
            --format '%p %v' \
            >"$D/$g.$m" 2>/dev/null &
        PIDS+=($!)
        eval "pid_$m=$!"
    done
    for _ in $(seq 200); do
        "${CLI[@]}" group describe "$g" 2>/dev/null | grep -q 'state=stable .* members=2' && break
        sleep 0.05
    done
    t0=$(ms)
    kill -KILL "$pid_b"
    wait "$pid_b" 2>/dev/null || true
    seq 1 40 | sed "s/.*/k&:$g-&/" | "${CLI[@]}" produce kt --key-separator : >/dev/null
    all=
    for _ in $(seq 1000); do # until the survivor printed this run's messages of every partition
        all=1
        for p in 0 1 2 3; do grep -q "^$p $g-" "$D/$g.a" 2>/dev/null || all=; done
        [ -n "$all" ] && break
        sleep 0.01
    done
    [ -n "$all" ] || { echo "run $i: the survivor never read every partition" >&2; exit 1; }
    kill_ms+=($(($(ms) - t0)))
    kill -TERM "$pid_a"
    wait "$pid_a" 2>/dev/null || true
done
stats "SIGKILLed member to its partitions read again (session ${SESSION} ms)" "${kill_ms[@]}"
