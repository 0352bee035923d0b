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
//! * **Visibility.** The core holds every file-system job until the deferred writes it must
//!   see are done ([`WriteOrder::admit`], by its [`barrier`]): a request on a file waits for
//!   the deferred writes to that file that began before it arrived; a request that names
//!   files through a directory (LOOKUP, READDIRPLUS, CREATE, REMOVE, RENAME, ...) waits for
//!   every deferred write that began before it. A deferred write begins when the core emits
//!   its WRITE job (before the reply can exist), so anything a client sends after seeing the
//!   reply waits for it. Waiting only for writes that began earlier (a ticket horizon) means
//!   a stream of new writes cannot starve it. The ordering is decided by WHEN the core emits
//!   jobs, on the core's thread: no lock or condition variable between workers, and the
//!   same order whatever runtime (threads, a simulation) runs the jobs.
//! * **Errors.** A deferred write that fails (ENOSPC, EIO) changes the server's write
//!   verifier ([`WriteVerifier::change`]): the client's COMMIT then returns a verifier
//!   different from its WRITEs', and RFC 1813 §3.3.7 has it send the data again. For
//!   [`DEGRADED_FOR`] after a failure every WRITE runs synchronously, so that resend gets
//!   the error in its own reply instead of being deferred again. (knfsd also resets its
//!   verifier on a writeback error, `nfsd_reset_write_verifier`.)
//! * **Attributes.** The reply carries the pre-operation attributes and no
//!   post-operation attributes (`post_op_attr` is optional, RFC 1813 §2.6): the server
//!   cannot know the mtime the kernel will set. Clients revalidate with GETATTR, which waits.
//! * **Memory.** A worker runs a job's deferred write before it takes its next job, and at
//!   most [`MAX_PENDING_BYTES`] wait at once (beyond that a WRITE runs synchronously).
//! * **Shutdown and crash.** Workers finish their deferred writes before they exit; a crash
//!   loses them exactly as it loses dirty page cache, and the verifier is new after the
//!   restart, so clients resend what they had not committed.
//!
//! Only UNSTABLE writes are deferred; DATA_SYNC and FILE_SYNC reply after `fdatasync`/`fsync`.
//!
//! **Flush-behind.** After an UNSTABLE write of [`FLUSH_BEHIND_MIN`] bytes or more its
//! range is sent to disk at once (`vfs::Vfs::start_writeback`), so the COMMIT that
//! ends a sequential stream waits for little and dirty pages do not pile up until the kernel
//! throttles every writer; small writes stay in the page cache, where rewrites of the same
//! block are absorbed (PostgreSQL's `*_flush_after` and RocksDB's `bytes_per_sync` do the
//! same). The deferred write reports its end before that (the write-back is a job of its
//! own that follows), so the next request on the file waits for the data to be in the page
//! cache, not for the disk.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lockstate::FileId;
use proto_nfs::nfs3::{FileHandle, Nfs3Call};

use crate::nlm::file_id;

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
pub enum Barrier {
    /// Nothing: the request reads no file data or attributes.
    None,
    /// Deferred writes to this file.
    File(FileId),
    /// Every deferred write.
    All,
}

/// The lock table's id of the file an NFS handle names (the same [`file_id`] every
/// protocol uses); `None` for a handle that is not a well-formed Janus handle.
pub fn handle_file_id(fh: &FileHandle) -> Option<FileId> {
    match (fh.share_id(), fh.backend()) {
        (Some(share), Some(backend)) => Some(file_id(share, backend)),
        _ => None,
    }
}

/// The barrier of an NFSv3 call. A malformed handle names no file the executor will
/// touch (it answers NFS3ERR_BADHANDLE), so it waits for nothing.
pub fn barrier(call: &Nfs3Call) -> Barrier {
    let file = |fh: &FileHandle| handle_file_id(fh).map_or(Barrier::None, Barrier::File);
    match call {
        Nfs3Call::Null | Nfs3Call::Fsinfo(_) | Nfs3Call::Pathconf(_) | Nfs3Call::Fsstat(_) => {
            Barrier::None
        }
        Nfs3Call::Getattr(a) => file(&a.object),
        Nfs3Call::Setattr(a) => file(&a.object),
        Nfs3Call::Access(a) => file(&a.object),
        Nfs3Call::Readlink(a) => file(&a.symlink),
        Nfs3Call::Read(a) => file(&a.file),
        Nfs3Call::Write(a) => file(&a.file),
        Nfs3Call::Commit(a) => file(&a.file),
        // Directory operations return or change attributes of the files they name.
        _ => Barrier::All,
    }
}

/// Identifies one (possible) deferred write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WriteSeq(pub u64);

#[derive(Debug)]
struct Held<T> {
    horizon: u64,
    barrier: Barrier,
    job: T,
}

/// Counters (tests, logs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteBehindStats {
    /// Writes deferred so far.
    pub deferred: u64,
    /// Deferred writes that failed.
    pub failures: u64,
    /// Deferred writes (or reservations for them) in progress.
    pub pending: usize,
    /// Jobs held behind a deferred write right now.
    pub held: usize,
}

/// Write ordering on the core: the deferred writes in progress and the jobs held behind
/// them. `T` is what is held (the core's file-system job). See the module documentation.
#[derive(Debug)]
pub struct WriteOrder<T> {
    next_seq: u64,
    /// Deferred writes in progress (or reserved for a WRITE job that may defer): seq →
    /// (file, bytes).
    pending: BTreeMap<u64, (FileId, usize)>,
    bytes: usize,
    max_bytes: usize,
    degraded_until: Option<Instant>,
    held: VecDeque<Held<T>>,
    ready: VecDeque<T>,
    stats: WriteBehindStats,
}

impl<T> WriteOrder<T> {
    /// Ordering with at most `max_bytes` of deferred writes waiting at once.
    pub fn new(max_bytes: usize) -> Self {
        WriteOrder {
            next_seq: 0,
            pending: BTreeMap::new(),
            bytes: 0,
            max_bytes,
            degraded_until: None,
            held: VecDeque::new(),
            ready: VecDeque::new(),
            stats: WriteBehindStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> WriteBehindStats {
        WriteBehindStats {
            pending: self.pending.len(),
            held: self.held.len(),
            ..self.stats
        }
    }

    fn blocks(&self, horizon: u64, b: Barrier) -> bool {
        match b {
            Barrier::None => false,
            Barrier::All => self.pending.range(..horizon).next().is_some(),
            Barrier::File(f) => self.pending.range(..horizon).any(|(_, (g, _))| *g == f),
        }
    }

    /// A job arrived: it becomes ready at once ([`WriteOrder::poll_ready`]) unless a
    /// deferred write that began before it and that `barrier` names is still running.
    pub fn admit(&mut self, barrier: Barrier, job: T) {
        let horizon = self.next_seq;
        if self.blocks(horizon, barrier) {
            self.held.push_back(Held {
                horizon,
                barrier,
                job,
            });
        } else {
            self.ready.push_back(job);
        }
    }

    /// The next job that may run now.
    pub fn poll_ready(&mut self) -> Option<T> {
        self.ready.pop_front()
    }

    /// Reserves a deferred write of at most `bytes` to `file`, or `None` when the WRITE must
    /// run synchronously (a recent failure, or too many bytes waiting). Taken when the
    /// WRITE's job is emitted, so every request that arrives later waits for it; ended with
    /// [`WriteOrder::end`].
    pub fn begin(&mut self, file: FileId, bytes: usize, now: Instant) -> Option<WriteSeq> {
        if self.degraded_until.is_some_and(|t| now < t) {
            return None;
        }
        if self.bytes + bytes > self.max_bytes {
            return None;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.bytes += bytes;
        self.pending.insert(seq, (file, bytes));
        Some(WriteSeq(seq))
    }

    /// The WRITE of a reservation was deferred: its data is being written.
    pub fn deferred(&mut self) {
        self.stats.deferred += 1;
    }

    /// The reservation `seq` ended: its data is written (`failed`: the write failed, so
    /// WRITEs run synchronously for [`DEGRADED_FOR`]), or the WRITE ran synchronously after
    /// all. Jobs that waited only for it become ready, in arrival order.
    pub fn end(&mut self, seq: WriteSeq, failed: bool, now: Instant) {
        if let Some((_, bytes)) = self.pending.remove(&seq.0) {
            self.bytes -= bytes;
        }
        if failed {
            self.stats.failures += 1;
            self.degraded_until = Some(now + DEGRADED_FOR);
        }
        let held = std::mem::take(&mut self.held);
        for h in held {
            if self.blocks(h.horizon, h.barrier) {
                self.held.push_back(h);
            } else {
                self.ready.push_back(h.job);
            }
        }
    }
}
