//! Compound chains (MS-SMB2 §3.2.4.1.4, §3.3.5.2.7): several SMB2 messages in one frame,
//! each linked to the next by the header's NextCommand offset.
//!
//! [`split_compound`] cuts a frame into its messages and checks the links: every NextCommand
//! is a multiple of 8 (§2.2.1: "the offset ... MUST be 8-byte aligned"), lands inside the
//! frame with room for a whole header, and the chain has at most the caller's limit of
//! messages. Each [`CompoundPart`] keeps its bytes including the padding up to the next
//! message, because signatures cover that padding (§3.1.4.1). Whether a related operation
//! may come first, and which ids a related operation inherits, are decisions of the server
//! state machine (§3.3.5.2.7.2); the parts carry [`Header::is_related`] for it.
//!
//! [`CompoundWriter`] builds a response chain: it pads each message to 8 bytes and fills in
//! the previous message's NextCommand.

use crate::error::{DecodeError, DecodeResult};
use crate::header::{Header, HEADER_LEN};
use bytes::{BufMut, Bytes, BytesMut};
use core::ops::Range;

/// One message of a compound chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompoundPart {
    /// Its header.
    pub header: Header,
    /// The message: header, body and any padding before the next message.
    pub msg: Bytes,
    /// Where it lies in the frame.
    pub range: Range<usize>,
}

/// Splits a frame into the messages of its compound chain (a lone message is a chain of
/// one). Refuses more than `max_parts` messages.
pub fn split_compound(frame: &Bytes, max_parts: usize) -> DecodeResult<Vec<CompoundPart>> {
    let mut parts = Vec::new();
    let mut start = 0usize;
    loop {
        let header = Header::decode(&frame[start..])?;
        if parts.len() >= max_parts {
            return Err(DecodeError::TooMany {
                what: "compound chain",
                count: parts.len() + 1,
                max: max_parts,
            });
        }
        let next = header.next_command as usize;
        if next == 0 {
            parts.push(CompoundPart {
                header,
                msg: frame.slice(start..),
                range: start..frame.len(),
            });
            return Ok(parts);
        }
        if next % 8 != 0 {
            return Err(DecodeError::Misaligned {
                what: "NextCommand",
            });
        }
        if next < HEADER_LEN || start + next + HEADER_LEN > frame.len() {
            return Err(DecodeError::OutOfBounds {
                what: "NextCommand",
            });
        }
        parts.push(CompoundPart {
            header,
            msg: frame.slice(start..start + next),
            range: start..start + next,
        });
        start += next;
    }
}

/// Builds a compound chain of messages in one buffer.
#[derive(Debug, Default)]
pub struct CompoundWriter {
    buf: BytesMut,
    ranges: Vec<Range<usize>>,
}

impl CompoundWriter {
    /// An empty chain.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a complete message (header first). The previous message is padded to an
    /// 8-byte boundary and its NextCommand set to point here. Messages shorter than a
    /// header are a caller bug; they are appended as they are.
    pub fn push(&mut self, msg: &[u8]) {
        if let Some(prev) = self.ranges.last_mut() {
            let len = prev.end - prev.start;
            let padded = crate::wire::align8(len);
            self.buf.put_bytes(0, padded - len);
            prev.end = prev.start + padded;
            let at = prev.start + 20;
            self.buf[at..at + 4].copy_from_slice(&(padded as u32).to_le_bytes());
        }
        let start = self.buf.len();
        self.buf.put_slice(msg);
        self.ranges.push(start..self.buf.len());
    }

    /// Where each message lies, padding included: what a signature covers (§3.1.4.1).
    pub fn ranges(&self) -> &[Range<usize>] {
        &self.ranges
    }

    /// Mutable access to the chain, to sign each message in place.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    /// The finished chain.
    pub fn finish(self) -> Bytes {
        self.buf.freeze()
    }
}
