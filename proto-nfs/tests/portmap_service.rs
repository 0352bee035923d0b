//! PORTMAP v2 / RPCBIND v3-4 through the server (RFC 1833): what Janus registers, SET and
//! UNSET from loopback only, CALLIT refused, universal addresses, GETTIME from the wall
//! clock input; and insta snapshots of representative replies.

mod support;

use std::time::Duration;

use proto_nfs::portmap::pmap::{IPPROTO_TCP, IPPROTO_UDP};
use proto_nfs::portmap::{Mapping, PmapCall, PmapReply, Rpcb, RpcbCall, RpcbReply};
use proto_nfs::rpc::message::{AcceptStat, RpcMessage};
use proto_nfs::rpc::{ProcedureCall, ProcedureReply};
use proto_nfs::server::ConnId;
use support::{accept_stat, call, local, one_tcp_reply, reply_snapshot, results, Harness};

fn pmap(xid: u32, c: &PmapCall) -> support::CallBuilder {
    let mut args = bytes::BytesMut::new();
    c.encode_args(&mut args);
    call(xid).prog(100_000, 2).proc_(c.procedure()).args(&args)
}

fn rpcb(xid: u32, vers: u32, c: &RpcbCall) -> support::CallBuilder {
    let mut args = bytes::BytesMut::new();
    c.encode_args(&mut args);
    call(xid)
        .prog(100_000, vers)
        .proc_(c.procedure())
        .args(&args)
}

fn pmap_reply(h: &mut Harness, peer: std::net::SocketAddr, c: &PmapCall) -> PmapReply {
    h.udp(peer, &pmap(1, c).message());
    let r = h.udp_replies();
    PmapReply::decode_results(c.procedure(), results(&r[0])).expect("decodes")
}

fn rpcb_reply(h: &mut Harness, vers: u32, c: &RpcbCall) -> RpcbReply {
    h.tcp(5, local(600), &rpcb(1, vers, c).record());
    let r = h.tcp_replies();
    RpcbReply::decode_results(c.procedure(), results(&r[0])).expect("decodes")
}

fn getport(prog: u32, vers: u32, prot: u32) -> PmapCall {
    PmapCall::Getport(Mapping {
        prog,
        vers,
        prot,
        port: 0,
    })
}

fn query(prog: u32, vers: u32, netid: &str) -> Rpcb {
    Rpcb {
        prog,
        vers,
        netid: netid.into(),
        addr: String::new(),
        owner: String::new(),
    }
}

#[test]
fn getport_answers_for_the_programs_janus_serves() {
    let mut h = Harness::new();
    let p = local(600);
    let cases = [
        (100_000, 2, IPPROTO_TCP, 111),
        (100_000, 4, IPPROTO_UDP, 111),
        (100_003, 3, IPPROTO_TCP, 2049),
        (100_003, 3, IPPROTO_UDP, 2049),
        (100_005, 3, IPPROTO_UDP, 2049),
        (100_021, 4, IPPROTO_TCP, 2049),
        (100_024, 1, IPPROTO_UDP, 2049),
        (100_099, 1, IPPROTO_TCP, 0),
        (100_003, 3, 99, 0),
    ];
    for (prog, vers, prot, port) in cases {
        assert_eq!(
            pmap_reply(&mut h, p, &getport(prog, vers, prot)),
            PmapReply::Getport(port),
            "{prog} v{vers} prot {prot}"
        );
    }
}

#[test]
fn set_and_unset_only_from_loopback() {
    let mut h = Harness::new();
    let m = Mapping {
        prog: 100_021,
        vers: 1,
        prot: IPPROTO_UDP,
        port: 33_333,
    };
    let remote: std::net::SocketAddr = "192.0.2.1:700".parse().expect("addr");
    assert_eq!(
        pmap_reply(&mut h, remote, &PmapCall::Set(m)),
        PmapReply::Set(false)
    );
    assert_eq!(
        pmap_reply(&mut h, local(700), &PmapCall::Set(m)),
        PmapReply::Set(true)
    );
    assert_eq!(
        pmap_reply(&mut h, local(700), &PmapCall::Set(m)),
        PmapReply::Set(false)
    );
    assert_eq!(
        pmap_reply(&mut h, remote, &getport(100_021, 1, IPPROTO_UDP)),
        PmapReply::Getport(33_333)
    );
    assert_eq!(
        pmap_reply(&mut h, remote, &PmapCall::Unset(m)),
        PmapReply::Unset(false)
    );
    assert_eq!(
        pmap_reply(&mut h, local(700), &PmapCall::Unset(m)),
        PmapReply::Unset(true)
    );
    // v1 is gone; like rpcbind, GETPORT falls back to another version of the program (NLM v4
    // on the NFS port) so the client learns the range from PROG_MISMATCH.
    assert_eq!(
        pmap_reply(&mut h, remote, &getport(100_021, 1, IPPROTO_UDP)),
        PmapReply::Getport(2049)
    );
    // RPCBIND SET with a universal address, seen through PORTMAP and DUMP.
    let r = Rpcb {
        prog: 100_021,
        vers: 3,
        netid: "tcp".into(),
        addr: "127.0.0.1.130.53".into(),
        owner: "test".into(),
    };
    assert_eq!(
        rpcb_reply(&mut h, 4, &RpcbCall::Set(r.clone())),
        RpcbReply::Set(true)
    );
    assert_eq!(
        pmap_reply(&mut h, remote, &getport(100_021, 3, IPPROTO_TCP)),
        PmapReply::Getport(130 * 256 + 53)
    );
    let RpcbReply::Dump(all) = rpcb_reply(&mut h, 3, &RpcbCall::Dump) else {
        panic!("dump")
    };
    assert!(all.contains(&r));
    assert_eq!(
        rpcb_reply(&mut h, 3, &RpcbCall::Unset(query(100_021, 3, ""))),
        RpcbReply::Unset(true)
    );
}

#[test]
fn callit_is_refused_with_proc_unavail() {
    let mut h = Harness::new();
    let c = PmapCall::Callit(proto_nfs::portmap::pmap::CallArgs {
        prog: 100_003,
        vers: 3,
        proc_: 0,
        args: bytes::Bytes::new(),
    });
    h.udp(local(600), &pmap(3, &c).message());
    assert_eq!(accept_stat(&h.udp_replies()[0]), &AcceptStat::ProcUnavail);
    // RPCBIND CALLIT (5) and the unimplemented v4 procedures too.
    for p in [5, 7, 8, 10, 12] {
        h.tcp(1, local(600), &call(p).prog(100_000, 4).proc_(p).record());
        assert_eq!(
            accept_stat(&h.tcp_replies()[0]),
            &AcceptStat::ProcUnavail,
            "proc {p}"
        );
    }
    // GETVERSADDR exists only in version 4.
    let c = RpcbCall::Getversaddr(query(100_003, 3, "tcp"));
    h.tcp(1, local(600), &rpcb(9, 3, &c).record());
    assert_eq!(accept_stat(&h.tcp_replies()[0]), &AcceptStat::ProcUnavail);
}

#[test]
fn getaddr_and_getversaddr() {
    let mut h = Harness::new();
    assert_eq!(
        rpcb_reply(&mut h, 3, &RpcbCall::Getaddr(query(100_003, 3, "tcp"))),
        RpcbReply::Getaddr("127.0.0.1.8.1".into())
    );
    // Empty netid: the transport the call came on (TCP here).
    assert_eq!(
        rpcb_reply(&mut h, 4, &RpcbCall::Getaddr(query(100_005, 3, ""))),
        RpcbReply::Getaddr("127.0.0.1.8.1".into())
    );
    assert_eq!(
        rpcb_reply(&mut h, 4, &RpcbCall::Getaddr(query(100_000, 4, "udp"))),
        RpcbReply::Getaddr("127.0.0.1.0.111".into())
    );
    assert_eq!(
        rpcb_reply(&mut h, 4, &RpcbCall::Getaddr(query(123, 1, "tcp"))),
        RpcbReply::Getaddr(String::new())
    );
    assert_eq!(
        rpcb_reply(&mut h, 4, &RpcbCall::Getversaddr(query(100_003, 2, "tcp"))),
        RpcbReply::Getversaddr(String::new())
    );
}

#[test]
fn getaddrlist_lists_every_transport_of_the_exact_version() {
    let mut h = Harness::new();
    let entry = |netid: &str, semantics| proto_nfs::portmap::rpcbind::RpcbEntry {
        maddr: "127.0.0.1.8.1".into(),
        netid: netid.into(),
        semantics,
        protofmly: "inet".into(),
        proto: netid.into(),
    };
    assert_eq!(
        rpcb_reply(&mut h, 4, &RpcbCall::Getaddrlist(query(100_003, 3, ""))),
        RpcbReply::Getaddrlist(vec![entry("tcp", 3), entry("udp", 1)])
    );
    assert_eq!(
        rpcb_reply(&mut h, 4, &RpcbCall::Getaddrlist(query(100_003, 2, ""))),
        RpcbReply::Getaddrlist(vec![])
    );
}

#[test]
fn unspecified_bind_address_is_answered_as_loopback() {
    let mut cfg = support::config();
    cfg.bind_addr = "0.0.0.0".parse().expect("ip");
    cfg.portmap_port = 0;
    let mut h = Harness::with(cfg);
    assert_eq!(
        rpcb_reply(&mut h, 4, &RpcbCall::Getaddr(query(100_000, 2, "tcp"))),
        RpcbReply::Getaddr("127.0.0.1.8.1".into()),
        "no stand-alone portmapper: the portmapper is on the NFS port"
    );
}

#[test]
fn gettime_uses_the_wall_clock_input() {
    let mut h = Harness::new();
    h.tcp(1, local(600), &rpcb(1, 4, &RpcbCall::Gettime).record());
    assert_eq!(accept_stat(&h.tcp_replies()[0]), &AcceptStat::SystemErr);
    h.server.handle_wall_clock(h.now, 1_700_000_000);
    h.advance(Duration::from_secs(90));
    assert_eq!(
        rpcb_reply(&mut h, 3, &RpcbCall::Gettime),
        RpcbReply::Gettime(1_700_000_090)
    );
}

#[test]
fn snapshot_pmap_getport() {
    let mut h = Harness::new();
    let wire = one_tcp_reply(&mut h, &pmap(0x1001, &getport(100_005, 3, IPPROTO_TCP)));
    insta::assert_snapshot!(reply_snapshot(&wire, |r| PmapReply::decode_results(3, r)));
}

#[test]
fn snapshot_pmap_dump() {
    let mut h = Harness::new();
    let wire = one_tcp_reply(&mut h, &pmap(0x1002, &PmapCall::Dump));
    insta::assert_snapshot!(reply_snapshot(&wire, |r| PmapReply::decode_results(4, r)));
}

#[test]
fn snapshot_rpcbind_getaddr() {
    let mut h = Harness::new();
    let wire = one_tcp_reply(
        &mut h,
        &rpcb(0x1003, 4, &RpcbCall::Getaddr(query(100_003, 3, "tcp"))),
    );
    insta::assert_snapshot!(reply_snapshot(&wire, |r| RpcbReply::decode_results(3, r)));
}

/// UDP reflection: DUMP over UDP answers a forged 40-byte call with every registration
/// (x7.7 for PORTMAP, x20.9 for RPCBIND v4 with Janus's programs), so a caller that is not
/// on a loopback address gets PROC_UNAVAIL, which is smaller than its call; loopback
/// callers over UDP and everyone over TCP still get the list. The peer addresses are data
/// handed to the state machine: nothing is sent anywhere.
#[test]
fn dump_over_udp_is_answered_only_to_loopback_callers() {
    let mut h = Harness::new();
    let dumps = [
        pmap(0x0d01, &PmapCall::Dump),
        rpcb(0x0d02, 3, &RpcbCall::Dump),
        rpcb(0x0d03, 4, &RpcbCall::Dump),
    ];
    let remote: std::net::SocketAddr = "192.0.2.1:700".parse().expect("addr");
    let remote_v6: std::net::SocketAddr = "[2001:db8::1]:700".parse().expect("addr");
    let mapped: std::net::SocketAddr = "[::ffff:192.0.2.1]:700".parse().expect("addr");
    // The NFS port's UDP socket and the stand-alone portmapper's are separate connections
    // of the server; both answer the portmapper program.
    let (nfs_udp, pmap_udp) = (ConnId(1), ConnId(2));
    for call in &dumps {
        let msg = call.message();
        assert_eq!(
            msg.len(),
            40,
            "DUMP has no arguments: the smallest possible call"
        );
        for peer in [remote, remote_v6, mapped] {
            for sock in [nfs_udp, pmap_udp] {
                h.server.handle_datagram(h.now, sock, peer, &msg);
                let t = h.transmits();
                assert_eq!(t.len(), 1, "{peer}: one reply");
                assert_eq!(t[0].peer, peer);
                let wire = t[0].data.to_bytes();
                assert!(
                    wire.len() <= msg.len(),
                    "{peer}: {} reply bytes for a {}-byte call",
                    wire.len(),
                    msg.len()
                );
                let reply = RpcMessage::decode_bytes(&wire).expect("reply decodes");
                assert_eq!(accept_stat(&reply), &AcceptStat::ProcUnavail, "{peer}");
                assert_eq!(wire.len(), 24, "PROC_UNAVAIL with an AUTH_NONE verifier");
            }
        }
        // Loopback over UDP (v4, v6, v4-mapped): the list, as before.
        for peer in [
            local(600),
            "[::1]:600".parse().expect("addr"),
            "[::ffff:127.0.0.1]:600".parse().expect("addr"),
        ] {
            h.server.handle_datagram(h.now, nfs_udp, peer, &msg);
            let r = h.udp_replies();
            assert!(
                results(&r[0]).len() > 200,
                "{peer}: a loopback caller gets the whole list"
            );
        }
        // The same remote caller over TCP: answered (the handshake proved its address).
        h.tcp(7, remote, &call.record());
        let r = h.tcp_replies();
        assert!(results(&r[0]).len() > 200, "TCP DUMP from a remote caller");
    }
    // Other UDP procedures from the remote caller are still answered.
    assert_eq!(
        pmap_reply(&mut h, remote, &getport(100_003, 3, IPPROTO_UDP)),
        PmapReply::Getport(2049)
    );
}
