//! Every mapping from "what went wrong" to "what goes on the wire", in one place.
//!
//! - [`Refusal`] → an RPC reply that is not SUCCESS (RFC 5531 §9: `accept_stat`,
//!   `reject_stat`, `auth_stat`).
//! - [`HeaderError`] → refuse with a reply, or give up on the message (close a TCP
//!   connection / drop a UDP datagram).
//! - [`ArgsError`] and [`PortmapRefusal`] → [`Refusal`].
//! - [`NfsRefusal`] → `nfsstat3` (RFC 1813 §2.6) for checks the server makes before the
//!   file system sees a call.

use crate::nfs3::Nfs3Status;
use crate::portmap::service::PortmapRefusal;
use crate::rpc::message::{AcceptStat, HeaderError, RejectedReply, ReplyBody, RPC_VERSION};
use crate::rpc::{AcceptedReply, ArgsError, AuthStat, OpaqueAuth};

/// An RPC-level refusal of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// RPC version is not 2.
    RpcMismatch,
    /// Authentication failed.
    Auth(AuthStat),
    /// Program not served.
    ProgUnavail,
    /// Program served, version not: the served range.
    ProgMismatch {
        /// Lowest version.
        low: u32,
        /// Highest version.
        high: u32,
    },
    /// Procedure not defined or refused.
    ProcUnavail,
    /// Arguments malformed.
    GarbageArgs,
    /// The server cannot execute the call now.
    SystemErr,
}

impl Refusal {
    /// The reply body that carries this refusal.
    pub fn reply_body(self) -> ReplyBody {
        let accepted = |stat| {
            ReplyBody::Accepted(AcceptedReply {
                verf: OpaqueAuth::none(),
                stat,
            })
        };
        match self {
            Refusal::RpcMismatch => ReplyBody::Denied(RejectedReply::RpcMismatch {
                low: RPC_VERSION,
                high: RPC_VERSION,
            }),
            Refusal::Auth(s) => ReplyBody::Denied(RejectedReply::AuthError(s)),
            Refusal::ProgUnavail => accepted(AcceptStat::ProgUnavail),
            Refusal::ProgMismatch { low, high } => accepted(AcceptStat::ProgMismatch { low, high }),
            Refusal::ProcUnavail => accepted(AcceptStat::ProcUnavail),
            Refusal::GarbageArgs => accepted(AcceptStat::GarbageArgs),
            Refusal::SystemErr => accepted(AcceptStat::SystemErr),
        }
    }
}

impl From<ArgsError> for Refusal {
    fn from(e: ArgsError) -> Self {
        match e {
            ArgsError::NoSuchProcedure => Refusal::ProcUnavail,
            ArgsError::Garbage(_) => Refusal::GarbageArgs,
        }
    }
}

impl From<PortmapRefusal> for Refusal {
    fn from(e: PortmapRefusal) -> Self {
        match e {
            PortmapRefusal::ProcUnavail | PortmapRefusal::RemoteUdpDump => Refusal::ProcUnavail,
            PortmapRefusal::NoClock => Refusal::SystemErr,
        }
    }
}

/// What to do with a message whose header could not be accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderAction {
    /// Answer `xid` with this refusal.
    Refuse(u32, Refusal),
    /// Nothing can be answered: close the TCP connection / drop the datagram.
    GiveUp(String),
}

impl From<HeaderError> for HeaderAction {
    fn from(e: HeaderError) -> Self {
        match e {
            HeaderError::RpcMismatch { xid, .. } => HeaderAction::Refuse(xid, Refusal::RpcMismatch),
            HeaderError::BadCred { xid } => {
                HeaderAction::Refuse(xid, Refusal::Auth(AuthStat::BadCred))
            }
            HeaderError::BadVerf { xid } => {
                HeaderAction::Refuse(xid, Refusal::Auth(AuthStat::BadVerf))
            }
            e @ (HeaderError::Unparseable(_) | HeaderError::NotACall { .. }) => {
                HeaderAction::GiveUp(e.to_string())
            }
        }
    }
}

/// NFS-level refusals the server decides before the file system sees a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NfsRefusal {
    /// A handle is not one of Janus's (wrong length or layout).
    BadHandle,
    /// A handle names a share that does not exist (any more).
    Stale,
    /// The client is outside the export's networks.
    Acces,
    /// A modifying call on a read-only export.
    ReadOnly,
    /// A call whose handles name two different shares (RENAME, LINK).
    CrossShare,
}

impl NfsRefusal {
    /// The `nfsstat3` for it.
    pub fn status(self) -> Nfs3Status {
        match self {
            NfsRefusal::BadHandle => Nfs3Status::BadHandle,
            NfsRefusal::Stale => Nfs3Status::Stale,
            NfsRefusal::Acces => Nfs3Status::Acces,
            NfsRefusal::ReadOnly => Nfs3Status::RoFs,
            NfsRefusal::CrossShare => Nfs3Status::XDev,
        }
    }
}
