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

/// Found by `model_smb`: two durable opens, one with an exclusive lock; after the restart the
/// other reconnects first and READs/WRITEs into the first one's locked range. The lock is
/// still the first open's (it reconnects with it), so the I/O waits for it like a LOCK does,
/// and gets STATUS_FILE_LOCK_CONFLICT once it is reclaimed (or proceeds if grace drops it).
#[test]
fn smb_io_into_an_unreclaimed_durable_lock_waits_in_grace() {
    let durable = |h: &mut Harness, open: u64, client: u8| {
        let mut c = SmbCreate::new(
            F,
            OpenId(open),
            guid(client),
            access::READ_DATA | access::WRITE_DATA,
            share::ALL,
        );
        c.durable = true;
        assert!(h.t.smb_create(c, h.now).is_success());
    };
    let mut h = restart(Config::default(), |h| {
        durable(h, 1, 1);
        durable(h, 2, 2);
        assert!(h.smb_lock(1, 0, 10, true, true).is_success());
    });
    assert!(h.t.smb_reconnect(OpenId(2), guid(2), h.now).is_success());
    let r = h.t.smb_read(OpenId(2), 5, 4, h.now);
    assert!(
        matches!(&r, Outcome::Wait(w) if w.reason == WaitReason::Grace),
        "READ into an unreclaimed lock: {r:?}"
    );
    let w = ticket(&h.t.smb_write(OpenId(2), 0, 1, h.now));
    // Outside the lock: at once.
    assert_eq!(h.t.smb_write(OpenId(2), 10, 5, h.now), Outcome::Proceed);
    // The owner reconnects with its lock: the waiting I/O conflicts now.
    assert!(h.t.smb_reconnect(OpenId(1), guid(1), h.now).is_success());
    assert!(matches!(
        h.completion(ticket(&r)),
        Some(Outcome::Deny(Deny::Conflict(_)))
    ));
    assert!(matches!(
        h.completion(w),
        Some(Outcome::Deny(Deny::Conflict(_)))
    ));
    // Not reclaimed at all: the I/O proceeds when grace ends.
    let mut h = restart(Config::default(), |h| {
        durable(h, 1, 1);
        durable(h, 2, 2);
        assert!(h.smb_lock(1, 0, 10, true, true).is_success());
    });
    assert!(h.t.smb_reconnect(OpenId(2), guid(2), h.now).is_success());
    let t = ticket(&h.t.smb_write(OpenId(2), 0, 1, h.now));
    h.advance(Duration::from_secs(90));
    assert_eq!(h.completion(t), Some(Outcome::Proceed));
}

/// Found by `model_smb`: a CREATE on a file whose only persisted state is an NLM lock still to
/// be reclaimed got RWH, and the reclaim then had to wait for the break of that new lease.
/// Unreclaimed locks count as held for the grant (O1 and the AllocationSize rule).
#[test]
fn lease_grant_in_grace_treats_unreclaimed_locks_as_held() {
    let n = owner("n", 1);
    let mut h = restart(Config::default(), |h| {
        assert_eq!(h.nlm_lock(&n, 100, 10, false, false), Outcome::Proceed);
    });
    // AllocationSize above the lock: no R, so nothing at all.
    let mut c = SmbCreate::new(F, OpenId(1), guid(1), access::READ_DATA, share::ALL);
    c.allocation_size = 4096;
    c.cache = CacheRequest::Lease {
        key: lkey(1),
        state: LeaseState::RWH,
        version: LeaseVersion::V2 { parent: None },
    };
    assert_eq!(granted_lease(&h.t.smb_create(c, h.now)), LeaseState::NONE);
    // AllocationSize below it: R and H, never W beside an NLM lock.
    let mut c = SmbCreate::new(F, OpenId(2), guid(2), access::READ_DATA, share::ALL);
    c.allocation_size = 0;
    c.cache = CacheRequest::Lease {
        key: lkey(2),
        state: LeaseState::RWH,
        version: LeaseVersion::V2 { parent: None },
    };
    assert_eq!(granted_lease(&h.t.smb_create(c, h.now)), LeaseState::RH);
    h.drain();
    // The reclaim is granted at once (RH breaks to NONE without holding it).
    assert_eq!(reclaim(&mut h, &n, 100, 10, false), Outcome::Proceed);
}

fn durable_lease(h: &mut Harness, open: u64, client: u8, key: u8, state: LeaseState) -> Outcome {
    let mut c = SmbCreate::new(
        F,
        OpenId(open),
        guid(client),
        access::READ_DATA | access::WRITE_DATA,
        share::ALL,
    );
    c.durable = true;
    c.cache = CacheRequest::Lease {
        key: lkey(key),
        state,
        version: LeaseVersion::V2 { parent: None },
    };
    h.t.smb_create(c, h.now)
}

/// Found by `model_smb`: in grace, an NLM LOCK on a file whose durable open (not reconnected
/// yet) holds RW was granted, and the open then reconnected with W beside the NLM lock (O1).
/// Operations that would break an unreclaimed lease wait (SMB) or get GRACE_PERIOD (NLM).
#[test]
fn operations_that_would_break_an_unreclaimed_lease_wait_for_it() {
    let n = owner("n", 1);
    let mut h = restart(Config::default(), |h| {
        assert_eq!(
            granted_lease(&durable_lease(h, 1, 1, 1, LeaseState::RW)),
            LeaseState::RW
        );
    });
    assert_eq!(
        h.nlm_lock(&n, 0, 10, true, false),
        Outcome::Deny(Deny::GracePeriod)
    );
    assert_eq!(
        h.nlm_test(&n, 0, 10, true),
        Outcome::Deny(Deny::GracePeriod)
    );
    // Reconnected as it was, W and all; the NLM lock then breaks it as usual.
    assert_eq!(
        granted_lease(&h.t.smb_reconnect(OpenId(1), guid(1), h.now)),
        LeaseState::RW
    );
    assert!(matches!(
        h.nlm_lock(&n, 0, 10, true, false),
        Outcome::Wait(Wait {
            reason: WaitReason::Break,
            ..
        })
    ));
    // SMB: a reconnected open of another key waits to LOCK while the unreclaimed lease holds R.
    let mut h = restart(Config::default(), |h| {
        assert_eq!(
            granted_lease(&durable_lease(h, 1, 1, 1, LeaseState::RH)),
            LeaseState::RH
        );
        assert_eq!(
            granted_lease(&durable_lease(h, 2, 2, 2, LeaseState::RH)),
            LeaseState::RH
        );
    });
    assert!(h.t.smb_reconnect(OpenId(2), guid(2), h.now).is_success());
    let t = ticket(&h.smb_lock(2, 0, 10, true, true));
    assert!(h.t.smb_reconnect(OpenId(1), guid(1), h.now).is_success());
    // Once it is back, the LOCK breaks it (RH → NONE, no wait) and is granted.
    assert_eq!(h.completion(t), Some(Outcome::Proceed));
}

/// Found by `model_smb`: two durable opens of one lease; one reconnects and closes, which
/// journalled the lease's removal although the other still belonged to it — a restart then
/// lost the lease of the open reconnecting later.
#[test]
fn closing_a_reconnected_open_keeps_the_lease_of_one_still_to_reconnect() {
    let mut h = restart(Config::default(), |h| {
        assert_eq!(
            granted_lease(&durable_lease(h, 1, 1, 1, LeaseState::RWH)),
            LeaseState::RWH
        );
        assert!(durable_lease(h, 2, 1, 1, LeaseState::RWH).is_success());
    });
    assert!(h.t.smb_reconnect(OpenId(1), guid(1), h.now).is_success());
    assert_eq!(h.t.smb_close(OpenId(1), h.now), Outcome::Proceed);
    h.drain();
    // The journal still holds the lease for open 2: a second restart keeps it.
    let restored = LockTable::restore(Config::default(), h.records.clone()).expect("restore");
    assert!(restored
        .lease_view(CacheKey::Lease(guid(1), lkey(1)))
        .is_some());
    assert_eq!(
        granted_lease(&h.t.smb_reconnect(OpenId(2), guid(1), h.now)),
        LeaseState::RWH
    );
}

/// Found by `model_smb`: in grace, a lease key of a durable open still to reconnect was taken
/// on another file; the reconnect then joined the other file's lease.
#[test]
fn a_lease_key_still_to_reconnect_is_in_use() {
    let mut h = restart(Config::default(), |h| {
        assert!(durable_lease(h, 1, 1, 1, LeaseState::RWH).is_success());
    });
    let mut c = SmbCreate::new(FileId(2), OpenId(5), guid(1), access::READ_DATA, share::ALL);
    c.cache = CacheRequest::Lease {
        key: lkey(1),
        state: LeaseState::RH,
        version: LeaseVersion::V2 { parent: None },
    };
    assert_eq!(h.t.smb_create(c, h.now), Outcome::Deny(Deny::LeaseKeyInUse));
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

/// Regression (sim seed 1201): a POSIX split, merge, upgrade or downgrade must leave every
/// prefix of its records — the journal can be cut after any record by a crash — holding
/// every byte the owner holds both before and after the change, at the weaker of the two
/// modes. Recording the releases first left a prefix where the rest of a split lock was
/// held by nobody, so after a restart another client could take a range still held.
#[test]
fn every_journal_prefix_of_a_posix_change_keeps_what_the_owner_keeps() {
    const N: usize = 300;
    let a = owner("a", 1);
    let probe = owner("p", 9);
    // (lock or unlock, first, len, exclusive)
    let ops: [(bool, u64, u64, bool); 9] = [
        (true, 0, 100, true),   // grant
        (false, 40, 20, false), // unlock splits
        (true, 40, 20, true),   // merges back
        (true, 20, 10, false),  // downgrade of a middle part: three pieces
        (true, 20, 10, true),   // upgrade: merges again
        (true, 90, 110, false), // other type over the end: split and replace
        (true, 200, 50, false), // adjacent same type: merge
        (true, 95, 10, true),   // upgrade inside the shared piece
        (false, 0, 300, false), // everything released
    ];
    let mut h = Harness::new();
    let mut held: [Option<bool>; N] = [None; N];
    for (lock, first, len, excl) in ops {
        h.drain();
        let start = h.records.len();
        let before = held;
        let range = first as usize..(first + len) as usize;
        if lock {
            assert_eq!(h.nlm_lock(&a, first, len, excl, false), Outcome::Proceed);
            held[range].fill(Some(excl));
        } else {
            assert_eq!(h.nlm_unlock(&a, first, len), Outcome::Proceed);
            held[range].fill(None);
        }
        h.drain();
        for cut in start..=h.records.len() {
            let t = LockTable::restore(Config::default(), h.records[..cut].to_vec())
                .expect("every prefix restores");
            let mut t = t;
            for b in 0..N {
                let (Some(x), Some(y)) = (before[b], held[b]) else {
                    continue;
                };
                let r = LockRange::nlm(b as u64, 1).unwrap();
                // Held in any mode: an exclusive probe conflicts.
                let out = t.nlm_test(F, &probe, r, true, h.now);
                assert!(
                    matches!(out, Outcome::Deny(Deny::Conflict(_))),
                    "op {lock} {first}+{len}: prefix of {} of {} records frees byte {b}",
                    cut - start,
                    h.records.len() - start
                );
                if x && y {
                    let out = t.nlm_test(F, &probe, r, false, h.now);
                    assert!(
                        matches!(out, Outcome::Deny(Deny::Conflict(_))),
                        "op {lock} {first}+{len}: prefix of {} records weakens byte {b}",
                        cut - start
                    );
                }
            }
        }
    }
}

/// The journal cut between a split's new pieces and the release of the lock they replace:
/// restore keeps the owner's old and new locks overlapping, grace makes them unreclaimed,
/// the owner's reclaims of what it holds are granted, and the range it gave up stays gated
/// (never handed out while grace runs) until grace ends, then it is free.
#[test]
fn overlapping_locks_of_one_owner_from_a_cut_journal_reclaim_and_expire() {
    let a = owner("a", 1);
    let b = owner("b", 1);
    let mut h = Harness::new();
    assert!(h.nlm_lock(&a, 0, 100, true, false).is_success());
    assert!(h.nlm_unlock(&a, 40, 20).is_success());
    h.drain();
    // Grant 0..=99, then the pieces 0..=39 and 60..=99, then the release of 0..=99.
    let last = h.records.last().unwrap().clone();
    assert!(
        matches!(last.change, Change::LockReleased { .. }),
        "{last:?}"
    );
    let cut = h.records[..h.records.len() - 1].to_vec();
    let mut r = Harness::new();
    r.now = h.now + Duration::from_secs(1);
    r.t = LockTable::restore(Config::default(), cut).expect("overlapping same-owner locks restore");
    r.t.start_grace(r.now);
    assert_eq!(r.t.grace_unreclaimed(), 3);
    assert_eq!(reclaim(&mut r, &a, 0, 40, true), Outcome::Proceed);
    assert_eq!(reclaim(&mut r, &a, 60, 40, true), Outcome::Proceed);
    // Only the released middle is left unreclaimed: it gates newcomers, the reclaimed
    // pieces conflict normally, nothing else is held.
    assert_eq!(r.t.grace_unreclaimed(), 1);
    assert_eq!(
        r.nlm_lock(&b, 45, 5, true, false),
        Outcome::Deny(Deny::GracePeriod)
    );
    assert!(matches!(
        r.nlm_lock(&b, 39, 1, false, false),
        Outcome::Deny(Deny::Conflict(_))
    ));
    r.advance(Duration::from_secs(90));
    assert!(!r.t.in_grace());
    assert_eq!(r.nlm_lock(&b, 40, 20, true, false), Outcome::Proceed);
    assert!(matches!(
        r.nlm_lock(&b, 60, 1, false, false),
        Outcome::Deny(Deny::Conflict(_))
    ));
}

/// FREE_ALL / a client's reboot during grace frees its reclaimed locks (waking their
/// waiters) and the state it had still to reclaim, with records, so the journal follows;
/// other clients' unreclaimed state stays gated, and grace ends early once they reclaim.
#[test]
fn free_all_in_grace_frees_reclaimed_and_unreclaimed_state() {
    let a = owner("a", 1);
    let b = owner("b", 1);
    let c = owner("c", 1);
    let mut h = restart(Config::default(), |h| {
        h.nlm_lock(&a, 0, 10, true, false);
        h.nlm_lock(&a, 20, 10, true, false);
        h.nlm_lock(&b, 40, 10, true, false);
    });
    assert_eq!(reclaim(&mut h, &a, 0, 10, true), Outcome::Proceed);
    let w = ticket(&h.nlm_lock(&c, 0, 10, true, true));
    h.drain();
    let before = h.records.len();
    assert_eq!(h.t.nlm_free_all(b"a", h.now), 2);
    assert_eq!(h.completion(w), Some(Outcome::Proceed));
    assert_eq!(h.t.grace_unreclaimed(), 1);
    assert!(h.t.in_grace());
    assert_eq!(h.t.grace_expected_clients(), vec![b"b".to_vec()]);
    assert_eq!(h.nlm_lock(&c, 20, 10, true, false), Outcome::Proceed);
    assert_eq!(
        h.nlm_lock(&c, 40, 10, true, false),
        Outcome::Deny(Deny::GracePeriod)
    );
    let released = h.records[before..]
        .iter()
        .filter(|r| matches!(r.change, Change::LockReleased { .. }))
        .count();
    assert_eq!(released, 2, "the reclaimed and the unreclaimed lock");
    assert_eq!(reclaim(&mut h, &b, 40, 10, true), Outcome::Proceed);
    assert!(!h.t.in_grace());
    // What the records say is what the table holds.
    h.drain();
    let again = LockTable::restore(Config::default(), h.records.clone()).unwrap();
    assert_eq!(again.view(F).locks, h.t.view(F).locks);
}

mod random_grace {
    //! Random NLM state, a restart, then random reclaims (honest and bogus), new requests
    //! and unlocks during grace, checked against a model of what is still unreclaimed.
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct L {
        who: u8,
        file: u64,
        first: u64,
        last: u64,
        excl: bool,
    }

    fn overlaps(a: &L, b: &L) -> bool {
        a.file == b.file && a.first <= b.last && b.first <= a.last
    }

    fn conflicts(a: &L, b: &L) -> bool {
        a.who != b.who && overlaps(a, b) && (a.excl || b.excl)
    }

    fn lock_of(who: u8, file: u8, first: u8, len: u8, excl: bool) -> L {
        let first = u64::from(first % 32);
        L {
            who: who % 3,
            file: u64::from(file % 2) + 1,
            first,
            last: first + u64::from(len % 6),
            excl,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
        #[test]
        fn grace_never_lets_a_newcomer_take_unreclaimed_state(
            before in prop::collection::vec((any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>(), any::<bool>()), 0..12),
            during in prop::collection::vec((0u8..4, any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>(), any::<bool>()), 0..30),
        ) {
            let owners: Vec<NlmOwner> = (0..3).map(|i| owner("g", i)).collect();
            let mut held: Vec<L> = Vec::new();
            let mut h = restart_try(Config::default(), |h| {
                for &(w, f, first, len, excl) in &before {
                    let l = lock_of(w, f, first, len, excl);
                    let out = h.nlm_lock_on(FileId(l.file), &owners[l.who as usize], l.first, l.last - l.first + 1, l.excl, false, false);
                    prop_assert!(matches!(out, Outcome::Proceed | Outcome::Deny(_)));
                }
                // What is held after POSIX merges/replacements, as the table has it.
                held = live_locks(h, &owners);
                Ok(())
            })?;
            // What was held before the restart, per owner, as byte sets (POSIX merges).
            let mut unreclaimed: Vec<L> = held.clone();
            let had_state = !unreclaimed.is_empty();
            let mut live: Vec<L> = Vec::new();
            prop_assert_eq!(h.t.in_grace(), true);
            for (kind, w, f, first, len, excl) in during {
                let l = lock_of(w, f, first, len, excl);
                let who = &owners[l.who as usize];
                let n = l.last - l.first + 1;
                match kind {
                    0 | 1 => {
                        let reclaim = kind == 0;
                        let was_in_grace = h.t.in_grace();
                        let out = h.nlm_lock_on(FileId(l.file), who, l.first, n, l.excl, false, reclaim);
                        let against_unreclaimed = unreclaimed.iter().any(|u| conflicts(u, &l));
                        let against_live = live.iter().any(|u| conflicts(u, &l));
                        if !was_in_grace && reclaim {
                            prop_assert_eq!(out, Outcome::Deny(Deny::GracePeriod));
                            continue;
                        }
                        if against_unreclaimed {
                            prop_assert!(out != Outcome::Proceed, "newcomer took unreclaimed state: {:?}", l);
                        }
                        if against_live {
                            // A conflict with live state; in grace the newcomer may be told
                            // GracePeriod first if it also meets unreclaimed state.
                            prop_assert!(
                                matches!(out, Outcome::Deny(Deny::Conflict(_)))
                                    || (against_unreclaimed && out == Outcome::Deny(Deny::GracePeriod)),
                                "{:?}", out
                            );
                        }
                        if out == Outcome::Proceed {
                            live.push(l);
                            if reclaim {
                                // The reclaimed bytes are no longer expected; the rest is.
                                let mut rest = Vec::new();
                                for u in unreclaimed.drain(..) {
                                    if u.who == l.who && overlaps(&u, &l) {
                                        if u.first < l.first {
                                            rest.push(L { last: l.first - 1, ..u });
                                        }
                                        if u.last > l.last {
                                            rest.push(L { first: l.last + 1, ..u });
                                        }
                                    } else {
                                        rest.push(u);
                                    }
                                }
                                unreclaimed = rest;
                            }
                        }
                    }
                    2 => {
                        prop_assert_eq!(h.t.nlm_unlock(FileId(l.file), who, LockRange::nlm(l.first, n).unwrap(), h.now), Outcome::Proceed);
                        // The live model is re-read from the table below (POSIX splits).
                    }
                    _ => h.advance(Duration::from_secs(u64::from(w % 40))),
                }
                if !h.t.in_grace() {
                    unreclaimed.clear();
                }
                // Early end exactly when everything was reclaimed (if there was anything).
                if had_state && unreclaimed.is_empty() {
                    prop_assert!(!h.t.in_grace());
                }
                // Live locks never conflict with each other.
                let now_live = live_locks(&h, &owners);
                for (i, a) in now_live.iter().enumerate() {
                    for b in &now_live[i + 1..] {
                        prop_assert!(!conflicts(a, b), "{:?} / {:?}", a, b);
                    }
                }
                live = now_live;
            }
        }
    }

    fn restart_try(
        cfg: Config,
        f: impl FnOnce(&mut Harness) -> Result<(), TestCaseError>,
    ) -> Result<Harness, TestCaseError> {
        let mut res = Ok(());
        let h = restart(cfg, |h| res = f(h));
        res.map(|_| h)
    }

    fn live_locks(h: &Harness, owners: &[NlmOwner]) -> Vec<L> {
        let mut v = Vec::new();
        for f in [1u64, 2] {
            for l in h.t.view(FileId(f)).locks {
                let HolderKind::Nlm(o) = &l.holder.who else {
                    continue;
                };
                let who = owners.iter().position(|x| **o == *x).unwrap() as u8;
                v.push(L {
                    who,
                    file: f,
                    first: l.holder.span.first,
                    last: l.holder.span.last,
                    excl: l.holder.exclusive,
                });
            }
        }
        v
    }
}

/// Found by the simulation (seed 5206): an owner's blocked exclusive LOCK is granted in
/// grace over a range it had held shared before the restart; its shared reclaim of that
/// range, arriving next, must not downgrade the grant (whose GRANTED callback is on its way):
/// a reclaim only re-establishes bytes the owner does not hold.
#[test]
fn a_shared_reclaim_does_not_downgrade_what_the_owner_holds_since() {
    let a = owner("a", 1);
    let mut h = restart(Config::default(), |h| {
        h.nlm_lock(&a, 32, 2, false, false);
        h.nlm_lock(&a, 40, 2, false, false);
    });
    assert_eq!(h.nlm_lock(&a, 24, 11, true, false), Outcome::Proceed);
    assert_eq!(reclaim(&mut h, &a, 32, 2, false), Outcome::Proceed);
    let b = owner("b", 1);
    assert!(matches!(
        h.nlm_test(&b, 32, 2, false),
        Outcome::Deny(Deny::Conflict(_))
    ));
    // Bytes it does not hold are re-established shared.
    assert_eq!(reclaim(&mut h, &a, 40, 2, false), Outcome::Proceed);
    assert!(!h.t.in_grace());
    assert_eq!(h.nlm_test(&b, 40, 2, false), Outcome::Proceed);
    assert!(matches!(
        h.nlm_test(&b, 40, 2, true),
        Outcome::Deny(Deny::Conflict(_))
    ));
}

/// MS-SMB2 §3.3.5.9.6/.10: the SMB layer makes an open durable after it saw the grant
/// (`smb_set_durable`). The open recorded twice restores once, with its lease and lock, and
/// its reclaim is expected; one made non-durable again does not survive.
#[test]
fn open_made_durable_after_its_grant_survives_a_restart_once() {
    let mut h = restart(Config::default(), |h| {
        assert_eq!(
            granted_lease(&h.smb_open_lease(1, 1, 1, LeaseState::RWH)),
            LeaseState::RWH
        );
        assert_eq!(h.t.smb_set_durable(OpenId(1), true), Outcome::Proceed);
        assert_eq!(
            h.t.smb_open_caching(OpenId(1)),
            Some((
                Some(CacheKey::Lease(guid(1), lkey(1))),
                LeaseState::RWH,
                false
            ))
        );
        assert!(h.smb_lock(1, 0, 10, true, true).is_success());
        // A second open, made durable and then not (its grant lost H): dropped at restart.
        assert!(h
            .smb_open(2, 2, access::READ_ATTRIBUTES, share::ALL)
            .is_success());
        assert_eq!(h.t.smb_set_durable(OpenId(2), true), Outcome::Proceed);
        assert_eq!(h.t.smb_set_durable(OpenId(2), false), Outcome::Proceed);
        assert_eq!(
            h.t.smb_set_durable(OpenId(7), true),
            Outcome::Deny(Deny::UnknownOpen)
        );
    });
    assert_eq!(h.t.smb_unreclaimed_open(OpenId(1)), Some(guid(1)));
    assert_eq!(h.t.smb_unreclaimed_open(OpenId(2)), None);
    assert_eq!(h.t.grace_unreclaimed(), 2, "the open and its lock");
    match h.t.smb_reconnect(OpenId(1), guid(1), h.now) {
        Outcome::Opened(OpenGrant { lease: Some(l), .. }) => assert_eq!(l.state, LeaseState::RWH),
        o => panic!("{o:?}"),
    }
    assert!(!h.t.in_grace(), "everything reclaimed");
    let v = h.t.view(F);
    assert_eq!((v.opens.len(), v.locks.len()), (1, 1));
    assert_eq!(
        h.t.smb_lease_opens(CacheKey::Lease(guid(1), lkey(1))),
        vec![OpenId(1)]
    );
}
