//! Why bytes from the wire could not be decoded, and what the peer is told about it.
//!
//! Every decoder of this crate returns [`DecodeError`]; [`DecodeError::status`] is the one
//! place that maps a malformed message to its NTSTATUS (or to closing the connection).

use crate::status::NtStatus;

/// A malformed message: the bytes do not follow MS-SMB2 (or MS-NLMP / RFC 4178 for the
/// security tokens carried inside). Legal messages that arrive in the wrong state are not
/// decode errors; the state machines report those with their own statuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The message ends before a field it must contain.
    #[error("truncated {what}")]
    Truncated {
        /// The structure being decoded.
        what: &'static str,
    },
    /// The message is shorter than an SMB2 header (or a transform header).
    #[error("message shorter than an SMB2 header")]
    TruncatedHeader,
    /// The first four bytes are not 0xFE 'S' 'M' 'B' (or 0xFD 'S' 'M' 'B' for a transform
    /// header): the peer does not speak SMB2.
    #[error("not an SMB2 message (protocol id {0:02x?})")]
    BadProtocolId([u8; 4]),
    /// A StructureSize field has a value other than the one the spec fixes.
    #[error("{what}: StructureSize {got}, expected {expected}")]
    BadStructureSize {
        /// The structure being decoded.
        what: &'static str,
        /// The value found.
        got: u16,
        /// The value MS-SMB2 requires.
        expected: u16,
    },
    /// An offset/length pair points outside the message, or into its fixed part.
    #[error("{what}: offset/length outside the message")]
    OutOfBounds {
        /// The field whose offset is wrong.
        what: &'static str,
    },
    /// A count from the wire is over this crate's hard limit (checked before allocating).
    #[error("{what}: {count} exceeds the limit of {max}")]
    TooMany {
        /// The counted thing.
        what: &'static str,
        /// The count found.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A field that must be 8-byte aligned is not (negotiate contexts, NextCommand).
    #[error("{what}: misaligned")]
    Misaligned {
        /// The misaligned field.
        what: &'static str,
    },
    /// A field holds a value the spec does not allow.
    #[error("{what}: invalid value")]
    Invalid {
        /// The field.
        what: &'static str,
    },
}

impl DecodeError {
    /// What the server answers to a message that fails to decode: `None` means the
    /// connection is dropped without an answer (MS-SMB2 §3.3.5.2: a message that is not
    /// SMB2 or shorter than a header), `Some(status)` the status of an ERROR response.
    /// MS-SMB2 §3.3.5.2.6 and each command's processing rule (§3.3.5.x) answer
    /// malformed fields with STATUS_INVALID_PARAMETER.
    pub fn status(&self) -> Option<NtStatus> {
        match self {
            DecodeError::BadProtocolId(_) | DecodeError::TruncatedHeader => None,
            _ => Some(NtStatus::INVALID_PARAMETER),
        }
    }
}

/// Shorthand used by every decoder.
pub type DecodeResult<T> = Result<T, DecodeError>;
