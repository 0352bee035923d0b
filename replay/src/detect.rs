//! Which application protocol a captured flow carries: by port (standard ports plus
//! `--port PROTO=PORT` overrides) and, failing that, by content.
//!
//! Content checks (enough to tell these protocols from unrelated traffic, not a validation):
//! - ONC RPC over TCP (RFC 5531 §11 record marking, §9 message header): a record marker whose
//!   length is at least a reply header and at most [`MAX_RECORD`], followed by an xid and a
//!   message type of CALL (0) with RPC version 2, or REPLY (1) with a reply status of
//!   MSG_ACCEPTED or MSG_DENIED. Over UDP the same header without the marker.
//! - SMB2/SMB1 over direct TCP (MS-SMB2 §2.1, RFC 1002 §4.3.1 session message): a 0x00 byte,
//!   a 24-bit length, then `0xFE 'SMB'` or `0xFF 'SMB'`.

use std::fmt;

/// Largest RPC record (or NBSS message) the replay framer accepts, all fragments together.
pub const MAX_RECORD: usize = 16 << 20;

/// An application protocol the replay can frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AppProtocol {
    /// ONC RPC: portmap/rpcbind, MOUNT, NFSv3, NLM, NSM.
    Rpc,
    /// NetBIOS session service framing of SMB (direct TCP).
    Smb,
}

impl fmt::Display for AppProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AppProtocol::Rpc => "rpc",
            AppProtocol::Smb => "smb",
        })
    }
}

/// A `--port` argument that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortSpecError {
    /// Not of the form `PROTO=PORT`.
    #[error("`{0}`: expected PROTO=PORT, e.g. rpc=20490 or smb=4450")]
    Syntax(String),
    /// The protocol name is not one the replay knows.
    #[error("`{0}`: unknown protocol (rpc, nfs, mount, nlm, nsm, portmap, smb)")]
    UnknownProtocol(String),
    /// The port is not a number in 1..=65535.
    #[error("`{0}`: port must be a number from 1 to 65535")]
    BadPort(String),
}

/// Port to protocol assignments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMap {
    entries: Vec<(u16, AppProtocol)>,
}

impl Default for PortMap {
    fn default() -> Self {
        Self::standard()
    }
}

impl PortMap {
    /// The standard ports: 2049 (NFS, and NLM/NSM/MOUNT where they share it), 111
    /// (portmap/rpcbind), 20048 (mountd), 445 (SMB).
    pub fn standard() -> Self {
        PortMap {
            entries: vec![
                (2049, AppProtocol::Rpc),
                (111, AppProtocol::Rpc),
                (20048, AppProtocol::Rpc),
                (445, AppProtocol::Smb),
            ],
        }
    }

    /// Adds `PROTO=PORT` (`rpc`, `nfs`, `mount`, `nlm`, `nsm` and `portmap` all mean ONC
    /// RPC; `smb`), taking precedence over earlier assignments of that port.
    pub fn add_spec(&mut self, spec: &str) -> Result<(), PortSpecError> {
        let (proto, port) = spec
            .split_once('=')
            .ok_or_else(|| PortSpecError::Syntax(spec.to_string()))?;
        let proto = match proto.trim().to_ascii_lowercase().as_str() {
            "rpc" | "nfs" | "mount" | "mountd" | "nlm" | "nsm" | "portmap" | "rpcbind" => {
                AppProtocol::Rpc
            }
            "smb" | "smb2" | "cifs" => AppProtocol::Smb,
            _ => return Err(PortSpecError::UnknownProtocol(spec.to_string())),
        };
        let port: u16 = match port.trim().parse() {
            Ok(p) if p > 0 => p,
            _ => return Err(PortSpecError::BadPort(spec.to_string())),
        };
        self.add(port, proto);
        Ok(())
    }

    /// Assigns `port` to `proto`.
    pub fn add(&mut self, port: u16, proto: AppProtocol) {
        self.entries.retain(|(p, _)| *p != port);
        self.entries.push((port, proto));
    }

    /// The protocol assigned to `port`.
    pub fn get(&self, port: u16) -> Option<AppProtocol> {
        self.entries
            .iter()
            .find(|(p, _)| *p == port)
            .map(|(_, a)| *a)
    }

    /// The protocol of a flow between two ports (either may be the server's).
    pub fn by_ports(&self, a: u16, b: u16) -> Option<AppProtocol> {
        // Prefer the lower port: the server's is almost always the lower one, and a client
        // port that happens to be a service port must not win.
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        self.get(lo).or_else(|| self.get(hi))
    }
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Whether `msg` (an RPC message without record marker) starts like an RPC call or reply.
/// `len` is the message length when known (it bounds what a header can need).
pub fn looks_like_rpc_message(msg: &[u8]) -> bool {
    match be32(msg, 4) {
        // CALL: rpcvers must be 2 (RFC 5531 §9); prog, vers, proc follow, then two auths.
        Some(0) => be32(msg, 8) == Some(2) && msg.len() >= 40,
        // REPLY: reply_stat MSG_ACCEPTED (0) or MSG_DENIED (1).
        Some(1) => matches!(be32(msg, 8), Some(0) | Some(1)) && msg.len() >= 12,
        _ => false,
    }
}

/// Whether `stream` starts with an RPC record (marker + a plausible message header). Needs
/// at least 16 bytes to say yes.
pub fn looks_like_rpc_record(stream: &[u8]) -> bool {
    let Some(marker) = be32(stream, 0) else {
        return false;
    };
    let len = (marker & 0x7fff_ffff) as usize;
    if !(12..=MAX_RECORD).contains(&len) {
        return false;
    }
    let body = &stream[4..];
    // Check the header fields present in what we have, bounded by the fragment length.
    let avail = &body[..body.len().min(len)];
    match be32(avail, 4) {
        Some(0) => len >= 40 && be32(avail, 8) == Some(2),
        Some(1) => matches!(be32(avail, 8), Some(0) | Some(1)),
        _ => false,
    }
}

/// Whether `stream` starts with a direct-TCP NBSS session message carrying SMB2 or SMB1.
pub fn looks_like_smb_frame(stream: &[u8]) -> bool {
    stream.len() >= 8
        && stream[0] == 0
        && {
            let len = u32::from_be_bytes([0, stream[1], stream[2], stream[3]]) as usize;
            (4..=MAX_RECORD).contains(&len)
        }
        && (stream[4] == 0xFE || stream[4] == 0xFF)
        && &stream[5..8] == b"SMB"
}

/// Guesses the protocol of a TCP direction from its first bytes.
pub fn detect_stream(first: &[u8]) -> Option<AppProtocol> {
    if looks_like_rpc_record(first) {
        Some(AppProtocol::Rpc)
    } else if looks_like_smb_frame(first) {
        Some(AppProtocol::Smb)
    } else {
        None
    }
}

/// Guesses the protocol of a UDP datagram (only RPC runs over UDP here).
pub fn detect_datagram(payload: &[u8]) -> Option<AppProtocol> {
    looks_like_rpc_message(payload).then_some(AppProtocol::Rpc)
}

/// Offset of the first position in `stream` where a record of `proto` plausibly starts.
pub fn find_boundary(proto: AppProtocol, stream: &[u8]) -> Option<usize> {
    (0..stream.len().saturating_sub(15)).find(|&i| match proto {
        AppProtocol::Rpc => looks_like_rpc_record(&stream[i..]),
        AppProtocol::Smb => looks_like_smb_frame(&stream[i..]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_specs() {
        let mut m = PortMap::standard();
        assert_eq!(m.by_ports(2049, 800), Some(AppProtocol::Rpc));
        assert_eq!(m.by_ports(50000, 20490), None);
        m.add_spec("rpc=20490").unwrap();
        m.add_spec("SMB = 4450").unwrap();
        assert_eq!(m.by_ports(50000, 20490), Some(AppProtocol::Rpc));
        assert_eq!(m.get(4450), Some(AppProtocol::Smb));
        m.add_spec("smb=2049").unwrap();
        assert_eq!(m.get(2049), Some(AppProtocol::Smb));
        assert!(matches!(m.add_spec("rpc"), Err(PortSpecError::Syntax(_))));
        assert!(matches!(
            m.add_spec("http=80"),
            Err(PortSpecError::UnknownProtocol(_))
        ));
        assert!(matches!(
            m.add_spec("rpc=0"),
            Err(PortSpecError::BadPort(_))
        ));
        assert!(matches!(
            m.add_spec("rpc=70000"),
            Err(PortSpecError::BadPort(_))
        ));
    }

    #[test]
    fn content() {
        // NULL call: marker, xid, CALL, rpcvers 2, prog 100003, vers 3, proc 0, 2x AUTH_NONE.
        let mut call = vec![0x80, 0, 0, 40];
        for w in [0x1234u32, 0, 2, 100_003, 3, 0, 0, 0, 0, 0] {
            call.extend_from_slice(&w.to_be_bytes());
        }
        assert_eq!(detect_stream(&call), Some(AppProtocol::Rpc));
        assert!(looks_like_rpc_message(&call[4..]));
        assert_eq!(
            find_boundary(AppProtocol::Rpc, &[&[1, 2, 3][..], &call].concat()),
            Some(3)
        );
        let mut bad = call.clone();
        bad[15] = 3; // rpcvers 3
        assert_eq!(detect_stream(&bad), None);
        let smb = [0, 0, 0, 68, 0xFE, b'S', b'M', b'B', 64, 0];
        assert_eq!(detect_stream(&smb), Some(AppProtocol::Smb));
        assert_eq!(detect_stream(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
    }
}
