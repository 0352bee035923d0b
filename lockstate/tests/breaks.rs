//! The lease break state machine: the smbtorture `breaking3` trace, ack validation, epoch
//! increments, timeout treated as an ack to NONE, same-key opens during a break, promotion.

mod common;
use common::*;
use std::time::Duration;

use LeaseState as S;

fn data_create(open: u64, client: u8, overwrite: bool) -> SmbCreate {
    let mut c = SmbCreate::new(
        F,
        OpenId(open),
        guid(client),
        access::READ_DATA | access::WRITE_DATA,
        share::ALL,
    );
    c.overwrite = overwrite;
    c
}

fn lease_create(open: u64, client: u8, key: u8, state: LeaseState) -> SmbCreate {
    let mut c = data_create(open, client, false);
    c.cache = CacheRequest::Lease {
        key: lkey(key),
        state,
        version: LeaseVersion::V2 { parent: None },
    };
    c
}

/// smbtorture `smb2.lease.breaking3` (docs/cross-protocol.md §2.5), step by step.
#[test]
fn breaking3_trace() {
    let mut h = Harness::new();
    assert_eq!(
        granted_lease(&h.t.smb_create(lease_create(1, 1, 1, S::RWH), h.now)),
        S::RWH
    );
    let epoch0 = h.lease(1, 1).epoch;
    h.drain();

    // 1. conflicting open → break RWH→RH (ack required); the open is pending.
    let t1 = ticket(&h.t.smb_create(data_create(2, 2, false), h.now));
    let b = h.breaks();
    assert_eq!(b.len(), 1);
    assert_eq!(
        (b[0].from, b[0].to, b[0].ack_required),
        (S::RWH, S::RH, true)
    );
    assert_eq!(b[0].epoch, epoch0 + 1);

    // 2. same-key open succeeds at once with RWH + BREAK_IN_PROGRESS.
    let o = h.t.smb_create(lease_create(3, 1, 1, S::RWH), h.now);
    match o {
        Outcome::Opened(OpenGrant { lease: Some(l), .. }) => {
            assert_eq!(l.state, S::RWH);
            assert!(l.break_in_progress);
        }
        o => panic!("{o:?}"),
    }

    // 3. second conflicting open with OVERWRITE → no new break, also pending.
    let t3 = ticket(&h.t.smb_create(data_create(4, 3, true), h.now));
    assert!(h.breaks().is_empty(), "no second notification");
    assert_eq!(h.lease(1, 1).required, S::NONE);
    assert_eq!(h.lease(1, 1).break_to, S::RH);

    // 4. ack RH → response RH, then break RH→R (ack required).
    assert_eq!(h.ack(1, 1, S::RH), Ok(S::RH));
    let b = h.breaks();
    assert_eq!(b.len(), 1);
    assert_eq!((b[0].from, b[0].to, b[0].ack_required), (S::RH, S::R, true));
    assert_eq!(
        b[0].epoch,
        epoch0 + 1,
        "the next step keeps the epoch (v2_breaking3)"
    );
    assert_eq!(h.completion(t1), None, "first open still pending");
    assert_eq!(h.completion(t3), None, "second open still pending");

    // 5. ack R → server immediately sends R→NONE (no ack needed).
    assert_eq!(h.ack(1, 1, S::R), Ok(S::R));
    let evs = h.drain();
    let b: Vec<_> = evs
        .iter()
        .filter_map(|e| match e {
            Event::Break(b) => Some(b.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(b.len(), 1);
    assert_eq!(
        (b[0].from, b[0].to, b[0].ack_required),
        (S::R, S::NONE, false)
    );
    assert_eq!(
        b[0].epoch,
        epoch0 + 1,
        "the next step keeps the epoch (v2_breaking3)"
    );

    // 6. both pending opens complete, in order.
    let pos = |t: Ticket| {
        evs.iter()
            .position(|e| matches!(e, Event::Completed { ticket, outcome: Outcome::Opened(_), .. } if *ticket == t))
            .expect("completed")
    };
    assert!(pos(t1) < pos(t3));
    let l = h.lease(1, 1);
    assert_eq!((l.state, l.breaking), (S::NONE, false));
}

#[test]
fn ack_validation_distinct_rejections() {
    let mut h = Harness::new();
    h.t.smb_create(lease_create(1, 1, 1, S::RWH), h.now);
    // Not breaking.
    assert_eq!(h.ack(1, 1, S::RH), Err(AckError::NotBreaking));
    // Unknown lease.
    assert_eq!(h.ack(1, 7, S::NONE), Err(AckError::NotFound));
    h.t.nfs_read(F, 0, 1, h.now); // RWH → RH
                                  // Bits outside break-to.
    assert_eq!(h.ack(1, 1, S::RWH), Err(AckError::NotSubset));
    assert_eq!(h.ack(1, 1, S::RW), Err(AckError::NotSubset));
    assert!(h.lease(1, 1).breaking, "a rejected ack changes nothing");
    // A subset below break-to is accepted.
    assert_eq!(h.ack(1, 1, S::R), Ok(S::R));
    assert_eq!(h.lease(1, 1).state, S::R);
    assert_eq!(h.ack(1, 1, S::R), Err(AckError::NotBreaking));
}

#[test]
fn r_to_none_needs_no_ack_and_sets_none_at_once() {
    let mut h = Harness::new();
    h.t.smb_create(lease_create(1, 1, 1, S::R), h.now);
    h.drain();
    assert_eq!(h.t.nfs_write(F, 0, 1, h.now), Outcome::Proceed);
    let b = h.breaks();
    assert_eq!((b[0].to, b[0].ack_required), (S::NONE, false));
    let l = h.lease(1, 1);
    assert_eq!((l.state, l.breaking), (S::NONE, false));
    assert_eq!(h.ack(1, 1, S::NONE), Err(AckError::NotBreaking));
}

#[test]
fn epoch_increments_when_break_sent_and_on_promotion_v1_stays_zero() {
    let mut h = Harness::new();
    let g = h.t.smb_create(lease_create(1, 1, 1, S::R), h.now);
    let Outcome::Opened(OpenGrant {
        lease: Some(l0), ..
    }) = g
    else {
        panic!()
    };
    // Promotion by the same key: R → RWH (no other opens of other keys).
    let g = h.t.smb_create(lease_create(2, 1, 1, S::RWH), h.now);
    let Outcome::Opened(OpenGrant {
        lease: Some(l1), ..
    }) = g
    else {
        panic!()
    };
    assert_eq!(l1.state, S::RWH);
    assert_eq!(l1.epoch, l0.epoch + 1);
    h.drain();
    h.t.nfs_read(F, 0, 1, h.now);
    assert_eq!(
        h.breaks()[0].epoch,
        l0.epoch + 2,
        "epoch advanced when the break was sent"
    );
    assert_eq!(h.lease(1, 1).epoch, l0.epoch + 2);
    h.ack(1, 1, S::RH).unwrap();
    assert_eq!(h.lease(1, 1).epoch, l0.epoch + 2, "not again on the ack");

    // v1 leases carry epoch 0.
    let mut h = Harness::new();
    let mut c = lease_create(1, 1, 1, S::RWH);
    c.cache = CacheRequest::Lease {
        key: lkey(1),
        state: S::RWH,
        version: LeaseVersion::V1,
    };
    h.t.smb_create(c, h.now);
    h.drain();
    h.t.nfs_read(F, 0, 1, h.now);
    assert_eq!(h.breaks()[0].epoch, 0);
}

#[test]
fn no_promotion_while_breaking() {
    let mut h = Harness::new();
    h.t.smb_create(lease_create(1, 1, 1, S::RH), h.now);
    let t = ticket(&h.t.nfs_remove(F, h.now)); // RH → R, waits
    let g = h.t.smb_create(lease_create(2, 1, 1, S::RWH), h.now);
    let Outcome::Opened(OpenGrant { lease: Some(l), .. }) = g else {
        panic!("{g:?}")
    };
    assert_eq!((l.state, l.break_in_progress), (S::RH, true));
    h.ack(1, 1, S::R).unwrap();
    assert_eq!(h.completion(t), Some(Outcome::Proceed));
}

#[test]
fn timeout_is_ack_to_none_and_remembered() {
    let mut h = Harness::new();
    h.t.smb_create(lease_create(1, 1, 1, S::RWH), h.now);
    h.drain();
    let t = ticket(&h.t.smb_create(data_create(2, 2, false), h.now));
    let deadline = h.lease(1, 1).deadline.unwrap();
    assert_eq!(deadline, h.now + Duration::from_secs(35));
    assert_eq!(h.t.poll_timeout(), Some(deadline));
    h.advance(Duration::from_secs(34));
    assert_eq!(h.completion(t), None);
    h.advance(Duration::from_secs(1));
    let done = h.completion(t).expect("completes at the timeout");
    assert!(matches!(done, Outcome::Opened(_)));
    let l = h.lease(1, 1);
    assert_eq!((l.state, l.breaking, l.timed_out), (S::NONE, false, true));
    assert_eq!(h.ack(1, 1, S::RH), Err(AckError::TimedOut));
    assert_eq!(h.t.counters().break_timeouts, 1);
    assert_eq!(h.t.counters().break_durations.count, 1);
}

#[test]
fn break_timeout_is_configurable() {
    let mut h = Harness::with(Config {
        break_timeout: Duration::from_secs(5),
        ..Config::default()
    });
    h.t.smb_create(lease_create(1, 1, 1, S::RW), h.now);
    let t = ticket(&h.t.nfs_write(F, 0, 1, h.now));
    h.advance(Duration::from_secs(5));
    // The NFS hold (1 s) expired first; the break still timed out at 5 s.
    assert_eq!(h.lease(1, 1).state, S::NONE);
    h.drain();
    assert!(h.events.contains(&Event::HoldExpired {
        ticket: t,
        file: F,
        still_waiting: false
    }));
}

#[test]
fn nfs_hold_expires_after_t_nfs_then_retry_succeeds_after_ack() {
    let mut h = Harness::new();
    h.t.smb_create(lease_create(1, 1, 1, S::RW), h.now);
    let o = h.t.nfs_write(F, 0, 1, h.now);
    let Outcome::Wait(w) = &o else { panic!() };
    assert_eq!(w.hold_until, Some(h.now + Duration::from_secs(1)));
    h.advance(Duration::from_secs(1));
    h.drain();
    assert!(h.events.contains(&Event::HoldExpired {
        ticket: w.ticket,
        file: F,
        still_waiting: false
    }));
    assert!(h.t.view(F).waiters.is_empty());
    // The retry while the break is still pending waits again without a new notification.
    let o2 = h.t.nfs_write(F, 0, 1, h.now);
    assert!(matches!(o2, Outcome::Wait(_)));
    assert!(h.breaks().is_empty());
    h.ack(1, 1, S::NONE).unwrap();
    assert_eq!(h.completion(ticket(&o2)), Some(Outcome::Proceed));
    assert_eq!(h.t.nfs_write(F, 0, 1, h.now), Outcome::Proceed);
}

#[test]
fn nlm_test_with_rw_lease_sees_flushed_smb_lock() {
    // O6: the W holder may hold byte-range locks only in its cache; TEST waits for W to go
    // and then reports the lock the client flushed.
    let mut h = Harness::new();
    h.t.smb_create(lease_create(1, 1, 1, S::RWH), h.now);
    let t = ticket(&h.nlm_test(&owner("n", 1), 0, 10, true));
    h.smb_lock(1, 0, 5, true, true); // the client flushes its cached lock before acking
    h.ack(1, 1, S::RH).unwrap();
    assert!(matches!(
        h.completion(t),
        Some(Outcome::Deny(Deny::Conflict(_)))
    ));
}

#[test]
fn closing_the_last_open_ends_the_break() {
    let mut h = Harness::new();
    h.t.smb_create(lease_create(1, 1, 1, S::RWH), h.now);
    let t = ticket(&h.t.nfs_write(F, 0, 1, h.now));
    h.t.smb_close(OpenId(1), h.now);
    assert_eq!(h.completion(t), Some(Outcome::Proceed));
    assert!(h.t.lease_view(CacheKey::Lease(guid(1), lkey(1))).is_none());
    assert_eq!(h.t.poll_timeout(), None, "the stale break timer is gone");
}

#[test]
fn same_key_opens_never_break_their_own_lease() {
    let mut h = Harness::new();
    h.t.smb_create(lease_create(1, 1, 1, S::RWH), h.now);
    h.drain();
    // Same client, same key: data access, overwrite, lock, write.
    let mut c = lease_create(2, 1, 1, S::RWH);
    c.overwrite = true;
    assert!(h.t.smb_create(c, h.now).is_success());
    assert!(h.smb_lock(2, 0, 10, true, true).is_success());
    assert!(h.t.smb_write(OpenId(1), 20, 10, h.now).is_success());
    assert!(h.breaks().is_empty());
    assert_eq!(h.lease(1, 1).state, S::RWH);
    // Same client, different key: breaks.
    assert!(matches!(
        h.t.smb_create(lease_create(3, 1, 2, S::R), h.now),
        Outcome::Wait(_)
    ));
}

#[test]
fn lease_key_on_other_file_is_refused() {
    let mut h = Harness::new();
    h.t.smb_create(lease_create(1, 1, 1, S::R), h.now);
    let mut c = lease_create(2, 1, 1, S::R);
    c.file = FileId(2);
    assert_eq!(h.t.smb_create(c, h.now), Outcome::Deny(Deny::LeaseKeyInUse));
    assert_eq!(
        h.t.smb_create(lease_create(1, 2, 2, S::R), h.now),
        Outcome::Deny(Deny::UnknownOpen)
    );
}

#[test]
fn w_stripped_while_nlm_lock_held_o1_and_granted_after_unlock() {
    let mut h = Harness::new();
    let a = owner("a", 1);
    h.nlm_lock(&a, 100, 10, true, false);
    let mut c = lease_create(1, 1, 1, S::RWH);
    c.allocation_size = 50; // lock above allocation: R allowed
    assert_eq!(granted_lease(&h.t.smb_create(c, h.now)), S::RH);
    h.t.smb_close(OpenId(1), h.now);
    h.nlm_unlock(&a, 100, 10);
    assert_eq!(
        granted_lease(&h.t.smb_create(lease_create(2, 1, 2, S::RWH), h.now)),
        S::RWH
    );
}

#[test]
fn directory_never_gets_w() {
    let mut h = Harness::new();
    let mut c = lease_create(1, 1, 1, S::RWH);
    c.directory = true;
    assert_eq!(granted_lease(&h.t.smb_create(c, h.now)), S::RH);
}

#[test]
fn smb_pending_lock_cancelled_and_close_cancels() {
    let mut h = Harness::new();
    h.smb_open(1, 1, access::READ_DATA, share::ALL);
    h.smb_open(2, 2, access::READ_DATA, share::ALL);
    h.smb_lock(1, 0, 10, true, true);
    let t = ticket(&h.smb_lock(2, 0, 10, true, false));
    assert!(h.t.cancel(t, h.now));
    assert!(!h.t.cancel(t, h.now));
    let t2 = ticket(&h.smb_lock(2, 0, 10, true, false));
    h.t.smb_close(OpenId(2), h.now);
    assert_eq!(h.completion(t2), Some(Outcome::Deny(Deny::Cancelled)));
}

#[test]
fn nlm_waiter_granted_when_smb_holder_closes() {
    // docs/architecture.md lesson 14: NLM waiters wake when the SMB side releases.
    let mut h = Harness::new();
    h.smb_open(1, 1, access::READ_DATA, share::ALL);
    h.smb_lock(1, 0, 10, true, true);
    let t = ticket(&h.nlm_lock(&owner("a", 1), 0, 10, true, true));
    assert_eq!(
        h.t.smb_unlock(OpenId(1), 0, 9, h.now),
        Outcome::Deny(Deny::RangeNotLocked)
    );
    assert_eq!(h.t.smb_unlock(OpenId(1), 0, 10, h.now), Outcome::Proceed);
    assert_eq!(h.completion(t), Some(Outcome::Proceed));
}

#[test]
fn counters_track_conflicts_by_protocol_kind_resolution() {
    let mut h = Harness::new();
    h.smb_open(1, 1, access::READ_DATA, share::ALL);
    h.smb_lock(1, 0, 10, true, true);
    h.nlm_lock(&owner("a", 1), 0, 10, true, false);
    h.nlm_lock(&owner("a", 1), 0, 10, true, true);
    h.t.nfs_write(F, 0, 1, h.now);
    let c = h.t.counters();
    assert_eq!(
        c.get(Proto::Nlm, ConflictKind::SmbLock, Resolution::Denied),
        1
    );
    assert_eq!(
        c.get(Proto::Nlm, ConflictKind::SmbLock, Resolution::Waited),
        1
    );
    assert_eq!(
        c.get(Proto::Nfs, ConflictKind::SmbLock, Resolution::Denied),
        1
    );
}

#[test]
fn parent_directory_lease_broken_without_waiting_o12() {
    let mut h = Harness::new();
    let dir = FileId(50);
    let mut c = SmbCreate::new(dir, OpenId(1), guid(1), access::READ_DATA, share::ALL);
    c.directory = true;
    c.cache = CacheRequest::Lease {
        key: lkey(1),
        state: S::RH,
        version: LeaseVersion::V2 { parent: None },
    };
    assert_eq!(granted_lease(&h.t.smb_create(c, h.now)), S::RH);
    h.drain();
    // The requester's own parent lease key is exempt.
    assert_eq!(
        h.t.parent_changed(dir, Some(CacheKey::Lease(guid(1), lkey(1))), h.now),
        0
    );
    assert!(h.breaks().is_empty());
    // NFS (no parent key) breaks it; nothing waits, the RH break still wants an ack.
    assert_eq!(h.t.parent_changed(dir, None, h.now), 1);
    let b = h.breaks();
    assert_eq!(
        (b[0].file, b[0].from, b[0].to, b[0].ack_required),
        (dir, S::RH, S::NONE, true)
    );
    assert!(h.t.view(dir).waiters.is_empty());
    assert_eq!(h.ack(1, 1, S::NONE), Ok(S::NONE));
}

/// Parent-directory leases, R: the break to NONE needs no ack and takes effect at once (an R
/// lease has nothing to flush), and nothing waits.
#[test]
fn parent_directory_r_lease_broken_to_none_without_ack() {
    let mut h = Harness::new();
    let dir = FileId(50);
    let mut c = SmbCreate::new(dir, OpenId(1), guid(1), access::READ_DATA, share::ALL);
    c.directory = true;
    c.cache = CacheRequest::Lease {
        key: lkey(1),
        state: S::R,
        version: LeaseVersion::V2 { parent: None },
    };
    assert_eq!(granted_lease(&h.t.smb_create(c, h.now)), S::R);
    h.drain();
    assert_eq!(h.t.parent_changed(dir, None, h.now), 1);
    let b = h.breaks();
    assert_eq!(
        (b.len(), b[0].from, b[0].to, b[0].ack_required),
        (1, S::R, S::NONE, false)
    );
    assert_eq!(h.lease(1, 1).state, S::NONE);
    assert!(h.t.view(dir).waiters.is_empty());
    // A second change finds nothing left to break.
    assert_eq!(h.t.parent_changed(dir, None, h.now), 0);
}

#[test]
fn nfs_namespace_unconstrained_tracks_smb_state_nlm_shares_and_grace() {
    let mut h = Harness::new();
    assert!(h.t.nfs_namespace_unconstrained());
    // NLM byte-range locks never constrain namespace operations (O10).
    let o = owner("h", 1);
    assert_eq!(h.nlm_lock(&o, 0, 10, true, false), Outcome::Proceed);
    assert!(h.t.nfs_namespace_unconstrained());
    // An SMB open (and a lease) does, until it is closed.
    assert!(h.smb_open(1, 1, access::READ_DATA, share::ALL).is_success());
    assert!(!h.t.nfs_namespace_unconstrained());
    assert_eq!(h.t.smb_close(OpenId(1), h.now), Outcome::Proceed);
    assert!(h.t.nfs_namespace_unconstrained());
    assert!(h.smb_open_lease(2, 2, 2, LeaseState::R).is_success());
    assert!(!h.t.nfs_namespace_unconstrained());
    assert_eq!(h.t.smb_close(OpenId(2), h.now), Outcome::Proceed);
    assert!(h.t.nfs_namespace_unconstrained());
    // An NLM share reservation, even released, keeps the answer conservative.
    assert_eq!(h.nlm_share(&o, 1, 2), Outcome::Proceed);
    assert_eq!(h.t.nlm_unshare(F, &o, h.now), Outcome::Proceed);
    assert!(!h.t.nfs_namespace_unconstrained());
    // And a grace period.
    let mut g = Harness::new();
    g.t.start_grace(g.now);
    assert!(!g.t.nfs_namespace_unconstrained());
    // The NFS I/O fast path: a file without state proceeds, with no state created.
    assert_eq!(h.t.nfs_write(FileId(99), 0, 10, h.now), Outcome::Proceed);
    assert!(!h.t.files().contains(&FileId(99)));
}

/// A new v2 lease starts at the request's Epoch plus one (MS-SMB2 3.3.5.9.11, smbtorture
/// smb2.lease.v2_epoch1: requested 0x4711, granted 0x4712).
#[test]
fn new_v2_lease_epoch_follows_the_request() {
    let mut h = Harness::new();
    let mut c = lease_create(1, 1, 1, S::RH);
    c.lease_epoch = 0x4711;
    let Outcome::Opened(OpenGrant { lease: Some(l), .. }) = h.t.smb_create(c, h.now) else {
        panic!()
    };
    assert_eq!((l.state, l.epoch), (S::RH, 0x4712));
    let mut c = lease_create(2, 1, 2, S::R);
    c.lease_epoch = u16::MAX;
    c.file = FileId(F.0 + 1);
    let Outcome::Opened(OpenGrant { lease: Some(l), .. }) = h.t.smb_create(c, h.now) else {
        panic!()
    };
    assert_eq!(l.epoch, 0, "wraps");
}

/// A sharing violation breaks a Batch oplock to Level II, not None (smbtorture
/// smb2.oplock.batch1: the unlink's CREATE gets the break to Level II, then
/// STATUS_SHARING_VIOLATION once it is acknowledged).
#[test]
fn a_sharing_violation_breaks_a_batch_oplock_to_level_two() {
    let mut h = Harness::new();
    let mut c = data_create(1, 1, false);
    c.share_access = 0;
    c.cache = CacheRequest::Oplock(OplockLevel::Batch);
    let g = h.t.smb_create(c, h.now);
    assert!(matches!(
        g,
        Outcome::Opened(OpenGrant {
            oplock: Some(OplockLevel::Batch),
            ..
        })
    ));
    h.drain();
    let unlink = SmbCreate::new(F, OpenId(2), guid(2), access::DELETE, share::ALL);
    let w = h.t.smb_create(unlink, h.now);
    let t = ticket(&w);
    let b = h.breaks();
    assert_eq!(b.len(), 1);
    assert_eq!(
        (b[0].from, b[0].to, b[0].ack_required),
        (S::RWH, S::R, true)
    );
    h.t.smb_oplock_break_ack(OpenId(1), OplockLevel::LevelII, h.now)
        .unwrap();
    assert!(matches!(
        h.completion(t),
        Some(Outcome::Deny(Deny::SharingViolation(_)))
    ));
}

/// READ_CONTROL is a stat access for leases, not for oplocks; no access at all is not a
/// stat open (Samba `is_lease_stat_open` / `is_oplock_stat_open`, smbtorture
/// smb2.oplock.statopen1).
#[test]
fn stat_opens_differ_for_leases_and_oplocks() {
    let mut h = Harness::new();
    h.smb_open_oplock(1, 1, OplockLevel::Batch);
    h.drain();
    h.smb_open(2, 2, access::READ_CONTROL, share::ALL);
    assert_eq!(h.breaks().len(), 1, "READ_CONTROL breaks a batch oplock");

    let mut h = Harness::new();
    h.smb_open_lease(1, 1, 1, S::RWH);
    h.drain();
    h.smb_open(
        2,
        2,
        access::READ_CONTROL | access::READ_ATTRIBUTES,
        share::ALL,
    );
    assert!(h.breaks().is_empty(), "a stat open for a lease");
    h.smb_open(3, 2, 0, share::ALL);
    assert_eq!(h.breaks().len(), 1, "no access is not a stat open");
}

/// A write breaks the writer's own Level II oplock too (smbtorture smb2.oplock.levelii500),
/// never its own lease or a stronger oplock of its own.
#[test]
fn a_write_breaks_the_writers_own_level_two_oplock() {
    let mut h = Harness::new();
    h.smb_open_oplock(1, 1, OplockLevel::LevelII);
    h.smb_open_oplock(2, 2, OplockLevel::LevelII);
    h.drain();
    assert_eq!(h.t.smb_write(OpenId(1), 0, 1, h.now), Outcome::Proceed);
    let mut b: Vec<_> = h.breaks().iter().map(|b| (b.key, b.to)).collect();
    b.sort();
    assert_eq!(
        b,
        [
            (CacheKey::Oplock(OpenId(1)), S::NONE),
            (CacheKey::Oplock(OpenId(2)), S::NONE)
        ]
    );
    let mut h = Harness::new();
    h.smb_open_oplock(1, 1, OplockLevel::Batch);
    h.drain();
    assert_eq!(h.t.smb_write(OpenId(1), 0, 1, h.now), Outcome::Proceed);
    assert!(h.breaks().is_empty());
}

/// An existing lease changes only to exactly the state asked for, when that is a strict
/// superset and can be held beside the other leases (smbtorture smb2.lease.upgrade,
/// upgrade2, upgrade3).
#[test]
fn lease_upgrades_take_the_asked_state_or_nothing() {
    let mut h = Harness::new();
    assert_eq!(granted_lease(&h.smb_open_lease(1, 1, 1, S::RH)), S::RH);
    assert_eq!(
        granted_lease(&h.smb_open_lease(2, 1, 1, S::RW)),
        S::RH,
        "not a superset"
    );
    assert_eq!(granted_lease(&h.smb_open_lease(3, 1, 1, S::RWH)), S::RWH);
    assert_eq!(
        granted_lease(&h.smb_open_lease(4, 1, 1, S::RH)),
        S::RWH,
        "no downgrade"
    );

    let mut h = Harness::new();
    assert_eq!(granted_lease(&h.smb_open_lease(1, 1, 1, S::R)), S::R);
    assert_eq!(granted_lease(&h.smb_open_lease(2, 2, 2, S::R)), S::R);
    assert_eq!(
        granted_lease(&h.smb_open_lease(3, 1, 1, S::RWH)),
        S::R,
        "W beside key 2: no"
    );
    assert_eq!(granted_lease(&h.smb_open_lease(4, 1, 1, S::RH)), S::RH);
    assert!(h.breaks().is_empty());
}

/// Oplocks and H leases do not mix (smbtorture smb2.lease.oplock): a lease asking RH beside
/// a Level II oplock gets R; an oplock asked beside an RH lease is not granted.
#[test]
fn oplocks_and_handle_leases_do_not_mix() {
    let mut h = Harness::new();
    h.smb_open_oplock(1, 1, OplockLevel::LevelII);
    assert_eq!(granted_lease(&h.smb_open_lease(2, 2, 2, S::RH)), S::R);
    let mut h = Harness::new();
    assert_eq!(granted_lease(&h.smb_open_lease(1, 1, 1, S::RH)), S::RH);
    let g = h.smb_open_oplock(2, 2, OplockLevel::Batch);
    assert!(matches!(
        g,
        Outcome::Opened(OpenGrant {
            oplock: Some(OplockLevel::None),
            ..
        })
    ));
}
