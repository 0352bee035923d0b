//! The service driven against the real `lockstate::LockTable` through the adapter in
//! [`crate::service::table`]: the scenarios of issue 4 with POSIX semantics, cross-owner
//! conflicts, waiter wake-up and the shared grace period decided by the real table.

use lockstate::{Config, LockTable};

use super::*;
use crate::service::table::backend_event;

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
            matches!(&l.holder.who, lockstate::HolderKind::Nlm(o) if o.caller_name.as_bytes() == caller)
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
    for _ in 1..h.svc.config.granted_attempts {
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
