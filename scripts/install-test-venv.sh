#!/usr/bin/env bash
# install-test-venv.sh -- the Python venv of the SMB tests (idempotent; install-test-deps.sh runs it).
#
# Usage: scripts/install-test-venv.sh        (no root needed once python3-venv is installed)
#
# Creates $JANUS_VENV (default: <cargo target dir>/janus-venv, i.e. target/janus-venv or
# $CARGO_TARGET_DIR/janus-venv) with Debian's /usr/bin/python3 and installs the pinned PyPI
# packages below (the SMB clients the e2e tests drive). Tests run "$JANUS_VENV/bin/python" and never download anything:
# a venv already holding exactly these pins (recorded in janus-requirements.txt inside it) is
# left alone. Changing a pin here makes the next run rebuild the venv.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
[[ "$target" = /* ]] || target="$root/$target"
venv="${JANUS_VENV:-$target/janus-venv}"

# smbprotocol: SMB 2/3 client (every dialect, signing, encryption, compounds); pyspnego is its
# NTLM/SPNEGO layer; impacket: a second, independent SMB client (Debian's is older than the one
# the tests were written against). Pinned so a test failure is never a new client release.
PINS=(smbprotocol==1.17.0 pyspnego==0.12.4 cryptography==50.0.2 impacket==0.13.1)
python=/usr/bin/python3

want="$(printf '%s\n' "${PINS[@]}")"
stamp="$venv/janus-requirements.txt"
check='import smbprotocol, spnego, impacket.smb3'
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
   && "$venv/bin/python" -c "$check" 2>/dev/null; then
  echo "install-test-venv: $venv up to date"
  exit 0
fi

[[ -x "$python" ]] || { echo "install-test-venv: $python missing (Debian package python3)" >&2; exit 1; }
echo "install-test-venv: creating $venv (${PINS[*]})"
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "${PINS[@]}"
"$venv/bin/python" -c "$check"
printf '%s\n' "$want" > "$stamp"
echo "install-test-venv: $venv ready"
