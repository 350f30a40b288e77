#!/usr/bin/env bash
# Runs each fuzz target (all, or those named after SECONDS) for SECONDS of
# wall time, one after the other, at low priority, and prints per target:
# CPU seconds used, executions per second, and crash files written.
# Build first with fuzz/build.sh.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:?usage: fuzz/run-all.sh SECONDS [TARGET...]}
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=($(ls corpus))
fi
bin=target/x86_64-unknown-linux-gnu/release
for t in "${targets[@]}"; do
    mkdir -p "work/$t" "artifacts/$t" logs
    before=$(ls "artifacts/$t" | wc -l)
    /usr/bin/time -f "%U %S" -o "logs/$t.time" nice "$bin/$t" "work/$t" "corpus/$t" \
        -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"logs/$t.log" 2>&1 || true
    cpu=$(awk '{printf "%.0f", $1 + $2}' "logs/$t.time")
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "logs/$t.log" | tail -1)
    wall=$(sed -n 's/.*Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "logs/$t.log" | tail -1)
    after=$(ls "artifacts/$t" | wc -l)
    echo "$t: cpu ${cpu}s, ${runs:-?} runs in ${wall:-?}s, $(( ${runs:-0} / ${wall:-1} )) exec/s, $((after - before)) new crash file(s)"
done
