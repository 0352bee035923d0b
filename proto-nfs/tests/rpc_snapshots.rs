//! insta snapshots of RPC-level refusals as the server encodes them (RFC 5531 §9):
//! PROG_UNAVAIL, PROG_MISMATCH, PROC_UNAVAIL, GARBAGE_ARGS, RPC_MISMATCH, AUTH_ERROR.

mod support;

use proto_nfs::rpc::auth::{AuthFlavor, OpaqueAuth};
use support::{call, one_tcp_reply, reply_snapshot, Harness};

fn snap(c: support::CallBuilder) -> String {
    let mut h = Harness::new();
    let wire = one_tcp_reply(&mut h, &c);
    reply_snapshot(&wire, |r| r.to_vec())
}

#[test]
fn snapshot_prog_mismatch() {
    insta::assert_snapshot!(snap(call(0x3001).prog(100_003, 2)));
}

#[test]
fn snapshot_prog_unavail() {
    insta::assert_snapshot!(snap(call(0x3002).prog(100_227, 3)));
}

#[test]
fn snapshot_proc_unavail() {
    insta::assert_snapshot!(snap(call(0x3003).prog(100_005, 3).proc_(9)));
}

#[test]
fn snapshot_garbage_args() {
    insta::assert_snapshot!(snap(call(0x3004).prog(100_005, 3).proc_(1).u32(0xffff)));
}

#[test]
fn snapshot_rpc_mismatch() {
    insta::assert_snapshot!(snap(call(0x3005).rpcvers(1)));
}

#[test]
fn snapshot_auth_error_badcred() {
    let gids: Vec<u32> = (0..17).collect();
    insta::assert_snapshot!(snap(call(0x3006).auth_sys_gids(0, 0, &gids)));
}

#[test]
fn snapshot_auth_error_badverf() {
    insta::assert_snapshot!(snap(call(0x3007).verf(OpaqueAuth {
        flavor: AuthFlavor::DH,
        body: bytes::Bytes::from_static(b"abcd"),
    })));
}
