#!/usr/bin/env bash
# make-ganesha-captures.sh -- regenerate the ganesha-*.pcap captures in this directory.
#
# Usage: tests/pcaps/make-ganesha-captures.sh [OUTDIR]     (default: the directory of this script)
#        ONLY="cp-out-large" tests/pcaps/make-ganesha-captures.sh   (only the named sessions)
#
# Starts nfs-ganesha 4.3 through ../shared/lab/ganesha-peer.sh (NFSv3 20490, MOUNT 20048,
# NLM 20021, with rpcbind + rpc.statd so NLM locks work), puts two small files in the export,
# and captures each libnfs-utils session with tshark on `lo` (one pcap per session, filtered to
# the NFS/MOUNT/NLM/portmap ports and statd's ports). Stops everything it started, by PID.
# Nothing of ganesha is copied into the repository: only the captures.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here}"
lab="${LAB:-$here/../../../shared/lab}"
[[ -x "$lab/ganesha-peer.sh" ]] || lab=/work/shared/lab
G="$(mktemp -d)"
T="$(mktemp -d)"
# Ports: NFS_PORT/MNT_PORT/NLM_PORT (defaults 20490/20048/20021); pick others when the lab
# ports are taken by another server on this machine.
NFS_PORT="${NFS_PORT:-20490}"; MNT_PORT="${MNT_PORT:-20048}"; NLM_PORT="${NLM_PORT:-20021}"
Q="?version=3&nfsport=$NFS_PORT&mountport=$MNT_PORT"
U="nfs://127.0.0.1/export"

cleanup() {
  [[ -f "$T/cap.pid" ]] && { kill -INT "$(cat "$T/cap.pid")" 2>/dev/null || true; }
  "$lab/ganesha-peer.sh" stop "$G" || true
}
trap cleanup EXIT

# The files exist before ganesha starts (its directory cache is filled at start-up).
mkdir -p "$G/export"
printf 'hello from the ganesha capture\n' > "$G/export/hello.txt"
head -c 12000 /dev/zero | tr '\0' 'j' > "$G/export/data.bin"
mkdir -p "$G/export/sub"
printf 'inner\n' > "$G/export/sub/inner.txt"
head -c 5000 /dev/zero | tr '\0' 'u' > "$T/upload.txt"
# 400 KB of varied bytes: the READ reply spans several 64 KiB loopback segments.
seq 1 60000 | head -c 400000 > "$G/export/large.txt"

GANESHA_RPCBIND=yes "$lab/ganesha-peer.sh" start "$G" "$NFS_PORT" "$MNT_PORT" "$NLM_PORT"
# statd listens on random ports: capture them too (ganesha's SM_MON/SM_UNMON calls).
statd_ports="$(rpcinfo -p 127.0.0.1 | awk '$5=="status"{print $4}' | sort -u | tr '\n' ' ')"
filter="tcp port $NFS_PORT or tcp port $MNT_PORT or tcp port $NLM_PORT or port 111"
for p in $statd_ports; do filter+=" or port $p"; done

cap() { # cap NAME CMD... : capture one session into $out/ganesha-NAME.pcap
  local name="$1"; shift
  if [[ -n "${ONLY:-}" && " $ONLY " != *" $name "* ]]; then return 0; fi
  local f="$out/ganesha-$name.pcap"
  rm -f "$f"
  setsid tshark -q -i lo -f "$filter" -w "$f" -a duration:60 >"$T/cap.log" 2>&1 </dev/null &
  echo $! > "$T/cap.pid"
  for _ in $(seq 1 100); do grep -qs "Capturing on" "$T/cap.log" && break; sleep 0.1; done
  sleep 0.5   # "Capturing on" can precede the filter being live
  "$@" || { echo "session $name failed"; }
  sleep 0.5
  kill -INT "$(cat "$T/cap.pid")"
  for _ in $(seq 1 50); do kill -0 "$(cat "$T/cap.pid")" 2>/dev/null || break; sleep 0.1; done
  rm -f "$T/cap.pid"
  chmod 0644 "$f"
  echo "$f: $(stat -c %s "$f") bytes"
}

cap ls       nfs-ls "$U$Q"
cap cat      nfs-cat "$U/hello.txt$Q"
cap cp-in    nfs-cp "$T/upload.txt" "$U/upload.txt$Q"
cap cp-out   nfs-cp "$U/data.bin$Q" "$T/data.back"
[[ -n "${ONLY:-}" ]] || cmp "$T/data.back" "$G/export/data.bin"
cap cp-out-large nfs-cp "$U/large.txt$Q" "$T/large.back"
[[ -n "${ONLY:-}" && " $ONLY " != *" cp-out-large "* ]] || cmp "$T/large.back" "$G/export/large.txt"
# Failures: LOOKUP of a missing file (NFS3ERR_NOENT), GUARDED CREATE of an existing one
# (NFS3ERR_EXIST), MNT of a path that is not exported (MNT3ERR_NOENT).
cap errors bash -c "nfs-cat '$U/missing.txt$Q'; nfs-cp '$T/upload.txt' '$U/hello.txt$Q'; \
  nfs-ls 'nfs://127.0.0.1/nowhere$Q'; true"
cap ls-portmap nfs-ls "$U/sub?version=3"
# NLM: lock, conflicting TEST, blocking lock (BLOCKED), unlock; NLM port looked up via portmap.
cap nlm "$lab/nlm.sh" -c "$U/locked.txt$Q" \
  lock:0:100:x:1=GRANTED test:50:10:x:2=DENIED lock:50:10:x:2:block=BLOCKED \
  cancel:50:10:x:2 unlock:0:100:1=GRANTED lock:50:10:s:2=GRANTED unlock:0:0:2=GRANTED
