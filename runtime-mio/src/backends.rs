//! The production backends of `janus serve`: the `memory` and `local` file systems
//! (the `vfs` crate), one per share.

use std::sync::Arc;

use crate::config::{BackendKind, ShareConfig};
use vfs::local::LocalFs;
use vfs::memory::{system_clock, MemoryFs, MemoryFsConfig};
use vfs::Vfs;

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
