//! `rpc_msg` (RFC 5531 §9): calls, accepted and rejected replies.
//!
//! Two ways in:
//! - [`RpcMessage`] implements [`XdrDecode`]/[`XdrEncode`] for whole messages (client side,
//!   tests, round trips). [`RpcMessage::decode_bytes`] does the same on a [`Bytes`] record and
//!   keeps the call arguments / reply results zero-copy.
//! - [`CallHeader::decode`] is the staged decoder the server uses: it stops at the first
//!   problem and says how far it got, so the server can answer RPC_MISMATCH (RFC 5531 §9:
//!   `rpcvers` must be 2), AUTH_ERROR (credential or verifier garbage), or give up on a
//!   message it cannot even attribute to an xid.
//!
//! Procedure arguments and results are opaque here: they are "the rest of the record"
//! (RFC 5531 §9: "procedure-specific parameters start here").

use arbitrary::Arbitrary;
use bytes::{Bytes, BytesMut};

use super::auth::{AuthStat, OpaqueAuth};
use crate::xdr::{self, XResult, XdrDecode, XdrEncode, XdrError, XdrErrorKind};

/// The RPC protocol version this crate speaks (RFC 5531 §9: `rpcvers` "MUST be equal to 2").
pub const RPC_VERSION: u32 = 2;

const MSG_CALL: u32 = 0;
const MSG_REPLY: u32 = 1;
const MSG_ACCEPTED: u32 = 0;
const MSG_DENIED: u32 = 1;
const ACCEPT_SUCCESS: u32 = 0;
const ACCEPT_PROG_UNAVAIL: u32 = 1;
const ACCEPT_PROG_MISMATCH: u32 = 2;
const ACCEPT_PROC_UNAVAIL: u32 = 3;
const ACCEPT_GARBAGE_ARGS: u32 = 4;
const ACCEPT_SYSTEM_ERR: u32 = 5;
const REJECT_RPC_MISMATCH: u32 = 0;
const REJECT_AUTH_ERROR: u32 = 1;

/// `rpc_msg`: a transaction id and a call or reply body.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct RpcMessage {
    /// Transaction id, chosen by the caller and echoed in the reply.
    pub xid: u32,
    /// Call or reply.
    pub body: MessageBody,
}

/// `rpc_msg.body`: the `msg_type` union.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum MessageBody {
    /// `CALL` (0).
    Call(CallBody),
    /// `REPLY` (1).
    Reply(ReplyBody),
}

/// `call_body` and the procedure arguments that follow it.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct CallBody {
    /// RPC version; 2 for every valid call.
    pub rpcvers: u32,
    /// Program number.
    pub prog: u32,
    /// Program version.
    pub vers: u32,
    /// Procedure number.
    pub proc_: u32,
    /// Credential.
    pub cred: OpaqueAuth,
    /// Verifier.
    pub verf: OpaqueAuth,
    /// Procedure arguments, undecoded.
    #[arbitrary(with = super::arb::bytes_any)]
    pub args: Bytes,
}

/// `reply_body`: the `reply_stat` union.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum ReplyBody {
    /// `MSG_ACCEPTED` (0).
    Accepted(AcceptedReply),
    /// `MSG_DENIED` (1).
    Denied(RejectedReply),
}

/// `accepted_reply`: the server's verifier and the `accept_stat` union.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct AcceptedReply {
    /// Verifier the server returns (AUTH_NONE for AUTH_NONE/AUTH_SYS callers).
    pub verf: OpaqueAuth,
    /// Outcome.
    pub stat: AcceptStat,
}

/// `accept_stat` with its arm data (RFC 5531 §9).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum AcceptStat {
    /// SUCCESS (0): the procedure's results follow.
    Success(#[arbitrary(with = super::arb::bytes_any)] Bytes),
    /// PROG_UNAVAIL (1): program not exported here.
    ProgUnavail,
    /// PROG_MISMATCH (2): program version not supported; the supported range follows.
    ProgMismatch {
        /// Lowest version supported.
        low: u32,
        /// Highest version supported.
        high: u32,
    },
    /// PROC_UNAVAIL (3): procedure not supported by this version.
    ProcUnavail,
    /// GARBAGE_ARGS (4): the arguments could not be decoded.
    GarbageArgs,
    /// SYSTEM_ERR (5): e.g. memory allocation failure.
    SystemErr,
}

/// `rejected_reply` (RFC 5531 §9).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum RejectedReply {
    /// RPC_MISMATCH (0): RPC version not 2; the supported range follows.
    RpcMismatch {
        /// Lowest RPC version supported.
        low: u32,
        /// Highest RPC version supported.
        high: u32,
    },
    /// AUTH_ERROR (1): the caller was not authenticated.
    AuthError(AuthStat),
}

impl RpcMessage {
    /// An accepted reply with an AUTH_NONE verifier.
    pub fn accepted(xid: u32, stat: AcceptStat) -> Self {
        RpcMessage {
            xid,
            body: MessageBody::Reply(ReplyBody::Accepted(AcceptedReply {
                verf: OpaqueAuth::none(),
                stat,
            })),
        }
    }

    /// A rejected reply.
    pub fn denied(xid: u32, rejected: RejectedReply) -> Self {
        RpcMessage {
            xid,
            body: MessageBody::Reply(ReplyBody::Denied(rejected)),
        }
    }

    /// Decodes a whole message from a record, keeping call arguments and reply results as
    /// zero-copy slices of `record`.
    pub fn decode_bytes(record: &Bytes) -> Result<RpcMessage, XdrErrorKind> {
        let mut msg = RpcMessage::decode_exact(record)?;
        match &mut msg.body {
            MessageBody::Call(c) => c.args = slice_tail(record, c.args.len()),
            MessageBody::Reply(ReplyBody::Accepted(AcceptedReply {
                stat: AcceptStat::Success(results),
                ..
            })) => *results = slice_tail(record, results.len()),
            MessageBody::Reply(_) => {}
        }
        Ok(msg)
    }
}

/// The last `len` bytes of `record` (the opaque tail of a message), without copying.
fn slice_tail(record: &Bytes, len: usize) -> Bytes {
    record.slice(record.len() - len..)
}

/// Appends the header of a SUCCESS reply (xid, REPLY, MSG_ACCEPTED, AUTH_NONE verifier,
/// SUCCESS); the caller appends the procedure's results. Avoids building the results into
/// a separate buffer first.
pub fn put_success_header(out: &mut BytesMut, xid: u32) {
    xdr::put_u32(out, xid);
    xdr::put_u32(out, MSG_REPLY);
    xdr::put_u32(out, MSG_ACCEPTED);
    OpaqueAuth::none().encode(out);
    xdr::put_u32(out, ACCEPT_SUCCESS);
}

/// Appends the header of a call (everything before the arguments).
pub fn put_call_header(
    out: &mut BytesMut,
    xid: u32,
    prog: u32,
    vers: u32,
    proc_: u32,
    cred: &OpaqueAuth,
    verf: &OpaqueAuth,
) {
    xdr::put_u32(out, xid);
    xdr::put_u32(out, MSG_CALL);
    xdr::put_u32(out, RPC_VERSION);
    xdr::put_u32(out, prog);
    xdr::put_u32(out, vers);
    xdr::put_u32(out, proc_);
    cred.encode(out);
    verf.encode(out);
}

fn decode_message(input: &[u8]) -> XResult<'_, RpcMessage> {
    let (rest, xid) = xdr::u32(input)?;
    let (rest, mtype) = xdr::u32(rest)?;
    let (rest, body) = match mtype {
        MSG_CALL => {
            let (rest, rpcvers) = xdr::u32(rest)?;
            let (rest, prog) = xdr::u32(rest)?;
            let (rest, vers) = xdr::u32(rest)?;
            let (rest, proc_) = xdr::u32(rest)?;
            let (rest, cred) = OpaqueAuth::decode(rest)?;
            let (rest, verf) = OpaqueAuth::decode(rest)?;
            let call = CallBody {
                rpcvers,
                prog,
                vers,
                proc_,
                cred,
                verf,
                args: Bytes::copy_from_slice(rest),
            };
            (&rest[rest.len()..], MessageBody::Call(call))
        }
        MSG_REPLY => {
            let (rest, reply) = ReplyBody::decode(rest)?;
            (rest, MessageBody::Reply(reply))
        }
        other => return XdrError::fail(&input[4..], XdrErrorKind::BadDiscriminant(other)),
    };
    Ok((rest, RpcMessage { xid, body }))
}

impl XdrDecode for RpcMessage {
    fn decode(input: &[u8]) -> XResult<'_, Self> {
        decode_message(input)
    }
}

impl XdrEncode for RpcMessage {
    fn encode(&self, out: &mut BytesMut) {
        match &self.body {
            MessageBody::Call(c) => {
                xdr::put_u32(out, self.xid);
                xdr::put_u32(out, MSG_CALL);
                xdr::put_u32(out, c.rpcvers);
                xdr::put_u32(out, c.prog);
                xdr::put_u32(out, c.vers);
                xdr::put_u32(out, c.proc_);
                c.cred.encode(out);
                c.verf.encode(out);
                out.extend_from_slice(&c.args);
            }
            MessageBody::Reply(r) => {
                xdr::put_u32(out, self.xid);
                xdr::put_u32(out, MSG_REPLY);
                r.encode(out);
            }
        }
    }
}

impl XdrDecode for ReplyBody {
    fn decode(input: &[u8]) -> XResult<'_, Self> {
        let (rest, stat) = xdr::u32(input)?;
        match stat {
            MSG_ACCEPTED => {
                let (rest, verf) = OpaqueAuth::decode(rest)?;
                let (rest, astat) = xdr::u32(rest)?;
                let (rest, stat) = match astat {
                    ACCEPT_SUCCESS => (
                        &rest[rest.len()..],
                        AcceptStat::Success(Bytes::copy_from_slice(rest)),
                    ),
                    ACCEPT_PROG_UNAVAIL => (rest, AcceptStat::ProgUnavail),
                    ACCEPT_PROG_MISMATCH => {
                        let (rest, low) = xdr::u32(rest)?;
                        let (rest, high) = xdr::u32(rest)?;
                        (rest, AcceptStat::ProgMismatch { low, high })
                    }
                    ACCEPT_PROC_UNAVAIL => (rest, AcceptStat::ProcUnavail),
                    ACCEPT_GARBAGE_ARGS => (rest, AcceptStat::GarbageArgs),
                    ACCEPT_SYSTEM_ERR => (rest, AcceptStat::SystemErr),
                    other => return XdrError::fail(rest, XdrErrorKind::BadDiscriminant(other)),
                };
                Ok((rest, ReplyBody::Accepted(AcceptedReply { verf, stat })))
            }
            MSG_DENIED => {
                let (rest, rstat) = xdr::u32(rest)?;
                match rstat {
                    REJECT_RPC_MISMATCH => {
                        let (rest, low) = xdr::u32(rest)?;
                        let (rest, high) = xdr::u32(rest)?;
                        Ok((
                            rest,
                            ReplyBody::Denied(RejectedReply::RpcMismatch { low, high }),
                        ))
                    }
                    REJECT_AUTH_ERROR => {
                        let (rest, s) = AuthStat::decode(rest)?;
                        Ok((rest, ReplyBody::Denied(RejectedReply::AuthError(s))))
                    }
                    other => XdrError::fail(rest, XdrErrorKind::BadDiscriminant(other)),
                }
            }
            other => XdrError::fail(input, XdrErrorKind::BadDiscriminant(other)),
        }
    }
}

impl XdrEncode for ReplyBody {
    fn encode(&self, out: &mut BytesMut) {
        match self {
            ReplyBody::Accepted(a) => {
                xdr::put_u32(out, MSG_ACCEPTED);
                a.verf.encode(out);
                match &a.stat {
                    AcceptStat::Success(results) => {
                        xdr::put_u32(out, ACCEPT_SUCCESS);
                        out.extend_from_slice(results);
                    }
                    AcceptStat::ProgUnavail => xdr::put_u32(out, ACCEPT_PROG_UNAVAIL),
                    AcceptStat::ProgMismatch { low, high } => {
                        xdr::put_u32(out, ACCEPT_PROG_MISMATCH);
                        xdr::put_u32(out, *low);
                        xdr::put_u32(out, *high);
                    }
                    AcceptStat::ProcUnavail => xdr::put_u32(out, ACCEPT_PROC_UNAVAIL),
                    AcceptStat::GarbageArgs => xdr::put_u32(out, ACCEPT_GARBAGE_ARGS),
                    AcceptStat::SystemErr => xdr::put_u32(out, ACCEPT_SYSTEM_ERR),
                }
            }
            ReplyBody::Denied(r) => {
                xdr::put_u32(out, MSG_DENIED);
                match r {
                    RejectedReply::RpcMismatch { low, high } => {
                        xdr::put_u32(out, REJECT_RPC_MISMATCH);
                        xdr::put_u32(out, *low);
                        xdr::put_u32(out, *high);
                    }
                    RejectedReply::AuthError(s) => {
                        xdr::put_u32(out, REJECT_AUTH_ERROR);
                        s.encode(out);
                    }
                }
            }
        }
    }
}

/// The parts of a call the server needs before it looks at the arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallHeader {
    /// Transaction id.
    pub xid: u32,
    /// Program number.
    pub prog: u32,
    /// Program version.
    pub vers: u32,
    /// Procedure number.
    pub proc_: u32,
    /// Credential as received.
    pub cred: OpaqueAuth,
    /// Verifier as received.
    pub verf: OpaqueAuth,
}

/// How far [`CallHeader::decode`] got before it refused a message. Each variant maps to one
/// server reaction; the server maps them in one place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Not even an xid and message type could be read: nothing to answer.
    #[error("unparseable RPC message: {0}")]
    Unparseable(&'static str),
    /// A well-formed message that is not a call (a REPLY, or an unknown `msg_type`).
    #[error("xid {xid:#x}: msg_type {msg_type} is not CALL")]
    NotACall {
        /// Transaction id.
        xid: u32,
        /// The message type received.
        msg_type: u32,
    },
    /// A call with an RPC version other than 2 (answer RPC_MISMATCH).
    #[error("xid {xid:#x}: RPC version {rpcvers} is not 2")]
    RpcMismatch {
        /// Transaction id.
        xid: u32,
        /// The version received.
        rpcvers: u32,
    },
    /// The credential is malformed (answer AUTH_ERROR / AUTH_BADCRED).
    #[error("xid {xid:#x}: malformed credential")]
    BadCred {
        /// Transaction id.
        xid: u32,
    },
    /// The verifier is malformed (answer AUTH_ERROR / AUTH_BADVERF).
    #[error("xid {xid:#x}: malformed verifier")]
    BadVerf {
        /// Transaction id.
        xid: u32,
    },
}

impl CallHeader {
    /// Decodes the header of a call from a complete record and returns it with the
    /// arguments (a zero-copy slice of `record`).
    pub fn decode(record: &Bytes) -> Result<(CallHeader, Bytes), HeaderError> {
        let input: &[u8] = record;
        let Ok((rest, xid)) = xdr::u32(input) else {
            return Err(HeaderError::Unparseable("shorter than an xid"));
        };
        let Ok((rest, msg_type)) = xdr::u32(rest) else {
            return Err(HeaderError::Unparseable("no message type"));
        };
        if msg_type != MSG_CALL {
            return Err(HeaderError::NotACall { xid, msg_type });
        }
        let Ok((rest, rpcvers)) = xdr::u32(rest) else {
            return Err(HeaderError::Unparseable("call without RPC version"));
        };
        if rpcvers != RPC_VERSION {
            return Err(HeaderError::RpcMismatch { xid, rpcvers });
        }
        let fixed: XResult<'_, (u32, u32, u32)> = (|| {
            let (rest, prog) = xdr::u32(rest)?;
            let (rest, vers) = xdr::u32(rest)?;
            let (rest, proc_) = xdr::u32(rest)?;
            Ok((rest, (prog, vers, proc_)))
        })();
        let Ok((rest, (prog, vers, proc_))) = fixed else {
            return Err(HeaderError::Unparseable(
                "call truncated in program/version/procedure",
            ));
        };
        let Ok((rest, cred)) = OpaqueAuth::decode(rest) else {
            return Err(HeaderError::BadCred { xid });
        };
        let Ok((rest, verf)) = OpaqueAuth::decode(rest) else {
            return Err(HeaderError::BadVerf { xid });
        };
        let args = slice_tail(record, rest.len());
        Ok((
            CallHeader {
                xid,
                prog,
                vers,
                proc_,
                cred,
                verf,
            },
            args,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_header_stages() {
        let mut out = BytesMut::new();
        put_call_header(
            &mut out,
            0x1234,
            100_003,
            3,
            0,
            &OpaqueAuth::none(),
            &OpaqueAuth::none(),
        );
        out.extend_from_slice(b"ARGS");
        let rec = out.freeze();
        let (h, args) = CallHeader::decode(&rec).expect("decodes");
        assert_eq!((h.xid, h.prog, h.vers, h.proc_), (0x1234, 100_003, 3, 0));
        assert_eq!(&args[..], b"ARGS");

        // RPC version 3 -> RpcMismatch with the xid.
        let mut bad = BytesMut::from(&rec[..]);
        bad[8..12].copy_from_slice(&3u32.to_be_bytes());
        assert_eq!(
            CallHeader::decode(&bad.freeze()),
            Err(HeaderError::RpcMismatch {
                xid: 0x1234,
                rpcvers: 3
            })
        );

        // Credential length 401 -> BadCred.
        let mut bad = BytesMut::from(&rec[..]);
        bad[28..32].copy_from_slice(&401u32.to_be_bytes());
        assert_eq!(
            CallHeader::decode(&bad.freeze()),
            Err(HeaderError::BadCred { xid: 0x1234 })
        );

        // Truncated in the verifier -> BadVerf.
        let short = rec.slice(..36);
        assert_eq!(
            CallHeader::decode(&short),
            Err(HeaderError::BadVerf { xid: 0x1234 })
        );

        assert_eq!(
            CallHeader::decode(&Bytes::from_static(b"\0\0")),
            Err(HeaderError::Unparseable("shorter than an xid"))
        );
    }

    #[test]
    fn decode_bytes_keeps_results_zero_copy() {
        let msg = RpcMessage::accepted(9, AcceptStat::Success(Bytes::from_static(b"abcd")));
        let rec = msg.to_bytes();
        let back = RpcMessage::decode_bytes(&rec).expect("decodes");
        assert_eq!(back, msg);
        let MessageBody::Reply(ReplyBody::Accepted(AcceptedReply {
            stat: AcceptStat::Success(res),
            ..
        })) = back.body
        else {
            panic!("not success")
        };
        assert_eq!(res.as_ptr(), rec[rec.len() - 4..].as_ptr());
    }
}
