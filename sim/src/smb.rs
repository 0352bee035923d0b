//! A simulated SMB client: one TCP connection to the server's SMB listener, a session logged
//! on with NTLMv2 ([`proto_smb2::client`]), one tree connect, and a few handles on the shared
//! files `f0..` (the files the NLM clients lock), opened with random access and share modes,
//! written and read back in a region of each file that only this client writes, and closed.
//!
//! Sans-IO like [`crate::client::Host`]: the world hands it whole SMB2 messages (the NBSS
//! frame taken off) and time; it answers with messages to send ([`SmbClient::out`]) and tells
//! the [`Checker`] what it was told. One request is in flight at a time (plus the interim
//! STATUS_PENDING answer of one that went async). When its connection is cut, or the server
//! crashes, its handles are gone (none is durable) and it logs on again after a pause.
//!
//! It also takes byte-range locks (SMB2 LOCK, MS-SMB2 §3.3.5.14) in the low bytes of the
//! files, where the NLM clients lock: one or two elements with FAIL_IMMEDIATELY, or one that
//! may wait (STATUS_PENDING), CANCELled if it waits too long; and unlocks them. A server
//! that answers LOCK with STATUS_NOT_SUPPORTED gets no more of them.
//!
//! Its CREATEs ask for a lease (v1: one key per client and file, so its handles of a file
//! share it) or an oplock (Batch or Level II), or neither; a server that grants none (as
//! main did before leases) is fine. Break notifications are acknowledged at once mostly,
//! sometimes late (past the 35 s break timeout), wrongly (more than the break offered) or
//! never.
//!
//! What it lets the checker verify (see [`crate::check`], rules 1 and 6–10): share modes are
//! never violated between handles of any clients; data a WRITE acknowledged is what a later
//! READ of the region returns; an SMB READ or WRITE never goes through a byte-range lock
//! another client was told it holds (NLM locks are mandatory to SMB I/O,
//! docs/cross-protocol.md O2); an SMB lock granted never conflicts with a lock any client,
//! NLM or SMB, believes it holds; a waiting LOCK ends (granted or cancelled).

use std::collections::VecDeque;

use bytes::Bytes;
use proto_smb2::client as smbc;
use proto_smb2::cmd::lock::lock_flags;
use proto_smb2::cmd::negotiate::dialect;
use proto_smb2::cmd::{
    CancelRequest, CloseRequest, CreateResponse, FileId, LeaseRequest, LockElement, LockRequest,
    OplockBreak, ReadRequest, ReadResponse, RequestContext, SessionSetupRequest,
    TreeConnectRequest, WriteRequest, WriteResponse,
};
use proto_smb2::{Command, Header, HeaderId, NtStatus};

use crate::check::Checker;
use crate::model::{Owner, Range};
use crate::rng::Rng;
use crate::trace;
use crate::trace::Micros;

/// The SMB user the clients log on as (the world configures it on the server).
pub const USER: &str = "simuser";
/// Its password.
pub const PASSWORD: &str = "sim-password";
/// Bytes of each shared file that one SMB client owns for its data checks: client `i`
/// writes `[i * REGION, (i + 1) * REGION)` only.
pub const REGION: u64 = 512;
/// Locks are taken in `[0, LOCK_SPAN)`, where the NLM clients lock too.
pub const LOCK_SPAN: u64 = 64;
/// A request that waits (STATUS_PENDING) longer than this is CANCELled.
const LOCK_PATIENCE: Micros = 8_000_000;
/// A request still unanswered this long after its CANCEL is a violation.
const CANCEL_DEADLINE: Micros = 30_000_000;
/// FILETIME of the NTLMv2 blob (any fixed value: the server does not check it).
const NTLM_TIME: u64 = 133_500_000_000_000_000;

const FILE_READ_DATA: u32 = 0x1;
const FILE_WRITE_DATA: u32 = 0x2;
const FILE_READ_ATTRIBUTES: u32 = 0x80;
const SYNCHRONIZE: u32 = 0x0010_0000;
const FILE_OPEN: u32 = 1;
const NON_DIRECTORY_FILE: u32 = 0x40;

/// The lease a CREATE response grants: key, state and flags from its RqLs context (MS-SMB2
/// 2.2.14.2.10/.11: LeaseKey, LeaseState, Flags first).
fn lease_granted(r: &CreateResponse) -> Option<([u8; 16], u32, u32)> {
    let c = r.contexts.iter().find(|c| c.name == b"RqLs")?;
    let d = c.data.get(..24)?;
    let mut key = [0u8; 16];
    key.copy_from_slice(&d[..16]);
    let le = |i: usize| u32::from_le_bytes([d[i], d[i + 1], d[i + 2], d[i + 3]]);
    Some((key, le(16), le(20)))
}

/// SMB2_LEASE_FLAG_BREAK_IN_PROGRESS (MS-SMB2 2.2.14.2.10).
const LEASE_BREAK_IN_PROGRESS: u32 = 0x2;

/// The checker owner numbers of SMB client `i`'s locks are `SMB_OWNER_BASE + i`.
pub const SMB_OWNER_BASE: usize = 1000;

/// An open handle as the client knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handle {
    /// File index (`f{file}`).
    pub file: usize,
    /// The server's FileId.
    pub fid: FileId,
    /// DesiredAccess.
    pub access: u32,
    /// ShareAccess.
    pub share: u32,
    /// Opened with a lease request (its caching is the client's lease of the file).
    pub lease: bool,
    /// A durable handle (DHnQ granted): it outlives its connection until reconnected.
    pub durable: bool,
}

/// Whose caching a lease or oplock is, for the checker (rule 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CacheKey {
    /// The lease of client `.0` on file `.1`.
    Lease(usize, usize),
    /// The oplock of one handle (its FileId's volatile part) of client `.0`.
    Oplock(usize, u64),
}

/// SMB2_OPLOCK_LEVEL_II, _EXCLUSIVE, _BATCH, _LEASE (MS-SMB2 2.2.13).
const OPLOCK_II: u8 = 0x01;
const OPLOCK_EXCLUSIVE: u8 = 0x08;
const OPLOCK_BATCH: u8 = 0x09;
const OPLOCK_LEASE: u8 = 0xff;
/// Lease state bits (MS-SMB2 2.2.13.2.8).
const LEASE_W: u32 = 0x4;
const LEASE_RWH: u32 = 0x7;
const LEASE_RH: u32 = 0x3;
/// SMB2_GLOBAL_CAP_LEASING.
const CAP_LEASING: u32 = 0x2;

/// A break acknowledgment to send later.
#[derive(Debug, Clone, Copy)]
enum Ack {
    Lease {
        file: usize,
        state: u32,
        prompt: bool,
    },
    Oplock {
        fid: FileId,
        level: u8,
        prompt: bool,
    },
}

#[derive(Debug, Clone)]
enum Req {
    Negotiate,
    Setup1,
    Setup2,
    Tree,
    Create {
        file: usize,
        access: u32,
        share: u32,
        lease: bool,
    },
    /// DHnC of a durable handle after its connection was lost.
    Reconnect {
        h: Handle,
    },
    Write {
        h: Handle,
        offset: u64,
        data: Bytes,
    },
    Read {
        h: Handle,
        offset: u64,
        len: u32,
    },
    Close {
        h: Handle,
    },
    Lock {
        h: Handle,
        /// (offset, length, exclusive) of each element.
        elems: Vec<(u64, u64, bool)>,
    },
    Unlock {
        h: Handle,
    },
}

/// The lease key of client `idx` for file `file`.
fn lease_key(idx: usize, file: usize) -> [u8; 16] {
    let mut k = [0x1e; 16];
    k[0] = idx as u8;
    k[1] = file as u8;
    k
}

/// Whether an oplock level holds W (Exclusive, Batch).
fn oplock_w(level: u8) -> bool {
    matches!(level, OPLOCK_EXCLUSIVE | OPLOCK_BATCH)
}

/// A byte-range lock the client was told it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmbLock {
    /// The handle.
    pub fid: FileId,
    /// File index.
    pub file: usize,
    /// Offset.
    pub offset: u64,
    /// Length (never 0 here).
    pub length: u64,
    /// Exclusive.
    pub excl: bool,
    /// Its owner in the checker's beliefs (each SMB lock is its own owner: SMB locks stack
    /// and never merge, MS-FSA 2.1.5.7).
    pub owner: Owner,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No connection; log on at `.0`.
    Down(Micros),
    /// Logging on (negotiate, session setup, tree connect).
    LogOn,
    /// Logged on.
    Ready,
}

/// See the module documentation.
#[derive(Debug)]
pub struct SmbClient {
    /// Client number (1-based; its address is 10.0.2.`idx`).
    pub idx: usize,
    rng: Rng,
    files: usize,
    /// Connection generation (one per log-on), for the trace.
    pub gen: u32,
    phase: Phase,
    next_mid: u64,
    sid: u64,
    tid: u32,
    auth: Option<smbc::NtlmClient>,
    inflight: Option<(u64, Req, Micros)>,
    handles: Vec<Handle>,
    locks: Vec<SmbLock>,
    next_lock_owner: u32,
    lock_supported: bool,
    /// The AsyncId of the request in flight if it went async, and when to CANCEL it.
    pending: Option<(u64, Micros)>,
    /// When the CANCEL was sent.
    cancelled_at: Option<Micros>,
    /// The client's lease state per file (while it has handles opened with a lease).
    leases: std::collections::BTreeMap<usize, u32>,
    /// Oplock level per handle (volatile FileId).
    oplocks: std::collections::BTreeMap<u64, u8>,
    /// Acknowledgments to send at a time.
    acks_due: Vec<(Micros, Ack)>,
    /// Acknowledgments sent and not answered, by MessageId.
    acks_out: std::collections::BTreeSet<u64>,
    /// Durable handles whose connection was lost, to reconnect after the next log-on.
    orphans: Vec<Handle>,
    /// A break notification for the handle being reconnected that came before the
    /// reconnect's response: it applies once the handle is back.
    early_break: Option<Vec<u8>>,
    next_at: Micros,
    /// Per file, the bytes of this client's region as acknowledged WRITEs left them (`None`:
    /// never written, or a WRITE whose outcome is unknown touched it).
    content: Vec<Vec<Option<u8>>>,
    /// Messages to send (whole SMB2 messages; the world adds the NBSS header).
    pub out: VecDeque<Bytes>,
}

impl SmbClient {
    /// A client that logs on at `start`.
    pub fn new(idx: usize, files: usize, rng: Rng, start: Micros) -> SmbClient {
        SmbClient {
            idx,
            rng,
            files,
            gen: 0,
            phase: Phase::Down(start),
            next_mid: 0,
            sid: 0,
            tid: 0,
            auth: None,
            inflight: None,
            handles: Vec::new(),
            locks: Vec::new(),
            next_lock_owner: 0,
            lock_supported: true,
            pending: None,
            cancelled_at: None,
            leases: std::collections::BTreeMap::new(),
            oplocks: std::collections::BTreeMap::new(),
            acks_due: Vec::new(),
            acks_out: std::collections::BTreeSet::new(),
            orphans: Vec::new(),
            early_break: None,
            next_at: start,
            content: vec![vec![None; REGION as usize]; files],
            out: VecDeque::new(),
        }
    }

    /// When the client next wants to act.
    pub fn next_timer(&self) -> Option<Micros> {
        let ack = self.acks_due.iter().map(|(t, _)| *t).min();
        let own = self.own_timer();
        match (ack, own) {
            (Some(a), Some(o)) => Some(a.min(o)),
            (a, o) => a.or(o),
        }
    }

    fn own_timer(&self) -> Option<Micros> {
        match self.phase {
            Phase::Down(at) => Some(at),
            Phase::LogOn => None,
            Phase::Ready if self.inflight.is_none() => Some(self.next_at),
            Phase::Ready => match (self.pending, self.cancelled_at) {
                (Some((_, at)), None) => Some(at),
                (_, Some(c)) => Some(c + CANCEL_DEADLINE),
                _ => None,
            },
        }
    }

    /// Whether the client wants its connection (the world opens one on the first send).
    pub fn connected(&self) -> bool {
        !matches!(self.phase, Phase::Down(_))
    }

    fn build(&mut self, command: Command, body: impl FnOnce(&mut Vec<u8>)) -> (u64, Bytes) {
        let mid = self.next_mid;
        self.next_mid += 1;
        let h = Header {
            credit_charge: 1,
            status: NtStatus::SUCCESS,
            command,
            credits: 16,
            flags: 0,
            next_command: 0,
            message_id: mid,
            id: HeaderId::Sync {
                process_id: 0xfeff,
                tree_id: self.tid,
            },
            session_id: self.sid,
            signature: [0; 16],
        };
        let mut m = Vec::new();
        h.encode(&mut m);
        body(&mut m);
        (mid, Bytes::from(m))
    }

    fn send(&mut self, now: Micros, command: Command, req: Req, body: impl FnOnce(&mut Vec<u8>)) {
        let (mid, m) = self.build(command, body);
        self.inflight = Some((mid, req, now));
        self.out.push_back(m);
    }

    /// Timer: log on, or do the next thing.
    pub fn on_timer(&mut self, now: Micros, ck: &mut Checker) {
        self.send_due_acks(now, ck);
        if self.own_timer().is_none_or(|t| t > now) {
            return;
        }
        match self.phase {
            Phase::Down(at) if at <= now => self.log_on(now, ck),
            Phase::Ready if self.inflight.is_none() && self.next_at <= now => self.act(now, ck),
            Phase::Ready => self.waiting_too_long(now, ck),
            _ => {}
        }
    }

    fn log_on(&mut self, now: Micros, ck: &mut Checker) {
        self.gen += 1;
        self.phase = Phase::LogOn;
        self.next_mid = 0;
        self.sid = 0;
        self.tid = 0;
        trace!(
            ck.trace,
            now,
            "s{} connects (log-on {})",
            self.idx,
            self.gen
        );
        let mut guid = [0u8; 16];
        guid[0] = self.idx as u8;
        guid[1] = 0x5b;
        let neg = smbc::negotiate_request(&[dialect::SMB210], &[], CAP_LEASING, guid, [0; 32]);
        self.send(now, Command::NEGOTIATE, Req::Negotiate, |o| neg.encode(o));
    }

    fn act(&mut self, now: Micros, ck: &mut Checker) {
        self.next_at = now + self.rng.range(200_000, 2_500_000);
        let r = self.rng.below(100);
        let writable: Vec<Handle> = self
            .handles
            .iter()
            .copied()
            .filter(|h| h.access & FILE_WRITE_DATA != 0)
            .collect();
        let readable: Vec<Handle> = self
            .handles
            .iter()
            .copied()
            .filter(|h| h.access & FILE_READ_DATA != 0)
            .collect();
        if self.handles.is_empty() || (r < 25 && self.handles.len() < 3) {
            let file = self.rng.below(self.files as u64) as usize;
            let access = [
                FILE_READ_DATA,
                FILE_READ_DATA | FILE_WRITE_DATA,
                FILE_WRITE_DATA,
                FILE_READ_ATTRIBUTES,
            ][self.rng.below(4) as usize]
                | SYNCHRONIZE
                | FILE_READ_ATTRIBUTES;
            let share = [7, 1, 3, 0, 7, 5][self.rng.below(6) as usize];
            let mut req = smbc::create_request(
                &format!("f{file}"),
                access,
                share,
                FILE_OPEN,
                NON_DIRECTORY_FILE,
            );
            let lease = self.rng.chance(450);
            if lease {
                req.requested_oplock_level = OPLOCK_LEASE;
                let state = [LEASE_RWH, LEASE_RH, 0x1, 0x5][self.rng.below(4) as usize];
                req.contexts.push(
                    RequestContext::Lease(LeaseRequest {
                        lease_key: lease_key(self.idx, file),
                        lease_state: state,
                        flags: 0,
                        v2: None,
                    })
                    .to_context(),
                );
            } else if self.rng.chance(500) {
                req.requested_oplock_level = if self.rng.chance(600) {
                    OPLOCK_BATCH
                } else {
                    OPLOCK_II
                };
                // A durable handle comes only with a Batch oplock (or an H lease).
                if req.requested_oplock_level == OPLOCK_BATCH && self.rng.chance(700) {
                    req.contexts
                        .push(RequestContext::DurableHandleRequest.to_context());
                }
            }
            trace!(
                ck.trace,
                now,
                "s{} CREATE f{file} access {access:#x} share {share} oplock {:#x}",
                self.idx,
                req.requested_oplock_level
            );
            self.send(
                now,
                Command::CREATE,
                Req::Create {
                    file,
                    access,
                    share,
                    lease,
                },
                |o| req.encode(o),
            );
        } else if r < 55 && !writable.is_empty() {
            let h = writable[self.rng.below(writable.len() as u64) as usize];
            let off = self.rng.below(REGION - 1);
            let len = self.rng.range(1, (REGION - off).min(64));
            let data: Vec<u8> = (0..len).map(|_| self.rng.next_u64() as u8).collect();
            let offset = self.idx as u64 * REGION + off;
            trace!(
                ck.trace,
                now,
                "s{} WRITE f{} @{offset}+{len}",
                self.idx,
                h.file
            );
            let data = Bytes::from(data);
            let req = WriteRequest {
                offset,
                file_id: h.fid,
                channel: 0,
                remaining_bytes: 0,
                channel_info: Vec::new(),
                flags: 0,
                data: data.clone(),
            };
            self.send(now, Command::WRITE, Req::Write { h, offset, data }, |o| {
                req.encode(o)
            });
        } else if r < 80 && !readable.is_empty() {
            let h = readable[self.rng.below(readable.len() as u64) as usize];
            let off = self.rng.below(REGION - 1);
            let len = self.rng.range(1, (REGION - off).min(128)) as u32;
            let offset = self.idx as u64 * REGION + off;
            trace!(
                ck.trace,
                now,
                "s{} READ f{} @{offset}+{len}",
                self.idx,
                h.file
            );
            let req = ReadRequest {
                padding: 0x50,
                flags: 0,
                length: len,
                offset,
                file_id: h.fid,
                minimum_count: 0,
                channel: 0,
                remaining_bytes: 0,
                channel_info: Vec::new(),
            };
            self.send(now, Command::READ, Req::Read { h, offset, len }, |o| {
                req.encode(o)
            });
        } else if r < 93 && self.lock_supported {
            if !self.locks.is_empty() && self.rng.chance(400) {
                self.unlock(now, ck);
            } else {
                self.lock(now, ck);
            }
        } else {
            let i = self.rng.below(self.handles.len() as u64) as usize;
            let h = self.handles.remove(i);
            // From now on the client no longer relies on the handle nor its locks.
            ck.smb_closing(self.idx, h.fid);
            for l in self.locks.iter().filter(|l| l.fid == h.fid) {
                ck.smb_lock_released(l.owner, l.file, Range::nlm(l.offset, l.length));
            }
            self.locks.retain(|l| l.fid != h.fid);
            if self.oplocks.remove(&h.fid.volatile).is_some() {
                ck.smb_caching(CacheKey::Oplock(self.idx, h.fid.volatile), h.file, false);
            }
            if h.lease && !self.handles.iter().any(|o| o.file == h.file && o.lease) {
                self.leases.remove(&h.file);
                ck.smb_caching(CacheKey::Lease(self.idx, h.file), h.file, false);
            }
            trace!(ck.trace, now, "s{} CLOSE f{}", self.idx, h.file);
            self.send(now, Command::CLOSE, Req::Close { h }, |o| {
                CloseRequest {
                    flags: 0,
                    file_id: h.fid,
                }
                .encode(o)
            });
        }
    }

    /// A LOCK of one or two elements on a handle, in ranges that do not overlap the
    /// client's own locks on the file (so each belief stands for one lock).
    fn lock(&mut self, now: Micros, ck: &mut Checker) {
        let h = self.handles[self.rng.below(self.handles.len() as u64) as usize];
        let n = if self.rng.chance(300) { 2 } else { 1 };
        let mut elems: Vec<(u64, u64, bool)> = Vec::new();
        for _ in 0..n {
            let off = self.rng.below(LOCK_SPAN - 1);
            let len = self.rng.range(1, (LOCK_SPAN - off).min(16));
            let r = Range::nlm(off, len);
            let clash = self
                .locks
                .iter()
                .any(|l| l.file == h.file && Range::nlm(l.offset, l.length).overlaps(&r))
                || elems
                    .iter()
                    .any(|(o, l, _)| Range::nlm(*o, *l).overlaps(&r));
            if !clash {
                elems.push((off, len, self.rng.chance(500)));
            }
        }
        if elems.is_empty() {
            return;
        }
        // MS-SMB2 3.3.5.14: only a request of one element may wait.
        let fail = elems.len() > 1 || self.rng.chance(600);
        let locks = elems
            .iter()
            .map(|&(offset, length, excl)| LockElement {
                offset,
                length,
                flags: if excl {
                    lock_flags::EXCLUSIVE_LOCK
                } else {
                    lock_flags::SHARED_LOCK
                } | if fail {
                    lock_flags::FAIL_IMMEDIATELY
                } else {
                    0
                },
            })
            .collect();
        trace!(
            ck.trace,
            now,
            "s{} LOCK f{} {elems:?}{}",
            self.idx,
            h.file,
            if fail { "" } else { " may wait" }
        );
        let req = LockRequest {
            lock_sequence: 0,
            file_id: h.fid,
            locks,
        };
        self.send(now, Command::LOCK, Req::Lock { h, elems }, |o| {
            req.encode(o)
        });
    }

    fn unlock(&mut self, now: Micros, ck: &mut Checker) {
        // Only locks of handles at hand (not of a durable handle waiting to reconnect).
        let mine: Vec<usize> = (0..self.locks.len())
            .filter(|i| self.handles.iter().any(|h| h.fid == self.locks[*i].fid))
            .collect();
        if mine.is_empty() {
            return;
        }
        let i = mine[self.rng.below(mine.len() as u64) as usize];
        let l = self.locks.remove(i);
        let Some(h) = self.handles.iter().copied().find(|h| h.fid == l.fid) else {
            return;
        };
        // From now on the client no longer relies on the range.
        ck.smb_lock_released(l.owner, l.file, Range::nlm(l.offset, l.length));
        trace!(
            ck.trace,
            now,
            "s{} UNLOCK f{} @{}+{}",
            self.idx,
            l.file,
            l.offset,
            l.length
        );
        let req = LockRequest {
            lock_sequence: 0,
            file_id: h.fid,
            locks: vec![LockElement {
                offset: l.offset,
                length: l.length,
                flags: lock_flags::UNLOCK,
            }],
        };
        self.send(now, Command::LOCK, Req::Unlock { h }, |o| req.encode(o));
    }

    /// A request that went async: CANCEL it when it waited too long; a CANCELled one must
    /// end within [`CANCEL_DEADLINE`].
    fn waiting_too_long(&mut self, now: Micros, ck: &mut Checker) {
        let Some((async_id, at)) = self.pending else {
            return;
        };
        if let Some(c) = self.cancelled_at {
            if now >= c + CANCEL_DEADLINE {
                ck.violation(format!(
                    "s{}: a request cancelled at {} never completed",
                    self.idx,
                    crate::trace::fmt_time(c)
                ));
                self.cancelled_at = None;
                self.pending = None;
            }
            return;
        }
        if now < at {
            return;
        }
        let Some((mid, _, _)) = self.inflight.as_ref() else {
            return;
        };
        let h = Header {
            credit_charge: 0,
            status: NtStatus::SUCCESS,
            command: Command::CANCEL,
            credits: 0,
            flags: 0,
            next_command: 0,
            message_id: *mid,
            id: HeaderId::Async { async_id },
            session_id: self.sid,
            signature: [0; 16],
        };
        let mut m = Vec::new();
        h.encode(&mut m);
        CancelRequest.encode(&mut m);
        trace!(ck.trace, now, "s{} CANCEL {mid}", self.idx);
        self.cancelled_at = Some(now);
        self.out.push_back(Bytes::from(m));
    }

    /// Reconnects the next durable handle whose connection was lost (DHnC, MS-SMB2
    /// 3.3.5.9.7), if any.
    fn reconnect_next(&mut self, now: Micros, ck: &mut Checker) {
        if self.inflight.is_some() || self.orphans.is_empty() {
            return;
        }
        let h = self.orphans.remove(0);
        let mut req = smbc::create_request(
            &format!("f{}", h.file),
            h.access,
            h.share,
            FILE_OPEN,
            NON_DIRECTORY_FILE,
        );
        req.requested_oplock_level = OPLOCK_BATCH;
        req.contexts
            .push(RequestContext::DurableHandleReconnect(h.fid).to_context());
        trace!(
            ck.trace,
            now,
            "s{} reconnects f{} {:?}",
            self.idx,
            h.file,
            h.fid
        );
        self.send(now, Command::CREATE, Req::Reconnect { h }, |o| {
            req.encode(o)
        });
    }

    /// The lease or oplock a handle's operations run under.
    fn cache_key(&self, h: &Handle) -> Option<CacheKey> {
        if h.lease {
            Some(CacheKey::Lease(self.idx, h.file))
        } else if self.oplocks.contains_key(&h.fid.volatile) {
            Some(CacheKey::Oplock(self.idx, h.fid.volatile))
        } else {
            None
        }
    }

    /// A break notification (MS-SMB2 3.3.4.6/3.3.4.7): the new state counts from now, but
    /// a client that acknowledges at once keeps W in the checker's eyes until it sends the
    /// acknowledgment (the server must wait for it); one that answers late, wrongly or
    /// never gives W up now (the server may time the break out first).
    fn on_break(&mut self, now: Micros, msg: &[u8], ck: &mut Checker) {
        let idx = self.idx;
        let b = match OplockBreak::decode(msg) {
            Ok(b) => b,
            Err(e) => {
                ck.violation(format!("s{idx}: undecodable break notification: {e}"));
                return;
            }
        };
        ck.stats.smb_breaks += 1;
        // How this client answers: at once, late, wrongly or never.
        let r = self.rng.below(100);
        let delay = if r < 80 {
            Some(self.rng.range(100, 50_000))
        } else if r < 88 {
            Some(self.rng.range(36_000_000, 45_000_000))
        } else {
            None
        };
        let wrong = (88..93).contains(&r);
        match b {
            OplockBreak::LeaseNotification {
                flags,
                lease_key: key,
                current_lease_state,
                new_lease_state,
                ..
            } => {
                let file = key[1] as usize;
                trace!(
                    ck.trace,
                    now,
                    "s{idx} lease break f{file} {current_lease_state:#x} -> {new_lease_state:#x} (flags {flags:#x})"
                );
                if key[0] as usize != idx || file >= self.files {
                    ck.violation(format!("s{idx}: a lease break for a key it never used"));
                    return;
                }
                if new_lease_state & !current_lease_state != 0 {
                    ck.violation(format!(
                        "s{idx}: lease break f{file} to {new_lease_state:#x}, not a subset of {current_lease_state:#x}"
                    ));
                }
                if !self.leases.contains_key(&file) {
                    // Its handles were closed meanwhile: the break crossed the CLOSE.
                    return;
                }
                self.leases.insert(file, new_lease_state);
                let keep_w = flags & 1 != 0 && delay.is_some_and(|d| d < 1_000_000) && !wrong;
                if !keep_w {
                    // Even a break that leaves W (RWH -> RW) ends in NONE when its ack comes
                    // too late: the server times it out (MS-SMB2 3.3.6.5).
                    ck.smb_caching(CacheKey::Lease(idx, file), file, false);
                }
                if flags & 1 != 0 {
                    if let Some(d) = delay {
                        let state = if wrong {
                            current_lease_state
                        } else {
                            new_lease_state
                        };
                        self.acks_due.push((
                            now + d,
                            Ack::Lease {
                                file,
                                state,
                                prompt: keep_w,
                            },
                        ));
                    }
                }
            }
            OplockBreak::Oplock {
                oplock_level,
                file_id,
            } => {
                trace!(
                    ck.trace,
                    now,
                    "s{idx} oplock break {file_id:?} to {oplock_level:#x}"
                );
                let Some(old) = self.oplocks.get(&file_id.volatile).copied() else {
                    // The handle being reconnected: the server may send the break before
                    // the reconnect's response; it applies once the handle is back.
                    if matches!(&self.inflight, Some((_, Req::Reconnect { h }, _)) if h.fid == file_id)
                    {
                        trace!(
                            ck.trace,
                            now,
                            "s{idx} break before its reconnect's answer: kept"
                        );
                        self.early_break = Some(msg.to_vec());
                    }
                    return;
                };
                let Some(h) = self.handles.iter().copied().find(|h| h.fid == file_id) else {
                    return;
                };
                self.oplocks.insert(file_id.volatile, oplock_level);
                let ack = oplock_w(old);
                let keep_w = ack && delay.is_some_and(|d| d < 1_000_000) && !wrong;
                if !keep_w {
                    ck.smb_caching(CacheKey::Oplock(idx, file_id.volatile), h.file, false);
                }
                if ack {
                    if let Some(d) = delay {
                        let level = if wrong { old } else { oplock_level };
                        self.acks_due.push((
                            now + d,
                            Ack::Oplock {
                                fid: file_id,
                                level,
                                prompt: keep_w,
                            },
                        ));
                    }
                }
            }
            other => ck.violation(format!(
                "s{idx}: unexpected OPLOCK_BREAK from the server: {other:?}"
            )),
        }
    }

    fn send_due_acks(&mut self, now: Micros, ck: &mut Checker) {
        if !matches!(self.phase, Phase::Ready) {
            return;
        }
        let (due, later): (Vec<_>, Vec<_>) = self.acks_due.drain(..).partition(|(t, _)| *t <= now);
        self.acks_due = later;
        for (_, a) in due {
            let body = match a {
                Ack::Lease {
                    file,
                    state,
                    prompt,
                } => {
                    // From now on the client no longer caches what it gave up (after a late
                    // or wrong answer, nothing: the break times out to NONE).
                    let cur = self.leases.get(&file).copied().unwrap_or(0);
                    ck.smb_caching(
                        CacheKey::Lease(self.idx, file),
                        file,
                        prompt && cur & LEASE_W != 0,
                    );
                    OplockBreak::LeaseAck {
                        flags: 0,
                        lease_key: lease_key(self.idx, file),
                        lease_state: state,
                        lease_duration: 0,
                    }
                }
                Ack::Oplock { fid, level, prompt } => {
                    if let Some(h) = self.handles.iter().find(|h| h.fid == fid) {
                        let cur = self.oplocks.get(&fid.volatile).copied().unwrap_or(0);
                        ck.smb_caching(
                            CacheKey::Oplock(self.idx, fid.volatile),
                            h.file,
                            prompt && oplock_w(cur),
                        );
                    }
                    OplockBreak::Oplock {
                        oplock_level: level,
                        file_id: fid,
                    }
                }
            };
            let (mid, m) = self.build(Command::OPLOCK_BREAK, |o| body.encode(o));
            trace!(ck.trace, now, "s{} break ack {mid}: {body:?}", self.idx);
            self.acks_out.insert(mid);
            self.out.push_back(m);
        }
    }

    /// The connection is gone (cut, closed by the server, or the server crashed): the
    /// handles are gone with it (none is durable); a WRITE in flight may or may not have
    /// been applied. The client logs on again after a pause.
    pub fn conn_reset(&mut self, now: Micros, ck: &mut Checker) {
        if matches!(self.phase, Phase::Down(_)) {
            return;
        }
        match self.inflight.take() {
            Some((_, Req::Write { h, offset, data }, _)) => self.forget(h.file, offset, data.len()),
            Some((_, Req::Reconnect { h }, _)) => self.orphans.push(h),
            _ => {}
        }
        let (durable, gone): (Vec<Handle>, Vec<Handle>) =
            self.handles.drain(..).partition(|h| h.durable);
        for h in gone {
            self.locks.retain(|l| l.fid != h.fid);
        }
        self.orphans.extend(durable);
        self.pending = None;
        self.cancelled_at = None;
        self.leases.clear();
        self.oplocks.clear();
        self.acks_due.clear();
        self.acks_out.clear();
        ck.smb_conn_lost(self.idx);
        self.auth = None;
        let at = now + self.rng.range(300_000, 3_000_000);
        self.phase = Phase::Down(at);
        trace!(ck.trace, now, "s{} connection lost", self.idx);
    }

    fn forget(&mut self, file: usize, offset: u64, len: usize) {
        let base = (offset - self.idx as u64 * REGION) as usize;
        for b in &mut self.content[file][base..base + len] {
            *b = None;
        }
    }

    /// One message from the server (a response; interim STATUS_PENDING answers are noted).
    pub fn handle_message(&mut self, now: Micros, msg: &[u8], ck: &mut Checker) {
        let Ok(hdr) = Header::decode(msg) else {
            ck.violation(format!(
                "s{}: undecodable SMB2 message from the server",
                self.idx
            ));
            return;
        };
        if hdr.command == Command::OPLOCK_BREAK && hdr.message_id == u64::MAX {
            self.on_break(now, msg, ck);
            return;
        }
        if self.acks_out.remove(&hdr.message_id) {
            trace!(
                ck.trace,
                now,
                "s{} break ack {} answered {:?}",
                self.idx,
                hdr.message_id,
                hdr.status
            );
            return;
        }
        if hdr.status == NtStatus::PENDING {
            if let HeaderId::Async { async_id } = hdr.id {
                trace!(
                    ck.trace,
                    now,
                    "s{} STATUS_PENDING for {}",
                    self.idx,
                    hdr.message_id
                );
                if self.pending.is_none() {
                    self.pending = Some((async_id, now + LOCK_PATIENCE));
                }
                return;
            }
        }
        self.pending = None;
        let was_cancelled = self.cancelled_at.take().is_some();
        let Some((mid, req, sent)) = self.inflight.take() else {
            ck.violation(format!(
                "s{}: response {} with nothing in flight",
                self.idx, hdr.message_id
            ));
            return;
        };
        if mid != hdr.message_id {
            ck.violation(format!(
                "s{}: response to message {} while {mid} is in flight",
                self.idx, hdr.message_id
            ));
            return;
        }
        let st = hdr.status;
        let idx = self.idx;
        if was_cancelled && st == NtStatus::CANCELLED {
            // Any request that went async and waited too long was CANCELled: it ends so.
            ck.stats.smb_cancelled += 1;
            trace!(ck.trace, now, "s{idx} request {mid} cancelled");
            if let Req::Write { h, offset, data } = req {
                self.forget(h.file, offset, data.len());
            }
            return;
        }
        match req {
            Req::Negotiate => {
                if st != NtStatus::SUCCESS {
                    ck.violation(format!("s{idx}: NEGOTIATE answered {st:?}"));
                    return;
                }
                let auth = smbc::NtlmClient::new(
                    smbc::DEFAULT_NTLM_FLAGS,
                    smbc::Credentials::password(USER, "WORKGROUP", "SIMCLIENT", PASSWORD),
                    smbc::ClientInputs {
                        time: NTLM_TIME,
                        client_challenge: [self.gen as u8; 8],
                        random_session_key: [idx as u8 ^ 0x5a; 16],
                    },
                );
                let ss = auth.session_setup(1, 0);
                self.auth = Some(auth);
                self.send(now, Command::SESSION_SETUP, Req::Setup1, |o| ss.encode(o));
            }
            Req::Setup1 => {
                if st != NtStatus::MORE_PROCESSING_REQUIRED {
                    ck.violation(format!("s{idx}: first SESSION_SETUP answered {st:?}"));
                    return;
                }
                self.sid = hdr.session_id;
                let Some(auth) = self.auth.as_ref() else {
                    return;
                };
                match auth.answer(msg) {
                    Ok(logon) => {
                        let ss = SessionSetupRequest {
                            security_buffer: logon.token,
                            ..auth.session_setup(1, 0)
                        };
                        self.send(now, Command::SESSION_SETUP, Req::Setup2, |o| ss.encode(o));
                    }
                    Err(e) => ck.violation(format!("s{idx}: cannot answer the challenge: {e}")),
                }
            }
            Req::Setup2 => {
                if st != NtStatus::SUCCESS {
                    ck.violation(format!("s{idx}: SESSION_SETUP answered {st:?}"));
                    return;
                }
                let tc = TreeConnectRequest {
                    flags: 0,
                    path: "\\\\janus\\export".encode_utf16().collect(),
                    extension: None,
                };
                self.send(now, Command::TREE_CONNECT, Req::Tree, |o| tc.encode(o));
            }
            Req::Tree => {
                if st != NtStatus::SUCCESS {
                    ck.violation(format!("s{idx}: TREE_CONNECT answered {st:?}"));
                    return;
                }
                self.tid = hdr.tree_id().unwrap_or(0);
                self.phase = Phase::Ready;
                self.next_at = now;
                trace!(ck.trace, now, "s{idx} logged on (session {:#x})", self.sid);
                self.reconnect_next(now, ck);
            }
            Req::Create {
                file,
                access,
                share,
                lease,
            } => {
                if st == NtStatus::SUCCESS {
                    match CreateResponse::decode(msg) {
                        Ok(r) => {
                            let durable = r.contexts.iter().any(|c| c.name == b"DHnQ");
                            if durable {
                                ck.stats.smb_durable += 1;
                            }
                            let h = Handle {
                                file,
                                fid: r.file_id,
                                access,
                                share,
                                lease,
                                durable,
                            };
                            let own = lease.then_some(CacheKey::Lease(idx, file));
                            if access & (FILE_READ_DATA | FILE_WRITE_DATA) != 0 {
                                ck.smb_no_foreign_w(idx, file, own, "a data open");
                            }
                            ck.smb_opened(idx, h);
                            self.handles.push(h);
                            let granted = lease_granted(&r);
                            trace!(
                                ck.trace,
                                now,
                                "s{idx} opened f{file} {:?} oplock {:#x} lease {granted:?}",
                                r.file_id,
                                r.oplock_level
                            );
                            if let Some((key, state, flags)) = granted {
                                if !lease || key != lease_key(idx, file) {
                                    ck.violation(format!(
                                        "s{idx}: a lease context answered a CREATE that asked for none or another key"
                                    ));
                                }
                                // During a break the state is the one being broken: the
                                // client keeps to what the break notification offered.
                                if flags & LEASE_BREAK_IN_PROGRESS == 0 {
                                    self.leases.insert(file, state);
                                    ck.smb_caching(
                                        CacheKey::Lease(idx, file),
                                        file,
                                        state & LEASE_W != 0,
                                    );
                                }
                                if state != 0 {
                                    ck.stats.smb_leases += 1;
                                }
                            } else if r.oplock_level != 0 && r.oplock_level != OPLOCK_LEASE {
                                self.oplocks.insert(r.file_id.volatile, r.oplock_level);
                                ck.smb_caching(
                                    CacheKey::Oplock(idx, r.file_id.volatile),
                                    file,
                                    oplock_w(r.oplock_level),
                                );
                                ck.stats.smb_oplocks += 1;
                            }
                        }
                        Err(e) => ck.violation(format!("s{idx}: CREATE response: {e}")),
                    }
                } else if st == NtStatus::SHARING_VIOLATION {
                    ck.stats.smb_sharing_violations += 1;
                    trace!(ck.trace, now, "s{idx} CREATE f{file}: sharing violation");
                } else {
                    ck.violation(format!("s{idx}: CREATE f{file} answered {st:?}"));
                }
            }
            Req::Write { h, offset, data } => {
                let range = Range::nlm(offset, data.len() as u64);
                if st == NtStatus::SUCCESS {
                    match WriteResponse::decode(msg) {
                        Ok(r) if r.count as usize == data.len() => {
                            let base = (offset - idx as u64 * REGION) as usize;
                            for (i, b) in data.iter().enumerate() {
                                self.content[h.file][base + i] = Some(*b);
                            }
                            ck.stats.smb_writes += 1;
                            ck.smb_io_done(idx, h.file, range, true, sent);
                            let own = self.cache_key(&h);
                            ck.smb_no_foreign_w(idx, h.file, own, "a WRITE");
                        }
                        Ok(r) => {
                            self.forget(h.file, offset, data.len());
                            ck.violation(format!(
                                "s{idx}: WRITE of {} answered count {}",
                                data.len(),
                                r.count
                            ));
                        }
                        Err(e) => ck.violation(format!("s{idx}: WRITE response: {e}")),
                    }
                } else if st == NtStatus(0xC000_0054) {
                    // STATUS_FILE_LOCK_CONFLICT: an NLM (or SMB) lock covers the range.
                    ck.stats.smb_lock_conflicts += 1;
                    trace!(ck.trace, now, "s{idx} WRITE f{}: lock conflict", h.file);
                } else {
                    self.forget(h.file, offset, data.len());
                    ck.violation(format!("s{idx}: WRITE f{} answered {st:?}", h.file));
                }
            }
            Req::Read { h, offset, len } => {
                let range = Range::nlm(offset, u64::from(len));
                if st == NtStatus::SUCCESS || st == NtStatus::END_OF_FILE {
                    let data = if st == NtStatus::SUCCESS {
                        match ReadResponse::decode(&Bytes::copy_from_slice(msg)) {
                            Ok(r) => r.data.to_vec(),
                            Err(e) => {
                                ck.violation(format!("s{idx}: READ response: {e}"));
                                return;
                            }
                        }
                    } else {
                        Vec::new()
                    };
                    let base = (offset - idx as u64 * REGION) as usize;
                    let want = &self.content[h.file][base..base + len as usize];
                    ck.stats.smb_reads_checked += 1;
                    let bad = want.iter().enumerate().find(|(i, w)| match w {
                        Some(b) => data.get(*i) != Some(b),
                        None => false,
                    });
                    if let Some((i, w)) = bad {
                        ck.violation(format!(
                            "s{idx}: READ f{} @{offset}+{len} returned {} bytes; byte {} is {:?}, an acknowledged WRITE left {:?}",
                            h.file,
                            data.len(),
                            offset + i as u64,
                            data.get(i),
                            w
                        ));
                    }
                    ck.smb_io_done(idx, h.file, range, false, sent);
                    let own = self.cache_key(&h);
                    ck.smb_no_foreign_w(idx, h.file, own, "a READ");
                } else if st == NtStatus(0xC000_0054) {
                    ck.stats.smb_lock_conflicts += 1;
                    trace!(ck.trace, now, "s{idx} READ f{}: lock conflict", h.file);
                } else {
                    ck.violation(format!("s{idx}: READ f{} answered {st:?}", h.file));
                }
            }
            Req::Reconnect { h } => {
                if st == NtStatus::SUCCESS {
                    match CreateResponse::decode(msg) {
                        Ok(r) => {
                            let new = Handle {
                                fid: r.file_id,
                                ..h
                            };
                            trace!(
                                ck.trace,
                                now,
                                "s{idx} reconnected f{} {:?} as {:?} oplock {:#x}",
                                h.file,
                                h.fid,
                                r.file_id,
                                r.oplock_level
                            );
                            ck.smb_reconnected(idx, h.fid, new);
                            for l in self.locks.iter_mut().filter(|l| l.fid == h.fid) {
                                l.fid = r.file_id;
                            }
                            if r.oplock_level != 0 && r.oplock_level != OPLOCK_LEASE {
                                self.oplocks.insert(r.file_id.volatile, r.oplock_level);
                                ck.smb_caching(
                                    CacheKey::Oplock(idx, r.file_id.volatile),
                                    h.file,
                                    oplock_w(r.oplock_level),
                                );
                            }
                            self.handles.push(new);
                            if let Some(b) = self.early_break.take() {
                                self.on_break(now, &b, ck);
                            }
                        }
                        Err(e) => ck.violation(format!("s{idx}: reconnect response: {e}")),
                    }
                } else {
                    trace!(
                        ck.trace,
                        now,
                        "s{idx} reconnect of f{} {:?}: {st:?}",
                        h.file,
                        h.fid
                    );
                    ck.smb_orphan_lost(idx, h.fid);
                    self.locks.retain(|l| l.fid != h.fid);
                    self.early_break = None;
                }
                self.reconnect_next(now, ck);
            }
            Req::Close { h } => {
                if st != NtStatus::SUCCESS {
                    ck.violation(format!("s{idx}: CLOSE f{} answered {st:?}", h.file));
                }
            }
            Req::Lock { h, elems } => {
                if st == NtStatus::SUCCESS {
                    if !self.handles.contains(&h) {
                        ck.violation(format!("s{idx}: LOCK granted on a closed handle"));
                        return;
                    }
                    for (offset, length, excl) in elems {
                        self.next_lock_owner += 1;
                        let owner = Owner {
                            host: SMB_OWNER_BASE + idx,
                            boot: self.gen,
                            proc_: self.next_lock_owner,
                        };
                        let l = SmbLock {
                            fid: h.fid,
                            file: h.file,
                            offset,
                            length,
                            excl,
                            owner,
                        };
                        ck.smb_lock_granted(idx, &l);
                        self.locks.push(l);
                    }
                    let own = self.cache_key(&h);
                    ck.smb_no_foreign_w(idx, h.file, own, "a LOCK");
                } else if st == NtStatus::NOT_SUPPORTED {
                    trace!(ck.trace, now, "s{idx}: the server does not support LOCK");
                    self.lock_supported = false;
                } else if st == NtStatus(0xC000_0055)
                    || st == NtStatus(0xC000_0054)
                    || st == NtStatus::CANCELLED
                {
                    // LOCK_NOT_GRANTED, FILE_LOCK_CONFLICT (a retried conflicting range),
                    // or the CANCEL ended it.
                    ck.stats.smb_locks_refused += 1;
                    trace!(ck.trace, now, "s{idx} LOCK f{}: {st:?}", h.file);
                } else {
                    ck.violation(format!("s{idx}: LOCK f{} answered {st:?}", h.file));
                }
            }
            Req::Unlock { h } => {
                if st != NtStatus::SUCCESS && st != NtStatus::NOT_SUPPORTED {
                    ck.violation(format!("s{idx}: UNLOCK f{} answered {st:?}", h.file));
                }
            }
        }
    }
}
