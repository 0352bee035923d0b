//! The reference models the invariants are checked against.
//!
//! - [`Beliefs`]: POSIX byte-range locks (XNFS chapter 10; POSIX `fcntl` F_SETLK semantics:
//!   one owner's locks merge and split, a new lock replaces the owner's overlapping ranges)
//!   built only from what clients were actually told: a GRANTED reply or a GRANTED callback
//!   adds a lock, an UNLOCK removes the range as soon as the client *sends* it (from then
//!   on the client no longer relies on it), a client reboot forgets its host's locks.
//! - [`Durable`]: the lock and monitor state that the durable prefix of the journal
//!   rebuilds, decoded from the records the core appended. A reply that tells a client it
//!   holds a lock must be covered by it when the reply arrives.

use std::collections::BTreeMap;

use lockstate::Change;
use proto_nfs::xdr::XdrDecode;
use proto_nlm::service::NsmRecord;

use crate::trace::Micros;

/// An inclusive byte range `first..=last` (`last == u64::MAX`: to end of file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Range {
    /// First byte.
    pub first: u64,
    /// Last byte (inclusive).
    pub last: u64,
}

impl Range {
    /// The range of an NLM `(l_offset, l_len)` (`l_len == 0`: to end of file).
    pub fn nlm(offset: u64, len: u64) -> Range {
        Range {
            first: offset,
            last: if len == 0 {
                u64::MAX
            } else {
                offset.saturating_add(len - 1)
            },
        }
    }

    /// Whether the two ranges share a byte.
    pub fn overlaps(&self, o: &Range) -> bool {
        self.first <= o.last && o.first <= self.last
    }
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.last == u64::MAX {
            write!(f, "[{}..EOF]", self.first)
        } else {
            write!(f, "[{}..{}]", self.first, self.last)
        }
    }
}

/// A lock owner of the simulation: process `proc_` of boot `boot` of client host `host`.
/// Its wire form (caller_name, svid, oh per file) is in `client.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Owner {
    /// Client host index.
    pub host: usize,
    /// Boot number of that host.
    pub boot: u32,
    /// Process number.
    pub proc_: u32,
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "c{}.b{}.p{}", self.host, self.boot, self.proc_)
    }
}

/// A lock a client was told it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// Owner.
    pub owner: Owner,
    /// File index.
    pub file: usize,
    /// Range.
    pub range: Range,
    /// Exclusive (write) lock.
    pub excl: bool,
    /// When the client learned it holds this range.
    pub since: Micros,
    /// The server restarted since the grant and the client has not reclaimed it yet.
    pub needs_reclaim: bool,
    /// A reclaim of it is on its way (its answer decides; the end of grace does not).
    pub reclaiming: bool,
    /// Weakened to shared by a shared request that may not have been applied (see
    /// [`Beliefs::weaken`]): the server may still hold it exclusive, so it may still block
    /// others' shared requests (rule 5), though the client no longer relies on it.
    pub maybe_excl: bool,
}

impl Held {
    /// Outside grace, a belief whose reclaim is still on its way: the server held it only if
    /// it took the reclaim before grace ended.
    pub fn contested(&self, grace: bool) -> bool {
        self.reclaiming && !grace
    }
}

/// What clients believe they hold. See the module documentation.
#[derive(Debug, Default, Clone)]
pub struct Beliefs {
    held: Vec<Held>,
    /// Owners whose locks are *parked*: SMB locks of a durable handle whose connection is
    /// gone. The server keeps them until the handle is reconnected or given up, or drops
    /// them earlier (its timeout, a break it cannot deliver); only the reconnect's answer
    /// tells. They do not count against grants meanwhile; conflicts with them are checked
    /// when the handle is reconnected ([`crate::check::Checker::smb_reconnected`]).
    parked: std::collections::BTreeSet<Owner>,
}

impl Beliefs {
    /// Every belief.
    pub fn all(&self) -> &[Held] {
        &self.held
    }

    /// A lock of another owner on `file` that a grant of `range` (`excl`) to `owner` would
    /// conflict with (POSIX: overlapping, and at least one exclusive).
    pub fn conflict(&self, owner: Owner, file: usize, range: Range, excl: bool) -> Option<&Held> {
        self.held.iter().find(|h| {
            h.file == file && h.owner != owner && h.range.overlaps(&range) && (excl || h.excl)
        })
    }

    /// As [`Beliefs::conflict`], but outside grace (`grace` false) a belief whose reclaim is
    /// still on its way does not count: the server dropped that lock when grace ended unless
    /// it took the reclaim in time, which only the reclaim's answer tells (a granted one is
    /// then checked against what was granted meanwhile, [`crate::check::Checker::reclaimed`]).
    pub fn conflict_now(
        &self,
        owner: Owner,
        file: usize,
        range: Range,
        excl: bool,
        grace: bool,
    ) -> Option<&Held> {
        self.held.iter().find(|h| {
            h.file == file
                && h.owner != owner
                && h.range.overlaps(&range)
                && (excl || h.excl)
                && !h.contested(grace)
                && !self.parked.contains(&h.owner)
        })
    }

    /// The parked beliefs a grant of `range` (`excl`) to `owner` on `file` conflicts with.
    pub fn parked_conflicts(
        &self,
        owner: Owner,
        file: usize,
        range: Range,
        excl: bool,
    ) -> Vec<Held> {
        self.held
            .iter()
            .filter(|h| {
                h.file == file
                    && h.owner != owner
                    && h.range.overlaps(&range)
                    && (excl || h.excl)
                    && self.parked.contains(&h.owner)
            })
            .cloned()
            .collect()
    }

    /// Parks (or unparks) `owner`'s beliefs.
    pub fn park(&mut self, owner: Owner, parked: bool) {
        if parked {
            self.parked.insert(owner);
        } else {
            self.parked.remove(&owner);
        }
    }

    /// Whether `owner` is parked.
    pub fn is_parked(&self, owner: Owner) -> bool {
        self.parked.contains(&owner)
    }

    /// Forgets every belief of `owner`.
    pub fn drop_owner(&mut self, owner: Owner) {
        self.held.retain(|h| h.owner != owner);
        self.parked.remove(&owner);
    }

    /// `owner` was told it holds `range` on `file`: POSIX replacement of its own
    /// overlapping ranges, then the new piece (adjacent pieces are not merged; the union is
    /// what counts).
    pub fn grant(&mut self, owner: Owner, file: usize, range: Range, excl: bool, now: Micros) {
        self.release(owner, file, range);
        self.held.push(Held {
            owner,
            file,
            range,
            excl,
            since: now,
            needs_reclaim: false,
            reclaiming: false,
            maybe_excl: false,
        });
    }

    /// `owner` gives up `range` on `file` (POSIX split of what it held).
    pub fn release(&mut self, owner: Owner, file: usize, range: Range) {
        let mut out = Vec::with_capacity(self.held.len() + 1);
        for h in self.held.drain(..) {
            if h.owner != owner || h.file != file || !h.range.overlaps(&range) {
                out.push(h);
                continue;
            }
            if h.range.first < range.first {
                out.push(Held {
                    range: Range {
                        first: h.range.first,
                        last: range.first - 1,
                    },
                    ..h.clone()
                });
            }
            if h.range.last > range.last {
                out.push(Held {
                    range: Range {
                        first: range.last + 1,
                        last: h.range.last,
                    },
                    ..h.clone()
                });
            }
        }
        self.held = out;
    }

    /// `owner` asked for a shared lock on `range`: the server may turn the owner's exclusive
    /// pieces there into shared ones (POSIX replacement) before the client hears of it, so
    /// from now on the belief is the weaker one (a denied request leaves the client
    /// believing less than it holds, which only makes the checks weaker, never wrong).
    pub fn weaken(&mut self, owner: Owner, file: usize, range: Range) {
        let affected: Vec<Held> = self
            .held
            .iter()
            .filter(|h| h.owner == owner && h.file == file && h.excl && h.range.overlaps(&range))
            .cloned()
            .collect();
        for h in affected {
            let part = Range {
                first: h.range.first.max(range.first),
                last: h.range.last.min(range.last),
            };
            self.release(owner, file, part);
            self.held.push(Held {
                range: part,
                excl: false,
                maybe_excl: true,
                ..h
            });
        }
    }

    /// Whether a lock of another owner may make the server refuse or queue a request of
    /// `owner` for `range` (`excl`): a conflicting belief, or a piece weakened to shared
    /// that the server may still hold exclusive.
    pub fn may_block(&self, owner: Owner, file: usize, range: Range, excl: bool) -> bool {
        self.held.iter().any(|h| {
            h.file == file
                && h.owner != owner
                && h.range.overlaps(&range)
                && (excl || h.excl || h.maybe_excl)
        })
    }

    /// Forgets every lock of `host` (it rebooted); returns how many there were.
    pub fn drop_host(&mut self, host: usize) -> usize {
        let before = self.held.len();
        self.held.retain(|h| h.owner.host != host);
        self.parked.retain(|o| o.host != host);
        before - self.held.len()
    }

    /// The server restarted: every belief must be reclaimed.
    pub fn server_restarted(&mut self) {
        // SMB locks are reclaimed by reconnecting their durable handle, not by NLM.
        for h in self
            .held
            .iter_mut()
            .filter(|h| h.owner.host < crate::smb::SMB_OWNER_BASE)
        {
            h.needs_reclaim = true;
            h.reclaiming = false;
        }
    }

    /// `host` heard of a server restart (SM_NOTIFY): it reclaims every lock it holds, as
    /// Linux's reclaimer does (`reclaimer` in `fs/lockd/clntlock.c` walks all the host's
    /// locks). That includes a grant it received after the restart but before the
    /// notification, which may be a delayed reply of the server's previous life.
    pub fn notified(&mut self, host: usize) {
        for h in &mut self.held {
            if h.owner.host == host {
                h.needs_reclaim = true;
                h.reclaiming = false;
            }
        }
    }

    /// Marks the pieces of `owner` on `file` within `range` reclaimed.
    pub fn reclaimed(&mut self, owner: Owner, file: usize, range: Range) {
        for h in &mut self.held {
            if h.owner == owner && h.file == file && h.range.overlaps(&range) {
                h.needs_reclaim = false;
                h.reclaiming = false;
            }
        }
    }

    /// A reclaim of `owner`'s pieces on `file` within `range` is sent.
    pub fn reclaim_sent(&mut self, owner: Owner, file: usize, range: Range) {
        for h in &mut self.held {
            if h.owner == owner && h.file == file && h.range.overlaps(&range) {
                h.reclaiming = true;
            }
        }
    }

    /// Beliefs not reclaimed yet and with no reclaim on its way, removed (their grace
    /// ended: the client lost them).
    pub fn drop_unreclaimed(&mut self) -> Vec<Held> {
        let (lost, kept) = self
            .held
            .drain(..)
            .partition(|h| h.needs_reclaim && !h.reclaiming);
        self.held = kept;
        lost
    }

    /// Any two beliefs that conflict (the global form of the no-conflicting-grants rule);
    /// outside grace (`grace` false) beliefs whose reclaim is on its way do not count (see
    /// [`Beliefs::conflict_now`]).
    pub fn find_conflicting_pair(&self, grace: bool) -> Option<(&Held, &Held)> {
        for (i, a) in self.held.iter().enumerate() {
            for b in &self.held[i + 1..] {
                if a.file == b.file
                    && !a.contested(grace)
                    && !b.contested(grace)
                    && !self.parked.contains(&a.owner)
                    && !self.parked.contains(&b.owner)
                    && a.owner != b.owner
                    && a.range.overlaps(&b.range)
                    && (a.excl || b.excl)
                {
                    return Some((a, b));
                }
            }
        }
        None
    }
}

/// An NLM owner as the server's journal names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct WireOwner {
    /// caller_name.
    pub caller_name: Vec<u8>,
    /// svid.
    pub svid: i32,
    /// oh.
    pub oh: Vec<u8>,
}

#[derive(Debug, Clone)]
struct DurableLock {
    owner: WireOwner,
    first: u64,
    last: u64,
    excl: bool,
}

/// The state the durable journal prefix rebuilds. See the module documentation.
#[derive(Debug, Default, Clone)]
pub struct Durable {
    locks: BTreeMap<u64, DurableLock>,
    monitored: BTreeMap<Vec<u8>, i32>,
    /// Records applied.
    pub applied: u64,
    /// Records this model could not decode (their tag or body is unknown to it).
    pub undecoded: u64,
}

/// Journal tag of a `lockstate::Record` (the tagged-record layout the journal policy uses).
pub const TAG_LOCK: u8 = 1;
/// Journal tag of a `proto_nlm::service::NsmRecord`.
pub const TAG_NSM: u8 = 2;

impl Durable {
    /// Applies one journal record.
    pub fn apply(&mut self, record: &[u8]) {
        self.applied += 1;
        match record.split_first() {
            Some((&TAG_LOCK, body)) => match lockstate::Record::from_bytes(body) {
                Ok(r) => self.apply_change(r.change),
                Err(_) => self.undecoded += 1,
            },
            Some((&TAG_NSM, body)) => match NsmRecord::decode_exact(body) {
                Ok(NsmRecord::Monitored { name, state, .. }) => {
                    self.monitored.insert(name.to_vec(), state);
                }
                Ok(NsmRecord::Unmonitored { name }) => {
                    self.monitored.remove(&name[..]);
                }
                Ok(_) => {}
                Err(_) => self.undecoded += 1,
            },
            _ => self.undecoded += 1,
        }
    }

    fn apply_change(&mut self, c: Change) {
        match c {
            Change::NlmLock {
                id,
                owner,
                range,
                exclusive,
                ..
            } => {
                self.locks.insert(
                    id.0,
                    DurableLock {
                        owner: WireOwner {
                            caller_name: owner.caller_name.clone(),
                            svid: owner.svid,
                            oh: owner.oh.clone(),
                        },
                        first: range.first,
                        last: range.last,
                        excl: exclusive,
                    },
                );
            }
            Change::LockReleased { id, .. } => {
                self.locks.remove(&id.0);
            }
            Change::Monitored { host, nsm_state } => {
                self.monitored.insert(host, nsm_state);
            }
            Change::Unmonitored { host } => {
                self.monitored.remove(&host);
            }
            _ => {}
        }
    }

    /// A short description of a journal record, for the trace.
    pub fn describe(record: &[u8]) -> String {
        match record.split_first() {
            Some((&TAG_LOCK, body)) => match lockstate::Record::from_bytes(body) {
                Ok(r) => match r.change {
                    Change::NlmLock {
                        id,
                        owner,
                        range,
                        exclusive,
                        ..
                    } => format!(
                        "lock #{} {} {}..{} {}",
                        id.0,
                        String::from_utf8_lossy(&owner.oh),
                        range.first,
                        if range.last == u64::MAX {
                            "EOF".to_string()
                        } else {
                            range.last.to_string()
                        },
                        if exclusive { "excl" } else { "shared" }
                    ),
                    Change::LockReleased { id, .. } => format!("release #{}", id.0),
                    other => format!("{other:?}"),
                },
                Err(e) => format!("undecodable lock record: {e:?}"),
            },
            Some((&TAG_NSM, body)) => match NsmRecord::decode_exact(body) {
                Ok(r) => format!("{r:?}"),
                Err(e) => format!("undecodable NSM record: {e:?}"),
            },
            _ => "unknown record".into(),
        }
    }

    /// Whether the union of `owner`'s durable locks covers `range` (only exclusive ones when
    /// `excl`). Owners name one file each in this simulation (the `oh` carries the file).
    pub fn covers(&self, owner: &WireOwner, range: Range, excl: bool) -> bool {
        let mut pieces: Vec<(u64, u64)> = self
            .locks
            .values()
            .filter(|l| &l.owner == owner && (l.excl || !excl))
            .map(|l| (l.first, l.last))
            .collect();
        pieces.sort_unstable();
        let mut next = range.first;
        for (first, last) in pieces {
            if first > next {
                break;
            }
            if last >= range.last {
                return true;
            }
            next = next.max(last + 1);
        }
        false
    }

    /// Whether `host` is on the durable monitor list.
    pub fn monitored(&self, host: &[u8]) -> bool {
        self.monitored.contains_key(host)
    }

    /// Number of durable locks.
    pub fn lock_count(&self) -> usize {
        self.locks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Owner = Owner {
        host: 1,
        boot: 0,
        proc_: 0,
    };
    const B: Owner = Owner {
        host: 2,
        boot: 0,
        proc_: 0,
    };

    #[test]
    fn posix_split_and_conflicts() {
        let mut m = Beliefs::default();
        m.grant(A, 0, Range::nlm(0, 100), true, 0);
        m.release(A, 0, Range::nlm(40, 10));
        assert!(m.conflict(B, 0, Range::nlm(40, 10), true).is_none());
        assert!(m.conflict(B, 0, Range::nlm(39, 2), false).is_some());
        assert!(m.conflict(B, 0, Range::nlm(50, 0), false).is_some());
        assert!(m.conflict(B, 1, Range::nlm(0, 0), true).is_none());
        m.grant(A, 0, Range::nlm(0, 0), false, 1);
        assert!(m.conflict(B, 0, Range::nlm(10, 1), false).is_none());
        assert!(m.conflict(B, 0, Range::nlm(10, 1), true).is_some());
        assert_eq!(m.all().len(), 1);
        m.grant(B, 0, Range::nlm(5, 5), false, 2);
        assert!(m.find_conflicting_pair(false).is_none());
        m.grant(B, 0, Range::nlm(5, 5), true, 3);
        assert!(m.find_conflicting_pair(false).is_some());
        // A's reclaim on its way after grace: contested, not counted until answered.
        m.server_restarted();
        m.reclaim_sent(A, 0, Range::nlm(0, 0));
        assert!(m.find_conflicting_pair(true).is_some());
        assert!(m.find_conflicting_pair(false).is_none());
        assert!(m
            .conflict_now(B, 0, Range::nlm(1, 1), true, false)
            .is_none());
        assert!(m.conflict_now(B, 0, Range::nlm(1, 1), true, true).is_some());
    }

    #[test]
    fn durable_union_covers() {
        let mut d = Durable::default();
        let o = WireOwner {
            caller_name: b"h".to_vec(),
            svid: 1,
            oh: b"o".to_vec(),
        };
        let mk = |first, last, excl| DurableLock {
            owner: o.clone(),
            first,
            last,
            excl,
        };
        d.locks.insert(1, mk(0, 9, true));
        d.locks.insert(2, mk(10, 19, false));
        assert!(d.covers(&o, Range::nlm(0, 20), false));
        assert!(!d.covers(&o, Range::nlm(0, 20), true));
        assert!(d.covers(&o, Range::nlm(2, 5), true));
        assert!(!d.covers(&o, Range::nlm(15, 10), false));
    }
}
