//! The RPC server state machine: PORTMAP/RPCBIND, MOUNT and NFSv3 behind one object.
//!
//! # Shape (quinn-proto style)
//! - Inputs: [`RpcServer::handle_tcp_bytes`], [`RpcServer::handle_datagram`],
//!   [`RpcServer::handle_fs_result`], [`RpcServer::handle_timeout`],
//!   [`RpcServer::connection_closed`].
//! - Outputs, drained after every input until `None`: [`RpcServer::poll_transmit`],
//!   [`RpcServer::poll_fs_request`], [`RpcServer::poll_event`];
//!   [`RpcServer::poll_timeout`] says when to call `handle_timeout`.
//! - Time only moves forward: every `now` passed in must be `>=` the previous one.
//!
//! The runtime owns sockets and buffers. For TCP it reads into the connection's own
//! `BytesMut` and calls `handle_tcp_bytes`, which consumes every complete record from the
//! front of that buffer (RFC 5531 §11 record marking) and leaves a partial one in place.
//! A fragment header claiming more than the configured record limit closes the connection
//! (an [`Event::Close`]) without allocating what the peer claimed.
//!
//! Back-pressure: while a connection has `max_in_flight_per_conn` file-system requests
//! outstanding, [`RpcServer::wants_read`] is false: the runtime stops reading from it.
//! `handle_tcp_bytes` still consumes every complete record already in the buffer (so no
//! record is ever left waiting for a call that may not come); the limit can therefore be
//! exceeded by the records of one read, which the runtime's read size bounds. When a result
//! brings the connection below the limit again, it is reported by
//! [`RpcServer::poll_resumed`]: resume reading it (with an edge-triggered poller, try a read
//! even without a new readiness event: data may be waiting in the kernel). The UDP
//! socket's `ConnId` counts the in-flight requests of all its clients together.
//!
//! Wall time (RPCBIND GETTIME) is an input too: [`RpcServer::handle_wall_clock`].
//!
//! Duplicate requests: non-idempotent NFS calls (and external procedures marked with
//! [`RpcServer::set_external_non_idempotent`]) go through the
//! [`crate::rpc::drc::DuplicateRequestCache`]: a retransmission of a finished call gets the
//! cached reply bytes (also on a new connection from the same client address), one of a call
//! still executing is dropped. Results of closed connections are still cached. A cached
//! reply to an external call is marked [`Transmit::external_replay`]: its service may hold
//! the original (a durability barrier), and the replay must wait as long.
//!
//! Replies over UDP are sent whole; keeping them under the datagram limit is the client's
//! business (it chooses rsize), as on every NFS server.
//!
//! READ data is not copied: the reply leaves as [`Segments`] (head, the data buffer of the
//! file-system result, XDR padding) for one gather write. READ is idempotent (RFC 1813
//! §4.1), so its replies never enter the duplicate-request cache: a retransmitted READ is
//! executed again, and the cache holds only small replies.
//!
//! What is refused how (RFC 5531 §9), mapped in [`status`]:
//! - a record over the limit, or a message without a readable xid/CALL: TCP connection
//!   closed ([`Event::Close`]), UDP datagram dropped; no reply;
//! - `rpcvers != 2`: RPC_MISMATCH {2, 2}; a malformed credential or verifier, an AUTH_SYS
//!   body that is not exactly one `authsys_parms` (name > 255 bytes, > 16 gids), a flavor
//!   other than AUTH_NONE/AUTH_SYS: AUTH_ERROR with AUTH_BADCRED / AUTH_BADVERF;
//! - unknown program: PROG_UNAVAIL; known program, other version: PROG_MISMATCH with the
//!   served range; unknown procedure: PROC_UNAVAIL; arguments that do not decode exactly:
//!   GARBAGE_ARGS.
//! - NFS: a malformed handle NFS3ERR_BADHANDLE, an unknown share NFS3ERR_STALE, handles of
//!   two shares NFS3ERR_XDEV, a client outside the export's networks NFS3ERR_ACCES, a
//!   modifying call on a read-only export NFS3ERR_ROFS.
//!
//! THIS FILE IS THE CONTRACT between `proto-nfs` and `runtime-mio`. The type and method names
//! below are fixed; bodies and private fields are the implementer's.

mod dispatch;
pub mod export;
mod mount_resolve;
pub mod status;

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use crate::mount::{MountService, MOUNT_PROGRAM, MOUNT_V3};
use crate::nfs3::{
    FileHandle, Nfs3Call, Nfs3Reply, Nfs3Result, ACCESS3_DELETE, ACCESS3_EXTEND, ACCESS3_MODIFY,
    NFS_PROGRAM, NFS_V3,
};
use crate::portmap::{Registry, PMAP_PROGRAM, PMAP_V2, RPCBIND_V4};
use crate::rpc::drc::{DrcKey, DuplicateRequestCache};
use crate::rpc::message::{put_success_header, MessageBody, RpcMessage};
use crate::rpc::record::{self, take_record, MAX_FRAGMENT_LEN};
use crate::rpc::segments::Segments;
use crate::xdr::XdrEncode;

/// Identifies one transport endpoint as the runtime sees it: a TCP connection, or a UDP
/// socket (then `peer` in each call tells the clients apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Which transport a connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// Stream with record marking.
    Tcp,
    /// One record per datagram, no record marker.
    Udp,
}

/// An IPv4 or IPv6 network in CIDR form, e.g. `127.0.0.0/8`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cidr {
    /// Network address.
    pub addr: core::net::IpAddr,
    /// Prefix length in bits.
    pub prefix: u8,
}

/// One exported directory.
#[derive(Debug, Clone)]
pub struct Export {
    /// Share name; the MOUNT path is `/<name>`.
    pub name: String,
    /// Numeric id carried in every file handle of this share.
    pub share_id: u32,
    /// Handle of the share's root directory (what MNT returns).
    pub root: FileHandle,
    /// Refuse every modifying procedure with NFS3ERR_ROFS.
    pub read_only: bool,
    /// Clients allowed to mount and use the share; empty = everyone.
    pub clients: Vec<Cidr>,
    /// Map uid/gid 0 to the anonymous ids (default on).
    pub root_squash: bool,
    /// Map every uid/gid to the anonymous ids.
    pub all_squash: bool,
    /// Anonymous uid (default 65534).
    pub anon_uid: u32,
    /// Anonymous gid (default 65534).
    pub anon_gid: u32,
}

/// Configuration of the server state machine.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The exports.
    pub exports: Vec<Export>,
    /// Address the services are bound to (RPCBIND GETADDR answers with it; an unspecified
    /// address is answered as the loopback address of the same family).
    pub bind_addr: core::net::IpAddr,
    /// Port the NFS, MOUNT, NLM and NSM services listen on (what GETPORT answers).
    pub nfs_port: u16,
    /// Port of the stand-alone portmapper, if one runs (0 = none).
    pub portmap_port: u16,
    /// Largest RPC record accepted, in bytes (all fragments together).
    pub max_record: usize,
    /// Requests a connection may have waiting for the file system before the server stops
    /// asking for more of its bytes (back-pressure).
    pub max_in_flight_per_conn: usize,
    /// Entries kept in the duplicate-request cache.
    pub drc_entries: usize,
    /// Programs served outside this crate (NLM, NSM): calls to them come out as
    /// [`Event::Call`]; (program, lowest version, highest version).
    pub external_programs: Vec<(u32, u32, u32)>,
}

/// Identifies one file-system request so its result can be matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FsRequestId(pub u64);

/// Effective credentials of a call, after squashing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creds {
    /// Effective uid.
    pub uid: u32,
    /// Effective primary gid.
    pub gid: u32,
    /// Supplementary gids (at most 16, RFC 5531 AUTH_SYS).
    pub gids: Vec<u32>,
}

/// Work for the runtime's file-system workers: execute `call` on share `share_id` as `creds`
/// and hand back the result with [`RpcServer::handle_fs_result`].
#[derive(Debug, Clone)]
pub struct FsRequest {
    /// Match key for the result.
    pub id: FsRequestId,
    /// The share named by the call's (first) file handle.
    pub share_id: u32,
    /// Effective credentials.
    pub creds: Creds,
    /// The decoded call.
    pub call: Nfs3Call,
}

/// Bytes to send.
#[derive(Debug, Clone)]
pub struct Transmit {
    /// Where: the connection (TCP) or socket (UDP).
    pub conn: ConnId,
    /// The peer (needed for UDP; informational for TCP).
    pub peer: SocketAddr,
    /// The bytes, record marker included for TCP, as segments to send back to back: a
    /// successful READ reply is its head, the data buffer the file system filled and the
    /// XDR padding (see [`Segments`]); a UDP datagram is their concatenation.
    pub data: Segments,
    /// The bytes are a reply to an external program's call (see
    /// [`RpcServer::set_external_non_idempotent`]) sent again from the duplicate-request
    /// cache for a retransmission. The caller may still be holding the original reply
    /// (the server core holds NLM replies until the journal records they promise are
    /// durable): such a replay must not leave before the original could.
    pub external_replay: bool,
}

/// Something the runtime must act on besides sending bytes.
#[derive(Debug, Clone)]
pub enum Event {
    /// Close this connection (protocol violation or oversize record); the reason is for the log.
    Close {
        /// The connection.
        conn: ConnId,
        /// Why, for the log line.
        reason: String,
    },
    /// A call to an external program (NLM, NSM). The runtime hands it to that program's
    /// service and answers it with exactly one of [`RpcServer::send_accepted_reply`],
    /// [`RpcServer::send_refusal`] or [`RpcServer::finish_without_reply`].
    Call {
        /// Connection it came on.
        conn: ConnId,
        /// Peer address.
        peer: SocketAddr,
        /// Transport.
        transport: Transport,
        /// Transaction id.
        xid: u32,
        /// Program, version, procedure.
        program: u32,
        /// Version.
        version: u32,
        /// Procedure.
        procedure: u32,
        /// Raw credential (flavor, body) as received.
        cred_flavor: u32,
        /// Raw credential body.
        cred_body: Bytes,
        /// Undecoded procedure arguments.
        args: Bytes,
    },
}

/// Counters for the metrics endpoint and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Calls decoded (all programs).
    pub calls: u64,
    /// Replies that were not SUCCESS at the RPC level.
    pub rpc_errors: u64,
    /// Connections closed for a protocol violation or an oversize record.
    pub closes: u64,
    /// UDP datagrams dropped as unparseable.
    pub dropped_datagrams: u64,
    /// Retransmissions answered from the duplicate-request cache.
    pub drc_hits: u64,
    /// Retransmissions dropped because the original was still executing.
    pub drc_in_progress_drops: u64,
    /// Replies dropped because their connection had gone.
    pub orphaned_replies: u64,
}

#[derive(Debug)]
struct ConnState {
    transport: Transport,
    in_flight: usize,
    /// An [`Event::Close`] was emitted: ignore further input, send nothing more.
    closing: bool,
}

#[derive(Debug)]
struct PendingCall {
    conn: ConnId,
    peer: SocketAddr,
    xid: u32,
    drc_key: Option<DrcKey>,
    /// The call was ACCESS on a read-only export: the reply must not grant MODIFY, EXTEND
    /// or DELETE (the executor does not know about exports; knfsd clears them the same way).
    read_only_access: bool,
}

/// The server state machine. See the module documentation for the drive order.
///
/// Methods by role (quinn-proto's grouping):
/// - getters: [`RpcServer::wants_read`], [`RpcServer::has_calls_in_progress`],
///   [`RpcServer::stats`], [`RpcServer::registry`], [`RpcServer::config`];
/// - inputs: `handle_tcp_bytes`, `handle_datagram`, `handle_fs_result`,
///   `send_accepted_reply`, `handle_timeout`, `handle_wall_clock`, `connection_closed`;
/// - mutators: [`RpcServer::set_external_non_idempotent`];
/// - outputs: `poll_transmit`, `poll_fs_request`, `poll_event`, `poll_resumed`,
///   `poll_timeout`.
#[derive(Debug)]
pub struct RpcServer {
    config: ServerConfig,
    registry: Registry,
    mount: MountService,
    /// MNT calls of paths below an export, waiting for their LOOKUPs.
    mount_resolutions: mount_resolve::Resolutions,
    drc: DuplicateRequestCache,
    conns: BTreeMap<ConnId, ConnState>,
    pending: BTreeMap<FsRequestId, PendingCall>,
    external_pending: BTreeMap<(ConnId, u32), DrcKey>,
    external_non_idempotent: BTreeSet<(u32, u32)>,
    next_fs_id: u64,
    transmits: VecDeque<Transmit>,
    fs_requests: VecDeque<FsRequest>,
    events: VecDeque<Event>,
    resumed: VecDeque<ConnId>,
    wall_clock: Option<(Instant, u64)>,
    stats: ServerStats,
}

/// Most versions of one external program registered with the portmapper (a guard against
/// a configuration like `(prog, 0, u32::MAX)`).
const MAX_REGISTERED_VERSIONS: u32 = 16;

impl RpcServer {
    /// Creates a server; the portmapper table is pre-filled with the programs it serves
    /// (portmapper 100000 v2-4 on the portmap port, or the NFS port if there is none; NFS
    /// 100003 v3, MOUNT 100005 v3 and every external program on the NFS port; TCP and UDP).
    pub fn new(config: ServerConfig) -> Self {
        let mut registry = Registry::new();
        let host = answer_host(config.bind_addr);
        let pmap_port = if config.portmap_port != 0 {
            config.portmap_port
        } else {
            config.nfs_port
        };
        for v in PMAP_V2..=RPCBIND_V4 {
            registry.register_builtin(host, PMAP_PROGRAM, v, pmap_port);
        }
        registry.register_builtin(host, NFS_PROGRAM, NFS_V3, config.nfs_port);
        registry.register_builtin(host, MOUNT_PROGRAM, MOUNT_V3, config.nfs_port);
        for &(prog, low, high) in &config.external_programs {
            let high = high.min(low.saturating_add(MAX_REGISTERED_VERSIONS - 1));
            for v in low..=high {
                registry.register_builtin(host, prog, v, config.nfs_port);
            }
        }
        RpcServer {
            drc: DuplicateRequestCache::new(config.drc_entries),
            config,
            registry,
            mount: MountService::new(),
            mount_resolutions: mount_resolve::Resolutions::default(),
            conns: BTreeMap::new(),
            pending: BTreeMap::new(),
            external_pending: BTreeMap::new(),
            external_non_idempotent: BTreeSet::new(),
            next_fs_id: 0,
            transmits: VecDeque::new(),
            fs_requests: VecDeque::new(),
            events: VecDeque::new(),
            resumed: VecDeque::new(),
            wall_clock: None,
            stats: ServerStats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The portmapper table.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Counters.
    pub fn stats(&self) -> ServerStats {
        ServerStats {
            drc_hits: self.drc.hits(),
            drc_in_progress_drops: self.drc.in_progress_drops(),
            ..self.stats
        }
    }

    /// Marks procedures of an external program as non-idempotent: their calls go through
    /// the duplicate-request cache (a retransmission gets the cached reply instead of a
    /// second [`Event::Call`]). The reply is cached when it is sent with
    /// [`RpcServer::send_accepted_reply`].
    pub fn set_external_non_idempotent(&mut self, program: u32, procedures: &[u32]) {
        for &p in procedures {
            self.external_non_idempotent.insert((program, p));
        }
    }

    /// Bytes arrived on a TCP connection: consume every complete record from the front of
    /// `buf`, leaving a partial record in place.
    ///
    /// Every complete record is consumed, also beyond the in-flight limit (see the module
    /// documentation on back-pressure). After an [`Event::Close`] for this connection, input
    /// is discarded.
    pub fn handle_tcp_bytes(
        &mut self,
        now: Instant,
        conn: ConnId,
        peer: SocketAddr,
        buf: &mut BytesMut,
    ) {
        self.conn_entry(conn, Transport::Tcp);
        loop {
            let Some(state) = self.conns.get(&conn) else {
                return;
            };
            if state.closing {
                buf.clear();
                return;
            }
            match take_record(buf, self.config.max_record) {
                Ok(Some(record)) => self.handle_record(now, conn, peer, Transport::Tcp, record),
                Ok(None) => return,
                Err(e) => {
                    buf.clear();
                    self.close(conn, format!("record marking: {e}"));
                    return;
                }
            }
        }
    }

    /// One UDP datagram (one whole RPC message, no record marker) arrived.
    pub fn handle_datagram(&mut self, now: Instant, conn: ConnId, peer: SocketAddr, data: &[u8]) {
        self.conn_entry(conn, Transport::Udp);
        if data.len() > self.config.max_record {
            self.stats.dropped_datagrams += 1;
            return;
        }
        self.handle_record(
            now,
            conn,
            peer,
            Transport::Udp,
            Bytes::copy_from_slice(data),
        );
    }

    /// The runtime finished a file-system request.
    ///
    /// The reply is cached if the call was non-idempotent, and sent if its connection is
    /// still open; results for closed connections are dropped. A result of a LOOKUP the
    /// server asked for itself to resolve a MNT path (see `mount_resolve`) takes that MNT
    /// one step further instead; results for unknown ids are ignored.
    pub fn handle_fs_result(&mut self, _now: Instant, id: FsRequestId, mut reply: Nfs3Reply) {
        let Some(p) = self.pending.remove(&id) else {
            self.handle_mount_fs_result(id, reply);
            return;
        };
        if p.read_only_access {
            if let Nfs3Reply::Access(Nfs3Result::Ok(ok)) = &mut reply {
                ok.access &= !(ACCESS3_MODIFY | ACCESS3_EXTEND | ACCESS3_DELETE);
            }
        }
        let transport = self.release_slot(p.conn);
        // READ data (up to rtmax) stays in the result's buffer: only the head is encoded.
        let (wire, message) = encode_message(transport.unwrap_or(Transport::Udp), 512, |out| {
            put_success_header(out, p.xid);
            reply.encode_head(out)
        });
        if let Some(key) = p.drc_key {
            // Only non-idempotent calls are cached; none of them has a READ data tail, so
            // this is the head buffer itself, not a copy.
            self.drc.complete(key, message.to_bytes());
        }
        match transport {
            Some(_) => self.transmits.push_back(Transmit {
                conn: p.conn,
                peer: p.peer,
                data: wire,
                external_replay: false,
            }),
            None => self.stats.orphaned_replies += 1,
        }
    }

    /// The connection a file-system request came in on, while its result is outstanding.
    pub fn fs_request_conn(&self, id: FsRequestId) -> Option<ConnId> {
        self.pending.get(&id).map(|p| p.conn)
    }

    /// Forgets a file-system request that will not be executed (the core held it, and its
    /// connection closed): its slot is freed and its duplicate-request cache entry is
    /// dropped, so a retransmission (on a new connection) is executed instead of being
    /// dropped as in progress. No reply is sent. Unknown ids are ignored.
    pub fn abandon_fs_request(&mut self, id: FsRequestId) {
        let Some(p) = self.pending.remove(&id) else {
            return;
        };
        self.release_slot(p.conn);
        if let Some(key) = p.drc_key {
            self.drc.abandon(&key);
        }
    }

    /// Sends the reply body of an external program's call (see [`Event::Call`]) as a
    /// SUCCESS accepted reply.
    pub fn send_accepted_reply(&mut self, conn: ConnId, peer: SocketAddr, xid: u32, body: Bytes) {
        self.send_external_reply(conn, peer, xid, 64 + body.len(), |out| {
            put_success_header(out, xid);
            out.extend_from_slice(&body);
            None
        });
    }

    /// Refuses an external program's call (see [`Event::Call`]) at the RPC level, e.g.
    /// [`status::Refusal::GarbageArgs`] when its arguments do not decode or
    /// [`status::Refusal::ProcUnavail`] for a procedure the service does not implement.
    pub fn send_refusal(
        &mut self,
        conn: ConnId,
        peer: SocketAddr,
        xid: u32,
        refusal: status::Refusal,
    ) {
        self.stats.rpc_errors += 1;
        let msg = RpcMessage {
            xid,
            body: MessageBody::Reply(refusal.reply_body()),
        };
        self.send_external_reply(conn, peer, xid, 64, |out| {
            msg.encode(out);
            None
        });
    }

    /// An external program's call will not be answered (e.g. NLM `*_MSG` procedures, whose
    /// answer is a separate `*_RES` call): forget its duplicate-cache entry, so that a
    /// retransmission is handed over again instead of being dropped as in progress.
    pub fn finish_without_reply(&mut self, conn: ConnId, xid: u32) {
        if let Some(key) = self.external_pending.remove(&(conn, xid)) {
            self.drc.abandon(&key);
        }
    }

    fn send_external_reply(
        &mut self,
        conn: ConnId,
        peer: SocketAddr,
        xid: u32,
        capacity: usize,
        f: impl FnOnce(&mut BytesMut) -> Option<Bytes>,
    ) {
        let transport = self
            .conns
            .get(&conn)
            .filter(|c| !c.closing)
            .map(|c| c.transport);
        let (wire, message) = encode_message(transport.unwrap_or(Transport::Udp), capacity, f);
        if let Some(key) = self.external_pending.remove(&(conn, xid)) {
            self.drc.complete(key, message.to_bytes());
        }
        match transport {
            Some(_) => self.transmits.push_back(Transmit {
                conn,
                peer,
                data: wire,
                external_replay: false,
            }),
            None => self.stats.orphaned_replies += 1,
        }
    }

    /// Time passed: expire what is due. Nothing in the server is time-driven yet (the
    /// duplicate-request cache is bounded by size, not age); kept for the contract.
    pub fn handle_timeout(&mut self, _now: Instant) {}

    /// The wall clock: at `now`, it was `unix_secs` seconds since 1970-01-01 UTC. Used by
    /// RPCBIND GETTIME (extrapolated from `now`); call once at start and whenever the
    /// runtime notices the clock was set.
    pub fn handle_wall_clock(&mut self, now: Instant, unix_secs: u64) {
        self.wall_clock = Some((now, unix_secs));
    }

    /// The runtime closed (or lost) a connection: forget its pending state. Results of its
    /// outstanding file-system requests are still accepted and dropped (but cached).
    pub fn connection_closed(&mut self, conn: ConnId) {
        self.conns.remove(&conn);
        // MNT resolutions of this connection: their reply has nowhere to go.
        self.mount_resolutions.connection_closed(conn);
        // External calls of this connection can no longer be answered on it: let their
        // retransmissions (on a new connection) through instead of dropping them as in
        // progress.
        let drc = &mut self.drc;
        self.external_pending.retain(|(c, _), key| {
            if *c == conn {
                drc.abandon(key);
                false
            } else {
                true
            }
        });
        self.resumed.retain(|c| *c != conn);
    }

    /// Whether the runtime should read more from `conn` (false while it has
    /// `max_in_flight_per_conn` requests outstanding, or after it was told to close it).
    pub fn wants_read(&self, conn: ConnId) -> bool {
        self.conns
            .get(&conn)
            .is_none_or(|c| !c.closing && c.in_flight < self.max_in_flight())
    }

    /// Whether `conn` has calls the server is still working on: file-system requests
    /// (also those of a MNT path resolution) or external calls waiting in the
    /// duplicate-request cache for their reply. A runtime that must close a connection
    /// to admit another prefers one without (its client loses nothing but the
    /// connection, which it re-opens). External calls answered later through
    /// [`RpcServer::finish_without_reply`] are not seen here: their service holds them.
    pub fn has_calls_in_progress(&self, conn: ConnId) -> bool {
        self.conns.get(&conn).is_some_and(|c| c.in_flight > 0)
            || self.external_pending.keys().any(|(c, _)| *c == conn)
    }

    /// Next bytes to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Next file-system request.
    pub fn poll_fs_request(&mut self) -> Option<FsRequest> {
        self.fs_requests.pop_front()
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Next connection whose back-pressure lifted (`wants_read` turned true again): resume
    /// reading it. With an edge-triggered poller, try a read now: bytes or datagrams that
    /// arrived while it was paused are not reported again.
    pub fn poll_resumed(&mut self) -> Option<ConnId> {
        self.resumed.pop_front()
    }

    /// When `handle_timeout` should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn max_in_flight(&self) -> usize {
        self.config.max_in_flight_per_conn.max(1)
    }

    fn conn_entry(&mut self, conn: ConnId, transport: Transport) {
        self.conns.entry(conn).or_insert(ConnState {
            transport,
            in_flight: 0,
            closing: false,
        });
    }

    /// A request of `conn` finished: free its slot. Returns the connection's transport if
    /// a reply can still be sent on it.
    fn release_slot(&mut self, conn: ConnId) -> Option<Transport> {
        let max = self.max_in_flight();
        let c = self.conns.get_mut(&conn)?;
        let was_full = c.in_flight >= max;
        c.in_flight = c.in_flight.saturating_sub(1);
        if c.closing {
            return None;
        }
        if was_full && c.in_flight < max {
            self.resumed.push_back(conn);
        }
        Some(c.transport)
    }

    fn close(&mut self, conn: ConnId, reason: String) {
        if let Some(c) = self.conns.get_mut(&conn) {
            if c.closing {
                return;
            }
            c.closing = true;
        }
        self.stats.closes += 1;
        self.events.push_back(Event::Close { conn, reason });
    }
}

/// Encodes a message: for TCP with its record marker (written in place, no copy), for UDP
/// bare. `f` writes the message, except that it may return bulk data to follow it as the
/// body of the XDR opaque whose length word it wrote last (a READ's data, see
/// [`Nfs3Reply::encode_head`]): that data is sent as its own segment, not copied. Returns
/// the segments to send and the bare message (for the duplicate-request cache).
fn encode_message(
    transport: Transport,
    capacity: usize,
    f: impl FnOnce(&mut BytesMut) -> Option<Bytes>,
) -> (Segments, Segments) {
    let segments = |head: Bytes, tail: &Option<Bytes>| match tail {
        Some(data) => Segments::with_opaque_tail(head, data.clone()),
        None => Segments::single(head),
    };
    match transport {
        Transport::Udp => {
            let mut out = BytesMut::with_capacity(capacity);
            let tail = f(&mut out);
            let m = segments(out.freeze(), &tail);
            (m.clone(), m)
        }
        Transport::Tcp => {
            let mut out = BytesMut::with_capacity(capacity);
            out.extend_from_slice(&[0; 4]);
            let tail = f(&mut out);
            let tail_len = tail
                .as_ref()
                .map_or(0, |d| d.len() + crate::xdr::pad_len(d.len()));
            let len = out.len() - 4 + tail_len;
            if len <= MAX_FRAGMENT_LEN {
                let marker = record::RecordMarker {
                    last: true,
                    len: len as u32,
                };
                out[..4].copy_from_slice(&marker.to_bytes());
                let head = out.freeze();
                let message = segments(head.slice(4..), &tail);
                (segments(head, &tail), message)
            } else {
                // More than one fragment can carry (never for replies bounded by rtmax):
                // fragment a contiguous copy.
                let message = segments(out.freeze().slice(4..), &tail);
                let wire = Segments::single(record::record_bytes(&message.to_bytes()));
                (wire, message)
            }
        }
    }
}

/// The address RPCBIND answers with: the bind address, or loopback if it is unspecified
/// (see [`ServerConfig::bind_addr`]).
fn answer_host(bind: IpAddr) -> IpAddr {
    match bind {
        IpAddr::V4(a) if a.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    }
}
