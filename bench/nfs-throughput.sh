#!/usr/bin/env bash
# nfs-throughput.sh -- sequential NFSv3 throughput with nfs-cp (libnfs-utils): copy a file in
# (local -> server, WRITE) and out (server -> local, READ), median of RUNS, in MB/s (10^6 bytes).
#
# Usage:
#   bench/nfs-throughput.sh                       # janus only (started here, stopped at exit)
#   bench/nfs-throughput.sh --ganesha-url 'nfs://127.0.0.1/export?version=3&nfsport=20490&mountport=20048' \
#                           --ganesha-dir /path/to/ganesha/export          # + a ganesha you started
#   bench/nfs-throughput.sh --ganesha                # + a ganesha started (and stopped) here
#   bench/nfs-throughput.sh --only-ganesha --ganesha-url URL [--ganesha-dir DIR]
#
# Options / env:
#   -s, --size MIB        file size (SIZE_MIB, default 512)
#   -r, --runs N          runs per direction (RUNS, default 3); janus and ganesha alternate per run
#   --ganesha-url URL     also measure this server (GANESHA_URL), e.g. one started with
#                         ../shared/lab/ganesha-peer.sh start DIR  (export DIR/export)
#   --ganesha-dir DIR     that export's directory on disk (GANESHA_DIR): the bench files are deleted
#                         after each run (nfs-cp cannot overwrite; libnfs-utils has no nfs-rm)
#   --ganesha             start nfs-ganesha with ../shared/lab/ganesha-peer.sh (GANESHA_PEER) on
#                         GANESHA_PORTS (default "20590 20548 20521": NFS MOUNT NLM) and stop it at exit
#   --only-ganesha        do not start janus
#   --local-dir DIR       where the client's source and copied-back files live (LOCAL_DIR;
#                         default: the bench's temp dir on /tmp, as ../shared/lab/perf.sh does).
#                         `--local-dir /dev/shm` takes the client's own disk out of the figures:
#                         with a disk-backed destination, "out" swings 0.3-2 s per copy with
#                         ext4 allocation after the previous copy's delete, for either server.
#   JANUS_BIN             janus binary (default target/release/janus; built with cargo if missing)
#   JANUS_PORT            NFS port for janus (default 20690; MOUNT is on the same port)
#
# Methodology (same as the interop lab's perf.sh): one random source file in the page cache,
# `nfs-cp SRC nfs://.../bench-N.bin` timed as "in", `nfs-cp nfs://.../bench-N.bin DST` as "out",
# every copy checked with cmp; server files live on the same local file system; `sync`
# (untimed) before every copy so no run pays for an earlier run's dirty pages. Janus runs with
# --log warn. Starts and stops only its own janus (by PID).
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE="${SIZE_MIB:-512}" RUNS="${RUNS:-3}"
GURL="${GANESHA_URL:-}" GDIR="${GANESHA_DIR:-}" ONLY_G="" START_G=""
while (($#)); do
  case "$1" in
    -s|--size) SIZE="$2"; shift 2;;
    -r|--runs) RUNS="$2"; shift 2;;
    --ganesha-url) GURL="$2"; shift 2;;
    --ganesha-dir) GDIR="$2"; shift 2;;
    --ganesha) START_G=1; shift;;
    --only-ganesha) ONLY_G=1; shift;;
    --local-dir) LOCAL_DIR="$2"; shift 2;;
    -h|--help) sed -n '2,/^set -e/{/^#/p}' "$0"; exit 0;;
    *) echo "unknown argument $1" >&2; exit 2;;
  esac
done
[[ -n "$ONLY_G" && -z "$GURL$START_G" ]] && { echo "--only-ganesha needs --ganesha-url or --ganesha" >&2; exit 2; }
command -v nfs-cp >/dev/null || { echo "nfs-cp missing: scripts/install-test-deps.sh" >&2; exit 1; }

W="$(mktemp -d /tmp/janus-bench.XXXXXX)"
if [[ -n "${LOCAL_DIR:-}" ]]; then
  L="$(mktemp -d "$LOCAL_DIR/janus-bench-local.XXXXXX")"
else
  L="$W"
fi
JPID="" GPEER="${GANESHA_PEER:-../shared/lab/ganesha-peer.sh}"
cleanup() {
  [[ -n "$START_G" ]] && "$GPEER" stop "$W/ganesha" >/dev/null 2>&1

  if [[ -n "$JPID" ]] && kill -0 "$JPID" 2>/dev/null; then
    kill -TERM "$JPID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$JPID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$JPID" 2>/dev/null || true
  fi
  rm -rf "$W"
  [[ "$L" != "$W" ]] && rm -rf "$L"
}
trap cleanup EXIT

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mbps() { echo "scale=1; $SIZE * 1048576 / 1000000 / $1" | bc; }

servers=()
declare -A URL DIR
if [[ -z "$ONLY_G" ]]; then
  JANUS_BIN="${JANUS_BIN:-target/release/janus}"
  if [[ ! -x "$JANUS_BIN" ]]; then
    echo "building janus (release)..."
    cargo build --release -p runtime-mio --bin janus
  fi
  JPORT="${JANUS_PORT:-20690}"
  port_open "$JPORT" && { echo "port $JPORT is in use (set JANUS_PORT)" >&2; exit 1; }
  mkdir -p "$W/janus-share" "$W/janus-state"
  chmod 0777 "$W/janus-share"
  "$JANUS_BIN" serve --share bench="$W/janus-share" --bind 127.0.0.1 --nfs-port "$JPORT" \
    --portmap-port 0 --smb-port 0 --state "$W/janus-state" --log warn >"$W/janus.log" 2>&1 </dev/null &
  JPID=$!
  for _ in $(seq 1 100); do port_open "$JPORT" && break; kill -0 "$JPID" 2>/dev/null || break; sleep 0.1; done
  port_open "$JPORT" || { echo "janus did not start:"; cat "$W/janus.log"; exit 1; }
  echo "janus pid $JPID on 127.0.0.1:$JPORT ($JANUS_BIN)"
  servers+=(janus)
  URL[janus]="nfs://127.0.0.1/bench?version=3&nfsport=$JPORT&mountport=$JPORT"
  DIR[janus]="$W/janus-share"
fi
if [[ -n "$START_G" ]]; then
  [[ -x "$GPEER" ]] || { echo "$GPEER not found (set GANESHA_PEER)" >&2; exit 1; }
  read -r GNFS GMNT GNLM <<<"${GANESHA_PORTS:-20590 20548 20521}"
  port_open "$GNFS" && { echo "port $GNFS is in use (set GANESHA_PORTS)" >&2; exit 1; }
  "$GPEER" start "$W/ganesha" "$GNFS" "$GMNT" "$GNLM" >"$W/ganesha-start.log" 2>&1 ||
    { echo "ganesha did not start:"; cat "$W/ganesha-start.log"; exit 1; }
  grep -m1 'ganesha pid' "$W/ganesha-start.log" || true
  GURL="nfs://127.0.0.1/export?version=3&nfsport=$GNFS&mountport=$GMNT"
  GDIR="$W/ganesha/export"
fi
if [[ -n "$GURL" ]]; then
  servers+=(ganesha)
  URL[ganesha]="$GURL"
  DIR[ganesha]="$GDIR"
fi

echo "source: $SIZE MiB random, runs: $RUNS"
head -c "$((SIZE * 1048576))" /dev/urandom > "$L/src.bin"

timeit() { # LABEL CMD...: append seconds to $W/times.LABEL
  local label="$1"; shift
  local t0 t1 d
  # Every copy starts with no dirty pages left from the one before (not timed): otherwise a
  # run pays for the previous run's writeback, whichever server that was.
  sync
  t0=$(now)
  "$@" >/dev/null 2>"$W/err" || { echo "$label FAILED:"; cat "$W/err"; exit 1; }
  t1=$(now)
  d=$(echo "$t1 - $t0" | bc)
  echo "$d" >> "$W/times.$label"
  printf '  %-12s run %d: %6.2fs = %7s MB/s\n' "$label" "$run" "$d" "$(mbps "$d")"
}

tag="bench-$$"
for run in $(seq 1 "$RUNS"); do
  for s in "${servers[@]}"; do
    base="${URL[$s]%%\?*}" q="?${URL[$s]#*\?}"
    f="$tag-$run.bin"
    timeit "$s-in" nfs-cp "$L/src.bin" "$base/$f$q"
    rm -f "$L/back.bin"
    timeit "$s-out" nfs-cp "$base/$f$q" "$L/back.bin"
    cmp -s "$L/src.bin" "$L/back.bin" || { echo "$s: copy-out differs from the source"; exit 1; }
    rm -f "$L/back.bin"
    [[ -n "${DIR[$s]}" ]] && rm -f "${DIR[$s]}/$f"
  done
done

echo
echo "medians of $RUNS runs, $SIZE MiB, MB/s (10^6 bytes/s):"
printf '%-8s %20s %20s\n' server "in (WRITE)" "out (READ)"
declare -A MED SEC
for s in "${servers[@]}"; do
  for d in in out; do
    SEC[$s-$d]=$(median < "$W/times.$s-$d")
    MED[$s-$d]=$(mbps "${SEC[$s-$d]}")
  done
  printf '%-8s %9s (%6.2fs) %9s (%6.2fs)\n' "$s" "${MED[$s-in]}" "${SEC[$s-in]}" "${MED[$s-out]}" "${SEC[$s-out]}"
done
if [[ -n "${MED[janus-in]:-}" && -n "${MED[ganesha-in]:-}" ]]; then
  printf 'janus/ganesha: write (in) %.2fx, read (out) %.2fx\n' \
    "$(echo "scale=3; ${MED[janus-in]} / ${MED[ganesha-in]}" | bc)" \
    "$(echo "scale=3; ${MED[janus-out]} / ${MED[ganesha-out]}" | bc)"
fi
[[ -z "$GDIR" && -n "$GURL" ]] && echo "(left $tag-*.bin on the ganesha export; pass --ganesha-dir to delete them)"
exit 0
