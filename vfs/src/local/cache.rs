//! LocalFs's in-memory state: open nodes (a bounded LRU of file descriptors), the
//! inode → (parent, name) map that turns a handle back into a path, and a small set of
//! handles known to be stale. All three are caches: losing them (a restart) costs time, not
//! correctness, because a miss falls back to a bounded scan of the share.

use std::collections::{HashMap, HashSet};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use super::handle::Ident;
use crate::FileKind;

/// How a node's main descriptor was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `O_PATH`: identity, stat, `*at` base only (symlinks, devices, FIFOs, sockets, and
    /// files the server may not read).
    Path,
    /// `O_RDONLY` regular file.
    Read,
    /// `O_RDWR` regular file.
    ReadWrite,
    /// `O_RDONLY | O_DIRECTORY`.
    Dir,
}

/// An open file of the share.
#[derive(Debug)]
pub struct Node {
    /// The main descriptor.
    pub fd: OwnedFd,
    /// How `fd` was opened.
    pub access: Access,
    /// File type (fixed for the inode's lifetime).
    pub kind: FileKind,
    /// Which incarnation of the inode this is.
    pub ident: Ident,
    /// A read-write descriptor opened on the first write when `fd` is not one.
    pub write_fd: OnceLock<OwnedFd>,
    /// LRU stamp.
    last_used: AtomicU64,
}

impl Node {
    /// A node over `fd`.
    pub fn new(fd: OwnedFd, access: Access, kind: FileKind, ident: Ident) -> Self {
        Self {
            fd,
            access,
            kind,
            ident,
            write_fd: OnceLock::new(),
            last_used: AtomicU64::new(0),
        }
    }

    /// A descriptor data can be read from, if any.
    pub fn read_fd(&self) -> Option<&OwnedFd> {
        match self.access {
            Access::Read | Access::ReadWrite => Some(&self.fd),
            _ => self.write_fd.get(),
        }
    }

    /// The read-write descriptor, if already open.
    pub fn rw_fd(&self) -> Option<&OwnedFd> {
        match self.access {
            Access::ReadWrite => Some(&self.fd),
            _ => self.write_fd.get(),
        }
    }
}

/// A bounded LRU of open nodes keyed by inode number.
#[derive(Debug)]
pub struct NodeCache {
    nodes: HashMap<u64, Arc<Node>>,
    tick: u64,
    capacity: usize,
    /// `tick` at the last [`NodeCache::take_idle`].
    swept_at: u64,
}

impl NodeCache {
    /// An empty cache holding at most `capacity` nodes.
    pub fn new(capacity: usize) -> Self {
        Self {
            nodes: HashMap::new(),
            tick: 0,
            capacity: capacity.max(1),
            swept_at: 0,
        }
    }

    /// Removes the nodes not used since the previous call and returns them, so the caller
    /// can drop (close) them outside the lock. Called periodically, it closes descriptors
    /// idle for one to two periods: a file deleted behind the server's back is then freed
    /// by the file system, and its dirty pages stop being written back, soon after its last
    /// use (Linux knfsd's file cache ages its descriptors out the same way).
    pub fn take_idle(&mut self) -> Vec<Arc<Node>> {
        let since = self.swept_at;
        self.swept_at = self.tick;
        let idle: Vec<u64> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.last_used.load(Ordering::Relaxed) <= since)
            .map(|(k, _)| *k)
            .collect();
        idle.into_iter()
            .filter_map(|ino| self.nodes.remove(&ino))
            .collect()
    }

    /// How many nodes are cached.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no node is cached.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The node of `ino`, marking it recently used.
    pub fn get(&mut self, ino: u64) -> Option<Arc<Node>> {
        let n = self.nodes.get(&ino)?;
        self.tick += 1;
        n.last_used.store(self.tick, Ordering::Relaxed);
        Some(n.clone())
    }

    /// Whether `ino` is cached (without touching its LRU position).
    pub fn peek(&self, ino: u64) -> Option<Arc<Node>> {
        self.nodes.get(&ino).cloned()
    }

    /// Inserts `node` (replacing an older node of the same inode), evicting the least
    /// recently used one when full. Returns the node now cached for that inode.
    pub fn insert(&mut self, node: Arc<Node>) -> Arc<Node> {
        let ino = node.ident.ino;
        if let Some(old) = self.nodes.get(&ino) {
            // Keep the existing node if it is the same incarnation and at least as capable;
            // two threads may have opened the same file concurrently.
            if old.ident == node.ident
                && (old.access != Access::Path || node.access == Access::Path)
            {
                return old.clone();
            }
        } else if self.nodes.len() >= self.capacity {
            if let Some(victim) = self
                .nodes
                .iter()
                .min_by_key(|(_, n)| n.last_used.load(Ordering::Relaxed))
                .map(|(k, _)| *k)
            {
                self.nodes.remove(&victim);
            }
        }
        self.tick += 1;
        node.last_used.store(self.tick, Ordering::Relaxed);
        self.nodes.insert(ino, node.clone());
        node
    }

    /// Drops the node of `ino`.
    pub fn remove(&mut self, ino: u64) {
        self.nodes.remove(&ino);
    }
}

/// inode → (parent inode, name): one known name of each inode seen through lookup, readdir,
/// create or rename, so a handle can be turned back into a path after its node was evicted
/// or the server restarted. Bounded: when full, only directories are still added (up to
/// twice the limit), since paths need them most.
#[derive(Debug)]
pub struct NameMap {
    names: HashMap<u64, (u64, Box<[u8]>)>,
    limit: usize,
}

impl NameMap {
    /// An empty map of about `limit` entries.
    pub fn new(limit: usize) -> Self {
        Self {
            names: HashMap::new(),
            limit: limit.max(16),
        }
    }

    /// Records that `ino` is `name` in directory `parent`.
    pub fn insert(&mut self, ino: u64, parent: u64, name: &[u8], is_dir: bool) {
        let n = self.names.len();
        if n >= self.limit && !(is_dir && n < 2 * self.limit) && !self.names.contains_key(&ino) {
            return;
        }
        self.names.insert(ino, (parent, name.into()));
    }

    /// The recorded parent and name of `ino`.
    pub fn get(&self, ino: u64) -> Option<(u64, &[u8])> {
        self.names.get(&ino).map(|(p, n)| (*p, &n[..]))
    }

    /// Whether the map is at its limit (then a scan cannot have recorded everything).
    pub fn is_saturated(&self) -> bool {
        self.names.len() >= self.limit
    }

    /// Forgets `ino`.
    pub fn forget(&mut self, ino: u64) {
        self.names.remove(&ino);
    }

    /// Forgets `ino` if its recorded name is `name` in `parent` (a hard link elsewhere keeps
    /// its entry).
    pub fn forget_name(&mut self, ino: u64, parent: u64, name: &[u8]) {
        if self.get(ino) == Some((parent, name)) {
            self.names.remove(&ino);
        }
    }
}

/// Identities proven stale (deleted, or not found by a full scan), so repeated use of a dead
/// handle does not rescan the share. Bounded; cleared when full (it is only a cache).
#[derive(Debug)]
pub struct StaleSet {
    set: HashSet<Ident>,
    limit: usize,
}

impl StaleSet {
    /// An empty set of at most `limit` identities.
    pub fn new(limit: usize) -> Self {
        Self {
            set: HashSet::new(),
            limit: limit.max(1),
        }
    }

    /// Records `id` as stale.
    pub fn insert(&mut self, id: Ident) {
        if self.set.len() >= self.limit {
            self.set.clear();
        }
        self.set.insert(id);
    }

    /// Whether `id` is known stale.
    pub fn contains(&self, id: &Ident) -> bool {
        self.set.contains(id)
    }
}
