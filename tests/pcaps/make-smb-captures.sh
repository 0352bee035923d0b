#!/usr/bin/env bash
# make-smb-captures.sh -- regenerate the SMB captures in this directory: one smbclient session
# against `janus serve` and the same session against Samba (scripts/samba-server.sh).
#
# Usage: tests/pcaps/make-smb-captures.sh [OUTDIR]   (default: the directory of this script)
#
# Janus: builds and starts `janus serve` (share "share" on a temporary directory, config key
# smb_encrypt = "off" so the capture can be read, SMB on 127.0.0.1:$JANUS_PORT (default
# 4455), user janus/janus-pass made with `janus user add --password-stdin`).
# Samba: scripts/samba-server.sh on 127.0.0.1:$SAMBA_PORT (default 4454), same user and share,
# SAMBA_VFS_OBJECTS="" (no streams module).
# janus-smbprotocol.pcap: tests/clients/smb_replay_session.py (Python smbprotocol from the
# tests' venv, scripts/install-test-venv.sh) against the same Janus, which also has a share
# "secret" with smb_encrypt = "required": an SMB1 NEGOTIATE, related compounds (one failing),
# CHANGE_NOTIFY going async and completing, another cancelled, ECHO, LOGOFF, an encrypted
# tree, and a truncated SMB2 header (see the script's docstring).
# The smbclient captures: `tshark -i lo -f "tcp port PORT"` around one smbclient run:
#   smbclient //127.0.0.1/share -p PORT -U janus%janus-pass -m SMB3 --client-protection=sign \
#     -c 'mkdir dir; put hello.txt dir\hello.txt; ls dir\*; get dir\hello.txt back.txt;
#         get missing.txt nothing.txt; rename dir\hello.txt dir\renamed.txt; del dir\renamed.txt;
#         rmdir dir; ls'
# (hello.txt: 3000 bytes of 'h'; `get missing.txt` shows an error status). Signed, not
# encrypted, so every SMB2 message is readable.
# Stops everything it started, by PID.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here}"
mkdir -p "$out"; out="$(cd "$out" && pwd)"
repo="$(cd "$here/../.." && pwd)"
JANUS_PORT="${JANUS_PORT:-4455}"
SAMBA_PORT="${SAMBA_PORT:-4454}"
USER_NAME=janus
PASS=janus-pass
(cd "$repo" && cargo build -q -p runtime-mio --bin janus)
JANUS="${CARGO_TARGET_DIR:-$repo/target}/debug/janus"
PY="${JANUS_VENV:-${CARGO_TARGET_DIR:-$repo/target}/janus-venv}/bin/python"
[[ -x "$PY" ]] || { echo "$PY missing: scripts/install-test-venv.sh" >&2; exit 2; }
T="$(mktemp -d)"
mkdir -p "$T/share" "$T/state" "$T/work"

cleanup() {
  [[ -f "$T/cap.pid" ]] && { kill -INT "$(cat "$T/cap.pid")" 2>/dev/null || true; }
  [[ -f "$T/janus.pid" ]] && { kill -TERM "$(cat "$T/janus.pid")" 2>/dev/null || true; }
  [[ -d "$T/samba" ]] && { "$repo/scripts/samba-server.sh" stop "$T/samba" >/dev/null 2>&1 || true; }
  rm -rf "$T"
}
trap cleanup EXIT

head -c 3000 /dev/zero | tr '\0' 'h' > "$T/work/hello.txt"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

cap() { # cap NAME PORT CMD... : capture one client session into $out/NAME.pcap
  local name="$1" port="$2"; shift 2
  local f="$out/$name.pcap"
  rm -f "$f"
  setsid tshark -q -i lo -f "tcp port $port" -w "$f" -a duration:60 >"$T/cap.log" 2>&1 </dev/null &
  echo $! > "$T/cap.pid"
  for _ in $(seq 1 100); do grep -qs "Capturing on" "$T/cap.log" && break; sleep 0.1; done
  sleep 0.5   # "Capturing on" can precede the filter being live
  "$@" || echo "$name: client exit $?"
  sleep 0.5
  kill -INT "$(cat "$T/cap.pid")"
  for _ in $(seq 1 50); do kill -0 "$(cat "$T/cap.pid")" 2>/dev/null || break; sleep 0.1; done
  rm -f "$T/cap.pid"
  chmod 0644 "$f"
  echo "$f: $(stat -c %s "$f") bytes"
}

smbclient_session() { # smbclient_session PORT (a non-zero exit: `get missing.txt` fails)
  rm -f "$T/work/back.txt"
  (cd "$T/work" && smbclient //127.0.0.1/share -p "$1" -U "$USER_NAME%$PASS" -m SMB3 \
    --client-protection=sign \
    -c 'mkdir dir; put hello.txt dir\hello.txt; ls dir\*; get dir\hello.txt back.txt; get missing.txt nothing.txt; rename dir\hello.txt dir\renamed.txt; del dir\renamed.txt; rmdir dir; ls') || true
  cmp "$T/work/hello.txt" "$T/work/back.txt"
}

# Janus.
printf '%s\n' "$PASS" | "$JANUS" user add --users "$T/janus-users" "$USER_NAME" --password-stdin \
  --uid "$(id -u)" --gid "$(id -g)"
cat > "$T/janus.toml" <<EOF
[[share]]
name = "share"
path = "$T/share"
smb_encrypt = "off"

[[share]]
name = "secret"
path = "$T/secret"
smb_encrypt = "required"
EOF
mkdir -p "$T/secret"
chmod 0777 "$T/share" "$T/secret"
"$JANUS" serve --config "$T/janus.toml" --bind 127.0.0.1 --smb-port "$JANUS_PORT" \
  --users "$T/janus-users" --root-squash off --nfs-port 0 --portmap-port 0 --state "$T/state" \
  --log warn >"$T/janus.log" 2>&1 &
echo $! > "$T/janus.pid"
for _ in $(seq 1 100); do port_open "$JANUS_PORT" && break; sleep 0.1; done
kill -0 "$(cat "$T/janus.pid")" || { cat "$T/janus.log"; exit 1; }
cap janus-smbclient "$JANUS_PORT" smbclient_session "$JANUS_PORT"
cap janus-smbprotocol "$JANUS_PORT" "$PY" "$repo/tests/clients/smb_replay_session.py" \
  --port "$JANUS_PORT" --user "$USER_NAME" --password "$PASS" --share share --secret-share secret
kill -TERM "$(cat "$T/janus.pid")"; rm -f "$T/janus.pid"

# Samba.
SAMBA_VFS_OBJECTS="" "$repo/scripts/samba-server.sh" start "$T/samba" "$SAMBA_PORT" "$USER_NAME" "$PASS"
cap samba-smbclient "$SAMBA_PORT" smbclient_session "$SAMBA_PORT"
"$repo/scripts/samba-server.sh" stop "$T/samba"
