//! The pure RPC client matcher (`proto_nfs::rpc::client`): xids, reply matching, retransmit
//! and time-out deadlines as outputs, on virtual time that starts from one real clock reading
//! (taken here, outside the sans-IO crate's sources).
mod support;

use proto_nfs::rpc::client::*;
use proto_nfs::rpc::*;

use bytes::Bytes;
use proto_nfs::rpc::auth::AuthSysParms;
use proto_nfs::xdr::XdrEncode;
use std::time::Duration;

#[test]
fn reply_matches_outstanding_xid_once() {
    let t0 = support::t0();
    let mut c = RpcClient::new(41, RetryPolicy::default());
    let cred = OpaqueAuth::sys(&AuthSysParms {
        stamp: 1,
        machinename: Bytes::from_static(b"janus"),
        uid: 0,
        gid: 0,
        gids: vec![],
    });
    let call = c.call(t0, 100_021, 4, 10, &cred, b"args");
    assert_eq!(call.xid, 41);
    let reply = RpcMessage::accepted(41, AcceptStat::Success(Bytes::from_static(b"ok"))).to_bytes();
    let got = c.handle_reply(t0, &reply).expect("matched");
    assert_eq!(got.results().map(|b| &b[..]), Ok(&b"ok"[..]));
    assert_eq!(c.handle_reply(t0, &reply), Err(ClientError::Unmatched(41)));
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn retransmits_with_backoff_then_times_out() {
    let t0 = support::t0();
    let policy = RetryPolicy {
        timeout: Duration::from_secs(1),
        max_transmissions: 3,
        backoff: true,
    };
    let mut c = RpcClient::new(7, policy);
    let call = c.call(t0, 100_024, 1, 6, &OpaqueAuth::none(), b"");
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(1)));
    c.handle_timeout(t0 + Duration::from_millis(999));
    assert_eq!(c.poll_event(), None);
    c.handle_timeout(t0 + Duration::from_secs(1));
    assert_eq!(
        c.poll_event(),
        Some(ClientEvent::Retransmit {
            xid: 7,
            message: call.message.clone()
        })
    );
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(3)));
    c.handle_timeout(t0 + Duration::from_secs(3));
    assert!(matches!(
        c.poll_event(),
        Some(ClientEvent::Retransmit { .. })
    ));
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(7)));
    c.handle_timeout(t0 + Duration::from_secs(7));
    assert_eq!(c.poll_event(), Some(ClientEvent::TimedOut { xid: 7 }));
    assert_eq!(c.outstanding(), 0);
}

#[test]
fn xids_skip_outstanding_ones_on_wrap() {
    let t0 = support::t0();
    let mut c = RpcClient::new(u32::MAX, RetryPolicy::default());
    assert_eq!(c.call(t0, 1, 1, 0, &OpaqueAuth::none(), b"").xid, u32::MAX);
    assert_eq!(c.call(t0, 1, 1, 0, &OpaqueAuth::none(), b"").xid, 0);
}
