//! [`LockBackend`] for `lockstate::LockTable`: the one place where the table's protocol-neutral
//! outcomes become `nlm4_stats` (docs/cross-protocol.md §3.1, §4.2/§4.3 NLM rows, §5).
//!
//! | table outcome | NLM |
//! |---|---|
//! | `Proceed` | NLM4_GRANTED |
//! | `Wait` for a lock (blocking LOCK) | NLM4_BLOCKED, GRANTED callback on `Completed` |
//! | `Wait` for a break or grace | hold the reply (O4); `HoldExpired` → BLOCKED or drop |
//! | `Deny(Conflict)`, `Deny(SharingViolation)`, `Deny(Cancelled)` | NLM4_DENIED |
//! | `Deny(Deadlock)` | NLM4_DEADLCK |
//! | `Deny(NoLocks)` | NLM4_DENIED_NOLOCKS |
//! | `Deny(GracePeriod)`, `Deny(RetryLater)` | NLM4_DENIED_GRACE_PERIOD |
//! | `Deny(InvalidRange)`, a range past 2^63-1 | NLM4_FBIG (Linux `svc4proc.c`) |
//! | anything else | NLM4_FAILED |
//!
//! Owners: `caller_name` bytes that are not UTF-8 are converted lossily (two such names that differ
//! only in invalid bytes would share state: a documented limitation); `svid` keeps its 32 bits. A
//! conflicting holder is reported with `Holder::to_nlm` (docs/cross-protocol.md §4.4 O8); an SMB
//! holder has no owner handle, so its `smb:<client>` name is sent as the `oh`.

use std::time::Instant;

use lockstate::{
    Deny, Event, LockRange, LockTable, NlmLockArgs, NlmOwner, NlmShareArgs, Outcome, WaitReason,
};

use super::backend::*;
use crate::wire::{FshAccess, FshMode, Netobj, Nlm4Holder, Nlm4Stats};

fn nlm_owner(o: &Owner) -> NlmOwner {
    NlmOwner::new(o.caller_name.to_vec(), o.svid, o.oh.to_vec())
}

/// The NLM status for a table refusal.
pub fn deny_status(d: &Deny) -> Nlm4Stats {
    match d {
        Deny::Conflict(_) | Deny::SharingViolation(_) | Deny::Cancelled => Nlm4Stats::Denied,
        Deny::Deadlock => Nlm4Stats::Deadlck,
        Deny::NoLocks => Nlm4Stats::DeniedNolocks,
        Deny::GracePeriod | Deny::RetryLater => Nlm4Stats::DeniedGracePeriod,
        Deny::InvalidRange => Nlm4Stats::Fbig,
        _ => Nlm4Stats::Failed,
    }
}

fn holder(h: &lockstate::Holder) -> Nlm4Holder {
    let n = h.to_nlm();
    let oh = if n.oh.is_empty() { n.caller_name } else { n.oh };
    let mut oh = oh;
    oh.truncate(crate::wire::MAXNETOBJ_SZ as usize);
    Nlm4Holder {
        exclusive: n.exclusive,
        svid: n.svid,
        oh: Netobj::new(oh).unwrap_or_default(),
        l_offset: n.offset,
        l_len: n.len,
    }
}

/// Translates a table event about an NLM request; `None` for events that are not about a
/// waiting request (lease breaks, grace end). Whether the ticket is NLM's is decided by
/// [`NlmService::handle_backend_event`](super::NlmService::handle_backend_event).
pub fn backend_event(ev: &Event) -> Option<BackendEvent> {
    match ev {
        Event::Completed {
            ticket, outcome, ..
        } => Some(match outcome {
            Outcome::Deny(d) => BackendEvent::Refused(*ticket, deny_status(d)),
            // `Wait` never completes a waiter; `Opened` is SMB's.
            _ => BackendEvent::Granted(*ticket),
        }),
        Event::HoldExpired {
            ticket,
            still_waiting,
            ..
        } => Some(BackendEvent::HoldExpired {
            ticket: *ticket,
            still_waiting: *still_waiting,
        }),
        _ => None,
    }
}

impl super::NlmService {
    /// Drains `table.poll_event()`, handling the events about NLM's waiting requests, until
    /// the table has none left (handling one may cause more), and returns the others (lease
    /// breaks, SMB completions, grace end) in order for the runtime to route.
    pub fn handle_table_events(&mut self, now: Instant, table: &mut LockTable) -> Vec<Event> {
        let mut others = Vec::new();
        while let Some(ev) = table.poll_event() {
            let mine = match backend_event(&ev) {
                Some(b) => self.handle_backend_event(now, table, &b),
                None => false,
            };
            if !mine {
                others.push(ev);
            }
        }
        others
    }
}

impl LockBackend for LockTable {
    fn lock(&mut self, now: Instant, req: &LockRequest) -> LockDecision {
        let Ok(range) = LockRange::nlm(req.offset, req.len) else {
            return LockDecision::Refused(Nlm4Stats::Fbig);
        };
        let out = self.nlm_lock(
            NlmLockArgs {
                file: req.file,
                owner: nlm_owner(&req.owner),
                range,
                exclusive: req.exclusive,
                block: req.block,
                reclaim: req.reclaim,
            },
            now,
        );
        match out {
            Outcome::Proceed | Outcome::Opened(_) => LockDecision::Granted,
            Outcome::Deny(d) => LockDecision::Refused(deny_status(&d)),
            Outcome::Wait(w) => match w.reason {
                WaitReason::Lock(_) => LockDecision::Blocked(w.ticket),
                WaitReason::Break | WaitReason::Grace => LockDecision::Held(w.ticket),
            },
        }
    }

    fn test(&mut self, now: Instant, req: &LockRequest) -> TestDecision {
        let Ok(range) = LockRange::nlm(req.offset, req.len) else {
            return TestDecision::Refused(Nlm4Stats::Fbig);
        };
        match self.nlm_test(req.file, &nlm_owner(&req.owner), range, req.exclusive, now) {
            Outcome::Proceed | Outcome::Opened(_) => TestDecision::Free,
            Outcome::Deny(Deny::Conflict(h)) => TestDecision::Conflict(holder(&h)),
            Outcome::Deny(d) => TestDecision::Refused(deny_status(&d)),
            Outcome::Wait(w) => {
                // TEST has no later answer: withdraw the waiter; the break goes on and the
                // client's retransmission sees its result.
                self.cancel(w.ticket, now);
                TestDecision::NotYet
            }
        }
    }

    fn unlock(
        &mut self,
        now: Instant,
        file: FileId,
        owner: &Owner,
        offset: u64,
        len: u64,
    ) -> Nlm4Stats {
        let Ok(range) = LockRange::nlm(offset, len) else {
            return Nlm4Stats::Fbig;
        };
        match self.nlm_unlock(file, &nlm_owner(owner), range, now) {
            Outcome::Deny(d) => deny_status(&d),
            _ => Nlm4Stats::Granted,
        }
    }

    fn cancel(&mut self, now: Instant, ticket: WaitTicket) {
        LockTable::cancel(self, ticket, now);
    }

    fn cancel_many(&mut self, now: Instant, tickets: &[WaitTicket]) {
        LockTable::cancel_many(self, tickets, now);
    }

    fn withdraw_grant(
        &mut self,
        now: Instant,
        ticket: WaitTicket,
        file: FileId,
        owner: &Owner,
        offset: u64,
        len: u64,
    ) {
        // The table undoes exactly what the grant changed. It forgets a grant only when it
        // was settled, its host freed, or past its bound: then the range is released, so
        // the lock is not held by nobody (lesson 13).
        if !self.nlm_withdraw_grant(ticket, now) {
            self.unlock(now, file, owner, offset, len);
        }
    }

    fn grant_settled(&mut self, ticket: WaitTicket) {
        self.nlm_grant_settled(ticket);
    }

    fn share(
        &mut self,
        now: Instant,
        file: FileId,
        owner: &Owner,
        access: FshAccess,
        mode: FshMode,
        reclaim: bool,
    ) -> ShareDecision {
        let out = self.nlm_share(
            NlmShareArgs {
                file,
                owner: nlm_owner(owner),
                access: access.to_u32(),
                deny: mode.to_u32(),
                reclaim,
            },
            now,
        );
        match out {
            Outcome::Proceed | Outcome::Opened(_) => ShareDecision::Done(Nlm4Stats::Granted),
            Outcome::Deny(d) => ShareDecision::Done(deny_status(&d)),
            Outcome::Wait(w) => {
                self.cancel(w.ticket, now);
                ShareDecision::NotYet
            }
        }
    }

    fn unshare(&mut self, now: Instant, file: FileId, owner: &Owner) -> Nlm4Stats {
        match self.nlm_unshare(file, &nlm_owner(owner), now) {
            Outcome::Deny(d) => deny_status(&d),
            _ => Nlm4Stats::Granted,
        }
    }

    fn free_host(&mut self, now: Instant, caller_name: &[u8]) {
        self.nlm_free_all(caller_name, now);
    }

    fn monitor(&mut self, caller_name: &[u8], state: i32) {
        self.nlm_monitor(caller_name, state);
    }

    fn unmonitor(&mut self, caller_name: &[u8]) {
        self.nlm_unmonitor(caller_name);
    }

    fn in_grace(&self, _now: Instant) -> bool {
        LockTable::in_grace(self)
    }
}
