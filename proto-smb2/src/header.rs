//! The SMB2 packet header, sync and async forms (MS-SMB2 §2.2.1).

use crate::error::{DecodeError, DecodeResult};
use crate::status::NtStatus;
use crate::wire::{le16, le32, le64};
use bytes::BufMut;

/// Length of the SMB2 header; every body offset in MS-SMB2 counts from the header's start.
pub const HEADER_LEN: usize = 64;
/// ProtocolId of an SMB2 message.
pub const PROTOCOL_ID: [u8; 4] = [0xFE, b'S', b'M', b'B'];
const HEADER_WHAT: &str = "SMB2 header";

/// Header flags (MS-SMB2 §2.2.1.1/§2.2.1.2).
pub mod flags {
    /// The message is a response.
    pub const SERVER_TO_REDIR: u32 = 0x0000_0001;
    /// The header is the async form (AsyncId instead of ProcessId/TreeId).
    pub const ASYNC_COMMAND: u32 = 0x0000_0002;
    /// The message is a related operation in a compound chain (§3.2.4.1.4).
    pub const RELATED_OPERATIONS: u32 = 0x0000_0004;
    /// The message is signed.
    pub const SIGNED: u32 = 0x0000_0008;
    /// Priority bits (3.1.1).
    pub const PRIORITY_MASK: u32 = 0x0000_0070;
    /// A DFS operation.
    pub const DFS_OPERATIONS: u32 = 0x1000_0000;
    /// A replayed operation (3.x).
    pub const REPLAY_OPERATION: u32 = 0x2000_0000;
}

/// SMB2 command codes (MS-SMB2 §2.2.1, Command).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Command(pub u16);

#[allow(missing_docs)]
impl Command {
    pub const NEGOTIATE: Command = Command(0x0000);
    pub const SESSION_SETUP: Command = Command(0x0001);
    pub const LOGOFF: Command = Command(0x0002);
    pub const TREE_CONNECT: Command = Command(0x0003);
    pub const TREE_DISCONNECT: Command = Command(0x0004);
    pub const CREATE: Command = Command(0x0005);
    pub const CLOSE: Command = Command(0x0006);
    pub const FLUSH: Command = Command(0x0007);
    pub const READ: Command = Command(0x0008);
    pub const WRITE: Command = Command(0x0009);
    pub const LOCK: Command = Command(0x000A);
    pub const IOCTL: Command = Command(0x000B);
    pub const CANCEL: Command = Command(0x000C);
    pub const ECHO: Command = Command(0x000D);
    pub const QUERY_DIRECTORY: Command = Command(0x000E);
    pub const CHANGE_NOTIFY: Command = Command(0x000F);
    pub const QUERY_INFO: Command = Command(0x0010);
    pub const SET_INFO: Command = Command(0x0011);
    pub const OPLOCK_BREAK: Command = Command(0x0012);
}

impl Command {
    /// The command's MS-SMB2 §2.2.1 name (`QUERY_DIRECTORY`), `None` for an undefined code.
    pub fn name(self) -> Option<&'static str> {
        const NAMES: [&str; 19] = [
            "NEGOTIATE",
            "SESSION_SETUP",
            "LOGOFF",
            "TREE_CONNECT",
            "TREE_DISCONNECT",
            "CREATE",
            "CLOSE",
            "FLUSH",
            "READ",
            "WRITE",
            "LOCK",
            "IOCTL",
            "CANCEL",
            "ECHO",
            "QUERY_DIRECTORY",
            "CHANGE_NOTIFY",
            "QUERY_INFO",
            "SET_INFO",
            "OPLOCK_BREAK",
        ];
        NAMES.get(usize::from(self.0)).copied()
    }
}

/// The command's name, or `command 0x0013` for an undefined code.
impl core::fmt::Display for Command {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "command {:#06x}", self.0),
        }
    }
}

/// The part of the header that differs between the sync and async forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderId {
    /// Sync form (§2.2.1.2): Reserved (ProcessId) and TreeId.
    Sync {
        /// The Reserved field, which older clients fill with a process id.
        process_id: u32,
        /// The tree connect the request is for.
        tree_id: u32,
    },
    /// Async form (§2.2.1.1): the AsyncId of an operation that went async.
    Async {
        /// Identifies the pending operation (interim response, CANCEL, final response).
        async_id: u64,
    },
}

/// An SMB2 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// CreditCharge: credits this request consumes (§3.3.5.2.5).
    pub credit_charge: u16,
    /// Status in responses; in 3.x requests ChannelSequence (low 16 bits) and Reserved.
    pub status: NtStatus,
    /// The command.
    pub command: Command,
    /// CreditRequest in requests, CreditResponse in responses.
    pub credits: u16,
    /// Flags (see [`flags`]). The ASYNC_COMMAND bit is written from [`Header::id`].
    pub flags: u32,
    /// NextCommand: offset of the next message of a compound chain, or 0.
    pub next_command: u32,
    /// MessageId.
    pub message_id: u64,
    /// Sync or async identification.
    pub id: HeaderId,
    /// SessionId.
    pub session_id: u64,
    /// Signature (zero when the message is not signed).
    pub signature: [u8; 16],
}

impl Header {
    /// Decodes the header at the start of `msg`. The body follows at [`HEADER_LEN`].
    pub fn decode(msg: &[u8]) -> DecodeResult<Header> {
        let (_, h) = crate::wire::run(HEADER_WHAT, msg, nom::bytes::complete::take(HEADER_LEN))
            .map_err(|_| DecodeError::TruncatedHeader)?;
        if h[..4] != PROTOCOL_ID {
            return Err(DecodeError::BadProtocolId([h[0], h[1], h[2], h[3]]));
        }
        crate::wire::expect_size(HEADER_WHAT, le16(h, 4), 64)?;
        let flags = le32(h, 16);
        let id = if flags & flags::ASYNC_COMMAND != 0 {
            HeaderId::Async {
                async_id: le64(h, 32),
            }
        } else {
            HeaderId::Sync {
                process_id: le32(h, 32),
                tree_id: le32(h, 36),
            }
        };
        let mut signature = [0u8; 16];
        signature.copy_from_slice(&h[48..64]);
        Ok(Header {
            credit_charge: le16(h, 6),
            status: NtStatus(le32(h, 8)),
            command: Command(le16(h, 12)),
            credits: le16(h, 14),
            flags,
            next_command: le32(h, 20),
            message_id: le64(h, 24),
            id,
            session_id: le64(h, 40),
            signature,
        })
    }

    /// Writes the 64 header bytes.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_slice(&PROTOCOL_ID);
        out.put_u16_le(64);
        out.put_u16_le(self.credit_charge);
        out.put_u32_le(self.status.0);
        out.put_u16_le(self.command.0);
        out.put_u16_le(self.credits);
        let async_bit = match self.id {
            HeaderId::Sync { .. } => 0,
            HeaderId::Async { .. } => flags::ASYNC_COMMAND,
        };
        out.put_u32_le((self.flags & !flags::ASYNC_COMMAND) | async_bit);
        out.put_u32_le(self.next_command);
        out.put_u64_le(self.message_id);
        match self.id {
            HeaderId::Sync {
                process_id,
                tree_id,
            } => {
                out.put_u32_le(process_id);
                out.put_u32_le(tree_id);
            }
            HeaderId::Async { async_id } => out.put_u64_le(async_id),
        }
        out.put_u64_le(self.session_id);
        out.put_slice(&self.signature);
    }

    /// Whether the message is a response.
    pub const fn is_response(&self) -> bool {
        self.flags & flags::SERVER_TO_REDIR != 0
    }

    /// Whether the message is a related operation of a compound chain.
    pub const fn is_related(&self) -> bool {
        self.flags & flags::RELATED_OPERATIONS != 0
    }

    /// Whether the message claims to be signed.
    pub const fn is_signed(&self) -> bool {
        self.flags & flags::SIGNED != 0
    }

    /// The TreeId of a sync header.
    pub const fn tree_id(&self) -> Option<u32> {
        match self.id {
            HeaderId::Sync { tree_id, .. } => Some(tree_id),
            HeaderId::Async { .. } => None,
        }
    }

    /// The ChannelSequence of a 3.x request (low 16 bits of the Status field, §2.2.1.2).
    pub const fn channel_sequence(&self) -> u16 {
        (self.status.0 & 0xffff) as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_names() {
        assert_eq!(Command::NEGOTIATE.to_string(), "NEGOTIATE");
        assert_eq!(Command::TREE_DISCONNECT.name(), Some("TREE_DISCONNECT"));
        assert_eq!(Command::QUERY_DIRECTORY.name(), Some("QUERY_DIRECTORY"));
        assert_eq!(Command::OPLOCK_BREAK.name(), Some("OPLOCK_BREAK"));
        assert_eq!(Command(0x13).name(), None);
        assert_eq!(Command(0x13).to_string(), "command 0x0013");
    }
}
