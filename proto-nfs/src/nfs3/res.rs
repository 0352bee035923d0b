//! Results of the NFSv3 procedures (`XXX3res`, RFC 1813 §3.3.1-§3.3.21).
//!
//! Each result is an [`Nfs3Result`] of the procedure's `resok` and `resfail` bodies. READ's
//! `count` is not stored: it is the data length (derived on encode, checked on decode).

use arbitrary::Arbitrary;
use bytes::{Bytes, BytesMut};

use super::types::{
    arb_data, wire_struct, Fattr3, Filename3, Nfs3Result, NfsPath3, NfsTime3, PostOpAttr,
    PostOpFh3, StableHow, Void, WccData, Wire, MAX_DATA,
};
use super::FileHandle;
use crate::xdr::{self, XResult, XdrError, XdrErrorKind};

/// Largest number of READDIR/READDIRPLUS entries a decoded reply may hold; the input length
/// bounds it anyway (each entry is at least 24 bytes), this is a second fence.
pub const MAX_DIR_ENTRIES: usize = 1 << 16;

/// GETATTR3resok (RFC 1813 §3.3.1).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct GetattrOk {
    /// The attributes.
    pub obj_attributes: Fattr3,
}
wire_struct!(GetattrOk { obj_attributes });
/// GETATTR3res.
pub type GetattrRes = Nfs3Result<GetattrOk, Void>;

/// SETATTR3res (RFC 1813 §3.3.2): `obj_wcc` in both arms.
pub type SetattrRes = Nfs3Result<WccData, WccData>;

/// LOOKUP3resok (RFC 1813 §3.3.3).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct LookupOk {
    /// Handle of the object found.
    pub object: FileHandle,
    /// Its attributes.
    pub obj_attributes: PostOpAttr,
    /// The directory's attributes.
    pub dir_attributes: PostOpAttr,
}
wire_struct!(LookupOk {
    object,
    obj_attributes,
    dir_attributes
});
/// LOOKUP3res; the failure arm carries `dir_attributes`.
pub type LookupRes = Nfs3Result<LookupOk, PostOpAttr>;

/// ACCESS3resok (RFC 1813 §3.3.4).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct AccessOk {
    /// The object's attributes.
    pub obj_attributes: PostOpAttr,
    /// The ACCESS3_* bits granted (a subset of those asked).
    pub access: u32,
}
wire_struct!(AccessOk {
    obj_attributes,
    access
});
/// ACCESS3res.
pub type AccessRes = Nfs3Result<AccessOk, PostOpAttr>;

/// READLINK3resok (RFC 1813 §3.3.5).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct ReadlinkOk {
    /// The link's attributes.
    pub symlink_attributes: PostOpAttr,
    /// The target.
    pub data: NfsPath3,
}
wire_struct!(ReadlinkOk {
    symlink_attributes,
    data
});
/// READLINK3res.
pub type ReadlinkRes = Nfs3Result<ReadlinkOk, PostOpAttr>;

/// READ3resok (RFC 1813 §3.3.6). `count` on the wire is `data.len()`.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct ReadOk {
    /// The file's attributes.
    pub file_attributes: PostOpAttr,
    /// Whether the read reached the end of the file.
    pub eof: bool,
    /// The data.
    #[arbitrary(with = arb_data)]
    pub data: Bytes,
}

impl Wire for ReadOk {
    fn put(&self, out: &mut BytesMut) {
        self.file_attributes.put(out);
        xdr::put_u32(out, u32::try_from(self.data.len()).unwrap_or(u32::MAX));
        self.eof.put(out);
        xdr::put_opaque_var(out, &self.data);
    }
    fn get(input: &[u8]) -> XResult<'_, Self> {
        let (rest, file_attributes) = PostOpAttr::get(input)?;
        let (rest, count) = u32::get(rest)?;
        let (rest, eof) = bool::get(rest)?;
        let (after, data) = xdr::opaque_bytes(rest, MAX_DATA)?;
        if data.len() != count as usize {
            return XdrError::fail(rest, XdrErrorKind::Invalid("READ count != data length"));
        }
        Ok((
            after,
            ReadOk {
                file_attributes,
                eof,
                data,
            },
        ))
    }
}
/// READ3res.
pub type ReadRes = Nfs3Result<ReadOk, PostOpAttr>;

/// WRITE3resok (RFC 1813 §3.3.7).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct WriteOk {
    /// The file's wcc data.
    pub file_wcc: WccData,
    /// Bytes written.
    pub count: u32,
    /// Durability achieved.
    pub committed: StableHow,
    /// The server's write verifier (changes when the server restarts).
    pub verf: [u8; 8],
}
wire_struct!(WriteOk {
    file_wcc,
    count,
    committed,
    verf
});
/// WRITE3res.
pub type WriteRes = Nfs3Result<WriteOk, WccData>;

/// CREATE3resok (RFC 1813 §3.3.8), also MKDIR3resok, SYMLINK3resok and MKNOD3resok.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct CreateOk {
    /// Handle of the new object.
    pub obj: PostOpFh3,
    /// Its attributes.
    pub obj_attributes: PostOpAttr,
    /// The directory's wcc data.
    pub dir_wcc: WccData,
}
wire_struct!(CreateOk {
    obj,
    obj_attributes,
    dir_wcc
});
/// CREATE3res, MKDIR3res, SYMLINK3res, MKNOD3res (§3.3.8-§3.3.11).
pub type CreateRes = Nfs3Result<CreateOk, WccData>;

/// REMOVE3res and RMDIR3res (RFC 1813 §3.3.12-§3.3.13): `dir_wcc` in both arms.
pub type RemoveRes = Nfs3Result<WccData, WccData>;

/// RENAME3resok and RENAME3resfail (RFC 1813 §3.3.14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Arbitrary)]
pub struct RenameWcc {
    /// Source directory.
    pub fromdir_wcc: WccData,
    /// Target directory.
    pub todir_wcc: WccData,
}
wire_struct!(RenameWcc {
    fromdir_wcc,
    todir_wcc
});
/// RENAME3res.
pub type RenameRes = Nfs3Result<RenameWcc, RenameWcc>;

/// LINK3resok and LINK3resfail (RFC 1813 §3.3.15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Arbitrary)]
pub struct LinkWcc {
    /// The file's attributes.
    pub file_attributes: PostOpAttr,
    /// The link directory's wcc data.
    pub linkdir_wcc: WccData,
}
wire_struct!(LinkWcc {
    file_attributes,
    linkdir_wcc
});
/// LINK3res.
pub type LinkRes = Nfs3Result<LinkWcc, LinkWcc>;

/// `entry3` (RFC 1813 §3.3.16).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct Entry3 {
    /// File id.
    pub fileid: u64,
    /// Name.
    pub name: Filename3,
    /// Cookie to resume after this entry.
    pub cookie: u64,
}
wire_struct!(Entry3 {
    fileid,
    name,
    cookie
});

impl Entry3 {
    /// Bytes this entry takes in a READDIR reply, the list's "value follows" word included.
    pub fn xdr_len(name_len: usize) -> usize {
        4 + 8 + 4 + name_len + xdr::pad_len(name_len) + 8
    }
}

/// READDIR3resok and READDIRPLUS3resok (RFC 1813 §3.3.16, §3.3.17), with `dirlist3` /
/// `dirlistplus3` flattened: the two replies differ only in the entry type `E`
/// ([`Entry3`] or [`EntryPlus3`]), so one codec serves both.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct DirListOk<E> {
    /// The directory's attributes.
    pub dir_attributes: PostOpAttr,
    /// Verifier to send back with any cookie of this reply.
    pub cookieverf: [u8; 8],
    /// The entries.
    pub entries: Vec<E>,
    /// Whether the listing reached the end.
    pub eof: bool,
}

impl<E: Wire> Wire for DirListOk<E> {
    fn put(&self, out: &mut BytesMut) {
        self.dir_attributes.put(out);
        self.cookieverf.put(out);
        xdr::put_list(out, &self.entries, |o, e| e.put(o));
        self.eof.put(out);
    }
    fn get(input: &[u8]) -> XResult<'_, Self> {
        let (rest, dir_attributes) = PostOpAttr::get(input)?;
        let (rest, cookieverf) = <[u8; 8]>::get(rest)?;
        let (rest, entries) = xdr::list(rest, MAX_DIR_ENTRIES, E::get)?;
        let (rest, eof) = bool::get(rest)?;
        Ok((
            rest,
            DirListOk {
                dir_attributes,
                cookieverf,
                entries,
                eof,
            },
        ))
    }
}

/// READDIR3resok (RFC 1813 §3.3.16), with `dirlist3` flattened.
pub type ReaddirOk = DirListOk<Entry3>;
/// READDIR3res.
pub type ReaddirRes = Nfs3Result<ReaddirOk, PostOpAttr>;

/// `entryplus3` (RFC 1813 §3.3.17).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct EntryPlus3 {
    /// File id.
    pub fileid: u64,
    /// Name.
    pub name: Filename3,
    /// Cookie to resume after this entry.
    pub cookie: u64,
    /// Attributes.
    pub name_attributes: PostOpAttr,
    /// Handle.
    pub name_handle: PostOpFh3,
}
wire_struct!(EntryPlus3 {
    fileid,
    name,
    cookie,
    name_attributes,
    name_handle
});

impl EntryPlus3 {
    /// Bytes this entry takes in a READDIRPLUS reply, "value follows" word included.
    pub fn xdr_len(&self) -> usize {
        let attrs = 4 + self.name_attributes.map_or(0, |_| Fattr3::XDR_LEN);
        let fh = 4 + self
            .name_handle
            .as_ref()
            .map_or(0, |h| 4 + h.0.len() + xdr::pad_len(h.0.len()));
        Entry3::xdr_len(self.name.0.len()) + attrs + fh
    }
}

/// READDIRPLUS3resok (RFC 1813 §3.3.17), with `dirlistplus3` flattened.
pub type ReaddirplusOk = DirListOk<EntryPlus3>;
/// READDIRPLUS3res.
pub type ReaddirplusRes = Nfs3Result<ReaddirplusOk, PostOpAttr>;

/// FSSTAT3resok (RFC 1813 §3.3.18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub struct FsstatOk {
    /// Attributes of the handle asked about.
    pub obj_attributes: PostOpAttr,
    /// Total bytes.
    pub tbytes: u64,
    /// Free bytes.
    pub fbytes: u64,
    /// Bytes available to the caller.
    pub abytes: u64,
    /// Total file slots.
    pub tfiles: u64,
    /// Free file slots.
    pub ffiles: u64,
    /// File slots available to the caller.
    pub afiles: u64,
    /// Seconds for which the values are not expected to change (0 = volatile).
    pub invarsec: u32,
}
wire_struct!(FsstatOk {
    obj_attributes,
    tbytes,
    fbytes,
    abytes,
    tfiles,
    ffiles,
    afiles,
    invarsec
});
/// FSSTAT3res.
pub type FsstatRes = Nfs3Result<FsstatOk, PostOpAttr>;

/// FSINFO3resok (RFC 1813 §3.3.19).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub struct FsinfoOk {
    /// Attributes of the handle asked about.
    pub obj_attributes: PostOpAttr,
    /// Largest READ.
    pub rtmax: u32,
    /// Preferred READ size.
    pub rtpref: u32,
    /// Suggested READ multiple.
    pub rtmult: u32,
    /// Largest WRITE.
    pub wtmax: u32,
    /// Preferred WRITE size.
    pub wtpref: u32,
    /// Suggested WRITE multiple.
    pub wtmult: u32,
    /// Preferred READDIR size.
    pub dtpref: u32,
    /// Largest file size.
    pub maxfilesize: u64,
    /// Server time granularity.
    pub time_delta: NfsTime3,
    /// FSF3_* bits.
    pub properties: u32,
}
wire_struct!(FsinfoOk {
    obj_attributes,
    rtmax,
    rtpref,
    rtmult,
    wtmax,
    wtpref,
    wtmult,
    dtpref,
    maxfilesize,
    time_delta,
    properties
});
/// FSINFO3res.
pub type FsinfoRes = Nfs3Result<FsinfoOk, PostOpAttr>;

/// PATHCONF3resok (RFC 1813 §3.3.20).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub struct PathconfOk {
    /// Attributes of the handle asked about.
    pub obj_attributes: PostOpAttr,
    /// Largest link count.
    pub linkmax: u32,
    /// Longest file name.
    pub name_max: u32,
    /// Longer names are refused (not truncated).
    pub no_trunc: bool,
    /// chown is restricted to the super-user.
    pub chown_restricted: bool,
    /// Names are compared case-insensitively.
    pub case_insensitive: bool,
    /// Name case is preserved.
    pub case_preserving: bool,
}
wire_struct!(PathconfOk {
    obj_attributes,
    linkmax,
    name_max,
    no_trunc,
    chown_restricted,
    case_insensitive,
    case_preserving
});
/// PATHCONF3res.
pub type PathconfRes = Nfs3Result<PathconfOk, PostOpAttr>;

/// COMMIT3resok (RFC 1813 §3.3.21).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct CommitOk {
    /// The file's wcc data.
    pub file_wcc: WccData,
    /// The server's write verifier.
    pub verf: [u8; 8],
}
wire_struct!(CommitOk { file_wcc, verf });
/// COMMIT3res.
pub type CommitRes = Nfs3Result<CommitOk, WccData>;

super::types::public_codec!(
    GetattrOk,
    LookupOk,
    AccessOk,
    ReadlinkOk,
    ReadOk,
    WriteOk,
    CreateOk,
    RenameWcc,
    LinkWcc,
    Entry3,
    ReaddirOk,
    EntryPlus3,
    ReaddirplusOk,
    FsstatOk,
    FsinfoOk,
    PathconfOk,
    CommitOk,
);
