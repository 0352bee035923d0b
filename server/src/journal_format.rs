//! The journal file's on-disk format, as bytes: framing a record, and reading back the valid
//! prefix of a file a crash may have torn. What goes in a record is
//! [`crate::nlm_journal`]'s business; the file, its `fdatasync` and its truncation are the
//! runtime's (`runtime-mio`'s `journal`). Any runtime that serves the same state directory
//! must read and write exactly these bytes, so they live here, pure and testable without a
//! file.
//!
//! An 8-byte [`MAGIC`] `JANUSJ01`, then frames:
//!
//! ```text
//! [payload length: u32 LE][kind: u8][CRC-32 (IEEE) of kind and payload: u32 LE][payload]
//! ```
//!
//! `kind` 1 is a record, 2 the clean-shutdown marker (empty payload). A frame whose length
//! exceeds [`MAX_RECORD`], whose bytes end early, or whose CRC does not match ends the valid
//! journal ([`scan`]): it is a torn write from a crash, and the runtime truncates the file
//! there so later appends follow the last good frame.

/// Magic bytes at the start of the file (format version 1).
pub const MAGIC: &[u8; 8] = b"JANUSJ01";
/// Largest record payload accepted (and believed when reading a length).
pub const MAX_RECORD: usize = 1024 * 1024;

const KIND_RECORD: u8 = 1;
const KIND_CLEAN: u8 = 2;
const HEADER: usize = 9;

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320) lookup table.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// CRC-32 (IEEE) of the concatenation of `parts`.
pub fn crc32(parts: &[&[u8]]) -> u32 {
    let mut c = !0u32;
    for part in parts {
        for &b in *part {
            c = CRC_TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
        }
    }
    !c
}

fn encode_frame(out: &mut Vec<u8>, kind: u8, payload: &[u8]) {
    // Length fits: callers check MAX_RECORD (< u32::MAX).
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.push(kind);
    out.extend_from_slice(&crc32(&[&[kind], payload]).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Appends the frame of one record to `out`; `false` (and nothing appended) when the
/// record is larger than [`MAX_RECORD`].
pub fn encode_record(out: &mut Vec<u8>, record: &[u8]) -> bool {
    if record.len() > MAX_RECORD {
        return false;
    }
    encode_frame(out, KIND_RECORD, record);
    true
}

/// Appends the clean-shutdown marker to `out`.
pub fn encode_clean(out: &mut Vec<u8>) {
    encode_frame(out, KIND_CLEAN, &[]);
}

/// What [`scan`] found in a journal's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// The records, oldest first.
    pub records: Vec<Vec<u8>>,
    /// Offset just after the last valid frame (where the file is cut after a torn write).
    pub valid_end: usize,
    /// Whether the last valid frame is the clean-shutdown marker.
    pub last_was_clean: bool,
}

/// Reads the valid frames of a whole journal file; `None` when it does not start with
/// [`MAGIC`].
pub fn scan(bytes: &[u8]) -> Option<Scan> {
    if !bytes.starts_with(MAGIC) {
        return None;
    }
    let mut pos = MAGIC.len();
    let mut records = Vec::new();
    let mut last_was_clean = false;
    while bytes.len() - pos >= HEADER {
        let h = &bytes[pos..pos + HEADER];
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let kind = h[4];
        let crc = u32::from_le_bytes([h[5], h[6], h[7], h[8]]);
        if len > MAX_RECORD || bytes.len() - pos - HEADER < len {
            break;
        }
        let payload = &bytes[pos + HEADER..pos + HEADER + len];
        if crc32(&[&[kind], payload]) != crc {
            break;
        }
        match kind {
            KIND_RECORD => {
                records.push(payload.to_vec());
                last_was_clean = false;
            }
            KIND_CLEAN if len == 0 => last_was_clean = true,
            _ => break,
        }
        pos += HEADER + len;
    }
    Some(Scan {
        records,
        valid_end: pos,
        last_was_clean,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_reference() {
        // The standard check value of CRC-32/ISO-HDLC.
        assert_eq!(crc32(&[b"123456789"]), 0xCBF4_3926);
        assert_eq!(crc32(&[b"1234", b"56789"]), 0xCBF4_3926);
        assert_eq!(crc32(&[]), 0);
    }

    fn journal(records: &[&[u8]], clean: bool) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        for r in records {
            assert!(encode_record(&mut b, r));
        }
        if clean {
            encode_clean(&mut b);
        }
        b
    }

    #[test]
    fn frames_round_trip_and_the_marker_is_not_a_record() {
        let b = journal(&[b"one", b"", b"three"], true);
        let s = scan(&b).expect("magic");
        assert_eq!(s.records, vec![b"one".to_vec(), vec![], b"three".to_vec()]);
        assert_eq!(s.valid_end, b.len());
        assert!(s.last_was_clean);
        let mut b = b;
        assert!(encode_record(&mut b, b"after"));
        assert!(!scan(&b).expect("magic").last_was_clean);
        assert_eq!(
            scan(MAGIC),
            Some(Scan {
                records: vec![],
                valid_end: 8,
                last_was_clean: false
            })
        );
        assert_eq!(scan(b"JANUSJ0"), None);
        assert_eq!(scan(b"something else entirely"), None);
    }

    #[test]
    fn a_torn_or_corrupt_frame_ends_the_valid_journal() {
        let good = journal(&[b"good-1", b"good-2"], true);
        let mut frame = Vec::new();
        assert!(encode_record(&mut frame, b"torn-record"));
        // Cut short in the payload, and in the header.
        for cut in [frame.len() - 3, 4] {
            let mut b = good.clone();
            b.extend_from_slice(&frame[..cut]);
            let s = scan(&b).expect("magic");
            assert_eq!((s.records.len(), s.valid_end), (2, good.len()));
            assert!(s.last_was_clean, "the torn frame does not count");
        }
        // A flipped payload bit (bad CRC), a huge claimed length, an unknown kind, a clean
        // marker with a payload: each stops the scan, records after it are not believed.
        let mut flipped = frame.clone();
        *flipped.last_mut().expect("payload") ^= 1;
        let huge = [
            &u32::MAX.to_le_bytes()[..],
            &[KIND_RECORD, 0, 0, 0, 0, 1, 2, 3],
        ]
        .concat();
        let mut unknown = Vec::new();
        encode_frame(&mut unknown, 9, b"x");
        let mut marker = Vec::new();
        encode_frame(&mut marker, KIND_CLEAN, b"x");
        for bad in [flipped, huge, unknown, marker] {
            let mut b = good.clone();
            b.extend_from_slice(&bad);
            b.extend_from_slice(&frame);
            let s = scan(&b).expect("magic");
            assert_eq!((s.records.len(), s.valid_end), (2, good.len()));
        }
    }

    #[test]
    fn records_up_to_the_limit() {
        let mut b = MAGIC.to_vec();
        assert!(!encode_record(&mut b, &vec![0; MAX_RECORD + 1]));
        assert_eq!(b.len(), MAGIC.len(), "nothing appended");
        assert!(encode_record(&mut b, &vec![7; MAX_RECORD]));
        assert_eq!(scan(&b).expect("magic").records[0].len(), MAX_RECORD);
    }
}
