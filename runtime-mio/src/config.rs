//! Configuration of `janus serve`: the TOML file, the command-line flags, and the resolved
//! [`Config`] the runtime starts from.
//!
//! Precedence, highest first: command-line flag, config file, built-in default. The one
//! exception is the log filter, where `RUST_LOG` sits between the config file and the flag
//! (`--log` > `RUST_LOG` > `log =` in the file > `info`), so a one-off `RUST_LOG=debug` works
//! without editing the file.
//!
//! Per-share options (`read_only`, `clients`, `root_squash`, `all_squash`, `anon_uid`,
//! `anon_gid`, `share_id`, and for SMB `guest_ok`, `smb_encrypt`, `smb_signing`,
//! `case_insensitive`) live in the file; `read_only` and `clients` apply to both protocols. A `--share NAME=DIR` flag for a name that the
//! file also declares replaces that share's directory and keeps its options, except that
//! `--root-squash on|off` and `--all-squash on|off` override `root_squash` / `all_squash` of
//! every share given with `--share`.
//!
//! [`squash_warnings`] is the start-up check that a writable share's directory is writable
//! for the anonymous ids its squashed clients run as (otherwise they get NFS3ERR_ACCES with
//! nothing in the server's log saying why).
//!
//! Share ids are carried in every NFS file handle (`proto_nfs::nfs3::FileHandle`), so they
//! must be stable across restarts: a share's id is the 32-bit FNV-1a hash of its name unless
//! the file sets `share_id`, and two shares with the same id are refused at start.
//!
//! Paths in the config file are relative to the file's directory; paths given as flags are
//! relative to the working directory.
//!
//! Example file (every key is optional except a share's `name`):
//!
//! ```toml
//! bind = "127.0.0.1"
//! nfs_port = 20490
//! portmap_port = 0
//! smb_port = 0
//! users = "./janus-users"
//! state = "./janus-state"
//! log = "info"
//! backend = "local"
//! grace_period = 90
//! nlm_callback_portmap_port = 111
//! nfs_wait_ms = 1000
//! nlm_wait_ms = 5000
//! break_timeout = 35
//! workers = 4
//! max_connections = 1024
//! max_connections_per_client = 64
//! record_timeout = 30
//! smb_logon_timeout = 30
//!
//! [[share]]
//! name = "export"
//! path = "./data"
//! read_only = false
//! clients = ["127.0.0.0/8", "::1/128"]
//! root_squash = true
//! all_squash = false
//! anon_uid = 65534
//! anon_gid = 65534
//! guest_ok = false
//! smb_encrypt = "desired"
//! smb_signing = "enabled"
//! case_insensitive = true
//! ```

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use proto_nfs::server::{Cidr, Creds};
use serde::Deserialize;

use crate::cli::ServeArgs;

/// Default `--bind`.
pub const DEFAULT_BIND: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
/// Default `--nfs-port` (RFC 1813 §2.2 does not fix a port; 2049 is the IANA assignment).
pub const DEFAULT_NFS_PORT: u16 = 2049;
/// Default `--portmap-port` (RFC 1833 §3: the portmapper listens on 111).
pub const DEFAULT_PORTMAP_PORT: u16 = 111;
/// Default `--smb-port` (MS-SMB2 §1.9: SMB 2 over direct TCP uses port 445).
pub const DEFAULT_SMB_PORT: u16 = 445;
/// Default `--state`.
pub const DEFAULT_STATE_DIR: &str = "./janus-state";
/// Default `--log`.
pub const DEFAULT_LOG: &str = "info";
/// Default `--grace-period` in seconds (the NLM grace period, XNFS NLM "Grace period").
pub const DEFAULT_GRACE_PERIOD_SECS: u64 = 90;
/// Default number of file-system worker threads.
pub const DEFAULT_WORKERS: usize = 4;
/// Default maximum number of simultaneous TCP connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default maximum of simultaneous TCP connections from one client (IPv4 address or IPv6
/// /64): 64 single-connection clients behind one NAT address, 1/16 of the default table
/// (see `server::admission` for the reasoning).
pub const DEFAULT_MAX_CONNECTIONS_PER_CLIENT: usize = 64;
/// Default time a record may take from its first byte to its last (slowloris): a 1 MiB
/// WRITE at 36 KB/s still makes it; a Linux client gives up on a reply after 60 s anyway
/// (`timeo=600`, nfs(5)).
pub const DEFAULT_RECORD_TIMEOUT: Duration = Duration::from_secs(30);
/// Default anonymous uid and gid (`nobody`/`nogroup`).
pub const DEFAULT_ANON_ID: u32 = 65534;
/// Largest RPC record accepted by default: a 1 MiB WRITE (FSINFO wtmax) plus headers.
pub const DEFAULT_MAX_RECORD: usize = 1024 * 1024 + 64 * 1024;

/// Which file-system backend serves the shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// A real directory on disk.
    Local,
    /// An in-memory tree, empty at start and lost at exit (tests and demos).
    Memory,
}

impl BackendKind {
    /// Opens `share`'s backend (`vfs::backend`); the error is the reason.
    pub fn open_share(self, share: &ShareConfig) -> Result<Arc<dyn vfs::Vfs>, String> {
        let backend = match self {
            BackendKind::Local => vfs::backend::Backend::Local,
            BackendKind::Memory => vfs::backend::Backend::Memory,
        };
        vfs::backend::open_share(backend, share.share_id, &share.path)
    }
}

/// Limits that bound memory per connection and overall (back-pressure, never unbounded
/// queues).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Maximum simultaneous TCP connections. A new one beyond it closes the connection
    /// idle longest without a request in progress, or is closed at once if there is none
    /// (`server::admission`).
    pub max_connections: usize,
    /// Maximum simultaneous TCP connections from one client (IPv4 address, IPv6 /64);
    /// beyond it the client's own idle-longest connection gives way.
    pub max_connections_per_client: usize,
    /// A record not complete this long after its first byte closes its connection.
    pub record_timeout: Duration,
    /// An SMB connection without a completed SESSION_SETUP this long after its accept is
    /// closed (`server::admission::LogonDeadlines`).
    pub smb_logon_timeout: Duration,
    /// Largest RPC record, all fragments together (RFC 5531 §11).
    pub max_record: usize,
    /// Reply bytes queued for one connection above which its requests are not read.
    pub write_queue_soft: usize,
    /// Reply bytes queued for one connection above which it is closed (the peer does not
    /// read its replies).
    pub write_queue_hard: usize,
    /// Requests one connection may have at the file system before its bytes are not read.
    pub max_in_flight_per_conn: usize,
    /// Duplicate-request cache entries.
    pub drc_entries: usize,
    /// Datagrams queued on a UDP socket when the kernel buffer is full; more are dropped
    /// (the client retransmits, RFC 5531 §3).
    pub udp_queue: usize,
    /// File-system jobs queued for the workers before the event loop keeps them itself.
    pub job_queue: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_client: DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
            record_timeout: DEFAULT_RECORD_TIMEOUT,
            smb_logon_timeout: server::DEFAULT_SMB_LOGON_TIMEOUT,
            max_record: DEFAULT_MAX_RECORD,
            write_queue_soft: 4 * 1024 * 1024,
            write_queue_hard: 64 * 1024 * 1024,
            max_in_flight_per_conn: 32,
            drc_entries: 4096,
            udp_queue: 256,
            job_queue: 256,
        }
    }
}

/// One share, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareConfig {
    /// Name; the MOUNT path is `/<name>`.
    pub name: String,
    /// Directory served (ignored by the memory backend).
    pub path: PathBuf,
    /// Id carried in file handles.
    pub share_id: u32,
    /// Refuse modifications (NFS3ERR_ROFS).
    pub read_only: bool,
    /// Allowed client networks; empty = everyone.
    pub clients: Vec<Cidr>,
    /// Map uid/gid 0 to the anonymous ids.
    pub root_squash: bool,
    /// Map every uid/gid to the anonymous ids.
    pub all_squash: bool,
    /// Anonymous uid.
    pub anon_uid: u32,
    /// Anonymous gid.
    pub anon_gid: u32,
    /// SMB settings (`guest_ok`, `smb_encrypt`, `smb_signing`, `case_insensitive`).
    pub smb: server::SmbShareConfig,
}

/// Everything `janus serve` needs, resolved from flags, file and defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Address every listener binds to.
    pub bind: IpAddr,
    /// Port of NFS, MOUNT, NLM, NSM (and a portmapper answering there too).
    pub nfs_port: u16,
    /// Port of the stand-alone portmapper; 0 = none.
    pub portmap_port: u16,
    /// Port of SMB 2/3; 0 = off.
    pub smb_port: u16,
    /// Whether `smb_port` was asked for (flag or file) rather than the default.
    pub smb_port_given: bool,
    /// The SMB users file (`--users`, `users =`).
    pub users: Option<PathBuf>,
    /// State directory (boot counter, journal).
    pub state_dir: PathBuf,
    /// tracing `EnvFilter` directive.
    pub log: String,
    /// Backend of every share.
    pub backend: BackendKind,
    /// NLM/SMB grace period after a restart.
    pub grace_period: Duration,
    /// Port of the clients' portmappers for NLM callbacks and SM_NOTIFY.
    pub nlm_callback_portmap_port: u16,
    /// `T_nfs` (O3): how long an NFS operation waits on an SMB lease break.
    pub nfs_wait: Duration,
    /// `T_nlm` (O4): how long an NLM request is held on an SMB lease break.
    pub nlm_wait: Duration,
    /// SMB lease/oplock break timeout (MS-SMB2 3.3.6.5).
    pub break_timeout: Duration,
    /// File-system worker threads.
    pub workers: usize,
    /// Memory and connection limits.
    pub limits: Limits,
    /// The shares, in the order given (file first, then new flags).
    pub shares: Vec<ShareConfig>,
}

/// A configuration problem; its `Display` is the one line `janus` prints before exiting
/// with status 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The config file is not valid TOML or has a wrong key or type.
    #[error("config file {path}: {message}")]
    ParseFile {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line number.
        message: String,
    },
    /// A `--share` flag is not `NAME=DIR`.
    #[error("--share {0:?}: expected NAME=DIR, e.g. --share export=./data")]
    ShareSpec(String),
    /// A share name is empty, too long or contains `/`, whitespace or control characters.
    #[error(
        "share name {0:?}: must be 1-255 characters without '/', whitespace or control characters"
    )]
    ShareName(String),
    /// Two shares in the config file have the same name.
    #[error("share {0:?} is declared twice in the config file")]
    DuplicateShare(String),
    /// A share in the config file has no `path` and no `--share` flag gives one.
    #[error(
        "share {0:?} has no path: set path = \"DIR\" in the config file or pass --share {0}=DIR"
    )]
    SharePath(String),
    /// Two shares have the same share id.
    #[error("shares {0:?} and {1:?} have the same share id {2:#010x}: set share_id = N for one of them in the config file")]
    ShareIdCollision(String, String, u32),
    /// A `clients` entry is not a valid CIDR network.
    #[error("share {share:?}: client network {value:?}: {reason}")]
    Cidr {
        /// Share.
        share: String,
        /// The entry.
        value: String,
        /// Why.
        reason: String,
    },
    /// No share was configured.
    #[error("no share to serve: pass --share NAME=DIR or add a [[share]] to the config file")]
    NoShares,
    /// The log filter is not valid `EnvFilter` syntax.
    #[error("log filter {filter:?}: {reason}")]
    LogFilter {
        /// The filter.
        filter: String,
        /// Why.
        reason: String,
    },
    /// A share key has a value it does not take.
    #[error("share {share:?}: {key} = {value:?}: {reason}")]
    ShareKey {
        /// Share.
        share: String,
        /// The key.
        key: &'static str,
        /// The value given.
        value: String,
        /// What it takes.
        reason: &'static str,
    },
    /// A numeric option is out of range.
    #[error("{what}: {reason}")]
    Value {
        /// The option.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

/// The config file as written (every key optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `bind`.
    pub bind: Option<IpAddr>,
    /// `nfs_port`.
    pub nfs_port: Option<u16>,
    /// `portmap_port`.
    pub portmap_port: Option<u16>,
    /// `smb_port`.
    pub smb_port: Option<u16>,
    /// `users` (the SMB users file).
    pub users: Option<PathBuf>,
    /// `state`.
    pub state: Option<PathBuf>,
    /// `log`.
    pub log: Option<String>,
    /// `backend`.
    pub backend: Option<BackendKind>,
    /// `grace_period` (seconds).
    pub grace_period: Option<u64>,
    /// `nlm_callback_portmap_port`.
    pub nlm_callback_portmap_port: Option<u16>,
    /// `nfs_wait_ms` (T_nfs, milliseconds).
    pub nfs_wait_ms: Option<u64>,
    /// `nlm_wait_ms` (T_nlm, milliseconds).
    pub nlm_wait_ms: Option<u64>,
    /// `break_timeout` (seconds).
    pub break_timeout: Option<u64>,
    /// `workers`.
    pub workers: Option<usize>,
    /// `max_connections`.
    pub max_connections: Option<usize>,
    /// `max_record` (bytes).
    pub max_record: Option<usize>,
    /// `max_connections_per_client`.
    pub max_connections_per_client: Option<usize>,
    /// `record_timeout` (seconds).
    pub record_timeout: Option<u64>,
    /// `smb_logon_timeout` (seconds).
    pub smb_logon_timeout: Option<u64>,
    /// `[[share]]` tables.
    #[serde(default)]
    pub share: Vec<FileShare>,
    /// Directory the file lives in (relative paths are resolved against it).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// One `[[share]]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileShare {
    /// `name`.
    pub name: String,
    /// `path`.
    pub path: Option<PathBuf>,
    /// `share_id` (overrides the name hash).
    pub share_id: Option<u32>,
    /// `read_only`.
    pub read_only: Option<bool>,
    /// `clients`.
    pub clients: Option<Vec<String>>,
    /// `root_squash`.
    pub root_squash: Option<bool>,
    /// `all_squash`.
    pub all_squash: Option<bool>,
    /// `anon_uid`.
    pub anon_uid: Option<u32>,
    /// `anon_gid`.
    pub anon_gid: Option<u32>,
    /// `guest_ok`.
    pub guest_ok: Option<bool>,
    /// `smb_encrypt` (`off`, `desired`, `required`).
    pub smb_encrypt: Option<String>,
    /// `smb_signing` (`enabled`, `required`).
    pub smb_signing: Option<String>,
    /// `case_insensitive`.
    pub case_insensitive: Option<bool>,
}

impl FileConfig {
    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
            path: path.to_path_buf(),
            source,
        })?;
        let mut file = Self::parse(&text).map_err(|message| ConfigError::ParseFile {
            path: path.to_path_buf(),
            message,
        })?;
        file.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(file)
    }

    /// Parses config text; the error is one line with the line number, and the key
    /// written on that line when the message does not name it.
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| {
            let message = e.message().replace('\n', " ");
            match e.span() {
                Some(span) => {
                    let start = span.start.min(text.len());
                    let line = text[..start].matches('\n').count() + 1;
                    let line_text = text.lines().nth(line - 1).unwrap_or("");
                    match key_of_line(line_text) {
                        Some(key) if !message.contains(key) => {
                            format!("line {line}: {key}: {message}")
                        }
                        _ => format!("line {line}: {message}"),
                    }
                }
                None => message,
            }
        })
    }
}

/// The bare key a TOML `key = value` line sets, if it is one.
fn key_of_line(line: &str) -> Option<&str> {
    let key = line.split_once('=')?.0.trim();
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    bare.then_some(key)
}

/// The SMB settings of a `[[share]]` table (`server::SmbShareConfig::from_keys`).
fn smb_share(s: &FileShare) -> Result<server::SmbShareConfig, ConfigError> {
    server::SmbShareConfig::from_keys(
        s.guest_ok,
        s.smb_encrypt.as_deref(),
        s.smb_signing.as_deref(),
        s.case_insensitive,
    )
    .map_err(|e| ConfigError::ShareKey {
        share: s.name.clone(),
        key: e.key,
        value: e.value,
        reason: e.expected,
    })
}

fn check_share_name(name: &str) -> Result<(), ConfigError> {
    if server::ShareConfig::valid_name(name) {
        Ok(())
    } else {
        Err(ConfigError::ShareName(name.to_string()))
    }
}

/// Splits a `--share NAME=DIR` flag. DIR may be empty for the memory backend.
pub fn parse_share_flag(spec: &str) -> Result<(String, PathBuf), ConfigError> {
    let (name, dir) = spec
        .split_once('=')
        .ok_or_else(|| ConfigError::ShareSpec(spec.to_string()))?;
    check_share_name(name)?;
    Ok((name.to_string(), PathBuf::from(dir)))
}

fn positive(what: &'static str, v: usize, max: usize) -> Result<usize, ConfigError> {
    if v == 0 || v > max {
        return Err(ConfigError::Value {
            what,
            reason: format!("{v} is out of range 1..={max}"),
        });
    }
    Ok(v)
}

/// The one-line warning for `share` when its directory (`mode`, owner `uid`:`gid`) is not
/// writable for the anonymous ids that squashed clients run as; `None` when nothing is
/// squashed to them, the share is read-only, or they may write.
pub fn squash_warning(share: &ShareConfig, mode: u32, uid: u32, gid: u32) -> Option<String> {
    if share.read_only || !(share.root_squash || share.all_squash) {
        return None;
    }
    let anon = Creds {
        uid: share.anon_uid,
        gid: share.anon_gid,
        gids: Vec::new(),
    };
    // The executor's own rule, for squashed credentials (no supplementary groups).
    if server::perm::may_change_dir(mode, uid, gid, &anon) {
        return None;
    }
    let (who, off) = if share.all_squash {
        (
            "every client writes",
            "--all-squash off (all_squash = false in the config file)",
        )
    } else {
        (
            "clients running as root write",
            "--root-squash off (root_squash = false in the config file)",
        )
    };
    let dir = shell_quote(&share.path.display().to_string());
    Some(format!(
        "share {:?}: {who} as {}:{}, who cannot create files in {} (owner {uid}:{gid}, mode {:04o}), so their writes get NFS3ERR_ACCES; fix: chown {}:{} {dir} (or chmod 1777 {dir}), or serve with {off}",
        share.name,
        share.anon_uid,
        share.anon_gid,
        share.path.display(),
        mode & 0o7777,
        share.anon_uid,
        share.anon_gid,
    ))
}

/// The string as one shell word: unchanged when it is plainly safe, else single-quoted.
fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+,:=@%".contains(c));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The start-up warnings of [`squash_warning`] for every share of the local backend whose
/// directory can be examined (a missing directory is reported by the start itself).
pub fn squash_warnings(config: &Config) -> Vec<String> {
    use std::os::unix::fs::MetadataExt as _;
    if config.backend != BackendKind::Local {
        return Vec::new();
    }
    config
        .shares
        .iter()
        .filter_map(|s| {
            let m = std::fs::metadata(&s.path).ok()?;
            squash_warning(s, m.mode(), m.uid(), m.gid())
        })
        .collect()
}

impl Config {
    /// Resolves the configuration: `args` override `file`, which overrides the defaults.
    /// `rust_log` is the `RUST_LOG` environment variable, if set.
    pub fn resolve(
        args: &ServeArgs,
        file: Option<FileConfig>,
        rust_log: Option<String>,
    ) -> Result<Config, ConfigError> {
        let file = file.unwrap_or_default();
        let base = file.base_dir.clone();
        let in_file = |p: &Path| -> PathBuf {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };

        // Shares from the file, in file order.
        let mut shares: Vec<ShareConfig> = Vec::new();
        let mut has_path: Vec<bool> = Vec::new();
        for s in &file.share {
            check_share_name(&s.name)?;
            if shares.iter().any(|x| x.name == s.name) {
                return Err(ConfigError::DuplicateShare(s.name.clone()));
            }
            let clients = s
                .clients
                .iter()
                .flatten()
                .map(|c| {
                    c.parse::<Cidr>().map_err(|e| ConfigError::Cidr {
                        share: s.name.clone(),
                        value: c.clone(),
                        reason: e.to_string(),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            has_path.push(s.path.is_some());
            shares.push(ShareConfig {
                name: s.name.clone(),
                path: s.path.as_deref().map(in_file).unwrap_or_default(),
                share_id: s
                    .share_id
                    .unwrap_or_else(|| server::ShareConfig::default_id(&s.name)),
                read_only: s.read_only.unwrap_or(false),
                clients,
                root_squash: s.root_squash.unwrap_or(true),
                all_squash: s.all_squash.unwrap_or(false),
                anon_uid: s.anon_uid.unwrap_or(DEFAULT_ANON_ID),
                anon_gid: s.anon_gid.unwrap_or(DEFAULT_ANON_ID),
                smb: smb_share(s)?,
            });
        }
        // Flags: replace the directory of a share the file declares, or add a new share.
        for spec in &args.shares {
            let (name, dir) = parse_share_flag(spec)?;
            let i = match shares.iter().position(|s| s.name == name) {
                Some(i) => {
                    shares[i].path = dir;
                    has_path[i] = true;
                    i
                }
                None => {
                    has_path.push(true);
                    shares.push(ShareConfig {
                        share_id: server::ShareConfig::default_id(&name),
                        name,
                        path: dir,
                        read_only: false,
                        clients: Vec::new(),
                        root_squash: true,
                        all_squash: false,
                        anon_uid: DEFAULT_ANON_ID,
                        anon_gid: DEFAULT_ANON_ID,
                        smb: server::SmbShareConfig::default(),
                    });
                    shares.len() - 1
                }
            };
            // `--root-squash` / `--all-squash` override the file's keys of the shares given
            // with `--share` (and only those).
            if let Some(v) = args.root_squash {
                shares[i].root_squash = v.is_on();
            }
            if let Some(v) = args.all_squash {
                shares[i].all_squash = v.is_on();
            }
        }
        if shares.is_empty() {
            return Err(ConfigError::NoShares);
        }
        let backend = args.backend.or(file.backend).unwrap_or(BackendKind::Local);
        if backend == BackendKind::Local {
            if let Some(i) = has_path.iter().position(|h| !h) {
                return Err(ConfigError::SharePath(shares[i].name.clone()));
            }
            if let Some(s) = shares.iter().find(|s| s.path.as_os_str().is_empty()) {
                return Err(ConfigError::SharePath(s.name.clone()));
            }
        }
        let mut ids: HashMap<u32, &str> = HashMap::new();
        for s in &shares {
            if let Some(other) = ids.insert(s.share_id, &s.name) {
                return Err(ConfigError::ShareIdCollision(
                    other.to_string(),
                    s.name.clone(),
                    s.share_id,
                ));
            }
        }

        let log = args
            .log
            .clone()
            .or(rust_log.filter(|s| !s.trim().is_empty()))
            .or(file.log)
            .unwrap_or_else(|| DEFAULT_LOG.to_string());
        tracing_subscriber::EnvFilter::try_new(&log).map_err(|e| ConfigError::LogFilter {
            filter: log.clone(),
            reason: e.to_string(),
        })?;

        let grace = args
            .grace_period
            .or(file.grace_period)
            .unwrap_or(DEFAULT_GRACE_PERIOD_SECS);
        if grace > 3600 {
            return Err(ConfigError::Value {
                what: "grace period",
                reason: format!("{grace} s is longer than one hour"),
            });
        }
        let ms = |what: &'static str, v: Option<u64>, default: u64| {
            let v = v.unwrap_or(default);
            if v == 0 || v > 600_000 {
                return Err(ConfigError::Value {
                    what,
                    reason: format!("{v} ms is out of range 1..=600000"),
                });
            }
            Ok(Duration::from_millis(v))
        };
        let nfs_wait = ms("nfs_wait_ms", file.nfs_wait_ms, 1000)?;
        let nlm_wait = ms("nlm_wait_ms", file.nlm_wait_ms, 5000)?;
        let break_timeout = ms(
            "break_timeout",
            file.break_timeout.map(|s| s.saturating_mul(1000)),
            35_000,
        )?;
        let workers = positive("workers", file.workers.unwrap_or(DEFAULT_WORKERS), 256)?;
        let limits = Limits {
            max_connections: positive(
                "max_connections",
                file.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS),
                1 << 20,
            )?,
            max_connections_per_client: positive(
                "max_connections_per_client",
                file.max_connections_per_client
                    .unwrap_or(DEFAULT_MAX_CONNECTIONS_PER_CLIENT),
                1 << 20,
            )?,
            record_timeout: Duration::from_secs(positive(
                "record_timeout",
                file.record_timeout
                    .map_or(DEFAULT_RECORD_TIMEOUT.as_secs() as usize, |s| {
                        usize::try_from(s).unwrap_or(usize::MAX)
                    }),
                3600,
            )? as u64),
            smb_logon_timeout: ms(
                "smb_logon_timeout",
                file.smb_logon_timeout.map(|s| s.saturating_mul(1000)),
                server::DEFAULT_SMB_LOGON_TIMEOUT.as_millis() as u64,
            )?,
            max_record: {
                let v = file.max_record.unwrap_or(DEFAULT_MAX_RECORD);
                if !(8 * 1024..=64 * 1024 * 1024).contains(&v) {
                    return Err(ConfigError::Value {
                        what: "max_record",
                        reason: format!("{v} is out of range 8192..=67108864"),
                    });
                }
                v
            },
            ..Limits::default()
        };

        Ok(Config {
            bind: args.bind.or(file.bind).unwrap_or(DEFAULT_BIND),
            nfs_port: args.nfs_port.or(file.nfs_port).unwrap_or(DEFAULT_NFS_PORT),
            portmap_port: args
                .portmap_port
                .or(file.portmap_port)
                .unwrap_or(DEFAULT_PORTMAP_PORT),
            smb_port: args.smb_port.or(file.smb_port).unwrap_or(DEFAULT_SMB_PORT),
            smb_port_given: args.smb_port.or(file.smb_port).is_some(),
            users: args
                .users
                .clone()
                .or_else(|| file.users.as_deref().map(in_file)),
            state_dir: args
                .state
                .clone()
                .or_else(|| file.state.as_deref().map(in_file))
                .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR)),
            log,
            backend,
            grace_period: Duration::from_secs(grace),
            nlm_callback_portmap_port: args
                .nlm_callback_portmap_port
                .or(file.nlm_callback_portmap_port)
                .unwrap_or(DEFAULT_PORTMAP_PORT),
            nfs_wait,
            nlm_wait,
            break_timeout,
            workers,
            limits,
            shares,
        })
    }

    /// The NLM/NSM service's settings.
    pub fn nlm_settings(&self) -> server::NlmSettings {
        server::NlmSettings {
            grace_period: self.grace_period,
            nfs_wait: self.nfs_wait,
            nlm_wait: self.nlm_wait,
            break_timeout: self.break_timeout,
            callback_portmap_port: self.nlm_callback_portmap_port,
            server_name: server::nlm::server_name(self.bind, &crate::serve::host_name()),
        }
    }

    /// Loads the file named by `--config` (if any) and resolves.
    pub fn from_args(args: &ServeArgs, rust_log: Option<String>) -> Result<Config, ConfigError> {
        let file = match &args.config {
            Some(p) => Some(FileConfig::load(p)?),
            None => None,
        };
        Self::resolve(args, file, rust_log)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(argv: &[&str]) -> ServeArgs {
        let mut v = vec!["janus", "serve"];
        v.extend_from_slice(argv);
        match crate::cli::Cli::try_parse_from(v)
            .expect("flags parse")
            .command
        {
            crate::cli::Command::Serve(a) => a,
            other => panic!("expected serve, got {other:?}"),
        }
    }

    fn file(text: &str) -> FileConfig {
        FileConfig::parse(text).expect("file parses")
    }

    #[test]
    fn defaults() {
        let c = Config::resolve(&args(&["--share", "export=/srv/x"]), None, None).unwrap();
        assert_eq!(c.bind, DEFAULT_BIND);
        assert_eq!(c.nfs_port, 2049);
        assert_eq!(c.portmap_port, 111);
        assert_eq!(c.state_dir, PathBuf::from("./janus-state"));
        assert_eq!(c.log, "info");
        assert_eq!(c.backend, BackendKind::Local);
        assert_eq!(c.grace_period, Duration::from_secs(90));
        assert_eq!(c.workers, 4);
        assert_eq!(c.limits.max_connections, 1024);
        assert_eq!(c.limits.max_connections_per_client, 64);
        assert_eq!(c.limits.record_timeout, Duration::from_secs(30));
        assert_eq!(c.limits.smb_logon_timeout, Duration::from_secs(30));
        assert_eq!(c.shares.len(), 1);
        let s = &c.shares[0];
        assert_eq!(s.name, "export");
        assert_eq!(s.path, PathBuf::from("/srv/x"));
        assert!(!s.read_only && s.root_squash && !s.all_squash && s.clients.is_empty());
        assert_eq!((s.anon_uid, s.anon_gid), (65534, 65534));
        assert_eq!(s.share_id, server::ShareConfig::default_id("export"));
    }

    #[test]
    fn flags_override_file() {
        let f = file(
            r#"
            bind = "10.0.0.1"
            nfs_port = 3049
            portmap_port = 1111
            state = "st"
            log = "debug"
            backend = "memory"
            grace_period = 30
            workers = 8
            max_connections = 10
            max_connections_per_client = 3
            record_timeout = 7
            smb_logon_timeout = 9
            [[share]]
            name = "a"
            path = "/from/file"
            read_only = true
            clients = ["192.168.1.0/24"]
            root_squash = false
            all_squash = true
            anon_uid = 1000
            anon_gid = 1001
            "#,
        );
        let a = args(&[
            "--share",
            "a=/from/flag",
            "--share",
            "b=/b",
            "--bind",
            "127.0.0.1",
            "--nfs-port",
            "4049",
            "--portmap-port",
            "0",
            "--state",
            "/var/st",
            "--log",
            "warn",
            "--backend",
            "local",
            "--grace-period",
            "5",
        ]);
        let c = Config::resolve(&a, Some(f), Some("trace".into())).unwrap();
        assert_eq!(c.bind, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(c.nfs_port, 4049);
        assert_eq!(c.portmap_port, 0);
        assert_eq!(c.state_dir, PathBuf::from("/var/st"));
        assert_eq!(c.log, "warn");
        assert_eq!(c.backend, BackendKind::Local);
        assert_eq!(c.grace_period, Duration::from_secs(5));
        // File-only options survive.
        assert_eq!(c.workers, 8);
        assert_eq!(c.limits.max_connections, 10);
        assert_eq!(c.limits.max_connections_per_client, 3);
        assert_eq!(c.limits.record_timeout, Duration::from_secs(7));
        assert_eq!(c.limits.smb_logon_timeout, Duration::from_secs(9));
        assert_eq!(c.shares.len(), 2);
        let s = &c.shares[0];
        assert_eq!(
            s.path,
            PathBuf::from("/from/flag"),
            "flag replaces the directory"
        );
        assert!(s.read_only && !s.root_squash && s.all_squash);
        assert_eq!((s.anon_uid, s.anon_gid), (1000, 1001));
        assert_eq!(s.clients, vec!["192.168.1.0/24".parse::<Cidr>().unwrap()]);
        assert_eq!(c.shares[1].name, "b");
        assert!(!c.shares[1].read_only);
    }

    #[test]
    fn file_values_used_without_flags() {
        let mut f = file(
            "nfs_port = 3049\nstate = \"st\"\nbackend = \"memory\"\n[[share]]\nname = \"m\"\n",
        );
        f.base_dir = PathBuf::from("/etc/janus");
        let c = Config::resolve(&args(&[]), Some(f), None).unwrap();
        assert_eq!(c.nfs_port, 3049);
        assert_eq!(c.state_dir, PathBuf::from("/etc/janus/st"));
        assert_eq!(c.backend, BackendKind::Memory);
        assert_eq!(c.shares[0].name, "m");
    }

    #[test]
    fn log_precedence() {
        let f = || Some(file("log = \"debug\"\n[[share]]\nname=\"x\"\npath=\"/x\""));
        let c = Config::resolve(&args(&[]), f(), Some("trace".into())).unwrap();
        assert_eq!(c.log, "trace", "RUST_LOG beats the file");
        let c = Config::resolve(&args(&[]), f(), None).unwrap();
        assert_eq!(c.log, "debug");
        let c = Config::resolve(&args(&["--log", "warn"]), f(), Some("trace".into())).unwrap();
        assert_eq!(c.log, "warn", "--log beats RUST_LOG");
    }

    #[test]
    fn errors_are_one_line() {
        let cases: Vec<(ServeArgs, Option<FileConfig>, &str)> = vec![
            (args(&[]), None, "no share to serve"),
            (args(&["--share", "noequals"]), None, "expected NAME=DIR"),
            (args(&["--share", "a/b=/x"]), None, "share name \"a/b\""),
            (args(&["--share", "=/x"]), None, "share name \"\""),
            (
                args(&[]),
                Some(file("[[share]]\nname=\"a\"\n")),
                "share \"a\" has no path",
            ),
            (
                args(&[]),
                Some(file("[[share]]\nname=\"a\"\npath=\"/a\"\n[[share]]\nname=\"a\"\npath=\"/b\"")),
                "declared twice",
            ),
            (
                args(&[]),
                Some(file("[[share]]\nname=\"a\"\npath=\"/a\"\nclients=[\"10.0.0.0/33\"]")),
                "client network \"10.0.0.0/33\"",
            ),
            (
                args(&[]),
                Some(file(
                    "[[share]]\nname=\"a\"\npath=\"/a\"\nshare_id=7\n[[share]]\nname=\"b\"\npath=\"/b\"\nshare_id=7",
                )),
                "same share id 0x00000007",
            ),
            (args(&["--share", "a=/a", "--log", "foo=bar=baz"]), None, "log filter"),
            (
                args(&["--share", "a=/a"]),
                Some(file("workers = 0")),
                "workers: 0 is out of range",
            ),
            (
                args(&["--share", "a=/a"]),
                Some(file("max_connections_per_client = 0")),
                "max_connections_per_client: 0 is out of range",
            ),
            (
                args(&["--share", "a=/a"]),
                Some(file("record_timeout = 3601")),
                "record_timeout: 3601 is out of range",
            ),
        ];
        for (a, f, want) in cases {
            let e = Config::resolve(&a, f, None).unwrap_err().to_string();
            assert!(e.contains(want), "{e:?} should contain {want:?}");
            assert!(!e.contains('\n'), "{e:?} is one line");
        }
    }

    #[test]
    fn file_parse_errors_name_the_line() {
        let e = FileConfig::parse("bind = \"127.0.0.1\"\nnfs_prt = 5\n").unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");
        assert!(e.contains("nfs_prt"), "{e}");
        assert!(!e.contains('\n'));
        let e = FileConfig::parse("nfs_port = 70000\n").unwrap_err();
        assert!(e.starts_with("line 1:"), "{e}");
        let e = FileConfig::parse("backend = \"zfs\"\n").unwrap_err();
        assert!(e.contains("zfs") || e.contains("variant"), "{e}");
    }

    #[test]
    fn memory_backend_needs_no_path() {
        let c =
            Config::resolve(&args(&["--backend", "memory", "--share", "m="]), None, None).unwrap();
        assert_eq!(c.shares[0].path, PathBuf::new());
        let e = Config::resolve(&args(&["--share", "m="]), None, None).unwrap_err();
        assert!(matches!(e, ConfigError::SharePath(_)));
    }

    #[test]
    fn squash_flags_override_the_file_for_share_flags_only() {
        let f = || {
            Some(file(
                "[[share]]\nname=\"a\"\npath=\"/a\"\nroot_squash=true\nall_squash=false\n[[share]]\nname=\"b\"\npath=\"/b\"\nroot_squash=true\n",
            ))
        };
        let c = Config::resolve(
            &args(&[
                "--share",
                "a=/a2",
                "--share",
                "n=/n",
                "--root-squash",
                "off",
                "--all-squash",
                "on",
            ]),
            f(),
            None,
        )
        .unwrap();
        let by = |n: &str| c.shares.iter().find(|s| s.name == n).unwrap().clone();
        assert!(
            !by("a").root_squash && by("a").all_squash,
            "file share named by --share"
        );
        assert!(
            !by("n").root_squash && by("n").all_squash,
            "new --share share"
        );
        assert!(
            by("b").root_squash && !by("b").all_squash,
            "file-only share untouched"
        );
        // Without the flags the file and the defaults decide.
        let c = Config::resolve(&args(&["--share", "n=/n"]), f(), None).unwrap();
        assert!(c.shares.iter().all(|s| s.root_squash && !s.all_squash));
        let c = Config::resolve(
            &args(&["--share", "n=/n", "--root-squash", "on"]),
            None,
            None,
        )
        .unwrap();
        assert!(c.shares[0].root_squash);
    }

    #[test]
    fn squash_warning_is_one_line_with_the_fix() {
        let mut s = ShareConfig {
            name: "export".into(),
            path: PathBuf::from("./my data"),
            share_id: 1,
            read_only: false,
            clients: Vec::new(),
            root_squash: true,
            all_squash: false,
            anon_uid: 65534,
            anon_gid: 65534,
            smb: server::SmbShareConfig::default(),
        };
        let w = squash_warning(&s, 0o40755, 0, 0).expect("root's directory, mode 0755");
        assert!(!w.contains('\n'), "{w}");
        assert!(w.contains("65534:65534"), "{w}");
        assert!(w.contains("mode 0755"), "{w}");
        assert!(w.contains("chown 65534:65534 './my data'"), "{w}");
        assert!(w.contains("--root-squash off"), "{w}");
        assert!(w.contains("NFS3ERR_ACCES"), "{w}");
        // Writable for the anonymous ids, read-only, or no squashing: no warning.
        assert_eq!(squash_warning(&s, 0o40755, 65534, 0), None);
        assert_eq!(squash_warning(&s, 0o41777, 0, 0), None);
        s.read_only = true;
        assert_eq!(squash_warning(&s, 0o40755, 0, 0), None);
        s.read_only = false;
        s.root_squash = false;
        assert_eq!(squash_warning(&s, 0o40755, 0, 0), None);
        s.all_squash = true;
        let w = squash_warning(&s, 0o40755, 0, 0).expect("all_squash");
        assert!(
            w.contains("every client writes as 65534:65534") && w.contains("--all-squash off"),
            "{w}"
        );
        assert_eq!(shell_quote("./data"), "./data");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn squash_warnings_examine_local_directories_only() {
        let dir = std::env::temp_dir().join(format!("janus-squash-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut c = Config::resolve(
            &args(&[
                "--share",
                &format!("x={}", dir.display()),
                "--all-squash",
                "on",
            ]),
            None,
            None,
        )
        .unwrap();
        c.shares[0].anon_uid = 4242;
        c.shares[0].anon_gid = 4242;
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let w = squash_warnings(&c);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("4242:4242"), "{w:?}");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(squash_warnings(&c).is_empty());
        c.backend = BackendKind::Memory;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(squash_warnings(&c).is_empty());
        let _ = std::fs::remove_dir(&dir);
    }

    #[test]
    fn smb_port_and_users_follow_the_precedence_rules() {
        let c = Config::resolve(&args(&["--share", "a=/a"]), None, None).unwrap();
        assert_eq!(
            (c.smb_port, c.smb_port_given, c.users.clone()),
            (445, false, None)
        );
        let f = || {
            let mut f =
                file("smb_port = 4450\nusers = \"u.txt\"\n[[share]]\nname=\"a\"\npath=\"/a\"");
            f.base_dir = PathBuf::from("/etc/janus");
            Some(f)
        };
        let c = Config::resolve(&args(&[]), f(), None).unwrap();
        assert_eq!(c.smb_port, 4450);
        assert!(c.smb_port_given);
        assert_eq!(
            c.users,
            Some(PathBuf::from("/etc/janus/u.txt")),
            "relative to the file"
        );
        let c = Config::resolve(&args(&["--smb-port", "0", "--users", "mine"]), f(), None).unwrap();
        assert_eq!((c.smb_port, c.smb_port_given), (0, true));
        assert_eq!(
            c.users,
            Some(PathBuf::from("mine")),
            "flag beats file, relative to cwd"
        );
        let e = FileConfig::parse("smb_port = 70000\n").unwrap_err();
        assert!(e.starts_with("line 1: smb_port: "), "{e}");
        let e = FileConfig::parse("users = 5\n").unwrap_err();
        assert!(e.starts_with("line 1: users: "), "{e}");
    }

    #[test]
    fn smb_share_keys_defaults_values_and_errors() {
        let c = Config::resolve(
            &args(&["--share", "flag=/f"]),
            Some(file(
                "[[share]]\nname=\"d\"\npath=\"/d\"\n[[share]]\nname=\"s\"\npath=\"/s\"\nguest_ok = true\nsmb_encrypt = \"required\"\nsmb_signing = \"required\"\ncase_insensitive = false\n[[share]]\nname=\"o\"\npath=\"/o\"\nsmb_encrypt = \"off\"\nsmb_signing = \"enabled\"\n",
            )),
            None,
        )
        .unwrap();
        let by = |n: &str| c.shares.iter().find(|s| s.name == n).unwrap().smb;
        assert_eq!(by("d"), server::SmbShareConfig::default());
        assert_eq!(
            by("flag"),
            server::SmbShareConfig::default(),
            "--share shares too"
        );
        let d = server::SmbShareConfig::default();
        assert!(!d.guest_ok && d.case_insensitive);
        assert_eq!(d.encrypt, server::SmbEncrypt::Desired);
        assert_eq!(d.signing, server::SmbSigning::Enabled);
        assert_eq!(
            by("s"),
            server::SmbShareConfig {
                guest_ok: true,
                encrypt: server::SmbEncrypt::Required,
                signing: server::SmbSigning::Required,
                case_insensitive: false,
            }
        );
        assert_eq!(by("o").encrypt, server::SmbEncrypt::Off);
        assert_eq!(by("o").signing, server::SmbSigning::Enabled);

        let share = "[[share]]\nname=\"x\"\npath=\"/x\"\n";
        for (key_line, want) in [
            (
                "smb_encrypt = \"yes\"",
                "share \"x\": smb_encrypt = \"yes\": expected \"off\", \"desired\" or \"required\"",
            ),
            ("smb_encrypt = \"Required\"", "smb_encrypt = \"Required\""),
            (
                "smb_signing = \"disabled\"",
                "share \"x\": smb_signing = \"disabled\": expected \"enabled\" or \"required\"",
            ),
        ] {
            let e = Config::resolve(
                &args(&[]),
                Some(file(&format!("{share}{key_line}\n"))),
                None,
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains(want), "{e:?} should contain {want:?}");
            assert!(!e.contains('\n'));
        }
        for (key_line, key) in [
            ("guest_ok = \"yes\"", "guest_ok"),
            ("case_insensitive = 1", "case_insensitive"),
            ("smb_encrypt = true", "smb_encrypt"),
            ("smb_signing = 2", "smb_signing"),
            ("smb_sign = \"required\"", "smb_sign"),
        ] {
            let e = FileConfig::parse(&format!("{share}{key_line}\n")).unwrap_err();
            assert!(e.starts_with("line 4: "), "{e}");
            assert!(e.contains(key), "{e:?} should name {key}");
            assert!(!e.contains('\n'));
        }
    }
}
