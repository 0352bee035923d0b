//! Start and stop the NFS server under test on free loopback ports.
//!
//! [`Target::Janus`] runs `janus serve` (the product); [`Target::Ganesha`] runs nfs-ganesha with
//! an equivalent configuration so the tests can be validated against a reference server
//! (`JANUS_E2E_TARGET=ganesha`). Janus answers MOUNT on its NFS port; ganesha needs its own
//! MOUNT port, so clients always ask [`Server::mount_port`].

use std::collections::HashSet;
use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::tmp::TempDir;

/// Which server the end-to-end tests talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The `janus` binary (`JANUS_BIN`).
    Janus,
    /// nfs-ganesha 4.x (`ganesha.nfsd` on PATH), for validating the tests.
    Ganesha,
}

impl Target {
    /// From `JANUS_E2E_TARGET` (`janus` when unset).
    pub fn from_env() -> Target {
        match std::env::var("JANUS_E2E_TARGET").as_deref() {
            Ok("ganesha") => Target::Ganesha,
            Ok("janus") | Err(_) => Target::Janus,
            Ok(other) => panic!("JANUS_E2E_TARGET={other}: expected janus or ganesha"),
        }
    }
}

/// One exported directory and its options.
#[derive(Debug, Clone)]
pub struct ShareSpec {
    /// Export name: the MOUNT path is `/name`.
    pub name: String,
    /// Refuse every modifying operation (NFS3ERR_ROFS).
    pub read_only: bool,
}

/// Builder for a [`Server`].
#[derive(Debug, Clone)]
pub struct ServerBuilder {
    label: String,
    shares: Vec<ShareSpec>,
    target: Target,
    extra_args: Vec<String>,
    config_lines: Vec<String>,
    smb: bool,
}

impl ServerBuilder {
    /// A server with no shares yet; `label` names its temporary directory.
    pub fn new(label: &str) -> ServerBuilder {
        ServerBuilder {
            label: label.to_string(),
            shares: Vec::new(),
            target: Target::from_env(),
            extra_args: Vec::new(),
            config_lines: Vec::new(),
            smb: false,
        }
    }

    /// Serve SMB too, on a free port ([`Server::smb_port`]); without it Janus runs with
    /// `--smb-port 0` (the default 445 needs root).
    pub fn smb(mut self) -> ServerBuilder {
        self.smb = true;
        self
    }

    /// A top-level line of Janus's TOML config file (`max_connections_per_client = 8`), for
    /// options that have no flag; ignored for ganesha.
    pub fn config(mut self, line: impl Into<String>) -> ServerBuilder {
        self.config_lines.push(line.into());
        self
    }

    /// An extra `janus serve` argument (e.g. `--grace-period`); ignored for ganesha.
    pub fn arg(mut self, arg: impl Into<String>) -> ServerBuilder {
        self.extra_args.push(arg.into());
        self
    }

    /// Add a read-write share.
    pub fn share(mut self, name: &str) -> ServerBuilder {
        self.shares.push(ShareSpec {
            name: name.to_string(),
            read_only: false,
        });
        self
    }

    /// Add a read-only share.
    pub fn read_only_share(mut self, name: &str) -> ServerBuilder {
        self.shares.push(ShareSpec {
            name: name.to_string(),
            read_only: true,
        });
        self
    }

    /// Create the directories and start the server; waits until it accepts connections.
    pub fn start(self) -> Server {
        assert!(!self.shares.is_empty(), "a server needs at least one share");
        let root = TempDir::new(&self.label);
        for s in &self.shares {
            let dir = root.path().join("shares").join(&s.name);
            std::fs::create_dir_all(&dir).expect("create share dir");
            // Root squash (Janus's default) maps the tests' uid 0 to 65534: let it write.
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))
                .expect("chmod share dir");
        }
        std::fs::create_dir_all(root.path().join("state")).expect("create state dir");
        let mut server = Server {
            target: self.target,
            shares: self.shares,
            nfs_port: free_port(),
            smb_port: if self.smb { free_port() } else { 0 },
            mount_port: 0,
            portmap_port: free_port(),
            child: None,
            starts: 0,
            root,
            extra_args: self.extra_args,
            config_lines: self.config_lines,
        };
        server.mount_port = match server.target {
            Target::Janus => server.nfs_port,
            Target::Ganesha => free_port(),
        };
        server.spawn();
        server
    }
}

/// A running server; killed (by PID) on drop.
#[derive(Debug)]
pub struct Server {
    target: Target,
    shares: Vec<ShareSpec>,
    nfs_port: u16,
    smb_port: u16,
    mount_port: u16,
    portmap_port: u16,
    child: Option<Child>,
    starts: u32,
    root: TempDir,
    extra_args: Vec<String>,
    config_lines: Vec<String>,
}

impl Server {
    /// The server process's id while it runs (to read `/proc/PID/status` and `/proc/PID/fd`).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Which implementation this is.
    pub fn target(&self) -> Target {
        self.target
    }

    /// Assert `ok` for Janus. Against nfs-ganesha (only used to validate the tests) a failure
    /// is printed as a known deviation of ganesha instead, so the rest of the test still runs.
    #[track_caller]
    pub fn require(&self, ok: bool, what: impl std::fmt::Display) {
        match (ok, self.target) {
            (true, _) => {}
            (false, Target::Ganesha) => eprintln!(
                "ganesha deviation at {}: {what}",
                std::panic::Location::caller()
            ),
            (false, Target::Janus) => panic!("{what}"),
        }
    }

    /// TCP port of NFS (and, for Janus, of MOUNT, NLM, NSM and the portmapper too).
    pub fn nfs_port(&self) -> u16 {
        self.nfs_port
    }

    /// TCP port of SMB (0 when the builder did not ask for SMB).
    pub fn smb_port(&self) -> u16 {
        self.smb_port
    }

    /// TCP port of MOUNT.
    pub fn mount_port(&self) -> u16 {
        self.mount_port
    }

    /// The standalone portmapper port given to Janus (`--portmap-port`).
    pub fn portmap_port(&self) -> u16 {
        self.portmap_port
    }

    /// Every TCP port the server listens on (for capture filters).
    pub fn ports(&self) -> Vec<u16> {
        let mut p = vec![self.nfs_port, self.mount_port];
        if self.target == Target::Janus {
            p.push(self.portmap_port);
        }
        if self.smb_port != 0 {
            p.push(self.smb_port);
        }
        p.dedup();
        p
    }

    /// The server's private scratch directory (logs live here; tests may put files here too).
    pub fn scratch(&self) -> &Path {
        self.root.path()
    }

    /// The on-disk directory of share `name`.
    pub fn share_dir(&self, name: &str) -> PathBuf {
        assert!(
            self.shares.iter().any(|s| s.name == name),
            "no share named {name}"
        );
        self.root.path().join("shares").join(name)
    }

    /// The MOUNT path of share `name`.
    pub fn export_path(&self, name: &str) -> String {
        format!("/{name}")
    }

    /// libnfs URL of `path` (may be empty) inside share `share`.
    pub fn url(&self, share: &str, path: &str) -> String {
        let path = path.trim_start_matches('/');
        format!(
            "nfs://127.0.0.1/{share}{}{path}?version=3&nfsport={}&mountport={}",
            if path.is_empty() { "" } else { "/" },
            self.nfs_port,
            self.mount_port
        )
    }

    /// The server's log (stdout + stderr, and ganesha's own log file).
    pub fn log(&self) -> String {
        let mut out = String::new();
        for name in ["server.out", "ganesha.log"] {
            if let Ok(s) = std::fs::read_to_string(self.root.path().join(name)) {
                let _ = writeln!(out, "=== {name}\n{s}");
            }
        }
        out
    }

    /// True while the server process is alive.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Stop the server (SIGTERM, then SIGKILL after 10 s) and start it again on the same
    /// ports with the same share and state directories.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Crash the server (SIGKILL, no clean shutdown) and start it again on the same ports
    /// with the same share and state directories.
    pub fn crash_restart(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.spawn();
    }

    /// Stop the server: SIGTERM, wait up to 10 s, then SIGKILL.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            super::process::terminate(child);
        }
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.path().join("server.out"))
            .expect("open server.out");
        let mut cmd = match self.target {
            Target::Janus => self.janus_command(),
            Target::Ganesha => self.ganesha_command(),
        };
        cmd.stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup log fd"))
            .stderr(out);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        self.child = Some(child);
        self.wait_listening();
    }

    fn janus_command(&self) -> Command {
        let bin = janus_bin();
        let root = self.root.path();
        let mut cmd = Command::new(&bin);
        cmd.arg("serve")
            .args(["--bind", "127.0.0.1"])
            .args(["--nfs-port", &self.nfs_port.to_string()])
            .args(["--portmap-port", &self.portmap_port.to_string()])
            .args(["--smb-port", &self.smb_port.to_string()])
            .arg("--state")
            .arg(root.join("state"))
            .args([
                "--log",
                &std::env::var("JANUS_E2E_LOG").unwrap_or_else(|_| "info".into()),
            ])
            .args(&self.extra_args);
        // Plain shares go on the command line (what the README shows); shares with options
        // are described in the TOML config file.
        // Top-level keys first: TOML puts everything after a `[[share]]` header into it.
        let mut config = String::new();
        for line in &self.config_lines {
            let _ = writeln!(config, "{line}");
        }
        for s in &self.shares {
            let dir = root.join("shares").join(&s.name);
            if s.read_only {
                let _ = writeln!(
                    config,
                    "[[share]]\nname = \"{}\"\npath = \"{}\"\nread_only = true\n",
                    s.name,
                    dir.display()
                );
            } else {
                cmd.arg("--share")
                    .arg(format!("{}={}", s.name, dir.display()));
            }
        }
        if !config.is_empty() {
            let file = root.join("janus.toml");
            std::fs::write(&file, config).expect("write janus.toml");
            cmd.arg("--config").arg(file);
        }
        cmd
    }

    fn ganesha_command(&self) -> Command {
        let root = self.root.path();
        let shim = super::clients::build_shared_object("ganesha-noportmap");
        let plugins = [
            "/usr/lib/x86_64-linux-gnu/ganesha",
            "/usr/lib/ganesha",
            "/usr/lib64/ganesha",
        ]
        .into_iter()
        .find(|d| Path::new(d).join("libfsalvfs.so").exists())
        .expect("nfs-ganesha-vfs is not installed (libfsalvfs.so)");
        let mut conf = format!(
            "NFS_CORE_PARAM {{\n  Bind_addr = 127.0.0.1;\n  NFS_Port = {};\n  MNT_Port = {};\n  \
             NLM_Port = {};\n  Enable_NLM = false;\n  Enable_RQUOTA = false;\n  Enable_UDP = false;\n  \
             Protocols = 3;\n  mount_path_pseudo = true;\n  Plugins_Dir = \"{plugins}\";\n}}\n\
             NFSv4 {{ Graceless = true; RecoveryRoot = \"{}\"; }}\n\
             NFS_KRB5 {{ Active_krb5 = false; }}\nLOG {{ Default_Log_Level = EVENT; }}\n",
            self.nfs_port,
            self.mount_port,
            free_port(),
            root.join("state").display()
        );
        for (i, s) in self.shares.iter().enumerate() {
            let access = if s.read_only { "RO" } else { "RW" };
            let _ = write!(
                conf,
                "EXPORT {{\n  Export_Id = {};\n  Path = \"{}\";\n  Pseudo = \"/{}\";\n  Protocols = 3;\n  \
                 Transports = TCP;\n  Access_Type = {access};\n  Squash = Root_Squash;\n  \
                 Anonymous_Uid = 65534;\n  Anonymous_Gid = 65534;\n  SecType = sys;\n  \
                 FSAL {{ Name = VFS; }}\n  CLIENT {{ Clients = 127.0.0.1; Access_Type = {access}; }}\n}}\n",
                i + 1,
                root.join("shares").join(&s.name).display(),
                s.name
            );
        }
        std::fs::write(root.join("ganesha.conf"), conf).expect("write ganesha.conf");
        let mut cmd = Command::new("ganesha.nfsd");
        cmd.env("LD_PRELOAD", shim)
            .arg("-F")
            .arg("-f")
            .arg(root.join("ganesha.conf"))
            .arg("-L")
            .arg(root.join("ganesha.log"))
            .arg("-p")
            .arg(root.join("ganesha.pid"));
        cmd
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let ports = [self.nfs_port, self.mount_port, self.smb_port];
        let ports: Vec<u16> = ports.into_iter().filter(|&p| p != 0).collect();
        loop {
            if ports.iter().all(|p| {
                TcpStream::connect_timeout(
                    &SocketAddr::from(([127, 0, 0, 1], *p)),
                    Duration::from_millis(200),
                )
                .is_ok()
            }) {
                return;
            }
            if !self.is_running() {
                panic!(
                    "{:?} server exited before listening on {ports:?} (start #{}):\n{}",
                    self.target,
                    self.starts,
                    self.log()
                );
            }
            if Instant::now() > deadline {
                let log = self.log();
                self.stop();
                panic!(
                    "{:?} server not listening on {ports:?} after 30 s:\n{log}",
                    self.target
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.log();
            let start = log.len().saturating_sub(8000);
            let start = (start..log.len())
                .find(|i| log.is_char_boundary(*i))
                .unwrap_or(0);
            eprintln!(
                "--- {:?} server log (last 8000 bytes, dir {}):\n{}",
                self.target,
                self.root.path().display(),
                &log[start..]
            );
        }
        self.stop();
    }
}

/// The `janus` binary: `JANUS_BIN`, else `target/release/janus`, else `target/debug/janus`.
pub fn janus_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("JANUS_BIN") {
        return PathBuf::from(bin);
    }
    let target = super::target_dir();
    for profile in ["release", "debug"] {
        let bin = target.join(profile).join("janus");
        if bin.exists() {
            return bin;
        }
    }
    panic!(
        "janus binary not found: set JANUS_BIN or run `cargo build --release -p runtime-mio --bin janus` \
         (looked in {})",
        target.display()
    );
}

/// A port on 127.0.0.1, free for TCP and UDP a moment ago, not handed out before by this
/// process (tests run in parallel threads).
///
/// Ports come from below the kernel's ephemeral range (`ip_local_port_range`, 32768 and up
/// by default), never from `bind(:0)`: an ephemeral port that is free now can be taken by
/// any outgoing connection (every client a test starts makes some) before the server binds
/// it, which made servers fail to start with "address in use" at random. Each test process
/// starts at its own offset (from its pid) so test binaries running at once rarely collide.
pub fn free_port() -> u16 {
    const LOW: u32 = 10_000;
    const SPAN: u32 = 20_000; // 10000..30000
    static NEXT: OnceLock<Mutex<(u32, HashSet<u16>)>> = OnceLock::new();
    let state =
        NEXT.get_or_init(|| Mutex::new(((std::process::id() * 7919) % SPAN, HashSet::new())));
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..SPAN {
        state.0 = (state.0 + 1) % SPAN;
        let port = u16::try_from(LOW + state.0).expect("below 30000");
        if state.1.contains(&port) {
            continue;
        }
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if TcpListener::bind(addr).is_ok() && std::net::UdpSocket::bind(addr).is_ok() {
            state.1.insert(port);
            return port;
        }
    }
    panic!("no free port found in 10000..30000");
}
