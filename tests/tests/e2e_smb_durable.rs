//! Durable handles of the real `janus serve` binary (`JANUS_BIN`) with Python smbprotocol
//! (`tests/clients/smb_durable.py`, the venv of `scripts/install-test-venv.sh`): a durable v2
//! handle reconnected after its TCP connection was killed, and after `kill -9` of Janus and a
//! restart — reclaimed in the grace period, while a second client's open of a file whose
//! durable open was not reclaimed waits until grace ends (MS-SMB2 §3.3.5.9.10/.12, the shared
//! grace period of docs/cross-protocol.md §5).
//!
//! The restart carries a byte-range lock too: locked.txt, durable with an RH lease, holds
//! an exclusive lock of bytes 0-9; after the restart another client's open of it waits until
//! the reclaim, its LOCK of the range is then refused (the lock came back with the open), and
//! granted once the reclaimed handle unlocks.

use std::ffi::OsString;
use std::time::Duration;

use janus_tests::e2e::process::CmdOutput;
use janus_tests::e2e::server::Server;
use janus_tests::e2e::{smb_py_check, users_file, ServerBuilder, TempDir};

const TIMEOUT: Duration = Duration::from_secs(90);
const USER: &str = "alice";
const PASSWORD: &str = "Smb-Durable-7";
/// The grace period of these servers, seconds (short: the test waits for its end).
const GRACE: u64 = 20;

fn server(label: &str) -> (Server, TempDir) {
    let tmp = TempDir::new(&format!("{label}-users"));
    let users = users_file(tmp.path(), USER, PASSWORD);
    let s = ServerBuilder::new(label)
        .smb()
        .share("export")
        .arg("--users")
        .arg(users.to_str().expect("utf-8 path"))
        .arg("--grace-period")
        .arg(GRACE.to_string())
        .start();
    (s, tmp)
}

/// Runs one check of `smb_durable.py`; asserts it passed and printed `check=NAME ok`.
fn check(s: &Server, name: &str, extra: &[String]) -> CmdOutput {
    let extra: Vec<OsString> = extra.iter().map(OsString::from).collect();
    smb_py_check(s, "smb_durable.py", (USER, PASSWORD), &extra, name, TIMEOUT)
}

#[test]
fn durable_handle_survives_a_killed_tcp_connection() {
    let (s, _u) = server("smb-durable-tcpkill");
    check(&s, "tcpkill", &[]);
    assert_eq!(
        std::fs::read(s.share_dir("export").join("tcpkill.txt")).expect("tcpkill.txt"),
        b"DURABLE data"
    );
}

#[test]
fn durable_handle_is_reclaimed_after_kill_9_and_restart() {
    let (mut s, u) = server("smb-durable-crash");
    let state = u.path().join("durable-state.json");
    let st = ["--state".to_string(), state.display().to_string()];
    check(&s, "crash_prepare", &st);
    // The CREATE responses were sent only once their journal records were durable.
    s.crash_restart();
    let out = check(&s, "crash_reclaim", &st);
    assert!(out.stdout_str().contains("STATUS_PENDING"));
    assert!(out.stdout_str().contains("the reclaimed handle unlocked"));
    assert!(
        s.log().contains("durable open restored"),
        "server log:\n{}",
        s.log()
    );
}
