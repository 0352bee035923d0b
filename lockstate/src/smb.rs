//! SMB2/3 operations (matrix A/B rows 11–20): CREATE with share modes and lease/oplock
//! requests, LOCK/UNLOCK with MS-FSA 2.1.4.10 semantics, READ/WRITE lock checks, rename and
//! delete, CLOSE, and lease/oplock break acknowledgments (MS-SMB2 3.3.5.22).
//!
//! SMB locks stack (no merge or split), unlock must match (open, offset, length) exactly
//! (MS-FSA 2.1.5.9), an open's own locks conflict with its overlapping exclusive lock
//! request but not with a shared one (a shared lock stacks on the open's exclusive lock,
//! MS-FSA 2.1.5.8), an owner's exclusive lock does not block its own I/O, a shared lock
//! blocks writes even by its owner.
//! Leases are granted by MS-FSA 2.1.5.18 with the MS-SMB2 3.3.5.9 fallback
//! RWH→RH→R→NONE; W is not granted while another owner holds NLM locks (O1).

use std::time::Instant;

use crate::outcome::{AckError, Deny, LeaseGrant, OpenGrant, Outcome, WaitReason};
use crate::persist::Change;
use crate::table::{
    lease_record, Access, BreakKind, Eval, Lease, Lock, LockOwner, LockTable, Op, Open, Requester,
};
use crate::types::{
    access, CacheKey, ClientGuid, FileId, LeaseKey, LeaseState, LeaseVersion, OpenId, OplockLevel,
    Span,
};
use crate::view::{ConflictKind, Proto, Resolution};

/// What caching an SMB CREATE asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheRequest {
    /// No lease, no oplock.
    None,
    /// A lease (SMB2_CREATE_REQUEST_LEASE / _V2).
    Lease {
        /// LeaseKey.
        key: LeaseKey,
        /// Requested LeaseState.
        state: LeaseState,
        /// v1 or v2 (with parent key).
        version: LeaseVersion,
    },
    /// An oplock.
    Oplock(OplockLevel),
}

/// An SMB2 CREATE as the lock table needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmbCreate {
    /// The file.
    pub file: FileId,
    /// The new open's id (must not be in use).
    pub open: OpenId,
    /// The client.
    pub client: ClientGuid,
    /// DesiredAccess (after MAXIMUM_ALLOWED / generic mapping).
    pub access: u32,
    /// ShareAccess.
    pub share_access: u32,
    /// FILE_OVERWRITE / FILE_OVERWRITE_IF / FILE_SUPERSEDE on an existing file.
    pub overwrite: bool,
    /// Lease or oplock request.
    pub cache: CacheRequest,
    /// A durable or persistent handle (its state survives a restart and is reclaimable).
    pub durable: bool,
    /// The stream's AllocationSize: a lock starting below it prevents R (MS-FSA 2.1.5.18).
    pub allocation_size: u64,
    /// The target is a directory: W is never granted (MS-SMB2 3.3.5.9.11).
    pub directory: bool,
    /// The Epoch of a v2 lease request (SMB2_CREATE_REQUEST_LEASE_V2): a new v2 lease
    /// starts at it plus one, the state having changed from NONE (MS-SMB2 3.3.5.9.11;
    /// Samba `grant_new_fsp_lease`, smbtorture smb2.lease.v2_epoch1).
    pub lease_epoch: u16,
}

impl SmbCreate {
    /// A plain create with no caching request, not durable.
    pub fn new(
        file: FileId,
        open: OpenId,
        client: ClientGuid,
        access: u32,
        share_access: u32,
    ) -> Self {
        SmbCreate {
            file,
            open,
            client,
            access,
            share_access,
            overwrite: false,
            cache: CacheRequest::None,
            durable: false,
            allocation_size: u64::MAX,
            directory: false,
            lease_epoch: 0,
        }
    }
    fn own_key(&self) -> Option<CacheKey> {
        match self.cache {
            CacheRequest::Lease { key, .. } => Some(CacheKey::Lease(self.client, key)),
            _ => None,
        }
    }
}

/// Whether `access` is a stat open for a holder that counts `stat_bits` as such: some of
/// them and nothing else (Samba `is_lease_stat_open` / `is_oplock_stat_open`).
fn is_stat_open(access: u32, stat_bits: u32) -> bool {
    access & stat_bits != 0 && access & !stat_bits == 0
}

/// Arguments of one SMB2 LOCK element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmbLockArgs {
    /// The open.
    pub open: OpenId,
    /// Offset.
    pub offset: u64,
    /// Length (0 allowed: MS-FSA zero-length rules).
    pub length: u64,
    /// SMB2_LOCKFLAG_EXCLUSIVE_LOCK.
    pub exclusive: bool,
    /// SMB2_LOCKFLAG_FAIL_IMMEDIATELY.
    pub fail_immediately: bool,
}

impl LockTable {
    /// SMB2 CREATE. `Opened` with the granted lease/oplock; `Wait` (STATUS_PENDING) while
    /// breaks are acknowledged or state is reclaimed in grace; `Deny(SharingViolation)`
    /// after H was broken and the check re-run (O5); `Deny(UnknownOpen)` if the open id is in
    /// use; `Deny(LeaseKeyInUse)` if the key names a lease on another file.
    pub fn smb_create(&mut self, req: SmbCreate, now: Instant) -> Outcome {
        if self.opens.contains_key(&req.open) {
            return Outcome::Deny(Deny::UnknownOpen);
        }
        let file = req.file;
        self.run(file, Op::SmbCreate(Box::new(req)), now)
    }

    /// One SMB2 LOCK element. `Proceed` = locked; `Deny(Conflict)` = STATUS_LOCK_NOT_GRANTED
    /// (FAIL_IMMEDIATELY); `Wait` = STATUS_PENDING; `Deny(InvalidRange)` =
    /// STATUS_INVALID_LOCK_RANGE; `Deny(NoLocks)` = STATUS_INSUFFICIENT_RESOURCES.
    pub fn smb_lock(&mut self, args: SmbLockArgs, now: Instant) -> Outcome {
        let Some(file) = self.opens.get(&args.open).map(|o| o.file) else {
            return Outcome::Deny(Deny::UnknownOpen);
        };
        let Ok(span) = Span::smb(args.offset, args.length) else {
            return Outcome::Deny(Deny::InvalidRange);
        };
        self.run(
            file,
            Op::SmbLock {
                open: args.open,
                span,
                exclusive: args.exclusive,
                fail_immediately: args.fail_immediately,
            },
            now,
        )
    }

    /// SMB2 LOCK with SMB2_LOCKFLAG_UNLOCK: removes the lock of this open with exactly this
    /// offset and length (an exclusive one first, MS-FSA 2.1.5.9); `Deny(RangeNotLocked)`
    /// otherwise. Wakes waiters.
    pub fn smb_unlock(&mut self, open: OpenId, offset: u64, length: u64, now: Instant) -> Outcome {
        self.smb_unlock_where(open, offset, length, None, now)
    }

    /// Takes back a lock this open was just granted (the rollback of a multi-element SMB2
    /// LOCK whose later element failed, MS-SMB2 3.3.5.14.2): the newest lock of this open
    /// with exactly this offset, length and mode, so that a shared lock stacked on the
    /// open's own exclusive lock is the one removed. `Deny(RangeNotLocked)` if none. Wakes
    /// waiters.
    pub fn smb_unlock_granted(
        &mut self,
        open: OpenId,
        offset: u64,
        length: u64,
        exclusive: bool,
        now: Instant,
    ) -> Outcome {
        self.smb_unlock_where(open, offset, length, Some(exclusive), now)
    }

    fn smb_unlock_where(
        &mut self,
        open: OpenId,
        offset: u64,
        length: u64,
        mode: Option<bool>,
        now: Instant,
    ) -> Outcome {
        let Some(file) = self.opens.get(&open).map(|o| o.file) else {
            return Outcome::Deny(Deny::UnknownOpen);
        };
        let Ok(span) = Span::smb(offset, length) else {
            return Outcome::Deny(Deny::InvalidRange);
        };
        let Some(fs) = self.files.get_mut(&file) else {
            return Outcome::Deny(Deny::RangeNotLocked);
        };
        let mut pick: Option<usize> = None;
        let start = fs.locks.partition_point(|l| l.span.first < span.first);
        for (i, l) in fs.locks.iter().enumerate().skip(start) {
            if l.span.first > span.first {
                break;
            }
            if l.span != span || !matches!(l.owner, LockOwner::Smb { open: o, .. } if o == open) {
                continue;
            }
            match mode {
                // MS-FSA 2.1.5.9: an exclusive lock of the range first, else a shared one.
                None => {
                    pick = Some(i);
                    if l.exclusive {
                        break;
                    }
                }
                // The newest of that mode (locks of one start keep their insertion order).
                Some(x) if l.exclusive == x => pick = Some(i),
                Some(_) => {}
            }
        }
        let Some(i) = pick else {
            return Outcome::Deny(Deny::RangeNotLocked);
        };
        let id = fs.locks.remove(i).id;
        self.total_locks -= 1;
        self.record(Change::LockReleased { id, file });
        self.wake(file, now);
        self.gc_file(file);
        Outcome::Proceed
    }

    /// SMB2 READ: `Deny(Conflict)` = STATUS_FILE_LOCK_CONFLICT (SMB locks of other opens
    /// and, by O2, NLM locks); may wait for a W break of another key (row 18), and in grace
    /// for an unreclaimed lock over the range (`Wait(Grace)`, STATUS_PENDING).
    pub fn smb_read(&mut self, open: OpenId, offset: u64, length: u64, now: Instant) -> Outcome {
        self.smb_io(open, offset, length, false, now)
    }

    /// SMB2 WRITE: as READ with exclusive intent; breaks other keys' R and W (row 19).
    pub fn smb_write(&mut self, open: OpenId, offset: u64, length: u64, now: Instant) -> Outcome {
        self.smb_io(open, offset, length, true, now)
    }

    fn smb_io(
        &mut self,
        open: OpenId,
        offset: u64,
        length: u64,
        write: bool,
        now: Instant,
    ) -> Outcome {
        let Some(file) = self.opens.get(&open).map(|o| o.file) else {
            return Outcome::Deny(Deny::UnknownOpen);
        };
        let Ok(span) = Span::smb(offset, length) else {
            return Outcome::Deny(Deny::InvalidRange);
        };
        self.run(file, Op::SmbIo { open, span, write }, now)
    }

    /// SET_INFO FileRenameInformation on this open (row 20): breaks H of other keys (Batch
    /// oplocks to None) and waits; locks never block it (O10).
    pub fn smb_rename(&mut self, open: OpenId, now: Instant) -> Outcome {
        self.smb_namespace(open, now)
    }

    /// SET_INFO FileDispositionInformation (DeleteFile) / delete-on-close: as rename.
    pub fn smb_delete(&mut self, open: OpenId, now: Instant) -> Outcome {
        self.smb_namespace(open, now)
    }

    /// SET_INFO FileEndOfFileInformation or FileAllocationInformation on this open: breaks
    /// other keys' R and W (W waits), and a Level II oplock of its own, as a write does
    /// (MS-FSA 2.1.5.14.2/.4 BreakToNone; smbtorture smb2.oplock.batch11/12). Byte-range
    /// locks do not restrict it.
    pub fn smb_set_size(&mut self, open: OpenId, now: Instant) -> Outcome {
        let Some(file) = self.opens.get(&open).map(|o| o.file) else {
            return Outcome::Deny(Deny::UnknownOpen);
        };
        self.run(file, Op::SmbSetSize { open }, now)
    }

    fn smb_namespace(&mut self, open: OpenId, now: Instant) -> Outcome {
        let Some(file) = self.opens.get(&open).map(|o| o.file) else {
            return Outcome::Deny(Deny::UnknownOpen);
        };
        self.run(file, Op::SmbNamespace { open }, now)
    }

    /// SMB2 CLOSE (or connection loss of a non-durable open): releases the open's locks,
    /// completes its waiting requests with `Deny(Cancelled)`, detaches it from its lease
    /// (removing the lease with its last open; a break in progress then ends), and wakes
    /// waiters.
    pub fn smb_close(&mut self, open: OpenId, now: Instant) -> Outcome {
        let Some(o) = self.opens.remove(&open) else {
            return Outcome::Deny(Deny::UnknownOpen);
        };
        let file = o.file;
        let mut gone = Vec::new();
        let mut cancelled = Vec::new();
        if let Some(fs) = self.files.get_mut(&file) {
            fs.locks.retain(|l| match l.owner {
                LockOwner::Smb { open: lo, .. } if lo == open => {
                    gone.push(l.id);
                    false
                }
                _ => true,
            });
            fs.opens.retain(|x| *x != open);
            for w in &fs.waiters {
                let mine = match &w.op {
                    Op::SmbLock { open: wo, .. }
                    | Op::SmbIo { open: wo, .. }
                    | Op::SmbNamespace { open: wo }
                    | Op::SmbSetSize { open: wo } => *wo == open,
                    _ => false,
                };
                if mine {
                    cancelled.push(w.ticket);
                }
            }
        }
        self.total_locks -= gone.len();
        for id in gone {
            self.record(Change::LockReleased { id, file });
        }
        for t in cancelled {
            if self.remove_waiter(t).is_some() {
                self.events.push_back(crate::Event::Completed {
                    ticket: t,
                    file,
                    outcome: Outcome::Deny(Deny::Cancelled),
                });
            }
        }
        self.record(Change::OpenClosed { open, file });
        if let Some(k) = o.cache {
            self.detach_from_lease(k, open);
        }
        self.wake(file, now);
        self.gc_file(file);
        Outcome::Proceed
    }

    /// Marks the open `open` durable or not (MS-SMB2 §3.3.5.9.6/.10: durability is decided
    /// in "Successful Open Initialization", after the lease or oplock was granted, so the
    /// CREATE registers the open first and the SMB layer makes it durable once it saw the
    /// grant). Records the open again — and its lease's state, so a journal that kept only
    /// durable state has the lease too — so a restart restores it and its reclaim is
    /// expected in grace. `Deny(UnknownOpen)` if there is no such open.
    pub fn smb_set_durable(&mut self, open: OpenId, durable: bool) -> Outcome {
        let Some(o) = self.opens.get_mut(&open) else {
            return Outcome::Deny(Deny::UnknownOpen);
        };
        if o.durable == durable {
            return Outcome::Proceed;
        }
        o.durable = durable;
        let (file, client, access, share_access, cache) =
            (o.file, o.client, o.access, o.share_access, o.cache);
        self.record(Change::Open {
            open,
            file,
            client,
            access,
            share_access,
            durable,
            cache,
        });
        if let Some(k) = cache {
            if let Some(l) = self.leases.get(&k) {
                let rec = lease_record(k, l);
                self.record(rec);
            }
        }
        Outcome::Proceed
    }

    /// The caching state the open `open` holds now (its lease's or oplock's state, NONE
    /// without one), and whether it is breaking; `None` for an unknown open. MS-SMB2
    /// §3.3.5.9.6: a durable open keeps its durability while it holds a Batch oplock or a
    /// lease with H — what the SMB layer checks when its connection drops.
    pub fn smb_open_caching(&self, open: OpenId) -> Option<(Option<CacheKey>, LeaseState, bool)> {
        let o = self.opens.get(&open)?;
        let Some(k) = o.cache else {
            return Some((None, LeaseState::NONE, false));
        };
        Some(match self.leases.get(&k) {
            Some(l) => (Some(k), l.state, l.breaking),
            None => (Some(k), LeaseState::NONE, false),
        })
    }

    /// The opens of the lease or oplock `k` (sorted; empty for an unknown key).
    pub fn smb_lease_opens(&self, k: CacheKey) -> Vec<OpenId> {
        let mut v = self
            .leases
            .get(&k)
            .map(|l| l.opens.clone())
            .unwrap_or_default();
        v.sort_unstable();
        v
    }

    pub(crate) fn detach_from_lease(&mut self, k: CacheKey, open: OpenId) {
        let Some(l) = self.leases.get_mut(&k) else {
            return;
        };
        l.opens.retain(|x| *x != open);
        if l.opens.is_empty() {
            let file = l.file;
            let Some(mut l) = self.leases.remove(&k) else {
                return;
            };
            if let Some(fs) = self.files.get_mut(&file) {
                fs.leases.retain(|x| *x != k);
            }
            // In grace, a durable open not reconnected yet may still belong to this lease
            // (two opens, one reconnected and closed again): the lease lives on for it, in the
            // state it has now, and stays in the journal (found by model_smb: the record of
            // its removal lost the lease of the open that reconnected later).
            if let Some(un) = self
                .grace
                .as_mut()
                .and_then(|g| g.files.get_mut(&file))
                .filter(|un| un.opens.iter().any(|(_, o)| o.cache == Some(k)))
            {
                l.opens.clear();
                l.breaking = false;
                l.deadline = None;
                l.break_to = l.state;
                l.required = l.state;
                l.origin = l.state;
                l.break_started = None;
                match un.leases.iter_mut().find(|(kk, _)| *kk == k) {
                    Some(e) => e.1 = l,
                    None => un.leases.push((k, l)),
                }
                return;
            }
            self.record(Change::LeaseRemoved { key: k });
        }
    }

    /// Lease Break Acknowledgment (MS-SMB2 3.3.5.22.2). Returns the new lease state for the
    /// Lease Break Response. The rejections are distinct: [`AckError::NotBreaking`]
    /// (STATUS_UNSUCCESSFUL), [`AckError::TimedOut`] (the break already timed out to NONE),
    /// [`AckError::NotSubset`] (STATUS_REQUEST_NOT_ACCEPTED), [`AckError::NotFound`]
    /// (STATUS_OBJECT_NAME_NOT_FOUND). If the acknowledged state still holds more than the
    /// conflicting operations require, the next step of the break is sent at once.
    pub fn smb_lease_break_ack(
        &mut self,
        client: ClientGuid,
        key: LeaseKey,
        state: LeaseState,
        now: Instant,
    ) -> Result<LeaseState, AckError> {
        let k = CacheKey::Lease(client, key);
        self.ack(k, state, now)?;
        // The response carries the acknowledged state, even if the next step of a stepped
        // break was sent (and, for R→NONE, already applied) right after it.
        Ok(state.normalized())
    }

    /// Oplock Break Acknowledgment (MS-SMB2 3.3.5.22.1): `level` must be within the level
    /// the break offered (Level II or None).
    pub fn smb_oplock_break_ack(
        &mut self,
        open: OpenId,
        level: OplockLevel,
        now: Instant,
    ) -> Result<OplockLevel, AckError> {
        let k = CacheKey::Oplock(open);
        self.ack(k, level.to_lease(), now)?;
        Ok(level)
    }

    fn ack(&mut self, k: CacheKey, state: LeaseState, now: Instant) -> Result<(), AckError> {
        let Some(l) = self.leases.get(&k) else {
            return Err(AckError::NotFound);
        };
        if !l.breaking {
            return Err(if l.timed_out {
                AckError::TimedOut
            } else {
                AckError::NotBreaking
            });
        }
        if !l.break_to.contains(state) {
            return Err(AckError::NotSubset);
        }
        self.finish_break(k, state.normalized(), now);
        Ok(())
    }

    // ----- evaluation ------------------------------------------------------------------

    pub(crate) fn eval_smb_create(&mut self, file: FileId, op: &mut Op, now: Instant) -> Eval {
        let Op::SmbCreate(req) = op else {
            return Eval::Done(Outcome::Deny(Deny::UnknownOpen));
        };
        let req = (**req).clone();
        if self.opens.contains_key(&req.open) {
            return Eval::Done(Outcome::Deny(Deny::UnknownOpen));
        }
        let own_key = req.own_key();
        if let Some(k) = own_key {
            // A lease of a durable open still to reconnect counts (found by model_smb: the
            // key was taken on another file in grace, and the reconnect then joined that
            // file's lease).
            let elsewhere = self.leases.get(&k).is_some_and(|l| l.file != file)
                || self.grace.as_ref().is_some_and(|g| {
                    g.files
                        .iter()
                        .any(|(f, u)| *f != file && u.leases.iter().any(|(kk, _)| *kk == k))
                });
            if elsewhere {
                return Eval::Done(Outcome::Deny(Deny::LeaseKeyInUse));
            }
        }
        if self.in_grace() && self.grace_has_opens(file) {
            self.counters
                .conflict(Proto::Smb, ConflictKind::Grace, Resolution::Waited);
            return Eval::Block(WaitReason::Grace);
        }
        if let Some(e) = self.share_check_h_star(
            file,
            req.access,
            req.share_access,
            Some(req.open),
            own_key,
            None,
            Proto::Smb,
            now,
        ) {
            return e;
        }
        // A stat open (MS-SMB2 3.3.5.9: only attribute access) breaks nothing. What counts
        // differs by holder, as in Samba (`is_lease_stat_open`, `is_oplock_stat_open`) and
        // smbtorture smb2.oplock.statopen1 / smb2.lease.statopen*: READ_CONTROL is a stat
        // access for leases but not for oplocks, and an open asking for no access at all
        // is not a stat open.
        let stat_lease = is_stat_open(req.access, access::ATTRIBUTE_ONLY);
        let stat_oplock = is_stat_open(req.access, access::ATTRIBUTE_ONLY & !access::READ_CONTROL);
        if !stat_oplock || req.overwrite {
            let kind = if req.overwrite {
                BreakKind::ToNone
            } else {
                BreakKind::ToTwo
            };
            let oplocks: Vec<CacheKey>;
            let only = if stat_lease && !req.overwrite {
                oplocks = self
                    .files
                    .get(&file)
                    .map(|f| {
                        f.leases
                            .iter()
                            .filter(|k| matches!(k, CacheKey::Oplock(_)))
                            .copied()
                            .collect()
                    })
                    .unwrap_or_default();
                Some(oplocks.as_slice())
            } else {
                None
            };
            let (_, wait) = self.break_leases(file, own_key, kind, only, now);
            if wait {
                return Eval::Block(WaitReason::Break);
            }
        }
        // Register the open, then decide its caching.
        let (lease, oplock, cache) = self.grant_cache(&req, now);
        self.opens.insert(
            req.open,
            Open {
                file,
                client: req.client,
                access: req.access,
                share_access: req.share_access,
                durable: req.durable,
                cache,
            },
        );
        self.files.entry(file).or_default().opens.push(req.open);
        self.record(Change::Open {
            open: req.open,
            file,
            client: req.client,
            access: req.access,
            share_access: req.share_access,
            durable: req.durable,
            cache,
        });
        if let Some(k) = cache {
            if let Some(l) = self.leases.get(&k) {
                let rec = lease_record(k, l);
                self.record(rec);
            }
        }
        Eval::Done(Outcome::Opened(OpenGrant {
            open: req.open,
            lease,
            oplock,
        }))
    }

    /// Decides the caching of a new open (MS-FSA 2.1.5.18, MS-SMB2 3.3.5.9.8/.11) and
    /// attaches the open to its lease.
    fn grant_cache(
        &mut self,
        req: &SmbCreate,
        _now: Instant,
    ) -> (Option<LeaseGrant>, Option<OplockLevel>, Option<CacheKey>) {
        match req.cache {
            CacheRequest::None => (None, None, None),
            CacheRequest::Lease {
                key,
                state,
                version,
            } => {
                let k = CacheKey::Lease(req.client, key);
                if let Some(l) = self.leases.get(&k) {
                    let (cur, breaking) = (l.state, l.breaking);
                    if !breaking {
                        // An existing lease changes only to exactly the state asked for, if
                        // that is a strict superset of what it holds and can be held beside
                        // the other opens (no fallback, unlike a new lease): smbtorture
                        // smb2.lease.upgrade, upgrade2, upgrade3 (Windows and Samba).
                        let want = state.normalized();
                        if want != cur && want.contains(cur) {
                            let pick = if self.grantable(req, want, Some(k)) {
                                want
                            } else {
                                cur
                            };
                            if pick != cur {
                                if let Some(l) = self.leases.get_mut(&k) {
                                    l.state = pick;
                                    l.origin = pick;
                                    l.required = pick;
                                    if matches!(l.version, Some(LeaseVersion::V2 { .. })) {
                                        l.epoch = l.epoch.wrapping_add(1);
                                    }
                                }
                            }
                        }
                    }
                    let Some(l) = self.leases.get_mut(&k) else {
                        return (None, None, None);
                    };
                    l.opens.push(req.open);
                    let g = LeaseGrant {
                        state: l.state,
                        epoch: l.epoch,
                        break_in_progress: l.breaking,
                        version: l.version.unwrap_or(LeaseVersion::V1),
                    };
                    (Some(g), None, Some(k))
                } else {
                    let mut want = state.normalized();
                    if req.directory {
                        want = want.without(LeaseState::W);
                    }
                    let pick = want
                        .fallback()
                        .find(|c| self.grantable(req, *c, Some(k)))
                        .unwrap_or(LeaseState::NONE);
                    let epoch = match version {
                        LeaseVersion::V2 { .. } => req.lease_epoch.wrapping_add(1),
                        LeaseVersion::V1 => 0,
                    };
                    self.insert_lease(k, req, pick, epoch, Some(version));
                    (
                        Some(LeaseGrant {
                            state: pick,
                            epoch,
                            break_in_progress: false,
                            version,
                        }),
                        None,
                        Some(k),
                    )
                }
            }
            CacheRequest::Oplock(level) => {
                let k = CacheKey::Oplock(req.open);
                let want = if req.directory {
                    OplockLevel::None
                } else {
                    level
                };
                let candidates = [want.to_lease(), LeaseState::R, LeaseState::NONE];
                let pick = candidates
                    .into_iter()
                    .filter(|c| want.to_lease().contains(*c))
                    .find(|c| self.grantable(req, *c, Some(k)))
                    .unwrap_or(LeaseState::NONE);
                if pick == LeaseState::NONE {
                    return (None, Some(OplockLevel::None), None);
                }
                self.insert_lease(k, req, pick, 0, None);
                (None, Some(OplockLevel::from_lease(pick)), Some(k))
            }
        }
    }

    fn insert_lease(
        &mut self,
        k: CacheKey,
        req: &SmbCreate,
        state: LeaseState,
        epoch: u16,
        version: Option<LeaseVersion>,
    ) {
        let lease = Lease::held(req.file, req.client, state, epoch, version, vec![req.open]);
        self.leases.insert(k, lease);
        self.files.entry(req.file).or_default().leases.push(k);
    }

    /// MS-FSA 2.1.5.18.1/.2 for `state` requested by the new open `req` under key `own`:
    /// W needs no other opens (same-key opens excepted), no NLM locks or shares (O1);
    /// R needs no byte-range lock starting below AllocationSize and no other lease breaking
    /// or holding W. In grace, unreclaimed locks and shares count as held.
    fn grantable(&self, req: &SmbCreate, state: LeaseState, own: Option<CacheKey>) -> bool {
        if state == LeaseState::NONE {
            return true;
        }
        if req.directory && state.contains(LeaseState::W) {
            return false;
        }
        // Locks and shares still to be reclaimed in grace count as held (docs/cross-protocol.md
        // §5: no newcomer takes unreclaimed state): a W lease granted over an NLM lock that is
        // reclaimed a moment later would break O1 and hold the reclaim on a break (found by
        // model_smb). Files with unreclaimed opens never get here (the CREATE waits).
        if let Some(un) = self.grace.as_ref().and_then(|g| g.files.get(&req.file)) {
            let nlm = un
                .locks
                .iter()
                .any(|l| matches!(l.owner, LockOwner::Nlm(_)));
            if state.contains(LeaseState::W) && (nlm || !un.shares.is_empty()) {
                return false;
            }
            if un
                .locks
                .iter()
                .any(|l| !l.span.is_null() && l.span.first < req.allocation_size)
            {
                return false;
            }
        }
        let Some(fs) = self.files.get(&req.file) else {
            return true;
        };
        if state.contains(LeaseState::W) {
            let other_open = fs.opens.iter().any(|o| {
                *o != req.open
                    && self
                        .opens
                        .get(o)
                        .is_none_or(|op| own.is_none() || op.cache != own)
            });
            let nlm_locks = fs
                .locks
                .iter()
                .any(|l| matches!(l.owner, LockOwner::Nlm(_)));
            if other_open || nlm_locks || !fs.shares.is_empty() {
                return false;
            }
        }
        let locked = fs
            .locks
            .iter()
            .any(|l| !l.span.is_null() && l.span.first < req.allocation_size);
        if locked {
            return false;
        }
        let other_busy = fs.leases.iter().any(|k| {
            Some(*k) != own
                && self
                    .leases
                    .get(k)
                    .is_some_and(|l| l.breaking || l.state.contains(LeaseState::W))
        });
        // Oplocks and H leases do not mix (smbtorture smb2.lease.oplock, Windows and
        // Samba): no lease gets H beside an oplock, and no oplock is granted beside a lease
        // holding H.
        let oplock_req = matches!(req.cache, CacheRequest::Oplock(_));
        let mixed = fs.leases.iter().any(|k| {
            Some(*k) != own
                && self.leases.get(k).is_some_and(|l| match k {
                    CacheKey::Oplock(_) => {
                        !oplock_req && state.contains(LeaseState::H) && l.state != LeaseState::NONE
                    }
                    CacheKey::Lease(..) => oplock_req && l.state.contains(LeaseState::H),
                })
        });
        !other_busy && !mixed
    }

    pub(crate) fn eval_smb_lock(
        &mut self,
        file: FileId,
        op: &mut Op,
        now: Instant,
        first: bool,
    ) -> Eval {
        let Op::SmbLock {
            open,
            span,
            exclusive,
            fail_immediately,
        } = op
        else {
            return Eval::Done(Outcome::Deny(Deny::UnknownOpen));
        };
        let (open, span, exclusive, fail_immediately) =
            (*open, *span, *exclusive, *fail_immediately);
        let Some(own_key) = self.opens.get(&open).map(|o| o.cache) else {
            return Eval::Done(Outcome::Deny(Deny::UnknownOpen));
        };
        let access = Access {
            span,
            exclusive,
            lock_intent: true,
            who: Requester::Smb(open),
        };
        if self.in_grace()
            && (self.unreclaimed_lock_conflict(file, &access).is_some()
                || self.grace_lease_conflict(file, own_key, LeaseState::RW))
        {
            return Eval::Block(WaitReason::Grace);
        }
        // MS-FSA 2.1.4.12 (BYTE_RANGE_LOCK): every Level II oplock breaks to none, the
        // locker's own too (smbtorture smb2.oplock.brl1/brl3: "a self BRL acquisition should
        // break to none"); the locker's own lease or Exclusive/Batch oplock stays.
        let except = match own_key {
            Some(k @ CacheKey::Oplock(_))
                if self
                    .leases
                    .get(&k)
                    .is_some_and(|l| !l.state.contains(LeaseState::W)) =>
            {
                None
            }
            k => k,
        };
        if self.break_for_lock(file, except, Proto::Smb, now, first) {
            return Eval::Block(WaitReason::Break);
        }
        if let Some(l) = self.find_conflict(file, &access) {
            let h = self.lock_holder(l);
            let ck = ConflictKind::of_lock(l);
            if fail_immediately {
                if first {
                    self.counters.conflict(Proto::Smb, ck, Resolution::Denied);
                }
                return Eval::Done(Outcome::Deny(Deny::Conflict(h)));
            }
            if first {
                self.counters.conflict(Proto::Smb, ck, Resolution::Waited);
            }
            return Eval::Block(WaitReason::Lock(h));
        }
        if self.over_bounds(file, 1) {
            return Eval::Done(Outcome::Deny(Deny::NoLocks));
        }
        let id = self.new_lock_id();
        self.insert_lock(
            file,
            Lock {
                id,
                span,
                exclusive,
                owner: LockOwner::Smb { open },
            },
        );
        self.record(Change::SmbLock {
            id,
            file,
            open,
            span,
            exclusive,
        });
        Eval::Done(Outcome::Proceed)
    }

    pub(crate) fn eval_smb_io(&mut self, file: FileId, op: &mut Op, now: Instant) -> Eval {
        let Op::SmbIo { open, span, write } = op else {
            return Eval::Done(Outcome::Deny(Deny::UnknownOpen));
        };
        let (open, span, write) = (*open, *span, *write);
        let Some(own_key) = self.opens.get(&open).map(|o| o.cache) else {
            return Eval::Done(Outcome::Deny(Deny::UnknownOpen));
        };
        let a = Access {
            span,
            exclusive: write,
            lock_intent: false,
            who: Requester::Smb(open),
        };
        // A durable open's locks are held through the restart until it reconnects or grace
        // ends (MS-SMB2 3.3.5.9.7 restores them with the open): I/O into them by another
        // open (one already reconnected) waits, as a LOCK does (found by model_smb).
        let mask = if write { LeaseState::RW } else { LeaseState::W };
        if self.in_grace()
            && (self.unreclaimed_lock_conflict(file, &a).is_some()
                || self.grace_lease_conflict(file, own_key, mask))
        {
            self.counters
                .conflict(Proto::Smb, ConflictKind::Grace, Resolution::Waited);
            return Eval::Block(WaitReason::Grace);
        }
        let kind = if write {
            BreakKind::ToNone
        } else {
            BreakKind::ToTwo
        };
        // A write breaks every Level II oplock, the writer's own too (smbtorture
        // smb2.oplock.batch6, levelii500; Samba `contend_level2_oplocks_begin`); a lease
        // is never broken by its own key's I/O.
        let except = match own_key {
            Some(k @ CacheKey::Oplock(_))
                if write
                    && self
                        .leases
                        .get(&k)
                        .is_some_and(|l| l.state == LeaseState::R) =>
            {
                None
            }
            k => k,
        };
        let (_, wait) = self.break_leases(file, except, kind, None, now);
        if wait {
            return Eval::Block(WaitReason::Break);
        }
        match self.find_conflict(file, &a) {
            Some(l) => {
                let h = self.lock_holder(l);
                let ck = ConflictKind::of_lock(l);
                self.counters.conflict(Proto::Smb, ck, Resolution::Denied);
                Eval::Done(Outcome::Deny(Deny::Conflict(h)))
            }
            None => Eval::Done(Outcome::Proceed),
        }
    }

    pub(crate) fn eval_smb_set_size(&mut self, file: FileId, op: &mut Op, now: Instant) -> Eval {
        let Op::SmbSetSize { open } = op else {
            return Eval::Done(Outcome::Deny(Deny::UnknownOpen));
        };
        let Some(own_key) = self.opens.get(open).map(|o| o.cache) else {
            return Eval::Done(Outcome::Deny(Deny::UnknownOpen));
        };
        let except = match own_key {
            Some(k @ CacheKey::Oplock(_))
                if self
                    .leases
                    .get(&k)
                    .is_some_and(|l| l.state == LeaseState::R) =>
            {
                None
            }
            k => k,
        };
        let (_, wait) = self.break_leases(file, except, BreakKind::ToNone, None, now);
        if wait {
            return Eval::Block(WaitReason::Break);
        }
        Eval::Done(Outcome::Proceed)
    }

    pub(crate) fn eval_smb_namespace(&mut self, file: FileId, op: &mut Op, now: Instant) -> Eval {
        let Op::SmbNamespace { open } = op else {
            return Eval::Done(Outcome::Deny(Deny::UnknownOpen));
        };
        let Some(own_key) = self.opens.get(open).map(|o| o.cache) else {
            return Eval::Done(Outcome::Deny(Deny::UnknownOpen));
        };
        if self.in_grace() && self.grace_lease_conflict(file, own_key, LeaseState::H) {
            return Eval::Block(WaitReason::Grace);
        }
        let (_, wait) = self.break_leases(file, own_key, BreakKind::H, None, now);
        if wait {
            return Eval::Block(WaitReason::Break);
        }
        Eval::Done(Outcome::Proceed)
    }
}
