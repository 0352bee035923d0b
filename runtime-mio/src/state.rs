//! The state directory: an exclusive lock so two servers never share it, the boot counter,
//! and the journal.
//!
//! The boot counter is incremented and made durable (write to a temporary file, fsync,
//! rename, fsync the directory) on every start. It feeds:
//! - the NFSv3 write verifier (RFC 1813 §3.3.7: it must change when the server restarts so
//!   clients resend UNSTABLE writes that were not committed), see
//!   [`StateDir::write_verifier`];
//! - later, NSM's state number (RFC 1813 does not cover it; XNFS NSM "sm_stat": odd while
//!   up, incremented on every restart).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::journal::{Journal, JournalError};

/// File holding the boot counter (decimal text).
pub const BOOT_FILE: &str = "boot";
/// Lock file held (flock) while a server uses the directory.
pub const LOCK_FILE: &str = "lock";
/// File holding the SMB ServerGuid (text, `server::smb::format_guid`).
pub const GUID_FILE: &str = "smb-server-guid";

/// Replaces `dir/name` with `bytes` so that a crash leaves the old or the new content:
/// write a temporary file, fsync, rename, fsync the directory.
fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StateError> {
    let (tmp, file) = (dir.join(format!("{name}.tmp")), dir.join(name));
    let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(io_err(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, &file).map_err(io_err(&file))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// What can go wrong opening the state directory.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The directory or a file in it could not be created, read or written.
    #[error("state directory {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// Another process holds the lock.
    #[error("state directory {0} is in use by another janus; stop it or pass a different --state")]
    InUse(PathBuf),
    /// The boot counter file does not hold a number.
    #[error("state directory: {0} is corrupt (expected a decimal boot counter); fix or remove it")]
    BadBootCounter(PathBuf),
    /// The journal could not be opened.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// An opened, locked state directory.
#[derive(Debug)]
pub struct StateDir {
    path: PathBuf,
    boot_count: u64,
    /// Held for the lifetime of the server; the flock is released when it closes.
    _lock: File,
}

fn io_err(path: &Path) -> impl Fn(io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl StateDir {
    /// Creates `path` if needed, locks it and increments the boot counter.
    pub fn open(path: &Path) -> Result<StateDir, StateError> {
        std::fs::create_dir_all(path).map_err(io_err(path))?;
        let lock_path = path.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        match rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
                return Err(StateError::InUse(path.to_path_buf()))
            }
            Err(e) => return Err(io_err(&lock_path)(e.into())),
        }
        let boot_count = Self::bump_boot_counter(path)?;
        Ok(StateDir {
            path: path.to_path_buf(),
            boot_count,
            _lock: lock,
        })
    }

    fn bump_boot_counter(dir: &Path) -> Result<u64, StateError> {
        let file = dir.join(BOOT_FILE);
        let previous = match std::fs::read_to_string(&file) {
            Ok(s) => s
                .trim()
                .parse::<u64>()
                .map_err(|_| StateError::BadBootCounter(file.clone()))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(io_err(&file)(e)),
        };
        let next = previous.wrapping_add(1).max(1);
        write_durably(dir, BOOT_FILE, format!("{next}\n").as_bytes())?;
        Ok(next)
    }

    /// The SMB ServerGuid kept in [`GUID_FILE`]; `fresh` (random) is stored and returned
    /// when the file is missing or unreadable, so the GUID survives restarts.
    pub fn smb_server_guid(&self, fresh: [u8; 16]) -> Result<[u8; 16], StateError> {
        let file = self.path.join(GUID_FILE);
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        if let Some(g) = server::smb::parse_guid(&text) {
            return Ok(g);
        }
        let text = server::smb::format_guid(&fresh);
        write_durably(&self.path, GUID_FILE, format!("{text}\n").as_bytes())?;
        Ok(fresh)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This start's boot counter (1 on the first start).
    pub fn boot_count(&self) -> u64 {
        self.boot_count
    }

    /// The NFSv3 write verifier (RFC 1813 §3.3.7 `writeverf3`) for this run: the boot
    /// counter in the high four bytes and the start time in seconds in the low four. The
    /// counter makes it change on every restart; the time keeps it changing even if the
    /// state directory is deleted and the counter starts again from 1.
    pub fn write_verifier(&self, unix_secs: u64) -> [u8; 8] {
        let mut v = [0u8; 8];
        v[..4].copy_from_slice(&(self.boot_count as u32).to_be_bytes());
        v[4..].copy_from_slice(&(unix_secs as u32).to_be_bytes());
        v
    }

    /// Opens the journal in this directory.
    pub fn open_journal(&self) -> Result<Journal, StateError> {
        Ok(Journal::open(&self.path)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("janus-state-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn boot_counter_increments_and_verifier_changes() {
        let d = tempdir("boot");
        let s1 = StateDir::open(&d).unwrap();
        assert_eq!(s1.boot_count(), 1);
        let v1 = s1.write_verifier(1000);
        drop(s1);
        let s2 = StateDir::open(&d).unwrap();
        assert_eq!(s2.boot_count(), 2);
        assert_ne!(
            s2.write_verifier(1000),
            v1,
            "same second, still a new verifier"
        );
        assert_eq!(
            std::fs::read_to_string(d.join(BOOT_FILE)).unwrap().trim(),
            "2"
        );
    }

    #[test]
    fn smb_server_guid_survives_restarts() {
        let d = tempdir("guid");
        let s = StateDir::open(&d).unwrap();
        assert_eq!(s.smb_server_guid([7; 16]).unwrap(), [7; 16]);
        drop(s);
        let s = StateDir::open(&d).unwrap();
        assert_eq!(s.smb_server_guid([8; 16]).unwrap(), [7; 16], "kept");
        std::fs::write(d.join(GUID_FILE), "garbage").unwrap();
        assert_eq!(s.smb_server_guid([9; 16]).unwrap(), [9; 16], "replaced");
    }

    #[test]
    fn second_user_is_refused() {
        let d = tempdir("lock");
        let _s = StateDir::open(&d).unwrap();
        let e = StateDir::open(&d).unwrap_err();
        assert!(matches!(e, StateError::InUse(_)), "{e}");
        assert!(e.to_string().contains("in use by another janus"));
    }

    #[test]
    fn corrupt_counter_is_reported() {
        let d = tempdir("corrupt");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(BOOT_FILE), "banana").unwrap();
        assert!(matches!(
            StateDir::open(&d),
            Err(StateError::BadBootCounter(_))
        ));
    }
}
