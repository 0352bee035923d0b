//! Typed create contexts (MS-SMB2 §2.2.13.2, §2.2.14.2): the request contexts a file server
//! meets and the response contexts it sends. [`CreateContext`] keeps any context as
//! name/data; [`RequestContext::parse`] interprets the known ones and leaves the rest as
//! [`RequestContext::Unknown`] (§3.3.5.9: a server ignores contexts it does not know).
//! ExtA (MS-FSCC FILE_FULL_EA_INFORMATION) and SecD (MS-DTYP security descriptor) carry
//! structures of their own that stay raw here.

use super::create::{context_name, CreateContext};
use super::file_id::FileId;
use crate::error::{DecodeError, DecodeResult};
use crate::wire::{le16, le32, le64};

fn arr16(b: &[u8]) -> [u8; 16] {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    a
}

/// A lease request (SMB2_CREATE_REQUEST_LEASE, §2.2.13.2.8, or _V2, §2.2.13.2.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseRequest {
    /// LeaseKey.
    pub lease_key: [u8; 16],
    /// LeaseState requested (R 0x1, H 0x2, W 0x4).
    pub lease_state: u32,
    /// Flags (v2: SMB2_LEASE_FLAG_PARENT_LEASE_KEY_SET 0x4).
    pub flags: u32,
    /// The v2 fields: ParentLeaseKey and Epoch; `None` for a v1 request.
    pub v2: Option<([u8; 16], u16)>,
}

/// A create context of a CREATE request, interpreted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestContext {
    /// MxAc (§2.2.13.2.5): return the maximal access; optional timestamp.
    QueryMaximalAccess {
        /// Timestamp for which to evaluate access (FILETIME), if given.
        timestamp: Option<u64>,
    },
    /// QFid (§2.2.13.2.9): return the on-disk file id.
    QueryOnDiskId,
    /// AlSi (§2.2.13.2.6): initial allocation size.
    AllocationSize(u64),
    /// TWrp (§2.2.13.2.7): open a previous version at this time.
    TimewarpToken(u64),
    /// DHnQ (§2.2.13.2.3): durable handle request.
    DurableHandleRequest,
    /// DHnC (§2.2.13.2.4): durable handle reconnect.
    DurableHandleReconnect(FileId),
    /// DH2Q (§2.2.13.2.11): durable handle request v2.
    DurableHandleRequestV2 {
        /// Timeout in milliseconds.
        timeout: u32,
        /// Flags (SMB2_DHANDLE_FLAG_PERSISTENT 0x2).
        flags: u32,
        /// CreateGuid.
        create_guid: [u8; 16],
    },
    /// DH2C (§2.2.13.2.12): durable handle reconnect v2.
    DurableHandleReconnectV2 {
        /// FileId.
        file_id: FileId,
        /// CreateGuid.
        create_guid: [u8; 16],
        /// Flags.
        flags: u32,
    },
    /// RqLs (§2.2.13.2.8 / §2.2.13.2.10): a lease request, v1 or v2 by length.
    Lease(LeaseRequest),
    /// ExtA (§2.2.13.2.2): extended attributes to set, raw FILE_FULL_EA_INFORMATION.
    ExtendedAttributes(Vec<u8>),
    /// SecD (§2.2.13.2.1): security descriptor to set, raw.
    SecurityDescriptor(Vec<u8>),
    /// Any other context, to be ignored.
    Unknown(CreateContext),
}

fn bad(what: &'static str) -> DecodeError {
    DecodeError::Invalid { what }
}

impl RequestContext {
    /// Interprets a request context. A known name with data of the wrong size is
    /// malformed (§3.3.5.9: STATUS_INVALID_PARAMETER), and so is a name shorter than the
    /// 4 bytes every defined one has (§2.2.13.2; Windows refuses such a context with
    /// STATUS_INVALID_PARAMETER while it ignores unknown names of 4 bytes or more, as
    /// smbtorture smb2.create.blob checks).
    pub fn parse(c: &CreateContext) -> DecodeResult<Self> {
        let d = c.data.as_slice();
        if c.name.len() < 4 {
            return Err(bad("create context name shorter than 4 bytes"));
        }
        Ok(match c.name.as_slice() {
            n if n == context_name::MXAC => match d.len() {
                0 => RequestContext::QueryMaximalAccess { timestamp: None },
                8 => RequestContext::QueryMaximalAccess {
                    timestamp: Some(le64(d, 0)),
                },
                _ => return Err(bad("MxAc")),
            },
            n if n == context_name::QFID => RequestContext::QueryOnDiskId,
            n if n == context_name::ALSI => match d.len() {
                8 => RequestContext::AllocationSize(le64(d, 0)),
                _ => return Err(bad("AlSi")),
            },
            n if n == context_name::TWRP => match d.len() {
                8 => RequestContext::TimewarpToken(le64(d, 0)),
                _ => return Err(bad("TWrp")),
            },
            n if n == context_name::DHNQ => match d.len() {
                16 => RequestContext::DurableHandleRequest,
                _ => return Err(bad("DHnQ")),
            },
            n if n == context_name::DHNC => match d.len() {
                16 => RequestContext::DurableHandleReconnect(FileId::from_slice(d)),
                _ => return Err(bad("DHnC")),
            },
            n if n == context_name::DH2Q => match d.len() {
                32 => RequestContext::DurableHandleRequestV2 {
                    timeout: le32(d, 0),
                    flags: le32(d, 4),
                    create_guid: arr16(&d[16..]),
                },
                _ => return Err(bad("DH2Q")),
            },
            n if n == context_name::DH2C => match d.len() {
                36 => RequestContext::DurableHandleReconnectV2 {
                    file_id: FileId::from_slice(d),
                    create_guid: arr16(&d[16..]),
                    flags: le32(d, 32),
                },
                _ => return Err(bad("DH2C")),
            },
            n if n == context_name::RQLS => match d.len() {
                32 | 52 => RequestContext::Lease(LeaseRequest {
                    lease_key: arr16(d),
                    lease_state: le32(d, 16),
                    flags: le32(d, 20),
                    v2: (d.len() == 52).then(|| (arr16(&d[32..]), le16(d, 48))),
                }),
                _ => return Err(bad("RqLs")),
            },
            n if n == context_name::EXTA => RequestContext::ExtendedAttributes(d.to_vec()),
            n if n == context_name::SECD => RequestContext::SecurityDescriptor(d.to_vec()),
            _ => RequestContext::Unknown(c.clone()),
        })
    }

    /// The context in name/data form (for tests and clients).
    pub fn to_context(&self) -> CreateContext {
        let (name, data): (&[u8], Vec<u8>) = match self {
            RequestContext::QueryMaximalAccess { timestamp } => (
                context_name::MXAC,
                timestamp
                    .map(|t| t.to_le_bytes().to_vec())
                    .unwrap_or_default(),
            ),
            RequestContext::QueryOnDiskId => (context_name::QFID, Vec::new()),
            RequestContext::AllocationSize(s) => (context_name::ALSI, s.to_le_bytes().to_vec()),
            RequestContext::TimewarpToken(t) => (context_name::TWRP, t.to_le_bytes().to_vec()),
            RequestContext::DurableHandleRequest => (context_name::DHNQ, vec![0; 16]),
            RequestContext::DurableHandleReconnect(f) => {
                let mut v = Vec::new();
                f.encode(&mut v);
                (context_name::DHNC, v)
            }
            RequestContext::DurableHandleRequestV2 {
                timeout,
                flags,
                create_guid,
            } => {
                let mut v = Vec::with_capacity(32);
                v.extend_from_slice(&timeout.to_le_bytes());
                v.extend_from_slice(&flags.to_le_bytes());
                v.extend_from_slice(&[0; 8]);
                v.extend_from_slice(create_guid);
                (context_name::DH2Q, v)
            }
            RequestContext::DurableHandleReconnectV2 {
                file_id,
                create_guid,
                flags,
            } => {
                let mut v = Vec::with_capacity(36);
                file_id.encode(&mut v);
                v.extend_from_slice(create_guid);
                v.extend_from_slice(&flags.to_le_bytes());
                (context_name::DH2C, v)
            }
            RequestContext::Lease(l) => {
                let mut v = Vec::with_capacity(52);
                v.extend_from_slice(&l.lease_key);
                v.extend_from_slice(&l.lease_state.to_le_bytes());
                v.extend_from_slice(&l.flags.to_le_bytes());
                v.extend_from_slice(&[0; 8]);
                if let Some((parent, epoch)) = l.v2 {
                    v.extend_from_slice(&parent);
                    v.extend_from_slice(&epoch.to_le_bytes());
                    v.extend_from_slice(&[0; 2]);
                }
                (context_name::RQLS, v)
            }
            RequestContext::ExtendedAttributes(d) => (context_name::EXTA, d.clone()),
            RequestContext::SecurityDescriptor(d) => (context_name::SECD, d.clone()),
            RequestContext::Unknown(c) => return c.clone(),
        };
        CreateContext {
            name: name.to_vec(),
            data,
        }
    }
}

/// A create context of a CREATE response (§2.2.14.2), built by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseContext {
    /// MxAc response (§2.2.14.2.5): QueryStatus and MaximalAccess.
    MaximalAccess {
        /// QueryStatus (an NTSTATUS).
        query_status: u32,
        /// MaximalAccess.
        maximal_access: u32,
    },
    /// QFid response (§2.2.14.2.9): DiskFileId, VolumeId and 16 reserved bytes (32 bytes,
    /// as Samba sends it).
    OnDiskId {
        /// DiskFileId.
        disk_file_id: u64,
        /// VolumeId.
        volume_id: u64,
    },
    /// DHnQ response (§2.2.14.2.3, SMB2_CREATE_DURABLE_HANDLE_RESPONSE): 8 reserved bytes.
    DurableHandle,
    /// DH2Q response (§2.2.14.2.12, SMB2_CREATE_DURABLE_HANDLE_RESPONSE_V2).
    DurableHandleV2 {
        /// Timeout granted, in milliseconds.
        timeout: u32,
        /// Flags (SMB2_DHANDLE_FLAG_PERSISTENT 0x2 when a persistent handle is granted).
        flags: u32,
    },
    /// RqLs response (SMB2_CREATE_RESPONSE_LEASE, §2.2.14.2.10, 32 bytes; or _V2,
    /// §2.2.14.2.11, 52 bytes, when `v2` is given). LeaseDuration is written as 0.
    Lease {
        /// LeaseKey.
        lease_key: [u8; 16],
        /// LeaseState granted.
        lease_state: u32,
        /// LeaseFlags (SMB2_LEASE_FLAG_BREAK_IN_PROGRESS 0x2, v2:
        /// SMB2_LEASE_FLAG_PARENT_LEASE_KEY_SET 0x4).
        flags: u32,
        /// The v2 fields: ParentLeaseKey and Epoch.
        v2: Option<([u8; 16], u16)>,
    },
}

impl ResponseContext {
    /// The context in name/data form, to put in a [`super::CreateResponse`].
    pub fn to_context(&self) -> CreateContext {
        match self {
            ResponseContext::MaximalAccess {
                query_status,
                maximal_access,
            } => {
                let mut v = query_status.to_le_bytes().to_vec();
                v.extend_from_slice(&maximal_access.to_le_bytes());
                CreateContext {
                    name: context_name::MXAC.to_vec(),
                    data: v,
                }
            }
            ResponseContext::OnDiskId {
                disk_file_id,
                volume_id,
            } => {
                let mut v = disk_file_id.to_le_bytes().to_vec();
                v.extend_from_slice(&volume_id.to_le_bytes());
                v.extend_from_slice(&[0; 16]);
                CreateContext {
                    name: context_name::QFID.to_vec(),
                    data: v,
                }
            }
            ResponseContext::DurableHandle => CreateContext {
                name: context_name::DHNQ.to_vec(),
                data: vec![0; 8],
            },
            ResponseContext::DurableHandleV2 { timeout, flags } => {
                let mut v = timeout.to_le_bytes().to_vec();
                v.extend_from_slice(&flags.to_le_bytes());
                CreateContext {
                    name: context_name::DH2Q.to_vec(),
                    data: v,
                }
            }
            ResponseContext::Lease {
                lease_key,
                lease_state,
                flags,
                v2,
            } => {
                let mut v = lease_key.to_vec();
                v.extend_from_slice(&lease_state.to_le_bytes());
                v.extend_from_slice(&flags.to_le_bytes());
                v.extend_from_slice(&0u64.to_le_bytes());
                if let Some((parent, epoch)) = v2 {
                    v.extend_from_slice(parent);
                    v.extend_from_slice(&epoch.to_le_bytes());
                    v.extend_from_slice(&[0; 2]);
                }
                CreateContext {
                    name: context_name::RQLS.to_vec(),
                    data: v,
                }
            }
        }
    }

    /// Interprets a response context (for tests and clients); `None` for other names.
    pub fn parse(c: &CreateContext) -> DecodeResult<Option<Self>> {
        let d = c.data.as_slice();
        Ok(match c.name.as_slice() {
            n if n == context_name::MXAC => match d.len() {
                8 => Some(ResponseContext::MaximalAccess {
                    query_status: le32(d, 0),
                    maximal_access: le32(d, 4),
                }),
                _ => return Err(bad("MxAc response")),
            },
            n if n == context_name::QFID => match d.len() {
                32 => Some(ResponseContext::OnDiskId {
                    disk_file_id: le64(d, 0),
                    volume_id: le64(d, 8),
                }),
                _ => return Err(bad("QFid response")),
            },
            n if n == context_name::DHNQ => match d.len() {
                8 => Some(ResponseContext::DurableHandle),
                _ => return Err(bad("DHnQ response")),
            },
            n if n == context_name::DH2Q => match d.len() {
                8 => Some(ResponseContext::DurableHandleV2 {
                    timeout: le32(d, 0),
                    flags: le32(d, 4),
                }),
                _ => return Err(bad("DH2Q response")),
            },
            n if n == context_name::RQLS => match d.len() {
                32 | 52 => Some(ResponseContext::Lease {
                    lease_key: arr16(d),
                    lease_state: le32(d, 16),
                    flags: le32(d, 20),
                    v2: (d.len() == 52).then(|| (arr16(&d[32..]), le16(d, 48))),
                }),
                _ => return Err(bad("lease response")),
            },
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durable_response_contexts_round_trip() {
        // §2.2.14.2.3: 8 reserved bytes; §2.2.14.2.12: Timeout then Flags.
        let v1 = ResponseContext::DurableHandle.to_context();
        assert_eq!((v1.name.as_slice(), v1.data.len()), (&b"DHnQ"[..], 8));
        let v2 = ResponseContext::DurableHandleV2 {
            timeout: 60_000,
            flags: 0,
        };
        let c = v2.to_context();
        assert_eq!(c.name, b"DH2Q");
        assert_eq!(c.data, [0x60, 0xEA, 0, 0, 0, 0, 0, 0]);
        assert_eq!(ResponseContext::parse(&c).expect("parses"), Some(v2));
        assert_eq!(
            ResponseContext::parse(&v1).expect("parses"),
            Some(ResponseContext::DurableHandle)
        );
        let short = CreateContext {
            name: b"DH2Q".to_vec(),
            data: vec![0; 4],
        };
        assert!(ResponseContext::parse(&short).is_err());
    }
}
