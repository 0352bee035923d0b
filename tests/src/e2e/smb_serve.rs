//! `janus serve` with its SMB service on: a users file made with `janus user add
//! --password-stdin`, one read-write share, a free SMB port on 127.0.0.1, for tests that drive
//! third-party SMB clients (smbtorture, smbclient, smbprotocol) through the project's scripts.
//!
//! The server itself is a [`Server`] from [`ServerBuilder`] (same binary, state directory,
//! log and by-PID shutdown as the NFS tests) with `--smb-port` and `--users` added; start
//! returns once the SMB port accepts connections, or panics with the server's log (a build
//! that does not serve SMB refuses `--smb-port` and exits: that log line is the message).
//!
//! `JANUS_E2E_SMB_TARGET=samba` runs the same tests against Samba's smbd instead
//! (`scripts/samba-server.sh`, package samba), to validate the tests themselves, as
//! `JANUS_E2E_TARGET=ganesha` does for the NFS tests.

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::server::{free_port, janus_bin};
use super::{Server, ServerBuilder, TempDir};

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
    Janus(Server),
    Samba { dir: PathBuf, stopped: bool },
}

/// A running SMB server sharing [`SMB_SHARE`] with [`SMB_USER`]: Janus (serving NFS too), or
/// Samba with `JANUS_E2E_SMB_TARGET=samba`. Stopped (by PID) on drop.
#[derive(Debug)]
pub struct SmbServer {
    running: Running,
    /// The SMB port on 127.0.0.1.
    pub smb_port: u16,
    scratch: TempDir,
}

impl SmbServer {
    /// Start the server `JANUS_E2E_SMB_TARGET` names (see [`SmbServer::start_janus`]).
    pub fn start(label: &str) -> SmbServer {
        match SmbTarget::from_env() {
            SmbTarget::Janus => SmbServer::start_janus(label),
            SmbTarget::Samba => SmbServer::start_samba(label),
        }
    }

    /// Samba's smbd on a free port, all its state in a temporary directory
    /// (`scripts/samba-server.sh start DIR PORT USER PASS`).
    pub fn start_samba(label: &str) -> SmbServer {
        let scratch = TempDir::new(label);
        let dir = scratch.path().join("samba");
        let smb_port = free_port();
        let out = super::run(
            Command::new("bash")
                .arg(workspace_script("scripts/samba-server.sh"))
                .arg("start")
                .arg(&dir)
                .args([&smb_port.to_string(), SMB_USER, SMB_PASSWORD]),
            Duration::from_secs(60),
        );
        let server = SmbServer {
            running: Running::Samba {
                dir,
                stopped: false,
            },
            smb_port,
            scratch,
        };
        assert!(out.success(), "samba did not start: {}", out.describe());
        server
    }

    /// Write the users file (`janus user add --password-stdin`, the user's file operations
    /// run as this process's uid/gid, as smbtorture's reference Samba runs with
    /// `force user` = the caller) and start `janus serve --share share=DIR --smb-port P
    /// --users FILE`. Panics with the server log unless the SMB port accepts connections
    /// within 30 s.
    pub fn start_janus(label: &str) -> SmbServer {
        let users_dir = TempDir::new(&format!("{label}-users"));
        let users = users_dir.path().join("janus-users");
        add_user(&users, SMB_USER, SMB_PASSWORD);
        let smb_port = free_port();
        let mut server = ServerBuilder::new(label)
            .share(SMB_SHARE)
            .arg("--smb-port")
            .arg(smb_port.to_string())
            .arg("--users")
            .arg(users.display().to_string())
            .start();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let addr = SocketAddr::from(([127, 0, 0, 1], smb_port));
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                break;
            }
            assert!(
                server.is_running(),
                "janus exited instead of serving SMB on port {smb_port}:\n{}",
                server.log()
            );
            assert!(
                Instant::now() < deadline,
                "janus is not listening on SMB port {smb_port} after 30 s:\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        SmbServer {
            running: Running::Janus(server),
            smb_port,
            scratch: users_dir,
        }
    }

    /// Which server this is.
    pub fn target(&self) -> SmbTarget {
        match self.running {
            Running::Janus(_) => SmbTarget::Janus,
            Running::Samba { .. } => SmbTarget::Samba,
        }
    }

    /// A private directory for the test's outputs (kept with `JANUS_E2E_KEEP=1`).
    pub fn scratch(&self) -> &Path {
        match &self.running {
            Running::Janus(s) => s.scratch(),
            Running::Samba { .. } => self.scratch.path(),
        }
    }

    /// True while the server process is alive.
    pub fn is_running(&mut self) -> bool {
        match &mut self.running {
            Running::Janus(s) => s.is_running(),
            Running::Samba { dir, stopped } => {
                let pid = std::fs::read_to_string(dir.join("smbd.pid")).unwrap_or_default();
                !*stopped && Path::new("/proc").join(pid.trim()).join("status").exists()
            }
        }
    }

    /// The server's log.
    pub fn log(&self) -> String {
        match &self.running {
            Running::Janus(s) => s.log(),
            Running::Samba { dir, .. } => std::fs::read_to_string(dir.join("smbd.log"))
                .unwrap_or_else(|e| format!("no smbd.log: {e}")),
        }
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
        match &self.running {
            Running::Janus(s) => s.share_dir(SMB_SHARE),
            Running::Samba { dir, .. } => dir.join("share"),
        }
    }
}

impl Drop for SmbServer {
    fn drop(&mut self) {
        // Janus: Server's own Drop stops it. Samba: stop smbd by its recorded PID.
        if let Running::Samba { dir, stopped } = &mut self.running {
            if !*stopped {
                *stopped = true;
                let _ = super::run(
                    Command::new("bash")
                        .arg(super::workspace_root().join("scripts/samba-server.sh"))
                        .arg("stop")
                        .arg(&*dir),
                    Duration::from_secs(60),
                );
            }
        }
    }
}

/// `janus user add --users FILE NAME --password-stdin --uid U --gid G` with this process's
/// ids; panics with its output on failure.
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
        let _ = writeln!(stdin, "{password}");
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

/// A script of the workspace (`scripts/NAME`, `bench/NAME`) as a path.
pub fn workspace_script(rel: &str) -> PathBuf {
    let p = super::workspace_root().join(rel);
    assert!(p.exists(), "{} missing", p.display());
    p
}
