#!/bin/sh
# One line per fuzz log: executions, run time, coverage/features at the end, and when
# (approximate second, from the execution number) the last new edge and the last new
# feature (edge or hit-count bucket) were found. Usage: summarize.sh [LOG_DIR]
cd "$(dirname "$0")"
dir=${1:-logs}
for f in "$dir"/*.log; do
    t=$(basename "$f" .log)
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$f" | tail -1)
    secs=$(grep -oE 'in [0-9]+ second' "$f" | tail -1 | grep -oE '[0-9]+')
    total=$(echo "$done_line" | grep -oE '^#[0-9]+' | tr -d '#')
    last=$(grep -E '^#[0-9]+[[:space:]]+NEW' "$f" | tail -1 | grep -oE '^#[0-9]+' | tr -d '#')
    cov=$(echo "$done_line" | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [^ ]+')
    lastcov=$(grep -E '^#[0-9]+[[:space:]]+(NEW|REDUCE)' "$f" | awk '{c=$4; if (c!=prev) {n=$1; prev=c}} END {print n}' | tr -d '#')
    crash=$(grep -cE 'ERROR: libFuzzer|panicked|SUMMARY: ' "$f")
    if [ -n "$total" ] && [ -n "$last" ] && [ -n "$secs" ]; then
        at=$((secs * last / total))
        atcov=$((secs * lastcov / total))
    else
        at=?
        atcov=?
    fi
    echo "$t: ${secs:-?} s, ${total:-?} execs, $cov, last new edge ~${atcov} s, last new feature ~${at} s, crash lines: $crash"
done
