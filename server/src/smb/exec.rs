//! The file-system side of SMB requests: what a worker runs for a [`Work`] item, over the
//! share's `&dyn Vfs`, with no access to the core (the job carries a closure-free
//! description, `crate::service`). Decisions that need core state — share modes, delete
//! pending, the open table — are made by the core before or after these steps
//! (`super`, "How an SMB request flows" in docs/architecture.md).

use bytes::Bytes;
use proto_nfs::server::Creds;
use proto_smb2::names::eq_ignore_case;
use proto_smb2::NtStatus;
use vfs::{Caller, CreateHow, FileAttr, FileKind, Handle, SetAttrs, Stability, Vfs, VfsError};

use crate::smb_access::{self, check_create, check_open, implied_by_disposition};
use crate::smb_info::{self, OpenView, SetInfoOutcome, SmbView, VolumeView};
use proto_smb2::cmd::read_write::READ_DATA_OFFSET;
use proto_smb2::cmd::{QueryInfoRequest, SetInfoRequest};
use proto_smb2::names::SharePath;
use proto_smb2::server::{Reply, REPLY_HEADROOM};

/// CreateDisposition values (MS-SMB2 §2.2.13).
pub mod disposition {
    /// Replace an existing file, or create it.
    pub const SUPERSEDE: u32 = 0;
    /// Open an existing file.
    pub const OPEN: u32 = 1;
    /// Create a new file; fail if it exists.
    pub const CREATE: u32 = 2;
    /// Open or create.
    pub const OPEN_IF: u32 = 3;
    /// Truncate an existing file.
    pub const OVERWRITE: u32 = 4;
    /// Truncate or create.
    pub const OVERWRITE_IF: u32 = 5;
}

/// CreateOptions bits (MS-SMB2 §2.2.13).
pub mod options {
    /// FILE_DIRECTORY_FILE.
    pub const DIRECTORY_FILE: u32 = 0x0000_0001;
    /// FILE_WRITE_THROUGH.
    pub const WRITE_THROUGH: u32 = 0x0000_0002;
    /// FILE_NON_DIRECTORY_FILE.
    pub const NON_DIRECTORY_FILE: u32 = 0x0000_0040;
    /// FILE_DELETE_ON_CLOSE.
    pub const DELETE_ON_CLOSE: u32 = 0x0000_1000;
    /// FILE_OPEN_BY_FILE_ID.
    pub const OPEN_BY_FILE_ID: u32 = 0x0000_2000;
    /// FILE_CREATE_TREE_CONNECTION.
    pub const CREATE_TREE_CONNECTION: u32 = 0x0000_0080;
    /// FILE_RESERVE_OPFILTER.
    pub const RESERVE_OPFILTER: u32 = 0x0010_0000;
    /// Bits a server fails with STATUS_INVALID_PARAMETER (§3.3.5.9).
    pub const RESERVED_MASK: u32 = 0xFF00_0000;
}

/// CreateAction of a CREATE response (MS-SMB2 §2.2.14).
pub mod action {
    /// FILE_SUPERSEDED.
    pub const SUPERSEDED: u32 = 0;
    /// FILE_OPENED.
    pub const OPENED: u32 = 1;
    /// FILE_CREATED.
    pub const CREATED: u32 = 2;
    /// FILE_OVERWRITTEN.
    pub const OVERWRITTEN: u32 = 3;
}

// One NTSTATUS mapping of file-system errors for every SMB path (`smb_info`, Samba's
// `map_nt_error_from_unix`), re-exported under the names the executor uses.
pub use crate::smb_info::{
    vfs_status as status_of, STATUS_DIRECTORY_NOT_EMPTY, STATUS_DISK_FULL,
    STATUS_FILE_IS_A_DIRECTORY, STATUS_MEDIA_WRITE_PROTECTED, STATUS_NOT_A_DIRECTORY,
    STATUS_UNEXPECTED_IO_ERROR,
};

/// What a CREATE asks of the file system, checked by the core already (dispositions,
/// option combinations, the name).
#[derive(Debug, Clone)]
pub struct CreateWork {
    /// The validated components below the share root (`proto_smb2::names`).
    pub components: Vec<String>,
    /// The name ended in a backslash.
    pub trailing_separator: bool,
    /// CreateDisposition.
    pub disposition: u32,
    /// CreateOptions.
    pub options: u32,
    /// DesiredAccess as the client sent it.
    pub desired: u32,
    /// The session's credentials on this share.
    pub creds: Creds,
    /// The share is read-only.
    pub read_only: bool,
    /// Match names without regard to case.
    pub case_insensitive: bool,
    /// FileAttributes of a new file (FILE_ATTRIBUTE_READONLY becomes a mode without `w`).
    pub file_attributes: u32,
    /// The AllocationSize create context (MS-SMB2 §2.2.13.2.6), for a new file.
    pub allocation: Option<u64>,
}

/// What the file-system part of a CREATE found or made.
#[derive(Debug, Clone)]
pub struct Found {
    /// The directory holding the file and its attributes (`None` for the share root).
    pub parent: Option<(Handle, FileAttr)>,
    /// The name in `parent` as it is on disk.
    pub name: Vec<u8>,
    /// The file.
    pub handle: Handle,
    /// Its attributes.
    pub attr: FileAttr,
    /// CreateAction (for an overwrite: what it will be once truncated).
    pub action: u32,
    /// The file exists and must be truncated once share modes allow
    /// (SUPERSEDE / OVERWRITE / OVERWRITE_IF).
    pub overwrite: bool,
    /// The access granted to the open.
    pub granted: u32,
    /// The caller's maximal access (the MxAc answer).
    pub maximal: u32,
    /// How the file looks to SMB (its stored DOS attributes and creation time included).
    pub view: SmbView,
}

/// A unit of file-system work for one SMB request.
#[derive(Debug, Clone)]
pub enum Work {
    /// Resolve, check access and (if asked) create.
    Create(CreateWork),
    /// Truncate an overwritten file (after the share-mode check) and set its attributes
    /// (MS-FSA 2.1.5.1.2.1: FileAttributes | ARCHIVE replace the old ones).
    Truncate {
        /// The file.
        handle: Handle,
        /// Its name (for the view).
        name: Vec<u8>,
        /// FileAttributes of the CREATE.
        attributes: u32,
        /// The AllocationSize create context.
        allocation: Option<u64>,
    },
    /// How a file looks now (a durable reconnect's CREATE response, MS-SMB2 §3.3.5.9.7:
    /// the open is not executed again, its attributes are reported).
    View {
        /// The file.
        handle: Handle,
        /// Its name (for the view).
        name: Vec<u8>,
    },
    /// READ.
    Read {
        /// The file.
        handle: Handle,
        /// Offset.
        offset: u64,
        /// Most bytes.
        len: u32,
        /// MinimumCount: fewer is STATUS_END_OF_FILE.
        min: u32,
    },
    /// WRITE.
    Write {
        /// The file.
        handle: Handle,
        /// Offset.
        offset: u64,
        /// The data.
        data: Bytes,
        /// SMB2_WRITEFLAG_WRITE_THROUGH or an open with FILE_WRITE_THROUGH.
        through: bool,
    },
    /// FLUSH.
    Flush {
        /// The file.
        handle: Handle,
    },
    /// QUERY_INFO (`crate::smb_info::query_info`).
    QueryInfo {
        /// The file.
        handle: Handle,
        /// What the open knows.
        open: Box<OpenView>,
        /// The share's volume.
        vol: Box<VolumeView>,
        /// The request.
        req: Box<QueryInfoRequest>,
    },
    /// SET_INFO (`crate::smb_info::set_info`); rename, link, disposition, position and
    /// mode come back to the core as outcomes.
    SetInfo {
        /// The file.
        handle: Handle,
        /// What the open knows.
        open: Box<OpenView>,
        /// Who asks (chmod/chown rules).
        caller: Caller,
        /// The request.
        req: Box<SetInfoRequest>,
    },
    /// The rename of an open's file (SET_INFO FileRenameInformation, after the lock table
    /// allowed it) or a hard link to it (FileLinkInformation).
    Rename {
        /// The file (for a link).
        handle: Handle,
        /// Its directory.
        parent: Handle,
        /// Its name there.
        name: Vec<u8>,
        /// The new path from the share root.
        target: SharePath,
        /// ReplaceIfExists.
        replace: bool,
        /// Match the target's name without regard to case.
        case_insensitive: bool,
        /// A link instead of a rename.
        link: bool,
    },
    /// QUERY_DIRECTORY (`crate::smb_dir::query_directory`) with the open's search state,
    /// which comes back with the answer.
    QueryDirectory {
        /// The directory.
        handle: Handle,
        /// The open's search.
        search: Box<crate::smb_dir::DirSearch>,
        /// The request.
        req: Box<proto_smb2::cmd::QueryDirectoryRequest>,
        /// The share's name matching.
        case_insensitive: bool,
    },
    /// Encrypt a large response off the event loop (`Connection::poll_seal`): pure CPU
    /// work, no file system.
    Seal(Box<proto_smb2::server::Seal>),
    /// Decrypt a large request off the event loop (`Connection::poll_unseal`).
    Unseal(Box<proto_smb2::server::Unseal>),
    /// CLOSE: the attributes (POSTQUERY_ATTRIB), then the removal at the last close of a
    /// file with delete pending (MS-FSA 2.1.5.4): (directory, name, is a directory).
    Close {
        /// The file.
        handle: Handle,
        /// Its name (for the view).
        name: Vec<u8>,
        /// Report the attributes.
        postquery: bool,
        /// What to remove.
        remove: Option<(Handle, Vec<u8>, bool)>,
    },
}

/// What a [`Work`] produced.
#[derive(Debug, Clone)]
pub enum Output {
    /// Of [`Work::Create`].
    Create(Result<Box<Found>, NtStatus>),
    /// Of [`Work::Flush`].
    Attr(Result<FileAttr, NtStatus>),
    /// Of [`Work::Truncate`] and [`Work::View`].
    View(Result<SmbView, NtStatus>),
    /// Of [`Work::Read`]: the data at [`READ_DATA_AT`] of a buffer whose room before it
    /// takes the READ response's headers ([`proto_smb2::server::Reply::Framed`]).
    Data(Result<Vec<u8>, NtStatus>),
    /// Of [`Work::Write`]: bytes written.
    Written(Result<u32, NtStatus>),
    /// Of [`Work::QueryInfo`].
    Reply(Reply),
    /// Of [`Work::QueryDirectory`]: the search state and the answer.
    Dir(Box<crate::smb_dir::DirSearch>, Reply),
    /// Of [`Work::SetInfo`].
    SetInfo(SetInfoOutcome),
    /// Of [`Work::Rename`]: the file's new directory and name.
    Renamed(Result<(Handle, Vec<u8>), NtStatus>),
    /// Of [`Work::Seal`]: the frame to send.
    Sealed(Result<Bytes, proto_smb2::crypto::CryptoError>),
    /// Of [`Work::Unseal`].
    Unsealed(Box<proto_smb2::server::Unsealed>),
    /// Of [`Work::Close`]: the attributes asked for; an error of the removal.
    Closed(Result<Option<SmbView>, NtStatus>),
}

/// Where a READ's data starts in the buffer [`Work::Read`] fills: after the room for the
/// framing ([`REPLY_HEADROOM`]) and the READ response's fixed part (MS-SMB2 §2.2.20), so
/// the buffer becomes the reply without a copy.
pub const READ_DATA_AT: usize = REPLY_HEADROOM + READ_DATA_OFFSET - proto_smb2::HEADER_LEN;

/// Runs `work` on `vfs` (on a worker thread).
pub fn run(vfs: &dyn Vfs, work: Work) -> Output {
    match work {
        Work::Create(c) => Output::Create(create(vfs, &c).map(Box::new)),
        Work::Truncate {
            handle,
            name,
            attributes,
            allocation,
        } => Output::View(
            vfs.setattr(
                &handle,
                &SetAttrs {
                    size: Some(0),
                    ..SetAttrs::default()
                },
            )
            .map_err(status_of)
            .map(|a| {
                let a = reserve(vfs, &handle, a, allocation);
                new_attributes(vfs, &handle, &a, &name, attributes)
            }),
        ),
        Work::View { handle, name } => {
            Output::View(view_of(vfs, &handle, &name).map_err(status_of))
        }
        Work::Read {
            handle,
            offset,
            len,
            min,
        } => {
            let mut buf = Vec::with_capacity(READ_DATA_AT + len as usize);
            buf.resize(READ_DATA_AT, 0);
            Output::Data(match vfs.read_into(&handle, offset, len, &mut buf) {
                // MS-SMB2 §3.3.5.12: nothing at or past the end, or less than MinimumCount.
                Ok((n, _)) if n < min as usize || (n == 0 && len > 0) => Err(NtStatus::END_OF_FILE),
                Ok(_) => Ok(buf),
                Err(e) => Err(status_of(e)),
            })
        }
        Work::Write {
            handle,
            offset,
            data,
            through,
        } => {
            let how = if through {
                Stability::FileSync
            } else {
                Stability::Unstable
            };
            Output::Written(
                vfs.write(&handle, offset, &data, how)
                    .map(|_| data.len() as u32)
                    .map_err(status_of),
            )
        }
        Work::Flush { handle } => Output::Attr(vfs.commit(&handle).map_err(status_of)),
        Work::Seal(s) => Output::Sealed(s.run()),
        Work::Unseal(u) => Output::Unsealed(Box::new(u.run())),
        Work::QueryInfo {
            handle,
            open,
            mut vol,
            req,
        } => {
            if req.info_type == proto_smb2::fscc::info_type::FILESYSTEM {
                if let Ok(root) = vfs.getattr(&vfs.root()) {
                    *vol = VolumeView::for_share(&vol.label, &root, vol.read_only);
                }
            }
            Output::Reply(smb_info::query_info(vfs, &handle, &open, &vol, &req))
        }
        Work::QueryDirectory {
            handle,
            mut search,
            req,
            case_insensitive,
        } => {
            let r =
                crate::smb_dir::query_directory(vfs, &handle, &mut search, &req, case_insensitive);
            Output::Dir(search, r)
        }
        Work::SetInfo {
            handle,
            open,
            caller,
            req,
        } => Output::SetInfo(smb_info::set_info(vfs, &handle, &open, &caller, &req)),
        Work::Rename {
            handle,
            parent,
            name,
            target,
            replace,
            case_insensitive,
            link,
        } => Output::Renamed(rename(
            vfs,
            (&handle, &parent, &name),
            &target,
            replace,
            case_insensitive,
            link,
        )),
        Work::Close {
            handle,
            name,
            postquery,
            remove,
        } => Output::Closed((|| {
            let attr = if postquery {
                Some(view_of(vfs, &handle, &name).map_err(status_of)?)
            } else {
                None
            };
            if let Some((parent, name, dir)) = remove {
                if dir {
                    vfs.rmdir(&parent, &name)
                } else {
                    vfs.remove(&parent, &name)
                }
                .map_err(status_of)?;
            }
            Ok(attr)
        })()),
    }
}

/// Looks `name` up in `dir`: the exact name first, then (when the share is
/// case-insensitive) the first entry that equals it ignoring case (MS-FSA 2.1.5.1.1; as
/// Samba's `case sensitive = no` on a case-sensitive disk). The scan is linear in the
/// directory's size, once per miss of the exact name. Returns the on-disk name too.
pub fn lookup(
    vfs: &dyn Vfs,
    dir: &Handle,
    name: &str,
    case_insensitive: bool,
) -> Result<(Vec<u8>, Handle, FileAttr), VfsError> {
    match vfs.lookup(dir, name.as_bytes()) {
        Ok((h, a)) => return Ok((name.as_bytes().to_vec(), h, a)),
        Err(VfsError::NotFound) if case_insensitive => {}
        Err(e) => return Err(e),
    }
    let found = vfs.find_entry(dir, &mut |e| {
        std::str::from_utf8(e).is_ok_and(|s| eq_ignore_case(s, name))
    })?;
    let on_disk = found.ok_or(VfsError::NotFound)?;
    let (h, a) = vfs.lookup(dir, &on_disk)?;
    Ok((on_disk, h, a))
}

fn caller(c: &Creds) -> Caller {
    Caller {
        uid: c.uid,
        gid: c.gid,
        gids: c.gids.clone(),
    }
}

/// Mode of files and directories created over SMB: Samba's defaults (`create mask` 0744,
/// `directory mask` 0755). The owner's `x` on a new file is what lets its creator open it
/// again with FILE_ALL_ACCESS (GENERIC_ALL includes FILE_EXECUTE), as Windows clients and
/// smbtorture expect of a file they created.
const FILE_MODE: u32 = 0o744;
const DIR_MODE: u32 = 0o755;

/// The file-system part of CREATE (MS-SMB2 §3.3.5.9, MS-FSA 2.1.5.1): walk the path,
/// check access as the session's user, create what the disposition asks for when the
/// name does not exist. An existing file that is to be overwritten is NOT truncated
/// here: the share-mode check comes first (`Found::overwrite`).
pub fn create(vfs: &dyn Vfs, c: &CreateWork) -> Result<Found, NtStatus> {
    let root = vfs.root();
    let want_dir = c.options & options::DIRECTORY_FILE != 0;
    let want_file = c.options & options::NON_DIRECTORY_FILE != 0;
    let Some((last, dirs)) = c.components.split_last() else {
        // The share root.
        if want_file {
            return Err(STATUS_FILE_IS_A_DIRECTORY);
        }
        let root_attr = vfs.getattr(&root).map_err(status_of)?;
        return existing(vfs, c, None, Vec::new(), root, root_attr);
    };
    // The walk needs the attributes of the directory holding the name only (the access
    // checks): the share root's are read only when it is that directory, not on every
    // walk through it (each `getattr` is a `statx`; the lookups below bring the others).
    let mut dir = root;
    let mut dir_attr = None;
    for comp in dirs {
        match lookup(vfs, &dir, comp, c.case_insensitive) {
            Ok((_, h, a)) if a.kind == FileKind::Directory => {
                dir = h;
                dir_attr = Some(a);
            }
            Ok(_) | Err(VfsError::NotFound) | Err(VfsError::NotDir) => {
                return Err(NtStatus::OBJECT_PATH_NOT_FOUND)
            }
            Err(e) => return Err(status_of(e)),
        }
    }
    let dir_attr = match dir_attr {
        Some(a) => a,
        None => vfs.getattr(&dir).map_err(status_of)?,
    };
    match lookup(vfs, &dir, last, c.case_insensitive) {
        Ok((name, h, a)) => existing(vfs, c, Some((dir, dir_attr)), name, h, a),
        Err(VfsError::NotFound) => {
            if matches!(c.disposition, disposition::OPEN | disposition::OVERWRITE) {
                return Err(NtStatus::OBJECT_NAME_NOT_FOUND);
            }
            if c.trailing_separator && !want_dir {
                return Err(NtStatus::OBJECT_NAME_INVALID);
            }
            let granted = check_create(c.desired, &dir_attr, &c.creds, c.read_only)?;
            // MS-FSA 2.1.5.1.1: a new file both READONLY and DeleteOnClose could never be
            // deleted at close: STATUS_CANNOT_DELETE, and nothing is created.
            if c.options & options::DELETE_ON_CLOSE != 0
                && c.file_attributes & proto_smb2::fscc::attributes::READONLY != 0
            {
                return Err(smb_info::STATUS_CANNOT_DELETE);
            }
            let mut mode = if want_dir { DIR_MODE } else { FILE_MODE };
            if !want_dir && c.file_attributes & proto_smb2::fscc::attributes::READONLY != 0 {
                // The mapping `smb_info::dos_attributes` reads back (Samba's `map readonly`).
                mode &= !0o222;
            }
            let set = SetAttrs {
                mode: Some(mode),
                ..SetAttrs::default()
            };
            let made = if want_dir {
                vfs.mkdir(&dir, last.as_bytes(), &set, &caller(&c.creds))
            } else {
                vfs.create(
                    &dir,
                    last.as_bytes(),
                    CreateHow::Guarded,
                    &set,
                    &caller(&c.creds),
                )
            };
            match made {
                Ok((h, a)) => {
                    let maximal =
                        smb_access::maximal_access(&a, Some(&dir_attr), &c.creds, c.read_only)
                            | granted;
                    let a = if want_dir {
                        a
                    } else {
                        reserve(vfs, &h, a, c.allocation)
                    };
                    let view = new_attributes(vfs, &h, &a, last.as_bytes(), c.file_attributes);
                    Ok(Found {
                        view,
                        parent: Some((dir, dir_attr)),
                        name: last.as_bytes().to_vec(),
                        handle: h,
                        attr: a,
                        action: action::CREATED,
                        overwrite: false,
                        granted,
                        maximal,
                    })
                }
                // Created by someone else since the lookup: open what is there now.
                Err(VfsError::Exists) if c.disposition != disposition::CREATE => {
                    let (name, h, a) = lookup(vfs, &dir, last, false).map_err(status_of)?;
                    existing(vfs, c, Some((dir, dir_attr)), name, h, a)
                }
                Err(e) => Err(status_of(e)),
            }
        }
        Err(VfsError::NotDir) => Err(NtStatus::OBJECT_PATH_NOT_FOUND),
        Err(e) => Err(status_of(e)),
    }
}

/// CREATE of a name that exists.
fn existing(
    vfs: &dyn Vfs,
    c: &CreateWork,
    parent: Option<(Handle, FileAttr)>,
    name: Vec<u8>,
    handle: Handle,
    attr: FileAttr,
) -> Result<Found, NtStatus> {
    if c.disposition == disposition::CREATE {
        return Err(NtStatus::OBJECT_NAME_COLLISION);
    }
    let is_dir = attr.kind == FileKind::Directory;
    match attr.kind {
        FileKind::Directory | FileKind::Regular => {}
        // Symbolic links, devices, sockets and FIFOs are not served over SMB (Samba
        // follows links inside the share; Janus does not yet: a deviation).
        _ => return Err(NtStatus::ACCESS_DENIED),
    }
    if c.options & options::DIRECTORY_FILE != 0 && !is_dir {
        return Err(STATUS_NOT_A_DIRECTORY);
    }
    if c.options & options::NON_DIRECTORY_FILE != 0 && is_dir {
        return Err(STATUS_FILE_IS_A_DIRECTORY);
    }
    if c.trailing_separator && !is_dir {
        return Err(NtStatus::OBJECT_NAME_INVALID);
    }
    let overwrite = matches!(
        c.disposition,
        disposition::SUPERSEDE | disposition::OVERWRITE | disposition::OVERWRITE_IF
    );
    if overwrite && is_dir {
        // MS-FSA 2.1.5.1.2: a directory cannot be overwritten or superseded.
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let parent_attr = parent.as_ref().map(|(_, a)| a);
    let desired = c.desired | implied_by_disposition(c.disposition);
    let mut granted =
        check_open(desired, &attr, parent_attr, &c.creds, c.read_only).inspect_err(|s| {
            tracing::debug!(
                status = ?s,
                desired = format_args!("{desired:#x}"),
                mode = format_args!("{:o}", attr.mode),
                owner = attr.uid,
                uid = c.creds.uid,
                "SMB CREATE: access check of an existing file failed"
            )
        })?;
    // The implied rights were checked, not asked for.
    if c.desired & smb_access::MAXIMUM_ALLOWED == 0 {
        granted &= smb_access::map_generic(c.desired);
    }
    let maximal = smb_access::maximal_access(&attr, parent_attr, &c.creds, c.read_only);
    let view = view_of(vfs, &handle, &name).unwrap_or_else(|_| smb_info::view_named(&attr, &name));
    // MS-FSA 2.1.5.1.2.1: DeleteOnClose on a READONLY file fails with STATUS_CANNOT_DELETE.
    if c.options & options::DELETE_ON_CLOSE != 0
        && view.file_attributes & proto_smb2::fscc::attributes::READONLY != 0
    {
        return Err(smb_info::STATUS_CANNOT_DELETE);
    }
    Ok(Found {
        view,
        parent,
        name,
        handle,
        attr,
        action: match c.disposition {
            disposition::SUPERSEDE => action::SUPERSEDED,
            disposition::OVERWRITE | disposition::OVERWRITE_IF => action::OVERWRITTEN,
            _ => action::OPENED,
        },
        overwrite,
        granted,
        maximal,
    })
}

/// Rename (or link) the file `name` in `parent` to `target` (MS-FSA 2.1.5.15.12): the
/// target's directory must exist; an existing target is replaced only with
/// ReplaceIfExists and never when it is a directory; a rename that only changes the case
/// of the name is allowed on a case-insensitive share.
///
/// Without ReplaceIfExists the rename itself is `RenameMode::NoReplace`, so a target made
/// by another client after the check above is not overwritten. A case-changing rename of
/// the same file passes NoReplace only on a case-sensitive backend (the target name is
/// another entry there).
pub fn rename(
    vfs: &dyn Vfs,
    (handle, parent, name): (&Handle, &Handle, &[u8]),
    target: &SharePath,
    replace: bool,
    case_insensitive: bool,
    link: bool,
) -> Result<(Handle, Vec<u8>), NtStatus> {
    let Some((last, dirs)) = target.components.split_last() else {
        return Err(NtStatus::INVALID_PARAMETER);
    };
    let mut dir = vfs.root();
    for comp in dirs {
        match lookup(vfs, &dir, comp, case_insensitive) {
            Ok((_, h, a)) if a.kind == FileKind::Directory => dir = h,
            Ok(_) | Err(VfsError::NotFound) | Err(VfsError::NotDir) => {
                return Err(NtStatus::OBJECT_PATH_NOT_FOUND)
            }
            Err(e) => return Err(status_of(e)),
        }
    }
    let src = vfs.getattr(handle).map_err(status_of)?;
    match lookup(vfs, &dir, last, case_insensitive) {
        // The same file under another spelling: a case-changing rename.
        Ok((_, _, a)) if a.fileid == src.fileid && a.fsid == src.fsid && !link => {}
        Ok((_, _, a)) => {
            if !replace {
                return Err(NtStatus::OBJECT_NAME_COLLISION);
            }
            if a.kind == FileKind::Directory {
                return Err(NtStatus::ACCESS_DENIED);
            }
        }
        Err(VfsError::NotFound) => {}
        Err(e) => return Err(status_of(e)),
    }
    if link {
        if replace {
            match vfs.remove(&dir, last.as_bytes()) {
                Ok(()) | Err(VfsError::NotFound) => {}
                Err(e) => return Err(status_of(e)),
            }
        }
        vfs.link(handle, &dir, last.as_bytes()).map_err(status_of)?;
    } else {
        let mode = if replace {
            vfs::RenameMode::Replace
        } else {
            vfs::RenameMode::NoReplace
        };
        match vfs.rename(parent, name, &dir, last.as_bytes(), mode) {
            Ok(()) => {}
            // The target appeared after the check above (another client).
            Err(VfsError::Exists) => return Err(NtStatus::OBJECT_NAME_COLLISION),
            Err(e) => return Err(status_of(e)),
        }
    }
    Ok((dir, last.as_bytes().to_vec()))
}

/// How the file looks to SMB: its attributes with the stored DOS attributes and creation
/// time (one `Vfs::dos_attrs`, `smb_info::view_dos`).
fn view_of(vfs: &dyn Vfs, h: &Handle, name: &[u8]) -> Result<SmbView, VfsError> {
    vfs.dos_attrs(h).map(|d| smb_info::view_dos(&d, name))
}

/// The attributes of a file a CREATE just made (or overwrote): FileAttributes with
/// FILE_ATTRIBUTE_ARCHIVE for a file (MS-FSA 2.1.5.1.1/2.1.5.1.2.1, as Windows and Samba
/// answer), stored where the backend can (`Vfs::set_dos_attrs`; READONLY is already in the
/// mode). A backend that stores none reports what the mode gives.
/// A new or overwritten file's AllocationSize (MS-FSA 2.1.5.1.2.1: the object store sets
/// the stream's allocation from the create's AllocationSize): space reserved through
/// [`Vfs::set_allocation`] (fallocate, keeping the size), so the CREATE response and later
/// queries report it. The reservation is best effort, as a hint: a backend that cannot
/// reserve, or a full disk, leaves the file as it is (`attr`).
fn reserve(vfs: &dyn Vfs, h: &Handle, attr: FileAttr, allocation: Option<u64>) -> FileAttr {
    match allocation {
        Some(n) if n > 0 && n <= i64::MAX as u64 && attr.kind == FileKind::Regular => {
            vfs.set_allocation(h, n).unwrap_or(attr)
        }
        _ => attr,
    }
}

fn new_attributes(
    vfs: &dyn Vfs,
    h: &Handle,
    attr: &FileAttr,
    name: &[u8],
    requested: u32,
) -> SmbView {
    use vfs::file_attributes as fa;
    let dir = attr.kind == FileKind::Directory;
    let mut word = requested & fa::STORABLE & !fa::READONLY;
    if !dir {
        word |= fa::ARCHIVE;
    }
    let set = vfs::SetDosAttrs {
        attributes: Some(word),
        creation_time: None,
    };
    match vfs.set_dos_attrs(h, &set) {
        Ok(d) => smb_info::view_dos(&d, name),
        Err(_) => view_of(vfs, h, name).unwrap_or_else(|_| smb_info::view_named(attr, name)),
    }
}
