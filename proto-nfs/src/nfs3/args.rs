//! Arguments of the NFSv3 procedures (`XXX3args`, RFC 1813 §3.3.1-§3.3.21).
//!
//! Field names follow the RFC (`where` is spelled `where_`). WRITE's `count` is not stored:
//! it must equal the data length (as Linux knfsd requires), so it is derived on encode and
//! checked on decode.

use arbitrary::Arbitrary;
use bytes::{Bytes, BytesMut};

use super::types::{
    arb_data, wire_struct, DirOpArgs3, FType3, NfsPath3, NfsTime3, Sattr3, SpecData3, StableHow,
    Wire, MAX_DATA,
};
use super::FileHandle;
use crate::xdr::{self, XResult, XdrError, XdrErrorKind};

/// GETATTR3args (RFC 1813 §3.3.1).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct GetattrArgs {
    /// The file.
    pub object: FileHandle,
}
wire_struct!(GetattrArgs { object });

/// SETATTR3args (RFC 1813 §3.3.2).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct SetattrArgs {
    /// The file.
    pub object: FileHandle,
    /// What to change.
    pub new_attributes: Sattr3,
    /// `sattrguard3`: if present, the change happens only if the file's ctime equals it.
    pub guard: Option<NfsTime3>,
}
wire_struct!(SetattrArgs {
    object,
    new_attributes,
    guard
});

/// LOOKUP3args (RFC 1813 §3.3.3).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct LookupArgs {
    /// Directory and name.
    pub what: DirOpArgs3,
}
wire_struct!(LookupArgs { what });

/// ACCESS3args (RFC 1813 §3.3.4).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct AccessArgs {
    /// The file.
    pub object: FileHandle,
    /// Requested ACCESS3_* bits.
    pub access: u32,
}
wire_struct!(AccessArgs { object, access });

/// READLINK3args (RFC 1813 §3.3.5).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct ReadlinkArgs {
    /// The symbolic link.
    pub symlink: FileHandle,
}
wire_struct!(ReadlinkArgs { symlink });

/// READ3args (RFC 1813 §3.3.6).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct ReadArgs {
    /// The file.
    pub file: FileHandle,
    /// Byte offset.
    pub offset: u64,
    /// Bytes wanted.
    pub count: u32,
}
wire_struct!(ReadArgs {
    file,
    offset,
    count
});

/// WRITE3args (RFC 1813 §3.3.7). `count` on the wire is `data.len()`.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct WriteArgs {
    /// The file.
    pub file: FileHandle,
    /// Byte offset.
    pub offset: u64,
    /// Requested durability.
    pub stable: StableHow,
    /// The data (at most [`MAX_DATA`] bytes).
    #[arbitrary(with = arb_data)]
    pub data: Bytes,
}

impl Wire for WriteArgs {
    fn put(&self, out: &mut BytesMut) {
        self.file.put(out);
        self.offset.put(out);
        xdr::put_u32(out, u32::try_from(self.data.len()).unwrap_or(u32::MAX));
        self.stable.put(out);
        xdr::put_opaque_var(out, &self.data);
    }
    fn get(input: &[u8]) -> XResult<'_, Self> {
        let (rest, (file, offset, stable, data)) = WriteArgs::get_borrowed(input)?;
        Ok((
            rest,
            WriteArgs {
                file,
                offset,
                stable,
                data: Bytes::copy_from_slice(data),
            },
        ))
    }
}

/// The fields of WRITE3args with the data still borrowed from the input.
pub(crate) type BorrowedWrite<'a> = (FileHandle, u64, StableHow, &'a [u8]);

impl WriteArgs {
    /// Decodes WRITE3args leaving the data in `input` (for zero-copy decoding).
    pub(crate) fn get_borrowed(input: &[u8]) -> XResult<'_, BorrowedWrite<'_>> {
        let (rest, file) = FileHandle::get(input)?;
        let (rest, offset) = u64::get(rest)?;
        let (rest, count) = u32::get(rest)?;
        let (rest, stable) = StableHow::get(rest)?;
        let (rest_after, data) = xdr::opaque_var(rest, MAX_DATA)?;
        // Linux knfsd refuses a count that differs from the opaque length; so do we.
        if data.len() != count as usize {
            return XdrError::fail(rest, XdrErrorKind::Invalid("WRITE count != data length"));
        }
        Ok((rest_after, (file, offset, stable, data)))
    }
}

/// `createhow3` (RFC 1813 §3.3.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum CreateHow3 {
    /// UNCHECKED (0): create, or truncate per the attributes if it exists.
    Unchecked(Sattr3),
    /// GUARDED (1): fail with NFS3ERR_EXIST if it exists.
    Guarded(Sattr3),
    /// EXCLUSIVE (2): create with this verifier; a retransmission with the same verifier
    /// succeeds.
    Exclusive([u8; 8]),
}

impl Wire for CreateHow3 {
    fn put(&self, out: &mut BytesMut) {
        match self {
            CreateHow3::Unchecked(a) => {
                xdr::put_u32(out, 0);
                a.put(out);
            }
            CreateHow3::Guarded(a) => {
                xdr::put_u32(out, 1);
                a.put(out);
            }
            CreateHow3::Exclusive(v) => {
                xdr::put_u32(out, 2);
                v.put(out);
            }
        }
    }
    fn get(input: &[u8]) -> XResult<'_, Self> {
        let (rest, mode) = xdr::u32(input)?;
        match mode {
            0 => Sattr3::get(rest).map(|(r, a)| (r, CreateHow3::Unchecked(a))),
            1 => Sattr3::get(rest).map(|(r, a)| (r, CreateHow3::Guarded(a))),
            2 => <[u8; 8]>::get(rest).map(|(r, v)| (r, CreateHow3::Exclusive(v))),
            other => XdrError::fail(input, XdrErrorKind::BadDiscriminant(other)),
        }
    }
}

/// CREATE3args (RFC 1813 §3.3.8).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct CreateArgs {
    /// Directory and name (`where`).
    pub where_: DirOpArgs3,
    /// How to create.
    pub how: CreateHow3,
}
wire_struct!(CreateArgs { where_, how });

/// MKDIR3args (RFC 1813 §3.3.9).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct MkdirArgs {
    /// Directory and name (`where`).
    pub where_: DirOpArgs3,
    /// Initial attributes.
    pub attributes: Sattr3,
}
wire_struct!(MkdirArgs { where_, attributes });

/// SYMLINK3args (RFC 1813 §3.3.10), with `symlinkdata3` flattened.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct SymlinkArgs {
    /// Directory and name (`where`).
    pub where_: DirOpArgs3,
    /// Initial attributes of the link.
    pub symlink_attributes: Sattr3,
    /// The target.
    pub symlink_data: NfsPath3,
}
wire_struct!(SymlinkArgs {
    where_,
    symlink_attributes,
    symlink_data
});

/// `devicedata3` (RFC 1813 §3.3.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub struct DeviceData3 {
    /// Initial attributes.
    pub dev_attributes: Sattr3,
    /// Device numbers.
    pub spec: SpecData3,
}
wire_struct!(DeviceData3 {
    dev_attributes,
    spec
});

/// `mknoddata3` (RFC 1813 §3.3.11): a union on `ftype3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum MknodData3 {
    /// NF3CHR.
    Chr(DeviceData3),
    /// NF3BLK.
    Blk(DeviceData3),
    /// NF3SOCK.
    Sock(Sattr3),
    /// NF3FIFO.
    Fifo(Sattr3),
    /// NF3REG, NF3DIR or NF3LNK: the void arm; the server answers NFS3ERR_BADTYPE.
    Other(OtherType),
}

/// The `ftype3` values MKNOD cannot create (its union's `default: void` arm).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum OtherType {
    /// NF3REG.
    Reg,
    /// NF3DIR.
    Dir,
    /// NF3LNK.
    Lnk,
}

impl MknodData3 {
    /// The `ftype3` discriminant.
    pub fn ftype(&self) -> FType3 {
        match self {
            MknodData3::Chr(_) => FType3::Chr,
            MknodData3::Blk(_) => FType3::Blk,
            MknodData3::Sock(_) => FType3::Sock,
            MknodData3::Fifo(_) => FType3::Fifo,
            MknodData3::Other(OtherType::Reg) => FType3::Reg,
            MknodData3::Other(OtherType::Dir) => FType3::Dir,
            MknodData3::Other(OtherType::Lnk) => FType3::Lnk,
        }
    }
}

impl Wire for MknodData3 {
    fn put(&self, out: &mut BytesMut) {
        self.ftype().put(out);
        match self {
            MknodData3::Chr(d) | MknodData3::Blk(d) => d.put(out),
            MknodData3::Sock(a) | MknodData3::Fifo(a) => a.put(out),
            MknodData3::Other(_) => {}
        }
    }
    fn get(input: &[u8]) -> XResult<'_, Self> {
        let (rest, t) = FType3::get(input)?;
        match t {
            FType3::Chr => DeviceData3::get(rest).map(|(r, d)| (r, MknodData3::Chr(d))),
            FType3::Blk => DeviceData3::get(rest).map(|(r, d)| (r, MknodData3::Blk(d))),
            FType3::Sock => Sattr3::get(rest).map(|(r, a)| (r, MknodData3::Sock(a))),
            FType3::Fifo => Sattr3::get(rest).map(|(r, a)| (r, MknodData3::Fifo(a))),
            FType3::Reg => Ok((rest, MknodData3::Other(OtherType::Reg))),
            FType3::Dir => Ok((rest, MknodData3::Other(OtherType::Dir))),
            FType3::Lnk => Ok((rest, MknodData3::Other(OtherType::Lnk))),
        }
    }
}

/// MKNOD3args (RFC 1813 §3.3.11).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct MknodArgs {
    /// Directory and name (`where`).
    pub where_: DirOpArgs3,
    /// What to create.
    pub what: MknodData3,
}
wire_struct!(MknodArgs { where_, what });

/// REMOVE3args (RFC 1813 §3.3.12) and RMDIR3args (§3.3.13).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct RemoveArgs {
    /// Directory and name.
    pub object: DirOpArgs3,
}
wire_struct!(RemoveArgs { object });

/// RENAME3args (RFC 1813 §3.3.14).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct RenameArgs {
    /// Source directory and name.
    pub from: DirOpArgs3,
    /// Target directory and name.
    pub to: DirOpArgs3,
}
wire_struct!(RenameArgs { from, to });

/// LINK3args (RFC 1813 §3.3.15).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct LinkArgs {
    /// The existing file.
    pub file: FileHandle,
    /// Directory and name of the new link.
    pub link: DirOpArgs3,
}
wire_struct!(LinkArgs { file, link });

/// READDIR3args (RFC 1813 §3.3.16).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct ReaddirArgs {
    /// The directory.
    pub dir: FileHandle,
    /// Resume after this cookie (0 = from the start).
    pub cookie: u64,
    /// The verifier returned with `cookie`.
    pub cookieverf: [u8; 8],
    /// Largest READDIR3resok, in bytes, XDR overhead included.
    pub count: u32,
}
wire_struct!(ReaddirArgs {
    dir,
    cookie,
    cookieverf,
    count
});

/// READDIRPLUS3args (RFC 1813 §3.3.17).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct ReaddirplusArgs {
    /// The directory.
    pub dir: FileHandle,
    /// Resume after this cookie (0 = from the start).
    pub cookie: u64,
    /// The verifier returned with `cookie`.
    pub cookieverf: [u8; 8],
    /// Largest amount of directory information (fileid, name, cookie) in bytes.
    pub dircount: u32,
    /// Largest READDIRPLUS3resok in bytes.
    pub maxcount: u32,
}
wire_struct!(ReaddirplusArgs {
    dir,
    cookie,
    cookieverf,
    dircount,
    maxcount
});

/// FSSTAT3args (RFC 1813 §3.3.18), FSINFO3args (§3.3.19).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct FsrootArgs {
    /// Any handle in the file system (usually the root).
    pub fsroot: FileHandle,
}
wire_struct!(FsrootArgs { fsroot });

/// PATHCONF3args (RFC 1813 §3.3.20).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct PathconfArgs {
    /// The file.
    pub object: FileHandle,
}
wire_struct!(PathconfArgs { object });

/// COMMIT3args (RFC 1813 §3.3.21).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct CommitArgs {
    /// The file.
    pub file: FileHandle,
    /// Start of the range (0 with `count` 0 = the whole file).
    pub offset: u64,
    /// Length of the range (0 = to the end of the file).
    pub count: u32,
}
wire_struct!(CommitArgs {
    file,
    offset,
    count
});

super::types::public_codec!(
    GetattrArgs,
    SetattrArgs,
    LookupArgs,
    AccessArgs,
    ReadlinkArgs,
    ReadArgs,
    WriteArgs,
    CreateHow3,
    CreateArgs,
    MkdirArgs,
    SymlinkArgs,
    DeviceData3,
    MknodData3,
    MknodArgs,
    RemoveArgs,
    RenameArgs,
    LinkArgs,
    ReaddirArgs,
    ReaddirplusArgs,
    FsrootArgs,
    PathconfArgs,
    CommitArgs,
);
