//! One outgoing message held as a few byte segments that are sent back to back (a gather
//! list for `writev`), so that bulk data is never copied into the header's buffer.
//!
//! A successful READ reply carries up to rtmax (1 MiB) of file data as the last field of
//! READ3resok (RFC 1813 §3.3.6), an XDR variable-length opaque (RFC 4506 §4.10: a length
//! word, the bytes, zero padding to a multiple of four). Encoding it into one buffer with the
//! record marker and the RPC reply header would copy the data once more after the file
//! system read it. Instead the reply is three segments: the encoded head (ending with the
//! opaque's length word), the data buffer as the file system filled it, and the padding.
//! Every other message is one segment.
//!
//! Equality compares the bytes, not how they are split.

use bytes::{Bytes, BytesMut};

/// Most segments one message has: head, bulk data, XDR padding.
pub const MAX_SEGMENTS: usize = 3;

/// Zero bytes the XDR padding segments are sliced from (no allocation per message).
static PAD: [u8; 3] = [0; 3];

/// A message as up to [`MAX_SEGMENTS`] byte segments, sent in order. See the module
/// documentation.
#[derive(Debug, Clone, Default)]
pub struct Segments {
    /// Unused trailing entries are empty (`Bytes::new()` does not allocate).
    parts: [Bytes; MAX_SEGMENTS],
}

impl Segments {
    /// A message in one contiguous buffer.
    pub fn single(bytes: Bytes) -> Self {
        Segments {
            parts: [bytes, Bytes::new(), Bytes::new()],
        }
    }

    /// `head`, then `data`, then the zero padding that rounds `data` up to a multiple of
    /// four bytes: the tail of an XDR variable-length opaque whose length word ends `head`
    /// (RFC 4506 §4.10).
    pub fn with_opaque_tail(head: Bytes, data: Bytes) -> Self {
        let pad = crate::xdr::pad_len(data.len());
        Segments {
            parts: [head, data, Bytes::from_static(&PAD[..pad])],
        }
    }

    /// Total length in bytes.
    pub fn len(&self) -> usize {
        self.parts.iter().map(Bytes::len).sum()
    }

    /// Whether there are no bytes at all.
    pub fn is_empty(&self) -> bool {
        self.parts.iter().all(Bytes::is_empty)
    }

    /// The non-empty segments, in sending order.
    pub fn iter(&self) -> impl Iterator<Item = &Bytes> {
        self.parts.iter().filter(|b| !b.is_empty())
    }

    /// The non-empty segments by value, in sending order.
    pub fn into_parts(self) -> impl Iterator<Item = Bytes> {
        self.parts.into_iter().filter(|b| !b.is_empty())
    }

    /// The message in one contiguous buffer: shared without copying when it is a single
    /// segment, copied otherwise (for a datagram, a cache entry or a test).
    pub fn to_bytes(&self) -> Bytes {
        let mut parts = self.iter();
        match (parts.next(), parts.next()) {
            (None, _) => Bytes::new(),
            (Some(only), None) => only.clone(),
            (Some(_), Some(_)) => {
                let mut out = BytesMut::with_capacity(self.len());
                for part in self.iter() {
                    out.extend_from_slice(part);
                }
                out.freeze()
            }
        }
    }

    /// Whether the message holds exactly `bytes`.
    pub fn eq_bytes(&self, mut bytes: &[u8]) -> bool {
        if self.len() != bytes.len() {
            return false;
        }
        for part in self.iter() {
            let (now, rest) = bytes.split_at(part.len());
            if now != &part[..] {
                return false;
            }
            bytes = rest;
        }
        true
    }
}

impl From<Bytes> for Segments {
    fn from(bytes: Bytes) -> Self {
        Segments::single(bytes)
    }
}

impl PartialEq for Segments {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.eq_bytes(&other.to_bytes())
    }
}

impl Eq for Segments {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opaque_tail_is_padded_to_four() {
        for len in 0..9usize {
            let data = Bytes::from(vec![0xab; len]);
            let s = Segments::with_opaque_tail(Bytes::from_static(b"head"), data.clone());
            assert_eq!(s.len(), 4 + len.next_multiple_of(4), "len {len}");
            let mut want = b"head".to_vec();
            want.extend_from_slice(&data);
            want.resize(4 + len.next_multiple_of(4), 0);
            assert_eq!(&s.to_bytes()[..], &want[..], "len {len}");
            assert!(s.eq_bytes(&want));
            // The data segment is the caller's buffer, not a copy.
            if len > 0 {
                let parts: Vec<&Bytes> = s.iter().collect();
                assert_eq!(parts[1].as_ptr(), data.as_ptr());
            }
        }
    }

    #[test]
    fn single_segment_is_shared_not_copied() {
        let b = Bytes::from(vec![1, 2, 3]);
        let s = Segments::from(b.clone());
        assert_eq!(s.to_bytes().as_ptr(), b.as_ptr());
        assert_eq!(s.iter().count(), 1);
        assert!(Segments::default().is_empty());
        assert_eq!(Segments::default().iter().count(), 0);
        assert_eq!(Segments::default().to_bytes(), Bytes::new());
    }

    #[test]
    fn equality_is_by_content() {
        let split =
            Segments::with_opaque_tail(Bytes::from_static(b"ab"), Bytes::from_static(b"cd"));
        assert_eq!(split, Segments::single(Bytes::from_static(b"abcd\0\0")));
        assert_ne!(split, Segments::single(Bytes::from_static(b"abce\0\0")));
        assert_ne!(split, Segments::single(Bytes::from_static(b"abcd\0")));
        assert_ne!(split, Segments::single(Bytes::from_static(b"abcd\0\0\0")));
        assert!(!split.eq_bytes(b"abcd"));
    }
}
