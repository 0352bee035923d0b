//! `janus serve`: from a resolved [`Config`] to a running event loop.
//!
//! Start-up order, chosen so a failure leaves nothing behind that matters:
//! 1. bind every port (a port problem is reported before anything else is touched);
//! 2. open every share's backend and build the exports;
//! 3. open and lock the state directory, bump the boot counter, open the journal (only a
//!    start that can serve counts as a boot);
//! 4. compact the journal if it is mostly dead records, build the server core over its
//!    records (lock table, monitor list, grace period), derive the NFS write verifier from
//!    the boot counter, start the workers and the loop.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use server::{Core, CoreConfig, CoreLimits, ShareBackend};
use vfs::Vfs;

use crate::config::{BackendKind, Config, ShareConfig};
use crate::event_loop::{EventLoop, EventLoopParts};
use crate::journal::Journal;
use crate::listen::{BindError, BoundAddrs, Listeners};
use crate::state::{StateDir, StateError};

/// Why `janus serve` could not start. [`StartError::exit_code`] says how the process ends.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A port could not be bound.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The state directory could not be used.
    #[error(transparent)]
    State(#[from] StateError),
    /// A share's backend could not be opened (missing directory, not a directory, ...).
    #[error("share {name:?} ({path}): {reason}")]
    Share {
        /// Share name.
        name: String,
        /// Its directory.
        path: String,
        /// Why.
        reason: String,
    },
    /// A share's root handle does not fit in an NFS file handle (a backend bug).
    #[error("share {0:?}: the backend's root handle is longer than 59 bytes")]
    RootHandle(String),
    /// The lock state in the journal could not be restored.
    #[error("locking state: {0}")]
    Locks(String),
    /// The SMB users file could not be used (its message names the file).
    #[error(transparent)]
    Users(#[from] crate::users_file::UsersFileError),
    /// Setting up the event loop failed.
    #[error("cannot start the event loop: {0}")]
    Io(#[from] std::io::Error),
}

impl StartError {
    /// 2 for configuration problems (a share's directory, the users file), 1 for the rest.
    pub fn exit_code(&self) -> i32 {
        match self {
            StartError::Share { .. } | StartError::Users(_) => 2,
            _ => 1,
        }
    }
}

/// Opens one share's backend (the error is the reason, for the one-line message).
pub type OpenShareFn = dyn Fn(BackendKind, &ShareConfig) -> Result<Arc<dyn Vfs>, String>;

/// How shares are made (the binary passes the real backends; tests may pass their own).
pub struct Backends<'a> {
    /// Opens one share's backend.
    pub open_share: &'a OpenShareFn,
}

/// A started server: sockets bound, state open; [`Running::run`] serves until shut down.
pub struct Running {
    /// The event loop.
    pub event_loop: EventLoop,
    state: StateDir,
    addrs: BoundAddrs,
    shares: Vec<ShareConfig>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("addrs", &self.addrs)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Binds, opens the state and the shares, and builds the event loop.
pub fn start(config: &Config, backends: Backends<'_>) -> Result<Running, StartError> {
    let portmap = (config.portmap_port != 0).then_some(config.portmap_port);
    let mut listeners = Listeners::bind(config.bind, config.nfs_port, portmap)?;
    if config.smb_port != 0 {
        listeners = listeners.with_smb(config.bind, config.smb_port)?;
    }
    start_with_listeners(config, listeners, backends)
}

/// As [`start`], with sockets already bound (tests bind port 0 for both services).
pub fn start_with_listeners(
    config: &Config,
    listeners: Listeners,
    backends: Backends<'_>,
) -> Result<Running, StartError> {
    let addrs = listeners.addrs()?;
    // Loaded now, so a bad users file is reported at start rather than at the first logon.
    let users = match &config.users {
        Some(path) => {
            let mut users = crate::users_file::load(path)?;
            let read = |f: &str| std::fs::read_to_string(f).unwrap_or_default();
            users.resolve_groups(&read("/etc/passwd"), &read("/etc/group"));
            tracing::info!(users = users.len(), file = %path.display(), "SMB users loaded");
            users
        }
        None => server::users::Users::new(),
    };

    let mut backends_by_id = Vec::new();
    for s in &config.shares {
        let vfs = (backends.open_share)(config.backend, s).map_err(|reason| StartError::Share {
            name: s.name.clone(),
            path: s.path.display().to_string(),
            reason,
        })?;
        backends_by_id.push(ShareBackend {
            share_id: s.share_id,
            vfs,
        });
    }

    let state = StateDir::open(&config.state_dir)?;
    let mut journal: Journal = state.open_journal()?;
    tracing::info!(
        state = %state.path().display(),
        boot = state.boot_count(),
        clean = journal.was_clean(),
        "state directory opened"
    );
    if !journal.was_clean() {
        tracing::warn!("the previous run did not shut down cleanly");
    }
    let records = compacted(&mut journal).map_err(StartError::Locks)?;

    let unix_secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let verifier = state.write_verifier(unix_secs);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    // The SMB machine's randomness (challenges, session ids, keys' salts) and a fresh
    // ServerGuid for a state directory that has none yet.
    let mut random = [0u8; 48];
    let mut got = 0;
    while got < random.len() {
        got += rustix::rand::getrandom(&mut random[got..], rustix::rand::GetRandomFlags::empty())
            .map_err(std::io::Error::from)?;
    }
    let (seed, guid) = random.split_at(32);
    let smb_server_guid = state.smb_server_guid(guid.try_into().unwrap_or([1; 16]))?;
    let core_config = CoreConfig {
        shares: config
            .shares
            .iter()
            .map(|s| server::ShareConfig {
                share_id: s.share_id,
                name: s.name.clone(),
                read_only: s.read_only,
                clients: s.clients.clone(),
                root_squash: s.root_squash,
                all_squash: s.all_squash,
                anon_uid: s.anon_uid,
                anon_gid: s.anon_gid,
                smb: s.smb,
            })
            .collect(),
        // The server answers an unspecified address as loopback (ServerConfig docs).
        bind_addr: addrs.nfs.ip(),
        nfs_port: addrs.nfs.port(),
        portmap_port: addrs.portmap.map_or(0, |a| a.port()),
        limits: CoreLimits {
            max_record: config.limits.max_record,
            max_in_flight_per_conn: config.limits.max_in_flight_per_conn,
            drc_entries: config.limits.drc_entries,
            smb_logon_timeout: config.limits.smb_logon_timeout,
            ..CoreLimits::default()
        },
        nlm: config.nlm_settings(),
        boot_count: state.boot_count(),
        write_verifier: verifier,
        // Outbound xids must not repeat those of an earlier boot.
        callback_xid: nanos ^ ((state.boot_count() as u32) << 20),
        write_behind: true,
        users,
        smb_seed: seed.try_into().unwrap_or([1; 32]),
        smb_server_guid,
    };
    let core = Core::new(
        core_config,
        backends_by_id,
        records,
        journal.was_clean(),
        Instant::now(),
    )
    .map_err(|e| match e {
        server::StartError::RootHandle(name) => StartError::RootHandle(name),
        other => StartError::Locks(format!("journal {}: {other}", journal.path().display())),
    })?;
    let report = core.start_report();
    tracing::info!(
        lock_records = report.lock_records,
        monitor_records = report.nsm_records,
        grace = report.grace,
        nsm_state = report.nsm_state,
        "NLM/NSM state restored"
    );
    let event_loop = EventLoop::new(EventLoopParts {
        listeners,
        core,
        limits: config.limits.clone(),
        workers: config.workers,
        journal,
    })?;
    Ok(Running {
        event_loop,
        state,
        addrs,
        shares: config.shares.clone(),
    })
}

impl Running {
    /// Where the listeners are bound.
    pub fn addrs(&self) -> BoundAddrs {
        self.addrs
    }

    /// The boot counter of this start.
    pub fn boot_count(&self) -> u64 {
        self.state.boot_count()
    }

    /// What to print on stdout: where Janus listens and how to mount each share.
    pub fn mount_hints(&self) -> String {
        mount_hints(self.addrs, &self.shares, &host_name())
    }

    /// Serves until SIGINT/SIGTERM or a [`crate::event_loop::ShutdownHandle`]; the journal
    /// is flushed and marked clean before it returns.
    pub fn run(self) -> std::io::Result<()> {
        let Running {
            event_loop, state, ..
        } = self;
        event_loop.run()?;
        drop(state); // releases the state-directory lock last
        Ok(())
    }
}

/// The journal's records, after rewriting the journal with the live ones only when it is
/// mostly dead records (`server::nlm_compact` decides).
fn compacted(journal: &mut Journal) -> Result<Vec<Vec<u8>>, String> {
    let raw = journal.replay().map_err(|e| e.to_string())?;
    let live = server::nlm_compact::live_indices(&raw);
    if !server::nlm_compact::worth_it(raw.len(), live.len()) {
        return Ok(raw);
    }
    let kept: Vec<Vec<u8>> = live.iter().map(|&i| raw[i].clone()).collect();
    match journal.rewrite(&kept) {
        Ok(()) => {
            tracing::info!(before = raw.len(), after = kept.len(), "journal compacted");
            Ok(kept)
        }
        Err(e) => {
            tracing::warn!("journal not compacted: {e}");
            Ok(raw)
        }
    }
}

/// Raises the soft open-file limit (RLIMIT_NOFILE) to the hard one, as every connection
/// is a descriptor (systemd and most shells start services at a soft 1,024). Returns the
/// limit now in force; `None` when unlimited.
pub fn raise_nofile() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let cur = getrlimit(Resource::Nofile);
    if cur.current != cur.maximum {
        let raised = Rlimit {
            current: cur.maximum,
            maximum: cur.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::debug!("cannot raise the open-file limit: {e}");
        }
    }
    getrlimit(Resource::Nofile).current
}

/// The most client connections an open-file limit of `nofile` leaves room for, and the
/// one-line warning when that is fewer than `max_connections`. Kept apart: listeners,
/// poll, waker, signals, state lock and journal, callback sockets (64 together), and each
/// local share's descriptor cache (two per cached file).
pub fn connections_within(nofile: Option<u64>, config: &Config) -> (usize, Option<String>) {
    let want = config.limits.max_connections;
    let Some(nofile) = nofile else {
        return (want, None);
    };
    let per_share = 2 * vfs::local::LocalFsOptions::default().open_files as u64;
    let local = if config.backend == BackendKind::Local {
        config.shares.len() as u64
    } else {
        0
    };
    let reserved = 64 + local * per_share;
    let room = usize::try_from(nofile.saturating_sub(reserved)).unwrap_or(usize::MAX);
    if room >= want {
        return (want, None);
    }
    let max = room.max(1);
    let warning = format!(
        "max_connections {want} cannot be met: the open-file limit is {nofile} and {reserved}          descriptors are kept for the shares, state and callbacks, so at most {max}          connections are served; raise the hard limit (ulimit -Hn, systemd LimitNOFILE=) or          lower max_connections"
    );
    (max, Some(warning))
}

/// This machine's host name (uname nodename).
pub fn host_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// The listening and mounting instructions for `addrs` and `shares`
/// (`server::hints::mount_hints`); `hostname` is used when bound to the unspecified address.
pub fn mount_hints(addrs: BoundAddrs, shares: &[ShareConfig], hostname: &str) -> String {
    let shares: Vec<server::hints::ShareHint> = shares
        .iter()
        .map(|s| server::hints::ShareHint {
            name: s.name.clone(),
            path: s.path.display().to_string(),
            read_only: s.read_only,
        })
        .collect();
    server::hints::mount_hints(addrs.nfs, addrs.portmap, addrs.smb, &shares, hostname)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn the_soft_open_file_limit_is_raised_to_the_hard_one() {
        use rustix::process::{getrlimit, Resource};
        let now = raise_nofile();
        let lim = getrlimit(Resource::Nofile);
        assert_eq!(now, lim.current);
        assert_eq!(lim.current, lim.maximum);
    }

    #[test]
    fn connections_fit_in_the_open_file_limit() {
        let mut c = crate::config::Config::resolve(
            &clap::Parser::try_parse_from(["janus", "serve", "--share", "a=/a", "--share", "b=/b"])
                .map(|cli: crate::cli::Cli| match cli.command {
                    crate::cli::Command::Serve(a) => a,
                    _ => unreachable!("serve"),
                })
                .expect("flags"),
            None,
            None,
        )
        .expect("config");
        assert_eq!(connections_within(None, &c), (1024, None));
        // Two local shares keep 2 x 512 descriptors, plus 64.
        assert_eq!(connections_within(Some(1 << 20), &c), (1024, None));
        assert_eq!(connections_within(Some(2112), &c), (1024, None));
        let (max, w) = connections_within(Some(2111), &c);
        assert_eq!(max, 1023);
        let w = w.expect("a warning");
        assert!(!w.contains('\n'), "{w}");
        assert!(
            w.contains("max_connections 1024") && w.contains("at most 1023"),
            "{w}"
        );
        assert!(w.contains("open-file limit is 2111"), "{w}");
        assert_eq!(connections_within(Some(100), &c).0, 1, "never zero");
        // The memory backend keeps no descriptors per share.
        c.backend = BackendKind::Memory;
        assert_eq!(connections_within(Some(1088), &c), (1024, None));
    }

    #[test]
    fn hints_name_ports_and_urls() {
        let share = ShareConfig {
            name: "export".into(),
            path: PathBuf::from("/srv/data"),
            share_id: 1,
            read_only: true,
            clients: vec![],
            root_squash: true,
            all_squash: false,
            anon_uid: 65534,
            anon_gid: 65534,
            smb: server::SmbShareConfig::default(),
        };
        let addrs = BoundAddrs {
            nfs: "127.0.0.1:20490".parse().unwrap(),
            portmap: None,
            smb: None,
        };
        let h = mount_hints(addrs, std::slice::from_ref(&share), "box");
        assert!(h.contains(
            "mount -t nfs -o vers=3,proto=tcp,port=20490,mountport=20490,nolock 127.0.0.1:/export /mnt"
        ), "{h}");
        assert!(h.contains("nfs://127.0.0.1/export?version=3&nfsport=20490&mountport=20490"));
        assert!(h.contains("/srv/data, read-only"));
        assert!(h.contains("no portmapper"));
        let addrs = BoundAddrs {
            nfs: "0.0.0.0:2049".parse().unwrap(),
            portmap: Some("0.0.0.0:111".parse().unwrap()),
            smb: None,
        };
        let h = mount_hints(addrs, &[share], "box");
        assert!(h.contains("nolock box:/export /mnt"), "{h}");
        assert!(h.contains("portmapper on 0.0.0.0:111"));
        let addrs = BoundAddrs {
            nfs: "[::1]:2049".parse().unwrap(),
            portmap: None,
            smb: None,
        };
        let h = mount_hints(addrs, &[], "box");
        assert!(h.contains("[::1]:2049"));
    }
}
