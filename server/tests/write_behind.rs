//! Write-behind through the worker service (`runtime_mio::write_behind`): an UNSTABLE WRITE
//! is answered before its data is written, later requests on the file wait for the data,
//! and a deferred write that fails changes the write verifier so a COMMIT tells the client
//! to resend, whose resend then fails in its own reply.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use proto_nfs::nfs3::*;
use proto_nfs::server::{Creds, FsRequest, FsRequestId};
use runtime_mio::nfs3_exec::Executor;
use runtime_mio::service::ShareService;
use runtime_mio::vfs::memory::{MemoryFs, MemoryFsConfig, VirtualClock};
use runtime_mio::vfs::{
    Caller, CreateHow, DirPage, FileAttr, FileKind, FsStat, Handle, SetAttrs, Stability, Timestamp,
    Vfs, VfsError, VfsResult,
};
use runtime_mio::workers::{Executed, FsService};
use runtime_mio::write_behind::{WriteBehind, MAX_PENDING_BYTES};

const SHARE: u32 = 3;

/// MemoryFs that takes write-behind and whose writes can be made to fail (ENOSPC).
#[derive(Debug)]
struct Flaky {
    fs: MemoryFs,
    fail: AtomicBool,
}

impl Vfs for Flaky {
    fn root(&self) -> Handle {
        self.fs.root()
    }
    fn getattr(&self, h: &Handle) -> VfsResult<FileAttr> {
        self.fs.getattr(h)
    }
    fn setattr(&self, h: &Handle, set: &SetAttrs) -> VfsResult<FileAttr> {
        self.fs.setattr(h, set)
    }
    fn lookup(&self, dir: &Handle, name: &[u8]) -> VfsResult<(Handle, FileAttr)> {
        self.fs.lookup(dir, name)
    }
    fn readlink(&self, h: &Handle) -> VfsResult<Vec<u8>> {
        self.fs.readlink(h)
    }
    fn read(&self, h: &Handle, offset: u64, count: u32) -> VfsResult<(Vec<u8>, bool)> {
        self.fs.read(h, offset, count)
    }
    fn write(
        &self,
        h: &Handle,
        offset: u64,
        data: &[u8],
        stable: Stability,
    ) -> VfsResult<(Stability, FileAttr)> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(VfsError::NoSpace);
        }
        self.fs.write(h, offset, data, stable)
    }
    fn write_behind(&self) -> bool {
        true
    }
    fn commit(&self, h: &Handle) -> VfsResult<FileAttr> {
        self.fs.commit(h)
    }
    fn create(
        &self,
        dir: &Handle,
        name: &[u8],
        how: CreateHow,
        attrs: &SetAttrs,
        caller: &Caller,
    ) -> VfsResult<(Handle, FileAttr)> {
        self.fs.create(dir, name, how, attrs, caller)
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
        self.fs.remove(dir, name)
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
    ) -> VfsResult<()> {
        self.fs.rename(from_dir, from_name, to_dir, to_name)
    }
    fn link(&self, file: &Handle, dir: &Handle, name: &[u8]) -> VfsResult<()> {
        self.fs.link(file, dir, name)
    }
    fn readdir(&self, dir: &Handle, cookie: u64, max_entries: usize) -> VfsResult<DirPage> {
        self.fs.readdir(dir, cookie, max_entries)
    }
    fn dir_version(&self, dir: &Handle) -> VfsResult<u64> {
        self.fs.dir_version(dir)
    }
    fn fsstat(&self, h: &Handle) -> VfsResult<FsStat> {
        self.fs.fsstat(h)
    }
}

struct Rig {
    svc: Arc<ShareService<Executor>>,
    wb: Arc<WriteBehind>,
    vfs: Arc<Flaky>,
    file: FileHandle,
    next_id: u64,
}

fn creds() -> Creds {
    Creds {
        uid: 1000,
        gid: 1000,
        gids: vec![],
    }
}

impl Rig {
    fn new() -> Rig {
        let config = MemoryFsConfig {
            root_mode: 0o777,
            ..MemoryFsConfig::default()
        };
        let clock = VirtualClock::new(Timestamp {
            secs: 1_700_000_000,
            nsecs: 0,
        });
        let vfs = Arc::new(Flaky {
            fs: MemoryFs::with_virtual_clock(config, clock),
            fail: AtomicBool::new(false),
        });
        let caller = Caller {
            uid: 1000,
            gid: 1000,
            gids: vec![],
        };
        let (h, _) = vfs
            .create(
                &vfs.root(),
                b"f",
                CreateHow::Unchecked,
                &SetAttrs::default(),
                &caller,
            )
            .unwrap();
        let executor = Executor::new(*b"bootverf");
        let wb = Arc::new(WriteBehind::new(
            Arc::clone(executor.verifier()),
            MAX_PENDING_BYTES,
        ));
        let shares: HashMap<u32, Arc<dyn Vfs>> =
            HashMap::from([(SHARE, Arc::clone(&vfs) as Arc<dyn Vfs>)]);
        let svc = Arc::new(ShareService::new(executor, shares).with_write_behind(Arc::clone(&wb)));
        Rig {
            svc,
            wb,
            vfs,
            file: FileHandle::new(SHARE, &h.0).unwrap(),
            next_id: 1,
        }
    }

    fn req(&mut self, call: Nfs3Call) -> FsRequest {
        self.next_id += 1;
        FsRequest {
            id: FsRequestId(self.next_id),
            share_id: SHARE,
            creds: creds(),
            call,
        }
    }

    fn write(&mut self, offset: u64, data: &'static [u8], stable: StableHow) -> Executed {
        let call = Nfs3Call::Write(WriteArgs {
            file: self.file.clone(),
            offset,
            stable,
            data: Bytes::from_static(data),
        });
        let r = self.req(call);
        self.svc.execute(&r)
    }

    fn read_call(&mut self) -> FsRequest {
        self.req(Nfs3Call::Read(ReadArgs {
            file: self.file.clone(),
            offset: 0,
            count: 100,
        }))
    }

    fn commit(&mut self) -> [u8; 8] {
        let r = self.req(Nfs3Call::Commit(CommitArgs {
            file: self.file.clone(),
            offset: 0,
            count: 0,
        }));
        match self.svc.execute(&r).reply {
            Nfs3Reply::Commit(Nfs3Result::Ok(ok)) => ok.verf,
            other => panic!("COMMIT: {other:?}"),
        }
    }
}

fn write_ok(e: &Executed) -> &WriteOk {
    match &e.reply {
        Nfs3Reply::Write(Nfs3Result::Ok(ok)) => ok,
        other => panic!("WRITE: {other:?}"),
    }
}

#[test]
fn unstable_write_is_answered_first_and_a_later_read_waits_for_the_data() {
    let mut rig = Rig::new();
    let done = rig.write(0, b"hello write-behind", StableHow::Unstable);
    let ok = write_ok(&done);
    assert_eq!(ok.count, 18);
    assert_eq!(ok.committed, StableHow::Unstable);
    assert!(ok.file_wcc.before.is_some(), "pre-op attributes are known");
    assert!(
        ok.file_wcc.after.is_none(),
        "post-op attributes are not (yet)"
    );
    assert_eq!(rig.wb.stats().pending, 1);
    // Nothing written yet: the backend still has an empty file.
    let root_lookup = rig.vfs.lookup(&rig.vfs.root(), b"f").unwrap();
    assert_eq!(root_lookup.1.size, 0);

    // A READ sent after the reply must see the data: it waits for the deferred write.
    let read = rig.read_call();
    let svc = Arc::clone(&rig.svc);
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || tx.send(svc.execute(&read).reply).unwrap());
    assert!(
        rx.recv_timeout(Duration::from_millis(100)).is_err(),
        "READ ran before the deferred write"
    );
    (done.after_reply.expect("deferred work"))();
    let reply = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("READ finished");
    reader.join().unwrap();
    match reply {
        Nfs3Reply::Read(Nfs3Result::Ok(ok)) => assert_eq!(&ok.data[..], b"hello write-behind"),
        other => panic!("READ: {other:?}"),
    }
    assert_eq!(rig.wb.stats().pending, 0);
}

#[test]
fn stable_writes_and_failed_checks_are_not_deferred() {
    let mut rig = Rig::new();
    let sync = rig.write(0, b"sync", StableHow::FileSync);
    assert!(sync.after_reply.is_none());
    assert_eq!(write_ok(&sync).committed, StableHow::FileSync);
    assert!(write_ok(&sync).file_wcc.after.is_some());
    // A WRITE past the largest file size fails its checks before anything is deferred.
    let call = Nfs3Call::Write(WriteArgs {
        file: rig.file.clone(),
        offset: i64::MAX as u64,
        stable: StableHow::Unstable,
        data: Bytes::from_static(b"xx"),
    });
    let r = rig.req(call);
    let e = rig.svc.execute(&r);
    assert!(e.after_reply.is_none());
    assert!(matches!(
        e.reply,
        Nfs3Reply::Write(Nfs3Result::Err(Nfs3Status::FBig, _))
    ));
    assert_eq!(rig.wb.stats().deferred, 0);
}

#[test]
fn a_failed_deferred_write_changes_the_verifier_and_the_resend_fails_in_its_reply() {
    let mut rig = Rig::new();
    let first = rig.write(0, b"data", StableHow::Unstable);
    let verf_at_write = write_ok(&first).verf;
    rig.vfs.fail.store(true, Ordering::SeqCst);
    (first.after_reply.expect("deferred work"))();
    assert_eq!(rig.wb.stats().failures, 1);
    // RFC 1813 §3.3.7: a COMMIT verifier different from the WRITE's makes the client resend.
    let verf_at_commit = rig.commit();
    assert_ne!(verf_at_commit, verf_at_write);
    // The resend runs synchronously now and reports the error itself.
    let resend = rig.write(0, b"data", StableHow::Unstable);
    assert!(resend.after_reply.is_none());
    assert!(
        matches!(
            resend.reply,
            Nfs3Reply::Write(Nfs3Result::Err(Nfs3Status::NoSpc, _))
        ),
        "{:?}",
        resend.reply
    );
}
