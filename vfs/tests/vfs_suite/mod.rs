//! The shared conformance suite: the same checks run against every [`Vfs`] backend, so the
//! NFSv3 executor sees one behaviour whichever backend a share uses (RFC 1813 §3.3 semantics
//! as a Linux server on ext4 produces them).

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::collections::HashSet;
use vfs::{
    file_attributes as fa, Caller, CreateHow, CreationSource, FileKind, Handle, RenameMode,
    SetAttrs, SetDosAttrs, SetTime, Stability, Timestamp, Vfs, VfsError,
};

/// A unique empty directory under the system temp dir, removed on drop.
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    /// Creates `$TMPDIR/janus-<tag>-<pid>-<n>`.
    pub fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "janus-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&p).expect("create temp dir");
        Self(p)
    }
}

impl TempDir {
    /// The directory.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An ordinary caller.
pub fn caller() -> Caller {
    Caller {
        uid: 1000,
        gid: 1000,
        gids: vec![],
    }
}

fn mode(m: u32) -> SetAttrs {
    SetAttrs {
        mode: Some(m),
        ..SetAttrs::default()
    }
}

fn create(fs: &dyn Vfs, dir: &Handle, name: &[u8]) -> Handle {
    fs.create(dir, name, CreateHow::Guarded, &mode(0o644), &caller())
        .unwrap_or_else(|e| panic!("create {:?}: {e}", String::from_utf8_lossy(name)))
        .0
}

fn names(fs: &dyn Vfs, dir: &Handle) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cookie = 0;
    loop {
        let page = fs.readdir(dir, cookie, 100).expect("readdir");
        for e in &page.entries {
            assert_ne!(e.cookie, 0, "cookie 0 is never issued");
            out.push(e.name.clone());
        }
        if page.eof {
            break;
        }
        cookie = page
            .entries
            .last()
            .expect("non-eof page has entries")
            .cookie;
    }
    out.sort();
    out
}

/// Runs every check on `fs`, whose root must be empty.
pub fn run_all(fs: &dyn Vfs) {
    let root = fs.root();
    let work = |name: &[u8]| {
        fs.mkdir(&root, name, &mode(0o755), &caller())
            .expect("mkdir work dir")
            .0
    };
    create_lookup_read_write(fs, &work(b"crw"));
    names_are_validated(fs, &work(b"names"));
    rename_semantics(fs, &work(b"rename"));
    links(fs, &work(b"links"));
    symlinks_and_specials(fs, &work(b"sym"));
    remove_and_rmdir(fs, &work(b"rm"));
    exclusive_create(fs, &work(b"excl"));
    setattr_truncate_extend_times(fs, &work(b"setattr"));
    stale_and_bad_handles(fs, &work(b"stale"));
    dot_and_dotdot(fs, &root, &work(b"dots"));
    readdir_pages_5000(fs, &work(b"big"));
    rename_without_replace(fs, &work(b"norepl"));
    dos_attributes_and_creation_time(fs, &work(b"dos"));
    allocation_size(fs, &work(b"alloc"));
    held_files_survive_removal(fs, &work(b"held"));
    let st = fs.fsstat(&root).expect("fsstat");
    assert!(st.total_bytes >= st.free_bytes && st.free_bytes >= st.avail_bytes.min(st.free_bytes));
    assert!(st.total_files > 0);
}

fn create_lookup_read_write(fs: &dyn Vfs, dir: &Handle) {
    let (h, a) = fs
        .create(dir, b"file", CreateHow::Guarded, &mode(0o640), &caller())
        .expect("create");
    assert_eq!(a.kind, FileKind::Regular);
    assert_eq!(a.mode, 0o640);
    assert_eq!(a.size, 0);
    assert_eq!(a.nlink, 1);
    let (h2, a2) = fs.lookup(dir, b"file").expect("lookup");
    assert_eq!(h2, h);
    assert_eq!(a2.fileid, a.fileid);
    assert_eq!(fs.lookup(dir, b"nope").unwrap_err(), VfsError::NotFound);
    // GUARDED on an existing name.
    assert_eq!(
        fs.create(dir, b"file", CreateHow::Guarded, &mode(0o644), &caller())
            .unwrap_err(),
        VfsError::Exists
    );

    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let (st, a) = fs.write(&h, 0, &data, Stability::Unstable).expect("write");
    assert!(st >= Stability::Unstable);
    assert_eq!(a.size, data.len() as u64);
    let (st, _) = fs
        .write(&h, 100, b"HELLO", Stability::FileSync)
        .expect("write");
    assert_eq!(st, Stability::FileSync);
    let (st, _) = fs
        .write(&h, 200, b"world", Stability::DataSync)
        .expect("write");
    assert!(st >= Stability::DataSync);
    fs.commit(&h).expect("commit");
    let (r, eof) = fs.read(&h, 98, 9).expect("read");
    assert_eq!(
        r,
        [data[98], data[99], b'H', b'E', b'L', b'L', b'O', data[105], data[106]]
    );
    assert!(!eof);
    let (r, eof) = fs.read(&h, 299_990, 100).expect("read tail");
    assert_eq!(r, &data[299_990..]);
    assert!(eof);
    let (r, eof) = fs.read(&h, 1 << 40, 100).expect("read past end");
    assert!(r.is_empty() && eof);
    // read_into appends after what the buffer holds (a server's room for its headers),
    // at most `count` bytes, even into a buffer with more capacity than that.
    let mut buf = Vec::with_capacity(1 << 20);
    buf.extend_from_slice(b"room");
    let (n, eof) = fs.read_into(&h, 98, 9, &mut buf).expect("read_into");
    assert_eq!((n, eof), (9, false));
    assert_eq!(buf[..4], *b"room");
    assert_eq!(
        buf[4..],
        [data[98], data[99], b'H', b'E', b'L', b'L', b'O', data[105], data[106]]
    );
    let (n, eof) = fs
        .read_into(&h, 299_990, 100, &mut buf)
        .expect("read_into tail");
    assert_eq!((n, eof), (10, true));
    assert_eq!(buf[13..], data[299_990..]);
    let (n, eof) = fs
        .read_into(&h, 1 << 40, 100, &mut buf)
        .expect("read_into past end");
    assert_eq!((n, eof), (0, true));
    assert_eq!(buf.len(), 23);
    let (r, eof) = fs.read(&h, u64::MAX - 10, 100).expect("read at u64::MAX");
    assert!(r.is_empty() && eof);
    assert_eq!(
        fs.write(&h, u64::MAX - 2, b"abcdef", Stability::Unstable)
            .unwrap_err(),
        VfsError::TooBig
    );
    assert_eq!(
        fs.write(&h, 1 << 63, b"a", Stability::Unstable)
            .unwrap_err(),
        VfsError::TooBig
    );
    // Sparse write past the end: the hole reads as zeroes.
    let (_, a) = fs
        .write(&h, 400_000, b"z", Stability::Unstable)
        .expect("sparse write");
    assert_eq!(a.size, 400_001);
    let (r, _) = fs.read(&h, 399_998, 3).expect("read hole");
    assert_eq!(r, b"\0\0z");
    // UNCHECKED on an existing file opens it and applies the size.
    let set = SetAttrs {
        size: Some(10),
        ..SetAttrs::default()
    };
    let (h3, a3) = fs
        .create(dir, b"file", CreateHow::Unchecked, &set, &caller())
        .expect("unchecked create");
    assert_eq!(h3, h);
    assert_eq!(a3.size, 10);
    // Reading or writing a directory.
    assert_eq!(fs.read(dir, 0, 10).unwrap_err(), VfsError::IsDir);
    assert_eq!(
        fs.write(dir, 0, b"x", Stability::Unstable).unwrap_err(),
        VfsError::IsDir
    );
    // Directory operations on a file.
    assert_eq!(fs.lookup(&h, b"x").unwrap_err(), VfsError::NotDir);
    assert_eq!(fs.readdir(&h, 0, 10).unwrap_err(), VfsError::NotDir);
    assert_eq!(
        fs.create(&h, b"x", CreateHow::Guarded, &mode(0o644), &caller())
            .unwrap_err(),
        VfsError::NotDir
    );
    let (_, d) = fs
        .mkdir(dir, b"sub", &mode(0o750), &caller())
        .expect("mkdir");
    assert_eq!((d.kind, d.mode), (FileKind::Directory, 0o750));
    assert_eq!(
        fs.mkdir(dir, b"sub", &mode(0o750), &caller()).unwrap_err(),
        VfsError::Exists
    );
    assert_eq!(fs.getattr(dir).expect("getattr dir").nlink, 3);
}

fn names_are_validated(fs: &dyn Vfs, dir: &Handle) {
    for bad in [&b""[..], b".", b"..", b"a/b", b"a\0b", b"/"] {
        assert_eq!(
            fs.create(dir, bad, CreateHow::Guarded, &mode(0o644), &caller())
                .unwrap_err(),
            VfsError::Invalid,
            "create {bad:?}"
        );
        assert_eq!(
            fs.mkdir(dir, bad, &mode(0o755), &caller()).unwrap_err(),
            VfsError::Invalid,
            "mkdir {bad:?}"
        );
    }
    for bad in [&b"a/b"[..], b"a\0b", b"../etc", b"/etc"] {
        assert_eq!(
            fs.lookup(dir, bad).unwrap_err(),
            VfsError::Invalid,
            "lookup {bad:?}"
        );
    }
    let long = vec![b'n'; 256];
    assert_eq!(
        fs.create(dir, &long, CreateHow::Guarded, &mode(0o644), &caller())
            .unwrap_err(),
        VfsError::NameTooLong
    );
    let ok = vec![b'n'; 255];
    create(fs, dir, &ok);
    // Non-UTF-8 names are fine.
    let h = create(fs, dir, b"\xff\xfe latin1 \xe9");
    assert_eq!(
        fs.lookup(dir, b"\xff\xfe latin1 \xe9").expect("lookup").0,
        h
    );
}

fn rename_semantics(fs: &dyn Vfs, dir: &Handle) {
    let c = caller();
    let f = create(fs, dir, b"f");
    fs.write(&f, 0, b"content", Stability::Unstable)
        .expect("write");
    let (d, _) = fs.mkdir(dir, b"d", &mode(0o755), &c).expect("mkdir");
    let (e, _) = fs.mkdir(dir, b"e", &mode(0o755), &c).expect("mkdir");
    let (inner, _) = fs.mkdir(&d, b"inner", &mode(0o755), &c).expect("mkdir");

    // Plain rename keeps the handle valid.
    fs.rename(dir, b"f", dir, b"g", RenameMode::Replace)
        .expect("rename");
    assert_eq!(fs.lookup(dir, b"f").unwrap_err(), VfsError::NotFound);
    assert_eq!(fs.lookup(dir, b"g").expect("lookup").0, f);
    assert_eq!(fs.read(&f, 0, 100).expect("read").0, b"content");
    // Across directories.
    fs.rename(dir, b"g", &e, b"g2", RenameMode::Replace)
        .expect("rename across");
    assert_eq!(fs.lookup(&e, b"g2").expect("lookup").0, f);
    fs.rename(&e, b"g2", dir, b"f", RenameMode::Replace)
        .expect("rename back");
    // Replacing a file: the old target's handle becomes stale.
    let victim = create(fs, dir, b"victim");
    fs.rename(dir, b"f", dir, b"victim", RenameMode::Replace)
        .expect("replace");
    assert_eq!(fs.lookup(dir, b"victim").expect("lookup").0, f);
    assert_eq!(fs.getattr(&victim).unwrap_err(), VfsError::Stale);
    // Missing source.
    assert_eq!(
        fs.rename(dir, b"missing", dir, b"x", RenameMode::Replace)
            .unwrap_err(),
        VfsError::NotFound
    );
    // Non-dir over dir, dir over non-dir.
    assert_eq!(
        fs.rename(dir, b"victim", dir, b"d", RenameMode::Replace)
            .unwrap_err(),
        VfsError::IsDir
    );
    assert_eq!(
        fs.rename(dir, b"d", dir, b"victim", RenameMode::Replace)
            .unwrap_err(),
        VfsError::NotDir
    );
    // Dir over a non-empty dir.
    assert_eq!(
        fs.rename(dir, b"e", dir, b"d", RenameMode::Replace)
            .unwrap_err(),
        VfsError::NotEmpty
    );
    // A dir into its own subtree.
    assert_eq!(
        fs.rename(dir, b"d", &inner, b"x", RenameMode::Replace)
            .unwrap_err(),
        VfsError::Invalid
    );
    assert_eq!(
        fs.rename(dir, b"d", &d, b"x", RenameMode::Replace)
            .unwrap_err(),
        VfsError::Invalid
    );
    // Dir over an empty dir: `inner` replaces `e`.
    fs.rename(&d, b"inner", dir, b"e", RenameMode::Replace)
        .expect("dir over empty dir");
    assert_eq!(fs.getattr(&e).unwrap_err(), VfsError::Stale);
    assert_eq!(fs.lookup(dir, b"e").expect("lookup").0, inner);
    assert_eq!(fs.lookup(&inner, b"..").expect("dotdot").0, *dir);
    assert_eq!(fs.getattr(&d).expect("getattr").nlink, 2);
    // Rename onto itself / onto another link of the same file: no-op.
    fs.rename(dir, b"victim", dir, b"victim", RenameMode::Replace)
        .expect("self rename");
    fs.link(&f, dir, b"alias").expect("link");
    fs.rename(dir, b"victim", dir, b"alias", RenameMode::Replace)
        .expect("rename onto hard link");
    assert_eq!(fs.lookup(dir, b"victim").expect("still there").0, f);
    assert_eq!(fs.getattr(&f).expect("getattr").nlink, 2);
    // Invalid names.
    assert_eq!(
        fs.rename(dir, b".", dir, b"x", RenameMode::Replace)
            .unwrap_err(),
        VfsError::Invalid
    );
    assert_eq!(
        fs.rename(dir, b"victim", dir, b"..", RenameMode::Replace)
            .unwrap_err(),
        VfsError::Invalid
    );
    assert_eq!(
        fs.rename(dir, b"victim", dir, b"a/b", RenameMode::Replace)
            .unwrap_err(),
        VfsError::Invalid
    );
}

fn links(fs: &dyn Vfs, dir: &Handle) {
    let c = caller();
    let f = create(fs, dir, b"orig");
    fs.write(&f, 0, b"shared", Stability::Unstable)
        .expect("write");
    let (sub, _) = fs.mkdir(dir, b"sub", &mode(0o755), &c).expect("mkdir");
    fs.link(&f, &sub, b"other").expect("link");
    let (h, a) = fs.lookup(&sub, b"other").expect("lookup link");
    assert_eq!(h, f);
    assert_eq!(a.nlink, 2);
    assert_eq!(fs.link(&f, dir, b"orig").unwrap_err(), VfsError::Exists);
    assert_eq!(fs.link(&sub, dir, b"dirlink").unwrap_err(), VfsError::Perm);
    fs.remove(dir, b"orig").expect("remove one link");
    assert_eq!(fs.getattr(&f).expect("still alive").nlink, 1);
    assert_eq!(fs.read(&f, 0, 100).expect("read").0, b"shared");
    fs.remove(&sub, b"other").expect("remove last link");
    assert_eq!(fs.getattr(&f).unwrap_err(), VfsError::Stale);
}

fn symlinks_and_specials(fs: &dyn Vfs, dir: &Handle) {
    let c = caller();
    let (l, a) = fs
        .symlink(dir, b"link", b"../some/where", &SetAttrs::default(), &c)
        .expect("symlink");
    assert_eq!(a.kind, FileKind::Symlink);
    assert_eq!(a.size, 13);
    assert_eq!(fs.readlink(&l).expect("readlink"), b"../some/where");
    let (l2, a2) = fs.lookup(dir, b"link").expect("lookup symlink");
    assert_eq!(l2, l);
    assert_eq!(a2.kind, FileKind::Symlink);
    assert_eq!(fs.lookup(&l, b"x").unwrap_err(), VfsError::NotDir);
    // Times of the link itself (lutimes).
    let t = Timestamp {
        secs: 1_111_111_111,
        nsecs: 0,
    };
    let a = fs
        .setattr(
            &l,
            &SetAttrs {
                mtime: SetTime::Client(t),
                ..SetAttrs::default()
            },
        )
        .expect("utimes on a symlink");
    assert_eq!((a.kind, a.mtime), (FileKind::Symlink, t));
    let f = create(fs, dir, b"plain");
    assert_eq!(fs.readlink(&f).unwrap_err(), VfsError::Invalid);
    assert_eq!(
        fs.symlink(dir, b"plain", b"x", &SetAttrs::default(), &c)
            .unwrap_err(),
        VfsError::Exists
    );
    // Exclusive/guarded create over a symlink name does not follow it.
    assert_eq!(
        fs.create(dir, b"link", CreateHow::Guarded, &mode(0o644), &c)
            .unwrap_err(),
        VfsError::Exists
    );
    let (p, a) = fs
        .mknod(dir, b"fifo", FileKind::Fifo, (0, 0), &mode(0o600), &c)
        .expect("mkfifo");
    assert_eq!((a.kind, a.mode), (FileKind::Fifo, 0o600));
    assert_eq!(fs.getattr(&p).expect("getattr fifo").kind, FileKind::Fifo);
    let (_, a) = fs
        .mknod(dir, b"sock", FileKind::Socket, (0, 0), &mode(0o600), &c)
        .expect("mknod socket");
    assert_eq!(a.kind, FileKind::Socket);
    assert_eq!(
        fs.mknod(dir, b"reg", FileKind::Regular, (0, 0), &mode(0o600), &c)
            .unwrap_err(),
        VfsError::Invalid
    );
    // chmod of a fifo through SETATTR.
    let a = fs.setattr(&p, &mode(0o640)).expect("chmod fifo");
    assert_eq!(a.mode, 0o640);
    fs.remove(dir, b"fifo").expect("remove fifo");
    fs.remove(dir, b"link").expect("remove symlink");
    assert_eq!(fs.getattr(&l).unwrap_err(), VfsError::Stale);
}

fn remove_and_rmdir(fs: &dyn Vfs, dir: &Handle) {
    let c = caller();
    let f = create(fs, dir, b"f");
    let (d, _) = fs.mkdir(dir, b"d", &mode(0o755), &c).expect("mkdir");
    create(fs, &d, b"child");
    assert_eq!(fs.remove(dir, b"d").unwrap_err(), VfsError::IsDir);
    assert_eq!(fs.rmdir(dir, b"f").unwrap_err(), VfsError::NotDir);
    assert_eq!(fs.rmdir(dir, b"d").unwrap_err(), VfsError::NotEmpty);
    assert_eq!(fs.remove(dir, b"missing").unwrap_err(), VfsError::NotFound);
    assert_eq!(fs.rmdir(dir, b"missing").unwrap_err(), VfsError::NotFound);
    assert_eq!(fs.rmdir(dir, b".").unwrap_err(), VfsError::Invalid);
    fs.remove(&d, b"child").expect("remove child");
    fs.rmdir(dir, b"d").expect("rmdir");
    fs.remove(dir, b"f").expect("remove");
    assert_eq!(fs.getattr(&f).unwrap_err(), VfsError::Stale);
    assert_eq!(fs.getattr(&d).unwrap_err(), VfsError::Stale);
    assert_eq!(fs.lookup(dir, b"f").unwrap_err(), VfsError::NotFound);
    assert_eq!(fs.getattr(dir).expect("getattr").nlink, 2);
    assert!(names(fs, dir).is_empty());
}

fn exclusive_create(fs: &dyn Vfs, dir: &Handle) {
    let c = caller();
    let v1 = *b"\x01\x23\x45\x67\x09\xab\xcd\xef";
    let v2 = *b"\x11\x22\x33\x44\x55\x66\x77\x08";
    let (h, a) = fs
        .create(
            dir,
            b"x",
            CreateHow::Exclusive(v1),
            &SetAttrs::default(),
            &c,
        )
        .expect("exclusive create");
    assert_eq!(a.kind, FileKind::Regular);
    // The retransmission returns the same file.
    let (h2, _) = fs
        .create(
            dir,
            b"x",
            CreateHow::Exclusive(v1),
            &SetAttrs::default(),
            &c,
        )
        .expect("retransmitted exclusive create");
    assert_eq!(h2, h);
    // A different verifier is a different create.
    assert_eq!(
        fs.create(
            dir,
            b"x",
            CreateHow::Exclusive(v2),
            &SetAttrs::default(),
            &c
        )
        .unwrap_err(),
        VfsError::Exists
    );
    // A file not made by an exclusive create never matches.
    create(fs, dir, b"plain");
    assert_eq!(
        fs.create(
            dir,
            b"plain",
            CreateHow::Exclusive(v1),
            &SetAttrs::default(),
            &c
        )
        .unwrap_err(),
        VfsError::Exists
    );
    // The client's SETATTR afterwards (RFC 1813 §3.3.8) works.
    let set = SetAttrs {
        mode: Some(0o600),
        mtime: SetTime::Client(Timestamp {
            secs: 1_500_000_000,
            nsecs: 0,
        }),
        ..SetAttrs::default()
    };
    let a = fs.setattr(&h, &set).expect("setattr after exclusive");
    assert_eq!(a.mode, 0o600);
    assert_eq!(a.mtime.secs, 1_500_000_000);
}

fn setattr_truncate_extend_times(fs: &dyn Vfs, dir: &Handle) {
    let f = create(fs, dir, b"f");
    fs.write(&f, 0, b"0123456789", Stability::Unstable)
        .expect("write");
    let a = fs
        .setattr(
            &f,
            &SetAttrs {
                size: Some(4),
                ..SetAttrs::default()
            },
        )
        .expect("truncate");
    assert_eq!(a.size, 4);
    assert_eq!(fs.read(&f, 0, 100).expect("read"), (b"0123".to_vec(), true));
    let a = fs
        .setattr(
            &f,
            &SetAttrs {
                size: Some(8),
                ..SetAttrs::default()
            },
        )
        .expect("extend");
    assert_eq!(a.size, 8);
    assert_eq!(fs.read(&f, 0, 100).expect("read").0, b"0123\0\0\0\0");
    let t = Timestamp {
        secs: 1_234_567_890,
        nsecs: 123_456_789,
    };
    let a = fs
        .setattr(
            &f,
            &SetAttrs {
                atime: SetTime::Client(t),
                mtime: SetTime::Client(t),
                mode: Some(0o4755),
                ..SetAttrs::default()
            },
        )
        .expect("utimes");
    assert_eq!((a.atime, a.mtime), (t, t));
    assert_eq!(a.mode, 0o4755);
    let bad_nsecs = Timestamp {
        secs: 1_234_567_890,
        nsecs: 4_000_000_000,
    };
    let a = fs
        .setattr(
            &f,
            &SetAttrs {
                mtime: SetTime::Client(bad_nsecs),
                ..SetAttrs::default()
            },
        )
        .expect("out-of-range nanoseconds are clamped");
    assert_eq!(a.mtime.nsecs, 999_999_999);
    let a = fs
        .setattr(
            &f,
            &SetAttrs {
                mtime: SetTime::ServerNow,
                ..SetAttrs::default()
            },
        )
        .expect("touch");
    assert_ne!(a.mtime, t);
    assert_eq!(
        fs.setattr(
            dir,
            &SetAttrs {
                size: Some(0),
                ..SetAttrs::default()
            }
        )
        .unwrap_err(),
        VfsError::IsDir
    );
    // (uid_t)-1 is not an owner (chown would read it as "leave unchanged").
    for set in [
        SetAttrs {
            uid: Some(u32::MAX),
            ..SetAttrs::default()
        },
        SetAttrs {
            gid: Some(u32::MAX),
            ..SetAttrs::default()
        },
    ] {
        assert_eq!(fs.setattr(&f, &set).unwrap_err(), VfsError::Invalid);
    }
    // A caller with id (uid_t)-1 can still create files.
    let odd = Caller {
        uid: u32::MAX,
        gid: u32::MAX,
        gids: vec![],
    };
    fs.create(dir, b"odd", CreateHow::Guarded, &mode(0o644), &odd)
        .expect("create as uid -1");
}

fn stale_and_bad_handles(fs: &dyn Vfs, dir: &Handle) {
    let f = create(fs, dir, b"f");
    let (d, _) = fs.mkdir(dir, b"d", &mode(0o755), &caller()).expect("mkdir");
    fs.remove(dir, b"f").expect("remove");
    fs.rmdir(dir, b"d").expect("rmdir");
    assert_eq!(fs.getattr(&f).unwrap_err(), VfsError::Stale);
    assert_eq!(fs.read(&f, 0, 1).unwrap_err(), VfsError::Stale);
    assert_eq!(
        fs.write(&f, 0, b"x", Stability::Unstable).unwrap_err(),
        VfsError::Stale
    );
    assert_eq!(fs.lookup(&d, b"x").unwrap_err(), VfsError::Stale);
    assert_eq!(fs.readdir(&d, 0, 10).unwrap_err(), VfsError::Stale);
    assert_eq!(
        fs.create(&d, b"x", CreateHow::Guarded, &mode(0o644), &caller())
            .unwrap_err(),
        VfsError::Stale
    );
    // A new file reusing the inode number must not revive the old handle.
    for i in 0..4u8 {
        create(fs, dir, &[b'n', b'0' + i]);
    }
    assert_eq!(fs.getattr(&f).unwrap_err(), VfsError::Stale);
    for garbage in [
        Handle(vec![]),
        Handle(vec![0xff; 3]),
        Handle(vec![0xaa; 59]),
        Handle(vec![0; 13]),
    ] {
        assert_eq!(
            fs.getattr(&garbage).unwrap_err(),
            VfsError::BadHandle,
            "{garbage:?}"
        );
        assert_eq!(fs.lookup(&garbage, b"x").unwrap_err(), VfsError::BadHandle);
    }
}

fn dot_and_dotdot(fs: &dyn Vfs, root: &Handle, dir: &Handle) {
    assert_eq!(fs.lookup(root, b"..").expect("root dotdot").0, *root);
    assert_eq!(fs.lookup(root, b".").expect("root dot").0, *root);
    assert_eq!(fs.lookup(dir, b".").expect("dot").0, *dir);
    assert_eq!(fs.lookup(dir, b"..").expect("dotdot").0, *root);
    let (sub, _) = fs
        .mkdir(dir, b"sub", &mode(0o755), &caller())
        .expect("mkdir");
    assert_eq!(fs.lookup(&sub, b"..").expect("dotdot").0, *dir);
}

fn readdir_pages_5000(fs: &dyn Vfs, dir: &Handle) {
    let mut expected = HashSet::new();
    for i in 0..5000 {
        let name = format!("entry-{i:05}").into_bytes();
        create(fs, dir, &name);
        expected.insert(name);
    }
    let v = fs.dir_version(dir).expect("dir_version");
    let mut seen = HashSet::new();
    let mut cookie = 0;
    let mut pages = 0;
    loop {
        let page = fs.readdir(dir, cookie, 97).expect("readdir page");
        assert!(page.entries.len() <= 97);
        pages += 1;
        assert!(pages < 1000, "readdir does not terminate");
        for e in &page.entries {
            assert!(seen.insert(e.name.clone()), "{:?} listed twice", e.name);
            assert_ne!(e.cookie, 0);
            let (_, a) = fs.lookup(dir, &e.name).expect("lookup listed name");
            assert_eq!(a.fileid, e.fileid);
        }
        if page.eof {
            break;
        }
        cookie = page.entries.last().expect("entries").cookie;
    }
    assert_eq!(seen, expected, "every name exactly once");
    // find_entry sweeps all of them, `.` and `..` left out.
    let mut swept = HashSet::new();
    let none = fs
        .find_entry(dir, &mut |n| {
            assert!(swept.insert(n.to_vec()), "{n:?} offered twice");
            false
        })
        .expect("find_entry");
    assert_eq!(none, None);
    assert_eq!(swept, expected, "find_entry offers every name once");
    let found = fs
        .find_entry(dir, &mut |n| n.eq_ignore_ascii_case(b"ENTRY-04321"))
        .expect("find_entry");
    assert_eq!(found.as_deref(), Some(&b"entry-04321"[..]));
    // Removing entries while listing: the remaining ones are still each listed once.
    let page = fs.readdir(dir, 0, 10).expect("first page");
    for e in &page.entries {
        fs.remove(dir, &e.name).expect("remove listed");
    }
    let mut rest = 0;
    let mut cookie = page.entries.last().expect("entries").cookie;
    loop {
        let p = fs.readdir(dir, cookie, 500).expect("readdir after removal");
        rest += p.entries.len();
        if p.eof {
            break;
        }
        cookie = p.entries.last().expect("entries").cookie;
    }
    assert_eq!(rest, 4990, "every remaining entry exactly once");
    assert_eq!(fs.dir_version(dir).expect("dir_version"), v);
    assert_eq!(names(fs, dir).len(), 4990);
    let empty = fs.readdir(dir, 0, 0).expect("max 0");
    assert!(empty.entries.is_empty());
}

fn rename_without_replace(fs: &dyn Vfs, dir: &Handle) {
    let a = create(fs, dir, b"a");
    let b = create(fs, dir, b"b");
    let no = RenameMode::NoReplace;
    assert_eq!(
        fs.rename(dir, b"a", dir, b"b", no).unwrap_err(),
        VfsError::Exists
    );
    assert_eq!(fs.lookup(dir, b"a").expect("a stays").0, a);
    assert_eq!(fs.lookup(dir, b"b").expect("b stays").0, b);
    // Even onto itself (Linux checks RENAME_NOREPLACE before the same-file shortcut).
    assert_eq!(
        fs.rename(dir, b"a", dir, b"a", no).unwrap_err(),
        VfsError::Exists
    );
    let (d1, _) = fs
        .mkdir(dir, b"d1", &mode(0o755), &caller())
        .expect("mkdir");
    fs.mkdir(dir, b"d2", &mode(0o755), &caller())
        .expect("mkdir");
    assert_eq!(
        fs.rename(dir, b"d1", dir, b"d2", no).unwrap_err(),
        VfsError::Exists,
        "an empty directory is not replaced either"
    );
    assert_eq!(
        fs.rename(dir, b"missing", dir, b"b", no).unwrap_err(),
        VfsError::NotFound
    );
    fs.rename(dir, b"a", &d1, b"moved", no)
        .expect("to a free name");
    assert_eq!(fs.lookup(&d1, b"moved").expect("moved").0, a);
    assert_eq!(fs.lookup(dir, b"a").unwrap_err(), VfsError::NotFound);
    // The replacing mode still replaces.
    fs.rename(&d1, b"moved", dir, b"b", RenameMode::Replace)
        .expect("replace");
    assert_eq!(fs.lookup(dir, b"b").expect("b").0, a);
    assert_eq!(fs.getattr(&b).unwrap_err(), VfsError::Stale);
}

/// `t` at the 100-ns granularity DOS creation times are stored with.
fn nt_rounded(t: Timestamp) -> Timestamp {
    Timestamp {
        secs: t.secs,
        nsecs: t.nsecs / 100 * 100,
    }
}

fn dos_attributes_and_creation_time(fs: &dyn Vfs, dir: &Handle) {
    let f = create(fs, dir, b"f");
    let attr = fs.getattr(&f).expect("getattr");
    let d = fs.dos_attrs(&f).expect("dos_attrs");
    // Nothing stored yet: derived, like Samba for a file without user.DOSATTRIB.
    assert_eq!((d.attributes, d.stored), (0, false));
    assert_eq!(d.attr.fileid, attr.fileid);
    match d.birth_time {
        Some(bt) => assert_eq!(
            (d.creation_time, d.creation_source),
            (bt, CreationSource::Birth)
        ),
        None => assert_eq!(
            (d.creation_time, d.creation_source),
            (attr.ctime.min(attr.mtime), CreationSource::Derived)
        ),
    }
    let created = d.creation_time;
    let (sub, _) = fs
        .mkdir(dir, b"sub", &mode(0o755), &caller())
        .expect("mkdir");
    let sd = fs.dos_attrs(&sub).expect("dir dos_attrs");
    assert_eq!((sd.attributes, sd.stored), (fa::DIRECTORY, false));

    // Set: the whole word is replaced; NORMAL is accepted and not stored.
    let set = SetDosAttrs {
        attributes: Some(fa::READONLY | fa::HIDDEN | fa::ARCHIVE | fa::NORMAL),
        creation_time: None,
    };
    let mtime = fs.getattr(&f).expect("getattr").mtime;
    let d = fs.set_dos_attrs(&f, &set).expect("set attributes");
    assert_eq!(
        (d.attributes, d.stored),
        (fa::READONLY | fa::HIDDEN | fa::ARCHIVE, true)
    );
    assert_eq!(d.creation_time, nt_rounded(created), "creation time kept");
    assert_eq!(d.creation_source, CreationSource::Stored);
    assert_eq!(d.attr.mtime, mtime, "attributes are not data");
    assert_eq!(fs.dos_attrs(&f).expect("again"), d);
    assert_eq!(
        fs.getattr(&f).expect("getattr").mode,
        0o644,
        "mode untouched"
    );

    // Creation time alone: stored at 100 ns, attributes kept.
    let when = Timestamp {
        secs: 1_234_567_890,
        nsecs: 123_456_789,
    };
    let set = SetDosAttrs {
        attributes: None,
        creation_time: Some(when),
    };
    let d = fs.set_dos_attrs(&f, &set).expect("set creation time");
    assert_eq!(d.creation_time, nt_rounded(when));
    assert_eq!(d.creation_source, CreationSource::Stored);
    assert_eq!(d.attributes, fa::READONLY | fa::HIDDEN | fa::ARCHIVE);
    // Clearing every attribute keeps them stored (as 0) and keeps the creation time.
    let set = SetDosAttrs {
        attributes: Some(0),
        creation_time: None,
    };
    let d = fs.set_dos_attrs(&f, &set).expect("clear");
    assert_eq!((d.attributes, d.stored), (0, true));
    assert_eq!(d.creation_time, nt_rounded(when));
    // An empty set changes nothing.
    assert_eq!(
        fs.set_dos_attrs(&f, &SetDosAttrs::default())
            .expect("empty set"),
        fs.dos_attrs(&f).expect("get")
    );

    // Directories keep DIRECTORY whatever is stored.
    let set = SetDosAttrs {
        attributes: Some(fa::SYSTEM),
        creation_time: None,
    };
    let sd = fs.set_dos_attrs(&sub, &set).expect("dir set");
    assert_eq!(
        (sd.attributes, sd.stored),
        (fa::SYSTEM | fa::DIRECTORY, true)
    );

    // MS-FSA 2.1.5.15.2 refusals, which change nothing.
    for (h, bad) in [
        (&f, fa::DIRECTORY),
        (&sub, fa::TEMPORARY),
        (&f, 0x0004_0000),
        (&f, 0x0000_0200), // SPARSE: only through FSCTL_SET_SPARSE
    ] {
        let set = SetDosAttrs {
            attributes: Some(bad),
            creation_time: None,
        };
        assert_eq!(
            fs.set_dos_attrs(h, &set).unwrap_err(),
            VfsError::Invalid,
            "{bad:#x}"
        );
    }
    assert_eq!(fs.dos_attrs(&f).expect("unchanged").attributes, 0);
    assert_eq!(
        fs.dos_attrs(&sub).expect("unchanged").attributes,
        fa::SYSTEM | fa::DIRECTORY
    );

    // Where Linux keeps no user extended attributes: derived on read, NotSupported on set.
    let (l, _) = fs
        .symlink(dir, b"l", b"f", &SetAttrs::default(), &caller())
        .expect("symlink");
    let (p, _) = fs
        .mknod(dir, b"p", FileKind::Fifo, (0, 0), &mode(0o644), &caller())
        .expect("fifo");
    for h in [&l, &p] {
        let d = fs.dos_attrs(h).expect("derived");
        assert_eq!((d.attributes, d.stored), (0, false));
        let set = SetDosAttrs {
            attributes: Some(fa::HIDDEN),
            creation_time: None,
        };
        assert_eq!(
            fs.set_dos_attrs(h, &set).unwrap_err(),
            VfsError::NotSupported
        );
        let set = SetDosAttrs {
            attributes: None,
            creation_time: Some(when),
        };
        assert_eq!(
            fs.set_dos_attrs(h, &set).unwrap_err(),
            VfsError::NotSupported
        );
    }
}

fn allocation_size(fs: &dyn Vfs, dir: &Handle) {
    let f = create(fs, dir, b"f");
    let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    fs.write(&f, 0, &data, Stability::FileSync).expect("write");
    // Above the size: reserved, size unchanged.
    let a = fs.set_allocation(&f, 1 << 20).expect("preallocate");
    assert_eq!(a.size, 10_000);
    assert!(
        a.used >= 1 << 20,
        "used {} after preallocating 1 MiB",
        a.used
    );
    assert_eq!(fs.getattr(&f).expect("getattr").used, a.used);
    assert_eq!(fs.read(&f, 0, 20_000).expect("read").0, data);
    // Below the size: MS-FSA 2.1.5.15.1 truncates.
    let a = fs.set_allocation(&f, 4096).expect("truncate by allocation");
    assert_eq!(a.size, 4096);
    assert_eq!(fs.read(&f, 0, 20_000).expect("read").0, &data[..4096]);
    assert!(a.used >= 4096 && a.used < 1 << 20, "used {}", a.used);
    // A truncate drops the preallocation, as on ext4.
    fs.set_allocation(&f, 1 << 20).expect("preallocate again");
    let set = SetAttrs {
        size: Some(0),
        ..SetAttrs::default()
    };
    let a = fs.setattr(&f, &set).expect("truncate");
    assert_eq!((a.size, a.used), (0, 0));
    // Only regular files have an allocation to set.
    assert_eq!(fs.set_allocation(dir, 4096).unwrap_err(), VfsError::IsDir);
    let (l, _) = fs
        .symlink(dir, b"l", b"f", &SetAttrs::default(), &caller())
        .expect("symlink");
    assert_eq!(fs.set_allocation(&l, 4096).unwrap_err(), VfsError::Invalid);
    assert_eq!(
        fs.set_allocation(&f, 1 << 62).unwrap_err(),
        VfsError::TooBig
    );
}

fn held_files_survive_removal(fs: &dyn Vfs, dir: &Handle) {
    // A held file outlives REMOVE: readable, writable, attributes settable, nameless.
    let f = create(fs, dir, b"f");
    fs.write(&f, 0, b"hello", Stability::FileSync)
        .expect("write");
    fs.hold(&f).expect("hold");
    fs.hold(&f).expect("holds nest");
    fs.remove(dir, b"f").expect("remove");
    assert_eq!(fs.lookup(dir, b"f").unwrap_err(), VfsError::NotFound);
    assert!(!names(fs, dir).contains(&b"f".to_vec()));
    let a = fs.getattr(&f).expect("held getattr");
    assert_eq!((a.nlink, a.size), (0, 5));
    fs.write(&f, 5, b" world", Stability::FileSync)
        .expect("held write");
    assert_eq!(fs.read(&f, 0, 100).expect("held read").0, b"hello world");
    fs.commit(&f).expect("held commit");
    let set = SetDosAttrs {
        attributes: Some(fa::HIDDEN),
        creation_time: None,
    };
    assert_eq!(
        fs.set_dos_attrs(&f, &set).expect("held set").attributes,
        fa::HIDDEN
    );
    fs.set_allocation(&f, 5).expect("held allocation");
    let set = SetAttrs {
        mode: Some(0o600),
        ..SetAttrs::default()
    };
    assert_eq!(fs.setattr(&f, &set).expect("held setattr").mode, 0o600);
    // The name is free for a new file, a different one.
    let g = create(fs, dir, b"f");
    assert_ne!(g, f);
    assert_eq!(fs.read(&g, 0, 100).expect("new file").0, b"");
    fs.release(&f);
    assert_eq!(fs.read(&f, 0, 100).expect("one hold left").0, b"hello");
    fs.release(&f);
    assert_eq!(
        fs.getattr(&f).unwrap_err(),
        VfsError::Stale,
        "gone with the last hold"
    );
    fs.release(&f); // not held any more: nothing happens
    assert_eq!(
        fs.read(&g, 0, 100).expect("the new file is untouched").0,
        b""
    );

    // Without a hold the handle is stale at once.
    fs.remove(dir, b"f").expect("remove unheld");
    assert_eq!(fs.getattr(&g).unwrap_err(), VfsError::Stale);

    // A target replaced by RENAME, held.
    let t = create(fs, dir, b"t");
    fs.write(&t, 0, b"target", Stability::FileSync)
        .expect("write");
    fs.hold(&t).expect("hold target");
    let s = create(fs, dir, b"s");
    fs.rename(dir, b"s", dir, b"t", RenameMode::Replace)
        .expect("replace");
    assert_eq!(fs.lookup(dir, b"t").expect("t").0, s);
    assert_eq!(fs.read(&t, 0, 100).expect("replaced, held").0, b"target");
    fs.release(&t);
    assert_eq!(fs.getattr(&t).unwrap_err(), VfsError::Stale);

    // A held directory after RMDIR: still answers, but nothing can be made in it.
    let (sub, _) = fs
        .mkdir(dir, b"sub", &mode(0o755), &caller())
        .expect("mkdir");
    fs.hold(&sub).expect("hold dir");
    fs.rmdir(dir, b"sub").expect("rmdir");
    let a = fs.getattr(&sub).expect("held dir getattr");
    assert_eq!((a.kind, a.nlink), (FileKind::Directory, 0));
    assert_eq!(
        fs.create(&sub, b"x", CreateHow::Guarded, &mode(0o644), &caller())
            .unwrap_err(),
        VfsError::NotFound
    );
    assert_eq!(
        fs.readdir(&sub, 0, 10).expect("empty listing").entries,
        vec![]
    );
    fs.release(&sub);
    assert_eq!(fs.getattr(&sub).unwrap_err(), VfsError::Stale);

    // Holding a linked file changes nothing about it; releasing an unheld handle neither.
    let k = create(fs, dir, b"kept");
    fs.hold(&k).expect("hold");
    fs.release(&k);
    fs.release(&k);
    assert_eq!(fs.getattr(&k).expect("still there").nlink, 1);
    assert_eq!(fs.hold(&f).unwrap_err(), VfsError::Stale);
}
