#!/usr/bin/env bash
# Interleaved before/after pairs of two builds of ringlogd + ringlog-bench:
#   bench/pairs.sh BIN_BEFORE BIN_AFTER [RUNS]
# Each round runs every case on BEFORE, then on AFTER, each against a fresh
# ringlogd (--flush none and always, 2 shards, metrics off) on a free
# loopback port with its data in a temporary directory that is removed.
# ONLY=REGEX keeps the cases whose name matches. Prints one TSV line per run: build, case, round, msgs/s, MB/s, p50 µs,
# p99 µs. Machines are noisy: compare medians of the rounds, not single runs.
set -euo pipefail
A=$1 B=$2 RUNS=${3:-3} DURATION=${DURATION:-10}

CASES=(
  "none|tput_1k_p4|produce --msg-size 1024 --acks 1 --producers 4 --partitions 8 --duration $DURATION"
  "none|tput_100_p1|produce --msg-size 100 --acks 1 --producers 1 --partitions 8 --duration $DURATION"
  "none|light_1k|produce --msg-size 1024 --acks 1 --rate 5000 --linger-ms 0 --duration $DURATION"
  "always|light_1k_always|produce --msg-size 1024 --acks 1 --rate 5000 --linger-ms 0 --duration $DURATION"
)

# One TSV line from ringlog-bench's JSON line on stdin.
SUMMARY=$(cat <<'PY'
import json, sys
b, n, r = sys.argv[1:4]
try:
    j = json.loads(sys.stdin.read())
except ValueError:
    print(f"{b}\t{n}\t{r}\tfailed")
    sys.exit()
lat = j.get("latency_us", {})
print("\t".join([b, n, r, "%.0f" % j["msgs_per_sec"], "%.1f" % j["mb_per_sec"],
                 "%.0f" % lat.get("p50", 0), "%.0f" % lat.get("p99", 0)]))
PY
)

one() { # BIN FLUSH NAME ROUND ARGS...
  local bin=$1 flush=$2 name=$3 round=$4; shift 4
  local dir log pid port json
  dir=$(mktemp -d /tmp/ringlog-pairs.XXXXXX)
  log=$dir.log
  "$bin/ringlogd" --data-dir "$dir" --listen 127.0.0.1:0 --metrics off --shards 2 --flush "$flush" 2>"$log" &
  pid=$!
  for _ in $(seq 100); do grep -q 'ringlogd ready' "$log" && break; sleep 0.05; done
  port=$(grep -o 'listen=[^ ]*' "$log" | head -1 | cut -d= -f2)
  json=$("$bin/ringlog-bench" "$@" --topic "t$round" --bootstrap "$port" --json 2>/dev/null || true)
  kill "$pid"; wait "$pid" || true
  rm -rf "$dir" "$log"
  echo "$json" | python3 -c "$SUMMARY" "$bin" "$name" "$round"
}

for round in $(seq "$RUNS"); do
  for c in "${CASES[@]}"; do
    IFS='|' read -r flush name args <<<"$c"
    [[ $name =~ ${ONLY:-.} ]] || continue
    for bin in "$A" "$B"; do
      sync; sleep 1
      # shellcheck disable=SC2086
      one "$bin" "$flush" "$name" "$round" $args
    done
  done
done
