//! SESSION_SETUP request and response (MS-SMB2 §2.2.5, §2.2.6).
//!
//! The security buffers carry SPNEGO tokens ([`crate::auth::spnego`]) wrapping NTLMSSP
//! messages ([`crate::auth::ntlm`]).

use crate::error::{DecodeError, DecodeResult};
use crate::header::HEADER_LEN;
use crate::wire::{buffer, expect_size, run};
use bytes::BufMut;
use nom::number::complete::{le_u16, le_u32, le_u64, le_u8};
use nom::sequence::tuple;

/// Flags of the request (§2.2.5).
pub mod request_flags {
    /// SMB2_SESSION_FLAG_BINDING: bind this connection to an existing session (3.x).
    pub const BINDING: u8 = 0x01;
}

/// SessionFlags of the response (§2.2.6).
pub mod session_flags {
    /// The client was authenticated as guest.
    pub const IS_GUEST: u16 = 0x0001;
    /// The client was authenticated anonymously.
    pub const IS_NULL: u16 = 0x0002;
    /// The server requires encryption of this session's messages (3.x).
    pub const ENCRYPT_DATA: u16 = 0x0004;
}

const REQ_WHAT: &str = "SESSION_SETUP request";
const RESP_WHAT: &str = "SESSION_SETUP response";
const REQ_BUFFER_OFFSET: usize = HEADER_LEN + 24;
const RESP_BUFFER_OFFSET: usize = HEADER_LEN + 8;

/// SESSION_SETUP request (§2.2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSetupRequest {
    /// Flags (3.x: [`request_flags::BINDING`]).
    pub flags: u8,
    /// SecurityMode.
    pub security_mode: u8,
    /// Capabilities.
    pub capabilities: u32,
    /// Channel (MUST be 0).
    pub channel: u32,
    /// PreviousSessionId (reconnect).
    pub previous_session_id: u64,
    /// The security buffer: a SPNEGO token.
    pub security_buffer: Vec<u8>,
}

impl SessionSetupRequest {
    /// Decodes the request from a whole message.
    pub fn decode(msg: &[u8]) -> DecodeResult<Self> {
        let body = msg
            .get(HEADER_LEN..)
            .ok_or(DecodeError::Truncated { what: REQ_WHAT })?;
        let (_, (size, flags, security_mode, capabilities, channel, off, len, prev)) = run(
            REQ_WHAT,
            body,
            tuple((le_u16, le_u8, le_u8, le_u32, le_u32, le_u16, le_u16, le_u64)),
        )?;
        expect_size(REQ_WHAT, size, 25)?;
        let security_buffer = buffer(
            "SecurityBuffer",
            msg,
            usize::from(off),
            usize::from(len),
            REQ_BUFFER_OFFSET,
        )?
        .to_vec();
        Ok(SessionSetupRequest {
            flags,
            security_mode,
            capabilities,
            channel,
            previous_session_id: prev,
            security_buffer,
        })
    }

    /// Writes the body; the buffer follows the fixed part at offset 88.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u16_le(25);
        out.put_u8(self.flags);
        out.put_u8(self.security_mode);
        out.put_u32_le(self.capabilities);
        out.put_u32_le(self.channel);
        out.put_u16_le(REQ_BUFFER_OFFSET as u16);
        out.put_u16_le(self.security_buffer.len() as u16);
        out.put_u64_le(self.previous_session_id);
        out.put_slice(&self.security_buffer);
        if self.security_buffer.is_empty() {
            out.put_u8(0);
        }
    }
}

/// SESSION_SETUP response (§2.2.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSetupResponse {
    /// SessionFlags.
    pub session_flags: u16,
    /// The security buffer: a SPNEGO NegTokenResp.
    pub security_buffer: Vec<u8>,
}

impl SessionSetupResponse {
    /// Decodes the response from a whole message.
    pub fn decode(msg: &[u8]) -> DecodeResult<Self> {
        let body = msg
            .get(HEADER_LEN..)
            .ok_or(DecodeError::Truncated { what: RESP_WHAT })?;
        let (_, (size, session_flags, off, len)) =
            run(RESP_WHAT, body, tuple((le_u16, le_u16, le_u16, le_u16)))?;
        expect_size(RESP_WHAT, size, 9)?;
        let security_buffer = buffer(
            "SecurityBuffer",
            msg,
            usize::from(off),
            usize::from(len),
            RESP_BUFFER_OFFSET,
        )?
        .to_vec();
        Ok(SessionSetupResponse {
            session_flags,
            security_buffer,
        })
    }

    /// Writes the body; the buffer follows at offset 72.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u16_le(9);
        out.put_u16_le(self.session_flags);
        out.put_u16_le(RESP_BUFFER_OFFSET as u16);
        out.put_u16_le(self.security_buffer.len() as u16);
        out.put_slice(&self.security_buffer);
        if self.security_buffer.is_empty() {
            out.put_u8(0);
        }
    }
}
