//! Configuration: timers (docs/cross-protocol.md §6) and bounds. Every value here is read by the
//! table and has a test that shows its effect (docs/architecture.md lesson 5).

use std::time::Duration;

/// Table configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// How long an SMB client has to acknowledge a lease/oplock break before it is treated
    /// as acknowledged to NONE (MS-SMB2 3.3.6.5, <247>: 35 s; Samba `OPLOCK_BREAK_TIMEOUT`).
    pub break_timeout: Duration,
    /// The shared NLM + SMB grace period after a restart (docs/cross-protocol.md §5; our
    /// choice: 90 s).
    pub grace_period: Duration,
    /// `T_nfs` (O3): how long an NFS operation waits for a break before the NFS layer answers
    /// NFS3ERR_JUKEBOX (the waiter is then dropped).
    pub nfs_wait: Duration,
    /// `T_nlm` (O4): how long an NLM request is held on a break before NLM answers
    /// NLM4_BLOCKED (blocking requests keep waiting) or drops the reply (non-blocking).
    pub nlm_wait: Duration,
    /// Most byte-range locks the whole table holds; more → [`Deny::NoLocks`](crate::Deny).
    pub max_locks: usize,
    /// Most byte-range locks on one file.
    pub max_locks_per_file: usize,
    /// Most waiters queued on one file.
    pub max_waiters_per_file: usize,
    /// O2 switch: when true NLM locks do not gate SMB READ/WRITE (ONTAP behaviour); default
    /// false (mandatory toward SMB, Windows Server for NFS / Samba strict locking).
    pub nlm_locks_advisory_for_smb: bool,
    /// When true NFS REMOVE/RENAME ignore SMB share modes and open targets (ONTAP
    /// UNIX-style volumes, matrix A rows 7–9 `unix_semantics=on`).
    pub unix_semantics: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            break_timeout: Duration::from_secs(35),
            grace_period: Duration::from_secs(90),
            nfs_wait: Duration::from_secs(1),
            nlm_wait: Duration::from_secs(5),
            max_locks: 4_000_000,
            max_locks_per_file: 100_000,
            max_waiters_per_file: 1024,
            nlm_locks_advisory_for_smb: false,
            unix_semantics: false,
        }
    }
}
