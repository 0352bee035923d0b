//! The service driven against the real `lockstate::LockTable` through the adapter in
//! [`crate::service::table`]: the scenarios of issue 4 with POSIX semantics, cross-owner
//! conflicts, waiter wake-up and the shared grace period decided by the real table.

use lockstate::{Config, LockTable};

use super::*;
use proto_nlm::service::table::backend_event;

impl TestTable for LockTable {
    fn next_event(&mut self) -> Option<BackendEvent> {
        while self.poll_record().is_some() {}
        loop {
            let ev = self.poll_event()?;
            if let Some(b) = backend_event(&ev) {
                return Some(b);
            }
        }
    }

    fn holds(&self, caller: &[u8], file: FileId) -> bool {
        self.view(file).locks.iter().any(|l| {
            matches!(&l.holder.who, lockstate::HolderKind::Nlm(o) if o.caller_name.as_slice() == caller)
        })
    }
}

fn real() -> Harness<LockTable> {
    Harness::with(LockTable::new(Config::default()), test_clock())
}

fn test_call(l: Nlm4Lock, exclusive: bool) -> Nlm4Call {
    Nlm4Call::Test(Nlm4TestArgs {
        cookie: Netobj::from_static(b"t"),
        exclusive,
        alock: l,
    })
}

#[test]
fn real_table_blocking_lock_granted_by_callback() {
    let mut h = real();
    let a = alock("hostA", 1, b"f\x01", 0, 100);
    let b = alock("hostB", 2, b"f\x01", 50, 10);
    assert_eq!(h.lock(CLIENT_A, a.clone(), true, false), Nlm4Stats::Granted);
    assert_eq!(h.lock(CLIENT_B, b.clone(), true, false), Nlm4Stats::Denied);
    assert_eq!(h.lock(CLIENT_B, b.clone(), true, true), Nlm4Stats::Blocked);
    assert_eq!(h.lock(CLIENT_B, b.clone(), true, true), Nlm4Stats::Blocked);
    assert_eq!(h.unlock(CLIENT_A, a), Nlm4Stats::Granted);
    assert!(h.locks.holds(b"hostB", FileId(1)));
    let call = h.answer_getport(CLIENT_B, NLM_PROGRAM, 4, CLIENT_NLM_PORT);
    let args = granted_msg_args(&call);
    assert_eq!(args.alock, b);
    h.result(call.id, CallResult::Success(Bytes::new()));
    h.nlm(
        CLIENT_B,
        Nlm4Call::GrantedRes(Nlm4Res {
            cookie: args.cookie,
            stat: Nlm4Stats::Granted,
        }),
    );
    assert_eq!(h.svc.blocked_count(), 0);
    assert_eq!(h.lock(CLIENT_B, b, true, true), Nlm4Stats::Granted);
}

#[test]
fn real_table_withdrawn_grant_goes_to_the_next_waiter() {
    let mut h = real();
    let a = alock("hostA", 1, b"f\x01", 0, 0);
    let b = alock("hostB", 2, b"f\x01", 0, 0);
    let c = alock("hostC", 3, b"f\x01", 0, 0);
    h.lock(CLIENT_A, a.clone(), true, false);
    assert_eq!(h.lock(CLIENT_B, b, true, true), Nlm4Stats::Blocked);
    assert_eq!(h.lock(REMOTE, c.clone(), true, true), Nlm4Stats::Blocked);
    h.unlock(CLIENT_A, a);
    let mut call = h.answer_getport(CLIENT_B, NLM_PROGRAM, 4, CLIENT_NLM_PORT);
    for _ in 1..h.svc.config().granted_attempts {
        h.result(call.id, CallResult::Failed(CallFailure::TimedOut));
        h.advance(Duration::from_secs(10));
        call = h.answer_getport(CLIENT_B, NLM_PROGRAM, 4, CLIENT_NLM_PORT);
    }
    h.result(call.id, CallResult::Failed(CallFailure::TimedOut));
    h.advance(Duration::from_secs(10));
    // hostB never answered: its grant is withdrawn and hostC (FIFO next) gets the lock.
    assert!(!h.locks.holds(b"hostB", FileId(1)));
    assert!(h.locks.holds(b"hostC", FileId(1)));
    let call = h.answer_getport(REMOTE, NLM_PROGRAM, 4, CLIENT_NLM_PORT);
    assert_eq!(granted_msg_args(&call).alock, c);
}

#[test]
fn real_table_cancel_racing_a_grant() {
    let mut h = real();
    let a = alock("hostA", 1, b"f\x02", 0, 10);
    let b = alock("hostB", 2, b"f\x02", 0, 10);
    h.lock(CLIENT_A, a.clone(), true, false);
    h.lock(CLIENT_B, b.clone(), true, true);
    h.unlock(CLIENT_A, a.clone());
    let call = h.answer_getport(CLIENT_B, NLM_PROGRAM, 4, CLIENT_NLM_PORT);
    let cancel = Nlm4Call::Cancel(Nlm4CancArgs {
        cookie: Netobj::from_static(b"c"),
        block: true,
        exclusive: true,
        alock: b,
    });
    assert_eq!(h.stat(CLIENT_B, cancel), Nlm4Stats::Granted);
    h.result(call.id, CallResult::Success(Bytes::new()));
    assert!(!h.locks.holds(b"hostB", FileId(2)));
    assert_eq!(h.lock(CLIENT_A, a, true, false), Nlm4Stats::Granted);
}

/// Regression (sim seed 541): a CANCEL racing the GRANTED callback, and a client refusing
/// GRANTED_RES, withdraw only what the grant added. The owner's earlier lock, which POSIX
/// merged with the granted range, stays held; the bytes only the grant gave go to the next
/// waiter.
#[test]
fn real_table_withdrawn_grant_keeps_the_owners_merged_lock() {
    for refuse in [false, true] {
        let mut h = real();
        let a = |off, len| alock("hostA", 1, b"f\x03", off, len);
        let b = |off, len| alock("hostB", 2, b"f\x03", off, len);
        let c = |off, len| alock("hostC", 3, b"f\x03", off, len);
        assert_eq!(h.lock(CLIENT_B, b(0, 10), true, false), Nlm4Stats::Granted);
        assert_eq!(h.lock(CLIENT_A, a(10, 10), true, false), Nlm4Stats::Granted);
        assert_eq!(h.lock(CLIENT_B, b(5, 10), true, true), Nlm4Stats::Blocked);
        assert_eq!(h.lock(REMOTE, c(12, 3), true, true), Nlm4Stats::Blocked);
        h.unlock(CLIENT_A, a(10, 10));
        // hostB now holds 0..=14 (its 0..=9 merged with the grant of 5..=14).
        let call = h.answer_getport(CLIENT_B, NLM_PROGRAM, 4, CLIENT_NLM_PORT);
        let args = granted_msg_args(&call);
        if refuse {
            h.result(call.id, CallResult::Success(Bytes::new()));
            h.nlm(
                CLIENT_B,
                Nlm4Call::GrantedRes(Nlm4Res {
                    cookie: args.cookie,
                    stat: Nlm4Stats::Denied,
                }),
            );
        } else {
            let cancel = Nlm4Call::Cancel(Nlm4CancArgs {
                cookie: Netobj::from_static(b"c"),
                block: true,
                exclusive: true,
                alock: b(5, 10),
            });
            assert_eq!(h.stat(CLIENT_B, cancel), Nlm4Stats::Granted);
            h.result(call.id, CallResult::Success(Bytes::new()));
        }
        assert_eq!(h.svc.blocked_count(), 1, "only hostC's block is left");
        // hostB keeps 0..=9: hostC's TEST of byte 9 conflicts with it.
        match h.nlm(REMOTE, test_call(c(9, 1), false)) {
            CallOutcome::Reply(body) => {
                let r = Nlm4TestRes::decode_exact(&body).expect("decodes");
                assert!(
                    matches!(r.stat, Nlm4TestRply::Denied(ref x) if x.l_offset == 0 && x.l_len == 10),
                    "refuse={refuse}: {r:?}"
                );
            }
            other => panic!("{other:?}"),
        }
        // The withdrawn bytes woke hostC, which is being granted 12..=14.
        assert!(h.locks.holds(b"hostC", FileId(3)), "refuse={refuse}");
        let call = h.answer_getport(REMOTE, NLM_PROGRAM, 4, CLIENT_NLM_PORT);
        assert_eq!(granted_msg_args(&call).alock, c(12, 3));
    }
}

#[test]
fn real_table_posix_split_merge_and_test_holder() {
    let mut h = real();
    let a = |off, len| alock("hostA", 1, b"f\x05", off, len);
    let b = |off, len| alock("hostB", 2, b"f\x05", off, len);
    // Shared 0-99, then exclusive 40-59 by the same owner: upgrade splits the shared lock.
    assert_eq!(
        h.lock(CLIENT_A, a(0, 100), false, false),
        Nlm4Stats::Granted
    );
    assert_eq!(h.lock(CLIENT_A, a(40, 20), true, false), Nlm4Stats::Granted);
    assert_eq!(
        h.lock(CLIENT_B, b(10, 10), false, false),
        Nlm4Stats::Granted,
        "shared part"
    );
    assert_eq!(
        h.lock(CLIENT_B, b(45, 1), false, false),
        Nlm4Stats::Denied,
        "exclusive part"
    );
    match h.nlm(CLIENT_B, test_call(b(50, 1), false)) {
        CallOutcome::Reply(body) => {
            let r = Nlm4TestRes::decode_exact(&body).expect("decodes");
            assert_eq!(
                r.stat,
                Nlm4TestRply::Denied(Nlm4Holder {
                    exclusive: true,
                    svid: 1,
                    oh: Netobj::from_static(b"hostA"),
                    l_offset: 40,
                    l_len: 20
                })
            );
        }
        other => panic!("{other:?}"),
    }
    // Unlocking an unheld range succeeds; unlocking the middle frees it for hostB.
    assert_eq!(h.unlock(CLIENT_A, a(1000, 5)), Nlm4Stats::Granted);
    assert_eq!(h.unlock(CLIENT_A, a(40, 20)), Nlm4Stats::Granted);
    assert_eq!(h.lock(CLIENT_B, b(45, 1), true, false), Nlm4Stats::Granted);
    assert_eq!(
        h.lock(CLIENT_A, a(1 << 63, 0), true, false),
        Nlm4Stats::Fbig,
        "offset past 2^63-1"
    );
}

#[test]
fn real_table_free_all_and_sm_notify_wake_waiters() {
    let mut h = real();
    let a = alock("hostA", 1, b"f\x01", 0, 0);
    let b = alock("hostB", 2, b"f\x01", 0, 0);
    h.lock(CLIENT_A, a.clone(), true, false);
    h.lock(CLIENT_B, b.clone(), true, true);
    h.nsm(
        CLIENT_A,
        NsmCall::Notify(StatChge {
            mon_name: SmString::from_static(b"hostA"),
            state: 21,
        }),
    );
    assert!(!h.locks.holds(b"hostA", FileId(1)));
    assert!(h.locks.holds(b"hostB", FileId(1)));
    let call = h.answer_getport(CLIENT_B, NLM_PROGRAM, 4, CLIENT_NLM_PORT);
    assert_eq!(granted_msg_args(&call).alock, b);
    h.nlm(
        CLIENT_B,
        Nlm4Call::FreeAll(Nlm4Notify {
            name: LmName::from_static(b"hostB"),
            state: 0,
        }),
    );
    assert!(!h.locks.holds(b"hostB", FileId(1)));
    assert_eq!(h.svc.blocked_count(), 0);
    assert_eq!(h.lock(CLIENT_A, a, true, false), Nlm4Stats::Granted);
}

/// Restart: the first life's table records and monitor records are replayed; the new
/// service notifies the monitored client; during grace a new lock on the file with
/// unreclaimed state is refused, the reclaim is granted, and grace ends early once every
/// monitored client has reclaimed.
#[test]
fn real_table_grace_after_restart() {
    let t0 = test_clock();
    let mut first = LockTable::new(Config::default());
    let mut svc = NlmService::new(config(), t0, 7, []);
    let a = alock("hostA", 1, b"f\x01", 0, 10);
    let out = svc.handle_call(
        t0,
        &mut first,
        &Files,
        IncomingCall {
            conn: ConnId(1),
            peer: SocketAddr::new(CLIENT_A, 800),
            transport: Transport::Tcp,
            xid: 1,
            program: NLM_PROGRAM,
            version: 4,
            procedure: 2,
            args: Nlm4Call::Lock(lock_args(a.clone(), true, false)).args_bytes(),
        },
    );
    assert!(matches!(out, CallOutcome::Reply(_)));
    let mut table_records = Vec::new();
    while let Some(r) = first.poll_record() {
        table_records.push(r);
    }
    let mut nsm_records = Vec::new();
    while let Some(r) = svc.poll_record() {
        nsm_records.push(r);
    }
    drop((first, svc)); // kill -9

    let t1 = t0 + Duration::from_secs(5);
    let mut table = LockTable::restore(Config::default(), table_records).expect("restores");
    table.start_grace(t1);
    let mut h = Harness::with(table, t1);
    h.svc = NlmService::new(config(), t1, 9, nsm_records);
    let notify = h.answer_getport(CLIENT_A, NSM_PROGRAM, 1, 40024);
    assert_eq!(StatChge::decode_exact(&notify.args).map(|c| c.state), Ok(9));
    h.result(notify.id, CallResult::Success(Bytes::new()));

    let b = alock("hostB", 2, b"f\x01", 0, 10);
    assert_eq!(
        h.lock(CLIENT_B, b.clone(), true, false),
        Nlm4Stats::DeniedGracePeriod
    );
    // Another file without unreclaimed state is not held up by grace.
    assert_eq!(
        h.lock(CLIENT_B, alock("hostB", 2, b"f\x09", 0, 10), true, false),
        Nlm4Stats::Granted
    );
    let mut reclaim = lock_args(a, true, false);
    reclaim.reclaim = true;
    assert_eq!(
        h.stat(CLIENT_A, Nlm4Call::Lock(reclaim.clone())),
        Nlm4Stats::Granted
    );
    // Everything expected was reclaimed: grace is over, new locks are judged normally.
    assert!(!h.locks.in_grace());
    assert_eq!(h.lock(CLIENT_B, b, true, false), Nlm4Stats::Denied);
    // A reclaim outside grace is refused (Linux `nlmsvc_lock`).
    assert_eq!(
        h.stat(CLIENT_A, Nlm4Call::Lock(reclaim)),
        Nlm4Stats::DeniedGracePeriod
    );
}

/// Regression (sim seed 139): a client that reboots during our grace period (SM_NOTIFY
/// with a newer state) loses what its earlier life reclaimed and what it had still to
/// reclaim, at once; the waiter blocked behind its reclaimed lock is woken, and grace ends
/// when nothing else is expected. Before, nothing was freed, then or at the end of grace:
/// the reclaimed lock was held by nobody for ever. A delayed notification of an earlier
/// reboot (an older state) frees nothing.
#[test]
fn real_table_sm_notify_in_grace_frees_the_rebooted_client() {
    let t0 = test_clock();
    let mut first = LockTable::new(Config::default());
    let mut svc = NlmService::new(config(), t0, 7, []);
    for (xid, off) in [(1, 0), (2, 20)] {
        let out = svc.handle_call(
            t0,
            &mut first,
            &Files,
            IncomingCall {
                conn: ConnId(1),
                peer: SocketAddr::new(CLIENT_A, 800),
                transport: Transport::Tcp,
                xid,
                program: NLM_PROGRAM,
                version: 4,
                procedure: 2,
                args: Nlm4Call::Lock(lock_args(alock("hostA", 1, b"f\x01", off, 10), true, false))
                    .args_bytes(),
            },
        );
        assert!(matches!(out, CallOutcome::Reply(_)));
    }
    let table_records: Vec<_> = std::iter::from_fn(|| first.poll_record()).collect();
    let nsm_records: Vec<_> = std::iter::from_fn(|| svc.poll_record()).collect();
    drop((first, svc)); // kill -9

    let t1 = t0 + Duration::from_secs(5);
    let mut table = LockTable::restore(Config::default(), table_records).expect("restores");
    table.start_grace(t1);
    let mut h = Harness::with(table, t1);
    h.svc = NlmService::new(config(), t1, 9, nsm_records);
    let mut reclaim = lock_args(alock("hostA", 1, b"f\x01", 0, 10), true, false);
    reclaim.reclaim = true;
    assert_eq!(
        h.stat(CLIENT_A, Nlm4Call::Lock(reclaim)),
        Nlm4Stats::Granted
    );
    assert!(h.locks.in_grace(), "20..=29 is still to be reclaimed");
    let b = |off| alock("hostB", 2, b"f\x01", off, 10);
    assert_eq!(h.lock(CLIENT_B, b(0), true, true), Nlm4Stats::Blocked);
    assert_eq!(
        h.lock(CLIENT_B, b(20), true, false),
        Nlm4Stats::DeniedGracePeriod
    );
    let notify = |state| {
        NsmCall::Notify(StatChge {
            mon_name: SmString::from_static(b"hostA"),
            state,
        })
    };
    // hostA rebooted (its LOCKs said state 3).
    h.nsm(CLIENT_A, notify(5));
    assert!(!h.locks.holds(b"hostA", FileId(1)));
    assert_eq!(h.locks.grace_unreclaimed(), 0);
    assert!(
        !h.locks.in_grace(),
        "nothing else was expected: grace ended early"
    );
    assert!(h.locks.holds(b"hostB", FileId(1)), "the waiter was woken");
    assert_eq!(h.lock(CLIENT_B, b(20), true, false), Nlm4Stats::Granted);
    // hostA's new life locks again; its first notification, delayed, arrives late.
    let a2 = alock("hostA", 1, b"f\x01", 40, 10);
    let mut args = lock_args(a2, true, false);
    args.state = 5;
    assert_eq!(h.stat(CLIENT_A, Nlm4Call::Lock(args)), Nlm4Stats::Granted);
    h.nsm(CLIENT_A, notify(3));
    assert!(
        h.locks.holds(b"hostA", FileId(1)),
        "a stale notification freed a live lock"
    );
}

/// One step of a random session.
#[derive(Debug, Clone)]
enum Step {
    Lock {
        host: usize,
        file: u8,
        off: u64,
        len: u64,
        exclusive: bool,
        block: bool,
    },
    Unlock {
        host: usize,
        file: u8,
        off: u64,
        len: u64,
    },
    Cancel {
        host: usize,
        file: u8,
        off: u64,
        len: u64,
        exclusive: bool,
    },
    FreeAll {
        host: usize,
    },
    Reboot {
        host: usize,
    },
    Answer {
        ok: bool,
        res: bool,
    },
    Advance {
        secs: u64,
    },
}

const HOSTS: [(&str, IpAddr); 3] = [("hostA", CLIENT_A), ("hostB", CLIENT_B), ("hostC", REMOTE)];
const FHS: [&[u8]; 2] = [b"f\x01", b"f\x02"];

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    let host = 0usize..3;
    let file = 0u8..2;
    let off = 0u64..40;
    let len = 0u64..20;
    prop_oneof![
        4 => (host.clone(), file.clone(), off.clone(), len.clone(), any::<bool>(), any::<bool>())
            .prop_map(|(host, file, off, len, exclusive, block)| Step::Lock { host, file, off, len, exclusive, block }),
        3 => (host.clone(), file.clone(), off.clone(), len.clone())
            .prop_map(|(host, file, off, len)| Step::Unlock { host, file, off, len }),
        1 => (host.clone(), file.clone(), off, len, any::<bool>())
            .prop_map(|(host, file, off, len, exclusive)| Step::Cancel { host, file, off, len, exclusive }),
        1 => host.clone().prop_map(|host| Step::FreeAll { host }),
        1 => host.prop_map(|host| Step::Reboot { host }),
        3 => (any::<bool>(), any::<bool>()).prop_map(|(ok, res)| Step::Answer { ok, res }),
        2 => (1u64..30).prop_map(|secs| Step::Advance { secs }),
    ]
}

impl Harness<LockTable> {
    /// The service's blocks and the table agree: a queued block is a waiter in the table,
    /// a block being granted is a lock its owner holds, and every table waiter is a queued
    /// block (no NLM request waits in the table unknown to the service, or vice versa).
    fn check_consistent(&self) {
        let mut waiting = std::collections::BTreeSet::new();
        for b in self.svc.blocks() {
            let v = self.locks.view(b.file);
            if b.granting {
                assert!(
                    self.locks.holds(&b.owner.caller_name, b.file),
                    "block being granted {:?} holds no lock",
                    b.alock
                );
            } else {
                assert!(
                    v.waiters.iter().any(|w| w.ticket == b.ticket),
                    "queued block {:?} is not waiting in the table",
                    b.alock
                );
                waiting.insert(b.ticket);
            }
        }
        for f in [FileId(1), FileId(2)] {
            for w in self.locks.view(f).waiters {
                assert!(
                    waiting.contains(&w.ticket),
                    "table waiter {w:?} unknown to NLM"
                );
            }
        }
    }

    /// Plays every client: answers one outbound call (GETPORT with a port, callbacks with
    /// success or failure) and, for a delivered GRANTED_MSG, optionally sends GRANTED_RES.
    fn answer_one(&mut self, ok: bool, res: bool) -> bool {
        let Some(call) = self.outbound() else {
            return false;
        };
        if call.program == PMAP_PROGRAM {
            let port = if ok { CLIENT_NLM_PORT } else { 0 };
            self.result(
                call.id,
                CallResult::Success(Bytes::copy_from_slice(&u32::from(port).to_be_bytes())),
            );
            return true;
        }
        if !ok {
            self.result(call.id, CallResult::Failed(CallFailure::TimedOut));
            return true;
        }
        self.result(call.id, CallResult::Success(Bytes::new()));
        if res && call.procedure == Nlm4Proc::GrantedMsg.to_u32() {
            let args = granted_msg_args(&call);
            self.nlm(
                call.dest.ip(),
                Nlm4Call::GrantedRes(Nlm4Res {
                    cookie: args.cookie,
                    stat: Nlm4Stats::Granted,
                }),
            );
        }
        true
    }

    fn apply(&mut self, s: &Step) {
        match *s {
            Step::Lock {
                host,
                file,
                off,
                len,
                exclusive,
                block,
            } => {
                let (n, ip) = HOSTS[host];
                let l = alock(n, host as i32, FHS[file as usize], off, len);
                let out = self.nlm(ip, Nlm4Call::Lock(lock_args(l, exclusive, block)));
                assert!(matches!(out, CallOutcome::Reply(_)));
            }
            Step::Unlock {
                host,
                file,
                off,
                len,
            } => {
                let (n, ip) = HOSTS[host];
                assert_eq!(
                    self.unlock(ip, alock(n, host as i32, FHS[file as usize], off, len)),
                    Nlm4Stats::Granted
                );
            }
            Step::Cancel {
                host,
                file,
                off,
                len,
                exclusive,
            } => {
                let (n, ip) = HOSTS[host];
                let c = Nlm4Call::Cancel(Nlm4CancArgs {
                    cookie: Netobj::from_static(b"c"),
                    block: true,
                    exclusive,
                    alock: alock(n, host as i32, FHS[file as usize], off, len),
                });
                assert_eq!(self.stat(ip, c), Nlm4Stats::Granted);
            }
            Step::FreeAll { host } => {
                let (n, ip) = HOSTS[host];
                self.nlm(
                    ip,
                    Nlm4Call::FreeAll(Nlm4Notify {
                        name: LmName::new(Bytes::from_static(n.as_bytes())).expect("short"),
                        state: 0,
                    }),
                );
            }
            Step::Reboot { host } => {
                let (n, ip) = HOSTS[host];
                self.xid += 1;
                self.nsm(
                    ip,
                    NsmCall::Notify(StatChge {
                        mon_name: SmString::new(Bytes::from_static(n.as_bytes())).expect("short"),
                        state: self.xid as i32,
                    }),
                );
            }
            Step::Answer { ok, res } => {
                self.answer_one(ok, res);
            }
            Step::Advance { secs } => self.advance(Duration::from_secs(secs)),
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Random sessions of three clients on two files against the real table, with lost
    /// callbacks, reboots and FREE_ALL. After every step the service's blocks and the
    /// table's waiters and locks agree; at the end every client unlocks everything and
    /// answers every callback, and within bounded rounds (no livelock) nothing is blocked,
    /// held or queued.
    #[test]
    fn random_sessions_leave_nothing_blocked(steps in proptest::collection::vec(step(), 1..60)) {
        let mut h = real();
        for s in &steps {
            h.apply(s);
            h.check_consistent();
        }
        let mut rounds = 0;
        loop {
            while h.answer_one(true, true) {}
            for (host, (n, ip)) in HOSTS.iter().enumerate() {
                for fh in FHS {
                    h.unlock(*ip, alock(n, host as i32, fh, 0, 0));
                }
            }
            if h.svc.blocked_count() == 0 && h.svc.outbound_pending() == 0 {
                break;
            }
            h.advance(Duration::from_secs(61));
            rounds += 1;
            proptest::prop_assert!(rounds < 50, "livelock: {} blocks left", h.svc.blocked_count());
        }
        for f in [FileId(1), FileId(2)] {
            let v = h.locks.view(f);
            proptest::prop_assert!(v.locks.is_empty(), "locks left: {:?}", v.locks);
            proptest::prop_assert!(v.waiters.is_empty(), "waiters left: {:?}", v.waiters);
        }
    }
}

/// The whole callback path at the byte level: the service's outbound calls go through the
/// [`CallbackClient`](crate::service::callback::CallbackClient) as RPC messages to a
/// simulated client host whose portmapper and NLM service decode them with `proto-nfs`'s
/// RPC codec and answer; the client then sends GRANTED_RES.
#[test]
fn callback_path_at_the_byte_level() {
    use bytes::BytesMut;
    use proto_nfs::rpc::message::put_success_header;
    use proto_nfs::rpc::{MessageBody, RpcMessage};

    use proto_nlm::service::callback::CallbackClient;

    let mut h = real();
    let mut cb = CallbackClient::new(
        0x5000,
        Bytes::from_static(b"janus-test"),
        Duration::from_secs(3),
    );
    let a = alock("hostA", 1, b"f\x01", 0, 0);
    let b = alock("hostB", 2, b"f\x01", 0, 0);
    h.lock(CLIENT_A, a.clone(), true, false);
    assert_eq!(h.lock(CLIENT_B, b.clone(), true, true), Nlm4Stats::Blocked);
    h.unlock(CLIENT_A, a);

    let mut granted: Option<Nlm4TestArgs> = None;
    for _ in 0..10 {
        while let Some(call) = h.svc.poll_outbound() {
            cb.submit(h.now, call);
        }
        let Some(tx) = cb.poll_transmit() else { break };
        assert_eq!(tx.dest.ip(), CLIENT_B);
        let msg = RpcMessage::decode_bytes(&tx.data).expect("an RPC call");
        let MessageBody::Call(c) = msg.body else {
            panic!("not a call")
        };
        let mut reply = BytesMut::new();
        put_success_header(&mut reply, msg.xid);
        match (c.prog, c.proc_) {
            (PMAP_PROGRAM, PMAPPROC_GETPORT) => {
                assert_eq!(tx.dest.port(), PORTMAP);
                reply.extend_from_slice(&u32::from(CLIENT_NLM_PORT).to_be_bytes());
            }
            (NLM_PROGRAM, 10) => {
                assert_eq!(tx.dest.port(), CLIENT_NLM_PORT);
                granted = Some(Nlm4TestArgs::decode_exact(&c.args).expect("GRANTED_MSG args"));
            }
            other => panic!("unexpected call {other:?}"),
        }
        assert!(cb.handle_reply(h.now, &reply.freeze()));
        while let Some((id, r)) = cb.poll_result() {
            h.result(id, r);
        }
    }
    let granted = granted.expect("GRANTED_MSG reached the client");
    assert_eq!(granted.alock, b);
    h.nlm(
        CLIENT_B,
        Nlm4Call::GrantedRes(Nlm4Res {
            cookie: granted.cookie,
            stat: Nlm4Stats::Granted,
        }),
    );
    assert_eq!(h.svc.blocked_count(), 0);
    assert_eq!(cb.outstanding(), 0);
}

#[test]
fn table_events_not_about_nlm_are_returned() {
    let t = test_clock();
    let mut table = LockTable::new(Config::default());
    let mut svc = NlmService::new(config(), t, 7, []);
    let owner = |c: &str| lockstate::NlmOwner::new(c, 1, b"o".to_vec());
    let args = |c: &str, block| lockstate::NlmLockArgs {
        file: FileId(1),
        owner: owner(c),
        range: lockstate::LockRange::nlm(0, 10).expect("range"),
        exclusive: true,
        block,
        reclaim: false,
    };
    assert_eq!(
        table.nlm_lock(args("x", false), t),
        lockstate::Outcome::Proceed
    );
    // A waiter the NLM service does not know (another protocol's, as far as it can tell).
    let lockstate::Outcome::Wait(w) = table.nlm_lock(args("y", true), t) else {
        panic!("expected a wait")
    };
    table.nlm_unlock(
        FileId(1),
        &owner("x"),
        lockstate::LockRange::nlm(0, 10).expect("r"),
        t,
    );
    let others = svc.handle_table_events(t, &mut table);
    assert!(
        matches!(others.as_slice(), [lockstate::Event::Completed { ticket, .. }] if *ticket == w.ticket),
        "{others:?}"
    );
    assert!(svc.poll_outbound().is_none());
}

proptest::proptest! {
    /// Any bytes to any procedure of either program, from any peer: an RPC-level error, a
    /// reply, or no reply — never a panic — and the service stays usable afterwards.
    #[test]
    fn arbitrary_calls_never_panic(
        calls in proptest::collection::vec(
            (0u32..3, 0u32..26, proptest::collection::vec(proptest::prelude::any::<u8>(), 0..160)),
            1..40,
        )
    ) {
        let mut h = real();
        for (prog, procedure, args) in calls {
            let (program, version) = match prog {
                0 => (NLM_PROGRAM, 4),
                1 => (NSM_PROGRAM, 1),
                _ => (NLM_PROGRAM, 1),
            };
            let out = h.raw(CLIENT_A, program, version, procedure, Bytes::from(args));
            if program == NLM_PROGRAM && version == 1 {
                proptest::prop_assert_eq!(out, CallOutcome::Error(AcceptError::ProgMismatch { low: 4, high: 4 }));
            }
            while let Some(c) = h.svc.poll_outbound() {
                h.result(c.id, CallResult::Failed(CallFailure::Unreachable));
            }
            h.advance(Duration::from_secs(1));
        }
        proptest::prop_assert_eq!(h.nlm(CLIENT_A, Nlm4Call::Null), CallOutcome::Reply(Bytes::new()));
    }
}

/// Found by `random_sessions_leave_nothing_blocked`: hostB downgrades its exclusive lock,
/// which must wake hostA's shared waiters. It did not: they starved, and hostA's later
/// UNLOCK, cancelling its two blocks one by one, let the first cancellation's wake-up grant
/// the second block just before it was withdrawn (a lock held by nobody, a completion the
/// service no longer knew). Both blocks are now granted at the downgrade, and blocks are
/// withdrawn together (`LockTable::cancel_many`).
#[test]
fn real_table_downgrade_wakes_and_unlock_withdraws_queued_blocks_together() {
    let mut h = real();
    let a = |off, len| alock("hostA", 1, b"f\x04", off, len);
    let b = |off, len| alock("hostB", 2, b"f\x04", off, len);
    assert_eq!(h.lock(CLIENT_B, b(0, 17), true, false), Nlm4Stats::Granted);
    assert_eq!(h.lock(CLIENT_A, a(0, 0), false, true), Nlm4Stats::Blocked);
    assert_eq!(h.lock(CLIENT_A, a(10, 0), false, true), Nlm4Stats::Blocked);
    assert_eq!(h.lock(CLIENT_B, b(0, 17), false, false), Nlm4Stats::Granted);
    assert!(
        h.locks.holds(b"hostA", FileId(4)),
        "the downgrade woke hostA"
    );
    // hostA never answered the GRANTED callbacks; its UNLOCK of everything ends them.
    h.unlock(CLIENT_A, a(0, 0));
    assert_eq!(h.svc.blocked_count(), 0);
    assert!(
        !h.locks.holds(b"hostA", FileId(4)),
        "no lock held by nobody"
    );
    assert!(h.locks.view(FileId(4)).waiters.is_empty());
}
