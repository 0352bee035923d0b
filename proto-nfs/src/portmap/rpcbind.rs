//! RPCBIND versions 3 and 4 messages (RFC 1833 §2).
//!
//! Implemented procedures: NULL (0), SET (1), UNSET (2), GETADDR (3), DUMP (4), GETTIME (6)
//! and, in version 4, GETVERSADDR (9) and GETADDRLIST (11, what `rpcinfo -l` asks).
//! CALLIT/BCAST (5), UADDR2TADDR (7), TADDR2UADDR (8), INDIRECT (10) and GETSTAT (12)
//! decode as "no such procedure" and are
//! answered PROC_UNAVAIL (a deviation: RFC 1833 defines them, but no NFS, MOUNT, NLM or NSM
//! client needs them, and CALLIT/INDIRECT are reflection vectors).
//!
//! Strings are bounded at [`MAX_RPCB_STRING`] bytes (RFC 1833 leaves them unbounded) and
//! must be UTF-8 (netids and universal addresses are ASCII by definition).

use arbitrary::Arbitrary;
use bytes::BytesMut;

use crate::rpc::{ArgsError, ProcedureCall, ProcedureReply};
use crate::xdr::{self, XResult, XdrError, XdrErrorKind};

/// RPCBPROC_NULL.
pub const RPCBPROC_NULL: u32 = 0;
/// RPCBPROC_SET.
pub const RPCBPROC_SET: u32 = 1;
/// RPCBPROC_UNSET.
pub const RPCBPROC_UNSET: u32 = 2;
/// RPCBPROC_GETADDR.
pub const RPCBPROC_GETADDR: u32 = 3;
/// RPCBPROC_DUMP.
pub const RPCBPROC_DUMP: u32 = 4;
/// RPCBPROC_GETTIME.
pub const RPCBPROC_GETTIME: u32 = 6;
/// RPCBPROC_GETVERSADDR (version 4 only).
pub const RPCBPROC_GETVERSADDR: u32 = 9;

/// RPCBPROC_GETADDRLIST (version 4 only).
pub const RPCBPROC_GETADDRLIST: u32 = 11;

/// `NC_TPI_CLTS`: connectionless transport semantics (UDP).
pub const NC_TPI_CLTS: u32 = 1;
/// `NC_TPI_COTS_ORD`: connection-oriented with orderly release (TCP).
pub const NC_TPI_COTS_ORD: u32 = 3;

/// Longest netid, universal address or owner string accepted (our bound).
pub const MAX_RPCB_STRING: u32 = 1024;
/// Most entries decoded from a DUMP reply (our bound).
pub const MAX_DUMP_ENTRIES: usize = 4096;

/// `struct rpcb` (RFC 1833 §2.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Arbitrary)]
pub struct Rpcb {
    /// Program.
    pub prog: u32,
    /// Version.
    pub vers: u32,
    /// Network id: `tcp`, `udp`, `tcp6`, `udp6`, ...
    #[arbitrary(with = arb_str)]
    pub netid: String,
    /// Universal address (`h1.h2.h3.h4.p1.p2` for IPv4).
    #[arbitrary(with = arb_str)]
    pub addr: String,
    /// Owner of the service (informational).
    #[arbitrary(with = arb_str)]
    pub owner: String,
}

fn arb_str(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<String> {
    crate::rpc::arb::ascii_max(u, 64)
}

fn rpcb_string(input: &[u8]) -> XResult<'_, String> {
    let (rest, b) = xdr::opaque_var(input, MAX_RPCB_STRING)?;
    match std::str::from_utf8(b) {
        Ok(s) => Ok((rest, s.to_owned())),
        Err(_) => XdrError::fail(input, XdrErrorKind::Invalid("string is not UTF-8")),
    }
}

impl Rpcb {
    fn decode(input: &[u8]) -> XResult<'_, Self> {
        let (rest, prog) = xdr::u32(input)?;
        let (rest, vers) = xdr::u32(rest)?;
        let (rest, netid) = rpcb_string(rest)?;
        let (rest, addr) = rpcb_string(rest)?;
        let (rest, owner) = rpcb_string(rest)?;
        Ok((
            rest,
            Rpcb {
                prog,
                vers,
                netid,
                addr,
                owner,
            },
        ))
    }

    fn encode(&self, out: &mut BytesMut) {
        xdr::put_u32(out, self.prog);
        xdr::put_u32(out, self.vers);
        xdr::put_string(out, self.netid.as_bytes());
        xdr::put_string(out, self.addr.as_bytes());
        xdr::put_string(out, self.owner.as_bytes());
    }
}

/// `struct rpcb_entry` (RFC 1833 §2.2): one address of a service, with the transport it
/// is on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Arbitrary)]
pub struct RpcbEntry {
    /// `r_maddr`: the universal address.
    #[arbitrary(with = arb_str)]
    pub maddr: String,
    /// `r_nc_netid`: the netid.
    #[arbitrary(with = arb_str)]
    pub netid: String,
    /// `r_nc_semantics`: [`NC_TPI_CLTS`], [`NC_TPI_COTS_ORD`], ...
    pub semantics: u32,
    /// `r_nc_protofmly`: `inet` or `inet6`.
    #[arbitrary(with = arb_str)]
    pub protofmly: String,
    /// `r_nc_proto`: `tcp` or `udp`.
    #[arbitrary(with = arb_str)]
    pub proto: String,
}

impl RpcbEntry {
    fn decode(input: &[u8]) -> XResult<'_, Self> {
        let (rest, maddr) = rpcb_string(input)?;
        let (rest, netid) = rpcb_string(rest)?;
        let (rest, semantics) = xdr::u32(rest)?;
        let (rest, protofmly) = rpcb_string(rest)?;
        let (rest, proto) = rpcb_string(rest)?;
        Ok((
            rest,
            RpcbEntry {
                maddr,
                netid,
                semantics,
                protofmly,
                proto,
            },
        ))
    }

    fn encode(&self, out: &mut BytesMut) {
        xdr::put_string(out, self.maddr.as_bytes());
        xdr::put_string(out, self.netid.as_bytes());
        xdr::put_u32(out, self.semantics);
        xdr::put_string(out, self.protofmly.as_bytes());
        xdr::put_string(out, self.proto.as_bytes());
    }
}

/// An RPCBIND v3/v4 call.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum RpcbCall {
    /// NULL: ping.
    Null,
    /// SET: register (prog, vers, netid) at an address.
    Set(Rpcb),
    /// UNSET: remove (prog, vers, netid); an empty netid removes every netid.
    Unset(Rpcb),
    /// GETADDR: universal address of (prog, vers, netid).
    Getaddr(Rpcb),
    /// DUMP: list every registration.
    Dump,
    /// GETTIME: the server's time of day.
    Gettime,
    /// GETVERSADDR (v4): like GETADDR but only the exact version.
    Getversaddr(Rpcb),
    /// GETADDRLIST (v4): every address of (prog, vers).
    Getaddrlist(Rpcb),
}

impl ProcedureCall for RpcbCall {
    fn procedure(&self) -> u32 {
        match self {
            RpcbCall::Null => RPCBPROC_NULL,
            RpcbCall::Set(_) => RPCBPROC_SET,
            RpcbCall::Unset(_) => RPCBPROC_UNSET,
            RpcbCall::Getaddr(_) => RPCBPROC_GETADDR,
            RpcbCall::Dump => RPCBPROC_DUMP,
            RpcbCall::Gettime => RPCBPROC_GETTIME,
            RpcbCall::Getversaddr(_) => RPCBPROC_GETVERSADDR,
            RpcbCall::Getaddrlist(_) => RPCBPROC_GETADDRLIST,
        }
    }

    fn decode_args(procedure: u32, args: &[u8]) -> Result<Self, ArgsError> {
        match procedure {
            RPCBPROC_NULL => ArgsError::void(args).map(|()| RpcbCall::Null),
            RPCBPROC_SET => ArgsError::decode_exact(args, Rpcb::decode).map(RpcbCall::Set),
            RPCBPROC_UNSET => ArgsError::decode_exact(args, Rpcb::decode).map(RpcbCall::Unset),
            RPCBPROC_GETADDR => ArgsError::decode_exact(args, Rpcb::decode).map(RpcbCall::Getaddr),
            RPCBPROC_DUMP => ArgsError::void(args).map(|()| RpcbCall::Dump),
            RPCBPROC_GETTIME => ArgsError::void(args).map(|()| RpcbCall::Gettime),
            RPCBPROC_GETVERSADDR => {
                ArgsError::decode_exact(args, Rpcb::decode).map(RpcbCall::Getversaddr)
            }
            RPCBPROC_GETADDRLIST => {
                ArgsError::decode_exact(args, Rpcb::decode).map(RpcbCall::Getaddrlist)
            }
            _ => Err(ArgsError::NoSuchProcedure),
        }
    }

    fn encode_args(&self, out: &mut BytesMut) {
        match self {
            RpcbCall::Null | RpcbCall::Dump | RpcbCall::Gettime => {}
            RpcbCall::Set(r)
            | RpcbCall::Unset(r)
            | RpcbCall::Getaddr(r)
            | RpcbCall::Getversaddr(r)
            | RpcbCall::Getaddrlist(r) => r.encode(out),
        }
    }
}

/// An RPCBIND v3/v4 reply (results only).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum RpcbReply {
    /// NULL: void.
    Null,
    /// SET: whether it was registered.
    Set(bool),
    /// UNSET: whether anything was removed.
    Unset(bool),
    /// GETADDR: the universal address, empty if not registered.
    Getaddr(#[arbitrary(with = arb_str)] String),
    /// DUMP: every registration.
    Dump(#[arbitrary(with = arb_rpcbs)] Vec<Rpcb>),
    /// GETTIME: seconds since 1970-01-01 UTC.
    Gettime(u32),
    /// GETVERSADDR: the universal address, empty if not registered.
    Getversaddr(#[arbitrary(with = arb_str)] String),
    /// GETADDRLIST: every address of the service.
    Getaddrlist(#[arbitrary(with = arb_entries)] Vec<RpcbEntry>),
}

fn arb_entries(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Vec<RpcbEntry>> {
    let n = u.int_in_range(0..=8)?;
    (0..n).map(|_| u.arbitrary()).collect()
}

fn arb_rpcbs(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Vec<Rpcb>> {
    let n = u.int_in_range(0..=16)?;
    (0..n).map(|_| u.arbitrary()).collect()
}

impl ProcedureReply for RpcbReply {
    fn procedure(&self) -> u32 {
        match self {
            RpcbReply::Null => RPCBPROC_NULL,
            RpcbReply::Set(_) => RPCBPROC_SET,
            RpcbReply::Unset(_) => RPCBPROC_UNSET,
            RpcbReply::Getaddr(_) => RPCBPROC_GETADDR,
            RpcbReply::Dump(_) => RPCBPROC_DUMP,
            RpcbReply::Gettime(_) => RPCBPROC_GETTIME,
            RpcbReply::Getversaddr(_) => RPCBPROC_GETVERSADDR,
            RpcbReply::Getaddrlist(_) => RPCBPROC_GETADDRLIST,
        }
    }

    fn decode_results(procedure: u32, res: &[u8]) -> Result<Self, ArgsError> {
        match procedure {
            RPCBPROC_NULL => ArgsError::void(res).map(|()| RpcbReply::Null),
            RPCBPROC_SET => ArgsError::decode_exact(res, xdr::bool).map(RpcbReply::Set),
            RPCBPROC_UNSET => ArgsError::decode_exact(res, xdr::bool).map(RpcbReply::Unset),
            RPCBPROC_GETADDR => ArgsError::decode_exact(res, rpcb_string).map(RpcbReply::Getaddr),
            RPCBPROC_DUMP => {
                ArgsError::decode_exact(res, |i| xdr::list(i, MAX_DUMP_ENTRIES, Rpcb::decode))
                    .map(RpcbReply::Dump)
            }
            RPCBPROC_GETTIME => ArgsError::decode_exact(res, xdr::u32).map(RpcbReply::Gettime),
            RPCBPROC_GETVERSADDR => {
                ArgsError::decode_exact(res, rpcb_string).map(RpcbReply::Getversaddr)
            }
            RPCBPROC_GETADDRLIST => {
                ArgsError::decode_exact(res, |i| xdr::list(i, MAX_DUMP_ENTRIES, RpcbEntry::decode))
                    .map(RpcbReply::Getaddrlist)
            }
            _ => Err(ArgsError::NoSuchProcedure),
        }
    }

    fn encode_results(&self, out: &mut BytesMut) {
        match self {
            RpcbReply::Null => {}
            RpcbReply::Set(b) | RpcbReply::Unset(b) => xdr::put_bool(out, *b),
            RpcbReply::Getaddr(s) | RpcbReply::Getversaddr(s) => xdr::put_string(out, s.as_bytes()),
            RpcbReply::Dump(list) => xdr::put_list(out, list, |o, r| r.encode(o)),
            RpcbReply::Gettime(t) => xdr::put_u32(out, *t),
            RpcbReply::Getaddrlist(list) => xdr::put_list(out, list, |o, e| e.encode(o)),
        }
    }
}
