//! TCP stream reassembly for captured traffic, for the cases real captures produce
//! (RFC 9293 §3.4 sequence numbers, §3.10.7 segment arrival).
//!
//! Per connection (the 4-tuple, renewed by a SYN after the previous connection ended) and per
//! direction, bytes are delivered in sequence-number order:
//! - segments that arrive early wait (bounded by [`TcpReassembler::MAX_PENDING_BYTES`] per
//!   direction) until the hole before them is filled;
//! - retransmissions and overlaps are trimmed to the bytes not yet delivered (the first copy
//!   wins; a retransmission with different content is not noticed);
//! - a hole the capture will never fill is reported as a [`StreamEventKind::Gap`] and skipped:
//!   when the peer acknowledged bytes the capture never saw (the capture dropped them) and
//!   later bytes were captured, when the connection ends, when the capture ends, or when too
//!   much is waiting behind it;
//! - a connection whose SYN is not in the capture starts at its first segment with a gap of
//!   unknown size (the consumer must resynchronise on a message boundary);
//! - FIN ends a direction once every byte before it is delivered; RST ends both at once.
//!
//! UDP has no reassembly: each datagram is a message; flows get connection ids from the same
//! counter so the conversation can name them.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use crate::reader::TcpFlags;

/// Replay-local number of a TCP connection or UDP flow, in order of first appearance
/// (printed as `c1`, `c2`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u32);

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// What happened on one direction of a TCP connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEventKind {
    /// The next bytes of the stream, contiguous with the previous `Data`.
    Data(Bytes),
    /// Bytes before the next `Data` are missing from the capture: `Some(n)` bytes, or `None`
    /// when the start of the stream is not in the capture.
    Gap {
        /// How many bytes are missing, if known.
        missing: Option<u64>,
    },
    /// The direction ended: by FIN (`reset == false`) or RST.
    Closed {
        /// Whether the connection was reset.
        reset: bool,
    },
}

/// One reassembled event on one direction of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEvent {
    /// The connection.
    pub conn: ConnId,
    /// Sender of this direction.
    pub from: SocketAddr,
    /// Receiver of this direction.
    pub to: SocketAddr,
    /// Frame number that produced the event.
    pub frame: u64,
    /// Capture time of that frame.
    pub ts: Duration,
    /// What happened.
    pub kind: StreamEventKind,
}

/// Counters for the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReassemblyStats {
    /// Segments whose every byte had already been delivered (retransmissions).
    pub retransmitted: u64,
    /// Segments that arrived before a hole in front of them was filled.
    pub out_of_order: u64,
    /// Holes skipped (bytes the capture never saw).
    pub gaps: u64,
    /// Segments seen after their connection had ended, ignored.
    pub after_close: u64,
}

/// One direction of a connection.
#[derive(Debug, Default)]
struct HalfStream {
    /// Sequence number of relative offset 0 (after the SYN).
    base: Option<u32>,
    /// Relative offset of the next byte to deliver.
    delivered: u64,
    /// Early segments by relative offset: (frame, ts, bytes).
    pending: BTreeMap<u64, (u64, Duration, Bytes)>,
    pending_bytes: usize,
    /// Relative offset of the FIN, once seen.
    fin_at: Option<u64>,
    /// Highest relative offset the peer acknowledged.
    acked: u64,
    ended: bool,
}

impl HalfStream {
    /// Relative offset of `seq`, taken as the nearest one to the delivery point (sequence
    /// numbers wrap at 2^32; RFC 9293 §3.4 comparisons are modulo 2^32).
    fn rel(&self, base: u32, seq: u32) -> Option<u64> {
        let expected = base.wrapping_add(self.delivered as u32);
        let diff = i64::from(seq.wrapping_sub(expected) as i32);
        let r = self.delivered as i64 + diff;
        (r >= 0).then_some(r as u64)
    }
}

#[derive(Debug)]
struct TcpConn {
    id: ConnId,
    /// Endpoints by half index: half 0 is sent by `ends[0]`.
    ends: [SocketAddr; 2],
    halves: [HalfStream; 2],
    closed: bool,
}

impl TcpConn {
    /// Builds this connection's events of one frame by half: half `h` is sent by
    /// `ends[h]` to the other end. A copy of what it needs, so the halves stay borrowable.
    fn event_maker(
        &self,
        frame: u64,
        ts: Duration,
    ) -> impl Fn(usize, StreamEventKind) -> StreamEvent {
        let (id, ends) = (self.id, self.ends);
        move |half, kind| StreamEvent {
            conn: id,
            from: ends[half],
            to: ends[1 - half],
            frame,
            ts,
            kind,
        }
    }
}

/// TCP reassembly over all connections of a capture; see the module documentation.
#[derive(Debug, Default)]
pub struct TcpReassembler {
    conns: Vec<TcpConn>,
    /// Current connection by unordered 4-tuple.
    by_tuple: HashMap<(SocketAddr, SocketAddr), usize>,
    /// UDP flows by unordered address pair.
    udp: HashMap<(SocketAddr, SocketAddr), ConnId>,
    next_id: u32,
    stats: ReassemblyStats,
}

fn key(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// A TCP segment as the reassembler needs it.
#[derive(Debug, Clone)]
pub struct TcpSegment {
    /// Frame number.
    pub frame: u64,
    /// Capture time.
    pub ts: Duration,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Flags.
    pub flags: TcpFlags,
    /// Payload.
    pub payload: Bytes,
}

impl TcpReassembler {
    /// Most bytes waiting behind a hole in one direction before the hole is declared lost.
    pub const MAX_PENDING_BYTES: usize = 16 << 20;

    /// An empty reassembler.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counters so far.
    pub fn stats(&self) -> ReassemblyStats {
        self.stats
    }

    fn new_id(&mut self) -> ConnId {
        self.next_id += 1;
        ConnId(self.next_id)
    }

    /// The flow id of a UDP datagram between `a` and `b` (either direction).
    pub fn udp_flow(&mut self, a: SocketAddr, b: SocketAddr) -> ConnId {
        let k = key(a, b);
        if let Some(id) = self.udp.get(&k) {
            return *id;
        }
        let id = self.new_id();
        self.udp.insert(k, id);
        id
    }

    /// The endpoints of connection `id` as (first sender, peer): the client when the SYN was
    /// captured.
    pub fn endpoints(&self, id: ConnId) -> Option<(SocketAddr, SocketAddr)> {
        self.conns
            .iter()
            .find(|c| c.id == id)
            .map(|c| (c.ends[0], c.ends[1]))
    }

    /// Feeds one segment; events it completes are appended to `out` in stream order.
    pub fn handle_segment(&mut self, seg: TcpSegment, out: &mut Vec<StreamEvent>) {
        let k = key(seg.src, seg.dst);
        let existing = self.by_tuple.get(&k).copied().filter(|&i| {
            // A fresh SYN on a 4-tuple whose connection ended starts a new connection.
            !(self.conns[i].closed && seg.flags.syn && !seg.flags.ack)
        });
        let idx = if let Some(i) = existing {
            i
        } else {
            let id = self.new_id();
            // The sender of a SYN+ACK is the server: make half 0 the client's direction.
            let ends = if seg.flags.syn && seg.flags.ack {
                [seg.dst, seg.src]
            } else {
                [seg.src, seg.dst]
            };
            self.conns.push(TcpConn {
                id,
                ends,
                halves: [HalfStream::default(), HalfStream::default()],
                closed: false,
            });
            let i = self.conns.len() - 1;
            self.by_tuple.insert(k, i);
            i
        };
        if self.conns[idx].closed {
            self.stats.after_close += 1;
            return;
        }
        let h = usize::from(self.conns[idx].ends[0] != seg.src);
        let stats = &mut self.stats;
        let conn = &mut self.conns[idx];
        let ev = conn.event_maker(seg.frame, seg.ts);

        // This direction's bytes.
        {
            let half = &mut conn.halves[h];
            if seg.flags.syn {
                if half.base.is_none() {
                    half.base = Some(seg.seq.wrapping_add(1));
                }
            } else if half.base.is_none() {
                // Mid-stream start: the capture began after this connection opened.
                half.base = Some(seg.seq);
                if !seg.payload.is_empty() || seg.flags.fin {
                    out.push(ev(h, StreamEventKind::Gap { missing: None }));
                }
            }
            let base = half.base.unwrap_or(seg.seq);
            let data_seq = if seg.flags.syn {
                seg.seq.wrapping_add(1)
            } else {
                seg.seq
            };
            if !seg.payload.is_empty() && !half.ended {
                match half.rel(base, data_seq) {
                    Some(r) => insert(half, stats, r, seg.frame, seg.ts, seg.payload.clone()),
                    None => stats.retransmitted += 1,
                }
                deliver(half, stats, &ev, h, out);
                skip_acked_holes(half, stats, &ev, h, out);
                if half.pending_bytes > Self::MAX_PENDING_BYTES {
                    skip_hole(half, stats, &ev, h, out);
                    deliver(half, stats, &ev, h, out);
                }
            }
            if seg.flags.fin && half.fin_at.is_none() {
                let r = half.rel(base, data_seq).unwrap_or(half.delivered);
                half.fin_at = Some(r + seg.payload.len() as u64);
            }
        }
        // The peer's direction: an acknowledgment of bytes the capture has not seen. It is
        // only remembered: a capture can record an ACK before the data it acknowledges
        // (packets of one flow captured out of order), so the hole is declared lost only once
        // later data of that direction is captured beyond it, or at the end.
        if seg.flags.ack && !seg.flags.rst {
            let other = &mut conn.halves[1 - h];
            if let Some(base) = other.base {
                if let Some(mut a) = other.rel(base, seg.ack) {
                    if let Some(f) = other.fin_at {
                        a = a.min(f);
                    }
                    other.acked = other.acked.max(a);
                    skip_acked_holes(other, stats, &ev, 1 - h, out);
                }
            }
        }
        // End of a direction.
        for half_i in [h, 1 - h] {
            let half = &mut conn.halves[half_i];
            if !half.ended && half.fin_at.is_some_and(|f| f <= half.delivered) {
                half.ended = true;
                out.push(ev(half_i, StreamEventKind::Closed { reset: false }));
            }
        }
        if seg.flags.rst {
            for half_i in [h, 1 - h] {
                let half = &mut conn.halves[half_i];
                flush(half, stats, &ev, half_i, out);
                if !half.ended {
                    half.ended = true;
                    out.push(ev(half_i, StreamEventKind::Closed { reset: true }));
                }
            }
        }
        if conn.halves.iter().all(|x| x.ended) {
            conn.closed = true;
        }
    }

    /// End of capture: every byte still waiting behind a hole is delivered after a gap.
    /// `frame` and `ts` are those of the last frame.
    pub fn finish(&mut self, frame: u64, ts: Duration, out: &mut Vec<StreamEvent>) {
        let stats = &mut self.stats;
        for conn in &mut self.conns {
            let ev = conn.event_maker(frame, ts);
            for h in 0..2 {
                flush(&mut conn.halves[h], stats, &ev, h, out);
            }
        }
    }
}

fn insert(
    half: &mut HalfStream,
    stats: &mut ReassemblyStats,
    r: u64,
    frame: u64,
    ts: Duration,
    data: Bytes,
) {
    let end = r + data.len() as u64;
    if end <= half.delivered {
        stats.retransmitted += 1;
        return;
    }
    if r > half.delivered {
        stats.out_of_order += 1;
    }
    match half.pending.get(&r) {
        Some((_, _, old)) if old.len() >= data.len() => stats.retransmitted += 1,
        _ => {
            if let Some((_, _, old)) = half.pending.insert(r, (frame, ts, data.clone())) {
                half.pending_bytes -= old.len();
            }
            half.pending_bytes += data.len();
        }
    }
}

/// Delivers every pending segment that now touches the delivery point.
fn deliver(
    half: &mut HalfStream,
    stats: &mut ReassemblyStats,
    ev: &impl Fn(usize, StreamEventKind) -> StreamEvent,
    h: usize,
    out: &mut Vec<StreamEvent>,
) {
    while let Some((&r, _)) = half.pending.iter().next() {
        if r > half.delivered {
            break;
        }
        let Some((_, (frame, ts, data))) = half.pending.pop_first() else {
            break;
        };
        half.pending_bytes -= data.len();
        let end = r + data.len() as u64;
        if end <= half.delivered {
            stats.retransmitted += 1;
            continue;
        }
        let fresh = data.slice((half.delivered - r) as usize..);
        half.delivered = end;
        let mut e = ev(h, StreamEventKind::Data(fresh));
        e.frame = e.frame.max(frame);
        e.ts = e.ts.max(ts);
        out.push(e);
    }
}

/// Skips the hole in front of the first pending segment.
fn skip_hole(
    half: &mut HalfStream,
    stats: &mut ReassemblyStats,
    ev: &impl Fn(usize, StreamEventKind) -> StreamEvent,
    h: usize,
    out: &mut Vec<StreamEvent>,
) {
    if let Some(&first) = half.pending.keys().next() {
        if first > half.delivered {
            stats.gaps += 1;
            out.push(ev(
                h,
                StreamEventKind::Gap {
                    missing: Some(first - half.delivered),
                },
            ));
            half.delivered = first;
        }
    }
}

/// Skips holes the peer has acknowledged (so the bytes were sent, and the capture lost
/// them) when data beyond them has been captured.
fn skip_acked_holes(
    half: &mut HalfStream,
    stats: &mut ReassemblyStats,
    ev: &impl Fn(usize, StreamEventKind) -> StreamEvent,
    h: usize,
    out: &mut Vec<StreamEvent>,
) {
    while !half.ended {
        match half.pending.keys().next().copied() {
            Some(first) if first > half.delivered && half.acked > half.delivered => {
                skip_hole(half, stats, ev, h, out);
                deliver(half, stats, ev, h, out);
            }
            _ => return,
        }
    }
}

/// Delivers everything pending, skipping holes.
fn flush(
    half: &mut HalfStream,
    stats: &mut ReassemblyStats,
    ev: &impl Fn(usize, StreamEventKind) -> StreamEvent,
    h: usize,
    out: &mut Vec<StreamEvent>,
) {
    while !half.pending.is_empty() {
        skip_hole(half, stats, ev, h, out);
        deliver(half, stats, ev, h, out);
    }
}
