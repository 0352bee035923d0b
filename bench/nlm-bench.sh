#!/usr/bin/env bash
# nlm-bench.sh -- NLM v4 LOCK+UNLOCK round trips per second over TCP from 1 and from 16
# concurrent owners (bench/nlm-bench.c, libnfs raw NLM client), against janus and, when
# available, nfs-ganesha's NLM in the same run.
#
#   bench/nlm-bench.sh [SECONDS]          (default 5 s per measurement)
#
# Env: JANUS_BIN (default target/release/janus; built with cargo if missing)
#      GANESHA=yes|no (default yes if ../shared/lab/ganesha-peer.sh and ganesha.nfsd exist):
#        starts ganesha with GANESHA_RPCBIND=yes (rpcbind + rpc.statd, which its NLM needs)
#        on free ports, measures, stops it.
#      STATE_DIR: where janus keeps its journal (default: a temp dir on the disk of /tmp).
#        Janus fsyncs the journal before the GRANTED reply of a new grant (group commit);
#        unlocks and re-taking a lock whose release is still buffered cost no fsync, so
#        after each owner's first LOCK the loop runs without touching the disk.
#      NULL_SERVER=yes|no (default yes): also measure bench/nlm-null-server.c, a server that
#        does no work (canned GRANTED replies, a blocking thread per connection): the
#        ceiling the client, libnfs and the kernel leave for any server on this machine.
# Output: one line per run, then a summary
#   nlm-bench summary: janus_1=X janus_16=Y ganesha_1=A ganesha_16=B null_1=C null_16=D
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-5}"
work="$(mktemp -d /tmp/nlm-bench.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [[ -n "${ganesha_dir:-}" ]] && GANESHA_RPCBIND=yes ../shared/lab/ganesha-peer.sh stop "$ganesha_dir" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

bin="$work/nlm-bench"
# shellcheck disable=SC2046
gcc -O2 -Wall -Wextra -o "$bin" bench/nlm-bench.c $(pkg-config --cflags --libs libnfs) -lpthread
gcc -O2 -Wall -Wextra -o "$work/nlm-null-server" bench/nlm-null-server.c -lpthread

janus="${JANUS_BIN:-target/release/janus}"
[[ -x "$janus" ]] || cargo build --release -p runtime-mio --bin janus
mkdir -p "$work/share" && chmod 777 "$work/share"
state="${STATE_DIR:-$work/state}"
port="$(free_port)"
"$janus" serve --share "export=$work/share" --bind 127.0.0.1 --nfs-port "$port" --portmap-port 0 --smb-port 0 \
  --state "$state" --log warn >"$work/janus.log" 2>&1 &
pids+=($!)
wait_port "$port" || { cat "$work/janus.log"; exit 1; }
url="nfs://127.0.0.1/export/bench?version=3&nfsport=$port&mountport=$port"
j1="$("$bin" -p "$port" -o 1 -t "$secs" "$url")"; echo "janus   $j1"
j16="$("$bin" -p "$port" -o 16 -t "$secs" "$url")"; echo "janus   $j16"
val() { sed -n 's/.*pairs_per_s=\([0-9]*\).*/\1/p' <<<"$1"; }

g1=n/a; g16=n/a
want_ganesha="${GANESHA:-}"
if [[ -z "$want_ganesha" ]]; then
  if [[ -x ../shared/lab/ganesha-peer.sh ]] && command -v ganesha.nfsd >/dev/null; then want_ganesha=yes; else want_ganesha=no; fi
fi
if [[ "$want_ganesha" == yes ]]; then
  ganesha_dir="$work/ganesha"
  mkdir -p "$ganesha_dir"
  gn="$(free_port)"; gm="$(free_port)"; gl="$(free_port)"
  if GANESHA_RPCBIND=yes ../shared/lab/ganesha-peer.sh start "$ganesha_dir" "$gn" "$gm" "$gl" >"$work/ganesha-start.log" 2>&1; then
    gurl="nfs://127.0.0.1/export/bench?version=3&nfsport=$gn&mountport=$gm"
    o1="$("$bin" -p "$gl" -o 1 -t "$secs" "$gurl")" && { echo "ganesha $o1"; g1="$(val "$o1")"; }
    o16="$("$bin" -p "$gl" -o 16 -t "$secs" "$gurl")" && { echo "ganesha $o16"; g16="$(val "$o16")"; }
  else
    echo "ganesha did not start:"; cat "$work/ganesha-start.log"
  fi
fi
n1=n/a; n16=n/a
if [[ "${NULL_SERVER:-yes}" == yes ]]; then
  # The NFS URL still names janus (the client mounts and opens the file there); only the
  # NLM port points at the null server.
  np="$(free_port)"
  "$work/nlm-null-server" "$np" &
  pids+=($!)
  wait_port "$np"
  o1="$("$bin" -p "$np" -o 1 -t "$secs" "$url")" && { echo "null    $o1"; n1="$(val "$o1")"; }
  o16="$("$bin" -p "$np" -o 16 -t "$secs" "$url")" && { echo "null    $o16"; n16="$(val "$o16")"; }
fi
echo "nlm-bench summary: janus_1=$(val "$j1") janus_16=$(val "$j16") ganesha_1=$g1 ganesha_16=$g16 null_1=$n1 null_16=$n16"
ratio() { [[ "$1" =~ ^[0-9]+$ && "$2" =~ ^[0-9]+$ && "$2" -gt 0 ]] && awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2fx", a/b}' || echo n/a; }
echo "janus/ganesha: 1 owner $(ratio "$(val "$j1")" "$g1"), 16 owners $(ratio "$(val "$j16")" "$g16");" \
  "null/ganesha (the ceiling): $(ratio "$n1" "$g1"), $(ratio "$n16" "$g16")"
