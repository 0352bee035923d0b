//! Identifiers and value types shared by every part of the table: files, owners, ranges,
//! lease states and access masks.
//!
//! Follows the data model of `docs/cross-protocol.md` §4.5: an NLM owner is
//! (caller_name, svid, oh) [XNFS NLM_LOCK, nfs-ganesha `compare_nlm_owner`], an SMB owner is
//! an Open (LockKey 0, MS-SMB2 <372>), a lease is keyed by (ClientGuid, LeaseKey)
//! (MS-SMB2 3.3.1.12). Lease bit values are the wire values of MS-SMB2 2.2.13.2.8.

use std::fmt;

/// The largest offset an NLM client may name: Linux lockd refuses ranges past
/// `OFFSET_MAX` = 2^63-1 with NLM4_FBIG (`svc4proc.c`), and we do the same.
pub const NLM_MAX_OFFSET: u64 = i64::MAX as u64;

/// A file, as the runtime names it. The same file has the same id whichever protocol
/// reaches it (NFS file handle, SMB FileId), so all state about it meets here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u64);

/// An SMB open, as the SMB layer names it (unique for the server's lifetime; durable opens
/// keep theirs across a restart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpenId(pub u64);

/// An SMB client's ClientGuid (MS-SMB2 3.3.1.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ClientGuid(pub [u8; 16]);

impl fmt::Display for ClientGuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// An SMB lease key (MS-SMB2 2.2.13.2.8), scoped by the client's [`ClientGuid`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct LeaseKey(pub [u8; 16]);

/// The identity of a lease or oplock in the table.
///
/// Leases are shared by every open of one client that presents the same key (MS-SMB2
/// 3.3.1.12); an oplock belongs to exactly one open (MS-SMB2 3.3.1.10 `Open.OplockLevel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CacheKey {
    /// An SMB 2.1+ lease.
    Lease(ClientGuid, LeaseKey),
    /// An SMB oplock (Level II, Exclusive, Batch) of one open.
    Oplock(OpenId),
}

/// A waiting operation. The operation's final outcome comes back later as
/// [`Event::Completed`](crate::Event::Completed) with the same ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ticket(pub u64);

/// The stable id of one granted byte-range lock, used by persistence records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LockId(pub u64);

/// An NLM lock owner: (caller_name, svid, oh) (XNFS `nlm_lock`; nfs-ganesha
/// `compare_nlm_owner`). `caller_name` is also the host: NSM reboot notification and
/// NLM_FREE_ALL release everything of one host.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NlmOwner {
    /// The client's `caller_name` (its host name as it tells us; XDR string bytes, not
    /// necessarily UTF-8).
    pub caller_name: Vec<u8>,
    /// The client's process id (`svid`, an XDR `int`).
    pub svid: i32,
    /// The opaque owner handle (`oh`), at most 1024 bytes on the wire (the NLM codec checks).
    pub oh: Vec<u8>,
}

impl NlmOwner {
    /// Builds an owner.
    pub fn new(caller_name: impl Into<Vec<u8>>, svid: i32, oh: impl Into<Vec<u8>>) -> Self {
        NlmOwner {
            caller_name: caller_name.into(),
            svid,
            oh: oh.into(),
        }
    }
}

/// An inclusive byte range `first..=last` in NLM/POSIX terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LockRange {
    /// The first locked byte.
    pub first: u64,
    /// The last locked byte (inclusive); `u64::MAX` means "to end of file and beyond".
    pub last: u64,
}

/// Why an NLM range was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// The range reaches past 2^63-1 (answer NLM4_FBIG, like Linux lockd).
    #[error("range past 2^63-1")]
    TooLarge,
    /// The SMB range wraps past 2^64-1 (answer STATUS_INVALID_LOCK_RANGE, MS-FSA 2.1.5.8).
    #[error("range wraps past 2^64-1")]
    Wraps,
}

impl LockRange {
    /// The range an NLM `(l_offset, l_len)` pair names: `l_len == 0` means from `l_offset` to
    /// end of file (XNFS; Linux maps it to OFFSET_MAX). Ranges ending past 2^63-1 are refused
    /// with [`RangeError::TooLarge`] (NLM4_FBIG, Linux `svc4proc.c` parity).
    pub fn nlm(offset: u64, len: u64) -> Result<Self, RangeError> {
        if offset > NLM_MAX_OFFSET {
            return Err(RangeError::TooLarge);
        }
        if len == 0 {
            return Ok(LockRange {
                first: offset,
                last: u64::MAX,
            });
        }
        let last = offset.checked_add(len - 1).ok_or(RangeError::TooLarge)?;
        if last > NLM_MAX_OFFSET {
            return Err(RangeError::TooLarge);
        }
        Ok(LockRange {
            first: offset,
            last,
        })
    }

    /// The whole file.
    pub const fn whole_file() -> Self {
        LockRange {
            first: 0,
            last: u64::MAX,
        }
    }

    /// The range back as NLM `(l_offset, l_len)`, clamped to what NLM4 can carry: a range
    /// reaching 2^63-1 or beyond becomes `l_len = 0` (to end of file), an offset past
    /// 2^63-1 is clamped to 2^63-1 (docs/cross-protocol.md §4.4 O8).
    pub fn to_nlm(self) -> (u64, u64) {
        let offset = self.first.min(NLM_MAX_OFFSET);
        if self.last >= NLM_MAX_OFFSET {
            (offset, 0)
        } else {
            (offset, self.last - offset + 1)
        }
    }
}

/// A range in the table: inclusive `first..=last`, or a zero-length SMB range.
///
/// MS-FSA 2.1.4.10 evaluates `Last = Offset + Length - 1`, so a zero-length range at
/// offset `o > 0` has `last = o - 1` and overlaps only ranges that contain both `o - 1`
/// and `o`; the `{0, 0}` range overlaps nothing. Storing `last` that way lets one overlap
/// formula serve POSIX and MS-FSA pairs alike (docs/cross-protocol.md §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    /// First byte (the SMB offset).
    pub first: u64,
    /// Last byte, `first - 1` (wrapping) for zero-length ranges.
    pub last: u64,
    /// True for a zero-length SMB range.
    pub zero: bool,
}

impl Span {
    /// A POSIX/NLM span.
    pub const fn range(r: LockRange) -> Self {
        Span {
            first: r.first,
            last: r.last,
            zero: false,
        }
    }

    /// An SMB `(offset, length)` span; `Err(Wraps)` when `offset + length - 1` overflows
    /// (MS-FSA 2.1.5.8 STATUS_INVALID_LOCK_RANGE).
    pub fn smb(offset: u64, length: u64) -> Result<Self, RangeError> {
        if length == 0 {
            return Ok(Span {
                first: offset,
                last: offset.wrapping_sub(1),
                zero: true,
            });
        }
        let last = offset.checked_add(length - 1).ok_or(RangeError::Wraps)?;
        Ok(Span {
            first: offset,
            last,
            zero: false,
        })
    }

    /// The parts of this (POSIX) span outside `cut`, lower part first: what stays locked when `cut`
    /// is unlocked from it or taken over by a lock of another mode (the POSIX split, Linux
    /// `posix_lock_inode`, docs/cross-protocol.md §3.5). At most two pieces; none when `cut` covers
    /// the span.
    pub(crate) fn outside(&self, cut: LockRange) -> impl Iterator<Item = LockRange> {
        let below = (self.first < cut.first).then(|| LockRange {
            first: self.first,
            last: cut.first - 1,
        });
        let above = (self.last > cut.last).then(|| LockRange {
            first: cut.last + 1,
            last: self.last,
        });
        below.into_iter().chain(above)
    }

    /// The SMB length of this span (0 for zero-length; saturates at u64::MAX for the whole
    /// 2^64 range, which SMB cannot name anyway).
    pub fn smb_length(&self) -> u64 {
        if self.zero {
            0
        } else {
            (self.last - self.first).saturating_add(1)
        }
    }

    /// The `{0, 0}` range of MS-FSA 2.1.4.10, which conflicts with nothing.
    pub const fn is_null(&self) -> bool {
        self.zero && self.first == 0
    }

    /// MS-FSA 2.1.4.10 overlap: `a.first <= b.last && a.last >= b.first`, with `{0,0}`
    /// excluded. For non-empty ranges this is ordinary POSIX overlap.
    #[inline]
    pub fn overlaps(&self, other: &Span) -> bool {
        !self.is_null()
            && !other.is_null()
            && self.first <= other.last
            && self.last >= other.first
            && !(self.zero && other.zero)
    }

    /// The span as an inclusive range (zero-length spans give an empty-looking range and
    /// are only meaningful to SMB).
    pub fn as_range(&self) -> LockRange {
        LockRange {
            first: self.first,
            last: self.last,
        }
    }
}

/// Lease caching state (MS-SMB2 2.2.13.2.8 bit values: R = 0x01, H = 0x02, W = 0x04).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct LeaseState(pub u8);

impl LeaseState {
    /// No caching.
    pub const NONE: LeaseState = LeaseState(0);
    /// SMB2_LEASE_READ_CACHING.
    pub const R: LeaseState = LeaseState(0x01);
    /// SMB2_LEASE_HANDLE_CACHING.
    pub const H: LeaseState = LeaseState(0x02);
    /// SMB2_LEASE_WRITE_CACHING.
    pub const W: LeaseState = LeaseState(0x04);
    /// Read + handle.
    pub const RH: LeaseState = LeaseState(0x03);
    /// Read + write.
    pub const RW: LeaseState = LeaseState(0x05);
    /// Read + write + handle.
    pub const RWH: LeaseState = LeaseState(0x07);

    /// True if every bit of `other` is in `self`.
    pub const fn contains(self, other: LeaseState) -> bool {
        self.0 & other.0 == other.0
    }
    /// True if any bit of `other` is in `self`.
    pub const fn intersects(self, other: LeaseState) -> bool {
        self.0 & other.0 != 0
    }
    /// Bit intersection.
    pub const fn and(self, other: LeaseState) -> LeaseState {
        LeaseState(self.0 & other.0)
    }
    /// Bit union.
    pub const fn or(self, other: LeaseState) -> LeaseState {
        LeaseState(self.0 | other.0)
    }
    /// `self` without the bits of `other`.
    pub const fn without(self, other: LeaseState) -> LeaseState {
        LeaseState(self.0 & !other.0)
    }
    /// True for the states MS-SMB2 3.3.1.4 lets a file hold: NONE, R, RH, RW, RWH. H or W
    /// without R is not a state ("losing R loses everything", docs/cross-protocol.md §2.1).
    pub const fn is_valid(self) -> bool {
        matches!(self.0, 0 | 1 | 3 | 5 | 7)
    }
    /// Keeps only a valid state: drops everything if R is missing.
    pub const fn normalized(self) -> LeaseState {
        if self.0 & 1 == 0 {
            LeaseState::NONE
        } else {
            LeaseState(self.0 & 7)
        }
    }
    /// The MS-SMB2 3.3.5.9 fallback order for a request: RWH→RH→R→NONE, RW→R→NONE,
    /// RH→R→NONE, R→NONE.
    pub fn fallback(self) -> impl Iterator<Item = LeaseState> {
        let s = self.normalized();
        let mut v = [LeaseState::NONE; 4];
        let mut n = 0;
        let mut push = |x: LeaseState| {
            if !v[..n].contains(&x) {
                v[n] = x;
                n += 1;
            }
        };
        push(s);
        push(s.without(LeaseState::W));
        push(LeaseState::R.and(s));
        push(LeaseState::NONE);
        v.into_iter().take(n)
    }
    /// The next step of a stepped break (docs/cross-protocol.md §2.5, Samba `downgrade_lease`): W
    /// goes first, then H, then R.
    pub const fn step_down(self) -> LeaseState {
        if self.0 & 4 != 0 {
            LeaseState(self.0 & !4)
        } else if self.0 & 2 != 0 {
            LeaseState(self.0 & !2)
        } else {
            LeaseState::NONE
        }
    }
}

impl fmt::Display for LeaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("NONE");
        }
        if self.contains(LeaseState::R) {
            f.write_str("R")?;
        }
        if self.contains(LeaseState::W) {
            f.write_str("W")?;
        }
        if self.contains(LeaseState::H) {
            f.write_str("H")?;
        }
        Ok(())
    }
}

/// SMB oplock levels (MS-SMB2 2.2.13 `RequestedOplockLevel`), mapped onto lease states
/// (Level II ≈ R, Exclusive ≈ RW, Batch ≈ RWH; Samba `map_oplock_to_lease_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OplockLevel {
    /// SMB2_OPLOCK_LEVEL_NONE.
    None,
    /// SMB2_OPLOCK_LEVEL_II.
    LevelII,
    /// SMB2_OPLOCK_LEVEL_EXCLUSIVE.
    Exclusive,
    /// SMB2_OPLOCK_LEVEL_BATCH.
    Batch,
}

impl OplockLevel {
    /// The equivalent lease state.
    pub const fn to_lease(self) -> LeaseState {
        match self {
            OplockLevel::None => LeaseState::NONE,
            OplockLevel::LevelII => LeaseState::R,
            OplockLevel::Exclusive => LeaseState::RW,
            OplockLevel::Batch => LeaseState::RWH,
        }
    }
    /// The oplock level for a lease state (RH maps to Level II, Samba
    /// `map_lease_type_to_oplock`).
    pub const fn from_lease(s: LeaseState) -> OplockLevel {
        match s.0 & 7 {
            7 => OplockLevel::Batch,
            5 => OplockLevel::Exclusive,
            1 | 3 => OplockLevel::LevelII,
            _ => OplockLevel::None,
        }
    }
}

/// Lease version (MS-SMB2 2.2.13.2.8 v1, 2.2.13.2.10 v2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LeaseVersion {
    /// SMB 2.1 lease: no epoch, no parent key.
    V1,
    /// SMB 3.x lease: epoch, optional parent lease key.
    V2 {
        /// ParentLeaseKey, if the client set SMB2_LEASE_FLAG_PARENT_LEASE_KEY_SET.
        parent: Option<LeaseKey>,
    },
}

/// Access-mask bits the table looks at (MS-SMB2 2.2.13.1.1 / MS-FSA 2.1.5.1.2).
pub mod access {
    /// FILE_READ_DATA.
    pub const READ_DATA: u32 = 0x0000_0001;
    /// FILE_WRITE_DATA.
    pub const WRITE_DATA: u32 = 0x0000_0002;
    /// FILE_APPEND_DATA.
    pub const APPEND_DATA: u32 = 0x0000_0004;
    /// FILE_EXECUTE.
    pub const EXECUTE: u32 = 0x0000_0020;
    /// FILE_READ_ATTRIBUTES.
    pub const READ_ATTRIBUTES: u32 = 0x0000_0080;
    /// FILE_WRITE_ATTRIBUTES.
    pub const WRITE_ATTRIBUTES: u32 = 0x0000_0100;
    /// DELETE.
    pub const DELETE: u32 = 0x0001_0000;
    /// READ_CONTROL.
    pub const READ_CONTROL: u32 = 0x0002_0000;
    /// SYNCHRONIZE.
    pub const SYNCHRONIZE: u32 = 0x0010_0000;
    /// Accesses that do not break W leases (MS-SMB2 3.3.1.4; MS-FSA 2.1.5.1.2 early return).
    pub const ATTRIBUTE_ONLY: u32 = READ_ATTRIBUTES | WRITE_ATTRIBUTES | SYNCHRONIZE | READ_CONTROL;
    /// Accesses that take part in share-mode checks (MS-FSA 2.1.5.1.2.1).
    pub const SHARED_CHECKED: u32 = READ_DATA | WRITE_DATA | APPEND_DATA | EXECUTE | DELETE;
}

/// Share-access bits (MS-SMB2 2.2.13 ShareAccess).
pub mod share {
    /// FILE_SHARE_READ.
    pub const READ: u32 = 0x1;
    /// FILE_SHARE_WRITE.
    pub const WRITE: u32 = 0x2;
    /// FILE_SHARE_DELETE.
    pub const DELETE: u32 = 0x4;
    /// All three.
    pub const ALL: u32 = READ | WRITE | DELETE;
}
