//! Matrix A (docs/cross-protocol.md §4.2): every incoming operation × existing NLM-S, NLM-X, SMB-S,
//! SMB-X lock and a conflicting share mode, one named test per cell (lock cells with a blocking
//! variant get a second test). The existing state always overlaps the request and belongs to
//! another owner.

mod common;
use common::*;

#[derive(Clone, Copy)]
enum Col {
    NlmS,
    NlmX,
    SmbS,
    SmbX,
    Share,
}

#[derive(Debug, Clone, Copy)]
enum Exp {
    /// Proceed / Opened.
    G,
    /// Deny(Conflict).
    Conflict,
    /// Deny(SharingViolation).
    Sharing,
    /// Deny(AccessDenied).
    Access,
    /// Wait(Lock).
    Queued,
    /// Opened with this lease state.
    Lease(LeaseState),
}

const RW_DATA: u32 = access::READ_DATA | access::WRITE_DATA;

fn setup(col: Col) -> Harness {
    let mut h = Harness::new();
    let holder = owner("holder", 1);
    match col {
        Col::NlmS => assert!(h.nlm_lock(&holder, 0, 100, false, false).is_success()),
        Col::NlmX => assert!(h.nlm_lock(&holder, 0, 100, true, false).is_success()),
        Col::SmbS | Col::SmbX => {
            assert!(h.smb_open(100, 9, RW_DATA, share::ALL).is_success());
            let x = matches!(col, Col::SmbX);
            assert!(h.smb_lock(100, 0, 100, x, true).is_success());
        }
        Col::Share => {
            assert!(h.smb_open(100, 9, RW_DATA | access::DELETE, 0).is_success());
        }
    }
    h.drain();
    h
}

fn check(out: Outcome, exp: Exp) {
    match (exp, &out) {
        (Exp::G, o) if o.is_success() => {}
        (Exp::Conflict, Outcome::Deny(Deny::Conflict(_))) => {}
        (Exp::Sharing, Outcome::Deny(Deny::SharingViolation(_))) => {}
        (Exp::Access, Outcome::Deny(Deny::AccessDenied)) => {}
        (Exp::Queued, Outcome::Wait(w)) if matches!(w.reason, WaitReason::Lock(_)) => {}
        (Exp::Lease(s), o @ Outcome::Opened(_)) => assert_eq!(granted_lease(o), s),
        _ => panic!("expected {exp:?}, got {out:?}"),
    }
}

fn nlm_lock(h: &mut Harness, excl: bool, block: bool) -> Outcome {
    h.nlm_lock(&owner("req", 7), 50, 10, excl, block)
}
fn smb_create(
    h: &mut Harness,
    access: u32,
    overwrite: bool,
    lease: Option<LeaseState>,
    alloc: u64,
) -> Outcome {
    let mut c = SmbCreate::new(F, OpenId(1), guid(1), access, share::ALL);
    c.overwrite = overwrite;
    c.allocation_size = alloc;
    if let Some(state) = lease {
        c.cache = CacheRequest::Lease {
            key: lkey(1),
            state,
            version: LeaseVersion::V2 { parent: None },
        };
    }
    h.t.smb_create(c, h.now)
}
/// An SMB open for the lock/IO rows that breaks nothing and conflicts with no share mode.
fn attr_open(h: &mut Harness) {
    let c = SmbCreate::new(F, OpenId(1), guid(1), access::READ_ATTRIBUTES, share::ALL);
    assert!(h.t.smb_create(c, h.now).is_success());
}

macro_rules! cell {
    ($name:ident, $col:expr, $exp:expr, |$h:ident| $op:expr) => {
        #[test]
        fn $name() {
            let mut $h = setup($col);
            let out = $op;
            check(out, $exp);
        }
    };
}

// Row 1: NLM LOCK shared.
cell!(a_r1_nlm_lock_s_vs_nlm_s_granted, Col::NlmS, Exp::G, |h| {
    nlm_lock(&mut h, false, false)
});
cell!(
    a_r1_nlm_lock_s_vs_nlm_x_nonblocking_denied,
    Col::NlmX,
    Exp::Conflict,
    |h| nlm_lock(&mut h, false, false)
);
cell!(
    a_r1_nlm_lock_s_vs_nlm_x_blocking_queued,
    Col::NlmX,
    Exp::Queued,
    |h| nlm_lock(&mut h, false, true)
);
cell!(a_r1_nlm_lock_s_vs_smb_s_granted, Col::SmbS, Exp::G, |h| {
    nlm_lock(&mut h, false, false)
});
cell!(
    a_r1_nlm_lock_s_vs_smb_x_nonblocking_denied,
    Col::SmbX,
    Exp::Conflict,
    |h| nlm_lock(&mut h, false, false)
);
cell!(
    a_r1_nlm_lock_s_vs_smb_x_blocking_queued,
    Col::SmbX,
    Exp::Queued,
    |h| nlm_lock(&mut h, false, true)
);
cell!(
    a_r1_nlm_lock_s_vs_share_granted_o7,
    Col::Share,
    Exp::G,
    |h| nlm_lock(&mut h, false, false)
);

// Row 2: NLM LOCK exclusive.
cell!(
    a_r2_nlm_lock_x_vs_nlm_s_nonblocking_denied,
    Col::NlmS,
    Exp::Conflict,
    |h| nlm_lock(&mut h, true, false)
);
cell!(
    a_r2_nlm_lock_x_vs_nlm_s_blocking_queued,
    Col::NlmS,
    Exp::Queued,
    |h| nlm_lock(&mut h, true, true)
);
cell!(
    a_r2_nlm_lock_x_vs_nlm_x_nonblocking_denied,
    Col::NlmX,
    Exp::Conflict,
    |h| nlm_lock(&mut h, true, false)
);
cell!(
    a_r2_nlm_lock_x_vs_nlm_x_blocking_queued,
    Col::NlmX,
    Exp::Queued,
    |h| nlm_lock(&mut h, true, true)
);
cell!(
    a_r2_nlm_lock_x_vs_smb_s_nonblocking_denied,
    Col::SmbS,
    Exp::Conflict,
    |h| nlm_lock(&mut h, true, false)
);
cell!(
    a_r2_nlm_lock_x_vs_smb_s_blocking_queued,
    Col::SmbS,
    Exp::Queued,
    |h| nlm_lock(&mut h, true, true)
);
cell!(
    a_r2_nlm_lock_x_vs_smb_x_nonblocking_denied,
    Col::SmbX,
    Exp::Conflict,
    |h| nlm_lock(&mut h, true, false)
);
cell!(
    a_r2_nlm_lock_x_vs_smb_x_blocking_queued,
    Col::SmbX,
    Exp::Queued,
    |h| nlm_lock(&mut h, true, true)
);
cell!(
    a_r2_nlm_lock_x_vs_share_granted_o7,
    Col::Share,
    Exp::G,
    |h| nlm_lock(&mut h, true, false)
);

// Row 3: NLM TEST.
cell!(a_r3_nlm_test_s_vs_nlm_s_granted, Col::NlmS, Exp::G, |h| h
    .nlm_test(&owner("req", 7), 50, 10, false));
cell!(
    a_r3_nlm_test_x_vs_nlm_s_denied,
    Col::NlmS,
    Exp::Conflict,
    |h| h.nlm_test(&owner("req", 7), 50, 10, true)
);
cell!(
    a_r3_nlm_test_s_vs_nlm_x_denied,
    Col::NlmX,
    Exp::Conflict,
    |h| h.nlm_test(&owner("req", 7), 50, 10, false)
);
cell!(a_r3_nlm_test_s_vs_smb_s_granted, Col::SmbS, Exp::G, |h| h
    .nlm_test(&owner("req", 7), 50, 10, false));
cell!(
    a_r3_nlm_test_x_vs_smb_s_denied_synth_holder,
    Col::SmbS,
    Exp::Conflict,
    |h| h.nlm_test(&owner("req", 7), 50, 10, true)
);
cell!(
    a_r3_nlm_test_s_vs_smb_x_denied_synth_holder,
    Col::SmbX,
    Exp::Conflict,
    |h| h.nlm_test(&owner("req", 7), 50, 10, false)
);
cell!(a_r3_nlm_test_x_vs_share_granted, Col::Share, Exp::G, |h| h
    .nlm_test(&owner("req", 7), 50, 10, true));

// Row 4: NFS READ.
cell!(
    a_r4_nfs_read_vs_nlm_s_granted_advisory,
    Col::NlmS,
    Exp::G,
    |h| h.t.nfs_read(F, 50, 10, h.now)
);
cell!(
    a_r4_nfs_read_vs_nlm_x_granted_advisory,
    Col::NlmX,
    Exp::G,
    |h| h.t.nfs_read(F, 50, 10, h.now)
);
cell!(a_r4_nfs_read_vs_smb_s_granted, Col::SmbS, Exp::G, |h| h
    .t
    .nfs_read(F, 50, 10, h.now));
cell!(
    a_r4_nfs_read_vs_smb_x_acces_o9,
    Col::SmbX,
    Exp::Conflict,
    |h| h.t.nfs_read(F, 50, 10, h.now)
);
cell!(
    a_r4_nfs_read_vs_share_deny_read_acces,
    Col::Share,
    Exp::Sharing,
    |h| h.t.nfs_read(F, 50, 10, h.now)
);

// Row 5: NFS WRITE.
cell!(
    a_r5_nfs_write_vs_nlm_s_granted_advisory,
    Col::NlmS,
    Exp::G,
    |h| h.t.nfs_write(F, 50, 10, h.now)
);
cell!(
    a_r5_nfs_write_vs_nlm_x_granted_advisory,
    Col::NlmX,
    Exp::G,
    |h| h.t.nfs_write(F, 50, 10, h.now)
);
cell!(
    a_r5_nfs_write_vs_smb_s_acces_o9,
    Col::SmbS,
    Exp::Conflict,
    |h| h.t.nfs_write(F, 50, 10, h.now)
);
cell!(
    a_r5_nfs_write_vs_smb_x_acces,
    Col::SmbX,
    Exp::Conflict,
    |h| h.t.nfs_write(F, 50, 10, h.now)
);
cell!(
    a_r5_nfs_write_vs_share_deny_write_acces,
    Col::Share,
    Exp::Sharing,
    |h| h.t.nfs_write(F, 50, 10, h.now)
);

// Row 6: NFS SETATTR size.
cell!(a_r6_nfs_set_size_vs_nlm_s_granted, Col::NlmS, Exp::G, |h| h
    .t
    .nfs_set_size(F, h.now));
cell!(a_r6_nfs_set_size_vs_nlm_x_granted, Col::NlmX, Exp::G, |h| h
    .t
    .nfs_set_size(F, h.now));
cell!(a_r6_nfs_set_size_vs_smb_s_granted, Col::SmbS, Exp::G, |h| h
    .t
    .nfs_set_size(F, h.now));
cell!(a_r6_nfs_set_size_vs_smb_x_granted, Col::SmbX, Exp::G, |h| h
    .t
    .nfs_set_size(F, h.now));
cell!(
    a_r6_nfs_set_size_vs_share_deny_write_acces,
    Col::Share,
    Exp::Sharing,
    |h| h.t.nfs_set_size(F, h.now)
);

// Row 7: NFS REMOVE.
cell!(
    a_r7_nfs_remove_vs_nlm_s_granted_o10,
    Col::NlmS,
    Exp::G,
    |h| h.t.nfs_remove(F, h.now)
);
cell!(
    a_r7_nfs_remove_vs_nlm_x_granted_o10,
    Col::NlmX,
    Exp::G,
    |h| h.t.nfs_remove(F, h.now)
);
cell!(a_r7_nfs_remove_vs_smb_s_granted, Col::SmbS, Exp::G, |h| h
    .t
    .nfs_remove(F, h.now));
cell!(a_r7_nfs_remove_vs_smb_x_granted, Col::SmbX, Exp::G, |h| h
    .t
    .nfs_remove(F, h.now));
cell!(
    a_r7_nfs_remove_vs_share_no_share_delete_acces,
    Col::Share,
    Exp::Sharing,
    |h| h.t.nfs_remove(F, h.now)
);

#[test]
fn a_r7_nfs_remove_vs_share_unix_semantics_granted() {
    let mut h = Harness::with(Config {
        unix_semantics: true,
        ..Config::default()
    });
    h.smb_open(100, 9, RW_DATA | access::DELETE, 0);
    assert_eq!(h.t.nfs_remove(F, h.now), Outcome::Proceed);
    assert_eq!(h.t.nfs_rename_source(F, h.now), Outcome::Proceed);
    assert_eq!(h.t.nfs_rename_target(F, h.now), Outcome::Proceed);
}

// Row 8: NFS RENAME (source).
cell!(
    a_r8_nfs_rename_source_vs_nlm_s_granted_o10,
    Col::NlmS,
    Exp::G,
    |h| h.t.nfs_rename_source(F, h.now)
);
cell!(
    a_r8_nfs_rename_source_vs_nlm_x_granted_o10,
    Col::NlmX,
    Exp::G,
    |h| h.t.nfs_rename_source(F, h.now)
);
cell!(
    a_r8_nfs_rename_source_vs_smb_s_granted,
    Col::SmbS,
    Exp::G,
    |h| h.t.nfs_rename_source(F, h.now)
);
cell!(
    a_r8_nfs_rename_source_vs_smb_x_granted,
    Col::SmbX,
    Exp::G,
    |h| h.t.nfs_rename_source(F, h.now)
);
cell!(
    a_r8_nfs_rename_source_vs_share_no_share_delete_acces,
    Col::Share,
    Exp::Sharing,
    |h| h.t.nfs_rename_source(F, h.now)
);

// Row 9: NFS RENAME over an existing target (SMB locks imply SMB opens without a lease).
cell!(
    a_r9_nfs_rename_target_vs_nlm_s_granted_o10,
    Col::NlmS,
    Exp::G,
    |h| h.t.nfs_rename_target(F, h.now)
);
cell!(
    a_r9_nfs_rename_target_vs_nlm_x_granted_o10,
    Col::NlmX,
    Exp::G,
    |h| h.t.nfs_rename_target(F, h.now)
);
cell!(
    a_r9_nfs_rename_target_vs_smb_s_open_without_lease_acces,
    Col::SmbS,
    Exp::Access,
    |h| h.t.nfs_rename_target(F, h.now)
);
cell!(
    a_r9_nfs_rename_target_vs_smb_x_open_without_lease_acces,
    Col::SmbX,
    Exp::Access,
    |h| h.t.nfs_rename_target(F, h.now)
);
cell!(
    a_r9_nfs_rename_target_vs_share_open_without_lease_acces,
    Col::Share,
    Exp::Access,
    |h| h.t.nfs_rename_target(F, h.now)
);

// Row 10a: NFS CREATE GUARDED/EXCLUSIVE over an existing name: no state consulted.
cell!(
    a_r10a_nfs_create_guarded_vs_nlm_s_no_state,
    Col::NlmS,
    Exp::G,
    |h| h.t.nfs_create_guarded(F, h.now)
);
cell!(
    a_r10a_nfs_create_guarded_vs_nlm_x_no_state,
    Col::NlmX,
    Exp::G,
    |h| h.t.nfs_create_guarded(F, h.now)
);
cell!(
    a_r10a_nfs_create_guarded_vs_smb_s_no_state,
    Col::SmbS,
    Exp::G,
    |h| h.t.nfs_create_guarded(F, h.now)
);
cell!(
    a_r10a_nfs_create_guarded_vs_smb_x_no_state,
    Col::SmbX,
    Exp::G,
    |h| h.t.nfs_create_guarded(F, h.now)
);
cell!(
    a_r10a_nfs_create_guarded_vs_share_no_state,
    Col::Share,
    Exp::G,
    |h| h.t.nfs_create_guarded(F, h.now)
);

// Row 10b: NFS CREATE UNCHECKED size 0: as row 6.
cell!(
    a_r10b_nfs_create_truncate_vs_nlm_s_granted,
    Col::NlmS,
    Exp::G,
    |h| h.t.nfs_create_truncate(F, h.now)
);
cell!(
    a_r10b_nfs_create_truncate_vs_nlm_x_granted,
    Col::NlmX,
    Exp::G,
    |h| h.t.nfs_create_truncate(F, h.now)
);
cell!(
    a_r10b_nfs_create_truncate_vs_smb_s_granted,
    Col::SmbS,
    Exp::G,
    |h| h.t.nfs_create_truncate(F, h.now)
);
cell!(
    a_r10b_nfs_create_truncate_vs_smb_x_granted,
    Col::SmbX,
    Exp::G,
    |h| h.t.nfs_create_truncate(F, h.now)
);
cell!(
    a_r10b_nfs_create_truncate_vs_share_acces,
    Col::Share,
    Exp::Sharing,
    |h| h.t.nfs_create_truncate(F, h.now)
);

// Rows 11–14: SMB CREATE with a lease request. Lock below AllocationSize → no R; above → R.
const BELOW: u64 = u64::MAX;
const ABOVE: u64 = 0;
cell!(
    a_r11_smb_lease_r_vs_nlm_s_lock_below_alloc_none,
    Col::NlmS,
    Exp::Lease(LeaseState::NONE),
    |h| smb_create(&mut h, RW_DATA, false, Some(LeaseState::R), BELOW)
);
cell!(
    a_r11_smb_lease_r_vs_nlm_s_lock_above_alloc_r,
    Col::NlmS,
    Exp::Lease(LeaseState::R),
    |h| smb_create(&mut h, RW_DATA, false, Some(LeaseState::R), ABOVE)
);
cell!(
    a_r11_smb_lease_r_vs_nlm_x_lock_below_alloc_none,
    Col::NlmX,
    Exp::Lease(LeaseState::NONE),
    |h| smb_create(&mut h, RW_DATA, false, Some(LeaseState::R), BELOW)
);
cell!(
    a_r11_smb_lease_r_vs_smb_s_none,
    Col::SmbS,
    Exp::Lease(LeaseState::NONE),
    |h| smb_create(&mut h, RW_DATA, false, Some(LeaseState::R), BELOW)
);
cell!(
    a_r11_smb_lease_r_vs_smb_x_none,
    Col::SmbX,
    Exp::Lease(LeaseState::NONE),
    |h| smb_create(&mut h, RW_DATA, false, Some(LeaseState::R), BELOW)
);
cell!(
    a_r11_smb_lease_r_vs_share_sharing_violation,
    Col::Share,
    Exp::Sharing,
    |h| smb_create(&mut h, RW_DATA, false, Some(LeaseState::R), BELOW)
);

cell!(
    a_r12_smb_lease_rh_vs_nlm_s_lock_below_alloc_none,
    Col::NlmS,
    Exp::Lease(LeaseState::NONE),
    |h| smb_create(&mut h, RW_DATA, false, Some(LeaseState::RH), BELOW)
);
cell!(
    a_r12_smb_lease_rh_vs_nlm_s_lock_above_alloc_rh,
    Col::NlmS,
    Exp::Lease(LeaseState::RH),
    |h| smb_create(&mut h, RW_DATA, false, Some(LeaseState::RH), ABOVE)
);
cell!(
    a_r12_smb_lease_rh_vs_nlm_x_lock_below_alloc_none,
    Col::NlmX,
    Exp::Lease(LeaseState::NONE),
    |h| smb_create(&mut h, RW_DATA, false, Some(LeaseState::RH), BELOW)
);
cell!(
    a_r12_smb_lease_rh_vs_smb_s_none,
    Col::SmbS,
    Exp::Lease(LeaseState::NONE),
    |h| smb_create(&mut h, RW_DATA, false, Some(LeaseState::RH), BELOW)
);
cell!(
    a_r12_smb_lease_rh_vs_smb_x_none,
    Col::SmbX,
    Exp::Lease(LeaseState::NONE),
    |h| smb_create(&mut h, RW_DATA, false, Some(LeaseState::RH), BELOW)
);
cell!(
    a_r12_smb_lease_rh_vs_share_sharing_violation,
    Col::Share,
    Exp::Sharing,
    |h| smb_create(&mut h, RW_DATA, false, Some(LeaseState::RH), BELOW)
);

cell!(
    a_r13_smb_lease_rw_vs_nlm_s_w_stripped_o1_none,
    Col::NlmS,
    Exp::Lease(LeaseState::NONE),
    |h| smb_create(&mut h, RW_DATA, false, Some(LeaseState::RW), BELOW)
);
cell!(
    a_r13_smb_lease_rw_vs_nlm_s_above_alloc_w_stripped_o1_r,
    Col::NlmS,
    Exp::Lease(LeaseState::R),
    |h| smb_create(&mut h, RW_DATA, false, Some(LeaseState::RW), ABOVE)
);
cell!(
    a_r13_smb_lease_rw_vs_nlm_x_above_alloc_w_stripped_o1_r,
    Col::NlmX,
    Exp::Lease(LeaseState::R),
    |h| smb_create(&mut h, RW_DATA, false, Some(LeaseState::RW), ABOVE)
);
cell!(
    a_r13_smb_lease_rw_vs_smb_s_none,
    Col::SmbS,
    Exp::Lease(LeaseState::NONE),
    |h| smb_create(&mut h, RW_DATA, false, Some(LeaseState::RW), BELOW)
);
cell!(
    a_r13_smb_lease_rw_vs_smb_x_none,
    Col::SmbX,
    Exp::Lease(LeaseState::NONE),
    |h| smb_create(&mut h, RW_DATA, false, Some(LeaseState::RW), BELOW)
);
cell!(
    a_r13_smb_lease_rw_vs_share_sharing_violation,
    Col::Share,
    Exp::Sharing,
    |h| smb_create(&mut h, RW_DATA, false, Some(LeaseState::RW), BELOW)
);

cell!(
    a_r14_smb_lease_rwh_vs_nlm_s_w_stripped_o1_none,
    Col::NlmS,
    Exp::Lease(LeaseState::NONE),
    |h| smb_create(&mut h, RW_DATA, false, Some(LeaseState::RWH), BELOW)
);
cell!(
    a_r14_smb_lease_rwh_vs_nlm_s_above_alloc_w_stripped_o1_rh,
    Col::NlmS,
    Exp::Lease(LeaseState::RH),
    |h| smb_create(&mut h, RW_DATA, false, Some(LeaseState::RWH), ABOVE)
);
cell!(
    a_r14_smb_lease_rwh_vs_nlm_x_above_alloc_w_stripped_o1_rh,
    Col::NlmX,
    Exp::Lease(LeaseState::RH),
    |h| smb_create(&mut h, RW_DATA, false, Some(LeaseState::RWH), ABOVE)
);
cell!(
    a_r14_smb_lease_rwh_vs_smb_s_none,
    Col::SmbS,
    Exp::Lease(LeaseState::NONE),
    |h| smb_create(&mut h, RW_DATA, false, Some(LeaseState::RWH), BELOW)
);
cell!(
    a_r14_smb_lease_rwh_vs_smb_x_none,
    Col::SmbX,
    Exp::Lease(LeaseState::NONE),
    |h| smb_create(&mut h, RW_DATA, false, Some(LeaseState::RWH), BELOW)
);
cell!(
    a_r14_smb_lease_rwh_vs_share_sharing_violation,
    Col::Share,
    Exp::Sharing,
    |h| smb_create(&mut h, RW_DATA, false, Some(LeaseState::RWH), BELOW)
);

// Row 15: SMB CREATE with data access, no lease.
cell!(a_r15_smb_create_vs_nlm_s_granted, Col::NlmS, Exp::G, |h| {
    smb_create(&mut h, RW_DATA, false, None, BELOW)
});
cell!(a_r15_smb_create_vs_nlm_x_granted, Col::NlmX, Exp::G, |h| {
    smb_create(&mut h, RW_DATA, false, None, BELOW)
});
cell!(a_r15_smb_create_vs_smb_s_granted, Col::SmbS, Exp::G, |h| {
    smb_create(&mut h, RW_DATA, false, None, BELOW)
});
cell!(a_r15_smb_create_vs_smb_x_granted, Col::SmbX, Exp::G, |h| {
    smb_create(&mut h, RW_DATA, false, None, BELOW)
});
cell!(
    a_r15_smb_create_vs_share_sharing_violation,
    Col::Share,
    Exp::Sharing,
    |h| smb_create(&mut h, RW_DATA, false, None, BELOW)
);

#[test]
fn a_r15_smb_create_vs_nlm_share_reservation_sharing_violation_o11() {
    let mut h = Harness::new();
    assert_eq!(h.nlm_share(&owner("n", 0), 3, 3), Outcome::Proceed);
    check(
        smb_create(&mut h, access::READ_DATA, false, None, BELOW),
        Exp::Sharing,
    );
    // Attribute-only opens take no part in sharing.
    check(
        smb_create(&mut h, access::READ_ATTRIBUTES, false, None, BELOW),
        Exp::G,
    );
}

// Row 15b: SMB CREATE with overwrite.
cell!(
    a_r15b_smb_overwrite_vs_nlm_s_granted,
    Col::NlmS,
    Exp::G,
    |h| smb_create(&mut h, RW_DATA, true, None, BELOW)
);
cell!(
    a_r15b_smb_overwrite_vs_nlm_x_granted,
    Col::NlmX,
    Exp::G,
    |h| smb_create(&mut h, RW_DATA, true, None, BELOW)
);
cell!(
    a_r15b_smb_overwrite_vs_smb_s_granted,
    Col::SmbS,
    Exp::G,
    |h| smb_create(&mut h, RW_DATA, true, None, BELOW)
);
cell!(
    a_r15b_smb_overwrite_vs_smb_x_granted,
    Col::SmbX,
    Exp::G,
    |h| smb_create(&mut h, RW_DATA, true, None, BELOW)
);
cell!(
    a_r15b_smb_overwrite_vs_share_sharing_violation,
    Col::Share,
    Exp::Sharing,
    |h| smb_create(&mut h, RW_DATA, true, None, BELOW)
);

// Row 16: SMB LOCK shared.
fn smb_lock_req(h: &mut Harness, excl: bool, fail: bool) -> Outcome {
    attr_open(h);
    h.smb_lock(1, 50, 10, excl, fail)
}
cell!(a_r16_smb_lock_s_vs_nlm_s_granted, Col::NlmS, Exp::G, |h| {
    smb_lock_req(&mut h, false, true)
});
cell!(
    a_r16_smb_lock_s_vs_nlm_x_fail_immediately_not_granted,
    Col::NlmX,
    Exp::Conflict,
    |h| smb_lock_req(&mut h, false, true)
);
cell!(
    a_r16_smb_lock_s_vs_nlm_x_pending,
    Col::NlmX,
    Exp::Queued,
    |h| smb_lock_req(&mut h, false, false)
);
cell!(a_r16_smb_lock_s_vs_smb_s_granted, Col::SmbS, Exp::G, |h| {
    smb_lock_req(&mut h, false, true)
});
cell!(
    a_r16_smb_lock_s_vs_smb_x_fail_immediately_not_granted,
    Col::SmbX,
    Exp::Conflict,
    |h| smb_lock_req(&mut h, false, true)
);
cell!(
    a_r16_smb_lock_s_vs_smb_x_pending,
    Col::SmbX,
    Exp::Queued,
    |h| smb_lock_req(&mut h, false, false)
);

// Row 17: SMB LOCK exclusive.
cell!(
    a_r17_smb_lock_x_vs_nlm_s_fail_immediately_not_granted,
    Col::NlmS,
    Exp::Conflict,
    |h| smb_lock_req(&mut h, true, true)
);
cell!(
    a_r17_smb_lock_x_vs_nlm_s_pending,
    Col::NlmS,
    Exp::Queued,
    |h| smb_lock_req(&mut h, true, false)
);
cell!(
    a_r17_smb_lock_x_vs_nlm_x_fail_immediately_not_granted,
    Col::NlmX,
    Exp::Conflict,
    |h| smb_lock_req(&mut h, true, true)
);
cell!(
    a_r17_smb_lock_x_vs_nlm_x_pending,
    Col::NlmX,
    Exp::Queued,
    |h| smb_lock_req(&mut h, true, false)
);
cell!(
    a_r17_smb_lock_x_vs_smb_s_fail_immediately_not_granted,
    Col::SmbS,
    Exp::Conflict,
    |h| smb_lock_req(&mut h, true, true)
);
cell!(
    a_r17_smb_lock_x_vs_smb_s_pending,
    Col::SmbS,
    Exp::Queued,
    |h| smb_lock_req(&mut h, true, false)
);
cell!(
    a_r17_smb_lock_x_vs_smb_x_fail_immediately_not_granted,
    Col::SmbX,
    Exp::Conflict,
    |h| smb_lock_req(&mut h, true, true)
);
cell!(
    a_r17_smb_lock_x_vs_smb_x_pending,
    Col::SmbX,
    Exp::Queued,
    |h| smb_lock_req(&mut h, true, false)
);

// Row 18: SMB READ.
fn smb_io(h: &mut Harness, write: bool) -> Outcome {
    attr_open(h);
    if write {
        h.t.smb_write(OpenId(1), 50, 10, h.now)
    } else {
        h.t.smb_read(OpenId(1), 50, 10, h.now)
    }
}
cell!(a_r18_smb_read_vs_nlm_s_granted, Col::NlmS, Exp::G, |h| {
    smb_io(&mut h, false)
});
cell!(
    a_r18_smb_read_vs_nlm_x_file_lock_conflict_o2,
    Col::NlmX,
    Exp::Conflict,
    |h| smb_io(&mut h, false)
);
cell!(a_r18_smb_read_vs_smb_s_granted, Col::SmbS, Exp::G, |h| {
    smb_io(&mut h, false)
});
cell!(
    a_r18_smb_read_vs_smb_x_file_lock_conflict,
    Col::SmbX,
    Exp::Conflict,
    |h| smb_io(&mut h, false)
);

// Row 19: SMB WRITE.
cell!(
    a_r19_smb_write_vs_nlm_s_file_lock_conflict_o2,
    Col::NlmS,
    Exp::Conflict,
    |h| smb_io(&mut h, true)
);
cell!(
    a_r19_smb_write_vs_nlm_x_file_lock_conflict_o2,
    Col::NlmX,
    Exp::Conflict,
    |h| smb_io(&mut h, true)
);
cell!(
    a_r19_smb_write_vs_smb_s_file_lock_conflict,
    Col::SmbS,
    Exp::Conflict,
    |h| smb_io(&mut h, true)
);
cell!(
    a_r19_smb_write_vs_smb_x_file_lock_conflict,
    Col::SmbX,
    Exp::Conflict,
    |h| smb_io(&mut h, true)
);

#[test]
fn a_r18_r19_nlm_advisory_for_smb_option_lets_io_through() {
    let mut h = Harness::with(Config {
        nlm_locks_advisory_for_smb: true,
        ..Config::default()
    });
    h.nlm_lock(&owner("holder", 1), 0, 100, true, false);
    attr_open(&mut h);
    assert_eq!(h.t.smb_read(OpenId(1), 50, 10, h.now), Outcome::Proceed);
    assert_eq!(h.t.smb_write(OpenId(1), 50, 10, h.now), Outcome::Proceed);
    // Locks still conflict with locks.
    check(h.smb_lock(1, 50, 10, false, true), Exp::Conflict);
}

// Row 20: SMB rename / delete.
fn smb_ns(h: &mut Harness, delete: bool) -> Outcome {
    attr_open(h);
    if delete {
        h.t.smb_delete(OpenId(1), h.now)
    } else {
        h.t.smb_rename(OpenId(1), h.now)
    }
}
cell!(
    a_r20_smb_rename_vs_nlm_s_granted_o10,
    Col::NlmS,
    Exp::G,
    |h| smb_ns(&mut h, false)
);
cell!(
    a_r20_smb_rename_vs_nlm_x_granted_o10,
    Col::NlmX,
    Exp::G,
    |h| smb_ns(&mut h, false)
);
cell!(a_r20_smb_delete_vs_smb_s_granted, Col::SmbS, Exp::G, |h| {
    smb_ns(&mut h, true)
});
cell!(a_r20_smb_delete_vs_smb_x_granted, Col::SmbX, Exp::G, |h| {
    smb_ns(&mut h, true)
});
cell!(
    a_r20_smb_open_for_delete_vs_share_sharing_violation,
    Col::Share,
    Exp::Sharing,
    |h| smb_create(&mut h, access::DELETE, false, None, BELOW)
);

// Row 21: NLM SHARE.
cell!(a_r21_nlm_share_vs_nlm_s_granted, Col::NlmS, Exp::G, |h| h
    .nlm_share(&owner("req", 0), 3, 0));
cell!(a_r21_nlm_share_vs_nlm_x_granted, Col::NlmX, Exp::G, |h| h
    .nlm_share(&owner("req", 0), 3, 0));
cell!(a_r21_nlm_share_vs_smb_s_granted, Col::SmbS, Exp::G, |h| h
    .nlm_share(&owner("req", 0), 3, 0));
cell!(a_r21_nlm_share_vs_smb_x_granted, Col::SmbX, Exp::G, |h| h
    .nlm_share(&owner("req", 0), 3, 0));
cell!(
    a_r21_nlm_share_vs_share_denied_o11,
    Col::Share,
    Exp::Sharing,
    |h| h.nlm_share(&owner("req", 0), 1, 0)
);

#[test]
fn a_r21_nlm_share_vs_nlm_share_deny_semantics() {
    let mut h = Harness::new();
    let a = owner("a", 0);
    let b = owner("b", 0);
    assert_eq!(h.nlm_share(&a, 1, 2), Outcome::Proceed); // read, deny write
    check(h.nlm_share(&b, 2, 0), Exp::Sharing); // write vs deny-write
    check(h.nlm_share(&b, 1, 1), Exp::Sharing); // deny-read vs existing read
    assert_eq!(h.nlm_share(&b, 1, 0), Outcome::Proceed);
    // Same host + oh updates its own reservation.
    assert_eq!(h.nlm_share(&a, 1, 0), Outcome::Proceed);
    assert_eq!(h.t.view(F).shares.len(), 2);
    assert_eq!(h.t.nlm_unshare(F, &a, h.now), Outcome::Proceed);
    assert_eq!(h.t.nlm_unshare(F, &a, h.now), Outcome::Proceed);
    assert_eq!(h.t.view(F).shares.len(), 1);
    // NFS WRITE sees the NLM deny-write reservation of b? b denies nothing.
    assert_eq!(h.t.nfs_write(F, 0, 1, h.now), Outcome::Proceed);
}

// Cells added with docs/cross-protocol.md so that every cell of Matrix A names its test.

// Row 3, the exclusive TEST against the exclusive columns.
cell!(
    a_r3_nlm_test_x_vs_nlm_x_denied,
    Col::NlmX,
    Exp::Conflict,
    |h| h.nlm_test(&owner("req", 7), 50, 10, true)
);
cell!(
    a_r3_nlm_test_x_vs_smb_x_denied_synth_holder,
    Col::SmbX,
    Exp::Conflict,
    |h| h.nlm_test(&owner("req", 7), 50, 10, true)
);

// Rows 16–19, Share column "n/a (checked at CREATE)": share modes are checked when an open
// is created, never at LOCK, READ or WRITE. An attribute-only open takes no part in sharing,
// so it exists beside an open that denies everything, and its locks and I/O are judged by
// locks alone.
#[test]
fn a_r16_r19_smb_lock_and_io_vs_share_not_checked_after_create() {
    let mut h = setup(Col::Share);
    attr_open(&mut h);
    assert!(h.t.view(F).opens.len() == 2, "both opens exist");
    assert_eq!(h.t.smb_read(OpenId(1), 50, 10, h.now), Outcome::Proceed);
    assert_eq!(h.t.smb_write(OpenId(1), 50, 10, h.now), Outcome::Proceed);
    assert!(h.smb_lock(1, 50, 10, false, true).is_success());
    assert!(h.smb_lock(1, 70, 10, true, true).is_success());
}

// Row 20 is "rename / delete": the cells above test one of the two per column, these
// the other.
cell!(
    a_r20_smb_delete_vs_nlm_s_granted_o10,
    Col::NlmS,
    Exp::G,
    |h| smb_ns(&mut h, true)
);
cell!(
    a_r20_smb_delete_vs_nlm_x_granted_o10,
    Col::NlmX,
    Exp::G,
    |h| smb_ns(&mut h, true)
);
cell!(a_r20_smb_rename_vs_smb_s_granted, Col::SmbS, Exp::G, |h| {
    smb_ns(&mut h, false)
});
cell!(a_r20_smb_rename_vs_smb_x_granted, Col::SmbX, Exp::G, |h| {
    smb_ns(&mut h, false)
});

/// Share column of rows 4–8 and 10b, "H* then NFS3ERR_ACCES" (rule 5, O5): when the open whose
/// share mode conflicts holds an RH lease, the table first breaks H (RH → R, ack required)
/// and holds the NFS operation; after the ack the share check runs again and, the open still
/// being there, refuses with the sharing violation (NFS3ERR_ACCES on the wire).
fn share_with_h_lease_breaks_h_then_refuses(op: impl FnOnce(&mut Harness) -> Outcome) {
    let mut h = Harness::new();
    let mut c = SmbCreate::new(F, OpenId(100), guid(9), RW_DATA | access::DELETE, 0);
    c.cache = CacheRequest::Lease {
        key: lkey(9),
        state: LeaseState::RH,
        version: LeaseVersion::V2 { parent: None },
    };
    assert_eq!(granted_lease(&h.t.smb_create(c, h.now)), LeaseState::RH);
    h.drain();
    let out = op(&mut h);
    let t = match &out {
        Outcome::Wait(w) => {
            assert_eq!(w.reason, WaitReason::Break, "{out:?}");
            w.ticket
        }
        o => panic!("expected a wait for the H break, got {o:?}"),
    };
    let b = h.breaks();
    assert_eq!(
        (b.len(), b[0].from, b[0].to, b[0].ack_required),
        (1, LeaseState::RH, LeaseState::R, true),
        "{b:?}"
    );
    assert_eq!(h.ack(9, 9, LeaseState::R), Ok(LeaseState::R));
    match h.completion(t) {
        Some(Outcome::Deny(Deny::SharingViolation(_))) => {}
        o => panic!("expected the sharing violation after the ack, got {o:?}"),
    }
}

#[test]
fn a_r4_nfs_read_vs_share_with_h_lease_breaks_h_then_acces_o5() {
    share_with_h_lease_breaks_h_then_refuses(|h| h.t.nfs_read(F, 50, 10, h.now));
}
#[test]
fn a_r5_nfs_write_vs_share_with_h_lease_breaks_h_then_acces_o5() {
    share_with_h_lease_breaks_h_then_refuses(|h| h.t.nfs_write(F, 50, 10, h.now));
}
#[test]
fn a_r6_nfs_set_size_vs_share_with_h_lease_breaks_h_then_acces_o5() {
    share_with_h_lease_breaks_h_then_refuses(|h| h.t.nfs_set_size(F, h.now));
}
#[test]
fn a_r8_nfs_rename_source_vs_share_with_h_lease_breaks_h_then_acces_o5() {
    share_with_h_lease_breaks_h_then_refuses(|h| h.t.nfs_rename_source(F, h.now));
}
#[test]
fn a_r10b_nfs_create_truncate_vs_share_with_h_lease_breaks_h_then_acces_o5() {
    share_with_h_lease_breaks_h_then_refuses(|h| h.t.nfs_create_truncate(F, h.now));
}
