//! The client side of RPC (RFC 5531 §9) against our own server on virtual time: a call
//! encoded by `RpcClient` is understood by `RpcServer`, the reply is matched to its xid,
//! and a lost reply turns into a retransmission the server's duplicate cache recognises.

mod support;

use std::time::Duration;

use bytes::BytesMut;
use proto_nfs::portmap::pmap::IPPROTO_TCP;
use proto_nfs::portmap::{Mapping, PmapCall, PmapReply};
use proto_nfs::rpc::auth::{AuthSysParms, OpaqueAuth};
use proto_nfs::rpc::client::{ClientEvent, ClientReply, ReplyError, RetryPolicy, RpcClient};
use proto_nfs::rpc::message::AcceptStat;
use proto_nfs::rpc::record::{record_bytes, take_record};
use proto_nfs::rpc::{ProcedureCall, ProcedureReply};
use support::{local, Harness};

fn roundtrip(h: &mut Harness, message: &[u8]) -> bytes::Bytes {
    h.tcp(1, local(700), &record_bytes(message));
    let t = h.transmits();
    assert_eq!(t.len(), 1);
    let mut buf = BytesMut::from(&t[0].data.to_bytes()[..]);
    take_record(&mut buf, 1 << 20)
        .expect("framing")
        .expect("whole record")
}

#[test]
fn client_call_is_answered_and_matched() {
    let mut h = Harness::new();
    let mut client = RpcClient::new(0x5000, RetryPolicy::default());
    let cred = OpaqueAuth::sys(&AuthSysParms {
        stamp: 1,
        machinename: bytes::Bytes::from_static(b"janus"),
        uid: 0,
        gid: 0,
        gids: vec![],
    });
    let q = PmapCall::Getport(Mapping {
        prog: 100_003,
        vers: 3,
        prot: IPPROTO_TCP,
        port: 0,
    });
    let mut args = BytesMut::new();
    q.encode_args(&mut args);
    let out = client.call(h.now, 100_000, 2, q.procedure(), &cred, &args);
    assert_eq!(out.xid, 0x5000);
    assert_eq!(client.poll_timeout(), Some(h.now + Duration::from_secs(5)));
    let reply = roundtrip(&mut h, &out.message);
    let matched: ClientReply = client.handle_reply(h.now, &reply).expect("matched");
    assert_eq!(matched.xid, 0x5000);
    assert_eq!(client.outstanding(), 0);
    let res = matched.results().expect("success");
    assert_eq!(
        PmapReply::decode_results(q.procedure(), res),
        Ok(PmapReply::Getport(2049))
    );
}

#[test]
fn refusals_surface_as_reply_errors() {
    let mut h = Harness::new();
    let mut client = RpcClient::new(1, RetryPolicy::default());
    let out = client.call(h.now, 100_003, 4, 0, &OpaqueAuth::none(), &[]);
    let reply = roundtrip(&mut h, &out.message);
    let r = client.handle_reply(h.now, &reply).expect("matched");
    assert_eq!(
        r.results(),
        Err(ReplyError::NotExecuted(AcceptStat::ProgMismatch {
            low: 3,
            high: 3
        }))
    );
}

#[test]
fn lost_reply_is_retransmitted_with_the_same_xid_and_bytes() {
    let mut h = Harness::new();
    h.server.set_external_non_idempotent(100_021, &[7]);
    let policy = RetryPolicy {
        timeout: Duration::from_millis(500),
        max_transmissions: 2,
        backoff: false,
    };
    let mut client = RpcClient::new(77, policy);
    let out = client.call(h.now, 100_021, 4, 7, &OpaqueAuth::none(), b"\0\0\0\x01");
    // The server sees the call; its reply is lost.
    h.tcp(1, local(700), &record_bytes(&out.message));
    assert_eq!(h.events().len(), 1);
    h.server.send_accepted_reply(
        proto_nfs::server::ConnId(1),
        local(700),
        77,
        bytes::Bytes::new(),
    );
    let _lost = h.transmits();
    h.advance(Duration::from_millis(500));
    client.handle_timeout(h.now);
    let Some(ClientEvent::Retransmit { xid, message }) = client.poll_event() else {
        panic!("no retransmission")
    };
    assert_eq!((xid, &message), (77, &out.message));
    // The retransmission is answered from the server's cache, not re-executed.
    let reply = roundtrip(&mut h, &message);
    assert!(h.events().is_empty());
    assert!(client.handle_reply(h.now, &reply).is_ok());
    h.advance(Duration::from_secs(10));
    client.handle_timeout(h.now);
    assert_eq!(client.poll_event(), None, "answered calls do not time out");
}
