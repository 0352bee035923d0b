//! SMB access checks on the POSIX permission model NFS uses ([`crate::perm`]): which NT
//! access rights (MS-DTYP §2.4.3 ACCESS_MASK; the file and directory rights of MS-SMB2
//! §2.2.13.1.1 and §2.2.13.1.2) a session's uid/gid and groups have on a file, and the
//! access check of an SMB2 CREATE (MS-SMB2 §3.3.5.9, MS-FSA §2.1.5.1.2.1 "Algorithm to
//! Check Access to an Existing File"): DesiredAccess in, the granted mask or
//! STATUS_ACCESS_DENIED out.
//!
//! # The mapping
//! Generic rights are first mapped to file-specific ones ([`map_generic`], the file
//! object's GENERIC_MAPPING: FILE_GENERIC_READ/WRITE/EXECUTE, FILE_ALL_ACCESS). Then, on a
//! file with attributes `a` for credentials `c` ([`maximal_access`]):
//! - always: FILE_READ_ATTRIBUTES (MS-FSA §2.1.5.1.2.1 grants it to whoever can reach the
//!   file, as `stat` needs nothing on the file itself), READ_CONTROL (the security
//!   descriptor is derived from owner, group and mode, which `stat` shows anyone) and
//!   SYNCHRONIZE;
//! - `r`: FILE_READ_DATA (FILE_LIST_DIRECTORY), FILE_READ_EA;
//! - `w`: on a file FILE_WRITE_DATA, FILE_APPEND_DATA, FILE_WRITE_EA,
//!   FILE_WRITE_ATTRIBUTES (and the meaningless-there FILE_DELETE_CHILD, so that
//!   GENERIC_ALL is granted on an `rwx` file); on a directory FILE_WRITE_EA, FILE_WRITE_ATTRIBUTES, and with
//!   `x` too FILE_ADD_FILE, FILE_ADD_SUBDIRECTORY, FILE_DELETE_CHILD (creating and
//!   removing entries needs `w` and `x`, as for NFS);
//! - `x`: FILE_EXECUTE (FILE_TRAVERSE);
//! - the owner (and root): WRITE_DAC (chmod is the owner's), WRITE_OWNER (whether a
//!   change of owner is allowed is decided when one is asked for, by the chown rules) and
//!   FILE_WRITE_ATTRIBUTES (setting times; Samba's `dos filetimes` default gives it to
//!   writers as well, as above);
//! - DELETE: `w` and `x` on the parent directory and the sticky rule, exactly what an NFS
//!   REMOVE needs (POSIX has no per-file delete right; Samba's
//!   `can_delete_file_in_directory`); never on a share's root;
//! - on a read-only share every right that modifies ([`WRITE_RIGHTS`]) is withheld.
//!
//! The permission classes, root's powers and the sticky rule are [`crate::perm`]'s, so the
//! answer matches an NFS ACCESS for the same uid and gids. Unlike NFS there is no owner
//! override for reading and writing (knfsd's `NFSD_MAY_OWNER_OVERRIDE` exists because NFS
//! is stateless; an SMB open is checked once, when it is made).

use proto_nfs::server::Creds;
use proto_smb2::status::NtStatus;
use vfs::{FileAttr, FileKind};

use crate::perm::{may, sticky_allows, R, W, X};

// The access-mask bits (MS-DTYP §2.4.3, MS-SMB2 §2.2.13.1) are proto-smb2's; the directory
// names of shared bits are added here.
pub use proto_smb2::security::access::{
    ACCESS_SYSTEM_SECURITY, DELETE, FILE_ALL_ACCESS, FILE_APPEND_DATA, FILE_DELETE_CHILD,
    FILE_EXECUTE, FILE_GENERIC_EXECUTE, FILE_GENERIC_READ, FILE_GENERIC_WRITE,
    FILE_READ_ATTRIBUTES, FILE_READ_DATA, FILE_READ_EA, FILE_WRITE_ATTRIBUTES, FILE_WRITE_DATA,
    FILE_WRITE_EA, GENERIC_ALL, GENERIC_EXECUTE, GENERIC_READ, GENERIC_WRITE, MAXIMUM_ALLOWED,
    READ_CONTROL, SYNCHRONIZE, WRITE_DAC, WRITE_OWNER,
};
/// List a directory (MS-SMB2 §2.2.13.1.2; the same bit as [`FILE_READ_DATA`]).
pub const FILE_LIST_DIRECTORY: u32 = FILE_READ_DATA;
/// Create a file in a directory (the same bit as [`FILE_WRITE_DATA`]).
pub const FILE_ADD_FILE: u32 = FILE_WRITE_DATA;
/// Create a subdirectory (the same bit as [`FILE_APPEND_DATA`]).
pub const FILE_ADD_SUBDIRECTORY: u32 = FILE_APPEND_DATA;
/// Traverse a directory (the same bit as [`FILE_EXECUTE`]).
pub const FILE_TRAVERSE: u32 = FILE_EXECUTE;

/// The rights that change a file, its directory entries or its security: withheld on a
/// read-only share.
pub const WRITE_RIGHTS: u32 = FILE_WRITE_DATA
    | FILE_APPEND_DATA
    | FILE_WRITE_EA
    | FILE_DELETE_CHILD
    | FILE_WRITE_ATTRIBUTES
    | DELETE
    | WRITE_DAC
    | WRITE_OWNER;

/// Bits MS-DTYP §2.4.3 leaves reserved (9-15 of the specific rights, 21-23, 26-27): a
/// request naming one is refused with STATUS_ACCESS_DENIED, as Windows does.
pub const RESERVED_BITS: u32 = 0x0CE0_FE00;

/// STATUS_PRIVILEGE_NOT_HELD (MS-ERREF §2.3): ACCESS_SYSTEM_SECURITY without
/// SeSecurityPrivilege, which no Janus user holds.
pub const STATUS_PRIVILEGE_NOT_HELD: NtStatus = NtStatus(0xC000_0061);

/// CreateDisposition FILE_SUPERSEDE (MS-SMB2 §2.2.13): replace an existing file.
pub const FILE_SUPERSEDE: u32 = 0;
/// CreateDisposition FILE_OVERWRITE: truncate an existing file, fail if none.
pub const FILE_OVERWRITE: u32 = 4;
/// CreateDisposition FILE_OVERWRITE_IF: truncate an existing file, or create it.
pub const FILE_OVERWRITE_IF: u32 = 5;

/// The rights a CREATE disposition needs on an EXISTING file beyond what the client asked
/// for, to be added to DesiredAccess before [`check_open`]: superseding replaces the file
/// (DELETE), overwriting truncates it (FILE_WRITE_DATA), and both rewrite its attributes
/// and extended attributes (FILE_WRITE_ATTRIBUTES, FILE_WRITE_EA), as a Windows file
/// system checks these destructive dispositions ("Checking for other special cases on
/// IRP_MJ_CREATE" in the Windows driver documentation). Other dispositions need nothing
/// more.
pub fn implied_by_disposition(disposition: u32) -> u32 {
    match disposition {
        FILE_SUPERSEDE => DELETE | FILE_WRITE_ATTRIBUTES | FILE_WRITE_EA,
        FILE_OVERWRITE | FILE_OVERWRITE_IF => {
            FILE_WRITE_DATA | FILE_WRITE_ATTRIBUTES | FILE_WRITE_EA
        }
        _ => 0,
    }
}

/// Replaces the generic bits of `mask` by the file-specific rights they stand for (the
/// file object's GENERIC_MAPPING, MS-DTYP §2.4.3); other bits are kept.
pub fn map_generic(mask: u32) -> u32 {
    let mut out = mask & !(GENERIC_READ | GENERIC_WRITE | GENERIC_EXECUTE | GENERIC_ALL);
    if mask & GENERIC_READ != 0 {
        out |= FILE_GENERIC_READ;
    }
    if mask & GENERIC_WRITE != 0 {
        out |= FILE_GENERIC_WRITE;
    }
    if mask & GENERIC_EXECUTE != 0 {
        out |= FILE_GENERIC_EXECUTE;
    }
    if mask & GENERIC_ALL != 0 {
        out |= FILE_ALL_ACCESS;
    }
    out
}

/// Every right `c` has on the file with attributes `file` in the directory with
/// attributes `parent` (`None`: the file is the share's root), on a share that is
/// `read_only` or not; see the module documentation for the mapping. This is also the
/// MaximalAccess of an SMB2_CREATE_QUERY_MAXIMAL_ACCESS response (MS-SMB2 §2.2.14.2.5).
pub fn maximal_access(
    file: &FileAttr,
    parent: Option<&FileAttr>,
    c: &Creds,
    read_only: bool,
) -> u32 {
    let dir = file.kind == FileKind::Directory;
    let mut g = FILE_READ_ATTRIBUTES | READ_CONTROL | SYNCHRONIZE;
    if may(file, c, R) {
        g |= FILE_READ_DATA | FILE_READ_EA;
    }
    if may(file, c, W) {
        g |= FILE_WRITE_EA | FILE_WRITE_ATTRIBUTES;
        if !dir {
            // FILE_DELETE_CHILD means nothing on a file, but FILE_ALL_ACCESS (GENERIC_ALL)
            // names it: it comes with `w`, so GENERIC_ALL on an `rwx` file is granted.
            g |= FILE_WRITE_DATA | FILE_APPEND_DATA | FILE_DELETE_CHILD;
        }
    }
    if dir && may(file, c, W | X) {
        g |= FILE_ADD_FILE | FILE_ADD_SUBDIRECTORY | FILE_DELETE_CHILD;
    }
    if may(file, c, X) {
        g |= FILE_EXECUTE;
    }
    if c.uid == 0 || c.uid == file.uid {
        g |= WRITE_DAC | WRITE_OWNER | FILE_WRITE_ATTRIBUTES;
    }
    if parent.is_some_and(|p| may(p, c, W | X) && sticky_allows(p, file, c)) {
        g |= DELETE;
    }
    if read_only {
        g &= !WRITE_RIGHTS;
    }
    g
}

/// The checks every DesiredAccess goes through before the permissions: reserved bits and
/// ACCESS_SYSTEM_SECURITY are refused; returns the mask with generic rights mapped.
fn prepare(desired: u32) -> Result<u32, NtStatus> {
    if desired & RESERVED_BITS != 0 {
        return Err(NtStatus::ACCESS_DENIED);
    }
    if desired & ACCESS_SYSTEM_SECURITY != 0 {
        // MS-FSA §2.1.5.1.2.1: the SACL right needs SeSecurityPrivilege.
        return Err(STATUS_PRIVILEGE_NOT_HELD);
    }
    Ok(map_generic(desired))
}

/// Grants `wanted` (generic rights mapped) out of `available`: with MAXIMUM_ALLOWED every
/// available right, provided the rights named besides it are available too.
fn grant(wanted: u32, available: u32) -> Result<u32, NtStatus> {
    let named = wanted & !MAXIMUM_ALLOWED;
    if named & !available != 0 {
        return Err(NtStatus::ACCESS_DENIED);
    }
    Ok(if wanted & MAXIMUM_ALLOWED != 0 {
        available
    } else {
        named
    })
}

/// The access check of an SMB2 CREATE that opens an existing file (MS-SMB2 §3.3.5.9,
/// MS-FSA §2.1.5.1.2.1): the access granted to the open, or STATUS_ACCESS_DENIED when a
/// right asked for is missing (STATUS_PRIVILEGE_NOT_HELD for ACCESS_SYSTEM_SECURITY).
/// MAXIMUM_ALLOWED grants [`maximal_access`].
pub fn check_open(
    desired: u32,
    file: &FileAttr,
    parent: Option<&FileAttr>,
    c: &Creds,
    read_only: bool,
) -> Result<u32, NtStatus> {
    let wanted = prepare(desired)?;
    grant(wanted, maximal_access(file, parent, c, read_only))
}

/// The access check of an SMB2 CREATE that creates a file or directory in the directory
/// with attributes `parent`: `c` needs FILE_ADD_FILE (a file) or FILE_ADD_SUBDIRECTORY (a
/// directory) there, i.e. `w` and `x` as for an NFS CREATE or MKDIR; nothing is created on
/// a read-only share. The creator owns the new file and is granted what it asked for
/// (MAXIMUM_ALLOWED: [`FILE_ALL_ACCESS`]), as `open(O_CREAT)` returns a writable
/// descriptor whatever mode it gives the new file.
pub fn check_create(
    desired: u32,
    parent: &FileAttr,
    c: &Creds,
    read_only: bool,
) -> Result<u32, NtStatus> {
    let wanted = prepare(desired)?;
    if read_only || parent.kind != FileKind::Directory || !may(parent, c, W | X) {
        return Err(NtStatus::ACCESS_DENIED);
    }
    grant(wanted, FILE_ALL_ACCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_mapping_matches_the_file_object_mapping() {
        assert_eq!(FILE_GENERIC_READ, 0x0012_0089);
        assert_eq!(FILE_GENERIC_WRITE, 0x0012_0116);
        assert_eq!(FILE_GENERIC_EXECUTE, 0x0012_00A0);
        assert_eq!(map_generic(GENERIC_READ), FILE_GENERIC_READ);
        assert_eq!(map_generic(GENERIC_ALL), FILE_ALL_ACCESS);
        assert_eq!(
            map_generic(GENERIC_WRITE | DELETE | MAXIMUM_ALLOWED),
            FILE_GENERIC_WRITE | DELETE | MAXIMUM_ALLOWED
        );
        assert_eq!(map_generic(0), 0);
        // Every defined bit is either reserved or meaningful, never both.
        let defined = FILE_ALL_ACCESS
            | ACCESS_SYSTEM_SECURITY
            | MAXIMUM_ALLOWED
            | GENERIC_ALL
            | GENERIC_EXECUTE
            | GENERIC_WRITE
            | GENERIC_READ;
        assert_eq!(defined & RESERVED_BITS, 0);
        assert_eq!(defined | RESERVED_BITS, u32::MAX);
    }

    #[test]
    fn destructive_dispositions_imply_rights() {
        assert_eq!(implied_by_disposition(FILE_SUPERSEDE) & DELETE, DELETE);
        assert_eq!(implied_by_disposition(FILE_SUPERSEDE) & FILE_WRITE_DATA, 0);
        for d in [FILE_OVERWRITE, FILE_OVERWRITE_IF] {
            assert_eq!(implied_by_disposition(d) & FILE_WRITE_DATA, FILE_WRITE_DATA);
            assert_eq!(implied_by_disposition(d) & DELETE, 0);
        }
        // FILE_OPEN, FILE_CREATE, FILE_OPEN_IF, and anything else.
        for d in [1, 2, 3, 6, u32::MAX] {
            assert_eq!(implied_by_disposition(d), 0);
        }
    }
}
