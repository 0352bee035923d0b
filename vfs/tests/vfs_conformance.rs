//! Runs the shared backend conformance suite (`vfs_suite`) against every [`Vfs`] backend.
//!
//! [`Vfs`]: vfs::Vfs

mod vfs_suite;

use vfs::memory::{MemoryFs, MemoryFsConfig, VirtualClock};
use vfs::Timestamp;

#[test]
fn memory_fs_conforms() {
    let clock = VirtualClock::new(Timestamp {
        secs: 1_700_000_000,
        nsecs: 0,
    });
    let fs = MemoryFs::with_virtual_clock(MemoryFsConfig::default(), clock.clone());
    // Advance the clock on every check so ServerNow differs from earlier times.
    clock.advance(1, 0);
    vfs_suite::run_all(&fs);
}

#[test]
fn local_fs_conforms() {
    let dir = vfs_suite::TempDir::new("conformance");
    let fs = vfs::local::LocalFs::open(dir.path()).expect("open share");
    vfs_suite::run_all(&fs);
}

#[test]
fn local_fs_conforms_with_a_tiny_fd_cache() {
    // Every node is evicted almost at once: handles must be re-resolved through the name
    // map (and scans) all the time, and still behave the same.
    let dir = vfs_suite::TempDir::new("conformance-tiny");
    let opts = vfs::local::LocalFsOptions {
        open_files: 2,
        ..Default::default()
    };
    let fs = vfs::local::LocalFs::with_options(dir.path(), opts).expect("open share");
    vfs_suite::run_all(&fs);
}
