#!/usr/bin/env bash
# smb-capture-check.sh -- capture signed, unencrypted SMB sessions of smbclient and Python
# smbprotocol against a server on loopback with tshark, then check Wireshark's dissection:
# no malformed packet, no expert error.
#
# Usage:
#   scripts/smb-capture-check.sh --target //127.0.0.1:PORT/SHARE -U USER%PASS [--out DIR]
#   scripts/smb-capture-check.sh --samba [--out DIR]      # against a private Samba started here
#
# Options / env:
#   --out DIR         keep session.pcap, the clients' output and tshark's reports there
#                     (default: a temp dir, removed at exit unless the check fails)
#   --samba-port P    port of the --samba server (default 4454)
#   --dialects LIST   smbprotocol dialects, comma-separated (default 311,210: AES-CMAC and
#                     HMAC-SHA256 signing)
#   JANUS_VENV        the tests' Python venv (default: $CARGO_TARGET_DIR/janus-venv or
#                     target/janus-venv; scripts/install-test-venv.sh makes it)
#
# The session (all signed, none encrypted, so every SMB2 header is dissected):
#   smbclient -m SMB3 --client-protection=sign: mkdir, put, ls, rename, get, rm, rmdir;
#   smbclient -m SMB2_10 --client-protection=sign: ls;  smbclient -L (IPC$, srvsvc over DCE/RPC);
#   tests/clients/smb_capture_session.py: per dialect NEGOTIATE .. LOGOFF with CREATE, WRITE,
#   FLUSH, READ, QUERY_INFO, QUERY_DIRECTORY, SET_INFO rename, ECHO, delete-on-close.
# Capture: `tshark -i lo -B 64 -f 'tcp port PORT' -w session.pcap` (dumpcap on lo needs root or
# CAP_NET_RAW+CAP_NET_ADMIN; checked first), started before and stopped (SIGINT) after the clients.
# Analysis, with the port decoded as NBSS (-d tcp.port==PORT,nbss):
#   tshark -r session.pcap -q -z expert                                -> printed
#   tshark -r session.pcap -Y "$BAD"                                   -> must be empty, with
#   BAD = '_ws.expert.severity >= error || (_ws.malformed && !(smb2.cmd == 0 && spnego))':
#     every expert error (a "[Malformed Packet]" dissector exception is one), and every item of
#     Wireshark's Malformed group, also at warning level, except in a NEGOTIATE response's
#     SPNEGO token: Samba 4.17 puts a negHints hint there (the negTokenInit2 of [MS-SPNG]
#     3.2.5.2) that Wireshark 4.0 flags as "BER Error: OctetString expected" (a warning).
#     Other warnings (e.g. TCP "window full") are shown, not failed on.
# Decoded as NBSS on a port other than 445, Wireshark 4.0 reads the NetBIOS 17-bit length (a
# flag bit + 16 bits), not SMB2 direct TCP's 24 bits: a message over 128 KiB is misdissected as
# "[Malformed Packet]" whoever sent it (seen against Samba: a 200,080-byte READ response, NBSS
# header 00 03 0d 90, dissected as 69,008 bytes). So the session keeps every message
# below 128 KiB (smbclient moves a 100,000-byte file; smbprotocol writes and reads 64 KiB).
# and sanity checks: SMB2 frames were captured, signed frames exist (SMB2 flag 0x8), no SMB2
# TRANSFORM (encrypted) frame, and every SMB2 command the session used was decoded.
# Exit: 0 clean, 1 malformed/expert error or a failed client/sanity check, 2 setup error.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

TARGET="" CRED="" OUT="" SAMBA="" SAMBA_PORT=4454 DIALECTS=311,210
while (($#)); do
  case "$1" in
    --target) TARGET="$2"; shift 2;;
    -U) CRED="$2"; shift 2;;
    --out) OUT="$2"; shift 2;;
    --samba) SAMBA=1; shift;;
    --samba-port) SAMBA_PORT="$2"; shift 2;;
    --dialects) DIALECTS="$2"; shift 2;;
    -h|--help) sed -n '2,/^set -uo/{/^#/p}' "$0"; exit 0;;
    *) echo "unknown argument: $1" >&2; exit 2;;
  esac
done
for t in tshark smbclient; do
  command -v "$t" >/dev/null || { echo "$t missing: scripts/install-test-deps.sh" >&2; exit 2; }
done
target_dir="${CARGO_TARGET_DIR:-$ROOT/target}"; [[ "$target_dir" = /* ]] || target_dir="$ROOT/$target_dir"
PY="${JANUS_VENV:-$target_dir/janus-venv}/bin/python"
[[ -x "$PY" ]] || { echo "$PY missing: scripts/install-test-venv.sh" >&2; exit 2; }

KEEP="" SAMBA_DIR="" TPID=""
if [[ -n "$OUT" ]]; then mkdir -p "$OUT"; OUT="$(cd "$OUT" && pwd)"; KEEP=1; else OUT="$(mktemp -d /tmp/smb-capture.XXXXXX)"; fi
cleanup() {
  if [[ -n "$TPID" ]] && kill -0 "$TPID" 2>/dev/null; then kill -TERM "$TPID" 2>/dev/null || true; fi
  [[ -n "$SAMBA_DIR" ]] && "$ROOT/scripts/samba-server.sh" stop "$SAMBA_DIR" >/dev/null 2>&1
  [[ -z "$KEEP" ]] && rm -rf "$OUT"
  return 0
}
trap cleanup EXIT
fail() { echo "CAPTURE CHECK FAILED: $*"; KEEP=1; echo "# kept: $OUT"; exit 1; }

if [[ -n "$SAMBA" ]]; then
  SAMBA_DIR="$OUT/samba"
  SAMBA_VFS_OBJECTS="" scripts/samba-server.sh start "$SAMBA_DIR" "$SAMBA_PORT" janus janus-pass || exit 2
  TARGET="//127.0.0.1:$SAMBA_PORT/share" CRED="janus%janus-pass"
fi
[[ -n "$TARGET" && -n "$CRED" ]] || { echo "need --target //127.0.0.1:PORT/SHARE and -U USER%PASS (or --samba)" >&2; exit 2; }
[[ "$TARGET" =~ ^//([^/:]+):([0-9]+)/([^/]+)$ ]] || { echo "--target must look like //HOST:PORT/SHARE" >&2; exit 2; }
HOST="${BASH_REMATCH[1]}" PORT="${BASH_REMATCH[2]}" SHARE="${BASH_REMATCH[3]}"
[[ "$HOST" == 127.* ]] || { echo "loopback targets only (capture on lo)" >&2; exit 2; }
USER_NAME="${CRED%%%*}" PASS="${CRED#*%}"

# Can we capture on lo at all? (root, or dumpcap with capabilities)
if ! dumpcap -D 2>/dev/null | grep -qw lo; then
  echo "cannot capture on lo: dumpcap -D does not list it (needs root or CAP_NET_RAW+CAP_NET_ADMIN on dumpcap)" >&2
  exit 2
fi

PCAP="$OUT/session.pcap"
tshark -q -i lo -B 64 -f "tcp port $PORT" -a duration:600 -w "$PCAP" >"$OUT/tshark.log" 2>&1 </dev/null &
TPID=$!
for _ in $(seq 1 300); do grep -qs "Capturing on" "$OUT/tshark.log" && break; kill -0 "$TPID" 2>/dev/null || break; sleep 0.1; done
grep -qs "Capturing on" "$OUT/tshark.log" || { cat "$OUT/tshark.log"; echo "tshark did not start" >&2; exit 2; }
# "Capturing on" comes a moment before the filter is applied and packets flow.
sleep 1

clients_ok=1
sc() { timeout 120 smbclient "//$HOST/$SHARE" -p "$PORT" -U "$CRED" "$@"; }
# 100,000 bytes: every SMB2 message stays below 128 KiB (see the NBSS note above).
head -c 100000 /dev/urandom > "$OUT/up.bin"
D="capcheck-$$"
sc -m SMB3 --client-protection=sign -c "mkdir $D; cd $D; put $OUT/up.bin a.bin; ls; rename a.bin b.bin; get b.bin $OUT/down.bin; rm b.bin; cd ..; rmdir $D" \
  >"$OUT/smbclient-smb3.out" 2>&1 || clients_ok=0
cmp -s "$OUT/up.bin" "$OUT/down.bin" || { echo "smbclient SMB3: the file read back differs (or none)"; clients_ok=0; }
grep -q NT_STATUS_ "$OUT/smbclient-smb3.out" && clients_ok=0
sc -m SMB2_10 --client-protection=sign -c "ls" >"$OUT/smbclient-smb21.out" 2>&1 || clients_ok=0
timeout 120 smbclient -L "//$HOST" -p "$PORT" -U "$CRED" -m SMB3 --client-protection=sign >"$OUT/smbclient-L.out" 2>&1 || clients_ok=0
timeout 120 "$PY" "$ROOT/tests/clients/smb_capture_session.py" --port "$PORT" --user "$USER_NAME" \
  --password "$PASS" --share "$SHARE" --dialects "$DIALECTS" >"$OUT/smbprotocol.out" 2>&1 || clients_ok=0
sleep 0.5
kill -INT "$TPID" 2>/dev/null
for _ in $(seq 1 100); do kill -0 "$TPID" 2>/dev/null || break; sleep 0.1; done
TPID=""

for f in smbclient-smb3 smbclient-smb21 smbclient-L smbprotocol; do
  echo "== $f"; grep -vE '^\s*$' "$OUT/$f.out" | tail -6 | sed 's/^/  /'
done
((clients_ok)) || fail "a client failed (outputs above; a server that does not serve files fails here)"

D_ARGS=(-d "tcp.port==$PORT,nbss")
count() { tshark -r "$PCAP" "${D_ARGS[@]}" -Y "$1" 2>/dev/null | wc -l; }
frames=$(tshark -r "$PCAP" 2>/dev/null | wc -l)
smb2=$(count smb2)
signed=$(count 'smb2.flags.signature == 1')
transform=$(count 'smb2.protocol_id == 0xfd534d42')
echo "== $frames frames, $smb2 with SMB2, $signed signed SMB2, $transform encrypted (transform)"
((smb2 > 0)) || fail "no SMB2 frame captured"
((signed > 0)) || fail "no signed SMB2 frame: signing was not used"
((transform == 0)) || fail "$transform encrypted frames: the session was meant to be unencrypted"
# Every command the session used was dissected: NEGOTIATE 0, SESSION_SETUP 1, LOGOFF 2,
# TREE_CONNECT 3, TREE_DISCONNECT 4, CREATE 5, CLOSE 6, FLUSH 7, READ 8, WRITE 9, IOCTL 11,
# ECHO 13, QUERY_DIRECTORY 14, QUERY_INFO 16, SET_INFO 17.
seen=" $(tshark -r "$PCAP" "${D_ARGS[@]}" -Y smb2 -T fields -e smb2.cmd 2>/dev/null | tr ',\n' '  ' | tr -s ' ' '\n' | sort -un | tr '\n' ' ')"
missing=""
for c in 0 1 2 3 4 5 6 7 8 9 11 13 14 16 17; do [[ "$seen" == *" $c "* ]] || missing+=" $c"; done
echo "== SMB2 commands seen:$seen"
[[ -z "$missing" ]] || fail "SMB2 commands not seen in the capture:$missing"

echo "== tshark -z expert"
tshark -r "$PCAP" "${D_ARGS[@]}" -q -z expert 2>/dev/null | sed -n '/^\(Errors\|Warns\|Notes\|Chats\) (/,$p' | head -60 | tee "$OUT/expert.txt"
BAD='_ws.expert.severity >= error || (_ws.malformed && !(smb2.cmd == 0 && spnego))'
bad="$(tshark -r "$PCAP" "${D_ARGS[@]}" -Y "$BAD" 2>/dev/null)"
if [[ -n "$bad" ]]; then
  echo "$bad" | head -40
  fail "$(echo "$bad" | wc -l) frame(s) malformed or with an expert error"
fi
warn=$(count '_ws.expert.severity == warning')
spnego=$(count '_ws.malformed && smb2.cmd == 0 && spnego')
echo "RESULT: no malformed packets, no expert errors ($warn frame(s) with expert warnings, of which $spnego NEGOTIATE SPNEGO hints; not failed on)"
[[ -n "$KEEP" ]] && echo "# out: $OUT"
exit 0
