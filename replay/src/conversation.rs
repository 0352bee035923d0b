//! From frames to a conversation: every frame is decoded to TCP/UDP, TCP is reassembled
//! ([`crate::reassembly`]), each flow's protocol is decided ([`crate::detect`]), streams are cut
//! into messages ([`crate::framing`]), and everything that had to be skipped becomes a note in
//! the conversation at the place it happened. Nothing here decodes RPC or SMB bodies: that is
//! [`crate::decode`], which uses the codecs of the protocol crates.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use crate::detect::{detect_datagram, detect_stream, find_boundary, AppProtocol, PortMap};
use crate::framing::{FrameNote, Framer};
use crate::reader::{decode_frame, Capture, CaptureFormat, Segment};
use crate::reassembly::{ConnId, ReassemblyStats, StreamEventKind, TcpReassembler, TcpSegment};

/// Transport a message came over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// TCP (record-marked or NBSS-framed).
    Tcp,
    /// UDP (one message per datagram).
    Udp,
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        })
    }
}

/// One application message cut from the capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Frame that completed it.
    pub frame: u64,
    /// Capture time of that frame (since the Unix epoch).
    pub ts: Duration,
    /// Connection or UDP flow.
    pub conn: ConnId,
    /// Transport.
    pub transport: Transport,
    /// Sender.
    pub from: SocketAddr,
    /// Receiver.
    pub to: SocketAddr,
    /// Protocol the flow was identified as.
    pub protocol: AppProtocol,
    /// The message without record marker or NBSS header.
    pub body: Bytes,
    /// RPC fragments it was sent in.
    pub fragments: u32,
}

/// A note about something skipped, at the place it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Frame it is about.
    pub frame: Option<u64>,
    /// Capture time, when known.
    pub ts: Option<Duration>,
    /// Connection it is about.
    pub conn: Option<ConnId>,
    /// What happened.
    pub text: String,
}

/// One line of the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A message.
    Message(Message),
    /// A warning.
    Note(Note),
}

/// What was not part of any conversation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Frames without IP/TCP/UDP content (ARP, ICMP, ...).
    pub non_ip: u64,
    /// Frames that could not be decoded (each has a note, up to a limit).
    pub undecodable: u64,
    /// TCP connections of other protocols.
    pub tcp_connections: u64,
    /// UDP datagrams of other protocols.
    pub udp_datagrams: u64,
    /// Frames cut by the capture's snap length (their payload is partly missing).
    pub truncated: u64,
}

/// A capture turned into messages and notes.
#[derive(Debug, Clone)]
pub struct Conversation {
    /// Container format of the capture.
    pub format: CaptureFormat,
    /// Frames in the capture.
    pub frames: u64,
    /// Time of the first frame.
    pub first_ts: Option<Duration>,
    /// Messages and notes, in capture order.
    pub items: Vec<Item>,
    /// What was skipped.
    pub skipped: Skipped,
    /// Reassembly counters.
    pub reassembly: ReassemblyStats,
}

impl Conversation {
    /// The messages alone.
    pub fn messages(&self) -> impl Iterator<Item = &Message> {
        self.items.iter().filter_map(|i| match i {
            Item::Message(m) => Some(m),
            Item::Note(_) => None,
        })
    }
}

/// Notes about undecodable frames kept before only counting them.
const MAX_FRAME_NOTES: u64 = 50;

#[derive(Debug, Default)]
struct ConnState {
    /// `Some(None)`: decided, not ours.
    proto: Option<Option<AppProtocol>>,
    framers: HashMap<SocketAddr, Framer>,
    /// Directions whose start is missing (mid-stream) and not yet framed.
    unsynced: Vec<SocketAddr>,
}

/// Builds the conversation of `capture`, taking flows on `ports` (or recognised by content).
pub fn build(capture: &Capture, ports: &PortMap) -> Conversation {
    let mut items = Vec::new();
    for w in &capture.warnings {
        items.push(Item::Note(Note {
            frame: w.frame,
            ts: None,
            conn: None,
            text: w.text.clone(),
        }));
    }
    let mut skipped = Skipped::default();
    let mut tcp = TcpReassembler::new();
    let mut conns: HashMap<ConnId, ConnState> = HashMap::new();
    let mut udp_proto: HashMap<ConnId, Option<AppProtocol>> = HashMap::new();
    let mut events = Vec::new();
    let mut last = (0u64, Duration::ZERO);

    for frame in &capture.frames {
        last = (frame.number, frame.ts);
        let seg = match decode_frame(frame) {
            Ok(Some(s)) => s,
            Ok(None) => {
                skipped.non_ip += 1;
                continue;
            }
            Err(why) => {
                frame_note(&mut items, &mut skipped.undecodable, frame, || {
                    format!("frame not decoded: {why}")
                });
                continue;
            }
        };
        let truncated = match &seg {
            Segment::Tcp { truncated, .. } | Segment::Udp { truncated, .. } => *truncated,
        };
        if truncated {
            frame_note(&mut items, &mut skipped.truncated, frame, || {
                format!(
                    "frame cut by the capture's snap length: {} of {} bytes captured",
                    frame.data.len(),
                    frame.orig_len
                )
            });
        }
        match seg {
            Segment::Tcp {
                src,
                dst,
                seq,
                ack,
                flags,
                payload,
                ..
            } => {
                let seg = TcpSegment {
                    frame: frame.number,
                    ts: frame.ts,
                    src,
                    dst,
                    seq,
                    ack,
                    flags,
                    payload,
                };
                tcp.handle_segment(seg, &mut events);
                process_events(&mut events, &mut conns, ports, &mut items, &mut skipped);
            }
            Segment::Udp {
                src, dst, payload, ..
            } => {
                let conn = tcp.udp_flow(src, dst);
                let proto = *udp_proto
                    .entry(conn)
                    .or_insert_with(|| ports.by_ports(src.port(), dst.port()));
                let proto = proto.or_else(|| detect_datagram(&payload));
                match proto {
                    Some(AppProtocol::Rpc) => items.push(Item::Message(Message {
                        frame: frame.number,
                        ts: frame.ts,
                        conn,
                        transport: Transport::Udp,
                        from: src,
                        to: dst,
                        protocol: AppProtocol::Rpc,
                        body: payload,
                        fragments: 1,
                    })),
                    _ => skipped.udp_datagrams += 1,
                }
            }
        }
    }
    tcp.finish(last.0, last.1, &mut events);
    process_events(&mut events, &mut conns, ports, &mut items, &mut skipped);
    if skipped.undecodable > MAX_FRAME_NOTES {
        items.push(Item::Note(Note {
            frame: None,
            ts: None,
            conn: None,
            text: format!(
                "{} more frames not decoded (only the first {MAX_FRAME_NOTES} are listed)",
                skipped.undecodable - MAX_FRAME_NOTES
            ),
        }));
    }
    Conversation {
        format: capture.format,
        frames: capture.frames.len() as u64,
        first_ts: capture.frames.first().map(|f| f.ts),
        items,
        skipped,
        reassembly: tcp.stats(),
    }
}

/// Counts one more frame of a kind that is skipped or only partly used, and notes it
/// with `text` while fewer than [`MAX_FRAME_NOTES`] of that kind were noted.
fn frame_note(
    items: &mut Vec<Item>,
    count: &mut u64,
    frame: &crate::reader::Frame,
    text: impl FnOnce() -> String,
) {
    *count += 1;
    if *count <= MAX_FRAME_NOTES {
        items.push(Item::Note(Note {
            frame: Some(frame.number),
            ts: Some(frame.ts),
            conn: None,
            text: text(),
        }));
    }
}

fn process_events(
    events: &mut Vec<crate::reassembly::StreamEvent>,
    conns: &mut HashMap<ConnId, ConnState>,
    ports: &PortMap,
    items: &mut Vec<Item>,
    skipped: &mut Skipped,
) {
    for ev in events.drain(..) {
        let st = conns.entry(ev.conn).or_default();
        let mut notes: Vec<FrameNote> = Vec::new();
        let mut out = Vec::new();
        let mut proto_used = None;
        match ev.kind {
            StreamEventKind::Gap { missing } => match st.framers.get_mut(&ev.from) {
                Some(f) => f.gap(ev.frame, missing, &mut notes),
                None => st.unsynced.push(ev.from),
            },
            StreamEventKind::Closed { .. } => {
                if let Some(f) = st.framers.get_mut(&ev.from) {
                    f.closed(ev.frame, &mut notes);
                }
            }
            StreamEventKind::Data(data) => {
                if st.proto.is_none() {
                    let by_port = ports.by_ports(ev.from.port(), ev.to.port());
                    let mid = st.unsynced.contains(&ev.from);
                    let by_content = if mid {
                        [AppProtocol::Rpc, AppProtocol::Smb]
                            .into_iter()
                            .find(|p| find_boundary(*p, &data).is_some())
                    } else {
                        detect_stream(&data)
                    };
                    let proto = by_port.or(by_content);
                    if proto.is_none() {
                        skipped.tcp_connections += 1;
                    }
                    st.proto = Some(proto);
                }
                let Some(Some(proto)) = st.proto else {
                    continue;
                };
                let unsynced = st.unsynced.contains(&ev.from);
                let framer = st.framers.entry(ev.from).or_insert_with(|| {
                    let mut f = Framer::new(proto);
                    if unsynced {
                        f.gap(ev.frame, None, &mut notes);
                    }
                    f
                });
                framer.push(ev.frame, ev.ts, &data, &mut out, &mut notes);
                proto_used = Some(proto);
            }
        }
        if matches!(st.proto, Some(Some(_))) || st.proto.is_none() {
            for n in notes {
                items.push(Item::Note(Note {
                    frame: Some(n.frame),
                    ts: Some(ev.ts),
                    conn: Some(ev.conn),
                    text: format!("{} > {}: {}", ev.from, ev.to, n.text),
                }));
            }
        }
        if let Some(proto) = proto_used {
            for m in out {
                items.push(Item::Message(Message {
                    frame: m.frame,
                    ts: m.ts,
                    conn: ev.conn,
                    transport: Transport::Tcp,
                    from: ev.from,
                    to: ev.to,
                    protocol: proto,
                    body: m.body,
                    fragments: m.fragments,
                }));
            }
        }
    }
}
