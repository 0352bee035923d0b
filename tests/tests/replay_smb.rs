//! `janus replay` over the SMB captures in tests/pcaps (smbclient against Janus and against
//! Samba, Python smbprotocol against Janus; tests/pcaps/make-smb-captures.sh made them): every
//! SMB2 message decodes with proto-smb2's codecs and re-encodes to the captured bytes, every
//! response is matched to its request, nothing secret is printed, and the lines say what the
//! sessions did. The decoded conversations themselves are snapshots in replay_decode.rs.

use std::path::PathBuf;

use bytes::Bytes;
use replay::conversation::Message;
use replay::decode::{Decoded, Decoder, Direction, RoundTrip};
use replay::{replay_command, AppProtocol, Report};

const SMB_CAPTURES: [&str; 3] = [
    "janus-smbclient.pcap",
    "samba-smbclient.pcap",
    "janus-smbprotocol.pcap",
];

fn replay(name: &str) -> Report {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("pcaps")
        .join(name);
    replay_command(&path, &[], None).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every decoded SMB line of a capture (compound elements each on their own), with the
/// message it came from.
fn smb_parts(r: &Report) -> Vec<(&Message, &Decoded)> {
    r.decoded_messages()
        .filter(|(m, _)| m.protocol == AppProtocol::Smb)
        .flat_map(|(m, d)| d.parts().map(move |p| (m, p)))
        .collect()
}

fn lines(r: &Report) -> Vec<String> {
    smb_parts(r)
        .iter()
        .map(|(_, d)| replay::decode::line(d))
        .collect()
}

/// The longest run of hex digits in `s`: an NT hash, NTProofStr, challenge or session key
/// printed in hex would be 16 bytes = 32 digits or more.
fn longest_hex_run(s: &str) -> usize {
    s.split(|c: char| !c.is_ascii_hexdigit())
        .map(str::len)
        .max()
        .unwrap_or(0)
}

#[test]
fn every_smb2_message_decodes_round_trips_and_is_matched() {
    for name in SMB_CAPTURES {
        let r = replay(name);
        let parts = smb_parts(&r);
        assert!(parts.len() > 40, "{name}: {} SMB lines", parts.len());
        let mut round_trips = 0;
        let mut malformed = 0;
        for (m, d) in &parts {
            let line = replay::decode::line(d);
            assert!(d.direction.is_some(), "{name} frame {}: {line}", m.frame);
            assert!(
                !line.contains("(request not in capture)"),
                "{name} frame {}: {line}",
                m.frame
            );
            assert!(
                longest_hex_run(&line) < 32,
                "{name} frame {}: something secret-sized printed: {line}",
                m.frame
            );
            if line.contains("malformed") {
                malformed += 1;
                continue;
            }
            if d.message_id.is_some() {
                // A message with an SMB2 header: decoded by proto-smb2, re-encoded exactly.
                assert_eq!(
                    d.round_trip,
                    RoundTrip::Equal,
                    "{name} frame {}: {line}",
                    m.frame
                );
                round_trips += 1;
                if d.direction == Some(Direction::Reply) {
                    let status = d.status.as_deref().unwrap_or_default();
                    assert!(status.starts_with("STATUS_"), "{name}: {line}");
                }
            } else {
                assert!(
                    line.contains("SMB3 TRANSFORM") || line.contains("SMB1 NEGOTIATE"),
                    "{name} frame {}: {line}",
                    m.frame
                );
            }
        }
        // Only the deliberately truncated header of the smbprotocol session is malformed.
        let expected_malformed = usize::from(name == "janus-smbprotocol.pcap");
        assert_eq!(malformed, expected_malformed, "{name}");
        assert!(round_trips > 40, "{name}: {round_trips} round trips");
        let text = r.to_string();
        assert!(!text.contains("warning"), "{name}:\n{text}");
        assert!(!text.contains("ROUND TRIP DIFFERS"), "{name}:\n{text}");
    }
}

fn find<'a>(lines: &'a [String], needle: &str) -> &'a String {
    lines
        .iter()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{}", lines.join("\n")))
}

#[test]
fn smbclient_sessions_say_what_smbclient_did() {
    for name in ["janus-smbclient.pcap", "samba-smbclient.pcap"] {
        let l = lines(&replay(name));
        assert!(find(&l, "SMB2 NEGOTIATE dialects=").contains("3.1.1"));
        assert!(find(&l, "resp  mid=0 SMB2 NEGOTIATE: STATUS_SUCCESS").contains("dialect=3.1.1"));
        find(&l, "NTLMSSP NEGOTIATE");
        find(&l, "STATUS_MORE_PROCESSING_REQUIRED");
        find(
            &l,
            "NTLMSSP AUTHENTICATE user=\"janus\" domain=\"WORKGROUP\"",
        );
        find(&l, "SMB2 TREE_CONNECT sid=");
        find(&l, "\\\\127.0.0.1\\share\"");
        find(&l, "SMB2 CREATE tid=");
        assert!(find(&l, "\"dir\" CREATE").contains("options=DIRECTORY_FILE"));
        find(&l, "\"dir\\hello.txt\" OVERWRITE_IF");
        let write = find(&l, "SMB2 WRITE fid:");
        assert!(write.contains("offset=0 length=3000"), "{write}");
        find(&l, "SMB2 WRITE: STATUS_SUCCESS count=3000");
        find(&l, "SMB2 READ fid:").contains("length=3000");
        // The data read back is the data written (same hash).
        let data = write
            .split(' ')
            .find(|w| w.starts_with("data:"))
            .expect("data hash");
        assert!(find(&l, "SMB2 READ: STATUS_SUCCESS count=3000").ends_with(data));
        find(&l, "FileIdBothDirectoryInformation \"*\"");
        find(&l, "[\".\" \"..\" \"hello.txt\"]");
        find(&l, "QUERY_DIRECTORY: STATUS_NO_MORE_FILES");
        find(&l, "FILESYSTEM/FileFsSizeInformation");
        find(&l, "FILE/FileAllInformation");
        // The FileAllInformation answer, decoded with proto-smb2's MS-FSCC codecs: both
        // servers report the same size, links and name.
        find(
            &l,
            "128 bytes attrs=ARCHIVE size=3000 links=1 name=\"\\dir\\hello.txt\"",
        );
        find(&l, "SMB2 QUERY_INFO: STATUS_SUCCESS 24 bytes units=");
        find(&l, "\"missing.txt\" OPEN");
        find(&l, "SMB2 CREATE: STATUS_OBJECT_NAME_NOT_FOUND");
        find(&l, "FILE/FileRenameInformation -> \"dir\\renamed.txt\"");
        find(&l, "FILE/FileDispositionInformation delete_pending=true");
        find(&l, "options=DELETE_ON_CLOSE");
        find(&l, "SMB2 TREE_DISCONNECT: STATUS_SUCCESS");
    }
}

/// The two servers answered the same smbclient commands: after the tree connect to the
/// share, the sequence of commands and statuses is the same (Samba's session starts with a
/// DFS referral on IPC$ that Janus, advertising no DFS, does not get).
#[test]
fn janus_and_samba_answer_smbclient_alike() {
    let seq = |name: &str| -> Vec<(Option<Direction>, String)> {
        let r = replay(name);
        let parts = smb_parts(&r);
        let start = parts
            .iter()
            .position(|(_, d)| d.text.contains("TREE_CONNECT sid=") && d.text.contains("\\share\""))
            .expect("tree connect to the share");
        parts[start..]
            .iter()
            .map(|(_, d)| {
                let words: Vec<&str> = d.text.split(' ').take(3).collect();
                let status = d.status.clone().unwrap_or_default();
                (d.direction, format!("{} {status}", words[..2].join(" ")))
            })
            .collect()
    };
    assert_eq!(seq("janus-smbclient.pcap"), seq("samba-smbclient.pcap"));
}

#[test]
fn smbprotocol_session_shows_compounds_async_encryption_smb1_and_malformed() {
    let l = lines(&replay("janus-smbprotocol.pcap"));
    find(
        &l,
        "SMB1 NEGOTIATE dialects=[\"NT LM 0.12\" \"SMB 2.002\" \"SMB 2.???\"]",
    );
    find(
        &l,
        "resp  mid=0 SMB2 NEGOTIATE: STATUS_SUCCESS dialect=2.???",
    );
    // A related compound: three lines, the later two related, each answered.
    assert!(find(&l, "\"compound.txt\" OVERWRITE_IF").ends_with("[compound 1/3]"));
    find(&l, "SMB2 WRITE fid:related offset=0 length=23");
    find(&l, "SMB2 CLOSE fid:related [compound 3/3, related]");
    find(
        &l,
        "SMB2 WRITE: STATUS_SUCCESS count=23 [compound 2/3, related]",
    );
    // The failing chain: the CREATE's status passed on to the related requests.
    find(
        &l,
        "SMB2 CREATE: STATUS_OBJECT_PATH_NOT_FOUND [compound 1/3]",
    );
    find(
        &l,
        "SMB2 WRITE: STATUS_OBJECT_PATH_NOT_FOUND [compound 2/3, related]",
    );
    find(
        &l,
        "SMB2 CLOSE: STATUS_OBJECT_PATH_NOT_FOUND [compound 3/3, related]",
    );
    // CHANGE_NOTIFY: interim STATUS_PENDING, then the final response on the same id.
    find(&l, "SMB2 CHANGE_NOTIFY fid:");
    let interim = find(&l, "CHANGE_NOTIFY: STATUS_PENDING interim async=");
    let mid = interim
        .split(' ')
        .find(|w| w.starts_with("mid="))
        .expect("mid");
    assert!(l
        .iter()
        .any(|x| x.contains(&format!("{mid} SMB2 CHANGE_NOTIFY: STATUS_SUCCESS"))));
    find(
        &l,
        "CHANGE_NOTIFY: STATUS_SUCCESS 26 bytes [ADDED \"new.txt\"] async=",
    );
    find(&l, "SMB2 CANCEL async=");
    find(&l, "CHANGE_NOTIFY: STATUS_CANCELLED async=");
    find(&l, "SMB2 ECHO: STATUS_SUCCESS");
    find(&l, "SMB2 LOGOFF sid=");
    // The encrypted tree: share flag ENCRYPT_DATA, then TRANSFORM frames both ways.
    find(&l, "share_flags=0x8000");
    assert!(l
        .iter()
        .any(|x| x.starts_with("req   SMB3 TRANSFORM sid=0x")
            && x.contains("encrypted, not decoded")));
    assert!(l
        .iter()
        .any(|x| x.starts_with("resp  SMB3 TRANSFORM sid=0x")
            && x.contains("encrypted, not decoded")));
    find(&l, "req   malformed: message shorter than an SMB2 header");
}

fn messages(name: &str) -> Vec<Message> {
    replay(name)
        .conversation
        .messages()
        .filter(|m| m.protocol == AppProtocol::Smb)
        .cloned()
        .collect()
}

/// A captured message, changed, decoded after the ones before it.
fn decode_changed(name: &str, index: usize, change: impl Fn(&[u8]) -> Vec<u8>) -> Decoded {
    let ms = messages(name);
    let mut d = Decoder::new();
    for m in &ms[..index] {
        d.decode(m);
    }
    let mut m = ms[index].clone();
    m.body = Bytes::from(change(&m.body));
    d.decode(&m)
}

fn index_of(name: &str, needle: &str) -> usize {
    let ms = messages(name);
    let mut d = Decoder::new();
    ms.iter()
        .position(|m| d.decode(m).text.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in {name}"))
}

#[test]
fn malformed_messages_say_why() {
    let name = "janus-smbclient.pcap";
    let create = index_of(name, "\"dir\\hello.txt\" OVERWRITE_IF");
    // Cut inside the fixed part of the CREATE request.
    let d = decode_changed(name, create, |b| b[..100].to_vec());
    assert_eq!(d.direction, Some(Direction::Call));
    assert!(
        d.text
            .contains("SMB2 CREATE malformed: truncated CREATE request"),
        "{}",
        d.text
    );
    // A NameOffset pointing past the end.
    let d = decode_changed(name, create, |b| {
        let mut v = b.to_vec();
        v[64 + 44..64 + 46].copy_from_slice(&0xfff0u16.to_le_bytes());
        v
    });
    assert!(d.text.contains("malformed: NameOffset"), "{}", d.text);
    // NextCommand pointing outside the frame.
    let d = decode_changed(name, create, |b| {
        let mut v = b.to_vec();
        v[20..24].copy_from_slice(&4096u32.to_le_bytes());
        v
    });
    assert!(
        d.text
            .contains("[malformed: NextCommand points outside the frame]"),
        "{}",
        d.text
    );
    // A response with a bad StructureSize.
    let resp = index_of(name, "SMB2 WRITE: STATUS_SUCCESS");
    let d = decode_changed(name, resp, |b| {
        let mut v = b.to_vec();
        v[64] = 3;
        v
    });
    assert_eq!(d.direction, Some(Direction::Reply));
    assert!(
        d.text
            .contains("SMB2 WRITE: STATUS_SUCCESS malformed: WRITE response: StructureSize 3"),
        "{}",
        d.text
    );
    // Not SMB at all.
    let d = decode_changed(name, resp, |_| b"GET / HTTP/1.0\r\n".to_vec());
    assert!(
        d.text.starts_with("malformed: not an SMB2 message"),
        "{}",
        d.text
    );
}

#[test]
fn a_response_without_its_request_says_so() {
    let name = "janus-smbclient.pcap";
    let resp = index_of(name, "SMB2 WRITE: STATUS_SUCCESS");
    let m = messages(name)[resp].clone();
    let d = Decoder::new().decode(&m);
    assert!(
        d.text
            .contains("SMB2 WRITE: STATUS_SUCCESS (request not in capture) count=3000"),
        "{}",
        d.text
    );
}

#[test]
fn against_memory_says_smb_is_not_replayed() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("pcaps")
        .join("janus-smbclient.pcap");
    let r = replay_command(&path, &[], Some(replay::Against::Memory)).expect("replay");
    let text = r.to_string();
    assert!(
        text.contains("note: 82 SMB messages decoded but not replayed"),
        "{text}"
    );
    assert!(text.contains("0 calls replayed"), "{text}");
}
