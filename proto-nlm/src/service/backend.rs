//! What the NLM service needs from the lock table, in NLM terms.
//!
//! The lock decisions themselves (POSIX ranges, conflicts across protocols, waiters, deadlock
//! detection, grace and reclaim checks) belong to `lockstate`, which is shared with SMB and owned
//! by the runtime's event loop. The service borrows it for each input through [`LockBackend`]; the
//! adapter that implements it for `lockstate::LockTable` is the one place where the table's
//! protocol-neutral outcomes become `nlm4_stats` (docs/cross-protocol.md §3.1, §4.2 cells, §5).
//! Handles are resolved through [`FileHandles`], which the runtime implements over its
//! file-system backend.

use std::time::Instant;

use crate::wire::{FshAccess, FshMode, Nlm4Holder, Nlm4Stats};

pub use lockstate::{FileId, Ticket as WaitTicket};

/// An NLM lock owner: (caller_name, svid, oh) (docs/cross-protocol.md §3.5; XNFS `nlm_lock`). The
/// caller_name is also the host whose reboot (SM_NOTIFY) or FREE_ALL frees the owner's state.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Owner {
    /// The client's `caller_name`.
    pub caller_name: bytes::Bytes,
    /// The client's `svid`.
    pub svid: i32,
    /// The owner handle `oh`.
    pub oh: bytes::Bytes,
}

/// A lock (or test) request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockRequest {
    /// The file.
    pub file: FileId,
    /// Who asks.
    pub owner: Owner,
    /// `l_offset`.
    pub offset: u64,
    /// `l_len` (0 = to end of file).
    pub len: u64,
    /// Exclusive (write) or shared (read).
    pub exclusive: bool,
    /// Willing to wait (NLM4_BLOCKED then GRANTED callback).
    pub block: bool,
    /// A reclaim after a server restart.
    pub reclaim: bool,
}

/// The table's answer to a LOCK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockDecision {
    /// The lock is held now: NLM4_GRANTED.
    Granted,
    /// Refused: NLM4_DENIED, DENIED_NOLOCKS, DENIED_GRACE_PERIOD, DEADLCK, FBIG, ...
    Refused(Nlm4Stats),
    /// Queued behind a conflicting lock (only for `block`): answer NLM4_BLOCKED; the grant
    /// comes later as [`BackendEvent::Granted`].
    Blocked(WaitTicket),
    /// Waiting on something short (an SMB lease break): hold the reply until an event for
    /// this ticket arrives (docs/cross-protocol.md §4.4 O4).
    Held(WaitTicket),
}

/// The table's answer to a TEST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestDecision {
    /// No conflict: NLM4_GRANTED.
    Free,
    /// A conflicting holder: NLM4_DENIED with the holder (SMB holders as `smb:<client>`).
    Conflict(Nlm4Holder),
    /// Refused for another reason (DENIED_GRACE_PERIOD, FBIG, ...).
    Refused(Nlm4Stats),
    /// Not answerable yet (an SMB W lease is being broken so its cached locks become
    /// visible, docs/cross-protocol.md §4.4 O6/O8): no reply; the client retransmits (O4).
    NotYet,
}

/// The table's answer to a SHARE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareDecision {
    /// Answered: NLM4_GRANTED, NLM4_DENIED (sharing conflict), DENIED_GRACE_PERIOD, ...
    Done(Nlm4Stats),
    /// Not answerable yet (a lease break must finish first): no reply; the client
    /// retransmits (O4).
    NotYet,
}

/// Something the table decided later about a waiting NLM request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendEvent {
    /// The waiting lock is now held by its owner.
    Granted(WaitTicket),
    /// The waiting request ended without the lock (deadlock found later, cancelled, owner
    /// freed, ...).
    Refused(WaitTicket, Nlm4Stats),
    /// A held request's hold time ran out. `still_waiting`: a blocking LOCK stays queued
    /// (answer NLM4_BLOCKED now); otherwise the request is dropped (drop the reply so the
    /// client retransmits, O4).
    HoldExpired {
        /// The request.
        ticket: WaitTicket,
        /// Whether it stays queued.
        still_waiting: bool,
    },
}

/// The lock decisions the NLM service asks for.
pub trait LockBackend {
    /// LOCK / NM_LOCK.
    fn lock(&mut self, now: Instant, req: &LockRequest) -> LockDecision;
    /// TEST (no state change).
    fn test(&mut self, now: Instant, req: &LockRequest) -> TestDecision;
    /// UNLOCK of a range (unheld ranges succeed, POSIX). NLM4_GRANTED, or the refusal.
    fn unlock(
        &mut self,
        now: Instant,
        file: FileId,
        owner: &Owner,
        offset: u64,
        len: u64,
    ) -> Nlm4Stats;
    /// Withdraws a waiting request (CANCEL, UNLOCK of the range, client gone).
    fn cancel(&mut self, now: Instant, ticket: WaitTicket);
    /// Withdraws several waiting requests at once: none of them may be granted by the
    /// wake-up another's removal causes. The default cancels them in turn, which is right
    /// for a backend whose `cancel` wakes nothing.
    fn cancel_many(&mut self, now: Instant, tickets: &[WaitTicket]) {
        for t in tickets {
            self.cancel(now, *t);
        }
    }
    /// Withdraws the grant of the blocked LOCK `ticket` ([`BackendEvent::Granted`]) that the
    /// client never took: its GRANTED callback went unanswered, was refused, or a CANCEL
    /// overrode it (docs/architecture.md lesson 13). Only what the grant changed may be
    /// undone: a range the owner held before, also where POSIX merged it with the granted
    /// one, stays held. The default (for backends without POSIX merging) unlocks the
    /// request's range.
    fn withdraw_grant(
        &mut self,
        now: Instant,
        ticket: WaitTicket,
        file: FileId,
        owner: &Owner,
        offset: u64,
        len: u64,
    ) {
        let _ = ticket;
        self.unlock(now, file, owner, offset, len);
    }
    /// The client took the grant of `ticket` (or no longer needs it withdrawn): it can no
    /// longer be withdrawn, and the backend may forget what it kept for that.
    fn grant_settled(&mut self, ticket: WaitTicket) {
        let _ = ticket;
    }
    /// SHARE: a DOS share reservation kept as an open (docs/cross-protocol.md §4.4 O11).
    fn share(
        &mut self,
        now: Instant,
        file: FileId,
        owner: &Owner,
        access: FshAccess,
        mode: FshMode,
        reclaim: bool,
    ) -> ShareDecision;
    /// UNSHARE (succeeds when nothing was held, X/Open).
    fn unshare(&mut self, now: Instant, file: FileId, owner: &Owner) -> Nlm4Stats;
    /// Releases every lock, share and waiter of the host named `caller_name` (FREE_ALL,
    /// client reboot), and during grace also what it had still to reclaim; waiters behind
    /// them are woken.
    fn free_host(&mut self, now: Instant, caller_name: &[u8]);
    /// The host is monitored with this NSM state: the table keeps the list durable so the
    /// grace period after a restart knows which clients to expect.
    fn monitor(&mut self, caller_name: &[u8], state: i32);
    /// The host is no longer monitored (its state was freed).
    fn unmonitor(&mut self, caller_name: &[u8]);
    /// Whether the shared grace period is on.
    fn in_grace(&self, now: Instant) -> bool;
}

/// What a file handle names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    /// A live file.
    File {
        /// Its lock-table id.
        id: FileId,
        /// Whether its share is exported read-only (exclusive locks → NLM4_ROFS).
        read_only: bool,
    },
    /// Unknown or stale handle: NLM4_STALE_FH.
    Stale,
}

/// Resolves NFS file handles carried in NLM calls; implemented by the runtime.
pub trait FileHandles {
    /// What `fh` names.
    fn resolve(&self, fh: &[u8]) -> Resolved;
}
