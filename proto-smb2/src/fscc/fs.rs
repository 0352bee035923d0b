//! File-system information classes ([MS-FSCC] §2.5) that QUERY_INFO answers for InfoType
//! SMB2_0_INFO_FILESYSTEM, and the attribute flags a POSIX-backed server claims.

use super::{fs_class, info_type, name_units, parse, put_units, units_len, FileTime, InfoClass};
use crate::error::DecodeResult;
use bytes::BufMut;
use nom::bytes::complete::take;
use nom::number::complete::{le_i32, le_u32, le_u64, le_u8};
use nom::sequence::tuple;

/// FileSystemAttributes flags of FileFsAttributeInformation ([MS-FSCC] §2.5.1).
pub mod fs_attributes {
    /// FILE_CASE_SENSITIVE_SEARCH.
    pub const CASE_SENSITIVE_SEARCH: u32 = 0x0000_0001;
    /// FILE_CASE_PRESERVED_NAMES.
    pub const CASE_PRESERVED_NAMES: u32 = 0x0000_0002;
    /// FILE_UNICODE_ON_DISK.
    pub const UNICODE_ON_DISK: u32 = 0x0000_0004;
    /// FILE_PERSISTENT_ACLS.
    pub const PERSISTENT_ACLS: u32 = 0x0000_0008;
    /// FILE_FILE_COMPRESSION.
    pub const FILE_COMPRESSION: u32 = 0x0000_0010;
    /// FILE_VOLUME_QUOTAS.
    pub const VOLUME_QUOTAS: u32 = 0x0000_0020;
    /// FILE_SUPPORTS_SPARSE_FILES.
    pub const SUPPORTS_SPARSE_FILES: u32 = 0x0000_0040;
    /// FILE_SUPPORTS_REPARSE_POINTS.
    pub const SUPPORTS_REPARSE_POINTS: u32 = 0x0000_0080;
    /// FILE_SUPPORTS_OBJECT_IDS.
    pub const SUPPORTS_OBJECT_IDS: u32 = 0x0001_0000;
    /// FILE_SUPPORTS_ENCRYPTION.
    pub const SUPPORTS_ENCRYPTION: u32 = 0x0002_0000;
    /// FILE_NAMED_STREAMS.
    pub const NAMED_STREAMS: u32 = 0x0004_0000;
    /// FILE_READ_ONLY_VOLUME.
    pub const READ_ONLY_VOLUME: u32 = 0x0008_0000;
    /// FILE_SUPPORTS_HARD_LINKS.
    pub const SUPPORTS_HARD_LINKS: u32 = 0x0040_0000;
    /// FILE_SUPPORTS_EXTENDED_ATTRIBUTES.
    pub const SUPPORTS_EXTENDED_ATTRIBUTES: u32 = 0x0080_0000;

    /// What Janus claims for a share: what Samba 4.17 reports for a POSIX file system
    /// (0x0005_006F in `tests/fscc_capture.rs`: case-sensitive search, case-preserved names,
    /// Unicode on disk, persistent ACLs, volume quotas, sparse files, object ids, named
    /// streams) without the two Janus does not have: named streams (no streams are stored)
    /// and volume quotas (no quota support). Persistent ACLs stays: the descriptors derived
    /// from the mode are real and persistent, and clients only offer the security UI with
    /// it. A read-only share adds [`READ_ONLY_VOLUME`].
    ///
    /// FILE_CASE_SENSITIVE_SEARCH is claimed even for a case-insensitive share, as Samba
    /// does: it says the file system *can* search case-sensitively, and clients do not
    /// send case-sensitive requests over SMB2 anyway.
    pub const JANUS: u32 = CASE_SENSITIVE_SEARCH
        | CASE_PRESERVED_NAMES
        | UNICODE_ON_DISK
        | PERSISTENT_ACLS
        | SUPPORTS_SPARSE_FILES
        | SUPPORTS_OBJECT_IDS;
}

/// DeviceType and Characteristics values of FileFsDeviceInformation ([MS-FSCC] §2.5.10).
pub mod device {
    /// FILE_DEVICE_DISK.
    pub const FILE_DEVICE_DISK: u32 = 0x0000_0007;
    /// FILE_DEVICE_NAMED_PIPE.
    pub const FILE_DEVICE_NAMED_PIPE: u32 = 0x0000_0011;
    /// FILE_REMOVABLE_MEDIA.
    pub const FILE_REMOVABLE_MEDIA: u32 = 0x0000_0001;
    /// FILE_READ_ONLY_DEVICE.
    pub const FILE_READ_ONLY_DEVICE: u32 = 0x0000_0002;
    /// FILE_REMOTE_DEVICE.
    pub const FILE_REMOTE_DEVICE: u32 = 0x0000_0010;
    /// FILE_DEVICE_IS_MOUNTED.
    pub const FILE_DEVICE_IS_MOUNTED: u32 = 0x0000_0020;
}

/// FileFsVolumeInformation (§2.5.9): 18 bytes, then the label.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileFsVolumeInformation {
    /// VolumeCreationTime.
    pub volume_creation_time: FileTime,
    /// VolumeSerialNumber.
    pub volume_serial_number: u32,
    /// SupportsObjects.
    pub supports_objects: bool,
    /// VolumeLabel, UTF-16 code units (Samba answers the share name).
    pub volume_label: Vec<u16>,
}

impl InfoClass for FileFsVolumeInformation {
    const INFO_TYPE: u8 = info_type::FILESYSTEM;
    const CLASS: u8 = fs_class::VOLUME;
    /// BlockAlign(FieldOffset(VolumeLabel), 8) (MS-FSA 2.1.5.13.1).
    const MIN_LEN: usize = 24;

    fn encode(&self, out: &mut impl BufMut) {
        out.put_u64_le(self.volume_creation_time.0);
        out.put_u32_le(self.volume_serial_number);
        out.put_u32_le(units_len(&self.volume_label));
        out.put_u8(u8::from(self.supports_objects));
        out.put_u8(0);
        put_units(out, &self.volume_label);
    }

    fn decode(b: &[u8]) -> DecodeResult<Self> {
        let what = "FileFsVolumeInformation";
        let (rest, (t, serial, len, objs, _)) =
            parse(what, b, tuple((le_u64, le_u32, le_u32, le_u8, le_u8)))?;
        Ok(FileFsVolumeInformation {
            volume_creation_time: FileTime(t),
            volume_serial_number: serial,
            supports_objects: objs != 0,
            volume_label: name_units(what, rest, len)?,
        })
    }
}

/// FileFsSizeInformation (§2.5.8), 24 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileFsSizeInformation {
    /// TotalAllocationUnits.
    pub total_allocation_units: u64,
    /// AvailableAllocationUnits (for the caller).
    pub available_allocation_units: u64,
    /// SectorsPerAllocationUnit.
    pub sectors_per_allocation_unit: u32,
    /// BytesPerSector.
    pub bytes_per_sector: u32,
}

impl InfoClass for FileFsSizeInformation {
    const INFO_TYPE: u8 = info_type::FILESYSTEM;
    const CLASS: u8 = fs_class::SIZE;
    const MIN_LEN: usize = 24;

    fn encode(&self, out: &mut impl BufMut) {
        out.put_u64_le(self.total_allocation_units);
        out.put_u64_le(self.available_allocation_units);
        out.put_u32_le(self.sectors_per_allocation_unit);
        out.put_u32_le(self.bytes_per_sector);
    }

    fn decode(b: &[u8]) -> DecodeResult<Self> {
        let (_, (t, a, s, bps)) = parse(
            "FileFsSizeInformation",
            b,
            tuple((le_u64, le_u64, le_u32, le_u32)),
        )?;
        Ok(FileFsSizeInformation {
            total_allocation_units: t,
            available_allocation_units: a,
            sectors_per_allocation_unit: s,
            bytes_per_sector: bps,
        })
    }
}

/// FileFsFullSizeInformation (§2.5.4), 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileFsFullSizeInformation {
    /// TotalAllocationUnits.
    pub total_allocation_units: u64,
    /// CallerAvailableAllocationUnits.
    pub caller_available_allocation_units: u64,
    /// ActualAvailableAllocationUnits.
    pub actual_available_allocation_units: u64,
    /// SectorsPerAllocationUnit.
    pub sectors_per_allocation_unit: u32,
    /// BytesPerSector.
    pub bytes_per_sector: u32,
}

impl FileFsFullSizeInformation {
    /// The answer for a file system of `total` and `available` (to the caller) and
    /// `free` (to root) blocks of `block` bytes, in Samba's shape: 512-byte sectors,
    /// `block / 512` sectors per unit (at least 1).
    pub fn from_blocks(block: u32, total: u64, available: u64, free: u64) -> Self {
        let bytes_per_sector = 512u32;
        FileFsFullSizeInformation {
            total_allocation_units: total,
            caller_available_allocation_units: available,
            actual_available_allocation_units: free,
            sectors_per_allocation_unit: (block / bytes_per_sector).max(1),
            bytes_per_sector,
        }
    }

    /// The FileFsSizeInformation with the same figures (the caller's available units).
    pub fn size(&self) -> FileFsSizeInformation {
        FileFsSizeInformation {
            total_allocation_units: self.total_allocation_units,
            available_allocation_units: self.caller_available_allocation_units,
            sectors_per_allocation_unit: self.sectors_per_allocation_unit,
            bytes_per_sector: self.bytes_per_sector,
        }
    }
}

impl InfoClass for FileFsFullSizeInformation {
    const INFO_TYPE: u8 = info_type::FILESYSTEM;
    const CLASS: u8 = fs_class::FULL_SIZE;
    const MIN_LEN: usize = 32;

    fn encode(&self, out: &mut impl BufMut) {
        out.put_u64_le(self.total_allocation_units);
        out.put_u64_le(self.caller_available_allocation_units);
        out.put_u64_le(self.actual_available_allocation_units);
        out.put_u32_le(self.sectors_per_allocation_unit);
        out.put_u32_le(self.bytes_per_sector);
    }

    fn decode(b: &[u8]) -> DecodeResult<Self> {
        let (_, (t, c, a, s, bps)) = parse(
            "FileFsFullSizeInformation",
            b,
            tuple((le_u64, le_u64, le_u64, le_u32, le_u32)),
        )?;
        Ok(FileFsFullSizeInformation {
            total_allocation_units: t,
            caller_available_allocation_units: c,
            actual_available_allocation_units: a,
            sectors_per_allocation_unit: s,
            bytes_per_sector: bps,
        })
    }
}

/// FileFsDeviceInformation (§2.5.10), 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileFsDeviceInformation {
    /// DeviceType ([`device`]).
    pub device_type: u32,
    /// Characteristics ([`device`]).
    pub characteristics: u32,
}

impl InfoClass for FileFsDeviceInformation {
    const INFO_TYPE: u8 = info_type::FILESYSTEM;
    const CLASS: u8 = fs_class::DEVICE;
    const MIN_LEN: usize = 8;

    fn encode(&self, out: &mut impl BufMut) {
        out.put_u32_le(self.device_type);
        out.put_u32_le(self.characteristics);
    }

    fn decode(b: &[u8]) -> DecodeResult<Self> {
        let (_, (t, c)) = parse("FileFsDeviceInformation", b, tuple((le_u32, le_u32)))?;
        Ok(FileFsDeviceInformation {
            device_type: t,
            characteristics: c,
        })
    }
}

/// FileFsAttributeInformation (§2.5.1): 12 bytes, then the file-system name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileFsAttributeInformation {
    /// FileSystemAttributes ([`fs_attributes`]).
    pub file_system_attributes: u32,
    /// MaximumComponentNameLength (255).
    pub maximum_component_name_length: i32,
    /// FileSystemName, UTF-16 code units ("NTFS", as Samba answers: clients enable
    /// features by that name).
    pub file_system_name: Vec<u16>,
}

impl FileFsAttributeInformation {
    /// Janus's answer: [`fs_attributes::JANUS`] (plus READ_ONLY_VOLUME for a read-only
    /// share), 255-unit components, "NTFS".
    pub fn janus(read_only: bool) -> Self {
        FileFsAttributeInformation {
            file_system_attributes: fs_attributes::JANUS
                | if read_only {
                    fs_attributes::READ_ONLY_VOLUME
                } else {
                    0
                },
            maximum_component_name_length: 255,
            file_system_name: "NTFS".encode_utf16().collect(),
        }
    }
}

impl InfoClass for FileFsAttributeInformation {
    const INFO_TYPE: u8 = info_type::FILESYSTEM;
    const CLASS: u8 = fs_class::ATTRIBUTE;
    /// BlockAlign(FieldOffset(FileSystemName), 4) (MS-FSA 2.1.5.13.5).
    const MIN_LEN: usize = 12;

    fn encode(&self, out: &mut impl BufMut) {
        out.put_u32_le(self.file_system_attributes);
        out.put_i32_le(self.maximum_component_name_length);
        out.put_u32_le(units_len(&self.file_system_name));
        put_units(out, &self.file_system_name);
    }

    fn decode(b: &[u8]) -> DecodeResult<Self> {
        let what = "FileFsAttributeInformation";
        let (rest, (a, m, len)) = parse(what, b, tuple((le_u32, le_i32, le_u32)))?;
        Ok(FileFsAttributeInformation {
            file_system_attributes: a,
            maximum_component_name_length: m,
            file_system_name: name_units(what, rest, len)?,
        })
    }
}

/// FileFsSectorSizeInformation (§2.5.7), 28 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileFsSectorSizeInformation {
    /// LogicalBytesPerSector.
    pub logical_bytes_per_sector: u32,
    /// PhysicalBytesPerSectorForAtomicity.
    pub physical_bytes_per_sector_for_atomicity: u32,
    /// PhysicalBytesPerSectorForPerformance.
    pub physical_bytes_per_sector_for_performance: u32,
    /// FileSystemEffectivePhysicalBytesPerSectorForAtomicity.
    pub effective_physical_bytes_per_sector_for_atomicity: u32,
    /// Flags (SSINFO_FLAGS_*).
    pub flags: u32,
    /// ByteOffsetForSectorAlignment.
    pub byte_offset_for_sector_alignment: u32,
    /// ByteOffsetForPartitionAlignment.
    pub byte_offset_for_partition_alignment: u32,
}

/// SSINFO_FLAGS_ALIGNED_DEVICE ([MS-FSCC] §2.5.7).
pub const SSINFO_FLAGS_ALIGNED_DEVICE: u32 = 0x0000_0001;
/// SSINFO_FLAGS_PARTITION_ALIGNED_ON_DEVICE.
pub const SSINFO_FLAGS_PARTITION_ALIGNED_ON_DEVICE: u32 = 0x0000_0002;

impl FileFsSectorSizeInformation {
    /// Every size `sector` bytes, aligned device and partition, offsets 0 (Samba's answer
    /// with its 512-byte sector).
    pub fn uniform(sector: u32) -> Self {
        FileFsSectorSizeInformation {
            logical_bytes_per_sector: sector,
            physical_bytes_per_sector_for_atomicity: sector,
            physical_bytes_per_sector_for_performance: sector,
            effective_physical_bytes_per_sector_for_atomicity: sector,
            flags: SSINFO_FLAGS_ALIGNED_DEVICE | SSINFO_FLAGS_PARTITION_ALIGNED_ON_DEVICE,
            byte_offset_for_sector_alignment: 0,
            byte_offset_for_partition_alignment: 0,
        }
    }
}

impl InfoClass for FileFsSectorSizeInformation {
    const INFO_TYPE: u8 = info_type::FILESYSTEM;
    const CLASS: u8 = fs_class::SECTOR_SIZE;
    const MIN_LEN: usize = 28;

    fn encode(&self, out: &mut impl BufMut) {
        for v in [
            self.logical_bytes_per_sector,
            self.physical_bytes_per_sector_for_atomicity,
            self.physical_bytes_per_sector_for_performance,
            self.effective_physical_bytes_per_sector_for_atomicity,
            self.flags,
            self.byte_offset_for_sector_alignment,
            self.byte_offset_for_partition_alignment,
        ] {
            out.put_u32_le(v);
        }
    }

    fn decode(b: &[u8]) -> DecodeResult<Self> {
        let (_, (a, b2, c, d, e, f, g)) = parse(
            "FileFsSectorSizeInformation",
            b,
            tuple((le_u32, le_u32, le_u32, le_u32, le_u32, le_u32, le_u32)),
        )?;
        Ok(FileFsSectorSizeInformation {
            logical_bytes_per_sector: a,
            physical_bytes_per_sector_for_atomicity: b2,
            physical_bytes_per_sector_for_performance: c,
            effective_physical_bytes_per_sector_for_atomicity: d,
            flags: e,
            byte_offset_for_sector_alignment: f,
            byte_offset_for_partition_alignment: g,
        })
    }
}

/// FileFsObjectIdInformation (§2.5.6), 64 bytes: the volume's object id and 48 bytes of
/// extended information.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileFsObjectIdInformation {
    /// ObjectId (a GUID).
    pub object_id: [u8; 16],
    /// ExtendedInfo.
    pub extended_info: [u8; 48],
}

impl Default for FileFsObjectIdInformation {
    fn default() -> Self {
        FileFsObjectIdInformation {
            object_id: [0; 16],
            extended_info: [0; 48],
        }
    }
}

impl InfoClass for FileFsObjectIdInformation {
    const INFO_TYPE: u8 = info_type::FILESYSTEM;
    const CLASS: u8 = fs_class::OBJECT_ID;
    const MIN_LEN: usize = 64;

    fn encode(&self, out: &mut impl BufMut) {
        out.put_slice(&self.object_id);
        out.put_slice(&self.extended_info);
    }

    fn decode(b: &[u8]) -> DecodeResult<Self> {
        let (_, (id, ext)) = parse(
            "FileFsObjectIdInformation",
            b,
            tuple((take(16usize), take(48usize))),
        )?;
        let mut v = FileFsObjectIdInformation::default();
        v.object_id.copy_from_slice(id);
        v.extended_info.copy_from_slice(ext);
        Ok(v)
    }
}
