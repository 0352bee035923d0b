//! LocalFs handle format: which file an NFS handle names, in a form that survives a server
//! restart (RFC 1813 §2.5 asks handles to stay valid as long as the file exists).
//!
//! Layout (30 bytes, little-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 0 | magic `0x4c` (`'L'`) |
//! | 1 | flags: bit 0 = generation present, bit 1 = birth time present |
//! | 2..10 | inode number |
//! | 10..14 | inode generation (`FS_IOC_GETVERSION`), 0 if absent |
//! | 14..22 | birth time, seconds (statx `btime`), 0 if absent |
//! | 22..26 | birth time, nanoseconds |
//! | 26..30 | hash of the share's device number |
//!
//! Identity check on every use ([`Ident::same_file`]): the inode number must match, and each
//! of generation and birth time that both the handle and the live inode carry must match, so
//! a reused inode number gives [`VfsError::Stale`]; a handle without the birth time of a
//! file that has one was not issued by LocalFs and is refused too. The generation needs a readable fd; when
//! the server could only open a file `O_PATH` (no read permission) it is absent and the birth
//! time alone decides. On a file system with neither (rare: e.g. some FUSE file systems),
//! inode reuse cannot be detected; that is a documented limitation.

use crate::{Handle, Timestamp, VfsError};

const MAGIC: u8 = 0x4c;
const LEN: usize = 30;
const HAS_GEN: u8 = 1;
const HAS_BTIME: u8 = 2;

/// Which incarnation of an inode a handle names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ident {
    /// Inode number.
    pub ino: u64,
    /// `i_generation`, when it could be read.
    pub generation: Option<u32>,
    /// Birth time, when the file system records it.
    pub btime: Option<Timestamp>,
}

impl Ident {
    /// Whether `self` (from a handle) and `live` (from the inode now) are the same file.
    pub fn same_file(&self, live: &Ident) -> bool {
        if self.ino != live.ino {
            return false;
        }
        if let (Some(a), Some(b)) = (self.generation, live.generation) {
            if a != b {
                return false;
            }
        }
        match (self.btime, live.btime) {
            (Some(a), Some(b)) if a != b => return false,
            // Every handle LocalFs issues for a file with a birth time carries it: one
            // without is forged (or from another file system).
            (None, Some(_)) => return false,
            _ => {}
        }
        true
    }

    /// A 64-bit digest of the inode number and birth time (for directory cookie epochs).
    /// The generation is left out: whether it could be read depends on how the directory
    /// was opened, and the epoch must not change with that.
    pub fn digest(&self) -> u64 {
        let mut h = Fnv::default();
        h.write(&self.ino.to_le_bytes());
        let bt = self.btime.unwrap_or_default();
        h.write(&bt.secs.to_le_bytes());
        h.write(&bt.nsecs.to_le_bytes());
        h.finish()
    }
}

/// FNV-1a: stable across runs and builds (unlike `DefaultHasher`), which handles need.
#[derive(Debug)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The 32-bit device hash stored in handles.
pub fn dev_hash(dev: u64) -> u32 {
    let mut h = Fnv::default();
    h.write(&dev.to_le_bytes());
    let v = h.finish();
    (v ^ (v >> 32)) as u32
}

/// Encodes a handle.
pub fn encode(id: &Ident, dev_hash: u32) -> Handle {
    let mut v = Vec::with_capacity(LEN);
    let mut flags = 0;
    if id.generation.is_some() {
        flags |= HAS_GEN;
    }
    if id.btime.is_some() {
        flags |= HAS_BTIME;
    }
    let bt = id.btime.unwrap_or_default();
    v.push(MAGIC);
    v.push(flags);
    v.extend_from_slice(&id.ino.to_le_bytes());
    v.extend_from_slice(&id.generation.unwrap_or(0).to_le_bytes());
    v.extend_from_slice(&bt.secs.to_le_bytes());
    v.extend_from_slice(&bt.nsecs.to_le_bytes());
    v.extend_from_slice(&dev_hash.to_le_bytes());
    Handle(v)
}

/// Decodes a handle: the identity and the device hash; [`VfsError::BadHandle`] if it is
/// not one LocalFs made.
pub fn decode(h: &Handle) -> Result<(Ident, u32), VfsError> {
    let b = h.0.as_slice();
    if b.len() != LEN || b[0] != MAGIC || b[1] & !(HAS_GEN | HAS_BTIME) != 0 {
        return Err(VfsError::BadHandle);
    }
    let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let u64_at = |i: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[i..i + 8]);
        u64::from_le_bytes(a)
    };
    let ino = u64_at(2);
    let nsecs = u32_at(22);
    if ino == 0 || nsecs >= 1_000_000_000 {
        return Err(VfsError::BadHandle);
    }
    let id = Ident {
        ino,
        generation: (b[1] & HAS_GEN != 0).then(|| u32_at(10)),
        btime: (b[1] & HAS_BTIME != 0).then(|| Timestamp {
            secs: u64_at(14) as i64,
            nsecs,
        }),
    };
    Ok((id, u32_at(26)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let id = Ident {
            ino: 1234,
            generation: Some(0xdead_beef),
            btime: Some(Timestamp {
                secs: 1_700_000_000,
                nsecs: 5,
            }),
        };
        let h = encode(&id, 77);
        assert_eq!(h.0.len(), LEN);
        assert!(h.0.len() <= Handle::MAX_LEN);
        assert_eq!(decode(&h).unwrap(), (id, 77));
        let bare = Ident {
            ino: 9,
            generation: None,
            btime: None,
        };
        assert_eq!(decode(&encode(&bare, 1)).unwrap(), (bare, 1));
        for bad in [vec![], vec![MAGIC; 29], vec![0; 30], {
            let mut v = h.0.clone();
            v[1] = 0x80;
            v
        }] {
            assert_eq!(decode(&Handle(bad)), Err(VfsError::BadHandle));
        }
    }

    #[test]
    fn same_file_checks_what_both_sides_know() {
        let a = Ident {
            ino: 5,
            generation: Some(1),
            btime: Some(Timestamp { secs: 1, nsecs: 0 }),
        };
        let reused = Ident {
            generation: Some(2),
            ..a
        };
        assert!(!a.same_file(&reused));
        let no_gen = Ident {
            generation: None,
            ..a
        };
        assert!(a.same_file(&no_gen));
        assert!(
            no_gen.same_file(&a),
            "a handle without generation still matches"
        );
        let no_btime = Ident { btime: None, ..a };
        assert!(
            !no_btime.same_file(&a),
            "a handle without birth time is forged"
        );
        let other_birth = Ident {
            generation: None,
            btime: Some(Timestamp { secs: 2, nsecs: 0 }),
            ..a
        };
        assert!(!a.same_file(&other_birth));
        assert!(!a.same_file(&Ident { ino: 6, ..a }));
    }
}
