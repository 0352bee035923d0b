//! Record marking for stream transports (RFC 5531 §11).
//!
//! A record is one or more fragments; each fragment starts with a 4-byte header whose high
//! bit says "last fragment" and whose low 31 bits give the fragment's length.
//!
//! [`take_record`] works on the caller's `BytesMut`: it walks the fragment headers at the
//! front of the buffer and, once a whole record is present, splits it off. Every header is
//! checked against the record limit as soon as it is visible, before the fragment's data has
//! arrived, so a peer cannot make anyone buffer what it merely claims. The framer keeps no
//! state of its own, so the buffer alone says where a connection is.

use bytes::{BufMut, Bytes, BytesMut};

/// The "last fragment" bit of a record-marking header.
pub const LAST_FRAGMENT: u32 = 0x8000_0000;
/// Largest fragment length a header can express (31 bits).
pub const MAX_FRAGMENT_LEN: usize = 0x7fff_ffff;
/// Most fragments one record may have. Fragments carry no information of their own, and a
/// flood of empty non-last fragments would otherwise grow the buffer without growing the
/// record (the record limit counts payload bytes only).
pub const MAX_FRAGMENTS: usize = 1024;

/// A record-marking header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMarker {
    /// Whether this is the record's last fragment.
    pub last: bool,
    /// Length of the fragment's data.
    pub len: u32,
}

impl RecordMarker {
    /// Parses a header.
    pub const fn from_bytes(b: [u8; 4]) -> Self {
        let v = u32::from_be_bytes(b);
        RecordMarker {
            last: v & LAST_FRAGMENT != 0,
            len: v & !LAST_FRAGMENT,
        }
    }

    /// The header's wire form.
    pub const fn to_bytes(self) -> [u8; 4] {
        let mut v = self.len & !LAST_FRAGMENT;
        if self.last {
            v |= LAST_FRAGMENT;
        }
        v.to_be_bytes()
    }
}

/// Why a stream of records cannot continue. Each is a reason to close the connection:
/// the stream has lost its framing (RFC 5531 §11 has no way to resynchronise).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The record's fragments announce more payload than the limit.
    #[error("record of at least {claimed} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Payload bytes announced so far, including the fragment that crossed the limit.
        claimed: u64,
        /// The limit.
        max: usize,
    },
    /// The record has more fragments than [`MAX_FRAGMENTS`].
    #[error("record has more than {MAX_FRAGMENTS} fragments")]
    TooManyFragments,
}

/// Removes one complete record from the front of `buf` and returns its payload (fragments
/// joined), or `Ok(None)` if the record is not complete yet (nothing is consumed).
///
/// A single-fragment record is returned without copying (split off `buf`); a multi-fragment
/// record is copied once into a buffer of exactly the record's size, which the limit
/// already bounds.
pub fn take_record(buf: &mut BytesMut, max_record: usize) -> Result<Option<Bytes>, RecordError> {
    let mut pos = 0usize;
    let mut payload = 0u64;
    let mut fragments = 0usize;
    loop {
        let Some(hdr) = buf.get(pos..pos + 4) else {
            return Ok(None);
        };
        let marker = RecordMarker::from_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
        fragments += 1;
        if fragments > MAX_FRAGMENTS {
            return Err(RecordError::TooManyFragments);
        }
        payload += u64::from(marker.len);
        if payload > max_record as u64 {
            return Err(RecordError::TooLarge {
                claimed: payload,
                max: max_record,
            });
        }
        let end = pos + 4 + marker.len as usize;
        if buf.len() < end {
            return Ok(None);
        }
        if !marker.last {
            pos = end;
            continue;
        }
        // Complete record spanning buf[..end].
        let raw = buf.split_to(end);
        if fragments == 1 {
            let mut raw = raw;
            let _ = raw.split_to(4);
            return Ok(Some(raw.freeze()));
        }
        // `payload` <= max_record, checked above.
        let mut joined = BytesMut::with_capacity(payload as usize);
        let mut p = 0usize;
        while p < raw.len() {
            let m = RecordMarker::from_bytes([raw[p], raw[p + 1], raw[p + 2], raw[p + 3]]);
            let start = p + 4;
            let stop = start + m.len as usize;
            joined.extend_from_slice(&raw[start..stop]);
            p = stop;
        }
        return Ok(Some(joined.freeze()));
    }
}

/// Appends `payload` as one record. Payloads longer than a fragment can carry are split
/// into several fragments; only the final one has the last-fragment bit.
pub fn put_record(out: &mut BytesMut, payload: &[u8]) {
    let mut chunks = payload.chunks(MAX_FRAGMENT_LEN).peekable();
    if chunks.peek().is_none() {
        out.put_slice(&RecordMarker { last: true, len: 0 }.to_bytes());
        return;
    }
    while let Some(chunk) = chunks.next() {
        let marker = RecordMarker {
            last: chunks.peek().is_none(),
            // chunk.len() <= MAX_FRAGMENT_LEN < 2^31
            len: chunk.len() as u32,
        };
        out.put_slice(&marker.to_bytes());
        out.put_slice(chunk);
    }
}

/// `payload` as one record in a fresh buffer.
pub fn record_bytes(payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 4);
    put_record(&mut out, payload);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(last: bool, data: &[u8]) -> Vec<u8> {
        let mut v = RecordMarker {
            last,
            len: data.len() as u32,
        }
        .to_bytes()
        .to_vec();
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn single_fragment_record() {
        let mut buf = BytesMut::from(&frag(true, b"hello")[..]);
        assert_eq!(
            take_record(&mut buf, 100).unwrap().as_deref(),
            Some(&b"hello"[..])
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn multi_fragment_record_is_joined() {
        let mut v = frag(false, b"ab");
        v.extend(frag(false, b""));
        v.extend(frag(true, b"cde"));
        v.extend(frag(true, b"next"));
        let mut buf = BytesMut::from(&v[..]);
        assert_eq!(
            take_record(&mut buf, 100).unwrap().as_deref(),
            Some(&b"abcde"[..])
        );
        assert_eq!(
            take_record(&mut buf, 100).unwrap().as_deref(),
            Some(&b"next"[..])
        );
        assert_eq!(take_record(&mut buf, 100).unwrap(), None);
    }

    #[test]
    fn partial_record_consumes_nothing() {
        let v = frag(true, b"hello");
        for cut in 0..v.len() {
            let mut buf = BytesMut::from(&v[..cut]);
            assert_eq!(take_record(&mut buf, 100).unwrap(), None);
            assert_eq!(buf.len(), cut);
        }
    }

    #[test]
    fn oversize_header_is_refused_before_the_data_arrives() {
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
        assert_eq!(
            take_record(&mut buf, 1 << 20),
            Err(RecordError::TooLarge {
                claimed: 0x7fff_ffff,
                max: 1 << 20
            })
        );
        // Limit applies to the sum of fragments.
        let mut v = frag(false, &[0; 60]);
        v.extend_from_slice(
            &RecordMarker {
                last: true,
                len: 50,
            }
            .to_bytes(),
        );
        let mut buf = BytesMut::from(&v[..]);
        assert!(matches!(
            take_record(&mut buf, 100),
            Err(RecordError::TooLarge { claimed: 110, .. })
        ));
    }

    #[test]
    fn empty_fragment_flood_is_refused() {
        let mut v = Vec::new();
        for _ in 0..=MAX_FRAGMENTS {
            v.extend(frag(false, b""));
        }
        let mut buf = BytesMut::from(&v[..]);
        assert_eq!(
            take_record(&mut buf, 100),
            Err(RecordError::TooManyFragments)
        );
    }

    #[test]
    fn put_record_sets_last_bit() {
        assert_eq!(&record_bytes(b"xy")[..], b"\x80\0\0\x02xy");
        assert_eq!(&record_bytes(b"")[..], b"\x80\0\0\0");
    }
}
