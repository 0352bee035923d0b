//! ONC RPC version 2 (RFC 5531): messages, authentication, record marking, the
//! duplicate-request cache and client-side calls.
//!
//! - [`message`]: `rpc_msg` with its call and reply bodies and every accept/reject status
//!   (RFC 5531 §9), plus the staged header decoder the server uses to pick the right error
//!   reply for a broken call.
//! - [`auth`]: `opaque_auth`, AUTH_NONE and AUTH_SYS (RFC 5531 §8.2, Appendix A).
//! - [`record`]: record marking for stream transports (RFC 5531 §11).
//! - [`drc`]: the duplicate-request cache (a server-side mechanism RFC 5531 leaves to
//!   implementations; see RFC 1813 §4.1 "Idempotent operations").
//! - [`client`]: encoding calls and matching replies for the callbacks NLM and NSM make.
//! - [`segments`]: an outgoing message as a few segments for gather writes, so READ data
//!   is sent from the buffer the file system filled.

pub mod auth;
pub mod client;
pub mod drc;
pub mod message;
pub mod record;
pub mod segments;

pub use auth::{AuthFlavor, AuthStat, AuthSysParms, Credential, OpaqueAuth};
pub use message::{
    AcceptStat, AcceptedReply, CallBody, CallHeader, HeaderError, MessageBody, RejectedReply,
    ReplyBody, RpcMessage, RPC_VERSION,
};
pub use record::{RecordError, RecordMarker};
pub use segments::Segments;

use crate::xdr::XdrErrorKind;

/// Why a program's argument decoder refused a call. The server turns this into
/// PROC_UNAVAIL or GARBAGE_ARGS (RFC 5531 §9) in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
    /// The procedure number is not defined in this program version.
    #[error("procedure not defined")]
    NoSuchProcedure,
    /// The arguments are not a well-formed encoding of the procedure's argument type.
    #[error("malformed arguments: {0:?}")]
    Garbage(XdrErrorKind),
}

impl ArgsError {
    /// Decodes exactly `args` with `f` (trailing bytes are garbage).
    pub fn decode_exact<'a, T>(
        args: &'a [u8],
        f: impl FnOnce(&'a [u8]) -> crate::xdr::XResult<'a, T>,
    ) -> Result<T, ArgsError> {
        match f(args) {
            Ok(([], v)) => Ok(v),
            Ok(_) => Err(ArgsError::Garbage(XdrErrorKind::Invalid("trailing bytes"))),
            Err(e) => Err(ArgsError::Garbage(crate::xdr::error_kind(e))),
        }
    }

    /// Requires empty arguments (procedures taking `void`).
    pub fn void(args: &[u8]) -> Result<(), ArgsError> {
        if args.is_empty() {
            Ok(())
        } else {
            Err(ArgsError::Garbage(XdrErrorKind::Invalid("trailing bytes")))
        }
    }
}

/// The arguments of one program version's procedures, as one enum with a variant per
/// procedure (PORTMAP, RPCBIND, MOUNT, ...).
pub trait ProcedureCall: Sized {
    /// The procedure number of this call.
    fn procedure(&self) -> u32;
    /// Decodes the arguments of `procedure` (all of `args`).
    fn decode_args(procedure: u32, args: &[u8]) -> Result<Self, ArgsError>;
    /// Appends the XDR arguments.
    fn encode_args(&self, out: &mut bytes::BytesMut);
}

/// The results of one program version's procedures, one variant per procedure.
pub trait ProcedureReply: Sized {
    /// The procedure number this reply answers.
    fn procedure(&self) -> u32;
    /// Decodes the results of `procedure` (all of `results`).
    fn decode_results(procedure: u32, results: &[u8]) -> Result<Self, ArgsError>;
    /// Appends the XDR results.
    fn encode_results(&self, out: &mut bytes::BytesMut);
}

/// Helpers that build `arbitrary` values within the protocol's length limits, so round-trip
/// tests only generate values the wire can carry.
pub(crate) mod arb {
    use arbitrary::{Result, Unstructured};
    use bytes::Bytes;

    /// Arbitrary bytes of at most `max` bytes.
    pub(crate) fn bytes_max(u: &mut Unstructured<'_>, max: usize) -> Result<Bytes> {
        let len = u.int_in_range(0..=max)?;
        Ok(Bytes::copy_from_slice(u.bytes(len.min(u.len()))?))
    }

    /// Arbitrary bytes of any length the input allows.
    pub(crate) fn bytes_any(u: &mut Unstructured<'_>) -> Result<Bytes> {
        let v: Vec<u8> = u.arbitrary()?;
        Ok(Bytes::from(v))
    }

    /// Arbitrary text of at most `max` bytes (printable ASCII, so it survives a `String`
    /// round trip byte for byte).
    pub(crate) fn ascii_max(u: &mut Unstructured<'_>, max: usize) -> Result<String> {
        let n = u.int_in_range(0..=max)?;
        let mut s = String::with_capacity(n);
        for _ in 0..n {
            let c: u8 = u.int_in_range(0x20..=0x7e)?;
            s.push(char::from(c));
        }
        Ok(s)
    }

    /// Arbitrary `u32`s, at most `max` of them.
    pub(crate) fn u32s_max(u: &mut Unstructured<'_>, max: usize) -> Result<Vec<u32>> {
        let n = u.int_in_range(0..=max)?;
        (0..n).map(|_| u.arbitrary()).collect()
    }
}
