#!/usr/bin/env bash
# make-janus-captures.sh -- regenerate the janus-*.pcap captures in this directory.
#
# Usage: tests/pcaps/make-janus-captures.sh [OUTDIR]   (default: the directory of this script)
#
# Builds and starts `janus serve` (memory backend, share "export", NFS/MOUNT/portmap all on
# 127.0.0.1:20590, no standalone portmapper), uploads the same small files as
# make-ganesha-captures.sh puts in ganesha's export (hello.txt, data.bin; no sub/: libnfs-utils
# cannot mkdir) with nfs-cp before capturing, and captures each libnfs-utils session with
# tshark on `lo`.
# Stops everything it started, by PID.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here}"
repo="$(cd "$here/../.." && pwd)"
PORT="${JANUS_PORT:-20590}"
(cd "$repo" && cargo build -q -p runtime-mio --bin janus)
JANUS="$repo/target/debug/janus"
S="$(mktemp -d)"
T="$(mktemp -d)"
mkdir -p "$S/export" "$S/state"
Q="?version=3&nfsport=$PORT&mountport=$PORT"
U="nfs://127.0.0.1/export"

cleanup() {
  [[ -f "$T/cap.pid" ]] && { kill -INT "$(cat "$T/cap.pid")" 2>/dev/null || true; }
  [[ -f "$T/janus.pid" ]] && { kill -TERM "$(cat "$T/janus.pid")" 2>/dev/null || true; }
  rm -rf "$S" "$T"
}
trap cleanup EXIT

printf 'hello from the ganesha capture\n' > "$T/hello.txt"
head -c 12000 /dev/zero | tr '\0' 'j' > "$T/data.bin"
head -c 5000 /dev/zero | tr '\0' 'u' > "$T/upload.txt"

"$JANUS" serve --share "export=$S/export" --bind 127.0.0.1 --nfs-port "$PORT" --portmap-port 0 \
  --backend memory --state "$S/state" --log warn >"$T/janus.log" 2>&1 &
echo $! > "$T/janus.pid"
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
kill -0 "$(cat "$T/janus.pid")" || { cat "$T/janus.log"; exit 1; }
nfs-cp "$T/hello.txt" "$U/hello.txt$Q"
nfs-cp "$T/data.bin" "$U/data.bin$Q"

cap() { # cap NAME CMD... : capture one session into $out/janus-NAME.pcap
  local name="$1"; shift
  local f="$out/janus-$name.pcap"
  rm -f "$f"
  setsid tshark -q -i lo -f "tcp port $PORT" -w "$f" -a duration:60 >"$T/cap.log" 2>&1 </dev/null &
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
cmp "$T/data.back" "$T/data.bin"
cmp "$T/upload.txt" <(nfs-cat "$U/upload.txt$Q")
