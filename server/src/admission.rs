//! Connection admission under hostile load: which TCP connection gives way when the table
//! or one client's share of it is full, and by when a record that has started arriving must
//! be complete (slowloris). Plain data: no sockets, no clock (`now` is an argument), so the
//! policy is tested here on its own and any runtime can hold one, keyed by whatever names
//! its connections (`runtime-mio` uses its connection-table slot; the runtime keeps the
//! sockets and closes what this module picks).
//!
//! # The policy
//! - **Table full** (`max_connections`): the new connection is admitted and the connection
//!   that has been idle longest *and has no request in progress* is closed, as Linux's knfsd
//!   does (`svc_check_conn_limits` in Linux's `net/sunrpc/svc_xprt.c` closes the oldest
//!   temporary transport when `sv_maxconn` is exceeded). "In progress" is the
//!   runtime's judgement, passed in as `busy`: calls at the file system, replies not yet
//!   written. Its client loses nothing but the connection, which RPC clients re-open and
//!   retransmit on (RFC 5531 §3 leaves retransmission to the client). A connection holding
//!   only part of a record gives way after every idle one (it has sent no request yet, but
//!   may be a slow writer), the one whose record started first first. If every connection
//!   is busy the new one is refused: closing a busy one would throw away work for a client
//!   that has not sent any.
//! - **Per client** (`max_connections_per_client`): one client may hold at most this many
//!   connections; beyond it, its own idle-longest connection gives way (or, if all its
//!   connections are busy, the new one is refused). A client is an IPv4 address, or the /64
//!   prefix of an IPv6 address (one host usually owns a whole /64, RFC 4291 §2.5.1, and
//!   picks new addresses from it at will, RFC 8981). The default (64) lets a NAT gateway or
//!   a load balancer front 64 single-connection clients (a Linux client uses one connection
//!   per server, or `nconnect` up to 16), while no one address can take more than 1/16 of
//!   the default table of 1,024: an attacker on one address then churns through its own
//!   connections and never evicts anyone else's. Sites with a large NAT in front raise it.
//! - **Record deadline** (`record_timeout`): a record whose first byte has been read must
//!   be complete `record_timeout` later, or the connection is closed. The clock starts
//!   anew with each record, so a client streaming WRITEs is never cut; a client that drips
//!   a byte now and then into one record is. While the runtime does not read a connection
//!   (back-pressure: calls in flight, replies unread) its deadline does not count against
//!   it: the runtime reports that through `reading` and the deadline starts over.
//!
//! Memory: one entry per open connection, one counter per client with a connection, one
//! deadline per connection with a partial record; all bounded by `max_connections`. Choosing
//! a connection to close scans the table (O(n), n ≤ `max_connections`), only when the
//! table or a client is full; everything on the per-read path is O(log n).

use core::net::IpAddr;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// The limits the policy enforces (the runtime's configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionLimits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Most connections open at once from one client (address, or IPv6 /64).
    pub max_per_client: usize,
    /// Time from the first byte of a record to its last.
    pub record_timeout: Duration,
}

/// What to do with a connection just accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit<K> {
    /// Room for it.
    Accept,
    /// Admit it after closing this connection (a key the runtime gave to
    /// [`Admission::insert`]).
    Evict {
        /// The connection to close.
        slot: K,
        /// Which limit was reached.
        limit: Limit,
    },
    /// Close the new connection: every candidate is busy.
    Refuse(Limit),
}

/// The limit that made a connection give way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `max_connections`.
    Table,
    /// `max_connections_per_client`.
    Client,
}

/// Counts, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdmissionStats {
    /// Connections closed to admit a new one.
    pub evicted: u64,
    /// New connections closed at once because every candidate was busy.
    pub refused: u64,
    /// Connections closed for not completing a record in time.
    pub record_timeouts: u64,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    client: IpAddr,
    /// When it was last active, as a tick of [`Admission::tick`]: a total order, where
    /// `Instant`s of one loop pass would tie.
    last_active: u64,
    /// Set while a partial record is buffered.
    record_deadline: Option<Instant>,
}

/// The admission state of every open connection, keyed by the runtime's connection key
/// `K` (a slot number, a [`crate::ConnId`], ...).
#[derive(Debug)]
pub struct Admission<K> {
    limits: AdmissionLimits,
    conns: BTreeMap<K, Entry>,
    per_client: BTreeMap<IpAddr, usize>,
    deadlines: BTreeSet<(Instant, K)>,
    /// Counts accepts, reads and replies: orders connections by their last activity.
    tick: u64,
    stats: AdmissionStats,
    /// When a warning of each [`Warning`] kind was last due.
    last_warning: [Option<Instant>; 2],
}

/// What a rate-limited warning is about: each kind has its own budget, so a flood of one
/// does not hide the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Warning {
    /// A connection evicted or refused.
    Admission = 0,
    /// A connection closed at its record deadline.
    RecordTimeout = 1,
}

/// A flood of evictions must not become a flood of log lines: one warning per this long.
pub const WARN_EVERY: Duration = Duration::from_secs(10);

/// The unit the per-client cap counts: the IPv4 address (also when written as an
/// IPv4-mapped IPv6 address), or the /64 an IPv6 address belongs to.
pub fn client_of(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(a) => IpAddr::V6((u128::from(a) & !u128::from(u64::MAX)).into()),
        v4 => v4,
    }
}

impl<K: Copy + Ord> Admission<K> {
    /// An empty table.
    pub fn new(limits: AdmissionLimits) -> Self {
        Admission {
            limits,
            conns: BTreeMap::new(),
            per_client: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            tick: 0,
            stats: AdmissionStats::default(),
            last_warning: [None; 2],
        }
    }

    /// Whether the runtime should log a warning about an eviction, refusal or record
    /// time-out at `now`: the first time, then at most once per [`WARN_EVERY`] (the line
    /// carries the [`AdmissionStats`], which count what happened between; the rest goes to
    /// the debug log).
    pub fn warn_due(&mut self, now: Instant, kind: Warning) -> bool {
        let last = &mut self.last_warning[kind as usize];
        let due = last.is_none_or(|at| now.saturating_duration_since(at) >= WARN_EVERY);
        if due {
            *last = Some(now);
        }
        due
    }

    /// Counters.
    pub fn stats(&self) -> AdmissionStats {
        self.stats
    }

    /// Open connections known.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Decides about a connection from `peer` just accepted. `busy(slot)` says whether a
    /// connection has a request in progress (it is never closed for a newcomer). The caller
    /// closes the evicted slot ([`Admission::remove`]) and then [`Admission::insert`]s the
    /// new one, or closes the new one on [`Admit::Refuse`].
    pub fn admit(&mut self, peer: IpAddr, busy: impl Fn(K) -> bool) -> Admit<K> {
        let client = client_of(peer);
        let (limit, only_client) =
            if self.per_client.get(&client).copied().unwrap_or(0) >= self.limits.max_per_client {
                (Limit::Client, Some(client))
            } else if self.conns.len() >= self.limits.max_connections {
                (Limit::Table, None)
            } else {
                return Admit::Accept;
            };
        // Idle connections first, the one idle longest first; then those with a partial
        // record, the one whose record started first first (then the one idle longest).
        let victim = self
            .conns
            .iter()
            .filter(|(slot, e)| only_client.is_none_or(|c| e.client == c) && !busy(**slot))
            .min_by_key(|(_, e)| match e.record_deadline {
                None => (false, None, e.last_active),
                Some(d) => (true, Some(d), e.last_active),
            })
            .map(|(slot, _)| *slot);
        match victim {
            Some(slot) => {
                self.stats.evicted += 1;
                Admit::Evict { slot, limit }
            }
            None => {
                self.stats.refused += 1;
                Admit::Refuse(limit)
            }
        }
    }

    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    /// A connection from `peer` was admitted into `slot`.
    pub fn insert(&mut self, slot: K, peer: IpAddr) {
        self.remove(slot);
        let last_active = self.next_tick();
        let client = client_of(peer);
        *self.per_client.entry(client).or_insert(0) += 1;
        self.conns.insert(
            slot,
            Entry {
                client,
                last_active,
                record_deadline: None,
            },
        );
    }

    /// The connection in `slot` is gone.
    pub fn remove(&mut self, slot: K) {
        let Some(e) = self.conns.remove(&slot) else {
            return;
        };
        if let Some(d) = e.record_deadline {
            self.deadlines.remove(&(d, slot));
        }
        if let Some(n) = self.per_client.get_mut(&e.client) {
            *n -= 1;
            if *n == 0 {
                self.per_client.remove(&e.client);
            }
        }
    }

    /// Bytes were read on `slot` at `now`, or buffered bytes handed over again:
    /// `completed` if at least one record was finished, `partial` if part of a record is
    /// left in the buffer.
    pub fn input(&mut self, slot: K, now: Instant, completed: bool, partial: bool) {
        let timeout = self.limits.record_timeout;
        let tick = self.next_tick();
        let Some(e) = self.conns.get_mut(&slot) else {
            return;
        };
        e.last_active = tick;
        let deadline = match (partial, e.record_deadline) {
            (false, _) => None,
            // The same record, still arriving: its deadline stands.
            (true, Some(d)) if !completed => Some(d),
            // A record began in this read.
            (true, _) => Some(now + timeout),
        };
        if deadline != e.record_deadline {
            if let Some(old) = e.record_deadline {
                self.deadlines.remove(&(old, slot));
            }
            if let Some(new) = deadline {
                self.deadlines.insert((new, slot));
            }
            e.record_deadline = deadline;
        }
    }

    /// A reply was queued on `slot`: the connection is not idle (its record deadline is
    /// unchanged).
    pub fn output(&mut self, slot: K) {
        let tick = self.next_tick();
        if let Some(e) = self.conns.get_mut(&slot) {
            e.last_active = tick;
        }
    }

    /// The earliest record deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(d, _)| *d)
    }

    /// Connections whose record deadline has passed at `now`, to be closed. One the runtime
    /// is not reading (`reading(slot)` false: back-pressure) gets a fresh deadline instead.
    pub fn take_expired(&mut self, now: Instant, reading: impl Fn(K) -> bool) -> Vec<K> {
        let mut expired = Vec::new();
        while let Some(&(d, slot)) = self.deadlines.first() {
            if d > now {
                break;
            }
            self.deadlines.pop_first();
            let fresh = now + self.limits.record_timeout;
            if let Some(e) = self.conns.get_mut(&slot) {
                if reading(slot) {
                    e.record_deadline = None;
                    expired.push(slot);
                } else {
                    e.record_deadline = Some(fresh);
                    self.deadlines.insert((fresh, slot));
                }
            }
        }
        self.stats.record_timeouts += expired.len() as u64;
        expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(30);

    #[allow(clippy::disallowed_methods)]
    fn t0() -> Instant {
        Instant::now()
    }

    fn table(max: usize, per_client: usize) -> Admission<usize> {
        Admission::new(AdmissionLimits {
            max_connections: max,
            max_per_client: per_client,
            record_timeout: T,
        })
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn secs(t: Instant, s: u64) -> Instant {
        t + Duration::from_secs(s)
    }

    #[test]
    fn room_means_accept() {
        let mut a = table(2, 2);
        assert_eq!(a.admit(ip("10.0.0.1"), |_| false), Admit::Accept);
        a.insert(0, ip("10.0.0.1"));
        assert_eq!(a.admit(ip("10.0.0.2"), |_| false), Admit::Accept);
        assert_eq!(a.stats(), AdmissionStats::default());
    }

    #[test]
    fn full_table_evicts_the_connection_idle_longest() {
        let mut a = table(3, 10);
        let t = t0();
        for slot in 0..3 {
            a.insert(slot, ip(&format!("10.0.0.{slot}")));
        }
        // Slot 1 spoke first, then slot 2 was answered, then slot 0 spoke: slot 1 idled
        // longest.
        a.input(1, secs(t, 1), true, false);
        a.output(2);
        a.input(0, secs(t, 9), true, false);
        assert_eq!(
            a.admit(ip("10.9.9.9"), |_| false),
            Admit::Evict {
                slot: 1,
                limit: Limit::Table
            }
        );
        // A busy connection is never the victim, however long it has been quiet.
        assert_eq!(
            a.admit(ip("10.9.9.9"), |s| s == 1),
            Admit::Evict {
                slot: 2,
                limit: Limit::Table
            }
        );
        assert_eq!(
            a.admit(ip("10.9.9.9"), |_| true),
            Admit::Refuse(Limit::Table)
        );
        assert_eq!(
            a.stats(),
            AdmissionStats {
                evicted: 2,
                refused: 1,
                record_timeouts: 0
            }
        );
    }

    #[test]
    fn a_partial_record_gives_way_after_every_idle_connection() {
        let mut a = table(3, 10);
        let t = t0();
        for slot in 0..3 {
            a.insert(slot, ip("10.0.0.1"));
        }
        // Slots 0 and 1 hold partial records (0 started later), slot 2 is idle and spoke
        // most recently.
        a.input(0, secs(t, 3), false, true);
        a.input(1, secs(t, 2), false, true);
        a.input(2, secs(t, 4), true, false);
        let evict = |slot| Admit::Evict {
            slot,
            limit: Limit::Table,
        };
        assert_eq!(a.admit(ip("10.0.0.2"), |_| false), evict(2));
        assert_eq!(a.admit(ip("10.0.0.2"), |s| s == 2), evict(1));
        a.remove(1);
        a.insert(1, ip("10.0.0.3"));
        assert_eq!(
            a.admit(ip("10.0.0.2"), |s| s == 2),
            evict(1),
            "idle beats partial"
        );
    }

    #[test]
    fn a_client_at_its_cap_gives_way_among_its_own_connections() {
        let mut a = table(100, 2);
        a.insert(0, ip("10.0.0.1"));
        a.insert(1, ip("10.0.0.2"));
        a.insert(2, ip("10.0.0.2"));
        // 10.0.0.1 is the idlest, but 10.0.0.2 reached its cap: its own oldest goes.
        assert_eq!(
            a.admit(ip("10.0.0.2"), |_| false),
            Admit::Evict {
                slot: 1,
                limit: Limit::Client
            }
        );
        assert_eq!(
            a.admit(ip("10.0.0.2"), |s| s != 0),
            Admit::Refuse(Limit::Client)
        );
        assert_eq!(a.admit(ip("10.0.0.3"), |_| true), Admit::Accept);
        // Counts follow removals.
        a.remove(1);
        assert_eq!(a.admit(ip("10.0.0.2"), |_| true), Admit::Accept);
        a.remove(2);
        a.remove(2);
        assert_eq!(a.len(), 1);
        assert_eq!(
            a.per_client.len(),
            1,
            "no counter left for a client that has gone"
        );
    }

    /// Accepts of one loop pass share their `now`; a newcomer put into the slot its
    /// victim freed must still not be the next victim.
    #[test]
    fn the_oldest_goes_first_also_among_connections_of_one_instant() {
        let mut a = table(100, 8);
        for slot in 0..8 {
            a.insert(slot, ip("10.0.0.9"));
        }
        let mut oldest = (0..8).collect::<std::collections::VecDeque<usize>>();
        for _ in 0..20 {
            let Admit::Evict { slot, .. } = a.admit(ip("10.0.0.9"), |_| false) else {
                panic!("expected an eviction");
            };
            assert_eq!(Some(slot), oldest.pop_front());
            a.remove(slot);
            a.insert(slot, ip("10.0.0.9"));
            oldest.push_back(slot);
        }
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(
            client_of(ip("2001:db8:1:2:aaaa::1")),
            client_of(ip("2001:db8:1:2:bbbb::7"))
        );
        assert_ne!(
            client_of(ip("2001:db8:1:2::1")),
            client_of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(client_of(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        let mut a = table(100, 1);
        a.insert(0, ip("2001:db8::1"));
        assert!(matches!(
            a.admit(ip("2001:db8::ffff"), |_| false),
            Admit::Evict {
                slot: 0,
                limit: Limit::Client
            }
        ));
    }

    #[test]
    fn a_record_must_be_complete_within_the_timeout_of_its_first_byte() {
        let mut a = table(10, 10);
        let t = t0();
        a.insert(0, ip("10.0.0.1"));
        a.insert(1, ip("10.0.0.1"));
        assert_eq!(a.next_deadline(), None);
        // Slot 0 drips bytes into one record; slot 1 streams records, each started anew.
        a.input(0, secs(t, 1), false, true);
        a.input(1, secs(t, 1), false, true);
        for s in 2..=30 {
            a.input(0, secs(t, s), false, true);
            a.input(1, secs(t, s), true, true);
        }
        assert_eq!(a.next_deadline(), Some(secs(t, 31)));
        assert!(a.take_expired(secs(t, 30), |_| true).is_empty());
        assert_eq!(a.take_expired(secs(t, 31), |_| true), vec![0]);
        assert_eq!(a.stats().record_timeouts, 1);
        assert_eq!(a.next_deadline(), Some(secs(t, 60)));
        // Slot 1 completes its record and buffers nothing: no deadline.
        a.input(1, secs(t, 40), true, false);
        assert_eq!(a.next_deadline(), None);
    }

    #[test]
    fn back_pressure_restarts_the_deadline_instead_of_closing() {
        let mut a = table(10, 10);
        let t = t0();
        a.insert(3, ip("10.0.0.1"));
        a.input(3, t, false, true);
        assert!(a.take_expired(secs(t, 30), |_| false).is_empty());
        assert_eq!(a.next_deadline(), Some(secs(t, 60)));
        assert_eq!(a.take_expired(secs(t, 60), |_| true), vec![3]);
        // Removing a connection drops its deadline.
        a.input(3, secs(t, 61), false, true);
        a.remove(3);
        assert_eq!(a.next_deadline(), None);
        assert!(a.is_empty());
    }

    #[test]
    fn warnings_are_rate_limited() {
        let mut a = table(1, 1);
        let t = t0();
        assert!(a.warn_due(t, Warning::Admission));
        assert!(!a.warn_due(secs(t, 9), Warning::Admission));
        assert!(a.warn_due(secs(t, 9), Warning::RecordTimeout));
        assert!(a.warn_due(secs(t, 10), Warning::Admission));
        assert!(!a.warn_due(secs(t, 10), Warning::Admission));
        assert!(!a.warn_due(secs(t, 18), Warning::RecordTimeout));
    }

    #[test]
    fn reinserting_a_slot_forgets_the_old_connection() {
        let mut a = table(10, 10);
        let t = t0();
        a.insert(0, ip("10.0.0.1"));
        a.input(0, t, false, true);
        a.insert(0, ip("10.0.0.2"));
        assert_eq!(a.next_deadline(), None);
        assert_eq!(a.per_client.get(&ip("10.0.0.1")), None);
        assert_eq!(a.per_client.get(&ip("10.0.0.2")), Some(&1));
    }
}
