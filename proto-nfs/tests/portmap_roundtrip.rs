//! Round trips of every PORTMAP v2 and RPCBIND v3/v4 call and reply (RFC 1833) over
//! `arbitrary` values, plus byte-exact checks of hand-written encodings.

mod support;

use proto_nfs::portmap::{Mapping, PmapCall, PmapReply, Rpcb, RpcbCall, RpcbReply};
use proto_nfs::rpc::{ArgsError, ProcedureCall, ProcedureReply};

#[test]
fn pmap_calls_round_trip() {
    assert_eq!(support::round_trip_calls::<PmapCall>("pmap_call", 3000), 6);
}

#[test]
fn pmap_replies_round_trip() {
    assert_eq!(
        support::round_trip_replies::<PmapReply>("pmap_reply", 3000),
        6
    );
}

#[test]
fn rpcb_calls_round_trip() {
    assert_eq!(support::round_trip_calls::<RpcbCall>("rpcb_call", 3000), 8);
}

#[test]
fn rpcb_replies_round_trip() {
    assert_eq!(
        support::round_trip_replies::<RpcbReply>("rpcb_reply", 3000),
        8
    );
}

#[test]
fn getport_args_are_four_words() {
    let call = PmapCall::Getport(Mapping {
        prog: 100_003,
        vers: 3,
        prot: 6,
        port: 0,
    });
    let mut out = bytes::BytesMut::new();
    call.encode_args(&mut out);
    assert_eq!(
        &out[..],
        &[0, 1, 0x86, 0xa3, 0, 0, 0, 3, 0, 0, 0, 6, 0, 0, 0, 0]
    );
    // One word short, one word long: garbage.
    assert!(matches!(
        PmapCall::decode_args(3, &out[..12]),
        Err(ArgsError::Garbage(_))
    ));
    let mut long = out.to_vec();
    long.extend_from_slice(&[0; 4]);
    assert!(matches!(
        PmapCall::decode_args(3, &long),
        Err(ArgsError::Garbage(_))
    ));
    assert_eq!(
        PmapCall::decode_args(6, &[]),
        Err(ArgsError::NoSuchProcedure)
    );
}

#[test]
fn rpcb_strings_must_be_utf8_and_bounded() {
    let r = Rpcb {
        prog: 1,
        vers: 1,
        netid: "tcp".into(),
        addr: "127.0.0.1.8.1".into(),
        owner: "x".into(),
    };
    let mut out = bytes::BytesMut::new();
    RpcbCall::Getaddr(r).encode_args(&mut out);
    let mut bad = out.to_vec();
    bad[12] = 0xff; // first byte of the netid
    assert!(matches!(
        RpcbCall::decode_args(3, &bad),
        Err(ArgsError::Garbage(_))
    ));
    let mut huge = out[..8].to_vec();
    huge.extend_from_slice(&5000u32.to_be_bytes());
    assert!(matches!(
        RpcbCall::decode_args(3, &huge),
        Err(ArgsError::Garbage(_))
    ));
    assert!(matches!(
        RpcbReply::decode_results(4, &[0, 0, 0, 2]),
        Err(ArgsError::Garbage(_))
    ));
}
