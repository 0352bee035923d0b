//! SMB 2/3 for Janus, sans-IO: the foundation the SMB server is built on.
//!
//! What is here (each module cites the MS-SMB2 / MS-NLMP / RFC sections it follows):
//! - [`nbss`]: NBSS framing over direct TCP with a caller-chosen size limit.
//! - [`smb1`]: the SMB1 NEGOTIATE that older clients open with, and its SMB2 answer.
//! - [`header`]: the SMB2 header, sync and async forms; [`status`]: NTSTATUS values.
//! - [`compound`]: splitting and building compound chains.
//! - [`credits`]: the message-id sequence window and credit grants, with bounded memory.
//! - [`cmd`]: command codecs for NEGOTIATE (with negotiate contexts), SESSION_SETUP,
//!   LOGOFF, TREE_CONNECT (with the 3.1.1 extension), TREE_DISCONNECT, ECHO, CANCEL, the
//!   ERROR response, CREATE (with typed create contexts), CLOSE, FLUSH, READ, WRITE,
//!   LOCK, IOCTL (with FSCTL_VALIDATE_NEGOTIATE_INFO), QUERY_DIRECTORY, CHANGE_NOTIFY,
//!   QUERY_INFO, SET_INFO and OPLOCK_BREAK (oplock and lease forms): every SMB2 command.
//! - [`crypto`]: the SP800-108 KDF and session keys for 3.0/3.0.2/3.1.1, the 3.1.1 preauth
//!   hash chain, signing (HMAC-SHA256, AES-CMAC, AES-GMAC), encryption with the transform
//!   header (AES-128/256-CCM/GCM).
//! - [`auth`]: the server side of NTLMSSP with NTLMv2 only, and minimal SPNEGO.
//! - [`client`]: the client side of NEGOTIATE and SPNEGO + NTLMv2 SESSION_SETUP, and the
//!   signing and encryption of a client's requests: for test clients and tools.
//! - [`error`]: the decode error every decoder returns and its one NTSTATUS mapping.
//! - [`server`]: the per-connection server machine that ties the above together
//!   (negotiate, sessions, signing, encryption, credits, compounds, trees, async and
//!   CANCEL), handing every file operation to the upper layer as a decoded call.
//!
//! - [`fscc`]: the MS-FSCC information classes QUERY_INFO, SET_INFO and QUERY_DIRECTORY
//!   carry, with the output-buffer size rules (MS-FSA 2.1.5.x).
//! - [`security`]: MS-DTYP SIDs, ACLs and self-relative security descriptors derived from
//!   a Unix mode, and the reverse mapping for SET_INFO.
//! - [`dcerpc`]: connection-oriented DCE/RPC with NDR20 and the srvsvc pipe, so clients
//!   can list shares.
//! - [`names`]: share-relative CREATE paths, rename targets and MS-FSA wildcards; no name
//!   parsed here can leave the share.
//!
//! What is not here yet: the lease and durable-handle response contexts; FSCTL payloads
//! other than VALIDATE_NEGOTIATE_INFO and the pipe transceive; the compression transform;
//! multichannel (a binding SESSION_SETUP is refused, with the status and signature of
//! MS-SMB2 3.3.5.5); and the open table (the server core's, next to the lock table).
//!
//! Nothing here does I/O, reads a clock or draws random bytes: challenges, nonces, GUIDs
//! and times are inputs (see `docs/architecture.md`, "The sans-IO rule").

pub mod auth;
pub mod client;
pub mod cmd;
pub mod compound;
pub mod credits;
pub mod crypto;
pub mod dcerpc;
pub mod error;
pub mod fscc;
pub mod header;
pub mod names;
pub mod nbss;
pub mod security;
pub mod server;
pub mod smb1;
pub mod status;
pub mod wire;

pub use error::{DecodeError, DecodeResult};
pub use header::{Command, Header, HeaderId, HEADER_LEN};
pub use status::NtStatus;
