#!/usr/bin/env bash
# Runs every libFuzzer target of a fuzz build, up to JOBS at a time, each for
# SECONDS seconds (one process each) over its seed corpus, kept findings and
# dictionary (tests/fuzz/, docs/TESTING.md). SECONDS=0 only replays those
# inputs once (CI). A new failing input lands in tests/fuzz/findings/NAME/,
# to be kept as a regression input with its fix.
# Prints one line per target, then "fuzz: N targets, E executions, F findings";
# exits 1 when F > 0 or a target failed to run.
# Usage: scripts/run-fuzz.sh BUILD_DIR [SECONDS] [JOBS]
set -euo pipefail
build_dir=$(cd "$1" && pwd)
seconds=${2:-60}
jobs=${3:-$(nproc)}
root=$(cd "$(dirname "$0")/.." && pwd)
mapfile -t names <"$build_dir/fuzz-targets.txt"
out="$build_dir/fuzz-out"
mkdir -p "$out"

count_files() { find "$1" -maxdepth 1 -type f 2>/dev/null | wc -l; }

# One target; its summary goes to $out/NAME.summary as "EXECS FINDINGS STATUS".
run_one() {
  local name=$1
  local seeds="$root/tests/fuzz/corpus/$name" findings="$root/tests/fuzz/findings/$name"
  local work="$build_dir/corpus/$name" log="$out/$name.log"
  local dict="$root/tests/fuzz/dict/$name.dict"
  mkdir -p "$work" "$findings"
  local before
  before=$(count_files "$findings")
  local args=(-max_len=65536 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
              -artifact_prefix="$findings/")
  [ -f "$dict" ] && args+=(-dict="$dict")
  local dirs=("$work" "$seeds")
  if [ "$seconds" -eq 0 ]; then
    args+=(-runs=0)
    args[4]="-artifact_prefix=$out/$name-"
    dirs=("$seeds" "$findings")
  else
    args+=(-max_total_time="$seconds")
  fi
  local status=0
  # The limit only guards against a hung target; libFuzzer stops itself.
  timeout $((seconds + 120)) "$build_dir/bin/fuzz_$name" "${args[@]}" "${dirs[@]}" \
    >"$log" 2>&1 || status=$?
  local execs after
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  after=$(count_files "$findings")
  echo "${execs:-0} $((after - before)) $status" >"$out/$name.summary"
}

running=0
for name in "${names[@]}"; do
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  run_one "$name" &
  running=$((running + 1))
done
wait

total_execs=0 total_findings=0 failed=0
for name in "${names[@]}"; do
  read -r execs found status <"$out/$name.summary"
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/$name.log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$out/$name.log" | tail -1 | cut -d' ' -f2)
  note=""
  if [ "$status" -ne 0 ]; then
    note=" FAILED (exit $status), see $out/$name.log"
    failed=1
  fi
  echo "fuzz: $name: $execs executions, ${rate:-0}/s, coverage ${cov:-0} edges, $found findings$note"
  total_execs=$((total_execs + execs))
  total_findings=$((total_findings + found))
done
echo "fuzz: ${#names[@]} targets, $total_execs executions, $total_findings findings"
[ "$total_findings" -eq 0 ] && [ "$failed" -eq 0 ]
