//! SMB2 command codecs: requests decoded and responses encoded by the server, and the
//! reverse for tests and clients. Every decoder takes a whole message (`msg` starts at the
//! SMB2 header; offsets in the body count from there, MS-SMB2 §2.2) and every encoder writes
//! the body that follows a header.
//!
//! Done: every SMB2 command. NEGOTIATE, SESSION_SETUP, LOGOFF, TREE_CONNECT,
//! TREE_DISCONNECT, ECHO, CANCEL, the ERROR response, CREATE (with the create context
//! list), CLOSE, FLUSH, READ, WRITE, LOCK, IOCTL (with
//! FSCTL_VALIDATE_NEGOTIATE_INFO), QUERY_DIRECTORY, CHANGE_NOTIFY, QUERY_INFO, SET_INFO and
//! OPLOCK_BREAK (oplock and lease forms); typed create contexts (MxAc, QFid, AlSi, TWrp,
//! durable handle v1/v2, lease v1/v2; ExtA and SecD raw). Not here: the MS-FSCC information
//! classes inside QUERY_DIRECTORY/QUERY_INFO/SET_INFO buffers, lease and durable response
//! contexts, FSCTL payloads other than VALIDATE_NEGOTIATE_INFO.

pub mod close;
pub mod create;
pub mod create_context;
pub mod error_response;
pub mod file_id;
pub mod ioctl;
pub mod lock;
pub mod negotiate;
pub mod query;
pub mod read_write;
pub mod request;
pub mod session_setup;
pub mod simple;
pub mod tree_connect;

pub use close::{CloseRequest, CloseResponse, FlushRequest, FlushResponse};
pub use create::{CreateContext, CreateRequest, CreateResponse, FileTimesAndSizes};
pub use create_context::{LeaseRequest, RequestContext, ResponseContext};
pub use error_response::{ErrorContext, ErrorResponse};
pub use file_id::FileId;
pub use ioctl::{
    IoctlRequest, IoctlResponse, ValidateNegotiateInfoRequest, ValidateNegotiateInfoResponse,
};
pub use lock::{LockElement, LockRequest, LockResponse, OplockBreak};
pub use negotiate::{NegotiateContext, NegotiateRequest, NegotiateResponse};
pub use query::{
    ChangeNotifyRequest, ChangeNotifyResponse, OutputBufferResponse, QueryDirectoryRequest,
    QueryDirectoryResponse, QueryInfoRequest, QueryInfoResponse, SetInfoRequest, SetInfoResponse,
};
pub use read_write::{ReadRequest, ReadResponse, WriteRequest, WriteResponse};
pub use request::Request;
pub use session_setup::{SessionSetupRequest, SessionSetupResponse};
pub use simple::{
    CancelRequest, EchoRequest, EchoResponse, LogoffRequest, LogoffResponse, TreeDisconnectRequest,
    TreeDisconnectResponse,
};
pub use tree_connect::{TreeConnectContext, TreeConnectRequest, TreeConnectResponse};
