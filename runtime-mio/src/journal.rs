//! The state journal: an append-only file of opaque records in the state directory, made
//! durable by group commit, with a clean-shutdown marker.
//!
//! The server core decides which lock and monitor records to write (`server::nlm_journal`,
//! docs/architecture.md, "Persistence and restart"); the journal does not interpret them.
//!
//! # Group commit
//! [`Journal::append`] only buffers a record in memory and returns its [`Seq`].
//! [`Journal::commit`] writes everything buffered and issues ONE `fdatasync`, so the records
//! appended while handling a batch of requests become durable together. The event loop
//! commits once per pass and only then tells the core the records are durable; the core
//! holds every reply that depends on them until then, which is the rule "a reply that
//! depends on durable state is sent after that state is on disk".
//!
//! # File format
//! `server::journal_format`: magic, CRC-checked frames, and the scan that finds where a
//! torn write begins; [`Journal::open`] truncates the file there so later appends follow
//! the last good frame.
//!
//! [`Journal::was_clean`] is true when the last valid frame at open was a clean marker, i.e.
//! the previous run ended with [`Journal::mark_clean`].

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// File name of the journal inside the state directory.
pub const FILE_NAME: &str = "journal";
use server::journal_format::{encode_clean, encode_record, scan};
use server::journal_format::{MAGIC, MAX_RECORD};

/// Sequence number of an appended record, counting from 0 over the records of this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Seq(pub u64);

/// What can go wrong with the journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Reading, writing or syncing the file failed.
    #[error("journal {path}: {source}")]
    Io {
        /// The journal file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The file exists but does not start with the journal magic.
    #[error("journal {0}: not a Janus journal (bad magic); move it away to start afresh")]
    BadMagic(PathBuf),
    /// A record is larger than [`MAX_RECORD`].
    #[error("journal record of {0} bytes is larger than the {MAX_RECORD}-byte limit")]
    TooLarge(usize),
}

/// The append-only journal. See the module documentation.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    /// Frames appended but not yet written.
    pending: Vec<u8>,
    /// Records appended this run (the next [`Seq`]).
    appended: u64,
    /// Records of this run known durable.
    committed: u64,
    /// File length up to the last good frame written.
    end: u64,
    was_clean: bool,
    /// When set, commits fail as on a dead disk ([`Journal::failure_switch`]).
    fail: Option<Arc<AtomicBool>>,
}

impl Journal {
    /// Opens (or creates) the journal in `dir`, truncating a torn tail.
    pub fn open(dir: &Path) -> Result<Journal, JournalError> {
        let path = dir.join(FILE_NAME);
        let io = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let was_clean = if bytes.len() < MAGIC.len() {
            if !MAGIC.starts_with(&bytes) {
                return Err(JournalError::BadMagic(path));
            }
            // New (or torn while being created): write the magic and make the file's
            // existence durable.
            file.set_len(0).map_err(io)?;
            file.seek(SeekFrom::Start(0)).map_err(io)?;
            file.write_all(MAGIC).map_err(io)?;
            file.sync_all().map_err(io)?;
            File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
            true
        } else {
            let Some(s) = scan(&bytes) else {
                return Err(JournalError::BadMagic(path));
            };
            if s.valid_end < bytes.len() {
                tracing::warn!(
                    journal = %path.display(),
                    dropped = bytes.len() - s.valid_end,
                    "journal ends with a torn or corrupt frame; ignoring it"
                );
                file.set_len(s.valid_end as u64).map_err(io)?;
                file.sync_all().map_err(io)?;
            }
            s.last_was_clean || s.valid_end == MAGIC.len()
        };
        let end = file.seek(SeekFrom::End(0)).map_err(io)?;
        Ok(Journal {
            end,
            path,
            file,
            pending: Vec::new(),
            appended: 0,
            committed: 0,
            was_clean,
            fail: None,
        })
    }

    /// Buffers a record; it is durable after the next [`Journal::commit`].
    pub fn append(&mut self, record: &[u8]) -> Result<Seq, JournalError> {
        if !encode_record(&mut self.pending, record) {
            return Err(JournalError::TooLarge(record.len()));
        }
        let seq = Seq(self.appended);
        self.appended += 1;
        Ok(seq)
    }

    /// Whether records are waiting for [`Journal::commit`].
    pub fn needs_commit(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Whether the record `seq` is durable.
    pub fn is_durable(&self, seq: Seq) -> bool {
        seq.0 < self.committed
    }

    /// Writes every buffered record and syncs once (group commit). A no-op when nothing is
    /// buffered. On error the buffered records stay buffered.
    pub fn commit(&mut self) -> Result<(), JournalError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        if self.fail.as_ref().is_some_and(|f| f.load(Ordering::SeqCst)) {
            return Err(JournalError::Io {
                path: self.path.clone(),
                source: io::Error::other("failure injected by a test"),
            });
        }
        let res = self
            .file
            .write_all(&self.pending)
            .and_then(|()| self.file.sync_data());
        if let Err(source) = res {
            // A partial write leaves a torn frame; put the file back to the last good end
            // so a retry does not follow garbage (best effort: open() repairs it anyway).
            let _ = self.file.set_len(self.end);
            let _ = self.file.seek(SeekFrom::Start(self.end));
            return Err(JournalError::Io {
                path: self.path.clone(),
                source,
            });
        }
        self.end += self.pending.len() as u64;
        self.pending.clear();
        self.committed = self.appended;
        Ok(())
    }

    /// Every durable record in the file, oldest first (what a restart would replay).
    pub fn replay(&self) -> Result<Vec<Vec<u8>>, JournalError> {
        let bytes = std::fs::read(&self.path).map_err(|source| JournalError::Io {
            path: self.path.clone(),
            source,
        })?;
        scan(&bytes)
            .map(|s| s.records)
            .ok_or_else(|| JournalError::BadMagic(self.path.clone()))
    }

    /// Replaces the whole journal with `records` (compaction): written to a temporary file,
    /// synced, renamed over the journal and the directory synced, so a crash leaves either
    /// the old or the new journal. Buffered records are committed first.
    pub fn rewrite(&mut self, records: &[Vec<u8>]) -> Result<(), JournalError> {
        self.commit()?;
        let dir = self
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let tmp = dir.join(format!("{FILE_NAME}.compact"));
        let io = |source| JournalError::Io {
            path: tmp.clone(),
            source,
        };
        let mut bytes = MAGIC.to_vec();
        if let Some(r) = records.iter().find(|r| !encode_record(&mut bytes, r)) {
            return Err(JournalError::TooLarge(r.len()));
        }
        let mut f = File::create(&tmp).map_err(io)?;
        f.write_all(&bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        File::open(&dir).and_then(|d| d.sync_all()).map_err(io)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .map_err(io)?;
        self.end = file.seek(SeekFrom::End(0)).map_err(io)?;
        self.file = file;
        Ok(())
    }

    /// A switch that makes every later commit fail while it is set, as a disk that went
    /// away would (tests of the durability barrier).
    pub fn failure_switch(&mut self) -> Arc<AtomicBool> {
        Arc::clone(self.fail.get_or_insert_with(Arc::default))
    }

    /// Commits, then appends the clean-shutdown marker and syncs it.
    pub fn mark_clean(&mut self) -> Result<(), JournalError> {
        encode_clean(&mut self.pending);
        self.commit()
    }

    /// Whether the previous run ended with [`Journal::mark_clean`] (true for a new journal).
    pub fn was_clean(&self) -> bool {
        self.was_clean
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "janus-journal-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn append_commit_replay() {
        let d = tempdir("acr");
        let mut j = Journal::open(&d).unwrap();
        assert!(j.was_clean(), "a new journal counts as clean");
        assert_eq!(j.append(b"one").unwrap(), Seq(0));
        assert_eq!(j.append(b"").unwrap(), Seq(1));
        assert_eq!(j.append(b"three").unwrap(), Seq(2));
        assert!(j.needs_commit());
        assert!(!j.is_durable(Seq(0)));
        // Not yet written: nothing to replay.
        assert!(j.replay().unwrap().is_empty());
        j.commit().unwrap();
        assert!(!j.needs_commit());
        assert!(j.is_durable(Seq(2)) && !j.is_durable(Seq(3)));
        assert_eq!(
            j.replay().unwrap(),
            vec![b"one".to_vec(), vec![], b"three".to_vec()]
        );
        drop(j);
        // Reopen: records survive; the run did not end cleanly.
        let mut j = Journal::open(&d).unwrap();
        assert!(!j.was_clean());
        assert_eq!(j.replay().unwrap().len(), 3);
        j.append(b"four").unwrap();
        j.commit().unwrap();
        assert_eq!(j.replay().unwrap().last().unwrap(), b"four");
    }

    #[test]
    fn clean_marker() {
        let d = tempdir("clean");
        let mut j = Journal::open(&d).unwrap();
        j.append(b"r").unwrap();
        j.mark_clean().unwrap();
        drop(j);
        let mut j = Journal::open(&d).unwrap();
        assert!(j.was_clean());
        assert_eq!(
            j.replay().unwrap(),
            vec![b"r".to_vec()],
            "marker is not a record"
        );
        // A record after the marker makes the next start unclean.
        j.append(b"s").unwrap();
        j.commit().unwrap();
        drop(j);
        assert!(!Journal::open(&d).unwrap().was_clean());
    }

    #[test]
    fn torn_tail_is_ignored_and_truncated() {
        let d = tempdir("torn");
        let mut j = Journal::open(&d).unwrap();
        j.append(b"good-1").unwrap();
        j.append(b"good-2").unwrap();
        j.mark_clean().unwrap();
        drop(j);
        let path = d.join(FILE_NAME);
        let good_len = std::fs::metadata(&path).unwrap().len();

        // A frame cut short in its payload.
        let mut frame = Vec::new();
        assert!(encode_record(&mut frame, b"torn-record"));
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&frame[..frame.len() - 3]).unwrap();
        drop(f);
        let mut j = Journal::open(&d).unwrap();
        assert!(j.was_clean(), "the torn frame does not count");
        assert_eq!(j.replay().unwrap().len(), 2);
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            good_len,
            "truncated"
        );
        // Appends after the repair are readable.
        j.append(b"after").unwrap();
        j.commit().unwrap();
        assert_eq!(j.replay().unwrap().last().unwrap(), b"after");
        drop(j);

        // A whole frame with a flipped payload bit (bad CRC), and a huge claimed length.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        let mut bad = Vec::new();
        assert!(encode_record(&mut bad, b"flipped"));
        let n = bad.len();
        bad[n - 1] ^= 1;
        f.write_all(&bad).unwrap();
        drop(f);
        let j = Journal::open(&d).unwrap();
        assert_eq!(j.replay().unwrap().len(), 3);
        drop(j);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&u32::MAX.to_le_bytes()).unwrap();
        f.write_all(&[1, 0, 0, 0, 0, 1, 2, 3]).unwrap();
        drop(f);
        let j = Journal::open(&d).unwrap();
        assert_eq!(j.replay().unwrap().len(), 3);
        assert!(!j.was_clean());
    }

    #[test]
    fn limits_and_bad_magic() {
        let d = tempdir("limits");
        let mut j = Journal::open(&d).unwrap();
        assert!(matches!(
            j.append(&vec![0; MAX_RECORD + 1]),
            Err(JournalError::TooLarge(_))
        ));
        j.append(&vec![7; MAX_RECORD]).unwrap();
        j.commit().unwrap();
        assert_eq!(j.replay().unwrap()[0].len(), MAX_RECORD);
        drop(j);
        std::fs::write(d.join(FILE_NAME), b"something else entirely").unwrap();
        assert!(matches!(Journal::open(&d), Err(JournalError::BadMagic(_))));
    }
}
