//! The SMB tests' third-party clients are installed by the project itself
//! (`scripts/install-test-deps.sh`): smbclient, smbtorture, Samba's smbd, and the Python venv with
//! smbprotocol (pinned) and impacket. Fails, naming the fix, when the install step is broken.

use std::process::Command;
use std::time::Duration;

use janus_tests::e2e::{run, smb_python};

#[test]
fn smbclient_and_smbtorture_are_installed() {
    // smbd: the reference Samba of scripts/samba-server.sh (smbtorture floors, bench, capture).
    for (tool, arg) in [
        ("smbclient", "--version"),
        ("smbtorture", "--version"),
        ("smbd", "--version"),
    ] {
        let out = run(Command::new(tool).arg(arg), Duration::from_secs(30));
        assert!(
            out.success() && out.stdout_str().contains("Version"),
            "{tool} missing or broken (run scripts/install-test-deps.sh): {}",
            out.describe()
        );
    }
}

#[test]
fn the_venv_has_the_pinned_smb_clients() {
    let script = "import smbprotocol, spnego, impacket.smb3\n\
                  from importlib.metadata import version\n\
                  from spnego._ntlm_raw.crypto import ntowfv1\n\
                  print(version('smbprotocol'), version('pyspnego'), ntowfv1('password').hex())";
    let out = run(
        Command::new(smb_python()).args(["-c", script]),
        Duration::from_secs(60),
    );
    assert!(out.success(), "{}", out.describe());
    // The pins of scripts/install-test-venv.sh, and the same NT hash as server::users.
    let want = format!(
        "1.17.0 0.12.4 {}",
        server::users::nt_hash("password")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    assert_eq!(out.stdout_str().trim(), want);
}

/// The NT hash of a password with non-ASCII and astral characters (UTF-16 surrogate pairs)
/// is the same in server::users and in pyspnego, an independent MS-NLMP implementation.
#[test]
fn nt_hash_matches_pyspnego_beyond_ascii() {
    let password = "p\u{e4}ss w\u{f6}rd \u{20ac} \u{1d11e}";
    let script = "import sys\n\
                  from spnego._ntlm_raw.crypto import ntowfv1\n\
                  print(ntowfv1(sys.argv[1]).hex())";
    let out = run(
        Command::new(smb_python()).args(["-c", script, password]),
        Duration::from_secs(60),
    );
    assert!(out.success(), "{}", out.describe());
    let ours: String = server::users::nt_hash(password)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(out.stdout_str().trim(), ours);
}
