//! The few DER (ITU-T X.690) pieces SPNEGO needs: single-byte tags, definite lengths.

use crate::error::{DecodeError, DecodeResult};

/// Most length bytes of a long-form length accepted (lengths up to 4 GiB − 1; the token
/// itself is bounded by the SMB2 message that carries it).
const MAX_LENGTH_BYTES: usize = 4;

/// One TLV: its tag, its contents, and what follows it.
pub(crate) struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
    pub rest: &'a [u8],
}

/// Reads one TLV. Only definite lengths (DER) are accepted; the contents must lie inside
/// `input`, so nothing is allocated from a claimed length.
pub(crate) fn read<'a>(what: &'static str, input: &'a [u8]) -> DecodeResult<Tlv<'a>> {
    let (&tag, rest) = input.split_first().ok_or(DecodeError::Truncated { what })?;
    if tag & 0x1f == 0x1f {
        // Multi-byte tags do not occur in SPNEGO.
        return Err(DecodeError::Invalid { what });
    }
    let (&first, mut rest) = rest.split_first().ok_or(DecodeError::Truncated { what })?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > MAX_LENGTH_BYTES {
            return Err(DecodeError::Invalid { what });
        }
        if rest.len() < n {
            return Err(DecodeError::Truncated { what });
        }
        let mut len = 0usize;
        for b in &rest[..n] {
            len = (len << 8) | usize::from(*b);
        }
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return Err(DecodeError::Truncated { what });
    }
    Ok(Tlv {
        tag,
        value: &rest[..len],
        rest: &rest[len..],
    })
}

/// Reads one TLV that must have `tag`.
pub(crate) fn expect<'a>(what: &'static str, tag: u8, input: &'a [u8]) -> DecodeResult<Tlv<'a>> {
    let t = read(what, input)?;
    if t.tag != tag {
        return Err(DecodeError::Invalid { what });
    }
    Ok(t)
}

/// Appends a TLV with the minimal (DER) length encoding.
pub(crate) fn put(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    out.push(tag);
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
}

/// A TLV as a fresh vector.
pub(crate) fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(value.len() + 6);
    put(&mut v, tag, value);
    v
}
