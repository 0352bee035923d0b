//! Write-behind for UNSTABLE WRITEs (RFC 1813 §3.3.7).
//!
//! An UNSTABLE WRITE promises two things: later requests see the data, and the data is on
//! stable storage once a COMMIT returns the same write verifier as the WRITE did (else the
//! client sends it again). It does not promise that the data was copied anywhere before the
//! reply. Clients such as `nfs-cp` keep one 1 MiB WRITE in flight, so the time a worker
//! spends copying it into the page cache (about 0.6 ms per MiB into a fresh ext4 file on
//! the development machine) is time the client sits idle. With write-behind the worker
//! makes every check the WRITE makes (handle, file type, permission, range), sends the
//! reply, and then copies the data while the client prepares its next request.
//!
//! What keeps that correct:
//! * **Visibility.** Every request first passes [`WriteBehind::wait`] with its
//!   [`barrier`]: a request on a file handle waits for the deferred writes to that file
//!   that began before it; a request that names files through a directory (LOOKUP,
//!   READDIRPLUS, CREATE, REMOVE, RENAME, ...) waits for every deferred write that began
//!   before it. A deferred write begins before its reply is handed to the event loop, so
//!   anything a client sends after seeing the reply waits for it. Waiting only for writes
//!   that began earlier (a ticket horizon) means a stream of new writes cannot starve it.
//! * **Errors.** A deferred write that fails (ENOSPC, EIO) changes the server's write
//!   verifier ([`WriteVerifier::change`]): the client's COMMIT then returns a verifier
//!   different from its WRITEs', and RFC 1813 §3.3.7 has it send the data again. For
//!   [`DEGRADED_FOR`] after a failure every WRITE runs synchronously, so that resend gets
//!   the error in its own reply instead of being deferred again. (knfsd also resets its
//!   verifier on a writeback error, `nfsd_reset_write_verifier`.)
//! * **Attributes.** The reply carries the pre-operation attributes and no
//!   post-operation attributes (`post_op_attr` is optional, RFC 1813 §2.6): the server
//!   cannot know the mtime the kernel will set. Clients revalidate with GETATTR, which waits.
//! * **Memory.** A worker runs its deferred write before it takes its next job, and at most
//!   [`MAX_PENDING_BYTES`] wait at once (beyond that a WRITE runs synchronously).
//! * **Shutdown and crash.** Workers finish their deferred writes before they exit; a crash
//!   loses them exactly as it loses dirty page cache, and the verifier is new after the
//!   restart, so clients resend what they had not committed.
//!
//! Only UNSTABLE writes are deferred; DATA_SYNC and FILE_SYNC reply after `fdatasync`/`fsync`.
//!
//! **Flush-behind.** After an UNSTABLE write of [`FLUSH_BEHIND_MIN`] bytes or more its
//! range is sent to disk at once ([`crate::vfs::Vfs::start_writeback`]), so the COMMIT that
//! ends a sequential stream waits for little and dirty pages do not pile up until the kernel
//! throttles every writer; small writes stay in the page cache, where rewrites of the same
//! block are absorbed (PostgreSQL's `*_flush_after` and RocksDB's `bytes_per_sync` do the
//! same). A deferred write ends its ticket before that, so the next request on the file
//! waits for the data to be in the page cache, not for the disk.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use proto_nfs::nfs3::Nfs3Call;

/// How long WRITEs run synchronously after a deferred write failed.
pub const DEGRADED_FOR: Duration = Duration::from_secs(60);

/// Smallest UNSTABLE write whose range is sent to disk at once (flush-behind).
pub const FLUSH_BEHIND_MIN: usize = 256 * 1024;

/// Most bytes of deferred writes waiting at once.
pub const MAX_PENDING_BYTES: usize = 16 * 1024 * 1024;

/// The server's write verifier (RFC 1813 §3.3.7), shared by WRITE and COMMIT replies. It is
/// derived from a per-boot value and changes when written data may have been lost.
#[derive(Debug)]
pub struct WriteVerifier(AtomicU64);

impl WriteVerifier {
    /// The verifier `v`.
    pub fn new(v: [u8; 8]) -> Self {
        WriteVerifier(AtomicU64::new(u64::from_be_bytes(v)))
    }

    /// The current verifier.
    pub fn get(&self) -> [u8; 8] {
        self.0.load(Ordering::Acquire).to_be_bytes()
    }

    /// Changes the verifier (data acknowledged as UNSTABLE may be lost) and returns the new
    /// one. Never returns to an earlier value within a boot.
    pub fn change(&self) -> [u8; 8] {
        // An odd constant: the sequence of values cycles only after 2^64 changes.
        const STEP: u64 = 0x9e37_79b9_7f4a_7c15;
        (self.0.fetch_add(STEP, Ordering::AcqRel).wrapping_add(STEP)).to_be_bytes()
    }
}

/// What a request must wait for before it runs (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Barrier<'a> {
    /// Nothing: the request reads no file data or attributes.
    None,
    /// Deferred writes to this file (the NFS file handle bytes).
    File(&'a [u8]),
    /// Every deferred write.
    All,
}

/// The barrier of an NFSv3 call.
pub fn barrier(call: &Nfs3Call) -> Barrier<'_> {
    match call {
        Nfs3Call::Null | Nfs3Call::Fsinfo(_) | Nfs3Call::Pathconf(_) | Nfs3Call::Fsstat(_) => {
            Barrier::None
        }
        Nfs3Call::Getattr(a) => Barrier::File(&a.object.0),
        Nfs3Call::Setattr(a) => Barrier::File(&a.object.0),
        Nfs3Call::Access(a) => Barrier::File(&a.object.0),
        Nfs3Call::Readlink(a) => Barrier::File(&a.symlink.0),
        Nfs3Call::Read(a) => Barrier::File(&a.file.0),
        Nfs3Call::Write(a) => Barrier::File(&a.file.0),
        Nfs3Call::Commit(a) => Barrier::File(&a.file.0),
        // Directory operations return or change attributes of the files they name.
        _ => Barrier::All,
    }
}

#[derive(Debug)]
struct PendingWrite {
    seq: u64,
    file: Bytes,
    bytes: usize,
}

#[derive(Debug, Default)]
struct State {
    next_seq: u64,
    writes: Vec<PendingWrite>,
    bytes: usize,
    degraded_until: Option<Instant>,
    failures: u64,
    deferred: u64,
}

/// The shared state of write-behind: the deferred writes in progress and the verifier.
#[derive(Debug)]
pub struct WriteBehind {
    state: Mutex<State>,
    done: Condvar,
    verifier: Arc<WriteVerifier>,
    max_bytes: usize,
}

/// Counters (tests, logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteBehindStats {
    /// Writes deferred so far.
    pub deferred: u64,
    /// Deferred writes that failed.
    pub failures: u64,
    /// Deferred writes in progress.
    pub pending: usize,
}

impl WriteBehind {
    /// Write-behind that changes `verifier` on failure, with at most `max_bytes` waiting.
    pub fn new(verifier: Arc<WriteVerifier>, max_bytes: usize) -> Self {
        WriteBehind {
            state: Mutex::default(),
            done: Condvar::new(),
            verifier,
            max_bytes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Only bookkeeping runs under the lock: a poisoned lock still holds consistent state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counters so far.
    pub fn stats(&self) -> WriteBehindStats {
        let st = self.lock();
        WriteBehindStats {
            deferred: st.deferred,
            failures: st.failures,
            pending: st.writes.len(),
        }
    }

    /// Blocks until the deferred writes `b` names that began before this call are done.
    pub fn wait(&self, b: Barrier<'_>) {
        let mut st = self.lock();
        let horizon = st.next_seq;
        let blocks = |st: &State| {
            st.writes.iter().any(|w| {
                w.seq < horizon
                    && match b {
                        Barrier::None => false,
                        Barrier::File(f) => w.file == f,
                        Barrier::All => true,
                    }
            })
        };
        while blocks(&st) {
            st = self.done.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Reserves a deferred write of `bytes` to `file`, or `None` when the WRITE must run
    /// synchronously (a recent failure, or too many bytes waiting). The reservation must be
    /// taken before the reply is sent; dropping the ticket ends it.
    pub fn begin(self: &Arc<Self>, file: Bytes, bytes: usize, now: Instant) -> Option<Ticket> {
        let mut st = self.lock();
        if st.degraded_until.is_some_and(|t| now < t) {
            return None;
        }
        if st.bytes + bytes > self.max_bytes {
            return None;
        }
        let seq = st.next_seq;
        st.next_seq += 1;
        st.bytes += bytes;
        st.deferred += 1;
        st.writes.push(PendingWrite { seq, file, bytes });
        Some(Ticket {
            wb: Arc::clone(self),
            seq,
        })
    }

    fn end(&self, seq: u64) {
        let mut st = self.lock();
        if let Some(i) = st.writes.iter().position(|w| w.seq == seq) {
            let w = st.writes.swap_remove(i);
            st.bytes -= w.bytes;
        }
        drop(st);
        self.done.notify_all();
    }
}

/// One deferred write in progress; dropping it (also on unwind) ends it and wakes waiters.
#[derive(Debug)]
pub struct Ticket {
    wb: Arc<WriteBehind>,
    seq: u64,
}

impl Ticket {
    /// The deferred write failed: change the verifier so clients resend at COMMIT, and
    /// write synchronously for [`DEGRADED_FOR`].
    pub fn failed(&self, now: Instant) -> [u8; 8] {
        let mut st = self.wb.lock();
        st.failures += 1;
        st.degraded_until = Some(now + DEGRADED_FOR);
        drop(st);
        self.wb.verifier.change()
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.wb.end(self.seq);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;

    fn wb(max: usize) -> Arc<WriteBehind> {
        Arc::new(WriteBehind::new(
            Arc::new(WriteVerifier::new(*b"verifier")),
            max,
        ))
    }

    #[test]
    fn verifier_changes_and_never_repeats_soon() {
        let v = WriteVerifier::new(*b"verifier");
        assert_eq!(v.get(), *b"verifier");
        let mut seen = std::collections::HashSet::new();
        seen.insert(v.get());
        for _ in 0..1000 {
            let n = v.change();
            assert_eq!(n, v.get());
            assert!(seen.insert(n));
        }
    }

    #[test]
    fn barriers_of_calls() {
        use proto_nfs::nfs3::{
            CommitArgs, DirOpArgs3, FileHandle, Filename3, FsrootArgs, GetattrArgs, LookupArgs,
            ReadArgs,
        };
        let fh = || FileHandle(Bytes::from_static(b"\x01abc"));
        assert_eq!(barrier(&Nfs3Call::Null), Barrier::None);
        assert_eq!(
            barrier(&Nfs3Call::Fsinfo(FsrootArgs { fsroot: fh() })),
            Barrier::None
        );
        // Calls on a file handle wait for that file's deferred writes...
        let file = Barrier::File(b"\x01abc");
        assert_eq!(
            barrier(&Nfs3Call::Getattr(GetattrArgs { object: fh() })),
            file
        );
        let read = ReadArgs {
            file: fh(),
            offset: 0,
            count: 1,
        };
        assert_eq!(barrier(&Nfs3Call::Read(read)), file);
        let commit = CommitArgs {
            file: fh(),
            offset: 0,
            count: 0,
        };
        assert_eq!(barrier(&Nfs3Call::Commit(commit)), file);
        // ...and a LOOKUP, which returns a file's attributes by name, waits for all of them.
        let what = DirOpArgs3 {
            dir: fh(),
            name: Filename3(Bytes::from_static(b"f")),
        };
        assert_eq!(
            barrier(&Nfs3Call::Lookup(LookupArgs { what })),
            Barrier::All
        );
    }

    #[test]
    fn a_waiter_blocks_until_earlier_writes_to_its_file_end() {
        let wb = wb(1 << 20);
        let now = Instant::now();
        let t = wb.begin(Bytes::from_static(b"f1"), 10, now).unwrap();
        // Other files and barrier-free calls do not wait.
        wb.wait(Barrier::File(b"f2"));
        wb.wait(Barrier::None);
        let released = Arc::new(AtomicBool::new(false));
        let (w2, r2) = (Arc::clone(&wb), Arc::clone(&released));
        let file_waiter = std::thread::spawn(move || {
            w2.wait(Barrier::File(b"f1"));
            assert!(r2.load(Ordering::SeqCst), "returned before the write ended");
        });
        let (w3, r3) = (Arc::clone(&wb), Arc::clone(&released));
        let all_waiter = std::thread::spawn(move || {
            w3.wait(Barrier::All);
            assert!(r3.load(Ordering::SeqCst), "returned before the write ended");
        });
        std::thread::sleep(Duration::from_millis(20));
        released.store(true, Ordering::SeqCst);
        drop(t);
        file_waiter.join().unwrap();
        all_waiter.join().unwrap();
        assert_eq!(wb.stats().pending, 0);
    }

    #[test]
    fn later_writes_do_not_starve_an_earlier_waiter() {
        let wb = wb(1 << 20);
        let now = Instant::now();
        let first = wb.begin(Bytes::from_static(b"f"), 1, now).unwrap();
        let w2 = Arc::clone(&wb);
        let waiter = std::thread::spawn(move || w2.wait(Barrier::File(b"f")));
        std::thread::sleep(Duration::from_millis(20));
        // A write that begins after the waiter arrived does not hold it.
        let _later = wb.begin(Bytes::from_static(b"f"), 1, now).unwrap();
        drop(first);
        waiter.join().unwrap();
        assert_eq!(wb.stats().pending, 1);
    }

    #[test]
    fn bytes_are_bounded_and_a_failure_degrades_and_changes_the_verifier() {
        let v = Arc::new(WriteVerifier::new(*b"verifier"));
        let wb = Arc::new(WriteBehind::new(Arc::clone(&v), 100));
        let now = Instant::now();
        let a = wb.begin(Bytes::from_static(b"f"), 60, now).unwrap();
        assert!(
            wb.begin(Bytes::from_static(b"g"), 60, now).is_none(),
            "over the bound"
        );
        let before = v.get();
        let new = a.failed(now);
        assert_ne!(new, before);
        assert_eq!(v.get(), new);
        drop(a);
        assert!(
            wb.begin(Bytes::from_static(b"f"), 1, now).is_none(),
            "degraded"
        );
        assert!(wb
            .begin(Bytes::from_static(b"f"), 1, now + DEGRADED_FOR)
            .is_some());
        let s = wb.stats();
        assert_eq!((s.deferred, s.failures), (2, 1));
    }

    #[test]
    fn a_panicking_deferred_write_still_ends_its_ticket() {
        let wb = wb(1 << 20);
        let t = wb
            .begin(Bytes::from_static(b"f"), 1, Instant::now())
            .unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _t = t;
            panic!("boom (expected by the test)");
        }));
        assert!(r.is_err());
        assert_eq!(wb.stats().pending, 0);
        wb.wait(Barrier::All);
    }
}
