//! The table itself: per-file state, the shared machinery every operation uses (lock
//! conflict scans, the break engine, share-mode checks, the waiter FIFO, timers, records),
//! and the output queues. The operations live in `nlm.rs`, `nfs.rs`, `smb.rs`; grace and
//! restore in `grace.rs`; views and counters in `view.rs`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;
use crate::grace::Grace;
use crate::hash::{FxMap, FxSet};
use crate::outcome::{BreakNotice, Deny, Event, Holder, HolderKind, Outcome, Wait, WaitReason};
use crate::persist::{Change, Record};
use crate::types::{
    access, share, CacheKey, ClientGuid, FileId, LeaseState, LeaseVersion, LockId, LockRange,
    NlmOwner, OpenId, Span, Ticket,
};
use crate::view::{ConflictKind, Counters, Proto, Resolution};

/// Who owns a byte-range lock.
#[derive(Debug, Clone)]
pub(crate) enum LockOwner {
    /// An NLM owner (interned: equal owners share one `Arc`).
    Nlm(Arc<NlmOwner>),
    /// An SMB open (its client is looked up in the open table when needed).
    Smb { open: OpenId },
}

impl LockOwner {
    pub(crate) fn key(&self) -> OwnerKey {
        match self {
            LockOwner::Nlm(o) => OwnerKey::Nlm(Arc::as_ptr(o) as usize),
            LockOwner::Smb { open, .. } => OwnerKey::Smb(*open),
        }
    }
}

/// Identity of an owner in the wait-for graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum OwnerKey {
    Nlm(usize),
    Smb(OpenId),
}

/// One byte-range lock.
#[derive(Debug, Clone)]
pub(crate) struct Lock {
    pub(crate) id: LockId,
    pub(crate) span: Span,
    pub(crate) exclusive: bool,
    pub(crate) owner: LockOwner,
}

/// An NLM SHARE reservation (O11: a virtual open with DOS share modes).
#[derive(Debug, Clone)]
pub(crate) struct NlmShare {
    pub(crate) owner: Arc<NlmOwner>,
    /// fsh4_access: 1 read, 2 write.
    pub(crate) access: u32,
    /// fsh4_mode: 1 deny read, 2 deny write.
    pub(crate) deny: u32,
}

impl NlmShare {
    /// The reservation as an MS-FSA (access, share access) pair.
    pub(crate) fn as_open(&self) -> (u32, u32) {
        let mut a = 0;
        if self.access & 1 != 0 {
            a |= access::READ_DATA;
        }
        if self.access & 2 != 0 {
            a |= access::WRITE_DATA;
        }
        let mut s = share::DELETE;
        if self.deny & 1 == 0 {
            s |= share::READ;
        }
        if self.deny & 2 == 0 {
            s |= share::WRITE;
        }
        (a, s)
    }
}

/// An SMB open.
#[derive(Debug, Clone)]
pub(crate) struct Open {
    pub(crate) file: FileId,
    pub(crate) client: ClientGuid,
    pub(crate) access: u32,
    pub(crate) share_access: u32,
    pub(crate) durable: bool,
    pub(crate) cache: Option<CacheKey>,
}

/// A lease or oplock (MS-SMB2 3.3.1.12 fields).
#[derive(Debug, Clone)]
pub(crate) struct Lease {
    pub(crate) file: FileId,
    pub(crate) client: ClientGuid,
    pub(crate) state: LeaseState,
    /// Lease.Breaking.
    pub(crate) breaking: bool,
    /// BreakToLeaseState: what the notification in flight offered.
    pub(crate) break_to: LeaseState,
    /// What all conflicting operations together require (Samba `breaking_to_required`).
    pub(crate) required: LeaseState,
    /// The state when the current (possibly stepped) break began.
    pub(crate) origin: LeaseState,
    pub(crate) epoch: u16,
    /// None for oplocks.
    pub(crate) version: Option<LeaseVersion>,
    pub(crate) opens: Vec<OpenId>,
    pub(crate) deadline: Option<Instant>,
    pub(crate) break_started: Option<Instant>,
    /// The last break timed out (remembered until the next break or the last close).
    pub(crate) timed_out: bool,
}

impl Lease {
    /// A lease (or oplock, `version` None) newly held in `state`, with no break in
    /// progress or remembered: what a grant creates and what a restore rebuilds.
    pub(crate) fn held(
        file: FileId,
        client: ClientGuid,
        state: LeaseState,
        epoch: u16,
        version: Option<LeaseVersion>,
        opens: Vec<OpenId>,
    ) -> Self {
        Lease {
            file,
            client,
            state,
            breaking: false,
            break_to: state,
            required: state,
            origin: state,
            epoch,
            version,
            opens,
            deadline: None,
            break_started: None,
            timed_out: false,
        }
    }

    pub(crate) fn is_oplock(&self) -> bool {
        self.version.is_none()
    }
}

/// Everything the table holds about one file.
///
/// Only the byte-range locks live inline: the hash-map bucket stays 32 bytes, so a table
/// with 100 k files stays cache-friendly. Opens, shares, leases and waiters (rarer) live in
/// a box created on first use; `fs.opens` etc. reach them through `Deref`.
#[derive(Debug, Default)]
pub(crate) struct FileState {
    /// Byte-range locks of every owner, sorted by `span.first`.
    pub(crate) locks: Vec<Lock>,
    /// An upper bound of `last` over `locks` (exact after insertions; removals may leave it
    /// too large, which only disables the early exit). A request starting after it
    /// overlaps nothing, so appends past existing locks cost O(1) whatever the lock count.
    pub(crate) max_last: u64,
    /// An upper bound of `last - first` over `locks` (same staleness rule): a lock that
    /// reaches offset `x` starts at or after `x - max_len`, so scans can start with a
    /// binary search instead of at the first lock.
    pub(crate) max_len: u64,
    pub(crate) extra: Option<Box<FileExtra>>,
}

/// The less frequently used parts of a file's state.
#[derive(Debug, Default)]
pub(crate) struct FileExtra {
    pub(crate) opens: Vec<OpenId>,
    pub(crate) shares: Vec<NlmShare>,
    pub(crate) leases: Vec<CacheKey>,
    pub(crate) waiters: VecDeque<Waiter>,
}

impl FileExtra {
    fn is_empty(&self) -> bool {
        self.opens.is_empty()
            && self.shares.is_empty()
            && self.leases.is_empty()
            && self.waiters.is_empty()
    }
}

static NO_EXTRA: FileExtra = FileExtra {
    opens: Vec::new(),
    shares: Vec::new(),
    leases: Vec::new(),
    waiters: VecDeque::new(),
};

impl std::ops::Deref for FileState {
    type Target = FileExtra;
    fn deref(&self) -> &FileExtra {
        self.extra.as_deref().unwrap_or(&NO_EXTRA)
    }
}

impl std::ops::DerefMut for FileState {
    fn deref_mut(&mut self) -> &mut FileExtra {
        self.extra.get_or_insert_with(Box::default)
    }
}

impl FileState {
    /// The index range of locks that may overlap `first..=last`: those starting at or
    /// before `last` and not before `first - max_len`. Found from the end of the vector,
    /// so a request past the existing locks (appends, the common case) touches one or two
    /// cache lines instead of binary-searching the whole vector.
    #[inline]
    pub(crate) fn candidates(&self, first: u64, last: u64) -> std::ops::Range<usize> {
        let n = self.locks.len();
        if n == 0 || first > self.max_last {
            return n..n;
        }
        let end = if self.locks[n - 1].span.first <= last {
            n
        } else {
            self.locks.partition_point(|l| l.span.first <= last)
        };
        let lo = first.saturating_sub(self.max_len);
        let mut start = end;
        if lo == 0 {
            start = 0;
        } else {
            while start > 0 && self.locks[start - 1].span.first >= lo {
                start -= 1;
            }
        }
        start..end
    }

    /// Recomputes the bounds after removals.
    pub(crate) fn recompute_bounds(&mut self) {
        self.max_last = self.locks.iter().map(|l| l.span.last).max().unwrap_or(0);
        self.max_len = self
            .locks
            .iter()
            .map(|l| l.span.last.saturating_sub(l.span.first))
            .max()
            .unwrap_or(0);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.locks.is_empty() && self.extra.as_ref().is_none_or(|x| x.is_empty())
    }
}

/// A queued operation.
#[derive(Debug, Clone)]
pub(crate) struct Waiter {
    pub(crate) ticket: Ticket,
    pub(crate) op: Op,
    pub(crate) reason: WaitReason,
    pub(crate) hold_until: Option<Instant>,
    pub(crate) enqueued: Instant,
}

/// An operation, kept so a waiter can be re-evaluated when what blocked it changes.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    NlmLock {
        owner: Arc<NlmOwner>,
        range: LockRange,
        exclusive: bool,
        block: bool,
        reclaim: bool,
    },
    NlmTest {
        owner: Arc<NlmOwner>,
        range: LockRange,
        exclusive: bool,
    },
    NlmShare {
        owner: Arc<NlmOwner>,
        access: u32,
        deny: u32,
        reclaim: bool,
    },
    Nfs {
        kind: NfsKind,
        span: Span,
        /// Rename target: a lease was broken, so opens may remain (MS-FSA 2.1.5.15.12).
        broke: bool,
    },
    SmbCreate(Box<crate::smb::SmbCreate>),
    SmbLock {
        open: OpenId,
        span: Span,
        exclusive: bool,
        fail_immediately: bool,
    },
    SmbIo {
        open: OpenId,
        span: Span,
        write: bool,
    },
    SmbNamespace {
        open: OpenId,
    },
    SmbSetSize {
        open: OpenId,
    },
}

/// The NFS operations (matrix rows 4–10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NfsKind {
    Read,
    Write,
    SetSize,
    Remove,
    RenameSource,
    RenameTarget,
    CreateTruncate,
}

impl Op {
    pub(crate) fn proto(&self) -> Proto {
        match self {
            Op::NlmLock { .. } | Op::NlmTest { .. } | Op::NlmShare { .. } => Proto::Nlm,
            Op::Nfs { .. } => Proto::Nfs,
            _ => Proto::Smb,
        }
    }
    pub(crate) fn owner_key(&self) -> Option<OwnerKey> {
        match self {
            Op::NlmLock { owner, .. } | Op::NlmTest { owner, .. } | Op::NlmShare { owner, .. } => {
                Some(OwnerKey::Nlm(Arc::as_ptr(owner) as usize))
            }
            Op::SmbLock { open, .. }
            | Op::SmbIo { open, .. }
            | Op::SmbNamespace { open }
            | Op::SmbSetSize { open } => Some(OwnerKey::Smb(*open)),
            Op::SmbCreate(c) => Some(OwnerKey::Smb(c.open)),
            Op::Nfs { .. } => None,
        }
    }
    /// Blocking requests stay queued after their hold expires (NLM blocking LOCK).
    pub(crate) fn stays_after_hold(&self) -> bool {
        matches!(self, Op::NlmLock { block: true, .. })
    }
}

/// Result of evaluating an operation once.
pub(crate) enum Eval {
    Done(Outcome),
    Block(WaitReason),
}

/// Who asks for a range access (MS-FSA 2.1.4.10 inputs).
#[derive(Clone, Copy)]
pub(crate) enum Requester<'a> {
    Nlm(&'a Arc<NlmOwner>),
    Smb(OpenId),
    Nfs,
}

/// A range access to check against locks.
#[derive(Clone, Copy)]
pub(crate) struct Access<'a> {
    pub(crate) span: Span,
    pub(crate) exclusive: bool,
    pub(crate) lock_intent: bool,
    pub(crate) who: Requester<'a>,
}

/// How an operation breaks other leases (MS-FSA 2.1.4.12 BreakCacheState classes).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum BreakKind {
    /// W only (BreakToTwo): data opens, READ, NLM TEST. Waits for the ack.
    ToTwo,
    /// R|W (BreakToNone): WRITE, LOCK, size change, overwrite. Waits only if W was held.
    ToNone,
    /// H (rename, delete); a Batch oplock goes to NONE. Waits.
    H,
    /// H before a sharing violation (O5): as `H`, but a Batch oplock goes to Level II, as
    /// Windows and Samba break it (smbtorture smb2.oplock.batch1–3: an unlink of a
    /// file open with a Batch oplock gets a break to Level II). Waits.
    ShareH,
}

impl BreakKind {
    fn target(self, state: LeaseState, oplock: bool) -> LeaseState {
        match self {
            BreakKind::ToTwo => state.without(LeaseState::W),
            BreakKind::ToNone => LeaseState::NONE,
            BreakKind::H => {
                if oplock && state == LeaseState::RWH {
                    LeaseState::NONE
                } else {
                    state.without(LeaseState::H)
                }
            }
            BreakKind::ShareH => {
                if oplock && state == LeaseState::RWH {
                    LeaseState::R
                } else {
                    state.without(LeaseState::H)
                }
            }
        }
    }
    fn wait_mask(self) -> LeaseState {
        match self {
            BreakKind::ToTwo | BreakKind::ToNone => LeaseState::W,
            BreakKind::H | BreakKind::ShareH => LeaseState::H.or(LeaseState::W),
        }
    }
}

/// Timers: a heap of (deadline, what) checked lazily (stale entries are skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    Break(CacheKey),
    Hold(Ticket),
    Grace,
}

/// The unified lock table.
///
/// Methods come in four groups, like quinn-proto's `Connection`:
/// * **operations** (`nlm_*`, `nfs_*`, `smb_*`): one per row of matrices A and B; each
///   returns an [`Outcome`] at once and may queue events and records;
/// * **time**: [`handle_timeout`](Self::handle_timeout) with the current instant whenever
///   [`poll_timeout`](Self::poll_timeout)'s deadline has passed (time only moves forward);
/// * **outputs**: drain [`poll_event`](Self::poll_event) (break notifications, completed
///   waiters, hold expiries) and [`poll_record`](Self::poll_record) (persistence) after every
///   call, events first;
/// * **getters**: [`view`](Self::view), [`counters`](Self::counters),
///   [`in_grace`](Self::in_grace).
#[derive(Debug)]
pub struct LockTable {
    pub(crate) cfg: Config,
    pub(crate) files: FxMap<FileId, FileState>,
    pub(crate) opens: FxMap<OpenId, Open>,
    pub(crate) leases: FxMap<CacheKey, Lease>,
    /// Interned NLM owners: equal owners share one `Arc`, compared by pointer.
    pub(crate) owners: FxSet<Arc<NlmOwner>>,
    pub(crate) owners_gc_at: usize,
    pub(crate) monitored: FxMap<Vec<u8>, i32>,
    /// Ticket → file, for cancel and the wait-for graph.
    pub(crate) tickets: FxMap<Ticket, FileId>,
    /// Owner → its waiting tickets (wait-for graph edges start here).
    pub(crate) owner_waits: FxMap<OwnerKey, Vec<Ticket>>,
    pub(crate) next_ticket: u64,
    pub(crate) next_lock_id: u64,
    pub(crate) next_seq: u64,
    pub(crate) total_locks: usize,
    pub(crate) events: VecDeque<Event>,
    pub(crate) records: VecDeque<Record>,
    pub(crate) timers: BinaryHeap<Reverse<(Instant, Timer)>>,
    pub(crate) grace: Option<Grace>,
    pub(crate) counters: Counters,
    pub(crate) waking: bool,
    pub(crate) wake_pending: Vec<FileId>,
    /// An NLM share reservation was made or restored at some point (see
    /// [`LockTable::nfs_namespace_unconstrained`]).
    pub(crate) nlm_shares_seen: bool,
    /// What the grants of waiting NLM LOCKs changed, by ticket, until the NLM service
    /// settles or withdraws them ([`LockTable::nlm_withdraw_grant`]).
    pub(crate) grant_undo: std::collections::BTreeMap<Ticket, crate::nlm::GrantUndo>,
    /// The owner's pieces in a waiter's range just before `eval_nlm_lock` granted it
    /// (taken by `wake`, which knows the ticket).
    pub(crate) grant_prior: Option<Vec<(LockRange, bool)>>,
}

impl LockTable {
    /// An empty table.
    pub fn new(cfg: Config) -> Self {
        LockTable {
            cfg,
            files: FxMap::default(),
            opens: FxMap::default(),
            leases: FxMap::default(),
            owners: FxSet::default(),
            owners_gc_at: 1024,
            monitored: FxMap::default(),
            tickets: FxMap::default(),
            owner_waits: FxMap::default(),
            next_ticket: 1,
            next_lock_id: 1,
            next_seq: 1,
            total_locks: 0,
            events: VecDeque::new(),
            records: VecDeque::new(),
            timers: BinaryHeap::new(),
            grace: None,
            counters: Counters::default(),
            waking: false,
            wake_pending: Vec::new(),
            nlm_shares_seen: false,
            grant_undo: std::collections::BTreeMap::new(),
            grant_prior: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// A lock's holder, described protocol-neutrally.
    pub(crate) fn lock_holder(&self, l: &Lock) -> Holder {
        let who = match &l.owner {
            LockOwner::Nlm(o) => HolderKind::Nlm(o.clone()),
            LockOwner::Smb { open } => HolderKind::Smb {
                client: self.opens.get(open).map(|o| o.client).unwrap_or_default(),
                open: *open,
            },
        };
        Holder {
            who,
            exclusive: l.exclusive,
            span: l.span,
        }
    }

    /// Whether [`poll_event`](Self::poll_event) or [`poll_record`](Self::poll_record) has
    /// something (lets a caller skip draining on its hot path).
    pub fn has_output(&self) -> bool {
        !self.events.is_empty() || !self.records.is_empty()
    }

    /// The next event to act on, in the order they happened.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next persistence record, in mutation order.
    pub fn poll_record(&mut self) -> Option<Record> {
        self.records.pop_front()
    }

    /// The earliest deadline at which [`handle_timeout`](Self::handle_timeout) must be
    /// called (a break ack timeout, a bounded hold, the end of grace), if any.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, t))) = self.timers.peek().copied() {
            if self.timer_live(at, t) {
                return Some(at);
            }
            self.timers.pop();
        }
        None
    }

    fn timer_live(&self, at: Instant, t: Timer) -> bool {
        match t {
            Timer::Break(k) => self
                .leases
                .get(&k)
                .is_some_and(|l| l.breaking && l.deadline == Some(at)),
            Timer::Hold(tk) => self.tickets.get(&tk).is_some_and(|f| {
                self.files.get(f).is_some_and(|fs| {
                    fs.waiters
                        .iter()
                        .any(|w| w.ticket == tk && w.hold_until == Some(at))
                })
            }),
            Timer::Grace => self.grace.as_ref().is_some_and(|g| g.ends == at),
        }
    }

    /// Fires every deadline at or before `now`: unacknowledged breaks are treated as
    /// acknowledged to NONE (MS-SMB2 3.3.6.5) and their waiters re-evaluated; bounded holds
    /// expire ([`Event::HoldExpired`]); grace ends.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, t))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            if !self.timer_live(at, t) {
                continue;
            }
            match t {
                Timer::Break(k) => self.break_timed_out(k, now),
                Timer::Hold(tk) => self.hold_expired(tk),
                Timer::Grace => self.end_grace(now),
            }
        }
    }

    pub(crate) fn add_timer(&mut self, at: Instant, t: Timer) {
        self.timers.push(Reverse((at, t)));
    }

    // ----- records -----------------------------------------------------------------

    pub(crate) fn record(&mut self, change: Change) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.records.push_back(Record { seq, change });
    }

    pub(crate) fn new_lock_id(&mut self) -> LockId {
        let id = LockId(self.next_lock_id);
        self.next_lock_id += 1;
        id
    }

    // ----- owners ------------------------------------------------------------------

    /// The interned `Arc` for an owner.
    pub(crate) fn intern(&mut self, owner: &NlmOwner) -> Arc<NlmOwner> {
        if let Some(a) = self.owners.get(owner) {
            return a.clone();
        }
        if self.owners.len() >= self.owners_gc_at {
            // Owners nobody references any more (no lock, share, waiter, record in the
            // queue) are dropped; the threshold doubles so this stays amortised O(1).
            self.owners.retain(|a| Arc::strong_count(a) > 1);
            self.owners_gc_at = (self.owners.len() * 2).max(1024);
        }
        let a = Arc::new(owner.clone());
        self.owners.insert(a.clone());
        a
    }

    // ----- lock conflicts ----------------------------------------------------------

    /// Does lock `l` conflict with access `a`? MS-FSA 2.1.4.10 for SMB pairs, POSIX for NLM pairs
    /// (same owner never conflicts), NLM locks advisory to NFS I/O (docs/cross-protocol.md §4.1
    /// rule 3) and, if configured (O2), to SMB I/O.
    #[inline]
    pub(crate) fn lock_conflicts(&self, l: &Lock, a: &Access<'_>) -> bool {
        if !a.span.overlaps(&l.span) {
            return false;
        }
        match (&a.who, &l.owner) {
            (Requester::Nlm(o), LockOwner::Nlm(lo)) if Arc::ptr_eq(o, lo) => false,
            // The open's own locks (MS-FSA 2.1.5.8, 2.1.4.10): a lock request conflicts with
            // them only when it is exclusive (a shared lock stacks on the open's own exclusive
            // lock: smbtorture smb2.lock.stacking, valid-request); its own I/O passes its
            // exclusive locks, and its writes are refused by its shared ones.
            (Requester::Smb(open), LockOwner::Smb { open: lo, .. }) if open == lo => {
                a.exclusive && (a.lock_intent || !l.exclusive)
            }
            (Requester::Nfs, LockOwner::Nlm(_)) => false,
            (Requester::Smb(_), LockOwner::Nlm(_))
                if !a.lock_intent && self.cfg.nlm_locks_advisory_for_smb =>
            {
                false
            }
            _ => l.exclusive || a.exclusive,
        }
    }

    /// The first lock on `file` that conflicts with `a`.
    pub(crate) fn find_conflict(&self, file: FileId, a: &Access<'_>) -> Option<&Lock> {
        let fs = self.files.get(&file)?;
        if a.span.is_null() || fs.locks.is_empty() || a.span.first > fs.max_last {
            return None;
        }
        fs.locks[fs.candidates(a.span.first, a.span.last)]
            .iter()
            .find(|l| self.lock_conflicts(l, a))
    }

    /// Every owner whose locks conflict with `a` (wait-for graph edges).
    pub(crate) fn conflicting_owners(&self, file: FileId, a: &Access<'_>) -> Vec<OwnerKey> {
        let Some(fs) = self.files.get(&file) else {
            return Vec::new();
        };
        let mut v: Vec<OwnerKey> = fs
            .locks
            .iter()
            .filter(|l| self.lock_conflicts(l, a))
            .map(|l| l.owner.key())
            .collect();
        v.sort_by_key(|k| match k {
            OwnerKey::Nlm(p) => (0, *p as u64),
            OwnerKey::Smb(o) => (1, o.0),
        });
        v.dedup();
        v
    }

    pub(crate) fn insert_lock(&mut self, file: FileId, lock: Lock) {
        let fs = self.files.entry(file).or_default();
        let len = lock.span.last.saturating_sub(lock.span.first);
        if fs.locks.is_empty() {
            fs.max_last = lock.span.last;
            fs.max_len = len;
        } else {
            fs.max_last = fs.max_last.max(lock.span.last);
            fs.max_len = fs.max_len.max(len);
        }
        if fs
            .locks
            .last()
            .is_none_or(|l| l.span.first <= lock.span.first)
        {
            fs.locks.push(lock);
        } else {
            let pos = fs
                .locks
                .partition_point(|l| l.span.first <= lock.span.first);
            fs.locks.insert(pos, lock);
        }
        self.total_locks += 1;
    }

    /// Would adding `n` locks to `file` exceed a bound?
    pub(crate) fn over_bounds(&self, file: FileId, n: usize) -> bool {
        let on_file = self.files.get(&file).map_or(0, |f| f.locks.len());
        self.total_locks + n > self.cfg.max_locks || on_file + n > self.cfg.max_locks_per_file
    }

    // ----- the break engine (MS-FSA 2.1.4.12, MS-SMB2 3.3.4.7) ---------------------

    /// Breaks the leases on `file` other than `except` as `kind` demands (only those in
    /// `only`, if given). Returns (some lease was or is being broken, the caller must wait).
    pub(crate) fn break_leases(
        &mut self,
        file: FileId,
        except: Option<CacheKey>,
        kind: BreakKind,
        only: Option<&[CacheKey]>,
        now: Instant,
    ) -> (bool, bool) {
        let Some(fs) = self.files.get(&file) else {
            return (false, false);
        };
        if fs.leases.is_empty() {
            return (false, false);
        }
        let keys: Vec<CacheKey> = fs.leases.clone();
        let mut broke = false;
        let mut wait = false;
        for k in keys {
            if Some(k) == except || only.is_some_and(|o| !o.contains(&k)) {
                continue;
            }
            let (b, w) = self.break_one(k, kind, now);
            broke |= b;
            wait |= w;
        }
        (broke, wait)
    }

    /// Breaks, before a byte-range lock is granted, every lease on `file` but `except`
    /// to none (matrix B rows 1–2, MS-FSA 2.1.4.12: a lock needs R and W gone), and counts
    /// the lease conflict for `proto` on the `first` evaluation only. Returns true when
    /// the caller must wait for the break.
    pub(crate) fn break_for_lock(
        &mut self,
        file: FileId,
        except: Option<CacheKey>,
        proto: Proto,
        now: Instant,
        first: bool,
    ) -> bool {
        let (broke, wait) = self.break_leases(file, except, BreakKind::ToNone, None, now);
        if broke && first {
            let r = if wait {
                Resolution::Waited
            } else {
                Resolution::Broke
            };
            self.counters.conflict(proto, ConflictKind::Lease, r);
        }
        wait
    }

    /// Breaks one lease as `kind` demands; narrows the target of a break in progress
    /// without a second notification (docs/cross-protocol.md §2.5).
    pub(crate) fn break_one(&mut self, k: CacheKey, kind: BreakKind, now: Instant) -> (bool, bool) {
        let timeout = self.cfg.break_timeout;
        let Some(l) = self.leases.get_mut(&k) else {
            return (false, false);
        };
        let oplock = l.is_oplock();
        if l.breaking {
            // A second conflict during a break: narrow, and wait if the operation needs
            // bits gone that it must wait for, judged from the state the break began in
            // (so every conflicting operation stays queued until the stepped break is
            // over, as smbtorture breaking3 shows).
            let target = kind.target(l.origin, oplock);
            let removed = l.origin.without(target);
            if removed == LeaseState::NONE {
                return (false, false);
            }
            let target_now = kind.target(l.state, oplock).and(l.state);
            l.required = l.required.and(oplock_target(target_now, oplock));
            return (true, removed.intersects(kind.wait_mask()));
        }
        let target = oplock_target(kind.target(l.state, oplock).and(l.state), oplock);
        if target == l.state {
            return (false, false);
        }
        let removed = l.state.without(target);
        let wait = removed.intersects(kind.wait_mask());
        l.origin = l.state;
        l.required = target;
        self.start_break(k, target, now, timeout, true);
        (true, wait)
    }

    /// Sends a break notification from the current state to `target` (MS-SMB2 3.3.4.7):
    /// breaks from R (or Level II) need no ack and take effect at once; others set
    /// Breaking and a deadline. The v2 epoch advances when a break begins (`new_break`),
    /// not on the further steps of a stepped break (smbtorture smb2.lease.v2_breaking3:
    /// RH→R and R→NONE carry the epoch of the RWH→RH notification).
    pub(crate) fn start_break(
        &mut self,
        k: CacheKey,
        target: LeaseState,
        now: Instant,
        timeout: std::time::Duration,
        new_break: bool,
    ) {
        let Some(l) = self.leases.get_mut(&k) else {
            return;
        };
        if new_break && matches!(l.version, Some(LeaseVersion::V2 { .. })) {
            l.epoch = l.epoch.wrapping_add(1);
        }
        l.timed_out = false;
        let from = l.state;
        let no_ack = from == LeaseState::R;
        let notice = BreakNotice {
            file: l.file,
            key: k,
            client: l.client,
            from,
            to: target,
            epoch: if l.version.is_some() { l.epoch } else { 0 },
            ack_required: !no_ack,
        };
        self.counters.breaks_sent += 1;
        if no_ack {
            l.state = target;
            l.breaking = false;
            l.deadline = None;
            let rec = lease_record(k, l);
            self.events.push_back(Event::Break(notice));
            self.record(rec);
        } else {
            l.breaking = true;
            l.break_to = target;
            let at = now + timeout;
            l.deadline = Some(at);
            l.break_started = Some(now);
            // The epoch moved when the notification was sent; persist it (a reconnecting
            // v2 client compares epochs, MS-SMB2 3.3.5.9.12).
            let rec = lease_record(k, l);
            self.events.push_back(Event::Break(notice));
            self.record(rec);
            self.add_timer(at, Timer::Break(k));
        }
    }

    /// Applies an acknowledged (or timed-out) new state and continues a stepped break if
    /// the state still holds more than all conflicting operations require.
    pub(crate) fn finish_break(&mut self, k: CacheKey, state: LeaseState, now: Instant) {
        let timeout = self.cfg.break_timeout;
        let Some(l) = self.leases.get_mut(&k) else {
            return;
        };
        l.state = state;
        l.breaking = false;
        l.deadline = None;
        if let Some(s) = l.break_started.take() {
            self.counters
                .record_break_duration(now.saturating_duration_since(s));
        }
        let file = l.file;
        let required = l.required;
        let rec = lease_record(k, l);
        self.record(rec);
        if !required.contains(state) {
            let mut next = state.step_down();
            if !next.contains(required) {
                next = required;
            }
            let oplock = self.leases.get(&k).is_some_and(Lease::is_oplock);
            self.start_break(k, oplock_target(next, oplock), now, timeout, false);
        }
        let done = self.leases.get(&k).is_some_and(|l| !l.breaking);
        if done {
            if let Some(l) = self.leases.get_mut(&k) {
                l.origin = l.state;
                l.required = l.state;
            }
        }
        self.wake(file, now);
    }

    fn break_timed_out(&mut self, k: CacheKey, now: Instant) {
        self.counters.break_timeouts += 1;
        if let Some(l) = self.leases.get_mut(&k) {
            l.required = LeaseState::NONE;
        }
        self.finish_break(k, LeaseState::NONE, now);
        if let Some(l) = self.leases.get_mut(&k) {
            l.timed_out = true;
        }
    }

    // ----- share modes (MS-FSA 2.1.5.1.2.1) ----------------------------------------

    /// The opens and NLM shares on `file` whose access/share modes conflict with an open
    /// asking for (`acc`, `shr`); `except` is the asker's own open, `except_share` its own
    /// NLM share owner (same host + oh updates instead of conflicting).
    pub(crate) fn share_conflicts(
        &self,
        file: FileId,
        acc: u32,
        shr: u32,
        except: Option<OpenId>,
        except_share: Option<&Arc<NlmOwner>>,
    ) -> Vec<Holder> {
        let mut out = Vec::new();
        let Some(fs) = self.files.get(&file) else {
            return out;
        };
        if acc & access::SHARED_CHECKED == 0 {
            return out;
        }
        for id in &fs.opens {
            if Some(*id) == except {
                continue;
            }
            let Some(o) = self.opens.get(id) else {
                continue;
            };
            if share_clash(acc, shr, o.access, o.share_access) {
                out.push(Holder::whole(
                    HolderKind::Smb {
                        client: o.client,
                        open: *id,
                    },
                    true,
                ));
            }
        }
        for s in &fs.shares {
            if except_share.is_some_and(|e| same_share_owner(e, &s.owner)) {
                continue;
            }
            let (a, sh) = s.as_open();
            if share_clash(acc, shr, a, sh) {
                out.push(Holder::whole(HolderKind::Nlm(s.owner.clone()), true));
            }
        }
        out
    }

    /// The lease keys (other than `except`) of the SMB opens among `holders` that hold H.
    pub(crate) fn h_leases_of(
        &self,
        holders: &[Holder],
        except: Option<CacheKey>,
    ) -> Vec<CacheKey> {
        let mut v = Vec::new();
        for h in holders {
            if let HolderKind::Smb { open, .. } = h.who {
                if let Some(k) = self.opens.get(&open).and_then(|o| o.cache) {
                    if Some(k) != except
                        && self.leases.get(&k).is_some_and(|l| {
                            l.state.contains(LeaseState::H)
                                || (l.breaking && l.origin.contains(LeaseState::H))
                        })
                        && !v.contains(&k)
                    {
                        v.push(k);
                    }
                }
            }
        }
        v
    }

    /// Sharing check with the O5 rule: a violation first breaks H on the conflicting
    /// opens' leases and waits, then re-checks; only then is it a violation.
    #[allow(clippy::too_many_arguments)] // internal; each caller names a different subset
    pub(crate) fn share_check_h_star(
        &mut self,
        file: FileId,
        acc: u32,
        shr: u32,
        except: Option<OpenId>,
        except_key: Option<CacheKey>,
        except_share: Option<&Arc<NlmOwner>>,
        proto: Proto,
        now: Instant,
    ) -> Option<Eval> {
        let conflicts = self.share_conflicts(file, acc, shr, except, except_share);
        if conflicts.is_empty() {
            return None;
        }
        let keys = self.h_leases_of(&conflicts, except_key);
        if !keys.is_empty() {
            let (_, wait) =
                self.break_leases(file, except_key, BreakKind::ShareH, Some(&keys), now);
            if wait {
                self.counters
                    .conflict(proto, ConflictKind::ShareMode, Resolution::Broke);
                return Some(Eval::Block(WaitReason::Break));
            }
        }
        self.counters
            .conflict(proto, ConflictKind::ShareMode, Resolution::Denied);
        let first = conflicts.into_iter().next()?;
        Some(Eval::Done(Outcome::Deny(Deny::SharingViolation(first))))
    }

    // ----- waiters -----------------------------------------------------------------

    /// Evaluates `op` and queues it if it must wait.
    pub(crate) fn run(&mut self, file: FileId, mut op: Op, now: Instant) -> Outcome {
        match self.eval(file, &mut op, now, true) {
            Eval::Done(o) => {
                self.gc_file(file);
                o
            }
            Eval::Block(reason) => self.enqueue(file, op, reason, now),
        }
    }

    fn enqueue(&mut self, file: FileId, op: Op, reason: WaitReason, now: Instant) -> Outcome {
        let fs = self.files.entry(file).or_default();
        if fs.waiters.len() >= self.cfg.max_waiters_per_file {
            self.gc_file(file);
            return Outcome::Deny(Deny::NoLocks);
        }
        let ticket = Ticket(self.next_ticket);
        self.next_ticket += 1;
        let hold_until = match (op.proto(), &reason) {
            (Proto::Nfs, _) => Some(now + self.cfg.nfs_wait),
            (Proto::Nlm, WaitReason::Break) => Some(now + self.cfg.nlm_wait),
            _ => None,
        };
        if let Some(k) = op.owner_key() {
            self.owner_waits.entry(k).or_default().push(ticket);
        }
        fs.waiters.push_back(Waiter {
            ticket,
            op,
            reason: reason.clone(),
            hold_until,
            enqueued: now,
        });
        self.tickets.insert(ticket, file);
        if let Some(at) = hold_until {
            self.add_timer(at, Timer::Hold(ticket));
        }
        Outcome::Wait(Wait {
            ticket,
            reason,
            hold_until,
        })
    }

    /// Removes a waiter; returns it.
    pub(crate) fn remove_waiter(&mut self, ticket: Ticket) -> Option<Waiter> {
        let file = self.tickets.remove(&ticket)?;
        let fs = self.files.get_mut(&file)?;
        let pos = fs.waiters.iter().position(|w| w.ticket == ticket)?;
        let w = fs.waiters.remove(pos)?;
        if let Some(k) = w.op.owner_key() {
            if let Some(v) = self.owner_waits.get_mut(&k) {
                v.retain(|t| *t != ticket);
                if v.is_empty() {
                    self.owner_waits.remove(&k);
                }
            }
        }
        self.gc_file(file);
        Some(w)
    }

    /// Cancels a waiting operation (SMB2 CANCEL → STATUS_CANCELLED; NLM CANCEL uses
    /// [`nlm_cancel`](Self::nlm_cancel)). Returns false if the ticket is not waiting
    /// (already completed, or unknown). No completion event is emitted for it.
    pub fn cancel(&mut self, ticket: Ticket, now: Instant) -> bool {
        let file = self.tickets.get(&ticket).copied();
        let found = self.remove_waiter(ticket).is_some();
        if let Some(f) = file {
            // A cancelled waiter may have been first in line for a range.
            self.wake(f, now);
        }
        found
    }

    /// Cancels several waiting operations together: all leave their queues before any file
    /// is woken, so the removal of one cannot grant another of them (which nobody would
    /// then hold). Returns how many were waiting. No completion event is emitted for them.
    pub fn cancel_many(&mut self, tickets: &[Ticket], now: Instant) -> usize {
        let mut files = Vec::new();
        let mut n = 0;
        for t in tickets {
            let file = self.tickets.get(t).copied();
            if self.remove_waiter(*t).is_some() {
                n += 1;
                files.extend(file);
            }
        }
        files.sort_unstable();
        files.dedup();
        for f in files {
            self.wake(f, now);
        }
        n
    }

    fn hold_expired(&mut self, ticket: Ticket) {
        let Some(&file) = self.tickets.get(&ticket) else {
            return;
        };
        let stays = self
            .files
            .get(&file)
            .and_then(|fs| fs.waiters.iter().find(|w| w.ticket == ticket))
            .is_some_and(|w| w.op.stays_after_hold());
        if stays {
            if let Some(w) = self
                .files
                .get_mut(&file)
                .and_then(|fs| fs.waiters.iter_mut().find(|w| w.ticket == ticket))
            {
                w.hold_until = None;
            }
        } else {
            self.remove_waiter(ticket);
        }
        self.events.push_back(Event::HoldExpired {
            ticket,
            file,
            still_waiting: stays,
        });
    }

    /// Re-evaluates the waiters of `file` in FIFO order; completed ones leave the queue
    /// with [`Event::Completed`]. Repeats while a pass completed something, because a
    /// grant can itself release a range (an NLM downgrade).
    pub(crate) fn wake(&mut self, file: FileId, now: Instant) {
        if self.waking {
            if !self.wake_pending.contains(&file) {
                self.wake_pending.push(file);
            }
            return;
        }
        self.waking = true;
        let mut todo = vec![file];
        while let Some(f) = todo.pop() {
            while let Some(fs) = self.files.get_mut(&f) {
                if fs.waiters.is_empty() {
                    break;
                }
                let queue = std::mem::take(&mut fs.waiters);
                let mut keep = VecDeque::with_capacity(queue.len());
                let mut progressed = false;
                for mut w in queue {
                    match self.eval(f, &mut w.op, now, false) {
                        Eval::Done(outcome) => {
                            progressed = true;
                            let prior = self.grant_prior.take();
                            if let (
                                Outcome::Proceed,
                                Some(prior),
                                Op::NlmLock {
                                    owner,
                                    range,
                                    exclusive,
                                    ..
                                },
                            ) = (&outcome, prior, &w.op)
                            {
                                let (owner, range, exclusive) = (owner.clone(), *range, *exclusive);
                                self.note_grant(w.ticket, f, owner, range, exclusive, prior);
                            }
                            self.tickets.remove(&w.ticket);
                            if let Some(k) = w.op.owner_key() {
                                if let Some(v) = self.owner_waits.get_mut(&k) {
                                    v.retain(|t| *t != w.ticket);
                                    if v.is_empty() {
                                        self.owner_waits.remove(&k);
                                    }
                                }
                            }
                            self.counters
                                .record_wait(now.saturating_duration_since(w.enqueued));
                            self.events.push_back(Event::Completed {
                                ticket: w.ticket,
                                file: f,
                                outcome,
                            });
                        }
                        Eval::Block(reason) => {
                            w.reason = reason;
                            keep.push_back(w);
                        }
                    }
                }
                let fs = self.files.entry(f).or_default();
                // Nothing enqueues during a wake, but keep any arrivals behind the old queue.
                keep.extend(std::mem::take(&mut fs.waiters));
                fs.waiters = keep;
                if !progressed {
                    break;
                }
            }
            self.gc_file(f);
            todo.append(&mut self.wake_pending);
        }
        self.waking = false;
    }

    /// Drops a file's entry when nothing is left in it (keeps memory bounded by live state).
    pub(crate) fn gc_file(&mut self, file: FileId) {
        let Some(fs) = self.files.get_mut(&file) else {
            return;
        };
        if fs.extra.as_ref().is_some_and(|x| x.is_empty()) {
            fs.extra = None;
        }
        if fs.locks.is_empty() && fs.extra.is_none() {
            self.files.remove(&file);
        }
    }

    /// Would `requester` waiting on `blockers` close a cycle in the wait-for graph? Edges go from a
    /// waiting owner to the owners of the locks it waits on, across protocols
    /// (docs/cross-protocol.md §4.5 "Cross-protocol deadlock").
    pub(crate) fn would_deadlock(&self, requester: OwnerKey, blockers: Vec<OwnerKey>) -> bool {
        let mut stack = blockers;
        let mut seen: FxSet<OwnerKey> = FxSet::default();
        while let Some(b) = stack.pop() {
            if b == requester {
                return true;
            }
            if !seen.insert(b) {
                continue;
            }
            let Some(ts) = self.owner_waits.get(&b) else {
                continue;
            };
            for t in ts {
                let Some(&f) = self.tickets.get(t) else {
                    continue;
                };
                let Some(w) = self
                    .files
                    .get(&f)
                    .and_then(|fs| fs.waiters.iter().find(|w| w.ticket == *t))
                else {
                    continue;
                };
                let next = match &w.op {
                    Op::NlmLock {
                        owner,
                        range,
                        exclusive,
                        ..
                    } => self.conflicting_owners(
                        f,
                        &Access {
                            span: Span::range(*range),
                            exclusive: *exclusive,
                            lock_intent: true,
                            who: Requester::Nlm(owner),
                        },
                    ),
                    Op::SmbLock {
                        open,
                        span,
                        exclusive,
                        ..
                    } => self.conflicting_owners(
                        f,
                        &Access {
                            span: *span,
                            exclusive: *exclusive,
                            lock_intent: true,
                            who: Requester::Smb(*open),
                        },
                    ),
                    _ => Vec::new(),
                };
                stack.extend(next);
            }
        }
        false
    }

    /// Evaluates one operation (first time or re-evaluation of a waiter).
    pub(crate) fn eval(&mut self, file: FileId, op: &mut Op, now: Instant, first: bool) -> Eval {
        match op {
            Op::NlmLock { .. } => self.eval_nlm_lock(file, op, now, first),
            Op::NlmTest { .. } => self.eval_nlm_test(file, op, now),
            Op::NlmShare { .. } => self.eval_nlm_share(file, op, now),
            Op::Nfs { .. } => self.eval_nfs(file, op, now, first),
            Op::SmbCreate(_) => self.eval_smb_create(file, op, now),
            Op::SmbLock { .. } => self.eval_smb_lock(file, op, now, first),
            Op::SmbIo { .. } => self.eval_smb_io(file, op, now),
            Op::SmbNamespace { .. } => self.eval_smb_namespace(file, op, now),
            Op::SmbSetSize { .. } => self.eval_smb_set_size(file, op, now),
        }
    }
}

/// Oplocks break only to Level II or None (docs/cross-protocol.md §2.1): RH/R → R, anything
/// else → NONE.
pub(crate) fn oplock_target(target: LeaseState, oplock: bool) -> LeaseState {
    if !oplock {
        return target.normalized();
    }
    match target {
        LeaseState::RWH | LeaseState::RW => target,
        t if t.contains(LeaseState::R) => LeaseState::R,
        _ => LeaseState::NONE,
    }
}

pub(crate) fn lease_record(k: CacheKey, l: &Lease) -> Change {
    Change::Lease {
        key: k,
        file: l.file,
        client: l.client,
        state: l.state,
        epoch: l.epoch,
        version: l.version,
    }
}

/// MS-FSA 2.1.5.1.2.1 share check between an opener (`acc`, `shr`) and an existing open
/// (`ea`, `es`). Opens without data or delete access take no part (attribute-only opens).
pub(crate) fn share_clash(acc: u32, shr: u32, ea: u32, es: u32) -> bool {
    use access::{APPEND_DATA, DELETE, EXECUTE, READ_DATA, SHARED_CHECKED, WRITE_DATA};
    if acc & SHARED_CHECKED == 0 || ea & SHARED_CHECKED == 0 {
        return false;
    }
    let reads = |a: u32| a & (READ_DATA | EXECUTE) != 0;
    let writes = |a: u32| a & (WRITE_DATA | APPEND_DATA) != 0;
    let deletes = |a: u32| a & DELETE != 0;
    (reads(ea) && shr & share::READ == 0)
        || (writes(ea) && shr & share::WRITE == 0)
        || (deletes(ea) && shr & share::DELETE == 0)
        || (reads(acc) && es & share::READ == 0)
        || (writes(acc) && es & share::WRITE == 0)
        || (deletes(acc) && es & share::DELETE == 0)
}

/// NLM SHARE reservations are keyed by host + oh (Linux `nlmsvc_share_file`).
pub(crate) fn same_share_owner(a: &NlmOwner, b: &NlmOwner) -> bool {
    a.caller_name == b.caller_name && a.oh == b.oh
}
