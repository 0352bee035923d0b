//! NLM version 4 data types (program 100021, version 4): XNFS "Protocols for Interworking",
//! chapter 10 (NLM) and the 64-bit `nlm4_*` forms as defined in `nlm_prot.x` and decoded by
//! Linux `fs/lockd/xdr4.c`.
//!
//! Each type has `decode` (nom over `&[u8]`, every length bounded before use) and `encode`
//! (into `BytesMut`, cannot fail) side by side, and derives `Arbitrary` so the round trip
//! `decode(encode(x)) == x` is tested for every message.

use arbitrary::{Arbitrary, Unstructured};
use bytes::BytesMut;
use proto_nfs::xdr::{self, XResult, XdrDecode, XdrEncode, XdrError, XdrErrorKind};

use super::opaque::{LmName, LmString, Netobj};

/// `nlm4_stats`: the status of every NLM v4 result (XNFS chapter 10; Linux `lockd/nlm.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Arbitrary)]
pub enum Nlm4Stats {
    /// `NLM4_GRANTED` (0): the call succeeded.
    Granted,
    /// `NLM4_DENIED` (1): a conflicting lock is held.
    Denied,
    /// `NLM4_DENIED_NOLOCKS` (2): the server is out of lock resources.
    DeniedNolocks,
    /// `NLM4_BLOCKED` (3): the lock will be granted later by an `NLM_GRANTED` callback.
    Blocked,
    /// `NLM4_DENIED_GRACE_PERIOD` (4): the server is in its grace period (or a reclaim came
    /// after it).
    DeniedGracePeriod,
    /// `NLM4_DEADLCK` (5): granting would deadlock.
    Deadlck,
    /// `NLM4_ROFS` (6): the file system is read-only.
    Rofs,
    /// `NLM4_STALE_FH` (7): the file handle is unknown or stale.
    StaleFh,
    /// `NLM4_FBIG` (8): the offset or length is too large.
    Fbig,
    /// `NLM4_FAILED` (9): the call failed for another reason.
    Failed,
}

impl Nlm4Stats {
    /// The wire value.
    pub const fn to_u32(self) -> u32 {
        match self {
            Nlm4Stats::Granted => 0,
            Nlm4Stats::Denied => 1,
            Nlm4Stats::DeniedNolocks => 2,
            Nlm4Stats::Blocked => 3,
            Nlm4Stats::DeniedGracePeriod => 4,
            Nlm4Stats::Deadlck => 5,
            Nlm4Stats::Rofs => 6,
            Nlm4Stats::StaleFh => 7,
            Nlm4Stats::Fbig => 8,
            Nlm4Stats::Failed => 9,
        }
    }

    /// The status for a wire value, if defined.
    pub const fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            0 => Nlm4Stats::Granted,
            1 => Nlm4Stats::Denied,
            2 => Nlm4Stats::DeniedNolocks,
            3 => Nlm4Stats::Blocked,
            4 => Nlm4Stats::DeniedGracePeriod,
            5 => Nlm4Stats::Deadlck,
            6 => Nlm4Stats::Rofs,
            7 => Nlm4Stats::StaleFh,
            8 => Nlm4Stats::Fbig,
            9 => Nlm4Stats::Failed,
            _ => return None,
        })
    }
}

impl XdrDecode for Nlm4Stats {
    fn decode(input: &[u8]) -> XResult<'_, Self> {
        let (rest, v) = xdr::u32(input)?;
        match Nlm4Stats::from_u32(v) {
            Some(s) => Ok((rest, s)),
            None => XdrError::fail(input, XdrErrorKind::BadDiscriminant(v)),
        }
    }
}

impl XdrEncode for Nlm4Stats {
    fn encode(&self, out: &mut BytesMut) {
        xdr::put_u32(out, self.to_u32());
    }
}

/// `nlm4_lock`: the lock a call is about (XNFS chapter 10 `nlm_lock`, 64-bit form).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Arbitrary)]
pub struct Nlm4Lock {
    /// Name of the calling host (`caller_name<LM_MAXSTRLEN>`).
    pub caller_name: LmString,
    /// The NFS file handle of the file.
    pub fh: Netobj,
    /// Owner handle: identifies the lock owner on the caller.
    pub oh: Netobj,
    /// "Unique process identifier" of the owner on the caller (typically the pid).
    pub svid: i32,
    /// Start of the range.
    pub l_offset: u64,
    /// Length of the range; 0 means "to end of file and beyond".
    pub l_len: u64,
}

impl XdrDecode for Nlm4Lock {
    fn decode(input: &[u8]) -> XResult<'_, Self> {
        let (input, caller_name) = LmString::decode(input)?;
        let (input, fh) = Netobj::decode(input)?;
        let (input, oh) = Netobj::decode(input)?;
        let (input, svid) = xdr::i32(input)?;
        let (input, l_offset) = xdr::u64(input)?;
        let (input, l_len) = xdr::u64(input)?;
        Ok((
            input,
            Nlm4Lock {
                caller_name,
                fh,
                oh,
                svid,
                l_offset,
                l_len,
            },
        ))
    }
}

impl XdrEncode for Nlm4Lock {
    fn encode(&self, out: &mut BytesMut) {
        self.caller_name.encode(out);
        self.fh.encode(out);
        self.oh.encode(out);
        xdr::put_i32(out, self.svid);
        xdr::put_u64(out, self.l_offset);
        xdr::put_u64(out, self.l_len);
    }
}

/// `nlm4_holder`: who holds the lock that conflicts with a TEST.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Arbitrary)]
pub struct Nlm4Holder {
    /// Whether the held lock is exclusive.
    pub exclusive: bool,
    /// The holder's `svid`.
    pub svid: i32,
    /// The holder's owner handle.
    pub oh: Netobj,
    /// Start of the held range.
    pub l_offset: u64,
    /// Length of the held range (0 = to end of file).
    pub l_len: u64,
}

impl XdrDecode for Nlm4Holder {
    fn decode(input: &[u8]) -> XResult<'_, Self> {
        let (input, exclusive) = xdr::bool(input)?;
        let (input, svid) = xdr::i32(input)?;
        let (input, oh) = Netobj::decode(input)?;
        let (input, l_offset) = xdr::u64(input)?;
        let (input, l_len) = xdr::u64(input)?;
        Ok((
            input,
            Nlm4Holder {
                exclusive,
                svid,
                oh,
                l_offset,
                l_len,
            },
        ))
    }
}

impl XdrEncode for Nlm4Holder {
    fn encode(&self, out: &mut BytesMut) {
        xdr::put_bool(out, self.exclusive);
        xdr::put_i32(out, self.svid);
        self.oh.encode(out);
        xdr::put_u64(out, self.l_offset);
        xdr::put_u64(out, self.l_len);
    }
}

/// `nlm4_testargs`: arguments of TEST, TEST_MSG, GRANTED and GRANTED_MSG.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Arbitrary)]
pub struct Nlm4TestArgs {
    /// Opaque cookie echoed in the result.
    pub cookie: Netobj,
    /// Whether an exclusive lock is asked about.
    pub exclusive: bool,
    /// The lock.
    pub alock: Nlm4Lock,
}

impl XdrDecode for Nlm4TestArgs {
    fn decode(input: &[u8]) -> XResult<'_, Self> {
        let (input, cookie) = Netobj::decode(input)?;
        let (input, exclusive) = xdr::bool(input)?;
        let (input, alock) = Nlm4Lock::decode(input)?;
        Ok((
            input,
            Nlm4TestArgs {
                cookie,
                exclusive,
                alock,
            },
        ))
    }
}

impl XdrEncode for Nlm4TestArgs {
    fn encode(&self, out: &mut BytesMut) {
        self.cookie.encode(out);
        xdr::put_bool(out, self.exclusive);
        self.alock.encode(out);
    }
}

/// `nlm4_testrply`: the TEST outcome, a union on `nlm4_stats` whose `NLM4_DENIED` arm carries
/// the conflicting holder.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Nlm4TestRply {
    /// `NLM4_DENIED` with the holder of a conflicting lock.
    Denied(Nlm4Holder),
    /// Any other status (never [`Nlm4Stats::Denied`]: that is the arm above).
    Status(Nlm4Stats),
}

impl Nlm4TestRply {
    /// The status of this reply.
    pub fn stat(&self) -> Nlm4Stats {
        match self {
            Nlm4TestRply::Denied(_) => Nlm4Stats::Denied,
            Nlm4TestRply::Status(s) => *s,
        }
    }
}

impl<'a> Arbitrary<'a> for Nlm4TestRply {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(match Nlm4Stats::arbitrary(u)? {
            Nlm4Stats::Denied => Nlm4TestRply::Denied(Nlm4Holder::arbitrary(u)?),
            other => Nlm4TestRply::Status(other),
        })
    }
}

impl XdrDecode for Nlm4TestRply {
    fn decode(input: &[u8]) -> XResult<'_, Self> {
        let (input, stat) = Nlm4Stats::decode(input)?;
        match stat {
            Nlm4Stats::Denied => {
                let (input, holder) = Nlm4Holder::decode(input)?;
                Ok((input, Nlm4TestRply::Denied(holder)))
            }
            other => Ok((input, Nlm4TestRply::Status(other))),
        }
    }
}

impl XdrEncode for Nlm4TestRply {
    fn encode(&self, out: &mut BytesMut) {
        match self {
            Nlm4TestRply::Denied(holder) => {
                Nlm4Stats::Denied.encode(out);
                holder.encode(out);
            }
            // A `Status(Denied)` built by hand has no holder to send; it is sent as the
            // generic failure rather than as a malformed DENIED arm.
            Nlm4TestRply::Status(Nlm4Stats::Denied) => Nlm4Stats::Failed.encode(out),
            Nlm4TestRply::Status(s) => s.encode(out),
        }
    }
}

/// `nlm4_testres`: result of TEST (and the argument of TEST_RES).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Arbitrary)]
pub struct Nlm4TestRes {
    /// The call's cookie.
    pub cookie: Netobj,
    /// The outcome.
    pub stat: Nlm4TestRply,
}

impl XdrDecode for Nlm4TestRes {
    fn decode(input: &[u8]) -> XResult<'_, Self> {
        let (input, cookie) = Netobj::decode(input)?;
        let (input, stat) = Nlm4TestRply::decode(input)?;
        Ok((input, Nlm4TestRes { cookie, stat }))
    }
}

impl XdrEncode for Nlm4TestRes {
    fn encode(&self, out: &mut BytesMut) {
        self.cookie.encode(out);
        self.stat.encode(out);
    }
}

/// `nlm4_lockargs`: arguments of LOCK, LOCK_MSG and NM_LOCK.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Arbitrary)]
pub struct Nlm4LockArgs {
    /// Opaque cookie echoed in the result.
    pub cookie: Netobj,
    /// Whether the caller is willing to wait (BLOCKED then GRANTED callback).
    pub block: bool,
    /// Exclusive (write) or shared (read) lock.
    pub exclusive: bool,
    /// The lock.
    pub alock: Nlm4Lock,
    /// Re-establishing a lock held before the server restarted (grace period only).
    pub reclaim: bool,
    /// The caller's NSM state number.
    pub state: i32,
}

impl XdrDecode for Nlm4LockArgs {
    fn decode(input: &[u8]) -> XResult<'_, Self> {
        let (input, cookie) = Netobj::decode(input)?;
        let (input, block) = xdr::bool(input)?;
        let (input, exclusive) = xdr::bool(input)?;
        let (input, alock) = Nlm4Lock::decode(input)?;
        let (input, reclaim) = xdr::bool(input)?;
        let (input, state) = xdr::i32(input)?;
        Ok((
            input,
            Nlm4LockArgs {
                cookie,
                block,
                exclusive,
                alock,
                reclaim,
                state,
            },
        ))
    }
}

impl XdrEncode for Nlm4LockArgs {
    fn encode(&self, out: &mut BytesMut) {
        self.cookie.encode(out);
        xdr::put_bool(out, self.block);
        xdr::put_bool(out, self.exclusive);
        self.alock.encode(out);
        xdr::put_bool(out, self.reclaim);
        xdr::put_i32(out, self.state);
    }
}

/// `nlm4_cancargs`: arguments of CANCEL and CANCEL_MSG.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Arbitrary)]
pub struct Nlm4CancArgs {
    /// Opaque cookie echoed in the result.
    pub cookie: Netobj,
    /// The `block` of the LOCK being cancelled.
    pub block: bool,
    /// The `exclusive` of the LOCK being cancelled.
    pub exclusive: bool,
    /// The lock being cancelled.
    pub alock: Nlm4Lock,
}

impl XdrDecode for Nlm4CancArgs {
    fn decode(input: &[u8]) -> XResult<'_, Self> {
        let (input, cookie) = Netobj::decode(input)?;
        let (input, block) = xdr::bool(input)?;
        let (input, exclusive) = xdr::bool(input)?;
        let (input, alock) = Nlm4Lock::decode(input)?;
        Ok((
            input,
            Nlm4CancArgs {
                cookie,
                block,
                exclusive,
                alock,
            },
        ))
    }
}

impl XdrEncode for Nlm4CancArgs {
    fn encode(&self, out: &mut BytesMut) {
        self.cookie.encode(out);
        xdr::put_bool(out, self.block);
        xdr::put_bool(out, self.exclusive);
        self.alock.encode(out);
    }
}

/// `nlm4_unlockargs`: arguments of UNLOCK and UNLOCK_MSG.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Arbitrary)]
pub struct Nlm4UnlockArgs {
    /// Opaque cookie echoed in the result.
    pub cookie: Netobj,
    /// The range to unlock.
    pub alock: Nlm4Lock,
}

impl XdrDecode for Nlm4UnlockArgs {
    fn decode(input: &[u8]) -> XResult<'_, Self> {
        let (input, cookie) = Netobj::decode(input)?;
        let (input, alock) = Nlm4Lock::decode(input)?;
        Ok((input, Nlm4UnlockArgs { cookie, alock }))
    }
}

impl XdrEncode for Nlm4UnlockArgs {
    fn encode(&self, out: &mut BytesMut) {
        self.cookie.encode(out);
        self.alock.encode(out);
    }
}

/// `nlm4_res`: result of LOCK, CANCEL, UNLOCK, GRANTED and NM_LOCK (and the argument of the
/// LOCK_RES, CANCEL_RES, UNLOCK_RES and GRANTED_RES calls).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Arbitrary)]
pub struct Nlm4Res {
    /// The call's cookie.
    pub cookie: Netobj,
    /// The outcome.
    pub stat: Nlm4Stats,
}

impl XdrDecode for Nlm4Res {
    fn decode(input: &[u8]) -> XResult<'_, Self> {
        let (input, cookie) = Netobj::decode(input)?;
        let (input, stat) = Nlm4Stats::decode(input)?;
        Ok((input, Nlm4Res { cookie, stat }))
    }
}

impl XdrEncode for Nlm4Res {
    fn encode(&self, out: &mut BytesMut) {
        self.cookie.encode(out);
        self.stat.encode(out);
    }
}

/// `fsh_mode`: the deny mode of a DOS share reservation (XNFS chapter 10, NLM_SHARE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Arbitrary)]
pub enum FshMode {
    /// `fsm_DN` (0): deny none.
    DenyNone,
    /// `fsm_DR` (1): deny read.
    DenyRead,
    /// `fsm_DW` (2): deny write.
    DenyWrite,
    /// `fsm_DRW` (3): deny read and write.
    DenyReadWrite,
}

impl FshMode {
    /// The wire value (bit 0 = deny read, bit 1 = deny write).
    pub const fn to_u32(self) -> u32 {
        match self {
            FshMode::DenyNone => 0,
            FshMode::DenyRead => 1,
            FshMode::DenyWrite => 2,
            FshMode::DenyReadWrite => 3,
        }
    }

    /// The mode for a wire value, if defined.
    pub const fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            0 => FshMode::DenyNone,
            1 => FshMode::DenyRead,
            2 => FshMode::DenyWrite,
            3 => FshMode::DenyReadWrite,
            _ => return None,
        })
    }
}

/// `fsh_access`: the access of a DOS share reservation (XNFS chapter 10, NLM_SHARE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Arbitrary)]
pub enum FshAccess {
    /// `fsa_NONE` (0): no access.
    None,
    /// `fsa_R` (1): read.
    Read,
    /// `fsa_W` (2): write.
    Write,
    /// `fsa_RW` (3): read and write.
    ReadWrite,
}

impl FshAccess {
    /// The wire value (bit 0 = read, bit 1 = write).
    pub const fn to_u32(self) -> u32 {
        match self {
            FshAccess::None => 0,
            FshAccess::Read => 1,
            FshAccess::Write => 2,
            FshAccess::ReadWrite => 3,
        }
    }

    /// The access for a wire value, if defined.
    pub const fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            0 => FshAccess::None,
            1 => FshAccess::Read,
            2 => FshAccess::Write,
            3 => FshAccess::ReadWrite,
            _ => return None,
        })
    }
}

/// `nlm4_share`: a DOS share reservation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Arbitrary)]
pub struct Nlm4Share {
    /// Name of the calling host.
    pub caller_name: LmString,
    /// The NFS file handle of the file.
    pub fh: Netobj,
    /// Owner handle.
    pub oh: Netobj,
    /// Deny mode.
    pub mode: FshMode,
    /// Access mode.
    pub access: FshAccess,
}

impl XdrDecode for Nlm4Share {
    fn decode(input: &[u8]) -> XResult<'_, Self> {
        let (input, caller_name) = LmString::decode(input)?;
        let (input, fh) = Netobj::decode(input)?;
        let (input, oh) = Netobj::decode(input)?;
        let (rest, mode) = xdr::u32(input)?;
        let Some(mode) = FshMode::from_u32(mode) else {
            return XdrError::fail(input, XdrErrorKind::BadDiscriminant(mode));
        };
        let (input, access_raw) = xdr::u32(rest)?;
        let Some(access) = FshAccess::from_u32(access_raw) else {
            return XdrError::fail(rest, XdrErrorKind::BadDiscriminant(access_raw));
        };
        Ok((
            input,
            Nlm4Share {
                caller_name,
                fh,
                oh,
                mode,
                access,
            },
        ))
    }
}

impl XdrEncode for Nlm4Share {
    fn encode(&self, out: &mut BytesMut) {
        self.caller_name.encode(out);
        self.fh.encode(out);
        self.oh.encode(out);
        xdr::put_u32(out, self.mode.to_u32());
        xdr::put_u32(out, self.access.to_u32());
    }
}

/// `nlm4_shareargs`: arguments of SHARE and UNSHARE.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Arbitrary)]
pub struct Nlm4ShareArgs {
    /// Opaque cookie echoed in the result.
    pub cookie: Netobj,
    /// The reservation.
    pub share: Nlm4Share,
    /// Re-establishing a reservation held before the server restarted.
    pub reclaim: bool,
}

impl XdrDecode for Nlm4ShareArgs {
    fn decode(input: &[u8]) -> XResult<'_, Self> {
        let (input, cookie) = Netobj::decode(input)?;
        let (input, share) = Nlm4Share::decode(input)?;
        let (input, reclaim) = xdr::bool(input)?;
        Ok((
            input,
            Nlm4ShareArgs {
                cookie,
                share,
                reclaim,
            },
        ))
    }
}

impl XdrEncode for Nlm4ShareArgs {
    fn encode(&self, out: &mut BytesMut) {
        self.cookie.encode(out);
        self.share.encode(out);
        xdr::put_bool(out, self.reclaim);
    }
}

/// `nlm4_shareres`: result of SHARE and UNSHARE.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Arbitrary)]
pub struct Nlm4ShareRes {
    /// The call's cookie.
    pub cookie: Netobj,
    /// The outcome.
    pub stat: Nlm4Stats,
    /// "sequence": unused by clients; Linux sends 0.
    pub sequence: i32,
}

impl XdrDecode for Nlm4ShareRes {
    fn decode(input: &[u8]) -> XResult<'_, Self> {
        let (input, cookie) = Netobj::decode(input)?;
        let (input, stat) = Nlm4Stats::decode(input)?;
        let (input, sequence) = xdr::i32(input)?;
        Ok((
            input,
            Nlm4ShareRes {
                cookie,
                stat,
                sequence,
            },
        ))
    }
}

impl XdrEncode for Nlm4ShareRes {
    fn encode(&self, out: &mut BytesMut) {
        self.cookie.encode(out);
        self.stat.encode(out);
        xdr::put_i32(out, self.sequence);
    }
}

/// `nlm4_notify`: argument of FREE_ALL: a host name and its NSM state.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Arbitrary)]
pub struct Nlm4Notify {
    /// The host whose locks and shares are freed (`name<LM_MAXNAMELEN>`).
    pub name: LmName,
    /// The host's NSM state.
    pub state: i32,
}

impl XdrDecode for Nlm4Notify {
    fn decode(input: &[u8]) -> XResult<'_, Self> {
        let (input, name) = LmName::decode(input)?;
        let (input, state) = xdr::i32(input)?;
        Ok((input, Nlm4Notify { name, state }))
    }
}

impl XdrEncode for Nlm4Notify {
    fn encode(&self, out: &mut BytesMut) {
        self.name.encode(out);
        xdr::put_i32(out, self.state);
    }
}
