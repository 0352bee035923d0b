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

    /// Connections `client` holds now (0 for a client with none: no counter is kept).
    pub fn connections_of(&self, client: IpAddr) -> usize {
        self.per_client
            .get(&client_of(client))
            .copied()
            .unwrap_or(0)
    }

    /// Clients holding at least one connection.
    pub fn clients(&self) -> usize {
        self.per_client.len()
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

/// The logon deadline of SMB connections: a connection must complete a SESSION_SETUP (have
/// a session authenticated, or a guest session) within `timeout` of being accepted, or it
/// is closed. Without it, the table holds connections that negotiated and never log on
/// until newcomers evict them; with it they cost nothing after `timeout`. MS-SMB2 asks for
/// no such timer (its server timers, §3.3.2, concern opens, leases and sessions): this is
/// Janus's own policy for unauthenticated peers, like the record deadline above. A
/// connection that has logged on once is idle like any other from then on (admission
/// above). Keyed like [`Admission`]; `now` is an argument.
#[derive(Debug)]
pub struct LogonDeadlines<K> {
    timeout: Duration,
    by_conn: BTreeMap<K, Instant>,
    order: BTreeSet<(Instant, K)>,
    expired: u64,
    last_warning: Option<Instant>,
}

impl<K: Copy + Ord> LogonDeadlines<K> {
    /// None pending.
    pub fn new(timeout: Duration) -> Self {
        LogonDeadlines {
            timeout,
            by_conn: BTreeMap::new(),
            order: BTreeSet::new(),
            expired: 0,
            last_warning: None,
        }
    }

    /// The time allowed.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `conn` was accepted at `now`: its clock starts.
    pub fn start(&mut self, conn: K, now: Instant) {
        self.end(conn);
        let at = now + self.timeout;
        self.by_conn.insert(conn, at);
        self.order.insert((at, conn));
    }

    /// `conn` logged on, or is gone: no deadline any more.
    pub fn end(&mut self, conn: K) {
        if let Some(at) = self.by_conn.remove(&conn) {
            self.order.remove(&(at, conn));
        }
    }

    /// Connections still to log on.
    pub fn len(&self) -> usize {
        self.by_conn.len()
    }

    /// Whether none is waiting.
    pub fn is_empty(&self) -> bool {
        self.by_conn.is_empty()
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.order.first().map(|(at, _)| *at)
    }

    /// The connections past their deadline at `now`, to be closed (each is forgotten).
    pub fn take_expired(&mut self, now: Instant) -> Vec<K> {
        let mut out = Vec::new();
        while let Some(&(at, conn)) = self.order.first() {
            if at > now {
                break;
            }
            self.order.pop_first();
            self.by_conn.remove(&conn);
            out.push(conn);
        }
        self.expired += out.len() as u64;
        out
    }

    /// Connections closed at their deadline so far.
    pub fn expired(&self) -> u64 {
        self.expired
    }

    /// Whether a closing at `now` is worth a warning: the first, then one per
    /// [`WARN_EVERY`] (a flood of them goes to the debug log; the line carries the count).
    pub fn warn_due(&mut self, now: Instant) -> bool {
        let due = self
            .last_warning
            .is_none_or(|at| now.saturating_duration_since(at) >= WARN_EVERY);
        if due {
            self.last_warning = Some(now);
        }
        due
    }
}
