//! PORTMAP version 2 messages (RFC 1833 §3).
//!
//! Procedures: NULL (0), SET (1), UNSET (2), GETPORT (3), DUMP (4), CALLIT (5). The codecs
//! cover all six; the service refuses CALLIT (see [`super::service`]).

use arbitrary::Arbitrary;
use bytes::{Bytes, BytesMut};

use crate::rpc::{ArgsError, ProcedureCall, ProcedureReply};
use crate::xdr::{self, XResult};

/// PMAPPROC_NULL.
pub const PMAPPROC_NULL: u32 = 0;
/// PMAPPROC_SET.
pub const PMAPPROC_SET: u32 = 1;
/// PMAPPROC_UNSET.
pub const PMAPPROC_UNSET: u32 = 2;
/// PMAPPROC_GETPORT.
pub const PMAPPROC_GETPORT: u32 = 3;
/// PMAPPROC_DUMP.
pub const PMAPPROC_DUMP: u32 = 4;
/// PMAPPROC_CALLIT.
pub const PMAPPROC_CALLIT: u32 = 5;

/// `IPPROTO_TCP` as PORTMAP uses it in `mapping.prot`.
pub const IPPROTO_TCP: u32 = 6;
/// `IPPROTO_UDP` as PORTMAP uses it in `mapping.prot`.
pub const IPPROTO_UDP: u32 = 17;

/// Largest CALLIT argument or result body accepted (a UDP datagram's worth; RFC 1833
/// gives no bound).
pub const MAX_CALLIT_BYTES: u32 = 65_536;
/// Most entries decoded from a DUMP reply (our own bound; the list is unbounded in XDR).
pub const MAX_DUMP_ENTRIES: usize = 4096;

/// `struct mapping` (RFC 1833 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Arbitrary)]
pub struct Mapping {
    /// Program.
    pub prog: u32,
    /// Version.
    pub vers: u32,
    /// Protocol: [`IPPROTO_TCP`] or [`IPPROTO_UDP`].
    pub prot: u32,
    /// Port (0 in GETPORT queries and "not registered" answers).
    pub port: u32,
}

impl Mapping {
    fn decode(input: &[u8]) -> XResult<'_, Self> {
        let (rest, prog) = xdr::u32(input)?;
        let (rest, vers) = xdr::u32(rest)?;
        let (rest, prot) = xdr::u32(rest)?;
        let (rest, port) = xdr::u32(rest)?;
        Ok((
            rest,
            Mapping {
                prog,
                vers,
                prot,
                port,
            },
        ))
    }

    fn encode(&self, out: &mut BytesMut) {
        xdr::put_u32(out, self.prog);
        xdr::put_u32(out, self.vers);
        xdr::put_u32(out, self.prot);
        xdr::put_u32(out, self.port);
    }
}

/// `struct call_args` of CALLIT (RFC 1833 §3.1).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct CallArgs {
    /// Program to call.
    pub prog: u32,
    /// Version.
    pub vers: u32,
    /// Procedure.
    pub proc_: u32,
    /// Its arguments.
    #[arbitrary(with = arb_callit)]
    pub args: Bytes,
}

fn arb_callit(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Bytes> {
    crate::rpc::arb::bytes_max(u, 512)
}

/// A PORTMAP v2 call.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum PmapCall {
    /// NULL: ping.
    Null,
    /// SET: register a mapping.
    Set(Mapping),
    /// UNSET: remove every mapping of (prog, vers); `prot` and `port` are ignored.
    Unset(Mapping),
    /// GETPORT: look up the port of (prog, vers, prot).
    Getport(Mapping),
    /// DUMP: list every mapping.
    Dump,
    /// CALLIT: call a procedure on a local program on the caller's behalf.
    Callit(CallArgs),
}

impl ProcedureCall for PmapCall {
    fn procedure(&self) -> u32 {
        match self {
            PmapCall::Null => PMAPPROC_NULL,
            PmapCall::Set(_) => PMAPPROC_SET,
            PmapCall::Unset(_) => PMAPPROC_UNSET,
            PmapCall::Getport(_) => PMAPPROC_GETPORT,
            PmapCall::Dump => PMAPPROC_DUMP,
            PmapCall::Callit(_) => PMAPPROC_CALLIT,
        }
    }

    fn decode_args(procedure: u32, args: &[u8]) -> Result<Self, ArgsError> {
        match procedure {
            PMAPPROC_NULL => ArgsError::void(args).map(|()| PmapCall::Null),
            PMAPPROC_SET => ArgsError::decode_exact(args, Mapping::decode).map(PmapCall::Set),
            PMAPPROC_UNSET => ArgsError::decode_exact(args, Mapping::decode).map(PmapCall::Unset),
            PMAPPROC_GETPORT => {
                ArgsError::decode_exact(args, Mapping::decode).map(PmapCall::Getport)
            }
            PMAPPROC_DUMP => ArgsError::void(args).map(|()| PmapCall::Dump),
            PMAPPROC_CALLIT => ArgsError::decode_exact(args, |i| {
                let (rest, prog) = xdr::u32(i)?;
                let (rest, vers) = xdr::u32(rest)?;
                let (rest, proc_) = xdr::u32(rest)?;
                let (rest, args) = xdr::opaque_bytes(rest, MAX_CALLIT_BYTES)?;
                Ok((
                    rest,
                    CallArgs {
                        prog,
                        vers,
                        proc_,
                        args,
                    },
                ))
            })
            .map(PmapCall::Callit),
            _ => Err(ArgsError::NoSuchProcedure),
        }
    }

    fn encode_args(&self, out: &mut BytesMut) {
        match self {
            PmapCall::Null | PmapCall::Dump => {}
            PmapCall::Set(m) | PmapCall::Unset(m) | PmapCall::Getport(m) => m.encode(out),
            PmapCall::Callit(c) => {
                xdr::put_u32(out, c.prog);
                xdr::put_u32(out, c.vers);
                xdr::put_u32(out, c.proc_);
                xdr::put_opaque_var(out, &c.args);
            }
        }
    }
}

/// A PORTMAP v2 reply (results only; the RPC header is separate).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum PmapReply {
    /// NULL: void.
    Null,
    /// SET: whether the mapping was registered.
    Set(bool),
    /// UNSET: whether anything was removed.
    Unset(bool),
    /// GETPORT: the port, 0 if not registered.
    Getport(u32),
    /// DUMP: every mapping.
    Dump(#[arbitrary(with = arb_mappings)] Vec<Mapping>),
    /// CALLIT: the port of the called program and its results.
    Callit {
        /// Port the program is registered on.
        port: u32,
        /// The called procedure's results.
        #[arbitrary(with = arb_callit)]
        res: Bytes,
    },
}

fn arb_mappings(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Vec<Mapping>> {
    let n = u.int_in_range(0..=64)?;
    (0..n).map(|_| u.arbitrary()).collect()
}

impl ProcedureReply for PmapReply {
    fn procedure(&self) -> u32 {
        match self {
            PmapReply::Null => PMAPPROC_NULL,
            PmapReply::Set(_) => PMAPPROC_SET,
            PmapReply::Unset(_) => PMAPPROC_UNSET,
            PmapReply::Getport(_) => PMAPPROC_GETPORT,
            PmapReply::Dump(_) => PMAPPROC_DUMP,
            PmapReply::Callit { .. } => PMAPPROC_CALLIT,
        }
    }

    fn decode_results(procedure: u32, res: &[u8]) -> Result<Self, ArgsError> {
        match procedure {
            PMAPPROC_NULL => ArgsError::void(res).map(|()| PmapReply::Null),
            PMAPPROC_SET => ArgsError::decode_exact(res, xdr::bool).map(PmapReply::Set),
            PMAPPROC_UNSET => ArgsError::decode_exact(res, xdr::bool).map(PmapReply::Unset),
            PMAPPROC_GETPORT => ArgsError::decode_exact(res, xdr::u32).map(PmapReply::Getport),
            PMAPPROC_DUMP => {
                ArgsError::decode_exact(res, |i| xdr::list(i, MAX_DUMP_ENTRIES, Mapping::decode))
                    .map(PmapReply::Dump)
            }
            PMAPPROC_CALLIT => ArgsError::decode_exact(res, |i| {
                let (rest, port) = xdr::u32(i)?;
                let (rest, res) = xdr::opaque_bytes(rest, MAX_CALLIT_BYTES)?;
                Ok((rest, PmapReply::Callit { port, res }))
            }),
            _ => Err(ArgsError::NoSuchProcedure),
        }
    }

    fn encode_results(&self, out: &mut BytesMut) {
        match self {
            PmapReply::Null => {}
            PmapReply::Set(b) | PmapReply::Unset(b) => xdr::put_bool(out, *b),
            PmapReply::Getport(p) => xdr::put_u32(out, *p),
            PmapReply::Dump(list) => xdr::put_list(out, list, |o, m| m.encode(o)),
            PmapReply::Callit { port, res } => {
                xdr::put_u32(out, *port);
                xdr::put_opaque_var(out, res);
            }
        }
    }
}
