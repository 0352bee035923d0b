//! The file-information half of the SMB server: what a file looks like to an SMB client
//! ([`SmbView`], built from the backend's [`vfs::FileAttr`] by [`view`]), and the
//! QUERY_INFO and SET_INFO executors the core runs inside a file-system job.
//!
//! # From POSIX attributes to SMB ([`view`])
//! All of the mapping lives in [`view_named`] (and [`dos_attributes`]), so the backend's
//! coming birth time and stored DOS attributes drop in at one place:
//! - times: Unix times become FILETIMEs ([`filetime`]); LastAccessTime = atime,
//!   LastWriteTime = mtime, ChangeTime = ctime. CreationTime: `vfs` has no birth time yet,
//!   so it is the earlier of mtime and ctime, which never moves forward while the file
//!   exists (Samba's `calc_create_time_stat` also considers atime; Janus does not, because
//!   a `touch -a` into the past would then move the "creation" time too).
//! - attributes ([`dos_attributes`]): Samba 4.17's defaults (`store dos attributes = yes`,
//!   `map archive/readonly/hidden/system` ignored when attributes are stored) answer a file
//!   that has no stored DOS attributes with no attribute at all, i.e. FILE_ATTRIBUTE_NORMAL
//!   (the captured `fscc-17-basic-resp`: `hello.txt`, mode 0640, is NORMAL), and a
//!   directory with FILE_ATTRIBUTE_DIRECTORY. Janus stores no DOS attributes yet, so that
//!   is what every file shows, with two additions that keep SET_INFO's READONLY
//!   meaningful: a non-directory with no owner write bit is FILE_ATTRIBUTE_READONLY (the
//!   `map readonly = yes` rule Samba applies when it cannot store attributes; SET_INFO maps
//!   READONLY onto the write bits the same way), and a name starting with `.` is
//!   FILE_ATTRIBUTE_HIDDEN (Samba's `hide dot files = yes`, the default). ARCHIVE is not
//!   derived from the mode (`map archive` would take it from the owner `x` bit, which
//!   Samba's default ignores).
//! - sizes: EndOfFile is the size, AllocationSize the bytes allocated (`used`, st_blocks ×
//!   512 on Linux: 4096 for the captured 12-byte file); both are 0 for a directory, as Samba
//!   answers (`get_file_size_stat`, `vfswrap_get_alloc_size`).
//! - the file id (FileInternalInformation IndexNumber, FileId of the directory classes) is
//!   the inode number, as Samba reports it (the captured IndexNumber is the inode).

use proto_smb2::fscc::{attributes, FileTime};
use vfs::{FileAttr, FileKind, Timestamp};

/// What an SMB client sees of a file: the fields the MS-FSCC information classes are built
/// from (basic, standard, internal, network-open, attribute-tag and the directory classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmbView {
    /// CreationTime, a FILETIME (100 ns since 1601). Without a birth time in `vfs`, the
    /// earlier of mtime and ctime.
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
    /// FileAttributes as stored (FILE_ATTRIBUTE_* of MS-FSCC §2.6, without the NORMAL
    /// substitution: use [`SmbView::query_attributes`] for the wire value of a query).
    pub file_attributes: u32,
    /// The file id: the inode number (FileInternalInformation IndexNumber).
    pub file_id: u64,
    /// NumberOfLinks: hard links to the file.
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

/// How a file looks to SMB, without its name (no name-derived attribute such as HIDDEN for
/// dot files: use [`view_named`] where the name is known).
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
        number_of_links: attr.nlink,
        directory,
    }
}

/// The DOS attributes of the file `name` with attributes `attr` (see the module
/// documentation): DIRECTORY for a directory; READONLY for a non-directory without the
/// owner write bit; HIDDEN for a name starting with `.` (not `.` and `..` themselves).
/// This is where stored DOS attributes (user.DOSATTRIB) will be read once `vfs` has them.
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
            (d.end_of_file, d.allocation_size, d.directory),
            (0, 0, true)
        );
        assert_eq!(
            view_named(&attr(FileKind::Directory, 0o755), b"..").file_attributes,
            attributes::DIRECTORY
        );
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
