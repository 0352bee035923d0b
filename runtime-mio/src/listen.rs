//! Binding the TCP and UDP listeners, and the one-line error a user sees when a port cannot
//! be bound.
//!
//! NFS, MOUNT, NLM and NSM share one port (TCP and UDP); the stand-alone portmapper
//! (RFC 1833 §3, port 111) is optional. Port 0 binds an ephemeral port — TCP first, then UDP
//! on the same number — which the tests use; the CLI maps `--portmap-port 0` to "off" before
//! it gets here.

use std::io;
use std::net::{IpAddr, SocketAddr};

/// Which service a port is for (to name the right flag in an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortRole {
    /// NFS, MOUNT, NLM, NSM.
    Nfs,
    /// The stand-alone portmapper.
    Portmap,
    /// SMB (TCP only).
    Smb,
}

impl PortRole {
    fn flag(self) -> &'static str {
        match self {
            PortRole::Nfs => "--nfs-port",
            PortRole::Portmap => "--portmap-port",
            PortRole::Smb => "--smb-port",
        }
    }
}

/// A port could not be bound. Its `Display` is the one line `janus` prints (exit code 1).
#[derive(Debug, thiserror::Error)]
#[error("cannot bind {proto} {addr} ({}): {}", describe(.source), advice(*.role, .addr, .source))]
pub struct BindError {
    /// "TCP" or "UDP".
    pub proto: &'static str,
    /// The address.
    pub addr: SocketAddr,
    /// The service.
    pub role: PortRole,
    /// The OS error.
    pub source: io::Error,
}

fn describe(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        io::ErrorKind::AddrInUse => "address in use".into(),
        io::ErrorKind::AddrNotAvailable => "address not available".into(),
        _ => e.to_string(),
    }
}

fn advice(role: PortRole, addr: &SocketAddr, e: &io::Error) -> String {
    let flag = role.flag();
    match e.kind() {
        io::ErrorKind::PermissionDenied if addr.port() < 1024 => match role {
            PortRole::Portmap | PortRole::Smb => format!(
                "ports below 1024 need root; use {flag} 0 or a port above 1023"
            ),
            PortRole::Nfs => format!("ports below 1024 need root; use {flag} with a port above 1023"),
        },
        io::ErrorKind::PermissionDenied => {
            "the system refused the port; choose another port".to_string()
        }
        io::ErrorKind::AddrInUse => match role {
            PortRole::Portmap => format!(
                "another portmapper (rpcbind) is running; stop it, or use {flag} 0 (the portmapper is also answered on the NFS port) or another port"
            ),
            PortRole::Nfs => format!(
                "another NFS server or janus is running; stop it or choose another port with {flag}"
            ),
            PortRole::Smb => format!(
                "another SMB server (smbd) or janus is running; stop it, or use {flag} 0 or another port"
            ),
        },
        io::ErrorKind::AddrNotAvailable => format!(
            "{} is not an address of this machine; use --bind with a local address",
            addr.ip()
        ),
        _ => format!("check --bind and {flag}"),
    }
}

/// The bound sockets (std, not yet registered with mio).
#[derive(Debug)]
pub struct Listeners {
    /// NFS/MOUNT/NLM/NSM over TCP.
    pub nfs_tcp: std::net::TcpListener,
    /// NFS/MOUNT/NLM/NSM over UDP.
    pub nfs_udp: std::net::UdpSocket,
    /// The stand-alone portmapper (TCP, UDP), if any.
    pub portmap: Option<(std::net::TcpListener, std::net::UdpSocket)>,
    /// SMB over TCP, if served ([`Listeners::with_smb`]).
    pub smb: Option<std::net::TcpListener>,
}

/// The addresses actually bound (ports resolved when 0 was asked for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoundAddrs {
    /// NFS TCP and UDP address (same port).
    pub nfs: SocketAddr,
    /// Portmapper address, if one runs.
    pub portmap: Option<SocketAddr>,
    /// SMB address, if SMB is served.
    pub smb: Option<SocketAddr>,
}

fn bind_pair(
    ip: IpAddr,
    port: u16,
    role: PortRole,
) -> Result<(std::net::TcpListener, std::net::UdpSocket), BindError> {
    // With port 0 the kernel picks the TCP port; UDP may find that number taken, so retry.
    let attempts = if port == 0 { 16 } else { 1 };
    let mut last = None;
    for _ in 0..attempts {
        let addr = SocketAddr::new(ip, port);
        // std sets SO_REUSEADDR on listeners, so a restart is not refused while old
        // connections sit in TIME_WAIT.
        let tcp = std::net::TcpListener::bind(addr).map_err(|source| BindError {
            proto: "TCP",
            addr,
            role,
            source,
        })?;
        let tcp_addr = tcp.local_addr().map_err(|source| BindError {
            proto: "TCP",
            addr,
            role,
            source,
        })?;
        match std::net::UdpSocket::bind(tcp_addr) {
            Ok(udp) => return Ok((tcp, udp)),
            Err(source) => {
                last = Some(BindError {
                    proto: "UDP",
                    addr: tcp_addr,
                    role,
                    source,
                })
            }
        }
    }
    Err(last.unwrap_or_else(|| BindError {
        proto: "UDP",
        addr: SocketAddr::new(ip, port),
        role,
        source: io::Error::from(io::ErrorKind::AddrInUse),
    }))
}

impl Listeners {
    /// Binds NFS on `nfs_port` and, if `portmap_port` is `Some`, the portmapper (port 0 in
    /// either = an ephemeral port).
    pub fn bind(ip: IpAddr, nfs_port: u16, portmap_port: Option<u16>) -> Result<Self, BindError> {
        let (nfs_tcp, nfs_udp) = bind_pair(ip, nfs_port, PortRole::Nfs)?;
        let portmap = match portmap_port {
            Some(p) => Some(bind_pair(ip, p, PortRole::Portmap)?),
            None => None,
        };
        Ok(Listeners {
            nfs_tcp,
            nfs_udp,
            portmap,
            smb: None,
        })
    }

    /// Also listens for SMB on `port` (0: an ephemeral port).
    pub fn with_smb(mut self, ip: IpAddr, port: u16) -> Result<Self, BindError> {
        let addr = SocketAddr::new(ip, port);
        let err = |source| BindError {
            proto: "TCP",
            addr,
            role: PortRole::Smb,
            source,
        };
        self.smb = Some(std::net::TcpListener::bind(addr).map_err(err)?);
        Ok(self)
    }

    /// The bound addresses.
    pub fn addrs(&self) -> io::Result<BoundAddrs> {
        Ok(BoundAddrs {
            nfs: self.nfs_tcp.local_addr()?,
            portmap: match &self.portmap {
                Some((t, _)) => Some(t.local_addr()?),
                None => None,
            },
            smb: match &self.smb {
                Some(t) => Some(t.local_addr()?),
                None => None,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(role: PortRole, addr: &str, kind: io::ErrorKind) -> String {
        BindError {
            proto: "TCP",
            addr: addr.parse().unwrap(),
            role,
            source: io::Error::from(kind),
        }
        .to_string()
    }

    #[test]
    fn messages() {
        assert_eq!(
            err(PortRole::Portmap, "0.0.0.0:111", io::ErrorKind::PermissionDenied),
            "cannot bind TCP 0.0.0.0:111 (permission denied): ports below 1024 need root; use --portmap-port 0 or a port above 1023"
        );
        assert_eq!(
            err(PortRole::Nfs, "0.0.0.0:2049", io::ErrorKind::AddrInUse),
            "cannot bind TCP 0.0.0.0:2049 (address in use): another NFS server or janus is running; stop it or choose another port with --nfs-port"
        );
        assert_eq!(
            err(PortRole::Nfs, "127.0.0.1:80", io::ErrorKind::PermissionDenied),
            "cannot bind TCP 127.0.0.1:80 (permission denied): ports below 1024 need root; use --nfs-port with a port above 1023"
        );
        let m = err(PortRole::Portmap, "127.0.0.1:111", io::ErrorKind::AddrInUse);
        assert!(
            m.contains("rpcbind") && m.contains("--portmap-port 0"),
            "{m}"
        );
        let m = err(
            PortRole::Nfs,
            "10.9.9.9:2049",
            io::ErrorKind::AddrNotAvailable,
        );
        assert!(
            m.ends_with(
                "10.9.9.9 is not an address of this machine; use --bind with a local address"
            ),
            "{m}"
        );
        assert!(!m.contains('\n'));
    }

    #[test]
    fn ephemeral_ports_pair_tcp_and_udp() {
        let l = Listeners::bind("127.0.0.1".parse().unwrap(), 0, Some(0)).unwrap();
        let a = l.addrs().unwrap();
        assert_ne!(a.nfs.port(), 0);
        assert_eq!(l.nfs_udp.local_addr().unwrap().port(), a.nfs.port());
        let pm = a.portmap.unwrap();
        assert_eq!(l.portmap.as_ref().unwrap().1.local_addr().unwrap(), pm);
        let none = Listeners::bind("127.0.0.1".parse().unwrap(), 0, None).unwrap();
        assert!(none.addrs().unwrap().portmap.is_none());
    }

    #[test]
    fn port_in_use_is_reported() {
        let l = Listeners::bind("127.0.0.1".parse().unwrap(), 0, None).unwrap();
        let port = l.addrs().unwrap().nfs.port();
        let e = Listeners::bind("127.0.0.1".parse().unwrap(), port, None).unwrap_err();
        assert_eq!(e.source.kind(), io::ErrorKind::AddrInUse);
        assert_eq!(
            e.to_string(),
            format!("cannot bind TCP 127.0.0.1:{port} (address in use): another NFS server or janus is running; stop it or choose another port with --nfs-port")
        );
    }
}
