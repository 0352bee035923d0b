//! Shared helpers for the proto-nfs integration tests: deterministic `arbitrary` drivers,
//! the virtual clock, a hex dump for snapshots, and a builder DSL for RPC calls
//! (`call(7).prog(100005, 3).proc_(1).auth_sys(0, 0).args(..)`).
#![allow(dead_code)]

use std::fmt::Debug;
use std::time::Instant;

use arbitrary::{Arbitrary, Unstructured};
use bytes::{Bytes, BytesMut};
use proto_nfs::rpc::auth::{AuthSysParms, OpaqueAuth};
use proto_nfs::rpc::message::put_call_header;
use proto_nfs::rpc::record::record_bytes;
use proto_nfs::xdr::{XdrDecode, XdrEncode};

/// The one real clock reading a test takes; everything after is `t0 + Duration`.
#[allow(clippy::disallowed_methods)]
pub fn t0() -> Instant {
    Instant::now()
}

/// A small deterministic generator (xorshift64*) for seeding `Unstructured` buffers.
pub struct Seeds(u64);

impl Seeds {
    /// A generator with a fixed seed.
    pub fn new(seed: u64) -> Self {
        Seeds(seed | 1)
    }

    /// Next 64 random-looking bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A buffer of `len` bytes.
    pub fn buffer(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

/// Checks `decode(encode(x)) == x` for `iterations` values generated from seeded buffers,
/// and that every byte of the encoding is consumed. Returns how many distinct values were
/// checked, so a caller can assert that generation is not degenerate.
pub fn round_trip<T>(name: &str, iterations: usize) -> usize
where
    T: for<'a> Arbitrary<'a> + XdrEncode + XdrDecode + PartialEq + Debug,
{
    let seed = name
        .bytes()
        .fold(0x004a_616e_7573_u64, |h, b| h.rotate_left(5) ^ u64::from(b));
    let mut seeds = Seeds::new(seed);
    let mut distinct = std::collections::BTreeSet::new();
    for i in 0..iterations {
        let len = 16 + (seeds.next_u64() % 2048) as usize;
        let buf = seeds.buffer(len);
        let mut u = Unstructured::new(&buf);
        let Ok(value) = T::arbitrary(&mut u) else {
            continue;
        };
        let bytes = value.to_bytes();
        let back = T::decode_exact(&bytes).unwrap_or_else(|e| {
            panic!("{name} #{i}: {value:?} encoded as {bytes:02x?} does not decode: {e:?}")
        });
        assert_eq!(back, value, "{name} #{i}: round trip changed the value");
        distinct.insert(bytes);
    }
    distinct.len()
}

/// A readable hex dump: offset, 16 bytes per line grouped by XDR word.
pub fn hexdump(bytes: &[u8]) -> String {
    let mut s = String::new();
    for (i, chunk) in bytes.chunks(16).enumerate() {
        s.push_str(&format!("{:04x}:", i * 16));
        for (j, word) in chunk.chunks(4).enumerate() {
            if j > 0 {
                s.push(' ');
            }
            s.push(' ');
            for b in word {
                s.push_str(&format!("{b:02x}"));
            }
        }
        s.push('\n');
    }
    s
}

/// Starts a call builder: `call(xid)`; defaults are NFS v3 NULL with AUTH_NONE.
pub fn call(xid: u32) -> CallBuilder {
    CallBuilder {
        xid,
        rpcvers: 2,
        prog: 100_003,
        vers: 3,
        proc_: 0,
        cred: OpaqueAuth::none(),
        verf: OpaqueAuth::none(),
        args: BytesMut::new(),
    }
}

/// Builder for an RPC call message. See [`call`].
#[derive(Clone)]
pub struct CallBuilder {
    xid: u32,
    rpcvers: u32,
    prog: u32,
    vers: u32,
    proc_: u32,
    cred: OpaqueAuth,
    verf: OpaqueAuth,
    args: BytesMut,
}

impl CallBuilder {
    /// Program and version.
    pub fn prog(mut self, prog: u32, vers: u32) -> Self {
        self.prog = prog;
        self.vers = vers;
        self
    }

    /// Procedure.
    pub fn proc_(mut self, p: u32) -> Self {
        self.proc_ = p;
        self
    }

    /// RPC version (2 unless testing RPC_MISMATCH).
    pub fn rpcvers(mut self, v: u32) -> Self {
        self.rpcvers = v;
        self
    }

    /// AUTH_SYS credential with no supplementary groups.
    pub fn auth_sys(self, uid: u32, gid: u32) -> Self {
        self.auth_sys_gids(uid, gid, &[])
    }

    /// AUTH_SYS credential with supplementary groups.
    pub fn auth_sys_gids(mut self, uid: u32, gid: u32, gids: &[u32]) -> Self {
        self.cred = OpaqueAuth::sys(&AuthSysParms {
            stamp: 0x1234,
            machinename: Bytes::from_static(b"testhost"),
            uid,
            gid,
            gids: gids.to_vec(),
        });
        self
    }

    /// A raw credential.
    pub fn cred(mut self, cred: OpaqueAuth) -> Self {
        self.cred = cred;
        self
    }

    /// A raw verifier.
    pub fn verf(mut self, verf: OpaqueAuth) -> Self {
        self.verf = verf;
        self
    }

    /// Appends raw argument bytes.
    pub fn args(mut self, args: &[u8]) -> Self {
        self.args.extend_from_slice(args);
        self
    }

    /// Appends the XDR encoding of a value to the arguments.
    pub fn arg(mut self, v: &impl XdrEncode) -> Self {
        v.encode(&mut self.args);
        self
    }

    /// Appends an XDR unsigned int.
    pub fn u32(mut self, v: u32) -> Self {
        proto_nfs::xdr::put_u32(&mut self.args, v);
        self
    }

    /// Appends an XDR string.
    pub fn string(mut self, s: &str) -> Self {
        proto_nfs::xdr::put_string(&mut self.args, s.as_bytes());
        self
    }

    /// The message (for UDP).
    pub fn message(&self) -> Bytes {
        let mut out = BytesMut::new();
        put_call_header(
            &mut out, self.xid, self.prog, self.vers, self.proc_, &self.cred, &self.verf,
        );
        if self.rpcvers != 2 {
            out[8..12].copy_from_slice(&self.rpcvers.to_be_bytes());
        }
        out.extend_from_slice(&self.args);
        out.freeze()
    }

    /// The message as one TCP record.
    pub fn record(&self) -> Bytes {
        record_bytes(&self.message())
    }
}

// ---------------------------------------------------------------------------------------
// Server harness: one RpcServer on virtual time, per-connection buffers like the runtime's.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use proto_nfs::nfs3::FileHandle;
use proto_nfs::rpc::message::{AcceptStat, AcceptedReply, MessageBody, ReplyBody, RpcMessage};
use proto_nfs::rpc::record::take_record;
use proto_nfs::server::{ConnId, Event, Export, FsRequest, RpcServer, ServerConfig, Transmit};

/// Share 1 `export` (read-write, everyone), share 2 `ro` (read-only), share 3 `lan`
/// (only 10.0.0.0/8).
pub fn config() -> ServerConfig {
    let export = |name: &str, id: u32| Export {
        name: name.into(),
        share_id: id,
        root: FileHandle::new(id, b"root").expect("handle"),
        read_only: false,
        clients: vec![],
        root_squash: true,
        all_squash: false,
        anon_uid: 65534,
        anon_gid: 65534,
    };
    let mut ro = export("ro", 2);
    ro.read_only = true;
    let mut lan = export("lan", 3);
    lan.clients = vec!["10.0.0.0/8".parse().expect("cidr")];
    ServerConfig {
        exports: vec![export("export", 1), ro, lan],
        bind_addr: "127.0.0.1".parse().expect("ip"),
        nfs_port: 2049,
        portmap_port: 111,
        max_record: 64 * 1024,
        max_in_flight_per_conn: 4,
        drc_entries: 64,
        external_programs: vec![(100_021, 4, 4), (100_024, 1, 1)],
    }
}

/// The server plus the runtime's side of things: virtual clock and connection buffers.
pub struct Harness {
    /// The machine under test.
    pub server: RpcServer,
    /// Virtual now.
    pub now: Instant,
    /// Per-connection receive buffers.
    pub bufs: BTreeMap<ConnId, BytesMut>,
}

/// A loopback peer on `port`.
pub fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

impl Harness {
    /// A harness around [`config`].
    pub fn new() -> Self {
        Self::with(config())
    }

    /// A harness around `config`.
    pub fn with(config: ServerConfig) -> Self {
        Harness {
            server: RpcServer::new(config),
            now: t0(),
            bufs: BTreeMap::new(),
        }
    }

    /// Advances virtual time.
    pub fn advance(&mut self, d: Duration) {
        self.now += d;
    }

    /// Appends bytes to a TCP connection's buffer and lets the server consume them.
    pub fn tcp(&mut self, conn: u64, peer: SocketAddr, bytes: &[u8]) {
        let buf = self.bufs.entry(ConnId(conn)).or_default();
        buf.extend_from_slice(bytes);
        self.server
            .handle_tcp_bytes(self.now, ConnId(conn), peer, buf);
    }

    /// Re-offers a connection's buffer (after `poll_resumed`).
    pub fn resume(&mut self, conn: u64, peer: SocketAddr) {
        self.tcp(conn, peer, &[]);
    }

    /// Bytes left in a connection's buffer.
    pub fn buffered(&self, conn: u64) -> usize {
        self.bufs.get(&ConnId(conn)).map_or(0, |b| b.len())
    }

    /// One UDP datagram.
    pub fn udp(&mut self, peer: SocketAddr, bytes: &[u8]) {
        self.server
            .handle_datagram(self.now, ConnId(0), peer, bytes);
    }

    /// Drains transmits.
    pub fn transmits(&mut self) -> Vec<Transmit> {
        std::iter::from_fn(|| self.server.poll_transmit()).collect()
    }

    /// Drains file-system requests.
    pub fn fs_requests(&mut self) -> Vec<FsRequest> {
        std::iter::from_fn(|| self.server.poll_fs_request()).collect()
    }

    /// Drains events.
    pub fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.server.poll_event()).collect()
    }

    /// Drains transmits of TCP connections and decodes every record in them (each
    /// transmit must be exactly whole records).
    pub fn tcp_replies(&mut self) -> Vec<RpcMessage> {
        let mut out = Vec::new();
        for t in self.transmits() {
            let mut buf = BytesMut::from(&t.data.to_bytes()[..]);
            while let Some(rec) = take_record(&mut buf, 1 << 24).expect("framing") {
                out.push(RpcMessage::decode_bytes(&rec).expect("reply decodes"));
            }
            assert!(buf.is_empty(), "transmit holds a partial record");
        }
        out
    }

    /// Drains transmits and decodes each as one UDP message.
    pub fn udp_replies(&mut self) -> Vec<RpcMessage> {
        self.transmits()
            .into_iter()
            .map(|t| RpcMessage::decode_bytes(&t.data.to_bytes()).expect("reply decodes"))
            .collect()
    }
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

/// The reply body of a message (panics on a call).
pub fn reply_body(m: &RpcMessage) -> &ReplyBody {
    match &m.body {
        MessageBody::Reply(r) => r,
        MessageBody::Call(_) => panic!("expected a reply, got a call"),
    }
}

/// The accept status of an accepted reply (panics otherwise).
pub fn accept_stat(m: &RpcMessage) -> &AcceptStat {
    match reply_body(m) {
        ReplyBody::Accepted(AcceptedReply { stat, .. }) => stat,
        other => panic!("expected an accepted reply, got {other:?}"),
    }
}

/// The SUCCESS results of a reply (panics otherwise).
pub fn results(m: &RpcMessage) -> &Bytes {
    match accept_stat(m) {
        AcceptStat::Success(b) => b,
        other => panic!("expected SUCCESS, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Round trips of per-procedure call and reply enums.

use proto_nfs::rpc::{ProcedureCall, ProcedureReply};

fn arbitrary_values<T: for<'a> Arbitrary<'a>>(name: &str, iterations: usize) -> Vec<T> {
    let seed = name
        .bytes()
        .fold(0x0070_726f_6373_u64, |h, b| h.rotate_left(7) ^ u64::from(b));
    let mut seeds = Seeds::new(seed);
    (0..iterations)
        .filter_map(|_| {
            let len = 8 + (seeds.next_u64() % 1024) as usize;
            let buf = seeds.buffer(len);
            T::arbitrary(&mut Unstructured::new(&buf)).ok()
        })
        .collect()
}

/// `decode_args(procedure(x), encode_args(x)) == x`; returns the distinct procedures seen.
pub fn round_trip_calls<T>(name: &str, iterations: usize) -> usize
where
    T: for<'a> Arbitrary<'a> + ProcedureCall + PartialEq + Debug,
{
    let mut procs = std::collections::BTreeSet::new();
    for v in arbitrary_values::<T>(name, iterations) {
        let mut out = BytesMut::new();
        v.encode_args(&mut out);
        let back = T::decode_args(v.procedure(), &out)
            .unwrap_or_else(|e| panic!("{name}: {v:?} as {out:02x?} does not decode: {e:?}"));
        assert_eq!(back, v, "{name}: round trip changed the value");
        procs.insert(v.procedure());
    }
    procs.len()
}

/// `decode_results(procedure(x), encode_results(x)) == x`; returns the distinct procedures
/// seen.
pub fn round_trip_replies<T>(name: &str, iterations: usize) -> usize
where
    T: for<'a> Arbitrary<'a> + ProcedureReply + PartialEq + Debug,
{
    let mut procs = std::collections::BTreeSet::new();
    for v in arbitrary_values::<T>(name, iterations) {
        let mut out = BytesMut::new();
        v.encode_results(&mut out);
        let back = T::decode_results(v.procedure(), &out)
            .unwrap_or_else(|e| panic!("{name}: {v:?} as {out:02x?} does not decode: {e:?}"));
        assert_eq!(back, v, "{name}: round trip changed the value");
        procs.insert(v.procedure());
    }
    procs.len()
}

/// A snapshot text for one reply: the wire bytes as a hex dump, the RPC header, and the
/// results decoded with `decode` (if SUCCESS).
pub fn reply_snapshot<T: Debug>(wire: &[u8], decode: impl FnOnce(&[u8]) -> T) -> String {
    let mut buf = BytesMut::from(wire);
    let rec = take_record(&mut buf, 1 << 24)
        .expect("framing")
        .expect("one whole record");
    assert!(buf.is_empty(), "exactly one record");
    let msg = RpcMessage::decode_bytes(&rec).expect("reply decodes");
    assert_eq!(msg.to_bytes(), rec, "encode(decode(bytes)) != bytes");
    let mut s = String::from("wire:\n");
    s.push_str(&hexdump(wire));
    s.push_str(&format!("xid: {:#x}\n", msg.xid));
    match reply_body(&msg) {
        ReplyBody::Accepted(AcceptedReply {
            stat: AcceptStat::Success(res),
            verf,
        }) => {
            s.push_str(&format!(
                "accepted: SUCCESS, verf {verf:?}\nresults: {:#?}\n",
                decode(res)
            ));
        }
        other => s.push_str(&format!("{other:#?}\n")),
    }
    s
}

/// Sends one TCP call on a fresh connection and returns the single transmit's bytes.
pub fn one_tcp_reply(h: &mut Harness, c: &CallBuilder) -> Bytes {
    h.tcp(1000, local(700), &c.record());
    let t = h.transmits();
    assert_eq!(t.len(), 1, "exactly one reply");
    t[0].data.to_bytes()
}
