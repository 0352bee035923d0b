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
//! THIS FILE IS THE CONTRACT between `proto-nfs` and `runtime-mio`. The type and method names
//! below are fixed; bodies and private fields are the implementer's.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use crate::nfs3::{FileHandle, Nfs3Call, Nfs3Reply};

/// Identifies one transport endpoint as the runtime sees it: a TCP connection, or a UDP
/// socket (then `peer` in each call tells the clients apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Which transport a connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    pub addr: std::net::IpAddr,
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
    pub bind_addr: std::net::IpAddr,
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
    /// The bytes, record marker included for TCP.
    pub data: Bytes,
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
    /// service and sends the reply with [`RpcServer::send_accepted_reply`].
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

/// The server state machine. See the module documentation for the drive order.
#[derive(Debug)]
pub struct RpcServer {
    _config: ServerConfig,
}

impl RpcServer {
    /// Creates a server.
    pub fn new(config: ServerConfig) -> Self {
        RpcServer { _config: config }
    }

    /// Bytes arrived on a TCP connection: consume every complete record from the front of
    /// `buf`, leaving a partial record in place.
    pub fn handle_tcp_bytes(
        &mut self,
        _now: Instant,
        _conn: ConnId,
        _peer: SocketAddr,
        _buf: &mut BytesMut,
    ) {
        unimplemented!("contract placeholder")
    }

    /// One UDP datagram (one whole RPC message, no record marker) arrived.
    pub fn handle_datagram(
        &mut self,
        _now: Instant,
        _conn: ConnId,
        _peer: SocketAddr,
        _data: &[u8],
    ) {
        unimplemented!("contract placeholder")
    }

    /// The runtime finished a file-system request.
    pub fn handle_fs_result(&mut self, _now: Instant, _id: FsRequestId, _reply: Nfs3Reply) {
        unimplemented!("contract placeholder")
    }

    /// Sends the reply body of an external program's call (see [`Event::Call`]) as a
    /// SUCCESS accepted reply.
    pub fn send_accepted_reply(
        &mut self,
        _conn: ConnId,
        _peer: SocketAddr,
        _xid: u32,
        _body: Bytes,
    ) {
        unimplemented!("contract placeholder")
    }

    /// Time passed: expire what is due.
    pub fn handle_timeout(&mut self, _now: Instant) {}

    /// The runtime closed (or lost) a connection: forget its pending state. Results of its
    /// outstanding file-system requests are still accepted and dropped.
    pub fn connection_closed(&mut self, _conn: ConnId) {}

    /// Whether the runtime should read more from `conn` (false while it has
    /// `max_in_flight_per_conn` requests outstanding).
    pub fn wants_read(&self, _conn: ConnId) -> bool {
        true
    }

    /// Next bytes to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        None
    }

    /// Next file-system request.
    pub fn poll_fs_request(&mut self) -> Option<FsRequest> {
        None
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        None
    }

    /// When `handle_timeout` should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}
