//! Export rules: which clients may use an export (CIDR lists), and the credentials a call
//! runs with after root/all squashing (the `exports(5)` semantics NFS servers share).

use core::net::IpAddr;
use std::fmt;
use std::str::FromStr;

use super::{Cidr, Creds, Export};
use crate::rpc::Credential;

/// Why a CIDR string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrParseError {
    /// The address part is not an IPv4 or IPv6 address.
    #[error("{0:?} is not an IP address")]
    BadAddress(String),
    /// The prefix is not a number within the family's width.
    #[error("{0:?} is not a valid prefix length")]
    BadPrefix(String),
}

impl Cidr {
    /// Whether `ip` is inside this network. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`)
    /// count as their IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr.to_canonical(), ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let bits = u32::from(self.prefix.min(32));
                let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let bits = u32::from(self.prefix.min(128));
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = CidrParseError;

    /// Parses `addr/prefix`, or a bare address (a host: /32 or /128), around white space.
    /// Host bits below the prefix are cleared, as exportfs does, so `10.1.2.3/8` is
    /// `10.0.0.0/8`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| CidrParseError::BadAddress(addr.to_owned()))?;
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= width => n,
                _ => return Err(CidrParseError::BadPrefix(p.to_owned())),
            },
        };
        let addr = match addr {
            IpAddr::V4(a) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                IpAddr::V4((u32::from(a) & mask).into())
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                IpAddr::V6((u128::from(a) & mask).into())
            }
        };
        Ok(Cidr { addr, prefix })
    }
}

impl Export {
    /// Whether `client` may mount and use this export (an empty list allows everyone).
    pub fn allows(&self, client: IpAddr) -> bool {
        self.clients.is_empty() || self.clients.iter().any(|c| c.contains(client))
    }

    /// The credentials a call from `cred` runs with on this export:
    /// - AUTH_NONE and `all_squash`: the anonymous uid/gid, no supplementary groups;
    /// - `root_squash`: uid 0 becomes the anonymous uid, gid 0 (primary or supplementary)
    ///   the anonymous gid (as Linux knfsd does);
    /// - otherwise the AUTH_SYS ids as sent.
    pub fn effective_creds(&self, cred: &Credential) -> Creds {
        let anon = Creds {
            uid: self.anon_uid,
            gid: self.anon_gid,
            gids: Vec::new(),
        };
        let Credential::Sys(p) = cred else {
            return anon;
        };
        if self.all_squash {
            return anon;
        }
        if !self.root_squash {
            return Creds {
                uid: p.uid,
                gid: p.gid,
                gids: p.gids.clone(),
            };
        }
        let g = |gid: u32| if gid == 0 { self.anon_gid } else { gid };
        Creds {
            uid: if p.uid == 0 { self.anon_uid } else { p.uid },
            gid: g(p.gid),
            gids: p.gids.iter().map(|&x| g(x)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nfs3::FileHandle;
    use crate::rpc::AuthSysParms;
    use bytes::Bytes;

    fn export(clients: &[&str]) -> Export {
        Export {
            name: "x".into(),
            share_id: 1,
            root: FileHandle::new(1, b"r").expect("handle"),
            read_only: false,
            clients: clients.iter().map(|c| c.parse().expect("cidr")).collect(),
            root_squash: true,
            all_squash: false,
            anon_uid: 65534,
            anon_gid: 65533,
        }
    }

    #[test]
    fn cidr_contains() {
        let e = export(&["10.0.0.0/8", "192.168.1.7", "fd00::/8"]);
        assert!(e.allows("10.200.1.1".parse().expect("ip")));
        assert!(e.allows("::ffff:10.0.0.1".parse().expect("ip")));
        assert!(!e.allows("11.0.0.1".parse().expect("ip")));
        assert!(e.allows("192.168.1.7".parse().expect("ip")));
        assert!(!e.allows("192.168.1.8".parse().expect("ip")));
        assert!(e.allows("fd12::1".parse().expect("ip")));
        assert!(!e.allows("fe80::1".parse().expect("ip")));
        assert!(export(&[]).allows("1.2.3.4".parse().expect("ip")));
        assert!(export(&["0.0.0.0/0"]).allows("1.2.3.4".parse().expect("ip")));
        assert_eq!(
            "10.0.0.0/33".parse::<Cidr>(),
            Err(CidrParseError::BadPrefix("33".into()))
        );
        assert_eq!(
            "10.0.0.0/8"
                .parse::<Cidr>()
                .map(|c| c.to_string())
                .as_deref(),
            Ok("10.0.0.0/8")
        );
    }

    #[test]
    fn cidr_parsing() {
        let p = |s: &str| s.parse::<Cidr>().map(|c| (c.addr, c.prefix));
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert_eq!(
            p("10.1.2.3/8"),
            Ok((ip("10.0.0.0"), 8)),
            "host bits cleared"
        );
        assert_eq!(p(" 192.168.7.9 "), Ok((ip("192.168.7.9"), 32)));
        assert_eq!(p("0.0.0.0/0"), Ok((ip("0.0.0.0"), 0)));
        assert_eq!(p("fd00:1:2:3::5/48"), Ok((ip("fd00:1:2::"), 48)));
        assert_eq!(p("::1"), Ok((ip("::1"), 128)));
        assert_eq!(p("::/0"), Ok((ip("::"), 0)));
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "10.0.0.0/x",
            "host.example/8",
            "",
        ] {
            assert!(p(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn squashing() {
        let root = Credential::Sys(AuthSysParms {
            stamp: 0,
            machinename: Bytes::new(),
            uid: 0,
            gid: 0,
            gids: vec![0, 5],
        });
        let mut e = export(&[]);
        assert_eq!(
            e.effective_creds(&root),
            Creds {
                uid: 65534,
                gid: 65533,
                gids: vec![65533, 5]
            }
        );
        e.root_squash = false;
        assert_eq!(e.effective_creds(&root).uid, 0);
        e.all_squash = true;
        assert_eq!(e.effective_creds(&root).gids, Vec::<u32>::new());
        assert_eq!(e.effective_creds(&Credential::None).uid, 65534);
    }
}
