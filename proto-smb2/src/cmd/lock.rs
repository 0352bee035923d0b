//! LOCK (MS-SMB2 §2.2.26, §2.2.27) and OPLOCK_BREAK (§2.2.23, §2.2.24, §2.2.25) in their
//! oplock and lease forms.

use super::file_id::FileId;
use crate::error::{DecodeError, DecodeResult};
use crate::header::HEADER_LEN;
use crate::wire::{expect_size, le16, le32, le64, limit, run};
use bytes::BufMut;

/// Most lock elements one LOCK request may carry (Windows' limit is 64K; this bounds the
/// allocation while staying far above what clients send).
pub const MAX_LOCKS: usize = 1024;

/// SMB2_LOCK_ELEMENT Flags (§2.2.26.1).
pub mod lock_flags {
    /// SMB2_LOCKFLAG_SHARED_LOCK.
    pub const SHARED_LOCK: u32 = 0x0000_0001;
    /// SMB2_LOCKFLAG_EXCLUSIVE_LOCK.
    pub const EXCLUSIVE_LOCK: u32 = 0x0000_0002;
    /// SMB2_LOCKFLAG_UNLOCK.
    pub const UNLOCK: u32 = 0x0000_0004;
    /// SMB2_LOCKFLAG_FAIL_IMMEDIATELY.
    pub const FAIL_IMMEDIATELY: u32 = 0x0000_0010;
}

/// SMB2_LOCK_ELEMENT (§2.2.26.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockElement {
    /// Offset.
    pub offset: u64,
    /// Length.
    pub length: u64,
    /// Flags.
    pub flags: u32,
}

/// LOCK request (§2.2.26).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockRequest {
    /// LockSequenceNumber (low 4 bits) and LockSequenceIndex (high 28 bits), as on the wire.
    pub lock_sequence: u32,
    /// FileId.
    pub file_id: FileId,
    /// Locks: at least one (§3.3.5.14: LockCount 0 is STATUS_INVALID_PARAMETER).
    pub locks: Vec<LockElement>,
}

impl LockRequest {
    const WHAT: &'static str = "LOCK request";

    /// Decodes the request from a whole message.
    pub fn decode(msg: &[u8]) -> DecodeResult<Self> {
        let body = msg
            .get(HEADER_LEN..)
            .ok_or(DecodeError::Truncated { what: Self::WHAT })?;
        let (rest, f) = run(Self::WHAT, body, nom::bytes::complete::take(24usize))?;
        expect_size(Self::WHAT, le16(f, 0), 48)?;
        let count = usize::from(le16(f, 2));
        if count == 0 {
            return Err(DecodeError::Invalid { what: "LockCount" });
        }
        limit("LockCount", count, MAX_LOCKS)?;
        let (_, raw) = run(Self::WHAT, rest, nom::bytes::complete::take(24 * count))?;
        let locks = raw
            .chunks_exact(24)
            .map(|l| LockElement {
                offset: le64(l, 0),
                length: le64(l, 8),
                flags: le32(l, 16),
            })
            .collect();
        Ok(LockRequest {
            lock_sequence: le32(f, 4),
            file_id: FileId::from_slice(&f[8..24]),
            locks,
        })
    }

    /// Writes the body.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u16_le(48);
        out.put_u16_le(self.locks.len() as u16);
        out.put_u32_le(self.lock_sequence);
        self.file_id.encode(out);
        for l in &self.locks {
            out.put_u64_le(l.offset);
            out.put_u64_le(l.length);
            out.put_u32_le(l.flags);
            out.put_u32_le(0);
        }
    }
}

/// LOCK response (§2.2.27).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LockResponse;

impl LockResponse {
    /// Decodes the response from a whole message.
    pub fn decode(msg: &[u8]) -> DecodeResult<Self> {
        let body = msg.get(HEADER_LEN..).ok_or(DecodeError::Truncated {
            what: "LOCK response",
        })?;
        let (_, f) = run("LOCK response", body, nom::bytes::complete::take(4usize))?;
        expect_size("LOCK response", le16(f, 0), 4).map(|()| LockResponse)
    }

    /// Writes the 4-byte body.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u16_le(4);
        out.put_u16_le(0);
    }
}

/// An OPLOCK_BREAK message. The same command carries the server's notification, the
/// client's acknowledgment and the server's response, for oplocks and for leases; the
/// StructureSize says which layout it is (24 oplock, 44 lease notification, 36 lease
/// acknowledgment/response).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OplockBreak {
    /// Oplock break notification, acknowledgment or response (§2.2.23.1, §2.2.24.1,
    /// §2.2.25.1).
    Oplock {
        /// OplockLevel.
        oplock_level: u8,
        /// FileId.
        file_id: FileId,
    },
    /// Lease break notification (§2.2.23.2).
    LeaseNotification {
        /// NewEpoch.
        new_epoch: u16,
        /// Flags (SMB2_NOTIFY_BREAK_LEASE_FLAG_ACK_REQUIRED = 0x01).
        flags: u32,
        /// LeaseKey.
        lease_key: [u8; 16],
        /// CurrentLeaseState.
        current_lease_state: u32,
        /// NewLeaseState.
        new_lease_state: u32,
    },
    /// Lease break acknowledgment or response (§2.2.24.2, §2.2.25.2).
    LeaseAck {
        /// Flags.
        flags: u32,
        /// LeaseKey.
        lease_key: [u8; 16],
        /// LeaseState.
        lease_state: u32,
        /// LeaseDuration.
        lease_duration: u64,
    },
}

impl OplockBreak {
    const WHAT: &'static str = "OPLOCK_BREAK";

    /// Decodes the message from a whole message.
    pub fn decode(msg: &[u8]) -> DecodeResult<Self> {
        let body = msg
            .get(HEADER_LEN..)
            .ok_or(DecodeError::Truncated { what: Self::WHAT })?;
        let (_, size) = run(Self::WHAT, body, nom::number::complete::le_u16)?;
        let take = |n: usize| run(Self::WHAT, body, nom::bytes::complete::take(n)).map(|r| r.1);
        let key = |b: &[u8]| {
            let mut k = [0u8; 16];
            k.copy_from_slice(&b[8..24]);
            k
        };
        match size {
            24 => {
                let f = take(24)?;
                Ok(OplockBreak::Oplock {
                    oplock_level: f[2],
                    file_id: FileId::from_slice(&f[8..24]),
                })
            }
            44 => {
                let f = take(44)?;
                Ok(OplockBreak::LeaseNotification {
                    new_epoch: le16(f, 2),
                    flags: le32(f, 4),
                    lease_key: key(f),
                    current_lease_state: le32(f, 24),
                    new_lease_state: le32(f, 28),
                })
            }
            36 => {
                let f = take(36)?;
                Ok(OplockBreak::LeaseAck {
                    flags: le32(f, 4),
                    lease_key: key(f),
                    lease_state: le32(f, 24),
                    lease_duration: le64(f, 28),
                })
            }
            got => Err(DecodeError::BadStructureSize {
                what: Self::WHAT,
                got,
                expected: 24,
            }),
        }
    }

    /// Writes the body. BreakReason, AccessMaskHint and ShareMaskHint of a lease
    /// notification are written as zero (§2.2.23.2: "MUST be set to 0").
    pub fn encode(&self, out: &mut impl BufMut) {
        match *self {
            OplockBreak::Oplock {
                oplock_level,
                file_id,
            } => {
                out.put_u16_le(24);
                out.put_u8(oplock_level);
                out.put_u8(0);
                out.put_u32_le(0);
                file_id.encode(out);
            }
            OplockBreak::LeaseNotification {
                new_epoch,
                flags,
                lease_key,
                current_lease_state,
                new_lease_state,
            } => {
                out.put_u16_le(44);
                out.put_u16_le(new_epoch);
                out.put_u32_le(flags);
                out.put_slice(&lease_key);
                out.put_u32_le(current_lease_state);
                out.put_u32_le(new_lease_state);
                out.put_bytes(0, 12);
            }
            OplockBreak::LeaseAck {
                flags,
                lease_key,
                lease_state,
                lease_duration,
            } => {
                out.put_u16_le(36);
                out.put_u16_le(0);
                out.put_u32_le(flags);
                out.put_slice(&lease_key);
                out.put_u32_le(lease_state);
                out.put_u64_le(lease_duration);
            }
        }
    }
}
