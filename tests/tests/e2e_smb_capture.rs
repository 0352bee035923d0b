//! A tshark capture of signed, unencrypted SMB sessions (smbclient SMB3 and SMB2.1, `smbclient
//! -L`, Python smbprotocol at 3.1.1 and 2.1) against `janus serve`, through
//! `scripts/smb-capture-check.sh`: Wireshark finds no malformed packet and no expert error,
//! every SMB2 command the session used is dissected, signing was on and nothing was encrypted.

use std::process::Command;
use std::time::Duration;

use janus_tests::e2e::run;
use janus_tests::e2e::smb_serve::{workspace_script, SmbServer};

#[test]
fn smb_session_capture_is_clean() {
    // Janus encrypts SMB 3.x sessions by default (smb_encrypt = "desired"); the capture must
    // be readable, so this share does not.
    let smb = SmbServer::start_with("smb-capture", &["smb_encrypt = \"off\""]);
    let out_dir = smb.scratch().join("capture");
    let out = run(
        Command::new("bash")
            .arg(workspace_script("scripts/smb-capture-check.sh"))
            .args(["--target", &smb.unc(), "-U", &smb.credentials()])
            .arg("--out")
            .arg(&out_dir),
        Duration::from_secs(600),
    );
    eprintln!("{}", out.stdout_str());
    let mut server = smb;
    assert!(
        out.success() && out.stdout_str().contains("RESULT: no malformed packets"),
        "SMB capture check failed (pcap and client outputs in {}): {}\nserver {}",
        out_dir.display(),
        out.describe(),
        if server.is_running() {
            "still running".to_string()
        } else {
            format!("EXITED:\n{}", server.log())
        }
    );
    assert!(
        server.is_running(),
        "{:?} server exited:\n{}",
        server.target(),
        server.log()
    );
}
