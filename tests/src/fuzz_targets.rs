//! The bodies of the fuzz targets in `fuzz/` (cargo-fuzz layout, outside the workspace),
//! shared with `tests/tests/fuzz_corpus.rs`, which replays every committed corpus file
//! through the same function on stable `cargo test`. See `fuzz/README.md`.
//!
//! Each body takes the raw fuzzer input, must never panic, hang or allocate without bound
//! on any input, and panics only when an oracle fails: a value that decodes must encode and
//! decode back to itself, a stream framed in one piece or in two must give the same
//! records, every reply the server sends must be a well-formed RPC reply.
//!
//! Input layouts (what the seed writer in `fuzz_corpus.rs` produces):
//! - `rpc_record`: two bytes (big-endian split point) then a record-marked byte stream.
//! - `rpc_message`: one RPC message (call or reply), as a UDP datagram carries it.
//! - `rpc_auth`: a credential and a verifier (`opaque_auth` twice), as in a call header.
//! - `portmap`, `mount`, `nfs3`, `nlm`, `nsm`: a selector byte (arguments, results, ...),
//!   a procedure byte, then the XDR arguments or results.
//! - `replay`: a pcap or pcapng capture.
//! - `server`: a script of [`ServerOp`]s (see [`server()`]).
//! - `smb_conn`: flags, chunk size and a client byte stream for the SMB2/3 connection
//!   machine (see [`crate::smb_fuzz`]).
//! - `smb2_fscc`, `smb2_security`, `smb2_dcerpc`, `smb2_names`: see each body's
//!   documentation (a selector byte, then a buffer as the SMB2 message carries it).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use proto_nfs::mount::{MountCall, MountReply};
use proto_nfs::nfs3::{Nfs3Call, Nfs3Reply};
use proto_nfs::portmap::{PmapCall, PmapReply, RpcbCall, RpcbReply};
use proto_nfs::rpc::message::{MessageBody, RpcMessage};
use proto_nfs::rpc::record::{put_record, take_record};
use proto_nfs::rpc::{AuthSysParms, CallHeader, Credential, OpaqueAuth};
use proto_nfs::rpc::{ProcedureCall, ProcedureReply};
use proto_nfs::xdr::{XdrDecode, XdrEncode};
use proto_nlm::service::outbound::decode_getport_result;
use proto_nlm::service::NsmRecord;
use proto_nlm::wire::{Nlm4Call, Nlm4Proc, Nlm4Reply, NsmCall, NsmProc, NsmReply};
use server::{
    CallbackCommand, CallbackEvent, CallbackId, ConnId, Core, CoreConfig, CoreLimits, Job,
    Listener, NlmSettings, RecordSeq, ShareBackend, ShareConfig, Transmit, Transport,
};
use vfs::memory::{MemoryFs, MemoryFsConfig, VirtualClock};
use vfs::Timestamp;

/// A target's body: the raw fuzzer input in, a panic when an oracle fails.
pub type TargetFn = fn(&[u8]);

/// Every target: its name (the directory under `fuzz/corpus/` and the `fuzz_targets/` file)
/// and its body.
pub const TARGETS: &[(&str, TargetFn)] = &[
    ("rpc_record", rpc_record),
    ("rpc_message", rpc_message),
    ("rpc_auth", rpc_auth),
    ("portmap", portmap),
    ("mount", mount),
    ("nfs3", nfs3),
    ("nlm", nlm),
    ("nsm", nsm),
    ("replay", replay),
    ("server", server),
    ("smb_conn", crate::smb_fuzz::smb_conn),
    ("smb2_fscc", smb2_fscc),
    ("smb2_security", smb2_security),
    ("smb2_dcerpc", smb2_dcerpc),
    ("smb2_names", smb2_names),
];

/// Largest record the framer target accepts (small, so the limit is reached often).
const FRAMER_MAX_RECORD: usize = 4096;

/// Record marking (RFC 5531 §11): the stream after the first two bytes is framed twice,
/// once in one piece and once split at the point the two bytes give. Both must yield the
/// same records and the same error; every record must survive `put_record`/`take_record`.
pub fn rpc_record(data: &[u8]) {
    let Some((split, stream)) = data.split_first_chunk::<2>() else {
        return;
    };
    let split = usize::from(u16::from_be_bytes(*split)).min(stream.len());

    let whole = frame_all(&mut BytesMut::from(stream));

    let mut buf = BytesMut::from(&stream[..split]);
    let mut pieces = frame_all(&mut buf);
    if pieces.last().is_none_or(|r| r.is_ok()) {
        buf.extend_from_slice(&stream[split..]);
        pieces.extend(frame_all(&mut buf));
    }
    assert_eq!(whole, pieces, "framing depends on how the stream was cut");

    for rec in whole.into_iter().flatten() {
        assert!(rec.len() <= FRAMER_MAX_RECORD);
        let mut again = BytesMut::new();
        put_record(&mut again, &rec);
        assert_eq!(take_record(&mut again, FRAMER_MAX_RECORD), Ok(Some(rec)));
        assert!(again.is_empty());
    }
}

/// Takes records until one is incomplete or an error stops the stream (the error is the
/// last element).
fn frame_all(buf: &mut BytesMut) -> Vec<Result<Bytes, String>> {
    let mut out = Vec::new();
    loop {
        match take_record(buf, FRAMER_MAX_RECORD) {
            Ok(Some(r)) => out.push(Ok(r)),
            Ok(None) => return out,
            Err(e) => {
                out.push(Err(e.to_string()));
                return out;
            }
        }
    }
}

/// ONC RPC messages (RFC 5531 §9): the full decoder and the server's staged call-header
/// decoder. A decoded message encodes and decodes back to itself.
pub fn rpc_message(data: &[u8]) {
    let record = Bytes::copy_from_slice(data);
    let full = RpcMessage::decode_bytes(&record);
    if let Ok(msg) = &full {
        let again = RpcMessage::decode_bytes(&msg.to_bytes());
        assert_eq!(again.as_ref(), Ok(msg), "RpcMessage round trip");
    }
    if let Ok((hdr, args)) = CallHeader::decode(&record) {
        // The staged decoder accepts exactly the calls the full decoder accepts, with the
        // same header and arguments.
        match full {
            Ok(RpcMessage {
                xid,
                body: MessageBody::Call(call),
            }) => {
                assert_eq!(
                    (xid, call.prog, call.vers, call.proc_),
                    (hdr.xid, hdr.prog, hdr.vers, hdr.proc_)
                );
                assert_eq!((&call.cred, &call.verf), (&hdr.cred, &hdr.verf));
                assert_eq!(call.args, args);
            }
            other => panic!("CallHeader decoded a call RpcMessage did not: {other:?}"),
        }
    }
}

/// `opaque_auth` and AUTH_SYS (RFC 5531 §8.2, Appendix A), as the server reads a call's
/// credential and verifier.
pub fn rpc_auth(data: &[u8]) {
    let Ok((rest, cred)) = OpaqueAuth::decode(data) else {
        return;
    };
    assert_eq!(
        OpaqueAuth::decode_exact(&cred.to_bytes()).as_ref(),
        Ok(&cred)
    );
    if let Ok(parms) = AuthSysParms::decode_exact(&cred.body) {
        assert_eq!(
            AuthSysParms::decode_exact(&parms.to_bytes()).as_ref(),
            Ok(&parms)
        );
    }
    let Ok((_, verf)) = OpaqueAuth::decode(rest) else {
        return;
    };
    let _ = Credential::from_call(&cred, &verf);
}

/// The selector byte, the procedure byte and the body.
fn split_sel(data: &[u8]) -> Option<(u8, u32, &[u8])> {
    let (&sel, rest) = data.split_first()?;
    let (&procedure, body) = rest.split_first()?;
    Some((sel, u32::from(procedure), body))
}

fn call_round_trip<C: ProcedureCall + PartialEq + std::fmt::Debug>(procedure: u32, body: &[u8]) {
    if let Ok(call) = C::decode_args(procedure, body) {
        assert_eq!(call.procedure(), procedure);
        let mut out = BytesMut::new();
        call.encode_args(&mut out);
        assert_eq!(C::decode_args(procedure, &out).as_ref(), Ok(&call));
    }
}

fn reply_round_trip<R: ProcedureReply + PartialEq + std::fmt::Debug>(procedure: u32, body: &[u8]) {
    if let Ok(reply) = R::decode_results(procedure, body) {
        assert_eq!(reply.procedure(), procedure);
        let mut out = BytesMut::new();
        reply.encode_results(&mut out);
        assert_eq!(R::decode_results(procedure, &out).as_ref(), Ok(&reply));
    }
}

/// PORTMAP v2 (RFC 1833 §3) and RPCBIND v3/v4 (RFC 1833 §2) arguments and results.
pub fn portmap(data: &[u8]) {
    let Some((sel, procedure, body)) = split_sel(data) else {
        return;
    };
    match sel % 4 {
        0 => call_round_trip::<PmapCall>(procedure, body),
        1 => reply_round_trip::<PmapReply>(procedure, body),
        2 => call_round_trip::<RpcbCall>(procedure, body),
        _ => reply_round_trip::<RpcbReply>(procedure, body),
    }
}

/// MOUNT v3 (RFC 1813 Appendix I) arguments and results.
pub fn mount(data: &[u8]) {
    let Some((sel, procedure, body)) = split_sel(data) else {
        return;
    };
    if sel % 2 == 0 {
        call_round_trip::<MountCall>(procedure, body);
    } else {
        reply_round_trip::<MountReply>(procedure, body);
    }
}

/// NFSv3 (RFC 1813): the arguments of every procedure (both decoders the server has) and,
/// for replay, every result.
pub fn nfs3(data: &[u8]) {
    let Some((sel, procedure, body)) = split_sel(data) else {
        return;
    };
    if sel % 2 == 0 {
        let call = Nfs3Call::decode(procedure, body);
        let shared = Nfs3Call::decode_shared(procedure, &Bytes::copy_from_slice(body));
        assert_eq!(call, shared, "decode and decode_shared disagree");
        if let Ok(call) = call {
            assert_eq!(call.procedure(), procedure);
            let mut out = BytesMut::new();
            call.encode(&mut out);
            assert_eq!(Nfs3Call::decode(procedure, &out).as_ref(), Ok(&call));
        }
    } else if let Ok(reply) = Nfs3Reply::decode(procedure, body) {
        assert_eq!(reply.procedure(), procedure);
        let mut out = BytesMut::new();
        reply.encode(&mut out);
        assert_eq!(Nfs3Reply::decode(procedure, &out).as_ref(), Ok(&reply));
    }
}

/// NLM v4 (XNFS chapter 10, Linux `fs/lockd/xdr4.c`) arguments and results.
pub fn nlm(data: &[u8]) {
    let Some((sel, procedure, body)) = split_sel(data) else {
        return;
    };
    if sel % 2 == 0 {
        if let Ok(call) = Nlm4Call::decode(procedure, body) {
            assert_eq!(call.procedure().to_u32(), procedure);
            assert_eq!(
                Nlm4Call::decode(procedure, &call.args_bytes()).as_ref(),
                Ok(&call)
            );
        }
    } else if let Some(p) = Nlm4Proc::from_u32(procedure) {
        if let Ok(reply) = Nlm4Reply::decode(p, body) {
            assert_eq!(Nlm4Reply::decode(p, &reply.to_bytes()).as_ref(), Ok(&reply));
        }
    }
}

/// NSM v1 (XNFS chapter 11) arguments and results, the journalled monitor records and the
/// GETPORT result the NLM callbacks read.
pub fn nsm(data: &[u8]) {
    let Some((sel, procedure, body)) = split_sel(data) else {
        return;
    };
    match sel % 4 {
        0 => {
            if let Ok(call) = NsmCall::decode(procedure, body) {
                assert_eq!(call.procedure().to_u32(), procedure);
                assert_eq!(
                    NsmCall::decode(procedure, &call.args_bytes()).as_ref(),
                    Ok(&call)
                );
            }
        }
        1 => {
            if let Some(p) = NsmProc::from_u32(procedure) {
                if let Ok(reply) = NsmReply::decode(p, body) {
                    assert_eq!(NsmReply::decode(p, &reply.to_bytes()).as_ref(), Ok(&reply));
                }
            }
        }
        2 => {
            if let Ok(rec) = NsmRecord::decode_exact(body) {
                assert_eq!(NsmRecord::decode_exact(&rec.to_bytes()).as_ref(), Ok(&rec));
            }
        }
        _ => {
            let _ = decode_getport_result(body);
        }
    }
}

/// `janus replay`'s whole pipeline on a capture: the pcap/pcapng reader, link/IP/TCP/UDP
/// decoding, TCP reassembly, framing, decoding, `--against memory`, and the report text.
///
/// The replay code lives in `replay` today; issue 9 moves it to the `server`
/// crate, and this path follows it.
pub fn replay(data: &[u8]) {
    use replay::{replay_bytes, Against, PortMap};
    let ports = PortMap::standard();
    if let Ok(report) = replay_bytes(Bytes::copy_from_slice(data), &ports, Some(Against::Memory)) {
        let _ = report.to_string();
    }
}

/// Operations of the `server` target's script. Each starts with one byte (`op % 7`); byte
/// payloads are a big-endian `u16` length and that many bytes (cut short at the end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerOp {
    /// 0, conn byte, payload: bytes arrive on TCP connection `conn % 3` (opened first if it
    /// is not open: 0 and 1 on the NFS port, 2 on the portmapper port; connection 0's
    /// runtime keeps the read buffer, [`server::Core::handle_tcp_buf`]).
    Tcp = 0,
    /// 1, peer byte, payload: one UDP datagram from peer `peer % 3`, on the NFS port's
    /// socket when `peer / 3` is even, else the portmapper's.
    Udp = 1,
    /// 2, conn byte: the runtime closes TCP connection `conn % 3`.
    Close = 2,
    /// 3, payload: a file-system job runs (the one at `payload[0] % pending` in emission
    /// order, so jobs finish out of order) over the `MemoryFs` of its share, and its result
    /// goes back to the core, then its follow-up's.
    FsResult = 3,
    /// 4, how byte, payload: an event on an outbound (callback) channel, the one at
    /// `(how / 4) % open` in opening order: `how % 4` = the payload arrives on it, it
    /// fails, it connects, it is closed by the peer. `how == 255`: the journal fails.
    External = 4,
    /// 5: the runtime hands the buffers of resumed connections over again.
    Resume = 5,
    /// 6: time passes, to the core's next deadline if that is within 150 s, else 1 s; the
    /// wall clock follows.
    Tick = 6,
}

/// The peers the script can send from: a privileged loopback port, a remote address, IPv6
/// loopback.
pub const SERVER_PEERS: [SocketAddr; 3] = [
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 700),
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)), 40_000),
    SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 801),
];

/// The core the `server` target drives: three shares over `MemoryFs` (read-write,
/// read-only, and one for 10.0.0.0/8 only), small limits so they are reached, a short
/// grace period so locks are granted within a script.
pub fn server_config() -> CoreConfig {
    let share = |name: &str, share_id: u32, read_only: bool, clients: Vec<_>| ShareConfig {
        share_id,
        name: name.into(),
        read_only,
        clients,
        root_squash: true,
        all_squash: false,
        anon_uid: 65534,
        anon_gid: 65534,
        smb: Default::default(),
    };
    CoreConfig {
        shares: vec![
            share("export", 1, false, vec![]),
            share("ro", 2, true, vec![]),
            share("lan", 3, false, vec!["10.0.0.0/8".parse().expect("cidr")]),
        ],
        bind_addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
        nfs_port: 2049,
        portmap_port: 111,
        limits: CoreLimits {
            max_record: 64 * 1024,
            max_in_flight_per_conn: 4,
            drc_entries: 64,
            max_deferred_bytes: 256 * 1024,
            max_held_nfs: 16,
            smb_logon_timeout: server::DEFAULT_SMB_LOGON_TIMEOUT,
        },
        nlm: NlmSettings {
            grace_period: Duration::from_secs(2),
            ..NlmSettings::default()
        },
        ..CoreConfig::default()
    }
}

/// Reads a `u16`-length-prefixed payload from the front of `data`.
fn payload<'a>(data: &mut &'a [u8]) -> &'a [u8] {
    let len = match data {
        [a, b, ..] => usize::from(u16::from_be_bytes([*a, *b])),
        _ => 0,
    };
    *data = data.get(2..).unwrap_or_default();
    let (p, rest) = data.split_at(len.min(data.len()));
    *data = rest;
    p
}

fn byte(data: &mut &[u8]) -> u8 {
    match data.split_first() {
        Some((&b, rest)) => {
            *data = rest;
            b
        }
        None => 0,
    }
}

/// Appends one op to a `server` script (for seed corpora and regression inputs).
pub fn push_server_op(out: &mut Vec<u8>, op: ServerOp, arg: u8, data: &[u8]) {
    out.push(op as u8);
    if matches!(
        op,
        ServerOp::Tcp | ServerOp::Udp | ServerOp::Close | ServerOp::External
    ) {
        out.push(arg);
    }
    if matches!(
        op,
        ServerOp::Tcp | ServerOp::Udp | ServerOp::FsResult | ServerOp::External
    ) {
        let len = data.len().min(usize::from(u16::MAX));
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.extend_from_slice(&data[..len]);
    }
}

/// Arbitrary byte streams and datagrams into `server::Core` on every listener (NFS,
/// MOUNT, PORTMAP/RPCBIND, NLM and NSM on the NFS port; the portmapper port), with the
/// runtime's side played by the script: connections opened and closed, file-system jobs
/// run out of order over `MemoryFs`, callback channels that answer, fail or connect, a
/// journal that is made durable after every step (or fails), resumes, time. Oracles:
/// every TCP transmit is exactly one record and every UDP one goes to a peer, each holding
/// a well-formed RPC reply; every callback send is a well-formed RPC call (one record on
/// TCP); no job panics.
pub fn server(data: &[u8]) {
    server_counts(data);
}

/// What one run of the `server` target saw (to check that a corpus reaches the core).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerCounts {
    /// Replies sent.
    pub transmits: usize,
    /// File-system jobs run.
    pub jobs: usize,
    /// Journal records appended.
    pub records: usize,
    /// Outbound calls sent.
    pub callback_sends: usize,
}

/// The `server` target's body, returning what it saw.
pub fn server_counts(mut data: &[u8]) -> ServerCounts {
    let mut sut = ServerUnderTest::new();
    let mut ops = 0;
    while !data.is_empty() && ops < 256 {
        ops += 1;
        match byte(&mut data) % 7 {
            0 => {
                let conn = byte(&mut data) % 3;
                let bytes = payload(&mut data);
                sut.tcp(conn, bytes);
            }
            1 => {
                let peer = byte(&mut data);
                let bytes = payload(&mut data);
                sut.udp(peer, bytes);
            }
            2 => {
                let conn = byte(&mut data) % 3;
                sut.close(conn);
            }
            3 => {
                let bytes = payload(&mut data);
                sut.fs_result(bytes.first().copied().unwrap_or(0));
            }
            4 => {
                let how = byte(&mut data);
                let bytes = payload(&mut data);
                sut.external(how, bytes);
            }
            5 => sut.resume(),
            _ => sut.tick(),
        }
        sut.drain();
    }
    sut.counts
}

thread_local! {
    /// Set by the panic hook [`ServerUnderTest::new`] installs: a job's panic is caught by
    /// `Job::run` (it answers SERVERFAULT), which must not hide it from the target.
    static PANICKED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn install_panic_flag() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICKED.with(|p| p.set(true));
            previous(info);
        }));
    });
}

/// The core and the runtime's side of it, as the `server` target plays it.
pub struct ServerUnderTest {
    core: Core,
    clock: VirtualClock,
    now: Instant,
    unix_secs: u64,
    /// The open TCP connections, by script index (0..3); `Some` holds the read buffer of
    /// a connection whose runtime keeps it.
    conns: BTreeMap<u8, Option<BytesMut>>,
    resumed: BTreeSet<ConnId>,
    jobs: VecDeque<Job>,
    /// Outbound channels in opening order, with their transport.
    channels: Vec<(CallbackId, Transport)>,
    appended: RecordSeq,
    journal_failed: bool,
    /// What was seen so far.
    pub counts: ServerCounts,
}

impl Default for ServerUnderTest {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerUnderTest {
    /// A fresh core over [`server_config`], after a clean shutdown (no journal records).
    pub fn new() -> Self {
        install_panic_flag();
        let clock = VirtualClock::new(Timestamp {
            secs: 1_700_000_000,
            nsecs: 0,
        });
        let config = server_config();
        let shares = config
            .shares
            .iter()
            .map(|s| ShareBackend {
                share_id: s.share_id,
                vfs: Arc::new(MemoryFs::with_virtual_clock(
                    MemoryFsConfig {
                        // Bounded memory whatever offsets and sizes the script asks for.
                        total_bytes: 8 << 20,
                        total_files: 4096,
                        max_file_size: 4 << 20,
                        ..MemoryFsConfig::default()
                    },
                    clock.clone(),
                )),
            })
            .collect();
        #[allow(clippy::disallowed_methods)] // the base of a virtual time line
        let now = Instant::now();
        let core = Core::new(config, shares, Vec::new(), true, now).expect("the core starts");
        let mut sut = ServerUnderTest {
            core,
            clock,
            now,
            unix_secs: 1_700_000_000,
            conns: BTreeMap::new(),
            resumed: BTreeSet::new(),
            jobs: VecDeque::new(),
            channels: Vec::new(),
            appended: RecordSeq(0),
            journal_failed: false,
            counts: ServerCounts::default(),
        };
        sut.core.handle_wall_clock(sut.unix_secs);
        sut.drain();
        sut
    }

    fn conn_id(conn: u8) -> ConnId {
        ConnId(16 + u64::from(conn))
    }

    /// Bytes arrive on TCP connection `conn` (0..3), opened first if needed.
    pub fn tcp(&mut self, conn: u8, bytes: &[u8]) {
        let id = Self::conn_id(conn);
        if !self.conns.contains_key(&conn) {
            let listener = if conn == 2 {
                Listener::Portmap
            } else {
                Listener::Nfs
            };
            let peer = SERVER_PEERS[usize::from(conn) % SERVER_PEERS.len()];
            self.core.handle_conn_open(id, listener, peer, self.now);
            self.conns.insert(conn, (conn == 0).then(BytesMut::new));
        }
        match self.conns.get_mut(&conn) {
            Some(Some(buf)) => {
                buf.extend_from_slice(bytes);
                self.core.handle_tcp_buf(id, buf, self.now);
            }
            Some(None) => self.core.handle_tcp_bytes(id, bytes, self.now),
            None => {}
        }
    }

    /// One datagram on a UDP socket.
    pub fn udp(&mut self, peer: u8, bytes: &[u8]) {
        let from = SERVER_PEERS[usize::from(peer) % SERVER_PEERS.len()];
        let listener = if (peer / 3) % 2 == 0 {
            Listener::Nfs
        } else {
            Listener::Portmap
        };
        self.core.handle_datagram(listener, from, bytes, self.now);
    }

    /// The runtime closes connection `conn` (0..3).
    pub fn close(&mut self, conn: u8) {
        if self.conns.remove(&conn).is_some() {
            self.core.handle_conn_closed(Self::conn_id(conn), self.now);
        }
    }

    /// A pending file-system job runs and its result goes back, then its follow-up's.
    pub fn fs_result(&mut self, pick: u8) {
        if self.jobs.is_empty() {
            return;
        }
        let i = usize::from(pick) % self.jobs.len();
        let Some(job) = self.jobs.remove(i) else {
            return;
        };
        let mut done = job.run();
        self.counts.jobs += 1;
        self.check_no_panic();
        let follow_up = done.take_follow_up();
        self.core.handle_job_done(done, self.now);
        if let Some(job) = follow_up {
            let done = job.run();
            self.counts.jobs += 1;
            self.check_no_panic();
            self.core.handle_job_done(done, self.now);
        }
    }

    fn check_no_panic(&self) {
        assert!(
            !PANICKED.with(|p| p.replace(false)),
            "a file-system job panicked (Job::run answered SERVERFAULT)"
        );
    }

    /// An event on an outbound channel, or the journal fails.
    pub fn external(&mut self, how: u8, bytes: &[u8]) {
        if how == 255 {
            self.journal_failed = true;
            self.core.handle_journal_failed(self.now);
            return;
        }
        if self.channels.is_empty() {
            return;
        }
        let i = usize::from(how / 4) % self.channels.len();
        let (id, transport) = self.channels[i];
        let ev = match how % 4 {
            0 => CallbackEvent::Bytes(id, Bytes::copy_from_slice(bytes)),
            1 => CallbackEvent::Failed(id),
            2 if transport == Transport::Tcp => CallbackEvent::Connected(id),
            2 => return,
            _ => CallbackEvent::Closed(id),
        };
        if matches!(ev, CallbackEvent::Failed(_) | CallbackEvent::Closed(_)) {
            self.channels.remove(i);
        }
        self.core.handle_callback(ev, self.now);
    }

    /// Buffers of resumed connections are handed over again.
    pub fn resume(&mut self) {
        for id in std::mem::take(&mut self.resumed) {
            let conn = (id.0 - 16) as u8;
            if let Some(Some(buf)) = self.conns.get_mut(&conn) {
                self.core.handle_tcp_buf(id, buf, self.now);
            }
        }
    }

    /// Time passes: to the next deadline when it is near, else one second.
    pub fn tick(&mut self) {
        let step = match self.core.poll_timeout() {
            Some(d) if d > self.now && d - self.now <= Duration::from_secs(150) => d - self.now,
            _ => Duration::from_secs(1),
        };
        self.now += step;
        self.unix_secs += step.as_secs().max(1);
        self.clock
            .advance(step.as_secs() as i64, step.subsec_nanos());
        self.core.handle_wall_clock(self.unix_secs);
        self.core.handle_timeout(self.now);
    }

    /// Collects what the core asks of the runtime, checks every transmit and callback
    /// send, and makes the journal durable (group commit after each step), until the core
    /// has nothing more to say.
    pub fn drain(&mut self) {
        loop {
            while let Some(t) = self.core.poll_transmit() {
                check_transmit(&t);
                self.counts.transmits += 1;
            }
            while let Some(job) = self.core.poll_job() {
                self.jobs.push_back(job);
            }
            while let Some((seq, record)) = self.core.poll_journal_append() {
                assert!(seq > self.appended, "journal records are numbered upwards");
                assert!(!record.is_empty());
                self.appended = seq;
                self.counts.records += 1;
            }
            while let Some(cmd) = self.core.poll_callback() {
                match cmd {
                    CallbackCommand::Connect { id, transport, .. } => {
                        self.channels.push((id, transport));
                    }
                    CallbackCommand::Send { id, bytes } => {
                        let transport = self.channels.iter().find(|c| c.0 == id).map(|c| c.1);
                        check_call(transport, &bytes);
                        self.counts.callback_sends += 1;
                    }
                    CallbackCommand::Close { id } => self.channels.retain(|c| c.0 != id),
                }
            }
            while let Some(id) = self.core.poll_close() {
                if id.0 >= 16 {
                    let conn = (id.0 - 16) as u8;
                    if self.conns.remove(&conn).is_some() {
                        self.core.handle_conn_closed(id, self.now);
                    }
                }
            }
            while let Some(id) = self.core.poll_resumed() {
                self.resumed.insert(id);
            }
            if self.journal_failed || self.core.journal_durable() >= self.appended {
                break;
            }
            self.core.handle_journal_durable(self.appended, self.now);
        }
    }
}

// --- SMB2 codecs of proto-smb2 (MS-FSCC classes, security descriptors, DCE/RPC, names) ---

use proto_smb2::fscc::{self as fscc, InfoClass};

/// Decodes `b` as `T`; a value that decodes must encode and decode back to itself, and the
/// OutputBufferLength rules must hold for it.
fn fscc_round_trip<T: InfoClass + PartialEq + std::fmt::Debug>(b: &[u8], obl: u32) {
    let Ok(v) = T::decode(b) else { return };
    let enc = v.to_vec();
    assert_eq!(T::decode(&enc).as_ref(), Ok(&v), "{v:?}");
    match fscc::fit_query_output(&v, obl) {
        Err(s) => {
            assert_eq!(s, proto_smb2::NtStatus::INFO_LENGTH_MISMATCH);
            assert!((obl as usize) < T::MIN_LEN);
        }
        Ok(o) => {
            assert!(o.data.len() <= obl as usize);
            assert_eq!(
                o.status == proto_smb2::NtStatus::SUCCESS,
                enc.len() <= obl as usize
            );
        }
    }
}

/// `smb2_fscc`: a selector byte (0 file query class, 1 SET_INFO file class, 2 file-system
/// class, 3 directory class), the class byte, an OutputBufferLength (u16 LE), then the
/// buffer. Oracles: round trips, the size rules, and for directories that entries packed
/// again into the buffer length decode back as the class normalises them, 8-aligned.
pub fn smb2_fscc(data: &[u8]) {
    use fscc::dir::{DirClass, DirPacker, Push};
    use fscc::file::*;
    use fscc::fs::*;
    let [sel, class, o1, o2, ref b @ ..] = *data else {
        return;
    };
    let obl = u32::from(u16::from_le_bytes([o1, o2]));
    match sel % 4 {
        0 => match class {
            4 => fscc_round_trip::<FileBasicInformation>(b, obl),
            5 => fscc_round_trip::<FileStandardInformation>(b, obl),
            6 => fscc_round_trip::<FileInternalInformation>(b, obl),
            7 => fscc_round_trip::<FileEaInformation>(b, obl),
            8 => fscc_round_trip::<FileAccessInformation>(b, obl),
            9 => fscc_round_trip::<FileNameInformation>(b, obl),
            14 => fscc_round_trip::<FilePositionInformation>(b, obl),
            16 => fscc_round_trip::<FileModeInformation>(b, obl),
            17 => fscc_round_trip::<FileAlignmentInformation>(b, obl),
            18 => fscc_round_trip::<FileAllInformation>(b, obl),
            21 => fscc_round_trip::<FileAlternateNameInformation>(b, obl),
            22 => fscc_round_trip::<FileStreamInformation>(b, obl),
            28 => fscc_round_trip::<FileCompressionInformation>(b, obl),
            34 => fscc_round_trip::<FileNetworkOpenInformation>(b, obl),
            35 => fscc_round_trip::<FileAttributeTagInformation>(b, obl),
            _ => fscc_round_trip::<FileNormalizedNameInformation>(b, obl),
        },
        1 => {
            if let Ok(v) = SetFileInfo::decode(class, b) {
                let (c, enc) = v.encode();
                assert_eq!(c, class);
                assert_eq!(SetFileInfo::decode(c, &enc).as_ref(), Ok(&v));
                if let SetFileInfo::Rename(r) = &v {
                    // Whatever the name, a parsed target stays inside the share.
                    if let Ok(p) = proto_smb2::names::parse_rename_target(&r.file_name) {
                        assert!(p
                            .components
                            .iter()
                            .all(|c| c != ".." && !c.contains(['\\', '/'])));
                    }
                }
            }
        }
        2 => match class {
            1 => fscc_round_trip::<FileFsVolumeInformation>(b, obl),
            3 => fscc_round_trip::<FileFsSizeInformation>(b, obl),
            4 => fscc_round_trip::<FileFsDeviceInformation>(b, obl),
            5 => fscc_round_trip::<FileFsAttributeInformation>(b, obl),
            7 => fscc_round_trip::<FileFsFullSizeInformation>(b, obl),
            8 => fscc_round_trip::<FileFsObjectIdInformation>(b, obl),
            _ => fscc_round_trip::<FileFsSectorSizeInformation>(b, obl),
        },
        _ => {
            let Some(dc) = DirClass::from_class(class) else {
                return;
            };
            let Ok(entries) = dc.decode_entries(b) else {
                return;
            };
            let Ok(mut p) = DirPacker::new(dc, obl) else {
                assert!((obl as usize) < dc.fixed_len());
                return;
            };
            let mut added = Vec::new();
            for e in &entries {
                match p.push(e) {
                    Push::Added => added.push(dc.normalize(e)),
                    Push::Full | Push::Overflow => break,
                }
            }
            let (status, buf) = p.finish();
            assert!(buf.len() <= obl as usize);
            if status == proto_smb2::NtStatus::SUCCESS {
                assert_eq!(dc.decode_entries(&buf).as_ref(), Ok(&added));
            }
        }
    }
}

/// `smb2_security`: an AdditionalInformation byte, then a self-relative security
/// descriptor. Oracles: round trip, `len()` equals the encoding, and a descriptor that maps
/// to a mode maps back from the descriptor Janus would answer for that mode.
pub fn smb2_security(data: &[u8]) {
    use proto_smb2::security::{SecurityDescriptor, Sid, UnixOwnership};
    let [addl, ref b @ ..] = *data else { return };
    if let Ok((sid, _)) = Sid::decode(b) {
        let mut e = Vec::new();
        sid.encode(&mut e);
        assert_eq!(Sid::decode(&e).map(|x| x.0).as_ref(), Ok(&sid));
        assert_eq!(sid.to_string().parse::<Sid>().as_ref(), Ok(&sid));
    }
    let Ok(sd) = SecurityDescriptor::decode(b) else {
        return;
    };
    let enc = sd.to_vec();
    assert_eq!(enc.len(), sd.len());
    let back = SecurityDescriptor::decode(&enc).expect("re-decode");
    assert_eq!(back.owner, sd.owner);
    assert_eq!(back.group, sd.group);
    assert_eq!(back.dacl, sd.dacl);
    assert_eq!(back.sacl, sd.sacl);
    let current = UnixOwnership {
        uid: 1000,
        gid: 100,
        mode: 0o644,
        directory: addl & 0x80 != 0,
    };
    if let Ok(change) = sd.to_unix(u32::from(addl & 0x07), &current) {
        if let Some(mode) = change.mode {
            assert!(mode <= 0o777);
            let u = UnixOwnership {
                uid: change.uid.unwrap_or(current.uid),
                gid: change.gid.unwrap_or(current.gid),
                mode,
                directory: current.directory,
            };
            let ours = SecurityDescriptor::from_unix(&u, 0x7);
            assert_eq!(ours.to_unix(0x7, &u).map(|c| c.mode), Ok(Some(mode)));
        }
    }
}

/// `smb2_dcerpc`: a selector byte. 0: one PDU (round trip). 1-4: a srvsvc stub for
/// NetrShareEnum/NetrShareGetInfo requests and responses (round trip). 5 and above: bytes
/// written to a srvsvc pipe in chunks (each chunk a length byte then the bytes); every
/// message read back must be one whole, decodable PDU no larger than the negotiated
/// fragment, and the pipe's output stays bounded.
pub fn smb2_dcerpc(data: &[u8]) {
    use proto_smb2::dcerpc::srvsvc::*;
    use proto_smb2::dcerpc::Packet;
    let [sel, ref b @ ..] = *data else { return };
    match sel {
        0 => {
            if let Ok(p) = Packet::decode(b) {
                let enc = p.encode();
                let again = Packet::decode(&enc).expect("re-decode");
                assert_eq!(again.pdu, p.pdu);
            }
        }
        1 => {
            if let Ok(v) = ShareEnumRequest::decode(b) {
                assert_eq!(ShareEnumRequest::decode(&v.encode()).as_ref(), Ok(&v));
            }
        }
        2 => {
            if let Ok(v) = ShareGetInfoRequest::decode(b) {
                assert_eq!(ShareGetInfoRequest::decode(&v.encode()).as_ref(), Ok(&v));
            }
        }
        3 => {
            if let Ok(v) = ShareEnumResponse::decode(b) {
                if matches!(v.level, 0 | 1 | 2 | 501) || v.entries.is_empty() {
                    let again = ShareEnumResponse::decode(&v.encode()).expect("re-decode");
                    assert_eq!(again.entries, v.entries);
                }
            }
        }
        4 => {
            if let Ok(v) = ShareGetInfoResponse::decode(b) {
                if matches!(v.level, 0 | 1 | 2 | 501 | 1005) || v.info.is_none() {
                    assert_eq!(
                        ShareGetInfoResponse::decode(&v.encode()).map(|x| x.info),
                        Ok(v.info)
                    );
                }
            }
        }
        _ => {
            let mut pipe =
                SrvsvcPipe::new(vec![Share::disk("export", "data"), Share::ipc("IPC")], 7);
            let mut rest = b;
            while let [n, ref tail @ ..] = *rest {
                let n = usize::from(n).min(tail.len());
                let _ = pipe.write(&tail[..n]);
                rest = &tail[n..];
                assert!(pipe.pending_output() <= MAX_OUTPUT + usize::from(MAX_FRAG));
                loop {
                    let r = pipe.read(usize::from(MAX_FRAG));
                    if r.data.is_empty() {
                        break;
                    }
                    assert!(!r.more, "a fragment larger than max_xmit_frag");
                    let p =
                        Packet::decode(&r.data).expect("the pipe wrote a PDU that does not decode");
                    assert_eq!(usize::from(p.header.frag_length), r.data.len());
                }
            }
        }
    }
}

/// `smb2_names`: a selector byte (0 CREATE path, 1 rename target, 2 search pattern and
/// name), a split byte for 2, then UTF-16LE units. Oracles: a path that parses has only
/// components that stay inside the share; `*` matches every name; a name without
/// wildcard characters matches itself and its upper-cased form.
pub fn smb2_names(data: &[u8]) {
    use proto_smb2::names::*;
    let [sel, split, ref b @ ..] = *data else {
        return;
    };
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let check = |p: &SharePath| {
        for c in &p.components {
            assert!(!c.is_empty() && c != "." && c != "..");
            assert!(!c.contains(['\\', '/', ':', '\0', '*', '?', '"', '<', '>', '|']));
            assert!(c.chars().all(|ch| ch >= ' '));
            assert!(c.encode_utf16().count() <= MAX_COMPONENT_UNITS);
        }
    };
    match sel % 3 {
        0 => {
            if let Ok(p) = parse_create_path(&units) {
                check(&p);
            }
        }
        1 => {
            if let Ok(p) = parse_rename_target(&units) {
                check(&p);
                assert!(!p.components.is_empty());
            }
        }
        _ => {
            let at = usize::from(split).min(units.len());
            let (pattern, name) = units.split_at(at);
            let name = &name[..name.len().min(MAX_COMPONENT_UNITS)];
            let m = wildcard_match(pattern, name, true);
            if !has_wildcards(pattern) && pattern == name {
                assert!(m);
            }
            assert!(wildcard_match(&[u16::from(b'*')], name, false));
            if !has_wildcards(name) {
                assert!(wildcard_match(name, name, false));
                assert!(wildcard_match(&upcase_units(name), name, true));
            }
        }
    }
}

/// A transmit is a well-formed RPC reply: one whole record on TCP, one datagram to a peer.
fn check_transmit(t: &Transmit) {
    let bytes = t.data.to_bytes();
    let message = if Listener::of_udp_conn(t.conn).is_some() {
        assert!(t.dest.is_some(), "a UDP transmit names its peer");
        bytes
    } else {
        assert!(t.dest.is_none(), "a TCP transmit names no peer");
        one_record(&bytes)
    };
    match RpcMessage::decode_bytes(&message) {
        Ok(RpcMessage {
            body: MessageBody::Reply(_),
            ..
        }) => {}
        other => panic!("the server sent something that is not a reply: {other:?}"),
    }
}

/// A callback send is a well-formed RPC call (one whole record on TCP) of NLM, NSM or the
/// portmapper.
fn check_call(transport: Option<Transport>, bytes: &Bytes) {
    let message = match transport {
        Some(Transport::Tcp) => one_record(bytes),
        Some(Transport::Udp) => bytes.clone(),
        None => panic!("bytes sent on a channel that is not open"),
    };
    match RpcMessage::decode_bytes(&message) {
        Ok(RpcMessage {
            body: MessageBody::Call(c),
            ..
        }) => assert!(
            [100_000, 100_021, 100_024].contains(&c.prog),
            "an outbound call to program {}",
            c.prog
        ),
        other => panic!("a callback send that is not a call: {other:?}"),
    }
}

fn one_record(bytes: &Bytes) -> Bytes {
    let mut buf = BytesMut::from(&bytes[..]);
    let rec = take_record(&mut buf, usize::MAX)
        .ok()
        .flatten()
        .expect("a TCP send is one whole record");
    assert!(buf.is_empty(), "a TCP send is exactly one record");
    rec
}

/// A `server` script that reaches deep into the core with handles it knows (the root of
/// share 1 over the target's `MemoryFs`): NFS calls that run jobs (GETATTR, READDIRPLUS,
/// CREATE, WRITE to the root handle, refused), an NLM lock granted and journalled, a
/// conflicting blocked lock from another client, the unlock that grants it (a callback
/// channel: GETPORT, then GRANTED), PMAP DUMP over UDP from a loopback and a remote
/// peer, and time. Committed as `fuzz/corpus/server/seed-core-locks`.
pub fn server_core_seed() -> Vec<u8> {
    use proto_nfs::nfs3::{CreateArgs, CreateHow3, DirOpArgs3, FileHandle, Filename3, GetattrArgs};
    use proto_nfs::nfs3::{ReaddirplusArgs, Sattr3};
    use proto_nfs::rpc::message::CallBody;
    use proto_nlm::wire::{LmString, Netobj, Nlm4Lock, Nlm4LockArgs, Nlm4UnlockArgs};
    use vfs::Vfs as _;

    let root_fs = MemoryFs::with_virtual_clock(
        MemoryFsConfig::default(),
        VirtualClock::new(Timestamp { secs: 0, nsecs: 0 }),
    );
    let root = FileHandle::new(1, &root_fs.root().0).expect("a short handle");
    let call = |xid: u32, prog: u32, vers: u32, proc_: u32, args: Bytes| {
        RpcMessage {
            xid,
            body: MessageBody::Call(CallBody {
                rpcvers: 2,
                prog,
                vers,
                proc_,
                cred: OpaqueAuth::sys(&AuthSysParms {
                    stamp: 0,
                    machinename: Bytes::from_static(b"client"),
                    uid: 1000,
                    gid: 1000,
                    gids: vec![],
                }),
                verf: OpaqueAuth::none(),
                args,
            }),
        }
        .to_bytes()
    };
    let record = |msg: Bytes| {
        let mut rec = BytesMut::new();
        put_record(&mut rec, &msg);
        rec.to_vec()
    };
    let nfs = |xid: u32, c: Nfs3Call| {
        let mut b = BytesMut::new();
        c.encode(&mut b);
        record(call(xid, 100_003, 3, c.procedure(), b.freeze()))
    };
    let alock = |caller: &'static [u8], oh: &'static [u8]| Nlm4Lock {
        caller_name: LmString::new(Bytes::from_static(caller)).expect("short"),
        fh: Netobj::new(root.0.clone()).expect("short"),
        oh: Netobj::from_static(oh),
        svid: 7,
        l_offset: 0,
        l_len: 10,
    };
    let lock = |xid: u32, block: bool, caller, oh| {
        let c = Nlm4Call::Lock(Nlm4LockArgs {
            cookie: Netobj::from_static(b"k"),
            block,
            exclusive: true,
            alock: alock(caller, oh),
            reclaim: false,
            state: 1,
        });
        record(call(
            xid,
            100_021,
            4,
            c.procedure().to_u32(),
            c.args_bytes(),
        ))
    };
    let unlock = |xid: u32, caller, oh| {
        let c = Nlm4Call::Unlock(Nlm4UnlockArgs {
            cookie: Netobj::from_static(b"u"),
            alock: alock(caller, oh),
        });
        record(call(
            xid,
            100_021,
            4,
            c.procedure().to_u32(),
            c.args_bytes(),
        ))
    };
    let mut s = Vec::new();
    let job = |s: &mut Vec<u8>| push_server_op(s, ServerOp::FsResult, 0, &[0]);
    push_server_op(
        &mut s,
        ServerOp::Tcp,
        0,
        &nfs(
            1,
            Nfs3Call::Getattr(GetattrArgs {
                object: root.clone(),
            }),
        ),
    );
    job(&mut s);
    push_server_op(
        &mut s,
        ServerOp::Tcp,
        1,
        &nfs(
            2,
            Nfs3Call::Readdirplus(ReaddirplusArgs {
                dir: root.clone(),
                cookie: 0,
                cookieverf: [0; 8],
                dircount: 4096,
                maxcount: 16384,
            }),
        ),
    );
    job(&mut s);
    push_server_op(
        &mut s,
        ServerOp::Tcp,
        0,
        &nfs(
            3,
            Nfs3Call::Create(CreateArgs {
                where_: DirOpArgs3 {
                    dir: root.clone(),
                    name: Filename3(Bytes::from_static(b"f")),
                },
                how: CreateHow3::Unchecked(Sattr3 {
                    size: Some(0),
                    ..Sattr3::default()
                }),
            }),
        ),
    );
    job(&mut s);
    push_server_op(&mut s, ServerOp::Tcp, 0, &lock(10, false, b"c0", b"o0"));
    push_server_op(&mut s, ServerOp::Tcp, 1, &lock(11, true, b"c1", b"o1"));
    push_server_op(&mut s, ServerOp::Tcp, 0, &unlock(12, b"c0", b"o0"));
    // The grant's callback channel to 10.1.2.3: connected, then a GETPORT answer
    // (xid unknown to the script: the core must cope), then time for retransmissions.
    push_server_op(&mut s, ServerOp::External, 2, &[]);
    push_server_op(&mut s, ServerOp::External, 0, &[0x80, 0, 0, 4, 0, 0, 0, 0]);
    push_server_op(&mut s, ServerOp::Tick, 0, &[]);
    let dump = call(20, 100_000, 2, 4, Bytes::new());
    push_server_op(&mut s, ServerOp::Udp, 0, &dump);
    push_server_op(&mut s, ServerOp::Udp, 4, &dump);
    push_server_op(&mut s, ServerOp::Tcp, 2, &record(dump));
    push_server_op(&mut s, ServerOp::Resume, 0, &[]);
    push_server_op(&mut s, ServerOp::Close, 1, &[]);
    push_server_op(&mut s, ServerOp::Tick, 0, &[]);
    s
}
