//! SMB 2/3 in the core: one `proto_smb2::server::Connection` per accepted SMB connection,
//! the open table ([`open`]), and the file operations the machine hands up, run as
//! file-system jobs ([`exec`]) over the same `vfs` backends and the same lock table as NFS
//! (docs/architecture.md, "How an SMB request flows").
//!
//! # Flow of one request
//! 1. The runtime hands the connection's bytes to the core, which gives them to the
//!    connection machine (`Connection::handle_bytes`, with the wall time as a FILETIME).
//! 2. The machine does framing, signing, encryption, credits, sessions and trees itself and
//!    hands file operations up as `Event::Call`. The core answers IPC$ (the srvsvc pipe) at
//!    once; for a disk share it checks what needs no file system (open ids, access granted
//!    to the open, dispositions and option combinations, names) and emits a job
//!    ([`exec::Work`]) with a continuation kept here, keyed by the job's token.
//! 3. When the job is done (`Core::handle_job_done`), the continuation decides: a CREATE
//!    asks the lock table for its share modes (`Core::smb_request` without the pump,
//!    `SmbRequest::Create`); `Opened` adds the open to the table (and, for an overwrite,
//!    truncates in a second job), `Deny` answers STATUS_SHARING_VIOLATION, `Wait` turns the
//!    call async (`Connection::go_async`, STATUS_PENDING) until the table completes its
//!    ticket ([`crate::LockEvent::SmbCompleted`]); a parked request completes with
//!    [`crate::LockEvent::SmbParkedDone`]. READ and WRITE ask the table about byte-range
//!    locks (`smb_read`/`smb_write`) before their job.
//! 4. The answer goes back with `Connection::handle_reply`; the machine frames, signs or
//!    encrypts it and the core moves its bytes to `Core::poll_transmit`. A READ's data is
//!    read by its job into the buffer that becomes the reply (`Reply::Framed`, after
//!    [`exec::READ_DATA_AT`]); a large encrypted response or request is sealed or
//!    decrypted by a job of its own (`Work::Seal` / `Work::Unseal`, from
//!    `SEAL_OFFLOAD_MIN`), off the event loop.
//!
//! Every open of a session, tree or connection is closed — and released in the lock table
//! — when the machine reports `SessionClosed` / `TreeClosed` or the connection is lost.
//!
//! CHANGE_NOTIFY is [`notify`]: watches fired by SMB and NFS namespace changes.
//!
//! LOCK is [`lock`]: byte-range locks of SMB opens in the one lock table (multi-element
//! requests all or nothing, blocking locks answered STATUS_PENDING and granted when the
//! holder unlocks or closes, ended by CANCEL, CLOSE, TREE_DISCONNECT, LOGOFF or a lost
//! connection, lock sequence replay for durable opens); READ and WRITE meet other opens'
//! locks with STATUS_FILE_LOCK_CONFLICT (a zero-byte READ meets none).
//!
//! Leases and oplocks are `lease` (MS-SMB2 §3.3.5.9.8/.11, §3.3.4.6/.7, §3.3.5.22): a
//! CREATE passes RequestedOplockLevel and the RqLs context to the lock table
//! (`SmbCreate::cache`) and answers its grant; the table's breaks (`LockEvent::Break`) go out
//! as unsolicited notifications on the client's connection (`Connection::send_break`), a
//! break nobody can receive is completed as acknowledged to NONE (a disconnected durable
//! open is closed instead); OPLOCK_BREAK acknowledgments go to the table; a CREATE the table
//! makes wait for a break goes async (STATUS_PENDING) and completes when its ticket does, in
//! the table's FIFO order, or with STATUS_CANCELLED on CANCEL; SET_INFO of the size breaks
//! other opens' caching first (`LockTable::smb_set_size`); an unacknowledged break ends after
//! the table's break timeout (`break_timeout`, 35 s). SMB namespace changes, and the close of
//! a file written through the open, break the parent directory's lease except the one the
//! requester named as its parent lease key.
//!
//! Durable handles are [`durable`]: DHnQ / DH2Q granted with a Batch oplock or an H
//! lease, opens kept across a connection loss (and LOGOFF) until their timeout, DHnC / DH2C
//! checked against what was stored, journalled and reclaimed in the grace period after a
//! restart; a break for a disconnected durable open closes it.
//!
//! # Not done here
//! Persistent handles (no share is continuously available: the flag is never granted);
//! resilient handles (FSCTL_LMR_REQUEST_RESILIENCY is not served); the durable v2
//! AppInstanceId context (ignored: a second open with the same AppInstanceId does not close
//! the first, smbtorture durable-v2-open.app-instance). A SET_INFO of a child's size or
//! times does not break its directory's lease (a write does, at close); the lease-break
//! round trip sends its interim STATUS_PENDING at once where Samba waits to see whether the
//! answer comes quickly.
//!
//! # Known limits
//! - A partial NBSS frame has the record deadline of a partial RPC record
//!   (`Core::holds_partial_record`), and a connection that has not logged on the logon
//!   deadline (`admission::LogonDeadlines`); a logged-on idle connection has no timeout
//!   of its own and gives way under the connection table's admission, like an NFS one.
//! - A case-insensitive lookup that misses the exact name sweeps the directory once
//!   (`Vfs::find_entry`: linear in its size, once per miss), as Samba does.
//! - A LOCK or CHANGE_NOTIFY waiting when its session logs off is answered after the
//!   LOGOFF response (signed or encrypted with the ended session's keys, which the
//!   connection machine keeps for it); Windows and Samba answer them before the LOGOFF
//!   response, which would need the machine to hand LOGOFF up first.

pub mod durable;
pub mod exec;
mod lease;
pub mod lock;
pub mod notify;
pub mod open;

use std::collections::{btree_map, BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use lockstate::{Deny, FileId, OpenGrant, OpenId, Outcome, SmbCreate, Ticket};
use proto_nfs::rpc::segments::Segments;
use proto_nfs::server::{ConnId, Creds};
use proto_smb2::cmd::close::CLOSE_FLAG_POSTQUERY_ATTRIB;
use proto_smb2::cmd::create_context::{RequestContext, ResponseContext};
use proto_smb2::cmd::ioctl::{ctl_code, IOCTL_IS_FSCTL};
use proto_smb2::cmd::{
    CloseResponse, CreateRequest, CreateResponse, FileId as SmbFileId, FileTimesAndSizes,
    FlushResponse, IoctlRequest, IoctlResponse, ReadResponse, Request, WriteResponse,
};
use proto_smb2::dcerpc::srvsvc::{self, SrvsvcPipe};
use proto_smb2::fscc::attributes;
use proto_smb2::names::{eq_ignore_case, parse_create_path, SharePath};
use proto_smb2::server::{
    Call, CallId, Connection, Event, Identity, Reply, Rng, ServerConfig, Share, ShareKind,
    UserEntry, UserLookup,
};
use proto_smb2::NtStatus;
use vfs::{FileKind, Handle};

use crate::nfs_locks::{SmbRequest, SmbRequestId, SmbSubmit};
use crate::nlm::file_id;
use crate::service::Job;
use crate::smb_access::{DELETE, FILE_APPEND_DATA, FILE_EXECUTE, FILE_READ_DATA, FILE_WRITE_DATA};
use crate::smb_info::{set_info_ok, OpenView, SetInfoOutcome, VolumeView};
use crate::users::Users;
use crate::{Core, CoreConfig, RecordSeq, Transmit};
use exec::{options, Output, Work};
use open::{FileOpen, Open, OpenKind, OpenLimits, OpenTable};
use proto_smb2::cmd::{QueryDirectoryRequest, QueryInfoRequest, SetInfoRequest};
use proto_smb2::fscc::file::mode as file_mode;

/// STATUS_FILE_LOCK_CONFLICT.
const STATUS_FILE_LOCK_CONFLICT: NtStatus = NtStatus(0xC000_0054);
/// STATUS_FILE_NOT_AVAILABLE (the lock table's grace period).
const STATUS_FILE_NOT_AVAILABLE: NtStatus = NtStatus(0xC000_0467);
/// STATUS_BAD_IMPERSONATION_LEVEL.
const STATUS_BAD_IMPERSONATION_LEVEL: NtStatus = NtStatus(0xC000_00A5);
/// STATUS_INTERNAL_ERROR.
const STATUS_INTERNAL_ERROR: NtStatus = NtStatus(0xC000_00E5);
/// STATUS_FS_DRIVER_REQUIRED: DFS is not served (MS-SMB2 §3.3.5.15.2).
const STATUS_FS_DRIVER_REQUIRED: NtStatus = NtStatus(0xC000_019C);
/// Wall time of FILETIME 0 in Unix seconds' terms (1601-01-01).
const FILETIME_PER_SEC: u64 = 10_000_000;
/// Encrypted responses from this size on are sealed by a worker (`Work::Seal`): the size
/// of a READ of 256 KiB, where the handoff costs far less than the encryption.
const SEAL_OFFLOAD_MIN: usize = 256 << 10;

/// The users file as the connection machine sees it. A user without its own uid/gid gets
/// 65534 here; the identity file operations run as is computed per share
/// ([`SmbState::creds`]), with the share's `anon_uid`/`anon_gid`.
#[derive(Debug)]
struct UsersLookup(Arc<Users>);

impl UserLookup for UsersLookup {
    fn lookup(&self, user: &str, _domain: &str) -> Option<UserEntry> {
        self.0.lookup(user).map(|u| {
            let (uid, gid) = u.ids(65534, 65534);
            UserEntry {
                nt_hash: u.nt_hash,
                uid,
                gid,
            }
        })
    }
}

/// What the core keeps of a share for SMB.
#[derive(Debug, Clone)]
struct ShareInfo {
    name: String,
    read_only: bool,
    case_insensitive: bool,
    anon: (u32, u32),
    root_squash: bool,
    all_squash: bool,
}

#[derive(Debug)]
struct SmbConn {
    machine: Connection,
    /// `wants_read` was false after its last input: the runtime stopped reading it and is
    /// told through `Core::poll_resumed` when it may read again.
    held: bool,
    /// The journal record its responses wait for (a durable handle granted on it:
    /// [`durable`]); only grows, so its responses keep their order.
    needs: RecordSeq,
}

/// Where an answer goes.
#[derive(Debug, Clone)]
struct Ctx {
    conn: ConnId,
    call: CallId,
    session: u64,
    tree: u32,
    share_id: u32,
}

/// A break acknowledgment waiting for the WRITE jobs (tokens) its connection had in flight
/// when it arrived ([`Core::smb_ack_or_hold`]).
#[derive(Debug)]
struct HeldAck {
    before: BTreeSet<u64>,
    ctx: Ctx,
    req: proto_smb2::cmd::OplockBreak,
}

/// A CREATE between its steps.
#[derive(Debug)]
struct CreateState {
    share_access: u32,
    options: u32,
    mxac: bool,
    qfid: bool,
    path: SharePath,
    file_attributes: u32,
    /// The AllocationSize create context.
    allocation: Option<u64>,
    found: Option<Box<exec::Found>>,
    file: FileId,
    lock_open: OpenId,
    /// Durability asked ([`durable::ask_of`]).
    durable: durable::Ask,
    /// The session's user (a durable open's reconnect must be the same user's).
    user: String,
    /// The name as the CREATE gave it.
    name: String,
    /// RequestedOplockLevel and the RqLs context ([`lease::cache_ask`], once the file is
    /// known to be a directory or not).
    requested_oplock: u8,
    lease: Option<proto_smb2::cmd::create_context::LeaseRequest>,
    /// What was asked of the lock table, and what it granted.
    ask: lease::CacheAsk,
    grant: Option<OpenGrant>,
    /// The lock table made the CREATE wait (a break, grace): the attributes its job saw
    /// may predate what the broken client flushed, so they are read again before the
    /// answer (MS-SMB2 §3.3.5.9: the open completes after the break is acknowledged).
    waited: bool,
}

/// An entry that leaves a directory (for CHANGE_NOTIFY).
#[derive(Debug, Clone)]
struct Removed {
    dir: FileId,
    /// The share, and the directory's path below its root (for WATCH_TREE watches of the
    /// directory's ancestors).
    share_id: u32,
    dir_path: Vec<String>,
    name: String,
    is_dir: bool,
    /// The v2 parent lease key of the open that removed it, whose lease the change does not
    /// break ([`Core::smb_parent_changed`]).
    except: Option<lockstate::CacheKey>,
}

impl Removed {
    fn of(share_id: u32, f: &FileOpen) -> Option<Removed> {
        let parent = f.parent.as_ref()?;
        Some(Removed {
            dir: file_id(share_id, &parent.0),
            share_id,
            dir_path: parent_components(&f.path).to_vec(),
            name: String::from_utf8_lossy(&f.name).into_owned(),
            is_dir: f.is_dir,
            except: f.parent_lease,
        })
    }

    /// Where it was: the share and the directory's path.
    fn at(&self) -> Option<(u32, &[String])> {
        Some((self.share_id, &self.dir_path))
    }
}

/// The components of the directory holding `path` (empty for an entry of the share root).
fn parent_components(path: &SharePath) -> &[String] {
    let n = path.components.len();
    &path.components[..n.saturating_sub(1)]
}

/// What to do when a job or a lock-table decision comes back.
#[derive(Debug)]
enum Then {
    /// A response of the connection sealed by a worker (`Work::Seal`).
    Sealed(ConnId),
    /// A request of the connection decrypted by a worker (`Work::Unseal`).
    Unsealed(ConnId),
    Create(Box<CreateState>),
    /// The share modes allowed an overwrite; the truncation job ran.
    Overwrite(Box<CreateState>, u64),
    /// READ of the open `.0` at offset `.1` (the open's position follows it, as Samba's
    /// FilePositionInformation does).
    Read(u64, u64),
    /// WRITE of the open `.0` at offset `.1`.
    Write(u64, u64),
    Flush,
    Close {
        postquery: bool,
        /// The entry removed (delete pending at the last close), for CHANGE_NOTIFY.
        removed: Option<Removed>,
    },
    /// A READ or WRITE waiting for the lock table; the job to run then.
    Io(Box<Work>, bool, u64, u64),
    /// Work nobody waits for (removal after a connection was lost).
    Background(Option<Removed>),
    QueryInfo,
    /// QUERY_DIRECTORY of the open `volatile` (its search comes back).
    QueryDirectory(u64),
    /// SET_INFO of the open `volatile`: InfoType and FileInfoClass.
    /// SET_INFO of the open `.0`; `.1`: the FILE_NOTIFY_CHANGE_* bits it reports once
    /// applied ([`set_info_notify_mask`]).
    SetInfo(u64, u32),
    /// A rename or link the lock table allowed, to run.
    Rename(Box<Work>, u64),
    /// A rename or link ran; the open `volatile` gets the new path; `old`: where the file
    /// was (a rename), for CHANGE_NOTIFY.
    Renamed(u64, SharePath, Option<Removed>),
    /// A disposition the lock table allowed: set (or clear) delete pending on `file`.
    Disposition(FileId, bool),
    /// A durable open reconnected (or a CREATE replayed): its attributes came back.
    Reconnected(Box<durable::Reconnected>),
    /// A LOCK waiting for the lock table ([`lock`]).
    Lock(Box<lock::LockCall>),
    /// A SET_INFO of the size the lock table allowed (its breaks done): the job to run,
    /// then [`Then::SetInfo`] with these.
    SetSize(Box<Work>, u64, u32),
}

#[derive(Debug)]
struct Pending {
    ctx: Option<Ctx>,
    then: Then,
}

/// The SMB side of the core.
#[derive(Debug)]
pub(crate) struct SmbState {
    config: Arc<ServerConfig>,
    seeds: Rng,
    conns: BTreeMap<ConnId, SmbConn>,
    dirty: BTreeSet<ConnId>,
    opens: OpenTable,
    shares: BTreeMap<u32, ShareInfo>,
    users: Arc<Users>,
    srvsvc_shares: Vec<srvsvc::Share>,
    next_token: u64,
    jobs: BTreeMap<u64, Pending>,
    /// WRITE jobs run one file at a time ([`Core::smb_job`]): the file (share id, handle)
    /// of each WRITE job in flight, by token, and the WRITE jobs waiting behind it.
    writing: BTreeMap<u64, (u32, Vec<u8>)>,
    write_queues: BTreeMap<(u32, Vec<u8>), VecDeque<Job>>,
    /// The connection of each WRITE job in flight, by token, and per connection the break
    /// acknowledgments held until the WRITEs in flight when they arrived are done
    /// ([`Core::smb_ack_or_hold`]; at most one per call the connection may have open).
    write_conns: BTreeMap<u64, ConnId>,
    held_acks: BTreeMap<ConnId, VecDeque<HeldAck>>,
    /// Durable reconnects per connection whose CREATE response is not sent yet, and the
    /// breaks for that connection held until it is ([`Core::smb_send_break`]).
    reconnecting: BTreeMap<ConnId, usize>,
    held_breaks: BTreeMap<ConnId, Vec<lockstate::BreakNotice>>,
    tickets: BTreeMap<Ticket, Pending>,
    parked: BTreeMap<SmbRequestId, Pending>,
    /// Tickets of requests of a lost connection whose completion the table had already
    /// decided (closing the connection's opens completes their waiters): their
    /// `SmbCompleted` events are taken and dropped, not left in the core's event queue.
    dropped: BTreeSet<Ticket>,
    next_lock_open: u64,
    /// Durable handles ([`durable`]).
    durable: durable::DurableTable,
    /// An SMB connection was ever accepted: every lease break is then the SMB side's to
    /// deliver or resolve ([`lease`]).
    served: bool,
    filetime: u64,
    /// Namespace changes of NFS jobs in flight, reported to CHANGE_NOTIFY when they succeed.
    pub(crate) nfs_changes: BTreeMap<proto_nfs::server::FsRequestId, Vec<(FileId, notify::Change)>>,
}

impl SmbState {
    pub(crate) fn new(config: &CoreConfig) -> SmbState {
        let users = Arc::new(config.users.clone());
        let mut shares = Vec::new();
        let mut infos = BTreeMap::new();
        let mut srvsvc_shares = Vec::new();
        let mut guest = None;
        for s in &config.shares {
            shares.push(Share {
                name: s.name.clone(),
                id: s.share_id,
                kind: ShareKind::Disk,
                read_only: s.read_only,
                guest_ok: s.smb.guest_ok,
                encrypt: match s.smb.encrypt {
                    crate::SmbEncrypt::Off => proto_smb2::server::EncryptPolicy::Off,
                    crate::SmbEncrypt::Desired => proto_smb2::server::EncryptPolicy::Desired,
                    crate::SmbEncrypt::Required => proto_smb2::server::EncryptPolicy::Required,
                },
                signing_required: s.smb.signing == crate::SmbSigning::Required,
            });
            if s.smb.guest_ok && guest.is_none() {
                guest = Some((s.anon_uid, s.anon_gid));
            }
            srvsvc_shares.push(srvsvc::Share::disk(&s.name, ""));
            infos.insert(
                s.share_id,
                ShareInfo {
                    name: s.name.clone(),
                    read_only: s.read_only,
                    case_insensitive: s.smb.case_insensitive,
                    anon: (s.anon_uid, s.anon_gid),
                    root_squash: s.root_squash,
                    all_squash: s.all_squash,
                },
            );
        }
        srvsvc_shares.push(srvsvc::Share::ipc("IPC Service"));
        let mut sc = ServerConfig::new(
            config.smb_server_guid,
            shares,
            Arc::new(UsersLookup(Arc::clone(&users))),
        );
        // Encryption is asked for per share (TREE_CONNECT), not for whole sessions.
        sc.encrypt = proto_smb2::server::EncryptPolicy::Off;
        sc.signing_required = config
            .shares
            .iter()
            .any(|s| s.smb.signing == crate::SmbSigning::Required);
        sc.guest = guest;
        // Large encrypted responses (READ data) are sealed by the workers, in parallel
        // with the event loop's socket writes, instead of on the loop.
        sc.limits.seal_offload_min = SEAL_OFFLOAD_MIN;
        SmbState {
            config: Arc::new(sc),
            seeds: Rng::new(config.smb_seed),
            conns: BTreeMap::new(),
            dirty: BTreeSet::new(),
            opens: OpenTable::new(OpenLimits::default()),
            shares: infos,
            users,
            srvsvc_shares,
            next_token: 1,
            writing: BTreeMap::new(),
            write_queues: BTreeMap::new(),
            write_conns: BTreeMap::new(),
            held_acks: BTreeMap::new(),
            reconnecting: BTreeMap::new(),
            held_breaks: BTreeMap::new(),
            jobs: BTreeMap::new(),
            tickets: BTreeMap::new(),
            parked: BTreeMap::new(),
            dropped: BTreeSet::new(),
            next_lock_open: 1,
            durable: durable::DurableTable::default(),
            served: false,
            filetime: 0,
            nfs_changes: BTreeMap::new(),
        }
    }

    /// The wall clock, in Unix seconds.
    pub(crate) fn set_wall_clock(&mut self, unix_secs: u64) {
        self.filetime = proto_smb2::fscc::UNIX_EPOCH_FILETIME + unix_secs * FILETIME_PER_SEC;
    }

    pub(crate) fn is_smb(&self, conn: ConnId) -> bool {
        self.conns.contains_key(&conn)
    }

    pub(crate) fn wants_read(&self, conn: ConnId) -> bool {
        self.conns
            .get(&conn)
            .is_some_and(|c| c.machine.wants_read())
    }

    /// `Core::hand_over_at` of an SMB connection (`None`: not one).
    pub(crate) fn hand_over_at(&self, conn: ConnId, held: &[u8], max: usize) -> Option<usize> {
        let c = self.conns.get(&conn)?;
        Some(c.machine.hand_over_at(held, max))
    }

    pub(crate) fn has_partial_frame(&self, conn: ConnId) -> bool {
        self.conns
            .get(&conn)
            .is_some_and(|c| c.machine.has_partial_frame())
    }

    pub(crate) fn has_calls_in_progress(&self, conn: ConnId) -> bool {
        let mine = |p: &Pending| p.ctx.as_ref().is_some_and(|c| c.conn == conn);
        self.jobs.values().any(mine)
            || self.tickets.values().any(mine)
            || self.parked.values().any(mine)
    }

    /// When the durable-handle scavenger must run ([`durable`]).
    pub(crate) fn durable_deadline(&self) -> Option<Instant> {
        self.durable.deadline()
    }

    /// Opens in the open table (tests, logs).
    pub(crate) fn open_count(&self) -> usize {
        self.opens.len()
    }

    /// The credentials of `identity`'s file operations on `share` (the users file's uid,
    /// gid and groups; the share's anonymous ids for guests and users without their own;
    /// the share's squashing as for NFS).
    fn creds(&self, identity: &Identity, share_id: u32) -> Creds {
        let Some(s) = self.shares.get(&share_id) else {
            return Creds {
                uid: 65534,
                gid: 65534,
                gids: Vec::new(),
            };
        };
        let anon = Creds {
            uid: s.anon.0,
            gid: s.anon.1,
            gids: Vec::new(),
        };
        if identity.guest || s.all_squash {
            return anon;
        }
        let c = match self.users.lookup(&identity.user) {
            Some(u) => u.creds(s.anon.0, s.anon.1),
            None => Creds {
                uid: identity.uid,
                gid: identity.gid,
                gids: Vec::new(),
            },
        };
        if s.root_squash && c.uid == 0 {
            return anon;
        }
        c
    }
}

/// Times, sizes and attributes of a CREATE or CLOSE response, from `smb_info`'s one
/// POSIX-to-SMB view, so they agree with QUERY_INFO and QUERY_DIRECTORY.
fn times_sizes(v: &crate::smb_info::SmbView) -> (FileTimesAndSizes, u32) {
    (v.times_and_sizes(), v.query_attributes())
}

fn deny_status(d: &Deny) -> NtStatus {
    match d {
        Deny::SharingViolation(_) => NtStatus::SHARING_VIOLATION,
        Deny::Conflict(_) => STATUS_FILE_LOCK_CONFLICT,
        Deny::AccessDenied => NtStatus::ACCESS_DENIED,
        Deny::NoLocks => NtStatus::INSUFFICIENT_RESOURCES,
        Deny::GracePeriod | Deny::RetryLater => STATUS_FILE_NOT_AVAILABLE,
        Deny::Cancelled => NtStatus::CANCELLED,
        _ => NtStatus::INVALID_PARAMETER,
    }
}

fn body(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut v = Vec::new();
    f(&mut v);
    v
}

fn smb_file_id(volatile: u64) -> SmbFileId {
    SmbFileId {
        persistent: volatile,
        volatile,
    }
}

impl Core {
    // ---- connection events from the core's entry points ----

    /// An SMB connection was accepted.
    pub(crate) fn smb_conn_open(&mut self, conn: ConnId) {
        let seed: [u8; 32] = self.smb.seeds.bytes();
        let machine = Connection::new(Arc::clone(&self.smb.config), seed);
        self.smb.served = true;
        self.smb.conns.insert(
            conn,
            SmbConn {
                machine,
                held: false,
                needs: RecordSeq(0),
            },
        );
    }

    /// Bytes of an SMB connection.
    pub(crate) fn smb_bytes(&mut self, conn: ConnId, bytes: &[u8]) {
        let ft = self.smb.filetime;
        if let Some(c) = self.smb.conns.get_mut(&conn) {
            c.machine.handle_bytes(bytes, ft);
            self.smb.dirty.insert(conn);
        }
    }

    /// [`Core::smb_bytes`] handing the runtime's buffer over (no copy).
    pub(crate) fn smb_buf(&mut self, conn: ConnId, bytes: bytes::BytesMut) {
        let ft = self.smb.filetime;
        if let Some(c) = self.smb.conns.get_mut(&conn) {
            c.machine.handle_buf(bytes, ft);
            self.smb.dirty.insert(conn);
        }
    }

    /// An SMB connection is gone: its sessions end, its opens are closed.
    pub(crate) fn smb_conn_closed(&mut self, conn: ConnId, now: Instant) {
        let Some(mut c) = self.smb.conns.remove(&conn) else {
            return;
        };
        c.machine.handle_connection_lost();
        self.smb.dirty.remove(&conn);
        self.smb.held_acks.remove(&conn);
        self.smb.reconnecting.remove(&conn);
        self.smb.held_breaks.remove(&conn);
        let ids = self.smb.opens.ids_where(|o| o.conn == conn);
        // MS-SMB2 §3.3.7.1: durable opens outlive the connection.
        let ids = self.smb_durable_disconnect(ids, now);
        self.smb_close_opens(ids, now);
        // Requests waiting in the lock table leave it; job results are dropped on return.
        let tickets: Vec<Ticket> = self
            .smb
            .tickets
            .iter()
            .filter(|(_, p)| p.ctx.as_ref().is_some_and(|c| c.conn == conn))
            .map(|(t, _)| *t)
            .collect();
        for t in tickets {
            if !self.nlm.table.cancel(t, now) {
                // Not waiting any more: its completion is on the way.
                self.smb.dropped.insert(t);
            }
            self.smb.tickets.remove(&t);
        }
    }

    /// Drains every SMB connection that had input. Returns whether anything happened.
    pub(crate) fn smb_pump(&mut self, now: Instant) -> bool {
        let mut any = self.smb_lock_events(now);
        while let Some(conn) = self.smb.dirty.pop_first() {
            any = true;
            while let Some(ev) = self
                .smb
                .conns
                .get_mut(&conn)
                .and_then(|c| c.machine.poll_event())
            {
                self.smb_event(conn, ev, now);
            }
            let Some(c) = self.smb.conns.get_mut(&conn) else {
                continue;
            };
            let mut seals = Vec::new();
            while let Some(s) = c.machine.poll_seal() {
                seals.push((Work::Seal(Box::new(s)), Then::Sealed(conn)));
            }
            while let Some(u) = c.machine.poll_unseal() {
                seals.push((Work::Unseal(Box::new(u)), Then::Unsealed(conn)));
            }
            let mut out = Vec::new();
            while let Some(b) = c.machine.poll_transmit() {
                out.push(b);
            }
            let close = c.machine.poll_close();
            let needs = c.needs;
            // Draining the transmits may have let the machine take more frames: again.
            let more = c.machine.has_output();
            // Back-pressure lifted: a runtime that keeps its own read buffer is told to read
            // again (`Core::resume` does the same for RPC connections).
            if !c.machine.wants_read() {
                c.held = true;
            } else if std::mem::take(&mut c.held)
                && self.conns.get(&conn).is_some_and(|i| i.runtime_buffer)
            {
                self.resumed.push_back(conn);
            }
            if more {
                self.smb.dirty.insert(conn);
            }
            for (work, then) in seals {
                // No file system: the share id only picks a backend the job never uses.
                let pending = Pending { ctx: None, then };
                self.smb_job(u32::MAX, work, pending);
            }
            for b in out {
                self.transmits.push(
                    needs,
                    self.journal.durable,
                    self.journal.failed,
                    Transmit {
                        conn,
                        dest: None,
                        data: Segments::single(b),
                    },
                );
            }
            if let Some(reason) = close {
                tracing::warn!(conn = conn.0, peer = %self.peer_of(conn), %reason, "closing SMB connection");
                self.closes.push_back(conn);
            }
        }
        any
    }

    fn smb_event(&mut self, conn: ConnId, ev: Event, now: Instant) {
        match ev {
            Event::Call(call) => self.smb_call(conn, *call, now),
            Event::Cancel(id) => self.smb_cancel(conn, id, now),
            Event::SessionEstablished {
                session_id,
                identity,
                previous_session_id,
            } => {
                // Logged on: no logon deadline any more.
                self.logons.end(conn);
                // MS-SMB2 §3.3.5.5.3: the previous session of the same user ends, on
                // whatever connection it is; that connection's machine reports it closed
                // (SessionClosed), which closes its opens.
                if previous_session_id != 0 && previous_session_id != session_id {
                    let conns: Vec<ConnId> = self.smb.conns.keys().copied().collect();
                    for other in conns {
                        let ended = self.smb.conns.get_mut(&other).is_some_and(|c| {
                            c.machine
                                .end_previous_session(previous_session_id, &identity)
                        });
                        if ended {
                            self.smb.dirty.insert(other);
                        }
                    }
                }
            }
            Event::SessionLookup { session_id } => {
                // MS-SMB2 §3.3.5.5: the GlobalSessionTable is every connection's sessions.
                let bound = self
                    .smb
                    .conns
                    .iter()
                    .filter(|(id, _)| **id != conn)
                    .find_map(|(_, c)| c.machine.bound_session(session_id));
                if let Some(c) = self.smb.conns.get_mut(&conn) {
                    c.machine.handle_session_lookup(session_id, bound);
                    self.smb.dirty.insert(conn);
                }
            }
            Event::SessionClosed { session_id } => {
                // Waiting LOCKs end before their opens close (LOGOFF, MS-SMB2 §3.3.5.6; [`lock`]).
                self.smb_lock_cancel_where(|c| c.conn == conn && c.session == session_id, now);
                let ids = self
                    .smb
                    .opens
                    .ids_where(|o| o.conn == conn && o.session == session_id);
                // LOGOFF, or a new session naming this one as its previous session: durable
                // opens stay for a reconnect, as at a connection loss (smbtorture
                // durable-open.reopen1a and reopen4; Samba and Windows keep them).
                let ids = self.smb_durable_disconnect(ids, now);
                self.smb_close_opens(ids, now);
            }
            Event::TreeClosed {
                session_id,
                tree_id,
            } => {
                self.smb_lock_cancel_where(
                    |c| c.conn == conn && c.session == session_id && c.tree == tree_id,
                    now,
                );
                let ids = self
                    .smb
                    .opens
                    .ids_where(|o| o.conn == conn && o.session == session_id && o.tree == tree_id);
                // The trees of a session that ended (LOGOFF, a previous session): durable
                // opens stay, as at SessionClosed; a TREE_DISCONNECT closes them (smbtorture
                // durable-open.reopen3).
                let session_gone = self
                    .smb
                    .conns
                    .get(&conn)
                    .is_none_or(|c| !c.machine.has_session(session_id));
                let ids = if session_gone {
                    self.smb_durable_disconnect(ids, now)
                } else {
                    ids
                };
                self.smb_close_opens(ids, now);
            }
        }
    }

    fn smb_reply(&mut self, ctx: &Ctx, reply: Reply) {
        if let Some(c) = self.smb.conns.get_mut(&ctx.conn) {
            // An unknown call: the connection dropped it (closed meanwhile).
            let _ = c.machine.handle_reply(ctx.call, reply);
            self.smb.dirty.insert(ctx.conn);
        }
    }

    fn smb_error(&mut self, ctx: &Ctx, status: NtStatus) {
        tracing::debug!(
            conn = ctx.conn.0,
            call = ctx.call.0,
            ?status,
            "SMB request failed"
        );
        self.smb_reply(ctx, Reply::error(status));
    }

    fn smb_go_async(&mut self, ctx: &Ctx) {
        if let Some(c) = self.smb.conns.get_mut(&ctx.conn) {
            if let Err(e) = c.machine.go_async(ctx.call) {
                tracing::debug!(error = %e, "SMB request waits without an interim response");
            }
            self.smb.dirty.insert(ctx.conn);
        }
    }

    fn smb_cancel(&mut self, conn: ConnId, id: CallId, now: Instant) {
        if self.smb_lock_cancel(conn, id, now) {
            return;
        }
        let found = self
            .smb
            .tickets
            .iter()
            .find(|(_, p)| {
                p.ctx
                    .as_ref()
                    .is_some_and(|c| c.conn == conn && c.call == id)
            })
            .map(|(t, _)| *t);
        if let Some(t) = found {
            self.nlm.table.cancel(t, now);
            if let Some(p) = self.smb.tickets.remove(&t) {
                if let Some(ctx) = p.ctx {
                    self.smb_error(&ctx, NtStatus::CANCELLED);
                }
            }
        }
        // A waiting CHANGE_NOTIFY of this connection.
        let ids = self.smb.opens.ids_where(|o| {
            o.conn == conn
                && matches!(&o.kind, OpenKind::File(f)
                    if f.watch.as_ref().is_some_and(|w| w.waiting.iter().any(|(c, _)| *c == id)))
        });
        for oid in ids {
            if let Some(Open {
                kind: OpenKind::File(f),
                ..
            }) = self.smb.opens.by_id_mut(oid)
            {
                if let Some(w) = f.watch.as_mut() {
                    w.forget(id);
                }
            }
            if let Some(c) = self.smb.conns.get_mut(&conn) {
                let _ = c
                    .machine
                    .handle_reply(id, Reply::error(NtStatus::CANCELLED));
                self.smb.dirty.insert(conn);
            }
        }
        // Anything else is at the file system and answers soon (§3.3.5.16).
    }

    fn smb_job(&mut self, share_id: u32, work: Work, pending: Pending) {
        let token = self.smb.next_token;
        self.smb.next_token += 1;
        self.smb.jobs.insert(token, pending);
        let vfs = Arc::clone(self.shares.get(share_id));
        let file = match &work {
            Work::Write { handle, .. } => Some((share_id, handle.0.clone())),
            _ => None,
        };
        let job = Job::smb(token, vfs, work);
        // WRITEs to one file run one after the other, in the order they came. A local
        // file system serialises buffered writes to one file anyway (the inode lock); a
        // client's pipelined 8 MiB WRITEs on several workers at once only spun on that lock
        // and took the cores from the decryption of the WRITEs behind them.
        let Some(file) = file else {
            self.jobs.push_back(job);
            return;
        };
        if let Some(ctx) = self.smb.jobs.get(&token).and_then(|p| p.ctx.as_ref()) {
            self.smb.write_conns.insert(token, ctx.conn);
        }
        self.smb.writing.insert(token, file.clone());
        match self.smb.write_queues.entry(file) {
            btree_map::Entry::Occupied(mut q) => q.get_mut().push_back(job),
            btree_map::Entry::Vacant(v) => {
                v.insert(VecDeque::new());
                self.jobs.push_back(job);
            }
        }
    }

    /// A WRITE job ended: the next one of its file may run. Returns its connection (the
    /// acknowledgments held behind its WRITEs may go, [`Core::smb_acks_released`]).
    fn smb_write_done(&mut self, token: u64) -> Option<ConnId> {
        let file = self.smb.writing.remove(&token)?;
        let conn = self.smb.write_conns.remove(&token);
        if let btree_map::Entry::Occupied(mut q) = self.smb.write_queues.entry(file) {
            match q.get_mut().pop_front() {
                Some(next) => self.jobs.push_back(next),
                None => {
                    q.remove();
                }
            }
        }
        conn
    }

    // ---- requests ----

    fn smb_call(&mut self, conn: ConnId, call: Call, now: Instant) {
        let ctx = Ctx {
            conn,
            call: call.id,
            session: call.session_id,
            tree: call.tree_id,
            share_id: call.share.id,
        };
        let ipc = call.share.kind == ShareKind::Ipc;
        match call.request {
            Request::Create(req) if ipc => self.smb_create_pipe(&ctx, &req),
            Request::Create(req) => {
                let creds = self.smb.creds(&call.identity, ctx.share_id);
                let caller = durable::Caller::of(&call.identity, &call.header, call.dialect);
                self.smb_create(ctx, req, creds, &caller, now)
            }
            Request::Close(req) => self.smb_close(ctx, req.file_id, req.flags, now),
            Request::Flush(req) => {
                match self.smb_file(&ctx, req.file_id.volatile) {
                    Ok(f) => {
                        let handle = f.handle.clone();
                        self.smb_job(
                            ctx.share_id,
                            Work::Flush { handle },
                            Pending {
                                ctx: Some(ctx),
                                then: Then::Flush,
                            },
                        );
                    }
                    // A pipe has nothing to flush.
                    Err(NtStatus::INVALID_DEVICE_REQUEST) => {
                        self.smb_reply(&ctx, Reply::ok(body(|b| FlushResponse.encode(b))))
                    }
                    Err(s) => self.smb_error(&ctx, s),
                }
            }
            Request::Read(req) => self.smb_read(ctx, &req, now),
            Request::Write(req) => self.smb_write(ctx, &req, now),
            Request::Ioctl(req) => self.smb_ioctl(&ctx, &req),
            Request::ChangeNotify(req) => self.smb_change_notify(ctx, &req),
            Request::OplockBreak(req) => self.smb_ack_or_hold(ctx, req, now),
            Request::Lock(req) => self.smb_lock(ctx, &req, call.dialect, now),
            Request::QueryInfo(req) => self.smb_query_info(ctx, req, call.dialect),
            Request::SetInfo(req) => {
                let creds = self.smb.creds(&call.identity, ctx.share_id);
                self.smb_set_info(ctx, req, call.dialect, creds)
            }
            Request::QueryDirectory(req) => self.smb_query_directory(ctx, req),
            // The machine answers the rest itself.
            _ => self.smb_error(&ctx, NtStatus::NOT_SUPPORTED),
        }
    }

    /// The file open `volatile` of this session and tree (STATUS_FILE_CLOSED if none,
    /// INVALID_DEVICE_REQUEST for a pipe).
    fn smb_file(&mut self, ctx: &Ctx, volatile: u64) -> Result<&mut FileOpen, NtStatus> {
        match self
            .smb
            .opens
            .get_mut(volatile, ctx.conn, ctx.session, ctx.tree)
        {
            None => Err(NtStatus::FILE_CLOSED),
            Some(Open {
                kind: OpenKind::File(f),
                ..
            }) => Ok(f),
            Some(_) => Err(NtStatus::INVALID_DEVICE_REQUEST),
        }
    }

    fn smb_pipe(&mut self, ctx: &Ctx, volatile: u64) -> Option<&mut SrvsvcPipe> {
        match self
            .smb
            .opens
            .get_mut(volatile, ctx.conn, ctx.session, ctx.tree)
        {
            Some(Open {
                kind: OpenKind::Pipe(p),
                ..
            }) => Some(p),
            _ => None,
        }
    }

    fn smb_create_pipe(&mut self, ctx: &Ctx, req: &CreateRequest) {
        let name = req.name_string();
        let name = name.trim_start_matches('\\');
        if !eq_ignore_case(name, "srvsvc") {
            return self.smb_error(ctx, NtStatus::OBJECT_NAME_NOT_FOUND);
        }
        if !self.smb.opens.has_room(ctx.conn, ctx.session) {
            return self.smb_error(ctx, NtStatus::INSUFFICIENT_RESOURCES);
        }
        let assoc = (self.smb.next_token as u32) | 0x1000;
        let pipe = SrvsvcPipe::new(self.smb.srvsvc_shares.clone(), assoc);
        let id = self.smb.opens.insert(Open {
            conn: ctx.conn,
            session: ctx.session,
            tree: ctx.tree,
            share_id: ctx.share_id,
            kind: OpenKind::Pipe(Box::new(pipe)),
        });
        let resp = CreateResponse {
            oplock_level: 0,
            flags: 0,
            create_action: exec::action::OPENED,
            info: FileTimesAndSizes {
                allocation_size: 4096,
                ..FileTimesAndSizes::default()
            },
            file_attributes: attributes::NORMAL,
            file_id: smb_file_id(id),
            contexts: Vec::new(),
        };
        self.smb_reply(ctx, Reply::ok(body(|b| resp.encode(b))));
    }

    /// CREATE on a disk share: the checks of MS-SMB2 §3.3.5.9 that need no file system,
    /// then the job.
    fn smb_create(
        &mut self,
        ctx: Ctx,
        req: CreateRequest,
        creds: Creds,
        caller: &durable::Caller,
        now: Instant,
    ) {
        use exec::disposition as d;
        let o = req.create_options;
        let status = if req.impersonation_level > 3 {
            Some(STATUS_BAD_IMPERSONATION_LEVEL)
        } else if o & options::RESERVED_MASK != 0
            || req.create_disposition > d::OVERWRITE_IF
            || (o & options::DIRECTORY_FILE != 0 && o & options::NON_DIRECTORY_FILE != 0)
            || (o & options::DIRECTORY_FILE != 0
                && !matches!(req.create_disposition, d::CREATE | d::OPEN | d::OPEN_IF))
        {
            Some(NtStatus::INVALID_PARAMETER)
        } else if req.file_attributes & !attributes::VALID_MASK != 0 {
            // MS-FSA 2.1.5.1: attributes outside those MS-FSCC §2.6 defines.
            Some(NtStatus::INVALID_PARAMETER)
        } else if o
            & (options::OPEN_BY_FILE_ID
                | options::RESERVE_OPFILTER
                | options::CREATE_TREE_CONNECTION)
            != 0
        {
            Some(NtStatus::NOT_SUPPORTED)
        } else if o & options::DELETE_ON_CLOSE != 0
            && crate::smb_access::map_generic(req.desired_access)
                & (DELETE | crate::smb_access::MAXIMUM_ALLOWED)
                == 0
        {
            // §3.3.5.9: DELETE_ON_CLOSE needs DELETE in DesiredAccess.
            Some(NtStatus::ACCESS_DENIED)
        } else {
            None
        };
        let (mut mxac, mut qfid, mut allocation) = (false, false, None);
        let mut parsed = Vec::with_capacity(req.contexts.len());
        // The first context error, answered after the checks above (their order).
        let mut context_error = None;
        for c in &req.contexts {
            match RequestContext::parse(c) {
                Err(_) => {
                    context_error.get_or_insert(NtStatus::INVALID_PARAMETER);
                }
                Ok(RequestContext::QueryMaximalAccess { .. }) => mxac = true,
                Ok(RequestContext::QueryOnDiskId) => qfid = true,
                // §3.3.5.9.4 / MS-FSA 2.1.5.1.2.1: the allocation of a new or overwritten
                // file ([`exec::CreateWork::allocation`]).
                Ok(RequestContext::AllocationSize(n)) => allocation = Some(n),
                // §3.3.5.9.6: no previous version at any time (no snapshots).
                Ok(RequestContext::TimewarpToken(_)) => {
                    context_error.get_or_insert(NtStatus::OBJECT_NAME_NOT_FOUND);
                }
                // Durable handles and leases are read below; ExtA and SecD are not
                // applied.
                Ok(other) => parsed.push(other),
            }
        }
        let ask = durable::ask_of(&parsed, caller.dialect);
        if let (None, Ok(ask @ durable::Ask::Reconnect { .. })) = (context_error, ask) {
            // §3.3.5.9.7/.12: a reconnect does no "Path Name Validation" or "Open
            // Execution": the other fields of the request are ignored (smbtorture
            // durable-open.reopen2 sends nonsense in them).
            return self.smb_durable_reconnect(ctx, &req, &parsed, ask, caller, now);
        }
        if let Some(s) = status.or(context_error) {
            return self.smb_error(&ctx, s);
        }
        let ask = match ask {
            Ok(a) => a,
            Err(s) => return self.smb_error(&ctx, s),
        };
        match self.smb_durable_replay(&ctx, ask, caller) {
            Some(Ok(())) => return,
            Some(Err(s)) => return self.smb_error(&ctx, s),
            None => {}
        }
        let lease = parsed.iter().find_map(|c| match c {
            RequestContext::Lease(l) => Some(*l),
            _ => None,
        });
        tracing::debug!(
            name = %req.name_string(),
            access = format_args!("{:#x}", req.desired_access),
            share_access = req.share_access,
            disposition = req.create_disposition,
            options = format_args!("{:#x}", o),
            attributes = format_args!("{:#x}", req.file_attributes),
            "SMB CREATE"
        );
        let path = match parse_create_path(&req.name) {
            Ok(p) => p,
            Err(s) => return self.smb_error(&ctx, s),
        };
        let Some(share) = self.smb.shares.get(&ctx.share_id) else {
            return self.smb_error(&ctx, NtStatus::NETWORK_NAME_DELETED);
        };
        if !self.smb.opens.has_room(ctx.conn, ctx.session) {
            return self.smb_error(&ctx, NtStatus::INSUFFICIENT_RESOURCES);
        }
        let work = exec::CreateWork {
            components: path.components.clone(),
            trailing_separator: path.trailing_separator,
            disposition: req.create_disposition,
            options: o,
            desired: req.desired_access,
            creds,
            read_only: share.read_only,
            case_insensitive: share.case_insensitive,
            file_attributes: req.file_attributes,
            allocation,
        };
        let state = CreateState {
            share_access: req.share_access & 7,
            options: o,
            mxac,
            qfid,
            path: path.clone(),
            file_attributes: req.file_attributes,
            allocation,
            found: None,
            file: FileId(0),
            lock_open: OpenId(0),
            durable: ask,
            user: caller.user.clone(),
            name: req.name_string(),
            requested_oplock: req.requested_oplock_level,
            lease,
            ask: lease::CacheAsk::NONE,
            grant: None,
            waited: false,
        };
        let share_id = ctx.share_id;
        self.smb_job(
            share_id,
            Work::Create(work),
            Pending {
                ctx: Some(ctx),
                then: Then::Create(Box::new(state)),
            },
        );
    }

    /// The file-system part of a CREATE came back: delete pending, then share modes.
    fn smb_create_found(
        &mut self,
        ctx: Ctx,
        mut st: Box<CreateState>,
        found: Box<exec::Found>,
        now: Instant,
    ) {
        let file = file_id(ctx.share_id, &found.handle.0);
        if self.smb.opens.delete_pending(file) {
            return self.smb_error(&ctx, NtStatus::DELETE_PENDING);
        }
        if st.options & options::DELETE_ON_CLOSE != 0 && found.granted & DELETE == 0 {
            return self.smb_error(&ctx, NtStatus::ACCESS_DENIED);
        }
        if !self.smb.opens.has_room(ctx.conn, ctx.session) {
            return self.smb_error(&ctx, NtStatus::INSUFFICIENT_RESOURCES);
        }
        let lock_open = OpenId(self.smb.next_lock_open);
        self.smb.next_lock_open += 1;
        let client = self.smb_client_guid(ctx.conn);
        let mut create = SmbCreate::new(file, lock_open, client, found.granted, st.share_access);
        create.overwrite = found.overwrite;
        create.directory = found.attr.kind == FileKind::Directory;
        let (conn_dialect, caps) = self
            .smb
            .conns
            .get(&ctx.conn)
            .map(|c| {
                (
                    c.machine.dialect().unwrap_or(0),
                    c.machine.server_capabilities().unwrap_or(0),
                )
            })
            .unwrap_or((0, 0));
        let dir_leasing = caps & proto_smb2::cmd::negotiate::capabilities::DIRECTORY_LEASING != 0;
        st.ask = lease::cache_ask(
            st.requested_oplock,
            st.lease,
            conn_dialect,
            create.directory,
            dir_leasing,
        );
        create.cache = st.ask.cache;
        create.lease_epoch = st.ask.lease.map_or(0, |l| l.epoch);
        create.allocation_size = found.attr.size;
        let parent = found
            .parent
            .as_ref()
            .map(|(h, _)| file_id(ctx.share_id, &h.0));
        st.file = file;
        st.lock_open = lock_open;
        st.found = Some(found);
        let pending = Pending {
            ctx: Some(ctx.clone()),
            then: Then::Create(st),
        };
        match self.smb_submit(SmbRequest::Create { create, parent }, now) {
            SmbSubmit::Done(out) => self.smb_decided(pending, out, now),
            SmbSubmit::Parked(id) => {
                self.smb.parked.insert(id, pending);
            }
        }
    }

    /// A lock-table decision for `p`.
    fn smb_decided(&mut self, p: Pending, out: Outcome, now: Instant) {
        let mut p = match p {
            Pending {
                ctx: Some(ctx),
                then: Then::Lock(call),
            } => return self.smb_lock_decided(ctx, call, out, now),
            p => p,
        };
        if let (Outcome::Opened(g), Then::Create(st)) = (&out, &mut p.then) {
            st.grant = Some(*g);
        }
        match out {
            Outcome::Wait(w) => {
                if let Some(ctx) = &p.ctx {
                    let ctx = ctx.clone();
                    self.smb_go_async(&ctx);
                }
                let mut p = p;
                if let Then::Create(st) = &mut p.then {
                    st.waited = true;
                }
                self.smb.tickets.insert(w.ticket, p);
            }
            Outcome::Deny(d) => {
                if let Some(ctx) = &p.ctx {
                    let ctx = ctx.clone();
                    self.smb_error(&ctx, deny_status(&d));
                }
            }
            Outcome::Proceed | Outcome::Opened(_) => match p.then {
                Then::Create(mut st) => {
                    if let Outcome::Opened(g) = out {
                        st.grant = Some(g);
                    }
                    if let Some(ctx) = p.ctx {
                        self.smb_opened(ctx, st, now);
                    }
                }
                Then::Disposition(file, delete) => {
                    self.smb.opens.set_delete_pending(file, delete);
                    if let Some(ctx) = p.ctx {
                        self.smb_reply(&ctx, set_info_ok());
                    }
                }
                Then::Rename(work, volatile) => {
                    if let Some(ctx) = p.ctx {
                        let old = self
                            .smb_file(&ctx, volatile)
                            .ok()
                            .and_then(|f| Removed::of(ctx.share_id, f));
                        let target = match &*work {
                            Work::Rename { target, .. } => target.clone(),
                            _ => SharePath::default(),
                        };
                        let share_id = ctx.share_id;
                        self.smb_job(
                            share_id,
                            *work,
                            Pending {
                                ctx: Some(ctx),
                                then: Then::Renamed(volatile, target, old),
                            },
                        );
                    }
                }
                Then::SetSize(work, volatile, mask) => {
                    if let Some(ctx) = p.ctx {
                        let share_id = ctx.share_id;
                        self.smb_job(
                            share_id,
                            *work,
                            Pending {
                                ctx: Some(ctx),
                                then: Then::SetInfo(volatile, mask),
                            },
                        );
                    }
                }
                Then::Io(work, read, volatile, offset) => {
                    if let Some(ctx) = p.ctx {
                        let share_id = ctx.share_id;
                        let then = if read {
                            Then::Read(volatile, offset)
                        } else {
                            Then::Write(volatile, offset)
                        };
                        self.smb_job(
                            share_id,
                            *work,
                            Pending {
                                ctx: Some(ctx),
                                then,
                            },
                        );
                    }
                }
                other => tracing::debug!(?other, "lock-table decision for nothing waiting"),
            },
        }
    }

    /// The share modes allowed the open: it enters the open table; an overwrite truncates.
    fn smb_opened(&mut self, ctx: Ctx, st: Box<CreateState>, now: Instant) {
        let Some(found) = st.found.as_ref() else {
            return;
        };
        let tree_alive = self
            .smb
            .conns
            .get(&ctx.conn)
            .is_some_and(|c| c.machine.has_tree(ctx.session, ctx.tree));
        if !tree_alive {
            // The connection, session or tree ended while the CREATE was at a worker or in
            // the lock table: release at once (nobody could use or close the open).
            self.smb_submit(SmbRequest::Close { open: st.lock_open }, now);
            return;
        }
        let f = FileOpen {
            handle: found.handle.clone(),
            file: st.file,
            lock_open: st.lock_open,
            access: found.granted,
            share_access: st.share_access,
            parent: found.parent.as_ref().map(|(h, _)| h.clone()),
            name: found.name.clone(),
            path: st.path.clone(),
            is_dir: found.attr.kind == FileKind::Directory,
            delete_on_close: st.options & options::DELETE_ON_CLOSE != 0,
            write_through: st.options & options::WRITE_THROUGH != 0,
            position: 0,
            options: st.options,
            search: None,
            searching: false,
            watch: None,
            changed_at_close: 0,
            parent_lease: st.ask.parent_key(self.smb_client_guid(ctx.conn)),
            lock_sequences: lock::LockSequences::default(),
        };
        if found.action == exec::action::CREATED {
            if let Some((parent, _)) = &found.parent {
                let dir = file_id(ctx.share_id, &parent.0);
                self.smb_parent_changed(dir, f.parent_lease);
                let change = notify::Change {
                    action: notify::action::ADDED,
                    name: String::from_utf8_lossy(&found.name).into_owned(),
                    is_dir: f.is_dir,
                    mask: 0,
                };
                let at = Some((ctx.share_id, parent_components(&st.path)));
                self.smb_dir_changed(dir, at, &[change]);
            }
        }
        let id = self.smb.opens.insert(Open {
            conn: ctx.conn,
            session: ctx.session,
            tree: ctx.tree,
            share_id: ctx.share_id,
            kind: OpenKind::File(Box::new(f)),
        });
        if found.overwrite {
            let handle = found.handle.clone();
            let share_id = ctx.share_id;
            self.smb_job(
                share_id,
                Work::Truncate {
                    handle,
                    name: found.name.clone(),
                    attributes: st.file_attributes,
                    allocation: st.allocation,
                },
                Pending {
                    ctx: Some(ctx),
                    then: Then::Overwrite(st, id),
                },
            );
        } else if st.waited {
            // Read the attributes again: a client whose lease or oplock was broken for this
            // CREATE flushed its cached writes before it acknowledged.
            let work = Work::View {
                handle: found.handle.clone(),
                name: found.name.clone(),
            };
            let share_id = ctx.share_id;
            self.smb_job(
                share_id,
                work,
                Pending {
                    ctx: Some(ctx),
                    then: Then::Overwrite(st, id),
                },
            );
        } else {
            let view = found.view;
            self.smb_create_reply(&ctx, &st, id, &view);
        }
    }

    /// A break acknowledgment (OPLOCK_BREAK) waits for the WRITEs its connection sent
    /// before it: a client flushes its cached writes and then acknowledges (MS-SMB2
    /// §3.2.5.19), and the operation that waits for the acknowledgment must see those
    /// writes. WRITE jobs run on workers, the acknowledgment would otherwise overtake them.
    /// Only the WRITEs in flight when it arrived hold it (not later ones: a client that
    /// keeps writing must not starve its own acknowledgment), and acknowledgments stay in
    /// their order.
    fn smb_ack_or_hold(&mut self, ctx: Ctx, req: proto_smb2::cmd::OplockBreak, now: Instant) {
        let before: BTreeSet<u64> = self
            .smb
            .write_conns
            .iter()
            .filter(|(_, c)| **c == ctx.conn)
            .map(|(t, _)| *t)
            .collect();
        if before.is_empty() && !self.smb.held_acks.contains_key(&ctx.conn) {
            return self.smb_oplock_break(&ctx, req, now);
        }
        self.smb
            .held_acks
            .entry(ctx.conn)
            .or_default()
            .push_back(HeldAck { before, ctx, req });
    }

    /// The WRITE `token` of `conn` is done: the acknowledgments at the front of the
    /// connection's queue that waited for nothing else are processed.
    fn smb_acks_released(&mut self, conn: ConnId, token: u64, now: Instant) {
        let Some(q) = self.smb.held_acks.get_mut(&conn) else {
            return;
        };
        for h in q.iter_mut() {
            h.before.remove(&token);
        }
        let mut ready = Vec::new();
        while q.front().is_some_and(|h| h.before.is_empty()) {
            ready.extend(q.pop_front());
        }
        if q.is_empty() {
            self.smb.held_acks.remove(&conn);
        }
        for h in ready {
            self.smb_oplock_break(&h.ctx, h.req, now);
        }
    }

    fn smb_create_reply(
        &mut self,
        ctx: &Ctx,
        st: &CreateState,
        id: u64,
        view: &crate::smb_info::SmbView,
    ) {
        let Some(found) = st.found.as_ref() else {
            return;
        };
        let (info, file_attributes) = times_sizes(view);
        let mut contexts = Vec::new();
        if st.mxac {
            contexts.push(
                ResponseContext::MaximalAccess {
                    query_status: 0,
                    maximal_access: found.maximal,
                }
                .to_context(),
            );
        }
        if st.qfid {
            contexts.push(
                ResponseContext::OnDiskId {
                    disk_file_id: found.attr.fileid,
                    volume_id: found.attr.fsid,
                }
                .to_context(),
            );
        }
        let (oplock_level, lease_ctx) = lease::create_answer(&st.ask, st.grant.as_ref());
        contexts.extend(lease_ctx.map(|c| c.to_context()));
        let now = self.now;
        let lease_key = st
            .grant
            .and_then(|g| g.lease)
            .and(st.ask.lease)
            .map(|l| l.key);
        if let Some(c) =
            self.smb_durable_grant(ctx, st.durable, &st.user, &st.name, lease_key, id, now)
        {
            contexts.push(c.to_context());
        }
        let resp = CreateResponse {
            oplock_level,
            flags: 0,
            create_action: found.action,
            info,
            file_attributes,
            file_id: smb_file_id(id),
            contexts,
        };
        self.smb_reply(ctx, Reply::ok(body(|b| resp.encode(b))));
    }

    fn smb_close(&mut self, ctx: Ctx, fid: SmbFileId, flags: u16, now: Instant) {
        if self
            .smb
            .opens
            .get_mut(fid.volatile, ctx.conn, ctx.session, ctx.tree)
            .is_none()
        {
            return self.smb_error(&ctx, NtStatus::FILE_CLOSED);
        }
        let postquery = flags & CLOSE_FLAG_POSTQUERY_ATTRIB != 0;
        self.smb_durable_forget(fid.volatile);
        let Some((open, remove)) = self.smb.opens.remove(fid.volatile) else {
            return self.smb_error(&ctx, NtStatus::FILE_CLOSED);
        };
        let OpenKind::File(f) = open.kind else {
            return self.smb_reply(
                &ctx,
                Reply::ok(body(|b| CloseResponse::default().encode(b))),
            );
        };
        for (call, _) in f.watch.iter().flat_map(|w| w.waiting.iter()) {
            // A pending CHANGE_NOTIFY of the open completes with STATUS_NOTIFY_CLEANUP
            // (MS-FSA 2.1.5.4, cleanup of the open).
            let c = Ctx {
                call: *call,
                ..ctx.clone()
            };
            self.smb_reply(&c, Reply::error(notify::STATUS_NOTIFY_CLEANUP));
        }
        let removed = if remove {
            Removed::of(ctx.share_id, &f)
        } else {
            self.smb_notify_closed(ctx.share_id, &f);
            None
        };
        self.smb_submit(SmbRequest::Close { open: f.lock_open }, now);
        let work = exec::Work::Close {
            handle: f.handle.clone(),
            name: f.name.clone(),
            postquery,
            remove: remove_of(&f, remove),
        };
        if !postquery && !remove {
            return self.smb_reply(
                &ctx,
                Reply::ok(body(|b| CloseResponse::default().encode(b))),
            );
        }
        let share_id = ctx.share_id;
        self.smb_job(
            share_id,
            work,
            Pending {
                ctx: Some(ctx),
                then: Then::Close { postquery, removed },
            },
        );
    }

    /// Closes opens whose tree, session or connection ended (no answers).
    fn smb_close_opens(&mut self, ids: Vec<u64>, now: Instant) {
        for id in ids {
            self.smb_durable_forget(id);
            let Some((open, remove)) = self.smb.opens.remove(id) else {
                continue;
            };
            if let OpenKind::File(f) = open.kind {
                for (call, _) in f.watch.iter().flat_map(|w| w.waiting.iter()) {
                    // Closing the open at TREE_DISCONNECT / LOGOFF completes its pending
                    // CHANGE_NOTIFY with STATUS_NOTIFY_CLEANUP, as CLOSE does (MS-FSA
                    // 2.1.5.4; smbtorture smb2.notify.tdis1 and ulogoff wait for it).
                    let c = Ctx {
                        conn: open.conn,
                        call: *call,
                        session: open.session,
                        tree: open.tree,
                        share_id: open.share_id,
                    };
                    self.smb_reply(&c, Reply::error(notify::STATUS_NOTIFY_CLEANUP));
                }
                self.smb_submit(SmbRequest::Close { open: f.lock_open }, now);
                if !remove {
                    self.smb_notify_closed(open.share_id, &f);
                }
                if remove {
                    self.smb_job(
                        open.share_id,
                        Work::Close {
                            handle: f.handle.clone(),
                            name: f.name.clone(),
                            postquery: false,
                            remove: remove_of(&f, true),
                        },
                        Pending {
                            ctx: None,
                            then: Then::Background(Removed::of(open.share_id, &f)),
                        },
                    );
                }
            }
        }
    }

    fn smb_read(&mut self, ctx: Ctx, req: &proto_smb2::cmd::ReadRequest, now: Instant) {
        if let Some(p) = self.smb_pipe(&ctx, req.file_id.volatile) {
            let r = p.read(req.length as usize);
            let status = if r.more {
                NtStatus::BUFFER_OVERFLOW
            } else {
                NtStatus::SUCCESS
            };
            let resp = ReadResponse {
                data_remaining: 0,
                flags: 0,
                data: r.data.into(),
            };
            let reply = if resp.data.is_empty() {
                // Nothing written to the pipe to answer yet.
                Reply::error(NtStatus::PIPE_BROKEN)
            } else {
                Reply::Body {
                    status,
                    body: body(|b| resp.encode(b)),
                }
            };
            return self.smb_reply(&ctx, reply);
        }
        let max = self.smb.config.max_read_size;
        let f = match self.smb_file(&ctx, req.file_id.volatile) {
            Ok(f) => f,
            Err(s) => return self.smb_error(&ctx, s),
        };
        let status = if f.is_dir {
            Some(NtStatus::INVALID_DEVICE_REQUEST)
        } else if f.access & (FILE_READ_DATA | FILE_EXECUTE) == 0 {
            Some(NtStatus::ACCESS_DENIED)
        } else if req.length > max || beyond_max_offset(req.offset, u64::from(req.length)) {
            Some(NtStatus::INVALID_PARAMETER)
        } else {
            None
        };
        if let Some(s) = status {
            return self.smb_error(&ctx, s);
        }
        let (open, handle) = (f.lock_open, f.handle.clone());
        // A READ of zero bytes reads nothing a lock protects: it succeeds on a locked range
        // (smbtorture smb2.lock.zerobyteread; Windows and Samba).
        let out = if req.length == 0 {
            Outcome::Proceed
        } else {
            self.nlm
                .table
                .smb_read(open, req.offset, u64::from(req.length), now)
        };
        let work = Work::Read {
            handle,
            offset: req.offset,
            len: req.length,
            min: req.minimum_count,
        };
        let pos = (req.file_id.volatile, req.offset);
        self.smb_io(ctx, work, true, pos, out, now);
    }

    fn smb_write(&mut self, ctx: Ctx, req: &proto_smb2::cmd::WriteRequest, now: Instant) {
        if let Some(p) = self.smb_pipe(&ctx, req.file_id.volatile) {
            let reply = match p.write(&req.data) {
                Ok(()) => Reply::ok(body(|b| {
                    WriteResponse {
                        count: req.data.len() as u32,
                        remaining: 0,
                    }
                    .encode(b)
                })),
                Err(e) => Reply::error(e.status()),
            };
            return self.smb_reply(&ctx, reply);
        }
        let f = match self.smb_file(&ctx, req.file_id.volatile) {
            Ok(f) => f,
            Err(s) => return self.smb_error(&ctx, s),
        };
        let status = if f.is_dir {
            Some(NtStatus::INVALID_DEVICE_REQUEST)
        } else if f.access & (FILE_WRITE_DATA | FILE_APPEND_DATA) == 0 {
            // A read-only share never grants these (`smb_access::maximal_access`).
            Some(NtStatus::ACCESS_DENIED)
        } else if beyond_max_offset(req.offset, req.data.len() as u64)
            || (!req.data.is_empty() && req.offset + req.data.len() as u64 > MAX_FILE_SIZE)
        {
            Some(NtStatus::INVALID_PARAMETER)
        } else {
            None
        };
        if let Some(s) = status {
            return self.smb_error(&ctx, s);
        }
        if req.data.is_empty() {
            // Nothing to write (MS-FSA 2.1.5.4: a zero-length write changes nothing).
            let resp = WriteResponse {
                count: 0,
                remaining: 0,
            };
            return self.smb_reply(&ctx, Reply::ok(body(|b| resp.encode(b))));
        }
        let through = f.write_through
            || req.flags & proto_smb2::cmd::read_write::write_flags::WRITE_THROUGH != 0;
        let (open, handle) = (f.lock_open, f.handle.clone());
        let out = self
            .nlm
            .table
            .smb_write(open, req.offset, req.data.len() as u64, now);
        let work = Work::Write {
            handle,
            offset: req.offset,
            data: req.data.clone(),
            through,
        };
        let pos = (req.file_id.volatile, req.offset);
        self.smb_io(ctx, work, false, pos, out, now);
    }

    /// READ or WRITE after the lock table's byte-range answer.
    fn smb_io(
        &mut self,
        ctx: Ctx,
        work: Work,
        read: bool,
        (volatile, offset): (u64, u64),
        out: Outcome,
        now: Instant,
    ) {
        self.smb_decided(
            Pending {
                ctx: Some(ctx),
                then: Then::Io(Box::new(work), read, volatile, offset),
            },
            out,
            now,
        );
    }

    /// What an open shows QUERY_INFO and SET_INFO (`crate::smb_info::OpenView`).
    fn smb_open_view(
        &mut self,
        ctx: &Ctx,
        volatile: u64,
        dialect: u16,
    ) -> Result<(Handle, OpenView), NtStatus> {
        let read_only = self
            .smb
            .shares
            .get(&ctx.share_id)
            .is_some_and(|s| s.read_only);
        let f = self.smb_file(ctx, volatile)?;
        let (handle, file) = (f.handle.clone(), f.file);
        let mut view = OpenView {
            path: f.path.clone(),
            granted_access: f.access,
            position: f.position,
            mode: f.options & (file_mode::SETTABLE | file_mode::DELETE_ON_CLOSE),
            delete_pending: false,
            is_dir: f.is_dir,
            read_only,
            dialect,
        };
        view.delete_pending = self.smb.opens.delete_pending(file);
        Ok((handle, view))
    }

    fn smb_query_info(&mut self, ctx: Ctx, req: QueryInfoRequest, dialect: u16) {
        if req.output_buffer_length > self.smb.config.max_transact_size {
            return self.smb_error(&ctx, NtStatus::INVALID_PARAMETER);
        }
        let (handle, open) = match self.smb_open_view(&ctx, req.file_id.volatile, dialect) {
            Ok(v) => v,
            // Named pipes answer no information class here.
            Err(s) => return self.smb_error(&ctx, s),
        };
        // The volume's serial, object id and creation time come from the share's name and
        // root (`VolumeView::for_share`, in the job: only file-system classes need them).
        let vol = match self.smb.shares.get(&ctx.share_id) {
            Some(s) => VolumeView {
                label: s.name.clone(),
                read_only: s.read_only,
                ..VolumeView::default()
            },
            None => return self.smb_error(&ctx, NtStatus::NETWORK_NAME_DELETED),
        };
        let share_id = ctx.share_id;
        self.smb_job(
            share_id,
            Work::QueryInfo {
                handle,
                open: Box::new(open),
                vol: Box::new(vol),
                req: Box::new(req),
            },
            Pending {
                ctx: Some(ctx),
                then: Then::QueryInfo,
            },
        );
    }

    fn smb_query_directory(&mut self, ctx: Ctx, req: QueryDirectoryRequest) {
        if req.output_buffer_length > self.smb.config.max_transact_size {
            return self.smb_error(&ctx, NtStatus::INVALID_PARAMETER);
        }
        let case_insensitive = self
            .smb
            .shares
            .get(&ctx.share_id)
            .is_none_or(|s| s.case_insensitive);
        let volatile = req.file_id.volatile;
        let f = match self.smb_file(&ctx, volatile) {
            Ok(f) => f,
            Err(NtStatus::INVALID_DEVICE_REQUEST) => {
                return self.smb_error(&ctx, NtStatus::INVALID_PARAMETER)
            }
            Err(s) => return self.smb_error(&ctx, s),
        };
        if !f.is_dir {
            return self.smb_error(&ctx, NtStatus::INVALID_PARAMETER);
        }
        if f.searching {
            // One query of a search at a time (clients wait for each answer); a second
            // one while the first is at a worker is refused rather than queued.
            return self.smb_error(&ctx, NtStatus::INSUFFICIENT_RESOURCES);
        }
        let access = f.access;
        let search = f
            .search
            .take()
            .unwrap_or_else(|| Box::new(crate::smb_dir::DirSearch::new(access)));
        f.searching = true;
        let handle = f.handle.clone();
        let share_id = ctx.share_id;
        self.smb_job(
            share_id,
            Work::QueryDirectory {
                handle,
                search,
                req: Box::new(req),
                case_insensitive,
            },
            Pending {
                ctx: Some(ctx),
                then: Then::QueryDirectory(volatile),
            },
        );
    }

    /// CHANGE_NOTIFY (MS-SMB2 §3.3.5.19; see [`notify`]).
    fn smb_change_notify(&mut self, ctx: Ctx, req: &proto_smb2::cmd::ChangeNotifyRequest) {
        if req.output_buffer_length > self.smb.config.max_transact_size {
            return self.smb_error(&ctx, NtStatus::INVALID_PARAMETER);
        }
        let volatile = req.file_id.volatile;
        match self.smb_file(&ctx, volatile) {
            Ok(f) if !f.is_dir => return self.smb_error(&ctx, NtStatus::INVALID_PARAMETER),
            Ok(f) if f.access & crate::smb_access::FILE_LIST_DIRECTORY == 0 => {
                return self.smb_error(&ctx, NtStatus::ACCESS_DENIED)
            }
            Ok(f)
                if f.watch
                    .as_ref()
                    .is_some_and(|w| w.waiting.len() >= notify::MAX_WAITING) =>
            {
                return self.smb_error(&ctx, NtStatus::INSUFFICIENT_RESOURCES)
            }
            Ok(_) => {}
            Err(NtStatus::INVALID_DEVICE_REQUEST) => {
                return self.smb_error(&ctx, NtStatus::INVALID_PARAMETER)
            }
            Err(s) => return self.smb_error(&ctx, s),
        }
        // A directory that is to be deleted reports nothing more (MS-FSA 2.1.5.10).
        if let Ok(f) = self.smb_file(&ctx, volatile) {
            let file = f.file;
            if self.smb.opens.delete_pending(file) {
                return self.smb_error(&ctx, NtStatus::DELETE_PENDING);
            }
        }
        let Some(w) = self.smb.opens.start_watch(
            volatile,
            req.completion_filter,
            req.flags,
            req.output_buffer_length,
        ) else {
            return self.smb_error(&ctx, NtStatus::FILE_CLOSED);
        };
        // Changes are only kept while nothing waits (a change answers the oldest waiting
        // request at once), so a request finding some is the only one.
        if w.ready() {
            let (status, data) = w.take(req.output_buffer_length);
            return self.smb_notify_reply(&ctx, status, data);
        }
        w.waiting.push_back((ctx.call, req.output_buffer_length));
        let refused = self
            .smb
            .conns
            .get_mut(&ctx.conn)
            .map(|c| c.machine.go_async(ctx.call));
        self.smb.dirty.insert(ctx.conn);
        let status = match refused {
            // Bounded: the connection has its most async operations waiting.
            Some(Err(proto_smb2::server::AsyncError::TooMany)) => NtStatus::INSUFFICIENT_RESOURCES,
            // Not the last of a compound chain: it cannot wait without holding the answers
            // after it; Windows and Samba fail it with STATUS_INTERNAL_ERROR (MS-SMB2 <159>,
            // smbtorture smb2.compound.interim2).
            Some(Err(proto_smb2::server::AsyncError::NotLastInChain)) => STATUS_INTERNAL_ERROR,
            _ => return,
        };
        if let Some(w) = self.smb.opens.start_watch(
            volatile,
            req.completion_filter,
            req.flags,
            req.output_buffer_length,
        ) {
            w.forget(ctx.call);
        }
        self.smb_error(&ctx, status);
    }

    fn smb_notify_reply(&mut self, ctx: &Ctx, status: NtStatus, data: Vec<u8>) {
        tracing::trace!(call = ?ctx.call, ?status, len = data.len(), "CHANGE_NOTIFY answered");
        let reply = if status == NtStatus::SUCCESS {
            crate::smb_info::output_reply(status, data)
        } else {
            Reply::error(status)
        };
        self.smb_reply(ctx, reply);
    }

    /// Namespace changes in the directory `dir`, found at `at` (its share and path below the
    /// share root; `None`: not known to the caller): every open watching `dir` records them,
    /// and so does every WATCH_TREE watch of a directory above it, naming them by their path
    /// from the watched directory ([`notify`]); the oldest waiting CHANGE_NOTIFY of each is
    /// answered.
    pub(crate) fn smb_dir_changed(
        &mut self,
        dir: FileId,
        at: Option<(u32, &[String])>,
        changes: &[notify::Change],
    ) {
        if !self.smb.opens.watching() {
            return;
        }
        tracing::trace!(?dir, ?at, ?changes, "SMB directory changed");
        // An NFS change names only the directory: its path is that of an SMB open of it.
        let found;
        let at = match at {
            Some(a) => Some(a),
            None => {
                found = self.smb_dir_path(dir);
                found.as_ref().map(|(s, p)| (*s, p.as_slice()))
            }
        };
        let ids = self.smb.opens.ids_where(|o| match &o.kind {
            OpenKind::File(f) => f.watch.as_ref().is_some_and(|w| {
                f.file == dir || (w.tree && at.is_some_and(|(s, _)| s == o.share_id))
            }),
            OpenKind::Pipe(_) => false,
        });
        for id in ids {
            let Some(share_id) = self.smb.opens.by_id_mut(id).map(|o| o.share_id) else {
                continue;
            };
            let case_insensitive = self
                .smb
                .shares
                .get(&share_id)
                .is_none_or(|s| s.case_insensitive);
            let Some(open) = self.smb.opens.by_id_mut(id) else {
                continue;
            };
            let (conn, session, tree) = (open.conn, open.session, open.tree);
            let OpenKind::File(f) = &mut open.kind else {
                continue;
            };
            let direct = f.file == dir;
            let Some(w) = f.watch.as_mut() else {
                continue;
            };
            for c in changes {
                let name = if direct {
                    Some(c.name.clone())
                } else {
                    at.and_then(|(_, p)| {
                        notify::relative_name(&f.path.components, p, &c.name, case_insensitive)
                    })
                };
                if let Some(name) = name {
                    w.push(c, &name);
                }
            }
            if !w.ready() {
                continue;
            }
            if let Some((call, len)) = w.waiting.pop_front() {
                let (status, data) = w.take(len);
                let ctx = Ctx {
                    conn,
                    call,
                    session,
                    tree,
                    share_id,
                };
                self.smb_notify_reply(&ctx, status, data);
            }
        }
    }

    /// The share and path of an SMB open of the directory `dir`, if any.
    fn smb_dir_path(&self, dir: FileId) -> Option<(u32, Vec<String>)> {
        self.smb.opens.find_map(|o| match &o.kind {
            OpenKind::File(f) if f.file == dir && f.is_dir => {
                Some((o.share_id, f.path.components.clone()))
            }
            _ => None,
        })
    }

    /// An open `f` of the share `share_id` was closed and its file stays: the changes made
    /// through it that are reported at close ([`notify`]), and for a directory with delete
    /// pending the end of its watches.
    fn smb_notify_closed(&mut self, share_id: u32, f: &FileOpen) {
        if f.is_dir {
            self.smb_notify_delete_pending(f.file);
        }
        if f.changed_at_close == 0 {
            return;
        }
        let Some(r) = Removed::of(share_id, f) else {
            return;
        };
        // The close of a modified file changes its directory entry (last write time, size):
        // the directory's lease breaks then, not at each WRITE, except the writer's own
        // parent lease (MS-FSA 2.1.4.12.2; smbtorture smb2.lease.v2_request).
        self.smb_parent_changed(r.dir, r.except);
        let c = notify::Change {
            action: notify::action::MODIFIED,
            name: r.name.clone(),
            is_dir: r.is_dir,
            mask: f.changed_at_close,
        };
        self.smb_dir_changed(r.dir, r.at(), &[c]);
    }

    /// The directory `file` has delete pending and an open of it was closed: every
    /// CHANGE_NOTIFY waiting on an open of it completes with STATUS_DELETE_PENDING (MS-FSA
    /// 2.1.5.4: the directory's notifications end when it is to be deleted; smbtorture
    /// smb2.notify.rmdir1-4).
    fn smb_notify_delete_pending(&mut self, file: FileId) {
        if !self.smb.opens.watching() || !self.smb.opens.delete_pending(file) {
            return;
        }
        let ids = self.smb.opens.ids_where(|o| {
            matches!(&o.kind, OpenKind::File(f)
                if f.file == file && f.watch.as_ref().is_some_and(|w| !w.waiting.is_empty()))
        });
        for id in ids {
            let Some(open) = self.smb.opens.by_id_mut(id) else {
                continue;
            };
            let (conn, session, tree, share_id) =
                (open.conn, open.session, open.tree, open.share_id);
            let OpenKind::File(f) = &mut open.kind else {
                continue;
            };
            let waiting = f
                .watch
                .as_mut()
                .map(|w| std::mem::take(&mut w.waiting))
                .unwrap_or_default();
            for (call, _) in waiting {
                let ctx = Ctx {
                    conn,
                    call,
                    session,
                    tree,
                    share_id,
                };
                self.smb_error(&ctx, NtStatus::DELETE_PENDING);
            }
        }
    }

    /// A SET_INFO changed the file of the open `volatile`: FILE_ACTION_MODIFIED in its
    /// directory, seen by watches asking for any bit of `mask` ([`set_info_notify_mask`]).
    fn smb_notify_modified(&mut self, ctx: &Ctx, volatile: u64, mask: u32) {
        tracing::trace!(volatile, mask, "SET_INFO applied");
        if mask == 0 {
            return;
        }
        let Ok(f) = self.smb_file(ctx, volatile) else {
            return;
        };
        let Some(r) = Removed::of(ctx.share_id, f) else {
            return;
        };
        let c = notify::Change {
            action: notify::action::MODIFIED,
            name: r.name.clone(),
            is_dir: r.is_dir,
            mask,
        };
        self.smb_dir_changed(r.dir, r.at(), &[c]);
    }

    fn smb_notify_removed(&mut self, r: &Removed) {
        self.smb_parent_changed(r.dir, r.except);
        let c = notify::Change {
            action: notify::action::REMOVED,
            name: r.name.clone(),
            is_dir: r.is_dir,
            mask: 0,
        };
        self.smb_dir_changed(r.dir, r.at(), &[c]);
    }

    /// A rename (or, without `old`, a link) to `name` in `dir` (at `dir_path` of the share
    /// `share_id`): RENAMED_OLD_NAME and RENAMED_NEW_NAME in one directory, REMOVED and
    /// ADDED across two.
    fn smb_notify_moved(
        &mut self,
        old: Option<&Removed>,
        (dir, share_id, dir_path): (FileId, u32, &[String]),
        name: &str,
        is_dir: bool,
    ) {
        let new = |action| notify::Change {
            action,
            name: name.to_string(),
            is_dir,
            mask: 0,
        };
        let at = Some((share_id, dir_path));
        self.smb_parent_changed(dir, old.and_then(|o| o.except));
        match old {
            Some(o) if o.dir == dir => {
                let old_c = notify::Change {
                    action: notify::action::RENAMED_OLD_NAME,
                    name: o.name.clone(),
                    is_dir,
                    mask: 0,
                };
                self.smb_dir_changed(dir, at, &[old_c, new(notify::action::RENAMED_NEW_NAME)]);
            }
            Some(o) => {
                self.smb_notify_removed(o);
                self.smb_dir_changed(dir, at, &[new(notify::action::ADDED)]);
            }
            None => self.smb_dir_changed(dir, at, &[new(notify::action::ADDED)]),
        }
    }

    /// What an NFS call will change in directories that SMB opens watch, reported once its
    /// job succeeded (`Core::handle_job_done`).
    pub(crate) fn smb_nfs_changes(
        &self,
        call: &proto_nfs::nfs3::Nfs3Call,
    ) -> Vec<(FileId, notify::Change)> {
        use notify::action as a;
        use proto_nfs::nfs3::{DirOpArgs3, Nfs3Call as C};
        if !self.smb.opens.watching() {
            return Vec::new();
        }
        let one = |d: &DirOpArgs3, action, is_dir| {
            crate::write_behind::handle_file_id(&d.dir).map(|dir| {
                (
                    dir,
                    notify::Change {
                        action,
                        name: String::from_utf8_lossy(&d.name.0).into_owned(),
                        is_dir,
                        mask: 0,
                    },
                )
            })
        };
        let v = match call {
            C::Create(x) => vec![one(&x.where_, a::ADDED, false)],
            C::Symlink(x) => vec![one(&x.where_, a::ADDED, false)],
            C::Mknod(x) => vec![one(&x.where_, a::ADDED, false)],
            C::Mkdir(x) => vec![one(&x.where_, a::ADDED, true)],
            C::Link(x) => vec![one(&x.link, a::ADDED, false)],
            C::Remove(x) => vec![one(&x.object, a::REMOVED, false)],
            C::Rmdir(x) => vec![one(&x.object, a::REMOVED, true)],
            // NFS does not say what it renames: reported as a file (a deviation for
            // directories).
            C::Rename(x) if x.from.dir == x.to.dir => vec![
                one(&x.from, a::RENAMED_OLD_NAME, false),
                one(&x.to, a::RENAMED_NEW_NAME, false),
            ],
            C::Rename(x) => vec![one(&x.from, a::REMOVED, false), one(&x.to, a::ADDED, false)],
            _ => Vec::new(),
        };
        v.into_iter().flatten().collect()
    }

    /// Delivers NFS changes whose job succeeded.
    pub(crate) fn smb_nfs_changed(&mut self, changes: Vec<(FileId, notify::Change)>) {
        for (dir, c) in changes {
            self.smb_dir_changed(dir, None, &[c]);
        }
    }

    fn smb_set_info(&mut self, ctx: Ctx, req: SetInfoRequest, dialect: u16, creds: Creds) {
        let volatile = req.file_id.volatile;
        let notify_mask = set_info_notify_mask(&req);
        let (handle, open) = match self.smb_open_view(&ctx, volatile, dialect) {
            Ok(v) => v,
            Err(s) => return self.smb_error(&ctx, s),
        };
        let caller = vfs::Caller {
            uid: creds.uid,
            gid: creds.gid,
            gids: creds.gids,
        };
        let share_id = ctx.share_id;
        // MS-FSA 2.1.5.14.2 (FileAllocationInformation) and .4 (FileEndOfFileInformation):
        // the size change breaks other opens' caching to NONE first (smbtorture
        // smb2.oplock.batch11/12), waiting for a W break's acknowledgment.
        let size_change = req.info_type == proto_smb2::fscc::info_type::FILE
            && matches!(
                req.file_info_class,
                proto_smb2::fscc::file_class::ALLOCATION
                    | proto_smb2::fscc::file_class::END_OF_FILE
            );
        let lock = self
            .smb_file(&ctx, volatile)
            .ok()
            .map(|f| (f.file, f.lock_open));
        let work = Work::SetInfo {
            handle,
            open: Box::new(open),
            caller,
            req: Box::new(req),
        };
        if let (true, Some((file, open))) = (size_change, lock) {
            let p = Pending {
                ctx: Some(ctx),
                then: Then::SetSize(Box::new(work), volatile, notify_mask),
            };
            let now = self.now;
            return self.smb_namespace(SmbRequest::SetSize { file, open }, p, now);
        }
        self.smb_job(
            share_id,
            work,
            Pending {
                ctx: Some(ctx),
                then: Then::SetInfo(volatile, notify_mask),
            },
        );
    }

    /// What the core carries out of a SET_INFO (`SetInfoOutcome`).
    fn smb_set_info_outcome(&mut self, ctx: Ctx, volatile: u64, out: SetInfoOutcome, now: Instant) {
        if let Some(r) = out.reply() {
            return self.smb_reply(&ctx, r);
        }
        let case_insensitive = self
            .smb
            .shares
            .get(&ctx.share_id)
            .is_none_or(|s| s.case_insensitive);
        let link = matches!(out, SetInfoOutcome::Link { .. });
        let f = match self.smb_file(&ctx, volatile) {
            Ok(f) => f,
            Err(s) => return self.smb_error(&ctx, s),
        };
        match out {
            SetInfoOutcome::Position(p) => {
                f.position = p;
                self.smb_reply(&ctx, set_info_ok())
            }
            SetInfoOutcome::Mode(m) => {
                f.options = (f.options & !file_mode::SETTABLE) | (m & file_mode::SETTABLE);
                f.write_through = f.options & options::WRITE_THROUGH != 0;
                self.smb_reply(&ctx, set_info_ok())
            }
            SetInfoOutcome::Disposition { delete } => {
                let (open, file) = (f.lock_open, f.file);
                let parent = f.parent.as_ref().map(|h| file_id(ctx.share_id, &h.0));
                let p = Pending {
                    ctx: Some(ctx),
                    then: Then::Disposition(file, delete),
                };
                let r = SmbRequest::Namespace {
                    open,
                    rename: false,
                    dirs: [parent, None],
                };
                self.smb_namespace(r, p, now);
            }
            SetInfoOutcome::Rename { target, replace }
            | SetInfoOutcome::Link { target, replace } => {
                let Some(parent) = f.parent.clone() else {
                    // The share root cannot be renamed.
                    return self.smb_error(&ctx, NtStatus::ACCESS_DENIED);
                };
                let work = Work::Rename {
                    handle: f.handle.clone(),
                    parent: parent.clone(),
                    name: f.name.clone(),
                    target,
                    replace,
                    case_insensitive,
                    link,
                };
                let (open, this, is_dir) = (f.lock_open, f.file, f.is_dir);
                let parent_id = file_id(ctx.share_id, &parent.0);
                let dir = Some(parent_id);
                if !link {
                    if let Some(s) = self.smb_rename_conflict(volatile, this, parent_id, is_dir) {
                        return self.smb_error(&ctx, s);
                    }
                }
                if link {
                    let share_id = ctx.share_id;
                    return self.smb_job(
                        share_id,
                        work,
                        Pending {
                            ctx: Some(ctx),
                            then: Then::Renamed(0, SharePath::default(), None),
                        },
                    );
                }
                // The target's directory is only known once resolved in the job; the
                // source directory is gated (a rename across directories is gated on its
                // source side only).
                let p = Pending {
                    ctx: Some(ctx),
                    then: Then::Rename(Box::new(work), volatile),
                };
                let r = SmbRequest::Namespace {
                    open,
                    rename: true,
                    dirs: [dir, None],
                };
                self.smb_namespace(r, p, now);
            }
            _ => self.smb_reply(&ctx, set_info_ok()),
        }
    }

    /// The open-table checks of a rename (what Samba's `smbd_smb2_setinfo_rename_dst_parent_check`
    /// and `have_file_open_below` do): another open of the directory the entry changes
    /// that has DELETE access or does not share writing is STATUS_SHARING_VIOLATION (the
    /// rename writes the directory); a directory with open entries cannot be renamed
    /// (STATUS_ACCESS_DENIED, MS-FSA 2.1.5.15.12). Deviations: the source directory stands
    /// for the target one (the target is resolved in the job; they differ only for moves),
    /// and only direct entries of a renamed directory are looked at.
    fn smb_rename_conflict(
        &self,
        volatile: u64,
        this: FileId,
        parent: FileId,
        is_dir: bool,
    ) -> Option<NtStatus> {
        const FILE_SHARE_WRITE: u32 = 0x2;
        // Samba's `is_stat_open`: opens for attributes only take no part in share modes.
        const STAT_ONLY: u32 = crate::smb_access::SYNCHRONIZE
            | crate::smb_access::FILE_READ_ATTRIBUTES
            | crate::smb_access::FILE_WRITE_ATTRIBUTES;
        let dir_busy = self.smb.opens.ids_where(|o| {
            matches!(&o.kind, OpenKind::File(f)
                if f.file == parent
                    && f.access & !STAT_ONLY != 0
                    && (f.access & DELETE != 0 || f.share_access & FILE_SHARE_WRITE == 0))
        });
        if dir_busy.iter().any(|&id| id != volatile) {
            return Some(NtStatus::SHARING_VIOLATION);
        }
        if is_dir {
            let share_of = |o: &Open| o.share_id;
            let below = self.smb.opens.ids_where(|o| {
                matches!(&o.kind, OpenKind::File(f)
                    if f.parent.as_ref().is_some_and(|p| file_id(share_of(o), &p.0) == this))
            });
            if !below.is_empty() {
                return Some(NtStatus::ACCESS_DENIED);
            }
        }
        None
    }

    fn smb_namespace(&mut self, r: SmbRequest, p: Pending, now: Instant) {
        match self.smb_submit(r, now) {
            SmbSubmit::Done(out) => self.smb_decided(p, out, now),
            SmbSubmit::Parked(id) => {
                self.smb.parked.insert(id, p);
            }
        }
    }

    fn smb_ioctl(&mut self, ctx: &Ctx, req: &IoctlRequest) {
        if req.flags != IOCTL_IS_FSCTL {
            // §3.3.5.15: only FSCTLs are served.
            return self.smb_error(ctx, NtStatus::NOT_SUPPORTED);
        }
        let max_out = req.max_output_response as usize;
        let reply = |output: Vec<u8>, status: NtStatus| Reply::Body {
            status,
            body: body(|b| {
                IoctlResponse {
                    ctl_code: req.ctl_code,
                    file_id: req.file_id,
                    flags: 0,
                    input: Vec::new(),
                    output,
                }
                .encode(b)
            }),
        };
        match req.ctl_code {
            ctl_code::PIPE_TRANSCEIVE => {
                let Some(p) = self.smb_pipe(ctx, req.file_id.volatile) else {
                    let s = if self.smb_file(ctx, req.file_id.volatile).is_ok() {
                        NtStatus::NOT_SUPPORTED
                    } else {
                        NtStatus::FILE_CLOSED
                    };
                    return self.smb_error(ctx, s);
                };
                let r = match p.transceive(&req.input, max_out) {
                    Ok(r) => r,
                    Err(e) => return self.smb_error(ctx, e.status()),
                };
                let status = if r.more {
                    NtStatus::BUFFER_OVERFLOW
                } else {
                    NtStatus::SUCCESS
                };
                self.smb_reply(ctx, reply(r.data, status));
            }
            ctl_code::SRV_ENUMERATE_SNAPSHOTS => {
                if let Err(s) = self.smb_file(ctx, req.file_id.volatile) {
                    return self.smb_error(ctx, s);
                }
                // §3.3.5.15.1: SRV_SNAPSHOT_ARRAY with no snapshot (the share has none).
                if max_out < 16 {
                    return self.smb_error(ctx, NtStatus::INVALID_PARAMETER);
                }
                let mut out = Vec::with_capacity(16);
                out.extend_from_slice(&0u32.to_le_bytes()); // NumberOfSnapShots
                out.extend_from_slice(&0u32.to_le_bytes()); // NumberOfSnapShotsReturned
                out.extend_from_slice(&2u32.to_le_bytes()); // SnapShotArraySize
                out.extend_from_slice(&[0; 4]); // the empty list's terminating NUL
                self.smb_reply(ctx, reply(out, NtStatus::SUCCESS));
            }
            ctl_code::DFS_GET_REFERRALS => self.smb_error(ctx, STATUS_FS_DRIVER_REQUIRED),
            ctl_code::QUERY_NETWORK_INTERFACE_INFO => self.smb_error(ctx, NtStatus::NOT_SUPPORTED),
            code => {
                // The rest name an open (§3.3.5.15: STATUS_FILE_CLOSED without one).
                let (file, share_id) = match self.smb_file(ctx, req.file_id.volatile) {
                    Ok(f) => (f.file, ctx.share_id),
                    Err(NtStatus::INVALID_DEVICE_REQUEST) => {
                        return self.smb_error(ctx, NtStatus::INVALID_DEVICE_REQUEST)
                    }
                    Err(s) => return self.smb_error(ctx, s),
                };
                match code {
                    FSCTL_GET_OBJECT_ID | FSCTL_CREATE_OR_GET_OBJECT_ID => {
                        if max_out < 64 {
                            return self.smb_error(ctx, NtStatus::INVALID_PARAMETER);
                        }
                        self.smb_reply(ctx, reply(object_id(file, share_id), NtStatus::SUCCESS));
                    }
                    ctl_code::SRV_REQUEST_RESUME_KEY => {
                        self.smb_error(ctx, NtStatus::NOT_SUPPORTED)
                    }
                    // §3.3.5.15: other FSCTLs go to the object store, which knows none.
                    _ => self.smb_error(ctx, NtStatus::INVALID_DEVICE_REQUEST),
                }
            }
        }
    }

    // ---- results ----

    /// A job of the SMB side finished.
    pub(crate) fn smb_job_done(&mut self, token: u64, out: Output, now: Instant) {
        let writer = self.smb_write_done(token);
        self.smb_job_result(token, out, now);
        // After the WRITE's own answer: the acknowledgments its connection sent behind it.
        if let Some(conn) = writer {
            self.smb_acks_released(conn, token, now);
        }
    }

    fn smb_job_result(&mut self, token: u64, out: Output, now: Instant) {
        let Some(p) = self.smb.jobs.remove(&token) else {
            return;
        };
        let Some(ctx) = p.ctx else {
            match (p.then, out) {
                (Then::Sealed(conn), Output::Sealed(frame)) => {
                    if let Some(c) = self.smb.conns.get_mut(&conn) {
                        c.machine.handle_sealed(frame);
                        self.smb.dirty.insert(conn);
                    }
                }
                (Then::Unsealed(conn), Output::Unsealed(done)) => {
                    let ft = self.smb.filetime;
                    if let Some(c) = self.smb.conns.get_mut(&conn) {
                        c.machine.handle_unsealed(*done, ft);
                        self.smb.dirty.insert(conn);
                    }
                }
                (Then::Background(Some(r)), Output::Closed(Ok(_))) => self.smb_notify_removed(&r),
                (_, Output::Closed(Err(s))) => {
                    tracing::warn!(status = ?s, "removing a file whose delete was pending failed")
                }
                _ => {}
            }
            return;
        };
        match (p.then, out) {
            (Then::Create(st), Output::Create(Ok(found))) => {
                self.smb_create_found(ctx, st, found, now)
            }
            (Then::Create(_), Output::Create(Err(s))) => self.smb_error(&ctx, s),
            (Then::Overwrite(st, id), Output::View(Ok(view))) => {
                self.smb_create_reply(&ctx, &st, id, &view)
            }
            (Then::Overwrite(st, id), Output::View(Err(s))) => {
                // The open exists but its truncation failed: undo the open.
                if let Some((open, _)) = self.smb.opens.remove(id) {
                    if let OpenKind::File(f) = open.kind {
                        self.smb_submit(SmbRequest::Close { open: f.lock_open }, now);
                    }
                }
                let _ = st;
                self.smb_error(&ctx, s)
            }
            (Then::Reconnected(r), Output::View(v)) => {
                self.smb_durable_reconnected(&ctx, &r, v, now)
            }
            (Then::QueryInfo, Output::Reply(r)) => self.smb_reply(&ctx, r),
            (Then::QueryDirectory(volatile), Output::Dir(search, r)) => {
                if let Ok(f) = self.smb_file(&ctx, volatile) {
                    f.search = Some(search);
                    f.searching = false;
                }
                self.smb_reply(&ctx, r)
            }
            (Then::SetInfo(volatile, notify_mask), Output::SetInfo(out)) => {
                if let SetInfoOutcome::Applied { .. } = &out {
                    self.smb_notify_modified(&ctx, volatile, notify_mask);
                }
                self.smb_set_info_outcome(ctx, volatile, out, now)
            }
            (Then::Renamed(..), Output::Renamed(Err(s))) => self.smb_error(&ctx, s),
            (Then::Renamed(volatile, path, old), Output::Renamed(Ok((dir, name)))) => {
                let new_dir = file_id(ctx.share_id, &dir.0);
                let new_name = String::from_utf8_lossy(&name).into_owned();
                let is_dir = old.as_ref().is_some_and(|o| o.is_dir);
                let at = (new_dir, ctx.share_id, parent_components(&path));
                self.smb_notify_moved(old.as_ref(), at, &new_name, is_dir);
                // Every open of the file follows it to its new name.
                if volatile != 0 {
                    if let Ok(f) = self.smb_file(&ctx, volatile) {
                        let file = f.file;
                        for o in self.smb.opens.of_file_mut(file) {
                            o.parent = Some(dir.clone());
                            o.name = name.clone();
                            o.path = path.clone();
                        }
                        if let Ok(f) = self.smb_file(&ctx, volatile) {
                            if !f.is_dir {
                                f.changed_at_close |= notify::RENAMED_FILE_CHANGES;
                            }
                        }
                    }
                }
                self.smb_reply(&ctx, set_info_ok())
            }
            (Then::Read(volatile, offset), Output::Data(Ok(mut buf))) => {
                let len = buf.len().saturating_sub(exec::READ_DATA_AT);
                if let Ok(f) = self.smb_file(&ctx, volatile) {
                    f.position = offset.saturating_add(len as u64);
                }
                if len == 0 {
                    // A zero-length READ: its body carries one byte (StructureSize 17).
                    let resp = ReadResponse {
                        data_remaining: 0,
                        flags: 0,
                        data: Default::default(),
                    };
                    return self.smb_reply(&ctx, Reply::ok(body(|b| resp.encode(b))));
                }
                // The data is in place after the room for the headers: write the response's
                // fixed part before it and hand the buffer on (no copy of the data).
                let fixed = &mut buf[proto_smb2::server::REPLY_HEADROOM..exec::READ_DATA_AT];
                ReadResponse::encode_fixed(0, 0, len as u32, &mut &mut fixed[..]);
                self.smb_reply(
                    &ctx,
                    Reply::Framed {
                        status: NtStatus::SUCCESS,
                        buf,
                    },
                )
            }
            (Then::Read(..) | Then::Write(..) | Then::Flush, Output::Data(Err(s)))
            | (Then::Write(..), Output::Written(Err(s)))
            | (Then::Flush, Output::Attr(Err(s))) => self.smb_error(&ctx, s),
            (Then::Write(volatile, offset), Output::Written(Ok(count))) => {
                if let Ok(f) = self.smb_file(&ctx, volatile) {
                    f.position = offset.saturating_add(u64::from(count));
                    if count > 0 {
                        f.changed_at_close |= notify::CHANGE_LAST_WRITE | notify::CHANGE_SIZE;
                    }
                }
                let resp = WriteResponse {
                    count,
                    remaining: 0,
                };
                self.smb_reply(&ctx, Reply::ok(body(|b| resp.encode(b))))
            }
            (Then::Flush, Output::Attr(Ok(_))) => {
                self.smb_reply(&ctx, Reply::ok(body(|b| FlushResponse.encode(b))))
            }
            (Then::Close { postquery, removed }, Output::Closed(res)) => {
                let attr = match res {
                    Ok(a) => {
                        if let Some(r) = &removed {
                            self.smb_notify_removed(r);
                        }
                        a
                    }
                    Err(s) => {
                        tracing::warn!(status = ?s, "delete on close failed");
                        None
                    }
                };
                let resp = match (postquery, attr) {
                    (true, Some(a)) => {
                        let (info, file_attributes) = times_sizes(&a);
                        CloseResponse {
                            flags: CLOSE_FLAG_POSTQUERY_ATTRIB,
                            info,
                            file_attributes,
                        }
                    }
                    _ => CloseResponse::default(),
                };
                self.smb_reply(&ctx, Reply::ok(body(|b| resp.encode(b))))
            }
            (then, out) => {
                // A panicking job answers Attr(Err(..)) whatever it was.
                let status = match out {
                    Output::Attr(Err(s)) => s,
                    _ => NtStatus::INVALID_PARAMETER,
                };
                tracing::error!(?then, ?status, "SMB job result of the wrong kind");
                self.smb_error(&ctx, status)
            }
        }
    }

    /// Lock-table events for requests of the SMB side (tickets and parked requests it
    /// made); the others stay for [`Core::poll_lock_event`].
    fn smb_lock_events(&mut self, now: Instant) -> bool {
        if self.smb.tickets.is_empty()
            && self.smb.parked.is_empty()
            && self.smb.dropped.is_empty()
            && !self.locks.has_events()
        {
            return false;
        }
        let owned: Vec<bool> = self
            .locks
            .events()
            .map(|e| match e {
                crate::LockEvent::SmbCompleted { ticket, .. } => {
                    self.smb.tickets.contains_key(ticket) || self.smb.dropped.contains(ticket)
                }
                crate::LockEvent::SmbParkedDone { id, .. } => self.smb.parked.contains_key(id),
                crate::LockEvent::Break(b) => self.smb_owns_break(b),
            })
            .collect();
        let mut i = 0;
        let evs = self.locks.take_events_where(|_| {
            i += 1;
            owned[i - 1]
        });
        let any = !evs.is_empty();
        for e in evs {
            match e {
                crate::LockEvent::SmbCompleted {
                    ticket, outcome, ..
                } => {
                    if let Some(p) = self.smb.tickets.remove(&ticket) {
                        self.smb_decided(p, outcome, now);
                    } else {
                        self.smb.dropped.remove(&ticket);
                    }
                }
                crate::LockEvent::SmbParkedDone { id, outcome } => {
                    if let Some(p) = self.smb.parked.remove(&id) {
                        self.smb_decided(p, outcome, now);
                    }
                }
                // §3.3.4.6/§3.3.4.7: tell the client.
                crate::LockEvent::Break(b) => self.smb_send_break(b, now),
            }
        }
        any
    }

    /// Opens in the SMB open table (tests).
    pub fn smb_open_count(&self) -> usize {
        self.smb.open_count()
    }
}

/// The largest file a WRITE may make: NTFS's limit of 16 TiB less 64 KiB, which Windows
/// and Samba enforce with STATUS_INVALID_PARAMETER (smbtorture smb2.rw.invalid).
const MAX_FILE_SIZE: u64 = 0xFFF_FFFF_0000;

/// A READ or WRITE range that ends past the largest file offset (2^63 - 1, MS-FSCC
/// §2.1.5.x file sizes are signed): STATUS_INVALID_PARAMETER, as Samba answers it.
fn beyond_max_offset(offset: u64, len: u64) -> bool {
    offset
        .checked_add(len)
        .is_none_or(|end| end > i64::MAX as u64)
}

/// FSCTL_GET_OBJECT_ID.
const FSCTL_GET_OBJECT_ID: u32 = 0x0009_009C;
/// FSCTL_CREATE_OR_GET_OBJECT_ID.
const FSCTL_CREATE_OR_GET_OBJECT_ID: u32 = 0x0009_00C0;

/// FILE_OBJECTID_BUFFER (MS-FSCC §2.1.3) of a file: its ObjectId is derived from the file
/// id every protocol shares (stable while the backend's handle is), BirthVolumeId from the
/// share, BirthObjectId the same as ObjectId, DomainId zero. Nothing is stored: an object
/// id cannot be set.
fn object_id(file: FileId, share_id: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    let mut oid = [0u8; 16];
    oid[..8].copy_from_slice(&file.0.to_le_bytes());
    oid[8..12].copy_from_slice(&share_id.to_le_bytes());
    oid[12..].copy_from_slice(b"JNS1");
    let mut vol = [0u8; 16];
    vol[..4].copy_from_slice(&share_id.to_le_bytes());
    vol[4..9].copy_from_slice(b"JANUS");
    out.extend_from_slice(&oid);
    out.extend_from_slice(&vol);
    out.extend_from_slice(&oid);
    out.extend_from_slice(&[0; 16]);
    out
}

/// A GUID as 32 hex digits (the runtime's ServerGuid file).
pub fn format_guid(g: &[u8; 16]) -> String {
    g.iter().map(|b| format!("{b:02x}")).collect()
}

/// The GUID [`format_guid`] wrote (surrounding white space ignored).
pub fn parse_guid(text: &str) -> Option<[u8; 16]> {
    let t = text.trim();
    if t.len() != 32 || !t.is_ascii() {
        return None;
    }
    let mut g = [0u8; 16];
    for (i, b) in g.iter_mut().enumerate() {
        *b = u8::from_str_radix(&t[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(g)
}

/// What to remove at the close of `f` when it was the last open with delete pending.
fn remove_of(f: &FileOpen, remove: bool) -> Option<(Handle, Vec<u8>, bool)> {
    if !remove {
        return None;
    }
    // The share root is never removed.
    f.parent
        .as_ref()
        .map(|p| (p.clone(), f.name.clone(), f.is_dir))
}

/// The FILE_NOTIFY_CHANGE_* bits of the FILE_ACTION_MODIFIED change a SET_INFO of `req`
/// reports once applied (MS-FSA 2.1.5.15, "send directory change notification" with the
/// FilterMatch of what was set): FileBasicInformation the bit of each time it sets
/// (CreationTime CREATION, LastAccessTime LAST_ACCESS, LastWriteTime LAST_WRITE; ChangeTime
/// none, as Samba) and ATTRIBUTES for non-zero FileAttributes, so a SET_INFO that sets
/// nothing reports nothing; end-of-file and allocation SIZE and LAST_WRITE; security
/// SECURITY; other classes nothing (renames and deletions report their own changes).
fn set_info_notify_mask(req: &SetInfoRequest) -> u32 {
    use proto_smb2::fscc::{file_class, info_type as it};
    match (req.info_type, req.file_info_class) {
        (it::FILE, file_class::BASIC) => {
            match proto_smb2::fscc::file::SetFileInfo::decode(file_class::BASIC, &req.buffer) {
                Ok(proto_smb2::fscc::file::SetFileInfo::Basic(b)) => {
                    let set = |t: i64, bit: u32| if t > 0 { bit } else { 0 };
                    set(b.creation_time, notify::CHANGE_CREATION)
                        | set(b.last_access_time, notify::CHANGE_LAST_ACCESS)
                        | set(b.last_write_time, notify::CHANGE_LAST_WRITE)
                        | if b.file_attributes != 0 {
                            notify::CHANGE_ATTRIBUTES
                        } else {
                            0
                        }
                }
                _ => 0,
            }
        }
        (it::FILE, file_class::END_OF_FILE | file_class::ALLOCATION) => {
            notify::CHANGE_SIZE | notify::CHANGE_LAST_WRITE
        }
        (it::SECURITY, _) => notify::CHANGE_SECURITY,
        _ => 0,
    }
}
