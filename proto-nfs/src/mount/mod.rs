//! MOUNT v3 (RFC 1813, Appendix I) and the export rules it applies.
//!
//! - [`msg`]: the codecs of the six procedures (NULL, MNT, DUMP, UMNT, UMNTALL, EXPORT).
//! - [`service`]: answering them from the configured exports, keeping the mount list.
//!
//! Only version 3 is served: MOUNT v1's `fhstatus` carries a fixed 32-byte handle and Janus's
//! handles can be longer, so v1 calls get PROG_MISMATCH {3, 3}.

pub mod msg;
pub mod service;

pub use msg::{ExportNode, MntResult, MountBody, MountCall, MountReply, MountStat};
pub use service::{MountAction, MountService};

/// MOUNT program number (RFC 1813 Appendix I).
pub const MOUNT_PROGRAM: u32 = 100_005;
/// MOUNT protocol version 3.
pub const MOUNT_V3: u32 = 3;
