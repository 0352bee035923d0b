//! Persistence records: every durable change the table makes comes out as a [`Record`] with
//! a sequence number, in mutation order (docs/architecture.md lesson 2). The runtime appends them
//! to its journal; [`LockTable::restore`](crate::LockTable::restore) replays them into a
//! fresh table (docs/cross-protocol.md §5 rule 1).
//!
//! Breaks in progress and waiters are not durable (MS-SMB2 3.3.3 starts with an empty open
//! table; clients retry); everything a client can reclaim is.

use std::sync::Arc;

use crate::types::{
    CacheKey, ClientGuid, FileId, LeaseState, LeaseVersion, LockId, LockRange, NlmOwner, OpenId,
    Span,
};

/// One durable change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Strictly increasing sequence number (the journal order).
    pub seq: u64,
    /// What changed.
    pub change: Change,
}

/// A durable change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// An NLM lock was granted (POSIX merges/splits appear as releases + grants).
    NlmLock {
        /// Lock id.
        id: LockId,
        /// File.
        file: FileId,
        /// Owner.
        owner: Arc<NlmOwner>,
        /// Range.
        range: LockRange,
        /// Exclusive (write) lock.
        exclusive: bool,
    },
    /// An SMB byte-range lock was granted.
    SmbLock {
        /// Lock id (stacked identical locks have different ids).
        id: LockId,
        /// File.
        file: FileId,
        /// Owning open.
        open: OpenId,
        /// Range (zero-length ranges round-trip).
        span: Span,
        /// Exclusive lock.
        exclusive: bool,
    },
    /// A lock was released.
    LockReleased {
        /// Lock id.
        id: LockId,
        /// File.
        file: FileId,
    },
    /// An SMB open was registered.
    Open {
        /// Open.
        open: OpenId,
        /// File.
        file: FileId,
        /// Client.
        client: ClientGuid,
        /// DesiredAccess.
        access: u32,
        /// ShareAccess.
        share_access: u32,
        /// Durable/persistent: survives a restart and can be reclaimed in grace.
        durable: bool,
        /// The lease or oplock this open belongs to.
        cache: Option<CacheKey>,
    },
    /// An SMB open was closed.
    OpenClosed {
        /// Open.
        open: OpenId,
        /// File.
        file: FileId,
    },
    /// A lease/oplock state was set (grant, promotion, acknowledged or timed-out break).
    Lease {
        /// Key.
        key: CacheKey,
        /// File.
        file: FileId,
        /// Client.
        client: ClientGuid,
        /// State.
        state: LeaseState,
        /// Epoch.
        epoch: u16,
        /// Version (None for oplocks).
        version: Option<LeaseVersion>,
    },
    /// A lease/oplock lost its last open and is gone.
    LeaseRemoved {
        /// Key.
        key: CacheKey,
    },
    /// An NLM SHARE reservation was granted or updated (O11).
    NlmShare {
        /// File.
        file: FileId,
        /// Owner (caller_name + oh identify it; svid is 0).
        owner: Arc<NlmOwner>,
        /// `fsh4_access` bits (1 read, 2 write).
        access: u32,
        /// `fsh4_mode` deny bits (1 deny read, 2 deny write).
        deny: u32,
    },
    /// An NLM SHARE reservation was removed.
    NlmShareReleased {
        /// File.
        file: FileId,
        /// Owner.
        owner: Arc<NlmOwner>,
    },
    /// An NLM client host is monitored (SM_MON); its NSM state number.
    Monitored {
        /// Host (`caller_name`).
        host: Vec<u8>,
        /// NSM state.
        nsm_state: i32,
    },
    /// An NLM client host is no longer monitored.
    Unmonitored {
        /// Host.
        host: Vec<u8>,
    },
}

/// Why records could not be replayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    /// Sequence numbers must strictly increase.
    #[error("record {seq} is out of order")]
    OutOfOrder {
        /// The offending sequence number.
        seq: u64,
    },
    /// A record refers to something the earlier records never created.
    #[error("record {seq} refers to unknown state: {what}")]
    Dangling {
        /// The offending sequence number.
        seq: u64,
        /// What was missing.
        what: &'static str,
    },
}
