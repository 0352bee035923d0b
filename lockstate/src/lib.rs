//! # lockstate — one lock table for NLM, NFS and SMB
//!
//! Every cross-protocol promise Janus makes is decided here: NLM byte-range locks and share
//! reservations, SMB byte-range locks, SMB leases and oplocks with their break state machine, SMB
//! share modes, the waiters of all of them, deadlock detection, the shared grace period, and the
//! persistence records that let all of it survive a restart. The semantics come from
//! `docs/cross-protocol.md` (§2 MS-SMB2/MS-FSA, §3 NLM, §4 the matrices, every cell with its test,
//! and our choices O1–O14, §5 grace, §6 timers); comments cite the section they follow.
//!
//! ## The model in one page
//!
//! **Pure.** The crate does no I/O, reads no clock, spawns nothing. Time is an input
//! (`now: Instant` on every call); deadlines come out of [`LockTable::poll_timeout`] and are
//! fed back through [`LockTable::handle_timeout`]. Everything the protocols must do for
//! *other* clients (send a lease break, send NLM_GRANTED, finish a pending SMB request)
//! comes out of [`LockTable::poll_event`]; everything the runtime must journal comes out of
//! [`LockTable::poll_record`]. Drain both after every call.
//!
//! **Files and owners.** A file is a [`FileId`] the runtime assigns (the same for every
//! protocol). Owners are an [`NlmOwner`] (caller_name, svid, oh — its `caller_name` is the
//! host that FREE_ALL and reboots release), an SMB open ([`OpenId`], registered by
//! [`LockTable::smb_create`] with its client GUID, access and share masks and lease key), or
//! the transient *virtual open* of an NFS operation, which never has a lease key and so
//! conflicts with every lease (docs/cross-protocol.md §4.1 rule 1).
//!
//! **Operations.** One method per row of matrices A and B: `nlm_lock/test/unlock/cancel/
//! share/unshare/free_all`, `nfs_read/write/set_size/remove/rename_source/rename_target/
//! create_truncate/create_guarded`, `smb_create/lock/unlock/read/write/rename/delete/close`
//! plus the break acknowledgments. Each returns an [`Outcome`]:
//! * `Proceed` (or `Opened` for a CREATE) — go ahead, the state is already updated;
//! * `Deny(d)` — refused; [`Deny`] says why and, for conflicts, names the [`Holder`]
//!   protocol-neutrally ([`Holder::to_nlm`] gives the NLM4 holder: SMB holders become
//!   `smb:<client>` in caller_name and in `oh` (nlm4_holder has no caller_name), svid 0,
//!   clamped range, exclusive iff W or an exclusive lock);
//! * `Wait(w)` — queued with a [`Ticket`]; the final outcome arrives later as
//!   [`Event::Completed`]. NFS and NLM waits on a break carry a `hold_until` (`T_nfs` 1 s,
//!   `T_nlm` 5 s): at that instant [`Event::HoldExpired`] tells NFS to answer JUKEBOX and
//!   NLM to answer BLOCKED (blocking locks stay queued) or drop the reply.
//!
//! **Byte ranges.** All locks of a file sit in one vector sorted by start offset, in a
//! per-file entry of a hash map, so an operation costs O(locks on that file), independent of
//! all other files. The map entry holds only the lock vector and two bounds (largest end,
//! longest lock) inline — opens, shares, leases and waiters are boxed on first use — and
//! scans start from the end of the vector, so the common append-and-release pattern touches
//! one or two cache lines however many locks the file holds. NLM owners get POSIX semantics among their own locks (merge, split,
//! upgrade, downgrade; `len 0` = to EOF; past 2^63-1 refused — [`LockRange::nlm`]); SMB
//! opens get MS-FSA 2.1.4.10 semantics (stacking, exact-match unlock, zero-length ranges
//! via [`Span`], an exclusive lock blocks even its owner's overlapping lock request, a shared
//! lock blocks even its owner's writes). Conflicts across owners: overlap and either side
//! exclusive. NLM locks are advisory to NFS I/O and mandatory to SMB I/O (O2, configurable).
//!
//! **Leases and breaks.** A lease is keyed by [`CacheKey`] (client GUID + lease key; an
//! oplock is keyed by its open and uses the equivalent lease state). Operations break other
//! keys' leases as MS-FSA 2.1.4.12 says (W for data opens and reads, R|W for writes, locks
//! and size changes, H for rename/delete and sharing violations). A break from R needs no
//! ack and takes effect at once; any other break sets *breaking*, remembers what the
//! notification offered (`break_to`) and what all conflicting operations require
//! (`required`), increments the v2 epoch **when sent**, and arms the 35 s timer. A second
//! conflict during a break narrows `required` without a second notification; on the ack the
//! table sends the next step (RH→R, R→NONE) — the smbtorture `breaking3` trace. A timeout
//! counts as an ack to NONE and is remembered so a late ack gets [`AckError::TimedOut`].
//! Grants follow MS-FSA 2.1.5.18 with the RWH→RH→R→NONE fallback; W is never granted while
//! another open, NLM lock or NLM share exists (O1); R never while a lock starts below the
//! allocation size.
//!
//! **Share modes.** SMB opens and NLM SHARE reservations (O11) are checked by MS-FSA
//! 2.1.5.1.2.1. A violation first breaks H on the conflicting opens' leases and waits, then
//! re-checks (O5).
//!
//! **Waiters.** One FIFO per file for every protocol. Whenever something is released
//! (unlock, close, ack, timeout, cancel, free_all, grace end) the file's waiters are
//! re-evaluated in order; each either completes or stays in place. A blocking NLM request
//! that would close a cycle in the cross-protocol wait-for graph is refused with
//! [`Deny::Deadlock`].
//!
//! **Grace and persistence.** Every durable change is a [`Record`] with a sequence number.
//! After a restart, [`LockTable::restore`] replays them and [`LockTable::start_grace`] turns
//! reclaimable state into *unreclaimed* state that gates conflicting newcomers on its file
//! only; reclaims are checked against it; grace ends early when everything is reclaimed,
//! else after 90 s, and what is left is dropped.
//!
//! ## Example
//! The runtime owns the clock: it passes `now` in with every call.
//! ```
//! use std::time::Instant;
//! use lockstate::*;
//! fn on_nlm_lock(t: &mut LockTable, now: Instant) {
//!     let owner = NlmOwner::new("client1", 42, b"oh".to_vec()); // caller_name, svid, oh
//!     let range = LockRange::nlm(0, 100).unwrap();
//!     let out = t.nlm_lock(NlmLockArgs { file: FileId(1), owner, range, exclusive: true,
//!                                         block: false, reclaim: false }, now);
//!     assert_eq!(out, Outcome::Proceed);
//!     while let Some(_rec) = t.poll_record() { /* journal it, then reply */ }
//! }
//! ```

mod codec;
mod config;
mod grace;
mod hash;
mod nfs;
mod nlm;
mod outcome;
mod persist;
mod smb;
mod table;
mod types;
mod view;

pub use codec::DecodeError as RecordDecodeError;
pub use config::Config;
pub use hash::{FxBuild, FxMap, FxSet};
pub use nlm::{NlmLockArgs, NlmShareArgs};
pub use outcome::{
    AckError, BreakNotice, Deny, Event, Holder, HolderKind, LeaseGrant, NlmHolder, OpenGrant,
    Outcome, Wait, WaitReason,
};
pub use persist::{Change, Record, RestoreError};
pub use smb::{CacheRequest, SmbCreate, SmbLockArgs};
pub use table::LockTable;
pub use types::{
    access, share, CacheKey, ClientGuid, FileId, LeaseKey, LeaseState, LeaseVersion, LockId,
    LockRange, NlmOwner, OpenId, OplockLevel, RangeError, Span, Ticket, NLM_MAX_OFFSET,
};
pub use view::{
    ConflictKind, Counters, DurationStats, FileView, LeaseView, LockView, OpenView, Proto,
    Resolution, ShareView, WaiterView,
};
