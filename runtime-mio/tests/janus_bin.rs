//! The `janus` binary as a user runs it: what it prints, its exit codes, a second instance
//! on a port in use, and SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn janus() -> Command {
    Command::new(env!("CARGO_BIN_EXE_janus"))
}

fn temp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("janus-bin-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Starts `janus serve` on ephemeral ports and returns it with the first stdout line and
/// the NFS port it printed.
fn serve(state: &PathBuf) -> (Child, Vec<String>, u16) {
    let mut child = janus()
        .args(["serve", "--backend", "memory", "--share", "mem="])
        .args([
            "--bind",
            "127.0.0.1",
            "--nfs-port",
            "0",
            "--smb-port",
            "0",
            "--portmap-port",
            "0",
        ])
        .arg("--state")
        .arg(state)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    loop {
        let mut l = String::new();
        if out.read_line(&mut l).unwrap() == 0 {
            break;
        }
        let done = l.starts_with("locking:");
        lines.push(l.trim_end().to_string());
        if done {
            break;
        }
    }
    let first = lines.first().cloned().unwrap_or_default();
    let port = first
        .split("NFSv3 on 127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {lines:?}"));
    (child, lines, port)
}

fn wait(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("janus did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn prints_mount_hints_refuses_a_busy_port_and_stops_on_sigterm() {
    let state = temp("a");
    let (mut first, lines, port) = serve(&state);
    let text = lines.join("\n");
    assert!(
        text.contains(&format!(
            "mount -t nfs -o vers=3,proto=tcp,port={port},mountport={port},nolock 127.0.0.1:/mem /mnt"
        )),
        "{text}"
    );
    assert!(text.contains(&format!(
        "nfs://127.0.0.1/mem?version=3&nfsport={port}&mountport={port}"
    )));

    // A second instance on the same port: one line naming the port, exit code 1.
    let out = janus()
        .args(["serve", "--backend", "memory", "--share", "mem="])
        .args([
            "--bind",
            "127.0.0.1",
            "--portmap-port",
            "0",
            "--smb-port",
            "0",
        ])
        .args(["--nfs-port", &port.to_string()])
        .arg("--state")
        .arg(temp("b"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err,
        format!("janus: cannot bind TCP 127.0.0.1:{port} (address in use): another NFS server or janus is running; stop it or choose another port with --nfs-port\n")
    );

    // SIGTERM: clean exit, journal marked clean (a clean marker frame was appended).
    let before = std::fs::metadata(state.join("journal")).unwrap().len();
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&first),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let status = wait(&mut first, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    assert!(std::fs::metadata(state.join("journal")).unwrap().len() > before);
}

#[test]
fn config_errors_exit_2_with_one_line() {
    let out = janus()
        .args(["serve", "--share", "noequals"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "janus: --share \"noequals\": expected NAME=DIR, e.g. --share export=./data\n"
    );

    let dir = temp("cfg");
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("janus.toml");
    std::fs::write(&cfg, "nfs_port = 1\nbogus = true\n").unwrap();
    let out = janus()
        .args(["serve", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!("janus: config file {}: line 2:", cfg.display())),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    // A share directory that does not exist (local backend).
    let out = janus()
        .args([
            "serve",
            "--smb-port",
            "0",
            "--portmap-port",
            "0",
            "--nfs-port",
            "0",
            "--bind",
            "127.0.0.1",
        ])
        .arg("--share")
        .arg(format!("x={}", dir.join("missing").display()))
        .arg("--state")
        .arg(dir.join("state"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("janus: share \"x\""), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        !dir.join("state").exists(),
        "a failed start leaves no state behind"
    );
}

/// Starts `janus serve` on a local directory with `squash` flags, waits until it serves,
/// stops it, and returns the log lines that warn about the share's directory.
fn squash_warnings(tag: &str, flags: &[&str]) -> Vec<String> {
    let dir = temp(tag);
    let share = dir.join("data");
    std::fs::create_dir_all(&share).unwrap();
    std::fs::set_permissions(&share, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut child = janus()
        .args([
            "serve",
            "--bind",
            "127.0.0.1",
            "--nfs-port",
            "0",
            "--smb-port",
            "0",
            "--portmap-port",
            "0",
        ])
        .arg("--share")
        .arg(format!("data={}", share.display()))
        .arg("--state")
        .arg(dir.join("state"))
        .args(flags)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The mount hints are printed once the server serves; the check runs before that.
    let mut out = BufReader::new(child.stdout.take().unwrap());
    loop {
        let mut l = String::new();
        if out.read_line(&mut l).unwrap() == 0 || l.starts_with("locking:") {
            break;
        }
    }
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    assert_eq!(wait(&mut child, Duration::from_secs(10)).code(), Some(0));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    err.lines()
        .filter(|l| l.contains("cannot create files in"))
        .map(str::to_string)
        .collect()
}

#[test]
fn warns_once_when_squashed_clients_cannot_write_the_share() {
    // A 0755 directory owned by the test's user: uid 65534 may not create files in it.
    let w = squash_warnings("sq-on", &[]);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("share \"data\""), "{w:?}");
    assert!(w[0].contains("chown 65534:65534"), "{w:?}");
    assert!(w[0].contains("--root-squash off"), "{w:?}");
    let w = squash_warnings("sq-all", &["--root-squash", "off", "--all-squash", "on"]);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("--all-squash off"), "{w:?}");
    // Root squashing off: nothing to warn about.
    assert!(squash_warnings("sq-off", &["--root-squash", "off"]).is_empty());
}
