//! Robustness on structured input: captured messages with a few bytes overwritten or cut
//! short go through every decoder that could meet them. Random bytes rarely get past the
//! first checks; mutated real messages reach the offset, count and nesting logic. Decoders
//! must return (an error or a value), never panic, and errors must map to a status.

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;
use proto_smb2::auth::{ntlm, spnego};
use proto_smb2::cmd::*;
use proto_smb2::compound::split_compound;
use proto_smb2::crypto::transform::TransformHeader;
use proto_smb2::nbss::take_frame;
use proto_smb2::Header;

macro_rules! frames {
    ($($name:literal),* $(,)?) => {
        [$(include_bytes!(concat!("data/", $name, ".nbss")) as &[u8]),*]
    };
}

const FRAMES: [&[u8]; 16] = frames!(
    "smb311-signed-04-negotiate-req",
    "smb311-signed-06-negotiate-resp",
    "smb311-signed-08-sess1-req",
    "smb311-signed-09-sess1-resp",
    "smb311-signed-10-sess2-req",
    "smb311-signed-11-sess2-resp",
    "smb311-signed-12-msg12-req",
    "smb311-signed-14-ioctl-req",
    "smb311-signed-22-find-req",
    "smb311-signed-30-getinfo-req",
    "smb311-rw-20-create-req",
    "smb311-rw-21-create-resp",
    "smb311-rw-30-read-req",
    "smbprotocol-14-compound-req",
    "smbprotocol-15-compound-resp",
    "smb300-encrypted-12-msg12-req",
);

fn payload(raw: &[u8]) -> Vec<u8> {
    let mut buf = BytesMut::from(raw);
    take_frame(&mut buf, 1 << 16)
        .unwrap()
        .unwrap()
        .payload
        .to_vec()
}

/// Runs every decoder that a server (or a test client) could apply to `msg`.
fn decode_everything(msg: &[u8]) {
    let b = Bytes::copy_from_slice(msg);
    let _ = TransformHeader::decode(msg);
    let _ = proto_smb2::smb1::Smb1Negotiate::decode(msg);
    if let Ok(parts) = split_compound(&b, 16) {
        for p in parts {
            match Request::decode(p.header.command, &p.msg, true) {
                Ok(_) => {}
                Err(e) => assert!(e.status().is_some()),
            }
            let _ = NegotiateResponse::decode(&p.msg);
            let _ = SessionSetupResponse::decode(&p.msg);
            let _ = TreeConnectResponse::decode(&p.msg);
            let _ = CreateResponse::decode(&p.msg);
            let _ = ReadResponse::decode(&p.msg);
            let _ = IoctlResponse::decode(&p.msg);
            let _ = OutputBufferResponse::decode(&p.msg);
            let _ = ErrorResponse::decode(&p.msg).map(|e| e.contexts());
            // The security tokens inside, as far as they still parse.
            let buf = SessionSetupRequest::decode(&p.msg)
                .map(|r| r.security_buffer)
                .or_else(|_| SessionSetupResponse::decode(&p.msg).map(|r| r.security_buffer));
            if let Ok(buf) = buf {
                decode_token(&buf);
            }
        }
    } else {
        assert!(Header::decode(msg).is_err() || split_compound(&b, 16).is_err());
    }
}

fn decode_token(buf: &[u8]) {
    let inner = match spnego::decode_token(buf) {
        Ok(spnego::NegToken::Init(i)) => i.mech_token,
        Ok(spnego::NegToken::Resp(r)) => r.response_token,
        Err(_) => None,
    };
    if let Some(t) = inner {
        let _ = ntlm::NegotiateMessage::decode(&t);
        let _ = ntlm::ChallengeMessage::decode(&t);
        let _ = ntlm::AuthenticateMessage::decode(&t);
        let _ = ntlm::verify_authenticate(b"", b"", &[0; 8], &t, |_, _| Some([0; 16]));
    }
}

/// The NTLMSSP tokens of the captured session setup, to mutate directly.
fn ntlm_tokens() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for f in &FRAMES[2..6] {
        let m = payload(f);
        let buf = SessionSetupRequest::decode(&m)
            .map(|r| r.security_buffer)
            .or_else(|_| SessionSetupResponse::decode(&m).map(|r| r.security_buffer))
            .unwrap();
        out.push(buf.clone());
        match spnego::decode_token(&buf).unwrap() {
            spnego::NegToken::Init(i) => out.extend(i.mech_token),
            spnego::NegToken::Resp(r) => out.extend(r.response_token),
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn mutated_messages_never_panic(
        which in 0usize..FRAMES.len(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..5),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut m = payload(FRAMES[which]);
        for (i, v) in &edits {
            let at = i.index(m.len());
            m[at] = *v;
        }
        if truncate {
            m.truncate(cut.index(m.len() + 1));
        }
        decode_everything(&m);
    }

    #[test]
    fn mutated_security_tokens_never_panic(
        which in 0usize..8,
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..5),
        cut in any::<prop::sample::Index>(),
    ) {
        let tokens = ntlm_tokens();
        let mut t = tokens[which % tokens.len()].clone();
        for (i, v) in &edits {
            let at = i.index(t.len());
            t[at] = *v;
        }
        decode_token(&t);
        let _ = ntlm::NegotiateMessage::decode(&t);
        let _ = ntlm::ChallengeMessage::decode(&t);
        let _ = ntlm::AuthenticateMessage::decode(&t);
        let _ = ntlm::verify_authenticate(b"", b"", &[0; 8], &t, |_, _| Some([0; 16]));
        t.truncate(cut.index(t.len() + 1));
        decode_token(&t);
        let _ = ntlm::AuthenticateMessage::decode(&t);
    }
}
