//! MNT of a directory below an export (RFC 1813 Appendix I) against the real `janus`
//! binary serving a local directory, with a third-party client: libnfs-utils `nfs-ls` and
//! `nfs-cat` MOUNT the URL's directory (`nfs://host/export/sub` mounts `/export/sub`), so
//! they only work if the server resolves paths below its exports. Needs libnfs-utils
//! (`apt-get install libnfs-utils`, done by `scripts/install-test-deps.sh`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn temp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("janus-mntsub-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `janus serve` of `share` as `/export` on an ephemeral port; returns it and the port.
fn serve(share: &Path, state: &Path) -> (Child, u16) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_janus"))
        .arg("serve")
        .arg("--share")
        .arg(format!("export={}", share.display()))
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
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let port = first
        .split("NFSv3 on 127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {first:?}"));
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in out.lines() {});
    (child, port)
}

/// Runs a libnfs-utils tool on `nfs://127.0.0.1<path>` with a time limit.
fn libnfs(tool: &str, port: u16, path: &str) -> Output {
    let url = format!("nfs://127.0.0.1{path}?version=3&nfsport={port}&mountport={port}");
    let mut child = Command::new(tool)
        .arg(&url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {tool} ({e}): install libnfs-utils"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{tool} {url} did not finish within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// The names `nfs-ls` printed (`MODE NLINK UID GID SIZE NAME`), without `.` and `..`.
fn names(out: &Output) -> Vec<String> {
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5).map(str::to_owned))
        .filter(|n| n != "." && n != "..")
        .collect();
    v.sort();
    v
}

#[test]
fn libnfs_mounts_and_lists_a_subdirectory_of_a_local_share() {
    let dir = temp("t");
    let share = dir.join("share");
    std::fs::create_dir_all(share.join("sub/inner/deep")).unwrap();
    std::fs::write(share.join("top.txt"), b"top").unwrap();
    std::fs::write(share.join("sub/one.txt"), b"one\n").unwrap();
    std::fs::write(share.join("sub/two.txt"), b"two\n").unwrap();
    std::fs::write(share.join("sub/inner/three.txt"), b"three\n").unwrap();
    let (mut server, port) = serve(&share, &dir.join("state"));

    let ls = libnfs("nfs-ls", port, "/export/sub");
    let err = String::from_utf8_lossy(&ls.stderr).into_owned();
    assert!(ls.status.success(), "nfs-ls /export/sub: {err}");
    assert_eq!(names(&ls), ["inner", "one.txt", "two.txt"]);

    // Two levels down, and a trailing slash.
    let ls = libnfs("nfs-ls", port, "/export/sub/inner/");
    assert!(ls.status.success());
    assert_eq!(names(&ls), ["deep", "three.txt"]);

    // nfs-cat mounts the file's directory, then reads through the handle MNT returned.
    let cat = libnfs("nfs-cat", port, "/export/sub/inner/three.txt");
    assert!(cat.status.success());
    assert_eq!(cat.stdout, b"three\n");

    // A missing directory and a file are refused with the MOUNT status libnfs reports.
    let ls = libnfs("nfs-ls", port, "/export/nosuch");
    assert!(!ls.status.success());
    assert!(
        String::from_utf8_lossy(&ls.stderr).contains("MNT3ERR_NOENT"),
        "{ls:?}"
    );
    let ls = libnfs("nfs-ls", port, "/export/sub/one.txt");
    assert!(!ls.status.success());
    assert!(
        String::from_utf8_lossy(&ls.stderr).contains("MNT3ERR_NOTDIR"),
        "{ls:?}"
    );
    // `..` never climbs above the export.
    let ls = libnfs("nfs-ls", port, "/export/sub/../..");
    assert!(!ls.status.success(), "{ls:?}");

    // The export root still lists the share itself.
    let ls = libnfs("nfs-ls", port, "/export");
    assert!(ls.status.success());
    assert_eq!(names(&ls), ["sub", "top.txt"]);

    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
