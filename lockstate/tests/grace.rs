//! The shared grace period and persistence: restore from records, reclaim rules, early end,
//! the 90 s deadline, SMB durable reconnect, NFS JUKEBOX on unreclaimed SMB state.

mod common;
use common::*;
use std::time::Duration;

/// Runs `f` on a fresh table, then "restarts": restores a new table from the records and
/// starts grace.
fn restart(cfg: Config, f: impl FnOnce(&mut Harness)) -> Harness {
    let mut h = Harness::with(cfg.clone());
    f(&mut h);
    h.drain();
    let records = std::mem::take(&mut h.records);
    let mut r = Harness::with(cfg);
    r.now = h.now + Duration::from_secs(1);
    r.t = LockTable::restore(r.t.config().clone(), records.clone()).expect("restore");
    r.records = records;
    r.t.start_grace(r.now);
    r
}

fn reclaim(h: &mut Harness, who: &NlmOwner, first: u64, len: u64, excl: bool) -> Outcome {
    h.nlm_lock_on(F, who, first, len, excl, false, true)
}

#[test]
fn restart_with_persisted_lock_refuses_new_lock_then_grants_reclaim() {
    let a = owner("a", 1);
    let b = owner("b", 1);
    let mut h = restart(Config::default(), |h| {
        h.t.nlm_monitor(b"a", 3);
        assert!(h.nlm_lock(&a, 0, 10, true, false).is_success());
    });
    assert!(h.t.in_grace());
    assert_eq!(h.t.grace_expected_clients(), vec![b"a".to_vec()]);
    assert_eq!(h.t.monitored_clients(), vec![(b"a".to_vec(), 3)]);
    // Non-reclaim in grace on the unreclaimed range.
    assert_eq!(
        h.nlm_lock(&b, 5, 10, true, false),
        Outcome::Deny(Deny::GracePeriod)
    );
    assert_eq!(
        h.nlm_test(&b, 5, 10, true),
        Outcome::Deny(Deny::GracePeriod)
    );
    // Reclaim in grace.
    assert_eq!(reclaim(&mut h, &a, 0, 10, true), Outcome::Proceed);
    // Everything expected was reclaimed: grace ended early.
    assert!(!h.t.in_grace());
    assert!(h.drain().contains(&Event::GraceEnded));
    // Now a conflicting request is an ordinary conflict.
    assert!(matches!(
        h.nlm_lock(&b, 5, 10, true, false),
        Outcome::Deny(Deny::Conflict(_))
    ));
}

#[test]
fn non_conflicting_requests_run_normally_in_grace() {
    let a = owner("a", 1);
    let b = owner("b", 1);
    let mut h = restart(Config::default(), |h| {
        h.nlm_lock(&a, 0, 10, true, false);
    });
    assert_eq!(h.nlm_lock(&b, 100, 10, true, false), Outcome::Proceed);
    assert_eq!(
        h.nlm_lock_on(FileId(2), &b, 0, 10, true, false, false),
        Outcome::Proceed
    );
    assert!(h.t.in_grace());
}

#[test]
fn reclaim_after_grace_refused() {
    let a = owner("a", 1);
    let mut h = restart(Config::default(), |h| {
        h.nlm_lock(&a, 0, 10, true, false);
    });
    h.advance(Duration::from_secs(90));
    assert!(!h.t.in_grace());
    assert_eq!(
        reclaim(&mut h, &a, 0, 10, true),
        Outcome::Deny(Deny::GracePeriod)
    );
    // Without a restart at all, a reclaim is refused too.
    let mut fresh = Harness::new();
    assert_eq!(
        reclaim(&mut fresh, &a, 0, 10, true),
        Outcome::Deny(Deny::GracePeriod)
    );
}

#[test]
fn grace_deadline_is_configurable_and_drops_unreclaimed() {
    let a = owner("a", 1);
    let b = owner("b", 1);
    let cfg = Config {
        grace_period: Duration::from_secs(30),
        ..Config::default()
    };
    let mut h = restart(cfg, |h| {
        h.nlm_lock(&a, 0, 10, true, false);
        h.nlm_lock(&b, 50, 10, true, false);
    });
    assert_eq!(reclaim(&mut h, &b, 50, 10, true), Outcome::Proceed);
    assert!(h.t.in_grace(), "a has not reclaimed yet");
    assert_eq!(h.t.grace_unreclaimed(), 1);
    h.advance(Duration::from_secs(29));
    assert!(h.t.in_grace());
    h.advance(Duration::from_secs(1));
    assert!(!h.t.in_grace());
    assert_eq!(
        h.t.view(F).locks.len(),
        1,
        "a's unreclaimed lock was dropped"
    );
    assert_eq!(
        h.nlm_lock(&owner("c", 1), 0, 10, true, false),
        Outcome::Proceed
    );
}

#[test]
fn conflicting_reclaim_refused() {
    let a = owner("a", 1);
    let b = owner("b", 1);
    let mut h = restart(Config::default(), |h| {
        h.nlm_lock(&a, 0, 10, true, false);
    });
    // b claims a lock it never had, over a's persisted lock.
    assert!(matches!(
        reclaim(&mut h, &b, 5, 1, false),
        Outcome::Deny(Deny::Conflict(_))
    ));
    // Against already reclaimed state too.
    assert_eq!(reclaim(&mut h, &a, 0, 10, true), Outcome::Proceed);
    let mut h2 = restart(Config::default(), |h| {
        h.nlm_lock(&a, 0, 10, true, false);
        h.nlm_lock(&b, 100, 10, true, false);
    });
    assert_eq!(reclaim(&mut h2, &a, 0, 10, true), Outcome::Proceed);
    assert!(matches!(
        reclaim(&mut h2, &b, 0, 1, true),
        Outcome::Deny(Deny::Conflict(_))
    ));
}

#[test]
fn unlock_and_cancel_accepted_during_grace() {
    let a = owner("a", 1);
    let b = owner("b", 1);
    let mut h = restart(Config::default(), |h| {
        h.nlm_lock(&a, 0, 10, true, false);
        h.nlm_lock(&b, 20, 10, true, false);
    });
    assert_eq!(reclaim(&mut h, &a, 0, 10, true), Outcome::Proceed);
    assert_eq!(h.nlm_unlock(&a, 0, 10), Outcome::Proceed);
    let r = LockRange::nlm(0, 10).unwrap();
    assert_eq!(h.t.nlm_cancel(F, &a, r, true, h.now), Outcome::Proceed);
    assert!(h.t.view(F).locks.is_empty());
    assert!(h.t.in_grace());
}

#[test]
fn empty_journal_grace_runs_full_length() {
    let mut h = restart(Config::default(), |_| {});
    assert!(h.t.in_grace());
    // Nothing gates new requests...
    assert_eq!(
        h.nlm_lock(&owner("a", 1), 0, 10, true, false),
        Outcome::Proceed
    );
    // ...but a client whose lock never reached the journal can still reclaim.
    assert_eq!(
        reclaim(&mut h, &owner("b", 1), 100, 10, true),
        Outcome::Proceed
    );
    assert!(h.t.in_grace());
    h.advance(Duration::from_secs(90));
    assert!(!h.t.in_grace());
}

#[test]
fn admin_end_grace_drops_and_wakes() {
    let a = owner("a", 1);
    let mut h = restart(Config::default(), |h| {
        h.nlm_lock(&a, 0, 10, true, false);
    });
    h.t.end_grace(h.now);
    assert!(!h.t.in_grace());
    assert_eq!(
        h.nlm_lock(&owner("b", 1), 0, 10, true, false),
        Outcome::Proceed
    );
}

fn durable_rwh(h: &mut Harness) {
    let mut c = SmbCreate::new(
        F,
        OpenId(1),
        guid(1),
        access::READ_DATA | access::WRITE_DATA,
        share::READ,
    );
    c.durable = true;
    c.cache = CacheRequest::Lease {
        key: lkey(1),
        state: LeaseState::RWH,
        version: LeaseVersion::V2 { parent: None },
    };
    assert_eq!(granted_lease(&h.t.smb_create(c, h.now)), LeaseState::RWH);
    assert!(h.smb_lock(1, 0, 10, true, true).is_success());
}

#[test]
fn smb_durable_reconnect_restores_open_lease_and_locks() {
    let mut h = restart(Config::default(), |h| {
        durable_rwh(h);
        // A non-durable open does not survive.
        h.smb_open(2, 2, access::READ_ATTRIBUTES, share::ALL);
    });
    assert_eq!(
        h.t.grace_expected_clients(),
        vec![format!("smb:{}", guid(1)).into_bytes()]
    );
    // NFS I/O on the file with unreclaimed SMB state: JUKEBOX.
    assert_eq!(
        h.t.nfs_read(F, 100, 1, h.now),
        Outcome::Deny(Deny::RetryLater)
    );
    // A new SMB CREATE waits.
    let t = ticket(&h.smb_open(3, 3, access::READ_DATA, share::ALL));
    // Reconnect.
    assert_eq!(
        h.t.smb_reconnect(OpenId(9), guid(1), h.now),
        Outcome::Deny(Deny::UnknownOpen)
    );
    match h.t.smb_reconnect(OpenId(1), guid(1), h.now) {
        Outcome::Opened(OpenGrant { lease: Some(l), .. }) => assert_eq!(l.state, LeaseState::RWH),
        o => panic!("{o:?}"),
    }
    assert!(!h.t.in_grace(), "everything reclaimed");
    let v = h.t.view(F);
    assert_eq!(v.locks.len(), 1);
    assert_eq!(v.opens.len(), 1, "the non-durable open is gone");
    // The waiting CREATE is re-evaluated: it breaks W (RWH→RH) and still waits...
    let b = h.breaks();
    assert_eq!(
        b.iter().map(|b| (b.from, b.to)).collect::<Vec<_>>(),
        vec![(LeaseState::RWH, LeaseState::RH)]
    );
    h.ack(1, 1, LeaseState::RH).unwrap();
    assert!(matches!(h.completion(t), Some(Outcome::Opened(_))));
    // The reconnected SMB lock is enforced against NFS.
    assert!(matches!(
        h.t.nfs_read(F, 0, 1, h.now),
        Outcome::Deny(Deny::Conflict(_))
    ));
}

#[test]
fn smb_create_waiting_on_grace_is_woken_at_grace_end() {
    let mut h = restart(Config::default(), durable_rwh);
    let t = ticket(&h.smb_open(3, 3, access::READ_DATA, share::ALL));
    h.advance(Duration::from_secs(90));
    assert!(matches!(h.completion(t), Some(Outcome::Opened(_))));
}

#[test]
fn nlm_share_reclaim_and_grace() {
    let a = owner("a", 0);
    let mut h = restart(Config::default(), |h| {
        assert_eq!(h.nlm_share(&a, 3, 3), Outcome::Proceed);
    });
    assert_eq!(
        h.nlm_share(&owner("b", 0), 1, 0),
        Outcome::Deny(Deny::GracePeriod)
    );
    let out = h.t.nlm_share(
        NlmShareArgs {
            file: F,
            owner: a.clone(),
            access: 3,
            deny: 3,
            reclaim: true,
        },
        h.now,
    );
    assert_eq!(out, Outcome::Proceed);
    assert!(!h.t.in_grace());
    assert!(matches!(
        h.nlm_share(&owner("b", 0), 1, 0),
        Outcome::Deny(Deny::SharingViolation(_))
    ));
}

#[test]
fn records_replay_reproduces_state() {
    let mut h = Harness::new();
    let a = owner("a", 1);
    h.t.nlm_monitor(b"a", 7);
    durable_rwh(&mut h);
    h.smb_lock(1, 0, 10, true, true); // stacked identical lock, distinct id
    h.smb_lock(1, 50, 0, false, true); // zero-length
    h.t.nfs_read(F, 200, 1, h.now); // break RWH→RH
    h.ack(1, 1, LeaseState::RH).unwrap();
    assert!(h.nlm_lock(&a, 100, 100, false, false).is_success()); // RH→NONE, not awaited
    h.ack(1, 1, LeaseState::NONE).unwrap();
    h.nlm_lock(&a, 140, 10, true, false); // split
    h.nlm_unlock(&a, 190, 5); // split
    h.nlm_share(&owner("s", 0), 1, 0);
    h.smb_open(2, 2, access::READ_DATA, share::ALL);
    h.t.smb_close(OpenId(2), h.now);
    h.drain();
    let before = h.t.view(F);
    let restored = LockTable::restore(Config::default(), h.records.clone()).unwrap();
    let after = restored.view(F);
    assert_eq!(before.locks, after.locks);
    assert_eq!(before.opens, after.opens);
    assert_eq!(before.shares, after.shares);
    let strip = |v: &[LeaseView]| {
        v.iter()
            .map(|l| (l.key, l.state, l.epoch, l.opens.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&before.leases), strip(&after.leases));
    assert_eq!(restored.monitored_clients(), vec![(b"a".to_vec(), 7)]);
    assert_eq!(restored.lock_count(), h.t.lock_count());
    // Sequence numbers continue.
    let mut r = restored;
    r.nlm_monitor(b"b", 1);
    assert_eq!(
        r.poll_record().unwrap().seq,
        h.records.last().unwrap().seq + 1
    );
}

#[test]
fn restore_rejects_out_of_order_and_dangling() {
    let mut h = Harness::new();
    h.nlm_lock(&owner("a", 1), 0, 10, true, false);
    h.nlm_lock(&owner("a", 1), 20, 10, true, false);
    h.drain();
    let mut rs = h.records.clone();
    rs.swap(0, 1);
    assert!(matches!(
        LockTable::restore(Config::default(), rs),
        Err(RestoreError::OutOfOrder { .. })
    ));
    let bad = vec![Record {
        seq: 1,
        change: Change::LockReleased {
            id: LockId(5),
            file: F,
        },
    }];
    assert!(matches!(
        LockTable::restore(Config::default(), bad),
        Err(RestoreError::Dangling { .. })
    ));
}

#[test]
fn journal_through_grace_restores_live_state() {
    let a = owner("a", 1);
    let b = owner("b", 1);
    let mut h = restart(Config::default(), |h| {
        h.nlm_lock(&a, 0, 10, true, false);
        h.nlm_lock(&b, 20, 10, true, false);
    });
    reclaim(&mut h, &a, 0, 10, true);
    h.advance(Duration::from_secs(90)); // b never reclaims
    h.drain();
    let again = LockTable::restore(Config::default(), h.records.clone()).unwrap();
    assert_eq!(again.view(F).locks, h.t.view(F).locks);
    assert_eq!(again.view(F).locks.len(), 1);
}
