//! The invariant checker: the reference models, the trace, and the rules a run must keep.
//!
//! Rules (each violation is one line in [`Checker::violations`] and in the trace):
//! 1. **No conflicting grants**: when a client is told it holds a lock (a GRANTED reply, a
//!    GRANTED callback, a reclaim), no other owner may believe it holds a conflicting one
//!    ([`Beliefs::conflict`]). A TEST answered "no conflict" while a conflicting belief older
//!    than the TEST exists is the same bug seen from the other side. Once grace is over, a
//!    belief whose reclaim is still on its way is *contested*: the server may grant its range
//!    to others (it dropped the lock unless it took the reclaim in grace), and if the reclaim
//!    is then answered granted, nothing granted meanwhile may conflict with it.
//! 2. **Held or reclaimable after a crash**: after the server restarts, a reclaim (in grace)
//!    of a lock a client was told it holds must be granted; and every belief must be in the
//!    state the durable journal prefix rebuilds ([`Durable`]).
//! 3. **No reply before durable**: when a grant reaches a client, the durable journal
//!    prefix must already hold it (and the client's host must be on the durable monitor
//!    list, so it will be told of a restart).
//! 4. **Grace**: during grace no new grant may conflict with a lock still to be reclaimed
//!    (rule 1 covers it: unreclaimed beliefs stay until grace ends), and a monitored client
//!    holding locks must be sent SM_NOTIFY (checked when grace ends on a run without
//!    network faults).
//! 11. **Durable handles keep what they hold** (MS-SMB2 3.3.5.9.7): while a durable
//!     handle's connection is gone (cut, or the server crashed), its share modes and locks
//!     are *parked*; if the client then reconnects it, nothing conflicting may have been
//!     granted meanwhile (an open against its share modes, a lock or I/O against its locks);
//!     if the reconnect fails, the server gave it up and what was granted was fine.
//! 5. **No starvation**: a blocked waiter that nothing blocks (no conflicting belief nor one
//!    weakened to shared by a request the server may not have applied, no
//!    UNLOCK in flight, no rebooted host's locks still held, no grace, no fault) for
//!    [`STARVE`] must have been granted.
//! 6. **Share modes** (MS-FSA 2.1.5.1.2.1): when an SMB client is told its CREATE succeeded,
//!    no other handle any client holds on the file (told open, not yet closing, its connection
//!    alive) has an access or share mode that denies the new one, nor it theirs.
//! 7. **Acknowledged data stays**: an SMB READ returns, in the client's own region of a file,
//!    what the client's acknowledged WRITEs left there (see [`crate::smb`]).
//! 8. **NLM locks are mandatory to SMB I/O** (docs/cross-protocol.md O2): an SMB WRITE (READ)
//!    answered with success must not overlap a lock (an exclusive lock) an NLM client was
//!    told it holds since before the SMB request was sent and still holds (a lock whose
//!    reclaim is still on its way after grace is not held: grace dropped it).
//! 9. **A waiting SMB request ends**: one CANCELled must be answered (done, or
//!    STATUS_CANCELLED) within 30 s. Rule 1 covers SMB locks too: an SMB lock granted must
//!    not conflict with an NLM or SMB lock another owner believes it holds, nor an NLM grant
//!    with an SMB lock.
//! 10. **Write caching is exclusive** (MS-FSA 2.1.4.12, MS-SMB2 3.3.4.7): a data open,
//!     READ, WRITE or LOCK of one SMB client on a file completes only when no other lease or
//!     oplock still holds W there, as its client relies on it (until it acknowledges the
//!     break; a client that acknowledges late, wrongly or never gives W up when the break
//!     arrives).

use std::collections::BTreeMap;

use crate::model::{Beliefs, Durable, Held, Owner, Range, WireOwner};
use crate::trace;
use crate::trace::{Micros, Trace};

/// How long a waiter may stay unblocked and ungranted (clients re-send a blocked LOCK every
/// 30 s; the server re-sends GRANTED_MSG every 10 s).
pub const STARVE: Micros = 95_000_000;

/// A blocked lock request.
#[derive(Debug, Clone)]
pub struct Waiter {
    /// File.
    pub file: usize,
    /// Range.
    pub range: Range,
    /// Exclusive.
    pub excl: bool,
    /// Since when it waits.
    pub since: Micros,
    /// Last time something blocked it.
    pub blocked_at: Micros,
}

/// Counters for the run summary.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    /// Grants clients received (replies and callbacks).
    pub grants: u64,
    /// Grants received through a GRANTED callback.
    pub callback_grants: u64,
    /// Reclaims granted.
    pub reclaims: u64,
    /// Locks lost because grace ended before the client reclaimed them.
    pub lost: u64,
    /// Server crashes.
    pub crashes: u64,
    /// Client reboots.
    pub reboots: u64,
    /// Messages dropped, duplicated, connections cut.
    pub dropped: u64,
    /// Duplicated messages.
    pub duplicated: u64,
    /// Connections cut.
    pub cuts: u64,
    /// NFS WRITE/READ pairs verified.
    pub reads_checked: u64,
    /// SMB READs checked against acknowledged WRITEs.
    pub smb_reads_checked: u64,
    /// SMB WRITEs acknowledged.
    pub smb_writes: u64,
    /// SMB CREATEs answered STATUS_SHARING_VIOLATION.
    pub smb_sharing_violations: u64,
    /// SMB CREATEs granted while another handle was open on the file.
    pub smb_shared_opens: u64,
    /// SMB READ/WRITEs answered STATUS_FILE_LOCK_CONFLICT.
    pub smb_lock_conflicts: u64,
    /// SMB byte-range locks granted.
    pub smb_locks: u64,
    /// SMB requests that went async and were CANCELled.
    pub smb_cancelled: u64,
    /// Leases granted (not NONE).
    pub smb_leases: u64,
    /// Oplocks granted (not NONE).
    pub smb_oplocks: u64,
    /// Break notifications received.
    pub smb_breaks: u64,
    /// Durable handles reconnected.
    pub smb_reconnects: u64,
    /// Durable handles granted.
    pub smb_durable: u64,
    /// SMB LOCKs refused (LOCK_NOT_GRANTED, FILE_LOCK_CONFLICT, CANCELLED).
    pub smb_locks_refused: u64,
    /// DENIED_GRACE_PERIOD answers.
    pub grace_denials: u64,
}

/// See the module documentation.
#[derive(Debug)]
pub struct Checker {
    /// Virtual time now.
    pub now: Micros,
    /// The trace.
    pub trace: Trace,
    /// Client beliefs.
    pub beliefs: Beliefs,
    /// Durable journal state.
    pub durable: Durable,
    /// Whether rule 3 is checked (the journal's record layout is known to [`Durable`]).
    pub check_durable: bool,
    /// Violations found.
    pub violations: Vec<String>,
    /// Last fault of any kind (drop, cut, crash, reboot, long delay).
    pub last_fault: Micros,
    /// Whether any network fault happened since the last server start.
    pub faults_since_start: bool,
    /// Whether the server is in its grace period (as the core says).
    pub grace: bool,
    /// Whether the server is running.
    pub server_up: bool,
    /// UNLOCKs sent and not answered yet.
    pub pending_unlocks: Vec<(Owner, usize, Range)>,
    /// Locks of rebooted hosts, until the server acknowledged their SM_NOTIFY.
    pub ghosts: Vec<Held>,
    /// Blocked waiters by owner.
    pub waiters: BTreeMap<Owner, Waiter>,
    /// SMB handles clients were told they hold: (client, handle).
    pub smb_handles: Vec<(usize, crate::smb::Handle)>,
    /// Leases and oplocks with W the SMB clients rely on: (key, file).
    pub smb_w: Vec<(crate::smb::CacheKey, usize)>,
    /// Durable SMB handles whose connection is gone, until reconnected or given up.
    pub smb_orphans: Vec<(usize, crate::smb::Handle)>,
    /// What was granted against an orphan meanwhile: (client, FileId, what). A violation
    /// only if the handle is then reconnected (rule 11).
    pub smb_deferred: Vec<(usize, proto_smb2::cmd::FileId, String)>,
    /// The handle of each SMB lock owner.
    pub smb_lock_handle: BTreeMap<Owner, (usize, proto_smb2::cmd::FileId)>,
    /// Counters.
    pub stats: Stats,
}

impl Checker {
    /// A checker with an empty model.
    pub fn new(trace_bytes: usize) -> Checker {
        Checker {
            now: 0,
            trace: Trace::new(trace_bytes),
            beliefs: Beliefs::default(),
            durable: Durable::default(),
            check_durable: true,
            violations: Vec::new(),
            last_fault: 0,
            faults_since_start: false,
            grace: false,
            server_up: true,
            pending_unlocks: Vec::new(),
            ghosts: Vec::new(),
            waiters: BTreeMap::new(),
            smb_handles: Vec::new(),
            smb_w: Vec::new(),
            smb_orphans: Vec::new(),
            smb_deferred: Vec::new(),
            smb_lock_handle: BTreeMap::new(),
            stats: Stats::default(),
        }
    }

    /// Records a violation.
    pub fn violation(&mut self, what: String) {
        trace!(self.trace, self.now, "VIOLATION {what}");
        self.violations
            .push(format!("t={} {what}", crate::trace::fmt_time(self.now)));
    }

    /// A fault happened (it resets the starvation clocks).
    pub fn fault(&mut self) {
        self.last_fault = self.now;
        self.faults_since_start = true;
    }

    /// Whether the server is in its grace period.
    pub fn in_grace(&self) -> bool {
        self.grace
    }

    /// A client was told `owner` holds `range` on `file` (rules 1 and 3).
    #[allow(clippy::too_many_arguments)]
    pub fn granted(
        &mut self,
        owner: Owner,
        wire: &WireOwner,
        file: usize,
        range: Range,
        excl: bool,
        via: &str,
    ) {
        self.stats.grants += 1;
        let in_grace = self.in_grace();
        if let Some(h) = self
            .beliefs
            .conflict_now(owner, file, range, excl, in_grace)
            .cloned()
        {
            let grace = if h.needs_reclaim && self.in_grace() {
                " (grace: conflicts with a lock still to be reclaimed)"
            } else {
                ""
            };
            self.violation(format!(
                "conflicting grant{grace}: {owner} f{file} {range} {} via {via}, but {} holds {} {} since {}",
                mode(excl),
                h.owner,
                h.range,
                mode(h.excl),
                crate::trace::fmt_time(h.since)
            ));
        }
        self.defer_parked(
            owner,
            file,
            range,
            excl,
            &format!("{owner} got f{file} {range} {} via {via}", mode(excl)),
        );
        self.check_durable_grant(owner, wire, range, excl, via);
        self.beliefs.grant(owner, file, range, excl, self.now);
        self.waiters.remove(&owner);
    }

    /// Rule 3 for one grant.
    pub fn check_durable_grant(
        &mut self,
        owner: Owner,
        wire: &WireOwner,
        range: Range,
        excl: bool,
        via: &str,
    ) {
        if !self.check_durable {
            return;
        }
        if !self.durable.covers(wire, range, excl) {
            self.violation(format!(
                "grant reached {owner} ({range} {} via {via}) before a durable journal record holds it",
                mode(excl)
            ));
        } else if !self.durable.monitored(&wire.caller_name) {
            self.violation(format!(
                "grant reached {owner} via {via} before its host is on the durable monitor list"
            ));
        }
    }

    /// A reclaim was granted.
    pub fn reclaimed(
        &mut self,
        owner: Owner,
        wire: &WireOwner,
        file: usize,
        range: Range,
        excl: bool,
    ) {
        self.stats.reclaims += 1;
        let present = self
            .beliefs
            .all()
            .iter()
            .any(|h| h.owner == owner && h.file == file && h.range.overlaps(&range));
        if present {
            // A reclaim answered after grace ended in the sim's view was taken by the
            // server in grace: nothing granted since may conflict with it.
            if let Some(h) = self
                .beliefs
                .conflict_now(owner, file, range, excl, self.in_grace())
                .cloned()
            {
                self.violation(format!(
                    "conflicting grant: the reclaim of {owner} f{file} {range} {} was granted, but {} holds {} {} since {}",
                    mode(excl),
                    h.owner,
                    h.range,
                    mode(h.excl),
                    crate::trace::fmt_time(h.since)
                ));
            }
            self.defer_parked(
                owner,
                file,
                range,
                excl,
                &format!("{owner} reclaimed f{file} {range} {}", mode(excl)),
            );
            self.check_durable_grant(owner, wire, range, excl, "reclaim");
            self.beliefs.reclaimed(owner, file, range);
        } else {
            // Grace ended in the sim's view while the reclaim was in flight: the server
            // granted it, so it is a grant like any other.
            self.granted(owner, wire, file, range, excl, "late reclaim");
        }
    }

    /// A LOCK is sent (see [`Beliefs::weaken`]).
    pub fn lock_sent(&mut self, owner: Owner, file: usize, range: Range, excl: bool) {
        if !excl {
            self.beliefs.weaken(owner, file, range);
        }
    }

    /// An UNLOCK is sent: the client stops relying on the range.
    pub fn unlocking(&mut self, owner: Owner, file: usize, range: Range) {
        self.beliefs.release(owner, file, range);
        self.pending_unlocks.push((owner, file, range));
    }

    /// An UNLOCK was answered (or abandoned).
    pub fn unlock_done(&mut self, owner: Owner, file: usize, range: Range) {
        if let Some(i) = self
            .pending_unlocks
            .iter()
            .position(|p| *p == (owner, file, range))
        {
            self.pending_unlocks.remove(i);
        }
    }

    /// `host` rebooted: its beliefs become ghosts until the server hears of the reboot.
    pub fn host_rebooted(&mut self, host: usize) {
        self.stats.reboots += 1;
        self.fault();
        let ghosts: Vec<Held> = self
            .beliefs
            .all()
            .iter()
            .filter(|h| h.owner.host == host)
            .cloned()
            .collect();
        self.beliefs.drop_host(host);
        self.ghosts.extend(ghosts);
        for (o, f, r) in std::mem::take(&mut self.pending_unlocks) {
            if o.host == host {
                self.ghosts.push(Held {
                    owner: o,
                    file: f,
                    range: r,
                    excl: true,
                    since: self.now,
                    needs_reclaim: false,
                    reclaiming: false,
                    maybe_excl: false,
                });
            } else {
                self.pending_unlocks.push((o, f, r));
            }
        }
        self.waiters.retain(|o, _| o.host != host);
    }

    /// The server acknowledged `host`'s SM_NOTIFY: it has freed the host's old locks.
    pub fn host_notified_server(&mut self, host: usize) {
        self.ghosts.retain(|g| g.owner.host != host);
    }

    /// SMB client `client` was told its CREATE succeeded (rule 6).
    pub fn smb_opened(&mut self, client: usize, h: crate::smb::Handle) {
        let others: Vec<(usize, crate::smb::Handle)> = self
            .smb_handles
            .iter()
            .filter(|(_, o)| o.file == h.file)
            .copied()
            .collect();
        if !others.is_empty() {
            self.stats.smb_shared_opens += 1;
        }
        for (c, o) in others {
            if share_clash(h.access, h.share, o.access, o.share) {
                self.violation(format!(
                    "share modes violated: s{client} opened f{} with access {:#x} share {} while s{c} holds {:?} with access {:#x} share {}",
                    h.file, h.access, h.share, o.fid, o.access, o.share
                ));
            }
        }
        let orphans: Vec<(usize, crate::smb::Handle)> = self
            .smb_orphans
            .iter()
            .filter(|(_, o)| o.file == h.file && share_clash(h.access, h.share, o.access, o.share))
            .copied()
            .collect();
        for (c, o) in orphans {
            self.smb_deferred.push((
                c,
                o.fid,
                format!(
                    "s{client} opened f{} with access {:#x} share {} against its access {:#x} share {}",
                    h.file, h.access, h.share, o.access, o.share
                ),
            ));
        }
        self.smb_handles.push((client, h));
    }

    /// SMB client `client` sends CLOSE for `fid`: it no longer relies on the handle.
    pub fn smb_closing(&mut self, client: usize, fid: proto_smb2::cmd::FileId) {
        self.smb_handles
            .retain(|(c, h)| !(*c == client && h.fid == fid));
    }

    /// SMB client `client`'s connection is gone, and with it every handle (none is durable)
    /// and every lock.
    pub fn smb_conn_lost(&mut self, client: usize) {
        // Durable handles outlive their connection until reconnected or given up.
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.smb_handles)
            .into_iter()
            .partition(|(c, _)| *c == client);
        self.smb_handles = kept;
        self.smb_orphans
            .extend(gone.into_iter().filter(|(_, h)| h.durable));
        let durable: Vec<proto_smb2::cmd::FileId> = self
            .smb_orphans
            .iter()
            .filter(|(c, _)| *c == client)
            .map(|(_, h)| h.fid)
            .collect();
        let owners: Vec<(Owner, proto_smb2::cmd::FileId)> = self
            .smb_lock_handle
            .iter()
            .filter(|(_, (c, _))| *c == client)
            .map(|(o, (_, f))| (*o, *f))
            .collect();
        for (o, fid) in owners {
            if durable.contains(&fid) {
                self.beliefs.park(o, true);
            } else {
                self.beliefs.drop_owner(o);
                self.smb_lock_handle.remove(&o);
            }
        }
        self.smb_w.retain(|(k, _)| match k {
            crate::smb::CacheKey::Lease(c, _) | crate::smb::CacheKey::Oplock(c, _) => *c != client,
        });
    }

    /// A durable handle of `client` was reconnected (rule 11): nothing may have been
    /// granted against it meanwhile; it is `h` again, with its locks.
    pub fn smb_reconnected(
        &mut self,
        client: usize,
        old: proto_smb2::cmd::FileId,
        h: crate::smb::Handle,
    ) {
        self.stats.smb_reconnects += 1;
        self.smb_orphans
            .retain(|(c, o)| !(*c == client && o.fid == old));
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.smb_deferred)
            .into_iter()
            .partition(|(c, f, _)| *c == client && *f == old);
        self.smb_deferred = rest;
        for (_, _, what) in mine {
            self.violation(format!(
                "durable handle {old:?} of s{client} reconnected, but meanwhile {what}"
            ));
        }
        let owners: Vec<Owner> = self
            .smb_lock_handle
            .iter()
            .filter(|(_, (c, f))| *c == client && *f == old)
            .map(|(o, _)| *o)
            .collect();
        for o in owners {
            self.beliefs.park(o, false);
            self.smb_lock_handle.insert(o, (client, h.fid));
        }
        self.smb_handles.push((client, h));
    }

    /// A durable handle of `client` could not be reconnected: the server gave it up, and
    /// what was granted against it meanwhile was fine.
    pub fn smb_orphan_lost(&mut self, client: usize, fid: proto_smb2::cmd::FileId) {
        self.smb_orphans
            .retain(|(c, o)| !(*c == client && o.fid == fid));
        self.smb_deferred
            .retain(|(c, f, _)| !(*c == client && *f == fid));
        let owners: Vec<Owner> = self
            .smb_lock_handle
            .iter()
            .filter(|(_, (c, f))| *c == client && *f == fid)
            .map(|(o, _)| *o)
            .collect();
        for o in owners {
            self.beliefs.drop_owner(o);
            self.smb_lock_handle.remove(&o);
        }
    }

    /// An NLM TEST sent at `sent` was answered "no conflict" (rule 1 seen from the other
    /// side): no belief older than the TEST may conflict with it. A contested belief (its
    /// reclaim on its way after grace) does not count; a parked one (a durable SMB handle's
    /// lock while its connection is gone) counts only if the handle is reconnected.
    pub fn test_found_nothing(
        &mut self,
        owner: Owner,
        file: usize,
        range: Range,
        excl: bool,
        sent: Micros,
    ) {
        let grace = self.grace;
        let stale = self
            .beliefs
            .all()
            .iter()
            .find(|h| {
                h.file == file
                    && h.owner != owner
                    && h.since < sent
                    && h.range.overlaps(&range)
                    && (h.excl || excl)
                    && !h.contested(grace)
                    && !self.beliefs.is_parked(h.owner)
            })
            .cloned();
        if let Some(h) = stale {
            self.violation(format!(
                "TEST by {owner} of f{file} {range} {} answered no conflict, but {} holds {} {} since {}",
                mode(excl),
                h.owner,
                h.range,
                mode(h.excl),
                crate::trace::fmt_time(h.since)
            ));
        }
        self.defer_parked(
            owner,
            file,
            range,
            excl,
            &format!(
                "TEST by {owner} of f{file} {range} {} found no conflict",
                mode(excl)
            ),
        );
    }

    /// Defers the conflicts of a grant with parked beliefs (rule 11).
    fn defer_parked(&mut self, owner: Owner, file: usize, range: Range, excl: bool, what: &str) {
        for h in self.beliefs.parked_conflicts(owner, file, range, excl) {
            if let Some((c, fid)) = self.smb_lock_handle.get(&h.owner).copied() {
                self.smb_deferred.push((
                    c,
                    fid,
                    format!("{what}, over its lock {} {}", h.range, mode(h.excl)),
                ));
            }
        }
    }

    /// SMB client `client` was told it holds lock `l` (rule 1, across protocols: no other
    /// owner, NLM or SMB, may believe it holds a conflicting lock). SMB locks of handles
    /// that are not durable are not journalled, so rule 3 does not apply.
    pub fn smb_lock_granted(&mut self, client: usize, l: &crate::smb::SmbLock) {
        self.stats.smb_locks += 1;
        let range = Range::nlm(l.offset, l.length);
        let in_grace = self.in_grace();
        if let Some(h) = self
            .beliefs
            .conflict_now(l.owner, l.file, range, l.excl, in_grace)
            .cloned()
        {
            self.violation(format!(
                "conflicting grant: SMB lock of s{client} f{} {range} {}, but {} holds {} {} since {}",
                l.file,
                mode(l.excl),
                h.owner,
                h.range,
                mode(h.excl),
                crate::trace::fmt_time(h.since)
            ));
        }
        self.defer_parked(
            l.owner,
            l.file,
            range,
            l.excl,
            &format!(
                "s{client} got an SMB lock f{} {range} {}",
                l.file,
                mode(l.excl)
            ),
        );
        self.beliefs.grant(l.owner, l.file, range, l.excl, self.now);
        self.smb_lock_handle.insert(l.owner, (client, l.fid));
    }

    /// Whether the lease or oplock `key` on `file` holds W, as its client relies on it.
    pub fn smb_caching(&mut self, key: crate::smb::CacheKey, file: usize, w: bool) {
        self.smb_w.retain(|(k, _)| *k != key);
        if w {
            self.smb_w.push((key, file));
        }
    }

    /// Rule 10: an SMB client's data open, READ, WRITE or LOCK on `file` (under its lease or
    /// oplock `own`) completed, so no other lease or oplock may still hold W there.
    pub fn smb_no_foreign_w(
        &mut self,
        client: usize,
        file: usize,
        own: Option<crate::smb::CacheKey>,
        what: &str,
    ) {
        let hit = self
            .smb_w
            .iter()
            .find(|(k, f)| *f == file && Some(*k) != own)
            .copied();
        if let Some((k, _)) = hit {
            self.violation(format!(
                "{what} of s{client} on f{file} completed while {k:?} still caches writes (W)"
            ));
        }
    }

    /// An SMB lock is given up (UNLOCK or CLOSE sent).
    pub fn smb_lock_released(&mut self, owner: Owner, file: usize, range: Range) {
        self.beliefs.release(owner, file, range);
    }

    /// An SMB READ or WRITE sent at `sent` was answered with success (rule 8).
    pub fn smb_io_done(
        &mut self,
        client: usize,
        file: usize,
        range: Range,
        write: bool,
        sent: Micros,
    ) {
        let hit = self
            .beliefs
            .all()
            .iter()
            .find(|h| {
                h.file == file
                    && h.range.overlaps(&range)
                    && (write || h.excl)
                    && h.since <= sent
                    // A reclaim still on its way after grace: the server dropped the lock at
                    // the end of grace, only the reclaim's answer will say (rule 2).
                    && !h.contested(self.grace)
                    && !self.beliefs.is_parked(h.owner)
            })
            .cloned();
        self.defer_parked(
            Owner {
                host: crate::smb::SMB_OWNER_BASE + client,
                boot: u32::MAX,
                proc_: u32::MAX,
            },
            file,
            range,
            write,
            &format!(
                "s{client} did an SMB {} of f{file} {range}",
                if write { "WRITE" } else { "READ" }
            ),
        );
        if let Some(h) = hit {
            self.violation(format!(
                "SMB {} by s{client} of f{file} {range} went through {} {} {} held since {}",
                if write { "WRITE" } else { "READ" },
                h.owner,
                h.range,
                mode(h.excl),
                crate::trace::fmt_time(h.since)
            ));
        }
    }

    /// Time passed: grace may end (rule 4), waiters may starve (rule 5), and the global form
    /// of rule 1 holds.
    pub fn step(&mut self, server_in_grace: bool, notified: &dyn Fn(usize) -> bool) {
        let was = self.grace;
        self.grace = server_in_grace;
        if was && !server_in_grace {
            {
                let lost = self.beliefs.drop_unreclaimed();
                for h in lost {
                    self.stats.lost += 1;
                    trace!(
                        self.trace,
                        self.now,
                        "grace over: {} lost f{} {} (not reclaimed)",
                        h.owner,
                        h.file,
                        h.range
                    );
                    if !self.faults_since_start && !notified(h.owner.host) {
                        self.violation(format!(
                            "grace ended without SM_NOTIFY reaching c{} (holding f{} {}), no network fault",
                            h.owner.host, h.file, h.range
                        ));
                    }
                }
            }
        }
        if let Some((a, b)) = self.beliefs.find_conflicting_pair(self.grace) {
            let msg = format!(
                "conflicting beliefs: {} f{} {} {} and {} {} {}",
                a.owner,
                a.file,
                a.range,
                mode(a.excl),
                b.owner,
                b.range,
                mode(b.excl)
            );
            // Report each pair once: it stays until one side lets go.
            if !self.violations.iter().any(|v| v.ends_with(&msg)) {
                self.violation(msg);
            }
        }
        self.check_starvation();
    }

    fn check_starvation(&mut self) {
        let now = self.now;
        let grace_or_down = self.in_grace() || !self.server_up;
        let mut starving = Vec::new();
        let owners: Vec<Owner> = self.waiters.keys().copied().collect();
        for o in owners {
            let w = self.waiters[&o].clone();
            let blocked = grace_or_down
                || self.beliefs.may_block(o, w.file, w.range, w.excl)
                || self
                    .pending_unlocks
                    .iter()
                    .any(|(po, f, r)| *po != o && *f == w.file && r.overlaps(&w.range))
                || self
                    .ghosts
                    .iter()
                    .any(|g| g.file == w.file && g.range.overlaps(&w.range));
            if blocked {
                if let Some(w) = self.waiters.get_mut(&o) {
                    w.blocked_at = now;
                }
                continue;
            }
            let from = w.blocked_at.max(w.since).max(self.last_fault);
            if now.saturating_sub(from) > STARVE {
                starving.push((o, w));
            }
        }
        for (o, w) in starving {
            self.violation(format!(
                "starvation: {o} waits for f{} {} {} since {}, nothing blocks it for {} s",
                w.file,
                w.range,
                mode(w.excl),
                crate::trace::fmt_time(w.since),
                STARVE / 1_000_000
            ));
            // One report per waiter.
            self.waiters.remove(&o);
        }
    }
}

/// "excl" or "shared".
pub fn mode(excl: bool) -> &'static str {
    if excl {
        "excl"
    } else {
        "shared"
    }
}

/// MS-FSA 2.1.5.1.2.1, written out independently of the server: does an open asking for
/// (`a`, `s`) clash with an existing one holding (`ea`, `es`)? Opens without data or delete
/// access take no part.
pub fn share_clash(a: u32, s: u32, ea: u32, es: u32) -> bool {
    const READ: u32 = 0x1 | 0x20; // FILE_READ_DATA, FILE_EXECUTE
    const WRITE: u32 = 0x2 | 0x4; // FILE_WRITE_DATA, FILE_APPEND_DATA
    const DELETE: u32 = 0x0001_0000;
    if a & (READ | WRITE | DELETE) == 0 || ea & (READ | WRITE | DELETE) == 0 {
        return false;
    }
    (ea & READ != 0 && s & 1 == 0)
        || (ea & WRITE != 0 && s & 2 == 0)
        || (ea & DELETE != 0 && s & 4 == 0)
        || (a & READ != 0 && es & 1 == 0)
        || (a & WRITE != 0 && es & 2 == 0)
        || (a & DELETE != 0 && es & 4 == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smb::Handle;
    use proto_smb2::cmd::FileId;

    fn handle(file: usize, v: u64, access: u32, share: u32) -> Handle {
        Handle {
            file,
            fid: FileId {
                persistent: v,
                volatile: v,
            },
            access,
            share,
            lease: false,
            durable: false,
        }
    }

    /// Rule 6 is not vacuous: a reader denying writes beside a writer is reported; the same
    /// open with share-write, or on another file, or after the writer closed, is not.
    #[test]
    fn share_mode_rule_reports_clashing_handles_only() {
        let mut ck = Checker::new(1 << 16);
        ck.smb_opened(1, handle(0, 1, 0x2, 7));
        ck.smb_opened(2, handle(0, 2, 0x1, 3));
        ck.smb_opened(2, handle(1, 3, 0x1, 1));
        assert!(ck.violations.is_empty(), "{:?}", ck.violations);
        ck.smb_opened(3, handle(0, 4, 0x1, 1));
        assert_eq!(ck.violations.len(), 1, "{:?}", ck.violations);
        ck.smb_closing(1, handle(0, 1, 0, 0).fid);
        ck.smb_conn_lost(3);
        ck.smb_opened(3, handle(0, 5, 0x1, 1));
        assert_eq!(ck.violations.len(), 1, "{:?}", ck.violations);
        // Attribute-only opens take no part.
        ck.smb_opened(4, handle(0, 6, 0x80, 0));
        assert_eq!(ck.violations.len(), 1);
    }

    /// Rule 8 is not vacuous: an SMB WRITE answered over a lock an NLM client held since
    /// before it was sent is reported; one sent before the grant is not.
    #[test]
    fn nlm_locks_bind_smb_io() {
        let mut ck = Checker::new(1 << 16);
        ck.now = 10;
        let o = Owner {
            host: 1,
            boot: 0,
            proc_: 0,
        };
        ck.beliefs.grant(o, 0, Range::nlm(0, 100), false, 10);
        ck.smb_io_done(1, 0, Range::nlm(50, 10), false, 20);
        assert!(ck.violations.is_empty(), "a READ beside a shared lock");
        ck.smb_io_done(1, 0, Range::nlm(50, 10), true, 5);
        assert!(ck.violations.is_empty(), "sent before the grant");
        ck.smb_io_done(1, 0, Range::nlm(50, 10), true, 20);
        assert_eq!(ck.violations.len(), 1);
    }
}
