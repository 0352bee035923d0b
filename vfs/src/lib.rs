//! File-system backends: the [`Vfs`] trait and its implementations.
//!
//! - [`memory`]: an in-memory tree (tests, simulation, pcap replay).
//! - [`local`]: a real directory; every path is resolved with openat2 `RESOLVE_BENEATH` so
//!   `..` and symlinks cannot escape the share; handles encode inode and generation and
//!   survive a restart.
//! - [`backend`]: opening the backend of one share, as every runtime does it.
//!
//! Backends are called from the runtime's worker threads, so they are `Send + Sync` and do
//! their own (fine-grained) locking. Protocol semantics (wcc data, cookie verifiers, ACCESS
//! computation, status mapping) live above this trait, in the NFSv3 executor; a backend
//! only does file-system work and reports what happened.
//!
//! THIS FILE IS THE CONTRACT between the backends and the protocol executors. The names are
//! fixed; add methods only together with every implementation.

use std::fmt;

pub mod backend;
pub mod local;
pub mod memory;

/// A backend's own handle for a file: opaque bytes, at most [`Handle::MAX_LEN`] long,
/// stable across restarts for the `local` backend. The NFS file handle wraps it with the
/// share id (`proto_nfs::nfs3::FileHandle`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Handle(pub Vec<u8>);

impl Handle {
    /// The largest backend handle (64-byte NFS handle minus Janus's 5-byte prefix).
    pub const MAX_LEN: usize = 59;
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handle(")?;
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// What went wrong, in file-system terms (the executor maps these to NFS3ERR_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VfsError {
    /// No such file or directory (ENOENT).
    #[error("no such file or directory")]
    NotFound,
    /// The name already exists (EEXIST).
    #[error("file exists")]
    Exists,
    /// A directory was required (ENOTDIR).
    #[error("not a directory")]
    NotDir,
    /// A non-directory was required (EISDIR).
    #[error("is a directory")]
    IsDir,
    /// Directory not empty (ENOTEMPTY).
    #[error("directory not empty")]
    NotEmpty,
    /// Permission denied by the file's mode or ownership (EACCES).
    #[error("permission denied")]
    Access,
    /// Operation not permitted to this user (EPERM).
    #[error("operation not permitted")]
    Perm,
    /// No space left (ENOSPC) or quota exceeded (EDQUOT).
    #[error("no space left on device")]
    NoSpace,
    /// The file system is read-only (EROFS).
    #[error("read-only file system")]
    ReadOnly,
    /// The handle names a file that no longer exists (deleted, or generation changed).
    #[error("stale file handle")]
    Stale,
    /// The handle is not one this backend issued (malformed).
    #[error("bad file handle")]
    BadHandle,
    /// A name component is too long (ENAMETOOLONG).
    #[error("name too long")]
    NameTooLong,
    /// An argument is invalid (EINVAL), e.g. a name containing `/` or equal to `..`.
    #[error("invalid argument")]
    Invalid,
    /// Cross-device link or rename (EXDEV).
    #[error("cross-device link")]
    CrossDevice,
    /// Too many links (EMLINK).
    #[error("too many links")]
    TooManyLinks,
    /// File too large (EFBIG).
    #[error("file too large")]
    TooBig,
    /// The readdir cookie is not valid for this directory any more.
    #[error("bad readdir cookie")]
    BadCookie,
    /// The backend does not support this operation or file type.
    #[error("operation not supported")]
    NotSupported,
    /// Any other I/O error (EIO).
    #[error("i/o error")]
    Io,
}

/// Result of a backend operation.
pub type VfsResult<T> = Result<T, VfsError>;

/// Longest name component a backend accepts (NAME_MAX on Linux).
pub const NAME_MAX: usize = 255;

/// The name rule every backend applies to a directory entry's name, whatever the
/// protocol above already checked: one non-empty component without `/` or NUL
/// ([`VfsError::Invalid`]) of at most [`NAME_MAX`] bytes ([`VfsError::NameTooLong`]);
/// `creating` (or removing, renaming: a real entry is meant) also refuses `.` and `..`
/// (EINVAL, as POSIX `mkdir`/`rmdir`/`rename` give for them).
pub fn check_name(name: &[u8], creating: bool) -> VfsResult<()> {
    if name.is_empty() || name.contains(&b'/') || name.contains(&0) {
        return Err(VfsError::Invalid);
    }
    if creating && (name == b"." || name == b"..") {
        return Err(VfsError::Invalid);
    }
    if name.len() > NAME_MAX {
        return Err(VfsError::NameTooLong);
    }
    Ok(())
}

/// File type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// Regular file.
    Regular,
    /// Directory.
    Directory,
    /// Block device.
    BlockDevice,
    /// Character device.
    CharDevice,
    /// Symbolic link.
    Symlink,
    /// Socket.
    Socket,
    /// Named pipe.
    Fifo,
}

/// Seconds and nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    /// Seconds.
    pub secs: i64,
    /// Nanoseconds, `< 1_000_000_000`.
    pub nsecs: u32,
}

/// Attributes of a file (what NFSv3 `fattr3` needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileAttr {
    /// Type.
    pub kind: FileKind,
    /// Permission bits (lower 12 bits: rwx for u/g/o, setuid, setgid, sticky).
    pub mode: u32,
    /// Hard links.
    pub nlink: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Bytes actually allocated.
    pub used: u64,
    /// Device numbers (major, minor) for device files.
    pub rdev: (u32, u32),
    /// File-system id.
    pub fsid: u64,
    /// File id (inode number), unique within `fsid`.
    pub fileid: u64,
    /// Last access.
    pub atime: Timestamp,
    /// Last data modification.
    pub mtime: Timestamp,
    /// Last status change.
    pub ctime: Timestamp,
}

/// How to set a time attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SetTime {
    /// Leave it alone.
    #[default]
    DontChange,
    /// Set to the server's current time.
    ServerNow,
    /// Set to this time.
    Client(Timestamp),
}

/// Attributes to change (NFSv3 `sattr3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SetAttrs {
    /// New permission bits.
    pub mode: Option<u32>,
    /// New owner.
    pub uid: Option<u32>,
    /// New group.
    pub gid: Option<u32>,
    /// New size (truncate or extend).
    pub size: Option<u64>,
    /// New access time.
    pub atime: SetTime,
    /// New modification time.
    pub mtime: SetTime,
}

/// How CREATE treats an existing name (RFC 1813 §3.3.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateHow {
    /// Create, or open the existing file (then apply `size` from the attributes).
    Unchecked,
    /// Fail with [`VfsError::Exists`] if the name exists.
    Guarded,
    /// Exclusive create with this verifier: the backend stores it with the new file, and a
    /// retransmission (same name, same verifier) succeeds with the same file.
    Exclusive([u8; 8]),
}

/// Durability requested by WRITE (RFC 1813 §3.3.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stability {
    /// May stay in memory until COMMIT.
    Unstable,
    /// Data on stable storage before the reply.
    DataSync,
    /// Data and metadata on stable storage before the reply.
    FileSync,
}

/// Who performs an operation, for ownership of new files and permission checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// uid.
    pub uid: u32,
    /// Primary gid.
    pub gid: u32,
    /// Supplementary gids.
    pub gids: Vec<u32>,
}

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// Name (bytes; not necessarily UTF-8).
    pub name: Vec<u8>,
    /// File id (inode number).
    pub fileid: u64,
    /// Cookie to resume listing *after* this entry; stable while the entry exists, never 0.
    pub cookie: u64,
}

/// A page of directory entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirPage {
    /// Entries after the requested cookie, in listing order.
    pub entries: Vec<DirEntry>,
    /// Whether the listing reached the end of the directory.
    pub eof: bool,
}

/// File-system statistics (NFSv3 FSSTAT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsStat {
    /// Total bytes.
    pub total_bytes: u64,
    /// Free bytes.
    pub free_bytes: u64,
    /// Bytes available to the caller.
    pub avail_bytes: u64,
    /// Total file slots.
    pub total_files: u64,
    /// Free file slots.
    pub free_files: u64,
    /// File slots available to the caller.
    pub avail_files: u64,
}

/// A file-system backend. Every method takes handles this backend issued; a handle of a
/// deleted file gives [`VfsError::Stale`], a malformed one [`VfsError::BadHandle`].
/// Names are single components: a backend refuses `""`, `"."`, `".."` where creating, and any
/// name containing `/` or NUL, with [`VfsError::Invalid`].
pub trait Vfs: Send + Sync + fmt::Debug {
    /// The share's root directory.
    fn root(&self) -> Handle;
    /// Attributes of a file.
    fn getattr(&self, h: &Handle) -> VfsResult<FileAttr>;
    /// Changes attributes; returns the new attributes.
    fn setattr(&self, h: &Handle, set: &SetAttrs) -> VfsResult<FileAttr>;
    /// Looks `name` up in `dir` (`.` and `..` allowed; `..` of the root is the root).
    fn lookup(&self, dir: &Handle, name: &[u8]) -> VfsResult<(Handle, FileAttr)>;
    /// Target of a symbolic link.
    fn readlink(&self, h: &Handle) -> VfsResult<Vec<u8>>;
    /// Reads up to `count` bytes at `offset`; returns the data and whether it reached EOF.
    fn read(&self, h: &Handle, offset: u64, count: u32) -> VfsResult<(Vec<u8>, bool)>;
    /// Writes `data` at `offset` with at least `stable` durability; returns the durability
    /// actually achieved and the attributes after the write.
    fn write(
        &self,
        h: &Handle,
        offset: u64,
        data: &[u8],
        stable: Stability,
    ) -> VfsResult<(Stability, FileAttr)>;
    /// Starts writing `offset..offset + len` of a file to disk without waiting for it
    /// (flush-behind, after large UNSTABLE writes). It makes nothing durable: COMMIT still
    /// syncs. Backends without a disk do nothing (the default).
    fn start_writeback(&self, _h: &Handle, _offset: u64, _len: u64) -> VfsResult<()> {
        Ok(())
    }
    /// Whether an UNSTABLE write may be acknowledged before its data is copied
    /// (`server::write_behind`): the backend must be able to take the write later and
    /// fail only for reasons a COMMIT may report (space, I/O). Off by default.
    fn write_behind(&self) -> bool {
        false
    }
    /// Makes earlier unstable writes durable (fsync).
    fn commit(&self, h: &Handle) -> VfsResult<FileAttr>;
    /// Creates (or, for `Unchecked`, opens) a regular file.
    fn create(
        &self,
        dir: &Handle,
        name: &[u8],
        how: CreateHow,
        attrs: &SetAttrs,
        caller: &Caller,
    ) -> VfsResult<(Handle, FileAttr)>;
    /// Creates a directory.
    fn mkdir(
        &self,
        dir: &Handle,
        name: &[u8],
        attrs: &SetAttrs,
        caller: &Caller,
    ) -> VfsResult<(Handle, FileAttr)>;
    /// Creates a symbolic link to `target`.
    fn symlink(
        &self,
        dir: &Handle,
        name: &[u8],
        target: &[u8],
        attrs: &SetAttrs,
        caller: &Caller,
    ) -> VfsResult<(Handle, FileAttr)>;
    /// Creates a device, socket or FIFO (`kind` is not Regular/Directory/Symlink).
    fn mknod(
        &self,
        dir: &Handle,
        name: &[u8],
        kind: FileKind,
        rdev: (u32, u32),
        attrs: &SetAttrs,
        caller: &Caller,
    ) -> VfsResult<(Handle, FileAttr)>;
    /// Removes a non-directory.
    fn remove(&self, dir: &Handle, name: &[u8]) -> VfsResult<()>;
    /// Removes an empty directory.
    fn rmdir(&self, dir: &Handle, name: &[u8]) -> VfsResult<()>;
    /// Renames, replacing a compatible existing target.
    fn rename(
        &self,
        from_dir: &Handle,
        from_name: &[u8],
        to_dir: &Handle,
        to_name: &[u8],
    ) -> VfsResult<()>;
    /// Creates a hard link to `file` as `dir/name`.
    fn link(&self, file: &Handle, dir: &Handle, name: &[u8]) -> VfsResult<()>;
    /// Lists up to `max_entries` entries after `cookie` (0 = from the start). `.` and `..`
    /// are not included; the executor adds them.
    fn readdir(&self, dir: &Handle, cookie: u64, max_entries: usize) -> VfsResult<DirPage>;
    /// The cookie epoch of `dir`: a value that changes whenever cookies issued earlier for
    /// `dir` could no longer resume a listing correctly (it need not change on every
    /// create/remove when cookies are stable, as they are for hash- or id-based cookies).
    /// The executor derives READDIR cookie verifiers from it.
    fn dir_version(&self, dir: &Handle) -> VfsResult<u64>;
    /// File-system statistics.
    fn fsstat(&self, h: &Handle) -> VfsResult<FsStat>;
}
