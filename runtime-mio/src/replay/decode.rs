//! One line per message: what the message is, in the protocol's own words.
//!
//! Until the full codecs are wired in, this reads only the ONC RPC message header (RFC 5531
//! §9: xid, CALL/REPLY, program/version/procedure, reply status) and names SMB frames.

use super::conversation::Message;
use super::detect::AppProtocol;

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// A one-line description of `msg`.
pub fn describe(msg: &Message) -> String {
    let b = &msg.body[..];
    match msg.protocol {
        AppProtocol::Smb => {
            let kind = if b.first() == Some(&0xFE) {
                "SMB2"
            } else {
                "SMB1"
            };
            format!(
                "{kind} message, {} bytes: not decoded (no SMB codecs in Janus yet)",
                b.len()
            )
        }
        AppProtocol::Rpc => match (be32(b, 0), be32(b, 4)) {
            (Some(xid), Some(0)) => match (be32(b, 12), be32(b, 16), be32(b, 20)) {
                (Some(prog), Some(vers), Some(proc_)) => {
                    format!("call  xid={xid:08x} prog={prog} vers={vers} proc={proc_}")
                }
                _ => format!("call  xid={xid:08x}: truncated RPC call header"),
            },
            (Some(xid), Some(1)) => format!("reply xid={xid:08x} reply_stat={:?}", be32(b, 8)),
            _ => format!("not an RPC message ({} bytes)", b.len()),
        },
    }
}
