//! What `janus serve` prints once it listens: the addresses, and how to mount or connect
//! to each share over NFS and SMB. Text only, the same for every runtime.

use core::fmt::Write as _;
use core::net::{IpAddr, SocketAddr};

/// A share as the hints name it.
#[derive(Debug, Clone)]
pub struct ShareHint {
    /// The share name.
    pub name: String,
    /// Its directory (empty: in memory).
    pub path: String,
    /// Read-only.
    pub read_only: bool,
}

/// The listening and mounting instructions for `addrs` and `shares`; `hostname` is used
/// when bound to the unspecified address.
pub fn mount_hints(
    nfs: SocketAddr,
    portmap: Option<SocketAddr>,
    smb: Option<SocketAddr>,
    shares: &[ShareHint],
    hostname: &str,
) -> String {
    let host = match nfs.ip() {
        ip if ip.is_unspecified() => hostname.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    let p = nfs.port();
    let mut out = String::new();
    let _ = write!(
        out,
        "janus: NFSv3 on {} (TCP and UDP; MOUNT and the portmapper on the same port)",
        nfs
    );
    match portmap {
        Some(pm) => {
            let _ = writeln!(out, ", portmapper on {pm}");
        }
        None => {
            let _ = writeln!(out, ", no portmapper on port 111");
        }
    }
    if let Some(smb) = smb {
        let _ = writeln!(out, "SMB 2/3 on {smb}");
    }
    for s in shares {
        let _ = writeln!(
            out,
            "share /{} ({}{}):",
            s.name,
            if s.path.is_empty() {
                "in memory"
            } else {
                &s.path
            },
            if s.read_only { ", read-only" } else { "" }
        );
        let _ = writeln!(
            out,
            "  mount -t nfs -o vers=3,proto=tcp,port={p},mountport={p},nolock {host}:/{} /mnt",
            s.name
        );
        let _ = writeln!(
            out,
            "  nfs://{host}/{}?version=3&nfsport={p}&mountport={p}",
            s.name
        );
        if let Some(smb) = smb {
            let _ = writeln!(
                out,
                "  smbclient //{host}/{} -p {} -U USER",
                s.name,
                smb.port()
            );
        }
    }
    let _ = writeln!(
        out,
        "locking: without \"nolock\" the client's lockd asks the portmapper on port 111 for NLM, \
         so run with --portmap-port 111 (as root)"
    );
    out
}
