//! Outbound RPC calls the service asks the runtime to make: GRANTED_MSG callbacks, the
//! `_RES` answers to `_MSG` calls, SM_NOTIFY after a restart, NSM status callbacks, and the
//! PMAP GETPORT calls (RFC 1833 §3.2, PMAPPROC_GETPORT) that find a client's NLM or NSM
//! port through its portmapper.
//!
//! The service never encodes RPC headers or retransmits at the RPC level: it emits an
//! [`OutboundCall`] (destination, program, version, procedure, XDR arguments) and the runtime
//! carries it out (e.g. with `proto_nfs::rpc::client::RpcClient`), then hands the outcome back
//! once with [`NlmService::handle_call_result`](super::NlmService::handle_call_result).
//! Protocol-level retries (GRANTED every 10 s, SM_NOTIFY for a while) are the service's.

use core::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use proto_nfs::server::Transport;
use proto_nfs::xdr::{self, XdrDecode, XdrErrorKind};

/// The portmapper program (RFC 1833 §3).
pub const PMAP_PROGRAM: u32 = 100_000;
/// PORTMAP version 2.
pub const PMAP_VERSION: u32 = 2;
/// PMAPPROC_GETPORT.
pub const PMAPPROC_GETPORT: u32 = 3;
/// `IPPROTO_TCP` in a PMAP mapping.
pub const IPPROTO_TCP: u32 = 6;
/// `IPPROTO_UDP` in a PMAP mapping.
pub const IPPROTO_UDP: u32 = 17;

/// Identifies one outbound call so its outcome can be matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OutboundId(pub u64);

/// An RPC call for the runtime to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundCall {
    /// Match key for [`CallResult`].
    pub id: OutboundId,
    /// Where to send it.
    pub dest: SocketAddr,
    /// Over which transport (a callback uses the transport the client used).
    pub transport: Transport,
    /// RPC program.
    pub program: u32,
    /// Program version.
    pub version: u32,
    /// Procedure.
    pub procedure: u32,
    /// XDR arguments (no RPC header).
    pub args: Bytes,
    /// How long the runtime should keep trying (RPC retransmissions included) before it
    /// reports [`CallFailure::TimedOut`]. The service retries on its own schedule after that.
    pub timeout: Duration,
}

/// How an outbound call ended, as the runtime reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallResult {
    /// An accepted SUCCESS reply: the procedure's XDR results.
    Success(Bytes),
    /// The call did not produce results.
    Failed(CallFailure),
}

/// Why an outbound call produced no results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallFailure {
    /// No reply within [`OutboundCall::timeout`].
    TimedOut,
    /// The peer could not be reached (connection refused, ICMP unreachable, ...).
    Unreachable,
    /// The peer answered with a non-SUCCESS accept status or rejected the call.
    Rejected,
}

/// The arguments of PMAPPROC_GETPORT: `mapping { prog, vers, prot, port = 0 }`.
pub fn getport_args(program: u32, version: u32, transport: Transport) -> Bytes {
    let mut out = BytesMut::with_capacity(16);
    xdr::put_u32(&mut out, program);
    xdr::put_u32(&mut out, version);
    xdr::put_u32(
        &mut out,
        match transport {
            Transport::Tcp => IPPROTO_TCP,
            Transport::Udp => IPPROTO_UDP,
        },
    );
    xdr::put_u32(&mut out, 0);
    out.freeze()
}

/// The result of PMAPPROC_GETPORT: the port, 0 when the program is not registered.
pub fn decode_getport_result(body: &[u8]) -> Result<u16, XdrErrorKind> {
    let port = <PmapPort as XdrDecode>::decode_exact(body)?.0;
    u16::try_from(port).map_err(|_| XdrErrorKind::Invalid("port beyond 65535"))
}

/// The `unsigned int` port PMAPPROC_GETPORT returns.
struct PmapPort(u32);

impl XdrDecode for PmapPort {
    fn decode(input: &[u8]) -> xdr::XResult<'_, Self> {
        let (rest, v) = xdr::u32(input)?;
        Ok((rest, PmapPort(v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getport_args_follow_rfc1833_mapping() {
        assert_eq!(
            &getport_args(100_021, 4, Transport::Udp)[..],
            &[0, 1, 0x86, 0xb5, 0, 0, 0, 4, 0, 0, 0, 17, 0, 0, 0, 0]
        );
    }

    #[test]
    fn getport_result_is_bounded() {
        assert_eq!(decode_getport_result(&[0, 0, 0x7d, 0x00]), Ok(32000));
        assert!(decode_getport_result(&[0, 1, 0, 0]).is_err());
        assert!(decode_getport_result(&[0, 0, 1]).is_err());
    }
}
