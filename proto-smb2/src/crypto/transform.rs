//! Encryption of SMB 3.x messages with the SMB2 TRANSFORM_HEADER (MS-SMB2 §2.2.41,
//! §3.1.4.3).
//!
//! The transform header is 52 bytes: ProtocolId 0xFD 'S' 'M' 'B', Signature (the AEAD tag),
//! Nonce (16 bytes: 11 used by CCM, 12 by GCM, the rest zero), OriginalMessageSize,
//! Reserved, Flags (0x0001 Encrypted; EncryptionAlgorithm AES-128-CCM = 0x0001 in 3.0/3.0.2,
//! the same value) and SessionId. The associated data is the header from the Nonce on
//! (32 bytes). The nonce is an input: it must never repeat under one key, which the caller
//! guarantees (a counter or random bytes handed in).

use super::CryptoError;
use crate::cmd::negotiate::cipher;
use crate::error::{DecodeError, DecodeResult};
use crate::wire::{le16, le32, le64, run};
use aes::{Aes128, Aes256};
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use bytes::BufMut;
use ccm::consts::{U11, U16};
use ccm::Ccm;

/// ProtocolId of a transform header.
pub const TRANSFORM_PROTOCOL_ID: [u8; 4] = [0xFD, b'S', b'M', b'B'];
/// Length of the transform header.
pub const TRANSFORM_HEADER_LEN: usize = 52;
/// Flags value of an encrypted message.
pub const FLAG_ENCRYPTED: u16 = 0x0001;
const WHAT: &str = "TRANSFORM_HEADER";
/// Where the associated data starts (the Nonce field).
const AAD_START: usize = 20;

type Aes128Ccm = Ccm<Aes128, U16, U11>;
type Aes256Ccm = Ccm<Aes256, U16, U11>;

/// An encryption cipher (§2.2.3.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cipher {
    /// AES-128-CCM (3.0, 3.0.2, 3.1.1).
    Aes128Ccm,
    /// AES-128-GCM (3.1.1).
    Aes128Gcm,
    /// AES-256-CCM (3.1.1).
    Aes256Ccm,
    /// AES-256-GCM (3.1.1).
    Aes256Gcm,
}

impl Cipher {
    /// The cipher of a cipher id.
    pub fn from_id(id: u16) -> Result<Self, CryptoError> {
        match id {
            cipher::AES128_CCM => Ok(Self::Aes128Ccm),
            cipher::AES128_GCM => Ok(Self::Aes128Gcm),
            cipher::AES256_CCM => Ok(Self::Aes256Ccm),
            cipher::AES256_GCM => Ok(Self::Aes256Gcm),
            other => Err(CryptoError::UnknownAlgorithm(other)),
        }
    }

    /// Its cipher id.
    pub fn id(self) -> u16 {
        match self {
            Self::Aes128Ccm => cipher::AES128_CCM,
            Self::Aes128Gcm => cipher::AES128_GCM,
            Self::Aes256Ccm => cipher::AES256_CCM,
            Self::Aes256Gcm => cipher::AES256_GCM,
        }
    }

    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Self::Aes128Ccm | Self::Aes128Gcm => 16,
            Self::Aes256Ccm | Self::Aes256Gcm => 32,
        }
    }

    /// Bytes of the Nonce field the cipher uses (§2.2.41).
    pub fn nonce_len(self) -> usize {
        match self {
            Self::Aes128Ccm | Self::Aes256Ccm => 11,
            Self::Aes128Gcm | Self::Aes256Gcm => 12,
        }
    }

    fn check_key(self, key: &[u8]) -> Result<(), CryptoError> {
        if key.len() == self.key_len() {
            Ok(())
        } else {
            Err(CryptoError::KeyLength {
                got: key.len(),
                expected: self.key_len(),
            })
        }
    }

    fn seal(self, key: &[u8], nonce: &[u8; 16], aad: &[u8], buf: &mut [u8]) -> [u8; 16] {
        // Keys were length-checked; encryption fails only on messages of 2^32 bytes and
        // more (CCM with an 11-byte nonce), which no frame can hold.
        let tag = match self {
            Self::Aes128Ccm => Aes128Ccm::new(key.into())
                .encrypt_in_place_detached(nonce[..11].into(), aad, buf)
                .map(|t| t.to_vec()),
            Self::Aes256Ccm => Aes256Ccm::new(key.into())
                .encrypt_in_place_detached(nonce[..11].into(), aad, buf)
                .map(|t| t.to_vec()),
            Self::Aes128Gcm => Aes128Gcm::new(key.into())
                .encrypt_in_place_detached(nonce[..12].into(), aad, buf)
                .map(|t| t.to_vec()),
            Self::Aes256Gcm => Aes256Gcm::new(key.into())
                .encrypt_in_place_detached(nonce[..12].into(), aad, buf)
                .map(|t| t.to_vec()),
        };
        let mut out = [0u8; 16];
        if let Ok(t) = tag {
            out.copy_from_slice(&t);
        }
        out
    }

    fn open(
        self,
        key: &[u8],
        nonce: &[u8; 16],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), CryptoError> {
        let r = match self {
            Self::Aes128Ccm => Aes128Ccm::new(key.into()).decrypt_in_place_detached(
                nonce[..11].into(),
                aad,
                buf,
                tag.into(),
            ),
            Self::Aes256Ccm => Aes256Ccm::new(key.into()).decrypt_in_place_detached(
                nonce[..11].into(),
                aad,
                buf,
                tag.into(),
            ),
            Self::Aes128Gcm => Aes128Gcm::new(key.into()).decrypt_in_place_detached(
                nonce[..12].into(),
                aad,
                buf,
                tag.into(),
            ),
            Self::Aes256Gcm => Aes256Gcm::new(key.into()).decrypt_in_place_detached(
                nonce[..12].into(),
                aad,
                buf,
                tag.into(),
            ),
        };
        r.map_err(|_| CryptoError::NotAuthentic)
    }
}

/// The SMB2 TRANSFORM_HEADER (§2.2.41).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransformHeader {
    /// Signature: the AEAD tag.
    pub signature: [u8; 16],
    /// Nonce.
    pub nonce: [u8; 16],
    /// OriginalMessageSize: length of the plaintext message.
    pub original_message_size: u32,
    /// Flags / EncryptionAlgorithm.
    pub flags: u16,
    /// SessionId: whose keys decrypt the message.
    pub session_id: u64,
}

impl TransformHeader {
    /// Decodes the header at the start of `msg`.
    pub fn decode(msg: &[u8]) -> DecodeResult<Self> {
        let (_, h) = run(WHAT, msg, nom::bytes::complete::take(TRANSFORM_HEADER_LEN))
            .map_err(|_| DecodeError::TruncatedHeader)?;
        if h[..4] != TRANSFORM_PROTOCOL_ID {
            return Err(DecodeError::BadProtocolId([h[0], h[1], h[2], h[3]]));
        }
        let mut signature = [0u8; 16];
        signature.copy_from_slice(&h[4..20]);
        let mut nonce = [0u8; 16];
        nonce.copy_from_slice(&h[20..36]);
        Ok(TransformHeader {
            signature,
            nonce,
            original_message_size: le32(h, 36),
            flags: le16(h, 42),
            session_id: le64(h, 44),
        })
    }

    /// Writes the 52 header bytes.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_slice(&TRANSFORM_PROTOCOL_ID);
        out.put_slice(&self.signature);
        out.put_slice(&self.nonce);
        out.put_u32_le(self.original_message_size);
        out.put_u16_le(0);
        out.put_u16_le(self.flags);
        out.put_u64_le(self.session_id);
    }
}

/// Whether a frame is a transform (starts with 0xFD 'S' 'M' 'B').
pub fn is_transform(frame: &[u8]) -> bool {
    frame.get(..4) == Some(&TRANSFORM_PROTOCOL_ID[..])
}

/// Encrypts `plaintext` (one SMB2 message or compound chain) for `session_id` and returns
/// the transform header followed by the ciphertext. `nonce` supplies the cipher's nonce
/// bytes ([`Cipher::nonce_len`] of them are used, the rest of the field is zero).
pub fn encrypt(
    c: Cipher,
    key: &[u8],
    nonce: &[u8; 16],
    session_id: u64,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    c.check_key(key)?;
    let mut out = Vec::with_capacity(TRANSFORM_HEADER_LEN + plaintext.len());
    out.resize(TRANSFORM_HEADER_LEN, 0);
    out.extend_from_slice(plaintext);
    encrypt_in_place(c, key, nonce, session_id, &mut out)?;
    Ok(out)
}

/// [`encrypt`] where the message lies: `buf` is [`TRANSFORM_HEADER_LEN`] bytes of room
/// (any value), then the plaintext; the header is written into the room and the plaintext
/// is encrypted in place.
pub fn encrypt_in_place(
    c: Cipher,
    key: &[u8],
    nonce: &[u8; 16],
    session_id: u64,
    buf: &mut [u8],
) -> Result<(), CryptoError> {
    c.check_key(key)?;
    if buf.len() < TRANSFORM_HEADER_LEN {
        return Err(DecodeError::TruncatedHeader.into());
    }
    let mut n = [0u8; 16];
    n[..c.nonce_len()].copy_from_slice(&nonce[..c.nonce_len()]);
    let mut hdr = TransformHeader {
        signature: [0; 16],
        nonce: n,
        original_message_size: (buf.len() - TRANSFORM_HEADER_LEN) as u32,
        flags: FLAG_ENCRYPTED,
        session_id,
    };
    let (head, body) = buf.split_at_mut(TRANSFORM_HEADER_LEN);
    hdr.encode(&mut &mut head[..]);
    hdr.signature = c.seal(key, &n, &head[AAD_START..], body);
    head[4..20].copy_from_slice(&hdr.signature);
    Ok(())
}

/// Decrypts a transform message (header first). Checks the Flags value and that
/// OriginalMessageSize is the length of what follows the header before decrypting;
/// returns the header and the plaintext.
pub fn decrypt(
    c: Cipher,
    key: &[u8],
    msg: &[u8],
) -> Result<(TransformHeader, Vec<u8>), CryptoError> {
    c.check_key(key)?;
    let hdr = TransformHeader::decode(msg)?;
    if hdr.flags != FLAG_ENCRYPTED {
        return Err(DecodeError::Invalid {
            what: "TRANSFORM_HEADER Flags",
        }
        .into());
    }
    let body = &msg[TRANSFORM_HEADER_LEN..];
    if hdr.original_message_size as usize != body.len() {
        return Err(DecodeError::Invalid {
            what: "OriginalMessageSize",
        }
        .into());
    }
    let mut plain = body.to_vec();
    c.open(
        key,
        &hdr.nonce,
        &msg[AAD_START..TRANSFORM_HEADER_LEN],
        &mut plain,
        &hdr.signature,
    )?;
    Ok((hdr, plain))
}

/// [`decrypt`] where the message lies: `msg` (header first) is left with the plaintext
/// after the header's [`TRANSFORM_HEADER_LEN`] bytes. On error the bytes after the header
/// may be garbage (the caller drops the message).
pub fn decrypt_in_place(
    c: Cipher,
    key: &[u8],
    msg: &mut [u8],
) -> Result<TransformHeader, CryptoError> {
    c.check_key(key)?;
    let hdr = TransformHeader::decode(msg)?;
    if hdr.flags != FLAG_ENCRYPTED {
        return Err(DecodeError::Invalid {
            what: "TRANSFORM_HEADER Flags",
        }
        .into());
    }
    let (head, body) = msg.split_at_mut(TRANSFORM_HEADER_LEN);
    if hdr.original_message_size as usize != body.len() {
        return Err(DecodeError::Invalid {
            what: "OriginalMessageSize",
        }
        .into());
    }
    c.open(key, &hdr.nonce, &head[AAD_START..], body, &hdr.signature)?;
    Ok(hdr)
}
