//! Third-party clients: libnfs-utils (`nfs-cp`, `nfs-ls`, `nfs-cat`) and the C drivers in
//! `tests/clients/`, compiled with gcc against libnfs into `target/janus-clients/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use super::process::{run, CmdOutput};

/// Timeout for one libnfs-utils invocation.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);

/// `nfs-cp SRC DST` (either side may be an `nfs://` URL). nfs-cp creates GUARDED: it fails if
/// the destination exists.
pub fn nfs_cp(src: impl AsRef<std::ffi::OsStr>, dst: impl AsRef<std::ffi::OsStr>) -> CmdOutput {
    run(Command::new("nfs-cp").arg(src).arg(dst), CLIENT_TIMEOUT)
}

/// `nfs-ls URL` (READDIRPLUS).
pub fn nfs_ls(url: &str) -> CmdOutput {
    run(Command::new("nfs-ls").arg(url), CLIENT_TIMEOUT)
}

/// `nfs-cat URL`.
pub fn nfs_cat(url: &str) -> CmdOutput {
    run(Command::new("nfs-cat").arg(url), CLIENT_TIMEOUT)
}

/// The names `nfs-ls` printed, without `.` and `..`. Its lines are
/// `MODE NLINK UID GID SIZE NAME` (libnfs-utils 4.0); the name may contain spaces.
pub fn ls_names(out: &CmdOutput) -> Vec<String> {
    out.stdout_str()
        .lines()
        .filter_map(|line| {
            let mut rest = line;
            for _ in 0..5 {
                rest = rest.trim_start();
                rest = &rest[rest.find(char::is_whitespace)?..];
            }
            Some(rest.strip_prefix(' ').unwrap_or(rest).to_string())
        })
        .filter(|n| n != "." && n != "..")
        .collect()
}

static BUILD_LOCK: Mutex<()> = Mutex::new(());

fn clients_src() -> PathBuf {
    super::workspace_root().join("tests").join("clients")
}

fn out_dir() -> PathBuf {
    let dir = super::target_dir().join("janus-clients");
    std::fs::create_dir_all(&dir).expect("create target/janus-clients");
    dir
}

/// Compile `tests/clients/NAME.c` against libnfs into `target/janus-clients/NAME` (once per
/// source change) and return the executable's path.
pub fn build_c_client(name: &str) -> PathBuf {
    let pkg = run(
        Command::new("pkg-config").args(["--cflags", "--libs", "libnfs"]),
        Duration::from_secs(30),
    )
    .ok();
    let flags: Vec<String> = pkg
        .stdout_str()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    compile(name, name, &["-O1", "-Wall", "-Werror"], &flags)
}

/// Compile `tests/clients/NAME.c` into a shared object `target/janus-clients/NAME.so`.
pub fn build_shared_object(name: &str) -> PathBuf {
    compile(
        name,
        &format!("{name}.so"),
        &["-shared", "-fPIC", "-O2", "-Wall"],
        &[],
    )
}

fn compile(name: &str, out_name: &str, cflags: &[&str], libs: &[String]) -> PathBuf {
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let src = clients_src().join(format!("{name}.c"));
    let out = out_dir().join(out_name);
    if is_newer(&out, &src) {
        return out;
    }
    // Build under a private name and rename: other test binaries may be compiling too.
    let tmp = out_dir().join(format!(".{out_name}.{}", std::process::id()));
    let res = run(
        Command::new("gcc")
            .args(cflags)
            .arg("-o")
            .arg(&tmp)
            .arg(&src)
            .args(libs),
        Duration::from_secs(120),
    );
    assert!(res.success(), "building {name}: {}", res.describe());
    std::fs::rename(&tmp, &out).expect("rename built client");
    out
}

fn is_newer(out: &Path, src: &Path) -> bool {
    let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    matches!((m(out), m(src)), (Some(o), Some(s)) if o >= s)
}

/// The Python of the SMB tests' venv (smbprotocol, pyspnego, impacket from PyPI, pinned): `$JANUS_VENV/bin/python`, by default
/// `target/janus-venv/bin/python`, made by `scripts/install-test-venv.sh` (which
/// `scripts/install-test-deps.sh` runs). Tests never download anything.
pub fn smb_python() -> PathBuf {
    let venv = std::env::var_os("JANUS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| super::target_dir().join("janus-venv"));
    let python = venv.join("bin").join("python");
    assert!(
        python.exists(),
        "{} missing: run scripts/install-test-deps.sh (or scripts/install-test-venv.sh)",
        python.display()
    );
    python
}

/// Runs check `name` of the Python smbprotocol script `tests/clients/<script>` against the
/// share "export" of `s` as `user`/`password` (`--port --user --password --share`, then
/// `extra`, then `name`); asserts that it exited 0 and printed `check=NAME ok`, and returns
/// its output (printed to stderr for the test log).
pub fn smb_py_check(
    s: &super::server::Server,
    script: &str,
    (user, password): (&str, &str),
    extra: &[std::ffi::OsString],
    name: &str,
    timeout: Duration,
) -> CmdOutput {
    let out = run(
        Command::new(smb_python())
            .arg(super::workspace_root().join("tests/clients").join(script))
            .args(["--port", &s.smb_port().to_string()])
            .args(["--user", user, "--password", password, "--share", "export"])
            .args(extra)
            .arg(name),
        timeout,
    );
    assert!(
        out.success() && out.stdout_str().contains(&format!("check={name} ok")),
        "{script} {name}: {}\nserver log:\n{}",
        out.describe(),
        s.log()
    );
    eprintln!("{}", out.stdout_str());
    out
}
