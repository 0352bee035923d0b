//! The event loop: one mio thread that owns the sockets and drives the sans-IO server core
//! ([`Core`]; docs/architecture.md, "How a request flows").
//!
//! # One pass of the loop
//! 1. `poll` with a timeout from [`Core::poll_timeout`] (zero while some connection
//!    still has bytes to read that its per-pass budget left behind).
//! 2. Events only record readiness: a connection becomes *readable*/*writable*, a listener
//!    accepts, the waker collects worker results, the signal pipe starts the shutdown,
//!    callback sockets hand what happened on them to [`Core::handle_callback`].
//! 3. Input: every connection that is readable and may read — [`Core::wants_read`] and
//!    its write queue below the soft limit (back-pressure) — reads up to a budget and calls
//!    [`Core::handle_tcp_buf`]; UDP sockets likewise with [`Core::handle_datagram`].
//! 4. Drain the core's outputs until all are empty: transmits, jobs (to the workers),
//!    closes, resumed connections (their buffered records are handed over again), callback
//!    commands.
//! 5. Group commit: the records of [`Core::poll_journal_append`] are appended and made
//!    durable with ONE `fdatasync`, then [`Core::handle_journal_durable`] lets the replies
//!    that waited for them out (the core holds them until then). If the journal cannot be
//!    written or synced, [`Core::handle_journal_failed`]: those replies are never sent.
//! 6. Output: write queued replies; `WouldBlock` is handled in one place (`Conn::flush`).
//! 7. Interest is recomputed for every connection that was touched.
//!
//! Memory is bounded everywhere: the read buffer of a connection (twice the largest record),
//! its write queue (a soft limit that stops reading and a hard limit that closes), the
//! number of connections, the UDP send queue, and the job queue of the workers.
//!
//! Hostile load: which connection gives way when the table or one client is full, and the
//! deadline of a partial record, are decided by `server::admission`; the loop reports
//! accepts, input, output and closes to it (the lines marked `admission:`).

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use mio::net::{TcpListener, TcpStream, UdpSocket};
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use rustix::io::Errno;
use server::admission::{Admission, AdmissionLimits, Admit, Warning};
use server::{ConnId, Core, Job, Listener, Transmit};

use crate::config::Limits;
use crate::journal::Journal;
use crate::listen::{BoundAddrs, Listeners};
use crate::nlm_callbacks::{CallbackIo, CALLBACK_TOKEN_BASE};
use crate::workers::WorkerPool;

const WAKER: Token = Token(0);
const SIGNALS: Token = Token(1);
const NFS_TCP: Token = Token(2);
const NFS_UDP: Token = Token(3);
const PMAP_TCP: Token = Token(4);
const PMAP_UDP: Token = Token(5);
const SMB_TCP: Token = Token(6);
/// Connection tokens are `CONN_BASE + slot`.
const CONN_BASE: usize = 16;

/// The UDP sockets have the core's fixed ids ([`NFS_UDP`], [`PORTMAP_UDP`]); TCP
/// connections have ids `>= 1 << 32`.
const NFS_UDP_ID: ConnId = server::NFS_UDP;
const PMAP_UDP_ID: ConnId = server::PORTMAP_UDP;

/// Bytes one connection may read in one pass before others get their turn: a whole
/// maximal WRITE (1 MiB of data and its headers) with room to spare.
const READ_BUDGET: usize = 2 * 1024 * 1024;
/// Smallest read: enough for many small records at once.
const READ_MIN: usize = 64 * 1024;
/// Read-buffer capacity an idle connection may keep.
const IDLE_READ_CAPACITY: usize = 128 * 1024;
/// Datagrams one UDP socket may read in one pass.
const UDP_BUDGET: usize = 64;
/// Largest UDP datagram (RFC 768 length field).
const UDP_MAX: usize = 65_535;
/// How long a shutdown waits for in-flight replies.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Counters the loop publishes for other threads (tests now, a metrics endpoint later).
#[derive(Debug, Default)]
pub struct Metrics {
    /// Open TCP connections.
    pub connections: AtomicUsize,
    /// Connections accepted and closed at once: the table (or the client's share of it)
    /// was full of connections with requests in progress.
    pub refused_connections: AtomicUsize,
    /// Connections closed to admit a new one (idle longest, no request in progress).
    pub evicted_connections: AtomicUsize,
    /// Connections closed because a record was not complete within `record_timeout`.
    pub record_timeouts: AtomicUsize,
    /// File-system requests at the workers.
    pub fs_in_flight: AtomicUsize,
    /// The most reply bytes ever queued on one connection (shows back-pressure works).
    pub write_queue_high_water: AtomicUsize,
}

/// Stops a running [`EventLoop`] from another thread (the tests' SIGTERM).
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    flag: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl ShutdownHandle {
    /// Asks the loop to shut down as on SIGTERM.
    pub fn shutdown(&self) {
        self.flag.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
    }
}

/// One TCP connection.
#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    id: ConnId,
    /// Received bytes not yet consumed by the server (a `Vec` so that reads fill its
    /// spare capacity without zeroing it first).
    read_buf: Vec<u8>,
    out: VecDeque<Bytes>,
    out_bytes: usize,
    /// Readiness seen and not yet consumed (to `WouldBlock`, or a short read).
    readable: bool,
    /// The peer closed its side or the socket has an error: read to the end instead of
    /// trusting a short read (the hang-up was already signalled, no new edge will come).
    hup: bool,
    /// The last write hit `WouldBlock`; wait for a writable event before trying again.
    write_blocked: bool,
    /// Registered interest (`None` = deregistered).
    interest: Option<Interest>,
    /// In the `touched` list already.
    touched: bool,
}

enum FlushOutcome {
    Done,
    Blocked,
    Failed(io::Error),
}

impl Conn {
    /// Writes queued bytes until empty or `WouldBlock` — the one place writes block.
    fn flush(&mut self) -> FlushOutcome {
        while !self.out.is_empty() {
            let slices: Vec<IoSlice<'_>> =
                self.out.iter().take(64).map(|b| IoSlice::new(b)).collect();
            match self.stream.write_vectored(&slices) {
                Ok(0) => return FlushOutcome::Failed(io::ErrorKind::WriteZero.into()),
                Ok(mut n) => {
                    self.out_bytes -= n;
                    while n > 0 {
                        let Some(front) = self.out.front_mut() else {
                            break;
                        };
                        if n >= front.len() {
                            n -= front.len();
                            self.out.pop_front();
                        } else {
                            front.advance(n);
                            n = 0;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return FlushOutcome::Blocked,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return FlushOutcome::Failed(e),
            }
        }
        FlushOutcome::Done
    }
}

/// A UDP socket (NFS or portmapper).
#[derive(Debug)]
struct UdpEndpoint {
    socket: UdpSocket,
    id: ConnId,
    token: Token,
    readable: bool,
    out: VecDeque<(SocketAddr, Bytes)>,
}

/// Connection table: slots reused through a free list; a generation in the [`ConnId`]
/// keeps an old id (a late file-system result) from reaching a new connection in the
/// same slot.
#[derive(Debug, Default)]
struct ConnTable {
    slots: Vec<Option<Conn>>,
    free: Vec<usize>,
    generation: u32,
    len: usize,
}

impl ConnTable {
    fn insert(&mut self, make: impl FnOnce(usize, ConnId) -> Conn) -> usize {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        self.generation = self.generation.wrapping_add(1).max(1);
        let id = ConnId((u64::from(self.generation) << 32) | slot as u64);
        self.slots[slot] = Some(make(slot, id));
        self.len += 1;
        slot
    }
    fn remove(&mut self, slot: usize) -> Option<Conn> {
        let c = self.slots.get_mut(slot)?.take()?;
        self.free.push(slot);
        self.len -= 1;
        Some(c)
    }
    fn get_mut(&mut self, slot: usize) -> Option<&mut Conn> {
        self.slots.get_mut(slot)?.as_mut()
    }
    /// The slot of a live connection with this id.
    fn slot_of(&self, id: ConnId) -> Option<usize> {
        let slot = (id.0 & 0xffff_ffff) as usize;
        match self.slots.get(slot) {
            Some(Some(c)) if c.id == id => Some(slot),
            _ => None,
        }
    }
    fn slots(&self) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&i| self.slots[i].is_some())
            .collect()
    }
}

/// Everything the event loop is built from.
pub struct EventLoopParts {
    /// The bound sockets.
    pub listeners: Listeners,
    /// The server core (built over the journal's records).
    pub core: Core,
    /// Limits.
    pub limits: Limits,
    /// Number of worker threads.
    pub workers: usize,
    /// The journal (committed before dependent replies; marked clean at shutdown).
    pub journal: Journal,
}

/// The runtime. Build with [`EventLoop::new`], then [`EventLoop::run`].
pub struct EventLoop {
    poll: Poll,
    waker: Arc<Waker>,
    shutdown_flag: Arc<AtomicBool>,
    signals: Option<signal_hook_mio::v1_0::Signals>,
    nfs_tcp: Option<TcpListener>,
    pmap_tcp: Option<TcpListener>,
    smb_tcp: Option<TcpListener>,
    udp: Vec<UdpEndpoint>,
    addrs: BoundAddrs,
    core: Core,
    conns: ConnTable,
    /// Which connection gives way under load; record deadlines.
    admission: Admission<usize>,
    /// Connections to look at in the next pass (readiness, new output, lifted limits).
    touched: Vec<usize>,
    workers: Option<WorkerPool>,
    backlog: VecDeque<Job>,
    in_flight: usize,
    journal: Journal,
    callbacks: CallbackIo,
    limits: Limits,
    /// The `now` of the current pass.
    now: Instant,
    /// Set once shutting down: the deadline for in-flight replies.
    draining: Option<Instant>,
    udp_buf: Vec<u8>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLoop")
            .field("addrs", &self.addrs)
            .field("connections", &self.conns.len)
            .field("in_flight", &self.in_flight)
            .finish_non_exhaustive()
    }
}

impl EventLoop {
    /// Registers the sockets, starts the workers and builds the RPC server.
    pub fn new(parts: EventLoopParts) -> io::Result<EventLoop> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let addrs = parts.listeners.addrs()?;
        let Listeners {
            nfs_tcp,
            nfs_udp,
            portmap,
            smb,
        } = parts.listeners;
        let registry = poll.registry();
        let listen = |l: std::net::TcpListener, token| -> io::Result<TcpListener> {
            l.set_nonblocking(true)?;
            let mut l = TcpListener::from_std(l);
            registry.register(&mut l, token, Interest::READABLE)?;
            Ok(l)
        };
        let nfs_tcp = listen(nfs_tcp, NFS_TCP)?;
        let smb_tcp = smb.map(|l| listen(l, SMB_TCP)).transpose()?;
        let (pmap_tcp, pmap_udp) = match portmap {
            Some((t, u)) => (Some(listen(t, PMAP_TCP)?), Some(u)),
            None => (None, None),
        };
        let mut udp = Vec::new();
        for (sock, id, token) in [
            (Some(nfs_udp), NFS_UDP_ID, NFS_UDP),
            (pmap_udp, PMAP_UDP_ID, PMAP_UDP),
        ] {
            let Some(sock) = sock else { continue };
            sock.set_nonblocking(true)?;
            let mut socket = UdpSocket::from_std(sock);
            // Edge-triggered both ways for the life of the socket; UDP has no per-peer
            // state to pace, so its interest never changes.
            registry.register(&mut socket, token, Interest::READABLE | Interest::WRITABLE)?;
            udp.push(UdpEndpoint {
                socket,
                id,
                token,
                readable: true,
                out: VecDeque::new(),
            });
        }

        let mut callbacks = CallbackIo::new();
        callbacks.register(registry)?;
        let limits = parts.limits;
        let wake_for_workers = Arc::clone(&waker);
        let workers = WorkerPool::new(
            parts.workers,
            limits.job_queue,
            Arc::new(move || {
                let _ = wake_for_workers.wake();
            }),
        )?;
        Ok(EventLoop {
            poll,
            waker,
            shutdown_flag: Arc::new(AtomicBool::new(false)),
            signals: None,
            nfs_tcp: Some(nfs_tcp),
            pmap_tcp,
            smb_tcp,
            udp,
            addrs,
            core: parts.core,
            conns: ConnTable::default(),
            admission: Admission::new(AdmissionLimits {
                max_connections: limits.max_connections,
                max_per_client: limits.max_connections_per_client,
                record_timeout: limits.record_timeout,
            }),
            touched: Vec::new(),
            workers: Some(workers),
            backlog: VecDeque::new(),
            in_flight: 0,
            journal: parts.journal,
            callbacks,
            limits,
            now: Instant::now(),
            draining: None,
            udp_buf: vec![0; UDP_MAX],
            metrics: Arc::default(),
        })
    }

    /// Where the listeners are bound.
    pub fn local_addrs(&self) -> BoundAddrs {
        self.addrs
    }

    /// A switch that makes the journal's commits fail from now on (tests of the durability
    /// barrier; see `Journal::failure_switch`).
    pub fn journal_failure_switch(&mut self) -> Arc<AtomicBool> {
        self.journal.failure_switch()
    }

    /// The loop's counters.
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }

    /// A handle that stops the loop from another thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            flag: Arc::clone(&self.shutdown_flag),
            waker: Arc::clone(&self.waker),
        }
    }

    /// Shuts down on SIGINT and SIGTERM (the binary; tests use [`ShutdownHandle`]).
    pub fn handle_signals(&mut self) -> io::Result<()> {
        let mut signals = signal_hook_mio::v1_0::Signals::new([
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
        ])?;
        self.poll
            .registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        self.signals = Some(signals);
        Ok(())
    }

    /// Runs until shut down; then the journal is marked clean and returned. A second signal
    /// during the shutdown changes nothing (the wait is bounded anyway).
    pub fn run(mut self) -> io::Result<Journal> {
        let mut events = Events::with_capacity(1024);
        loop {
            let now = Instant::now();
            if let Some(deadline) = self.draining {
                if self.drained() {
                    tracing::info!("all replies sent; stopping");
                    break;
                }
                if now >= deadline {
                    tracing::warn!(
                        in_flight = self.in_flight,
                        connections = self.conns.len,
                        "shutdown grace period over; stopping with replies outstanding"
                    );
                    break;
                }
            }
            let timeout = self.poll_timeout(now);
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let now = Instant::now();
            self.now = now;
            // RPCBIND GETTIME answers from this; reading it every pass keeps up with a clock
            // that was set (a vDSO call, cheap).
            self.core.handle_wall_clock(unix_secs());
            for ev in events.iter() {
                self.dispatch(
                    now,
                    ev.token(),
                    ev.is_readable() || ev.is_read_closed() || ev.is_error(),
                    ev.is_writable(),
                    ev.is_read_closed() || ev.is_error(),
                );
            }
            if self.core.poll_timeout().is_some_and(|t| t <= now) {
                self.core.handle_timeout(now);
            }
            // admission: close connections whose record missed its deadline.
            self.close_expired_records(now);
            self.pass(now);
        }
        self.finish()
    }

    fn finish(mut self) -> io::Result<Journal> {
        for slot in self.conns.slots() {
            if let Some(mut c) = self.conns.remove(slot) {
                let _ = self.poll.registry().deregister(&mut c.stream);
            }
        }
        if let Some(w) = self.workers.take() {
            if self.in_flight == 0 {
                w.shutdown();
            } else {
                // A worker stuck in a slow file system must not hold up the exit; its
                // result has no connection to go to any more.
                drop(w);
            }
        }
        // Records the shutdown appended (waiting releases) go in before the clean marker.
        let now = Instant::now();
        self.core.begin_shutdown(now);
        self.commit_journal(now);
        if self.core.journal_failed() {
            // The journal does not hold what the clients were told: the next start must
            // treat this run as a crash (grace period for everyone).
            return Err(io::Error::other("the journal failed; not marked clean"));
        }
        if let Err(e) = self.journal.mark_clean() {
            tracing::error!("cannot mark the journal clean: {e}");
            return Err(io::Error::other(e.to_string()));
        }
        tracing::info!("journal flushed; janus stopped");
        Ok(self.journal)
    }

    fn drained(&self) -> bool {
        self.in_flight == 0
            && self.backlog.is_empty()
            && self.conns.slots.iter().flatten().all(|c| c.out.is_empty())
            && self.udp.iter().all(|u| u.out.is_empty())
    }

    fn poll_timeout(&mut self, now: Instant) -> Option<Duration> {
        let udp_pending = self.draining.is_none()
            && self
                .udp
                .iter()
                .any(|u| u.readable && self.core.wants_read(u.id));
        if !self.touched.is_empty() || udp_pending {
            return Some(Duration::ZERO);
        }
        let mut t = self.core.poll_timeout();
        // admission: the earliest record deadline.
        if let Some(d) = self.admission.next_deadline() {
            t = Some(t.map_or(d, |x| x.min(d)));
        }
        if let Some(d) = self.draining {
            t = Some(t.map_or(d, |x| x.min(d)));
        }
        t.map(|t| t.saturating_duration_since(now))
    }

    fn begin_shutdown(&mut self, now: Instant, why: &str) {
        if self.draining.is_some() {
            return;
        }
        tracing::info!(
            "{why}: no longer accepting; finishing in-flight replies (at most {} s)",
            SHUTDOWN_GRACE.as_secs()
        );
        for l in [
            self.nfs_tcp.take(),
            self.pmap_tcp.take(),
            self.smb_tcp.take(),
        ]
        .into_iter()
        .flatten()
        {
            let mut l = l;
            let _ = self.poll.registry().deregister(&mut l);
        }
        self.draining = Some(now + SHUTDOWN_GRACE);
        self.core.begin_shutdown(now);
        // Connections stop reading (see `may_read`); touch them so interest is recomputed.
        for slot in self.conns.slots() {
            self.touch(slot);
        }
    }

    fn touch(&mut self, slot: usize) {
        if let Some(c) = self.conns.get_mut(slot) {
            if !c.touched {
                c.touched = true;
                self.touched.push(slot);
            }
        }
    }

    fn dispatch(&mut self, now: Instant, token: Token, readable: bool, writable: bool, hup: bool) {
        match token {
            WAKER => {
                self.collect_results(now);
                if self.shutdown_flag.load(Ordering::SeqCst) {
                    self.begin_shutdown(now, "shutdown requested");
                }
            }
            SIGNALS => {
                let mut got = false;
                if let Some(s) = self.signals.as_mut() {
                    got = s.pending().count() > 0;
                }
                if got {
                    self.begin_shutdown(now, "signal received");
                }
            }
            NFS_TCP | PMAP_TCP | SMB_TCP => self.accept(now, token),
            NFS_UDP | PMAP_UDP => {
                if let Some(u) = self.udp.iter_mut().find(|u| u.token == token) {
                    if readable {
                        u.readable = true;
                    }
                }
                if writable {
                    self.flush_udp();
                }
            }
            Token(t) if t >= CALLBACK_TOKEN_BASE => {
                for ev in self.callbacks.handle_ready(token, readable, writable) {
                    self.core.handle_callback(ev, now);
                }
            }
            Token(t) if t >= CONN_BASE => {
                let slot = t - CONN_BASE;
                if let Some(c) = self.conns.get_mut(slot) {
                    if readable {
                        c.readable = true;
                    }
                    c.hup |= hup;
                    if writable {
                        c.write_blocked = false;
                    }
                    self.touch(slot);
                }
            }
            Token(_) => {}
        }
    }

    fn accept(&mut self, now: Instant, token: Token) {
        let port = match token {
            NFS_TCP => Listener::Nfs,
            SMB_TCP => Listener::Smb,
            _ => Listener::Portmap,
        };
        loop {
            let listener = match token {
                NFS_TCP => self.nfs_tcp.as_ref(),
                SMB_TCP => self.smb_tcp.as_ref(),
                _ => self.pmap_tcp.as_ref(),
            };
            let Some(listener) = listener else { return };
            let (stream, peer) = match listener.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE and friends: log and retry on the next readiness event.
                    tracing::warn!("accept failed: {e}");
                    return;
                }
            };
            if !self.admit(now, peer) {
                drop(stream);
                continue;
            }
            let _ = stream.set_nodelay(true);
            let slot = self.conns.insert(|_, id| Conn {
                stream,
                peer,
                id,
                read_buf: Vec::new(),
                out: VecDeque::new(),
                out_bytes: 0,
                readable: false,
                hup: false,
                write_blocked: false,
                interest: None,
                touched: false,
            });
            let registry = self.poll.registry();
            let open = self.conns.len;
            let Some(c) = self.conns.get_mut(slot) else {
                continue;
            };
            match registry.register(&mut c.stream, Token(CONN_BASE + slot), Interest::READABLE) {
                Ok(()) => {
                    c.interest = Some(Interest::READABLE);
                    self.admission.insert(slot, peer.ip());
                    self.metrics.connections.store(open, Ordering::Relaxed);
                    tracing::debug!(%peer, conn = c.id.0, "connection accepted");
                    let id = c.id;
                    self.core.handle_conn_open(id, port, peer, now);
                }
                Err(e) => {
                    tracing::warn!(%peer, "cannot register connection: {e}");
                    self.conns.remove(slot);
                }
            }
        }
    }

    /// admission: decides about a connection from `peer` just accepted, closing the one
    /// that gives way for it. False: close the new one.
    fn admit(&mut self, now: Instant, peer: SocketAddr) -> bool {
        let (conns, rpc) = (&self.conns, &self.core);
        // A request in progress: calls at the file system, or replies not yet written.
        let busy = |slot: usize| {
            conns
                .slots
                .get(slot)
                .and_then(Option::as_ref)
                .is_none_or(|c| !c.out.is_empty() || rpc.has_calls_in_progress(c.id))
        };
        let decision = self.admission.admit(peer.ip(), busy);
        let stats = self.admission.stats();
        self.metrics
            .evicted_connections
            .store(stats.evicted as usize, Ordering::Relaxed);
        self.metrics
            .refused_connections
            .store(stats.refused as usize, Ordering::Relaxed);
        let warn = decision != Admit::Accept && self.admission.warn_due(now, Warning::Admission);
        match decision {
            Admit::Accept => true,
            Admit::Evict { slot, limit } => {
                if let Some(old) = self.remove_conn(slot) {
                    if warn {
                        tracing::warn!(%peer, evicted = %old.peer, ?limit, ?stats,
                            "connection limit reached; closed the connection idle longest to admit a new one");
                    } else {
                        tracing::debug!(%peer, evicted = %old.peer, ?limit, "evicted an idle connection");
                    }
                }
                true
            }
            Admit::Refuse(limit) => {
                if warn {
                    tracing::warn!(%peer, ?limit, ?stats,
                        "connection limit reached and every connection is busy; closing the new one");
                } else {
                    tracing::debug!(%peer, ?limit, "refused a connection");
                }
                false
            }
        }
    }

    /// admission: closes connections whose partial record is past its deadline (one the
    /// loop is not reading because of back-pressure gets a fresh deadline instead).
    fn close_expired_records(&mut self, now: Instant) {
        if self.admission.next_deadline().is_none_or(|d| d > now) {
            return;
        }
        let (conns, rpc, soft) = (&self.conns, &self.core, self.limits.write_queue_soft);
        let draining = self.draining.is_some();
        // As `may_read`.
        let reading = |slot: usize| {
            !draining
                && conns
                    .slots
                    .get(slot)
                    .and_then(Option::as_ref)
                    .is_some_and(|c| c.out_bytes < soft && rpc.wants_read(c.id))
        };
        let expired = self.admission.take_expired(now, reading);
        let stats = self.admission.stats();
        self.metrics
            .record_timeouts
            .store(stats.record_timeouts as usize, Ordering::Relaxed);
        for slot in expired {
            let warn = self.admission.warn_due(now, Warning::RecordTimeout);
            if let Some(c) = self.remove_conn(slot) {
                let timeout = self.limits.record_timeout;
                if warn {
                    tracing::warn!(peer = %c.peer, ?timeout, ?stats,
                        "record not complete in time; closing connection");
                } else {
                    tracing::debug!(peer = %c.peer, "record not complete in time; closing connection");
                }
            }
        }
    }

    fn collect_results(&mut self, now: Instant) {
        let Some(w) = self.workers.as_ref() else {
            return;
        };
        let mut results = Vec::new();
        while let Some(r) = w.try_recv() {
            results.push(r);
        }
        if results.is_empty() {
            return;
        }
        for r in results {
            // Follow-ups (write-behind data) report too; a submitted job ends with its reply.
            if r.is_reply() {
                self.in_flight -= 1;
                self.metrics.fs_in_flight.fetch_sub(1, Ordering::Relaxed);
            }
            self.core.handle_job_done(r, now);
        }
        self.submit_backlog();
    }

    fn submit_backlog(&mut self) {
        let Some(w) = self.workers.as_ref() else {
            return;
        };
        while let Some(job) = self.backlog.pop_front() {
            match w.try_submit(job) {
                Ok(()) => {
                    self.in_flight += 1;
                    self.metrics.fs_in_flight.fetch_add(1, Ordering::Relaxed);
                }
                Err(job) => {
                    self.backlog.push_front(*job);
                    break;
                }
            }
        }
    }

    /// Whether a connection's bytes should be read now.
    fn may_read(&self, c: &Conn) -> bool {
        self.draining.is_none()
            && c.out_bytes < self.limits.write_queue_soft
            && self.core.wants_read(c.id)
    }

    /// One pass: input, drain, commit, output, interest.
    fn pass(&mut self, now: Instant) {
        let work = std::mem::take(&mut self.touched);
        let mut again = Vec::new();
        for &slot in &work {
            if let Some(c) = self.conns.get_mut(slot) {
                c.touched = false;
            }
            match self.read_conn(now, slot) {
                ReadOutcome::Budget => again.push(slot),
                ReadOutcome::Closed(reason) => self.close(slot, &reason),
                ReadOutcome::PeerClosed => self.close_quietly(slot),
                ReadOutcome::Idle => {}
            }
        }
        self.read_udp(now);
        self.drain(now);
        self.commit_journal(now);
        // Output for every connection with queued bytes, then interest for those touched.
        for slot in self.conns.slots() {
            let Some(c) = self.conns.get_mut(slot) else {
                continue;
            };
            if c.out.is_empty() || c.write_blocked {
                continue;
            }
            match c.flush() {
                FlushOutcome::Done => {}
                FlushOutcome::Blocked => c.write_blocked = true,
                FlushOutcome::Failed(e) => {
                    let reason = format!("write failed: {e}");
                    self.close(slot, &reason);
                    continue;
                }
            }
            if c.out_bytes > self.limits.write_queue_hard {
                self.close(
                    slot,
                    "peer does not read its replies (write queue over its hard limit)",
                );
                continue;
            }
            // Input that back-pressure held back may be read now: go around again at once.
            // Otherwise only the interest can have changed; update it here rather than
            // with another (empty) pass, which cost an extra epoll_wait per reply.
            if c.readable {
                self.touch(slot);
            } else {
                self.update_interest(slot);
            }
        }
        self.flush_udp();
        for slot in work.iter().chain(again.iter()).copied() {
            self.update_interest(slot);
        }
        // Connections that still have budget-limited input go around again at once.
        for slot in again {
            self.touch(slot);
        }
    }

    fn read_conn(&mut self, now: Instant, slot: usize) -> ReadOutcome {
        let max_buf = self.limits.max_record.saturating_mul(2) + 64 * 1024;
        let mut budget = READ_BUDGET;
        loop {
            let Some(c) = self.conns.slots.get(slot).and_then(Option::as_ref) else {
                return ReadOutcome::Idle;
            };
            if !c.readable || !self.may_read(c) {
                return ReadOutcome::Idle;
            }
            if budget == 0 {
                return ReadOutcome::Budget;
            }
            let Some(c) = self.conns.get_mut(slot) else {
                return ReadOutcome::Idle;
            };
            if c.read_buf.len() >= max_buf {
                return ReadOutcome::Closed(format!(
                    "{} bytes buffered without a complete record",
                    c.read_buf.len()
                ));
            }
            // Room for the rest of the record at the front (a 1 MiB WRITE lands in one
            // allocation, read in a few large reads), at least READ_MIN for small records
            // arriving back to back; read into spare capacity, so nothing is zero-filled.
            let need = self.core.hand_over_at(c.id, &c.read_buf);
            let room = need
                .saturating_sub(c.read_buf.len())
                .max(READ_MIN)
                .min(max_buf - c.read_buf.len());
            c.read_buf.reserve_exact(room);
            let asked = c.read_buf.capacity() - c.read_buf.len();
            let res = rustix::io::read(&c.stream, rustix::buffer::spare_capacity(&mut c.read_buf));
            match res {
                Ok(0) => return ReadOutcome::PeerClosed,
                Ok(n) => {
                    budget = budget.saturating_sub(n);
                    // A short read emptied the socket's receive queue: data arriving later
                    // raises a new edge (epoll is edge-triggered), so skip the read that
                    // would only say `WouldBlock` (one syscall less per small request; tokio
                    // does the same). Not after a hang-up, whose edge was already seen.
                    let drained = n < asked && !c.hup;
                    // Only a complete record (or a header the server must refuse) lets the
                    // server make progress: wait for it instead of re-scanning per read.
                    let complete = c.read_buf.len() >= self.core.hand_over_at(c.id, &c.read_buf);
                    let partial = !complete || hand_over(&mut self.core, now, c);
                    // admission: activity, and the deadline of a record left partial.
                    self.admission.input(slot, now, complete, partial);
                    if complete {
                        // Outputs are drained once per pass; keep the server's queues short
                        // for a fast sender too.
                        self.drain(now);
                    }
                    if drained {
                        if let Some(c) = self.conns.get_mut(slot) {
                            c.readable = false;
                        }
                        return ReadOutcome::Idle;
                    }
                }
                Err(Errno::AGAIN) => {
                    c.readable = false;
                    return ReadOutcome::Idle;
                }
                Err(Errno::INTR) => {}
                Err(Errno::CONNRESET | Errno::CONNABORTED) => {
                    // A client that exits with unread replies resets the connection:
                    // ordinary, not worth a warning.
                    return ReadOutcome::PeerClosed;
                }
                Err(e) => return ReadOutcome::Closed(format!("read failed: {e}")),
            }
        }
    }

    fn read_udp(&mut self, now: Instant) {
        if self.draining.is_some() {
            return;
        }
        for i in 0..self.udp.len() {
            let mut n_read = 0;
            while self.udp[i].readable
                && n_read < UDP_BUDGET
                && self.core.wants_read(self.udp[i].id)
            {
                match self.udp[i].socket.recv_from(&mut self.udp_buf) {
                    Ok((n, peer)) => {
                        n_read += 1;
                        let listener =
                            Listener::of_udp_conn(self.udp[i].id).unwrap_or(Listener::Nfs);
                        self.core
                            .handle_datagram(listener, peer, &self.udp_buf[..n], now);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.udp[i].readable = false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        // ICMP errors from earlier sends surface here; they concern one
                        // peer, not the socket.
                        tracing::debug!("udp receive error: {e}");
                    }
                }
            }
        }
    }

    /// Drains the core's outputs until all are empty.
    fn drain(&mut self, now: Instant) {
        loop {
            let mut progress = false;
            while let Some(t) = self.core.poll_transmit() {
                progress = true;
                self.enqueue(t);
            }
            while let Some(job) = self.core.poll_job() {
                progress = true;
                self.backlog.push_back(job);
            }
            self.submit_backlog();
            while let Some(id) = self.core.poll_close() {
                progress = true;
                if let Some(slot) = self.conns.slot_of(id) {
                    // The core logged why.
                    if let Some(c) = self.remove_conn(slot) {
                        tracing::debug!(peer = %c.peer, "connection closed by the core");
                    }
                }
            }
            while let Some(id) = self.core.poll_resumed() {
                progress = true;
                self.resume(now, id);
            }
            while let Some(cmd) = self.core.poll_callback() {
                progress = true;
                for ev in self.callbacks.apply(cmd) {
                    self.core.handle_callback(ev, now);
                }
            }
            if !progress {
                break;
            }
        }
    }

    /// Group commit: appends the records the core produced, one `fdatasync`, then lets the
    /// replies that waited for them out. Replies released here are queued before the pass
    /// writes to the sockets. A failure is final: the core withholds those replies and stops
    /// granting; the error is logged once.
    fn commit_journal(&mut self, now: Instant) {
        // Releasing replies can start callbacks whose failures append records: go round a
        // few times (what is left waits for the next pass, which the core's timers bring).
        for _ in 0..4 {
            let mut last = None;
            while let Some((seq, record)) = self.core.poll_journal_append() {
                if self.core.journal_failed() {
                    continue;
                }
                match self.journal.append(&record) {
                    Ok(_) => last = Some(seq),
                    Err(e) => {
                        tracing::error!(
                            "cannot append to the journal: {e}; no longer granting locks"
                        );
                        self.core.handle_journal_failed(now);
                    }
                }
            }
            let Some(seq) = last else {
                break;
            };
            match self.journal.commit() {
                Ok(()) => self.core.handle_journal_durable(seq, now),
                Err(e) => {
                    tracing::error!("journal commit failed: {e}; no longer granting locks");
                    self.core.handle_journal_failed(now);
                }
            }
            self.drain(now);
        }
    }

    /// The server's in-flight limit lifted for `id`: records may already wait in the
    /// connection's buffer, and an edge-triggered poller will not report bytes already read,
    /// so hand the buffer over again and revisit the connection (a UDP socket is read again
    /// in the next pass: `read_udp` checks `wants_read`).
    fn resume(&mut self, now: Instant, id: ConnId) {
        let Some(slot) = self.conns.slot_of(id) else {
            return;
        };
        if let Some(c) = self.conns.get_mut(slot) {
            if c.read_buf.len() >= self.core.hand_over_at(c.id, &c.read_buf) {
                // admission: reading resumes; a partial record left gets a fresh deadline.
                let partial = hand_over(&mut self.core, now, c);
                self.admission.input(slot, now, true, partial);
            }
        }
        self.touch(slot);
    }

    fn enqueue(&mut self, t: Transmit) {
        if let Some(u) = self.udp.iter_mut().find(|u| u.id == t.conn) {
            let Some(peer) = t.dest else {
                return;
            };
            if u.out.len() >= self.limits.udp_queue {
                tracing::debug!(%peer, "udp send queue full; reply dropped (the client retransmits)");
            } else {
                // A datagram is one buffer: join the segments (a copy only for READ
                // replies, which the client's rsize keeps within a datagram).
                u.out.push_back((peer, t.data.to_bytes()));
            }
            return;
        }
        let Some(slot) = self.conns.slot_of(t.conn) else {
            // The connection closed while its request was at the file system.
            return;
        };
        // admission: a reply is activity.
        self.admission.output(slot);
        if let Some(c) = self.conns.get_mut(slot) {
            // Each segment is queued as it is (a READ's data is the buffer the file system
            // filled); `flush` hands them to one gather write.
            c.out_bytes += t.data.len();
            c.out.extend(t.data.into_parts());
            self.metrics
                .write_queue_high_water
                .fetch_max(c.out_bytes, Ordering::Relaxed);
        }
    }

    /// Closes a connection for `reason` (a protocol violation, a write error, a limit):
    /// logged as a warning with the peer.
    fn close(&mut self, slot: usize, reason: &str) {
        if let Some(c) = self.remove_conn(slot) {
            tracing::warn!(peer = %c.peer, reason, "closing connection");
        }
    }

    /// The peer closed or reset the connection.
    fn close_quietly(&mut self, slot: usize) {
        if let Some(c) = self.remove_conn(slot) {
            tracing::debug!(peer = %c.peer, "connection closed by peer");
        }
    }

    fn remove_conn(&mut self, slot: usize) -> Option<Conn> {
        let mut c = self.conns.remove(slot)?;
        let _ = self.poll.registry().deregister(&mut c.stream);
        self.admission.remove(slot);
        self.core.handle_conn_closed(c.id, self.now);
        self.touched.retain(|&s| s != slot);
        self.metrics
            .connections
            .store(self.conns.len, Ordering::Relaxed);
        Some(c)
    }

    fn flush_udp(&mut self) {
        for u in &mut self.udp {
            while let Some((peer, data)) = u.out.front() {
                match u.socket.send_to(data, *peer) {
                    Ok(_) => {
                        u.out.pop_front();
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        tracing::debug!(%peer, "udp send failed: {e}");
                        u.out.pop_front();
                    }
                }
            }
        }
    }

    fn update_interest(&mut self, slot: usize) {
        let want_read = match self.conns.slots.get(slot).and_then(Option::as_ref) {
            Some(c) => self.may_read(c),
            None => return,
        };
        let registry: &Registry = self.poll.registry();
        let Some(c) = self.conns.slots.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let want = match (want_read, !c.out.is_empty()) {
            (true, true) => Some(Interest::READABLE | Interest::WRITABLE),
            (true, false) => Some(Interest::READABLE),
            (false, true) => Some(Interest::WRITABLE),
            (false, false) => None,
        };
        if want == c.interest {
            return;
        }
        let token = Token(CONN_BASE + slot);
        let res = match (c.interest, want) {
            (None, Some(i)) => registry.register(&mut c.stream, token, i),
            (Some(_), Some(i)) => registry.reregister(&mut c.stream, token, i),
            (Some(_), None) => registry.deregister(&mut c.stream),
            (None, None) => Ok(()),
        };
        match res {
            Ok(()) => c.interest = want,
            Err(e) => {
                let reason = format!("cannot update interest: {e}");
                self.close(slot, &reason);
            }
        }
    }
}

/// Hands the complete records at the front of `c.read_buf` to the server, keeping the rest;
/// returns whether part of a record is left (here, or in the core: `holds_partial_record`).
/// Both conversions are O(1) while the buffer is not shared; what stays behind (the start
/// of the next record) is copied when the records taken out still share the allocation.
fn hand_over(core: &mut Core, now: Instant, c: &mut Conn) -> bool {
    let mut buf = BytesMut::from(Bytes::from(std::mem::take(&mut c.read_buf)));
    core.handle_tcp_buf(c.id, &mut buf, now);
    c.read_buf = Vec::from(buf);
    // An idle connection should not keep the megabyte a large WRITE needed: with 1024
    // connections that would be a gigabyte held for nothing.
    if c.read_buf.is_empty() && c.read_buf.capacity() > IDLE_READ_CAPACITY {
        c.read_buf = Vec::new();
    }
    !c.read_buf.is_empty() || core.holds_partial_record(c.id)
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

enum ReadOutcome {
    /// Nothing more to read now (WouldBlock or not allowed).
    Idle,
    /// The per-pass budget ran out with the socket still readable.
    Budget,
    /// Close the connection, with a warning.
    Closed(String),
    /// The peer closed or reset it.
    PeerClosed,
}
