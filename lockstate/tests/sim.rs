//! Random operation sequences over several files, NLM owners, SMB clients and NFS, on
//! virtual time. After every step:
//! * no two conflicting grants coexist (overlapping locks are both shared; a W lease
//!   excludes NLM locks, other keys' SMB locks and other keys' caching);
//! * no waiter is stale (waiting on a lock when the file has none, on a break when none is
//!   in progress);
//! * every break in progress has a deadline within the break timeout (so it ends by ack or
//!   timeout), and at the end, after everything is released and time passes, nothing waits;
//! * whole-file exclusive blocking NLM requests are granted in FIFO order;
//! * the persistence records replayed into a fresh table reproduce the same state.

mod common;
use common::*;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::time::Duration;

type RawOp = (u8, u8, u8, u8, u8, bool);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fifo {
    Idle,
    Waiting(Ticket),
    Holding,
}

struct Sim {
    h: Harness,
    opens: Vec<OpenId>,
    next_open: u64,
    pending_creates: BTreeMap<Ticket, OpenId>,
    fifo: BTreeMap<(u64, u8), Fifo>,
    fifo_tickets: BTreeMap<Ticket, (u64, u8)>,
    waiting: Vec<Ticket>,
    stats: Stats,
}

/// What a run exercised (so the invariants are known to have been tested on real traffic).
#[derive(Default, Debug)]
struct Stats {
    completed: usize,
    breaks: usize,
    fifo_grants: usize,
    hold_expired: usize,
    waits: usize,
}

fn file(n: u8) -> FileId {
    FileId(u64::from(n % 3) + 1)
}

fn nlm_owner(b: u8, c: u8) -> NlmOwner {
    owner(&format!("h{}", b % 3), i32::from(c % 2))
}

impl Sim {
    fn new() -> Self {
        Sim {
            h: Harness::new(),
            opens: Vec::new(),
            next_open: 1,
            pending_creates: BTreeMap::new(),
            fifo: BTreeMap::new(),
            fifo_tickets: BTreeMap::new(),
            waiting: Vec::new(),
            stats: Stats::default(),
        }
    }

    fn note(&mut self, out: &Outcome) {
        if let Outcome::Wait(w) = out {
            self.stats.waits += 1;
            self.waiting.push(w.ticket);
        }
    }

    fn step(&mut self, (k, a, b, c, d, flag): RawOp) {
        let now = self.h.now;
        match k % 16 {
            0 | 1 => {
                let r = LockRange::nlm(u64::from(d % 32), u64::from(c % 8)).unwrap();
                let out = self.h.t.nlm_lock(
                    NlmLockArgs {
                        file: file(a),
                        owner: nlm_owner(b, c / 8),
                        range: r,
                        exclusive: flag,
                        block: d % 2 == 0,
                        reclaim: false,
                    },
                    now,
                );
                self.note(&out);
            }
            2 => {
                let r = LockRange::nlm(u64::from(d % 32), u64::from(c % 8)).unwrap();
                self.h.t.nlm_unlock(file(a), &nlm_owner(b, c / 8), r, now);
            }
            3 => {
                let r = LockRange::nlm(u64::from(d % 32), u64::from(c % 8)).unwrap();
                let out = self
                    .h
                    .t
                    .nlm_test(file(a), &nlm_owner(b, c / 8), r, flag, now);
                self.note(&out);
            }
            4 => {
                let key = (file(a).0, b % 3);
                if *self.fifo.get(&key).unwrap_or(&Fifo::Idle) == Fifo::Idle {
                    let out = self.h.t.nlm_lock(
                        NlmLockArgs {
                            file: file(a),
                            owner: owner("fifo", i32::from(b % 3)),
                            range: LockRange::whole_file(),
                            exclusive: true,
                            block: true,
                            reclaim: false,
                        },
                        now,
                    );
                    let st = match &out {
                        Outcome::Proceed => Fifo::Holding,
                        Outcome::Wait(w) => {
                            self.fifo_tickets.insert(w.ticket, key);
                            Fifo::Waiting(w.ticket)
                        }
                        _ => Fifo::Idle,
                    };
                    self.note(&out);
                    self.fifo.insert(key, st);
                }
            }
            5 => {
                let key = (file(a).0, b % 3);
                if self.fifo.get(&key) == Some(&Fifo::Holding) {
                    self.h.t.nlm_unlock(
                        file(a),
                        &owner("fifo", i32::from(b % 3)),
                        LockRange::whole_file(),
                        now,
                    );
                    self.fifo.insert(key, Fifo::Idle);
                }
            }
            6 => {
                let open = OpenId(self.next_open);
                self.next_open += 1;
                let accesses = [
                    access::READ_DATA,
                    access::READ_DATA | access::WRITE_DATA,
                    access::READ_ATTRIBUTES,
                    access::DELETE | access::READ_DATA,
                ];
                let shares = [share::ALL, share::READ, share::READ | share::WRITE, 0];
                let mut cr = SmbCreate::new(
                    file(a),
                    open,
                    guid(b % 3),
                    accesses[usize::from(c % 4)],
                    shares[usize::from(d % 4)],
                );
                cr.overwrite = flag && c % 3 == 0;
                cr.allocation_size = if d % 2 == 0 { 0 } else { u64::MAX };
                cr.durable = d % 3 == 0;
                cr.cache = match (c / 4) % 6 {
                    0 => CacheRequest::None,
                    1 => CacheRequest::Oplock(OplockLevel::Batch),
                    n => CacheRequest::Lease {
                        key: lkey(b % 3 * 10 + a % 3),
                        state: [
                            LeaseState::R,
                            LeaseState::RH,
                            LeaseState::RW,
                            LeaseState::RWH,
                        ][usize::from(n - 2)],
                        version: if flag {
                            LeaseVersion::V1
                        } else {
                            LeaseVersion::V2 { parent: None }
                        },
                    },
                };
                let out = self.h.t.smb_create(cr, now);
                match &out {
                    Outcome::Opened(_) => self.opens.push(open),
                    Outcome::Wait(w) => {
                        self.pending_creates.insert(w.ticket, open);
                    }
                    _ => {}
                }
                self.note(&out);
            }
            7 => {
                if !self.opens.is_empty() {
                    let o = self.opens.remove(usize::from(a) % self.opens.len());
                    assert_eq!(self.h.t.smb_close(o, now), Outcome::Proceed);
                }
            }
            8 | 9 => {
                if let Some(&o) = self.pick_open(a) {
                    let out = self.h.t.smb_lock(
                        SmbLockArgs {
                            open: o,
                            offset: u64::from(b % 32),
                            length: u64::from(c % 8),
                            exclusive: flag,
                            fail_immediately: d % 2 == 0,
                        },
                        now,
                    );
                    self.note(&out);
                }
            }
            10 => {
                if let Some(&o) = self.pick_open(a) {
                    for fid in self.h.t.files() {
                        let v = self.h.t.view(fid);
                        let mine: Vec<_> = v
                            .locks
                            .iter()
                            .filter(|l| matches!(l.holder.who, HolderKind::Smb { open, .. } if open == o))
                            .collect();
                        if let Some(l) = mine.get(usize::from(b) % mine.len().max(1)) {
                            let out = self.h.t.smb_unlock(
                                o,
                                l.holder.span.first,
                                l.holder.span.smb_length(),
                                now,
                            );
                            assert_eq!(out, Outcome::Proceed);
                        }
                    }
                }
            }
            11 => {
                if let Some(&o) = self.pick_open(a) {
                    let out = if flag {
                        self.h
                            .t
                            .smb_write(o, u64::from(b % 32), u64::from(c % 8), now)
                    } else {
                        self.h
                            .t
                            .smb_read(o, u64::from(b % 32), u64::from(c % 8), now)
                    };
                    self.note(&out);
                }
            }
            12 => {
                let f = file(a);
                let out = match b % 6 {
                    0 => self
                        .h
                        .t
                        .nfs_read(f, u64::from(c % 32), u64::from(d % 8) + 1, now),
                    1 => self
                        .h
                        .t
                        .nfs_write(f, u64::from(c % 32), u64::from(d % 8) + 1, now),
                    2 => self.h.t.nfs_set_size(f, now),
                    3 => self.h.t.nfs_remove(f, now),
                    4 => self.h.t.nfs_rename_target(f, now),
                    _ => self.h.t.nfs_create_truncate(f, now),
                };
                self.note(&out);
            }
            13 => {
                let breaking: Vec<LeaseView> = self
                    .h
                    .t
                    .files()
                    .into_iter()
                    .flat_map(|f| self.h.t.view(f).leases)
                    .filter(|l| l.breaking)
                    .collect();
                if let Some(l) = breaking.get(usize::from(a) % breaking.len().max(1)) {
                    let state = match b % 3 {
                        0 => l.break_to,
                        1 => LeaseState::NONE,
                        _ => LeaseState::RWH,
                    };
                    let res = match l.key {
                        CacheKey::Lease(cg, key) => self
                            .h
                            .t
                            .smb_lease_break_ack(cg, key, state, now)
                            .map(|_| ()),
                        CacheKey::Oplock(o) => self
                            .h
                            .t
                            .smb_oplock_break_ack(o, OplockLevel::from_lease(state), now)
                            .map(|_| ()),
                    };
                    if l.break_to.contains(state) {
                        assert_eq!(res, Ok(()));
                    } else {
                        assert_eq!(res, Err(AckError::NotSubset));
                    }
                }
            }
            14 => self.h.advance(Duration::from_millis(u64::from(a) * 200)),
            _ => {
                if flag && !self.waiting.is_empty() {
                    let t = self.waiting[usize::from(a) % self.waiting.len()];
                    if !self.fifo_tickets.contains_key(&t) && !self.pending_creates.contains_key(&t)
                    {
                        self.h.t.cancel(t, now);
                    }
                } else if b % 2 == 0 {
                    let out = self.h.t.nlm_share(
                        NlmShareArgs {
                            file: file(a),
                            owner: nlm_owner(c, 0),
                            access: u32::from(d % 4),
                            deny: u32::from(d / 4 % 4),
                            reclaim: false,
                        },
                        now,
                    );
                    self.note(&out);
                } else {
                    self.h.t.nlm_free_all(format!("h{}", c % 3).as_bytes(), now);
                }
            }
        }
        self.after_step();
    }

    fn pick_open(&self, a: u8) -> Option<&OpenId> {
        if self.opens.is_empty() {
            None
        } else {
            self.opens.get(usize::from(a) % self.opens.len())
        }
    }

    fn after_step(&mut self) {
        let evs = self.h.drain();
        for e in evs {
            match e {
                Event::Completed {
                    ticket,
                    file,
                    outcome,
                } => {
                    self.stats.completed += 1;
                    if self.fifo_tickets.contains_key(&ticket) {
                        self.stats.fifo_grants += 1;
                    }
                    self.waiting.retain(|t| *t != ticket);
                    if let Some(o) = self.pending_creates.remove(&ticket) {
                        if matches!(outcome, Outcome::Opened(_)) {
                            self.opens.push(o);
                        }
                    }
                    if let Some(key) = self.fifo_tickets.remove(&ticket) {
                        // FIFO: no earlier whole-file exclusive waiter on this file still waits.
                        for (k2, st) in &self.fifo {
                            if let Fifo::Waiting(t2) = st {
                                if k2.0 == file.0 && *k2 != key {
                                    assert!(
                                        *t2 > ticket,
                                        "FIFO violated: {t2:?} waited longer than {ticket:?}"
                                    );
                                }
                            }
                        }
                        let st = if outcome == Outcome::Proceed {
                            Fifo::Holding
                        } else {
                            Fifo::Idle
                        };
                        self.fifo.insert(key, st);
                    }
                }
                Event::HoldExpired {
                    ticket,
                    still_waiting: false,
                    ..
                } => {
                    self.stats.hold_expired += 1;
                    self.waiting.retain(|t| *t != ticket);
                    self.pending_creates.remove(&ticket);
                    if let Some(key) = self.fifo_tickets.remove(&ticket) {
                        self.fifo.insert(key, Fifo::Idle);
                    }
                }
                Event::Break(_) => self.stats.breaks += 1,
                _ => {}
            }
        }
        // Cancelled/freed fifo waiters (free_all of host "fifo" never happens; cancel skips them).
        self.check_invariants();
    }

    fn check_invariants(&mut self) {
        let t = &self.h.t;
        let timeout = t.config().break_timeout;
        for f in t.files() {
            let v = t.view(f);
            // Overlapping locks are both shared, or one open's exclusive lock with shared
            // locks of the same open stacked on it (MS-FSA 2.1.5.8).
            for (i, a) in v.locks.iter().enumerate() {
                for b in &v.locks[i + 1..] {
                    if overlap(&a.holder.span, &b.holder.span) {
                        let same_open = matches!(
                            (&a.holder.who, &b.holder.who),
                            (lockstate::HolderKind::Smb { open: x, .. }, lockstate::HolderKind::Smb { open: y, .. }) if x == y
                        );
                        assert!(
                            (!a.holder.exclusive && !b.holder.exclusive)
                                || (same_open && !(a.holder.exclusive && b.holder.exclusive)),
                            "conflicting grants coexist on {f:?}: {a:?} / {b:?}"
                        );
                    }
                }
            }
            // A W lease excludes other owners' locks and other keys' caching.
            for l in &v.leases {
                if l.state.contains(LeaseState::W) {
                    for lk in &v.locks {
                        match &lk.holder.who {
                            HolderKind::Nlm(_) => panic!("NLM lock under a W lease on {f:?}"),
                            HolderKind::Smb { open, .. } => {
                                let key = v
                                    .opens
                                    .iter()
                                    .find(|o| o.open == *open)
                                    .and_then(|o| o.cache);
                                assert_eq!(key, Some(l.key), "foreign SMB lock under a W lease");
                            }
                            _ => {}
                        }
                    }
                    for other in &v.leases {
                        if other.key != l.key {
                            assert_eq!(other.state, LeaseState::NONE, "other caching next to W");
                        }
                    }
                    assert!(
                        v.shares.iter().all(|s| s.access == 0),
                        "NLM data share under a W lease"
                    );
                }
                if l.breaking {
                    let d = l.deadline.expect("breaking lease has a deadline");
                    assert!(
                        d <= self.h.now + timeout,
                        "break deadline beyond the timeout"
                    );
                }
            }
            // No stale waiters.
            let any_breaking = v.leases.iter().any(|l| l.breaking);
            for w in &v.waiters {
                match w.reason {
                    WaitReason::Lock(_) => {
                        assert!(!v.locks.is_empty(), "waits on a lock that is gone")
                    }
                    WaitReason::Break => {
                        assert!(any_breaking, "waits on a break that is over: {w:?}")
                    }
                    WaitReason::Grace => assert!(t.in_grace()),
                }
            }
        }
        // Replay reproduces the state.
        let replayed =
            LockTable::restore(t.config().clone(), self.h.records.clone()).expect("replay");
        assert_eq!(replayed.lock_count(), t.lock_count());
        for f in t.files().into_iter().chain(replayed.files()) {
            assert_eq!(
                durable(&replayed.view(f)),
                durable(&t.view(f)),
                "replay differs on {f:?}"
            );
        }
    }

    fn release_everything(&mut self) {
        for _ in 0..6 {
            let now = self.h.now;
            for o in std::mem::take(&mut self.opens) {
                self.h.t.smb_close(o, now);
            }
            for hst in ["h0", "h1", "h2", "fifo"] {
                self.h.t.nlm_free_all(hst.as_bytes(), now);
            }
            for f in self.h.t.files() {
                self.h.t.nlm_unshare(f, &nlm_owner(0, 0), now);
                self.h.t.nlm_unshare(f, &nlm_owner(1, 0), now);
                self.h.t.nlm_unshare(f, &nlm_owner(2, 0), now);
            }
            self.fifo.clear();
            self.fifo_tickets.clear();
            self.after_step();
            self.h.advance(Duration::from_secs(40));
            self.after_step();
        }
    }
}

/// Independent overlap check with MS-FSA boundary semantics.
fn overlap(a: &Span, b: &Span) -> bool {
    let pts = |s: &Span| -> (u128, u128) {
        if s.zero {
            (2 * u128::from(s.first), 2 * u128::from(s.first))
        } else {
            (2 * u128::from(s.first) + 1, 2 * u128::from(s.last) + 1)
        }
    };
    if (a.zero && a.first == 0) || (b.zero && b.first == 0) || (a.zero && b.zero) {
        return false;
    }
    let (a0, a1) = pts(a);
    let (b0, b1) = pts(b);
    a0 <= b1 && b0 <= a1
}

type Durable = (
    Vec<String>,
    Vec<OpenView>,
    Vec<(Vec<u8>, u32, u32)>,
    Vec<(CacheKey, LeaseState, u16, Vec<OpenId>)>,
);

/// The persisted part of a view, in a canonical order.
fn durable(v: &FileView) -> Durable {
    let mut locks: Vec<String> = v.locks.iter().map(|l| format!("{:?}", l)).collect();
    locks.sort();
    let mut shares: Vec<_> = v
        .shares
        .iter()
        .map(|s| (s.owner.caller_name.clone(), s.access, s.deny))
        .collect();
    shares.sort();
    let leases = v
        .leases
        .iter()
        .map(|l| (l.key, l.state, l.epoch, l.opens.clone()))
        .collect();
    (locks, v.opens.clone(), shares, leases)
}

fn raw_op() -> impl Strategy<Value = RawOp> {
    (
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<bool>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_keep_invariants(ops in prop::collection::vec(raw_op(), 1..150)) {
        let mut sim = Sim::new();
        for op in ops {
            sim.step(op);
        }
        sim.release_everything();
        for f in sim.h.t.files() {
            let v = sim.h.t.view(f);
            prop_assert!(v.waiters.is_empty(), "waiters left after everything was released: {:?}", v.waiters);
            prop_assert!(v.leases.iter().all(|l| !l.breaking));
        }
        prop_assert_eq!(sim.h.t.lock_count(), 0);
        prop_assert!(sim.waiting.is_empty() || sim.h.t.files().is_empty(), "{:?}", sim.waiting);
    }
}

/// A deterministic run of many random sequences that must exercise waits, completions,
/// breaks, bounded holds and FIFO grants — otherwise the property test above proves little.
#[test]
fn sim_exercises_waits_breaks_and_fifo() {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut total = Stats::default();
    for _ in 0..200 {
        let mut sim = Sim::new();
        for _ in 0..120 {
            let r = next().to_le_bytes();
            sim.step((r[0], r[1], r[2], r[3], r[4], r[5] & 1 == 1));
        }
        sim.release_everything();
        assert_eq!(sim.h.t.lock_count(), 0);
        total.completed += sim.stats.completed;
        total.breaks += sim.stats.breaks;
        total.fifo_grants += sim.stats.fifo_grants;
        total.hold_expired += sim.stats.hold_expired;
        total.waits += sim.stats.waits;
    }
    assert!(total.waits > 100, "{total:?}");
    assert!(total.completed > 50, "{total:?}");
    assert!(total.breaks > 50, "{total:?}");
    assert!(total.fifo_grants > 10, "{total:?}");
    assert!(total.hold_expired > 10, "{total:?}");
}
