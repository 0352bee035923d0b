//! The connection's source of unpredictable bytes: the runtime's 32-byte seed expanded by
//! the ChaCha20 keystream (RFC 8439). The machine draws NTLM server challenges, session
//! ids, preauth salts and nonce prefixes from it; the same seed gives the same bytes, so
//! tests are reproducible, and a seed from the OS gives values no peer can predict.

use chacha20::cipher::{KeyIvInit, StreamCipher};
use chacha20::ChaCha20;

/// A deterministic stream of random bytes.
pub struct Rng {
    stream: ChaCha20,
}

impl core::fmt::Debug for Rng {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Rng(..)")
    }
}

impl Rng {
    /// The stream of `seed` (used as the ChaCha20 key with a zero nonce).
    pub fn new(seed: [u8; 32]) -> Self {
        Rng {
            stream: ChaCha20::new(&seed.into(), &[0u8; 12].into()),
        }
    }

    /// Fills `out` with the next bytes.
    pub fn fill(&mut self, out: &mut [u8]) {
        out.fill(0);
        // The keystream of one key lasts 256 GiB; a connection draws a few bytes per
        // session, so it never runs out (try_apply_keystream would report it).
        let _ = self.stream.try_apply_keystream(out);
    }

    /// The next `N` bytes.
    pub fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        self.fill(&mut b);
        b
    }

    /// The next 64-bit value.
    pub fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.bytes())
    }
}
