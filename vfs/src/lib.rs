//! File-system backends: the [`Vfs`] trait and its implementations.
//!
//! - [`memory`]: an in-memory tree (tests, simulation, pcap replay).
//! - [`local`]: a real directory; every path is resolved with openat2 `RESOLVE_BENEATH` so
//!   `..` and symlinks cannot escape the share; handles encode inode and generation and
//!   survive a restart.
//! - [`backend`]: opening the backend of one share, as every runtime does it.
//! - [`dosattrib`]: the byte format of the `user.DOSATTRIB` extended attribute (Samba's).
//!
//! Backends are called from the runtime's worker threads, so they are `Send + Sync` and do
//! their own (fine-grained) locking. Protocol semantics (NFS wcc data and cookie verifiers,
//! SMB share modes, delete-on-close and FileAttributes validation, ACCESS computation,
//! status mapping) live above this trait, in the protocol executors; a backend only does
//! file-system work and reports what happened.
//!
//! # What the contract offers, by capability
//!
//! The trait speaks in file-system terms; each protocol maps them to its own words.
//!
//! | capability | methods | NFSv3 (RFC 1813) | SMB2 (MS-SMB2 / MS-FSCC / MS-FSA) |
//! |---|---|---|---|
//! | POSIX attributes | [`Vfs::getattr`], [`Vfs::setattr`] | GETATTR, SETATTR (`fattr3`, `sattr3`) | times, sizes and link count of every info class; SET_INFO times / EOF |
//! | birth time | [`DosAttrs::birth_time`], [`DosAttrs::creation_time`] | — | `CreationTime` |
//! | DOS attributes | [`Vfs::dos_attrs`], [`Vfs::set_dos_attrs`] | — | `FileAttributes` (MS-FSCC 2.6), SET_INFO FileBasicInformation |
//! | allocation size | [`FileAttr::used`], [`Vfs::set_allocation`] | `used` | `AllocationSize`, SET_INFO FileAllocationInformation |
//! | stable file id | [`FileAttr::fileid`], [`DirEntry::fileid`] | `fileid` | FileInternalInformation, `FileId` of directory classes |
//! | rename | [`Vfs::rename`] with [`RenameMode`] | RENAME (replaces) | FileRenameInformation `ReplaceIfExists` |
//! | removing an open file | [`Vfs::hold`], [`Vfs::release`] | — (clients rename "silly") | an open survives the file's deletion by another client |
//! | directory listing with resume | [`Vfs::readdir`] cookies, [`Vfs::dir_version`] | READDIR(PLUS) cookies and verifier | QUERY_DIRECTORY resume (per open, restart scans = cookie 0) |
//!
//! Reading the DOS attributes costs an extended-attribute read on the local backend, so it
//! is a separate call ([`Vfs::dos_attrs`]): GETATTR, READ and WRITE (the NFS hot paths)
//! never pay for it, and [`FileAttr`], which every NFS reply copies, does not grow: the birth
//! time comes with [`DosAttrs`] too. A QUERY_DIRECTORY page costs one [`Vfs::readdir`] and,
//! per entry, [`Vfs::lookup`] and [`Vfs::dos_attrs`] (what Samba does too: a stat and a
//! `getxattr` per entry).
//!
//! THIS FILE IS THE CONTRACT between the backends and the protocol executors. The names are
//! fixed; add methods only together with every implementation.

use std::fmt;

pub mod backend;
pub mod dosattrib;
pub mod local;
pub mod memory;

/// A backend's own handle for a file: opaque bytes, at most [`Handle::MAX_LEN`] long,
/// stable across restarts for the `local` backend. The NFS file handle wraps it with the
/// share id (`proto_nfs::nfs3::FileHandle`); an SMB open keeps it beside its `FileId`.
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

/// What went wrong, in file-system terms (each protocol executor maps these to its own
/// status codes: NFS3ERR_*, NTSTATUS).
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

/// The POSIX attributes of a file, as one `stat` gives them: everything NFSv3 `fattr3` carries
/// and what SMB reports beside the DOS attributes (sizes, times, link count, file id). The
/// Windows-only attributes are in [`DosAttrs`] (a separate, slightly dearer call).
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
    /// Bytes actually allocated: the SMB `AllocationSize` (MS-FSCC 2.4.41
    /// FileStandardInformation) and NFSv3 `used`. It can exceed `size` after
    /// [`Vfs::set_allocation`] (preallocation) and be below it for a sparse file.
    pub used: u64,
    /// Device numbers (major, minor) for device files.
    pub rdev: (u32, u32),
    /// File-system id.
    pub fsid: u64,
    /// The stable 64-bit file id: unique within `fsid` (a share never crosses a mount) while
    /// the file exists, the same for
    /// every name (hard link) of the file, unchanged by rename and by a server restart (the
    /// inode number on the local backend). It may be reused after the file is deleted (the
    /// handle's generation tells incarnations apart). NFSv3 `fileid`; SMB `IndexNumber`
    /// of FileInternalInformation (MS-FSCC 2.4.26) and the `FileId` of the directory
    /// information classes (MS-FSCC 2.4.17 FileIdBothDirectoryInformation and friends).
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

/// POSIX attributes to change (NFSv3 `sattr3`; the times and end of file of SMB SET_INFO
/// FileBasicInformation / FileEndOfFileInformation). Windows-only attributes are set with
/// [`Vfs::set_dos_attrs`], the allocation with [`Vfs::set_allocation`].
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

/// How CREATE treats an existing name (RFC 1813 §3.3.8; SMB `CreateDisposition` maps onto
/// it: FILE_CREATE = `Guarded`, FILE_OPEN_IF / FILE_OVERWRITE_IF = `Unchecked`).
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
    /// The entry's stable file id (the same value as [`FileAttr::fileid`]).
    pub fileid: u64,
    /// Cookie to resume listing *after* this entry; stable while the entry exists, never 0.
    /// NFS READDIR hands it to the client; SMB QUERY_DIRECTORY keeps the last one in the
    /// open and resumes from it (a restart of the scan is cookie 0).
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

/// File-system statistics (NFSv3 FSSTAT; SMB FileFsSizeInformation and
/// FileFsFullSizeInformation).
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

/// Whether a rename may replace an existing target name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenameMode {
    /// Replace a compatible existing target, atomically (POSIX `rename()`; NFSv3 RENAME,
    /// SMB FileRenameInformation with `ReplaceIfExists`).
    Replace,
    /// Fail with [`VfsError::Exists`] if the target name exists, even when it names the same
    /// file (Linux `renameat2(RENAME_NOREPLACE)`; SMB without `ReplaceIfExists`, which the
    /// executor maps to STATUS_OBJECT_NAME_COLLISION). The check and the rename are one
    /// atomic step, so a name created concurrently is never overwritten.
    NoReplace,
}

/// The DOS attribute bits (MS-FSCC 2.6 File Attributes) the backends know.
///
/// [`DosAttrs::attributes`] holds the stored bits ([`STORABLE`](file_attributes::STORABLE))
/// plus [`DIRECTORY`](file_attributes::DIRECTORY) for a directory. `0` is a valid value
/// (nothing set); on the wire SMB sends FILE_ATTRIBUTE_NORMAL for it (MS-FSCC 2.6: NORMAL
/// is valid only alone), which is the executor's business, as are the attributes a name or
/// an open implies (a leading dot as HIDDEN, SPARSE, REPARSE_POINT).
pub mod file_attributes {
    /// FILE_ATTRIBUTE_READONLY.
    pub const READONLY: u32 = 0x0000_0001;
    /// FILE_ATTRIBUTE_HIDDEN.
    pub const HIDDEN: u32 = 0x0000_0002;
    /// FILE_ATTRIBUTE_SYSTEM.
    pub const SYSTEM: u32 = 0x0000_0004;
    /// FILE_ATTRIBUTE_DIRECTORY: derived from the file type, never stored on its own.
    pub const DIRECTORY: u32 = 0x0000_0010;
    /// FILE_ATTRIBUTE_ARCHIVE.
    pub const ARCHIVE: u32 = 0x0000_0020;
    /// FILE_ATTRIBUTE_NORMAL: "no other attribute"; accepted by a set and dropped.
    pub const NORMAL: u32 = 0x0000_0080;
    /// FILE_ATTRIBUTE_TEMPORARY (not valid on a directory, MS-FSA 2.1.5.15.2).
    pub const TEMPORARY: u32 = 0x0000_0100;
    /// FILE_ATTRIBUTE_OFFLINE.
    pub const OFFLINE: u32 = 0x0000_1000;
    /// FILE_ATTRIBUTE_NOT_CONTENT_INDEXED.
    pub const NOT_CONTENT_INDEXED: u32 = 0x0000_2000;
    /// The bits a backend stores (the ones FileBasicInformation may set; SPARSE, COMPRESSED,
    /// ENCRYPTED and REPARSE_POINT change only through FSCTLs and are not stored). Samba
    /// reads back READONLY, HIDDEN, SYSTEM and ARCHIVE of them (its SAMBA_ATTRIBUTES_MASK).
    pub const STORABLE: u32 =
        READONLY | HIDDEN | SYSTEM | ARCHIVE | TEMPORARY | OFFLINE | NOT_CONTENT_INDEXED;
    /// Every bit a set may carry without being refused: the storable ones, NORMAL (ignored)
    /// and DIRECTORY (must match the file type).
    pub const SETTABLE: u32 = STORABLE | NORMAL | DIRECTORY;
}

/// Where [`DosAttrs::creation_time`] comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreationSource {
    /// Stored beside the DOS attributes (set through SMB, or recorded when the attributes
    /// were first stored, as Samba does).
    Stored,
    /// The file system's own birth time ([`DosAttrs::birth_time`]).
    Birth,
    /// Neither exists: the earliest of `ctime` and `mtime` (stable for a file nobody
    /// touches; Samba's "calculated" creation time does the same minus atime).
    Derived,
}

/// The Windows-side attributes of a file (what SMB CREATE, QUERY_INFO and QUERY_DIRECTORY
/// report beyond [`FileAttr`]), with the [`FileAttr`] of the same moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DosAttrs {
    /// The POSIX attributes (`attr.used` is the allocation size).
    pub attr: FileAttr,
    /// Birth time as the file system itself records it (`statx` `STATX_BTIME` on the local
    /// backend, the clock at creation on the memory backend; `None` where the file system
    /// keeps none, e.g. some FUSE or network file systems, or ext4 inodes too small for
    /// it). Linux cannot set it; see `creation_time`.
    pub birth_time: Option<Timestamp>,
    /// The DOS attribute word ([`file_attributes`]): the stored bits, plus DIRECTORY for a
    /// directory. When nothing is stored it is derived: DIRECTORY for a directory, else 0
    /// (what Samba 4.17 reports for a file without `user.DOSATTRIB`; no bit is invented from
    /// the mode, like Samba's default `map readonly = no`).
    pub attributes: u32,
    /// Whether `attributes` were stored (false: derived, see above).
    pub stored: bool,
    /// The creation time SMB reports (`CreationTime`).
    pub creation_time: Timestamp,
    /// Where `creation_time` comes from.
    pub creation_source: CreationSource,
}

impl DosAttrs {
    /// The attributes a backend that stores nothing reports for `attr` and `birth_time`:
    /// DIRECTORY for a directory, else 0; the creation time from the birth time, else the
    /// earliest of `ctime` and `mtime`.
    pub fn derived(attr: FileAttr, birth_time: Option<Timestamp>) -> Self {
        let (creation_time, creation_source) = match birth_time {
            Some(t) => (t, CreationSource::Birth),
            None => (attr.ctime.min(attr.mtime), CreationSource::Derived),
        };
        Self {
            attr,
            birth_time,
            attributes: if attr.kind == FileKind::Directory {
                file_attributes::DIRECTORY
            } else {
                0
            },
            stored: false,
            creation_time,
            creation_source,
        }
    }
}

/// Windows-side attributes to change ([`Vfs::set_dos_attrs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SetDosAttrs {
    /// New DOS attribute word (MS-FSA 2.1.5.15.2: the whole word is replaced). Bits outside
    /// [`file_attributes::SETTABLE`] give [`VfsError::Invalid`], as do DIRECTORY on a
    /// non-directory and TEMPORARY on a directory; NORMAL and DIRECTORY are not stored.
    pub attributes: Option<u32>,
    /// New creation time. Linux cannot set a birth time, so it is stored beside the DOS
    /// attributes and reported from there ([`CreationSource::Stored`]).
    pub creation_time: Option<Timestamp>,
}

impl SetDosAttrs {
    /// Validates the attribute word for a directory or not (MS-FSA 2.1.5.15.2: DIRECTORY
    /// on a file and TEMPORARY on a directory are STATUS_INVALID_PARAMETER) and returns the
    /// bits to store, if the word is set. Every backend applies this rule.
    pub fn stored_bits(&self, is_dir: bool) -> VfsResult<Option<u32>> {
        let Some(a) = self.attributes else {
            return Ok(None);
        };
        if a & !file_attributes::SETTABLE != 0
            || (a & file_attributes::DIRECTORY != 0 && !is_dir)
            || (a & file_attributes::TEMPORARY != 0 && is_dir)
        {
            return Err(VfsError::Invalid);
        }
        Ok(Some(a & file_attributes::STORABLE))
    }
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
    /// [`Vfs::read`] appending the data to `buf`, after what it holds already (a server
    /// keeps room there for the headers of its reply, and reads straight into the buffer
    /// it sends). Returns the bytes read and whether they reached EOF; on error `buf` is
    /// as it was. The provided method reads, then copies.
    fn read_into(
        &self,
        h: &Handle,
        offset: u64,
        count: u32,
        buf: &mut Vec<u8>,
    ) -> VfsResult<(usize, bool)> {
        let (data, eof) = self.read(h, offset, count)?;
        buf.extend_from_slice(&data);
        Ok((data.len(), eof))
    }
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
    /// Renames `from_dir/from_name` to `to_dir/to_name`. With [`RenameMode::Replace`] a
    /// compatible existing target is replaced atomically (POSIX `rename()`: a directory only
    /// by a directory, and only an empty one); with [`RenameMode::NoReplace`] an existing
    /// target gives [`VfsError::Exists`] before any other check of the target.
    fn rename(
        &self,
        from_dir: &Handle,
        from_name: &[u8],
        to_dir: &Handle,
        to_name: &[u8],
        mode: RenameMode,
    ) -> VfsResult<()>;
    /// Creates a hard link to `file` as `dir/name`.
    fn link(&self, file: &Handle, dir: &Handle, name: &[u8]) -> VfsResult<()>;
    /// Lists up to `max_entries` entries after `cookie` (0 = from the start). `.` and `..`
    /// are not included; the executor adds them.
    fn readdir(&self, dir: &Handle, cookie: u64, max_entries: usize) -> VfsResult<DirPage>;
    /// The name of the first entry of `dir` (in listing order, `.` and `..` left out) that
    /// `matches`, if any: a case-insensitive name lookup's scan of the directory after the
    /// exact name missed. The provided method reads [`Vfs::readdir`] pages; a backend can
    /// sweep the directory without building entries.
    fn find_entry(
        &self,
        dir: &Handle,
        matches: &mut dyn FnMut(&[u8]) -> bool,
    ) -> VfsResult<Option<Vec<u8>>> {
        let mut cookie = 0;
        loop {
            let page = self.readdir(dir, cookie, 512)?;
            let done = page.eof || page.entries.is_empty();
            for e in page.entries {
                cookie = e.cookie;
                if matches(&e.name) {
                    return Ok(Some(e.name));
                }
            }
            if done {
                return Ok(None);
            }
        }
    }
    /// The cookie epoch of `dir`: a value that changes whenever cookies issued earlier for
    /// `dir` could no longer resume a listing correctly (it need not change on every
    /// create/remove when cookies are stable, as they are for hash- or id-based cookies).
    /// The executor derives READDIR cookie verifiers from it.
    fn dir_version(&self, dir: &Handle) -> VfsResult<u64>;
    /// File-system statistics.
    fn fsstat(&self, h: &Handle) -> VfsResult<FsStat>;

    /// The Windows-side attributes of a file: DOS attributes and creation time, with the
    /// POSIX attributes of the same moment. Backends that store them (the local backend in
    /// the `user.DOSATTRIB` extended attribute, see [`dosattrib`]; the memory backend in
    /// the inode) report what was stored; what a file without them reports is
    /// [`DosAttrs::derived`] (the default, for a backend that stores nothing). It costs an
    /// extended-attribute read on the local backend, so NFS never calls it.
    fn dos_attrs(&self, h: &Handle) -> VfsResult<DosAttrs> {
        self.getattr(h).map(|a| DosAttrs::derived(a, None))
    }

    /// Sets DOS attributes and/or the creation time ([`SetDosAttrs`]); returns the new
    /// [`DosAttrs`]. Where they cannot be stored — a symbolic link, device, FIFO or socket
    /// (Linux allows `user.` extended attributes only on regular files and directories), a
    /// file system without user extended attributes, or a share configured not to store
    /// them — it fails with [`VfsError::NotSupported`] and changes nothing. It changes the
    /// file's `ctime` (as any attribute change does), never its `mtime`. The default stores
    /// nothing.
    fn set_dos_attrs(&self, h: &Handle, set: &SetDosAttrs) -> VfsResult<DosAttrs> {
        self.getattr(h)?;
        let _ = set;
        Err(VfsError::NotSupported)
    }

    /// Sets the allocation size of a regular file (SMB FileAllocationInformation, MS-FSA
    /// 2.1.5.15.1): below the current size it truncates the file to `size` (as Windows
    /// does); above, it reserves space without changing the size (`fallocate` with
    /// `FALLOC_FL_KEEP_SIZE` on the local backend), which [`FileAttr::used`] then reports.
    /// A directory gives [`VfsError::IsDir`], other types [`VfsError::Invalid`]; no space
    /// [`VfsError::NoSpace`]. Backends may round the allocation up to their block size and
    /// may keep more than asked for (see each backend). The default reserves nothing.
    fn set_allocation(&self, h: &Handle, size: u64) -> VfsResult<FileAttr> {
        self.getattr(h)?;
        let _ = size;
        Err(VfsError::NotSupported)
    }

    /// Keeps the file `h` names usable after its last name is removed (by [`Vfs::remove`],
    /// [`Vfs::rmdir`] or a replacing [`Vfs::rename`], from any protocol), until the matching
    /// [`Vfs::release`]: like a POSIX open file descriptor, its handle still answers
    /// `getattr`, `setattr`, `read`, `write`, `commit`, `dos_attrs`, `set_dos_attrs` and
    /// `set_allocation` (with `nlink` 0), while no name finds it and nothing can be created
    /// in a removed directory. Holds nest (counted). Without a hold, a handle of a removed
    /// file is [`VfsError::Stale`] at once. An SMB open holds its file from CREATE to CLOSE;
    /// NFS does not hold (an NFSv3 client keeps a file it has open alive by renaming it to a
    /// hidden name instead of removing it). Holds do not survive a restart. The default cannot hold
    /// ([`VfsError::NotSupported`]).
    fn hold(&self, h: &Handle) -> VfsResult<()> {
        self.getattr(h)?;
        Err(VfsError::NotSupported)
    }

    /// Ends one [`Vfs::hold`] of `h`; when the last hold of a removed file ends, the file is
    /// gone and its handle becomes [`VfsError::Stale`]. Releasing a handle that is not held
    /// does nothing.
    fn release(&self, h: &Handle) {
        let _ = h;
    }
}
