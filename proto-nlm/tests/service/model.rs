//! A deliberately simple lock table for the service tests: whole-range locks per owner,
//! one FIFO of waiters, conflicts by overlap and exclusivity, a grace switch, and a "lease
//! file" whose requests are held. It lets the service's own logic (blocks, callbacks,
//! retries, NSM) be tested on virtual time without depending on `lockstate`'s internals;
//! the same scenarios run against `lockstate` through the adapter in `lockstate_tests`.

use std::collections::VecDeque;
use std::time::Instant;

use proto_nlm::service::backend::*;
use proto_nlm::wire::{FshAccess, FshMode, Netobj, Nlm4Holder, Nlm4Stats};

/// Requests on this file wait on a (simulated) SMB lease break: `Held`.
pub const LEASE_FILE: FileId = FileId(999);

#[derive(Debug, Clone)]
pub struct ModelLock {
    pub file: FileId,
    pub owner: Owner,
    pub lo: u64,
    pub hi: u64,
    pub exclusive: bool,
}

#[derive(Debug, Default)]
pub struct ModelLocks {
    pub locks: Vec<ModelLock>,
    pub waiters: VecDeque<(WaitTicket, LockRequest)>,
    pub events: VecDeque<BackendEvent>,
    pub shares: Vec<(FileId, Owner, FshAccess, FshMode)>,
    pub grace: bool,
    next: u64,
}

fn bounds(offset: u64, len: u64) -> (u64, u64) {
    if len == 0 {
        (offset, u64::MAX)
    } else {
        (offset, offset.saturating_add(len - 1))
    }
}

impl ModelLocks {
    fn conflict(&self, req: &LockRequest) -> Option<&ModelLock> {
        let (lo, hi) = bounds(req.offset, req.len);
        self.locks.iter().find(|l| {
            l.file == req.file
                && l.owner != req.owner
                && l.lo <= hi
                && l.hi >= lo
                && (l.exclusive || req.exclusive)
        })
    }

    fn grant(&mut self, req: &LockRequest) {
        let (lo, hi) = bounds(req.offset, req.len);
        self.locks
            .retain(|l| !(l.file == req.file && l.owner == req.owner && l.lo == lo && l.hi == hi));
        self.locks.push(ModelLock {
            file: req.file,
            owner: req.owner.clone(),
            lo,
            hi,
            exclusive: req.exclusive,
        });
    }

    fn wake(&mut self) {
        let mut still = VecDeque::new();
        while let Some((t, req)) = self.waiters.pop_front() {
            if req.file != LEASE_FILE && self.conflict(&req).is_none() {
                self.grant(&req);
                self.events.push_back(BackendEvent::Granted(t));
            } else {
                still.push_back((t, req));
            }
        }
        self.waiters = still;
    }

    pub fn holds(&self, caller: &[u8], file: FileId) -> bool {
        self.locks
            .iter()
            .any(|l| l.file == file && l.owner.caller_name == caller)
    }

    /// Completes the held request `t` as granted (the lease break finished).
    pub fn finish_held(&mut self, t: WaitTicket) {
        if let Some(pos) = self.waiters.iter().position(|(w, _)| *w == t) {
            if let Some((_, req)) = self.waiters.remove(pos) {
                self.grant(&req);
                self.events.push_back(BackendEvent::Granted(t));
            }
        }
    }
}

impl LockBackend for ModelLocks {
    fn lock(&mut self, _now: Instant, req: &LockRequest) -> LockDecision {
        if req.offset > i64::MAX as u64 {
            return LockDecision::Refused(Nlm4Stats::Fbig);
        }
        if self.grace != req.reclaim {
            return LockDecision::Refused(Nlm4Stats::DeniedGracePeriod);
        }
        self.next += 1;
        let t = WaitTicket(self.next);
        if req.file == LEASE_FILE {
            self.waiters.push_back((t, req.clone()));
            return LockDecision::Held(t);
        }
        if self.conflict(req).is_none() {
            self.grant(req);
            return LockDecision::Granted;
        }
        if req.block {
            self.waiters.push_back((t, req.clone()));
            LockDecision::Blocked(t)
        } else {
            LockDecision::Refused(Nlm4Stats::Denied)
        }
    }

    fn test(&mut self, _now: Instant, req: &LockRequest) -> TestDecision {
        match self.conflict(req) {
            None => TestDecision::Free,
            Some(l) => TestDecision::Conflict(Nlm4Holder {
                exclusive: l.exclusive,
                svid: l.owner.svid,
                oh: Netobj::new(l.owner.oh.clone()).unwrap_or_default(),
                l_offset: l.lo,
                l_len: if l.hi == u64::MAX { 0 } else { l.hi - l.lo + 1 },
            }),
        }
    }

    fn unlock(
        &mut self,
        _now: Instant,
        file: FileId,
        owner: &Owner,
        offset: u64,
        len: u64,
    ) -> Nlm4Stats {
        let (lo, hi) = bounds(offset, len);
        self.locks
            .retain(|l| !(l.file == file && &l.owner == owner && l.lo >= lo && l.hi <= hi));
        self.wake();
        Nlm4Stats::Granted
    }

    fn cancel(&mut self, _now: Instant, ticket: WaitTicket) {
        self.waiters.retain(|(t, _)| *t != ticket);
    }

    fn share(
        &mut self,
        _now: Instant,
        file: FileId,
        owner: &Owner,
        access: FshAccess,
        mode: FshMode,
        _reclaim: bool,
    ) -> ShareDecision {
        let conflict = self.shares.iter().any(|(f, o, a, m)| {
            *f == file
                && o != owner
                && (a.to_u32() & mode.to_u32() != 0 || access.to_u32() & m.to_u32() != 0)
        });
        if conflict {
            return ShareDecision::Done(Nlm4Stats::Denied);
        }
        self.shares
            .retain(|(f, o, _, _)| !(*f == file && o == owner));
        self.shares.push((file, owner.clone(), access, mode));
        ShareDecision::Done(Nlm4Stats::Granted)
    }

    fn unshare(&mut self, _now: Instant, file: FileId, owner: &Owner) -> Nlm4Stats {
        self.shares
            .retain(|(f, o, _, _)| !(*f == file && o == owner));
        Nlm4Stats::Granted
    }

    fn free_host(&mut self, _now: Instant, caller_name: &[u8]) {
        self.locks.retain(|l| l.owner.caller_name != caller_name);
        self.shares
            .retain(|(_, o, _, _)| o.caller_name != caller_name);
        self.waiters
            .retain(|(_, r)| r.owner.caller_name != caller_name);
        self.wake();
    }

    fn in_grace(&self, _now: Instant) -> bool {
        self.grace
    }

    fn monitor(&mut self, _caller_name: &[u8], _state: i32) {}

    fn unmonitor(&mut self, _caller_name: &[u8]) {}
}
