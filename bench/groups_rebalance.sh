#!/usr/bin/env bash
# bench/groups_rebalance.sh BIN_DIR — issue 16's last consumer-group figure:
# the throughput of the members that keep their partitions while their
# group rebalances, as a ratio of their throughput before (target >= 80%:
# no stop-the-world). One ringlogd on 127.0.0.1:27272 (--flush none, data in
# a temporary directory removed at the end), ringlog-bench producing RATE
# 16-byte messages a second over 6 partitions throughout, then RUNS times
# with a new group:
#   - members A and B (`ringlog consume --group --format %p`, one line per
#     message naming its partition, from the latest offset) read 3
#     partitions each; once the group is stable, both print and SETTLE_MS
#     passed (B catches up with what it took over),
#   - snapshot 0, WINDOW_MS later snapshot 1, then member C starts (it
#     takes one partition from each), WINDOW_MS later snapshot 2, and
#     WINDOW_MS later snapshot 3. A snapshot is each output file's size at
#     that instant (lines are counted afterwards up to it).
# A member's kept partitions are those it read both between snapshots 0
# and 1 and between 2 and 3; the figure of a run is the messages of kept
# partitions read by A and B between snapshots 1 and 2 (the rebalance)
# over those read between 0 and 1 (1.0: they never paused). Median and min
# over the runs. Every process is started here and stopped by its PID.
set -euo pipefail
BIN=${1:?usage: bench/groups_rebalance.sh BIN_DIR}
RUNS=${RUNS:-5}
RATE=${RATE:-50000}
WINDOW_MS=${WINDOW_MS:-1000}
SETTLE_MS=${SETTLE_MS:-2000} # after the group is stable: a member that took partitions over catches up
PORT=27272
D=$(mktemp -d /tmp/ringlog-rebalance-bench.XXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done; rm -rf "$D"' EXIT

"$BIN/ringlogd" --listen 127.0.0.1:$PORT --metrics off --shards 2 --flush none \
    --data-dir "$D/data" >"$D/broker.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -qs "ready node" "$D/broker.log" && break; sleep 0.05; done
CLI=("$BIN/ringlog" --bootstrap 127.0.0.1:$PORT)
"${CLI[@]}" topic create rt --partitions 6 >/dev/null
"$BIN/ringlog-bench" produce --topic rt --bootstrap 127.0.0.1:$PORT --rate "$RATE" \
    --duration $((RUNS * ((3 * WINDOW_MS + SETTLE_MS) / 1000 + 8) + 10)) --msg-size 16 --acks 1 \
    >/dev/null 2>&1 &
PIDS+=($!)
pid_load=$!

sleep_ms() { sleep "$(awk -v m="$1" 'BEGIN { printf "%.3f", m / 1000 }')"; }
size() { stat -c %s "$1"; }
# Per-partition message counts of the first BYTES bytes of FILE, as "p count" lines.
counts() { head -c "$2" "$1" | awk '{ c[$1]++ } END { for (p in c) print p, c[p] }'; }
# Messages between two snapshots (byte sizes) of FILE, per partition: "p n" lines.
between() {
    join -a 2 -e 0 -o 2.1,1.2,2.2 <(counts "$1" "$2" | sort) <(counts "$1" "$3" | sort) |
        awk '{ print $1, $3 - $2 }'
}

ratios=()
for i in $(seq "$RUNS"); do
    g="rebalance-$i"
    for m in a b; do
        "${CLI[@]}" consume rt --group "$g" --format '%p' >"$D/$g.$m" 2>/dev/null &
        PIDS+=($!)
        eval "pid_$m=$!"
    done
    for _ in $(seq 200); do
        "${CLI[@]}" group describe "$g" 2>/dev/null | grep -q 'state=stable .* members=2' &&
            [ -s "$D/$g.a" ] && [ -s "$D/$g.b" ] && break
        sleep 0.05
    done
    sleep_ms "$SETTLE_MS"
    declare -A s0 s1 s2 s3
    for m in a b; do s0[$m]=$(size "$D/$g.$m"); done
    sleep_ms "$WINDOW_MS"
    for m in a b; do s1[$m]=$(size "$D/$g.$m"); done
    "${CLI[@]}" consume rt --group "$g" --format '%p' >"$D/$g.c" 2>/dev/null &
    PIDS+=($!)
    pid_c=$!
    sleep_ms "$WINDOW_MS"
    for m in a b; do s2[$m]=$(size "$D/$g.$m"); done
    sleep_ms "$WINDOW_MS"
    for m in a b; do s3[$m]=$(size "$D/$g.$m"); done
    kill -TERM "$pid_a" "$pid_b" "$pid_c"
    wait "$pid_a" "$pid_b" "$pid_c" 2>/dev/null || true
    before=0
    during=0
    for m in a b; do
        f="$D/$g.$m"
        # kept: read in [0, 1] and in [2, 3]
        kept=$(join <(between "$f" "${s0[$m]}" "${s1[$m]}" | awk '$2 > 0' | sort) \
            <(between "$f" "${s2[$m]}" "${s3[$m]}" | awk '$2 > 0' | sort) | awk '{ print $1 }')
        for p in $kept; do
            before=$((before + $(between "$f" "${s0[$m]}" "${s1[$m]}" | awk -v p="$p" '$1 == p { print $2 }')))
            during=$((during + $(between "$f" "${s1[$m]}" "${s2[$m]}" | awk -v p="$p" '$1 == p { print $2 }')))
        done
    done
    if [ -n "${DEBUG:-}" ]; then for m in a b; do echo "$m: ${s0[$m]} ${s1[$m]} ${s2[$m]} ${s3[$m]}" >&2; between "$D/$g.$m" "${s0[$m]}" "${s1[$m]}" >&2; done; fi
    [ "$before" -gt 0 ] || { echo "run $i: the members read nothing before the join" >&2; exit 1; }
    ratios+=("$(awk -v d="$during" -v b="$before" 'BEGIN { printf "%.3f", d / b }')")
    echo "run $i: kept partitions read $during messages during the rebalance window, $before before" >&2
done
kill -TERM "$pid_load" 2>/dev/null || true
wait "$pid_load" 2>/dev/null || true
printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END {
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "kept partitions during a rebalance / before: median %.2f, min %.2f over %d runs\n",
        m, v[1], NR }'
