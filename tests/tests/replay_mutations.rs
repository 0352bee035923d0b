//! Corrupted captures: real captures with random bytes changed, cut or duplicated go through
//! the whole replay (reader, reassembly, framing, decoding, and the replay against Janus)
//! without a panic. Whatever comes out must still be a well-formed report. The SMB captures
//! are also changed message by message (truncated at every length, bytes flipped), straight
//! into the SMB2 decoder.

use bytes::Bytes;
use proptest::prelude::*;
use replay::conversation::Message;
use replay::decode::{line, Decoder};
use replay::{replay_bytes, Against, AppProtocol, PortMap};

fn capture(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("pcaps")
        .join(name);
    std::fs::read(p).expect("capture")
}

/// The SMB captures (tests/pcaps/make-smb-captures.sh).
const SMB: [&str; 3] = [
    "janus-smbclient.pcap",
    "samba-smbclient.pcap",
    "janus-smbprotocol.pcap",
];

fn check(bytes: Vec<u8>) {
    let mut ports = PortMap::standard();
    ports.add_spec("nfs=20490").expect("spec");
    if let Ok(r) = replay_bytes(Bytes::from(bytes), &ports, Some(Against::Memory)) {
        let text = r.to_string();
        assert!(text.starts_with("capture: "));
        assert!(text.contains("summary: "));
        assert_eq!(r.decoded.len(), r.conversation.items.len());
    }
}

/// Every SMB message of the SMB captures, in capture order.
fn smb_messages() -> Vec<Message> {
    let mut out = Vec::new();
    for name in SMB {
        let r =
            replay_bytes(Bytes::from(capture(name)), &PortMap::standard(), None).expect("capture");
        out.extend(
            r.conversation
                .messages()
                .filter(|m| m.protocol == AppProtocol::Smb)
                .cloned(),
        );
    }
    out
}

/// Decodes `ms` in order with one decoder; every line must be printable.
fn decode_all(ms: &[Message]) {
    let mut d = Decoder::new();
    for m in ms {
        let decoded = d.decode(m);
        for part in decoded.parts() {
            assert!(!line(part).is_empty());
        }
    }
}

#[test]
fn every_truncation_of_every_smb_message() {
    // Each message cut at every length (the messages before it intact, so the decoder has
    // the connection's state: dialect, outstanding requests).
    let ms = smb_messages();
    assert!(ms.len() > 150, "{} SMB messages", ms.len());
    let mut d = Decoder::new();
    for m in &ms {
        for cut in 0..m.body.len().min(400) {
            let mut short = m.clone();
            short.body = m.body.slice(..cut);
            let _ = line(&d.decode(&short));
        }
        d.decode(m);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn smb_messages_with_flipped_bytes(
        edits in prop::collection::vec(
            (any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<u8>()),
            1..40,
        ),
    ) {
        // Bytes of the SMB messages changed (header fields, offsets, lengths, counts), the
        // whole conversation decoded in order with one decoder.
        let mut ms = smb_messages();
        for (which, at, v) in edits {
            let n = ms.len();
            let m = &mut ms[which.index(n)];
            let mut b = m.body.to_vec();
            if !b.is_empty() {
                let i = at.index(b.len());
                b[i] = v;
            }
            m.body = Bytes::from(b);
        }
        decode_all(&ms);
    }

    #[test]
    fn smb_captures_with_flipped_bytes(which in 0usize..3, edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..40)) {
        let mut b = capture(SMB[which]);
        for (i, v) in edits {
            let at = 48 + i.index(b.len() - 48);
            b[at] = v;
        }
        check(b);
    }

    #[test]
    fn smb_captures_cut(which in 0usize..3, at in any::<prop::sample::Index>()) {
        let mut b = capture(SMB[which]);
        b.truncate(at.index(b.len()));
        check(b);
    }

    #[test]
    fn flipped_bytes(which in 0usize..3, edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..40)) {
        let name = ["ganesha-nlm.pcap", "ganesha-cp-in.pcap", "ganesha-ls.pcap"][which];
        let mut b = capture(name);
        // Keep the file header so the corruption reaches the packets.
        for (i, v) in edits {
            let at = 48 + i.index(b.len() - 48);
            b[at] = v;
        }
        check(b);
    }

    #[test]
    fn spliced_ranges(from in any::<prop::sample::Index>(), len in 1usize..4000, to in any::<prop::sample::Index>()) {
        // A range of the file copied over another place: whole frames duplicated or cut.
        let mut b = capture("ganesha-cp-out.pcap");
        let src = 28 + from.index(b.len() - 28);
        let end = (src + len).min(b.len());
        let chunk = b[src..end].to_vec();
        let dst = 28 + to.index(b.len() - 28);
        b.splice(dst..dst, chunk);
        check(b);
    }
}
