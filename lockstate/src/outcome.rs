//! What the table answers: outcomes of operations, events it emits, and how a conflicting
//! holder is described to each protocol.
//!
//! The outcomes are protocol-neutral; each protocol maps them to its own status codes
//! (docs/cross-protocol.md §4.2/§4.3 cells): e.g. [`Deny::Conflict`] is NLM4_DENIED to NLM,
//! STATUS_LOCK_NOT_GRANTED to SMB LOCK, STATUS_FILE_LOCK_CONFLICT to SMB READ/WRITE and
//! NFS3ERR_ACCES to NFS I/O (O9).

use std::sync::Arc;
use std::time::Instant;

use crate::types::{
    CacheKey, ClientGuid, FileId, LeaseState, LeaseVersion, LockRange, NlmOwner, OpenId,
    OplockLevel, Span, Ticket, NLM_MAX_OFFSET,
};

/// The answer to an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The operation may go ahead (or, for lock/unlock/share, has taken effect).
    Proceed,
    /// An SMB CREATE succeeded; the open is registered with this caching state.
    Opened(OpenGrant),
    /// The operation is refused.
    Deny(Deny),
    /// The operation waits; its final outcome arrives as [`Event::Completed`] with this
    /// ticket (or [`Event::HoldExpired`] first for bounded NFS/NLM waits).
    Wait(Wait),
}

impl Outcome {
    /// True for [`Outcome::Proceed`] and [`Outcome::Opened`].
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Proceed | Outcome::Opened(_))
    }
    /// The ticket, if the outcome is a wait.
    pub fn ticket(&self) -> Option<Ticket> {
        match self {
            Outcome::Wait(w) => Some(w.ticket),
            _ => None,
        }
    }
}

/// What an SMB CREATE was granted (MS-SMB2 3.3.5.9.8/.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenGrant {
    /// The open.
    pub open: OpenId,
    /// Lease granted, if a lease was requested.
    pub lease: Option<LeaseGrant>,
    /// Oplock level granted, if an oplock (not a lease) was requested.
    pub oplock: Option<OplockLevel>,
}

/// A lease as reported in the CREATE response lease context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseGrant {
    /// Current lease state (MS-SMB2 2.2.14.2.10 LeaseState).
    pub state: LeaseState,
    /// Lease epoch (v2; 0 for v1).
    pub epoch: u16,
    /// SMB2_LEASE_FLAG_BREAK_IN_PROGRESS: a same-key open during a break (MS-SMB2 3.3.1.4).
    pub break_in_progress: bool,
    /// The lease's version, fixed when it was created: every CREATE response for the key
    /// uses its layout, whatever version a later request used (smbtorture
    /// smb2.lease.v2_epoch2/3), and v2 echoes its parent key.
    pub version: LeaseVersion,
}

/// Why an operation is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deny {
    /// A byte-range lock conflicts. NLM: NLM4_DENIED (TEST reports the holder); SMB LOCK:
    /// STATUS_LOCK_NOT_GRANTED; SMB READ/WRITE: STATUS_FILE_LOCK_CONFLICT; NFS: NFS3ERR_ACCES.
    Conflict(Holder),
    /// A share mode conflicts (after H was broken, O5). SMB: STATUS_SHARING_VIOLATION; NFS:
    /// NFS3ERR_ACCES; NLM SHARE: NLM4_DENIED.
    SharingViolation(Holder),
    /// Rename over a target that still has opens without a lease to break (MS-FSA
    /// 2.1.5.15.12): SMB STATUS_ACCESS_DENIED, NFS NFS3ERR_ACCES.
    AccessDenied,
    /// Granting the wait would close a cycle in the wait-for graph: NLM4_DEADLCK.
    Deadlock,
    /// A configured bound (locks or waiters) is reached: NLM4_DENIED_NOLOCKS,
    /// STATUS_INSUFFICIENT_RESOURCES.
    NoLocks,
    /// Grace period: a non-reclaim request on state still being reclaimed, or a reclaim
    /// outside grace: NLM4_DENIED_GRACE_PERIOD.
    GracePeriod,
    /// Grace period for NFS (no GRACE error in NFSv3): NFS3ERR_JUKEBOX, retry later.
    RetryLater,
    /// SMB unlock of a range not locked exactly by this open: STATUS_RANGE_NOT_LOCKED.
    RangeNotLocked,
    /// The range is invalid: NLM4_FBIG (past 2^63-1) or STATUS_INVALID_LOCK_RANGE (wraps).
    InvalidRange,
    /// The SMB open is not known to the table (or already known, for a create):
    /// STATUS_INVALID_HANDLE / STATUS_INVALID_PARAMETER.
    UnknownOpen,
    /// The lease key is already in use by this client on another file: MS-SMB2 3.3.5.9.8
    /// STATUS_INVALID_PARAMETER.
    LeaseKeyInUse,
    /// A pending request was cancelled (SMB2 CANCEL, close of its open): STATUS_CANCELLED.
    Cancelled,
}

/// A waiting operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    /// Identifies the completion.
    pub ticket: Ticket,
    /// What it waits for.
    pub reason: WaitReason,
    /// For NFS and NLM waits on a break: when the protocol stops holding the reply
    /// (`T_nfs`/`T_nlm`, docs/cross-protocol.md §6). [`Event::HoldExpired`] fires then.
    pub hold_until: Option<Instant>,
}

/// What a waiter waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitReason {
    /// A conflicting byte-range lock (NLM: NLM4_BLOCKED now and NLM_GRANTED later; SMB:
    /// STATUS_PENDING).
    Lock(Holder),
    /// An acknowledgment (or timeout) of a lease/oplock break the operation caused.
    Break,
    /// State that is still being reclaimed in the grace period (SMB: STATUS_PENDING).
    Grace,
}

/// A conflicting holder, described protocol-neutrally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Who holds it.
    pub who: HolderKind,
    /// True for an exclusive lock, a W lease, or a share mode that denies everything asked.
    pub exclusive: bool,
    /// The range held (whole file for leases, opens and share reservations).
    pub span: Span,
}

/// Who holds conflicting state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HolderKind {
    /// An NLM lock owner or NLM SHARE reservation.
    Nlm(Arc<NlmOwner>),
    /// An SMB open (a lock, or a share mode).
    Smb {
        /// The client.
        client: ClientGuid,
        /// The open.
        open: OpenId,
    },
    /// An SMB lease or oplock.
    Lease {
        /// The client.
        client: ClientGuid,
        /// The lease/oplock.
        key: CacheKey,
    },
    /// State persisted before a restart and not reclaimed yet.
    Unreclaimed,
}

/// A holder as NLM4 `nlm4_holder` carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NlmHolder {
    /// `caller_name` of the holder (`smb:<client guid hex>` for SMB holders). `nlm4_holder`
    /// has no caller_name on the wire; it is here for logs and the admin view.
    pub caller_name: Vec<u8>,
    /// `svid` (0 for SMB holders, docs/cross-protocol.md §4.4 O8).
    pub svid: i32,
    /// `oh`: the NLM owner handle, or `smb:<client guid hex>` for SMB holders so the NLM
    /// client can see who holds the range (docs/cross-protocol.md §4.4 O8).
    pub oh: Vec<u8>,
    /// `l_offset`, clamped to 2^63-1.
    pub offset: u64,
    /// `l_len`, 0 = to end of file.
    pub len: u64,
    /// `exclusive`.
    pub exclusive: bool,
}

impl Holder {
    pub(crate) fn whole(who: HolderKind, exclusive: bool) -> Holder {
        Holder {
            who,
            exclusive,
            span: Span::range(LockRange::whole_file()),
        }
    }

    /// The holder translated for an NLM TEST reply (docs/cross-protocol.md §4.4 O8): an SMB
    /// holder is reported as caller and oh `smb:<client>`, svid 0; the range is clamped
    /// to NLM limits (whole file for a lease or open); exclusive iff it holds W or an
    /// exclusive lock. A zero-length SMB lock at `o` guards the boundary between bytes
    /// `o-1` and `o`, so it is reported as `(o-1, 2)`.
    pub fn to_nlm(&self) -> NlmHolder {
        let (caller_name, svid, oh) = match &self.who {
            HolderKind::Nlm(o) => (o.caller_name.clone(), o.svid, o.oh.clone()),
            HolderKind::Smb { client, .. } | HolderKind::Lease { client, .. } => {
                let name = format!("smb:{client}").into_bytes();
                (name.clone(), 0, name)
            }
            HolderKind::Unreclaimed => (b"grace:unreclaimed".to_vec(), 0, Vec::new()),
        };
        let (offset, len) = if self.span.zero {
            let o = self.span.first.min(NLM_MAX_OFFSET);
            (o.saturating_sub(1), 2)
        } else {
            self.span.as_range().to_nlm()
        };
        NlmHolder {
            caller_name,
            svid,
            oh,
            offset,
            len,
            exclusive: self.exclusive,
        }
    }
}

/// An SMB lease or oplock break to send (MS-SMB2 3.3.4.7 / 2.2.23.1 / 2.2.23.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakNotice {
    /// The file.
    pub file: FileId,
    /// The lease (send a Lease Break Notification) or oplock (send an Oplock Break
    /// Notification with level [`OplockLevel::from_lease`] of `to`).
    pub key: CacheKey,
    /// The client to send it to (any connection of that client).
    pub client: ClientGuid,
    /// CurrentLeaseState.
    pub from: LeaseState,
    /// NewLeaseState (break-to).
    pub to: LeaseState,
    /// NewEpoch (v2 leases; 0 for v1 and oplocks).
    pub epoch: u16,
    /// SMB2_NOTIFY_BREAK_LEASE_FLAG_ACK_REQUIRED; false for breaks from R (R→NONE) and
    /// Level II, which need no acknowledgment.
    pub ack_required: bool,
}

/// Something the protocols must act on, drained with
/// [`LockTable::poll_event`](crate::LockTable::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Send a break notification.
    Break(BreakNotice),
    /// A waiting operation finished. For NLM blocked locks a `Proceed` here means the lock
    /// is now held: send NLM_GRANTED. For SMB it completes the pending request.
    Completed {
        /// The waiter.
        ticket: Ticket,
        /// Its file.
        file: FileId,
        /// The final outcome (never `Wait`).
        outcome: Outcome,
    },
    /// A bounded hold ran out (`T_nfs`/`T_nlm`). NFS: answer NFS3ERR_JUKEBOX. NLM: answer
    /// NLM4_BLOCKED if `still_waiting` (a blocking lock that stays queued), else drop the
    /// reply so the client retransmits (O4).
    HoldExpired {
        /// The waiter.
        ticket: Ticket,
        /// Its file.
        file: FileId,
        /// True if the waiter stays queued (blocking NLM LOCK).
        still_waiting: bool,
    },
    /// The grace period ended (early or at its deadline); unreclaimed state was dropped.
    GraceEnded,
}

/// Why a break acknowledgment was rejected (MS-SMB2 3.3.5.22.1/.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// No such lease or oplock: STATUS_OBJECT_NAME_NOT_FOUND (lease) / STATUS_INVALID_HANDLE.
    #[error("no such lease or oplock")]
    NotFound,
    /// The lease is not breaking: STATUS_UNSUCCESSFUL (oplock: STATUS_INVALID_DEVICE_STATE).
    #[error("not breaking")]
    NotBreaking,
    /// The break already timed out and was treated as acknowledged to NONE; the late ack is
    /// answered like [`AckError::NotBreaking`] (docs/architecture.md lesson 10).
    #[error("break timed out and was revoked to NONE")]
    TimedOut,
    /// The acknowledged state has bits outside the break-to state:
    /// STATUS_REQUEST_NOT_ACCEPTED (oplock: STATUS_INVALID_OPLOCK_PROTOCOL).
    #[error("acknowledged state not within the break-to state")]
    NotSubset,
}
