//! PORTMAP v2 (RFC 1833 §3) and RPCBIND v3/v4 (RFC 1833 §2).
//!
//! - [`pmap`] and [`rpcbind`]: the message codecs.
//! - [`registry`]: the table of registered services and universal addresses.
//! - [`service`]: answering calls from the table.
//!
//! Program 100000 is served in versions 2 (PORTMAP), 3 and 4 (RPCBIND), on the NFS port and,
//! if configured, on a stand-alone portmapper port.

pub mod pmap;
pub mod registry;
pub mod rpcbind;
pub mod service;

pub use pmap::{Mapping, PmapCall, PmapReply};
pub use registry::Registry;
pub use rpcbind::{Rpcb, RpcbCall, RpcbReply};

/// The portmapper's program number.
pub const PMAP_PROGRAM: u32 = 100_000;
/// PORTMAP version 2.
pub const PMAP_V2: u32 = 2;
/// RPCBIND version 3.
pub const RPCBIND_V3: u32 = 3;
/// RPCBIND version 4.
pub const RPCBIND_V4: u32 = 4;
