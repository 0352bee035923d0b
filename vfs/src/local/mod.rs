//! LocalFs: a real directory exported through [`Vfs`].
//!
//! # Confinement
//! The share root is opened once. Every later open is `openat2(2)` relative to the root or
//! to a descriptor obtained that way, with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS |
//! RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV` ([`sys::open_beneath`]); operations on a final
//! component use the parent's descriptor and `*at` calls with one validated name (no `/`, no
//! NUL, not `.`/`..` where creating). Symbolic links are created as given but never followed
//! by the server (NFS clients resolve links themselves, RFC 1813 §3.3.5), so a link to
//! `/etc` is just a link: LOOKUP through it gives [`VfsError::NotDir`], READ
//! [`VfsError::Invalid`]. A resolution the kernel refuses as an escape (`EXDEV`) maps to
//! [`VfsError::Access`]; file systems mounted below the share are not crossed (like knfsd
//! without `crossmnt`), and looking up a mount point gives [`VfsError::Access`].
//! The two places a `/proc/self/fd/N` magic link is used are `chmod` of a file held only by
//! an `O_PATH` descriptor (devices, FIFOs, sockets, files the server may not read) and the
//! `user.DOSATTRIB` attribute of such a regular file or directory: the link names exactly
//! the inode the server already holds, and Linux has no `fchmod` and no `f*xattr` on
//! `O_PATH` descriptors.
//!
//! # Handles
//! See [`handle`]: inode number, generation (`FS_IOC_GETVERSION` where the file system
//! supports it: ext4, xfs, btrfs), statx birth time (fallback and second check) and a device
//! hash. They survive a restart and are verified on every use; a reused inode number gives
//! [`VfsError::Stale`]. To turn a handle back into a file without `CAP_DAC_READ_SEARCH`
//! (`open_by_handle_at` is not used, so non-root servers work the same), LocalFs keeps an
//! inode → (parent, name) map filled by LOOKUP, READDIR, CREATE and RENAME; on a miss (e.g.
//! after a restart) it scans the share depth-first, recording everything it sees, up to
//! [`LocalFsOptions::scan_limit`] entries. Scans run one at a time, and for a few seconds
//! after a complete scan a miss is answered Stale without another walk, so garbage handles
//! cannot make the server walk the share continuously. The map is not persisted (a restart costs one
//! scan on first use of an old handle; chosen for simplicity and because a persisted map
//! goes stale when the tree changes behind the server's back).
//!
//! # Speed
//! Open files are cached in a bounded LRU of descriptors ([`LocalFsOptions::open_files`]),
//! so READ and WRITE of a hot file cost one `statx`, one `pread`/`pwrite` and one `statx`,
//! with no path resolution. Regular files are opened read-only on LOOKUP and upgraded to
//! read-write on the first write. `DataSync` uses `fdatasync`, `FileSync` and COMMIT `fsync`.
//! A background thread closes descriptors idle for 2–4 s ([`LocalFsOptions::idle_close`]),
//! so a file removed behind the server's back (by a local process) is freed soon after its
//! last use instead of staying allocated, its dirty pages written back, while the LRU holds
//! it; a file held by an SMB open ([`Vfs::hold`]) keeps its descriptor.
//!
//! # EXCLUSIVE create
//! As Linux knfsd does (fs/nfsd/vfs.c), the verifier is stored durably in the new file's
//! timestamps: mtime seconds = first 4 bytes, atime seconds = last 4 bytes (big-endian, high
//! bit cleared because some file systems and clients mishandle negative times, so 62 of the
//! 64 bits are compared). A retransmission, even after a restart, finds the same file; the
//! client's SETATTR that follows (RFC 1813 §3.3.8) overwrites the timestamps.
//!
//! # READDIR
//! Cookies are the `d_off` values of `getdents64`, resumed with `lseek`: on ext4 (hash
//! order) and tmpfs they stay valid while the entry exists and across restarts; cookie 0 is
//! the start, `.` and `..` are skipped. Because nothing invalidates them, `dir_version` is a
//! digest of the directory's inode number and birth time.
//!
//! # Windows-side attributes (SMB)
//! - DOS attributes and an SMB-set creation time are kept in the `user.DOSATTRIB` extended
//!   attribute, in Samba's own format ([`crate::dosattrib`]: NDR `xattr_DosInfo` version 5,
//!   byte-identical to Samba 4.17's), so `getfattr -n user.DOSATTRIB` shows them and a share
//!   moved between Samba and Janus keeps them. Only [`Vfs::dos_attrs`] and
//!   [`Vfs::set_dos_attrs`] touch it (never GETATTR, READ or WRITE). A file without the
//!   attribute, a blob that does not parse, a file the server may not read, a symbolic
//!   link or special file, and a file system without user extended attributes all read as
//!   [`DosAttrs::derived`]; setting where it cannot be stored gives
//!   [`VfsError::NotSupported`] (`EOPNOTSUPP`, and links/special files up front), never a
//!   partial write. [`LocalFsOptions::store_dos_attributes`] turns storage off.
//! - The birth time is `statx`'s `STATX_BTIME` (ext4, xfs, btrfs, tmpfs have it). Linux
//!   cannot set it, so a creation time set over SMB is stored in `user.DOSATTRIB` and wins
//!   over it, exactly as Samba does; where the file system has no birth time the creation
//!   time is the earliest of ctime and mtime until one is stored.
//! - The allocation size is `st_blocks × 512`. [`Vfs::set_allocation`] truncates below the
//!   size (MS-FSA 2.1.5.15.1) and otherwise `fallocate(FALLOC_FL_KEEP_SIZE)` up to the
//!   requested size; a file system that cannot preallocate is left as is (the allocation is
//!   advisory; Samba by default does not preallocate at all).
//! - [`RenameMode::NoReplace`] is `renameat2(RENAME_NOREPLACE)`: the kernel checks and
//!   renames in one step, so a name a local program creates meanwhile is never replaced.
//! - [`Vfs::hold`] keeps the file's node (its descriptors) in a map the LRU cannot evict; a
//!   descriptor keeps an unlinked inode alive, and a held handle is resolved through it
//!   before any name lookup, so it works after REMOVE — by any client, or a local `rm`. A
//!   held regular file is opened read-write at hold time if the server may (afterwards
//!   there is no name to open it by). The inode number cannot be reused while held, so
//!   the handle stays unambiguous; on the last release of a removed file its handle joins
//!   the stale set.
//!
//! # Known limitations
//! - A directory that a local user moves out of the share stays reachable through its
//!   cached descriptor until the descriptor is evicted (the server only ever acts on that
//!   same directory inode, never on a path outside).
//! - When the server may not read a file (non-root server, mode without read permission)
//!   it is held `O_PATH`, its handle carries no generation, and a handle issued later
//!   through a readable descriptor differs in bytes (both stay valid).
//! - Inode reuse is undetectable on a file system with neither `FS_IOC_GETVERSION` nor
//!   statx birth time.
//! - Holds live in memory: after a restart a removed file is gone and its handle stale
//!   (SMB durable handles to a deleted file cannot be reclaimed). A held file the server
//!   could not open read-write at hold time cannot be written after its last name is gone.
//! - A smaller allocation that is still at or above the size keeps the preallocated
//!   blocks: Linux releases blocks beyond the end of file only through a truncate, which
//!   could cut a concurrent write short (punching a hole beyond EOF frees nothing on ext4).
//! - Samba reads back only READONLY, HIDDEN, SYSTEM and ARCHIVE of the stored bits;
//!   TEMPORARY, OFFLINE and NOT_CONTENT_INDEXED are kept for Janus alone.
//!
//! # Ownership
//! When the server runs as root, new files are given to the caller's uid/gid (`fchownat`
//! with `AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW`); otherwise they belong to the server's user.

mod births;
pub mod cache;
pub mod handle;
pub mod sys;

use std::collections::HashMap;
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rustix::fs::{
    AtFlags, FallocateFlags, FileType, Mode, OFlags, RenameFlags, SeekFrom, Statx, Timespec,
    Timestamps,
};
use rustix::io::Errno;

use self::cache::{Access, NameMap, Node, NodeCache, StaleSet};
use self::handle::Ident;
use self::sys::{
    attr_of, dev_of, kind_of, op_err, open_beneath, start_writeback, statx_at, statx_fd,
    XattrTarget,
};
use super::{
    check_name, dosattrib, file_attributes, Caller, CreateHow, CreationSource, DirEntry, DirPage,
    DosAttrs, FileAttr, FileKind, FsStat, Handle, RenameMode, SetAttrs, SetDosAttrs, SetTime,
    Stability, Vfs, VfsError, VfsResult,
};

/// Largest READ the backend performs in one call: SMB's MaxReadSize (8 MiB, what Samba
/// advertises and smbclient asks for); the NFS executor advertises 1 MiB.
pub const MAX_IO: u32 = 8 << 20;
/// Largest file offset Linux accepts (`off_t` is a signed 64-bit integer).
const MAX_OFFSET: u64 = i64::MAX as u64;
/// Most entries one READDIR call returns.
pub const MAX_DIR_ENTRIES: usize = 1 << 16;
/// Deepest directory the scan descends into.
const MAX_SCAN_DEPTH: usize = 512;
/// After a complete scan, misses within this time are answered without scanning again.
const SCAN_COOLDOWN: Duration = Duration::from_secs(5);
/// Paths longer than this are opened in several steps (PATH_MAX is 4096).
const PATH_CHUNK: usize = 3072;

/// Tuning of a [`LocalFs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalFsOptions {
    /// Files kept open (each holds one or two descriptors).
    pub open_files: usize,
    /// About how many inode → name entries to remember.
    pub name_cache: usize,
    /// Most directory entries one scan for an unknown handle reads.
    pub scan_limit: usize,
    /// Keep DOS attributes and SMB creation times in the `user.DOSATTRIB` extended
    /// attribute (Samba's `store dos attributes`, default on). Off, every file reports
    /// [`DosAttrs::derived`] and setting them gives [`VfsError::NotSupported`].
    pub store_dos_attributes: bool,
    /// Close cached descriptors unused for between one and two of these periods (a
    /// background thread of the [`LocalFs`]; `None`: only the LRU bound closes them). A
    /// file removed behind the server's back is freed once its descriptor is closed.
    pub idle_close: Option<Duration>,
}

impl Default for LocalFsOptions {
    fn default() -> Self {
        Self {
            open_files: 256,
            name_cache: 1 << 18,
            scan_limit: 1 << 22,
            store_dos_attributes: true,
            idle_close: Some(Duration::from_secs(2)),
        }
    }
}

/// A directory of the host exported through [`Vfs`]. See the module documentation.
pub struct LocalFs {
    root: Arc<Node>,
    path: PathBuf,
    dev: u64,
    dev_hash: u32,
    as_root: bool,
    nodes: Arc<Mutex<NodeCache>>,
    names: Mutex<NameMap>,
    stale: Mutex<StaleSet>,
    /// Serializes scans; holds when the last complete scan ended (if the name map could
    /// hold everything it saw).
    scan_lock: Mutex<Option<Instant>>,
    /// Files kept usable by [`Vfs::hold`]: inode → (node, count). The node's descriptors
    /// keep an unlinked inode alive, as an open file does.
    holds: Mutex<HashMap<u64, (Arc<Node>, u32)>>,
    /// Names whose new file is not yet given its owner and mode (`births`).
    births: births::Births,
    options: LocalFsOptions,
}

impl fmt::Debug for LocalFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalFs")
            .field("path", &self.path)
            .field("dev", &self.dev)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded values are caches; a panic elsewhere cannot make them unsafe to use.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts the thread that closes idle descriptors of one [`LocalFs`] every `period`
/// ([`LocalFsOptions::idle_close`]); it ends at the first sweep after the file system is
/// dropped. The descriptors are closed on this thread, outside the cache's lock.
fn spawn_idle_closer(
    nodes: std::sync::Weak<Mutex<NodeCache>>,
    period: Duration,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("janus-fd-idle".into())
        .spawn(move || loop {
            std::thread::sleep(period);
            let Some(nodes) = nodes.upgrade() else {
                return;
            };
            let idle = lock(&nodes).take_idle();
            drop(nodes);
            drop(idle);
        })
        .map(drop)
}

/// What listing one directory during a scan found.
struct Listed {
    /// Subdirectories (name, inode) to descend into.
    subdirs: Vec<(Vec<u8>, u64)>,
    /// The target inode was seen.
    found: bool,
    /// The listing was not cut short by the scan budget.
    complete: bool,
}

/// Result of scanning the share for an inode.
enum Scan {
    Found,
    /// Not found; `complete` says whether the whole share was read.
    Missing {
        complete: bool,
    },
}

impl LocalFs {
    /// Exports the directory at `path` with default options.
    pub fn open(path: impl AsRef<Path>) -> std::io::Result<Self> {
        Self::with_options(path, LocalFsOptions::default())
    }

    /// Exports the directory at `path`.
    pub fn with_options(path: impl AsRef<Path>, options: LocalFsOptions) -> std::io::Result<Self> {
        let path = path.as_ref().to_path_buf();
        let fd = rustix::fs::open(
            &path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let st = rustix::fs::statx(
            &fd,
            "",
            AtFlags::EMPTY_PATH,
            rustix::fs::StatxFlags::BASIC_STATS | rustix::fs::StatxFlags::BTIME,
        )?;
        let ident = Ident {
            ino: st.stx_ino,
            generation: sys::inode_generation(fd.as_fd()),
            btime: sys::btime_of(&st),
        };
        let dev = dev_of(&st);
        let nodes = Arc::new(Mutex::new(NodeCache::new(options.open_files)));
        if let Some(period) = options.idle_close {
            spawn_idle_closer(Arc::downgrade(&nodes), period)?;
        }
        Ok(Self {
            root: Arc::new(Node::new(fd, Access::Dir, FileKind::Directory, ident)),
            path,
            dev,
            dev_hash: handle::dev_hash(dev),
            as_root: sys::is_root(),
            nodes,
            names: Mutex::new(NameMap::new(options.name_cache)),
            stale: Mutex::new(StaleSet::new(4096)),
            scan_lock: Mutex::new(None),
            holds: Mutex::new(HashMap::new()),
            births: births::Births::default(),
            options,
        })
    }

    /// The exported directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn handle_of(&self, n: &Node) -> Handle {
        handle::encode(&n.ident, self.dev_hash)
    }

    fn mark_stale(&self, id: Ident) {
        if id.generation.is_some() || id.btime.is_some() {
            lock(&self.stale).insert(id);
        }
    }

    /// Forgets a node whose inode lost its last link (a held one stays usable through
    /// [`Self::holds`] and becomes stale on its last release).
    fn forget_dead(&self, ino: u64) {
        let node = lock(&self.nodes).peek(ino);
        if let Some(n) = node {
            lock(&self.nodes).remove(ino);
            if !lock(&self.holds).contains_key(&ino) {
                self.mark_stale(n.ident);
            }
        }
        lock(&self.names).forget(ino);
    }

    /// The held node of `ino`, if any.
    fn held(&self, ino: u64) -> Option<Arc<Node>> {
        lock(&self.holds).get(&ino).map(|(n, _)| n.clone())
    }

    /// Opens `path` (relative to `base`), long paths in steps.
    fn open_path(&self, base: BorrowedFd<'_>, path: &[u8], flags: OFlags) -> VfsResult<OwnedFd> {
        if path.len() <= PATH_CHUNK {
            return open_beneath(base, path, flags, Mode::empty());
        }
        let cut = path[..PATH_CHUNK]
            .iter()
            .rposition(|b| *b == b'/')
            .ok_or(VfsError::NameTooLong)?;
        let dir = open_beneath(
            base,
            &path[..cut],
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW,
            Mode::empty(),
        )?;
        self.open_path(dir.as_fd(), &path[cut + 1..], flags)
    }

    /// Reopens `path` with `flags`, checking it is still inode `ino`.
    fn reopen(
        &self,
        base: BorrowedFd<'_>,
        path: &[u8],
        flags: OFlags,
        ino: u64,
    ) -> VfsResult<OwnedFd> {
        let fd = self.open_path(base, path, flags | OFlags::NOFOLLOW | OFlags::NOCTTY)?;
        let st = statx_fd(fd.as_fd())?;
        if st.stx_ino != ino || dev_of(&st) != self.dev {
            return Err(VfsError::NotFound);
        }
        Ok(fd)
    }

    /// Opens `path` (relative to `base`) as a node without following a final symbolic link:
    /// regular files read-only, directories `O_DIRECTORY`, anything else (or what the
    /// server may not read) `O_PATH`. With `expect`, the inode must be that one.
    fn open_node_at(
        &self,
        base: BorrowedFd<'_>,
        path: &[u8],
        expect: Option<u64>,
    ) -> VfsResult<(Node, Statx)> {
        let p = self.open_path(base, path, OFlags::PATH | OFlags::NOFOLLOW)?;
        let st = statx_fd(p.as_fd())?;
        if dev_of(&st) != self.dev {
            return Err(VfsError::Access);
        }
        if expect.is_some_and(|ino| ino != st.stx_ino) {
            return Err(VfsError::NotFound);
        }
        let kind = kind_of(&st);
        let flags = match kind {
            FileKind::Regular => Some(OFlags::RDONLY),
            FileKind::Directory => Some(OFlags::RDONLY | OFlags::DIRECTORY),
            _ => None,
        };
        let (fd, access) = match flags.map(|f| self.reopen(base, path, f, st.stx_ino)) {
            Some(Ok(fd)) if kind == FileKind::Directory => (fd, Access::Dir),
            Some(Ok(fd)) => (fd, Access::Read),
            // Not readable by the server (or replaced meanwhile): keep the O_PATH fd.
            _ => (p, Access::Path),
        };
        let ident = Ident {
            ino: st.stx_ino,
            generation: match access {
                Access::Path => None,
                _ => sys::inode_generation(fd.as_fd()),
            },
            btime: sys::btime_of(&st),
        };
        Ok((Node::new(fd, access, kind, ident), st))
    }

    /// A base node (a cached ancestor directory, or the root when `from_root`) and the
    /// recorded path from it to `ino`.
    fn path_from_map(&self, ino: u64, from_root: bool) -> Option<(Arc<Node>, Vec<u8>)> {
        let root_ino = self.root.ident.ino;
        // (child ino, its name) from `ino` upwards, and the parent after the last one.
        let mut chain: Vec<(u64, Vec<u8>)> = Vec::new();
        {
            let names = lock(&self.names);
            let mut cur = ino;
            loop {
                let (parent, name) = names.get(cur)?;
                chain.push((parent, name.to_vec()));
                if parent == root_ino {
                    break;
                }
                if chain.len() > 4096 || parent == cur {
                    return None;
                }
                cur = parent;
            }
        }
        let mut base = self.root.clone();
        let mut used = chain.len();
        if !from_root {
            let mut nodes = lock(&self.nodes);
            for (i, (parent, _)) in chain.iter().enumerate() {
                if let Some(n) = nodes.get(*parent) {
                    if n.kind == FileKind::Directory {
                        base = n;
                        used = i + 1;
                        break;
                    }
                }
            }
        }
        let mut path = Vec::new();
        for (_, name) in chain[..used].iter().rev() {
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(name);
        }
        Some((base, path))
    }

    /// Finds a path that currently names `ino`: [`VfsError::Stale`] when a complete scan
    /// did not find it, [`VfsError::NotFound`] when the scan was cut short.
    fn locate(&self, ino: u64) -> VfsResult<(Arc<Node>, Vec<u8>)> {
        let check = |(base, path): &(Arc<Node>, Vec<u8>)| {
            self.open_path(base.fd.as_fd(), path, OFlags::PATH | OFlags::NOFOLLOW)
                .and_then(|fd| statx_fd(fd.as_fd()))
                .is_ok_and(|st| st.stx_ino == ino && dev_of(&st) == self.dev)
        };
        for from_root in [false, true] {
            if let Some(found) = self.path_from_map(ino, from_root) {
                if check(&found) {
                    return Ok(found);
                }
            }
        }
        lock(&self.names).forget(ino);
        // One scan at a time: a client presenting many unknown handles cannot make the
        // server walk the share in parallel, and a scan that waited may find the answer
        // recorded by the one before it.
        let mut last_full = lock(&self.scan_lock);
        if let Some(found) = self.path_from_map(ino, true) {
            if check(&found) {
                return Ok(found);
            }
        }
        if last_full.is_some_and(|t| t.elapsed() < SCAN_COOLDOWN) {
            // A complete scan just recorded every name of the share and this inode was
            // not among them (nor created through the server since): do not walk again.
            return Err(VfsError::NotFound);
        }
        match self.scan_for(ino)? {
            Scan::Found => match self.path_from_map(ino, true) {
                Some(found) if check(&found) => Ok(found),
                _ => Err(VfsError::NotFound),
            },
            Scan::Missing { complete: true } => {
                if !lock(&self.names).is_saturated() {
                    *last_full = Some(Instant::now());
                }
                Err(VfsError::Stale)
            }
            Scan::Missing { complete: false } => Err(VfsError::NotFound),
        }
    }

    /// Lists `fd` (a directory with inode `dir_ino`) completely, recording every entry in
    /// the name map. Returns the subdirectories and whether `target` was seen.
    fn scan_dir(
        &self,
        fd: &OwnedFd,
        dir_ino: u64,
        target: u64,
        budget: &mut usize,
    ) -> VfsResult<Listed> {
        let mut buf: Vec<u8> = Vec::with_capacity(32 << 10);
        let mut dir = rustix::fs::RawDir::new(fd, buf.spare_capacity_mut());
        let mut seen = Vec::new();
        let mut subdirs = Vec::new();
        let mut found = false;
        let mut complete = true;
        while let Some(ent) = dir.next() {
            let ent = ent.map_err(op_err)?;
            let name = ent.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            if *budget == 0 {
                complete = false;
                break;
            }
            *budget -= 1;
            let is_dir = match ent.file_type() {
                FileType::Directory => true,
                FileType::Unknown => {
                    statx_at(fd.as_fd(), name).is_ok_and(|st| kind_of(&st) == FileKind::Directory)
                }
                _ => false,
            };
            seen.push((ent.ino(), name.to_vec(), is_dir));
            if is_dir {
                subdirs.push((name.to_vec(), ent.ino()));
            }
            if ent.ino() == target {
                found = true;
                break;
            }
        }
        let mut names = lock(&self.names);
        for (ino, name, is_dir) in &seen {
            names.insert(*ino, dir_ino, name, *is_dir);
        }
        Ok(Listed {
            subdirs,
            found,
            complete,
        })
    }

    /// Depth-first scan of the share for `target`, bounded by the scan limit.
    fn scan_for(&self, target: u64) -> VfsResult<Scan> {
        struct Frame {
            fd: OwnedFd,
            subdirs: Vec<(Vec<u8>, u64)>,
        }
        let mut budget = self.options.scan_limit;
        let root_ino = self.root.ident.ino;
        let fd = open_beneath(
            self.root.fd.as_fd(),
            b".",
            OFlags::RDONLY | OFlags::DIRECTORY,
            Mode::empty(),
        )?;
        let listed = self.scan_dir(&fd, root_ino, target, &mut budget)?;
        if listed.found {
            return Ok(Scan::Found);
        }
        let mut complete = listed.complete;
        let mut stack = vec![Frame {
            fd,
            subdirs: listed.subdirs,
        }];
        // Unreadable or too deep directories make the scan incomplete but do not stop it;
        // only the entry budget does.
        while budget > 0 {
            let depth = stack.len();
            let Some(top) = stack.last_mut() else { break };
            let Some((name, ino)) = top.subdirs.pop() else {
                stack.pop();
                continue;
            };
            if depth >= MAX_SCAN_DEPTH {
                complete = false;
                continue;
            }
            let fd = match open_beneath(
                top.fd.as_fd(),
                &name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW,
                Mode::empty(),
            ) {
                Ok(fd) => fd,
                // Removed meanwhile: nothing to find there.
                Err(VfsError::NotFound) => continue,
                // A mount point below the share (EXDEV): not part of this export.
                Err(VfsError::Access)
                    if statx_at(top.fd.as_fd(), &name).is_ok_and(|st| dev_of(&st) != self.dev) =>
                {
                    continue
                }
                // Unreadable directory: the file may be in there.
                Err(_) => {
                    complete = false;
                    continue;
                }
            };
            let listed = self.scan_dir(&fd, ino, target, &mut budget)?;
            if listed.found {
                return Ok(Scan::Found);
            }
            complete &= listed.complete;
            stack.push(Frame {
                fd,
                subdirs: listed.subdirs,
            });
        }
        if !stack.is_empty() {
            // Budget exhausted with directories left to read.
            complete = false;
        }
        Ok(Scan::Missing { complete })
    }

    /// The open node of inode `ino` (any incarnation).
    fn open_ino(&self, ino: u64) -> VfsResult<Arc<Node>> {
        if ino == self.root.ident.ino {
            return Ok(self.root.clone());
        }
        if let Some(n) = lock(&self.nodes).get(ino) {
            return Ok(n);
        }
        let (base, path) = self.locate(ino)?;
        let (node, _) = self.open_node_at(base.fd.as_fd(), &path, Some(ino))?;
        Ok(lock(&self.nodes).insert(Arc::new(node)))
    }

    /// The live node a handle names, and its current status.
    fn resolve(&self, h: &Handle) -> VfsResult<(Arc<Node>, Statx)> {
        let (id, dev_hash) = handle::decode(h)?;
        if dev_hash != self.dev_hash {
            return Err(VfsError::Stale);
        }
        if let Some(n) = self.held(id.ino) {
            // Held: usable by descriptor even after its last name is gone.
            if id.same_file(&n.ident) {
                let st = statx_fd(n.fd.as_fd())?;
                return Ok((n, st));
            }
        }
        if lock(&self.stale).contains(&id) {
            return Err(VfsError::Stale);
        }
        let node = match self.open_ino(id.ino) {
            Ok(n) => n,
            Err(VfsError::Stale) => {
                self.mark_stale(id);
                return Err(VfsError::Stale);
            }
            Err(VfsError::NotFound) => return Err(VfsError::Stale),
            Err(e) => return Err(e),
        };
        if !id.same_file(&node.ident) {
            self.mark_stale(id);
            return Err(VfsError::Stale);
        }
        let st = statx_fd(node.fd.as_fd())?;
        if st.stx_nlink == 0 {
            self.forget_dead(id.ino);
            self.mark_stale(id);
            return Err(VfsError::Stale);
        }
        Ok((node, st))
    }

    /// Like [`Self::resolve`], requiring a directory.
    fn resolve_dir(&self, h: &Handle) -> VfsResult<Arc<Node>> {
        let (n, _) = self.resolve(h)?;
        if n.kind != FileKind::Directory {
            return Err(VfsError::NotDir);
        }
        Ok(n)
    }

    /// The read-write descriptor of a regular file, opening it on first use.
    fn rw_fd<'n>(&self, n: &'n Node) -> VfsResult<&'n OwnedFd> {
        match n.kind {
            FileKind::Regular => {}
            FileKind::Directory => return Err(VfsError::IsDir),
            _ => return Err(VfsError::Invalid),
        }
        if let Some(fd) = n.rw_fd() {
            return Ok(fd);
        }
        let (base, path) = self.locate(n.ident.ino).map_err(|e| match e {
            VfsError::NotFound => VfsError::Stale,
            e => e,
        })?;
        let fd = self.reopen(base.fd.as_fd(), &path, OFlags::RDWR, n.ident.ino)?;
        // Another thread may have won the race; either descriptor is fine.
        let _ = n.write_fd.set(fd);
        n.write_fd.get().ok_or(VfsError::Io)
    }

    /// Adds a node just created or looked up as `name` in `dir` to the caches.
    fn remember(&self, dir: &Node, name: &[u8], node: Node) -> Arc<Node> {
        lock(&self.names).insert(
            node.ident.ino,
            dir.ident.ino,
            name,
            node.kind == FileKind::Directory,
        );
        lock(&self.nodes).insert(Arc::new(node))
    }

    fn chmod(&self, n: &Node, mode: u32) -> VfsResult<()> {
        if n.kind == FileKind::Symlink {
            // Never resolve /proc/self/fd/N of a link: chmod would follow its target.
            return Ok(());
        }
        let mode = Mode::from_raw_mode(mode & 0o7777);
        match n.access {
            Access::Path => {
                // No fchmod on O_PATH descriptors: name exactly this inode via its fd link.
                let p = format!("/proc/self/fd/{}", n.fd.as_raw_fd());
                rustix::fs::chmodat(rustix::fs::CWD, p.as_str(), mode, AtFlags::empty())
                    .map_err(op_err)
            }
            _ => rustix::fs::fchmod(&n.fd, mode).map_err(op_err),
        }
    }

    fn chown(&self, n: &Node, uid: Option<u32>, gid: Option<u32>) -> VfsResult<()> {
        if uid.is_none() && gid.is_none() {
            return Ok(());
        }
        if uid == Some(u32::MAX) || gid == Some(u32::MAX) {
            // (uid_t)-1 means "unchanged" to chown(2); it is not a valid owner.
            return Err(VfsError::Invalid);
        }
        rustix::fs::chownat(
            &n.fd,
            "",
            uid.map(rustix::fs::Uid::from_raw),
            gid.map(rustix::fs::Gid::from_raw),
            AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(op_err)
    }

    fn set_times(&self, n: &Node, atime: SetTime, mtime: SetTime) -> VfsResult<()> {
        if atime == SetTime::DontChange && mtime == SetTime::DontChange {
            return Ok(());
        }
        let ts = |t: SetTime| match t {
            SetTime::DontChange => Timespec {
                tv_sec: 0,
                tv_nsec: rustix::fs::UTIME_OMIT,
            },
            SetTime::ServerNow => Timespec {
                tv_sec: 0,
                tv_nsec: rustix::fs::UTIME_NOW,
            },
            SetTime::Client(t) => Timespec {
                tv_sec: t.secs,
                tv_nsec: i64::from(t.nsecs.min(999_999_999)),
            },
        };
        let times = Timestamps {
            last_access: ts(atime),
            last_modification: ts(mtime),
        };
        rustix::fs::utimensat(
            &n.fd,
            "",
            &times,
            AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(op_err)
    }

    /// Applies SETATTR-style changes in the order knfsd uses: owner, mode (chown clears
    /// set-id bits), size, then times (a truncate sets mtime).
    fn apply(&self, n: &Node, set: &SetAttrs) -> VfsResult<()> {
        self.chown(n, set.uid, set.gid)?;
        if let Some(mode) = set.mode {
            // Linux has no mode on symbolic links; knfsd drops ATTR_MODE for them.
            if n.kind != FileKind::Symlink {
                self.chmod(n, mode)?;
            }
        }
        if let Some(size) = set.size {
            if size > MAX_OFFSET {
                return Err(VfsError::TooBig);
            }
            let fd = self.rw_fd(n)?;
            rustix::fs::ftruncate(fd, size).map_err(op_err)?;
        }
        self.set_times(n, set.atime, set.mtime)
    }

    /// The owner to give a new file: the caller when running as root (explicit attributes
    /// win), otherwise only explicit attributes. A caller id of `(uid_t)-1` (which chown
    /// would read as "unchanged") leaves that id to the server.
    fn new_owner(&self, caller: &Caller, attrs: &SetAttrs) -> (Option<u32>, Option<u32>) {
        let valid = |id: u32| (id != u32::MAX).then_some(id);
        if self.as_root {
            (
                attrs.uid.or(valid(caller.uid)),
                attrs.gid.or(valid(caller.gid)),
            )
        } else {
            (attrs.uid, attrs.gid)
        }
    }

    /// Gives a new file its owner, exact mode (bypassing the umask) and other attributes.
    /// `st` is the new file's status when the caller has it: an owner it already has (the
    /// server's own ids, the common case) is not set again, which saves a `fchownat` per
    /// create (and its inode update).
    fn init_new(
        &self,
        n: &Node,
        caller: &Caller,
        attrs: &SetAttrs,
        default_mode: u32,
        st: Option<&Statx>,
    ) -> VfsResult<()> {
        let (mut uid, mut gid) = self.new_owner(caller, attrs);
        if let Some(st) = st {
            uid = uid.filter(|&u| u != st.stx_uid);
            gid = gid.filter(|&g| g != st.stx_gid);
        }
        let set = SetAttrs {
            uid,
            gid,
            mode: Some(attrs.mode.unwrap_or(default_mode)),
            ..*attrs
        };
        self.apply(n, &set)
    }

    /// The finished result of a create-family call.
    fn created(&self, n: &Node) -> VfsResult<(Handle, FileAttr)> {
        let st = statx_fd(n.fd.as_fd())?;
        Ok((self.handle_of(n), attr_of(&st)))
    }

    /// Opens `name` in `dir` after the create-family call that made it.
    fn open_new(&self, dir: &Node, name: &[u8], kind: FileKind) -> VfsResult<Arc<Node>> {
        let (node, _) = self.open_node_at(dir.fd.as_fd(), name, None)?;
        if node.kind != kind {
            // Replaced between creation and open by someone else.
            return Err(VfsError::Exists);
        }
        Ok(self.remember(dir, name, node))
    }

    /// LOOKUP of `..` in a directory other than the root.
    fn parent_of(&self, dir: &Node) -> VfsResult<(Handle, FileAttr)> {
        let ino = dir.ident.ino;
        self.locate(ino).map_err(|e| match e {
            VfsError::NotFound => VfsError::Stale,
            e => e,
        })?;
        let parent = lock(&self.names).get(ino).map(|(p, _)| p);
        let parent = parent.ok_or(VfsError::Stale)?;
        let p = self.open_ino(parent)?;
        let st = statx_fd(p.fd.as_fd())?;
        Ok((self.handle_of(&p), attr_of(&st)))
    }

    /// Exclusive-create verifier as (mtime seconds, atime seconds); see the module doc.
    fn verifier_times(v: [u8; 8]) -> (i64, i64) {
        let m = u32::from_be_bytes([v[0], v[1], v[2], v[3]]) & 0x7fff_ffff;
        let a = u32::from_be_bytes([v[4], v[5], v[6], v[7]]) & 0x7fff_ffff;
        (i64::from(m), i64::from(a))
    }

    /// Where `user.DOSATTRIB` of `n` is read and written; `None` for the types Linux keeps
    /// no user extended attributes on (symbolic links, devices, FIFOs, sockets).
    fn xattr_target(n: &Node) -> Option<XattrTarget<'_>> {
        match (n.kind, n.access) {
            (FileKind::Regular | FileKind::Directory, Access::Path) => {
                Some(XattrTarget::Path(n.fd.as_fd()))
            }
            (FileKind::Regular | FileKind::Directory, _) => Some(XattrTarget::Fd(n.fd.as_fd())),
            _ => None,
        }
    }

    /// The stored `user.DOSATTRIB` of `n`, if there is one the backend can read. A file
    /// system without user extended attributes, a file without the attribute, one the
    /// server may not read (`EACCES`: non-root server) and a blob that does not parse
    /// all read as "nothing stored" (Samba too reports derived attributes for them).
    fn read_dos(&self, n: &Node) -> VfsResult<Option<dosattrib::DosInfo>> {
        if !self.options.store_dos_attributes {
            return Ok(None);
        }
        let Some(target) = Self::xattr_target(n) else {
            return Ok(None);
        };
        let mut buf = [0u8; dosattrib::MAX_LEN];
        match sys::get_xattr(&target, dosattrib::XATTR_NAME, &mut buf) {
            Ok(Some(len)) => Ok(dosattrib::decode(&buf[..len]).ok()),
            Ok(None) | Err(Errno::ACCESS | Errno::PERM | Errno::RANGE) => Ok(None),
            Err(e) => Err(op_err(e)),
        }
    }

    /// The [`DosAttrs`] of `n` whose current status is `st`.
    fn dos_of(&self, n: &Node, st: &Statx) -> VfsResult<DosAttrs> {
        Ok(Self::dos_with(n, st, self.read_dos(n)?))
    }

    /// The [`DosAttrs`] of `n` whose current status is `st` and stored `user.DOSATTRIB`
    /// is `stored`.
    fn dos_with(n: &Node, st: &Statx, stored: Option<dosattrib::DosInfo>) -> DosAttrs {
        let birth = sys::btime_of(st).map(|t| super::Timestamp {
            secs: t.secs,
            nsecs: t.nsecs.min(999_999_999),
        });
        let mut out = DosAttrs::derived(attr_of(st), birth);
        if let Some(info) = stored {
            out.attributes = info.attributes & file_attributes::STORABLE;
            if n.kind == FileKind::Directory {
                out.attributes |= file_attributes::DIRECTORY;
            }
            out.stored = true;
            if let Some(t) = info.create_time {
                out.creation_time = t;
                out.creation_source = CreationSource::Stored;
            }
        }
        out
    }
}

impl Vfs for LocalFs {
    fn root(&self) -> Handle {
        self.handle_of(&self.root)
    }

    fn getattr(&self, h: &Handle) -> VfsResult<FileAttr> {
        let (_, st) = self.resolve(h)?;
        Ok(attr_of(&st))
    }

    fn setattr(&self, h: &Handle, set: &SetAttrs) -> VfsResult<FileAttr> {
        let (n, _) = self.resolve(h)?;
        if set.size.is_some() && n.kind == FileKind::Directory {
            return Err(VfsError::IsDir);
        }
        self.apply(&n, set)?;
        Ok(attr_of(&statx_fd(n.fd.as_fd())?))
    }

    fn lookup(&self, dir: &Handle, name: &[u8]) -> VfsResult<(Handle, FileAttr)> {
        let d = self.resolve_dir(dir)?;
        check_name(name, false)?;
        match name {
            b"." => return self.created(&d),
            b".." if d.ident.ino == self.root.ident.ino => return self.created(&d),
            b".." => return self.parent_of(&d),
            _ => {}
        }
        self.births.wait(d.ident.ino, name);
        let st = statx_at(d.fd.as_fd(), name)?;
        if dev_of(&st) != self.dev {
            // A mount point below the share: not exported (see the module doc).
            return Err(VfsError::Access);
        }
        // Fast path: the file is already open; the statx above is its current status.
        let cached = lock(&self.nodes).get(st.stx_ino);
        let (n, st) = match cached {
            Some(n) if btime_matches(&n.ident, &st) => {
                lock(&self.names).insert(
                    st.stx_ino,
                    d.ident.ino,
                    name,
                    n.kind == FileKind::Directory,
                );
                (n, st)
            }
            _ => {
                let (node, st) = self.open_node_at(d.fd.as_fd(), name, None)?;
                (self.remember(&d, name, node), st)
            }
        };
        Ok((self.handle_of(&n), attr_of(&st)))
    }

    fn readlink(&self, h: &Handle) -> VfsResult<Vec<u8>> {
        let (n, _) = self.resolve(h)?;
        if n.kind != FileKind::Symlink {
            return Err(VfsError::Invalid);
        }
        let target = rustix::fs::readlinkat(&n.fd, "", Vec::new()).map_err(op_err)?;
        Ok(target.into_bytes())
    }

    fn read(&self, h: &Handle, offset: u64, count: u32) -> VfsResult<(Vec<u8>, bool)> {
        let mut buf = Vec::new();
        let (_, eof) = self.read_into(h, offset, count, &mut buf)?;
        Ok((buf, eof))
    }

    fn read_into(
        &self,
        h: &Handle,
        offset: u64,
        count: u32,
        buf: &mut Vec<u8>,
    ) -> VfsResult<(usize, bool)> {
        let (n, _) = self.resolve(h)?;
        match n.kind {
            FileKind::Regular => {}
            FileKind::Directory => return Err(VfsError::IsDir),
            _ => return Err(VfsError::Invalid),
        }
        let fd = n.read_fd().ok_or(VfsError::Access)?;
        if offset > MAX_OFFSET {
            // Beyond any file Linux can hold (off_t is signed 64-bit): nothing there.
            return Ok((0, true));
        }
        let start = buf.len();
        let want = count.min(MAX_IO) as usize;
        let end = start + want;
        // Reads fill the spare capacity, so it must end at `end` (a caller that sized the
        // buffer for the reply pays no reallocation here).
        buf.reserve_exact(want);
        if buf.capacity() > end {
            buf.shrink_to(end);
        }
        while buf.len() < end {
            let at = offset.saturating_add((buf.len() - start) as u64);
            let before = buf.len();
            match rustix::io::pread(fd, rustix::buffer::spare_capacity(buf), at) {
                Ok(0) => break,
                Ok(_) => {}
                Err(Errno::INTR) => {}
                Err(e) => {
                    buf.truncate(start);
                    return Err(op_err(e));
                }
            }
            debug_assert!(buf.len() > before || buf.len() == end);
        }
        // Had the allocator kept more capacity, a read may have gone past `count`.
        buf.truncate(end);
        let got = buf.len() - start;
        let st = match statx_fd(fd.as_fd()) {
            Ok(st) => st,
            Err(e) => {
                buf.truncate(start);
                return Err(e);
            }
        };
        let eof = offset.saturating_add(got as u64) >= st.stx_size;
        Ok((got, eof))
    }

    fn write(
        &self,
        h: &Handle,
        offset: u64,
        data: &[u8],
        stable: Stability,
    ) -> VfsResult<(Stability, FileAttr)> {
        let (n, _) = self.resolve(h)?;
        let fd = self.rw_fd(&n)?;
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or(VfsError::TooBig)?;
        if end > MAX_OFFSET {
            return Err(VfsError::TooBig);
        }
        let mut done = 0;
        while done < data.len() {
            match rustix::io::pwrite(fd, &data[done..], offset + done as u64) {
                Ok(0) => return Err(VfsError::NoSpace),
                Ok(k) => done += k,
                Err(Errno::INTR) => {}
                Err(e) => return Err(op_err(e)),
            }
        }
        match stable {
            Stability::Unstable => {}
            Stability::DataSync => rustix::fs::fdatasync(fd).map_err(op_err)?,
            Stability::FileSync => rustix::fs::fsync(fd).map_err(op_err)?,
        }
        Ok((stable, attr_of(&statx_fd(fd.as_fd())?)))
    }

    fn start_writeback(&self, h: &Handle, offset: u64, len: u64) -> VfsResult<()> {
        let (n, _) = self.resolve(h)?;
        let fd = self.rw_fd(&n)?;
        start_writeback(fd.as_fd(), offset, len).map_err(op_err)
    }

    fn write_behind(&self) -> bool {
        // pwrite into the page cache: what it copies after the reply is what it would have
        // copied before, and its errors (ENOSPC, EIO) are the kind COMMIT reports.
        true
    }

    fn commit(&self, h: &Handle) -> VfsResult<FileAttr> {
        let (n, st) = self.resolve(h)?;
        let fd = match n.access {
            Access::Path => n.write_fd.get(),
            _ => Some(n.rw_fd().unwrap_or(&n.fd)),
        };
        match fd {
            Some(fd) => rustix::fs::fsync(fd).map_err(op_err)?,
            // Nothing was written through this server (no writable descriptor).
            None => return Ok(attr_of(&st)),
        }
        Ok(attr_of(&statx_fd(n.fd.as_fd())?))
    }

    fn create(
        &self,
        dir: &Handle,
        name: &[u8],
        how: CreateHow,
        attrs: &SetAttrs,
        caller: &Caller,
    ) -> VfsResult<(Handle, FileAttr)> {
        let d = self.resolve_dir(dir)?;
        check_name(name, true)?;
        let birth = self.births.begin(d.ident.ino, name);
        let made = open_beneath(
            d.fd.as_fd(),
            name,
            OFlags::CREATE | OFlags::EXCL | OFlags::RDWR | OFlags::NOFOLLOW | OFlags::NOCTTY,
            Mode::from_raw_mode(0o600),
        );
        match made {
            Ok(fd) => {
                let st = statx_fd(fd.as_fd())?;
                let ident = Ident {
                    ino: st.stx_ino,
                    generation: sys::inode_generation(fd.as_fd()),
                    btime: sys::btime_of(&st),
                };
                let n = self.remember(
                    &d,
                    name,
                    Node::new(fd, Access::ReadWrite, FileKind::Regular, ident),
                );
                match how {
                    CreateHow::Exclusive(v) => {
                        // RFC 1813 §3.3.8: no attributes, only the verifier (in the times).
                        self.init_new(&n, caller, &SetAttrs::default(), 0o644, Some(&st))?;
                        let (m, a) = Self::verifier_times(v);
                        self.set_times(
                            &n,
                            SetTime::Client(super::Timestamp { secs: a, nsecs: 0 }),
                            SetTime::Client(super::Timestamp { secs: m, nsecs: 0 }),
                        )?;
                    }
                    _ => self.init_new(&n, caller, attrs, 0o644, Some(&st))?,
                }
                birth.end();
                self.created(&n)
            }
            Err(VfsError::Exists) => {
                // Someone else's new file: wait until it has its owner and mode.
                birth.end();
                self.births.wait(d.ident.ino, name);
                let st = statx_at(d.fd.as_fd(), name)?;
                let kind = kind_of(&st);
                match how {
                    CreateHow::Guarded => Err(VfsError::Exists),
                    CreateHow::Exclusive(v) => {
                        let (m, a) = Self::verifier_times(v);
                        if kind == FileKind::Regular
                            && st.stx_mtime.tv_sec == m
                            && st.stx_atime.tv_sec == a
                        {
                            let n = self.open_new(&d, name, FileKind::Regular)?;
                            return self.created(&n);
                        }
                        Err(VfsError::Exists)
                    }
                    CreateHow::Unchecked => {
                        match kind {
                            FileKind::Regular => {}
                            FileKind::Directory => return Err(VfsError::IsDir),
                            _ => return Err(VfsError::Exists),
                        }
                        let n = self.open_new(&d, name, FileKind::Regular)?;
                        if let Some(size) = attrs.size {
                            // Only the size applies to an existing file (RFC 1813 §3.3.8).
                            if n.rw_fd().is_none() {
                                let fd =
                                    self.reopen(d.fd.as_fd(), name, OFlags::RDWR, n.ident.ino)?;
                                let _ = n.write_fd.set(fd);
                            }
                            let fd = n.rw_fd().ok_or(VfsError::Io)?;
                            rustix::fs::ftruncate(fd, size).map_err(op_err)?;
                        }
                        self.created(&n)
                    }
                }
            }
            // A symbolic link in the way (O_NOFOLLOW): never created through.
            Err(VfsError::Invalid) if statx_at(d.fd.as_fd(), name).is_ok() => Err(VfsError::Exists),
            Err(e) => Err(e),
        }
    }

    fn mkdir(
        &self,
        dir: &Handle,
        name: &[u8],
        attrs: &SetAttrs,
        caller: &Caller,
    ) -> VfsResult<(Handle, FileAttr)> {
        let d = self.resolve_dir(dir)?;
        check_name(name, true)?;
        let birth = self.births.begin(d.ident.ino, name);
        rustix::fs::mkdirat(&d.fd, name, Mode::from_raw_mode(0o700)).map_err(op_err)?;
        let n = self.open_new(&d, name, FileKind::Directory)?;
        let attrs = SetAttrs {
            size: None,
            ..*attrs
        };
        self.init_new(&n, caller, &attrs, 0o755, None)?;
        birth.end();
        self.created(&n)
    }

    fn symlink(
        &self,
        dir: &Handle,
        name: &[u8],
        target: &[u8],
        attrs: &SetAttrs,
        caller: &Caller,
    ) -> VfsResult<(Handle, FileAttr)> {
        let d = self.resolve_dir(dir)?;
        check_name(name, true)?;
        if target.is_empty() || target.contains(&0) {
            return Err(VfsError::Invalid);
        }
        if target.len() > sys::SYMLINK_MAX {
            return Err(VfsError::NameTooLong);
        }
        let birth = self.births.begin(d.ident.ino, name);
        rustix::fs::symlinkat(target, &d.fd, name).map_err(op_err)?;
        let n = self.open_new(&d, name, FileKind::Symlink)?;
        let attrs = SetAttrs {
            size: None,
            mode: None,
            ..*attrs
        };
        let (uid, gid) = self.new_owner(caller, &attrs);
        self.apply(&n, &SetAttrs { uid, gid, ..attrs })?;
        birth.end();
        self.created(&n)
    }

    fn mknod(
        &self,
        dir: &Handle,
        name: &[u8],
        kind: FileKind,
        rdev: (u32, u32),
        attrs: &SetAttrs,
        caller: &Caller,
    ) -> VfsResult<(Handle, FileAttr)> {
        let d = self.resolve_dir(dir)?;
        check_name(name, true)?;
        let (ft, dev) = match kind {
            FileKind::BlockDevice => (FileType::BlockDevice, rustix::fs::makedev(rdev.0, rdev.1)),
            FileKind::CharDevice => (
                FileType::CharacterDevice,
                rustix::fs::makedev(rdev.0, rdev.1),
            ),
            FileKind::Fifo => (FileType::Fifo, 0),
            FileKind::Socket => (FileType::Socket, 0),
            _ => return Err(VfsError::Invalid),
        };
        let birth = self.births.begin(d.ident.ino, name);
        rustix::fs::mknodat(&d.fd, name, ft, Mode::from_raw_mode(0o600), dev).map_err(op_err)?;
        let n = self.open_new(&d, name, kind)?;
        let attrs = SetAttrs {
            size: None,
            ..*attrs
        };
        self.init_new(&n, caller, &attrs, 0o644, None)?;
        birth.end();
        self.created(&n)
    }

    fn remove(&self, dir: &Handle, name: &[u8]) -> VfsResult<()> {
        let d = self.resolve_dir(dir)?;
        check_name(name, true)?;
        let st = statx_at(d.fd.as_fd(), name)?;
        if kind_of(&st) == FileKind::Directory {
            return Err(VfsError::IsDir);
        }
        rustix::fs::unlinkat(&d.fd, name, AtFlags::empty()).map_err(op_err)?;
        lock(&self.names).forget_name(st.stx_ino, d.ident.ino, name);
        if st.stx_nlink <= 1 {
            self.forget_dead(st.stx_ino);
        }
        Ok(())
    }

    fn rmdir(&self, dir: &Handle, name: &[u8]) -> VfsResult<()> {
        let d = self.resolve_dir(dir)?;
        check_name(name, true)?;
        let st = statx_at(d.fd.as_fd(), name)?;
        rustix::fs::unlinkat(&d.fd, name, AtFlags::REMOVEDIR).map_err(op_err)?;
        self.forget_dead(st.stx_ino);
        Ok(())
    }

    fn rename(
        &self,
        from_dir: &Handle,
        from_name: &[u8],
        to_dir: &Handle,
        to_name: &[u8],
        mode: RenameMode,
    ) -> VfsResult<()> {
        let fd = self.resolve_dir(from_dir)?;
        let td = self.resolve_dir(to_dir)?;
        check_name(from_name, true)?;
        check_name(to_name, true)?;
        let src = statx_at(fd.fd.as_fd(), from_name)?;
        let flags = match mode {
            RenameMode::Replace => RenameFlags::empty(),
            // The kernel checks and renames atomically: EEXIST for an existing target.
            RenameMode::NoReplace => RenameFlags::NOREPLACE,
        };
        let dst = match mode {
            RenameMode::Replace => statx_at(td.fd.as_fd(), to_name).ok(),
            RenameMode::NoReplace => None,
        };
        rustix::fs::renameat_with(&fd.fd, from_name, &td.fd, to_name, flags).map_err(op_err)?;
        let src_is_dir = kind_of(&src) == FileKind::Directory;
        {
            let mut names = lock(&self.names);
            names.forget_name(src.stx_ino, fd.ident.ino, from_name);
            names.insert(src.stx_ino, td.ident.ino, to_name, src_is_dir);
        }
        if let Some(dst) = dst {
            if dst.stx_ino != src.stx_ino {
                lock(&self.names).forget_name(dst.stx_ino, td.ident.ino, to_name);
                if kind_of(&dst) == FileKind::Directory || dst.stx_nlink <= 1 {
                    self.forget_dead(dst.stx_ino);
                }
            }
        }
        Ok(())
    }

    fn link(&self, file: &Handle, dir: &Handle, name: &[u8]) -> VfsResult<()> {
        let (n, _) = self.resolve(file)?;
        let d = self.resolve_dir(dir)?;
        check_name(name, true)?;
        // The kernel reports, in POSIX order, EEXIST for a taken name, then EPERM for a
        // directory (no hard links to directories) and EMLINK.
        // linkat(fd, "", AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH (ENOENT without it);
        // then link from the file's verified parent directory and name instead.
        match rustix::fs::linkat(&n.fd, "", &d.fd, name, AtFlags::EMPTY_PATH) {
            Ok(()) => return Ok(()),
            Err(Errno::NOENT) => {}
            Err(e) => return Err(op_err(e)),
        }
        let (base, path) = self.locate(n.ident.ino).map_err(|e| match e {
            VfsError::NotFound => VfsError::Stale,
            e => e,
        })?;
        let (parent, last) = match path.iter().rposition(|b| *b == b'/') {
            Some(i) => (
                Some(self.open_path(
                    base.fd.as_fd(),
                    &path[..i],
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW,
                )?),
                &path[i + 1..],
            ),
            None => (None, &path[..]),
        };
        let parent_fd = parent.as_ref().map_or(base.fd.as_fd(), |p| p.as_fd());
        rustix::fs::linkat(parent_fd, last, &d.fd, name, AtFlags::empty()).map_err(op_err)?;
        if statx_at(d.fd.as_fd(), name).map(|st| st.stx_ino) != Ok(n.ident.ino) {
            // The name changed hands between locating and linking: undo.
            let _ = rustix::fs::unlinkat(&d.fd, name, AtFlags::empty());
            return Err(VfsError::Stale);
        }
        Ok(())
    }

    fn readdir(&self, dir: &Handle, cookie: u64, max_entries: usize) -> VfsResult<DirPage> {
        let (d, st) = self.resolve(dir)?;
        if d.kind != FileKind::Directory {
            return Err(VfsError::NotDir);
        }
        if st.stx_nlink == 0 {
            // A removed directory kept by a hold: empty (getdents on it fails with ENOENT).
            return Ok(DirPage {
                entries: Vec::new(),
                eof: true,
            });
        }
        let fd = open_beneath(
            d.fd.as_fd(),
            b".",
            OFlags::RDONLY | OFlags::DIRECTORY,
            Mode::empty(),
        )?;
        if cookie != 0 {
            if cookie > i64::MAX as u64 {
                return Err(VfsError::BadCookie);
            }
            rustix::fs::seek(&fd, SeekFrom::Start(cookie)).map_err(|e| match e {
                Errno::INVAL => VfsError::BadCookie,
                e => op_err(e),
            })?;
        }
        let max = max_entries.min(MAX_DIR_ENTRIES);
        let mut buf: Vec<u8> = Vec::with_capacity(64 << 10);
        let mut raw = rustix::fs::RawDir::new(&fd, buf.spare_capacity_mut());
        let mut entries = Vec::new();
        let mut kinds = Vec::new();
        let mut eof = true;
        while let Some(ent) = raw.next() {
            let ent = ent.map_err(op_err)?;
            let name = ent.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            if entries.len() >= max {
                eof = false;
                break;
            }
            kinds.push(ent.file_type() == FileType::Directory);
            entries.push(DirEntry {
                name: name.to_vec(),
                fileid: ent.ino(),
                cookie: ent.next_entry_cookie(),
            });
        }
        {
            let mut names = lock(&self.names);
            for (e, is_dir) in entries.iter().zip(kinds) {
                names.insert(e.fileid, d.ident.ino, &e.name, is_dir);
            }
        }
        Ok(DirPage { entries, eof })
    }

    fn find_entry(
        &self,
        dir: &Handle,
        matches: &mut dyn FnMut(&[u8]) -> bool,
    ) -> VfsResult<Option<Vec<u8>>> {
        let (d, st) = self.resolve(dir)?;
        if d.kind != FileKind::Directory {
            return Err(VfsError::NotDir);
        }
        if st.stx_nlink == 0 {
            return Ok(None);
        }
        let fd = open_beneath(
            d.fd.as_fd(),
            b".",
            OFlags::RDONLY | OFlags::DIRECTORY,
            Mode::empty(),
        )?;
        // One sweep of the directory: no entries built, nothing recorded per name.
        let mut buf: Vec<u8> = Vec::with_capacity(64 << 10);
        let mut raw = rustix::fs::RawDir::new(&fd, buf.spare_capacity_mut());
        while let Some(ent) = raw.next() {
            let ent = ent.map_err(op_err)?;
            let name = ent.file_name().to_bytes();
            if name != b"." && name != b".." && matches(name) {
                return Ok(Some(name.to_vec()));
            }
        }
        Ok(None)
    }

    fn dir_version(&self, dir: &Handle) -> VfsResult<u64> {
        let d = self.resolve_dir(dir)?;
        Ok(d.ident.digest())
    }

    fn fsstat(&self, h: &Handle) -> VfsResult<FsStat> {
        self.resolve(h)?;
        let s = rustix::fs::fstatvfs(&self.root.fd).map_err(op_err)?;
        let unit = s.f_frsize.max(1);
        Ok(FsStat {
            total_bytes: s.f_blocks.saturating_mul(unit),
            free_bytes: s.f_bfree.saturating_mul(unit),
            avail_bytes: s.f_bavail.saturating_mul(unit),
            total_files: s.f_files,
            free_files: s.f_ffree,
            avail_files: s.f_favail,
        })
    }

    fn dos_attrs(&self, h: &Handle) -> VfsResult<DosAttrs> {
        let (n, st) = self.resolve(h)?;
        self.dos_of(&n, &st)
    }

    fn set_dos_attrs(&self, h: &Handle, set: &SetDosAttrs) -> VfsResult<DosAttrs> {
        let (n, st) = self.resolve(h)?;
        let is_dir = n.kind == FileKind::Directory;
        let stored = set.stored_bits(is_dir)?;
        let target = match Self::xattr_target(&n) {
            Some(t) if self.options.store_dos_attributes => t,
            _ => return Err(VfsError::NotSupported),
        };
        let cur = self.dos_of(&n, &st)?;
        if stored.is_none() && set.creation_time.is_none() {
            return Ok(cur);
        }
        let mut word = stored.unwrap_or(cur.attributes & file_attributes::STORABLE);
        if is_dir {
            // Samba stores DIRECTORY with a directory's attributes; write the same bytes.
            word |= file_attributes::DIRECTORY;
        }
        let creation = set.creation_time.unwrap_or(cur.creation_time);
        let blob = dosattrib::encode(word, creation);
        sys::set_xattr(&target, dosattrib::XATTR_NAME, &blob).map_err(|e| match e {
            // No user extended attributes on this file system (tmpfs before Linux 6.6,
            // vfat, some FUSE file systems).
            Errno::OPNOTSUPP => VfsError::NotSupported,
            Errno::NOSPC | Errno::DQUOT | Errno::TOOBIG => VfsError::NoSpace,
            e => op_err(e),
        })?;
        // What was just stored, not read back (a `fgetxattr` per CREATE saved).
        let st = statx_fd(n.fd.as_fd())?;
        Ok(Self::dos_with(&n, &st, dosattrib::decode(&blob).ok()))
    }

    fn set_allocation(&self, h: &Handle, size: u64) -> VfsResult<FileAttr> {
        let (n, st) = self.resolve(h)?;
        match n.kind {
            FileKind::Regular => {}
            FileKind::Directory => return Err(VfsError::IsDir),
            _ => return Err(VfsError::Invalid),
        }
        if size > MAX_OFFSET {
            return Err(VfsError::TooBig);
        }
        let fd = self.rw_fd(&n)?;
        if size < st.stx_size {
            // MS-FSA 2.1.5.15.1: an allocation below the end of file truncates the file.
            rustix::fs::ftruncate(fd, size).map_err(op_err)?;
        } else if size > st.stx_blocks.saturating_mul(512) {
            match rustix::fs::fallocate(fd, FallocateFlags::KEEP_SIZE, 0, size) {
                Ok(()) => {}
                // A file system that cannot preallocate: the allocation is advisory (Samba
                // does not even try by default, `strict allocate = no`).
                Err(Errno::OPNOTSUPP) => {}
                Err(e) => return Err(op_err(e)),
            }
        }
        Ok(attr_of(&statx_fd(n.fd.as_fd())?))
    }

    fn hold(&self, h: &Handle) -> VfsResult<()> {
        let (n, _) = self.resolve(h)?;
        if n.kind == FileKind::Regular && n.rw_fd().is_none() {
            // Writes through a held file must not need its name later (it may be gone):
            // open it read-write now if the server may; if not, writes fail as before.
            let _ = self.rw_fd(&n);
        }
        let mut holds = lock(&self.holds);
        let entry = holds.entry(n.ident.ino).or_insert_with(|| (n.clone(), 0));
        entry.1 = entry.1.checked_add(1).ok_or(VfsError::Io)?;
        Ok(())
    }

    fn release(&self, h: &Handle) {
        let Ok((id, _)) = handle::decode(h) else {
            return;
        };
        let gone = {
            let mut holds = lock(&self.holds);
            match holds.get_mut(&id.ino) {
                Some((n, count)) if id.same_file(&n.ident) => {
                    *count -= 1;
                    if *count == 0 {
                        holds.remove(&id.ino).map(|(n, _)| n)
                    } else {
                        None
                    }
                }
                _ => None,
            }
        };
        if let Some(n) = gone {
            if statx_fd(n.fd.as_fd()).is_ok_and(|st| st.stx_nlink == 0) {
                self.forget_dead(n.ident.ino);
                self.mark_stale(n.ident);
            }
        }
    }
}

/// Whether a cached node is the incarnation `st` describes (same birth time when known).
fn btime_matches(id: &Ident, st: &Statx) -> bool {
    match (id.btime, sys::btime_of(st)) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}
