//! The per-connection SMB 2/3 server machine (MS-SMB2 §3.3), sans-IO.
//!
//! [`Connection`] ties this crate's codecs and crypto into one server connection. It owns
//! NBSS framing with its size limits, SMB1→SMB2 negotiate upgrade, NEGOTIATE (with the
//! 3.1.1 contexts), SESSION_SETUP (SPNEGO + NTLMv2, guest, reauthentication), LOGOFF, key
//! derivation, signing and encryption both ways, credits and the message-id window,
//! compound chains (related and unrelated), ECHO, TREE_CONNECT / TREE_DISCONNECT,
//! FSCTL_VALIDATE_NEGOTIATE_INFO, CANCEL and async (interim) responses. Every other command
//! (CREATE, CLOSE, READ, WRITE, QUERY_*, SET_INFO, CHANGE_NOTIFY, LOCK, other IOCTLs,
//! FLUSH, OPLOCK_BREAK acknowledgments) is handed to the upper layer as a decoded [`Call`]
//! with its context; the upper layer answers with a [`Reply`] and the machine frames,
//! signs or encrypts, grants credits and assembles compound responses.
//!
//! # Driving it (the quinn-proto shape)
//!
//! - Getters: [`Connection::dialect`], [`Connection::wants_read`], [`Connection::is_closed`],
//!   [`Connection::session_count`].
//! - Inputs: [`Connection::handle_bytes`] (bytes from the TCP stream and the wall time as a
//!   FILETIME: the NEGOTIATE response and the NTLM challenge carry it),
//!   [`Connection::handle_reply`] (the upper layer's answer to a call),
//!   [`Connection::go_async`] (the upper layer turns a call async: the machine sends the
//!   STATUS_PENDING interim response, MS-SMB2 §3.3.4.2).
//! - Outputs, drained after **every** input until they return `None`:
//!   [`Connection::poll_event`] (calls, cancellations, closed sessions and trees, in the
//!   order they happened), [`Connection::poll_transmit`] (NBSS-framed bytes to write, in
//!   order), [`Connection::poll_close`] (the connection must be closed, and why).
//!
//! - Mutators: [`Connection::handle_connection_lost`] (the transport is gone: every session
//!   and tree is reported closed).
//!
//! ```
//! use proto_smb2::server::{Connection, Event, Reply, ServerConfig, Share, ShareKind, UserMap};
//! use proto_smb2::NtStatus;
//! use std::sync::Arc;
//!
//! let users = UserMap::default().with_password("alice", "secret", 1000, 1000);
//! let share = Share { name: "export".into(), id: 1, kind: ShareKind::Disk, read_only: false,
//!     guest_ok: false, encrypt: Default::default(), signing_required: false };
//! let config = Arc::new(ServerConfig::new([1; 16], vec![share], Arc::new(users)));
//! let mut conn = Connection::new(config, [0x42; 32]); // the seed comes from the OS
//! # let bytes_from_socket: &[u8] = &[];
//! # let wall_time_filetime = 0;
//! conn.handle_bytes(bytes_from_socket, wall_time_filetime);
//! while let Some(ev) = conn.poll_event() {
//!     if let Event::Call(call) = ev {
//!         // The core runs the file operation (possibly later, possibly after
//!         // `go_async`) and answers:
//!         conn.handle_reply(call.id, Reply::error(NtStatus::NOT_SUPPORTED)).unwrap();
//!     }
//! }
//! while let Some(bytes) = conn.poll_transmit() { /* write to the socket */ }
//! if let Some(reason) = conn.poll_close() { /* log `reason`, close the socket */ }
//! ```
//!
//! The machine reads no clock and draws no randomness of its own: the runtime hands it a
//! 32-byte seed at creation ([`Rng`]) and the wall time with each input. It has no timers:
//! idle connections and sessions that never finish authenticating are bounded by count
//! ([`Limits`]) here, and by the upper layer's deadlines (Janus: the record deadline of a
//! partial frame, [`Connection::has_partial_frame`], and a logon deadline).
//!
//! A runtime that buffers what it reads asks [`Connection::hand_over_at`] how much to
//! gather first: the rest of the NBSS frame in progress, counted from the frame's start
//! even when the machine already holds part of it.
//!
//! Memory is bounded: frames over the limit in force (smaller before any session is
//! authenticated) close the connection before their body is buffered; at most
//! [`Limits::max_calls`] calls wait for the upper layer and at most
//! [`Limits::max_queued_bytes`] wait for the runtime, beyond which [`Connection::wants_read`]
//! is false; sessions, trees, compound length and async operations have their own limits.

mod config;
mod connection;
mod rng;
mod setup;

pub use config::{
    EncryptPolicy, Limits, ServerConfig, Share, ShareKind, UserEntry, UserLookup, UserMap,
};
pub use connection::{Connection, Seal, Unseal, Unsealed};
pub use rng::Rng;

use crate::cmd::{ErrorResponse, Request};
use crate::header::{Command, Header};
use crate::status::NtStatus;
use std::sync::Arc;

/// Wall time as a FILETIME: 100 ns units since 1601-01-01 UTC.
pub type FileTime = u64;

/// Identifies a call handed to the upper layer until it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallId(pub u64);

/// Who a session is: what the upper layer runs file operations as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user name as the client spelled it ("guest" for guest sessions).
    pub user: String,
    /// The domain the client named.
    pub domain: String,
    /// Unix uid.
    pub uid: u32,
    /// Unix gid.
    pub gid: u32,
    /// A guest session (SMB2_SESSION_FLAG_IS_GUEST): an unknown user mapped to the guest
    /// identity; it may only use shares with `guest_ok`.
    pub guest: bool,
}

/// Where a call sits in its compound chain (MS-SMB2 §3.3.5.2.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompoundPosition {
    /// Index in the chain (0 for a lone request).
    pub index: usize,
    /// Messages in the chain.
    pub count: usize,
    /// The request is a related operation (its ids were inherited, §3.3.5.2.7.2).
    pub related: bool,
}

/// A request for the upper layer, with everything it needs to answer it.
#[derive(Debug, Clone)]
pub struct Call {
    /// What to pass to [`Connection::handle_reply`] / [`Connection::go_async`].
    pub id: CallId,
    /// The decoded request. In a related chain, a FileId of all ones is already replaced
    /// by the FileId of the previous operation (§3.3.5.2.7.2).
    pub request: Request,
    /// The request's header as received.
    pub header: Header,
    /// The session (inherited in a related chain).
    pub session_id: u64,
    /// The session's user.
    pub identity: Arc<Identity>,
    /// The tree connect (inherited in a related chain).
    pub tree_id: u32,
    /// The tree's share.
    pub share: Arc<Share>,
    /// The connection's dialect.
    pub dialect: u16,
    /// CreditCharge of the request (already checked against its payload, §3.3.5.2.5).
    pub credit_charge: u16,
    /// The request's signature was verified.
    pub signed: bool,
    /// The request arrived encrypted.
    pub encrypted: bool,
    /// Its place in a compound chain.
    pub compound: CompoundPosition,
}

impl Call {
    /// The command.
    pub fn command(&self) -> Command {
        self.header.command
    }

    /// The MessageId.
    pub fn message_id(&self) -> u64 {
        self.header.message_id
    }
}

/// Bytes a [`Reply::Framed`] buffer keeps before the body: the NBSS header (4), a
/// TRANSFORM_HEADER (52, MS-SMB2 §2.2.41) and the SMB2 header (64).
pub const REPLY_HEADROOM: usize = crate::nbss::NBSS_HEADER_LEN
    + crate::crypto::transform::TRANSFORM_HEADER_LEN
    + crate::header::HEADER_LEN;

/// The upper layer's answer to a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The command's own response body (what follows the header): for success and for
    /// the warnings and errors that keep it (STATUS_BUFFER_OVERFLOW, ...).
    Body {
        /// The header's Status.
        status: NtStatus,
        /// The body, encoded with this crate's response codecs.
        body: Vec<u8>,
    },
    /// [`Reply::Body`] with the body in `buf` after [`REPLY_HEADROOM`] bytes of room: the
    /// machine writes the SMB2, transform and NBSS headers into that room and signs or
    /// encrypts the message where it lies, so a large body (a READ's data, read by a
    /// worker straight into the buffer) is never copied on its way to the socket. A `buf`
    /// shorter than the room stands for an empty body.
    Framed {
        /// The header's Status.
        status: NtStatus,
        /// [`REPLY_HEADROOM`] bytes of any value, then the body.
        buf: Vec<u8>,
    },
    /// An ERROR response (MS-SMB2 §2.2.2, §3.3.4.4).
    Error {
        /// The header's Status.
        status: NtStatus,
        /// Its data (empty for most errors).
        error: ErrorResponse,
    },
}

impl Reply {
    /// A successful response with `body`.
    pub fn ok(body: Vec<u8>) -> Reply {
        Reply::Body {
            status: NtStatus::SUCCESS,
            body,
        }
    }

    /// An ERROR response with no data.
    pub fn error(status: NtStatus) -> Reply {
        Reply::Error {
            status,
            error: ErrorResponse::empty(),
        }
    }

    /// The status.
    pub fn status(&self) -> NtStatus {
        match self {
            Reply::Body { status, .. }
            | Reply::Framed { status, .. }
            | Reply::Error { status, .. } => *status,
        }
    }
}

/// What the machine tells the upper layer.
#[derive(Debug, Clone)]
pub enum Event {
    /// A request to answer with [`Connection::handle_reply`].
    Call(Box<Call>),
    /// The client cancelled this call (MS-SMB2 §3.3.5.16): answer it soon, with
    /// STATUS_CANCELLED unless it already completed.
    Cancel(CallId),
    /// A session finished its first authentication. `previous_session_id` is the
    /// client's PreviousSessionId: MS-SMB2 §3.3.5.5.3 has the server end that session
    /// (of the same user, on any connection), which only the upper layer can find.
    SessionEstablished {
        /// The new session.
        session_id: u64,
        /// Its user.
        identity: Arc<Identity>,
        /// PreviousSessionId of the SESSION_SETUP request (0: none).
        previous_session_id: u64,
    },
    /// A session ended (LOGOFF, failed reauthentication): close its opens.
    SessionClosed {
        /// The session.
        session_id: u64,
    },
    /// A tree connect ended (TREE_DISCONNECT, or its session ended first): close its opens.
    TreeClosed {
        /// The session.
        session_id: u64,
        /// The tree.
        tree_id: u32,
    },
}

/// Why the machine closes the connection (each case is a disconnect in MS-SMB2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloseReason {
    /// The NBSS stream cannot be framed: bad type byte or a frame over the limit.
    #[error("NBSS framing: {0}")]
    Framing(#[from] crate::nbss::FrameError),
    /// A message that is not SMB2 (§3.3.5.2: wrong ProtocolId, shorter than a header).
    #[error("not an SMB2 message: {0}")]
    NotSmb2(crate::error::DecodeError),
    /// A compound chain that cannot be split (§3.3.5.2.7).
    #[error("malformed compound chain: {0}")]
    Compound(crate::error::DecodeError),
    /// A request before NEGOTIATE, an SMB1 message after it, or a second NEGOTIATE
    /// (§3.3.5.2, §3.3.5.3.1, §3.3.5.4).
    #[error("{0} in the wrong negotiation state")]
    NegotiationState(&'static str),
    /// An SMB1 NEGOTIATE offering no SMB2 dialect (§3.3.5.3.1).
    #[error("SMB1 negotiate without an SMB2 dialect")]
    NoSmb2Dialect,
    /// A message id not in the CommandSequenceWindow (§3.3.5.2.3).
    #[error("message id {0} outside the credit window")]
    MessageId(u64),
    /// A transform that does not decrypt, or names an unknown session (§3.3.5.2.1.1).
    #[error("decryption failed: {0}")]
    Decrypt(&'static str),
    /// FSCTL_VALIDATE_NEGOTIATE_INFO found a mismatch (§3.3.5.15.12).
    #[error("VALIDATE_NEGOTIATE_INFO mismatch: {0}")]
    ValidateNegotiate(&'static str),
    /// A request with the response flag set.
    #[error("request with SMB2_FLAGS_SERVER_TO_REDIR")]
    ResponseFlag,
    /// The peer kept sending while the machine asked it not to (`wants_read` false) and
    /// the buffered input passed its bound.
    #[error("input buffer over its limit")]
    InputOverLimit,
    /// The runtime reported the transport gone ([`Connection::handle_connection_lost`]).
    #[error("connection lost")]
    ConnectionLost,
    /// A session ran out of encryption nonces (2^64 messages).
    #[error("nonce space exhausted")]
    NonceExhausted,
}

/// Why [`Connection::handle_reply`] refused an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// No such call (never handed out, already answered, or the connection closed).
    #[error("unknown call {0:?}")]
    UnknownCall(CallId),
}

/// Why [`Connection::send_break`] refused a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BreakError {
    /// NEGOTIATE has not completed.
    #[error("connection not negotiated")]
    NotNegotiated,
    /// The connection is closing or lost.
    #[error("connection closed")]
    Closed,
    /// A lease break on a 2.0.2 connection (no leases there).
    #[error("no leases on SMB 2.0.2")]
    NoLeases,
    /// An acknowledgment or response layout, not a notification.
    #[error("not a break notification")]
    NotANotification,
}

/// Why [`Connection::go_async`] refused to turn a call async; the upper layer then
/// answers it synchronously.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AsyncError {
    /// No such call.
    #[error("unknown call {0:?}")]
    UnknownCall(CallId),
    /// The call is async already.
    #[error("call is already async")]
    AlreadyAsync,
    /// Only the last request of a compound chain may go async here: its interim response
    /// then travels with the responses before it.
    #[error("only the last request of a compound chain may go async")]
    NotLastInChain,
    /// [`Limits::max_async`] operations are pending.
    #[error("too many async operations")]
    TooMany,
}
