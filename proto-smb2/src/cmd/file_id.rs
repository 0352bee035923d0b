//! SMB2_FILEID (MS-SMB2 §2.2.14.1): the handle of an open.

use bytes::BufMut;

/// SMB2_FILEID: Persistent and Volatile parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FileId {
    /// Persistent: survives reconnects of durable opens.
    pub persistent: u64,
    /// Volatile: this connection's handle.
    pub volatile: u64,
}

impl FileId {
    /// The all-ones FileId that names "the file of the previous operation" in a related
    /// compound request (§3.3.5.2.7.2).
    pub const RELATED: FileId = FileId {
        persistent: u64::MAX,
        volatile: u64::MAX,
    };

    pub(crate) fn from_slice(b: &[u8]) -> FileId {
        FileId {
            persistent: crate::wire::le64(b, 0),
            volatile: crate::wire::le64(b, 8),
        }
    }

    /// Writes the 16 bytes.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u64_le(self.persistent);
        out.put_u64_le(self.volatile);
    }
}
