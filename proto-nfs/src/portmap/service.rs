//! Answering PORTMAP and RPCBIND calls from the [`Registry`] (RFC 1833).
//!
//! Policy decisions, named here once:
//! - SET and UNSET change the table only when the caller is on a loopback address; others
//!   get FALSE (as rpcbind does: only local services register themselves).
//! - PORTMAP CALLIT is answered PROC_UNAVAIL rather than silently dropped. CALLIT makes the
//!   portmapper a relay (a known UDP reflection vector), and no Janus client needs it; RFC
//!   1833 §3.2 has the portmapper stay silent when the called procedure fails, which is meant
//!   for broadcasts, but Janus does not listen for broadcasts, and a unicast caller is better
//!   served by an immediate PROC_UNAVAIL (24 bytes, no amplification) than by a time-out.
//! - GETTIME answers the wall clock the runtime gives the server; before it has given one,
//!   the answer is SYSTEM_ERR.
//! - DUMP (PORTMAP v2 procedure 4, RPCBIND v3/v4 procedure 4) over UDP is answered only to
//!   loopback callers; others get PROC_UNAVAIL. A DUMP call is 40 bytes and its reply lists
//!   every registration (812 to 836 bytes for RPCBIND v3/v4 with Janus's own programs,
//!   x20; PORTMAP 308 bytes, x7.7), and a UDP source address can be forged: the
//!   portmapper is a listed amplification vector (US-CERT TA14-017A, "UDP-Based
//!   Amplification Attacks": Portmap, factor 7 to 28). PROC_UNAVAIL is 24 bytes (RFC 5531 §9: xid, REPLY, MSG_ACCEPTED, an
//!   empty AUTH_NONE verifier, `accept_stat`), less than the smallest possible call (40
//!   bytes: the call header with two empty AUTH_NONE fields), so it amplifies nothing — no
//!   more than the NULL procedure does — while a remote caller learns at once that it must
//!   ask over TCP instead of retrying until it times out, as it would if the call were
//!   dropped. Over TCP (the three-way handshake proves the source address) DUMP is answered
//!   to everyone: `rpcinfo -p HOST` asks over TCP. Clients find services with GETPORT /
//!   GETADDR, whose replies are small, so nothing but DUMP is restricted.

use core::net::{IpAddr, SocketAddr};

use super::pmap::{PmapCall, PmapReply};
use super::registry::Registry;
use super::rpcbind::{RpcbCall, RpcbReply};
use super::RPCBIND_V4;

/// Why a portmapper procedure was not executed (mapped to an `accept_stat` by the server).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PortmapRefusal {
    /// The procedure is refused or not implemented (PROC_UNAVAIL).
    #[error("procedure not available")]
    ProcUnavail,
    /// The server cannot answer now (SYSTEM_ERR): GETTIME without a wall clock.
    #[error("no wall clock yet")]
    NoClock,
    /// DUMP over UDP from a caller that is not on a loopback address (PROC_UNAVAIL): the
    /// reply would amplify a forged-source request (see the module documentation).
    #[error("DUMP over UDP is answered only to loopback callers")]
    RemoteUdpDump,
}

/// What a portmapper call needs to know about its context.
#[derive(Debug, Clone, Copy)]
pub struct PortmapContext {
    /// The caller.
    pub peer: SocketAddr,
    /// Whether the call came over TCP (for GETADDR with an empty netid).
    pub tcp: bool,
    /// The address to answer for unspecified hosts.
    pub host: IpAddr,
    /// Seconds since 1970-01-01 UTC, if known.
    pub unix_time: Option<u64>,
}

impl PortmapContext {
    fn local_caller(&self) -> bool {
        self.peer.ip().to_canonical().is_loopback()
    }

    /// DUMP is answered over TCP, and over UDP only to loopback callers (see the module
    /// documentation: UDP reflection).
    fn may_dump(&self) -> Result<(), PortmapRefusal> {
        if self.tcp || self.local_caller() {
            Ok(())
        } else {
            Err(PortmapRefusal::RemoteUdpDump)
        }
    }
}

/// Answers a PORTMAP v2 call.
pub fn handle_pmap(
    reg: &mut Registry,
    ctx: &PortmapContext,
    call: PmapCall,
) -> Result<PmapReply, PortmapRefusal> {
    Ok(match call {
        PmapCall::Null => PmapReply::Null,
        PmapCall::Set(m) => PmapReply::Set(ctx.local_caller() && reg.pmap_set(m, ctx.host)),
        PmapCall::Unset(m) => {
            PmapReply::Unset(ctx.local_caller() && reg.pmap_unset(m.prog, m.vers))
        }
        PmapCall::Getport(m) => PmapReply::Getport(reg.getport(m.prog, m.vers, m.prot)),
        PmapCall::Dump => {
            ctx.may_dump()?;
            PmapReply::Dump(reg.pmap_dump())
        }
        PmapCall::Callit(_) => return Err(PortmapRefusal::ProcUnavail),
    })
}

/// Answers an RPCBIND v3 or v4 call.
pub fn handle_rpcb(
    reg: &mut Registry,
    ctx: &PortmapContext,
    vers: u32,
    call: RpcbCall,
) -> Result<RpcbReply, PortmapRefusal> {
    let default_netid = |netid: &str| -> String {
        if !netid.is_empty() {
            return netid.to_owned();
        }
        let base = if ctx.tcp { "tcp" } else { "udp" };
        if ctx.peer.ip().to_canonical().is_ipv6() {
            format!("{base}6")
        } else {
            base.to_owned()
        }
    };
    Ok(match call {
        RpcbCall::Null => RpcbReply::Null,
        RpcbCall::Set(r) => RpcbReply::Set(ctx.local_caller() && reg.set(r)),
        RpcbCall::Unset(r) => {
            RpcbReply::Unset(ctx.local_caller() && reg.unset(r.prog, r.vers, &r.netid))
        }
        RpcbCall::Getaddr(r) => RpcbReply::Getaddr(reg.getaddr(
            r.prog,
            r.vers,
            &default_netid(&r.netid),
            false,
            ctx.host,
        )),
        RpcbCall::Dump => {
            ctx.may_dump()?;
            RpcbReply::Dump(reg.entries().to_vec())
        }
        RpcbCall::Gettime => {
            let t = ctx.unix_time.ok_or(PortmapRefusal::NoClock)?;
            // time_t in RFC 1833 is 32 bits; saturate rather than wrap after 2106.
            RpcbReply::Gettime(u32::try_from(t).unwrap_or(u32::MAX))
        }
        RpcbCall::Getversaddr(r) if vers >= RPCBIND_V4 => RpcbReply::Getversaddr(reg.getaddr(
            r.prog,
            r.vers,
            &default_netid(&r.netid),
            true,
            ctx.host,
        )),
        RpcbCall::Getaddrlist(r) if vers >= RPCBIND_V4 => {
            RpcbReply::Getaddrlist(reg.getaddrlist(r.prog, r.vers, ctx.host))
        }
        RpcbCall::Getversaddr(_) | RpcbCall::Getaddrlist(_) => {
            return Err(PortmapRefusal::ProcUnavail)
        }
    })
}
