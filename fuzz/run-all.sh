#!/usr/bin/env bash
# Runs each fuzz target (all, or those named after CPU_SECONDS) until it
# has used CPU_SECONDS of CPU time in all, at low priority, LANES targets at
# a time (FUZZ_LANES, default 1), in slices of FUZZ_SLICE seconds of wall
# time (default 300): a slice that got little CPU because the machine was
# busy is simply followed by another. Each slice resumes from the corpus
# the last one grew (fuzz/work/TARGET), so the CPU time adds up, also
# across invocations: logs/TARGET.total keeps the running totals.
# Prints per target: CPU seconds used in all, executions, executions per
# CPU second, and crash files written. Build first with fuzz/build.sh.
# To pause the campaign (say, for a benchmark), create logs/PAUSE and send
# SIGINT to the fuzzers: each ends its slice with its figures counted, and
# no new slice starts until logs/PAUSE is gone.
set -euo pipefail
cd "$(dirname "$0")"
budget=${1:?usage: fuzz/run-all.sh CPU_SECONDS [TARGET...]}
shift
lanes=${FUZZ_LANES:-1}
slice=${FUZZ_SLICE:-300}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(ls corpus)
fi
bin=target/x86_64-unknown-linux-gnu/release
mkdir -p logs
# With the kernel's autogroups, `nice` ranks processes only within their
# terminal session: fuzzers started from one took half the machine from a
# build started from another. Lowering the session's group keeps the
# campaign to idle time (start it with `setsid` to give it its own group).
echo 19 >/proc/self/autogroup 2>/dev/null || true

# Running totals of one target: "cpu_seconds executions".
totals() {
    if [ -f "logs/$1.total" ]; then cat "logs/$1.total"; else echo "0 0"; fi
}

run_target() {
    local t=$1
    mkdir -p "work/$t" "artifacts/$t"
    local before cpu runs
    before=$(find "artifacts/$t" -type f | wc -l)
    read -r cpu runs < <(totals "$t")
    while [ "$cpu" -lt "$budget" ]; do
        while [ -e logs/PAUSE ]; do sleep 5; done
        # The last slice is cut to what is left of the budget: on an idle
        # machine a slice's wall time is its CPU time.
        local this=$((budget - cpu < slice ? budget - cpu : slice))
        /usr/bin/time -f "%U %S" -o "logs/$t.time" nice -n 19 "$bin/$t" "work/$t" "corpus/$t" \
            -max_total_time="$this" -rss_limit_mb=2048 -timeout=10 \
            -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"logs/$t.slice" 2>&1 || true
        cat "logs/$t.slice" >>"logs/$t.log"
        local used done_runs
        # The last line: a slice ended by a signal gets a line before it.
        used=$(tail -n 1 "logs/$t.time" | awk '{printf "%.0f", $1 + $2}')
        done_runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "logs/$t.slice" | tail -1)
        cpu=$((cpu + 10#${used:-0}))
        runs=$((runs + ${done_runs:-0}))
        echo "$cpu $runs" >"logs/$t.total"
        # A crash stops libFuzzer early; go on fuzzing (the crash file is kept).
    done
    local after
    after=$(find "artifacts/$t" -type f | wc -l)
    echo "$t: cpu ${cpu}s in all, ${runs} runs, $((runs / (cpu > 0 ? cpu : 1))) exec per CPU second, $((after - before)) new crash file(s) (artifacts/$t)"
}

running=0
for t in "${targets[@]}"; do
    run_target "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$lanes" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait
