//! SMB leases on the real `janus serve` binary (`JANUS_BIN`) with Python smbprotocol
//! (`tests/clients/smb_lease.py`, the test venv of `scripts/install-test-venv.sh`): a lease
//! granted RWH is broken to RH by a second client's write open, which waits
//! (STATUS_PENDING) until the holder acknowledges, then completes; and an unacknowledged break
//! times out to NONE after the configured `break_timeout` (2 s here), the waiting open then
//! completing and the late acknowledgment refused (MS-SMB2 §3.3.4.7, §3.3.5.22.2, §3.3.6.5).

use std::time::Duration;

use janus_tests::e2e::server::Server;
use janus_tests::e2e::{smb_py_check, users_file, ServerBuilder, TempDir};

const USER: &str = "alice";
const PASSWORD: &str = "Smb-Lease-4";
const BREAK_TIMEOUT_SECS: u64 = 2;

fn server(label: &str) -> (Server, TempDir) {
    let tmp = TempDir::new(&format!("{label}-users"));
    let users = users_file(tmp.path(), USER, PASSWORD);
    let s = ServerBuilder::new(label)
        .smb()
        .share("export")
        .config(format!("break_timeout = {BREAK_TIMEOUT_SECS}"))
        .arg("--users")
        .arg(users.to_str().expect("utf-8 path"))
        .start();
    (s, tmp)
}

/// Runs one check of `smb_lease.py`; asserts it passed and printed `check=NAME ok`.
fn check(s: &Server, name: &str) {
    let extra = [
        "--break-timeout".into(),
        BREAK_TIMEOUT_SECS.to_string().into(),
    ];
    smb_py_check(
        s,
        "smb_lease.py",
        (USER, PASSWORD),
        &extra,
        name,
        Duration::from_secs(60),
    );
}

#[test]
fn a_write_open_waits_for_the_lease_break_ack() {
    let (s, _u) = server("smb-lease-ack");
    check(&s, "ack");
}

#[test]
fn an_unacknowledged_lease_break_times_out_to_none() {
    let (s, _u) = server("smb-lease-timeout");
    check(&s, "timeout");
}
