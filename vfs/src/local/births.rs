//! Names being created, so that no Janus client sees a file half made.
//!
//! The local backend makes a new file, directory or node as the server's user with an
//! owner-only mode (0600/0700) and only then gives it its caller's owner and its mode
//! (`init_new`; see the module doc of [`super`], "Ownership"). Between the two, another
//! client's LOOKUP or CREATE of the same name would find a root-owned 0700 object and be
//! refused access to what a moment later is its own: smbtorture's `smb2.create.mkdir-dup`
//! (two connections creating one directory with OPEN_IF at once) saw ACCESS_DENIED that
//! way. Creates register `(directory inode, name)` here for that window; a lookup of a
//! registered name waits until the creator is done. Processes outside Janus working on
//! the directory directly can still see the window (as with Samba's non-smbd users).

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a lookup waits for a creator at most: creation is a few syscalls, so this is
/// only reached if the file system hangs; the lookup then goes on and sees what is there.
const MAX_WAIT: Duration = Duration::from_secs(5);

/// The names being created: `(directory inode, name)` → how many creators.
#[derive(Debug, Default)]
pub(super) struct Births {
    names: Mutex<HashMap<(u64, Vec<u8>), u32>>,
    done: Condvar,
}

/// A registered creation; dropping it ends the window and wakes the waiters.
#[must_use = "the name is registered only while the guard lives"]
pub(super) struct Birth<'a> {
    births: &'a Births,
    key: Option<(u64, Vec<u8>)>,
}

impl Births {
    /// Registers the creation of `name` in directory `dir`.
    pub(super) fn begin(&self, dir: u64, name: &[u8]) -> Birth<'_> {
        let key = (dir, name.to_vec());
        let mut names = self.names.lock().unwrap_or_else(PoisonError::into_inner);
        *names.entry(key.clone()).or_insert(0) += 1;
        Birth {
            births: self,
            key: Some(key),
        }
    }

    /// Waits until nobody is creating `name` in `dir` (at most [`MAX_WAIT`]).
    pub(super) fn wait(&self, dir: u64, name: &[u8]) {
        let mut names = self.names.lock().unwrap_or_else(PoisonError::into_inner);
        if names.is_empty() {
            return;
        }
        let key = (dir, name.to_vec());
        let deadline = Instant::now() + MAX_WAIT;
        while names.contains_key(&key) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            names = self
                .done
                .wait_timeout(names, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl Birth<'_> {
    /// Ends the window now (before the guard would go out of scope).
    pub(super) fn end(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        let Some(key) = self.key.take() else {
            return;
        };
        let mut names = self
            .births
            .names
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = names.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                names.remove(&key);
            }
        }
        drop(names);
        self.births.done.notify_all();
    }
}

impl Drop for Birth<'_> {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    #[test]
    fn a_lookup_waits_for_the_creator_of_its_name_only() {
        let births = Arc::new(Births::default());
        let finished = Arc::new(AtomicBool::new(false));
        let birth = births.begin(7, b"d");
        // Another name, or the same name in another directory: no wait.
        births.wait(7, b"e");
        births.wait(8, b"d");
        let waiter = {
            let (births, finished) = (Arc::clone(&births), Arc::clone(&finished));
            std::thread::spawn(move || {
                births.wait(7, b"d");
                finished.load(Ordering::SeqCst)
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        finished.store(true, Ordering::SeqCst);
        birth.end();
        assert!(
            waiter.join().unwrap(),
            "the lookup went on before the create ended"
        );
    }

    #[test]
    fn two_creators_of_one_name_both_end_the_window() {
        let births = Births::default();
        let a = births.begin(1, b"x");
        let b = births.begin(1, b"x");
        drop(a);
        assert!(births
            .names
            .lock()
            .unwrap()
            .contains_key(&(1, b"x".to_vec())));
        drop(b);
        assert!(births.names.lock().unwrap().is_empty());
        births.wait(1, b"x");
    }
}
