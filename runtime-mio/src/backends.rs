//! The production backends and executor of `janus serve`: the `memory` and `local` file
//! systems (`crate::vfs`) under the NFSv3 executor ([`crate::nfs3_exec::Executor`]).

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::{BackendKind, ShareConfig};
use crate::nfs3_exec::Executor;
use crate::service::{Nfs3Executor, ShareService};
use crate::vfs::local::LocalFs;
use crate::vfs::memory::{system_clock, MemoryFs, MemoryFsConfig};
use crate::vfs::Vfs;
use crate::workers::FsService;
use crate::write_behind::{WriteBehind, MAX_PENDING_BYTES};

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
        BackendKind::Local => match LocalFs::open(&share.path) {
            Ok(fs) => Ok(Arc::new(fs)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err("no such directory; create it or fix the path".into())
            }
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error()) => {
                Err("not a directory".into())
            }
            Err(e) => Err(format!("cannot open the directory: {e}")),
        },
    }
}

/// Builds the worker service: the NFSv3 executor over `shares`, with UNSTABLE WRITEs
/// written behind their replies on backends that support it ([`crate::write_behind`]).
pub fn make_service(verifier: [u8; 8], shares: HashMap<u32, Arc<dyn Vfs>>) -> Arc<dyn FsService> {
    let executor = Executor::new(verifier);
    let wb = Arc::new(WriteBehind::new(
        Arc::clone(executor.verifier()),
        MAX_PENDING_BYTES,
    ));
    Arc::new(ShareService::new(executor, shares).with_write_behind(wb))
}

impl Nfs3Executor for Executor {
    fn execute(
        &self,
        vfs: &dyn Vfs,
        share_id: u32,
        creds: &proto_nfs::server::Creds,
        call: &proto_nfs::nfs3::Nfs3Call,
    ) -> proto_nfs::nfs3::Nfs3Reply {
        Executor::execute(self, vfs, share_id, creds, call)
    }

    fn write_behind(
        &self,
        vfs: &dyn Vfs,
        share_id: u32,
        creds: &proto_nfs::server::Creds,
        args: &proto_nfs::nfs3::WriteArgs,
    ) -> Option<Result<crate::nfs3_exec::DeferredWrite, proto_nfs::nfs3::Nfs3Reply>> {
        Executor::write_behind(self, vfs, share_id, creds, args)
    }
}
