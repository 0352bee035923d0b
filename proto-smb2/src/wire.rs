//! Small helpers shared by the codecs: nom error mapping, offset/length buffers, padding,
//! UTF-16LE strings.

use crate::error::{DecodeError, DecodeResult};
use bytes::BufMut;
use nom::IResult;

/// Runs a nom parser over `input`; running out of bytes becomes [`DecodeError::Truncated`].
pub(crate) fn run<'a, O>(
    what: &'static str,
    input: &'a [u8],
    mut parser: impl FnMut(&'a [u8]) -> IResult<&'a [u8], O>,
) -> DecodeResult<(&'a [u8], O)> {
    parser(input).map_err(|_| DecodeError::Truncated { what })
}

/// Checks a StructureSize field.
pub(crate) fn expect_size(what: &'static str, got: u16, expected: u16) -> DecodeResult<()> {
    if got == expected {
        Ok(())
    } else {
        Err(DecodeError::BadStructureSize {
            what,
            got,
            expected,
        })
    }
}

/// The bytes an offset/length pair names in `msg` (offsets count from the start of the SMB2
/// header, MS-SMB2 §2.2). A zero length names nothing, whatever the offset (clients send
/// offset 0 then). A non-empty buffer must start at or after `min_offset`, the end of the
/// fixed part, and end inside the message.
pub(crate) fn buffer<'a>(
    what: &'static str,
    msg: &'a [u8],
    offset: usize,
    len: usize,
    min_offset: usize,
) -> DecodeResult<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if offset < min_offset {
        return Err(DecodeError::OutOfBounds { what });
    }
    let end = offset
        .checked_add(len)
        .ok_or(DecodeError::OutOfBounds { what })?;
    msg.get(offset..end)
        .ok_or(DecodeError::OutOfBounds { what })
}

/// Refuses a count over `max` before anything is allocated for it.
pub(crate) fn limit(what: &'static str, count: usize, max: usize) -> DecodeResult<()> {
    if count > max {
        Err(DecodeError::TooMany { what, count, max })
    } else {
        Ok(())
    }
}

/// `n` rounded up to a multiple of 8.
pub const fn align8(n: usize) -> usize {
    (n + 7) & !7
}

/// Writes zero bytes until `written` (bytes of the message so far) is a multiple of 8, and
/// returns the new count.
pub(crate) fn pad8(out: &mut impl BufMut, written: usize) -> usize {
    let to = align8(written);
    out.put_bytes(0, to - written);
    to
}

/// UTF-16LE bytes as code units; an odd length is invalid.
pub(crate) fn utf16_units(what: &'static str, b: &[u8]) -> DecodeResult<Vec<u16>> {
    if b.len() % 2 != 0 {
        return Err(DecodeError::Invalid { what });
    }
    Ok(b.chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect())
}

/// Code units as UTF-16LE bytes.
pub(crate) fn put_utf16_units(out: &mut impl BufMut, units: &[u16]) {
    for u in units {
        out.put_u16_le(*u);
    }
}

/// A string as UTF-16LE bytes.
pub fn utf16le(s: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len() * 2);
    for u in s.encode_utf16() {
        v.extend_from_slice(&u.to_le_bytes());
    }
    v
}

/// Reads a `u16`/`u32`/`u64` little-endian at `at` from a slice known to be long enough.
pub(crate) fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

/// See [`le16`].
pub(crate) fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// See [`le16`].
pub(crate) fn le64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}
