//! NLM v4 / NSM end to end against the real `janus` binary, with a third-party NLM encoder
//! (libnfs's raw NLM client in `tests/clients/nlm-driver.c`) and a listener of our own that
//! plays the client host's portmapper and NLM/NSM services (so Janus's callbacks —
//! GRANTED_MSG, SM_NOTIFY — have somewhere to go: `--nlm-callback-portmap-port`).
//!
//! Covered (issue 4, `docs/cross-protocol.md` §3 and §5): conflicts between owners,
//! TEST with the holder, POSIX split/merge/upgrade/downgrade by one owner, unlock of an
//! unheld range, FBIG; a blocking LOCK answered BLOCKED then granted by GRANTED_MSG; kill -9
//! and restart: SM_NOTIFY with a new odd state, reclaim in grace, DENIED_GRACE_PERIOD for a
//! newcomer, grant after `--grace-period`; an unclean stop enters grace even without locks
//! while a clean one does not; NLM locks are advisory to NFS I/O; a tshark capture with no
//! malformed NLM packet.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use janus_tests::e2e::rpc::RpcClient;
use janus_tests::e2e::{
    build_c_client, nfs_cat, nfs_cp, run, Capture, CmdOutput, Server, ServerBuilder,
};
use proto_nfs::xdr::XdrDecode;
use proto_nlm::wire::{Nlm4Call, StatChge};

// ---------- the client host's portmapper + NLM/NSM, as a test listener ----------

/// One call the listener received.
#[derive(Debug, Clone)]
struct Seen {
    prog: u32,
    vers: u32,
    proc_: u32,
    tcp: bool,
    args: Vec<u8>,
}

/// A portmapper on `pmap_port` (TCP and UDP) that maps every program to `svc_port`, and a
/// service on `svc_port` (TCP and UDP) that records every call and answers it with an empty
/// SUCCESS reply (NLM `_MSG`/`_RES` and SM_NOTIFY results are void).
struct Listener {
    pmap_port: u16,
    svc_port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Parses an RPC call (RFC 5531 §9): (xid, prog, vers, proc, args).
fn parse_call(m: &[u8]) -> Option<(u32, u32, u32, u32, Vec<u8>)> {
    let xid = be32(m, 0)?;
    if be32(m, 4)? != 0 {
        return None;
    }
    let (prog, vers, proc_) = (be32(m, 12)?, be32(m, 16)?, be32(m, 20)?);
    let mut at = 24;
    for _ in 0..2 {
        let len = be32(m, at + 4)? as usize;
        at += 8 + len.div_ceil(4) * 4;
    }
    Some((xid, prog, vers, proc_, m.get(at..)?.to_vec()))
}

fn reply(xid: u32, body: &[u8]) -> Vec<u8> {
    let mut r = Vec::new();
    for w in [xid, 1, 0, 0, 0, 0] {
        r.extend_from_slice(&w.to_be_bytes());
    }
    r.extend_from_slice(body);
    r
}

impl Listener {
    fn start() -> Listener {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (svc_tcp, svc_udp) = bind_pair();
        let svc_port = svc_tcp.local_addr().unwrap().port();
        let (pmap_tcp, pmap_udp) = bind_pair();
        let pmap_port = pmap_tcp.local_addr().unwrap().port();
        for (tcp, udp) in [(svc_tcp, svc_udp), (pmap_tcp, pmap_udp)] {
            let s = Arc::clone(&seen);
            std::thread::spawn(move || loop {
                let mut b = [0u8; 65536];
                let Ok((n, from)) = udp.recv_from(&mut b) else {
                    return;
                };
                if let Some(r) = Self::answer(&s, &b[..n], false, svc_port) {
                    let _ = udp.send_to(&r, from);
                }
            });
            let s = Arc::clone(&seen);
            std::thread::spawn(move || {
                for conn in tcp.incoming() {
                    let Ok(mut conn) = conn else { return };
                    let s = Arc::clone(&s);
                    std::thread::spawn(move || {
                        while let Some(m) = read_record(&mut conn) {
                            if let Some(r) = Self::answer(&s, &m, true, svc_port) {
                                let mut framed =
                                    ((r.len() as u32) | 0x8000_0000).to_be_bytes().to_vec();
                                framed.extend_from_slice(&r);
                                if conn.write_all(&framed).is_err() {
                                    return;
                                }
                            }
                        }
                    });
                }
            });
        }
        Listener {
            pmap_port,
            svc_port,
            seen,
        }
    }

    fn answer(seen: &Mutex<Vec<Seen>>, m: &[u8], tcp: bool, svc_port: u16) -> Option<Vec<u8>> {
        let (xid, prog, vers, proc_, args) = parse_call(m)?;
        seen.lock().unwrap().push(Seen {
            prog,
            vers,
            proc_,
            tcp,
            args,
        });
        if prog == 100_000 && proc_ == 3 {
            return Some(reply(xid, &u32::from(svc_port).to_be_bytes()));
        }
        Some(reply(xid, &[]))
    }

    fn calls(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits up to `secs` for a call matching `pred`.
    fn wait_for(&self, secs: u64, what: &str, pred: impl Fn(&Seen) -> bool) -> Seen {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(s) = self.calls().into_iter().find(|s| pred(s)) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within {secs} s; the listener saw {:?}",
                self.calls()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A TCP listener and a UDP socket on the same loopback port.
fn bind_pair() -> (TcpListener, UdpSocket) {
    for _ in 0..50 {
        let t = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = t.local_addr().unwrap().port();
        if let Ok(u) = UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], port))) {
            return (t, u);
        }
    }
    panic!("no free TCP+UDP port pair");
}

fn read_record(conn: &mut TcpStream) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let mut h = [0u8; 4];
        conn.read_exact(&mut h).ok()?;
        let h = u32::from_be_bytes(h);
        let len = (h & 0x7fff_ffff) as usize;
        if len > 1 << 20 {
            return None;
        }
        let start = out.len();
        out.resize(start + len, 0);
        conn.read_exact(&mut out[start..]).ok()?;
        if h & 0x8000_0000 != 0 {
            return Some(out);
        }
    }
}

// ---------- helpers ----------

fn nlm_server(label: &str, listener: Option<&Listener>, grace: u64) -> Server {
    let mut b = ServerBuilder::new(label)
        .share("export")
        .arg("--grace-period")
        .arg(grace.to_string());
    if let Some(l) = listener {
        b = b
            .arg("--nlm-callback-portmap-port")
            .arg(l.pmap_port.to_string());
    }
    let s = b.start();
    s.require(
        s.target() == janus_tests::e2e::Target::Janus,
        "NLM e2e tests run against janus (ganesha's NLM needs rpcbind on 111)",
    );
    s
}

/// Runs the NLM driver as host `caller` on `file` (created on first use).
fn drv(server: &Server, caller: &str, file: &str, steps: &[&str]) -> CmdOutput {
    let bin = build_c_client("nlm-driver");
    run(
        Command::new(bin)
            .args(["-p", &server.nfs_port().to_string(), "-n", caller, "-c"])
            .arg(server.url("export", file))
            .args(steps),
        Duration::from_secs(60),
    )
}

#[track_caller]
fn drv_ok(server: &Server, caller: &str, file: &str, steps: &[&str]) -> String {
    drv(server, caller, file, steps).ok().stdout_str()
}

// ---------- tests ----------

#[test]
fn conflicts_holders_posix_ranges_and_unheld_unlock() {
    let server = nlm_server("nlm-basic", None, 90);
    let f = "locked";
    drv_ok(&server, "hostA", f, &["null", "lock:0:100:x:1=GRANTED"]);
    // Another host: TEST names the holder; exclusive and shared requests are refused.
    let out = drv_ok(
        &server,
        "hostB",
        f,
        &[
            "test:50:10:s:1=DENIED",
            "lock:50:10:s:1=DENIED",
            "lock:99:1:x:1=DENIED",
        ],
    );
    assert!(
        out.contains("holder exclusive=1 svid=1 offset=0 len=100 oh=hostA/1"),
        "{out}"
    );
    drv_ok(&server, "hostB", f, &["lock:100:10:x:1=GRANTED"]);
    // Same host, another process (svid): a different owner, so it conflicts too.
    drv_ok(&server, "hostA", f, &["lock:10:1:s:2=DENIED"]);
    // Shared locks coexist; an exclusive one over them is refused.
    drv_ok(&server, "hostA", f, &["lock:200:10:s:3=GRANTED"]);
    drv_ok(
        &server,
        "hostB",
        f,
        &["lock:200:10:s:2=GRANTED", "lock:205:1:x:3=DENIED"],
    );

    // POSIX split: unlocking the middle leaves [0,40) and [60,100).
    drv_ok(&server, "hostA", f, &["unlock:40:20:1=GRANTED"]);
    let out = drv_ok(
        &server,
        "hostB",
        f,
        &[
            "test:45:10:x:1=GRANTED",
            "test:30:5:x:1=DENIED",
            "test:70:5:x:1=DENIED",
        ],
    );
    assert!(out.contains("svid=1 offset=0 len=40 oh=hostA/1"), "{out}");
    assert!(out.contains("svid=1 offset=60 len=40 oh=hostA/1"), "{out}");
    // Merge: relocking the hole gives one lock [0,100) again.
    drv_ok(&server, "hostA", f, &["lock:40:20:x:1=GRANTED"]);
    let out = drv_ok(&server, "hostB", f, &["test:0:100:s:1=DENIED"]);
    assert!(out.contains("exclusive=1 svid=1 offset=0 len=100"), "{out}");
    // Downgrade to shared: other readers fit, writers do not; then upgrade back.
    drv_ok(&server, "hostA", f, &["lock:0:100:s:1=GRANTED"]);
    let out = drv_ok(
        &server,
        "hostB",
        f,
        &["test:10:10:s:1=GRANTED", "test:10:10:x:1=DENIED"],
    );
    assert!(out.contains("exclusive=0 svid=1 offset=0 len=100"), "{out}");
    drv_ok(&server, "hostA", f, &["lock:0:100:x:1=GRANTED"]);
    drv_ok(&server, "hostB", f, &["test:10:10:s:1=DENIED"]);

    // Unlock of a range never held succeeds (POSIX); a range past 2^63-1 is FBIG.
    drv_ok(
        &server,
        "hostC",
        f,
        &[
            "unlock:5000:10:9=GRANTED",
            "lock:9223372036854775807:2:x:1=FBIG",
        ],
    );
    // Len 0 = to the end: after hostA releases everything, hostC takes the whole file.
    drv_ok(
        &server,
        "hostA",
        f,
        &["unlock:0:0:1=GRANTED", "unlock:0:0:3=GRANTED"],
    );
    drv_ok(
        &server,
        "hostB",
        f,
        &["unlock:0:0:1=GRANTED", "unlock:0:0:2=GRANTED"],
    );
    drv_ok(
        &server,
        "hostC",
        f,
        &["lock:0:0:x:1=GRANTED", "test:0:1:x:1=GRANTED"],
    );
    drv_ok(&server, "hostB", f, &["test:1000000:1:s:1=DENIED"]);
}

#[test]
fn blocking_lock_is_granted_by_callback_and_the_capture_is_clean() {
    let listener = Listener::start();
    let server = nlm_server("nlm-block", Some(&listener), 90);
    let mut ports = server.ports();
    ports.extend([listener.pmap_port, listener.svc_port]);
    ports.sort();
    ports.dedup();
    let mut cap = Capture::start(&server.scratch().join("nlm.pcap"), &ports);
    // tshark reports "Capturing on" slightly before its dumpcap child really captures; on a
    // loaded machine the first calls were missed without this pause.
    std::thread::sleep(Duration::from_secs(1));

    drv_ok(&server, "hostA", "blk", &["lock:0:10:x:1=GRANTED"]);
    drv_ok(
        &server,
        "hostB",
        "blk",
        &["lock:0:10:x:2:block=BLOCKED", "lock:0:10:x:2:block=BLOCKED"],
    );
    // A non-blocking request of a third owner is refused meanwhile.
    drv_ok(&server, "hostC", "blk", &["lock:5:1:x:1=DENIED"]);
    drv_ok(&server, "hostA", "blk", &["unlock:0:10:1=GRANTED"]);

    // Janus asked hostB's portmapper (our listener) for NLM v4 over TCP, then sent
    // GRANTED_MSG (procedure 10) there.
    let getport = listener.wait_for(10, "PMAP GETPORT for NLM", |s| {
        s.prog == 100_000 && s.proc_ == 3 && s.args.get(..4) == Some(&[0, 1, 0x86, 0xb5])
    });
    assert_eq!(
        &getport.args[4..12],
        &[0, 0, 0, 4, 0, 0, 0, 6],
        "v4 over TCP"
    );
    let granted = listener.wait_for(10, "GRANTED_MSG", |s| {
        s.prog == 100_021 && s.vers == 4 && s.proc_ == 10
    });
    assert!(granted.tcp);
    let Nlm4Call::GrantedMsg(args) =
        Nlm4Call::decode(10, &granted.args).expect("GRANTED_MSG args decode")
    else {
        panic!("not GRANTED_MSG");
    };
    assert_eq!(args.alock.caller_name.bytes().as_ref(), b"hostB");
    assert_eq!(args.alock.svid, 2);
    assert_eq!((args.alock.l_offset, args.alock.l_len), (0, 10));
    assert!(args.exclusive);
    // hostB holds the lock now.
    let out = drv_ok(&server, "hostC", "blk", &["test:0:10:s:1=DENIED"]);
    assert!(out.contains("svid=2 offset=0 len=10 oh=hostB/2"), "{out}");

    // CANCEL of a blocked request: it is removed and never granted.
    drv_ok(
        &server,
        "hostC",
        "blk",
        &[
            "lock:0:10:x:4:block=BLOCKED",
            "cancel:0:10:x:4:block=GRANTED",
        ],
    );
    drv_ok(&server, "hostB", "blk", &["unlock:0:10:2=GRANTED"]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !listener
            .calls()
            .iter()
            .any(|s| s.proc_ == 10 && s.args.windows(5).any(|w| w == b"hostC")),
        "a cancelled block was granted"
    );
    drv_ok(&server, "hostD", "blk", &["lock:0:10:x:1=GRANTED"]);

    cap.stop();
    let malformed = cap.frames("_ws.malformed");
    assert!(malformed.is_empty(), "malformed:\n{}", malformed.join("\n"));
    // Calls seen by the NLM dissector, by procedure (field values, not summary lines: a
    // frame carrying several RPC messages is summarised by its first).
    let procs = cap.fields("rpc.msgtyp == 0 && nlm", "nlm.procedure_v4");
    for (what, number) in [
        ("TEST", "1"),
        ("LOCK", "2"),
        ("CANCEL", "3"),
        ("UNLOCK", "4"),
        ("GRANTED_MSG", "10"),
    ] {
        assert!(
            procs.iter().any(|p| p == number),
            "no NLM {what} call in the capture; procedures seen: {procs:?}\n{}",
            cap.frames("nlm").join("\n")
        );
    }
}

#[test]
fn kill_9_restart_notifies_and_runs_grace() {
    let listener = Listener::start();
    let mut server = nlm_server("nlm-restart", Some(&listener), 5);
    let f = "reclaimed";
    let bin = build_c_client("nlm-driver");
    let a = |steps: &[&str], server: &Server| {
        run(
            Command::new(&bin)
                .args([
                    "-p",
                    &server.nfs_port().to_string(),
                    "-n",
                    "hostA",
                    "-S",
                    "3",
                    "-c",
                ])
                .arg(server.url("export", f))
                .args(steps),
            Duration::from_secs(60),
        )
        .ok()
        .stdout_str()
    };
    a(
        &["lock:0:10:x:1=GRANTED", "lock:50:10:x:1=GRANTED"],
        &server,
    );

    server.crash_restart();
    let restarted = Instant::now();
    // SM_NOTIFY reaches hostA's status monitor: found through its portmapper (NSM v1, UDP).
    listener.wait_for(10, "PMAP GETPORT for NSM", |s| {
        s.prog == 100_000
            && s.proc_ == 3
            && s.args.get(..16) == Some(&[0, 1, 0x86, 0xb8, 0, 0, 0, 1, 0, 0, 0, 17, 0, 0, 0, 0])
    });
    let notify = listener.wait_for(10, "SM_NOTIFY", |s| {
        s.prog == 100_024 && s.vers == 1 && s.proc_ == 6
    });
    let chge = StatChge::decode_exact(&notify.args).expect("SM_NOTIFY args decode");
    assert_eq!(chge.mon_name.bytes().as_ref(), b"127.0.0.1");
    assert!(
        chge.state % 2 == 1 && chge.state >= 5,
        "state {}",
        chge.state
    );

    // Grace: a newcomer is refused on the unreclaimed range, hostA reclaims one range.
    drv_ok(
        &server,
        "hostB",
        f,
        &[
            "lock:50:10:x:7=DENIED_GRACE_PERIOD",
            "lock:20:10:x:7=GRANTED",
        ],
    );
    a(&["lock:0:10:x:1:reclaim=GRANTED"], &server);
    drv_ok(&server, "hostB", f, &["lock:0:10:x:7=DENIED"]);
    assert!(
        restarted.elapsed() < Duration::from_secs(5),
        "too slow to observe the grace period"
    );
    // --grace-period 5: afterwards the unreclaimed range is free, reclaims are refused.
    std::thread::sleep(Duration::from_secs(6).saturating_sub(restarted.elapsed()));
    drv_ok(&server, "hostB", f, &["lock:50:10:x:7=GRANTED"]);
    a(&["lock:100:10:x:1:reclaim=DENIED_GRACE_PERIOD"], &server);
    // The reclaimed lock survived the grace period.
    drv_ok(&server, "hostB", f, &["lock:0:10:x:7=DENIED"]);
}

#[test]
fn unclean_stop_enters_grace_without_locks_clean_stop_does_not() {
    let mut server = nlm_server("nlm-clean", None, 30);
    drv_ok(
        &server,
        "hostA",
        "g",
        &["lock:0:1:x:1=GRANTED", "unlock:0:1:1=GRANTED"],
    );
    // Release records reach the journal within RELEASE_FLUSH (1 s): afterwards the journal
    // holds no lock, so only the crash itself can cause the grace period below.
    std::thread::sleep(Duration::from_millis(1500));
    server.crash_restart();
    // Lessons #3: after a crash reclaims are accepted (grace) even though nothing is held.
    drv_ok(
        &server,
        "hostA",
        "g",
        &["lock:0:1:x:1:reclaim=GRANTED", "unlock:0:1:1=GRANTED"],
    );
    server.restart(); // SIGTERM: clean marker, nothing held
    drv_ok(
        &server,
        "hostA",
        "g",
        &[
            "lock:0:1:x:1:reclaim=DENIED_GRACE_PERIOD",
            "lock:0:1:x:1=GRANTED",
        ],
    );
}

#[test]
fn nlm_locks_are_advisory_to_nfs_io() {
    let server = nlm_server("nlm-advisory", None, 90);
    let p = server.share_dir("export").join("data");
    std::fs::write(&p, b"before").unwrap();
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    drv_ok(&server, "hostA", "data", &["lock:0:0:x:1=GRANTED"]);
    drv_ok(
        &server,
        "hostB",
        "data",
        &["lock:0:0:x:1=DENIED", "lock:0:0:s:2=DENIED"],
    );
    // NFS READ (nfs-cp out of the locked file) and NFS WRITE of the same file ignore NLM
    // locks (docs/cross-protocol.md §4.1 rule 3: NLM locks are advisory to NFS I/O).
    let local = server.scratch().join("copied");
    nfs_cp(server.url("export", "data"), &local).ok();
    assert_eq!(std::fs::read(&local).unwrap(), b"before");
    let mut rpc = RpcClient::connect(server.nfs_port()).unwrap();
    let root = rpc.mnt("/export").unwrap().expect("MNT");
    let fh = rpc.lookup(&root, "data").unwrap().expect("LOOKUP");
    assert_eq!(rpc.write(&fh, 0, b"AFTER!").unwrap(), Ok(6));
    assert_eq!(
        nfs_cat(&server.url("export", "data")).ok().stdout,
        b"AFTER!"
    );
    assert_eq!(std::fs::read(&p).unwrap(), b"AFTER!");
    // The lock is still held.
    drv_ok(&server, "hostB", "data", &["lock:0:1:s:1=DENIED"]);
}

/// One RPC call over UDP to 127.0.0.1:`port` (AUTH_NONE); the reply after the xid/verifier
/// header: (accept_stat, results).
fn udp_call(port: u16, prog: u32, vers: u32, proc_: u32, args: &[u8]) -> (u32, Vec<u8>) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut m = Vec::new();
    for w in [0x4e4c_4d00 ^ proc_, 0, 2, prog, vers, proc_, 0, 0, 0, 0] {
        m.extend_from_slice(&u32::to_be_bytes(w));
    }
    m.extend_from_slice(args);
    s.send_to(&m, SocketAddr::from(([127, 0, 0, 1], port)))
        .unwrap();
    let mut b = [0u8; 2048];
    let n = s.recv(&mut b).expect("UDP reply");
    let r = &b[..n];
    assert_eq!(be32(r, 4), Some(1), "a reply");
    assert_eq!(be32(r, 8), Some(0), "MSG_ACCEPTED");
    let vlen = be32(r, 16).unwrap() as usize;
    let at = 20 + vlen.div_ceil(4) * 4;
    (be32(r, at).unwrap(), r[at + 4..].to_vec())
}

fn xdr_string(s: &[u8]) -> Vec<u8> {
    let mut v = (s.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(s);
    v.resize(v.len().div_ceil(4) * 4, 0);
    v
}

#[test]
fn served_over_udp_registered_and_client_reboot_frees_locks() {
    let server = nlm_server("nlm-udp", None, 90);
    let port = server.nfs_port();
    // The portmapper maps NLM v4 and NSM v1 (TCP and UDP) to the NFS port (RFC 1833 §3.2).
    for (prog, vers, prot) in [
        (100_021, 4, 6),
        (100_021, 4, 17),
        (100_024, 1, 6),
        (100_024, 1, 17),
    ] {
        let mut a = Vec::new();
        for w in [prog, vers, prot, 0u32] {
            a.extend_from_slice(&w.to_be_bytes());
        }
        let (stat, res) = udp_call(server.portmap_port(), 100_000, 2, 3, &a);
        assert_eq!(
            (stat, be32(&res, 0)),
            (0, Some(u32::from(port))),
            "{prog} v{vers} {prot}"
        );
    }
    // NLM NULL over UDP; NLM v1 is PROG_MISMATCH 4..4; SM_STAT names an odd state.
    assert_eq!(udp_call(port, 100_021, 4, 0, &[]).0, 0);
    let (stat, res) = udp_call(port, 100_021, 1, 0, &[]);
    assert_eq!((stat, be32(&res, 0), be32(&res, 4)), (2, Some(4), Some(4)));
    let (stat, res) = udp_call(port, 100_024, 1, 1, &xdr_string(b"127.0.0.1"));
    assert_eq!(stat, 0);
    assert!(be32(&res, 4).unwrap() % 2 == 1, "SM_STAT state {res:?}");

    // hostA (NSM state 1, the driver default) holds a lock; its SM_NOTIFY with a new state (a reboot) frees it.
    drv_ok(&server, "hostA", "r", &["lock:0:0:x:1=GRANTED"]);
    drv_ok(&server, "hostB", "r", &["lock:0:1:x:1=DENIED"]);
    let mut notify = xdr_string(b"hostA");
    notify.extend_from_slice(&5u32.to_be_bytes());
    assert_eq!(udp_call(port, 100_024, 1, 6, &notify).0, 0);
    drv_ok(&server, "hostB", "r", &["lock:0:1:x:1=GRANTED"]);
}

#[test]
fn read_only_share_and_stale_handles() {
    let server = ServerBuilder::new("nlm-ro")
        .share("export")
        .read_only_share("ro")
        .start();
    server.require(
        server.target() == janus_tests::e2e::Target::Janus,
        "NLM e2e tests run against janus",
    );
    std::fs::write(server.share_dir("ro").join("f"), b"x").unwrap();
    let bin = build_c_client("nlm-driver");
    // Exclusive (write) locks on a read-only export are NLM4_ROFS; shared ones are fine.
    run(
        Command::new(bin)
            .args(["-p", &server.nfs_port().to_string(), "-n", "hostA"])
            .arg(server.url("ro", "f"))
            .args([
                "lock:0:10:x:1=ROFS",
                "lock:0:10:s:1=GRANTED",
                "unlock:0:10:1=GRANTED",
            ]),
        Duration::from_secs(60),
    )
    .ok();
    // A handle that is not Janus's, or names no configured share: NLM4_STALE_FH.
    for fh in [
        &b"not a janus handle"[..],
        &[1, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3][..],
    ] {
        let mut args = xdr_string(b"ck");
        args.extend_from_slice(&1u32.to_be_bytes()); // exclusive
        args.extend(xdr_string(b"hostA"));
        args.extend(xdr_string(fh));
        args.extend(xdr_string(b"hostA/1"));
        args.extend_from_slice(&1u32.to_be_bytes()); // svid
        args.extend_from_slice(&0u64.to_be_bytes());
        args.extend_from_slice(&10u64.to_be_bytes());
        let (stat, res) = udp_call(server.nfs_port(), 100_021, 4, 1, &args);
        assert_eq!(stat, 0);
        // nlm4_testres: cookie (4 + 4 bytes), then the status.
        assert_eq!(be32(&res, 8), Some(7), "NLM4_STALE_FH for {fh:?}");
    }
}
