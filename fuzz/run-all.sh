#!/bin/sh
# Runs every fuzz target in turn for SECONDS (default 300) each, at low priority, one
# process at a time; logs go to logs/<target>.log (not committed). Usage:
#   fuzz/run-all.sh [SECONDS] [TARGET...]
set -u
cd "$(dirname "$0")"
secs=${1:-300}
[ $# -gt 0 ] && shift
targets=${*:-"rpc_record rpc_message rpc_auth portmap mount nfs3 nlm nsm replay server smb_conn smb2_fscc smb2_security smb2_dcerpc smb2_names"}
mkdir -p logs
for t in $targets; do
    echo "== $t ($secs s) $(date -u +%H:%M:%S)"
    nice -n 15 cargo +nightly fuzz run "$t" -- -max_total_time="$secs" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 >"logs/$t.log" 2>&1
    echo "   exit $? $(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "logs/$t.log" | tail -1)"
done
