//! MNT of a directory below an export (RFC 1813 Appendix I), on virtual time: the server
//! resolves the path with one NFSv3 LOOKUP (RFC 1813 §3.3.3) per component through the
//! file-system request path, and answers with the last handle; failures map to MNT3ERR_*;
//! `..` never climbs out; the bookkeeping is bounded and dies with its connection.

mod support;

use bytes::{Bytes, BytesMut};
use proto_nfs::mount::{MntResult, MountBody, MountCall, MountReply, MountStat};
use proto_nfs::nfs3::{
    FType3, Fattr3, FileHandle, GetattrOk, LookupOk, Nfs3Call, Nfs3Reply, Nfs3Result, Nfs3Status,
    NfsTime3, SpecData3,
};
use proto_nfs::rpc::{ProcedureCall, ProcedureReply};
use proto_nfs::server::{ConnId, Creds, FsRequest, FsRequestId};
use std::net::SocketAddr;
use support::{call, local, results, CallBuilder, Harness};

fn mnt_call(xid: u32, path: &[u8]) -> CallBuilder {
    mnt_call_as(xid, path, 1000, 100)
}

fn mnt_call_as(xid: u32, path: &[u8], uid: u32, gid: u32) -> CallBuilder {
    let mut args = BytesMut::new();
    MountCall::Mnt(Bytes::copy_from_slice(path)).encode_args(&mut args);
    call(xid)
        .prog(100_005, 3)
        .proc_(1)
        .auth_sys(uid, gid)
        .args(&args)
}

fn fh(tag: &[u8]) -> FileHandle {
    FileHandle::new(1, tag).expect("handle")
}

fn root() -> FileHandle {
    fh(b"root")
}

fn attr(ftype: FType3) -> Fattr3 {
    Fattr3 {
        ftype,
        mode: 0o755,
        nlink: 2,
        uid: 0,
        gid: 0,
        size: 4096,
        used: 4096,
        rdev: SpecData3::default(),
        fsid: 1,
        fileid: 42,
        atime: NfsTime3::default(),
        mtime: NfsTime3::default(),
        ctime: NfsTime3::default(),
    }
}

fn found(object: FileHandle, ftype: FType3) -> Nfs3Reply {
    Nfs3Reply::Lookup(Nfs3Result::Ok(LookupOk {
        object,
        obj_attributes: Some(attr(ftype)),
        dir_attributes: Some(attr(FType3::Dir)),
    }))
}

fn lookup_err(s: Nfs3Status) -> Nfs3Reply {
    Nfs3Reply::Lookup(Nfs3Result::Err(s, None))
}

/// The one pending file-system request, which must be a LOOKUP of `name` in `dir`.
fn expect_lookup(h: &mut Harness, dir: &FileHandle, name: &[u8]) -> FsRequest {
    let reqs = h.fs_requests();
    assert_eq!(reqs.len(), 1, "exactly one request: {reqs:?}");
    let req = reqs.into_iter().next().expect("one");
    match &req.call {
        Nfs3Call::Lookup(a) => {
            assert_eq!(&a.what.dir, dir, "LOOKUP directory");
            assert_eq!(&a.what.name.0[..], name, "LOOKUP name");
        }
        other => panic!("expected a LOOKUP, got {other:?}"),
    }
    assert_eq!(req.share_id, 1);
    req
}

/// Drains the TCP replies and decodes exactly one MNT result with `xid`.
fn mnt_reply(h: &mut Harness, xid: u32) -> MntResult {
    let replies = h.tcp_replies();
    assert_eq!(replies.len(), 1, "exactly one reply");
    assert_eq!(replies[0].xid, xid);
    match MountReply::decode_results(1, results(&replies[0])).expect("decodes") {
        MountReply::Mnt(r) => r,
        other => panic!("not a MNT reply: {other:?}"),
    }
}

fn dump(h: &mut Harness) -> Vec<MountBody> {
    let mut args = BytesMut::new();
    MountCall::Dump.encode_args(&mut args);
    h.udp(
        local(900),
        &call(77).prog(100_005, 3).proc_(2).args(&args).message(),
    );
    let r = h.udp_replies();
    match MountReply::decode_results(2, results(&r[0])).expect("decodes") {
        MountReply::Dump(list) => list,
        other => panic!("not a DUMP reply: {other:?}"),
    }
}

#[test]
fn subdir_resolves_through_two_lookups_and_answers_the_final_handle() {
    let mut h = Harness::new();
    h.tcp(1, local(800), &mnt_call(10, b"/export/a/b").record());
    assert!(h.transmits().is_empty(), "no answer before the lookups");
    let first = expect_lookup(&mut h, &root(), b"a");
    // The lookups run with the export's effective credentials for the MNT's AUTH_SYS.
    assert_eq!(
        first.creds,
        Creds {
            uid: 1000,
            gid: 100,
            gids: vec![]
        }
    );
    h.server
        .handle_fs_result(h.now, first.id, found(fh(b"a"), FType3::Dir));
    assert!(
        h.transmits().is_empty(),
        "no answer after one of two lookups"
    );
    let second = expect_lookup(&mut h, &fh(b"a"), b"b");
    assert_ne!(second.id, first.id);
    h.server
        .handle_fs_result(h.now, second.id, found(fh(b"a/b"), FType3::Dir));
    assert!(h.fs_requests().is_empty());
    assert_eq!(
        mnt_reply(&mut h, 10),
        MntResult::Ok {
            fhandle: fh(b"a/b"),
            auth_flavors: vec![1, 0],
        }
    );
    assert_eq!(
        dump(&mut h),
        vec![MountBody {
            hostname: Bytes::from_static(b"127.0.0.1"),
            directory: Bytes::from_static(b"/export/a/b"),
        }]
    );
    // A result delivered twice (or for an id never issued) is ignored.
    h.server
        .handle_fs_result(h.now, second.id, found(fh(b"a/b"), FType3::Dir));
    h.server
        .handle_fs_result(h.now, FsRequestId(9999), found(fh(b"x"), FType3::Dir));
    assert!(h.transmits().is_empty() && h.fs_requests().is_empty());
}

#[test]
fn root_is_squashed_and_dot_and_empty_components_are_normalised() {
    let mut h = Harness::new();
    h.tcp(
        1,
        local(800),
        &mnt_call_as(11, b"/export/./a//b/.", 0, 0).record(),
    );
    let first = expect_lookup(&mut h, &root(), b"a");
    assert_eq!((first.creds.uid, first.creds.gid), (65534, 65534));
    h.server
        .handle_fs_result(h.now, first.id, found(fh(b"a"), FType3::Dir));
    let second = expect_lookup(&mut h, &fh(b"a"), b"b");
    h.server
        .handle_fs_result(h.now, second.id, found(fh(b"a/b"), FType3::Dir));
    assert!(
        matches!(mnt_reply(&mut h, 11), MntResult::Ok { fhandle, .. } if fhandle == fh(b"a/b"))
    );
    // `/export/.` and `/export//` are the export itself: answered without a lookup.
    for p in [&b"/export/."[..], b"/export//"] {
        h.tcp(1, local(800), &mnt_call(12, p).record());
        assert!(h.fs_requests().is_empty());
        assert!(
            matches!(mnt_reply(&mut h, 12), MntResult::Ok { fhandle, .. } if fhandle == root())
        );
    }
}

#[test]
fn missing_component_is_noent() {
    let mut h = Harness::new();
    h.tcp(1, local(800), &mnt_call(20, b"/export/a/missing").record());
    let first = expect_lookup(&mut h, &root(), b"a");
    h.server
        .handle_fs_result(h.now, first.id, found(fh(b"a"), FType3::Dir));
    let second = expect_lookup(&mut h, &fh(b"a"), b"missing");
    h.server
        .handle_fs_result(h.now, second.id, lookup_err(Nfs3Status::NoEnt));
    assert_eq!(mnt_reply(&mut h, 20), MntResult::Err(MountStat::Noent));
    assert!(h.fs_requests().is_empty());
    assert!(
        dump(&mut h).is_empty(),
        "a failed MNT is not in the mount list"
    );
}

#[test]
fn file_is_notdir_wherever_it_is() {
    let mut h = Harness::new();
    // The last component is a regular file (or a symbolic link, not followed).
    for (ftype, xid) in [(FType3::Reg, 30), (FType3::Lnk, 31)] {
        h.tcp(1, local(800), &mnt_call(xid, b"/export/f").record());
        let req = expect_lookup(&mut h, &root(), b"f");
        h.server
            .handle_fs_result(h.now, req.id, found(fh(b"f"), ftype));
        assert_eq!(mnt_reply(&mut h, xid), MntResult::Err(MountStat::Notdir));
    }
    // A file in the middle: the backend's LOOKUP in it says NOTDIR.
    h.tcp(1, local(800), &mnt_call(32, b"/export/f/x").record());
    let req = expect_lookup(&mut h, &root(), b"f");
    h.server
        .handle_fs_result(h.now, req.id, found(fh(b"f"), FType3::Reg));
    let req = expect_lookup(&mut h, &fh(b"f"), b"x");
    h.server
        .handle_fs_result(h.now, req.id, lookup_err(Nfs3Status::NotDir));
    assert_eq!(mnt_reply(&mut h, 32), MntResult::Err(MountStat::Notdir));
}

#[test]
fn lookup_failures_map_to_mount_statuses() {
    let mut h = Harness::new();
    for (i, (nfs, mnt)) in [
        (Nfs3Status::Acces, MountStat::Acces),
        (Nfs3Status::Perm, MountStat::Acces),
        (Nfs3Status::NameTooLong, MountStat::NameTooLong),
        (Nfs3Status::Stale, MountStat::Noent),
        (Nfs3Status::Io, MountStat::Io),
        (Nfs3Status::Jukebox, MountStat::ServerFault),
    ]
    .into_iter()
    .enumerate()
    {
        let xid = 40 + i as u32;
        h.tcp(1, local(800), &mnt_call(xid, b"/export/d").record());
        let req = expect_lookup(&mut h, &root(), b"d");
        h.server.handle_fs_result(h.now, req.id, lookup_err(nfs));
        assert_eq!(mnt_reply(&mut h, xid), MntResult::Err(mnt), "{nfs:?}");
    }
    // The runtime answering another procedure than LOOKUP is a server fault, not a mount.
    h.tcp(1, local(800), &mnt_call(50, b"/export/d").record());
    let req = expect_lookup(&mut h, &root(), b"d");
    h.server.handle_fs_result(
        h.now,
        req.id,
        Nfs3Reply::error_for(&Nfs3Call::Null, Nfs3Status::Io),
    );
    assert_eq!(
        mnt_reply(&mut h, 50),
        MntResult::Err(MountStat::ServerFault)
    );
}

#[test]
fn lookup_without_attributes_asks_getattr_for_the_type() {
    let mut h = Harness::new();
    for (ftype, expected) in [
        (
            FType3::Dir,
            MntResult::Ok {
                fhandle: fh(b"d"),
                auth_flavors: vec![1, 0],
            },
        ),
        (FType3::Reg, MntResult::Err(MountStat::Notdir)),
    ] {
        h.tcp(1, local(800), &mnt_call(60, b"/export/d").record());
        let req = expect_lookup(&mut h, &root(), b"d");
        let bare = Nfs3Reply::Lookup(Nfs3Result::Ok(LookupOk {
            object: fh(b"d"),
            obj_attributes: None,
            dir_attributes: None,
        }));
        h.server.handle_fs_result(h.now, req.id, bare);
        assert!(h.transmits().is_empty());
        let reqs = h.fs_requests();
        assert_eq!(reqs.len(), 1);
        assert!(matches!(&reqs[0].call, Nfs3Call::Getattr(a) if a.object == fh(b"d")));
        let got = Nfs3Reply::Getattr(Nfs3Result::Ok(GetattrOk {
            obj_attributes: attr(ftype),
        }));
        h.server.handle_fs_result(h.now, reqs[0].id, got);
        assert_eq!(mnt_reply(&mut h, 60), expected);
    }
}

#[test]
fn dotdot_is_refused_before_any_lookup() {
    let mut h = Harness::new();
    for p in [
        &b"/export/.."[..],
        b"/export/../ro",
        b"/export/a/../..",
        b"/export/a/../b",
        b"/export/./../etc",
    ] {
        h.tcp(1, local(800), &mnt_call(70, p).record());
        assert!(
            h.fs_requests().is_empty(),
            "{:?}",
            String::from_utf8_lossy(p)
        );
        assert_eq!(
            mnt_reply(&mut h, 70),
            MntResult::Err(MountStat::Acces),
            "{:?}",
            String::from_utf8_lossy(p)
        );
    }
}

#[test]
fn overlong_paths_and_names_are_nametoolong() {
    let mut h = Harness::new();
    // A component over NAME_MAX (255 bytes).
    let mut p = b"/export/".to_vec();
    p.extend_from_slice(&[b'n'; 256]);
    h.tcp(1, local(800), &mnt_call(80, &p).record());
    assert!(h.fs_requests().is_empty());
    assert_eq!(
        mnt_reply(&mut h, 80),
        MntResult::Err(MountStat::NameTooLong)
    );
    // A path over MNTPATHLEN (1024 bytes), well-formed XDR otherwise.
    let mut p = b"/export".to_vec();
    for _ in 0..120 {
        p.extend_from_slice(b"/abcdefgh");
    }
    assert!(p.len() > 1024);
    let mut args = BytesMut::new();
    proto_nfs::xdr::put_string(&mut args, &p);
    let c = call(81)
        .prog(100_005, 3)
        .proc_(1)
        .auth_sys(0, 0)
        .args(&args);
    h.tcp(1, local(800), &c.record());
    assert!(h.fs_requests().is_empty());
    assert_eq!(
        mnt_reply(&mut h, 81),
        MntResult::Err(MountStat::NameTooLong)
    );
}

#[test]
fn client_outside_the_networks_is_refused_before_any_lookup() {
    let mut h = Harness::new();
    h.tcp(1, local(800), &mnt_call(90, b"/lan/sub").record());
    assert!(
        h.fs_requests().is_empty(),
        "no lookup for an outside client"
    );
    assert_eq!(mnt_reply(&mut h, 90), MntResult::Err(MountStat::Acces));
    // Also when the path is bad: nothing about it is told to an outside client.
    h.tcp(1, local(800), &mnt_call(91, b"/lan/../export").record());
    assert_eq!(mnt_reply(&mut h, 91), MntResult::Err(MountStat::Acces));
    // A client inside gets the lookup, on share 3.
    let inside: SocketAddr = "10.1.2.3:800".parse().expect("addr");
    h.tcp(2, inside, &mnt_call(92, b"/lan/sub").record());
    let reqs = h.fs_requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].share_id, 3);
}

#[test]
fn connection_closed_mid_resolution_forgets_it() {
    let mut h = Harness::new();
    h.tcp(5, local(805), &mnt_call(100, b"/export/a/b").record());
    let req = expect_lookup(&mut h, &root(), b"a");
    h.server.connection_closed(ConnId(5));
    h.server
        .handle_fs_result(h.now, req.id, found(fh(b"a"), FType3::Dir));
    assert!(h.fs_requests().is_empty(), "no further lookup");
    assert!(h.transmits().is_empty(), "no reply");
    assert!(dump(&mut h).is_empty());
}

#[test]
fn mount_lookups_and_nfs_calls_share_the_request_path_without_mixing() {
    let mut h = Harness::new();
    h.tcp(1, local(800), &mnt_call(110, b"/export/d").record());
    let getattr = call(111)
        .proc_(1)
        .auth_sys(1000, 100)
        .arg(&proto_nfs::nfs3::GetattrArgs { object: root() });
    h.tcp(1, local(800), &getattr.record());
    let reqs = h.fs_requests();
    assert_eq!(reqs.len(), 2);
    let (lookup, nfs) = match &reqs[0].call {
        Nfs3Call::Lookup(_) => (&reqs[0], &reqs[1]),
        _ => (&reqs[1], &reqs[0]),
    };
    assert!(matches!(nfs.call, Nfs3Call::Getattr(_)));
    // Results in reverse order: each goes where it belongs.
    h.server.handle_fs_result(
        h.now,
        nfs.id,
        Nfs3Reply::Getattr(Nfs3Result::Ok(GetattrOk {
            obj_attributes: attr(FType3::Dir),
        })),
    );
    let r = h.tcp_replies();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].xid, 111);
    h.server
        .handle_fs_result(h.now, lookup.id, found(fh(b"d"), FType3::Dir));
    assert!(matches!(mnt_reply(&mut h, 110), MntResult::Ok { fhandle, .. } if fhandle == fh(b"d")));
}

#[test]
fn a_resolution_holds_an_in_flight_slot() {
    let mut config = support::config();
    config.max_in_flight_per_conn = 1;
    let mut h = Harness::with(config);
    h.tcp(1, local(800), &mnt_call(120, b"/export/a/b").record());
    assert!(!h.server.wants_read(ConnId(1)), "paused while resolving");
    let req = expect_lookup(&mut h, &root(), b"a");
    h.server
        .handle_fs_result(h.now, req.id, found(fh(b"a"), FType3::Dir));
    assert!(
        !h.server.wants_read(ConnId(1)),
        "still paused between lookups"
    );
    assert_eq!(h.server.poll_resumed(), None);
    let req = expect_lookup(&mut h, &fh(b"a"), b"b");
    h.server
        .handle_fs_result(h.now, req.id, lookup_err(Nfs3Status::NoEnt));
    assert!(h.server.wants_read(ConnId(1)));
    assert_eq!(h.server.poll_resumed(), Some(ConnId(1)));
    assert_eq!(mnt_reply(&mut h, 120), MntResult::Err(MountStat::Noent));
}

#[test]
fn resolutions_are_bounded_per_connection_and_overall() {
    use proto_nfs::mount::service::{MAX_RESOLUTIONS, MAX_RESOLUTIONS_PER_CONN};
    let mut h = Harness::new();
    // Per connection: the one over the limit is answered SERVERFAULT at once (TCP).
    let mut xid = 1000;
    for _ in 0..MAX_RESOLUTIONS_PER_CONN {
        xid += 1;
        h.tcp(1, local(800), &mnt_call(xid, b"/export/d").record());
    }
    assert_eq!(h.fs_requests().len(), MAX_RESOLUTIONS_PER_CONN);
    assert!(h.transmits().is_empty());
    h.tcp(1, local(800), &mnt_call(2000, b"/export/d").record());
    assert!(h.fs_requests().is_empty());
    assert_eq!(
        mnt_reply(&mut h, 2000),
        MntResult::Err(MountStat::ServerFault)
    );
    // Overall: fill up with other connections.
    let mut conn = 1;
    let mut pending: Vec<FsRequest> = Vec::new();
    while pending.len() + MAX_RESOLUTIONS_PER_CONN < MAX_RESOLUTIONS {
        conn += 1;
        for _ in 0..MAX_RESOLUTIONS_PER_CONN
            .min(MAX_RESOLUTIONS - MAX_RESOLUTIONS_PER_CONN - pending.len())
        {
            xid += 1;
            h.tcp(
                conn,
                local(800 + conn as u16),
                &mnt_call(xid, b"/export/d").record(),
            );
        }
        pending.extend(h.fs_requests());
    }
    assert_eq!(pending.len() + MAX_RESOLUTIONS_PER_CONN, MAX_RESOLUTIONS);
    h.tcp(999, local(999), &mnt_call(3000, b"/export/d").record());
    assert!(h.fs_requests().is_empty());
    assert_eq!(
        mnt_reply(&mut h, 3000),
        MntResult::Err(MountStat::ServerFault)
    );
    // Over UDP the call over the limit is dropped: the client retransmits.
    h.udp(local(998), &mnt_call(3001, b"/export/d").message());
    assert!(h.fs_requests().is_empty() && h.transmits().is_empty());
    // Closing connection 1 frees its resolutions: a new MNT is taken.
    h.server.connection_closed(ConnId(1));
    h.tcp(999, local(999), &mnt_call(3002, b"/export/d").record());
    assert_eq!(h.fs_requests().len(), 1);
}

#[test]
fn udp_retransmission_while_resolving_is_dropped() {
    let mut h = Harness::new();
    let m = mnt_call(130, b"/export/d").message();
    h.udp(local(801), &m);
    let req = expect_lookup(&mut h, &root(), b"d");
    h.udp(local(801), &m);
    assert!(h.fs_requests().is_empty(), "no second resolution");
    // The same xid from another client is another call.
    h.udp(local(802), &m);
    assert_eq!(h.fs_requests().len(), 1);
    h.server
        .handle_fs_result(h.now, req.id, found(fh(b"d"), FType3::Dir));
    let r = h.udp_replies();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].xid, 130);
}
