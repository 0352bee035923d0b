//! Corrupted captures: real captures with random bytes changed, cut or duplicated go through
//! the whole replay (reader, reassembly, framing, decoding, and the replay against Janus)
//! without a panic. Whatever comes out must still be a well-formed report.

use bytes::Bytes;
use proptest::prelude::*;
use replay::{replay_bytes, Against, PortMap};

fn capture(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("pcaps")
        .join(name);
    std::fs::read(p).expect("capture")
}

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

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

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
