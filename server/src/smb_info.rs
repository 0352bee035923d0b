//! The file-information half of the SMB server: what a file looks like to an SMB client
//! ([`SmbView`], built from the backend's [`vfs::DosAttrs`] by [`view_dos`]), and the
//! QUERY_INFO and SET_INFO executors the core runs inside a file-system job
//! ([`query_info`], [`set_info`]; QUERY_DIRECTORY is [`crate::smb_dir`]). They are plain
//! synchronous functions over `&dyn vfs::Vfs`: the core passes what the open knows
//! ([`OpenView`]) and what the volume is ([`VolumeView`]), and applies what only it can
//! (position, mode, delete-pending, rename, link: [`SetInfoOutcome`]) to its own tables.
//!
//! # Access checks and statuses
//! QUERY_INFO checks the open's granted access as MS-SMB2 §3.3.5.20.1 and §3.3.5.20.3 list
//! it (FILE_READ_ATTRIBUTES for the attribute and time classes, READ_CONTROL for owner,
//! group and DACL, ACCESS_SYSTEM_SECURITY, never granted, for the SACL); SET_INFO as
//! §3.3.5.21.1 and §3.3.5.21.3 (FILE_WRITE_ATTRIBUTES for basic, FILE_WRITE_DATA for
//! end-of-file and allocation, DELETE for disposition and rename, WRITE_OWNER / WRITE_DAC
//! for security). On a read-only share every change is STATUS_ACCESS_DENIED: the open was
//! never granted a write right there ([`crate::smb_access`]), as with Samba, whose
//! read-only share refuses write access at CREATE; a backend that is itself read-only
//! answers STATUS_MEDIA_WRITE_PROTECTED (Samba's EROFS mapping, [`vfs_status`]).
//!
//! Named deviations: the `-1` "stop updating this time" marker of SET_INFO basic is
//! reported to the core ([`SetInfoOutcome::Applied`]) but the backend keeps updating the
//! time; ChangeTime cannot be set (it is the kernel's ctime); FILE_DISPOSITION_POSIX_SEMANTICS
//! and FILE_DISPOSITION_ON_CLOSE are refused (STATUS_NOT_SUPPORTED); attribute bits that
//! cannot be set are ignored, as Samba ignores them; READONLY lives in the mode (below).
//!
//! Where Janus follows MS-FSA and the lab's Samba 4.17 answers otherwise (checked with
//! smbprotocol against `samba-peer.sh`): FileFsAttributeInformation in a buffer that holds
//! the fixed part and one character but not the whole name (BUFFER_OVERFLOW; Samba
//! INFO_LENGTH_MISMATCH); end-of-file or allocation on a directory (INVALID_PARAMETER;
//! Samba INVALID_HANDLE and SUCCESS); FileIdInformation is answered (Samba:
//! INVALID_INFO_CLASS). Where Janus follows Samba: FileNameInformation is answered over
//! SMB2 (`\path`), unknown query classes are INVALID_INFO_CLASS.
//!
//! # From POSIX and DOS attributes to SMB ([`view_dos`])
//! All of the mapping lives in [`view_named`], [`view_dos`] and [`dos_attributes`]:
//! - times: Unix times become FILETIMEs ([`filetime`]); LastAccessTime = atime,
//!   LastWriteTime = mtime, ChangeTime = ctime. CreationTime is what the backend reports
//!   ([`vfs::DosAttrs::creation_time`]: one SET_INFO stored, else the file system's birth
//!   time, else the earlier of mtime and ctime); SET_INFO stores it
//!   ([`Vfs::set_dos_attrs`]). Without [`vfs::DosAttrs`] ([`view`], [`view_named`]) it is
//!   the earlier of mtime and ctime (Samba's `calc_create_time_stat` also considers atime;
//!   Janus does not, because a `touch -a` into the past would then move it).
//! - attributes: the bits the backend stores (`user.DOSATTRIB`, Samba's format: HIDDEN,
//!   SYSTEM, ARCHIVE, TEMPORARY, OFFLINE, NOT_CONTENT_INDEXED), DIRECTORY for a directory,
//!   HIDDEN for a name starting with `.` (Samba's `hide dot files = yes`), and READONLY for
//!   a non-directory without the owner write bit. A file with nothing stored shows no
//!   attribute, i.e. FILE_ATTRIBUTE_NORMAL, as Samba 4.17 answers it (the captured
//!   `fscc-17-basic-resp`: `hello.txt`, mode 0640). READONLY is kept in the mode rather
//!   than stored, so that NFS clients see and obey it too: SET_INFO maps it onto the write
//!   bits ([`apply_dos_attributes`], Samba's `map readonly = yes`); a READONLY bit stored
//!   by an earlier Samba is still shown until the next SET_INFO of the attributes. ARCHIVE
//!   is never derived from the mode (`map archive`, ignored by Samba when it stores
//!   attributes).
//! - sizes: EndOfFile is the size, AllocationSize the bytes allocated (`used`, st_blocks ×
//!   512 on Linux: 4096 for the captured 12-byte file); both are 0 for a directory, as Samba
//!   answers (`get_file_size_stat`, `vfswrap_get_alloc_size`).
//! - the file id (FileInternalInformation IndexNumber, FileId of the directory classes) is
//!   the inode number, as Samba reports it (the captured IndexNumber is the inode).

use proto_smb2::cmd::{
    ErrorResponse, FileTimesAndSizes, OutputBufferResponse, QueryInfoRequest, SetInfoRequest,
    SetInfoResponse,
};
use proto_smb2::fscc::file::{
    mode, FileAccessInformation, FileAlignmentInformation, FileAllInformation,
    FileAlternateNameInformation, FileAttributeTagInformation, FileBasicInformation,
    FileCompressionInformation, FileEaInformation, FileInternalInformation, FileModeInformation,
    FileNameInformation, FileNetworkOpenInformation, FileNormalizedNameInformation,
    FilePositionInformation, FileStandardInformation, FileStreamInformation, SetFileInfo,
};
use proto_smb2::fscc::fs::{
    device, FileFsAttributeInformation, FileFsDeviceInformation, FileFsFullSizeInformation,
    FileFsObjectIdInformation, FileFsSectorSizeInformation, FileFsVolumeInformation,
};
use proto_smb2::fscc::{
    attributes, file_class, fit_query_output, fit_security_output, fs_class, info_type, FileTime,
    InfoClass, TimeUpdate,
};
use proto_smb2::names::{parse_rename_target, SharePath};
use proto_smb2::security::{self, security_information, SecurityDescriptor, UnixOwnership};
use proto_smb2::server::Reply;
use proto_smb2::NtStatus;
use vfs::{
    file_attributes, Caller, DosAttrs, FileAttr, FileKind, Handle, SetAttrs, SetDosAttrs, SetTime,
    Timestamp, Vfs, VfsError,
};

use crate::smb_access;

/// What an SMB client sees of a file: the fields the MS-FSCC information classes are built
/// from (basic, standard, internal, network-open, attribute-tag and the directory classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmbView {
    /// CreationTime, a FILETIME (100 ns since 1601): the backend's
    /// ([`vfs::DosAttrs::creation_time`]), or the earlier of mtime and ctime without it.
    pub creation_time: u64,
    /// LastAccessTime (atime), a FILETIME.
    pub last_access_time: u64,
    /// LastWriteTime (mtime), a FILETIME.
    pub last_write_time: u64,
    /// ChangeTime (ctime, the last metadata change), a FILETIME.
    pub change_time: u64,
    /// AllocationSize: bytes allocated on disk; 0 for a directory.
    pub allocation_size: u64,
    /// EndOfFile: the file size in bytes; 0 for a directory.
    pub end_of_file: u64,
    /// FileAttributes (FILE_ATTRIBUTE_* of MS-FSCC §2.6: stored, and derived from the mode
    /// and name), without the NORMAL substitution: use [`SmbView::query_attributes`] for
    /// the wire value of a query.
    pub file_attributes: u32,
    /// The file id: the inode number (FileInternalInformation IndexNumber).
    pub file_id: u64,
    /// NumberOfLinks: hard links to the file; 1 for a directory (as Samba answers).
    pub number_of_links: u32,
    /// Whether the file is a directory (FileStandardInformation.Directory).
    pub directory: bool,
}

impl SmbView {
    /// The attribute word a query answers: FILE_ATTRIBUTE_NORMAL when no other bit is set
    /// (MS-FSCC §2.6).
    pub fn query_attributes(&self) -> u32 {
        attributes::for_query(self.file_attributes)
    }

    /// The times and sizes a CREATE response (MS-SMB2 §2.2.14) and a CLOSE response with
    /// SMB2_CLOSE_FLAG_POSTQUERY_ATTRIB (§2.2.16) carry; FileAttributes go beside them as
    /// [`SmbView::query_attributes`].
    pub fn times_and_sizes(&self) -> FileTimesAndSizes {
        FileTimesAndSizes {
            creation_time: self.creation_time,
            last_access_time: self.last_access_time,
            last_write_time: self.last_write_time,
            change_time: self.change_time,
            allocation_size: self.allocation_size,
            end_of_file: self.end_of_file,
        }
    }

    /// The four times in the order of FileBasicInformation (creation, last access, last
    /// write, change).
    pub fn times(&self) -> [FileTime; 4] {
        [
            FileTime(self.creation_time),
            FileTime(self.last_access_time),
            FileTime(self.last_write_time),
            FileTime(self.change_time),
        ]
    }
}

/// The FILETIME of a Unix timestamp (100 ns resolution, clamped to the FILETIME range:
/// before 1601 is 0).
pub fn filetime(ts: Timestamp) -> u64 {
    FileTime::from_unix(ts.secs, ts.nsecs).0
}

/// The Unix timestamp of a FILETIME, exact to 100 ns (the inverse of [`filetime`] within
/// its range).
pub fn timestamp(ft: u64) -> Timestamp {
    let (secs, nsecs) = FileTime(ft).to_unix();
    Timestamp { secs, nsecs }
}

/// How a file looks to SMB from its POSIX attributes alone, without its name (no stored
/// DOS attribute or creation time: use [`view_dos`] where [`Vfs::dos_attrs`] was read;
/// no HIDDEN for dot files: use [`view_named`] where the name is known).
pub fn view(attr: &FileAttr) -> SmbView {
    view_named(attr, b"")
}

/// How the file `name` (its last path component; empty for the share root or when unknown)
/// with attributes `attr` looks to SMB. See the module documentation for the mapping.
pub fn view_named(attr: &FileAttr, name: &[u8]) -> SmbView {
    let directory = attr.kind == FileKind::Directory;
    let (allocation_size, end_of_file) = if directory {
        (0, 0)
    } else {
        (attr.used, attr.size)
    };
    SmbView {
        creation_time: filetime(attr.mtime.min(attr.ctime)),
        last_access_time: filetime(attr.atime),
        last_write_time: filetime(attr.mtime),
        change_time: filetime(attr.ctime),
        allocation_size,
        end_of_file,
        file_attributes: dos_attributes(attr, name),
        file_id: attr.fileid,
        // Samba answers 1 for a directory whatever its link count (the lab's 4.17).
        number_of_links: if directory { 1 } else { attr.nlink },
        directory,
    }
}

/// How the file `name` looks to SMB with its Windows-side attributes `d` (one
/// [`Vfs::dos_attrs`]): [`view_named`] of `d.attr`, with the creation time the backend
/// reports (stored, birth or derived, `vfs::CreationSource`) and the stored DOS attribute
/// bits added to the ones the mode and the name give ([`dos_attributes`]).
pub fn view_dos(d: &DosAttrs, name: &[u8]) -> SmbView {
    let mut v = view_named(&d.attr, name);
    v.creation_time = filetime(d.creation_time);
    v.file_attributes |= d.attributes & file_attributes::STORABLE;
    v
}

/// The DOS attributes the mode and the name of the file `name` with attributes `attr`
/// give (see the module documentation): DIRECTORY for a directory; READONLY for a
/// non-directory without the owner write bit; HIDDEN for a name starting with `.` (not `.`
/// and `..` themselves). The stored ones are added by [`view_dos`].
pub fn dos_attributes(attr: &FileAttr, name: &[u8]) -> u32 {
    let mut a = 0;
    if attr.kind == FileKind::Directory {
        a |= attributes::DIRECTORY;
    } else if attr.mode & 0o200 == 0 {
        a |= attributes::READONLY;
    }
    if name.first() == Some(&b'.') && name != b"." && name != b".." {
        a |= attributes::HIDDEN;
    }
    a
}

// ---------------------------------------------------------------------------------------
// What the open and the volume know
// ---------------------------------------------------------------------------------------

/// What an open knows that the file system does not: the state QUERY_INFO answers from and
/// SET_INFO checks against. The core builds one from its open table for each call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpenView {
    /// The path the file was opened by, relative to the share root (no components: the
    /// root). FileNameInformation answers it with a leading `\`, FileNormalizedName-
    /// Information without (as Samba does).
    pub path: SharePath,
    /// The access granted at CREATE (MS-SMB2 Open.GrantedAccess), generic rights mapped.
    pub granted_access: u32,
    /// CurrentByteOffset (FilePositionInformation), kept by the open.
    pub position: u64,
    /// The FileModeInformation flags of the open (FILE_WRITE_THROUGH, FILE_SEQUENTIAL_ONLY,
    /// FILE_NO_INTERMEDIATE_BUFFERING, FILE_SYNCHRONOUS_IO_*, FILE_DELETE_ON_CLOSE).
    pub mode: u32,
    /// DeletePending (FileStandardInformation): the file is marked for deletion.
    pub delete_pending: bool,
    /// The open is of a directory.
    pub is_dir: bool,
    /// The share is read-only: every SET_INFO that changes something is refused with
    /// STATUS_ACCESS_DENIED, whatever the granted access says.
    pub read_only: bool,
    /// The connection's dialect (0x0202 ... 0x0311): FileNormalizedNameInformation is a
    /// 3.1.1 class (MS-SMB2 §3.3.5.20.1).
    pub dialect: u16,
}

/// What the file-system classes say about a share's volume.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VolumeView {
    /// VolumeSerialNumber (FileFsVolumeInformation; FileIdInformation's high word is 0).
    pub serial_number: u32,
    /// VolumeLabel (Samba answers the share name).
    pub label: String,
    /// VolumeCreationTime, a FILETIME (Samba answers the share root's creation time).
    pub creation_time: u64,
    /// ObjectId of FileFsObjectIdInformation (a GUID identifying the volume).
    pub object_id: [u8; 16],
    /// The share is read-only (FILE_READ_ONLY_VOLUME, FILE_READ_ONLY_DEVICE).
    pub read_only: bool,
}

impl VolumeView {
    /// The volume of the share `name` whose root has attributes `root`: the serial number
    /// and object id are derived from the share name (stable across restarts, different
    /// per share; Samba derives its serial from the share and machine names the same way),
    /// the creation time is the root's ([`view`]), the label the share name.
    pub fn for_share(name: &str, root: &FileAttr, read_only: bool) -> VolumeView {
        // FNV-1a over the name, from two different offset bases.
        let fnv = |basis: u64| {
            name.bytes().fold(basis, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
            })
        };
        let a = fnv(0xcbf2_9ce4_8422_2325);
        let b = fnv(0x8422_2325_cbf2_9ce4);
        let mut object_id = [0u8; 16];
        object_id[..8].copy_from_slice(&a.to_le_bytes());
        object_id[8..].copy_from_slice(&b.to_le_bytes());
        VolumeView {
            serial_number: (a as u32) ^ ((a >> 32) as u32),
            label: name.to_string(),
            creation_time: view(root).creation_time,
            object_id,
            read_only,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Statuses
// ---------------------------------------------------------------------------------------

/// STATUS_DISK_FULL.
pub const STATUS_DISK_FULL: NtStatus = NtStatus(0xC000_007F);
/// STATUS_MEDIA_WRITE_PROTECTED: what Samba answers for EROFS.
pub const STATUS_MEDIA_WRITE_PROTECTED: NtStatus = NtStatus(0xC000_00A2);
/// STATUS_FILE_IS_A_DIRECTORY.
pub const STATUS_FILE_IS_A_DIRECTORY: NtStatus = NtStatus(0xC000_00BA);
/// STATUS_NOT_A_DIRECTORY.
pub const STATUS_NOT_A_DIRECTORY: NtStatus = NtStatus(0xC000_0103);
/// STATUS_DIRECTORY_NOT_EMPTY.
pub const STATUS_DIRECTORY_NOT_EMPTY: NtStatus = NtStatus(0xC000_0101);
/// STATUS_NOT_SAME_DEVICE.
pub const STATUS_NOT_SAME_DEVICE: NtStatus = NtStatus(0xC000_00D4);
/// STATUS_TOO_MANY_LINKS.
pub const STATUS_TOO_MANY_LINKS: NtStatus = NtStatus(0xC000_0265);
/// STATUS_UNEXPECTED_IO_ERROR.
pub const STATUS_UNEXPECTED_IO_ERROR: NtStatus = NtStatus(0xC000_00E9);
/// STATUS_FILE_DELETED: the open's file is gone (its backend handle is stale).
pub const STATUS_FILE_DELETED: NtStatus = NtStatus(0xC000_0123);
/// STATUS_CANNOT_DELETE: delete-pending on a READONLY file (MS-FSA 2.1.5.15.3).
pub const STATUS_CANNOT_DELETE: NtStatus = NtStatus(0xC000_0121);

/// The NTSTATUS for a backend error, as Samba's `map_nt_error_from_unix` maps the errno
/// (EROFS → MEDIA_WRITE_PROTECTED, ENOSPC/EFBIG → DISK_FULL, ENAMETOOLONG →
/// OBJECT_NAME_INVALID, ...). A stale handle is a file deleted behind the open:
/// STATUS_FILE_DELETED.
pub fn vfs_status(e: VfsError) -> NtStatus {
    match e {
        VfsError::NotFound => NtStatus::OBJECT_NAME_NOT_FOUND,
        VfsError::Exists => NtStatus::OBJECT_NAME_COLLISION,
        VfsError::NotDir => STATUS_NOT_A_DIRECTORY,
        VfsError::IsDir => STATUS_FILE_IS_A_DIRECTORY,
        VfsError::NotEmpty => STATUS_DIRECTORY_NOT_EMPTY,
        VfsError::Access | VfsError::Perm => NtStatus::ACCESS_DENIED,
        VfsError::NoSpace | VfsError::TooBig => STATUS_DISK_FULL,
        VfsError::ReadOnly => STATUS_MEDIA_WRITE_PROTECTED,
        VfsError::Stale | VfsError::BadHandle => STATUS_FILE_DELETED,
        VfsError::NameTooLong => NtStatus::OBJECT_NAME_INVALID,
        VfsError::Invalid | VfsError::BadCookie => NtStatus::INVALID_PARAMETER,
        VfsError::CrossDevice => STATUS_NOT_SAME_DEVICE,
        VfsError::TooManyLinks => STATUS_TOO_MANY_LINKS,
        VfsError::NotSupported => NtStatus::NOT_SUPPORTED,
        VfsError::Io => STATUS_UNEXPECTED_IO_ERROR,
    }
}

/// A response carrying an output buffer (QUERY_INFO, QUERY_DIRECTORY) with `status`
/// (SUCCESS or the BUFFER_OVERFLOW warning, which keeps the body).
pub fn output_reply(status: NtStatus, data: Vec<u8>) -> Reply {
    let mut body = Vec::with_capacity(9 + data.len());
    OutputBufferResponse { data }.encode(&mut body);
    Reply::Body { status, body }
}

// ---------------------------------------------------------------------------------------
// QUERY_INFO
// ---------------------------------------------------------------------------------------

/// Fits a class into the output buffer (MS-SMB2 §3.3.5.20.1: INFO_LENGTH_MISMATCH below
/// the fixed part, BUFFER_OVERFLOW with what fits).
fn fit<T: InfoClass>(value: &T, len: u32) -> Reply {
    match fit_query_output(value, len) {
        Ok(out) => output_reply(out.status, out.data),
        Err(st) => Reply::error(st),
    }
}

/// The access a QUERY_INFO file class needs (MS-SMB2 §3.3.5.20.1's table):
/// FILE_READ_ATTRIBUTES for the classes that show attributes or times, FILE_READ_EA for
/// the EA list, nothing for the others.
fn query_file_access(class: u8) -> u32 {
    use file_class as c;
    match class {
        c::ALL | c::ATTRIBUTE_TAG | c::BASIC | c::NETWORK_OPEN | c::PIPE => {
            smb_access::FILE_READ_ATTRIBUTES
        }
        c::FULL_EA => smb_access::FILE_READ_EA,
        _ => 0,
    }
}

/// FileNameInformation's name: the share-relative path with a leading `\`.
fn name_info(path: &SharePath) -> Vec<u16> {
    let mut s = String::with_capacity(1 + path.components.iter().map(String::len).sum::<usize>());
    for c in &path.components {
        s.push('\\');
        s.push_str(c);
    }
    if s.is_empty() {
        s.push('\\');
    }
    s.encode_utf16().collect()
}

/// The answer to a QUERY_INFO (MS-SMB2 §3.3.5.20) on the file `h`, opened as `open`, on
/// the volume `vol`. Answers every file class a client uses, the file-system classes and
/// the security descriptor; the output-buffer rules are MS-SMB2's (INFO_LENGTH_MISMATCH,
/// BUFFER_OVERFLOW, BUFFER_TOO_SMALL with the size needed for a security descriptor).
///
/// Not checked here (the core's part): the FileId names an open of this session and tree,
/// and OutputBufferLength is within Connection.MaxTransactSize (STATUS_INVALID_PARAMETER).
pub fn query_info(
    fs: &dyn Vfs,
    h: &Handle,
    open: &OpenView,
    vol: &VolumeView,
    req: &QueryInfoRequest,
) -> Reply {
    match req.info_type {
        info_type::FILE => query_file(fs, h, open, vol, req),
        info_type::FILESYSTEM => query_fs(fs, h, vol, req),
        info_type::SECURITY => query_security(fs, h, open, req),
        // No quotas (FILE_VOLUME_QUOTAS is not claimed), as Samba without quota support.
        info_type::QUOTA => Reply::error(NtStatus::NOT_SUPPORTED),
        // MS-SMB2 §3.3.5.20: an InfoType that is not defined.
        _ => Reply::error(NtStatus::INVALID_PARAMETER),
    }
}

fn query_file(
    fs: &dyn Vfs,
    h: &Handle,
    open: &OpenView,
    vol: &VolumeView,
    req: &QueryInfoRequest,
) -> Reply {
    use file_class as c;
    let class = req.file_info_class;
    let known = matches!(
        class,
        c::BASIC
            | c::STANDARD
            | c::INTERNAL
            | c::EA
            | c::ACCESS
            | c::NAME
            | c::POSITION
            | c::FULL_EA
            | c::MODE
            | c::ALIGNMENT
            | c::ALL
            | c::ALTERNATE_NAME
            | c::STREAM
            | c::COMPRESSION
            | c::NETWORK_OPEN
            | c::ATTRIBUTE_TAG
            | c::NORMALIZED_NAME
            | c::ID
    );
    if !known {
        return Reply::error(NtStatus::INVALID_INFO_CLASS);
    }
    let need = query_file_access(class);
    if open.granted_access & need != need {
        return Reply::error(NtStatus::ACCESS_DENIED);
    }
    let len = req.output_buffer_length;
    // The classes that need nothing from the file system.
    match class {
        c::ACCESS => {
            return fit(
                &FileAccessInformation {
                    access_flags: open.granted_access,
                },
                len,
            )
        }
        c::POSITION => {
            return fit(
                &FilePositionInformation {
                    current_byte_offset: open.position,
                },
                len,
            )
        }
        c::MODE => return fit(&FileModeInformation { mode: open.mode }, len),
        c::ALIGNMENT => return fit(&FileAlignmentInformation::default(), len),
        c::EA => return fit(&FileEaInformation::default(), len),
        // No extended attributes are advertised (no FILE_SUPPORTS_EXTENDED_ATTRIBUTES).
        c::FULL_EA => return Reply::error(NtStatus::EAS_NOT_SUPPORTED),
        // No 8.3 names are generated: a name that is a valid 8.3 name is its own short
        // name (as Samba answers; smbclient's `allinfo` stops at an error here), any other
        // has none (MS-FSA 2.1.5.12.x: STATUS_OBJECT_NAME_NOT_FOUND).
        c::ALTERNATE_NAME => {
            return match open.path.file_name().filter(|n| is_8_3(n)) {
                Some(n) => fit(&FileAlternateNameInformation::new(n), len),
                None => Reply::error(NtStatus::OBJECT_NAME_NOT_FOUND),
            }
        }
        c::NAME => {
            return fit(
                &FileNameInformation {
                    file_name: name_info(&open.path),
                },
                len,
            )
        }
        c::NORMALIZED_NAME => {
            // MS-SMB2 §3.3.5.20.1: only over 3.1.1.
            if open.dialect < 0x0311 {
                return Reply::error(NtStatus::NOT_SUPPORTED);
            }
            return fit(
                &FileNormalizedNameInformation::new(&open.path.components.join("\\")),
                len,
            );
        }
        _ => {}
    }
    let dos = match fs.dos_attrs(h) {
        Ok(d) => d,
        Err(e) => return Reply::error(vfs_status(e)),
    };
    let name = open.path.file_name().unwrap_or("").as_bytes();
    let v = view_dos(&dos, name);
    let basic = FileBasicInformation::from_times(v.times(), v.query_attributes());
    let standard = FileStandardInformation {
        allocation_size: v.allocation_size,
        end_of_file: v.end_of_file,
        // A link marked for deletion no longer counts (Samba does the same).
        number_of_links: v
            .number_of_links
            .saturating_sub(u32::from(open.delete_pending)),
        delete_pending: open.delete_pending,
        directory: v.directory,
    };
    match class {
        c::BASIC => fit(&basic, len),
        c::STANDARD => fit(&standard, len),
        c::INTERNAL => fit(
            &FileInternalInformation {
                index_number: v.file_id,
            },
            len,
        ),
        c::ALL => fit(
            &FileAllInformation {
                basic,
                standard,
                internal: FileInternalInformation {
                    index_number: v.file_id,
                },
                ea: FileEaInformation::default(),
                access: FileAccessInformation {
                    access_flags: open.granted_access,
                },
                position: FilePositionInformation {
                    current_byte_offset: open.position,
                },
                mode: FileModeInformation { mode: open.mode },
                alignment: FileAlignmentInformation::default(),
                name: FileNameInformation {
                    file_name: name_info(&open.path),
                },
            },
            len,
        ),
        c::STREAM => {
            let s = if v.directory {
                // A directory has no unnamed data stream (and Janus no named ones).
                FileStreamInformation::default()
            } else {
                FileStreamInformation::data_stream(v.end_of_file, v.allocation_size)
            };
            fit(&s, len)
        }
        c::COMPRESSION => fit(
            &FileCompressionInformation {
                compressed_file_size: v.end_of_file,
                ..Default::default()
            },
            len,
        ),
        c::NETWORK_OPEN => fit(
            &FileNetworkOpenInformation {
                creation_time: FileTime(v.creation_time),
                last_access_time: FileTime(v.last_access_time),
                last_write_time: FileTime(v.last_write_time),
                change_time: FileTime(v.change_time),
                allocation_size: v.allocation_size,
                end_of_file: v.end_of_file,
                file_attributes: v.query_attributes(),
            },
            len,
        ),
        c::ATTRIBUTE_TAG => fit(
            &FileAttributeTagInformation {
                file_attributes: v.query_attributes(),
                reparse_tag: 0,
            },
            len,
        ),
        c::ID => {
            // FileIdInformation (MS-FSCC §2.4.25): VolumeSerialNumber (8 bytes) and the
            // 128-bit FileId (the inode number, zero-extended). 24 bytes, fixed.
            if (len as usize) < 24 {
                return Reply::error(NtStatus::INFO_LENGTH_MISMATCH);
            }
            let mut d = Vec::with_capacity(24);
            d.extend_from_slice(&u64::from(vol.serial_number).to_le_bytes());
            d.extend_from_slice(&v.file_id.to_le_bytes());
            d.extend_from_slice(&[0; 8]);
            output_reply(NtStatus::SUCCESS, d)
        }
        _ => Reply::error(NtStatus::INVALID_INFO_CLASS),
    }
}

fn query_fs(fs: &dyn Vfs, h: &Handle, vol: &VolumeView, req: &QueryInfoRequest) -> Reply {
    use fs_class as c;
    let len = req.output_buffer_length;
    match req.file_info_class {
        c::VOLUME => fit(
            &FileFsVolumeInformation {
                volume_creation_time: FileTime(vol.creation_time),
                volume_serial_number: vol.serial_number,
                supports_objects: false,
                volume_label: vol.label.encode_utf16().collect(),
            },
            len,
        ),
        c::SIZE | c::FULL_SIZE => {
            let st = match fs.fsstat(h) {
                Ok(s) => s,
                Err(e) => return Reply::error(vfs_status(e)),
            };
            // Samba's shape: 1 KiB units of two 512-byte sectors (`disk_free` normalises
            // to 1 KiB blocks; the captured fscc-55 answer has 2 sectors of 512 bytes).
            let full = FileFsFullSizeInformation::from_blocks(
                FS_UNIT,
                st.total_bytes / u64::from(FS_UNIT),
                st.avail_bytes / u64::from(FS_UNIT),
                st.free_bytes / u64::from(FS_UNIT),
            );
            if req.file_info_class == c::SIZE {
                fit(&full.size(), len)
            } else {
                fit(&full, len)
            }
        }
        c::DEVICE => fit(
            &FileFsDeviceInformation {
                device_type: device::FILE_DEVICE_DISK,
                // Samba answers FILE_DEVICE_IS_MOUNTED (fscc-57), with
                // FILE_READ_ONLY_DEVICE on a read-only share.
                characteristics: device::FILE_DEVICE_IS_MOUNTED
                    | if vol.read_only {
                        device::FILE_READ_ONLY_DEVICE
                    } else {
                        0
                    },
            },
            len,
        ),
        c::ATTRIBUTE => {
            // sizeof(FILE_FS_ATTRIBUTE_INFORMATION): the 12 fixed bytes and one name
            // character, aligned to 4 = 16, the minimum Windows applies (smbtorture's
            // smb2.getinfo.qfs_buffercheck); `InfoClass::MIN_LEN` says 12.
            if len < FS_ATTRIBUTE_MIN {
                return Reply::error(NtStatus::INFO_LENGTH_MISMATCH);
            }
            fit(&FileFsAttributeInformation::janus(vol.read_only), len)
        }
        c::CONTROL => {
            // FileFsControlInformation (MS-FSCC §2.5.2), 48 bytes: no content filtering,
            // no default quota (threshold and limit -1, "none"), FileSystemControlFlags 0
            // (quotas not tracked or enforced). Windows answers it on every NTFS volume;
            // smbtorture's smb2.getinfo.fsinfo expects it.
            if len < 48 {
                return Reply::error(NtStatus::INFO_LENGTH_MISMATCH);
            }
            let mut d = Vec::with_capacity(48);
            d.extend_from_slice(&[0; 24]);
            d.extend_from_slice(&u64::MAX.to_le_bytes());
            d.extend_from_slice(&u64::MAX.to_le_bytes());
            d.extend_from_slice(&[0; 8]);
            output_reply(NtStatus::SUCCESS, d)
        }
        c::SECTOR_SIZE => fit(&FileFsSectorSizeInformation::uniform(512), len),
        c::OBJECT_ID => fit(
            &FileFsObjectIdInformation {
                object_id: vol.object_id,
                extended_info: [0; 48],
            },
            len,
        ),
        _ => Reply::error(NtStatus::INVALID_INFO_CLASS),
    }
}

/// The smallest OutputBufferLength for FileFsAttributeInformation (see `query_fs`).
const FS_ATTRIBUTE_MIN: u32 = 16;

/// The allocation unit of FileFsSizeInformation / FileFsFullSizeInformation (Samba's).
const FS_UNIT: u32 = 1024;

fn query_security(fs: &dyn Vfs, h: &Handle, open: &OpenView, req: &QueryInfoRequest) -> Reply {
    use security_information as si;
    let info = req.additional_information;
    // MS-SMB2 §3.3.5.20.3: READ_CONTROL for owner, group, DACL (and label, attribute,
    // scope); ACCESS_SYSTEM_SECURITY for the SACL, which no open is granted.
    let mut need = 0;
    if info & (si::OWNER | si::GROUP | si::DACL | si::LABEL | si::ATTRIBUTE | si::SCOPE) != 0 {
        need |= smb_access::READ_CONTROL;
    }
    if info & si::SACL != 0 {
        need |= smb_access::ACCESS_SYSTEM_SECURITY;
    }
    if open.granted_access & need != need {
        return Reply::error(NtStatus::ACCESS_DENIED);
    }
    let attr = match fs.getattr(h) {
        Ok(a) => a,
        Err(e) => return Reply::error(vfs_status(e)),
    };
    let sd = SecurityDescriptor::from_unix(
        &UnixOwnership {
            uid: attr.uid,
            gid: attr.gid,
            mode: attr.mode,
            directory: attr.kind == FileKind::Directory,
        },
        info,
    );
    match fit_security_output(sd.to_vec(), req.output_buffer_length) {
        Ok(data) => output_reply(NtStatus::SUCCESS, data),
        Err((status, needed)) => Reply::Error {
            status,
            error: ErrorResponse::buffer_too_small(needed),
        },
    }
}

/// Whether `name` is a valid 8.3 (DOS) name: 1-8 characters, optionally a dot and 1-3 more,
/// printable ASCII other than space and `" * + , / : ; < = > ? [ \ ] |` (the characters
/// MS-FSCC §2.1.5.2.1 excludes from short names).
pub fn is_8_3(name: &str) -> bool {
    let ok = |part: &str, max: usize| {
        !part.is_empty()
            && part.len() <= max
            && part
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"\"*+,/:;<=>?[\\]|.".contains(&b))
    };
    match name.split_once('.') {
        None => ok(name, 8),
        Some((base, ext)) => ok(base, 8) && ok(ext, 3),
    }
}

// ---------------------------------------------------------------------------------------
// SET_INFO
// ---------------------------------------------------------------------------------------

/// What a SET_INFO came to. The variants other than `Applied` and `Failed` are for the
/// core to carry out on its open and lock tables; it then answers with [`set_info_ok`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetInfoOutcome {
    /// The change was made in the file system (or there was nothing to change): answer
    /// [`set_info_ok`]. `time_freeze` records the `-1` (`Some(true)`) and `-2`
    /// (`Some(false)`) markers of a FileBasicInformation, per time in the order creation,
    /// last access, last write, change, for the open to keep; Janus does not yet stop the
    /// automatic updates they ask to stop (a named deviation from MS-FSA 2.1.5.15.1).
    Applied {
        /// The new attributes, when the file system was changed.
        attr: Option<FileAttr>,
        /// The -1/-2 markers per time.
        time_freeze: [Option<bool>; 4],
    },
    /// FilePositionInformation: store CurrentByteOffset in the open.
    Position(u64),
    /// FileModeInformation: store this mode word in the open.
    Mode(u32),
    /// FileDispositionInformation(Ex): set (`true`) or clear DeletePending on the file,
    /// through the lock table (the open had DELETE; a directory was empty, a file not
    /// READONLY).
    Disposition {
        /// Delete at last close.
        delete: bool,
    },
    /// FileRenameInformation: rename the open's file to `target` (from the share root),
    /// replacing an existing file when `replace` (MS-FSA 2.1.5.15.12: sharing and open
    /// checks on the target are the core's).
    Rename {
        /// The new path.
        target: SharePath,
        /// ReplaceIfExists.
        replace: bool,
    },
    /// FileLinkInformation: create a hard link to the open's file at `target`.
    Link {
        /// The new link's path.
        target: SharePath,
        /// ReplaceIfExists.
        replace: bool,
    },
    /// The request fails with this status (an ERROR response).
    Failed(NtStatus),
}

impl SetInfoOutcome {
    /// The reply for the outcomes that need nothing more from the core (`Applied`,
    /// `Failed`); `None` for those the core carries out first.
    pub fn reply(&self) -> Option<Reply> {
        match self {
            SetInfoOutcome::Applied { .. } => Some(set_info_ok()),
            SetInfoOutcome::Failed(st) => Some(Reply::error(*st)),
            _ => None,
        }
    }
}

/// The successful SET_INFO response (MS-SMB2 §2.2.40).
pub fn set_info_ok() -> Reply {
    let mut body = Vec::with_capacity(2);
    SetInfoResponse.encode(&mut body);
    Reply::ok(body)
}

fn failed(st: NtStatus) -> SetInfoOutcome {
    SetInfoOutcome::Failed(st)
}

fn applied(attr: FileAttr) -> SetInfoOutcome {
    SetInfoOutcome::Applied {
        attr: Some(attr),
        time_freeze: [None; 4],
    }
}

/// The access a SET_INFO file class needs (MS-SMB2 §3.3.5.21.1's table).
fn set_file_access(class: u8) -> u32 {
    use file_class as c;
    match class {
        c::ALLOCATION | c::END_OF_FILE | c::VALID_DATA_LENGTH => smb_access::FILE_WRITE_DATA,
        c::BASIC | c::PIPE => smb_access::FILE_WRITE_ATTRIBUTES,
        c::DISPOSITION | c::DISPOSITION_EX | c::RENAME | c::RENAME_EX | c::SHORT_NAME => {
            smb_access::DELETE
        }
        c::FULL_EA => smb_access::FILE_WRITE_EA,
        _ => 0,
    }
}

/// Carries out a SET_INFO (MS-SMB2 §3.3.5.21) on the file `h`, opened as `open`, for
/// `caller` (the session's uid and groups, for the ownership rules of chmod and chown).
/// File-system changes are made here; position, mode, disposition, rename and link come
/// back as outcomes for the core. See the module documentation for the attribute mapping.
pub fn set_info(
    fs: &dyn Vfs,
    h: &Handle,
    open: &OpenView,
    caller: &Caller,
    req: &SetInfoRequest,
) -> SetInfoOutcome {
    match req.info_type {
        info_type::FILE => set_file(fs, h, open, caller, req),
        info_type::SECURITY => set_security(fs, h, open, caller, req),
        // No settable file-system class (label, control, object id) and no quotas: the
        // volume is the server's.
        info_type::FILESYSTEM => failed(NtStatus::INVALID_INFO_CLASS),
        info_type::QUOTA => failed(NtStatus::NOT_SUPPORTED),
        _ => failed(NtStatus::INVALID_PARAMETER),
    }
}

fn set_file(
    fs: &dyn Vfs,
    h: &Handle,
    open: &OpenView,
    caller: &Caller,
    req: &SetInfoRequest,
) -> SetInfoOutcome {
    if matches!(
        req.file_info_class,
        file_class::VALID_DATA_LENGTH | file_class::SHORT_NAME
    ) {
        // Settable classes Janus does not implement (no valid-data length, no short
        // names): STATUS_NOT_SUPPORTED, as Samba answers them
        // whatever the open's access.
        return failed(NtStatus::NOT_SUPPORTED);
    }
    let need = set_file_access(req.file_info_class);
    if open.granted_access & need != need {
        return failed(NtStatus::ACCESS_DENIED);
    }
    let info = match SetFileInfo::decode(req.file_info_class, &req.buffer) {
        Ok(i) => i,
        Err(st) => return failed(st),
    };
    // A read-only share changes nothing (the granted access already lacks the write
    // rights there; this also covers the classes that need no right).
    let changes_fs = !matches!(info, SetFileInfo::Position(_) | SetFileInfo::Mode(_));
    if open.read_only && changes_fs {
        return failed(NtStatus::ACCESS_DENIED);
    }
    match info {
        SetFileInfo::Basic(b) => set_basic(fs, h, caller, &b),
        SetFileInfo::EndOfFile(e) => {
            // MS-FSA 2.1.5.15.4: not on a directory; sizes are signed on the wire.
            if open.is_dir || e.end_of_file > i64::MAX as u64 {
                return failed(NtStatus::INVALID_PARAMETER);
            }
            set_size(fs, h, e.end_of_file)
        }
        SetFileInfo::Allocation(a) => {
            // MS-FSA 2.1.5.15.2: an allocation below the size truncates the file; above it
            // the backend reserves space (`Vfs::set_allocation`, fallocate KEEP_SIZE).
            if open.is_dir || a.allocation_size > i64::MAX as u64 {
                return failed(NtStatus::INVALID_PARAMETER);
            }
            match fs.set_allocation(h, a.allocation_size) {
                Ok(attr) => applied(attr),
                // A backend that cannot reserve: truncate below the size, else nothing.
                Err(VfsError::NotSupported) => {
                    let attr = match fs.getattr(h) {
                        Ok(a) => a,
                        Err(e) => return failed(vfs_status(e)),
                    };
                    if a.allocation_size < attr.size {
                        set_size(fs, h, a.allocation_size)
                    } else {
                        applied(attr)
                    }
                }
                Err(VfsError::IsDir | VfsError::Invalid) => failed(NtStatus::INVALID_PARAMETER),
                Err(e) => failed(vfs_status(e)),
            }
        }
        SetFileInfo::Position(p) => {
            // MS-FSA 2.1.5.15.8: with FILE_NO_INTERMEDIATE_BUFFERING the offset must be
            // sector-aligned (512-byte sectors here).
            if p.current_byte_offset > i64::MAX as u64
                || (open.mode & mode::NO_INTERMEDIATE_BUFFERING != 0
                    && p.current_byte_offset % 512 != 0)
            {
                return failed(NtStatus::INVALID_PARAMETER);
            }
            SetInfoOutcome::Position(p.current_byte_offset)
        }
        SetFileInfo::Mode(m) => {
            // MS-FSA 2.1.5.15.10: only the settable bits, and the synchronous-I/O bits
            // must stay as the open has them.
            let sync = mode::SYNCHRONOUS_IO_ALERT | mode::SYNCHRONOUS_IO_NONALERT;
            if m.mode & !mode::SETTABLE != 0 || m.mode & sync != open.mode & sync {
                return failed(NtStatus::INVALID_PARAMETER);
            }
            SetInfoOutcome::Mode(m.mode | (open.mode & mode::DELETE_ON_CLOSE))
        }
        SetFileInfo::Disposition(d) => disposition(fs, h, open, d.delete_pending, false),
        SetFileInfo::DispositionEx(d) => {
            use proto_smb2::fscc::file::disposition_ex as dx;
            // FILE_DISPOSITION_ON_CLOSE (delete-on-close rather than delete-pending) and
            // POSIX_SEMANTICS (the name goes at once while opens remain) are refused with
            // STATUS_NOT_SUPPORTED, on which Windows falls back to
            // FileDispositionInformation; Samba 4.17 refuses the whole class
            // (STATUS_INVALID_INFO_CLASS). Plain delete, clear and
            // IGNORE_READONLY_ATTRIBUTE are carried out.
            if d.flags & (dx::ON_CLOSE | dx::POSIX_SEMANTICS) != 0 {
                return failed(NtStatus::NOT_SUPPORTED);
            }
            let ignore_ro = d.flags & dx::IGNORE_READONLY_ATTRIBUTE != 0;
            disposition(fs, h, open, d.flags & dx::DELETE != 0, ignore_ro)
        }
        SetFileInfo::Rename(r) => {
            if r.root_directory != 0 {
                // MS-SMB2 §2.2.39: RootDirectory MUST be zero over SMB2.
                return failed(NtStatus::INVALID_PARAMETER);
            }
            match parse_rename_target(&r.file_name) {
                Ok(target) if target.components.is_empty() => failed(NtStatus::OBJECT_NAME_INVALID),
                Ok(target) => SetInfoOutcome::Rename {
                    target,
                    replace: r.replace_if_exists,
                },
                Err(st) => failed(st),
            }
        }
        SetFileInfo::Link(l) => {
            let r = l.0;
            if r.root_directory != 0 {
                return failed(NtStatus::INVALID_PARAMETER);
            }
            if open.is_dir {
                // No hard links to directories (MS-FSA 2.1.5.15.7).
                return failed(STATUS_FILE_IS_A_DIRECTORY);
            }
            match parse_rename_target(&r.file_name) {
                Ok(target) if target.components.is_empty() => failed(NtStatus::OBJECT_NAME_INVALID),
                Ok(target) => SetInfoOutcome::Link {
                    target,
                    replace: r.replace_if_exists,
                },
                Err(st) => failed(st),
            }
        }
    }
}

fn set_size(fs: &dyn Vfs, h: &Handle, size: u64) -> SetInfoOutcome {
    let set = SetAttrs {
        size: Some(size),
        ..Default::default()
    };
    match fs.setattr(h, &set) {
        Ok(a) => applied(a),
        Err(e) => failed(vfs_status(e)),
    }
}

/// MS-FSA 2.1.5.15.3: delete-pending needs an empty directory, and a file without
/// FILE_ATTRIBUTE_READONLY (STATUS_CANNOT_DELETE) unless the Ex form ignores it.
fn disposition(
    fs: &dyn Vfs,
    h: &Handle,
    open: &OpenView,
    delete: bool,
    ignore_readonly: bool,
) -> SetInfoOutcome {
    if !delete {
        return SetInfoOutcome::Disposition { delete };
    }
    if open.path.components.is_empty() {
        // The share root is never deleted (and no open of it has DELETE).
        return failed(NtStatus::ACCESS_DENIED);
    }
    let attr = match fs.getattr(h) {
        Ok(a) => a,
        Err(e) => return failed(vfs_status(e)),
    };
    if attr.kind == FileKind::Directory {
        match fs.readdir(h, 0, 1) {
            Ok(p) if !p.entries.is_empty() => return failed(STATUS_DIRECTORY_NOT_EMPTY),
            Ok(_) => {}
            Err(e) => return failed(vfs_status(e)),
        }
    } else if !ignore_readonly && dos_attributes(&attr, b"") & attributes::READONLY != 0 {
        return failed(STATUS_CANNOT_DELETE);
    }
    SetInfoOutcome::Disposition { delete }
}

/// SET_INFO FileBasicInformation (MS-FSA 2.1.5.15.1).
///
/// - Times: 0 leaves a time alone; -1 and -2 leave it and are reported in
///   [`SetInfoOutcome::Applied`]'s `time_freeze`; a value sets LastAccessTime (atime) and
///   LastWriteTime (mtime). CreationTime cannot be stored until `vfs` has a birth time and
///   ChangeTime never can on POSIX (ctime is the kernel's): both are accepted and
///   ignored, as Samba ignores ChangeTime.
/// - Attributes: 0 leaves them alone; bits that cannot be set are ignored (as Samba does;
///   MS-FSA would answer STATUS_INVALID_PARAMETER); the rest goes through
///   [`apply_dos_attributes`].
fn set_basic(
    fs: &dyn Vfs,
    h: &Handle,
    caller: &Caller,
    b: &FileBasicInformation,
) -> SetInfoOutcome {
    let updates = match b.time_updates() {
        Ok(u) => u,
        Err(st) => return failed(st),
    };
    let attr = match fs.getattr(h) {
        Ok(a) => a,
        Err(e) => return failed(vfs_status(e)),
    };
    let is_dir = attr.kind == FileKind::Directory;
    let mut set = SetAttrs::default();
    let mut dos = SetDosAttrs::default();
    if b.file_attributes != 0 {
        // MS-FSA 2.1.5.15.1: FILE_ATTRIBUTE_TEMPORARY on a directory is
        // STATUS_INVALID_PARAMETER (a directory has no data to keep in memory); Samba
        // refuses it too (smbtorture smb2.create.dosattr_tmp_dir).
        if is_dir && b.file_attributes & file_attributes::TEMPORARY != 0 {
            return failed(NtStatus::INVALID_PARAMETER);
        }
        // Other bits that cannot be set (DIRECTORY, SPARSE_FILE, ..., undefined ones) are
        // ignored, as Samba 4.17 answers SUCCESS for DIRECTORY on a file and for
        // 0x80000000 (checked against the lab's Samba); MS-FSA 2.1.5.15.1 would refuse
        // them with STATUS_INVALID_PARAMETER.
        let a = b.file_attributes & attributes::SETTABLE_MASK;
        match apply_dos_attributes(&attr, a, caller) {
            Ok(mode) => set.mode = mode,
            Err(st) => return failed(st),
        }
        let stored = a & file_attributes::STORABLE & !file_attributes::READONLY;
        dos.attributes = Some(stored);
    }
    let mut time_freeze = [None; 4];
    for (i, u) in updates.iter().enumerate() {
        match u {
            TimeUpdate::Freeze => time_freeze[i] = Some(true),
            TimeUpdate::Unfreeze => time_freeze[i] = Some(false),
            TimeUpdate::Unchanged => {}
            TimeUpdate::Set(ft) => {
                let t = SetTime::Client(timestamp(ft.0));
                match i {
                    0 => dos.creation_time = Some(timestamp(ft.0)),
                    1 => set.atime = t,
                    2 => set.mtime = t,
                    // ChangeTime is the kernel's.
                    _ => {}
                }
            }
        }
    }
    if dos != SetDosAttrs::default() {
        match fs.set_dos_attrs(h, &dos) {
            // Where nothing can be stored (a symbolic link or special file, a file system
            // without user extended attributes): the word and the creation time are
            // dropped, READONLY still goes to the mode.
            Ok(_) | Err(VfsError::NotSupported) => {}
            Err(e) => return failed(vfs_status(e)),
        }
    }
    if set == SetAttrs::default() {
        return SetInfoOutcome::Applied {
            attr: None,
            time_freeze,
        };
    }
    match fs.setattr(h, &set) {
        Ok(a) => SetInfoOutcome::Applied {
            attr: Some(a),
            time_freeze,
        },
        Err(e) => failed(vfs_status(e)),
    }
}

/// The permission bits that FILE_ATTRIBUTE_READONLY in the new attribute word `new` gives
/// the file with attributes `attr`, for `caller`, if they change. READONLY of a file lives
/// in its mode, so NFS clients see and obey it too (Samba's `map readonly = yes`, and what
/// Samba's `file_set_dosmode` does where it cannot store attributes): READONLY clears every
/// write bit; a word without it gives the owner write bit back (Samba's default `create
/// mask` 0744 keeps only that one). A directory's mode is not touched. Changing the mode is
/// the owner's (or root's) right, as `chmod` is: anyone else gets STATUS_ACCESS_DENIED
/// (Samba's `dos filemode = no`). The other bits are stored by the backend
/// ([`Vfs::set_dos_attrs`]).
pub fn apply_dos_attributes(
    attr: &FileAttr,
    new: u32,
    caller: &Caller,
) -> Result<Option<u32>, NtStatus> {
    if attr.kind == FileKind::Directory {
        return Ok(None);
    }
    let mode = if new & attributes::READONLY != 0 {
        attr.mode & !0o222
    } else if attr.mode & 0o200 == 0 {
        attr.mode | 0o200
    } else {
        attr.mode
    };
    if mode == attr.mode {
        return Ok(None);
    }
    if caller.uid != 0 && caller.uid != attr.uid {
        return Err(NtStatus::ACCESS_DENIED);
    }
    Ok(Some(mode))
}

/// SET_INFO of a security descriptor (MS-SMB2 §3.3.5.21.3): WRITE_OWNER for owner and
/// group, WRITE_DAC for the DACL, ACCESS_SYSTEM_SECURITY (never granted) for the SACL.
/// The descriptor is mapped onto chown/chgrp/chmod ([`SecurityDescriptor::to_unix`]);
/// one a mode cannot express is refused with
/// [`NotRepresentable::status`](proto_smb2::security::NotRepresentable::status). The POSIX
/// rules apply (`crate::perm`'s model): only root gives a file away; the owner may change
/// the group to one of its own groups; only the owner or root changes the mode. A change
/// they forbid is STATUS_ACCESS_DENIED (Samba maps chown's EPERM so). Setuid, setgid and
/// sticky bits are kept.
fn set_security(
    fs: &dyn Vfs,
    h: &Handle,
    open: &OpenView,
    caller: &Caller,
    req: &SetInfoRequest,
) -> SetInfoOutcome {
    use security_information as si;
    let info = req.additional_information;
    let mut need = 0;
    if info & (si::OWNER | si::GROUP) != 0 {
        need |= smb_access::WRITE_OWNER;
    }
    if info & si::DACL != 0 {
        need |= smb_access::WRITE_DAC;
    }
    if info & si::SACL != 0 {
        need |= smb_access::ACCESS_SYSTEM_SECURITY;
    }
    if open.granted_access & need != need || (open.read_only && info != 0) {
        return failed(NtStatus::ACCESS_DENIED);
    }
    let sd = match SecurityDescriptor::decode(&req.buffer) {
        Ok(sd) => sd,
        Err(e) => return failed(security::decode_status(&e)),
    };
    let attr = match fs.getattr(h) {
        Ok(a) => a,
        Err(e) => return failed(vfs_status(e)),
    };
    let current = UnixOwnership {
        uid: attr.uid,
        gid: attr.gid,
        mode: attr.mode,
        directory: attr.kind == FileKind::Directory,
    };
    let change = match sd.to_unix(info, &current) {
        Ok(c) => c,
        Err(e) => return failed(e.status()),
    };
    let root = caller.uid == 0;
    let owner = caller.uid == attr.uid;
    let mut set = SetAttrs::default();
    if let Some(uid) = change.uid.filter(|u| *u != attr.uid) {
        if !root {
            return failed(NtStatus::ACCESS_DENIED);
        }
        set.uid = Some(uid);
    }
    if let Some(gid) = change.gid.filter(|g| *g != attr.gid) {
        let member = caller.gid == gid || caller.gids.contains(&gid);
        if !(root || (owner && member)) {
            return failed(NtStatus::ACCESS_DENIED);
        }
        set.gid = Some(gid);
    }
    if let Some(bits) = change.mode {
        let mode = (attr.mode & !0o777) | (bits & 0o777);
        if mode != attr.mode {
            if !(root || owner) {
                return failed(NtStatus::ACCESS_DENIED);
            }
            set.mode = Some(mode);
        }
    }
    if set == SetAttrs::default() {
        return SetInfoOutcome::Applied {
            attr: None,
            time_freeze: [None; 4],
        };
    }
    match fs.setattr(h, &set) {
        Ok(a) => applied(a),
        Err(e) => failed(vfs_status(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(kind: FileKind, mode: u32) -> FileAttr {
        let t = |secs| Timestamp { secs, nsecs: 500 };
        FileAttr {
            kind,
            mode,
            nlink: 2,
            uid: 1,
            gid: 1,
            size: 12,
            used: 4096,
            rdev: (0, 0),
            fsid: 1,
            fileid: 77,
            atime: t(100),
            mtime: t(300),
            ctime: t(200),
        }
    }

    #[test]
    fn view_maps_times_sizes_and_attributes() {
        let f = view(&attr(FileKind::Regular, 0o640));
        assert_eq!(
            f.creation_time,
            filetime(Timestamp {
                secs: 200,
                nsecs: 500
            })
        );
        assert_eq!(
            f.last_write_time,
            filetime(Timestamp {
                secs: 300,
                nsecs: 500
            })
        );
        assert_eq!((f.end_of_file, f.allocation_size), (12, 4096));
        assert_eq!(f.file_attributes, 0);
        assert_eq!(f.query_attributes(), attributes::NORMAL);
        assert_eq!((f.file_id, f.number_of_links, f.directory), (77, 2, false));

        let ro = view(&attr(FileKind::Regular, 0o444));
        assert_eq!(ro.file_attributes, attributes::READONLY);

        let d = view_named(&attr(FileKind::Directory, 0o555), b".git");
        assert_eq!(
            d.file_attributes,
            attributes::DIRECTORY | attributes::HIDDEN
        );
        assert_eq!(
            (
                d.end_of_file,
                d.allocation_size,
                d.directory,
                d.number_of_links
            ),
            (0, 0, true, 1)
        );
        assert_eq!(
            view_named(&attr(FileKind::Directory, 0o755), b"..").file_attributes,
            attributes::DIRECTORY
        );
    }

    #[test]
    fn volume_of_a_share() {
        let root = attr(FileKind::Directory, 0o755);
        let a = VolumeView::for_share("export", &root, false);
        let b = VolumeView::for_share("export", &root, true);
        let c = VolumeView::for_share("other", &root, false);
        assert_eq!(
            (a.serial_number, a.object_id),
            (b.serial_number, b.object_id)
        );
        assert_ne!(a.serial_number, c.serial_number);
        assert_ne!(a.object_id, c.object_id);
        assert_eq!(a.creation_time, view(&root).creation_time);
        assert_eq!(
            (a.label.as_str(), a.read_only, b.read_only),
            ("export", false, true)
        );
        let t = view(&attr(FileKind::Regular, 0o644)).times_and_sizes();
        assert_eq!((t.end_of_file, t.allocation_size), (12, 4096));
        assert_eq!(
            t.change_time,
            filetime(Timestamp {
                secs: 200,
                nsecs: 500
            })
        );
    }

    #[test]
    fn short_names() {
        for n in [
            "hello.txt",
            "A",
            "README",
            "x.c",
            "abcdefgh.ijk",
            "a~1.b",
            "$MFT",
        ] {
            assert!(is_8_3(n), "{n}");
        }
        for n in [
            "",
            ".",
            "..",
            ".git",
            "abcdefghi",
            "a.bcde",
            "a.b.c",
            "a b",
            "a+b",
            "ä.txt",
            "a.",
            "x[1]",
        ] {
            assert!(!is_8_3(n), "{n}");
        }
    }

    #[test]
    fn filetime_round_trip() {
        let t = Timestamp {
            secs: 1_704_164_645,
            nsecs: 123_456_700,
        };
        assert_eq!(filetime(t), 133_486_382_451_234_567);
        assert_eq!(timestamp(filetime(t)), t);
        assert_eq!(
            filetime(Timestamp { secs: 0, nsecs: 0 }),
            116_444_736_000_000_000
        );
    }
}
