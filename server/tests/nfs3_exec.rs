//! The NFSv3 executor on the in-memory backend: behaviour a client sees, with the exact
//! `nfsstat3` codes of RFC 1813 §3.3.

use std::collections::BTreeSet;

use bytes::{Bytes, BytesMut};
use proto_nfs::nfs3::*;
use proto_nfs::server::Creds;
use server::nfs3_exec::Executor;
use vfs::memory::{MemoryFs, MemoryFsConfig, VirtualClock};
use vfs::{Caller, CreateHow, SetAttrs, Timestamp, Vfs};

const SHARE: u32 = 7;
const VERF: [u8; 8] = *b"bootverf";

struct T {
    fs: MemoryFs,
    clock: VirtualClock,
    exec: Executor,
}

fn user(uid: u32, gid: u32) -> Creds {
    Creds {
        uid,
        gid,
        gids: vec![],
    }
}

fn alice() -> Creds {
    user(1000, 100)
}

fn name(s: &str) -> Filename3 {
    Filename3(Bytes::copy_from_slice(s.as_bytes()))
}

fn sattr_mode(mode: u32) -> Sattr3 {
    Sattr3 {
        mode: Some(mode),
        ..Sattr3::default()
    }
}

impl T {
    fn new() -> T {
        let clock = VirtualClock::new(Timestamp {
            secs: 1_700_000_000,
            nsecs: 0,
        });
        let config = MemoryFsConfig {
            root_mode: 0o777,
            ..MemoryFsConfig::default()
        };
        T {
            fs: MemoryFs::with_virtual_clock(config, clock.clone()),
            clock,
            exec: Executor::new(VERF),
        }
    }

    fn root(&self) -> FileHandle {
        FileHandle::new(SHARE, &self.fs.root().0).expect("fits")
    }

    fn call(&self, creds: &Creds, call: Nfs3Call) -> Nfs3Reply {
        // Every reply must encode and decode back to itself.
        let reply = self.exec.execute(&self.fs, SHARE, creds, &call);
        let mut out = BytesMut::new();
        reply.encode(&mut out);
        assert_eq!(
            Nfs3Reply::decode(call.procedure(), &out).as_ref(),
            Ok(&reply)
        );
        reply
    }

    fn create(&self, creds: &Creds, dir: &FileHandle, n: &str, mode: u32) -> FileHandle {
        match self.call(
            creds,
            Nfs3Call::Create(CreateArgs {
                where_: DirOpArgs3 {
                    dir: dir.clone(),
                    name: name(n),
                },
                how: CreateHow3::Guarded(sattr_mode(mode)),
            }),
        ) {
            Nfs3Reply::Create(Nfs3Result::Ok(ok)) => ok.obj.expect("handle"),
            other => panic!("create {n}: {other:?}"),
        }
    }

    fn mkdir(&self, creds: &Creds, dir: &FileHandle, n: &str, mode: u32) -> FileHandle {
        match self.call(
            creds,
            Nfs3Call::Mkdir(MkdirArgs {
                where_: DirOpArgs3 {
                    dir: dir.clone(),
                    name: name(n),
                },
                attributes: sattr_mode(mode),
            }),
        ) {
            Nfs3Reply::Mkdir(Nfs3Result::Ok(ok)) => ok.obj.expect("handle"),
            other => panic!("mkdir {n}: {other:?}"),
        }
    }

    fn getattr(&self, fh: &FileHandle) -> Result<Fattr3, Nfs3Status> {
        match self.call(
            &alice(),
            Nfs3Call::Getattr(GetattrArgs { object: fh.clone() }),
        ) {
            Nfs3Reply::Getattr(Nfs3Result::Ok(ok)) => Ok(ok.obj_attributes),
            Nfs3Reply::Getattr(Nfs3Result::Err(s, _)) => Err(s),
            other => panic!("{other:?}"),
        }
    }

    fn write(&self, creds: &Creds, fh: &FileHandle, offset: u64, data: &[u8]) -> WriteRes {
        match self.call(
            creds,
            Nfs3Call::Write(WriteArgs {
                file: fh.clone(),
                offset,
                stable: StableHow::Unstable,
                data: Bytes::copy_from_slice(data),
            }),
        ) {
            Nfs3Reply::Write(r) => r,
            other => panic!("{other:?}"),
        }
    }

    fn access(&self, creds: &Creds, fh: &FileHandle) -> u32 {
        match self.call(
            creds,
            Nfs3Call::Access(AccessArgs {
                object: fh.clone(),
                access: 0x3f,
            }),
        ) {
            Nfs3Reply::Access(Nfs3Result::Ok(ok)) => ok.access,
            other => panic!("{other:?}"),
        }
    }

    /// A directory with `n` files created directly on the backend (fast set-up).
    fn big_dir(&self, n: usize) -> (FileHandle, BTreeSet<Vec<u8>>) {
        let dir = self.mkdir(&alice(), &self.root(), "big", 0o755);
        let dh = vfs::Handle(dir.backend().expect("ours").to_vec());
        let caller = Caller {
            uid: 1000,
            gid: 100,
            gids: vec![],
        };
        let mut names = BTreeSet::new();
        for i in 0..n {
            // Names of varying length so page boundaries fall everywhere.
            let nm = format!("file-{i:05}-{}", "x".repeat(i % 37));
            self.fs
                .create(
                    &dh,
                    nm.as_bytes(),
                    CreateHow::Guarded,
                    &SetAttrs::default(),
                    &caller,
                )
                .expect("create");
            names.insert(nm.into_bytes());
        }
        (dir, names)
    }
}

fn status(r: &Nfs3Reply) -> Nfs3Status {
    r.status()
}

#[test]
fn readdir_pages_5000_entries_each_name_exactly_once_within_budget() {
    let t = T::new();
    let (dir, names) = t.big_dir(5000);
    let count = 1024u32;
    let mut seen: Vec<Vec<u8>> = Vec::new();
    let mut cookie = 0;
    let mut verf = [0u8; 8];
    let mut pages = 0;
    loop {
        let reply = t.call(
            &alice(),
            Nfs3Call::Readdir(ReaddirArgs {
                dir: dir.clone(),
                cookie,
                cookieverf: verf,
                count,
            }),
        );
        let mut out = BytesMut::new();
        reply.encode(&mut out);
        assert!(out.len() <= count as usize, "reply of {} bytes", out.len());
        let Nfs3Reply::Readdir(Nfs3Result::Ok(ok)) = reply else {
            panic!("{reply:?}")
        };
        pages += 1;
        assert!(!ok.entries.is_empty() || ok.eof);
        for e in &ok.entries {
            seen.push(e.name.0.to_vec());
        }
        if ok.eof {
            break;
        }
        cookie = ok.entries.last().expect("non-empty").cookie;
        verf = ok.cookieverf;
        assert!(pages < 10_000, "no progress");
    }
    assert!(pages > 100, "small budget gives many pages, got {pages}");
    let unique: BTreeSet<Vec<u8>> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no entry listed twice");
    let mut expected = names.clone();
    expected.insert(b".".to_vec());
    expected.insert(b"..".to_vec());
    assert_eq!(unique, expected);
}

#[test]
fn readdirplus_pages_5000_entries_with_handles_and_attrs() {
    let t = T::new();
    let (dir, names) = t.big_dir(5000);
    let (dircount, maxcount) = (512u32, 4096u32);
    let mut seen = Vec::new();
    let mut cookie = 0;
    let mut verf = [0u8; 8];
    loop {
        let reply = t.call(
            &alice(),
            Nfs3Call::Readdirplus(ReaddirplusArgs {
                dir: dir.clone(),
                cookie,
                cookieverf: verf,
                dircount,
                maxcount,
            }),
        );
        let mut out = BytesMut::new();
        reply.encode(&mut out);
        assert!(out.len() <= maxcount as usize);
        let Nfs3Reply::Readdirplus(Nfs3Result::Ok(ok)) = reply else {
            panic!("{reply:?}")
        };
        let dir_part: usize = ok
            .entries
            .iter()
            .map(|e| Entry3::xdr_len(e.name.0.len()))
            .sum();
        assert!(ok.entries.len() == 1 || dir_part <= dircount as usize);
        for e in &ok.entries {
            let attrs = e.name_attributes.expect("attributes");
            let fh = e.name_handle.as_ref().expect("handle");
            assert_eq!(attrs.fileid, e.fileid);
            if e.name.0.as_ref() != b".." {
                assert_eq!(t.getattr(fh).expect("handle works").fileid, e.fileid);
            }
            seen.push(e.name.0.to_vec());
        }
        if ok.eof {
            break;
        }
        cookie = ok.entries.last().expect("non-empty").cookie;
        verf = ok.cookieverf;
    }
    let unique: BTreeSet<Vec<u8>> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no entry listed twice");
    let mut expected = names;
    expected.insert(b".".to_vec());
    expected.insert(b"..".to_vec());
    assert_eq!(unique, expected);
}

#[test]
fn readdir_across_concurrent_changes_loses_and_repeats_nothing_that_stayed() {
    let t = T::new();
    let (dir, names) = t.big_dir(600);
    let mut seen = Vec::new();
    let mut cookie = 0;
    let mut verf = [0u8; 8];
    let mut removed = BTreeSet::new();
    let mut round = 0;
    loop {
        let Nfs3Reply::Readdir(Nfs3Result::Ok(ok)) = t.call(
            &alice(),
            Nfs3Call::Readdir(ReaddirArgs {
                dir: dir.clone(),
                cookie,
                cookieverf: verf,
                count: 2048,
            }),
        ) else {
            panic!("readdir failed")
        };
        seen.extend(ok.entries.iter().map(|e| e.name.0.to_vec()));
        if ok.eof {
            break;
        }
        cookie = ok.entries.last().expect("non-empty").cookie;
        verf = ok.cookieverf;
        // Between pages: remove one name and add one.
        round += 1;
        let victim = format!("file-{:05}-{}", round * 7, "x".repeat((round * 7) % 37));
        let r = t.call(
            &alice(),
            Nfs3Call::Remove(RemoveArgs {
                object: DirOpArgs3 {
                    dir: dir.clone(),
                    name: name(&victim),
                },
            }),
        );
        assert_eq!(status(&r), Nfs3Status::Ok, "remove {victim}");
        removed.insert(victim.into_bytes());
        t.create(&alice(), &dir, &format!("new-{round}"), 0o644);
    }
    let unique: BTreeSet<Vec<u8>> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no entry listed twice");
    for n in names.difference(&removed) {
        assert!(unique.contains(n), "lost {}", String::from_utf8_lossy(n));
    }
}

#[test]
fn readdir_wrong_verifier_is_bad_cookie_and_tiny_count_is_toosmall() {
    let t = T::new();
    let (dir, _) = t.big_dir(50);
    let Nfs3Reply::Readdir(Nfs3Result::Ok(first)) = t.call(
        &alice(),
        Nfs3Call::Readdir(ReaddirArgs {
            dir: dir.clone(),
            cookie: 0,
            cookieverf: [0; 8],
            count: 512,
        }),
    ) else {
        panic!("readdir")
    };
    let cookie = first.entries.last().expect("entries").cookie;
    let mut wrong = first.cookieverf;
    wrong[0] ^= 1;
    let r = t.call(
        &alice(),
        Nfs3Call::Readdir(ReaddirArgs {
            dir: dir.clone(),
            cookie,
            cookieverf: wrong,
            count: 512,
        }),
    );
    assert_eq!(status(&r), Nfs3Status::BadCookie);
    // A verifier of another directory is wrong too.
    let Nfs3Reply::Readdir(Nfs3Result::Ok(root_page)) = t.call(
        &alice(),
        Nfs3Call::Readdir(ReaddirArgs {
            dir: t.root(),
            cookie: 0,
            cookieverf: [0; 8],
            count: 4096,
        }),
    ) else {
        panic!("readdir root")
    };
    assert_ne!(root_page.cookieverf, first.cookieverf);
    let r = t.call(
        &alice(),
        Nfs3Call::Readdirplus(ReaddirplusArgs {
            dir: dir.clone(),
            cookie,
            cookieverf: root_page.cookieverf,
            dircount: 512,
            maxcount: 4096,
        }),
    );
    assert_eq!(status(&r), Nfs3Status::BadCookie);
    // The right verifier resumes.
    let r = t.call(
        &alice(),
        Nfs3Call::Readdir(ReaddirArgs {
            dir: dir.clone(),
            cookie,
            cookieverf: first.cookieverf,
            count: 512,
        }),
    );
    assert_eq!(status(&r), Nfs3Status::Ok);
    // A zero verifier is accepted (clients that dropped their caches send it).
    let r = t.call(
        &alice(),
        Nfs3Call::Readdir(ReaddirArgs {
            dir: dir.clone(),
            cookie,
            cookieverf: [0; 8],
            count: 512,
        }),
    );
    assert_eq!(status(&r), Nfs3Status::Ok);
    // A cookie the backend never issued.
    let r = t.call(
        &alice(),
        Nfs3Call::Readdir(ReaddirArgs {
            dir: dir.clone(),
            cookie: 1 << 40,
            cookieverf: first.cookieverf,
            count: 512,
        }),
    );
    assert_eq!(status(&r), Nfs3Status::BadCookie);
    let r = t.call(
        &alice(),
        Nfs3Call::Readdir(ReaddirArgs {
            dir,
            cookie: 0,
            cookieverf: [0; 8],
            count: 100,
        }),
    );
    assert_eq!(status(&r), Nfs3Status::TooSmall);
}

#[test]
fn exclusive_create_retransmission_succeeds_with_the_same_file() {
    let t = T::new();
    let excl = |v: [u8; 8]| {
        t.call(
            &alice(),
            Nfs3Call::Create(CreateArgs {
                where_: DirOpArgs3 {
                    dir: t.root(),
                    name: name("lockfile"),
                },
                how: CreateHow3::Exclusive(v),
            }),
        )
    };
    let Nfs3Reply::Create(Nfs3Result::Ok(a)) = excl(*b"client-1") else {
        panic!("first create")
    };
    let Nfs3Reply::Create(Nfs3Result::Ok(b)) = excl(*b"client-1") else {
        panic!("retransmission")
    };
    assert_eq!(a.obj, b.obj);
    assert_eq!(status(&excl(*b"client-2")), Nfs3Status::Exist);
    // The client then sets the attributes with SETATTR.
    let r = t.call(
        &alice(),
        Nfs3Call::Setattr(SetattrArgs {
            object: a.obj.expect("handle"),
            new_attributes: sattr_mode(0o600),
            guard: None,
        }),
    );
    let Nfs3Reply::Setattr(Nfs3Result::Ok(wcc)) = r else {
        panic!("{r:?}")
    };
    assert_eq!(wcc.after.expect("after").mode, 0o600);
}

#[test]
fn modifying_replies_carry_wcc_data_before_and_after() {
    let t = T::new();
    let root = t.root();
    let before = t.getattr(&root).expect("root");
    t.clock.advance(5, 0);
    let r = t.call(
        &alice(),
        Nfs3Call::Create(CreateArgs {
            where_: DirOpArgs3 {
                dir: root.clone(),
                name: name("f"),
            },
            how: CreateHow3::Unchecked(sattr_mode(0o644)),
        }),
    );
    let Nfs3Reply::Create(Nfs3Result::Ok(ok)) = r else {
        panic!("{r:?}")
    };
    let pre = ok.dir_wcc.before.expect("pre-op attrs");
    assert_eq!(pre.mtime, before.mtime);
    assert_eq!(pre.size, before.size);
    let after = ok.dir_wcc.after.expect("post-op attrs");
    assert!(after.mtime > before.mtime, "directory mtime moved");
    assert_eq!(Some(after), t.getattr(&root).ok());
    let fh = ok.obj.expect("handle");
    assert_eq!(ok.obj_attributes.expect("attrs").mode, 0o644);

    t.clock.advance(1, 0);
    let Nfs3Result::Ok(w) = t.write(&alice(), &fh, 0, b"hello") else {
        panic!("write")
    };
    assert_eq!(w.file_wcc.before.expect("pre").size, 0);
    assert_eq!(w.file_wcc.after.expect("post").size, 5);
    assert_eq!(w.count, 5);
    assert_eq!(w.verf, VERF);

    let r = t.call(
        &alice(),
        Nfs3Call::Remove(RemoveArgs {
            object: DirOpArgs3 {
                dir: root.clone(),
                name: name("f"),
            },
        }),
    );
    let Nfs3Reply::Remove(Nfs3Result::Ok(wcc)) = r else {
        panic!("{r:?}")
    };
    assert!(wcc.before.is_some() && wcc.after.is_some());
    // A failing modification carries wcc data too.
    let r = t.call(
        &alice(),
        Nfs3Call::Rmdir(RemoveArgs {
            object: DirOpArgs3 {
                dir: root,
                name: name("missing"),
            },
        }),
    );
    let Nfs3Reply::Rmdir(Nfs3Result::Err(Nfs3Status::NoEnt, wcc)) = r else {
        panic!("{r:?}")
    };
    assert!(wcc.before.is_some() && wcc.after.is_some());
}

#[test]
fn write_stability_verifier_commit_and_read_eof() {
    let t = T::new();
    let fh = t.create(&alice(), &t.root(), "data", 0o644);
    for (how, data) in [
        (StableHow::Unstable, &b"0123"[..]),
        (StableHow::DataSync, &b"4567"[..]),
        (StableHow::FileSync, &b"89"[..]),
    ] {
        let off = t.getattr(&fh).expect("attrs").size;
        let r = t.call(
            &alice(),
            Nfs3Call::Write(WriteArgs {
                file: fh.clone(),
                offset: off,
                stable: how,
                data: Bytes::copy_from_slice(data),
            }),
        );
        let Nfs3Reply::Write(Nfs3Result::Ok(ok)) = r else {
            panic!("{r:?}")
        };
        assert!(
            ok.committed as u32 >= how as u32,
            "{how:?} -> {:?}",
            ok.committed
        );
        assert_eq!(ok.verf, VERF);
    }
    let r = t.call(
        &alice(),
        Nfs3Call::Commit(CommitArgs {
            file: fh.clone(),
            offset: 0,
            count: 0,
        }),
    );
    let Nfs3Reply::Commit(Nfs3Result::Ok(c)) = r else {
        panic!("{r:?}")
    };
    assert_eq!(c.verf, VERF);
    // Another boot, another verifier.
    let other = Executor::new(*b"newboot!");
    let Nfs3Reply::Commit(Nfs3Result::Ok(c2)) = other.execute(
        &t.fs,
        SHARE,
        &alice(),
        &Nfs3Call::Commit(CommitArgs {
            file: fh.clone(),
            offset: 0,
            count: 0,
        }),
    ) else {
        panic!("commit")
    };
    assert_ne!(c2.verf, c.verf);

    let read = |offset, count| match t.call(
        &alice(),
        Nfs3Call::Read(ReadArgs {
            file: fh.clone(),
            offset,
            count,
        }),
    ) {
        Nfs3Reply::Read(Nfs3Result::Ok(ok)) => (ok.data.to_vec(), ok.eof),
        other => panic!("{other:?}"),
    };
    assert_eq!(read(0, 4), (b"0123".to_vec(), false));
    assert_eq!(read(4, 100), (b"456789".to_vec(), true));
    assert_eq!(read(100, 10), (vec![], true));
    // count is clamped to rtmax.
    let big = vec![7u8; (1 << 20) + 10];
    let fh2 = t.create(&alice(), &t.root(), "big", 0o644);
    let Nfs3Result::Ok(w) = t.write(&alice(), &fh2, 0, &big) else {
        panic!("write")
    };
    assert_eq!(w.count, 1 << 20, "WRITE writes at most wtmax");
    let r = t.call(
        &alice(),
        Nfs3Call::Read(ReadArgs {
            file: fh2,
            offset: 0,
            count: u32::MAX,
        }),
    );
    let Nfs3Reply::Read(Nfs3Result::Ok(ok)) = r else {
        panic!("read")
    };
    assert_eq!(ok.data.len(), 1 << 20);
}

#[test]
fn access_from_credentials_and_mode() {
    let t = T::new();
    let f = t.create(&alice(), &t.root(), "f", 0o640);
    let bob_same_group = user(2000, 100);
    let carol = user(3000, 300);
    let root = user(0, 0);
    const R: u32 = ACCESS3_READ;
    const RW: u32 = ACCESS3_READ | ACCESS3_MODIFY | ACCESS3_EXTEND;
    assert_eq!(t.access(&alice(), &f), RW);
    assert_eq!(t.access(&bob_same_group, &f), R);
    assert_eq!(t.access(&carol, &f), 0);
    assert_eq!(t.access(&root, &f), RW, "root: no EXECUTE without an x bit");
    // A supplementary group counts.
    let bob_supp = Creds {
        uid: 2000,
        gid: 999,
        gids: vec![5, 100],
    };
    assert_eq!(t.access(&bob_supp, &f), R);
    let x = t.create(&alice(), &t.root(), "x", 0o744);
    assert_eq!(t.access(&root, &x), RW | ACCESS3_EXECUTE);
    assert_eq!(t.access(&alice(), &x), RW | ACCESS3_EXECUTE);
    assert_eq!(t.access(&carol, &x), R);
    let d = t.mkdir(&alice(), &t.root(), "d", 0o755);
    let all_dir = ACCESS3_READ | ACCESS3_LOOKUP | ACCESS3_MODIFY | ACCESS3_EXTEND | ACCESS3_DELETE;
    assert_eq!(t.access(&alice(), &d), all_dir);
    assert_eq!(t.access(&carol, &d), ACCESS3_READ | ACCESS3_LOOKUP);
    assert_eq!(t.access(&root, &d), all_dir);
    // Only bits asked for are answered.
    let r = t.call(
        &alice(),
        Nfs3Call::Access(AccessArgs {
            object: d,
            access: ACCESS3_LOOKUP,
        }),
    );
    let Nfs3Reply::Access(Nfs3Result::Ok(ok)) = r else {
        panic!("{r:?}")
    };
    assert_eq!(ok.access, ACCESS3_LOOKUP);
}

#[test]
fn permission_checks_before_operations() {
    let t = T::new();
    let carol = user(3000, 300);
    let d = t.mkdir(&alice(), &t.root(), "home", 0o755);
    let r = t.call(
        &carol,
        Nfs3Call::Create(CreateArgs {
            where_: DirOpArgs3 {
                dir: d.clone(),
                name: name("intruder"),
            },
            how: CreateHow3::Unchecked(Sattr3::default()),
        }),
    );
    assert_eq!(status(&r), Nfs3Status::Acces);
    let secret = t.create(&alice(), &d, "secret", 0o600);
    let r = t.call(
        &carol,
        Nfs3Call::Read(ReadArgs {
            file: secret.clone(),
            offset: 0,
            count: 10,
        }),
    );
    assert_eq!(status(&r), Nfs3Status::Acces);
    assert!(matches!(
        t.write(&carol, &secret, 0, b"x"),
        Nfs3Result::Err(Nfs3Status::Acces, _)
    ));
    // The owner may write to a file whose mode does not allow it (owner override).
    let ro = t.create(&alice(), &d, "readonly", 0o444);
    assert!(matches!(
        t.write(&alice(), &ro, 0, b"ok"),
        Nfs3Result::Ok(_)
    ));
    // chmod by someone else: PERM; chown to another uid by a non-root: PERM.
    let chmod = |who: &Creds, s: Sattr3| {
        t.call(
            who,
            Nfs3Call::Setattr(SetattrArgs {
                object: secret.clone(),
                new_attributes: s,
                guard: None,
            }),
        )
    };
    assert_eq!(status(&chmod(&carol, sattr_mode(0o777))), Nfs3Status::Perm);
    let chown = Sattr3 {
        uid: Some(3000),
        ..Sattr3::default()
    };
    assert_eq!(status(&chmod(&alice(), chown)), Nfs3Status::Perm);
    assert_eq!(status(&chmod(&user(0, 0), chown)), Nfs3Status::Ok);
    // LOOKUP needs x on the directory.
    let closed = t.mkdir(&alice(), &t.root(), "closed", 0o700);
    let r = t.call(
        &carol,
        Nfs3Call::Lookup(LookupArgs {
            what: DirOpArgs3 {
                dir: closed,
                name: name("anything"),
            },
        }),
    );
    assert_eq!(status(&r), Nfs3Status::Acces);
    // Sticky directory: bob cannot remove alice's file.
    let tmp = t.mkdir(&user(0, 0), &t.root(), "tmp", 0o1777);
    t.create(&alice(), &tmp, "mine", 0o644);
    let r = t.call(
        &user(2000, 200),
        Nfs3Call::Remove(RemoveArgs {
            object: DirOpArgs3 {
                dir: tmp.clone(),
                name: name("mine"),
            },
        }),
    );
    assert_eq!(status(&r), Nfs3Status::Perm);
    let r = t.call(
        &alice(),
        Nfs3Call::Remove(RemoveArgs {
            object: DirOpArgs3 {
                dir: tmp,
                name: name("mine"),
            },
        }),
    );
    assert_eq!(status(&r), Nfs3Status::Ok);
}

#[test]
fn stale_after_remove_badhandle_and_xdev() {
    let t = T::new();
    let fh = t.create(&alice(), &t.root(), "gone", 0o644);
    assert!(t.getattr(&fh).is_ok());
    let r = t.call(
        &alice(),
        Nfs3Call::Remove(RemoveArgs {
            object: DirOpArgs3 {
                dir: t.root(),
                name: name("gone"),
            },
        }),
    );
    assert_eq!(status(&r), Nfs3Status::Ok);
    assert_eq!(t.getattr(&fh), Err(Nfs3Status::Stale));
    assert!(matches!(
        t.write(&alice(), &fh, 0, b"x"),
        Nfs3Result::Err(Nfs3Status::Stale, _)
    ));
    assert_eq!(
        t.getattr(&FileHandle(Bytes::from_static(b"garbage"))),
        Err(Nfs3Status::BadHandle)
    );
    assert_eq!(
        t.getattr(&FileHandle::new(SHARE, b"\x4dshort").expect("fits")),
        Err(Nfs3Status::BadHandle)
    );
    let other_share_root = FileHandle::new(SHARE + 1, &t.fs.root().0).expect("fits");
    t.create(&alice(), &t.root(), "a", 0o644);
    let r = t.call(
        &alice(),
        Nfs3Call::Rename(RenameArgs {
            from: DirOpArgs3 {
                dir: t.root(),
                name: name("a"),
            },
            to: DirOpArgs3 {
                dir: other_share_root.clone(),
                name: name("b"),
            },
        }),
    );
    assert_eq!(status(&r), Nfs3Status::XDev);
    let a = t.create(&alice(), &t.root(), "c", 0o644);
    let r = t.call(
        &alice(),
        Nfs3Call::Link(LinkArgs {
            file: a,
            link: DirOpArgs3 {
                dir: other_share_root,
                name: name("l"),
            },
        }),
    );
    assert_eq!(status(&r), Nfs3Status::XDev);
}

#[test]
fn names_are_checked() {
    let t = T::new();
    let long = "n".repeat(256);
    let r = t.call(
        &alice(),
        Nfs3Call::Lookup(LookupArgs {
            what: DirOpArgs3 {
                dir: t.root(),
                name: name(&long),
            },
        }),
    );
    assert_eq!(status(&r), Nfs3Status::NameTooLong);
    for (n, want) in [
        (".", Nfs3Status::Exist),
        ("..", Nfs3Status::Exist),
        ("", Nfs3Status::Inval),
        ("a/b", Nfs3Status::Inval),
    ] {
        let r = t.call(
            &alice(),
            Nfs3Call::Mkdir(MkdirArgs {
                where_: DirOpArgs3 {
                    dir: t.root(),
                    name: name(n),
                },
                attributes: Sattr3::default(),
            }),
        );
        assert_eq!(status(&r), want, "mkdir {n:?}");
    }
    let r = t.call(
        &alice(),
        Nfs3Call::Rmdir(RemoveArgs {
            object: DirOpArgs3 {
                dir: t.root(),
                name: name(".."),
            },
        }),
    );
    assert_eq!(status(&r), Nfs3Status::Inval);
    // `..` of the share root is the root.
    let r = t.call(
        &alice(),
        Nfs3Call::Lookup(LookupArgs {
            what: DirOpArgs3 {
                dir: t.root(),
                name: name(".."),
            },
        }),
    );
    let Nfs3Reply::Lookup(Nfs3Result::Ok(ok)) = r else {
        panic!("{r:?}")
    };
    assert_eq!(ok.object, t.root());
    let r = t.call(
        &alice(),
        Nfs3Call::Lookup(LookupArgs {
            what: DirOpArgs3 {
                dir: t.root(),
                name: name("nothing"),
            },
        }),
    );
    assert!(matches!(
        r,
        Nfs3Reply::Lookup(Nfs3Result::Err(Nfs3Status::NoEnt, Some(_)))
    ));
}

#[test]
fn setattr_guard_mismatch_is_not_sync() {
    let t = T::new();
    let fh = t.create(&alice(), &t.root(), "g", 0o644);
    let attrs = t.getattr(&fh).expect("attrs");
    let set = |guard| {
        t.call(
            &alice(),
            Nfs3Call::Setattr(SetattrArgs {
                object: fh.clone(),
                new_attributes: Sattr3 {
                    size: Some(3),
                    ..Sattr3::default()
                },
                guard: Some(guard),
            }),
        )
    };
    let mut wrong = attrs.ctime;
    wrong.seconds -= 1;
    let r = set(wrong);
    let Nfs3Reply::Setattr(Nfs3Result::Err(Nfs3Status::NotSync, wcc)) = r else {
        panic!("{r:?}")
    };
    assert_eq!(wcc.after.expect("attrs").size, 0);
    assert_eq!(status(&set(attrs.ctime)), Nfs3Status::Ok);
    assert_eq!(t.getattr(&fh).expect("attrs").size, 3);
}

#[test]
fn namespace_procedures() {
    let t = T::new();
    let root = t.root();
    let d = t.mkdir(&alice(), &root, "d", 0o755);
    let f = t.create(&alice(), &d, "f", 0o644);
    // SYMLINK + READLINK.
    let r = t.call(
        &alice(),
        Nfs3Call::Symlink(SymlinkArgs {
            where_: DirOpArgs3 {
                dir: d.clone(),
                name: name("l"),
            },
            symlink_attributes: Sattr3::default(),
            symlink_data: NfsPath3(Bytes::from_static(b"f")),
        }),
    );
    let Nfs3Reply::Symlink(Nfs3Result::Ok(sl)) = r else {
        panic!("{r:?}")
    };
    let r = t.call(
        &alice(),
        Nfs3Call::Readlink(ReadlinkArgs {
            symlink: sl.obj.expect("handle"),
        }),
    );
    let Nfs3Reply::Readlink(Nfs3Result::Ok(rl)) = r else {
        panic!("{r:?}")
    };
    assert_eq!(rl.data.0.as_ref(), b"f");
    let r = t.call(
        &alice(),
        Nfs3Call::Readlink(ReadlinkArgs { symlink: f.clone() }),
    );
    assert_eq!(status(&r), Nfs3Status::Inval);
    // LINK raises nlink.
    let r = t.call(
        &alice(),
        Nfs3Call::Link(LinkArgs {
            file: f.clone(),
            link: DirOpArgs3 {
                dir: root.clone(),
                name: name("hard"),
            },
        }),
    );
    let Nfs3Reply::Link(Nfs3Result::Ok(l)) = r else {
        panic!("{r:?}")
    };
    assert_eq!(l.file_attributes.expect("attrs").nlink, 2);
    assert!(l.linkdir_wcc.before.is_some());
    // RENAME across directories.
    let r = t.call(
        &alice(),
        Nfs3Call::Rename(RenameArgs {
            from: DirOpArgs3 {
                dir: root.clone(),
                name: name("hard"),
            },
            to: DirOpArgs3 {
                dir: d.clone(),
                name: name("moved"),
            },
        }),
    );
    let Nfs3Reply::Rename(Nfs3Result::Ok(w)) = r else {
        panic!("{r:?}")
    };
    assert!(w.fromdir_wcc.after.is_some() && w.todir_wcc.after.is_some());
    // RMDIR of a non-empty directory.
    let r = t.call(
        &alice(),
        Nfs3Call::Rmdir(RemoveArgs {
            object: DirOpArgs3 {
                dir: root.clone(),
                name: name("d"),
            },
        }),
    );
    assert_eq!(status(&r), Nfs3Status::NotEmpty);
    // MKNOD: a FIFO works, a regular file is BADTYPE, a device needs root.
    let mknod = |who: &Creds, n: &str, what| {
        t.call(
            who,
            Nfs3Call::Mknod(MknodArgs {
                where_: DirOpArgs3 {
                    dir: root.clone(),
                    name: name(n),
                },
                what,
            }),
        )
    };
    let r = mknod(&alice(), "fifo", MknodData3::Fifo(Sattr3::default()));
    let Nfs3Reply::Mknod(Nfs3Result::Ok(ok)) = r else {
        panic!("{r:?}")
    };
    assert_eq!(ok.obj_attributes.expect("attrs").ftype, FType3::Fifo);
    assert_eq!(
        status(&mknod(&alice(), "reg", MknodData3::Other(OtherType::Reg))),
        Nfs3Status::BadType
    );
    let dev = MknodData3::Chr(DeviceData3 {
        dev_attributes: Sattr3::default(),
        spec: SpecData3 {
            specdata1: 1,
            specdata2: 3,
        },
    });
    assert_eq!(status(&mknod(&alice(), "null", dev)), Nfs3Status::Perm);
    let r = mknod(&user(0, 0), "null", dev);
    let Nfs3Reply::Mknod(Nfs3Result::Ok(ok)) = r else {
        panic!("{r:?}")
    };
    assert_eq!(ok.obj_attributes.expect("attrs").rdev.specdata2, 3);
    // READ of a directory.
    let r = t.call(
        &alice(),
        Nfs3Call::Read(ReadArgs {
            file: d,
            offset: 0,
            count: 1,
        }),
    );
    assert_eq!(status(&r), Nfs3Status::IsDir);
}

#[test]
fn fsinfo_fsstat_pathconf() {
    let t = T::new();
    let r = t.call(&alice(), Nfs3Call::Fsinfo(FsrootArgs { fsroot: t.root() }));
    let Nfs3Reply::Fsinfo(Nfs3Result::Ok(i)) = r else {
        panic!("{r:?}")
    };
    assert_eq!(
        (i.rtmax, i.wtmax, i.rtpref, i.wtpref),
        (1 << 20, 1 << 20, 1 << 20, 1 << 20)
    );
    assert_eq!(i.dtpref, 64 << 10);
    assert_eq!(i.maxfilesize, (1u64 << 63) - 1);
    assert_eq!((i.time_delta.seconds, i.time_delta.nseconds), (0, 1));
    assert_eq!(
        i.properties,
        FSF3_LINK | FSF3_SYMLINK | FSF3_HOMOGENEOUS | FSF3_CANSETTIME
    );
    let r = t.call(&alice(), Nfs3Call::Fsstat(FsrootArgs { fsroot: t.root() }));
    let Nfs3Reply::Fsstat(Nfs3Result::Ok(s)) = r else {
        panic!("{r:?}")
    };
    let want = t.fs.fsstat(&t.fs.root()).expect("fsstat");
    assert_eq!(
        (s.tbytes, s.fbytes, s.tfiles),
        (want.total_bytes, want.free_bytes, want.total_files)
    );
    let r = t.call(
        &alice(),
        Nfs3Call::Pathconf(PathconfArgs { object: t.root() }),
    );
    let Nfs3Reply::Pathconf(Nfs3Result::Ok(p)) = r else {
        panic!("{r:?}")
    };
    assert_eq!(p.name_max, 255);
    assert!(p.no_trunc && p.chown_restricted && !p.case_insensitive && p.case_preserving);
    assert_eq!(status(&t.call(&alice(), Nfs3Call::Null)), Nfs3Status::Ok);
}

/// Lists `dir` to the end with READDIR (`plus` = None) or READDIRPLUS (`plus` = dircount),
/// checking every reply against its byte budget; returns the names in order.
fn list_all(t: &T, dir: &FileHandle, count: u32, plus: Option<u32>) -> Vec<Vec<u8>> {
    let mut seen = Vec::new();
    let (mut cookie, mut verf) = (0, [0u8; 8]);
    for _ in 0..100_000 {
        let call = match plus {
            None => Nfs3Call::Readdir(ReaddirArgs {
                dir: dir.clone(),
                cookie,
                cookieverf: verf,
                count,
            }),
            Some(dircount) => Nfs3Call::Readdirplus(ReaddirplusArgs {
                dir: dir.clone(),
                cookie,
                cookieverf: verf,
                dircount,
                maxcount: count,
            }),
        };
        let reply = t.call(&alice(), call);
        let mut out = BytesMut::new();
        reply.encode(&mut out);
        assert!(out.len() <= count as usize, "{} > {count}", out.len());
        let (names, last, eof, v): (Vec<Vec<u8>>, Option<u64>, bool, [u8; 8]) = match reply {
            Nfs3Reply::Readdir(Nfs3Result::Ok(ok)) => (
                ok.entries.iter().map(|e| e.name.0.to_vec()).collect(),
                ok.entries.last().map(|e| e.cookie),
                ok.eof,
                ok.cookieverf,
            ),
            Nfs3Reply::Readdirplus(Nfs3Result::Ok(ok)) => (
                ok.entries.iter().map(|e| e.name.0.to_vec()).collect(),
                ok.entries.last().map(|e| e.cookie),
                ok.eof,
                ok.cookieverf,
            ),
            other => panic!("count {count} plus {plus:?}: {other:?}"),
        };
        seen.extend(names);
        if eof {
            return seen;
        }
        cookie = last.expect("a page that is not the last has entries");
        verf = v;
    }
    panic!("listing did not end");
}

#[test]
fn paging_is_exact_for_many_budgets() {
    let t = T::new();
    let (dir, names) = t.big_dir(300);
    let mut expected = names;
    expected.insert(b".".to_vec());
    expected.insert(b"..".to_vec());
    let check = |seen: Vec<Vec<u8>>, what: &str| {
        let unique: BTreeSet<Vec<u8>> = seen.iter().cloned().collect();
        assert_eq!(unique.len(), seen.len(), "{what}: an entry twice");
        assert_eq!(unique, expected, "{what}: entries lost");
    };
    for count in [200, 233, 512, 777, 4096, 65_536, 1 << 20, u32::MAX] {
        check(list_all(&t, &dir, count, None), &format!("READDIR {count}"));
    }
    for (dircount, maxcount) in [
        (0, 4096),
        (100, 300),
        (512, 1000),
        (8192, 65_536),
        (u32::MAX, u32::MAX),
    ] {
        check(
            list_all(&t, &dir, maxcount, Some(dircount)),
            &format!("READDIRPLUS {dircount}/{maxcount}"),
        );
    }
    // Empty directory: one page with `.` and `..`, eof.
    let empty = t.mkdir(&alice(), &t.root(), "empty", 0o755);
    assert_eq!(
        list_all(&t, &empty, 512, None),
        vec![b".".to_vec(), b"..".to_vec()]
    );
}

/// Arbitrary calls, with their handles and names drawn from a live tree so they reach the
/// backend: the executor never panics, answers the procedure asked, and its replies
/// encode and decode.
#[test]
fn arbitrary_calls_on_a_live_tree_never_panic() {
    use arbitrary::{Arbitrary, Unstructured};
    let t = T::new();
    let root = t.root();
    let d = t.mkdir(&alice(), &root, "d", 0o755);
    let f = t.create(&alice(), &d, "f", 0o644);
    t.write(&alice(), &f, 0, b"some data");
    let gone = t.create(&alice(), &root, "gone", 0o644);
    t.call(
        &alice(),
        Nfs3Call::Remove(RemoveArgs {
            object: DirOpArgs3 {
                dir: root.clone(),
                name: name("gone"),
            },
        }),
    );
    let handles = [
        root,
        d,
        f,
        gone,
        FileHandle(Bytes::from_static(b"\x01junk")),
    ];
    let names = ["f", "d", "x", ".", "..", "gone", "new", ""];
    let users = [alice(), user(0, 0), user(3000, 300)];
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut answered = [0u32; 22];
    for _ in 0..20_000 {
        let raw: Vec<u8> = (0..256).map(|_| next() as u8).collect();
        let Ok(mut call) = Nfs3Call::arbitrary(&mut Unstructured::new(&raw)) else {
            continue;
        };
        let mut pick = || next() as usize;
        let fix_fh = |fh: &mut FileHandle, k: usize| *fh = handles[k % handles.len()].clone();
        let fix_dir = |d: &mut DirOpArgs3, k: usize, j: usize| {
            d.dir = handles[k % handles.len()].clone();
            d.name = name(names[j % names.len()]);
        };
        match &mut call {
            Nfs3Call::Null => {}
            Nfs3Call::Getattr(a) => fix_fh(&mut a.object, pick()),
            Nfs3Call::Setattr(a) => fix_fh(&mut a.object, pick()),
            Nfs3Call::Lookup(a) => fix_dir(&mut a.what, pick(), pick()),
            Nfs3Call::Access(a) => fix_fh(&mut a.object, pick()),
            Nfs3Call::Readlink(a) => fix_fh(&mut a.symlink, pick()),
            Nfs3Call::Read(a) => fix_fh(&mut a.file, pick()),
            Nfs3Call::Write(a) => fix_fh(&mut a.file, pick()),
            Nfs3Call::Create(a) => fix_dir(&mut a.where_, pick(), pick()),
            Nfs3Call::Mkdir(a) => fix_dir(&mut a.where_, pick(), pick()),
            Nfs3Call::Symlink(a) => fix_dir(&mut a.where_, pick(), pick()),
            Nfs3Call::Mknod(a) => fix_dir(&mut a.where_, pick(), pick()),
            Nfs3Call::Remove(a) | Nfs3Call::Rmdir(a) => fix_dir(&mut a.object, pick(), pick()),
            Nfs3Call::Rename(a) => {
                fix_dir(&mut a.from, pick(), pick());
                fix_dir(&mut a.to, pick(), pick());
            }
            Nfs3Call::Link(a) => {
                fix_fh(&mut a.file, pick());
                fix_dir(&mut a.link, pick(), pick());
            }
            Nfs3Call::Readdir(a) => fix_fh(&mut a.dir, pick()),
            Nfs3Call::Readdirplus(a) => fix_fh(&mut a.dir, pick()),
            Nfs3Call::Fsstat(a) | Nfs3Call::Fsinfo(a) => fix_fh(&mut a.fsroot, pick()),
            Nfs3Call::Pathconf(a) => fix_fh(&mut a.object, pick()),
            Nfs3Call::Commit(a) => fix_fh(&mut a.file, pick()),
        }
        let who = &users[pick() % users.len()];
        let reply = t.call(who, call.clone());
        assert_eq!(reply.procedure(), call.procedure());
        answered[call.procedure() as usize] += 1;
    }
    assert!(answered.iter().all(|&n| n > 0), "{answered:?}");
}

// ---------------------------------------------------------------------------------------
// POSIX ownership and set-id rules (what pjdfstest checks through the Linux kernel client:
// chmod/00.t, chmod/12.t, chown/00.t, chown/07.t, rename/09.t), on every backend: the
// in-memory one and LocalFs on a temporary directory (LocalFs acts as root, so the kernel
// under it never applies these rules for our callers).

/// A share on one backend.
struct On {
    vfs: Box<dyn Vfs>,
    exec: Executor,
    what: &'static str,
    _dir: Option<TempDir>,
}

/// A unique empty directory (mode 0777) under the system temp dir, removed on drop.
struct TempDir(std::path::PathBuf);

// A test fixture of the LocalFs runs: real directories are the point here.
#[allow(clippy::disallowed_methods)]
impl TempDir {
    fn new(tag: &str) -> Self {
        use std::os::unix::fs::PermissionsExt;
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "janus-exec-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&p).expect("create temp dir");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        TempDir(p)
    }
}

#[allow(clippy::disallowed_methods)]
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `check` on MemoryFs, then on LocalFs when running as root (only root can give
/// files to other users; otherwise there is nothing LocalFs-specific to check).
fn on_each_backend(tag: &str, check: impl Fn(&On)) {
    let clock = VirtualClock::new(Timestamp {
        secs: 1_700_000_000,
        nsecs: 0,
    });
    let config = MemoryFsConfig {
        root_mode: 0o777,
        ..MemoryFsConfig::default()
    };
    let memory = MemoryFs::with_virtual_clock(config, clock);
    check(&On {
        vfs: Box::new(memory),
        exec: Executor::new(VERF),
        what: "memory",
        _dir: None,
    });
    if !rustix::process::geteuid().is_root() {
        eprintln!("not root: LocalFs cannot give files to other users; checked MemoryFs only");
        return;
    }
    let dir = TempDir::new(tag);
    let local = vfs::local::LocalFs::open(&dir.0).expect("open LocalFs");
    check(&On {
        vfs: Box::new(local),
        exec: Executor::new(VERF),
        what: "local",
        _dir: Some(dir),
    });
}

fn root_user() -> Creds {
    user(0, 0)
}

/// `uid` with primary group `gid` and supplementary groups `gids`.
fn member(uid: u32, gid: u32, gids: &[u32]) -> Creds {
    Creds {
        uid,
        gid,
        gids: gids.to_vec(),
    }
}

fn sattr_owner(uid: Option<u32>, gid: Option<u32>) -> Sattr3 {
    Sattr3 {
        uid,
        gid,
        ..Sattr3::default()
    }
}

impl On {
    fn root(&self) -> FileHandle {
        FileHandle::new(SHARE, &self.vfs.root().0).expect("fits")
    }

    fn call(&self, creds: &Creds, call: Nfs3Call) -> Nfs3Reply {
        self.exec.execute(self.vfs.as_ref(), SHARE, creds, &call)
    }

    fn make(&self, creds: &Creds, dir: &FileHandle, n: &str, call: Nfs3Call) -> FileHandle {
        match self.call(creds, call) {
            Nfs3Reply::Create(Nfs3Result::Ok(ok))
            | Nfs3Reply::Mkdir(Nfs3Result::Ok(ok))
            | Nfs3Reply::Mknod(Nfs3Result::Ok(ok)) => ok.obj.expect("handle"),
            other => panic!("{}: make {n} in {dir:?}: {other:?}", self.what),
        }
    }

    fn create(&self, creds: &Creds, dir: &FileHandle, n: &str, mode: u32) -> FileHandle {
        let where_ = DirOpArgs3 {
            dir: dir.clone(),
            name: name(n),
        };
        let how = CreateHow3::Guarded(sattr_mode(mode));
        self.make(creds, dir, n, Nfs3Call::Create(CreateArgs { where_, how }))
    }

    fn mkdir(&self, creds: &Creds, dir: &FileHandle, n: &str, mode: u32) -> FileHandle {
        let where_ = DirOpArgs3 {
            dir: dir.clone(),
            name: name(n),
        };
        let attributes = sattr_mode(mode);
        self.make(
            creds,
            dir,
            n,
            Nfs3Call::Mkdir(MkdirArgs { where_, attributes }),
        )
    }

    fn mkfifo(&self, creds: &Creds, dir: &FileHandle, n: &str, mode: u32) -> FileHandle {
        let where_ = DirOpArgs3 {
            dir: dir.clone(),
            name: name(n),
        };
        let what = MknodData3::Fifo(sattr_mode(mode));
        self.make(creds, dir, n, Nfs3Call::Mknod(MknodArgs { where_, what }))
    }

    fn setattr(&self, creds: &Creds, fh: &FileHandle, s: Sattr3) -> Nfs3Status {
        status(&self.call(
            creds,
            Nfs3Call::Setattr(SetattrArgs {
                object: fh.clone(),
                new_attributes: s,
                guard: None,
            }),
        ))
    }

    /// Creates `n` in `dir` as root with exactly `mode`, owned by `uid`/`gid`.
    fn file_of(&self, dir: &FileHandle, n: &str, mode: u32, uid: u32, gid: u32) -> FileHandle {
        let fh = self.create(&root_user(), dir, n, 0o600);
        self.give(&fh, mode, uid, gid);
        fh
    }

    /// chown then chmod as root (chown may drop set-id bits, so the mode comes last).
    fn give(&self, fh: &FileHandle, mode: u32, uid: u32, gid: u32) {
        let r = self.setattr(&root_user(), fh, sattr_owner(Some(uid), Some(gid)));
        assert_eq!(r, Nfs3Status::Ok, "{}: chown", self.what);
        let r = self.setattr(&root_user(), fh, sattr_mode(mode));
        assert_eq!(r, Nfs3Status::Ok, "{}: chmod", self.what);
        assert_eq!(self.owner_mode(fh), (mode, uid, gid), "{}: give", self.what);
    }

    /// (mode, uid, gid) as GETATTR reports them.
    fn owner_mode(&self, fh: &FileHandle) -> (u32, u32, u32) {
        match self.call(
            &root_user(),
            Nfs3Call::Getattr(GetattrArgs { object: fh.clone() }),
        ) {
            Nfs3Reply::Getattr(Nfs3Result::Ok(ok)) => {
                let a = ok.obj_attributes;
                (a.mode, a.uid, a.gid)
            }
            other => panic!("{}: getattr: {other:?}", self.what),
        }
    }

    fn mode(&self, fh: &FileHandle) -> u32 {
        self.owner_mode(fh).0
    }

    /// A FILE_SYNC WRITE of one byte; the mode in its post-op attributes.
    fn write(&self, creds: &Creds, fh: &FileHandle) -> u32 {
        match self.call(
            creds,
            Nfs3Call::Write(WriteArgs {
                file: fh.clone(),
                offset: 0,
                stable: StableHow::FileSync,
                data: Bytes::from_static(b"x"),
            }),
        ) {
            Nfs3Reply::Write(Nfs3Result::Ok(ok)) => ok.file_wcc.after.expect("post-op").mode,
            other => panic!("{}: write: {other:?}", self.what),
        }
    }

    fn rename(
        &self,
        creds: &Creds,
        from: (&FileHandle, &str),
        to: (&FileHandle, &str),
    ) -> Nfs3Status {
        status(&self.call(
            creds,
            Nfs3Call::Rename(RenameArgs {
                from: DirOpArgs3 {
                    dir: from.0.clone(),
                    name: name(from.1),
                },
                to: DirOpArgs3 {
                    dir: to.0.clone(),
                    name: name(to.1),
                },
            }),
        ))
    }

    fn exists(&self, dir: &FileHandle, n: &str) -> bool {
        let r = self.call(
            &root_user(),
            Nfs3Call::Lookup(LookupArgs {
                what: DirOpArgs3 {
                    dir: dir.clone(),
                    name: name(n),
                },
            }),
        );
        match status(&r) {
            Nfs3Status::Ok => true,
            Nfs3Status::NoEnt => false,
            s => panic!("{}: lookup {n}: {s:?}", self.what),
        }
    }
}

/// chmod/12.t: a WRITE by anyone but root removes S_ISUID, and S_ISGID when the group may
/// execute or the writer is not in the group (Linux `file_remove_privs`); so does SETATTR
/// size; root keeps them. The WRITE reply already shows the new mode.
#[test]
fn writes_by_non_root_drop_set_id_bits() {
    on_each_backend("write-setid", |t| {
        let nobody = user(65534, 65534);
        let d = t.mkdir(&root_user(), &t.root(), "d", 0o755);
        for (i, mode) in [0o4777, 0o2777, 0o6777].into_iter().enumerate() {
            let f = t.file_of(&d, &format!("f{i}"), mode, 0, 0);
            assert_eq!(t.write(&nobody, &f), 0o777, "{}: {mode:o}", t.what);
            assert_eq!(t.mode(&f), 0o777, "{}: {mode:o}", t.what);
        }
        // The owner is no exception.
        let own = t.file_of(&d, "own", 0o4755, 65534, 65534);
        assert_eq!(t.write(&nobody, &own), 0o755, "{}", t.what);
        // Root (CAP_FSETID) keeps them.
        let rootw = t.file_of(&d, "rootw", 0o6777, 65534, 65534);
        assert_eq!(t.write(&root_user(), &rootw), 0o6777, "{}", t.what);
        // S_ISGID without group execute stays for a writer in the group, not for others.
        let lock = t.file_of(&d, "lock", 0o2666, 0, 4000);
        assert_eq!(
            t.write(&member(65534, 1, &[4000]), &lock),
            0o2666,
            "{}",
            t.what
        );
        assert_eq!(t.write(&nobody, &lock), 0o666, "{}", t.what);
        // A WRITE refused for lack of permission changes nothing.
        let closed = t.file_of(&d, "closed", 0o4755, 0, 0);
        let r = t.call(
            &nobody,
            Nfs3Call::Write(WriteArgs {
                file: closed.clone(),
                offset: 0,
                stable: StableHow::FileSync,
                data: Bytes::from_static(b"x"),
            }),
        );
        assert_eq!(status(&r), Nfs3Status::Acces, "{}", t.what);
        assert_eq!(t.mode(&closed), 0o4755, "{}", t.what);
        // Write-behind makes the same change before it answers.
        let wb = t.file_of(&d, "wb", 0o6777, 0, 0);
        let args = WriteArgs {
            file: wb.clone(),
            offset: 0,
            stable: StableHow::Unstable,
            data: Bytes::from_static(b"x"),
        };
        if let Some(r) = t.exec.write_behind(t.vfs.as_ref(), SHARE, &nobody, &args) {
            assert!(r.is_ok(), "{}: write-behind refused", t.what);
            assert_eq!(t.mode(&wb), 0o777, "{}: write-behind", t.what);
        }
        // Truncation (SETATTR size) by a non-root writer, and by root.
        let trunc = Sattr3 {
            size: Some(0),
            ..Sattr3::default()
        };
        let tf = t.file_of(&d, "trunc", 0o6777, 0, 0);
        assert_eq!(t.setattr(&nobody, &tf, trunc), Nfs3Status::Ok, "{}", t.what);
        assert_eq!(t.mode(&tf), 0o777, "{}: truncate", t.what);
        let tr = t.file_of(&d, "trunc-root", 0o6777, 0, 0);
        assert_eq!(
            t.setattr(&root_user(), &tr, trunc),
            Nfs3Status::Ok,
            "{}",
            t.what
        );
        assert_eq!(t.mode(&tr), 0o6777, "{}: truncate by root", t.what);
    });
}

/// chmod/00.t: chmod by an owner who is not in the file's group drops S_ISGID (POSIX
/// chmod, Linux `setattr_prepare`); an owner in the group, or root, keeps it.
#[test]
fn chmod_by_owner_outside_the_group_drops_sgid() {
    on_each_backend("chmod-sgid", |t| {
        let d = t.mkdir(&root_user(), &t.root(), "d", 0o755);
        let f = t.file_of(&d, "f", 0o755, 65534, 65534);
        let in_group = user(65534, 65534);
        assert_eq!(t.setattr(&in_group, &f, sattr_mode(0o2755)), Nfs3Status::Ok);
        assert_eq!(t.mode(&f), 0o2755, "{}", t.what);
        let supplementary = member(65534, 1, &[65534]);
        assert_eq!(
            t.setattr(&supplementary, &f, sattr_mode(0o6755)),
            Nfs3Status::Ok
        );
        assert_eq!(t.mode(&f), 0o6755, "{}", t.what);
        let outside = user(65534, 65533);
        assert_eq!(t.setattr(&outside, &f, sattr_mode(0o2755)), Nfs3Status::Ok);
        assert_eq!(t.mode(&f), 0o755, "{}", t.what);
        assert_eq!(t.setattr(&outside, &f, sattr_mode(0o4755)), Nfs3Status::Ok);
        assert_eq!(t.mode(&f), 0o4755, "{}: S_ISUID is not concerned", t.what);
        // Directories too (setattr_prepare looks at no file type).
        let sub = t.mkdir(&root_user(), &d, "sub", 0o755);
        t.give(&sub, 0o755, 65534, 65534);
        assert_eq!(
            t.setattr(&outside, &sub, sattr_mode(0o2755)),
            Nfs3Status::Ok
        );
        assert_eq!(t.mode(&sub), 0o755, "{}: dir", t.what);
        assert_eq!(
            t.setattr(&root_user(), &f, sattr_mode(0o2755)),
            Nfs3Status::Ok
        );
        assert_eq!(t.mode(&f), 0o2755, "{}: root", t.what);
    });
}

/// chown/07.t: only root changes the owner; a non-owner may not even "change" it to the
/// current values (Linux `chown_ok`/`chgrp_ok`); the owner may keep its uid and pick the
/// current group or one it is in.
#[test]
fn chown_rules_of_linux() {
    on_each_backend("chown-rules", |t| {
        let d = t.mkdir(&root_user(), &t.root(), "d", 0o755);
        let f = t.file_of(&d, "f", 0o644, 65534, 65534);
        let owner = member(65534, 65534, &[65532]);
        let other = user(65533, 65533);
        for (who, uid, gid) in [
            (&other, Some(65534), Some(65534)),
            (&other, Some(65534), None),
            (&other, None, Some(65534)),
            (&other, Some(65533), Some(65533)),
            (&owner, Some(65533), Some(65533)),
            (&owner, Some(65533), None),
            (&owner, None, Some(65533)),
        ] {
            assert_eq!(
                t.setattr(who, &f, sattr_owner(uid, gid)),
                Nfs3Status::Perm,
                "{}: uid {} chown {uid:?} {gid:?}",
                t.what,
                who.uid
            );
            assert_eq!(t.owner_mode(&f), (0o644, 65534, 65534), "{}", t.what);
        }
        for (uid, gid) in [
            (Some(65534), Some(65534)),
            (Some(65534), None),
            (None, Some(65532)),
            (Some(65534), Some(65534)),
        ] {
            assert_eq!(t.setattr(&owner, &f, sattr_owner(uid, gid)), Nfs3Status::Ok);
        }
        assert_eq!(t.owner_mode(&f), (0o644, 65534, 65534), "{}", t.what);
        assert_eq!(
            t.setattr(&root_user(), &f, sattr_owner(Some(1), Some(2))),
            Nfs3Status::Ok
        );
        assert_eq!(t.owner_mode(&f), (0o644, 1, 2), "{}", t.what);
    });
}

/// chown/00.t: a new owner or group removes S_ISUID, and S_ISGID when the group may
/// execute, from anything but a directory, whoever asks (Linux `chown_common`).
#[test]
fn chown_drops_set_id_bits_of_non_directories() {
    on_each_backend("chown-setid", |t| {
        let d = t.mkdir(&root_user(), &t.root(), "d", 0o755);
        let owner = member(65534, 65533, &[65532]);
        let file = t.file_of(&d, "f", 0o6555, 65534, 65533);
        assert_eq!(
            t.setattr(&owner, &file, sattr_owner(Some(65534), Some(65532))),
            Nfs3Status::Ok
        );
        assert_eq!(t.owner_mode(&file), (0o555, 65534, 65532), "{}", t.what);
        t.give(&file, 0o6555, 65534, 65532);
        assert_eq!(
            t.setattr(&owner, &file, sattr_owner(None, Some(65533))),
            Nfs3Status::Ok
        );
        assert_eq!(t.owner_mode(&file), (0o555, 65534, 65533), "{}", t.what);
        // Root too.
        t.give(&file, 0o6555, 65534, 65533);
        assert_eq!(
            t.setattr(&root_user(), &file, sattr_owner(Some(65532), Some(65531))),
            Nfs3Status::Ok
        );
        assert_eq!(t.owner_mode(&file), (0o555, 65532, 65531), "{}", t.what);
        // S_ISGID without group execute (a locking mark) stays.
        t.give(&file, 0o6545, 65534, 65533);
        assert_eq!(
            t.setattr(&owner, &file, sattr_owner(Some(65534), None)),
            Nfs3Status::Ok
        );
        assert_eq!(t.mode(&file), 0o2545, "{}", t.what);
        // Other non-directories too.
        let fifo = t.mkfifo(&root_user(), &d, "p", 0o644);
        t.give(&fifo, 0o6555, 65534, 65533);
        assert_eq!(
            t.setattr(&owner, &fifo, sattr_owner(None, Some(65532))),
            Nfs3Status::Ok
        );
        assert_eq!(
            t.owner_mode(&fifo),
            (0o555, 65534, 65532),
            "{}: fifo",
            t.what
        );
        // Directories keep them (what Linux does; pjdfstest marks it TODO).
        let sub = t.mkdir(&root_user(), &d, "sub", 0o755);
        t.give(&sub, 0o6555, 65534, 65533);
        assert_eq!(
            t.setattr(&owner, &sub, sattr_owner(Some(65534), Some(65532))),
            Nfs3Status::Ok
        );
        assert_eq!(
            t.owner_mode(&sub),
            (0o6555, 65534, 65532),
            "{}: dir",
            t.what
        );
    });
}

/// rename/09.t: in a sticky directory only root, the directory's owner or the entry's
/// owner may rename the entry away or replace it; moving a directory to another parent
/// also needs `w` on it (its `..` changes), which renaming it in place does not.
#[test]
fn rename_in_sticky_directories_and_moving_directories() {
    on_each_backend("rename-sticky", |t| {
        let me = user(65534, 65534);
        let top = t.mkdir(&root_user(), &t.root(), "top", 0o755);
        let sticky = t.mkdir(&root_user(), &top, "sticky", 0o755);
        t.give(&sticky, 0o1777, 65534, 65534);
        let plain = t.mkdir(&root_user(), &top, "plain", 0o755);
        t.give(&plain, 0o755, 65534, 65534);

        // I own the sticky directory but not the directory in it: in place yes, away no.
        for id in [0, 65533] {
            let sub = t.mkdir(&root_user(), &sticky, "sub", 0o755);
            t.give(&sub, 0o755, id, id);
            assert_eq!(
                t.rename(&me, (&sticky, "sub"), (&plain, "x")),
                Nfs3Status::Acces
            );
            assert!(
                t.exists(&sticky, "sub") && !t.exists(&plain, "x"),
                "{}",
                t.what
            );
            assert_eq!(
                t.rename(&me, (&sticky, "sub"), (&sticky, "y")),
                Nfs3Status::Ok
            );
            assert_eq!(
                t.rename(&root_user(), (&sticky, "y"), (&sticky, "sub")),
                Nfs3Status::Ok
            );
            // Onto an empty directory of mine elsewhere: still no.
            t.mkdir(&me, &plain, "x", 0o755);
            assert_eq!(
                t.rename(&me, (&sticky, "sub"), (&plain, "x")),
                Nfs3Status::Acces
            );
            assert!(
                t.exists(&sticky, "sub") && t.exists(&plain, "x"),
                "{}",
                t.what
            );
            let rm = |dir: &FileHandle, n: &str| {
                let r = t.call(
                    &root_user(),
                    Nfs3Call::Rmdir(RemoveArgs {
                        object: DirOpArgs3 {
                            dir: dir.clone(),
                            name: name(n),
                        },
                    }),
                );
                assert_eq!(status(&r), Nfs3Status::Ok, "{}: rmdir {n}", t.what);
            };
            rm(&plain, "x");
            rm(&sticky, "sub");
        }
        // My own directory moves anywhere.
        t.mkdir(&me, &sticky, "mine", 0o755);
        assert_eq!(
            t.rename(&me, (&sticky, "mine"), (&plain, "mine")),
            Nfs3Status::Ok
        );

        // Neither the sticky directory nor the entry is mine: PERM, nothing moves.
        t.give(&sticky, 0o1777, 65533, 65533);
        let f = t.file_of(&sticky, "theirs", 0o666, 0, 0);
        t.file_of(&plain, "target", 0o644, 65534, 65534);
        assert_eq!(
            t.rename(&me, (&sticky, "theirs"), (&plain, "target")),
            Nfs3Status::Perm
        );
        assert_eq!(t.owner_mode(&f), (0o666, 0, 0), "{}", t.what);
        assert!(t.exists(&plain, "target"), "{}", t.what);
        // Replacing someone else's entry in a sticky target directory: PERM too.
        let mine = t.file_of(&plain, "mine-file", 0o644, 65534, 65534);
        assert_eq!(
            t.rename(&me, (&plain, "mine-file"), (&sticky, "theirs")),
            Nfs3Status::Perm
        );
        assert_eq!(t.owner_mode(&mine), (0o644, 65534, 65534), "{}", t.what);
        // ... and my own entry there: yes.
        t.file_of(&sticky, "my-entry", 0o644, 65534, 65534);
        assert_eq!(
            t.rename(&me, (&plain, "mine-file"), (&sticky, "my-entry")),
            Nfs3Status::Ok
        );
        // Root may do all of it.
        assert_eq!(
            t.rename(&root_user(), (&sticky, "theirs"), (&plain, "target")),
            Nfs3Status::Ok
        );
    });
}

/// CREATE UNCHECKED of an existing file with a size truncates it (RFC 1813 §3.3.8), with
/// the rules of SETATTR size: a non-owner needs write permission, and a non-root caller's
/// truncation removes S_ISUID/S_ISGID as a WRITE does; without a size nothing changes.
#[test]
fn create_unchecked_truncation_drops_set_id_bits() {
    on_each_backend("create-unchecked-setid", |t| {
        let nobody = user(65534, 65534);
        let d = t.mkdir(&root_user(), &t.root(), "d", 0o777);
        let unchecked = |creds: &Creds, n: &str, size: Option<u64>| {
            let how = CreateHow3::Unchecked(Sattr3 {
                size,
                ..Sattr3::default()
            });
            let where_ = DirOpArgs3 {
                dir: d.clone(),
                name: name(n),
            };
            status(&t.call(creds, Nfs3Call::Create(CreateArgs { where_, how })))
        };
        let f = t.file_of(&d, "f", 0o6777, 0, 0);
        assert_eq!(t.write(&root_user(), &f), 0o6777, "{}", t.what);
        assert_eq!(unchecked(&nobody, "f", None), Nfs3Status::Ok, "{}", t.what);
        assert_eq!(t.mode(&f), 0o6777, "{}: no size, no change", t.what);
        assert_eq!(
            unchecked(&nobody, "f", Some(0)),
            Nfs3Status::Ok,
            "{}",
            t.what
        );
        assert_eq!(t.mode(&f), 0o777, "{}: truncated by nobody", t.what);
        // Root keeps them (CAP_FSETID).
        let r = t.file_of(&d, "r", 0o6777, 65534, 65534);
        assert_eq!(unchecked(&root_user(), "r", Some(0)), Nfs3Status::Ok);
        assert_eq!(t.mode(&r), 0o6777, "{}: truncated by root", t.what);
        // A caller who may not write the file may not truncate it either.
        let closed = t.file_of(&d, "closed", 0o4755, 0, 0);
        assert_eq!(t.write(&root_user(), &closed), 0o4755, "{}", t.what);
        assert_eq!(
            unchecked(&nobody, "closed", Some(0)),
            Nfs3Status::Acces,
            "{}",
            t.what
        );
        assert_eq!(t.mode(&closed), 0o4755, "{}", t.what);
        let size = |fh: &FileHandle| match t.call(
            &root_user(),
            Nfs3Call::Getattr(GetattrArgs { object: fh.clone() }),
        ) {
            Nfs3Reply::Getattr(Nfs3Result::Ok(ok)) => ok.obj_attributes.size,
            other => panic!("{}: getattr: {other:?}", t.what),
        };
        assert_eq!(size(&closed), 1, "{}: not truncated", t.what);
        assert_eq!(size(&f), 0, "{}", t.what);
    });
}
