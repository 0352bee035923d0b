//! `janus replay` over every committed capture: the decoded conversation of each (insta
//! snapshot), and the round trip `encode(decode(bytes)) == bytes` of every RPC message and
//! procedure body, and of every SMB2 message, Janus can decode.

use std::path::{Path, PathBuf};

use replay::decode::{Direction, RoundTrip};
use replay::{replay_command, AppProtocol, Report};

fn pcaps() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pcaps");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/pcaps")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    v.sort();
    v
}

/// The lab ports of the captures (NFS 20490, NLM 20021) are not standard ones: name them.
fn replay(path: &Path) -> Report {
    replay_command(path, &["nfs=20490".into(), "nlm=20021".into()], None)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn conversations() {
    let files = pcaps();
    assert!(files.len() >= 6, "captures missing: {files:?}");
    for path in files {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("name")
            .to_string();
        let report = replay(&path);
        insta::assert_snapshot!(name, report.to_string());
    }
}

#[test]
fn every_decodable_message_round_trips() {
    let mut checked = 0;
    for path in pcaps() {
        let report = replay(&path);
        for (m, d) in report.decoded_messages() {
            for part in d.parts() {
                match &part.round_trip {
                    RoundTrip::Equal => checked += 1,
                    RoundTrip::Differs(why) => {
                        panic!("{} frame {}: {why}", path.display(), m.frame)
                    }
                    RoundTrip::NotChecked => {}
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} messages checked");
}

#[test]
fn every_reply_matches_a_call_and_nothing_is_undecodable() {
    for path in pcaps() {
        let report = replay(&path);
        assert!(
            report.conversation.messages().count() > 0,
            "{}",
            path.display()
        );
        // SMB flows: tests/tests/replay_smb.rs.
        for (m, d) in report
            .decoded_messages()
            .filter(|(m, _)| m.protocol != AppProtocol::Smb)
        {
            assert!(
                d.direction.is_some(),
                "{} frame {}: {}",
                path.display(),
                m.frame,
                d.text
            );
            assert!(
                d.procedure.is_some(),
                "{} frame {}: {}",
                path.display(),
                m.frame,
                d.text
            );
            assert!(
                !d.text.contains("not decodable"),
                "{} frame {}: {}",
                path.display(),
                m.frame,
                d.text
            );
            if d.direction == Some(Direction::Reply) {
                assert!(d.status.is_some(), "{} frame {}", path.display(), m.frame);
            }
        }
        // Real captures on loopback: no reassembly trouble, nothing skipped.
        let text = report.to_string();
        assert!(!text.contains("warning"), "{}:\n{text}", path.display());
    }
}
