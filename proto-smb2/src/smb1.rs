//! The one SMB1 message an SMB2 server answers: an SMB_COM_NEGOTIATE (MS-CIFS §2.2.4.52.1)
//! offering SMB2 dialect strings, sent by clients that still start in SMB1. MS-SMB2
//! §3.3.5.3.1 answers it with an SMB2 NEGOTIATE response: DialectRevision 0x02FF when
//! "SMB 2.???" is offered (the client then sends an SMB2 NEGOTIATE), 0x0202 when only
//! "SMB 2.002" is; a negotiate without either is not for an SMB2-only server.

use crate::cmd::negotiate::dialect;
use crate::error::{DecodeError, DecodeResult};
use crate::wire::{le16, limit};

/// ProtocolId of an SMB1 message.
pub const SMB1_PROTOCOL_ID: [u8; 4] = [0xFF, b'S', b'M', b'B'];
/// SMB_COM_NEGOTIATE.
pub const SMB_COM_NEGOTIATE: u8 = 0x72;
/// Most dialect strings decoded.
pub const MAX_SMB1_DIALECTS: usize = 64;
const SMB1_HEADER_LEN: usize = 32;
const WHAT: &str = "SMB1 NEGOTIATE";

/// Whether a frame is an SMB1 message.
pub fn is_smb1(frame: &[u8]) -> bool {
    frame.get(..4) == Some(&SMB1_PROTOCOL_ID[..])
}

/// An SMB1 NEGOTIATE request: its dialect strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Smb1Negotiate {
    /// The dialect strings, in the client's order (OEM bytes, without the 0x02 prefix and
    /// the terminating NUL).
    pub dialects: Vec<Vec<u8>>,
}

impl Smb1Negotiate {
    /// Decodes an SMB1 NEGOTIATE request from a whole frame.
    pub fn decode(frame: &[u8]) -> DecodeResult<Self> {
        if frame.len() < SMB1_HEADER_LEN + 3 {
            return Err(DecodeError::Truncated { what: WHAT });
        }
        if !is_smb1(frame) {
            return Err(DecodeError::BadProtocolId([
                frame[0], frame[1], frame[2], frame[3],
            ]));
        }
        if frame[4] != SMB_COM_NEGOTIATE || frame[SMB1_HEADER_LEN] != 0 {
            return Err(DecodeError::Invalid { what: WHAT });
        }
        let count = usize::from(le16(frame, SMB1_HEADER_LEN + 1));
        let mut bytes = frame
            .get(SMB1_HEADER_LEN + 3..SMB1_HEADER_LEN + 3 + count)
            .ok_or(DecodeError::Truncated { what: WHAT })?;
        let mut dialects = Vec::new();
        while let Some((&fmt, rest)) = bytes.split_first() {
            // Each dialect is a BufferFormat 0x02 byte and a NUL-terminated string.
            if fmt != 0x02 {
                return Err(DecodeError::Invalid { what: WHAT });
            }
            let nul = rest
                .iter()
                .position(|b| *b == 0)
                .ok_or(DecodeError::Truncated { what: WHAT })?;
            limit("SMB1 dialects", dialects.len() + 1, MAX_SMB1_DIALECTS)?;
            dialects.push(rest[..nul].to_vec());
            bytes = &rest[nul + 1..];
        }
        Ok(Smb1Negotiate { dialects })
    }

    /// Encodes the request (a zeroed SMB1 header with Command NEGOTIATE, WordCount 0, the
    /// dialect strings). For tests and clients.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&SMB1_PROTOCOL_ID);
        v.push(SMB_COM_NEGOTIATE);
        v.resize(SMB1_HEADER_LEN, 0);
        v.push(0);
        let len: usize = self.dialects.iter().map(|d| d.len() + 2).sum();
        v.extend_from_slice(&(len as u16).to_le_bytes());
        for d in &self.dialects {
            v.push(0x02);
            v.extend_from_slice(d);
            v.push(0);
        }
        v
    }

    /// The DialectRevision of the SMB2 NEGOTIATE response that answers it (§3.3.5.3.1), or
    /// `None` when it offers no SMB2 dialect.
    pub fn smb2_answer(&self) -> Option<u16> {
        let has = |s: &[u8]| self.dialects.iter().any(|d| d == s);
        if has(b"SMB 2.???") {
            Some(dialect::SMB2_WILDCARD)
        } else if has(b"SMB 2.002") {
            Some(dialect::SMB202)
        } else {
            None
        }
    }
}
