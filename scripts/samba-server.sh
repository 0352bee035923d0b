#!/usr/bin/env bash
# samba-server.sh -- a private Samba smbd on 127.0.0.1:PORT, the reference server the SMB
# scripts compare Janus with (smbtorture counts, bench/smb-throughput.sh, smb-capture-check.sh).
#
# Usage:
#   scripts/samba-server.sh start  DIR [PORT] [USER] [PASS]   # defaults 4451 janus janus-pass
#   scripts/samba-server.sh stop   DIR
#   scripts/samba-server.sh status DIR
#
# Everything lives under DIR (created if missing):
#   DIR/share          the exported directory: share "share" (USER/PASS)
#   DIR/etc/smb.conf   generated config; every Samba directory points into DIR/var
#   DIR/smbd.log       smbd's output (debug level SMBD_DEBUG, default 1)
#   DIR/smbd.pid       PID of smbd = its process group (setsid)
# SMB user USER is mapped (`username map`) to the Unix user running this script and the share
# has `force user` = that user, so no system account is created; the password is in
# DIR/var/private/passdb.tdb. Binds 127.0.0.1 only, no NetBIOS, SMB2_02..SMB3_11.
#
# Env: SAMBA_VFS_OBJECTS (default "streams_xattr": alternate data streams in user.* xattrs, the
#      configuration the interop lab's Samba 4.17 smbtorture baseline was measured with; "" for
#      none), SAMBA_EXTRA_GLOBAL (extra [global] lines, newline separated), SMBD_DEBUG.
#
# stop: SIGTERM to smbd's process group, SIGKILL after 5 s, then the samba-dcerpcd/rpcd_*
# helpers smbd starts on demand in their own session; they are found by their
# --configfile=DIR/etc/smb.conf argument, which only this instance uses. Nothing else is touched.
# Needs Debian packages samba (+ samba-vfs-modules for streams_xattr): scripts/install-test-deps.sh.
set -euo pipefail

cmd="${1:-}"; DIR="${2:-}"
[[ -n "$cmd" && -n "$DIR" ]] || { sed -n '2,/^set -e/{/^#/p}' "$0"; exit 2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  local port="${1:-4451}" user="${2:-janus}" pass="${3:-janus-pass}"
  command -v smbd >/dev/null || { echo "smbd missing: scripts/install-test-deps.sh (package samba)" >&2; return 1; }
  mkdir -p "$DIR"
  DIR="$(cd "$DIR" && pwd)"
  if [[ -f "$DIR/smbd.pid" ]] && kill -0 "$(cat "$DIR/smbd.pid")" 2>/dev/null; then
    echo "smbd already running (pid $(cat "$DIR/smbd.pid"))"; return 0
  fi
  port_open "$port" && { echo "port $port is in use" >&2; return 1; }
  local v="$DIR/var" unixuser
  unixuser="$(id -un)"
  mkdir -p "$DIR/share" "$DIR/etc" "$v"/{private,lock,state,cache,pid,ncalrpc,log,usershares,binddns}
  chmod 0700 "$v/private"
  chmod 0777 "$DIR/share"
  echo "$unixuser = $user" > "$DIR/etc/username.map"
  cat > "$DIR/etc/smb.conf" <<EOF
[global]
  server role = standalone server
  workgroup = WORKGROUP
  netbios name = JANUSREF
  interfaces = 127.0.0.1
  bind interfaces only = yes
  smb ports = $port
  disable netbios = yes
  server min protocol = SMB2_02
  server max protocol = SMB3_11
  private dir = $v/private
  lock directory = $v/lock
  state directory = $v/state
  cache directory = $v/cache
  pid directory = $v/pid
  ncalrpc dir = $v/ncalrpc
  binddns dir = $v/binddns
  usershare path = $v/usershares
  passdb backend = tdbsam:$v/private/passdb.tdb
  username map = $DIR/etc/username.map
  log file = $v/log/log.%m
  max log size = 10000
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes
  kernel oplocks = no
  ${SAMBA_EXTRA_GLOBAL:-}

[share]
  path = $DIR/share
  vfs objects = ${SAMBA_VFS_OBJECTS-streams_xattr}
  read only = no
  guest ok = no
  force user = $unixuser
  create mask = 0644
  directory mask = 0755
EOF
  printf '%s\n%s\n' "$pass" "$pass" | smbpasswd -c "$DIR/etc/smb.conf" -s -a "$unixuser" >/dev/null
  # setsid: its own session and process group, so stop can signal smbd and all its children.
  setsid smbd -F --no-process-group --debug-stdout -d "${SMBD_DEBUG:-1}" -s "$DIR/etc/smb.conf" \
    >"$DIR/smbd.log" 2>&1 </dev/null &
  echo $! > "$DIR/smbd.pid"
  for _ in $(seq 1 100); do
    if port_open "$port"; then
      echo "smbd pid $(cat "$DIR/smbd.pid") on 127.0.0.1:$port: //127.0.0.1/share $user%$pass, dir $DIR/share"
      return 0
    fi
    kill -0 "$(cat "$DIR/smbd.pid")" 2>/dev/null || break
    sleep 0.1
  done
  echo "smbd did not start; log:" >&2; tail -30 "$DIR/smbd.log" >&2; return 1
}

helpers() { grep -lsF -- "--configfile=$DIR/etc/smb.conf" /proc/[0-9]*/cmdline | cut -d/ -f3; }

stop() {
  [[ -d "$DIR" ]] && DIR="$(cd "$DIR" && pwd)"
  [[ -f "$DIR/smbd.pid" ]] || { echo "no $DIR/smbd.pid"; return 0; }
  local pid p; pid="$(cat "$DIR/smbd.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  kill -KILL -- "-$pid" 2>/dev/null || true
  for p in $(helpers); do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in $(helpers); do kill -KILL "$p" 2>/dev/null || true; done
  rm -f "$DIR/smbd.pid"
  echo "smbd (pgid $pid) stopped"
}

status() {
  [[ -d "$DIR" ]] && DIR="$(cd "$DIR" && pwd)"
  if [[ -f "$DIR/smbd.pid" ]] && kill -0 "$(cat "$DIR/smbd.pid")" 2>/dev/null; then
    echo "running: pgid $(cat "$DIR/smbd.pid")"
  else
    echo "not running"; return 1
  fi
}

case "$cmd" in
  start) shift 2; start "$@";;
  stop) stop;;
  status) status;;
  *) sed -n '2,/^set -e/{/^#/p}' "$0"; exit 2;;
esac
