//! IOCTL request and response (MS-SMB2 §2.2.31, §2.2.32) and the payloads of
//! FSCTL_VALIDATE_NEGOTIATE_INFO (§2.2.31.4, §2.2.32.6), which 3.0/3.0.2 clients use to
//! detect a downgraded NEGOTIATE (§3.3.5.15.12).
//!
//! Input and output buffers are kept as bytes; which FSCTL a server implements and how it
//! fills the output is the server's business.

use super::file_id::FileId;
use crate::error::{DecodeError, DecodeResult};
use crate::header::HEADER_LEN;
use crate::wire::{buffer, expect_size, le16, le32, limit, run};
use bytes::BufMut;
use nom::number::complete::{le_u16, le_u32};
use nom::sequence::tuple;

/// FSCTL/IOCTL codes a file server meets (MS-FSCC §2.3, MS-SMB2 §2.2.31).
pub mod ctl_code {
    /// FSCTL_DFS_GET_REFERRALS.
    pub const DFS_GET_REFERRALS: u32 = 0x0006_0194;
    /// FSCTL_PIPE_TRANSCEIVE.
    pub const PIPE_TRANSCEIVE: u32 = 0x0011_C017;
    /// FSCTL_SRV_ENUMERATE_SNAPSHOTS.
    pub const SRV_ENUMERATE_SNAPSHOTS: u32 = 0x0014_4064;
    /// FSCTL_SRV_REQUEST_RESUME_KEY.
    pub const SRV_REQUEST_RESUME_KEY: u32 = 0x0014_0078;
    /// FSCTL_QUERY_NETWORK_INTERFACE_INFO.
    pub const QUERY_NETWORK_INTERFACE_INFO: u32 = 0x0014_01FC;
    /// FSCTL_VALIDATE_NEGOTIATE_INFO.
    pub const VALIDATE_NEGOTIATE_INFO: u32 = 0x0014_0204;

    /// The name of a control code (`FSCTL_PIPE_TRANSCEIVE`): the codes above and the other
    /// ones MS-SMB2 §2.2.31 lists, `None` for the rest.
    pub fn name(code: u32) -> Option<&'static str> {
        Some(match code {
            DFS_GET_REFERRALS => "FSCTL_DFS_GET_REFERRALS",
            0x0006_01B0 => "FSCTL_DFS_GET_REFERRALS_EX",
            0x0011_0018 => "FSCTL_PIPE_WAIT",
            0x0011_400C => "FSCTL_PIPE_PEEK",
            PIPE_TRANSCEIVE => "FSCTL_PIPE_TRANSCEIVE",
            SRV_ENUMERATE_SNAPSHOTS => "FSCTL_SRV_ENUMERATE_SNAPSHOTS",
            SRV_REQUEST_RESUME_KEY => "FSCTL_SRV_REQUEST_RESUME_KEY",
            0x0014_41BB => "FSCTL_SRV_READ_HASH",
            0x0014_40F2 => "FSCTL_SRV_COPYCHUNK",
            0x0014_80F2 => "FSCTL_SRV_COPYCHUNK_WRITE",
            0x0014_01D4 => "FSCTL_LMR_REQUEST_RESILIENCY",
            QUERY_NETWORK_INTERFACE_INFO => "FSCTL_QUERY_NETWORK_INTERFACE_INFO",
            VALIDATE_NEGOTIATE_INFO => "FSCTL_VALIDATE_NEGOTIATE_INFO",
            0x0009_00A4 => "FSCTL_SET_REPARSE_POINT",
            0x0009_00A8 => "FSCTL_GET_REPARSE_POINT",
            0x0009_00C0 => "FSCTL_CREATE_OR_GET_OBJECT_ID",
            0x0009_009C => "FSCTL_GET_OBJECT_ID",
            0x0009_00C4 => "FSCTL_SET_SPARSE",
            0x0009_80C8 => "FSCTL_SET_ZERO_DATA",
            0x0009_40CF => "FSCTL_QUERY_ALLOCATED_RANGES",
            0x0009_8344 => "FSCTL_DUPLICATE_EXTENTS_TO_FILE",
            0x0009_C040 => "FSCTL_SET_COMPRESSION",
            0x0009_003C => "FSCTL_GET_COMPRESSION",
            0x0009_4264 => "FSCTL_OFFLOAD_READ",
            0x0009_8268 => "FSCTL_OFFLOAD_WRITE",
            _ => return None,
        })
    }
}

/// IOCTL request Flags: SMB2_0_IOCTL_IS_FSCTL (the only value a server accepts,
/// §3.3.5.15).
pub const IOCTL_IS_FSCTL: u32 = 0x0000_0001;

/// Most input/output bytes decoded from one IOCTL (MaxTransactSize is the real bound; this
/// keeps a decoder's copy bounded whatever the caller negotiated).
pub const MAX_IOCTL_BUFFER: usize = 8 << 20;

const REQ_WHAT: &str = "IOCTL request";
const RESP_WHAT: &str = "IOCTL response";
const REQ_BUFFER_OFFSET: usize = HEADER_LEN + 56;
const RESP_BUFFER_OFFSET: usize = HEADER_LEN + 48;

fn payload<'a>(
    what: &'static str,
    msg: &'a [u8],
    off: u32,
    len: u32,
    min: usize,
) -> DecodeResult<&'a [u8]> {
    limit(what, len as usize, MAX_IOCTL_BUFFER)?;
    buffer(what, msg, off as usize, len as usize, min)
}

/// IOCTL request (§2.2.31).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoctlRequest {
    /// CtlCode.
    pub ctl_code: u32,
    /// FileId (all ones for FSCTLs not tied to a file, such as VALIDATE_NEGOTIATE_INFO).
    pub file_id: FileId,
    /// MaxInputResponse.
    pub max_input_response: u32,
    /// MaxOutputResponse.
    pub max_output_response: u32,
    /// Flags.
    pub flags: u32,
    /// Input buffer.
    pub input: Vec<u8>,
    /// Output buffer (clients send it empty).
    pub output: Vec<u8>,
}

impl IoctlRequest {
    /// Decodes the request from a whole message.
    pub fn decode(msg: &[u8]) -> DecodeResult<Self> {
        let body = msg
            .get(HEADER_LEN..)
            .ok_or(DecodeError::Truncated { what: REQ_WHAT })?;
        let (_, f) = run(REQ_WHAT, body, nom::bytes::complete::take(56usize))?;
        expect_size(REQ_WHAT, le16(f, 0), 57)?;
        Ok(IoctlRequest {
            ctl_code: le32(f, 4),
            file_id: FileId::from_slice(&f[8..24]),
            input: payload(
                "InputOffset",
                msg,
                le32(f, 24),
                le32(f, 28),
                REQ_BUFFER_OFFSET,
            )?
            .to_vec(),
            max_input_response: le32(f, 32),
            output: payload(
                "OutputOffset",
                msg,
                le32(f, 36),
                le32(f, 40),
                REQ_BUFFER_OFFSET,
            )?
            .to_vec(),
            max_output_response: le32(f, 44),
            flags: le32(f, 48),
        })
    }

    /// Writes the body: input at offset 120, output after it. Empty buffers get offset 120,
    /// as smbclient sends them.
    pub fn encode(&self, out: &mut impl BufMut) {
        let in_off = REQ_BUFFER_OFFSET;
        let out_off = if self.output.is_empty() {
            REQ_BUFFER_OFFSET
        } else {
            REQ_BUFFER_OFFSET + self.input.len()
        };
        out.put_u16_le(57);
        out.put_u16_le(0);
        out.put_u32_le(self.ctl_code);
        self.file_id.encode(out);
        out.put_u32_le(in_off as u32);
        out.put_u32_le(self.input.len() as u32);
        out.put_u32_le(self.max_input_response);
        out.put_u32_le(out_off as u32);
        out.put_u32_le(self.output.len() as u32);
        out.put_u32_le(self.max_output_response);
        out.put_u32_le(self.flags);
        out.put_u32_le(0);
        out.put_slice(&self.input);
        out.put_slice(&self.output);
    }
}

/// IOCTL response (§2.2.32).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoctlResponse {
    /// CtlCode.
    pub ctl_code: u32,
    /// FileId.
    pub file_id: FileId,
    /// Flags.
    pub flags: u32,
    /// Input buffer (servers send it empty, §3.3.5.15).
    pub input: Vec<u8>,
    /// Output buffer.
    pub output: Vec<u8>,
}

impl IoctlResponse {
    /// Decodes the response from a whole message.
    pub fn decode(msg: &[u8]) -> DecodeResult<Self> {
        let body = msg
            .get(HEADER_LEN..)
            .ok_or(DecodeError::Truncated { what: RESP_WHAT })?;
        let (_, f) = run(RESP_WHAT, body, nom::bytes::complete::take(48usize))?;
        expect_size(RESP_WHAT, le16(f, 0), 49)?;
        Ok(IoctlResponse {
            ctl_code: le32(f, 4),
            file_id: FileId::from_slice(&f[8..24]),
            input: payload(
                "InputOffset",
                msg,
                le32(f, 24),
                le32(f, 28),
                RESP_BUFFER_OFFSET,
            )?
            .to_vec(),
            output: payload(
                "OutputOffset",
                msg,
                le32(f, 32),
                le32(f, 36),
                RESP_BUFFER_OFFSET,
            )?
            .to_vec(),
            flags: le32(f, 40),
        })
    }

    /// Writes the body. Like Windows and Samba, InputOffset points at the buffer even when
    /// the input is empty, and the output follows the input at offset 112.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u16_le(49);
        out.put_u16_le(0);
        out.put_u32_le(self.ctl_code);
        self.file_id.encode(out);
        out.put_u32_le(RESP_BUFFER_OFFSET as u32);
        out.put_u32_le(self.input.len() as u32);
        out.put_u32_le((RESP_BUFFER_OFFSET + self.input.len()) as u32);
        out.put_u32_le(self.output.len() as u32);
        out.put_u32_le(self.flags);
        out.put_u32_le(0);
        out.put_slice(&self.input);
        out.put_slice(&self.output);
    }
}

/// Most dialects a VALIDATE_NEGOTIATE_INFO request may list.
pub const MAX_VALIDATE_DIALECTS: usize = 64;

/// VALIDATE_NEGOTIATE_INFO request (§2.2.31.4): the client's view of its NEGOTIATE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidateNegotiateInfoRequest {
    /// Capabilities.
    pub capabilities: u32,
    /// Guid (the ClientGuid).
    pub guid: [u8; 16],
    /// SecurityMode.
    pub security_mode: u16,
    /// Dialects.
    pub dialects: Vec<u16>,
}

impl ValidateNegotiateInfoRequest {
    /// Decodes the IOCTL input.
    pub fn decode(input: &[u8]) -> DecodeResult<Self> {
        const WHAT: &str = "VALIDATE_NEGOTIATE_INFO request";
        let (rest, (capabilities, guid, security_mode, count)) = run(
            WHAT,
            input,
            tuple((le_u32, nom::bytes::complete::take(16usize), le_u16, le_u16)),
        )?;
        let count = usize::from(count);
        limit("DialectCount", count, MAX_VALIDATE_DIALECTS)?;
        let (_, dialects) = run(WHAT, rest, nom::multi::count(le_u16, count))?;
        let mut g = [0u8; 16];
        g.copy_from_slice(guid);
        Ok(ValidateNegotiateInfoRequest {
            capabilities,
            guid: g,
            security_mode,
            dialects,
        })
    }

    /// Encodes the IOCTL input.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u32_le(self.capabilities);
        out.put_slice(&self.guid);
        out.put_u16_le(self.security_mode);
        out.put_u16_le(self.dialects.len() as u16);
        for d in &self.dialects {
            out.put_u16_le(*d);
        }
    }
}

/// VALIDATE_NEGOTIATE_INFO response (§2.2.32.6): the server's view of the NEGOTIATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidateNegotiateInfoResponse {
    /// Capabilities.
    pub capabilities: u32,
    /// Guid (the ServerGuid).
    pub guid: [u8; 16],
    /// SecurityMode.
    pub security_mode: u16,
    /// Dialect.
    pub dialect: u16,
}

impl ValidateNegotiateInfoResponse {
    /// Decodes the IOCTL output.
    pub fn decode(output: &[u8]) -> DecodeResult<Self> {
        const WHAT: &str = "VALIDATE_NEGOTIATE_INFO response";
        let (_, (capabilities, guid, security_mode, dialect)) = run(
            WHAT,
            output,
            tuple((le_u32, nom::bytes::complete::take(16usize), le_u16, le_u16)),
        )?;
        let mut g = [0u8; 16];
        g.copy_from_slice(guid);
        Ok(ValidateNegotiateInfoResponse {
            capabilities,
            guid: g,
            security_mode,
            dialect,
        })
    }

    /// Encodes the IOCTL output (24 bytes).
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u32_le(self.capabilities);
        out.put_slice(&self.guid);
        out.put_u16_le(self.security_mode);
        out.put_u16_le(self.dialect);
    }
}

#[cfg(test)]
mod tests {
    use super::ctl_code;

    #[test]
    fn ctl_code_names() {
        for (code, name) in [
            (ctl_code::DFS_GET_REFERRALS, "FSCTL_DFS_GET_REFERRALS"),
            (ctl_code::PIPE_TRANSCEIVE, "FSCTL_PIPE_TRANSCEIVE"),
            (
                ctl_code::SRV_ENUMERATE_SNAPSHOTS,
                "FSCTL_SRV_ENUMERATE_SNAPSHOTS",
            ),
            (
                ctl_code::SRV_REQUEST_RESUME_KEY,
                "FSCTL_SRV_REQUEST_RESUME_KEY",
            ),
            (
                ctl_code::QUERY_NETWORK_INTERFACE_INFO,
                "FSCTL_QUERY_NETWORK_INTERFACE_INFO",
            ),
            (
                ctl_code::VALIDATE_NEGOTIATE_INFO,
                "FSCTL_VALIDATE_NEGOTIATE_INFO",
            ),
        ] {
            assert_eq!(ctl_code::name(code), Some(name));
        }
        assert_eq!(ctl_code::name(0x1234_5678), None);
    }
}
