//! A request of any command, decoded by its header's Command field: what the server's
//! dispatcher matches on.

use super::*;
use crate::error::{DecodeError, DecodeResult};
use crate::header::Command;
use bytes::Bytes;

/// A decoded request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Request {
    Negotiate(NegotiateRequest),
    SessionSetup(SessionSetupRequest),
    Logoff(LogoffRequest),
    TreeConnect(TreeConnectRequest),
    TreeDisconnect(TreeDisconnectRequest),
    Create(CreateRequest),
    Close(CloseRequest),
    Flush(FlushRequest),
    Read(ReadRequest),
    Write(WriteRequest),
    Lock(LockRequest),
    Ioctl(IoctlRequest),
    Cancel(CancelRequest),
    Echo(EchoRequest),
    QueryDirectory(QueryDirectoryRequest),
    ChangeNotify(ChangeNotifyRequest),
    QueryInfo(QueryInfoRequest),
    SetInfo(SetInfoRequest),
    OplockBreak(OplockBreak),
}

impl Request {
    /// Decodes the body of `msg` (one message of a chain, header first) as `command`.
    /// `dialect_311` says whether the connection negotiated 3.1.1 (TREE_CONNECT's Flags).
    /// An unknown command is STATUS_INVALID_PARAMETER (through [`DecodeError::status`]).
    pub fn decode(command: Command, msg: &Bytes, dialect_311: bool) -> DecodeResult<Request> {
        Ok(match command {
            Command::NEGOTIATE => Request::Negotiate(NegotiateRequest::decode(msg)?),
            Command::SESSION_SETUP => Request::SessionSetup(SessionSetupRequest::decode(msg)?),
            Command::LOGOFF => Request::Logoff(LogoffRequest::decode(msg)?),
            Command::TREE_CONNECT => {
                Request::TreeConnect(TreeConnectRequest::decode(msg, dialect_311)?)
            }
            Command::TREE_DISCONNECT => {
                Request::TreeDisconnect(TreeDisconnectRequest::decode(msg)?)
            }
            Command::CREATE => Request::Create(CreateRequest::decode(msg)?),
            Command::CLOSE => Request::Close(CloseRequest::decode(msg)?),
            Command::FLUSH => Request::Flush(FlushRequest::decode(msg)?),
            Command::READ => Request::Read(ReadRequest::decode(msg)?),
            Command::WRITE => Request::Write(WriteRequest::decode(msg)?),
            Command::LOCK => Request::Lock(LockRequest::decode(msg)?),
            Command::IOCTL => Request::Ioctl(IoctlRequest::decode(msg)?),
            Command::CANCEL => Request::Cancel(CancelRequest::decode(msg)?),
            Command::ECHO => Request::Echo(EchoRequest::decode(msg)?),
            Command::QUERY_DIRECTORY => {
                Request::QueryDirectory(QueryDirectoryRequest::decode(msg)?)
            }
            Command::CHANGE_NOTIFY => Request::ChangeNotify(ChangeNotifyRequest::decode(msg)?),
            Command::QUERY_INFO => Request::QueryInfo(QueryInfoRequest::decode(msg)?),
            Command::SET_INFO => Request::SetInfo(SetInfoRequest::decode(msg)?),
            Command::OPLOCK_BREAK => Request::OplockBreak(OplockBreak::decode(msg)?),
            _ => return Err(DecodeError::Invalid { what: "Command" }),
        })
    }
}
