//! SMB2 LOCK (MS-SMB2 §3.3.5.14) on the one lock table: byte-range locks of SMB opens with
//! MS-FSA semantics (`lockstate::LockTable::smb_lock` / `smb_unlock`, MS-FSA 2.1.5.8,
//! 2.1.5.9, 2.1.4.10), the same table NLM locks and NFS I/O are checked against.
//!
//! # One request
//! - The first element decides what the request is (§3.3.5.14): unlocks if its Flags have
//!   SMB2_LOCKFLAG_UNLOCK, locks otherwise.
//! - **Unlocks** (§3.3.5.14.1) run in order: each element's Flags must be exactly UNLOCK
//!   (STATUS_INVALID_PARAMETER otherwise, FAIL_IMMEDIATELY included, as smbtorture
//!   smb2.lock.valid-request expects of a non-W2K8 server), its range must be locked by this
//!   open with exactly that offset and length, an exclusive lock of the range before a
//!   shared one (MS-FSA 2.1.5.9: STATUS_RANGE_NOT_LOCKED otherwise, STATUS_INVALID_LOCK_RANGE
//!   for a range past 2^64 - 1). The first failure
//!   stops the request; the elements unlocked before it stay unlocked (the spec: "not rolled
//!   back"; smb2.lock.multiple-unlock).
//! - **Locks** (§3.3.5.14.2) are checked first: every element's Flags must be SHARED or
//!   EXCLUSIVE, optionally with FAIL_IMMEDIATELY, and with more than one element each must
//!   have FAIL_IMMEDIATELY (the spec's SHOULD, which Samba follows): STATUS_INVALID_PARAMETER
//!   before anything is locked. Then the elements are granted one after the other through
//!   the lock table (`SmbRequest::Lock`, behind the in-flight gate like every SMB request);
//!   when one fails, the ones granted before it are taken back (`smb_unlock_granted`, the
//!   exact mode granted), so the request is all or nothing. A conflict is
//!   STATUS_LOCK_NOT_GRANTED — SMB2 has no FILE_LOCK_CONFLICT for LOCK, whatever failed
//!   before (smb2.lock.errorcode); READ and WRITE that meet another open's lock get
//!   STATUS_FILE_LOCK_CONFLICT (`Core::smb_read` / `smb_write`). A range whose last byte is
//!   past 2^64 - 1 is STATUS_INVALID_LOCK_RANGE (MS-FSA 2.1.5.8).
//! - **Blocking**: a single element without FAIL_IMMEDIATELY that conflicts waits in the
//!   table; the call goes async (`Connection::go_async`, STATUS_PENDING interim response)
//!   and completes when the table grants it (the holder unlocked or closed). Any element can
//!   also wait for a lease/oplock break or the grace period the table reports. A waiting
//!   LOCK ends with STATUS_CANCELLED on CANCEL (§3.3.5.16), and with
//!   STATUS_RANGE_NOT_LOCKED when its open is closed, or its tree or session ends, under
//!   it (what Windows and Samba answer: smb2.lock.cancel, cancel-tdis, cancel-logoff); a
//!   lost connection drops it. A LOCK parked at the in-flight gate (an NFS job on the file)
//!   that ends so is answered when the table has run it, and what it got is taken back.
//!   Nothing it took stays in the table.
//!
//! # Lock sequence replay (§3.3.5.14, Open.LockSequenceArray §3.3.1.10)
//! On dialects after 2.0.2, for an open that is resilient, durable or persistent (the
//! server does not offer multichannel), LockSequenceIndex 1..=64 names an entry of the
//! open's [`LockSequences`]: a request whose LockSequenceNumber equals a valid entry is a
//! replay of one that succeeded and is answered STATUS_SUCCESS without being run again;
//! otherwise the entry is invalidated and the request runs, and a successful request stores
//! its number there. Whoever makes an open durable sets [`LockSequences::verify`].

use std::time::Instant;

use lockstate::{Deny, FileId, OpenId, Outcome, SmbLockArgs};
use proto_nfs::server::ConnId;
use proto_smb2::cmd::lock::{lock_flags, LockElement, LockRequest, LockResponse};
use proto_smb2::cmd::negotiate::dialect;
use proto_smb2::server::{CallId, Reply};
use proto_smb2::NtStatus;

use super::{body, Ctx, Pending, Then};
use crate::nfs_locks::{SmbRequest, SmbSubmit};
use crate::Core;

/// STATUS_LOCK_NOT_GRANTED.
pub const STATUS_LOCK_NOT_GRANTED: NtStatus = NtStatus(0xC000_0055);
/// STATUS_RANGE_NOT_LOCKED.
pub const STATUS_RANGE_NOT_LOCKED: NtStatus = NtStatus(0xC000_007E);
/// STATUS_INVALID_LOCK_RANGE.
pub const STATUS_INVALID_LOCK_RANGE: NtStatus = NtStatus(0xC000_01A1);

/// Entries of Open.LockSequenceArray (§3.3.1.10).
const SEQUENCES: usize = 64;

/// Open.LockSequenceArray (MS-SMB2 §3.3.1.10): 64 entries of a valid flag and a 4-bit
/// sequence number, each `None` until a LOCK with that LockSequenceIndex succeeds.
#[derive(Debug, Clone)]
pub struct LockSequences {
    /// Lock sequences are verified for this open: it is resilient, durable or persistent
    /// (§3.3.5.14). Set by whoever grants that.
    pub verify: bool,
    entries: [Option<u8>; SEQUENCES],
}

impl Default for LockSequences {
    fn default() -> Self {
        LockSequences {
            verify: false,
            entries: [None; SEQUENCES],
        }
    }
}

impl LockSequences {
    /// The entry a request's LockSequenceNumber/LockSequenceIndex names, with the number,
    /// when verification applies (§3.3.5.14: not on 2.0.2, index 1..=64).
    pub fn slot(&self, dialect: u16, lock_sequence: u32) -> Option<(usize, u8)> {
        if !self.verify || dialect == dialect::SMB202 {
            return None;
        }
        let index = (lock_sequence >> 4) as usize;
        let number = (lock_sequence & 0xF) as u8;
        index
            .checked_sub(1)
            .filter(|i| *i < SEQUENCES)
            .map(|i| (i, number))
    }

    /// A replay: the entry is valid and holds this number.
    pub fn is_replay(&self, (i, n): (usize, u8)) -> bool {
        self.entries.get(i).is_some_and(|e| *e == Some(n))
    }

    /// Marks the entry invalid (a new request with that index is running).
    pub fn invalidate(&mut self, (i, _): (usize, u8)) {
        if let Some(e) = self.entries.get_mut(i) {
            *e = None;
        }
    }

    /// Stores the number of a request that succeeded.
    pub fn store(&mut self, (i, n): (usize, u8)) {
        if let Some(e) = self.entries.get_mut(i) {
            *e = Some(n);
        }
    }
}

/// One lock element, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Elem {
    offset: u64,
    length: u64,
    exclusive: bool,
    fail_immediately: bool,
}

/// A LOCK request (lock elements) between its steps: `elems[..next]` are granted.
#[derive(Debug)]
pub(super) struct LockCall {
    open: OpenId,
    file: FileId,
    elems: Vec<Elem>,
    next: usize,
    /// The LockSequenceArray entry to store on success (volatile id, entry).
    seq: Option<(u64, (usize, u8))>,
    /// Ended while parked at the in-flight gate (behind an NFS job on the file), with this
    /// status: whatever the table answers when it runs is taken back.
    ended: Option<NtStatus>,
    /// The open is durable: its grant waits for its journal record.
    durable: bool,
}

/// What the checks of a lock request found.
#[derive(Debug, PartialEq, Eq)]
enum Checked {
    Unlock,
    Lock(Vec<Elem>),
}

/// §3.3.5.14.2: the flag combinations a lock request may carry.
fn check(locks: &[LockElement]) -> Result<Checked, NtStatus> {
    use lock_flags::{EXCLUSIVE_LOCK, FAIL_IMMEDIATELY, SHARED_LOCK, UNLOCK};
    let Some(first) = locks.first() else {
        // LockCount 0 (the decoder refuses it already).
        return Err(NtStatus::INVALID_PARAMETER);
    };
    if first.flags & UNLOCK != 0 {
        // Unlock elements are checked one by one as they run (§3.3.5.14.1).
        return Ok(Checked::Unlock);
    }
    let mut elems = Vec::with_capacity(locks.len());
    for l in locks {
        let fail_immediately = l.flags & FAIL_IMMEDIATELY != 0;
        let exclusive = match l.flags & !FAIL_IMMEDIATELY {
            SHARED_LOCK => false,
            EXCLUSIVE_LOCK => true,
            _ => return Err(NtStatus::INVALID_PARAMETER),
        };
        // More than one element: none may block (§3.3.5.14.2, SHOULD).
        if locks.len() > 1 && !fail_immediately {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        elems.push(Elem {
            offset: l.offset,
            length: l.length,
            exclusive,
            fail_immediately,
        });
    }
    Ok(Checked::Lock(elems))
}

/// The status of a lock element the table refused.
fn lock_status(d: &Deny) -> NtStatus {
    match d {
        Deny::Conflict(_) | Deny::Deadlock => STATUS_LOCK_NOT_GRANTED,
        Deny::InvalidRange => STATUS_INVALID_LOCK_RANGE,
        Deny::NoLocks => NtStatus::INSUFFICIENT_RESOURCES,
        Deny::UnknownOpen => NtStatus::FILE_CLOSED,
        Deny::Cancelled => NtStatus::CANCELLED,
        other => super::deny_status(other),
    }
}

impl Core {
    /// SMB2 LOCK (§3.3.5.14).
    pub(super) fn smb_lock(&mut self, ctx: Ctx, req: &LockRequest, dialect: u16, now: Instant) {
        let volatile = req.file_id.volatile;
        // §3.3.5.14: an Open whose DurableFileId is not FileId.Persistent is not found
        // (smbtorture smb2.lock.valid-request changes only the persistent half), and that is
        // checked before the flags.
        if req.file_id.persistent != super::smb_file_id(volatile).persistent {
            return self.smb_error(&ctx, NtStatus::FILE_CLOSED);
        }
        let f = match self.smb_file(&ctx, volatile) {
            Ok(f) => f,
            Err(s) => return self.smb_error(&ctx, s),
        };
        // MS-FSA 2.1.5.8: byte-range locks are of data streams.
        if f.is_dir {
            return self.smb_error(&ctx, NtStatus::INVALID_PARAMETER);
        }
        let (open, file) = (f.lock_open, f.file);
        let seq = f.lock_sequences.slot(dialect, req.lock_sequence);
        if let Some(s) = seq {
            if f.lock_sequences.is_replay(s) {
                tracing::debug!(
                    volatile,
                    entry = s.0,
                    "SMB LOCK replay answered without running"
                );
                return self.smb_reply(&ctx, Reply::ok(body(|b| LockResponse.encode(b))));
            }
            f.lock_sequences.invalidate(s);
        }
        let elems = match check(&req.locks) {
            Err(s) => return self.smb_error(&ctx, s),
            Ok(Checked::Unlock) => {
                let status = self.smb_unlock_elements(open, &req.locks, now);
                if status == NtStatus::SUCCESS {
                    self.smb_lock_sequence_store(&ctx, seq.map(|s| (volatile, s)));
                    return self.smb_reply(&ctx, Reply::ok(body(|b| LockResponse.encode(b))));
                }
                return self.smb_error(&ctx, status);
            }
            Ok(Checked::Lock(elems)) => elems,
        };
        let call = LockCall {
            open,
            file,
            elems,
            next: 0,
            seq: seq.map(|s| (volatile, s)),
            ended: None,
            durable: self.smb.durable.contains(volatile),
        };
        self.smb_lock_run(ctx, Box::new(call), now);
    }

    /// §3.3.5.14.1: unlock elements in order; the first failure ends the request.
    fn smb_unlock_elements(
        &mut self,
        open: OpenId,
        locks: &[LockElement],
        now: Instant,
    ) -> NtStatus {
        for l in locks {
            if l.flags != lock_flags::UNLOCK {
                return NtStatus::INVALID_PARAMETER;
            }
            let out = match self.smb_submit(
                SmbRequest::Unlock {
                    open,
                    offset: l.offset,
                    length: l.length,
                },
                now,
            ) {
                SmbSubmit::Done(out) => out,
                // Releases are never gated; a parked one would only follow this open's
                // parked lock, which cannot have been granted yet.
                SmbSubmit::Parked(_) => Outcome::Deny(Deny::RangeNotLocked),
            };
            match out {
                Outcome::Proceed => {}
                Outcome::Deny(Deny::UnknownOpen) => return NtStatus::FILE_CLOSED,
                // MS-FSA 2.1.5.9: a range past 2^64 - 1 is invalid; else not locked so.
                Outcome::Deny(Deny::InvalidRange) => return STATUS_INVALID_LOCK_RANGE,
                _ => return STATUS_RANGE_NOT_LOCKED,
            }
        }
        NtStatus::SUCCESS
    }

    /// Grants the remaining elements of `call` until one waits, fails or all are granted.
    fn smb_lock_run(&mut self, ctx: Ctx, mut call: Box<LockCall>, now: Instant) {
        while let Some(e) = call.elems.get(call.next).copied() {
            let args = SmbLockArgs {
                open: call.open,
                offset: e.offset,
                length: e.length,
                exclusive: e.exclusive,
                fail_immediately: e.fail_immediately,
            };
            match self.smb_submit(
                SmbRequest::Lock {
                    file: call.file,
                    args,
                },
                now,
            ) {
                SmbSubmit::Done(Outcome::Proceed) | SmbSubmit::Done(Outcome::Opened(_)) => {
                    call.next += 1
                }
                SmbSubmit::Done(out) => return self.smb_lock_decided(ctx, call, out, now),
                SmbSubmit::Parked(id) => {
                    self.smb.parked.insert(
                        id,
                        Pending {
                            ctx: Some(ctx),
                            then: Then::Lock(call),
                        },
                    );
                    return;
                }
            }
        }
        self.smb_lock_sequence_store(&ctx, call.seq);
        // A durable open's locks are journalled (they come back after a restart): the
        // answer waits until their records are durable, and is never sent if the journal
        // failed, as an NLM grant (the durability barrier, crate documentation).
        if call.durable {
            let seq = self.journal.appends.last();
            self.smb_needs(ctx.conn, seq);
        }
        self.smb_reply(&ctx, Reply::ok(body(|b| LockResponse.encode(b))));
    }

    /// A lock-table answer for the element `call.next` of a LOCK.
    pub(super) fn smb_lock_decided(
        &mut self,
        ctx: Ctx,
        mut call: Box<LockCall>,
        out: Outcome,
        now: Instant,
    ) {
        if let Some(status) = call.ended {
            // CANCEL, or the end of its tree or session, came while it was parked.
            match out {
                Outcome::Proceed | Outcome::Opened(_) => call.next += 1,
                Outcome::Wait(w) => {
                    self.nlm.table.cancel(w.ticket, now);
                }
                Outcome::Deny(_) => {}
            }
            self.smb_lock_rollback(&call, now);
            return self.smb_error(&ctx, status);
        }
        match out {
            Outcome::Proceed | Outcome::Opened(_) => {
                call.next += 1;
                self.smb_lock_run(ctx, call, now);
            }
            Outcome::Wait(w) => {
                // STATUS_PENDING now, the answer when the table completes the ticket.
                self.smb_go_async(&ctx);
                self.smb.tickets.insert(
                    w.ticket,
                    Pending {
                        ctx: Some(ctx),
                        then: Then::Lock(call),
                    },
                );
            }
            Outcome::Deny(d) => {
                self.smb_lock_rollback(&call, now);
                // The table cancels the waiters of an open it closes: the LOCK's open was
                // closed (CLOSE, or its tree or session ended) under it.
                let status = match d {
                    Deny::Cancelled | Deny::UnknownOpen
                        if !self.smb_lock_open_alive(&ctx, call.open) =>
                    {
                        STATUS_RANGE_NOT_LOCKED
                    }
                    d => lock_status(&d),
                };
                self.smb_error(&ctx, status);
            }
        }
    }

    /// Takes back the elements of `call` granted so far (§3.3.5.14.2: a failed element
    /// unlocks the ranges the request locked before it).
    fn smb_lock_rollback(&mut self, call: &LockCall, now: Instant) {
        for e in call.elems[..call.next].iter().rev() {
            let out =
                self.nlm
                    .table
                    .smb_unlock_granted(call.open, e.offset, e.length, e.exclusive, now);
            if out != Outcome::Proceed {
                // The open was closed meanwhile: its locks went with it.
                tracing::debug!(?out, "SMB LOCK rollback found the element gone");
            }
        }
    }

    fn smb_lock_open_alive(&self, ctx: &Ctx, open: OpenId) -> bool {
        !self
            .smb
            .opens
            .ids_where(|o| {
                o.conn == ctx.conn
                    && matches!(&o.kind, super::open::OpenKind::File(f) if f.lock_open == open)
            })
            .is_empty()
    }

    fn smb_lock_sequence_store(&mut self, ctx: &Ctx, seq: Option<(u64, (usize, u8))>) {
        if let Some((volatile, s)) = seq {
            if let Ok(f) = self.smb_file(ctx, volatile) {
                f.lock_sequences.store(s);
            }
        }
    }

    /// CANCEL of a waiting LOCK (§3.3.5.16): STATUS_CANCELLED, its granted elements taken
    /// back. Returns whether `id` is a LOCK waiting in the table (answered, or about to be
    /// completed by a grant already made) or parked at the gate (answered when it comes
    /// back from the table).
    pub(super) fn smb_lock_cancel(&mut self, conn: ConnId, id: CallId, now: Instant) -> bool {
        let call_is = |p: &Pending| {
            p.ctx
                .as_ref()
                .is_some_and(|c| c.conn == conn && c.call == id)
        };
        if self.smb_lock_end_parked(call_is, NtStatus::CANCELLED) {
            return true;
        }
        let found = self
            .smb
            .tickets
            .iter()
            .find(|(_, p)| {
                matches!(p.then, Then::Lock(_))
                    && p.ctx
                        .as_ref()
                        .is_some_and(|c| c.conn == conn && c.call == id)
            })
            .map(|(t, _)| *t);
        let Some(t) = found else {
            return false;
        };
        self.smb_lock_end_waits(&[t], NtStatus::CANCELLED, now);
        true
    }

    /// The waiting LOCKs of a tree or session that ends (before its opens are closed):
    /// STATUS_RANGE_NOT_LOCKED, as for a CLOSE of their open.
    pub(super) fn smb_lock_cancel_where(&mut self, mine: impl Fn(&Ctx) -> bool, now: Instant) {
        self.smb_lock_end_parked(
            |p| p.ctx.as_ref().is_some_and(&mine),
            STATUS_RANGE_NOT_LOCKED,
        );
        let tickets: Vec<_> = self
            .smb
            .tickets
            .iter()
            .filter(|(_, p)| matches!(p.then, Then::Lock(_)) && p.ctx.as_ref().is_some_and(&mine))
            .map(|(t, _)| *t)
            .collect();
        self.smb_lock_end_waits(&tickets, STATUS_RANGE_NOT_LOCKED, now);
    }

    /// Marks the parked LOCKs `mine` picks as ended with `status`. Returns whether any.
    fn smb_lock_end_parked(&mut self, mine: impl Fn(&Pending) -> bool, status: NtStatus) -> bool {
        let mut any = false;
        for p in self.smb.parked.values_mut() {
            let picked = matches!(&p.then, Then::Lock(c) if c.ended.is_none()) && mine(p);
            if let (true, Then::Lock(call)) = (picked, &mut p.then) {
                call.ended = Some(status);
                any = true;
            }
        }
        any
    }

    fn smb_lock_end_waits(
        &mut self,
        tickets: &[lockstate::Ticket],
        status: NtStatus,
        now: Instant,
    ) {
        for &t in tickets {
            // Not waiting any more: the table granted or refused it already and its
            // completion is on the way; that answer stands.
            if !self.nlm.table.cancel(t, now) {
                continue;
            }
            let Some(p) = self.smb.tickets.remove(&t) else {
                continue;
            };
            if let (Some(ctx), Then::Lock(call)) = (p.ctx, p.then) {
                self.smb_lock_rollback(&call, now);
                self.smb_error(&ctx, status);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lock_flags::{EXCLUSIVE_LOCK as X, FAIL_IMMEDIATELY as FI, SHARED_LOCK as S, UNLOCK as U};

    fn el(flags: u32) -> LockElement {
        LockElement {
            offset: 0,
            length: 1,
            flags,
        }
    }

    #[test]
    fn flag_combinations() {
        let bad = NtStatus::INVALID_PARAMETER;
        assert_eq!(check(&[]), Err(bad));
        assert_eq!(check(&[el(0)]), Err(bad));
        assert_eq!(check(&[el(S | X)]), Err(bad));
        assert_eq!(check(&[el(FI)]), Err(bad));
        assert_eq!(check(&[el(!0x17)]), Err(bad));
        assert_eq!(check(&[el(0), el(U)]), Err(bad));
        // A blocking element among several.
        assert_eq!(check(&[el(X | FI), el(S)]), Err(bad));
        assert_eq!(check(&[el(X), el(X | FI)]), Err(bad));
        // An unlock among locks.
        assert_eq!(check(&[el(X | FI), el(U)]), Err(bad));
        assert_eq!(check(&[el(U), el(0)]), Ok(Checked::Unlock));
        assert_eq!(check(&[el(U | X)]), Ok(Checked::Unlock));
        match check(&[el(X)]) {
            Ok(Checked::Lock(v)) => assert!(v[0].exclusive && !v[0].fail_immediately),
            other => panic!("{other:?}"),
        }
        match check(&[el(S | FI), el(X | FI)]) {
            Ok(Checked::Lock(v)) => {
                assert_eq!(v.len(), 2);
                assert!(!v[0].exclusive && v[0].fail_immediately && v[1].exclusive);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lock_sequence_slots() {
        let mut s = LockSequences::default();
        // Not verified: no slot.
        assert_eq!(s.slot(dialect::SMB311, 0x11), None);
        s.verify = true;
        assert_eq!(s.slot(dialect::SMB202, 0x11), None);
        assert_eq!(s.slot(dialect::SMB311, 0x01), None); // index 0
        assert_eq!(s.slot(dialect::SMB311, 65 << 4), None);
        let slot = s.slot(dialect::SMB311, (64 << 4) | 0xA).expect("index 64");
        assert_eq!(slot, (63, 0xA));
        assert!(!s.is_replay(slot));
        s.store(slot);
        assert!(s.is_replay(slot));
        assert!(!s.is_replay((63, 0xB)));
        s.invalidate(slot);
        assert!(!s.is_replay(slot));
    }
}
