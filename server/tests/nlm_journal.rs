//! The journal record policy (`server::nlm_journal`): releases wait, re-taken locks reuse
//! their journalled grant, and what a restart would read always rebuilds at least what is
//! held (exactly that once the waiting releases are appended).

mod support;

use std::time::Instant;

use lockstate::{
    ClientGuid, Config, FileId, HolderKind, LockRange, LockTable, NlmLockArgs, NlmOwner, OpenId,
    Record, SmbCreate, SmbLockArgs,
};
use server::nlm_journal::{Appends, RecordSink, MAX_LAZY, RELEASE_FLUSH};
/// A table, a sink and the journal a restart would read (every record appended).
struct Rig {
    journal: Appends,
    disk: Vec<Vec<u8>>,
    table: LockTable,
    sink: RecordSink,
    now: Instant,
}

impl Rig {
    fn new(_tag: &str) -> Rig {
        Rig {
            journal: Appends::default(),
            disk: Vec::new(),
            table: LockTable::new(Config::default()),
            sink: RecordSink::new(),
            now: support::start_of_time(),
        }
    }

    fn pump(&mut self) {
        while let Some(r) = self.table.poll_record() {
            self.sink.lock(self.now, &mut self.journal, r);
        }
    }

    fn lock(&mut self, svid: i32, first: u64, last: u64, exclusive: bool) {
        let owner = NlmOwner::new(&b"client"[..], svid, format!("oh{svid}").into_bytes());
        let out = self.table.nlm_lock(
            NlmLockArgs {
                file: FileId(7),
                owner,
                range: LockRange { first, last },
                exclusive,
                block: false,
                reclaim: false,
            },
            self.now,
        );
        assert!(out.is_success(), "{out:?}");
        self.pump();
    }

    fn unlock(&mut self, svid: i32, first: u64, last: u64) {
        let owner = NlmOwner::new(&b"client"[..], svid, format!("oh{svid}").into_bytes());
        let out = self
            .table
            .nlm_unlock(FileId(7), &owner, LockRange { first, last }, self.now);
        assert!(out.is_success(), "{out:?}");
        self.pump();
    }

    /// Whether records wait to be written.
    fn needs_commit(&self) -> bool {
        !self.journal.is_empty()
    }

    /// "Commits" what was appended, then rebuilds a table from what a restart would read.
    fn restored(&mut self) -> LockTable {
        while let Some((_, r)) = self.journal.pop() {
            self.disk.push(r);
        }
        let records = self
            .disk
            .iter()
            .map(|b| Record::from_bytes(&b[1..]).unwrap())
            .collect::<Vec<_>>();
        LockTable::restore(Config::default(), records).unwrap()
    }
}

fn locks(t: &LockTable) -> Vec<(i32, u64, u64, bool)> {
    let mut v: Vec<_> = t
        .view(FileId(7))
        .locks
        .iter()
        .map(|l| match &l.holder.who {
            HolderKind::Nlm(o) => (
                o.svid,
                l.holder.span.first,
                l.holder.span.last,
                l.holder.exclusive,
            ),
            other => panic!("not an NLM lock: {other:?}"),
        })
        .collect();
    v.sort();
    v
}

#[test]
fn lock_unlock_cycle_appends_once_and_restores_exactly() {
    let mut rig = Rig::new("lock_unlock_");
    rig.lock(1, 0, 9, true);
    assert_eq!(rig.sink.stats().appended, 1);
    rig.restored();
    for _ in 0..100 {
        rig.unlock(1, 0, 9);
        rig.lock(1, 0, 9, true);
    }
    assert_eq!(
        rig.sink.stats().appended,
        1,
        "no record for a re-taken grant"
    );
    assert_eq!(rig.sink.stats().reused, 100);
    assert!(!rig.needs_commit(), "nothing to fsync");
    // What a crash now would rebuild: the lock, held.
    let t = rig.restored();
    assert_eq!(locks(&t), vec![(1, 0, 9, true)]);
    // The last release names the journalled id, so it replays without dangling.
    rig.unlock(1, 0, 9);
    rig.sink.flush(&mut rig.journal);
    assert!(locks(&rig.restored()).is_empty());
}

#[test]
fn a_different_grant_is_journalled_and_flushes_waiting_releases_first() {
    let mut rig = Rig::new("a_different_");
    rig.lock(1, 0, 9, true);
    rig.unlock(1, 0, 9);
    // Shared instead of exclusive: not the journalled grant.
    rig.lock(1, 0, 9, false);
    assert_eq!(rig.sink.stats().reused, 0);
    assert_eq!(
        rig.sink.stats().appended,
        3,
        "grant, release, then the new grant"
    );
    assert_eq!(locks(&rig.restored()), vec![(1, 0, 9, false)]);
    // Another owner's identical range is not ours to reuse either.
    rig.unlock(1, 0, 9);
    rig.lock(2, 0, 9, false);
    assert_eq!(rig.sink.stats().reused, 0);
    assert_eq!(locks(&rig.restored()), vec![(2, 0, 9, false)]);
}

#[test]
fn interleaved_owners_all_reuse_their_grants() {
    let mut rig = Rig::new("interleaved");
    for svid in 1..=16 {
        rig.lock(svid, svid as u64 * 100, svid as u64 * 100 + 9, true);
    }
    let first = rig.sink.stats().appended;
    for round in 0..50 {
        for svid in 1..=16 {
            rig.unlock(svid, svid as u64 * 100, svid as u64 * 100 + 9);
            // A newcomer on another file or range does not force the releases out.
            if round == 10 && svid == 5 {
                rig.lock(99, 5000, 5009, true);
            }
        }
        for svid in 1..=16 {
            rig.lock(svid, svid as u64 * 100, svid as u64 * 100 + 9, true);
        }
    }
    assert_eq!(
        rig.sink.stats().appended,
        first + 1,
        "{:?}",
        rig.sink.stats()
    );
    rig.unlock(3, 300, 309);
    // A conflicting newcomer must come after the release it overtakes in the table.
    rig.lock(42, 305, 305, true);
    let crashed = locks(&rig.restored());
    assert!(crashed.contains(&(42, 305, 305, true)), "{crashed:?}");
    assert!(!crashed.contains(&(3, 300, 309, true)), "{crashed:?}");
    rig.sink.flush(&mut rig.journal);
    assert_eq!(locks(&rig.restored()), locks(&rig.table));
}

#[test]
fn a_crash_while_a_release_waits_looks_held_which_is_the_safe_side() {
    let mut rig = Rig::new("a_crash_whil");
    rig.lock(1, 0, 9, true);
    rig.lock(1, 20, 29, true);
    rig.unlock(1, 0, 9);
    assert!(rig.sink.deadline().is_some());
    assert_eq!(
        locks(&rig.restored()),
        vec![(1, 0, 9, true), (1, 20, 29, true)]
    );
    let later = rig.now + RELEASE_FLUSH;
    rig.sink.handle_timeout(later, &mut rig.journal);
    assert!(rig.sink.deadline().is_none());
    assert_eq!(locks(&rig.restored()), vec![(1, 20, 29, true)]);
}

#[test]
fn posix_split_and_merge_replay_exactly_with_reuse() {
    let mut rig = Rig::new("posix_split_");
    for _ in 0..3 {
        rig.lock(1, 0, 99, true);
        // Split: the middle goes, two pieces stay.
        rig.unlock(1, 40, 59);
        rig.lock(1, 200, 209, false);
        // Merge back.
        rig.lock(1, 40, 59, true);
        rig.unlock(1, 200, 209);
        // A crash now rebuilds at least what is held (releases may still wait)...
        let want = locks(&rig.table);
        let crashed = locks(&rig.restored());
        assert!(
            want.iter().all(|l| crashed.contains(l)),
            "{want:?} {crashed:?}"
        );
        // ...and exactly that once they are appended.
        rig.sink.flush(&mut rig.journal);
        assert_eq!(locks(&rig.restored()), want);
        rig.unlock(1, 0, 99);
    }
    rig.sink.flush(&mut rig.journal);
    assert!(locks(&rig.restored()).is_empty());
    assert!(rig.sink.stats().reused > 0, "{:?}", rig.sink.stats());
}

#[test]
fn the_waiting_buffer_is_bounded() {
    let mut rig = Rig::new("the_waiting_");
    for i in 0..(MAX_LAZY as u64 + 10) {
        rig.lock(1, i * 10, i * 10 + 1, true);
    }
    for i in 0..(MAX_LAZY as u64 + 10) {
        rig.unlock(1, i * 10, i * 10 + 1);
    }
    assert!(rig.sink.waiting() < MAX_LAZY);
    rig.sink.flush(&mut rig.journal);
    assert!(locks(&rig.restored()).is_empty());
}

/// The SMB opens of a restored table on file 7: (open, durable), sorted.
fn opens(t: &LockTable) -> Vec<(u64, bool)> {
    let mut v: Vec<_> = t
        .view(FileId(7))
        .opens
        .iter()
        .map(|o| (o.open.0, o.durable))
        .collect();
    v.sort();
    v
}

/// SMB byte-range locks of a restored table on file 7: (first, last).
fn smb_locks(t: &LockTable) -> Vec<(u64, u64)> {
    let mut v: Vec<_> = t
        .view(FileId(7))
        .locks
        .iter()
        .map(|l| (l.holder.span.first, l.holder.span.last))
        .collect();
    v.sort();
    v
}

impl Rig {
    fn smb_open(&mut self, open: u64, durable: bool) {
        let mut req = SmbCreate::new(FileId(7), OpenId(open), ClientGuid([1; 16]), 0x3, 0x7);
        req.durable = durable;
        let out = self.table.smb_create(req, self.now);
        assert!(out.is_success(), "{out:?}");
        self.pump();
    }

    fn smb_lock(&mut self, open: u64, offset: u64) {
        let out = self.table.smb_lock(
            SmbLockArgs {
                open: OpenId(open),
                offset,
                length: 10,
                exclusive: true,
                fail_immediately: true,
            },
            self.now,
        );
        assert!(out.is_success(), "{out:?}");
        self.pump();
    }

    fn smb_close(&mut self, open: u64) {
        let out = self.table.smb_close(OpenId(open), self.now);
        assert!(out.is_success(), "{out:?}");
        self.pump();
    }
}

#[test]
fn non_durable_smb_opens_and_their_locks_cost_no_journal_record() {
    let mut rig = Rig::new("non_durable_");
    for i in 1..=100 {
        rig.smb_open(i, false);
        rig.smb_lock(i, 0);
        let out = rig.table.smb_unlock(OpenId(i), 0, 10, rig.now);
        assert!(out.is_success(), "{out:?}");
        rig.pump();
        rig.smb_lock(i, 20);
        rig.smb_close(i);
    }
    rig.sink.flush(&mut rig.journal);
    assert_eq!(rig.sink.stats().appended, 0, "nothing to fsync");
    assert!(!rig.needs_commit());
    assert!(opens(&rig.restored()).is_empty());
}

#[test]
fn durable_smb_opens_are_journalled_beside_non_durable_ones() {
    let mut rig = Rig::new("durable_");
    rig.smb_open(1, false);
    rig.smb_open(2, true);
    rig.smb_lock(1, 0);
    rig.smb_lock(2, 100);
    rig.smb_open(3, false);
    // A crash now rebuilds the durable open and its lock, and nothing of the others (which
    // the table's grace would drop anyway).
    rig.sink.flush(&mut rig.journal);
    let t = rig.restored();
    assert_eq!(opens(&t), vec![(2, true)]);
    assert_eq!(smb_locks(&t), vec![(100, 109)]);
    rig.smb_close(1);
    rig.smb_close(3);
    rig.smb_open(4, false);
    rig.smb_lock(4, 200);
    // The durable open's close replays: a restore meets no close or release it never saw.
    rig.smb_close(2);
    rig.sink.flush(&mut rig.journal);
    let t = rig.restored();
    assert!(opens(&t).is_empty());
    assert!(smb_locks(&t).is_empty());
    rig.smb_close(4);
    rig.sink.flush(&mut rig.journal);
    assert!(opens(&rig.restored()).is_empty());
}
