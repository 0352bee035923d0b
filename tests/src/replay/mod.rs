//! Builders for synthetic captures, so the replay tests can state exactly which frames a
//! capture holds: packets are built with `etherparse` from the IP layer up, wrapped in the
//! link-layer header of the requested link type, and written as pcap or pcapng
//! (libpcap savefile format; pcapng SHB/IDB/EPB, draft-ietf-opsawg-pcapng §4).

use std::net::{IpAddr, SocketAddr};

use etherparse::PacketBuilder;

/// Link types the builders can write (values from the tcpdump link-type registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// LINKTYPE_ETHERNET (1).
    Ethernet,
    /// LINKTYPE_LINUX_SLL (113).
    Sll,
    /// LINKTYPE_LINUX_SLL2 (276).
    Sll2,
    /// LINKTYPE_RAW (101).
    Raw,
    /// LINKTYPE_NULL (0), little-endian address family as written on x86.
    Null,
    /// LINKTYPE_LOOP (108), big-endian address family.
    Loop,
}

impl Link {
    /// The link-type number.
    pub fn number(self) -> u16 {
        match self {
            Link::Ethernet => 1,
            Link::Sll => 113,
            Link::Sll2 => 276,
            Link::Raw => 101,
            Link::Null => 0,
            Link::Loop => 108,
        }
    }

    fn wrap(self, ip: &[u8], v6: bool) -> Vec<u8> {
        let ethertype: u16 = if v6 { 0x86dd } else { 0x0800 };
        let mut f = Vec::new();
        match self {
            Link::Ethernet => {
                f.extend_from_slice(&[0; 12]);
                f.extend_from_slice(&ethertype.to_be_bytes());
            }
            Link::Sll => {
                f.extend_from_slice(&[0, 0, 0x03, 0x04, 0, 6]);
                f.extend_from_slice(&[0; 8]);
                f.extend_from_slice(&ethertype.to_be_bytes());
            }
            Link::Sll2 => {
                f.extend_from_slice(&ethertype.to_be_bytes());
                f.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0x03, 0x04, 0, 6]);
                f.extend_from_slice(&[0; 8]);
            }
            Link::Raw => {}
            Link::Null => f.extend_from_slice(&(if v6 { 30u32 } else { 2 }).to_le_bytes()),
            Link::Loop => f.extend_from_slice(&(if v6 { 30u32 } else { 2 }).to_be_bytes()),
        }
        f.extend_from_slice(ip);
        f
    }
}

/// TCP flags for [`CaptureBuilder::tcp`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Flags {
    /// SYN.
    pub syn: bool,
    /// FIN.
    pub fin: bool,
    /// RST.
    pub rst: bool,
    /// Acknowledgment number, if ACK is set.
    pub ack: Option<u32>,
}

/// Collects frames and writes them as a capture file.
#[derive(Debug, Clone)]
pub struct CaptureBuilder {
    link: Link,
    /// (microseconds since the epoch, frame bytes).
    frames: Vec<(u64, Vec<u8>)>,
    clock_us: u64,
}

impl CaptureBuilder {
    /// An empty capture on `link`, starting at 2026-01-01 00:00:00 UTC.
    pub fn new(link: Link) -> Self {
        CaptureBuilder {
            link,
            frames: Vec::new(),
            clock_us: 1_767_225_600_000_000,
        }
    }

    /// Number of frames so far.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether no frame was added.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Adds a raw frame (already including its link header).
    pub fn raw(&mut self, frame: Vec<u8>) -> &mut Self {
        self.clock_us += 100;
        self.frames.push((self.clock_us, frame));
        self
    }

    fn ip_builder(
        src: SocketAddr,
        dst: SocketAddr,
    ) -> (etherparse::PacketBuilderStep<etherparse::IpHeaders>, bool) {
        match (src.ip(), dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => (
                PacketBuilder::ip(etherparse::IpHeaders::Ipv4(
                    etherparse::Ipv4Header::new(
                        0,
                        64,
                        etherparse::IpNumber::TCP,
                        s.octets(),
                        d.octets(),
                    )
                    .expect("header"),
                    Default::default(),
                )),
                false,
            ),
            (IpAddr::V6(s), IpAddr::V6(d)) => (
                PacketBuilder::ip(etherparse::IpHeaders::Ipv6(
                    etherparse::Ipv6Header {
                        traffic_class: 0,
                        flow_label: Default::default(),
                        payload_length: 0,
                        next_header: etherparse::IpNumber::TCP,
                        hop_limit: 64,
                        source: s.octets(),
                        destination: d.octets(),
                    },
                    Default::default(),
                )),
                true,
            ),
            _ => panic!("mixed address families"),
        }
    }

    /// Adds a TCP segment.
    pub fn tcp(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        seq: u32,
        flags: Flags,
        payload: &[u8],
    ) -> &mut Self {
        let (ip, v6) = Self::ip_builder(src, dst);
        let mut b = ip.tcp(src.port(), dst.port(), seq, 65535);
        if let Some(a) = flags.ack {
            b = b.ack(a);
        }
        if flags.syn {
            b = b.syn();
        }
        if flags.fin {
            b = b.fin();
        }
        if flags.rst {
            b = b.rst();
        }
        let mut ip_bytes = Vec::new();
        b.write(&mut ip_bytes, payload).expect("build tcp");
        let frame = self.link.wrap(&ip_bytes, v6);
        self.raw(frame)
    }

    /// Adds a UDP datagram.
    pub fn udp(&mut self, src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> &mut Self {
        let (ip, v6) = Self::ip_builder(src, dst);
        let mut ip_bytes = Vec::new();
        ip.udp(src.port(), dst.port())
            .write(&mut ip_bytes, payload)
            .expect("build udp");
        let frame = self.link.wrap(&ip_bytes, v6);
        self.raw(frame)
    }

    /// The capture in libpcap format (little-endian, microseconds).
    pub fn pcap(&self) -> Vec<u8> {
        self.pcap_with_snaplen(usize::MAX)
    }

    /// The capture in libpcap format with every frame cut to `snaplen` bytes (as
    /// `tcpdump -s SNAPLEN` writes it: captured length <= snaplen, original length kept).
    pub fn pcap_with_snaplen(&self, snaplen: usize) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&4u16.to_le_bytes());
        out.extend_from_slice(&0i32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&262_144u32.to_le_bytes());
        out.extend_from_slice(&u32::from(self.link.number()).to_le_bytes());
        for (us, data) in &self.frames {
            let cap = data.len().min(snaplen);
            out.extend_from_slice(&((us / 1_000_000) as u32).to_le_bytes());
            out.extend_from_slice(&((us % 1_000_000) as u32).to_le_bytes());
            out.extend_from_slice(&(cap as u32).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&data[..cap]);
        }
        out
    }

    /// The capture in pcapng format (one section, one interface, microsecond timestamps).
    pub fn pcapng(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Section header block.
        for w in [0x0A0D_0D0Au32, 28, 0x1A2B_3C4D] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&(-1i64).to_le_bytes());
        out.extend_from_slice(&28u32.to_le_bytes());
        // Interface description block.
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&20u32.to_le_bytes());
        out.extend_from_slice(&self.link.number().to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&262_144u32.to_le_bytes());
        out.extend_from_slice(&20u32.to_le_bytes());
        // Enhanced packet blocks.
        for (us, data) in &self.frames {
            let padded = data.len().div_ceil(4) * 4;
            let len = (32 + padded) as u32;
            out.extend_from_slice(&6u32.to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&((us >> 32) as u32).to_le_bytes());
            out.extend_from_slice(&(*us as u32).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(data);
            out.resize(out.len() + padded - data.len(), 0);
            out.extend_from_slice(&len.to_le_bytes());
        }
        out
    }
}

/// An ONC RPC call message (RFC 5531 §9) with AUTH_NONE, without record marker.
pub fn rpc_call(xid: u32, prog: u32, vers: u32, proc_: u32, args: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for w in [xid, 0, 2, prog, vers, proc_, 0, 0, 0, 0] {
        v.extend_from_slice(&w.to_be_bytes());
    }
    v.extend_from_slice(args);
    v
}

/// An accepted, SUCCESS RPC reply with AUTH_NONE verifier and `body`, without record marker.
pub fn rpc_reply(xid: u32, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for w in [xid, 1, 0, 0, 0, 0] {
        v.extend_from_slice(&w.to_be_bytes());
    }
    v.extend_from_slice(body);
    v
}

/// `msg` with a single last-fragment record marker (RFC 5531 §11).
pub fn record(msg: &[u8]) -> Vec<u8> {
    let mut v = (0x8000_0000u32 | msg.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(msg);
    v
}
