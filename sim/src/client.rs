//! A simulated client host: a Linux-like NLM client (lockd) with a few processes taking,
//! testing, cancelling and releasing POSIX locks, an NSM (statd) that sends SM_NOTIFY after
//! a reboot and reclaims locks when the server announces its restart, an NFS client that
//! mounts, looks files up, writes and reads back, and the host's callback listeners: a
//! portmapper answering GETPORT for the host's NLM and NSM, the NLM port (GRANTED_MSG,
//! GRANTED) and the NSM port (SM_NOTIFY).
//!
//! Sans-IO like the server: the world hands it whole RPC messages and time; it answers with
//! messages to send ([`Host::out`]) and tells the [`Checker`] what its processes were told.
//! Its calls are encoded and its replies decoded with the project's codecs (proto-nfs,
//! proto-nlm): the simulation checks the core's behaviour, not its codecs.

use std::collections::{BTreeMap, VecDeque};

use bytes::{Bytes, BytesMut};
use proto_nfs::mount::{MntResult, MountCall, MountReply};
use proto_nfs::nfs3::{
    CommitArgs, CreateArgs, CreateHow3, DirOpArgs3, FileHandle, Filename3, LookupArgs, Nfs3Call,
    Nfs3Reply, Nfs3Result, ReadArgs, Sattr3, SetTime3, StableHow, WriteArgs,
};
use proto_nfs::portmap::{Mapping, PmapCall, PmapReply};
use proto_nfs::rpc::message::put_success_header;
use proto_nfs::rpc::{
    AcceptStat, AuthSysParms, CallHeader, MessageBody, OpaqueAuth, ProcedureCall, ProcedureReply,
    ReplyBody, RpcMessage,
};
use proto_nfs::xdr::{XdrDecode, XdrEncode};
use proto_nlm::wire::{
    LmString, Netobj, Nlm4CancArgs, Nlm4Lock, Nlm4LockArgs, Nlm4Res, Nlm4Stats, Nlm4TestArgs,
    Nlm4TestRes, Nlm4TestRply, Nlm4UnlockArgs, SmString, StatChge, NLM_PROGRAM, NSM_PROGRAM,
};

use crate::check::{mode, Checker};
use crate::model::{Owner, Range, WireOwner};
use crate::rng::Rng;
use crate::trace;
use crate::trace::Micros;

/// Client-side port of the host's portmapper (RFC 1833).
pub const CLIENT_PMAP_PORT: u16 = 111;
/// Port of the host's NLM callback service.
pub const CLIENT_NLM_PORT: u16 = 4045;
/// Port of the host's NSM (statd).
pub const CLIENT_NSM_PORT: u16 = 4046;
/// Source port of the host's NLM datagrams to the server.
pub const CLIENT_NLM_SRC_PORT: u16 = 800;
/// Source port of the host's NSM datagrams to the server.
pub const CLIENT_NSM_SRC_PORT: u16 = 801;
/// Source port of the host's NFS/MOUNT TCP connections (plus a counter).
pub const CLIENT_NFS_SRC_PORT: u16 = 900;

const NFS_PROGRAM: u32 = 100_003;
const MOUNT_PROGRAM: u32 = 100_005;
const PMAP_PROGRAM: u32 = 100_000;
const NLM_LOCK: u32 = 2;
const NLM_TEST: u32 = 1;
const NLM_CANCEL: u32 = 3;
const NLM_UNLOCK: u32 = 4;
const NLM_GRANTED: u32 = 5;
const NLM_GRANTED_MSG: u32 = 10;
const NLM_GRANTED_RES: u32 = 15;
const SM_NOTIFY: u32 = 6;

/// Re-send a blocked LOCK this often (Linux `NLMCLNT_POLL_TIMEOUT`, 30 s).
const REPOLL: Micros = 30_000_000;
/// Retry after DENIED_GRACE_PERIOD (Linux waits 5 s, `nlmclnt_grace_wait`).
const GRACE_RETRY: Micros = 5_000_000;
/// Retransmission interval of a datagram call.
const RETX_UDP: Micros = 2_000_000;
/// Retransmission interval of a call on a connection (it is also re-sent on reconnect).
const RETX_TCP: Micros = 15_000_000;
/// Size of the host's data file region checked by READ.
const DATA_SPAN: u64 = 2048;

/// How a message leaves the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Chan {
    /// NFS and MOUNT: a TCP connection to the server's NFS port.
    Nfs,
    /// NLM to the server's NFS port: a datagram, or a TCP connection.
    Nlm,
    /// NSM (SM_NOTIFY) to the server: a datagram to the NFS port.
    Nsm,
    /// PORTMAP queries to the server's portmapper (datagram).
    Pmap,
    /// An SMB client's connection to the server's SMB listener (never a host's).
    Smb,
}

/// A message for the world to carry.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Channel.
    pub chan: Chan,
    /// RPC message (no record mark).
    pub msg: Bytes,
}

/// A lock request of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LockReq {
    file: usize,
    offset: u64,
    len: u64,
    excl: bool,
    block: bool,
}

impl LockReq {
    fn range(&self) -> Range {
        Range::nlm(self.offset, self.len)
    }
}

#[derive(Debug, Clone)]
enum Purpose {
    Mount,
    Lookup(usize),
    CreateData,
    Write {
        offset: u64,
        data: Bytes,
        stable: bool,
    },
    Commit,
    Read {
        offset: u64,
        count: u32,
    },
    Lock {
        p: usize,
        req: LockReq,
    },
    Repoll {
        p: usize,
        req: LockReq,
    },
    Unlock {
        p: usize,
        file: usize,
        range: Range,
    },
    Test {
        p: usize,
        req: LockReq,
    },
    Cancel {
        p: usize,
    },
    Reclaim {
        owner: Owner,
        file: usize,
        range: Range,
        excl: bool,
    },
    GrantedRes,
    NotifyServer,
}

#[derive(Debug, Clone)]
struct Call {
    chan: Chan,
    msg: Bytes,
    purpose: Purpose,
    first_sent: Micros,
    next_retx: Micros,
    /// The server's NSM state the client knew when it sent the call (Linux `nlmclnt_lock`
    /// keeps it as "reboot protection").
    server_state: Option<i32>,
}

#[derive(Debug, Clone)]
enum PState {
    /// Next op at the given time (a request to retry, if any).
    Idle { at: Micros, retry: Option<LockReq> },
    /// A call is outstanding.
    InCall { xid: u32 },
    /// BLOCKED: waiting for GRANTED.
    Waiting {
        req: LockReq,
        cancel_at: Micros,
        repoll_at: Micros,
        repoll_xid: Option<u32>,
    },
}

#[derive(Debug, Clone)]
enum NfsState {
    Idle(Micros),
    InCall,
}

/// Workload knobs of a host.
#[derive(Debug, Clone, Copy)]
pub struct HostConfig {
    /// NLM over TCP (else UDP).
    pub nlm_tcp: bool,
    /// Number of locking processes.
    pub procs: usize,
    /// Number of shared lock files.
    pub files: usize,
    /// Largest lock offset.
    pub span: u64,
}

/// See the module documentation.
#[derive(Debug)]
pub struct Host {
    /// Index (1-based; 0 is the server).
    pub idx: usize,
    /// caller_name / NSM name.
    pub name: String,
    /// Boot number.
    pub boot: u32,
    /// NSM state (odd while up; +2 per reboot).
    pub nsm_state: i32,
    /// Whether the host is running.
    pub up: bool,
    /// Whether an SM_NOTIFY from the server reached this host since the server's last start.
    pub notified: bool,
    /// Messages to send.
    pub out: VecDeque<Outgoing>,
    cfg: HostConfig,
    rng: Rng,
    next_xid: u32,
    calls: BTreeMap<u32, Call>,
    procs: Vec<PState>,
    nfs: NfsState,
    root: Option<FileHandle>,
    lock_fhs: Vec<Option<FileHandle>>,
    data_fh: Option<FileHandle>,
    /// The data file's content as this host wrote it (the host is its only writer).
    content: Vec<u8>,
    /// Bytes of the data file a WRITE in flight when the host crashed may or may not have
    /// changed.
    unknown: Vec<bool>,
    /// UNSTABLE writes not committed yet: (offset, length, verifier of the reply).
    uncommitted: Vec<(u64, usize, [u8; 8])>,
    server_state: Option<i32>,
    /// Reclaims to send once their owner has no lock call in flight (POSIX requests of one
    /// owner must not race each other).
    pending_reclaims: Vec<crate::model::Held>,
    reclaim_poll: Micros,
    notify_pending: bool,
    cred: OpaqueAuth,
    /// GRANTED callbacks this boot accepted (cookie, oh, l_offset, l_len): a retransmission
    /// of one is answered GRANTED even after the lock was partly unlocked, so the server
    /// does not withdraw what the client still holds (the last 64 are kept).
    accepted_grants: VecDeque<(Vec<u8>, Vec<u8>, u64, u64)>,
    /// Shared LOCKs sent by datagram (xid, owner, file, range), the last 256: a copy the
    /// network delays past the call's end still reaches the server (see
    /// [`Host::datagram_delivered`]).
    shared_lock_xids: VecDeque<(u32, Owner, usize, Range)>,
}

impl Host {
    /// A host, up, before it has mounted anything.
    pub fn new(idx: usize, cfg: HostConfig, rng: Rng) -> Host {
        let name = format!("client{idx}");
        let cred = OpaqueAuth::sys(&AuthSysParms {
            stamp: idx as u32,
            machinename: Bytes::from(name.clone().into_bytes()),
            uid: 0,
            gid: 0,
            gids: Vec::new(),
        });
        let mut h = Host {
            idx,
            name,
            boot: 0,
            nsm_state: 1,
            up: true,
            notified: false,
            out: VecDeque::new(),
            cfg,
            rng,
            next_xid: (idx as u32) << 24,
            calls: BTreeMap::new(),
            procs: Vec::new(),
            nfs: NfsState::Idle(0),
            root: None,
            lock_fhs: vec![None; cfg.files],
            data_fh: None,
            content: Vec::new(),
            unknown: Vec::new(),
            uncommitted: Vec::new(),
            server_state: None,
            pending_reclaims: Vec::new(),
            reclaim_poll: 0,
            notify_pending: false,
            cred,
            accepted_grants: VecDeque::new(),
            shared_lock_xids: VecDeque::new(),
        };
        h.reset_procs(0);
        h
    }

    fn reset_procs(&mut self, now: Micros) {
        self.procs = (0..self.cfg.procs)
            .map(|_| PState::Idle {
                at: now + 1_000_000,
                retry: None,
            })
            .collect();
        self.nfs = NfsState::Idle(now + self.rng.range(0, 500_000));
    }

    /// Whether NLM goes over TCP.
    pub fn nlm_tcp(&self) -> bool {
        self.cfg.nlm_tcp
    }

    fn owner(&self, p: usize) -> Owner {
        Owner {
            host: self.idx,
            boot: self.boot,
            proc_: p as u32,
        }
    }

    /// The wire form of an owner (caller_name, svid, oh); `oh` names the file too, so an
    /// owner in the journal names one file.
    pub fn wire_owner(&self, o: Owner, file: usize) -> WireOwner {
        WireOwner {
            caller_name: self.name.as_bytes().to_vec(),
            svid: (o.boot * 100 + o.proc_) as i32,
            oh: format!("c{}b{}p{}f{file}", o.host, o.boot, o.proc_).into_bytes(),
        }
    }

    fn nlm_lock(&self, o: Owner, file: usize, offset: u64, len: u64) -> Option<Nlm4Lock> {
        let w = self.wire_owner(o, file);
        let fh = self.lock_fhs.get(file)?.as_ref()?;
        Some(Nlm4Lock {
            caller_name: LmString::new(Bytes::from(w.caller_name)).ok()?,
            fh: Netobj::new(fh.0.clone()).ok()?,
            oh: Netobj::new(Bytes::from(w.oh)).ok()?,
            svid: w.svid,
            l_offset: offset,
            l_len: len,
        })
    }

    fn call(
        &mut self,
        now: Micros,
        chan: Chan,
        (prog, vers, proc_): (u32, u32, u32),
        args: &[u8],
        purpose: Purpose,
    ) -> u32 {
        self.next_xid = self.next_xid.wrapping_add(1);
        let xid = self.next_xid;
        let msg = proto_nfs::rpc::client::encode_call(xid, prog, vers, proc_, &self.cred, args);
        let retx = if self.chan_is_tcp(chan) {
            RETX_TCP
        } else {
            RETX_UDP
        };
        self.out.push_back(Outgoing {
            chan,
            msg: msg.clone(),
        });
        self.calls.insert(
            xid,
            Call {
                chan,
                msg,
                purpose,
                first_sent: now,
                next_retx: now + retx,
                server_state: self.server_state,
            },
        );
        xid
    }

    fn chan_is_tcp(&self, chan: Chan) -> bool {
        match chan {
            Chan::Nfs | Chan::Smb => true,
            Chan::Nlm => self.cfg.nlm_tcp,
            Chan::Nsm | Chan::Pmap => false,
        }
    }

    /// When [`Host::on_timer`] should run next.
    pub fn next_timer(&self) -> Option<Micros> {
        if !self.up {
            return None;
        }
        let mut t = self.calls.values().map(|c| c.next_retx).min();
        let mut take = |x: Micros| t = Some(t.map_or(x, |y: Micros| y.min(x)));
        if let NfsState::Idle(at) = self.nfs {
            take(at);
        }
        if !self.pending_reclaims.is_empty() {
            take(self.reclaim_poll);
        }
        for p in &self.procs {
            match p {
                PState::Idle { at, .. } => take(*at),
                PState::Waiting {
                    cancel_at,
                    repoll_at,
                    repoll_xid,
                    ..
                } => {
                    if repoll_xid.is_none() {
                        take(*cancel_at);
                        take(*repoll_at);
                    }
                }
                PState::InCall { .. } => {}
            }
        }
        t
    }

    /// A connection of `chan` was cut: calls on it are re-sent soon (on a new connection).
    pub fn conn_reset(&mut self, now: Micros, chan: Chan) {
        for c in self.calls.values_mut() {
            if c.chan == chan {
                c.next_retx = c.next_retx.min(now + 200_000);
            }
        }
    }

    /// Timers: retransmissions, the next operation of each process, repolls and cancels.
    pub fn on_timer(&mut self, now: Micros, ck: &mut Checker) {
        if !self.up {
            return;
        }
        let due: Vec<u32> = self
            .calls
            .iter()
            .filter(|(_, c)| c.next_retx <= now)
            .map(|(x, _)| *x)
            .collect();
        for xid in due {
            let tcp = self.chan_is_tcp(self.calls[&xid].chan);
            let c = self.calls.get_mut(&xid).expect("listed above");
            c.next_retx = now + if tcp { RETX_TCP } else { RETX_UDP };
            let out = Outgoing {
                chan: c.chan,
                msg: c.msg.clone(),
            };
            trace!(ck.trace, now, "c{} retransmit xid={xid:#x}", self.idx);
            self.out.push_back(out);
        }
        if self.notify_pending
            && !self
                .calls
                .values()
                .any(|c| matches!(c.purpose, Purpose::NotifyServer))
        {
            self.send_notify(now, ck);
        }
        if let NfsState::Idle(at) = self.nfs {
            if at <= now {
                self.nfs_next(now, ck);
            }
        }
        if !self.pending_reclaims.is_empty() && self.reclaim_poll <= now {
            self.send_reclaims(now, ck);
        }
        // Processes wait while the host reclaims (Linux blocks new requests of a host in
        // reclaim, `nlmclnt_recovery`).
        let reclaiming = !self.pending_reclaims.is_empty()
            || self
                .calls
                .values()
                .any(|c| matches!(c.purpose, Purpose::Reclaim { .. }));
        for p in 0..self.procs.len() {
            match self.procs[p].clone() {
                PState::Idle { at, retry } if at <= now => {
                    if reclaiming {
                        self.procs[p] = PState::Idle {
                            at: now + 1_000_000,
                            retry,
                        };
                    } else {
                        self.proc_next(now, p, retry, ck)
                    }
                }
                PState::Waiting {
                    req,
                    cancel_at,
                    repoll_at,
                    repoll_xid: None,
                } => {
                    if cancel_at <= now {
                        self.send_cancel(now, p, req, ck);
                    } else if repoll_at <= now {
                        if let Some(args) = self.lock_args(p, req, false) {
                            trace!(
                                ck.trace,
                                now,
                                "{} re-sends blocked LOCK f{} {}",
                                self.owner(p),
                                req.file,
                                req.range()
                            );
                            let xid = self.call(
                                now,
                                Chan::Nlm,
                                (NLM_PROGRAM, 4, NLM_LOCK),
                                &args,
                                Purpose::Repoll { p, req },
                            );
                            self.note_shared_lock(xid, p, req);
                            self.procs[p] = PState::Waiting {
                                req,
                                cancel_at,
                                repoll_at: now + REPOLL,
                                repoll_xid: Some(xid),
                            };
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn lock_args(&self, p: usize, req: LockReq, reclaim: bool) -> Option<Bytes> {
        let alock = self.nlm_lock(self.owner(p), req.file, req.offset, req.len)?;
        let mut out = BytesMut::new();
        Nlm4LockArgs {
            cookie: Netobj::new(Bytes::from(format!("k{}", p).into_bytes())).ok()?,
            block: req.block,
            exclusive: req.excl,
            alock,
            reclaim,
            state: self.nsm_state,
        }
        .encode(&mut out);
        Some(out.freeze())
    }

    fn proc_next(&mut self, now: Micros, p: usize, retry: Option<LockReq>, ck: &mut Checker) {
        if self.lock_fhs.iter().any(Option::is_none) {
            self.procs[p] = PState::Idle {
                at: now + 1_000_000,
                retry,
            };
            return;
        }
        let owner = self.owner(p);
        if let Some(req) = retry {
            return self.send_lock(now, p, req, ck);
        }
        let held: Vec<(usize, Range)> = ck
            .beliefs
            .all()
            .iter()
            .filter(|h| h.owner == owner)
            .map(|h| (h.file, h.range))
            .collect();
        let roll = self.rng.below(100);
        let file = self.rng.below(self.cfg.files as u64) as usize;
        let offset = self.rng.below(self.cfg.span);
        let len = if self.rng.chance(60) {
            0
        } else {
            self.rng.range(1, self.cfg.span / 2)
        };
        if !held.is_empty() && roll < 40 {
            let (f, r) = held[self.rng.below(held.len() as u64) as usize];
            // Release the whole piece or a part of it (POSIX split).
            let (off, len) = if self.rng.chance(300) && r.last != u64::MAX && r.last > r.first {
                let o = self.rng.range(r.first, r.last);
                (o, self.rng.range(1, r.last - o + 1))
            } else if r.last == u64::MAX {
                (r.first, 0)
            } else {
                (r.first, r.last - r.first + 1)
            };
            self.send_unlock(now, p, f, off, len, ck);
        } else if roll < 52 {
            let req = LockReq {
                file,
                offset,
                len,
                excl: self.rng.chance(500),
                block: false,
            };
            let Some(alock) = self.nlm_lock(owner, file, offset, len) else {
                return;
            };
            let mut out = BytesMut::new();
            Nlm4TestArgs {
                cookie: Netobj::from_static(b"t"),
                exclusive: req.excl,
                alock,
            }
            .encode(&mut out);
            trace!(
                ck.trace,
                now,
                "{owner} TEST f{file} {} {}",
                req.range(),
                mode(req.excl)
            );
            let xid = self.call(
                now,
                Chan::Nlm,
                (NLM_PROGRAM, 4, NLM_TEST),
                &out,
                Purpose::Test { p, req },
            );
            self.procs[p] = PState::InCall { xid };
        } else if roll < 60 && !held.is_empty() {
            // An unlock of a range it may not hold at all (POSIX: not an error).
            self.send_unlock(now, p, file, offset, len, ck);
        } else {
            let req = LockReq {
                file,
                offset,
                len,
                excl: self.rng.chance(600),
                block: self.rng.chance(500),
            };
            self.send_lock(now, p, req, ck);
        }
    }

    fn send_lock(&mut self, now: Micros, p: usize, req: LockReq, ck: &mut Checker) {
        let Some(args) = self.lock_args(p, req, false) else {
            return;
        };
        trace!(
            ck.trace,
            now,
            "{} LOCK f{} {} {}{}",
            self.owner(p),
            req.file,
            req.range(),
            mode(req.excl),
            if req.block { " block" } else { "" }
        );
        ck.lock_sent(self.owner(p), req.file, req.range(), req.excl);
        let xid = self.call(
            now,
            Chan::Nlm,
            (NLM_PROGRAM, 4, NLM_LOCK),
            &args,
            Purpose::Lock { p, req },
        );
        self.note_shared_lock(xid, p, req);
        self.procs[p] = PState::InCall { xid };
    }

    fn note_shared_lock(&mut self, xid: u32, p: usize, req: LockReq) {
        if req.excl || self.cfg.nlm_tcp {
            return;
        }
        if self.shared_lock_xids.len() >= 256 {
            self.shared_lock_xids.pop_front();
        }
        let owner = self.owner(p);
        self.shared_lock_xids
            .push_back((xid, owner, req.file, req.range()));
    }

    /// A datagram of this host reached the server. A shared LOCK whose call has ended
    /// (answered, or taken over by a GRANTED callback) and that the network delayed or
    /// duplicated is executed again there: POSIX replacement may turn what its owner locked
    /// exclusively since into shared, so the owner's belief is weakened now as when it was
    /// sent (found by seed 4174: a re-sent blocked LOCK [20..EOF] shared, delivered 5 s late,
    /// downgraded the owner's newer exclusive [50..60]; Linux lockd re-executes it too).
    pub fn datagram_delivered(&mut self, now: Micros, xid: u32, ck: &mut Checker) {
        if self.calls.contains_key(&xid) {
            return;
        }
        if let Some(&(_, owner, file, range)) =
            self.shared_lock_xids.iter().find(|(x, ..)| *x == xid)
        {
            if owner.boot == self.boot {
                trace!(
                    ck.trace,
                    now,
                    "{owner} stale shared LOCK f{file} {range} reached the server"
                );
                ck.lock_sent(owner, file, range, false);
            }
        }
    }

    fn send_unlock(
        &mut self,
        now: Micros,
        p: usize,
        file: usize,
        offset: u64,
        len: u64,
        ck: &mut Checker,
    ) {
        let owner = self.owner(p);
        let Some(alock) = self.nlm_lock(owner, file, offset, len) else {
            return;
        };
        let mut out = BytesMut::new();
        Nlm4UnlockArgs {
            cookie: Netobj::from_static(b"u"),
            alock,
        }
        .encode(&mut out);
        let range = Range::nlm(offset, len);
        trace!(ck.trace, now, "{owner} UNLOCK f{file} {range}");
        ck.unlocking(owner, file, range);
        let xid = self.call(
            now,
            Chan::Nlm,
            (NLM_PROGRAM, 4, NLM_UNLOCK),
            &out,
            Purpose::Unlock { p, file, range },
        );
        self.procs[p] = PState::InCall { xid };
    }

    fn send_cancel(&mut self, now: Micros, p: usize, req: LockReq, ck: &mut Checker) {
        let owner = self.owner(p);
        let Some(alock) = self.nlm_lock(owner, req.file, req.offset, req.len) else {
            return;
        };
        let mut out = BytesMut::new();
        Nlm4CancArgs {
            cookie: Netobj::from_static(b"c"),
            block: req.block,
            exclusive: req.excl,
            alock,
        }
        .encode(&mut out);
        trace!(
            ck.trace,
            now,
            "{owner} gives up: CANCEL f{} {}",
            req.file,
            req.range()
        );
        ck.waiters.remove(&owner);
        let xid = self.call(
            now,
            Chan::Nlm,
            (NLM_PROGRAM, 4, NLM_CANCEL),
            &out,
            Purpose::Cancel { p },
        );
        self.procs[p] = PState::InCall { xid };
    }

    fn nfs_next(&mut self, now: Micros, ck: &mut Checker) {
        let mut out = BytesMut::new();
        let Some(root) = self.root.clone() else {
            MountCall::Mnt(Bytes::from_static(b"/export")).encode_args(&mut out);
            trace!(ck.trace, now, "c{} MNT /export", self.idx);
            self.call(now, Chan::Nfs, (MOUNT_PROGRAM, 3, 1), &out, Purpose::Mount);
            self.nfs = NfsState::InCall;
            return;
        };
        if let Some(i) = self.lock_fhs.iter().position(Option::is_none) {
            Nfs3Call::Lookup(LookupArgs {
                what: DirOpArgs3 {
                    dir: root,
                    name: Filename3::from(format!("f{i}").as_bytes()),
                },
            })
            .encode(&mut out);
            self.call(
                now,
                Chan::Nfs,
                (NFS_PROGRAM, 3, 3),
                &out,
                Purpose::Lookup(i),
            );
            self.nfs = NfsState::InCall;
            return;
        }
        let Some(fh) = self.data_fh.clone() else {
            Nfs3Call::Create(CreateArgs {
                where_: DirOpArgs3 {
                    dir: root,
                    name: Filename3::from(format!("d{}", self.idx).as_bytes()),
                },
                how: CreateHow3::Unchecked(Sattr3 {
                    mode: Some(0o644),
                    uid: None,
                    gid: None,
                    size: None,
                    atime: SetTime3::DontChange,
                    mtime: SetTime3::DontChange,
                }),
            })
            .encode(&mut out);
            self.call(
                now,
                Chan::Nfs,
                (NFS_PROGRAM, 3, 8),
                &out,
                Purpose::CreateData,
            );
            self.nfs = NfsState::InCall;
            return;
        };
        if !self.uncommitted.is_empty() && self.rng.chance(250) {
            trace!(ck.trace, now, "c{} COMMIT d{}", self.idx, self.idx);
            Nfs3Call::Commit(CommitArgs {
                file: fh,
                offset: 0,
                count: 0,
            })
            .encode(&mut out);
            self.call(now, Chan::Nfs, (NFS_PROGRAM, 3, 21), &out, Purpose::Commit);
            self.nfs = NfsState::InCall;
        } else if self.rng.chance(500) {
            let stable = self.rng.chance(500);
            let offset = self.rng.below(DATA_SPAN);
            let len = self.rng.range(1, 64) as usize;
            let data: Vec<u8> = (0..len).map(|_| self.rng.below(256) as u8).collect();
            let data = Bytes::from(data);
            trace!(
                ck.trace,
                now,
                "c{} WRITE d{} @{offset}+{len}",
                self.idx,
                self.idx
            );
            Nfs3Call::Write(WriteArgs {
                file: fh,
                offset,
                stable: StableHow::FileSync,
                data: data.clone(),
            })
            .encode(&mut out);
            self.call(
                now,
                Chan::Nfs,
                (NFS_PROGRAM, 3, 7),
                &out,
                Purpose::Write {
                    offset,
                    data,
                    stable,
                },
            );
            self.nfs = NfsState::InCall;
        } else {
            let offset = self.rng.below(DATA_SPAN);
            let count = self.rng.range(1, 128) as u32;
            Nfs3Call::Read(ReadArgs {
                file: fh,
                offset,
                count,
            })
            .encode(&mut out);
            self.call(
                now,
                Chan::Nfs,
                (NFS_PROGRAM, 3, 6),
                &out,
                Purpose::Read { offset, count },
            );
            self.nfs = NfsState::InCall;
        }
    }

    fn nfs_idle(&mut self, now: Micros) {
        let wait = self.rng.range(100_000, 3_000_000);
        self.nfs = NfsState::Idle(now + wait);
    }

    fn proc_idle(&mut self, now: Micros, p: usize, retry: Option<LockReq>) {
        let wait = if retry.is_some() {
            GRACE_RETRY
        } else {
            self.rng.range(50_000, 4_000_000)
        };
        self.procs[p] = PState::Idle {
            at: now + wait,
            retry,
        };
    }

    /// A reply message from the server (datagram, or record of a connection).
    pub fn handle_reply(&mut self, now: Micros, msg: &Bytes, ck: &mut Checker) {
        if !self.up {
            return;
        }
        let Ok(m) = RpcMessage::decode_bytes(msg) else {
            ck.violation(format!(
                "c{}: undecodable message from the server",
                self.idx
            ));
            return;
        };
        let MessageBody::Reply(body) = m.body else {
            ck.violation(format!("c{}: a call arrived on a client socket", self.idx));
            return;
        };
        let Some(call) = self.calls.remove(&m.xid) else {
            trace!(
                ck.trace,
                now,
                "c{} reply xid={:#x} matches nothing (late or duplicate)",
                self.idx,
                m.xid
            );
            return;
        };
        let results = match body {
            ReplyBody::Accepted(a) => match a.stat {
                AcceptStat::Success(r) => Some(r),
                other => {
                    trace!(
                        ck.trace,
                        now,
                        "c{} xid={:#x} not executed: {other:?}",
                        self.idx,
                        m.xid
                    );
                    None
                }
            },
            ReplyBody::Denied(d) => {
                trace!(
                    ck.trace,
                    now,
                    "c{} xid={:#x} denied: {d:?}",
                    self.idx,
                    m.xid
                );
                None
            }
        };
        self.on_result(now, call, results, ck);
    }

    fn on_result(&mut self, now: Micros, call: Call, results: Option<Bytes>, ck: &mut Checker) {
        let idx = self.idx;
        match call.purpose {
            Purpose::Mount => {
                match results.and_then(|r| MountReply::decode_results(1, &r).ok()) {
                    Some(MountReply::Mnt(MntResult::Ok { fhandle, .. })) => {
                        trace!(ck.trace, now, "c{idx} mounted");
                        self.root = Some(fhandle);
                    }
                    other => ck.violation(format!("c{idx}: MNT /export failed: {other:?}")),
                }
                self.nfs_idle(now);
            }
            Purpose::Lookup(i) => {
                match results.and_then(|r| Nfs3Reply::decode(3, &r).ok()) {
                    Some(Nfs3Reply::Lookup(Nfs3Result::Ok(ok))) => {
                        self.lock_fhs[i] = Some(ok.object)
                    }
                    other => ck.violation(format!("c{idx}: LOOKUP f{i} failed: {other:?}")),
                }
                self.nfs = NfsState::Idle(now);
            }
            Purpose::CreateData => {
                match results.and_then(|r| Nfs3Reply::decode(8, &r).ok()) {
                    Some(Nfs3Reply::Create(Nfs3Result::Ok(ok))) => match ok.obj {
                        Some(fh) => self.data_fh = Some(fh),
                        None => ck.violation(format!("c{idx}: CREATE returned no handle")),
                    },
                    Some(Nfs3Reply::Create(Nfs3Result::Err(s, _))) => {
                        trace!(ck.trace, now, "c{idx} CREATE: {s:?}, retrying")
                    }
                    other => ck.violation(format!("c{idx}: CREATE failed: {other:?}")),
                }
                self.nfs_idle(now);
            }
            Purpose::Write {
                offset,
                data,
                stable,
            } => {
                match results.and_then(|r| Nfs3Reply::decode(7, &r).ok()) {
                    Some(Nfs3Reply::Write(Nfs3Result::Ok(ok))) => {
                        // RFC 1813 §3.3.7: `committed` is at least what was asked for.
                        if ok.count as usize != data.len()
                            || (stable && ok.committed != StableHow::FileSync)
                        {
                            ck.violation(format!(
                                "c{idx}: WRITE of {} ({}) answered count {} {:?}",
                                data.len(),
                                if stable { "FILE_SYNC" } else { "UNSTABLE" },
                                ok.count,
                                ok.committed
                            ));
                        }
                        self.apply_write(offset, &data, false);
                        self.verifier_seen(ok.verf);
                        if ok.committed == StableHow::Unstable {
                            self.uncommitted.push((offset, data.len(), ok.verf));
                        }
                    }
                    Some(Nfs3Reply::Write(Nfs3Result::Err(s, _))) => {
                        trace!(ck.trace, now, "c{idx} WRITE: {s:?}")
                    }
                    other => ck.violation(format!("c{idx}: WRITE: {other:?}")),
                }
                self.nfs_idle(now);
            }
            Purpose::Commit => {
                match results.and_then(|r| Nfs3Reply::decode(21, &r).ok()) {
                    Some(Nfs3Reply::Commit(Nfs3Result::Ok(ok))) => {
                        // Writes answered with this verifier are on stable storage now;
                        // others were lost in a restart (the client would re-send them).
                        self.verifier_seen(ok.verf);
                        trace!(
                            ck.trace,
                            now,
                            "c{idx} COMMIT: {} writes committed",
                            self.uncommitted.len()
                        );
                        self.uncommitted.clear();
                    }
                    Some(Nfs3Reply::Commit(Nfs3Result::Err(s, _))) => {
                        trace!(ck.trace, now, "c{idx} COMMIT: {s:?}")
                    }
                    other => ck.violation(format!("c{idx}: COMMIT: {other:?}")),
                }
                self.nfs_idle(now);
            }
            Purpose::Read { offset, count } => {
                match results.and_then(|r| Nfs3Reply::decode(6, &r).ok()) {
                    Some(Nfs3Reply::Read(Nfs3Result::Ok(ok))) => {
                        let start = (offset as usize).min(self.content.len());
                        let end = (offset as usize + count as usize).min(self.content.len());
                        let want = &self.content[start..end];
                        let unknown = &self.unknown[start..end];
                        ck.stats.reads_checked += 1;
                        let same_len =
                            ok.data.len() == want.len() || self.unknown.iter().any(|u| *u);
                        let same = ok
                            .data
                            .iter()
                            .zip(want.iter().zip(unknown))
                            .all(|(g, (w, u))| *u || g == w);
                        if !same_len || !same {
                            ck.violation(format!(
                                "c{idx}: READ d{idx} @{offset}+{count} returned {} bytes that differ from the {} written",
                                ok.data.len(),
                                want.len()
                            ));
                        }
                    }
                    Some(Nfs3Reply::Read(Nfs3Result::Err(s, _))) => {
                        trace!(ck.trace, now, "c{idx} READ: {s:?}")
                    }
                    other => ck.violation(format!("c{idx}: READ: {other:?}")),
                }
                self.nfs_idle(now);
            }
            Purpose::Lock { p, req } | Purpose::Repoll { p, req } => {
                let repoll = matches!(call.purpose, Purpose::Repoll { .. });
                let owner = self.owner(p);
                let stat = results
                    .and_then(|r| Nlm4Res::decode_exact(&r).ok())
                    .map(|r| r.stat);
                trace!(
                    ck.trace,
                    now,
                    "{owner} LOCK f{} {} -> {stat:?}",
                    req.file,
                    req.range()
                );
                match stat {
                    // Reboot protection (Linux `nlmclnt_lock`): a grant answered to a LOCK
                    // sent before the client learned of a server restart may come from
                    // the server's previous life (a delayed reply) and was not reclaimed:
                    // the client does not rely on it and sends the LOCK again.
                    Some(Nlm4Stats::Granted) if call.server_state != self.server_state => {
                        trace!(
                            ck.trace,
                            now,
                            "{owner} LOCK granted across a server restart: sent again"
                        );
                        ck.waiters.remove(&owner);
                        self.proc_idle(now, p, Some(req));
                    }
                    Some(Nlm4Stats::Granted) => {
                        let w = self.wire_owner(owner, req.file);
                        ck.granted(owner, &w, req.file, req.range(), req.excl, "LOCK reply");
                        self.proc_idle(now, p, None);
                    }
                    Some(Nlm4Stats::Blocked) if req.block => {
                        if repoll {
                            if let PState::Waiting { repoll_xid, .. } = &mut self.procs[p] {
                                *repoll_xid = None;
                            }
                        } else {
                            let patience = self.rng.range(5_000_000, 150_000_000);
                            ck.waiters.entry(owner).or_insert(crate::check::Waiter {
                                file: req.file,
                                range: req.range(),
                                excl: req.excl,
                                since: now,
                                blocked_at: now,
                            });
                            self.procs[p] = PState::Waiting {
                                req,
                                cancel_at: now + patience,
                                repoll_at: now + REPOLL,
                                repoll_xid: None,
                            };
                        }
                    }
                    Some(Nlm4Stats::DeniedGracePeriod) => {
                        ck.stats.grace_denials += 1;
                        if repoll {
                            if let PState::Waiting { repoll_xid, .. } = &mut self.procs[p] {
                                *repoll_xid = None;
                            }
                        } else {
                            self.proc_idle(now, p, Some(req));
                        }
                    }
                    Some(Nlm4Stats::Blocked) => {
                        ck.violation(format!("{owner}: non-blocking LOCK answered BLOCKED"));
                        self.proc_idle(now, p, None);
                    }
                    _ => {
                        ck.waiters.remove(&owner);
                        self.proc_idle(now, p, None);
                    }
                }
            }
            Purpose::Unlock { p, file, range } => {
                let owner = self.owner(p);
                let stat = results
                    .and_then(|r| Nlm4Res::decode_exact(&r).ok())
                    .map(|r| r.stat);
                trace!(ck.trace, now, "{owner} UNLOCK f{file} {range} -> {stat:?}");
                ck.unlock_done(owner, file, range);
                self.proc_idle(now, p, None);
            }
            Purpose::Cancel { p } => {
                let stat = results
                    .and_then(|r| Nlm4Res::decode_exact(&r).ok())
                    .map(|r| r.stat);
                trace!(ck.trace, now, "{} CANCEL -> {stat:?}", self.owner(p));
                self.proc_idle(now, p, None);
            }
            Purpose::Test { p, req } => {
                let owner = self.owner(p);
                let res = results
                    .and_then(|r| Nlm4TestRes::decode_exact(&r).ok())
                    .map(|r| r.stat);
                trace!(
                    ck.trace,
                    now,
                    "{owner} TEST f{} {} -> {res:?}",
                    req.file,
                    req.range()
                );
                if let Some(Nlm4TestRply::Status(Nlm4Stats::Granted)) = res {
                    ck.test_found_nothing(owner, req.file, req.range(), req.excl, call.first_sent);
                }
                self.proc_idle(now, p, None);
            }
            Purpose::Reclaim {
                owner,
                file,
                range,
                excl,
            } => {
                let stat = results
                    .and_then(|r| Nlm4Res::decode_exact(&r).ok())
                    .map(|r| r.stat);
                trace!(ck.trace, now, "{owner} reclaim f{file} {range} -> {stat:?}");
                let w = self.wire_owner(owner, file);
                // Reboot protection, as for LOCK: an answer to a reclaim sent before the
                // latest SM_NOTIFY comes from the server's previous life (a delayed reply)
                // and settles nothing; the reclaim is asked again of the current server.
                let stale = call.server_state != self.server_state;
                match stat {
                    Some(Nlm4Stats::Granted) if !stale => {
                        ck.reclaimed(owner, &w, file, range, excl)
                    }
                    // Not executed (SYSTEM_ERR while the server's journal is failing): ask
                    // again later, as Linux retries a reclaim that got no answer.
                    _ if stale || stat.is_none() => {
                        if let Some(h) = ck
                            .beliefs
                            .all()
                            .iter()
                            .find(|b| b.owner == owner && b.file == file && b.range == range)
                            .cloned()
                        {
                            self.pending_reclaims.push(h);
                            self.reclaim_poll = now + 1_000_000;
                        }
                    }
                    // DENIED_GRACE_PERIOD: the server is out of grace (lockstate answers it
                    // to reclaims only then). Anything else refuses a lock the client holds.
                    other if other != Some(Nlm4Stats::DeniedGracePeriod) => ck.violation(format!(
                        "reclaim by {owner} of f{file} {range} {} refused: {other:?}",
                        mode(excl)
                    )),
                    other => {
                        // Too late: grace is over; the lock is lost (Linux: SIGLOST).
                        trace!(
                            ck.trace,
                            now,
                            "{owner} lost f{file} {range}: reclaim after grace ({other:?})"
                        );
                        ck.beliefs.release(owner, file, range);
                        ck.stats.lost += 1;
                    }
                }
            }
            Purpose::GrantedRes => {}
            Purpose::NotifyServer => {
                trace!(ck.trace, now, "c{idx} SM_NOTIFY acknowledged by the server");
                self.notify_pending = false;
                ck.host_notified_server(idx);
            }
        }
    }

    /// A call from the server to one of the host's listening ports; returns the reply
    /// message (no record mark), or `None` when the port is closed.
    pub fn handle_inbound(
        &mut self,
        now: Micros,
        port: u16,
        msg: &Bytes,
        ck: &mut Checker,
    ) -> Option<Bytes> {
        if !self.up {
            return None;
        }
        let (h, args) = match CallHeader::decode(msg) {
            Ok(x) => x,
            Err(e) => {
                ck.violation(format!(
                    "c{}: undecodable call on port {port} ({} bytes: {e}; starts {:02x?})",
                    self.idx,
                    msg.len(),
                    &msg[..msg.len().min(16)]
                ));
                return None;
            }
        };
        let mut out = BytesMut::new();
        put_success_header(&mut out, h.xid);
        match (port, h.prog, h.proc_) {
            (CLIENT_PMAP_PORT, PMAP_PROGRAM, _) => {
                let port = match PmapCall::decode_args(h.proc_, &args) {
                    Ok(PmapCall::Getport(Mapping { prog, .. })) => match prog {
                        NLM_PROGRAM => u32::from(CLIENT_NLM_PORT),
                        NSM_PROGRAM => u32::from(CLIENT_NSM_PORT),
                        _ => 0,
                    },
                    _ => 0,
                };
                trace!(ck.trace, now, "c{} portmap GETPORT -> {port}", self.idx);
                PmapReply::Getport(port).encode_results(&mut out);
            }
            (CLIENT_NLM_PORT, NLM_PROGRAM, NLM_GRANTED_MSG | NLM_GRANTED) => {
                let Ok(a) = Nlm4TestArgs::decode_exact(&args) else {
                    ck.violation(format!("c{}: undecodable GRANTED", self.idx));
                    return None;
                };
                let stat = self.granted_callback(now, &a, ck);
                let res = Nlm4Res {
                    cookie: a.cookie.clone(),
                    stat,
                };
                if h.proc_ == NLM_GRANTED {
                    res.encode(&mut out);
                } else {
                    let mut body = BytesMut::new();
                    res.encode(&mut body);
                    self.call(
                        now,
                        Chan::Nlm,
                        (NLM_PROGRAM, 4, NLM_GRANTED_RES),
                        &body,
                        Purpose::GrantedRes,
                    );
                }
            }
            (CLIENT_NLM_PORT, NLM_PROGRAM, _) => {}
            (CLIENT_NSM_PORT, NSM_PROGRAM, SM_NOTIFY) => {
                let Ok(a) = StatChge::decode_exact(&args) else {
                    ck.violation(format!("c{}: undecodable SM_NOTIFY", self.idx));
                    return None;
                };
                self.server_notified(now, a.state, ck);
            }
            (CLIENT_NSM_PORT, NSM_PROGRAM, _) => {}
            _ => return None,
        }
        Some(out.freeze())
    }

    fn granted_callback(&mut self, now: Micros, a: &Nlm4TestArgs, ck: &mut Checker) -> Nlm4Stats {
        let l = &a.alock;
        for p in 0..self.procs.len() {
            let owner = self.owner(p);
            let req = match &self.procs[p] {
                PState::Waiting { req, .. } => Some(*req),
                PState::InCall { xid } => match self.calls.get(xid).map(|c| &c.purpose) {
                    Some(Purpose::Lock { req, .. }) if req.block => Some(*req),
                    _ => None,
                },
                PState::Idle { .. } => None,
            };
            let Some(req) = req else { continue };
            let Some(mine) = self.nlm_lock(owner, req.file, req.offset, req.len) else {
                continue;
            };
            // Linux `nlmclnt_grant` matches file handle, svid and range.
            if mine.fh == l.fh
                && mine.svid == l.svid
                && mine.oh == l.oh
                && mine.l_offset == l.l_offset
                && mine.l_len == l.l_len
            {
                trace!(
                    ck.trace,
                    now,
                    "{owner} GRANTED callback f{} {} accepted",
                    req.file,
                    req.range()
                );
                ck.stats.callback_grants += 1;
                if self.accepted_grants.len() >= 64 {
                    self.accepted_grants.pop_front();
                }
                self.accepted_grants.push_back((
                    a.cookie.as_bytes().to_vec(),
                    l.oh.as_bytes().to_vec(),
                    l.l_offset,
                    l.l_len,
                ));
                let w = self.wire_owner(owner, req.file);
                ck.granted(
                    owner,
                    &w,
                    req.file,
                    req.range(),
                    req.excl,
                    "GRANTED callback",
                );
                // The LOCK or repoll still outstanding is answered by this grant.
                self.calls.retain(|_, c| {
                    !matches!(c.purpose, Purpose::Lock { p: q, .. } | Purpose::Repoll { p: q, .. } if q == p)
                });
                self.proc_idle(now, p, None);
                return Nlm4Stats::Granted;
            }
        }
        // A retransmitted callback of a grant this client accepted is answered GRANTED again,
        // whatever it did with the lock since (found by seed 1323: after a partial UNLOCK the
        // union check below failed, the client answered DENIED and the server withdrew the
        // grant, taking the part the client still held).
        if self.accepted_grants.iter().any(|(c, oh, o, n)| {
            c.as_slice() == a.cookie.as_bytes()
                && oh.as_slice() == l.oh.as_bytes()
                && *o == l.l_offset
                && *n == l.l_len
        }) {
            trace!(
                ck.trace,
                now,
                "c{} duplicate of an accepted GRANTED callback {}: GRANTED",
                self.idx,
                Range::nlm(l.l_offset, l.l_len)
            );
            return Nlm4Stats::Granted;
        }
        // A duplicate callback for a lock already held is answered GRANTED too, so the
        // server does not withdraw a lock the client keeps.
        for p in 0..self.procs.len() {
            let owner = self.owner(p);
            for f in 0..self.cfg.files {
                let w = self.wire_owner(owner, f);
                if w.oh == l.oh.as_bytes() && w.svid == l.svid {
                    let r = Range::nlm(l.l_offset, l.l_len);
                    // The union of its pieces counts: a later LOCK of part of the range
                    // splits the belief without changing what is held.
                    let mut pieces: Vec<(u64, u64)> = ck
                        .beliefs
                        .all()
                        .iter()
                        .filter(|h| h.owner == owner && h.file == f)
                        .map(|h| (h.range.first, h.range.last))
                        .collect();
                    pieces.sort_unstable();
                    let mut next = Some(r.first);
                    for (first, last) in pieces {
                        match next {
                            Some(n) if first <= n && last >= n => next = last.checked_add(1),
                            _ => {}
                        }
                    }
                    let held = next.is_none_or(|n| n > r.last);
                    if held {
                        trace!(
                            ck.trace,
                            now,
                            "{owner} duplicate GRANTED callback f{f} {r}: held, GRANTED"
                        );
                        return Nlm4Stats::Granted;
                    }
                }
            }
        }
        trace!(
            ck.trace,
            now,
            "c{} GRANTED callback matches no waiter: DENIED",
            self.idx
        );
        Nlm4Stats::Denied
    }

    fn server_notified(&mut self, now: Micros, state: i32, ck: &mut Checker) {
        self.notified = true;
        if self.server_state == Some(state) {
            trace!(ck.trace, now, "c{} SM_NOTIFY state {state} again", self.idx);
            return;
        }
        self.server_state = Some(state);
        ck.beliefs.notified(self.idx);
        let mine: Vec<_> = ck
            .beliefs
            .all()
            .iter()
            .filter(|h| h.owner.host == self.idx && h.needs_reclaim)
            .cloned()
            .collect();
        trace!(
            ck.trace,
            now,
            "c{} SM_NOTIFY: server state {state}, reclaiming {} locks",
            self.idx,
            mine.len()
        );
        self.pending_reclaims = mine;
        self.send_reclaims(now, ck);
    }

    /// Sends the pending reclaims whose owner has no lock call in flight.
    fn send_reclaims(&mut self, now: Micros, ck: &mut Checker) {
        self.reclaim_poll = now + 100_000;
        let pending = std::mem::take(&mut self.pending_reclaims);
        for h in pending {
            let p = h.owner.proc_ as usize;
            let busy = h.owner.boot == self.boot
                && self.calls.values().any(|c| match &c.purpose {
                    Purpose::Lock { p: q, .. }
                    | Purpose::Repoll { p: q, .. }
                    | Purpose::Unlock { p: q, .. }
                    | Purpose::Cancel { p: q } => *q == p,
                    _ => false,
                });
            if busy {
                self.pending_reclaims.push(h);
                continue;
            }
            // The belief may have changed (released, replaced) while it waited.
            let still = ck.beliefs.all().iter().any(|b| {
                b.owner == h.owner && b.file == h.file && b.range == h.range && b.needs_reclaim
            });
            if !still {
                continue;
            }
            let (offset, len) = if h.range.last == u64::MAX {
                (h.range.first, 0)
            } else {
                (h.range.first, h.range.last - h.range.first + 1)
            };
            let req = LockReq {
                file: h.file,
                offset,
                len,
                excl: h.excl,
                block: false,
            };
            let Some(args) = self.lock_args(p, req, true) else {
                continue;
            };
            ck.beliefs.reclaim_sent(h.owner, h.file, h.range);
            self.call(
                now,
                Chan::Nlm,
                (NLM_PROGRAM, 4, NLM_LOCK),
                &args,
                Purpose::Reclaim {
                    owner: h.owner,
                    file: h.file,
                    range: h.range,
                    excl: h.excl,
                },
            );
        }
    }

    fn send_notify(&mut self, now: Micros, ck: &mut Checker) {
        let mut out = BytesMut::new();
        StatChge {
            mon_name: SmString::new(Bytes::from(self.name.clone().into_bytes()))
                .expect("short name"),
            state: self.nsm_state,
        }
        .encode(&mut out);
        trace!(
            ck.trace,
            now,
            "c{} SM_NOTIFY to the server, state {}",
            self.idx,
            self.nsm_state
        );
        self.call(
            now,
            Chan::Nsm,
            (NSM_PROGRAM, 1, SM_NOTIFY),
            &out,
            Purpose::NotifyServer,
        );
    }

    /// A reply carried write verifier `verf`: uncommitted writes answered with another one
    /// were lost by a server restart (RFC 1813 §3.3.7); their bytes are unknown now.
    fn verifier_seen(&mut self, verf: [u8; 8]) {
        let lost: Vec<(u64, usize)> = self
            .uncommitted
            .iter()
            .filter(|(_, _, v)| *v != verf)
            .map(|(o, l, _)| (*o, *l))
            .collect();
        for (o, l) in lost {
            for u in &mut self.unknown[o as usize..o as usize + l] {
                *u = true;
            }
        }
        self.uncommitted.retain(|(_, _, v)| *v == verf);
    }

    /// The server crashed: uncommitted writes may be lost (the host learns it from the
    /// verifier later; the checker marks the bytes unknown now).
    pub fn server_crashed(&mut self) {
        for (o, l, _) in &self.uncommitted {
            for u in &mut self.unknown[*o as usize..*o as usize + *l] {
                *u = true;
            }
        }
    }

    fn apply_write(&mut self, offset: u64, data: &[u8], maybe: bool) {
        let end = offset as usize + data.len();
        if self.content.len() < end {
            self.content.resize(end, 0);
            self.unknown.resize(end, false);
        }
        self.content[offset as usize..end].copy_from_slice(data);
        for u in &mut self.unknown[offset as usize..end] {
            *u = maybe;
        }
    }

    /// The host crashes: every process, call and lock is forgotten.
    pub fn crash(&mut self, now: Micros, ck: &mut Checker) {
        trace!(
            ck.trace,
            now,
            "c{} reboots (boot {} -> {})",
            self.idx,
            self.boot,
            self.boot + 1
        );
        ck.host_rebooted(self.idx);
        let in_flight: Vec<(u64, Bytes)> = self
            .calls
            .values()
            .filter_map(|c| match &c.purpose {
                Purpose::Write { offset, data, .. } => Some((*offset, data.clone())),
                _ => None,
            })
            .collect();
        for (offset, data) in in_flight {
            self.apply_write(offset, &data, true);
        }
        self.up = false;
        self.calls.clear();
        self.pending_reclaims.clear();
        self.accepted_grants.clear();
        self.shared_lock_xids.clear();
        self.out.clear();
        self.boot += 1;
        self.nsm_state += 2;
        self.root = None;
        self.lock_fhs = vec![None; self.cfg.files];
        self.data_fh = None;
        self.server_state = None;
    }

    /// The host is back: statd tells the server (SM_NOTIFY), processes start again.
    pub fn boot(&mut self, now: Micros, ck: &mut Checker) {
        self.up = true;
        self.reset_procs(now);
        self.notify_pending = true;
        self.send_notify(now, ck);
    }

    /// The server restarted (for [`Host::notified`]).
    pub fn server_restarted(&mut self) {
        self.notified = false;
    }

    /// The reclaims this host has on the wire (retransmitted until answered): after a
    /// server restart they reach the new server, which judges them as reclaims.
    pub fn reclaims_in_flight(&self) -> Vec<(Owner, usize, Range)> {
        self.calls
            .values()
            .filter_map(|c| match &c.purpose {
                Purpose::Reclaim {
                    owner, file, range, ..
                } => Some((*owner, *file, *range)),
                _ => None,
            })
            .collect()
    }
}
