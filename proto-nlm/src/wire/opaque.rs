//! Length-bounded XDR opaque data and strings (RFC 4506 §4.10–§4.11) as used by NLM and NSM.
//!
//! NLM's `netobj` (XNFS chapter 10, `MAXNETOBJ_SZ` = 1024), `caller_name<LM_MAXSTRLEN>`
//! (1024), the FREE_ALL `name<LM_MAXNAMELEN>` (1025) and NSM's `string<SM_MAXSTRLEN>` (1024,
//! XNFS chapter 11) are all variable-length byte strings with a protocol maximum. One type,
//! [`XdrOpaque`], carries the maximum as a const parameter so the decoder refuses an
//! over-long length before it reads (or allocates for) the data, and `arbitrary` never
//! produces a value the decoder would refuse.

use std::fmt;

use arbitrary::{Arbitrary, Unstructured};
use bytes::{Bytes, BytesMut};
use proto_nfs::xdr::{self, XResult, XdrDecode, XdrEncode};

/// Variable-length opaque data or string of at most `MAX` bytes.
///
/// XDR strings are byte strings: host names and owner handles need not be UTF-8, so they
/// stay bytes. `Debug` prints printable ASCII as text and anything else as hex.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct XdrOpaque<const MAX: u32>(Bytes);

/// XNFS `netobj`: cookies, file handles and owner handles (`MAXNETOBJ_SZ` = 1024).
pub type Netobj = XdrOpaque<MAXNETOBJ_SZ>;
/// An NLM `caller_name` (`string<LM_MAXSTRLEN>`, 1024).
pub type LmString = XdrOpaque<LM_MAXSTRLEN>;
/// The host name in `nlm4_notify` (`string<LM_MAXNAMELEN>`, 1025).
pub type LmName = XdrOpaque<LM_MAXNAMELEN>;
/// An NSM host name (`string<SM_MAXSTRLEN>`, 1024).
pub type SmString = XdrOpaque<SM_MAXSTRLEN>;

/// XNFS `MAXNETOBJ_SZ`.
pub const MAXNETOBJ_SZ: u32 = 1024;
/// XNFS `LM_MAXSTRLEN`.
pub const LM_MAXSTRLEN: u32 = 1024;
/// XNFS `LM_MAXNAMELEN` (`LM_MAXSTRLEN + 1`).
pub const LM_MAXNAMELEN: u32 = 1025;
/// XNFS chapter 11 `SM_MAXSTRLEN`.
pub const SM_MAXSTRLEN: u32 = 1024;

/// A value longer than the field's protocol maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{len} bytes exceed the field maximum of {max}")]
pub struct TooLong {
    /// Length offered.
    pub len: usize,
    /// Largest length allowed.
    pub max: u32,
}

impl<const MAX: u32> XdrOpaque<MAX> {
    /// Wraps `data`, refusing data longer than `MAX`.
    pub fn new(data: impl Into<Bytes>) -> Result<Self, TooLong> {
        let data = data.into();
        if data.len() > MAX as usize {
            return Err(TooLong {
                len: data.len(),
                max: MAX,
            });
        }
        Ok(XdrOpaque(data))
    }

    /// Wraps a static byte string; for constants and tests.
    ///
    /// # Panics
    /// If `data` is longer than `MAX` (a programming error, never peer data).
    pub fn from_static(data: &'static [u8]) -> Self {
        assert!(data.len() <= MAX as usize, "static opaque over its maximum");
        XdrOpaque(Bytes::from_static(data))
    }

    /// The empty value.
    pub fn empty() -> Self {
        XdrOpaque(Bytes::new())
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes as a cheaply clonable [`Bytes`].
    pub fn bytes(&self) -> &Bytes {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Converts to another maximum, refusing data longer than `M2`.
    pub fn convert<const M2: u32>(&self) -> Result<XdrOpaque<M2>, TooLong> {
        XdrOpaque::<M2>::new(self.0.clone())
    }

    /// The bytes as text, replacing invalid UTF-8 (for logs and holder descriptions).
    pub fn to_string_lossy(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }
}

impl<const MAX: u32> XdrDecode for XdrOpaque<MAX> {
    /// Decodes the value, refusing a length over `MAX` before reading the data.
    fn decode(input: &[u8]) -> XResult<'_, Self> {
        let (rest, data) = xdr::opaque_bytes(input, MAX)?;
        Ok((rest, XdrOpaque(data)))
    }
}

impl<const MAX: u32> XdrEncode for XdrOpaque<MAX> {
    /// Appends length, data and padding.
    fn encode(&self, out: &mut BytesMut) {
        xdr::put_opaque_var(out, &self.0);
    }
}

impl<const MAX: u32> fmt::Debug for XdrOpaque<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.iter().all(|b| (0x20..0x7f).contains(b)) {
            write!(f, "{:?}", String::from_utf8_lossy(&self.0))
        } else {
            f.write_str("0x")?;
            for b in self.0.iter() {
                write!(f, "{b:02x}")?;
            }
            Ok(())
        }
    }
}

impl<'a, const MAX: u32> Arbitrary<'a> for XdrOpaque<MAX> {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let len = u.int_in_range(0..=MAX as usize)?;
        let len = len.min(u.len());
        let data = u.bytes(len)?;
        Ok(XdrOpaque(Bytes::copy_from_slice(data)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto_nfs::xdr::{error_kind, XdrErrorKind};

    #[test]
    fn refuses_over_long_length_before_reading() {
        // Claims 1025 bytes for a netobj (max 1024) with nothing behind it.
        let buf = [0, 0, 0x04, 0x01];
        let err = Netobj::decode(&buf).expect_err("over max");
        assert_eq!(
            error_kind(err),
            XdrErrorKind::TooLong {
                claimed: 1025,
                max: 1024
            }
        );
        // The FREE_ALL name allows exactly one byte more.
        let mut buf = vec![0, 0, 0x04, 0x01];
        buf.extend(std::iter::repeat_n(b'a', 1025));
        buf.extend([0, 0, 0]);
        let (rest, name) = LmName::decode(&buf).expect("1025 fits LM_MAXNAMELEN");
        assert!(rest.is_empty());
        assert_eq!(name.len(), 1025);
    }

    #[test]
    fn new_refuses_over_long_data() {
        assert_eq!(
            Netobj::new(vec![0u8; 1025]),
            Err(TooLong {
                len: 1025,
                max: 1024
            })
        );
        assert!(Netobj::new(vec![0u8; 1024]).is_ok());
    }

    #[test]
    fn debug_prints_text_or_hex() {
        assert_eq!(format!("{:?}", LmString::from_static(b"host")), "\"host\"");
        assert_eq!(format!("{:?}", Netobj::from_static(&[0, 0xff])), "0x00ff");
    }
}
