//! `janus replay --against memory`: the client side of a capture is fed into the same
//! server core `janus serve` runs ([`Core`]: RPC server, NFSv3 executor, NLM/NSM with the
//! lock table, the same timeouts, journal records and file ids) over a [`MemoryFs`], and
//! every reply Janus produces is set beside the reply the captured server sent.
//!
//! - Time: each call is fed with its capture timestamp as `now` (as an offset from one base
//!   `Instant`; the core's timers run when their time comes), and the memory file system's
//!   clock reads the capture's wall time, so file times follow the capture.
//! - Jobs run at once on the replay's thread (and a write-behind follow-up right after its
//!   reply); journal records are durable as soon as they are appended.
//! - Randomness: the write verifier is fixed (`JANUS\0\0\1`); nothing else in the path is
//!   random.
//! - The backend is pre-populated as the capture implies (`infer_seed`): every object the
//!   client found (LOOKUP, READDIRPLUS) that it did not create itself becomes a file,
//!   directory or symlink with the captured type, mode and size; file contents are the bytes
//!   captured READ replies returned (zeros elsewhere).
//! - File handles: the captured server's handles mean nothing to Janus. They are mapped to
//!   Janus's as the replay goes: the MNT root to Janus's root, and every handle a reply
//!   returns (LOOKUP, CREATE/MKDIR/SYMLINK/MKNOD, READDIRPLUS entries by name) to the handle
//!   Janus returned for the same request. Calls are re-encoded with mapped handles.
//! - NLM v4 calls go through the core's NLM service and lock table (file handles mapped
//!   like NFS ones, lock-table ids by `server::file_id` as in production); what Janus's NLM
//!   would send on its own (GRANTED callbacks and the portmapper queries before them) is
//!   listed as a note, not delivered.
//! - What is not replayed, with the reason on its line: calls the captured *server* made
//!   (ganesha's SM_MON to its statd).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use proto_nfs::mount::{MntResult, MountCall, MountReply};
use proto_nfs::nfs3::{
    DirOpArgs3, FType3, FileHandle, Nfs3Call, Nfs3Reply, Nfs3Result, Nfs3Status, ReadOk,
};
use proto_nfs::rpc::{
    AcceptStat, CallBody, MessageBody, ProcedureCall, ProcedureReply, ReplyBody, RpcMessage,
};
use proto_nfs::xdr::XdrEncode;
use proto_nlm::wire::{Netobj, Nlm4Call};
use server::{
    CallbackCommand, ConnId as ServerConnId, Core, CoreConfig, CoreLimits, Listener, ShareBackend,
    ShareConfig,
};
use vfs::memory::{MemoryFs, MemoryFsConfig, SeedEntry, VirtualClock};
use vfs::{Timestamp, Vfs};

use crate::conversation::{Item, Message, Transport};
use crate::decode::{self, prog, Decoded, Direction, Procedure};
use crate::reassembly::ConnId;

/// The write verifier of the replay executor ("JANUS", 0, 0, 1).
pub const REPLAY_WRITE_VERIFIER: [u8; 8] = *b"JANUS\0\0\x01";

/// Janus's answer to one captured call, beside the captured one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    /// Frame of the call.
    pub frame: u64,
    /// Connection of the call.
    pub conn: ConnId,
    /// Transaction id.
    pub xid: u32,
    /// The procedure.
    pub procedure: Procedure,
    /// Status in the captured reply (`None`: no reply captured).
    pub captured: Option<String>,
    /// Status in Janus's reply (`None`: not replayed or no reply).
    pub janus: Option<String>,
    /// Janus's reply in readable form, or why the call was not replayed.
    pub detail: String,
    /// The captured reply in the same form.
    pub captured_detail: Option<String>,
}

impl Comparison {
    /// Whether the call was replayed and both statuses are known and equal.
    pub fn matches(&self) -> bool {
        self.janus.is_some() && self.captured.is_some() && self.janus == self.captured
    }

    /// Whether the call was fed to Janus.
    pub fn replayed(&self) -> bool {
        self.janus.is_some()
    }

    /// Whether the statuses match but the results differ in more than file handles (which
    /// are each server's own).
    pub fn results_differ(&self) -> bool {
        self.matches()
            && self.captured_detail.as_deref().map(without_handles)
                != Some(without_handles(&self.detail))
    }
}

/// `text` with every `fh:xxxxxxxx` replaced by `fh`.
fn without_handles(text: &str) -> String {
    text.split(' ')
        .map(|w| if w.starts_with("fh:") { "fh" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The outcome of `--against memory`.
#[derive(Debug, Clone, Default)]
pub struct AgainstReport {
    /// What the memory backend was pre-populated with, one line per object.
    pub seeded: Vec<String>,
    /// One line per captured client call.
    pub comparisons: Vec<Comparison>,
    /// Anything else worth knowing (connections Janus closed, unmapped handles).
    pub notes: Vec<String>,
}

/// What the capture says about one pre-existing object.
#[derive(Debug, Clone)]
struct SeedInfo {
    kind: FType3,
    mode: u32,
    size: u64,
    data: BTreeMap<u64, Bytes>,
}

/// The state of the captured server the seed inference follows.
#[derive(Debug, Default)]
struct CapturedTree {
    /// Captured handle -> path ("" is the root).
    paths: HashMap<Bytes, String>,
    /// Paths the client created in the capture (never seeded).
    created: HashSet<String>,
    /// Pre-existing objects, in the order they were first seen.
    seed: Vec<(String, SeedInfo)>,
    root_attr: Option<(u32, u32, u32)>,
    /// Name of the export the client mounted (first MNT path component).
    export: Option<String>,
}

/// `/export/sub/dir` -> (`export`, `sub/dir`).
fn split_mount_path(path: &[u8]) -> (String, String) {
    let path = String::from_utf8_lossy(path);
    let mut comps = path.split('/').filter(|c| !c.is_empty());
    let export = comps.next().unwrap_or("export").to_string();
    (export, comps.collect::<Vec<_>>().join("/"))
}

/// Janus's handle of `path` in the seeded backend, if it exists.
fn janus_handle(fs: &MemoryFs, share_id: u32, path: &str) -> Option<FileHandle> {
    let mut h = fs.root();
    for c in path.split('/').filter(|c| !c.is_empty()) {
        h = fs.lookup(&h, c.as_bytes()).ok()?.0;
    }
    FileHandle::new(share_id, &h.0)
}

fn join(dir: &str, name: &[u8]) -> Option<String> {
    let name = std::str::from_utf8(name).ok()?;
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return None;
    }
    Some(if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    })
}

impl CapturedTree {
    fn path_of(&mut self, fh: &FileHandle) -> Option<String> {
        if let Some(p) = self.paths.get(&fh.0) {
            return Some(p.clone());
        }
        // The first handle the client uses without having been given it is the root
        // (from MNT, whose reply the caller records as the root too).
        if self.paths.is_empty() {
            self.paths.insert(fh.0.clone(), String::new());
            return Some(String::new());
        }
        None
    }

    /// `what` existed before the capture (as a `kind`), unless the capture created it.
    fn implied(&mut self, what: &DirOpArgs3, kind: FType3) {
        let Some(p) = self.path_of(&what.dir).and_then(|d| join(&d, &what.name.0)) else {
            return;
        };
        if self.created.contains(&p) || self.seed.iter().any(|(s, _)| *s == p) {
            return;
        }
        let mode = if kind == FType3::Dir { 0o755 } else { 0o644 };
        self.seed.push((
            p,
            SeedInfo {
                kind,
                mode,
                size: 0,
                data: BTreeMap::new(),
            },
        ));
    }

    fn saw(
        &mut self,
        path: String,
        fh: Option<&FileHandle>,
        attr: Option<&proto_nfs::nfs3::Fattr3>,
    ) {
        if let Some(fh) = fh {
            self.paths.insert(fh.0.clone(), path.clone());
        }
        if path.is_empty() || self.created.contains(&path) {
            return;
        }
        if let Some(a) = attr {
            if !self.seed.iter().any(|(p, _)| *p == path) {
                self.seed.push((
                    path,
                    SeedInfo {
                        kind: a.ftype,
                        mode: a.mode & 0o7777,
                        size: a.size,
                        data: BTreeMap::new(),
                    },
                ));
            }
        }
    }

    fn learn(&mut self, call: &Nfs3Call, reply: &Nfs3Reply) {
        match (call, reply) {
            (Nfs3Call::Getattr(a), Nfs3Reply::Getattr(Nfs3Result::Ok(ok)))
                if self.root_attr.is_none() && self.path_of(&a.object).as_deref() == Some("") =>
            {
                let f = &ok.obj_attributes;
                self.root_attr = Some((f.uid, f.gid, f.mode & 0o7777));
            }
            (Nfs3Call::Lookup(a), Nfs3Reply::Lookup(Nfs3Result::Ok(ok))) => {
                if let Some(p) = self
                    .path_of(&a.what.dir)
                    .and_then(|d| join(&d, &a.what.name.0))
                {
                    self.saw(p, Some(&ok.object), ok.obj_attributes.as_ref());
                }
            }
            (Nfs3Call::Readdirplus(a), Nfs3Reply::Readdirplus(Nfs3Result::Ok(ok))) => {
                if let Some(dir) = self.path_of(&a.dir) {
                    for e in &ok.entries {
                        if let Some(p) = join(&dir, &e.name.0) {
                            self.saw(p, e.name_handle.as_ref(), e.name_attributes.as_ref());
                        }
                    }
                }
            }
            (
                Nfs3Call::Create(_)
                | Nfs3Call::Mkdir(_)
                | Nfs3Call::Symlink(_)
                | Nfs3Call::Mknod(_),
                Nfs3Reply::Create(Nfs3Result::Ok(ok))
                | Nfs3Reply::Mkdir(Nfs3Result::Ok(ok))
                | Nfs3Reply::Symlink(Nfs3Result::Ok(ok))
                | Nfs3Reply::Mknod(Nfs3Result::Ok(ok)),
            ) => {
                let where_: &DirOpArgs3 = match call {
                    Nfs3Call::Create(c) => &c.where_,
                    Nfs3Call::Mkdir(c) => &c.where_,
                    Nfs3Call::Symlink(c) => &c.where_,
                    Nfs3Call::Mknod(c) => &c.where_,
                    _ => return,
                };
                if let Some(p) = self
                    .path_of(&where_.dir)
                    .and_then(|d| join(&d, &where_.name.0))
                {
                    // An UNCHECKED create of an existing file is not a creation, but the
                    // capture cannot tell; the file then starts empty in the replay too.
                    if !self.seed.iter().any(|(s, _)| *s == p) {
                        self.created.insert(p.clone());
                    }
                    if let Some(fh) = &ok.obj {
                        self.paths.insert(fh.0.clone(), p);
                    }
                }
            }
            // A create refused with NFS3ERR_EXIST, or a successful REMOVE/RMDIR/RENAME,
            // shows a name that existed without the capture showing its attributes: it is
            // seeded with default ones (RFC 1813 §3.3.8: GUARDED fails if the name exists).
            (Nfs3Call::Create(c), Nfs3Reply::Create(Nfs3Result::Err(Nfs3Status::Exist, _))) => {
                self.implied(&c.where_, FType3::Reg);
            }
            (Nfs3Call::Mkdir(c), Nfs3Reply::Mkdir(Nfs3Result::Err(Nfs3Status::Exist, _))) => {
                self.implied(&c.where_, FType3::Dir);
            }
            (Nfs3Call::Remove(c), Nfs3Reply::Remove(Nfs3Result::Ok(_))) => {
                self.implied(&c.object, FType3::Reg);
            }
            (Nfs3Call::Rmdir(c), Nfs3Reply::Rmdir(Nfs3Result::Ok(_))) => {
                self.implied(&c.object, FType3::Dir);
            }
            (Nfs3Call::Rename(c), Nfs3Reply::Rename(Nfs3Result::Ok(_))) => {
                self.implied(&c.from, FType3::Reg);
            }
            (Nfs3Call::Read(a), Nfs3Reply::Read(Nfs3Result::Ok(ReadOk { data, .. }))) => {
                if let Some(p) = self.path_of(&a.file) {
                    if let Some((_, info)) = self.seed.iter_mut().find(|(s, _)| *s == p) {
                        info.data.entry(a.offset).or_insert_with(|| data.clone());
                    }
                }
            }
            _ => {}
        }
    }

    fn entries(&self) -> (Vec<SeedEntry>, Vec<String>) {
        let mut entries = Vec::new();
        let mut lines = Vec::new();
        for (path, info) in &self.seed {
            match info.kind {
                FType3::Dir => {
                    entries.push(SeedEntry::Dir {
                        path: path.clone(),
                        mode: info.mode,
                    });
                    lines.push(format!("dir  {path:?} mode={:o}", info.mode));
                }
                FType3::Reg => {
                    // At most 64 MiB per file: the size comes from the capture.
                    let size = info.size.min(64 << 20) as usize;
                    let mut data = vec![0u8; size];
                    let mut captured = 0;
                    for (off, bytes) in &info.data {
                        let off = *off as usize;
                        if off < size {
                            let n = bytes.len().min(size - off);
                            data[off..off + n].copy_from_slice(&bytes[..n]);
                            captured += n;
                        }
                    }
                    entries.push(SeedEntry::File {
                        path: path.clone(),
                        data,
                        mode: info.mode,
                    });
                    lines.push(format!(
                        "file {path:?} mode={:o} size={size} ({captured} bytes from captured READs)",
                        info.mode
                    ));
                }
                other => lines.push(format!("{path:?}: {other:?} not seeded (no READLINK data)")),
            }
        }
        (entries, lines)
    }
}

/// Every captured client call with its decoded form and the captured reply.
struct CallRecord<'a> {
    msg: &'a Message,
    rpc: RpcMessage,
    procedure: Procedure,
    captured_reply: Option<(&'a Message, &'a Decoded)>,
}

fn calls<'a>(items: &'a [Item], decoded: &'a [Option<Decoded>]) -> Vec<CallRecord<'a>> {
    let mut out: Vec<CallRecord<'a>> = Vec::new();
    let mut open: HashMap<(ConnId, u32), usize> = HashMap::new();
    for (item, d) in items.iter().zip(decoded) {
        let (Item::Message(m), Some(d)) = (item, d) else {
            continue;
        };
        match (d.direction, d.xid, d.procedure) {
            (Some(Direction::Call), Some(xid), Some(p)) => {
                let Ok(rpc) = RpcMessage::decode_bytes(&m.body) else {
                    continue;
                };
                open.insert((m.conn, xid), out.len());
                out.push(CallRecord {
                    msg: m,
                    rpc,
                    procedure: p,
                    captured_reply: None,
                });
            }
            (Some(Direction::Reply), Some(xid), _) => {
                if let Some(i) = open.remove(&(m.conn, xid)) {
                    out[i].captured_reply = Some((m, d));
                }
            }
            _ => {}
        }
    }
    out
}

fn success_results(m: &Message) -> Option<Bytes> {
    match RpcMessage::decode_bytes(&m.body).ok()?.body {
        MessageBody::Reply(ReplyBody::Accepted(acc)) => match acc.stat {
            AcceptStat::Success(b) => Some(b),
            _ => None,
        },
        _ => None,
    }
}

/// Infers what the server held before the capture began.
fn infer_seed(records: &[CallRecord<'_>]) -> CapturedTree {
    let mut tree = CapturedTree::default();
    for r in records {
        let MessageBody::Call(call) = &r.rpc.body else {
            continue;
        };
        let Some((reply_msg, _)) = r.captured_reply else {
            continue;
        };
        let Some(results) = success_results(reply_msg) else {
            continue;
        };
        match (r.procedure.prog, r.procedure.vers) {
            (prog::MOUNT, 3) => {
                let (Ok(MountCall::Mnt(path)), Ok(MountReply::Mnt(MntResult::Ok { fhandle, .. }))) = (
                    MountCall::decode_args(r.procedure.proc_, &call.args),
                    MountReply::decode_results(r.procedure.proc_, &results),
                ) else {
                    continue;
                };
                // The export is the first path component; a deeper MNT path names a
                // directory inside it (ganesha allows that, Janus does not).
                let (export, inner) = split_mount_path(&path);
                tree.export.get_or_insert(export);
                tree.paths.insert(fhandle.0.clone(), inner);
            }
            (prog::NFS, 3) => {
                let (Ok(c), Ok(rep)) = (
                    Nfs3Call::decode(r.procedure.proc_, &call.args),
                    Nfs3Reply::decode(r.procedure.proc_, &results),
                ) else {
                    continue;
                };
                tree.learn(&c, &rep);
            }
            _ => {}
        }
    }
    tree
}

fn handles_mut(call: &mut Nfs3Call) -> Vec<&mut FileHandle> {
    match call {
        Nfs3Call::Null => vec![],
        Nfs3Call::Getattr(a) => vec![&mut a.object],
        Nfs3Call::Setattr(a) => vec![&mut a.object],
        Nfs3Call::Lookup(a) => vec![&mut a.what.dir],
        Nfs3Call::Access(a) => vec![&mut a.object],
        Nfs3Call::Readlink(a) => vec![&mut a.symlink],
        Nfs3Call::Read(a) => vec![&mut a.file],
        Nfs3Call::Write(a) => vec![&mut a.file],
        Nfs3Call::Create(a) => vec![&mut a.where_.dir],
        Nfs3Call::Mkdir(a) => vec![&mut a.where_.dir],
        Nfs3Call::Symlink(a) => vec![&mut a.where_.dir],
        Nfs3Call::Mknod(a) => vec![&mut a.where_.dir],
        Nfs3Call::Remove(a) | Nfs3Call::Rmdir(a) => vec![&mut a.object.dir],
        Nfs3Call::Rename(a) => vec![&mut a.from.dir, &mut a.to.dir],
        Nfs3Call::Link(a) => vec![&mut a.file, &mut a.link.dir],
        Nfs3Call::Readdir(a) => vec![&mut a.dir],
        Nfs3Call::Readdirplus(a) => vec![&mut a.dir],
        Nfs3Call::Fsstat(a) | Nfs3Call::Fsinfo(a) => vec![&mut a.fsroot],
        Nfs3Call::Pathconf(a) => vec![&mut a.object],
        Nfs3Call::Commit(a) => vec![&mut a.file],
    }
}

/// Handles a reply returned, keyed so the captured and Janus replies can be paired.
fn reply_handles(call: &Nfs3Call, reply: &Nfs3Reply) -> Vec<(Bytes, FileHandle)> {
    let key = |s: &str| Bytes::copy_from_slice(s.as_bytes());
    match (call, reply) {
        (_, Nfs3Reply::Lookup(Nfs3Result::Ok(ok))) => vec![(key(""), ok.object.clone())],
        (
            _,
            Nfs3Reply::Create(Nfs3Result::Ok(ok))
            | Nfs3Reply::Mkdir(Nfs3Result::Ok(ok))
            | Nfs3Reply::Symlink(Nfs3Result::Ok(ok))
            | Nfs3Reply::Mknod(Nfs3Result::Ok(ok)),
        ) => ok.obj.iter().map(|fh| (key(""), fh.clone())).collect(),
        (_, Nfs3Reply::Readdirplus(Nfs3Result::Ok(ok))) => ok
            .entries
            .iter()
            .filter_map(|e| e.name_handle.clone().map(|fh| (e.name.0.clone(), fh)))
            .collect(),
        _ => vec![],
    }
}

/// The file handles (netobj) inside an NLM call.
fn nlm_handles_mut(call: &mut Nlm4Call) -> Vec<&mut Netobj> {
    match call {
        Nlm4Call::Test(a)
        | Nlm4Call::Granted(a)
        | Nlm4Call::TestMsg(a)
        | Nlm4Call::GrantedMsg(a) => {
            vec![&mut a.alock.fh]
        }
        Nlm4Call::Lock(a) | Nlm4Call::LockMsg(a) | Nlm4Call::NmLock(a) => vec![&mut a.alock.fh],
        Nlm4Call::Cancel(a) | Nlm4Call::CancelMsg(a) => vec![&mut a.alock.fh],
        Nlm4Call::Unlock(a) | Nlm4Call::UnlockMsg(a) => vec![&mut a.alock.fh],
        Nlm4Call::Share(a) | Nlm4Call::Unshare(a) => vec![&mut a.share.fh],
        _ => vec![],
    }
}

fn ts_to_timestamp(ts: Duration) -> Timestamp {
    Timestamp {
        secs: ts.as_secs() as i64,
        nsecs: ts.subsec_nanos(),
    }
}

/// Status and readable form of a reply Janus sent.
fn describe_janus(p: Procedure, record: &Bytes) -> (Option<String>, String, Option<Bytes>) {
    let msg = match RpcMessage::decode_bytes(record) {
        Ok(m) => m,
        Err(e) => {
            return (
                None,
                format!("Janus sent an undecodable reply: {e:?}"),
                None,
            )
        }
    };
    match msg.body {
        MessageBody::Reply(ReplyBody::Accepted(acc)) => match acc.stat {
            AcceptStat::Success(results) => {
                let (status, text) = decode::reply_status_and_text(p, &results);
                (status, text, Some(results))
            }
            other => {
                let s = decode::accept_stat_name(&other);
                (Some(s.clone()), s, None)
            }
        },
        MessageBody::Reply(ReplyBody::Denied(r)) => {
            (Some("MSG_DENIED".into()), format!("MSG_DENIED {r:?}"), None)
        }
        MessageBody::Call(_) => (None, "Janus sent a call".into(), None),
    }
}

/// Replays the client calls of a decoded capture against Janus over a memory backend.
pub fn run(
    items: &[Item],
    decoded: &[Option<Decoded>],
    first_ts: Option<Duration>,
) -> AgainstReport {
    let records = calls(items, decoded);
    let tree = infer_seed(&records);
    let (seed, seeded) = tree.entries();
    let mut report = AgainstReport {
        seeded,
        ..AgainstReport::default()
    };
    let smb = items
        .iter()
        .filter(|i| matches!(i, Item::Message(m) if m.protocol == crate::detect::AppProtocol::Smb))
        .count();
    if smb > 0 {
        report.notes.push(format!(
            "{smb} SMB messages decoded but not replayed (--against replays RPC clients only)"
        ));
    }

    let first = first_ts.unwrap_or_default();
    let clock = VirtualClock::new(ts_to_timestamp(first));
    let (root_uid, root_gid, root_mode) = tree.root_attr.unwrap_or((0, 0, 0o755));
    let config = MemoryFsConfig {
        root_uid,
        root_gid,
        root_mode,
        ..MemoryFsConfig::default()
    };
    let vclock = clock.clone();
    let fs = match MemoryFs::with_tree(config, Arc::new(move || vclock.now()), &seed) {
        Ok(fs) => fs,
        Err(e) => {
            report
                .notes
                .push(format!("could not pre-populate the memory backend: {e:?}"));
            return report;
        }
    };
    let fs = Arc::new(fs);
    let share_id = 1;
    // The export is named after what the client mounted (MNT "/export" -> "export").
    let name = tree.export.clone().unwrap_or_else(|| "export".into());
    let config = CoreConfig {
        shares: vec![ShareConfig {
            share_id,
            name,
            read_only: false,
            clients: Vec::new(),
            // The captured servers here export without root squashing (ganesha-peer.sh:
            // No_Root_Squash); squashing would turn every root call into EACCES.
            root_squash: false,
            all_squash: false,
            anon_uid: 65534,
            anon_gid: 65534,
            smb: Default::default(),
        }],
        bind_addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
        nfs_port: 2049,
        portmap_port: 111,
        limits: CoreLimits {
            max_record: 4 << 20,
            max_in_flight_per_conn: 64,
            drc_entries: 1024,
            ..CoreLimits::default()
        },
        nlm: server::NlmSettings {
            server_name: "127.0.0.1".into(),
            ..server::NlmSettings::default()
        },
        // NSM state 1 (2 * 0 + 1): a first boot.
        boot_count: 0,
        write_verifier: REPLAY_WRITE_VERIFIER,
        callback_xid: 1,
        write_behind: true,
        users: server::users::Users::new(),
        smb_seed: [0; 32],
        smb_server_guid: [0; 16],
    };
    let base = Instant::now();
    // A fresh server: no journal, a clean start (no grace period).
    let backend: Arc<dyn Vfs> = fs.clone();
    let mut core = match Core::new(
        config,
        vec![ShareBackend {
            share_id,
            vfs: backend,
        }],
        Vec::new(),
        true,
        base,
    ) {
        Ok(c) => c,
        Err(e) => {
            report.notes.push(format!("could not start the core: {e}"));
            return report;
        }
    };
    let mut replay = CoreDriver::default();
    replay.settle(&mut core, base, 0, &mut report.notes);

    // Captured handle -> Janus handle.
    // Every captured handle of a pre-existing object maps to Janus's handle of the same path
    // (created objects are mapped when Janus creates them).
    let mut map: HashMap<Bytes, FileHandle> = HashMap::new();
    for (fh, path) in &tree.paths {
        if let Some(j) = janus_handle(&fs, share_id, path) {
            map.insert(fh.clone(), j);
        }
    }
    let mut opened: HashSet<ConnId> = HashSet::new();

    for r in &records {
        let p = r.procedure;
        let captured = r.captured_reply.and_then(|(_, d)| d.status.clone());
        let mut cmp = Comparison {
            frame: r.msg.frame,
            conn: r.msg.conn,
            xid: r.rpc.xid,
            procedure: p,
            captured,
            janus: None,
            detail: String::new(),
            captured_detail: r
                .captured_reply
                .and_then(|(m, _)| success_results(m))
                .map(|res| decode::reply_status_and_text(p, &res).1),
        };
        let MessageBody::Call(call) = &r.rpc.body else {
            continue;
        };
        if !is_client_program(p.prog) {
            cmp.detail = if p.prog == prog::NSM {
                "not replayed: NSM traffic between the captured server and its status monitor"
                    .into()
            } else {
                "not replayed: program not served by Janus".into()
            };
            report.comparisons.push(cmp);
            continue;
        }
        // Re-encode NFS calls with Janus's handles.
        let mut nfs_call = None;
        let args = if (p.prog, p.vers) == (prog::NFS, 3) {
            match Nfs3Call::decode(p.proc_, &call.args) {
                Ok(mut c) => {
                    let mut unmapped = 0;
                    for fh in handles_mut(&mut c) {
                        match map.get(&fh.0) {
                            Some(j) => *fh = j.clone(),
                            None => unmapped += 1,
                        }
                    }
                    if unmapped > 0 {
                        report.notes.push(format!(
                            "frame {}: {unmapped} handle(s) of the call not mapped to Janus's",
                            r.msg.frame
                        ));
                    }
                    let mut out = BytesMut::new();
                    c.encode(&mut out);
                    nfs_call = Some(c);
                    out.freeze()
                }
                Err(_) => call.args.clone(),
            }
        } else if (p.prog, p.vers) == (prog::NLM, 4) {
            match Nlm4Call::decode(p.proc_, &call.args) {
                Ok(mut c) => {
                    for fh in nlm_handles_mut(&mut c) {
                        match map.get(fh.as_bytes()) {
                            Some(j) => {
                                if let Ok(n) = Netobj::new(j.0.clone()) {
                                    *fh = n;
                                }
                            }
                            None => report.notes.push(format!(
                                "frame {}: NLM file handle not mapped to Janus's",
                                r.msg.frame
                            )),
                        }
                    }
                    c.args_bytes()
                }
                Err(_) => call.args.clone(),
            }
        } else {
            call.args.clone()
        };
        let msg = RpcMessage {
            xid: r.rpc.xid,
            body: MessageBody::Call(CallBody {
                rpcvers: call.rpcvers,
                prog: call.prog,
                vers: call.vers,
                proc_: call.proc_,
                cred: call.cred.clone(),
                verf: call.verf.clone(),
                args,
            }),
        };
        let now = base + r.msg.ts.saturating_sub(first);
        clock.set(ts_to_timestamp(r.msg.ts));
        // The core's timers that came due before this call, as in production.
        if core.poll_timeout().is_some_and(|t| t <= now) {
            core.handle_timeout(now);
            replay.settle(&mut core, now, r.msg.frame, &mut report.notes);
            replay.replies.clear();
        }
        let body = msg.to_bytes();
        let listener = if r.msg.to.port() == 111 {
            Listener::Portmap
        } else {
            Listener::Nfs
        };
        match r.msg.transport {
            Transport::Tcp => {
                // Capture connection ids start at 0; the core's UDP sockets are 1 and 2.
                let conn = ServerConnId(1 << 32 | u64::from(r.msg.conn.0));
                if opened.insert(r.msg.conn) {
                    core.handle_conn_open(conn, listener, r.msg.from, now);
                }
                let mut framed = Vec::with_capacity(body.len() + 4);
                framed.extend_from_slice(&(0x8000_0000u32 | body.len() as u32).to_be_bytes());
                framed.extend_from_slice(&body);
                core.handle_tcp_bytes(conn, &framed, now);
            }
            Transport::Udp => core.handle_datagram(listener, r.msg.from, &body, now),
        }
        // Drive the core until it has nothing more to say.
        replay.settle(&mut core, now, r.msg.frame, &mut report.notes);
        let replies = std::mem::take(&mut replay.replies);
        let Some(reply) = replies.into_iter().next() else {
            cmp.detail = "Janus sent no reply".into();
            report.comparisons.push(cmp);
            continue;
        };
        let record = match r.msg.transport {
            Transport::Tcp if reply.len() >= 4 => reply.slice(4..),
            _ => reply,
        };
        let (status, text, results) = describe_janus(p, &record);
        cmp.janus = status;
        cmp.detail = text;
        // Learn the handle mapping from the pair of replies.
        if let (Some(janus_results), Some((cap_msg, _))) = (results, r.captured_reply) {
            if let Some(cap_results) = success_results(cap_msg) {
                learn_mapping(p, nfs_call.as_ref(), &cap_results, &janus_results, &mut map);
            }
        }
        report.comparisons.push(cmp);
    }
    report
}

/// Runs what the core asks for, at once: jobs (and their follow-ups) on this thread,
/// journal records durable as appended, outbound calls noted and not delivered.
#[derive(Debug, Default)]
struct CoreDriver {
    /// Destinations of the outbound channels.
    channels: HashMap<server::CallbackId, SocketAddr>,
    /// Transmits collected since the last call was fed.
    replies: Vec<Bytes>,
}

impl CoreDriver {
    fn settle(&mut self, core: &mut Core, now: Instant, frame: u64, notes: &mut Vec<String>) {
        loop {
            let mut progressed = false;
            while let Some(job) = core.poll_job() {
                progressed = true;
                let mut next = Some(job);
                while let Some(job) = next.take() {
                    let mut done = job.run();
                    next = done.take_follow_up();
                    core.handle_job_done(done, now);
                }
            }
            let mut last = None;
            while let Some((seq, _)) = core.poll_journal_append() {
                last = Some(seq);
            }
            if let Some(seq) = last {
                progressed = true;
                core.handle_journal_durable(seq, now);
            }
            while let Some(t) = core.poll_transmit() {
                progressed = true;
                // Only decoded and compared: one contiguous buffer is simplest.
                self.replies.push(t.data.to_bytes());
            }
            while let Some(conn) = core.poll_close() {
                progressed = true;
                notes.push(format!("frame {frame}: Janus closed the connection"));
                core.handle_conn_closed(conn, now);
            }
            while core.poll_resumed().is_some() {}
            while let Some(cmd) = core.poll_callback() {
                progressed = true;
                self.note_callback(cmd, frame, notes);
            }
            if !progressed {
                break;
            }
        }
    }

    fn note_callback(&mut self, cmd: CallbackCommand, frame: u64, notes: &mut Vec<String>) {
        match cmd {
            CallbackCommand::Connect { id, addr, .. } => {
                self.channels.insert(id, addr);
            }
            CallbackCommand::Send { id, bytes: data } => {
                let dest = self
                    .channels
                    .get(&id)
                    .map_or_else(|| "?".to_string(), |a| a.to_string());
                // A TCP message starts with its record marker.
                let call = RpcMessage::decode_bytes(&data)
                    .or_else(|_| RpcMessage::decode_bytes(&data.slice(4.min(data.len())..)));
                if let Ok(RpcMessage {
                    body: MessageBody::Call(c),
                    ..
                }) = call
                {
                    notes.push(format!(
                        "frame {frame}: Janus's NLM would call {} {} to {dest} (not delivered in the replay)",
                        decode::program_name(c.prog, c.vers),
                        decode::procedure_name(Procedure {
                            prog: c.prog,
                            vers: c.vers,
                            proc_: c.proc_
                        }),
                    ));
                }
            }
            CallbackCommand::Close { id } => {
                self.channels.remove(&id);
            }
        }
    }
}

fn is_client_program(p: u32) -> bool {
    matches!(p, prog::NFS | prog::MOUNT | prog::PORTMAP | prog::NLM)
}

fn learn_mapping(
    p: Procedure,
    call: Option<&Nfs3Call>,
    captured: &Bytes,
    janus: &Bytes,
    map: &mut HashMap<Bytes, FileHandle>,
) {
    match (p.prog, p.vers) {
        (prog::MOUNT, 3) => {
            if let (
                Ok(MountReply::Mnt(MntResult::Ok { fhandle: c, .. })),
                Ok(MountReply::Mnt(MntResult::Ok { fhandle: j, .. })),
            ) = (
                MountReply::decode_results(p.proc_, captured),
                MountReply::decode_results(p.proc_, janus),
            ) {
                map.insert(c.0, j);
            }
        }
        (prog::NFS, 3) => {
            let (Some(call), Ok(c), Ok(j)) = (
                call,
                Nfs3Reply::decode(p.proc_, captured),
                Nfs3Reply::decode(p.proc_, janus),
            ) else {
                return;
            };
            let jh: HashMap<Bytes, FileHandle> = reply_handles(call, &j).into_iter().collect();
            for (k, fh) in reply_handles(call, &c) {
                if let Some(j) = jh.get(&k) {
                    map.insert(fh.0, j.clone());
                }
            }
        }
        _ => {}
    }
}

impl std::fmt::Display for AgainstReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "replay against memory: backend seeded with {} objects",
            self.seeded.len()
        )?;
        for s in &self.seeded {
            writeln!(f, "  seed {s}")?;
        }
        for c in &self.comparisons {
            let verdict = if !c.replayed() {
                "skipped"
            } else if c.captured.is_none() {
                "reply not captured"
            } else if c.results_differ() {
                "same status"
            } else if c.matches() {
                "same"
            } else {
                "DIFFERENT"
            };
            writeln!(
                f,
                "  frame {:>4} {:<4} xid={:08x} {} {}: captured {} / janus {} [{verdict}] {}",
                c.frame,
                c.conn.to_string(),
                c.xid,
                decode::program_name(c.procedure.prog, c.procedure.vers),
                decode::procedure_name(c.procedure),
                c.captured.as_deref().unwrap_or("-"),
                c.janus.as_deref().unwrap_or("-"),
                c.detail
            )?;
            if c.replayed() && (c.results_differ() || !c.matches()) {
                if let Some(d) = &c.captured_detail {
                    writeln!(f, "{:>40}captured: {d}", "")?;
                }
            }
        }
        for n in &self.notes {
            writeln!(f, "  note: {n}")?;
        }
        let replayed = self.comparisons.iter().filter(|c| c.replayed()).count();
        let same = self.comparisons.iter().filter(|c| c.matches()).count();
        let uncaptured = self
            .comparisons
            .iter()
            .filter(|c| c.replayed() && c.captured.is_none())
            .count();
        writeln!(
            f,
            "  {replayed} calls replayed, {same} with the captured status, {} different, {uncaptured} \
             without a captured reply, {} skipped",
            replayed - same - uncaptured,
            self.comparisons.len() - replayed
        )
    }
}
