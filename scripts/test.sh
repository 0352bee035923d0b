#!/usr/bin/env bash
# test.sh -- THE test command of Janus (CI runs it through .ci/run).
#
#   scripts/test.sh
#
# 1. installs the test dependencies (scripts/install-test-deps.sh: Debian packages only),
# 2. builds the whole workspace once in release mode (the janus binary and every test binary
#    share that build),
# 3. cargo fmt --check, cargo clippy -D warnings, cargo test (unit, property, snapshot and
#    end-to-end tests; the e2e tests find the binary through JANUS_BIN), cargo doc -Dwarnings.
# Exits non-zero if any step fails (all steps run; the summary names the failed ones).
#
# Env: CARGO (default cargo), TEST_ARGS (extra args after `cargo test ... --`, e.g. e2e_nfs),
#      SKIP_DEPS=1 (do not run install-test-deps.sh).
set -uo pipefail

cd "$(dirname "$0")/.."
CARGO="${CARGO:-cargo}"
if ! command -v "$CARGO" >/dev/null; then
  [[ -x "$HOME/.cargo/bin/cargo" ]] && export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v "$CARGO" >/dev/null || { echo "test.sh: cargo not found (install Rust: https://rustup.rs)"; exit 1; }

failed=()
step() { # step NAME CMD...
  local name="$1"; shift
  echo
  echo "=== $name: $*"
  local t0=$SECONDS
  if "$@"; then
    echo "=== $name: ok ($((SECONDS - t0)) s)"
  else
    echo "=== $name: FAILED ($((SECONDS - t0)) s)"
    failed+=("$name")
  fi
}

if [[ -z "${SKIP_DEPS:-}" ]]; then
  step deps scripts/install-test-deps.sh
  ((${#failed[@]})) && { echo "test.sh: dependency installation failed"; exit 1; }
fi

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export JANUS_BIN="$PWD/target/release/janus"
[[ -n "${CARGO_TARGET_DIR:-}" ]] && JANUS_BIN="$CARGO_TARGET_DIR/release/janus"

step fmt "$CARGO" fmt --all -- --check
# One release build of everything: the janus binary and all test targets.
step build "$CARGO" build --release --workspace --all-targets
step clippy "$CARGO" clippy --workspace --all-targets -- -D warnings
if [[ " ${failed[*]} " != *" build "* ]]; then
  # shellcheck disable=SC2086
  step test "$CARGO" test --release --workspace --no-fail-fast -- ${TEST_ARGS:-}
else
  echo "=== test: skipped (build failed)"; failed+=(test)
fi
RUSTDOCFLAGS="${RUSTDOCFLAGS:-} -Dwarnings" step doc "$CARGO" doc --workspace --no-deps

echo
if ((${#failed[@]})); then
  echo "test.sh: FAILED steps: ${failed[*]}"
  exit 1
fi
echo "test.sh: all steps passed"
