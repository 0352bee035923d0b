//! Round trips `decode(encode(x)) == x` for every ONC RPC message type (RFC 5531 §9,
//! Appendix A), over `arbitrary` values generated from seeded buffers.

mod support;

use proto_nfs::rpc::auth::{AuthStat, AuthSysParms, OpaqueAuth};
use proto_nfs::rpc::message::{ReplyBody, RpcMessage};

const N: usize = 2000;

#[test]
fn rpc_message_round_trips() {
    assert!(support::round_trip::<RpcMessage>("rpc_msg", N) > N / 2);
}

#[test]
fn reply_body_round_trips() {
    assert!(support::round_trip::<ReplyBody>("reply_body", N) > 50);
}

#[test]
fn opaque_auth_round_trips() {
    assert!(support::round_trip::<OpaqueAuth>("opaque_auth", N) > N / 2);
}

#[test]
fn authsys_parms_round_trips() {
    assert!(support::round_trip::<AuthSysParms>("authsys_parms", N) > N / 2);
}

#[test]
fn auth_stat_round_trips() {
    assert_eq!(support::round_trip::<AuthStat>("auth_stat", N), 15);
}
