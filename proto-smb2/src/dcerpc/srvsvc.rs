//! The srvsvc interface ([MS-SRVS]) on the `\PIPE\srvsvc` named pipe: NetrShareEnum
//! (opnum 15, §3.1.4.8) and NetrShareGetInfo (opnum 16, §3.1.4.10) answered from a list of
//! shares, and [`SrvsvcPipe`], the pure pipe object the SMB server writes request bytes into
//! (SMB2 WRITE or IOCTL FSCTL_PIPE_TRANSCEIVE) and reads response bytes from.
//!
//! No share path is ever revealed: level 2 answers an empty path, as the brief for a
//! multi-protocol server asks (Samba answers the local path).

use super::ndr::{NdrReader, NdrWriter};
use super::{
    bind_time_features, fault, pfc, result, uuid, Bind, BindAck, BindNak, ContextResult, Fault,
    Packet, Pdu, PduHeader, Response, SyntaxId, HEADER_LEN, NDR20,
};
use crate::error::DecodeResult;
use crate::status::NtStatus;
use std::collections::VecDeque;

/// The srvsvc abstract syntax 4b324fc8-1670-01d3-1278-5a47bf6ee188 version 3.0.
pub const SRVSVC: SyntaxId = SyntaxId {
    uuid: uuid(
        0x4b32_4fc8,
        0x1670,
        0x01d3,
        [0x12, 0x78, 0x5a, 0x47, 0xbf, 0x6e, 0xe1, 0x88],
    ),
    version: 3,
};

/// NetrShareEnum opnum.
pub const OPNUM_NETR_SHARE_ENUM: u16 = 15;
/// NetrShareGetInfo opnum.
pub const OPNUM_NETR_SHARE_GET_INFO: u16 = 16;

/// Win32 / NET status codes in the WERROR return value ([MS-ERREF] §2.2, [MS-SRVS]).
pub mod werror {
    /// NERR_Success.
    pub const SUCCESS: u32 = 0;
    /// ERROR_INVALID_LEVEL: the info level is not supported.
    pub const INVALID_LEVEL: u32 = 124;
    /// NERR_NetNameNotFound: no share by that name ([MS-SRVS] §3.1.4.10).
    pub const NET_NAME_NOT_FOUND: u32 = 2310;
}

/// Share types (shi*_type, [MS-SRVS] §2.2.2.4).
pub mod share_type {
    /// STYPE_DISKTREE.
    pub const DISKTREE: u32 = 0x0000_0000;
    /// STYPE_IPC.
    pub const IPC: u32 = 0x0000_0003;
    /// STYPE_SPECIAL: an administrative share such as IPC$.
    pub const SPECIAL: u32 = 0x8000_0000;
}

/// A share as the pipe lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    /// The share name.
    pub name: String,
    /// shi_type ([`share_type`]): DISKTREE for a disk share, IPC | SPECIAL for IPC$.
    pub share_type: u32,
    /// The remark.
    pub comment: String,
}

impl Share {
    /// A disk share.
    pub fn disk(name: &str, comment: &str) -> Share {
        Share {
            name: name.to_string(),
            share_type: share_type::DISKTREE,
            comment: comment.to_string(),
        }
    }

    /// IPC$ with a remark.
    pub fn ipc(comment: &str) -> Share {
        Share {
            name: "IPC$".to_string(),
            share_type: share_type::IPC | share_type::SPECIAL,
            comment: comment.to_string(),
        }
    }
}

/// One SHARE_INFO_x entry as decoded or encoded; fields a level does not carry are empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShareInfo {
    /// shi_netname (levels 0, 1, 2, 501).
    pub netname: Option<String>,
    /// shi_type (1, 2, 501).
    pub share_type: u32,
    /// shi_remark (1, 2, 501).
    pub remark: Option<String>,
    /// shi2_permissions.
    pub permissions: u32,
    /// shi2_max_uses.
    pub max_uses: u32,
    /// shi2_current_uses.
    pub current_uses: u32,
    /// shi2_path.
    pub path: Option<String>,
    /// shi2_passwd.
    pub passwd: Option<String>,
    /// shi501_flags / shi1005_flags.
    pub flags: u32,
}

impl ShareInfo {
    /// The entry for `s` at `level` in Janus's shape (level 2: no path, unlimited uses).
    pub fn of(s: &Share, level: u32) -> ShareInfo {
        let mut i = ShareInfo {
            netname: Some(s.name.clone()),
            ..Default::default()
        };
        if level != 0 {
            i.share_type = s.share_type;
            i.remark = Some(s.comment.clone());
        }
        if level == 2 {
            i.max_uses = u32::MAX;
            i.path = Some(String::new());
            i.passwd = Some(String::new());
        }
        i
    }
}

/// Levels whose union arm is a pointer (the levels [MS-SRVS] defines for each call).
fn is_enum_level(level: u32) -> bool {
    matches!(level, 0 | 1 | 2 | 501 | 502 | 503)
}

fn is_info_level(level: u32) -> bool {
    matches!(
        level,
        0 | 1 | 2 | 501 | 502 | 503 | 1004 | 1005 | 1006 | 1007 | 1501
    )
}

fn put_opt_ptr(w: &mut NdrWriter, v: &Option<String>) {
    if v.is_some() {
        w.ptr();
    } else {
        w.null();
    }
}

fn put_opt_string(w: &mut NdrWriter, v: &Option<String>) {
    if let Some(s) = v {
        w.string(s);
    }
}

/// The fixed part of an entry (pointers inline), per level.
fn put_info_fixed(w: &mut NdrWriter, level: u32, i: &ShareInfo) {
    match level {
        0 => put_opt_ptr(w, &i.netname),
        1 => {
            put_opt_ptr(w, &i.netname);
            w.u32(i.share_type);
            put_opt_ptr(w, &i.remark);
        }
        2 => {
            put_opt_ptr(w, &i.netname);
            w.u32(i.share_type);
            put_opt_ptr(w, &i.remark);
            w.u32(i.permissions);
            w.u32(i.max_uses);
            w.u32(i.current_uses);
            put_opt_ptr(w, &i.path);
            put_opt_ptr(w, &i.passwd);
        }
        501 => {
            put_opt_ptr(w, &i.netname);
            w.u32(i.share_type);
            put_opt_ptr(w, &i.remark);
            w.u32(i.flags);
        }
        _ => w.u32(i.flags), // 1005
    }
}

/// The deferred strings of an entry, in pointer order.
fn put_info_deferred(w: &mut NdrWriter, level: u32, i: &ShareInfo) {
    match level {
        0 | 1 | 501 => {
            put_opt_string(w, &i.netname);
            put_opt_string(w, &i.remark);
        }
        2 => {
            put_opt_string(w, &i.netname);
            put_opt_string(w, &i.remark);
            put_opt_string(w, &i.path);
            put_opt_string(w, &i.passwd);
        }
        _ => {}
    }
}

/// Reads an entry's fixed part; the pointers' presence is recorded as `Some(empty)`.
fn get_info_fixed(r: &mut NdrReader<'_>, level: u32) -> DecodeResult<ShareInfo> {
    let p = |b: bool| if b { Some(String::new()) } else { None };
    let mut i = ShareInfo::default();
    match level {
        0 => i.netname = p(r.ptr()?),
        1 | 2 | 501 => {
            i.netname = p(r.ptr()?);
            i.share_type = r.u32()?;
            i.remark = p(r.ptr()?);
            if level == 2 {
                i.permissions = r.u32()?;
                i.max_uses = r.u32()?;
                i.current_uses = r.u32()?;
                i.path = p(r.ptr()?);
                i.passwd = p(r.ptr()?);
            } else if level == 501 {
                i.flags = r.u32()?;
            }
        }
        1005 => i.flags = r.u32()?,
        _ => {
            return Err(crate::error::DecodeError::Invalid {
                what: "share info level",
            })
        }
    }
    Ok(i)
}

fn get_info_deferred(r: &mut NdrReader<'_>, i: &mut ShareInfo) -> DecodeResult<()> {
    for f in [&mut i.netname, &mut i.remark, &mut i.path, &mut i.passwd] {
        if f.is_some() {
            *f = Some(r.string()?);
        }
    }
    Ok(())
}

/// Most entries decoded from one enumeration.
pub const MAX_SHARES: usize = 4096;

/// NetrShareEnum request ([MS-SRVS] §3.1.4.8): the input container must be empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareEnumRequest {
    /// ServerName.
    pub server_name: Option<String>,
    /// InfoStruct.Level.
    pub level: u32,
    /// PreferedMaximumLength.
    pub prefered_maximum_length: u32,
    /// ResumeHandle (None: a null pointer).
    pub resume_handle: Option<u32>,
}

impl ShareEnumRequest {
    /// Decodes the stub.
    pub fn decode(stub: &[u8]) -> DecodeResult<Self> {
        let mut r = NdrReader::new(stub);
        let server_name = r.unique_string()?;
        let level = r.u32()?;
        let disc = r.u32()?;
        if disc != level {
            return Err(crate::error::DecodeError::Invalid {
                what: "union discriminant",
            });
        }
        if is_enum_level(level) && r.ptr()? {
            let _entries = r.u32()?;
            if r.ptr()? {
                // A client never sends entries in; refusing keeps the decoder small.
                return Err(crate::error::DecodeError::Invalid {
                    what: "input share buffer",
                });
            }
        }
        let prefered_maximum_length = r.u32()?;
        let resume_handle = if r.ptr()? { Some(r.u32()?) } else { None };
        Ok(ShareEnumRequest {
            server_name,
            level,
            prefered_maximum_length,
            resume_handle,
        })
    }

    /// Encodes the stub (an empty container).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = NdrWriter::new();
        match &self.server_name {
            Some(s) => {
                w.ptr();
                w.string(s);
            }
            None => w.null(),
        }
        w.u32(self.level);
        w.u32(self.level);
        if is_enum_level(self.level) {
            w.ptr();
            w.u32(0);
            w.null();
        }
        w.u32(self.prefered_maximum_length);
        match self.resume_handle {
            Some(h) => {
                w.ptr();
                w.u32(h);
            }
            None => w.null(),
        }
        w.buf
    }
}

/// NetrShareEnum response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareEnumResponse {
    /// InfoStruct.Level.
    pub level: u32,
    /// The entries (empty for an unsupported level).
    pub entries: Vec<ShareInfo>,
    /// TotalEntries.
    pub total_entries: u32,
    /// ResumeHandle (None: a null pointer).
    pub resume_handle: Option<u32>,
    /// The WERROR result.
    pub status: u32,
}

impl ShareEnumResponse {
    /// Encodes the stub. Levels 0, 1, 2 and 501 carry their entries; another level
    /// answers an empty (null) container.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = NdrWriter::new();
        w.u32(self.level);
        w.u32(self.level);
        let carries = matches!(self.level, 0 | 1 | 2 | 501);
        if is_enum_level(self.level) {
            if carries {
                w.ptr();
                w.u32(self.entries.len() as u32);
                w.ptr();
                w.u32(self.entries.len() as u32);
                for e in &self.entries {
                    put_info_fixed(&mut w, self.level, e);
                }
                for e in &self.entries {
                    put_info_deferred(&mut w, self.level, e);
                }
            } else {
                w.null();
            }
        }
        w.u32(self.total_entries);
        match self.resume_handle {
            Some(h) => {
                w.ptr();
                w.u32(h);
            }
            None => w.null(),
        }
        w.u32(self.status);
        w.buf
    }

    /// Decodes the stub (as a client would; used on Samba's answers in the tests).
    pub fn decode(stub: &[u8]) -> DecodeResult<Self> {
        let mut r = NdrReader::new(stub);
        let level = r.u32()?;
        let disc = r.u32()?;
        if disc != level {
            return Err(crate::error::DecodeError::Invalid {
                what: "union discriminant",
            });
        }
        let mut entries = Vec::new();
        if is_enum_level(level) && r.ptr()? {
            let count = r.u32()? as usize;
            if r.ptr()? {
                let max = r.u32()? as usize;
                crate::wire::limit("shares", max, MAX_SHARES)?;
                if count > max {
                    return Err(crate::error::DecodeError::Invalid {
                        what: "EntriesRead",
                    });
                }
                for _ in 0..max {
                    entries.push(get_info_fixed(&mut r, level)?);
                }
                for e in entries.iter_mut() {
                    get_info_deferred(&mut r, e)?;
                }
            }
        }
        let total_entries = r.u32()?;
        let resume_handle = if r.ptr()? { Some(r.u32()?) } else { None };
        let status = r.u32()?;
        Ok(ShareEnumResponse {
            level,
            entries,
            total_entries,
            resume_handle,
            status,
        })
    }
}

/// NetrShareGetInfo request ([MS-SRVS] §3.1.4.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareGetInfoRequest {
    /// ServerName.
    pub server_name: Option<String>,
    /// NetName.
    pub net_name: String,
    /// Level.
    pub level: u32,
}

impl ShareGetInfoRequest {
    /// Decodes the stub.
    pub fn decode(stub: &[u8]) -> DecodeResult<Self> {
        let mut r = NdrReader::new(stub);
        let server_name = r.unique_string()?;
        let net_name = r.string()?;
        let level = r.u32()?;
        Ok(ShareGetInfoRequest {
            server_name,
            net_name,
            level,
        })
    }

    /// Encodes the stub.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = NdrWriter::new();
        match &self.server_name {
            Some(s) => {
                w.ptr();
                w.string(s);
            }
            None => w.null(),
        }
        w.string(&self.net_name);
        w.u32(self.level);
        w.buf
    }
}

/// NetrShareGetInfo response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareGetInfoResponse {
    /// The union discriminant (the level asked for).
    pub level: u32,
    /// The entry (None: a null pointer, on error).
    pub info: Option<ShareInfo>,
    /// The WERROR result.
    pub status: u32,
}

impl ShareGetInfoResponse {
    /// Encodes the stub. An entry is only written for levels 0, 1, 2, 501 and 1005.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = NdrWriter::new();
        w.u32(self.level);
        if is_info_level(self.level) {
            match &self.info {
                Some(i) if matches!(self.level, 0 | 1 | 2 | 501 | 1005) => {
                    w.ptr();
                    put_info_fixed(&mut w, self.level, i);
                    put_info_deferred(&mut w, self.level, i);
                }
                _ => w.null(),
            }
        }
        w.u32(self.status);
        w.buf
    }

    /// Decodes the stub.
    pub fn decode(stub: &[u8]) -> DecodeResult<Self> {
        let mut r = NdrReader::new(stub);
        let level = r.u32()?;
        let mut info = None;
        if is_info_level(level) && r.ptr()? {
            let mut i = get_info_fixed(&mut r, level)?;
            get_info_deferred(&mut r, &mut i)?;
            info = Some(i);
        }
        let status = r.u32()?;
        Ok(ShareGetInfoResponse {
            level,
            info,
            status,
        })
    }
}

/// Why the pipe refused bytes; the SMB server maps it with [`PipeError::status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PipeError {
    /// A PDU broke the framing (bad version, impossible length): the pipe is closed.
    #[error("DCE/RPC framing broken; pipe closed")]
    Broken,
    /// The unread output or the buffered input is at its bound: read before writing more.
    #[error("pipe buffers full")]
    Busy,
}

impl PipeError {
    /// STATUS_PIPE_BROKEN or STATUS_PIPE_BUSY.
    pub fn status(self) -> NtStatus {
        match self {
            PipeError::Broken => NtStatus::PIPE_BROKEN,
            PipeError::Busy => NtStatus::PIPE_BUSY,
        }
    }
}

/// What a read of the pipe returned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PipeRead {
    /// The bytes (at most the size asked for).
    pub data: Vec<u8>,
    /// The message (PDU fragment) has more bytes than fitted: the SMB answer is
    /// STATUS_BUFFER_OVERFLOW with `data`, and the next read continues it (message mode,
    /// MS-FSCC §2.3.48 / MS-SMB2 §3.3.5.15.7).
    pub more: bool,
}

/// The fragment size Janus offers and accepts (Samba's 4280).
pub const MAX_FRAG: u16 = 4280;
/// Most bytes of one reassembled request stub.
pub const MAX_REQUEST_STUB: usize = 64 * 1024;
/// Most unprocessed input bytes buffered: one incomplete fragment at most.
pub const MAX_INPUT: usize = u16::MAX as usize;
/// Most unread output bytes; writes are refused beyond it.
pub const MAX_OUTPUT: usize = 1 << 20;

#[derive(Debug, Clone)]
struct Binding {
    context_id: u16,
    max_xmit: u16,
}

#[derive(Debug, Clone)]
struct PartialCall {
    call_id: u32,
    context_id: u16,
    opnum: u16,
    stub: Vec<u8>,
}

/// One open of `\PIPE\srvsvc`: DCE/RPC over a byte stream, in message mode.
///
/// Inputs: [`SrvsvcPipe::write`] (WRITE data, or an IOCTL FSCTL_PIPE_TRANSCEIVE input).
/// Outputs: [`SrvsvcPipe::read`] (READ, or the transceive output), one PDU fragment per
/// message. Memory is bounded by [`MAX_INPUT`], [`MAX_REQUEST_STUB`] and [`MAX_OUTPUT`].
/// Unauthenticated: an auth trailer is ignored, as there is nothing to protect in the
/// share list that the SMB session has not already authenticated.
#[derive(Debug, Clone)]
pub struct SrvsvcPipe {
    shares: Vec<Share>,
    assoc_group_id: u32,
    input: Vec<u8>,
    output: VecDeque<Vec<u8>>,
    output_bytes: usize,
    binding: Option<Binding>,
    call: Option<PartialCall>,
    broken: bool,
}

impl SrvsvcPipe {
    /// A pipe listing `shares`; `assoc_group_id` is what bind_ack reports (any nonzero
    /// value the server chooses).
    pub fn new(shares: Vec<Share>, assoc_group_id: u32) -> SrvsvcPipe {
        SrvsvcPipe {
            shares,
            assoc_group_id: assoc_group_id.max(1),
            input: Vec::new(),
            output: VecDeque::new(),
            output_bytes: 0,
            binding: None,
            call: None,
            broken: false,
        }
    }

    /// Unread output bytes.
    pub fn pending_output(&self) -> usize {
        self.output_bytes
    }

    /// Feeds bytes written to the pipe; every complete PDU is answered at once. At most one
    /// incomplete PDU (under 64 KiB, frag_length is 16 bits) is buffered, whatever the size
    /// of the write. Refused with [`PipeError::Busy`] while [`MAX_OUTPUT`] bytes are unread;
    /// a write that fills the output half-way through closes the pipe (the client sent
    /// more than it reads).
    pub fn write(&mut self, mut data: &[u8]) -> Result<(), PipeError> {
        if self.broken {
            return Err(PipeError::Broken);
        }
        if self.output_bytes >= MAX_OUTPUT {
            return Err(PipeError::Busy);
        }
        while !data.is_empty() {
            if self.output_bytes >= MAX_OUTPUT {
                self.broken = true;
                self.input.clear();
                return Err(PipeError::Busy);
            }
            let want = if self.input.len() < HEADER_LEN {
                HEADER_LEN
            } else {
                // The header is complete and was checked when it completed.
                usize::from(u16::from_le_bytes([self.input[8], self.input[9]]))
            };
            let take = (want - self.input.len()).min(data.len());
            self.input.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.input.len() < HEADER_LEN {
                continue;
            }
            let header = match PduHeader::decode(&self.input) {
                Ok(h) => h,
                Err(_) => {
                    self.broken = true;
                    self.input.clear();
                    return Err(PipeError::Broken);
                }
            };
            if self.input.len() == usize::from(header.frag_length) {
                let pdu = std::mem::take(&mut self.input);
                self.handle_pdu(header, &pdu);
            }
        }
        Ok(())
    }

    /// Reads at most `max` bytes of the next message.
    pub fn read(&mut self, max: usize) -> PipeRead {
        let Some(front) = self.output.front_mut() else {
            return PipeRead::default();
        };
        if front.len() <= max {
            let data = self.output.pop_front().unwrap_or_default();
            self.output_bytes -= data.len();
            PipeRead { data, more: false }
        } else {
            let data: Vec<u8> = front.drain(..max).collect();
            self.output_bytes -= data.len();
            PipeRead { data, more: true }
        }
    }

    /// FSCTL_PIPE_TRANSCEIVE: writes `input` and reads the answer's first message (MS-SMB2
    /// §3.3.5.15.8, MS-FSCC §2.3.50).
    pub fn transceive(&mut self, input: &[u8], max_output: usize) -> Result<PipeRead, PipeError> {
        self.write(input)?;
        Ok(self.read(max_output))
    }

    fn push(&mut self, p: Packet) {
        let b = p.encode();
        self.output_bytes += b.len();
        self.output.push_back(b);
    }

    fn fault(&mut self, call_id: u32, context_id: u16, status: u32) {
        self.call = None;
        self.push(Packet {
            header: PduHeader {
                ptype: super::ptype::FAULT,
                flags: pfc::FIRST_FRAG | pfc::LAST_FRAG | pfc::DID_NOT_EXECUTE,
                drep: super::DREP_LE,
                frag_length: 0,
                auth_length: 0,
                call_id,
            },
            pdu: Pdu::Fault(Fault {
                alloc_hint: 32,
                context_id,
                cancel_count: 0,
                status,
            }),
        });
    }

    fn handle_pdu(&mut self, header: PduHeader, bytes: &[u8]) {
        let packet = match Packet::decode(bytes) {
            Ok(p) => p,
            Err(_) => {
                // A bind that does not parse gets a bind_nak; anything else a fault.
                if header.ptype == super::ptype::BIND {
                    self.nak(header.call_id, result::REASON_NOT_SPECIFIED);
                } else {
                    self.fault(header.call_id, 0, fault::PROTO_ERROR);
                }
                return;
            }
        };
        match packet.pdu {
            Pdu::Bind(b) => self.bind(header.call_id, &b, false),
            Pdu::AlterContext(b) => self.bind(header.call_id, &b, true),
            Pdu::Request(r) => self.request(header, r),
            // Clients send nothing else a server answers; an orphaned or cancel PDU
            // abandons the call being reassembled (C706 §12.4.4).
            Pdu::Other(_)
                if matches!(
                    header.ptype,
                    super::ptype::ORPHANED | super::ptype::CO_CANCEL
                ) =>
            {
                self.call = None;
            }
            _ => self.fault(header.call_id, 0, fault::PROTO_ERROR),
        }
    }

    fn nak(&mut self, call_id: u32, reason: u16) {
        self.push(Packet {
            header: PduHeader {
                ptype: super::ptype::BIND_NAK,
                flags: pfc::FIRST_FRAG | pfc::LAST_FRAG,
                drep: super::DREP_LE,
                frag_length: 0,
                auth_length: 0,
                call_id,
            },
            pdu: Pdu::BindNak(BindNak {
                reason,
                versions: vec![(5, 0)],
            }),
        });
    }

    /// bind / alter_context (C706 §12.6.4.3, [MS-RPCE] §3.3.1.5.3): each context is accepted
    /// when it names srvsvc 3.0 with NDR 2.0 among its transfer syntaxes; a bind time
    /// feature negotiation context gets negotiate_ack with no feature accepted; others are
    /// provider rejections with abstract_syntax_not_supported or
    /// proposed_transfer_syntaxes_not_supported.
    fn bind(&mut self, call_id: u32, b: &Bind, alter: bool) {
        if !alter && b.max_recv_frag < 1432 {
            // C706 §12.6.3.1: fragments of at least 1432 bytes must be accepted.
            self.nak(call_id, result::LOCAL_LIMIT_EXCEEDED);
            return;
        }
        let mut results = Vec::with_capacity(b.contexts.len());
        for c in &b.contexts {
            let r = if c
                .transfer_syntaxes
                .first()
                .and_then(bind_time_features)
                .is_some()
            {
                ContextResult {
                    result: result::NEGOTIATE_ACK,
                    reason: 0,
                    transfer_syntax: SyntaxId::default(),
                }
            } else if c.abstract_syntax != SRVSVC {
                ContextResult {
                    result: result::PROVIDER_REJECTION,
                    reason: result::ABSTRACT_SYNTAX_NOT_SUPPORTED,
                    transfer_syntax: SyntaxId::default(),
                }
            } else if c.transfer_syntaxes.contains(&NDR20) {
                if self.binding.is_none() || alter {
                    let max_xmit = if alter {
                        self.binding.as_ref().map_or(MAX_FRAG, |x| x.max_xmit)
                    } else {
                        b.max_recv_frag.min(MAX_FRAG)
                    };
                    self.binding = Some(Binding {
                        context_id: c.context_id,
                        max_xmit,
                    });
                }
                ContextResult {
                    result: result::ACCEPTANCE,
                    reason: 0,
                    transfer_syntax: NDR20,
                }
            } else {
                ContextResult {
                    result: result::PROVIDER_REJECTION,
                    reason: result::PROPOSED_TRANSFER_SYNTAXES_NOT_SUPPORTED,
                    transfer_syntax: SyntaxId::default(),
                }
            };
            results.push(r);
        }
        let ack = BindAck {
            max_xmit_frag: MAX_FRAG,
            max_recv_frag: MAX_FRAG,
            assoc_group_id: self.assoc_group_id,
            secondary_address: if alter {
                Vec::new()
            } else {
                b"\\PIPE\\srvsvc\0".to_vec()
            },
            results,
        };
        self.push(Packet {
            header: PduHeader {
                ptype: 0,
                flags: pfc::FIRST_FRAG | pfc::LAST_FRAG,
                drep: super::DREP_LE,
                frag_length: 0,
                auth_length: 0,
                call_id,
            },
            pdu: if alter {
                Pdu::AlterContextResp(ack)
            } else {
                Pdu::BindAck(ack)
            },
        });
    }

    fn request(&mut self, header: PduHeader, r: super::Request) {
        let Some(binding) = self.binding.clone() else {
            self.fault(header.call_id, r.context_id, fault::UNK_IF);
            return;
        };
        if r.context_id != binding.context_id {
            self.fault(header.call_id, r.context_id, fault::UNK_IF);
            return;
        }
        let first = header.flags & pfc::FIRST_FRAG != 0;
        let last = header.flags & pfc::LAST_FRAG != 0;
        let mut call = if first {
            PartialCall {
                call_id: header.call_id,
                context_id: r.context_id,
                opnum: r.opnum,
                stub: Vec::new(),
            }
        } else {
            match self.call.take() {
                Some(c) if c.call_id == header.call_id => c,
                _ => {
                    self.fault(header.call_id, r.context_id, fault::PROTO_ERROR);
                    return;
                }
            }
        };
        if call.stub.len() + r.stub.len() > MAX_REQUEST_STUB {
            self.fault(header.call_id, r.context_id, fault::OTHER);
            return;
        }
        call.stub.extend_from_slice(&r.stub);
        if !last {
            self.call = Some(call);
            return;
        }
        self.call = None;
        let stub = match call.opnum {
            OPNUM_NETR_SHARE_ENUM => {
                ShareEnumRequest::decode(&call.stub).map(|q| self.share_enum(&q))
            }
            OPNUM_NETR_SHARE_GET_INFO => {
                ShareGetInfoRequest::decode(&call.stub).map(|q| self.share_get_info(&q))
            }
            _ => {
                self.fault(call.call_id, call.context_id, fault::OP_RNG_ERROR);
                return;
            }
        };
        match stub {
            Ok(s) => self.respond(call.call_id, call.context_id, binding.max_xmit, &s),
            Err(_) => self.fault(call.call_id, call.context_id, fault::NDR),
        }
    }

    /// Splits a response stub into fragments of at most `max_xmit` bytes (C706 §12.6.3.7:
    /// alloc_hint is the stub bytes still to come, including this fragment's).
    fn respond(&mut self, call_id: u32, context_id: u16, max_xmit: u16, stub: &[u8]) {
        let room = (max_xmit as usize).saturating_sub(HEADER_LEN + 8).max(8) & !7;
        let mut at = 0;
        loop {
            let end = (at + room).min(stub.len());
            let mut flags = 0;
            if at == 0 {
                flags |= pfc::FIRST_FRAG;
            }
            if end == stub.len() {
                flags |= pfc::LAST_FRAG;
            }
            self.push(Packet {
                header: PduHeader {
                    ptype: 0,
                    flags,
                    drep: super::DREP_LE,
                    frag_length: 0,
                    auth_length: 0,
                    call_id,
                },
                pdu: Pdu::Response(Response {
                    alloc_hint: (stub.len() - at) as u32,
                    context_id,
                    cancel_count: 0,
                    stub: stub[at..end].to_vec(),
                }),
            });
            at = end;
            if at >= stub.len() {
                return;
            }
        }
    }

    /// NetrShareEnum ([MS-SRVS] §3.1.4.8): every share at levels 0, 1, 2, 501;
    /// ERROR_INVALID_LEVEL otherwise. The whole list at once (no resume).
    fn share_enum(&self, q: &ShareEnumRequest) -> Vec<u8> {
        let supported = matches!(q.level, 0 | 1 | 2 | 501);
        let entries: Vec<ShareInfo> = if supported {
            self.shares
                .iter()
                .map(|s| ShareInfo::of(s, q.level))
                .collect()
        } else {
            Vec::new()
        };
        ShareEnumResponse {
            level: q.level,
            total_entries: entries.len() as u32,
            entries,
            resume_handle: q.resume_handle.map(|_| 0),
            status: if supported {
                werror::SUCCESS
            } else {
                werror::INVALID_LEVEL
            },
        }
        .encode()
    }

    /// NetrShareGetInfo ([MS-SRVS] §3.1.4.10): levels 0, 1, 2, 501, 1005 of a share found
    /// by case-insensitive name; NERR_NetNameNotFound for another name (Samba 4.17 answers
    /// ERROR_INVALID_NAME instead), ERROR_INVALID_LEVEL for another level.
    fn share_get_info(&self, q: &ShareGetInfoRequest) -> Vec<u8> {
        let share = self
            .shares
            .iter()
            .find(|s| crate::names::eq_ignore_case(&s.name, &q.net_name));
        let (info, status) = match (share, q.level) {
            (None, _) => (None, werror::NET_NAME_NOT_FOUND),
            (Some(s), 0 | 1 | 2 | 501) => (Some(ShareInfo::of(s, q.level)), werror::SUCCESS),
            (Some(_), 1005) => (Some(ShareInfo::default()), werror::SUCCESS),
            (Some(_), _) => (None, werror::INVALID_LEVEL),
        };
        ShareGetInfoResponse {
            level: q.level,
            info,
            status,
        }
        .encode()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dcerpc::{ptype, ContextElement, Request, DREP_LE};

    fn shares() -> Vec<Share> {
        vec![Share::disk("export", "data"), Share::ipc("IPC Service")]
    }

    fn header(pt: u8, call_id: u32, flags: u8) -> PduHeader {
        PduHeader {
            ptype: pt,
            flags,
            drep: DREP_LE,
            frag_length: 0,
            auth_length: 0,
            call_id,
        }
    }

    fn bind_bytes(contexts: Vec<ContextElement>) -> Vec<u8> {
        Packet {
            header: header(ptype::BIND, 1, 3),
            pdu: Pdu::Bind(Bind {
                max_xmit_frag: 4280,
                max_recv_frag: 4280,
                assoc_group_id: 0,
                contexts,
            }),
        }
        .encode()
    }

    fn srvsvc_ctx(id: u16) -> ContextElement {
        ContextElement {
            context_id: id,
            abstract_syntax: SRVSVC,
            transfer_syntaxes: vec![NDR20],
        }
    }

    fn request(call_id: u32, opnum: u16, stub: Vec<u8>, flags: u8) -> Vec<u8> {
        Packet {
            header: header(ptype::REQUEST, call_id, flags),
            pdu: Pdu::Request(Request {
                alloc_hint: stub.len() as u32,
                context_id: 0,
                opnum,
                object: None,
                stub,
            }),
        }
        .encode()
    }

    fn answer(p: &mut SrvsvcPipe) -> Packet {
        let r = p.read(65536);
        assert!(!r.more);
        Packet::decode(&r.data).unwrap()
    }

    #[test]
    fn bind_with_feature_negotiation_and_ndr64() {
        let mut p = SrvsvcPipe::new(shares(), 0x1234);
        let feature = SyntaxId {
            uuid: uuid(0x6cb7_1c2c, 0x9812, 0x4540, [3, 0, 0, 0, 0, 0, 0, 0]),
            version: 1,
        };
        let bytes = bind_bytes(vec![
            ContextElement {
                context_id: 0,
                abstract_syntax: SRVSVC,
                transfer_syntaxes: vec![super::super::NDR64],
            },
            srvsvc_ctx(1),
            ContextElement {
                context_id: 2,
                abstract_syntax: SRVSVC,
                transfer_syntaxes: vec![feature],
            },
            ContextElement {
                context_id: 3,
                abstract_syntax: NDR20,
                transfer_syntaxes: vec![NDR20],
            },
        ]);
        p.write(&bytes).unwrap();
        let Pdu::BindAck(ack) = answer(&mut p).pdu else {
            panic!("no bind_ack")
        };
        assert_eq!(ack.assoc_group_id, 0x1234);
        assert_eq!(ack.secondary_address, b"\\PIPE\\srvsvc\0");
        let r: Vec<(u16, u16)> = ack.results.iter().map(|r| (r.result, r.reason)).collect();
        assert_eq!(r, vec![(2, 2), (0, 0), (3, 0), (2, 1)]);
        assert_eq!(ack.results[1].transfer_syntax, NDR20);
    }

    #[test]
    fn enum_get_info_and_faults() {
        let mut p = SrvsvcPipe::new(shares(), 7);
        p.write(&bind_bytes(vec![srvsvc_ctx(0)])).unwrap();
        answer(&mut p);
        let q = ShareEnumRequest {
            server_name: Some("srv".into()),
            level: 1,
            prefered_maximum_length: u32::MAX,
            resume_handle: Some(0),
        };
        p.write(&request(2, 15, q.encode(), 3)).unwrap();
        let Pdu::Response(resp) = answer(&mut p).pdu else {
            panic!()
        };
        let e = ShareEnumResponse::decode(&resp.stub).unwrap();
        assert_eq!(e.status, 0);
        assert_eq!(e.total_entries, 2);
        assert_eq!(e.entries[0].netname.as_deref(), Some("export"));
        assert_eq!(e.entries[0].remark.as_deref(), Some("data"));
        assert_eq!(e.entries[1].share_type, 0x8000_0003);
        // GetInfo of an unknown share, then an unsupported opnum.
        let g = ShareGetInfoRequest {
            server_name: None,
            net_name: "nope".into(),
            level: 1,
        };
        p.write(&request(3, 16, g.encode(), 3)).unwrap();
        let Pdu::Response(resp) = answer(&mut p).pdu else {
            panic!()
        };
        let g = ShareGetInfoResponse::decode(&resp.stub).unwrap();
        assert_eq!((g.info, g.status), (None, werror::NET_NAME_NOT_FOUND));
        p.write(&request(4, 21, vec![0; 8], 3)).unwrap();
        let Pdu::Fault(f) = answer(&mut p).pdu else {
            panic!()
        };
        assert_eq!(f.status, fault::OP_RNG_ERROR);
        // A bad stub.
        p.write(&request(5, 16, vec![1, 2, 3], 3)).unwrap();
        let Pdu::Fault(f) = answer(&mut p).pdu else {
            panic!()
        };
        assert_eq!(f.status, fault::NDR);
    }

    #[test]
    fn fragmented_request_and_response() {
        let many: Vec<Share> = (0..200)
            .map(|i| Share::disk(&format!("share{i:03}"), "a comment"))
            .collect();
        let mut p = SrvsvcPipe::new(many, 7);
        p.write(&bind_bytes(vec![srvsvc_ctx(0)])).unwrap();
        answer(&mut p);
        let stub = ShareEnumRequest {
            server_name: Some("a-rather-long-server-name".into()),
            level: 2,
            prefered_maximum_length: u32::MAX,
            resume_handle: None,
        }
        .encode();
        let (a, b) = stub.split_at(16);
        // Two fragments, written byte by byte.
        let mut bytes = request(9, 15, a.to_vec(), pfc::FIRST_FRAG);
        bytes.extend(request(9, 15, b.to_vec(), pfc::LAST_FRAG));
        for x in &bytes {
            p.write(std::slice::from_ref(x)).unwrap();
        }
        let mut stub = Vec::new();
        let mut hints = Vec::new();
        let mut n = 0;
        loop {
            let r = p.read(4280);
            assert!(!r.more && r.data.len() <= 4280);
            let pk = Packet::decode(&r.data).unwrap();
            let Pdu::Response(resp) = pk.pdu else {
                panic!()
            };
            assert_eq!(pk.header.call_id, 9);
            hints.push((resp.alloc_hint as usize, stub.len()));
            stub.extend_from_slice(&resp.stub);
            n += 1;
            if pk.header.flags & pfc::LAST_FRAG != 0 {
                break;
            }
        }
        assert!(n > 3);
        // alloc_hint: the stub bytes still to come, this fragment's included.
        for (hint, before) in hints {
            assert_eq!(hint, stub.len() - before);
        }
        let e = ShareEnumResponse::decode(&stub).unwrap();
        assert_eq!(e.entries.len(), 200);
        assert_eq!(e.entries[199].netname.as_deref(), Some("share199"));
        assert_eq!(e.entries[5].path.as_deref(), Some(""));
        assert_eq!(p.pending_output(), 0);
    }

    #[test]
    fn message_mode_partial_reads_and_broken() {
        let mut p = SrvsvcPipe::new(shares(), 7);
        let r = p.transceive(&bind_bytes(vec![srvsvc_ctx(0)]), 10).unwrap();
        assert!(r.more);
        assert_eq!(r.data.len(), 10);
        let rest = p.read(1000);
        assert!(!rest.more);
        let mut all = r.data;
        all.extend(rest.data);
        assert!(matches!(Packet::decode(&all).unwrap().pdu, Pdu::BindAck(_)));
        // A request before... a garbage header breaks the pipe.
        assert_eq!(p.write(&[4; 16]), Err(PipeError::Broken));
        assert_eq!(p.write(&[0; 1]), Err(PipeError::Broken));
        // A request on an unbound pipe is a fault.
        let mut q = SrvsvcPipe::new(shares(), 7);
        q.write(&request(1, 15, vec![], 3)).unwrap();
        let Pdu::Fault(f) = answer(&mut q).pdu else {
            panic!()
        };
        assert_eq!(f.status, fault::UNK_IF);
    }
}
