#!/bin/sh
# Keeps a minimised corpus within a size budget for committing: after `cargo fuzz cmin`,
# the smallest files are kept until BUDGET_KB is reached (libFuzzer's merge already
# prefers the smaller of two inputs with the same features). Usage: trim.sh TARGET BUDGET_KB
set -eu
cd "$(dirname "$0")"
t=$1
budget=$(($2 * 1024))
total=0
for f in $(ls -S -r "corpus/$t"); do
    size=$(wc -c <"corpus/$t/$f")
    if [ $((total + size)) -gt "$budget" ]; then
        rm "corpus/$t/$f"
    else
        total=$((total + size))
    fi
done
echo "$t: $(ls "corpus/$t" | wc -l) files, $total bytes"
