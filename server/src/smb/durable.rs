//! Durable handles (MS-SMB2 §3.3.5.9.6, §3.3.5.9.7, §3.3.5.9.10, §3.3.5.9.12): opens that
//! outlive their connection, and a Janus restart.
//!
//! # Grant
//! A CREATE asks with DHnQ (v1) or DH2Q (v2: CreateGuid, Timeout, Flags). Durability is
//! decided in "Successful Open Initialization", once the lock table granted the open's
//! caching: only with a Batch oplock or a lease holding H (§3.3.5.9.6, §3.3.5.9.10 "the
//! underlying object store grants durability"), never on a directory. The persistent flag
//! is not granted (no share is continuously available, §3.3.5.9.10): a v2 request with it
//! gets a plain durable handle if the caching allows, and its response's Flags are 0. The
//! open is marked durable in the lock table (`LockTable::smb_set_durable`), which journals
//! it with its lease; this module journals what the SMB layer needs to rebuild the open
//! ([`Record::Granted`], tag [`TAG_SMB_DURABLE`]), and the CREATE response waits until
//! both records are durable (the core's journal barrier).
//!
//! # Connection loss (§3.3.7.1) and the scavenger
//! When the connection drops — or its session ends by LOGOFF or by a new session naming it
//! as its previous one (§3.3.5.5.3), as Windows and Samba do (smbtorture durable-open.reopen1a
//! and reopen4); a TREE_DISCONNECT closes its opens — a durable open that still holds H (a
//! Batch oplock is RWH) and is not to be deleted at its close stays: it leaves its
//! connection (`OpenTable::rebind` to [`DETACHED`]) and keeps its
//! locks, lease and share modes in the lock table until a reconnect or its timeout (v1:
//! [`V1_TIMEOUT`]; v2: the Timeout asked, [`V2_DEFAULT_TIMEOUT`] for 0, at most
//! [`V2_MAX_TIMEOUT`] — Samba's and Windows Server 2012's values). The deadline is part of
//! `Core::poll_timeout`; at it the open is closed as by CLOSE. A durable open that lost H
//! (broken to RW, R or NONE) is closed at once, as Samba does.
//!
//! A break aimed at a disconnected open cannot be delivered: the open is closed and its
//! state released (§3.3.4.6 / §3.3.4.7: without a connection to send the break on, the
//! server closes the opens of the oplock or lease), so the CREATE that caused the break
//! proceeds at once — smbtorture's durable-open.oplock/lease expect the newcomer to get
//! the full Batch oplock / RWH lease then. This holds for a break that would leave H too
//! (RWH → RH), as Windows and Samba do (durable-open.lease); acknowledging it on the absent
//! client's behalf would keep the open, but fail that test.
//!
//! # Reconnect
//! DHnC / DH2C name the open by FileId.Persistent (here equal to the volatile id, which
//! stays unique across restarts: [`super::open::OpenTable::reserve_ids`]). Nothing the client sends is
//! trusted; the reconnect is checked against what was stored at the grant:
//! * no durable open by that id, one still connected, a DH2C with another CreateGuid (a v1
//!   open's counts as zero; a DHnC may reconnect a v2 open), another ClientGuid for a leased
//!   open, a lease key that
//!   differs or a lease context where there was none (or none where there was one), another
//!   share: STATUS_OBJECT_NAME_NOT_FOUND (§3.3.5.9.7, §3.3.5.9.12). An oplock's open may be
//!   reconnected from another ClientGuid, as MS-SMB2 allows (smbtorture reopen1a does it);
//! * a leased open reconnected under another file name: STATUS_INVALID_PARAMETER;
//! * another user: STATUS_ACCESS_DENIED (§3.3.5.9.7, Open.Session.SecurityContext).
//!
//! The other fields of the CREATE are ignored (no "Path Name Validation", no "Open
//! Execution"). The open rejoins the new connection, session and tree with its FileId; the
//! response reports CreateAction FILE_OPENED, the file's current attributes and the caching
//! it holds, and no durable response context (as Windows and Samba answer).
//!
//! # Restart
//! At start the core restores the lock table (durable opens become unreclaimed state of the
//! shared grace period) and this module restores its records (`Core::smb_durable_restore`).
//! A DHnC / DH2C within grace passes the same checks and reclaims the open with
//! `LockTable::smb_reconnect`, which restores its lease and byte-range locks. Newcomers that
//! meet the unreclaimed state wait (STATUS_PENDING) until it is reclaimed or grace ends,
//! as the table decides. After grace the records of opens not reclaimed are dropped.
//!
//! # Replay (§3.3.5.9.10)
//! A DH2Q whose CreateGuid names a durable open of the same client: with
//! SMB2_FLAGS_REPLAY_OPERATION on the same session and tree, the existing open is
//! answered again (FILE_OPENED) instead of opening a second time; otherwise
//! STATUS_DUPLICATE_OBJECTID.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use lockstate::{CacheKey, ClientGuid, FileId, LeaseState, OpenId, OplockLevel, Outcome};
use proto_nfs::server::ConnId;
use proto_smb2::cmd::create_context::{LeaseRequest, RequestContext, ResponseContext};
use proto_smb2::cmd::{CreateRequest, CreateResponse};
use proto_smb2::names::{eq_ignore_case, SharePath};
use proto_smb2::server::Reply;
use proto_smb2::NtStatus;
use vfs::Handle;

use super::exec::{self, Work};
use super::open::{FileOpen, Open, OpenKind};
use super::{body, smb_file_id, times_sizes, Ctx, Pending, Then};
use crate::{Core, RecordSeq};

/// Journal tag of a durable-handle [`Record`] (lock-table records are 1, monitor records 2).
pub const TAG_SMB_DURABLE: u8 = 3;
/// The connection of an open whose connection was lost (no real connection has this id).
pub const DETACHED: ConnId = ConnId(u64::MAX);
/// How long a disconnected v1 durable open waits for its client (Samba's value).
pub const V1_TIMEOUT: Duration = Duration::from_secs(60);
/// The v2 timeout granted for a request of 0 (Windows Server 2012 and Samba).
pub const V2_DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest v2 timeout granted (Samba's cap).
pub const V2_MAX_TIMEOUT: Duration = Duration::from_secs(300);
/// SMB2_DHANDLE_FLAG_PERSISTENT.
pub const DHANDLE_FLAG_PERSISTENT: u32 = 0x2;
/// STATUS_DUPLICATE_OBJECTID.
pub const STATUS_DUPLICATE_OBJECTID: NtStatus = NtStatus(0xC000_022A);
/// SMB2_FLAGS_REPLAY_OPERATION.
const FLAGS_REPLAY_OPERATION: u32 = 0x2000_0000;
/// SMB 3.0: DH2Q and DH2C are 3.x contexts (§2.2.13.2.11/.12).
const SMB300: u16 = 0x0300;

/// What a CREATE asks of durability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// Nothing.
    None,
    /// DHnQ.
    V1,
    /// DH2Q.
    V2 {
        /// Timeout asked (ms; 0 = the server's default).
        timeout: u32,
        /// CreateGuid.
        create_guid: [u8; 16],
    },
    /// DHnC / DH2C: reconnect the open `volatile` (FileId.Persistent); `create_guid` for v2.
    Reconnect {
        /// FileId.Persistent.
        persistent: u64,
        /// The CreateGuid of a DH2C; `None` for DHnC.
        create_guid: Option<[u8; 16]>,
    },
}

/// The durability contexts of a CREATE, with the combination rules of §3.3.5.9.6/.7/.10/.12.
/// DH2Q and DH2C are ignored below SMB 3.0.
pub fn ask_of(contexts: &[RequestContext], dialect: u16) -> Result<Ask, NtStatus> {
    let v3 = dialect >= SMB300;
    let (mut dhnq, mut dhnc, mut dh2q, mut dh2c) = (false, None, None, None);
    for c in contexts {
        match c {
            RequestContext::DurableHandleRequest => dhnq = true,
            RequestContext::DurableHandleReconnect(f) => dhnc = Some(f.persistent),
            RequestContext::DurableHandleRequestV2 {
                timeout,
                create_guid,
                ..
            } if v3 => dh2q = Some((*timeout, *create_guid)),
            RequestContext::DurableHandleReconnectV2 {
                file_id,
                create_guid,
                ..
            } if v3 => dh2c = Some((file_id.persistent, *create_guid)),
            _ => {}
        }
    }
    // §3.3.5.9.7: DHnC with DH2Q or DH2C is refused; DHnQ beside it is ignored.
    if let Some(persistent) = dhnc {
        if dh2q.is_some() || dh2c.is_some() {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        return Ok(Ask::Reconnect {
            persistent,
            create_guid: None,
        });
    }
    // §3.3.5.9.10: DH2Q with DHnQ, DHnC or DH2C is refused; §3.3.5.9.12: so is DH2C with
    // DHnQ (smbtorture durable-v2-open.create-blob checks all four).
    if let Some((persistent, guid)) = dh2c {
        if dhnq || dh2q.is_some() {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        return Ok(Ask::Reconnect {
            persistent,
            create_guid: Some(guid),
        });
    }
    if let Some((timeout, create_guid)) = dh2q {
        if dhnq {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        return Ok(Ask::V2 {
            timeout,
            create_guid,
        });
    }
    Ok(if dhnq { Ask::V1 } else { Ask::None })
}

/// The timeout granted for `ask` (module documentation).
pub fn timeout_of(ask: Ask) -> Duration {
    match ask {
        Ask::V2 { timeout: 0, .. } => V2_DEFAULT_TIMEOUT,
        Ask::V2 { timeout, .. } => Duration::from_millis(u64::from(timeout)).min(V2_MAX_TIMEOUT),
        _ => V1_TIMEOUT,
    }
}

/// What the caller of a CREATE is, for the durable checks.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The session's user ("guest" for guests), as the identity names it.
    pub user: String,
    /// The connection's dialect.
    pub dialect: u16,
    /// SMB2_FLAGS_REPLAY_OPERATION was set.
    pub replay: bool,
}

impl Caller {
    /// The caller of a call with this identity, header and dialect.
    pub fn of(
        identity: &proto_smb2::server::Identity,
        header: &proto_smb2::Header,
        dialect: u16,
    ) -> Caller {
        Caller {
            user: identity.user.clone(),
            dialect,
            replay: header.flags & FLAGS_REPLAY_OPERATION != 0,
        }
    }
}

/// What is kept of an open to rebuild it after a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    /// The backend handle.
    pub handle: Vec<u8>,
    /// Its directory (`None`: the share root).
    pub parent: Option<Vec<u8>>,
    /// Its name there, as on disk.
    pub disk_name: Vec<u8>,
    /// The path below the share root.
    pub components: Vec<String>,
    /// GrantedAccess.
    pub access: u32,
    /// ShareAccess.
    pub share_access: u32,
    /// CreateOptions.
    pub options: u32,
    /// A directory.
    pub is_dir: bool,
}

/// One durable open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Durable {
    /// The open as the lock table names it.
    pub lock_open: OpenId,
    /// The file as the lock table names it.
    pub file: FileId,
    /// The share.
    pub share_id: u32,
    /// The ClientGuid of the connection that made it.
    pub client: [u8; 16],
    /// The CreateGuid of a v2 open.
    pub create_guid: Option<[u8; 16]>,
    /// How long it waits for its client after a connection loss.
    pub timeout: Duration,
    /// The user that opened it.
    pub user: String,
    /// Its lease key, when it was opened with a lease.
    pub lease_key: Option<[u8; 16]>,
    /// The name the CREATE gave (a leased open's reconnect must name it again).
    pub name: String,
    /// What rebuilds it.
    pub saved: Saved,
}

/// Where a durable open is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// On its connection.
    Connected,
    /// Its connection was lost; closed at `until` unless reconnected.
    Disconnected { until: Instant },
    /// Restored from the journal after a restart; reclaimable in grace.
    Restored,
}

/// The durable opens, by volatile FileId.
#[derive(Debug, Default)]
pub struct DurableTable {
    opens: BTreeMap<u64, (Durable, State)>,
    /// Lock-table open → volatile FileId.
    by_lock: BTreeMap<OpenId, u64>,
}

impl DurableTable {
    /// Whether any open waits for its client (connection lost, or restored).
    pub fn any_detached(&self) -> bool {
        self.opens.values().any(|(_, s)| *s != State::Connected)
    }

    /// The earliest scavenger deadline.
    pub fn deadline(&self) -> Option<Instant> {
        self.opens
            .values()
            .filter_map(|(_, s)| match s {
                State::Disconnected { until } => Some(*until),
                _ => None,
            })
            .min()
    }

    /// Whether the open `volatile` is durable.
    pub fn contains(&self, volatile: u64) -> bool {
        self.opens.contains_key(&volatile)
    }

    /// Durable opens (tests, logs).
    pub fn len(&self) -> usize {
        self.opens.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.opens.is_empty()
    }

    fn insert(&mut self, volatile: u64, d: Durable, s: State) {
        self.by_lock.insert(d.lock_open, volatile);
        self.opens.insert(volatile, (d, s));
    }

    fn remove(&mut self, volatile: u64) -> Option<Durable> {
        let (d, _) = self.opens.remove(&volatile)?;
        self.by_lock.remove(&d.lock_open);
        Some(d)
    }

    /// Whether the lock-table open `o` is a durable open without a connection.
    fn detached_lock_open(&self, o: OpenId) -> Option<u64> {
        let v = *self.by_lock.get(&o)?;
        self.opens
            .get(&v)
            .is_some_and(|(_, s)| *s != State::Connected)
            .then_some(v)
    }
}

// ---- journal records ----------------------------------------------------------------

/// A journal record of this module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// The open `volatile` was made durable.
    Granted {
        /// Volatile (= persistent) FileId.
        volatile: u64,
        /// The open.
        open: Box<Durable>,
    },
    /// The durable open `volatile` is gone (closed, timed out, not reclaimed).
    Gone {
        /// Volatile FileId.
        volatile: u64,
    },
}

struct W(Vec<u8>);

impl W {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        // Handles, names and paths are far below 4 GiB (bounded by the SMB request).
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
    }
    fn guid(&mut self, g: Option<&[u8; 16]>) {
        match g {
            Some(g) => {
                self.u8(1);
                self.0.extend_from_slice(g);
            }
            None => self.u8(0),
        }
    }
}

struct R<'a>(&'a [u8]);

impl R<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)?.try_into().ok().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)?.try_into().ok().map(u64::from_le_bytes)
    }
    fn bytes(&mut self) -> Option<Vec<u8>> {
        let n = self.u32()? as usize;
        self.take(n).map(<[u8]>::to_vec)
    }
    fn string(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?).ok()
    }
    fn guid(&mut self) -> Option<Option<[u8; 16]>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.take(16)?.try_into().ok()?)),
            _ => None,
        }
    }
}

impl Record {
    /// The record's bytes, tag first.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = W(vec![TAG_SMB_DURABLE]);
        match self {
            Record::Granted { volatile, open: d } => {
                w.u8(1);
                w.u64(*volatile);
                w.u64(d.lock_open.0);
                w.u64(d.file.0);
                w.u32(d.share_id);
                w.0.extend_from_slice(&d.client);
                w.guid(d.create_guid.as_ref());
                // Timeouts are at most V2_MAX_TIMEOUT.
                w.u32(d.timeout.as_millis() as u32);
                w.bytes(d.user.as_bytes());
                w.guid(d.lease_key.as_ref());
                w.bytes(d.name.as_bytes());
                let s = &d.saved;
                w.bytes(&s.handle);
                match &s.parent {
                    Some(p) => {
                        w.u8(1);
                        w.bytes(p);
                    }
                    None => w.u8(0),
                }
                w.bytes(&s.disk_name);
                w.u32(s.components.len() as u32);
                for c in &s.components {
                    w.bytes(c.as_bytes());
                }
                w.u32(s.access);
                w.u32(s.share_access);
                w.u32(s.options);
                w.u8(u8::from(s.is_dir));
            }
            Record::Gone { volatile } => {
                w.u8(2);
                w.u64(*volatile);
            }
        }
        w.0
    }

    /// Decodes a record's bytes after the tag; `None` if they are not one.
    pub fn from_bytes(b: &[u8]) -> Option<Record> {
        let mut r = R(b);
        let rec = match r.u8()? {
            1 => {
                let volatile = r.u64()?;
                let lock_open = OpenId(r.u64()?);
                let file = FileId(r.u64()?);
                let share_id = r.u32()?;
                let client: [u8; 16] = r.take(16)?.try_into().ok()?;
                let create_guid = r.guid()?;
                let timeout = Duration::from_millis(u64::from(r.u32()?));
                let user = r.string()?;
                let lease_key = r.guid()?;
                let name = r.string()?;
                let handle = r.bytes()?;
                let parent = match r.u8()? {
                    0 => None,
                    1 => Some(r.bytes()?),
                    _ => return None,
                };
                let disk_name = r.bytes()?;
                let n = r.u32()? as usize;
                // Each component takes at least its 4-byte length: bounded by the record.
                if n > r.0.len() / 4 {
                    return None;
                }
                let components = (0..n).map(|_| r.string()).collect::<Option<Vec<_>>>()?;
                let saved = Saved {
                    handle,
                    parent,
                    disk_name,
                    components,
                    access: r.u32()?,
                    share_access: r.u32()?,
                    options: r.u32()?,
                    is_dir: r.u8()? != 0,
                };
                Record::Granted {
                    volatile,
                    open: Box::new(Durable {
                        lock_open,
                        file,
                        share_id,
                        client,
                        create_guid,
                        timeout,
                        user,
                        lease_key,
                        name,
                        saved,
                    }),
                }
            }
            2 => Record::Gone { volatile: r.u64()? },
            _ => return None,
        };
        r.0.is_empty().then_some(rec)
    }
}

/// The volatile FileId a record of this module is about (journal compaction).
pub fn record_key(b: &[u8]) -> Option<(u64, bool)> {
    match Record::from_bytes(b)? {
        Record::Granted { volatile, .. } => Some((volatile, true)),
        Record::Gone { volatile } => Some((volatile, false)),
    }
}

/// A durable reconnect waiting for the file's attributes.
#[derive(Debug)]
pub struct Reconnected {
    volatile: u64,
    v2: bool,
    /// A replayed CREATE (its response carries the durable context again); a reconnect's
    /// response carries none (§3.3.5.9.7/.12, as Windows and Samba answer).
    replay: bool,
    timeout: Duration,
    oplock: u8,
    lease: Option<(LeaseRequest, LeaseState, u16)>,
}

/// The wire oplock level of `l` (MS-SMB2 §2.2.13 RequestedOplockLevel values).
pub fn oplock_wire(l: OplockLevel) -> u8 {
    match l {
        OplockLevel::None => 0,
        OplockLevel::LevelII => 0x01,
        OplockLevel::Exclusive => 0x08,
        OplockLevel::Batch => 0x09,
    }
}

/// SMB2_OPLOCK_LEVEL_LEASE.
pub const OPLOCK_LEVEL_LEASE: u8 = 0xFF;

fn lease_of(contexts: &[RequestContext]) -> Option<LeaseRequest> {
    contexts.iter().find_map(|c| match c {
        RequestContext::Lease(l) => Some(*l),
        _ => None,
    })
}

impl Core {
    /// A CREATE with DH2Q whose CreateGuid names a durable open of this client
    /// (§3.3.5.9.10): the replayed answer, or STATUS_DUPLICATE_OBJECTID. `None` when no
    /// open has that CreateGuid (the CREATE goes on).
    pub(super) fn smb_durable_replay(
        &mut self,
        ctx: &Ctx,
        ask: Ask,
        caller: &Caller,
    ) -> Option<Result<(), NtStatus>> {
        let Ask::V2 { create_guid, .. } = ask else {
            return None;
        };
        let client = self.smb_client_guid(ctx.conn).0;
        let (volatile, _) = self
            .smb
            .durable
            .opens
            .iter()
            .find(|(_, (d, _))| d.create_guid == Some(create_guid) && d.client == client)?;
        let volatile = *volatile;
        if !caller.replay {
            return Some(Err(STATUS_DUPLICATE_OBJECTID));
        }
        // The replay of a CREATE whose response was lost: the open is this session's.
        let Some(Open {
            kind: OpenKind::File(f),
            ..
        }) = self
            .smb
            .opens
            .get_mut(volatile, ctx.conn, ctx.session, ctx.tree)
        else {
            return Some(Err(STATUS_DUPLICATE_OBJECTID));
        };
        let (handle, name) = (f.handle.clone(), f.name.clone());
        let mut r = self.smb_durable_answer(volatile, true);
        r.replay = true;
        self.smb_job(
            ctx.share_id,
            Work::View { handle, name },
            Pending {
                ctx: Some(ctx.clone()),
                then: Then::Reconnected(Box::new(r)),
            },
        );
        Some(Ok(()))
    }

    /// What the response to a reconnect (or replay) of `volatile` reports.
    fn smb_durable_answer(&self, volatile: u64, v2: bool) -> Reconnected {
        let (timeout, lock_open, lease_key) = self
            .smb
            .durable
            .opens
            .get(&volatile)
            .map_or((V1_TIMEOUT, OpenId(0), None), |(d, _)| {
                (d.timeout, d.lock_open, d.lease_key)
            });
        let (oplock, lease) = match self.nlm.table.smb_open_caching(lock_open) {
            Some((Some(k @ CacheKey::Lease(..)), state, _)) => {
                let epoch = self.nlm.table.lease_view(k).map_or(0, |l| l.epoch);
                let req = LeaseRequest {
                    lease_key: lease_key.unwrap_or([0; 16]),
                    lease_state: 0,
                    flags: 0,
                    v2: None,
                };
                (OPLOCK_LEVEL_LEASE, Some((req, state, epoch)))
            }
            Some((_, state, _)) => (oplock_wire(OplockLevel::from_lease(state)), None),
            None => (0, None),
        };
        Reconnected {
            volatile,
            v2,
            replay: false,
            timeout,
            oplock,
            lease,
        }
    }

    /// DHnC / DH2C (§3.3.5.9.7, §3.3.5.9.12): the checks of the module documentation, then
    /// the open rejoins this connection (or, after a restart, is reclaimed from the lock
    /// table's grace state) and its attributes are read for the response.
    pub(super) fn smb_durable_reconnect(
        &mut self,
        ctx: Ctx,
        req: &CreateRequest,
        contexts: &[RequestContext],
        ask: Ask,
        caller: &Caller,
        now: Instant,
    ) {
        let Ask::Reconnect {
            persistent,
            create_guid,
        } = ask
        else {
            return;
        };
        let client = self.smb_client_guid(ctx.conn).0;
        let lease = lease_of(contexts);
        let status = match self.smb.durable.opens.get(&persistent) {
            None => Err(NtStatus::OBJECT_NAME_NOT_FOUND),
            Some((d, state)) => {
                let name = req.name_string();
                // §3.3.5.9.7/.12: the ClientGuid must match for a leased open; an oplock's
                // reconnect may come from another client GUID (smbtorture reopen1a).
                // A DH2C must name the CreateGuid (a v1 open's is zero, as Samba keeps it:
                // durable-open.reopen2-lease reconnects one with a zero DH2C, and
                // durable-v2-open.reopen2c fails with another); a DHnC may reconnect a v2
                // open (reopen2b).
                if *state == State::Connected
                    || create_guid.is_some_and(|g| g != d.create_guid.unwrap_or([0; 16]))
                    || (d.lease_key.is_some() && d.client != client)
                    || d.share_id != ctx.share_id
                    || d.lease_key != lease.map(|l| l.lease_key)
                {
                    Err(NtStatus::OBJECT_NAME_NOT_FOUND)
                } else if d.lease_key.is_some() && !eq_ignore_case(&d.name, &name) {
                    Err(NtStatus::INVALID_PARAMETER)
                } else if !d.user.eq_ignore_ascii_case(&caller.user) {
                    Err(NtStatus::ACCESS_DENIED)
                } else {
                    Ok(state.clone())
                }
            }
        };
        let state = match status {
            Ok(s) => s,
            Err(s) => {
                tracing::debug!(persistent, status = ?s, "durable reconnect refused");
                return self.smb_error(&ctx, s);
            }
        };
        if !self.smb.opens.has_room(ctx.conn, ctx.session) {
            return self.smb_error(&ctx, NtStatus::INSUFFICIENT_RESOURCES);
        }
        let Some((d, _)) = self.smb.durable.opens.get(&persistent).cloned() else {
            return self.smb_error(&ctx, NtStatus::OBJECT_NAME_NOT_FOUND);
        };
        match state {
            State::Connected => return self.smb_error(&ctx, NtStatus::OBJECT_NAME_NOT_FOUND),
            State::Disconnected { .. } => {
                self.smb
                    .opens
                    .rebind(persistent, ctx.conn, ctx.session, ctx.tree);
            }
            State::Restored => {
                match self
                    .nlm
                    .table
                    .smb_reconnect(d.lock_open, ClientGuid(d.client), now)
                {
                    Outcome::Opened(_) => {}
                    o => {
                        tracing::debug!(persistent, outcome = ?o, "durable reclaim refused");
                        self.smb_durable_drop(persistent);
                        return self.smb_error(&ctx, NtStatus::OBJECT_NAME_NOT_FOUND);
                    }
                }
                self.drive_nlm(now);
                let f = rebuild(&d);
                let open = Open {
                    conn: ctx.conn,
                    session: ctx.session,
                    tree: ctx.tree,
                    share_id: ctx.share_id,
                    kind: OpenKind::File(Box::new(f)),
                };
                if !self.smb.opens.insert_with_id(persistent, open) {
                    // Cannot happen: restored ids are reserved above every new one.
                    return self.smb_error(&ctx, super::STATUS_INTERNAL_ERROR);
                }
            }
        }
        if let Some((_, s)) = self.smb.durable.opens.get_mut(&persistent) {
            *s = State::Connected;
        }
        tracing::debug!(persistent, "durable open reconnected");
        let mut r = self.smb_durable_answer(persistent, create_guid.is_some());
        if let (Some((req_lease, _, _)), Some(asked)) = (r.lease.as_mut(), lease) {
            *req_lease = asked;
        }
        let Some(Open {
            kind: OpenKind::File(f),
            ..
        }) = self.smb.opens.by_id_mut(persistent)
        else {
            return self.smb_error(&ctx, super::STATUS_INTERNAL_ERROR);
        };
        let (handle, name) = (f.handle.clone(), f.name.clone());
        let share_id = ctx.share_id;
        // Breaks for this connection wait until the reconnect is answered.
        *self.smb.reconnecting.entry(ctx.conn).or_default() += 1;
        self.smb_job(
            share_id,
            Work::View { handle, name },
            Pending {
                ctx: Some(ctx),
                then: Then::Reconnected(Box::new(r)),
            },
        );
    }

    /// The reconnect on `conn` was answered: the breaks held for the connection go out
    /// once none is left unanswered.
    fn smb_reconnect_answered(&mut self, conn: ConnId, now: Instant) {
        if let std::collections::btree_map::Entry::Occupied(mut n) =
            self.smb.reconnecting.entry(conn)
        {
            *n.get_mut() -= 1;
            if *n.get() > 0 {
                return;
            }
            n.remove();
        }
        for b in self.smb.held_breaks.remove(&conn).unwrap_or_default() {
            self.smb_send_break(b, now);
        }
    }

    /// The attributes of a reconnected (or replayed) open came back: the CREATE response.
    pub(super) fn smb_durable_reconnected(
        &mut self,
        ctx: &Ctx,
        r: &Reconnected,
        view: Result<crate::smb_info::SmbView, NtStatus>,
        now: Instant,
    ) {
        let view = match view {
            Ok(v) => v,
            Err(s) => {
                // The file is gone or unreadable: the open cannot go on.
                self.smb_durable_forget(r.volatile);
                self.smb_close_opens(vec![r.volatile], now);
                self.smb_error(ctx, s);
                return self.smb_reconnect_answered(ctx.conn, now);
            }
        };
        let (info, file_attributes) = times_sizes(&view);
        let mut contexts = Vec::new();
        if !r.replay {
            // A reconnect: no durable response context.
        } else if r.v2 {
            contexts.push(
                ResponseContext::DurableHandleV2 {
                    timeout: r.timeout.as_millis() as u32,
                    flags: 0,
                }
                .to_context(),
            );
        } else {
            contexts.push(ResponseContext::DurableHandle.to_context());
        }
        if let Some((l, state, epoch)) = &r.lease {
            // SMB2_CREATE_RESPONSE_LEASE(_V2) in the version the reconnect asked with
            // (§2.2.14.2.10/.11), the lease's current state and epoch.
            contexts.push(
                ResponseContext::Lease {
                    lease_key: l.lease_key,
                    lease_state: u32::from(state.0),
                    flags: 0,
                    v2: l.v2.map(|(parent, _)| (parent, *epoch)),
                }
                .to_context(),
            );
        }
        let resp = CreateResponse {
            oplock_level: r.oplock,
            flags: 0,
            create_action: exec::action::OPENED,
            info,
            file_attributes,
            file_id: smb_file_id(r.volatile),
            contexts,
        };
        self.smb_reply(ctx, Reply::ok(body(|b| resp.encode(b))));
        self.smb_reconnect_answered(ctx.conn, now);
    }

    /// After the lock table granted the open `volatile` (§3.3.5.9.6/.10 "Successful Open
    /// Initialization"): makes it durable when `ask` asked and the grant allows, journals
    /// it, and returns the response context.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn smb_durable_grant(
        &mut self,
        ctx: &Ctx,
        ask: Ask,
        user: &str,
        name: &str,
        lease_key: Option<[u8; 16]>,
        volatile: u64,
        now: Instant,
    ) -> Option<ResponseContext> {
        if !matches!(ask, Ask::V1 | Ask::V2 { .. }) {
            return None;
        }
        let Some(Open {
            kind: OpenKind::File(f),
            share_id,
            ..
        }) = self.smb.opens.by_id_mut(volatile)
        else {
            return None;
        };
        let share_id = *share_id;
        if f.is_dir {
            return None;
        }
        let (lock_open, file) = (f.lock_open, f.file);
        let saved = Saved {
            handle: f.handle.0.clone(),
            parent: f.parent.as_ref().map(|h| h.0.clone()),
            disk_name: f.name.clone(),
            components: f.path.components.clone(),
            access: f.access,
            share_access: f.share_access,
            options: f.options,
            is_dir: f.is_dir,
        };
        // Batch (RWH) or a lease with H: the caching durability needs.
        let (_, state, _) = self.nlm.table.smb_open_caching(lock_open)?;
        if !state.contains(LeaseState::H) {
            return None;
        }
        self.nlm.table.smb_set_durable(lock_open, true);
        self.drive_nlm(now);
        if let Some(Open {
            kind: OpenKind::File(f),
            ..
        }) = self.smb.opens.by_id_mut(volatile)
        {
            // §3.3.5.14: a durable open's LOCKs carry sequence numbers that are checked.
            f.lock_sequences.verify = true;
        }
        let timeout = timeout_of(ask);
        let create_guid = match ask {
            Ask::V2 { create_guid, .. } => Some(create_guid),
            _ => None,
        };
        let d = Durable {
            lock_open,
            file,
            share_id,
            client: self.smb_client_guid(ctx.conn).0,
            create_guid,
            timeout,
            user: user.to_string(),
            lease_key,
            name: name.to_string(),
            saved,
        };
        let rec = Record::Granted {
            volatile,
            open: Box::new(d.clone()),
        };
        let seq = self.journal.appends.push(rec.to_bytes());
        self.smb_needs(ctx.conn, seq);
        self.smb.durable.insert(volatile, d, State::Connected);
        tracing::debug!(volatile, ?timeout, "durable handle granted");
        Some(match ask {
            Ask::V2 { .. } => ResponseContext::DurableHandleV2 {
                timeout: timeout.as_millis() as u32,
                flags: 0,
            },
            _ => ResponseContext::DurableHandle,
        })
    }

    /// The connection's replies from now on wait for journal record `seq`.
    pub(super) fn smb_needs(&mut self, conn: ConnId, seq: RecordSeq) {
        if let Some(c) = self.smb.conns.get_mut(&conn) {
            c.needs = c.needs.max(seq);
        }
    }

    /// The open `volatile` is closed (CLOSE, LOGOFF, TREE_DISCONNECT, its timeout, an
    /// undeliverable break): it is durable no more.
    pub(crate) fn smb_durable_forget(&mut self, volatile: u64) {
        if self.smb.durable.remove(volatile).is_some() {
            self.journal
                .appends
                .push(Record::Gone { volatile }.to_bytes());
        }
    }

    /// A restored open that cannot be reclaimed any more.
    fn smb_durable_drop(&mut self, volatile: u64) {
        self.smb_durable_forget(volatile);
    }

    /// The connection `conn` is lost (§3.3.7.1): of its opens `ids`, the durable ones that
    /// still hold H stay, detached, until a reconnect or their timeout; the rest are
    /// returned to be closed.
    pub(crate) fn smb_durable_disconnect(&mut self, ids: Vec<u64>, now: Instant) -> Vec<u64> {
        if self.smb.durable.is_empty() {
            return ids;
        }
        let mut close = Vec::with_capacity(ids.len());
        for id in ids {
            let Some((d, _)) = self.smb.durable.opens.get(&id) else {
                close.push(id);
                continue;
            };
            let keeps = self
                .nlm
                .table
                .smb_open_caching(d.lock_open)
                .is_some_and(|(_, s, breaking)| s.contains(LeaseState::H) && !breaking);
            if !keeps {
                self.smb_durable_forget(id);
                close.push(id);
                continue;
            }
            let until = now + d.timeout;
            let doc = match self.smb.opens.by_id_mut(id) {
                Some(Open {
                    kind: OpenKind::File(f),
                    ..
                }) => {
                    let file = f.file;
                    f.delete_on_close || self.smb.opens.delete_pending(file)
                }
                _ => true,
            };
            if doc {
                // A file to be deleted at its close is not kept: the close deletes it now
                // (Samba's durable disconnect refuses it; smbtorture delete_on_close1).
                self.smb_durable_forget(id);
                close.push(id);
                continue;
            }
            if let Some(Open {
                kind: OpenKind::File(f),
                ..
            }) = self.smb.opens.by_id_mut(id)
            {
                // Its CHANGE_NOTIFY requests went with the connection.
                if let Some(w) = f.watch.as_mut() {
                    w.waiting.clear();
                }
                f.searching = false;
            }
            self.smb.opens.rebind(id, DETACHED, 0, 0);
            if let Some((_, s)) = self.smb.durable.opens.get_mut(&id) {
                *s = State::Disconnected { until };
            }
            tracing::debug!(
                volatile = id,
                ?until,
                "durable open kept after connection loss"
            );
        }
        close
    }

    /// The scavenger: disconnected durable opens past their timeout are closed, and after
    /// the grace period the restored opens nobody reclaimed are forgotten.
    pub(crate) fn smb_durable_expire(&mut self, now: Instant) {
        if !self.smb.durable.any_detached() {
            return;
        }
        let in_grace = self.nlm.table.in_grace();
        let mut expired = Vec::new();
        let mut dropped = Vec::new();
        for (v, (_, s)) in &self.smb.durable.opens {
            match s {
                State::Disconnected { until } if *until <= now => expired.push(*v),
                State::Restored if !in_grace => dropped.push(*v),
                _ => {}
            }
        }
        for v in dropped {
            self.smb_durable_drop(v);
        }
        if !expired.is_empty() {
            tracing::debug!(opens = ?expired, "durable opens timed out");
            for v in &expired {
                self.smb_durable_forget(*v);
            }
            self.smb_close_opens(expired, now);
        }
    }

    /// Whether a break for `key` can reach no connection: every open of the lease or
    /// oplock is a detached durable open. Returns their volatile ids.
    fn smb_durable_unreachable(&self, key: CacheKey) -> Option<Vec<u64>> {
        if !self.smb.durable.any_detached() {
            return None;
        }
        let opens = match key {
            CacheKey::Oplock(o) => vec![o],
            CacheKey::Lease(..) => self.nlm.table.smb_lease_opens(key),
        };
        if opens.is_empty() {
            return None;
        }
        opens
            .iter()
            .map(|o| self.smb.durable.detached_lock_open(*o))
            .collect()
    }

    /// A break that no connection can carry (`lease::smb_break_undeliverable`): when every
    /// open of the lease or oplock is a detached durable open, they are closed (§3.3.4.6,
    /// §3.3.4.7: the server closes the opens it cannot send the break to), which removes
    /// the lease, ends the break and lets the waiting operation go on. Returns whether it
    /// did.
    pub(crate) fn smb_durable_break_undeliverable(&mut self, key: CacheKey, now: Instant) -> bool {
        let Some(ids) = self.smb_durable_unreachable(key) else {
            return false;
        };
        tracing::debug!(opens = ?ids, "break for disconnected durable opens: closing them");
        for v in &ids {
            self.smb_durable_forget(*v);
        }
        self.smb_close_opens(ids, now);
        true
    }

    /// Restores the durable opens of the journal's records (at start, after the lock
    /// table's restore): those the lock table holds as unreclaimed state wait for their
    /// reclaim; the others are forgotten. FileIds and lock-table open ids of new opens are
    /// allocated above every restored one.
    pub(crate) fn smb_durable_restore(&mut self, journal: &[Vec<u8>]) {
        let mut live: BTreeMap<u64, Durable> = BTreeMap::new();
        let (mut max_volatile, mut max_lock) = (0u64, 0u64);
        for r in journal {
            let Some((&TAG_SMB_DURABLE, rest)) = r.split_first() else {
                continue;
            };
            match Record::from_bytes(rest) {
                Some(Record::Granted { volatile, open }) => {
                    max_volatile = max_volatile.max(volatile);
                    max_lock = max_lock.max(open.lock_open.0);
                    live.insert(volatile, *open);
                }
                Some(Record::Gone { volatile }) => {
                    live.remove(&volatile);
                }
                None => tracing::warn!("a durable-handle journal record does not decode; ignored"),
            }
        }
        self.smb.opens.reserve_ids(max_volatile + 1);
        self.smb.next_lock_open = self.smb.next_lock_open.max(max_lock + 1);
        for (volatile, d) in live {
            if self.nlm.table.smb_unreclaimed_open(d.lock_open) == Some(ClientGuid(d.client)) {
                tracing::info!(volatile, "durable open restored; reclaimable in grace");
                self.smb.durable.insert(volatile, d, State::Restored);
            } else {
                self.journal
                    .appends
                    .push(Record::Gone { volatile }.to_bytes());
            }
        }
    }

    /// Durable opens (tests).
    pub fn smb_durable_count(&self) -> usize {
        self.smb.durable.len()
    }
}

/// The open a restored record describes.
fn rebuild(d: &Durable) -> FileOpen {
    let s = &d.saved;
    FileOpen {
        handle: Handle(s.handle.clone()),
        file: d.file,
        lock_open: d.lock_open,
        access: s.access,
        share_access: s.share_access,
        parent: s.parent.clone().map(Handle),
        name: s.disk_name.clone(),
        path: SharePath {
            components: s.components.clone(),
            trailing_separator: false,
        },
        is_dir: s.is_dir,
        delete_on_close: s.options & exec::options::DELETE_ON_CLOSE != 0,
        write_through: s.options & exec::options::WRITE_THROUGH != 0,
        position: 0,
        options: s.options,
        search: None,
        searching: false,
        watch: None,
        changed_at_close: 0,
        // Not journalled: a change this open makes in its directory after a restart breaks
        // its own client's directory lease too (the conservative side).
        parent_lease: None,
        // Durable: its LOCK sequences are checked (§3.3.5.14); the entries of before the
        // restart are not journalled, so a replayed LOCK of then is run again.
        lock_sequences: {
            let mut s = super::lock::LockSequences::default();
            s.verify = true;
            s
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto_smb2::cmd::FileId as SmbFileId;

    fn sample() -> Durable {
        Durable {
            lock_open: OpenId(7),
            file: FileId(0xABCD),
            share_id: 1,
            client: [3; 16],
            create_guid: Some([4; 16]),
            timeout: Duration::from_secs(60),
            user: "alice".into(),
            lease_key: None,
            name: "dir\\f.txt".into(),
            saved: Saved {
                handle: vec![1, 2, 3],
                parent: Some(vec![9]),
                disk_name: b"f.txt".to_vec(),
                components: vec!["dir".into(), "f.txt".into()],
                access: 0x12019F,
                share_access: 7,
                options: 0x40,
                is_dir: false,
            },
        }
    }

    #[test]
    fn records_round_trip_and_garbage_is_refused() {
        for r in [
            Record::Granted {
                volatile: 5,
                open: Box::new(sample()),
            },
            Record::Gone { volatile: 5 },
        ] {
            let b = r.to_bytes();
            assert_eq!(b[0], TAG_SMB_DURABLE);
            assert_eq!(Record::from_bytes(&b[1..]), Some(r.clone()));
            // Every truncation and a trailing byte are refused.
            for cut in 1..b.len() - 1 {
                assert_eq!(Record::from_bytes(&b[1..cut]), None, "cut {cut}");
            }
            let mut long = b[1..].to_vec();
            long.push(0);
            assert_eq!(Record::from_bytes(&long), None);
        }
        assert_eq!(Record::from_bytes(&[9]), None);
    }

    #[test]
    fn context_combinations_follow_ms_smb2() {
        let fid = SmbFileId {
            persistent: 5,
            volatile: 5,
        };
        let dhnq = RequestContext::DurableHandleRequest;
        let dhnc = RequestContext::DurableHandleReconnect(fid);
        let dh2q = RequestContext::DurableHandleRequestV2 {
            timeout: 0,
            flags: DHANDLE_FLAG_PERSISTENT,
            create_guid: [1; 16],
        };
        let dh2c = RequestContext::DurableHandleReconnectV2 {
            file_id: fid,
            create_guid: [1; 16],
            flags: 0,
        };
        let v3 = 0x0311;
        assert_eq!(ask_of(&[], v3), Ok(Ask::None));
        assert_eq!(ask_of(std::slice::from_ref(&dhnq), v3), Ok(Ask::V1));
        assert_eq!(
            ask_of(&[dhnq.clone(), dhnc.clone()], v3),
            Ok(Ask::Reconnect {
                persistent: 5,
                create_guid: None
            })
        );
        for bad in [
            vec![dhnc.clone(), dh2q.clone()],
            vec![dhnc.clone(), dh2c.clone()],
            vec![dh2c.clone(), dhnq.clone()],
            vec![dh2q.clone(), dhnq.clone()],
        ] {
            assert_eq!(ask_of(&bad, v3), Err(NtStatus::INVALID_PARAMETER));
        }
        assert_eq!(
            ask_of(&[dh2q.clone(), dh2c.clone()], v3),
            Err(NtStatus::INVALID_PARAMETER)
        );
        assert_eq!(
            ask_of(std::slice::from_ref(&dh2c), v3),
            Ok(Ask::Reconnect {
                persistent: 5,
                create_guid: Some([1; 16])
            })
        );
        assert_eq!(
            ask_of(std::slice::from_ref(&dh2q), v3),
            Ok(Ask::V2 {
                timeout: 0,
                create_guid: [1; 16]
            })
        );
        // SMB 2.1: the v2 contexts are not for it.
        assert_eq!(ask_of(std::slice::from_ref(&dh2q), 0x0210), Ok(Ask::None));
        assert_eq!(ask_of(&[dh2q, dhnq], 0x0210), Ok(Ask::V1));
        // Timeouts: the default for 0, capped at 300 s.
        let v2 = |timeout| Ask::V2 {
            timeout,
            create_guid: [0; 16],
        };
        assert_eq!(timeout_of(v2(0)), V2_DEFAULT_TIMEOUT);
        assert_eq!(timeout_of(v2(5_000)), Duration::from_secs(5));
        assert_eq!(timeout_of(v2(u32::MAX)), V2_MAX_TIMEOUT);
        assert_eq!(timeout_of(Ask::V1), V1_TIMEOUT);
    }
}
