//! The core's outbound channels (`server::callbacks`): one channel per destination and
//! transport, TCP replies cut out of the stream however it arrives, oversize records close the
//! channel and fail the call, idle channels are closed.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use proto_nfs::rpc::{AcceptStat, MessageBody, RpcMessage};
use proto_nfs::server::Transport;
use proto_nfs::xdr::XdrEncode;
use proto_nlm::service::callback::CallbackClient;
use proto_nlm::service::{CallResult, OutboundCall, OutboundId};
use server::callbacks::{CallbackCommand, CallbackEvent, Callbacks, IDLE_CLOSE, MAX_REPLY};
fn client() -> CallbackClient {
    CallbackClient::new(100, Bytes::from_static(b"janus"), Duration::from_secs(5))
}

fn call(id: u64, dest: SocketAddr, transport: Transport) -> OutboundCall {
    OutboundCall {
        id: OutboundId(id),
        dest,
        transport,
        program: 100_021,
        version: 4,
        procedure: 5,
        args: Bytes::from_static(&[0, 0, 0, 1]),
        timeout: Duration::from_secs(5),
    }
}

/// The xid of the call in a Send command's bytes (`marked`: TCP record marker first).
fn xid_of(data: &Bytes, marked: bool) -> u32 {
    let body = if marked {
        data.slice(4..)
    } else {
        data.clone()
    };
    let m = RpcMessage::decode_bytes(&body).unwrap();
    assert!(matches!(m.body, MessageBody::Call(_)));
    m.xid
}

fn reply(xid: u32) -> Bytes {
    RpcMessage::accepted(xid, AcceptStat::Success(Bytes::from_static(b"ok!!"))).to_bytes()
}

#[test]
fn tcp_replies_are_framed_across_chunks_and_channels_are_reused() {
    let now = support::start_of_time();
    let dest: SocketAddr = "127.0.0.1:4045".parse().unwrap();
    let mut cb = client();
    let mut chans = Callbacks::default();
    cb.submit(now, call(1, dest, Transport::Tcp));
    cb.submit(now, call(2, dest, Transport::Tcp));
    chans.send_all(now, &mut cb);
    let cmds = chans.take_commands();
    assert_eq!(cmds.len(), 3, "one Connect, two Sends: {cmds:?}");
    let CallbackCommand::Connect {
        id,
        addr,
        transport,
    } = cmds[0].clone()
    else {
        panic!("{cmds:?}")
    };
    assert_eq!((addr, transport), (dest, Transport::Tcp));
    let xids: Vec<u32> = cmds[1..]
        .iter()
        .map(|c| match c {
            CallbackCommand::Send { id: i, data } if *i == id => xid_of(data, true),
            other => panic!("{other:?}"),
        })
        .collect();
    // Both replies in one stream, cut at an awkward place.
    let mut stream = Vec::new();
    for x in &xids {
        let r = reply(*x);
        stream.extend((0x8000_0000u32 | r.len() as u32).to_be_bytes());
        stream.extend_from_slice(&r);
    }
    chans.handle(now, CallbackEvent::Connected(id), &mut cb);
    chans.handle(
        now,
        CallbackEvent::Bytes(id, Bytes::copy_from_slice(&stream[..7])),
        &mut cb,
    );
    assert!(cb.poll_result().is_none(), "half a header is not a reply");
    chans.handle(
        now,
        CallbackEvent::Bytes(id, Bytes::copy_from_slice(&stream[7..])),
        &mut cb,
    );
    let mut got: Vec<(OutboundId, CallResult)> = std::iter::from_fn(|| cb.poll_result()).collect();
    got.sort_by_key(|(i, _)| *i);
    assert_eq!(
        got,
        vec![
            (
                OutboundId(1),
                CallResult::Success(Bytes::from_static(b"ok!!"))
            ),
            (
                OutboundId(2),
                CallResult::Success(Bytes::from_static(b"ok!!"))
            ),
        ]
    );
    // A later call to the same destination reuses the channel.
    cb.submit(now, call(3, dest, Transport::Tcp));
    chans.send_all(now, &mut cb);
    let cmds = chans.take_commands();
    assert!(matches!(&cmds[..], [CallbackCommand::Send { id: i, .. }] if *i == id));
}

#[test]
fn failures_close_the_channel_and_idle_channels_are_closed() {
    let now = support::start_of_time();
    let dest: SocketAddr = "127.0.0.1:4045".parse().unwrap();
    let mut cb = client();
    let mut chans = Callbacks::default();
    cb.submit(now, call(1, dest, Transport::Tcp));
    chans.send_all(now, &mut cb);
    let CallbackCommand::Connect { id, .. } = chans.take_commands()[0].clone() else {
        panic!()
    };
    // A record claiming more than MAX_REPLY: the channel is closed and the call fails.
    let huge = (0x8000_0000u32 | (MAX_REPLY as u32 + 1)).to_be_bytes();
    chans.handle(
        now,
        CallbackEvent::Bytes(id, Bytes::copy_from_slice(&huge)),
        &mut cb,
    );
    assert_eq!(chans.take_commands(), vec![CallbackCommand::Close { id }]);
    assert_eq!(chans.poll_timeout(), None, "no channel left");
    assert!(matches!(
        cb.poll_result(),
        Some((OutboundId(1), CallResult::Failed(_)))
    ));

    // UDP: one datagram is one reply; an idle channel is closed after IDLE_CLOSE.
    cb.submit(now, call(2, dest, Transport::Udp));
    chans.send_all(now, &mut cb);
    let cmds = chans.take_commands();
    let (CallbackCommand::Connect { id: u, .. }, CallbackCommand::Send { data, .. }) =
        (cmds[0].clone(), cmds[1].clone())
    else {
        panic!("{cmds:?}")
    };
    chans.handle(
        now,
        CallbackEvent::Bytes(u, reply(xid_of(&data, false))),
        &mut cb,
    );
    assert!(matches!(
        cb.poll_result(),
        Some((OutboundId(2), CallResult::Success(_)))
    ));
    assert_eq!(chans.poll_timeout(), Some(now + IDLE_CLOSE));
    chans.handle_timeout(now + IDLE_CLOSE - Duration::from_secs(1));
    assert!(chans.take_commands().is_empty(), "not idle yet");
    chans.handle_timeout(now + IDLE_CLOSE);
    assert_eq!(
        chans.take_commands(),
        vec![CallbackCommand::Close { id: u }]
    );
    assert_eq!(chans.poll_timeout(), None);
}
