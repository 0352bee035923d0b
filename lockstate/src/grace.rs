//! The shared NLM + SMB grace period and restore from persistence records
//! (docs/cross-protocol.md §5).
//!
//! After a restart the runtime calls [`LockTable::restore`] with the journal, then
//! [`LockTable::start_grace`]. Everything reclaimable (NLM locks and shares, durable SMB
//! opens with their leases and locks) becomes *unreclaimed* state: it is not held, but it
//! still gates conflicting newcomers, per file (the `opens_in_grace` lesson: files without
//! unreclaimed state run normally):
//! * NLM LOCK/SHARE with reclaim=TRUE: granted if consistent with already reclaimed state
//!   and other clients' unreclaimed state, else `Deny(Conflict)`; reclaim outside grace →
//!   `Deny(GracePeriod)`.
//! * NLM LOCK/TEST/SHARE without reclaim that meet unreclaimed state → `Deny(GracePeriod)`.
//! * NLM UNLOCK/CANCEL/UNSHARE → accepted (deviation from Linux/ganesha,
//!   docs/cross-protocol.md §5).
//! * SMB durable reconnect → [`LockTable::smb_reconnect`]; new SMB CREATE/LOCK meeting
//!   unreclaimed state → `Wait(Grace)` (STATUS_PENDING).
//! * NFS I/O and namespace operations meeting unreclaimed SMB state → `Deny(RetryLater)`
//!   (NFS3ERR_JUKEBOX).
//!
//! Grace ends early when everything expected was reclaimed (only if there was something to
//! reclaim; after an unclean shutdown with an empty journal it runs its full length,
//! docs/architecture.md lesson 3), else after `Config::grace_period` (90 s); unreclaimed state is
//! then dropped and waiters are woken.

use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;
use crate::hash::FxMap;
use crate::outcome::{Deny, Event, Holder, HolderKind, LeaseGrant, OpenGrant, Outcome};
use crate::persist::{Change, Record, RestoreError};
use crate::table::{
    same_share_owner, share_clash, Access, Eval, Lease, Lock, LockOwner, LockTable, NfsKind,
    NlmShare, Open, Requester, Timer,
};
use crate::types::{
    access, share, CacheKey, ClientGuid, FileId, LeaseState, LockId, LockRange, NlmOwner, OpenId,
    OplockLevel, Span,
};
use crate::view::Proto;

/// State of the grace period.
#[derive(Debug)]
pub(crate) struct Grace {
    pub(crate) ends: Instant,
    pub(crate) files: FxMap<FileId, Unreclaimed>,
    pub(crate) expected: Vec<Vec<u8>>,
    pub(crate) had_state: bool,
}

/// Persisted state of one file not reclaimed yet.
#[derive(Debug, Default)]
pub(crate) struct Unreclaimed {
    pub(crate) locks: Vec<Lock>,
    pub(crate) shares: Vec<NlmShare>,
    pub(crate) opens: Vec<(OpenId, Open)>,
    pub(crate) leases: Vec<(CacheKey, Lease)>,
}

impl Unreclaimed {
    fn is_empty(&self) -> bool {
        self.locks.is_empty() && self.shares.is_empty() && self.opens.is_empty()
    }
}

impl LockTable {
    /// Rebuilds a table from persistence records (in journal order). The result holds
    /// exactly the state the records describe; call [`start_grace`](Self::start_grace)
    /// afterwards when this is a restart.
    pub fn restore(
        cfg: Config,
        records: impl IntoIterator<Item = Record>,
    ) -> Result<LockTable, RestoreError> {
        let mut t = LockTable::new(cfg);
        let mut last = 0u64;
        let mut max_id = 0u64;
        for r in records {
            if r.seq <= last {
                return Err(RestoreError::OutOfOrder { seq: r.seq });
            }
            last = r.seq;
            let seq = r.seq;
            match r.change {
                Change::NlmLock {
                    id,
                    file,
                    owner,
                    range,
                    exclusive,
                } => {
                    max_id = max_id.max(id.0);
                    let owner = t.intern(&owner);
                    t.insert_lock(
                        file,
                        Lock {
                            id,
                            span: Span::range(range),
                            exclusive,
                            owner: LockOwner::Nlm(owner),
                        },
                    );
                }
                Change::SmbLock {
                    id,
                    file,
                    open,
                    span,
                    exclusive,
                } => {
                    max_id = max_id.max(id.0);
                    if !t.opens.contains_key(&open) {
                        return Err(RestoreError::Dangling {
                            seq,
                            what: "open of an SMB lock",
                        });
                    }
                    t.insert_lock(
                        file,
                        Lock {
                            id,
                            span,
                            exclusive,
                            owner: LockOwner::Smb { open },
                        },
                    );
                }
                Change::LockReleased { id, file } => {
                    // The file and the lock on it must both be known.
                    let found = t.files.get_mut(&file).and_then(|fs| {
                        let pos = fs.locks.iter().position(|l| l.id == id)?;
                        Some((fs, pos))
                    });
                    let Some((fs, pos)) = found else {
                        return Err(RestoreError::Dangling {
                            seq,
                            what: "released lock",
                        });
                    };
                    fs.locks.remove(pos);
                    t.total_locks -= 1;
                    t.gc_file(file);
                }
                Change::Open {
                    open,
                    file,
                    client,
                    access,
                    share_access,
                    durable,
                    cache,
                } => {
                    let again = t.opens.insert(
                        open,
                        Open {
                            file,
                            client,
                            access,
                            share_access,
                            durable,
                            cache,
                        },
                    );
                    // An open recorded again (`smb_set_durable`) replaces its record: it is
                    // on its file and lease once.
                    if again.is_none() {
                        t.files.entry(file).or_default().opens.push(open);
                        if let Some(l) = cache.and_then(|k| t.leases.get_mut(&k)) {
                            l.opens.push(open);
                        }
                    }
                }
                Change::OpenClosed { open, file } => {
                    let Some(o) = t.opens.remove(&open) else {
                        return Err(RestoreError::Dangling {
                            seq,
                            what: "closed open",
                        });
                    };
                    if let Some(fs) = t.files.get_mut(&file) {
                        fs.opens.retain(|x| *x != open);
                    }
                    if let Some(l) = o.cache.and_then(|k| t.leases.get_mut(&k)) {
                        l.opens.retain(|x| *x != open);
                    }
                    t.gc_file(file);
                }
                Change::Lease {
                    key,
                    file,
                    client,
                    state,
                    epoch,
                    version,
                } => {
                    if let Some(l) = t.leases.get_mut(&key) {
                        l.state = state;
                        l.origin = state;
                        l.required = state;
                        l.break_to = state;
                        l.epoch = epoch;
                        l.version = version;
                    } else {
                        let opens: Vec<OpenId> = t
                            .files
                            .get(&file)
                            .map(|fs| {
                                fs.opens
                                    .iter()
                                    .copied()
                                    .filter(|o| {
                                        t.opens.get(o).is_some_and(|x| x.cache == Some(key))
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        let lease = Lease::held(file, client, state, epoch, version, opens);
                        t.leases.insert(key, lease);
                        t.files.entry(file).or_default().leases.push(key);
                    }
                }
                Change::LeaseRemoved { key } => {
                    if let Some(l) = t.leases.remove(&key) {
                        if let Some(fs) = t.files.get_mut(&l.file) {
                            fs.leases.retain(|x| *x != key);
                        }
                        t.gc_file(l.file);
                    }
                }
                Change::NlmShare {
                    file,
                    owner,
                    access,
                    deny,
                } => {
                    let owner = t.intern(&owner);
                    t.nlm_shares_seen = true;
                    let fs = t.files.entry(file).or_default();
                    if let Some(s) = fs
                        .shares
                        .iter_mut()
                        .find(|s| same_share_owner(&s.owner, &owner))
                    {
                        s.access = access;
                        s.deny = deny;
                    } else {
                        fs.shares.push(NlmShare {
                            owner,
                            access,
                            deny,
                        });
                    }
                }
                Change::NlmShareReleased { file, owner } => {
                    if let Some(fs) = t.files.get_mut(&file) {
                        fs.shares.retain(|s| !same_share_owner(&s.owner, &owner));
                    }
                    t.gc_file(file);
                }
                Change::Monitored { host, nsm_state } => {
                    t.monitored.insert(host, nsm_state);
                }
                Change::Unmonitored { host } => {
                    t.monitored.remove(&host);
                }
            }
        }
        t.next_seq = last + 1;
        t.next_lock_id = max_id + 1;
        Ok(t)
    }

    /// Starts the shared grace period after a restart (call after [`restore`](Self::restore)).
    /// Reclaimable state becomes unreclaimed; state of non-durable SMB opens is dropped (with
    /// records, so the journal follows).
    pub fn start_grace(&mut self, now: Instant) {
        let mut g = Grace {
            ends: now + self.cfg.grace_period,
            files: FxMap::default(),
            expected: self.monitored.keys().cloned().collect(),
            had_state: false,
        };
        // Sorted: the records below follow this order, and it must not depend on the hash
        // map's layout (issue 9 §5: no output depends on a hash seed or insertion history).
        let mut file_ids: Vec<FileId> = self.files.keys().copied().collect();
        file_ids.sort_unstable();
        let mut dropped_locks = Vec::new();
        let mut dropped_opens = Vec::new();
        for f in file_ids {
            let Some(fs) = self.files.get_mut(&f) else {
                continue;
            };
            let mut un = Unreclaimed::default();
            for l in std::mem::take(&mut fs.locks) {
                match &l.owner {
                    LockOwner::Nlm(o) => {
                        g.expected.push(o.caller_name.clone());
                        un.locks.push(l);
                    }
                    LockOwner::Smb { open, .. } => {
                        if self.opens.get(open).is_some_and(|o| o.durable) {
                            un.locks.push(l);
                        } else {
                            dropped_locks.push((l.id, f));
                        }
                    }
                }
            }
            for s in std::mem::take(&mut fs.shares) {
                g.expected.push(s.owner.caller_name.clone());
                un.shares.push(s);
            }
            for id in std::mem::take(&mut fs.opens) {
                let Some(o) = self.opens.remove(&id) else {
                    continue;
                };
                if o.durable {
                    g.expected.push(format!("smb:{}", o.client).into_bytes());
                    un.opens.push((id, o));
                } else {
                    dropped_opens.push((id, f, o.cache));
                }
            }
            for k in std::mem::take(&mut fs.leases) {
                if let Some(l) = self.leases.remove(&k) {
                    un.leases.push((k, l));
                }
            }
            let dropped: Vec<_> = fs.waiters.drain(..).map(|w| w.ticket).collect();
            for t in dropped {
                self.tickets.remove(&t);
            }
            if !un.is_empty() {
                g.had_state = true;
                g.files.insert(f, un);
            }
        }
        self.owner_waits.clear();
        // Grants of waiters are held state no more: nothing is left to withdraw.
        self.grant_undo.clear();
        self.grant_prior = None;
        for (id, file) in dropped_locks {
            self.record(Change::LockReleased { id, file });
        }
        for (open, file, cache) in dropped_opens {
            self.record(Change::OpenClosed { open, file });
            if let Some(k) = cache {
                // The lease was moved to the unreclaimed set; drop it if no durable open uses it.
                if let Some(un) = g.files.get_mut(&file) {
                    if !un.opens.iter().any(|(_, o)| o.cache == Some(k)) {
                        if let Some(pos) = un.leases.iter().position(|(kk, _)| *kk == k) {
                            un.leases.remove(pos);
                            self.record(Change::LeaseRemoved { key: k });
                        }
                    }
                } else {
                    self.record(Change::LeaseRemoved { key: k });
                }
            }
        }
        self.total_locks = 0;
        self.files.retain(|_, fs| !fs.is_empty());
        g.expected.sort();
        g.expected.dedup();
        let at = g.ends;
        self.grace = Some(g);
        self.add_timer(at, Timer::Grace);
    }

    /// True while the grace period runs.
    pub fn in_grace(&self) -> bool {
        self.grace.is_some()
    }

    /// The clients expected to reclaim (NLM hosts, `smb:<client>` for durable SMB opens).
    pub fn grace_expected_clients(&self) -> Vec<Vec<u8>> {
        self.grace
            .as_ref()
            .map(|g| g.expected.clone())
            .unwrap_or_default()
    }

    /// Number of unreclaimed items (locks, shares, opens) left.
    pub fn grace_unreclaimed(&self) -> usize {
        self.grace.as_ref().map_or(0, |g| {
            g.files
                .values()
                .map(|u| u.locks.len() + u.shares.len() + u.opens.len())
                .sum()
        })
    }

    /// Ends the grace period now (deadline, early end, or an administrator's request):
    /// drops unreclaimed state (with records) and wakes waiters.
    pub fn end_grace(&mut self, now: Instant) {
        let Some(g) = self.grace.take() else { return };
        let mut files: Vec<FileId> = Vec::new();
        // In file order, so the records do not depend on the hash map's layout.
        let mut unreclaimed: Vec<(FileId, Unreclaimed)> = g.files.into_iter().collect();
        unreclaimed.sort_unstable_by_key(|(f, _)| *f);
        for (f, un) in unreclaimed {
            files.push(f);
            for l in un.locks {
                self.record(Change::LockReleased { id: l.id, file: f });
            }
            for s in un.shares {
                self.record(Change::NlmShareReleased {
                    file: f,
                    owner: s.owner,
                });
            }
            for (open, _) in un.opens {
                self.record(Change::OpenClosed { open, file: f });
            }
            for (k, _) in un.leases {
                if !self.leases.contains_key(&k) {
                    self.record(Change::LeaseRemoved { key: k });
                }
            }
        }
        self.events.push_back(Event::GraceEnded);
        files.sort();
        for f in files {
            self.wake(f, now);
        }
    }

    pub(crate) fn check_early_end(&mut self, now: Instant) {
        let done = self.grace.as_mut().is_some_and(|g| {
            g.files.retain(|_, u| !u.is_empty());
            g.had_state && g.files.is_empty()
        });
        if done {
            self.end_grace(now);
        }
    }

    /// The client of the durable open `open` if it waits to be reclaimed in the grace
    /// period (restored from the journal, not reconnected yet).
    pub fn smb_unreclaimed_open(&self, open: OpenId) -> Option<ClientGuid> {
        self.grace.as_ref()?.files.values().find_map(|u| {
            u.opens
                .iter()
                .find(|(id, _)| *id == open)
                .map(|(_, o)| o.client)
        })
    }

    /// SMB durable/persistent reconnect during grace (MS-SMB2 3.3.5.9.7/.12): restores the
    /// open, its lease and its locks. `Deny(UnknownOpen)` if there is no such unreclaimed
    /// open for this client.
    pub fn smb_reconnect(&mut self, open: OpenId, client: ClientGuid, now: Instant) -> Outcome {
        let Some(g) = self.grace.as_mut() else {
            return Outcome::Deny(Deny::UnknownOpen);
        };
        let found = g.files.iter().find_map(|(f, u)| {
            u.opens
                .iter()
                .position(|(id, o)| *id == open && o.client == client)
                .map(|p| (*f, p))
        });
        let Some((file, pos)) = found else {
            return Outcome::Deny(Deny::UnknownOpen);
        };
        let Some(un) = g.files.get_mut(&file) else {
            return Outcome::Deny(Deny::UnknownOpen);
        };
        let (_, o) = un.opens.remove(pos);
        let mut locks = Vec::new();
        un.locks.retain(|l| match l.owner {
            LockOwner::Smb { open: lo, .. } if lo == open => {
                locks.push(l.clone());
                false
            }
            _ => true,
        });
        let lease = o.cache.and_then(|k| {
            let still_used = un.opens.iter().any(|(_, x)| x.cache == Some(k));
            let p = un.leases.iter().position(|(kk, _)| *kk == k)?;
            if still_used {
                Some(un.leases[p].clone())
            } else {
                Some(un.leases.remove(p))
            }
        });
        let cache = o.cache;
        self.opens.insert(open, o);
        self.files.entry(file).or_default().opens.push(open);
        for l in locks {
            self.insert_lock(file, l);
        }
        let mut grant = OpenGrant {
            open,
            lease: None,
            oplock: None,
        };
        if let Some(k) = cache {
            if let (std::collections::hash_map::Entry::Vacant(e), Some((_, mut l))) =
                (self.leases.entry(k), lease)
            {
                l.opens.clear();
                e.insert(l);
                self.files.entry(file).or_default().leases.push(k);
            }
            if let Some(l) = self.leases.get_mut(&k) {
                l.opens.push(open);
                match k {
                    CacheKey::Lease(..) => {
                        grant.lease = Some(LeaseGrant {
                            state: l.state,
                            epoch: l.epoch,
                            break_in_progress: l.breaking,
                            version: l.version.unwrap_or(crate::types::LeaseVersion::V1),
                        })
                    }
                    CacheKey::Oplock(_) => grant.oplock = Some(OplockLevel::from_lease(l.state)),
                }
            }
        }
        self.check_early_end(now);
        // Waiters held for this file's unreclaimed state may proceed now.
        self.wake(file, now);
        Outcome::Opened(grant)
    }

    // ----- checks used by the operations ----------------------------------------------

    /// An unreclaimed lock that conflicts with `a`.
    pub(crate) fn unreclaimed_lock_conflict(&self, file: FileId, a: &Access<'_>) -> Option<Holder> {
        let un = self.grace.as_ref()?.files.get(&file)?;
        un.locks
            .iter()
            .find(|l| self.lock_conflicts(l, a))
            .map(|l| Holder {
                who: HolderKind::Unreclaimed,
                exclusive: l.exclusive,
                span: l.span,
            })
    }

    /// In grace: does a durable open still to reconnect hold a lease on `file`, other than
    /// `except`, with bits in `mask`? An operation that would break those bits must not go
    /// ahead (the open reconnects with its lease as it was, MS-SMB2 3.3.5.9.7/.12): a LOCK,
    /// WRITE (R|W), READ (W) or rename/delete (H) of a reconnected SMB open waits, an NLM
    /// LOCK or TEST gets NLM4_DENIED_GRACE_PERIOD (found by model_smb: an NLM lock granted in
    /// grace next to an unreclaimed RW lease, which then reconnected as RW beside it).
    pub(crate) fn grace_lease_conflict(
        &self,
        file: FileId,
        except: Option<CacheKey>,
        mask: LeaseState,
    ) -> bool {
        self.grace
            .as_ref()
            .and_then(|g| g.files.get(&file))
            .is_some_and(|u| {
                u.leases
                    .iter()
                    .any(|(k, l)| Some(*k) != except && l.state.intersects(mask))
            })
    }

    pub(crate) fn grace_lock_check(
        &mut self,
        file: FileId,
        a: &Access<'_>,
        reclaim: bool,
        _proto: Proto,
    ) -> Option<Eval> {
        if reclaim && !self.in_grace() {
            return Some(Eval::Done(Outcome::Deny(Deny::GracePeriod)));
        }
        if !self.in_grace() {
            return None;
        }
        if !reclaim && self.grace_lease_conflict(file, None, LeaseState::RW) {
            return Some(Eval::Done(Outcome::Deny(Deny::GracePeriod)));
        }
        let h = self.unreclaimed_lock_conflict(file, a)?;
        self.counters.conflict(
            Proto::Nlm,
            crate::view::ConflictKind::Grace,
            crate::view::Resolution::Denied,
        );
        Some(Eval::Done(Outcome::Deny(if reclaim {
            Deny::Conflict(h)
        } else {
            Deny::GracePeriod
        })))
    }

    pub(crate) fn grace_share_check(
        &mut self,
        file: FileId,
        owner: &Arc<NlmOwner>,
        acc: u32,
        shr: u32,
        reclaim: bool,
    ) -> Option<Eval> {
        if reclaim && !self.in_grace() {
            return Some(Eval::Done(Outcome::Deny(Deny::GracePeriod)));
        }
        let un = self.grace.as_ref()?.files.get(&file)?;
        let clash = un
            .shares
            .iter()
            .filter(|s| !same_share_owner(&s.owner, owner))
            .any(|s| {
                let (a, sh) = s.as_open();
                share_clash(acc, shr, a, sh)
            })
            || un
                .opens
                .iter()
                .any(|(_, o)| share_clash(acc, shr, o.access, o.share_access));
        if !clash {
            return None;
        }
        Some(Eval::Done(Outcome::Deny(if reclaim {
            Deny::SharingViolation(Holder::whole(HolderKind::Unreclaimed, true))
        } else {
            Deny::GracePeriod
        })))
    }

    pub(crate) fn grace_nfs_conflict(&self, file: FileId, kind: NfsKind, span: Span) -> bool {
        let Some(un) = self.grace.as_ref().and_then(|g| g.files.get(&file)) else {
            return false;
        };
        let (acc, io) = match kind {
            NfsKind::Read => (access::READ_DATA, Some(false)),
            NfsKind::Write => (access::WRITE_DATA, Some(true)),
            NfsKind::SetSize | NfsKind::CreateTruncate => (access::WRITE_DATA, None),
            NfsKind::Remove | NfsKind::RenameSource | NfsKind::RenameTarget => {
                (access::DELETE, None)
            }
        };
        // Unreclaimed durable opens may hold W/H leases or deny modes: wait for them.
        if !un.opens.is_empty()
            || un.shares.iter().any(|s| {
                let (a, sh) = s.as_open();
                share_clash(acc, share::ALL, a, sh)
            })
        {
            return true;
        }
        if let Some(write) = io {
            let a = Access {
                span,
                exclusive: write,
                lock_intent: false,
                who: Requester::Nfs,
            };
            return un.locks.iter().any(|l| self.lock_conflicts(l, &a));
        }
        false
    }

    pub(crate) fn grace_has_opens(&self, file: FileId) -> bool {
        self.grace
            .as_ref()
            .and_then(|g| g.files.get(&file))
            .is_some_and(|u| !u.opens.is_empty() || !u.shares.is_empty())
    }

    pub(crate) fn reclaimed_nlm_lock(
        &mut self,
        file: FileId,
        owner: &Arc<NlmOwner>,
        range: LockRange,
        now: Instant,
    ) {
        // Only the reclaimed bytes stop being expected: the rest of a persisted lock stays
        // unreclaimed (POSIX split), so a partial reclaim cannot free the remainder for
        // another client.
        let mut gone: Vec<(LockId, Vec<LockRange>, bool)> = Vec::new();
        if let Some(un) = self.grace.as_mut().and_then(|g| g.files.get_mut(&file)) {
            let r = Span::range(range);
            un.locks.retain(|l| match &l.owner {
                LockOwner::Nlm(o) if Arc::ptr_eq(o, owner) && l.span.overlaps(&r) => {
                    gone.push((l.id, l.span.outside(range).collect(), l.exclusive));
                    false
                }
                _ => true,
            });
        }
        // As in `replace_locks`: the rest of a persisted lock is recorded before that
        // lock's release, so no journal prefix loses the part still to be reclaimed.
        for (id, rest, exclusive) in gone {
            for piece in rest {
                let nid = self.new_lock_id();
                self.record(Change::NlmLock {
                    id: nid,
                    file,
                    owner: owner.clone(),
                    range: piece,
                    exclusive,
                });
                if let Some(un) = self.grace.as_mut().and_then(|g| g.files.get_mut(&file)) {
                    un.locks.push(Lock {
                        id: nid,
                        span: Span::range(piece),
                        exclusive,
                        owner: LockOwner::Nlm(owner.clone()),
                    });
                }
            }
            self.record(Change::LockReleased { id, file });
        }
        self.check_early_end(now);
        self.wake(file, now);
    }

    pub(crate) fn reclaimed_nlm_share(
        &mut self,
        file: FileId,
        owner: &Arc<NlmOwner>,
        now: Instant,
    ) {
        if let Some(un) = self.grace.as_mut().and_then(|g| g.files.get_mut(&file)) {
            un.shares.retain(|s| !same_share_owner(&s.owner, owner));
        }
        self.check_early_end(now);
        self.wake(file, now);
    }
}
