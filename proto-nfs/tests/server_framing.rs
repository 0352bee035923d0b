//! Record marking and RPC header handling of the server on virtual time (RFC 5531 §9, §11):
//! fragmented records, several records per read, records split across reads, oversize
//! fragment headers, garbage, and the RPC-level refusals.

mod support;

use std::time::Duration;

use proto_nfs::rpc::auth::{AuthFlavor, AuthStat, OpaqueAuth};
use proto_nfs::rpc::message::{AcceptStat, RejectedReply, ReplyBody};
use proto_nfs::rpc::record::RecordMarker;
use proto_nfs::server::Event;
use support::{accept_stat, call, local, reply_body, Harness};

fn fragment(last: bool, data: &[u8]) -> Vec<u8> {
    let mut v = RecordMarker {
        last,
        len: data.len() as u32,
    }
    .to_bytes()
    .to_vec();
    v.extend_from_slice(data);
    v
}

#[test]
fn multi_fragment_record_is_answered_once_whole() {
    let mut h = Harness::new();
    let msg = call(0x51).message();
    let mut wire = Vec::new();
    for (i, chunk) in msg.chunks(7).enumerate() {
        let last = (i + 1) * 7 >= msg.len();
        wire.extend(fragment(last, chunk));
    }
    // Everything but the final fragment: no reply yet.
    let cut = wire.len() - (msg.len() % 7).max(1) - 4;
    h.tcp(1, local(900), &wire[..cut]);
    assert!(h.transmits().is_empty());
    h.advance(Duration::from_millis(5));
    h.tcp(1, local(900), &wire[cut..]);
    let replies = h.tcp_replies();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].xid, 0x51);
    assert_eq!(
        accept_stat(&replies[0]),
        &AcceptStat::Success(Default::default())
    );
    assert_eq!(h.buffered(1), 0);
}

#[test]
fn two_records_in_one_read_get_two_replies_in_order() {
    let mut h = Harness::new();
    let mut wire = call(1).record().to_vec();
    wire.extend_from_slice(&call(2).prog(100_000, 2).record());
    h.tcp(1, local(900), &wire);
    let xids: Vec<u32> = h.tcp_replies().iter().map(|m| m.xid).collect();
    assert_eq!(xids, vec![1, 2]);
}

#[test]
fn record_split_byte_by_byte_is_answered_after_the_last_byte() {
    let mut h = Harness::new();
    let wire = call(77).prog(100_005, 3).record();
    for (i, b) in wire.iter().enumerate() {
        h.tcp(1, local(900), &[*b]);
        h.advance(Duration::from_millis(1));
        if i + 1 < wire.len() {
            assert!(h.transmits().is_empty(), "reply after byte {i}");
        }
    }
    let replies = h.tcp_replies();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].xid, 77);
}

#[test]
fn oversize_fragment_header_closes_without_reply_or_allocation() {
    let mut h = Harness::new();
    // Claims 2 GiB - 1; only the header is sent.
    h.tcp(1, local(900), &[0xff, 0xff, 0xff, 0xff]);
    assert!(h.transmits().is_empty());
    let events = h.events();
    assert!(
        matches!(&events[..], [Event::Close { conn, reason }] if conn.0 == 1 && reason.contains("exceeds")),
        "{events:?}"
    );
    assert_eq!(h.buffered(1), 0, "buffer discarded");
    assert!(!h.server.wants_read(proto_nfs::server::ConnId(1)));
    // Anything after the close is ignored, and the close is not repeated.
    h.tcp(1, local(900), &call(5).record());
    assert!(h.transmits().is_empty());
    assert!(h.events().is_empty());
    // Other connections are unaffected.
    h.tcp(2, local(901), &call(6).record());
    assert_eq!(h.tcp_replies()[0].xid, 6);
}

#[test]
fn record_just_over_the_limit_across_fragments_closes() {
    let mut cfg = support::config();
    cfg.max_record = 100;
    let mut h = Harness::with(cfg);
    let mut wire = fragment(false, &[0; 60]);
    wire.extend(
        RecordMarker {
            last: true,
            len: 41,
        }
        .to_bytes(),
    );
    h.tcp(1, local(900), &wire);
    assert!(matches!(&h.events()[..], [Event::Close { .. }]));
    // Exactly at the limit is fine.
    let mut h = Harness::with({
        let mut c = support::config();
        c.max_record = call(9).message().len();
        c
    });
    h.tcp(1, local(900), &call(9).record());
    assert!(h.events().is_empty());
    assert_eq!(h.tcp_replies().len(), 1);
}

#[test]
fn garbage_record_closes_tcp_and_is_dropped_on_udp() {
    let mut h = Harness::new();
    // A complete record holding 3 bytes: not even an xid.
    h.tcp(1, local(900), &fragment(true, b"abc"));
    assert!(matches!(&h.events()[..], [Event::Close { reason, .. }] if reason.contains("xid")));
    assert!(h.transmits().is_empty());

    // A REPLY sent to the server.
    let mut h = Harness::new();
    h.tcp(
        1,
        local(900),
        &fragment(true, &[0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 0]),
    );
    assert!(
        matches!(&h.events()[..], [Event::Close { reason, .. }] if reason.contains("not CALL"))
    );

    // A call truncated inside the program/version/procedure words.
    let mut h = Harness::new();
    h.tcp(1, local(900), &fragment(true, &call(3).message()[..16]));
    assert!(matches!(&h.events()[..], [Event::Close { .. }]));

    let mut h = Harness::new();
    h.udp(local(900), b"\xde\xad\xbe\xef\x00\x00\x00\x07junk");
    assert!(h.transmits().is_empty());
    assert!(h.events().is_empty());
    assert_eq!(h.server.stats().dropped_datagrams, 1);
}

#[test]
fn random_bytes_never_panic_and_end_in_reply_or_close() {
    let mut seeds = support::Seeds::new(99);
    for i in 0..300 {
        let mut h = Harness::new();
        let len = (seeds.next_u64() % 200) as usize;
        let mut bytes = seeds.buffer(len);
        if i % 2 == 0 && bytes.len() >= 4 {
            // A plausible record marker in front of random content.
            bytes[..4].copy_from_slice(
                &RecordMarker {
                    last: true,
                    len: (len - 4) as u32,
                }
                .to_bytes(),
            );
        }
        h.tcp(1, local(900), &bytes);
        h.udp(local(901), &bytes);
        let _ = h.transmits();
        let _ = h.events();
        assert!(
            h.fs_requests().is_empty(),
            "random bytes reached the file system"
        );
    }
}

#[test]
fn rpc_version_3_is_rpc_mismatch_2_2() {
    let mut h = Harness::new();
    h.tcp(1, local(900), &call(0xabc).rpcvers(3).record());
    let r = h.tcp_replies();
    assert_eq!(r[0].xid, 0xabc);
    assert_eq!(
        reply_body(&r[0]),
        &ReplyBody::Denied(RejectedReply::RpcMismatch { low: 2, high: 2 })
    );
}

#[test]
fn bad_credentials_are_auth_errors() {
    let mut h = Harness::new();
    let too_many_gids: Vec<u32> = (0..17).collect();
    h.tcp(
        1,
        local(900),
        &call(1).auth_sys_gids(0, 0, &too_many_gids).record(),
    );
    h.tcp(
        1,
        local(900),
        &call(2)
            .cred(OpaqueAuth {
                flavor: AuthFlavor::SYS,
                body: bytes::Bytes::from_static(b"\0\0\0\x01"),
            })
            .record(),
    );
    h.tcp(
        1,
        local(900),
        &call(3)
            .cred(OpaqueAuth {
                flavor: AuthFlavor::RPCSEC_GSS,
                body: bytes::Bytes::new(),
            })
            .record(),
    );
    h.tcp(
        1,
        local(900),
        &call(4)
            .verf(OpaqueAuth {
                flavor: AuthFlavor::SYS,
                body: bytes::Bytes::new(),
            })
            .record(),
    );
    // Credential length 401 (over the opaque_auth limit) in an otherwise good header.
    let mut m = call(5).message().to_vec();
    m[28..32].copy_from_slice(&401u32.to_be_bytes());
    h.tcp(1, local(900), &fragment(true, &m));
    let stats: Vec<(u32, ReplyBody)> = h
        .tcp_replies()
        .into_iter()
        .map(|m| (m.xid, reply_body(&m).clone()))
        .collect();
    let auth = |s| ReplyBody::Denied(RejectedReply::AuthError(s));
    assert_eq!(
        stats,
        vec![
            (1, auth(AuthStat::BadCred)),
            (2, auth(AuthStat::BadCred)),
            (3, auth(AuthStat::BadCred)),
            (4, auth(AuthStat::BadVerf)),
            (5, auth(AuthStat::BadCred)),
        ]
    );
    // 16 gids are fine.
    let gids: Vec<u32> = (0..16).collect();
    h.tcp(1, local(900), &call(6).auth_sys_gids(0, 0, &gids).record());
    assert!(matches!(
        accept_stat(&h.tcp_replies()[0]),
        AcceptStat::Success(_)
    ));
}

#[test]
fn unknown_program_version_procedure_and_garbage_args() {
    let mut h = Harness::new();
    h.tcp(1, local(900), &call(1).prog(200_000, 1).record());
    h.tcp(1, local(900), &call(2).prog(100_003, 4).record());
    h.tcp(1, local(900), &call(3).prog(100_000, 5).record());
    h.tcp(1, local(900), &call(4).prog(100_021, 1).record());
    h.tcp(1, local(900), &call(5).prog(100_005, 1).record());
    h.tcp(1, local(900), &call(6).prog(100_003, 3).proc_(22).record());
    h.tcp(1, local(900), &call(7).prog(100_005, 3).proc_(6).record());
    h.tcp(
        1,
        local(900),
        &call(8).prog(100_005, 3).proc_(1).u32(2000).record(),
    );
    h.tcp(
        1,
        local(900),
        &call(9)
            .prog(100_003, 3)
            .proc_(1)
            .u32(3)
            .args(b"abc")
            .u32(7)
            .record(),
    );
    h.tcp(
        1,
        local(900),
        &call(10).prog(100_000, 2).proc_(3).u32(1).record(),
    );
    h.tcp(
        1,
        local(900),
        &call(11).prog(100_003, 3).proc_(0).u32(1).record(),
    );
    let got: Vec<(u32, AcceptStat)> = h
        .tcp_replies()
        .iter()
        .map(|m| (m.xid, accept_stat(m).clone()))
        .collect();
    use AcceptStat::*;
    assert_eq!(
        got,
        vec![
            (1, ProgUnavail),
            (2, ProgMismatch { low: 3, high: 3 }),
            (3, ProgMismatch { low: 2, high: 4 }),
            (4, ProgMismatch { low: 4, high: 4 }),
            (5, ProgMismatch { low: 3, high: 3 }),
            (6, ProcUnavail),
            (7, ProcUnavail),
            (8, GarbageArgs),
            (9, GarbageArgs),
            (10, GarbageArgs),
            (11, GarbageArgs),
        ]
    );
    assert!(h.fs_requests().is_empty());
    assert!(h.events().is_empty());
}

#[test]
fn udp_replies_have_no_record_marker_and_go_to_the_peer() {
    let mut h = Harness::new();
    let peer = local(4321);
    h.udp(peer, &call(0x99).prog(100_000, 2).message());
    let t = h.transmits();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].peer, peer);
    assert_eq!(&t[0].data.to_bytes()[..4], &0x99u32.to_be_bytes());
}

#[test]
fn any_split_of_a_stream_gives_the_same_replies_as_one_read() {
    let calls = [
        call(1).record(),
        call(2)
            .prog(100_000, 2)
            .proc_(3)
            .u32(100_005)
            .u32(3)
            .u32(6)
            .u32(0)
            .record(),
        call(3).prog(100_005, 3).proc_(5).auth_sys(5, 5).record(),
        call(4).prog(100_003, 9).record(),
        call(5).rpcvers(7).record(),
        call(6).prog(100_000, 4).proc_(4).record(),
    ];
    let stream: Vec<u8> = calls.iter().flat_map(|c| c.iter().copied()).collect();
    let mut whole = Harness::new();
    whole.tcp(1, local(900), &stream);
    let expected: Vec<bytes::Bytes> = whole
        .transmits()
        .into_iter()
        .map(|t| t.data.to_bytes())
        .collect();
    assert_eq!(expected.len(), calls.len());

    let mut seeds = support::Seeds::new(7);
    for _ in 0..200 {
        let mut h = Harness::new();
        let mut pos = 0;
        while pos < stream.len() {
            let step = 1 + (seeds.next_u64() % 40) as usize;
            let end = (pos + step).min(stream.len());
            h.tcp(1, local(900), &stream[pos..end]);
            h.advance(Duration::from_micros(10));
            pos = end;
        }
        let got: Vec<bytes::Bytes> = h
            .transmits()
            .into_iter()
            .map(|t| t.data.to_bytes())
            .collect();
        assert_eq!(got, expected);
        assert_eq!(h.buffered(1), 0);
        assert!(h.events().is_empty());
    }
}
