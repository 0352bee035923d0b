//! The SMB open table (MS-SMB2 §3.3.1.10 Open, §3.3.1.8 Session.OpenTable): every open of
//! every connection, by its volatile FileId, with what the core needs to serve requests on
//! it and to clean up when the open, its tree, its session or its connection ends.
//!
//! Bounded: at most [`OpenLimits::per_session`] opens per session and [`OpenLimits::total`]
//! in all; a CREATE beyond either gets STATUS_INSUFFICIENT_RESOURCES (what Windows answers
//! when its handle table is full).
//!
//! Per file (the lock table's [`FileId`]) the table also keeps the number of opens and
//! the delete-pending flag (MS-FSA 2.1.1.6 File.DeletePending... kept per file, as Janus
//! serves no named streams): a CREATE of a file with delete pending fails with
//! STATUS_DELETE_PENDING, and the last close removes it.

use std::collections::BTreeMap;

use lockstate::{FileId, OpenId};
use proto_nfs::server::ConnId;
use proto_smb2::dcerpc::srvsvc::SrvsvcPipe;
use vfs::Handle;

/// Limits of the open table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenLimits {
    /// Opens of one session.
    pub per_session: usize,
    /// Opens in all.
    pub total: usize,
}

impl Default for OpenLimits {
    fn default() -> Self {
        OpenLimits {
            per_session: 16_384,
            total: 262_144,
        }
    }
}

/// An open of a file or directory on a disk share.
#[derive(Debug, Clone)]
pub struct FileOpen {
    /// The backend handle.
    pub handle: Handle,
    /// The file as the lock table names it.
    pub file: FileId,
    /// The open as the lock table names it.
    pub lock_open: OpenId,
    /// GrantedAccess.
    pub access: u32,
    /// ShareAccess.
    pub share_access: u32,
    /// The directory holding it (`None`: the share root).
    pub parent: Option<Handle>,
    /// Its name in `parent`, as on disk.
    pub name: Vec<u8>,
    /// The path below the share root (FileNameInformation; updated by renames).
    pub path: proto_smb2::names::SharePath,
    /// A directory.
    pub is_dir: bool,
    /// FILE_DELETE_ON_CLOSE (MS-FSA Open.DeleteOnClose... set at CREATE).
    pub delete_on_close: bool,
    /// FILE_WRITE_THROUGH.
    pub write_through: bool,
    /// FilePositionInformation (MS-FSCC §2.4.35).
    pub position: u64,
    /// The CreateOptions, as FileModeInformation reports a subset of them.
    pub options: u32,
    /// The directory search (`crate::smb_dir`), once a QUERY_DIRECTORY started one;
    /// `None` while a query has it at a worker (`searching`).
    pub search: Option<Box<crate::smb_dir::DirSearch>>,
    /// A QUERY_DIRECTORY of this open is at a worker.
    pub searching: bool,
    /// The CHANGE_NOTIFY watch, once the first request came ([`super::notify`]).
    pub watch: Option<Box<super::notify::Watch>>,
    /// FILE_NOTIFY_CHANGE_* bits of changes made through this open that its CLOSE reports
    /// as FILE_ACTION_MODIFIED ([`super::notify`]: writes, the rename of a file).
    pub changed_at_close: u32,
    /// The lease key of the parent directory's lease the CREATE named (v2
    /// ParentLeaseKey): changes made through this open do not break it (MS-FSA 2.1.4.12.2).
    pub parent_lease: Option<lockstate::CacheKey>,
    /// Open.LockSequenceArray (MS-SMB2 §3.3.1.10), for LOCK replay ([`super::lock`]).
    pub lock_sequences: super::lock::LockSequences,
}

/// What an open is of.
#[derive(Debug)]
pub enum OpenKind {
    /// A file or directory.
    File(Box<FileOpen>),
    /// The srvsvc named pipe on IPC$.
    Pipe(Box<SrvsvcPipe>),
}

/// One open.
#[derive(Debug)]
pub struct Open {
    /// The connection.
    pub conn: ConnId,
    /// The session.
    pub session: u64,
    /// The tree connect.
    pub tree: u32,
    /// The share id.
    pub share_id: u32,
    /// What it is.
    pub kind: OpenKind,
}

#[derive(Debug, Default, Clone, Copy)]
struct FileState {
    opens: usize,
    delete_pending: bool,
}

/// The table. See the module documentation.
#[derive(Debug)]
pub struct OpenTable {
    opens: BTreeMap<u64, Open>,
    per_session: BTreeMap<(ConnId, u64), usize>,
    files: BTreeMap<FileId, FileState>,
    next: u64,
    limits: OpenLimits,
    /// Opens with a CHANGE_NOTIFY watch (namespace changes are only traced while any).
    watches: usize,
    /// File opens by their lock-table id (a break names the lock table's open).
    by_lock: BTreeMap<OpenId, u64>,
}

impl OpenTable {
    /// An empty table.
    pub fn new(limits: OpenLimits) -> Self {
        OpenTable {
            opens: BTreeMap::new(),
            per_session: BTreeMap::new(),
            files: BTreeMap::new(),
            next: 1,
            limits,
            watches: 0,
            by_lock: BTreeMap::new(),
        }
    }

    /// Whether one more open fits for the session.
    pub fn has_room(&self, conn: ConnId, session: u64) -> bool {
        self.opens.len() < self.limits.total
            && self
                .per_session
                .get(&(conn, session))
                .is_none_or(|&n| n < self.limits.per_session)
    }

    /// Opens in all.
    pub fn len(&self) -> usize {
        self.opens.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.opens.is_empty()
    }

    /// Adds an open; returns its volatile FileId.
    pub fn insert(&mut self, open: Open) -> u64 {
        let id = self.next;
        self.next += 1;
        *self
            .per_session
            .entry((open.conn, open.session))
            .or_default() += 1;
        if let OpenKind::File(f) = &open.kind {
            self.files.entry(f.file).or_default().opens += 1;
            self.by_lock.insert(f.lock_open, id);
        }
        self.opens.insert(id, open);
        id
    }

    /// Adds an open under the volatile FileId `id` (a durable open restored from the
    /// journal and reconnected, MS-SMB2 §3.3.5.9.7: its FileId is the one the client holds);
    /// `false` (and nothing added) if `id` is taken. Later ids are allocated above it.
    pub fn insert_with_id(&mut self, id: u64, open: Open) -> bool {
        if self.opens.contains_key(&id) {
            return false;
        }
        self.next = self.next.max(id.saturating_add(1));
        *self
            .per_session
            .entry((open.conn, open.session))
            .or_default() += 1;
        if let OpenKind::File(f) = &open.kind {
            self.files.entry(f.file).or_default().opens += 1;
            self.by_lock.insert(f.lock_open, id);
            if f.watch.is_some() {
                self.watches += 1;
            }
        }
        self.opens.insert(id, open);
        true
    }

    /// Allocates the next volatile FileIds from `next` on (at least): FileIds of durable
    /// opens that a restart restored stay unique.
    pub fn reserve_ids(&mut self, next: u64) {
        self.next = self.next.max(next);
    }

    /// Moves the open `id` to another connection, session and tree (a durable open whose
    /// connection was lost, MS-SMB2 §3.3.7.1, and its reconnect, §3.3.5.9.7), keeping its
    /// FileId and its place among its file's opens. Returns whether it exists.
    pub fn rebind(&mut self, id: u64, conn: ConnId, session: u64, tree: u32) -> bool {
        let Some(open) = self.opens.get_mut(&id) else {
            return false;
        };
        let old = (open.conn, open.session);
        (open.conn, open.session, open.tree) = (conn, session, tree);
        if let Some(n) = self.per_session.get_mut(&old) {
            *n -= 1;
            if *n == 0 {
                self.per_session.remove(&old);
            }
        }
        *self.per_session.entry((conn, session)).or_default() += 1;
        true
    }

    /// The open `id`, if it belongs to this connection, session and tree (MS-SMB2
    /// §3.3.5.x: an open is looked up in the session and must be of the request's tree).
    pub fn get_mut(&mut self, id: u64, conn: ConnId, session: u64, tree: u32) -> Option<&mut Open> {
        self.opens
            .get_mut(&id)
            .filter(|o| o.conn == conn && o.session == session && o.tree == tree)
    }

    /// Removes the open `id`. Returns it, and whether it was the file's last open with
    /// delete pending (then the file is to be removed).
    pub fn remove(&mut self, id: u64) -> Option<(Open, bool)> {
        let open = self.opens.remove(&id)?;
        let key = (open.conn, open.session);
        if let Some(n) = self.per_session.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                self.per_session.remove(&key);
            }
        }
        let mut remove_file = false;
        if let OpenKind::File(f) = &open.kind {
            self.by_lock.remove(&f.lock_open);
            if f.watch.is_some() {
                self.watches -= 1;
            }
            if let Some(st) = self.files.get_mut(&f.file) {
                // MS-FSA 2.1.5.4: closing an open with DeleteOnClose sets DeletePending.
                st.delete_pending |= f.delete_on_close;
                st.opens -= 1;
                if st.opens == 0 {
                    remove_file = st.delete_pending;
                    self.files.remove(&f.file);
                }
            }
        }
        Some((open, remove_file))
    }

    /// The CHANGE_NOTIFY watch of the file open `id`, started with `filter`, `flags` and
    /// `max_len` (OutputBufferLength) if it has none yet (an existing watch keeps its own:
    /// [`super::notify`]).
    pub fn start_watch(
        &mut self,
        id: u64,
        filter: u32,
        flags: u16,
        max_len: u32,
    ) -> Option<&mut super::notify::Watch> {
        let Some(Open {
            kind: OpenKind::File(f),
            ..
        }) = self.opens.get_mut(&id)
        else {
            return None;
        };
        if f.watch.is_none() {
            self.watches += 1;
        }
        Some(
            f.watch
                .get_or_insert_with(|| Box::new(super::notify::Watch::new(filter, flags, max_len))),
        )
    }

    /// The first open for which `f` gives something.
    pub fn find_map<T>(&self, f: impl FnMut(&Open) -> Option<T>) -> Option<T> {
        self.opens.values().find_map(f)
    }

    /// Whether any open watches its directory.
    pub fn watching(&self) -> bool {
        self.watches > 0
    }

    /// The open `id`, whoever it belongs to.
    pub fn by_id_mut(&mut self, id: u64) -> Option<&mut Open> {
        self.opens.get_mut(&id)
    }

    /// The open the lock table knows as `open`: its volatile FileId and the open.
    pub fn by_lock(&self, open: OpenId) -> Option<(u64, &Open)> {
        let id = *self.by_lock.get(&open)?;
        Some((id, self.opens.get(&id)?))
    }

    /// Whether `file` has delete pending.
    pub fn delete_pending(&self, file: FileId) -> bool {
        self.files.get(&file).is_some_and(|s| s.delete_pending)
    }

    /// Sets or clears delete pending on `file` (FileDispositionInformation).
    pub fn set_delete_pending(&mut self, file: FileId, on: bool) {
        if let Some(s) = self.files.get_mut(&file) {
            s.delete_pending = on;
        }
    }

    /// The ids of the opens matching `f` (to close a tree, a session or a connection).
    pub fn ids_where(&self, f: impl Fn(&Open) -> bool) -> Vec<u64> {
        self.opens
            .iter()
            .filter(|(_, o)| f(o))
            .map(|(id, _)| *id)
            .collect()
    }

    /// Every open of `file` (a rename updates their names).
    pub fn of_file_mut(&mut self, file: FileId) -> impl Iterator<Item = &mut FileOpen> {
        self.opens
            .values_mut()
            .filter_map(move |o| match &mut o.kind {
                OpenKind::File(f) if f.file == file => Some(&mut **f),
                _ => None,
            })
    }
}
