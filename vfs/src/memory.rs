//! An in-memory file system implementing [`Vfs`]: used by unit and simulation tests, the
//! deterministic simulation runtime and pcap replay.
//!
//! Semantics follow POSIX (IEEE Std 1003.1-2017 `rename()`, `link()`, `unlink()`, `rmdir()`)
//! as seen through NFSv3 (RFC 1813 §3.3): the behaviour a client observes is the one a Linux
//! server on ext4 would produce, minus permission checks (the executor does those).
//!
//! - Inodes carry a generation number; a backend handle is `(magic, inode, generation)`, so a
//!   handle of a deleted file, or of an inode number that has since been reused, gives
//!   [`VfsError::Stale`]. Inode numbers of deleted files are reused on purpose, so the
//!   generation check is exercised.
//! - READDIR cookies are per-directory entry ids, assigned from a monotonically increasing
//!   counter when a name is added (a rename gives the moved name a new id). A cookie stays
//!   valid while its entry exists and also after it is removed (listing resumes at the next
//!   higher id), so [`Vfs::dir_version`] never needs to change; a cookie that was never issued
//!   gives [`VfsError::BadCookie`].
//! - Time comes from a caller-supplied clock ([`VirtualClock`] or any `Fn() -> Timestamp`),
//!   so tests and pcap replay are deterministic.
//! - EXCLUSIVE create (RFC 1813 §3.3.8) stores the full 8-byte verifier in the inode; like
//!   a real file system that keeps it in the timestamps (LocalFs, knfsd), it is forgotten
//!   once the file is read, written or has its times or size set.
//! - Capacity is bounded by [`MemoryFsConfig::total_bytes`] and
//!   [`MemoryFsConfig::total_files`]; exceeding them gives [`VfsError::NoSpace`], so a peer
//!   can never make the server allocate without bound.
//! - Windows-side attributes live in the inode: the birth time (the clock at creation,
//!   [`DosAttrs::birth_time`]), the DOS attributes and an SMB-set creation time once
//!   [`Vfs::set_dos_attrs`] stored them (before that they are [`DosAttrs::derived`], as on
//!   the local backend), and a preallocation ([`Vfs::set_allocation`]): `used` is the larger
//!   of the data's 4 KiB blocks and the preallocation, both counted against
//!   `total_bytes`. Like ext4, a truncate to the current size or below drops the preallocation
//!   beyond the new end; unlike the local backend, a smaller allocation above the size is honoured
//!   exactly (MS-FSA 2.1.5.15.1). As on Linux, symbolic links and special files cannot
//!   carry DOS attributes ([`VfsError::NotSupported`]).
//! - [`Vfs::hold`] counts holds in the inode; a removed inode with holds stays (unnamed,
//!   `nlink` 0) until the last [`Vfs::release`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{
    check_name, dosattrib, file_attributes, Caller, CreateHow, CreationSource, DirEntry, DirPage,
    DosAttrs, FileAttr, FileKind, FsStat, Handle, RenameMode, SetAttrs, SetDosAttrs, SetTime,
    Stability, Timestamp, Vfs, VfsError, VfsResult,
};

/// First byte of every MemoryFs handle (distinguishes it from garbage and other backends).
const HANDLE_MAGIC: u8 = 0x4d;
/// Handle length: magic, inode (u64 LE), generation (u32 LE).
const HANDLE_LEN: usize = 1 + 8 + 4;
/// Inode number of the root directory.
const ROOT_INO: u64 = 1;
/// Longest symbolic-link target (PATH_MAX on Linux).
pub const PATH_MAX: usize = 4096;
/// Most hard links to one file (ext4's EXT4_LINK_MAX).
pub const LINK_MAX: u32 = 65_000;
/// Block size used for `used` and FSSTAT accounting.
const BLOCK: u64 = 4096;

/// A settable clock for deterministic tests: clones share the same time.
#[derive(Debug, Clone, Default)]
pub struct VirtualClock {
    secs: Arc<AtomicI64>,
    nsecs: Arc<AtomicU32>,
}

impl VirtualClock {
    /// A clock reading `start`.
    pub fn new(start: Timestamp) -> Self {
        let c = Self::default();
        c.set(start);
        c
    }

    /// The current virtual time.
    pub fn now(&self) -> Timestamp {
        Timestamp {
            secs: self.secs.load(Ordering::SeqCst),
            nsecs: self.nsecs.load(Ordering::SeqCst),
        }
    }

    /// Sets the time.
    pub fn set(&self, t: Timestamp) {
        self.secs.store(t.secs, Ordering::SeqCst);
        self.nsecs.store(t.nsecs % 1_000_000_000, Ordering::SeqCst);
    }

    /// Moves the time forward by `secs` seconds and `nsecs` nanoseconds.
    pub fn advance(&self, secs: i64, nsecs: u32) {
        let t = self.now();
        let total = u64::from(t.nsecs) + u64::from(nsecs);
        self.set(Timestamp {
            secs: t
                .secs
                .saturating_add(secs)
                .saturating_add((total / 1_000_000_000) as i64),
            nsecs: (total % 1_000_000_000) as u32,
        });
    }
}

/// The clock a [`MemoryFs`] reads for timestamps.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// The host's wall clock, for production use of [`MemoryFs`].
pub fn system_clock() -> Clock {
    Arc::new(|| {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp {
            secs: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            nsecs: d.subsec_nanos(),
        }
    })
}

/// Limits and identity of a [`MemoryFs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryFsConfig {
    /// Capacity in bytes (file data, counted in 4 KiB blocks); FSSTAT `tbytes`.
    pub total_bytes: u64,
    /// Most inodes (the root included); FSSTAT `tfiles`.
    pub total_files: u64,
    /// Largest file size; writes or truncates beyond it give [`VfsError::TooBig`].
    pub max_file_size: u64,
    /// The `fsid` reported in attributes.
    pub fsid: u64,
    /// Owner of the root directory.
    pub root_uid: u32,
    /// Group of the root directory.
    pub root_gid: u32,
    /// Permission bits of the root directory.
    pub root_mode: u32,
}

impl Default for MemoryFsConfig {
    fn default() -> Self {
        Self {
            total_bytes: 1 << 30,
            total_files: 1 << 20,
            max_file_size: 1 << 40,
            fsid: 0x4a61_6e75_734d_656d, // "JanusMem"
            root_uid: 0,
            root_gid: 0,
            root_mode: 0o777,
        }
    }
}

/// One node of a tree given to [`MemoryFs::with_tree`] (for pcap replay and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeedEntry {
    /// A directory at this `/`-separated path (parents are created as needed).
    Dir {
        /// Path relative to the root, e.g. `"a/b"`.
        path: String,
        /// Permission bits.
        mode: u32,
    },
    /// A regular file.
    File {
        /// Path relative to the root.
        path: String,
        /// Contents.
        data: Vec<u8>,
        /// Permission bits.
        mode: u32,
    },
    /// A symbolic link.
    Symlink {
        /// Path relative to the root.
        path: String,
        /// Link target.
        target: Vec<u8>,
    },
}

#[derive(Debug)]
enum Content {
    File(Vec<u8>),
    Dir(Dir),
    Symlink(Vec<u8>),
    /// Device, FIFO or socket (the kind is in the inode).
    Special,
}

#[derive(Debug, Default)]
struct Dir {
    /// Parent inode (the root is its own parent).
    parent: u64,
    /// Entries by id (the READDIR cookie): name and inode.
    entries: BTreeMap<u64, (Vec<u8>, u64)>,
    /// Name -> entry id.
    by_name: HashMap<Vec<u8>, u64>,
    /// Last entry id handed out (ids start at 1, so cookie 0 is never issued).
    last_id: u64,
}

impl Dir {
    fn get(&self, name: &[u8]) -> Option<u64> {
        self.by_name
            .get(name)
            .and_then(|id| self.entries.get(id))
            .map(|(_, ino)| *ino)
    }

    fn insert(&mut self, name: &[u8], ino: u64) {
        self.last_id += 1;
        self.entries.insert(self.last_id, (name.to_vec(), ino));
        self.by_name.insert(name.to_vec(), self.last_id);
    }

    fn remove(&mut self, name: &[u8]) -> Option<u64> {
        let id = self.by_name.remove(name)?;
        self.entries.remove(&id).map(|(_, ino)| ino)
    }
}

#[derive(Debug)]
struct Inode {
    generation: u32,
    kind: FileKind,
    mode: u32,
    nlink: u32,
    uid: u32,
    gid: u32,
    rdev: (u32, u32),
    atime: Timestamp,
    mtime: Timestamp,
    ctime: Timestamp,
    /// Verifier of the EXCLUSIVE create that made this file (RFC 1813 §3.3.8).
    verifier: Option<[u8; 8]>,
    /// Birth time (the clock when the inode was made).
    btime: Timestamp,
    /// Stored DOS attributes and creation time ([`Vfs::set_dos_attrs`]), if ever set.
    dos: Option<(u32, Timestamp)>,
    /// Preallocated bytes (4 KiB multiple) from [`Vfs::set_allocation`]; `used` is the larger
    /// of this and the data's blocks.
    prealloc: u64,
    /// Outstanding [`Vfs::hold`]s; an inode with holds outlives its last link.
    holds: u32,
    content: Content,
}

impl Inode {
    fn size(&self) -> u64 {
        match &self.content {
            Content::File(d) => d.len() as u64,
            Content::Symlink(t) => t.len() as u64,
            Content::Dir(d) => BLOCK.max(d.entries.len() as u64 * 32),
            Content::Special => 0,
        }
    }

    fn dir(&self) -> VfsResult<&Dir> {
        match &self.content {
            Content::Dir(d) => Ok(d),
            _ => Err(VfsError::NotDir),
        }
    }

    fn dir_mut(&mut self) -> VfsResult<&mut Dir> {
        match &mut self.content {
            Content::Dir(d) => Ok(d),
            _ => Err(VfsError::NotDir),
        }
    }
}

fn blocks(bytes: u64) -> u64 {
    bytes.div_ceil(BLOCK) * BLOCK
}

impl Inode {
    /// Bytes charged against the capacity (and reported as `used`) for a regular file.
    fn charged(&self) -> u64 {
        match &self.content {
            Content::File(d) => blocks(d.len() as u64).max(self.prealloc),
            _ => 0,
        }
    }
}

#[derive(Debug)]
struct State {
    inodes: HashMap<u64, Inode>,
    /// Inode numbers freed by deletion, reused (with a new generation) before new ones.
    free_inos: Vec<u64>,
    next_ino: u64,
    next_generation: u32,
    /// Bytes of file data in use (4 KiB blocks).
    used_bytes: u64,
}

impl State {
    fn inode(&self, h: &Handle) -> VfsResult<(u64, &Inode)> {
        let (ino, generation) = decode_handle(h)?;
        match self.inodes.get(&ino) {
            Some(i) if i.generation == generation => Ok((ino, i)),
            _ => Err(VfsError::Stale),
        }
    }

    fn ino(&self, h: &Handle) -> VfsResult<u64> {
        self.inode(h).map(|(ino, _)| ino)
    }

    fn get(&self, ino: u64) -> VfsResult<&Inode> {
        self.inodes.get(&ino).ok_or(VfsError::Stale)
    }

    fn get_mut(&mut self, ino: u64) -> VfsResult<&mut Inode> {
        self.inodes.get_mut(&ino).ok_or(VfsError::Stale)
    }

    fn handle(&self, ino: u64) -> Handle {
        let generation = self.inodes.get(&ino).map_or(0, |i| i.generation);
        encode_handle(ino, generation)
    }

    /// Frees an inode whose link count reached zero.
    fn free(&mut self, ino: u64) {
        if let Some(i) = self.inodes.remove(&ino) {
            self.used_bytes = self.used_bytes.saturating_sub(i.charged());
            self.free_inos.push(ino);
        }
    }

    /// Drops one link of `ino`, freeing it at zero unless it is held (then it stays,
    /// unnamed, with `nlink` 0, until the last release).
    fn unlink(&mut self, ino: u64, now: Timestamp) {
        let Some(i) = self.inodes.get_mut(&ino) else {
            return;
        };
        i.ctime = now;
        let dead = match i.kind {
            FileKind::Directory => true,
            _ => {
                i.nlink = i.nlink.saturating_sub(1);
                i.nlink == 0
            }
        };
        if dead {
            if i.holds > 0 {
                i.nlink = 0;
            } else {
                self.free(ino);
            }
        }
    }

    fn touch_dir(&mut self, ino: u64, now: Timestamp) {
        if let Some(i) = self.inodes.get_mut(&ino) {
            i.mtime = now;
            i.ctime = now;
        }
    }

    /// Resizes a regular file's data, enforcing the capacity and size limits.
    fn resize(&mut self, ino: u64, new_len: u64, cfg: &MemoryFsConfig) -> VfsResult<()> {
        self.resize_alloc(ino, new_len, None, cfg)
    }

    /// Resizes a regular file's data to `new_len` and, with `prealloc`, sets its
    /// preallocation, enforcing the capacity and size limits; nothing changes on failure.
    fn resize_alloc(
        &mut self,
        ino: u64,
        new_len: u64,
        prealloc: Option<u64>,
        cfg: &MemoryFsConfig,
    ) -> VfsResult<()> {
        if new_len > cfg.max_file_size {
            return Err(VfsError::TooBig);
        }
        let i = self.get(ino)?;
        let old_len = match &i.content {
            Content::File(d) => d.len() as u64,
            Content::Dir(_) => return Err(VfsError::IsDir),
            _ => return Err(VfsError::Invalid),
        };
        let old_charge = i.charged();
        let new_prealloc = prealloc.unwrap_or(i.prealloc);
        let new_charge = blocks(new_len).max(new_prealloc);
        if new_charge > old_charge && self.used_bytes + (new_charge - old_charge) > cfg.total_bytes
        {
            return Err(VfsError::NoSpace);
        }
        let len = usize::try_from(new_len).map_err(|_| VfsError::TooBig)?;
        let i = self.get_mut(ino)?;
        i.prealloc = new_prealloc;
        if let Content::File(d) = &mut i.content {
            d.resize(len, 0);
            if new_len < old_len {
                d.shrink_to(len.max(1 << 12));
            }
        }
        self.used_bytes = self.used_bytes - old_charge + new_charge;
        Ok(())
    }
}

fn encode_handle(ino: u64, generation: u32) -> Handle {
    let mut v = Vec::with_capacity(HANDLE_LEN);
    v.push(HANDLE_MAGIC);
    v.extend_from_slice(&ino.to_le_bytes());
    v.extend_from_slice(&generation.to_le_bytes());
    Handle(v)
}

fn decode_handle(h: &Handle) -> VfsResult<(u64, u32)> {
    let b = &h.0;
    if b.len() != HANDLE_LEN || b[0] != HANDLE_MAGIC {
        return Err(VfsError::BadHandle);
    }
    let mut ino = [0u8; 8];
    ino.copy_from_slice(&b[1..9]);
    let mut generation = [0u8; 4];
    generation.copy_from_slice(&b[9..13]);
    let ino = u64::from_le_bytes(ino);
    if ino == 0 {
        return Err(VfsError::BadHandle);
    }
    Ok((ino, u32::from_le_bytes(generation)))
}

/// The in-memory file system. See the module documentation.
pub struct MemoryFs {
    state: Mutex<State>,
    clock: Clock,
    config: MemoryFsConfig,
}

impl fmt::Debug for MemoryFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryFs")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Default for MemoryFs {
    fn default() -> Self {
        Self::new(MemoryFsConfig::default(), system_clock())
    }
}

impl MemoryFs {
    /// An empty file system with the given limits, reading time from `clock`.
    pub fn new(config: MemoryFsConfig, clock: Clock) -> Self {
        let now = clock();
        let root = Inode {
            generation: 1,
            kind: FileKind::Directory,
            mode: config.root_mode & 0o7777,
            nlink: 2,
            uid: config.root_uid,
            gid: config.root_gid,
            rdev: (0, 0),
            atime: now,
            mtime: now,
            ctime: now,
            verifier: None,
            btime: now,
            dos: None,
            prealloc: 0,
            holds: 0,
            content: Content::Dir(Dir {
                parent: ROOT_INO,
                ..Dir::default()
            }),
        };
        let mut inodes = HashMap::new();
        inodes.insert(ROOT_INO, root);
        Self {
            state: Mutex::new(State {
                inodes,
                free_inos: Vec::new(),
                next_ino: ROOT_INO + 1,
                next_generation: 2,
                used_bytes: 0,
            }),
            clock,
            config,
        }
    }

    /// An empty file system on a [`VirtualClock`].
    pub fn with_virtual_clock(config: MemoryFsConfig, clock: VirtualClock) -> Self {
        Self::new(config, Arc::new(move || clock.now()))
    }

    /// A file system pre-populated with `entries` (in order; parent directories are created
    /// as needed, owned by the root's owner). Used to set up pcap replay and tests.
    pub fn with_tree(
        config: MemoryFsConfig,
        clock: Clock,
        entries: &[SeedEntry],
    ) -> VfsResult<Self> {
        let fs = Self::new(config, clock);
        let caller = Caller {
            uid: config.root_uid,
            gid: config.root_gid,
            gids: Vec::new(),
        };
        for e in entries {
            let path = match e {
                SeedEntry::Dir { path, .. }
                | SeedEntry::File { path, .. }
                | SeedEntry::Symlink { path, .. } => path,
            };
            let comps: Vec<&[u8]> = path
                .as_bytes()
                .split(|b| *b == b'/')
                .filter(|c| !c.is_empty())
                .collect();
            let Some((last, parents)) = comps.split_last() else {
                return Err(VfsError::Invalid);
            };
            let mut dir = fs.root();
            for c in parents {
                dir = match fs.lookup(&dir, c) {
                    Ok((h, _)) => h,
                    Err(VfsError::NotFound) => {
                        let attrs = SetAttrs {
                            mode: Some(0o755),
                            ..SetAttrs::default()
                        };
                        fs.mkdir(&dir, c, &attrs, &caller)?.0
                    }
                    Err(e) => return Err(e),
                };
            }
            match e {
                SeedEntry::Dir { mode, .. } => {
                    let attrs = SetAttrs {
                        mode: Some(*mode),
                        ..SetAttrs::default()
                    };
                    fs.mkdir(&dir, last, &attrs, &caller)?;
                }
                SeedEntry::File { data, mode, .. } => {
                    let attrs = SetAttrs {
                        mode: Some(*mode),
                        ..SetAttrs::default()
                    };
                    let (h, _) = fs.create(&dir, last, CreateHow::Guarded, &attrs, &caller)?;
                    fs.write(&h, 0, data, Stability::FileSync)?;
                }
                SeedEntry::Symlink { target, .. } => {
                    fs.symlink(&dir, last, target, &SetAttrs::default(), &caller)?;
                }
            }
        }
        Ok(fs)
    }

    /// The configuration.
    pub fn config(&self) -> &MemoryFsConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the tree half-updated in a way that
        // breaks memory safety; keep serving rather than poisoning every later call.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn attr(&self, ino: u64, i: &Inode) -> FileAttr {
        let size = i.size();
        FileAttr {
            kind: i.kind,
            mode: i.mode & 0o7777,
            nlink: i.nlink,
            uid: i.uid,
            gid: i.gid,
            size,
            used: match i.content {
                Content::File(_) => i.charged(),
                Content::Dir(_) => blocks(size),
                _ => 0,
            },
            rdev: i.rdev,
            fsid: self.config.fsid,
            fileid: ino,
            atime: i.atime,
            mtime: i.mtime,
            ctime: i.ctime,
        }
    }

    fn dos(&self, ino: u64, i: &Inode) -> DosAttrs {
        let attr = self.attr(ino, i);
        match i.dos {
            Some((attributes, creation_time)) => DosAttrs {
                attr,
                birth_time: Some(i.btime),
                attributes: attributes
                    | match i.kind {
                        FileKind::Directory => file_attributes::DIRECTORY,
                        _ => 0,
                    },
                stored: true,
                creation_time,
                creation_source: CreationSource::Stored,
            },
            None => DosAttrs::derived(attr, Some(i.btime)),
        }
    }

    /// Applies `set` to inode `ino` (used by SETATTR and by the create family).
    fn apply(&self, st: &mut State, ino: u64, set: &SetAttrs, now: Timestamp) -> VfsResult<()> {
        if set.uid == Some(u32::MAX) || set.gid == Some(u32::MAX) {
            // (uid_t)-1 is "unchanged" to chown(2), never an owner (as LocalFs reports).
            return Err(VfsError::Invalid);
        }
        if let Some(size) = set.size {
            // Like ext4's truncate: at or below the current size, preallocated blocks
            // beyond the new end go too; an extension keeps them.
            let shrink = size <= st.get(ino)?.size();
            st.resize_alloc(ino, size, shrink.then_some(0), &self.config)?;
        }
        let i = st.get_mut(ino)?;
        if let Some(mode) = set.mode {
            // Linux ignores the mode of a symbolic link (knfsd drops ATTR_MODE for them).
            if i.kind != FileKind::Symlink {
                i.mode = mode & 0o7777;
            }
        }
        if let Some(uid) = set.uid {
            i.uid = uid;
        }
        if let Some(gid) = set.gid {
            i.gid = gid;
        }
        // nfstime3 nanoseconds are a peer-controlled u32; clamp as LocalFs does.
        let clamp = |t: Timestamp| Timestamp {
            secs: t.secs,
            nsecs: t.nsecs.min(999_999_999),
        };
        match set.atime {
            SetTime::DontChange => {}
            SetTime::ServerNow => i.atime = now,
            SetTime::Client(t) => i.atime = clamp(t),
        }
        match set.mtime {
            SetTime::DontChange if set.size.is_some() => i.mtime = now,
            SetTime::DontChange => {}
            SetTime::ServerNow => i.mtime = now,
            SetTime::Client(t) => i.mtime = clamp(t),
        }
        if set.size.is_some()
            || set.atime != SetTime::DontChange
            || set.mtime != SetTime::DontChange
        {
            // The verifier lives in the times on a real file system (LocalFs, knfsd): once
            // they change, a late EXCLUSIVE retransmission no longer matches. Mirror that.
            i.verifier = None;
        }
        i.ctime = now;
        Ok(())
    }

    /// Creates a new inode named `name` in `dir` (which must exist and not contain `name`).
    fn new_node(
        &self,
        st: &mut State,
        dir: u64,
        name: &[u8],
        (kind, content): (FileKind, Content),
        caller: &Caller,
        now: Timestamp,
    ) -> VfsResult<u64> {
        if st.inodes.len() as u64 >= self.config.total_files {
            return Err(VfsError::NoSpace);
        }
        let is_dir = kind == FileKind::Directory;
        if is_dir && st.get(dir)?.nlink >= LINK_MAX {
            return Err(VfsError::TooManyLinks);
        }
        let ino = match st.free_inos.pop() {
            Some(i) => i,
            None => {
                let i = st.next_ino;
                st.next_ino += 1;
                i
            }
        };
        let generation = st.next_generation;
        st.next_generation = st.next_generation.wrapping_add(1).max(1);
        let content = match content {
            Content::Dir(mut d) => {
                d.parent = dir;
                Content::Dir(d)
            }
            c => c,
        };
        st.inodes.insert(
            ino,
            Inode {
                generation,
                kind,
                mode: if is_dir { 0o755 } else { 0o644 },
                nlink: if is_dir { 2 } else { 1 },
                uid: caller.uid,
                gid: caller.gid,
                rdev: (0, 0),
                atime: now,
                mtime: now,
                ctime: now,
                verifier: None,
                btime: now,
                dos: None,
                prealloc: 0,
                holds: 0,
                content,
            },
        );
        let d = st.get_mut(dir)?;
        if is_dir {
            d.nlink += 1;
        }
        d.mtime = now;
        d.ctime = now;
        d.dir_mut()?.insert(name, ino);
        Ok(ino)
    }

    /// Common start of the create family: `dir` must be a directory, `name` valid and free.
    fn prepare_create(&self, st: &State, dir: &Handle, name: &[u8]) -> VfsResult<u64> {
        let (dino, di) = st.inode(dir)?;
        let d = di.dir()?;
        check_name(name, true)?;
        if di.nlink == 0 {
            // A removed directory kept by a hold: nothing can be created in it (ENOENT).
            return Err(VfsError::NotFound);
        }
        if d.get(name).is_some() {
            return Err(VfsError::Exists);
        }
        Ok(dino)
    }

    /// The steps shared by MKDIR, SYMLINK and MKNOD: the directory and name checks, then
    /// `node`'s own error if it has one (so a bad directory or name is reported first), the
    /// new inode, `init` on it, and `attrs` without a size.
    fn make_node(
        &self,
        dir: &Handle,
        name: &[u8],
        node: VfsResult<(FileKind, Content)>,
        init: impl FnOnce(&mut Inode),
        attrs: &SetAttrs,
        caller: &Caller,
    ) -> VfsResult<(Handle, FileAttr)> {
        let now = (self.clock)();
        let mut st = self.lock();
        let dino = self.prepare_create(&st, dir, name)?;
        let ino = self.new_node(&mut st, dino, name, node?, caller, now)?;
        init(st.get_mut(ino)?);
        let attrs = SetAttrs {
            size: None,
            ..*attrs
        };
        self.finish_create(&mut st, ino, &attrs, now)
    }

    fn finish_create(
        &self,
        st: &mut State,
        ino: u64,
        attrs: &SetAttrs,
        now: Timestamp,
    ) -> VfsResult<(Handle, FileAttr)> {
        self.apply(st, ino, attrs, now)?;
        let i = st.get(ino)?;
        Ok((st.handle(ino), self.attr(ino, i)))
    }

    /// REMOVE (`rmdir` false: IsDir for a directory) and RMDIR (`rmdir` true: NotDir for
    /// anything but a directory, NotEmpty for a directory with entries): the same lookup,
    /// unlink and directory times; an RMDIR also drops the parent link the removed
    /// directory's `..` held.
    fn remove_entry(&self, dir: &Handle, name: &[u8], rmdir: bool) -> VfsResult<()> {
        let now = (self.clock)();
        let mut st = self.lock();
        let dino = st.ino(dir)?;
        let d = st.get(dino)?.dir()?;
        check_name(name, true)?;
        let ino = d.get(name).ok_or(VfsError::NotFound)?;
        if rmdir {
            if !st.get(ino)?.dir()?.entries.is_empty() {
                return Err(VfsError::NotEmpty);
            }
        } else if st.get(ino)?.kind == FileKind::Directory {
            return Err(VfsError::IsDir);
        }
        st.get_mut(dino)?.dir_mut()?.remove(name);
        if rmdir {
            let p = st.get_mut(dino)?;
            p.nlink = p.nlink.saturating_sub(1);
        }
        st.touch_dir(dino, now);
        st.unlink(ino, now);
        Ok(())
    }

    /// Whether `ancestor` is `ino` or one of its ancestors.
    fn is_ancestor(st: &State, ancestor: u64, mut ino: u64) -> bool {
        // Bounded by the number of inodes: the parent chain cannot be longer.
        for _ in 0..=st.inodes.len() {
            if ino == ancestor {
                return true;
            }
            let Some(Content::Dir(d)) = st.inodes.get(&ino).map(|i| &i.content) else {
                return false;
            };
            if d.parent == ino {
                return false;
            }
            ino = d.parent;
        }
        false
    }
}

impl Vfs for MemoryFs {
    fn root(&self) -> Handle {
        self.lock().handle(ROOT_INO)
    }

    fn getattr(&self, h: &Handle) -> VfsResult<FileAttr> {
        let st = self.lock();
        let (ino, i) = st.inode(h)?;
        Ok(self.attr(ino, i))
    }

    fn setattr(&self, h: &Handle, set: &SetAttrs) -> VfsResult<FileAttr> {
        let now = (self.clock)();
        let mut st = self.lock();
        let ino = st.ino(h)?;
        self.apply(&mut st, ino, set, now)?;
        let i = st.get(ino)?;
        Ok(self.attr(ino, i))
    }

    fn lookup(&self, dir: &Handle, name: &[u8]) -> VfsResult<(Handle, FileAttr)> {
        let st = self.lock();
        let (dino, d) = st.inode(dir)?;
        let d = d.dir()?;
        check_name(name, false)?;
        let ino = match name {
            b"." => dino,
            // A removed directory (kept by a hold) has no parent any more (ENOENT).
            b".." if st.get(dino)?.nlink == 0 => return Err(VfsError::NotFound),
            b".." => d.parent,
            _ => d.get(name).ok_or(VfsError::NotFound)?,
        };
        let i = st.get(ino)?;
        Ok((st.handle(ino), self.attr(ino, i)))
    }

    fn readlink(&self, h: &Handle) -> VfsResult<Vec<u8>> {
        let st = self.lock();
        match &st.inode(h)?.1.content {
            Content::Symlink(t) => Ok(t.clone()),
            _ => Err(VfsError::Invalid),
        }
    }

    fn read(&self, h: &Handle, offset: u64, count: u32) -> VfsResult<(Vec<u8>, bool)> {
        let now = (self.clock)();
        let mut st = self.lock();
        let ino = st.ino(h)?;
        let i = st.get_mut(ino)?;
        let data = match &i.content {
            Content::File(d) => d,
            Content::Dir(_) => return Err(VfsError::IsDir),
            _ => return Err(VfsError::Invalid),
        };
        let len = data.len() as u64;
        let start = offset.min(len);
        let end = start.saturating_add(u64::from(count)).min(len);
        // Both bounds are <= data.len(), so they fit in usize.
        let out = data[start as usize..end as usize].to_vec();
        i.atime = now;
        // Reading moves atime, where real file systems keep the EXCLUSIVE verifier.
        i.verifier = None;
        Ok((out, end >= len))
    }

    fn write(
        &self,
        h: &Handle,
        offset: u64,
        data: &[u8],
        stable: Stability,
    ) -> VfsResult<(Stability, FileAttr)> {
        let now = (self.clock)();
        let mut st = self.lock();
        let ino = st.ino(h)?;
        match st.get(ino)?.content {
            Content::File(_) => {}
            Content::Dir(_) => return Err(VfsError::IsDir),
            _ => return Err(VfsError::Invalid),
        }
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or(VfsError::TooBig)?;
        let cur = st.get(ino)?.size();
        if end > cur {
            st.resize(ino, end, &self.config)?;
        }
        let i = st.get_mut(ino)?;
        if let Content::File(d) = &mut i.content {
            // `end <= d.len()` now, so both bounds fit in usize.
            d[offset as usize..end as usize].copy_from_slice(data);
        }
        i.mtime = now;
        i.ctime = now;
        // Writing moves mtime, where real file systems keep the EXCLUSIVE verifier.
        i.verifier = None;
        let i = st.get(ino)?;
        // Memory is as durable as this backend gets: report what was asked for, so the
        // executor's UNSTABLE + COMMIT path is exercised on it too.
        Ok((stable, self.attr(ino, i)))
    }

    fn commit(&self, h: &Handle) -> VfsResult<FileAttr> {
        self.getattr(h)
    }

    fn create(
        &self,
        dir: &Handle,
        name: &[u8],
        how: CreateHow,
        attrs: &SetAttrs,
        caller: &Caller,
    ) -> VfsResult<(Handle, FileAttr)> {
        let now = (self.clock)();
        let mut st = self.lock();
        let dino = match self.prepare_create(&st, dir, name) {
            Err(VfsError::Exists) => {
                let existing = st.get(st.ino(dir)?)?.dir()?.get(name);
                let ino = existing.ok_or(VfsError::Stale)?;
                let i = st.get(ino)?;
                match how {
                    CreateHow::Guarded => return Err(VfsError::Exists),
                    CreateHow::Exclusive(v) => {
                        // RFC 1813 §3.3.8: a retransmission carries the same verifier.
                        if i.kind == FileKind::Regular && i.verifier == Some(v) {
                            return Ok((st.handle(ino), self.attr(ino, i)));
                        }
                        return Err(VfsError::Exists);
                    }
                    CreateHow::Unchecked => {
                        match i.kind {
                            FileKind::Regular => {}
                            FileKind::Directory => return Err(VfsError::IsDir),
                            _ => return Err(VfsError::Exists),
                        }
                        // Only the size applies to an existing file (RFC 1813 §3.3.8).
                        let set = SetAttrs {
                            size: attrs.size,
                            ..SetAttrs::default()
                        };
                        if set.size.is_some() {
                            self.apply(&mut st, ino, &set, now)?;
                        }
                        let i = st.get(ino)?;
                        return Ok((st.handle(ino), self.attr(ino, i)));
                    }
                }
            }
            r => r?,
        };
        let ino = self.new_node(
            &mut st,
            dino,
            name,
            (FileKind::Regular, Content::File(Vec::new())),
            caller,
            now,
        )?;
        if let CreateHow::Exclusive(v) = how {
            // An exclusive create carries no attributes (RFC 1813 §3.3.8: the client sends a
            // SETATTR afterwards); only store the verifier.
            st.get_mut(ino)?.verifier = Some(v);
            let i = st.get(ino)?;
            return Ok((st.handle(ino), self.attr(ino, i)));
        }
        self.finish_create(&mut st, ino, attrs, now)
    }

    fn mkdir(
        &self,
        dir: &Handle,
        name: &[u8],
        attrs: &SetAttrs,
        caller: &Caller,
    ) -> VfsResult<(Handle, FileAttr)> {
        let node = Ok((FileKind::Directory, Content::Dir(Dir::default())));
        self.make_node(dir, name, node, |_| {}, attrs, caller)
    }

    fn symlink(
        &self,
        dir: &Handle,
        name: &[u8],
        target: &[u8],
        attrs: &SetAttrs,
        caller: &Caller,
    ) -> VfsResult<(Handle, FileAttr)> {
        let node = if target.is_empty() || target.contains(&0) {
            Err(VfsError::Invalid)
        } else if target.len() > PATH_MAX {
            Err(VfsError::NameTooLong)
        } else {
            Ok((FileKind::Symlink, Content::Symlink(target.to_vec())))
        };
        let attrs = SetAttrs {
            mode: None,
            ..*attrs
        };
        self.make_node(dir, name, node, |i| i.mode = 0o777, &attrs, caller)
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
        let (node, rdev) = match kind {
            FileKind::BlockDevice | FileKind::CharDevice => (Ok((kind, Content::Special)), rdev),
            FileKind::Fifo | FileKind::Socket => (Ok((kind, Content::Special)), (0, 0)),
            _ => (Err(VfsError::Invalid), (0, 0)),
        };
        self.make_node(dir, name, node, |i| i.rdev = rdev, attrs, caller)
    }

    fn remove(&self, dir: &Handle, name: &[u8]) -> VfsResult<()> {
        self.remove_entry(dir, name, false)
    }

    fn rmdir(&self, dir: &Handle, name: &[u8]) -> VfsResult<()> {
        self.remove_entry(dir, name, true)
    }

    fn rename(
        &self,
        from_dir: &Handle,
        from_name: &[u8],
        to_dir: &Handle,
        to_name: &[u8],
        mode: RenameMode,
    ) -> VfsResult<()> {
        let now = (self.clock)();
        let mut st = self.lock();
        let fdino = st.ino(from_dir)?;
        let tdino = st.ino(to_dir)?;
        let src = st.get(fdino)?.dir()?.get(from_name);
        let dst_dir = st.get(tdino)?.dir()?;
        check_name(from_name, true)?;
        check_name(to_name, true)?;
        let src = src.ok_or(VfsError::NotFound)?;
        if st.get(tdino)?.nlink == 0 {
            // Into a removed directory kept by a hold (ENOENT).
            return Err(VfsError::NotFound);
        }
        let dst = dst_dir.get(to_name);
        if mode == RenameMode::NoReplace && dst.is_some() {
            // Linux do_renameat2: RENAME_NOREPLACE is checked right after the lookups,
            // before the ancestor and type checks, and even when both names are one file.
            return Err(VfsError::Exists);
        }
        let src_is_dir = st.get(src)?.kind == FileKind::Directory;
        if dst == Some(src) {
            // POSIX rename(): both names refer to the same file; nothing happens.
            return Ok(());
        }
        if src_is_dir && Self::is_ancestor(&st, src, tdino) {
            // POSIX rename() EINVAL: a directory cannot become its own descendant.
            return Err(VfsError::Invalid);
        }
        if let Some(dst) = dst {
            // Linux (fs/namei.c do_renameat2) checks, in this order: target an ancestor of
            // the source (ENOTEMPTY, before any type check), type mismatch, then a
            // non-empty target directory.
            if Self::is_ancestor(&st, dst, fdino) {
                return Err(VfsError::NotEmpty);
            }
            let di = st.get(dst)?;
            match (src_is_dir, di.kind == FileKind::Directory) {
                (true, false) => return Err(VfsError::NotDir),
                (false, true) => return Err(VfsError::IsDir),
                (true, true) if !di.dir()?.entries.is_empty() => return Err(VfsError::NotEmpty),
                _ => {}
            }
        } else if src_is_dir && fdino != tdino && st.get(tdino)?.nlink >= LINK_MAX {
            return Err(VfsError::TooManyLinks);
        }
        // Commit point: nothing below fails.
        if let Some(dst) = dst {
            st.get_mut(tdino)?.dir_mut()?.remove(to_name);
            if src_is_dir {
                // The replaced directory's ".." link to `to_dir` goes away.
                let t = st.get_mut(tdino)?;
                t.nlink = t.nlink.saturating_sub(1);
            }
            st.unlink(dst, now);
        }
        st.get_mut(fdino)?.dir_mut()?.remove(from_name);
        st.get_mut(tdino)?.dir_mut()?.insert(to_name, src);
        if src_is_dir {
            if fdino != tdino {
                let f = st.get_mut(fdino)?;
                f.nlink = f.nlink.saturating_sub(1);
                st.get_mut(tdino)?.nlink += 1;
            }
            st.get_mut(src)?.dir_mut()?.parent = tdino;
        }
        st.get_mut(src)?.ctime = now;
        st.touch_dir(fdino, now);
        st.touch_dir(tdino, now);
        Ok(())
    }

    fn link(&self, file: &Handle, dir: &Handle, name: &[u8]) -> VfsResult<()> {
        let now = (self.clock)();
        let mut st = self.lock();
        let ino = st.ino(file)?;
        let dino = self.prepare_create(&st, dir, name)?;
        let i = st.get_mut(ino)?;
        if i.kind == FileKind::Directory {
            // POSIX link() EPERM: hard links to directories are not allowed.
            return Err(VfsError::Perm);
        }
        if i.nlink >= LINK_MAX {
            return Err(VfsError::TooManyLinks);
        }
        i.nlink += 1;
        i.ctime = now;
        st.get_mut(dino)?.dir_mut()?.insert(name, ino);
        st.touch_dir(dino, now);
        Ok(())
    }

    fn readdir(&self, dir: &Handle, cookie: u64, max_entries: usize) -> VfsResult<DirPage> {
        let st = self.lock();
        let d = st.inode(dir)?.1.dir()?;
        if cookie > d.last_id {
            return Err(VfsError::BadCookie);
        }
        let mut it = d.entries.range((
            std::ops::Bound::Excluded(cookie),
            std::ops::Bound::Unbounded,
        ));
        let mut entries = Vec::with_capacity(max_entries.min(d.entries.len()).min(4096));
        while entries.len() < max_entries {
            let Some((id, (name, ino))) = it.next() else {
                break;
            };
            entries.push(DirEntry {
                name: name.clone(),
                fileid: *ino,
                cookie: *id,
            });
        }
        let eof = it.next().is_none();
        Ok(DirPage { entries, eof })
    }

    fn dir_version(&self, dir: &Handle) -> VfsResult<u64> {
        let st = self.lock();
        let (ino, i) = st.inode(dir)?;
        i.dir()?;
        // Entry-id cookies never become invalid, so the epoch only identifies the directory
        // incarnation (inode and generation).
        Ok((ino << 32) ^ u64::from(i.generation))
    }

    fn fsstat(&self, h: &Handle) -> VfsResult<FsStat> {
        let st = self.lock();
        st.inode(h)?;
        let free_bytes = self.config.total_bytes.saturating_sub(st.used_bytes);
        let free_files = self
            .config
            .total_files
            .saturating_sub(st.inodes.len() as u64);
        Ok(FsStat {
            total_bytes: self.config.total_bytes,
            free_bytes,
            avail_bytes: free_bytes,
            total_files: self.config.total_files,
            free_files,
            avail_files: free_files,
        })
    }

    fn dos_attrs(&self, h: &Handle) -> VfsResult<DosAttrs> {
        let st = self.lock();
        let (ino, i) = st.inode(h)?;
        Ok(self.dos(ino, i))
    }

    fn set_dos_attrs(&self, h: &Handle, set: &SetDosAttrs) -> VfsResult<DosAttrs> {
        let now = (self.clock)();
        let mut st = self.lock();
        let (ino, i) = st.inode(h)?;
        let is_dir = i.kind == FileKind::Directory;
        let stored = set.stored_bits(is_dir)?;
        if !matches!(i.kind, FileKind::Regular | FileKind::Directory) {
            // Linux keeps user extended attributes only on files and directories.
            return Err(VfsError::NotSupported);
        }
        let cur = self.dos(ino, i);
        let attributes = stored.unwrap_or(cur.attributes & file_attributes::STORABLE);
        // Stored with NTTIME's 100-ns granularity, as the local backend's xattr keeps it.
        let t = set.creation_time.unwrap_or(cur.creation_time);
        let creation = dosattrib::from_nttime(dosattrib::to_nttime(t)).unwrap_or(t);
        if stored.is_none() && set.creation_time.is_none() {
            return Ok(cur);
        }
        let i = st.get_mut(ino)?;
        i.dos = Some((attributes, creation));
        // Storing them is an attribute change (the local backend's xattr write moves ctime).
        i.ctime = now;
        let i = st.get(ino)?;
        Ok(self.dos(ino, i))
    }

    fn set_allocation(&self, h: &Handle, size: u64) -> VfsResult<FileAttr> {
        let now = (self.clock)();
        let mut st = self.lock();
        let (ino, i) = st.inode(h)?;
        match i.kind {
            FileKind::Regular => {}
            FileKind::Directory => return Err(VfsError::IsDir),
            _ => return Err(VfsError::Invalid),
        }
        if size > self.config.max_file_size {
            return Err(VfsError::TooBig);
        }
        let len = i.size();
        if size < len {
            // MS-FSA 2.1.5.15.1: an allocation below the end of file truncates the file.
            st.resize_alloc(ino, size, Some(0), &self.config)?;
            let i = st.get_mut(ino)?;
            i.mtime = now;
            i.ctime = now;
            i.verifier = None;
        } else {
            st.resize_alloc(ino, len, Some(blocks(size)), &self.config)?;
            st.get_mut(ino)?.ctime = now;
        }
        let i = st.get(ino)?;
        Ok(self.attr(ino, i))
    }

    fn hold(&self, h: &Handle) -> VfsResult<()> {
        let mut st = self.lock();
        let ino = st.ino(h)?;
        let i = st.get_mut(ino)?;
        // Bounded by the executor's open table; saturate rather than wrap regardless.
        i.holds = i.holds.checked_add(1).ok_or(VfsError::Io)?;
        Ok(())
    }

    fn release(&self, h: &Handle) {
        let mut st = self.lock();
        let Ok(ino) = st.ino(h) else {
            return;
        };
        let Ok(i) = st.get_mut(ino) else {
            return;
        };
        i.holds = i.holds.saturating_sub(1);
        if i.holds == 0 && i.nlink == 0 {
            st.free(ino);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller() -> Caller {
        Caller {
            uid: 1000,
            gid: 100,
            gids: vec![],
        }
    }

    fn fs() -> (MemoryFs, VirtualClock) {
        let clock = VirtualClock::new(Timestamp {
            secs: 1_000,
            nsecs: 0,
        });
        (
            MemoryFs::with_virtual_clock(MemoryFsConfig::default(), clock.clone()),
            clock,
        )
    }

    #[test]
    fn timestamps_come_from_the_virtual_clock() {
        let (fs, clock) = fs();
        let root = fs.root();
        let (h, a) = fs
            .create(
                &root,
                b"f",
                CreateHow::Guarded,
                &SetAttrs::default(),
                &caller(),
            )
            .unwrap();
        assert_eq!(
            a.mtime,
            Timestamp {
                secs: 1_000,
                nsecs: 0
            }
        );
        assert_eq!((a.uid, a.gid), (1000, 100));
        clock.advance(5, 1_500_000_000);
        let (_, a) = fs.write(&h, 0, b"abc", Stability::Unstable).unwrap();
        assert_eq!(
            a.mtime,
            Timestamp {
                secs: 1_006,
                nsecs: 500_000_000
            }
        );
        assert_eq!(fs.getattr(&root).unwrap().mtime.secs, 1_000);
    }

    #[test]
    fn reused_inode_number_gets_a_new_generation() {
        let (fs, _) = fs();
        let root = fs.root();
        let c = caller();
        let (h1, a1) = fs
            .create(&root, b"a", CreateHow::Guarded, &SetAttrs::default(), &c)
            .unwrap();
        fs.remove(&root, b"a").unwrap();
        let (h2, a2) = fs
            .create(&root, b"b", CreateHow::Guarded, &SetAttrs::default(), &c)
            .unwrap();
        assert_eq!(a1.fileid, a2.fileid, "inode number is reused");
        assert_ne!(h1, h2);
        assert_eq!(fs.getattr(&h1), Err(VfsError::Stale));
        assert!(fs.getattr(&h2).is_ok());
    }

    #[test]
    fn capacity_limits_give_nospace() {
        let clock = VirtualClock::default();
        let cfg = MemoryFsConfig {
            total_bytes: 8192,
            total_files: 3,
            ..MemoryFsConfig::default()
        };
        let fs = MemoryFs::with_virtual_clock(cfg, clock);
        let root = fs.root();
        let c = caller();
        let (h, _) = fs
            .create(&root, b"a", CreateHow::Guarded, &SetAttrs::default(), &c)
            .unwrap();
        assert!(fs.write(&h, 0, &[1; 8192], Stability::FileSync).is_ok());
        assert_eq!(
            fs.write(&h, 8192, &[1], Stability::FileSync).unwrap_err(),
            VfsError::NoSpace
        );
        let big = SetAttrs {
            size: Some(1 << 50),
            ..SetAttrs::default()
        };
        assert_eq!(fs.setattr(&h, &big).unwrap_err(), VfsError::TooBig);
        fs.create(&root, b"b", CreateHow::Guarded, &SetAttrs::default(), &c)
            .unwrap();
        assert_eq!(
            fs.create(&root, b"c", CreateHow::Guarded, &SetAttrs::default(), &c)
                .unwrap_err(),
            VfsError::NoSpace
        );
        let st = fs.fsstat(&root).unwrap();
        assert_eq!((st.total_bytes, st.free_bytes), (8192, 0));
        assert_eq!((st.total_files, st.free_files), (3, 0));
    }

    #[test]
    fn with_tree_populates_nested_paths() {
        let fs = MemoryFs::with_tree(
            MemoryFsConfig::default(),
            Arc::new(Timestamp::default),
            &[
                SeedEntry::File {
                    path: "a/b/hello.txt".into(),
                    data: b"hi".to_vec(),
                    mode: 0o600,
                },
                SeedEntry::Symlink {
                    path: "a/link".into(),
                    target: b"b/hello.txt".to_vec(),
                },
                SeedEntry::Dir {
                    path: "empty".into(),
                    mode: 0o700,
                },
            ],
        )
        .unwrap();
        let root = fs.root();
        let (a, _) = fs.lookup(&root, b"a").unwrap();
        let (b, _) = fs.lookup(&a, b"b").unwrap();
        let (f, attr) = fs.lookup(&b, b"hello.txt").unwrap();
        assert_eq!((attr.size, attr.mode), (2, 0o600));
        assert_eq!(fs.read(&f, 0, 10).unwrap(), (b"hi".to_vec(), true));
        let (l, _) = fs.lookup(&a, b"link").unwrap();
        assert_eq!(fs.readlink(&l).unwrap(), b"b/hello.txt");
        let (_, e) = fs.lookup(&root, b"empty").unwrap();
        assert_eq!((e.kind, e.mode), (FileKind::Directory, 0o700));
    }

    #[test]
    fn rename_directory_semantics() {
        let (fs, _) = fs();
        let root = fs.root();
        let c = caller();
        let s = SetAttrs::default();
        let (a, _) = fs.mkdir(&root, b"a", &s, &c).unwrap();
        let (b, _) = fs.mkdir(&a, b"b", &s, &c).unwrap();
        fs.create(&root, b"f", CreateHow::Guarded, &s, &c).unwrap();
        // Into its own subtree.
        assert_eq!(
            fs.rename(&root, b"a", &b, b"x", RenameMode::Replace),
            Err(VfsError::Invalid)
        );
        assert_eq!(
            fs.rename(&root, b"a", &a, b"x", RenameMode::Replace),
            Err(VfsError::Invalid)
        );
        // Dir over non-dir and non-dir over dir.
        assert_eq!(
            fs.rename(&root, b"a", &root, b"f", RenameMode::Replace),
            Err(VfsError::NotDir)
        );
        assert_eq!(
            fs.rename(&root, b"f", &root, b"a", RenameMode::Replace),
            Err(VfsError::IsDir)
        );
        // Dir over non-empty dir.
        let (_, _) = fs.mkdir(&root, b"c", &s, &c).unwrap();
        assert_eq!(
            fs.rename(&root, b"c", &root, b"a", RenameMode::Replace),
            Err(VfsError::NotEmpty)
        );
        // Dir over empty dir, across directories: link counts follow.
        assert_eq!(fs.getattr(&root).unwrap().nlink, 4);
        fs.rename(&a, b"b", &root, b"c", RenameMode::Replace)
            .unwrap();
        assert_eq!(fs.getattr(&root).unwrap().nlink, 4);
        assert_eq!(fs.getattr(&a).unwrap().nlink, 2);
        let (b2, _) = fs.lookup(&root, b"c").unwrap();
        assert_eq!(b2, b);
        assert_eq!(fs.lookup(&b, b"..").unwrap().0, root);
        assert_eq!(fs.lookup(&root, b"..").unwrap().0, root);
    }

    #[test]
    fn readdir_cookie_survives_removal_and_never_issued_is_bad() {
        let (fs, _) = fs();
        let root = fs.root();
        let c = caller();
        let s = SetAttrs::default();
        for n in [b"a", b"b", b"c"] {
            fs.create(&root, n, CreateHow::Guarded, &s, &c).unwrap();
        }
        let p = fs.readdir(&root, 0, 1).unwrap();
        assert!(!p.eof);
        assert_eq!(p.entries[0].name, b"a");
        fs.remove(&root, b"a").unwrap();
        let p2 = fs.readdir(&root, p.entries[0].cookie, 10).unwrap();
        let names: Vec<_> = p2.entries.iter().map(|e| e.name.clone()).collect();
        assert_eq!(names, vec![b"b".to_vec(), b"c".to_vec()]);
        assert!(p2.eof);
        assert_eq!(fs.readdir(&root, 1_000, 10), Err(VfsError::BadCookie));
    }

    #[test]
    fn preallocation_and_held_files_count_against_capacity() {
        let cfg = MemoryFsConfig {
            total_bytes: 64 << 10,
            ..MemoryFsConfig::default()
        };
        let fs = MemoryFs::with_virtual_clock(cfg, VirtualClock::default());
        let root = fs.root();
        let c = caller();
        let (h, _) = fs
            .create(&root, b"f", CreateHow::Guarded, &SetAttrs::default(), &c)
            .unwrap();
        let free = |fs: &MemoryFs| fs.fsstat(&root).unwrap().free_bytes;
        assert_eq!(fs.set_allocation(&h, 1 << 20), Err(VfsError::NoSpace));
        assert_eq!(free(&fs), 64 << 10, "a refused allocation reserves nothing");
        let a = fs.set_allocation(&h, 30_000).unwrap();
        assert_eq!(
            (a.size, a.used),
            (0, 32 << 10),
            "rounded up to 4 KiB blocks"
        );
        assert_eq!(free(&fs), 32 << 10);
        // Writing inside the reservation costs nothing more.
        fs.write(&h, 0, &[7; 20_000], Stability::Unstable).unwrap();
        assert_eq!(free(&fs), 32 << 10);
        // A smaller allocation above the size is honoured exactly (MS-FSA 2.1.5.15.1).
        assert_eq!(fs.set_allocation(&h, 20_000).unwrap().used, 20 << 10);
        fs.hold(&h).unwrap();
        fs.remove(&root, b"f").unwrap();
        assert_eq!(free(&fs), 44 << 10, "a held file keeps its space");
        fs.release(&h);
        assert_eq!(free(&fs), 64 << 10);
        assert_eq!(fs.fsstat(&root).unwrap().free_files, cfg.total_files - 1);
    }
}
