#!/usr/bin/env bash
# smb-lock-grant.sh -- blocking-lock grant latency after unlock (issue 11), Janus beside Samba in
# one run: client A holds an exclusive SMB2 byte-range lock, client B's blocking LOCK of the same
# range is pending (STATUS_PENDING received), A sends UNLOCK; the sample is the time from A's
# UNLOCK being sent to B's final LOCK response arriving. `tests/clients/smb_lock.py bench`
# (Python smbprotocol, SMB 3.1.1, unsigned and unencrypted, both clients in one process): 5
# untimed warm-up rounds, then N samples per run; p50 and p99 per run and the janus/samba ratio.
#
# Usage:
#   bench/smb-lock-grant.sh [-n N] [-r RUNS]   # N samples per run (default 500), RUNS runs (3)
#   bench/smb-lock-grant.sh --only-janus | --only-samba
#
# Env: JANUS_BIN (default target/release/janus; built with cargo if missing), JANUS_PORT (4455),
#      SAMBA_PORT (4454), PYTHON (default target/janus-venv/bin/python, from
#      scripts/install-test-venv.sh). Samba runs from scripts/samba-server.sh with its state in
#      the bench's temp dir; Janus with --log warn and smb_encrypt = "off" (as Samba's default).
# Starts and stops only its own processes (by PID; Samba's helpers by their unique config path).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
N=500 RUNS=3 ONLY=""
while (($#)); do
  case "$1" in
    -n) N="$2"; shift 2;;
    -r|--runs) RUNS="$2"; shift 2;;
    --only-janus) ONLY=janus; shift;;
    --only-samba) ONLY=samba; shift;;
    -h|--help) sed -n '2,/^set -e/{/^#/p}' "$0"; exit 0;;
    *) echo "unknown argument $1" >&2; exit 2;;
  esac
done
PY="${PYTHON:-$ROOT/target/janus-venv/bin/python}"
[[ -x "$PY" ]] || { echo "no $PY: run scripts/install-test-venv.sh (or set PYTHON)" >&2; exit 2; }

W="$(mktemp -d /tmp/janus-lockbench.XXXXXX)"
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
  JANUS_BIN="${JANUS_BIN:-target/release/janus}"
  [[ -x "$JANUS_BIN" ]] || cargo build --release -p runtime-mio --bin janus
  JP="${JANUS_PORT:-4455}"
  port_open "$JP" && { echo "port $JP is in use (set JANUS_PORT)" >&2; exit 1; }
  mkdir -p "$W/janus-share" "$W/janus-state" "$W/janus-etc"
  chmod 0777 "$W/janus-share"
  echo "$PASS" | "$JANUS_BIN" user add --users "$W/janus-etc/users" "$USER_NAME" --password-stdin \
    --uid "$(id -u)" --gid "$(id -g)" >/dev/null
  printf '[[share]]\nname = "share"\npath = "%s"\nsmb_encrypt = "off"\n' "$W/janus-share" > "$W/janus-etc/janus.toml"
  "$JANUS_BIN" serve --config "$W/janus-etc/janus.toml" --bind 127.0.0.1 --nfs-port 0 --portmap-port 0 \
    --smb-port "$JP" --users "$W/janus-etc/users" --root-squash off --state "$W/janus-state" --log warn \
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
  echo "samba on 127.0.0.1:$SP ($(smbd --version))"
  servers+=(samba); PORT[samba]="$SP"
fi

declare -A P50 P99
for run in $(seq 1 "$RUNS"); do
  for s in "${servers[@]}"; do
    out="$("$PY" tests/clients/smb_lock.py --port "${PORT[$s]}" --user "$USER_NAME" --password "$PASS" \
      --share share --iterations "$N" bench 2>&1 | tail -1)"
    [[ "$out" == check=bench\ ok* ]] || { echo "$s: bench failed: $out"; exit 1; }
    p50="$(sed -n 's/.*p50_ms=\([0-9.]*\).*/\1/p' <<<"$out")"
    p99="$(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' <<<"$out")"
    P50[$s]+="$p50 " P99[$s]+="$p99 "
    printf 'run %d %-6s p50 %7.3f ms  p99 %7.3f ms  (n=%d)\n' "$run" "$s" "$p50" "$p99" "$N"
  done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]}'; }
echo
echo "median of $RUNS runs (grant latency after unlock, ms):"
for s in "${servers[@]}"; do
  printf '  %-6s p50 %7.3f  p99 %7.3f\n' "$s" "$(median <<<"${P50[$s]}")" "$(median <<<"${P99[$s]}")"
done
if [[ -n "${P50[janus]:-}" && -n "${P50[samba]:-}" ]]; then
  printf '  janus/samba: p50 %.2fx  p99 %.2fx\n' \
    "$(echo "$(median <<<"${P50[janus]}") / $(median <<<"${P50[samba]}")" | bc -l)" \
    "$(echo "$(median <<<"${P99[janus]}") / $(median <<<"${P99[samba]}")" | bc -l)"
fi
