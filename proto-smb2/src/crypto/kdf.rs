//! The SMB 3.x key derivation (MS-SMB2 §3.1.4.2): NIST SP800-108 in counter mode with
//! HMAC-SHA256 as the PRF, r = 32, and the session's keys derived from the session key
//! with the labels and contexts MS-SMB2 §3.3.5.5.3 gives for 3.0/3.0.2 and for 3.1.1.

use crate::cmd::negotiate::{cipher, dialect};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// SP800-108 counter-mode KDF with HMAC-SHA256: fills `out` (L = 8·`out.len()` bits) from
/// `Ki = key`, `Label = label` and `Context = context`. The fixed input of iteration i is
/// `[i]_32 || Label || 0x00 || Context || [L]_32`, big-endian counters. MS-SMB2's labels
/// include their own terminating NUL, so the encoded label ends with two zero bytes.
pub fn kdf(key: &[u8], label: &[u8], context: &[u8], out: &mut [u8]) {
    let l_bits = (out.len() as u32).wrapping_mul(8);
    for (i, chunk) in out.chunks_mut(32).enumerate() {
        // HMAC accepts keys of any length, so new_from_slice cannot fail.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
            return;
        };
        mac.update(&(i as u32 + 1).to_be_bytes());
        mac.update(label);
        mac.update(&[0]);
        mac.update(context);
        mac.update(&l_bits.to_be_bytes());
        let block = mac.finalize().into_bytes();
        chunk.copy_from_slice(&block[..chunk.len()]);
    }
}

/// The keys a server holds for one session (MS-SMB2 §3.3.5.5.3). "Encryption" protects what
/// the server sends, "decryption" what it receives.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKeys {
    /// Session.SigningKey (for 2.0.2/2.1 the session key itself).
    pub signing: [u8; 16],
    /// Session.ApplicationKey (3.x; for 2.x the session key).
    pub application: [u8; 16],
    /// Session.EncryptionKey: 16 bytes, 32 for AES-256 ciphers; empty before 3.0.
    pub encryption: Vec<u8>,
    /// Session.DecryptionKey: as `encryption`.
    pub decryption: Vec<u8>,
}

impl core::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SessionKeys(..)")
    }
}

/// Session.SessionKey: the first 16 bytes of the authentication's key, zero-padded when it
/// is shorter (§3.3.5.5.3).
pub fn session_key_16(full: &[u8]) -> [u8; 16] {
    let mut k = [0u8; 16];
    let n = full.len().min(16);
    k[..n].copy_from_slice(&full[..n]);
    k
}

/// A KDF label and context.
type LabelContext<'a> = [&'a [u8]; 2];

/// Derives a server's session keys.
///
/// - `full_session_key`: the authentication's key (NTLM: the 16-byte exported session key);
/// - `dialect`: the connection's dialect;
/// - `preauth_hash`: Session.PreauthIntegrityHashValue, required for 3.1.1 (it is the KDF
///   context there; with `None` a 3.1.1 session gets the 3.0 labels, which no peer accepts);
/// - `cipher_id`: the connection's cipher ([`cipher`]); AES-256 ciphers get 32-byte keys
///   derived from the full session key (§3.3.5.5.3), the others 16-byte keys from SessionKey.
pub fn derive_server_keys(
    full_session_key: &[u8],
    dialect_revision: u16,
    preauth_hash: Option<&[u8; 64]>,
    cipher_id: u16,
) -> SessionKeys {
    let sk = session_key_16(full_session_key);
    if dialect_revision < dialect::SMB300 {
        return SessionKeys {
            signing: sk,
            application: sk,
            encryption: Vec::new(),
            decryption: Vec::new(),
        };
    }
    let (sign, app, enc, dec): (
        LabelContext<'_>,
        LabelContext<'_>,
        LabelContext<'_>,
        LabelContext<'_>,
    ) = match (dialect_revision, preauth_hash) {
        (dialect::SMB311, Some(h)) => (
            [b"SMBSigningKey\0", h],
            [b"SMBAppKey\0", h],
            [b"SMBS2CCipherKey\0", h],
            [b"SMBC2SCipherKey\0", h],
        ),
        _ => (
            [b"SMB2AESCMAC\0", b"SmbSign\0"],
            [b"SMB2APP\0", b"SmbRpc\0"],
            [b"SMB2AESCCM\0", b"ServerOut\0"],
            [b"SMB2AESCCM\0", b"ServerIn \0"],
        ),
    };
    let mut keys = SessionKeys {
        signing: [0; 16],
        application: [0; 16],
        encryption: Vec::new(),
        decryption: Vec::new(),
    };
    kdf(&sk, sign[0], sign[1], &mut keys.signing);
    kdf(&sk, app[0], app[1], &mut keys.application);
    let wide = matches!(cipher_id, cipher::AES256_CCM | cipher::AES256_GCM);
    let (ki, len): (&[u8], usize) = if wide {
        (full_session_key, 32)
    } else {
        (&sk, 16)
    };
    keys.encryption = vec![0; len];
    keys.decryption = vec![0; len];
    kdf(ki, enc[0], enc[1], &mut keys.encryption);
    kdf(ki, dec[0], dec[1], &mut keys.decryption);
    keys
}
