//! ONC RPC, PORTMAP/RPCBIND, MOUNT v3 and NFSv3 for Janus, sans-IO.
//!
//! Layers, bottom up:
//! - [`xdr`]: XDR primitives (RFC 4506).
//! - [`rpc`]: ONC RPC messages and authentication (RFC 5531), record marking, the
//!   duplicate-request cache, and the client side used for callbacks.
//! - [`portmap`]: PORTMAP v2 (RFC 1833 §3) and RPCBIND v3/v4 (RFC 1833 §2).
//! - [`mount`]: MOUNT v3 (RFC 1813 Appendix I) and the export rules.
//! - [`nfs3`]: NFSv3 (RFC 1813) arguments and results for all 22 procedures.
//! - [`server`]: the server state machine that ties them together: bytes and file-system
//!   results in, replies and file-system requests out.
//!
//! Nothing here does I/O or reads a clock: see `docs/architecture.md`, "The sans-IO rule".

pub mod mount;
pub mod nfs3;
pub mod portmap;
pub mod rpc;
pub mod server;
pub mod xdr;
