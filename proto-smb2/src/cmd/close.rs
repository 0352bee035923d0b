//! CLOSE (MS-SMB2 §2.2.15, §2.2.16) and FLUSH (§2.2.17, §2.2.18).

use super::create::FileTimesAndSizes;
use super::file_id::FileId;
use crate::error::{DecodeError, DecodeResult};
use crate::header::HEADER_LEN;
use crate::wire::{expect_size, le16, le32, run};
use bytes::BufMut;

/// CLOSE request Flags: SMB2_CLOSE_FLAG_POSTQUERY_ATTRIB, return the file's attributes.
pub const CLOSE_FLAG_POSTQUERY_ATTRIB: u16 = 0x0001;

fn fixed<'a>(what: &'static str, msg: &'a [u8], len: usize, size: u16) -> DecodeResult<&'a [u8]> {
    let body = msg
        .get(HEADER_LEN..)
        .ok_or(DecodeError::Truncated { what })?;
    let (_, f) = run(what, body, nom::bytes::complete::take(len))?;
    expect_size(what, le16(f, 0), size)?;
    Ok(f)
}

/// CLOSE request (§2.2.15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseRequest {
    /// Flags.
    pub flags: u16,
    /// FileId.
    pub file_id: FileId,
}

impl CloseRequest {
    /// Decodes the request from a whole message.
    pub fn decode(msg: &[u8]) -> DecodeResult<Self> {
        let f = fixed("CLOSE request", msg, 24, 24)?;
        Ok(CloseRequest {
            flags: le16(f, 2),
            file_id: FileId::from_slice(&f[8..24]),
        })
    }

    /// Writes the 24-byte body.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u16_le(24);
        out.put_u16_le(self.flags);
        out.put_u32_le(0);
        self.file_id.encode(out);
    }
}

/// CLOSE response (§2.2.16). Without POSTQUERY_ATTRIB, `flags` is 0 and the rest zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CloseResponse {
    /// Flags (echoes POSTQUERY_ATTRIB when the attributes are valid).
    pub flags: u16,
    /// Times and sizes.
    pub info: FileTimesAndSizes,
    /// FileAttributes.
    pub file_attributes: u32,
}

impl CloseResponse {
    /// Decodes the response from a whole message.
    pub fn decode(msg: &[u8]) -> DecodeResult<Self> {
        let f = fixed("CLOSE response", msg, 60, 60)?;
        Ok(CloseResponse {
            flags: le16(f, 2),
            info: FileTimesAndSizes::from_slice(&f[8..56]),
            file_attributes: le32(f, 56),
        })
    }

    /// Writes the 60-byte body.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u16_le(60);
        out.put_u16_le(self.flags);
        out.put_u32_le(0);
        self.info.encode(out);
        out.put_u32_le(self.file_attributes);
    }
}

/// FLUSH request (§2.2.17).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushRequest {
    /// FileId.
    pub file_id: FileId,
}

impl FlushRequest {
    /// Decodes the request from a whole message.
    pub fn decode(msg: &[u8]) -> DecodeResult<Self> {
        let f = fixed("FLUSH request", msg, 24, 24)?;
        Ok(FlushRequest {
            file_id: FileId::from_slice(&f[8..24]),
        })
    }

    /// Writes the 24-byte body.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u16_le(24);
        out.put_u16_le(0);
        out.put_u32_le(0);
        self.file_id.encode(out);
    }
}

/// FLUSH response (§2.2.18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlushResponse;

impl FlushResponse {
    /// Decodes the response from a whole message.
    pub fn decode(msg: &[u8]) -> DecodeResult<Self> {
        fixed("FLUSH response", msg, 4, 4).map(|_| FlushResponse)
    }

    /// Writes the 4-byte body.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u16_le(4);
        out.put_u16_le(0);
    }
}
