//! SMB2 command codecs: requests decoded and responses encoded by the server, and the
//! reverse for tests and clients. Every decoder takes a whole message (`msg` starts at the
//! SMB2 header; offsets in the body count from there, MS-SMB2 §2.2) and every encoder writes
//! the body that follows a header.
//!
//! Done: NEGOTIATE, SESSION_SETUP, LOGOFF, TREE_CONNECT, TREE_DISCONNECT, ECHO, CANCEL and the
//! ERROR response. The file commands (CREATE, CLOSE, FLUSH, READ, WRITE, LOCK, IOCTL,
//! QUERY_DIRECTORY, CHANGE_NOTIFY, QUERY_INFO, SET_INFO, OPLOCK_BREAK) are not here yet.

pub mod error_response;
pub mod negotiate;
pub mod session_setup;
pub mod simple;
pub mod tree_connect;

pub use error_response::{ErrorContext, ErrorResponse};
pub use negotiate::{NegotiateContext, NegotiateRequest, NegotiateResponse};
pub use session_setup::{SessionSetupRequest, SessionSetupResponse};
pub use simple::{
    CancelRequest, EchoRequest, EchoResponse, LogoffRequest, LogoffResponse, TreeDisconnectRequest,
    TreeDisconnectResponse,
};
pub use tree_connect::{TreeConnectContext, TreeConnectRequest, TreeConnectResponse};
