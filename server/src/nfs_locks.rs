//! NFS obeys the lock table (docs/cross-protocol.md §4, matrix rows 4–10; docs/architecture.md,
//! "How a request flows", step 3).
//!
//! Every NFSv3 request that passed write ordering ([`crate::write_behind`]) comes here before
//! its job is emitted. The table is asked the question of the request's matrix row
//! (docs/cross-protocol.md §4.1 rule 1):
//!
//! | procedure | table call | file |
//! |---|---|---|
//! | READ | `nfs_read(offset, count)` | from the handle |
//! | WRITE | `nfs_write(offset, count)` | from the handle |
//! | SETATTR with a size | `nfs_set_size` | from the handle |
//! | CREATE UNCHECKED with a size, over an existing regular file | `nfs_create_truncate` | looked up |
//! | REMOVE, RMDIR | `nfs_remove` | looked up |
//! | RENAME | `nfs_rename_source`, then `nfs_rename_target` if the target exists | looked up |
//! | CREATE, MKDIR, SYMLINK, MKNOD, LINK, REMOVE, RMDIR, RENAME | `parent_changed` on each directory changed (O12) | from the handle |
//!
//! `Proceed` runs the job. `Deny` answers at once: NFS3ERR_ACCES for a byte-range conflict
//! (O9), a sharing violation or a rename over an open target (§4.2 "table decision" mapping),
//! NFS3ERR_JUKEBOX for `RetryLater` (grace, §5) and for `NoLocks` (the table's waiter bound: the
//! client should retry, RFC 1813 §2.6). `Wait(ticket)` holds the request, not a thread: the
//! request waits in the core until the table completes the ticket (then the next check, or
//! the job) or its hold expires after `T_nfs` (`nfs_wait_ms`, O3): the table drops the waiter
//! and the client gets NFS3ERR_JUKEBOX (RFC 1813 §2.6: "the server initiated the request, but
//! was not able to complete it in a timely fashion"), with the procedure's reply shape and no
//! attributes (`wcc_data` and `post_op_attr` may be empty, RFC 1813 §2.6/§3.3). A held request
//! stays an RPC request in progress (its connection's in-flight slot and its duplicate-request
//! cache entry stay taken, so `Core::has_calls_in_progress` reports it and a retransmission is
//! not executed twice); at most `CoreLimits::max_held_nfs` are held at once (more: JUKEBOX at
//! once); when its connection closes it is withdrawn from the table and forgotten by the RPC
//! server (a retransmission on a new connection is executed afresh).
//!
//! # Closing the window between decision and job
//! A decision is only good while nothing the table would weigh changes before the job has
//! done its file-system work. Two things could change it: new SMB state on the file (an SMB
//! CREATE, lease or lock granted between the decision and the job), and, for requests that
//! name files by (directory, name), the name coming to denote another file between the lookup
//! that found the file and the job that changes it. The core closes both with an **in-flight
//! gate**, keyed by file id (hashed to [`GATE_SLOTS`] slots: a collision only makes
//! something wait, never lets it through):
//!
//! 1. Every job that a decision admitted holds the slots of the files it was decided on (and of
//!    the directories it changes) *shared* from the moment the core emits it until its
//!    file-system work is over (for a write-behind WRITE: until its deferred data write ended).
//!    The slots travel with the job ([`GateToken`]) and come back with its result, so this
//!    costs two array updates per request, no map and no allocation.
//! 2. A table operation that could grant SMB state (SMB CREATE of a file or in a directory, SMB
//!    LOCK) runs only when its slots are free; otherwise it is parked in the slot's FIFO and
//!    runs, in order, when the last job holding the slot came back ([`SmbSubmit::Parked`]; its
//!    answer comes out of `Core::poll_lock_event`). NFS requests arriving behind a parked
//!    operation wait behind it, so a stream of NFS I/O cannot starve SMB. Operations that only
//!    release state (unlock, close, break acknowledgments) cannot make a decision wrong and
//!    run at once (unless an earlier parked request of the same open is queued: per-open
//!    order is kept).
//! 3. Name-based decisions serialize per directory: REMOVE, RMDIR, RENAME and CREATE-truncate,
//!    when the table holds any state that could matter (else no lookup is made at all, see
//!    `LockTable::nfs_namespace_unconstrained`), take their directories' slots *exclusively*
//!    when no job holds them, look the names up with internal LOOKUP jobs, decide, and keep the
//!    exclusive hold until their own job came back. No other namespace change in those
//!    directories (NFS or SMB, through the core) can run between the lookup and the job, so the
//!    file the decision was about is the file the job changes. (Changes made by local processes
//!    on a passthrough backend are outside the core's sight, docs/architecture.md lesson 22.)
//!
//! A held request (a `Wait` ticket) holds no shared slot while it waits: the table itself
//! re-evaluates it when the break completes, and the core emits its job in the same step,
//! taking the slots then, before any other input can reach the table.
//!
//! # Cost when there is no SMB state
//! READ and WRITE on a file without table state cost one hash lookup in the table (its fast
//! path), two gate array updates and nothing else: no job, no allocation. Namespace operations
//! cost an O(1) test of the whole table; they look names up only while SMB opens or leases, NLM
//! share reservations or a grace period exist.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use lockstate::{
    AckError, BreakNotice, ClientGuid, Deny, Event, FileId, LeaseKey, LeaseState, OpenId,
    OplockLevel, Outcome, SmbCreate, SmbLockArgs, Ticket,
};
use proto_nfs::nfs3::{
    CreateHow3, DirOpArgs3, FType3, FileHandle, LookupArgs, Nfs3Call, Nfs3Reply, Nfs3Result,
    Nfs3Status,
};
use proto_nfs::server::{ConnId, FsRequest, FsRequestId};

use crate::service::Job;
use crate::write_behind::handle_file_id;
use crate::Core;

/// Slots of the in-flight gate (see the module documentation).
pub const GATE_SLOTS: usize = 1024;

/// The most times one request may be held on a ticket (a RENAME checks two files); beyond it
/// the client gets NFS3ERR_JUKEBOX, so no request is held for more than a few `T_nfs`.
const MAX_HOLDS: u8 = 3;

fn slot(f: FileId) -> u16 {
    // File ids are FNV-1a hashes: fold the high half in, then keep the low bits.
    ((f.0 ^ (f.0 >> 32)) % GATE_SLOTS as u64) as u16
}

/// The gate slots a job holds, returned with its result (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GateToken {
    /// (slot, exclusive) entries; the first `n` are used.
    slots: [(u16, bool); 4],
    n: u8,
}

impl GateToken {
    /// A token that holds nothing.
    pub const NONE: GateToken = GateToken {
        slots: [(0, false); 4],
        n: 0,
    };

    fn entries(&self) -> &[(u16, bool)] {
        &self.slots[..usize::from(self.n)]
    }

    fn has(&self, s: u16) -> bool {
        self.entries().iter().any(|(x, _)| *x == s)
    }

    /// Adds `f`'s slot unless present (at most four slots: two directories, two files).
    fn add(&mut self, f: FileId, exclusive: bool) {
        let s = slot(f);
        if !self.has(s) && usize::from(self.n) < self.slots.len() {
            self.slots[usize::from(self.n)] = (s, exclusive);
            self.n += 1;
        }
    }

    fn shared_only(&self) -> GateToken {
        let mut t = GateToken::NONE;
        for &(s, x) in self.entries() {
            if !x {
                t.slots[usize::from(t.n)] = (s, false);
                t.n += 1;
            }
        }
        t
    }
}

/// An SMB request the lock table must see (the SMB machine, next issue, makes these calls;
/// tests make them directly). Requests that can grant state, or change a directory, pass the
/// in-flight gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmbRequest {
    /// SMB2 CREATE (`LockTable::smb_create`); `parent`: the directory it is in (a create
    /// changes the directory, so it waits for namespace jobs there).
    Create {
        /// The create.
        create: SmbCreate,
        /// The directory the file is in.
        parent: Option<FileId>,
    },
    /// One SMB2 LOCK element on `file` (`LockTable::smb_lock`).
    Lock {
        /// The open's file.
        file: FileId,
        /// The lock.
        args: SmbLockArgs,
    },
    /// One SMB2 UNLOCK element (`LockTable::smb_unlock`).
    Unlock {
        /// The open.
        open: OpenId,
        /// Offset.
        offset: u64,
        /// Length.
        length: u64,
    },
    /// SET_INFO of the end of file or allocation size (`LockTable::smb_set_size`).
    SetSize {
        /// The open's file.
        file: FileId,
        /// The open.
        open: OpenId,
    },
    /// SMB2 CLOSE (`LockTable::smb_close`).
    Close {
        /// The open.
        open: OpenId,
    },
    /// SET_INFO FileRenameInformation (`LockTable::smb_rename`) or FileDispositionInformation
    /// (`LockTable::smb_delete`): a namespace change in `dirs` (the source directory, and the
    /// target directory of a rename), so it waits for NFS namespace jobs there (module
    /// documentation, point 3).
    Namespace {
        /// The open.
        open: OpenId,
        /// True for a rename, false for a delete.
        rename: bool,
        /// The directories changed.
        dirs: [Option<FileId>; 2],
    },
}

impl SmbRequest {
    fn open(&self) -> OpenId {
        match self {
            SmbRequest::Create { create, .. } => create.open,
            SmbRequest::Lock { args, .. } => args.open,
            SmbRequest::Unlock { open, .. }
            | SmbRequest::SetSize { open, .. }
            | SmbRequest::Close { open }
            | SmbRequest::Namespace { open, .. } => *open,
        }
    }

    /// The slots that must be free for it to run (none for releases).
    fn gate(&self) -> GateToken {
        let mut t = GateToken::NONE;
        match self {
            SmbRequest::Create { create, parent } => {
                t.add(create.file, true);
                if let Some(p) = parent {
                    t.add(*p, true);
                }
            }
            SmbRequest::Lock { file, .. } | SmbRequest::SetSize { file, .. } => t.add(*file, true),
            SmbRequest::Namespace { dirs, .. } => {
                for d in dirs.iter().flatten() {
                    t.add(*d, true);
                }
            }
            SmbRequest::Unlock { .. } | SmbRequest::Close { .. } => {}
        }
        t
    }
}

/// Identifies an SMB request parked at the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SmbRequestId(pub u64);

/// What [`Core::smb_request`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmbSubmit {
    /// The table answered (a `Wait` completes later as [`LockEvent::SmbCompleted`]).
    Done(Outcome),
    /// An NFS job the table admitted is in flight on the file (or its directory): the
    /// request runs when it came back, and its answer is [`LockEvent::SmbParkedDone`].
    Parked(SmbRequestId),
}

/// Lock-table output for the SMB side (the SMB machine of the next issue consumes these;
/// until then tests do). Drained with `Core::poll_lock_event`. Every event here follows from
/// an SMB request made through the core ([`Core::smb_request`] and the acknowledgments), so a
/// runtime that serves no SMB never sees one and need not drain them. (The end of grace is
/// not one: `Core::in_grace` tells.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockEvent {
    /// Send a lease or oplock break notification.
    Break(BreakNotice),
    /// A waiting SMB request (STATUS_PENDING) finished.
    SmbCompleted {
        /// Its ticket.
        ticket: Ticket,
        /// Its file.
        file: FileId,
        /// The final outcome.
        outcome: Outcome,
    },
    /// A request parked at the gate ran.
    SmbParkedDone {
        /// The id [`SmbSubmit::Parked`] gave.
        id: SmbRequestId,
        /// The table's answer.
        outcome: Outcome,
    },
}

/// Counters of the NFS side of the lock table (tests, logs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NfsLockStats {
    /// Requests held on a ticket right now.
    pub held: usize,
    /// Requests that were held on a ticket, so far.
    pub holds: u64,
    /// NFS3ERR_JUKEBOX answers (hold expired, hold limit, `RetryLater`).
    pub jukebox: u64,
    /// NFS3ERR_ACCES answers from table decisions.
    pub denied: u64,
    /// Internal LOOKUP jobs emitted to resolve names.
    pub lookups: u64,
    /// NFS requests and SMB requests parked at the gate right now.
    pub parked: usize,
}

/// One check of a request: what to ask the table about which file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Read { offset: u64, count: u64 },
    Write { offset: u64, count: u64 },
    SetSize,
    CreateTruncate,
    Remove,
    RenameSource,
    RenameTarget,
}

/// What a name lookup is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Remove,
    RenameSource,
    RenameTarget,
    CreateTruncate,
}

/// How a request meets the table.
enum Plan {
    /// Not in rows 4–10.
    Free,
    /// A check of the file its handle names.
    File(FileId, Check),
    /// A namespace change of these directories, after resolving these names.
    Names {
        dirs: [Option<FileId>; 2],
        lookups: Vec<(Role, DirOpArgs3)>,
    },
}

fn plan_of(call: &Nfs3Call) -> Plan {
    let dir = |d: &DirOpArgs3| handle_file_id(&d.dir);
    let names = |dirs: [Option<FileId>; 2], lookups: Vec<(Role, DirOpArgs3)>| {
        let dirs = if dirs[0] == dirs[1] {
            [dirs[0], None]
        } else {
            dirs
        };
        Plan::Names { dirs, lookups }
    };
    let file = |fh: &FileHandle, c: Check| match handle_file_id(fh) {
        Some(f) => Plan::File(f, c),
        // A malformed handle: the executor answers NFS3ERR_BADHANDLE.
        None => Plan::Free,
    };
    match call {
        Nfs3Call::Read(a) => file(
            &a.file,
            Check::Read {
                offset: a.offset,
                count: u64::from(a.count),
            },
        ),
        Nfs3Call::Write(a) => file(
            &a.file,
            Check::Write {
                offset: a.offset,
                count: a.data.len() as u64,
            },
        ),
        Nfs3Call::Setattr(a) if a.new_attributes.size.is_some() => file(&a.object, Check::SetSize),
        Nfs3Call::Create(a) => {
            // Row 10b: UNCHECKED with a size over an existing regular file changes its size
            // (RFC 1813 §3.3.8); GUARDED and EXCLUSIVE consult no state (row 10a).
            let lookups = match &a.how {
                CreateHow3::Unchecked(s) if s.size.is_some() => {
                    vec![(Role::CreateTruncate, a.where_.clone())]
                }
                _ => Vec::new(),
            };
            names([dir(&a.where_), None], lookups)
        }
        Nfs3Call::Mkdir(a) => names([dir(&a.where_), None], Vec::new()),
        Nfs3Call::Symlink(a) => names([dir(&a.where_), None], Vec::new()),
        Nfs3Call::Mknod(a) => names([dir(&a.where_), None], Vec::new()),
        Nfs3Call::Link(a) => names([dir(&a.link), None], Vec::new()),
        Nfs3Call::Remove(a) | Nfs3Call::Rmdir(a) => names(
            [dir(&a.object), None],
            vec![(Role::Remove, a.object.clone())],
        ),
        Nfs3Call::Rename(a) => names(
            [dir(&a.from), dir(&a.to)],
            vec![
                (Role::RenameSource, a.from.clone()),
                (Role::RenameTarget, a.to.clone()),
            ],
        ),
        _ => Plan::Free,
    }
}

/// A request between its admission and its job.
#[derive(Debug)]
struct Pending {
    req: FsRequest,
    checks: [Option<(FileId, Check)>; 3],
    next: usize,
    /// Slots the job will hold shared, and slots held exclusively now (names, point 3).
    token: GateToken,
    /// Directories whose leases break when the job is emitted (O12).
    dirs: [Option<FileId>; 2],
    holds: u8,
}

/// A name-based request whose names are being looked up.
#[derive(Debug)]
struct Resolving {
    pending: Pending,
    roles: Vec<Role>,
    found: Vec<Option<(FileId, bool)>>,
    outstanding: usize,
}

/// Something parked at the gate.
#[derive(Debug)]
enum Parked {
    Nfs(FsRequest),
    Smb(SmbRequestId, SmbRequest),
}

/// The in-flight gate (module documentation, "Closing the window").
#[derive(Debug)]
pub(crate) struct Gate {
    shared: Box<[u32]>,
    exclusive: Box<[bool]>,
    queued: Box<[u32]>,
    queues: BTreeMap<u16, VecDeque<Parked>>,
    parked: usize,
}

impl Gate {
    fn new() -> Gate {
        Gate {
            shared: vec![0; GATE_SLOTS].into_boxed_slice(),
            exclusive: vec![false; GATE_SLOTS].into_boxed_slice(),
            queued: vec![0; GATE_SLOTS].into_boxed_slice(),
            queues: BTreeMap::new(),
            parked: 0,
        }
    }

    /// The first slot of `t` that has something parked in it.
    fn queued_at(&self, t: &GateToken) -> Option<u16> {
        t.entries()
            .iter()
            .map(|(s, _)| *s)
            .find(|s| self.queued[usize::from(*s)] > 0)
    }

    /// The first slot of `t` that blocks taking it (shared: held exclusively; exclusive:
    /// held at all).
    fn blocked_at(&self, t: &GateToken, exclusive: bool) -> Option<u16> {
        t.entries().iter().map(|(s, _)| *s).find(|&s| {
            let i = usize::from(s);
            self.exclusive[i] || (exclusive && self.shared[i] > 0)
        })
    }

    fn park(&mut self, s: u16, p: Parked, front: bool) {
        let q = self.queues.entry(s).or_default();
        if front {
            q.push_front(p);
        } else {
            q.push_back(p);
        }
        self.queued[usize::from(s)] += 1;
        self.parked += 1;
    }

    fn take(&mut self, t: &GateToken) {
        for &(s, x) in t.entries() {
            let i = usize::from(s);
            if x {
                self.exclusive[i] = true;
            } else {
                self.shared[i] += 1;
            }
        }
    }

    /// Releases `t`; returns the slots that became free and have something parked.
    fn release(&mut self, t: &GateToken, freed: &mut Vec<u16>) {
        for &(s, x) in t.entries() {
            let i = usize::from(s);
            if x {
                self.exclusive[i] = false;
            } else {
                self.shared[i] = self.shared[i].saturating_sub(1);
            }
            if !self.exclusive[i] && self.shared[i] == 0 && self.queued[i] > 0 {
                freed.push(s);
            }
        }
    }

    fn pop(&mut self, s: u16) -> Option<Parked> {
        let q = self.queues.get_mut(&s)?;
        let p = q.pop_front();
        if q.is_empty() {
            self.queues.remove(&s);
        }
        if p.is_some() {
            self.queued[usize::from(s)] -= 1;
            self.parked -= 1;
        }
        p
    }
}

/// The NFS side of the lock table in the core. See the module documentation.
#[derive(Debug)]
pub(crate) struct NfsLocks {
    gate: Gate,
    held: BTreeMap<Ticket, Pending>,
    max_held: usize,
    resolving: BTreeMap<u64, Resolving>,
    lookup_ids: BTreeMap<FsRequestId, (u64, usize)>,
    next_internal: u64,
    next_resolve: u64,
    next_smb: u64,
    events: VecDeque<LockEvent>,
    stats: NfsLockStats,
}

impl NfsLocks {
    pub(crate) fn new(max_held: usize) -> NfsLocks {
        NfsLocks {
            gate: Gate::new(),
            held: BTreeMap::new(),
            max_held,
            resolving: BTreeMap::new(),
            lookup_ids: BTreeMap::new(),
            // Internal LOOKUPs use ids from the top of the id space; the RPC server counts
            // its ids up from 0, so they never meet.
            next_internal: u64::MAX,
            next_resolve: 0,
            next_smb: 0,
            events: VecDeque::new(),
            stats: NfsLockStats::default(),
        }
    }

    pub(crate) fn stats(&self) -> NfsLockStats {
        NfsLockStats {
            held: self.held.len(),
            parked: self.gate.parked,
            ..self.stats
        }
    }

    pub(crate) fn poll_event(&mut self) -> Option<LockEvent> {
        self.events.pop_front()
    }

    /// Whether events wait for `Core::poll_lock_event` or the SMB side.
    pub(crate) fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// The events waiting, in order.
    pub(crate) fn events(&self) -> impl Iterator<Item = &LockEvent> {
        self.events.iter()
    }

    /// Takes the events `mine` selects out of the queue, keeping the order of the rest.
    pub(crate) fn take_events_where(
        &mut self,
        mut mine: impl FnMut(&LockEvent) -> bool,
    ) -> Vec<LockEvent> {
        let mut taken = Vec::new();
        let mut kept = VecDeque::with_capacity(self.events.len());
        for e in self.events.drain(..) {
            if mine(&e) {
                taken.push(e);
            } else {
                kept.push_back(e);
            }
        }
        self.events = kept;
        taken
    }

    /// Whether `id` is an internal LOOKUP of this module.
    pub(crate) fn is_lookup(&self, id: FsRequestId) -> bool {
        !self.lookup_ids.is_empty() && self.lookup_ids.contains_key(&id)
    }
}

/// The NFS status of a table refusal (docs/cross-protocol.md §4.1, the "table decision"
/// mapping; O9).
fn deny_status(d: &Deny) -> Nfs3Status {
    match d {
        Deny::Conflict(_) | Deny::SharingViolation(_) | Deny::AccessDenied => Nfs3Status::Acces,
        // Grace (§5: NFSv3 has no grace error) and the table's waiter bound: retry later.
        Deny::RetryLater | Deny::NoLocks | Deny::GracePeriod => Nfs3Status::Jukebox,
        _ => Nfs3Status::ServerFault,
    }
}

impl Core {
    /// A request that passed write ordering: ask the table, then emit its job (module
    /// documentation).
    pub(crate) fn admit_checked(&mut self, req: FsRequest, now: Instant) {
        self.admit_inner(req, false, now);
    }

    /// `from_gate`: the request comes from the front of a gate queue (it need not wait
    /// behind what is parked there).
    fn admit_inner(&mut self, req: FsRequest, from_gate: bool, now: Instant) {
        match plan_of(&req.call) {
            Plan::Free => self.emit(req, GateToken::NONE, now),
            Plan::File(file, check) => {
                let mut token = GateToken::NONE;
                token.add(file, false);
                if let Some(s) = self.gate_wait(&token, false, from_gate) {
                    self.locks.gate.park(s, Parked::Nfs(req), from_gate);
                    return;
                }
                let p = Pending {
                    req,
                    checks: [Some((file, check)), None, None],
                    next: 0,
                    token,
                    dirs: [None, None],
                    holds: 0,
                };
                self.run_checks(p, now);
            }
            Plan::Names { dirs, lookups } => {
                let quiet = lookups.is_empty() || self.nlm.table.nfs_namespace_unconstrained();
                let mut token = GateToken::NONE;
                for d in dirs.iter().flatten() {
                    token.add(*d, !quiet);
                }
                if let Some(s) = self.gate_wait(&token, !quiet, from_gate) {
                    self.locks.gate.park(s, Parked::Nfs(req), from_gate);
                    return;
                }
                let p = Pending {
                    req,
                    checks: [None, None, None],
                    next: 0,
                    token,
                    dirs,
                    holds: 0,
                };
                if quiet {
                    self.launch(p, now);
                } else {
                    self.locks.gate.take(&token.exclusive_only());
                    self.resolve(p, lookups);
                }
            }
        }
    }

    /// The slot `token` must wait at, if any.
    fn gate_wait(&self, token: &GateToken, exclusive: bool, from_gate: bool) -> Option<u16> {
        let g = &self.locks.gate;
        if g.parked > 0 && !from_gate {
            if let Some(s) = g.queued_at(token) {
                return Some(s);
            }
        }
        g.blocked_at(token, exclusive)
    }

    /// Emits the internal LOOKUPs of a name-based request.
    fn resolve(&mut self, p: Pending, lookups: Vec<(Role, DirOpArgs3)>) {
        let rid = self.locks.next_resolve;
        self.locks.next_resolve += 1;
        let vfs = std::sync::Arc::clone(self.shares.get(p.req.share_id));
        let mut roles = Vec::with_capacity(lookups.len());
        for (i, (role, what)) in lookups.into_iter().enumerate() {
            let id = FsRequestId(self.locks.next_internal);
            self.locks.next_internal -= 1;
            self.locks.lookup_ids.insert(id, (rid, i));
            self.locks.stats.lookups += 1;
            roles.push(role);
            self.jobs.push_back(Job::nfs(
                id,
                std::sync::Arc::clone(&vfs),
                self.exec.clone(),
                p.req.share_id,
                p.req.creds.clone(),
                Nfs3Call::Lookup(LookupArgs { what }),
                None,
                GateToken::NONE,
            ));
        }
        let n = roles.len();
        self.locks.resolving.insert(
            rid,
            Resolving {
                pending: p,
                found: vec![None; n],
                roles,
                outstanding: n,
            },
        );
    }

    /// The result of an internal LOOKUP.
    pub(crate) fn lookup_done(&mut self, id: FsRequestId, reply: Nfs3Reply, now: Instant) {
        let Some((rid, i)) = self.locks.lookup_ids.remove(&id) else {
            return;
        };
        let Some(r) = self.locks.resolving.get_mut(&rid) else {
            return;
        };
        // A name that does not resolve (NOENT, ACCES, ...) has no file to check; the job
        // itself then answers the error.
        if let Nfs3Reply::Lookup(Nfs3Result::Ok(ok)) = reply {
            let regular = ok
                .obj_attributes
                .as_ref()
                .is_some_and(|a| a.ftype == FType3::Reg);
            if let (Some(f), Some(slot)) = (handle_file_id(&ok.object), r.found.get_mut(i)) {
                *slot = Some((f, regular));
            }
        }
        r.outstanding -= 1;
        if r.outstanding > 0 {
            return;
        }
        let Some(r) = self.locks.resolving.remove(&rid) else {
            return;
        };
        let mut p = r.pending;
        let mut n = 0;
        let mut source = None;
        for (role, found) in r.roles.iter().zip(&r.found) {
            let Some((f, regular)) = *found else {
                continue;
            };
            let check = match role {
                Role::Remove => Check::Remove,
                Role::RenameSource => {
                    source = Some(f);
                    Check::RenameSource
                }
                // Renaming a file onto itself replaces nothing (RFC 1813 §3.3.14).
                Role::RenameTarget if source == Some(f) => continue,
                Role::RenameTarget => Check::RenameTarget,
                Role::CreateTruncate if regular => Check::CreateTruncate,
                Role::CreateTruncate => continue,
            };
            p.checks[n] = Some((f, check));
            n += 1;
            p.token.add(f, false);
        }
        self.run_checks(p, now);
    }

    /// Makes the request's remaining checks; runs its job when all proceed.
    fn run_checks(&mut self, mut p: Pending, now: Instant) {
        while let Some((file, check)) = p.checks.get(p.next).copied().flatten() {
            let t = &mut self.nlm.table;
            let out = match check {
                Check::Read { offset, count } => t.nfs_read(file, offset, count, now),
                Check::Write { offset, count } => t.nfs_write(file, offset, count, now),
                Check::SetSize => t.nfs_set_size(file, now),
                Check::CreateTruncate => t.nfs_create_truncate(file, now),
                Check::Remove => t.nfs_remove(file, now),
                Check::RenameSource => t.nfs_rename_source(file, now),
                Check::RenameTarget => t.nfs_rename_target(file, now),
            };
            match out {
                Outcome::Proceed | Outcome::Opened(_) => p.next += 1,
                Outcome::Deny(d) => return self.answer(p, deny_status(&d), now),
                Outcome::Wait(w) => return self.hold(p, w.ticket, now),
            }
        }
        self.launch(p, now);
    }

    /// Holds `p` on `ticket`, within the bounds.
    fn hold(&mut self, mut p: Pending, ticket: Ticket, now: Instant) {
        if self.locks.held.len() >= self.locks.max_held || p.holds >= MAX_HOLDS {
            self.nlm.table.cancel(ticket, now);
            return self.answer(p, Nfs3Status::Jukebox, now);
        }
        p.holds += 1;
        self.locks.stats.holds += 1;
        self.locks.held.insert(ticket, p);
    }

    /// Answers `p` with an error without running its job.
    fn answer(&mut self, p: Pending, status: Nfs3Status, now: Instant) {
        match status {
            Nfs3Status::Jukebox => self.locks.stats.jukebox += 1,
            _ => self.locks.stats.denied += 1,
        }
        let reply = Nfs3Reply::error_for(&p.req.call, status);
        self.rpc.handle_fs_result(now, p.req.id, reply);
        self.release_gate(&p.token.exclusive_only(), now);
    }

    /// The decision is to run: break the changed directories' leases (O12), take the
    /// shared slots, emit the job.
    fn launch(&mut self, p: Pending, now: Instant) {
        for d in p.dirs.iter().flatten() {
            self.nlm.table.parent_changed(*d, None, now);
        }
        self.locks.gate.take(&p.token.shared_only());
        self.emit(p.req, p.token, now);
    }

    /// Releases the slots of a job that came back (or of a request answered without one)
    /// and runs what was parked behind them.
    pub(crate) fn release_gate(&mut self, token: &GateToken, now: Instant) {
        if token.n == 0 {
            return;
        }
        let mut freed = Vec::new();
        self.locks.gate.release(token, &mut freed);
        for s in freed {
            self.drain_slot(s, now);
        }
    }

    /// Runs what is parked at the front of slot `s` while it can go.
    fn drain_slot(&mut self, s: u16, now: Instant) {
        while let Some(p) = self.locks.gate.pop(s) {
            match p {
                Parked::Nfs(req) => {
                    let before = self.locks.gate.queued[usize::from(s)];
                    self.admit_inner(req, true, now);
                    // Parked again at this slot's front: it must still wait.
                    if self.locks.gate.queued[usize::from(s)] > before {
                        return;
                    }
                }
                Parked::Smb(id, r) => {
                    let t = r.gate();
                    if let Some(b) = self.locks.gate.blocked_at(&t, true) {
                        self.locks.gate.park(b, Parked::Smb(id, r), b == s);
                        if b == s {
                            return;
                        }
                        continue;
                    }
                    let outcome = self.smb_run(r, now);
                    self.locks
                        .events
                        .push_back(LockEvent::SmbParkedDone { id, outcome });
                }
            }
        }
    }

    /// Routes the table events NLM did not take: NFS tickets here, the rest to SMB.
    /// Returns whether anything happened.
    pub(crate) fn route_lock_events(&mut self, now: Instant) -> bool {
        let mut any = false;
        loop {
            // The common case: the table has said nothing since the last time (one NFS
            // request after another on files without state).
            if self.nlm.others.is_empty() && !self.nlm.table.has_output() {
                return any;
            }
            // NFS replies made so far depend on no journal record: move them out before NLM's
            // held replies, which do, are sent.
            self.take_rpc_transmits(false);
            // Table events are taken out by the NLM side (its waiters first).
            let mut replies = Vec::new();
            self.nlm.drive(now, &mut self.journal.appends, &mut replies);
            if !replies.is_empty() {
                self.send_deferred(replies);
            }
            let evs = std::mem::take(&mut self.nlm.others);
            if evs.is_empty() {
                return any;
            }
            any = true;
            for ev in evs {
                match ev {
                    Event::Completed {
                        ticket,
                        file,
                        outcome,
                    } => match self.locks.held.remove(&ticket) {
                        Some(mut p) => match outcome {
                            Outcome::Deny(d) => self.answer(p, deny_status(&d), now),
                            _ => {
                                p.next += 1;
                                self.run_checks(p, now);
                            }
                        },
                        None => self.locks.events.push_back(LockEvent::SmbCompleted {
                            ticket,
                            file,
                            outcome,
                        }),
                    },
                    Event::HoldExpired { ticket, .. } => {
                        // T_nfs passed (O3): the table dropped the waiter; the break goes on.
                        if let Some(p) = self.locks.held.remove(&ticket) {
                            self.answer(p, Nfs3Status::Jukebox, now);
                        }
                    }
                    Event::Break(b) => self.locks.events.push_back(LockEvent::Break(b)),
                    Event::GraceEnded => tracing::debug!("lock table: the grace period ended"),
                }
            }
        }
    }

    /// A TCP connection closed: its held requests leave the table and the RPC server.
    pub(crate) fn drop_held_of(&mut self, conn: ConnId, now: Instant) {
        let gone: Vec<Ticket> = self
            .locks
            .held
            .iter()
            .filter(|(_, p)| self.rpc.fs_request_conn(p.req.id) == Some(conn))
            .map(|(t, _)| *t)
            .collect();
        for t in gone {
            if let Some(p) = self.locks.held.remove(&t) {
                self.nlm.table.cancel(t, now);
                self.rpc.abandon_fs_request(p.req.id);
                self.release_gate(&p.token.exclusive_only(), now);
            }
        }
    }

    /// Runs an SMB request against the table now.
    fn smb_run(&mut self, r: SmbRequest, now: Instant) -> Outcome {
        let t = &mut self.nlm.table;
        match r {
            SmbRequest::Create { create, .. } => t.smb_create(create, now),
            SmbRequest::Lock { args, .. } => t.smb_lock(args, now),
            SmbRequest::Unlock {
                open,
                offset,
                length,
            } => t.smb_unlock(open, offset, length, now),
            SmbRequest::Close { open } => t.smb_close(open, now),
            SmbRequest::SetSize { open, .. } => t.smb_set_size(open, now),
            SmbRequest::Namespace {
                open, rename: true, ..
            } => t.smb_rename(open, now),
            SmbRequest::Namespace { open, .. } => t.smb_delete(open, now),
        }
    }

    // ---- the SMB entry points (the SMB machine of the next issue calls these) ----

    /// An SMB request for the lock table, through the in-flight gate (module documentation,
    /// point 2). Drain [`Core::poll_lock_event`] afterwards.
    pub fn smb_request(&mut self, r: SmbRequest, now: Instant) -> SmbSubmit {
        self.now = now;
        let out = self.smb_submit(r, now);
        self.pump(now);
        out
    }

    /// [`Core::smb_request`] without draining the core afterwards: the SMB side of the core
    /// calls it from inside the pump.
    pub(crate) fn smb_submit(&mut self, r: SmbRequest, now: Instant) -> SmbSubmit {
        let t = r.gate();
        let g = &self.locks.gate;
        let mut wait = g.blocked_at(&t, true);
        if g.parked > 0 {
            wait = g.queued_at(&t).or(wait);
            if wait.is_none() {
                // Keep the order of one open's requests: behind its parked request.
                let open = r.open();
                wait = g.queues.iter().find_map(|(s, q)| {
                    q.iter()
                        .any(|p| matches!(p, Parked::Smb(_, o) if o.open() == open))
                        .then_some(*s)
                });
            }
        }
        match wait {
            Some(s) => {
                let id = SmbRequestId(self.locks.next_smb);
                self.locks.next_smb += 1;
                self.locks.gate.park(s, Parked::Smb(id, r), false);
                SmbSubmit::Parked(id)
            }
            None => SmbSubmit::Done(self.smb_run(r, now)),
        }
    }

    /// An SMB2 lease break acknowledgment (`LockTable::smb_lease_break_ack`). Never
    /// waits: it only gives up caching state.
    pub fn smb_lease_break_ack(
        &mut self,
        client: ClientGuid,
        key: LeaseKey,
        state: LeaseState,
        now: Instant,
    ) -> Result<LeaseState, AckError> {
        self.now = now;
        let r = self.nlm.table.smb_lease_break_ack(client, key, state, now);
        self.pump(now);
        r
    }

    /// An SMB2 oplock break acknowledgment (`LockTable::smb_oplock_break_ack`).
    pub fn smb_oplock_break_ack(
        &mut self,
        open: OpenId,
        level: OplockLevel,
        now: Instant,
    ) -> Result<OplockLevel, AckError> {
        self.now = now;
        let r = self.nlm.table.smb_oplock_break_ack(open, level, now);
        self.pump(now);
        r
    }

    /// The next lock-table event for the SMB side (breaks to send, completions).
    pub fn poll_lock_event(&mut self) -> Option<LockEvent> {
        self.locks.poll_event()
    }

    /// The one lock table (read-only: tests, metrics, the admin view).
    pub fn lock_table(&self) -> &lockstate::LockTable {
        &self.nlm.table
    }

    /// Counters of the NFS side of the lock table.
    pub fn nfs_lock_stats(&self) -> NfsLockStats {
        self.locks.stats()
    }
}

impl GateToken {
    fn exclusive_only(&self) -> GateToken {
        let mut t = GateToken::NONE;
        for &(s, x) in self.entries() {
            if x {
                t.slots[usize::from(t.n)] = (s, true);
                t.n += 1;
            }
        }
        t
    }
}
