//! MOUNT v3 through the server (RFC 1813 Appendix I): MNT against the exports and their
//! client networks, the mount list, EXPORT; and insta snapshots of representative replies.

mod support;

use bytes::Bytes;
use proto_nfs::mount::{MntResult, MountBody, MountCall, MountReply, MountStat};
use proto_nfs::nfs3::FileHandle;
use proto_nfs::rpc::{ProcedureCall, ProcedureReply};
use std::net::SocketAddr;
use support::{call, local, one_tcp_reply, reply_snapshot, results, Harness};

fn mnt(xid: u32, c: &MountCall) -> support::CallBuilder {
    let mut args = bytes::BytesMut::new();
    c.encode_args(&mut args);
    call(xid)
        .prog(100_005, 3)
        .proc_(c.procedure())
        .auth_sys(0, 0)
        .args(&args)
}

fn ask(h: &mut Harness, peer: SocketAddr, c: &MountCall) -> MountReply {
    h.udp(peer, &mnt(1, c).message());
    let r = h.udp_replies();
    MountReply::decode_results(c.procedure(), results(&r[0])).expect("decodes")
}

fn path(p: &str) -> Bytes {
    Bytes::copy_from_slice(p.as_bytes())
}

#[test]
fn mnt_returns_the_root_handle_and_flavors() {
    let mut h = Harness::new();
    for p in ["/export", "/export/"] {
        assert_eq!(
            ask(&mut h, local(600), &MountCall::Mnt(path(p))),
            MountReply::Mnt(MntResult::Ok {
                fhandle: FileHandle::new(1, b"root").expect("fh"),
                auth_flavors: vec![1, 0],
            }),
            "{p}"
        );
    }
}

#[test]
fn mnt_unknown_path_is_noent_and_outside_client_is_acces() {
    let mut h = Harness::new();
    for p in [
        "/nope",
        "export",
        "/",
        "/exportx",
        "/exportx/sub",
        "//export",
        "",
    ] {
        assert_eq!(
            ask(&mut h, local(600), &MountCall::Mnt(path(p))),
            MountReply::Mnt(MntResult::Err(MountStat::Noent)),
            "{p:?}"
        );
    }
    assert_eq!(
        ask(&mut h, local(600), &MountCall::Mnt(path("/lan"))),
        MountReply::Mnt(MntResult::Err(MountStat::Acces))
    );
    let inside: SocketAddr = "10.9.8.7:700".parse().expect("addr");
    assert!(matches!(
        ask(&mut h, inside, &MountCall::Mnt(path("/lan"))),
        MountReply::Mnt(MntResult::Ok { .. })
    ));
}

#[test]
fn mount_list_follows_mnt_umnt_umntall() {
    let mut h = Harness::new();
    let a: SocketAddr = "10.0.0.1:700".parse().expect("addr");
    let b: SocketAddr = "10.0.0.2:700".parse().expect("addr");
    ask(&mut h, a, &MountCall::Mnt(path("/export")));
    ask(&mut h, a, &MountCall::Mnt(path("/ro")));
    ask(&mut h, a, &MountCall::Mnt(path("/ro")));
    ask(&mut h, b, &MountCall::Mnt(path("/export")));
    ask(&mut h, b, &MountCall::Mnt(path("/missing")));
    let entry = |host: &str, dir: &str| MountBody {
        hostname: path(host),
        directory: path(dir),
    };
    assert_eq!(
        ask(&mut h, local(700), &MountCall::Dump),
        MountReply::Dump(vec![
            entry("10.0.0.1", "/export"),
            entry("10.0.0.1", "/ro"),
            entry("10.0.0.2", "/export"),
        ])
    );
    assert_eq!(
        ask(&mut h, a, &MountCall::Umnt(path("/ro"))),
        MountReply::Umnt
    );
    assert_eq!(ask(&mut h, b, &MountCall::Umntall), MountReply::Umntall);
    assert_eq!(
        ask(&mut h, local(700), &MountCall::Dump),
        MountReply::Dump(vec![entry("10.0.0.1", "/export")])
    );
}

#[test]
fn snapshot_mnt_ok() {
    let mut h = Harness::new();
    let wire = one_tcp_reply(&mut h, &mnt(0x2001, &MountCall::Mnt(path("/export"))));
    insta::assert_snapshot!(reply_snapshot(&wire, |r| MountReply::decode_results(1, r)));
}

#[test]
fn snapshot_mnt_acces() {
    let mut h = Harness::new();
    let wire = one_tcp_reply(&mut h, &mnt(0x2002, &MountCall::Mnt(path("/lan"))));
    insta::assert_snapshot!(reply_snapshot(&wire, |r| MountReply::decode_results(1, r)));
}

#[test]
fn snapshot_mnt_noent() {
    let mut h = Harness::new();
    let wire = one_tcp_reply(&mut h, &mnt(0x2003, &MountCall::Mnt(path("/nope"))));
    insta::assert_snapshot!(reply_snapshot(&wire, |r| MountReply::decode_results(1, r)));
}

#[test]
fn snapshot_export() {
    let mut h = Harness::new();
    let wire = one_tcp_reply(&mut h, &mnt(0x2004, &MountCall::Export));
    insta::assert_snapshot!(reply_snapshot(&wire, |r| MountReply::decode_results(5, r)));
}

/// DUMP over UDP from a caller that is not on a loopback address: PROC_UNAVAIL, smaller
/// than the call, however many mounts the list holds; the list itself over TCP or to a
/// loopback caller. Peers are data for the state machine: nothing is sent anywhere.
#[test]
fn dump_over_udp_is_answered_only_to_loopback_callers() {
    let mut h = Harness::new();
    for i in 0..50u8 {
        let client: SocketAddr = format!("10.0.1.{i}:700").parse().expect("addr");
        ask(&mut h, client, &MountCall::Mnt(path("/export")));
    }
    let dump = mnt(0x3001, &MountCall::Dump);
    let msg = dump.message();
    let remote: SocketAddr = "192.0.2.1:700".parse().expect("addr");
    h.udp(remote, &msg);
    let t = h.transmits();
    assert_eq!(t.len(), 1);
    let wire = t[0].data.to_bytes();
    assert!(
        wire.len() < msg.len(),
        "{} bytes for a {}-byte call",
        wire.len(),
        msg.len()
    );
    let reply = proto_nfs::rpc::message::RpcMessage::decode_bytes(&wire).expect("decodes");
    assert_eq!(
        support::accept_stat(&reply),
        &proto_nfs::rpc::message::AcceptStat::ProcUnavail
    );
    let MountReply::Dump(list) = ask(&mut h, local(700), &MountCall::Dump) else {
        panic!("dump")
    };
    assert_eq!(list.len(), 50, "a loopback caller gets the list");
    h.tcp(9, remote, &dump.record());
    let r = h.tcp_replies();
    assert!(
        results(&r[0]).len() > 50 * 20,
        "a remote caller over TCP gets the list"
    );
}
