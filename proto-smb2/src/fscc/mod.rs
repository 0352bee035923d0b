//! MS-FSCC information classes: what QUERY_INFO, SET_INFO and QUERY_DIRECTORY carry in their
//! buffers ([MS-FSCC] §2.4 file classes, §2.5 file-system classes), with the FILETIME and
//! FILE_ATTRIBUTE_* building blocks (§2.1.1, §2.6) and the output-buffer size rules of
//! MS-SMB2 §3.3.5.20.1 / MS-FSA §2.1.5.12 ([`fit_query_output`]).
//!
//! - [`file`](mod@file): file query and set classes (basic, standard, ..., all, stream, rename, ...).
//! - [`fs`]: file-system classes (volume, size, full-size, device, attribute, sector-size).
//! - [`dir`]: directory enumeration classes and the entry packer for QUERY_DIRECTORY.
//!
//! Every structure has `encode` (bytes into a `BufMut`) and `decode` (nom over a slice, never
//! panicking, refusing counts over the crate's limits before allocating).

pub mod dir;
pub mod file;
pub mod fs;

use crate::error::{DecodeError, DecodeResult};
use crate::status::NtStatus;
use bytes::BufMut;

/// QUERY_INFO / SET_INFO InfoType (MS-SMB2 §2.2.37).
pub mod info_type {
    /// SMB2_0_INFO_FILE: an [MS-FSCC] §2.4 file information class.
    pub const FILE: u8 = 0x01;
    /// SMB2_0_INFO_FILESYSTEM: an [MS-FSCC] §2.5 file-system information class.
    pub const FILESYSTEM: u8 = 0x02;
    /// SMB2_0_INFO_SECURITY: a security descriptor ([MS-DTYP] §2.4.6).
    pub const SECURITY: u8 = 0x03;
    /// SMB2_0_INFO_QUOTA.
    pub const QUOTA: u8 = 0x04;
}

/// File information class numbers ([MS-FSCC] §2.4, the table at its head).
pub mod file_class {
    /// FileDirectoryInformation (§2.4.10), QUERY_DIRECTORY.
    pub const DIRECTORY: u8 = 1;
    /// FileFullDirectoryInformation (§2.4.17), QUERY_DIRECTORY.
    pub const FULL_DIRECTORY: u8 = 2;
    /// FileBothDirectoryInformation (§2.4.8), QUERY_DIRECTORY.
    pub const BOTH_DIRECTORY: u8 = 3;
    /// FileBasicInformation (§2.4.7), query and set.
    pub const BASIC: u8 = 4;
    /// FileStandardInformation (§2.4.47), query.
    pub const STANDARD: u8 = 5;
    /// FileInternalInformation (§2.4.26), query.
    pub const INTERNAL: u8 = 6;
    /// FileEaInformation (§2.4.13), query.
    pub const EA: u8 = 7;
    /// FileAccessInformation (§2.4.1), query.
    pub const ACCESS: u8 = 8;
    /// FileNameInformation (§2.4.32): only inside FileAllInformation over SMB2.
    pub const NAME: u8 = 9;
    /// FileRenameInformation (§2.4.42), set.
    pub const RENAME: u8 = 10;
    /// FileLinkInformation (§2.4.27), set.
    pub const LINK: u8 = 11;
    /// FileNamesInformation (§2.4.33), QUERY_DIRECTORY.
    pub const NAMES: u8 = 12;
    /// FileDispositionInformation (§2.4.11), set.
    pub const DISPOSITION: u8 = 13;
    /// FilePositionInformation (§2.4.40), query and set.
    pub const POSITION: u8 = 14;
    /// FileFullEaInformation (§2.4.16), query and set.
    pub const FULL_EA: u8 = 15;
    /// FileModeInformation (§2.4.31), query and set.
    pub const MODE: u8 = 16;
    /// FileAlignmentInformation (§2.4.3), query.
    pub const ALIGNMENT: u8 = 17;
    /// FileAllInformation (§2.4.2), query.
    pub const ALL: u8 = 18;
    /// FileAllocationInformation (§2.4.4), set.
    pub const ALLOCATION: u8 = 19;
    /// FileEndOfFileInformation (§2.4.14), set.
    pub const END_OF_FILE: u8 = 20;
    /// FileAlternateNameInformation (§2.4.5), query: the 8.3 name.
    pub const ALTERNATE_NAME: u8 = 21;
    /// FileStreamInformation (§2.4.49), query.
    pub const STREAM: u8 = 22;
    /// FilePipeInformation (§2.4.37).
    pub const PIPE: u8 = 23;
    /// FileCompressionInformation (§2.4.9), query.
    pub const COMPRESSION: u8 = 28;
    /// FileNetworkOpenInformation (§2.4.34), query.
    pub const NETWORK_OPEN: u8 = 34;
    /// FileAttributeTagInformation (§2.4.6), query.
    pub const ATTRIBUTE_TAG: u8 = 35;
    /// FileIdBothDirectoryInformation (§2.4.21), QUERY_DIRECTORY.
    pub const ID_BOTH_DIRECTORY: u8 = 37;
    /// FileIdFullDirectoryInformation (§2.4.24), QUERY_DIRECTORY.
    pub const ID_FULL_DIRECTORY: u8 = 38;
    /// FileValidDataLengthInformation (§2.4.50), set.
    pub const VALID_DATA_LENGTH: u8 = 39;
    /// FileShortNameInformation (§2.4.46), set.
    pub const SHORT_NAME: u8 = 40;
    /// FileNormalizedNameInformation (§2.4.35), query.
    pub const NORMALIZED_NAME: u8 = 48;
    /// FileIdInformation (§2.4.25), query.
    pub const ID: u8 = 59;
    /// FileDispositionInformationEx (§2.4.12), set.
    pub const DISPOSITION_EX: u8 = 64;
    /// FileRenameInformationEx (§2.4.42.1), set.
    pub const RENAME_EX: u8 = 65;
}

/// The [MS-FSCC] §2.4 name of a file information class (`FileIdBothDirectoryInformation`),
/// `None` for a number this crate has no constant for. Also used for the classes of
/// QUERY_DIRECTORY.
pub fn file_class_name(class: u8) -> Option<&'static str> {
    use file_class as c;
    Some(match class {
        c::DIRECTORY => "FileDirectoryInformation",
        c::FULL_DIRECTORY => "FileFullDirectoryInformation",
        c::BOTH_DIRECTORY => "FileBothDirectoryInformation",
        c::BASIC => "FileBasicInformation",
        c::STANDARD => "FileStandardInformation",
        c::INTERNAL => "FileInternalInformation",
        c::EA => "FileEaInformation",
        c::ACCESS => "FileAccessInformation",
        c::NAME => "FileNameInformation",
        c::RENAME => "FileRenameInformation",
        c::LINK => "FileLinkInformation",
        c::NAMES => "FileNamesInformation",
        c::DISPOSITION => "FileDispositionInformation",
        c::POSITION => "FilePositionInformation",
        c::FULL_EA => "FileFullEaInformation",
        c::MODE => "FileModeInformation",
        c::ALIGNMENT => "FileAlignmentInformation",
        c::ALL => "FileAllInformation",
        c::ALLOCATION => "FileAllocationInformation",
        c::END_OF_FILE => "FileEndOfFileInformation",
        c::ALTERNATE_NAME => "FileAlternateNameInformation",
        c::STREAM => "FileStreamInformation",
        c::PIPE => "FilePipeInformation",
        c::COMPRESSION => "FileCompressionInformation",
        c::NETWORK_OPEN => "FileNetworkOpenInformation",
        c::ATTRIBUTE_TAG => "FileAttributeTagInformation",
        c::ID_BOTH_DIRECTORY => "FileIdBothDirectoryInformation",
        c::ID_FULL_DIRECTORY => "FileIdFullDirectoryInformation",
        c::VALID_DATA_LENGTH => "FileValidDataLengthInformation",
        c::SHORT_NAME => "FileShortNameInformation",
        c::NORMALIZED_NAME => "FileNormalizedNameInformation",
        c::ID => "FileIdInformation",
        c::DISPOSITION_EX => "FileDispositionInformationEx",
        c::RENAME_EX => "FileRenameInformationEx",
        _ => return None,
    })
}

/// The [MS-FSCC] §2.5 name of a file-system information class (`FileFsSizeInformation`),
/// `None` for an undefined number.
pub fn fs_class_name(class: u8) -> Option<&'static str> {
    use fs_class as c;
    Some(match class {
        c::VOLUME => "FileFsVolumeInformation",
        c::LABEL => "FileFsLabelInformation",
        c::SIZE => "FileFsSizeInformation",
        c::DEVICE => "FileFsDeviceInformation",
        c::ATTRIBUTE => "FileFsAttributeInformation",
        c::CONTROL => "FileFsControlInformation",
        c::FULL_SIZE => "FileFsFullSizeInformation",
        c::OBJECT_ID => "FileFsObjectIdInformation",
        c::DRIVER_PATH => "FileFsDriverPathInformation",
        c::VOLUME_FLAGS => "FileFsVolumeFlagsInformation",
        c::SECTOR_SIZE => "FileFsSectorSizeInformation",
        _ => return None,
    })
}

/// File-system information class numbers ([MS-FSCC] §2.5).
pub mod fs_class {
    /// FileFsVolumeInformation (§2.5.9).
    pub const VOLUME: u8 = 1;
    /// FileFsLabelInformation (§2.5.5), set.
    pub const LABEL: u8 = 2;
    /// FileFsSizeInformation (§2.5.8).
    pub const SIZE: u8 = 3;
    /// FileFsDeviceInformation (§2.5.10).
    pub const DEVICE: u8 = 4;
    /// FileFsAttributeInformation (§2.5.1).
    pub const ATTRIBUTE: u8 = 5;
    /// FileFsControlInformation (§2.5.2).
    pub const CONTROL: u8 = 6;
    /// FileFsFullSizeInformation (§2.5.4).
    pub const FULL_SIZE: u8 = 7;
    /// FileFsObjectIdInformation (§2.5.6).
    pub const OBJECT_ID: u8 = 8;
    /// FileFsDriverPathInformation (§2.5.3).
    pub const DRIVER_PATH: u8 = 9;
    /// FileFsVolumeFlagsInformation.
    pub const VOLUME_FLAGS: u8 = 10;
    /// FileFsSectorSizeInformation (§2.5.7).
    pub const SECTOR_SIZE: u8 = 11;
}

/// FILE_ATTRIBUTE_* flags ([MS-FSCC] §2.6).
pub mod attributes {
    /// FILE_ATTRIBUTE_READONLY.
    pub const READONLY: u32 = 0x0000_0001;
    /// FILE_ATTRIBUTE_HIDDEN.
    pub const HIDDEN: u32 = 0x0000_0002;
    /// FILE_ATTRIBUTE_SYSTEM.
    pub const SYSTEM: u32 = 0x0000_0004;
    /// FILE_ATTRIBUTE_DIRECTORY.
    pub const DIRECTORY: u32 = 0x0000_0010;
    /// FILE_ATTRIBUTE_ARCHIVE.
    pub const ARCHIVE: u32 = 0x0000_0020;
    /// FILE_ATTRIBUTE_NORMAL: valid only alone.
    pub const NORMAL: u32 = 0x0000_0080;
    /// FILE_ATTRIBUTE_TEMPORARY.
    pub const TEMPORARY: u32 = 0x0000_0100;
    /// FILE_ATTRIBUTE_SPARSE_FILE.
    pub const SPARSE_FILE: u32 = 0x0000_0200;
    /// FILE_ATTRIBUTE_REPARSE_POINT.
    pub const REPARSE_POINT: u32 = 0x0000_0400;
    /// FILE_ATTRIBUTE_COMPRESSED.
    pub const COMPRESSED: u32 = 0x0000_0800;
    /// FILE_ATTRIBUTE_OFFLINE.
    pub const OFFLINE: u32 = 0x0000_1000;
    /// FILE_ATTRIBUTE_NOT_CONTENT_INDEXED.
    pub const NOT_CONTENT_INDEXED: u32 = 0x0000_2000;
    /// FILE_ATTRIBUTE_ENCRYPTED.
    pub const ENCRYPTED: u32 = 0x0000_4000;
    /// FILE_ATTRIBUTE_INTEGRITY_STREAM.
    pub const INTEGRITY_STREAM: u32 = 0x0000_8000;
    /// FILE_ATTRIBUTE_NO_SCRUB_DATA.
    pub const NO_SCRUB_DATA: u32 = 0x0002_0000;
    /// Every attribute [MS-FSCC] §2.6 defines; a SET_INFO with another bit is invalid
    /// (MS-FSA 2.1.5.15.1: STATUS_INVALID_PARAMETER).
    pub const VALID_MASK: u32 = 0x0002_FFB7;
    /// The attributes a client may set through SET_INFO basic (MS-FSA 2.1.5.15.1:
    /// DIRECTORY, COMPRESSED, ENCRYPTED, SPARSE_FILE and REPARSE_POINT are not set this way).
    pub const SETTABLE_MASK: u32 = READONLY
        | HIDDEN
        | SYSTEM
        | ARCHIVE
        | NORMAL
        | TEMPORARY
        | OFFLINE
        | NOT_CONTENT_INDEXED
        | INTEGRITY_STREAM
        | NO_SCRUB_DATA;

    /// The attribute word a query reports: FILE_ATTRIBUTE_NORMAL when no other bit is set
    /// ([MS-FSCC] §2.6: "valid only when used alone"; MS-FSA 2.1.5.12.3).
    pub const fn for_query(attrs: u32) -> u32 {
        let a = attrs & !NORMAL;
        if a == 0 {
            NORMAL
        } else {
            a
        }
    }
}

/// A FILETIME ([MS-DTYP] §2.3.3): 100-nanosecond intervals since 1601-01-01 UTC. SMB2 carries
/// it as a signed 64-bit integer in the information classes ([MS-FSCC] §2.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FileTime(pub u64);

/// FILETIME ticks between 1601-01-01 and the Unix epoch 1970-01-01.
pub const UNIX_EPOCH_FILETIME: u64 = 116_444_736_000_000_000;

impl FileTime {
    /// "Time not known", and what a directory entry without a time carries.
    pub const ZERO: FileTime = FileTime(0);

    /// The FILETIME of a Unix time (seconds and nanoseconds since 1970, seconds may be
    /// negative). Times before 1601 clamp to 0, times past the FILETIME range to the largest
    /// positive value (0x7FFF_FFFF_FFFF_FFFF, so the signed wire field stays a time and never
    /// becomes the -1/-2 markers of SET_INFO). The nanoseconds are truncated to 100 ns.
    pub fn from_unix(secs: i64, nanos: u32) -> FileTime {
        let ticks = i128::from(secs) * 10_000_000
            + i128::from(nanos.min(999_999_999) / 100)
            + i128::from(UNIX_EPOCH_FILETIME);
        FileTime(ticks.clamp(0, i128::from(i64::MAX)) as u64)
    }

    /// The Unix time (seconds, nanoseconds in `0..1e9`) of this FILETIME; exact to 100 ns.
    pub fn to_unix(self) -> (i64, u32) {
        let rel = i128::from(self.0) - i128::from(UNIX_EPOCH_FILETIME);
        let secs = rel.div_euclid(10_000_000);
        let rem = rel.rem_euclid(10_000_000);
        (secs as i64, (rem * 100) as u32)
    }
}

/// What a time field of a SET_INFO FileBasicInformation asks for (MS-FSA 2.1.5.15.1; the
/// `-1`/`-2` forms also in [MS-FSCC] §2.4.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUpdate {
    /// 0: leave the time as it is.
    Unchanged,
    /// -1: leave it, and stop the file system from updating it for the rest of this open
    /// (for example LastWriteTime on later writes through the same handle).
    Freeze,
    /// -2: undo an earlier -1 on this open, so the time is updated by later operations again.
    Unfreeze,
    /// A positive value: set the time to it.
    Set(FileTime),
}

impl TimeUpdate {
    /// The update a wire value asks for; values below -2 are STATUS_INVALID_PARAMETER
    /// (MS-FSA 2.1.5.15.1).
    pub fn from_wire(v: i64) -> Result<TimeUpdate, NtStatus> {
        match v {
            0 => Ok(TimeUpdate::Unchanged),
            -1 => Ok(TimeUpdate::Freeze),
            -2 => Ok(TimeUpdate::Unfreeze),
            v if v > 0 => Ok(TimeUpdate::Set(FileTime(v as u64))),
            _ => Err(NtStatus::INVALID_PARAMETER),
        }
    }
}

/// Most UTF-16 code units a name inside an information buffer may have when decoded
/// (32 KiB units is the NT path limit; the SMB2 buffers are smaller anyway).
pub const MAX_NAME_UNITS: usize = 32 * 1024;
/// Most entries decoded from one list-shaped buffer (streams, directory entries).
pub const MAX_ENTRIES: usize = 65_536;

/// An information class: its number and how to read and write it. Implemented by every
/// structure of [`file`](mod@file), [`fs`] and [`dir`] (directory entries use [`dir::DirEntry`]).
pub trait InfoClass: Sized {
    /// InfoType of QUERY_INFO/SET_INFO ([`info_type`]).
    const INFO_TYPE: u8;
    /// The class number ([`file_class`] or [`fs_class`]).
    const CLASS: u8;
    /// Bytes of the fixed part: an OutputBufferLength below this is
    /// STATUS_INFO_LENGTH_MISMATCH (MS-FSA 2.1.5.12.x, 2.1.5.13.x: "smaller than
    /// sizeof(...)" or "FieldOffset(...)" of the variable part).
    const MIN_LEN: usize;
    /// Writes the structure.
    fn encode(&self, out: &mut impl BufMut);
    /// Reads the structure from the start of `b` (trailing bytes are ignored, as a server
    /// must for SET_INFO buffers longer than the class).
    fn decode(b: &[u8]) -> DecodeResult<Self>;
    /// The encoding cut to at most `max` bytes (`max >= MIN_LEN`), and whether it is whole.
    /// The default cuts the bytes, which is what MS-FSA prescribes for a trailing name
    /// (FileNameInformation, FileFsVolumeInformation, FileFsAttributeInformation: "copy as
    /// many bytes as fit", with the full length left in the length field).
    fn encode_within(&self, max: usize) -> (Vec<u8>, bool) {
        let mut v = Vec::new();
        self.encode(&mut v);
        let whole = v.len() <= max;
        v.truncate(max);
        (v, whole)
    }
    /// The encoding as a vector.
    fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }
}

/// What a QUERY_INFO (file or file-system class) answers: the status and the output buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryOutput {
    /// SUCCESS, or BUFFER_OVERFLOW when only part of a variable-length answer fitted.
    pub status: NtStatus,
    /// The bytes for the response's output buffer.
    pub data: Vec<u8>,
}

/// Applies the OutputBufferLength rules of MS-SMB2 §3.3.5.20.1 and §3.3.5.20.2 (which defer
/// to MS-FSA §2.1.5.12 and §2.1.5.13): a buffer smaller than the class's fixed part fails
/// with STATUS_INFO_LENGTH_MISMATCH and no data; a buffer that holds the fixed part but not
/// the whole answer gets what fits with STATUS_BUFFER_OVERFLOW (only variable-length classes
/// can get there); otherwise STATUS_SUCCESS and the whole answer.
///
/// Samba 4.17 agrees where the buffer is below the minimum (FileAllInformation in 100 bytes,
/// FileStreamInformation in 30) but also answers INFO_LENGTH_MISMATCH where MS-FSA gives a
/// partial name with BUFFER_OVERFLOW (FileFsAttributeInformation in 14 bytes); this follows
/// MS-FSA, as Windows does (see `tests/fscc_capture.rs`).
pub fn fit_query_output<T: InfoClass>(
    value: &T,
    output_buffer_length: u32,
) -> Result<QueryOutput, NtStatus> {
    let max = output_buffer_length as usize;
    if max < T::MIN_LEN {
        return Err(NtStatus::INFO_LENGTH_MISMATCH);
    }
    let (data, whole) = value.encode_within(max);
    Ok(QueryOutput {
        status: if whole {
            NtStatus::SUCCESS
        } else {
            NtStatus::BUFFER_OVERFLOW
        },
        data,
    })
}

/// The OutputBufferLength rule for a security descriptor (MS-SMB2 §3.3.5.20.3): when the
/// descriptor does not fit, the answer is STATUS_BUFFER_TOO_SMALL with ErrorData holding
/// the 4-byte size needed (returned here as `Err((status, needed))`).
pub fn fit_security_output(
    sd: Vec<u8>,
    output_buffer_length: u32,
) -> Result<Vec<u8>, (NtStatus, u32)> {
    if sd.len() > output_buffer_length as usize {
        let needed = u32::try_from(sd.len()).unwrap_or(u32::MAX);
        Err((NtStatus::BUFFER_TOO_SMALL, needed))
    } else {
        Ok(sd)
    }
}

/// Runs a nom parser, mapping running out of bytes to [`DecodeError::Truncated`].
pub(crate) fn parse<'a, O>(
    what: &'static str,
    input: &'a [u8],
    parser: impl FnMut(&'a [u8]) -> nom::IResult<&'a [u8], O>,
) -> DecodeResult<(&'a [u8], O)> {
    crate::wire::run(what, input, parser)
}

/// `len` bytes of a UTF-16LE name from the start of `b`, as code units, refusing odd and
/// over-long lengths before allocating.
pub(crate) fn name_units(what: &'static str, b: &[u8], len: u32) -> DecodeResult<Vec<u16>> {
    let len = len as usize;
    crate::wire::limit(what, len / 2, MAX_NAME_UNITS)?;
    let bytes = b.get(..len).ok_or(DecodeError::Truncated { what })?;
    crate::wire::utf16_units(what, bytes)
}

/// Writes UTF-16 code units little-endian.
pub(crate) fn put_units(out: &mut impl BufMut, units: &[u16]) {
    crate::wire::put_utf16_units(out, units)
}

/// Byte length of a name, as the u32 length fields carry it.
pub(crate) fn units_len(units: &[u16]) -> u32 {
    u32::try_from(units.len() * 2).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names() {
        assert_eq!(
            file_class_name(file_class::ID_BOTH_DIRECTORY),
            Some("FileIdBothDirectoryInformation")
        );
        assert_eq!(
            file_class_name(file_class::RENAME_EX),
            Some("FileRenameInformationEx")
        );
        assert_eq!(file_class_name(200), None);
        assert_eq!(
            fs_class_name(fs_class::FULL_SIZE),
            Some("FileFsFullSizeInformation")
        );
        assert_eq!(fs_class_name(0), None);
        // Every name is distinct and says what it is.
        let names: Vec<&str> = (0..=255u8).filter_map(file_class_name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
        assert!(names
            .iter()
            .all(|n| n.starts_with("File") && n.contains("Information")));
    }

    #[test]
    fn filetime_unix_epoch_and_round_trip() {
        assert_eq!(FileTime::from_unix(0, 0), FileTime(UNIX_EPOCH_FILETIME));
        // 2024-01-02 03:04:05.123456789 UTC, the time of hello.txt in the Samba captures.
        let t = FileTime::from_unix(1_704_164_645, 123_456_789);
        assert_eq!(t, FileTime(133_486_382_451_234_567));
        assert_eq!(t.to_unix(), (1_704_164_645, 123_456_700));
        // Before 1970: negative seconds, positive nanoseconds.
        assert_eq!(
            FileTime(UNIX_EPOCH_FILETIME - 1).to_unix(),
            (-1, 999_999_900)
        );
        assert_eq!(
            FileTime::from_unix(-1, 999_999_900),
            FileTime(UNIX_EPOCH_FILETIME - 1)
        );
        // Clamped at both ends.
        assert_eq!(FileTime::from_unix(i64::MIN, 0), FileTime(0));
        assert_eq!(FileTime::from_unix(i64::MAX, 0), FileTime(i64::MAX as u64));
    }

    #[test]
    fn set_info_time_markers() {
        assert_eq!(TimeUpdate::from_wire(0), Ok(TimeUpdate::Unchanged));
        assert_eq!(TimeUpdate::from_wire(-1), Ok(TimeUpdate::Freeze));
        assert_eq!(TimeUpdate::from_wire(-2), Ok(TimeUpdate::Unfreeze));
        assert_eq!(TimeUpdate::from_wire(5), Ok(TimeUpdate::Set(FileTime(5))));
        assert_eq!(TimeUpdate::from_wire(-3), Err(NtStatus::INVALID_PARAMETER));
    }

    #[test]
    fn normal_only_alone() {
        assert_eq!(attributes::for_query(0), attributes::NORMAL);
        assert_eq!(
            attributes::for_query(attributes::NORMAL | attributes::ARCHIVE),
            attributes::ARCHIVE
        );
        assert_eq!(
            attributes::for_query(attributes::DIRECTORY),
            attributes::DIRECTORY
        );
    }
}
