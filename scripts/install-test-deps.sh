#!/usr/bin/env bash
# install-test-deps.sh -- install the Debian packages Janus's test suite needs (idempotent, root).
#
# Usage: scripts/install-test-deps.sh          (scripts/test.sh runs it first)
#
# Every package is checked with dpkg-query first; apt-get update runs only when something is
# missing and either the package lists are empty or the install fails on them (stale lists:
# apt then refuses with "held broken packages" when a dependency was pinned to an older point
# release), in which case the lists are refreshed and the install retried once. No service is
# started (policy-rc.d exits 101 while apt runs). Nothing else is downloaded at test time.
#
#   libnfs-utils          nfs-cp, nfs-ls, nfs-cat       (third-party NFSv3 clients of the e2e tests)
#   libnfs-dev gcc make pkg-config  build tests/clients/nfs3-driver.c against libnfs
#   tshark                capture + Wireshark dissectors for the malformed-packet check
#   procps iproute2       ps/kill, ss (diagnostics)
#   bc                    arithmetic in bench/nfs-throughput.sh
#   --- SMB (issue 10) ---
#   smbclient             smbclient: put/get, ls, -L, -m SMB2/SMB3, -e
#   samba-testsuite       smbtorture (smb2.* suites)
#   python3-venv          the venv of scripts/install-test-venv.sh (smbprotocol, impacket: PyPI, pinned)
#   samba                 smbd: the reference server of scripts/samba-server.sh (smbtorture counts,
#                         bench/smb-throughput.sh, scripts/smb-capture-check.sh --samba); never
#                         started as a service
#   samba-vfs-modules     streams_xattr for that smbd (alternate data streams, as the interop
#                         lab's Samba baseline was measured with)
# Then scripts/install-test-venv.sh creates the tests' Python venv (target/janus-venv), on
# every run: it is a no-op when the venv is up to date.
# Add packages to PKGS below.
set -euo pipefail

PKGS=(libnfs-utils libnfs-dev tshark gcc make pkg-config procps iproute2 bc)
# SMB tests (issue 10).
PKGS+=(smbclient samba-testsuite python3 python3-venv samba samba-vfs-modules)
venv_step() { "$(dirname "$0")/install-test-venv.sh"; }

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-test-deps: all ${#PKGS[@]} packages present"
  venv_step
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-test-deps: missing packages: ${missing[*]}" >&2
  echo "install-test-deps: run as root, or: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# tshark: do not ask whether non-root users may capture.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections

tmp_policy=""
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  tmp_policy=1
fi
cleanup() { [[ -n "$tmp_policy" ]] && rm -f /usr/sbin/policy-rc.d; return 0; }
trap cleanup EXIT

install() { apt-get install -y --no-install-recommends "${missing[@]}"; }

refreshed=""
if [[ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -print -quit 2>/dev/null)" ]]; then
  apt-get update
  refreshed=1
fi
echo "install-test-deps: installing ${missing[*]}"
if ! install; then
  if [[ -n "$refreshed" ]]; then
    echo "install-test-deps: apt-get install failed on freshly updated package lists" >&2
    exit 1
  fi
  echo "install-test-deps: apt-get install failed; the package lists may be stale: running apt-get update and retrying once" >&2
  apt-get update
  install
fi
venv_step
