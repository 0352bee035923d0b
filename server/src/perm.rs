//! The POSIX permission model every protocol of the core applies to a caller's uid/gid
//! (what knfsd and Linux `generic_permission` do, kept simple): NFS (`nfs3_exec`) and SMB
//! (`smb_access`) check access with these functions, so a file is equally open or closed to
//! a user whichever protocol asks.
//!
//! - uid 0 may do everything, except execute a non-directory without any `x` bit.
//! - Otherwise exactly one `rwx` class applies: owner, else group (primary or supplementary
//!   gid), else other.
//! - In a sticky directory only root, the directory's owner or the entry's owner may remove
//!   or rename an entry (Linux `check_sticky`).

use proto_nfs::server::Creds;
use vfs::{FileAttr, FileKind};

/// Read permission (`r`).
pub const R: u32 = 4;
/// Write permission (`w`).
pub const W: u32 = 2;
/// Execute / search permission (`x`).
pub const X: u32 = 1;

/// The `rwx` bits of `a` that apply to `c` (owner, group or other class).
pub fn class_bits(a: &FileAttr, c: &Creds) -> u32 {
    if c.uid == a.uid {
        (a.mode >> 6) & 7
    } else if in_group(c, a.gid) {
        (a.mode >> 3) & 7
    } else {
        a.mode & 7
    }
}

/// Whether `c` may create and remove entries in a directory of permission bits `mode`,
/// owner `uid` and group `gid`: the `wx` check of CREATE, REMOVE, RENAME and the others
/// (root may). For a runtime's start-up check of a share's directory, with no
/// [`FileAttr`] at hand.
pub fn may_change_dir(mode: u32, uid: u32, gid: u32, c: &Creds) -> bool {
    let bits = if c.uid == uid {
        (mode >> 6) & 7
    } else if in_group(c, gid) {
        (mode >> 3) & 7
    } else {
        mode & 7
    };
    c.uid == 0 || bits & (W | X) == W | X
}

/// Whether `gid` is `c`'s primary or one of its supplementary groups.
pub fn in_group(c: &Creds, gid: u32) -> bool {
    c.gid == gid || c.gids.contains(&gid)
}

/// Whether `c` has all of `want` (R|W|X) on `a` by its mode; uid 0 has everything except
/// X on a non-directory with no `x` bit at all (Linux `generic_permission`).
pub fn may(a: &FileAttr, c: &Creds, want: u32) -> bool {
    if c.uid == 0 {
        return want & X == 0 || a.kind == FileKind::Directory || a.mode & 0o111 != 0;
    }
    class_bits(a, c) & want == want
}

/// The sticky-directory rule (Linux `check_sticky`): whether `c` may remove or rename the
/// entry with attributes `entry` from the directory with attributes `dir`, as far as the
/// sticky bit is concerned (write and search permission on `dir` are checked apart).
pub fn sticky_allows(dir: &FileAttr, entry: &FileAttr, c: &Creds) -> bool {
    dir.mode & 0o1000 == 0 || c.uid == 0 || c.uid == dir.uid || c.uid == entry.uid
}
