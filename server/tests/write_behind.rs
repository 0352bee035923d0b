//! Write-behind through the core (`server::write_behind`): an UNSTABLE WRITE is answered
//! before its data is written, a later request on the file is not even emitted as a job
//! until the data is written (ordering by WHEN the core emits jobs), and a deferred write
//! that fails changes the write verifier so a COMMIT tells the client to resend, whose
//! resend then fails in its own reply.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use proto_nfs::nfs3::*;
use support::layer::{Hooks, Layered};
use support::*;
use vfs::memory::{MemoryFs, MemoryFsConfig, VirtualClock};
use vfs::{
    Caller, CreateHow, FileAttr, Handle, SetAttrs, Stability, Timestamp, Vfs, VfsError, VfsResult,
};

/// MemoryFs that takes write-behind and whose writes can be made to fail (ENOSPC).
#[derive(Debug)]
struct Flaky {
    fail: AtomicBool,
}

impl Hooks for Flaky {
    fn write(
        &self,
        fs: &dyn Vfs,
        h: &Handle,
        offset: u64,
        data: &[u8],
        stable: Stability,
    ) -> VfsResult<(Stability, FileAttr)> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(VfsError::NoSpace);
        }
        fs.write(h, offset, data, stable)
    }
    fn write_behind(&self, _: &dyn Vfs) -> bool {
        true
    }
}

struct Rig {
    core: server::Core,
    vfs: Arc<Layered<Flaky>>,
    file: FileHandle,
    next_xid: u32,
    now: Instant,
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
        let vfs = Arc::new(Layered::new(
            MemoryFs::with_virtual_clock(config, clock),
            Flaky {
                fail: AtomicBool::new(false),
            },
        ));
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
        let now = support::start_of_time();
        let core = core_over(Arc::clone(&vfs) as Arc<dyn Vfs>, vec![], now);
        Rig {
            core,
            vfs,
            file: FileHandle::new(SHARE, &h.0).unwrap(),
            next_xid: 1,
            now,
        }
    }

    fn send(&mut self, c: &Nfs3Call) -> u32 {
        self.next_xid += 1;
        send_nfs(&mut self.core, self.next_xid, c, self.now);
        self.next_xid
    }

    /// Sends a WRITE and runs its job; returns the reply and the deferred data write.
    fn write(
        &mut self,
        offset: u64,
        data: &'static [u8],
        stable: StableHow,
    ) -> (WriteRes, Option<server::Job>) {
        let call = Nfs3Call::Write(WriteArgs {
            file: self.file.clone(),
            offset,
            stable,
            data: Bytes::from_static(data),
        });
        self.send(&call);
        let mut js = jobs(&mut self.core);
        assert_eq!(js.len(), 1, "the WRITE runs at once");
        let follow = run(&mut self.core, js.remove(0), self.now);
        let r = replies(&mut self.core);
        assert_eq!(r.len(), 1);
        match nfs_reply(&r[0], 7) {
            Nfs3Reply::Write(w) => (w, follow),
            other => panic!("WRITE: {other:?}"),
        }
    }

    fn commit(&mut self) -> [u8; 8] {
        self.send(&Nfs3Call::Commit(CommitArgs {
            file: self.file.clone(),
            offset: 0,
            count: 0,
        }));
        run_all(&mut self.core, self.now);
        match nfs_reply(&replies(&mut self.core)[0], 21) {
            Nfs3Reply::Commit(Nfs3Result::Ok(ok)) => ok.verf,
            other => panic!("COMMIT: {other:?}"),
        }
    }
}

fn ok(w: &WriteRes) -> &WriteOk {
    match w {
        Nfs3Result::Ok(ok) => ok,
        other => panic!("WRITE: {other:?}"),
    }
}

#[test]
fn unstable_write_is_answered_first_and_a_later_read_waits_for_the_data() {
    let mut rig = Rig::new();
    let (w, data) = rig.write(0, b"hello write-behind", StableHow::Unstable);
    let ok = ok(&w);
    assert_eq!(ok.count, 18);
    assert_eq!(ok.committed, StableHow::Unstable);
    assert!(ok.file_wcc.before.is_some(), "pre-op attributes are known");
    assert!(
        ok.file_wcc.after.is_none(),
        "post-op attributes are not (yet)"
    );
    let data = data.expect("the data write follows the reply");
    assert_eq!(rig.core.write_behind_stats().pending, 1);
    // Nothing written yet: the backend still has an empty file.
    assert_eq!(rig.vfs.lookup(&rig.vfs.root(), b"f").unwrap().1.size, 0);

    // A READ sent after the reply must see the data: the core holds it back, and a GETATTR
    // of another object (the root) is not held.
    let read = Nfs3Call::Read(ReadArgs {
        file: rig.file.clone(),
        offset: 0,
        count: 100,
    });
    rig.send(&read);
    assert!(
        jobs(&mut rig.core).is_empty(),
        "READ emitted before the data was written"
    );
    assert_eq!(rig.core.write_behind_stats().held, 1);
    let root = FileHandle::new(SHARE, &rig.vfs.root().0).unwrap();
    rig.send(&Nfs3Call::Getattr(GetattrArgs { object: root }));
    let js = jobs(&mut rig.core);
    assert_eq!(js.len(), 1, "another file's request runs");
    for j in js {
        assert!(run(&mut rig.core, j, rig.now).is_none());
    }
    // The data write ends (flush-behind does not apply to 18 bytes); the READ is emitted.
    assert!(run(&mut rig.core, data, rig.now).is_none());
    run_all(&mut rig.core, rig.now);
    let r = replies(&mut rig.core);
    let read_reply = r.iter().find(|r| r.xid == 3).expect("READ answered");
    match nfs_reply(read_reply, 6) {
        Nfs3Reply::Read(Nfs3Result::Ok(ok)) => assert_eq!(&ok.data[..], b"hello write-behind"),
        other => panic!("READ: {other:?}"),
    }
    let s = rig.core.write_behind_stats();
    assert_eq!((s.pending, s.held, s.deferred), (0, 0, 1));
}

#[test]
fn stable_writes_and_failed_checks_are_not_deferred() {
    let mut rig = Rig::new();
    let (sync, follow) = rig.write(0, b"sync", StableHow::FileSync);
    assert!(follow.is_none());
    assert_eq!(ok(&sync).committed, StableHow::FileSync);
    assert!(ok(&sync).file_wcc.after.is_some());
    // A WRITE past the largest file size fails its checks before anything is deferred.
    let (w, follow) = rig.write(i64::MAX as u64, b"xx", StableHow::Unstable);
    assert!(follow.is_none());
    assert!(matches!(w, Nfs3Result::Err(Nfs3Status::FBig, _)));
    let s = rig.core.write_behind_stats();
    assert_eq!(
        (s.deferred, s.pending),
        (0, 0),
        "the reservation ended with the reply"
    );
}

#[test]
fn a_failed_deferred_write_changes_the_verifier_and_the_resend_fails_in_its_reply() {
    let mut rig = Rig::new();
    let (first, data) = rig.write(0, b"data", StableHow::Unstable);
    let verf_at_write = ok(&first).verf;
    rig.vfs.fail.store(true, Ordering::SeqCst);
    assert!(run(&mut rig.core, data.expect("deferred"), rig.now).is_none());
    assert_eq!(rig.core.write_behind_stats().failures, 1);
    // RFC 1813 §3.3.7: a COMMIT verifier different from the WRITE's makes the client resend.
    let verf_at_commit = rig.commit();
    assert_ne!(verf_at_commit, verf_at_write);
    assert_eq!(rig.core.write_verifier(), verf_at_commit);
    // The resend runs synchronously now and reports the error itself.
    let (resend, follow) = rig.write(0, b"data", StableHow::Unstable);
    assert!(follow.is_none());
    assert!(
        matches!(resend, Nfs3Result::Err(Nfs3Status::NoSpc, _)),
        "{resend:?}"
    );
}

#[test]
fn a_large_deferred_write_is_flushed_behind_after_it_reports_its_end() {
    let mut rig = Rig::new();
    static BIG: [u8; 300 * 1024] = [7; 300 * 1024];
    let (_, data) = rig.write(0, &BIG, StableHow::Unstable);
    let writeback = run(&mut rig.core, data.expect("deferred"), rig.now);
    // The data write reported its end: a request on the file runs before the write-back.
    assert_eq!(rig.core.write_behind_stats().pending, 0);
    rig.send(&Nfs3Call::Getattr(GetattrArgs {
        object: rig.file.clone(),
    }));
    assert_eq!(jobs(&mut rig.core).len(), 1);
    assert!(run(&mut rig.core, writeback.expect("flush-behind"), rig.now).is_none());
}
