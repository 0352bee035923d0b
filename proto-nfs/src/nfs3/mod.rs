//! NFSv3 (RFC 1813): arguments and results of all 22 procedures.
//!
//! The server state machine decodes a call's arguments with [`Nfs3Call::decode`], hands the
//! call to the runtime as a file-system request, and encodes the [`Nfs3Reply`] the runtime
//! returns. Both directions are implemented ([`Nfs3Call::encode`], [`Nfs3Reply::decode`]) so
//! captures can be replayed and every message round-trips.
//!
//! - [`types`]: the basic data types of RFC 1813 §2.5-§2.6 (`nfsstat3`, `fattr3`, `wcc_data`,
//!   `sattr3`, ...).
//! - [`args`]: `XXX3args` of every procedure (§3.3.x).
//! - [`res`]: `XXX3res` of every procedure (§3.3.x).

pub mod args;
pub mod res;
pub mod types;

use bytes::{Bytes, BytesMut};

use crate::xdr::{error_kind, XdrErrorKind};

pub use args::*;
pub use res::*;
use types::Wire;
pub use types::{
    DirOpArgs3, FType3, Fattr3, Filename3, Nfs3Result, Nfs3Status, NfsPath3, NfsTime3, PostOpAttr,
    PostOpFh3, PreOpAttr, Sattr3, SetTime3, SpecData3, StableHow, Void, WccAttr, WccData, MAX_DATA,
    MAX_NAME_WIRE, MAX_PATH, NAME_MAX,
};

/// NFS program number (RFC 1813 §2.2).
pub const NFS_PROGRAM: u32 = 100_003;
/// NFS protocol version implemented here.
pub const NFS_V3: u32 = 3;

/// An NFSv3 file handle (`nfs_fh3`, at most 64 bytes, RFC 1813 §2.3.3).
///
/// Janus's handles have the layout `[version=1][share id: u32 BE][backend bytes...]`; the
/// backend part is opaque to this crate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileHandle(pub Bytes);

impl FileHandle {
    /// Largest handle NFSv3 allows (NFS3_FHSIZE).
    pub const MAX_LEN: usize = 64;
    /// Layout version written in byte 0.
    pub const VERSION: u8 = 1;
    /// Bytes before the backend part: version and share id.
    pub const PREFIX_LEN: usize = 5;

    /// Builds a handle for `share_id` around the backend's bytes (at most 59 of them).
    pub fn new(share_id: u32, backend: &[u8]) -> Option<Self> {
        if backend.len() > Self::MAX_LEN - Self::PREFIX_LEN {
            return None;
        }
        let mut v = Vec::with_capacity(Self::PREFIX_LEN + backend.len());
        v.push(Self::VERSION);
        v.extend_from_slice(&share_id.to_be_bytes());
        v.extend_from_slice(backend);
        Some(FileHandle(Bytes::from(v)))
    }

    /// The share id, or `None` if the handle is not one of ours (NFS3ERR_BADHANDLE).
    pub fn share_id(&self) -> Option<u32> {
        let b = &self.0;
        if b.len() < Self::PREFIX_LEN || b.len() > Self::MAX_LEN || b[0] != Self::VERSION {
            return None;
        }
        Some(u32::from_be_bytes([b[1], b[2], b[3], b[4]]))
    }

    /// The backend part, or `None` if the handle is malformed.
    pub fn backend(&self) -> Option<&[u8]> {
        self.share_id().map(|_| &self.0[Self::PREFIX_LEN..])
    }
}

/// ACCESS3_READ: read data or list a directory (RFC 1813 §3.3.4).
pub const ACCESS3_READ: u32 = 0x0001;
/// ACCESS3_LOOKUP: look up a name in a directory.
pub const ACCESS3_LOOKUP: u32 = 0x0002;
/// ACCESS3_MODIFY: rewrite data or modify directory entries.
pub const ACCESS3_MODIFY: u32 = 0x0004;
/// ACCESS3_EXTEND: write beyond the end or add directory entries.
pub const ACCESS3_EXTEND: u32 = 0x0008;
/// ACCESS3_DELETE: delete a directory entry.
pub const ACCESS3_DELETE: u32 = 0x0010;
/// ACCESS3_EXECUTE: execute a file.
pub const ACCESS3_EXECUTE: u32 = 0x0020;

/// FSF3_LINK: hard links are supported (RFC 1813 §3.3.19).
pub const FSF3_LINK: u32 = 0x0001;
/// FSF3_SYMLINK: symbolic links are supported.
pub const FSF3_SYMLINK: u32 = 0x0002;
/// FSF3_HOMOGENEOUS: PATHCONF is the same for every file.
pub const FSF3_HOMOGENEOUS: u32 = 0x0008;
/// FSF3_CANSETTIME: SETATTR can set times.
pub const FSF3_CANSETTIME: u32 = 0x0010;

/// Procedure numbers (RFC 1813 §3.3).
pub mod proc {
    /// NFSPROC3_NULL.
    pub const NULL: u32 = 0;
    /// NFSPROC3_GETATTR.
    pub const GETATTR: u32 = 1;
    /// NFSPROC3_SETATTR.
    pub const SETATTR: u32 = 2;
    /// NFSPROC3_LOOKUP.
    pub const LOOKUP: u32 = 3;
    /// NFSPROC3_ACCESS.
    pub const ACCESS: u32 = 4;
    /// NFSPROC3_READLINK.
    pub const READLINK: u32 = 5;
    /// NFSPROC3_READ.
    pub const READ: u32 = 6;
    /// NFSPROC3_WRITE.
    pub const WRITE: u32 = 7;
    /// NFSPROC3_CREATE.
    pub const CREATE: u32 = 8;
    /// NFSPROC3_MKDIR.
    pub const MKDIR: u32 = 9;
    /// NFSPROC3_SYMLINK.
    pub const SYMLINK: u32 = 10;
    /// NFSPROC3_MKNOD.
    pub const MKNOD: u32 = 11;
    /// NFSPROC3_REMOVE.
    pub const REMOVE: u32 = 12;
    /// NFSPROC3_RMDIR.
    pub const RMDIR: u32 = 13;
    /// NFSPROC3_RENAME.
    pub const RENAME: u32 = 14;
    /// NFSPROC3_LINK.
    pub const LINK: u32 = 15;
    /// NFSPROC3_READDIR.
    pub const READDIR: u32 = 16;
    /// NFSPROC3_READDIRPLUS.
    pub const READDIRPLUS: u32 = 17;
    /// NFSPROC3_FSSTAT.
    pub const FSSTAT: u32 = 18;
    /// NFSPROC3_FSINFO.
    pub const FSINFO: u32 = 19;
    /// NFSPROC3_PATHCONF.
    pub const PATHCONF: u32 = 20;
    /// NFSPROC3_COMMIT.
    pub const COMMIT: u32 = 21;
}

/// Decodes a whole argument or result body, refusing trailing bytes.
fn decode_all<T: Wire>(input: &[u8]) -> Result<T, Option<XdrErrorKind>> {
    match T::get(input) {
        Ok(([], v)) => Ok(v),
        Ok(_) => Err(Some(XdrErrorKind::Invalid("trailing bytes"))),
        Err(e) => Err(Some(error_kind(e))),
    }
}

/// Declares `Nfs3Call` and `Nfs3Reply` with one variant per procedure and their codecs.
macro_rules! procedures {
    ($( $num:literal $variant:ident ( $args:ty ) -> ( $res:ty ) ),* $(,)?) => {
        /// A decoded NFSv3 call (one variant per procedure, RFC 1813 §3.3).
        #[derive(Debug, Clone, PartialEq, Eq, arbitrary::Arbitrary)]
        pub enum Nfs3Call {
            /// Procedure 0: NULL (§3.3.0).
            Null,
            $(
                #[doc = concat!("Procedure ", stringify!($num), ": ", stringify!($variant), ".")]
                $variant($args),
            )*
        }

        /// The result of an NFSv3 call, ready to encode as the reply body.
        #[derive(Debug, Clone, PartialEq, Eq, arbitrary::Arbitrary)]
        pub enum Nfs3Reply {
            /// Procedure 0: NULL (void result).
            Null,
            $(
                #[doc = concat!("Procedure ", stringify!($num), ": ", stringify!($variant), ".")]
                $variant($res),
            )*
        }

        impl Nfs3Call {
            /// Decodes the arguments of `procedure`. `Err(None)` means the procedure number is
            /// not defined (PROC_UNAVAIL); `Err(Some(kind))` means malformed arguments
            /// (GARBAGE_ARGS), including trailing bytes after them.
            pub fn decode(procedure: u32, args: &[u8]) -> Result<Self, Option<XdrErrorKind>> {
                match procedure {
                    0 if args.is_empty() => Ok(Nfs3Call::Null),
                    0 => Err(Some(XdrErrorKind::Invalid("trailing bytes"))),
                    $( $num => decode_all::<$args>(args).map(Nfs3Call::$variant), )*
                    _ => Err(None),
                }
            }

            /// Appends the XDR form of the arguments (the client side; pcap replay).
            pub fn encode(&self, out: &mut BytesMut) {
                match self {
                    Nfs3Call::Null => {}
                    $( Nfs3Call::$variant(a) => a.put(out), )*
                }
            }

            /// The procedure number.
            pub fn procedure(&self) -> u32 {
                match self {
                    Nfs3Call::Null => 0,
                    $( Nfs3Call::$variant(_) => $num, )*
                }
            }
        }

        impl Nfs3Reply {
            /// Appends the XDR form of the result.
            pub fn encode(&self, out: &mut BytesMut) {
                match self {
                    Nfs3Reply::Null => {}
                    $( Nfs3Reply::$variant(r) => r.put(out), )*
                }
            }

            /// Decodes the result of `procedure` (the client side; pcap replay). Errors as
            /// for [`Nfs3Call::decode`].
            pub fn decode(procedure: u32, body: &[u8]) -> Result<Self, Option<XdrErrorKind>> {
                match procedure {
                    0 if body.is_empty() => Ok(Nfs3Reply::Null),
                    0 => Err(Some(XdrErrorKind::Invalid("trailing bytes"))),
                    $( $num => decode_all::<$res>(body).map(Nfs3Reply::$variant), )*
                    _ => Err(None),
                }
            }

            /// The procedure number this result answers.
            pub fn procedure(&self) -> u32 {
                match self {
                    Nfs3Reply::Null => 0,
                    $( Nfs3Reply::$variant(_) => $num, )*
                }
            }
        }
    };
}

procedures! {
    1 Getattr(GetattrArgs) -> (GetattrRes),
    2 Setattr(SetattrArgs) -> (SetattrRes),
    3 Lookup(LookupArgs) -> (LookupRes),
    4 Access(AccessArgs) -> (AccessRes),
    5 Readlink(ReadlinkArgs) -> (ReadlinkRes),
    6 Read(ReadArgs) -> (ReadRes),
    7 Write(WriteArgs) -> (WriteRes),
    8 Create(CreateArgs) -> (CreateRes),
    9 Mkdir(MkdirArgs) -> (CreateRes),
    10 Symlink(SymlinkArgs) -> (CreateRes),
    11 Mknod(MknodArgs) -> (CreateRes),
    12 Remove(RemoveArgs) -> (RemoveRes),
    13 Rmdir(RemoveArgs) -> (RemoveRes),
    14 Rename(RenameArgs) -> (RenameRes),
    15 Link(LinkArgs) -> (LinkRes),
    16 Readdir(ReaddirArgs) -> (ReaddirRes),
    17 Readdirplus(ReaddirplusArgs) -> (ReaddirplusRes),
    18 Fsstat(FsrootArgs) -> (FsstatRes),
    19 Fsinfo(FsrootArgs) -> (FsinfoRes),
    20 Pathconf(PathconfArgs) -> (PathconfRes),
    21 Commit(CommitArgs) -> (CommitRes),
}

impl Nfs3Call {
    /// Like [`Nfs3Call::decode`], but WRITE data is a slice of `args` instead of a copy, so a
    /// 1 MiB WRITE costs no extra copy between the record buffer and the file system.
    pub fn decode_shared(procedure: u32, args: &Bytes) -> Result<Self, Option<XdrErrorKind>> {
        if procedure != proc::WRITE {
            return Self::decode(procedure, args);
        }
        match WriteArgs::get_borrowed(args) {
            Ok(([], (file, offset, stable, data))) => Ok(Nfs3Call::Write(WriteArgs {
                file,
                offset,
                stable,
                data: args.slice_ref(data),
            })),
            Ok(_) => Err(Some(XdrErrorKind::Invalid("trailing bytes"))),
            Err(e) => Err(Some(error_kind(e))),
        }
    }

    /// Whether the procedure changes the file system: what NFS3ERR_ROFS applies to on a
    /// read-only share. COMMIT is not modifying (it only makes earlier writes durable).
    pub fn is_modifying(&self) -> bool {
        matches!(
            self,
            Nfs3Call::Setattr(_)
                | Nfs3Call::Write(_)
                | Nfs3Call::Create(_)
                | Nfs3Call::Mkdir(_)
                | Nfs3Call::Symlink(_)
                | Nfs3Call::Mknod(_)
                | Nfs3Call::Remove(_)
                | Nfs3Call::Rmdir(_)
                | Nfs3Call::Rename(_)
                | Nfs3Call::Link(_)
        )
    }

    /// Whether executing the call twice gives the same result as once, so the
    /// duplicate-request cache need not keep its reply. Exactly the non-modifying
    /// procedures (COMMIT included: committing twice is harmless).
    pub fn is_idempotent(&self) -> bool {
        !self.is_modifying()
    }

    /// Every file handle in the arguments, the one naming the share first.
    pub fn file_handles(&self) -> Vec<&FileHandle> {
        match self {
            Nfs3Call::Null => vec![],
            Nfs3Call::Getattr(a) => vec![&a.object],
            Nfs3Call::Setattr(a) => vec![&a.object],
            Nfs3Call::Lookup(a) => vec![&a.what.dir],
            Nfs3Call::Access(a) => vec![&a.object],
            Nfs3Call::Readlink(a) => vec![&a.symlink],
            Nfs3Call::Read(a) => vec![&a.file],
            Nfs3Call::Write(a) => vec![&a.file],
            Nfs3Call::Create(a) => vec![&a.where_.dir],
            Nfs3Call::Mkdir(a) => vec![&a.where_.dir],
            Nfs3Call::Symlink(a) => vec![&a.where_.dir],
            Nfs3Call::Mknod(a) => vec![&a.where_.dir],
            Nfs3Call::Remove(a) | Nfs3Call::Rmdir(a) => vec![&a.object.dir],
            Nfs3Call::Rename(a) => vec![&a.from.dir, &a.to.dir],
            Nfs3Call::Link(a) => vec![&a.file, &a.link.dir],
            Nfs3Call::Readdir(a) => vec![&a.dir],
            Nfs3Call::Readdirplus(a) => vec![&a.dir],
            Nfs3Call::Fsstat(a) | Nfs3Call::Fsinfo(a) => vec![&a.fsroot],
            Nfs3Call::Pathconf(a) => vec![&a.object],
            Nfs3Call::Commit(a) => vec![&a.file],
        }
    }
}

impl Nfs3Reply {
    /// The failure arm of `call`'s result with `status`, with empty wcc data and no
    /// post-op attributes (RFC 1813 allows both to be absent). `status` must be an error;
    /// [`Nfs3Status::Ok`] is replaced by NFS3ERR_SERVERFAULT. For NULL (which cannot fail)
    /// the void result is returned.
    pub fn error_for(call: &Nfs3Call, status: Nfs3Status) -> Nfs3Reply {
        let s = if status == Nfs3Status::Ok {
            Nfs3Status::ServerFault
        } else {
            status
        };
        let wcc = WccData::default();
        match call {
            Nfs3Call::Null => Nfs3Reply::Null,
            Nfs3Call::Getattr(_) => Nfs3Reply::Getattr(Nfs3Result::Err(s, Void)),
            Nfs3Call::Setattr(_) => Nfs3Reply::Setattr(Nfs3Result::Err(s, wcc)),
            Nfs3Call::Lookup(_) => Nfs3Reply::Lookup(Nfs3Result::Err(s, None)),
            Nfs3Call::Access(_) => Nfs3Reply::Access(Nfs3Result::Err(s, None)),
            Nfs3Call::Readlink(_) => Nfs3Reply::Readlink(Nfs3Result::Err(s, None)),
            Nfs3Call::Read(_) => Nfs3Reply::Read(Nfs3Result::Err(s, None)),
            Nfs3Call::Write(_) => Nfs3Reply::Write(Nfs3Result::Err(s, wcc)),
            Nfs3Call::Create(_) => Nfs3Reply::Create(Nfs3Result::Err(s, wcc)),
            Nfs3Call::Mkdir(_) => Nfs3Reply::Mkdir(Nfs3Result::Err(s, wcc)),
            Nfs3Call::Symlink(_) => Nfs3Reply::Symlink(Nfs3Result::Err(s, wcc)),
            Nfs3Call::Mknod(_) => Nfs3Reply::Mknod(Nfs3Result::Err(s, wcc)),
            Nfs3Call::Remove(_) => Nfs3Reply::Remove(Nfs3Result::Err(s, wcc)),
            Nfs3Call::Rmdir(_) => Nfs3Reply::Rmdir(Nfs3Result::Err(s, wcc)),
            Nfs3Call::Rename(_) => Nfs3Reply::Rename(Nfs3Result::Err(s, RenameWcc::default())),
            Nfs3Call::Link(_) => Nfs3Reply::Link(Nfs3Result::Err(s, LinkWcc::default())),
            Nfs3Call::Readdir(_) => Nfs3Reply::Readdir(Nfs3Result::Err(s, None)),
            Nfs3Call::Readdirplus(_) => Nfs3Reply::Readdirplus(Nfs3Result::Err(s, None)),
            Nfs3Call::Fsstat(_) => Nfs3Reply::Fsstat(Nfs3Result::Err(s, None)),
            Nfs3Call::Fsinfo(_) => Nfs3Reply::Fsinfo(Nfs3Result::Err(s, None)),
            Nfs3Call::Pathconf(_) => Nfs3Reply::Pathconf(Nfs3Result::Err(s, None)),
            Nfs3Call::Commit(_) => Nfs3Reply::Commit(Nfs3Result::Err(s, wcc)),
        }
    }

    /// Like [`Nfs3Reply::encode`], but the data of a successful READ is not copied into
    /// `out`: it is returned, and the caller sends `out`, then the data, then
    /// `xdr::pad_len(data.len())` zero bytes (the data is the last field of READ3resok, so
    /// the three pieces are exactly the bytes `encode` writes). Any other reply is encoded
    /// whole and `None` returned.
    pub fn encode_head(&self, out: &mut BytesMut) -> Option<Bytes> {
        match self {
            Nfs3Reply::Read(Nfs3Result::Ok(ok)) => {
                Nfs3Status::Ok.put(out);
                ok.file_attributes.put(out);
                let len = u32::try_from(ok.data.len()).unwrap_or(u32::MAX);
                crate::xdr::put_u32(out, len);
                ok.eof.put(out);
                crate::xdr::put_u32(out, len);
                Some(ok.data.slice(..len as usize))
            }
            other => {
                other.encode(out);
                None
            }
        }
    }

    /// The `nfsstat3` of the result (NFS3_OK for NULL).
    pub fn status(&self) -> Nfs3Status {
        match self {
            Nfs3Reply::Null => Nfs3Status::Ok,
            Nfs3Reply::Getattr(r) => r.status(),
            Nfs3Reply::Setattr(r) => r.status(),
            Nfs3Reply::Lookup(r) => r.status(),
            Nfs3Reply::Access(r) => r.status(),
            Nfs3Reply::Readlink(r) => r.status(),
            Nfs3Reply::Read(r) => r.status(),
            Nfs3Reply::Write(r) => r.status(),
            Nfs3Reply::Create(r)
            | Nfs3Reply::Mkdir(r)
            | Nfs3Reply::Symlink(r)
            | Nfs3Reply::Mknod(r) => r.status(),
            Nfs3Reply::Remove(r) | Nfs3Reply::Rmdir(r) => r.status(),
            Nfs3Reply::Rename(r) => r.status(),
            Nfs3Reply::Link(r) => r.status(),
            Nfs3Reply::Readdir(r) => r.status(),
            Nfs3Reply::Readdirplus(r) => r.status(),
            Nfs3Reply::Fsstat(r) => r.status(),
            Nfs3Reply::Fsinfo(r) => r.status(),
            Nfs3Reply::Pathconf(r) => r.status(),
            Nfs3Reply::Commit(r) => r.status(),
        }
    }
}
