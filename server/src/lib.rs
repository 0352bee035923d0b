//! The sans-IO server core of Janus: ONE [`Core`] that owns every protocol machine and the
//! one lock table (docs/architecture.md, "How a request flows").
//!
//! - the RPC server with PORTMAP/RPCBIND, MOUNT and NFSv3 (`proto_nfs::server::RpcServer`);
//! - the NFSv3 executor over `vfs` backends ([`nfs3_exec`]), run as file-system [`Job`]s
//!   ([`service`]);
//! - write ordering for write-behind ([`write_behind`]): which job may run when, keyed by
//!   the file id every protocol shares ([`nlm::file_id`]);
//! - NLM v4 and NSM v1 with the `lockstate::LockTable` ([`nlm`]), their outbound calls
//!   ([`callbacks`]), the journal record policy ([`nlm_journal`], [`nlm_compact`]) and the
//!   journal file's byte format ([`journal_format`]);
//! - SMB 2/3 ([`smb`]): one `proto_smb2::server::Connection` per connection accepted on
//!   [`Listener::Smb`], the SMB open table, and the file operations as jobs over the same
//!   backends and the same lock table (share modes, delete pending; docs/architecture.md,
//!   "How an SMB request flows"), with the information classes of [`smb_info`] and
//!   [`smb_dir`], the access mapping of [`smb_access`] and the users of [`users`];
//! - policy a runtime applies around its sockets: [`admission`] (which TCP connection gives
//!   way under hostile load, slowloris deadlines), and the start-up text of [`hints`].
//!
//! No sockets, threads, clock or randomness: the runtime (`runtime-mio`, or the
//! deterministic simulation in `tests/`) feeds bytes, time, job results and journal
//! durability in with `handle_*` and drains what the core wants done with `poll_*` after
//! EVERY input, until each returns `None` (the quinn-proto shape). File-system work is the
//! one exception to "no I/O": a [`Job`] carries its backend (`Arc<dyn vfs::Vfs>`) and the
//! executor, and the runtime calls [`Job::run`] on a worker thread.
//!
//! # Calls are routed inside the core
//! A call to NLM or NSM that the RPC server decodes goes straight to the NLM service
//! (`proto_nlm::service::IncomingCall`) and its answer straight back to the RPC server:
//! the runtime never sees calls, only bytes.
//!
//! # The durability barrier
//! Records that make a lock or a monitored client durable come out of
//! [`Core::poll_journal_append`], numbered ([`RecordSeq`]). A reply of an NLM/NSM call, and
//! every outbound call (GRANTED_MSG, SM_NOTIFY, ...) made while records are outstanding, is
//! held in the core until [`Core::handle_journal_durable`] covers every record appended
//! before it, so a client is never told of a lock a crash could lose. NLM calls that change
//! lock state go through the RPC duplicate-request cache, and a reply it sends again for a
//! retransmission waits the same way (it may answer a call whose original reply is still
//! held). After
//! [`Core::handle_journal_failed`] those replies are never sent, no more records are handed
//! out, and the core stops granting:
//! NLM and NSM calls are refused with SYSTEM_ERR (RFC 5531 §9: the call was not executed),
//! so clients see no success they could lose. NFS replies depend on no record and flow on.
//! Group commit is the runtime's business: append everything one pass produced, sync once,
//! then report the last record durable.
//!
//! # Write ordering
//! Jobs may finish in any order and on any worker; every ordering guarantee of write-behind
//! is kept by WHEN the core emits jobs ([`write_behind::WriteOrder`]): a request that must
//! see a deferred write's data is held until the job reporting that write's end came back.
//!
//! # Deviations from the API contract (CORE_API.md)
//! - [`Core::handle_tcp_buf`] is an addition: the zero-copy form of
//!   [`Core::handle_tcp_bytes`] for a runtime that owns its read buffers (complete records
//!   are split off the caller's `BytesMut` without a copy; a 1 MiB WRITE is never copied).
//!   Such a runtime must also drain [`Core::poll_resumed`] (a connection whose in-flight
//!   limit lifted: hand its buffered bytes over again).
//! - UDP sockets have fixed [`ConnId`]s, [`NFS_UDP`] and [`PORTMAP_UDP`]; the runtime's TCP
//!   connection ids must not use them. A UDP [`Transmit`] has `dest: Some(peer)`.
//! - SMB connections ([`Listener::Smb`]) go through the same `handle_conn_open`,
//!   `handle_tcp_buf`, `poll_transmit`, `poll_close` and jobs as NFS; the core takes every
//!   byte of an SMB connection it is handed (the SMB machine buffers partial NBSS frames
//!   itself). How many bytes to gather first is [`Core::hand_over_at`] for both protocols,
//!   and [`Core::holds_partial_record`] says whether the core holds part of a frame (the
//!   runtime's record deadline, `admission`). An SMB connection that does not log on within
//!   [`CoreLimits::smb_logon_timeout`] is closed through [`Core::poll_close`].
//!   Randomness is an input: [`CoreConfig::smb_seed`].
//! - [`CallbackCommand::Connect`] also names the transport (NLM callbacks use the transport
//!   the client used, UDP included).
//! - [`JobDone::take_follow_up`]: a write-behind WRITE's result carries its data write as a
//!   follow-up job; the runtime takes it out before [`Core::handle_job_done`] and runs it on
//!   the same worker next.
//! - [`Core::handle_wall_clock`] applies at the last `now` the core was given.

pub mod admission;
pub mod callbacks;
pub mod hints;
pub mod journal_format;
pub mod nfs3_exec;
pub mod nfs_locks;
pub mod nlm;
pub mod nlm_compact;
pub mod nlm_journal;
pub mod perm;
pub mod service;
pub mod smb;
pub mod smb_access;
pub mod smb_config;
pub mod smb_dir;
pub mod smb_info;
pub mod users;
pub mod write_behind;

mod framing;

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use proto_nfs::nfs3::{FileHandle, Nfs3Call, StableHow};
use proto_nfs::rpc::segments::Segments;
use proto_nfs::server::status::Refusal;
use proto_nfs::server::{Event, Export, FsRequest, RpcServer, ServerConfig, ServerStats};
use proto_nlm::service::{CallOutcome, DeferredReply, IncomingCall, NlmService};

pub use callbacks::{CallbackCommand, CallbackEvent, CallbackId};
pub use nfs_locks::{GateToken, LockEvent, NfsLockStats, SmbRequest, SmbRequestId, SmbSubmit};
pub use nlm::{file_id, NlmSettings, StartReport};
pub use proto_nfs::server::{Cidr, ConnId, Transport};
pub use service::{Job, JobDone};
pub use smb_config::{SmbEncrypt, SmbShareConfig, SmbSigning};
pub use write_behind::{WriteBehindStats, WriteVerifier};

use crate::nfs3_exec::Executor;
use crate::nfs_locks::NfsLocks;
use crate::nlm::Nlm;
use crate::nlm_journal::Appends;
use crate::service::{JobResult, ShareTable};
use crate::write_behind::{barrier, handle_file_id, WriteOrder};

/// The [`ConnId`] of the UDP socket on the NFS port.
pub const NFS_UDP: ConnId = ConnId(1);
/// The [`ConnId`] of the UDP socket on the portmapper port.
pub const PORTMAP_UDP: ConnId = ConnId(2);

/// Which port a connection or datagram came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Listener {
    /// The NFS port (NFS, MOUNT, NLM, NSM, and the portmapper when none runs apart).
    Nfs,
    /// The stand-alone portmapper port (111).
    Portmap,
    /// The SMB port (445): SMB 2/3 over direct TCP (MS-SMB2 §2.1), TCP only.
    Smb,
}

impl Listener {
    /// The [`ConnId`] of this listener's UDP socket (SMB has none).
    pub fn udp_conn(self) -> Option<ConnId> {
        match self {
            Listener::Nfs => Some(NFS_UDP),
            Listener::Portmap => Some(PORTMAP_UDP),
            Listener::Smb => None,
        }
    }

    /// The listener whose UDP socket `conn` is, if it is one.
    pub fn of_udp_conn(conn: ConnId) -> Option<Listener> {
        match conn {
            NFS_UDP => Some(Listener::Nfs),
            PORTMAP_UDP => Some(Listener::Portmap),
            _ => None,
        }
    }
}

/// Number of a journal record, counting from 1 over the records of this run (0: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RecordSeq(pub u64);

/// One exported share.
#[derive(Debug, Clone)]
pub struct ShareConfig {
    /// Numeric id carried in every file handle of the share.
    pub share_id: u32,
    /// Share name; the MOUNT path is `/<name>`.
    pub name: String,
    /// Refuse every modifying procedure (NFS3ERR_ROFS; exclusive NLM locks NLM4_ROFS).
    pub read_only: bool,
    /// Clients allowed to mount and use the share; empty = everyone.
    pub clients: Vec<Cidr>,
    /// Map uid/gid 0 to the anonymous ids.
    pub root_squash: bool,
    /// Map every uid/gid to the anonymous ids.
    pub all_squash: bool,
    /// Anonymous uid.
    pub anon_uid: u32,
    /// Anonymous gid.
    pub anon_gid: u32,
    /// SMB settings (guest access, encryption, signing, case-insensitive names).
    pub smb: SmbShareConfig,
}

impl ShareConfig {
    /// The id of a share named `name` unless configured otherwise: the 32-bit FNV-1a hash
    /// of the name. File handles carry it, so it is stable across restarts, builds and
    /// runtimes (unlike `std`'s randomly keyed hasher).
    pub fn default_id(name: &str) -> u32 {
        name.bytes().fold(0x811c_9dc5, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        })
    }

    /// Whether `name` can name a share: 1-255 bytes without `/`, white space or control
    /// characters (it is the MOUNT path's one component).
    pub fn valid_name(name: &str) -> bool {
        (1..=255).contains(&name.len())
            && !name
                .chars()
                .any(|c| c == '/' || c.is_whitespace() || c.is_control())
    }
}

/// A share's backend.
#[derive(Debug, Clone)]
pub struct ShareBackend {
    /// The share it serves.
    pub share_id: u32,
    /// The file system.
    pub vfs: Arc<dyn vfs::Vfs>,
}

/// Limits of the core.
#[derive(Debug, Clone, Copy)]
pub struct CoreLimits {
    /// Largest RPC record accepted, in bytes.
    pub max_record: usize,
    /// File-system requests a connection may have outstanding before the core stops
    /// wanting its bytes ([`Core::wants_read`]).
    pub max_in_flight_per_conn: usize,
    /// Entries of the duplicate-request cache.
    pub drc_entries: usize,
    /// Most bytes of write-behind data waiting at once.
    pub max_deferred_bytes: usize,
    /// Most NFS requests held at once on a lock-table break (`T_nfs`); more get
    /// NFS3ERR_JUKEBOX at once ([`nfs_locks`]).
    pub max_held_nfs: usize,
    /// Time an SMB connection has from its accept to its first completed SESSION_SETUP
    /// before it is closed ([`admission::LogonDeadlines`]).
    pub smb_logon_timeout: Duration,
}

/// Default of [`CoreLimits::smb_logon_timeout`]: as long as the record deadline.
pub const DEFAULT_SMB_LOGON_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for CoreLimits {
    fn default() -> Self {
        CoreLimits {
            max_record: (1 << 20) + 64 * 1024,
            max_in_flight_per_conn: 16,
            drc_entries: 1024,
            max_deferred_bytes: write_behind::MAX_PENDING_BYTES,
            max_held_nfs: 1024,
            smb_logon_timeout: DEFAULT_SMB_LOGON_TIMEOUT,
        }
    }
}

/// Configuration of the core.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// The shares.
    pub shares: Vec<ShareConfig>,
    /// Address the services are bound to (RPCBIND GETADDR answers with it).
    pub bind_addr: IpAddr,
    /// The NFS port (what GETPORT answers for NFS, MOUNT, NLM and NSM).
    pub nfs_port: u16,
    /// Port of the stand-alone portmapper, 0 for none.
    pub portmap_port: u16,
    /// Limits.
    pub limits: CoreLimits,
    /// NLM/NSM settings (grace period, waits, callback port, our name).
    pub nlm: NlmSettings,
    /// The state directory's boot counter (NSM state number).
    pub boot_count: u64,
    /// The NFS write verifier of this boot (RFC 1813 §3.3.7).
    pub write_verifier: [u8; 8],
    /// First xid of outbound calls (random in production, so xids do not repeat across
    /// restarts; fixed in a simulation).
    pub callback_xid: u32,
    /// Answer UNSTABLE WRITEs before their data is written (backends that allow it).
    pub write_behind: bool,
    /// The SMB users (`janus user add`): who may log on over SMB, as which uid/gid.
    pub users: users::Users,
    /// The seed of every SMB connection's randomness (NTLM challenges, session ids, salts,
    /// nonces): the core derives one seed per connection from it with ChaCha20
    /// (`proto_smb2::server::Rng`). The runtime draws it from the OS at start; a
    /// simulation fixes it.
    pub smb_seed: [u8; 32],
    /// The SMB ServerGuid (NEGOTIATE): the runtime keeps it in its state directory so it
    /// survives restarts.
    pub smb_server_guid: [u8; 16],
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            shares: Vec::new(),
            bind_addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            nfs_port: 2049,
            portmap_port: 0,
            limits: CoreLimits::default(),
            nlm: NlmSettings::default(),
            boot_count: 1,
            write_verifier: *b"JANUS\0\0\x01",
            callback_xid: 1,
            write_behind: true,
            users: users::Users::new(),
            smb_seed: [0; 32],
            smb_server_guid: *b"JANUS-SMB-SERVER",
        }
    }
}

/// Why the core cannot start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartError {
    /// The journal's records do not restore (the message says which and how to recover).
    Journal(String),
    /// A share's root handle does not fit in an NFS file handle (a backend bug).
    RootHandle(String),
    /// A share has no backend.
    NoBackend(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Journal(m) => write!(f, "locking state: {m}"),
            StartError::RootHandle(s) => {
                write!(
                    f,
                    "share {s:?}: the backend's root handle is longer than 59 bytes"
                )
            }
            StartError::NoBackend(s) => write!(f, "share {s:?} has no backend"),
        }
    }
}

impl std::error::Error for StartError {}

/// Bytes to send.
#[derive(Debug, Clone)]
pub struct Transmit {
    /// The TCP connection, or the UDP socket ([`NFS_UDP`], [`PORTMAP_UDP`]).
    pub conn: ConnId,
    /// The peer of a UDP datagram; `None` for TCP.
    pub dest: Option<SocketAddr>,
    /// The bytes (record marker included for TCP) as segments to send back to back; a
    /// datagram is their concatenation.
    pub data: Segments,
}

#[derive(Debug)]
struct ConnInfo {
    listener: Listener,
    peer: SocketAddr,
    /// Bytes given with [`Core::handle_tcp_bytes`] that do not make a record yet.
    buf: BytesMut,
    /// The runtime keeps the read buffer ([`Core::handle_tcp_buf`]): it hears of lifted
    /// limits through [`Core::poll_resumed`].
    runtime_buffer: bool,
}

/// Outputs held until the journal records they depend on are durable.
#[derive(Debug)]
struct Barrier<T> {
    ready: VecDeque<T>,
    /// (last record appended when it was produced, item), in production order.
    held: VecDeque<(RecordSeq, T)>,
}

impl<T> Default for Barrier<T> {
    fn default() -> Self {
        Barrier {
            ready: VecDeque::new(),
            held: VecDeque::new(),
        }
    }
}

impl<T> Barrier<T> {
    /// Queues `item`, held while `needs` is not durable. Tags only grow (they are the last
    /// record appended when the item was made), so what is released keeps its order among
    /// the held items; an item that needs nothing (an NFS reply) does not wait behind them.
    fn push(&mut self, needs: RecordSeq, durable: RecordSeq, failed: bool, item: T) {
        if needs <= durable {
            self.ready.push_back(item);
        } else if !failed {
            self.held.push_back((needs, item));
        }
    }

    fn release(&mut self, durable: RecordSeq) {
        while self.held.front().is_some_and(|(n, _)| *n <= durable) {
            if let Some((_, t)) = self.held.pop_front() {
                self.ready.push_back(t);
            }
        }
    }

    fn drop_held(&mut self) -> usize {
        let n = self.held.len();
        self.held.clear();
        n
    }
}

/// Journal progress as the core knows it.
#[derive(Debug, Default)]
struct JournalState {
    appends: Appends,
    durable: RecordSeq,
    failed: bool,
}

/// The server core. See the crate documentation.
#[derive(Debug)]
pub struct Core {
    rpc: RpcServer,
    shares: ShareTable,
    exec: Executor,
    write_behind: bool,
    order: WriteOrder<FsRequest>,
    nlm: Nlm,
    locks: NfsLocks,
    callbacks: callbacks::Callbacks,
    journal: JournalState,
    transmits: Barrier<Transmit>,
    callback_out: Barrier<CallbackCommand>,
    jobs: VecDeque<Job>,
    closes: VecDeque<ConnId>,
    resumed: VecDeque<ConnId>,
    conns: BTreeMap<ConnId, ConnInfo>,
    now: Instant,
    shutting_down: bool,
    /// [`Core::poll_timeout`], computed after every input (the lock table's own deadline
    /// needs `&mut`).
    deadline: Option<Instant>,
    /// The SMB connections and their opens ([`smb`]).
    smb: smb::SmbState,
    /// SMB connections that have not logged on yet, and by when they must.
    logons: admission::LogonDeadlines<ConnId>,
    /// [`CoreLimits::max_record`]: what a runtime gathers at most before handing over.
    max_record: usize,
}

impl Core {
    /// A core for `config` over `shares`. `journal`: every durable record of earlier runs,
    /// oldest first (after compaction, if the runtime compacts); `was_clean`: whether the
    /// last run shut down cleanly. Restores the lock table, starts the grace period and
    /// queues SM_NOTIFY to every monitored client (drain the outputs after `new`).
    pub fn new(
        config: CoreConfig,
        shares: Vec<ShareBackend>,
        journal: Vec<Vec<u8>>,
        was_clean: bool,
        now: Instant,
    ) -> Result<Core, StartError> {
        let backends: BTreeMap<u32, Arc<dyn vfs::Vfs>> =
            shares.into_iter().map(|b| (b.share_id, b.vfs)).collect();
        let mut exports = Vec::with_capacity(config.shares.len());
        for s in &config.shares {
            let vfs = backends
                .get(&s.share_id)
                .ok_or_else(|| StartError::NoBackend(s.name.clone()))?;
            let root = FileHandle::new(s.share_id, &vfs.root().0)
                .ok_or_else(|| StartError::RootHandle(s.name.clone()))?;
            exports.push(Export {
                name: s.name.clone(),
                share_id: s.share_id,
                root,
                read_only: s.read_only,
                clients: s.clients.clone(),
                root_squash: s.root_squash,
                all_squash: s.all_squash,
                anon_uid: s.anon_uid,
                anon_gid: s.anon_gid,
            });
        }
        let nlm = Nlm::restore(
            &config.nlm,
            config.shares.iter().map(|s| (s.share_id, s.read_only)),
            &journal,
            was_clean,
            config.boot_count,
            config.callback_xid,
            now,
        )
        .map_err(StartError::Journal)?;
        let mut rpc = RpcServer::new(ServerConfig {
            exports,
            bind_addr: config.bind_addr,
            nfs_port: config.nfs_port,
            portmap_port: config.portmap_port,
            max_record: config.limits.max_record,
            max_in_flight_per_conn: config.limits.max_in_flight_per_conn,
            drc_entries: config.limits.drc_entries,
            external_programs: NlmService::programs().to_vec(),
        });
        // Duplicate LOCK/UNLOCK/... calls are answered from the cache, not run again.
        let (nlm_program, procedures) = NlmService::non_idempotent();
        rpc.set_external_non_idempotent(nlm_program, &procedures);
        let smb = smb::SmbState::new(&config);
        let mut core = Core {
            smb,
            rpc,
            shares: ShareTable::new(backends),
            exec: Executor::new(config.write_verifier),
            write_behind: config.write_behind,
            order: WriteOrder::new(config.limits.max_deferred_bytes),
            nlm,
            locks: NfsLocks::new(config.limits.max_held_nfs),
            callbacks: callbacks::Callbacks::default(),
            journal: JournalState::default(),
            transmits: Barrier::default(),
            callback_out: Barrier::default(),
            jobs: VecDeque::new(),
            closes: VecDeque::new(),
            resumed: VecDeque::new(),
            conns: BTreeMap::new(),
            now,
            shutting_down: false,
            deadline: None,
            logons: admission::LogonDeadlines::new(config.limits.smb_logon_timeout),
            max_record: config.limits.max_record,
        };
        let mut replies = Vec::new();
        core.nlm.drive(now, &mut core.journal.appends, &mut replies);
        core.send_deferred(replies);
        // Durable SMB opens the lock table restored as reclaimable state (smb::durable).
        core.smb_durable_restore(&journal);
        core.pump(now);
        Ok(core)
    }

    // ---- getters ----

    /// What the restore found in the journal.
    pub fn start_report(&self) -> StartReport {
        self.nlm.start_report()
    }

    /// Whether the grace period runs.
    pub fn in_grace(&self) -> bool {
        self.nlm.in_grace()
    }

    /// The NLM side: lock table, service, journal-policy counters (read-only).
    pub fn nlm(&self) -> &Nlm {
        &self.nlm
    }

    /// The RPC server's counters.
    pub fn rpc_stats(&self) -> ServerStats {
        self.rpc.stats()
    }

    /// Write-behind counters.
    pub fn write_behind_stats(&self) -> WriteBehindStats {
        self.order.stats()
    }

    /// The current NFS write verifier.
    pub fn write_verifier(&self) -> [u8; 8] {
        self.exec.write_verifier()
    }

    /// Whether the journal failed ([`Core::handle_journal_failed`]).
    pub fn journal_failed(&self) -> bool {
        self.journal.failed
    }

    /// The last record reported durable.
    pub fn journal_durable(&self) -> RecordSeq {
        self.journal.durable
    }

    /// The listener a TCP connection came in on.
    pub fn conn_listener(&self, conn: ConnId) -> Option<Listener> {
        self.conns.get(&conn).map(|c| c.listener)
    }

    /// Whether the core wants more bytes of `conn` (back-pressure: false while the
    /// connection has its limit of file-system requests outstanding).
    pub fn wants_read(&self, conn: ConnId) -> bool {
        if self.smb.is_smb(conn) {
            return self.smb.wants_read(conn);
        }
        self.rpc.wants_read(conn)
    }

    /// Whether `conn` has calls at the file system whose replies are still to come (the
    /// runtime's connection admission does not evict such a connection).
    pub fn has_calls_in_progress(&self, conn: ConnId) -> bool {
        if self.smb.is_smb(conn) {
            return self.smb.has_calls_in_progress(conn);
        }
        self.rpc.has_calls_in_progress(conn)
    }

    /// How many bytes a runtime that keeps its own receive buffer ([`Core::handle_tcp_buf`])
    /// gathers for `conn` before handing them over (`buf`: what it holds): the rest of the
    /// record or frame at the front, in the connection's own framing — RPC record marking
    /// (RFC 5531 §11), or NBSS for SMB (MS-SMB2 §2.1) continuing the frame the SMB machine
    /// may hold the start of — at most [`CoreLimits::max_record`]; just the header when the
    /// header is one the core refuses at once.
    pub fn hand_over_at(&self, conn: ConnId, buf: &[u8]) -> usize {
        self.smb
            .hand_over_at(conn, buf, self.max_record)
            .unwrap_or_else(|| framing::rpc_hand_over_at(buf, self.max_record))
    }

    /// Whether the core holds part of a record of `conn` (an SMB connection's partial NBSS
    /// frame): its arrival deadline runs as for a partial record in the runtime's buffer.
    pub fn holds_partial_record(&self, conn: ConnId) -> bool {
        self.smb.has_partial_frame(conn)
    }

    // ---- inputs ----

    /// A TCP connection was accepted on `listener`.
    pub fn handle_conn_open(
        &mut self,
        conn: ConnId,
        listener: Listener,
        peer: SocketAddr,
        now: Instant,
    ) {
        self.now = now;
        self.conns.insert(
            conn,
            ConnInfo {
                listener,
                peer,
                buf: BytesMut::new(),
                runtime_buffer: false,
            },
        );
        if listener == Listener::Smb {
            self.smb_conn_open(conn);
            self.logons.start(conn, now);
            self.update_deadline();
        }
    }

    /// Bytes arrived on a TCP connection; an incomplete record is buffered in the core.
    pub fn handle_tcp_bytes(&mut self, conn: ConnId, bytes: &[u8], now: Instant) {
        self.now = now;
        if self.smb.is_smb(conn) {
            self.smb_bytes(conn, bytes);
            self.pump(now);
            return;
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let mut buf = std::mem::take(&mut c.buf);
        buf.extend_from_slice(bytes);
        let peer = c.peer;
        self.rpc.handle_tcp_bytes(now, conn, peer, &mut buf);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.buf = buf;
        }
        self.pump(now);
    }

    /// The zero-copy form of [`Core::handle_tcp_bytes`] for a runtime that owns the read
    /// buffer: every complete record at the front of `buf` is taken (split off without a
    /// copy), a partial one stays. The runtime then also drains [`Core::poll_resumed`].
    pub fn handle_tcp_buf(&mut self, conn: ConnId, buf: &mut BytesMut, now: Instant) {
        self.now = now;
        if let Some(c) = self.conns.get_mut(&conn) {
            c.runtime_buffer = true;
        }
        if self.smb.is_smb(conn) {
            // The SMB machine frames and buffers itself (NBSS): it takes every byte.
            let bytes = buf.split();
            self.smb_buf(conn, bytes);
            self.pump(now);
            return;
        }
        let peer = self.peer_of(conn);
        self.rpc.handle_tcp_bytes(now, conn, peer, buf);
        self.pump(now);
    }

    fn peer_of(&self, conn: ConnId) -> SocketAddr {
        self.conns
            .get(&conn)
            .map_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0), |c| {
                c.peer
            })
    }

    /// The runtime closed a TCP connection (the peer went away, or after
    /// [`Core::poll_close`]). Results of its requests still in progress are dropped.
    pub fn handle_conn_closed(&mut self, conn: ConnId, now: Instant) {
        self.now = now;
        self.conns.remove(&conn);
        self.logons.end(conn);
        self.smb_conn_closed(conn, now);
        self.rpc.connection_closed(conn);
        self.drop_held_of(conn, now);
        self.pump(now);
    }

    /// A datagram arrived on `listener`'s UDP socket.
    pub fn handle_datagram(
        &mut self,
        listener: Listener,
        peer: SocketAddr,
        bytes: &[u8],
        now: Instant,
    ) {
        self.now = now;
        let Some(conn) = listener.udp_conn() else {
            return;
        };
        self.rpc.handle_datagram(now, conn, peer, bytes);
        self.pump(now);
    }

    /// A job the runtime ran ([`Job::run`]) finished. Take its follow-up
    /// ([`JobDone::take_follow_up`]) out first.
    pub fn handle_job_done(&mut self, done: JobDone, now: Instant) {
        self.now = now;
        match done.result {
            JobResult::Nfs {
                id,
                reply,
                defer,
                gate,
            } => {
                if self.locks.is_lookup(id) {
                    self.lookup_done(id, reply, now);
                } else {
                    match defer {
                        Some((_, true)) => self.order.deferred(),
                        Some((seq, false)) => self.order.end(seq, false, now),
                        None => {}
                    }
                    if let Some(changes) = self.smb.nfs_changes.remove(&id) {
                        if reply.status() == proto_nfs::nfs3::Nfs3Status::Ok {
                            self.smb_nfs_changed(changes);
                        }
                    }
                    self.rpc.handle_fs_result(now, id, reply);
                    // A deferred write keeps its slots until its data is written.
                    if !matches!(defer, Some((_, true))) {
                        self.release_gate(&gate, now);
                    }
                }
            }
            JobResult::Deferred { seq, failed, gate } => {
                self.release_gate(&gate, now);
                if failed {
                    let verf = self.exec.verifier().change();
                    tracing::warn!(
                        new_verifier = ?verf,
                        "write verifier changed: clients resend uncommitted data at COMMIT"
                    );
                }
                self.order.end(seq, failed, now);
            }
            JobResult::Smb { token, out } => self.smb_job_done(token, out, now),
            JobResult::Nothing => {}
        }
        self.pump(now);
    }

    /// Something happened on an outbound (callback) channel.
    pub fn handle_callback(&mut self, ev: CallbackEvent, now: Instant) {
        self.now = now;
        self.callbacks.handle(now, ev, &mut self.nlm.cb);
        self.drive_nlm(now);
        self.pump(now);
    }

    /// Every journal record up to `upto` is durable: replies and calls that waited for them
    /// may leave.
    pub fn handle_journal_durable(&mut self, upto: RecordSeq, now: Instant) {
        self.now = now;
        if self.journal.failed {
            return;
        }
        self.journal.durable = self.journal.durable.max(upto);
        self.transmits.release(self.journal.durable);
        self.callback_out.release(self.journal.durable);
    }

    /// The journal cannot be written or synced: what waits for records is never sent, and
    /// the core stops granting (NLM/NSM calls are refused with SYSTEM_ERR from now on).
    pub fn handle_journal_failed(&mut self, now: Instant) {
        self.now = now;
        if self.journal.failed {
            return;
        }
        self.journal.failed = true;
        let dropped = self.transmits.drop_held() + self.callback_out.drop_held();
        tracing::error!(
            withheld = dropped,
            "the journal cannot be made durable: replies that depend on it are not sent, and \
             NLM/NSM calls are refused until the server is restarted"
        );
    }

    /// Time passed: expire what is due ([`Core::poll_timeout`]).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        self.rpc.handle_timeout(now);
        self.callbacks.handle_timeout(now);
        self.close_late_logons(now);
        if !self.shutting_down {
            let mut replies = Vec::new();
            self.nlm
                .handle_timeout(now, &mut self.journal.appends, &mut replies);
            self.send_deferred(replies);
        }
        self.drive_nlm(now);
        // The durable-handle scavenger (smb::durable).
        self.smb_durable_expire(now);
        self.pump(now);
    }

    /// The wall clock reads `unix_secs` seconds since 1970 (RPCBIND GETTIME, file times on
    /// the wire), at the last `now` the core was given.
    pub fn handle_wall_clock(&mut self, unix_secs: u64) {
        self.smb.set_wall_clock(unix_secs);
        self.rpc.handle_wall_clock(self.now, unix_secs);
    }

    /// The server is stopping: waiting release records are appended (drain
    /// [`Core::poll_journal_append`]); NLM timers stop.
    pub fn begin_shutdown(&mut self, now: Instant) {
        self.now = now;
        self.shutting_down = true;
        self.nlm.flush(&mut self.journal.appends);
        self.pump(now);
    }

    // ---- outputs ----

    /// Bytes to send. Never yields a reply whose journal records are not durable.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.ready.pop_front()
    }

    /// A file-system job to run on a worker ([`Job::run`]); its result comes back with
    /// [`Core::handle_job_done`].
    pub fn poll_job(&mut self) -> Option<Job> {
        self.jobs.pop_front()
    }

    /// A record to append to the journal, in order; report durability with
    /// [`Core::handle_journal_durable`] (or failure with [`Core::handle_journal_failed`]).
    /// After a failure nothing more is handed out: what the core records then (releases,
    /// the end of a grace period) could reach the disk in part, and a release that lands
    /// while the reclaims it overrides were refused for the failure would let the next boot
    /// give away a lock a client still holds. A restart finds the state as of the failure,
    /// the safe side (released locks come back as unreclaimed state).
    pub fn poll_journal_append(&mut self) -> Option<(RecordSeq, Vec<u8>)> {
        if self.journal.failed {
            while self.journal.appends.pop().is_some() {}
            return None;
        }
        self.journal.appends.pop()
    }

    /// Something to do with an outbound channel. Held like replies until the records
    /// appended before it are durable.
    pub fn poll_callback(&mut self) -> Option<CallbackCommand> {
        self.callback_out.ready.pop_front()
    }

    /// A connection the core wants closed (bad framing, an oversize record).
    pub fn poll_close(&mut self) -> Option<ConnId> {
        self.closes.pop_front()
    }

    /// A connection whose in-flight limit lifted: a runtime that keeps its own read buffers
    /// ([`Core::handle_tcp_buf`]) hands the buffered bytes over again and reads on.
    pub fn poll_resumed(&mut self) -> Option<ConnId> {
        self.resumed.pop_front()
    }

    /// When to call [`Core::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    fn update_deadline(&mut self) {
        let nlm = if self.shutting_down {
            None
        } else {
            self.nlm.poll_timeout()
        };
        self.deadline = [
            self.rpc.poll_timeout(),
            nlm,
            self.callbacks.poll_timeout(),
            self.logons.next_deadline(),
            self.smb.durable_deadline(),
        ]
        .into_iter()
        .flatten()
        .min();
    }

    /// Closes the SMB connections past their logon deadline, with a warning (one per
    /// [`admission::WARN_EVERY`], carrying the count; the rest at debug level).
    fn close_late_logons(&mut self, now: Instant) {
        for conn in self.logons.take_expired(now) {
            let (peer, timeout) = (self.peer_of(conn), self.logons.timeout());
            let closed = self.logons.expired();
            if self.logons.warn_due(now) {
                tracing::warn!(conn = conn.0, %peer, ?timeout, closed,
                    "SMB connection did not complete a SESSION_SETUP in time; closing connection");
            } else {
                tracing::debug!(conn = conn.0, %peer, "SMB logon deadline passed; closing connection");
            }
            self.closes.push_back(conn);
        }
    }

    // ---- internals ----

    /// Runs the NLM side until it rests and moves its outbound calls to channels.
    fn drive_nlm(&mut self, now: Instant) {
        let mut replies = Vec::new();
        self.nlm.drive(now, &mut self.journal.appends, &mut replies);
        self.send_deferred(replies);
    }

    fn send_deferred(&mut self, replies: Vec<DeferredReply>) {
        for r in replies {
            self.rpc.send_accepted_reply(r.conn, r.peer, r.xid, r.body);
        }
        self.take_rpc_transmits(true);
    }

    /// Moves the RPC server's transmits out; `journalled`: they answer NLM/NSM and wait for
    /// every record appended so far. So does an NLM reply the duplicate-request cache sends
    /// again (`external_replay`): its original may still be held here, and the replay must
    /// not overtake it (every record it could depend on was appended by now); after
    /// [`Core::handle_journal_failed`] it is never sent unless those records are durable.
    fn take_rpc_transmits(&mut self, journalled: bool) -> bool {
        let mut any = false;
        while let Some(t) = self.rpc.poll_transmit() {
            any = true;
            let needs = if journalled || t.external_replay {
                self.journal.appends.last()
            } else {
                RecordSeq(0)
            };
            let dest = Listener::of_udp_conn(t.conn).map(|_| t.peer);
            self.transmits.push(
                needs,
                self.journal.durable,
                self.journal.failed,
                Transmit {
                    conn: t.conn,
                    dest,
                    data: t.data,
                },
            );
        }
        any
    }

    /// Drains the RPC server and the write ordering until nothing moves.
    fn pump(&mut self, now: Instant) {
        loop {
            let mut progress = self.take_rpc_transmits(false);
            while let Some(req) = self.rpc.poll_fs_request() {
                progress = true;
                let b = barrier(&req.call);
                self.order.admit(b, req);
            }
            while let Some(req) = self.order.poll_ready() {
                progress = true;
                self.admit_checked(req, now);
            }
            progress |= self.route_lock_events(now);
            progress |= self.smb_pump(now);
            while let Some(ev) = self.rpc.poll_event() {
                progress = true;
                match ev {
                    Event::Close { conn, reason } => {
                        tracing::warn!(
                            conn = conn.0,
                            peer = %self.peer_of(conn),
                            reason,
                            "closing connection"
                        );
                        self.closes.push_back(conn);
                    }
                    Event::Call {
                        conn,
                        peer,
                        transport,
                        xid,
                        program,
                        version,
                        procedure,
                        args,
                        ..
                    } => self.route_call(
                        now,
                        IncomingCall {
                            conn,
                            peer,
                            transport,
                            xid,
                            program,
                            version,
                            procedure,
                            args,
                        },
                    ),
                }
            }
            while let Some(id) = self.rpc.poll_resumed() {
                progress = true;
                self.resume(now, id);
            }
            if !progress {
                break;
            }
        }
        self.callbacks.send_all(now, &mut self.nlm.cb);
        let needs = self.journal.appends.last();
        for c in self.callbacks.take_commands() {
            self.callback_out
                .push(needs, self.journal.durable, self.journal.failed, c);
        }
        self.update_deadline();
    }

    /// A call to NLM or NSM: straight to the service, its answer straight back.
    fn route_call(&mut self, now: Instant, call: IncomingCall) {
        let (conn, peer, xid) = (call.conn, call.peer, call.xid);
        if self.journal.failed {
            // Stop granting: nothing this call would change could be made durable.
            self.rpc.send_refusal(conn, peer, xid, Refusal::SystemErr);
            self.take_rpc_transmits(false);
            return;
        }
        let mut replies = Vec::new();
        let out = self
            .nlm
            .handle_call(now, call, &mut self.journal.appends, &mut replies);
        match out {
            CallOutcome::Reply(body) => self.rpc.send_accepted_reply(conn, peer, xid, body),
            CallOutcome::Error(e) => self.rpc.send_refusal(conn, peer, xid, e.into()),
            // Lets a retransmission through to the service instead of being dropped as in
            // progress; a later held reply is still sent on the connection.
            CallOutcome::NoReplyYet => self.rpc.finish_without_reply(conn, xid),
        }
        self.send_deferred(replies);
    }

    /// A connection's in-flight limit lifted: bytes the core buffered are handed over
    /// again; a runtime with its own buffers hears of it through `poll_resumed`.
    /// (A UDP socket needs nothing: the runtime reads it while [`Core::wants_read`] says so,
    /// and only connections whose runtime keeps the buffer are queued, so a runtime that
    /// never calls `poll_resumed` leaves nothing to pile up.)
    fn resume(&mut self, now: Instant, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.runtime_buffer {
            self.resumed.push_back(conn);
        } else if !c.buf.is_empty() {
            let mut buf = std::mem::take(&mut c.buf);
            let peer = c.peer;
            self.rpc.handle_tcp_bytes(now, conn, peer, &mut buf);
            if let Some(c) = self.conns.get_mut(&conn) {
                c.buf = buf;
            }
        }
    }

    /// Emits the job of a request the write ordering and the lock table let through
    /// ([`nfs_locks`]), holding the gate slots `gate`. An UNSTABLE WRITE takes its
    /// write-behind reservation here, before its reply can exist.
    fn emit(&mut self, req: FsRequest, gate: GateToken, now: Instant) {
        let changes = self.smb_nfs_changes(&req.call);
        if !changes.is_empty() {
            self.smb.nfs_changes.insert(req.id, changes);
        }
        let vfs = Arc::clone(self.shares.get(req.share_id));
        let defer = match &req.call {
            Nfs3Call::Write(a)
                if self.write_behind && a.stable == StableHow::Unstable && vfs.write_behind() =>
            {
                handle_file_id(&a.file).and_then(|f| self.order.begin(f, a.data.len(), now))
            }
            _ => None,
        };
        self.jobs.push_back(Job::nfs(
            req.id,
            vfs,
            self.exec.clone(),
            req.share_id,
            req.creds,
            req.call,
            defer,
            gate,
        ));
    }
}
