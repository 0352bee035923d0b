//! Snapshots (insta) of the encoded bytes of representative NFSv3 replies (RFC 1813 §3.3),
//! one XDR word per line so a reviewer can check each field against the RFC's structures.

use bytes::{Bytes, BytesMut};
use proto_nfs::nfs3::*;

/// One line per 4-byte XDR word, as hex.
fn words(reply: &Nfs3Reply) -> String {
    let mut out = BytesMut::new();
    reply.encode(&mut out);
    assert_eq!(out.len() % 4, 0, "XDR is word aligned");
    // The bytes must also decode back to the same reply.
    assert_eq!(
        Nfs3Reply::decode(reply.procedure(), &out).as_ref(),
        Ok(reply)
    );
    out.chunks(4)
        .map(|w| w.iter().map(|b| format!("{b:02x}")).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

fn time(s: u32, ns: u32) -> NfsTime3 {
    NfsTime3 {
        seconds: s,
        nseconds: ns,
    }
}

fn file_attr() -> Fattr3 {
    Fattr3 {
        ftype: FType3::Reg,
        mode: 0o644,
        nlink: 1,
        uid: 1000,
        gid: 100,
        size: 5,
        used: 4096,
        rdev: SpecData3::default(),
        fsid: 0x1122_3344_5566_7788,
        fileid: 42,
        atime: time(1_700_000_000, 1),
        mtime: time(1_700_000_001, 2),
        ctime: time(1_700_000_002, 3),
    }
}

fn dir_attr() -> Fattr3 {
    Fattr3 {
        ftype: FType3::Dir,
        mode: 0o755,
        nlink: 2,
        size: 4096,
        fileid: 2,
        ..file_attr()
    }
}

fn fh(id: u8) -> FileHandle {
    FileHandle::new(7, &[id; 8]).expect("fits")
}

#[test]
fn getattr_ok() {
    let r = Nfs3Reply::Getattr(Nfs3Result::Ok(GetattrOk {
        obj_attributes: file_attr(),
    }));
    insta::assert_snapshot!(words(&r));
}

#[test]
fn lookup_noent() {
    let r = Nfs3Reply::Lookup(Nfs3Result::Err(Nfs3Status::NoEnt, Some(dir_attr())));
    insta::assert_snapshot!(words(&r));
}

#[test]
fn read_with_eof() {
    let r = Nfs3Reply::Read(Nfs3Result::Ok(ReadOk {
        file_attributes: Some(file_attr()),
        eof: true,
        data: Bytes::from_static(b"hello"),
    }));
    insta::assert_snapshot!(words(&r));
}

#[test]
fn write_unstable_with_verifier() {
    let r = Nfs3Reply::Write(Nfs3Result::Ok(WriteOk {
        file_wcc: WccData {
            before: Some(WccAttr {
                size: 0,
                mtime: time(1_700_000_001, 2),
                ctime: time(1_700_000_002, 3),
            }),
            after: Some(file_attr()),
        },
        count: 5,
        committed: StableHow::Unstable,
        verf: *b"bootverf",
    }));
    insta::assert_snapshot!(words(&r));
}

#[test]
fn create_with_wcc() {
    let r = Nfs3Reply::Create(Nfs3Result::Ok(CreateOk {
        obj: Some(fh(9)),
        obj_attributes: Some(file_attr()),
        dir_wcc: WccData {
            before: Some(WccAttr {
                size: 4096,
                mtime: time(1_700_000_000, 0),
                ctime: time(1_700_000_000, 0),
            }),
            after: Some(dir_attr()),
        },
    }));
    insta::assert_snapshot!(words(&r));
}

#[test]
fn readdir_page() {
    let r = Nfs3Reply::Readdir(Nfs3Result::Ok(ReaddirOk {
        dir_attributes: Some(dir_attr()),
        cookieverf: [0, 0, 0, 0, 0, 0, 0, 9],
        entries: vec![
            Entry3 {
                fileid: 2,
                name: Filename3::from(&b"."[..]),
                cookie: 1,
            },
            Entry3 {
                fileid: 1,
                name: Filename3::from(&b".."[..]),
                cookie: 2,
            },
            Entry3 {
                fileid: 42,
                name: Filename3::from(&b"hello.txt"[..]),
                cookie: 3,
            },
        ],
        eof: false,
    }));
    insta::assert_snapshot!(words(&r));
}

#[test]
fn fsinfo() {
    let r = Nfs3Reply::Fsinfo(Nfs3Result::Ok(FsinfoOk {
        obj_attributes: Some(dir_attr()),
        rtmax: 1 << 20,
        rtpref: 1 << 20,
        rtmult: 4096,
        wtmax: 1 << 20,
        wtpref: 1 << 20,
        wtmult: 4096,
        dtpref: 64 << 10,
        maxfilesize: i64::MAX as u64,
        time_delta: time(0, 1),
        properties: FSF3_LINK | FSF3_SYMLINK | FSF3_HOMOGENEOUS | FSF3_CANSETTIME,
    }));
    insta::assert_snapshot!(words(&r));
}

#[test]
fn error_for_rofs_of_create() {
    let call = Nfs3Call::Create(CreateArgs {
        where_: DirOpArgs3 {
            dir: fh(1),
            name: Filename3::from(&b"new"[..]),
        },
        how: CreateHow3::Guarded(Sattr3::default()),
    });
    let r = Nfs3Reply::error_for(&call, Nfs3Status::RoFs);
    insta::assert_snapshot!(words(&r));
}
