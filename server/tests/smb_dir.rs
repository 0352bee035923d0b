//! QUERY_DIRECTORY over MemoryFs (`server::smb_dir`): the six classes against Samba 4.17's
//! answers for the same directory (`proto-smb2/tests/data/fscc-8x..10x`: `.`, `..`,
//! `hello.txt`, `sub`), wildcards, flags, buffer sizes, resumption across calls while the
//! directory changes, and a directory of 100,000 entries listed completely with bounded work.

mod support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use proto_smb2::cmd::query::query_directory_flags as flags;
use proto_smb2::cmd::{FileId, OutputBufferResponse, QueryDirectoryRequest};
use proto_smb2::fscc::dir::{DirClass, DirEntry};
use proto_smb2::fscc::{attributes, FileTime};
use proto_smb2::server::Reply;
use proto_smb2::NtStatus;
use server::smb_access::{FILE_ALL_ACCESS, FILE_LIST_DIRECTORY, FILE_READ_ATTRIBUTES};
use server::smb_dir::{query_directory, DirSearch, PAGE};
use support::layer::{Hooks, Layered};
use vfs::memory::{MemoryFs, MemoryFsConfig, VirtualClock};
use vfs::*;

macro_rules! samba {
    ($name:literal) => {
        &include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../proto-smb2/tests/data/",
            $name,
            ".nbss"
        ))[4..]
    };
}

const HELLO: Timestamp = Timestamp {
    secs: 1_704_164_645,
    nsecs: 123_456_789,
};

fn caller() -> Caller {
    Caller {
        uid: 1000,
        gid: 100,
        gids: vec![],
    }
}

/// A MemoryFs that counts the calls a listing makes.
#[derive(Debug)]
struct Counting {
    lookups: AtomicUsize,
    readdirs: AtomicUsize,
    dos: AtomicUsize,
}

impl Counting {
    fn new(fs: MemoryFs) -> Layered<Counting> {
        Layered::new(
            fs,
            Counting {
                lookups: AtomicUsize::new(0),
                readdirs: AtomicUsize::new(0),
                dos: AtomicUsize::new(0),
            },
        )
    }
    fn take(&self) -> (usize, usize) {
        (
            self.lookups.swap(0, Ordering::Relaxed),
            self.readdirs.swap(0, Ordering::Relaxed),
        )
    }
}

impl Hooks for Counting {
    fn lookup(&self, fs: &dyn Vfs, dir: &Handle, name: &[u8]) -> VfsResult<(Handle, FileAttr)> {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        fs.lookup(dir, name)
    }
    fn readdir(
        &self,
        fs: &dyn Vfs,
        dir: &Handle,
        cookie: u64,
        max_entries: usize,
    ) -> VfsResult<DirPage> {
        self.readdirs.fetch_add(1, Ordering::Relaxed);
        fs.readdir(dir, cookie, max_entries)
    }
    fn dos_attrs(&self, fs: &dyn Vfs, h: &Handle) -> VfsResult<DosAttrs> {
        self.dos.fetch_add(1, Ordering::Relaxed);
        fs.dos_attrs(h)
    }
}

fn memfs() -> MemoryFs {
    MemoryFs::with_virtual_clock(MemoryFsConfig::default(), VirtualClock::new(HELLO))
}

fn file(fs: &dyn Vfs, dir: &Handle, name: &[u8]) -> Handle {
    fs.create(
        dir,
        name,
        CreateHow::Guarded,
        &SetAttrs::default(),
        &caller(),
    )
    .unwrap()
    .0
}

/// The share of the Samba capture: `hello.txt` (12 bytes, 0640, the capture's times) and
/// `sub` (0755).
fn samba_share() -> MemoryFs {
    let fs = memfs();
    let root = fs.root();
    let (h, _) = fs
        .create(
            &root,
            b"hello.txt",
            CreateHow::Guarded,
            &SetAttrs {
                mode: Some(0o640),
                ..Default::default()
            },
            &caller(),
        )
        .unwrap();
    fs.write(&h, 0, b"hello world\n", Stability::FileSync)
        .unwrap();
    fs.setattr(
        &h,
        &SetAttrs {
            atime: SetTime::Client(HELLO),
            mtime: SetTime::Client(HELLO),
            ..Default::default()
        },
    )
    .unwrap();
    fs.mkdir(
        &root,
        b"sub",
        &SetAttrs {
            mode: Some(0o755),
            ..Default::default()
        },
        &caller(),
    )
    .unwrap();
    fs
}

fn req(class: DirClass, flags: u8, len: u32, pattern: &str) -> QueryDirectoryRequest {
    QueryDirectoryRequest {
        file_information_class: class.class(),
        flags,
        file_index: 0,
        file_id: FileId::default(),
        output_buffer_length: len,
        pattern: pattern.encode_utf16().collect(),
    }
}

fn parts(r: &Reply) -> (NtStatus, Vec<u8>) {
    match r {
        Reply::Body { status, body } => {
            let mut msg = vec![0u8; 64];
            msg.extend_from_slice(body);
            (*status, OutputBufferResponse::decode(&msg).unwrap().data)
        }
        Reply::Error { status, .. } => (*status, vec![]),
        Reply::Framed { .. } => panic!("queries answer with Reply::Body: {r:?}"),
    }
}

fn names(class: DirClass, data: &[u8]) -> Vec<String> {
    class
        .decode_entries(data)
        .unwrap()
        .iter()
        .map(|e| String::from_utf16(&e.file_name).unwrap())
        .collect()
}

fn samba_entries(class: DirClass, frame: &[u8]) -> Vec<DirEntry> {
    class
        .decode_entries(&OutputBufferResponse::decode(frame).unwrap().data)
        .unwrap()
}

fn samba_status(msg: &[u8]) -> NtStatus {
    NtStatus(u32::from_le_bytes([msg[8], msg[9], msg[10], msg[11]]))
}

#[test]
fn six_classes_against_samba() {
    let fs = samba_share();
    let root = fs.root();
    let hello = fs.lookup(&root, b"hello.txt").unwrap().1;
    for (class, frame) in [
        (DirClass::Directory, samba!("fscc-83-dir-directory-resp")),
        (
            DirClass::FullDirectory,
            samba!("fscc-85-dir-full-directory-resp"),
        ),
        (
            DirClass::BothDirectory,
            samba!("fscc-87-dir-both-directory-resp"),
        ),
        (DirClass::Names, samba!("fscc-89-dir-names-resp")),
        (
            DirClass::IdBothDirectory,
            samba!("fscc-91-dir-id-both-directory-resp"),
        ),
        (
            DirClass::IdFullDirectory,
            samba!("fscc-93-dir-id-full-directory-resp"),
        ),
    ] {
        let mut s = DirSearch::new(FILE_ALL_ACCESS);
        let r = query_directory(&fs, &root, &mut s, &req(class, 0, 65536, "*"), false);
        let (st, data) = parts(&r);
        assert_eq!(st, NtStatus::SUCCESS);
        let ours = class.decode_entries(&data).unwrap();
        let theirs = samba_entries(class, frame);
        assert_eq!(ours.len(), theirs.len(), "{class:?}");
        // The same layout: encode Samba's entries again and compare lengths; the same
        // names in the same order; the same fields except the disk's times and inodes
        // for `.`, `..` and `sub`.
        assert_eq!(
            data.len(),
            OutputBufferResponse::decode(frame).unwrap().data.len()
        );
        for (o, t) in ours.iter().zip(&theirs) {
            assert_eq!(o.file_name, t.file_name, "{class:?}");
            assert_eq!(
                (
                    o.file_index,
                    o.end_of_file,
                    o.allocation_size,
                    o.file_attributes,
                    o.ea_size,
                    &o.short_name
                ),
                (
                    t.file_index,
                    t.end_of_file,
                    t.allocation_size,
                    t.file_attributes,
                    t.ea_size,
                    &t.short_name
                ),
                "{class:?} {:?}",
                String::from_utf16_lossy(&o.file_name)
            );
        }
        // hello.txt: every field Samba has, but the inode.
        if class != DirClass::Names {
            let mut t = theirs[2].clone();
            if t.file_id != 0 {
                t.file_id = hello.fileid;
            }
            assert_eq!(ours[2], t, "{class:?}");
        }
        let n: Vec<_> = names(class, &data);
        assert_eq!(n, [".", "..", "hello.txt", "sub"]);
        // The next query: nothing more.
        let r = query_directory(&fs, &root, &mut s, &req(class, 0, 65536, "*"), false);
        assert_eq!(r.status(), NtStatus::NO_MORE_FILES);
    }
}

#[test]
fn patterns_and_small_buffers_against_samba() {
    let fs = samba_share();
    let root = fs.root();
    for (rq, rs) in [
        (
            samba!("fscc-94-dir-pattern-upper-req"),
            samba!("fscc-95-dir-id-both-pattern-upper-resp"),
        ),
        (
            samba!("fscc-96-dir-pattern-dos-req"),
            samba!("fscc-97-dir-id-both-pattern-dos-resp"),
        ),
    ] {
        let q = QueryDirectoryRequest::decode(rq).unwrap();
        let mut s = DirSearch::new(FILE_ALL_ACCESS);
        let (st, data) = parts(&query_directory(&fs, &root, &mut s, &q, true));
        assert_eq!(st, samba_status(rs), "{}", q.pattern_string());
        let class = DirClass::from_class(q.file_information_class).unwrap();
        let ours = class.decode_entries(&data).unwrap();
        let mut theirs = samba_entries(class, rs);
        for t in &mut theirs {
            t.file_id = fs.lookup(&root, b"hello.txt").unwrap().1.fileid;
        }
        assert_eq!(ours, theirs, "{}", q.pattern_string());
    }
    // A 120-byte buffer holds one Id-both entry (`.`), as in Samba's answer.
    let theirs = samba_entries(DirClass::IdBothDirectory, samba!("fscc-101-dir-120-resp"));
    let mut s = DirSearch::new(FILE_ALL_ACCESS);
    let (st, data) = parts(&query_directory(
        &fs,
        &root,
        &mut s,
        &req(DirClass::IdBothDirectory, 0, 120, "*"),
        false,
    ));
    assert_eq!(st, NtStatus::SUCCESS);
    assert_eq!(
        names(DirClass::IdBothDirectory, &data),
        [String::from_utf16(&theirs[0].file_name).unwrap()]
    );
    // The rest follow, one per call in 128 bytes (`hello.txt` needs 122), then NO_MORE_FILES.
    let mut rest = vec![];
    loop {
        let r = query_directory(
            &fs,
            &root,
            &mut s,
            &req(DirClass::IdBothDirectory, 0, 128, "*"),
            false,
        );
        if r.status() == NtStatus::NO_MORE_FILES {
            break;
        }
        let (st, data) = parts(&r);
        assert_eq!(st, NtStatus::SUCCESS);
        rest.extend(names(DirClass::IdBothDirectory, &data));
    }
    assert_eq!(rest, ["..", "hello.txt", "sub"]);
    // An 8-byte buffer: MS-FSA's INFO_LENGTH_MISMATCH (Samba: INVALID_PARAMETER, named).
    assert_eq!(
        samba_status(samba!("fscc-99-dir-8-resp")),
        NtStatus::INVALID_PARAMETER
    );
    let mut s = DirSearch::new(FILE_ALL_ACCESS);
    for class in DirClass::ALL {
        let r = query_directory(
            &fs,
            &root,
            &mut s,
            &req(class, 0, class.fixed_len() as u32 - 1, "*"),
            false,
        );
        assert_eq!(r.status(), NtStatus::INFO_LENGTH_MISMATCH, "{class:?}");
    }
}

#[test]
fn wildcards_exact_names_and_first_query_status() {
    let fs = memfs();
    let root = fs.root();
    for n in ["a.txt", "B.TXT", "abc", "x.tar.gz", ".hidden", "readme"] {
        file(&fs, &root, n.as_bytes());
    }
    let list = |pattern: &str, ci: bool| -> (NtStatus, Vec<String>) {
        let mut s = DirSearch::new(FILE_LIST_DIRECTORY);
        let r = query_directory(
            &fs,
            &root,
            &mut s,
            &req(DirClass::Names, 0, 65536, pattern),
            ci,
        );
        let (st, d) = parts(&r);
        (
            st,
            if d.is_empty() {
                vec![]
            } else {
                names(DirClass::Names, &d)
            },
        )
    };
    let ok = |v: &[&str]| {
        (
            NtStatus::SUCCESS,
            v.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
    };
    assert_eq!(list("*.txt", true), ok(&["a.txt", "B.TXT"]));
    assert_eq!(list("*.txt", false), ok(&["a.txt"]));
    assert_eq!(list("?.txt", true), ok(&["a.txt", "B.TXT"]));
    assert_eq!(list("<.gz", false), ok(&["x.tar.gz"]));
    assert_eq!(list("a*", false), ok(&["a.txt", "abc"]));
    assert_eq!(list("", false).1.len(), 8);
    assert_eq!(list(".*", false), ok(&[".", "..", ".hidden"]));
    // Exact names: a lookup; case-insensitively by scanning when the case differs.
    assert_eq!(list("readme", false), ok(&["readme"]));
    assert_eq!(list("README", true), ok(&["readme"]));
    assert_eq!(list("README", false).0, NtStatus::NO_SUCH_FILE);
    assert_eq!(list(".", false), ok(&["."]));
    assert_eq!(list("..", false), ok(&[".."]));
    // Nothing matches: NO_SUCH_FILE first, NO_MORE_FILES after; a restart is a first query.
    let mut s = DirSearch::new(FILE_LIST_DIRECTORY);
    let q = req(DirClass::Names, 0, 65536, "*.doc");
    assert_eq!(
        query_directory(&fs, &root, &mut s, &q, false).status(),
        NtStatus::NO_SUCH_FILE
    );
    assert_eq!(
        query_directory(&fs, &root, &mut s, &q, false).status(),
        NtStatus::NO_MORE_FILES
    );
    let q = req(DirClass::Names, flags::RESTART_SCANS, 65536, "*.doc");
    assert_eq!(
        query_directory(&fs, &root, &mut s, &q, false).status(),
        NtStatus::NO_SUCH_FILE
    );
    // A bad pattern.
    assert_eq!(list("a\\b", false).0, NtStatus::OBJECT_NAME_INVALID);
    // Hidden attribute of a dot name, directory attribute of `.`.
    let mut s = DirSearch::new(FILE_LIST_DIRECTORY);
    let (_, d) = parts(&query_directory(
        &fs,
        &root,
        &mut s,
        &req(DirClass::Directory, 0, 65536, ".*"),
        false,
    ));
    let e = DirClass::Directory.decode_entries(&d).unwrap();
    assert_eq!(e[0].file_attributes, attributes::DIRECTORY);
    assert_eq!(e[2].file_attributes, attributes::HIDDEN);
}

#[test]
fn flags_restart_reopen_single_and_index() {
    let fs = memfs();
    let root = fs.root();
    for i in 0..10 {
        file(&fs, &root, format!("f{i}").as_bytes());
    }
    let mut s = DirSearch::new(FILE_LIST_DIRECTORY);
    let one = |s: &mut DirSearch, flags: u8, pattern: &str| {
        let (st, d) = parts(&query_directory(
            &fs,
            &root,
            s,
            &req(DirClass::Names, flags, 65536, pattern),
            false,
        ));
        (
            st,
            if d.is_empty() {
                vec![]
            } else {
                names(DirClass::Names, &d)
            },
        )
    };
    let single = flags::RETURN_SINGLE_ENTRY;
    assert_eq!(one(&mut s, single, "f*").1, ["f0"]);
    // A later query ignores its pattern and continues.
    assert_eq!(one(&mut s, single, "zzz").1, ["f1"]);
    // INDEX_SPECIFIED is ignored: the search goes on.
    assert_eq!(one(&mut s, single | flags::INDEX_SPECIFIED, "").1, ["f2"]);
    // RESTART_SCANS starts over, with the new pattern (MS-FSA).
    assert_eq!(one(&mut s, single | flags::RESTART_SCANS, "f*").1, ["f0"]);
    let (st, rest) = one(&mut s, 0, "");
    assert_eq!(st, NtStatus::SUCCESS);
    assert_eq!(rest.len(), 9);
    assert_eq!(one(&mut s, 0, "").0, NtStatus::NO_MORE_FILES);
    // REOPEN: a new search with a new pattern.
    assert_eq!(one(&mut s, flags::REOPEN, "f[").0, NtStatus::NO_SUCH_FILE);
    assert_eq!(one(&mut s, flags::REOPEN, "f5").1, ["f5"]);
    assert_eq!(one(&mut s, flags::REOPEN | single, "*").1, ["."]);
    assert_eq!(s.pattern(), Some(&[u16::from(b'*')][..]));
}

#[test]
fn buffer_overflow_on_a_first_entry_too_long() {
    let fs = memfs();
    let root = fs.root();
    let long = "n".repeat(200);
    file(&fs, &root, long.as_bytes());
    let mut s = DirSearch::new(FILE_LIST_DIRECTORY);
    // `.` and `..` first.
    let q = req(DirClass::Directory, 0, 100, "n*");
    let (st, d) = parts(&query_directory(&fs, &root, &mut s, &q, false));
    assert_eq!((st, d.len()), (NtStatus::BUFFER_OVERFLOW, 100));
    // The name length says the whole name.
    assert_eq!(&d[60..64], &400u32.to_le_bytes());
    // The entry was not consumed: the same again, then whole in a larger buffer (as the
    // lab's Samba keeps it for the retry), then the end.
    let (st, d2) = parts(&query_directory(&fs, &root, &mut s, &q, false));
    assert_eq!((st, &d2), (NtStatus::BUFFER_OVERFLOW, &d));
    let big = req(DirClass::Directory, 0, 1000, "n*");
    let (st, d) = parts(&query_directory(&fs, &root, &mut s, &big, false));
    assert_eq!(st, NtStatus::SUCCESS);
    assert_eq!(names(DirClass::Directory, &d), [long]);
    assert_eq!(
        query_directory(&fs, &root, &mut s, &big, false).status(),
        NtStatus::NO_MORE_FILES
    );
}

#[test]
fn access_and_handle_checks() {
    let fs = samba_share();
    let root = fs.root();
    let mut s = DirSearch::new(FILE_READ_ATTRIBUTES);
    assert_eq!(
        query_directory(
            &fs,
            &root,
            &mut s,
            &req(DirClass::Names, 0, 1000, "*"),
            false
        )
        .status(),
        NtStatus::ACCESS_DENIED
    );
    let mut s = DirSearch::new(FILE_ALL_ACCESS);
    let hello = fs.lookup(&root, b"hello.txt").unwrap().0;
    assert_eq!(
        query_directory(
            &fs,
            &hello,
            &mut s,
            &req(DirClass::Names, 0, 1000, "*"),
            false
        )
        .status(),
        NtStatus::INVALID_PARAMETER
    );
    let mut q = req(DirClass::Names, 0, 1000, "*");
    q.file_information_class = 4;
    assert_eq!(
        query_directory(&fs, &root, &mut s, &q, false).status(),
        NtStatus::INVALID_INFO_CLASS
    );
    // A directory removed behind the open.
    let sub = fs.lookup(&root, b"sub").unwrap().0;
    fs.rmdir(&root, b"sub").unwrap();
    assert_eq!(
        query_directory(
            &fs,
            &sub,
            &mut s,
            &req(DirClass::Names, 0, 1000, "*"),
            false
        )
        .status(),
        server::smb_info::STATUS_FILE_DELETED
    );
}

#[test]
fn unlistable_names_are_skipped() {
    let fs = memfs();
    let root = fs.root();
    for n in [
        &b"ok"[..],
        b"bad\xff",
        b"a:b",
        b"q?",
        b"back\\slash",
        b"tab\there",
        b"fine.txt",
    ] {
        file(&fs, &root, n);
    }
    let mut s = DirSearch::new(FILE_LIST_DIRECTORY);
    let (_, d) = parts(&query_directory(
        &fs,
        &root,
        &mut s,
        &req(DirClass::Names, 0, 65536, "*"),
        false,
    ));
    assert_eq!(names(DirClass::Names, &d), [".", "..", "ok", "fine.txt"]);
}

/// Lists everything with `len`-byte buffers, changing the directory between calls with
/// `between(call_number)`; returns the names in order.
fn list_all(
    fs: &Layered<Counting>,
    dir: &Handle,
    class: DirClass,
    len: u32,
    mut between: impl FnMut(usize),
) -> Vec<String> {
    let mut s = DirSearch::new(FILE_LIST_DIRECTORY);
    let mut out = vec![];
    for call in 0.. {
        let r = query_directory(fs, dir, &mut s, &req(class, 0, len, "*"), false);
        if r.status() == NtStatus::NO_MORE_FILES {
            break;
        }
        let (st, d) = parts(&r);
        assert_eq!(st, NtStatus::SUCCESS);
        assert!(d.len() <= len as usize);
        assert!(s.cached() <= PAGE);
        out.extend(names(class, &d));
        between(call);
    }
    out
}

#[test]
fn resume_while_entries_come_and_go() {
    let fs = Counting::new(memfs());
    let root = fs.root();
    for i in 0..1000 {
        file(&fs, &root, format!("e{i:04}").as_bytes());
    }
    let mut removed = BTreeSet::new();
    let mut added = BTreeSet::new();
    let listed = list_all(&fs, &root, DirClass::IdBothDirectory, 4096, |call| {
        // During the first 20 calls: remove an entry from far ahead and one already
        // listed, add a new one.
        if call >= 20 {
            return;
        }
        for gone in [format!("e{:04}", 999 - call), format!("e{:04}", call)] {
            fs.remove(&root, gone.as_bytes()).unwrap();
            removed.insert(gone);
        }
        let n = format!("new{call}");
        file(&fs, &root, n.as_bytes());
        added.insert(n);
    });
    // The 20 removed from far ahead were never reached.
    for call in 0..20 {
        assert!(!listed.contains(&format!("e{:04}", 999 - call)));
        assert!(listed.contains(&format!("e{call:04}")));
    }
    let set: BTreeSet<_> = listed.iter().cloned().collect();
    assert_eq!(set.len(), listed.len(), "an entry listed twice");
    // Everything present throughout is listed, once.
    for i in 0..1000 {
        let n = format!("e{i:04}");
        if !removed.contains(&n) {
            assert!(set.contains(&n), "{n} missing");
        }
    }
    assert!(!removed.is_empty());
    // MemoryFs places new names after the position, and a drained cache is refilled
    // from the backend: every name added during the listing is listed too.
    for n in &added {
        assert!(set.contains(n), "{n} missing");
    }
}

#[test]
fn hundred_thousand_entries_linear_and_complete() {
    let fs = Counting::new(memfs());
    let root = fs.root();
    let (dir, _) = fs
        .mkdir(&root, b"big", &SetAttrs::default(), &caller())
        .unwrap();
    const N: usize = 100_000;
    for i in 0..N {
        file(&fs, &dir, format!("file-{i:06}.dat").as_bytes());
    }
    fs.take();
    // 64 KiB buffers, Id-both (what Windows and smbclient ask for).
    let mut calls = 0usize;
    let mut max_lookups = 0usize;
    let mut s = DirSearch::new(FILE_LIST_DIRECTORY);
    let mut seen = BTreeSet::new();
    let mut total = 0usize;
    loop {
        let r = query_directory(
            &fs,
            &dir,
            &mut s,
            &req(DirClass::IdBothDirectory, 0, 65536, "*"),
            false,
        );
        let (l, _) = fs.take();
        max_lookups = max_lookups.max(l);
        if r.status() == NtStatus::NO_MORE_FILES {
            break;
        }
        calls += 1;
        let (_, d) = parts(&r);
        for n in names(DirClass::IdBothDirectory, &d) {
            total += 1;
            assert!(seen.insert(n.clone()), "{n} twice");
        }
    }
    assert_eq!(total, N + 2);
    assert_eq!(seen.len(), N + 2);
    // One lookup per entry returned (plus the one that did not fit): bounded by the buffer.
    let per_call = 65536 / DirClass::IdBothDirectory.fixed_len() + 2;
    assert!(max_lookups <= per_call, "{max_lookups} lookups in one call");
    assert!(calls >= N * 130 / 65536, "{calls} calls");
    // Whole listing with a pattern matching one name in a hundred, Names class: each
    // backend entry read once (N / PAGE readdir pages, not N^2 / PAGE).
    let mut s = DirSearch::new(FILE_LIST_DIRECTORY);
    let mut found = 0;
    let mut calls = 0;
    loop {
        calls += 1;
        let r = query_directory(
            &fs,
            &dir,
            &mut s,
            &req(DirClass::Names, 0, 1024, "file-*00.dat"),
            false,
        );
        if r.status() != NtStatus::SUCCESS {
            assert_eq!(r.status(), NtStatus::NO_MORE_FILES);
            break;
        }
        found += names(DirClass::Names, &parts(&r).1).len();
    }
    assert_eq!(found, N / 100);
    let (lookups, readdirs) = fs.take();
    // One lookup per match, plus the match that did not fit looked up again by the next
    // call, plus `..`.
    assert!(
        lookups <= N / 100 + calls + 1,
        "{lookups} lookups in {calls} calls"
    );
    assert!(readdirs <= N / PAGE + 3, "{readdirs} readdir calls");
}

#[test]
fn times_of_entries_are_the_files() {
    let fs = samba_share();
    let root = fs.root();
    let mut s = DirSearch::new(FILE_LIST_DIRECTORY);
    let (_, d) = parts(&query_directory(
        &fs,
        &root,
        &mut s,
        &req(DirClass::FullDirectory, 0, 65536, "hello.txt"),
        false,
    ));
    let e = DirClass::FullDirectory.decode_entries(&d).unwrap();
    assert_eq!(e.len(), 1);
    let t = FileTime::from_unix(HELLO.secs, HELLO.nsecs);
    assert_eq!(
        (
            e[0].last_write_time,
            e[0].last_access_time,
            e[0].creation_time
        ),
        (t, t, t)
    );
    assert_eq!(e[0].end_of_file, 12);
}

mod arbitrary_requests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

        /// Any sequence of QUERY_DIRECTORY requests is answered without a panic, within
        /// OutputBufferLength, with entries that decode, and no name twice between two
        /// restarts.
        #[test]
        fn query_directory_sequences(
            steps in proptest::collection::vec(
                (
                    prop_oneof![0u8..40, Just(37u8), Just(12u8)],
                    any::<u8>(),
                    prop_oneof![0u32..300, 300u32..5000],
                    prop_oneof![Just("*".to_string()), Just(String::new()), "[a-z.*?<>\"]{0,6}"],
                ),
                1..12,
            ),
            ci in any::<bool>(),
        ) {
            let fs = samba_share();
            let root = fs.root();
            for i in 0..40 {
                file(&fs, &root, format!("f{i}.txt").as_bytes());
            }
            let mut s = DirSearch::new(FILE_LIST_DIRECTORY);
            let mut seen = BTreeSet::new();
            for (class, flags, len, pattern) in steps {
                let q = QueryDirectoryRequest {
                    file_information_class: class,
                    flags,
                    file_index: 0,
                    file_id: FileId::default(),
                    output_buffer_length: len,
                    pattern: pattern.encode_utf16().collect(),
                };
                if flags & (flags::RESTART_SCANS | flags::REOPEN) != 0 {
                    seen.clear();
                }
                let r = query_directory(&fs, &root, &mut s, &q, ci);
                prop_assert!(s.cached() <= PAGE);
                if let Reply::Body { .. } = r {
                    let (st, d) = parts(&r);
                    prop_assert!(d.len() <= len as usize);
                    if st == NtStatus::SUCCESS {
                        let c = DirClass::from_class(class).unwrap();
                        for n in names(c, &d) {
                            prop_assert!(seen.insert(n.clone()), "{} twice", n);
                        }
                    }
                }
            }
        }
    }
}

/// What SET_INFO stored (DOS attributes, creation time) is what a listing shows.
#[test]
fn listing_shows_stored_attributes() {
    let fs = samba_share();
    let root = fs.root();
    let (h, _) = fs.lookup(&root, b"hello.txt").unwrap();
    let born = Timestamp {
        secs: 1_500_000_000,
        nsecs: 0,
    };
    fs.set_dos_attrs(
        &h,
        &SetDosAttrs {
            attributes: Some(attributes::HIDDEN | attributes::ARCHIVE),
            creation_time: Some(born),
        },
    )
    .unwrap();
    let mut s = DirSearch::new(FILE_LIST_DIRECTORY);
    let (_, d) = parts(&query_directory(
        &fs,
        &root,
        &mut s,
        &req(DirClass::IdBothDirectory, 0, 65536, "hello.txt"),
        false,
    ));
    let e = DirClass::IdBothDirectory.decode_entries(&d).unwrap();
    assert_eq!(
        e[0].file_attributes,
        attributes::HIDDEN | attributes::ARCHIVE
    );
    assert_eq!(
        e[0].creation_time,
        FileTime::from_unix(born.secs, born.nsecs)
    );
}
