#!/usr/bin/env bash
# bench/run.sh: reproduces the broker sections of docs/BENCHMARKS.md on this
# machine, in one run. Measures the machine's limits first (loopback TCP with
# `ringlog-bench net`, the disk with `ringlog-bench disk`), then starts
# ringlogd on a free port (one per flush policy) and runs the matrix and the
# latency points with `ringlog-bench produce`, each RUNS times, and writes
# the medians, each beside the limit it approaches, between the markers
# "<!-- run.sh:begin -->" and "<!-- run.sh:end -->" of docs/BENCHMARKS.md
# (the rest of the file is left alone), plus docs/bench-throughput.svg.
#
#   bench/run.sh                 # full run (~20 min on 2 cores)
#   QUICK=1 bench/run.sh         # 1 run each, short durations: a smoke test of the script
#
# Environment: BUILD (build dir, default build; `make build` runs first unless
# SKIP_BUILD=1), RUNS (3), DURATION (matrix seconds per run, 5), LONG (the
# sustained runs, 30), WORK (scratch dir with the broker's data, on the disk
# being measured; default a new dir under /tmp), OUT (docs/BENCHMARKS.md),
# SVG (docs/bench-throughput.svg). Needs only bash, awk, sort and the build.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-build}
RUNS=${RUNS:-3}
DURATION=${DURATION:-5}
LONG=${LONG:-30}
WARMUP=${WARMUP:-1}
OUT=${OUT:-docs/BENCHMARKS.md}
SVG=${SVG:-docs/bench-throughput.svg}
if [[ -n "${QUICK:-}" ]]; then
    RUNS=1 DURATION=2 LONG=3 WARMUP=0.5
fi
if [[ -z "${SKIP_BUILD:-}" ]]; then make build >/dev/null; fi
BIN=$ROOT/$BUILD/bin
WORK=${WORK:-$(mktemp -d /tmp/ringlog-bench.XXXXXX)}
mkdir -p "$WORK"
RESULTS=$WORK/results.tsv # config-key \t run \t json
: >"$RESULTS"
CMDS=$WORK/commands.txt
: >"$CMDS"
BROKER_PID=
cleanup() {
    if [[ -n "$BROKER_PID" ]]; then kill "$BROKER_PID" 2>/dev/null || true; wait "$BROKER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"/data-*
}
trap cleanup EXIT
log() { echo "run.sh: $*" >&2; }

# jf JSON KEY: a numeric field ("p99" does not match "p999").
jf() { grep -o "\"$2\":[-0-9.e+]*" <<<"$1" | head -1 | cut -d: -f2; }
# median of the numbers on stdin
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
# med KEY FIELD: median over the runs of config KEY
med() { awk -F'\t' -v k="$1" '$1==k {print $3}' "$RESULTS" | while read -r j; do jf "$j" "$2"; done | median; }
fmt() { awk -v v="$1" -v d="${2:-0}" 'BEGIN { if (v=="nan"||v=="") print "–"; else printf("%.*f\n", d, v) }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b>0 && a!="nan") printf("%.0f %%\n", 100*a/b); else print "–" }'; }

# ------------------------------------------------------------ machine limits
log "machine limits (work dir $WORK)"
for i in $(seq "$RUNS"); do
    printf 'net\t%s\t%s\n' "$i" "$("$BIN/ringlog-bench" net --bytes 4G --json)" >>"$RESULTS"
    printf 'disk_end\t%s\t%s\n' "$i" "$("$BIN/ringlog-bench" disk --dir "$WORK" --bytes 2G --batch-bytes 1M --json)" >>"$RESULTS"
    # Sustained: as long as the sustained broker runs, over 8 files like 8 partitions
    printf 'disk_long\t%s\t%s\n' "$i" "$("$BIN/ringlog-bench" disk --dir "$WORK" --duration "$LONG" --files 8 --batch-bytes 1M --json)" >>"$RESULTS"
    sleep 5 # the filesystem discards the deleted blocks
    printf 'disk_each\t%s\t%s\n' "$i" "$("$BIN/ringlog-bench" disk --dir "$WORK" --bytes 1G --batch-bytes 1M --sync each --json)" >>"$RESULTS"
    printf 'disk_sync\t%s\t%s\n' "$i" "$("$BIN/ringlog-bench" disk --dir "$WORK" --bytes 8M --batch-bytes 4K --sync each --json)" >>"$RESULTS"
done
cat >>"$CMDS" <<EOF
ringlog-bench net --bytes 4G --json
ringlog-bench disk --dir WORK --bytes 2G --batch-bytes 1M --json
ringlog-bench disk --dir WORK --duration $LONG --files 8 --batch-bytes 1M --json
ringlog-bench disk --dir WORK --bytes 1G --batch-bytes 1M --sync each --json
ringlog-bench disk --dir WORK --bytes 8M --batch-bytes 4K --sync each --json
EOF
NET=$(med net mb_per_sec)
RTT50=$(awk -F'\t' '$1=="net"{print $3}' "$RESULTS" | grep -o '"rtt_us":{"p50":[0-9.]*' | grep -o '[0-9.]*$' | median)
RTT99=$(awk -F'\t' '$1=="net"{print $3}' "$RESULTS" | grep -o '"p99":[0-9.]*' | grep -o '[0-9.]*$' | median)
DISK_BURST=$(med disk_end mb_per_sec)
DISK=$(med disk_long mb_per_sec)
DISK_EACH=$(med disk_each mb_per_sec)
SYNC_US=$(awk -F'\t' '$1=="disk_sync"{print $3}' "$RESULTS" | while read -r j; do
    awk -v s="$(jf "$j" seconds)" -v n="$(jf "$j" fdatasyncs)" 'BEGIN{printf("%.1f\n", s/n*1e6)}'; done | median)
LIMIT=$(awk -v a="$NET" -v b="$DISK" 'BEGIN{print (a<b)?a:b}')
log "loopback ${NET} MB/s, disk ${DISK} MB/s sustained, ${DISK_BURST} MB/s for 2 GiB (fdatasync/MiB ${DISK_EACH} MB/s, ${SYNC_US} us/fdatasync)"

# ------------------------------------------------------------ the broker
start_broker() { # FLUSH
    stop_broker
    local dir=$WORK/data-$1
    rm -rf "$dir"
    "$BIN/ringlogd" --data-dir "$dir" --listen 127.0.0.1:0 --metrics off --flush "$1" \
        --log-level warn 2>"$WORK/broker-$1.log" &
    BROKER_PID=$!
    for _ in $(seq 200); do
        if grep -q 'ringlogd ready' "$WORK/broker-$1.log" 2>/dev/null; then break; fi
        sleep 0.05
    done
    PORT=$(grep -o 'listen=[0-9.]*:[0-9]*' "$WORK/broker-$1.log" | head -1 | cut -d: -f2)
    [[ -n "$PORT" ]] || { cat "$WORK/broker-$1.log" >&2; exit 1; }
    BOOT=127.0.0.1:$PORT
    log "ringlogd --flush $1 on $BOOT (pid $BROKER_PID)"
}
stop_broker() {
    if [[ -n "$BROKER_PID" ]]; then
        kill "$BROKER_PID"
        wait "$BROKER_PID" || true
        BROKER_PID=
    fi
}
# settle: before a sustained or latency run, let the disk finish what the
# previous runs left (writeback, and the discards of deleted topics on a
# filesystem mounted with `discard`), so a run does not measure its predecessor.
settle() { sync; sleep 5; }
# floor_light FLUSH I: 1 KiB writes at 5,000/s for as long as a light run, straight to
# a file with write() (and fdatasync each under flush always), timed like messages.
floor_light() {
    local sync=end
    [[ $1 == always ]] && sync=each
    local args=(disk --dir "$WORK" --duration "$((DURATION * 2))" --batch-bytes 1K --rate 5000 --sync "$sync" --json)
    grep -q "^floor_light_$1:" "$CMDS" || echo "floor_light_$1: ringlog-bench ${args[*]}" | sed "s|$WORK|WORK|" >>"$CMDS"
    local json
    json=$("$BIN/ringlog-bench" "${args[@]}") || log "floor_light_$1 exited non-zero"
    printf '%s\t%s\t%s\n' "floor_light_$1" "$2" "$json" >>"$RESULTS"
    log "floor_light_$1 #$2: p50 $(jf "$json" p50) us, p99 $(jf "$json" p99) us"
}
TOPIC_SEQ=0
# run KEY ARGS...: one ringlog-bench produce run on a new topic, recorded under KEY
run() {
    local key=$1 i=$2
    shift 2
    TOPIC_SEQ=$((TOPIC_SEQ + 1))
    local topic=b$TOPIC_SEQ
    local json
    json=$("$BIN/ringlog-bench" "$@" --topic "$topic" --bootstrap "$BOOT" --broker-pid "$BROKER_PID" \
        --json --quiet) || log "run $key exited non-zero"
    printf '%s\t%s\t%s\n' "$key" "$i" "$json" >>"$RESULTS"
    log "$key #$i: $(jf "$json" msgs_per_sec) msgs/s, $(jf "$json" mb_per_sec) MB/s, p99 $(jf "$json" p99) us, errors $(jf "$json" errors)"
    "$BIN/ringlog" --bootstrap "$BOOT" topic delete "$topic" >/dev/null 2>&1 || true
}
record_cmd() { # KEY FLUSH ARGS...
    local key=$1 flush=$2
    shift 2
    grep -q "^$key:" "$CMDS" 2>/dev/null || echo "$key: ringlogd --flush $flush; ringlog-bench $*" >>"$CMDS"
}

SIZES="100 1024"
ACKS="1 all"
PRODS="1 4"
PARTS="1 8"
for flush in none always; do
    start_broker "$flush"
    for i in $(seq "$RUNS"); do
        for size in $SIZES; do for acks in $ACKS; do for np in $PRODS; do for parts in $PARTS; do
            key="m_${size}_${acks}_${flush}_${np}_${parts}"
            args=(produce --msg-size "$size" --acks "$acks" --producers "$np" --partitions "$parts"
                --duration "$DURATION" --warmup "$WARMUP")
            record_cmd "$key" "$flush" "${args[@]}"
            run "$key" "$i" "${args[@]}"
        done; done; done; done
        # Sustained: 30 s, 1 KiB and 100 B, acks 1, 1 producer, 8 partitions
        for size in 1024 100; do
            key="long_${size}_${flush}"
            args=(produce --msg-size "$size" --acks 1 --producers 1 --partitions 8 --duration "$LONG" --warmup "$WARMUP")
            record_cmd "$key" "$flush" "${args[@]}"
            settle
            run "$key" "$i" "${args[@]}"
        done
        # Sustained with 4 producers: the broker's capacity, not one producer thread's
        if [[ $flush == none ]]; then
            key="long_1024_none_p4"
            args=(produce --msg-size 1024 --acks 1 --producers 4 --partitions 8 --duration "$LONG" --warmup "$WARMUP")
            record_cmd "$key" "$flush" "${args[@]}"
            settle
            run "$key" "$i" "${args[@]}"
        fi
        # The client's CPU with one ringlog_produce call per message (no batch API)
        if [[ $flush == none ]]; then
            key="pb1_100_none"
            args=(produce --msg-size 100 --acks 1 --producers 1 --partitions 8 --produce-batch 1 --duration "$((DURATION * 2))" --warmup "$WARMUP")
            record_cmd "$key" "$flush" "${args[@]}"
            run "$key" "$i" "${args[@]}"
        fi
        # Light load: 5,000 msgs/s of 1 KiB, acks 1, no linger. First the
        # disk's own floor under it, in the same minutes (the disk's latency
        # varies from minute to minute): the same writes, bare.
        settle
        floor_light "$flush" "$i"
        key="light_$flush"
        args=(produce --msg-size 1024 --acks 1 --rate 5000 --linger-ms 0 --duration "$((DURATION * 2))" --warmup "$WARMUP")
        record_cmd "$key" "$flush" "${args[@]}"
        settle
        run "$key" "$i" "${args[@]}"
        key="light_e2e_$flush"
        args=(e2e --msg-size 1024 --acks 1 --rate 5000 --linger-ms 0 --duration "$((DURATION * 2))" --warmup "$WARMUP")
        record_cmd "$key" "$flush" "${args[@]}"
        settle
        run "$key" "$i" "${args[@]}"
    done
    # Half load: half of the sustained 1 KiB figure of this flush policy, fixed rate.
    MAXR=$(med "long_1024_$flush" msgs_per_sec)
    HALF=$(awk -v m="$MAXR" 'BEGIN{printf("%d\n", m/2)}')
    for i in $(seq "$RUNS"); do
        key="half_$flush"
        args=(produce --msg-size 1024 --acks 1 --producers 1 --partitions 8 --rate "$HALF" --linger-ms 1 --duration "$((DURATION * 2))" --warmup "$WARMUP")
        record_cmd "$key" "$flush" "${args[@]}"
        settle
        run "$key" "$i" "${args[@]}"
    done
    eval "HALF_$flush=$HALF"
done
# Consume throughput: what a consumer reads back (flush none broker, 1 KiB, 8 partitions).
start_broker none
for i in $(seq "$RUNS"); do
    TOPIC_SEQ=$((TOPIC_SEQ + 1))
    t=c$TOPIC_SEQ
    "$BIN/ringlog-bench" produce --topic "$t" --bootstrap "$BOOT" --msg-size 1024 --acks 1 --partitions 8 \
        --count 2000000 --quiet --json >/dev/null
    json=$("$BIN/ringlog-bench" consume --topic "$t" --bootstrap "$BOOT" --consumers 1 --count 2000000 \
        --broker-pid "$BROKER_PID" --quiet --json)
    printf 'consume\t%s\t%s\n' "$i" "$json" >>"$RESULTS"
    log "consume #$i: $(jf "$json" msgs_per_sec) msgs/s $(jf "$json" mb_per_sec) MB/s"
    "$BIN/ringlog" --bootstrap "$BOOT" topic delete "$t" >/dev/null 2>&1 || true
done
echo "consume: ringlogd --flush none; ringlog-bench produce --msg-size 1024 --acks 1 --partitions 8 --count 2000000; ringlog-bench consume --consumers 1 --count 2000000" >>"$CMDS"
stop_broker
cp "$RESULTS" "$ROOT/docs/bench-results.tsv"

# ------------------------------------------------------------ the report
CPU_MODEL=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
KERNEL=$(uname -r)
DATE=$(date -u +%Y-%m-%d)
GIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)

L1024=$(med long_1024_none mb_per_sec)
L1024P4=$(med long_1024_none_p4 mb_per_sec)
L1024M=$(med long_1024_none msgs_per_sec)
L100=$(med long_100_none msgs_per_sec)
L100MB=$(med long_100_none mb_per_sec)
A1024=$(med long_1024_always mb_per_sec)
A100=$(med long_100_always msgs_per_sec)
verdict() { awk -v c="$1" 'BEGIN{print (c) ? "**met**" : "**missed**"}'; }

{
    echo "<!-- run.sh:begin -->"
    echo "<!-- Generated by bench/run.sh on $DATE (commit $GIT): do not edit by hand; rerun it. -->"
    echo
    echo "## Machine limits"
    echo
    echo "Measured by \`bench/run.sh\` on this machine, in the same run as the figures below"
    echo "(medians of $RUNS runs): $(nproc) CPUs ($CPU_MODEL), Linux $KERNEL, data on the disk of \`$(df --output=source "$WORK" | tail -1)\`."
    echo
    echo "| limit | how | median |"
    echo "|---|---|---:|"
    echo "| loopback TCP, one stream | \`ringlog-bench net\`: 4 GiB through one 127.0.0.1 connection, 256 KiB sends | $(fmt "$NET") MB/s |"
    echo "| loopback round trip, 1 KiB | \`ringlog-bench net\`: ping-pong, p50 / p99 | $(fmt "$RTT50" 1) / $(fmt "$RTT99" 1) µs |"
    echo "| disk, sustained buffered writes | \`ringlog-bench disk --duration $LONG --files 8\`: 1 MiB writes round-robin over 8 files for ${LONG} s, as the sustained broker runs write 8 partitions; bytes written in that time | $(fmt "$DISK") MB/s |"
    echo "| disk, 2 GiB burst | \`ringlog-bench disk --sync end\`: 2 GiB in 1 MiB writes into one file, one fsync | $(fmt "$DISK_BURST") MB/s |"
    echo "| disk, fdatasync every 1 MiB | \`ringlog-bench disk --sync each --batch-bytes 1M\` | $(fmt "$DISK_EACH") MB/s |"
    echo "| one fdatasync (4 KiB appended) | \`ringlog-bench disk --sync each --batch-bytes 4K\` | $(fmt "$SYNC_US" 0) µs |"
    echo "| **limit for the broker** | the lower of loopback TCP and sustained disk | **$(fmt "$LIMIT") MB/s** |"
    echo
    echo "## Broker throughput and latency"
    echo
    echo "One \`ringlogd\` (2 shards, \`--metrics off\`), one \`ringlog-bench produce\` process, each"
    echo "producer its own thread and connection, as fast as the client library accepts"
    echo "(no \`--rate\`: latency is produce call → acknowledgement, which at full"
    echo "speed is mostly time queued in the producer's 32 MiB buffer). Client defaults:"
    echo "linger 5 ms, 64 KiB batches, idempotence on, 5 requests in flight; the bench hands"
    echo "its messages to \`ringlog_produce_batch\` 16 at a time (\`--produce-batch 16\`). ${DURATION} s"
    echo "measured after ${WARMUP} s of warmup, a new topic per run; medians of $RUNS runs."
    echo "\"of limit\" is MB/s of payload divided by the limit above."
    echo
    echo "| size | acks | flush | producers | partitions | msgs/s | MB/s | of limit | p50 ms | p99 ms | p99.9 ms |"
    echo "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    for size in $SIZES; do for acks in $ACKS; do for flush in none always; do for np in $PRODS; do for parts in $PARTS; do
        k="m_${size}_${acks}_${flush}_${np}_${parts}"
        mb=$(med "$k" mb_per_sec)
        echo "| $size | $acks | $flush | $np | $parts | $(fmt "$(med "$k" msgs_per_sec)") | $(fmt "$mb" 1) | $(pct "$mb" "$LIMIT") | $(fmt "$(awk -v v="$(med "$k" p50)" 'BEGIN{print v/1000}')" 2) | $(fmt "$(awk -v v="$(med "$k" p99)" 'BEGIN{print v/1000}')" 2) | $(fmt "$(awk -v v="$(med "$k" p999)" 'BEGIN{print v/1000}')" 2) |"
    done; done; done; done; done
    echo
    echo "Sustained, ${LONG} s, acks 1, 8 partitions, 1 producer unless said:"
    echo
    echo "| run | msgs/s | MB/s | of limit | target | |"
    echo "|---|---:|---:|---:|---|---|"
    echo "| 1 KiB, flush none, 4 producers | $(fmt "$(med long_1024_none_p4 msgs_per_sec)") | $(fmt "$L1024P4" 1) | $(pct "$L1024P4" "$LIMIT") | ≥ 70 % of $(fmt "$LIMIT") MB/s | $(verdict "$(awk -v a="$L1024P4" -v l="$LIMIT" 'BEGIN{print (a>=0.7*l)}')") |"
    echo "| 1 KiB, flush none | $(fmt "$L1024M") | $(fmt "$L1024" 1) | $(pct "$L1024" "$LIMIT") | (one producer thread) | |"
    echo "| 100 B, flush none | $(fmt "$L100") | $(fmt "$L100MB" 1) | $(pct "$L100MB" "$LIMIT") | ≥ 2,000,000 msgs/s | $(verdict "$(awk -v a="$L100" 'BEGIN{print (a>=2000000)}')") |"
    echo "| 1 KiB, flush always | $(fmt "$(med long_1024_always msgs_per_sec)") | $(fmt "$A1024" 1) | $(pct "$A1024" "$L1024") of flush none | ≥ 60 % of flush none | $(verdict "$(awk -v a="$A1024" -v l="$L1024" 'BEGIN{print (a>=0.6*l)}')") |"
    echo "| 100 B, flush always | $(fmt "$A100") | $(fmt "$(med long_100_always mb_per_sec)" 1) | | | |"
    echo "| consume 1 KiB, 1 consumer, 8 partitions | $(fmt "$(med consume msgs_per_sec)") | $(fmt "$(med consume mb_per_sec)" 1) | $(pct "$(med consume mb_per_sec)" "$NET") of loopback | | |"
    echo
    echo "![throughput and p99](bench-throughput.svg)"
    echo
    echo "## Latency at light load"
    echo
    echo "5,000 msgs/s of 1 KiB on a fixed schedule (\`--rate 5000\`), acks 1, \`--linger-ms 0\`,"
    echo "$((DURATION * 2)) s after ${WARMUP} s warmup. Latency counts from each message's *intended*"
    echo "send time (no coordinated omission). Under every broker figure is a floor: the"
    echo "loopback round trip above ($(fmt "$RTT50" 1) µs p50, $(fmt "$RTT99" 1) µs p99) and, just before each"
    echo "light run, the same writes straight to a file with no broker, no network and no"
    echo "group commit: 1 KiB \`write()\`s at 5,000/s, with an \`fdatasync\` after each for"
    echo "flush always, timed the same way (\`ringlog-bench disk --rate 5000\`, command below)."
    echo
    echo "| run | p50 µs | p90 µs | p99 µs | p99.9 µs | p99.99 µs | max µs | target | |"
    echo "|---|---:|---:|---:|---:|---:|---:|---|---|"
    for flush in none always; do
        m="floor_light_$flush"
        what="write 1 KiB"
        [[ $flush == always ]] && what="write 1 KiB + fdatasync"
        echo "| floor, flush $flush: $what, bare | $(fmt "$(med "$m" p50)" 1) | $(fmt "$(med "$m" p90)" 1) | $(fmt "$(med "$m" p99)" 1) | $(fmt "$(med "$m" p999)" 1) | – | $(fmt "$(med "$m" max)" 1) | | |"
        for m in "light_$flush" "light_e2e_$flush"; do
            what="produce → ack"
            [[ $m == light_e2e_* ]] && what="produce → consume (e2e)"
            tgt="" ok=""
            if [[ $m == light_none ]]; then
                tgt="p50 < 70, p99 < 150"
                ok=$(verdict "$(awk -v a="$(med "$m" p50)" -v b="$(med "$m" p99)" 'BEGIN{print (a<70 && b<150)}')")
            elif [[ $m == light_always ]]; then
                tgt="p99 < 400"
                ok=$(verdict "$(awk -v b="$(med "$m" p99)" 'BEGIN{print (b<400)}')")
            fi
            echo "| flush $flush, $what | $(fmt "$(med "$m" p50)" 1) | $(fmt "$(med "$m" p90)" 1) | $(fmt "$(med "$m" p99)" 1) | $(fmt "$(med "$m" p999)" 1) | $(fmt "$(med "$m" p9999)" 1) | $(fmt "$(med "$m" max)" 1) | $tgt | $ok |"
        done
    done
    echo
    echo "## Latency at half load"
    echo
    echo "Half of the sustained 1 KiB figure of the same flush policy, on a fixed schedule,"
    echo "acks 1, 1 producer, 8 partitions, \`--linger-ms 1\`."
    echo
    echo "| run | rate msgs/s | achieved msgs/s | p50 µs | p99 µs | p99.9 µs | max µs | target | |"
    echo "|---|---:|---:|---:|---:|---:|---:|---|---|"
    for flush in none always; do
        m="half_$flush"
        hv="HALF_$flush"
        ok=$(verdict "$(awk -v b="$(med "$m" p99)" -v c="$(med "$m" p999)" 'BEGIN{print (b<2000 && c<5000)}')")
        echo "| flush $flush | ${!hv} | $(fmt "$(med "$m" msgs_per_sec)") | $(fmt "$(med "$m" p50)" 1) | $(fmt "$(med "$m" p99)" 1) | $(fmt "$(med "$m" p999)" 1) | $(fmt "$(med "$m" max)" 1) | p99 < 2000, p99.9 < 5000 | $ok |"
    done
    echo
    echo "## CPU per message"
    echo
    echo "CPU seconds per million messages, over the measured window: the bench client from"
    echo "\`getrusage(RUSAGE_SELF)\` (all its threads, the library's I/O threads included), the"
    echo "broker from \`/proc/PID/stat\` utime + stime (all its threads; \`--broker-pid\`)."
    echo "Target: the client spends less than the broker. \`pb1_100_none\` is the 100 B run with"
    echo "\`--produce-batch 1\` (one \`ringlog_produce\` call per message), for comparison."
    echo
    echo "| run | client s / M msgs | broker s / M msgs | client / broker | |"
    echo "|---|---:|---:|---:|---|"
    for k in long_1024_none long_100_none pb1_100_none long_1024_always long_100_always m_100_1_none_4_8 m_1024_1_none_4_8 light_none half_none consume; do
        c=$(med "$k" client_cpu_s_per_mmsg)
        b=$(med "$k" broker_cpu_s_per_mmsg)
        echo "| $k | $(fmt "$c" 3) | $(fmt "$b" 3) | $(awk -v c="$c" -v b="$b" 'BEGIN{if (b>0) printf("%.2f", c/b); else print "–"}') | $(verdict "$(awk -v c="$c" -v b="$b" 'BEGIN{print (c<b)}')") |"
    done
    echo
    echo "Run keys: \`m_SIZE_ACKS_FLUSH_PRODUCERS_PARTITIONS\` are matrix cells; \`long_*\` the"
    echo "sustained runs; every raw JSON line is in [bench-results.tsv](bench-results.tsv)."
    echo
    echo "## Commands"
    echo
    echo "Everything above: \`bench/run.sh\` (\`RUNS=$RUNS DURATION=$DURATION LONG=$LONG\`). Each run, with"
    echo "\`--topic\` (a new one per run), \`--bootstrap\`, \`--broker-pid\`, \`--json --quiet\` added:"
    echo
    echo '```'
    cat "$CMDS"
    echo '```'
    echo "<!-- run.sh:end -->"
} >"$WORK/section.md"

# Replace the generated block in OUT (or append it), leaving every other section alone.
touch "$OUT"
if grep -q '<!-- run.sh:begin -->' "$OUT"; then
    awk -v f="$WORK/section.md" '
        /<!-- run.sh:begin -->/ { while ((getline l < f) > 0) print l; skip=1; next }
        /<!-- run.sh:end -->/ { skip=0; next }
        !skip { print }' "$OUT" >"$WORK/out.md"
else
    { cat "$OUT"; echo; cat "$WORK/section.md"; } >"$WORK/out.md"
fi
cp "$WORK/out.md" "$OUT"

# ------------------------------------------------------------ the chart (hand-written SVG)
{
    for size in $SIZES; do for acks in $ACKS; do for flush in none always; do for np in $PRODS; do for parts in $PARTS; do
        k="m_${size}_${acks}_${flush}_${np}_${parts}"
        printf '%s\t%s\t%s\n' "${size}B a$acks $flush ${np}p ${parts}pt" "$(med "$k" mb_per_sec)" "$(med "$k" p99)"
    done; done; done; done; done
} | awk -F'\t' -v limit="$LIMIT" '
    { lab[NR]=$1; mb[NR]=$2+0; p99[NR]=$3/1000.0; n=NR; if (mb[NR]>mx) mx=mb[NR]; if (p99[NR]>pm) pm=p99[NR] }
    END {
        if (limit > mx) mx = limit
        W = 60 + n*28 + 60; H = 520; top = 40; h1 = 180; g = 60; h2 = 150
        printf("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"10\">\n", W, H)
        printf("<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n")
        printf("<text x=\"60\" y=\"20\" font-size=\"13\">ringlog-bench produce: throughput (MB/s, bars; dashed: machine limit %.0f MB/s) and p99 (ms, log scale)</text>\n", limit)
        for (i = 1; i <= n; i++) {
            x = 60 + (i-1)*28; bh = h1 * mb[i] / mx
            col = (lab[i] ~ /always/) ? "#d95f02" : "#1b9e77"
            printf("<rect x=\"%.1f\" y=\"%.1f\" width=\"20\" height=\"%.1f\" fill=\"%s\"><title>%s: %.1f MB/s</title></rect>\n", x, top+h1-bh, bh, col, lab[i], mb[i])
            printf("<text x=\"%.1f\" y=\"%.1f\" transform=\"rotate(-60 %.1f %.1f)\" text-anchor=\"end\">%s</text>\n", x+10, top+h1+h2+g+12, x+10, top+h1+h2+g+12, lab[i])
            # p99 on a log scale from 0.01 ms to the max
            lo = log(0.01); hi = log((pm > 0.1 ? pm : 0.1) * 1.2); v = p99[i] > 0.01 ? p99[i] : 0.01
            y = top + h1 + g + h2 - h2 * (log(v) - lo) / (hi - lo)
            printf("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"><title>%s: p99 %.2f ms</title></circle>\n", x+10, y, col, lab[i], p99[i])
        }
        ly = top + h1 - h1 * limit / mx
        printf("<line x1=\"55\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"black\" stroke-dasharray=\"4 3\"/>\n", W-40, ly, ly)
        printf("<line x1=\"55\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"#888\"/>\n", W-40, top+h1, top+h1)
        for (t = 0; t <= 4; t++) printf("<text x=\"50\" y=\"%.1f\" text-anchor=\"end\">%.0f</text>\n", top+h1-h1*t/4+3, mx*t/4)
        printf("<text x=\"12\" y=\"%d\" transform=\"rotate(-90 12 %d)\">MB/s</text>\n", top+h1/2, top+h1/2)
        b2 = top + h1 + g + h2
        printf("<line x1=\"55\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"#888\"/>\n", W-40, b2, b2)
        for (d = 0.01; d <= pm*1.2; d *= 10) {
            y = b2 - h2 * (log(d) - lo) / (hi - lo)
            printf("<text x=\"50\" y=\"%.1f\" text-anchor=\"end\">%g</text><line x1=\"55\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n", y+3, d, W-40, y, y)
        }
        printf("<text x=\"12\" y=\"%d\" transform=\"rotate(-90 12 %d)\">p99 ms</text>\n", b2-h2/2, b2-h2/2)
        printf("<text x=\"%d\" y=\"%d\" fill=\"#1b9e77\">flush none</text><text x=\"%d\" y=\"%d\" fill=\"#d95f02\">flush always</text>\n", W-160, 34, W-90, 34)
        print "</svg>"
    }' >"$SVG"
log "wrote $OUT and $SVG"
