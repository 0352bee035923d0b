//! CREATE request and response (MS-SMB2 §2.2.13, §2.2.14) with the create context list
//! (§2.2.13.2).
//!
//! Create contexts are kept as (name, data) pairs; interpreting them (MxAc, QFid, lease,
//! durable handle, ...) is the server's business, which answers unknown ones by ignoring
//! them (§3.3.5.9). The list is validated here: each context is 8-byte aligned, Next moves
//! forward and stays inside the list, name and data lie inside their context.

use super::file_id::FileId;
use crate::error::{DecodeError, DecodeResult};
use crate::header::HEADER_LEN;
use crate::wire::{
    align8, buffer, expect_size, le16, le32, limit, put_utf16_units, run, utf16_units,
};
use bytes::BufMut;
use nom::number::complete::{le_u16, le_u32, le_u64, le_u8};
use nom::sequence::tuple;

/// Most create contexts decoded from one message.
pub const MAX_CREATE_CONTEXTS: usize = 32;
/// Longest name accepted, in bytes (MS-FSCC limits a path component to 255 characters; a
/// path of many components stays under this).
pub const MAX_NAME_BYTES: usize = 32 * 1024;

const REQ_WHAT: &str = "CREATE request";
const RESP_WHAT: &str = "CREATE response";
const CTX_WHAT: &str = "create context";
const REQ_BUFFER_OFFSET: usize = HEADER_LEN + 56;
const RESP_BUFFER_OFFSET: usize = HEADER_LEN + 88;
const CTX_HEADER_LEN: usize = 16;

/// Create context names the server meets (§2.2.13.2).
pub mod context_name {
    /// SMB2_CREATE_QUERY_MAXIMAL_ACCESS_REQUEST.
    pub const MXAC: &[u8] = b"MxAc";
    /// SMB2_CREATE_QUERY_ON_DISK_ID.
    pub const QFID: &[u8] = b"QFid";
    /// SMB2_CREATE_ALLOCATION_SIZE.
    pub const ALSI: &[u8] = b"AlSi";
    /// SMB2_CREATE_EA_BUFFER.
    pub const EXTA: &[u8] = b"ExtA";
    /// SMB2_CREATE_TIMEWARP_TOKEN.
    pub const TWRP: &[u8] = b"TWrp";
    /// SMB2_CREATE_REQUEST_LEASE (v1 and v2).
    pub const RQLS: &[u8] = b"RqLs";
    /// SMB2_CREATE_DURABLE_HANDLE_REQUEST.
    pub const DHNQ: &[u8] = b"DHnQ";
    /// SMB2_CREATE_DURABLE_HANDLE_RECONNECT.
    pub const DHNC: &[u8] = b"DHnC";
    /// SMB2_CREATE_DURABLE_HANDLE_REQUEST_V2.
    pub const DH2Q: &[u8] = b"DH2Q";
    /// SMB2_CREATE_DURABLE_HANDLE_RECONNECT_V2.
    pub const DH2C: &[u8] = b"DH2C";
    /// SMB2_CREATE_SD_BUFFER.
    pub const SECD: &[u8] = b"SecD";
}

/// One create context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateContext {
    /// Name (a 4-byte tag or a 16-byte GUID).
    pub name: Vec<u8>,
    /// Data.
    pub data: Vec<u8>,
}

/// Decodes a create context list (`b` is exactly the CreateContexts buffer).
pub fn decode_create_contexts(b: &[u8]) -> DecodeResult<Vec<CreateContext>> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    if b.is_empty() {
        return Ok(out);
    }
    loop {
        if out.len() >= MAX_CREATE_CONTEXTS {
            return Err(DecodeError::TooMany {
                what: "create contexts",
                count: out.len() + 1,
                max: MAX_CREATE_CONTEXTS,
            });
        }
        let c = b.get(pos..).unwrap_or(&[]);
        if c.len() < CTX_HEADER_LEN {
            return Err(DecodeError::Truncated { what: CTX_WHAT });
        }
        let next = le32(c, 0) as usize;
        let (name_off, name_len) = (usize::from(le16(c, 4)), usize::from(le16(c, 6)));
        let (data_off, data_len) = (usize::from(le16(c, 10)), le32(c, 12) as usize);
        // The context ends at Next, or at the end of the list for the last one.
        let this = if next == 0 {
            c
        } else {
            if next % 8 != 0 {
                return Err(DecodeError::Misaligned {
                    what: "create context Next",
                });
            }
            if next < CTX_HEADER_LEN {
                return Err(DecodeError::OutOfBounds {
                    what: "create context Next",
                });
            }
            c.get(..next).ok_or(DecodeError::OutOfBounds {
                what: "create context Next",
            })?
        };
        if name_len == 0 {
            return Err(DecodeError::Invalid {
                what: "create context NameLength",
            });
        }
        let name = buffer(
            "create context Name",
            this,
            name_off,
            name_len,
            CTX_HEADER_LEN,
        )?;
        let data = buffer(
            "create context Data",
            this,
            data_off,
            data_len,
            CTX_HEADER_LEN,
        )?;
        out.push(CreateContext {
            name: name.to_vec(),
            data: data.to_vec(),
        });
        if next == 0 {
            return Ok(out);
        }
        pos += next;
    }
}

/// Encodes a create context list: each context's name at offset 16, its data on the next
/// 8-byte boundary, each context but the last padded to 8 bytes.
pub fn encode_create_contexts(contexts: &[CreateContext], out: &mut impl BufMut) {
    for (i, c) in contexts.iter().enumerate() {
        let name_end = CTX_HEADER_LEN + c.name.len();
        let (data_off, end) = if c.data.is_empty() {
            (0, name_end)
        } else {
            let at = align8(name_end);
            (at, at + c.data.len())
        };
        let last = i + 1 == contexts.len();
        let next = if last { 0 } else { align8(end) };
        out.put_u32_le(next as u32);
        out.put_u16_le(CTX_HEADER_LEN as u16);
        out.put_u16_le(c.name.len() as u16);
        out.put_u16_le(0);
        out.put_u16_le(data_off as u16);
        out.put_u32_le(c.data.len() as u32);
        out.put_slice(&c.name);
        if !c.data.is_empty() {
            out.put_bytes(0, data_off - name_end);
            out.put_slice(&c.data);
        }
        if !last {
            out.put_bytes(0, next - end);
        }
    }
}

fn create_contexts_len(contexts: &[CreateContext]) -> usize {
    let mut v = Vec::new();
    encode_create_contexts(contexts, &mut v);
    v.len()
}

/// CREATE request (§2.2.13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequest {
    /// SecurityFlags (reserved).
    pub security_flags: u8,
    /// RequestedOplockLevel.
    pub requested_oplock_level: u8,
    /// ImpersonationLevel.
    pub impersonation_level: u32,
    /// SmbCreateFlags (reserved).
    pub smb_create_flags: u64,
    /// DesiredAccess.
    pub desired_access: u32,
    /// FileAttributes.
    pub file_attributes: u32,
    /// ShareAccess.
    pub share_access: u32,
    /// CreateDisposition.
    pub create_disposition: u32,
    /// CreateOptions.
    pub create_options: u32,
    /// The name relative to the share, UTF-16 code units, no leading backslash.
    pub name: Vec<u16>,
    /// Create contexts.
    pub contexts: Vec<CreateContext>,
}

impl CreateRequest {
    /// Decodes the request from a whole message.
    pub fn decode(msg: &[u8]) -> DecodeResult<Self> {
        let body = msg
            .get(HEADER_LEN..)
            .ok_or(DecodeError::Truncated { what: REQ_WHAT })?;
        let (rest, (size, security_flags, oplock, imp, create_flags, _reserved)) = run(
            REQ_WHAT,
            body,
            tuple((le_u16, le_u8, le_u8, le_u32, le_u64, le_u64)),
        )?;
        expect_size(REQ_WHAT, size, 57)?;
        let (_, f) = run(
            REQ_WHAT,
            rest,
            tuple((
                le_u32, le_u32, le_u32, le_u32, le_u32, le_u16, le_u16, le_u32, le_u32,
            )),
        )?;
        let (desired_access, file_attributes, share_access, disposition, options) =
            (f.0, f.1, f.2, f.3, f.4);
        let (name_off, name_len, ctx_off, ctx_len) = (f.5, f.6, f.7, f.8);
        let name_len = usize::from(name_len);
        limit("NameLength", name_len, MAX_NAME_BYTES)?;
        let name = buffer(
            "NameOffset",
            msg,
            usize::from(name_off),
            name_len,
            REQ_BUFFER_OFFSET,
        )?;
        let ctx_off = ctx_off as usize;
        if ctx_len != 0 && ctx_off % 8 != 0 {
            return Err(DecodeError::Misaligned {
                what: "CreateContextsOffset",
            });
        }
        let ctx = buffer(
            "CreateContextsOffset",
            msg,
            ctx_off,
            ctx_len as usize,
            REQ_BUFFER_OFFSET,
        )?;
        Ok(CreateRequest {
            security_flags,
            requested_oplock_level: oplock,
            impersonation_level: imp,
            smb_create_flags: create_flags,
            desired_access,
            file_attributes,
            share_access,
            create_disposition: disposition,
            create_options: options,
            name: utf16_units("Name", name)?,
            contexts: decode_create_contexts(ctx)?,
        })
    }

    /// The name as a string (unpaired surrogates replaced).
    pub fn name_string(&self) -> String {
        String::from_utf16_lossy(&self.name)
    }

    /// Writes the body: the name at offset 120, the contexts on the next 8-byte boundary.
    pub fn encode(&self, out: &mut impl BufMut) {
        let name_bytes = 2 * self.name.len();
        let name_end = REQ_BUFFER_OFFSET + name_bytes;
        let (ctx_off, ctx_len) = if self.contexts.is_empty() {
            (0, 0)
        } else {
            (align8(name_end), create_contexts_len(&self.contexts))
        };
        out.put_u16_le(57);
        out.put_u8(self.security_flags);
        out.put_u8(self.requested_oplock_level);
        out.put_u32_le(self.impersonation_level);
        out.put_u64_le(self.smb_create_flags);
        out.put_u64_le(0);
        out.put_u32_le(self.desired_access);
        out.put_u32_le(self.file_attributes);
        out.put_u32_le(self.share_access);
        out.put_u32_le(self.create_disposition);
        out.put_u32_le(self.create_options);
        out.put_u16_le(REQ_BUFFER_OFFSET as u16);
        out.put_u16_le(name_bytes as u16);
        out.put_u32_le(ctx_off as u32);
        out.put_u32_le(ctx_len as u32);
        put_utf16_units(out, &self.name);
        if self.contexts.is_empty() {
            if self.name.is_empty() {
                out.put_u8(0);
            }
        } else {
            out.put_bytes(0, ctx_off - name_end);
            encode_create_contexts(&self.contexts, out);
        }
    }
}

/// The file times and sizes a CREATE or CLOSE response reports (FILETIMEs, bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileTimesAndSizes {
    /// CreationTime.
    pub creation_time: u64,
    /// LastAccessTime.
    pub last_access_time: u64,
    /// LastWriteTime.
    pub last_write_time: u64,
    /// ChangeTime.
    pub change_time: u64,
    /// AllocationSize.
    pub allocation_size: u64,
    /// EndofFile.
    pub end_of_file: u64,
}

impl FileTimesAndSizes {
    pub(crate) fn from_slice(b: &[u8]) -> Self {
        let v = |i: usize| crate::wire::le64(b, i * 8);
        FileTimesAndSizes {
            creation_time: v(0),
            last_access_time: v(1),
            last_write_time: v(2),
            change_time: v(3),
            allocation_size: v(4),
            end_of_file: v(5),
        }
    }

    pub(crate) fn encode(&self, out: &mut impl BufMut) {
        for v in [
            self.creation_time,
            self.last_access_time,
            self.last_write_time,
            self.change_time,
            self.allocation_size,
            self.end_of_file,
        ] {
            out.put_u64_le(v);
        }
    }
}

/// CREATE response (§2.2.14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateResponse {
    /// OplockLevel granted.
    pub oplock_level: u8,
    /// Flags (3.x: SMB2_CREATE_FLAG_REPARSEPOINT).
    pub flags: u8,
    /// CreateAction.
    pub create_action: u32,
    /// Times and sizes.
    pub info: FileTimesAndSizes,
    /// FileAttributes.
    pub file_attributes: u32,
    /// FileId.
    pub file_id: FileId,
    /// Create contexts of the response.
    pub contexts: Vec<CreateContext>,
}

impl CreateResponse {
    /// Decodes the response from a whole message.
    pub fn decode(msg: &[u8]) -> DecodeResult<Self> {
        let body = msg
            .get(HEADER_LEN..)
            .ok_or(DecodeError::Truncated { what: RESP_WHAT })?;
        let (_, fixed) = run(RESP_WHAT, body, nom::bytes::complete::take(88usize))?;
        expect_size(RESP_WHAT, le16(fixed, 0), 89)?;
        let ctx_off = le32(fixed, 80) as usize;
        let ctx_len = le32(fixed, 84) as usize;
        if ctx_len != 0 && ctx_off % 8 != 0 {
            return Err(DecodeError::Misaligned {
                what: "CreateContextsOffset",
            });
        }
        let ctx = buffer(
            "CreateContextsOffset",
            msg,
            ctx_off,
            ctx_len,
            RESP_BUFFER_OFFSET,
        )?;
        Ok(CreateResponse {
            oplock_level: fixed[2],
            flags: fixed[3],
            create_action: le32(fixed, 4),
            info: FileTimesAndSizes::from_slice(&fixed[8..56]),
            file_attributes: le32(fixed, 56),
            file_id: FileId::from_slice(&fixed[64..80]),
            contexts: decode_create_contexts(ctx)?,
        })
    }

    /// Writes the body; contexts follow the fixed part at offset 152.
    pub fn encode(&self, out: &mut impl BufMut) {
        let ctx_len = create_contexts_len(&self.contexts);
        out.put_u16_le(89);
        out.put_u8(self.oplock_level);
        out.put_u8(self.flags);
        out.put_u32_le(self.create_action);
        self.info.encode(out);
        out.put_u32_le(self.file_attributes);
        out.put_u32_le(0);
        self.file_id.encode(out);
        out.put_u32_le(if ctx_len == 0 {
            0
        } else {
            RESP_BUFFER_OFFSET as u32
        });
        out.put_u32_le(ctx_len as u32);
        // Without contexts the response ends after the fixed part, as Samba's does (the
        // spec's StructureSize 89 counts a Buffer byte that clients do not read).
        encode_create_contexts(&self.contexts, out);
    }
}
