//! `janus user add|del|list` and `janus serve --users` end to end, with the release binary:
//! the users file's content and mode after every write, the refusals (group/world-readable,
//! someone else's, malformed), and concurrent adds that must all land.

use std::io::{Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use janus_tests::e2e::process::CmdOutput;
use janus_tests::e2e::server::janus_bin;
use janus_tests::e2e::{ServerBuilder, TempDir};
use server::users::{nt_hash, Users};

const TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `janus ARGS` with `stdin` as its standard input; killed (by PID) after [`TIMEOUT`].
fn janus(args: &[&str], stdin: &str) -> CmdOutput {
    let mut cmd = Command::new(janus_bin());
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let cmdline = format!("{cmd:?}");
    let start = Instant::now();
    let mut child = cmd.spawn().expect("start janus");
    let mut input = child.stdin.take().expect("stdin");
    // A closed pipe (janus did not read) is not the test's failure.
    let _ = input.write_all(stdin.as_bytes());
    drop(input);
    let status = loop {
        match child.try_wait().expect("wait") {
            Some(s) => break Some(s),
            None if start.elapsed() > TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    let out = child.wait_with_output().expect("output");
    CmdOutput {
        cmdline,
        status,
        stdout: out.stdout,
        stderr: out.stderr,
        elapsed: start.elapsed(),
    }
}

fn add(file: &Path, name: &str, password: &str, extra: &[&str]) -> CmdOutput {
    let f = file.to_str().unwrap();
    let mut args = vec!["user", "add", "--users", f, name, "--password-stdin"];
    args.extend_from_slice(extra);
    janus(&args, &format!("{password}\n"))
}

fn user_cmd(file: &Path, what: &str, name: Option<&str>) -> CmdOutput {
    let f = file.to_str().unwrap();
    let mut args = vec!["user", what, "--users", f];
    args.extend(name);
    janus(&args, "")
}

fn mode(file: &Path) -> u32 {
    std::fs::metadata(file).unwrap().permissions().mode() & 0o7777
}

fn hex(h: [u8; 16]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// The directory's entries other than `keep` (left-over temporary files).
fn strays(dir: &Path, keep: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != keep)
        .collect()
}

/// `s` without ANSI escape sequences (the server log is coloured).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ parameters final-byte
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn users_dir(label: &str) -> (TempDir, PathBuf) {
    let tmp = TempDir::new(label);
    let dir = tmp.path().join("etc");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("janus-users");
    (tmp, file)
}

#[test]
fn add_list_replace_and_delete() {
    let (_tmp, file) = users_dir("users-cycle");
    let dir = file.parent().unwrap().to_path_buf();

    let out = add(
        &file,
        "alice",
        "s3cret pass",
        &["--uid", "1234", "--gid", "5678"],
    )
    .ok();
    assert_eq!(
        out.stdout_str(),
        "added user \"alice\"; file operations run as uid 1234, gid 5678\n"
    );
    assert_eq!(mode(&file), 0o600, "created 0600");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("# janus users v1\n"), "{text}");
    assert!(
        text.contains(&format!(
            "\nalice:1234:5678:{}\n",
            hex(nt_hash("s3cret pass"))
        )),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "the password is never stored");

    // No local account of that name: the share's anonymous ids.
    let out = add(&file, "janus-e2e-no-such-account", "pw2", &[]).ok();
    assert!(out
        .stdout_str()
        .contains("uid the share's anon_uid, gid the share's anon_gid"));
    // A local account of that name: its ids (root is in every /etc/passwd).
    let out = add(&file, "root", "pw3", &[]).ok();
    assert!(
        out.stdout_str()
            .contains("uid 0 (local account), gid 0 (local account)"),
        "{}",
        out.describe()
    );

    let list = user_cmd(&file, "list", None).ok().stdout_str();
    let rows: Vec<Vec<String>> = list
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect();
    assert_eq!(
        rows,
        [
            ["alice", "1234", "5678"],
            ["janus-e2e-no-such-account", "anon", "anon"],
            ["root", "0", "0"],
        ],
        "{list}"
    );
    assert!(
        !list.contains(&hex(nt_hash("s3cret pass"))),
        "list never shows hashes"
    );

    // Adding an existing user (any case) replaces its hash and says so; ids are kept.
    let out = add(&file, "ALICE", "new pass", &[]).ok();
    assert!(
        out.stdout_str()
            .starts_with("replaced the password of user \"ALICE\"; file operations run as uid 1234 (kept), gid 5678 (kept)"),
        "{}",
        out.describe()
    );
    let table = Users::parse(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(table.len(), 3);
    assert_eq!(table.lookup("alice").unwrap().nt_hash, nt_hash("new pass"));
    assert_eq!(mode(&file), 0o600, "still 0600 after a rewrite");

    let out = user_cmd(&file, "del", Some("Janus-E2E-No-Such-Account")).ok();
    assert_eq!(
        out.stdout_str(),
        "removed user \"janus-e2e-no-such-account\"\n"
    );
    let out = user_cmd(&file, "del", Some("janus-e2e-no-such-account"));
    assert_eq!(
        out.status.and_then(|s| s.code()),
        Some(1),
        "{}",
        out.describe()
    );
    assert!(
        out.stderr_str()
            .contains("no user \"janus-e2e-no-such-account\""),
        "{}",
        out.describe()
    );
    let table = Users::parse(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let names: Vec<&str> = table.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["ALICE", "root"]);
    assert_eq!(mode(&file), 0o600);
    assert!(
        strays(&dir, "janus-users").is_empty(),
        "no temporary file left"
    );
}

#[test]
fn refuses_a_file_others_may_read_or_that_is_not_ours() {
    let (_tmp, file) = users_dir("users-perm");
    add(&file, "alice", "pw", &[]).ok();
    let before = std::fs::read(&file).unwrap();

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    for out in [
        user_cmd(&file, "list", None),
        add(&file, "bob", "pw", &[]),
        user_cmd(&file, "del", Some("alice")),
    ] {
        assert_eq!(
            out.status.and_then(|s| s.code()),
            Some(1),
            "{}",
            out.describe()
        );
        let e = out.stderr_str();
        assert!(e.contains("mode 0644") && e.contains("chmod 600"), "{e}");
        assert_eq!(e.lines().count(), 1, "{e}");
    }
    assert_eq!(std::fs::read(&file).unwrap(), before, "nothing written");
    assert_eq!(mode(&file), 0o644, "and not silently fixed");

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = user_cmd(&file, "list", None);
    assert!(out.stderr_str().contains("mode 0640"), "{}", out.describe());

    // Someone else's file (only root can hand a file to another user).
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    if rustix::process::geteuid().is_root() {
        rustix::fs::chown(&file, Some(rustix::fs::Uid::from_raw(65534)), None).unwrap();
        let out = user_cmd(&file, "list", None);
        assert!(!out.success());
        assert!(
            out.stderr_str()
                .contains("owned by uid 65534, not by the user running janus"),
            "{}",
            out.describe()
        );
    }
}

#[test]
fn errors_name_the_line_and_the_file() {
    let (_tmp, file) = users_dir("users-bad");
    let out = user_cmd(&file, "list", None);
    assert!(!out.success());
    assert!(
        out.stderr_str().contains("no such file"),
        "{}",
        out.describe()
    );

    std::fs::write(
        &file,
        "# janus users v1\nalice:1:1:31d6cfe0d16ae931b73c59d7e0c089c0\nbob:1:1:xyz\n",
    )
    .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = user_cmd(&file, "list", None);
    let e = out.stderr_str();
    assert!(!out.success());
    assert!(e.contains(&file.display().to_string()), "{e}");
    assert!(
        e.contains("line 3: user \"bob\": the NT hash must be 32 hexadecimal digits"),
        "{e}"
    );

    // Bad names and passwords are refused before anything is written.
    for (name, pw, want) in [
        ("a:b", "pw", "contains ':'"),
        ("", "pw", "empty"),
        ("carol", "", "empty password"),
    ] {
        std::fs::write(&file, "# janus users v1\n").unwrap();
        let out = add(&file, name, pw, &[]);
        assert!(!out.success(), "{}", out.describe());
        assert!(out.stderr_str().contains(want), "{}", out.describe());
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "# janus users v1\n"
        );
    }
}

#[test]
fn concurrent_adds_all_land() {
    let (_tmp, file) = users_dir("users-concurrent");
    let dir = file.parent().unwrap().to_path_buf();
    add(&file, "first", "pw", &[]).ok();
    let n = 12;
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let file = file.clone();
            std::thread::spawn(move || add(&file, &format!("user{i}"), &format!("pw{i}"), &[]))
        })
        .collect();
    for h in handles {
        h.join().unwrap().ok();
    }
    let table = Users::parse(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(table.len(), n + 1, "no add lost: {:?}", table);
    for i in 0..n {
        assert_eq!(
            table.lookup(&format!("USER{i}")).unwrap().nt_hash,
            nt_hash(&format!("pw{i}"))
        );
    }
    assert_eq!(mode(&file), 0o600);
    assert!(strays(&dir, "janus-users").is_empty());
}

#[test]
fn serve_loads_the_users_file_at_start_and_refuses_a_bad_one() {
    let (tmp, file) = users_dir("users-serve");
    add(&file, "alice", "pw", &[]).ok();
    add(&file, "bob", "pw", &[]).ok();
    let server = ServerBuilder::new("users-serve")
        .share("export")
        .arg("--users")
        .arg(file.to_str().unwrap())
        .start();
    let log = strip_ansi(&server.log());
    assert!(log.contains("SMB users loaded"), "{log}");
    assert!(log.contains("users=2"), "{log}");
    drop(server);

    let share = tmp.path().join("share");
    std::fs::create_dir_all(&share).unwrap();
    let state = tmp.path().join("state");
    let share_arg = format!("x={}", share.display());
    let serve = |extra: &[&str]| {
        let mut args = vec![
            "serve",
            "--share",
            &share_arg,
            "--bind",
            "127.0.0.1",
            "--nfs-port",
            "0",
            "--portmap-port",
            "0",
            "--state",
            state.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        janus(&args, "")
    };
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o604)).unwrap();
    let out = serve(&["--smb-port", "0", "--users", file.to_str().unwrap()]);
    assert_eq!(
        out.status.and_then(|s| s.code()),
        Some(2),
        "{}",
        out.describe()
    );
    let e = out.stderr_str();
    assert!(
        e.contains(&format!("users file {}: mode 0604", file.display())),
        "{e}"
    );

    // An SMB port that cannot be bound is a start failure naming the flag.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let out = serve(&["--smb-port", &port]);
    assert_eq!(
        out.status.and_then(|s| s.code()),
        Some(1),
        "{}",
        out.describe()
    );
    assert!(
        out.stderr_str().contains(&format!(
            "cannot bind TCP 127.0.0.1:{port} (address in use)"
        )) && out.stderr_str().contains("--smb-port"),
        "{}",
        out.describe()
    );
}

/// A pseudo-terminal session: `script` (util-linux, in every Debian) runs `janus user add`
/// on a pty whose input is our pipe and whose output (the terminal's screen, echo included)
/// is our pipe. The password is typed only after its prompt appeared, and the prompt is
/// printed after echo was turned off, so nothing here depends on timing.
#[test]
fn add_asks_on_the_terminal_without_echo() {
    let (_tmp, file) = users_dir("users-tty");
    let cmdline = format!(
        "{} user add --users {} carol",
        janus_bin().display(),
        file.display()
    );
    let mut child = Command::new("script")
        .args(["-qec", &cmdline, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start script (util-linux)");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut screen = String::new();
    let mut wait_for = |what: &str, screen: &mut String| {
        let deadline = Instant::now() + TIMEOUT;
        while !screen.contains(what) {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(b) => screen.push_str(&String::from_utf8_lossy(&b)),
                Err(_) => {
                    let _ = child.kill();
                    panic!("no {what:?} on the terminal; it shows: {screen:?}");
                }
            }
        }
    };
    wait_for("Password for carol: ", &mut screen);
    stdin.write_all(b"tty secret\n").unwrap();
    wait_for("Retype the password: ", &mut screen);
    stdin.write_all(b"tty secret\n").unwrap();
    wait_for("added user \"carol\"", &mut screen);
    drop(stdin);
    let status = child.wait().unwrap();
    reader.join().unwrap();
    assert!(status.success(), "{screen:?}");
    assert!(
        !screen.contains("tty secret"),
        "the password was echoed: {screen:?}"
    );
    let table = Users::parse(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(
        table.lookup("carol").unwrap().nt_hash,
        nt_hash("tty secret")
    );
    assert_eq!(mode(&file), 0o600);
}
