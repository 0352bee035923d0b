//! The table of registered RPC services that PORTMAP and RPCBIND answer from (RFC 1833 §2.1,
//! §3), and universal addresses (RFC 5665 §5.2.3.3: `h1.h2.h3.h4.p1.p2`).
//!
//! One table serves both protocols: an entry is an [`Rpcb`] (program, version, netid,
//! universal address, owner); the PORTMAP view of it is the `tcp`/`udp` entries with the port
//! taken from the address.

use core::net::IpAddr;

use super::pmap::{Mapping, IPPROTO_TCP, IPPROTO_UDP};
use super::rpcbind::{Rpcb, RpcbEntry, NC_TPI_CLTS, NC_TPI_COTS_ORD};

/// Most registrations the table holds (pre-filled ones included); SET beyond it fails.
pub const MAX_REGISTRATIONS: usize = 256;

/// The universal address of `ip:port` (RFC 5665 §5.2.3.3 for IPv4, §5.2.3.4 for IPv6).
pub fn to_uaddr(ip: IpAddr, port: u16) -> String {
    format!("{}.{}.{}", ip, port >> 8, port & 0xff)
}

/// Parses a universal address into address and port; `None` if malformed.
pub fn parse_uaddr(s: &str) -> Option<(IpAddr, u16)> {
    let (rest, p2) = s.rsplit_once('.')?;
    let (host, p1) = rest.rsplit_once('.')?;
    let p1: u8 = p1.parse().ok()?;
    let p2: u8 = p2.parse().ok()?;
    let ip: IpAddr = host.parse().ok()?;
    Some((ip, u16::from(p1) << 8 | u16::from(p2)))
}

/// The PORTMAP protocol number for a netid (`tcp`/`tcp6` → 6, `udp`/`udp6` → 17).
pub fn netid_prot(netid: &str) -> Option<u32> {
    match netid {
        "tcp" | "tcp6" => Some(IPPROTO_TCP),
        "udp" | "udp6" => Some(IPPROTO_UDP),
        _ => None,
    }
}

/// The registered services. See the module documentation.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    entries: Vec<Rpcb>,
}

impl Registry {
    /// An empty table.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Registers `(prog, vers)` for every netid of `host`'s family at `port`, as the
    /// superuser. Used to pre-fill the table with the programs Janus serves.
    pub fn register_builtin(&mut self, host: IpAddr, prog: u32, vers: u32, port: u16) {
        let netids: &[&str] = if host.is_ipv4() {
            &["tcp", "udp"]
        } else {
            &["tcp6", "udp6"]
        };
        for netid in netids {
            self.set(Rpcb {
                prog,
                vers,
                netid: (*netid).to_owned(),
                addr: to_uaddr(host, port),
                owner: "superuser".to_owned(),
            });
        }
    }

    /// Every registration, in registration order (RPCBIND DUMP).
    pub fn entries(&self) -> &[Rpcb] {
        &self.entries
    }

    /// RPCBPROC_SET: registers unless `(prog, vers, netid)` is already registered or the
    /// table is full (RFC 1833 §2.2.1: "returns FALSE if the mapping already exists").
    pub fn set(&mut self, r: Rpcb) -> bool {
        if self.entries.len() >= MAX_REGISTRATIONS
            || r.netid.is_empty()
            || parse_uaddr(&r.addr).is_none()
            || self
                .entries
                .iter()
                .any(|e| e.prog == r.prog && e.vers == r.vers && e.netid == r.netid)
        {
            return false;
        }
        self.entries.push(r);
        true
    }

    /// RPCBPROC_UNSET: removes `(prog, vers, netid)`, or `(prog, vers)` on every netid if
    /// `netid` is empty. True if anything was removed.
    pub fn unset(&mut self, prog: u32, vers: u32, netid: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| {
            !(e.prog == prog && e.vers == vers && (netid.is_empty() || e.netid == netid))
        });
        self.entries.len() != before
    }

    /// PMAPPROC_SET: registers `m` at `host`'s address (PORTMAP carries only a port).
    pub fn pmap_set(&mut self, m: Mapping, host: IpAddr) -> bool {
        let netid = match m.prot {
            IPPROTO_TCP => "tcp",
            IPPROTO_UDP => "udp",
            _ => return false,
        };
        let Ok(port) = u16::try_from(m.port) else {
            return false;
        };
        self.set(Rpcb {
            prog: m.prog,
            vers: m.vers,
            netid: netid.to_owned(),
            addr: to_uaddr(host, port),
            owner: "unknown".to_owned(),
        })
    }

    /// PMAPPROC_UNSET: removes `(prog, vers)` on every protocol (RFC 1833 §3.2: "the
    /// protocol and port number fields of the argument are ignored").
    pub fn pmap_unset(&mut self, prog: u32, vers: u32) -> bool {
        let before = self.entries.len();
        self.entries
            .retain(|e| !(e.prog == prog && e.vers == vers && netid_prot(&e.netid).is_some()));
        self.entries.len() != before
    }

    /// PMAPPROC_GETPORT: the port of `(prog, vers, prot)`, 0 if none.
    ///
    /// Like rpcbind's `find_service`, if the exact version is not registered but another
    /// version of the program is on that protocol, that port is answered, so that the client
    /// learns the supported range from the server's PROG_MISMATCH.
    pub fn getport(&self, prog: u32, vers: u32, prot: u32) -> u32 {
        let v4 = |e: &&Rpcb| {
            e.prog == prog && netid_prot(&e.netid) == Some(prot) && !e.netid.ends_with('6')
        };
        let hit = self
            .entries
            .iter()
            .filter(v4)
            .find(|e| e.vers == vers)
            .or_else(|| self.entries.iter().find(v4));
        hit.and_then(|e| parse_uaddr(&e.addr))
            .map_or(0, |(_, port)| u32::from(port))
    }

    /// PMAPPROC_DUMP: the `tcp`/`udp` registrations as PORTMAP mappings.
    pub fn pmap_dump(&self) -> Vec<Mapping> {
        self.entries
            .iter()
            .filter(|e| !e.netid.ends_with('6'))
            .filter_map(|e| {
                let prot = netid_prot(&e.netid)?;
                let (_, port) = parse_uaddr(&e.addr)?;
                Some(Mapping {
                    prog: e.prog,
                    vers: e.vers,
                    prot,
                    port: u32::from(port),
                })
            })
            .collect()
    }

    /// RPCBPROC_GETADDR / GETVERSADDR: the universal address of `(prog, vers, netid)`, or an
    /// empty string. With `exact == false` another version's address is answered if the
    /// requested version is not registered (as rpcbind does for GETADDR); GETVERSADDR asks
    /// for the exact version (RFC 1833 §2.2.1). A registered address with an unspecified
    /// host is answered with `host`.
    pub fn getaddr(&self, prog: u32, vers: u32, netid: &str, exact: bool, host: IpAddr) -> String {
        let same = |e: &&Rpcb| e.prog == prog && e.netid == netid;
        let hit = self
            .entries
            .iter()
            .filter(same)
            .find(|e| e.vers == vers)
            .or_else(|| {
                if exact {
                    None
                } else {
                    self.entries.iter().find(same)
                }
            });
        match hit {
            None => String::new(),
            Some(e) => match parse_uaddr(&e.addr) {
                Some((ip, port)) if ip.is_unspecified() => to_uaddr(host, port),
                _ => e.addr.clone(),
            },
        }
    }
}

impl Registry {
    /// RPCBPROC_GETADDRLIST: every registered address of exactly `(prog, vers)` on the
    /// `tcp`/`udp`/`tcp6`/`udp6` netids, described as RFC 1833 §2.2 `rpcb_entry`s.
    pub fn getaddrlist(&self, prog: u32, vers: u32, host: IpAddr) -> Vec<RpcbEntry> {
        self.entries
            .iter()
            .filter(|e| e.prog == prog && e.vers == vers)
            .filter_map(|e| {
                let (ip, port) = parse_uaddr(&e.addr)?;
                let (proto, semantics) = match e.netid.as_str() {
                    "tcp" | "tcp6" => ("tcp", NC_TPI_COTS_ORD),
                    "udp" | "udp6" => ("udp", NC_TPI_CLTS),
                    _ => return None,
                };
                let ip = if ip.is_unspecified() { host } else { ip };
                Some(RpcbEntry {
                    maddr: to_uaddr(ip, port),
                    netid: e.netid.clone(),
                    semantics,
                    protofmly: if ip.is_ipv4() { "inet" } else { "inet6" }.to_owned(),
                    proto: proto.to_owned(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn uaddr_round_trip() {
        let v4 = IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3));
        assert_eq!(to_uaddr(v4, 2049), "10.1.2.3.8.1");
        assert_eq!(parse_uaddr("10.1.2.3.8.1"), Some((v4, 2049)));
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert_eq!(to_uaddr(v6, 111), "::1.0.111");
        assert_eq!(parse_uaddr("::1.0.111"), Some((v6, 111)));
        assert_eq!(parse_uaddr("10.1.2.3.256.1"), None);
        assert_eq!(parse_uaddr("10.1.2.3"), None);
        assert_eq!(parse_uaddr(""), None);
    }

    #[test]
    fn set_unset_getport() {
        let host = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let mut r = Registry::new();
        r.register_builtin(host, 100_003, 3, 2049);
        let m = Mapping {
            prog: 100_021,
            vers: 4,
            prot: IPPROTO_UDP,
            port: 4045,
        };
        assert!(r.pmap_set(m, host));
        assert!(!r.pmap_set(m, host), "duplicate refused");
        assert_eq!(r.getport(100_021, 4, IPPROTO_UDP), 4045);
        assert_eq!(r.getport(100_021, 4, IPPROTO_TCP), 0);
        assert_eq!(r.getport(100_003, 3, IPPROTO_TCP), 2049);
        // Unknown version of a known program: the program's port.
        assert_eq!(r.getport(100_003, 4, IPPROTO_TCP), 2049);
        assert!(r.pmap_unset(100_021, 4));
        assert!(!r.pmap_unset(100_021, 4));
        assert_eq!(r.getport(100_021, 4, IPPROTO_UDP), 0);
        assert_eq!(r.getaddr(100_003, 3, "tcp", true, host), "127.0.0.1.8.1");
        assert_eq!(r.getaddr(100_003, 4, "tcp", true, host), "");
        assert_eq!(r.getaddr(100_003, 4, "tcp", false, host), "127.0.0.1.8.1");
    }
}
