//! The byte form of a persistence [`Record`], for the runtime's journal (docs/cross-protocol.md §5
//! rule 1: the journal stores the records the table emits and hands them back to
//! [`LockTable::restore`](crate::LockTable::restore) after a restart).
//!
//! Layout (all integers big-endian, like XDR, RFC 4506 §4.1): `seq: u64`, a one-byte tag,
//! then the fields of that [`Change`] in declaration order. Variable-length fields are a
//! `u32` length then the bytes; an `Option` is one byte (0 = none, 1 = some) then the value;
//! a `bool` is one byte (0 or 1). Every length is checked against the bytes left before
//! anything is allocated, and against [`MAX_FIELD`].
//!
//! | tag | change |
//! |---|---|
//! | 1 | `NlmLock` | 2 | `SmbLock` | 3 | `LockReleased` | 4 | `Open` | 5 | `OpenClosed` |
//! | 6 | `Lease` | 7 | `LeaseRemoved` | 8 | `NlmShare` | 9 | `NlmShareReleased` |
//! | 10 | `Monitored` | 11 | `Unmonitored` |

use std::sync::Arc;

use crate::persist::{Change, Record};
use crate::types::{
    CacheKey, ClientGuid, FileId, LeaseKey, LeaseState, LeaseVersion, LockId, LockRange, NlmOwner,
    OpenId, Span,
};

/// Largest variable-length field (a caller_name or owner handle; NLM limits both to 1024
/// bytes on the wire, so 64 KiB leaves room without trusting a corrupt length).
pub const MAX_FIELD: usize = 64 * 1024;

/// Why bytes are not a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes end before the record does.
    #[error("record truncated")]
    Truncated,
    /// Bytes are left after the record.
    #[error("{0} bytes after the record")]
    Trailing(usize),
    /// Unknown change tag.
    #[error("unknown record tag {0}")]
    BadTag(u8),
    /// A bool, option or enum byte out of range.
    #[error("bad discriminant {0}")]
    BadDiscriminant(u8),
    /// A length over 64 KiB (`MAX_FIELD`).
    #[error("field of {0} bytes is over the limit")]
    TooLong(usize),
}

struct W(Vec<u8>);

impl W {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }
    fn bytes(&mut self, b: &[u8]) {
        // Callers hold fields far below 4 GiB (NLM bounds them to 1024 bytes).
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
    }
    fn owner(&mut self, o: &NlmOwner) {
        self.bytes(&o.caller_name);
        self.u32(o.svid as u32);
        self.bytes(&o.oh);
    }
    fn guid(&mut self, g: &ClientGuid) {
        self.0.extend_from_slice(&g.0);
    }
    fn cache_key(&mut self, k: &CacheKey) {
        match k {
            CacheKey::Lease(g, l) => {
                self.u8(0);
                self.guid(g);
                self.0.extend_from_slice(&l.0);
            }
            CacheKey::Oplock(o) => {
                self.u8(1);
                self.u64(o.0);
            }
        }
    }
}

struct R<'a>(&'a [u8]);

impl R<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.arr::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.arr()?))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.arr()?))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.arr()?))
    }
    fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            d => Err(DecodeError::BadDiscriminant(d)),
        }
    }
    fn bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        let n = self.u32()? as usize;
        if n > MAX_FIELD {
            return Err(DecodeError::TooLong(n));
        }
        Ok(self.take(n)?.to_vec())
    }
    fn owner(&mut self) -> Result<Arc<NlmOwner>, DecodeError> {
        let caller_name = self.bytes()?;
        let svid = self.u32()? as i32;
        let oh = self.bytes()?;
        Ok(Arc::new(NlmOwner {
            caller_name,
            svid,
            oh,
        }))
    }
    fn file(&mut self) -> Result<FileId, DecodeError> {
        Ok(FileId(self.u64()?))
    }
    fn guid(&mut self) -> Result<ClientGuid, DecodeError> {
        Ok(ClientGuid(self.arr()?))
    }
    fn cache_key(&mut self) -> Result<CacheKey, DecodeError> {
        match self.u8()? {
            0 => Ok(CacheKey::Lease(self.guid()?, LeaseKey(self.arr()?))),
            1 => Ok(CacheKey::Oplock(OpenId(self.u64()?))),
            d => Err(DecodeError::BadDiscriminant(d)),
        }
    }
}

impl Record {
    /// The record's bytes (see the module documentation).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = W(Vec::with_capacity(64));
        w.u64(self.seq);
        match &self.change {
            Change::NlmLock {
                id,
                file,
                owner,
                range,
                exclusive,
            } => {
                w.u8(1);
                w.u64(id.0);
                w.u64(file.0);
                w.owner(owner);
                w.u64(range.first);
                w.u64(range.last);
                w.bool(*exclusive);
            }
            Change::SmbLock {
                id,
                file,
                open,
                span,
                exclusive,
            } => {
                w.u8(2);
                w.u64(id.0);
                w.u64(file.0);
                w.u64(open.0);
                w.u64(span.first);
                w.u64(span.last);
                w.bool(span.zero);
                w.bool(*exclusive);
            }
            Change::LockReleased { id, file } => {
                w.u8(3);
                w.u64(id.0);
                w.u64(file.0);
            }
            Change::Open {
                open,
                file,
                client,
                access,
                share_access,
                durable,
                cache,
            } => {
                w.u8(4);
                w.u64(open.0);
                w.u64(file.0);
                w.guid(client);
                w.u32(*access);
                w.u32(*share_access);
                w.bool(*durable);
                match cache {
                    None => w.u8(0),
                    Some(k) => {
                        w.u8(1);
                        w.cache_key(k);
                    }
                }
            }
            Change::OpenClosed { open, file } => {
                w.u8(5);
                w.u64(open.0);
                w.u64(file.0);
            }
            Change::Lease {
                key,
                file,
                client,
                state,
                epoch,
                version,
            } => {
                w.u8(6);
                w.cache_key(key);
                w.u64(file.0);
                w.guid(client);
                w.u8(state.0);
                w.u16(*epoch);
                match version {
                    None => w.u8(0),
                    Some(LeaseVersion::V1) => w.u8(1),
                    Some(LeaseVersion::V2 { parent: None }) => w.u8(2),
                    Some(LeaseVersion::V2 { parent: Some(p) }) => {
                        w.u8(3);
                        w.0.extend_from_slice(&p.0);
                    }
                }
            }
            Change::LeaseRemoved { key } => {
                w.u8(7);
                w.cache_key(key);
            }
            Change::NlmShare {
                file,
                owner,
                access,
                deny,
            } => {
                w.u8(8);
                w.u64(file.0);
                w.owner(owner);
                w.u32(*access);
                w.u32(*deny);
            }
            Change::NlmShareReleased { file, owner } => {
                w.u8(9);
                w.u64(file.0);
                w.owner(owner);
            }
            Change::Monitored { host, nsm_state } => {
                w.u8(10);
                w.bytes(host);
                w.u32(*nsm_state as u32);
            }
            Change::Unmonitored { host } => {
                w.u8(11);
                w.bytes(host);
            }
        }
        w.0
    }

    /// Decodes [`Record::to_bytes`] output; any other input is an error, never a panic.
    pub fn from_bytes(bytes: &[u8]) -> Result<Record, DecodeError> {
        let mut r = R(bytes);
        let seq = r.u64()?;
        let change = match r.u8()? {
            1 => Change::NlmLock {
                id: LockId(r.u64()?),
                file: r.file()?,
                owner: r.owner()?,
                range: LockRange {
                    first: r.u64()?,
                    last: r.u64()?,
                },
                exclusive: r.bool()?,
            },
            2 => Change::SmbLock {
                id: LockId(r.u64()?),
                file: r.file()?,
                open: OpenId(r.u64()?),
                span: Span {
                    first: r.u64()?,
                    last: r.u64()?,
                    zero: r.bool()?,
                },
                exclusive: r.bool()?,
            },
            3 => Change::LockReleased {
                id: LockId(r.u64()?),
                file: r.file()?,
            },
            4 => Change::Open {
                open: OpenId(r.u64()?),
                file: r.file()?,
                client: r.guid()?,
                access: r.u32()?,
                share_access: r.u32()?,
                durable: r.bool()?,
                cache: match r.u8()? {
                    0 => None,
                    1 => Some(r.cache_key()?),
                    d => return Err(DecodeError::BadDiscriminant(d)),
                },
            },
            5 => Change::OpenClosed {
                open: OpenId(r.u64()?),
                file: r.file()?,
            },
            6 => Change::Lease {
                key: r.cache_key()?,
                file: r.file()?,
                client: r.guid()?,
                state: LeaseState(r.u8()?),
                epoch: r.u16()?,
                version: match r.u8()? {
                    0 => None,
                    1 => Some(LeaseVersion::V1),
                    2 => Some(LeaseVersion::V2 { parent: None }),
                    3 => Some(LeaseVersion::V2 {
                        parent: Some(LeaseKey(r.arr()?)),
                    }),
                    d => return Err(DecodeError::BadDiscriminant(d)),
                },
            },
            7 => Change::LeaseRemoved {
                key: r.cache_key()?,
            },
            8 => Change::NlmShare {
                file: r.file()?,
                owner: r.owner()?,
                access: r.u32()?,
                deny: r.u32()?,
            },
            9 => Change::NlmShareReleased {
                file: r.file()?,
                owner: r.owner()?,
            },
            10 => Change::Monitored {
                host: r.bytes()?,
                nsm_state: r.u32()? as i32,
            },
            11 => Change::Unmonitored { host: r.bytes()? },
            t => return Err(DecodeError::BadTag(t)),
        };
        if !r.0.is_empty() {
            return Err(DecodeError::Trailing(r.0.len()));
        }
        Ok(Record { seq, change })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Arc<NlmOwner> {
        Arc::new(NlmOwner::new(
            b"client-\xff".to_vec(),
            -7,
            b"oh\x00\xff".to_vec(),
        ))
    }

    fn all() -> Vec<Change> {
        let guid = ClientGuid([3; 16]);
        let lease = CacheKey::Lease(guid, LeaseKey([9; 16]));
        vec![
            Change::NlmLock {
                id: LockId(1),
                file: FileId(u64::MAX),
                owner: owner(),
                range: LockRange::nlm(5, 0).unwrap(),
                exclusive: true,
            },
            Change::SmbLock {
                id: LockId(2),
                file: FileId(3),
                open: OpenId(4),
                span: Span::smb(10, 0).unwrap(),
                exclusive: false,
            },
            Change::LockReleased {
                id: LockId(2),
                file: FileId(3),
            },
            Change::Open {
                open: OpenId(4),
                file: FileId(3),
                client: guid,
                access: 0x12_0089,
                share_access: 7,
                durable: true,
                cache: Some(lease),
            },
            Change::Open {
                open: OpenId(5),
                file: FileId(3),
                client: guid,
                access: 1,
                share_access: 0,
                durable: false,
                cache: Some(CacheKey::Oplock(OpenId(5))),
            },
            Change::OpenClosed {
                open: OpenId(4),
                file: FileId(3),
            },
            Change::Lease {
                key: lease,
                file: FileId(3),
                client: guid,
                state: LeaseState::RWH,
                epoch: 65535,
                version: Some(LeaseVersion::V2 {
                    parent: Some(LeaseKey([1; 16])),
                }),
            },
            Change::Lease {
                key: lease,
                file: FileId(3),
                client: guid,
                state: LeaseState::R,
                epoch: 0,
                version: None,
            },
            Change::LeaseRemoved { key: lease },
            Change::NlmShare {
                file: FileId(8),
                owner: owner(),
                access: 3,
                deny: 1,
            },
            Change::NlmShareReleased {
                file: FileId(8),
                owner: owner(),
            },
            Change::Monitored {
                host: b"host".to_vec(),
                nsm_state: -13,
            },
            Change::Unmonitored { host: Vec::new() },
        ]
    }

    #[test]
    fn every_change_round_trips() {
        for (i, change) in all().into_iter().enumerate() {
            let rec = Record {
                seq: 1000 + i as u64,
                change,
            };
            let bytes = rec.to_bytes();
            assert_eq!(Record::from_bytes(&bytes), Ok(rec.clone()), "{rec:?}");
            // Every strict prefix is truncated, never a panic or a different record.
            for n in 0..bytes.len() {
                assert!(
                    Record::from_bytes(&bytes[..n]).is_err(),
                    "{rec:?} cut at {n}"
                );
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert_eq!(Record::from_bytes(&longer), Err(DecodeError::Trailing(1)));
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        let mut b = 1u64.to_be_bytes().to_vec();
        b.push(99);
        assert_eq!(Record::from_bytes(&b), Err(DecodeError::BadTag(99)));
        // Monitored with a 4 GiB host name: refused before allocating.
        let mut b = 1u64.to_be_bytes().to_vec();
        b.push(10);
        b.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            Record::from_bytes(&b),
            Err(DecodeError::TooLong(u32::MAX as usize))
        );
    }
}
