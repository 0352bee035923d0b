#!/usr/bin/env bash
# py-test-deps.sh -- the Python clients of the SMB tests in a venv (idempotent).
#
# Usage: scripts/py-test-deps.sh        (scripts/install-test-deps.sh runs it)
#
# Creates ~/.cache/janus-venv (or $JANUS_VENV) with pinned smbprotocol and impacket from
# PyPI, the third-party SMB2/3 clients tests/tests/e2e_smb_*.rs drive. Nothing is done when
# the venv already has exactly these pins. Needs python3 with venv (Debian: python3-venv).
set -euo pipefail

VENV="${JANUS_VENV:-$HOME/.cache/janus-venv}"
PINS=(smbprotocol==1.17.0 pyspnego==0.12.4 cryptography==50.0.2 impacket==0.13.1)
STAMP="$VENV/.janus-pins"
want="${PINS[*]}"

if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
  echo "py-test-deps: $VENV has ${PINS[*]}"
  exit 0
fi
command -v python3 >/dev/null || { echo "py-test-deps: python3 not found" >&2; exit 1; }
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}"
echo "$want" > "$STAMP"
echo "py-test-deps: installed ${PINS[*]} into $VENV"
