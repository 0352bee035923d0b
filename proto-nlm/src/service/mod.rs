//! The NLM v4 / NSM v1 service state machine (sans-IO): owners and client hosts, blocked
//! locks and their GRANTED callbacks, `_MSG`/`_RES` calls, the monitor list, SM_NOTIFY after
//! a restart and client-reboot cleanup. Lock decisions are delegated to the lock table through
//! [`LockBackend`] (`docs/cross-protocol.md` §3 and §5; XNFS chapters 10 and 11).
//!
//! # Shape (quinn-proto style)
//! - Getters: [`NlmService::nsm_state`], [`NlmService::blocked_count`],
//!   [`NlmService::is_monitored`], [`NlmService::counters`].
//! - Inputs (`handle_*`): [`NlmService::handle_call`] (a call to NLM 100021 v4 or NSM
//!   100024 v1 that the RPC server forwarded as `Event::Call`),
//!   [`NlmService::handle_call_result`] (the outcome of an [`OutboundCall`]),
//!   [`NlmService::handle_backend_event`] (the lock table decided about a waiting request),
//!   [`NlmService::handle_timeout`].
//! - Outputs, drained after every input until `None`: [`NlmService::poll_record`] (durable
//!   monitor-list changes), [`NlmService::poll_reply`] (replies that were held back),
//!   [`NlmService::poll_outbound`] (RPC calls to make); [`NlmService::poll_timeout`] says when
//!   to call `handle_timeout`.
//! - Drive order after each input: drain `poll_record` and make those records durable
//!   *before* sending the input's reply or any `poll_reply` output (a client that was told
//!   GRANTED must be in the notify list on stable storage, XNFS SM_MON), then send replies,
//!   then start the outbound calls, then re-arm the timer from `poll_timeout`.
//! - Time only moves forward: every `now` passed in must be `>=` the previous one.
//!
//! # Runtime wiring (what `runtime-mio` does)
//! 1. Register [`NlmService::programs`] in `ServerConfig::external_programs`: the RPC server
//!    then answers NLM versions other than 4 with PROG_MISMATCH 4–4 itself, and forwards the
//!    rest as `Event::Call`. Mark [`NlmService::non_idempotent`] with
//!    `RpcServer::set_external_non_idempotent`, and hold a reply the cache replays
//!    (`Transmit::external_replay`) as long as the original would be held (step 5).
//! 2. At start: `LockTable::restore(table_records)`, `start_grace(now)`, then
//!    [`NlmService::new`]`(config, now, nsm_state, nsm_records)` with `nsm_state` odd and
//!    larger than in any earlier boot (e.g. `2 * boot_counter + 1`, and above any
//!    [`NsmRecord::OwnState`]).
//! 3. `Event::Call { program: 100021 | 100024, .. }` → [`IncomingCall`] →
//!    [`NlmService::handle_call`]`(now, &mut table, &files, call)`: `Reply(body)` →
//!    `RpcServer::send_accepted_reply`; `Error(e)` →
//!    `RpcServer::send_refusal(conn, peer, xid, e.into())`; `NoReplyYet` → nothing now. `files` implements
//!    [`FileHandles`] and must map a handle to the same `FileId` the NFS side uses.
//! 4. After *every* input to the table (from any protocol) call
//!    [`NlmService::handle_table_events`]: it handles the events about NLM's waiting
//!    requests (via [`table::backend_event`] and [`NlmService::handle_backend_event`]) until
//!    the table has none left and returns the rest (lease breaks, SMB completions) to route.
//! 5. Drain [`NlmService::poll_record`] and `table.poll_record()` into the journal and make
//!    it durable (group commit) before sending the replies of step 3 and 6.
//! 6. [`NlmService::poll_reply`] → `send_accepted_reply`.
//! 7. [`NlmService::poll_outbound`] → [`callback::CallbackClient::submit`]; send its
//!    `poll_transmit` bytes to `dest` over `transport` (one UDP socket; a TCP connection per
//!    destination, reporting refused/reset ones with `connection_failed`); hand every
//!    reply message to `handle_reply`; feed each `poll_result` to
//!    [`NlmService::handle_call_result`]. Its `poll_timeout` joins the timer of step 8.
//! 8. Arm the timer at the minimum of [`NlmService::poll_timeout`] and the table's; call
//!    [`NlmService::handle_timeout`]`(now, &mut table)` when it fires.
//!
//! # What it decides
//! - Owners are (caller_name, svid, oh); the host is the caller_name, reached at the address
//!   the call came from.
//! - Blocking locks: NLM4_BLOCKED, then GRANTED_MSG (Linux's choice, docs/cross-protocol.md §3.2)
//!   to the client's NLM port found by PMAP GETPORT at the client's portmapper; an unanswered
//!   callback is sent again every `granted_retry` (10 s), a sent one waits `granted_res_wait`
//!   (60 s) for GRANTED_RES, and after `granted_attempts` the grant is withdrawn (the lock
//!   released) so no lock is held by nobody (docs/architecture.md lesson 13). A GRANTED_RES of
//!   DENIED_GRACE_PERIOD retries; any other refusal releases the lock. CANCEL and UNLOCK remove a
//!   pending block; "a cancel request always overrides any grant that may currently be in progress"
//!   (Linux `svclock.c`), so CANCEL of a block being granted releases it. A retransmitted LOCK of a
//!   queued block answers BLOCKED; of a granted one, GRANTED.
//! - `_MSG` calls are answered by a `_RES` call to the client (void RPC reply).
//! - NSM: Janus is its own status monitor. A client that sends LOCK is monitored (a durable
//!   [`NsmRecord`]); on construction every monitored client is sent SM_NOTIFY with our new
//!   state, retried every `notify_retry` for `notify_give_up`; an incoming SM_NOTIFY with a
//!   newer state frees that host's locks, shares and blocks, in grace too (its reclaimed and
//!   still unreclaimed state, docs/architecture.md lesson 3), and calls back the SM_MON
//!   registrations for that name; one with an older state (a delayed notification of an
//!   earlier reboot) frees nothing.
//!
//! # Deviations and limits (named, per house style)
//! - SM_MON, SM_UNMON, SM_UNMON_ALL and SM_SIMU_CRASH are honoured only from loopback
//!   callers (as Linux rpc.statd does); others get `stat_fail` / no effect.
//! - A TEST or SHARE that must wait for an SMB lease break is not answered (O4: the client
//!   retransmits); only LOCK requests are held and answered later.
//! - Withdrawing a grant (CANCEL during the callback, GRANTED_RES refusal, no answer)
//!   undoes only what the grant changed ([`LockBackend::withdraw_grant`]): a range the same
//!   owner held before, also where POSIX merged it with the granted one, stays held. UNLOCK
//!   overlapping a lock being granted ends the callbacks without releasing anything more.
//! - Hosts are remembered (name, address, NSM state) until the process ends, bounded by
//!   `max_hosts`; restored hosts are notified over UDP.
//! - `caller_name`s are bytes here; the lock table keys owners by UTF-8 text, so invalid
//!   UTF-8 is converted lossily there (see [`table`]).

pub mod backend;
pub mod callback;
mod delivery;
mod nlm;
mod nsm;
pub mod outbound;
mod record;
pub mod table;

use core::net::{IpAddr, SocketAddr};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use proto_nfs::server::{ConnId, Transport};

use crate::wire::{
    CallDecodeError, Mon, MonId, MyId, Netobj, Nlm4Call, Nlm4CancArgs, Nlm4Lock, Nlm4LockArgs,
    Nlm4Proc, Nlm4Reply, Nlm4Res, Nlm4ShareArgs, Nlm4ShareRes, Nlm4Stats, Nlm4TestArgs,
    Nlm4TestRes, Nlm4TestRply, Nlm4UnlockArgs, NsmCall, NsmProc, NsmReply, SmRes, SmStat,
    SmStatRes, SmStatus, SmString, StatChge, NLM_PROGRAM, NLM_VERSION_4, NSM_PROGRAM,
    NSM_VERSION_1, SM_PRIV_SIZE,
};
pub use backend::{
    BackendEvent, FileHandles, FileId, LockBackend, LockDecision, LockRequest, Owner, Resolved,
    ShareDecision, TestDecision, WaitTicket,
};
pub use outbound::{CallFailure, CallResult, OutboundCall, OutboundId};

/// Configuration of the service. Every value is read by the service
/// (docs/architecture.md lesson 5).
#[derive(Debug, Clone)]
pub struct NlmConfig {
    /// Our host name as sent in SM_NOTIFY `mon_name` (clients match it against the server
    /// they mounted; an IP address string works with Linux statd).
    pub server_name: Bytes,
    /// Port of a client's portmapper (111; tests point it at their own listener).
    pub client_portmap_port: u16,
    /// Wait before sending an unanswered GRANTED_MSG again (Linux: 10 s).
    pub granted_retry: Duration,
    /// After a GRANTED_MSG was delivered, how long to wait for GRANTED_RES before sending it
    /// again (Linux: 60 s).
    pub granted_res_wait: Duration,
    /// GRANTED_MSG transmissions before the grant is withdrawn.
    pub granted_attempts: u32,
    /// Wait between SM_NOTIFY attempts to one client after a restart.
    pub notify_retry: Duration,
    /// Stop notifying a client this long after the restart.
    pub notify_give_up: Duration,
    /// Time the runtime may spend on one outbound call ([`OutboundCall::timeout`]).
    pub call_timeout: Duration,
    /// How long a port learned from a client's portmapper is reused.
    pub port_cache_ttl: Duration,
    /// Most client hosts tracked; a new host beyond it gets NLM4_DENIED_NOLOCKS.
    pub max_hosts: usize,
    /// Most blocked locks queued at once; more → NLM4_DENIED_NOLOCKS.
    pub max_blocks: usize,
    /// Most SM_MON registrations.
    pub max_registrations: usize,
}

impl Default for NlmConfig {
    fn default() -> Self {
        NlmConfig {
            server_name: Bytes::from_static(b"127.0.0.1"),
            client_portmap_port: 111,
            granted_retry: Duration::from_secs(10),
            granted_res_wait: Duration::from_secs(60),
            granted_attempts: 6,
            notify_retry: Duration::from_secs(10),
            notify_give_up: Duration::from_secs(15 * 60),
            call_timeout: Duration::from_secs(5),
            port_cache_ttl: Duration::from_secs(300),
            max_hosts: 65_536,
            max_blocks: 65_536,
            max_registrations: 4096,
        }
    }
}

/// A call to NLM or NSM, as the RPC server forwards it (`Event::Call`).
#[derive(Debug, Clone)]
pub struct IncomingCall {
    /// The connection (TCP) or socket (UDP) it came on.
    pub conn: ConnId,
    /// The caller's address.
    pub peer: SocketAddr,
    /// Transport.
    pub transport: Transport,
    /// Transaction id.
    pub xid: u32,
    /// Program (100021 or 100024).
    pub program: u32,
    /// Version.
    pub version: u32,
    /// Procedure.
    pub procedure: u32,
    /// Undecoded arguments.
    pub args: Bytes,
}

/// What to answer a call with now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOutcome {
    /// An accepted SUCCESS reply with this body.
    Reply(Bytes),
    /// No reply now: it comes later from [`NlmService::poll_reply`], or never (a held
    /// non-blocking LOCK whose hold expired is dropped so the client retransmits, O4).
    NoReplyYet,
    /// An accepted reply with a non-SUCCESS status (RFC 5531 §9).
    Error(AcceptError),
}

/// A non-SUCCESS accepted reply (RFC 5531 §9 `accept_stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptError {
    /// PROG_UNAVAIL (1): neither NLM nor NSM.
    ProgUnavail,
    /// PROG_MISMATCH (2) with the versions served (NLM 4–4: versions 1 and 3 are not served).
    ProgMismatch {
        /// Lowest version served.
        low: u32,
        /// Highest version served.
        high: u32,
    },
    /// PROC_UNAVAIL (3): e.g. NLM procedures 16–19.
    ProcUnavail,
    /// GARBAGE_ARGS (4).
    GarbageArgs,
}

impl AcceptError {
    /// The `accept_stat` value.
    pub const fn accept_stat(self) -> u32 {
        match self {
            AcceptError::ProgUnavail => 1,
            AcceptError::ProgMismatch { .. } => 2,
            AcceptError::ProcUnavail => 3,
            AcceptError::GarbageArgs => 4,
        }
    }
}

impl From<AcceptError> for proto_nfs::rpc::AcceptStat {
    fn from(e: AcceptError) -> Self {
        use proto_nfs::rpc::AcceptStat;
        match e {
            AcceptError::ProgUnavail => AcceptStat::ProgUnavail,
            AcceptError::ProgMismatch { low, high } => AcceptStat::ProgMismatch { low, high },
            AcceptError::ProcUnavail => AcceptStat::ProcUnavail,
            AcceptError::GarbageArgs => AcceptStat::GarbageArgs,
        }
    }
}

impl From<AcceptError> for proto_nfs::server::status::Refusal {
    fn from(e: AcceptError) -> Self {
        use proto_nfs::server::status::Refusal;
        match e {
            AcceptError::ProgUnavail => Refusal::ProgUnavail,
            AcceptError::ProgMismatch { low, high } => Refusal::ProgMismatch { low, high },
            AcceptError::ProcUnavail => Refusal::ProcUnavail,
            AcceptError::GarbageArgs => Refusal::GarbageArgs,
        }
    }
}

impl From<CallDecodeError> for AcceptError {
    fn from(e: CallDecodeError) -> Self {
        match e {
            CallDecodeError::ProcUnavail(_) => AcceptError::ProcUnavail,
            CallDecodeError::GarbageArgs(_) => AcceptError::GarbageArgs,
        }
    }
}

/// A reply that was held back, to send with `RpcServer::send_accepted_reply`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeferredReply {
    /// Connection of the call.
    pub conn: ConnId,
    /// Caller.
    pub peer: SocketAddr,
    /// The call's xid.
    pub xid: u32,
    /// SUCCESS reply body.
    pub body: Bytes,
}

/// A durable change of the NSM monitor list; the runtime journals these and hands them back
/// to [`NlmService::new`] after a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NsmRecord {
    /// A client host is monitored (it took locks): notify it after our restart.
    Monitored {
        /// Its caller_name.
        name: Bytes,
        /// The address its calls came from.
        addr: IpAddr,
        /// Its NSM state as it last told us (LOCK `state`, SM_NOTIFY).
        state: i32,
    },
    /// A client host is no longer monitored (freed after its reboot, FREE_ALL).
    Unmonitored {
        /// Its caller_name.
        name: Bytes,
    },
    /// A local SM_MON registration (XNFS ch. 11: kept on stable storage).
    Registered {
        /// The SM_MON arguments.
        mon: Mon,
        /// Address of the registrant (the callback goes there).
        addr: IpAddr,
    },
    /// An SM_MON registration was removed (SM_UNMON, SM_UNMON_ALL).
    Unregistered {
        /// The registration.
        mon_id: MonId,
    },
    /// Our NSM state number changed without a restart (SM_SIMU_CRASH); the runtime must
    /// start the next boot above it.
    OwnState(i32),
}

/// Counters for the metrics endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NlmCounters {
    /// GRANTED_MSG callbacks sent (retries included).
    pub granted_callbacks: u64,
    /// Grants withdrawn because the client never answered or refused.
    pub grants_withdrawn: u64,
    /// SM_NOTIFY calls sent.
    pub notifies_sent: u64,
    /// Client reboots (SM_NOTIFY with a new state) and FREE_ALLs that freed a host.
    pub hosts_freed: u64,
    /// `_RES` calls that matched nothing outstanding.
    pub unmatched_res: u64,
}

#[derive(Debug, Clone)]
struct Host {
    addr: IpAddr,
    transport: Transport,
    client_state: Option<i32>,
    monitored: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct BlockId(u64);

#[derive(Debug, Clone)]
struct Block {
    ticket: WaitTicket,
    owner: Owner,
    file: FileId,
    alock: Nlm4Lock,
    exclusive: bool,
    addr: IpAddr,
    transport: Transport,
    state: BlockState,
}

/// A blocked lock as the service sees it ([`NlmService::blocks`]: tests, metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockView<'a> {
    /// The lock table's ticket of the waiting request.
    pub ticket: WaitTicket,
    /// The file.
    pub file: FileId,
    /// Who asked.
    pub owner: &'a Owner,
    /// The lock as the client sent it.
    pub alock: &'a Nlm4Lock,
    /// The table granted it and the client is being told (GRANTED_MSG); else it is queued.
    pub granting: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockState {
    /// Queued in the table.
    Waiting,
    /// The table granted it; the client is being told.
    Granting {
        /// GRANTED_MSG transmissions so far.
        attempts: u32,
        /// When to send it again (or withdraw the grant): an attempt whose outcome never
        /// came back counts as failed.
        deadline: Instant,
    },
}

/// Where a reply goes and how (`_MSG` calls are answered by a `_RES` call).
#[derive(Debug, Clone)]
struct ReplyTo {
    conn: ConnId,
    peer: SocketAddr,
    transport: Transport,
    xid: u32,
    msg: bool,
}

#[derive(Debug, Clone)]
struct Held {
    reply: ReplyTo,
    args: Nlm4LockArgs,
    owner: Owner,
    file: FileId,
}

#[derive(Debug, Clone)]
struct Registration {
    mon: Mon,
    addr: IpAddr,
}

#[derive(Debug, Clone)]
struct Notify {
    addr: IpAddr,
    started: Instant,
    in_flight: bool,
    next: Instant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Purpose {
    /// GRANTED_MSG for a block, attempt number (results of older attempts are ignored).
    Granted(BlockId, u32),
    MsgRes,
    Notify(Bytes),
    StatusCallback,
}

#[derive(Debug, Clone)]
struct Delivery {
    ip: IpAddr,
    transport: Transport,
    program: u32,
    version: u32,
    procedure: u32,
    args: Bytes,
    purpose: Purpose,
    /// True while the GETPORT is outstanding.
    resolving: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Block(BlockId),
    Notify(Bytes),
}

type PortKey = (IpAddr, u32, u32, Transport);

/// The NLM/NSM service. See the module documentation for the drive order.
#[derive(Debug)]
pub struct NlmService {
    config: NlmConfig,
    nsm_state: i32,
    hosts: BTreeMap<Bytes, Host>,
    blocks: BTreeMap<BlockId, Block>,
    /// The blocks of each caller_name: every lookup by a client's request stays within
    /// that client's blocks.
    host_blocks: BTreeMap<Bytes, BTreeSet<BlockId>>,
    block_by_ticket: BTreeMap<WaitTicket, BlockId>,
    held: BTreeMap<WaitTicket, Held>,
    registrations: Vec<Registration>,
    notifies: BTreeMap<Bytes, Notify>,
    deliveries: BTreeMap<OutboundId, Delivery>,
    ports: BTreeMap<PortKey, (u16, Instant)>,
    timers: BTreeSet<(Instant, Timer)>,
    outbound: VecDeque<OutboundCall>,
    replies: VecDeque<DeferredReply>,
    records: VecDeque<NsmRecord>,
    next_id: u64,
    counters: NlmCounters,
}

fn owner_of(lock: &Nlm4Lock) -> Owner {
    Owner {
        caller_name: lock.caller_name.bytes().clone(),
        svid: lock.svid,
        oh: lock.oh.bytes().clone(),
    }
}

fn res(cookie: &Netobj, stat: Nlm4Stats) -> Nlm4Res {
    Nlm4Res {
        cookie: cookie.clone(),
        stat,
    }
}

fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// The range `[offset, offset+len)` as inclusive bounds (len 0 = to the end).
fn bounds(offset: u64, len: u64) -> (u64, u64) {
    if len == 0 {
        (offset, u64::MAX)
    } else {
        (offset, offset.saturating_add(len - 1))
    }
}

fn same_lock(a: &Nlm4Lock, b: &Nlm4Lock) -> bool {
    a.caller_name == b.caller_name
        && a.svid == b.svid
        && a.oh == b.oh
        && a.fh == b.fh
        && a.l_offset == b.l_offset
        && a.l_len == b.l_len
}

impl NlmService {
    /// Creates the service after a (re)start. `nsm_state` is our NSM state number for this
    /// boot (odd = up, increasing on every restart: the runtime derives it from its boot
    /// counter); `records` are the journalled [`NsmRecord`]s in order. Every client still
    /// monitored is sent SM_NOTIFY (XNFS SM_MON: "on reboot it must send out an SM_NOTIFY
    /// call to each host in the notify list").
    pub fn new(
        config: NlmConfig,
        now: Instant,
        nsm_state: i32,
        records: impl IntoIterator<Item = NsmRecord>,
    ) -> Self {
        let mut s = NlmService {
            config,
            nsm_state,
            hosts: BTreeMap::new(),
            blocks: BTreeMap::new(),
            host_blocks: BTreeMap::new(),
            block_by_ticket: BTreeMap::new(),
            held: BTreeMap::new(),
            registrations: Vec::new(),
            notifies: BTreeMap::new(),
            deliveries: BTreeMap::new(),
            ports: BTreeMap::new(),
            timers: BTreeSet::new(),
            outbound: VecDeque::new(),
            replies: VecDeque::new(),
            records: VecDeque::new(),
            next_id: 1,
            counters: NlmCounters::default(),
        };
        for r in records {
            s.apply_record(r);
        }
        // The restored hosts are known by name and address only: whatever they held is in
        // the lock table's persisted state, and they reclaim it after our notification.
        s.notify_monitored(now);
        s
    }

    fn apply_record(&mut self, r: NsmRecord) {
        match r {
            NsmRecord::Monitored { name, addr, state } => {
                self.hosts.insert(
                    name,
                    Host {
                        addr,
                        transport: Transport::Udp,
                        client_state: Some(state),
                        monitored: true,
                    },
                );
            }
            NsmRecord::Unmonitored { name } => {
                self.hosts.remove(&name);
            }
            NsmRecord::Registered { mon, addr } => {
                self.registrations.retain(|r| r.mon.mon_id != mon.mon_id);
                self.registrations.push(Registration { mon, addr });
            }
            NsmRecord::Unregistered { mon_id } => {
                self.registrations.retain(|r| r.mon.mon_id != mon_id);
            }
            NsmRecord::OwnState(_) => {}
        }
    }

    // ----- getters -----

    /// Our NSM state number.
    pub fn nsm_state(&self) -> i32 {
        self.nsm_state
    }

    /// Blocked locks queued or being granted.
    pub fn blocked_count(&self) -> usize {
        self.blocks.len()
    }

    /// The blocked locks, queued or being granted.
    pub fn blocks(&self) -> impl Iterator<Item = BlockView<'_>> {
        self.blocks.values().map(|b| BlockView {
            ticket: b.ticket,
            file: b.file,
            owner: &b.owner,
            alock: &b.alock,
            granting: matches!(b.state, BlockState::Granting { .. }),
        })
    }

    /// The configuration the service runs with.
    pub fn config(&self) -> &NlmConfig {
        &self.config
    }

    /// Outbound calls queued and not yet taken with [`NlmService::poll_outbound`].
    pub fn outbound_pending(&self) -> usize {
        self.outbound.len()
    }

    /// Whether the host named `caller_name` is in the notify list.
    pub fn is_monitored(&self, caller_name: &[u8]) -> bool {
        self.hosts.get(caller_name).is_some_and(|h| h.monitored)
    }

    /// Counters.
    pub fn counters(&self) -> NlmCounters {
        self.counters
    }

    /// The (program, lowest version, highest version) pairs to register as the RPC server's
    /// `external_programs`, so that it answers NLM versions 1–3 with PROG_MISMATCH 4–4.
    pub fn programs() -> [(u32, u32, u32); 2] {
        [
            (NLM_PROGRAM, NLM_VERSION_4, NLM_VERSION_4),
            (NSM_PROGRAM, NSM_VERSION_1, NSM_VERSION_1),
        ]
    }

    /// The NLM procedures whose calls change lock state, to mark with
    /// `RpcServer::set_external_non_idempotent` (program, procedures): a retransmitted or
    /// delayed duplicate LOCK, CANCEL, UNLOCK, SHARE, UNSHARE, NM_LOCK or FREE_ALL is then
    /// answered from the duplicate-request cache (RFC 5531 §8.1 xid semantics; RFC 1813
    /// §4.4) instead of being executed again: a duplicate UNLOCK arriving after the client
    /// locked the range anew would release the new lock, a duplicate LOCK re-take a range
    /// already unlocked. TEST and GRANTED_RES change nothing twice. The `_MSG` forms are
    /// left out: their answer is a separate `_RES` call the cache cannot repeat, and a
    /// client retransmits a `_MSG` exactly when that answer was lost.
    pub fn non_idempotent() -> (u32, [u32; 7]) {
        (
            NLM_PROGRAM,
            [
                Nlm4Proc::Lock,
                Nlm4Proc::Cancel,
                Nlm4Proc::Unlock,
                Nlm4Proc::Share,
                Nlm4Proc::Unshare,
                Nlm4Proc::NmLock,
                Nlm4Proc::FreeAll,
            ]
            .map(Nlm4Proc::to_u32),
        )
    }

    // ----- outputs -----

    /// Next durable record.
    pub fn poll_record(&mut self) -> Option<NsmRecord> {
        self.records.pop_front()
    }

    /// Next held-back reply.
    pub fn poll_reply(&mut self) -> Option<DeferredReply> {
        self.replies.pop_front()
    }

    /// Next outbound call.
    pub fn poll_outbound(&mut self) -> Option<OutboundCall> {
        self.outbound.pop_front()
    }

    /// When `handle_timeout` should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|(t, _)| *t)
    }

    // ----- inputs -----

    /// A call to NLM or NSM arrived.
    pub fn handle_call(
        &mut self,
        now: Instant,
        locks: &mut dyn LockBackend,
        files: &dyn FileHandles,
        call: IncomingCall,
    ) -> CallOutcome {
        match call.program {
            NLM_PROGRAM => {
                if call.version != NLM_VERSION_4 {
                    return CallOutcome::Error(AcceptError::ProgMismatch {
                        low: NLM_VERSION_4,
                        high: NLM_VERSION_4,
                    });
                }
                match Nlm4Call::decode(call.procedure, &call.args) {
                    Ok(c) => self.nlm_call(now, locks, files, &call, c),
                    Err(e) => CallOutcome::Error(e.into()),
                }
            }
            NSM_PROGRAM => {
                if call.version != NSM_VERSION_1 {
                    return CallOutcome::Error(AcceptError::ProgMismatch {
                        low: NSM_VERSION_1,
                        high: NSM_VERSION_1,
                    });
                }
                match NsmCall::decode(call.procedure, &call.args) {
                    Ok(c) => self.nsm_call(now, locks, &call, c),
                    Err(e) => CallOutcome::Error(e.into()),
                }
            }
            _ => CallOutcome::Error(AcceptError::ProgUnavail),
        }
    }

    fn reply_to(call: &IncomingCall, msg: bool) -> ReplyTo {
        ReplyTo {
            conn: call.conn,
            peer: call.peer,
            transport: call.transport,
            xid: call.xid,
            msg,
        }
    }

    /// Time passed: retry GRANTED callbacks and SM_NOTIFY calls that are due, and withdraw
    /// grants nobody answered.
    pub fn handle_timeout(&mut self, now: Instant, locks: &mut dyn LockBackend) {
        while let Some((at, timer)) = self.timers.first().cloned() {
            if at > now {
                break;
            }
            self.timers.remove(&(at, timer.clone()));
            match timer {
                Timer::Block(id) => {
                    let Some(b) = self.blocks.get(&id) else {
                        continue;
                    };
                    let BlockState::Granting { attempts, deadline } = b.state else {
                        continue;
                    };
                    if deadline != at {
                        continue;
                    }
                    if attempts >= self.config.granted_attempts {
                        // Lessons #13: the client never answered; release the lock rather
                        // than keep it held by nobody.
                        self.counters.grants_withdrawn += 1;
                        self.withdraw_block(now, locks, id);
                    } else {
                        self.send_granted(now, id);
                    }
                }
                Timer::Notify(name) => {
                    let due = self
                        .notifies
                        .get(&name)
                        .is_some_and(|n| n.next == at && !n.in_flight);
                    if due {
                        self.send_notify(now, name);
                    }
                }
            }
        }
    }
}
