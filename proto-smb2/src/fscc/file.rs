//! File information classes ([MS-FSCC] §2.4) that QUERY_INFO answers and SET_INFO carries
//! over SMB2 (InfoType SMB2_0_INFO_FILE), and [`SetFileInfo`], the decoded SET_INFO buffer.
//!
//! Sizes follow [MS-FSCC]; the minimum OutputBufferLength of each query class is its
//! [`InfoClass::MIN_LEN`] (MS-FSA §2.1.5.12.x: the structure's size, or the offset of its
//! variable part).

use super::{
    file_class, info_type, name_units, parse, put_units, units_len, FileTime, InfoClass,
    MAX_ENTRIES,
};
use crate::error::{DecodeError, DecodeResult};
use crate::status::NtStatus;
use bytes::BufMut;
use nom::number::complete::{le_i64, le_u16, le_u32, le_u64, le_u8};
use nom::sequence::tuple;

/// FileBasicInformation (§2.4.7), 40 bytes. The times are the raw signed wire values so that
/// a SET_INFO's 0 / -1 / -2 markers survive ([`super::TimeUpdate::from_wire`]); a query
/// answer holds [`FileTime`] values (`FileTime(t).0 as i64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileBasicInformation {
    /// CreationTime.
    pub creation_time: i64,
    /// LastAccessTime.
    pub last_access_time: i64,
    /// LastWriteTime.
    pub last_write_time: i64,
    /// ChangeTime.
    pub change_time: i64,
    /// FileAttributes (0 in a SET_INFO: leave them unchanged).
    pub file_attributes: u32,
}

impl FileBasicInformation {
    /// The four times as SET_INFO updates, in the order creation, last access, last write,
    /// change (MS-FSA 2.1.5.15.1; STATUS_INVALID_PARAMETER for a value below -2).
    pub fn time_updates(&self) -> Result<[super::TimeUpdate; 4], NtStatus> {
        Ok([
            super::TimeUpdate::from_wire(self.creation_time)?,
            super::TimeUpdate::from_wire(self.last_access_time)?,
            super::TimeUpdate::from_wire(self.last_write_time)?,
            super::TimeUpdate::from_wire(self.change_time)?,
        ])
    }

    /// A query answer from FILETIMEs.
    pub fn from_times(times: [FileTime; 4], file_attributes: u32) -> Self {
        FileBasicInformation {
            creation_time: times[0].0 as i64,
            last_access_time: times[1].0 as i64,
            last_write_time: times[2].0 as i64,
            change_time: times[3].0 as i64,
            file_attributes,
        }
    }
}

impl InfoClass for FileBasicInformation {
    const INFO_TYPE: u8 = info_type::FILE;
    const CLASS: u8 = file_class::BASIC;
    const MIN_LEN: usize = 40;

    fn encode(&self, out: &mut impl BufMut) {
        out.put_i64_le(self.creation_time);
        out.put_i64_le(self.last_access_time);
        out.put_i64_le(self.last_write_time);
        out.put_i64_le(self.change_time);
        out.put_u32_le(self.file_attributes);
        out.put_u32_le(0);
    }

    /// Decodes 36 bytes or more: the trailing Reserved is not required, as Windows and
    /// Samba accept a 36-byte SET_INFO buffer from older clients.
    fn decode(b: &[u8]) -> DecodeResult<Self> {
        let (_, (c, a, w, ch, attrs)) = parse(
            "FileBasicInformation",
            b,
            tuple((le_i64, le_i64, le_i64, le_i64, le_u32)),
        )?;
        Ok(FileBasicInformation {
            creation_time: c,
            last_access_time: a,
            last_write_time: w,
            change_time: ch,
            file_attributes: attrs,
        })
    }
}

/// FileStandardInformation (§2.4.47), 24 bytes with the trailing Reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileStandardInformation {
    /// AllocationSize.
    pub allocation_size: u64,
    /// EndOfFile.
    pub end_of_file: u64,
    /// NumberOfLinks.
    pub number_of_links: u32,
    /// DeletePending.
    pub delete_pending: bool,
    /// Directory.
    pub directory: bool,
}

impl InfoClass for FileStandardInformation {
    const INFO_TYPE: u8 = info_type::FILE;
    const CLASS: u8 = file_class::STANDARD;
    const MIN_LEN: usize = 24;

    fn encode(&self, out: &mut impl BufMut) {
        out.put_u64_le(self.allocation_size);
        out.put_u64_le(self.end_of_file);
        out.put_u32_le(self.number_of_links);
        out.put_u8(u8::from(self.delete_pending));
        out.put_u8(u8::from(self.directory));
        out.put_u16_le(0);
    }

    fn decode(b: &[u8]) -> DecodeResult<Self> {
        let (_, (alloc, eof, links, dp, dir, _)) = parse(
            "FileStandardInformation",
            b,
            tuple((le_u64, le_u64, le_u32, le_u8, le_u8, le_u16)),
        )?;
        Ok(FileStandardInformation {
            allocation_size: alloc,
            end_of_file: eof,
            number_of_links: links,
            delete_pending: dp != 0,
            directory: dir != 0,
        })
    }
}

/// Defines a class that is a single little-endian integer field.
macro_rules! scalar_class {
    ($(#[$doc:meta])* $name:ident, $field:ident: $ty:ty, $class:expr, $len:expr, $put:ident, $get:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct $name {
            #[allow(missing_docs)]
            pub $field: $ty,
        }

        impl InfoClass for $name {
            const INFO_TYPE: u8 = info_type::FILE;
            const CLASS: u8 = $class;
            const MIN_LEN: usize = $len;

            fn encode(&self, out: &mut impl BufMut) {
                out.$put(self.$field);
            }

            fn decode(b: &[u8]) -> DecodeResult<Self> {
                let (_, v) = parse(stringify!($name), b, $get)?;
                Ok($name { $field: v })
            }
        }
    };
}

scalar_class!(
    /// FileInternalInformation (§2.4.26): IndexNumber, the file id.
    FileInternalInformation, index_number: u64, file_class::INTERNAL, 8, put_u64_le, le_u64
);
scalar_class!(
    /// FileEaInformation (§2.4.13): EaSize (0: no extended attributes).
    FileEaInformation, ea_size: u32, file_class::EA, 4, put_u32_le, le_u32
);
scalar_class!(
    /// FileAccessInformation (§2.4.1): AccessFlags, the open's granted access.
    FileAccessInformation, access_flags: u32, file_class::ACCESS, 4, put_u32_le, le_u32
);
scalar_class!(
    /// FilePositionInformation (§2.4.40): CurrentByteOffset, query and set.
    FilePositionInformation, current_byte_offset: u64, file_class::POSITION, 8, put_u64_le, le_u64
);
scalar_class!(
    /// FileModeInformation (§2.4.31): Mode ([`mode`] flags), query and set.
    FileModeInformation, mode: u32, file_class::MODE, 4, put_u32_le, le_u32
);
scalar_class!(
    /// FileAlignmentInformation (§2.4.3): AlignmentRequirement (0 = byte alignment).
    FileAlignmentInformation, alignment_requirement: u32, file_class::ALIGNMENT, 4, put_u32_le, le_u32
);
scalar_class!(
    /// FileEndOfFileInformation (§2.4.14), set: the new EndOfFile.
    FileEndOfFileInformation, end_of_file: u64, file_class::END_OF_FILE, 8, put_u64_le, le_u64
);
scalar_class!(
    /// FileAllocationInformation (§2.4.4), set: the new AllocationSize.
    FileAllocationInformation, allocation_size: u64, file_class::ALLOCATION, 8, put_u64_le, le_u64
);
scalar_class!(
    /// FileDispositionInformationEx (§2.4.12), set: Flags ([`disposition_ex`]).
    FileDispositionInformationEx, flags: u32, file_class::DISPOSITION_EX, 4, put_u32_le, le_u32
);

/// FileModeInformation Mode flags (§2.4.31).
pub mod mode {
    /// FILE_WRITE_THROUGH.
    pub const WRITE_THROUGH: u32 = 0x0000_0002;
    /// FILE_SEQUENTIAL_ONLY.
    pub const SEQUENTIAL_ONLY: u32 = 0x0000_0004;
    /// FILE_NO_INTERMEDIATE_BUFFERING.
    pub const NO_INTERMEDIATE_BUFFERING: u32 = 0x0000_0008;
    /// FILE_SYNCHRONOUS_IO_ALERT.
    pub const SYNCHRONOUS_IO_ALERT: u32 = 0x0000_0010;
    /// FILE_SYNCHRONOUS_IO_NONALERT.
    pub const SYNCHRONOUS_IO_NONALERT: u32 = 0x0000_0020;
    /// FILE_DELETE_ON_CLOSE.
    pub const DELETE_ON_CLOSE: u32 = 0x0000_1000;
    /// The bits a SET_INFO may carry; any other is STATUS_INVALID_PARAMETER (MS-FSA
    /// 2.1.5.15.10, which also refuses a change to the two SYNCHRONOUS_IO bits).
    pub const SETTABLE: u32 = WRITE_THROUGH
        | SEQUENTIAL_ONLY
        | NO_INTERMEDIATE_BUFFERING
        | SYNCHRONOUS_IO_ALERT
        | SYNCHRONOUS_IO_NONALERT;
}

/// FileDispositionInformationEx Flags (§2.4.12).
pub mod disposition_ex {
    /// FILE_DISPOSITION_DELETE: set (or, without it, clear) delete-pending.
    pub const DELETE: u32 = 0x0000_0001;
    /// FILE_DISPOSITION_POSIX_SEMANTICS: unlink at once while opens remain.
    pub const POSIX_SEMANTICS: u32 = 0x0000_0002;
    /// FILE_DISPOSITION_FORCE_IMAGE_SECTION_CHECK.
    pub const FORCE_IMAGE_SECTION_CHECK: u32 = 0x0000_0004;
    /// FILE_DISPOSITION_ON_CLOSE: set or clear delete-on-close instead of delete-pending.
    pub const ON_CLOSE: u32 = 0x0000_0008;
    /// FILE_DISPOSITION_IGNORE_READONLY_ATTRIBUTE.
    pub const IGNORE_READONLY_ATTRIBUTE: u32 = 0x0000_0010;
}

/// FileDispositionInformation (§2.4.11), set: DeletePending, one byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileDispositionInformation {
    /// DeletePending: nonzero marks the file for deletion at last close.
    pub delete_pending: bool,
}

impl InfoClass for FileDispositionInformation {
    const INFO_TYPE: u8 = info_type::FILE;
    const CLASS: u8 = file_class::DISPOSITION;
    const MIN_LEN: usize = 1;

    fn encode(&self, out: &mut impl BufMut) {
        out.put_u8(u8::from(self.delete_pending));
    }

    fn decode(b: &[u8]) -> DecodeResult<Self> {
        let (_, v) = parse("FileDispositionInformation", b, le_u8)?;
        Ok(FileDispositionInformation {
            delete_pending: v != 0,
        })
    }
}

/// Defines a class that is FileNameLength + FileName (§2.4.32 and the classes sharing it).
macro_rules! name_class {
    ($(#[$doc:meta])* $name:ident, $class:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            /// FileName, UTF-16 code units.
            pub file_name: Vec<u16>,
        }

        impl InfoClass for $name {
            const INFO_TYPE: u8 = info_type::FILE;
            const CLASS: u8 = $class;
            /// FieldOffset(FileName) and one character at the structure's 4-byte
            /// alignment, the rule MS-FSA 2.1.5.12.3 applies to the name inside
            /// FileAllInformation.
            const MIN_LEN: usize = 8;

            fn encode(&self, out: &mut impl BufMut) {
                out.put_u32_le(units_len(&self.file_name));
                put_units(out, &self.file_name);
            }

            fn decode(b: &[u8]) -> DecodeResult<Self> {
                let (rest, len) = parse(stringify!($name), b, le_u32)?;
                Ok($name {
                    file_name: name_units(stringify!($name), rest, len)?,
                })
            }
        }

        impl $name {
            /// The name from a string.
            pub fn new(name: &str) -> Self {
                $name {
                    file_name: name.encode_utf16().collect(),
                }
            }
        }
    };
}

name_class!(
    /// FileNameInformation (§2.4.32): the path from the share root with a leading backslash
    /// (MS-FSA 2.1.5.12.x). Over SMB2 it is only queried inside [`FileAllInformation`].
    FileNameInformation, file_class::NAME
);
name_class!(
    /// FileNormalizedNameInformation (§2.4.35): the name with every component in its
    /// long, on-disk case form; the same layout as FileNameInformation.
    FileNormalizedNameInformation, file_class::NORMALIZED_NAME
);
name_class!(
    /// FileAlternateNameInformation (§2.4.5): the 8.3 short name. Janus generates no short
    /// names (as Samba with `mangled names = no`); a server answers
    /// STATUS_OBJECT_NAME_NOT_FOUND for a name without one (MS-FSA 2.1.5.12.x).
    FileAlternateNameInformation, file_class::ALTERNATE_NAME
);

/// FileAllInformation (§2.4.2): the basic, standard, internal, EA, access, position, mode,
/// alignment and name classes back to back (100 bytes before the name).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileAllInformation {
    /// BasicInformation.
    pub basic: FileBasicInformation,
    /// StandardInformation.
    pub standard: FileStandardInformation,
    /// InternalInformation.
    pub internal: FileInternalInformation,
    /// EaInformation.
    pub ea: FileEaInformation,
    /// AccessInformation.
    pub access: FileAccessInformation,
    /// PositionInformation.
    pub position: FilePositionInformation,
    /// ModeInformation.
    pub mode: FileModeInformation,
    /// AlignmentInformation.
    pub alignment: FileAlignmentInformation,
    /// NameInformation.
    pub name: FileNameInformation,
}

impl InfoClass for FileAllInformation {
    const INFO_TYPE: u8 = info_type::FILE;
    const CLASS: u8 = file_class::ALL;
    /// BlockAlign(FieldOffset(FILE_ALL_INFORMATION.NameInformation.FileName) + 2, 8): the
    /// fixed part and one name character (MS-FSA 2.1.5.12.3 FileAllInformation).
    const MIN_LEN: usize = 104;

    fn encode(&self, out: &mut impl BufMut) {
        self.basic.encode(out);
        self.standard.encode(out);
        self.internal.encode(out);
        self.ea.encode(out);
        self.access.encode(out);
        self.position.encode(out);
        self.mode.encode(out);
        self.alignment.encode(out);
        self.name.encode(out);
    }

    fn decode(b: &[u8]) -> DecodeResult<Self> {
        let what = "FileAllInformation";
        if b.len() < 100 {
            return Err(DecodeError::Truncated { what });
        }
        Ok(FileAllInformation {
            basic: FileBasicInformation::decode(&b[0..40])?,
            standard: FileStandardInformation::decode(&b[40..64])?,
            internal: FileInternalInformation::decode(&b[64..72])?,
            ea: FileEaInformation::decode(&b[72..76])?,
            access: FileAccessInformation::decode(&b[76..80])?,
            position: FilePositionInformation::decode(&b[80..88])?,
            mode: FileModeInformation::decode(&b[88..92])?,
            alignment: FileAlignmentInformation::decode(&b[92..96])?,
            name: FileNameInformation::decode(&b[96..])?,
        })
    }
}

/// FileNetworkOpenInformation (§2.4.34), 56 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileNetworkOpenInformation {
    /// CreationTime.
    pub creation_time: FileTime,
    /// LastAccessTime.
    pub last_access_time: FileTime,
    /// LastWriteTime.
    pub last_write_time: FileTime,
    /// ChangeTime.
    pub change_time: FileTime,
    /// AllocationSize.
    pub allocation_size: u64,
    /// EndOfFile.
    pub end_of_file: u64,
    /// FileAttributes.
    pub file_attributes: u32,
}

impl InfoClass for FileNetworkOpenInformation {
    const INFO_TYPE: u8 = info_type::FILE;
    const CLASS: u8 = file_class::NETWORK_OPEN;
    const MIN_LEN: usize = 56;

    fn encode(&self, out: &mut impl BufMut) {
        out.put_u64_le(self.creation_time.0);
        out.put_u64_le(self.last_access_time.0);
        out.put_u64_le(self.last_write_time.0);
        out.put_u64_le(self.change_time.0);
        out.put_u64_le(self.allocation_size);
        out.put_u64_le(self.end_of_file);
        out.put_u32_le(self.file_attributes);
        out.put_u32_le(0);
    }

    fn decode(b: &[u8]) -> DecodeResult<Self> {
        let (_, (c, a, w, ch, alloc, eof, attrs, _)) = parse(
            "FileNetworkOpenInformation",
            b,
            tuple((
                le_u64, le_u64, le_u64, le_u64, le_u64, le_u64, le_u32, le_u32,
            )),
        )?;
        Ok(FileNetworkOpenInformation {
            creation_time: FileTime(c),
            last_access_time: FileTime(a),
            last_write_time: FileTime(w),
            change_time: FileTime(ch),
            allocation_size: alloc,
            end_of_file: eof,
            file_attributes: attrs,
        })
    }
}

/// FileAttributeTagInformation (§2.4.6), 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileAttributeTagInformation {
    /// FileAttributes.
    pub file_attributes: u32,
    /// ReparseTag (0 without FILE_ATTRIBUTE_REPARSE_POINT).
    pub reparse_tag: u32,
}

impl InfoClass for FileAttributeTagInformation {
    const INFO_TYPE: u8 = info_type::FILE;
    const CLASS: u8 = file_class::ATTRIBUTE_TAG;
    const MIN_LEN: usize = 8;

    fn encode(&self, out: &mut impl BufMut) {
        out.put_u32_le(self.file_attributes);
        out.put_u32_le(self.reparse_tag);
    }

    fn decode(b: &[u8]) -> DecodeResult<Self> {
        let (_, (a, t)) = parse("FileAttributeTagInformation", b, tuple((le_u32, le_u32)))?;
        Ok(FileAttributeTagInformation {
            file_attributes: a,
            reparse_tag: t,
        })
    }
}

/// FileCompressionInformation (§2.4.9), 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileCompressionInformation {
    /// CompressedFileSize (the file size for an uncompressed file).
    pub compressed_file_size: u64,
    /// CompressionFormat (0 = COMPRESSION_FORMAT_NONE).
    pub compression_format: u16,
    /// CompressionUnitShift.
    pub compression_unit_shift: u8,
    /// ChunkShift.
    pub chunk_shift: u8,
    /// ClusterShift.
    pub cluster_shift: u8,
}

impl InfoClass for FileCompressionInformation {
    const INFO_TYPE: u8 = info_type::FILE;
    const CLASS: u8 = file_class::COMPRESSION;
    const MIN_LEN: usize = 16;

    fn encode(&self, out: &mut impl BufMut) {
        out.put_u64_le(self.compressed_file_size);
        out.put_u16_le(self.compression_format);
        out.put_u8(self.compression_unit_shift);
        out.put_u8(self.chunk_shift);
        out.put_u8(self.cluster_shift);
        out.put_bytes(0, 3);
    }

    fn decode(b: &[u8]) -> DecodeResult<Self> {
        let (_, (size, fmt, unit, chunk, cluster, _, _, _)) = parse(
            "FileCompressionInformation",
            b,
            tuple((le_u64, le_u16, le_u8, le_u8, le_u8, le_u8, le_u8, le_u8)),
        )?;
        Ok(FileCompressionInformation {
            compressed_file_size: size,
            compression_format: fmt,
            compression_unit_shift: unit,
            chunk_shift: chunk,
            cluster_shift: cluster,
        })
    }
}

/// One FILE_STREAM_INFORMATION entry (§2.4.49).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamEntry {
    /// StreamName, e.g. `::$DATA` for a file's unnamed data stream.
    pub name: Vec<u16>,
    /// StreamSize.
    pub size: u64,
    /// StreamAllocationSize.
    pub allocation_size: u64,
}

/// FileStreamInformation (§2.4.49): a list of streams, each entry 8-byte aligned. Janus
/// has no named streams: a file has the one entry `::$DATA`, a directory none.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileStreamInformation {
    /// The entries.
    pub entries: Vec<StreamEntry>,
}

/// Fixed bytes of a stream entry before its name.
const STREAM_FIXED: usize = 24;

impl FileStreamInformation {
    /// The answer for a regular file of `size` bytes (`allocation` allocated): `::$DATA`.
    pub fn data_stream(size: u64, allocation: u64) -> Self {
        FileStreamInformation {
            entries: vec![StreamEntry {
                name: "::$DATA".encode_utf16().collect(),
                size,
                allocation_size: allocation,
            }],
        }
    }

    fn encode_entries(&self, max: usize) -> (Vec<u8>, bool) {
        let mut out: Vec<u8> = Vec::new();
        let mut prev: Option<usize> = None;
        for e in &self.entries {
            let start = crate::wire::align8(out.len());
            if start + STREAM_FIXED + e.name.len() * 2 > max {
                return (out, false);
            }
            if let Some(p) = prev {
                // The previous entry's NextEntryOffset points here; the padding is zero.
                let off = (start - p) as u32;
                out[p..p + 4].copy_from_slice(&off.to_le_bytes());
                out.resize(start, 0);
            }
            prev = Some(start);
            out.put_u32_le(0);
            out.put_u32_le(units_len(&e.name));
            out.put_u64_le(e.size);
            out.put_u64_le(e.allocation_size);
            put_units(&mut out, &e.name);
        }
        (out, true)
    }
}

impl InfoClass for FileStreamInformation {
    const INFO_TYPE: u8 = info_type::FILE;
    const CLASS: u8 = file_class::STREAM;
    /// sizeof(FILE_STREAM_INFORMATION) (MS-FSA 2.1.5.12.29): the 24 fixed bytes and the
    /// one-character StreamName, padded to the structure's 8-byte alignment.
    const MIN_LEN: usize = 32;

    fn encode(&self, out: &mut impl BufMut) {
        out.put_slice(&self.encode_entries(usize::MAX).0);
    }

    /// Only whole entries: MS-FSA 2.1.5.12.x FileStreamInformation stops at the first entry
    /// that does not fit and answers STATUS_BUFFER_OVERFLOW.
    fn encode_within(&self, max: usize) -> (Vec<u8>, bool) {
        self.encode_entries(max)
    }

    fn decode(b: &[u8]) -> DecodeResult<Self> {
        let what = "FileStreamInformation";
        let mut entries = Vec::new();
        let mut at = 0usize;
        if b.is_empty() {
            return Ok(FileStreamInformation { entries });
        }
        loop {
            crate::wire::limit(what, entries.len() + 1, MAX_ENTRIES)?;
            let e = b.get(at..).ok_or(DecodeError::OutOfBounds { what })?;
            let (rest, (next, name_len, size, alloc)) =
                parse(what, e, tuple((le_u32, le_u32, le_u64, le_u64)))?;
            entries.push(StreamEntry {
                name: name_units(what, rest, name_len)?,
                size,
                allocation_size: alloc,
            });
            if next == 0 {
                return Ok(FileStreamInformation { entries });
            }
            if next as usize % 8 != 0 || (next as usize) < STREAM_FIXED {
                return Err(DecodeError::Misaligned { what });
            }
            at += next as usize;
        }
    }
}

/// FILE_RENAME_INFORMATION_TYPE_2 (§2.4.42.2), the SMB2 form of FileRenameInformation:
/// ReplaceIfExists, 7 reserved bytes, RootDirectory (8 bytes, zero over SMB2), FileNameLength,
/// FileName (the new path from the share root, MS-SMB2 §3.3.5.21.1). FileLinkInformation
/// (§2.4.27.2) has the same layout: see [`FileLinkInformation`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileRenameInformation {
    /// ReplaceIfExists.
    pub replace_if_exists: bool,
    /// RootDirectory: MUST be zero over SMB2 (MS-SMB2 §2.2.39); kept to let the server
    /// refuse a nonzero one.
    pub root_directory: u64,
    /// FileName, UTF-16 code units.
    pub file_name: Vec<u16>,
}

/// Fixed bytes of FILE_RENAME_INFORMATION_TYPE_2 before the name.
const RENAME_FIXED: usize = 20;

impl FileRenameInformation {
    fn encode_as(&self, out: &mut impl BufMut) {
        out.put_u8(u8::from(self.replace_if_exists));
        out.put_bytes(0, 7);
        out.put_u64_le(self.root_directory);
        out.put_u32_le(units_len(&self.file_name));
        put_units(out, &self.file_name);
    }

    fn decode_as(what: &'static str, b: &[u8]) -> DecodeResult<Self> {
        let (rest, (replace, _, root, len)) = parse(
            what,
            b,
            tuple((le_u8, nom::bytes::complete::take(7usize), le_u64, le_u32)),
        )?;
        if len == 0 {
            return Err(DecodeError::Invalid { what });
        }
        Ok(FileRenameInformation {
            replace_if_exists: replace != 0,
            root_directory: root,
            file_name: name_units(what, rest, len)?,
        })
    }
}

impl InfoClass for FileRenameInformation {
    const INFO_TYPE: u8 = info_type::FILE;
    const CLASS: u8 = file_class::RENAME;
    const MIN_LEN: usize = RENAME_FIXED;

    fn encode(&self, out: &mut impl BufMut) {
        self.encode_as(out)
    }

    /// An empty name is invalid (STATUS_INVALID_PARAMETER, as Windows answers).
    fn decode(b: &[u8]) -> DecodeResult<Self> {
        Self::decode_as("FileRenameInformation", b)
    }
}

/// FileLinkInformation (§2.4.27.2, FILE_LINK_INFORMATION_TYPE_2): a hard link request, the
/// same layout as [`FileRenameInformation`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileLinkInformation(pub FileRenameInformation);

impl InfoClass for FileLinkInformation {
    const INFO_TYPE: u8 = info_type::FILE;
    const CLASS: u8 = file_class::LINK;
    const MIN_LEN: usize = RENAME_FIXED;

    fn encode(&self, out: &mut impl BufMut) {
        self.0.encode_as(out)
    }

    fn decode(b: &[u8]) -> DecodeResult<Self> {
        FileRenameInformation::decode_as("FileLinkInformation", b).map(FileLinkInformation)
    }
}

/// A decoded SET_INFO buffer of InfoType SMB2_0_INFO_FILE (MS-SMB2 §3.3.5.21.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetFileInfo {
    /// FileBasicInformation.
    Basic(FileBasicInformation),
    /// FileEndOfFileInformation.
    EndOfFile(FileEndOfFileInformation),
    /// FileAllocationInformation.
    Allocation(FileAllocationInformation),
    /// FileDispositionInformation.
    Disposition(FileDispositionInformation),
    /// FileDispositionInformationEx.
    DispositionEx(FileDispositionInformationEx),
    /// FileRenameInformation.
    Rename(FileRenameInformation),
    /// FilePositionInformation.
    Position(FilePositionInformation),
    /// FileModeInformation.
    Mode(FileModeInformation),
    /// FileLinkInformation.
    Link(FileLinkInformation),
}

impl SetFileInfo {
    /// Decodes the buffer of a SET_INFO for `class`, or the status the server answers:
    /// STATUS_INFO_LENGTH_MISMATCH for a buffer shorter than the class (MS-FSA 2.1.5.15),
    /// STATUS_EAS_NOT_SUPPORTED for FileFullEaInformation (no EAs are advertised),
    /// STATUS_INVALID_INFO_CLASS for a class that cannot be set (MS-FSA 2.1.5.15: "not
    /// defined ... or not settable"), STATUS_INVALID_PARAMETER for a malformed buffer.
    pub fn decode(class: u8, b: &[u8]) -> Result<SetFileInfo, NtStatus> {
        fn get<T: InfoClass>(b: &[u8], min: usize) -> Result<T, NtStatus> {
            if b.len() < min {
                return Err(NtStatus::INFO_LENGTH_MISMATCH);
            }
            T::decode(b).map_err(|_| NtStatus::INVALID_PARAMETER)
        }
        Ok(match class {
            file_class::BASIC => SetFileInfo::Basic(get(b, 36)?),
            file_class::END_OF_FILE => SetFileInfo::EndOfFile(get(b, 8)?),
            file_class::ALLOCATION => SetFileInfo::Allocation(get(b, 8)?),
            file_class::DISPOSITION => SetFileInfo::Disposition(get(b, 1)?),
            file_class::DISPOSITION_EX => SetFileInfo::DispositionEx(get(b, 4)?),
            file_class::RENAME => SetFileInfo::Rename(get(b, RENAME_FIXED)?),
            file_class::POSITION => SetFileInfo::Position(get(b, 8)?),
            file_class::MODE => SetFileInfo::Mode(get(b, 4)?),
            file_class::LINK => SetFileInfo::Link(get(b, RENAME_FIXED)?),
            file_class::FULL_EA => return Err(NtStatus::EAS_NOT_SUPPORTED),
            _ => return Err(NtStatus::INVALID_INFO_CLASS),
        })
    }

    /// The class number and the encoded buffer.
    pub fn encode(&self) -> (u8, Vec<u8>) {
        match self {
            SetFileInfo::Basic(v) => (FileBasicInformation::CLASS, v.to_vec()),
            SetFileInfo::EndOfFile(v) => (FileEndOfFileInformation::CLASS, v.to_vec()),
            SetFileInfo::Allocation(v) => (FileAllocationInformation::CLASS, v.to_vec()),
            SetFileInfo::Disposition(v) => (FileDispositionInformation::CLASS, v.to_vec()),
            SetFileInfo::DispositionEx(v) => (FileDispositionInformationEx::CLASS, v.to_vec()),
            SetFileInfo::Rename(v) => (FileRenameInformation::CLASS, v.to_vec()),
            SetFileInfo::Position(v) => (FilePositionInformation::CLASS, v.to_vec()),
            SetFileInfo::Mode(v) => (FileModeInformation::CLASS, v.to_vec()),
            SetFileInfo::Link(v) => (FileLinkInformation::CLASS, v.to_vec()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fscc::fit_query_output;

    #[test]
    fn all_information_layout() {
        let all = FileAllInformation {
            name: FileNameInformation::new("\\a"),
            ..Default::default()
        };
        let v = all.to_vec();
        assert_eq!(v.len(), 104);
        assert_eq!(&v[96..100], &4u32.to_le_bytes());
        assert_eq!(FileAllInformation::decode(&v).unwrap(), all);
    }

    #[test]
    fn output_buffer_rules() {
        let all = FileAllInformation {
            name: FileNameInformation::new("\\hello.txt"),
            ..Default::default()
        };
        assert_eq!(
            fit_query_output(&all, 99),
            Err(NtStatus::INFO_LENGTH_MISMATCH)
        );
        let part = fit_query_output(&all, 104).unwrap();
        assert_eq!(part.status, NtStatus::BUFFER_OVERFLOW);
        assert_eq!(part.data.len(), 104);
        // The length field still says the whole name: 10 units.
        assert_eq!(&part.data[96..100], &20u32.to_le_bytes());
        let whole = fit_query_output(&all, 120).unwrap();
        assert_eq!((whole.status, whole.data.len()), (NtStatus::SUCCESS, 120));
        assert_eq!(
            fit_query_output(&FileBasicInformation::default(), 39),
            Err(NtStatus::INFO_LENGTH_MISMATCH)
        );
    }

    #[test]
    fn streams_whole_entries_only() {
        let s = FileStreamInformation {
            entries: vec![
                StreamEntry {
                    name: "::$DATA".encode_utf16().collect(),
                    size: 12,
                    allocation_size: 4096,
                },
                StreamEntry {
                    name: ":x:$DATA".encode_utf16().collect(),
                    size: 1,
                    allocation_size: 8,
                },
            ],
        };
        let v = s.to_vec();
        // First entry 24 + 14 = 38 bytes, padded to 40.
        assert_eq!(&v[0..4], &40u32.to_le_bytes());
        assert_eq!(v.len(), 40 + 24 + 16);
        assert_eq!(FileStreamInformation::decode(&v).unwrap(), s);
        let part = fit_query_output(&s, 60).unwrap();
        assert_eq!(part.status, NtStatus::BUFFER_OVERFLOW);
        assert_eq!(part.data.len(), 38);
        assert_eq!(&part.data[0..4], &0u32.to_le_bytes());
    }

    #[test]
    fn set_info_statuses() {
        assert_eq!(
            SetFileInfo::decode(file_class::FULL_EA, &[0; 16]),
            Err(NtStatus::EAS_NOT_SUPPORTED)
        );
        assert_eq!(
            SetFileInfo::decode(file_class::STANDARD, &[0; 24]),
            Err(NtStatus::INVALID_INFO_CLASS)
        );
        assert_eq!(
            SetFileInfo::decode(file_class::END_OF_FILE, &[0; 7]),
            Err(NtStatus::INFO_LENGTH_MISMATCH)
        );
        assert_eq!(
            SetFileInfo::decode(file_class::BASIC, &[0; 36]),
            Ok(SetFileInfo::Basic(Default::default()))
        );
        // A rename whose FileNameLength runs past the buffer.
        let mut r = vec![1u8; 1];
        r.extend_from_slice(&[0; 15]);
        r.extend_from_slice(&100u32.to_le_bytes());
        r.extend_from_slice(&[b'a', 0]);
        assert_eq!(
            SetFileInfo::decode(file_class::RENAME, &r),
            Err(NtStatus::INVALID_PARAMETER)
        );
    }
}
