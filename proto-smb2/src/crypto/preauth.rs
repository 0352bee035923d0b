//! The SMB 3.1.1 preauth integrity hash chain (MS-SMB2 §3.3.5.4, §3.3.5.5.1, §3.3.5.5.3).
//!
//! The connection's value starts as 64 zero bytes and is updated with the NEGOTIATE request
//! and then the NEGOTIATE response. Each session's value starts from the connection's and is
//! updated with every SESSION_SETUP request and every SESSION_SETUP response except the last
//! one that completes authentication (that response is signed with keys derived from the
//! value instead). Each update is `H = SHA-512(H || message)`, the message being the whole
//! SMB2 message, header included, as it is on the wire.

use sha2::{Digest, Sha512};

/// A preauth integrity hash value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreauthHash(pub [u8; 64]);

impl Default for PreauthHash {
    fn default() -> Self {
        PreauthHash([0; 64])
    }
}

impl PreauthHash {
    /// The initial value: 64 zero bytes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Chains one message into the value.
    pub fn update(&mut self, msg: &[u8]) {
        let mut h = Sha512::new();
        h.update(self.0);
        h.update(msg);
        self.0.copy_from_slice(&h.finalize());
    }

    /// The current value.
    pub fn value(&self) -> &[u8; 64] {
        &self.0
    }
}
