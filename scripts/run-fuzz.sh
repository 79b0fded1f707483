#!/usr/bin/env bash
# Runs each libFuzzer target for SECONDS seconds over its seed corpus.
# Usage: scripts/run-fuzz.sh BIN_DIR [SECONDS]
set -euo pipefail
bin_dir=$1
seconds=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
status=0
for target in fuzz_frame fuzz_batch; do
  seeds="$root/tests/fuzz/corpus/${target#fuzz_}"
  work="$root/build-fuzz/corpus/$target"
  findings="$root/tests/fuzz/findings/$target"
  mkdir -p "$work" "$findings"
  echo "fuzz: $target for ${seconds}s" >&2
  if ! "$bin_dir/$target" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 \
      -artifact_prefix="$findings/" -print_final_stats=1 "$work" "$seeds" 2>"$work.log"; then
    echo "fuzz: $target FOUND A FAILURE, see $findings and $work.log" >&2
    tail -40 "$work.log" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|Done" "$work.log" | sed "s/^/fuzz: $target: /" >&2 || true
  fi
done
exit $status
