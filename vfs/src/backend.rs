//! Opening the backend that serves one share, the same way in every runtime: which backend,
//! the file-system id a share's in-memory tree reports, and a one-line reason when a
//! share's directory cannot be served.

use std::path::Path;
use std::sync::Arc;

use crate::local::LocalFs;
use crate::memory::{system_clock, MemoryFs, MemoryFsConfig};
use crate::Vfs;

/// Which backend serves the shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A real directory on disk ([`LocalFs`]).
    Local,
    /// An in-memory tree, empty at start and lost at exit ([`MemoryFs`], tests and demos).
    Memory,
}

/// The file-system id of share `share_id`'s in-memory tree: distinct per share so clients
/// see distinct file systems (RFC 1813 §2.3.5 fsid); "Janu" in the high half, the share id
/// in the low half.
pub fn memory_fsid(share_id: u32) -> u64 {
    0x4a61_6e75_0000_0000 | u64::from(share_id)
}

/// Opens the backend of share `share_id`, served from `dir` (ignored by the memory
/// backend). The error is the reason, for a one-line message that names the share.
pub fn open_share(backend: Backend, share_id: u32, dir: &Path) -> Result<Arc<dyn Vfs>, String> {
    match backend {
        Backend::Memory => {
            let config = MemoryFsConfig {
                fsid: memory_fsid(share_id),
                ..MemoryFsConfig::default()
            };
            Ok(Arc::new(MemoryFs::new(config, system_clock())))
        }
        Backend::Local => match LocalFs::open(dir) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_share_reports_its_own_fsid_and_bad_directories_say_why() {
        let a = open_share(Backend::Memory, 1, Path::new("")).expect("memory");
        let b = open_share(Backend::Memory, 2, Path::new("")).expect("memory");
        let fsid = |v: &Arc<dyn Vfs>| v.getattr(&v.root()).expect("root").fsid;
        assert_eq!(fsid(&a), memory_fsid(1));
        assert_ne!(fsid(&a), fsid(&b));
        let missing = std::env::temp_dir().join(format!("janus-no-such-{}", std::process::id()));
        let reason = |dir: &Path| match open_share(Backend::Local, 1, dir) {
            Ok(_) => panic!("{} opened", dir.display()),
            Err(e) => e,
        };
        let e = reason(&missing);
        assert!(e.contains("no such directory"), "{e}");
        let file = std::env::temp_dir().join(format!("janus-a-file-{}", std::process::id()));
        std::fs::write(&file, b"x").expect("temp file");
        let e = reason(&file);
        let _ = std::fs::remove_file(&file);
        assert_eq!(e, "not a directory");
        assert!(open_share(Backend::Local, 1, &std::env::temp_dir()).is_ok());
    }
}
