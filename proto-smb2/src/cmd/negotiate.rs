//! NEGOTIATE request and response (MS-SMB2 §2.2.3, §2.2.4) with negotiate contexts
//! (§2.2.3.1, §2.2.4.1).
//!
//! Contexts this crate understands are decoded into their own variants: preauth integrity
//! (§2.2.3.1.1), encryption (§2.2.3.1.2) and signing (§2.2.3.1.7). Every other context type
//! (compression, netname, transport, RDMA, ...) is kept as [`NegotiateContext::Other`] with
//! its raw data, so a server skips what it does not support (§3.3.5.4: "the server MUST
//! ignore" unknown context types) and a decode → encode round trip keeps the bytes.

use crate::error::{DecodeError, DecodeResult};
use crate::header::HEADER_LEN;
use crate::wire::{align8, buffer, expect_size, limit, pad8, run};
use bytes::BufMut;
use nom::number::complete::{le_u16, le_u32, le_u64};
use nom::sequence::tuple;

/// Dialect revisions (§2.2.3).
pub mod dialect {
    /// SMB 2.0.2.
    pub const SMB202: u16 = 0x0202;
    /// SMB 2.1.
    pub const SMB210: u16 = 0x0210;
    /// SMB 3.0.
    pub const SMB300: u16 = 0x0300;
    /// SMB 3.0.2.
    pub const SMB302: u16 = 0x0302;
    /// SMB 3.1.1.
    pub const SMB311: u16 = 0x0311;
    /// SMB2 wildcard revision, answered to an SMB1 multi-protocol negotiate (§3.3.5.3.1).
    pub const SMB2_WILDCARD: u16 = 0x02FF;
}

/// SecurityMode bits (§2.2.3).
pub mod security_mode {
    /// Signing is enabled.
    pub const SIGNING_ENABLED: u16 = 0x0001;
    /// Signing is required.
    pub const SIGNING_REQUIRED: u16 = 0x0002;
}

/// Capabilities bits (§2.2.3, §2.2.4).
pub mod capabilities {
    /// DFS.
    pub const DFS: u32 = 0x0000_0001;
    /// Leasing.
    pub const LEASING: u32 = 0x0000_0002;
    /// Multi-credit operations.
    pub const LARGE_MTU: u32 = 0x0000_0004;
    /// Multichannel.
    pub const MULTI_CHANNEL: u32 = 0x0000_0008;
    /// Persistent handles.
    pub const PERSISTENT_HANDLES: u32 = 0x0000_0010;
    /// Directory leasing.
    pub const DIRECTORY_LEASING: u32 = 0x0000_0020;
    /// Encryption (3.0 and 3.0.2 only; 3.1.1 uses the encryption context).
    pub const ENCRYPTION: u32 = 0x0000_0040;
    /// Notifications (3.1.1).
    pub const NOTIFICATIONS: u32 = 0x0000_0080;
}

/// Negotiate context types (§2.2.3.1).
pub mod context_type {
    /// SMB2_PREAUTH_INTEGRITY_CAPABILITIES.
    pub const PREAUTH_INTEGRITY: u16 = 0x0001;
    /// SMB2_ENCRYPTION_CAPABILITIES.
    pub const ENCRYPTION: u16 = 0x0002;
    /// SMB2_COMPRESSION_CAPABILITIES.
    pub const COMPRESSION: u16 = 0x0003;
    /// SMB2_NETNAME_NEGOTIATE_CONTEXT_ID.
    pub const NETNAME: u16 = 0x0005;
    /// SMB2_TRANSPORT_CAPABILITIES.
    pub const TRANSPORT: u16 = 0x0006;
    /// SMB2_RDMA_TRANSFORM_CAPABILITIES.
    pub const RDMA_TRANSFORM: u16 = 0x0007;
    /// SMB2_SIGNING_CAPABILITIES.
    pub const SIGNING: u16 = 0x0008;
}

/// HashAlgorithms of the preauth integrity context (§2.2.3.1.1): SHA-512.
pub const HASH_SHA512: u16 = 0x0001;

/// Cipher ids (§2.2.3.1.2).
pub mod cipher {
    /// AES-128-CCM.
    pub const AES128_CCM: u16 = 0x0001;
    /// AES-128-GCM.
    pub const AES128_GCM: u16 = 0x0002;
    /// AES-256-CCM.
    pub const AES256_CCM: u16 = 0x0003;
    /// AES-256-GCM.
    pub const AES256_GCM: u16 = 0x0004;
}

/// Signing algorithm ids (§2.2.3.1.7).
pub mod signing_algorithm {
    /// HMAC-SHA256.
    pub const HMAC_SHA256: u16 = 0x0000;
    /// AES-CMAC.
    pub const AES_CMAC: u16 = 0x0001;
    /// AES-GMAC.
    pub const AES_GMAC: u16 = 0x0002;
}

/// Most dialects one request may list.
pub const MAX_DIALECTS: usize = 64;
/// Most negotiate contexts one message may carry.
pub const MAX_CONTEXTS: usize = 32;
/// Most ids (hash algorithms, ciphers, signing algorithms) one context may list.
pub const MAX_CONTEXT_IDS: usize = 32;
/// Longest preauth salt accepted (Windows sends 32 bytes).
pub const MAX_SALT: usize = 256;

const REQ_WHAT: &str = "NEGOTIATE request";
const RESP_WHAT: &str = "NEGOTIATE response";
const CTX_WHAT: &str = "negotiate context";

/// A negotiate context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NegotiateContext {
    /// SMB2_PREAUTH_INTEGRITY_CAPABILITIES (§2.2.3.1.1).
    PreauthIntegrity {
        /// HashAlgorithms.
        hash_algorithms: Vec<u16>,
        /// Salt.
        salt: Vec<u8>,
    },
    /// SMB2_ENCRYPTION_CAPABILITIES (§2.2.3.1.2): in a response, exactly one cipher.
    Encryption {
        /// Ciphers, in the client's order of preference.
        ciphers: Vec<u16>,
    },
    /// SMB2_SIGNING_CAPABILITIES (§2.2.3.1.7): in a response, exactly one algorithm.
    Signing {
        /// SigningAlgorithms, in the client's order of preference.
        algorithms: Vec<u16>,
    },
    /// Any other context, kept raw (the server ignores what it does not know, §3.3.5.4).
    Other {
        /// ContextType.
        context_type: u16,
        /// Data.
        data: Vec<u8>,
    },
}

fn id_list<'a>(what: &'static str, data: &'a [u8]) -> DecodeResult<(Vec<u16>, &'a [u8])> {
    let (rest, count) = run(what, data, le_u16)?;
    let count = usize::from(count);
    limit(what, count, MAX_CONTEXT_IDS)?;
    let (rest, ids) = run(what, rest, nom::multi::count(le_u16, count))?;
    Ok((ids, rest))
}

impl NegotiateContext {
    /// The ContextType.
    pub fn context_type(&self) -> u16 {
        match self {
            NegotiateContext::PreauthIntegrity { .. } => context_type::PREAUTH_INTEGRITY,
            NegotiateContext::Encryption { .. } => context_type::ENCRYPTION,
            NegotiateContext::Signing { .. } => context_type::SIGNING,
            NegotiateContext::Other { context_type, .. } => *context_type,
        }
    }

    fn decode_data(ty: u16, data: &[u8]) -> DecodeResult<NegotiateContext> {
        Ok(match ty {
            context_type::PREAUTH_INTEGRITY => {
                let (rest, (hcount, slen)) = run(CTX_WHAT, data, tuple((le_u16, le_u16)))?;
                let (hcount, slen) = (usize::from(hcount), usize::from(slen));
                // §3.3.5.4: HashAlgorithmCount 0 is STATUS_INVALID_PARAMETER.
                if hcount == 0 {
                    return Err(DecodeError::Invalid {
                        what: "HashAlgorithmCount",
                    });
                }
                limit("HashAlgorithmCount", hcount, MAX_CONTEXT_IDS)?;
                limit("SaltLength", slen, MAX_SALT)?;
                let (rest, hash_algorithms) =
                    run(CTX_WHAT, rest, nom::multi::count(le_u16, hcount))?;
                let (_, salt) = run(CTX_WHAT, rest, nom::bytes::complete::take(slen))?;
                NegotiateContext::PreauthIntegrity {
                    hash_algorithms,
                    salt: salt.to_vec(),
                }
            }
            context_type::ENCRYPTION => {
                let (ciphers, _) = id_list("CipherCount", data)?;
                if ciphers.is_empty() {
                    return Err(DecodeError::Invalid {
                        what: "CipherCount",
                    });
                }
                NegotiateContext::Encryption { ciphers }
            }
            context_type::SIGNING => {
                let (algorithms, _) = id_list("SigningAlgorithmCount", data)?;
                if algorithms.is_empty() {
                    return Err(DecodeError::Invalid {
                        what: "SigningAlgorithmCount",
                    });
                }
                NegotiateContext::Signing { algorithms }
            }
            _ => NegotiateContext::Other {
                context_type: ty,
                data: data.to_vec(),
            },
        })
    }

    fn data_len(&self) -> usize {
        match self {
            NegotiateContext::PreauthIntegrity {
                hash_algorithms,
                salt,
            } => 4 + 2 * hash_algorithms.len() + salt.len(),
            NegotiateContext::Encryption { ciphers: ids }
            | NegotiateContext::Signing { algorithms: ids } => 2 + 2 * ids.len(),
            NegotiateContext::Other { data, .. } => data.len(),
        }
    }

    /// Writes the context (header and data, no trailing padding).
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u16_le(self.context_type());
        out.put_u16_le(self.data_len() as u16);
        out.put_u32_le(0);
        match self {
            NegotiateContext::PreauthIntegrity {
                hash_algorithms,
                salt,
            } => {
                out.put_u16_le(hash_algorithms.len() as u16);
                out.put_u16_le(salt.len() as u16);
                for h in hash_algorithms {
                    out.put_u16_le(*h);
                }
                out.put_slice(salt);
            }
            NegotiateContext::Encryption { ciphers: ids }
            | NegotiateContext::Signing { algorithms: ids } => {
                out.put_u16_le(ids.len() as u16);
                for i in ids {
                    out.put_u16_le(*i);
                }
            }
            NegotiateContext::Other { data, .. } => out.put_slice(data),
        }
    }
}

/// Decodes `count` contexts starting at `offset` (from the header start) of `msg`. Each
/// context after the first starts on an 8-byte boundary (§2.2.3.1).
fn decode_contexts(
    msg: &[u8],
    offset: usize,
    count: usize,
    min_offset: usize,
) -> DecodeResult<Vec<NegotiateContext>> {
    limit("NegotiateContextCount", count, MAX_CONTEXTS)?;
    if count == 0 {
        return Ok(Vec::new());
    }
    if offset % 8 != 0 {
        return Err(DecodeError::Misaligned {
            what: "NegotiateContextOffset",
        });
    }
    if offset < min_offset || offset > msg.len() {
        return Err(DecodeError::OutOfBounds {
            what: "NegotiateContextOffset",
        });
    }
    let mut out = Vec::with_capacity(count);
    let mut pos = offset;
    for i in 0..count {
        if i > 0 {
            pos = align8(pos);
        }
        let rest = msg
            .get(pos..)
            .ok_or(DecodeError::Truncated { what: CTX_WHAT })?;
        let (rest, (ty, len, _reserved)) = run(CTX_WHAT, rest, tuple((le_u16, le_u16, le_u32)))?;
        let (_, data) = run(CTX_WHAT, rest, nom::bytes::complete::take(len))?;
        out.push(NegotiateContext::decode_data(ty, data)?);
        pos += 8 + usize::from(len);
    }
    Ok(out)
}

/// Writes contexts, each after the first padded to 8 bytes; `written` is the message
/// length so far (header included) and must already be 8-aligned.
fn encode_contexts(out: &mut impl BufMut, mut written: usize, contexts: &[NegotiateContext]) {
    for (i, c) in contexts.iter().enumerate() {
        if i > 0 {
            written = pad8(out, written);
        }
        c.encode(out);
        written += 8 + c.data_len();
    }
}

/// NEGOTIATE request (§2.2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiateRequest {
    /// SecurityMode.
    pub security_mode: u16,
    /// Capabilities.
    pub capabilities: u32,
    /// ClientGuid.
    pub client_guid: [u8; 16],
    /// Dialects offered.
    pub dialects: Vec<u16>,
    /// ClientStartTime: the 8 bytes that hold the context offset and count when 3.1.1 is
    /// offered; kept only when it is not (it MUST be 0 there, §2.2.3).
    pub client_start_time: u64,
    /// Negotiate contexts (only when 3.1.1 is among the dialects).
    pub contexts: Vec<NegotiateContext>,
}

impl NegotiateRequest {
    /// Decodes the request from a whole message (`msg` starts at the SMB2 header).
    pub fn decode(msg: &[u8]) -> DecodeResult<Self> {
        let body = msg
            .get(HEADER_LEN..)
            .ok_or(DecodeError::Truncated { what: REQ_WHAT })?;
        let (rest, (size, dcount, security_mode, _reserved, capabilities)) = run(
            REQ_WHAT,
            body,
            tuple((le_u16, le_u16, le_u16, le_u16, le_u32)),
        )?;
        expect_size(REQ_WHAT, size, 36)?;
        let (rest, guid) = run(REQ_WHAT, rest, nom::bytes::complete::take(16usize))?;
        let (rest, (ctx_offset, ctx_count, _reserved2)) =
            run(REQ_WHAT, rest, tuple((le_u32, le_u16, le_u16)))?;
        let dcount = usize::from(dcount);
        // §3.3.5.3.1: DialectCount 0 is STATUS_INVALID_PARAMETER.
        if dcount == 0 {
            return Err(DecodeError::Invalid {
                what: "DialectCount",
            });
        }
        limit("DialectCount", dcount, MAX_DIALECTS)?;
        let (_, dialects) = run(REQ_WHAT, rest, nom::multi::count(le_u16, dcount))?;
        let mut client_guid = [0u8; 16];
        client_guid.copy_from_slice(guid);
        let has_311 = dialects.contains(&dialect::SMB311);
        let (client_start_time, contexts) = if has_311 {
            let min = HEADER_LEN + 36 + 2 * dcount;
            let contexts = decode_contexts(msg, ctx_offset as usize, usize::from(ctx_count), min)?;
            (0, contexts)
        } else {
            let raw = &body[28..36];
            let (_, t) = run(REQ_WHAT, raw, le_u64)?;
            (t, Vec::new())
        };
        Ok(NegotiateRequest {
            security_mode,
            capabilities,
            client_guid,
            dialects,
            client_start_time,
            contexts,
        })
    }

    /// Writes the body (the header is written separately, just before).
    pub fn encode(&self, out: &mut impl BufMut) {
        let has_311 = self.dialects.contains(&dialect::SMB311);
        let dialects_end = HEADER_LEN + 36 + 2 * self.dialects.len();
        let ctx_offset = if has_311 && !self.contexts.is_empty() {
            align8(dialects_end)
        } else {
            0
        };
        out.put_u16_le(36);
        out.put_u16_le(self.dialects.len() as u16);
        out.put_u16_le(self.security_mode);
        out.put_u16_le(0);
        out.put_u32_le(self.capabilities);
        out.put_slice(&self.client_guid);
        if has_311 {
            out.put_u32_le(ctx_offset as u32);
            out.put_u16_le(self.contexts.len() as u16);
            out.put_u16_le(0);
        } else {
            out.put_u64_le(self.client_start_time);
        }
        for d in &self.dialects {
            out.put_u16_le(*d);
        }
        if has_311 && !self.contexts.is_empty() {
            let written = pad8(out, dialects_end);
            encode_contexts(out, written, &self.contexts);
        }
    }
}

/// NEGOTIATE response (§2.2.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiateResponse {
    /// SecurityMode.
    pub security_mode: u16,
    /// DialectRevision: the dialect chosen.
    pub dialect: u16,
    /// ServerGuid.
    pub server_guid: [u8; 16],
    /// Capabilities.
    pub capabilities: u32,
    /// MaxTransactSize.
    pub max_transact_size: u32,
    /// MaxReadSize.
    pub max_read_size: u32,
    /// MaxWriteSize.
    pub max_write_size: u32,
    /// SystemTime (FILETIME).
    pub system_time: u64,
    /// ServerStartTime (FILETIME, 0 in practice).
    pub server_start_time: u64,
    /// The security buffer: the server's SPNEGO NegTokenInit (see [`crate::auth::spnego`]).
    pub security_buffer: Vec<u8>,
    /// Negotiate contexts (only with dialect 3.1.1).
    pub contexts: Vec<NegotiateContext>,
}

/// Offset of the security buffer in a NEGOTIATE response (header + 64-byte fixed part).
const RESP_BUFFER_OFFSET: usize = HEADER_LEN + 64;

impl NegotiateResponse {
    /// Decodes the response from a whole message.
    pub fn decode(msg: &[u8]) -> DecodeResult<Self> {
        let body = msg
            .get(HEADER_LEN..)
            .ok_or(DecodeError::Truncated { what: RESP_WHAT })?;
        let (rest, (size, security_mode, dialect, ctx_count)) =
            run(RESP_WHAT, body, tuple((le_u16, le_u16, le_u16, le_u16)))?;
        expect_size(RESP_WHAT, size, 65)?;
        let (rest, guid) = run(RESP_WHAT, rest, nom::bytes::complete::take(16usize))?;
        let (_, f) = run(
            RESP_WHAT,
            rest,
            tuple((
                le_u32, le_u32, le_u32, le_u32, le_u64, le_u64, le_u16, le_u16, le_u32,
            )),
        )?;
        let (capabilities, max_transact_size, max_read_size, max_write_size) = (f.0, f.1, f.2, f.3);
        let (system_time, server_start_time, sec_off, sec_len, ctx_offset) =
            (f.4, f.5, f.6, f.7, f.8);
        let security_buffer = buffer(
            "SecurityBuffer",
            msg,
            usize::from(sec_off),
            usize::from(sec_len),
            RESP_BUFFER_OFFSET,
        )?
        .to_vec();
        let contexts = if dialect == dialect::SMB311 {
            decode_contexts(
                msg,
                ctx_offset as usize,
                usize::from(ctx_count),
                RESP_BUFFER_OFFSET,
            )?
        } else {
            Vec::new()
        };
        let mut server_guid = [0u8; 16];
        server_guid.copy_from_slice(guid);
        Ok(NegotiateResponse {
            security_mode,
            dialect,
            server_guid,
            capabilities,
            max_transact_size,
            max_read_size,
            max_write_size,
            system_time,
            server_start_time,
            security_buffer,
            contexts,
        })
    }

    /// Writes the body. The security buffer sits at offset 128 right after the fixed part;
    /// contexts (3.1.1 only) follow on the next 8-byte boundary.
    pub fn encode(&self, out: &mut impl BufMut) {
        let with_ctx = self.dialect == dialect::SMB311 && !self.contexts.is_empty();
        let buf_end = RESP_BUFFER_OFFSET + self.security_buffer.len();
        let ctx_offset = if with_ctx { align8(buf_end) } else { 0 };
        out.put_u16_le(65);
        out.put_u16_le(self.security_mode);
        out.put_u16_le(self.dialect);
        out.put_u16_le(if with_ctx {
            self.contexts.len() as u16
        } else {
            0
        });
        out.put_slice(&self.server_guid);
        out.put_u32_le(self.capabilities);
        out.put_u32_le(self.max_transact_size);
        out.put_u32_le(self.max_read_size);
        out.put_u32_le(self.max_write_size);
        out.put_u64_le(self.system_time);
        out.put_u64_le(self.server_start_time);
        out.put_u16_le(RESP_BUFFER_OFFSET as u16);
        out.put_u16_le(self.security_buffer.len() as u16);
        out.put_u32_le(ctx_offset as u32);
        out.put_slice(&self.security_buffer);
        if with_ctx {
            let written = pad8(out, buf_end);
            encode_contexts(out, written, &self.contexts);
        } else if self.security_buffer.is_empty() {
            // StructureSize 65 counts one byte of the variable part (§2.2.4).
            out.put_u8(0);
        }
    }
}
