//! CHANGE_NOTIFY (MS-SMB2 §3.3.5.19, MS-FSA 2.1.5.10): directory watches of SMB opens,
//! fired by namespace changes made through the core by SMB (CREATE that creates, removal at
//! the last close, rename) and by NFS (CREATE, MKDIR, SYMLINK, MKNOD, LINK, REMOVE, RMDIR,
//! RENAME, once their job succeeded).
//!
//! An open starts collecting changes with its first CHANGE_NOTIFY (MS-FSA 2.1.5.10: the
//! changes between two requests are kept for the next one), at most [`MAX_CHANGES`]; more,
//! or more than the request's OutputBufferLength takes, are answered with
//! STATUS_NOTIFY_ENUM_DIR ("enumerate the directory again"), which MS-FSA allows whenever
//! the changes do not fit. One request waits per open (a second one is refused with
//! STATUS_INSUFFICIENT_RESOURCES); it is answered STATUS_NOTIFY_CLEANUP when the open is
//! closed and STATUS_CANCELLED on CANCEL.
//!
//! Besides name changes, a SET_INFO that changed a file (basic, end-of-file, allocation,
//! security) is FILE_ACTION_MODIFIED with the FILE_NOTIFY_CHANGE_* bits of what it changed.
//!
//! Named deviations: WRITE and NFS SETATTR/WRITE report no MODIFIED change;
//! SMB2_WATCH_TREE watches the directory's own entries only; changes made on the backend
//! by local processes are not seen.

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

/// Changes kept per open between two requests.
pub const MAX_CHANGES: usize = 64;

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

/// The watch of one directory open.
#[derive(Debug, Clone, Default)]
pub struct Watch {
    /// CompletionFilter of the last request.
    pub filter: u32,
    /// The waiting request: (call, OutputBufferLength).
    pub waiting: Option<(proto_smb2::server::CallId, u32)>,
    /// Changes not yet reported.
    pub changes: Vec<Change>,
    /// More changes happened than were kept.
    pub overflow: bool,
}

impl Watch {
    /// Records `c` if the filter asks for it.
    pub fn push(&mut self, c: &Change) {
        let wanted = match (c.mask, c.is_dir) {
            (0, true) => CHANGE_DIR_NAME,
            (0, false) => CHANGE_FILE_NAME,
            (m, _) => m,
        };
        if self.filter & wanted == 0 {
            return;
        }
        if self.changes.len() >= MAX_CHANGES {
            self.overflow = true;
        } else {
            self.changes.push(c.clone());
        }
    }

    /// Whether there is something to report.
    pub fn ready(&self) -> bool {
        self.overflow || !self.changes.is_empty()
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
        let mut w = Watch {
            filter: CHANGE_DIR_NAME,
            ..Watch::default()
        };
        w.push(&ch(1, "file"));
        assert!(!w.ready(), "a file name change is not asked for");
        w.filter = CHANGE_FILE_NAME;
        for i in 0..MAX_CHANGES + 1 {
            w.push(&ch(1, &format!("f{i}")));
        }
        assert!(w.overflow);
        assert_eq!(w.take(65536).0, STATUS_NOTIFY_ENUM_DIR);
        assert!(!w.ready());
        w.push(&ch(1, "x"));
        let (st, data) = w.take(65536);
        assert_eq!((st, data.len()), (NtStatus::SUCCESS, 14));
        w.push(&ch(1, "x"));
        assert_eq!(w.take(8).0, STATUS_NOTIFY_ENUM_DIR, "does not fit");
    }
}
