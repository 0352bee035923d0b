//! NLM byte-range semantics: POSIX merge/split/upgrade/downgrade, blocking waiters (FIFO),
//! cancel, free_all, deadlock detection, bounds, range validation, holder translation.

mod common;
use common::*;
use std::time::Duration;

fn locks(h: &Harness) -> Vec<(u64, u64, bool)> {
    h.t.view(F)
        .locks
        .iter()
        .map(|l| (l.holder.span.first, l.holder.span.last, l.holder.exclusive))
        .collect()
}

#[test]
fn same_owner_merges_adjacent_and_overlapping() {
    let mut h = Harness::new();
    let a = owner("a", 1);
    assert_eq!(h.nlm_lock(&a, 0, 10, false, false), Outcome::Proceed);
    assert_eq!(h.nlm_lock(&a, 10, 10, false, false), Outcome::Proceed);
    assert_eq!(h.nlm_lock(&a, 5, 30, false, false), Outcome::Proceed);
    assert_eq!(locks(&h), vec![(0, 34, false)]);
}

#[test]
fn upgrade_splits_and_downgrade_replaces() {
    let mut h = Harness::new();
    let a = owner("a", 1);
    h.nlm_lock(&a, 0, 100, false, false);
    assert_eq!(h.nlm_lock(&a, 40, 10, true, false), Outcome::Proceed);
    assert_eq!(
        locks(&h),
        vec![(0, 39, false), (40, 49, true), (50, 99, false)]
    );
    assert_eq!(h.nlm_lock(&a, 40, 10, false, false), Outcome::Proceed);
    assert_eq!(locks(&h), vec![(0, 99, false)]);
}

#[test]
fn unlock_splits_and_unheld_unlock_succeeds() {
    let mut h = Harness::new();
    let a = owner("a", 1);
    h.nlm_lock(&a, 0, 0, true, false);
    assert_eq!(h.nlm_unlock(&a, 10, 5), Outcome::Proceed);
    assert_eq!(locks(&h), vec![(0, 9, true), (15, u64::MAX, true)]);
    assert_eq!(h.nlm_unlock(&owner("b", 2), 0, 0), Outcome::Proceed);
    assert_eq!(h.nlm_unlock(&a, 0, 0), Outcome::Proceed);
    assert!(locks(&h).is_empty());
    assert_eq!(h.t.lock_count(), 0);
}

#[test]
fn range_past_2_63_is_refused() {
    assert_eq!(
        LockRange::nlm(NLM_MAX_OFFSET + 1, 1),
        Err(RangeError::TooLarge)
    );
    assert_eq!(LockRange::nlm(NLM_MAX_OFFSET, 2), Err(RangeError::TooLarge));
    assert!(LockRange::nlm(NLM_MAX_OFFSET, 1).is_ok());
    assert_eq!(LockRange::nlm(5, 0).unwrap().last, u64::MAX);
}

#[test]
fn conflicting_nonblocking_denied_with_holder() {
    let mut h = Harness::new();
    let a = owner("a", 1);
    let b = owner("b", 2);
    h.nlm_lock(&a, 0, 10, true, false);
    match h.nlm_lock(&b, 5, 10, false, false) {
        Outcome::Deny(Deny::Conflict(holder)) => {
            let n = holder.to_nlm();
            assert_eq!(
                (&n.caller_name[..], n.svid, n.offset, n.len, n.exclusive),
                (&b"a"[..], 1, 0, 10, true)
            );
            assert_eq!(n.oh, b"a-1".to_vec());
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(h.nlm_lock(&b, 10, 10, true, false), Outcome::Proceed);
}

#[test]
fn blocked_waiters_are_granted_fifo_on_unlock() {
    let mut h = Harness::new();
    let a = owner("a", 1);
    let b = owner("b", 2);
    let c = owner("c", 3);
    h.nlm_lock(&a, 0, 10, true, false);
    let tb = ticket(&h.nlm_lock(&b, 0, 10, true, true));
    let tc = ticket(&h.nlm_lock(&c, 0, 10, true, true));
    h.drain();
    h.nlm_unlock(&a, 0, 10);
    assert_eq!(h.completion(tb), Some(Outcome::Proceed));
    assert_eq!(h.completion(tc), None);
    h.nlm_unlock(&b, 0, 10);
    assert_eq!(h.completion(tc), Some(Outcome::Proceed));
}

#[test]
fn cancel_removes_blocked_request() {
    let mut h = Harness::new();
    let a = owner("a", 1);
    let b = owner("b", 2);
    h.nlm_lock(&a, 0, 10, true, false);
    let tb = ticket(&h.nlm_lock(&b, 0, 10, true, true));
    let r = LockRange::nlm(0, 10).unwrap();
    assert_eq!(h.t.nlm_cancel(F, &b, r, true, h.now), Outcome::Proceed);
    h.nlm_unlock(&a, 0, 10);
    assert_eq!(h.completion(tb), None);
    assert!(h.t.view(F).waiters.is_empty());
}

#[test]
fn free_all_releases_host_and_wakes_waiters() {
    let mut h = Harness::new();
    let a1 = owner("a", 1);
    let a2 = owner("a", 2);
    let b = owner("b", 1);
    h.nlm_lock(&a1, 0, 10, true, false);
    h.nlm_lock(&a2, 20, 10, true, false);
    let tb = ticket(&h.nlm_lock(&b, 0, 30, true, true));
    assert_eq!(h.t.nlm_free_all(b"a", h.now), 2);
    assert_eq!(h.completion(tb), Some(Outcome::Proceed));
    assert_eq!(locks(&h), vec![(0, 29, true)]);
}

#[test]
fn deadlock_between_two_nlm_owners_is_refused() {
    let mut h = Harness::new();
    let a = owner("a", 1);
    let b = owner("b", 1);
    h.nlm_lock(&a, 0, 10, true, false);
    h.nlm_lock(&b, 100, 10, true, false);
    assert!(matches!(
        h.nlm_lock(&a, 100, 10, true, true),
        Outcome::Wait(_)
    ));
    assert_eq!(
        h.nlm_lock(&b, 0, 10, true, true),
        Outcome::Deny(Deny::Deadlock)
    );
}

#[test]
fn deadlock_across_protocols_is_refused() {
    let mut h = Harness::new();
    let a = owner("a", 1);
    h.smb_open(7, 1, access::READ_DATA | access::WRITE_DATA, share::ALL);
    h.nlm_lock(&a, 0, 10, true, false);
    assert_eq!(h.smb_lock(7, 100, 10, true, true), Outcome::Proceed);
    // SMB waits for the NLM owner's range...
    assert!(matches!(
        h.smb_lock(7, 0, 10, true, false),
        Outcome::Wait(_)
    ));
    // ...so the NLM owner waiting for the SMB range would close the cycle.
    assert_eq!(
        h.nlm_lock(&a, 100, 10, true, true),
        Outcome::Deny(Deny::Deadlock)
    );
}

#[test]
fn lock_bound_gives_no_locks() {
    let mut h = Harness::with(Config {
        max_locks: 2,
        ..Config::default()
    });
    let a = owner("a", 1);
    assert_eq!(h.nlm_lock(&a, 0, 1, true, false), Outcome::Proceed);
    assert_eq!(h.nlm_lock(&a, 10, 1, true, false), Outcome::Proceed);
    assert_eq!(
        h.nlm_lock(&a, 20, 1, true, false),
        Outcome::Deny(Deny::NoLocks)
    );
    // Merging does not need room.
    assert_eq!(h.nlm_lock(&a, 1, 1, true, false), Outcome::Proceed);
}

#[test]
fn waiter_bound_gives_no_locks() {
    let mut h = Harness::with(Config {
        max_waiters_per_file: 1,
        ..Config::default()
    });
    let a = owner("a", 1);
    h.nlm_lock(&a, 0, 1, true, false);
    assert!(matches!(
        h.nlm_lock(&owner("b", 1), 0, 1, true, true),
        Outcome::Wait(_)
    ));
    assert_eq!(
        h.nlm_lock(&owner("c", 1), 0, 1, true, true),
        Outcome::Deny(Deny::NoLocks)
    );
}

#[test]
fn smb_holder_translates_for_nlm() {
    let mut h = Harness::new();
    h.smb_open(7, 0xab, access::READ_DATA | access::WRITE_DATA, share::ALL);
    h.smb_lock(7, u64::MAX - 10, 5, true, true);
    h.smb_lock(7, 0, 10, false, true);
    match h.nlm_test(&owner("a", 1), 0, 0, true) {
        Outcome::Deny(Deny::Conflict(holder)) => {
            let n = holder.to_nlm();
            let name = format!("smb:{}", "ab".repeat(16)).into_bytes();
            assert_eq!(n.caller_name, name);
            assert_eq!(
                n.oh, name,
                "nlm4_holder has no caller_name: oh carries smb:<client>"
            );
            assert_eq!((n.svid, n.offset, n.len, n.exclusive), (0, 0, 10, false));
        }
        o => panic!("{o:?}"),
    }
    // The high lock is clamped to NLM limits.
    match h.nlm_test(&owner("a", 1), 100, 0, false) {
        Outcome::Deny(Deny::Conflict(holder)) => {
            let n = holder.to_nlm();
            assert_eq!((n.offset, n.len, n.exclusive), (NLM_MAX_OFFSET, 0, true));
        }
        o => panic!("{o:?}"),
    }
    // A lease holder is the whole file, exclusive iff W.
    let lease = Holder {
        who: HolderKind::Lease {
            client: guid(1),
            key: CacheKey::Lease(guid(1), lkey(1)),
        },
        exclusive: true,
        span: Span::range(LockRange::whole_file()),
    };
    let n = lease.to_nlm();
    assert_eq!((n.offset, n.len, n.exclusive, n.svid), (0, 0, true, 0));
}

#[test]
fn nlm_break_hold_expires_blocking_stays_nonblocking_dropped() {
    let mut h = Harness::new();
    h.smb_open_lease(1, 1, 1, LeaseState::RWH);
    let a = owner("a", 1);
    let w1 = h.nlm_lock(&a, 0, 10, true, true);
    let t1 = ticket(&w1);
    let Outcome::Wait(w) = &w1 else {
        unreachable!()
    };
    assert_eq!(w.reason, WaitReason::Break);
    assert_eq!(w.hold_until, Some(h.now + Duration::from_secs(5)));
    let t2 = ticket(&h.nlm_lock(&owner("b", 1), 20, 10, true, false));
    h.drain();
    h.advance(Duration::from_secs(5));
    let ev = h.drain();
    assert!(ev.contains(&Event::HoldExpired {
        ticket: t1,
        file: F,
        still_waiting: true
    }));
    assert!(ev.contains(&Event::HoldExpired {
        ticket: t2,
        file: F,
        still_waiting: false
    }));
    assert_eq!(h.t.view(F).waiters.len(), 1);
    h.ack(1, 1, LeaseState::NONE).unwrap();
    assert_eq!(h.completion(t1), Some(Outcome::Proceed));
}

#[test]
fn no_merge_across_a_foreign_zero_length_smb_lock() {
    // Found by the simulation: merging adjacent [23,25] and [26,EOF] would create a lock
    // spanning 25|26, which an SMB zero-length lock at 26 conflicts with (MS-FSA 2.1.4.10).
    let mut h = Harness::new();
    let a = owner("a", 1);
    assert_eq!(h.nlm_lock(&a, 26, 0, true, false), Outcome::Proceed);
    h.smb_open(1, 1, access::READ_DATA, share::ALL);
    assert_eq!(h.smb_lock(1, 26, 0, false, true), Outcome::Proceed);
    assert_eq!(h.nlm_lock(&a, 23, 3, true, false), Outcome::Proceed);
    let nlm: Vec<_> = locks(&h)
        .into_iter()
        .filter(|l| l.0 != 26 || l.1 != 25)
        .collect();
    assert_eq!(nlm, vec![(23, 25, true), (26, u64::MAX, true)]);
    // A single request spanning the seam is refused.
    assert!(matches!(
        h.nlm_lock(&owner("b", 1), 20, 10, false, false),
        Outcome::Deny(_)
    ));
    assert!(matches!(
        h.nlm_lock(&a, 20, 10, true, false),
        Outcome::Deny(Deny::Conflict(_))
    ));
}

#[test]
fn retransmitted_blocking_lock_keeps_its_ticket() {
    let mut h = Harness::new();
    let a = owner("a", 1);
    let b = owner("b", 1);
    h.nlm_lock(&a, 0, 10, true, false);
    let t1 = ticket(&h.nlm_lock(&b, 0, 10, true, true));
    let t2 = ticket(&h.nlm_lock(&b, 0, 10, true, true));
    assert_eq!(t1, t2);
    assert_eq!(h.t.view(F).waiters.len(), 1);
    h.nlm_unlock(&a, 0, 10);
    h.drain();
    let grants = h
        .events
        .iter()
        .filter(|e| matches!(e, Event::Completed { .. }))
        .count();
    assert_eq!(grants, 1, "one GRANTED callback");
}

/// Blocks `a`'s LOCK of `first+len` behind `b`'s exclusive `block_first+block_len`, then lets
/// `b` go: the waiter is granted (its ticket returned).
fn granted_after_wait(
    h: &mut Harness,
    a: &NlmOwner,
    (first, len, excl): (u64, u64, bool),
    (block_first, block_len): (u64, u64),
) -> Ticket {
    let b = owner("b", 2);
    assert_eq!(
        h.nlm_lock(&b, block_first, block_len, true, false),
        Outcome::Proceed
    );
    let t = ticket(&h.nlm_lock(a, first, len, excl, true));
    assert_eq!(h.nlm_unlock(&b, block_first, block_len), Outcome::Proceed);
    assert_eq!(h.completion(t), Some(Outcome::Proceed));
    t
}

/// Regression (sim seed 541): withdrawing a grant (an unanswered or refused GRANTED, a
/// CANCEL racing it) undoes only what the grant changed. The range the owner held before
/// and that POSIX merged with the granted one stays held; the bytes only the grant gave are
/// free again.
#[test]
fn withdrawing_a_grant_keeps_what_the_owner_held_before() {
    let mut h = Harness::new();
    let a = owner("a", 1);
    assert_eq!(h.nlm_lock(&a, 0, 10, true, false), Outcome::Proceed);
    let t = granted_after_wait(&mut h, &a, (5, 15, true), (15, 5));
    assert_eq!(locks(&h), vec![(0, 19, true)]);
    assert_eq!(h.t.nlm_grants_unsettled(), 1);
    assert!(h.t.nlm_withdraw_grant(t, h.now));
    assert_eq!(locks(&h), vec![(0, 9, true)]);
    assert_eq!(h.t.nlm_grants_unsettled(), 0);
    // A second withdrawal (a late duplicate) changes nothing.
    assert!(!h.t.nlm_withdraw_grant(t, h.now));
    assert_eq!(locks(&h), vec![(0, 9, true)]);
    let c = owner("c", 3);
    assert!(matches!(
        h.nlm_test(&c, 9, 1, false),
        Outcome::Deny(Deny::Conflict(_))
    ));
    assert_eq!(h.nlm_test(&c, 10, 10, true), Outcome::Proceed);
}

/// An exclusive grant over a range the owner held shared is withdrawn back to shared, not
/// to nothing and not to exclusive.
#[test]
fn withdrawing_an_upgrade_leaves_the_shared_lock() {
    let mut h = Harness::new();
    let a = owner("a", 1);
    assert_eq!(h.nlm_lock(&a, 0, 10, false, false), Outcome::Proceed);
    let t = granted_after_wait(&mut h, &a, (0, 15, true), (12, 3));
    assert_eq!(locks(&h), vec![(0, 14, true)]);
    assert!(h.t.nlm_withdraw_grant(t, h.now));
    assert_eq!(locks(&h), vec![(0, 9, false)]);
}

/// A shared grant over a range the owner held exclusively stays shared when withdrawn:
/// others may hold shared locks there by then, and the client never asked for it back.
#[test]
fn withdrawing_a_downgrade_does_not_regain_exclusive() {
    let mut h = Harness::new();
    let a = owner("a", 1);
    let c = owner("c", 3);
    assert_eq!(h.nlm_lock(&a, 0, 10, true, false), Outcome::Proceed);
    let t = granted_after_wait(&mut h, &a, (0, 20, false), (15, 5));
    assert_eq!(locks(&h), vec![(0, 19, false)]);
    assert_eq!(h.nlm_lock(&c, 5, 1, false, false), Outcome::Proceed);
    assert!(h.t.nlm_withdraw_grant(t, h.now));
    assert_eq!(locks(&h), vec![(0, 9, false), (5, 5, false)]);
}

/// Bytes the owner locked or unlocked itself after the grant are its own: a withdrawal
/// leaves them; a settled grant is not withdrawn at all; freeing the host forgets grants.
#[test]
fn a_withdrawal_leaves_what_the_owner_set_since_and_settled_grants() {
    let mut h = Harness::new();
    let a = owner("a", 1);
    assert_eq!(h.nlm_lock(&a, 0, 10, true, false), Outcome::Proceed);
    let t = granted_after_wait(&mut h, &a, (5, 15, true), (15, 5));
    assert_eq!(h.nlm_unlock(&a, 0, 3), Outcome::Proceed);
    assert_eq!(h.nlm_lock(&a, 16, 2, true, false), Outcome::Proceed);
    assert!(h.t.nlm_withdraw_grant(t, h.now));
    assert_eq!(locks(&h), vec![(3, 9, true), (16, 17, true)]);

    let mut h = Harness::new();
    assert_eq!(h.nlm_lock(&a, 0, 10, true, false), Outcome::Proceed);
    let t = granted_after_wait(&mut h, &a, (5, 15, true), (15, 5));
    h.t.nlm_grant_settled(t);
    assert!(!h.t.nlm_withdraw_grant(t, h.now));
    assert_eq!(locks(&h), vec![(0, 19, true)]);

    let mut h = Harness::new();
    let _ = granted_after_wait(&mut h, &a, (5, 15, true), (15, 5));
    assert_eq!(h.t.nlm_grants_unsettled(), 1);
    h.t.nlm_free_all(b"a", h.now);
    assert_eq!(h.t.nlm_grants_unsettled(), 0);
}

/// A withdrawal wakes the waiters the withdrawn bytes blocked.
#[test]
fn a_withdrawal_wakes_waiters() {
    let mut h = Harness::new();
    let a = owner("a", 1);
    let c = owner("c", 3);
    assert_eq!(h.nlm_lock(&a, 0, 10, true, false), Outcome::Proceed);
    let t = granted_after_wait(&mut h, &a, (5, 15, true), (15, 5));
    let w = ticket(&h.nlm_lock(&c, 12, 2, true, true));
    assert!(h.t.nlm_withdraw_grant(t, h.now));
    assert_eq!(h.completion(w), Some(Outcome::Proceed));
}

/// A downgrade (a shared LOCK over the owner's exclusive range) wakes the waiters for
/// shared locks there; they starved before.
#[test]
fn a_downgrade_wakes_shared_waiters() {
    let mut h = Harness::new();
    let a = owner("a", 1);
    let b = owner("b", 2);
    assert_eq!(h.nlm_lock(&b, 0, 17, true, false), Outcome::Proceed);
    let t = ticket(&h.nlm_lock(&a, 10, 0, false, true));
    let w = ticket(&h.nlm_lock(&a, 0, 1, true, true));
    assert_eq!(h.nlm_lock(&b, 0, 17, false, false), Outcome::Proceed);
    assert_eq!(h.completion(t), Some(Outcome::Proceed));
    assert_eq!(h.completion(w), None, "an exclusive waiter still conflicts");
    assert_eq!(h.t.cancel_many(&[w, t], h.now), 1);
}
