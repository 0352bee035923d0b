#!/usr/bin/env bash
# smbtorture-suites.sh -- run Samba's smbtorture SMB2 suites (issues 10 and 11) once each against
# an SMB server, with a timeout per suite, and record per-test results and per-suite counts;
# optionally check the counts against a floors file.
#
# Usage:
#   scripts/smbtorture-suites.sh --target //HOST:PORT/SHARE -U USER%PASS [options]
#   scripts/smbtorture-suites.sh --samba [options]     # against a private Samba started here
#                                                      # (scripts/samba-server.sh), stopped at exit
# Options:
#   --suites "S1 S2 ..."   suites to run (default: the 15 of issue 10 and issue 11's, below)
#   --out DIR              keep the logs and tables there (default: a new /tmp/smbtorture.XXXXXX)
#   --floors FILE          check every suite's pass count against FILE (tests/smbtorture-floors.txt
#                          format); exit 1 when a suite is below its floor or has no floor
#   --timeout SECS         per-suite timeout (SMBTORTURE_TIMEOUT, default 600); on expiry the
#                          running test counts as "timeout" (a failure), the rest as "notrun"
#   --smbtorture-opts "…"  extra smbtorture arguments, word-split (SMBTORTURE_OPTS), e.g.
#                          "--target=samba3" or "--option=torture:timelimit=5"
#   --samba-port P         port of the --samba server (default 4451)
#
# Suites (default): smb2.connect smb2.session smb2.create smb2.read smb2.rw smb2.getinfo
#   smb2.setinfo smb2.rename smb2.dir smb2.compound smb2.credits smb2.sharemode
#   smb2.delete-on-close-perms smb2.notify smb2.maxfid; issue 11: smb2.lease smb2.oplock
#   smb2.lock smb2.durable-open smb2.durable-v2-open smb2.durable-open-disconnect
#
# What it runs, per suite (one at a time: smbtorture is CPU-hungry), in OUT (smbtorture leaves
# empty smbtortureXXXXXX directories in its working directory):
#   timeout -k 10 SECS smbtorture //HOST/SHARE -p PORT -U USER%PASS [OPTS] SUITE > OUT/SUITE.log
# smbtorture's default output is subunit v1 text: "test: NAME", then "success: NAME",
# "failure: NAME [ ...details... ]", "error: NAME [ ... ]", "skip: NAME [ ... ]" (also xfail,
# uxsuccess), with "time: " stamps between. Names are relative to the suite ("reconnect1",
# "CREATE Existing"); single-test suites (smb2.connect, smb2.maxfid) report their own name.
# Counted as passed: success, xfail. Failed: failure, error, uxsuccess, timeout (the test that
# was running when the suite timed out or smbtorture died). Skipped: skip. Not run: tests
# `smbtorture --list` names for the suite that produced no result.
#
# Output (in OUT):
#   SUITE.log        smbtorture's raw output
#   results.tsv      suite <TAB> test <TAB> result <TAB> seconds   (test = full dotted name)
#   summary.tsv      suite passed failed skipped notrun total rc seconds   (rc 124 = timeout)
#   check.tsv        with --floors: suite passed floor samba verdict
#   stdout           per-test lines, then the table `suite passed failed skipped` (+ notrun,
#                    total, wall seconds), then with --floors one line per suite and the verdict.
# Exit: 0 ok (and every floor met), 1 a suite below its floor / floor not set, 2 usage or setup error.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

SUITES_DEFAULT="smb2.connect smb2.session smb2.create smb2.read smb2.rw smb2.getinfo smb2.setinfo \
smb2.rename smb2.dir smb2.compound smb2.credits smb2.sharemode smb2.delete-on-close-perms \
smb2.notify smb2.maxfid smb2.lease smb2.oplock smb2.lock smb2.durable-open smb2.durable-v2-open \
smb2.durable-open-disconnect"
SUITES="$SUITES_DEFAULT" OUT="" FLOORS="" TARGET="" CRED="" SAMBA="" SAMBA_PORT=4451
TIMEOUT="${SMBTORTURE_TIMEOUT:-600}" OPTS="${SMBTORTURE_OPTS:-}"
usage() { sed -n '2,/^set -uo/{/^#/p}' "$0"; exit 2; }
while (($#)); do
  case "$1" in
    --target) TARGET="$2"; shift 2;;
    -U) CRED="$2"; shift 2;;
    --suites) SUITES="$2"; shift 2;;
    --out) OUT="$2"; shift 2;;
    --floors) FLOORS="$2"; shift 2;;
    --timeout) TIMEOUT="$2"; shift 2;;
    --smbtorture-opts) OPTS="$2"; shift 2;;
    --samba) SAMBA=1; shift;;
    --samba-port) SAMBA_PORT="$2"; shift 2;;
    -h|--help) usage;;
    *) echo "unknown argument: $1" >&2; usage;;
  esac
done
command -v smbtorture >/dev/null || { echo "smbtorture missing: scripts/install-test-deps.sh (samba-testsuite)" >&2; exit 2; }
[[ -n "$FLOORS" && ! -f "$FLOORS" ]] && { echo "floors file $FLOORS not found" >&2; exit 2; }
[[ -n "$FLOORS" ]] && FLOORS="$(cd "$(dirname "$FLOORS")" && pwd)/$(basename "$FLOORS")"

SAMBA_DIR=""
cleanup() {
  [[ -n "$SAMBA_DIR" ]] && { "$ROOT/scripts/samba-server.sh" stop "$SAMBA_DIR" >/dev/null 2>&1; rm -rf "$SAMBA_DIR"; }
  return 0
}
trap cleanup EXIT
if [[ -n "$SAMBA" ]]; then
  SAMBA_DIR="$(mktemp -d /tmp/smbtorture-samba.XXXXXX)"
  scripts/samba-server.sh start "$SAMBA_DIR" "$SAMBA_PORT" janus janus-pass || exit 2
  TARGET="//127.0.0.1:$SAMBA_PORT/share" CRED="janus%janus-pass"
fi
[[ -n "$TARGET" && -n "$CRED" ]] || { echo "need --target //HOST:PORT/SHARE and -U USER%PASS (or --samba)" >&2; usage; }
if [[ ! "$TARGET" =~ ^//([^/:]+)(:([0-9]+))?/([^/]+)$ ]]; then
  echo "--target must look like //HOST:PORT/SHARE, got $TARGET" >&2; exit 2
fi
HOST="${BASH_REMATCH[1]}" PORT="${BASH_REMATCH[3]:-445}" SHARE="${BASH_REMATCH[4]}"

OUT="${OUT:-$(mktemp -d /tmp/smbtorture.XXXXXX)}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
LIST="$OUT/list.txt"
smbtorture --list >"$LIST" 2>/dev/null
# shellcheck disable=SC2206
extra=($OPTS)
printf 'suite\ttest\tresult\tseconds\n' >"$OUT/results.tsv"
printf 'suite\tpassed\tfailed\tskipped\tnotrun\ttotal\trc\tseconds\n' >"$OUT/summary.tsv"

# The runnable names of SUITE's tests as `smbtorture --list` prints them: "smb2.read.eof.eof"
# -> "smb2.read.eof"; a single-test suite lists just its own name.
suite_tests() {
  awk -v s="$1" '$0 == s || index($0, s ".") == 1 {
      n = split($0, p, "."); if (n >= 3 && p[n] == p[n-1]) n--
      out = p[1]; for (i = 2; i <= n; i++) out = out "." p[i]; print out }' "$LIST" | sort -u
}

# Parse one suite's subunit log into results lines (suite, test, result, seconds).
parse_log() { # SUITE LOG RC SINGLE (1: the suite is one test, named like the suite's last part)
  awk -v suite="$1" -v rc="$3" -v single="$4" '
    function secs(ts,  a) { split(ts, a, ":"); return a[1]*3600 + a[2]*60 + a[3] }
    function full(nm) { return (nm == suite || single) ? suite : suite "." nm }
    BEGIN { OFS = "\t"; indetail = 0; running = "" }
    indetail { if ($0 == "]") indetail = 0; next }
    /^time: / { now = secs($3); next }
    /^test: / { running = substr($0, 7); start = now; next }
    /^(success|failure|error|skip|xfail|uxsuccess): / {
      res = $1; sub(":", "", res); nm = $0; sub(/^[a-z]+: /, "", nm)
      if (nm ~ / \[$/) { sub(/ \[$/, "", nm); indetail = 1 }
      else if (nm ~ / \[.*\]$/) { sub(/ \[.*\]$/, "", nm) }
      print suite, full(nm), res, sprintf("%.2f", now - start)
      if (nm == running) running = ""
      next }
    END { if (running != "") print suite, full(running), (rc == 124 || rc == 137 ? "timeout" : "error"), sprintf("%.2f", now - start) }
  ' "$2"
}

for suite in $SUITES; do
  [[ -n "$(suite_tests "$suite")" ]] || { echo "no suite $suite in smbtorture --list" >&2; exit 2; }
done

echo "# smbtorture $(smbtorture --version 2>/dev/null | head -1) -> //$HOST:$PORT/$SHARE as ${CRED%%%*}, timeout ${TIMEOUT}s/suite, out $OUT"
for suite in $SUITES; do
  log="$OUT/$suite.log"
  t0=$(date +%s.%N)
  # In OUT: smbtorture leaves empty smbtortureXXXXXX temporary directories in its cwd.
  (cd "$OUT" && timeout -k 10 "$TIMEOUT" smbtorture "//$HOST/$SHARE" -p "$PORT" -U "$CRED" \
    "${extra[@]}" "$suite" >"$log" 2>&1 </dev/null)
  rc=$?
  wall=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  # the tests the suite has (those without a result: smbtorture died, timed out, could not connect)
  suite_tests "$suite" >"$OUT/.all"
  single=0; [[ "$(cat "$OUT/.all")" == "$suite" ]] && single=1
  parse_log "$suite" "$log" "$rc" "$single" >"$OUT/.res"
  cut -f2 "$OUT/.res" | sort -u >"$OUT/.done"
  comm -23 "$OUT/.all" "$OUT/.done" | awk -v s="$suite" 'BEGIN { OFS = "\t" } { print s, $0, "notrun", "0.00" }' >>"$OUT/.res"
  cat "$OUT/.res" >>"$OUT/results.tsv"
  awk -F'\t' '{ printf "%-62s %-9s %7ss\n", $2, $3, $4 }' "$OUT/.res"
  read -r p f s n t < <(awk -F'\t' '
      $3 == "success" || $3 == "xfail" { p++ }
      $3 == "failure" || $3 == "error" || $3 == "uxsuccess" || $3 == "timeout" { f++ }
      $3 == "skip" { s++ } $3 == "notrun" { n++ }
      END { print p+0, f+0, s+0, n+0, NR }' "$OUT/.res")
  if ((p + f + s == 0)); then
    echo "# $suite: no test ran (rc=$rc):"; grep -v '^time: ' "$log" | tail -5
  fi
  printf '%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n' "$suite" "$p" "$f" "$s" "$n" "$t" "$rc" "$wall" >>"$OUT/summary.tsv"
  printf '# %s: %d passed, %d failed, %d skipped, %d not run (rc=%d, %ss)\n' "$suite" "$p" "$f" "$s" "$n" "$rc" "$wall"
done
rm -f "$OUT/.res" "$OUT/.all" "$OUT/.done"

echo
printf '%-28s %6s %6s %7s %6s %5s %7s\n' suite passed failed skipped notrun total seconds
awk -F'\t' 'NR > 1 { printf "%-28s %6d %6d %7d %6d %5d %7s\n", $1, $2, $3, $4, $5, $6, $8
                     P += $2; F += $3; S += $4; N += $5; T += $6 }
            END { printf "%-28s %6d %6d %7d %6d %5d\n", "total", P, F, S, N, T }' "$OUT/summary.tsv"

rc=0
if [[ -n "$FLOORS" ]]; then
  echo
  echo "# floors: $FLOORS"
  # floors: "SUITE FLOOR SAMBA" lines (FLOOR "-" = not set yet); "known failure: TEST — REASON".
  awk -F'\t' -v floors="$FLOORS" -v check="$OUT/check.tsv" '
    BEGIN {
      while ((getline line < floors) > 0) {
        if (line ~ /^[ \t]*#/ || line ~ /^[ \t]*$/) continue
        if (line ~ /^known failure: /) {
          t = line; sub(/^known failure: /, "", t); sub(/ +(—|--) .*$/, "", t); known[t] = 1; continue }
        n = split(line, w, /[ \t]+/)
        if (n >= 2) { floor[w[1]] = w[2]; samba[w[1]] = (n >= 3 ? w[3] : "-") }
      }
      OFS = "\t"; print "suite", "passed", "floor", "samba", "verdict" > check
    }
    FILENAME ~ /results\.tsv$/ { if (FNR > 1) res[$2] = $3; next }
    FNR == 1 { next }
    {
      s = $1; p = $2
      if (!(s in floor)) { v = "NO-FLOOR"; f = "-"; sb = "-" }
      else {
        f = floor[s]; sb = samba[s]
        if (f !~ /^[0-9]+$/) v = "FLOOR-NOT-SET"
        else if (p + 0 < f + 0) v = "BELOW-FLOOR"
        else if (p + 0 > f + 0) v = "ok (above floor: raise it to " p ")"
        else v = "ok"
      }
      print s, p, f, sb, v > check
      printf "%-28s passed %4d floor %4s samba %4s  %s\n", s, p, f, sb, v
    }
    END {
      for (t in res) {
        if (t in known) {
          if (res[t] == "success" || res[t] == "xfail") printf "known failure now passes: %s (remove it from the list, raise the floor)\n", t
        } else if (res[t] ~ /^(failure|error|uxsuccess|timeout)$/) printf "unlisted failure: %s (%s)\n", t, res[t]
      }
    }' "$OUT/results.tsv" "$OUT/summary.tsv"
  if awk -F'\t' 'NR > 1 && $5 !~ /^ok/ { bad = 1 } END { exit !bad }' "$OUT/check.tsv"; then
    echo "FLOORS: FAILED (suites below their floor, or without one): $(awk -F'\t' 'NR > 1 && $5 !~ /^ok/ { printf "%s ", $1 }' "$OUT/check.tsv")"
    rc=1
  else
    echo "FLOORS: ok"
  fi
fi
echo "# out: $OUT"
exit "$rc"
