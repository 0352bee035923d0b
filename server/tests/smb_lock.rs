//! SMB2 LOCK through `server::Core` over `MemoryFs` (MS-SMB2 §3.3.5.14, MS-FSA 2.1.5.8):
//! multi-element requests all or nothing, blocking locks granted when the holder unlocks or
//! closes, and every way a waiting lock ends (CANCEL, CLOSE, TREE_DISCONNECT, LOGOFF, lost
//! connection) leaving nothing in the lock table; READ and WRITE against other opens' locks.
//! The client and harness are `support::smb`'s (proto-smb2's codecs and NTLM helpers);
//! jobs run on the test's thread, time does not move. Each test asserts the exact statuses.

use std::time::Instant;

use bytes::Bytes;
use proto_smb2::cmd::lock;
use proto_smb2::cmd::*;
use proto_smb2::{Command, HeaderId, NtStatus};
use server::Core;
use vfs::memory::MemoryFs;
use vfs::Vfs;

mod support;

use support::smb::{
    close, core, create, create_req, read, recv, run_jobs, statuses, write, Client,
};

const GENERIC_READ: u32 = 0x8000_0000;
const GENERIC_WRITE: u32 = 0x4000_0000;
const SHARE_READ: u32 = 1;
const SHARE_WRITE: u32 = 2;
const OPEN_IF: u32 = 3;

// ---- LOCK ----

const SH: u32 = 0x1;
const EX: u32 = 0x2;
const UN: u32 = 0x4;
const FI: u32 = 0x10;
const STATUS_LOCK_NOT_GRANTED: NtStatus = NtStatus(0xC000_0055);
const STATUS_RANGE_NOT_LOCKED: NtStatus = NtStatus(0xC000_007E);
const STATUS_INVALID_LOCK_RANGE: NtStatus = NtStatus(0xC000_01A1);
const STATUS_FILE_LOCK_CONFLICT: NtStatus = NtStatus(0xC000_0054);

fn lock_msg(c: &mut Client, fid: FileId, els: &[(u64, u64, u32)]) -> Vec<u8> {
    let req = LockRequest {
        lock_sequence: 0,
        file_id: fid,
        locks: els
            .iter()
            .map(|&(offset, length, flags)| lock::LockElement {
                offset,
                length,
                flags,
            })
            .collect(),
    };
    c.build(Command::LOCK, |o| req.encode(o))
}

/// A LOCK answered at once (not pending).
fn lock(
    c: &mut Client,
    core: &mut Core,
    now: Instant,
    fid: FileId,
    els: &[(u64, u64, u32)],
) -> NtStatus {
    let m = lock_msg(c, fid, els);
    c.send(core, now, &m);
    run_jobs(core, now);
    let r = recv(core, c.conn);
    assert_eq!(r.len(), 1, "one response: {:?}", statuses(&r));
    r[0].status()
}

/// A LOCK that goes async: returns its MessageId after checking the interim response.
fn lock_pending(
    c: &mut Client,
    core: &mut Core,
    now: Instant,
    fid: FileId,
    els: &[(u64, u64, u32)],
) -> u64 {
    let mid = c.next_mid;
    let m = lock_msg(c, fid, els);
    c.send(core, now, &m);
    run_jobs(core, now);
    let r = recv(core, c.conn);
    assert_eq!(statuses(&r), [NtStatus::PENDING], "an interim response");
    assert!(matches!(r[0].header.id, HeaderId::Async { .. }));
    mid
}

/// The final answers `c` got now, by MessageId.
fn finals(c: &Client, core: &mut Core) -> Vec<(u64, NtStatus)> {
    recv(core, c.conn)
        .iter()
        .map(|r| (r.header.message_id, r.status()))
        .collect()
}

fn open_rw(c: &mut Client, core: &mut Core, now: Instant, name: &str) -> FileId {
    let req = create_req(
        name,
        GENERIC_READ | GENERIC_WRITE,
        SHARE_READ | SHARE_WRITE,
        OPEN_IF,
        0,
    );
    create(c, core, now, req).unwrap().file_id
}

/// Two opens of one file with 200 bytes, on one client.
fn two_opens(core: &mut Core, now: Instant) -> (Client, FileId, FileId) {
    let mut c = Client::ready(core, 1, now, "export");
    let h1 = open_rw(&mut c, core, now, "lock.dat");
    write(&mut c, core, now, h1, 0, &[7; 200]).unwrap();
    let h2 = open_rw(&mut c, core, now, "lock.dat");
    (c, h1, h2)
}

fn table_locks(core: &Core) -> usize {
    core.lock_table().lock_count()
}

fn table_waiters(core: &Core) -> usize {
    let t = core.lock_table();
    t.files().iter().map(|f| t.view(*f).waiters.len()).sum()
}

fn cancel(c: &mut Client, core: &mut Core, now: Instant, mid: u64) {
    let m = c.cancel_msg(mid);
    c.send(core, now, &m);
    run_jobs(core, now);
}

#[test]
fn flag_combinations_and_ranges_are_checked() {
    let (mut core, _fs, now) = core();
    let (mut c, h1, _h2) = two_opens(&mut core, now);
    let bad = NtStatus::INVALID_PARAMETER;
    // MS-SMB2 §3.3.5.14.2: no mode, both modes, an unlock among locks, a blocking element
    // among several.
    assert_eq!(lock(&mut c, &mut core, now, h1, &[(0, 1, 0)]), bad);
    assert_eq!(lock(&mut c, &mut core, now, h1, &[(0, 1, SH | EX)]), bad);
    assert_eq!(
        lock(&mut c, &mut core, now, h1, &[(0, 1, EX | FI), (5, 1, UN)]),
        bad
    );
    assert_eq!(
        lock(&mut c, &mut core, now, h1, &[(0, 1, EX | FI), (5, 1, EX)]),
        bad
    );
    // §3.3.5.14.1: an unlock element must be exactly UNLOCK.
    assert_eq!(lock(&mut c, &mut core, now, h1, &[(0, 1, UN | FI)]), bad);
    assert_eq!(
        table_locks(&core),
        0,
        "nothing was locked by a refused request"
    );
    // The last byte past 2^64 - 1.
    assert_eq!(
        lock(&mut c, &mut core, now, h1, &[(u64::MAX, 2, EX | FI)]),
        STATUS_INVALID_LOCK_RANGE
    );
    assert_eq!(
        lock(&mut c, &mut core, now, h1, &[(u64::MAX, 1, EX | FI)]),
        NtStatus::SUCCESS
    );
    // Unlock: exact range only; one past 2^64 - 1 is invalid (MS-FSA 2.1.5.9).
    assert_eq!(
        lock(&mut c, &mut core, now, h1, &[(u64::MAX, 2, UN)]),
        STATUS_INVALID_LOCK_RANGE
    );
    assert_eq!(
        lock(&mut c, &mut core, now, h1, &[(u64::MAX - 1, 2, UN)]),
        STATUS_RANGE_NOT_LOCKED
    );
    assert_eq!(
        lock(&mut c, &mut core, now, h1, &[(u64::MAX, 1, UN)]),
        NtStatus::SUCCESS
    );
    // A closed or unknown handle.
    let stale = FileId {
        persistent: 999,
        volatile: 999,
    };
    assert_eq!(
        lock(&mut c, &mut core, now, stale, &[(0, 1, EX)]),
        NtStatus::FILE_CLOSED
    );
    assert_eq!(table_locks(&core), 0);
}

#[test]
fn a_multi_element_lock_is_all_or_nothing() {
    let (mut core, now) = {
        let (core, _fs, now) = core();
        (core, now)
    };
    let (mut c, h1, h2) = two_opens(&mut core, now);
    assert_eq!(
        lock(&mut c, &mut core, now, h1, &[(50, 10, EX | FI)]),
        NtStatus::SUCCESS
    );
    // The third element meets h1's lock: the first two are taken back. SMB2 says
    // LOCK_NOT_GRANTED, never FILE_LOCK_CONFLICT, however often it is retried.
    for _ in 0..3 {
        assert_eq!(
            lock(
                &mut c,
                &mut core,
                now,
                h2,
                &[(0, 10, EX | FI), (20, 10, SH | FI), (55, 1, SH | FI)]
            ),
            STATUS_LOCK_NOT_GRANTED
        );
        assert_eq!(table_locks(&core), 1, "only h1's lock is left");
    }
    // h1 can lock what h2 had locked for a moment.
    assert_eq!(
        lock(
            &mut c,
            &mut core,
            now,
            h1,
            &[(0, 10, EX | FI), (20, 10, EX | FI)]
        ),
        NtStatus::SUCCESS
    );
    // Elements of one request that conflict with each other fail it as a whole too.
    assert_eq!(
        lock(
            &mut c,
            &mut core,
            now,
            h2,
            &[(100, 10, EX | FI), (105, 1, EX | FI)]
        ),
        STATUS_LOCK_NOT_GRANTED
    );
    assert_eq!(table_locks(&core), 3);
    // A shared lock stacked on the open's own exclusive lock; rolled back with a later
    // element, it leaves the exclusive one in place.
    assert_eq!(
        lock(
            &mut c,
            &mut core,
            now,
            h1,
            &[(0, 10, SH | FI), (50, 1, SH | FI), (180, 1, EX | FI)]
        ),
        NtStatus::SUCCESS
    );
    assert_eq!(table_locks(&core), 6);
    assert_eq!(
        lock(
            &mut c,
            &mut core,
            now,
            h1,
            &[(0, 10, SH | FI), (20, 10, EX | FI)]
        ),
        STATUS_LOCK_NOT_GRANTED
    );
    assert_eq!(table_locks(&core), 6);
    // Unlock the stack: exclusive first, then shared, then nothing.
    assert_eq!(
        lock(&mut c, &mut core, now, h1, &[(0, 10, UN)]),
        NtStatus::SUCCESS
    );
    assert_eq!(
        read(&mut c, &mut core, now, h2, 0, 10),
        Ok(vec![7; 10]),
        "only the shared lock is left on 0..10"
    );
    assert_eq!(
        lock(&mut c, &mut core, now, h1, &[(0, 10, UN)]),
        NtStatus::SUCCESS
    );
    assert_eq!(
        lock(&mut c, &mut core, now, h1, &[(0, 10, UN)]),
        STATUS_RANGE_NOT_LOCKED
    );
}

#[test]
fn unlocks_stop_at_the_first_failure_and_keep_what_they_did() {
    let (mut core, _fs, now) = core();
    let (mut c, h1, _h2) = two_opens(&mut core, now);
    // §3.3.5.14.1 (smbtorture smb2.lock.multiple-unlock): first not locked -> nothing is
    // unlocked; second not locked -> the first is.
    assert_eq!(
        lock(&mut c, &mut core, now, h1, &[(10, 10, EX | FI)]),
        NtStatus::SUCCESS
    );
    assert_eq!(
        lock(&mut c, &mut core, now, h1, &[(0, 10, UN), (10, 10, UN)]),
        STATUS_RANGE_NOT_LOCKED
    );
    assert_eq!(table_locks(&core), 1);
    assert_eq!(
        lock(&mut c, &mut core, now, h1, &[(10, 10, UN), (0, 10, UN)]),
        STATUS_RANGE_NOT_LOCKED
    );
    assert_eq!(table_locks(&core), 0);
}

#[test]
fn reads_and_writes_meet_other_opens_locks() {
    let (mut core, _fs, now) = core();
    let (mut c, h1, h2) = two_opens(&mut core, now);
    // Shared lock: nobody writes, everybody reads (smbtorture smb2.lock.rw-shared).
    assert_eq!(
        lock(&mut c, &mut core, now, h1, &[(0, 100, SH)]),
        NtStatus::SUCCESS
    );
    assert_eq!(
        write(&mut c, &mut core, now, h1, 50, &[1; 10]),
        Err(STATUS_FILE_LOCK_CONFLICT)
    );
    assert_eq!(
        write(&mut c, &mut core, now, h2, 50, &[1; 10]),
        Err(STATUS_FILE_LOCK_CONFLICT)
    );
    assert_eq!(read(&mut c, &mut core, now, h2, 50, 10), Ok(vec![7; 10]));
    assert_eq!(
        lock(&mut c, &mut core, now, h1, &[(0, 100, UN)]),
        NtStatus::SUCCESS
    );
    // Exclusive lock: its open reads and writes, the other open neither (rw-exclusive).
    assert_eq!(
        lock(&mut c, &mut core, now, h1, &[(0, 100, EX)]),
        NtStatus::SUCCESS
    );
    assert_eq!(write(&mut c, &mut core, now, h1, 50, &[1; 10]), Ok(10));
    assert_eq!(read(&mut c, &mut core, now, h1, 50, 10), Ok(vec![1; 10]));
    assert_eq!(
        write(&mut c, &mut core, now, h2, 99, &[2; 2]),
        Err(STATUS_FILE_LOCK_CONFLICT)
    );
    assert_eq!(
        read(&mut c, &mut core, now, h2, 0, 1),
        Err(STATUS_FILE_LOCK_CONFLICT)
    );
    // Outside the range: no conflict.
    assert_eq!(write(&mut c, &mut core, now, h2, 100, &[2; 2]), Ok(2));
    assert_eq!(
        lock(&mut c, &mut core, now, h1, &[(0, 100, UN)]),
        NtStatus::SUCCESS
    );
    assert_eq!(read(&mut c, &mut core, now, h2, 50, 10), Ok(vec![1; 10]));
}

#[test]
fn a_blocking_lock_is_granted_when_the_holder_unlocks() {
    let (mut core, _fs, now) = core();
    let (mut c, h1, h2) = two_opens(&mut core, now);
    assert_eq!(
        lock(&mut c, &mut core, now, h1, &[(100, 50, EX)]),
        NtStatus::SUCCESS
    );
    // A fail-immediately request is refused; a blocking one waits (STATUS_PENDING).
    assert_eq!(
        lock(&mut c, &mut core, now, h2, &[(120, 10, SH | FI)]),
        STATUS_LOCK_NOT_GRANTED
    );
    let mid = lock_pending(&mut c, &mut core, now, h2, &[(120, 10, SH)]);
    assert_eq!(table_waiters(&core), 1);
    // Unlocking a range the waiting request has not got yet: RANGE_NOT_LOCKED, it waits on.
    assert_eq!(
        lock(&mut c, &mut core, now, h2, &[(120, 10, UN)]),
        STATUS_RANGE_NOT_LOCKED
    );
    // The holder unlocks: its answer and the waiter's final answer.
    let m = lock_msg(&mut c, h1, &[(100, 50, UN)]);
    let unlock_mid = c.next_mid - 1;
    c.send(&mut core, now, &m);
    run_jobs(&mut core, now);
    let got = finals(&c, &mut core);
    assert!(got.contains(&(unlock_mid, NtStatus::SUCCESS)), "{got:?}");
    assert!(
        got.contains(&(mid, NtStatus::SUCCESS)),
        "the waiter is granted: {got:?}"
    );
    assert_eq!(table_waiters(&core), 0);
    // h2 holds it now (shared): h1 cannot lock exclusively, h2 unlocks it.
    assert_eq!(
        lock(&mut c, &mut core, now, h1, &[(125, 1, EX | FI)]),
        STATUS_LOCK_NOT_GRANTED
    );
    assert_eq!(
        lock(&mut c, &mut core, now, h2, &[(120, 10, UN)]),
        NtStatus::SUCCESS
    );
    assert_eq!(table_locks(&core), 0);
}

#[test]
fn a_blocking_lock_is_granted_when_the_holder_closes() {
    let (mut core, _fs, now) = core();
    let mut a = Client::ready(&mut core, 1, now, "export");
    let mut b = Client::ready(&mut core, 2, now, "export");
    let h1 = open_rw(&mut a, &mut core, now, "f");
    let h2 = open_rw(&mut b, &mut core, now, "f");
    assert_eq!(
        lock(&mut a, &mut core, now, h1, &[(0, 10, EX)]),
        NtStatus::SUCCESS
    );
    let mid = lock_pending(&mut b, &mut core, now, h2, &[(5, 10, EX)]);
    assert_eq!(close(&mut a, &mut core, now, h1, 0).0, NtStatus::SUCCESS);
    assert_eq!(finals(&b, &mut core), [(mid, NtStatus::SUCCESS)]);
    assert_eq!(table_locks(&core), 1);
    assert_eq!(close(&mut b, &mut core, now, h2, 0).0, NtStatus::SUCCESS);
    assert_eq!(table_locks(&core), 0);
    assert!(core.lock_table().files().is_empty());
}

/// A holder on client `a`, a waiter on client `b`; returns the waiter's MessageId.
fn holder_and_waiter(core: &mut Core, now: Instant) -> (Client, Client, FileId, FileId, u64) {
    let mut a = Client::ready(core, 1, now, "export");
    let mut b = Client::ready(core, 2, now, "export");
    let h1 = open_rw(&mut a, core, now, "f");
    let h2 = open_rw(&mut b, core, now, "f");
    assert_eq!(
        lock(&mut a, core, now, h1, &[(0, 10, EX)]),
        NtStatus::SUCCESS
    );
    let mid = lock_pending(&mut b, core, now, h2, &[(0, 10, EX)]);
    assert_eq!(table_waiters(core), 1);
    (a, b, h1, h2, mid)
}

/// After the waiter ended: the holder's unlock grants nothing and leaves an empty table.
fn nothing_left(a: &mut Client, b: &Client, core: &mut Core, now: Instant, h1: FileId) {
    assert_eq!(table_waiters(core), 0);
    assert_eq!(lock(a, core, now, h1, &[(0, 10, UN)]), NtStatus::SUCCESS);
    assert_eq!(finals(b, core), [], "nothing granted to the ended waiter");
    assert_eq!(table_locks(core), 0);
}

#[test]
fn cancel_ends_a_waiting_lock_with_status_cancelled() {
    let (mut core, _fs, now) = core();
    let (mut a, mut b, h1, _h2, mid) = holder_and_waiter(&mut core, now);
    cancel(&mut b, &mut core, now, mid);
    assert_eq!(finals(&b, &mut core), [(mid, NtStatus::CANCELLED)]);
    nothing_left(&mut a, &b, &mut core, now, h1);
}

#[test]
fn close_of_the_waiting_open_ends_its_lock_with_range_not_locked() {
    // smbtorture smb2.lock.cancel ("cancel by close"): Windows and Samba answer
    // STATUS_RANGE_NOT_LOCKED.
    let (mut core, _fs, now) = core();
    let (mut a, mut b, h1, h2, mid) = holder_and_waiter(&mut core, now);
    let m = b.build(Command::CLOSE, |o| {
        CloseRequest {
            flags: 0,
            file_id: h2,
        }
        .encode(o)
    });
    let close_mid = b.next_mid - 1;
    b.send(&mut core, now, &m);
    run_jobs(&mut core, now);
    let got = finals(&b, &mut core);
    assert!(got.contains(&(close_mid, NtStatus::SUCCESS)), "{got:?}");
    assert!(got.contains(&(mid, STATUS_RANGE_NOT_LOCKED)), "{got:?}");
    nothing_left(&mut a, &b, &mut core, now, h1);
}

#[test]
fn tree_disconnect_ends_a_waiting_lock_with_range_not_locked() {
    let (mut core, _fs, now) = core();
    let (mut a, mut b, h1, _h2, mid) = holder_and_waiter(&mut core, now);
    let m = b.build(Command::TREE_DISCONNECT, |o| {
        TreeDisconnectRequest.encode(o)
    });
    b.send(&mut core, now, &m);
    run_jobs(&mut core, now);
    let got = finals(&b, &mut core);
    assert!(got.contains(&(mid, STATUS_RANGE_NOT_LOCKED)), "{got:?}");
    nothing_left(&mut a, &b, &mut core, now, h1);
}

#[test]
fn logoff_ends_a_waiting_lock_with_range_not_locked() {
    let (mut core, _fs, now) = core();
    let (mut a, mut b, h1, _h2, mid) = holder_and_waiter(&mut core, now);
    let m = b.build(Command::LOGOFF, |o| LogoffRequest.encode(o));
    b.send(&mut core, now, &m);
    run_jobs(&mut core, now);
    let got = finals(&b, &mut core);
    assert!(got.contains(&(mid, STATUS_RANGE_NOT_LOCKED)), "{got:?}");
    nothing_left(&mut a, &b, &mut core, now, h1);
}

#[test]
fn a_lost_connection_leaves_no_waiter_and_no_lock() {
    let (mut core, _fs, now) = core();
    let (mut a, b, h1, _h2, _mid) = holder_and_waiter(&mut core, now);
    core.handle_conn_closed(b.conn, now);
    run_jobs(&mut core, now);
    nothing_left(&mut a, &b, &mut core, now, h1);
    assert_eq!(core.smb_open_count(), 1, "only the holder's open");
    // The waiter's completion (its open closed under it) is not left in the core's queue.
    assert_eq!(core.poll_lock_event(), None);
}

#[test]
fn waiters_are_granted_one_after_the_other() {
    // Two exclusive waiters on one range: the unlock grants the first; its unlock the
    // second.
    let (mut core, _fs, now) = core();
    let (mut a, mut b, h1, h2, mid) = holder_and_waiter(&mut core, now);
    let mut c = Client::ready(&mut core, 3, now, "export");
    let h3 = open_rw(&mut c, &mut core, now, "f");
    let mid3 = lock_pending(&mut c, &mut core, now, h3, &[(0, 10, EX)]);
    assert_eq!(table_waiters(&core), 2);
    assert_eq!(
        lock(&mut a, &mut core, now, h1, &[(0, 10, UN)]),
        NtStatus::SUCCESS
    );
    assert_eq!(finals(&b, &mut core), [(mid, NtStatus::SUCCESS)]);
    assert_eq!(finals(&c, &mut core), []);
    assert_eq!(
        lock(&mut b, &mut core, now, h2, &[(0, 10, UN)]),
        NtStatus::SUCCESS
    );
    assert_eq!(finals(&c, &mut core), [(mid3, NtStatus::SUCCESS)]);
    assert_eq!(table_waiters(&core), 0);
    assert_eq!(table_locks(&core), 1);
}

/// An NFS WRITE of `name` whose job is emitted but not run: it holds the file's slot at the
/// lock table's in-flight gate, so an SMB LOCK of the file parks behind it.
fn nfs_write_in_flight(core: &mut Core, fs: &MemoryFs, now: Instant, name: &[u8]) -> server::Job {
    use proto_nfs::nfs3::{FileHandle, Nfs3Call, StableHow, WriteArgs};
    let (h, _) = fs.lookup(&fs.root(), name).unwrap();
    let call = Nfs3Call::Write(WriteArgs {
        file: FileHandle::new(1, &h.0).unwrap(),
        offset: 300,
        stable: StableHow::FileSync,
        data: Bytes::from_static(b"nfs"),
    });
    support::send_nfs(core, 9, &call, now);
    core.poll_job().expect("the NFS WRITE's job")
}

#[test]
fn a_lock_parked_behind_an_nfs_job_is_cancelled_when_it_comes_back() {
    let (mut core, fs, now) = core();
    let (mut c, h1, _h2) = two_opens(&mut core, now);
    let job = nfs_write_in_flight(&mut core, &fs, now, b"lock.dat");
    // Parked at the gate: no answer, not even an interim one.
    let mid = c.next_mid;
    let m = lock_msg(&mut c, h1, &[(0, 10, EX | FI), (20, 10, SH | FI)]);
    c.send(&mut core, now, &m);
    assert_eq!(finals(&c, &mut core), []);
    cancel(&mut c, &mut core, now, mid);
    assert_eq!(
        finals(&c, &mut core),
        [],
        "answered when the table has run it"
    );
    // The NFS job comes back: the lock runs, is granted, taken back and answered CANCELLED.
    support::run(&mut core, job, now);
    run_jobs(&mut core, now);
    assert_eq!(finals(&c, &mut core), [(mid, NtStatus::CANCELLED)]);
    assert_eq!(table_locks(&core), 0);
    assert_eq!(table_waiters(&core), 0);
}

#[test]
fn a_lock_parked_when_its_tree_ends_leaves_nothing() {
    let (mut core, fs, now) = core();
    let (mut c, h1, _h2) = two_opens(&mut core, now);
    let job = nfs_write_in_flight(&mut core, &fs, now, b"lock.dat");
    let mid = c.next_mid;
    let m = lock_msg(&mut c, h1, &[(0, 10, EX)]);
    c.send(&mut core, now, &m);
    let m = c.build(Command::TREE_DISCONNECT, |o| {
        TreeDisconnectRequest.encode(o)
    });
    c.send(&mut core, now, &m);
    support::run(&mut core, job, now);
    run_jobs(&mut core, now);
    let got = finals(&c, &mut core);
    assert!(got.contains(&(mid, STATUS_RANGE_NOT_LOCKED)), "{got:?}");
    assert_eq!(table_locks(&core), 0);
    assert_eq!(core.smb_open_count(), 0);
}
