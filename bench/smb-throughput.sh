#!/usr/bin/env bash
# smb-throughput.sh -- SMB3 throughput and small-file rate with smbclient, Janus beside Samba:
# put (local -> server, WRITE) and get (server -> local, READ) of one file, SMB3 plain and
# encrypted, in MB/s (10^6 bytes); then N small-file creates and deletes, in files/s; medians of
# RUNS, with janus/samba ratios.
#
# Usage:
#   bench/smb-throughput.sh                 # janus and samba, both started here, stopped at exit
#   bench/smb-throughput.sh --only-samba    # samba only (validates the bench without janus)
#   bench/smb-throughput.sh --only-janus
#
# Options / env:
#   -s, --size MIB      file size (SIZE_MIB, default 512)
#   -r, --runs N        runs (RUNS, default 3); the servers alternate per run
#   --no-warmup         skip the untimed warm-up round (WARMUP=0)
#   -n, --files N       small files per run (FILES, default 1000; 4 KiB each)
#   --local-dir DIR     where the client's source and copied-back files live (LOCAL_DIR; default
#                       the bench's temp dir on /tmp); /dev/shm takes the client's disk out
#   JANUS_BIN           janus binary (default target/release/janus; built with cargo if missing)
#   JANUS_PORT          janus's SMB port (default 4453; its NFS port is JANUS_NFS_PORT, 20691)
#   SAMBA_PORT          samba's port (default 4452); Samba runs from scripts/samba-server.sh with
#                       a generated smb.conf and all its state under the bench's temp dir, no
#                       vfs objects (Janus has no alternate data streams either)
#
# Methodology: a warm-up round first, the same as a run but not recorded (here the first
# 512 MiB copy after smbd starts took twice as long as the next ones); one random source file (page cache), `smbclient -m SMB3 -c 'put SRC F'` timed as
# "put", `-c 'get F DST'` as "get", every copy checked with cmp, then the same with
# `--client-protection=encrypt` (SMB3 transform, AES-128-GCM from Samba 4.17's client); `sync`
# (untimed) before every copy. Small files: ONE smbclient session reading `mkdir D`, `cd D`,
# `lcd TMP`, N x `put small fNNNNNN`, `ls` from stdin (per file CREATE + WRITE 4 KiB + CLOSE),
# timed minus the median of 3 empty sessions (connect, negotiate, session setup, tree connect),
# checks N puts and N listed; then `deltree D` in a second session timed the same way (per file
# CREATE with DELETE_ON_CLOSE + CLOSE after the listing), checks nothing is left. Both servers
# serve a directory of the same /tmp file system, as the same Unix user (Samba's `force user`;
# Janus's users-file uid with --root-squash off).
# Before measuring, each server is probed (ls, put, get of a small file): a server that does not
# serve files is reported ("not measured: <smbclient's error>") and left out, and the bench
# exits 1 after measuring the other one. Janus runs with --log warn. Starts and stops only its
# own processes (by PID; Samba's helpers by their unique config path).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

SIZE="${SIZE_MIB:-512}" RUNS="${RUNS:-3}" FILES="${FILES:-1000}" ONLY="" WARMUP="${WARMUP:-1}"
while (($#)); do
  case "$1" in
    -s|--size) SIZE="$2"; shift 2;;
    -r|--runs) RUNS="$2"; shift 2;;
    -n|--files) FILES="$2"; shift 2;;
    --only-samba) ONLY=samba; shift;;
    --no-warmup) WARMUP=0; shift;;
    --only-janus) ONLY=janus; shift;;
    --local-dir) LOCAL_DIR="$2"; shift 2;;
    -h|--help) sed -n '2,/^set -e/{/^#/p}' "$0"; exit 0;;
    *) echo "unknown argument $1" >&2; exit 2;;
  esac
done
command -v smbclient >/dev/null || { echo "smbclient missing: scripts/install-test-deps.sh" >&2; exit 1; }
command -v bc >/dev/null || { echo "bc missing: scripts/install-test-deps.sh" >&2; exit 1; }

W="$(mktemp -d /tmp/janus-smbbench.XXXXXX)"
if [[ -n "${LOCAL_DIR:-}" ]]; then L="$(mktemp -d "$LOCAL_DIR/janus-smbbench-local.XXXXXX")"; else L="$W"; fi
JPID="" SAMBA_DIR=""
cleanup() {
  [[ -n "$SAMBA_DIR" ]] && "$ROOT/scripts/samba-server.sh" stop "$SAMBA_DIR" >/dev/null 2>&1
  if [[ -n "$JPID" ]] && kill -0 "$JPID" 2>/dev/null; then
    kill -TERM "$JPID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$JPID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$JPID" 2>/dev/null || true
  fi
  rm -rf "$W"
  [[ "$L" != "$W" ]] && rm -rf "$L"
  return 0
}
trap cleanup EXIT

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]}'; }
mbps() { echo "scale=1; $SIZE * 1048576 / 1000000 / $1" | bc; }
USER_NAME=bench PASS='bench-Pass-1'
declare -A PORT DIR
servers=() unusable=()

if [[ "$ONLY" != samba ]]; then
  JANUS_BIN="${JANUS_BIN:-target/release/janus}"
  if [[ ! -x "$JANUS_BIN" ]]; then
    echo "building janus (release)..."
    cargo build --release -p runtime-mio --bin janus
  fi
  JP="${JANUS_PORT:-4453}" JN="${JANUS_NFS_PORT:-20691}"
  for p in "$JP" "$JN"; do port_open "$p" && { echo "port $p is in use (set JANUS_PORT / JANUS_NFS_PORT)" >&2; exit 1; }; done
  mkdir -p "$W/janus-share" "$W/janus-state" "$W/janus-etc"
  chmod 0777 "$W/janus-share"
  echo "$PASS" | "$JANUS_BIN" user add --users "$W/janus-etc/users" "$USER_NAME" --password-stdin \
    --uid "$(id -u)" --gid "$(id -g)" >/dev/null
  # smb_encrypt = "off": encrypt only when the client asks (as Samba's default), so "plain" is
  # plain for both servers; Janus's default ("desired") would encrypt every SMB3 session.
  printf '[[share]]\nname = "share"\npath = "%s"\nsmb_encrypt = "off"\n' "$W/janus-share" > "$W/janus-etc/janus.toml"
  "$JANUS_BIN" serve --config "$W/janus-etc/janus.toml" --bind 127.0.0.1 --nfs-port "$JN" --portmap-port 0 \
    --smb-port "$JP" --users "$W/janus-etc/users" --root-squash off --state "$W/janus-state" --log warn \
    >"$W/janus.log" 2>&1 </dev/null &
  JPID=$!
  for _ in $(seq 1 100); do port_open "$JP" && break; kill -0 "$JPID" 2>/dev/null || break; sleep 0.1; done
  if port_open "$JP"; then
    echo "janus pid $JPID on 127.0.0.1:$JP (SMB) ($JANUS_BIN)"
    servers+=(janus); PORT[janus]="$JP"; DIR[janus]="$W/janus-share"
  else
    echo "janus: not measured: it does not listen on SMB port $JP; its log:"
    sed 's/^/  /' "$W/janus.log" | tail -10
    unusable+=(janus)
  fi
fi
if [[ "$ONLY" != janus ]]; then
  SP="${SAMBA_PORT:-4452}"
  SAMBA_DIR="$W/samba"
  SAMBA_VFS_OBJECTS="" scripts/samba-server.sh start "$SAMBA_DIR" "$SP" "$USER_NAME" "$PASS" >"$W/samba-start.log" 2>&1 ||
    { echo "samba did not start:"; cat "$W/samba-start.log"; exit 1; }
  echo "samba: $(head -1 "$W/samba-start.log") ($(smbd --version))"
  servers+=(samba); PORT[samba]="$SP"; DIR[samba]="$SAMBA_DIR/share"
fi

smbc() { # SERVER [smbclient args...]
  local s="$1"; shift
  smbclient //127.0.0.1/share -p "${PORT[$s]}" -U "$USER_NAME%$PASS" -m SMB3 "$@"
}

# Probe: a server that cannot list, write and read back a small file is not measured.
head -c 4096 /dev/urandom > "$L/small"
usable=()
for s in "${servers[@]}"; do
  rm -f "$L/probe.back"
  if smbc "$s" -c "ls; put $L/small probe-$$; get probe-$$ $L/probe.back; rm probe-$$" >"$W/probe.$s" 2>&1 \
     && cmp -s "$L/small" "$L/probe.back"; then
    usable+=("$s")
  else
    echo "$s: not measured: it does not serve files (smbclient ls/put/get/rm of a 4 KiB file failed):"
    grep -E 'NT_STATUS|failed|error' "$W/probe.$s" | head -5 | sed 's/^/  /'
    [[ -s "$W/probe.$s" ]] || echo "  (no output)"
    unusable+=("$s")
  fi
done
servers=("${usable[@]+"${usable[@]}"}")
((${#servers[@]})) || { echo "no server to measure"; exit 1; }

echo "source: $SIZE MiB random, runs: $RUNS, small files: $FILES x 4 KiB"
head -c "$((SIZE * 1048576))" /dev/urandom > "$L/src.bin"

runname() { if ((run > 0)); then echo "run $run"; else echo "warm-up"; fi; }
timeit() { # LABEL CMD...: append seconds to $W/times.LABEL
  local label="$1"; shift
  local t0 t1 d
  sync
  t0=$(now)
  "$@" >"$W/out" 2>&1 || { echo "$label FAILED:"; tail -5 "$W/out"; exit 1; }
  t1=$(now)
  # smbclient exits 0 after some failed commands: check its output too.
  if grep -q 'NT_STATUS_' "$W/out"; then echo "$label FAILED:"; grep 'NT_STATUS_' "$W/out" | head -5; exit 1; fi
  d=$(echo "$t1 - $t0" | bc)
  ((run > 0)) && echo "$d" >> "$W/times.$label"
  printf '  %-16s %s: %6.2fs = %7s MB/s\n' "$label" "$(runname)" "$d" "$(mbps "$d")"
}

empty_session() { # SERVER: median seconds of 3 empty smbclient sessions
  local s="$1" t0 t1
  : > "$W/empty.$s"
  for _ in 1 2 3; do
    t0=$(now); smbc "$s" -c exit </dev/null >/dev/null 2>&1; t1=$(now)
    echo "$t1 - $t0" | bc >> "$W/empty.$s"
  done
  median < "$W/empty.$s"
}

small_files() { # SERVER
  local s="$1" d="smallbench-$$-$run" base t0 t1 net del put listed left
  base=$(empty_session "$s")
  { echo "mkdir $d"; echo "cd $d"; echo "lcd $L"
    for i in $(seq -f '%06g' 1 "$FILES"); do echo "put small f$i"; done
    echo "ls"; echo "exit"; } > "$W/cmds"
  sync
  t0=$(now); smbc "$s" < "$W/cmds" > "$W/small.out" 2>&1 || true; t1=$(now)
  net=$(echo "$t1 - $t0 - $base" | bc)
  put=$(grep -c '^putting file' "$W/small.out" || true)
  listed=$(grep -cE '^ +f[0-9]{6} ' "$W/small.out" || true)
  t0=$(now); smbc "$s" -c "deltree $d" </dev/null > "$W/del.out" 2>&1 || true; t1=$(now)
  del=$(echo "$t1 - $t0 - $base" | bc)
  left=$(smbc "$s" -c "ls $d\\*" </dev/null 2>&1 | grep -cE '^ +f[0-9]{6} ' || true)
  printf '  %-16s %s: %d creates %.3fs = %.0f files/s, deltree %.3fs = %.0f files/s (empty session %.3fs subtracted)\n' \
    "$s-small" "$(runname)" "$FILES" "$net" "$(echo "$FILES / $net" | bc -l)" "$del" "$(echo "$FILES / $del" | bc -l)" "$base"
  if [[ "$put" -ne "$FILES" || "$listed" -ne "$FILES" || "$left" -ne 0 ]]; then
    echo "$s: small files MISMATCH: $put puts, $listed listed, $left left after deltree (expected $FILES, $FILES, 0)"
    tail -3 "$W/small.out"; tail -3 "$W/del.out"; exit 1
  fi
  if ((run > 0)); then
    echo "$FILES / $net" | bc -l >> "$W/rate.$s-create"
    echo "$FILES / $del" | bc -l >> "$W/rate.$s-delete"
  fi
}

for run in $(seq $((WARMUP ? 0 : 1)) "$RUNS"); do
  for s in "${servers[@]}"; do
    for mode in plain enc; do
      opts=(); [[ $mode == enc ]] && opts=(--client-protection=encrypt)
      f="bench-$$-$run-$mode.bin"
      timeit "$s-put-$mode" smbc "$s" "${opts[@]+"${opts[@]}"}" -c "put $L/src.bin $f"
      rm -f "$L/back.bin"
      timeit "$s-get-$mode" smbc "$s" "${opts[@]+"${opts[@]}"}" -c "get $f $L/back.bin"
      cmp -s "$L/src.bin" "$L/back.bin" || { echo "$s: get ($mode) differs from the source"; exit 1; }
      # Delete through the server (as a client would): a file removed behind a server's
      # back stays allocated while the server keeps it open (Janus's descriptor cache), and
      # its dirty pages then compete with the next copy's.
      rm -f "$L/back.bin"
      smbc "$s" -c "rm $f" >/dev/null 2>&1 || { echo "$s: rm $f failed"; exit 1; }
    done
    small_files "$s"
  done
done

echo
echo "medians of $RUNS runs, $SIZE MiB, MB/s (10^6 bytes/s); small files: $FILES x 4 KiB, files/s:"
printf '%-8s %10s %10s %10s %10s %10s %10s\n' server put get put-enc get-enc creates/s deletes/s
declare -A MED
for s in "${servers[@]}"; do
  for k in put-plain get-plain put-enc get-enc; do MED[$s-$k]=$(mbps "$(median < "$W/times.$s-$k")"); done
  MED[$s-create]=$(median < "$W/rate.$s-create"); MED[$s-delete]=$(median < "$W/rate.$s-delete")
  printf '%-8s %10s %10s %10s %10s %10.0f %10.0f\n' "$s" "${MED[$s-put-plain]}" "${MED[$s-get-plain]}" \
    "${MED[$s-put-enc]}" "${MED[$s-get-enc]}" "${MED[$s-create]}" "${MED[$s-delete]}"
done
if [[ -n "${MED[janus-put-plain]:-}" && -n "${MED[samba-put-plain]:-}" ]]; then
  r() { echo "scale=3; ${MED[janus-$1]} / ${MED[samba-$1]}" | bc; }
  printf 'janus/samba: put %.2fx, get %.2fx, put-enc %.2fx, get-enc %.2fx, creates %.2fx, deletes %.2fx\n' \
    "$(r put-plain)" "$(r get-plain)" "$(r put-enc)" "$(r get-enc)" "$(r create)" "$(r delete)"
fi
if ((${#unusable[@]})); then
  echo "not measured: ${unusable[*]} (see above)"
  exit 1
fi
exit 0
