//! The SMB users file on disk, and `janus user add|del|list`. The format, the name rules
//! and the table are `server::users`'s; this module only reads and writes the file and
//! talks to the terminal.
//!
//! - The file holds NT hashes, which are password equivalents: it is refused when it is
//!   not a regular file owned by the running user, or when group or others have any
//!   permission on it (`chmod 600`).
//! - Writes are atomic and keep mode 0600: a new file `.NAME.PID.tmp` in the same
//!   directory, created 0600, written and `fsync`ed, renamed over the old one, and the
//!   directory `fsync`ed. A reader (`janus serve`, `list`) sees the old or the new file,
//!   never a mix.
//! - `add` and `del` hold an exclusive `flock` on the file's directory from reading the
//!   file to renaming the new one, so two of them at once both land (no lost update).

use std::fs::{File, OpenOptions};
use std::io::{BufRead as _, Read as _, Write as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation};
use rustix::termios::{tcgetattr, tcsetattr, LocalModes, OptionalActions};
use server::users::{self, Users};

use crate::cli::{UserAddArgs, UserCommand, UserDelArgs, UsersFileArg};

/// A users file that cannot be used; `Display` is one line naming the file.
#[derive(Debug, thiserror::Error)]
#[error("users file {}: {reason}", path.display())]
pub struct UsersFileError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub reason: String,
}

fn error(path: &Path, reason: impl Into<String>) -> UsersFileError {
    UsersFileError {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Reads and checks the users file for `janus serve`: it must exist.
pub fn load(path: &Path) -> Result<Users, UsersFileError> {
    read(path)?.ok_or_else(|| {
        error(
            path,
            "no such file (create it with: janus user add --users FILE NAME)",
        )
    })
}

/// Reads the users file if it exists (`None` if it does not), refusing one that others
/// may read or that is not the running user's.
fn read(path: &Path) -> Result<Option<Users>, UsersFileError> {
    // O_NONBLOCK: a FIFO at that path must not hang the start.
    let mut file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(error(path, e.to_string())),
    };
    let meta = file.metadata().map_err(|e| error(path, e.to_string()))?;
    if !meta.is_file() {
        return Err(error(path, "not a regular file"));
    }
    let me = rustix::process::geteuid().as_raw();
    let shown = path.display().to_string();
    if let Some(problem) = users::file_permission_problem(meta.mode(), meta.uid(), me, &shown) {
        return Err(error(path, problem));
    }
    let limit = users::MAX_FILE_BYTES as u64;
    let mut text = String::new();
    (&mut file)
        .take(limit + 1)
        .read_to_string(&mut text)
        .map_err(|e| error(path, e.to_string()))?;
    if text.len() as u64 > limit {
        return Err(error(path, format!("larger than {limit} bytes")));
    }
    Users::parse(&text)
        .map(Some)
        .map_err(|e| error(path, e.to_string()))
}

/// The directory holding `path` (`.` for a bare file name).
fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Takes the exclusive lock that serialises `add` and `del` on one users file: `flock` on
/// its directory (the file itself is replaced by every write, so it cannot carry the
/// lock). Released when the returned handle is dropped.
fn lock(path: &Path) -> Result<File, UsersFileError> {
    let dir = dir_of(path);
    let d = File::open(dir).map_err(|e| error(path, format!("{}: {e}", dir.display())))?;
    flock(&d, FlockOperation::LockExclusive).map_err(|e| error(path, format!("lock: {e}")))?;
    Ok(d)
}

/// Replaces the users file with `users`, atomically, mode 0600.
fn save(path: &Path, users: &Users) -> Result<(), UsersFileError> {
    let dir = dir_of(path);
    let name = path
        .file_name()
        .ok_or_else(|| error(path, "not a file name"))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        // The umask can only have removed bits; set exactly 0600 all the same.
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(users.to_text().as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        error(path, format!("cannot write: {e}"))
    })
}

/// `janus user ...`: runs the subcommand, prints its result; the process exit code.
pub fn run(cmd: &UserCommand) -> i32 {
    let result = match cmd {
        UserCommand::Add(a) => add(a),
        UserCommand::Del(a) => del(a),
        UserCommand::List(a) => list(a),
    };
    match result {
        Ok(out) => {
            print!("{out}");
            let _ = std::io::stdout().flush();
            0
        }
        Err(e) => {
            eprintln!("janus: {e}");
            1
        }
    }
}

fn add(a: &UserAddArgs) -> Result<String, UsersFileError> {
    let path = &a.file.users;
    users::check_name(&a.name).map_err(|e| error(path, format!("user {:?}: {e}", a.name)))?;
    // Refuse a bad file before asking for the password.
    read(path)?;
    let password = if a.password_stdin {
        password_from_stdin()
    } else {
        password_from_terminal(&a.name)
    }
    .map_err(|reason| error(path, reason))?;
    let hash = users::nt_hash(&password);
    let _lock = lock(path)?;
    let mut table = read(path)?.unwrap_or_default();
    let passwd = std::fs::read_to_string("/etc/passwd").ok();
    let outcome = table
        .add_or_replace(&a.name, hash, a.uid, a.gid, passwd.as_deref())
        .map_err(|e| error(path, e.to_string()))?;
    save(path, &table)?;
    Ok(format!("{outcome}\n"))
}

fn del(a: &UserDelArgs) -> Result<String, UsersFileError> {
    let path = &a.file.users;
    let _lock = lock(path)?;
    let mut table = load(path)?;
    let removed = table
        .remove(&a.name)
        .ok_or_else(|| error(path, format!("no user {:?}", a.name)))?;
    save(path, &table)?;
    Ok(format!("removed user {:?}\n", removed.name))
}

fn list(a: &UsersFileArg) -> Result<String, UsersFileError> {
    Ok(load(&a.users)?.list_text())
}

/// The first line of standard input (`--password-stdin`).
fn password_from_stdin() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .take(4 * users::MAX_PASSWORD_CHARS as u64 + 2)
        .read_line(&mut line)
        .map_err(|e| format!("reading the password from standard input: {e}"))?;
    users::password_from_line(line).map_err(str::to_string)
}

/// Asks for the password twice on the controlling terminal with echo off.
fn password_from_terminal(name: &str) -> Result<String, String> {
    let tty = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|_| "no terminal to ask for the password on: pass it with --password-stdin")?;
    let first = ask(&tty, &format!("Password for {name}: "))?;
    let second = ask(&tty, "Retype the password: ")?;
    if first != second {
        return Err("the passwords differ; nothing changed".into());
    }
    Ok(first)
}

/// Terminal settings restored on drop, also when reading fails.
struct EchoOff<'a> {
    tty: &'a File,
    saved: rustix::termios::Termios,
}

impl Drop for EchoOff<'_> {
    fn drop(&mut self) {
        let _ = tcsetattr(self.tty, OptionalActions::Now, &self.saved);
    }
}

fn ask(tty: &File, prompt: &str) -> Result<String, String> {
    let saved = tcgetattr(tty).map_err(|e| format!("terminal: {e}"))?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    // The newline the user types is still shown, so the next prompt starts a new line.
    quiet.local_modes.insert(LocalModes::ECHONL);
    tcsetattr(tty, OptionalActions::Flush, &quiet).map_err(|e| format!("terminal: {e}"))?;
    let _restore = EchoOff { tty, saved };
    let mut w = tty;
    w.write_all(prompt.as_bytes())
        .and_then(|()| w.flush())
        .map_err(|e| format!("terminal: {e}"))?;
    let mut line = String::new();
    std::io::BufReader::new(tty.take(4 * users::MAX_PASSWORD_CHARS as u64 + 2))
        .read_line(&mut line)
        .map_err(|e| format!("terminal: {e}"))?;
    users::password_from_line(line).map_err(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_of_a_bare_name_is_the_working_directory() {
        assert_eq!(dir_of(Path::new("users")), Path::new("."));
        assert_eq!(
            dir_of(Path::new("/etc/janus/users")),
            Path::new("/etc/janus")
        );
    }
}
