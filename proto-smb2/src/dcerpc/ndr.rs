//! The NDR 2.0 transfer syntax (C706 chapter 14) as far as srvsvc needs it, little-endian
//! only (the data representation every client sends): aligned integers, unique/ref pointers
//! with deferred referents, and conformant varying UTF-16 strings.

use crate::error::{DecodeError, DecodeResult};

/// Longest string accepted from a stub, in UTF-16 units (share and server names are short;
/// this keeps a decoder's allocation bounded).
pub const MAX_STRING_UNITS: usize = 4096;

/// Writes NDR: integers aligned to their size, referent ids for unique pointers counting
/// up from 0x0002_0000 as Samba's and Windows' marshallers do.
#[derive(Debug, Default)]
pub struct NdrWriter {
    /// The stub bytes so far.
    pub buf: Vec<u8>,
    next_ref: u32,
}

impl NdrWriter {
    /// An empty writer.
    pub fn new() -> Self {
        NdrWriter {
            buf: Vec::new(),
            next_ref: 0x0002_0000,
        }
    }

    /// Pads with zeros to a multiple of `n`.
    pub fn align(&mut self, n: usize) {
        while self.buf.len() % n != 0 {
            self.buf.push(0);
        }
    }

    /// An aligned u32.
    pub fn u32(&mut self, v: u32) {
        self.align(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A non-null unique pointer's referent id.
    pub fn ptr(&mut self) {
        let r = self.next_ref;
        self.next_ref = self.next_ref.wrapping_add(4);
        self.u32(r);
    }

    /// A null pointer.
    pub fn null(&mut self) {
        self.u32(0);
    }

    /// A conformant varying string of UTF-16 units with its terminating NUL: MaxCount,
    /// Offset 0, ActualCount, the units, padding to 4.
    pub fn string(&mut self, s: &str) {
        let units: Vec<u16> = s.encode_utf16().chain(std::iter::once(0)).collect();
        self.u32(units.len() as u32);
        self.u32(0);
        self.u32(units.len() as u32);
        for u in units {
            self.buf.extend_from_slice(&u.to_le_bytes());
        }
        self.align(4);
    }
}

/// Reads NDR from a stub.
#[derive(Debug)]
pub struct NdrReader<'a> {
    b: &'a [u8],
    pos: usize,
}

const WHAT: &str = "NDR stub";

impl<'a> NdrReader<'a> {
    /// A reader at the start of `b`.
    pub fn new(b: &'a [u8]) -> Self {
        NdrReader { b, pos: 0 }
    }

    /// Bytes consumed.
    pub fn position(&self) -> usize {
        self.pos
    }

    fn align(&mut self, n: usize) -> DecodeResult<()> {
        let to = self.pos.div_ceil(n) * n;
        if to > self.b.len() {
            return Err(DecodeError::Truncated { what: WHAT });
        }
        self.pos = to;
        Ok(())
    }

    /// An aligned u32.
    pub fn u32(&mut self) -> DecodeResult<u32> {
        self.align(4)?;
        let s = self
            .b
            .get(self.pos..self.pos + 4)
            .ok_or(DecodeError::Truncated { what: WHAT })?;
        self.pos += 4;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }

    /// A unique pointer: true when non-null (its referent follows later, deferred).
    pub fn ptr(&mut self) -> DecodeResult<bool> {
        Ok(self.u32()? != 0)
    }

    /// A conformant varying string; the terminating NUL (if any) is dropped. Offset must be
    /// 0 and ActualCount at most MaxCount.
    pub fn string(&mut self) -> DecodeResult<String> {
        let max = self.u32()? as usize;
        let offset = self.u32()?;
        let actual = self.u32()? as usize;
        if offset != 0 || actual > max {
            return Err(DecodeError::Invalid { what: WHAT });
        }
        crate::wire::limit(WHAT, actual, MAX_STRING_UNITS)?;
        let bytes = self
            .b
            .get(self.pos..self.pos + 2 * actual)
            .ok_or(DecodeError::Truncated { what: WHAT })?;
        self.pos += 2 * actual;
        let mut units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        if units.last() == Some(&0) {
            units.pop();
        }
        // Padding after the string is taken by the next aligned read.
        String::from_utf16(&units).map_err(|_| DecodeError::Invalid { what: WHAT })
    }

    /// A unique pointer to a string, read in place (pointer then referent, as for a
    /// top-level [unique, string] parameter).
    pub fn unique_string(&mut self) -> DecodeResult<Option<String>> {
        if self.ptr()? {
            self.string().map(Some)
        } else {
            Ok(None)
        }
    }
}
