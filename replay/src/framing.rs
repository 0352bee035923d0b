//! Cuts one reassembled TCP direction into messages: ONC RPC records (RFC 5531 §11 record
//! marking: a 4-byte marker per fragment, top bit = last fragment, 31-bit length; a record is
//! its fragments concatenated) or NBSS session messages (RFC 1002 §4.3.1 as profiled by
//! MS-SMB2 §2.1: a 0x00 type byte and a 24-bit length).
//!
//! After a gap, or when a connection was captured mid-stream, the framer is out of step: it
//! drops bytes up to the next position where a record plausibly starts
//! ([`crate::detect::find_boundary`]) and says how many it dropped.

use std::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::detect::{find_boundary, AppProtocol, MAX_RECORD};

/// Most bytes kept while out of step, waiting for a candidate record to be confirmed (a
/// READ or WRITE record of up to 1 MiB data must fit).
pub const RESYNC_WINDOW: usize = 2 << 20;

/// A complete message cut from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framed {
    /// Frame that completed the message.
    pub frame: u64,
    /// Its capture time.
    pub ts: Duration,
    /// The message without record markers / NBSS header.
    pub body: Bytes,
    /// Number of RPC fragments it was sent in (1 for NBSS).
    pub fragments: u32,
}

/// Something the framer had to skip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameNote {
    /// Frame at which it was noticed.
    pub frame: u64,
    /// What happened.
    pub text: String,
}

/// Outcome of a resynchronisation attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resync {
    /// A confirmed message starts at this offset.
    At(usize),
    /// Nothing confirmed yet: drop the bytes before this offset and wait for more.
    Wait(usize),
}

/// Framing state of one direction of a connection.
#[derive(Debug)]
pub struct Framer {
    proto: AppProtocol,
    buf: BytesMut,
    synced: bool,
    /// Fragments of the RPC record being assembled.
    partial: Vec<Bytes>,
    partial_len: usize,
    /// Bytes dropped while out of step, reported once the framer is in step again.
    skipped: usize,
}

impl Framer {
    /// A framer for `proto`, in step (the stream start was captured).
    pub fn new(proto: AppProtocol) -> Self {
        Framer {
            proto,
            buf: BytesMut::new(),
            synced: true,
            partial: Vec::new(),
            partial_len: 0,
            skipped: 0,
        }
    }

    /// The protocol framed.
    pub fn protocol(&self) -> AppProtocol {
        self.proto
    }

    fn pending_bytes(&self) -> usize {
        self.buf.len() + self.partial_len
    }

    fn drop_partial(&mut self, frame: u64, why: &str, notes: &mut Vec<FrameNote>) {
        let skipped = std::mem::take(&mut self.skipped);
        if skipped > 0 {
            notes.push(FrameNote {
                frame,
                text: format!(
                    "skipped {skipped} bytes without finding a {} record",
                    self.proto
                ),
            });
        }
        let n = self.pending_bytes();
        if n > 0 {
            notes.push(FrameNote {
                frame,
                text: format!("{why}: {n} bytes of an incomplete message dropped"),
            });
        }
        self.buf.clear();
        self.partial.clear();
        self.partial_len = 0;
    }

    /// Bytes are missing before the next data (`None`: the stream start is not captured).
    pub fn gap(&mut self, frame: u64, missing: Option<u64>, notes: &mut Vec<FrameNote>) {
        match missing {
            Some(n) => {
                notes.push(FrameNote {
                    frame,
                    text: format!("{n} bytes missing from the capture; resynchronising"),
                });
                self.drop_partial(frame, "gap", notes);
            }
            None => {
                notes.push(FrameNote {
                    frame,
                    text: "connection captured mid-stream; resynchronising".into(),
                });
                self.drop_partial(frame, "mid-stream start", notes);
            }
        }
        self.synced = false;
    }

    /// The direction ended.
    pub fn closed(&mut self, frame: u64, notes: &mut Vec<FrameNote>) {
        self.drop_partial(frame, "connection ended inside a message", notes);
    }

    /// Where to resume after losing step. A candidate position (a plausible header) is
    /// confirmed when its message ends exactly where the captured bytes end (senders write
    /// whole messages) or where another plausible header starts; the first confirmed candidate
    /// wins. Candidates whose end is not captured yet make the framer wait for more bytes.
    fn resync_point(&self) -> Resync {
        let buf = &self.buf[..];
        let mut first_candidate = None;
        let mut i = 0;
        while let Some(off) = find_boundary(self.proto, &buf[i..]) {
            let at = i + off;
            first_candidate.get_or_insert(at);
            let len = match self.proto {
                AppProtocol::Rpc => {
                    (u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
                        & 0x7fff_ffff) as usize
                }
                AppProtocol::Smb => {
                    u32::from_be_bytes([0, buf[at + 1], buf[at + 2], buf[at + 3]]) as usize
                }
            };
            let end = at + 4 + len;
            if end == buf.len()
                || (end < buf.len() && find_boundary(self.proto, &buf[end..]) == Some(0))
            {
                return Resync::At(at);
            }
            i = at + 1;
        }
        match first_candidate {
            Some(at) => Resync::Wait(at),
            // Keep a tail that may hold the start of a header.
            None => Resync::Wait(buf.len().saturating_sub(15)),
        }
    }

    /// Appends stream bytes and returns every message they complete.
    pub fn push(
        &mut self,
        frame: u64,
        ts: Duration,
        data: &[u8],
        out: &mut Vec<Framed>,
        notes: &mut Vec<FrameNote>,
    ) {
        self.buf.extend_from_slice(data);
        loop {
            if !self.synced {
                match self.resync_point() {
                    Resync::At(off) => {
                        let _ = self.buf.split_to(off);
                        let skipped = std::mem::take(&mut self.skipped) + off;
                        if skipped > 0 {
                            notes.push(FrameNote {
                                frame,
                                text: format!(
                                    "skipped {skipped} bytes up to the next {} record",
                                    self.proto
                                ),
                            });
                        }
                        self.synced = true;
                    }
                    Resync::Wait(keep_from) => {
                        // Bytes before the first candidate can never start a record; and
                        // at most RESYNC_WINDOW bytes wait for a candidate to be confirmed.
                        let cut = keep_from.max(self.buf.len().saturating_sub(RESYNC_WINDOW));
                        let _ = self.buf.split_to(cut);
                        self.skipped += cut;
                        return;
                    }
                }
            }
            if self.buf.len() < 4 {
                return;
            }
            let hdr = [self.buf[0], self.buf[1], self.buf[2], self.buf[3]];
            let (len, last) = match self.proto {
                AppProtocol::Rpc => {
                    let m = u32::from_be_bytes(hdr);
                    ((m & 0x7fff_ffff) as usize, m & 0x8000_0000 != 0)
                }
                AppProtocol::Smb => {
                    if hdr[0] != 0 {
                        // NBSS keep-alive (0x85) and other session packets carry no SMB.
                        let len = u32::from_be_bytes([0, hdr[1], hdr[2], hdr[3]]) as usize;
                        if self.buf.len() < 4 + len {
                            return;
                        }
                        let _ = self.buf.split_to(4 + len);
                        continue;
                    }
                    (
                        u32::from_be_bytes([0, hdr[1], hdr[2], hdr[3]]) as usize,
                        true,
                    )
                }
            };
            if len > MAX_RECORD || self.partial_len + len > MAX_RECORD {
                notes.push(FrameNote {
                    frame,
                    text: format!(
                        "{} header claims {len} bytes (limit {MAX_RECORD}); resynchronising",
                        self.proto
                    ),
                });
                self.drop_partial(frame, "oversized message", notes);
                self.synced = false;
                continue;
            }
            if self.buf.len() < 4 + len {
                return;
            }
            let _ = self.buf.split_to(4);
            let fragment = self.buf.split_to(len).freeze();
            self.partial_len += fragment.len();
            self.partial.push(fragment);
            if last {
                let fragments = self.partial.len() as u32;
                let body = if self.partial.len() == 1 {
                    self.partial.pop().unwrap_or_default()
                } else {
                    let mut b = BytesMut::with_capacity(self.partial_len);
                    for p in self.partial.drain(..) {
                        b.extend_from_slice(&p);
                    }
                    b.freeze()
                };
                self.partial.clear();
                self.partial_len = 0;
                out.push(Framed {
                    frame,
                    ts,
                    body,
                    fragments,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rpc_call(xid: u32) -> Vec<u8> {
        let mut v = vec![0x80, 0, 0, 40];
        for w in [xid, 0, 2, 100_003, 3, 0, 0, 0, 0, 0] {
            v.extend_from_slice(&w.to_be_bytes());
        }
        v
    }

    #[test]
    fn records_split_and_joined() {
        let mut f = Framer::new(AppProtocol::Rpc);
        let (mut out, mut notes) = (Vec::new(), Vec::new());
        let two = [rpc_call(1), rpc_call(2)].concat();
        f.push(1, Duration::ZERO, &two[..30], &mut out, &mut notes);
        assert!(out.is_empty());
        f.push(2, Duration::ZERO, &two[30..], &mut out, &mut notes);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].body[..4], 2u32.to_be_bytes());
        assert_eq!(out[1].frame, 2);
        assert!(notes.is_empty());
        // Two fragments: first without the last-fragment bit.
        let mut frag = vec![0, 0, 0, 8];
        frag.extend_from_slice(&[0, 0, 0, 9, 0, 0, 0, 0]);
        frag.extend_from_slice(&[0x80, 0, 0, 32]);
        frag.extend_from_slice(&rpc_call(9)[12..]);
        f.push(3, Duration::ZERO, &frag, &mut out, &mut notes);
        assert_eq!(out.len(), 3);
        assert_eq!(out[2].fragments, 2);
        assert_eq!(out[2].body.len(), 40);
    }

    #[test]
    fn resync_after_gap() {
        let mut f = Framer::new(AppProtocol::Rpc);
        let (mut out, mut notes) = (Vec::new(), Vec::new());
        let call = rpc_call(7);
        f.push(1, Duration::ZERO, &call[..20], &mut out, &mut notes);
        f.gap(2, Some(24), &mut notes);
        f.push(
            3,
            Duration::ZERO,
            &[&[0xAAu8; 10][..], &call].concat(),
            &mut out,
            &mut notes,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(notes.len(), 3, "{notes:?}");
        assert!(notes[1].text.contains("20 bytes"));
        assert!(notes[2].text.contains("skipped 10 bytes"));
    }

    #[test]
    fn unsynced_stream_is_bounded_and_resyncs() {
        let mut f = Framer::new(AppProtocol::Rpc);
        let (mut out, mut notes) = (Vec::new(), Vec::new());
        f.gap(1, None, &mut notes);
        // A false candidate claiming 10 MiB (marker + CALL + rpcvers 2), then 8 MiB of data
        // that starts no record: the buffer never holds more than the window.
        let mut fake = vec![0x80, 0xa0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2];
        fake.resize(64 << 10, 0x5a);
        f.push(2, Duration::ZERO, &fake, &mut out, &mut notes);
        for i in 0..128 {
            f.push(
                3 + i,
                Duration::ZERO,
                &[0x5a; 64 << 10],
                &mut out,
                &mut notes,
            );
            assert!(f.buf.len() <= RESYNC_WINDOW + (64 << 10));
        }
        let call = rpc_call(5);
        f.push(200, Duration::ZERO, &call, &mut out, &mut notes);
        assert_eq!(out.len(), 1);
        assert!(
            notes.last().is_some_and(|n| n.text.starts_with("skipped ")),
            "{notes:?}"
        );
    }

    #[test]
    fn oversized_marker_does_not_allocate() {
        let mut f = Framer::new(AppProtocol::Rpc);
        let (mut out, mut notes) = (Vec::new(), Vec::new());
        f.push(
            1,
            Duration::ZERO,
            &[0xff, 0xff, 0xff, 0xff, 1, 2, 3],
            &mut out,
            &mut notes,
        );
        assert!(out.is_empty());
        assert!(notes[0].text.contains("limit"));
    }
}
