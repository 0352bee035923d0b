//! Thin wrappers over the Linux system calls LocalFs uses (through rustix): confined
//! `openat2`, `statx`, the `FS_IOC_GETVERSION` ioctl, the errno mapping, and the conversion
//! of `statx` results to [`FileAttr`].
//!
//! Confinement (openat2(2), Linux 5.6+): every open goes through [`open_beneath`] with
//! `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV`. Paths
//! handed to it are either one validated client name or a chain of names LocalFs recorded
//! itself, so no component is `..`; symbolic links are never followed (a final link is
//! opened as the link itself with `O_PATH | O_NOFOLLOW`), and mounts below the share are not
//! crossed. An escape attempt that the kernel refuses with `EXDEV` maps to
//! [`VfsError::Access`] (see [`map_errno`]).

use std::ffi::c_int;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{FileType, Mode, OFlags, ResolveFlags, Statx, StatxFlags};
use rustix::io::Errno;

use crate::{FileAttr, FileKind, Timestamp, VfsError};

/// Longest symbolic-link target the kernel accepts (PATH_MAX minus the NUL).
pub const SYMLINK_MAX: usize = 4095;

/// The resolve flags of every open: confined to the starting directory, no symlinks or
/// magic links followed, no mount crossed.
pub fn resolve_flags() -> ResolveFlags {
    ResolveFlags::BENEATH
        | ResolveFlags::NO_MAGICLINKS
        | ResolveFlags::NO_SYMLINKS
        | ResolveFlags::NO_XDEV
}

/// Where an errno came from: path resolution, or the operation itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ctx {
    /// openat2 resolution: `EXDEV` means the path tried to leave the share (or cross a
    /// mount below it) and maps to [`VfsError::Access`]; `ELOOP` means a symbolic link was
    /// met where a real file was required and maps to [`VfsError::Invalid`].
    Resolve,
    /// Any other call: `EXDEV` is a cross-device link or rename.
    Op,
}

/// The one errno → [`VfsError`] mapping of the local backend.
pub fn map_errno(e: Errno, ctx: Ctx) -> VfsError {
    match e {
        Errno::NOENT => VfsError::NotFound,
        Errno::EXIST => VfsError::Exists,
        Errno::NOTDIR => VfsError::NotDir,
        Errno::ISDIR => VfsError::IsDir,
        Errno::NOTEMPTY => VfsError::NotEmpty,
        Errno::ACCESS | Errno::TXTBSY => VfsError::Access,
        Errno::PERM => VfsError::Perm,
        Errno::NOSPC | Errno::DQUOT => VfsError::NoSpace,
        Errno::ROFS => VfsError::ReadOnly,
        Errno::STALE => VfsError::Stale,
        Errno::NAMETOOLONG => VfsError::NameTooLong,
        Errno::INVAL | Errno::LOOP | Errno::SPIPE => VfsError::Invalid,
        Errno::XDEV if ctx == Ctx::Resolve => VfsError::Access,
        Errno::XDEV => VfsError::CrossDevice,
        Errno::MLINK => VfsError::TooManyLinks,
        Errno::FBIG | Errno::OVERFLOW => VfsError::TooBig,
        Errno::OPNOTSUPP | Errno::NOSYS | Errno::NOTTY | Errno::NXIO | Errno::NODEV => {
            VfsError::NotSupported
        }
        _ => VfsError::Io,
    }
}

/// Maps an operation's errno.
pub fn op_err(e: Errno) -> VfsError {
    map_errno(e, Ctx::Op)
}

/// `openat2(dir, path, flags | O_CLOEXEC, mode, RESOLVE_BENEATH | ...)`.
pub fn open_beneath(
    dir: BorrowedFd<'_>,
    path: &[u8],
    flags: OFlags,
    mode: Mode,
) -> Result<OwnedFd, VfsError> {
    rustix::fs::openat2(dir, path, flags | OFlags::CLOEXEC, mode, resolve_flags())
        .map_err(|e| map_errno(e, Ctx::Resolve))
}

/// `statx` of an open file (any kind of fd, `O_PATH` included), not following links.
pub fn statx_fd(fd: BorrowedFd<'_>) -> Result<Statx, VfsError> {
    rustix::fs::statx(
        fd,
        "",
        rustix::fs::AtFlags::EMPTY_PATH | rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        StatxFlags::BASIC_STATS | StatxFlags::BTIME,
    )
    .map_err(op_err)
}

/// `statx` of `name` in `dir`, not following a final link.
pub fn statx_at(dir: BorrowedFd<'_>, name: &[u8]) -> Result<Statx, VfsError> {
    rustix::fs::statx(
        dir,
        name,
        // Never trigger an automount below the share just by looking.
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW | rustix::fs::AtFlags::NO_AUTOMOUNT,
        StatxFlags::BASIC_STATS | StatxFlags::BTIME,
    )
    .map_err(op_err)
}

/// The inode's generation number (`i_generation`) through `FS_IOC_GETVERSION`, on file
/// systems that implement it (ext4, xfs, btrfs, ...); `None` elsewhere (tmpfs) or when `fd`
/// is an `O_PATH` descriptor.
#[allow(unsafe_code)]
pub fn inode_generation(fd: BorrowedFd<'_>) -> Option<u32> {
    use rustix::ioctl::{opcode, Getter, Opcode};
    // linux/fs.h: #define FS_IOC_GETVERSION _IOR('v', 1, long)
    const FS_IOC_GETVERSION: Opcode = opcode::read::<std::ffi::c_long>(b'v', 1);
    // SAFETY: FS_IOC_GETVERSION is a read-only query; every implementation (ext4, xfs,
    // btrfs, f2fs) stores the inode's generation as an `int` through the pointer
    // (`put_user(inode->i_generation, (int __user *)arg)`), which is exactly the `c_int`
    // output buffer the Getter provides. It has no other effect on the file.
    let getter = unsafe { Getter::<FS_IOC_GETVERSION, c_int>::new() };
    // SAFETY: see above; `fd` is a valid borrowed descriptor.
    unsafe { rustix::ioctl::ioctl(fd, getter) }
        .ok()
        .map(|g| g as u32)
}

/// Starts writeback of the byte range `offset..offset + len` of `fd` without waiting for it
/// (`sync_file_range(2)` with `SYNC_FILE_RANGE_WRITE`; rustix has no wrapper). It makes
/// nothing durable by itself — metadata and the disk cache are not flushed — so COMMIT still
/// calls `fsync`, which then finds most of the data already written.
#[allow(unsafe_code)]
pub fn start_writeback(fd: BorrowedFd<'_>, offset: u64, len: u64) -> Result<(), Errno> {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return Err(Errno::INVAL);
    };
    // SAFETY: sync_file_range takes a descriptor and three integers and touches no memory
    // of ours; `fd` stays open for the whole call because it is borrowed.
    let r =
        unsafe { libc::sync_file_range(fd.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE) };
    if r == 0 {
        Ok(())
    } else {
        Err(Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::IO))
    }
}

/// The file type in a statx mode.
pub fn kind_of(st: &Statx) -> FileKind {
    match FileType::from_raw_mode(st.stx_mode.into()) {
        FileType::RegularFile => FileKind::Regular,
        FileType::Directory => FileKind::Directory,
        FileType::Symlink => FileKind::Symlink,
        FileType::Fifo => FileKind::Fifo,
        FileType::Socket => FileKind::Socket,
        FileType::CharacterDevice => FileKind::CharDevice,
        FileType::BlockDevice => FileKind::BlockDevice,
        // An unknown type cannot be served sensibly; present it as a regular file, whose
        // reads the kernel will refuse.
        _ => FileKind::Regular,
    }
}

/// The device of a statx result as one number (major in the high half).
pub fn dev_of(st: &Statx) -> u64 {
    (u64::from(st.stx_dev_major) << 32) | u64::from(st.stx_dev_minor)
}

/// The statx birth time, if the file system reports one.
pub fn btime_of(st: &Statx) -> Option<Timestamp> {
    (st.stx_mask & StatxFlags::BTIME.bits() != 0).then_some(Timestamp {
        secs: st.stx_btime.tv_sec,
        nsecs: st.stx_btime.tv_nsec,
    })
}

/// Converts a statx result to NFS attributes.
pub fn attr_of(st: &Statx) -> FileAttr {
    let ts = |t: &rustix::fs::StatxTimestamp| Timestamp {
        secs: t.tv_sec,
        nsecs: t.tv_nsec.min(999_999_999),
    };
    FileAttr {
        kind: kind_of(st),
        mode: u32::from(st.stx_mode) & 0o7777,
        nlink: st.stx_nlink,
        uid: st.stx_uid,
        gid: st.stx_gid,
        size: st.stx_size,
        used: st.stx_blocks.saturating_mul(512),
        rdev: (st.stx_rdev_major, st.stx_rdev_minor),
        fsid: dev_of(st),
        fileid: st.stx_ino,
        atime: ts(&st.stx_atime),
        mtime: ts(&st.stx_mtime),
        ctime: ts(&st.stx_ctime),
    }
}

/// Where an extended attribute of an open node is read or written: the descriptor itself,
/// or — for an `O_PATH` descriptor, on which the `f*xattr` calls fail with `EBADF` — the
/// `/proc/self/fd/N` magic link, which names exactly the inode the server holds (as `chmod`
/// of such a node does; see the module documentation of `local`).
pub enum XattrTarget<'a> {
    /// A readable or writable descriptor.
    Fd(BorrowedFd<'a>),
    /// An `O_PATH` descriptor of a regular file or directory.
    Path(BorrowedFd<'a>),
}

fn proc_path(fd: BorrowedFd<'_>) -> String {
    use std::os::fd::AsRawFd;
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// Reads extended attribute `name` into `buf`: `Ok(None)` when the file has none
/// (`ENODATA`) or the file system keeps no user attributes (`EOPNOTSUPP`).
pub fn get_xattr(
    target: &XattrTarget<'_>,
    name: &str,
    buf: &mut [u8],
) -> Result<Option<usize>, Errno> {
    let r = match target {
        XattrTarget::Fd(fd) => rustix::fs::fgetxattr(fd, name, buf),
        XattrTarget::Path(fd) => rustix::fs::getxattr(proc_path(*fd).as_str(), name, buf),
    };
    match r {
        Ok(n) => Ok(Some(n)),
        Err(Errno::NODATA) | Err(Errno::OPNOTSUPP) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes extended attribute `name` (created or replaced).
pub fn set_xattr(target: &XattrTarget<'_>, name: &str, value: &[u8]) -> Result<(), Errno> {
    let flags = rustix::fs::XattrFlags::empty();
    match target {
        XattrTarget::Fd(fd) => rustix::fs::fsetxattr(fd, name, value, flags),
        XattrTarget::Path(fd) => rustix::fs::setxattr(proc_path(*fd).as_str(), name, value, flags),
    }
}

/// Whether this process runs as root (then new files are given to the caller).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The fd as a borrowed descriptor (helper for `Arc<OwnedFd>` and friends).
pub fn b(fd: &OwnedFd) -> BorrowedFd<'_> {
    fd.as_fd()
}
