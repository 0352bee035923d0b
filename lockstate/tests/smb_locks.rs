//! SMB byte-range lock semantics the SMB2 LOCK command relies on (MS-FSA 2.1.5.8, 2.1.5.9,
//! 2.1.4.10; the cases of smbtorture smb2.lock.stacking, valid-request and zerobytelength).

mod common;
use common::*;

fn two_opens() -> Harness {
    let mut h = Harness::new();
    let rw = access::READ_DATA | access::WRITE_DATA;
    assert!(matches!(
        h.smb_open(1, 1, rw, share::ALL),
        Outcome::Opened(_)
    ));
    assert!(matches!(
        h.smb_open(2, 1, rw, share::ALL),
        Outcome::Opened(_)
    ));
    h
}

fn granted(o: Outcome) -> bool {
    o == Outcome::Proceed
}

#[test]
fn shared_stacks_on_own_exclusive_but_not_the_reverse() {
    let mut h = two_opens();
    assert!(granted(h.smb_lock(1, 0, 10, true, true)));
    // A shared lock of the same open stacks on its exclusive lock, twice.
    assert!(granted(h.smb_lock(1, 0, 10, false, true)));
    assert!(granted(h.smb_lock(1, 0, 10, false, true)));
    // Another open's shared lock conflicts.
    assert!(matches!(
        h.smb_lock(2, 0, 10, false, true),
        Outcome::Deny(Deny::Conflict(_))
    ));
    // A second exclusive lock of the same open does not stack.
    assert!(matches!(
        h.smb_lock(1, 5, 1, true, true),
        Outcome::Deny(Deny::Conflict(_))
    ));
    // Three unlocks succeed (exclusive first), the fourth finds nothing.
    for _ in 0..3 {
        assert!(granted(h.t.smb_unlock(OpenId(1), 0, 10, h.now)));
    }
    assert_eq!(
        h.t.smb_unlock(OpenId(1), 0, 10, h.now),
        Outcome::Deny(Deny::RangeNotLocked)
    );
    assert!(granted(h.smb_lock(2, 0, 10, true, true)));
}

#[test]
fn exclusive_does_not_stack_on_own_shared() {
    let mut h = two_opens();
    assert!(granted(h.smb_lock(1, 0, 10, false, true)));
    assert!(matches!(
        h.smb_lock(1, 0, 10, true, true),
        Outcome::Deny(Deny::Conflict(_))
    ));
    // The owner's I/O: reads pass its shared lock, writes do not.
    assert!(granted(h.t.smb_read(OpenId(1), 0, 10, h.now)));
    assert!(matches!(
        h.t.smb_write(OpenId(1), 0, 10, h.now),
        Outcome::Deny(Deny::Conflict(_))
    ));
}

#[test]
fn rollback_removes_the_granted_mode_not_the_older_exclusive() {
    let mut h = two_opens();
    assert!(granted(h.smb_lock(1, 0, 10, true, true)));
    assert!(granted(h.smb_lock(1, 0, 10, false, true)));
    // Taking back the shared lock leaves the exclusive one: open 2 still cannot read.
    assert!(granted(h.t.smb_unlock_granted(
        OpenId(1),
        0,
        10,
        false,
        h.now
    )));
    assert!(matches!(
        h.t.smb_read(OpenId(2), 0, 1, h.now),
        Outcome::Deny(Deny::Conflict(_))
    ));
    assert_eq!(
        h.t.smb_unlock_granted(OpenId(1), 0, 10, false, h.now),
        Outcome::Deny(Deny::RangeNotLocked)
    );
    assert!(granted(h.t.smb_unlock_granted(
        OpenId(1),
        0,
        10,
        true,
        h.now
    )));
    assert!(granted(h.t.smb_read(OpenId(2), 0, 1, h.now)));
}

#[test]
fn zero_length_locks() {
    let mut h = two_opens();
    // {10,0} then, by the other open: {9,2} and {9,3} conflict, {9,1}, {10,1}, {11,1},
    // {10,2} and {10,0} do not.
    assert!(granted(h.smb_lock(1, 10, 0, true, true)));
    for (off, len, ok) in [
        (10, 0, true),
        (9, 1, true),
        (10, 1, true),
        (11, 1, true),
        (9, 2, false),
        (10, 2, true),
        (9, 3, false),
    ] {
        let out = h.smb_lock(2, off, len, true, true);
        assert_eq!(granted(out.clone()), ok, "{{{off},{len}}}: {out:?}");
        if ok {
            assert!(granted(h.t.smb_unlock(OpenId(2), off, len, h.now)));
        }
    }
    // 0/0 conflicts with nothing, max/0 neither.
    assert!(granted(h.smb_lock(1, 0, 0, true, true)));
    assert!(granted(h.smb_lock(2, 0, 0, true, true)));
    assert!(granted(h.smb_lock(1, u64::MAX, 0, true, true)));
    assert!(granted(h.smb_lock(2, u64::MAX, 0, true, true)));
    // max/1 is the last byte; max/2 wraps.
    assert!(granted(h.smb_lock(1, u64::MAX, 1, true, true)));
    assert_eq!(
        h.smb_lock(1, u64::MAX, 2, true, true),
        Outcome::Deny(Deny::InvalidRange)
    );
}

#[test]
fn a_lock_breaks_level_ii_oplocks_the_lockers_own_too() {
    // MS-FSA 2.1.4.12 (BYTE_RANGE_LOCK): Level II oplocks break to none, the requester's
    // included (smbtorture smb2.oplock.brl1); an Exclusive/Batch oplock of the locker stays.
    let mut h = Harness::new();
    assert!(h.smb_open_oplock(1, 1, OplockLevel::LevelII).is_success());
    h.drain();
    assert!(granted(h.smb_lock(1, 0, 10, true, true)));
    let b = h.breaks();
    assert_eq!(b.len(), 1, "{b:?}");
    assert_eq!(b[0].key, CacheKey::Oplock(OpenId(1)));
    assert_eq!(b[0].to, LeaseState::NONE);
    assert!(!b[0].ack_required);

    let mut h = Harness::new();
    assert!(h.smb_open_oplock(1, 1, OplockLevel::Batch).is_success());
    h.drain();
    assert!(granted(h.smb_lock(1, 0, 10, true, true)));
    assert!(h.breaks().is_empty(), "the locker's own batch oplock stays");
}
