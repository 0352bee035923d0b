//! Decoding each captured message with Janus's own codecs, one line per message.
//!
//! RPC messages (RFC 5531 §9) are decoded with `proto_nfs::rpc`; call arguments and reply
//! results with the codec of the program: NFSv3 (`proto_nfs::nfs3`, RFC 1813), NLM v4 and
//! NSM v1 (`proto_nlm::wire`, XNFS chapters 10-11). Replies are matched to their call by xid
//! per connection (RFC 5531 §9: the xid only identifies a call together with its sender), so
//! the procedure a result belongs to is known. MOUNT v3 (RFC 1813 Appendix I), PORTMAP v2
//! and RPCBIND v3/v4 (RFC 1833) bodies go through `proto_nfs::mount` and `proto_nfs::portmap`.
//!
//! SMB messages go to [`crate::smb`] (SMB2 with `proto_smb2`'s codecs).
//!
//! Every decode also checks the round trip `encode(decode(bytes)) == bytes` of the RPC
//! message and of the procedure body (of the SMB2 header and body), so a capture is also a
//! codec test.

use std::collections::HashMap;
use std::fmt::Write as _;

use bytes::{Bytes, BytesMut};
use proto_nfs::mount::{MntResult, MountCall, MountReply};
use proto_nfs::nfs3::{self, Nfs3Call, Nfs3Reply, Nfs3Result, Nfs3Status};
use proto_nfs::portmap::{PmapCall, PmapReply, RpcbCall, RpcbReply};
use proto_nfs::rpc::{
    AcceptStat, ArgsError, MessageBody, ProcedureCall, ProcedureReply, RejectedReply, ReplyBody,
    RpcMessage,
};
use proto_nfs::xdr::{XdrEncode, XdrErrorKind};
use proto_nlm::wire::{
    Nlm4Call, Nlm4Proc, Nlm4Reply, Nlm4Stats, Nlm4TestRply, NsmCall, NsmProc, NsmReply,
};

use crate::conversation::Message;
use crate::detect::AppProtocol;
use crate::reassembly::ConnId;

/// Program numbers (RFC 1833 §3, RFC 1813 §2.2 and Appendix I, XNFS).
pub mod prog {
    /// PORTMAP / RPCBIND.
    pub const PORTMAP: u32 = 100_000;
    /// NFS.
    pub const NFS: u32 = 100_003;
    /// MOUNT.
    pub const MOUNT: u32 = 100_005;
    /// NLM.
    pub const NLM: u32 = 100_021;
    /// NSM (status monitor).
    pub const NSM: u32 = 100_024;
}

/// Whether re-encoding a decoded message gave back the captured bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoundTrip {
    /// `encode(decode(bytes)) == bytes` for the RPC message and its body.
    Equal,
    /// Re-encoding gave different bytes (what differed).
    Differs(String),
    /// Janus cannot decode (all of) it, so there is nothing to compare.
    NotChecked,
}

/// Whether a message is a call or a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// An RPC call.
    Call,
    /// An RPC reply.
    Reply,
}

/// A program/version/procedure triple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Procedure {
    /// Program number.
    pub prog: u32,
    /// Version.
    pub vers: u32,
    /// Procedure number.
    pub proc_: u32,
}

/// One decoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// Transaction id, for RPC.
    pub xid: Option<u32>,
    /// Call or reply; for SMB2, request or response (None: not known).
    pub direction: Option<Direction>,
    /// The procedure (a reply's comes from its matched call).
    pub procedure: Option<Procedure>,
    /// The status of a reply in the protocol's words (`NFS3_OK`, `NLM4_DENIED`,
    /// `PROG_UNAVAIL`, ...).
    pub status: Option<String>,
    /// An SMB message (its line says `req`/`resp` rather than `call`/`reply`).
    pub smb: bool,
    /// SMB2 MessageId.
    pub message_id: Option<u64>,
    /// The whole line after the direction and xid (or message id).
    pub text: String,
    /// Round-trip result.
    pub round_trip: RoundTrip,
    /// The other messages of an SMB2 compound chain carried in the same frame, each with
    /// its own line.
    pub chain: Vec<Decoded>,
}

impl Decoded {
    /// This message and the rest of its compound chain.
    pub fn parts(&self) -> impl Iterator<Item = &Decoded> {
        std::iter::once(self).chain(self.chain.iter())
    }
}

/// Decodes messages in capture order, remembering outstanding calls per connection.
#[derive(Debug, Default)]
pub struct Decoder {
    outstanding: HashMap<(ConnId, u32), Procedure>,
    smb: crate::smb::SmbDecoder,
}

/// Short stable name of a file handle: FNV-1a over its bytes (handles are long and opaque;
/// this is what the conversation prints to let the eye follow one).
pub fn fh_name(fh: &[u8]) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in fh {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("fh:{h:08x}")
}

/// Short stable name of file data (FNV-1a, like [`fh_name`]), so READ results of two servers
/// can be compared on one line.
pub fn data_name(data: &[u8]) -> String {
    fh_name(data).replacen("fh:", "data:", 1)
}

fn quoted(b: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(b))
}

/// Name of a program and version for the line (`NFS3`, `MOUNT3`, `NLM4`, `NSM1`, `PMAP2`,
/// `RPCBIND4`).
pub fn program_name(prog: u32, vers: u32) -> String {
    match prog {
        prog::PORTMAP if vers == 2 => "PMAP2".into(),
        prog::PORTMAP => format!("RPCBIND{vers}"),
        prog::NFS => format!("NFS{vers}"),
        prog::MOUNT => format!("MOUNT{vers}"),
        prog::NLM => format!("NLM{vers}"),
        prog::NSM => format!("NSM{vers}"),
        other => format!("prog {other} v{vers}"),
    }
}

const NFS3_PROCS: [&str; 22] = [
    "NULL",
    "GETATTR",
    "SETATTR",
    "LOOKUP",
    "ACCESS",
    "READLINK",
    "READ",
    "WRITE",
    "CREATE",
    "MKDIR",
    "SYMLINK",
    "MKNOD",
    "REMOVE",
    "RMDIR",
    "RENAME",
    "LINK",
    "READDIR",
    "READDIRPLUS",
    "FSSTAT",
    "FSINFO",
    "PATHCONF",
    "COMMIT",
];
const MOUNT3_PROCS: [&str; 6] = ["NULL", "MNT", "DUMP", "UMNT", "UMNTALL", "EXPORT"];
const PMAP2_PROCS: [&str; 6] = ["NULL", "SET", "UNSET", "GETPORT", "DUMP", "CALLIT"];
const RPCBIND_PROCS: [&str; 13] = [
    "NULL",
    "SET",
    "UNSET",
    "GETADDR",
    "DUMP",
    "CALLIT",
    "GETTIME",
    "UADDR2TADDR",
    "TADDR2UADDR",
    "GETVERSADDR",
    "INDIRECT",
    "GETADDRLIST",
    "GETSTAT",
];

/// Name of a procedure (`LOOKUP`, `SM_MON`, ...), or its number.
pub fn procedure_name(p: Procedure) -> String {
    let known = match (p.prog, p.vers) {
        (prog::NFS, 3) => NFS3_PROCS.get(p.proc_ as usize).copied(),
        (prog::MOUNT, 1..=3) => MOUNT3_PROCS.get(p.proc_ as usize).copied(),
        (prog::PORTMAP, 2) => PMAP2_PROCS.get(p.proc_ as usize).copied(),
        (prog::PORTMAP, 3 | 4) => RPCBIND_PROCS.get(p.proc_ as usize).copied(),
        (prog::NLM, _) => Nlm4Proc::from_u32(p.proc_).map(Nlm4Proc::name),
        (prog::NSM, 1) => NsmProc::from_u32(p.proc_).map(NsmProc::name),
        _ => None,
    };
    match known {
        Some(n) => n.to_string(),
        None => format!("proc {}", p.proc_),
    }
}

/// `nfsstat3` names (RFC 1813 §2.6).
pub fn nfs3_status_name(s: Nfs3Status) -> &'static str {
    match s as u32 {
        0 => "NFS3_OK",
        1 => "NFS3ERR_PERM",
        2 => "NFS3ERR_NOENT",
        5 => "NFS3ERR_IO",
        6 => "NFS3ERR_NXIO",
        13 => "NFS3ERR_ACCES",
        17 => "NFS3ERR_EXIST",
        18 => "NFS3ERR_XDEV",
        19 => "NFS3ERR_NODEV",
        20 => "NFS3ERR_NOTDIR",
        21 => "NFS3ERR_ISDIR",
        22 => "NFS3ERR_INVAL",
        27 => "NFS3ERR_FBIG",
        28 => "NFS3ERR_NOSPC",
        30 => "NFS3ERR_ROFS",
        31 => "NFS3ERR_MLINK",
        63 => "NFS3ERR_NAMETOOLONG",
        66 => "NFS3ERR_NOTEMPTY",
        69 => "NFS3ERR_DQUOT",
        70 => "NFS3ERR_STALE",
        71 => "NFS3ERR_REMOTE",
        10001 => "NFS3ERR_BADHANDLE",
        10002 => "NFS3ERR_NOT_SYNC",
        10003 => "NFS3ERR_BAD_COOKIE",
        10004 => "NFS3ERR_NOTSUPP",
        10005 => "NFS3ERR_TOOSMALL",
        10006 => "NFS3ERR_SERVERFAULT",
        10007 => "NFS3ERR_BADTYPE",
        10008 => "NFS3ERR_JUKEBOX",
        _ => "NFS3ERR_?",
    }
}

/// `nlm4_stats` names (XNFS 10.14).
pub fn nlm4_status_name(s: Nlm4Stats) -> &'static str {
    match s {
        Nlm4Stats::Granted => "NLM4_GRANTED",
        Nlm4Stats::Denied => "NLM4_DENIED",
        Nlm4Stats::DeniedNolocks => "NLM4_DENIED_NOLOCKS",
        Nlm4Stats::Blocked => "NLM4_BLOCKED",
        Nlm4Stats::DeniedGracePeriod => "NLM4_DENIED_GRACE_PERIOD",
        Nlm4Stats::Deadlck => "NLM4_DEADLCK",
        Nlm4Stats::Rofs => "NLM4_ROFS",
        Nlm4Stats::StaleFh => "NLM4_STALE_FH",
        Nlm4Stats::Fbig => "NLM4_FBIG",
        Nlm4Stats::Failed => "NLM4_FAILED",
    }
}

fn xdr_why(e: &XdrErrorKind) -> String {
    match e {
        XdrErrorKind::Truncated => "truncated".into(),
        XdrErrorKind::TooLong { claimed, max } => format!("length {claimed} over limit {max}"),
        XdrErrorKind::BadDiscriminant(v) => format!("undefined discriminant {v}"),
        XdrErrorKind::NonZeroPadding => "non-zero padding".into(),
        XdrErrorKind::Invalid(w) => (*w).to_string(),
        XdrErrorKind::Nom(k) => format!("{k:?}"),
    }
}

fn check(what: &str, original: &[u8], reencoded: &[u8]) -> RoundTrip {
    if original == reencoded {
        RoundTrip::Equal
    } else {
        let at = original.iter().zip(reencoded).position(|(a, b)| a != b);
        RoundTrip::Differs(format!(
            "{what}: {} captured bytes, {} re-encoded, first difference at {}",
            original.len(),
            reencoded.len(),
            at.map(|a| a.to_string())
                .unwrap_or_else(|| "the end".into())
        ))
    }
}

fn both(a: RoundTrip, b: RoundTrip) -> RoundTrip {
    match (a, b) {
        (RoundTrip::Differs(x), _) | (_, RoundTrip::Differs(x)) => RoundTrip::Differs(x),
        (RoundTrip::NotChecked, _) | (_, RoundTrip::NotChecked) => RoundTrip::NotChecked,
        _ => RoundTrip::Equal,
    }
}

fn sattr(s: &nfs3::Sattr3) -> String {
    let mut out = String::new();
    if let Some(m) = s.mode {
        let _ = write!(out, " mode={m:o}");
    }
    if let Some(u) = s.uid {
        let _ = write!(out, " uid={u}");
    }
    if let Some(g) = s.gid {
        let _ = write!(out, " gid={g}");
    }
    if let Some(z) = s.size {
        let _ = write!(out, " size={z}");
    }
    out
}

fn dirop(d: &nfs3::DirOpArgs3) -> String {
    format!("{}/{}", fh_name(&d.dir.0), quoted(&d.name.0))
}

/// Key arguments of an NFSv3 call.
pub fn nfs3_call_args(c: &Nfs3Call) -> String {
    use nfs3::CreateHow3;
    match c {
        Nfs3Call::Null => String::new(),
        Nfs3Call::Getattr(a) => fh_name(&a.object.0),
        Nfs3Call::Setattr(a) => format!("{}{}", fh_name(&a.object.0), sattr(&a.new_attributes)),
        Nfs3Call::Lookup(a) => dirop(&a.what),
        Nfs3Call::Access(a) => format!("{} access={:#x}", fh_name(&a.object.0), a.access),
        Nfs3Call::Readlink(a) => fh_name(&a.symlink.0),
        Nfs3Call::Read(a) => format!(
            "{} offset={} count={}",
            fh_name(&a.file.0),
            a.offset,
            a.count
        ),
        Nfs3Call::Write(a) => format!(
            "{} offset={} count={} {:?} {}",
            fh_name(&a.file.0),
            a.offset,
            a.data.len(),
            a.stable,
            data_name(&a.data)
        ),
        Nfs3Call::Create(a) => {
            let how = match &a.how {
                CreateHow3::Unchecked(s) => format!("UNCHECKED{}", sattr(s)),
                CreateHow3::Guarded(s) => format!("GUARDED{}", sattr(s)),
                CreateHow3::Exclusive(_) => "EXCLUSIVE".into(),
            };
            format!("{} {how}", dirop(&a.where_))
        }
        Nfs3Call::Mkdir(a) => format!("{}{}", dirop(&a.where_), sattr(&a.attributes)),
        Nfs3Call::Symlink(a) => {
            format!("{} -> {}", dirop(&a.where_), quoted(&a.symlink_data.0))
        }
        Nfs3Call::Mknod(a) => format!("{} {:?}", dirop(&a.where_), a.what.ftype()),
        Nfs3Call::Remove(a) | Nfs3Call::Rmdir(a) => dirop(&a.object),
        Nfs3Call::Rename(a) => format!("{} -> {}", dirop(&a.from), dirop(&a.to)),
        Nfs3Call::Link(a) => format!("{} -> {}", fh_name(&a.file.0), dirop(&a.link)),
        Nfs3Call::Readdir(a) => {
            format!(
                "{} cookie={} count={}",
                fh_name(&a.dir.0),
                a.cookie,
                a.count
            )
        }
        Nfs3Call::Readdirplus(a) => format!(
            "{} cookie={} dircount={} maxcount={}",
            fh_name(&a.dir.0),
            a.cookie,
            a.dircount,
            a.maxcount
        ),
        Nfs3Call::Fsstat(a) | Nfs3Call::Fsinfo(a) => fh_name(&a.fsroot.0),
        Nfs3Call::Pathconf(a) => fh_name(&a.object.0),
        Nfs3Call::Commit(a) => fh_name(&a.file.0),
    }
}

fn attr(a: &nfs3::PostOpAttr) -> String {
    match a {
        Some(f) => format!(" {:?} size={} mode={:o}", f.ftype, f.size, f.mode),
        None => String::new(),
    }
}

/// Key results of an NFSv3 reply (after the status).
pub fn nfs3_reply_details(r: &Nfs3Reply) -> String {
    match r {
        Nfs3Reply::Getattr(Nfs3Result::Ok(ok)) => attr(&Some(ok.obj_attributes)),
        Nfs3Reply::Lookup(Nfs3Result::Ok(ok)) => {
            format!(" {}{}", fh_name(&ok.object.0), attr(&ok.obj_attributes))
        }
        Nfs3Reply::Access(Nfs3Result::Ok(ok)) => format!(" access={:#x}", ok.access),
        Nfs3Reply::Readlink(Nfs3Result::Ok(ok)) => format!(" {}", quoted(&ok.data.0)),
        Nfs3Reply::Read(Nfs3Result::Ok(ok)) => format!(
            " count={}{} {}",
            ok.data.len(),
            if ok.eof { " eof" } else { "" },
            data_name(&ok.data)
        ),
        Nfs3Reply::Write(Nfs3Result::Ok(ok)) => format!(" count={} {:?}", ok.count, ok.committed),
        Nfs3Reply::Create(Nfs3Result::Ok(ok))
        | Nfs3Reply::Mkdir(Nfs3Result::Ok(ok))
        | Nfs3Reply::Symlink(Nfs3Result::Ok(ok))
        | Nfs3Reply::Mknod(Nfs3Result::Ok(ok)) => match &ok.obj {
            Some(fh) => format!(" {}{}", fh_name(&fh.0), attr(&ok.obj_attributes)),
            None => " (no handle)".into(),
        },
        Nfs3Reply::Readdir(Nfs3Result::Ok(ok)) => {
            let names: Vec<String> = ok.entries.iter().map(|e| quoted(&e.name.0)).collect();
            format!(" [{}]{}", names.join(" "), if ok.eof { " eof" } else { "" })
        }
        Nfs3Reply::Readdirplus(Nfs3Result::Ok(ok)) => {
            let names: Vec<String> = ok.entries.iter().map(|e| quoted(&e.name.0)).collect();
            format!(" [{}]{}", names.join(" "), if ok.eof { " eof" } else { "" })
        }
        Nfs3Reply::Fsinfo(Nfs3Result::Ok(ok)) => {
            format!(
                " rtmax={} wtmax={} dtpref={}",
                ok.rtmax, ok.wtmax, ok.dtpref
            )
        }
        _ => String::new(),
    }
}

fn nlm_lock(l: &proto_nlm::wire::Nlm4Lock) -> String {
    format!(
        "{} caller={} svid={} offset={} len={}",
        fh_name(l.fh.as_bytes()),
        quoted(l.caller_name.as_bytes()),
        l.svid,
        l.l_offset,
        l.l_len
    )
}

fn excl(x: bool) -> &'static str {
    if x {
        "exclusive"
    } else {
        "shared"
    }
}

/// Key arguments of an NLM v4 call.
pub fn nlm4_call_args(c: &Nlm4Call) -> String {
    match c {
        Nlm4Call::Null => String::new(),
        Nlm4Call::Test(a)
        | Nlm4Call::Granted(a)
        | Nlm4Call::TestMsg(a)
        | Nlm4Call::GrantedMsg(a) => {
            format!("{} {}", excl(a.exclusive), nlm_lock(&a.alock))
        }
        Nlm4Call::Lock(a) | Nlm4Call::LockMsg(a) | Nlm4Call::NmLock(a) => format!(
            "{} {}{}{}",
            excl(a.exclusive),
            nlm_lock(&a.alock),
            if a.block { " block" } else { "" },
            if a.reclaim { " reclaim" } else { "" }
        ),
        Nlm4Call::Cancel(a) | Nlm4Call::CancelMsg(a) => {
            format!("{} {}", excl(a.exclusive), nlm_lock(&a.alock))
        }
        Nlm4Call::Unlock(a) | Nlm4Call::UnlockMsg(a) => nlm_lock(&a.alock),
        Nlm4Call::TestRes(r) => nlm4_test_status(&r.stat),
        Nlm4Call::LockRes(r)
        | Nlm4Call::CancelRes(r)
        | Nlm4Call::UnlockRes(r)
        | Nlm4Call::GrantedRes(r) => nlm4_status_name(r.stat).to_string(),
        Nlm4Call::Share(a) | Nlm4Call::Unshare(a) => format!(
            "{} caller={}",
            fh_name(a.share.fh.as_bytes()),
            quoted(a.share.caller_name.as_bytes())
        ),
        Nlm4Call::FreeAll(n) => format!("name={}", quoted(n.name.as_bytes())),
    }
}

fn nlm4_test_status(s: &Nlm4TestRply) -> String {
    match s {
        Nlm4TestRply::Denied(h) => format!(
            "NLM4_DENIED holder: {} svid={} offset={} len={}",
            excl(h.exclusive),
            h.svid,
            h.l_offset,
            h.l_len
        ),
        Nlm4TestRply::Status(s) => nlm4_status_name(*s).to_string(),
    }
}

/// Status of an NLM v4 reply.
pub fn nlm4_reply_status(r: &Nlm4Reply) -> String {
    match r {
        Nlm4Reply::Void => "void".into(),
        Nlm4Reply::Test(t) => nlm4_test_status(&t.stat),
        Nlm4Reply::Res(r) => nlm4_status_name(r.stat).to_string(),
        Nlm4Reply::Share(s) => nlm4_status_name(s.stat).to_string(),
    }
}

/// Key arguments of an NSM v1 call.
pub fn nsm_call_args(c: &NsmCall) -> String {
    match c {
        NsmCall::Null | NsmCall::SimuCrash => String::new(),
        NsmCall::Stat(n) => format!("mon_name={}", quoted(n.mon_name.as_bytes())),
        NsmCall::Mon(m) => format!(
            "mon_name={} my_name={} callback={}/{}/{}",
            quoted(m.mon_id.mon_name.as_bytes()),
            quoted(m.mon_id.my_id.my_name.as_bytes()),
            m.mon_id.my_id.my_prog,
            m.mon_id.my_id.my_vers,
            m.mon_id.my_id.my_proc
        ),
        NsmCall::Unmon(m) => format!(
            "mon_name={} my_name={}",
            quoted(m.mon_name.as_bytes()),
            quoted(m.my_id.my_name.as_bytes())
        ),
        NsmCall::UnmonAll(id) => format!("my_name={}", quoted(id.my_name.as_bytes())),
        NsmCall::Notify(s) => format!(
            "mon_name={} state={}",
            quoted(s.mon_name.as_bytes()),
            s.state
        ),
    }
}

/// Status of an NSM v1 reply.
pub fn nsm_reply_status(r: &NsmReply) -> String {
    match r {
        NsmReply::Void => "void".into(),
        NsmReply::StatRes(s) => format!("{:?} state={}", s.res_stat, s.state)
            .replace("Succ", "STAT_SUCC")
            .replace("Fail", "STAT_FAIL"),
        NsmReply::Stat(s) => format!("state={}", s.state),
    }
}

fn args_why(e: &ArgsError) -> String {
    match e {
        ArgsError::NoSuchProcedure => "procedure not defined".into(),
        ArgsError::Garbage(k) => xdr_why(k),
    }
}

fn generic_call<C: ProcedureCall>(
    p: Procedure,
    args: &Bytes,
    what: &str,
    show: fn(&C) -> String,
) -> Body {
    match C::decode_args(p.proc_, args) {
        Ok(c) => {
            let mut out = BytesMut::new();
            c.encode_args(&mut out);
            Body::Text(show(&c), check(what, args, &out))
        }
        Err(e) => Body::Undecodable(format!("arguments: {}", args_why(&e))),
    }
}

fn generic_reply<R: ProcedureReply>(
    p: Procedure,
    results: &Bytes,
    what: &str,
    show: fn(&R) -> (String, String),
) -> (Option<String>, Body) {
    match R::decode_results(p.proc_, results) {
        Ok(r) => {
            let mut out = BytesMut::new();
            r.encode_results(&mut out);
            let (status, text) = show(&r);
            (Some(status), Body::Text(text, check(what, results, &out)))
        }
        Err(e) => (
            None,
            Body::Undecodable(format!("results: {}", args_why(&e))),
        ),
    }
}

fn mount_call_args(c: &MountCall) -> String {
    match c {
        MountCall::Mnt(path) | MountCall::Umnt(path) => quoted(path),
        _ => String::new(),
    }
}

/// `mountstat3` names (RFC 1813 Appendix I).
fn mount_status_name(v: u32) -> &'static str {
    match v {
        0 => "MNT3_OK",
        1 => "MNT3ERR_PERM",
        2 => "MNT3ERR_NOENT",
        5 => "MNT3ERR_IO",
        13 => "MNT3ERR_ACCES",
        20 => "MNT3ERR_NOTDIR",
        22 => "MNT3ERR_INVAL",
        63 => "MNT3ERR_NAMETOOLONG",
        10004 => "MNT3ERR_NOTSUPP",
        10006 => "MNT3ERR_SERVERFAULT",
        _ => "MNT3ERR_?",
    }
}

fn mount_reply_text(r: &MountReply) -> (String, String) {
    match r {
        MountReply::Mnt(MntResult::Ok {
            fhandle,
            auth_flavors,
        }) => (
            "MNT3_OK".into(),
            format!(
                "MNT3_OK {} auth_flavors={auth_flavors:?}",
                fh_name(&fhandle.0)
            ),
        ),
        MountReply::Mnt(MntResult::Err(s)) => {
            let n = mount_status_name(*s as u32).to_string();
            (n.clone(), n)
        }
        MountReply::Export(list) => {
            let dirs: Vec<String> = list.iter().map(|e| quoted(&e.dir)).collect();
            ("SUCCESS".into(), format!("exports [{}]", dirs.join(" ")))
        }
        MountReply::Dump(list) => ("SUCCESS".into(), format!("{} mounts", list.len())),
        MountReply::Null | MountReply::Umnt | MountReply::Umntall => ("void".into(), "void".into()),
    }
}

fn prot(p: u32) -> String {
    match p {
        6 => "tcp".into(),
        17 => "udp".into(),
        other => format!("prot {other}"),
    }
}

fn pmap_call_args(c: &PmapCall) -> String {
    match c {
        PmapCall::Set(m) | PmapCall::Unset(m) | PmapCall::Getport(m) => format!(
            "{} {} port={}",
            program_name(m.prog, m.vers),
            prot(m.prot),
            m.port
        ),
        PmapCall::Callit(c) => format!("{} proc {}", program_name(c.prog, c.vers), c.proc_),
        PmapCall::Null | PmapCall::Dump => String::new(),
    }
}

fn pmap_reply_text(r: &PmapReply) -> (String, String) {
    let t = match r {
        PmapReply::Null => "void".into(),
        PmapReply::Set(b) | PmapReply::Unset(b) => format!("{b}"),
        PmapReply::Getport(port) => format!("port={port}"),
        PmapReply::Dump(list) => format!("{} mappings", list.len()),
        PmapReply::Callit { port, .. } => format!("port={port}"),
    };
    ("SUCCESS".into(), t)
}

fn rpcb_call_args(c: &RpcbCall) -> String {
    match c {
        RpcbCall::Set(r)
        | RpcbCall::Unset(r)
        | RpcbCall::Getaddr(r)
        | RpcbCall::Getversaddr(r)
        | RpcbCall::Getaddrlist(r) => {
            format!("{} netid={:?}", program_name(r.prog, r.vers), r.netid)
        }
        _ => String::new(),
    }
}

fn rpcb_reply_text(r: &RpcbReply) -> (String, String) {
    let t = match r {
        RpcbReply::Null => "void".into(),
        RpcbReply::Set(b) | RpcbReply::Unset(b) => format!("{b}"),
        RpcbReply::Getaddr(a) | RpcbReply::Getversaddr(a) => format!("addr={a:?}"),
        RpcbReply::Dump(list) => format!("{} entries", list.len()),
        RpcbReply::Gettime(t) => format!("time={t}"),
        RpcbReply::Getaddrlist(list) => format!("{} entries", list.len()),
    };
    ("SUCCESS".into(), t)
}

/// A decoded call body, or why it could not be decoded.
enum Body {
    Text(String, RoundTrip),
    Undecodable(String),
    Unsupported(String),
}

fn call_body(p: Procedure, args: &Bytes) -> Body {
    match (p.prog, p.vers) {
        (prog::NFS, 3) => match Nfs3Call::decode(p.proc_, args) {
            Ok(c) => {
                let mut out = BytesMut::new();
                c.encode(&mut out);
                Body::Text(nfs3_call_args(&c), check("NFS3 arguments", args, &out))
            }
            Err(None) => Body::Undecodable(format!("NFSv3 has no procedure {}", p.proc_)),
            Err(Some(e)) => Body::Undecodable(format!("arguments: {}", xdr_why(&e))),
        },
        (prog::NLM, 4) => match Nlm4Call::decode(p.proc_, args) {
            Ok(c) => Body::Text(
                nlm4_call_args(&c),
                check("NLM4 arguments", args, &c.args_bytes()),
            ),
            Err(e) => Body::Undecodable(e.to_string()),
        },
        (prog::NSM, 1) => match NsmCall::decode(p.proc_, args) {
            Ok(c) => Body::Text(
                nsm_call_args(&c),
                check("NSM arguments", args, &c.args_bytes()),
            ),
            Err(e) => Body::Undecodable(e.to_string()),
        },
        (prog::MOUNT, 3) => generic_call::<MountCall>(p, args, "MOUNT3 arguments", mount_call_args),
        (prog::PORTMAP, 2) => generic_call::<PmapCall>(p, args, "PMAP2 arguments", pmap_call_args),
        (prog::PORTMAP, 3 | 4) => {
            generic_call::<RpcbCall>(p, args, "RPCBIND arguments", rpcb_call_args)
        }
        (prog::MOUNT, v) => {
            Body::Unsupported(format!("MOUNT version {v} is not decoded (only v3)"))
        }
        (prog::NLM, v) => Body::Unsupported(format!("NLM version {v} is not decoded (only v4)")),
        _ => Body::Unsupported("program not known to Janus".into()),
    }
}

fn reply_body(p: Procedure, results: &Bytes) -> (Option<String>, Body) {
    match (p.prog, p.vers) {
        (prog::NFS, 3) => match Nfs3Reply::decode(p.proc_, results) {
            Ok(r) => {
                let mut out = BytesMut::new();
                r.encode(&mut out);
                let status = nfs3_status_name(r.status()).to_string();
                (
                    Some(status.clone()),
                    Body::Text(
                        format!("{status}{}", nfs3_reply_details(&r)),
                        check("NFS3 results", results, &out),
                    ),
                )
            }
            Err(None) => (
                None,
                Body::Undecodable(format!("NFSv3 has no procedure {}", p.proc_)),
            ),
            Err(Some(e)) => (None, Body::Undecodable(format!("results: {}", xdr_why(&e)))),
        },
        (prog::NLM, 4) => {
            match Nlm4Proc::from_u32(p.proc_).map(|pr| Nlm4Reply::decode(pr, results)) {
                Some(Ok(r)) => {
                    let status = nlm4_reply_status(&r);
                    let short = status.split(' ').next().unwrap_or_default().to_string();
                    (
                        Some(short),
                        Body::Text(status, check("NLM4 results", results, &r.to_bytes())),
                    )
                }
                Some(Err(e)) => (None, Body::Undecodable(format!("results: {}", xdr_why(&e)))),
                None => (
                    None,
                    Body::Undecodable(format!("NLM4 has no procedure {}", p.proc_)),
                ),
            }
        }
        (prog::NSM, 1) => {
            match NsmProc::from_u32(p.proc_).map(|pr| NsmReply::decode(pr, results)) {
                Some(Ok(r)) => {
                    let status = nsm_reply_status(&r);
                    let short = status.split(' ').next().unwrap_or_default().to_string();
                    (
                        Some(short),
                        Body::Text(status, check("NSM results", results, &r.to_bytes())),
                    )
                }
                Some(Err(e)) => (None, Body::Undecodable(format!("results: {}", xdr_why(&e)))),
                None => (
                    None,
                    Body::Undecodable(format!("NSM has no procedure {}", p.proc_)),
                ),
            }
        }
        (prog::MOUNT, 3) => {
            generic_reply::<MountReply>(p, results, "MOUNT3 results", mount_reply_text)
        }
        (prog::PORTMAP, 2) => {
            generic_reply::<PmapReply>(p, results, "PMAP2 results", pmap_reply_text)
        }
        (prog::PORTMAP, 3 | 4) => {
            generic_reply::<RpcbReply>(p, results, "RPCBIND results", rpcb_reply_text)
        }
        _ => (
            Some("SUCCESS".into()),
            Body::Unsupported("program not known to Janus".into()),
        ),
    }
}

/// `accept_stat` name (RFC 5531 §9).
pub fn accept_stat_name(s: &AcceptStat) -> String {
    match s {
        AcceptStat::Success(_) => "SUCCESS".into(),
        AcceptStat::ProgUnavail => "PROG_UNAVAIL".into(),
        AcceptStat::ProgMismatch { low, high } => format!("PROG_MISMATCH {low}..{high}"),
        AcceptStat::ProcUnavail => "PROC_UNAVAIL".into(),
        AcceptStat::GarbageArgs => "GARBAGE_ARGS".into(),
        AcceptStat::SystemErr => "SYSTEM_ERR".into(),
    }
}

/// The status (`NFS3_OK`, `NLM4_DENIED`, ...) and the readable form of the SUCCESS results of
/// procedure `p`.
pub fn reply_status_and_text(p: Procedure, results: &Bytes) -> (Option<String>, String) {
    let (status, body) = reply_body(p, results);
    let text = match body {
        Body::Text(t, _) => t,
        Body::Undecodable(why) => format!("SUCCESS, not decodable: {why}"),
        Body::Unsupported(why) => why,
    };
    (status, text)
}

impl Decoder {
    /// A decoder with no outstanding calls.
    pub fn new() -> Self {
        Self::default()
    }

    /// The procedure of the call `xid` on `conn` that has not been answered yet.
    pub fn outstanding(&self, conn: ConnId, xid: u32) -> Option<Procedure> {
        self.outstanding.get(&(conn, xid)).copied()
    }

    /// Decodes `m` (in capture order: calls before their replies).
    pub fn decode(&mut self, m: &Message) -> Decoded {
        if m.protocol == AppProtocol::Smb {
            return self.smb.decode(m);
        }
        let msg = match RpcMessage::decode_bytes(&m.body) {
            Ok(msg) => msg,
            Err(e) => {
                let xid = m
                    .body
                    .get(..4)
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                return Decoded {
                    xid,
                    direction: None,
                    procedure: None,
                    status: None,
                    text: format!(
                        "undecodable RPC message ({} bytes): {}",
                        m.body.len(),
                        xdr_why(&e)
                    ),
                    round_trip: RoundTrip::NotChecked,
                    smb: false,
                    message_id: None,
                    chain: Vec::new(),
                };
            }
        };
        let header_rt = check("RPC message", &m.body, &msg.to_bytes());
        match msg.body {
            MessageBody::Call(call) => {
                let p = Procedure {
                    prog: call.prog,
                    vers: call.vers,
                    proc_: call.proc_,
                };
                self.outstanding.insert((m.conn, msg.xid), p);
                let name = format!("{} {}", program_name(p.prog, p.vers), procedure_name(p));
                let (text, rt) = match call_body(p, &call.args) {
                    Body::Text(args, rt) if args.is_empty() => (name, rt),
                    Body::Text(args, rt) => (format!("{name} {args}"), rt),
                    Body::Undecodable(why) => (
                        format!("{name}: not decodable: {why}"),
                        RoundTrip::NotChecked,
                    ),
                    Body::Unsupported(why) => (format!("{name}: {why}"), RoundTrip::NotChecked),
                };
                Decoded {
                    xid: Some(msg.xid),
                    direction: Some(Direction::Call),
                    procedure: Some(p),
                    status: None,
                    text,
                    round_trip: both(header_rt, rt),
                    smb: false,
                    message_id: None,
                    chain: Vec::new(),
                }
            }
            MessageBody::Reply(reply) => {
                let p = self.outstanding.remove(&(m.conn, msg.xid));
                let name = match p {
                    Some(p) => format!("{} {}", program_name(p.prog, p.vers), procedure_name(p)),
                    None => "(call not in capture)".into(),
                };
                let (status, text, rt) = match reply {
                    ReplyBody::Denied(RejectedReply::RpcMismatch { low, high }) => (
                        Some("RPC_MISMATCH".to_string()),
                        format!("{name}: MSG_DENIED RPC_MISMATCH {low}..{high}"),
                        RoundTrip::Equal,
                    ),
                    ReplyBody::Denied(RejectedReply::AuthError(stat)) => (
                        Some("AUTH_ERROR".to_string()),
                        format!("{name}: MSG_DENIED AUTH_ERROR {stat:?}"),
                        RoundTrip::Equal,
                    ),
                    ReplyBody::Accepted(acc) => match (&acc.stat, p) {
                        (AcceptStat::Success(results), Some(p)) => {
                            let (status, body) = reply_body(p, results);
                            match body {
                                Body::Text(t, rt) => (status, format!("{name}: {t}"), rt),
                                Body::Undecodable(why) => (
                                    status,
                                    format!("{name}: SUCCESS, not decodable: {why}"),
                                    RoundTrip::NotChecked,
                                ),
                                Body::Unsupported(why) => {
                                    (status, format!("{name}: {why}"), RoundTrip::NotChecked)
                                }
                            }
                        }
                        (AcceptStat::Success(results), None) => (
                            Some("SUCCESS".into()),
                            format!(
                                "{name}: SUCCESS, {} bytes of results not decodable without the call",
                                results.len()
                            ),
                            RoundTrip::NotChecked,
                        ),
                        (other, _) => {
                            let s = accept_stat_name(other);
                            (Some(s.clone()), format!("{name}: {s}"), RoundTrip::Equal)
                        }
                    },
                };
                Decoded {
                    xid: Some(msg.xid),
                    direction: Some(Direction::Reply),
                    procedure: p,
                    status,
                    text,
                    round_trip: both(header_rt, rt),
                    smb: false,
                    message_id: None,
                    chain: Vec::new(),
                }
            }
        }
    }
}

/// The line for a decoded message (after time, connection and addresses): RPC calls and
/// replies with their xid, SMB2 requests and responses with their MessageId.
pub fn line(d: &Decoded) -> String {
    let dir = match (d.direction, d.smb) {
        (Some(Direction::Call), false) => "call ",
        (Some(Direction::Reply), false) => "reply",
        (Some(Direction::Call), true) => "req  ",
        (Some(Direction::Reply), true) => "resp ",
        (None, _) => "?    ",
    };
    let mut s = match (d.xid, d.message_id) {
        (Some(x), _) => format!("{dir} xid={x:08x} {}", d.text),
        (None, Some(mid)) => format!("{dir} mid={mid} {}", d.text),
        (None, None) => format!("{dir} {}", d.text),
    };
    if let RoundTrip::Differs(why) = &d.round_trip {
        let _ = write!(s, " [ROUND TRIP DIFFERS: {why}]");
    }
    s
}
