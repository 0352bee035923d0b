//! MOUNT v3 messages (RFC 1813 Appendix I, "Mount protocol definition").

use arbitrary::Arbitrary;
use bytes::{Bytes, BytesMut};

use crate::nfs3::FileHandle;
use crate::rpc::{ArgsError, ProcedureCall, ProcedureReply};
use crate::xdr::{self, XResult, XdrError, XdrErrorKind};

/// MOUNTPROC3_NULL.
pub const MOUNTPROC3_NULL: u32 = 0;
/// MOUNTPROC3_MNT.
pub const MOUNTPROC3_MNT: u32 = 1;
/// MOUNTPROC3_DUMP.
pub const MOUNTPROC3_DUMP: u32 = 2;
/// MOUNTPROC3_UMNT.
pub const MOUNTPROC3_UMNT: u32 = 3;
/// MOUNTPROC3_UMNTALL.
pub const MOUNTPROC3_UMNTALL: u32 = 4;
/// MOUNTPROC3_EXPORT.
pub const MOUNTPROC3_EXPORT: u32 = 5;

/// MNTPATHLEN: longest `dirpath`.
pub const MNTPATHLEN: u32 = 1024;
/// MNTNAMLEN: longest `name`.
pub const MNTNAMLEN: u32 = 255;
/// FHSIZE3: longest `fhandle3`.
pub const FHSIZE3: u32 = 64;
/// Most auth flavors decoded from a MNT reply (our bound; the array is unbounded in XDR).
pub const MAX_AUTH_FLAVORS: u32 = 32;
/// Most entries decoded from DUMP/EXPORT lists and group lists (our bound).
pub const MAX_LIST: usize = 4096;

/// `mountstat3` error values (RFC 1813 Appendix I). `MNT3_OK` is not here: a successful MNT
/// is [`MntResult::Ok`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Arbitrary)]
#[repr(u32)]
pub enum MountStat {
    /// MNT3ERR_PERM: not owner.
    Perm = 1,
    /// MNT3ERR_NOENT: no such file or directory.
    Noent = 2,
    /// MNT3ERR_IO: I/O error.
    Io = 5,
    /// MNT3ERR_ACCES: permission denied.
    Acces = 13,
    /// MNT3ERR_NOTDIR: not a directory.
    Notdir = 20,
    /// MNT3ERR_INVAL: invalid argument.
    Inval = 22,
    /// MNT3ERR_NAMETOOLONG: filename too long.
    NameTooLong = 63,
    /// MNT3ERR_NOTSUPP: operation not supported.
    NotSupp = 10004,
    /// MNT3ERR_SERVERFAULT: a failure on the server.
    ServerFault = 10006,
}

impl MountStat {
    /// Parses an error value (`None` for MNT3_OK and undefined values).
    pub const fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            1 => MountStat::Perm,
            2 => MountStat::Noent,
            5 => MountStat::Io,
            13 => MountStat::Acces,
            20 => MountStat::Notdir,
            22 => MountStat::Inval,
            63 => MountStat::NameTooLong,
            10004 => MountStat::NotSupp,
            10006 => MountStat::ServerFault,
            _ => return None,
        })
    }
}

/// `mountres3`: the MNT result.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum MntResult {
    /// MNT3_OK with `mountres3_ok`.
    Ok {
        /// Handle of the exported directory.
        #[arbitrary(with = arb_fh)]
        fhandle: FileHandle,
        /// Flavors the client may use, preferred first.
        #[arbitrary(with = arb_flavors)]
        auth_flavors: Vec<u32>,
    },
    /// Any other status.
    Err(MountStat),
}

fn arb_fh(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<FileHandle> {
    crate::rpc::arb::bytes_max(u, FHSIZE3 as usize).map(FileHandle)
}

fn arb_flavors(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Vec<u32>> {
    crate::rpc::arb::u32s_max(u, 4)
}

fn arb_path(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Bytes> {
    crate::rpc::arb::bytes_max(u, 80)
}

/// `mountbody`: one entry of the mount list (DUMP).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Arbitrary)]
pub struct MountBody {
    /// `ml_hostname`: the client (Janus records its IP address).
    #[arbitrary(with = arb_path)]
    pub hostname: Bytes,
    /// `ml_directory`: the path it mounted.
    #[arbitrary(with = arb_path)]
    pub directory: Bytes,
}

/// `exportnode`: one export (EXPORT).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct ExportNode {
    /// `ex_dir`: the path clients mount.
    #[arbitrary(with = arb_path)]
    pub dir: Bytes,
    /// `ex_groups`: who may mount it (empty: everyone).
    #[arbitrary(with = arb_groups)]
    pub groups: Vec<Bytes>,
}

fn arb_groups(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Vec<Bytes>> {
    let n = u.int_in_range(0..=4)?;
    (0..n).map(|_| arb_path(u)).collect()
}

/// A MOUNT v3 call.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum MountCall {
    /// NULL.
    Null,
    /// MNT: mount `dirpath`.
    Mnt(#[arbitrary(with = arb_path)] Bytes),
    /// DUMP: list mounts.
    Dump,
    /// UMNT: forget one mount of the caller.
    Umnt(#[arbitrary(with = arb_path)] Bytes),
    /// UMNTALL: forget every mount of the caller.
    Umntall,
    /// EXPORT: list exports.
    Export,
}

impl ProcedureCall for MountCall {
    fn procedure(&self) -> u32 {
        match self {
            MountCall::Null => MOUNTPROC3_NULL,
            MountCall::Mnt(_) => MOUNTPROC3_MNT,
            MountCall::Dump => MOUNTPROC3_DUMP,
            MountCall::Umnt(_) => MOUNTPROC3_UMNT,
            MountCall::Umntall => MOUNTPROC3_UMNTALL,
            MountCall::Export => MOUNTPROC3_EXPORT,
        }
    }

    fn decode_args(procedure: u32, args: &[u8]) -> Result<Self, ArgsError> {
        let path = |i| xdr::string(i, MNTPATHLEN);
        match procedure {
            MOUNTPROC3_NULL => ArgsError::void(args).map(|()| MountCall::Null),
            MOUNTPROC3_MNT => ArgsError::decode_exact(args, path).map(MountCall::Mnt),
            MOUNTPROC3_DUMP => ArgsError::void(args).map(|()| MountCall::Dump),
            MOUNTPROC3_UMNT => ArgsError::decode_exact(args, path).map(MountCall::Umnt),
            MOUNTPROC3_UMNTALL => ArgsError::void(args).map(|()| MountCall::Umntall),
            MOUNTPROC3_EXPORT => ArgsError::void(args).map(|()| MountCall::Export),
            _ => Err(ArgsError::NoSuchProcedure),
        }
    }

    fn encode_args(&self, out: &mut BytesMut) {
        match self {
            MountCall::Null | MountCall::Dump | MountCall::Umntall | MountCall::Export => {}
            MountCall::Mnt(p) | MountCall::Umnt(p) => xdr::put_string(out, p),
        }
    }
}

/// A MOUNT v3 reply (results only).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum MountReply {
    /// NULL: void.
    Null,
    /// MNT: `mountres3`.
    Mnt(MntResult),
    /// DUMP: `mountlist`.
    Dump(Vec<MountBody>),
    /// UMNT: void.
    Umnt,
    /// UMNTALL: void.
    Umntall,
    /// EXPORT: `exports`.
    Export(Vec<ExportNode>),
}

fn mnt_result(input: &[u8]) -> XResult<'_, MntResult> {
    let (rest, status) = xdr::u32(input)?;
    if status == 0 {
        let (rest, fh) = xdr::opaque_bytes(rest, FHSIZE3)?;
        let (rest, auth_flavors) = xdr::array(rest, MAX_AUTH_FLAVORS, 4, xdr::u32)?;
        return Ok((
            rest,
            MntResult::Ok {
                fhandle: FileHandle(fh),
                auth_flavors,
            },
        ));
    }
    match MountStat::from_u32(status) {
        Some(s) => Ok((rest, MntResult::Err(s))),
        None => XdrError::fail(input, XdrErrorKind::BadDiscriminant(status)),
    }
}

fn mount_body(input: &[u8]) -> XResult<'_, MountBody> {
    let (rest, hostname) = xdr::string(input, MNTNAMLEN)?;
    let (rest, directory) = xdr::string(rest, MNTPATHLEN)?;
    Ok((
        rest,
        MountBody {
            hostname,
            directory,
        },
    ))
}

fn export_node(input: &[u8]) -> XResult<'_, ExportNode> {
    let (rest, dir) = xdr::string(input, MNTPATHLEN)?;
    let (rest, groups) = xdr::list(rest, MAX_LIST, |i| xdr::string(i, MNTNAMLEN))?;
    Ok((rest, ExportNode { dir, groups }))
}

impl ProcedureReply for MountReply {
    fn procedure(&self) -> u32 {
        match self {
            MountReply::Null => MOUNTPROC3_NULL,
            MountReply::Mnt(_) => MOUNTPROC3_MNT,
            MountReply::Dump(_) => MOUNTPROC3_DUMP,
            MountReply::Umnt => MOUNTPROC3_UMNT,
            MountReply::Umntall => MOUNTPROC3_UMNTALL,
            MountReply::Export(_) => MOUNTPROC3_EXPORT,
        }
    }

    fn decode_results(procedure: u32, res: &[u8]) -> Result<Self, ArgsError> {
        match procedure {
            MOUNTPROC3_NULL => ArgsError::void(res).map(|()| MountReply::Null),
            MOUNTPROC3_MNT => ArgsError::decode_exact(res, mnt_result).map(MountReply::Mnt),
            MOUNTPROC3_DUMP => ArgsError::decode_exact(res, |i| xdr::list(i, MAX_LIST, mount_body))
                .map(MountReply::Dump),
            MOUNTPROC3_UMNT => ArgsError::void(res).map(|()| MountReply::Umnt),
            MOUNTPROC3_UMNTALL => ArgsError::void(res).map(|()| MountReply::Umntall),
            MOUNTPROC3_EXPORT => {
                ArgsError::decode_exact(res, |i| xdr::list(i, MAX_LIST, export_node))
                    .map(MountReply::Export)
            }
            _ => Err(ArgsError::NoSuchProcedure),
        }
    }

    fn encode_results(&self, out: &mut BytesMut) {
        match self {
            MountReply::Null | MountReply::Umnt | MountReply::Umntall => {}
            MountReply::Mnt(MntResult::Ok {
                fhandle,
                auth_flavors,
            }) => {
                xdr::put_u32(out, 0);
                xdr::put_opaque_var(out, &fhandle.0);
                xdr::put_array(out, auth_flavors, |o, f| xdr::put_u32(o, *f));
            }
            MountReply::Mnt(MntResult::Err(s)) => xdr::put_u32(out, *s as u32),
            MountReply::Dump(list) => xdr::put_list(out, list, |o, m| {
                xdr::put_string(o, &m.hostname);
                xdr::put_string(o, &m.directory);
            }),
            MountReply::Export(list) => xdr::put_list(out, list, |o, e| {
                xdr::put_string(o, &e.dir);
                xdr::put_list(o, &e.groups, |o, g| xdr::put_string(o, g));
            }),
        }
    }
}
