//! Real traffic from smbclient against the lab's Samba 4.17, beyond session setup (which
//! `samba_capture.rs` covers): an SMB1-first negotiate (`nt1-*`), and (`smb311-rw-*`)
//! smbclient `put` then `get` of a 3000-byte file (dialect 3.1.1, unsigned after the tree
//! connect). Each message decodes and re-encodes to the captured bytes (the formats are canonical: fixed offsets, no slack),
//! except for up to 7 trailing zero bytes that belong to no field (smbclient ends the CREATE
//! name with a UTF-16 NUL that NameLength does not count).

use bytes::{Bytes, BytesMut};
use proto_smb2::cmd::*;
use proto_smb2::nbss::take_frame;
use proto_smb2::{Header, NtStatus};

macro_rules! frame {
    ($name:literal) => {
        unframe(include_bytes!(concat!("data/smb311-rw-", $name, ".nbss")))
    };
}

fn unframe(raw: &'static [u8]) -> Bytes {
    let mut buf = BytesMut::from(raw);
    let f = take_frame(&mut buf, 1 << 16).unwrap().unwrap();
    assert_eq!(f.consumed, raw.len());
    f.payload
}

fn reencode(msg: &[u8], body: impl FnOnce(&mut Vec<u8>)) {
    let mut out = Vec::new();
    Header::decode(msg).unwrap().encode(&mut out);
    body(&mut out);
    assert_eq!(out, msg[..out.len().min(msg.len())], "re-encoding differs");
    let pad = &msg[out.len()..];
    assert!(
        pad.len() < 8 && pad.iter().all(|b| *b == 0),
        "trailing bytes {pad:?}"
    );
}

#[test]
fn create_write_close_read() {
    let m = frame!("20-create-req");
    let c = CreateRequest::decode(&m).unwrap();
    assert_eq!(c.name_string(), "small.bin");
    assert!(c.contexts.is_empty());
    reencode(&m, |o| c.encode(o));

    let m = frame!("21-create-resp");
    let r = CreateResponse::decode(&m).unwrap();
    assert_eq!(r.create_action, 2, "FILE_CREATED");
    assert_eq!(r.info.end_of_file, 0);
    reencode(&m, |o| r.encode(o));
    let fid = r.file_id;

    let m = frame!("22-write-req");
    let w = WriteRequest::decode(&m).unwrap();
    assert_eq!(w.file_id, fid);
    assert_eq!((w.offset, w.data.len()), (0, 3000));
    // Zero-copy: the data is a view into the message.
    assert_eq!(w.data.as_ptr(), m[112..].as_ptr());
    reencode(&m, |o| w.encode(o));

    let m = frame!("23-write-resp");
    let wr = WriteResponse::decode(&m).unwrap();
    assert_eq!(wr.count, 3000);
    reencode(&m, |o| wr.encode(o));

    let m = frame!("24-close-req");
    let cl = CloseRequest::decode(&m).unwrap();
    assert_eq!(cl.file_id, fid);
    reencode(&m, |o| cl.encode(o));
    let m = frame!("25-close-resp");
    let cr = CloseResponse::decode(&m).unwrap();
    reencode(&m, |o| cr.encode(o));

    let m = frame!("30-read-req");
    let rd = ReadRequest::decode(&m).unwrap();
    assert_eq!((rd.offset, rd.length), (0, 3000));
    reencode(&m, |o| rd.encode(o));
    let m = frame!("31-read-resp");
    let rr = ReadResponse::decode(&m).unwrap();
    // What was written is what is read back.
    assert_eq!(rr.data, w.data);
    reencode(&m, |o| rr.encode(o));
}

#[test]
fn error_response_and_tree_disconnect() {
    let m = frame!("15-error-resp");
    let h = Header::decode(&m).unwrap();
    assert_eq!(h.status, NtStatus::NOT_FOUND);
    let e = ErrorResponse::decode(&m).unwrap();
    assert_eq!(e, ErrorResponse::empty());
    reencode(&m, |o| e.encode(o));

    let m = frame!("16-tdis-req");
    let t = TreeDisconnectRequest::decode(&m).unwrap();
    reencode(&m, |o| t.encode(o));
    let m = frame!("17-tdis-resp");
    let t = TreeDisconnectResponse::decode(&m).unwrap();
    reencode(&m, |o| t.encode(o));
}

type Check = fn(&Request) -> bool;

#[test]
fn requests_dispatch_on_their_command() {
    let cases: [(Bytes, Check); 6] = [
        (frame!("20-create-req"), |r| matches!(r, Request::Create(_))),
        (
            frame!("22-write-req"),
            |r| matches!(r, Request::Write(w) if w.data.len() == 3000),
        ),
        (frame!("24-close-req"), |r| matches!(r, Request::Close(_))),
        (frame!("30-read-req"), |r| matches!(r, Request::Read(_))),
        (frame!("16-tdis-req"), |r| {
            matches!(r, Request::TreeDisconnect(_))
        }),
        (
            frame!("20-create-req"),
            |r| matches!(r, Request::Create(c) if c.name_string() == "small.bin"),
        ),
    ];
    for (m, is) in cases {
        let h = Header::decode(&m).unwrap();
        assert!(is(&Request::decode(h.command, &m, true).unwrap()));
    }
    // A command code MS-SMB2 does not define.
    let m = frame!("16-tdis-req");
    let e = Request::decode(proto_smb2::Command(0x0013), &m, true).unwrap_err();
    assert_eq!(e.status(), Some(NtStatus::INVALID_PARAMETER));
    // The right command with another command's body is refused by StructureSize.
    let e = Request::decode(proto_smb2::Command::ECHO, &frame!("24-close-req"), true).unwrap_err();
    assert!(matches!(
        e,
        proto_smb2::DecodeError::BadStructureSize {
            got: 24,
            expected: 4,
            ..
        }
    ));
}

/// smbclient with `client min protocol = NT1` opens with an SMB1 NEGOTIATE; Samba (server
/// min protocol SMB2_02) answers with an SMB2 NEGOTIATE response, DialectRevision 0x02FF.
#[test]
fn smb1_negotiate_gets_the_smb2_wildcard_answer() {
    use proto_smb2::smb1::{is_smb1, Smb1Negotiate};
    let m = unframe(include_bytes!("data/nt1-04-smb1-negotiate-req.nbss"));
    assert!(is_smb1(&m));
    let n = Smb1Negotiate::decode(&m).unwrap();
    assert!(n.dialects.iter().any(|d| d == b"NT LM 0.12"));
    assert!(n.dialects.iter().any(|d| d == b"SMB 2.002"));
    assert_eq!(
        n.smb2_answer(),
        Some(proto_smb2::cmd::negotiate::dialect::SMB2_WILDCARD)
    );
    let resp = unframe(include_bytes!("data/nt1-06-smb1-negotiate-smb2-resp.nbss"));
    let r = NegotiateResponse::decode(&resp).unwrap();
    assert_eq!(Some(r.dialect), n.smb2_answer());
    reencode(&resp, |o| r.encode(o));
    // Without SMB2 dialects there is nothing to answer.
    let only_nt1 = Smb1Negotiate {
        dialects: vec![b"NT LM 0.12".to_vec()],
    };
    assert_eq!(only_nt1.smb2_answer(), None);
    let only_2002 = Smb1Negotiate {
        dialects: vec![b"NT LM 0.12".to_vec(), b"SMB 2.002".to_vec()],
    };
    assert_eq!(only_2002.smb2_answer(), Some(0x0202));
    // Truncations are errors, not panics.
    for cut in 0..m.len() {
        let _ = Smb1Negotiate::decode(&m[..cut]);
    }
}
