//! How NLM lock-table and monitor records reach the journal ([`RecordSink`]).
//!
//! Two rules keep the common lock/unlock cycle off the disk without weakening what a reply
//! promises (the module documentation of [`crate::nlm`] says what is durable when):
//!
//! 1. **Releases wait.** `LockReleased` and `NlmShareReleased` records wait in memory, in
//!    order, at most [`RELEASE_FLUSH`], [`MAX_LAZY`] of them, or until shutdown, or until a
//!    record they must precede is appended: any record other than an NLM grant, or a grant
//!    on the same file whose range meets the released one. No reply depends on a release
//!    being durable: a crash in that window leaves a released lock looking held after the
//!    restart, where it is unreclaimed state that gates conflicting newcomers until the
//!    grace period drops it (docs/cross-protocol.md §5) — the conservative direction. A grant that meets a
//!    waiting release is appended after it, so a restart never finds a lock held twice.
//!    Releases that overtake nothing they touch may land after unrelated grants, so the
//!    sink numbers the lock records it appends itself (the table's sequence, raised where
//!    needed to keep the journal strictly increasing, which restore checks).
//! 2. **A re-taken lock reuses its journalled grant.** When the table grants an NLM lock
//!    equal (file, owner, range, mode) to one whose release is still waiting, the waiting
//!    release is dropped instead of appending a new grant: the journal already holds that
//!    grant, so what a restart would rebuild is the same lock. The new table lock id is
//!    remembered as an alias of the journalled one, so its eventual release names the id
//!    the journal knows. An application that locks and unlocks the same range in a loop
//!    (the usual fcntl pattern) then costs no journal write and no `fdatasync` after the
//!    first grant.
//!
//! Grants whose journalled record is still only buffered are covered too: the event loop
//! commits everything buffered before the pass's replies, so a reply that relies on a
//! reused grant never overtakes it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lockstate::{Change, FileId, LockId, LockRange, NlmOwner, Record};
use proto_nfs::xdr::XdrEncode;
use proto_nlm::service::NsmRecord;

use crate::journal::Journal;

/// Journal tag of a `lockstate::Record`.
pub const TAG_LOCK: u8 = 1;
/// Journal tag of an `NsmRecord`.
pub const TAG_NSM: u8 = 2;
/// Longest time a release record waits in memory before it is journalled.
pub const RELEASE_FLUSH: Duration = Duration::from_secs(1);
/// Most release records that wait in memory at once (bounds the buffer under a storm of
/// unlocks; reaching it appends them all).
pub const MAX_LAZY: usize = 4096;

/// What a journalled NLM grant grants: two grants with the same key rebuild the same lock.
#[derive(Debug, Clone, PartialEq, Eq)]
struct GrantKey {
    file: FileId,
    owner: Arc<NlmOwner>,
    range: LockRange,
    exclusive: bool,
}

/// A release record waiting to be appended.
#[derive(Debug)]
struct Lazy {
    record: Record,
    file: FileId,
    /// The journalled grant it releases, when it is an NLM lock whose grant we know.
    grant: Option<(LockId, GrantKey)>,
}

impl Lazy {
    /// Whether a grant of `range` on `file` must not be journalled before this release.
    fn meets(&self, file: FileId, range: LockRange) -> bool {
        self.file == file
            && self
                .grant
                .as_ref()
                .is_none_or(|(_, k)| k.range.first <= range.last && range.first <= k.range.last)
    }
}

/// Counters for tests and logs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SinkStats {
    /// Records appended to the journal.
    pub appended: u64,
    /// Grants that reused a journalled grant instead of appending.
    pub reused: u64,
}

/// Appends NLM records to the journal by the rules of the module documentation.
#[derive(Debug, Default)]
pub struct RecordSink {
    lazy: Vec<Lazy>,
    lazy_until: Option<Instant>,
    /// Live NLM grants whose record is in the journal: journal lock id → key.
    granted: HashMap<LockId, GrantKey>,
    /// Table lock id → the journalled lock id it reuses (only when they differ).
    alias: HashMap<LockId, LockId>,
    /// Sequence number of the last lock record appended.
    last_seq: u64,
    stats: SinkStats,
}

fn tagged(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(body.len() + 1);
    v.push(tag);
    v.extend_from_slice(body);
    v
}

impl RecordSink {
    /// An empty sink (after a restart the table's ids are the journal's: no aliases).
    pub fn new() -> Self {
        Self::default()
    }

    /// Counters so far.
    pub fn stats(&self) -> SinkStats {
        self.stats
    }

    /// When the waiting releases must be appended.
    pub fn deadline(&self) -> Option<Instant> {
        self.lazy_until
    }

    fn append(&mut self, journal: &mut Journal, record: &[u8]) {
        self.stats.appended += 1;
        if let Err(e) = journal.append(record) {
            tracing::error!("cannot journal a lock record: {e}");
        }
    }

    /// Appends a lock-table record, numbered after the last one.
    fn append_lock(&mut self, journal: &mut Journal, mut r: Record) {
        r.seq = r.seq.max(self.last_seq + 1);
        self.last_seq = r.seq;
        self.append(journal, &tagged(TAG_LOCK, &r.to_bytes()));
    }

    /// Appends every waiting release.
    pub fn flush(&mut self, journal: &mut Journal) {
        self.flush_where(journal, |_| true);
    }

    /// Appends the waiting releases `pick` selects, in order; the others keep waiting.
    fn flush_where(&mut self, journal: &mut Journal, pick: impl Fn(&Lazy) -> bool) {
        let (now, later): (Vec<Lazy>, Vec<Lazy>) =
            std::mem::take(&mut self.lazy).into_iter().partition(pick);
        self.lazy = later;
        for l in now {
            self.append_lock(journal, l.record);
        }
        if self.lazy.is_empty() {
            self.lazy_until = None;
        }
    }

    /// Appends the waiting releases if their time has come.
    pub fn handle_timeout(&mut self, now: Instant, journal: &mut Journal) {
        if self.lazy_until.is_some_and(|t| t <= now) {
            self.flush(journal);
        }
    }

    /// A monitor-list record: appended now (a reply may depend on it). Monitor records
    /// replay separately from lock records, so waiting releases need not precede it.
    pub fn nsm(&mut self, journal: &mut Journal, r: &NsmRecord) {
        self.append(journal, &tagged(TAG_NSM, &r.to_bytes()));
    }

    /// A lock-table record.
    pub fn lock(&mut self, now: Instant, journal: &mut Journal, r: Record) {
        match r.change {
            Change::NlmLock {
                id,
                file,
                ref owner,
                range,
                exclusive,
            } => {
                let key = GrantKey {
                    file,
                    owner: owner.clone(),
                    range,
                    exclusive,
                };
                let waiting = self
                    .lazy
                    .iter()
                    .rposition(|l| l.grant.as_ref().is_some_and(|(_, k)| *k == key));
                if let Some(pos) = waiting {
                    let Some((journal_id, key)) = self.lazy.remove(pos).grant else {
                        unreachable!("position() matched an entry with a grant");
                    };
                    self.stats.reused += 1;
                    self.granted.insert(journal_id, key);
                    if journal_id != id {
                        self.alias.insert(id, journal_id);
                    }
                    if self.lazy.is_empty() {
                        self.lazy_until = None;
                    }
                    return;
                }
                self.flush_where(journal, |l| l.meets(file, range));
                self.append_lock(journal, r);
                self.granted.insert(id, key);
            }
            Change::LockReleased { id, file } => {
                let journal_id = self.alias.remove(&id).unwrap_or(id);
                let grant = self.granted.remove(&journal_id).map(|k| (journal_id, k));
                let record = if journal_id == id {
                    r
                } else {
                    Record {
                        seq: r.seq,
                        change: Change::LockReleased {
                            id: journal_id,
                            file,
                        },
                    }
                };
                self.wait(now, journal, record, file, grant);
            }
            Change::NlmShareReleased { file, .. } => self.wait(now, journal, r, file, None),
            _ => {
                self.flush(journal);
                self.append_lock(journal, r);
            }
        }
    }

    fn wait(
        &mut self,
        now: Instant,
        journal: &mut Journal,
        record: Record,
        file: FileId,
        grant: Option<(LockId, GrantKey)>,
    ) {
        self.lazy.push(Lazy {
            record,
            file,
            grant,
        });
        self.lazy_until.get_or_insert(now + RELEASE_FLUSH);
        if self.lazy.len() >= MAX_LAZY {
            self.flush(journal);
        }
    }
}

#[cfg(test)]
mod tests {
    use lockstate::{Config, HolderKind, LockTable, NlmLockArgs};

    use super::*;

    /// A table, a sink and a journal in a fresh directory.
    struct Rig {
        dir: std::path::PathBuf,
        journal: Journal,
        table: LockTable,
        sink: RecordSink,
        now: Instant,
    }

    impl Rig {
        fn new(tag: &str) -> Rig {
            let dir = std::env::temp_dir()
                .join(format!("janus-nlm-journal-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let journal = Journal::open(&dir).unwrap();
            Rig {
                dir,
                journal,
                table: LockTable::new(Config::default()),
                sink: RecordSink::new(),
                now: Instant::now(),
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

        /// Commits, then rebuilds a table from what a restart would read.
        fn restored(&mut self) -> LockTable {
            self.journal.commit().unwrap();
            let records = self
                .journal
                .replay()
                .unwrap()
                .iter()
                .map(|b| Record::from_bytes(&b[1..]).unwrap())
                .collect::<Vec<_>>();
            LockTable::restore(Config::default(), records).unwrap()
        }
    }

    impl Drop for Rig {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
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
        rig.journal.commit().unwrap();
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
        assert!(!rig.journal.needs_commit(), "nothing to fsync");
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
        assert!(rig.sink.lazy.len() < MAX_LAZY);
        rig.sink.flush(&mut rig.journal);
        assert!(locks(&rig.restored()).is_empty());
    }
}
