//! Write ordering on the core (`server::write_behind`): barriers of calls keyed by the shared
//! file id, jobs held until the deferred writes they must see end, no starvation by later
//! writes, bounded bytes, and the verifier.

mod support;

use lockstate::FileId;
use proto_nfs::nfs3::{FileHandle, Nfs3Call};
use server::file_id;
use server::write_behind::{barrier, Barrier, WriteOrder, WriteVerifier, DEGRADED_FOR};
#[test]
fn verifier_changes_and_never_repeats_soon() {
    let v = WriteVerifier::new(*b"verifier");
    assert_eq!(v.get(), *b"verifier");
    let mut seen = std::collections::BTreeSet::new();
    seen.insert(v.get());
    for _ in 0..1000 {
        let n = v.change();
        assert_eq!(n, v.get());
        assert!(seen.insert(n));
    }
}

#[test]
fn barriers_of_calls() {
    use bytes::Bytes;
    use proto_nfs::nfs3::{
        CommitArgs, DirOpArgs3, Filename3, FsrootArgs, GetattrArgs, LookupArgs, ReadArgs,
    };
    let fh = || FileHandle::new(7, b"abc").unwrap();
    let id = file_id(7, b"abc");
    assert_eq!(barrier(&Nfs3Call::Null), Barrier::None);
    assert_eq!(
        barrier(&Nfs3Call::Fsinfo(FsrootArgs { fsroot: fh() })),
        Barrier::None
    );
    // Calls on a file handle wait for that file's deferred writes, keyed by the file
    // id every protocol shares...
    let file = Barrier::File(id);
    assert_eq!(
        barrier(&Nfs3Call::Getattr(GetattrArgs { object: fh() })),
        file
    );
    let read = ReadArgs {
        file: fh(),
        offset: 0,
        count: 1,
    };
    assert_eq!(barrier(&Nfs3Call::Read(read)), file);
    let commit = CommitArgs {
        file: fh(),
        offset: 0,
        count: 0,
    };
    assert_eq!(barrier(&Nfs3Call::Commit(commit)), file);
    // ...a malformed handle waits for nothing...
    let bad = GetattrArgs {
        object: FileHandle(Bytes::from_static(b"\x09")),
    };
    assert_eq!(barrier(&Nfs3Call::Getattr(bad)), Barrier::None);
    // ...and a LOOKUP, which returns a file's attributes by name, waits for all of them.
    let what = DirOpArgs3 {
        dir: fh(),
        name: Filename3(Bytes::from_static(b"f")),
    };
    assert_eq!(
        barrier(&Nfs3Call::Lookup(LookupArgs { what })),
        Barrier::All
    );
}

#[test]
fn a_job_is_held_until_earlier_writes_to_its_file_end() {
    let now = support::start_of_time();
    let mut o = WriteOrder::new(1 << 20);
    let (f1, f2) = (FileId(1), FileId(2));
    let w = o.begin(f1, 10, now).unwrap();
    o.admit(Barrier::File(f2), "other file");
    o.admit(Barrier::None, "no barrier");
    o.admit(Barrier::File(f1), "same file");
    o.admit(Barrier::All, "directory op");
    assert_eq!(o.poll_ready(), Some("other file"));
    assert_eq!(o.poll_ready(), Some("no barrier"));
    assert_eq!(o.poll_ready(), None);
    assert_eq!(o.stats().held, 2);
    o.end(w, false, now);
    assert_eq!(o.poll_ready(), Some("same file"));
    assert_eq!(o.poll_ready(), Some("directory op"));
    assert_eq!(o.stats().pending, 0);
}

#[test]
fn later_writes_do_not_starve_an_earlier_waiter() {
    let now = support::start_of_time();
    let mut o = WriteOrder::new(1 << 20);
    let f = FileId(1);
    let first = o.begin(f, 1, now).unwrap();
    o.admit(Barrier::File(f), "reader");
    // A write that begins after the reader arrived does not hold it.
    let _later = o.begin(f, 1, now).unwrap();
    o.end(first, false, now);
    assert_eq!(o.poll_ready(), Some("reader"));
    assert_eq!(o.stats().pending, 1);
}

#[test]
fn bytes_are_bounded_and_a_failure_degrades() {
    let now = support::start_of_time();
    let mut o: WriteOrder<()> = WriteOrder::new(100);
    let a = o.begin(FileId(1), 60, now).unwrap();
    assert!(o.begin(FileId(2), 60, now).is_none(), "over the bound");
    o.deferred();
    o.end(a, true, now);
    assert!(o.begin(FileId(1), 1, now).is_none(), "degraded");
    assert!(o.begin(FileId(1), 1, now + DEGRADED_FOR).is_some());
    let s = o.stats();
    assert_eq!((s.deferred, s.failures), (1, 1));
}
