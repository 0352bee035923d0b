//! A small, fast, deterministic hasher for the table's integer-keyed maps (FileId, OpenId,
//! Ticket). The default SipHash costs more than the rest of a lock operation; the keys are
//! server-assigned, so flooding resistance is not needed here. Deterministic hashing also
//! keeps the table free of OS randomness (sans-IO rule).
//!
//! A fixed seed makes the iteration order a function of the inserted keys and their
//! history, not of a random seed; it is still not a meaningful order. Where iteration
//! reaches an output (records, events), the table sorts first (issue 9 §5). Outside this
//! module std's `HashMap`/`HashSet` are disallowed in the pure crates (`.clippy-pure.toml`).

use std::hash::{BuildHasherDefault, Hasher};

/// FxHash-style multiply-rotate hasher.
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 56));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // A final avalanche so that sequential ids spread over the buckets' high bits.
        let mut h = self.hash;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h
    }
}

/// Builder for the fixed-seed `FxHasher` of this module.
pub type FxBuild = BuildHasherDefault<FxHasher>;
/// HashMap with the fixed-seed `FxHasher`: no process seed, so iteration is the same in every run.
#[allow(clippy::disallowed_types)] // the one sanctioned std map: fixed seed, see above
pub type FxMap<K, V> = std::collections::HashMap<K, V, FxBuild>;
/// HashSet with the fixed-seed `FxHasher`.
#[allow(clippy::disallowed_types)] // the one sanctioned std set: fixed seed, see above
pub type FxSet<K> = std::collections::HashSet<K, FxBuild>;
