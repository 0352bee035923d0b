//! In-process tests of the whole runtime: the event loop on 127.0.0.1 with ephemeral ports,
//! a memory share, and real sockets as clients.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::cli::ServeArgs;
use crate::config::{BackendKind, Config};
use crate::event_loop::{Metrics, ShutdownHandle};
use crate::journal::Journal;
use crate::listen::{BoundAddrs, Listeners};
use crate::serve::{self, Backends, StartError};

fn state_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("janus-loop-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn config(state: &std::path::Path) -> Config {
    let args = ServeArgs {
        shares: vec!["mem=".into()],
        backend: Some(BackendKind::Memory),
        state: Some(state.to_path_buf()),
        bind: Some("127.0.0.1".parse().unwrap()),
        ..ServeArgs::default()
    };
    Config::resolve(&args, None, None).unwrap()
}

fn backends() -> Backends<'static> {
    Backends {
        open_share: &crate::config::BackendKind::open_share,
    }
}

struct Server {
    addrs: BoundAddrs,
    stop: ShutdownHandle,
    metrics: Arc<Metrics>,
    thread: JoinHandle<std::io::Result<()>>,
}

/// Starts the runtime on ephemeral ports in its own thread.
fn start(config: Config) -> Server {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let listeners = Listeners::bind(config.bind, 0, Some(0)).unwrap();
        let running = serve::start_with_listeners(&config, listeners, backends()).unwrap();
        tx.send((
            running.addrs(),
            running.event_loop.shutdown_handle(),
            running.event_loop.metrics(),
        ))
        .unwrap();
        running.run()
    });
    let (addrs, stop, metrics) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    Server {
        addrs,
        stop,
        metrics,
        thread,
    }
}

impl Server {
    fn stop(self) {
        self.stop.shutdown();
        self.thread.join().unwrap().unwrap();
    }
}

/// An RPC call message (RFC 5531 §9) with AUTH_NONE credential and verifier.
fn rpc_call(xid: u32, prog: u32, vers: u32, proc_: u32, args: &[u32]) -> Vec<u8> {
    let mut words = vec![xid, 0, 2, prog, vers, proc_, 0, 0, 0, 0];
    words.extend_from_slice(args);
    words.iter().flat_map(|w| w.to_be_bytes()).collect()
}

fn with_record_mark(msg: &[u8]) -> Vec<u8> {
    let mut v = (0x8000_0000u32 | msg.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(msg);
    v
}

fn read_record(s: &mut TcpStream) -> Vec<u8> {
    let mut hdr = [0u8; 4];
    s.read_exact(&mut hdr).unwrap();
    let h = u32::from_be_bytes(hdr);
    assert!(h & 0x8000_0000 != 0, "single-fragment reply");
    let mut body = vec![0u8; (h & 0x7fff_ffff) as usize];
    s.read_exact(&mut body).unwrap();
    body
}

fn words(b: &[u8]) -> Vec<u32> {
    b.chunks(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// xid, REPLY, MSG_ACCEPTED, AUTH_NONE verifier, SUCCESS, then the results.
fn assert_success(reply: &[u8], xid: u32) -> Vec<u32> {
    let w = words(reply);
    assert_eq!(
        &w[..6],
        &[xid, 1, 0, 0, 0, 0],
        "accepted SUCCESS reply to {xid}"
    );
    w[6..].to_vec()
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

#[test]

fn null_and_getport_over_tcp_and_udp() {
    let dir = state_dir("null");
    let srv = start(config(&dir));
    let nfs = srv.addrs.nfs;
    let pmap = srv.addrs.portmap.unwrap();

    let mut s = connect(nfs);
    s.write_all(&with_record_mark(&rpc_call(1, 100_003, 3, 0, &[])))
        .unwrap();
    assert!(
        assert_success(&read_record(&mut s), 1).is_empty(),
        "NFS NULL"
    );

    // PMAP GETPORT(NFS v3 TCP) on the NFS port and on the portmapper port (RFC 1833 §3).
    let getport = rpc_call(2, 100_000, 2, 3, &[100_003, 3, 6, 0]);
    s.write_all(&with_record_mark(&getport)).unwrap();
    assert_eq!(
        assert_success(&read_record(&mut s), 2),
        vec![u32::from(nfs.port())]
    );
    let mut p = connect(pmap);
    p.write_all(&with_record_mark(&getport)).unwrap();
    assert_eq!(
        assert_success(&read_record(&mut p), 2),
        vec![u32::from(nfs.port())]
    );

    // Two calls in one write, answered in order on the same connection.
    let mut two = with_record_mark(&rpc_call(3, 100_003, 3, 0, &[]));
    two.extend(with_record_mark(&rpc_call(4, 100_003, 3, 0, &[])));
    s.write_all(&two).unwrap();
    let mut xids = vec![
        words(&read_record(&mut s))[0],
        words(&read_record(&mut s))[0],
    ];
    xids.sort_unstable();
    assert_eq!(xids, vec![3, 4]);

    // UDP: one datagram per call, no record mark.
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    u.send_to(&rpc_call(5, 100_003, 3, 0, &[]), nfs).unwrap();
    let mut buf = [0u8; 1024];
    let (n, from) = u.recv_from(&mut buf).unwrap();
    assert_eq!(from, nfs);
    assert!(assert_success(&buf[..n], 5).is_empty());
    u.send_to(&rpc_call(6, 100_000, 2, 3, &[100_003, 3, 17, 0]), pmap)
        .unwrap();
    let (n, _) = u.recv_from(&mut buf).unwrap();
    assert_eq!(assert_success(&buf[..n], 6), vec![u32::from(nfs.port())]);

    srv.stop();
}

#[test]
fn shutdown_flushes_and_marks_the_journal_clean() {
    let dir = state_dir("clean");
    let srv = start(config(&dir));
    // An idle client does not hold up the shutdown.
    let _idle = connect(srv.addrs.nfs);
    srv.stop();
    let j = Journal::open(&dir).unwrap();
    assert!(j.was_clean());
    // The boot counter went up once per start.
    let srv = start(config(&dir));
    srv.stop();
    assert_eq!(
        std::fs::read_to_string(dir.join(crate::state::BOOT_FILE))
            .unwrap()
            .trim(),
        "2"
    );
}

/// NFS NULL on `s`, answered.
fn null(s: &mut TcpStream, xid: u32) {
    s.write_all(&with_record_mark(&rpc_call(xid, 100_003, 3, 0, &[])))
        .unwrap();
    assert_success(&read_record(s), xid);
}

/// The server closed `s`: EOF or a reset, within a generous bound (not a timing assertion:
/// only a hang fails).
fn assert_closed_by_server(s: &mut TcpStream, what: &str) {
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("{what}: read {n} bytes instead of a close"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{what}"),
    }
}

/// A full table admits a newcomer by closing the connection idle longest (knfsd closes its
/// oldest temporary socket); the others keep working.
#[test]
fn a_full_table_closes_the_connection_idle_longest() {
    let dir = state_dir("maxconn");
    let mut cfg = config(&dir);
    cfg.limits.max_connections = 2;
    let srv = start(cfg);
    let mut a = connect(srv.addrs.nfs);
    null(&mut a, 1);
    let mut b = connect(srv.addrs.nfs);
    null(&mut b, 2);
    let mut c = connect(srv.addrs.nfs);
    null(&mut c, 3);
    assert_closed_by_server(&mut a, "the connection idle longest");
    null(&mut b, 4);
    null(&mut c, 5);
    assert_eq!(srv.metrics.evicted_connections.load(Ordering::Relaxed), 1);
    assert_eq!(srv.metrics.refused_connections.load(Ordering::Relaxed), 0);
    assert_eq!(srv.metrics.connections.load(Ordering::Relaxed), 2);
    srv.stop();
}

/// One client address may hold `max_connections_per_client` connections; beyond that its
/// own idle-longest connection gives way, however empty the table is.
#[test]
fn one_client_beyond_its_cap_closes_its_own_idle_longest() {
    let dir = state_dir("perclient");
    let mut cfg = config(&dir);
    cfg.limits.max_connections_per_client = 2;
    let srv = start(cfg);
    let mut conns: Vec<TcpStream> = (0..4).map(|_| connect(srv.addrs.nfs)).collect();
    for (i, c) in conns.iter_mut().enumerate().skip(2) {
        // The third and fourth connection are admitted (and served) by closing the first
        // and second.
        null(c, i as u32);
    }
    assert_closed_by_server(&mut conns[0], "first connection");
    assert_closed_by_server(&mut conns[1], "second connection");
    assert_eq!(srv.metrics.evicted_connections.load(Ordering::Relaxed), 2);
    assert_eq!(srv.metrics.connections.load(Ordering::Relaxed), 2);
    srv.stop();
}

/// A connection with replies it has not read yet has a request in progress: a newcomer
/// that would need its slot is refused instead (closing it would throw the replies away).
#[test]
fn a_full_table_of_busy_connections_refuses_the_newcomer() {
    let dir = state_dir("busy");
    let mut cfg = config(&dir);
    cfg.limits.max_connections = 1;
    cfg.limits.write_queue_soft = 64 * 1024;
    let srv = start(cfg);
    let mut a = connect(srv.addrs.nfs);
    a.set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    // NULL calls, never reading a reply, until the server stops reading (the kernel's
    // buffers and the server's soft limit are full): replies are queued at the server.
    let mut batch = Vec::new();
    for xid in 0..1000 {
        batch.extend(with_record_mark(&rpc_call(xid, 100_003, 3, 0, &[])));
    }
    let mut sent = 0usize;
    loop {
        match a.write(&batch) {
            Ok(n) => sent += n,
            Err(e) => {
                assert!(
                    matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ),
                    "write: {e}"
                );
                break;
            }
        }
        assert!(sent < 200 * 1024 * 1024, "the server kept reading");
    }
    let mut b = connect(srv.addrs.nfs);
    assert_closed_by_server(&mut b, "newcomer while the table is busy");
    assert_eq!(srv.metrics.refused_connections.load(Ordering::Relaxed), 1);
    assert_eq!(srv.metrics.evicted_connections.load(Ordering::Relaxed), 0);
    // The busy connection was kept: its replies arrive, in order.
    a.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    assert_success(&read_record(&mut a), 0);
    assert_success(&read_record(&mut a), 1);
    srv.stop();
}

/// Slowloris: a record begun and not finished within `record_timeout` closes its
/// connection; an idle connection (no record begun) is left alone.
#[test]
fn a_record_not_finished_in_time_closes_its_connection() {
    let dir = state_dir("slowloris");
    let mut cfg = config(&dir);
    cfg.limits.record_timeout = Duration::from_secs(1);
    let srv = start(cfg);
    let mut idle = connect(srv.addrs.nfs);
    let mut slow = connect(srv.addrs.nfs);
    let rec = with_record_mark(&rpc_call(7, 100_003, 3, 0, &[]));
    slow.write_all(&rec[..24]).unwrap();
    assert_closed_by_server(&mut slow, "half a record");
    assert_eq!(srv.metrics.record_timeouts.load(Ordering::Relaxed), 1);
    null(&mut idle, 8);
    assert_eq!(srv.metrics.evicted_connections.load(Ordering::Relaxed), 0);
    srv.stop();
}

#[test]
fn second_instance_on_the_same_port_fails_with_one_line() {
    let dir = state_dir("second");
    let srv = start(config(&dir));
    let other_state = state_dir("second-b");
    let mut cfg = config(&other_state);
    cfg.nfs_port = srv.addrs.nfs.port();
    cfg.portmap_port = 0;
    let err = serve::start(&cfg, backends()).unwrap_err();
    assert!(matches!(err, StartError::Bind(_)));
    assert_eq!(err.exit_code(), 1);
    assert_eq!(
        err.to_string(),
        format!(
            "cannot bind TCP 127.0.0.1:{} (address in use): another NFS server or janus is running; stop it or choose another port with --nfs-port",
            cfg.nfs_port
        )
    );
    // The failed start did not touch its state directory.
    assert!(!other_state.exists());
    srv.stop();
}

/// A client that sends calls and never reads the replies: the server stops reading it once
/// its write queue passes the soft limit, instead of buffering replies without bound; when
/// the client reads again every reply arrives, in order.
#[test]

fn a_client_that_does_not_read_is_paced_not_buffered() {
    const SOFT: usize = 256 * 1024;
    let dir = state_dir("pace");
    let mut cfg = config(&dir);
    cfg.limits.write_queue_soft = SOFT;
    let srv = start(cfg);
    let mut s = connect(srv.addrs.nfs);
    s.set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();

    let call_len = with_record_mark(&rpc_call(0, 100_003, 3, 0, &[])).len();
    let batch = 1000;
    let mut sent_bytes = 0usize;
    let mut xid = 0u32;
    let mut pending: Vec<u8> = Vec::new();
    let limit = 200 * 1024 * 1024;
    'send: while sent_bytes < limit {
        if pending.is_empty() {
            for _ in 0..batch {
                pending.extend(with_record_mark(&rpc_call(xid, 100_003, 3, 0, &[])));
                xid += 1;
            }
        }
        match s.write(&pending) {
            Ok(n) => {
                sent_bytes += n;
                pending.drain(..n);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break 'send;
            }
            Err(e) => panic!("write: {e}"),
        }
    }
    assert!(
        sent_bytes < limit,
        "the server kept reading a client that never reads"
    );
    let high = srv.metrics.write_queue_high_water.load(Ordering::Relaxed);
    // At most one 64 KiB read of NULL calls (44 bytes each, 32-byte replies) beyond the
    // soft limit.
    assert!(high >= SOFT, "the queue reached the soft limit ({high})");
    assert!(
        high <= SOFT + 64 * 1024,
        "queue high water {high} is bounded"
    );

    // Now read: finish the partial batch and collect every reply in order.
    let total_calls = xid;
    let mut r = s.try_clone().unwrap();
    let reader = std::thread::spawn(move || {
        for want in 0..total_calls {
            let rec = read_record(&mut r);
            assert_eq!(words(&rec)[0], want, "replies in order, none lost");
        }
    });
    s.set_write_timeout(None).unwrap();
    s.write_all(&pending).unwrap();
    reader.join().unwrap();
    assert!(sent_bytes + pending.len() == total_calls as usize * call_len);
    srv.stop();
}

/// An RPC call with an AUTH_SYS credential (RFC 5531 Appendix A) for uid/gid 1000.
fn rpc_call_sys(xid: u32, prog: u32, vers: u32, proc_: u32, args: &[u8]) -> Vec<u8> {
    let mut cred: Vec<u32> = vec![0]; // stamp
    cred.push(4); // machine name "test"
    let mut cred_bytes: Vec<u8> = cred.iter().flat_map(|w| w.to_be_bytes()).collect();
    cred_bytes.extend_from_slice(b"test");
    for w in [1000u32, 1000, 0] {
        cred_bytes.extend_from_slice(&w.to_be_bytes()); // uid, gid, no extra gids
    }
    let mut m: Vec<u8> = [xid, 0, 2, prog, vers, proc_, 1, cred_bytes.len() as u32]
        .iter()
        .flat_map(|w| w.to_be_bytes())
        .collect();
    m.extend_from_slice(&cred_bytes);
    m.extend_from_slice(&[0; 8]); // AUTH_NONE verifier
    m.extend_from_slice(args);
    m
}

fn xdr_opaque(data: &[u8]) -> Vec<u8> {
    let mut v = (data.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(data);
    v.resize(4 + data.len().div_ceil(4) * 4, 0);
    v
}

/// MOUNT, then NFS calls that go through the worker pool and come back through the waker:
/// GETATTR of the root, CREATE, WRITE (FILE_SYNC), READ.
#[test]

fn file_operations_round_trip_through_the_workers() {
    let dir = state_dir("fsops");
    let srv = start(config(&dir));
    let mut s = connect(srv.addrs.nfs);
    let mut call = |xid: u32, prog: u32, proc_: u32, args: &[u8]| -> Vec<u8> {
        s.write_all(&with_record_mark(&rpc_call_sys(xid, prog, 3, proc_, args)))
            .unwrap();
        let reply = read_record(&mut s);
        let w = words(&reply);
        assert_eq!(
            &w[..6],
            &[xid, 1, 0, 0, 0, 0],
            "accepted SUCCESS reply to {xid}"
        );
        reply[24..].to_vec()
    };

    // MOUNT3 MNT "/mem" (RFC 1813 Appendix I): status 0, then the root handle.
    let res = call(1, 100_005, 1, &xdr_opaque(b"/mem"));
    assert_eq!(words(&res)[0], 0, "MNT3_OK");
    let fh_len = words(&res)[1] as usize;
    let root = res[8..8 + fh_len].to_vec();

    // GETATTR (proc 1): NFS3_OK and a directory (NF3DIR = 2).
    let res = call(2, 100_003, 1, &xdr_opaque(&root));
    assert_eq!(&words(&res)[..2], &[0, 2]);
    assert_eq!(srv.metrics.fs_in_flight.load(Ordering::Relaxed), 0);

    // CREATE (proc 8) "f" UNCHECKED with no attributes set.
    let mut args = xdr_opaque(&root);
    args.extend(xdr_opaque(b"f"));
    args.extend([0u8; 4]); // UNCHECKED
    args.extend([0u8; 24]); // sattr3: six "don't set" discriminants
    let res = call(3, 100_003, 8, &args);
    let w = words(&res);
    assert_eq!(w[0], 0, "NFS3_OK");
    assert_eq!(w[1], 1, "handle follows");
    let fh_len = w[2] as usize;
    let file = res[12..12 + fh_len].to_vec();

    // WRITE (proc 7) 5 bytes at 0, FILE_SYNC (2).
    let mut args = xdr_opaque(&file);
    args.extend(0u64.to_be_bytes());
    args.extend(5u32.to_be_bytes());
    args.extend(2u32.to_be_bytes());
    args.extend(xdr_opaque(b"hello"));
    let res = call(4, 100_003, 7, &args);
    assert_eq!(words(&res)[0], 0, "WRITE NFS3_OK");

    // READ (proc 6) it back: status, post_op_attr (present: 1 + 84 bytes), count, eof, data.
    let mut args = xdr_opaque(&file);
    args.extend(0u64.to_be_bytes());
    args.extend(100u32.to_be_bytes());
    let res = call(5, 100_003, 6, &args);
    let w = words(&res);
    assert_eq!(w[0], 0, "READ NFS3_OK");
    assert_eq!(w[1], 1, "attributes follow");
    let rest = &w[2 + 21..];
    assert_eq!(rest[0], 5, "count");
    assert_eq!(rest[1], 1, "eof");
    let data_at = (2 + 21 + 3) * 4;
    assert_eq!(&res[data_at..data_at + 5], b"hello");
    // The data goes out as its own segment of the gather write, then three bytes of XDR
    // padding (RFC 4506 §4.10), and the record ends there.
    assert_eq!(res.len(), data_at + 8, "data padded to a multiple of four");
    assert_eq!(&res[data_at + 5..], &[0, 0, 0]);

    // Two READs in one write (2 bytes at 1, 3 at 2): each reply is one whole record whose
    // segments were not interleaved with the other's.
    let read = |xid: u32, offset: u64, count: u32| {
        let mut args = xdr_opaque(&file);
        args.extend(offset.to_be_bytes());
        args.extend(count.to_be_bytes());
        rpc_call_sys(xid, 100_003, 3, 6, &args)
    };
    let mut two = with_record_mark(&read(6, 1, 2));
    two.extend(with_record_mark(&read(7, 2, 3)));
    s.write_all(&two).unwrap();
    let mut got: Vec<(u32, Vec<u8>)> = (0..2)
        .map(|_| {
            let rec = read_record(&mut s);
            let count = words(&rec)[6 + 2 + 21] as usize;
            let at = 24 + data_at;
            assert_eq!(rec.len(), at + count.div_ceil(4) * 4, "one whole reply");
            (words(&rec)[0], rec[at..at + count].to_vec())
        })
        .collect();
    got.sort();
    assert_eq!(got, vec![(6, b"el".to_vec()), (7, b"llo".to_vec())]);

    // Over UDP the segments are joined into one datagram: the same results as over TCP
    // (but for the access time in the attributes, which the first READ moved).
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    u.send_to(&read(5, 0, 100), srv.addrs.nfs).unwrap();
    let mut buf = [0u8; 2048];
    let (n, _) = u.recv_from(&mut buf).unwrap();
    let udp = assert_success(&buf[..n], 5);
    assert_eq!(n - 24, res.len(), "UDP READ reply length");
    assert_eq!(&udp[..2], &[0, 1], "READ NFS3_OK, attributes follow");
    let tail = data_at - 12;
    assert_eq!(
        &buf[24 + tail..n],
        &res[tail..],
        "count, eof, data, padding"
    );
    srv.stop();
}

/// NLM4 LOCK arguments (RFC 1813 / XNFS NLM v4 `nlm4_lockargs`): cookie, block, exclusive,
/// the lock (caller "test", file handle `fh`, owner handle, svid, offset, length), reclaim,
/// state.
fn nlm_lock_args(fh: &[u8], svid: u32, offset: u64) -> Vec<u8> {
    let mut a = xdr_opaque(b"c1");
    a.extend(0u32.to_be_bytes()); // block: no
    a.extend(1u32.to_be_bytes()); // exclusive
    a.extend(xdr_opaque(b"test"));
    a.extend(xdr_opaque(fh));
    a.extend(xdr_opaque(format!("oh{svid}").as_bytes()));
    a.extend(svid.to_be_bytes());
    a.extend(offset.to_be_bytes());
    a.extend(10u64.to_be_bytes());
    a.extend(0u32.to_be_bytes()); // reclaim: no
    a.extend(0u32.to_be_bytes()); // state
    a
}

/// The durability barrier through the real runtime: an NLM LOCK's GRANTED reply arrives
/// only after its record is in the journal file; once the journal cannot be synced, the
/// next GRANTED is never sent, NLM calls are refused with SYSTEM_ERR, NFS goes on, and the
/// journal is not marked clean at shutdown.
#[test]
fn granted_replies_wait_for_the_journal_and_never_leave_when_it_fails() {
    let dir = state_dir("durability");
    let cfg = config(&dir);
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let listeners = Listeners::bind(cfg.bind, 0, None).unwrap();
        let mut running = serve::start_with_listeners(&cfg, listeners, backends()).unwrap();
        let fail = running.event_loop.journal_failure_switch();
        tx.send((running.addrs(), running.event_loop.shutdown_handle(), fail))
            .unwrap();
        running.run()
    });
    let (addrs, stop, fail) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let mut s = connect(addrs.nfs);
    let send = |s: &mut TcpStream, xid: u32, prog: u32, vers: u32, proc_: u32, args: &[u8]| {
        s.write_all(&with_record_mark(&rpc_call_sys(
            xid, prog, vers, proc_, args,
        )))
        .unwrap();
    };
    send(&mut s, 1, 100_005, 3, 1, &xdr_opaque(b"/mem"));
    let res = read_record(&mut s);
    let fh_len = words(&res[24..])[1] as usize;
    let root = res[24 + 8..24 + 8 + fh_len].to_vec();
    let journal_len = || {
        std::fs::metadata(dir.join(crate::journal::FILE_NAME))
            .unwrap()
            .len()
    };
    let before = journal_len();

    // LOCK (proc 2): GRANTED (0) after the cookie; the record is on disk by then.
    send(&mut s, 2, 100_021, 4, 2, &nlm_lock_args(&root, 1, 0));
    let r = assert_success(&read_record(&mut s), 2);
    assert_eq!(r[2], 0, "NLM4_GRANTED: {r:?}");
    assert!(journal_len() > before, "the grant is in the journal file");

    // The disk goes away: a second grant is never reported, and the server stops granting.
    fail.store(true, Ordering::SeqCst);
    send(&mut s, 3, 100_021, 4, 2, &nlm_lock_args(&root, 2, 100));
    send(&mut s, 4, 100_021, 4, 0, &[]);
    let w = words(&read_record(&mut s));
    assert_eq!(
        &w[..6],
        &[4, 1, 0, 0, 0, 5],
        "SYSTEM_ERR for xid 4, nothing for xid 3"
    );
    // NFS depends on no record and goes on: GETATTR of the root.
    send(&mut s, 5, 100_003, 3, 1, &xdr_opaque(&root));
    let w = words(&read_record(&mut s));
    assert_eq!(w[0], 5, "the GRANTED of xid 3 never came");
    assert_eq!(&w[1..6], &[1, 0, 0, 0, 0]);
    stop.shutdown();
    assert!(
        thread.join().unwrap().is_err(),
        "a failed journal is not marked clean"
    );
}

#[test]
fn nlm_settings_come_from_file_and_flags() {
    use crate::config::FileConfig;
    let file = FileConfig {
        nlm_callback_portmap_port: Some(999),
        nlm_wait_ms: Some(250),
        nfs_wait_ms: Some(100),
        break_timeout: Some(10),
        grace_period: Some(7),
        bind: Some("127.0.0.1".parse().unwrap()),
        ..FileConfig::default()
    };
    let share = || ServeArgs {
        shares: vec!["x=/tmp".into()],
        ..ServeArgs::default()
    };
    let c = Config::resolve(&share(), Some(file), None).unwrap();
    let n = c.nlm_settings();
    assert_eq!(n.callback_portmap_port, 999);
    assert_eq!(n.nlm_wait, Duration::from_millis(250));
    assert_eq!(n.nfs_wait, Duration::from_millis(100));
    assert_eq!(n.break_timeout, Duration::from_secs(10));
    assert_eq!(n.grace_period, Duration::from_secs(7));
    assert_eq!(n.server_name, "127.0.0.1");
    // The flag beats the file; defaults otherwise.
    let args = ServeArgs {
        nlm_callback_portmap_port: Some(4242),
        ..share()
    };
    let file = FileConfig {
        nlm_callback_portmap_port: Some(999),
        ..FileConfig::default()
    };
    let c = Config::resolve(&args, Some(file), None).unwrap();
    assert_eq!(c.nlm_callback_portmap_port, 4242);
    assert_eq!(c.nlm_wait, Duration::from_secs(5));
    assert_eq!(c.break_timeout, Duration::from_secs(35));
    let bad = FileConfig {
        nlm_wait_ms: Some(0),
        ..FileConfig::default()
    };
    assert!(Config::resolve(&share(), Some(bad), None).is_err());
}
