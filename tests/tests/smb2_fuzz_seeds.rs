//! Seeds for the `smb2_fscc`, `smb2_security`, `smb2_dcerpc` and `smb2_names` fuzz targets,
//! cut from the real Samba/smbclient/smbprotocol/rpcclient traffic in
//! `proto-smb2/tests/data` (see its README). `cargo test -p janus-tests --test
//! smb2_fuzz_seeds -- --ignored` writes them to `fuzz/corpus/<target>/seed-<hash>`; the
//! replay of every corpus file is `fuzz_corpus.rs`'s job. The non-ignored test checks that
//! every seed still decodes, so a seed that no longer reaches the decoders is noticed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use proto_smb2::cmd::{IoctlRequest, IoctlResponse, OutputBufferResponse, SetInfoRequest};
use proto_smb2::dcerpc::{Packet, Pdu};

fn data(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../proto-smb2/tests/data")
        .join(format!("{name}.nbss"));
    let raw = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    raw[4..].to_vec()
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// (capture file, selector, class) of the QUERY_INFO / QUERY_DIRECTORY answers.
const QUERY: &[(&str, u8, u8)] = &[
    ("fscc-17-basic-resp", 0, 4),
    ("fscc-19-standard-resp", 0, 5),
    ("fscc-21-internal-resp", 0, 6),
    ("fscc-23-ea-resp", 0, 7),
    ("fscc-25-access-resp", 0, 8),
    ("fscc-27-position-resp", 0, 14),
    ("fscc-29-mode-resp", 0, 16),
    ("fscc-31-alignment-resp", 0, 17),
    ("fscc-33-all-resp", 0, 18),
    ("fscc-35-stream-resp", 0, 22),
    ("fscc-37-compression-resp", 0, 28),
    ("fscc-39-network-open-resp", 0, 34),
    ("fscc-41-attribute-tag-resp", 0, 35),
    ("fscc-43-normalized-name-resp", 0, 48),
    ("fscc-53-fs-volume-resp", 2, 1),
    ("fscc-55-fs-size-resp", 2, 3),
    ("fscc-57-fs-device-resp", 2, 4),
    ("fscc-59-fs-attribute-resp", 2, 5),
    ("fscc-61-fs-full-size-resp", 2, 7),
    ("fscc-63-fs-object-id-resp", 2, 8),
    ("fscc-65-fs-sector-size-resp", 2, 11),
    ("fscc-83-dir-directory-resp", 3, 1),
    ("fscc-85-dir-full-directory-resp", 3, 2),
    ("fscc-87-dir-both-directory-resp", 3, 3),
    ("fscc-89-dir-names-resp", 3, 12),
    ("fscc-91-dir-id-both-directory-resp", 3, 37),
    ("fscc-93-dir-id-full-directory-resp", 3, 38),
];

const SET: &[&str] = &[
    "fscc-72-set-basic-req",
    "fscc-74-set-eof-req",
    "fscc-76-set-position-req",
    "fscc-106-set-rename-replace-req",
    "fscc-112-set-rename-req",
];

const SECURITY: &[&str] = &[
    "fscc-69-security-resp",
    "smbclient-27-security-file-resp",
    "smbclient-47-security-dir-resp",
];

const PIPE_IN: &[&str] = &[
    "srvsvc-17-bind-req",
    "srvsvc-23-share-enum-req",
    "rpcclient-153-req",
    "rpcclient-155-req",
    "rpcclient-157-req",
    "rpcclient-159-req",
    "rpcclient-168-req",
    "rpcclient-172-req",
];

const PIPE_OUT: &[&str] = &[
    "srvsvc-21-bind-ack-resp",
    "srvsvc-24-share-enum-resp",
    "rpcclient-154-resp",
    "rpcclient-156-resp",
    "rpcclient-158-resp",
    "rpcclient-160-resp",
    "rpcclient-170-resp",
    "rpcclient-173-resp",
];

fn seeds() -> BTreeMap<&'static str, Vec<Vec<u8>>> {
    let mut s: BTreeMap<&'static str, Vec<Vec<u8>>> = BTreeMap::new();
    for (f, sel, class) in QUERY {
        let d = OutputBufferResponse::decode(&data(f)).unwrap().data;
        for obl in [0xFFFFu16, 100, 24] {
            let mut v = vec![*sel, *class];
            v.extend_from_slice(&obl.to_le_bytes());
            v.extend_from_slice(&d);
            s.entry("smb2_fscc").or_default().push(v);
        }
    }
    for f in SET {
        let r = SetInfoRequest::decode(&data(f)).unwrap();
        let mut v = vec![1, r.file_info_class, 0, 0];
        v.extend_from_slice(&r.buffer);
        s.entry("smb2_fscc").or_default().push(v);
    }
    for f in SECURITY {
        let d = OutputBufferResponse::decode(&data(f)).unwrap().data;
        for addl in [0x07u8, 0x04, 0x81] {
            let mut v = vec![addl];
            v.extend_from_slice(&d);
            s.entry("smb2_security").or_default().push(v);
        }
    }
    let mut script = vec![5u8];
    for f in PIPE_IN {
        let pdu = IoctlRequest::decode(&data(f)).unwrap().input;
        let mut v = vec![0u8];
        v.extend_from_slice(&pdu);
        s.entry("smb2_dcerpc").or_default().push(v);
        if let Pdu::Request(r) = Packet::decode(&pdu).unwrap().pdu {
            let sel = if r.opnum == 15 { 1 } else { 2 };
            let mut v = vec![sel];
            v.extend_from_slice(&r.stub);
            s.entry("smb2_dcerpc").or_default().push(v);
        }
        for chunk in pdu.chunks(40) {
            script.push(chunk.len() as u8);
            script.extend_from_slice(chunk);
        }
    }
    s.entry("smb2_dcerpc").or_default().push(script);
    for f in PIPE_OUT {
        let pdu = IoctlResponse::decode(&data(f)).unwrap().output;
        let mut v = vec![0u8];
        v.extend_from_slice(&pdu);
        s.entry("smb2_dcerpc").or_default().push(v);
        if let Pdu::Response(r) = Packet::decode(&pdu).unwrap().pdu {
            // NetrShareEnum answers start with the level twice; GetInfo with it once.
            let st = &r.stub;
            let sel = if st.len() >= 8 && st[0..4] == st[4..8] {
                3
            } else {
                4
            };
            let mut v = vec![sel];
            v.extend_from_slice(st);
            s.entry("smb2_dcerpc").or_default().push(v);
        }
    }
    let names: &[(u8, u8, &str)] = &[
        (0, 0, "dir\\sub\\hello.txt"),
        (0, 0, "hello.txt::$DATA"),
        (0, 0, "a\\..\\..\\etc\\passwd"),
        (0, 0, "dir\\"),
        (1, 0, "\\renamed.txt"),
        (2, 6, "H*.TXThello.txt"),
        (2, 5, "<.txthello.txt"),
        (2, 12, ">>>>>>>>\">>>abc.txt"),
        (2, 3, "<\"*a.b.c"),
    ];
    for (sel, split, text) in names {
        let mut v = vec![*sel, *split];
        v.extend_from_slice(&utf16(text));
        s.entry("smb2_names").or_default().push(v);
    }
    s
}

/// Every seed reaches its decoder and passes the target's oracles.
#[test]
fn seeds_decode_and_pass_the_targets() {
    let s = seeds();
    assert_eq!(s.len(), 4);
    for (target, list) in &s {
        let body = janus_tests::fuzz_targets::TARGETS
            .iter()
            .find(|(n, _)| n == target)
            .unwrap()
            .1;
        for seed in list {
            body(seed);
        }
    }
}

/// Writes the seeds into `fuzz/corpus/<target>/`.
#[test]
#[ignore]
fn write_smb2_seed_corpora() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for (target, list) in seeds() {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        for seed in list {
            std::fs::write(dir.join(format!("seed-{:016x}", fnv(&seed))), &seed).unwrap();
        }
    }
}
