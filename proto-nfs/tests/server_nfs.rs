//! The NFS path of the server on virtual time: pre-checks (RFC 1813 §2.6 statuses the
//! server decides itself), squashing, file-system requests and results, the duplicate
//! request cache, back-pressure and closed connections.

mod support;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use proto_nfs::nfs3::{
    proc, CreateArgs, CreateHow3, DirOpArgs3, FileHandle, Filename3, GetattrArgs, Nfs3Call,
    Nfs3Reply, Nfs3Status, RenameArgs,
};
use proto_nfs::server::{ConnId, Creds, Event, FsRequestId, Transport};
use support::{call, local, results, Harness};

fn fh(share: u32) -> FileHandle {
    FileHandle::new(share, b"some-inode").expect("handle")
}

fn getattr(share_fh: FileHandle) -> Nfs3Call {
    Nfs3Call::Getattr(GetattrArgs { object: share_fh })
}

fn create(dir: FileHandle, name: &str) -> Nfs3Call {
    Nfs3Call::Create(CreateArgs {
        where_: DirOpArgs3 {
            dir,
            name: Filename3(Bytes::copy_from_slice(name.as_bytes())),
        },
        how: CreateHow3::Exclusive([7; 8]),
    })
}

fn args(c: &Nfs3Call) -> Vec<u8> {
    let mut out = BytesMut::new();
    c.encode(&mut out);
    out.to_vec()
}

fn nfs(xid: u32, c: &Nfs3Call) -> support::CallBuilder {
    call(xid)
        .prog(100_003, 3)
        .proc_(c.procedure())
        .auth_sys(1000, 100)
        .args(&args(c))
}

/// The `nfsstat3` at the front of an NFS reply body.
fn nfs_status(body: &Bytes) -> u32 {
    u32::from_be_bytes([body[0], body[1], body[2], body[3]])
}

#[test]
fn getattr_becomes_an_fs_request_and_its_result_the_reply() {
    let mut h = Harness::new();
    let c = getattr(fh(1));
    h.tcp(1, local(800), &nfs(0x10, &c).record());
    assert!(
        h.transmits().is_empty(),
        "nothing before the file system answers"
    );
    let reqs = h.fs_requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].share_id, 1);
    assert_eq!(reqs[0].call, c);
    assert_eq!(
        reqs[0].creds,
        Creds {
            uid: 1000,
            gid: 100,
            gids: vec![]
        }
    );
    h.advance(Duration::from_millis(3));
    let reply = Nfs3Reply::error_for(&c, Nfs3Status::Io);
    h.server.handle_fs_result(h.now, reqs[0].id, reply.clone());
    let replies = h.tcp_replies();
    assert_eq!(replies[0].xid, 0x10);
    let mut expect = BytesMut::new();
    reply.encode(&mut expect);
    assert_eq!(results(&replies[0]), &expect.freeze());
    // A result for an unknown id is ignored.
    h.server
        .handle_fs_result(h.now, FsRequestId(999), Nfs3Reply::Null);
    assert!(h.transmits().is_empty());
}

#[test]
fn root_is_squashed_to_the_anonymous_ids() {
    let mut h = Harness::new();
    let c = getattr(fh(1));
    h.tcp(
        1,
        local(800),
        &call(1)
            .prog(100_003, 3)
            .proc_(proc::GETATTR)
            .auth_sys_gids(0, 0, &[0, 4])
            .args(&args(&c))
            .record(),
    );
    assert_eq!(
        h.fs_requests()[0].creds,
        Creds {
            uid: 65534,
            gid: 65534,
            gids: vec![65534, 4]
        }
    );
    // AUTH_NONE runs as the anonymous user.
    h.tcp(
        1,
        local(800),
        &call(2)
            .prog(100_003, 3)
            .proc_(proc::GETATTR)
            .args(&args(&c))
            .record(),
    );
    assert_eq!(h.fs_requests()[0].creds.uid, 65534);
}

#[test]
fn server_side_nfs_refusals() {
    let mut h = Harness::new();
    let bad = FileHandle(Bytes::from_static(b"\x01\x00"));
    h.tcp(1, local(800), &nfs(1, &getattr(bad)).record());
    h.tcp(1, local(800), &nfs(2, &getattr(fh(42))).record());
    h.tcp(1, local(800), &nfs(3, &create(fh(2), "x")).record());
    h.tcp(1, local(800), &nfs(4, &getattr(fh(3))).record());
    let rename = Nfs3Call::Rename(RenameArgs {
        from: DirOpArgs3 {
            dir: fh(1),
            name: Filename3(Bytes::from_static(b"a")),
        },
        to: DirOpArgs3 {
            dir: fh(2),
            name: Filename3(Bytes::from_static(b"b")),
        },
    });
    h.tcp(1, local(800), &nfs(5, &rename).record());
    let got: Vec<(u32, u32)> = h
        .tcp_replies()
        .iter()
        .map(|m| (m.xid, nfs_status(results(m))))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, Nfs3Status::BadHandle as u32),
            (2, Nfs3Status::Stale as u32),
            (3, Nfs3Status::RoFs as u32),
            (4, Nfs3Status::Acces as u32),
            (5, Nfs3Status::XDev as u32),
        ]
    );
    assert!(h.fs_requests().is_empty());
    // Reads on the read-only share and calls from inside the CIDR go through.
    h.tcp(1, local(800), &nfs(6, &getattr(fh(2))).record());
    h.tcp(
        2,
        "10.1.2.3:800".parse().expect("addr"),
        &nfs(7, &getattr(fh(3))).record(),
    );
    assert_eq!(h.fs_requests().len(), 2);
}

#[test]
fn retransmitted_create_is_answered_from_the_cache_without_a_second_fs_request() {
    let mut h = Harness::new();
    let c = create(fh(1), "new-file");
    let wire = nfs(0x77, &c).record();
    h.tcp(1, local(800), &wire);
    let reqs = h.fs_requests();
    assert_eq!(reqs.len(), 1);
    let reply = Nfs3Reply::error_for(&c, Nfs3Status::NoSpc);
    h.server.handle_fs_result(h.now, reqs[0].id, reply);
    let first = h.transmits();
    assert_eq!(first.len(), 1);

    // The client lost the reply, reconnects from another port and retransmits.
    h.advance(Duration::from_secs(1));
    h.server.connection_closed(ConnId(1));
    h.tcp(2, local(801), &wire);
    assert!(h.fs_requests().is_empty(), "CREATE executed twice");
    let again = h.transmits();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].conn, ConnId(2));
    assert_eq!(again[0].data, first[0].data, "cached reply differs");
    assert!(!again[0].external_replay, "an NFS reply waits for nothing");
    assert_eq!(h.server.stats().drc_hits, 1);

    // Over UDP the cached reply goes out without the record marker.
    h.udp(local(802), &nfs(0x77, &c).message());
    assert!(h.fs_requests().is_empty());
    assert_eq!(
        h.transmits()[0].data.to_bytes(),
        first[0].data.to_bytes().slice(4..)
    );

    // Same xid, different arguments (client rebooted): a new call.
    h.tcp(2, local(801), &nfs(0x77, &create(fh(1), "other")).record());
    assert_eq!(h.fs_requests().len(), 1);
}

#[test]
fn duplicate_of_an_in_progress_create_is_dropped() {
    let mut h = Harness::new();
    let c = create(fh(1), "slow");
    let wire = nfs(5, &c).record();
    h.tcp(1, local(800), &wire);
    h.tcp(1, local(800), &wire);
    let reqs = h.fs_requests();
    assert_eq!(reqs.len(), 1);
    assert!(h.transmits().is_empty());
    assert_eq!(h.server.stats().drc_in_progress_drops, 1);
    h.server.handle_fs_result(
        h.now,
        reqs[0].id,
        Nfs3Reply::error_for(&c, Nfs3Status::Exist),
    );
    assert_eq!(h.tcp_replies().len(), 1);
}

#[test]
fn idempotent_calls_are_not_cached() {
    let mut h = Harness::new();
    let c = getattr(fh(1));
    let wire = nfs(5, &c).record();
    h.tcp(1, local(800), &wire);
    let r = h.fs_requests();
    h.server
        .handle_fs_result(h.now, r[0].id, Nfs3Reply::error_for(&c, Nfs3Status::Io));
    h.tcp(1, local(800), &wire);
    assert_eq!(
        h.fs_requests().len(),
        1,
        "GETATTR retransmission executes again"
    );
}

#[test]
fn back_pressure_turns_wants_read_off_at_the_limit_and_resumes() {
    let mut cfg = support::config();
    cfg.max_in_flight_per_conn = 2;
    let mut h = Harness::with(cfg);
    let g = getattr(fh(1));
    h.tcp(1, local(800), &nfs(1, &g).record());
    assert!(h.server.wants_read(ConnId(1)));
    h.tcp(1, local(800), &nfs(2, &g).record());
    assert!(!h.server.wants_read(ConnId(1)), "at the limit");
    // Other connections are not affected.
    assert!(h.server.wants_read(ConnId(2)));
    // Records already read are still executed, never left behind in the buffer.
    h.tcp(1, local(800), &nfs(3, &g).record());
    assert_eq!(h.buffered(1), 0);
    let reqs = h.fs_requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(h.server.poll_resumed(), None);

    // 3 outstanding, limit 2: the first result leaves it at the limit.
    h.server
        .handle_fs_result(h.now, reqs[0].id, Nfs3Reply::error_for(&g, Nfs3Status::Io));
    assert!(!h.server.wants_read(ConnId(1)));
    assert_eq!(h.server.poll_resumed(), None);
    h.server
        .handle_fs_result(h.now, reqs[1].id, Nfs3Reply::error_for(&g, Nfs3Status::Io));
    assert!(h.server.wants_read(ConnId(1)));
    assert_eq!(h.server.poll_resumed(), Some(ConnId(1)));
    assert_eq!(h.server.poll_resumed(), None);
    h.server
        .handle_fs_result(h.now, reqs[2].id, Nfs3Reply::error_for(&g, Nfs3Status::Io));
    assert_eq!(h.server.poll_resumed(), None, "reported once per pause");
    assert_eq!(h.tcp_replies().len(), 3);
}

#[test]
fn results_for_closed_connections_are_dropped_but_cached() {
    let mut h = Harness::new();
    let c = create(fh(1), "f");
    h.tcp(1, local(800), &nfs(9, &c).record());
    let reqs = h.fs_requests();
    h.server.connection_closed(ConnId(1));
    h.server.handle_fs_result(
        h.now,
        reqs[0].id,
        Nfs3Reply::error_for(&c, Nfs3Status::Exist),
    );
    assert!(h.transmits().is_empty());
    assert_eq!(h.server.stats().orphaned_replies, 1);
    h.tcp(3, local(803), &nfs(9, &c).record());
    assert!(h.fs_requests().is_empty());
    assert_eq!(
        nfs_status(results(&h.tcp_replies()[0])),
        Nfs3Status::Exist as u32
    );
}

#[test]
fn external_programs_come_out_as_events_and_can_use_the_drc() {
    let mut h = Harness::new();
    let wire = call(0x42)
        .prog(100_021, 4)
        .proc_(2)
        .auth_sys(0, 0)
        .args(b"lockargs")
        .record();
    h.tcp(1, local(800), &wire);
    let ev = h.events();
    let [Event::Call {
        conn,
        peer,
        transport,
        xid,
        program,
        version,
        procedure,
        cred_flavor,
        args,
        ..
    }] = &ev[..]
    else {
        panic!("{ev:?}")
    };
    assert_eq!(
        (
            *conn,
            *peer,
            *transport,
            *xid,
            *program,
            *version,
            *procedure,
            *cred_flavor
        ),
        (
            ConnId(1),
            local(800),
            Transport::Tcp,
            0x42,
            100_021,
            4,
            2,
            1
        )
    );
    assert_eq!(&args[..], b"lockargs");
    h.server
        .send_accepted_reply(ConnId(1), local(800), 0x42, Bytes::from_static(b"\0\0\0\0"));
    let r = h.tcp_replies();
    assert_eq!((r[0].xid, &results(&r[0])[..]), (0x42, &b"\0\0\0\0"[..]));

    // Without the hook a retransmission is a second event; with it, the cached reply.
    h.tcp(1, local(800), &wire);
    assert_eq!(h.events().len(), 1);
    h.server.set_external_non_idempotent(100_021, &[2]);
    let wire = call(0x43)
        .prog(100_021, 4)
        .proc_(2)
        .auth_sys(0, 0)
        .args(b"lockargs")
        .record();
    h.tcp(1, local(800), &wire);
    assert_eq!(h.events().len(), 1);
    h.tcp(1, local(800), &wire);
    assert!(h.events().is_empty(), "in-progress duplicate dropped");
    h.server.send_accepted_reply(
        ConnId(1),
        local(800),
        0x43,
        Bytes::from_static(b"\0\0\0\x01"),
    );
    let first = h.transmits();
    assert!(!first[0].external_replay, "the original reply");
    h.tcp(1, local(800), &wire);
    assert!(h.events().is_empty());
    let replay = h.transmits();
    assert_eq!(replay[0].data, first[0].data);
    // Marked, so a core that holds the original (NLM replies wait for the journal) holds
    // the replay as long.
    assert!(replay[0].external_replay);
}

#[test]
fn udp_socket_back_pressure_counts_all_clients_and_resumes() {
    let mut cfg = support::config();
    cfg.max_in_flight_per_conn = 2;
    let mut h = Harness::with(cfg);
    h.udp(local(800), &nfs(1, &getattr(fh(1))).message());
    h.udp(local(801), &nfs(2, &getattr(fh(1))).message());
    let reqs = h.fs_requests();
    assert_eq!(reqs.len(), 2);
    assert!(!h.server.wants_read(ConnId(0)));
    h.server.handle_fs_result(
        h.now,
        reqs[1].id,
        Nfs3Reply::error_for(&getattr(fh(1)), Nfs3Status::Io),
    );
    assert_eq!(h.server.poll_resumed(), Some(ConnId(0)));
    assert!(h.server.wants_read(ConnId(0)));
    let t = h.transmits();
    assert_eq!((t.len(), t[0].peer), (1, local(801)));
}

#[test]
fn external_refusals_and_unanswered_calls() {
    use proto_nfs::rpc::message::AcceptStat;
    use proto_nfs::server::status::Refusal;
    let mut h = Harness::new();
    h.server.set_external_non_idempotent(100_021, &[7, 8]);
    // GARBAGE_ARGS from the service, cached like any reply.
    let bad = call(1).prog(100_021, 4).proc_(7).args(b"\0\0").record();
    h.tcp(1, local(800), &bad);
    assert_eq!(h.events().len(), 1);
    h.server
        .send_refusal(ConnId(1), local(800), 1, Refusal::GarbageArgs);
    assert_eq!(
        support::accept_stat(&h.tcp_replies()[0]),
        &AcceptStat::GarbageArgs
    );
    h.tcp(1, local(800), &bad);
    assert!(h.events().is_empty());
    assert_eq!(
        support::accept_stat(&h.tcp_replies()[0]),
        &AcceptStat::GarbageArgs
    );

    // A one-way call: no reply, and its retransmission is handed over again.
    let msg = call(2).prog(100_021, 4).proc_(8).args(b"\0\0\0\0").record();
    h.tcp(1, local(800), &msg);
    assert_eq!(h.events().len(), 1);
    h.server.finish_without_reply(ConnId(1), 2);
    h.tcp(1, local(800), &msg);
    assert_eq!(h.events().len(), 1);

    // Connection lost before the service answered: the retransmission on a new
    // connection is handed over again, not dropped as in progress.
    h.server.connection_closed(ConnId(1));
    h.tcp(2, local(801), &msg);
    assert_eq!(h.events().len(), 1);
    assert!(h.transmits().is_empty());
}

/// knfsd clears the modifying ACCESS bits on read-only exports; the executor cannot (it does
/// not know the export), so the server masks the result.
#[test]
fn access_on_a_read_only_export_never_grants_modify_extend_or_delete() {
    use proto_nfs::nfs3::{AccessArgs, AccessOk, Nfs3Result};
    let mut h = Harness::new();
    let all = 0x3f;
    for (xid, share) in [(1u32, 2u32), (2, 1)] {
        let c = Nfs3Call::Access(AccessArgs {
            object: fh(share),
            access: all,
        });
        h.tcp(1, local(800), &nfs(xid, &c).record());
        let reqs = h.fs_requests();
        assert_eq!(reqs.len(), 1);
        let granted = Nfs3Reply::Access(Nfs3Result::Ok(AccessOk {
            obj_attributes: None,
            access: all,
        }));
        h.server.handle_fs_result(h.now, reqs[0].id, granted);
        let replies = h.tcp_replies();
        let body = results(&replies[0]);
        // nfsstat3, post_op_attr (FALSE), access.
        let access = u32::from_be_bytes([body[8], body[9], body[10], body[11]]);
        let expected = if share == 2 { 0x03 | 0x20 } else { all };
        assert_eq!(access, expected, "share {share}");
    }
}

/// What a runtime asks before closing a connection to admit another: a connection whose
/// call is at the file system, or whose external call waits in the duplicate-request cache,
/// has work in progress; one whose calls were all answered has none.
#[test]
fn calls_in_progress_are_visible_per_connection() {
    let mut h = Harness::new();
    assert!(
        !h.server.has_calls_in_progress(ConnId(1)),
        "unknown connection"
    );
    let c = getattr(fh(1));
    h.tcp(1, local(800), &nfs(0x60, &c).record());
    h.tcp(2, local(801), &call(0x61).record());
    let reqs = h.fs_requests();
    assert!(
        h.server.has_calls_in_progress(ConnId(1)),
        "GETATTR at the file system"
    );
    assert!(
        !h.server.has_calls_in_progress(ConnId(2)),
        "NULL answered at once"
    );
    h.server
        .handle_fs_result(h.now, reqs[0].id, Nfs3Reply::error_for(&c, Nfs3Status::Io));
    assert!(!h.server.has_calls_in_progress(ConnId(1)), "answered");

    h.server.set_external_non_idempotent(100_021, &[2]);
    let lock = call(0x62)
        .prog(100_021, 4)
        .proc_(2)
        .auth_sys(0, 0)
        .args(b"lockargs");
    h.tcp(3, local(802), &lock.record());
    assert_eq!(h.events().len(), 1);
    assert!(
        h.server.has_calls_in_progress(ConnId(3)),
        "NLM call not yet answered"
    );
    h.server
        .send_accepted_reply(ConnId(3), local(802), 0x62, Bytes::from_static(b"\0\0\0\0"));
    assert!(
        !h.server.has_calls_in_progress(ConnId(3)),
        "NLM call answered"
    );
}
