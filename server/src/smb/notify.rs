//! CHANGE_NOTIFY (MS-SMB2 §3.3.5.19, MS-FSA 2.1.5.10): directory watches of SMB opens,
//! fired by namespace changes made through the core by SMB (CREATE that creates, removal at
//! the last close, rename) and by NFS (CREATE, MKDIR, SYMLINK, MKNOD, LINK, REMOVE, RMDIR,
//! RENAME, once their job succeeded).
//!
//! An open starts collecting changes with its first CHANGE_NOTIFY (MS-FSA 2.1.5.10: the
//! changes between two requests are kept for the next one), at most [`MAX_CHANGES`]; more,
//! or more than the request's OutputBufferLength takes, are answered with
//! STATUS_NOTIFY_ENUM_DIR ("enumerate the directory again"), which MS-FSA allows whenever
//! the changes do not fit. The first request also fixes the watch's CompletionFilter and
//! SMB2_WATCH_TREE: later requests on the same open are queued on the same watch, and
//! their own filter and flag are ignored (MS-FSA 2.1.5.10: an existing ChangeNotifyEntry of
//! the open is reused; Windows' FsRtlNotifyFilterChangeDirectory keeps the first filter, as
//! Samba does, and smbtorture smb2.notify.mask-change and rec depend on it). Up to
//! [`MAX_WAITING`] requests wait per open, answered oldest first; one more is refused with
//! STATUS_INSUFFICIENT_RESOURCES. A waiting request is answered STATUS_NOTIFY_CLEANUP when
//! the open is closed, STATUS_DELETE_PENDING when its directory is deleted while still open
//! (MS-FSA 2.1.5.4), and STATUS_CANCELLED on CANCEL.
//!
//! SMB2_WATCH_TREE (MS-SMB2 §2.2.35, MS-FSA 2.1.5.10 WatchTree): the watch also sees the
//! changes anywhere below its directory, each named by its path relative to the watched
//! directory (`sub\dir\name`, MS-FSCC §2.7.1 FileName). The core tells where a change
//! happened by the directory's path below the share root (known from the SMB open that
//! made the change, or for an NFS change from any SMB open of that directory).
//!
//! Besides name changes, a SET_INFO that changed a file (basic, end-of-file, allocation,
//! security) is FILE_ACTION_MODIFIED with the FILE_NOTIFY_CHANGE_* bits of what it set.
//! Changes of a file's data and the rename of a file are FILE_ACTION_MODIFIED too, reported
//! when the open through which they were made is closed, as Windows updates a file's
//! directory entry at cleanup and Samba reports writes at close (LAST_WRITE and SIZE for
//! writes, [`RENAMED_FILE_CHANGES`] for renames).
//!
//! Named deviations: NFS SETATTR/WRITE report no MODIFIED change; a WATCH_TREE
//! watch sees an NFS change below its directory only while some SMB open names the
//! directory the change happened in; opens below a directory that was renamed keep the
//! paths they were opened by, so a WATCH_TREE watch names (or misses) changes made through
//! them by the old path; changes made on the backend by local processes are not seen.

use proto_smb2::NtStatus;

/// STATUS_NOTIFY_CLEANUP: the watched open was closed.
pub const STATUS_NOTIFY_CLEANUP: NtStatus = NtStatus(0x0000_010B);
/// STATUS_NOTIFY_ENUM_DIR: too many changes to report; enumerate the directory.
pub const STATUS_NOTIFY_ENUM_DIR: NtStatus = NtStatus(0x0000_010C);

/// FILE_NOTIFY_CHANGE_FILE_NAME.
pub const CHANGE_FILE_NAME: u32 = 0x0000_0001;
/// FILE_NOTIFY_CHANGE_DIR_NAME.
pub const CHANGE_DIR_NAME: u32 = 0x0000_0002;
/// FILE_NOTIFY_CHANGE_ATTRIBUTES.
pub const CHANGE_ATTRIBUTES: u32 = 0x0000_0004;
/// FILE_NOTIFY_CHANGE_SIZE.
pub const CHANGE_SIZE: u32 = 0x0000_0008;
/// FILE_NOTIFY_CHANGE_LAST_WRITE.
pub const CHANGE_LAST_WRITE: u32 = 0x0000_0010;
/// FILE_NOTIFY_CHANGE_LAST_ACCESS.
pub const CHANGE_LAST_ACCESS: u32 = 0x0000_0020;
/// FILE_NOTIFY_CHANGE_CREATION.
pub const CHANGE_CREATION: u32 = 0x0000_0040;
/// FILE_NOTIFY_CHANGE_SECURITY.
pub const CHANGE_SECURITY: u32 = 0x0000_0100;

/// FILE_ACTION_* of FILE_NOTIFY_INFORMATION (MS-FSCC §2.7.1).
pub mod action {
    /// FILE_ACTION_ADDED.
    pub const ADDED: u32 = 1;
    /// FILE_ACTION_REMOVED.
    pub const REMOVED: u32 = 2;
    /// FILE_ACTION_MODIFIED.
    pub const MODIFIED: u32 = 3;
    /// FILE_ACTION_RENAMED_OLD_NAME.
    pub const RENAMED_OLD_NAME: u32 = 4;
    /// FILE_ACTION_RENAMED_NEW_NAME.
    pub const RENAMED_NEW_NAME: u32 = 5;
}

/// What the CLOSE of an open through which a file (not a directory) was renamed reports as
/// FILE_ACTION_MODIFIED of the file's new name: its attributes and creation time (Windows
/// sets FILE_ATTRIBUTE_ARCHIVE on a renamed file; Samba's notify_rename reports these bits
/// for file renames as Windows Server 2003 does). Reported at CLOSE, where Windows reports
/// the attribute changes of an open (smbtorture smb2.notify.rec sees none while the handle
/// stays open, smb2.notify.mask-change sees it after the CLOSE).
pub const RENAMED_FILE_CHANGES: u32 = CHANGE_ATTRIBUTES | CHANGE_CREATION;

/// Changes kept per open between two requests.
pub const MAX_CHANGES: usize = 64;

/// CHANGE_NOTIFY requests that may wait on one open.
pub const MAX_WAITING: usize = 8;

/// SMB2_WATCH_TREE in the CHANGE_NOTIFY request's Flags (MS-SMB2 §2.2.35).
pub const WATCH_TREE: u16 = 0x0001;

/// One change in a watched directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// FILE_ACTION_*.
    pub action: u32,
    /// The entry's name in the directory.
    pub name: String,
    /// The entry is a directory (FILE_NOTIFY_CHANGE_DIR_NAME rather than FILE_NAME).
    pub is_dir: bool,
    /// The FILE_NOTIFY_CHANGE_* bits a watch must ask for to see this change; 0 for a
    /// name change (FILE_NAME or DIR_NAME by `is_dir`).
    pub mask: u32,
}

impl Change {
    /// The FILE_NOTIFY_CHANGE_* bits of which any one in a watch's filter selects it.
    pub fn wanted(&self) -> u32 {
        match (self.mask, self.is_dir) {
            (0, true) => CHANGE_DIR_NAME,
            (0, false) => CHANGE_FILE_NAME,
            (m, _) => m,
        }
    }
}

/// The watch of one directory open.
#[derive(Debug, Clone, Default)]
pub struct Watch {
    /// CompletionFilter of the first request (fixed for the open's life).
    pub filter: u32,
    /// SMB2_WATCH_TREE of the first request.
    pub tree: bool,
    /// The waiting requests, oldest first: (call, OutputBufferLength).
    pub waiting: std::collections::VecDeque<(proto_smb2::server::CallId, u32)>,
    /// Changes not yet reported.
    pub changes: Vec<Change>,
    /// More changes happened than were kept.
    pub overflow: bool,
    /// OutputBufferLength of the first request: the changes kept between requests must fit
    /// in it, or the next request is answered STATUS_NOTIFY_ENUM_DIR (Windows sizes the
    /// notify buffer by the first request, as Samba does; smbtorture smb2.notify.valid-req:
    /// "if the first notify returns NOTIFY_ENUM_DIR, all do").
    pub max_len: u32,
}

impl Watch {
    /// A watch set up by a first request with `filter`, `flags` and OutputBufferLength
    /// `max_len`.
    pub fn new(filter: u32, flags: u16, max_len: u32) -> Self {
        Watch {
            filter,
            tree: flags & WATCH_TREE != 0,
            max_len,
            ..Watch::default()
        }
    }

    /// Records `c` if the filter asks for it. `name` is what it is reported as: the entry's
    /// name, or for a WATCH_TREE watch of an ancestor its path relative to the watched
    /// directory.
    pub fn push(&mut self, c: &Change, name: &str) {
        if self.filter & c.wanted() == 0 {
            return;
        }
        if self.overflow {
            return;
        }
        self.changes.push(Change {
            name: name.to_string(),
            ..c.clone()
        });
        if self.changes.len() > MAX_CHANGES || encoded_len(&self.changes) > self.max_len as usize {
            self.overflow = true;
            self.changes = Vec::new();
        }
    }

    /// Whether there is something to report.
    pub fn ready(&self) -> bool {
        self.overflow || !self.changes.is_empty()
    }

    /// Whether the request `call` waits here; it is forgotten (cancelled) if so.
    pub fn forget(&mut self, call: proto_smb2::server::CallId) -> bool {
        let before = self.waiting.len();
        self.waiting.retain(|(c, _)| *c != call);
        self.waiting.len() != before
    }

    /// The answer to a request with `max_len` bytes of output: the FILE_NOTIFY_INFORMATION
    /// list, or STATUS_NOTIFY_ENUM_DIR; the changes are consumed.
    pub fn take(&mut self, max_len: u32) -> (NtStatus, Vec<u8>) {
        let changes = std::mem::take(&mut self.changes);
        let overflow = std::mem::take(&mut self.overflow);
        match encode(&changes, max_len as usize) {
            Some(data) if !overflow => (NtStatus::SUCCESS, data),
            _ => (STATUS_NOTIFY_ENUM_DIR, Vec::new()),
        }
    }
}

/// For a WATCH_TREE watch of the directory at `watched` (components below the share root),
/// the name to report a change to the entry `name` of the directory at `dir` as: its path
/// relative to `watched`, `\`-separated, when `dir` is `watched` or below it; `None`
/// otherwise. Components compare ignoring case on a case-insensitive share (the paths are
/// as clients spelled them).
pub fn relative_name(
    watched: &[String],
    dir: &[String],
    name: &str,
    case_insensitive: bool,
) -> Option<String> {
    if dir.len() < watched.len() {
        return None;
    }
    let same = |a: &String, b: &String| {
        if case_insensitive {
            a == b || a.to_lowercase() == b.to_lowercase()
        } else {
            a == b
        }
    };
    if !watched.iter().zip(dir).all(|(a, b)| same(a, b)) {
        return None;
    }
    let mut out = String::new();
    for c in &dir[watched.len()..] {
        out.push_str(c);
        out.push('\\');
    }
    out.push_str(name);
    Some(out)
}

/// The length of `changes` as FILE_NOTIFY_INFORMATION entries ([`encode`]).
pub fn encoded_len(changes: &[Change]) -> usize {
    let mut len: usize = 0;
    for c in changes {
        len = len.next_multiple_of(4) + 12 + 2 * c.name.encode_utf16().count();
    }
    len
}

/// FILE_NOTIFY_INFORMATION entries (MS-FSCC §2.7.1), each 4-byte aligned; `None` when they
/// do not fit in `max_len` bytes.
pub fn encode(changes: &[Change], max_len: usize) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut last_start = None;
    for c in changes {
        let name: Vec<u16> = c.name.encode_utf16().collect();
        while out.len() % 4 != 0 {
            out.push(0);
        }
        let start = out.len();
        if let Some(prev) = last_start {
            let next = (start - prev) as u32;
            out[prev..prev + 4].copy_from_slice(&next.to_le_bytes());
        }
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&c.action.to_le_bytes());
        out.extend_from_slice(&((name.len() * 2) as u32).to_le_bytes());
        for u in name {
            out.extend_from_slice(&u.to_le_bytes());
        }
        last_start = Some(start);
        if out.len() > max_len {
            return None;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(action: u32, name: &str) -> Change {
        Change {
            action,
            name: name.into(),
            is_dir: false,
            mask: 0,
        }
    }

    #[test]
    fn entries_are_chained_and_aligned() {
        let b = encode(&[ch(1, "a"), ch(2, "bcd")], 1000).unwrap();
        // 12 + 2 = 14 -> the second entry starts at 16.
        assert_eq!(u32::from_le_bytes(b[0..4].try_into().unwrap()), 16);
        assert_eq!(u32::from_le_bytes(b[4..8].try_into().unwrap()), 1);
        assert_eq!(u32::from_le_bytes(b[8..12].try_into().unwrap()), 2);
        assert_eq!(&b[12..14], b"a\0");
        assert_eq!(u32::from_le_bytes(b[16..20].try_into().unwrap()), 0, "last");
        assert_eq!(u32::from_le_bytes(b[20..24].try_into().unwrap()), 2);
        assert_eq!(b.len(), 16 + 12 + 6);
        assert!(encode(&[ch(1, "a"), ch(2, "bcd")], 33).is_none());
    }

    #[test]
    fn filter_overflow_and_enum_dir() {
        let mut w = Watch::new(CHANGE_DIR_NAME, 0, 65536);
        w.push(&ch(1, "file"), "file");
        assert!(!w.ready(), "a file name change is not asked for");
        w.filter = CHANGE_FILE_NAME;
        for i in 0..MAX_CHANGES + 1 {
            let n = format!("f{i}");
            w.push(&ch(1, &n), &n);
        }
        assert!(w.overflow);
        assert_eq!(w.take(65536).0, STATUS_NOTIFY_ENUM_DIR);
        assert!(!w.ready());
        w.push(&ch(1, "x"), "x");
        let (st, data) = w.take(65536);
        assert_eq!((st, data.len()), (NtStatus::SUCCESS, 14));
        w.push(&ch(1, "x"), "x");
        assert_eq!(w.take(8).0, STATUS_NOTIFY_ENUM_DIR, "does not fit");
    }

    #[test]
    fn the_first_requests_length_bounds_what_is_kept() {
        // 12 + 2 * 1 = 14 bytes for "a": a 1-byte first request keeps nothing.
        let mut w = Watch::new(CHANGE_FILE_NAME, 0, 1);
        w.push(&ch(1, "a"), "a");
        assert!(w.overflow && w.changes.is_empty());
        assert_eq!(
            w.take(65536).0,
            STATUS_NOTIFY_ENUM_DIR,
            "even for a larger request"
        );
        let mut w = Watch::new(CHANGE_FILE_NAME, 0, 14);
        w.push(&ch(1, "a"), "a");
        assert!(!w.overflow);
        w.push(&ch(1, "b"), "b");
        assert!(w.overflow, "16 + 14 bytes do not fit in 14");
        assert_eq!(encoded_len(&[ch(1, "a"), ch(2, "bcd")]), 16 + 12 + 6);
        assert_eq!(
            encoded_len(&[ch(1, "a"), ch(2, "bcd")]),
            encode(&[ch(1, "a"), ch(2, "bcd")], 1000).unwrap().len()
        );
    }

    #[test]
    fn a_change_is_reported_by_the_name_given() {
        let mut w = Watch::new(CHANGE_FILE_NAME, WATCH_TREE, 1000);
        assert!(w.tree);
        w.push(&ch(1, "f"), "sub\\f");
        assert_eq!(w.changes[0].name, "sub\\f");
        assert!(!Watch::new(CHANGE_FILE_NAME, 0, 1000).tree);
    }

    #[test]
    fn modified_changes_need_their_bits() {
        let mut w = Watch::new(CHANGE_ATTRIBUTES, 0, 1000);
        let m = |mask| Change {
            action: action::MODIFIED,
            name: "f".into(),
            is_dir: false,
            mask,
        };
        w.push(&m(CHANGE_LAST_WRITE), "f");
        assert!(!w.ready());
        w.push(&m(CHANGE_LAST_WRITE | CHANGE_ATTRIBUTES), "f");
        assert!(w.ready());
    }

    #[test]
    fn waiting_requests_are_forgotten_one_by_one() {
        use proto_smb2::server::CallId;
        let mut w = Watch::new(CHANGE_FILE_NAME, 0, 1000);
        let (a, b) = (CallId(1), CallId(2));
        w.waiting.push_back((a, 10));
        w.waiting.push_back((b, 20));
        assert!(w.forget(a));
        assert!(!w.forget(a), "already gone");
        assert_eq!(w.waiting.front(), Some(&(b, 20)));
    }

    #[test]
    fn relative_names_below_a_watched_directory() {
        let p = |s: &str| -> Vec<String> {
            s.split('/')
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect()
        };
        // The watched directory itself: the bare name.
        assert_eq!(
            relative_name(&p("a"), &p("a"), "f", true).as_deref(),
            Some("f")
        );
        // Below it: the path from it, with backslashes.
        assert_eq!(
            relative_name(&p("a"), &p("A/b/c"), "f", true).as_deref(),
            Some("b\\c\\f")
        );
        assert_eq!(relative_name(&p("a"), &p("A/b"), "f", false), None);
        // The share root watches everything.
        assert_eq!(
            relative_name(&[], &p("x/y"), "f", true).as_deref(),
            Some("x\\y\\f")
        );
        // Beside or above it: nothing (a change of the watched directory itself is its
        // parent's change).
        assert_eq!(relative_name(&p("a/b"), &p("a"), "b", true), None);
        assert_eq!(relative_name(&p("a"), &p("ab"), "f", true), None);
    }
}
