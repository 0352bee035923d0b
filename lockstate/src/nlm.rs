//! NLM v4 operations (matrix A rows 1–3 and 21, matrix B rows 1–3 and 21): LOCK, TEST,
//! UNLOCK, CANCEL, SHARE, UNSHARE, FREE_ALL, and the monitored-client list.
//!
//! Among one owner's locks POSIX semantics apply (Linux `posix_lock_inode`, docs/cross-protocol.md
//! §3.5): same-type overlapping or adjacent ranges merge, a different type over part of a range
//! replaces that part (upgrade/downgrade) and splits the rest, unlock of a sub-range splits, unlock
//! of an unheld range succeeds. Across owners and protocols a conflict is an overlap where either
//! side is exclusive.
//!
//! How the NLM service maps the answers to `nlm4_stats` (docs/cross-protocol.md §3.1, §4.2, O4):
//!
//! | Call | Answer | nlm4_stats / action |
//! |---|---|---|
//! | LOCK | `Proceed` | GRANTED |
//! | LOCK | `Deny(Conflict)` | DENIED |
//! | LOCK | `Deny(Deadlock)` / `Deny(NoLocks)` / `Deny(GracePeriod)` | DEADLCK / DENIED_NOLOCKS / DENIED_GRACE_PERIOD |
//! | LOCK | `Wait` with `WaitReason::Lock` (block only) | BLOCKED; `Event::Completed{Proceed}` later → NLM_GRANTED(_MSG) |
//! | LOCK | `Wait` with `WaitReason::Break` | hold the reply; on `Completed` answer it; on `HoldExpired{still_waiting: true}` answer BLOCKED (GRANTED later), `{still_waiting: false}` drop the reply |
//! | TEST | `Proceed` / `Deny(Conflict(h))` / `Deny(GracePeriod)` | GRANTED / DENIED with `h.to_nlm()` / DENIED_GRACE_PERIOD |
//! | TEST, SHARE | `Wait` | not answerable yet: hold or drop (the client retransmits); [`LockTable::cancel`] the ticket if dropping |
//! | SHARE | `Proceed` / `Deny(SharingViolation)` / `Deny(GracePeriod)` | GRANTED / DENIED / DENIED_GRACE_PERIOD |
//! | UNLOCK, CANCEL, UNSHARE | `Proceed` | GRANTED (also during grace) |
//! | any | [`LockRange::nlm`] error | FBIG |
//!
//! A GRANTED callback the client never acknowledges, refuses, or races with a CANCEL is
//! withdrawn with [`LockTable::nlm_withdraw_grant`] (docs/architecture.md lesson 13): only
//! what the grant changed is undone, so a range the owner held before and that POSIX merged
//! with the granted one survives. A grant the client took is settled with
//! [`LockTable::nlm_grant_settled`].

use std::sync::Arc;
use std::time::Instant;

use crate::outcome::{Deny, Outcome, WaitReason};
use crate::persist::Change;
use crate::table::{Access, BreakKind, Eval, Lock, LockOwner, LockTable, NlmShare, Op, Requester};
use crate::types::{FileId, LockRange, NlmOwner, Span, Ticket};
use crate::view::{ConflictKind, Proto, Resolution};

/// Arguments of NLM LOCK / NM_LOCK (XNFS NLM_LOCK `nlm4_lockargs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NlmLockArgs {
    /// The file (from `alock.fh`).
    pub file: FileId,
    /// The owner (`alock.caller_name`, `alock.svid`, `alock.oh`).
    pub owner: NlmOwner,
    /// The range (from [`LockRange::nlm`]).
    pub range: LockRange,
    /// `exclusive`.
    pub exclusive: bool,
    /// `block`: wait for a conflicting lock (NLM4_BLOCKED, then NLM_GRANTED).
    pub block: bool,
    /// `reclaim`: re-establishing a lock after a server restart (only during grace).
    pub reclaim: bool,
}

/// Arguments of NLM SHARE (XNFS `nlm4_shareargs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NlmShareArgs {
    /// The file.
    pub file: FileId,
    /// Owner: caller_name + oh (svid unused, use 0).
    pub owner: NlmOwner,
    /// `fsh4_access`: 0 none, 1 read, 2 write, 3 read-write.
    pub access: u32,
    /// `fsh4_mode`: 0 deny none, 1 deny read, 2 deny write, 3 deny read-write.
    pub deny: u32,
    /// `reclaim`.
    pub reclaim: bool,
}

/// Locks longer than this are "wide": removing the widest one recomputes the scan bounds.
const WIDE: u64 = 1 << 20;

/// Most grants of waiting LOCKs remembered for a withdrawal at once (the NLM service settles
/// each; past this the oldest is forgotten and its withdrawal releases the granted range).
const MAX_GRANT_UNDO: usize = 4096;

/// What the grant of a waiting NLM LOCK changed for its owner: the bytes a withdrawal gives
/// back. Bytes the owner sets itself afterwards (LOCK, UNLOCK) leave it: the client knows
/// their state, so no withdrawal may touch them.
#[derive(Debug, Clone)]
pub(crate) struct GrantUndo {
    file: FileId,
    owner: Arc<NlmOwner>,
    /// Bytes of the granted range the owner did not hold before.
    added: Vec<LockRange>,
    /// Bytes the owner held shared before an exclusive grant: shared again on withdrawal.
    upgraded: Vec<LockRange>,
}

/// `v` minus `r`.
fn subtract(v: &mut Vec<LockRange>, r: LockRange) {
    if !v.iter().any(|x| x.first <= r.last && r.first <= x.last) {
        return;
    }
    let mut out = Vec::with_capacity(v.len() + 1);
    for x in v.drain(..) {
        if x.last < r.first || x.first > r.last {
            out.push(x);
            continue;
        }
        if x.first < r.first {
            out.push(LockRange {
                first: x.first,
                last: r.first - 1,
            });
        }
        if x.last > r.last {
            out.push(LockRange {
                first: r.last + 1,
                last: x.last,
            });
        }
    }
    *v = out;
}

impl LockTable {
    /// NLM LOCK (and NM_LOCK with `block = false`).
    ///
    /// * [`Outcome::Proceed`]: granted (NLM4_GRANTED).
    /// * [`Outcome::Wait`] with [`WaitReason::Lock`] (only when `block`): NLM4_BLOCKED now,
    ///   NLM_GRANTED when [`Event::Completed`](crate::Event::Completed) says `Proceed`.
    /// * [`Outcome::Wait`] with [`WaitReason::Break`]: an SMB W lease is being revoked (O6);
    ///   hold the reply until the completion or [`Event::HoldExpired`](crate::Event) (O4).
    /// * [`Outcome::Deny`]: `Conflict` → NLM4_DENIED, `Deadlock` → NLM4_DEADLCK,
    ///   `NoLocks` → NLM4_DENIED_NOLOCKS, `GracePeriod` → NLM4_DENIED_GRACE_PERIOD.
    pub fn nlm_lock(&mut self, args: NlmLockArgs, now: Instant) -> Outcome {
        let owner = self.intern(&args.owner);
        // A retransmitted LOCK of a request that is already queued gets the same ticket
        // (Linux `nlmsvc_lookup_block`), not a second waiter and a second GRANTED.
        if let Some(w) = self.files.get(&args.file).and_then(|fs| {
            fs.waiters.iter().find(|w| {
                matches!(&w.op, Op::NlmLock { owner: o, range, exclusive, .. }
                    if Arc::ptr_eq(o, &owner) && *range == args.range && *exclusive == args.exclusive)
            })
        }) {
            return Outcome::Wait(crate::outcome::Wait {
                ticket: w.ticket,
                reason: w.reason.clone(),
                hold_until: w.hold_until,
            });
        }
        let out = self.run(
            args.file,
            Op::NlmLock {
                owner: owner.clone(),
                range: args.range,
                exclusive: args.exclusive,
                block: args.block,
                reclaim: args.reclaim,
            },
            now,
        );
        if out == Outcome::Proceed {
            self.owner_set_bytes(args.file, &owner, args.range);
            if !args.exclusive {
                // A shared lock may have replaced the owner's exclusive one (a downgrade):
                // waiters for shared locks there can go now. (`wake` does nothing on a
                // file without waiters.)
                self.wake(args.file, now);
            }
        }
        out
    }

    /// NLM TEST: `Proceed` = NLM4_GRANTED; `Deny(Conflict(holder))` = NLM4_DENIED with
    /// `holder.to_nlm()`; may wait while a W lease is revoked so cached SMB locks are seen
    /// (O6/O8); `Deny(GracePeriod)` when the range meets unreclaimed state in grace.
    pub fn nlm_test(
        &mut self,
        file: FileId,
        owner: &NlmOwner,
        range: LockRange,
        exclusive: bool,
        now: Instant,
    ) -> Outcome {
        let owner = self.intern(owner);
        self.run(
            file,
            Op::NlmTest {
                owner,
                range,
                exclusive,
            },
            now,
        )
    }

    /// NLM UNLOCK: removes the owner's locks in `range` (splitting as needed) and any blocked
    /// request of the owner for exactly that range ("this implies a CANCEL", Linux); always
    /// `Proceed`, also during grace (docs/cross-protocol.md §5 rule 3: removing state cannot
    /// conflict with reclaims). Wakes the file's waiters.
    pub fn nlm_unlock(
        &mut self,
        file: FileId,
        owner: &NlmOwner,
        range: LockRange,
        now: Instant,
    ) -> Outcome {
        let Some(owner) = self.owners.get(owner).cloned() else {
            return Outcome::Proceed;
        };
        self.cancel_nlm_waiters(file, &owner, Some(range), None);
        self.owner_set_bytes(file, &owner, range);
        if self.posix_unlock(file, &owner, range) {
            self.wake(file, now);
        }
        self.gc_file(file);
        Outcome::Proceed
    }

    /// Withdraws the grant of the waiting LOCK `ticket` (its [`Event::Completed`] said
    /// `Proceed`): the GRANTED callback went unanswered, the client refused it, or a CANCEL
    /// overrode it (Linux `nlmsvc_cancel_blocked`). Only what the grant changed is undone:
    /// bytes the owner did not hold before are released, bytes it held shared before an
    /// exclusive grant are shared again, and whatever the owner held before — also where
    /// POSIX merged it with the granted range — stays held. Bytes the owner locked or
    /// unlocked itself since the grant are left as they are. Wakes the file's waiters.
    /// Returns false when the grant is not known (settled, withdrawn, its owner's host
    /// freed, or forgotten past the bound); nothing changes then.
    ///
    /// [`Event::Completed`]: crate::Event::Completed
    pub fn nlm_withdraw_grant(&mut self, ticket: Ticket, now: Instant) -> bool {
        let Some(u) = self.grant_undo.remove(&ticket) else {
            return false;
        };
        let mut changed = false;
        for r in &u.added {
            changed |= self.posix_unlock(u.file, &u.owner, *r);
        }
        for r in &u.upgraded {
            // A downgrade never conflicts, and must not fail on bounds: it only gives back.
            let _ = self.posix_lock(u.file, &u.owner, *r, false, false);
            changed = true;
        }
        if changed {
            self.wake(u.file, now);
        }
        self.gc_file(u.file);
        true
    }

    /// The client took the grant of `ticket` (GRANTED_RES, a retransmitted LOCK answered
    /// GRANTED, its own UNLOCK of the range): it can no longer be withdrawn.
    pub fn nlm_grant_settled(&mut self, ticket: Ticket) {
        self.grant_undo.remove(&ticket);
    }

    /// Grants of waiting LOCKs not settled or withdrawn yet (tests, metrics).
    pub fn nlm_grants_unsettled(&self) -> usize {
        self.grant_undo.len()
    }

    /// Remembers what the grant of waiting LOCK `ticket` changed (`prior`: the owner's
    /// pieces inside `range` just before it).
    pub(crate) fn note_grant(
        &mut self,
        ticket: Ticket,
        file: FileId,
        owner: Arc<NlmOwner>,
        range: LockRange,
        exclusive: bool,
        prior: Vec<(LockRange, bool)>,
    ) {
        let mut added = vec![range];
        for (r, _) in &prior {
            subtract(&mut added, *r);
        }
        let upgraded = if exclusive {
            prior.iter().filter(|(_, x)| !x).map(|(r, _)| *r).collect()
        } else {
            Vec::new()
        };
        if self.grant_undo.len() >= MAX_GRANT_UNDO {
            self.grant_undo.pop_first();
        }
        self.grant_undo.insert(
            ticket,
            GrantUndo {
                file,
                owner,
                added,
                upgraded,
            },
        );
    }

    /// The owner set `range` itself (a LOCK granted now, an UNLOCK): no withdrawal of an
    /// earlier grant may change those bytes.
    fn owner_set_bytes(&mut self, file: FileId, owner: &Arc<NlmOwner>, range: LockRange) {
        if self.grant_undo.is_empty() {
            return;
        }
        for u in self.grant_undo.values_mut() {
            if u.file == file && Arc::ptr_eq(&u.owner, owner) {
                subtract(&mut u.added, range);
                subtract(&mut u.upgraded, range);
            }
        }
    }

    /// `owner`'s locks on `file` clipped to `range`.
    fn owner_pieces(
        &self,
        file: FileId,
        owner: &Arc<NlmOwner>,
        range: LockRange,
    ) -> Vec<(LockRange, bool)> {
        let Some(fs) = self.files.get(&file) else {
            return Vec::new();
        };
        fs.candidates(range.first, range.last)
            .filter_map(|i| {
                let l = &fs.locks[i];
                match &l.owner {
                    LockOwner::Nlm(o)
                        if Arc::ptr_eq(o, owner)
                            && l.span.first <= range.last
                            && l.span.last >= range.first =>
                    {
                        Some((
                            LockRange {
                                first: l.span.first.max(range.first),
                                last: l.span.last.min(range.last),
                            },
                            l.exclusive,
                        ))
                    }
                    _ => None,
                }
            })
            .collect()
    }

    /// NLM CANCEL: withdraws the owner's blocked LOCK for this range and mode. Always
    /// `Proceed` (Linux answers NLM4_GRANTED also when nothing was pending).
    pub fn nlm_cancel(
        &mut self,
        file: FileId,
        owner: &NlmOwner,
        range: LockRange,
        exclusive: bool,
        now: Instant,
    ) -> Outcome {
        if let Some(owner) = self.owners.get(owner).cloned() {
            if self.cancel_nlm_waiters(file, &owner, Some(range), Some(exclusive)) > 0 {
                self.wake(file, now);
            }
        }
        Outcome::Proceed
    }

    /// NLM SHARE: a DOS share reservation, stored as a virtual open so SMB CREATE sees it
    /// and it sees SMB opens (O11). `Proceed` = granted; `Deny(SharingViolation)` =
    /// NLM4_DENIED (after H of conflicting SMB leases was broken, O5); may wait for breaks.
    pub fn nlm_share(&mut self, args: NlmShareArgs, now: Instant) -> Outcome {
        let owner = self.intern(&args.owner);
        self.run(
            args.file,
            Op::NlmShare {
                owner,
                access: args.access & 3,
                deny: args.deny & 3,
                reclaim: args.reclaim,
            },
            now,
        )
    }

    /// NLM UNSHARE: removes the reservation of (caller_name, oh); always `Proceed` (X/Open:
    /// success even if there was none).
    pub fn nlm_unshare(&mut self, file: FileId, owner: &NlmOwner, now: Instant) -> Outcome {
        let mut removed = Vec::new();
        if let Some(fs) = self.files.get_mut(&file) {
            fs.shares.retain(|s| {
                let same = crate::table::same_share_owner(&s.owner, owner);
                if same {
                    removed.push(s.owner.clone());
                }
                !same
            });
        }
        let any = !removed.is_empty();
        for o in removed {
            self.record(Change::NlmShareReleased { file, owner: o });
        }
        if any {
            self.wake(file, now);
        }
        self.gc_file(file);
        Outcome::Proceed
    }

    /// NLM FREE_ALL / client reboot (SM_NOTIFY): releases every lock, share reservation and
    /// blocked request of `host` (`caller_name`) and wakes the files' waiters. During grace
    /// this includes what the host reclaimed (it belongs to the life that ended) and what it
    /// had still to reclaim (its new life will not: XNFS chapter 11, docs/architecture.md
    /// lesson 3); the grace period may end early then. Returns how many locks and shares
    /// were released.
    pub fn nlm_free_all(&mut self, host: &[u8], now: Instant) -> usize {
        let mut touched = Vec::new();
        let mut released = Vec::new();
        let mut shares = Vec::new();
        let mut dropped_waiters = Vec::new();
        let mut unreclaimed = 0;
        if let Some(g) = self.grace.as_mut() {
            for (fid, un) in g.files.iter_mut() {
                let before = un.locks.len() + un.shares.len();
                un.locks.retain(|l| match &l.owner {
                    LockOwner::Nlm(o) if o.caller_name == host => {
                        released.push((l.id, *fid));
                        false
                    }
                    _ => true,
                });
                un.shares.retain(|s| {
                    if s.owner.caller_name == host {
                        shares.push((*fid, s.owner.clone()));
                        false
                    } else {
                        true
                    }
                });
                if before != un.locks.len() + un.shares.len() {
                    unreclaimed += before - un.locks.len() - un.shares.len();
                    touched.push(*fid);
                }
            }
            g.expected.retain(|h| h != host);
        }
        let unreclaimed_locks = released.len();
        for (fid, fs) in self.files.iter_mut() {
            let before = fs.locks.len() + fs.shares.len();
            fs.locks.retain(|l| match &l.owner {
                LockOwner::Nlm(o) if o.caller_name == host => {
                    released.push((l.id, *fid));
                    false
                }
                _ => true,
            });
            fs.shares.retain(|s| {
                if s.owner.caller_name == host {
                    shares.push((*fid, s.owner.clone()));
                    false
                } else {
                    true
                }
            });
            for w in &fs.waiters {
                if let Op::NlmLock { owner, .. }
                | Op::NlmShare { owner, .. }
                | Op::NlmTest { owner, .. } = &w.op
                {
                    if owner.caller_name == host {
                        dropped_waiters.push(w.ticket);
                    }
                }
            }
            if before != fs.locks.len() + fs.shares.len() {
                touched.push(*fid);
            }
        }
        self.grant_undo.retain(|_, u| u.owner.caller_name != host);
        let n = released.len() + shares.len();
        // Unreclaimed locks are not counted among the held ones.
        self.total_locks -= released.len() - unreclaimed_locks;
        // Records in file order, not in the hash map's order (issue 9 §5). Sorts are stable,
        // so a file's own locks and shares keep their order.
        released.sort_by_key(|(_, f)| *f);
        shares.sort_by_key(|(f, _)| *f);
        dropped_waiters.sort_unstable();
        for (id, file) in released {
            self.record(Change::LockReleased { id, file });
        }
        for (file, owner) in shares {
            self.record(Change::NlmShareReleased { file, owner });
        }
        for t in dropped_waiters {
            if let Some(&f) = self.tickets.get(&t) {
                touched.push(f);
            }
            self.remove_waiter(t);
        }
        touched.sort();
        touched.dedup();
        for f in touched {
            self.wake(f, now);
            self.gc_file(f);
        }
        if unreclaimed > 0 {
            self.check_early_end(now);
        }
        n
    }

    /// Records that `host` is monitored (SM_MON) with its NSM state; persisted so that after
    /// a restart the runtime can send SM_NOTIFY and the grace period expects it.
    pub fn nlm_monitor(&mut self, host: &[u8], nsm_state: i32) {
        if self.monitored.get(host) != Some(&nsm_state) {
            self.monitored.insert(host.to_vec(), nsm_state);
            self.record(Change::Monitored {
                host: host.to_vec(),
                nsm_state,
            });
        }
    }

    /// Records that `host` is no longer monitored (SM_UNMON).
    pub fn nlm_unmonitor(&mut self, host: &[u8]) {
        if self.monitored.remove(host).is_some() {
            self.record(Change::Unmonitored {
                host: host.to_vec(),
            });
        }
    }

    /// Monitored hosts and their NSM states (sorted): the SM_NOTIFY list after a restart.
    pub fn monitored_clients(&self) -> Vec<(Vec<u8>, i32)> {
        let mut v: Vec<(Vec<u8>, i32)> = self
            .monitored
            .iter()
            .map(|(h, s)| (h.clone(), *s))
            .collect();
        v.sort();
        v
    }

    // ----- evaluation ----------------------------------------------------------------

    pub(crate) fn eval_nlm_lock(
        &mut self,
        file: FileId,
        op: &mut Op,
        now: Instant,
        first: bool,
    ) -> Eval {
        let Op::NlmLock {
            owner,
            range,
            exclusive,
            block,
            reclaim,
        } = op
        else {
            return Eval::Done(Outcome::Deny(Deny::UnknownOpen));
        };
        let (owner, range, exclusive, block, reclaim) =
            (owner.clone(), *range, *exclusive, *block, *reclaim);
        let access = Access {
            span: Span::range(range),
            exclusive,
            lock_intent: true,
            who: Requester::Nlm(&owner),
        };
        if let Some(e) = self.grace_lock_check(file, &access, reclaim, Proto::Nlm) {
            return e;
        }
        // Matrix B rows 1–2: R|W break; wait only when W must go (O6: cached SMB locks).
        if self.break_for_lock(file, None, Proto::Nlm, now, first) {
            return Eval::Block(WaitReason::Break);
        }
        if let Some(l) = self.find_conflict(file, &access) {
            let holder = self.lock_holder(l);
            let kind = ConflictKind::of_lock(l);
            // A reclaim that conflicts is refused, never queued (docs/cross-protocol.md §5 rule 3).
            if !block || reclaim {
                if first {
                    self.counters.conflict(Proto::Nlm, kind, Resolution::Denied);
                }
                return Eval::Done(Outcome::Deny(Deny::Conflict(holder)));
            }
            if first {
                let me = crate::table::OwnerKey::Nlm(Arc::as_ptr(&owner) as usize);
                let blockers = self.conflicting_owners(file, &access);
                if self.would_deadlock(me, blockers) {
                    self.counters
                        .conflict(Proto::Nlm, kind, Resolution::Deadlock);
                    return Eval::Done(Outcome::Deny(Deny::Deadlock));
                }
                self.counters.conflict(Proto::Nlm, kind, Resolution::Waited);
            }
            return Eval::Block(WaitReason::Lock(holder));
        }
        // A waiter granted now (not on its first evaluation): remember what the grant
        // changes, so that a withdrawal can undo exactly that (`wake` files it by ticket).
        let prior = (!first).then(|| self.owner_pieces(file, &owner, range));
        if reclaim && !exclusive {
            // A reclaim re-establishes what the owner held before the restart; it is not a
            // new fcntl() of the process. Bytes the owner holds again since (a blocked
            // exclusive LOCK granted in grace) keep their mode: a shared reclaim only adds
            // the bytes it does not hold, never downgrades (which would take exclusivity
            // from a grant already on its way to the client).
            let mut rest = vec![range];
            for (r, _) in self.owner_pieces(file, &owner, range) {
                subtract(&mut rest, r);
            }
            for r in rest {
                if let Err(d) = self.posix_lock(file, &owner, r, false, true) {
                    return Eval::Done(Outcome::Deny(d));
                }
            }
        } else if let Err(d) = self.posix_lock(file, &owner, range, exclusive, true) {
            return Eval::Done(Outcome::Deny(d));
        }
        self.grant_prior = prior;
        if reclaim {
            self.reclaimed_nlm_lock(file, &owner, range, now);
        }
        Eval::Done(Outcome::Proceed)
    }

    pub(crate) fn eval_nlm_test(&mut self, file: FileId, op: &mut Op, now: Instant) -> Eval {
        let Op::NlmTest {
            owner,
            range,
            exclusive,
        } = op
        else {
            return Eval::Done(Outcome::Deny(Deny::UnknownOpen));
        };
        let owner = owner.clone();
        let access = Access {
            span: Span::range(*range),
            exclusive: *exclusive,
            lock_intent: true,
            who: Requester::Nlm(&owner),
        };
        if self.in_grace()
            && (self.unreclaimed_lock_conflict(file, &access).is_some()
                || self.grace_lease_conflict(file, None, crate::types::LeaseState::W))
        {
            return Eval::Done(Outcome::Deny(Deny::GracePeriod));
        }
        // Matrix B row 3: drop W only (O6/O8), R/RH stay.
        let (_, wait) = self.break_leases(file, None, BreakKind::ToTwo, None, now);
        if wait {
            return Eval::Block(WaitReason::Break);
        }
        match self.find_conflict(file, &access) {
            Some(l) => Eval::Done(Outcome::Deny(Deny::Conflict(self.lock_holder(l)))),
            None => Eval::Done(Outcome::Proceed),
        }
    }

    pub(crate) fn eval_nlm_share(&mut self, file: FileId, op: &mut Op, now: Instant) -> Eval {
        let Op::NlmShare {
            owner,
            access,
            deny,
            reclaim,
        } = op
        else {
            return Eval::Done(Outcome::Deny(Deny::UnknownOpen));
        };
        let (owner, access, deny, reclaim) = (owner.clone(), *access, *deny, *reclaim);
        let share = NlmShare {
            owner: owner.clone(),
            access,
            deny,
        };
        let (acc, shr) = share.as_open();
        if let Some(e) = self.grace_share_check(file, &owner, acc, shr, reclaim) {
            return e;
        }
        if let Some(e) =
            self.share_check_h_star(file, acc, shr, None, None, Some(&owner), Proto::Nlm, now)
        {
            return e;
        }
        // Matrix B row 21: a data open breaks W (O11).
        if acc != 0 {
            let (_, wait) = self.break_leases(file, None, BreakKind::ToTwo, None, now);
            if wait {
                return Eval::Block(WaitReason::Break);
            }
        }
        let fs = self.files.entry(file).or_default();
        if let Some(s) = fs
            .shares
            .iter_mut()
            .find(|s| crate::table::same_share_owner(&s.owner, &owner))
        {
            s.access = access;
            s.deny = deny;
        } else {
            fs.shares.push(share);
        }
        self.nlm_shares_seen = true;
        self.record(Change::NlmShare {
            file,
            owner: owner.clone(),
            access,
            deny,
        });
        if reclaim {
            self.reclaimed_nlm_share(file, &owner, now);
        }
        Eval::Done(Outcome::Proceed)
    }

    // ----- POSIX range algebra ---------------------------------------------------------

    /// Grants `range` to `owner` with POSIX merge/split/upgrade/downgrade among its own
    /// locks. Emits release/grant records for every lock removed/added. `bounded`: refuse
    /// with `NoLocks` past the table's bounds (a withdrawal's downgrade is not bounded).
    pub(crate) fn posix_lock(
        &mut self,
        file: FileId,
        owner: &Arc<NlmOwner>,
        range: LockRange,
        exclusive: bool,
        bounded: bool,
    ) -> Result<(), Deny> {
        let adj_first = range.first.saturating_sub(1);
        let adj_last = range.last.saturating_add(1);
        let mut touched: Vec<usize> = Vec::new();
        if let Some(fs) = self.files.get(&file) {
            for i in fs.candidates(adj_first, adj_last) {
                let l = &fs.locks[i];
                if let LockOwner::Nlm(o) = &l.owner {
                    if Arc::ptr_eq(o, owner) && l.span.last >= adj_first {
                        touched.push(i);
                    }
                }
            }
        }
        if touched.is_empty() {
            if bounded && self.over_bounds(file, 1) {
                return Err(Deny::NoLocks);
            }
            self.add_nlm_lock(file, owner, range, exclusive);
            return Ok(());
        }
        let Some(fs) = self.files.get(&file) else {
            return Ok(());
        };
        // Already held with the same type: nothing changes (retransmitted LOCK).
        if touched.iter().any(|&i| {
            let l = &fs.locks[i];
            l.exclusive == exclusive && l.span.first <= range.first && l.span.last >= range.last
        }) {
            return Ok(());
        }
        let mut new_first = range.first;
        let mut new_last = range.last;
        let mut pieces: Vec<(LockRange, bool)> = Vec::new();
        let mut removed: Vec<usize> = Vec::new();
        for &i in &touched {
            let l = &fs.locks[i];
            let overlapping = l.span.first <= range.last && l.span.last >= range.first;
            if l.exclusive == exclusive && !overlapping {
                // Merging a merely adjacent lock joins the two at a seam. A foreign
                // zero-length SMB lock at that seam conflicts with any range spanning it
                // (MS-FSA 2.1.4.10), so there the two locks stay separate: the same bytes
                // are held, and no conflicting grant is created by the merge.
                let seam = if l.span.last.checked_add(1) == Some(range.first) {
                    range.first
                } else {
                    l.span.first
                };
                let guarded = fs.locks.iter().any(|z| {
                    z.span.zero
                        && z.span.first == seam
                        && !matches!(&z.owner, LockOwner::Nlm(o) if Arc::ptr_eq(o, owner))
                });
                if guarded {
                    continue;
                }
            }
            if l.exclusive == exclusive {
                new_first = new_first.min(l.span.first);
                new_last = new_last.max(l.span.last);
                removed.push(i);
            } else if l.span.first <= range.last && l.span.last >= range.first {
                removed.push(i);
                pieces.extend(l.span.outside(range).map(|r| (r, l.exclusive)));
            }
        }
        let added = pieces.len() + 1;
        if bounded && added > removed.len() && self.over_bounds(file, added - removed.len()) {
            return Err(Deny::NoLocks);
        }
        pieces.push((
            LockRange {
                first: new_first,
                last: new_last,
            },
            exclusive,
        ));
        self.replace_locks(file, owner, removed, pieces);
        Ok(())
    }

    /// Removes `owner`'s locks inside `range`, keeping the parts outside. Returns true if
    /// anything was removed.
    pub(crate) fn posix_unlock(
        &mut self,
        file: FileId,
        owner: &Arc<NlmOwner>,
        range: LockRange,
    ) -> bool {
        let Some(fs) = self.files.get(&file) else {
            return false;
        };
        let mut removed = Vec::new();
        let mut pieces = Vec::new();
        for i in fs.candidates(range.first, range.last) {
            let l = &fs.locks[i];
            let LockOwner::Nlm(o) = &l.owner else {
                continue;
            };
            if !Arc::ptr_eq(o, owner) || l.span.last < range.first {
                continue;
            }
            removed.push(i);
            pieces.extend(l.span.outside(range).map(|r| (r, l.exclusive)));
        }
        if removed.is_empty() {
            return false;
        }
        // Splitting one lock in two may add one lock; unlock never fails on bounds (POSIX
        // unlock must succeed), so the bound may be exceeded by one here.
        self.replace_locks(file, owner, removed, pieces);
        true
    }

    fn replace_locks(
        &mut self,
        file: FileId,
        owner: &Arc<NlmOwner>,
        mut removed: Vec<usize>,
        pieces: Vec<(LockRange, bool)>,
    ) {
        removed.sort_unstable();
        let mut gone = Vec::with_capacity(removed.len());
        if let Some(fs) = self.files.get_mut(&file) {
            let mut wide = false;
            for &i in removed.iter().rev() {
                let l = fs.locks.remove(i);
                let len = l.span.last.saturating_sub(l.span.first);
                wide |= len >= fs.max_len && len > WIDE;
                gone.push(l.id);
            }
            // A stale max_last costs nothing (scans start from the end); a stale max_len
            // widens every scan, so recompute when a wide lock (often to-EOF) went away.
            if wide || fs.locks.is_empty() {
                fs.recompute_bounds();
            }
        }
        self.total_locks -= gone.len();
        // The new pieces are recorded before the releases of the locks they replace: the
        // journal may be cut after any record (a crash), and every prefix must still hold
        // every byte the owner holds before and after this change. Release-first would
        // leave a prefix in which a range the client keeps holding (the rest of a split,
        // a merged or upgraded range) is held by nobody, free for another client after the
        // restart. Grant-first leaves, at worst, the owner's old and new locks overlapping
        // in the prefix: `restore` keeps both, `start_grace` makes them unreclaimed state,
        // reclaims take them apart (`reclaimed_nlm_lock`) and the end of grace drops the
        // rest — the conservative direction (docs/cross-protocol.md §5 rule 1).
        for (range, exclusive) in pieces {
            self.add_nlm_lock(file, owner, range, exclusive);
        }
        for id in gone.into_iter().rev() {
            self.record(Change::LockReleased { id, file });
        }
    }

    /// Inserts one NLM lock with a fresh id and records it for the journal: a lock granted
    /// where the owner held nothing, or one piece of a merge/split (bounds are the
    /// caller's check).
    fn add_nlm_lock(
        &mut self,
        file: FileId,
        owner: &Arc<NlmOwner>,
        range: LockRange,
        exclusive: bool,
    ) {
        let id = self.new_lock_id();
        self.insert_lock(
            file,
            Lock {
                id,
                span: Span::range(range),
                exclusive,
                owner: LockOwner::Nlm(owner.clone()),
            },
        );
        self.record(Change::NlmLock {
            id,
            file,
            owner: owner.clone(),
            range,
            exclusive,
        });
    }

    /// Removes the owner's waiting LOCKs on `file` (for `range`/`exclusive` if given).
    fn cancel_nlm_waiters(
        &mut self,
        file: FileId,
        owner: &Arc<NlmOwner>,
        range: Option<LockRange>,
        exclusive: Option<bool>,
    ) -> usize {
        let tickets: Vec<_> = self
            .files
            .get(&file)
            .map(|fs| {
                fs.waiters
                    .iter()
                    .filter(|w| match &w.op {
                        Op::NlmLock {
                            owner: o,
                            range: r,
                            exclusive: x,
                            ..
                        } => {
                            Arc::ptr_eq(o, owner)
                                && range.is_none_or(|rr| rr == *r)
                                && exclusive.is_none_or(|xx| xx == *x)
                        }
                        _ => false,
                    })
                    .map(|w| w.ticket)
                    .collect()
            })
            .unwrap_or_default();
        let n = tickets.len();
        for t in tickets {
            self.remove_waiter(t);
        }
        n
    }
}
