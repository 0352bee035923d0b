//! Leases and oplocks through `server::Core` (MS-SMB2 §3.3.5.9.8/.11 grants, §3.3.4.6/.7
//! break notifications, §3.3.5.22 acknowledgments): SMB clients with their own ClientGuid
//! talk to the core over connection ids, jobs run on the test's thread and time is virtual
//! (`Core::handle_timeout`), so the break timeout is tested without waiting.

use std::time::{Duration, Instant};

use bytes::Bytes;
use proto_smb2::client;
use proto_smb2::cmd::create_context::{LeaseRequest, RequestContext, ResponseContext};
use proto_smb2::cmd::negotiate::dialect;
use proto_smb2::cmd::*;
use proto_smb2::nbss;
use proto_smb2::{Command, NtStatus};
use server::{Core, ShareBackend};

mod support;

use support::smb::{self, run_jobs, statuses, Client, Resp};

const GENERIC_READ: u32 = 0x8000_0000;
const GENERIC_WRITE: u32 = 0x4000_0000;
const FILE_READ_ATTRIBUTES: u32 = 0x80;
const SHARE_ALL: u32 = 7;
const OPEN: u32 = 1;
const OPEN_IF: u32 = 3;
const DIRECTORY_FILE: u32 = 1;

const LEASING: u32 = 0x02;
const DIRECTORY_LEASING: u32 = 0x20;

const R: u32 = 1;
const H: u32 = 2;
const W: u32 = 4;

const STATUS_UNSUCCESSFUL: NtStatus = NtStatus(0xC000_0001);
const STATUS_INVALID_OPLOCK_PROTOCOL: NtStatus = NtStatus(0xC000_00E3);

/// A core with share `export` (id 1), user alice, and the lock table's default 35 s
/// break timeout.
fn core() -> (Core, Instant) {
    let now = support::start_of_time();
    let config = smb::config(
        vec![smb::share(1, "export", false)],
        smb::users(&[("alice", 1000)]),
    );
    let backends = vec![ShareBackend {
        share_id: 1,
        vfs: smb::memory_fs(),
    }];
    (smb::boot(config, backends, vec![], true, now), now)
}

/// Connected, logged on as alice with `guid` as ClientGuid, `export` mounted; offers
/// SMB2_GLOBAL_CAP_DIRECTORY_LEASING.
fn ready(core: &mut Core, id: u64, guid: u8, dialect_: u16, now: Instant) -> Client {
    ready_caps(core, id, guid, dialect_, DIRECTORY_LEASING, now)
}

/// A [`core`] and clients A (connection 1, ClientGuid 0xA..) and B (2, 0xB..) on `dialect_`.
fn two_clients(dialect_: u16) -> (Core, Instant, Client, Client) {
    let (mut core, now) = core();
    let a = ready(&mut core, 1, 0xA, dialect_, now);
    let b = ready(&mut core, 2, 0xB, dialect_, now);
    (core, now, a, b)
}

fn ready_caps(
    core: &mut Core,
    id: u64,
    guid: u8,
    dialect_: u16,
    caps: u32,
    now: Instant,
) -> Client {
    let mut c = Client::connect(core, id, now);
    let r = c.negotiate(core, now, dialect_, caps, [guid; 16]);
    let caps_back = NegotiateResponse::decode(&r.msg).unwrap().capabilities;
    assert_ne!(caps_back & LEASING, 0, "leasing announced");
    assert_eq!(
        caps_back & DIRECTORY_LEASING != 0,
        dialect_ >= dialect::SMB300 && caps & DIRECTORY_LEASING != 0,
        "directory leasing announced on 3.x to a client offering it"
    );
    assert_eq!(
        c.session_setup(core, now, "alice", smb::PASSWORD),
        NtStatus::SUCCESS
    );
    assert_eq!(c.tree(core, now, "export"), NtStatus::SUCCESS);
    c
}

/// A CREATE asking for a v2 lease (`v2`) or v1 lease of `state` under `key`.
fn lease_create(name: &str, access: u32, key: u8, state: u32, v2: bool) -> CreateRequest {
    let mut req = client::create_request(name, access, SHARE_ALL, OPEN_IF, 0);
    req.requested_oplock_level = 0xFF;
    req.contexts.push(
        RequestContext::Lease(LeaseRequest {
            lease_key: [key; 16],
            lease_state: state,
            flags: 0,
            v2: v2.then_some(([0; 16], 0)),
        })
        .to_context(),
    );
    req
}

/// [`lease_create`] of a directory.
fn dir_lease_create(name: &str, access: u32, key: u8, state: u32, v2: bool) -> CreateRequest {
    let mut req = lease_create(name, access, key, state, v2);
    req.create_options = DIRECTORY_FILE;
    req
}

fn oplock_create(name: &str, access: u32, level: u8) -> CreateRequest {
    let mut req = client::create_request(name, access, SHARE_ALL, OPEN_IF, 0);
    req.requested_oplock_level = level;
    req
}

/// The granted (OplockLevel, lease state, lease flags, epoch) of a CREATE response.
fn granted(r: &Resp) -> (CreateResponse, Option<(u32, u32, u16)>) {
    assert_eq!(r.status(), NtStatus::SUCCESS, "{r:?}");
    let resp = CreateResponse::decode(&r.msg).unwrap();
    let lease = resp
        .contexts
        .iter()
        .find_map(|c| match ResponseContext::parse(c).unwrap() {
            Some(ResponseContext::Lease {
                lease_state,
                flags,
                v2,
                ..
            }) => Some((lease_state, flags, v2.map_or(0, |v| v.1))),
            _ => None,
        });
    (resp, lease)
}

fn lease_ack(key: u8, state: u32) -> impl FnOnce(&mut Vec<u8>) {
    move |o| {
        OplockBreak::LeaseAck {
            flags: 0,
            lease_key: [key; 16],
            lease_state: state,
            lease_duration: 0,
        }
        .encode(o)
    }
}

fn only_break(rs: Vec<Resp>) -> OplockBreak {
    assert_eq!(rs.len(), 1, "{rs:?}");
    assert!(rs[0].is_break(), "{rs:?}");
    assert_eq!(rs[0].header.session_id, 0);
    OplockBreak::decode(&rs[0].msg).unwrap()
}

/// The scenario: A holds RWH, B's write open breaks it to RH and waits
/// (STATUS_PENDING), A acknowledges, B's CREATE completes; A keeps RH.
#[test]
fn lease_broken_by_a_write_open_waits_for_the_ack() {
    let (mut core, now, mut a, mut b) = two_clients(dialect::SMB302);
    let r = a.call(&mut core, now, Command::CREATE, |o| {
        lease_create("f", GENERIC_READ | GENERIC_WRITE, 1, R | H | W, true).encode(o)
    });
    let (resp, lease) = granted(&r);
    assert_eq!(resp.oplock_level, 0xFF);
    assert_eq!(lease, Some((R | H | W, 0, 1)), "RWH, epoch 0 + 1");

    let mid = b.submit(&mut core, now, Command::CREATE, |o| {
        client::create_request("f", GENERIC_WRITE, SHARE_ALL, OPEN, 0).encode(o)
    });
    let rb = b.recv(&mut core);
    assert_eq!(rb.len(), 1);
    assert_eq!(rb[0].status(), NtStatus::PENDING);
    assert_eq!(rb[0].header.message_id, mid);
    let n = only_break(a.recv(&mut core));
    assert_eq!(
        n,
        OplockBreak::LeaseNotification {
            new_epoch: 2,
            flags: 1,
            lease_key: [1; 16],
            current_lease_state: R | H | W,
            new_lease_state: R | H,
        }
    );

    let r = a.call(&mut core, now, Command::OPLOCK_BREAK, lease_ack(1, R | H));
    assert_eq!(r.status(), NtStatus::SUCCESS);
    assert!(matches!(
        OplockBreak::decode(&r.msg).unwrap(),
        OplockBreak::LeaseAck { lease_state, .. } if lease_state == R | H
    ));
    run_jobs(&mut core, now);
    let rb = b.recv(&mut core);
    assert_eq!(rb.len(), 1, "{rb:?}");
    assert_eq!(rb[0].status(), NtStatus::SUCCESS);
    assert_eq!(rb[0].header.message_id, mid);
    // A second ack: not breaking any more.
    let r = a.call(&mut core, now, Command::OPLOCK_BREAK, lease_ack(1, R | H));
    assert_eq!(r.status(), STATUS_UNSUCCESSFUL);
}

/// Nobody acknowledges: after the break timeout (35 s) the lease is NONE and the waiting
/// CREATE completes; a late ack is STATUS_UNSUCCESSFUL.
#[test]
fn an_unacknowledged_break_times_out_to_none() {
    let (mut core, now, mut a, mut b) = two_clients(dialect::SMB210);
    let r = a.call(&mut core, now, Command::CREATE, |o| {
        lease_create("f", GENERIC_READ | GENERIC_WRITE, 1, R | H | W, false).encode(o)
    });
    assert_eq!(granted(&r).1, Some((R | H | W, 0, 0)));
    b.submit(&mut core, now, Command::CREATE, |o| {
        client::create_request("f", GENERIC_WRITE, SHARE_ALL, OPEN, 0).encode(o)
    });
    assert_eq!(b.recv(&mut core)[0].status(), NtStatus::PENDING);
    only_break(a.recv(&mut core));
    let deadline = core.poll_timeout().expect("the break timer");
    assert_eq!(deadline, now + Duration::from_secs(35));
    let t = now + Duration::from_secs(34);
    core.handle_timeout(t);
    run_jobs(&mut core, t);
    assert!(b.recv(&mut core).is_empty(), "still waiting at 34 s");
    let t = now + Duration::from_secs(35);
    core.handle_timeout(t);
    run_jobs(&mut core, t);
    let rb = b.recv(&mut core);
    assert_eq!(rb.len(), 1);
    assert_eq!(rb[0].status(), NtStatus::SUCCESS);
    let r = a.call(&mut core, t, Command::OPLOCK_BREAK, lease_ack(1, R | H));
    assert_eq!(r.status(), STATUS_UNSUCCESSFUL);
    // The lease is NONE now: a new write open by A's key breaks nothing.
    let r = a.call(&mut core, t, Command::CREATE, |o| {
        lease_create("f", GENERIC_READ, 1, R, false).encode(o)
    });
    assert_eq!(granted(&r).1, Some((R, 0, 0)));
}

/// A batch oplock is broken to Level II by a second open, acknowledged; acks in the
/// wrong state get the §3.3.5.22.1 statuses.
#[test]
fn oplock_break_and_acknowledgments() {
    let (mut core, now, mut a, mut b) = two_clients(dialect::SMB210);
    let r = a.call(&mut core, now, Command::CREATE, |o| {
        oplock_create("f", GENERIC_READ | GENERIC_WRITE, 9).encode(o)
    });
    let (ra, _) = granted(&r);
    assert_eq!(ra.oplock_level, 9, "batch");
    // Not breaking yet.
    let ack = |level| {
        move |o: &mut Vec<u8>| {
            OplockBreak::Oplock {
                oplock_level: level,
                file_id: ra.file_id,
            }
            .encode(o)
        }
    };
    let r = a.call(&mut core, now, Command::OPLOCK_BREAK, ack(1));
    assert_eq!(
        r.status(),
        STATUS_INVALID_OPLOCK_PROTOCOL,
        "not breaking (as Samba)"
    );
    b.submit(&mut core, now, Command::CREATE, |o| {
        oplock_create("f", GENERIC_READ, 9).encode(o)
    });
    assert_eq!(b.recv(&mut core)[0].status(), NtStatus::PENDING);
    assert_eq!(
        only_break(a.recv(&mut core)),
        OplockBreak::Oplock {
            oplock_level: 1,
            file_id: ra.file_id
        }
    );
    let r = a.call(&mut core, now, Command::OPLOCK_BREAK, ack(1));
    assert_eq!(r.status(), NtStatus::SUCCESS);
    assert_eq!(
        OplockBreak::decode(&r.msg).unwrap(),
        OplockBreak::Oplock {
            oplock_level: 1,
            file_id: ra.file_id
        }
    );
    let rb = b.recv(&mut core);
    let (resp, _) = granted(&rb[0]);
    assert_eq!(resp.oplock_level, 1, "Level II beside A's Level II");

    // An ack to a level the break did not offer ends the break at NONE and fails.
    let mut c = ready(&mut core, 3, 0xC, dialect::SMB210, now);
    let r = c.call(&mut core, now, Command::CREATE, |o| {
        oplock_create("g", GENERIC_READ | GENERIC_WRITE, 8).encode(o)
    });
    let (rc, _) = granted(&r);
    assert_eq!(rc.oplock_level, 8, "exclusive");
    b.submit(&mut core, now, Command::CREATE, |o| {
        client::create_request("g", GENERIC_WRITE, SHARE_ALL, OPEN, 0).encode(o)
    });
    assert_eq!(b.recv(&mut core)[0].status(), NtStatus::PENDING);
    only_break(c.recv(&mut core));
    let r = c.call(&mut core, now, Command::OPLOCK_BREAK, |o| {
        OplockBreak::Oplock {
            oplock_level: 8,
            file_id: rc.file_id,
        }
        .encode(o)
    });
    assert_eq!(r.status(), STATUS_INVALID_OPLOCK_PROTOCOL);
    assert_eq!(b.recv(&mut core)[0].status(), NtStatus::SUCCESS);
    // An unknown FileId.
    let r = c.call(&mut core, now, Command::OPLOCK_BREAK, |o| {
        OplockBreak::Oplock {
            oplock_level: 0,
            file_id: FileId {
                persistent: 999,
                volatile: 999,
            },
        }
        .encode(o)
    });
    assert_eq!(r.status(), NtStatus::FILE_CLOSED);
}

/// Lease acknowledgment statuses (§3.3.5.22.2) and a lease key reused on another file
/// (§3.3.5.9.8: STATUS_INVALID_PARAMETER).
#[test]
fn lease_ack_errors_and_key_reuse() {
    let (mut core, now, mut a, mut b) = two_clients(dialect::SMB302);
    let r = a.call(&mut core, now, Command::OPLOCK_BREAK, lease_ack(7, R));
    assert_eq!(r.status(), NtStatus::OBJECT_NAME_NOT_FOUND);
    let r = a.call(&mut core, now, Command::CREATE, |o| {
        lease_create("f", GENERIC_READ, 1, R | H, true).encode(o)
    });
    assert_eq!(granted(&r).1, Some((R | H, 0, 1)));
    let r = a.call(&mut core, now, Command::OPLOCK_BREAK, lease_ack(1, R));
    assert_eq!(r.status(), STATUS_UNSUCCESSFUL, "not breaking");
    let r = a.call(&mut core, now, Command::CREATE, |o| {
        lease_create("other", GENERIC_READ, 1, R | H, true).encode(o)
    });
    assert_eq!(r.status(), NtStatus::INVALID_PARAMETER, "key in use on f");
    // B's overwrite breaks RH to NONE (an ack is required, from H); it waits for nothing
    // (no W to flush, no sharing conflict).
    b.submit(&mut core, now, Command::CREATE, |o| {
        client::create_request("f", GENERIC_WRITE, SHARE_ALL, 5, 0).encode(o)
    });
    assert_eq!(b.recv(&mut core)[0].status(), NtStatus::SUCCESS);
    let n = only_break(a.recv(&mut core));
    let OplockBreak::LeaseNotification {
        new_lease_state, ..
    } = n
    else {
        panic!("{n:?}")
    };
    assert_eq!(new_lease_state, 0, "overwrite: to NONE");
    let r = a.call(&mut core, now, Command::OPLOCK_BREAK, lease_ack(1, R));
    assert_eq!(
        r.status(),
        NtStatus::REQUEST_NOT_ACCEPTED,
        "R is not within NONE"
    );
    let r = a.call(&mut core, now, Command::OPLOCK_BREAK, lease_ack(1, 0));
    assert_eq!(r.status(), NtStatus::SUCCESS);
}

/// CREATEs waiting on one break complete in arrival order; a cancelled one answers
/// STATUS_CANCELLED and leaves the queue.
#[test]
fn waiting_creates_complete_in_order_and_cancel() {
    let (mut core, now, mut a, mut b) = two_clients(dialect::SMB302);
    let mut c = ready(&mut core, 3, 0xC, dialect::SMB302, now);
    let r = a.call(&mut core, now, Command::CREATE, |o| {
        lease_create("f", GENERIC_READ | GENERIC_WRITE, 1, R | H | W, true).encode(o)
    });
    assert_eq!(granted(&r).1.map(|l| l.0), Some(R | H | W));
    let open_w =
        |o: &mut Vec<u8>| client::create_request("f", GENERIC_WRITE, SHARE_ALL, OPEN, 0).encode(o);
    b.submit(&mut core, now, Command::CREATE, open_w);
    let cancelled = c.submit(&mut core, now, Command::CREATE, open_w);
    c.submit(&mut core, now, Command::CREATE, open_w);
    assert_eq!(b.recv(&mut core)[0].status(), NtStatus::PENDING);
    let rc = c.recv(&mut core);
    assert_eq!(statuses(&rc), [NtStatus::PENDING, NtStatus::PENDING]);
    only_break(a.recv(&mut core));
    // CANCEL of C's first CREATE (by MessageId, §3.3.5.16).
    let m = c.cancel_msg(cancelled);
    c.send(&mut core, now, &m);
    let rc = c.recv(&mut core);
    assert_eq!(rc.len(), 1);
    assert_eq!(rc[0].status(), NtStatus::CANCELLED);
    assert_eq!(rc[0].header.message_id, cancelled);
    // The ack lets B's and then C's second CREATE through, in that order.
    a.submit(&mut core, now, Command::OPLOCK_BREAK, lease_ack(1, R | H));
    let order: Vec<_> = smb::set_aside(&mut core)
        .into_iter()
        .filter(|&conn| conn == b.conn || conn == c.conn)
        .collect();
    assert_eq!(order, [b.conn, c.conn]);
    assert_eq!(a.recv(&mut core)[0].status(), NtStatus::SUCCESS);
    assert_eq!(b.recv(&mut core)[0].status(), NtStatus::SUCCESS);
    let rc = c.recv(&mut core);
    assert_eq!(rc.len(), 1);
    assert_eq!(rc[0].status(), NtStatus::SUCCESS);
    assert_eq!(rc[0].header.message_id, cancelled + 1);
}

/// A directory gets R and H on 3.x with directory leasing negotiated, never W, and no lease
/// at all on 2.1 or without it; a plain stat open (attributes only) breaks nothing.
#[test]
fn directory_leases_on_3x_only() {
    let (mut core, now) = core();
    let mut a = ready(&mut core, 1, 0xA, dialect::SMB302, now);
    let dir = |name: &str| dir_lease_create(name, GENERIC_READ, 2, R | H | W, true);
    let r = a.call(&mut core, now, Command::CREATE, |o| dir("d").encode(o));
    let (resp, lease) = granted(&r);
    assert_eq!(resp.oplock_level, 0xFF);
    assert_eq!(lease.map(|l| l.0), Some(R | H));
    let mut b = ready(&mut core, 2, 0xB, dialect::SMB210, now);
    let r = b.call(&mut core, now, Command::CREATE, |o| {
        dir_lease_create("d", GENERIC_READ, 3, R | H, false).encode(o)
    });
    let (resp, lease) = granted(&r);
    assert_eq!((resp.oplock_level, lease), (0, None));
    // 3.x without directory leasing negotiated: none either.
    let mut c = ready_caps(&mut core, 3, 0xC, dialect::SMB302, 0, now);
    let r = c.call(&mut core, now, Command::CREATE, |o| {
        dir_lease_create("d", GENERIC_READ, 4, R | H, true).encode(o)
    });
    let (resp, lease) = granted(&r);
    assert_eq!((resp.oplock_level, lease), (0, None));
    let r = b.call(&mut core, now, Command::CREATE, |o| {
        client::create_request("d", FILE_READ_ATTRIBUTES, SHARE_ALL, OPEN, 0).encode(o)
    });
    assert_eq!(r.status(), NtStatus::SUCCESS);
    assert!(a.recv(&mut core).is_empty(), "no break for a stat open");
}

/// A change in a leased directory breaks the directory's lease (MS-FSA 2.1.4.12.2), except
/// when it is made by the lease's own client naming it as ParentLeaseKey (MS-SMB2
/// §3.3.5.9.11).
#[test]
fn a_change_in_a_directory_breaks_its_lease_except_the_makers() {
    let (mut core, now, mut a, mut b) = two_clients(dialect::SMB302);
    let r = a.call(&mut core, now, Command::CREATE, |o| {
        dir_lease_create("d", GENERIC_READ, 2, R | H, true).encode(o)
    });
    assert_eq!(granted(&r).1.map(|l| l.0), Some(R | H));
    // A creates d\a naming its directory lease as parent: no break.
    let r = a.call(&mut core, now, Command::CREATE, |o| {
        let mut req = lease_create("d\\a", GENERIC_READ, 3, R, true);
        req.contexts = vec![RequestContext::Lease(LeaseRequest {
            lease_key: [3; 16],
            lease_state: R,
            flags: 4,
            v2: Some(([2; 16], 0)),
        })
        .to_context()];
        req.encode(o)
    });
    let (_, lease) = granted(&r);
    assert_eq!(lease, Some((R, 4, 1)), "R, PARENT_LEASE_KEY_SET, epoch 1");
    assert!(a.recv(&mut core).is_empty(), "no break for the maker");
    // B creates d\b: A's directory lease breaks (H needs an ack), B does not wait.
    let r = b.call(&mut core, now, Command::CREATE, |o| {
        client::create_request("d\\b", GENERIC_READ | GENERIC_WRITE, SHARE_ALL, OPEN_IF, 0)
            .encode(o)
    });
    assert_eq!(r.status(), NtStatus::SUCCESS);
    let n = only_break(a.recv(&mut core));
    assert!(
        matches!(n, OplockBreak::LeaseNotification { lease_key, current_lease_state, flags: 1, .. }
            if lease_key == [2; 16] && current_lease_state == R | H),
        "{n:?}"
    );
}

/// SET_INFO of the end of file breaks the other opens' caching to NONE (MS-FSA 2.1.5.14.4;
/// smbtorture smb2.oplock.batch11): a Level II oplock with no acknowledgment, and an RWH
/// lease with one, the SET_INFO waiting for it.
#[test]
fn setting_the_size_breaks_other_opens_caching() {
    let (mut core, now, mut a, mut b) = two_clients(dialect::SMB302);
    let set_eof = |fid: FileId| {
        move |o: &mut Vec<u8>| {
            SetInfoRequest {
                info_type: 1,
                file_info_class: 20,
                additional_information: 0,
                file_id: fid,
                buffer: 5u64.to_le_bytes().to_vec(),
            }
            .encode(o)
        }
    };
    let r = a.call(&mut core, now, Command::CREATE, |o| {
        lease_create("f", GENERIC_READ | GENERIC_WRITE, 1, R | H | W, true).encode(o)
    });
    assert_eq!(granted(&r).1.map(|l| l.0), Some(R | H | W));
    let r = b.call(&mut core, now, Command::CREATE, |o| {
        client::create_request("f", GENERIC_WRITE, SHARE_ALL, OPEN, 0).encode(o)
    });
    // B's open waited for A's RWH -> RH break; acknowledge it.
    assert_eq!(r.status(), NtStatus::PENDING);
    only_break(a.recv(&mut core));
    a.call(&mut core, now, Command::OPLOCK_BREAK, lease_ack(1, R | H));
    let rb = b.recv(&mut core);
    let (fb, _) = granted(&rb[0]);
    // Now B sets the size: A's RH goes to NONE (H needs an acknowledgment, nothing waits).
    let r = b.call(&mut core, now, Command::SET_INFO, set_eof(fb.file_id));
    assert_eq!(r.status(), NtStatus::SUCCESS);
    let n = only_break(a.recv(&mut core));
    assert!(
        matches!(n, OplockBreak::LeaseNotification { current_lease_state, new_lease_state: 0, .. }
            if current_lease_state == R | H),
        "{n:?}"
    );
}

/// A second client's CREATE of a leased directory that violates its sharing breaks the
/// directory lease's H first (smbtorture smb2.lease.v2_request).
#[test]
fn a_sharing_violation_on_a_directory_breaks_its_lease() {
    let (mut core, now, mut a, mut b) = two_clients(dialect::SMB302);
    let dir = |key: u8, share: u32| {
        let mut req = dir_lease_create("d", 0x001f_01ff, key, R | H | W, true);
        req.share_access = share;
        req.file_attributes = 0x10;
        req
    };
    let r = a.call(&mut core, now, Command::CREATE, |o| dir(2, 3).encode(o));
    assert_eq!(granted(&r).1.map(|l| l.0), Some(R | H));
    let rb = b.call(&mut core, now, Command::CREATE, |o| dir(3, 0).encode(o));
    assert_eq!(rb.status(), NtStatus::PENDING);
    let n = only_break(a.recv(&mut core));
    assert!(
        matches!(n, OplockBreak::LeaseNotification { current_lease_state, new_lease_state, .. }
            if current_lease_state == R | H && new_lease_state == R),
        "{n:?}"
    );
    a.submit(&mut core, now, Command::OPLOCK_BREAK, lease_ack(2, R));
    let rb = b.recv(&mut core);
    assert_eq!(rb.len(), 1);
    assert_eq!(rb[0].status(), NtStatus::SHARING_VIOLATION);
}

/// Closing a file written through its open breaks its directory's lease (the entry's time and
/// size changed), unless the writer named that lease as its parent (smbtorture
/// smb2.lease.v2_request); the WRITE itself breaks nothing.
#[test]
fn closing_a_written_file_breaks_its_directorys_lease() {
    let (mut core, now, mut a, mut b) = two_clients(dialect::SMB302);
    let r = a.call(&mut core, now, Command::CREATE, |o| {
        dir_lease_create("d", GENERIC_READ, 2, R | H, true).encode(o)
    });
    assert_eq!(granted(&r).1.map(|l| l.0), Some(R | H));
    let r = b.call(&mut core, now, Command::CREATE, |o| {
        client::create_request("d\\f", GENERIC_READ | GENERIC_WRITE, SHARE_ALL, OPEN_IF, 0)
            .encode(o)
    });
    let (fb, _) = granted(&r);
    only_break(a.recv(&mut core)); // the create itself
    a.call(&mut core, now, Command::OPLOCK_BREAK, lease_ack(2, 0));
    let r = a.call(&mut core, now, Command::CREATE, |o| {
        dir_lease_create("d", GENERIC_READ, 2, R | H, true).encode(o)
    });
    assert_eq!(granted(&r).1.map(|l| l.0), Some(R | H), "re-armed");
    let r = b.call(&mut core, now, Command::WRITE, |o| {
        WriteRequest {
            offset: 0,
            file_id: fb.file_id,
            channel: 0,
            remaining_bytes: 0,
            channel_info: Vec::new(),
            flags: 0,
            data: Bytes::from_static(b"data"),
        }
        .encode(o)
    });
    assert_eq!(r.status(), NtStatus::SUCCESS);
    assert!(a.recv(&mut core).is_empty(), "no break at the WRITE");
    let r = b.call(&mut core, now, Command::CLOSE, |o| {
        CloseRequest {
            flags: 0,
            file_id: fb.file_id,
        }
        .encode(o)
    });
    assert_eq!(r.status(), NtStatus::SUCCESS);
    let n = only_break(a.recv(&mut core));
    assert!(
        matches!(n, OplockBreak::LeaseNotification { lease_key, new_lease_state: 0, .. } if lease_key == [2; 16]),
        "{n:?}"
    );
}

/// A client flushes its cached writes and then acknowledges the break, without waiting for
/// the WRITE responses (the Linux cifs client keeping R does so): the acknowledgment is
/// processed only after those WRITEs ran, and the CREATE that waited for it reports the
/// file as they left it (its attributes are read again after the wait).
#[test]
fn an_acknowledgment_waits_for_the_writes_sent_before_it() {
    let (mut core, now, mut a, mut b) = two_clients(dialect::SMB302);
    let r = a.call(&mut core, now, Command::CREATE, |o| {
        lease_create("f", GENERIC_READ | GENERIC_WRITE, 1, R | H | W, true).encode(o)
    });
    let (fa, lease) = granted(&r);
    assert_eq!(lease.map(|l| l.0), Some(R | H | W));
    // B's read open breaks W and waits; its CREATE job saw an empty file.
    let mid = b.submit(&mut core, now, Command::CREATE, |o| {
        client::create_request("f", GENERIC_READ, SHARE_ALL, OPEN, 0).encode(o)
    });
    assert_eq!(b.recv(&mut core)[0].status(), NtStatus::PENDING);
    only_break(a.recv(&mut core));
    // A's flush and its acknowledgment arrive together; no job runs in between.
    let write = a.build(Command::WRITE, |o| {
        WriteRequest {
            offset: 0,
            file_id: fa.file_id,
            channel: 0,
            remaining_bytes: 0,
            channel_info: Vec::new(),
            flags: 0,
            data: Bytes::from_static(b"cached data"),
        }
        .encode(o)
    });
    let ack = a.build(Command::OPLOCK_BREAK, lease_ack(1, R | H));
    let mut frames = Vec::new();
    nbss::put_frame(&mut frames, &write);
    nbss::put_frame(&mut frames, &ack);
    core.handle_tcp_bytes(a.conn, &frames, now);
    assert!(
        a.recv(&mut core).is_empty(),
        "the acknowledgment is not answered before the WRITE ran"
    );
    assert!(b.recv(&mut core).is_empty(), "B still waits");
    run_jobs(&mut core, now);
    let ra = a.recv(&mut core);
    assert_eq!(
        ra.iter()
            .map(|r| (r.header.command, r.status()))
            .collect::<Vec<_>>(),
        [
            (Command::WRITE, NtStatus::SUCCESS),
            (Command::OPLOCK_BREAK, NtStatus::SUCCESS)
        ]
    );
    let rb = b.recv(&mut core);
    assert_eq!(rb.len(), 1, "{rb:?}");
    assert_eq!(
        (rb[0].status(), rb[0].header.message_id),
        (NtStatus::SUCCESS, mid)
    );
    let created = CreateResponse::decode(&rb[0].msg).unwrap();
    assert_eq!(
        created.info.end_of_file, 11,
        "B's CREATE reports the size A's flush left"
    );
}

/// Only the WRITEs in flight when the acknowledgment arrived hold it: a WRITE the client
/// sent after it (here to another file) does not, so a client that keeps writing cannot
/// starve its own acknowledgment.
#[test]
fn a_later_write_does_not_hold_an_acknowledgment() {
    let (mut core, now, mut a, mut b) = two_clients(dialect::SMB302);
    let r = a.call(&mut core, now, Command::CREATE, |o| {
        lease_create("f", GENERIC_READ | GENERIC_WRITE, 1, R | H | W, true).encode(o)
    });
    let (fa, _) = granted(&r);
    let r = a.call(&mut core, now, Command::CREATE, |o| {
        client::create_request("g", GENERIC_READ | GENERIC_WRITE, SHARE_ALL, OPEN_IF, 0).encode(o)
    });
    let (ga, _) = granted(&r);
    b.submit(&mut core, now, Command::CREATE, |o| {
        client::create_request("f", GENERIC_READ, SHARE_ALL, OPEN, 0).encode(o)
    });
    assert_eq!(b.recv(&mut core)[0].status(), NtStatus::PENDING);
    only_break(a.recv(&mut core));
    let write = |a: &mut Client, f| {
        a.build(Command::WRITE, |o| {
            WriteRequest {
                offset: 0,
                file_id: f,
                channel: 0,
                remaining_bytes: 0,
                channel_info: Vec::new(),
                flags: 0,
                data: Bytes::from_static(b"data"),
            }
            .encode(o)
        })
    };
    let (w1, ack, w2) = (
        write(&mut a, fa.file_id),
        a.build(Command::OPLOCK_BREAK, lease_ack(1, R | H)),
        write(&mut a, ga.file_id),
    );
    let mut frames = Vec::new();
    for m in [&w1, &ack, &w2] {
        nbss::put_frame(&mut frames, m);
    }
    core.handle_tcp_bytes(a.conn, &frames, now);
    // Run the first WRITE only; the second stays in flight.
    let mut done = core.poll_job().expect("the first WRITE").run();
    assert!(done.take_follow_up().is_none());
    core.handle_job_done(done, now);
    let ra = a.recv(&mut core);
    assert_eq!(
        ra.iter()
            .map(|r| (r.header.command, r.status()))
            .collect::<Vec<_>>(),
        [
            (Command::WRITE, NtStatus::SUCCESS),
            (Command::OPLOCK_BREAK, NtStatus::SUCCESS)
        ],
        "acknowledged while the later WRITE is still in flight"
    );
    run_jobs(&mut core, now);
    let ra = a.recv(&mut core);
    assert_eq!(ra.len(), 1);
    assert_eq!(ra[0].header.command, Command::WRITE);
}
