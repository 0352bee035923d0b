//! Matrix B (docs/cross-protocol.md §4.3): every incoming operation × an existing SMB lease (R, RH,
//! RW, RWH) held by another client, one named test per cell. Each test asserts the outcome, the
//! exact break notification (from, to, ack required) and, for waiting cells, that the operation
//! completes after the acknowledgment with the cell's final result.

mod common;
use common::*;

const L: LeaseState = LeaseState::NONE; // placeholder to keep imports used
const RW_DATA: u32 = access::READ_DATA | access::WRITE_DATA;

#[derive(Debug, Clone, Copy)]
enum Exp {
    /// Proceeds, no break.
    G,
    /// Break to the state, proceed without waiting.
    Nw(LeaseState),
    /// Break to the state, wait for the ack, then succeed.
    W(LeaseState),
    /// SMB CREATE granted this lease state without a break.
    Grant(LeaseState),
    /// Break to the first state, wait, then the CREATE gets the second.
    WThen(LeaseState, LeaseState),
}

/// Client 9 holds a lease in `state` through open 100.
fn setup(state: LeaseState) -> Harness {
    let _ = L;
    let mut h = Harness::new();
    let mut c = SmbCreate::new(F, OpenId(100), guid(9), RW_DATA, share::ALL);
    c.cache = CacheRequest::Lease {
        key: lkey(9),
        state,
        version: LeaseVersion::V2 { parent: None },
    };
    let o = h.t.smb_create(c, h.now);
    assert_eq!(granted_lease(&o), state);
    h.drain();
    h
}

fn check(h: &mut Harness, held: LeaseState, out: Outcome, exp: Exp) {
    let breaks = h.breaks();
    let expect_break = |breaks: &[BreakNotice], to: LeaseState| {
        assert_eq!(breaks.len(), 1, "one break notification: {breaks:?}");
        let b = &breaks[0];
        assert_eq!((b.from, b.to), (held, to), "break target");
        assert_eq!(b.key, CacheKey::Lease(guid(9), lkey(9)));
        assert_eq!(
            b.ack_required,
            held != LeaseState::R,
            "ack required iff not from R"
        );
    };
    match exp {
        Exp::G => {
            assert!(out.is_success(), "{out:?}");
            assert!(breaks.is_empty(), "no break: {breaks:?}");
            assert_eq!(h.lease(9, 9).state, held);
        }
        Exp::Grant(s) => {
            assert_eq!(granted_lease(&out), s);
            assert!(breaks.is_empty(), "no break: {breaks:?}");
            assert_eq!(h.lease(9, 9).state, held, "holder keeps its lease");
        }
        Exp::Nw(to) => {
            assert!(out.is_success(), "proceeds without waiting: {out:?}");
            expect_break(&breaks, to);
        }
        Exp::W(to) | Exp::WThen(to, _) => {
            let t = match &out {
                Outcome::Wait(w) => {
                    assert_eq!(w.reason, WaitReason::Break);
                    w.ticket
                }
                o => panic!("expected a wait for the break, got {o:?}"),
            };
            expect_break(&breaks, to);
            assert!(h.lease(9, 9).breaking);
            assert_eq!(h.ack(9, 9, to), Ok(to));
            let done = h.completion(t).expect("completes after the ack");
            match exp {
                Exp::WThen(_, s) => assert_eq!(granted_lease(&done), s),
                _ => assert!(done.is_success(), "{done:?}"),
            }
            assert_eq!(h.lease(9, 9).state, to);
        }
    }
}

fn attr_open(h: &mut Harness) {
    let c = SmbCreate::new(F, OpenId(1), guid(1), access::READ_ATTRIBUTES, share::ALL);
    assert!(h.t.smb_create(c, h.now).is_success());
    h.drain();
}
fn create(h: &mut Harness, access: u32, overwrite: bool, lease: Option<LeaseState>) -> Outcome {
    let mut c = SmbCreate::new(F, OpenId(1), guid(1), access, share::ALL);
    c.overwrite = overwrite;
    c.allocation_size = 0;
    if let Some(state) = lease {
        c.cache = CacheRequest::Lease {
            key: lkey(1),
            state,
            version: LeaseVersion::V2 { parent: None },
        };
    }
    h.t.smb_create(c, h.now)
}

macro_rules! cell {
    ($name:ident, $held:expr, $exp:expr, |$h:ident| $op:expr) => {
        #[test]
        fn $name() {
            let held = $held;
            let mut $h = setup(held);
            let out = $op;
            check(&mut $h, held, out, $exp);
        }
    };
}

use LeaseState as S;

// Row 1: NLM LOCK shared.
cell!(
    b_r1_nlm_lock_s_vs_r_breaks_to_none_no_ack,
    S::R,
    Exp::Nw(S::NONE),
    |h| h.nlm_lock(&owner("n", 1), 0, 10, false, false)
);
cell!(
    b_r1_nlm_lock_s_vs_rh_breaks_to_none_not_awaited,
    S::RH,
    Exp::Nw(S::NONE),
    |h| h.nlm_lock(&owner("n", 1), 0, 10, false, false)
);
cell!(
    b_r1_nlm_lock_s_vs_rw_breaks_to_none_and_waits,
    S::RW,
    Exp::W(S::NONE),
    |h| h.nlm_lock(&owner("n", 1), 0, 10, false, false)
);
cell!(
    b_r1_nlm_lock_s_vs_rwh_breaks_to_none_and_waits,
    S::RWH,
    Exp::W(S::NONE),
    |h| h.nlm_lock(&owner("n", 1), 0, 10, false, false)
);
// Row 2: NLM LOCK exclusive.
cell!(
    b_r2_nlm_lock_x_vs_r_breaks_to_none_no_ack,
    S::R,
    Exp::Nw(S::NONE),
    |h| h.nlm_lock(&owner("n", 1), 0, 10, true, false)
);
cell!(
    b_r2_nlm_lock_x_vs_rh_breaks_to_none_not_awaited,
    S::RH,
    Exp::Nw(S::NONE),
    |h| h.nlm_lock(&owner("n", 1), 0, 10, true, false)
);
cell!(
    b_r2_nlm_lock_x_vs_rw_breaks_to_none_and_waits,
    S::RW,
    Exp::W(S::NONE),
    |h| h.nlm_lock(&owner("n", 1), 0, 10, true, true)
);
cell!(
    b_r2_nlm_lock_x_vs_rwh_breaks_to_none_and_waits,
    S::RWH,
    Exp::W(S::NONE),
    |h| h.nlm_lock(&owner("n", 1), 0, 10, true, true)
);
// Row 3: NLM TEST.
cell!(b_r3_nlm_test_vs_r_no_break, S::R, Exp::G, |h| h.nlm_test(
    &owner("n", 1),
    0,
    10,
    true
));
cell!(b_r3_nlm_test_vs_rh_no_break, S::RH, Exp::G, |h| h.nlm_test(
    &owner("n", 1),
    0,
    10,
    true
));
cell!(
    b_r3_nlm_test_vs_rw_breaks_to_r_and_waits,
    S::RW,
    Exp::W(S::R),
    |h| h.nlm_test(&owner("n", 1), 0, 10, true)
);
cell!(
    b_r3_nlm_test_vs_rwh_breaks_to_rh_and_waits,
    S::RWH,
    Exp::W(S::RH),
    |h| h.nlm_test(&owner("n", 1), 0, 10, true)
);
// Row 4: NFS READ.
cell!(b_r4_nfs_read_vs_r_no_break, S::R, Exp::G, |h| h
    .t
    .nfs_read(F, 0, 10, h.now));
cell!(b_r4_nfs_read_vs_rh_no_break, S::RH, Exp::G, |h| h
    .t
    .nfs_read(F, 0, 10, h.now));
cell!(
    b_r4_nfs_read_vs_rw_breaks_to_r_and_waits,
    S::RW,
    Exp::W(S::R),
    |h| h.t.nfs_read(F, 0, 10, h.now)
);
cell!(
    b_r4_nfs_read_vs_rwh_breaks_to_rh_and_waits,
    S::RWH,
    Exp::W(S::RH),
    |h| h.t.nfs_read(F, 0, 10, h.now)
);
// Row 5: NFS WRITE.
cell!(
    b_r5_nfs_write_vs_r_breaks_to_none_no_ack,
    S::R,
    Exp::Nw(S::NONE),
    |h| h.t.nfs_write(F, 0, 10, h.now)
);
cell!(
    b_r5_nfs_write_vs_rh_breaks_to_none_not_awaited,
    S::RH,
    Exp::Nw(S::NONE),
    |h| h.t.nfs_write(F, 0, 10, h.now)
);
cell!(
    b_r5_nfs_write_vs_rw_breaks_to_none_and_waits,
    S::RW,
    Exp::W(S::NONE),
    |h| h.t.nfs_write(F, 0, 10, h.now)
);
cell!(
    b_r5_nfs_write_vs_rwh_breaks_to_none_and_waits,
    S::RWH,
    Exp::W(S::NONE),
    |h| h.t.nfs_write(F, 0, 10, h.now)
);
// Row 6: NFS SETATTR size.
cell!(
    b_r6_nfs_set_size_vs_r_breaks_to_none_no_ack,
    S::R,
    Exp::Nw(S::NONE),
    |h| h.t.nfs_set_size(F, h.now)
);
cell!(
    b_r6_nfs_set_size_vs_rh_breaks_to_none_not_awaited,
    S::RH,
    Exp::Nw(S::NONE),
    |h| h.t.nfs_set_size(F, h.now)
);
cell!(
    b_r6_nfs_set_size_vs_rw_breaks_to_none_and_waits,
    S::RW,
    Exp::W(S::NONE),
    |h| h.t.nfs_set_size(F, h.now)
);
cell!(
    b_r6_nfs_set_size_vs_rwh_breaks_to_none_and_waits,
    S::RWH,
    Exp::W(S::NONE),
    |h| h.t.nfs_set_size(F, h.now)
);
// Row 7: NFS REMOVE.
cell!(b_r7_nfs_remove_vs_r_no_break, S::R, Exp::G, |h| h
    .t
    .nfs_remove(F, h.now));
cell!(
    b_r7_nfs_remove_vs_rh_breaks_to_r_and_waits,
    S::RH,
    Exp::W(S::R),
    |h| h.t.nfs_remove(F, h.now)
);
cell!(b_r7_nfs_remove_vs_rw_no_break, S::RW, Exp::G, |h| h
    .t
    .nfs_remove(F, h.now));
cell!(
    b_r7_nfs_remove_vs_rwh_breaks_to_rw_and_waits,
    S::RWH,
    Exp::W(S::RW),
    |h| h.t.nfs_remove(F, h.now)
);
// Row 8: NFS RENAME (source).
cell!(b_r8_nfs_rename_source_vs_r_no_break, S::R, Exp::G, |h| h
    .t
    .nfs_rename_source(F, h.now));
cell!(
    b_r8_nfs_rename_source_vs_rh_breaks_to_r_and_waits,
    S::RH,
    Exp::W(S::R),
    |h| h.t.nfs_rename_source(F, h.now)
);
cell!(b_r8_nfs_rename_source_vs_rw_no_break, S::RW, Exp::G, |h| h
    .t
    .nfs_rename_source(F, h.now));
cell!(
    b_r8_nfs_rename_source_vs_rwh_breaks_to_rw_and_waits,
    S::RWH,
    Exp::W(S::RW),
    |h| h.t.nfs_rename_source(F, h.now)
);
// Row 9: NFS RENAME (target replaced).
cell!(
    b_r9_nfs_rename_target_vs_r_breaks_to_none_no_ack,
    S::R,
    Exp::Nw(S::NONE),
    |h| h.t.nfs_rename_target(F, h.now)
);
cell!(
    b_r9_nfs_rename_target_vs_rh_breaks_to_none_not_awaited,
    S::RH,
    Exp::Nw(S::NONE),
    |h| h.t.nfs_rename_target(F, h.now)
);
cell!(
    b_r9_nfs_rename_target_vs_rw_breaks_to_none_and_waits,
    S::RW,
    Exp::W(S::NONE),
    |h| h.t.nfs_rename_target(F, h.now)
);
cell!(
    b_r9_nfs_rename_target_vs_rwh_breaks_to_none_and_waits,
    S::RWH,
    Exp::W(S::NONE),
    |h| h.t.nfs_rename_target(F, h.now)
);
// Row 10a: NFS CREATE GUARDED/EXCLUSIVE over an existing name.
cell!(b_r10a_nfs_create_guarded_vs_r_no_break, S::R, Exp::G, |h| h
    .t
    .nfs_create_guarded(F, h.now));
cell!(
    b_r10a_nfs_create_guarded_vs_rh_no_break,
    S::RH,
    Exp::G,
    |h| h.t.nfs_create_guarded(F, h.now)
);
cell!(
    b_r10a_nfs_create_guarded_vs_rw_no_break,
    S::RW,
    Exp::G,
    |h| h.t.nfs_create_guarded(F, h.now)
);
cell!(
    b_r10a_nfs_create_guarded_vs_rwh_no_break,
    S::RWH,
    Exp::G,
    |h| h.t.nfs_create_guarded(F, h.now)
);
// Row 10b: NFS CREATE UNCHECKED size 0.
cell!(
    b_r10b_nfs_create_truncate_vs_r_breaks_to_none_no_ack,
    S::R,
    Exp::Nw(S::NONE),
    |h| h.t.nfs_create_truncate(F, h.now)
);
cell!(
    b_r10b_nfs_create_truncate_vs_rh_breaks_to_none_not_awaited,
    S::RH,
    Exp::Nw(S::NONE),
    |h| h.t.nfs_create_truncate(F, h.now)
);
cell!(
    b_r10b_nfs_create_truncate_vs_rw_breaks_to_none_and_waits,
    S::RW,
    Exp::W(S::NONE),
    |h| h.t.nfs_create_truncate(F, h.now)
);
cell!(
    b_r10b_nfs_create_truncate_vs_rwh_breaks_to_none_and_waits,
    S::RWH,
    Exp::W(S::NONE),
    |h| h.t.nfs_create_truncate(F, h.now)
);
// Row 11: SMB CREATE + lease R.
cell!(
    b_r11_smb_lease_r_vs_r_grants_r_both_keep,
    S::R,
    Exp::Grant(S::R),
    |h| create(&mut h, RW_DATA, false, Some(S::R))
);
cell!(
    b_r11_smb_lease_r_vs_rh_grants_r,
    S::RH,
    Exp::Grant(S::R),
    |h| create(&mut h, RW_DATA, false, Some(S::R))
);
cell!(
    b_r11_smb_lease_r_vs_rw_breaks_to_r_then_r,
    S::RW,
    Exp::WThen(S::R, S::R),
    |h| create(&mut h, RW_DATA, false, Some(S::R))
);
cell!(
    b_r11_smb_lease_r_vs_rwh_breaks_to_rh_then_r,
    S::RWH,
    Exp::WThen(S::RH, S::R),
    |h| create(&mut h, RW_DATA, false, Some(S::R))
);
// Row 12: SMB CREATE + lease RH.
cell!(
    b_r12_smb_lease_rh_vs_r_grants_rh,
    S::R,
    Exp::Grant(S::RH),
    |h| create(&mut h, RW_DATA, false, Some(S::RH))
);
cell!(
    b_r12_smb_lease_rh_vs_rh_grants_rh,
    S::RH,
    Exp::Grant(S::RH),
    |h| create(&mut h, RW_DATA, false, Some(S::RH))
);
cell!(
    b_r12_smb_lease_rh_vs_rw_breaks_to_r_then_rh,
    S::RW,
    Exp::WThen(S::R, S::RH),
    |h| create(&mut h, RW_DATA, false, Some(S::RH))
);
cell!(
    b_r12_smb_lease_rh_vs_rwh_breaks_to_rh_then_rh,
    S::RWH,
    Exp::WThen(S::RH, S::RH),
    |h| create(&mut h, RW_DATA, false, Some(S::RH))
);
// Row 13: SMB CREATE + lease RW.
cell!(
    b_r13_smb_lease_rw_vs_r_falls_back_to_r,
    S::R,
    Exp::Grant(S::R),
    |h| create(&mut h, RW_DATA, false, Some(S::RW))
);
cell!(
    b_r13_smb_lease_rw_vs_rh_falls_back_to_r,
    S::RH,
    Exp::Grant(S::R),
    |h| create(&mut h, RW_DATA, false, Some(S::RW))
);
cell!(
    b_r13_smb_lease_rw_vs_rw_breaks_to_r_then_r,
    S::RW,
    Exp::WThen(S::R, S::R),
    |h| create(&mut h, RW_DATA, false, Some(S::RW))
);
cell!(
    b_r13_smb_lease_rw_vs_rwh_breaks_to_rh_then_r,
    S::RWH,
    Exp::WThen(S::RH, S::R),
    |h| create(&mut h, RW_DATA, false, Some(S::RW))
);
// Row 14: SMB CREATE + lease RWH.
cell!(
    b_r14_smb_lease_rwh_vs_r_falls_back_to_rh,
    S::R,
    Exp::Grant(S::RH),
    |h| create(&mut h, RW_DATA, false, Some(S::RWH))
);
cell!(
    b_r14_smb_lease_rwh_vs_rh_falls_back_to_rh,
    S::RH,
    Exp::Grant(S::RH),
    |h| create(&mut h, RW_DATA, false, Some(S::RWH))
);
cell!(
    b_r14_smb_lease_rwh_vs_rw_breaks_to_r_then_rh,
    S::RW,
    Exp::WThen(S::R, S::RH),
    |h| create(&mut h, RW_DATA, false, Some(S::RWH))
);
cell!(
    b_r14_smb_lease_rwh_vs_rwh_breaks_to_rh_then_rh,
    S::RWH,
    Exp::WThen(S::RH, S::RH),
    |h| create(&mut h, RW_DATA, false, Some(S::RWH))
);
// Row 15: SMB CREATE with data access, no lease.
cell!(b_r15_smb_create_vs_r_no_break, S::R, Exp::G, |h| create(
    &mut h, RW_DATA, false, None
));
cell!(b_r15_smb_create_vs_rh_no_break, S::RH, Exp::G, |h| create(
    &mut h, RW_DATA, false, None
));
cell!(
    b_r15_smb_create_vs_rw_breaks_to_r_and_waits,
    S::RW,
    Exp::W(S::R),
    |h| create(&mut h, RW_DATA, false, None)
);
cell!(
    b_r15_smb_create_vs_rwh_breaks_to_rh_and_waits,
    S::RWH,
    Exp::W(S::RH),
    |h| create(&mut h, RW_DATA, false, None)
);
// Row 15a: attribute-only access.
cell!(
    b_r15a_smb_create_attr_only_vs_r_no_break,
    S::R,
    Exp::G,
    |h| create(
        &mut h,
        access::READ_ATTRIBUTES | access::SYNCHRONIZE,
        false,
        None
    )
);
cell!(
    b_r15a_smb_create_attr_only_vs_rh_no_break,
    S::RH,
    Exp::G,
    |h| create(&mut h, access::READ_ATTRIBUTES, false, None)
);
cell!(
    b_r15a_smb_create_attr_only_vs_rw_no_break,
    S::RW,
    Exp::G,
    |h| create(
        &mut h,
        access::WRITE_ATTRIBUTES | access::READ_CONTROL,
        false,
        None
    )
);
cell!(
    b_r15a_smb_create_attr_only_vs_rwh_no_break,
    S::RWH,
    Exp::G,
    |h| create(&mut h, access::READ_ATTRIBUTES, false, None)
);
// Row 15b: overwrite / supersede.
cell!(
    b_r15b_smb_overwrite_vs_r_breaks_to_none_no_ack,
    S::R,
    Exp::Nw(S::NONE),
    |h| create(&mut h, RW_DATA, true, None)
);
cell!(
    b_r15b_smb_overwrite_vs_rh_breaks_to_none_not_awaited,
    S::RH,
    Exp::Nw(S::NONE),
    |h| create(&mut h, RW_DATA, true, None)
);
cell!(
    b_r15b_smb_overwrite_vs_rw_breaks_to_none_and_waits,
    S::RW,
    Exp::W(S::NONE),
    |h| create(&mut h, RW_DATA, true, None)
);
cell!(
    b_r15b_smb_overwrite_vs_rwh_breaks_to_none_and_waits,
    S::RWH,
    Exp::W(S::NONE),
    |h| create(&mut h, RW_DATA, true, None)
);
// Row 16: SMB LOCK shared (from an attribute-only open that broke nothing).
cell!(
    b_r16_smb_lock_s_vs_r_breaks_to_none_no_ack,
    S::R,
    Exp::Nw(S::NONE),
    |h| {
        attr_open(&mut h);
        h.smb_lock(1, 0, 10, false, true)
    }
);
cell!(
    b_r16_smb_lock_s_vs_rh_breaks_to_none_not_awaited,
    S::RH,
    Exp::Nw(S::NONE),
    |h| {
        attr_open(&mut h);
        h.smb_lock(1, 0, 10, false, true)
    }
);
cell!(
    b_r16_smb_lock_s_vs_rw_breaks_to_none_and_waits,
    S::RW,
    Exp::W(S::NONE),
    |h| {
        attr_open(&mut h);
        h.smb_lock(1, 0, 10, false, true)
    }
);
cell!(
    b_r16_smb_lock_s_vs_rwh_breaks_to_none_and_waits,
    S::RWH,
    Exp::W(S::NONE),
    |h| {
        attr_open(&mut h);
        h.smb_lock(1, 0, 10, false, true)
    }
);
// Row 17: SMB LOCK exclusive.
cell!(
    b_r17_smb_lock_x_vs_r_breaks_to_none_no_ack,
    S::R,
    Exp::Nw(S::NONE),
    |h| {
        attr_open(&mut h);
        h.smb_lock(1, 0, 10, true, true)
    }
);
cell!(
    b_r17_smb_lock_x_vs_rh_breaks_to_none_not_awaited,
    S::RH,
    Exp::Nw(S::NONE),
    |h| {
        attr_open(&mut h);
        h.smb_lock(1, 0, 10, true, true)
    }
);
cell!(
    b_r17_smb_lock_x_vs_rw_breaks_to_none_and_waits,
    S::RW,
    Exp::W(S::NONE),
    |h| {
        attr_open(&mut h);
        h.smb_lock(1, 0, 10, true, false)
    }
);
cell!(
    b_r17_smb_lock_x_vs_rwh_breaks_to_none_and_waits,
    S::RWH,
    Exp::W(S::NONE),
    |h| {
        attr_open(&mut h);
        h.smb_lock(1, 0, 10, true, false)
    }
);
// Row 18: SMB READ.
cell!(b_r18_smb_read_vs_r_no_break, S::R, Exp::G, |h| {
    attr_open(&mut h);
    h.t.smb_read(OpenId(1), 0, 10, h.now)
});
cell!(b_r18_smb_read_vs_rh_no_break, S::RH, Exp::G, |h| {
    attr_open(&mut h);
    h.t.smb_read(OpenId(1), 0, 10, h.now)
});
cell!(
    b_r18_smb_read_vs_rw_breaks_to_r_and_waits,
    S::RW,
    Exp::W(S::R),
    |h| {
        attr_open(&mut h);
        h.t.smb_read(OpenId(1), 0, 10, h.now)
    }
);
cell!(
    b_r18_smb_read_vs_rwh_breaks_to_rh_and_waits,
    S::RWH,
    Exp::W(S::RH),
    |h| {
        attr_open(&mut h);
        h.t.smb_read(OpenId(1), 0, 10, h.now)
    }
);
// Row 19: SMB WRITE.
cell!(
    b_r19_smb_write_vs_r_breaks_to_none_no_ack,
    S::R,
    Exp::Nw(S::NONE),
    |h| {
        attr_open(&mut h);
        h.t.smb_write(OpenId(1), 0, 10, h.now)
    }
);
cell!(
    b_r19_smb_write_vs_rh_breaks_to_none_not_awaited,
    S::RH,
    Exp::Nw(S::NONE),
    |h| {
        attr_open(&mut h);
        h.t.smb_write(OpenId(1), 0, 10, h.now)
    }
);
cell!(
    b_r19_smb_write_vs_rw_breaks_to_none_and_waits,
    S::RW,
    Exp::W(S::NONE),
    |h| {
        attr_open(&mut h);
        h.t.smb_write(OpenId(1), 0, 10, h.now)
    }
);
cell!(
    b_r19_smb_write_vs_rwh_breaks_to_none_and_waits,
    S::RWH,
    Exp::W(S::NONE),
    |h| {
        attr_open(&mut h);
        h.t.smb_write(OpenId(1), 0, 10, h.now)
    }
);
// Row 20: SMB rename / delete.
cell!(b_r20_smb_rename_vs_r_no_break, S::R, Exp::G, |h| {
    attr_open(&mut h);
    h.t.smb_rename(OpenId(1), h.now)
});
cell!(
    b_r20_smb_rename_vs_rh_breaks_to_r_and_waits,
    S::RH,
    Exp::W(S::R),
    |h| {
        attr_open(&mut h);
        h.t.smb_rename(OpenId(1), h.now)
    }
);
cell!(b_r20_smb_delete_vs_rw_no_break, S::RW, Exp::G, |h| {
    attr_open(&mut h);
    h.t.smb_delete(OpenId(1), h.now)
});
cell!(
    b_r20_smb_delete_vs_rwh_breaks_to_rw_and_waits,
    S::RWH,
    Exp::W(S::RW),
    |h| {
        attr_open(&mut h);
        h.t.smb_delete(OpenId(1), h.now)
    }
);
// Row 21: NLM SHARE.
cell!(b_r21_nlm_share_vs_r_no_break, S::R, Exp::G, |h| h
    .nlm_share(&owner("n", 0), 3, 0));
cell!(b_r21_nlm_share_vs_rh_no_break, S::RH, Exp::G, |h| h
    .nlm_share(&owner("n", 0), 3, 0));
cell!(
    b_r21_nlm_share_vs_rw_breaks_to_r_and_waits,
    S::RW,
    Exp::W(S::R),
    |h| h.nlm_share(&owner("n", 0), 3, 0)
);
cell!(
    b_r21_nlm_share_vs_rwh_breaks_to_rh_and_waits,
    S::RWH,
    Exp::W(S::RH),
    |h| h.nlm_share(&owner("n", 0), 3, 0)
);

// Row 15c: CREATE that hits a sharing violation: H is broken first, then the check re-runs.
fn setup_deny_write(state: LeaseState) -> Harness {
    let mut h = Harness::new();
    let mut c = SmbCreate::new(F, OpenId(100), guid(9), access::READ_DATA, share::READ);
    c.cache = CacheRequest::Lease {
        key: lkey(9),
        state,
        version: LeaseVersion::V2 { parent: None },
    };
    assert_eq!(granted_lease(&h.t.smb_create(c, h.now)), state);
    h.drain();
    h
}

#[test]
fn b_r15c_sharing_violation_vs_r_denied_without_break() {
    let mut h = setup_deny_write(S::R);
    let o = create(&mut h, access::WRITE_DATA, false, None);
    assert!(
        matches!(o, Outcome::Deny(Deny::SharingViolation(_))),
        "{o:?}"
    );
    assert!(h.breaks().is_empty());
}

#[test]
fn b_r15c_sharing_violation_vs_rh_breaks_to_r_then_rechecks_denied() {
    let mut h = setup_deny_write(S::RH);
    let t = ticket(&create(&mut h, access::WRITE_DATA, false, None));
    let b = h.breaks();
    assert_eq!(
        (b.len(), b[0].from, b[0].to, b[0].ack_required),
        (1, S::RH, S::R, true)
    );
    h.ack(9, 9, S::R).unwrap();
    assert!(matches!(
        h.completion(t),
        Some(Outcome::Deny(Deny::SharingViolation(_)))
    ));
}

#[test]
fn b_r15c_sharing_violation_vs_rh_holder_closes_then_open_succeeds() {
    let mut h = setup_deny_write(S::RH);
    let t = ticket(&create(&mut h, access::WRITE_DATA, false, None));
    h.drain();
    h.t.smb_close(OpenId(100), h.now);
    assert!(matches!(h.completion(t), Some(Outcome::Opened(_))));
}

#[test]
fn b_r15c_sharing_violation_vs_rw_denied_without_break() {
    let mut h = setup_deny_write(S::RW);
    let o = create(&mut h, access::WRITE_DATA, false, None);
    assert!(
        matches!(o, Outcome::Deny(Deny::SharingViolation(_))),
        "{o:?}"
    );
    assert!(h.breaks().is_empty());
}

#[test]
fn b_r15c_sharing_violation_vs_rwh_breaks_to_rw_then_rechecks_denied() {
    let mut h = setup_deny_write(S::RWH);
    let t = ticket(&create(&mut h, access::WRITE_DATA, false, None));
    let b = h.breaks();
    assert_eq!((b.len(), b[0].from, b[0].to), (1, S::RWH, S::RW));
    h.ack(9, 9, S::RW).unwrap();
    assert!(matches!(
        h.completion(t),
        Some(Outcome::Deny(Deny::SharingViolation(_)))
    ));
}

#[test]
fn b_o5_nfs_remove_vs_rh_without_share_delete_breaks_h_then_acces() {
    let mut h = setup_deny_write(S::RH);
    let t = ticket(&h.t.nfs_remove(F, h.now));
    assert_eq!(h.breaks()[0].to, S::R);
    h.ack(9, 9, S::R).unwrap();
    assert!(matches!(
        h.completion(t),
        Some(Outcome::Deny(Deny::SharingViolation(_)))
    ));
    // If the SMB client closes instead, the REMOVE goes through.
    let mut h = setup_deny_write(S::RH);
    let t = ticket(&h.t.nfs_remove(F, h.now));
    h.t.smb_close(OpenId(100), h.now);
    assert_eq!(h.completion(t), Some(Outcome::Proceed));
}

// Oplocks use the lease column of their equivalent but break only to Level II or None.
#[test]
fn b_oplock_batch_vs_nfs_read_breaks_to_level2() {
    let mut h = Harness::new();
    assert_eq!(
        h.smb_open_oplock(100, 9, OplockLevel::Batch),
        Outcome::Opened(OpenGrant {
            open: OpenId(100),
            lease: None,
            oplock: Some(OplockLevel::Batch)
        })
    );
    h.drain();
    let t = ticket(&h.t.nfs_read(F, 0, 1, h.now));
    let b = h.breaks();
    assert_eq!(
        (b[0].key, b[0].to, OplockLevel::from_lease(b[0].to)),
        (CacheKey::Oplock(OpenId(100)), S::R, OplockLevel::LevelII)
    );
    assert_eq!(b[0].epoch, 0);
    assert_eq!(
        h.t.smb_oplock_break_ack(OpenId(100), OplockLevel::Exclusive, h.now),
        Err(AckError::NotSubset)
    );
    assert_eq!(
        h.t.smb_oplock_break_ack(OpenId(100), OplockLevel::LevelII, h.now),
        Ok(OplockLevel::LevelII)
    );
    assert_eq!(h.completion(t), Some(Outcome::Proceed));
}

#[test]
fn b_oplock_batch_vs_nfs_remove_breaks_to_none() {
    let mut h = Harness::new();
    h.smb_open_oplock(100, 9, OplockLevel::Batch);
    h.drain();
    let t = ticket(&h.t.nfs_remove(F, h.now));
    assert_eq!(h.breaks()[0].to, S::NONE);
    h.t.smb_oplock_break_ack(OpenId(100), OplockLevel::None, h.now)
        .unwrap();
    assert_eq!(h.completion(t), Some(Outcome::Proceed));
}

#[test]
fn b_oplock_level2_break_needs_no_ack() {
    let mut h = Harness::new();
    h.smb_open_oplock(100, 9, OplockLevel::LevelII);
    h.drain();
    assert_eq!(h.t.nfs_write(F, 0, 1, h.now), Outcome::Proceed);
    let b = h.breaks();
    assert_eq!(
        (b[0].from, b[0].to, b[0].ack_required),
        (S::R, S::NONE, false)
    );
    assert_eq!(
        h.t.smb_oplock_break_ack(OpenId(100), OplockLevel::None, h.now),
        Err(AckError::NotBreaking)
    );
}

#[test]
fn b_oplock_exclusive_not_granted_with_other_open() {
    let mut h = Harness::new();
    h.smb_open(100, 9, access::READ_DATA, share::ALL);
    let o = h.smb_open_oplock(1, 1, OplockLevel::Exclusive);
    assert_eq!(
        o,
        Outcome::Opened(OpenGrant {
            open: OpenId(1),
            lease: None,
            oplock: Some(OplockLevel::LevelII)
        })
    );
}

// Cells added with docs/cross-protocol.md: row 20 is "rename / delete"; the cells above test
// one of the two per column, these the other.
cell!(b_r20_smb_delete_vs_r_no_break, S::R, Exp::G, |h| {
    attr_open(&mut h);
    h.t.smb_delete(OpenId(1), h.now)
});
cell!(
    b_r20_smb_delete_vs_rh_breaks_to_r_and_waits,
    S::RH,
    Exp::W(S::R),
    |h| {
        attr_open(&mut h);
        h.t.smb_delete(OpenId(1), h.now)
    }
);
cell!(b_r20_smb_rename_vs_rw_no_break, S::RW, Exp::G, |h| {
    attr_open(&mut h);
    h.t.smb_rename(OpenId(1), h.now)
});
cell!(
    b_r20_smb_rename_vs_rwh_breaks_to_rw_and_waits,
    S::RWH,
    Exp::W(S::RW),
    |h| {
        attr_open(&mut h);
        h.t.smb_rename(OpenId(1), h.now)
    }
);

/// Rows 8 and 20, note "(Batch oplock → None)": a rename of the file breaks a Batch oplock
/// to None (MS-FSA 2.1.5.15.12), where an RWH lease only loses H.
fn batch_then(op: impl FnOnce(&mut Harness) -> Outcome) {
    let mut h = Harness::new();
    h.smb_open_oplock(100, 9, OplockLevel::Batch);
    h.drain();
    let t = ticket(&op(&mut h));
    let b = h.breaks();
    assert_eq!(
        (b.len(), b[0].from, b[0].to, b[0].ack_required),
        (1, S::RWH, S::NONE, true)
    );
    h.t.smb_oplock_break_ack(OpenId(100), OplockLevel::None, h.now)
        .unwrap();
    assert_eq!(h.completion(t), Some(Outcome::Proceed));
}

#[test]
fn b_oplock_batch_vs_nfs_rename_source_breaks_to_none() {
    batch_then(|h| h.t.nfs_rename_source(F, h.now));
}

#[test]
fn b_oplock_batch_vs_smb_rename_breaks_to_none() {
    batch_then(|h| {
        let c = SmbCreate::new(F, OpenId(1), guid(1), access::READ_ATTRIBUTES, share::ALL);
        assert!(h.t.smb_create(c, h.now).is_success());
        h.drain();
        h.t.smb_rename(OpenId(1), h.now)
    });
}
