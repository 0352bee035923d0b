//! Read-only views of the table (the "unified view" the protocols and an admin command
//! query) and counters for the runtime to export as metrics.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::outcome::{Holder, WaitReason};
use crate::table::{Lock, LockOwner, LockTable};
use crate::types::{CacheKey, ClientGuid, FileId, LeaseState, LockId, NlmOwner, OpenId, Ticket};

/// The protocol that initiated an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    /// NLM v4.
    Nlm,
    /// NFSv3.
    Nfs,
    /// SMB 2/3.
    Smb,
}

/// What kind of existing state an operation ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConflictKind {
    /// An NLM byte-range lock.
    NlmLock,
    /// An SMB byte-range lock.
    SmbLock,
    /// An SMB lease or oplock (a break was needed).
    Lease,
    /// A share mode (SMB open or NLM SHARE).
    ShareMode,
    /// Unreclaimed state in the grace period.
    Grace,
}

impl ConflictKind {
    pub(crate) fn of_lock(l: &Lock) -> ConflictKind {
        match l.owner {
            LockOwner::Nlm(_) => ConflictKind::NlmLock,
            LockOwner::Smb { .. } => ConflictKind::SmbLock,
        }
    }
}

/// How the conflict was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resolution {
    /// The operation was refused.
    Denied,
    /// The operation waited.
    Waited,
    /// A break was sent and the operation went ahead without waiting.
    Broke,
    /// Refused as a deadlock.
    Deadlock,
}

/// Duration statistics with fixed buckets (upper bounds in ms: 1, 10, 100, 1000, 10000,
/// 35000, and above).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DurationStats {
    /// Number of samples.
    pub count: u64,
    /// Sum of samples.
    pub total: Duration,
    /// Largest sample.
    pub max: Duration,
    /// Sample counts per bucket (see [`DurationStats::BOUNDS_MS`], last = above).
    pub buckets: [u64; 7],
}

impl DurationStats {
    /// Bucket upper bounds in milliseconds.
    pub const BOUNDS_MS: [u64; 6] = [1, 10, 100, 1_000, 10_000, 35_000];

    fn add(&mut self, d: Duration) {
        self.count += 1;
        self.total += d;
        self.max = self.max.max(d);
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let i = Self::BOUNDS_MS
            .iter()
            .position(|b| ms <= *b)
            .unwrap_or(Self::BOUNDS_MS.len());
        self.buckets[i] += 1;
    }
}

/// Counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Conflicts by (initiator, conflicting kind, resolution).
    pub conflicts: BTreeMap<(Proto, ConflictKind, Resolution), u64>,
    /// Break notifications sent.
    pub breaks_sent: u64,
    /// Breaks that timed out (treated as acknowledged to NONE).
    pub break_timeouts: u64,
    /// Time from break notification to ack or timeout.
    pub break_durations: DurationStats,
    /// Time waiters spent queued before completing.
    pub wait_durations: DurationStats,
}

impl Counters {
    pub(crate) fn conflict(&mut self, p: Proto, k: ConflictKind, r: Resolution) {
        *self.conflicts.entry((p, k, r)).or_default() += 1;
    }
    pub(crate) fn record_break_duration(&mut self, d: Duration) {
        self.break_durations.add(d);
    }
    pub(crate) fn record_wait(&mut self, d: Duration) {
        self.wait_durations.add(d);
    }
    /// One conflict counter (0 if never seen).
    pub fn get(&self, p: Proto, k: ConflictKind, r: Resolution) -> u64 {
        self.conflicts.get(&(p, k, r)).copied().unwrap_or(0)
    }
}

/// Everything held on a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileView {
    /// The file.
    pub file: FileId,
    /// Byte-range locks, by start offset.
    pub locks: Vec<LockView>,
    /// SMB opens.
    pub opens: Vec<OpenView>,
    /// NLM SHARE reservations.
    pub shares: Vec<ShareView>,
    /// Leases and oplocks.
    pub leases: Vec<LeaseView>,
    /// Waiting operations, in FIFO order.
    pub waiters: Vec<WaiterView>,
    /// Unreclaimed items in grace.
    pub unreclaimed: usize,
}

/// One lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockView {
    /// Its id.
    pub id: LockId,
    /// Holder, range and mode.
    pub holder: Holder,
}

/// One SMB open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenView {
    /// Open id.
    pub open: OpenId,
    /// Client.
    pub client: ClientGuid,
    /// DesiredAccess.
    pub access: u32,
    /// ShareAccess.
    pub share_access: u32,
    /// Durable.
    pub durable: bool,
    /// Its lease/oplock.
    pub cache: Option<CacheKey>,
}

/// One NLM SHARE reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareView {
    /// Owner.
    pub owner: Arc<NlmOwner>,
    /// fsh4_access.
    pub access: u32,
    /// fsh4_mode.
    pub deny: u32,
}

/// One lease or oplock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseView {
    /// Key.
    pub key: CacheKey,
    /// Client.
    pub client: ClientGuid,
    /// Current state.
    pub state: LeaseState,
    /// Lease.Breaking.
    pub breaking: bool,
    /// What the notification in flight offered.
    pub break_to: LeaseState,
    /// What conflicting operations together require.
    pub required: LeaseState,
    /// Epoch.
    pub epoch: u16,
    /// Opens.
    pub opens: Vec<OpenId>,
    /// Ack deadline of the break in flight.
    pub deadline: Option<Instant>,
    /// The last break timed out.
    pub timed_out: bool,
}

/// One waiter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaiterView {
    /// Ticket.
    pub ticket: Ticket,
    /// Initiating protocol.
    pub proto: Proto,
    /// What it waits for.
    pub reason: WaitReason,
    /// Bounded hold.
    pub hold_until: Option<Instant>,
}

impl LockTable {
    /// The unified view of `file`.
    pub fn view(&self, file: FileId) -> FileView {
        let fs = self.files.get(&file);
        let locks = fs
            .map(|f| {
                f.locks
                    .iter()
                    .map(|l| LockView {
                        id: l.id,
                        holder: self.lock_holder(l),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut opens: Vec<OpenView> = fs
            .map(|f| {
                f.opens
                    .iter()
                    .filter_map(|id| {
                        self.opens.get(id).map(|o| OpenView {
                            open: *id,
                            client: o.client,
                            access: o.access,
                            share_access: o.share_access,
                            durable: o.durable,
                            cache: o.cache,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        opens.sort_by_key(|o| o.open);
        let shares = fs
            .map(|f| {
                f.shares
                    .iter()
                    .map(|s| ShareView {
                        owner: s.owner.clone(),
                        access: s.access,
                        deny: s.deny,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut leases: Vec<LeaseView> = fs
            .map(|f| {
                f.leases
                    .iter()
                    .filter_map(|k| self.lease_view(*k))
                    .collect()
            })
            .unwrap_or_default();
        leases.sort_by_key(|l| l.key);
        let waiters = fs
            .map(|f| {
                f.waiters
                    .iter()
                    .map(|w| WaiterView {
                        ticket: w.ticket,
                        proto: w.op.proto(),
                        reason: w.reason.clone(),
                        hold_until: w.hold_until,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let unreclaimed = self
            .grace
            .as_ref()
            .and_then(|g| g.files.get(&file))
            .map_or(0, |u| u.locks.len() + u.shares.len() + u.opens.len());
        FileView {
            file,
            locks,
            opens,
            shares,
            leases,
            waiters,
            unreclaimed,
        }
    }

    /// One lease or oplock.
    pub fn lease_view(&self, key: CacheKey) -> Option<LeaseView> {
        let l = self.leases.get(&key)?;
        let mut opens = l.opens.clone();
        opens.sort();
        Some(LeaseView {
            key,
            client: l.client,
            state: l.state,
            breaking: l.breaking,
            break_to: l.break_to,
            required: l.required,
            epoch: l.epoch,
            opens,
            deadline: l.deadline,
            timed_out: l.timed_out,
        })
    }

    /// Every file the table holds state on (sorted).
    pub fn files(&self) -> Vec<FileId> {
        let mut v: Vec<FileId> = self.files.keys().copied().collect();
        v.sort();
        v
    }

    /// Total byte-range locks held.
    pub fn lock_count(&self) -> usize {
        self.total_locks
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
}
