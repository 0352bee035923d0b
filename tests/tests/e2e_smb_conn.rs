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
        "smbclient did not reach a file operation: {}\nserver log: {:?}",
        out.describe(),
        h.log()
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

fn negotiated(h: &SmbHarness) -> Vec<(u16, u16)> {
    h.log()
        .iter()
        .filter_map(|e| match e {
            LogEntry::Negotiated(d, c) => Some((*d, *c)),
            _ => None,
        })
        .collect()
}

#[test]
fn smbclient_each_dialect_ntlmv2_tree_connect() {
    let h = SmbHarness::start(config());
    for (proto, dialect) in [
        ("SMB2_02", 0x0202),
        ("SMB2_10", 0x0210),
        ("SMB3_00", 0x0300),
        ("SMB3_02", 0x0302),
        ("SMB3_11", 0x0311),
    ] {
        let min = format!("--option=client min protocol={proto}");
        let out = smbclient(h.port, "export", PASSWORD, &["-m", proto, &min], "ls");
        assert_reached_file_ops(&out, &h);
        assert_eq!(
            negotiated(&h).last().map(|n| n.0),
            Some(dialect),
            "{proto}: {:?}",
            h.log()
        );
    }
}

#[test]
fn smbclient_smb1_negotiate_upgrades_to_smb2() {
    // Samba's client opens with an SMB1 NEGOTIATE when NT1 is allowed; the machine
    // answers 2.??? and the SMB2 NEGOTIATE follows (MS-SMB2 3.3.5.3.1).
    let h = SmbHarness::start(config());
    let out = smbclient(
        h.port,
        "export",
        PASSWORD,
        &["--option=client min protocol=NT1", "-m", "SMB3"],
        "ls",
    );
    assert_reached_file_ops(&out, &h);
    assert_eq!(negotiated(&h).last().map(|n| n.0), Some(0x0311));
}

#[test]
fn smbclient_wrong_password_is_logon_failure() {
    let h = SmbHarness::start(config());
    for proto in ["SMB2_10", "SMB3"] {
        let out = smbclient(h.port, "export", "wrong", &["-m", proto], "ls");
        assert!(!out.success());
        assert!(
            all(&out).contains("NT_STATUS_LOGON_FAILURE"),
            "{}",
            out.describe()
        );
    }
    assert!(!h.log().iter().any(|e| matches!(e, LogEntry::Call(_))));
}

#[test]
fn smbclient_unknown_share_is_bad_network_name() {
    let h = SmbHarness::start(config());
    let out = smbclient(h.port, "nosuch", PASSWORD, &["-m", "SMB3"], "ls");
    assert!(
        all(&out).contains("NT_STATUS_BAD_NETWORK_NAME"),
        "{}",
        out.describe()
    );
}

#[test]
fn smbclient_signing_required() {
    let mut c = config();
    c.signing_required = true;
    let h = SmbHarness::start(c);
    for proto in ["SMB2_10", "SMB3_00", "SMB3"] {
        let out = smbclient(
            h.port,
            "export",
            PASSWORD,
            &["-m", proto, "--client-protection=sign"],
            "ls",
        );
        assert_reached_file_ops(&out, &h);
    }
}

#[test]
fn smbclient_encryption_each_cipher() {
    for (id, name) in [
        (cipher::AES128_CCM, "aes-128-ccm"),
        (cipher::AES128_GCM, "aes-128-gcm"),
        (cipher::AES256_CCM, "aes-256-ccm"),
        (cipher::AES256_GCM, "aes-256-gcm"),
    ] {
        let mut c = config();
        c.encrypt = EncryptPolicy::Required;
        c.ciphers = vec![id];
        let h = SmbHarness::start(c);
        let out = smbclient(
            h.port,
            "export",
            PASSWORD,
            &["-m", "SMB3", "--client-protection=encrypt"],
            "ls",
        );
        assert_reached_file_ops(&out, &h);
        assert_eq!(negotiated(&h), vec![(0x0311, id)], "{name}");
    }
    // 3.0 encrypts with AES-128-CCM, announced by SMB2_GLOBAL_CAP_ENCRYPTION.
    let mut c = config();
    c.encrypt = EncryptPolicy::Required;
    let h = SmbHarness::start(c);
    let out = smbclient(
        h.port,
        "export",
        PASSWORD,
        &["-m", "SMB3_00", "--client-protection=encrypt"],
        "ls",
    );
    assert_reached_file_ops(&out, &h);
    assert_eq!(negotiated(&h), vec![(0x0300, cipher::AES128_CCM)]);
}

#[test]
fn smbclient_share_encryption_required_refuses_smb2() {
    let mut c = config();
    let mut share = janus_tests::smb_harness::disk_share("secret");
    share.encrypt = EncryptPolicy::Required;
    c.shares.push(std::sync::Arc::new(share));
    let h = SmbHarness::start(c);
    // 2.1 cannot encrypt: TREE_CONNECT is refused (MS-SMB2 3.3.5.7).
    let out = smbclient(h.port, "secret", PASSWORD, &["-m", "SMB2_10"], "ls");
    assert!(
        all(&out).contains("NT_STATUS_ACCESS_DENIED"),
        "{}",
        out.describe()
    );
    // 3.1.1 gets an encrypted tree and its requests arrive encrypted.
    let out = smbclient(h.port, "secret", PASSWORD, &["-m", "SMB3"], "ls");
    assert_reached_file_ops(&out, &h);
}

#[test]
fn smbclient_lists_shares_through_ipc() {
    // -L connects to IPC$ and opens the srvsvc pipe: the CREATE is the first call the
    // harness refuses.
    let h = SmbHarness::start(config());
    let mut c = Command::new("smbclient");
    c.arg("-L")
        .arg("127.0.0.1")
        .arg("-p")
        .arg(h.port.to_string())
        .arg("-U")
        .arg(format!("{USER}%{PASSWORD}"))
        .arg("-m")
        .arg("SMB3");
    let out = run(&mut c, TIMEOUT);
    assert!(
        h.log().contains(&LogEntry::Call(0x0005)),
        "{:?}\n{}",
        h.log(),
        out.describe()
    );
}

fn smbprotocol(port: u16, args: &[&str]) -> CmdOutput {
    let py = janus_tests::e2e::smb_python();
    let script = janus_tests::e2e::workspace_root().join("tests/clients/smb_conn.py");
    let mut c = Command::new(py);
    c.arg(script).arg("--port").arg(port.to_string()).args(args);
    run(&mut c, TIMEOUT)
}

fn field<'a>(out: &'a str, key: &str) -> Option<&'a str> {
    out.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

#[test]
fn smbprotocol_each_dialect_with_echo_compound_and_logoff() {
    let h = SmbHarness::start(config());
    for (d, auth) in [
        ("202", "negotiate"),
        ("210", "negotiate"),
        ("300", "negotiate"),
        ("302", "ntlm"),
        ("311", "negotiate"),
        ("311", "ntlm"),
    ] {
        let out = smbprotocol(h.port, &["--dialect", d, "--auth", auth]).ok();
        let text = out.stdout_str();
        assert_eq!(
            field(&text, "dialect"),
            Some(format!("0x0{d}").as_str()),
            "{text}"
        );
        for step in [
            "session_setup",
            "tree_connect",
            "tree_connect_ipc",
            "echo",
            "logoff",
            "done",
        ] {
            assert_eq!(field(&text, step), Some("ok"), "{step}: {text}");
        }
        assert!(text.contains("create=status 0xc00000bb"), "{text}");
        // The CLOSE of the related chain inherits the CREATE's failure.
        assert_eq!(
            field(&text, "compound"),
            Some("0xc00000bb,0xc00000bb"),
            "{text}"
        );
    }
    let log = h.log();
    assert!(log.contains(&LogEntry::SessionClosed), "{log:?}");
    assert!(log.contains(&LogEntry::TreeClosed), "{log:?}");
    assert!(
        !log.iter().any(|e| matches!(e, LogEntry::Closed(_))),
        "{log:?}"
    );
}

#[test]
fn smbprotocol_wrong_password_is_logon_failure() {
    let h = SmbHarness::start(config());
    for d in ["210", "311"] {
        let out = smbprotocol(
            h.port,
            &[
                "--dialect",
                d,
                "--password",
                "nope",
                "--expect-logon-failure",
            ],
        )
        .ok();
        let text = out.stdout_str();
        assert_eq!(field(&text, "session_setup"), Some("failed"), "{text}");
        assert!(
            text.contains("3221225581")
                || text.to_uppercase().contains("LOGON_FAILURE")
                || text.contains("0xc000006d"),
            "{text}"
        );
    }
}

#[test]
fn smbprotocol_signing_required() {
    let mut c = config();
    c.signing_required = true;
    let h = SmbHarness::start(c);
    for d in ["210", "300", "311"] {
        let out = smbprotocol(h.port, &["--dialect", d, "--require-signing"]).ok();
        let text = out.stdout_str();
        assert_eq!(field(&text, "signing"), Some("True"), "{text}");
        assert_eq!(
            field(&text, "server_signing_required"),
            Some("True"),
            "{text}"
        );
        assert_eq!(field(&text, "done"), Some("ok"), "{text}");
    }
}

#[test]
fn smbprotocol_encryption_ccm_and_gcm() {
    for (d, id) in [
        ("300", cipher::AES128_CCM),
        ("302", cipher::AES128_CCM),
        ("311", cipher::AES128_CCM),
        ("311", cipher::AES128_GCM),
        ("311", cipher::AES256_GCM),
        ("311", cipher::AES256_CCM),
    ] {
        let mut c = config();
        c.encrypt = EncryptPolicy::Required;
        c.ciphers = vec![id];
        let h = SmbHarness::start(c);
        let out = smbprotocol(h.port, &["--dialect", d, "--encrypt"]).ok();
        let text = out.stdout_str();
        if d == "311" {
            // smbprotocol reports the cipher of the 3.1.1 encryption context only.
            assert_eq!(
                field(&text, "cipher"),
                Some(id.to_string().as_str()),
                "{text}"
            );
        }
        assert_eq!(negotiated(&h).last().map(|n| n.1), Some(id), "{text}");
        assert_eq!(field(&text, "encrypt"), Some("True"), "{text}");
        assert_eq!(field(&text, "done"), Some("ok"), "{text}");
        assert!(text.contains("create=status 0xc00000bb"), "{text}");
    }
}

fn tshark_lines(pcap: &std::path::Path, port: u16, filter: &str, fields: &[&str]) -> Vec<String> {
    let mut c = Command::new("tshark");
    c.arg("-r")
        .arg(pcap)
        .arg("-d")
        .arg(format!("tcp.port=={port},nbss"))
        .args(["-Y", filter]);
    if !fields.is_empty() {
        c.args(["-T", "fields"]);
        for f in fields {
            c.args(["-e", f]);
        }
    }
    run(&mut c, TIMEOUT)
        .ok()
        .stdout_str()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Wireshark's SMB2 dissector finds nothing malformed in what the machine sends to
/// smbclient (3.1.1, signed) and smbprotocol (2.1 and 3.1.1, unencrypted), and sees the
/// exchanges succeed up to the first file operation.
#[test]
fn tshark_finds_no_malformed_smb2() {
    let h = SmbHarness::start(config());
    let dir = janus_tests::e2e::tmp::TempDir::new("smb-conn-capture");
    let pcap = dir.path().join("smb.pcapng");
    let mut cap = janus_tests::e2e::capture::Capture::start(&pcap, &[h.port]);
    let out = smbclient(
        h.port,
        "export",
        PASSWORD,
        &["-m", "SMB3", "--client-protection=sign"],
        "ls",
    );
    assert_reached_file_ops(&out, &h);
    for d in ["210", "311"] {
        smbprotocol(h.port, &["--dialect", d]).ok();
    }
    cap.stop();
    let smb2 = tshark_lines(&pcap, h.port, "smb2", &["frame.number"]);
    assert!(smb2.len() > 20, "only {} SMB2 frames captured", smb2.len());
    let malformed = tshark_lines(&pcap, h.port, "_ws.malformed", &[]);
    assert!(malformed.is_empty(), "malformed:\n{}", malformed.join("\n"));
    let errors = tshark_lines(&pcap, h.port, "_ws.expert.severity >= error", &[]);
    assert!(errors.is_empty(), "expert errors:\n{}", errors.join("\n"));
    // Successful responses to NEGOTIATE, SESSION_SETUP, TREE_CONNECT, ECHO and LOGOFF.
    for cmd in [0, 1, 3, 13, 2] {
        let ok = tshark_lines(
            &pcap,
            h.port,
            &format!("smb2.cmd == {cmd} && smb2.flags.response == 1 && smb2.nt_status == 0"),
            &["frame.number"],
        );
        assert!(!ok.is_empty(), "no successful response to command {cmd}");
    }
}

fn impacket(port: u16, args: &[&str]) -> CmdOutput {
    let py = janus_tests::e2e::smb_python();
    let script = janus_tests::e2e::workspace_root().join("tests/clients/smb_impacket.py");
    let mut c = Command::new(py);
    c.arg(script).arg("--port").arg(port.to_string()).args(args);
    run(&mut c, TIMEOUT)
}

#[test]
fn impacket_each_dialect_login_tree_logoff() {
    let h = SmbHarness::start(config());
    // impacket 0.13 can ask for 2.0.2, 2.1, 3.0 and 3.1.1 (not 3.0.2).
    for d in ["202", "210", "300", "311"] {
        let out = impacket(h.port, &["--dialect", d]).ok();
        let text = out.stdout_str();
        assert_eq!(
            field(&text, "dialect"),
            Some(format!("0x0{d}").as_str()),
            "{text}"
        );
        for step in ["login", "tree_connect", "tree_disconnect", "logoff"] {
            assert_eq!(field(&text, step), Some("ok"), "{step}: {text}");
        }
        assert!(text.contains("list=status 0xc00000bb"), "{text}");
        let out = impacket(h.port, &["--dialect", d, "--password", "bad"]).ok();
        assert!(
            out.stdout_str().contains("login=failed status=0xc000006d"),
            "{}",
            out.describe()
        );
    }
}

#[test]
fn smbclient_anonymous_refused_guest_where_allowed() {
    let mut c = config();
    c.guest = Some((65534, 65534));
    let mut public = janus_tests::smb_harness::disk_share("public");
    public.guest_ok = true;
    c.shares.push(std::sync::Arc::new(public));
    let h = SmbHarness::start(c);
    // Anonymous (NTLMSSP with empty user and responses) is refused.
    let mut cmd = Command::new("smbclient");
    cmd.arg("//127.0.0.1/public")
        .arg("-p")
        .arg(h.port.to_string())
        .args(["-N", "-m", "SMB3", "-c", "ls"]);
    let out = run(&mut cmd, TIMEOUT);
    assert!(!out.success());
    assert!(
        all(&out).contains("NT_STATUS_LOGON_FAILURE"),
        "{}",
        out.describe()
    );
    // An unknown user becomes a guest: the guest_ok share connects, the other does not.
    let mut cmd = Command::new("smbclient");
    cmd.arg("//127.0.0.1/public")
        .arg("-p")
        .arg(h.port.to_string())
        .args(["-U", "visitor%whatever", "-m", "SMB3", "-c", "ls"]);
    let out = run(&mut cmd, TIMEOUT);
    assert!(
        all(&out).contains("NT_STATUS_NOT_SUPPORTED"),
        "{}\nserver log: {:?}",
        out.describe(),
        h.log()
    );
    let mut cmd = Command::new("smbclient");
    cmd.arg("//127.0.0.1/export")
        .arg("-p")
        .arg(h.port.to_string())
        .args(["-U", "visitor%whatever", "-m", "SMB3", "-c", "ls"]);
    let out = run(&mut cmd, TIMEOUT);
    assert!(
        all(&out).contains("NT_STATUS_ACCESS_DENIED"),
        "{}",
        out.describe()
    );
}
