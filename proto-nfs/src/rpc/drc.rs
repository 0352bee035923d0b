//! The duplicate-request cache (DRC).
//!
//! RPC over UDP, and over TCP after a reconnect, retransmits calls whose reply was lost. For
//! idempotent procedures re-executing is harmless; for the others (CREATE, REMOVE, RENAME,
//! WRITE, ... — RFC 1813 §4.1 "Idempotent operations" and §4.4 "Duplicate request cache")
//! the second execution would give a wrong answer (e.g. NFS3ERR_NOENT for a REMOVE that
//! worked). The cache remembers the reply of each non-idempotent call and answers a
//! retransmission with the same bytes.
//!
//! - The key is the client's IP address (not its port: clients reconnect from a new port),
//!   xid, program, version, procedure and a hash of the arguments (so an xid reused after a
//!   client reboot with different arguments is a new request).
//! - A duplicate of a call still being executed is dropped: the reply to the first copy is
//!   coming.
//! - The cache is a bounded LRU: it never holds more than `capacity` entries.

use core::net::IpAddr;
use std::collections::BTreeMap;

use bytes::Bytes;

/// Identifies one call for the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DrcKey {
    /// Client address, without the port.
    pub client: IpAddr,
    /// Transaction id.
    pub xid: u32,
    /// Program.
    pub prog: u32,
    /// Version.
    pub vers: u32,
    /// Procedure.
    pub proc_: u32,
    /// Hash of the procedure arguments ([`args_hash`]).
    pub args_hash: u64,
}

impl DrcKey {
    /// Builds the key of a call.
    pub fn new(client: IpAddr, xid: u32, prog: u32, vers: u32, proc_: u32, args: &[u8]) -> Self {
        DrcKey {
            client,
            xid,
            prog,
            vers,
            proc_,
            args_hash: args_hash(args),
        }
    }
}

/// Bytes at each end of the arguments that [`args_hash`] reads.
pub const HASHED_EDGE: usize = 256;

/// A deterministic 64-bit hash of call arguments: their length and their first and last
/// [`HASHED_EDGE`] bytes (FNV-1a over 8-byte words, then a final avalanche).
///
/// Like Linux knfsd (which checksums the first 256 bytes), it does not read a 1 MiB WRITE
/// whole: the key also holds the client address, xid, program, version and procedure, and
/// the first bytes of every NFS call hold its file handle, offset and count, so two calls
/// that agree on all of that and on both ends of their data are, in practice, the same
/// call. Not cryptographic: a client can only ever collide with its own requests.
pub fn args_hash(args: &[u8]) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ args.len() as u64;
    let mut mix = |part: &[u8]| {
        let mut chunks = part.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            h = (h ^ w).wrapping_mul(PRIME);
        }
        for &b in chunks.remainder() {
            h = (h ^ u64::from(b)).wrapping_mul(PRIME);
        }
    };
    if args.len() <= 2 * HASHED_EDGE {
        mix(args);
    } else {
        mix(&args[..HASHED_EDGE]);
        mix(&args[args.len() - HASHED_EDGE..]);
    }
    // splitmix64 finaliser
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// What the cache knows about a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DrcLookup {
    /// Never seen (or forgotten): execute it. The cache now marks it in progress.
    New,
    /// A copy is being executed: drop this one.
    InProgress,
    /// Already executed: send these reply bytes (an RPC message without record marker).
    Done(Bytes),
}

#[derive(Debug, Clone)]
enum EntryState {
    InProgress,
    Done(Bytes),
}

#[derive(Debug, Clone)]
struct Entry {
    seq: u64,
    state: EntryState,
}

/// A bounded LRU duplicate-request cache. See the module documentation.
#[derive(Debug, Clone)]
pub struct DuplicateRequestCache {
    capacity: usize,
    entries: BTreeMap<DrcKey, Entry>,
    /// Recency order: smallest sequence number = least recently used.
    order: BTreeMap<u64, DrcKey>,
    next_seq: u64,
    hits: u64,
    drops: u64,
}

impl DuplicateRequestCache {
    /// A cache of at most `capacity` entries (0 disables it: every call is `New`).
    pub fn new(capacity: usize) -> Self {
        DuplicateRequestCache {
            capacity,
            entries: BTreeMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
            hits: 0,
            drops: 0,
        }
    }

    /// Number of entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Retransmissions answered from the cache so far.
    pub fn hits(&self) -> u64 {
        self.hits
    }

    /// Retransmissions dropped because the original was still in progress.
    pub fn in_progress_drops(&self) -> u64 {
        self.drops
    }

    /// Looks a call up; a new call is recorded as in progress.
    pub fn check(&mut self, key: DrcKey) -> DrcLookup {
        if self.capacity == 0 {
            return DrcLookup::New;
        }
        let seq = self.bump();
        if let Some(e) = self.entries.get_mut(&key) {
            self.order.remove(&e.seq);
            e.seq = seq;
            self.order.insert(seq, key);
            return match &e.state {
                EntryState::InProgress => {
                    self.drops += 1;
                    DrcLookup::InProgress
                }
                EntryState::Done(b) => {
                    self.hits += 1;
                    DrcLookup::Done(b.clone())
                }
            };
        }
        self.insert(key, seq, EntryState::InProgress);
        DrcLookup::New
    }

    /// Records the reply of a call (also when the entry was evicted meanwhile: the reply is
    /// what a retransmission must get).
    pub fn complete(&mut self, key: DrcKey, reply: Bytes) {
        if self.capacity == 0 {
            return;
        }
        let seq = self.bump();
        if let Some(e) = self.entries.get_mut(&key) {
            self.order.remove(&e.seq);
            e.seq = seq;
            e.state = EntryState::Done(reply);
            self.order.insert(seq, key);
        } else {
            self.insert(key, seq, EntryState::Done(reply));
        }
    }

    /// Forgets an in-progress call that will produce no reply (so a retransmission is
    /// executed instead of being dropped forever).
    pub fn abandon(&mut self, key: &DrcKey) {
        if let Some(e) = self.entries.get(key) {
            if matches!(e.state, EntryState::InProgress) {
                let seq = e.seq;
                self.entries.remove(key);
                self.order.remove(&seq);
            }
        }
    }

    fn bump(&mut self) -> u64 {
        let s = self.next_seq;
        self.next_seq += 1;
        s
    }

    fn insert(&mut self, key: DrcKey, seq: u64, state: EntryState) {
        while self.entries.len() >= self.capacity {
            let Some((_, old)) = self.order.pop_first() else {
                break;
            };
            self.entries.remove(&old);
        }
        self.entries.insert(key, Entry { seq, state });
        self.order.insert(seq, key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    fn key(xid: u32, args: &[u8]) -> DrcKey {
        DrcKey::new(IpAddr::V4(Ipv4Addr::LOCALHOST), xid, 100_003, 3, 8, args)
    }

    #[test]
    fn new_then_in_progress_then_done() {
        let mut c = DuplicateRequestCache::new(4);
        assert_eq!(c.check(key(1, b"a")), DrcLookup::New);
        assert_eq!(c.check(key(1, b"a")), DrcLookup::InProgress);
        c.complete(key(1, b"a"), Bytes::from_static(b"reply"));
        assert_eq!(
            c.check(key(1, b"a")),
            DrcLookup::Done(Bytes::from_static(b"reply"))
        );
        assert_eq!((c.hits(), c.in_progress_drops()), (1, 1));
        // Same xid, different arguments: a different call.
        assert_eq!(c.check(key(1, b"b")), DrcLookup::New);
    }

    #[test]
    fn client_port_is_not_part_of_the_key_but_address_is() {
        let mut c = DuplicateRequestCache::new(4);
        let a = key(5, b"x");
        let mut b = a;
        b.client = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(c.check(a), DrcLookup::New);
        assert_eq!(c.check(b), DrcLookup::New);
    }

    #[test]
    fn bounded_lru_evicts_least_recently_used() {
        let mut c = DuplicateRequestCache::new(2);
        c.check(key(1, b""));
        c.complete(key(1, b""), Bytes::from_static(b"1"));
        c.check(key(2, b""));
        c.complete(key(2, b""), Bytes::from_static(b"2"));
        // Touch 1 so that 2 is the LRU.
        assert!(matches!(c.check(key(1, b"")), DrcLookup::Done(_)));
        assert_eq!(c.check(key(3, b"")), DrcLookup::New);
        assert_eq!(c.len(), 2);
        assert!(matches!(c.check(key(1, b"")), DrcLookup::Done(_)));
        assert_eq!(c.check(key(2, b"")), DrcLookup::New, "2 was evicted");
    }

    #[test]
    fn abandon_forgets_only_in_progress() {
        let mut c = DuplicateRequestCache::new(4);
        c.check(key(1, b""));
        c.abandon(&key(1, b""));
        assert_eq!(c.check(key(1, b"")), DrcLookup::New);
        c.complete(key(1, b""), Bytes::from_static(b"r"));
        c.abandon(&key(1, b""));
        assert!(matches!(c.check(key(1, b"")), DrcLookup::Done(_)));
    }

    #[test]
    fn args_hash_depends_on_every_byte() {
        let base = vec![0u8; 37];
        let h0 = args_hash(&base);
        for i in 0..base.len() {
            let mut v = base.clone();
            v[i] = 1;
            assert_ne!(args_hash(&v), h0, "byte {i}");
        }
        assert_ne!(args_hash(&base[..36]), h0);
        // Long arguments: both ends and the length count, the middle does not.
        let long = vec![0u8; 4096];
        let hl = args_hash(&long);
        for i in [0, HASHED_EDGE - 1, 4096 - HASHED_EDGE, 4095] {
            let mut v = long.clone();
            v[i] = 1;
            assert_ne!(args_hash(&v), hl, "byte {i}");
        }
        let mut v = long.clone();
        v[2048] = 1;
        assert_eq!(args_hash(&v), hl);
        assert_ne!(args_hash(&long[..4095]), hl);
    }
}
