//! The NFSv3 executor: carries out one decoded [`Nfs3Call`] on a [`Vfs`] backend and builds
//! its [`Nfs3Reply`] (RFC 1813 §3.3.1-§3.3.21).
//!
//! It runs on the runtime's file-system workers. Protocol semantics live here, above the
//! backend: handle checks, permission checks from the AUTH_SYS credentials, weak cache
//! consistency data (pre-op attributes taken with `getattr` before every modifying
//! operation, post-op attributes after it, RFC 1813 §2.6 `wcc_data`), READDIR paging and
//! cookie verifiers, the write verifier, FSINFO/PATHCONF constants, and the one mapping from
//! [`VfsError`] to `nfsstat3` ([`nfs_status`]).
//!
//! NFS3ERR_ROFS for read-only shares is decided by the server state machine before a call
//! reaches the executor (it knows the export; see `Nfs3Call::is_modifying`).
//!
//! # Permission model (what knfsd does, kept simple; the shared rules are in [`crate::perm`])
//! - uid 0 may do everything, except EXECUTE on a non-directory without any `x` bit.
//! - Otherwise the owner, group (primary or supplementary gid) or other `rwx` class applies.
//! - Creating, removing, renaming and linking need `w` and `x` on the directory; in a
//!   sticky directory only the owner of the file or of the directory may remove or rename
//!   an entry (NFS3ERR_PERM, like Linux `may_delete`).
//! - LOOKUP needs `x` on the directory, READDIR/READDIRPLUS need `r`.
//! - READ needs `r` (or `x`: a client reading a file to execute it), WRITE and COMMIT need
//!   `w`; the file's owner may always READ and WRITE it, because NFS is stateless and a
//!   client may legitimately write to a file it created with mode 0444 and still has open
//!   (knfsd's `NFSD_MAY_OWNER_OVERRIDE`).
//! - SETATTR: mode, client-set times: owner only (NFS3ERR_PERM); uid: root, or the owner
//!   keeping it; gid: root, or the owner choosing the current group or one it is in (Linux
//!   `chown_ok`/`chgrp_ok`); size: write permission (owner override applies); server-time:
//!   owner or write permission.
//! - Moving a directory to another parent also needs `w` on the directory itself (its `..`
//!   changes; Linux `vfs_rename`).
//! - ACCESS reports the mode-based answer without owner override (as knfsd does).
//!
//! # Set-user-ID and set-group-ID bits
//! The backends act as the server (root, with `CAP_FSETID`), so the kernel never removes
//! these bits for our callers; the executor removes them as Linux does for a local caller
//! (`privs_dropped_by_write`, `with_privs_dropped`):
//! - WRITE and SETATTR size by anyone but root, on a regular file: S_ISUID, and S_ISGID when
//!   the group may execute or the writer is not in the file's group (`file_remove_privs`,
//!   `do_truncate`). Otherwise rewriting a setuid program would keep it setuid.
//! - chown/chgrp of anything but a directory, by anyone: S_ISUID, and S_ISGID when the group
//!   may execute (`chown_common`; knfsd `nfsd_sanitize_attrs`).
//! - chmod by anyone but root who is not in the file's group: S_ISGID of the new mode
//!   (`setattr_prepare`; POSIX `chmod`).

use std::sync::Arc;

use bytes::Bytes;
use proto_nfs::nfs3::*;
use proto_nfs::server::Creds;

use crate::perm::{in_group, may, sticky_allows, R, W, X};
use crate::write_behind::{WriteVerifier, FLUSH_BEHIND_MIN};
use vfs::{
    Caller, CreateHow, FileAttr, FileKind, Handle, RenameMode, SetAttrs, SetTime, Stability,
    Timestamp, Vfs, VfsError,
};

/// Largest READ and WRITE (FSINFO `rtmax`/`wtmax`, RFC 1813 §3.3.19): 1 MiB.
pub const RTMAX: u32 = 1 << 20;
/// Largest WRITE.
pub const WTMAX: u32 = 1 << 20;
/// Preferred READDIR size (FSINFO `dtpref`).
pub const DTPREF: u32 = 64 << 10;
/// Largest READDIR/READDIRPLUS reply we build, whatever the client asks for.
pub const MAX_DIR_REPLY: u32 = 1 << 20;
/// PATHCONF `linkmax` (what ext4 allows).
pub const LINK_MAX: u32 = 65_000;
/// Largest file size (FSINFO `maxfilesize`): 2^63-1, the largest `off_t`.
pub const MAX_FILE_SIZE: u64 = i64::MAX as u64;
/// READDIR cookie of the entry after `.` (cookies 1 and 2 are the executor's own).
const COOKIE_DOT: u64 = 1;
/// READDIR cookie of the entry after `..`.
const COOKIE_DOTDOT: u64 = 2;
/// Backend cookies are shifted by this much so they never collide with 1 and 2.
const COOKIE_SHIFT: u64 = 2;

/// Maps a backend error to its `nfsstat3` (RFC 1813 §2.6). The only such mapping.
pub fn nfs_status(e: VfsError) -> Nfs3Status {
    match e {
        VfsError::NotFound => Nfs3Status::NoEnt,
        VfsError::Exists => Nfs3Status::Exist,
        VfsError::NotDir => Nfs3Status::NotDir,
        VfsError::IsDir => Nfs3Status::IsDir,
        VfsError::NotEmpty => Nfs3Status::NotEmpty,
        VfsError::Access => Nfs3Status::Acces,
        VfsError::Perm => Nfs3Status::Perm,
        VfsError::NoSpace => Nfs3Status::NoSpc,
        VfsError::ReadOnly => Nfs3Status::RoFs,
        VfsError::Stale => Nfs3Status::Stale,
        VfsError::BadHandle => Nfs3Status::BadHandle,
        VfsError::NameTooLong => Nfs3Status::NameTooLong,
        VfsError::Invalid => Nfs3Status::Inval,
        VfsError::CrossDevice => Nfs3Status::XDev,
        VfsError::TooManyLinks => Nfs3Status::MLink,
        VfsError::TooBig => Nfs3Status::FBig,
        VfsError::BadCookie => Nfs3Status::BadCookie,
        VfsError::NotSupported => Nfs3Status::NotSupp,
        VfsError::Io => Nfs3Status::Io,
    }
}

/// `fattr3` from backend attributes. Times outside `nfstime3`'s unsigned 32-bit seconds are
/// clamped (before 1970 → 0, after 2106 → the maximum).
pub fn fattr3(a: &FileAttr) -> Fattr3 {
    Fattr3 {
        ftype: ftype3(a.kind),
        mode: a.mode & 0o7777,
        nlink: a.nlink,
        uid: a.uid,
        gid: a.gid,
        size: a.size,
        used: a.used,
        rdev: SpecData3 {
            specdata1: a.rdev.0,
            specdata2: a.rdev.1,
        },
        fsid: a.fsid,
        fileid: a.fileid,
        atime: nfstime(a.atime),
        mtime: nfstime(a.mtime),
        ctime: nfstime(a.ctime),
    }
}

fn ftype3(k: FileKind) -> FType3 {
    match k {
        FileKind::Regular => FType3::Reg,
        FileKind::Directory => FType3::Dir,
        FileKind::BlockDevice => FType3::Blk,
        FileKind::CharDevice => FType3::Chr,
        FileKind::Symlink => FType3::Lnk,
        FileKind::Socket => FType3::Sock,
        FileKind::Fifo => FType3::Fifo,
    }
}

fn nfstime(t: Timestamp) -> NfsTime3 {
    NfsTime3 {
        seconds: u32::try_from(t.secs.max(0)).unwrap_or(u32::MAX),
        nseconds: t.nsecs,
    }
}

fn wcc_attr(a: &FileAttr) -> WccAttr {
    WccAttr {
        size: a.size,
        mtime: nfstime(a.mtime),
        ctime: nfstime(a.ctime),
    }
}

/// `sattr3` → backend [`SetAttrs`]; a client time with `nseconds >= 10^9` is NFS3ERR_INVAL.
fn set_attrs(s: &Sattr3) -> Result<SetAttrs, Nfs3Status> {
    fn time(t: SetTime3) -> Result<SetTime, Nfs3Status> {
        Ok(match t {
            SetTime3::DontChange => SetTime::DontChange,
            SetTime3::ServerTime => SetTime::ServerNow,
            SetTime3::ClientTime(t) if t.nseconds >= 1_000_000_000 => {
                return Err(Nfs3Status::Inval)
            }
            SetTime3::ClientTime(t) => SetTime::Client(Timestamp {
                secs: i64::from(t.seconds),
                nsecs: t.nseconds,
            }),
        })
    }
    Ok(SetAttrs {
        mode: s.mode.map(|m| m & 0o7777),
        uid: s.uid,
        gid: s.gid,
        size: s.size,
        atime: time(s.atime)?,
        mtime: time(s.mtime)?,
    })
}

const S_ISUID: u32 = 0o4000;
const S_ISGID: u32 = 0o2000;
const S_IXGRP: u32 = 0o010;

/// The set-id bits a change of `a`'s data (WRITE, truncation) by `c` removes (Linux
/// `setattr_should_drop_suidgid`, used by `file_remove_privs` and `do_truncate`): none for
/// root (`CAP_FSETID`) or anything but a regular file; S_ISUID always; S_ISGID when the
/// group may execute (a real set-group-ID program) or `c` is not in the file's group.
fn privs_dropped_by_write(c: &Creds, a: &FileAttr) -> u32 {
    if c.uid == 0 || a.kind != FileKind::Regular {
        return 0;
    }
    let mut kill = a.mode & S_ISUID;
    if a.mode & S_ISGID != 0 && (a.mode & S_IXGRP != 0 || !in_group(c, a.gid)) {
        kill |= S_ISGID;
    }
    kill
}

/// What a permitted SETATTR of `a` by `c` sets, with the set-id bits Linux removes on the
/// way (see the module documentation):
/// - a mode from a caller other than root who is not in the file's (new) group loses
///   S_ISGID (`setattr_prepare`);
/// - a new owner or group of anything but a directory removes S_ISUID, and S_ISGID when the
///   group may execute, whoever asks (`chown_common`, knfsd `nfsd_sanitize_attrs`);
/// - a new size removes what a WRITE by `c` would ([`privs_dropped_by_write`]).
fn with_privs_dropped(c: &Creds, a: &FileAttr, mut set: SetAttrs) -> SetAttrs {
    if let Some(mode) = set.mode.as_mut() {
        if c.uid != 0 && !in_group(c, set.gid.unwrap_or(a.gid)) {
            *mode &= !S_ISGID;
        }
    }
    let mode = set.mode.unwrap_or(a.mode & 0o7777);
    let mut kill = 0;
    if (set.uid.is_some() || set.gid.is_some()) && a.kind != FileKind::Directory {
        kill |= S_ISUID;
        if mode & S_IXGRP != 0 {
            kill |= S_ISGID;
        }
    }
    if set.size.is_some() {
        kill |= privs_dropped_by_write(c, a);
    }
    if mode & kill != 0 {
        set.mode = Some(mode & !kill);
    }
    set
}

fn require(a: &FileAttr, c: &Creds, want: u32) -> Result<(), Nfs3Status> {
    if may(a, c, want) {
        Ok(())
    } else {
        Err(Nfs3Status::Acces)
    }
}

/// The ACCESS3_* bits `c` has on `a`, limited to those asked (RFC 1813 §3.3.4).
pub fn access_bits(a: &FileAttr, c: &Creds, asked: u32) -> u32 {
    let mut granted = 0;
    if may(a, c, R) {
        granted |= ACCESS3_READ;
    }
    if a.kind == FileKind::Directory {
        if may(a, c, X) {
            granted |= ACCESS3_LOOKUP;
        }
        if may(a, c, W | X) {
            granted |= ACCESS3_MODIFY | ACCESS3_EXTEND | ACCESS3_DELETE;
        }
    } else {
        if may(a, c, W) {
            granted |= ACCESS3_MODIFY | ACCESS3_EXTEND;
        }
        if may(a, c, X) {
            granted |= ACCESS3_EXECUTE;
        }
    }
    granted & asked
}

/// How a name is used, for [`check_name`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum NameUse {
    /// LOOKUP: `.` and `..` are allowed.
    Lookup,
    /// CREATE, MKDIR, SYMLINK, MKNOD, LINK: the name must be new.
    Create,
    /// REMOVE, RMDIR, RENAME (both names).
    Change,
}

/// Checks a name before it reaches the backend.
/// - longer than 255 bytes: NFS3ERR_NAMETOOLONG (RFC 1813 §2.6; PATHCONF `name_max`);
/// - empty: NFS3ERR_NOENT for LOOKUP (no such entry), NFS3ERR_INVAL otherwise;
/// - containing `/` or NUL: NFS3ERR_INVAL (not a single component);
/// - `.` or `..` when creating: NFS3ERR_EXIST (the entry exists; knfsd `nfsd_create`);
///   when removing or renaming: NFS3ERR_INVAL (POSIX `rmdir`/`rename` give EINVAL).
fn check_name(name: &[u8], usage: NameUse) -> Result<(), Nfs3Status> {
    if name.len() > NAME_MAX {
        return Err(Nfs3Status::NameTooLong);
    }
    if name.is_empty() {
        return Err(if usage == NameUse::Lookup {
            Nfs3Status::NoEnt
        } else {
            Nfs3Status::Inval
        });
    }
    if name.iter().any(|&b| b == b'/' || b == 0) {
        return Err(Nfs3Status::Inval);
    }
    if name == b"." || name == b".." {
        return match usage {
            NameUse::Lookup => Ok(()),
            NameUse::Create => Err(Nfs3Status::Exist),
            NameUse::Change => Err(Nfs3Status::Inval),
        };
    }
    Ok(())
}

/// The READDIR cookie verifier of a directory: its backend cookie epoch mixed with its file
/// id (RFC 1813 §3.3.16 leaves the construction to the server).
fn cookie_verifier(dir_version: u64, fileid: u64) -> [u8; 8] {
    // splitmix64 finaliser: any change of either input changes the verifier.
    let mut z = dir_version ^ fileid.rotate_left(32) ^ 0x9e37_79b9_7f4a_7c15;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    z.to_be_bytes()
}

/// Returns early from a handler with the failure arm `$fail` when `$e` is an `Err(status)`.
macro_rules! tri {
    ($e:expr, $fail:expr) => {
        match $e {
            Ok(v) => v,
            Err(s) => return Nfs3Result::Err(s, $fail),
        }
    };
}

/// What one call runs with.
struct Ctx<'a> {
    vfs: &'a dyn Vfs,
    share_id: u32,
    creds: &'a Creds,
}

impl Ctx<'_> {
    /// The backend handle inside an NFS handle: malformed → NFS3ERR_BADHANDLE, another
    /// share's → NFS3ERR_XDEV (RENAME/LINK across shares, RFC 1813 §3.3.14-§3.3.15).
    fn handle(&self, fh: &FileHandle) -> Result<Handle, Nfs3Status> {
        let share = fh.share_id().ok_or(Nfs3Status::BadHandle)?;
        if share != self.share_id {
            return Err(Nfs3Status::XDev);
        }
        let backend = fh.backend().ok_or(Nfs3Status::BadHandle)?;
        if backend.is_empty() {
            return Err(Nfs3Status::BadHandle);
        }
        Ok(Handle(backend.to_vec()))
    }

    fn fh(&self, h: &Handle) -> Result<FileHandle, Nfs3Status> {
        // A backend handle longer than 59 bytes breaks the Vfs contract.
        FileHandle::new(self.share_id, &h.0).ok_or(Nfs3Status::ServerFault)
    }

    fn getattr(&self, h: &Handle) -> Result<FileAttr, Nfs3Status> {
        self.vfs.getattr(h).map_err(nfs_status)
    }

    fn post_op(&self, h: &Handle) -> PostOpAttr {
        self.vfs.getattr(h).ok().map(|a| fattr3(&a))
    }

    /// wcc data from the pre-op attributes (if taken) and a fresh getattr.
    fn wcc(&self, h: &Handle, before: Option<&FileAttr>) -> WccData {
        WccData {
            before: before.map(wcc_attr),
            after: self.post_op(h),
        }
    }

    fn caller(&self) -> Caller {
        Caller {
            uid: self.creds.uid,
            gid: self.creds.gid,
            gids: self.creds.gids.clone(),
        }
    }

    /// Pre-op attributes of a directory about to be changed, with the type and `wx` checks.
    fn dir_for_change(&self, dir: &Handle) -> Result<FileAttr, (Nfs3Status, Option<FileAttr>)> {
        let a = self.getattr(dir).map_err(|s| (s, None))?;
        if a.kind != FileKind::Directory {
            return Err((Nfs3Status::NotDir, Some(a)));
        }
        require(&a, self.creds, W | X).map_err(|s| (s, Some(a)))?;
        Ok(a)
    }

    /// Sticky-directory rule (Linux `check_sticky`): in a directory with the sticky bit only
    /// root, the directory's owner or the entry's owner may remove or rename the entry.
    fn sticky_ok(&self, dir: &Handle, dir_attr: &FileAttr, name: &[u8]) -> Result<(), Nfs3Status> {
        if dir_attr.mode & 0o1000 == 0 || self.creds.uid == 0 || self.creds.uid == dir_attr.uid {
            return Ok(());
        }
        match self.vfs.lookup(dir, name) {
            Ok((_, a)) if sticky_allows(dir_attr, &a, self.creds) => Ok(()),
            Ok(_) => Err(Nfs3Status::Perm),
            // Let the operation itself report a missing entry.
            Err(_) => Ok(()),
        }
    }

    /// Moving a directory to another parent rewrites its `..` entry, so anyone but root
    /// needs `w` on the directory itself (Linux `vfs_rename`: `inode_permission(source,
    /// MAY_WRITE)` when `new_dir != old_dir`; EACCES).
    fn may_reparent(&self, dir: &Handle, name: &[u8]) -> Result<(), Nfs3Status> {
        if self.creds.uid == 0 {
            return Ok(());
        }
        match self.vfs.lookup(dir, name) {
            Ok((_, a)) if a.kind == FileKind::Directory => require(&a, self.creds, W),
            // Files keep no link to their parent; a missing entry is the rename's to report.
            _ => Ok(()),
        }
    }

    /// Removes from the file `h` (attributes `a`) the set-id bits a WRITE by this caller
    /// removes ([`privs_dropped_by_write`]), before the data changes, as the kernel's
    /// `file_remove_privs` does for a local write.
    fn drop_privs_for_write(&self, h: &Handle, a: &FileAttr) -> Result<(), Nfs3Status> {
        let kill = privs_dropped_by_write(self.creds, a);
        if kill == 0 {
            return Ok(());
        }
        let set = SetAttrs {
            mode: Some(a.mode & 0o7777 & !kill),
            ..SetAttrs::default()
        };
        self.vfs.setattr(h, &set).map(|_| ()).map_err(nfs_status)
    }
}

/// wcc data (RFC 1813 §2.6) of an object a call failed to change: the attributes before
/// are the ones after (none when they could not be read).
fn wcc_unchanged(pre: Option<&FileAttr>) -> WccData {
    WccData {
        before: pre.map(wcc_attr),
        after: pre.map(fattr3),
    }
}

/// The start shared by CREATE, MKDIR, SYMLINK, MKNOD, REMOVE and RMDIR (RFC 1813
/// §3.3.8-§3.3.13): the directory's handle and its pre-op attributes, checked by
/// [`Ctx::dir_for_change`]; on failure the status with the directory's attributes if they
/// could be read.
fn dir_to_change(
    cx: &Ctx<'_>,
    dir: &FileHandle,
) -> Result<(Handle, FileAttr), (Nfs3Status, Option<FileAttr>)> {
    let dh = cx.handle(dir).map_err(|s| (s, None))?;
    let pre = cx.dir_for_change(&dh)?;
    Ok((dh, pre))
}

/// The reply of a change that returns only wcc data (REMOVE, RMDIR, RENAME, LINK): the
/// same `wcc`, taken after the backend call, whether the call succeeded or not.
fn wcc_reply<T>(r: Result<(), VfsError>, wcc: T) -> Nfs3Result<T, T> {
    match r {
        Ok(()) => Nfs3Result::Ok(wcc),
        Err(e) => Nfs3Result::Err(nfs_status(e), wcc),
    }
}

/// Executes NFSv3 calls on a backend. Holds the write verifier (RFC 1813 §3.3.7: it must
/// change when the server restarts so clients resend uncommitted data; the runtime derives
/// it from a per-boot value, and write-behind changes it when a deferred write fails).
#[derive(Debug, Clone)]
pub struct Executor {
    verifier: Arc<WriteVerifier>,
}

/// An UNSTABLE WRITE that passed every check and may be written after its reply
/// ([`Executor::write_behind`]).
#[derive(Debug)]
pub struct DeferredWrite {
    /// The backend handle.
    pub handle: Handle,
    /// Where.
    pub offset: u64,
    /// How many bytes of the call's data (at most `wtmax`).
    pub len: usize,
    /// The reply to send now.
    pub reply: Nfs3Reply,
}

impl Executor {
    /// An executor whose WRITE and COMMIT replies carry `write_verifier`.
    pub fn new(write_verifier: [u8; 8]) -> Self {
        Self::with_verifier(Arc::new(WriteVerifier::new(write_verifier)))
    }

    /// An executor whose WRITE and COMMIT replies carry the current value of `verifier`.
    pub fn with_verifier(verifier: Arc<WriteVerifier>) -> Self {
        Executor { verifier }
    }

    /// The current write verifier.
    pub fn write_verifier(&self) -> [u8; 8] {
        self.verifier.get()
    }

    /// The shared verifier.
    pub fn verifier(&self) -> &Arc<WriteVerifier> {
        &self.verifier
    }

    /// Executes `call` on share `share_id` (backend `vfs`) as `creds` and returns the reply.
    pub fn execute(
        &self,
        vfs: &dyn Vfs,
        share_id: u32,
        creds: &Creds,
        call: &Nfs3Call,
    ) -> Nfs3Reply {
        let cx = Ctx {
            vfs,
            share_id,
            creds,
        };
        match call {
            Nfs3Call::Null => Nfs3Reply::Null,
            Nfs3Call::Getattr(a) => Nfs3Reply::Getattr(getattr(&cx, a)),
            Nfs3Call::Setattr(a) => Nfs3Reply::Setattr(setattr(&cx, a)),
            Nfs3Call::Lookup(a) => Nfs3Reply::Lookup(lookup(&cx, a)),
            Nfs3Call::Access(a) => Nfs3Reply::Access(access(&cx, a)),
            Nfs3Call::Readlink(a) => Nfs3Reply::Readlink(readlink(&cx, a)),
            Nfs3Call::Read(a) => Nfs3Reply::Read(read(&cx, a)),
            Nfs3Call::Write(a) => Nfs3Reply::Write(self.write(&cx, a)),
            Nfs3Call::Create(a) => Nfs3Reply::Create(create(&cx, a)),
            Nfs3Call::Mkdir(a) => Nfs3Reply::Mkdir(mkdir(&cx, a)),
            Nfs3Call::Symlink(a) => Nfs3Reply::Symlink(symlink(&cx, a)),
            Nfs3Call::Mknod(a) => Nfs3Reply::Mknod(mknod(&cx, a)),
            Nfs3Call::Remove(a) => Nfs3Reply::Remove(remove(&cx, a, false)),
            Nfs3Call::Rmdir(a) => Nfs3Reply::Rmdir(remove(&cx, a, true)),
            Nfs3Call::Rename(a) => Nfs3Reply::Rename(rename(&cx, a)),
            Nfs3Call::Link(a) => Nfs3Reply::Link(link(&cx, a)),
            Nfs3Call::Readdir(a) => Nfs3Reply::Readdir(readdir(&cx, a)),
            Nfs3Call::Readdirplus(a) => Nfs3Reply::Readdirplus(readdirplus(&cx, a)),
            Nfs3Call::Fsstat(a) => Nfs3Reply::Fsstat(fsstat(&cx, a)),
            Nfs3Call::Fsinfo(a) => Nfs3Reply::Fsinfo(fsinfo(&cx, a)),
            Nfs3Call::Pathconf(a) => Nfs3Reply::Pathconf(pathconf(&cx, a)),
            Nfs3Call::Commit(a) => Nfs3Reply::Commit(self.commit(&cx, a)),
        }
    }

    /// The checks of WRITE before any data moves: the handle, the pre-operation attributes,
    /// the file type and the `w` permission (owners may write their files whatever the mode,
    /// as knfsd allows). Returns the handle, those attributes and how many bytes to write.
    fn write_checks(
        &self,
        cx: &Ctx<'_>,
        a: &WriteArgs,
    ) -> Result<(Handle, FileAttr, usize), Box<WriteRes>> {
        let fail = |s, wcc| Box::new(Nfs3Result::Err(s, wcc));
        let h = cx
            .handle(&a.file)
            .map_err(|s| fail(s, WccData::default()))?;
        let pre = cx.getattr(&h).map_err(|s| fail(s, WccData::default()))?;
        let pre_wcc = WccData {
            before: Some(wcc_attr(&pre)),
            after: Some(fattr3(&pre)),
        };
        match pre.kind {
            FileKind::Regular => {}
            FileKind::Directory => return Err(fail(Nfs3Status::IsDir, pre_wcc)),
            _ => return Err(fail(Nfs3Status::Inval, pre_wcc)),
        }
        if cx.creds.uid != pre.uid {
            require(&pre, cx.creds, W).map_err(|s| fail(s, pre_wcc))?;
        }
        cx.drop_privs_for_write(&h, &pre)
            .map_err(|s| fail(s, pre_wcc))?;
        Ok((h, pre, a.data.len().min(WTMAX as usize)))
    }

    /// WRITE (RFC 1813 §3.3.7): at most `wtmax` bytes are written (the reply's `count` says
    /// how many); `committed` is the durability the backend achieved.
    fn write(&self, cx: &Ctx<'_>, a: &WriteArgs) -> WriteRes {
        let (h, pre, len) = match self.write_checks(cx, a) {
            Ok(x) => x,
            Err(res) => return *res,
        };
        let stable = match a.stable {
            StableHow::Unstable => Stability::Unstable,
            StableHow::DataSync => Stability::DataSync,
            StableHow::FileSync => Stability::FileSync,
        };
        match cx.vfs.write(&h, a.offset, &a.data[..len], stable) {
            Ok((achieved, post)) => {
                if achieved == Stability::Unstable && len >= FLUSH_BEHIND_MIN {
                    // Flush-behind (crate::write_behind); advisory, COMMIT still syncs.
                    let _ = cx.vfs.start_writeback(&h, a.offset, len as u64);
                }
                Nfs3Result::Ok(WriteOk {
                    file_wcc: WccData {
                        before: Some(wcc_attr(&pre)),
                        after: Some(fattr3(&post)),
                    },
                    count: len as u32,
                    committed: match achieved {
                        Stability::Unstable => StableHow::Unstable,
                        Stability::DataSync => StableHow::DataSync,
                        Stability::FileSync => StableHow::FileSync,
                    },
                    verf: self.verifier.get(),
                })
            }
            Err(e) => Nfs3Result::Err(nfs_status(e), cx.wcc(&h, Some(&pre))),
        }
    }

    /// The first half of a write-behind WRITE (see [`crate::write_behind`]): for an
    /// UNSTABLE WRITE to a backend that supports it, make every check [`Executor::execute`]
    /// would make and build the reply to send before the data is written: the pre-operation
    /// attributes, no post-operation attributes (the mtime the write will set is not known
    /// yet; RFC 1813 §2.6 makes them optional), UNSTABLE, the current verifier. `None`:
    /// run the call with `execute` instead. `Some(Err(reply))`: a check failed; send that.
    pub fn write_behind(
        &self,
        vfs: &dyn Vfs,
        share_id: u32,
        creds: &Creds,
        a: &WriteArgs,
    ) -> Option<Result<DeferredWrite, Nfs3Reply>> {
        if a.stable != StableHow::Unstable || !vfs.write_behind() {
            return None;
        }
        let cx = Ctx {
            vfs,
            share_id,
            creds,
        };
        let (handle, pre, len) = match self.write_checks(&cx, a) {
            Ok(x) => x,
            Err(res) => return Some(Err(Nfs3Reply::Write(*res))),
        };
        // The range check the backend would make (FSINFO maxfilesize, NFS3ERR_FBIG).
        if a.offset
            .checked_add(len as u64)
            .is_none_or(|end| end > MAX_FILE_SIZE)
        {
            let wcc = WccData {
                before: Some(wcc_attr(&pre)),
                after: Some(fattr3(&pre)),
            };
            return Some(Err(Nfs3Reply::Write(Nfs3Result::Err(
                Nfs3Status::FBig,
                wcc,
            ))));
        }
        Some(Ok(DeferredWrite {
            handle,
            offset: a.offset,
            len,
            reply: Nfs3Reply::Write(Nfs3Result::Ok(WriteOk {
                file_wcc: WccData {
                    before: Some(wcc_attr(&pre)),
                    after: None,
                },
                count: len as u32,
                committed: StableHow::Unstable,
                verf: self.verifier.get(),
            })),
        }))
    }

    /// COMMIT (RFC 1813 §3.3.21): the whole file is flushed whatever the range.
    fn commit(&self, cx: &Ctx<'_>, a: &CommitArgs) -> CommitRes {
        let no_wcc = WccData::default();
        let h = tri!(cx.handle(&a.file), no_wcc);
        let pre = tri!(cx.getattr(&h), no_wcc);
        let pre_wcc = WccData {
            before: Some(wcc_attr(&pre)),
            after: Some(fattr3(&pre)),
        };
        match pre.kind {
            FileKind::Regular => {}
            FileKind::Directory => return Nfs3Result::Err(Nfs3Status::IsDir, pre_wcc),
            _ => return Nfs3Result::Err(Nfs3Status::Inval, pre_wcc),
        }
        if cx.creds.uid != pre.uid {
            tri!(require(&pre, cx.creds, W), pre_wcc);
        }
        match cx.vfs.commit(&h) {
            Ok(post) => Nfs3Result::Ok(CommitOk {
                file_wcc: WccData {
                    before: Some(wcc_attr(&pre)),
                    after: Some(fattr3(&post)),
                },
                verf: self.verifier.get(),
            }),
            Err(e) => Nfs3Result::Err(nfs_status(e), cx.wcc(&h, Some(&pre))),
        }
    }
}

/// GETATTR (RFC 1813 §3.3.1).
fn getattr(cx: &Ctx<'_>, a: &GetattrArgs) -> GetattrRes {
    let h = tri!(cx.handle(&a.object), Void);
    let attr = tri!(cx.getattr(&h), Void);
    Nfs3Result::Ok(GetattrOk {
        obj_attributes: fattr3(&attr),
    })
}

/// SETATTR (RFC 1813 §3.3.2), with the ctime guard (NFS3ERR_NOT_SYNC) and the ownership
/// rules of the module documentation.
fn setattr(cx: &Ctx<'_>, a: &SetattrArgs) -> SetattrRes {
    let no_wcc = WccData::default();
    let h = tri!(cx.handle(&a.object), no_wcc);
    let pre = tri!(cx.getattr(&h), no_wcc);
    let unchanged = wcc_unchanged(Some(&pre));
    if let Some(guard) = a.guard {
        if nfstime(pre.ctime) != guard {
            return Nfs3Result::Err(Nfs3Status::NotSync, unchanged);
        }
    }
    let set = tri!(set_attrs(&a.new_attributes), unchanged);
    tri!(setattr_allowed(cx.creds, &pre, &set), unchanged);
    let set = with_privs_dropped(cx.creds, &pre, set);
    match cx.vfs.setattr(&h, &set) {
        Ok(post) => Nfs3Result::Ok(WccData {
            before: Some(wcc_attr(&pre)),
            after: Some(fattr3(&post)),
        }),
        Err(e) => Nfs3Result::Err(nfs_status(e), cx.wcc(&h, Some(&pre))),
    }
}

fn setattr_allowed(c: &Creds, a: &FileAttr, set: &SetAttrs) -> Result<(), Nfs3Status> {
    if c.uid == 0 {
        return Ok(());
    }
    let owner = c.uid == a.uid;
    if set.mode.is_some() && !owner {
        return Err(Nfs3Status::Perm);
    }
    // Linux `chown_ok`: only the owner may "change" the owner, and only to itself.
    if set.uid.is_some_and(|uid| !(owner && uid == a.uid)) {
        return Err(Nfs3Status::Perm);
    }
    // Linux `chgrp_ok`: the owner, to the current group or one it is in.
    if set
        .gid
        .is_some_and(|gid| !(owner && (gid == a.gid || in_group(c, gid))))
    {
        return Err(Nfs3Status::Perm);
    }
    if set.size.is_some() && !owner {
        require(a, c, W)?;
    }
    for t in [set.atime, set.mtime] {
        match t {
            SetTime::DontChange => {}
            SetTime::Client(_) if !owner => return Err(Nfs3Status::Perm),
            SetTime::ServerNow if !owner => require(a, c, W)?,
            _ => {}
        }
    }
    Ok(())
}

/// LOOKUP (RFC 1813 §3.3.3): `x` on the directory; `.` and `..` are looked up by the
/// backend (`..` of the share root is the root itself).
fn lookup(cx: &Ctx<'_>, a: &LookupArgs) -> LookupRes {
    let dh = tri!(cx.handle(&a.what.dir), None);
    let dir = tri!(cx.getattr(&dh), None);
    let dir_attrs = Some(fattr3(&dir));
    if dir.kind != FileKind::Directory {
        return Nfs3Result::Err(Nfs3Status::NotDir, dir_attrs);
    }
    tri!(require(&dir, cx.creds, X), dir_attrs);
    tri!(check_name(&a.what.name.0, NameUse::Lookup), dir_attrs);
    let (h, attr) = tri!(
        cx.vfs.lookup(&dh, &a.what.name.0).map_err(nfs_status),
        dir_attrs
    );
    let object = tri!(cx.fh(&h), dir_attrs);
    Nfs3Result::Ok(LookupOk {
        object,
        obj_attributes: Some(fattr3(&attr)),
        dir_attributes: dir_attrs,
    })
}

/// ACCESS (RFC 1813 §3.3.4), from the credentials and the mode.
fn access(cx: &Ctx<'_>, a: &AccessArgs) -> AccessRes {
    let h = tri!(cx.handle(&a.object), None);
    let attr = tri!(cx.getattr(&h), None);
    Nfs3Result::Ok(AccessOk {
        obj_attributes: Some(fattr3(&attr)),
        access: access_bits(&attr, cx.creds, a.access),
    })
}

/// READLINK (RFC 1813 §3.3.5): NFS3ERR_INVAL for anything but a symbolic link.
fn readlink(cx: &Ctx<'_>, a: &ReadlinkArgs) -> ReadlinkRes {
    let h = tri!(cx.handle(&a.symlink), None);
    let attr = tri!(cx.getattr(&h), None);
    let attrs = Some(fattr3(&attr));
    if attr.kind != FileKind::Symlink {
        return Nfs3Result::Err(Nfs3Status::Inval, attrs);
    }
    let target = tri!(cx.vfs.readlink(&h).map_err(nfs_status), attrs);
    Nfs3Result::Ok(ReadlinkOk {
        symlink_attributes: attrs,
        data: NfsPath3(Bytes::from(target)),
    })
}

/// READ (RFC 1813 §3.3.6): `count` clamped to `rtmax`. The attributes returned are the
/// ones taken for the permission check (one getattr per READ).
fn read(cx: &Ctx<'_>, a: &ReadArgs) -> ReadRes {
    let h = tri!(cx.handle(&a.file), None);
    let attr = tri!(cx.getattr(&h), None);
    let attrs = Some(fattr3(&attr));
    match attr.kind {
        FileKind::Regular => {}
        FileKind::Directory => return Nfs3Result::Err(Nfs3Status::IsDir, attrs),
        _ => return Nfs3Result::Err(Nfs3Status::Inval, attrs),
    }
    if cx.creds.uid != attr.uid && !may(&attr, cx.creds, R) && !may(&attr, cx.creds, X) {
        return Nfs3Result::Err(Nfs3Status::Acces, attrs);
    }
    let count = a.count.min(RTMAX);
    let (data, eof) = tri!(cx.vfs.read(&h, a.offset, count).map_err(nfs_status), attrs);
    Nfs3Result::Ok(ReadOk {
        file_attributes: attrs,
        eof,
        data: Bytes::from(data),
    })
}

/// The common shape of CREATE, MKDIR, SYMLINK and MKNOD (RFC 1813 §3.3.8-§3.3.11): checks
/// on the directory and the name, the backend call, wcc data of the directory.
fn create_in(
    cx: &Ctx<'_>,
    where_: &DirOpArgs3,
    op: impl FnOnce(&Handle, &[u8], &Caller) -> Result<(Handle, FileAttr), Nfs3Status>,
) -> CreateRes {
    let (dh, pre) = match dir_to_change(cx, &where_.dir) {
        Ok(v) => v,
        Err((s, a)) => return Nfs3Result::Err(s, wcc_unchanged(a.as_ref())),
    };
    tri!(
        check_name(&where_.name.0, NameUse::Create),
        wcc_unchanged(Some(&pre))
    );
    match op(&dh, &where_.name.0, &cx.caller()) {
        Ok((h, attr)) => {
            let dir_wcc = cx.wcc(&dh, Some(&pre));
            let obj = tri!(cx.fh(&h), dir_wcc);
            Nfs3Result::Ok(CreateOk {
                obj: Some(obj),
                obj_attributes: Some(fattr3(&attr)),
                dir_wcc,
            })
        }
        Err(s) => Nfs3Result::Err(s, cx.wcc(&dh, Some(&pre))),
    }
}

/// CREATE (RFC 1813 §3.3.8). EXCLUSIVE passes the verifier to the backend, which stores it
/// so a retransmission of the same CREATE succeeds with the same file; the client then sets
/// the real attributes with SETATTR.
fn create(cx: &Ctx<'_>, a: &CreateArgs) -> CreateRes {
    let (how, attrs) = match &a.how {
        CreateHow3::Unchecked(s) => (CreateHow::Unchecked, set_attrs(s)),
        CreateHow3::Guarded(s) => (CreateHow::Guarded, set_attrs(s)),
        CreateHow3::Exclusive(v) => (CreateHow::Exclusive(*v), Ok(SetAttrs::default())),
    };
    create_in(cx, &a.where_, |dir, name, caller| {
        let attrs = attrs?;
        // UNCHECKED on an existing file applies the size (RFC 1813 §3.3.8): a truncation,
        // with SETATTR size's permission and set-id rules (knfsd `nfsd_create_setattr`).
        if let (CreateHow::Unchecked, Some(size), Ok((h, old))) =
            (how, attrs.size, cx.vfs.lookup(dir, name))
        {
            if old.kind == FileKind::Regular {
                let set = SetAttrs {
                    size: Some(size),
                    ..SetAttrs::default()
                };
                setattr_allowed(cx.creds, &old, &set)?;
                cx.drop_privs_for_write(&h, &old)?;
            }
        }
        cx.vfs
            .create(dir, name, how, &attrs, caller)
            .map_err(nfs_status)
    })
}

/// MKDIR (RFC 1813 §3.3.9).
fn mkdir(cx: &Ctx<'_>, a: &MkdirArgs) -> CreateRes {
    create_in(cx, &a.where_, |dir, name, caller| {
        let attrs = set_attrs(&a.attributes)?;
        cx.vfs.mkdir(dir, name, &attrs, caller).map_err(nfs_status)
    })
}

/// SYMLINK (RFC 1813 §3.3.10).
fn symlink(cx: &Ctx<'_>, a: &SymlinkArgs) -> CreateRes {
    create_in(cx, &a.where_, |dir, name, caller| {
        let attrs = set_attrs(&a.symlink_attributes)?;
        cx.vfs
            .symlink(dir, name, &a.symlink_data.0, &attrs, caller)
            .map_err(nfs_status)
    })
}

/// MKNOD (RFC 1813 §3.3.11): NFS3ERR_BADTYPE for regular files, directories and links;
/// device files need uid 0 (CAP_MKNOD), NFS3ERR_PERM otherwise.
fn mknod(cx: &Ctx<'_>, a: &MknodArgs) -> CreateRes {
    create_in(cx, &a.where_, |dir, name, caller| {
        let (kind, rdev, sattr) = match &a.what {
            MknodData3::Chr(d) => (FileKind::CharDevice, d.spec, d.dev_attributes),
            MknodData3::Blk(d) => (FileKind::BlockDevice, d.spec, d.dev_attributes),
            MknodData3::Sock(s) => (FileKind::Socket, SpecData3::default(), *s),
            MknodData3::Fifo(s) => (FileKind::Fifo, SpecData3::default(), *s),
            MknodData3::Other(_) => return Err(Nfs3Status::BadType),
        };
        if matches!(kind, FileKind::CharDevice | FileKind::BlockDevice) && cx.creds.uid != 0 {
            return Err(Nfs3Status::Perm);
        }
        let attrs = set_attrs(&sattr)?;
        cx.vfs
            .mknod(
                dir,
                name,
                kind,
                (rdev.specdata1, rdev.specdata2),
                &attrs,
                caller,
            )
            .map_err(nfs_status)
    })
}

/// REMOVE and RMDIR (RFC 1813 §3.3.12-§3.3.13).
fn remove(cx: &Ctx<'_>, a: &RemoveArgs, is_rmdir: bool) -> RemoveRes {
    let (dh, pre) = match dir_to_change(cx, &a.object.dir) {
        Ok(v) => v,
        Err((s, a)) => return Nfs3Result::Err(s, wcc_unchanged(a.as_ref())),
    };
    let name = &a.object.name.0;
    tri!(check_name(name, NameUse::Change), wcc_unchanged(Some(&pre)));
    tri!(cx.sticky_ok(&dh, &pre, name), wcc_unchanged(Some(&pre)));
    let r = if is_rmdir {
        cx.vfs.rmdir(&dh, name)
    } else {
        cx.vfs.remove(&dh, name)
    };
    wcc_reply(r, cx.wcc(&dh, Some(&pre)))
}

/// RENAME (RFC 1813 §3.3.14): both directories need `wx`; a target directory on another
/// share is NFS3ERR_XDEV.
fn rename(cx: &Ctx<'_>, a: &RenameArgs) -> RenameRes {
    let none = RenameWcc::default();
    let fh = tri!(cx.handle(&a.from.dir), none);
    let th = tri!(cx.handle(&a.to.dir), none);
    let from_pre = tri!(cx.dir_for_change(&fh).map_err(|(s, _)| s), none);
    let to_pre = tri!(cx.dir_for_change(&th).map_err(|(s, _)| s), none);
    let unchanged = RenameWcc {
        fromdir_wcc: wcc_unchanged(Some(&from_pre)),
        todir_wcc: wcc_unchanged(Some(&to_pre)),
    };
    tri!(check_name(&a.from.name.0, NameUse::Change), unchanged);
    tri!(check_name(&a.to.name.0, NameUse::Change), unchanged);
    tri!(cx.sticky_ok(&fh, &from_pre, &a.from.name.0), unchanged);
    tri!(cx.sticky_ok(&th, &to_pre, &a.to.name.0), unchanged);
    if from_pre.fileid != to_pre.fileid {
        tri!(cx.may_reparent(&fh, &a.from.name.0), unchanged);
    }
    // RFC 1813 §3.3.14: RENAME replaces an existing target atomically.
    let r = cx
        .vfs
        .rename(&fh, &a.from.name.0, &th, &a.to.name.0, RenameMode::Replace);
    let wcc = RenameWcc {
        fromdir_wcc: cx.wcc(&fh, Some(&from_pre)),
        todir_wcc: cx.wcc(&th, Some(&to_pre)),
    };
    wcc_reply(r, wcc)
}

/// LINK (RFC 1813 §3.3.15): a directory on another share is NFS3ERR_XDEV.
fn link(cx: &Ctx<'_>, a: &LinkArgs) -> LinkRes {
    let none = LinkWcc::default();
    let fh = tri!(cx.handle(&a.file), none);
    let dh = tri!(cx.handle(&a.link.dir), none);
    let file = tri!(cx.getattr(&fh), none);
    let file_attrs = Some(fattr3(&file));
    let with_file = LinkWcc {
        file_attributes: file_attrs,
        linkdir_wcc: WccData::default(),
    };
    let pre = tri!(cx.dir_for_change(&dh).map_err(|(s, _)| s), with_file);
    let unchanged = LinkWcc {
        file_attributes: file_attrs,
        linkdir_wcc: wcc_unchanged(Some(&pre)),
    };
    tri!(check_name(&a.link.name.0, NameUse::Create), unchanged);
    let r = cx.vfs.link(&fh, &dh, &a.link.name.0);
    let wcc = LinkWcc {
        file_attributes: cx.post_op(&fh),
        linkdir_wcc: cx.wcc(&dh, Some(&pre)),
    };
    wcc_reply(r, wcc)
}

/// One entry of a listing before it is sized into a reply.
struct Listed {
    fileid: u64,
    name: Bytes,
    cookie: u64,
}

/// Where a listing stands: the directory, its attributes and verifier, checked cookie.
struct Listing {
    dh: Handle,
    dir: FileAttr,
    verf: [u8; 8],
}

/// The checks shared by READDIR and READDIRPLUS (RFC 1813 §3.3.16-§3.3.17): a directory,
/// `r` permission, and for a non-zero cookie a verifier that matches (or is zero), else
/// NFS3ERR_BAD_COOKIE.
fn open_listing(
    cx: &Ctx<'_>,
    dir: &FileHandle,
    cookie: u64,
    verf: [u8; 8],
) -> Result<Listing, (Nfs3Status, PostOpAttr)> {
    let dh = cx.handle(dir).map_err(|s| (s, None))?;
    let attr = cx.getattr(&dh).map_err(|s| (s, None))?;
    let attrs = Some(fattr3(&attr));
    if attr.kind != FileKind::Directory {
        return Err((Nfs3Status::NotDir, attrs));
    }
    require(&attr, cx.creds, R).map_err(|s| (s, attrs))?;
    let version = cx
        .vfs
        .dir_version(&dh)
        .map_err(|e| (nfs_status(e), attrs))?;
    let ours = cookie_verifier(version, attr.fileid);
    // RFC 1813 §3.3.16: a non-zero cookie comes with the verifier issued with it. An
    // all-zero verifier is accepted too (deviation): Linux clients zero their copy when they
    // drop a directory's caches yet may resume from a cached cookie, and knfsd ignores the
    // verifier altogether; a cookie the backend cannot resume from still fails with
    // NFS3ERR_BAD_COOKIE from the backend.
    if cookie != 0 && verf != ours && verf != [0; 8] {
        return Err((Nfs3Status::BadCookie, attrs));
    }
    Ok(Listing {
        dh,
        dir: attr,
        verf: ours,
    })
}

/// Produces the entries after `cookie` in order, `.` (cookie 1) and `..` (cookie 2) first,
/// then the backend's entries with their cookies shifted by 2, calling `take` for each until
/// it returns false (the reply is full). Returns whether the end of the directory was
/// reached with every entry taken.
fn walk(
    cx: &Ctx<'_>,
    l: &Listing,
    cookie: u64,
    mut take: impl FnMut(Listed) -> Result<bool, Nfs3Status>,
) -> Result<bool, Nfs3Status> {
    if cookie == 0
        && !take(Listed {
            fileid: l.dir.fileid,
            name: Bytes::from_static(b"."),
            cookie: COOKIE_DOT,
        })?
    {
        return Ok(false);
    }
    if cookie <= COOKIE_DOT {
        let parent = cx
            .vfs
            .lookup(&l.dh, b"..")
            .map(|(_, a)| a.fileid)
            .unwrap_or(l.dir.fileid);
        if !take(Listed {
            fileid: parent,
            name: Bytes::from_static(b".."),
            cookie: COOKIE_DOTDOT,
        })? {
            return Ok(false);
        }
    }
    let mut backend_cookie = cookie.saturating_sub(COOKIE_SHIFT);
    // Ask for a batch at a time; entries not taken are simply asked for again next call.
    const BATCH: usize = 256;
    loop {
        let page = cx
            .vfs
            .readdir(&l.dh, backend_cookie, BATCH)
            .map_err(nfs_status)?;
        if page.entries.is_empty() && !page.eof {
            // A backend that returns nothing yet is not at the end would loop forever.
            return Err(Nfs3Status::ServerFault);
        }
        for e in page.entries {
            let cookie = e.cookie.checked_add(COOKIE_SHIFT).ok_or(Nfs3Status::Io)?;
            backend_cookie = e.cookie;
            if !take(Listed {
                fileid: e.fileid,
                name: Bytes::from(e.name),
                cookie,
            })? {
                return Ok(false);
            }
        }
        if page.eof {
            return Ok(true);
        }
    }
}

/// Encoded size of a READDIR/READDIRPLUS reply without entries: status, `post_op_attr`,
/// verifier, end of list, eof.
fn dir_reply_overhead(attrs: &PostOpAttr) -> usize {
    4 + 4 + attrs.map_or(0, |_| Fattr3::XDR_LEN) + 8 + 4 + 4
}

/// READDIR (RFC 1813 §3.3.16): entries until the reply would exceed `count` bytes (XDR
/// overhead included; capped at 1 MiB). NFS3ERR_TOOSMALL if not even one entry fits.
fn readdir(cx: &Ctx<'_>, a: &ReaddirArgs) -> ReaddirRes {
    let l = match open_listing(cx, &a.dir, a.cookie, a.cookieverf) {
        Ok(l) => l,
        Err((s, attrs)) => return Nfs3Result::Err(s, attrs),
    };
    let attrs = Some(fattr3(&l.dir));
    let budget = a.count.min(MAX_DIR_REPLY) as usize;
    let mut used = dir_reply_overhead(&attrs);
    let mut entries = Vec::new();
    let eof = tri!(
        walk(cx, &l, a.cookie, |e| {
            let size = Entry3::xdr_len(e.name.len());
            if used + size > budget {
                return Ok(false);
            }
            used += size;
            entries.push(Entry3 {
                fileid: e.fileid,
                name: Filename3(e.name),
                cookie: e.cookie,
            });
            Ok(true)
        }),
        attrs
    );
    if entries.is_empty() && !eof {
        return Nfs3Result::Err(Nfs3Status::TooSmall, attrs);
    }
    Nfs3Result::Ok(ReaddirOk {
        dir_attributes: attrs,
        cookieverf: l.verf,
        entries,
        eof,
    })
}

/// READDIRPLUS (RFC 1813 §3.3.17): like READDIR with each entry's handle and attributes
/// (one lookup per entry). `maxcount` bounds the whole reply (capped at 1 MiB); `dircount`
/// bounds the directory part (fileid, name, cookie) but, being advisory, never keeps out
/// the first entry. An entry that vanished between listing and lookup is returned without
/// handle and attributes.
fn readdirplus(cx: &Ctx<'_>, a: &ReaddirplusArgs) -> ReaddirplusRes {
    let l = match open_listing(cx, &a.dir, a.cookie, a.cookieverf) {
        Ok(l) => l,
        Err((s, attrs)) => return Nfs3Result::Err(s, attrs),
    };
    let attrs = Some(fattr3(&l.dir));
    let max = a.maxcount.min(MAX_DIR_REPLY) as usize;
    let dircount = a.dircount as usize;
    let mut used = dir_reply_overhead(&attrs);
    let mut dir_used = 0usize;
    let mut entries: Vec<EntryPlus3> = Vec::new();
    let eof = tri!(
        walk(cx, &l, a.cookie, |e| {
            let dir_size = Entry3::xdr_len(e.name.len());
            if !entries.is_empty() && dir_used + dir_size > dircount {
                return Ok(false);
            }
            let found = if e.name.as_ref() == b"." {
                Ok((l.dh.clone(), l.dir))
            } else {
                cx.vfs.lookup(&l.dh, &e.name)
            };
            let (name_handle, name_attributes) = match found {
                Ok((h, attr)) => (Some(cx.fh(&h)?), Some(fattr3(&attr))),
                Err(_) => (None, None),
            };
            let entry = EntryPlus3 {
                fileid: e.fileid,
                name: Filename3(e.name),
                cookie: e.cookie,
                name_attributes,
                name_handle,
            };
            let size = entry.xdr_len();
            if used + size > max {
                return Ok(false);
            }
            used += size;
            dir_used += dir_size;
            entries.push(entry);
            Ok(true)
        }),
        attrs
    );
    if entries.is_empty() && !eof {
        return Nfs3Result::Err(Nfs3Status::TooSmall, attrs);
    }
    Nfs3Result::Ok(ReaddirplusOk {
        dir_attributes: attrs,
        cookieverf: l.verf,
        entries,
        eof,
    })
}

/// FSSTAT (RFC 1813 §3.3.18) from the backend's statistics; `invarsec` 0 (volatile).
fn fsstat(cx: &Ctx<'_>, a: &FsrootArgs) -> FsstatRes {
    let h = tri!(cx.handle(&a.fsroot), None);
    let attr = tri!(cx.getattr(&h), None);
    let attrs = Some(fattr3(&attr));
    let s = tri!(cx.vfs.fsstat(&h).map_err(nfs_status), attrs);
    Nfs3Result::Ok(FsstatOk {
        obj_attributes: attrs,
        tbytes: s.total_bytes,
        fbytes: s.free_bytes,
        abytes: s.avail_bytes,
        tfiles: s.total_files,
        ffiles: s.free_files,
        afiles: s.avail_files,
        invarsec: 0,
    })
}

/// FSINFO (RFC 1813 §3.3.19): 1 MiB reads and writes, 64 KiB READDIR, nanosecond times.
fn fsinfo(cx: &Ctx<'_>, a: &FsrootArgs) -> FsinfoRes {
    let h = tri!(cx.handle(&a.fsroot), None);
    let attr = tri!(cx.getattr(&h), None);
    Nfs3Result::Ok(FsinfoOk {
        obj_attributes: Some(fattr3(&attr)),
        rtmax: RTMAX,
        rtpref: RTMAX,
        rtmult: 4096,
        wtmax: WTMAX,
        wtpref: WTMAX,
        wtmult: 4096,
        dtpref: DTPREF,
        maxfilesize: MAX_FILE_SIZE,
        time_delta: NfsTime3 {
            seconds: 0,
            nseconds: 1,
        },
        properties: FSF3_LINK | FSF3_SYMLINK | FSF3_HOMOGENEOUS | FSF3_CANSETTIME,
    })
}

/// PATHCONF (RFC 1813 §3.3.20).
fn pathconf(cx: &Ctx<'_>, a: &PathconfArgs) -> PathconfRes {
    let h = tri!(cx.handle(&a.object), None);
    let attr = tri!(cx.getattr(&h), None);
    Nfs3Result::Ok(PathconfOk {
        obj_attributes: Some(fattr3(&attr)),
        linkmax: LINK_MAX,
        name_max: NAME_MAX as u32,
        no_trunc: true,
        chown_restricted: true,
        case_insensitive: false,
        case_preserving: true,
    })
}
