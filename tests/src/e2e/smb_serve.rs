//! An SMB server on 127.0.0.1 for tests that drive third-party SMB clients (smbtorture,
//! smbclient, smbprotocol) through the project's scripts: `janus serve` with one read-write
//! share, a users file made with `janus user add --password-stdin`, a free SMB port.
//!
//! Janus is started here with its full command line (`--share`, `--smb-port`, `--users`,
//! `--nfs-port`, `--portmap-port`, `--state`) rather than through [`super::ServerBuilder`], so
//! these tests do not depend on which SMB flags the builder passes by default. Start returns
//! once the SMB port accepts connections, or panics with the server's log (a build that does
//! not serve SMB refuses `--smb-port` and exits: that log line is the message). The server is
//! stopped by PID on drop (SIGTERM, SIGKILL after 10 s).
//!
//! `JANUS_E2E_SMB_TARGET=samba` runs the same tests against Samba's smbd instead
//! (`scripts/samba-server.sh`, package samba), to validate the tests themselves, as
//! `JANUS_E2E_TARGET=ganesha` does for the NFS tests.

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::server::{free_port, janus_bin};
use super::TempDir;

/// The SMB user the tests log on as.
pub const SMB_USER: &str = "torture";
/// Its password.
pub const SMB_PASSWORD: &str = "torture-Pass-1";
/// The share every SMB e2e test uses.
pub const SMB_SHARE: &str = "share";

/// Which SMB server the tests talk to (`JANUS_E2E_SMB_TARGET`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmbTarget {
    /// `janus serve` (default).
    Janus,
    /// Samba's smbd from `scripts/samba-server.sh`, for validating the tests.
    Samba,
}

impl SmbTarget {
    /// From `JANUS_E2E_SMB_TARGET` (`janus` when unset).
    pub fn from_env() -> SmbTarget {
        match std::env::var("JANUS_E2E_SMB_TARGET").as_deref() {
            Ok("samba") => SmbTarget::Samba,
            Ok("janus") | Err(_) => SmbTarget::Janus,
            Ok(other) => panic!("JANUS_E2E_SMB_TARGET={other}: expected janus or samba"),
        }
    }
}

#[derive(Debug)]
enum Running {
    Janus(Option<Child>),
    Samba { stopped: bool },
}

/// A running SMB server sharing [`SMB_SHARE`] with [`SMB_USER`]: Janus (serving NFS too), or
/// Samba with `JANUS_E2E_SMB_TARGET=samba`. Stopped (by PID) on drop.
#[derive(Debug)]
pub struct SmbServer {
    running: Running,
    /// The SMB port on 127.0.0.1.
    pub smb_port: u16,
    root: TempDir,
}

impl SmbServer {
    /// Start the server `JANUS_E2E_SMB_TARGET` names (see [`SmbServer::start_janus`]), the
    /// share with Janus's default settings.
    pub fn start(label: &str) -> SmbServer {
        SmbServer::start_with(label, &[])
    }

    /// As [`SmbServer::start`], with extra keys of Janus's `[[share]]` table (e.g.
    /// `smb_encrypt = "off"`); ignored for Samba, whose share never encrypts unless the
    /// client asks.
    pub fn start_with(label: &str, share_keys: &[&str]) -> SmbServer {
        match SmbTarget::from_env() {
            SmbTarget::Janus => SmbServer::start_janus(label, share_keys),
            SmbTarget::Samba => SmbServer::start_samba(label),
        }
    }

    /// Samba's smbd on a free port, all its state in a temporary directory
    /// (`scripts/samba-server.sh start DIR PORT USER PASS`; the share is `DIR/samba/share`).
    pub fn start_samba(label: &str) -> SmbServer {
        let root = TempDir::new(label);
        let smb_port = free_port();
        let out = super::run(
            Command::new("bash")
                .arg(workspace_script("scripts/samba-server.sh"))
                .arg("start")
                .arg(root.path().join("samba"))
                .args([&smb_port.to_string(), SMB_USER, SMB_PASSWORD]),
            Duration::from_secs(60),
        );
        let server = SmbServer {
            running: Running::Samba { stopped: false },
            smb_port,
            root,
        };
        assert!(out.success(), "samba did not start: {}", out.describe());
        server
    }

    /// Write the users file (`janus user add --password-stdin`; the user's file operations
    /// run as this process's uid/gid, as the reference Samba runs with `force user` = the
    /// caller) and start `janus serve --bind 127.0.0.1 --share share=DIR --smb-port P --users
    /// FILE --root-squash off --nfs-port N --portmap-port M --state DIR`. Panics with the server log unless the
    /// SMB port accepts connections within 30 s.
    /// With `share_keys`, the share is described in a config file (`--config`, a `[[share]]`
    /// table with those keys) instead of `--share`.
    pub fn start_janus(label: &str, share_keys: &[&str]) -> SmbServer {
        let root = TempDir::new(label);
        let share = root.path().join("shares").join(SMB_SHARE);
        std::fs::create_dir_all(&share).expect("create share dir");
        std::fs::set_permissions(&share, std::fs::Permissions::from_mode(0o777))
            .expect("chmod share dir");
        let state = root.path().join("state");
        std::fs::create_dir_all(&state).expect("create state dir");
        let users = root.path().join("janus-users");
        add_user(&users, SMB_USER, SMB_PASSWORD);
        let smb_port = free_port();
        let log = std::fs::File::create(root.path().join("server.out")).expect("server.out");
        let mut cmd = Command::new(janus_bin());
        cmd.arg("serve").args(["--bind", "127.0.0.1"]);
        if share_keys.is_empty() {
            cmd.arg("--share")
                .arg(format!("{SMB_SHARE}={}", share.display()));
        } else {
            let config = root.path().join("janus.toml");
            let text = format!(
                "[[share]]\nname = \"{SMB_SHARE}\"\npath = \"{}\"\n{}\n",
                share.display(),
                share_keys.join("\n")
            );
            std::fs::write(&config, text).expect("write janus.toml");
            cmd.arg("--config").arg(config);
        }
        cmd.args(["--smb-port", &smb_port.to_string()])
            .arg("--users")
            .arg(&users)
            // The user runs as this process's uid (root in CI) and is not squashed, like the
            // reference Samba's `force user`: the two are compared with the same identity.
            .args(["--root-squash", "off"])
            .args(["--nfs-port", &free_port().to_string()])
            .args(["--portmap-port", &free_port().to_string()])
            .arg("--state")
            .arg(&state)
            .args([
                "--log",
                &std::env::var("JANUS_E2E_LOG").unwrap_or_else(|_| "info".into()),
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log fd"))
            .stderr(log);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let mut server = SmbServer {
            running: Running::Janus(Some(child)),
            smb_port,
            root,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let addr = SocketAddr::from(([127, 0, 0, 1], smb_port));
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return server;
            }
            assert!(
                server.is_running(),
                "janus exited instead of serving SMB on port {smb_port} ({cmd:?}):\n{}",
                server.log()
            );
            assert!(
                Instant::now() < deadline,
                "janus is not listening on SMB port {smb_port} after 30 s:\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Which server this is.
    pub fn target(&self) -> SmbTarget {
        match self.running {
            Running::Janus(_) => SmbTarget::Janus,
            Running::Samba { .. } => SmbTarget::Samba,
        }
    }

    /// The server's private directory; tests put their outputs here (kept with
    /// `JANUS_E2E_KEEP=1`).
    pub fn scratch(&self) -> &Path {
        self.root.path()
    }

    /// True while the server process is alive.
    pub fn is_running(&mut self) -> bool {
        match &mut self.running {
            Running::Janus(child) => child
                .as_mut()
                .is_some_and(|c| matches!(c.try_wait(), Ok(None))),
            Running::Samba { stopped } => {
                let pid = std::fs::read_to_string(self.root.path().join("samba/smbd.pid"))
                    .unwrap_or_default();
                let pid = pid.trim();
                !*stopped && !pid.is_empty() && Path::new("/proc").join(pid).exists()
            }
        }
    }

    /// The server's log (Janus's stdout and stderr, or smbd's log).
    pub fn log(&self) -> String {
        let file = match self.running {
            Running::Janus(_) => self.root.path().join("server.out"),
            Running::Samba { .. } => self.root.path().join("samba/smbd.log"),
        };
        std::fs::read_to_string(&file).unwrap_or_else(|e| format!("{}: {e}", file.display()))
    }

    /// `//127.0.0.1:PORT/share`, the target syntax of the project's SMB scripts.
    pub fn unc(&self) -> String {
        format!("//127.0.0.1:{}/{SMB_SHARE}", self.smb_port)
    }

    /// `user%password` for `-U`.
    pub fn credentials(&self) -> String {
        format!("{SMB_USER}%{SMB_PASSWORD}")
    }

    /// The share's directory on disk.
    pub fn share_dir(&self) -> PathBuf {
        match self.running {
            Running::Janus(_) => self.root.path().join("shares").join(SMB_SHARE),
            Running::Samba { .. } => self.root.path().join("samba/share"),
        }
    }

    /// Stop the server: Janus by SIGTERM to its PID, SIGKILL after 10 s; Samba with
    /// `scripts/samba-server.sh stop` (its recorded process group and helpers).
    pub fn stop(&mut self) {
        match &mut self.running {
            Running::Janus(child) => {
                if let Some(child) = child.take() {
                    super::process::terminate(child);
                }
            }
            Running::Samba { stopped } => {
                if !*stopped {
                    *stopped = true;
                    let _ = super::run(
                        Command::new("bash")
                            .arg(super::workspace_root().join("scripts/samba-server.sh"))
                            .arg("stop")
                            .arg(self.root.path().join("samba")),
                        Duration::from_secs(60),
                    );
                }
            }
        }
    }
}

impl Drop for SmbServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.log();
            let start = log.len().saturating_sub(8000);
            let start = (start..log.len())
                .find(|i| log.is_char_boundary(*i))
                .unwrap_or(0);
            eprintln!(
                "--- {:?} server log (last 8000 bytes, dir {}):\n{}",
                self.target(),
                self.root.path().display(),
                &log[start..]
            );
        }
        self.stop();
    }
}

/// `janus user add --users FILE NAME --password-stdin --uid U --gid G` with this process's
/// ids; panics with its output on failure, or if it has not finished after 30 s.
pub fn add_user(users: &Path, name: &str, password: &str) {
    let uid = rustix::process::getuid().as_raw().to_string();
    let gid = rustix::process::getgid().as_raw().to_string();
    let mut child = Command::new(janus_bin())
        .args(["user", "add", "--users"])
        .arg(users)
        .args([name, "--password-stdin", "--uid", &uid, "--gid", &gid])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start janus user add");
    if let Some(mut stdin) = child.stdin.take() {
        // A closed pipe (janus did not read) shows in its exit status below.
        let _ = writeln!(stdin, "{password}");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while matches!(child.try_wait(), Ok(None)) {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("janus user add {name}: no exit after 30 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().expect("janus user add");
    assert!(
        out.status.success(),
        "janus user add {name}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A file of the workspace (`scripts/NAME`, `bench/NAME`) as a path; panics if missing.
pub fn workspace_script(rel: &str) -> PathBuf {
    let p = super::workspace_root().join(rel);
    assert!(p.exists(), "{} missing", p.display());
    p
}
