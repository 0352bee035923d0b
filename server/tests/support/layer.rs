//! A backend with a few methods intercepted: [`Layered`] forwards every [`Vfs`] method to
//! the backend it wraps, except the ones its [`Hooks`] override. A test that counts,
//! delays or fails one or two calls writes only those methods:
//!
//! ```ignore
//! #[derive(Debug, Default)]
//! struct Failing(AtomicBool);
//! impl Hooks for Failing {
//!     fn write(&self, fs: &dyn Vfs, h: &Handle, o: u64, d: &[u8], s: Stability)
//!         -> VfsResult<(Stability, FileAttr)> { ... }
//! }
//! let vfs = Layered::new(memory_fs, Failing::default());
//! ```
//!
//! `Layered` dereferences to its hooks, so their fields and methods are reached directly.

use std::fmt;
use std::ops::Deref;

use vfs::memory::MemoryFs;
use vfs::{
    Caller, CreateHow, DirPage, DosAttrs, FileAttr, FileKind, FsStat, Handle, RenameMode, SetAttrs,
    SetDosAttrs, Stability, Vfs, VfsResult,
};

/// The methods a [`Layered`] backend lets a test take over; each default calls the wrapped
/// backend `fs`, as the [`Vfs`] method of the same name.
#[allow(missing_docs)]
pub trait Hooks: Send + Sync + fmt::Debug {
    fn getattr(&self, fs: &dyn Vfs, h: &Handle) -> VfsResult<FileAttr> {
        fs.getattr(h)
    }
    fn setattr(&self, fs: &dyn Vfs, h: &Handle, set: &SetAttrs) -> VfsResult<FileAttr> {
        fs.setattr(h, set)
    }
    fn lookup(&self, fs: &dyn Vfs, dir: &Handle, name: &[u8]) -> VfsResult<(Handle, FileAttr)> {
        fs.lookup(dir, name)
    }
    fn read(
        &self,
        fs: &dyn Vfs,
        h: &Handle,
        offset: u64,
        count: u32,
    ) -> VfsResult<(Vec<u8>, bool)> {
        fs.read(h, offset, count)
    }
    fn write(
        &self,
        fs: &dyn Vfs,
        h: &Handle,
        offset: u64,
        data: &[u8],
        stable: Stability,
    ) -> VfsResult<(Stability, FileAttr)> {
        fs.write(h, offset, data, stable)
    }
    fn write_behind(&self, fs: &dyn Vfs) -> bool {
        fs.write_behind()
    }
    fn commit(&self, fs: &dyn Vfs, h: &Handle) -> VfsResult<FileAttr> {
        fs.commit(h)
    }
    fn create(
        &self,
        fs: &dyn Vfs,
        dir: &Handle,
        name: &[u8],
        how: CreateHow,
        attrs: &SetAttrs,
        caller: &Caller,
    ) -> VfsResult<(Handle, FileAttr)> {
        fs.create(dir, name, how, attrs, caller)
    }
    fn remove(&self, fs: &dyn Vfs, dir: &Handle, name: &[u8]) -> VfsResult<()> {
        fs.remove(dir, name)
    }
    fn rename(
        &self,
        fs: &dyn Vfs,
        from: (&Handle, &[u8]),
        to: (&Handle, &[u8]),
        mode: RenameMode,
    ) -> VfsResult<()> {
        fs.rename(from.0, from.1, to.0, to.1, mode)
    }
    fn readdir(
        &self,
        fs: &dyn Vfs,
        dir: &Handle,
        cookie: u64,
        max_entries: usize,
    ) -> VfsResult<DirPage> {
        fs.readdir(dir, cookie, max_entries)
    }
    fn dos_attrs(&self, fs: &dyn Vfs, h: &Handle) -> VfsResult<DosAttrs> {
        fs.dos_attrs(h)
    }
}

/// A backend `fs` whose calls go through `hooks` first (see the module documentation).
/// Methods [`Hooks`] does not list are always forwarded.
#[derive(Debug)]
pub struct Layered<H, V = MemoryFs> {
    /// The wrapped backend.
    pub fs: V,
    /// The test's interceptions and whatever state they keep.
    pub hooks: H,
}

impl<H, V> Layered<H, V> {
    /// `fs` with `hooks` in front.
    pub fn new(fs: V, hooks: H) -> Self {
        Layered { fs, hooks }
    }
}

impl<H, V> Deref for Layered<H, V> {
    type Target = H;
    fn deref(&self) -> &H {
        &self.hooks
    }
}

impl<H: Hooks, V: Vfs> Vfs for Layered<H, V> {
    fn root(&self) -> Handle {
        self.fs.root()
    }
    fn getattr(&self, h: &Handle) -> VfsResult<FileAttr> {
        self.hooks.getattr(&self.fs, h)
    }
    fn setattr(&self, h: &Handle, set: &SetAttrs) -> VfsResult<FileAttr> {
        self.hooks.setattr(&self.fs, h, set)
    }
    fn lookup(&self, dir: &Handle, name: &[u8]) -> VfsResult<(Handle, FileAttr)> {
        self.hooks.lookup(&self.fs, dir, name)
    }
    fn readlink(&self, h: &Handle) -> VfsResult<Vec<u8>> {
        self.fs.readlink(h)
    }
    fn read(&self, h: &Handle, offset: u64, count: u32) -> VfsResult<(Vec<u8>, bool)> {
        self.hooks.read(&self.fs, h, offset, count)
    }
    fn write(
        &self,
        h: &Handle,
        offset: u64,
        data: &[u8],
        stable: Stability,
    ) -> VfsResult<(Stability, FileAttr)> {
        self.hooks.write(&self.fs, h, offset, data, stable)
    }
    fn start_writeback(&self, h: &Handle, offset: u64, len: u64) -> VfsResult<()> {
        self.fs.start_writeback(h, offset, len)
    }
    fn write_behind(&self) -> bool {
        self.hooks.write_behind(&self.fs)
    }
    fn commit(&self, h: &Handle) -> VfsResult<FileAttr> {
        self.hooks.commit(&self.fs, h)
    }
    fn create(
        &self,
        dir: &Handle,
        name: &[u8],
        how: CreateHow,
        attrs: &SetAttrs,
        caller: &Caller,
    ) -> VfsResult<(Handle, FileAttr)> {
        self.hooks.create(&self.fs, dir, name, how, attrs, caller)
    }
    fn mkdir(
        &self,
        dir: &Handle,
        name: &[u8],
        attrs: &SetAttrs,
        caller: &Caller,
    ) -> VfsResult<(Handle, FileAttr)> {
        self.fs.mkdir(dir, name, attrs, caller)
    }
    fn symlink(
        &self,
        dir: &Handle,
        name: &[u8],
        target: &[u8],
        attrs: &SetAttrs,
        caller: &Caller,
    ) -> VfsResult<(Handle, FileAttr)> {
        self.fs.symlink(dir, name, target, attrs, caller)
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
        self.fs.mknod(dir, name, kind, rdev, attrs, caller)
    }
    fn remove(&self, dir: &Handle, name: &[u8]) -> VfsResult<()> {
        self.hooks.remove(&self.fs, dir, name)
    }
    fn rmdir(&self, dir: &Handle, name: &[u8]) -> VfsResult<()> {
        self.fs.rmdir(dir, name)
    }
    fn rename(
        &self,
        from_dir: &Handle,
        from_name: &[u8],
        to_dir: &Handle,
        to_name: &[u8],
        mode: RenameMode,
    ) -> VfsResult<()> {
        self.hooks
            .rename(&self.fs, (from_dir, from_name), (to_dir, to_name), mode)
    }
    fn link(&self, file: &Handle, dir: &Handle, name: &[u8]) -> VfsResult<()> {
        self.fs.link(file, dir, name)
    }
    fn readdir(&self, dir: &Handle, cookie: u64, max_entries: usize) -> VfsResult<DirPage> {
        self.hooks.readdir(&self.fs, dir, cookie, max_entries)
    }
    fn dir_version(&self, dir: &Handle) -> VfsResult<u64> {
        self.fs.dir_version(dir)
    }
    fn fsstat(&self, h: &Handle) -> VfsResult<FsStat> {
        self.fs.fsstat(h)
    }
    fn dos_attrs(&self, h: &Handle) -> VfsResult<DosAttrs> {
        self.hooks.dos_attrs(&self.fs, h)
    }
    fn set_dos_attrs(&self, h: &Handle, set: &SetDosAttrs) -> VfsResult<DosAttrs> {
        self.fs.set_dos_attrs(h, set)
    }
    fn set_allocation(&self, h: &Handle, size: u64) -> VfsResult<FileAttr> {
        self.fs.set_allocation(h, size)
    }
    fn hold(&self, h: &Handle) -> VfsResult<()> {
        self.fs.hold(h)
    }
    fn release(&self, h: &Handle) {
        self.fs.release(h)
    }
}
