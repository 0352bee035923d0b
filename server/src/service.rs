//! What the workers execute: an NFSv3 executor over the share backends, routed by the
//! share id the RPC server found in the call's file handle.
//!
//! A share id that names no share (a handle from another server, or from a share since
//! removed from the configuration) reaches [`UnknownShare`], a backend that answers
//! [`VfsError::Stale`] to everything, so the client sees NFS3ERR_STALE (RFC 1813 §2.6: the
//! handle no longer refers to a file) through the same executor path as any other error.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use proto_nfs::nfs3::{Nfs3Call, Nfs3Reply, WriteArgs};
use proto_nfs::server::{Creds, FsRequest};

use crate::nfs3_exec::DeferredWrite;
use crate::vfs::{
    Caller, CreateHow, DirPage, FileAttr, FileKind, FsStat, Handle, SetAttrs, Stability, Vfs,
    VfsError, VfsResult,
};
use crate::workers::{Executed, FsService};
use crate::write_behind::{barrier, WriteBehind, FLUSH_BEHIND_MIN};

/// An NFSv3 executor: runs one call against one backend (`nfs3_exec::Executor`).
pub trait Nfs3Executor: Send + Sync + 'static {
    /// Executes `call` on `vfs` (the backend of share `share_id`) as `creds`.
    fn execute(&self, vfs: &dyn Vfs, share_id: u32, creds: &Creds, call: &Nfs3Call) -> Nfs3Reply;

    /// The checks and early reply of a write-behind WRITE (`nfs3_exec::Executor::
    /// write_behind`); `None` (the default): run it with `execute`.
    fn write_behind(
        &self,
        _vfs: &dyn Vfs,
        _share_id: u32,
        _creds: &Creds,
        _args: &WriteArgs,
    ) -> Option<Result<DeferredWrite, Nfs3Reply>> {
        None
    }
}

/// The shares and the executor: the [`FsService`] of `janus serve`.
#[derive(Debug)]
pub struct ShareService<E> {
    executor: E,
    shares: HashMap<u32, Arc<dyn Vfs>>,
    unknown: Arc<dyn Vfs>,
    write_behind: Option<Arc<WriteBehind>>,
}

impl<E: Nfs3Executor> ShareService<E> {
    /// Serves `shares` (share id → backend) with `executor`.
    pub fn new(executor: E, shares: HashMap<u32, Arc<dyn Vfs>>) -> Self {
        ShareService {
            executor,
            shares,
            unknown: Arc::new(UnknownShare),
            write_behind: None,
        }
    }

    /// The same, writing UNSTABLE WRITEs behind their replies.
    pub fn with_write_behind(mut self, wb: Arc<WriteBehind>) -> Self {
        self.write_behind = Some(wb);
        self
    }

    /// Answers an UNSTABLE WRITE now and writes it after the reply, when the executor and
    /// the backend allow and write-behind has room; else `None`.
    fn try_write_behind(
        &self,
        wb: &Arc<WriteBehind>,
        vfs: &Arc<dyn Vfs>,
        req: &FsRequest,
        a: &WriteArgs,
    ) -> Option<Executed> {
        let d = match self
            .executor
            .write_behind(vfs.as_ref(), req.share_id, &req.creds, a)?
        {
            Ok(d) => d,
            Err(reply) => return Some(reply.into()),
        };
        // Taken before the reply leaves, so every later request waits for the data.
        let ticket = wb.begin(a.file.0.clone(), d.len, Instant::now())?;
        let DeferredWrite {
            handle,
            offset,
            len,
            reply,
        } = d;
        let data = a.data.slice(..len);
        let vfs = Arc::clone(vfs);
        let work = move || {
            if let Err(e) = vfs.write(&handle, offset, &data, Stability::Unstable) {
                let verf = ticket.failed(Instant::now());
                tracing::error!(
                    offset,
                    len,
                    error = ?e,
                    new_verifier = ?verf,
                    "a write acknowledged as UNSTABLE failed; clients will resend at COMMIT"
                );
            }
            // The data is in the page cache: later requests may go on while it is sent
            // to disk.
            drop(ticket);
            if len >= FLUSH_BEHIND_MIN {
                if let Err(e) = vfs.start_writeback(&handle, offset, len as u64) {
                    tracing::debug!(error = ?e, "flush-behind");
                }
            }
        };
        Some(Executed {
            reply,
            after_reply: Some(Box::new(work)),
        })
    }
}

impl<E: Nfs3Executor> FsService for ShareService<E> {
    fn execute(&self, req: &FsRequest) -> Executed {
        let vfs = self.shares.get(&req.share_id).unwrap_or(&self.unknown);
        if let Some(wb) = &self.write_behind {
            wb.wait(barrier(&req.call));
            if let Nfs3Call::Write(a) = &req.call {
                if let Some(done) = self.try_write_behind(wb, vfs, req, a) {
                    return done;
                }
            }
        }
        self.executor
            .execute(vfs.as_ref(), req.share_id, &req.creds, &req.call)
            .into()
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
    fn rename(&self, _: &Handle, _: &[u8], _: &Handle, _: &[u8]) -> VfsResult<()> {
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
    use std::sync::Mutex;

    /// Records which backend the service routed to.
    #[derive(Debug, Default)]
    struct Probe {
        seen: Mutex<Vec<(u32, Result<(), VfsError>)>>,
    }
    impl Nfs3Executor for Arc<Probe> {
        fn execute(&self, vfs: &dyn Vfs, share_id: u32, _: &Creds, _: &Nfs3Call) -> Nfs3Reply {
            let r = vfs.getattr(&vfs.root()).map(|_| ());
            self.seen.lock().unwrap().push((share_id, r));
            Nfs3Reply::Null
        }
    }

    #[test]
    fn unknown_share_is_stale() {
        let probe = Arc::new(Probe::default());
        let svc = ShareService::new(Arc::clone(&probe), HashMap::new());
        let req = FsRequest {
            id: proto_nfs::server::FsRequestId(1),
            share_id: 42,
            creds: Creds {
                uid: 1,
                gid: 1,
                gids: vec![],
            },
            call: Nfs3Call::Null,
        };
        let _ = svc.execute(&req);
        assert_eq!(
            *probe.seen.lock().unwrap(),
            vec![(42, Err(VfsError::Stale))]
        );
    }
}
