//! Capture files: pcap (libpcap format, both byte orders, micro- and nanosecond
//! timestamps) and pcapng (every section and interface), read with `pcap-parser`; link-layer,
//! IP, TCP and UDP headers decoded with `etherparse`.
//!
//! References: the libpcap file format
//! (<https://www.tcpdump.org/manpages/pcap-savefile.5.html>), pcapng
//! (draft-ietf-opsawg-pcapng, §4.1 SHB, §4.2 IDB with `if_tsresol`/`if_tsoffset`, §4.3 EPB,
//! §4.4 SPB) and the link types registry (<https://www.tcpdump.org/linktypes.html>):
//! ETHERNET (1), NULL (0, host byte order family), LOOP (108, network byte order family),
//! RAW (101, and the historical DLT values 12 and 14), IPV4 (228), IPV6 (229),
//! LINUX_SLL (113, 16-byte header) and LINUX_SLL2 (276, 20-byte header).
//!
//! Everything here works on a capture held in memory as [`Bytes`]: frames are zero-copy
//! slices of it. A file cut short (the capture was still being written, or copied partially)
//! keeps every complete frame and yields a [`Warning`]; a file that is not a capture at all is a
//! [`CaptureError`]. Nothing a file contains can make this code panic or allocate more than
//! the file's own size.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, NetSlice, SlicedPacket, TransportSlice};
use pcap_parser::nom;
use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapNGPacketBlock;
use pcap_parser::PcapError;

/// Largest capture file `janus replay` loads (it is held in memory).
pub const MAX_CAPTURE_BYTES: usize = 1 << 30;

/// Why a file could not be read as a capture at all.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file is empty.
    #[error("empty file: not a pcap or pcapng capture")]
    Empty,
    /// The first bytes are neither a pcap magic number nor a pcapng section header.
    #[error("not a pcap or pcapng capture (first bytes {0})")]
    NotACapture(String),
    /// The file ends inside the file header (pcap) or the first section header (pcapng).
    #[error("capture truncated inside its file header ({0} bytes)")]
    TruncatedHeader(usize),
    /// The file is larger than [`MAX_CAPTURE_BYTES`].
    #[error("capture of {0} bytes is larger than the {MAX_CAPTURE_BYTES}-byte limit")]
    TooLarge(usize),
}

/// Something in the capture that was skipped or repaired, with where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Frame number (1-based, as Wireshark counts) the warning is about, if any.
    pub frame: Option<u64>,
    /// What happened.
    pub text: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.frame {
            Some(n) => write!(f, "frame {n}: {}", self.text),
            None => f.write_str(&self.text),
        }
    }
}

/// Which container format the file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureFormat {
    /// Classic libpcap format.
    Pcap,
    /// pcapng.
    PcapNg,
}

/// One captured frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Frame number, 1-based.
    pub number: u64,
    /// Capture time since the Unix epoch.
    pub ts: Duration,
    /// Link type of the interface the frame was captured on.
    pub linktype: i32,
    /// Captured bytes (possibly fewer than were on the wire).
    pub data: Bytes,
    /// Length of the frame on the wire.
    pub orig_len: u32,
}

/// A capture file read into frames.
#[derive(Debug, Clone)]
pub struct Capture {
    /// Container format.
    pub format: CaptureFormat,
    /// The frames, in file order.
    pub frames: Vec<Frame>,
    /// Problems met while reading (truncation, unknown blocks).
    pub warnings: Vec<Warning>,
}

fn hex_prefix(data: &[u8]) -> String {
    data.iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Capture {
    /// Reads a whole capture held in memory.
    pub fn parse(data: Bytes) -> Result<Capture, CaptureError> {
        if data.is_empty() {
            return Err(CaptureError::Empty);
        }
        if data.len() > MAX_CAPTURE_BYTES {
            return Err(CaptureError::TooLarge(data.len()));
        }
        const MAGICS: [[u8; 4]; 7] = [
            [0x0a, 0x0d, 0x0d, 0x0a],
            [0xd4, 0xc3, 0xb2, 0xa1],
            [0x4d, 0x3c, 0xb2, 0xa1],
            [0x34, 0xcd, 0xb2, 0xa1],
            [0xa1, 0xb2, 0xc3, 0xd4],
            [0xa1, 0xb2, 0x3c, 0x4d],
            [0xa1, 0xb2, 0xcd, 0x34],
        ];
        if data.len() < 4 && MAGICS.iter().any(|m| m.starts_with(&data)) {
            return Err(CaptureError::TruncatedHeader(data.len()));
        }
        if data.len() >= 4 && data[..4] == [0x0a, 0x0d, 0x0d, 0x0a] {
            return parse_pcapng(&data);
        }
        if data.len() >= 4 {
            let magic = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
            if matches!(
                magic,
                0xa1b2_c3d4 | 0xa1b2_3c4d | 0xa1b2_cd34 | 0xd4c3_b2a1 | 0x4d3c_b2a1 | 0x34cd_b2a1
            ) {
                return parse_pcap(&data);
            }
        }
        Err(CaptureError::NotACapture(hex_prefix(&data)))
    }
}

fn truncated_warning(frame: u64, left: usize) -> Warning {
    Warning {
        frame: Some(frame),
        text: format!(
            "capture file truncated: the last {left} bytes are an incomplete frame, ignored"
        ),
    }
}

fn parse_pcap(data: &Bytes) -> Result<Capture, CaptureError> {
    let (mut rest, header) = match pcap_parser::parse_pcap_header(data) {
        Ok(v) => v,
        Err(nom::Err::Incomplete(_)) => return Err(CaptureError::TruncatedHeader(data.len())),
        Err(_) => return Err(CaptureError::NotACapture(hex_prefix(data))),
    };
    let nanos = header.is_nanosecond_precision();
    let linktype = header.network.0;
    let mut frames = Vec::new();
    let mut warnings = Vec::new();
    let mut number = 0u64;
    while !rest.is_empty() {
        number += 1;
        let parsed = if header.is_modified_format() {
            pcap_parser::parse_pcap_frame_modified(rest)
        } else if header.is_bigendian() {
            pcap_parser::parse_pcap_frame_be(rest)
        } else {
            pcap_parser::parse_pcap_frame(rest)
        };
        match parsed {
            Ok((next, block)) => {
                let frac = u64::from(block.ts_usec);
                let sub_nanos = if nanos {
                    frac
                } else {
                    frac.saturating_mul(1000)
                };
                frames.push(Frame {
                    number,
                    ts: Duration::from_secs(u64::from(block.ts_sec))
                        + Duration::from_nanos(sub_nanos),
                    linktype,
                    data: data.slice_ref(block.data),
                    orig_len: block.origlen,
                });
                rest = next;
            }
            Err(nom::Err::Incomplete(_)) => {
                warnings.push(truncated_warning(number, rest.len()));
                break;
            }
            Err(_) => {
                warnings.push(Warning {
                    frame: Some(number),
                    text: format!("malformed pcap record header; {} bytes ignored", rest.len()),
                });
                break;
            }
        }
    }
    Ok(Capture {
        format: CaptureFormat::Pcap,
        frames,
        warnings,
    })
}

/// One pcapng interface: its link type and timestamp units.
#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: i32,
    /// Timestamp units per second.
    resolution: u64,
    /// Seconds added to every timestamp.
    offset: i64,
}

fn ts_from_units(units: u64, iface: &Interface) -> Duration {
    let res = iface.resolution.max(1);
    let secs = (units / res) as i64 + iface.offset;
    let frac = u128::from(units % res) * 1_000_000_000 / u128::from(res);
    Duration::from_secs(secs.max(0) as u64) + Duration::from_nanos(frac as u64)
}

fn parse_pcapng(data: &Bytes) -> Result<Capture, CaptureError> {
    let mut rest: &[u8] = data;
    let mut frames = Vec::new();
    let mut warnings = Vec::new();
    let mut interfaces: Vec<Interface> = Vec::new();
    let mut big_endian = false;
    let mut number = 0u64;
    let mut last_ts = Duration::ZERO;
    let mut first = true;
    while !rest.is_empty() {
        let parsed = if first || rest.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
            pcap_parser::parse_sectionheaderblock(rest).map(|(r, b)| (r, Block::SectionHeader(b)))
        } else if big_endian {
            pcap_parser::parse_block_be(rest)
        } else {
            pcap_parser::parse_block_le(rest)
        };
        let (next, block) = match parsed {
            Ok(v) => v,
            Err(nom::Err::Incomplete(_)) if first => {
                return Err(CaptureError::TruncatedHeader(data.len()));
            }
            Err(_) if first => return Err(CaptureError::NotACapture(hex_prefix(data))),
            Err(nom::Err::Incomplete(_)) => {
                warnings.push(truncated_warning(number + 1, rest.len()));
                break;
            }
            Err(e) => {
                let why = match e {
                    nom::Err::Error(PcapError::NomError(_, kind))
                    | nom::Err::Failure(PcapError::NomError(_, kind)) => format!("{kind:?}"),
                    other => format!("{other:?}").chars().take(60).collect(),
                };
                warnings.push(Warning {
                    frame: Some(number + 1),
                    text: format!(
                        "malformed pcapng block at byte {} ({why}); the remaining {} bytes are ignored",
                        data.len() - rest.len(),
                        rest.len()
                    ),
                });
                break;
            }
        };
        first = false;
        rest = next;
        match block {
            Block::SectionHeader(shb) => {
                big_endian = shb.big_endian();
                interfaces.clear();
            }
            Block::InterfaceDescription(idb) => {
                let resolution = match idb.ts_resolution() {
                    Some(r) if r > 0 => r,
                    _ => {
                        warnings.push(Warning {
                            frame: None,
                            text: format!(
                                "interface {}: invalid timestamp resolution {}, microseconds assumed",
                                interfaces.len(),
                                idb.if_tsresol
                            ),
                        });
                        1_000_000
                    }
                };
                interfaces.push(Interface {
                    linktype: idb.linktype.0,
                    resolution,
                    offset: idb.ts_offset(),
                });
            }
            Block::EnhancedPacket(epb) => {
                number += 1;
                let Some(iface) = interfaces.get(epb.if_id as usize).copied() else {
                    warnings.push(Warning {
                        frame: Some(number),
                        text: format!("packet on undeclared interface {}, skipped", epb.if_id),
                    });
                    continue;
                };
                let units = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                last_ts = ts_from_units(units, &iface);
                frames.push(Frame {
                    number,
                    ts: last_ts,
                    linktype: iface.linktype,
                    data: data.slice_ref(epb.packet_data()),
                    orig_len: epb.orig_len(),
                });
            }
            Block::SimplePacket(spb) => {
                number += 1;
                // pcapng §4.4: a simple packet belongs to interface 0 and has no timestamp;
                // it gets the previous packet's time.
                let Some(iface) = interfaces.first().copied() else {
                    warnings.push(Warning {
                        frame: Some(number),
                        text: "simple packet block without an interface, skipped".into(),
                    });
                    continue;
                };
                frames.push(Frame {
                    number,
                    ts: last_ts,
                    linktype: iface.linktype,
                    data: data.slice_ref(spb.packet_data()),
                    orig_len: spb.orig_len(),
                });
            }
            _ => {}
        }
    }
    Ok(Capture {
        format: CaptureFormat::PcapNg,
        frames,
        warnings,
    })
}

/// TCP flags the reassembly cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFlags {
    /// SYN.
    pub syn: bool,
    /// ACK (the acknowledgment number is valid).
    pub ack: bool,
    /// FIN.
    pub fin: bool,
    /// RST.
    pub rst: bool,
}

/// The transport-layer content of one frame.
#[derive(Debug, Clone)]
pub enum Segment {
    /// A TCP segment.
    Tcp {
        /// Sender.
        src: SocketAddr,
        /// Receiver.
        dst: SocketAddr,
        /// Sequence number of the first payload byte (or of the SYN/FIN).
        seq: u32,
        /// Acknowledgment number (valid when `flags.ack`).
        ack: u32,
        /// Flags.
        flags: TcpFlags,
        /// Payload bytes.
        payload: Bytes,
        /// The capture's snap length cut the frame: the payload is only its captured start.
        truncated: bool,
    },
    /// A UDP datagram.
    Udp {
        /// Sender.
        src: SocketAddr,
        /// Receiver.
        dst: SocketAddr,
        /// Payload bytes.
        payload: Bytes,
        /// The capture's snap length cut the frame: the payload is only its captured start.
        truncated: bool,
    },
}

/// Strips the link-layer header of `linktype` and returns the frame's TCP or UDP segment.
/// `Ok(None)` is a frame that is fine but carries no TCP/UDP (ARP, ICMP, ...); `Err` says why
/// a frame could not be decoded.
pub fn decode_frame(frame: &Frame) -> Result<Option<Segment>, String> {
    let d = &frame.data[..];
    let l3 = match frame.linktype {
        1 => L3::Ethernet(d),
        113 => {
            // LINUX_SLL: packet type, ARPHRD, address length, 8-byte address, protocol.
            if d.len() < 16 {
                return Err(format!(
                    "Linux cooked header needs 16 bytes, frame has {}",
                    d.len()
                ));
            }
            L3::EtherType(u16::from_be_bytes([d[14], d[15]]), &d[16..])
        }
        276 => {
            // LINUX_SLL2: protocol first, then reserved, ifindex, ARPHRD, type, addr len, addr.
            if d.len() < 20 {
                return Err(format!(
                    "Linux cooked v2 header needs 20 bytes, frame has {}",
                    d.len()
                ));
            }
            L3::EtherType(u16::from_be_bytes([d[0], d[1]]), &d[20..])
        }
        101 | 12 | 14 | 228 | 229 => L3::Ip(d),
        0 | 108 => {
            if d.len() < 4 {
                return Err(format!(
                    "loopback header needs 4 bytes, frame has {}",
                    d.len()
                ));
            }
            let le = u32::from_le_bytes([d[0], d[1], d[2], d[3]]);
            let be = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
            // NULL stores the address family in the capturing host's byte order, LOOP in
            // network order; AF_INET is 2 everywhere, AF_INET6 is 10, 24, 28 or 30.
            let family = if frame.linktype == 108 {
                be
            } else if le < 256 {
                le
            } else {
                be
            };
            match family {
                2 | 10 | 24 | 28 | 30 => L3::Ip(&d[4..]),
                other => return Err(format!("loopback frame of address family {other}, not IP")),
            }
        }
        other => return Err(format!("unsupported link type {other}")),
    };
    let strict = match l3 {
        L3::Ethernet(d) => SlicedPacket::from_ethernet(d),
        L3::EtherType(t, d) => SlicedPacket::from_ether_type(EtherType(t), d),
        L3::Ip(d) => SlicedPacket::from_ip(d),
    };
    let (addrs, transport, truncated) = match strict {
        Ok(p) => {
            let addrs = p.net.as_ref().map(|net| match net {
                NetSlice::Ipv4(v4) => (
                    IpAddr::from(v4.header().source_addr()),
                    IpAddr::from(v4.header().destination_addr()),
                    v4.is_payload_fragmented(),
                ),
                NetSlice::Ipv6(v6) => (
                    IpAddr::from(v6.header().source_addr()),
                    IpAddr::from(v6.header().destination_addr()),
                    v6.is_payload_fragmented(),
                ),
            });
            (addrs, p.transport, false)
        }
        // A frame cut by the capture's snap length: the headers are there, part of the
        // payload is not. Keep what was captured; reassembly treats the rest as a gap.
        Err(e) if frame.data.len() < frame.orig_len as usize => {
            let lax = match l3 {
                L3::Ethernet(d) => LaxSlicedPacket::from_ethernet(d).ok(),
                L3::EtherType(t, d) => Some(LaxSlicedPacket::from_ether_type(EtherType(t), d)),
                L3::Ip(d) => LaxSlicedPacket::from_ip(d).ok(),
            };
            let Some(p) = lax else {
                return Err(e.to_string());
            };
            let addrs = p.net.as_ref().map(|net| match net {
                LaxNetSlice::Ipv4(v4) => (
                    IpAddr::from(v4.header().source_addr()),
                    IpAddr::from(v4.header().destination_addr()),
                    v4.is_payload_fragmented(),
                ),
                LaxNetSlice::Ipv6(v6) => (
                    IpAddr::from(v6.header().source_addr()),
                    IpAddr::from(v6.header().destination_addr()),
                    v6.is_payload_fragmented(),
                ),
            });
            if p.transport.is_none() {
                return Err(format!("{e} (frame cut by the capture's snap length)"));
            }
            (addrs, p.transport, true)
        }
        Err(e) => return Err(e.to_string()),
    };
    let Some((src_ip, dst_ip, fragmented)) = addrs else {
        return Ok(None);
    };
    if fragmented {
        return Err("IP fragment: fragment reassembly is not supported, skipped".into());
    }
    match &transport {
        Some(TransportSlice::Tcp(tcp)) => Ok(Some(Segment::Tcp {
            src: SocketAddr::new(src_ip, tcp.source_port()),
            dst: SocketAddr::new(dst_ip, tcp.destination_port()),
            seq: tcp.sequence_number(),
            ack: tcp.acknowledgment_number(),
            flags: TcpFlags {
                syn: tcp.syn(),
                ack: tcp.ack(),
                fin: tcp.fin(),
                rst: tcp.rst(),
            },
            payload: frame.data.slice_ref(tcp.payload()),
            truncated,
        })),
        Some(TransportSlice::Udp(udp)) => Ok(Some(Segment::Udp {
            src: SocketAddr::new(src_ip, udp.source_port()),
            dst: SocketAddr::new(dst_ip, udp.destination_port()),
            payload: frame.data.slice_ref(udp.payload()),
            truncated,
        })),
        _ => Ok(None),
    }
}

/// Where the network layer starts in a frame.
#[derive(Debug, Clone, Copy)]
enum L3<'a> {
    /// An Ethernet II frame (VLAN tags are handled by etherparse).
    Ethernet(&'a [u8]),
    /// A payload of the given EtherType.
    EtherType(u16, &'a [u8]),
    /// A bare IPv4 or IPv6 packet.
    Ip(&'a [u8]),
}
