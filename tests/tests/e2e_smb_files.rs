//! SMB file service of the real `janus serve` binary (`JANUS_BIN`) with smbclient
//! (Samba 4.17): put and get of a few MiB with checksums, ls, mkdir, rename, del, rmdir,
//! the share list (`-L`, the srvsvc pipe on IPC$), a wrong password, a read-only share, the
//! SMB2 and SMB3 dialects with and without encryption, and one directory served over NFS
//! and SMB at once (libnfs `nfs-cp` one way, smbclient the other, checksums equal).

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use janus_tests::e2e::process::{run, CmdOutput};
use janus_tests::e2e::server::Server;
use janus_tests::e2e::{fnv1a64, nfs_cp, pseudo_random_bytes, users_file, ServerBuilder, TempDir};

const TIMEOUT: Duration = Duration::from_secs(120);
const USER: &str = "alice";
const PASSWORD: &str = "Smb-Files-7";

/// A server with SMB, share `export` (and `ro`, read-only, when asked), user alice.
fn server(label: &str, with_ro: bool) -> (Server, TempDir) {
    let tmp = TempDir::new(&format!("{label}-users"));
    let users = users_file(tmp.path(), USER, PASSWORD);
    let mut b = ServerBuilder::new(label)
        .smb()
        .share("export")
        .arg("--users")
        .arg(users.to_str().expect("utf-8 path"));
    if with_ro {
        b = b.read_only_share("ro");
    }
    (b.start(), tmp)
}

fn smbclient(s: &Server, share: &str, password: &str, extra: &[&str], cmd: &str) -> CmdOutput {
    let mut c = Command::new("smbclient");
    c.arg(format!("//127.0.0.1/{share}"))
        .arg("-p")
        .arg(s.smb_port().to_string())
        .arg("-U")
        .arg(format!("{USER}%{password}"))
        .args(extra)
        .arg("-c")
        .arg(cmd);
    run(&mut c, TIMEOUT)
}

fn all(out: &CmdOutput) -> String {
    format!("{}\n{}", out.stdout_str(), out.stderr_str())
}

/// Runs smbclient commands that must all succeed (smbclient exits 0 even when a command
/// of `-c` fails, so its output is checked for NT_STATUS_ too).
fn ok(s: &Server, share: &str, extra: &[&str], cmd: &str) -> String {
    let out = smbclient(s, share, PASSWORD, extra, cmd);
    let text = all(&out);
    assert!(
        out.success() && !text.contains("NT_STATUS_"),
        "smbclient {cmd:?}: {}\nserver log:\n{}",
        out.describe(),
        s.log()
    );
    text
}

fn write_file(path: &Path, seed: u64, len: usize) -> u64 {
    let data = pseudo_random_bytes(seed, len);
    std::fs::write(path, &data).expect("write local file");
    fnv1a64(&data)
}

fn checksum(path: &Path) -> u64 {
    fnv1a64(&std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())))
}

#[test]
fn put_get_ls_mkdir_rename_del_rmdir() {
    let (s, _users) = server("smb-files-basic", false);
    let local = TempDir::new("smb-files-basic-local");
    let src = local.path().join("big.bin");
    let sum = write_file(&src, 1, 5 * 1024 * 1024 + 123);
    let back = local.path().join("back.bin");
    ok(
        &s,
        "export",
        &[],
        &format!(
            "lcd {}; put big.bin; get big.bin back.bin; mkdir sub",
            local.path().display()
        ),
    );
    assert_eq!(checksum(&back), sum, "the file came back byte for byte");
    let share = s.share_dir("export");
    assert_eq!(
        checksum(&share.join("big.bin")),
        sum,
        "and is on disk as sent"
    );
    let ls = ok(&s, "export", &[], "ls");
    assert!(ls.contains("big.bin") && ls.contains("sub"), "{ls}");
    ok(&s, "export", &[], "rename big.bin sub\\moved.bin");
    assert!(!share.join("big.bin").exists());
    assert_eq!(checksum(&share.join("sub/moved.bin")), sum);
    let ls = ok(&s, "export", &[], "ls sub\\*");
    assert!(ls.contains("moved.bin") && !ls.contains("big.bin"), "{ls}");
    // rmdir of a directory that is not empty is refused.
    let out = smbclient(&s, "export", PASSWORD, &[], "rmdir sub");
    assert!(
        all(&out).contains("NT_STATUS_DIRECTORY_NOT_EMPTY"),
        "{}",
        out.describe()
    );
    ok(&s, "export", &[], "del sub\\moved.bin; rmdir sub");
    assert!(!share.join("sub").exists(), "removed");
    let ls = ok(&s, "export", &[], "ls");
    assert!(!ls.contains("sub") && !ls.contains("big.bin"), "{ls}");
}

#[test]
fn share_list_wrong_password_and_read_only_share() {
    let (s, _users) = server("smb-files-list", true);
    let out = run(
        Command::new("smbclient")
            .arg("-L")
            .arg("//127.0.0.1")
            .arg("-p")
            .arg(s.smb_port().to_string())
            .arg("-U")
            .arg(format!("{USER}%{PASSWORD}")),
        TIMEOUT,
    );
    let text = all(&out);
    for share in ["export", "ro", "IPC$"] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(share)),
            "{share} not listed: {}",
            out.describe()
        );
    }
    let out = smbclient(&s, "export", "wrong-password", &[], "ls");
    assert!(
        all(&out).contains("NT_STATUS_LOGON_FAILURE"),
        "{}",
        out.describe()
    );
    // The read-only share serves reads and refuses every change.
    std::fs::write(s.share_dir("ro").join("r.txt"), b"read me").expect("seed ro");
    let local = TempDir::new("smb-files-ro-local");
    ok(
        &s,
        "ro",
        &[],
        &format!("lcd {}; get r.txt", local.path().display()),
    );
    assert_eq!(
        std::fs::read(local.path().join("r.txt")).unwrap(),
        b"read me"
    );
    write_file(&local.path().join("w.bin"), 2, 1000);
    for cmd in ["put w.bin", "mkdir x", "del r.txt", "rename r.txt s.txt"] {
        let out = smbclient(
            &s,
            "ro",
            PASSWORD,
            &[],
            &format!("lcd {}; {cmd}", local.path().display()),
        );
        assert!(
            all(&out).contains("NT_STATUS_ACCESS_DENIED"),
            "{cmd}: {}",
            out.describe()
        );
    }
    assert!(s.share_dir("ro").join("r.txt").exists());
    assert!(!s.share_dir("ro").join("w.bin").exists());
}

#[test]
fn smb2_smb3_and_encryption() {
    let (s, _users) = server("smb-files-dialects", false);
    let local = TempDir::new("smb-files-dialects-local");
    let sum = write_file(&local.path().join("f.bin"), 3, 3 * 1024 * 1024 + 7);
    for (i, extra) in [
        &["-m", "SMB2"][..],
        &["-m", "SMB3"][..],
        &["-m", "SMB3", "--client-protection=encrypt"][..],
    ]
    .into_iter()
    .enumerate()
    {
        ok(
            &s,
            "export",
            extra,
            &format!(
                "lcd {}; put f.bin f{i}.bin; get f{i}.bin g{i}.bin",
                local.path().display()
            ),
        );
        assert_eq!(
            checksum(&local.path().join(format!("g{i}.bin"))),
            sum,
            "{extra:?}"
        );
        assert_eq!(
            checksum(&s.share_dir("export").join(format!("f{i}.bin"))),
            sum
        );
    }
}

#[test]
fn nfs_and_smb_see_the_same_bytes() {
    let (s, _users) = server("smb-files-cross", false);
    let local = TempDir::new("smb-files-cross-local");
    // NFS writes, SMB reads.
    let sum_nfs = write_file(&local.path().join("from-nfs.bin"), 4, 2 * 1024 * 1024 + 5);
    let out = nfs_cp(
        local.path().join("from-nfs.bin"),
        s.url("export", "via-nfs.bin"),
    );
    assert!(out.success(), "{}", out.describe());
    ok(
        &s,
        "export",
        &[],
        &format!(
            "lcd {}; get via-nfs.bin smb-read.bin",
            local.path().display()
        ),
    );
    assert_eq!(checksum(&local.path().join("smb-read.bin")), sum_nfs);
    // SMB writes, NFS reads.
    let sum_smb = write_file(&local.path().join("from-smb.bin"), 5, 2 * 1024 * 1024 + 11);
    ok(
        &s,
        "export",
        &[],
        &format!(
            "lcd {}; put from-smb.bin via-smb.bin",
            local.path().display()
        ),
    );
    let out = nfs_cp(
        s.url("export", "via-smb.bin"),
        local.path().join("nfs-read.bin"),
    );
    assert!(out.success(), "{}", out.describe());
    assert_eq!(checksum(&local.path().join("nfs-read.bin")), sum_smb);
}

#[test]
fn change_notify_sees_nfs_and_smb_changes() {
    let (s, _users) = server("smb-files-notify", false);
    let local = TempDir::new("smb-files-notify-local");
    let watched = s.share_dir("export").join("w");
    std::fs::create_dir(&watched).expect("mkdir w");
    std::fs::set_permissions(&watched, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    write_file(&local.path().join("f.bin"), 6, 1000);
    let out_path = local.path().join("notify.out");
    // smbclient's `notify` waits for changes and prints each (line-buffered through stdbuf,
    // as it is killed at the end).
    let mut watcher = Command::new("stdbuf")
        .args(["-oL", "-eL", "smbclient"])
        .arg("//127.0.0.1/export")
        .arg("-p")
        .arg(s.smb_port().to_string())
        .arg("-U")
        .arg(format!("{USER}%{PASSWORD}"))
        .args(["-c", "notify w"])
        .stdout(std::fs::File::create(&out_path).expect("out"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start smbclient notify");
    std::thread::sleep(Duration::from_millis(1500));
    let out = nfs_cp(
        local.path().join("f.bin"),
        s.url("export", "w/from-nfs.bin"),
    );
    assert!(out.success(), "{}", out.describe());
    ok(
        &s,
        "export",
        &[],
        &format!("lcd {}; put f.bin w\\from-smb.bin", local.path().display()),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut seen = String::new();
    while std::time::Instant::now() < deadline {
        seen = std::fs::read_to_string(&out_path).unwrap_or_default();
        if seen.contains("from-nfs.bin") && seen.contains("from-smb.bin") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = watcher.kill();
    let _ = watcher.wait();
    assert!(
        seen.contains("from-nfs.bin") && seen.contains("from-smb.bin"),
        "smbclient notify printed {seen:?}\nserver log:\n{}",
        s.log()
    );
}

/// The large transfer: 64 MiB put and get (SMB3, multi-credit READ/WRITE), the
/// checksum of what came back and of what is on disk equal to what was sent.
#[test]
fn put_get_64_mib_with_checksums() {
    let (s, _users) = server("smb-files-64m", false);
    let local = TempDir::new("smb-files-64m-local");
    let sum = write_file(&local.path().join("big.bin"), 7, 64 * 1024 * 1024);
    ok(
        &s,
        "export",
        &["-m", "SMB3"],
        &format!(
            "lcd {}; put big.bin; get big.bin back.bin",
            local.path().display()
        ),
    );
    assert_eq!(
        std::fs::metadata(s.share_dir("export").join("big.bin"))
            .expect("on disk")
            .len(),
        64 * 1024 * 1024
    );
    assert_eq!(
        checksum(&s.share_dir("export").join("big.bin")),
        sum,
        "on disk"
    );
    assert_eq!(checksum(&local.path().join("back.bin")), sum, "got back");
}

/// `ls` of a directory of 10,000 entries, made directly on disk: every name is listed
/// exactly once (QUERY_DIRECTORY continues across many responses without losing or
/// repeating an entry), with `.` and `..`, and nothing else.
#[test]
fn ls_of_10000_entries_lists_each_once() {
    const N: usize = 10_000;
    let (s, _users) = server("smb-files-bigdir", false);
    let dir = s.share_dir("export").join("many");
    std::fs::create_dir(&dir).expect("mkdir many");
    let mut want = std::collections::BTreeSet::new();
    for i in 0..N {
        // Names of varying length, so that entries do not all have one size.
        let name = format!("entry-{i:05}{}", "x".repeat(i % 17));
        if i % 10 == 0 {
            std::fs::create_dir(dir.join(&name)).expect("mkdir entry");
        } else {
            std::fs::write(dir.join(&name), b"").expect("create entry");
        }
        want.insert(name);
    }
    let text = ok(&s, "export", &[], "ls many\\*");
    // smbclient prints each entry as `  NAME  ATTRS  SIZE  DATE`; the names have no spaces.
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("  ") {
            if let Some(name) = rest.split_whitespace().next() {
                if name.starts_with("entry-") || name == "." || name == ".." {
                    *seen.entry(name.to_string()).or_default() += 1;
                }
            }
        }
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "listed more than once: {twice:?}");
    let missing: Vec<_> = want.iter().filter(|n| !seen.contains_key(*n)).collect();
    assert!(
        missing.is_empty(),
        "{} of {N} missing, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(seen.get("."), Some(&1), "`.` listed once");
    assert_eq!(seen.get(".."), Some(&1), "`..` listed once");
    assert_eq!(seen.len(), N + 2, "nothing else listed");
}
