//! The invariant checker: the reference models, the trace, and the rules a run must keep.
//!
//! Rules (each violation is one line in [`Checker::violations`] and in the trace):
//! 1. **No conflicting grants**: when a client is told it holds a lock (a GRANTED reply, a
//!    GRANTED callback, a reclaim), no other owner may believe it holds a conflicting one
//!    ([`Beliefs::conflict`]). A TEST answered "no conflict" while a conflicting belief older
//!    than the TEST exists is the same bug seen from the other side.
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
//! 5. **No starvation**: a blocked waiter that nothing blocks (no conflicting belief nor one
//!    weakened to shared by a request the server may not have applied, no
//!    UNLOCK in flight, no rebooted host's locks still held, no grace, no fault) for
//!    [`STARVE`] must have been granted.

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
        if let Some(h) = self.beliefs.conflict(owner, file, range, excl).cloned() {
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
        if let Some((a, b)) = self.beliefs.find_conflicting_pair() {
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
