//! What the workers execute: file-system [`Job`]s the core emits, each carrying the backend
//! (`Arc<dyn Vfs>`) and the executor, so the runtime only calls [`Job::run`] on a worker and
//! hands the [`JobDone`] back (`Core::handle_job_done`). `run` is the only place that touches
//! the file system.
//!
//! Jobs are routed by the share id the RPC server found in the call's file handle. A share
//! id that names no share (a handle from another server, or from a share since removed from
//! the configuration) reaches [`UnknownShare`], a backend that answers [`VfsError::Stale`] to
//! everything, so the client sees NFS3ERR_STALE (RFC 1813 §2.6: the handle no longer refers
//! to a file) through the same executor path as any other error.
//!
//! A write-behind WRITE (`crate::write_behind`) is a job whose result carries a follow-up
//! job ([`JobDone::take_follow_up`]): the data write, and after it the flush-behind. The
//! runtime hands the result back first and then runs the follow-up on the same worker before
//! it takes another job.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use bytes::Bytes;
use proto_nfs::nfs3::{Nfs3Call, Nfs3Reply, Nfs3Status};
use proto_nfs::server::{Creds, FsRequestId};
use vfs::{
    Caller, CreateHow, DirPage, FileAttr, FileKind, FsStat, Handle, RenameMode, SetAttrs,
    Stability, Vfs, VfsError, VfsResult,
};

use crate::nfs3_exec::{DeferredWrite, Executor};
use crate::nfs_locks::GateToken;
use crate::write_behind::{WriteSeq, FLUSH_BEHIND_MIN};

/// The backends by share id.
#[derive(Debug)]
pub struct ShareTable {
    shares: BTreeMap<u32, Arc<dyn Vfs>>,
    unknown: Arc<dyn Vfs>,
}

impl ShareTable {
    /// The table of `shares` (share id → backend).
    pub fn new(shares: impl IntoIterator<Item = (u32, Arc<dyn Vfs>)>) -> Self {
        ShareTable {
            shares: shares.into_iter().collect(),
            unknown: Arc::new(UnknownShare),
        }
    }

    /// The backend of `share_id` ([`UnknownShare`] for an unknown id).
    pub fn get(&self, share_id: u32) -> &Arc<dyn Vfs> {
        self.shares.get(&share_id).unwrap_or(&self.unknown)
    }
}

/// One piece of file-system work. See the module documentation.
pub struct Job {
    kind: JobKind,
}

enum JobKind {
    /// An NFSv3 call; `defer`: the write-behind reservation of an UNSTABLE WRITE.
    Nfs {
        id: FsRequestId,
        vfs: Arc<dyn Vfs>,
        exec: Executor,
        share_id: u32,
        creds: Creds,
        call: Nfs3Call,
        defer: Option<WriteSeq>,
        gate: GateToken,
    },
    /// The data of a write-behind WRITE, after its reply.
    Deferred {
        seq: WriteSeq,
        gate: GateToken,
        vfs: Arc<dyn Vfs>,
        handle: Handle,
        offset: u64,
        data: Bytes,
    },
    /// The file-system work of an SMB request (`crate::smb::exec`); `token` names its
    /// continuation in the core.
    Smb {
        token: u64,
        vfs: Arc<dyn Vfs>,
        work: crate::smb::exec::Work,
    },
    /// Flush-behind: start sending a written range to disk.
    Writeback {
        vfs: Arc<dyn Vfs>,
        handle: Handle,
        offset: u64,
        len: u64,
    },
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            JobKind::Nfs {
                id, share_id, call, ..
            } => f
                .debug_struct("Job::Nfs")
                .field("id", id)
                .field("share_id", share_id)
                .field("procedure", &call.procedure())
                .finish_non_exhaustive(),
            JobKind::Deferred {
                seq, offset, data, ..
            } => f
                .debug_struct("Job::Deferred")
                .field("seq", seq)
                .field("offset", offset)
                .field("len", &data.len())
                .finish_non_exhaustive(),
            JobKind::Smb { token, work, .. } => f
                .debug_struct("Job::Smb")
                .field("token", token)
                .field("work", &std::mem::discriminant(work))
                .finish_non_exhaustive(),
            JobKind::Writeback { offset, len, .. } => f
                .debug_struct("Job::Writeback")
                .field("offset", offset)
                .field("len", len)
                .finish_non_exhaustive(),
        }
    }
}

/// What a [`Job`] produced, for `Core::handle_job_done`.
#[derive(Debug)]
pub struct JobDone {
    pub(crate) result: JobResult,
    follow_up: Option<Job>,
}

// The reply is the common case and moves once per job: boxing it would cost an allocation
// per request for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum JobResult {
    /// The reply of an NFSv3 call; `deferred`: the reservation it had, and whether its data
    /// write follows (true) or it ran synchronously (false).
    Nfs {
        id: FsRequestId,
        reply: Nfs3Reply,
        defer: Option<(WriteSeq, bool)>,
        /// The in-flight gate slots the job held (released when its file-system work ended:
        /// here, or with `Deferred` when its data write follows).
        gate: GateToken,
    },
    /// A deferred data write ended (`failed`: the client was told UNSTABLE success for data
    /// that is not written).
    Deferred {
        seq: WriteSeq,
        failed: bool,
        gate: GateToken,
    },
    /// The result of an SMB request's file-system work.
    Smb {
        token: u64,
        out: crate::smb::exec::Output,
    },
    /// Nothing to report (flush-behind).
    Nothing,
}

impl JobDone {
    /// Work to run on the same worker after this result was handed back (write-behind), and
    /// before that worker takes another job.
    pub fn take_follow_up(&mut self) -> Option<Job> {
        self.follow_up.take()
    }

    /// Whether this result is the reply to a client's request (not the end of background
    /// work the client does not wait for).
    pub fn is_reply(&self) -> bool {
        matches!(self.result, JobResult::Nfs { .. } | JobResult::Smb { .. })
    }
}

impl Job {
    #[allow(clippy::too_many_arguments)] // the crate-internal constructor: one argument per field
    pub(crate) fn nfs(
        id: FsRequestId,
        vfs: Arc<dyn Vfs>,
        exec: Executor,
        share_id: u32,
        creds: Creds,
        call: Nfs3Call,
        defer: Option<WriteSeq>,
        gate: GateToken,
    ) -> Job {
        Job {
            kind: JobKind::Nfs {
                id,
                vfs,
                exec,
                share_id,
                creds,
                call,
                defer,
                gate,
            },
        }
    }

    pub(crate) fn smb(token: u64, vfs: Arc<dyn Vfs>, work: crate::smb::exec::Work) -> Job {
        Job {
            kind: JobKind::Smb { token, vfs, work },
        }
    }

    /// Runs the job (on a worker thread: it may block on the file system). A panic in the
    /// backend or executor still produces a result: NFS3ERR_SERVERFAULT for a call
    /// (RFC 1813 §2.6), a failed write for deferred data.
    pub fn run(self) -> JobDone {
        match self.kind {
            JobKind::Nfs {
                id,
                vfs,
                exec,
                share_id,
                creds,
                call,
                defer,
                gate,
            } => {
                let run = || {
                    if let (Some(seq), Nfs3Call::Write(a)) = (defer, &call) {
                        match exec.write_behind(vfs.as_ref(), share_id, &creds, a) {
                            Some(Ok(d)) => return deferred(id, seq, &vfs, a.data.clone(), d, gate),
                            Some(Err(reply)) => {
                                return done(JobResult::Nfs {
                                    id,
                                    reply,
                                    defer: Some((seq, false)),
                                    gate,
                                })
                            }
                            None => {}
                        }
                    }
                    let reply = exec.execute(vfs.as_ref(), share_id, &creds, &call);
                    done(JobResult::Nfs {
                        id,
                        reply,
                        defer: defer.map(|s| (s, false)),
                        gate,
                    })
                };
                catch_unwind(AssertUnwindSafe(run)).unwrap_or_else(|_| {
                    tracing::error!(id = id.0, share = share_id, "file-system request panicked");
                    done(JobResult::Nfs {
                        id,
                        reply: Nfs3Reply::error_for(&call, Nfs3Status::ServerFault),
                        defer: defer.map(|s| (s, false)),
                        gate,
                    })
                })
            }
            JobKind::Deferred {
                seq,
                gate,
                vfs,
                handle,
                offset,
                data,
            } => {
                let res = catch_unwind(AssertUnwindSafe(|| {
                    vfs.write(&handle, offset, &data, Stability::Unstable)
                }));
                let failed = match res {
                    Ok(Ok(_)) => false,
                    Ok(Err(e)) => {
                        tracing::error!(
                            offset,
                            len = data.len(),
                            error = ?e,
                            "a write acknowledged as UNSTABLE failed; clients will resend at COMMIT"
                        );
                        true
                    }
                    Err(_) => {
                        tracing::error!(offset, "a deferred write panicked");
                        true
                    }
                };
                // The data is in the page cache: the core may let later requests go on
                // while the range is sent to disk.
                let follow_up = (!failed && data.len() >= FLUSH_BEHIND_MIN).then(|| Job {
                    kind: JobKind::Writeback {
                        vfs,
                        handle,
                        offset,
                        len: data.len() as u64,
                    },
                });
                JobDone {
                    result: JobResult::Deferred { seq, failed, gate },
                    follow_up,
                }
            }
            JobKind::Smb { token, vfs, work } => {
                let out = catch_unwind(AssertUnwindSafe(|| {
                    crate::smb::exec::run(vfs.as_ref(), work)
                }))
                .unwrap_or_else(|_| {
                    tracing::error!(token, "SMB file-system request panicked");
                    crate::smb::exec::Output::Attr(Err(proto_smb2::NtStatus(0xC000_00E9)))
                });
                done(JobResult::Smb { token, out })
            }
            JobKind::Writeback {
                vfs,
                handle,
                offset,
                len,
            } => {
                let res = catch_unwind(AssertUnwindSafe(|| {
                    vfs.start_writeback(&handle, offset, len)
                }));
                if let Ok(Err(e)) = res {
                    tracing::debug!(error = ?e, "flush-behind");
                }
                done(JobResult::Nothing)
            }
        }
    }
}

fn done(result: JobResult) -> JobDone {
    JobDone {
        result,
        follow_up: None,
    }
}

/// The reply of a write-behind WRITE now, its data write as the follow-up.
fn deferred(
    id: FsRequestId,
    seq: WriteSeq,
    vfs: &Arc<dyn Vfs>,
    data: Bytes,
    d: DeferredWrite,
    gate: GateToken,
) -> JobDone {
    let DeferredWrite {
        handle,
        offset,
        len,
        reply,
    } = d;
    JobDone {
        result: JobResult::Nfs {
            id,
            reply,
            defer: Some((seq, true)),
            gate: GateToken::NONE,
        },
        follow_up: Some(Job {
            kind: JobKind::Deferred {
                seq,
                gate,
                vfs: Arc::clone(vfs),
                handle,
                offset,
                data: data.slice(..len.min(data.len())),
            },
        }),
    }
}

/// The backend of a share id that is not configured: every handle is stale.
#[derive(Debug, Default, Clone, Copy)]
pub struct UnknownShare;

impl Vfs for UnknownShare {
    fn root(&self) -> Handle {
        Handle(Vec::new())
    }
    fn getattr(&self, _: &Handle) -> VfsResult<FileAttr> {
        Err(VfsError::Stale)
    }
    fn setattr(&self, _: &Handle, _: &SetAttrs) -> VfsResult<FileAttr> {
        Err(VfsError::Stale)
    }
    fn lookup(&self, _: &Handle, _: &[u8]) -> VfsResult<(Handle, FileAttr)> {
        Err(VfsError::Stale)
    }
    fn readlink(&self, _: &Handle) -> VfsResult<Vec<u8>> {
        Err(VfsError::Stale)
    }
    fn read(&self, _: &Handle, _: u64, _: u32) -> VfsResult<(Vec<u8>, bool)> {
        Err(VfsError::Stale)
    }
    fn write(
        &self,
        _: &Handle,
        _: u64,
        _: &[u8],
        _: Stability,
    ) -> VfsResult<(Stability, FileAttr)> {
        Err(VfsError::Stale)
    }
    fn commit(&self, _: &Handle) -> VfsResult<FileAttr> {
        Err(VfsError::Stale)
    }
    fn create(
        &self,
        _: &Handle,
        _: &[u8],
        _: CreateHow,
        _: &SetAttrs,
        _: &Caller,
    ) -> VfsResult<(Handle, FileAttr)> {
        Err(VfsError::Stale)
    }
    fn mkdir(
        &self,
        _: &Handle,
        _: &[u8],
        _: &SetAttrs,
        _: &Caller,
    ) -> VfsResult<(Handle, FileAttr)> {
        Err(VfsError::Stale)
    }
    fn symlink(
        &self,
        _: &Handle,
        _: &[u8],
        _: &[u8],
        _: &SetAttrs,
        _: &Caller,
    ) -> VfsResult<(Handle, FileAttr)> {
        Err(VfsError::Stale)
    }
    fn mknod(
        &self,
        _: &Handle,
        _: &[u8],
        _: FileKind,
        _: (u32, u32),
        _: &SetAttrs,
        _: &Caller,
    ) -> VfsResult<(Handle, FileAttr)> {
        Err(VfsError::Stale)
    }
    fn remove(&self, _: &Handle, _: &[u8]) -> VfsResult<()> {
        Err(VfsError::Stale)
    }
    fn rmdir(&self, _: &Handle, _: &[u8]) -> VfsResult<()> {
        Err(VfsError::Stale)
    }
    fn rename(&self, _: &Handle, _: &[u8], _: &Handle, _: &[u8], _: RenameMode) -> VfsResult<()> {
        Err(VfsError::Stale)
    }
    fn link(&self, _: &Handle, _: &Handle, _: &[u8]) -> VfsResult<()> {
        Err(VfsError::Stale)
    }
    fn readdir(&self, _: &Handle, _: u64, _: usize) -> VfsResult<DirPage> {
        Err(VfsError::Stale)
    }
    fn dir_version(&self, _: &Handle) -> VfsResult<u64> {
        Err(VfsError::Stale)
    }
    fn fsstat(&self, _: &Handle) -> VfsResult<FsStat> {
        Err(VfsError::Stale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_share_is_stale() {
        let shares = ShareTable::new([]);
        let vfs = Arc::clone(shares.get(42));
        assert_eq!(vfs.getattr(&vfs.root()), Err(VfsError::Stale));
        let creds = Creds {
            uid: 1,
            gid: 1,
            gids: vec![],
        };
        let call = Nfs3Call::Getattr(proto_nfs::nfs3::GetattrArgs {
            object: proto_nfs::nfs3::FileHandle::new(42, b"x").unwrap(),
        });
        let job = Job::nfs(
            FsRequestId(1),
            vfs,
            Executor::new(*b"verifier"),
            42,
            creds,
            call,
            None,
            GateToken::NONE,
        );
        let mut d = job.run();
        assert!(d.take_follow_up().is_none());
        match d.result {
            JobResult::Nfs { reply, .. } => {
                assert_eq!(reply.status(), Nfs3Status::Stale, "{reply:?}")
            }
            other => panic!("{other:?}"),
        }
    }
}
