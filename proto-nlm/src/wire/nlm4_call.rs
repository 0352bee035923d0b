//! NLM v4 procedures (program 100021, version 4): numbering, call arguments and results per
//! procedure (XNFS chapter 10; `nlm_prot.x`; Linux `fs/lockd/svc4proc.c` for 16–23).
//!
//! | # | procedure | argument | result |
//! |---|---|---|---|
//! | 0 | NULL | void | void |
//! | 1 | TEST | `nlm4_testargs` | `nlm4_testres` |
//! | 2 | LOCK | `nlm4_lockargs` | `nlm4_res` |
//! | 3 | CANCEL | `nlm4_cancargs` | `nlm4_res` |
//! | 4 | UNLOCK | `nlm4_unlockargs` | `nlm4_res` |
//! | 5 | GRANTED | `nlm4_testargs` | `nlm4_res` |
//! | 6–10 | TEST_MSG … GRANTED_MSG | as 1–5 | void |
//! | 11 | TEST_RES | `nlm4_testres` | void |
//! | 12–15 | LOCK_RES … GRANTED_RES | `nlm4_res` | void |
//! | 16–19 | not part of v4 (16 is Linux's private statd callback) | | PROC_UNAVAIL |
//! | 20 | SHARE | `nlm4_shareargs` | `nlm4_shareres` |
//! | 21 | UNSHARE | `nlm4_shareargs` | `nlm4_shareres` |
//! | 22 | NM_LOCK | `nlm4_lockargs` | `nlm4_res` |
//! | 23 | FREE_ALL | `nlm4_notify` | void |

use arbitrary::Arbitrary;
use bytes::{Bytes, BytesMut};
use proto_nfs::xdr::{XdrDecode, XdrEncode, XdrErrorKind};

use super::nlm4::{
    Nlm4CancArgs, Nlm4LockArgs, Nlm4Notify, Nlm4Res, Nlm4ShareArgs, Nlm4ShareRes, Nlm4TestArgs,
    Nlm4TestRes, Nlm4UnlockArgs,
};

/// The NLM program number.
pub const NLM_PROGRAM: u32 = 100_021;
/// The only NLM version served (the 64-bit `nlm4_*` forms).
pub const NLM_VERSION_4: u32 = 4;

/// An NLM v4 procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Arbitrary)]
pub enum Nlm4Proc {
    /// 0: ping.
    Null,
    /// 1: test for a conflicting lock.
    Test,
    /// 2: take a monitored lock.
    Lock,
    /// 3: cancel a blocked LOCK.
    Cancel,
    /// 4: release a lock.
    Unlock,
    /// 5: server → client: a blocked lock was granted.
    Granted,
    /// 6: TEST, answered by a TEST_RES call.
    TestMsg,
    /// 7: LOCK, answered by a LOCK_RES call.
    LockMsg,
    /// 8: CANCEL, answered by a CANCEL_RES call.
    CancelMsg,
    /// 9: UNLOCK, answered by an UNLOCK_RES call.
    UnlockMsg,
    /// 10: GRANTED, answered by a GRANTED_RES call.
    GrantedMsg,
    /// 11: result of TEST_MSG.
    TestRes,
    /// 12: result of LOCK_MSG.
    LockRes,
    /// 13: result of CANCEL_MSG.
    CancelRes,
    /// 14: result of UNLOCK_MSG.
    UnlockRes,
    /// 15: result of GRANTED_MSG (sent by the client).
    GrantedRes,
    /// 20: take a DOS share reservation.
    Share,
    /// 21: release a DOS share reservation.
    Unshare,
    /// 22: take a non-monitored, non-blocking lock.
    NmLock,
    /// 23: release everything a host holds.
    FreeAll,
}

impl Nlm4Proc {
    /// The procedure number.
    pub const fn to_u32(self) -> u32 {
        match self {
            Nlm4Proc::Null => 0,
            Nlm4Proc::Test => 1,
            Nlm4Proc::Lock => 2,
            Nlm4Proc::Cancel => 3,
            Nlm4Proc::Unlock => 4,
            Nlm4Proc::Granted => 5,
            Nlm4Proc::TestMsg => 6,
            Nlm4Proc::LockMsg => 7,
            Nlm4Proc::CancelMsg => 8,
            Nlm4Proc::UnlockMsg => 9,
            Nlm4Proc::GrantedMsg => 10,
            Nlm4Proc::TestRes => 11,
            Nlm4Proc::LockRes => 12,
            Nlm4Proc::CancelRes => 13,
            Nlm4Proc::UnlockRes => 14,
            Nlm4Proc::GrantedRes => 15,
            Nlm4Proc::Share => 20,
            Nlm4Proc::Unshare => 21,
            Nlm4Proc::NmLock => 22,
            Nlm4Proc::FreeAll => 23,
        }
    }

    /// The procedure for a number; `None` for 16–19 and above 23 (PROC_UNAVAIL).
    pub const fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            0 => Nlm4Proc::Null,
            1 => Nlm4Proc::Test,
            2 => Nlm4Proc::Lock,
            3 => Nlm4Proc::Cancel,
            4 => Nlm4Proc::Unlock,
            5 => Nlm4Proc::Granted,
            6 => Nlm4Proc::TestMsg,
            7 => Nlm4Proc::LockMsg,
            8 => Nlm4Proc::CancelMsg,
            9 => Nlm4Proc::UnlockMsg,
            10 => Nlm4Proc::GrantedMsg,
            11 => Nlm4Proc::TestRes,
            12 => Nlm4Proc::LockRes,
            13 => Nlm4Proc::CancelRes,
            14 => Nlm4Proc::UnlockRes,
            15 => Nlm4Proc::GrantedRes,
            20 => Nlm4Proc::Share,
            21 => Nlm4Proc::Unshare,
            22 => Nlm4Proc::NmLock,
            23 => Nlm4Proc::FreeAll,
            _ => return None,
        })
    }

    /// The procedure name as XNFS spells it (for logs).
    pub const fn name(self) -> &'static str {
        match self {
            Nlm4Proc::Null => "NULL",
            Nlm4Proc::Test => "TEST",
            Nlm4Proc::Lock => "LOCK",
            Nlm4Proc::Cancel => "CANCEL",
            Nlm4Proc::Unlock => "UNLOCK",
            Nlm4Proc::Granted => "GRANTED",
            Nlm4Proc::TestMsg => "TEST_MSG",
            Nlm4Proc::LockMsg => "LOCK_MSG",
            Nlm4Proc::CancelMsg => "CANCEL_MSG",
            Nlm4Proc::UnlockMsg => "UNLOCK_MSG",
            Nlm4Proc::GrantedMsg => "GRANTED_MSG",
            Nlm4Proc::TestRes => "TEST_RES",
            Nlm4Proc::LockRes => "LOCK_RES",
            Nlm4Proc::CancelRes => "CANCEL_RES",
            Nlm4Proc::UnlockRes => "UNLOCK_RES",
            Nlm4Proc::GrantedRes => "GRANTED_RES",
            Nlm4Proc::Share => "SHARE",
            Nlm4Proc::Unshare => "UNSHARE",
            Nlm4Proc::NmLock => "NM_LOCK",
            Nlm4Proc::FreeAll => "FREE_ALL",
        }
    }
}

/// Why call arguments could not be turned into a call: each maps to one RPC accept status
/// (RFC 5531 §9) in one place, [`CallDecodeError::accept_stat`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CallDecodeError {
    /// The procedure number is not defined for this program version (PROC_UNAVAIL).
    #[error("procedure {0} unavailable")]
    ProcUnavail(u32),
    /// The arguments are not valid XDR for the procedure (GARBAGE_ARGS).
    #[error("garbage arguments: {0:?}")]
    GarbageArgs(XdrErrorKind),
}

impl CallDecodeError {
    /// The RPC `accept_stat` (RFC 5531 §9): PROC_UNAVAIL = 3, GARBAGE_ARGS = 4.
    pub const fn accept_stat(self) -> u32 {
        match self {
            CallDecodeError::ProcUnavail(_) => 3,
            CallDecodeError::GarbageArgs(_) => 4,
        }
    }
}

/// A decoded NLM v4 call: the procedure with its arguments.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum Nlm4Call {
    /// NULL.
    Null,
    /// TEST.
    Test(Nlm4TestArgs),
    /// LOCK.
    Lock(Nlm4LockArgs),
    /// CANCEL.
    Cancel(Nlm4CancArgs),
    /// UNLOCK.
    Unlock(Nlm4UnlockArgs),
    /// GRANTED.
    Granted(Nlm4TestArgs),
    /// TEST_MSG.
    TestMsg(Nlm4TestArgs),
    /// LOCK_MSG.
    LockMsg(Nlm4LockArgs),
    /// CANCEL_MSG.
    CancelMsg(Nlm4CancArgs),
    /// UNLOCK_MSG.
    UnlockMsg(Nlm4UnlockArgs),
    /// GRANTED_MSG.
    GrantedMsg(Nlm4TestArgs),
    /// TEST_RES.
    TestRes(Nlm4TestRes),
    /// LOCK_RES.
    LockRes(Nlm4Res),
    /// CANCEL_RES.
    CancelRes(Nlm4Res),
    /// UNLOCK_RES.
    UnlockRes(Nlm4Res),
    /// GRANTED_RES.
    GrantedRes(Nlm4Res),
    /// SHARE.
    Share(Nlm4ShareArgs),
    /// UNSHARE.
    Unshare(Nlm4ShareArgs),
    /// NM_LOCK.
    NmLock(Nlm4LockArgs),
    /// FREE_ALL.
    FreeAll(Nlm4Notify),
}

fn exact<T: XdrDecode>(args: &[u8]) -> Result<T, CallDecodeError> {
    T::decode_exact(args).map_err(CallDecodeError::GarbageArgs)
}

impl Nlm4Call {
    /// Decodes the arguments of `procedure`. Trailing bytes are refused (GARBAGE_ARGS).
    pub fn decode(procedure: u32, args: &[u8]) -> Result<Self, CallDecodeError> {
        let Some(proc_) = Nlm4Proc::from_u32(procedure) else {
            return Err(CallDecodeError::ProcUnavail(procedure));
        };
        Ok(match proc_ {
            Nlm4Proc::Null => {
                if !args.is_empty() {
                    return Err(CallDecodeError::GarbageArgs(XdrErrorKind::Invalid(
                        "trailing bytes",
                    )));
                }
                Nlm4Call::Null
            }
            Nlm4Proc::Test => Nlm4Call::Test(exact(args)?),
            Nlm4Proc::Lock => Nlm4Call::Lock(exact(args)?),
            Nlm4Proc::Cancel => Nlm4Call::Cancel(exact(args)?),
            Nlm4Proc::Unlock => Nlm4Call::Unlock(exact(args)?),
            Nlm4Proc::Granted => Nlm4Call::Granted(exact(args)?),
            Nlm4Proc::TestMsg => Nlm4Call::TestMsg(exact(args)?),
            Nlm4Proc::LockMsg => Nlm4Call::LockMsg(exact(args)?),
            Nlm4Proc::CancelMsg => Nlm4Call::CancelMsg(exact(args)?),
            Nlm4Proc::UnlockMsg => Nlm4Call::UnlockMsg(exact(args)?),
            Nlm4Proc::GrantedMsg => Nlm4Call::GrantedMsg(exact(args)?),
            Nlm4Proc::TestRes => Nlm4Call::TestRes(exact(args)?),
            Nlm4Proc::LockRes => Nlm4Call::LockRes(exact(args)?),
            Nlm4Proc::CancelRes => Nlm4Call::CancelRes(exact(args)?),
            Nlm4Proc::UnlockRes => Nlm4Call::UnlockRes(exact(args)?),
            Nlm4Proc::GrantedRes => Nlm4Call::GrantedRes(exact(args)?),
            Nlm4Proc::Share => Nlm4Call::Share(exact(args)?),
            Nlm4Proc::Unshare => Nlm4Call::Unshare(exact(args)?),
            Nlm4Proc::NmLock => Nlm4Call::NmLock(exact(args)?),
            Nlm4Proc::FreeAll => Nlm4Call::FreeAll(exact(args)?),
        })
    }

    /// The procedure of this call.
    pub fn procedure(&self) -> Nlm4Proc {
        match self {
            Nlm4Call::Null => Nlm4Proc::Null,
            Nlm4Call::Test(_) => Nlm4Proc::Test,
            Nlm4Call::Lock(_) => Nlm4Proc::Lock,
            Nlm4Call::Cancel(_) => Nlm4Proc::Cancel,
            Nlm4Call::Unlock(_) => Nlm4Proc::Unlock,
            Nlm4Call::Granted(_) => Nlm4Proc::Granted,
            Nlm4Call::TestMsg(_) => Nlm4Proc::TestMsg,
            Nlm4Call::LockMsg(_) => Nlm4Proc::LockMsg,
            Nlm4Call::CancelMsg(_) => Nlm4Proc::CancelMsg,
            Nlm4Call::UnlockMsg(_) => Nlm4Proc::UnlockMsg,
            Nlm4Call::GrantedMsg(_) => Nlm4Proc::GrantedMsg,
            Nlm4Call::TestRes(_) => Nlm4Proc::TestRes,
            Nlm4Call::LockRes(_) => Nlm4Proc::LockRes,
            Nlm4Call::CancelRes(_) => Nlm4Proc::CancelRes,
            Nlm4Call::UnlockRes(_) => Nlm4Proc::UnlockRes,
            Nlm4Call::GrantedRes(_) => Nlm4Proc::GrantedRes,
            Nlm4Call::Share(_) => Nlm4Proc::Share,
            Nlm4Call::Unshare(_) => Nlm4Proc::Unshare,
            Nlm4Call::NmLock(_) => Nlm4Proc::NmLock,
            Nlm4Call::FreeAll(_) => Nlm4Proc::FreeAll,
        }
    }

    /// Appends the XDR arguments (what an outbound call of this procedure carries).
    pub fn encode_args(&self, out: &mut BytesMut) {
        match self {
            Nlm4Call::Null => {}
            Nlm4Call::Test(a)
            | Nlm4Call::Granted(a)
            | Nlm4Call::TestMsg(a)
            | Nlm4Call::GrantedMsg(a) => a.encode(out),
            Nlm4Call::Lock(a) | Nlm4Call::LockMsg(a) | Nlm4Call::NmLock(a) => a.encode(out),
            Nlm4Call::Cancel(a) | Nlm4Call::CancelMsg(a) => a.encode(out),
            Nlm4Call::Unlock(a) | Nlm4Call::UnlockMsg(a) => a.encode(out),
            Nlm4Call::TestRes(r) => r.encode(out),
            Nlm4Call::LockRes(r)
            | Nlm4Call::CancelRes(r)
            | Nlm4Call::UnlockRes(r)
            | Nlm4Call::GrantedRes(r) => r.encode(out),
            Nlm4Call::Share(a) | Nlm4Call::Unshare(a) => a.encode(out),
            Nlm4Call::FreeAll(n) => n.encode(out),
        }
    }

    /// The XDR arguments in a fresh buffer.
    pub fn args_bytes(&self) -> Bytes {
        let mut out = BytesMut::new();
        self.encode_args(&mut out);
        out.freeze()
    }
}

/// The result body of an NLM v4 call (what follows the RPC accepted-reply header).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum Nlm4Reply {
    /// void: NULL, the `_MSG` and `_RES` procedures, FREE_ALL.
    Void,
    /// `nlm4_testres`: TEST.
    Test(Nlm4TestRes),
    /// `nlm4_res`: LOCK, CANCEL, UNLOCK, GRANTED, NM_LOCK.
    Res(Nlm4Res),
    /// `nlm4_shareres`: SHARE, UNSHARE.
    Share(Nlm4ShareRes),
}

/// The shape of the result a procedure returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nlm4ReplyKind {
    /// void.
    Void,
    /// `nlm4_testres`.
    Test,
    /// `nlm4_res`.
    Res,
    /// `nlm4_shareres`.
    Share,
}

impl Nlm4Proc {
    /// The result type of this procedure.
    pub const fn reply_kind(self) -> Nlm4ReplyKind {
        match self {
            Nlm4Proc::Test => Nlm4ReplyKind::Test,
            Nlm4Proc::Lock
            | Nlm4Proc::Cancel
            | Nlm4Proc::Unlock
            | Nlm4Proc::Granted
            | Nlm4Proc::NmLock => Nlm4ReplyKind::Res,
            Nlm4Proc::Share | Nlm4Proc::Unshare => Nlm4ReplyKind::Share,
            Nlm4Proc::Null
            | Nlm4Proc::TestMsg
            | Nlm4Proc::LockMsg
            | Nlm4Proc::CancelMsg
            | Nlm4Proc::UnlockMsg
            | Nlm4Proc::GrantedMsg
            | Nlm4Proc::TestRes
            | Nlm4Proc::LockRes
            | Nlm4Proc::CancelRes
            | Nlm4Proc::UnlockRes
            | Nlm4Proc::GrantedRes
            | Nlm4Proc::FreeAll => Nlm4ReplyKind::Void,
        }
    }
}

impl Nlm4Reply {
    /// Decodes the result of a call to `procedure` (used for replies to our outbound calls,
    /// e.g. the client's answer to GRANTED). Trailing bytes are refused.
    pub fn decode(procedure: Nlm4Proc, body: &[u8]) -> Result<Self, XdrErrorKind> {
        Ok(match procedure.reply_kind() {
            Nlm4ReplyKind::Void => {
                if !body.is_empty() {
                    return Err(XdrErrorKind::Invalid("trailing bytes"));
                }
                Nlm4Reply::Void
            }
            Nlm4ReplyKind::Test => Nlm4Reply::Test(Nlm4TestRes::decode_exact(body)?),
            Nlm4ReplyKind::Res => Nlm4Reply::Res(Nlm4Res::decode_exact(body)?),
            Nlm4ReplyKind::Share => Nlm4Reply::Share(Nlm4ShareRes::decode_exact(body)?),
        })
    }

    /// The shape of this reply.
    pub fn kind(&self) -> Nlm4ReplyKind {
        match self {
            Nlm4Reply::Void => Nlm4ReplyKind::Void,
            Nlm4Reply::Test(_) => Nlm4ReplyKind::Test,
            Nlm4Reply::Res(_) => Nlm4ReplyKind::Res,
            Nlm4Reply::Share(_) => Nlm4ReplyKind::Share,
        }
    }
}

impl XdrEncode for Nlm4Reply {
    fn encode(&self, out: &mut BytesMut) {
        match self {
            Nlm4Reply::Void => {}
            Nlm4Reply::Test(r) => r.encode(out),
            Nlm4Reply::Res(r) => r.encode(out),
            Nlm4Reply::Share(r) => r.encode(out),
        }
    }
}
