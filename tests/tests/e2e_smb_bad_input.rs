//! Hostile input on the SMB port of the real `janus serve` binary: an NBSS length over the
//! limit, a table of idle connections, sessions that never finish authenticating, truncated
//! or garbage SMB2 headers, partial frames (slowloris), connections that never log on, credit
//! abuse, and — from an authenticated smbprotocol client (`tests/clients/smb_bad_input.py`)
//! — wrong signatures, unknown session, tree and file ids and a flood of long compound
//! chains. After each, smbclient copies a file both ways on another connection (checksums
//! equal), the server still runs, and its memory stays under a bound (see
//! [`RSS_BOUND_KIB`]).
//!
//! What bounds idle SMB connections is the connection table (`max_connections`, 1,024 by
//! default, and `max_connections_per_client`, 64 per address, `server/src/admission.rs`),
//! whose newcomers close the connection idle longest, and for connections that have not
//! logged on, the logon deadline (`smb_logon_timeout`, 30 s; `LogonDeadlines` there). The
//! attackers of the flood cases therefore connect from several loopback addresses
//! (127.0.1.x), at most 50 from each, so that they are held rather than evicted, and run
//! with a logon deadline far beyond the test; smbclient connects from 127.0.0.1, its own
//! client. Waits are bounded; none is an assertion, except that a deadline never closes a
//! connection before it is due.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use janus_tests::e2e::process::run;
use janus_tests::e2e::server::Server;
use janus_tests::e2e::{
    fnv1a64, pseudo_random_bytes, raise_nofile, smb_python, users_file, ServerBuilder, TempDir,
};

const USER: &str = "alice";
const PASSWORD: &str = "Smb-Bad-Input-5";
/// Attackers per source address: under the default per-client cap of 64.
const PER_ADDRESS: usize = 50;
/// The peak resident memory the server may reach in these tests (KiB). Janus at rest is a
/// few MiB plus its worker pool; what the tests make it hold is at most 1,000 connections
/// with small buffers and one smbclient copy of 1 MiB. A server that allocated what an NBSS
/// header claims (16 MiB for each of [`OVERSIZED`] connections, 128 MiB) or that kept a
/// frame-sized buffer (64 KiB before authentication) for each of 1,000 connections (64 MiB)
/// would be above it.
const RSS_BOUND_KIB: u64 = 48 * 1024;
/// Connections sending an NBSS length over the limit.
const OVERSIZED: usize = 8;

fn server(label: &str) -> (Server, TempDir) {
    server_with(label, &[])
}

/// A server with extra top-level config lines (`record_timeout = 2`).
fn server_with(label: &str, config: &[&str]) -> (Server, TempDir) {
    raise_nofile(4096);
    let tmp = TempDir::new(&format!("{label}-users"));
    let users = users_file(tmp.path(), USER, PASSWORD);
    let mut b = ServerBuilder::new(label)
        .smb()
        .share("export")
        .arg("--users")
        .arg(users.to_str().expect("utf-8 path"));
    for line in config {
        b = b.config(*line);
    }
    (b.start(), tmp)
}

/// The logon deadline of the flood cases: far beyond their run, so that the table (not the
/// deadline) is what holds their connections.
const NO_LOGON_DEADLINE: &str = "smb_logon_timeout = 600";

/// The `i`th attacker's source address: 127.0.1.(1 + i / PER_ADDRESS).
fn attacker_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(
        127,
        0,
        1,
        u8::try_from(1 + i / PER_ADDRESS).expect("few addresses"),
    )
}

fn connect_from(src: Ipv4Addr, port: u16) -> TcpStream {
    use rustix::net::{bind, connect, socket, AddressFamily, SocketType};
    let fd = socket(AddressFamily::INET, SocketType::STREAM, None).expect("socket");
    bind(&fd, &SocketAddr::from((src, 0))).expect("bind a loopback source address");
    connect(&fd, &SocketAddr::from(([127, 0, 0, 1], port))).expect("connect");
    let s = TcpStream::from(fd);
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s
}

/// VmHWM (peak resident set) and VmRSS of the server, KiB.
fn server_memory_kib(s: &Server) -> (u64, u64) {
    let pid = s.pid().expect("server runs");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"))
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn assert_memory_bounded(s: &Server, what: &str) {
    let (hwm, rss) = server_memory_kib(s);
    eprintln!("{what}: server VmRSS {rss} KiB, VmHWM {hwm} KiB");
    assert!(
        hwm < RSS_BOUND_KIB,
        "{what}: server peak RSS {hwm} KiB over {RSS_BOUND_KIB}"
    );
}

/// smbclient (its own connection, from 127.0.0.1) puts and gets 1 MiB; checksums equal.
fn copy_works(s: &mut Server, what: &str) {
    let local = TempDir::new("smb-bad-copy");
    let data = pseudo_random_bytes(what.len() as u64, 1024 * 1024 + 3);
    std::fs::write(local.path().join("c.bin"), &data).expect("write local");
    let out = run(
        Command::new("smbclient")
            .arg("//127.0.0.1/export")
            .args(["-p", &s.smb_port().to_string()])
            .args(["-U", &format!("{USER}%{PASSWORD}")])
            .args(["-m", "SMB3", "-c"])
            .arg(format!(
                "lcd {}; put c.bin c.bin; get c.bin back.bin",
                local.path().display()
            )),
        Duration::from_secs(60),
    );
    let text = format!("{}{}", out.stdout_str(), out.stderr_str());
    assert!(
        out.success() && !text.contains("NT_STATUS_"),
        "{what}: smbclient copy failed: {}\nserver log:\n{}",
        out.describe(),
        s.log()
    );
    let back = std::fs::read(local.path().join("back.bin")).expect("back.bin");
    assert_eq!(fnv1a64(&back), fnv1a64(&data), "{what}: copy differs");
    assert!(s.is_running(), "{what}: server exited:\n{}", s.log());
}

/// Reads until the server closes the connection (EOF or reset); returns what it sent
/// before, or `Err` if it neither closed nor sent anything more within `limit`.
fn read_until_closed(c: &mut TcpStream, limit: Duration) -> Result<Vec<u8>, Vec<u8>> {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    c.set_read_timeout(Some(Duration::from_millis(200))).ok();
    while Instant::now() < deadline {
        match c.read(&mut buf) {
            Ok(0) => return Ok(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Ok(got),
        }
    }
    Err(got)
}

/// One NBSS frame around `payload`.
fn nbss(payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("small");
    let mut v = len.to_be_bytes().to_vec();
    v[0] = 0;
    v.extend_from_slice(payload);
    v
}

/// A 64-byte SMB2 sync header.
fn smb2_header(command: u16, message_id: u64, session_id: u64) -> Vec<u8> {
    let mut h = Vec::with_capacity(64);
    h.extend_from_slice(b"\xfeSMB");
    h.extend_from_slice(&64u16.to_le_bytes()); // StructureSize
    h.extend_from_slice(&0u16.to_le_bytes()); // CreditCharge
    h.extend_from_slice(&0u32.to_le_bytes()); // Status
    h.extend_from_slice(&command.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes()); // CreditRequest
    h.extend_from_slice(&0u32.to_le_bytes()); // Flags
    h.extend_from_slice(&0u32.to_le_bytes()); // NextCommand
    h.extend_from_slice(&message_id.to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes()); // Reserved
    h.extend_from_slice(&0u32.to_le_bytes()); // TreeId
    h.extend_from_slice(&session_id.to_le_bytes());
    h.extend_from_slice(&[0u8; 16]); // Signature
    h
}

/// SMB2 NEGOTIATE for 2.0.2 and 2.1 (no negotiate contexts), MS-SMB2 2.2.3.
fn negotiate_request() -> Vec<u8> {
    let mut m = smb2_header(0, 0, 0);
    m.extend_from_slice(&36u16.to_le_bytes()); // StructureSize
    m.extend_from_slice(&2u16.to_le_bytes()); // DialectCount
    m.extend_from_slice(&1u16.to_le_bytes()); // SecurityMode: signing enabled
    m.extend_from_slice(&0u16.to_le_bytes());
    m.extend_from_slice(&0u32.to_le_bytes()); // Capabilities
    m.extend_from_slice(&[0x5a; 16]); // ClientGuid
    m.extend_from_slice(&0u64.to_le_bytes()); // ClientStartTime
    m.extend_from_slice(&0x0202u16.to_le_bytes());
    m.extend_from_slice(&0x0210u16.to_le_bytes());
    m
}

/// SMB2 SESSION_SETUP carrying SPNEGO NegTokenInit with an NTLMSSP NEGOTIATE message
/// (MS-SMB2 2.2.5, RFC 4178, MS-NLMP 2.2.1.1): the first leg of an authentication that the
/// attacker never finishes.
fn session_setup_request() -> Vec<u8> {
    let mut ntlm = b"NTLMSSP\0".to_vec();
    ntlm.extend_from_slice(&1u32.to_le_bytes());
    ntlm.extend_from_slice(&0xe208_8297u32.to_le_bytes());
    ntlm.extend_from_slice(&[0u8; 16]); // domain and workstation fields, empty
    assert_eq!(ntlm.len(), 32);
    let mut tok = vec![0x60, 0x40, 0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
    tok.extend_from_slice(&[0xa0, 0x36, 0x30, 0x34]);
    tok.extend_from_slice(&[0xa0, 0x0e, 0x30, 0x0c, 0x06, 0x0a]);
    tok.extend_from_slice(&[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a]);
    tok.extend_from_slice(&[0xa2, 0x22, 0x04, 0x20]);
    tok.extend_from_slice(&ntlm);
    assert_eq!(tok.len(), 66);
    let mut m = smb2_header(1, 1, 0);
    m.extend_from_slice(&25u16.to_le_bytes()); // StructureSize
    m.push(0); // Flags
    m.push(1); // SecurityMode
    m.extend_from_slice(&0u32.to_le_bytes()); // Capabilities
    m.extend_from_slice(&0u32.to_le_bytes()); // Channel
    m.extend_from_slice(&(64u16 + 24).to_le_bytes()); // SecurityBufferOffset
    m.extend_from_slice(&(tok.len() as u16).to_le_bytes());
    m.extend_from_slice(&0u64.to_le_bytes()); // PreviousSessionId
    m.extend_from_slice(&tok);
    m
}

/// Reads one NBSS frame (payload) within the stream's read timeout.
fn read_frame(c: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut h = [0u8; 4];
    c.read_exact(&mut h)?;
    let len = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
    let mut p = vec![0u8; len];
    c.read_exact(&mut p)?;
    Ok(p)
}

fn status_of(frame: &[u8]) -> u32 {
    assert!(
        frame.len() >= 64 && &frame[..4] == b"\xfeSMB",
        "not an SMB2 reply"
    );
    u32::from_le_bytes(frame[8..12].try_into().expect("4 bytes"))
}

const STATUS_MORE_PROCESSING_REQUIRED: u32 = 0xc000_0016;

/// A connection from `src` that has negotiated (2.1: no session yet, one credit granted).
fn negotiated(src: Ipv4Addr, s: &Server) -> TcpStream {
    let mut c = connect_from(src, s.smb_port());
    c.write_all(&nbss(&negotiate_request())).expect("negotiate");
    let reply = read_frame(&mut c).expect("negotiate reply");
    assert_eq!(status_of(&reply), 0, "NEGOTIATE succeeds");
    c
}

/// A connection from `src` in the middle of its authentication: NEGOTIATE done, the first
/// SESSION_SETUP leg answered with STATUS_MORE_PROCESSING_REQUIRED.
fn half_authenticated(src: Ipv4Addr, s: &Server) -> TcpStream {
    let mut c = negotiated(src, s);
    c.write_all(&nbss(&session_setup_request()))
        .expect("session setup");
    let reply = read_frame(&mut c).expect("session setup reply");
    assert_eq!(
        status_of(&reply),
        STATUS_MORE_PROCESSING_REQUIRED,
        "first SESSION_SETUP leg"
    );
    c
}

/// Asserts the server closes `c` within `limit`; returns how long that took.
fn assert_closed(c: &mut TcpStream, what: &str, limit: Duration, s: &Server) -> Duration {
    let t0 = Instant::now();
    let r = read_until_closed(c, limit);
    assert!(
        r.is_ok(),
        "{what}: not closed within {limit:?}\n{}",
        s.log()
    );
    t0.elapsed()
}

/// SMB2 ECHO (MS-SMB2 2.2.28) with `message_id`.
fn echo_request(message_id: u64) -> Vec<u8> {
    let mut m = smb2_header(13, message_id, 0);
    m.extend_from_slice(&[4, 0, 0, 0]);
    m
}

/// An unrelated compound chain of `msgs` (MS-SMB2 3.2.4.1.4: each but the last padded to
/// 8 bytes, NextCommand pointing at the next).
fn compound(msgs: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        let mut m = m.clone();
        if i + 1 < msgs.len() {
            m.resize(m.len().next_multiple_of(8), 0);
            let next = u32::try_from(m.len()).expect("small");
            m[20..24].copy_from_slice(&next.to_le_bytes());
        }
        out.extend_from_slice(&m);
    }
    out
}

/// Asserts the server has not closed `c` (nothing to read, no EOF within a moment).
fn assert_open(c: &mut TcpStream, what: &str) {
    c.set_read_timeout(Some(Duration::from_millis(200))).ok();
    match c.read(&mut [0u8; 64]) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("{what}: closed (or answered) before its deadline: {other:?}"),
    }
}

/// `tests/clients/smb_bad_input.py CHECK` as USER against `s`.
fn py_command(s: &Server, name: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(smb_python());
    cmd.arg(janus_tests::e2e::workspace_root().join("tests/clients/smb_bad_input.py"))
        .args(["--port", &s.smb_port().to_string()])
        .args(["--user", USER, "--password", PASSWORD, "--share", "export"])
        .arg("--share-dir")
        .arg(s.share_dir("export"))
        .args(extra)
        .arg(name);
    cmd
}

/// Runs one check of `tests/clients/smb_bad_input.py`; asserts it printed `check=NAME ok`.
fn py_check(s: &Server, name: &str, extra: &[&str]) {
    let out = run(&mut py_command(s, name, extra), PY_TIMEOUT);
    assert_py_ok(&out, name, s);
}

const PY_TIMEOUT: Duration = Duration::from_secs(120);

fn assert_py_ok(out: &janus_tests::e2e::process::CmdOutput, name: &str, s: &Server) {
    assert!(
        out.success() && out.stdout_str().contains(&format!("check={name} ok")),
        "smb_bad_input.py {name}: {}\nserver log:\n{}",
        out.describe(),
        s.log()
    );
    eprintln!("{}", out.stdout_str());
}

#[test]
fn nbss_length_over_the_limit_closes_the_connection() {
    let (mut s, _u) = server("smb-bad-nbss");
    copy_works(&mut s, "before");
    // 16 MiB - 1 claimed (the 24-bit maximum), before any authentication (whose frame limit
    // is about 64 KiB), then 1 KiB of it: each connection is closed without the server
    // waiting for (or reserving) the rest.
    let mut conns = Vec::new();
    for i in 0..OVERSIZED {
        let mut c = connect_from(attacker_addr(i), s.smb_port());
        c.write_all(&[0x00, 0xff, 0xff, 0xff]).expect("header");
        // The server may close as soon as it has read the header: a failed write is fine.
        let _ = c.write_all(&[0xfe; 1024]);
        conns.push(c);
    }
    // Also after a valid NEGOTIATE (still unauthenticated) and then one over the limit.
    let mut c = negotiated(attacker_addr(0), &s);
    c.write_all(&(0x0010_0000u32).to_be_bytes())
        .expect("1 MiB header");
    conns.push(c);
    for (i, c) in conns.iter_mut().enumerate() {
        let r = read_until_closed(c, Duration::from_secs(10));
        assert!(
            r.is_ok(),
            "connection {i}: not closed after an NBSS length over the limit\n{}",
            s.log()
        );
    }
    copy_works(&mut s, "after oversized NBSS lengths");
    assert_memory_bounded(&s, "oversized NBSS");
}

#[test]
fn a_thousand_idle_connections_do_not_stop_a_copy() {
    let (mut s, _u) = server_with("smb-bad-idle", &[NO_LOGON_DEADLINE]);
    // Janus's default max_connections is 1,024 (runtime-mio/src/config.rs): 1,000 is lower.
    const IDLE: usize = 1000;
    let conns: Vec<TcpStream> = (0..IDLE)
        .map(|i| connect_from(attacker_addr(i), s.smb_port()))
        .collect();
    copy_works(&mut s, "with 1,000 idle connections");
    // The idle connections are held, not closed: each still answers a NEGOTIATE (sampled,
    // one per source address).
    let mut answered = 0;
    for c in conns.iter().step_by(PER_ADDRESS) {
        let mut c = c.try_clone().expect("clone");
        c.write_all(&nbss(&negotiate_request())).expect("negotiate");
        let reply = read_frame(&mut c).expect("negotiate reply on an idle connection");
        assert_eq!(status_of(&reply), 0);
        answered += 1;
    }
    assert_eq!(answered, IDLE / PER_ADDRESS);
    assert_memory_bounded(&s, "1,000 idle connections");
    drop(conns);
    copy_works(&mut s, "after the idle connections closed");
}

#[test]
fn sessions_that_never_finish_authenticating() {
    let (mut s, _u) = server_with("smb-bad-halfauth", &[NO_LOGON_DEADLINE]);
    const HALF: usize = 500;
    let conns: Vec<TcpStream> = (0..HALF)
        .map(|i| half_authenticated(attacker_addr(i), &s))
        .collect();
    copy_works(&mut s, "with 500 half-authenticated sessions");
    assert_memory_bounded(&s, "500 half-authenticated sessions");
    drop(conns);
    copy_works(&mut s, "after the half-authenticated sessions closed");
}

#[test]
fn truncated_and_garbage_headers() {
    let (mut s, _u) = server("smb-bad-garbage");
    let neg = negotiate_request();
    let mut bad_protocol = neg.clone();
    bad_protocol[0] = 0xfd;
    let mut bad_structure_size = neg.clone();
    bad_structure_size[4] = 63;
    let mut bad_body_size = neg.clone();
    bad_body_size[64] = 35;
    let mut huge_dialect_count = neg.clone();
    huge_dialect_count[66..68].copy_from_slice(&0xffffu16.to_le_bytes());
    let mut next_command_past_end = smb2_header(13, 0, 0); // ECHO
    next_command_past_end[20..24].copy_from_slice(&0x1000u32.to_le_bytes());
    next_command_past_end.extend_from_slice(&[4, 0, 0, 0]);
    let garbage = pseudo_random_bytes(11, 300);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty frame", nbss(&[])),
        ("4-byte SMB2 header", nbss(b"\xfeSMB")),
        ("half an SMB2 header", nbss(&neg[..32])),
        ("header without body", nbss(&neg[..64])),
        ("truncated NEGOTIATE body", nbss(&neg[..70])),
        ("wrong protocol id", nbss(&bad_protocol)),
        ("header StructureSize 63", nbss(&bad_structure_size)),
        ("NEGOTIATE StructureSize 35", nbss(&bad_body_size)),
        ("DialectCount 65535", nbss(&huge_dialect_count)),
        ("NextCommand past the end", nbss(&next_command_past_end)),
        ("random bytes in a frame", nbss(&garbage)),
        ("random bytes, no framing", garbage.clone()),
        ("bad NBSS type", {
            let mut f = nbss(&neg);
            f[0] = 0x42;
            f
        }),
        (
            "truncated frame, then EOF-less wait",
            nbss(&neg)[..40].to_vec(),
        ),
    ];
    for (i, (what, bytes)) in cases.iter().enumerate() {
        let mut c = connect_from(attacker_addr(0), s.smb_port());
        c.write_all(bytes).expect("send");
        if *what == "truncated frame, then EOF-less wait" {
            // Half a frame and then silence is the idle case: the connection stays open
            // until the table needs it; the server must keep serving others meanwhile.
            copy_works(&mut s, what);
            continue;
        }
        // Either an SMB2 error status or a closed connection; never a success reply.
        match read_frame(&mut c) {
            Ok(reply) => {
                let st = status_of(&reply);
                assert_ne!(st, 0, "case {i} {what}: success reply to bad input");
                eprintln!("case {i} {what}: error status 0x{st:08x}");
            }
            Err(e) => {
                assert!(
                    matches!(
                        e.kind(),
                        ErrorKind::UnexpectedEof
                            | ErrorKind::ConnectionReset
                            | ErrorKind::ConnectionAborted
                    ),
                    "case {i} {what}: neither closed nor an error status within 10 s: {e}\n{}",
                    s.log()
                );
                eprintln!("case {i} {what}: connection closed ({e})");
            }
        }
        copy_works(&mut s, what);
    }
    assert_memory_bounded(&s, "garbage headers");
}

#[test]
fn partial_frames_are_closed_at_the_record_deadline() {
    // The logon deadline far away: only the record deadline can close these.
    let (mut s, _u) = server_with(
        "smb-bad-slowloris",
        &["record_timeout = 2", "smb_logon_timeout = 600"],
    );
    let t0 = Instant::now();
    // Part of a frame the runtime holds: a header announcing 256 bytes and 10 of them.
    let mut held = connect_from(attacker_addr(0), s.smb_port());
    held.write_all(&nbss(&[0xfe; 256])[..14]).expect("partial");
    // Part of a frame the SMB machine holds: a NEGOTIATE and, in the same write, the
    // start of the next frame; the NEGOTIATE is answered, the rest never completes.
    let mut machine = connect_from(attacker_addr(1), s.smb_port());
    let mut bytes = nbss(&negotiate_request());
    bytes.extend_from_slice(&nbss(&echo_request(1))[..20]);
    machine
        .write_all(&bytes)
        .expect("negotiate and a partial frame");
    let reply = read_frame(&mut machine).expect("negotiate reply");
    assert_eq!(status_of(&reply), 0, "NEGOTIATE answered");
    if t0.elapsed() < Duration::from_millis(1500) {
        assert_open(&mut held, "partial frame in the runtime");
        assert_open(&mut machine, "partial frame in the SMB machine");
    }
    copy_works(&mut s, "beside partial frames");
    assert_closed(
        &mut held,
        "partial frame in the runtime",
        Duration::from_secs(20),
        &s,
    );
    assert_closed(
        &mut machine,
        "partial frame in the SMB machine",
        Duration::from_secs(20),
        &s,
    );
    // A drip feed, a byte every 0.7 s into one frame: the deadline is the frame's, not
    // the byte's, so the server closes it after about three bytes.
    let mut drip = connect_from(attacker_addr(2), s.smb_port());
    let frame = nbss(&echo_request(0));
    let mut sent = 0;
    for b in &frame {
        if drip.write_all(std::slice::from_ref(b)).is_err() {
            break;
        }
        sent += 1;
        std::thread::sleep(Duration::from_millis(700));
    }
    assert!(sent < frame.len(), "the whole drip-fed frame was taken");
    assert_closed(&mut drip, "drip-fed frame", Duration::from_secs(20), &s);
    assert!(
        s.log().contains("record not complete in time"),
        "no log line for the record deadline:\n{}",
        s.log()
    );
    copy_works(&mut s, "after the partial frames");
    assert_memory_bounded(&s, "partial frames");
}

#[test]
fn connections_that_never_log_on_are_closed() {
    let (mut s, _u) = server_with(
        "smb-bad-nologon",
        &["smb_logon_timeout = 2", "record_timeout = 600"],
    );
    let t0 = Instant::now();
    let mut silent = connect_from(attacker_addr(0), s.smb_port());
    let mut negotiated_only = negotiated(attacker_addr(1), &s);
    let mut half = half_authenticated(attacker_addr(2), &s);
    if t0.elapsed() < Duration::from_millis(1500) {
        assert_open(&mut silent, "connection that sends nothing");
    }
    // A logged-on session idle past the deadline is not touched.
    py_check(&s, "logged_on_stays", &["--wait", "3"]);
    for (c, what) in [
        (&mut silent, "connection that sends nothing"),
        (&mut negotiated_only, "connection that only negotiated"),
        (&mut half, "half-authenticated session"),
    ] {
        assert_closed(c, what, Duration::from_secs(20), &s);
    }
    assert!(
        s.log()
            .contains("did not complete a SESSION_SETUP in time; closing connection"),
        "no log line for the logon deadline:\n{}",
        s.log()
    );
    copy_works(&mut s, "after the logon deadlines");
    assert_memory_bounded(&s, "logon deadline");
}

#[test]
fn credit_abuse_closes_the_connection() {
    let (mut s, _u) = server("smb-bad-credits");
    // After NEGOTIATE (message id 0, asking for one credit) only message id 1 is granted.
    let mut far = echo_request(1_000_000);
    far[14..16].copy_from_slice(&0u16.to_le_bytes());
    let mut charged = echo_request(1);
    charged[6..8].copy_from_slice(&64u16.to_le_bytes()); // CreditCharge 64 on 2.1
    let beyond: Vec<Vec<u8>> = (1..=10).map(echo_request).collect();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("message id far beyond the window", nbss(&far)),
        ("message id 0 used again", nbss(&echo_request(0))),
        ("credit charge beyond the credits granted", nbss(&charged)),
        (
            "ten requests in a compound on one credit",
            nbss(&compound(&beyond)),
        ),
    ];
    for (i, (what, bytes)) in cases.iter().enumerate() {
        let mut c = negotiated(attacker_addr(i), &s);
        c.write_all(bytes).expect("send");
        assert_closed(&mut c, what, Duration::from_secs(10), &s);
        copy_works(&mut s, what);
    }
    // One log line for each connection closed, naming the message id.
    let lines = s.log().matches("outside the credit window").count();
    assert!(
        lines >= cases.len(),
        "{lines} log lines for {} cases of credit abuse:\n{}",
        cases.len(),
        s.log()
    );
    assert_memory_bounded(&s, "credit abuse");
}

#[test]
fn wrong_signatures_are_refused() {
    let (mut s, _u) = server("smb-bad-signature");
    py_check(&s, "bad_signature", &[]);
    copy_works(&mut s, "after wrong signatures");
    assert_memory_bounded(&s, "wrong signatures");
}

#[test]
fn unknown_session_tree_and_file_ids() {
    let (mut s, _u) = server("smb-bad-ids");
    // Before any session exists, on a bare negotiated connection, too.
    let mut c = negotiated(attacker_addr(0), &s);
    let mut tc = smb2_header(3, 1, 0x5a5a_0000_0000_0001); // TREE_CONNECT, unknown session
    tc.extend_from_slice(&9u16.to_le_bytes());
    tc.extend_from_slice(&0u16.to_le_bytes());
    tc.extend_from_slice(&72u16.to_le_bytes()); // PathOffset
    let path: Vec<u8> = "\\\\127.0.0.1\\export"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    tc.extend_from_slice(&u16::try_from(path.len()).expect("short").to_le_bytes());
    tc.extend_from_slice(&path);
    c.write_all(&nbss(&tc)).expect("tree connect");
    let reply = read_frame(&mut c).expect("tree connect reply");
    assert_eq!(
        status_of(&reply),
        0xc000_0203,
        "TREE_CONNECT on an unknown session: STATUS_USER_SESSION_DELETED"
    );
    py_check(&s, "unknown_ids", &[]);
    copy_works(&mut s, "after unknown ids");
    assert_memory_bounded(&s, "unknown ids");
}

#[test]
fn a_flood_of_compound_requests() {
    let (mut s, _u) = server("smb-bad-compound");
    // Refused: a chain longer than the server takes (64), and unauthenticated chains
    // beyond the credits, from many connections at once.
    let long: Vec<Vec<u8>> = (1..=100).map(echo_request).collect();
    let mut conns = Vec::new();
    for i in 0..100 {
        let mut c = negotiated(attacker_addr(i), &s);
        c.write_all(&nbss(&compound(&long))).expect("long chain");
        conns.push(c);
    }
    for (i, c) in conns.iter_mut().enumerate() {
        assert_closed(c, &format!("long chain {i}"), Duration::from_secs(10), &s);
    }
    let lines = s.log().matches("malformed compound chain").count();
    assert!(
        lines >= conns.len(),
        "{lines} log lines for {} chains over the limit:\n{}",
        conns.len(),
        s.log()
    );
    // Answered: an authenticated client sends 120 related chains of 62 requests (CREATE,
    // 60 READs, CLOSE) as fast as its credits allow, while smbclient copies beside it.
    let mut cmd = py_command(&s, "compound_flood", &["--chains", "120"]);
    let flood = std::thread::spawn(move || run(&mut cmd, PY_TIMEOUT));
    std::thread::sleep(Duration::from_secs(1));
    copy_works(&mut s, "during a flood of compound requests");
    let out = flood.join().expect("flood thread");
    assert_py_ok(&out, "compound_flood", &s);
    copy_works(&mut s, "after a flood of compound requests");
    assert_memory_bounded(&s, "compound flood");
}
