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

pub mod auth;
pub mod client;
pub mod drc;
pub mod message;
pub mod record;

pub use auth::{AuthFlavor, AuthStat, AuthSysParms, Credential, OpaqueAuth};
pub use message::{
    AcceptStat, AcceptedReply, CallBody, CallHeader, HeaderError, MessageBody, RejectedReply,
    ReplyBody, RpcMessage, RPC_VERSION,
};
pub use record::{RecordError, RecordMarker};

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

    /// Arbitrary `u32`s, at most `max` of them.
    pub(crate) fn u32s_max(u: &mut Unstructured<'_>, max: usize) -> Result<Vec<u32>> {
        let n = u.int_in_range(0..=max)?;
        (0..n).map(|_| u.arbitrary()).collect()
    }
}
