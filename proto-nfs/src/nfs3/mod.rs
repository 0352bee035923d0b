//! NFSv3 (RFC 1813): arguments and results of all 22 procedures.
//!
//! The server state machine decodes a call's arguments with [`Nfs3Call::decode`], hands the
//! call to the runtime as a file-system request, and encodes the [`Nfs3Reply`] the runtime
//! returns.

use bytes::{Bytes, BytesMut};

use crate::xdr::XdrErrorKind;

/// NFS program number (RFC 1813 §2.2).
pub const NFS_PROGRAM: u32 = 100_003;
/// NFS protocol version implemented here.
pub const NFS_V3: u32 = 3;

/// An NFSv3 file handle (`nfs_fh3`, at most 64 bytes, RFC 1813 §2.3.3).
///
/// Janus's handles have the layout `[version=1][share id: u32 BE][backend bytes...]`; the
/// backend part is opaque to this crate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileHandle(pub Bytes);

impl FileHandle {
    /// Largest handle NFSv3 allows (NFS3_FHSIZE).
    pub const MAX_LEN: usize = 64;
    /// Layout version written in byte 0.
    pub const VERSION: u8 = 1;
    /// Bytes before the backend part: version and share id.
    pub const PREFIX_LEN: usize = 5;

    /// Builds a handle for `share_id` around the backend's bytes (at most 59 of them).
    pub fn new(share_id: u32, backend: &[u8]) -> Option<Self> {
        if backend.len() > Self::MAX_LEN - Self::PREFIX_LEN {
            return None;
        }
        let mut v = Vec::with_capacity(Self::PREFIX_LEN + backend.len());
        v.push(Self::VERSION);
        v.extend_from_slice(&share_id.to_be_bytes());
        v.extend_from_slice(backend);
        Some(FileHandle(Bytes::from(v)))
    }

    /// The share id, or `None` if the handle is not one of ours (NFS3ERR_BADHANDLE).
    pub fn share_id(&self) -> Option<u32> {
        let b = &self.0;
        if b.len() < Self::PREFIX_LEN || b.len() > Self::MAX_LEN || b[0] != Self::VERSION {
            return None;
        }
        Some(u32::from_be_bytes([b[1], b[2], b[3], b[4]]))
    }

    /// The backend part, or `None` if the handle is malformed.
    pub fn backend(&self) -> Option<&[u8]> {
        self.share_id().map(|_| &self.0[Self::PREFIX_LEN..])
    }
}

/// A decoded NFSv3 call (one variant per procedure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Nfs3Call {
    /// Procedure 0.
    Null,
}

impl Nfs3Call {
    /// Decodes the arguments of `procedure`. `Err(None)` means the procedure number is not
    /// defined (PROC_UNAVAIL); `Err(Some(kind))` means malformed arguments (GARBAGE_ARGS).
    pub fn decode(procedure: u32, args: &[u8]) -> Result<Self, Option<XdrErrorKind>> {
        match procedure {
            0 if args.is_empty() => Ok(Nfs3Call::Null),
            0 => Err(Some(XdrErrorKind::Invalid("trailing bytes"))),
            _ => Err(None),
        }
    }
}

/// The result of an NFSv3 call, ready to encode as the reply body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Nfs3Reply {
    /// Procedure 0.
    Null,
}

impl Nfs3Reply {
    /// Appends the XDR form of the result.
    pub fn encode(&self, _out: &mut BytesMut) {
        match self {
            Nfs3Reply::Null => {}
        }
    }
}
