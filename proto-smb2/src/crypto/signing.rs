//! SMB2 message signing (MS-SMB2 §3.1.4.1).
//!
//! The signature covers the whole message, header included with its Signature field zeroed
//! and, in a compound chain, the padding before the next message. Algorithms:
//! HMAC-SHA256 truncated to 16 bytes for 2.0.2 and 2.1; AES-128-CMAC for 3.0, 3.0.2 and for
//! 3.1.1 unless the signing capabilities context chose AES-128-GMAC, whose 12-byte nonce is
//! the MessageId (8 bytes, little-endian) followed by a 32-bit word with bit 0 set for a
//! response (SMB2_FLAGS_SERVER_TO_REDIR) and bit 1 set for a CANCEL request.

use super::{ct_eq, CryptoError};
use crate::cmd::negotiate::signing_algorithm;
use crate::header::{flags, Command, HEADER_LEN};
use crate::wire::{le16, le32, le64};
use aes::Aes128;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::Aes128Gcm;
use cmac::Cmac;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const SIG: core::ops::Range<usize> = 48..64;

/// A signing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlgorithm {
    /// HMAC-SHA256 (2.0.2, 2.1).
    HmacSha256,
    /// AES-128-CMAC (3.x).
    AesCmac,
    /// AES-128-GMAC (3.1.1 with the signing capabilities context).
    AesGmac,
}

impl SigningAlgorithm {
    /// The algorithm of a SigningAlgorithms id (§2.2.3.1.7).
    pub fn from_id(id: u16) -> Result<Self, CryptoError> {
        match id {
            signing_algorithm::HMAC_SHA256 => Ok(Self::HmacSha256),
            signing_algorithm::AES_CMAC => Ok(Self::AesCmac),
            signing_algorithm::AES_GMAC => Ok(Self::AesGmac),
            other => Err(CryptoError::UnknownAlgorithm(other)),
        }
    }

    /// The default for a dialect without a signing context (§3.1.4.1).
    pub fn for_dialect(dialect: u16) -> Self {
        if dialect >= crate::cmd::negotiate::dialect::SMB300 {
            Self::AesCmac
        } else {
            Self::HmacSha256
        }
    }
}

/// The 12-byte AES-GMAC nonce of a message (§3.1.4.1).
fn gmac_nonce(msg: &[u8]) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..8].copy_from_slice(&le64(msg, 24).to_le_bytes());
    let mut role = 0u32;
    if le32(msg, 16) & flags::SERVER_TO_REDIR != 0 {
        role |= 1;
    }
    if le16(msg, 12) == Command::CANCEL.0 {
        role |= 2;
    }
    n[8..].copy_from_slice(&role.to_le_bytes());
    n
}

/// The signature of `msg` (a whole message, at least a header long), computed as if its
/// Signature field were zero.
pub fn signature(
    alg: SigningAlgorithm,
    key: &[u8; 16],
    msg: &[u8],
) -> Result<[u8; 16], CryptoError> {
    if msg.len() < HEADER_LEN {
        return Err(CryptoError::Malformed(
            crate::error::DecodeError::TruncatedHeader,
        ));
    }
    let mut sig = [0u8; 16];
    let zero = [0u8; 16];
    match alg {
        SigningAlgorithm::HmacSha256 => {
            let mut mac =
                <Hmac<Sha256> as Mac>::new_from_slice(key).map_err(|_| CryptoError::KeyLength {
                    got: key.len(),
                    expected: 16,
                })?;
            mac.update(&msg[..SIG.start]);
            mac.update(&zero);
            mac.update(&msg[SIG.end..]);
            sig.copy_from_slice(&mac.finalize().into_bytes()[..16]);
        }
        SigningAlgorithm::AesCmac => {
            let mut mac =
                <Cmac<Aes128> as Mac>::new_from_slice(key).map_err(|_| CryptoError::KeyLength {
                    got: key.len(),
                    expected: 16,
                })?;
            mac.update(&msg[..SIG.start]);
            mac.update(&zero);
            mac.update(&msg[SIG.end..]);
            sig.copy_from_slice(&mac.finalize().into_bytes());
        }
        SigningAlgorithm::AesGmac => {
            // GMAC is GCM with the message as associated data and nothing to encrypt.
            let gcm = Aes128Gcm::new(key.into());
            let mut aad = msg.to_vec();
            aad[SIG].fill(0);
            let nonce = gmac_nonce(msg);
            let tag = gcm
                .encrypt_in_place_detached((&nonce).into(), &aad, &mut [])
                .map_err(|_| CryptoError::NotAuthentic)?;
            sig.copy_from_slice(&tag);
        }
    }
    Ok(sig)
}

/// Signs `msg` in place: sets SMB2_FLAGS_SIGNED (it is covered by the signature) and writes
/// the Signature field.
pub fn sign(alg: SigningAlgorithm, key: &[u8; 16], msg: &mut [u8]) -> Result<(), CryptoError> {
    if msg.len() < HEADER_LEN {
        return Err(CryptoError::Malformed(
            crate::error::DecodeError::TruncatedHeader,
        ));
    }
    let f = le32(msg, 16) | flags::SIGNED;
    msg[16..20].copy_from_slice(&f.to_le_bytes());
    let sig = signature(alg, key, msg)?;
    msg[SIG].copy_from_slice(&sig);
    Ok(())
}

/// Whether `msg`'s Signature field is its signature under `key`. A message shorter than a
/// header is never valid.
pub fn verify(alg: SigningAlgorithm, key: &[u8; 16], msg: &[u8]) -> bool {
    match signature(alg, key, msg) {
        Ok(sig) => ct_eq(&sig, &msg[SIG]),
        Err(_) => false,
    }
}
