//! Connection-oriented DCE/RPC PDUs (C706 chapter 12, with the [MS-RPCE] §2.2.2 additions)
//! as they cross an SMB named pipe, unauthenticated: bind, bind_ack, bind_nak,
//! alter_context and its response, request, response and fault. [`srvsvc`] answers the
//! share-listing calls on `\PIPE\srvsvc` through a small pipe object.
//!
//! Every PDU is little-endian with the NDR character/float formats of drep `10 00 00 00`;
//! a PDU in another data representation is answered with a fault, not guessed at.

pub mod ndr;
pub mod srvsvc;

use crate::error::{DecodeError, DecodeResult};
use crate::wire::run;
use bytes::BufMut;
use nom::bytes::complete::take;
use nom::number::complete::{le_u16, le_u32, le_u8};
use nom::sequence::tuple;

/// PDU types (C706 §12.6.4).
pub mod ptype {
    /// request.
    pub const REQUEST: u8 = 0;
    /// response.
    pub const RESPONSE: u8 = 2;
    /// fault.
    pub const FAULT: u8 = 3;
    /// bind.
    pub const BIND: u8 = 11;
    /// bind_ack.
    pub const BIND_ACK: u8 = 12;
    /// bind_nak.
    pub const BIND_NAK: u8 = 13;
    /// alter_context.
    pub const ALTER_CONTEXT: u8 = 14;
    /// alter_context_resp.
    pub const ALTER_CONTEXT_RESP: u8 = 15;
    /// auth3 ([MS-RPCE] §2.2.2.10).
    pub const AUTH3: u8 = 16;
    /// shutdown.
    pub const SHUTDOWN: u8 = 17;
    /// co_cancel.
    pub const CO_CANCEL: u8 = 18;
    /// orphaned.
    pub const ORPHANED: u8 = 19;
}

/// pfc_flags (C706 §12.6.3.1).
pub mod pfc {
    /// PFC_FIRST_FRAG.
    pub const FIRST_FRAG: u8 = 0x01;
    /// PFC_LAST_FRAG.
    pub const LAST_FRAG: u8 = 0x02;
    /// PFC_PENDING_CANCEL.
    pub const PENDING_CANCEL: u8 = 0x04;
    /// PFC_SUPPORT_HEADER_SIGN ([MS-RPCE] §2.2.2.3), in bind/bind_ack.
    pub const SUPPORT_HEADER_SIGN: u8 = 0x04;
    /// PFC_CONC_MPX.
    pub const CONC_MPX: u8 = 0x10;
    /// PFC_DID_NOT_EXECUTE.
    pub const DID_NOT_EXECUTE: u8 = 0x20;
    /// PFC_MAYBE.
    pub const MAYBE: u8 = 0x40;
    /// PFC_OBJECT_UUID.
    pub const OBJECT_UUID: u8 = 0x80;
}

/// Fault status codes (C706 Appendix E, [MS-RPCE] §3.1.1.5.5).
pub mod fault {
    /// nca_s_op_rng_error: the opnum is not in the interface.
    pub const OP_RNG_ERROR: u32 = 0x1C01_0002;
    /// nca_s_unk_if: the presentation context is unknown.
    pub const UNK_IF: u32 = 0x1C01_0003;
    /// nca_proto_error: the PDU breaks the protocol.
    pub const PROTO_ERROR: u32 = 0x1C01_000B;
    /// The stub data could not be unmarshalled: RPC_X_BAD_STUB_DATA (0x000006F7), the
    /// nca_s_fault_ndr value Windows and Samba send.
    pub const NDR: u32 = 0x0000_06F7;
    /// A resource limit refused the call (an oversized request): DCERPC_FAULT_OTHER, as
    /// Samba sends it.
    pub const OTHER: u32 = 0x0000_0001;
}

/// Presentation context results and provider reasons (C706 §12.6.3.1, [MS-RPCE] §2.2.2.4).
pub mod result {
    /// acceptance.
    pub const ACCEPTANCE: u16 = 0;
    /// user_rejection.
    pub const USER_REJECTION: u16 = 1;
    /// provider_rejection.
    pub const PROVIDER_REJECTION: u16 = 2;
    /// negotiate_ack: the answer to a bind time feature negotiation context ([MS-RPCE]
    /// §3.3.1.5.3); the reason field then holds the accepted feature bits.
    pub const NEGOTIATE_ACK: u16 = 3;
    /// reason_not_specified.
    pub const REASON_NOT_SPECIFIED: u16 = 0;
    /// abstract_syntax_not_supported.
    pub const ABSTRACT_SYNTAX_NOT_SUPPORTED: u16 = 1;
    /// proposed_transfer_syntaxes_not_supported.
    pub const PROPOSED_TRANSFER_SYNTAXES_NOT_SUPPORTED: u16 = 2;
    /// local_limit_exceeded.
    pub const LOCAL_LIMIT_EXCEEDED: u16 = 3;
}

/// A presentation syntax: an interface or transfer syntax UUID (in its little-endian wire
/// form) and version (major in the low 16 bits, minor in the high).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SyntaxId {
    /// The UUID's 16 wire bytes.
    pub uuid: [u8; 16],
    /// if_version: major | minor << 16.
    pub version: u32,
}

/// A UUID's wire bytes from its string form's fields: the first three fields are
/// little-endian on the wire, the last two bytes in order.
pub const fn uuid(a: u32, b: u16, c: u16, d: [u8; 8]) -> [u8; 16] {
    let a = a.to_le_bytes();
    let b = b.to_le_bytes();
    let c = c.to_le_bytes();
    [
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d[0], d[1], d[2], d[3], d[4], d[5], d[6],
        d[7],
    ]
}

/// The NDR 2.0 transfer syntax 8a885d04-1ceb-11c9-9fe8-08002b104860 version 2.
pub const NDR20: SyntaxId = SyntaxId {
    uuid: uuid(
        0x8a88_5d04,
        0x1ceb,
        0x11c9,
        [0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48, 0x60],
    ),
    version: 2,
};

/// NDR64 71710533-beba-4937-8319-b5dbef9ccc36 version 1: not supported (refused with
/// proposed_transfer_syntaxes_not_supported).
pub const NDR64: SyntaxId = SyntaxId {
    uuid: uuid(
        0x7171_0533,
        0xbeba,
        0x4937,
        [0x83, 0x19, 0xb5, 0xdb, 0xef, 0x9c, 0xcc, 0x36],
    ),
    version: 1,
};

/// The bind time feature negotiation pseudo transfer syntax ([MS-RPCE] §3.3.1.5.3):
/// 6cb71c2c-9812-4540-xxxx-000000000000 version 1, where the first two bytes of the fourth
/// group carry the client's feature bits.
const BIND_TIME_FEATURE_UUID: [u8; 16] = uuid(0x6cb7_1c2c, 0x9812, 0x4540, [0; 8]);

/// The feature bits of a bind time feature negotiation transfer syntax, or `None` when
/// `s` is not one.
pub fn bind_time_features(s: &SyntaxId) -> Option<u16> {
    if s.uuid[..8] == BIND_TIME_FEATURE_UUID[..8] && s.uuid[10..] == [0; 6] && s.version == 1 {
        Some(u16::from_le_bytes([s.uuid[8], s.uuid[9]]))
    } else {
        None
    }
}

/// Bytes of the common PDU header (C706 §12.6.3.1).
pub const HEADER_LEN: usize = 16;
/// The only data representation accepted and sent: little-endian integers, ASCII, IEEE
/// floats (C706 §14.1).
pub const DREP_LE: [u8; 4] = [0x10, 0, 0, 0];

/// The common header of every connection-oriented PDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PduHeader {
    /// PTYPE ([`ptype`]).
    pub ptype: u8,
    /// pfc_flags ([`pfc`]).
    pub flags: u8,
    /// packed_drep.
    pub drep: [u8; 4],
    /// frag_length: the whole PDU.
    pub frag_length: u16,
    /// auth_length.
    pub auth_length: u16,
    /// call_id.
    pub call_id: u32,
}

impl PduHeader {
    /// Reads the header: version 5.0 only (C706 §12.6.3.1: rpc_vers 5, rpc_vers_minor 0
    /// or 1), frag_length at least the header.
    pub fn decode(b: &[u8]) -> DecodeResult<PduHeader> {
        let what = "DCE/RPC header";
        let (_, (vers, minor, ptype, flags, drep, frag_length, auth_length, call_id)) = run(
            what,
            b,
            tuple((
                le_u8,
                le_u8,
                le_u8,
                le_u8,
                take(4usize),
                le_u16,
                le_u16,
                le_u32,
            )),
        )?;
        if vers != 5 || minor > 1 || (frag_length as usize) < HEADER_LEN {
            return Err(DecodeError::Invalid { what });
        }
        Ok(PduHeader {
            ptype,
            flags,
            drep: [drep[0], drep[1], drep[2], drep[3]],
            frag_length,
            auth_length,
            call_id,
        })
    }

    fn encode(&self, out: &mut impl BufMut) {
        out.put_u8(5);
        out.put_u8(0);
        out.put_u8(self.ptype);
        out.put_u8(self.flags);
        out.put_slice(&self.drep);
        out.put_u16_le(self.frag_length);
        out.put_u16_le(self.auth_length);
        out.put_u32_le(self.call_id);
    }
}

/// One presentation context of a bind or alter_context (p_cont_elem_t).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextElement {
    /// p_cont_id.
    pub context_id: u16,
    /// abstract_syntax: the interface.
    pub abstract_syntax: SyntaxId,
    /// transfer_syntaxes offered.
    pub transfer_syntaxes: Vec<SyntaxId>,
}

/// A bind or alter_context body (C706 §12.6.4.3, §12.6.4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    /// max_xmit_frag: the largest fragment the client sends.
    pub max_xmit_frag: u16,
    /// max_recv_frag: the largest fragment the client accepts.
    pub max_recv_frag: u16,
    /// assoc_group_id.
    pub assoc_group_id: u32,
    /// The presentation contexts.
    pub contexts: Vec<ContextElement>,
}

/// One p_result_t of a bind_ack or alter_context_resp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextResult {
    /// result ([`result`]).
    pub result: u16,
    /// reason (or the feature bits for negotiate_ack).
    pub reason: u16,
    /// transfer_syntax accepted (zero when rejected).
    pub transfer_syntax: SyntaxId,
}

/// A bind_ack or alter_context_resp body (C706 §12.6.4.4, §12.6.4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindAck {
    /// max_xmit_frag.
    pub max_xmit_frag: u16,
    /// max_recv_frag.
    pub max_recv_frag: u16,
    /// assoc_group_id.
    pub assoc_group_id: u32,
    /// sec_addr: the secondary address with its NUL, e.g. `\PIPE\srvsvc` (empty in an
    /// alter_context_resp).
    pub secondary_address: Vec<u8>,
    /// The results, one per context, in order.
    pub results: Vec<ContextResult>,
}

/// A bind_nak body (C706 §12.6.4.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindNak {
    /// provider_reject_reason.
    pub reason: u16,
    /// Supported protocol versions (major, minor).
    pub versions: Vec<(u8, u8)>,
}

/// A request body (C706 §12.6.4.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// alloc_hint.
    pub alloc_hint: u32,
    /// p_cont_id.
    pub context_id: u16,
    /// opnum.
    pub opnum: u16,
    /// The object UUID when PFC_OBJECT_UUID is set.
    pub object: Option<[u8; 16]>,
    /// The stub data of this fragment (an auth trailer, if any, removed).
    pub stub: Vec<u8>,
}

/// A response body (C706 §12.6.4.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// alloc_hint.
    pub alloc_hint: u32,
    /// p_cont_id.
    pub context_id: u16,
    /// cancel_count.
    pub cancel_count: u8,
    /// The stub data of this fragment.
    pub stub: Vec<u8>,
}

/// A fault body (C706 §12.6.4.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// alloc_hint.
    pub alloc_hint: u32,
    /// p_cont_id.
    pub context_id: u16,
    /// cancel_count.
    pub cancel_count: u8,
    /// status ([`fault`]).
    pub status: u32,
}

/// A PDU body by type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pdu {
    /// bind.
    Bind(Bind),
    /// alter_context.
    AlterContext(Bind),
    /// bind_ack.
    BindAck(BindAck),
    /// alter_context_resp.
    AlterContextResp(BindAck),
    /// bind_nak.
    BindNak(BindNak),
    /// request.
    Request(Request),
    /// response.
    Response(Response),
    /// fault.
    Fault(Fault),
    /// Any other type (auth3, shutdown, co_cancel, orphaned, ...), body kept.
    Other(Vec<u8>),
}

/// A whole PDU: header and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The header; `frag_length` and `ptype` are recomputed by [`Packet::encode`].
    pub header: PduHeader,
    /// The body.
    pub pdu: Pdu,
}

/// Most presentation contexts decoded from one bind.
pub const MAX_CONTEXTS: usize = 64;
/// Most transfer syntaxes decoded from one context.
pub const MAX_TRANSFER_SYNTAXES: usize = 16;

fn syntax(b: &[u8]) -> DecodeResult<(&[u8], SyntaxId)> {
    let (rest, (u, v)) = run("syntax id", b, tuple((take(16usize), le_u32)))?;
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(u);
    Ok((rest, SyntaxId { uuid, version: v }))
}

fn put_syntax(out: &mut impl BufMut, s: &SyntaxId) {
    out.put_slice(&s.uuid);
    out.put_u32_le(s.version);
}

impl Bind {
    fn decode(b: &[u8]) -> DecodeResult<Bind> {
        let what = "bind";
        let (mut rest, (xmit, recv, group, n, _, _)) = run(
            what,
            b,
            tuple((le_u16, le_u16, le_u32, le_u8, le_u8, le_u16)),
        )?;
        crate::wire::limit(what, n as usize, MAX_CONTEXTS)?;
        let mut contexts = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let (r, (id, nt, _)) = run(what, rest, tuple((le_u16, le_u8, le_u8)))?;
            crate::wire::limit(what, nt as usize, MAX_TRANSFER_SYNTAXES)?;
            let (mut r, abs) = syntax(r)?;
            let mut ts = Vec::with_capacity(nt as usize);
            for _ in 0..nt {
                let (r2, t) = syntax(r)?;
                ts.push(t);
                r = r2;
            }
            contexts.push(ContextElement {
                context_id: id,
                abstract_syntax: abs,
                transfer_syntaxes: ts,
            });
            rest = r;
        }
        Ok(Bind {
            max_xmit_frag: xmit,
            max_recv_frag: recv,
            assoc_group_id: group,
            contexts,
        })
    }

    fn encode(&self, out: &mut impl BufMut) {
        out.put_u16_le(self.max_xmit_frag);
        out.put_u16_le(self.max_recv_frag);
        out.put_u32_le(self.assoc_group_id);
        out.put_u8(self.contexts.len() as u8);
        out.put_u8(0);
        out.put_u16_le(0);
        for c in &self.contexts {
            out.put_u16_le(c.context_id);
            out.put_u8(c.transfer_syntaxes.len() as u8);
            out.put_u8(0);
            put_syntax(out, &c.abstract_syntax);
            for t in &c.transfer_syntaxes {
                put_syntax(out, t);
            }
        }
    }
}

impl BindAck {
    fn decode(b: &[u8]) -> DecodeResult<BindAck> {
        let what = "bind_ack";
        let (rest, (xmit, recv, group, alen)) =
            run(what, b, tuple((le_u16, le_u16, le_u32, le_u16)))?;
        let (rest, addr) = run(what, rest, take(alen as usize))?;
        // Pad to 4 bytes from the PDU start: the header (16) and 10 bytes before here.
        let pad = (4 - (HEADER_LEN + 10 + alen as usize) % 4) % 4;
        let (mut rest, (_, n, _, _)) = run(what, rest, tuple((take(pad), le_u8, le_u8, le_u16)))?;
        crate::wire::limit(what, n as usize, MAX_CONTEXTS)?;
        let mut results = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let (r, (res, reason)) = run(what, rest, tuple((le_u16, le_u16)))?;
            let (r, t) = syntax(r)?;
            results.push(ContextResult {
                result: res,
                reason,
                transfer_syntax: t,
            });
            rest = r;
        }
        Ok(BindAck {
            max_xmit_frag: xmit,
            max_recv_frag: recv,
            assoc_group_id: group,
            secondary_address: addr.to_vec(),
            results,
        })
    }

    fn encode(&self, out: &mut impl BufMut) {
        out.put_u16_le(self.max_xmit_frag);
        out.put_u16_le(self.max_recv_frag);
        out.put_u32_le(self.assoc_group_id);
        out.put_u16_le(self.secondary_address.len() as u16);
        out.put_slice(&self.secondary_address);
        let pad = (4 - (HEADER_LEN + 10 + self.secondary_address.len()) % 4) % 4;
        out.put_bytes(0, pad);
        out.put_u8(self.results.len() as u8);
        out.put_u8(0);
        out.put_u16_le(0);
        for r in &self.results {
            out.put_u16_le(r.result);
            out.put_u16_le(r.reason);
            put_syntax(out, &r.transfer_syntax);
        }
    }
}

impl Packet {
    /// Decodes one whole PDU (`b` holds at least `frag_length` bytes; the rest is ignored).
    /// Only drep `10 00 00 00` bodies are decoded; others are [`DecodeError::Invalid`].
    pub fn decode(b: &[u8]) -> DecodeResult<Packet> {
        let header = PduHeader::decode(b)?;
        let what = "DCE/RPC PDU";
        let whole = b
            .get(..header.frag_length as usize)
            .ok_or(DecodeError::Truncated { what })?;
        if header.drep[0] & 0xF0 != 0x10 {
            return Err(DecodeError::Invalid { what: "drep" });
        }
        // The auth trailer (sec_trailer + auth_value) closes the PDU when auth_length > 0.
        let auth = if header.auth_length > 0 {
            header.auth_length as usize + 8
        } else {
            0
        };
        let body_end = whole
            .len()
            .checked_sub(auth)
            .filter(|&e| e >= HEADER_LEN)
            .ok_or(DecodeError::Invalid { what })?;
        let body = &whole[HEADER_LEN..body_end];
        let pdu = match header.ptype {
            ptype::BIND => Pdu::Bind(Bind::decode(body)?),
            ptype::ALTER_CONTEXT => Pdu::AlterContext(Bind::decode(body)?),
            ptype::BIND_ACK => Pdu::BindAck(BindAck::decode(body)?),
            ptype::ALTER_CONTEXT_RESP => Pdu::AlterContextResp(BindAck::decode(body)?),
            ptype::BIND_NAK => {
                let (rest, (reason, n)) = run(what, body, tuple((le_u16, le_u8)))?;
                let (_, v) = run(what, rest, take(2 * n as usize))?;
                Pdu::BindNak(BindNak {
                    reason,
                    versions: v.chunks_exact(2).map(|c| (c[0], c[1])).collect(),
                })
            }
            ptype::REQUEST => {
                let (rest, (hint, ctx, opnum)) = run(what, body, tuple((le_u32, le_u16, le_u16)))?;
                let (rest, object) = if header.flags & pfc::OBJECT_UUID != 0 {
                    let (r, o) = run(what, rest, take(16usize))?;
                    let mut a = [0u8; 16];
                    a.copy_from_slice(o);
                    (r, Some(a))
                } else {
                    (rest, None)
                };
                Pdu::Request(Request {
                    alloc_hint: hint,
                    context_id: ctx,
                    opnum,
                    object,
                    stub: rest.to_vec(),
                })
            }
            ptype::RESPONSE => {
                let (rest, (hint, ctx, cancel, _)) =
                    run(what, body, tuple((le_u32, le_u16, le_u8, le_u8)))?;
                Pdu::Response(Response {
                    alloc_hint: hint,
                    context_id: ctx,
                    cancel_count: cancel,
                    stub: rest.to_vec(),
                })
            }
            ptype::FAULT => {
                let (_, (hint, ctx, cancel, _, status)) =
                    run(what, body, tuple((le_u32, le_u16, le_u8, le_u8, le_u32)))?;
                Pdu::Fault(Fault {
                    alloc_hint: hint,
                    context_id: ctx,
                    cancel_count: cancel,
                    status,
                })
            }
            _ => Pdu::Other(body.to_vec()),
        };
        Ok(Packet { header, pdu })
    }

    /// The PDU's type number.
    pub fn ptype(&self) -> u8 {
        match &self.pdu {
            Pdu::Bind(_) => ptype::BIND,
            Pdu::AlterContext(_) => ptype::ALTER_CONTEXT,
            Pdu::BindAck(_) => ptype::BIND_ACK,
            Pdu::AlterContextResp(_) => ptype::ALTER_CONTEXT_RESP,
            Pdu::BindNak(_) => ptype::BIND_NAK,
            Pdu::Request(_) => ptype::REQUEST,
            Pdu::Response(_) => ptype::RESPONSE,
            Pdu::Fault(_) => ptype::FAULT,
            Pdu::Other(_) => self.header.ptype,
        }
    }

    /// Encodes the PDU with frag_length computed, auth_length 0 and drep little-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        match &self.pdu {
            Pdu::Bind(b) | Pdu::AlterContext(b) => b.encode(&mut body),
            Pdu::BindAck(a) | Pdu::AlterContextResp(a) => a.encode(&mut body),
            Pdu::BindNak(n) => {
                body.put_u16_le(n.reason);
                body.put_u8(n.versions.len() as u8);
                for (a, b) in &n.versions {
                    body.put_u8(*a);
                    body.put_u8(*b);
                }
            }
            Pdu::Request(r) => {
                body.put_u32_le(r.alloc_hint);
                body.put_u16_le(r.context_id);
                body.put_u16_le(r.opnum);
                if let Some(o) = &r.object {
                    body.put_slice(o);
                }
                body.put_slice(&r.stub);
            }
            Pdu::Response(r) => {
                body.put_u32_le(r.alloc_hint);
                body.put_u16_le(r.context_id);
                body.put_u8(r.cancel_count);
                body.put_u8(0);
                body.put_slice(&r.stub);
            }
            Pdu::Fault(f) => {
                body.put_u32_le(f.alloc_hint);
                body.put_u16_le(f.context_id);
                body.put_u8(f.cancel_count);
                body.put_u8(0);
                body.put_u32_le(f.status);
                body.put_u32_le(0);
            }
            Pdu::Other(b) => body.put_slice(b),
        }
        let mut flags = self.header.flags;
        if let Pdu::Request(r) = &self.pdu {
            if r.object.is_some() {
                flags |= pfc::OBJECT_UUID;
            } else {
                flags &= !pfc::OBJECT_UUID;
            }
        }
        let mut out = Vec::with_capacity(HEADER_LEN + body.len());
        PduHeader {
            ptype: self.ptype(),
            flags,
            drep: DREP_LE,
            frag_length: (HEADER_LEN + body.len()).min(u16::MAX as usize) as u16,
            auth_length: 0,
            call_id: self.header.call_id,
        }
        .encode(&mut out);
        out.extend_from_slice(&body);
        out
    }
}
