//! NBSS framing and compound chains: limits, partial input, validation.

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;
use proto_smb2::compound::{split_compound, CompoundWriter};
use proto_smb2::nbss::{frame_header, frame_len, put_frame, take_frame, FrameError};
use proto_smb2::{Command, DecodeError, Header, HeaderId, NtStatus};

fn msg(command: Command, message_id: u64, body_len: usize, related: bool) -> Vec<u8> {
    let h = Header {
        credit_charge: 1,
        status: NtStatus::SUCCESS,
        command,
        credits: 1,
        flags: if related { 0x4 } else { 0 },
        next_command: 0,
        message_id,
        id: HeaderId::Sync {
            process_id: 0,
            tree_id: 1,
        },
        session_id: 9,
        signature: [0; 16],
    };
    let mut m = Vec::new();
    h.encode(&mut m);
    m.extend((0..body_len).map(|i| i as u8 | 1));
    m
}

#[test]
fn frame_limit_is_checked_from_the_header_alone() {
    // 4 header bytes announcing 70,000 bytes, none of them sent: refused at once.
    let mut buf = BytesMut::from(&frame_header(70_000)[..]);
    assert_eq!(
        take_frame(&mut buf, 65_536),
        Err(FrameError::TooLarge {
            claimed: 70_000,
            max: 65_536
        })
    );
    // The same frame under a larger (post-authentication) limit just waits for its bytes.
    let mut buf = BytesMut::from(&frame_header(70_000)[..]);
    assert_eq!(take_frame(&mut buf, 8 << 20), Ok(None));
    assert_eq!(buf.len(), 4, "nothing consumed while incomplete");
}

#[test]
fn keepalives_are_skipped_and_other_types_refused() {
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&[0x85, 0, 0, 0, 0x85, 0, 0, 0]);
    put_frame(&mut buf, b"hello");
    let f = take_frame(&mut buf, 100).unwrap().unwrap();
    assert_eq!(&f.payload[..], b"hello");
    assert_eq!(f.consumed, 8 + 4 + 5);
    assert!(buf.is_empty());
    // A NetBIOS session request (0x81) has no place in direct TCP.
    let mut buf = BytesMut::from(&[0x81u8, 0, 0, 4, 1, 2, 3, 4][..]);
    assert_eq!(take_frame(&mut buf, 100), Err(FrameError::BadType(0x81)));
}

proptest! {
    /// Frames arrive in arbitrary pieces: each comes out whole, once, in order, and the
    /// consumed counts add up to the bytes fed.
    #[test]
    fn frames_survive_any_segmentation(
        payloads in vec(vec(any::<u8>(), 0..300), 1..6),
        cuts in vec(1usize..64, 1..40),
    ) {
        let mut wire = Vec::new();
        for p in &payloads {
            put_frame(&mut wire, p);
        }
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut consumed = 0;
        let mut pos = 0;
        let mut cut = cuts.iter().cycle();
        while pos < wire.len() {
            let n = (*cut.next().unwrap()).min(wire.len() - pos);
            buf.extend_from_slice(&wire[pos..pos + n]);
            pos += n;
            while let Some(f) = take_frame(&mut buf, 300).unwrap() {
                consumed += f.consumed;
                got.push(f.payload.to_vec());
            }
        }
        prop_assert_eq!(got, payloads);
        prop_assert_eq!(consumed, wire.len());
        prop_assert!(buf.is_empty());
    }

    /// A chain built by the writer splits back into the same messages, each padded to 8
    /// bytes except the last.
    #[test]
    fn compound_chains_roundtrip(bodies in vec(0usize..50, 1..6)) {
        let msgs: Vec<Vec<u8>> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| msg(Command::ECHO, i as u64, *b, i > 0))
            .collect();
        let mut w = CompoundWriter::new();
        for m in &msgs {
            w.push(m);
        }
        let ranges = w.ranges().to_vec();
        let chain = w.finish();
        let parts = split_compound(&chain, 8).unwrap();
        prop_assert_eq!(parts.len(), msgs.len());
        for (i, (p, m)) in parts.iter().zip(&msgs).enumerate() {
            prop_assert_eq!(&p.range, &ranges[i]);
            // The message as pushed, with only NextCommand filled in.
            prop_assert_eq!(&p.msg[..m.len()], &with_next(m.clone(), p.header.next_command)[..]);
            prop_assert!(p.msg[m.len()..].iter().all(|b| *b == 0));
            prop_assert_eq!(p.header.message_id, i as u64);
            prop_assert_eq!(p.header.is_related(), i > 0);
            if i + 1 < msgs.len() {
                prop_assert_eq!(p.msg.len() % 8, 0);
                prop_assert_eq!(p.header.next_command as usize, p.msg.len());
            } else {
                prop_assert_eq!(p.header.next_command, 0);
            }
        }
    }
}

fn with_next(mut m: Vec<u8>, next: u32) -> Vec<u8> {
    m[20..24].copy_from_slice(&next.to_le_bytes());
    m
}

#[test]
fn compound_links_are_validated() {
    let a = msg(Command::ECHO, 1, 4, false);
    let b = msg(Command::ECHO, 2, 4, true);
    let chain = |first: Vec<u8>, pad: usize| {
        let mut v = first;
        v.resize(v.len() + pad, 0);
        v.extend_from_slice(&b);
        Bytes::from(v)
    };
    // Good: 68 bytes padded to 72.
    assert_eq!(
        split_compound(&chain(with_next(a.clone(), 72), 4), 4)
            .unwrap()
            .len(),
        2
    );
    // NextCommand not a multiple of 8.
    assert_eq!(
        split_compound(&chain(with_next(a.clone(), 68), 0), 4),
        Err(DecodeError::Misaligned {
            what: "NextCommand"
        })
    );
    // NextCommand pointing past the frame, or leaving no room for a header.
    assert!(matches!(
        split_compound(&chain(with_next(a.clone(), 4096), 4), 4),
        Err(DecodeError::OutOfBounds { .. })
    ));
    assert!(matches!(
        split_compound(&chain(with_next(a.clone(), 80), 4), 4),
        Err(DecodeError::OutOfBounds { .. })
    ));
    // A chain longer than the limit.
    let mut w = CompoundWriter::new();
    for i in 0..5 {
        w.push(&msg(Command::ECHO, i, 0, i > 0));
    }
    assert_eq!(
        split_compound(&w.finish(), 4),
        Err(DecodeError::TooMany {
            what: "compound chain",
            count: 5,
            max: 4
        })
    );
    // Not SMB2 at all: the server disconnects.
    let e = split_compound(&Bytes::from_static(&[0xff; 64]), 4).unwrap_err();
    assert_eq!(e.status(), None);
    let e = split_compound(&Bytes::from_static(&[0xfe, b'S', b'M', b'B']), 4).unwrap_err();
    assert_eq!(e, DecodeError::TruncatedHeader);
    assert_eq!(e.status(), None);
}

/// A response chain is signed message by message, each signature covering its padding
/// (MS-SMB2 §3.1.4.1), and each part verifies after the chain is split again.
#[test]
fn each_message_of_a_chain_is_signed_with_its_padding() {
    use proto_smb2::crypto::signing::{sign, verify, SigningAlgorithm};
    let key = [0x24u8; 16];
    let mut w = CompoundWriter::new();
    for (i, len) in [3usize, 17, 8].into_iter().enumerate() {
        w.push(&msg(Command::ECHO, i as u64, len, i > 0));
    }
    let ranges = w.ranges().to_vec();
    for r in &ranges {
        sign(
            SigningAlgorithm::AesCmac,
            &key,
            &mut w.bytes_mut()[r.clone()],
        )
        .unwrap();
    }
    let chain = w.finish();
    let parts = split_compound(&chain, 8).unwrap();
    for p in &parts {
        assert!(p.header.is_signed());
        assert!(verify(SigningAlgorithm::AesCmac, &key, &p.msg));
    }
    // Padding is covered: changing a pad byte of the first message breaks its signature.
    let mut tampered = chain.to_vec();
    tampered[ranges[0].end - 1] = 0xff;
    let parts = split_compound(&Bytes::from(tampered), 8).unwrap();
    assert!(!verify(SigningAlgorithm::AesCmac, &key, &parts[0].msg));
    assert!(verify(SigningAlgorithm::AesCmac, &key, &parts[1].msg));
}

#[test]
fn the_largest_session_setup_fits_the_pre_authentication_limit() {
    use proto_smb2::cmd::SessionSetupRequest;
    use proto_smb2::nbss::MAX_FRAME_BEFORE_AUTH;
    let req = SessionSetupRequest {
        flags: 0,
        security_mode: 1,
        capabilities: 0,
        channel: 0,
        previous_session_id: 0,
        security_buffer: vec![0x60; u16::MAX as usize],
    };
    let mut m = msg(Command::SESSION_SETUP, 1, 0, false);
    req.encode(&mut m);
    let mut wire = BytesMut::new();
    put_frame(&mut wire, &m);
    let f = take_frame(&mut wire, MAX_FRAME_BEFORE_AUTH)
        .unwrap()
        .unwrap();
    assert_eq!(SessionSetupRequest::decode(&f.payload).unwrap(), req);
    // One byte more than the limit is refused from the header alone.
    let mut big = BytesMut::from(&frame_header(MAX_FRAME_BEFORE_AUTH + 1)[..]);
    assert!(take_frame(&mut big, MAX_FRAME_BEFORE_AUTH).is_err());
}

#[test]
fn frame_len_names_the_whole_front_frame_within_the_limit() {
    assert_eq!(frame_len(&[0, 0, 0], 100), None, "a partial header");
    assert_eq!(frame_len(&frame_header(100), 100), Some(104));
    assert_eq!(frame_len(&frame_header(101), 100), None, "over the limit");
    assert_eq!(frame_len(&[0x85, 0, 0, 0], 100), None, "a keep-alive");
    let mut two = Vec::new();
    put_frame(&mut two, &[1; 10]);
    put_frame(&mut two, &[2; 50]);
    assert_eq!(frame_len(&two, 100), Some(14), "only the front frame");
}
