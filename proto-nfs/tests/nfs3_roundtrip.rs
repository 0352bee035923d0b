//! NFSv3 codec round trips (RFC 1813 §3.3): for `arbitrary`-generated values of every
//! argument and result type, `decode(encode(x)) == x`; and for random bytes that decode,
//! `encode(decode(b)) == b` (the encoding is canonical).

use arbitrary::{Arbitrary, Unstructured};
use bytes::BytesMut;
use proto_nfs::nfs3::*;
use proto_nfs::xdr::{XdrDecode, XdrEncode};

/// A small deterministic generator (xorshift64*) so the tests need no OS randomness and a
/// failure can be replayed from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

const ITERATIONS: u64 = 3000;

fn round_trip_type<T>(name: &str)
where
    T: for<'a> Arbitrary<'a> + XdrEncode + XdrDecode + PartialEq + std::fmt::Debug,
{
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut checked = 0;
    for seed in 0..ITERATIONS {
        let len = (rng.next() % 2048) as usize;
        let raw = rng.bytes(len);
        let mut u = Unstructured::new(&raw);
        let Ok(value) = T::arbitrary(&mut u) else {
            continue;
        };
        let bytes = value.to_bytes();
        let back = T::decode_exact(&bytes)
            .unwrap_or_else(|e| panic!("{name} seed {seed}: {value:?} did not decode: {e:?}"));
        assert_eq!(back, value, "{name} seed {seed}");
        checked += 1;
    }
    assert!(
        checked > ITERATIONS / 2,
        "{name}: only {checked} values generated"
    );
}

macro_rules! round_trip_types {
    ($($ty:ty),* $(,)?) => {
        #[test]
        fn every_type_round_trips() {
            $( round_trip_type::<$ty>(stringify!($ty)); )*
        }
    };
}

round_trip_types!(
    Nfs3Status,
    FType3,
    StableHow,
    SpecData3,
    NfsTime3,
    Fattr3,
    WccAttr,
    WccData,
    SetTime3,
    Sattr3,
    DirOpArgs3,
    Filename3,
    NfsPath3,
    GetattrArgs,
    SetattrArgs,
    LookupArgs,
    AccessArgs,
    ReadlinkArgs,
    ReadArgs,
    WriteArgs,
    CreateHow3,
    CreateArgs,
    MkdirArgs,
    SymlinkArgs,
    DeviceData3,
    MknodData3,
    MknodArgs,
    RemoveArgs,
    RenameArgs,
    LinkArgs,
    ReaddirArgs,
    ReaddirplusArgs,
    FsrootArgs,
    PathconfArgs,
    CommitArgs,
    GetattrOk,
    LookupOk,
    AccessOk,
    ReadlinkOk,
    ReadOk,
    WriteOk,
    CreateOk,
    RenameWcc,
    LinkWcc,
    Entry3,
    ReaddirOk,
    EntryPlus3,
    ReaddirplusOk,
    FsstatOk,
    FsinfoOk,
    PathconfOk,
    CommitOk,
);

#[test]
fn every_call_round_trips_through_its_procedure_number() {
    let mut rng = Rng(42);
    let mut seen = [0u32; 22];
    for seed in 0..20_000u64 {
        let len = (rng.next() % 1024) as usize;
        let raw = rng.bytes(len);
        let Ok(call) = Nfs3Call::arbitrary(&mut Unstructured::new(&raw)) else {
            continue;
        };
        let mut out = BytesMut::new();
        call.encode(&mut out);
        let back = Nfs3Call::decode(call.procedure(), &out)
            .unwrap_or_else(|e| panic!("seed {seed}: {call:?} -> {e:?}"));
        assert_eq!(back, call, "seed {seed}");
        seen[call.procedure() as usize] += 1;
    }
    assert!(
        seen.iter().all(|&n| n > 0),
        "every procedure generated: {seen:?}"
    );
}

#[test]
fn every_reply_round_trips_through_its_procedure_number() {
    let mut rng = Rng(7);
    let mut seen = [0u32; 22];
    for seed in 0..20_000u64 {
        let len = (rng.next() % 1024) as usize;
        let raw = rng.bytes(len);
        let Ok(reply) = Nfs3Reply::arbitrary(&mut Unstructured::new(&raw)) else {
            continue;
        };
        let mut out = BytesMut::new();
        reply.encode(&mut out);
        let back = Nfs3Reply::decode(reply.procedure(), &out)
            .unwrap_or_else(|e| panic!("seed {seed}: {reply:?} -> {e:?}"));
        assert_eq!(back, reply, "seed {seed}");
        seen[reply.procedure() as usize] += 1;
    }
    assert!(
        seen.iter().all(|&n| n > 0),
        "every procedure generated: {seen:?}"
    );
}

/// Random bytes rarely decode, so mutate valid encodings instead: whatever decodes must
/// re-encode to the same bytes, and nothing may panic.
#[test]
fn mutated_encodings_decode_canonically_or_fail_cleanly() {
    let mut rng = Rng(1234);
    let mut decoded = 0;
    for _ in 0..20_000u64 {
        let len = (rng.next() % 512) as usize;
        let raw = rng.bytes(len);
        let Ok(call) = Nfs3Call::arbitrary(&mut Unstructured::new(&raw)) else {
            continue;
        };
        let mut out = BytesMut::new();
        call.encode(&mut out);
        let mut bytes = out.to_vec();
        if !bytes.is_empty() {
            let i = (rng.next() as usize) % bytes.len();
            bytes[i] ^= 1 << (rng.next() % 8);
        }
        if rng.next() % 4 == 0 {
            let cut = (rng.next() as usize) % (bytes.len() + 1);
            bytes.truncate(cut);
        }
        if let Ok(back) = Nfs3Call::decode(call.procedure(), &bytes) {
            let mut again = BytesMut::new();
            back.encode(&mut again);
            assert_eq!(&again[..], &bytes[..], "{back:?}");
            decoded += 1;
        }
    }
    assert!(decoded > 100, "only {decoded} mutated calls decoded");
}

#[test]
fn undefined_procedure_is_proc_unavail_and_garbage_is_garbage_args() {
    assert_eq!(Nfs3Call::decode(22, &[]), Err(None));
    assert_eq!(Nfs3Call::decode(u32::MAX, &[]), Err(None));
    assert!(matches!(Nfs3Call::decode(1, &[0, 0]), Err(Some(_))));
    assert!(matches!(Nfs3Call::decode(0, &[0, 0, 0, 0]), Err(Some(_))));
}

#[test]
fn decode_limits_are_enforced_before_reading() {
    use proto_nfs::xdr::XdrErrorKind;
    // GETATTR with a 65-byte handle.
    let mut b = BytesMut::new();
    proto_nfs::xdr::put_opaque_var(&mut b, &[1u8; 65]);
    assert!(matches!(
        Nfs3Call::decode(proc::GETATTR, &b),
        Err(Some(XdrErrorKind::TooLong {
            claimed: 65,
            max: 64
        }))
    ));
    // LOOKUP with a name claiming 4 GiB.
    let mut b = BytesMut::new();
    proto_nfs::xdr::put_opaque_var(&mut b, &[1u8; 8]);
    b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
    assert!(matches!(
        Nfs3Call::decode(proc::LOOKUP, &b),
        Err(Some(XdrErrorKind::TooLong { .. }))
    ));
    // WRITE whose count differs from its data length.
    let mut b = BytesMut::new();
    WriteArgs {
        file: FileHandle::new(1, b"x").expect("fits"),
        offset: 0,
        stable: StableHow::Unstable,
        data: bytes::Bytes::from_static(b"abcd"),
    }
    .encode(&mut b);
    let count_at = 4 + 8 + 8; // handle (len + 6 bytes padded to 8), offset
    b[count_at + 3] = 3;
    assert!(matches!(Nfs3Call::decode(proc::WRITE, &b), Err(Some(_))));
    // WRITE data over the limit.
    let mut b = BytesMut::new();
    WriteArgs {
        file: FileHandle::new(1, b"x").expect("fits"),
        offset: 0,
        stable: StableHow::Unstable,
        data: bytes::Bytes::from(vec![0u8; MAX_DATA as usize + 4]),
    }
    .encode(&mut b);
    assert!(matches!(
        Nfs3Call::decode(proc::WRITE, &b),
        Err(Some(XdrErrorKind::TooLong { .. }))
    ));
    // SYMLINK target over PATH_MAX.
    let args = SymlinkArgs {
        where_: DirOpArgs3 {
            dir: FileHandle::new(1, b"d").expect("fits"),
            name: Filename3::from(&b"l"[..]),
        },
        symlink_attributes: Sattr3::default(),
        symlink_data: NfsPath3(bytes::Bytes::from(vec![b'a'; MAX_PATH as usize + 1])),
    };
    assert!(matches!(
        Nfs3Call::decode(proc::SYMLINK, &args.to_bytes()),
        Err(Some(XdrErrorKind::TooLong { .. }))
    ));
}

#[test]
fn classification_matches_rfc_1813() {
    let fh = FileHandle::new(1, b"h").expect("fits");
    let d = DirOpArgs3 {
        dir: fh.clone(),
        name: Filename3::from(&b"n"[..]),
    };
    let idempotent = [
        Nfs3Call::Null,
        Nfs3Call::Getattr(GetattrArgs { object: fh.clone() }),
        Nfs3Call::Lookup(LookupArgs { what: d.clone() }),
        Nfs3Call::Commit(CommitArgs {
            file: fh.clone(),
            offset: 0,
            count: 0,
        }),
    ];
    for c in &idempotent {
        assert!(c.is_idempotent() && !c.is_modifying(), "{c:?}");
    }
    let modifying = [
        Nfs3Call::Remove(RemoveArgs { object: d.clone() }),
        Nfs3Call::Rename(RenameArgs {
            from: d.clone(),
            to: d.clone(),
        }),
        Nfs3Call::Create(CreateArgs {
            where_: d.clone(),
            how: CreateHow3::Exclusive([1; 8]),
        }),
    ];
    for c in &modifying {
        assert!(!c.is_idempotent() && c.is_modifying(), "{c:?}");
    }
    let link = Nfs3Call::Link(LinkArgs {
        file: fh.clone(),
        link: d,
    });
    assert_eq!(link.file_handles().len(), 2);
    let err = Nfs3Reply::error_for(&link, Nfs3Status::XDev);
    assert_eq!(err.status(), Nfs3Status::XDev);
    assert_eq!(err.procedure(), proc::LINK);
    assert_eq!(
        Nfs3Reply::error_for(&link, Nfs3Status::Ok).status(),
        Nfs3Status::ServerFault
    );
}

#[test]
fn decode_shared_slices_write_data_without_copying() {
    for len in [0usize, 1, 3, 4, 5, 4096] {
        let args = WriteArgs {
            file: FileHandle::new(3, b"abc").expect("fits"),
            offset: 9,
            stable: StableHow::FileSync,
            data: bytes::Bytes::from((0..len).map(|i| i as u8).collect::<Vec<_>>()),
        };
        let wire = args.to_bytes();
        let call = Nfs3Call::decode_shared(proc::WRITE, &wire).expect("decodes");
        assert_eq!(call, Nfs3Call::Write(args.clone()), "len {len}");
        let Nfs3Call::Write(w) = call else {
            unreachable!()
        };
        if len > 0 {
            // Same memory as the record: a slice, not a copy.
            let start = w.data.as_ptr() as usize - wire.as_ptr() as usize;
            assert!(start + len <= wire.len());
        }
    }
    // Other procedures decode as with `decode`.
    let g = GetattrArgs {
        object: FileHandle::new(1, b"x").expect("fits"),
    }
    .to_bytes();
    assert_eq!(
        Nfs3Call::decode_shared(proc::GETATTR, &g),
        Nfs3Call::decode(proc::GETATTR, &g)
    );
}

#[test]
fn encode_head_plus_data_plus_padding_equals_encode() {
    let mut rng = Rng(99);
    let mut reads = 0;
    for _ in 0..5000u64 {
        let len = (rng.next() % 1024) as usize;
        let raw = rng.bytes(len);
        let Ok(reply) = Nfs3Reply::arbitrary(&mut Unstructured::new(&raw)) else {
            continue;
        };
        let mut whole = BytesMut::new();
        reply.encode(&mut whole);
        let mut head = BytesMut::new();
        match reply.encode_head(&mut head) {
            Some(data) => {
                reads += 1;
                head.extend_from_slice(&data);
                head.extend_from_slice(&[0u8; 3][..proto_nfs::xdr::pad_len(data.len())]);
            }
            None => assert!(!matches!(reply, Nfs3Reply::Read(Nfs3Result::Ok(_)))),
        }
        assert_eq!(head, whole, "{reply:?}");
    }
    assert!(reads > 10, "only {reads} READ replies generated");
}

#[test]
fn status_values_and_names_follow_rfc_1813() {
    assert_eq!(Nfs3Status::ALL.len(), 29);
    assert_eq!(Nfs3Status::errors().len(), 28);
    let wire: Vec<u32> = Nfs3Status::ALL.iter().map(|s| *s as u32).collect();
    assert_eq!(
        wire,
        [
            0, 1, 2, 5, 6, 13, 17, 18, 19, 20, 21, 22, 27, 28, 30, 31, 63, 66, 69, 70, 71, 10001,
            10002, 10003, 10004, 10005, 10006, 10007, 10008
        ]
    );
    assert_eq!(Nfs3Status::BadCookie.to_string(), "NFS3ERR_BAD_COOKIE");
    assert_eq!(Nfs3Status::from_u32(3), None);
}
