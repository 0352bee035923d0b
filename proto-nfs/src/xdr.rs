//! XDR primitives (RFC 4506): nom decoders over `&[u8]` and `BytesMut` encoders.
//!
//! Every decoder that reads a length from the wire checks it against a caller-given maximum
//! *before* it looks at (or allocates for) the data, so a peer can never make us allocate
//! what it merely claims. Encoders cannot fail; they pad opaque data to four bytes (RFC 4506
//! §4.10) with zero bytes.
//!
//! Message types implement [`XdrDecode`] and [`XdrEncode`]; the round-trip property
//! `decode(encode(x)) == x` holds for every type in this crate and is tested with
//! `arbitrary`-generated values.

use bytes::{BufMut, Bytes, BytesMut};
use nom::{
    bytes::complete::take,
    error::{ErrorKind, ParseError},
    number::complete::{be_i32, be_i64, be_u32, be_u64},
    IResult,
};

/// The nom result type used by every XDR decoder.
pub type XResult<'a, T> = IResult<&'a [u8], T, XdrError<'a>>;

/// Why a decoder refused its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XdrError<'a> {
    /// The input at the point of failure.
    pub input: &'a [u8],
    /// What went wrong.
    pub kind: XdrErrorKind,
}

/// The kind of XDR decoding failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdrErrorKind {
    /// The input ended before the item did.
    Truncated,
    /// A length on the wire is larger than the limit for that field.
    TooLong {
        /// The length the peer sent.
        claimed: u64,
        /// The largest length allowed here.
        max: u64,
    },
    /// A discriminant (enum, bool, union arm) has a value the protocol does not define.
    BadDiscriminant(u32),
    /// Padding bytes after opaque data were not zero (RFC 4506 §4.10: "MUST be zero").
    NonZeroPadding,
    /// A value is syntactically valid XDR but outside what the protocol allows.
    Invalid(&'static str),
    /// Some other nom combinator failed.
    Nom(ErrorKind),
}

impl<'a> ParseError<&'a [u8]> for XdrError<'a> {
    fn from_error_kind(input: &'a [u8], kind: ErrorKind) -> Self {
        let kind = match kind {
            ErrorKind::Eof | ErrorKind::Complete => XdrErrorKind::Truncated,
            other => XdrErrorKind::Nom(other),
        };
        XdrError { input, kind }
    }

    fn append(_input: &'a [u8], _kind: ErrorKind, other: Self) -> Self {
        other
    }
}

impl<'a> XdrError<'a> {
    /// Builds a nom failure carrying `kind`.
    pub fn fail<T>(input: &'a [u8], kind: XdrErrorKind) -> XResult<'a, T> {
        Err(nom::Err::Error(XdrError { input, kind }))
    }
}

/// Converts any nom error on a complete buffer into an [`XdrErrorKind`].
pub fn error_kind(err: nom::Err<XdrError<'_>>) -> XdrErrorKind {
    match err {
        nom::Err::Incomplete(_) => XdrErrorKind::Truncated,
        nom::Err::Error(e) | nom::Err::Failure(e) => e.kind,
    }
}

/// A value that can be read from XDR.
pub trait XdrDecode: Sized {
    /// Decodes one value from the front of `input`, returning the rest.
    fn decode(input: &[u8]) -> XResult<'_, Self>;

    /// Decodes a value that must use all of `input` (RFC 5531 call arguments, replies):
    /// trailing bytes are an error, like rustls' "expect empty".
    fn decode_exact(input: &[u8]) -> Result<Self, XdrErrorKind> {
        match Self::decode(input) {
            Ok(([], v)) => Ok(v),
            Ok(_) => Err(XdrErrorKind::Invalid("trailing bytes")),
            Err(e) => Err(error_kind(e)),
        }
    }
}

/// A value that can be written as XDR. Encoding cannot fail.
pub trait XdrEncode {
    /// Appends the XDR form of `self` to `out`.
    fn encode(&self, out: &mut BytesMut);

    /// Encodes into a fresh buffer.
    fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::new();
        self.encode(&mut out);
        out.freeze()
    }
}

/// Number of zero bytes that follow `len` bytes of opaque data.
#[inline]
pub const fn pad_len(len: usize) -> usize {
    (4 - (len & 3)) & 3
}

/// Decodes an unsigned 32-bit integer.
#[inline]
pub fn u32(input: &[u8]) -> XResult<'_, u32> {
    be_u32(input)
}

/// Decodes a signed 32-bit integer.
#[inline]
pub fn i32(input: &[u8]) -> XResult<'_, i32> {
    be_i32(input)
}

/// Decodes an unsigned hyper (64-bit) integer.
#[inline]
pub fn u64(input: &[u8]) -> XResult<'_, u64> {
    be_u64(input)
}

/// Decodes a signed hyper (64-bit) integer.
#[inline]
pub fn i64(input: &[u8]) -> XResult<'_, i64> {
    be_i64(input)
}

/// Decodes a boolean; values other than 0 and 1 are refused (RFC 4506 §4.4).
pub fn bool(input: &[u8]) -> XResult<'_, bool> {
    let (rest, v) = be_u32(input)?;
    match v {
        0 => Ok((rest, false)),
        1 => Ok((rest, true)),
        other => XdrError::fail(input, XdrErrorKind::BadDiscriminant(other)),
    }
}

/// Skips `len` padding bytes after opaque data, requiring them to be zero.
fn padding(input: &[u8], data_len: usize) -> XResult<'_, ()> {
    let (rest, pad) = take(pad_len(data_len))(input)?;
    if pad.iter().any(|&b| b != 0) {
        return XdrError::fail(input, XdrErrorKind::NonZeroPadding);
    }
    Ok((rest, ()))
}

/// Decodes fixed-length opaque data of `len` bytes (plus padding), borrowed from the input.
pub fn opaque_fixed(input: &[u8], len: usize) -> XResult<'_, &[u8]> {
    let (rest, data) = take(len)(input)?;
    let (rest, ()) = padding(rest, len)?;
    Ok((rest, data))
}

/// Decodes fixed-length opaque data into an array.
pub fn opaque_array<const N: usize>(input: &[u8]) -> XResult<'_, [u8; N]> {
    let (rest, data) = opaque_fixed(input, N)?;
    let mut out = [0u8; N];
    out.copy_from_slice(data);
    Ok((rest, out))
}

/// Decodes variable-length opaque data of at most `max` bytes, borrowed from the input.
///
/// The length is checked against `max` and against what is actually present before the
/// data is touched.
pub fn opaque_var(input: &[u8], max: u32) -> XResult<'_, &[u8]> {
    let (rest, len) = be_u32(input)?;
    if len > max {
        return XdrError::fail(
            input,
            XdrErrorKind::TooLong {
                claimed: u64::from(len),
                max: u64::from(max),
            },
        );
    }
    let len = len as usize;
    if rest.len() < len {
        return XdrError::fail(input, XdrErrorKind::Truncated);
    }
    let (rest, data) = take(len)(rest)?;
    let (rest, ()) = padding(rest, len)?;
    Ok((rest, data))
}

/// Decodes variable-length opaque data of at most `max` bytes into an owned [`Bytes`].
pub fn opaque_bytes(input: &[u8], max: u32) -> XResult<'_, Bytes> {
    let (rest, data) = opaque_var(input, max)?;
    Ok((rest, Bytes::copy_from_slice(data)))
}

/// Decodes an XDR string of at most `max` bytes. XDR strings are byte strings: file names
/// on the wire need not be UTF-8, so they stay bytes.
pub fn string(input: &[u8], max: u32) -> XResult<'_, Bytes> {
    opaque_bytes(input, max)
}

/// Decodes an optional value (`*T` in XDR: a bool then, if true, the value).
pub fn optional<'a, T>(
    input: &'a [u8],
    mut item: impl FnMut(&'a [u8]) -> XResult<'a, T>,
) -> XResult<'a, Option<T>> {
    let (rest, present) = bool(input)?;
    if present {
        let (rest, v) = item(rest)?;
        Ok((rest, Some(v)))
    } else {
        Ok((rest, None))
    }
}

/// Decodes a counted array (`T<max>`) of at most `max` items.
///
/// The count is checked against `max`, and against the bytes present assuming each item is
/// at least `min_item_len` bytes, before any allocation.
pub fn array<'a, T>(
    input: &'a [u8],
    max: u32,
    min_item_len: usize,
    mut item: impl FnMut(&'a [u8]) -> XResult<'a, T>,
) -> XResult<'a, Vec<T>> {
    let (mut rest, count) = be_u32(input)?;
    if count > max {
        return XdrError::fail(
            input,
            XdrErrorKind::TooLong {
                claimed: u64::from(count),
                max: u64::from(max),
            },
        );
    }
    if (count as usize).saturating_mul(min_item_len.max(1)) > rest.len() {
        return XdrError::fail(input, XdrErrorKind::Truncated);
    }
    let mut out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let (r, v) = item(rest)?;
        out.push(v);
        rest = r;
    }
    Ok((rest, out))
}

/// Decodes an XDR linked list (`*entry` chains as in READDIR and PMAP DUMP) of at most `max`
/// items: each item is preceded by a `bool` "value follows".
pub fn list<'a, T>(
    input: &'a [u8],
    max: usize,
    mut item: impl FnMut(&'a [u8]) -> XResult<'a, T>,
) -> XResult<'a, Vec<T>> {
    let mut out = Vec::new();
    let mut rest = input;
    loop {
        let (r, more) = bool(rest)?;
        rest = r;
        if !more {
            return Ok((rest, out));
        }
        if out.len() >= max {
            return XdrError::fail(
                rest,
                XdrErrorKind::TooLong {
                    claimed: out.len() as u64 + 1,
                    max: max as u64,
                },
            );
        }
        let (r, v) = item(rest)?;
        out.push(v);
        rest = r;
    }
}

/// Appends an unsigned 32-bit integer.
#[inline]
pub fn put_u32(out: &mut BytesMut, v: u32) {
    out.put_u32(v);
}

/// Appends a signed 32-bit integer.
#[inline]
pub fn put_i32(out: &mut BytesMut, v: i32) {
    out.put_i32(v);
}

/// Appends an unsigned hyper.
#[inline]
pub fn put_u64(out: &mut BytesMut, v: u64) {
    out.put_u64(v);
}

/// Appends a signed hyper.
#[inline]
pub fn put_i64(out: &mut BytesMut, v: i64) {
    out.put_i64(v);
}

/// Appends a boolean.
#[inline]
pub fn put_bool(out: &mut BytesMut, v: bool) {
    out.put_u32(u32::from(v));
}

/// Appends fixed-length opaque data with its padding.
pub fn put_opaque_fixed(out: &mut BytesMut, data: &[u8]) {
    out.put_slice(data);
    out.put_bytes(0, pad_len(data.len()));
}

/// Appends variable-length opaque data (length, data, padding).
///
/// # Panics
/// Never for data a decoder produced; a caller that builds data longer than `u32::MAX`
/// bytes has a bug, so the length is truncated by design of the type system here instead
/// of failing: callers keep their data within the protocol's limits.
pub fn put_opaque_var(out: &mut BytesMut, data: &[u8]) {
    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    out.put_u32(len);
    put_opaque_fixed(out, &data[..len as usize]);
}

/// Appends an XDR string.
pub fn put_string(out: &mut BytesMut, s: &[u8]) {
    put_opaque_var(out, s);
}

/// Appends an optional value.
pub fn put_optional<T>(out: &mut BytesMut, v: Option<&T>, f: impl FnOnce(&mut BytesMut, &T)) {
    match v {
        Some(v) => {
            put_bool(out, true);
            f(out, v);
        }
        None => put_bool(out, false),
    }
}

/// Appends a counted array.
pub fn put_array<T>(out: &mut BytesMut, items: &[T], mut f: impl FnMut(&mut BytesMut, &T)) {
    let len = u32::try_from(items.len()).unwrap_or(u32::MAX);
    out.put_u32(len);
    for item in items.iter().take(len as usize) {
        f(out, item);
    }
}

/// Appends an XDR linked list (each item preceded by `TRUE`, closed by `FALSE`).
pub fn put_list<T>(out: &mut BytesMut, items: &[T], mut f: impl FnMut(&mut BytesMut, &T)) {
    for item in items {
        put_bool(out, true);
        f(out, item);
    }
    put_bool(out, false);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opaque_var_round_trip_and_padding() {
        let mut out = BytesMut::new();
        put_opaque_var(&mut out, b"abcde");
        assert_eq!(&out[..], b"\0\0\0\x05abcde\0\0\0");
        let (rest, v) = opaque_var(&out, 8).expect("decodes");
        assert!(rest.is_empty());
        assert_eq!(v, b"abcde");
    }

    #[test]
    fn opaque_var_refuses_claimed_length_over_max_before_reading() {
        let buf = [0xff, 0xff, 0xff, 0xff];
        let err = opaque_var(&buf, 1024).expect_err("too long");
        assert!(matches!(
            error_kind(err),
            XdrErrorKind::TooLong {
                claimed: 0xffff_ffff,
                max: 1024
            }
        ));
    }

    #[test]
    fn opaque_var_refuses_nonzero_padding() {
        let buf = b"\0\0\0\x01a\0\x01\0";
        let err = opaque_var(buf, 8).expect_err("bad pad");
        assert_eq!(error_kind(err), XdrErrorKind::NonZeroPadding);
    }

    #[test]
    fn array_count_checked_against_available_bytes() {
        // Claims 1000 items of >= 4 bytes with only 4 bytes present.
        let buf = [0, 0, 0x03, 0xe8, 0, 0, 0, 1];
        let err = array(&buf, 10_000, 4, u32).expect_err("truncated");
        assert_eq!(error_kind(err), XdrErrorKind::Truncated);
    }

    #[test]
    fn bool_refuses_other_values() {
        let err = bool(&[0, 0, 0, 2]).expect_err("bad bool");
        assert_eq!(error_kind(err), XdrErrorKind::BadDiscriminant(2));
    }

    #[test]
    fn list_round_trip() {
        let mut out = BytesMut::new();
        put_list(&mut out, &[1u32, 2, 3], |o, v| put_u32(o, *v));
        let (rest, v) = list(&out, 10, u32).expect("decodes");
        assert!(rest.is_empty());
        assert_eq!(v, vec![1, 2, 3]);
    }
}
