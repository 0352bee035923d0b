//! File-level SMB2/3 behaviour of the real `janus serve` binary (`JANUS_BIN`) with Python
//! smbprotocol (`tests/clients/smb_files.py`, the test venv of `scripts/install-test-venv.sh`):
//! share-mode conflicts between two SMB clients, delete-on-close and delete-pending, related
//! compound requests (and their error propagation), CHANGE_NOTIFY completed by an NFS
//! client's change (`nfs-cp`), every dialect 2.0.2–3.1.1, signing required, and encryption
//! with each cipher (AES-128/256-CCM/GCM; smbprotocol's `preferred_encryption_algos`
//! offers exactly one).

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use janus_tests::e2e::process::CmdOutput;
use janus_tests::e2e::server::Server;
use janus_tests::e2e::{
    fnv1a64, pseudo_random_bytes, smb_py_check, users_file, ServerBuilder, TempDir,
};

const TIMEOUT: Duration = Duration::from_secs(60);
const USER: &str = "alice";
const PASSWORD: &str = "Smb-Py-Files-3";

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

/// Runs one check of `smb_files.py`; asserts it passed and printed `check=NAME ok`.
fn check(s: &Server, name: &str, extra: &[String]) -> CmdOutput {
    let mut args = vec![OsString::from("--share-dir"), s.share_dir("export").into()];
    args.extend(extra.iter().map(OsString::from));
    smb_py_check(s, "smb_files.py", (USER, PASSWORD), &args, name, TIMEOUT)
}

#[test]
fn share_modes_between_two_clients() {
    let (s, _u) = server("smb-py-sharemode");
    check(&s, "sharemode", &[]);
    assert_eq!(
        std::fs::read(s.share_dir("export").join("sm.txt")).expect("sm.txt"),
        b"first"
    );
}

#[test]
fn delete_on_close_and_delete_pending() {
    let (s, _u) = server("smb-py-doc");
    check(&s, "delete_on_close", &[]);
    assert!(!s.share_dir("export").join("doc.txt").exists());
    assert!(!s.share_dir("export").join("dp.txt").exists());
}

#[test]
fn related_compound_create_write_close() {
    let (s, _u) = server("smb-py-compound");
    check(&s, "compound", &[]);
    assert_eq!(
        std::fs::read(s.share_dir("export").join("compound.txt")).expect("compound.txt"),
        b"written in one compound"
    );
}

#[test]
fn change_notify_completed_by_nfs_client() {
    let (s, _u) = server("smb-py-notify");
    let watched = s.share_dir("export").join("watched");
    std::fs::create_dir(&watched).expect("mkdir watched");
    std::fs::set_permissions(&watched, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let local = TempDir::new("smb-py-notify-local");
    let data = pseudo_random_bytes(9, 10_000);
    let src = local.path().join("src.bin");
    std::fs::write(&src, &data).expect("write src");
    check(
        &s,
        "notify_nfs",
        &[
            "--nfs-url".into(),
            s.url("export", "watched/from-nfs.bin"),
            "--src".into(),
            src.display().to_string(),
        ],
    );
    let got = std::fs::read(watched.join("from-nfs.bin")).expect("from-nfs.bin");
    assert_eq!(fnv1a64(&got), fnv1a64(&data));
}

#[test]
fn every_dialect() {
    let (s, _u) = server("smb-py-dialects");
    let out = check(&s, "dialects", &[]);
    for d in ["2.0.2", "2.1", "3.0", "3.0.2", "3.1.1"] {
        assert!(out
            .stdout_str()
            .contains(&format!("dialect {d}: negotiated")));
    }
}

#[test]
fn signing_required_every_dialect() {
    let (s, _u) = server("smb-py-signing");
    check(&s, "signing", &[]);
}

#[test]
fn encryption_ccm_and_gcm() {
    let (s, _u) = server("smb-py-ciphers");
    let out = check(&s, "ciphers", &[]);
    for c in ["AES-128-CCM", "AES-128-GCM", "AES-256-CCM", "AES-256-GCM"] {
        assert!(out.stdout_str().contains(&format!("3.1.1 {c}: negotiated")));
    }
}
