//! Runs the shared backend conformance suite (`vfs_suite`) against every [`Vfs`] backend.
//!
//! [`Vfs`]: runtime_mio::vfs::Vfs

mod vfs_suite;

use runtime_mio::vfs::memory::{MemoryFs, MemoryFsConfig, VirtualClock};
use runtime_mio::vfs::Timestamp;

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
