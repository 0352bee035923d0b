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
//!    grace period drops it (spec §5) — the conservative direction. A grant that meets a
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
//! Grants whose journalled record is not durable yet are covered too: the core holds every
//! reply of an NLM call until all records appended before it are durable (the durability
//! barrier, crate documentation), so a reply that relies on a reused grant never overtakes
//! it.
//!
//! 3. **Non-durable SMB state stays off the disk.** An SMB open that is not durable does not
//!    survive a restart (MS-SMB2 §3.3.3: the server starts with an empty open table; the
//!    table's `start_grace` drops such opens and their byte-range locks from a restored
//!    journal anyway), so its `Open` and `OpenClosed` records, the `SmbLock` records of its
//!    locks and their `LockReleased`, and the `Lease` / `LeaseRemoved` records of a lease
//!    no durable open ever used are not appended. Without this every plain SMB CREATE and
//!    CLOSE cost a journal append and an `fdatasync` on the event loop (a 1,000-file
//!    smbclient copy made 2,000 of them). The sink remembers the non-durable opens and
//!    their locks until their close and release, so the records it drops are exactly the
//!    pairs a restore would otherwise have to match (`lockstate`'s restore refuses a
//!    release or close of something it never saw). A lease first used by a non-durable
//!    open is journalled from the first durable open that joins it: the table records the
//!    lease's state after every open that uses it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lockstate::{CacheKey, Change, FileId, LockId, LockRange, NlmOwner, OpenId, Record};
use proto_nfs::xdr::XdrEncode;
use proto_nlm::service::NsmRecord;

use crate::RecordSeq;

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

/// The records the core hands to the runtime's journal, numbered in append order
/// ([`crate::Core::poll_journal_append`]).
#[derive(Debug, Default)]
pub struct Appends {
    last: u64,
    queue: std::collections::VecDeque<(RecordSeq, Vec<u8>)>,
}

impl Appends {
    /// Appends `record`; returns its number.
    pub fn push(&mut self, record: Vec<u8>) -> RecordSeq {
        self.last += 1;
        self.queue.push_back((RecordSeq(self.last), record));
        RecordSeq(self.last)
    }

    /// The number of the last record appended (`RecordSeq(0)`: none yet).
    pub fn last(&self) -> RecordSeq {
        RecordSeq(self.last)
    }

    /// The oldest record not yet handed out.
    pub fn pop(&mut self) -> Option<(RecordSeq, Vec<u8>)> {
        self.queue.pop_front()
    }

    /// Whether records wait to be handed out.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
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
    granted: BTreeMap<LockId, GrantKey>,
    /// Table lock id → the journalled lock id it reuses (only when they differ).
    alias: BTreeMap<LockId, LockId>,
    /// Sequence number of the last lock record appended.
    last_seq: u64,
    /// Non-durable SMB opens whose `Open` record was dropped, until their `OpenClosed`.
    volatile_opens: BTreeSet<OpenId>,
    /// Byte-range locks of those opens whose `SmbLock` record was dropped, until released.
    volatile_locks: BTreeSet<LockId>,
    /// Leases a durable open used (journalled until `LeaseRemoved`).
    durable_leases: BTreeSet<CacheKey>,
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

    /// Rule 3 of the module documentation: whether `change` concerns only non-durable SMB
    /// state (and is not appended); notes what later records it pairs with.
    fn volatile(&mut self, change: &Change) -> bool {
        match change {
            Change::Open {
                open,
                durable,
                cache,
                ..
            } => {
                if *durable {
                    if let Some(k) = cache {
                        self.durable_leases.insert(*k);
                    }
                    // An open made durable after its grant (`LockTable::smb_set_durable`):
                    // its close is journalled from now on.
                    self.volatile_opens.remove(open);
                    false
                } else {
                    self.volatile_opens.insert(*open);
                    true
                }
            }
            Change::OpenClosed { open, .. } => self.volatile_opens.remove(open),
            Change::SmbLock { id, open, .. } => {
                let v = self.volatile_opens.contains(open);
                if v {
                    self.volatile_locks.insert(*id);
                }
                v
            }
            Change::LockReleased { id, .. } => self.volatile_locks.remove(id),
            Change::Lease { key, .. } => !self.durable_leases.contains(key),
            Change::LeaseRemoved { key } => !self.durable_leases.remove(key),
            _ => false,
        }
    }

    /// Releases waiting to be appended (at most [`MAX_LAZY`]).
    pub fn waiting(&self) -> usize {
        self.lazy.len()
    }

    /// When the waiting releases must be appended.
    pub fn deadline(&self) -> Option<Instant> {
        self.lazy_until
    }

    fn append(&mut self, journal: &mut Appends, record: &[u8]) {
        self.stats.appended += 1;
        journal.push(record.to_vec());
    }

    /// Appends a lock-table record, numbered after the last one.
    fn append_lock(&mut self, journal: &mut Appends, mut r: Record) {
        r.seq = r.seq.max(self.last_seq + 1);
        self.last_seq = r.seq;
        self.append(journal, &tagged(TAG_LOCK, &r.to_bytes()));
    }

    /// Appends every waiting release.
    pub fn flush(&mut self, journal: &mut Appends) {
        self.flush_where(journal, |_| true);
    }

    /// Appends the waiting releases `pick` selects, in order; the others keep waiting.
    fn flush_where(&mut self, journal: &mut Appends, pick: impl Fn(&Lazy) -> bool) {
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
    pub fn handle_timeout(&mut self, now: Instant, journal: &mut Appends) {
        if self.lazy_until.is_some_and(|t| t <= now) {
            self.flush(journal);
        }
    }

    /// A monitor-list record: appended now (a reply may depend on it). Monitor records
    /// replay separately from lock records, so waiting releases need not precede it.
    pub fn nsm(&mut self, journal: &mut Appends, r: &NsmRecord) {
        self.append(journal, &tagged(TAG_NSM, &r.to_bytes()));
    }

    /// A lock-table record.
    pub fn lock(&mut self, now: Instant, journal: &mut Appends, r: Record) {
        if self.volatile(&r.change) {
            return;
        }
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
        journal: &mut Appends,
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
