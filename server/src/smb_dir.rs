//! QUERY_DIRECTORY (MS-SMB2 §3.3.5.18, MS-FSA §2.1.5.6) over `vfs`: the per-open search
//! state ([`DirSearch`]) and [`query_directory`], a plain synchronous function the core runs
//! inside a file-system job.
//!
//! # How a listing goes
//! - The first query of an open (and every query with SMB2_RESTART_SCANS or SMB2_REOPEN)
//!   starts a search: the pattern is parsed (`names::parse_pattern`; empty means `*`) and
//!   the position reset. Later queries continue the search and ignore their pattern, as
//!   MS-FSA §2.1.5.6.3 does. On RESTART_SCANS the new pattern replaces the old one (MS-FSA,
//!   and the lab's Samba 4.17 does the same).
//! - `.` and `..` come first when the pattern matches them, with the directory's and its
//!   parent's attributes (the share root is its own parent, and gets both entries, as Samba
//!   answers).
//! - Then the backend's entries in its order, read in pages of [`PAGE`] entries from the
//!   cookie after the last one read: a search of a directory of 100,000 entries reads each
//!   entry once over the whole listing, never from the start again. The page waiting to be
//!   returned is the only cache ([`PAGE`] entries at most). An entry removed between two
//!   queries is skipped when its lookup fails; one added is listed if the backend places it
//!   after the position (MemoryFs always does; in the hash order of an ext4 directory it
//!   may fall before, and then shows in the next listing): never twice, and nothing
//!   present throughout is missed (the backend's cookies stay valid while their entry
//!   exists, `vfs::DirEntry::cookie`).
//! - Each entry's name is matched before anything is asked about it (`names::wildcard_match`,
//!   MS-FSA §2.1.4.4, upper-cased on a case-insensitive share); a match costs one `lookup`
//!   and one `dos_attrs`, which give the attributes. The entries looked up in one query are bounded by the
//!   output buffer (each takes at least its class's fixed part) and SMB2_RETURN_SINGLE_ENTRY;
//!   names that do not match cost a name comparison only, so a query for a rare pattern
//!   scans (once) as far as the next match.
//! - A pattern without wildcards is a name lookup: the name is looked up directly (one
//!   `lookup`, no scan); on a case-insensitive share a miss falls back to the scan, which
//!   compares case-insensitively.
//!
//! # Symbolic links and special files
//! An entry is described by `lookup` and `dos_attrs` (its stored DOS attributes and
//! creation time, [`crate::smb_info::view_dos`]); `lookup` does not follow symbolic links: a link is
//! listed with its own attributes (a file whose size is the target's length), a FIFO or
//! device as a file. Samba follows links inside the share (a link shows its target's
//! attributes and id, a dangling one is not listed); following them needs the core's path
//! resolution and is left to the one place where entries are described (`child_attr`).
//!
//! # Names that are not listed
//! Names that are not valid UTF-8, and names an SMB client could not open (a character
//! MS-FSCC §2.1.5.2 forbids: control characters, `\ / : * ? " < > |`, or longer than 255
//! UTF-16 units), are skipped: Janus generates no mangled names (as Samba with `mangled
//! names = no`, where such names are not reachable either).
//!
//! # Statuses
//! STATUS_INVALID_INFO_CLASS for a class that is not a directory class; STATUS_ACCESS_DENIED
//! without FILE_LIST_DIRECTORY; STATUS_INFO_LENGTH_MISMATCH for a buffer below the class's
//! fixed part (MS-FSA; Samba answers INVALID_PARAMETER, see `fscc-99-dir-8-resp`); STATUS_BUFFER_OVERFLOW when the
//! first entry alone does not fit (what fits of it is returned, MS-FSA; the entry stays
//! first for the next query, as with Samba, which answers INFO_LENGTH_MISMATCH there);
//! STATUS_INVALID_PARAMETER for an open that is not a directory (MS-SMB2; Samba answers
//! NOT_SUPPORTED); STATUS_NO_SUCH_FILE when the first query of a search finds nothing,
//! STATUS_NO_MORE_FILES after that. SMB2_INDEX_SPECIFIED is ignored: FileIndex is always 0
//! (positions in a POSIX directory are not stable), so the search continues from where it
//! is, as Samba does. OutputBufferLength against MaxTransactSize is the core's check.

use std::collections::VecDeque;

use proto_smb2::cmd::query::query_directory_flags as flags;
use proto_smb2::cmd::QueryDirectoryRequest;
use proto_smb2::fscc::dir::{DirClass, DirEntry, DirPacker, Push};
use proto_smb2::fscc::FileTime;
use proto_smb2::names::{has_wildcards, parse_path_units, parse_pattern, wildcard_match};
use proto_smb2::server::Reply;
use proto_smb2::NtStatus;
use vfs::{DosAttrs, FileKind, Handle, Vfs, VfsError};

use crate::smb_access::FILE_LIST_DIRECTORY;
use crate::smb_info::{output_reply, vfs_status, view_dos, SmbView};

/// Backend entries read per `readdir` call, and the most a search caches.
pub const PAGE: usize = 256;

/// Where a search is between `.`/`..` and the backend's entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// `.` is next.
    Dot,
    /// `..` is next.
    DotDot,
    /// The exact-name lookup of a pattern without wildcards is next.
    Exact,
    /// The backend's entries.
    Scan,
    /// Nothing more.
    Done,
}

/// The enumeration state of one directory open (MS-FSA Open.QueryPattern and
/// Open.QueryLastEntry, in POSIX terms): the pattern, the position (which of `.`/`..` were
/// returned, the backend cookie to read on from), the page of entries read but not yet
/// returned, and whether a query has been answered since the search started.
#[derive(Debug, Clone)]
pub struct DirSearch {
    /// The access granted to the open (FILE_LIST_DIRECTORY is needed).
    granted_access: u32,
    /// The search pattern; `None` until the first query.
    pattern: Option<Vec<u16>>,
    /// The next thing to list.
    stage: Stage,
    /// The backend cookie after the last entry read into `cache` (0: the start).
    cookie: u64,
    /// Entries read from the backend and not yet returned, in order (at most [`PAGE`]).
    /// When it drains, the backend is asked again from `cookie`, so names added after an
    /// earlier end-of-directory are still listed; an empty page ends the query (a later
    /// query asks again: one `readdir` each).
    cache: VecDeque<vfs::DirEntry>,
    /// A query of this search has been answered (STATUS_NO_MORE_FILES rather than
    /// STATUS_NO_SUCH_FILE when nothing is found).
    queried: bool,
}

impl DirSearch {
    /// The search state of a new open of a directory with `granted_access`.
    pub fn new(granted_access: u32) -> DirSearch {
        DirSearch {
            granted_access,
            pattern: None,
            stage: Stage::Dot,
            cookie: 0,
            cache: VecDeque::new(),
            queried: false,
        }
    }

    /// The pattern of the current search (UTF-16), if one was started.
    pub fn pattern(&self) -> Option<&[u16]> {
        self.pattern.as_deref()
    }

    /// Entries waiting in the cache (at most [`PAGE`]).
    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    fn restart(&mut self, pattern: Vec<u16>) {
        self.pattern = Some(pattern);
        self.stage = Stage::Dot;
        self.cookie = 0;
        self.cache.clear();
        self.queried = false;
    }
}

/// The UTF-16 name of a backend entry if an SMB client can see and open it (see the module
/// documentation), else `None`.
fn smb_name(name: &[u8]) -> Option<Vec<u16>> {
    let s = std::str::from_utf8(name).ok()?;
    let units: Vec<u16> = s.encode_utf16().collect();
    match parse_path_units(&units) {
        Ok(p) if !p.trailing_separator && p.components.len() == 1 && p.components[0] == s => {
            Some(units)
        }
        _ => None,
    }
}

/// The attributes a listing shows for the entry `name` of `dir`: one `lookup` and one
/// `dos_attrs` (a stat and an extended-attribute read on the local backend, what Samba
/// does per entry too).
fn child_attr(fs: &dyn Vfs, dir: &Handle, name: &[u8]) -> Result<DosAttrs, VfsError> {
    let (h, _) = fs.lookup(dir, name)?;
    fs.dos_attrs(&h)
}

fn dir_entry(v: &SmbView, file_name: Vec<u16>) -> DirEntry {
    DirEntry {
        file_index: 0,
        creation_time: FileTime(v.creation_time),
        last_access_time: FileTime(v.last_access_time),
        last_write_time: FileTime(v.last_write_time),
        change_time: FileTime(v.change_time),
        end_of_file: v.end_of_file,
        allocation_size: v.allocation_size,
        file_attributes: v.query_attributes(),
        ea_size: 0,
        short_name: Vec::new(),
        file_id: v.file_id,
        file_name,
    }
}

/// What one candidate came to.
enum Step {
    /// Packed: consumed.
    Taken,
    /// Did not fit (or only in part, BUFFER_OVERFLOW): keep it for the next query, stop.
    Full,
}

/// An entry that did not fit whole stays for the next query, also when it was the first
/// and went out cut with BUFFER_OVERFLOW: a client that asks again with a larger buffer
/// gets it (Samba keeps it too, answering INFO_LENGTH_MISMATCH).
fn push(packer: &mut DirPacker, e: &DirEntry) -> Step {
    match packer.push(e) {
        Push::Added => Step::Taken,
        Push::Full | Push::Overflow => Step::Full,
    }
}

/// Answers a QUERY_DIRECTORY on the directory `dir` with the open's search state
/// `search`; `case_insensitive` is the share's name matching. See the module
/// documentation for the rules.
pub fn query_directory(
    fs: &dyn Vfs,
    dir: &Handle,
    search: &mut DirSearch,
    req: &QueryDirectoryRequest,
    case_insensitive: bool,
) -> Reply {
    let Some(class) = DirClass::from_class(req.file_information_class) else {
        return Reply::error(NtStatus::INVALID_INFO_CLASS);
    };
    if search.granted_access & FILE_LIST_DIRECTORY == 0 {
        return Reply::error(NtStatus::ACCESS_DENIED);
    }
    let dir_attr = match fs.dos_attrs(dir) {
        Ok(a) if a.attr.kind == FileKind::Directory => a,
        Ok(_) => return Reply::error(NtStatus::INVALID_PARAMETER),
        Err(e) => return Reply::error(vfs_status(e)),
    };
    let mut packer = match DirPacker::new(class, req.output_buffer_length) {
        Ok(p) => p,
        Err(st) => return Reply::error(st),
    };
    if search.pattern.is_none() || req.flags & (flags::RESTART_SCANS | flags::REOPEN) != 0 {
        match parse_pattern(&req.pattern) {
            Ok(p) => search.restart(p),
            Err(st) => return Reply::error(st),
        }
    }
    let single = req.flags & flags::RETURN_SINGLE_ENTRY != 0;
    if let Err(st) = fill(
        fs,
        dir,
        &dir_attr,
        search,
        &mut packer,
        single,
        case_insensitive,
    ) {
        if packer.count() == 0 {
            return Reply::error(st);
        }
    }
    let first = !search.queried;
    search.queried = true;
    let (status, buf) = packer.finish();
    if buf.is_empty() {
        return Reply::error(if first {
            NtStatus::NO_SUCH_FILE
        } else {
            NtStatus::NO_MORE_FILES
        });
    }
    output_reply(status, buf)
}

/// Packs entries from where `search` stands until the buffer is full, one entry was taken
/// with `single`, or the listing ends. An error stops the packing; the entries packed
/// before it are answered.
fn fill(
    fs: &dyn Vfs,
    dir: &Handle,
    dir_attr: &DosAttrs,
    search: &mut DirSearch,
    packer: &mut DirPacker,
    single: bool,
    ci: bool,
) -> Result<(), NtStatus> {
    let pattern = search.pattern.clone().unwrap_or_default();
    let enough = |p: &DirPacker| single && p.count() > 0;
    loop {
        if enough(packer) {
            return Ok(());
        }
        match search.stage {
            Stage::Dot | Stage::DotDot => {
                let dot = search.stage == Stage::Dot;
                let name: &[u8] = if dot { b"." } else { b".." };
                let units: Vec<u16> = name.iter().map(|b| u16::from(*b)).collect();
                if wildcard_match(&pattern, &units, ci) {
                    let attr = if dot {
                        *dir_attr
                    } else {
                        child_attr(fs, dir, b"..").map_err(vfs_status)?
                    };
                    let e = dir_entry(&view_dos(&attr, name), units);
                    if let Step::Full = push(packer, &e) {
                        return Ok(());
                    }
                }
                search.stage = match (dot, has_wildcards(&pattern)) {
                    (true, _) => Stage::DotDot,
                    (false, true) => Stage::Scan,
                    (false, false) => Stage::Exact,
                };
            }
            Stage::Exact => {
                // A plain name: look it up instead of scanning.
                let name = String::from_utf16(&pattern).ok();
                let special = matches!(name.as_deref(), Some(".") | Some(".."));
                let found = match name.as_deref() {
                    Some(n) if !special && smb_name(n.as_bytes()).is_some() => {
                        match child_attr(fs, dir, n.as_bytes()) {
                            Ok(attr) => Some((n.as_bytes().to_vec(), attr)),
                            Err(VfsError::NotFound | VfsError::NameTooLong) => None,
                            Err(e) => return Err(vfs_status(e)),
                        }
                    }
                    _ => None,
                };
                match found {
                    Some((n, attr)) => {
                        let e = dir_entry(&view_dos(&attr, &n), pattern.clone());
                        if let Step::Full = push(packer, &e) {
                            return Ok(());
                        }
                        search.stage = Stage::Done;
                    }
                    // Another case of the name may exist on a case-insensitive share.
                    None if ci && !special => search.stage = Stage::Scan,
                    None => search.stage = Stage::Done,
                }
            }
            Stage::Scan => {
                if search.cache.is_empty() {
                    let page = match fs.readdir(dir, search.cookie, PAGE) {
                        Ok(p) => p,
                        Err(VfsError::BadCookie) => {
                            // The backend can no longer resume here: end the listing
                            // rather than start over and list entries twice.
                            tracing::warn!("QUERY_DIRECTORY: readdir cookie no longer valid");
                            search.stage = Stage::Done;
                            continue;
                        }
                        Err(e) => return Err(vfs_status(e)),
                    };
                    let Some(last) = page.entries.last() else {
                        // The end, for now: a later query asks again from here.
                        return Ok(());
                    };
                    search.cookie = last.cookie;
                    search.cache.extend(page.entries);
                    continue;
                }
                let Some(front) = search.cache.front() else {
                    continue;
                };
                let units = match smb_name(&front.name) {
                    Some(u) if wildcard_match(&pattern, &u, ci) => u,
                    _ => {
                        search.cache.pop_front();
                        continue;
                    }
                };
                let attr = match child_attr(fs, dir, &front.name) {
                    Ok(a) => a,
                    // Removed (or replaced) since it was read: not listed.
                    Err(VfsError::NotFound | VfsError::Stale) => {
                        search.cache.pop_front();
                        continue;
                    }
                    Err(e) => return Err(vfs_status(e)),
                };
                let e = dir_entry(&view_dos(&attr, &front.name), units);
                match push(packer, &e) {
                    Step::Taken => {
                        search.cache.pop_front();
                    }
                    Step::Full => return Ok(()),
                }
            }
            Stage::Done => return Ok(()),
        }
    }
}
