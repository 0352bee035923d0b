#!/usr/bin/env bash
# lease-break.sh -- the SMB lease-break round trip, Janus beside Samba in one run: client B's
# CREATE that must wait for client A's lease break acknowledgment, A acknowledging at once
# (bench/lease-break.py, smbprotocol from the test venv); p50 and p99 per server and the
# janus/samba ratios.
#
# Usage:
#   bench/lease-break.sh                 # janus and samba, both started here, stopped at exit
#   bench/lease-break.sh --only-janus | --only-samba
#
# Options / env:
#   -k, --iters N     measured iterations per server (ITERS, default 200; 5 warm-up ones first)
#   --dialect D       3.1.1 (default), 3.0.2 or 2.1.0
#   JANUS_BIN         janus binary (default target/release/janus; built with cargo if missing)
#   JANUS_PORT        janus's SMB port (default 4455; NFS on JANUS_NFS_PORT, default 20693)
#   SAMBA_PORT        samba's port (default 4454; scripts/samba-server.sh, state under the temp dir)
#   JANUS_VENV        the Python venv (default target/janus-venv: scripts/install-test-venv.sh)
#
# Methodology: see bench/lease-break.py (times taken in smbprotocol's receive thread; signing,
# no encryption: Janus's share has smb_encrypt = "off" as Samba's default). Both servers serve a
# directory of the same /tmp file system as the same Unix user; Janus runs with --log warn.
# Stops only its own processes (Janus by PID, Samba through scripts/samba-server.sh stop).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

ITERS="${ITERS:-200}" DIALECT=3.1.1 ONLY=""
while (($#)); do
  case "$1" in
    -k|--iters) ITERS="$2"; shift 2;;
    --dialect) DIALECT="$2"; shift 2;;
    --only-janus) ONLY=janus; shift;;
    --only-samba) ONLY=samba; shift;;
    -h|--help) sed -n '2,/^set -e/{/^#/p}' "$0"; exit 0;;
    *) echo "unknown argument $1" >&2; exit 2;;
  esac
done
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
PY="${JANUS_VENV:-$TARGET/janus-venv}/bin/python"
[[ -x "$PY" ]] || { echo "no test venv at $PY: scripts/install-test-venv.sh" >&2; exit 1; }

W="$(mktemp -d /tmp/janus-leasebench.XXXXXX)"
JPID="" SAMBA_DIR=""
cleanup() {
  [[ -n "$SAMBA_DIR" ]] && "$ROOT/scripts/samba-server.sh" stop "$SAMBA_DIR" >/dev/null 2>&1
  if [[ -n "$JPID" ]] && kill -0 "$JPID" 2>/dev/null; then
    kill -TERM "$JPID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$JPID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$JPID" 2>/dev/null || true
  fi
  rm -rf "$W"
  return 0
}
trap cleanup EXIT
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
USER_NAME=bench PASS='bench-Pass-1'
declare -A PORT
servers=()

if [[ "$ONLY" != samba ]]; then
  JANUS_BIN="${JANUS_BIN:-$TARGET/release/janus}"
  [[ -x "$JANUS_BIN" ]] || cargo build --release -p runtime-mio --bin janus
  JP="${JANUS_PORT:-4455}" JN="${JANUS_NFS_PORT:-20693}"
  for p in "$JP" "$JN"; do port_open "$p" && { echo "port $p is in use" >&2; exit 1; }; done
  mkdir -p "$W/janus-share" "$W/janus-state"
  chmod 0777 "$W/janus-share"
  echo "$PASS" | "$JANUS_BIN" user add --users "$W/users" "$USER_NAME" --password-stdin \
    --uid "$(id -u)" --gid "$(id -g)" >/dev/null
  printf '[[share]]\nname = "share"\npath = "%s"\nsmb_encrypt = "off"\n' "$W/janus-share" > "$W/janus.toml"
  "$JANUS_BIN" serve --config "$W/janus.toml" --bind 127.0.0.1 --nfs-port "$JN" --portmap-port 0 \
    --smb-port "$JP" --users "$W/users" --root-squash off --state "$W/janus-state" --log warn \
    >"$W/janus.log" 2>&1 </dev/null &
  JPID=$!
  for _ in $(seq 1 100); do port_open "$JP" && break; kill -0 "$JPID" 2>/dev/null || break; sleep 0.1; done
  port_open "$JP" || { echo "janus does not listen on $JP:"; tail -10 "$W/janus.log"; exit 1; }
  echo "janus pid $JPID on 127.0.0.1:$JP ($JANUS_BIN)"
  servers+=(janus); PORT[janus]="$JP"
fi
if [[ "$ONLY" != janus ]]; then
  SP="${SAMBA_PORT:-4454}"
  SAMBA_DIR="$W/samba"
  SAMBA_VFS_OBJECTS="" scripts/samba-server.sh start "$SAMBA_DIR" "$SP" "$USER_NAME" "$PASS" >"$W/samba-start.log" 2>&1 ||
    { echo "samba did not start:"; cat "$W/samba-start.log"; exit 1; }
  echo "samba: $(head -1 "$W/samba-start.log") ($(smbd --version))"
  servers+=(samba); PORT[samba]="$SP"
fi

declare -A P50 P99
rc=0
for s in "${servers[@]}"; do
  out="$("$PY" bench/lease-break.py --port "${PORT[$s]}" --user "$USER_NAME" --password "$PASS" \
    --name "$s" -k "$ITERS" --dialect "$DIALECT")" || rc=1
  echo "$out"
  line="$(grep '^lease-break: server=' <<<"$out" | tail -1)"
  P50[$s]="$(sed -n 's/.*rtt_p50_ms=\([0-9.]*\).*/\1/p' <<<"$line")"
  P99[$s]="$(sed -n 's/.*rtt_p99_ms=\([0-9.]*\).*/\1/p' <<<"$line")"
done
if [[ -n "${P50[janus]:-}" && -n "${P50[samba]:-}" ]]; then
  awk -v jp="${P50[janus]}" -v sp="${P50[samba]}" -v j9="${P99[janus]}" -v s9="${P99[samba]}" 'BEGIN {
    printf "lease-break: janus/samba p50 %.2f (%.3f / %.3f ms), p99 %.2f (%.3f / %.3f ms)\n",
      jp / sp, jp, sp, j9 / s9, j9, s9 }'
fi
exit "$rc"
