//! Backends are called from several worker threads at once: concurrent creates, writes
//! to disjoint ranges of one file, renames and listings must neither deadlock nor lose
//! data, on MemoryFs and on LocalFs (with a tiny fd cache, so eviction races too).

mod vfs_suite;

use std::sync::Arc;
use std::thread;

use vfs::local::{LocalFs, LocalFsOptions};
use vfs::memory::MemoryFs;
use vfs::{CreateHow, RenameMode, SetAttrs, Stability, Vfs};
use vfs_suite::{caller, TempDir};

const THREADS: usize = 4;
const FILES: usize = 40;
const CHUNK: usize = 16 << 10;

fn hammer(fs: Arc<dyn Vfs>) {
    let root = fs.root();
    let c = caller();
    let attrs = SetAttrs {
        mode: Some(0o644),
        ..SetAttrs::default()
    };
    let dir_attrs = SetAttrs {
        mode: Some(0o755),
        ..SetAttrs::default()
    };
    let (shared_dir, _) = fs.mkdir(&root, b"shared", &dir_attrs, &c).expect("mkdir");
    let (big, _) = fs
        .create(&root, b"big", CreateHow::Guarded, &attrs, &c)
        .expect("create big");
    let mut workers = Vec::new();
    for t in 0..THREADS {
        let fs = fs.clone();
        let (root, shared_dir, big, c) = (root.clone(), shared_dir.clone(), big.clone(), c.clone());
        workers.push(thread::spawn(move || {
            let own = format!("t{t}");
            let (dir, _) = fs
                .mkdir(&root, own.as_bytes(), &SetAttrs::default(), &c)
                .expect("mkdir own");
            for i in 0..FILES {
                let name = format!("f{i}");
                let (h, _) = fs
                    .create(
                        &dir,
                        name.as_bytes(),
                        CreateHow::Guarded,
                        &SetAttrs::default(),
                        &c,
                    )
                    .expect("create");
                let data = vec![(t * FILES + i) as u8; 3000];
                fs.write(&h, 0, &data, Stability::Unstable).expect("write");
                // Disjoint range of the shared file.
                let off = ((t * FILES + i) * CHUNK) as u64;
                fs.write(&big, off, &vec![t as u8 + 1; CHUNK], Stability::Unstable)
                    .expect("write big");
                let moved = format!("{own}-{name}");
                fs.rename(
                    &dir,
                    name.as_bytes(),
                    &shared_dir,
                    moved.as_bytes(),
                    RenameMode::Replace,
                )
                .expect("rename");
                let (h2, _) = fs.lookup(&shared_dir, moved.as_bytes()).expect("lookup");
                assert_eq!(h2, h, "a rename keeps the handle");
                assert_eq!(fs.read(&h, 0, 5000).expect("read").0, data);
                if i % 2 == 0 {
                    fs.remove(&shared_dir, moved.as_bytes()).expect("remove");
                }
                let _ = fs.readdir(&shared_dir, 0, 7).expect("readdir");
            }
            fs.rmdir(&root, own.as_bytes()).expect("rmdir own");
        }));
    }
    for w in workers {
        w.join().expect("worker panicked");
    }
    let mut names = Vec::new();
    let mut cookie = 0;
    loop {
        let page = fs.readdir(&shared_dir, cookie, 13).expect("readdir");
        names.extend(page.entries.iter().map(|e| e.name.clone()));
        if page.eof {
            break;
        }
        cookie = page.entries.last().expect("entries").cookie;
    }
    assert_eq!(names.len(), THREADS * FILES / 2);
    fs.commit(&big).expect("commit");
    for t in 0..THREADS {
        for i in 0..FILES {
            let off = ((t * FILES + i) * CHUNK) as u64;
            let (d, _) = fs.read(&big, off, CHUNK as u32).expect("read big");
            assert!(d.len() == CHUNK && d.iter().all(|b| *b == t as u8 + 1));
        }
    }
}

#[test]
fn memory_fs_under_concurrency() {
    hammer(Arc::new(MemoryFs::default()));
}

#[test]
fn local_fs_under_concurrency() {
    let dir = TempDir::new("concurrency");
    let opts = LocalFsOptions {
        open_files: 8,
        ..LocalFsOptions::default()
    };
    hammer(Arc::new(
        LocalFs::with_options(dir.path(), opts).expect("open"),
    ));
}
