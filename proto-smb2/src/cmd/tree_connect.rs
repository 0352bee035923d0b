//! TREE_CONNECT request and response (MS-SMB2 §2.2.9, §2.2.10), with the 3.1.1 request
//! extension (§2.2.9.1) and tree connect contexts (§2.2.9.2).
//!
//! The Flags field only exists in 3.1.1; for earlier dialects it is Reserved and ignored
//! (§2.2.9), so [`TreeConnectRequest::decode`] takes whether the connection is 3.1.1. When
//! it is and SMB2_TREE_CONNECT_FLAG_EXTENSION_PRESENT is set, the Buffer starts with the
//! extension: TreeConnectContextOffset, TreeConnectContextCount and 10 reserved bytes, then
//! the path (still named by PathOffset/PathLength), then the contexts. This crate reads
//! TreeConnectContextOffset, like every other SMB2 offset, from the start of the SMB2
//! header. The only context defined, SMB2_REMOTED_IDENTITY_TREE_CONNECT (§2.2.9.2.1), is
//! kept raw with any other: a file server that does not act for remote identities ignores
//! it.

use crate::error::{DecodeError, DecodeResult};
use crate::header::HEADER_LEN;
use crate::wire::{align8, buffer, expect_size, limit, pad8, put_utf16_units, run, utf16_units};
use bytes::BufMut;
use nom::number::complete::{le_u16, le_u32, le_u8};
use nom::sequence::tuple;

/// Flags of a 3.1.1 request (§2.2.9).
pub mod request_flags {
    /// SMB2_TREE_CONNECT_FLAG_CLUSTER_RECONNECT.
    pub const CLUSTER_RECONNECT: u16 = 0x0001;
    /// SMB2_TREE_CONNECT_FLAG_REDIRECT_TO_OWNER.
    pub const REDIRECT_TO_OWNER: u16 = 0x0002;
    /// SMB2_TREE_CONNECT_FLAG_EXTENSION_PRESENT.
    pub const EXTENSION_PRESENT: u16 = 0x0004;
}

/// ShareType of the response (§2.2.10).
pub mod share_type {
    /// A disk share.
    pub const DISK: u8 = 0x01;
    /// A named pipe share (IPC$).
    pub const PIPE: u8 = 0x02;
    /// A printer share.
    pub const PRINT: u8 = 0x03;
}

/// ShareFlags of the response (§2.2.10), the ones a file server sets.
pub mod share_flags {
    /// Clients may cache files manually (the default caching mode).
    pub const MANUAL_CACHING: u32 = 0x0000_0000;
    /// The share is in a DFS namespace.
    pub const DFS: u32 = 0x0000_0001;
    /// Data of this share must be encrypted (3.x).
    pub const ENCRYPT_DATA: u32 = 0x0000_8000;
    /// Access-based directory enumeration.
    pub const ACCESS_BASED_DIRECTORY_ENUM: u32 = 0x0000_0800;
}

/// Capabilities of the response (§2.2.10).
pub mod share_capabilities {
    /// The share is in DFS.
    pub const DFS: u32 = 0x0000_0008;
    /// Continuously available.
    pub const CONTINUOUS_AVAILABILITY: u32 = 0x0000_0010;
}

/// Most tree connect contexts one request may carry.
pub const MAX_TREE_CONTEXTS: usize = 16;
/// Longest share path accepted, in bytes (MS-SMB2 does not bound it; UNC paths are short).
pub const MAX_PATH_BYTES: usize = 4096;

const REQ_WHAT: &str = "TREE_CONNECT request";
const RESP_WHAT: &str = "TREE_CONNECT response";
const CTX_WHAT: &str = "tree connect context";
const BUFFER_OFFSET: usize = HEADER_LEN + 8;
const EXTENSION_LEN: usize = 16;

/// A tree connect context (§2.2.9.2), kept raw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeConnectContext {
    /// ContextType.
    pub context_type: u16,
    /// Data.
    pub data: Vec<u8>,
}

/// TREE_CONNECT request (§2.2.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeConnectRequest {
    /// Flags (3.1.1) or Reserved (earlier dialects), as received.
    pub flags: u16,
    /// The share path, `\\server\share`, as UTF-16 code units.
    pub path: Vec<u16>,
    /// The request extension's contexts, when the extension is present (3.1.1 only).
    pub extension: Option<Vec<TreeConnectContext>>,
}

impl TreeConnectRequest {
    /// Decodes the request from a whole message; `dialect_311` says whether the
    /// connection negotiated 3.1.1, the only dialect in which Flags means anything.
    pub fn decode(msg: &[u8], dialect_311: bool) -> DecodeResult<Self> {
        let body = msg
            .get(HEADER_LEN..)
            .ok_or(DecodeError::Truncated { what: REQ_WHAT })?;
        let (rest, (size, flags, path_off, path_len)) =
            run(REQ_WHAT, body, tuple((le_u16, le_u16, le_u16, le_u16)))?;
        expect_size(REQ_WHAT, size, 9)?;
        let path_len = usize::from(path_len);
        limit("PathLength", path_len, MAX_PATH_BYTES)?;
        let with_ext = dialect_311 && flags & request_flags::EXTENSION_PRESENT != 0;
        let (min_path, extension) = if with_ext {
            let (_, (ctx_off, ctx_count)) = run(REQ_WHAT, rest, tuple((le_u32, le_u16)))?;
            if rest.len() < EXTENSION_LEN {
                return Err(DecodeError::Truncated { what: REQ_WHAT });
            }
            let ctx_count = usize::from(ctx_count);
            limit("TreeConnectContextCount", ctx_count, MAX_TREE_CONTEXTS)?;
            let min = BUFFER_OFFSET + EXTENSION_LEN;
            let mut contexts = Vec::with_capacity(ctx_count);
            let mut pos = ctx_off as usize;
            if ctx_count > 0 && (pos < min || pos > msg.len()) {
                return Err(DecodeError::OutOfBounds {
                    what: "TreeConnectContextOffset",
                });
            }
            for i in 0..ctx_count {
                if i > 0 {
                    pos = align8(pos);
                }
                let c = msg
                    .get(pos..)
                    .ok_or(DecodeError::Truncated { what: CTX_WHAT })?;
                let (c, (ty, len, _reserved)) = run(CTX_WHAT, c, tuple((le_u16, le_u16, le_u32)))?;
                let (_, data) = run(CTX_WHAT, c, nom::bytes::complete::take(len))?;
                contexts.push(TreeConnectContext {
                    context_type: ty,
                    data: data.to_vec(),
                });
                pos += 8 + usize::from(len);
            }
            (min, Some(contexts))
        } else {
            (BUFFER_OFFSET, None)
        };
        let path = buffer("PathOffset", msg, usize::from(path_off), path_len, min_path)?;
        Ok(TreeConnectRequest {
            flags,
            path: utf16_units("PathName", path)?,
            extension,
        })
    }

    /// The path as a string (unpaired surrogates replaced).
    pub fn path_string(&self) -> String {
        String::from_utf16_lossy(&self.path)
    }

    /// Writes the body. With an extension, the EXTENSION_PRESENT flag is set and the
    /// contexts follow the path on the next 8-byte boundary.
    pub fn encode(&self, out: &mut impl BufMut) {
        let path_bytes = 2 * self.path.len();
        let (flags, path_off) = match &self.extension {
            Some(_) => (
                self.flags | request_flags::EXTENSION_PRESENT,
                BUFFER_OFFSET + EXTENSION_LEN,
            ),
            None => (self.flags, BUFFER_OFFSET),
        };
        out.put_u16_le(9);
        out.put_u16_le(flags);
        out.put_u16_le(path_off as u16);
        out.put_u16_le(path_bytes as u16);
        match &self.extension {
            Some(contexts) => {
                let path_end = path_off + path_bytes;
                let ctx_off = if contexts.is_empty() {
                    0
                } else {
                    align8(path_end)
                };
                out.put_u32_le(ctx_off as u32);
                out.put_u16_le(contexts.len() as u16);
                out.put_bytes(0, 10);
                put_utf16_units(out, &self.path);
                let mut written = path_end;
                for (i, c) in contexts.iter().enumerate() {
                    if i > 0 || written % 8 != 0 {
                        written = pad8(out, written);
                    }
                    out.put_u16_le(c.context_type);
                    out.put_u16_le(c.data.len() as u16);
                    out.put_u32_le(0);
                    out.put_slice(&c.data);
                    written += 8 + c.data.len();
                }
            }
            None => {
                put_utf16_units(out, &self.path);
                if self.path.is_empty() {
                    out.put_u8(0);
                }
            }
        }
    }
}

/// TREE_CONNECT response (§2.2.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeConnectResponse {
    /// ShareType.
    pub share_type: u8,
    /// ShareFlags.
    pub share_flags: u32,
    /// Capabilities.
    pub capabilities: u32,
    /// MaximalAccess: the access mask the user has on the share.
    pub maximal_access: u32,
}

impl TreeConnectResponse {
    /// Decodes the response from a whole message.
    pub fn decode(msg: &[u8]) -> DecodeResult<Self> {
        let body = msg
            .get(HEADER_LEN..)
            .ok_or(DecodeError::Truncated { what: RESP_WHAT })?;
        let (_, (size, share_type, _reserved, share_flags, capabilities, maximal_access)) = run(
            RESP_WHAT,
            body,
            tuple((le_u16, le_u8, le_u8, le_u32, le_u32, le_u32)),
        )?;
        expect_size(RESP_WHAT, size, 16)?;
        Ok(TreeConnectResponse {
            share_type,
            share_flags,
            capabilities,
            maximal_access,
        })
    }

    /// Writes the 16-byte body.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u16_le(16);
        out.put_u8(self.share_type);
        out.put_u8(0);
        out.put_u32_le(self.share_flags);
        out.put_u32_le(self.capabilities);
        out.put_u32_le(self.maximal_access);
    }
}
