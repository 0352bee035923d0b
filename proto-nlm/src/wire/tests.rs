//! Codec tests: `decode(encode(x)) == x` for arbitrary values of every NLM v4 and NSM v1
//! message (values built by `arbitrary` from proptest-chosen bytes), snapshots of
//! representative messages (bytes and decoded form), and the refusals a peer can provoke.

use arbitrary::{Arbitrary, Unstructured};
use bytes::BytesMut;
use proptest::prelude::*;
use proto_nfs::xdr::{XdrDecode, XdrEncode, XdrErrorKind};

use super::*;

fn round_trip<T>(seed: &[u8])
where
    T: for<'a> Arbitrary<'a> + XdrDecode + XdrEncode + PartialEq + std::fmt::Debug,
{
    let mut u = Unstructured::new(seed);
    let Ok(value) = T::arbitrary(&mut u) else {
        return;
    };
    let bytes = value.to_bytes();
    assert_eq!(bytes.len() % 4, 0, "XDR is 4-byte aligned: {value:?}");
    let back = T::decode_exact(&bytes).expect("own encoding decodes");
    assert_eq!(back, value);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn nlm4_types_round_trip(seed in proptest::collection::vec(any::<u8>(), 0..3000)) {
        round_trip::<Nlm4Stats>(&seed);
        round_trip::<Nlm4Lock>(&seed);
        round_trip::<Nlm4Holder>(&seed);
        round_trip::<Nlm4TestArgs>(&seed);
        round_trip::<Nlm4TestRply>(&seed);
        round_trip::<Nlm4TestRes>(&seed);
        round_trip::<Nlm4LockArgs>(&seed);
        round_trip::<Nlm4CancArgs>(&seed);
        round_trip::<Nlm4UnlockArgs>(&seed);
        round_trip::<Nlm4Res>(&seed);
        round_trip::<Nlm4Share>(&seed);
        round_trip::<Nlm4ShareArgs>(&seed);
        round_trip::<Nlm4ShareRes>(&seed);
        round_trip::<Nlm4Notify>(&seed);
        round_trip::<Netobj>(&seed);
        round_trip::<LmName>(&seed);
    }

    #[test]
    fn nsm_types_round_trip(seed in proptest::collection::vec(any::<u8>(), 0..3000)) {
        round_trip::<SmName>(&seed);
        round_trip::<MyId>(&seed);
        round_trip::<MonId>(&seed);
        round_trip::<Mon>(&seed);
        round_trip::<SmStatRes>(&seed);
        round_trip::<SmStat>(&seed);
        round_trip::<StatChge>(&seed);
        round_trip::<SmStatus>(&seed);
    }

    #[test]
    fn nlm4_calls_and_replies_round_trip(seed in proptest::collection::vec(any::<u8>(), 0..3000)) {
        let mut u = Unstructured::new(&seed);
        if let Ok(call) = Nlm4Call::arbitrary(&mut u) {
            let args = call.args_bytes();
            let back = Nlm4Call::decode(call.procedure().to_u32(), &args).expect("decodes");
            prop_assert_eq!(back, call.clone());
            // A truncated argument list is GARBAGE_ARGS, never a panic.
            if !args.is_empty() {
                let cut = Nlm4Call::decode(call.procedure().to_u32(), &args[..args.len() - 1]);
                prop_assert!(matches!(cut, Err(CallDecodeError::GarbageArgs(_))));
            }
        }
        if let Ok(reply) = Nlm4Reply::arbitrary(&mut u) {
            let proc_ = match reply {
                Nlm4Reply::Void => Nlm4Proc::FreeAll,
                Nlm4Reply::Test(_) => Nlm4Proc::Test,
                Nlm4Reply::Res(_) => Nlm4Proc::Lock,
                Nlm4Reply::Share(_) => Nlm4Proc::Share,
            };
            let back = Nlm4Reply::decode(proc_, &reply.to_bytes()).expect("decodes");
            prop_assert_eq!(back, reply);
        }
    }

    #[test]
    fn nsm_calls_and_replies_round_trip(seed in proptest::collection::vec(any::<u8>(), 0..3000)) {
        let mut u = Unstructured::new(&seed);
        if let Ok(call) = NsmCall::arbitrary(&mut u) {
            let back = NsmCall::decode(call.procedure().to_u32(), &call.args_bytes())
                .expect("decodes");
            prop_assert_eq!(back, call);
        }
        if let Ok(reply) = NsmReply::arbitrary(&mut u) {
            let proc_ = match reply {
                NsmReply::Void => NsmProc::Notify,
                NsmReply::StatRes(_) => NsmProc::Mon,
                NsmReply::Stat(_) => NsmProc::Unmon,
            };
            let back = NsmReply::decode(proc_, &reply.to_bytes()).expect("decodes");
            prop_assert_eq!(back, reply);
        }
    }

    /// Arbitrary bytes given to any procedure's decoder: an error or a value whose encoding
    /// is exactly the input (the decoder accepts only canonical XDR).
    #[test]
    fn decoders_accept_only_canonical_bytes(
        procedure in 0u32..30,
        args in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        if let Ok(call) = Nlm4Call::decode(procedure, &args) {
            prop_assert_eq!(&call.args_bytes()[..], &args[..]);
        }
        if let Ok(call) = NsmCall::decode(procedure, &args) {
            prop_assert_eq!(&call.args_bytes()[..], &args[..]);
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .chunks(4)
        .map(|w| w.iter().map(|b| format!("{b:02x}")).collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

fn snapshot_of(procedure: u32, args: &[u8], decoded: &dyn std::fmt::Debug) -> String {
    format!("procedure {procedure}\nbytes: {}\n{decoded:#?}", hex(args))
}

fn sample_lock() -> Nlm4Lock {
    Nlm4Lock {
        caller_name: LmString::from_static(b"client1"),
        fh: Netobj::from_static(&[0x01, 0x00, 0x00, 0x07, 0xde, 0xad, 0xbe, 0xef]),
        oh: Netobj::from_static(b"client1:4242"),
        svid: 4242,
        l_offset: 100,
        l_len: 50,
    }
}

#[test]
fn snapshot_lockargs() {
    let call = Nlm4Call::Lock(Nlm4LockArgs {
        cookie: Netobj::from_static(&[0, 0, 0, 1]),
        block: true,
        exclusive: true,
        alock: sample_lock(),
        reclaim: false,
        state: 3,
    });
    let args = call.args_bytes();
    assert_eq!(Nlm4Call::decode(2, &args).as_ref(), Ok(&call));
    insta::assert_snapshot!(snapshot_of(2, &args, &call));
}

#[test]
fn snapshot_testres_denied_with_holder() {
    let reply = Nlm4Reply::Test(Nlm4TestRes {
        cookie: Netobj::from_static(&[0, 0, 0, 2]),
        stat: Nlm4TestRply::Denied(Nlm4Holder {
            exclusive: true,
            svid: 1,
            oh: Netobj::from_static(b"nlm-client:1"),
            l_offset: 0,
            l_len: 100,
        }),
    });
    let body = reply.to_bytes();
    assert_eq!(
        Nlm4Reply::decode(Nlm4Proc::Test, &body).as_ref(),
        Ok(&reply)
    );
    insta::assert_snapshot!(snapshot_of(1, &body, &reply));
}

#[test]
fn snapshot_sm_mon() {
    let call = NsmCall::Mon(Mon {
        mon_id: MonId {
            mon_name: SmString::from_static(b"client1"),
            my_id: MyId {
                my_name: SmString::from_static(b"127.0.0.1"),
                my_prog: NLM_PROGRAM,
                my_vers: 4,
                my_proc: 16,
            },
        },
        priv_: *b"0123456789abcdef",
    });
    let args = call.args_bytes();
    assert_eq!(NsmCall::decode(2, &args).as_ref(), Ok(&call));
    insta::assert_snapshot!(snapshot_of(2, &args, &call));
}

#[test]
fn snapshot_sm_notify() {
    let call = NsmCall::Notify(StatChge {
        mon_name: SmString::from_static(b"janus-host"),
        state: 7,
    });
    let args = call.args_bytes();
    assert_eq!(NsmCall::decode(6, &args).as_ref(), Ok(&call));
    insta::assert_snapshot!(snapshot_of(6, &args, &call));
}

#[test]
fn snapshot_share_args() {
    let call = Nlm4Call::Share(Nlm4ShareArgs {
        cookie: Netobj::from_static(b"ck"),
        share: Nlm4Share {
            caller_name: LmString::from_static(b"pcnfs"),
            fh: Netobj::from_static(&[9; 12]),
            oh: Netobj::from_static(b"o"),
            mode: FshMode::DenyWrite,
            access: FshAccess::ReadWrite,
        },
        reclaim: false,
    });
    let args = call.args_bytes();
    assert_eq!(Nlm4Call::decode(20, &args).as_ref(), Ok(&call));
    insta::assert_snapshot!(snapshot_of(20, &args, &call));
}

/// The exact bytes of a UNLOCK argument, built by hand from XNFS's `nlm4_unlockargs`
/// definition, independent of our encoder.
#[test]
fn unlockargs_hand_built_bytes_decode() {
    let mut b = BytesMut::new();
    b.extend_from_slice(&[0, 0, 0, 1, 0xaa, 0, 0, 0]); // cookie <1> aa + pad
    b.extend_from_slice(&[0, 0, 0, 2, b'h', b'1', 0, 0]); // caller_name "h1"
    b.extend_from_slice(&[0, 0, 0, 4, 1, 2, 3, 4]); // fh
    b.extend_from_slice(&[0, 0, 0, 3, b'o', b'w', b'n', 0]); // oh "own"
    b.extend_from_slice(&[0xff, 0xff, 0xff, 0xfe]); // svid -2
    b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0x10, 0]); // l_offset 4096
    b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]); // l_len 0 = to EOF
    let call = Nlm4Call::decode(4, &b).expect("decodes");
    assert_eq!(
        call,
        Nlm4Call::Unlock(Nlm4UnlockArgs {
            cookie: Netobj::from_static(&[0xaa]),
            alock: Nlm4Lock {
                caller_name: LmString::from_static(b"h1"),
                fh: Netobj::from_static(&[1, 2, 3, 4]),
                oh: Netobj::from_static(b"own"),
                svid: -2,
                l_offset: 4096,
                l_len: 0,
            },
        })
    );
    assert_eq!(&call.args_bytes()[..], &b[..]);
}

#[test]
fn unused_and_unknown_procedures_are_unavailable() {
    for p in [16, 17, 18, 19, 24, 1000] {
        assert_eq!(
            Nlm4Call::decode(p, &[]),
            Err(CallDecodeError::ProcUnavail(p))
        );
        assert_eq!(CallDecodeError::ProcUnavail(p).accept_stat(), 3);
    }
    assert_eq!(
        NsmCall::decode(7, &[]),
        Err(CallDecodeError::ProcUnavail(7))
    );
    for p in (0..=15).chain(20..=23) {
        assert_eq!(Nlm4Proc::from_u32(p).map(Nlm4Proc::to_u32), Some(p));
    }
}

#[test]
fn bad_enum_values_and_trailing_bytes_are_garbage() {
    // nlm4_res with status 10 (undefined).
    let res = [0, 0, 0, 0, 0, 0, 0, 10];
    assert_eq!(
        Nlm4Call::decode(12, &res),
        Err(CallDecodeError::GarbageArgs(XdrErrorKind::BadDiscriminant(
            10
        )))
    );
    // NULL with an argument.
    assert!(matches!(
        Nlm4Call::decode(0, &[0, 0, 0, 0]),
        Err(CallDecodeError::GarbageArgs(_))
    ));
    // A valid nlm4_res followed by four extra bytes.
    let res = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    assert!(matches!(
        Nlm4Call::decode(12, &res),
        Err(CallDecodeError::GarbageArgs(XdrErrorKind::Invalid(_)))
    ));
    // caller_name claiming 2000 bytes in a TEST: refused before reading.
    let test = [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0x07, 0xd0];
    assert_eq!(
        Nlm4Call::decode(1, &test),
        Err(CallDecodeError::GarbageArgs(XdrErrorKind::TooLong {
            claimed: 2000,
            max: 1024
        }))
    );
}

#[test]
fn status_numbers_match_xnfs() {
    let all = [
        (Nlm4Stats::Granted, 0),
        (Nlm4Stats::Denied, 1),
        (Nlm4Stats::DeniedNolocks, 2),
        (Nlm4Stats::Blocked, 3),
        (Nlm4Stats::DeniedGracePeriod, 4),
        (Nlm4Stats::Deadlck, 5),
        (Nlm4Stats::Rofs, 6),
        (Nlm4Stats::StaleFh, 7),
        (Nlm4Stats::Fbig, 8),
        (Nlm4Stats::Failed, 9),
    ];
    for (s, v) in all {
        assert_eq!(s.to_u32(), v);
        assert_eq!(Nlm4Stats::from_u32(v), Some(s));
    }
    assert_eq!(Nlm4Stats::from_u32(10), None);
}

/// One representative value of every NLM v4 and NSM v1 call and of every result type, as
/// XDR words and decoded form in one snapshot (the bytes a reviewer or Wireshark checks).
#[test]
fn snapshot_every_message() {
    let lock = sample_lock();
    let cookie = Netobj::from_static(&[0xc0, 0x0c]);
    let test_args = Nlm4TestArgs {
        cookie: cookie.clone(),
        exclusive: false,
        alock: lock.clone(),
    };
    let lock_args = Nlm4LockArgs {
        cookie: cookie.clone(),
        block: false,
        exclusive: true,
        alock: lock.clone(),
        reclaim: true,
        state: 5,
    };
    let canc = Nlm4CancArgs {
        cookie: cookie.clone(),
        block: true,
        exclusive: true,
        alock: lock.clone(),
    };
    let unl = Nlm4UnlockArgs {
        cookie: cookie.clone(),
        alock: lock,
    };
    let res = Nlm4Res {
        cookie: cookie.clone(),
        stat: Nlm4Stats::DeniedGracePeriod,
    };
    let test_res = Nlm4TestRes {
        cookie: cookie.clone(),
        stat: Nlm4TestRply::Status(Nlm4Stats::Granted),
    };
    let share = Nlm4ShareArgs {
        cookie: cookie.clone(),
        share: Nlm4Share {
            caller_name: LmString::from_static(b"pc"),
            fh: Netobj::from_static(&[1, 2, 3]),
            oh: Netobj::from_static(b"oh"),
            mode: FshMode::DenyReadWrite,
            access: FshAccess::Read,
        },
        reclaim: true,
    };
    let calls = vec![
        Nlm4Call::Null,
        Nlm4Call::Test(test_args.clone()),
        Nlm4Call::Lock(lock_args.clone()),
        Nlm4Call::Cancel(canc.clone()),
        Nlm4Call::Unlock(unl.clone()),
        Nlm4Call::Granted(test_args.clone()),
        Nlm4Call::TestMsg(test_args.clone()),
        Nlm4Call::LockMsg(lock_args.clone()),
        Nlm4Call::CancelMsg(canc),
        Nlm4Call::UnlockMsg(unl),
        Nlm4Call::GrantedMsg(test_args),
        Nlm4Call::TestRes(test_res.clone()),
        Nlm4Call::LockRes(res.clone()),
        Nlm4Call::CancelRes(res.clone()),
        Nlm4Call::UnlockRes(res.clone()),
        Nlm4Call::GrantedRes(res.clone()),
        Nlm4Call::Share(share.clone()),
        Nlm4Call::Unshare(share),
        Nlm4Call::NmLock(lock_args),
        Nlm4Call::FreeAll(Nlm4Notify {
            name: LmName::from_static(b"client1"),
            state: 9,
        }),
    ];
    let mut out = String::new();
    for c in &calls {
        let p = c.procedure();
        let args = c.args_bytes();
        assert_eq!(Nlm4Call::decode(p.to_u32(), &args).as_ref(), Ok(c));
        out += &format!("NLM {} ({}) args: {}\n", p.to_u32(), p.name(), hex(&args));
    }
    let replies = [
        (Nlm4Proc::Test, Nlm4Reply::Test(test_res)),
        (Nlm4Proc::Lock, Nlm4Reply::Res(res)),
        (
            Nlm4Proc::Share,
            Nlm4Reply::Share(Nlm4ShareRes {
                cookie,
                stat: Nlm4Stats::Denied,
                sequence: 0,
            }),
        ),
    ];
    for (p, r) in &replies {
        let body = r.to_bytes();
        assert_eq!(Nlm4Reply::decode(*p, &body).as_ref(), Ok(r));
        out += &format!("NLM {} ({}) reply: {}\n", p.to_u32(), p.name(), hex(&body));
    }
    let my_id = MyId {
        my_name: SmString::from_static(b"localhost"),
        my_prog: NLM_PROGRAM,
        my_vers: 4,
        my_proc: 16,
    };
    let mon_id = MonId {
        mon_name: SmString::from_static(b"client1"),
        my_id: my_id.clone(),
    };
    let nsm_calls = vec![
        NsmCall::Null,
        NsmCall::Stat(SmName {
            mon_name: SmString::from_static(b"client1"),
        }),
        NsmCall::Mon(Mon {
            mon_id: mon_id.clone(),
            priv_: [0xaa; 16],
        }),
        NsmCall::Unmon(mon_id),
        NsmCall::UnmonAll(my_id),
        NsmCall::SimuCrash,
        NsmCall::Notify(StatChge {
            mon_name: SmString::from_static(b"janus"),
            state: 3,
        }),
    ];
    for c in &nsm_calls {
        let p = c.procedure();
        let args = c.args_bytes();
        assert_eq!(NsmCall::decode(p.to_u32(), &args).as_ref(), Ok(c));
        out += &format!("NSM {} ({}) args: {}\n", p.to_u32(), p.name(), hex(&args));
    }
    let nsm_replies = [
        (
            NsmProc::Mon,
            NsmReply::StatRes(SmStatRes {
                res_stat: SmRes::Succ,
                state: 7,
            }),
        ),
        (NsmProc::Unmon, NsmReply::Stat(SmStat { state: 7 })),
    ];
    for (p, r) in &nsm_replies {
        let body = r.to_bytes();
        assert_eq!(NsmReply::decode(*p, &body).as_ref(), Ok(r));
        out += &format!("NSM {} ({}) reply: {}\n", p.to_u32(), p.name(), hex(&body));
    }
    let status = SmStatus {
        mon_name: SmString::from_static(b"client1"),
        state: 5,
        priv_: [0xbb; 16],
    };
    out += &format!("NSM callback status: {}\n", hex(&status.to_bytes()));
    insta::assert_snapshot!(out);
}

/// Bytes produced by a third-party encoder: libnfs 4.0.0's rpcgen `zdr_NLM4_*`/`zdr_NSM1_*`
/// functions (the library the e2e NLM client uses), dumped by a 60-line C program. Each must
/// decode to the values given to libnfs and re-encode to the same bytes.
#[test]
fn libnfs_encoded_messages_decode_and_reencode() {
    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }
    let lock = Nlm4Lock {
        caller_name: LmString::from_static(b"nlm-client"),
        fh: Netobj::from_static(&[1, 0, 0, 7, 0xde, 0xad, 0xbe, 0xef]),
        oh: Netobj::from_static(b"nlm-client:7"),
        svid: 7,
        l_offset: 4096,
        l_len: 0,
    };
    let cookie = Netobj::from_static(&[0, 0, 0, 1]);
    let nlm: [(u32, &str, Nlm4Call); 5] = [
        (2, "000000040000000100000001000000010000000a6e6c6d2d636c69656e7400000000000801000007deadbeef0000000c6e6c6d2d636c69656e743a3700000007000000000000100000000000000000000000000000000003",
         Nlm4Call::Lock(Nlm4LockArgs { cookie: cookie.clone(), block: true, exclusive: true, alock: lock.clone(), reclaim: false, state: 3 })),
        (1, "0000000400000001000000000000000a6e6c6d2d636c69656e7400000000000801000007deadbeef0000000c6e6c6d2d636c69656e743a370000000700000000000010000000000000000000",
         Nlm4Call::Test(Nlm4TestArgs { cookie: cookie.clone(), exclusive: false, alock: lock.clone() })),
        (3, "000000040000000100000001000000010000000a6e6c6d2d636c69656e7400000000000801000007deadbeef0000000c6e6c6d2d636c69656e743a370000000700000000000010000000000000000000",
         Nlm4Call::Cancel(Nlm4CancArgs { cookie: cookie.clone(), block: true, exclusive: true, alock: lock.clone() })),
        (4, "00000004000000010000000a6e6c6d2d636c69656e7400000000000801000007deadbeef0000000c6e6c6d2d636c69656e743a370000000700000000000010000000000000000000",
         Nlm4Call::Unlock(Nlm4UnlockArgs { cookie: cookie.clone(), alock: lock })),
        (15, "000000040000000100000000",
         Nlm4Call::GrantedRes(Nlm4Res { cookie: cookie.clone(), stat: Nlm4Stats::Granted })),
    ];
    for (p, hexs, want) in nlm {
        let bytes = unhex(hexs);
        assert_eq!(
            Nlm4Call::decode(p, &bytes),
            Ok(want.clone()),
            "procedure {p}"
        );
        assert_eq!(&want.args_bytes()[..], &bytes[..], "procedure {p}");
    }
    let testres = unhex("0000000400000001000000010000000100000001000000076f746865723a310000000000000000000000000000000064");
    let want = Nlm4Reply::Test(Nlm4TestRes {
        cookie,
        stat: Nlm4TestRply::Denied(Nlm4Holder {
            exclusive: true,
            svid: 1,
            oh: Netobj::from_static(b"other:1"),
            l_offset: 0,
            l_len: 100,
        }),
    });
    assert_eq!(
        Nlm4Reply::decode(Nlm4Proc::Test, &testres),
        Ok(want.clone())
    );
    assert_eq!(&want.to_bytes()[..], &testres[..]);

    let my_id = MyId {
        my_name: SmString::from_static(b"client"),
        my_prog: NLM_PROGRAM,
        my_vers: 4,
        my_proc: 16,
    };
    let nsm: [(u32, &str, NsmCall); 3] = [
        (2, "000000056a616e757300000000000006636c69656e740000000186b5000000040000001030313233343536373839616263646566",
         NsmCall::Mon(Mon { mon_id: MonId { mon_name: SmString::from_static(b"janus"), my_id: my_id.clone() }, priv_: *b"0123456789abcdef" })),
        (6, "00000006636c69656e74000000000005",
         NsmCall::Notify(StatChge { mon_name: SmString::from_static(b"client"), state: 5 })),
        (4, "00000006636c69656e740000000186b50000000400000010", NsmCall::UnmonAll(my_id)),
    ];
    for (p, hexs, want) in nsm {
        let bytes = unhex(hexs);
        assert_eq!(
            NsmCall::decode(p, &bytes),
            Ok(want.clone()),
            "procedure {p}"
        );
        assert_eq!(&want.args_bytes()[..], &bytes[..], "procedure {p}");
    }
}
