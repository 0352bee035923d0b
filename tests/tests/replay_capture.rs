//! The capture layer of `janus replay`: link types, pcap/pcapng, TCP reassembly (order,
//! retransmission, overlap, gaps, mid-stream starts, FIN/RST), protocol detection, and bad
//! captures (truncated, random, unrelated traffic) -> an error or an empty conversation,
//! never a panic. Every capture here is built by the test, frame by frame.

use std::net::SocketAddr;

use bytes::Bytes;
use janus_tests::replay::{record, rpc_call, rpc_reply, CaptureBuilder, Flags, Link};
use replay::conversation::Item;
use replay::reader::CaptureError;
use replay::{replay_bytes, AppProtocol, Capture, PortMap, Report};

const CLIENT: &str = "127.0.0.1:700";
const SERVER: &str = "127.0.0.1:2049";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

fn ack(n: u32) -> Flags {
    Flags {
        ack: Some(n),
        ..Flags::default()
    }
}

fn replay(bytes: Vec<u8>) -> Report {
    replay_bytes(Bytes::from(bytes), &PortMap::standard(), None).expect("capture readable")
}

fn xids(r: &Report) -> Vec<(u32, bool)> {
    r.conversation
        .messages()
        .map(|m| {
            let b = &m.body;
            (u32::from_be_bytes([b[0], b[1], b[2], b[3]]), b[7] == 0)
        })
        .collect()
}

fn notes(r: &Report) -> Vec<String> {
    r.conversation
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Note(n) => Some(n.text.clone()),
            Item::Message(_) => None,
        })
        .collect()
}

/// A NULL call and its reply on a fresh connection between `c` and `s`, then FIN both ways.
fn null_session(b: &mut CaptureBuilder, c: SocketAddr, s: SocketAddr) {
    let call = record(&rpc_call(0x11, 100_003, 3, 0, &[]));
    let reply = record(&rpc_reply(0x11, &[]));
    b.tcp(
        c,
        s,
        1000,
        Flags {
            syn: true,
            ..Flags::default()
        },
        &[],
    );
    b.tcp(
        s,
        c,
        5000,
        Flags {
            syn: true,
            ack: Some(1001),
            ..Flags::default()
        },
        &[],
    );
    b.tcp(c, s, 1001, ack(5001), &[]);
    b.tcp(c, s, 1001, ack(5001), &call);
    b.tcp(s, c, 5001, ack(1001 + call.len() as u32), &reply);
    b.tcp(
        c,
        s,
        1001 + call.len() as u32,
        Flags {
            fin: true,
            ack: Some(5001 + reply.len() as u32),
            ..Flags::default()
        },
        &[],
    );
    b.tcp(
        s,
        c,
        5001 + reply.len() as u32,
        Flags {
            fin: true,
            ack: Some(1002 + call.len() as u32),
            ..Flags::default()
        },
        &[],
    );
}

#[test]
fn every_link_type_in_pcap_and_pcapng() {
    for link in [
        Link::Ethernet,
        Link::Sll,
        Link::Sll2,
        Link::Raw,
        Link::Null,
        Link::Loop,
    ] {
        for (c, s) in [(CLIENT, SERVER), ("[::1]:700", "[::1]:2049")] {
            let mut b = CaptureBuilder::new(link);
            null_session(&mut b, addr(c), addr(s));
            for file in [b.pcap(), b.pcapng()] {
                let r = replay(file);
                assert_eq!(xids(&r), vec![(0x11, true), (0x11, false)], "{link:?} {c}");
                assert_eq!(notes(&r), Vec::<String>::new(), "{link:?} {c}");
                let m = r.conversation.messages().next().expect("message");
                assert_eq!((m.from, m.to, m.frame), (addr(c), addr(s), 4));
            }
        }
    }
}

#[test]
fn out_of_order_retransmitted_and_overlapping_segments() {
    let (c, s) = (addr(CLIENT), addr(SERVER));
    let one = record(&rpc_call(1, 100_003, 3, 0, &[0xAA; 40]));
    let two = record(&rpc_call(2, 100_003, 3, 0, &[0xBB; 40]));
    let stream = [one.clone(), two.clone()].concat();
    let mut b = CaptureBuilder::new(Link::Ethernet);
    b.tcp(
        c,
        s,
        99,
        Flags {
            syn: true,
            ..Flags::default()
        },
        &[],
    );
    // Segments [0,30) [30,60) [60,end) sent as: 3rd, 1st, 1st again, [20,70) overlap, 2nd.
    b.tcp(c, s, 160, ack(1), &stream[60..]);
    b.tcp(c, s, 100, ack(1), &stream[..30]);
    b.tcp(c, s, 100, ack(1), &stream[..30]);
    b.tcp(c, s, 120, ack(1), &stream[20..70]);
    b.tcp(c, s, 130, ack(1), &stream[30..60]);
    let r = replay(b.pcap());
    assert_eq!(xids(&r), vec![(1, true), (2, true)]);
    assert_eq!(
        r.conversation.messages().next().map(|m| m.body.len()),
        Some(one.len() - 4)
    );
    let st = r.conversation.reassembly;
    assert_eq!((st.out_of_order, st.gaps), (1, 0));
    assert!(st.retransmitted >= 2, "{st:?}");
    // The overlapping segment (frame 5) fills the hole: both records complete there, and
    // frame 6 is a pure retransmission.
    let frames: Vec<u64> = r.conversation.messages().map(|m| m.frame).collect();
    assert_eq!(frames, vec![5, 5]);
}

#[test]
fn gap_acknowledged_by_peer_is_skipped_and_stream_resyncs() {
    let (c, s) = (addr(CLIENT), addr(SERVER));
    let one = record(&rpc_call(1, 100_003, 3, 6, &[0x11; 100]));
    let two = record(&rpc_call(2, 100_003, 3, 6, &[0x22; 8]));
    let mut b = CaptureBuilder::new(Link::Ethernet);
    b.tcp(
        c,
        s,
        0,
        Flags {
            syn: true,
            ..Flags::default()
        },
        &[],
    );
    b.tcp(c, s, 1, ack(1), &one[..50]);
    // one[50..] was lost by the capture; the server acknowledges it anyway.
    b.tcp(s, c, 1, ack(1 + one.len() as u32), &[]);
    b.tcp(c, s, 1 + one.len() as u32, ack(1), &two);
    let r = replay(b.pcap());
    assert_eq!(xids(&r), vec![(2, true)]);
    let n = notes(&r);
    assert_eq!(n.len(), 2, "{n:?}");
    assert!(
        n[0].contains(&format!("{} bytes missing", one.len() - 50)),
        "{n:?}"
    );
    assert!(
        n[1].contains("50 bytes of an incomplete message dropped"),
        "{n:?}"
    );
    assert_eq!(r.conversation.reassembly.gaps, 1);
}

#[test]
fn ack_captured_before_its_data_loses_nothing() {
    // Capture points can record one flow's packets out of order: here the server's ACK of
    // the whole call comes before the call's second half.
    let (c, s) = (addr(CLIENT), addr(SERVER));
    let one = record(&rpc_call(1, 100_003, 3, 6, &[0x11; 100]));
    let mut b = CaptureBuilder::new(Link::Ethernet);
    b.tcp(
        c,
        s,
        0,
        Flags {
            syn: true,
            ..Flags::default()
        },
        &[],
    );
    b.tcp(c, s, 1, ack(1), &one[..50]);
    b.tcp(s, c, 1, ack(1 + one.len() as u32), &[]);
    b.tcp(c, s, 51, ack(1), &one[50..]);
    let r = replay(b.pcap());
    assert_eq!(xids(&r), vec![(1, true)]);
    assert_eq!(notes(&r), Vec::<String>::new());
    assert_eq!(r.conversation.reassembly.gaps, 0);
}

#[test]
fn gap_never_filled_is_skipped_at_end_of_capture() {
    let (c, s) = (addr(CLIENT), addr(SERVER));
    let one = record(&rpc_call(1, 100_003, 3, 6, &[0x11; 100]));
    let two = record(&rpc_call(2, 100_003, 3, 6, &[0x22; 8]));
    let three = record(&rpc_call(3, 100_003, 3, 6, &[0x33; 8]));
    let mut b = CaptureBuilder::new(Link::Ethernet);
    b.tcp(
        c,
        s,
        0,
        Flags {
            syn: true,
            ..Flags::default()
        },
        &[],
    );
    b.tcp(c, s, 1, ack(1), &one[..50]);
    // Second half of `one` and the first 3 bytes of `two` never captured, nor acknowledged.
    let after = 1 + one.len() as u32 + 3;
    b.tcp(c, s, after, ack(1), &[&two[3..], &three[..]].concat());
    let r = replay(b.pcapng());
    // The stream resyncs on `three`: the tail of `two` does not start with a record marker.
    assert_eq!(xids(&r), vec![(3, true)]);
    let n = notes(&r).join("\n");
    assert!(
        n.contains(&format!("{} bytes missing", one.len() - 50 + 3)),
        "{n}"
    );
    assert!(
        n.contains(&format!("skipped {} bytes", two.len() - 3)),
        "{n}"
    );
}

#[test]
fn frames_cut_by_the_snap_length() {
    // tcpdump -s 200: a 1 KB call is captured only in part; the server acknowledges all of
    // it; the next call fits and is decoded.
    let (c, s) = (addr(CLIENT), addr(SERVER));
    let one = record(&rpc_call(1, 100_003, 3, 7, &[0x11; 1000]));
    let two = record(&rpc_call(2, 100_003, 3, 1, &[0x22; 8]));
    let mut b = CaptureBuilder::new(Link::Ethernet);
    b.tcp(
        c,
        s,
        0,
        Flags {
            syn: true,
            ..Flags::default()
        },
        &[],
    );
    b.tcp(c, s, 1, ack(1), &one);
    b.tcp(s, c, 1, ack(1 + one.len() as u32), &[]);
    b.tcp(c, s, 1 + one.len() as u32, ack(1), &two);
    let r = replay(b.pcap_with_snaplen(200));
    assert_eq!(xids(&r), vec![(2, true)]);
    let n = notes(&r).join("\n");
    assert!(
        n.contains("frame cut by the capture's snap length: 200 of"),
        "{n}"
    );
    assert!(
        n.contains(&format!("{} bytes missing", one.len() - (200 - 54))),
        "{n}"
    );
    assert_eq!(r.conversation.skipped.truncated, 1);
    assert!(r
        .to_string()
        .contains("1 frames cut by the capture's snap length"));
}

#[test]
fn capture_started_mid_stream() {
    let (c, s) = (addr(CLIENT), addr(SERVER));
    let one = record(&rpc_call(1, 100_003, 3, 1, &[0x11; 36]));
    let reply = record(&rpc_reply(1, &[0, 0, 0, 0]));
    let two = record(&rpc_call(2, 100_003, 3, 1, &[0x22; 36]));
    let mut b = CaptureBuilder::new(Link::Sll);
    // No SYN; the first captured segment starts 10 bytes into `one`.
    b.tcp(c, s, 5010, ack(9000), &one[10..]);
    b.tcp(s, c, 9000, ack(5000 + one.len() as u32), &reply);
    b.tcp(
        c,
        s,
        5000 + one.len() as u32,
        ack(9000 + reply.len() as u32),
        &two,
    );
    let r = replay(b.pcap());
    assert_eq!(xids(&r), vec![(1, false), (2, true)]);
    let n = notes(&r).join("\n");
    assert!(n.contains("mid-stream"), "{n}");
}

#[test]
fn fin_and_rst_inside_a_record() {
    let (c, s) = (addr(CLIENT), addr(SERVER));
    let one = record(&rpc_call(1, 100_003, 3, 1, &[0x11; 36]));
    for rst in [false, true] {
        let mut b = CaptureBuilder::new(Link::Ethernet);
        b.tcp(
            c,
            s,
            0,
            Flags {
                syn: true,
                ..Flags::default()
            },
            &[],
        );
        b.tcp(c, s, 1, ack(1), &one[..20]);
        b.tcp(
            c,
            s,
            21,
            Flags {
                fin: !rst,
                rst,
                ack: Some(1),
                syn: false,
            },
            &[],
        );
        // Anything after the connection ended is ignored.
        b.tcp(c, s, 21, ack(1), &one[20..]);
        let r = replay(b.pcap());
        assert_eq!(xids(&r), vec![], "rst={rst}");
        let n = notes(&r).join("\n");
        assert!(
            n.contains("connection ended inside a message: 20 bytes"),
            "{n}"
        );
    }
}

#[test]
fn new_connection_on_reused_ports_after_close() {
    let (c, s) = (addr(CLIENT), addr(SERVER));
    let mut b = CaptureBuilder::new(Link::Ethernet);
    null_session(&mut b, c, s);
    null_session(&mut b, c, s);
    let r = replay(b.pcap());
    let conns: Vec<u32> = r.conversation.messages().map(|m| m.conn.0).collect();
    assert_eq!(conns, vec![1, 1, 2, 2]);
}

#[test]
fn detection_by_port_override_and_by_content() {
    let c = addr("127.0.0.1:40000");
    let s = addr("127.0.0.1:30000");
    let mut b = CaptureBuilder::new(Link::Ethernet);
    null_session(&mut b, c, s);
    // RPC on an unknown port is found by content.
    let r = replay(b.pcap());
    assert_eq!(xids(&r).len(), 2);
    // Forcing the port to SMB frames it as NBSS: the RPC bytes are not an SMB frame header,
    // so nothing comes out (and nothing panics).
    let mut ports = PortMap::standard();
    ports.add_spec("smb=30000").expect("spec");
    let r = replay_bytes(Bytes::from(b.pcap()), &ports, None).expect("readable");
    assert!(r
        .conversation
        .messages()
        .all(|m| m.protocol == AppProtocol::Smb));
    // An SMB2 NEGOTIATE-shaped frame on an unknown port is recognised by content.
    let mut smb = vec![0, 0, 0, 68, 0xFE, b'S', b'M', b'B', 64, 0];
    smb.resize(72, 0);
    let mut b = CaptureBuilder::new(Link::Ethernet);
    b.tcp(
        c,
        s,
        0,
        Flags {
            syn: true,
            ..Flags::default()
        },
        &[],
    );
    b.tcp(c, s, 1, ack(1), &smb);
    let r = replay(b.pcap());
    let m: Vec<_> = r.conversation.messages().collect();
    assert_eq!(m.len(), 1);
    assert_eq!((m[0].protocol, m[0].body.len()), (AppProtocol::Smb, 68));
    // Decoded as what it is: an SMB2 header for NEGOTIATE with a 4-byte body.
    assert!(
        r.to_string()
            .contains("req   mid=0 SMB2 NEGOTIATE malformed: truncated NEGOTIATE request"),
        "{r}"
    );
}

#[test]
fn udp_rpc_datagrams() {
    let c = addr("127.0.0.1:800");
    let s = addr("127.0.0.1:111");
    let mut b = CaptureBuilder::new(Link::Ethernet);
    b.udp(c, s, &rpc_call(7, 100_000, 2, 3, &[0; 16]));
    b.udp(s, c, &rpc_reply(7, &[0, 0, 0x4e, 0x20]));
    let r = replay(b.pcapng());
    assert_eq!(xids(&r), vec![(7, true), (7, false)]);
    let m: Vec<_> = r.conversation.messages().collect();
    assert_eq!(m[0].conn, m[1].conn);
}

#[test]
fn unrelated_traffic_gives_an_empty_conversation() {
    let mut b = CaptureBuilder::new(Link::Ethernet);
    let (c, s) = (addr("10.0.0.1:51000"), addr("10.0.0.2:80"));
    b.tcp(
        c,
        s,
        0,
        Flags {
            syn: true,
            ..Flags::default()
        },
        &[],
    );
    b.tcp(c, s, 1, ack(1), b"GET / HTTP/1.1\r\nHost: example\r\n\r\n");
    b.tcp(
        s,
        c,
        1,
        ack(35),
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    );
    b.udp(
        addr("10.0.0.1:5353"),
        addr("10.0.0.2:53"),
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00",
    );
    // An ARP frame (no IP).
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&[0x08, 0x06]);
    arp.extend_from_slice(&[0; 28]);
    b.raw(arp);
    let r = replay(b.pcap());
    assert_eq!(r.conversation.messages().count(), 0);
    let sk = r.conversation.skipped;
    assert_eq!(
        (
            sk.non_ip,
            sk.tcp_connections,
            sk.udp_datagrams,
            sk.undecodable
        ),
        (1, 1, 1, 0)
    );
    assert!(notes(&r).is_empty());
}

#[test]
fn random_bytes_and_empty_files_are_errors() {
    let err = |b: Vec<u8>| {
        replay_bytes(Bytes::from(b), &PortMap::standard(), None).expect_err("not a capture")
    };
    assert!(matches!(err(vec![]), CaptureError::Empty));
    // A deterministic pseudo-random file (xorshift), not starting with a capture magic.
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let e = err(random.clone());
    assert!(matches!(e, CaptureError::NotACapture(_)), "{e}");
    assert!(e.to_string().starts_with("not a pcap or pcapng capture"));
    assert!(matches!(
        err(b"hello world, not a capture\n".to_vec()),
        CaptureError::NotACapture(_)
    ));
    // A valid pcap header followed by random records: no panic, every problem is a note.
    let mut b = CaptureBuilder::new(Link::Ethernet);
    b.raw(random[..1000].to_vec())
        .raw(random[1000..1400].to_vec())
        .raw(random[1400..1410].to_vec());
    let mut file = b.pcap();
    file.extend_from_slice(&random[2000..]);
    let r = replay(file);
    assert_eq!(r.conversation.messages().count(), 0);
    assert!(!notes(&r).is_empty());
    // Same header, pcapng flavour.
    let mut file = b.pcapng();
    file.extend_from_slice(&random[2000..]);
    let r = replay(file);
    assert!(!notes(&r).is_empty());
}

#[test]
fn truncated_captures_keep_every_complete_frame() {
    let (c, s) = (addr(CLIENT), addr(SERVER));
    let mut b = CaptureBuilder::new(Link::Ethernet);
    null_session(&mut b, c, s);
    for (file, name) in [(b.pcap(), "pcap"), (b.pcapng(), "pcapng")] {
        // File offsets where a frame ends: a cut there is a shorter but valid capture.
        let full = Capture::parse(Bytes::from(file.clone())).expect("capture");
        let mut boundaries = if name == "pcap" {
            vec![24]
        } else {
            vec![28, 48]
        };
        for f in &full.frames {
            let last = *boundaries.last().expect("nonempty");
            let size = if name == "pcap" {
                16 + f.data.len()
            } else {
                32 + f.data.len().div_ceil(4) * 4
            };
            boundaries.push(last + size);
        }
        for cut in 0..file.len() {
            let res = replay_bytes(
                Bytes::copy_from_slice(&file[..cut]),
                &PortMap::standard(),
                None,
            );
            match res {
                Err(CaptureError::Empty | CaptureError::TruncatedHeader(_)) => {
                    assert!(
                        cut < 48,
                        "{name} cut at {cut}: header error past the header"
                    )
                }
                Err(e) => panic!("{name} cut at {cut}: {e}"),
                Ok(r) => {
                    let n = xids(&r).len();
                    // The call is frame 4, the reply frame 5: cut inside them loses them.
                    assert!(n <= 2);
                    let text = r.to_string();
                    if !boundaries.contains(&cut) {
                        assert!(text.contains("warning"), "{name} cut at {cut}:\n{text}");
                    }
                }
            }
        }
        // Cut in the middle of the last frame: the call and the reply survive.
        let r = replay(file[..file.len() - 10].to_vec());
        assert_eq!(xids(&r).len(), 2);
        assert!(
            notes(&r)
                .iter()
                .any(|n| n.contains("capture file truncated")),
            "{name}"
        );
    }
}

#[test]
fn truncated_real_capture_never_panics() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pcaps/ganesha-cp-out.pcap");
    let file = std::fs::read(path).expect("capture");
    let mut last = 0;
    for cut in (0..file.len()).step_by(7) {
        if let Ok(r) = replay_bytes(
            Bytes::copy_from_slice(&file[..cut]),
            &PortMap::standard(),
            None,
        ) {
            let _ = r.to_string();
            let n = r.conversation.messages().count();
            assert!(n >= last, "cut at {cut}: {n} messages after {last}");
            last = n;
        }
    }
}
