//! The RPC side of NLM/NSM's outbound calls (`CallbackClient`): framing per transport,
//! retransmission and time-outs on virtual time, matching replies, connection failures.
use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use proto_nfs::server::Transport;

use bytes::BytesMut;
use proto_nfs::rpc::message::put_success_header;
use proto_nfs::rpc::{AcceptStat, MessageBody, RpcMessage};
use proto_nfs::xdr::XdrEncode;

use std::time::{Duration, Instant};

use bytes::Bytes;
use proto_nlm::service::callback::*;
use proto_nlm::service::*;

/// The one real clock reading; the tests then move time forward by adding `Duration`s.
#[allow(clippy::disallowed_methods)]
fn clock() -> Instant {
    Instant::now()
}

fn call(id: u64, transport: Transport) -> OutboundCall {
    OutboundCall {
        id: OutboundId(id),
        dest: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), 111),
        transport,
        program: 100_000,
        version: 2,
        procedure: 3,
        args: Bytes::from_static(&[0, 1, 0x86, 0xb5, 0, 0, 0, 4, 0, 0, 0, 17, 0, 0, 0, 0]),
        timeout: Duration::from_secs(3),
    }
}

/// The peer's side: decode the call and answer SUCCESS with `body`.
fn answer(data: &[u8], body: &[u8]) -> (RpcMessage, Bytes) {
    let msg = RpcMessage::decode_bytes(&Bytes::copy_from_slice(data)).expect("a call");
    let mut out = BytesMut::new();
    put_success_header(&mut out, msg.xid);
    out.extend_from_slice(body);
    (msg, out.freeze())
}

#[test]
fn udp_call_is_encoded_and_its_reply_matched() {
    let t = clock();
    let mut c = CallbackClient::new(7, Bytes::from_static(b"janus"), Duration::from_secs(3));
    c.submit(t, call(1, Transport::Udp));
    let tx = c.poll_transmit().expect("sent");
    let (msg, reply) = answer(&tx.data, &[0, 0, 0x9c, 0x45]);
    let MessageBody::Call(body) = &msg.body else {
        panic!("not a call")
    };
    assert_eq!((body.prog, body.vers, body.proc_), (100_000, 2, 3));
    assert_eq!(body.cred.flavor.0, 1, "AUTH_SYS like Linux lockd");
    assert_eq!(&body.args[..4], &[0, 1, 0x86, 0xb5]);
    assert!(c.handle_reply(t, &reply));
    assert_eq!(
        c.poll_result(),
        Some((
            OutboundId(1),
            CallResult::Success(Bytes::from_static(&[0, 0, 0x9c, 0x45]))
        ))
    );
    assert!(
        !c.handle_reply(t, &reply),
        "a duplicate reply matches nothing"
    );
    assert_eq!(c.outstanding(), 0);
}

#[test]
fn tcp_calls_carry_a_record_marker_and_retransmit_then_time_out() {
    let t = clock();
    let mut c = CallbackClient::new(7, Bytes::from_static(b"janus"), Duration::from_secs(3));
    c.submit(t, call(2, Transport::Tcp));
    let tx = c.poll_transmit().expect("sent");
    let len = u32::from_be_bytes([tx.data[0], tx.data[1], tx.data[2], tx.data[3]]);
    assert_eq!(
        len,
        0x8000_0000 | (tx.data.len() as u32 - 4),
        "last-fragment marker"
    );
    let due = c.poll_timeout().expect("armed");
    assert_eq!(due, t + Duration::from_secs(1));
    c.handle_timeout(due);
    assert_eq!(c.poll_transmit().map(|x| x.data), Some(tx.data.clone()));
    c.handle_timeout(due + Duration::from_secs(1));
    assert!(c.poll_transmit().is_some());
    c.handle_timeout(due + Duration::from_secs(2));
    assert_eq!(
        c.poll_result(),
        Some((OutboundId(2), CallResult::Failed(CallFailure::TimedOut)))
    );
    assert!(c.poll_timeout().is_none());
}

#[test]
fn rejected_replies_and_unreachable_peers_fail_the_call() {
    let t = clock();
    let mut c = CallbackClient::new(1, Bytes::from_static(b"janus"), Duration::from_secs(3));
    c.submit(t, call(3, Transport::Udp));
    let tx = c.poll_transmit().expect("sent");
    let msg = RpcMessage::decode_bytes(&tx.data).expect("call");
    let reply = RpcMessage::accepted(msg.xid, AcceptStat::ProgUnavail).to_bytes();
    assert!(c.handle_reply(t, &reply));
    assert_eq!(
        c.poll_result(),
        Some((OutboundId(3), CallResult::Failed(CallFailure::Rejected)))
    );
    c.submit(t, call(4, Transport::Tcp));
    c.connection_failed(call(4, Transport::Tcp).dest, Transport::Tcp);
    assert_eq!(
        c.poll_result(),
        Some((OutboundId(4), CallResult::Failed(CallFailure::Unreachable)))
    );
    assert!(c.poll_timeout().is_none());
}
