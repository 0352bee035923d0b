//! READ (MS-SMB2 §2.2.19, §2.2.20) and WRITE (§2.2.21, §2.2.22).
//!
//! Data stays zero-copy: [`WriteRequest::decode`] takes the message as `Bytes` and returns
//! the data as a slice of it, and [`ReadResponse::encode_fixed`] writes only the part
//! before the data so the runtime can send the file's bytes from their own buffer. Whether
//! a Length exceeds the negotiated MaxReadSize/MaxWriteSize, or the credits charged, is the
//! server's check (§3.3.5.12, §3.3.5.13); the decoders check that the data is in the
//! message.

use super::file_id::FileId;
use crate::error::{DecodeError, DecodeResult};
use crate::header::HEADER_LEN;
use crate::wire::{buffer, expect_size, le16, le32, le64, run};
use bytes::{BufMut, Bytes};

/// Longest channel info (RDMA descriptors) accepted, in bytes.
pub const MAX_CHANNEL_INFO: usize = 1024;

const READ_REQ_WHAT: &str = "READ request";
const READ_RESP_WHAT: &str = "READ response";
const WRITE_REQ_WHAT: &str = "WRITE request";
const WRITE_RESP_WHAT: &str = "WRITE response";
/// Where the Buffer of a READ/WRITE request starts (header + 48-byte fixed part).
const REQ_BUFFER_OFFSET: usize = HEADER_LEN + 48;
/// Where a READ response's data starts (header + 16-byte fixed part).
pub const READ_DATA_OFFSET: usize = HEADER_LEN + 16;

fn fixed<'a>(what: &'static str, msg: &'a [u8], len: usize, size: u16) -> DecodeResult<&'a [u8]> {
    let body = msg
        .get(HEADER_LEN..)
        .ok_or(DecodeError::Truncated { what })?;
    let (_, f) = run(what, body, nom::bytes::complete::take(len))?;
    expect_size(what, le16(f, 0), size)?;
    Ok(f)
}

fn channel_info(msg: &[u8], off: u16, len: u16) -> DecodeResult<Vec<u8>> {
    let len = usize::from(len);
    crate::wire::limit("channel info", len, MAX_CHANNEL_INFO)?;
    Ok(buffer(
        "channel info",
        msg,
        usize::from(off),
        len,
        REQ_BUFFER_OFFSET,
    )?
    .to_vec())
}

/// READ request (§2.2.19).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRequest {
    /// Padding: where the client wants the data in the response (an offset hint).
    pub padding: u8,
    /// Flags (3.0.2+: READ_UNBUFFERED; 3.1.1: REQUEST_COMPRESSED).
    pub flags: u8,
    /// Length to read.
    pub length: u32,
    /// Offset in the file.
    pub offset: u64,
    /// FileId.
    pub file_id: FileId,
    /// MinimumCount.
    pub minimum_count: u32,
    /// Channel (RDMA; 0 over TCP).
    pub channel: u32,
    /// RemainingBytes.
    pub remaining_bytes: u32,
    /// ReadChannelInfo (RDMA descriptors).
    pub channel_info: Vec<u8>,
}

impl ReadRequest {
    /// Decodes the request from a whole message.
    pub fn decode(msg: &[u8]) -> DecodeResult<Self> {
        let f = fixed(READ_REQ_WHAT, msg, 48, 49)?;
        Ok(ReadRequest {
            padding: f[2],
            flags: f[3],
            length: le32(f, 4),
            offset: le64(f, 8),
            file_id: FileId::from_slice(&f[16..32]),
            minimum_count: le32(f, 32),
            channel: le32(f, 36),
            remaining_bytes: le32(f, 40),
            channel_info: channel_info(msg, le16(f, 44), le16(f, 46))?,
        })
    }

    /// Writes the body (the channel info, or the one Buffer byte the spec requires).
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u16_le(49);
        out.put_u8(self.padding);
        out.put_u8(self.flags);
        out.put_u32_le(self.length);
        out.put_u64_le(self.offset);
        self.file_id.encode(out);
        out.put_u32_le(self.minimum_count);
        out.put_u32_le(self.channel);
        out.put_u32_le(self.remaining_bytes);
        if self.channel_info.is_empty() {
            out.put_u16_le(0);
            out.put_u16_le(0);
            out.put_u8(0);
        } else {
            out.put_u16_le(REQ_BUFFER_OFFSET as u16);
            out.put_u16_le(self.channel_info.len() as u16);
            out.put_slice(&self.channel_info);
        }
    }
}

/// READ response (§2.2.20).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadResponse {
    /// DataRemaining (RDMA; 0 over TCP).
    pub data_remaining: u32,
    /// Flags (3.1.1: SMB2_READFLAG_RESPONSE_RDMA_TRANSFORM).
    pub flags: u32,
    /// The data read.
    pub data: Bytes,
}

impl ReadResponse {
    /// Decodes the response from a whole message; the data is a slice of `msg`.
    pub fn decode(msg: &Bytes) -> DecodeResult<Self> {
        let f = fixed(READ_RESP_WHAT, msg, 16, 17)?;
        let off = usize::from(f[2]);
        let len = le32(f, 4) as usize;
        let data = buffer("DataOffset", msg, off, len, READ_DATA_OFFSET)?;
        Ok(ReadResponse {
            data_remaining: le32(f, 8),
            flags: le32(f, 12),
            data: msg.slice_ref(data),
        })
    }

    /// Writes the 16 bytes before the data, for `data_len` bytes of data at offset 80.
    pub fn encode_fixed(data_remaining: u32, flags: u32, data_len: u32, out: &mut impl BufMut) {
        out.put_u16_le(17);
        out.put_u8(READ_DATA_OFFSET as u8);
        out.put_u8(0);
        out.put_u32_le(data_len);
        out.put_u32_le(data_remaining);
        out.put_u32_le(flags);
    }

    /// Writes the body with the data (a zero byte stands for empty data, StructureSize 17).
    pub fn encode(&self, out: &mut impl BufMut) {
        Self::encode_fixed(self.data_remaining, self.flags, self.data.len() as u32, out);
        if self.data.is_empty() {
            out.put_u8(0);
        } else {
            out.put_slice(&self.data);
        }
    }
}

/// WRITE request (§2.2.21).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteRequest {
    /// Offset in the file.
    pub offset: u64,
    /// FileId.
    pub file_id: FileId,
    /// Channel (RDMA; 0 over TCP).
    pub channel: u32,
    /// RemainingBytes.
    pub remaining_bytes: u32,
    /// WriteChannelInfo.
    pub channel_info: Vec<u8>,
    /// Flags (WRITE_THROUGH, WRITE_UNBUFFERED).
    pub flags: u32,
    /// The data, a slice of the message.
    pub data: Bytes,
}

/// WRITE request Flags (§2.2.21).
pub mod write_flags {
    /// SMB2_WRITEFLAG_WRITE_THROUGH.
    pub const WRITE_THROUGH: u32 = 0x0000_0001;
    /// SMB2_WRITEFLAG_WRITE_UNBUFFERED.
    pub const WRITE_UNBUFFERED: u32 = 0x0000_0002;
}

impl WriteRequest {
    /// Decodes the request from a whole message; the data is a slice of `msg`.
    pub fn decode(msg: &Bytes) -> DecodeResult<Self> {
        let f = fixed(WRITE_REQ_WHAT, msg, 48, 49)?;
        let data_off = usize::from(le16(f, 2));
        let len = le32(f, 4) as usize;
        let data = buffer("DataOffset", msg, data_off, len, REQ_BUFFER_OFFSET)?;
        Ok(WriteRequest {
            offset: le64(f, 8),
            file_id: FileId::from_slice(&f[16..32]),
            channel: le32(f, 32),
            remaining_bytes: le32(f, 36),
            channel_info: channel_info(msg, le16(f, 40), le16(f, 42))?,
            flags: le32(f, 44),
            data: msg.slice_ref(data),
        })
    }

    /// Writes the body: data at offset 112, channel info after it.
    pub fn encode(&self, out: &mut impl BufMut) {
        let data_end = REQ_BUFFER_OFFSET + self.data.len();
        out.put_u16_le(49);
        out.put_u16_le(REQ_BUFFER_OFFSET as u16);
        out.put_u32_le(self.data.len() as u32);
        out.put_u64_le(self.offset);
        self.file_id.encode(out);
        out.put_u32_le(self.channel);
        out.put_u32_le(self.remaining_bytes);
        if self.channel_info.is_empty() {
            out.put_u16_le(0);
            out.put_u16_le(0);
        } else {
            out.put_u16_le(data_end as u16);
            out.put_u16_le(self.channel_info.len() as u16);
        }
        out.put_u32_le(self.flags);
        out.put_slice(&self.data);
        out.put_slice(&self.channel_info);
        if self.data.is_empty() && self.channel_info.is_empty() {
            out.put_u8(0);
        }
    }
}

/// WRITE response (§2.2.22).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteResponse {
    /// Count: bytes written.
    pub count: u32,
    /// Remaining (reserved).
    pub remaining: u32,
}

impl WriteResponse {
    /// Decodes the response from a whole message.
    pub fn decode(msg: &[u8]) -> DecodeResult<Self> {
        let f = fixed(WRITE_RESP_WHAT, msg, 16, 17)?;
        Ok(WriteResponse {
            count: le32(f, 4),
            remaining: le32(f, 8),
        })
    }

    /// Writes the 16-byte body (no Buffer byte, as Samba sends it; StructureSize 17 counts
    /// one that clients do not read).
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u16_le(17);
        out.put_u16_le(0);
        out.put_u32_le(self.count);
        out.put_u32_le(self.remaining);
        out.put_u16_le(0);
        out.put_u16_le(0);
    }
}
