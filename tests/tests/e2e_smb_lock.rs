//! SMB2 byte-range locks between two clients of the real `janus serve` binary (`JANUS_BIN`)
//! with Python smbprotocol (`tests/clients/smb_lock.py`, the test venv of
//! `scripts/install-test-venv.sh`): a blocking LOCK answered STATUS_PENDING and granted when
//! the holder unlocks, a blocking LOCK cancelled (STATUS_CANCELLED, never granted), and a
//! multi-element LOCK that fails as a whole (MS-SMB2 §3.3.5.14).

use std::time::Duration;

use janus_tests::e2e::server::Server;
use janus_tests::e2e::{smb_py_check, users_file, ServerBuilder, TempDir};

const TIMEOUT: Duration = Duration::from_secs(60);
const USER: &str = "bob";
const PASSWORD: &str = "Smb-Lock-Py-1";

fn server(label: &str) -> (Server, TempDir) {
    let tmp = TempDir::new(&format!("{label}-users"));
    let users = users_file(tmp.path(), USER, PASSWORD);
    let s = ServerBuilder::new(label)
        .smb()
        .share("export")
        .arg("--users")
        .arg(users.to_str().expect("utf-8 path"))
        .start();
    (s, tmp)
}

/// Runs one check of `smb_lock.py`; asserts it passed and printed `check=NAME ok`.
fn check(s: &Server, name: &str) {
    smb_py_check(s, "smb_lock.py", (USER, PASSWORD), &[], name, TIMEOUT);
}

#[test]
fn a_blocking_lock_is_granted_when_the_holder_unlocks() {
    let (s, _u) = server("smb-lock-blocking");
    check(&s, "blocking");
}

#[test]
fn a_blocking_lock_is_cancelled() {
    let (s, _u) = server("smb-lock-cancel");
    check(&s, "cancel");
}

#[test]
fn a_multi_element_lock_is_all_or_nothing() {
    let (s, _u) = server("smb-lock-atomic");
    check(&s, "atomic");
}
