//! QUERY_DIRECTORY (MS-SMB2 §2.2.33, §2.2.34), CHANGE_NOTIFY (§2.2.35, §2.2.36), QUERY_INFO
//! (§2.2.37, §2.2.38) and SET_INFO (§2.2.39, §2.2.40): the envelopes. The information
//! classes inside the buffers (MS-FSCC) are the server's to build and parse.

use super::file_id::FileId;
use crate::error::{DecodeError, DecodeResult};
use crate::header::HEADER_LEN;
use crate::wire::{buffer, expect_size, le16, le32, limit, put_utf16_units, run, utf16_units};
use bytes::BufMut;

/// Most bytes an input, output or info buffer may have in a decoded message
/// (MaxTransactSize is the real bound; this keeps a decoder's copy bounded).
pub const MAX_INFO_BUFFER: usize = 8 << 20;
/// Longest search pattern accepted, in bytes.
pub const MAX_PATTERN_BYTES: usize = 4096;

fn fixed<'a>(what: &'static str, msg: &'a [u8], len: usize, size: u16) -> DecodeResult<&'a [u8]> {
    let body = msg
        .get(HEADER_LEN..)
        .ok_or(DecodeError::Truncated { what })?;
    let (_, f) = run(what, body, nom::bytes::complete::take(len))?;
    expect_size(what, le16(f, 0), size)?;
    Ok(f)
}

fn bounded<'a>(
    what: &'static str,
    msg: &'a [u8],
    off: usize,
    len: usize,
    min: usize,
    max: usize,
) -> DecodeResult<&'a [u8]> {
    limit(what, len, max)?;
    buffer(what, msg, off, len, min)
}

/// QUERY_DIRECTORY request Flags (§2.2.33).
pub mod query_directory_flags {
    /// SMB2_RESTART_SCANS.
    pub const RESTART_SCANS: u8 = 0x01;
    /// SMB2_RETURN_SINGLE_ENTRY.
    pub const RETURN_SINGLE_ENTRY: u8 = 0x02;
    /// SMB2_INDEX_SPECIFIED.
    pub const INDEX_SPECIFIED: u8 = 0x04;
    /// SMB2_REOPEN.
    pub const REOPEN: u8 = 0x10;
}

/// QUERY_DIRECTORY request (§2.2.33).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryDirectoryRequest {
    /// FileInformationClass.
    pub file_information_class: u8,
    /// Flags.
    pub flags: u8,
    /// FileIndex.
    pub file_index: u32,
    /// FileId of the directory.
    pub file_id: FileId,
    /// OutputBufferLength: the most bytes the client accepts.
    pub output_buffer_length: u32,
    /// The search pattern, UTF-16 code units.
    pub pattern: Vec<u16>,
}

impl QueryDirectoryRequest {
    const WHAT: &'static str = "QUERY_DIRECTORY request";

    /// Decodes the request from a whole message.
    pub fn decode(msg: &[u8]) -> DecodeResult<Self> {
        let f = fixed(Self::WHAT, msg, 32, 33)?;
        let name = bounded(
            "FileNameOffset",
            msg,
            usize::from(le16(f, 24)),
            usize::from(le16(f, 26)),
            HEADER_LEN + 32,
            MAX_PATTERN_BYTES,
        )?;
        Ok(QueryDirectoryRequest {
            file_information_class: f[2],
            flags: f[3],
            file_index: le32(f, 4),
            file_id: FileId::from_slice(&f[8..24]),
            output_buffer_length: le32(f, 28),
            pattern: utf16_units("FileName", name)?,
        })
    }

    /// The pattern as a string (unpaired surrogates replaced).
    pub fn pattern_string(&self) -> String {
        String::from_utf16_lossy(&self.pattern)
    }

    /// Writes the body; the pattern at offset 96.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u16_le(33);
        out.put_u8(self.file_information_class);
        out.put_u8(self.flags);
        out.put_u32_le(self.file_index);
        self.file_id.encode(out);
        out.put_u16_le(if self.pattern.is_empty() {
            0
        } else {
            (HEADER_LEN + 32) as u16
        });
        out.put_u16_le((2 * self.pattern.len()) as u16);
        out.put_u32_le(self.output_buffer_length);
        put_utf16_units(out, &self.pattern);
        if self.pattern.is_empty() {
            out.put_u8(0);
        }
    }
}

/// A response whose body is an output buffer at offset 72: QUERY_DIRECTORY (§2.2.34),
/// CHANGE_NOTIFY (§2.2.36) and QUERY_INFO (§2.2.38) responses share this layout.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutputBufferResponse {
    /// The output buffer.
    pub data: Vec<u8>,
}

/// QUERY_DIRECTORY response (§2.2.34).
pub type QueryDirectoryResponse = OutputBufferResponse;
/// CHANGE_NOTIFY response (§2.2.36).
pub type ChangeNotifyResponse = OutputBufferResponse;
/// QUERY_INFO response (§2.2.38).
pub type QueryInfoResponse = OutputBufferResponse;

impl OutputBufferResponse {
    const WHAT: &'static str = "output buffer response";

    /// Decodes the response from a whole message.
    pub fn decode(msg: &[u8]) -> DecodeResult<Self> {
        let f = fixed(Self::WHAT, msg, 8, 9)?;
        let data = bounded(
            "OutputBufferOffset",
            msg,
            usize::from(le16(f, 2)),
            le32(f, 4) as usize,
            HEADER_LEN + 8,
            MAX_INFO_BUFFER,
        )?;
        Ok(OutputBufferResponse {
            data: data.to_vec(),
        })
    }

    /// Writes the 8 bytes before the data, for `len` bytes of data at offset 72.
    pub fn encode_fixed(len: u32, out: &mut impl BufMut) {
        out.put_u16_le(9);
        out.put_u16_le((HEADER_LEN + 8) as u16);
        out.put_u32_le(len);
    }

    /// Writes the body with the data (one zero byte when empty, StructureSize 9).
    pub fn encode(&self, out: &mut impl BufMut) {
        Self::encode_fixed(self.data.len() as u32, out);
        if self.data.is_empty() {
            out.put_u8(0);
        } else {
            out.put_slice(&self.data);
        }
    }
}

/// CHANGE_NOTIFY request (§2.2.35).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeNotifyRequest {
    /// Flags (SMB2_WATCH_TREE = 0x0001).
    pub flags: u16,
    /// OutputBufferLength.
    pub output_buffer_length: u32,
    /// FileId of the directory.
    pub file_id: FileId,
    /// CompletionFilter.
    pub completion_filter: u32,
}

impl ChangeNotifyRequest {
    /// Decodes the request from a whole message.
    pub fn decode(msg: &[u8]) -> DecodeResult<Self> {
        let f = fixed("CHANGE_NOTIFY request", msg, 32, 32)?;
        Ok(ChangeNotifyRequest {
            flags: le16(f, 2),
            output_buffer_length: le32(f, 4),
            file_id: FileId::from_slice(&f[8..24]),
            completion_filter: le32(f, 24),
        })
    }

    /// Writes the 32-byte body.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u16_le(32);
        out.put_u16_le(self.flags);
        out.put_u32_le(self.output_buffer_length);
        self.file_id.encode(out);
        out.put_u32_le(self.completion_filter);
        out.put_u32_le(0);
    }
}

/// InfoType values (§2.2.37).
pub mod info_type {
    /// SMB2_0_INFO_FILE.
    pub const FILE: u8 = 0x01;
    /// SMB2_0_INFO_FILESYSTEM.
    pub const FILESYSTEM: u8 = 0x02;
    /// SMB2_0_INFO_SECURITY.
    pub const SECURITY: u8 = 0x03;
    /// SMB2_0_INFO_QUOTA.
    pub const QUOTA: u8 = 0x04;
}

/// QUERY_INFO request (§2.2.37).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryInfoRequest {
    /// InfoType.
    pub info_type: u8,
    /// FileInfoClass.
    pub file_info_class: u8,
    /// OutputBufferLength.
    pub output_buffer_length: u32,
    /// AdditionalInformation (security information bits, EA index, ...).
    pub additional_information: u32,
    /// Flags.
    pub flags: u32,
    /// FileId.
    pub file_id: FileId,
    /// Input buffer (quota and EA queries).
    pub input: Vec<u8>,
}

impl QueryInfoRequest {
    /// Decodes the request from a whole message.
    pub fn decode(msg: &[u8]) -> DecodeResult<Self> {
        let f = fixed("QUERY_INFO request", msg, 40, 41)?;
        let input = bounded(
            "InputBufferOffset",
            msg,
            usize::from(le16(f, 8)),
            le32(f, 12) as usize,
            HEADER_LEN + 40,
            MAX_INFO_BUFFER,
        )?;
        Ok(QueryInfoRequest {
            info_type: f[2],
            file_info_class: f[3],
            output_buffer_length: le32(f, 4),
            additional_information: le32(f, 16),
            flags: le32(f, 20),
            file_id: FileId::from_slice(&f[24..40]),
            input: input.to_vec(),
        })
    }

    /// Writes the body; the input at offset 104. An empty input gets offset 0 and the one
    /// Buffer byte, as smbclient sends it.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u16_le(41);
        out.put_u8(self.info_type);
        out.put_u8(self.file_info_class);
        out.put_u32_le(self.output_buffer_length);
        out.put_u16_le(if self.input.is_empty() {
            0
        } else {
            (HEADER_LEN + 40) as u16
        });
        out.put_u16_le(0);
        out.put_u32_le(self.input.len() as u32);
        out.put_u32_le(self.additional_information);
        out.put_u32_le(self.flags);
        self.file_id.encode(out);
        if self.input.is_empty() {
            out.put_u8(0);
        } else {
            out.put_slice(&self.input);
        }
    }
}

/// SET_INFO request (§2.2.39).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetInfoRequest {
    /// InfoType.
    pub info_type: u8,
    /// FileInfoClass.
    pub file_info_class: u8,
    /// AdditionalInformation.
    pub additional_information: u32,
    /// FileId.
    pub file_id: FileId,
    /// The information to set.
    pub buffer: Vec<u8>,
}

impl SetInfoRequest {
    /// Decodes the request from a whole message.
    pub fn decode(msg: &[u8]) -> DecodeResult<Self> {
        let f = fixed("SET_INFO request", msg, 32, 33)?;
        let data = bounded(
            "BufferOffset",
            msg,
            usize::from(le16(f, 8)),
            le32(f, 4) as usize,
            HEADER_LEN + 32,
            MAX_INFO_BUFFER,
        )?;
        Ok(SetInfoRequest {
            info_type: f[2],
            file_info_class: f[3],
            additional_information: le32(f, 12),
            file_id: FileId::from_slice(&f[16..32]),
            buffer: data.to_vec(),
        })
    }

    /// Writes the body; the buffer at offset 96.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u16_le(33);
        out.put_u8(self.info_type);
        out.put_u8(self.file_info_class);
        out.put_u32_le(self.buffer.len() as u32);
        out.put_u16_le((HEADER_LEN + 32) as u16);
        out.put_u16_le(0);
        out.put_u32_le(self.additional_information);
        self.file_id.encode(out);
        if self.buffer.is_empty() {
            out.put_u8(0);
        } else {
            out.put_slice(&self.buffer);
        }
    }
}

/// SET_INFO response (§2.2.40): StructureSize 2 and nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SetInfoResponse;

impl SetInfoResponse {
    /// Decodes the response from a whole message.
    pub fn decode(msg: &[u8]) -> DecodeResult<Self> {
        fixed("SET_INFO response", msg, 2, 2).map(|_| SetInfoResponse)
    }

    /// Writes the 2-byte body.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u16_le(2);
    }
}
