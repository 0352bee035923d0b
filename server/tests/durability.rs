//! The durability barrier (crate documentation of `server`): a reply that depends on a
//! journal record leaves only after the runtime reported that record durable; when the
//! journal fails, such replies are never sent, the core stops granting (NLM/NSM calls get
//! SYSTEM_ERR) and NFS, which depends on no record, goes on. The journal here "fails on
//! demand": the test decides what the runtime reports.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use proto_nfs::nfs3::{FileHandle, GetattrArgs, Nfs3Call};
use proto_nfs::rpc::AcceptStat;
use server::{Core, Listener, RecordSeq};
use support::*;
use vfs::memory::{MemoryFs, MemoryFsConfig};
use vfs::Vfs;

fn xdr_opaque(data: &[u8]) -> Vec<u8> {
    let mut v = (data.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(data);
    v.resize(4 + data.len().div_ceil(4) * 4, 0);
    v
}

/// NLM4 LOCK arguments: cookie, block, exclusive, the lock (caller, fh, owner handle, svid,
/// offset, length), reclaim, state.
fn lock_args(fh: &[u8], svid: u32, offset: u64) -> Bytes {
    lock_args_blocking(fh, svid, offset, false, b"test")
}

fn lock_args_blocking(fh: &[u8], svid: u32, offset: u64, block: bool, caller: &[u8]) -> Bytes {
    let mut a = xdr_opaque(b"c1");
    a.extend(u32::from(block).to_be_bytes());
    a.extend(1u32.to_be_bytes());
    a.extend(xdr_opaque(caller));
    a.extend(xdr_opaque(fh));
    a.extend(xdr_opaque(format!("oh{svid}").as_bytes()));
    a.extend(svid.to_be_bytes());
    a.extend(offset.to_be_bytes());
    a.extend(10u64.to_be_bytes());
    a.extend(0u32.to_be_bytes());
    a.extend(0u32.to_be_bytes());
    Bytes::from(a)
}

struct Rig {
    core: Core,
    fs: Arc<MemoryFs>,
    root: FileHandle,
    now: Instant,
}

impl Rig {
    fn new(journal: Vec<Vec<u8>>) -> Rig {
        let fs = Arc::new(MemoryFs::new(
            MemoryFsConfig::default(),
            vfs::memory::system_clock(),
        ));
        let now = support::start_of_time();
        let core = core_over(Arc::clone(&fs) as Arc<dyn Vfs>, journal, now);
        let root = FileHandle::new(SHARE, &fs.root().0).unwrap();
        Rig {
            core,
            fs,
            root,
            now,
        }
    }

    fn lock(&mut self, xid: u32, svid: u32, offset: u64) {
        let msg = call(xid, 100_021, 4, 2, lock_args(&self.root.0, svid, offset));
        self.core
            .handle_datagram(Listener::Nfs, peer(), &msg, self.now);
    }

    /// The records the core handed out since the last call.
    fn appended(&mut self) -> Vec<(RecordSeq, Vec<u8>)> {
        std::iter::from_fn(|| self.core.poll_journal_append()).collect()
    }
}

/// `nlm4_res`: cookie, then the status.
fn nlm_stat(r: &Reply) -> u32 {
    let AcceptStat::Success(b) = &r.stat else {
        panic!("{r:?}")
    };
    let cookie_len = u32::from_be_bytes(b[..4].try_into().unwrap()) as usize;
    let at = 4 + cookie_len.div_ceil(4) * 4;
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

#[test]
fn a_granted_reply_waits_for_its_record_to_be_durable() {
    let mut rig = Rig::new(vec![]);
    rig.lock(1, 1, 0);
    let records = rig.appended();
    assert!(!records.is_empty(), "the grant is journalled");
    assert!(
        replies(&mut rig.core).is_empty(),
        "no GRANTED before its record is durable"
    );
    // Durable up to an earlier record only: still held.
    let (last, _) = *records.last().unwrap();
    rig.core
        .handle_journal_durable(RecordSeq(last.0 - 1), rig.now);
    assert!(replies(&mut rig.core).is_empty());
    rig.core.handle_journal_durable(last, rig.now);
    let r = replies(&mut rig.core);
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].xid, nlm_stat(&r[0])), (1, 0), "NLM4_GRANTED");

    // What was journalled restores the lock: a restart finds it and opens the grace period
    // for its owner to reclaim it.
    let journal: Vec<Vec<u8>> = records.into_iter().map(|(_, r)| r).collect();
    let core = core_over(
        Arc::clone(&rig.fs) as Arc<dyn Vfs>,
        journal,
        rig.now + Duration::from_secs(1),
    );
    assert!(core.start_report().lock_records >= 1);
    assert!(
        core.in_grace(),
        "a held lock to reclaim keeps the grace period open"
    );
}

#[test]
fn after_a_journal_failure_held_replies_never_leave_and_granting_stops() {
    let mut rig = Rig::new(vec![]);
    rig.lock(1, 1, 0);
    assert!(!rig.appended().is_empty());
    // The runtime could not write or sync the record.
    rig.core.handle_journal_failed(rig.now);
    assert!(rig.core.journal_failed());
    assert!(replies(&mut rig.core).is_empty());
    // A late "durable" report changes nothing: the failure is final.
    rig.core
        .handle_journal_durable(RecordSeq(u64::MAX), rig.now);
    assert!(
        replies(&mut rig.core).is_empty(),
        "a withheld GRANTED leaked"
    );

    // NLM calls are refused from now on: SYSTEM_ERR, which claims nothing.
    rig.lock(2, 2, 100);
    let r = replies(&mut rig.core);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].xid, 2);
    assert!(
        matches!(r[0].stat, AcceptStat::SystemErr),
        "{:?}",
        r[0].stat
    );

    // NFS goes on: a GETATTR of the root is answered.
    let root = rig.root.clone();
    send_nfs(
        &mut rig.core,
        3,
        &Nfs3Call::Getattr(GetattrArgs { object: root }),
        rig.now,
    );
    run_all(&mut rig.core, rig.now);
    let r = replies(&mut rig.core);
    assert_eq!(r.len(), 1);
    assert!(matches!(r[0].stat, AcceptStat::Success(_)));
}

#[test]
fn nfs_replies_do_not_wait_for_records() {
    let mut rig = Rig::new(vec![]);
    rig.lock(1, 1, 0);
    assert!(!rig.appended().is_empty());
    let root = rig.root.clone();
    send_nfs(
        &mut rig.core,
        2,
        &Nfs3Call::Getattr(GetattrArgs { object: root }),
        rig.now,
    );
    run_all(&mut rig.core, rig.now);
    let r = replies(&mut rig.core);
    assert_eq!(r.iter().map(|r| r.xid).collect::<Vec<_>>(), vec![2]);
}

/// NLM4 UNLOCK arguments: cookie, the lock.
fn unlock_args(fh: &[u8], svid: u32, offset: u64) -> Bytes {
    let mut a = xdr_opaque(b"c2");
    a.extend(xdr_opaque(b"test"));
    a.extend(xdr_opaque(fh));
    a.extend(xdr_opaque(format!("oh{svid}").as_bytes()));
    a.extend(svid.to_be_bytes());
    a.extend(offset.to_be_bytes());
    a.extend(10u64.to_be_bytes());
    Bytes::from(a)
}

#[test]
fn a_granted_callback_waits_for_the_grant_record() {
    let mut rig = Rig::new(vec![]);
    let durable = |rig: &mut Rig| {
        if let Some((last, _)) = rig.appended().pop() {
            rig.core.handle_journal_durable(last, rig.now);
        }
    };
    rig.lock(1, 1, 0);
    durable(&mut rig);
    assert_eq!(nlm_stat(&replies(&mut rig.core)[0]), 0, "GRANTED");
    // Another host blocks on the same range: NLM4_BLOCKED (3).
    let other = std::net::SocketAddr::from(([127, 0, 0, 9], 700));
    let msg = call(
        2,
        100_021,
        4,
        2,
        lock_args_blocking(&rig.root.0, 7, 0, true, b"other"),
    );
    rig.core
        .handle_datagram(Listener::Nfs, other, &msg, rig.now);
    durable(&mut rig);
    let r = replies(&mut rig.core);
    assert_eq!(nlm_stat(&r[0]), 3, "BLOCKED");
    // The holder unlocks: the waiter is granted in the table, and the callback that tells
    // it so (through its portmapper first) waits for the grant's record.
    let msg = call(3, 100_021, 4, 4, unlock_args(&rig.root.0, 1, 0));
    rig.core
        .handle_datagram(Listener::Nfs, peer(), &msg, rig.now);
    let appended = rig.appended();
    assert!(!appended.is_empty(), "the waiter's grant is journalled");
    assert!(
        rig.core.poll_callback().is_none(),
        "no callback before the grant is durable"
    );
    let (last, _) = *appended.last().unwrap();
    rig.core.handle_journal_durable(last, rig.now);
    let cmds: Vec<_> = std::iter::from_fn(|| rig.core.poll_callback()).collect();
    assert!(
        matches!(cmds.first(), Some(server::CallbackCommand::Connect { addr, .. }) if addr.ip() == other.ip()),
        "{cmds:?}"
    );
    assert!(cmds
        .iter()
        .any(|c| matches!(c, server::CallbackCommand::Send { .. })));
}

/// Regression (sim seeds 43, 50): NLM LOCK/UNLOCK/... go through the duplicate-request
/// cache. A delayed duplicate of an UNLOCK that arrives after the client locked the range
/// again is answered with the cached reply, not executed: the new lock stays held and
/// nothing is journalled.
#[test]
fn a_delayed_duplicate_unlock_is_answered_from_the_cache_not_run_again() {
    let mut rig = Rig::new(vec![]);
    let durable = |rig: &mut Rig| {
        if let Some((last, _)) = rig.appended().pop() {
            rig.core.handle_journal_durable(last, rig.now);
        }
    };
    rig.lock(1, 1, 0);
    durable(&mut rig);
    assert_eq!(nlm_stat(&replies(&mut rig.core)[0]), 0, "GRANTED");
    let unlock = call(2, 100_021, 4, 4, unlock_args(&rig.root.0, 1, 0));
    rig.core
        .handle_datagram(Listener::Nfs, peer(), &unlock, rig.now);
    let first = replies(&mut rig.core);
    assert_eq!((first[0].xid, nlm_stat(&first[0])), (2, 0));
    rig.now += Duration::from_secs(2);
    rig.core.handle_timeout(rig.now); // the release record is appended
    durable(&mut rig);
    rig.lock(3, 1, 0);
    durable(&mut rig);
    assert_eq!(nlm_stat(&replies(&mut rig.core)[0]), 0, "GRANTED again");
    // The first UNLOCK's datagram, delayed in the network, arrives now.
    rig.core
        .handle_datagram(Listener::Nfs, peer(), &unlock, rig.now);
    let again = replies(&mut rig.core);
    assert_eq!(again.len(), 1);
    assert_eq!(
        (again[0].xid, nlm_stat(&again[0])),
        (2, 0),
        "the cached reply"
    );
    rig.now += Duration::from_secs(2);
    rig.core.handle_timeout(rig.now);
    assert!(rig.appended().is_empty(), "nothing released");
    // Another host's lock of the range is still refused: NLM4_DENIED (1).
    let other = std::net::SocketAddr::from(([127, 0, 0, 9], 700));
    let msg = call(
        4,
        100_021,
        4,
        2,
        lock_args_blocking(&rig.root.0, 7, 0, false, b"other"),
    );
    rig.core
        .handle_datagram(Listener::Nfs, other, &msg, rig.now);
    durable(&mut rig); // its host's monitor record
    assert_eq!(nlm_stat(&replies(&mut rig.core)[0]), 1, "DENIED");
}

/// A reply the duplicate-request cache sends again for a retransmitted NLM call waits
/// behind the durability barrier like its original: it must not tell the client of a lock
/// a crash could still lose. After a journal failure it is never sent.
#[test]
fn a_cached_nlm_reply_waits_for_the_records_of_its_original() {
    let mut rig = Rig::new(vec![]);
    rig.lock(1, 1, 0);
    let records = rig.appended();
    assert!(!records.is_empty());
    rig.lock(1, 1, 0); // the client's retransmission
    assert!(
        replies(&mut rig.core).is_empty(),
        "a replayed GRANTED left before its record was durable"
    );
    assert!(rig.appended().is_empty(), "the LOCK ran only once");
    let (last, _) = *records.last().unwrap();
    rig.core.handle_journal_durable(last, rig.now);
    let r = replies(&mut rig.core);
    assert_eq!(r.len(), 2, "the original and the replay");
    assert!(r.iter().all(|r| r.xid == 1 && nlm_stat(r) == 0));

    let mut rig = Rig::new(vec![]);
    rig.lock(1, 1, 0);
    assert!(!rig.appended().is_empty());
    rig.core.handle_journal_failed(rig.now);
    rig.lock(1, 1, 0);
    rig.core
        .handle_journal_durable(RecordSeq(u64::MAX), rig.now);
    assert!(
        replies(&mut rig.core).is_empty(),
        "a withheld GRANTED leaked through the cache"
    );
}

/// Found by the simulation (seed 381): after a journal failure the core hands out no more
/// records. The client's reclaims were refused for the failure (SYSTEM_ERR), the end of
/// grace then dropped its lock, and that release could reach the disk in part: the next
/// boot would have given the lock away while the client still held it.
#[test]
fn after_a_journal_failure_no_record_is_handed_out() {
    let mut rig = Rig::new(vec![]);
    rig.lock(1, 1, 0);
    let journal: Vec<Vec<u8>> = rig.appended().into_iter().map(|(_, r)| r).collect();
    let now = rig.now + Duration::from_secs(1);
    let mut core = core_over(Arc::clone(&rig.fs) as Arc<dyn Vfs>, journal, now);
    assert!(core.in_grace());
    while core.poll_journal_append().is_some() {}
    core.handle_journal_failed(now);
    // The owner never reclaims (its reclaims would be refused); grace ends.
    let later = now + Duration::from_secs(120);
    core.handle_timeout(later);
    assert!(!core.in_grace());
    core.handle_timeout(later + Duration::from_secs(2)); // the release would be flushed
    assert!(
        core.poll_journal_append().is_none(),
        "a release appended after the failure"
    );
}
