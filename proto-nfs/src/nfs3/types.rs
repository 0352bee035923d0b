//! NFSv3 basic data types (RFC 1813 §2.5-§2.6): `nfsstat3`, `ftype3`, `fattr3`, `wcc_data`,
//! `sattr3`, `diropargs3`, ... and the wire codec they share with the procedure arguments
//! ([`super::args`]) and results ([`super::res`]).
//!
//! Every type here round-trips (`decode(encode(x)) == x`) and implements `arbitrary` so
//! the property can be tested on generated values. Decoders check every length against an
//! explicit limit (names, paths, handles, data) before touching the bytes.

use arbitrary::{Arbitrary, Unstructured};
use bytes::{Bytes, BytesMut};

use super::FileHandle;
use crate::xdr::{self, XResult, XdrError, XdrErrorKind};

/// Longest file name accepted on the wire. Names longer than [`NAME_MAX`] but within this
/// limit decode, so the executor can answer NFS3ERR_NAMETOOLONG (RFC 1813 §2.6) instead of
/// a bare GARBAGE_ARGS; anything longer is GARBAGE_ARGS.
pub const MAX_NAME_WIRE: u32 = 1024;
/// Longest file name a Janus file system holds (PATHCONF `name_max`).
pub const NAME_MAX: usize = 255;
/// Longest symbolic-link target (`nfspath3`) accepted: PATH_MAX.
pub const MAX_PATH: u32 = 4096;
/// Largest READ/WRITE data accepted on the wire: 1 MiB (`rtmax`/`wtmax`, see FSINFO) plus
/// 64 KiB of slack for clients that round up.
pub const MAX_DATA: u32 = (1 << 20) + (64 << 10);

/// The private wire codec used by every NFSv3 type. The public [`xdr::XdrEncode`] and
/// [`xdr::XdrDecode`] impls delegate to it; it exists so primitives (`u32`, `bool`, `Option`)
/// can share the same field-by-field macro without implementing the crate-wide traits for
/// foreign types.
pub(crate) trait Wire: Sized {
    fn put(&self, out: &mut BytesMut);
    fn get(input: &[u8]) -> XResult<'_, Self>;
}

impl Wire for u32 {
    fn put(&self, out: &mut BytesMut) {
        xdr::put_u32(out, *self);
    }
    fn get(input: &[u8]) -> XResult<'_, Self> {
        xdr::u32(input)
    }
}

impl Wire for u64 {
    fn put(&self, out: &mut BytesMut) {
        xdr::put_u64(out, *self);
    }
    fn get(input: &[u8]) -> XResult<'_, Self> {
        xdr::u64(input)
    }
}

impl Wire for bool {
    fn put(&self, out: &mut BytesMut) {
        xdr::put_bool(out, *self);
    }
    fn get(input: &[u8]) -> XResult<'_, Self> {
        xdr::bool(input)
    }
}

/// `cookieverf3`, `createverf3`, `writeverf3`: 8 opaque bytes (RFC 1813 §2.5).
impl Wire for [u8; 8] {
    fn put(&self, out: &mut BytesMut) {
        xdr::put_opaque_fixed(out, self);
    }
    fn get(input: &[u8]) -> XResult<'_, Self> {
        xdr::opaque_array::<8>(input)
    }
}

/// XDR optional data (`bool` then the value), e.g. `post_op_attr`, `pre_op_attr`.
impl<T: Wire> Wire for Option<T> {
    fn put(&self, out: &mut BytesMut) {
        xdr::put_optional(out, self.as_ref(), |o, v| v.put(o));
    }
    fn get(input: &[u8]) -> XResult<'_, Self> {
        xdr::optional(input, T::get)
    }
}

/// `nfs_fh3` (RFC 1813 §2.5): opaque, at most 64 bytes.
impl Wire for FileHandle {
    fn put(&self, out: &mut BytesMut) {
        xdr::put_opaque_var(out, &self.0);
    }
    fn get(input: &[u8]) -> XResult<'_, Self> {
        let (rest, b) = xdr::opaque_bytes(input, FileHandle::MAX_LEN as u32)?;
        Ok((rest, FileHandle(b)))
    }
}

/// Implements [`Wire`] for a struct whose fields are encoded in the listed order.
macro_rules! wire_struct {
    ($name:ident { $($field:ident),* $(,)? }) => {
        impl $crate::nfs3::types::Wire for $name {
            fn put(&self, out: &mut ::bytes::BytesMut) {
                $( $crate::nfs3::types::Wire::put(&self.$field, out); )*
            }
            fn get(input: &[u8]) -> $crate::xdr::XResult<'_, Self> {
                $( let (input, $field) = $crate::nfs3::types::Wire::get(input)?; )*
                Ok((input, $name { $($field),* }))
            }
        }
    };
}
pub(crate) use wire_struct;

/// Implements the public [`xdr::XdrEncode`]/[`xdr::XdrDecode`] traits through [`Wire`].
macro_rules! public_codec {
    ($($ty:ty),* $(,)?) => {
        $(
            impl $crate::xdr::XdrEncode for $ty {
                fn encode(&self, out: &mut ::bytes::BytesMut) {
                    $crate::nfs3::types::Wire::put(self, out)
                }
            }
            impl $crate::xdr::XdrDecode for $ty {
                fn decode(input: &[u8]) -> $crate::xdr::XResult<'_, Self> {
                    $crate::nfs3::types::Wire::get(input)
                }
            }
        )*
    };
}
pub(crate) use public_codec;

/// Generates bytes of at most `max` length for `#[arbitrary(with = ...)]` fields.
fn arb_bytes(u: &mut Unstructured<'_>, max: usize) -> arbitrary::Result<Bytes> {
    let len = u.int_in_range(0..=max)?;
    let len = len.min(u.len());
    Ok(Bytes::copy_from_slice(u.bytes(len)?))
}

/// `arbitrary` generator for READ/WRITE data (kept small so tests stay fast).
pub(crate) fn arb_data(u: &mut Unstructured<'_>) -> arbitrary::Result<Bytes> {
    arb_bytes(u, 4096)
}

impl<'a> Arbitrary<'a> for FileHandle {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        arb_bytes(u, FileHandle::MAX_LEN).map(FileHandle)
    }
}

/// `filename3` (RFC 1813 §2.5): one path component, bytes (not necessarily UTF-8).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Filename3(pub Bytes);

impl Wire for Filename3 {
    fn put(&self, out: &mut BytesMut) {
        xdr::put_string(out, &self.0);
    }
    fn get(input: &[u8]) -> XResult<'_, Self> {
        let (rest, b) = xdr::string(input, MAX_NAME_WIRE)?;
        Ok((rest, Filename3(b)))
    }
}

impl<'a> Arbitrary<'a> for Filename3 {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        arb_bytes(u, MAX_NAME_WIRE as usize).map(Filename3)
    }
}

impl From<&[u8]> for Filename3 {
    fn from(b: &[u8]) -> Self {
        Filename3(Bytes::copy_from_slice(b))
    }
}

/// `nfspath3` (RFC 1813 §2.5): a symbolic link's target, bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NfsPath3(pub Bytes);

impl Wire for NfsPath3 {
    fn put(&self, out: &mut BytesMut) {
        xdr::put_string(out, &self.0);
    }
    fn get(input: &[u8]) -> XResult<'_, Self> {
        let (rest, b) = xdr::string(input, MAX_PATH)?;
        Ok((rest, NfsPath3(b)))
    }
}

impl<'a> Arbitrary<'a> for NfsPath3 {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        arb_bytes(u, MAX_PATH as usize).map(NfsPath3)
    }
}

/// Defines a C-like XDR enum with its wire values, a `from_u32` and the [`Wire`] impl.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $value:expr ),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Arbitrary)]
        pub enum $name { $( $(#[$vmeta])* $variant = $value ),* }

        impl $name {
            /// Every defined value, in wire order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The value for a wire discriminant, if defined.
            pub fn from_u32(v: u32) -> Option<Self> {
                match v {
                    $( $value => Some($name::$variant), )*
                    _ => None,
                }
            }
        }

        impl Wire for $name {
            fn put(&self, out: &mut BytesMut) {
                xdr::put_u32(out, *self as u32);
            }
            fn get(input: &[u8]) -> XResult<'_, Self> {
                let (rest, v) = xdr::u32(input)?;
                match $name::from_u32(v) {
                    Some(s) => Ok((rest, s)),
                    None => XdrError::fail(input, XdrErrorKind::BadDiscriminant(v)),
                }
            }
        }
    };
}

wire_enum! {
    /// `nfsstat3` (RFC 1813 §2.6): the status of every NFSv3 result.
    pub enum Nfs3Status {
        /// NFS3_OK: success.
        Ok = 0,
        /// NFS3ERR_PERM: not owner / not privileged.
        Perm = 1,
        /// NFS3ERR_NOENT: no such file or directory.
        NoEnt = 2,
        /// NFS3ERR_IO: hard I/O error.
        Io = 5,
        /// NFS3ERR_NXIO: no such device or address.
        NxIo = 6,
        /// NFS3ERR_ACCES: permission denied.
        Acces = 13,
        /// NFS3ERR_EXIST: file exists.
        Exist = 17,
        /// NFS3ERR_XDEV: cross-device hard link or rename.
        XDev = 18,
        /// NFS3ERR_NODEV: no such device.
        NoDev = 19,
        /// NFS3ERR_NOTDIR: not a directory.
        NotDir = 20,
        /// NFS3ERR_ISDIR: is a directory.
        IsDir = 21,
        /// NFS3ERR_INVAL: invalid argument or unsupported argument for an operation.
        Inval = 22,
        /// NFS3ERR_FBIG: file too large.
        FBig = 27,
        /// NFS3ERR_NOSPC: no space left on device.
        NoSpc = 28,
        /// NFS3ERR_ROFS: read-only file system.
        RoFs = 30,
        /// NFS3ERR_MLINK: too many hard links.
        MLink = 31,
        /// NFS3ERR_NAMETOOLONG: the file name in an operation was too long.
        NameTooLong = 63,
        /// NFS3ERR_NOTEMPTY: directory not empty.
        NotEmpty = 66,
        /// NFS3ERR_DQUOT: resource (quota) hard limit exceeded.
        DQuot = 69,
        /// NFS3ERR_STALE: the file handle names a file that no longer exists.
        Stale = 70,
        /// NFS3ERR_REMOTE: too many levels of remote in path.
        Remote = 71,
        /// NFS3ERR_BADHANDLE: illegal NFS file handle.
        BadHandle = 10001,
        /// NFS3ERR_NOT_SYNC: update synchronization mismatch (SETATTR guard).
        NotSync = 10002,
        /// NFS3ERR_BAD_COOKIE: READDIR or READDIRPLUS cookie is stale.
        BadCookie = 10003,
        /// NFS3ERR_NOTSUPP: operation is not supported.
        NotSupp = 10004,
        /// NFS3ERR_TOOSMALL: buffer or request is too small.
        TooSmall = 10005,
        /// NFS3ERR_SERVERFAULT: an error the protocol has no better code for.
        ServerFault = 10006,
        /// NFS3ERR_BADTYPE: an object of an unsupported type (CREATE, MKNOD).
        BadType = 10007,
        /// NFS3ERR_JUKEBOX: the request was started but cannot complete in time; retry.
        Jukebox = 10008,
    }
}

impl Nfs3Status {
    /// Every failure status (all values but [`Nfs3Status::Ok`]).
    pub fn errors() -> &'static [Nfs3Status] {
        &Self::ALL[1..]
    }
}

wire_enum! {
    /// `ftype3` (RFC 1813 §2.6): the type of a file.
    pub enum FType3 {
        /// NF3REG: regular file.
        Reg = 1,
        /// NF3DIR: directory.
        Dir = 2,
        /// NF3BLK: block device.
        Blk = 3,
        /// NF3CHR: character device.
        Chr = 4,
        /// NF3LNK: symbolic link.
        Lnk = 5,
        /// NF3SOCK: socket.
        Sock = 6,
        /// NF3FIFO: named pipe.
        Fifo = 7,
    }
}

wire_enum! {
    /// `stable_how` (RFC 1813 §3.3.7): how durable a WRITE must be before the reply.
    pub enum StableHow {
        /// UNSTABLE: may be cached until COMMIT.
        Unstable = 0,
        /// DATA_SYNC: data (and the metadata to retrieve it) on stable storage.
        DataSync = 1,
        /// FILE_SYNC: data and all metadata on stable storage.
        FileSync = 2,
    }
}

/// `specdata3` (RFC 1813 §2.6): device numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Arbitrary)]
pub struct SpecData3 {
    /// Major number.
    pub specdata1: u32,
    /// Minor number.
    pub specdata2: u32,
}
wire_struct!(SpecData3 {
    specdata1,
    specdata2
});

/// `nfstime3` (RFC 1813 §2.6): seconds and nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Arbitrary)]
pub struct NfsTime3 {
    /// Seconds.
    pub seconds: u32,
    /// Nanoseconds.
    pub nseconds: u32,
}
wire_struct!(NfsTime3 { seconds, nseconds });

/// `fattr3` (RFC 1813 §2.6): the attributes of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Arbitrary)]
pub struct Fattr3 {
    /// File type.
    pub ftype: FType3,
    /// Protection mode bits.
    pub mode: u32,
    /// Number of hard links.
    pub nlink: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Bytes of disk space used.
    pub used: u64,
    /// Device numbers (for NF3BLK and NF3CHR).
    pub rdev: SpecData3,
    /// File-system id.
    pub fsid: u64,
    /// File id (inode number) within `fsid`.
    pub fileid: u64,
    /// Last access.
    pub atime: NfsTime3,
    /// Last data modification.
    pub mtime: NfsTime3,
    /// Last attribute change.
    pub ctime: NfsTime3,
}
wire_struct!(Fattr3 {
    ftype,
    mode,
    nlink,
    uid,
    gid,
    size,
    used,
    rdev,
    fsid,
    fileid,
    atime,
    mtime,
    ctime
});

impl Fattr3 {
    /// Encoded size of a `fattr3` in bytes.
    pub const XDR_LEN: usize = 84;
}

/// `post_op_attr` (RFC 1813 §2.6): attributes after an operation, if the server has them.
pub type PostOpAttr = Option<Fattr3>;

/// `wcc_attr` (RFC 1813 §2.6): the subset of attributes used for weak cache consistency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Arbitrary)]
pub struct WccAttr {
    /// Size before the operation.
    pub size: u64,
    /// Modification time before the operation.
    pub mtime: NfsTime3,
    /// Change time before the operation.
    pub ctime: NfsTime3,
}
wire_struct!(WccAttr { size, mtime, ctime });

impl From<&Fattr3> for WccAttr {
    fn from(a: &Fattr3) -> Self {
        WccAttr {
            size: a.size,
            mtime: a.mtime,
            ctime: a.ctime,
        }
    }
}

/// `pre_op_attr` (RFC 1813 §2.6).
pub type PreOpAttr = Option<WccAttr>;

/// `wcc_data` (RFC 1813 §2.6): attributes before and after a modifying operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Arbitrary)]
pub struct WccData {
    /// Before the operation.
    pub before: PreOpAttr,
    /// After the operation.
    pub after: PostOpAttr,
}
wire_struct!(WccData { before, after });

/// `post_op_fh3` (RFC 1813 §2.6).
pub type PostOpFh3 = Option<FileHandle>;

/// `set_atime`/`set_mtime` with `time_how` (RFC 1813 §2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Arbitrary)]
pub enum SetTime3 {
    /// DONT_CHANGE (0).
    #[default]
    DontChange,
    /// SET_TO_SERVER_TIME (1).
    ServerTime,
    /// SET_TO_CLIENT_TIME (2) with the time.
    ClientTime(NfsTime3),
}

impl Wire for SetTime3 {
    fn put(&self, out: &mut BytesMut) {
        match self {
            SetTime3::DontChange => xdr::put_u32(out, 0),
            SetTime3::ServerTime => xdr::put_u32(out, 1),
            SetTime3::ClientTime(t) => {
                xdr::put_u32(out, 2);
                t.put(out);
            }
        }
    }
    fn get(input: &[u8]) -> XResult<'_, Self> {
        let (rest, how) = xdr::u32(input)?;
        match how {
            0 => Ok((rest, SetTime3::DontChange)),
            1 => Ok((rest, SetTime3::ServerTime)),
            2 => {
                let (rest, t) = NfsTime3::get(rest)?;
                Ok((rest, SetTime3::ClientTime(t)))
            }
            other => XdrError::fail(input, XdrErrorKind::BadDiscriminant(other)),
        }
    }
}

/// `sattr3` (RFC 1813 §2.6): attributes to set (SETATTR, CREATE, MKDIR, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Arbitrary)]
pub struct Sattr3 {
    /// `set_mode3`.
    pub mode: Option<u32>,
    /// `set_uid3`.
    pub uid: Option<u32>,
    /// `set_gid3`.
    pub gid: Option<u32>,
    /// `set_size3`.
    pub size: Option<u64>,
    /// `set_atime`.
    pub atime: SetTime3,
    /// `set_mtime`.
    pub mtime: SetTime3,
}
wire_struct!(Sattr3 {
    mode,
    uid,
    gid,
    size,
    atime,
    mtime
});

/// `diropargs3` (RFC 1813 §2.6): a directory and a name in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Arbitrary)]
pub struct DirOpArgs3 {
    /// The directory.
    pub dir: FileHandle,
    /// The name.
    pub name: Filename3,
}
wire_struct!(DirOpArgs3 { dir, name });

/// The void arm of a result (e.g. `GETATTR3resfail`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Arbitrary)]
pub struct Void;

impl Wire for Void {
    fn put(&self, _out: &mut BytesMut) {}
    fn get(input: &[u8]) -> XResult<'_, Self> {
        Ok((input, Void))
    }
}

/// A procedure result (`XXX3res`, RFC 1813 §3.3): `nfsstat3` then the `resok` arm for
/// NFS3_OK or the `resfail` arm for any error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Nfs3Result<T, F> {
    /// NFS3_OK with the `resok` body.
    Ok(T),
    /// A failure status (never [`Nfs3Status::Ok`]) with the `resfail` body.
    Err(Nfs3Status, F),
}

impl<T, F> Nfs3Result<T, F> {
    /// The status on the wire.
    pub fn status(&self) -> Nfs3Status {
        match self {
            Nfs3Result::Ok(_) => Nfs3Status::Ok,
            Nfs3Result::Err(s, _) => *s,
        }
    }

    /// The `resok` body, if the result is a success.
    pub fn ok(&self) -> Option<&T> {
        match self {
            Nfs3Result::Ok(t) => Some(t),
            Nfs3Result::Err(..) => None,
        }
    }
}

impl<T: Wire, F: Wire> Wire for Nfs3Result<T, F> {
    fn put(&self, out: &mut BytesMut) {
        match self {
            Nfs3Result::Ok(t) => {
                Nfs3Status::Ok.put(out);
                t.put(out);
            }
            Nfs3Result::Err(status, f) => {
                // An `Err` built with status OK is a caller bug; it is sent as SERVERFAULT so
                // that the bytes stay a valid failure arm.
                let status = if *status == Nfs3Status::Ok {
                    Nfs3Status::ServerFault
                } else {
                    *status
                };
                status.put(out);
                f.put(out);
            }
        }
    }
    fn get(input: &[u8]) -> XResult<'_, Self> {
        let (rest, status) = Nfs3Status::get(input)?;
        if status == Nfs3Status::Ok {
            let (rest, t) = T::get(rest)?;
            Ok((rest, Nfs3Result::Ok(t)))
        } else {
            let (rest, f) = F::get(rest)?;
            Ok((rest, Nfs3Result::Err(status, f)))
        }
    }
}

impl<'a, T: Arbitrary<'a>, F: Arbitrary<'a>> Arbitrary<'a> for Nfs3Result<T, F> {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        if u.arbitrary()? {
            Ok(Nfs3Result::Ok(T::arbitrary(u)?))
        } else {
            let status = *u.choose(Nfs3Status::errors())?;
            Ok(Nfs3Result::Err(status, F::arbitrary(u)?))
        }
    }
}

public_codec!(
    Nfs3Status, FType3, StableHow, SpecData3, NfsTime3, Fattr3, WccAttr, WccData, SetTime3, Sattr3,
    DirOpArgs3, Filename3, NfsPath3
);

impl std::fmt::Display for Nfs3Status {
    /// The RFC 1813 §2.6 name, e.g. `NFS3ERR_NOENT`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Nfs3Status::Ok => "NFS3_OK",
            Nfs3Status::Perm => "NFS3ERR_PERM",
            Nfs3Status::NoEnt => "NFS3ERR_NOENT",
            Nfs3Status::Io => "NFS3ERR_IO",
            Nfs3Status::NxIo => "NFS3ERR_NXIO",
            Nfs3Status::Acces => "NFS3ERR_ACCES",
            Nfs3Status::Exist => "NFS3ERR_EXIST",
            Nfs3Status::XDev => "NFS3ERR_XDEV",
            Nfs3Status::NoDev => "NFS3ERR_NODEV",
            Nfs3Status::NotDir => "NFS3ERR_NOTDIR",
            Nfs3Status::IsDir => "NFS3ERR_ISDIR",
            Nfs3Status::Inval => "NFS3ERR_INVAL",
            Nfs3Status::FBig => "NFS3ERR_FBIG",
            Nfs3Status::NoSpc => "NFS3ERR_NOSPC",
            Nfs3Status::RoFs => "NFS3ERR_ROFS",
            Nfs3Status::MLink => "NFS3ERR_MLINK",
            Nfs3Status::NameTooLong => "NFS3ERR_NAMETOOLONG",
            Nfs3Status::NotEmpty => "NFS3ERR_NOTEMPTY",
            Nfs3Status::DQuot => "NFS3ERR_DQUOT",
            Nfs3Status::Stale => "NFS3ERR_STALE",
            Nfs3Status::Remote => "NFS3ERR_REMOTE",
            Nfs3Status::BadHandle => "NFS3ERR_BADHANDLE",
            Nfs3Status::NotSync => "NFS3ERR_NOT_SYNC",
            Nfs3Status::BadCookie => "NFS3ERR_BAD_COOKIE",
            Nfs3Status::NotSupp => "NFS3ERR_NOTSUPP",
            Nfs3Status::TooSmall => "NFS3ERR_TOOSMALL",
            Nfs3Status::ServerFault => "NFS3ERR_SERVERFAULT",
            Nfs3Status::BadType => "NFS3ERR_BADTYPE",
            Nfs3Status::Jukebox => "NFS3ERR_JUKEBOX",
        };
        f.write_str(name)
    }
}
