//! Differential test: random operation sequences run on MemoryFs and on LocalFs (over a
//! fresh temporary directory) must give the same results, error for error, and leave the
//! same tree. MemoryFs is what the NFSv3 executor and the simulation are tested on; this
//! keeps it honest about what a real Linux file system does (POSIX rename/link/unlink
//! rules as ext4 applies them).

mod vfs_suite;

use proptest::prelude::*;
use vfs::local::LocalFs;
use vfs::memory::{MemoryFs, MemoryFsConfig, VirtualClock};
use vfs::{
    file_attributes as fa, CreateHow, FileAttr, FileKind, Handle, RenameMode, SetAttrs,
    SetDosAttrs, Stability, Vfs, VfsResult,
};
use vfs_suite::{caller, TempDir};

const NAMES: [&str; 3] = ["a", "b", "c"];
const DIRS: [&str; 6] = ["", "a", "b", "a/b", "a/c", "b/a"];
/// Attribute words a set tries: valid ones, DIRECTORY (valid on directories only),
/// TEMPORARY (files only) and an unknown bit.
const DOS_WORDS: [u32; 6] = [
    0,
    fa::READONLY | fa::ARCHIVE,
    fa::HIDDEN | fa::SYSTEM | fa::NORMAL,
    fa::DIRECTORY | fa::HIDDEN,
    fa::TEMPORARY,
    0x0004_0000,
];

#[derive(Debug, Clone)]
enum Op {
    Create(usize, usize, u8),
    Mkdir(usize, usize),
    Symlink(usize, usize),
    Mkfifo(usize, usize),
    Remove(usize, usize),
    Rmdir(usize, usize),
    Rename(usize, usize, usize, usize, bool),
    SetDos(usize, usize),
    GetDos(usize),
    Allocate(usize, u16),
    Link(usize, usize, usize),
    Write(usize, u16, u8),
    Truncate(usize, u16),
    Read(usize),
    List(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let d = 0..DIRS.len();
    let n = 0..NAMES.len();
    prop_oneof![
        3 => (d.clone(), n.clone(), 0u8..4).prop_map(|(d, n, h)| Op::Create(d, n, h)),
        3 => (d.clone(), n.clone()).prop_map(|(d, n)| Op::Mkdir(d, n)),
        1 => (d.clone(), n.clone()).prop_map(|(d, n)| Op::Symlink(d, n)),
        1 => (d.clone(), n.clone()).prop_map(|(d, n)| Op::Mkfifo(d, n)),
        2 => (d.clone(), n.clone()).prop_map(|(d, n)| Op::Remove(d, n)),
        2 => (d.clone(), n.clone()).prop_map(|(d, n)| Op::Rmdir(d, n)),
        3 => (d.clone(), n.clone(), d.clone(), n.clone(), any::<bool>())
            .prop_map(|(a, b, c, e, r)| Op::Rename(a, b, c, e, r)),
        1 => (d.clone(), 0..DOS_WORDS.len()).prop_map(|(f, w)| Op::SetDos(f, w)),
        1 => d.clone().prop_map(Op::GetDos),
        1 => (d.clone(), 0u16..20000).prop_map(|(f, s)| Op::Allocate(f, s)),
        1 => (d.clone(), d.clone(), n.clone()).prop_map(|(f, d, n)| Op::Link(f, d, n)),
        2 => (d.clone(), 0u16..3000, 1u8..200).prop_map(|(f, o, l)| Op::Write(f, o, l)),
        1 => (d.clone(), 0u16..3000).prop_map(|(f, s)| Op::Truncate(f, s)),
        1 => d.clone().prop_map(Op::Read),
        1 => d.prop_map(Op::List),
    ]
}

/// Walks `path` from the root.
fn walk(fs: &dyn Vfs, path: &str) -> VfsResult<Handle> {
    let mut h = fs.root();
    for c in path.split('/').filter(|c| !c.is_empty()) {
        h = fs.lookup(&h, c.as_bytes())?.0;
    }
    Ok(h)
}

/// What is compared of attributes (directory sizes are file-system specific).
fn summary(a: &FileAttr) -> (FileKind, u64, u32, u32) {
    let size = if a.kind == FileKind::Directory {
        0
    } else {
        a.size
    };
    (a.kind, size, a.nlink, a.mode)
}

#[derive(Debug, PartialEq, Eq)]
enum Out {
    Unit,
    Attr((FileKind, u64, u32, u32)),
    Data(Vec<u8>),
    Names(Vec<Vec<u8>>),
    Dos(u32, bool),
}

fn run(fs: &dyn Vfs, op: &Op) -> VfsResult<Out> {
    let c = caller();
    let m = |mode| SetAttrs {
        mode: Some(mode),
        ..SetAttrs::default()
    };
    let n = |i: usize| NAMES[i].as_bytes();
    Ok(match *op {
        Op::Create(d, name, how) => {
            let how = match how {
                0 => CreateHow::Unchecked,
                1 => CreateHow::Guarded,
                2 => CreateHow::Exclusive([1, 2, 3, 4, 5, 6, 7, 8]),
                _ => CreateHow::Exclusive([0x11, 2, 3, 4, 0x25, 6, 7, 8]),
            };
            let dir = walk(fs, DIRS[d])?;
            Out::Attr(summary(&fs.create(&dir, n(name), how, &m(0o644), &c)?.1))
        }
        Op::Mkdir(d, name) => {
            let dir = walk(fs, DIRS[d])?;
            Out::Attr(summary(&fs.mkdir(&dir, n(name), &m(0o755), &c)?.1))
        }
        Op::Symlink(d, name) => {
            let dir = walk(fs, DIRS[d])?;
            let a = fs
                .symlink(&dir, n(name), b"../x/y", &SetAttrs::default(), &c)?
                .1;
            Out::Attr(summary(&a))
        }
        Op::Mkfifo(d, name) => {
            let dir = walk(fs, DIRS[d])?;
            let a = fs
                .mknod(&dir, n(name), FileKind::Fifo, (0, 0), &m(0o600), &c)?
                .1;
            Out::Attr(summary(&a))
        }
        Op::Remove(d, name) => {
            fs.remove(&walk(fs, DIRS[d])?, n(name))?;
            Out::Unit
        }
        Op::Rmdir(d, name) => {
            fs.rmdir(&walk(fs, DIRS[d])?, n(name))?;
            Out::Unit
        }
        Op::Rename(d1, n1, d2, n2, replace) => {
            let from = walk(fs, DIRS[d1])?;
            let to = walk(fs, DIRS[d2])?;
            let mode = if replace {
                RenameMode::Replace
            } else {
                RenameMode::NoReplace
            };
            fs.rename(&from, n(n1), &to, n(n2), mode)?;
            Out::Unit
        }
        Op::SetDos(f, w) => {
            let set = SetDosAttrs {
                attributes: Some(DOS_WORDS[w]),
                creation_time: None,
            };
            let a = fs.set_dos_attrs(&walk(fs, DIRS[f])?, &set)?;
            Out::Dos(a.attributes, a.stored)
        }
        Op::GetDos(f) => {
            let a = fs.dos_attrs(&walk(fs, DIRS[f])?)?;
            Out::Dos(a.attributes, a.stored)
        }
        Op::Allocate(f, size) => {
            // Sizes only: allocation granularity is the file system's.
            Out::Attr(summary(
                &fs.set_allocation(&walk(fs, DIRS[f])?, u64::from(size))?,
            ))
        }
        Op::Link(f, d, name) => {
            let file = walk(fs, DIRS[f])?;
            let dir = walk(fs, DIRS[d])?;
            fs.link(&file, &dir, n(name))?;
            Out::Attr(summary(&fs.getattr(&file)?))
        }
        Op::Write(f, off, len) => {
            let file = walk(fs, DIRS[f])?;
            let data = vec![len; usize::from(len)];
            let (_, a) = fs.write(&file, u64::from(off), &data, Stability::Unstable)?;
            Out::Attr(summary(&a))
        }
        Op::Truncate(f, size) => {
            let file = walk(fs, DIRS[f])?;
            let set = SetAttrs {
                size: Some(u64::from(size)),
                ..SetAttrs::default()
            };
            Out::Attr(summary(&fs.setattr(&file, &set)?))
        }
        Op::Read(f) => Out::Data(fs.read(&walk(fs, DIRS[f])?, 0, 10_000)?.0),
        Op::List(d) => {
            let mut names: Vec<_> = fs
                .readdir(&walk(fs, DIRS[d])?, 0, 100)?
                .entries
                .into_iter()
                .map(|e| e.name)
                .collect();
            names.sort();
            Out::Names(names)
        }
    })
}

/// The whole tree as (path, kind, contents or target).
fn dump(fs: &dyn Vfs) -> Vec<(String, FileKind, Vec<u8>)> {
    fn rec(fs: &dyn Vfs, h: &Handle, prefix: &str, out: &mut Vec<(String, FileKind, Vec<u8>)>) {
        let page = fs.readdir(h, 0, 1000).expect("readdir");
        for e in page.entries {
            let name = format!("{prefix}/{}", String::from_utf8_lossy(&e.name));
            let (ch, a) = fs.lookup(h, &e.name).expect("lookup listed");
            let content = match a.kind {
                FileKind::Regular => fs.read(&ch, 0, 100_000).expect("read").0,
                FileKind::Symlink => fs.readlink(&ch).expect("readlink"),
                _ => Vec::new(),
            };
            out.push((name.clone(), a.kind, content));
            if a.kind == FileKind::Directory {
                rec(fs, &ch, &name, out);
            }
        }
    }
    let mut out = Vec::new();
    rec(fs, &fs.root(), "", &mut out);
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn memory_and_local_agree(ops in proptest::collection::vec(op(), 1..40)) {
        let mem = MemoryFs::with_virtual_clock(MemoryFsConfig::default(), VirtualClock::default());
        let dir = TempDir::new("differential");
        let local = LocalFs::open(dir.path()).expect("open share");
        for (i, op) in ops.iter().enumerate() {
            let a = run(&mem, op);
            let b = run(&local, op);
            prop_assert_eq!(&a, &b, "op #{} {:?} differs (memory vs local)", i, op);
        }
        prop_assert_eq!(dump(&mem), dump(&local));
    }
}
