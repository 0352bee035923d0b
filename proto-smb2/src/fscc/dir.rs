//! Directory enumeration classes for QUERY_DIRECTORY ([MS-FSCC] §2.4.10, §2.4.17, §2.4.8,
//! §2.4.21, §2.4.24, §2.4.33) and [`DirPacker`], which packs entries into an output buffer as
//! MS-SMB2 §3.3.5.18 and MS-FSA §2.1.5.6.3 require: each entry 8-byte aligned, each
//! NextEntryOffset pointing at the next, the last one's zero, no padding after it.
//!
//! 8.3 short names are not generated (as Samba with `mangled names = no`): the Both classes
//! carry an empty ShortName unless the caller fills one in.

use super::{name_units, parse, put_units, units_len, FileTime, MAX_ENTRIES};
use crate::error::{DecodeError, DecodeResult};
use crate::status::NtStatus;
use crate::wire::align8;
use bytes::BufMut;
use nom::bytes::complete::take;
use nom::number::complete::{le_u16, le_u32, le_u64, le_u8};
use nom::sequence::tuple;

/// Most UTF-16 units of a ShortName (24 bytes, [MS-FSCC] §2.4.8).
pub const SHORT_NAME_UNITS: usize = 12;

/// One directory entry, the union of what the six classes carry. A class writes the fields
/// it has and ignores the others ([`DirClass::normalize`] zeroes those).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DirEntry {
    /// FileIndex (0: positions are not stable on a POSIX directory, [MS-FSCC] says so).
    pub file_index: u32,
    /// CreationTime.
    pub creation_time: FileTime,
    /// LastAccessTime.
    pub last_access_time: FileTime,
    /// LastWriteTime.
    pub last_write_time: FileTime,
    /// ChangeTime.
    pub change_time: FileTime,
    /// EndOfFile.
    pub end_of_file: u64,
    /// AllocationSize.
    pub allocation_size: u64,
    /// FileAttributes.
    pub file_attributes: u32,
    /// EaSize (the reparse tag when FILE_ATTRIBUTE_REPARSE_POINT is set).
    pub ea_size: u32,
    /// ShortName (at most [`SHORT_NAME_UNITS`] units; empty: none generated).
    pub short_name: Vec<u16>,
    /// FileId (the Id classes).
    pub file_id: u64,
    /// FileName, UTF-16 code units.
    pub file_name: Vec<u16>,
}

/// The six directory information classes QUERY_DIRECTORY serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DirClass {
    /// FileDirectoryInformation (§2.4.10).
    Directory,
    /// FileFullDirectoryInformation (§2.4.17).
    FullDirectory,
    /// FileBothDirectoryInformation (§2.4.8).
    BothDirectory,
    /// FileIdBothDirectoryInformation (§2.4.21).
    IdBothDirectory,
    /// FileIdFullDirectoryInformation (§2.4.24).
    IdFullDirectory,
    /// FileNamesInformation (§2.4.33).
    Names,
}

impl DirClass {
    /// Every class.
    pub const ALL: [DirClass; 6] = [
        DirClass::Directory,
        DirClass::FullDirectory,
        DirClass::BothDirectory,
        DirClass::IdBothDirectory,
        DirClass::IdFullDirectory,
        DirClass::Names,
    ];

    /// The class of a FileInformationClass number; `None` for another class, which
    /// QUERY_DIRECTORY answers with STATUS_INVALID_INFO_CLASS (MS-SMB2 §3.3.5.18).
    pub fn from_class(class: u8) -> Option<DirClass> {
        use super::file_class as c;
        Some(match class {
            c::DIRECTORY => DirClass::Directory,
            c::FULL_DIRECTORY => DirClass::FullDirectory,
            c::BOTH_DIRECTORY => DirClass::BothDirectory,
            c::ID_BOTH_DIRECTORY => DirClass::IdBothDirectory,
            c::ID_FULL_DIRECTORY => DirClass::IdFullDirectory,
            c::NAMES => DirClass::Names,
            _ => return None,
        })
    }

    /// The FileInformationClass number.
    pub fn class(self) -> u8 {
        use super::file_class as c;
        match self {
            DirClass::Directory => c::DIRECTORY,
            DirClass::FullDirectory => c::FULL_DIRECTORY,
            DirClass::BothDirectory => c::BOTH_DIRECTORY,
            DirClass::IdBothDirectory => c::ID_BOTH_DIRECTORY,
            DirClass::IdFullDirectory => c::ID_FULL_DIRECTORY,
            DirClass::Names => c::NAMES,
        }
    }

    /// FieldOffset(FileName): the bytes before the name. An OutputBufferLength below it is
    /// STATUS_INFO_LENGTH_MISMATCH (MS-FSA 2.1.5.6.3.x).
    pub const fn fixed_len(self) -> usize {
        match self {
            DirClass::Directory => 64,
            DirClass::FullDirectory => 68,
            DirClass::BothDirectory => 94,
            DirClass::IdBothDirectory => 104,
            DirClass::IdFullDirectory => 80,
            DirClass::Names => 12,
        }
    }

    /// The bytes `e` takes in this class, without alignment padding.
    pub fn entry_len(self, e: &DirEntry) -> usize {
        self.fixed_len() + e.file_name.len() * 2
    }

    /// `e` with the fields this class does not carry zeroed (what a decode gives back).
    pub fn normalize(self, e: &DirEntry) -> DirEntry {
        let mut n = e.clone();
        n.short_name.truncate(SHORT_NAME_UNITS);
        if self == DirClass::Names {
            return DirEntry {
                file_index: e.file_index,
                file_name: e.file_name.clone(),
                ..Default::default()
            };
        }
        if self == DirClass::Directory {
            n.ea_size = 0;
        }
        if !matches!(self, DirClass::BothDirectory | DirClass::IdBothDirectory) {
            n.short_name.clear();
        }
        if !matches!(self, DirClass::IdBothDirectory | DirClass::IdFullDirectory) {
            n.file_id = 0;
        }
        n
    }

    /// Writes one entry with NextEntryOffset `next`.
    pub fn encode_entry(self, e: &DirEntry, next: u32, out: &mut impl BufMut) {
        out.put_u32_le(next);
        out.put_u32_le(e.file_index);
        if self == DirClass::Names {
            out.put_u32_le(units_len(&e.file_name));
            put_units(out, &e.file_name);
            return;
        }
        out.put_u64_le(e.creation_time.0);
        out.put_u64_le(e.last_access_time.0);
        out.put_u64_le(e.last_write_time.0);
        out.put_u64_le(e.change_time.0);
        out.put_u64_le(e.end_of_file);
        out.put_u64_le(e.allocation_size);
        out.put_u32_le(e.file_attributes);
        out.put_u32_le(units_len(&e.file_name));
        if self != DirClass::Directory {
            out.put_u32_le(e.ea_size);
        }
        match self {
            DirClass::BothDirectory | DirClass::IdBothDirectory => {
                let short = &e.short_name[..e.short_name.len().min(SHORT_NAME_UNITS)];
                out.put_u8((short.len() * 2) as u8);
                out.put_u8(0);
                put_units(out, short);
                out.put_bytes(0, 24 - short.len() * 2);
                if self == DirClass::IdBothDirectory {
                    out.put_u16_le(0);
                    out.put_u64_le(e.file_id);
                }
            }
            DirClass::IdFullDirectory => {
                out.put_u32_le(0);
                out.put_u64_le(e.file_id);
            }
            _ => {}
        }
        put_units(out, &e.file_name);
    }

    /// Reads one entry from the start of `b`: its NextEntryOffset and the entry.
    pub fn decode_entry(self, b: &[u8]) -> DecodeResult<(u32, DirEntry)> {
        let what = "directory entry";
        let (rest, (next, index)) = parse(what, b, tuple((le_u32, le_u32)))?;
        if self == DirClass::Names {
            let (rest, len) = parse(what, rest, le_u32)?;
            return Ok((
                next,
                DirEntry {
                    file_index: index,
                    file_name: name_units(what, rest, len)?,
                    ..Default::default()
                },
            ));
        }
        let (mut rest, (c, a, w, ch, eof, alloc, attrs, name_len)) = parse(
            what,
            rest,
            tuple((
                le_u64, le_u64, le_u64, le_u64, le_u64, le_u64, le_u32, le_u32,
            )),
        )?;
        let mut e = DirEntry {
            file_index: index,
            creation_time: FileTime(c),
            last_access_time: FileTime(a),
            last_write_time: FileTime(w),
            change_time: FileTime(ch),
            end_of_file: eof,
            allocation_size: alloc,
            file_attributes: attrs,
            ..Default::default()
        };
        if self != DirClass::Directory {
            let (r, ea) = parse(what, rest, le_u32)?;
            e.ea_size = ea;
            rest = r;
        }
        match self {
            DirClass::BothDirectory | DirClass::IdBothDirectory => {
                let (r, (slen, _, short)) =
                    parse(what, rest, tuple((le_u8, le_u8, take(24usize))))?;
                if slen > 24 || slen % 2 != 0 {
                    return Err(DecodeError::Invalid {
                        what: "ShortNameLength",
                    });
                }
                e.short_name = name_units(what, short, u32::from(slen))?;
                rest = r;
                if self == DirClass::IdBothDirectory {
                    let (r, (_, id)) = parse(what, rest, tuple((le_u16, le_u64)))?;
                    e.file_id = id;
                    rest = r;
                }
            }
            DirClass::IdFullDirectory => {
                let (r, (_, id)) = parse(what, rest, tuple((le_u32, le_u64)))?;
                e.file_id = id;
                rest = r;
            }
            _ => {}
        }
        e.file_name = name_units(what, rest, name_len)?;
        Ok((next, e))
    }

    /// Reads a whole QUERY_DIRECTORY output buffer: entries chained by NextEntryOffset
    /// (each offset 8-aligned and past the fixed part), at most [`MAX_ENTRIES`].
    pub fn decode_entries(self, b: &[u8]) -> DecodeResult<Vec<DirEntry>> {
        let what = "directory entries";
        let mut out = Vec::new();
        let mut at = 0usize;
        if b.is_empty() {
            return Ok(out);
        }
        loop {
            crate::wire::limit(what, out.len() + 1, MAX_ENTRIES)?;
            let e = b.get(at..).ok_or(DecodeError::OutOfBounds { what })?;
            let (next, entry) = self.decode_entry(e)?;
            out.push(entry);
            if next == 0 {
                return Ok(out);
            }
            if next as usize % 8 != 0 || (next as usize) < self.fixed_len() {
                return Err(DecodeError::Misaligned { what });
            }
            at += next as usize;
        }
    }
}

/// What [`DirPacker::push`] did with an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// The entry is in the buffer.
    Added,
    /// The entry does not fit after those already packed: the buffer is complete; keep the
    /// entry for the next QUERY_DIRECTORY.
    Full,
    /// The first entry alone does not fit: as much of it as fits was packed, and the answer
    /// is STATUS_BUFFER_OVERFLOW (MS-FSA 2.1.5.6.3). Nothing more can be added.
    Overflow,
}

/// Packs directory entries into a QUERY_DIRECTORY output buffer of OutputBufferLength bytes.
#[derive(Debug, Clone)]
pub struct DirPacker {
    class: DirClass,
    max: usize,
    buf: Vec<u8>,
    last: Option<usize>,
    count: usize,
    overflow: bool,
}

impl DirPacker {
    /// A packer for `class` and an OutputBufferLength, or STATUS_INFO_LENGTH_MISMATCH when
    /// that cannot hold the class's fixed part (MS-FSA 2.1.5.6.3.x; Samba 4.17 answers
    /// STATUS_INVALID_PARAMETER to an 8-byte buffer instead, see `tests/fscc_capture.rs`).
    pub fn new(class: DirClass, output_buffer_length: u32) -> Result<DirPacker, NtStatus> {
        let max = output_buffer_length as usize;
        if max < class.fixed_len() {
            return Err(NtStatus::INFO_LENGTH_MISMATCH);
        }
        Ok(DirPacker {
            class,
            max,
            buf: Vec::new(),
            last: None,
            count: 0,
            overflow: false,
        })
    }

    /// Entries packed so far.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Packs `e` if it fits (after 8-byte alignment; the last entry needs no padding).
    pub fn push(&mut self, e: &DirEntry) -> Push {
        if self.overflow {
            return Push::Full;
        }
        let start = if self.count == 0 {
            0
        } else {
            align8(self.buf.len())
        };
        let len = self.class.entry_len(e);
        if start + len > self.max {
            if self.count > 0 {
                return Push::Full;
            }
            let mut v = Vec::with_capacity(len);
            self.class.encode_entry(e, 0, &mut v);
            v.truncate(self.max);
            self.buf = v;
            self.overflow = true;
            return Push::Overflow;
        }
        if let Some(p) = self.last {
            let off = (start - p) as u32;
            self.buf[p..p + 4].copy_from_slice(&off.to_le_bytes());
            self.buf.resize(start, 0);
        }
        self.class.encode_entry(e, 0, &mut self.buf);
        self.last = Some(start);
        self.count += 1;
        Push::Added
    }

    /// The status and the output buffer: SUCCESS with the entries, or BUFFER_OVERFLOW
    /// after [`Push::Overflow`]. With no entry the buffer is empty and the caller answers
    /// STATUS_NO_MORE_FILES (or STATUS_NO_SUCH_FILE on a first query, MS-SMB2 §3.3.5.18).
    pub fn finish(self) -> (NtStatus, Vec<u8>) {
        if self.overflow {
            (NtStatus::BUFFER_OVERFLOW, self.buf)
        } else {
            (NtStatus::SUCCESS, self.buf)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str) -> DirEntry {
        DirEntry {
            file_name: name.encode_utf16().collect(),
            end_of_file: 12,
            file_attributes: 0x80,
            file_id: 7,
            ..Default::default()
        }
    }

    #[test]
    fn packs_aligned_and_reports_full() {
        // Id-both: 104 fixed bytes. "a" = 106 bytes, next at 112; "bb" = 108, ends at 220.
        let mut p = DirPacker::new(DirClass::IdBothDirectory, 220).unwrap();
        assert_eq!(p.push(&entry("a")), Push::Added);
        assert_eq!(p.push(&entry("bb")), Push::Added);
        assert_eq!(p.push(&entry("c")), Push::Full);
        let (st, buf) = p.finish();
        assert_eq!(st, NtStatus::SUCCESS);
        assert_eq!(buf.len(), 220);
        assert_eq!(&buf[0..4], &112u32.to_le_bytes());
        assert_eq!(&buf[112..116], &0u32.to_le_bytes());
        assert_eq!(&buf[106..112], &[0; 6]);
        let back = DirClass::IdBothDirectory.decode_entries(&buf).unwrap();
        assert_eq!(back, vec![entry("a"), entry("bb")]);
    }

    #[test]
    fn first_entry_too_big() {
        assert_eq!(
            DirPacker::new(DirClass::IdBothDirectory, 103).err(),
            Some(NtStatus::INFO_LENGTH_MISMATCH)
        );
        let mut p = DirPacker::new(DirClass::IdBothDirectory, 105).unwrap();
        assert_eq!(p.push(&entry("abc")), Push::Overflow);
        assert_eq!(p.push(&entry("d")), Push::Full);
        let (st, buf) = p.finish();
        assert_eq!(st, NtStatus::BUFFER_OVERFLOW);
        assert_eq!(buf.len(), 105);
        // The name length still says the whole name.
        assert_eq!(&buf[60..64], &6u32.to_le_bytes());
    }

    #[test]
    fn names_layout() {
        let mut v = Vec::new();
        DirClass::Names.encode_entry(&entry("ab"), 0, &mut v);
        assert_eq!(v, [0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, b'a', 0, b'b', 0]);
    }
}
