//! Round trips of every MOUNT v3 call and reply (RFC 1813 Appendix I) over `arbitrary`
//! values, and the limits of the codecs.

mod support;

use proto_nfs::mount::{MountCall, MountReply};
use proto_nfs::rpc::{ArgsError, ProcedureCall, ProcedureReply};

#[test]
fn mount_calls_round_trip() {
    assert_eq!(
        support::round_trip_calls::<MountCall>("mount_call", 3000),
        6
    );
}

#[test]
fn mount_replies_round_trip() {
    assert_eq!(
        support::round_trip_replies::<MountReply>("mount_reply", 3000),
        6
    );
}

#[test]
fn dirpath_over_mntpathlen_is_garbage() {
    let mut args = 1025u32.to_be_bytes().to_vec();
    args.extend_from_slice(&[b'a'; 1028]);
    assert!(matches!(
        MountCall::decode_args(1, &args),
        Err(ArgsError::Garbage(_))
    ));
    let mut ok = 1024u32.to_be_bytes().to_vec();
    ok.extend_from_slice(&[b'a'; 1024]);
    assert!(matches!(
        MountCall::decode_args(1, &ok),
        Ok(MountCall::Mnt(_))
    ));
}

#[test]
fn mnt_reply_status_must_be_defined_and_handle_at_most_64_bytes() {
    assert!(MountReply::decode_results(1, &[0, 0, 0, 3]).is_err());
    let mut long_fh = vec![0, 0, 0, 0, 0, 0, 0, 65];
    long_fh.extend_from_slice(&[0; 68]);
    long_fh.extend_from_slice(&[0, 0, 0, 0]);
    assert!(MountReply::decode_results(1, &long_fh).is_err());
}
