//! The production backends and executor of `janus serve`: the `memory` and `local` file
//! systems (`crate::vfs`) under the NFSv3 executor (`crate::nfs3_exec`).

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::{BackendKind, ShareConfig};
use crate::vfs::memory::{system_clock, MemoryFs, MemoryFsConfig};
use crate::vfs::Vfs;
use crate::workers::FsService;

/// Opens one share's backend.
pub fn open_share(kind: BackendKind, share: &ShareConfig) -> Result<Arc<dyn Vfs>, String> {
    match kind {
        BackendKind::Memory => {
            let config = MemoryFsConfig {
                // Distinct per share so clients see distinct file systems (RFC 1813 §2.3.5
                // fsid); "JanusMem" in the high half, the share id in the low half.
                fsid: 0x4a61_6e75_0000_0000 | u64::from(share.share_id),
                ..MemoryFsConfig::default()
            };
            Ok(Arc::new(MemoryFs::new(config, system_clock())))
        }
        // Wired when the local backend lands on main (issue 2, helper "vfs").
        BackendKind::Local => {
            Err("the local backend is not in this build yet; use --backend memory".into())
        }
    }
}

/// Builds the worker service: the NFSv3 executor over `shares`.
pub fn make_service(verifier: [u8; 8], shares: HashMap<u32, Arc<dyn Vfs>>) -> Arc<dyn FsService> {
    let _ = (verifier, shares);
    // Until the executor lands on main (issue 2, helper "nfs3") every file-system call is
    // answered NFS3ERR_NOTSUPP. Replaced by ShareService<nfs3_exec::Executor>.
    Arc::new(NotYet)
}

#[derive(Debug)]
struct NotYet;

impl FsService for NotYet {
    fn execute(&self, req: &proto_nfs::server::FsRequest) -> proto_nfs::nfs3::Nfs3Reply {
        proto_nfs::nfs3::Nfs3Reply::error_for(&req.call, proto_nfs::nfs3::Nfs3Status::NotSupp)
    }
}
