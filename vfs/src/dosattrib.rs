//! The `user.DOSATTRIB` extended attribute: where the local backend keeps a file's DOS
//! attributes and SMB creation time, in the byte format Samba uses, so a share served by
//! Samba and by Janus (or by one, then the other) shows the same attributes.
//!
//! Samba stores an NDR blob `xattr_DOSATTRIB` (Samba's `librpc/idl/xattr.idl`, custom pull
//! and push in `librpc/ndr/ndr_xattr.c`): an ASCII NUL-terminated string `attrib_hex`,
//! then (if bytes remain) a `uint16` version and the union level (`uint16`, the same
//! number), then the version's structure, each field aligned to its size (4 at most:
//! NTTIME and `udlong` are 4-aligned):
//!
//! | version | structure after the level | written by |
//! |---|---|---|
//! | (none) | — the string itself is the attributes in hex, `"0x20"` | Samba 3.x |
//! | 1 | attrib u32, ea_size u32, size u64, alloc_size u64, create_time NTTIME, change_time NTTIME | Samba 3.x |
//! | 2 | flags u32, attrib u32, ... (creation time unused by Samba) | old Samba 4 betas |
//! | 3 | valid_flags u32, attrib u32, ea_size u32, size u64, alloc_size u64, create_time, change_time | Samba 4.0–4.8 |
//! | 4 | valid_flags u32, attrib u32, itime NTTIME, create_time NTTIME | Samba 4.9–4.10 |
//! | 5 | valid_flags u32, attrib u32, create_time NTTIME | Samba 4.11+ (and Janus) |
//!
//! `valid_flags` bit 0x01 (XATTR_DOSINFO_ATTRIB) and 0x10 (XATTR_DOSINFO_CREATE_TIME) say
//! which fields hold data; a create time of 0 or all ones is "none" (Samba's `null_nttime`).
//! Janus writes version 5 with both flags and an empty `attrib_hex`, byte for byte what Samba
//! 4.17 writes (checked against a file Samba wrote: `00 00 05 00 05 00 00 00 11 00 00 00`,
//! attrib, create time), reads every version above, and refuses anything else as
//! [`Malformed`] (the local backend then reports derived attributes, as Samba does for a
//! blob it cannot parse).

use crate::Timestamp;

/// Name of the extended attribute (Samba's `SAMBA_XATTR_DOS_ATTRIB`).
pub const XATTR_NAME: &str = "user.DOSATTRIB";
/// Longest blob read (Samba reads into a 256-byte `fstring`).
pub const MAX_LEN: usize = 256;

const VALID_ATTRIB: u32 = 0x01;
const VALID_CREATE_TIME: u32 = 0x10;
/// Seconds from 1601-01-01 (the NTTIME epoch) to 1970-01-01.
const NT_EPOCH_OFFSET: i64 = 11_644_473_600;

/// What a `user.DOSATTRIB` blob says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DosInfo {
    /// The DOS attribute word as stored (Samba includes DIRECTORY for directories).
    pub attributes: u32,
    /// The stored creation time, if valid.
    pub create_time: Option<Timestamp>,
}

/// A blob that is not a `xattr_DOSATTRIB` Janus can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// A time as NTTIME (100-ns intervals since 1601), saturating at the ends of the range.
pub fn to_nttime(t: Timestamp) -> u64 {
    let secs = i128::from(t.secs) + i128::from(NT_EPOCH_OFFSET);
    let v = secs * 10_000_000 + i128::from(t.nsecs.min(999_999_999) / 100);
    // 0 and u64::MAX mean "no time" to Samba; keep real times clear of both.
    v.clamp(1, i128::from(u64::MAX - 1)) as u64
}

/// An NTTIME as a time; `None` for Samba's null times (0 and all ones).
pub fn from_nttime(v: u64) -> Option<Timestamp> {
    if v == 0 || v == u64::MAX {
        return None;
    }
    let secs = (v / 10_000_000) as i64 - NT_EPOCH_OFFSET;
    let nsecs = ((v % 10_000_000) * 100) as u32;
    Some(Timestamp { secs, nsecs })
}

/// The version-5 blob for `attributes` and `create_time`.
pub fn encode(attributes: u32, create_time: Timestamp) -> Vec<u8> {
    let mut v = Vec::with_capacity(24);
    v.push(0); // attrib_hex = "" (NUL-terminated)
    v.push(0); // align the version to 2
    v.extend_from_slice(&5u16.to_le_bytes()); // version
    v.extend_from_slice(&5u16.to_le_bytes()); // union level
    v.extend_from_slice(&[0, 0]); // align the structure to 4
    v.extend_from_slice(&(VALID_ATTRIB | VALID_CREATE_TIME).to_le_bytes());
    v.extend_from_slice(&attributes.to_le_bytes());
    v.extend_from_slice(&to_nttime(create_time).to_le_bytes());
    v
}

/// An NDR reader with alignment relative to the blob's start.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, align: usize, n: usize) -> Result<&[u8], Malformed> {
        let start = self.at.div_ceil(align) * align;
        let end = start.checked_add(n).ok_or(Malformed)?;
        let out = self.b.get(start..end).ok_or(Malformed)?;
        self.at = end;
        Ok(out)
    }

    fn u16(&mut self) -> Result<u16, Malformed> {
        let b = self.take(2, 2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, Malformed> {
        let b = self.take(4, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// `udlong` / NTTIME: two 4-aligned little-endian halves, low first.
    fn u64(&mut self) -> Result<u64, Malformed> {
        let lo = u64::from(self.u32()?);
        let hi = u64::from(self.u32()?);
        Ok(lo | (hi << 32))
    }
}

/// Parses the hex string of the oldest form (`"0x20"`, as `sscanf("%x")` reads it).
fn parse_hex(s: &[u8]) -> Result<u32, Malformed> {
    let s = std::str::from_utf8(s).map_err(|_| Malformed)?.trim();
    let digits = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    if digits.is_empty() || digits.len() > 8 {
        return Err(Malformed);
    }
    u32::from_str_radix(digits, 16).map_err(|_| Malformed)
}

/// Reads a `user.DOSATTRIB` blob of any version Samba has written.
pub fn decode(blob: &[u8]) -> Result<DosInfo, Malformed> {
    // attrib_hex: ASCII up to a NUL (Samba 3.x wrote the string alone, with or without one).
    let nul = blob.iter().position(|b| *b == 0);
    let hex = &blob[..nul.unwrap_or(blob.len())];
    let after = nul.map_or(blob.len(), |i| i + 1);
    if after >= blob.len() {
        return Ok(DosInfo {
            attributes: parse_hex(hex)?,
            create_time: None,
        });
    }
    let mut r = Reader { b: blob, at: after };
    let version = r.u16()?;
    let level = r.u16()?;
    if level != version {
        return Err(Malformed);
    }
    let time = |valid: bool, t: u64| if valid { from_nttime(t) } else { None };
    let info = match version {
        1 => {
            let attributes = r.u32()?;
            let _ea_size = r.u32()?;
            let _size = r.u64()?;
            let _alloc = r.u64()?;
            let create = r.u64()?;
            let _change = r.u64()?;
            DosInfo {
                attributes,
                create_time: from_nttime(create),
            }
        }
        2 => {
            let _flags = r.u32()?;
            DosInfo {
                attributes: r.u32()?,
                create_time: None,
            }
        }
        3 => {
            let valid = r.u32()?;
            let attributes = r.u32()?;
            let _ea_size = r.u32()?;
            let _size = r.u64()?;
            let _alloc = r.u64()?;
            let create = r.u64()?;
            let _change = r.u64()?;
            DosInfo {
                attributes,
                create_time: time(valid & VALID_CREATE_TIME != 0, create),
            }
        }
        4 => {
            let valid = r.u32()?;
            let attributes = r.u32()?;
            let _itime = r.u64()?;
            let create = r.u64()?;
            DosInfo {
                attributes,
                create_time: time(valid & VALID_CREATE_TIME != 0, create),
            }
        }
        5 => {
            let valid = r.u32()?;
            let attributes = r.u32()?;
            let create = r.u64()?;
            DosInfo {
                attributes,
                create_time: time(valid & VALID_CREATE_TIME != 0, create),
            }
        }
        _ => return Err(Malformed),
    };
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn reads_what_samba_4_17_wrote_and_writes_the_same_bytes() {
        // `getfattr -e hex -n user.DOSATTRIB` of files Samba 4.17.12 created over SMB:
        // a file (ARCHIVE), one after `setmode +hr` (0x23), a directory after `+s` (0x14),
        // and a file after `utimes` set its create time to 2020-01-02 03:04:05.
        let cases = [
            ("00000500050000001100000020000000331e1fdf2e83dd01", 0x20),
            ("000005000500000011000000230000002c471fdf2e83dd01", 0x23),
            ("00000500050000001100000014000000dece1fdf2e83dd01", 0x14),
            ("000005000500000011000000200000008000c44a19c1d501", 0x20),
        ];
        for (blob, attributes) in cases {
            let info = decode(&hex(blob)).expect(blob);
            assert_eq!(info.attributes, attributes);
            let t = info.create_time.expect("create time");
            assert_eq!(encode(info.attributes, t), hex(blob), "round trip");
        }
        let set = decode(&hex(cases[3].0)).unwrap().create_time.unwrap();
        // 2020-01-02 03:04:05 UTC (smbclient's "utimes" takes local time; the lab is UTC).
        assert_eq!(
            set,
            Timestamp {
                secs: 1_577_934_245,
                nsecs: 0
            }
        );
    }

    #[test]
    fn older_versions_and_the_hex_string_form() {
        assert_eq!(
            decode(b"0x21\0"),
            Ok(DosInfo {
                attributes: 0x21,
                create_time: None
            })
        );
        assert_eq!(decode(b"0x2").map(|i| i.attributes), Ok(2));
        let t = Timestamp {
            secs: 1_600_000_000,
            nsecs: 123_456_700,
        };
        let nt = to_nttime(t).to_le_bytes();
        // Version 3: "0x20" string, pad to 2, version, level, valid flags, attrib, ea_size,
        // size, alloc, create, change.
        let mut v3 = b"0x20\0".to_vec();
        v3.push(0);
        v3.extend_from_slice(&[3, 0, 3, 0]);
        v3.extend_from_slice(&[0, 0]);
        v3.extend_from_slice(&0x11u32.to_le_bytes());
        v3.extend_from_slice(&0x20u32.to_le_bytes());
        v3.extend_from_slice(&[0; 4 + 8 + 8]);
        v3.extend_from_slice(&nt);
        v3.extend_from_slice(&[0; 8]);
        assert_eq!(
            decode(&v3),
            Ok(DosInfo {
                attributes: 0x20,
                create_time: Some(t)
            })
        );
        // Version 4: itime before the create time; without the flag the time is ignored.
        let mut v4 = vec![0, 0, 4, 0, 4, 0, 0, 0];
        v4.extend_from_slice(&0x01u32.to_le_bytes());
        v4.extend_from_slice(&0x02u32.to_le_bytes());
        v4.extend_from_slice(&[0; 8]);
        v4.extend_from_slice(&nt);
        assert_eq!(
            decode(&v4),
            Ok(DosInfo {
                attributes: 2,
                create_time: None
            })
        );
    }

    #[test]
    fn garbage_is_malformed_never_a_panic() {
        for bad in [
            &b""[..],
            b"\0",
            b"zz\0",
            b"0x123456789\0",
            &[0, 0, 5, 0, 4, 0, 0, 0, 0x11, 0, 0, 0],
            &[0, 0, 9, 0, 9, 0, 0, 0],
            &[0, 0, 5, 0, 5, 0, 0, 0, 0x11, 0, 0, 0, 0x20, 0, 0],
        ] {
            assert_eq!(decode(bad), Err(Malformed), "{bad:?}");
        }
        for len in 0..40 {
            let _ = decode(&vec![0xa5; len]);
            let _ = decode(&[&[0u8, 0, 5, 0, 5, 0][..], &vec![0xff; len]].concat());
        }
    }

    #[test]
    fn nttime_conversion() {
        let t = Timestamp { secs: 0, nsecs: 0 };
        assert_eq!(to_nttime(t), 116_444_736_000_000_000);
        assert_eq!(from_nttime(to_nttime(t)), Some(t));
        let odd = Timestamp {
            secs: 1,
            nsecs: 999_999_999,
        };
        assert_eq!(
            from_nttime(to_nttime(odd)),
            Some(Timestamp {
                secs: 1,
                nsecs: 999_999_900
            }),
            "100-ns granularity"
        );
        assert_eq!(from_nttime(0), None);
        assert_eq!(from_nttime(u64::MAX), None);
        assert_eq!(
            to_nttime(Timestamp {
                secs: i64::MIN,
                nsecs: 0
            }),
            1
        );
    }
}
