//! SMB2/3 message security: the SP800-108 key derivation of 3.x keys ([`kdf`]), the 3.1.1
//! preauth integrity hash chain ([`preauth`]), message signing ([`signing`]) and encryption
//! with the transform header ([`transform`]). Primitives come from RustCrypto crates.

pub mod kdf;
pub mod preauth;
pub mod signing;
pub mod transform;

use crate::error::DecodeError;
use crate::status::NtStatus;

/// Why a security operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// A key of the wrong length for the algorithm (a caller bug, never peer input).
    #[error("key of {got} bytes, the algorithm needs {expected}")]
    KeyLength {
        /// Length given.
        got: usize,
        /// Length required.
        expected: usize,
    },
    /// The transform header is malformed.
    #[error("malformed transform header: {0}")]
    Malformed(#[from] DecodeError),
    /// The ciphertext does not authenticate under the key: tampered or wrong key.
    #[error("decryption failed: message not authentic")]
    NotAuthentic,
    /// An unknown cipher or signing algorithm id.
    #[error("unknown algorithm id {0:#06x}")]
    UnknownAlgorithm(u16),
}

impl CryptoError {
    /// What the server does: MS-SMB2 §3.3.5.2.1.1 disconnects on a transform that does not
    /// decrypt (`None`); an unknown algorithm is a parameter error.
    pub fn status(&self) -> Option<NtStatus> {
        match self {
            CryptoError::UnknownAlgorithm(_) => Some(NtStatus::INVALID_PARAMETER),
            _ => None,
        }
    }
}

/// Compares two byte strings in time independent of where they differ.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut acc = 0u8;
    for (x, y) in a.iter().zip(b) {
        acc |= x ^ y;
    }
    acc == 0
}
