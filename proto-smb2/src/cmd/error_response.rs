//! The ERROR response (MS-SMB2 §2.2.2) that carries a failed command's status, and its
//! 3.1.1 error contexts (§2.2.2.1).

use crate::error::{DecodeError, DecodeResult};
use crate::header::HEADER_LEN;
use crate::wire::{align8, expect_size, limit, pad8, run};
use bytes::BufMut;
use nom::number::complete::{le_u16, le_u32, le_u8};
use nom::sequence::tuple;

const WHAT: &str = "ERROR response";
/// Most error data accepted in a decoded ERROR response.
pub const MAX_ERROR_DATA: usize = 65536;
/// Most error contexts decoded from one response.
pub const MAX_ERROR_CONTEXTS: usize = 16;

/// ERROR response (§2.2.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorResponse {
    /// ErrorContextCount (3.1.1): how many error contexts `error_data` holds; 0 when
    /// `error_data` is plain data such as the 4-byte size of STATUS_BUFFER_TOO_SMALL.
    pub error_context_count: u8,
    /// ErrorData, ByteCount bytes.
    pub error_data: Vec<u8>,
}

/// One 3.1.1 error context (§2.2.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorContext {
    /// ErrorId (0 = default, 0x72645253 = share redirect).
    pub error_id: u32,
    /// ErrorContextData.
    pub data: Vec<u8>,
}

impl ErrorResponse {
    /// An ERROR response with no data, what most failures get (§3.3.4.4).
    pub fn empty() -> Self {
        Self::default()
    }

    /// The ERROR response of STATUS_BUFFER_TOO_SMALL: the size the client must offer
    /// (§2.2.2, ErrorData "ByteCount ... 4 bytes").
    pub fn buffer_too_small(required: u32) -> Self {
        ErrorResponse {
            error_context_count: 0,
            error_data: required.to_le_bytes().to_vec(),
        }
    }

    /// An ERROR response carrying 3.1.1 error contexts, each padded to 8 bytes.
    pub fn with_contexts(contexts: &[ErrorContext]) -> Self {
        let mut data = Vec::new();
        for c in contexts {
            let written = data.len();
            pad8(&mut data, written);
            data.put_u32_le(c.data.len() as u32);
            data.put_u32_le(c.error_id);
            data.put_slice(&c.data);
        }
        ErrorResponse {
            error_context_count: contexts.len() as u8,
            error_data: data,
        }
    }

    /// The error contexts in `error_data` (3.1.1).
    pub fn contexts(&self) -> DecodeResult<Vec<ErrorContext>> {
        let count = usize::from(self.error_context_count);
        limit("ErrorContextCount", count, MAX_ERROR_CONTEXTS)?;
        let mut out = Vec::with_capacity(count);
        let mut pos = 0usize;
        for _ in 0..count {
            pos = align8(pos);
            let rest = self.error_data.get(pos..).ok_or(DecodeError::Truncated {
                what: "error context",
            })?;
            let (rest, (len, error_id)) = run("error context", rest, tuple((le_u32, le_u32)))?;
            let len = len as usize;
            limit("ErrorDataLength", len, MAX_ERROR_DATA)?;
            let (_, data) = run("error context", rest, nom::bytes::complete::take(len))?;
            out.push(ErrorContext {
                error_id,
                data: data.to_vec(),
            });
            pos += 8 + len;
        }
        Ok(out)
    }

    /// Decodes the response from a whole message.
    pub fn decode(msg: &[u8]) -> DecodeResult<Self> {
        let body = msg
            .get(HEADER_LEN..)
            .ok_or(DecodeError::Truncated { what: WHAT })?;
        let (rest, (size, error_context_count, _reserved, byte_count)) =
            run(WHAT, body, tuple((le_u16, le_u8, le_u8, le_u32)))?;
        expect_size(WHAT, size, 9)?;
        let byte_count = byte_count as usize;
        limit("ByteCount", byte_count, MAX_ERROR_DATA)?;
        let (_, data) = run(WHAT, rest, nom::bytes::complete::take(byte_count))?;
        Ok(ErrorResponse {
            error_context_count,
            error_data: data.to_vec(),
        })
    }

    /// Writes the body. With no data, the one ErrorData byte the spec requires is a zero
    /// (§2.2.2: "the server MUST supply an ErrorData field that is one byte in length").
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u16_le(9);
        out.put_u8(self.error_context_count);
        out.put_u8(0);
        out.put_u32_le(self.error_data.len() as u32);
        if self.error_data.is_empty() {
            out.put_u8(0);
        } else {
            out.put_slice(&self.error_data);
        }
    }
}
