//! Sockets for the core's outbound channels (NLM/NSM callbacks: GRANTED_MSG, the `_RES`
//! calls, SM_NOTIFY, PMAP GETPORT): one non-blocking UDP socket per address family shared
//! by every UDP channel, and one TCP connection per TCP channel, all registered in the event
//! loop's poll with tokens from [`CALLBACK_TOKEN_BASE`] up.
//!
//! This module only moves bytes. The core (`server::callbacks`) decides which channels
//! exist ([`CallbackCommand`]), frames the replies and matches them to calls; everything
//! that happens here goes back to it as a [`CallbackEvent`]: bytes read (a datagram from a
//! UDP channel's destination, or a chunk of a TCP stream), a connection established, a
//! failure (refused, reset, write error, queue over [`MAX_QUEUE`]).

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::{Buf, Bytes};
use mio::net::{TcpStream, UdpSocket};
use mio::{Interest, Registry, Token};
use server::{CallbackCommand, CallbackEvent, CallbackId, Transport};

/// Tokens at or above this value belong to the callback sockets.
pub const CALLBACK_TOKEN_BASE: usize = 1 << 40;
/// Most bytes queued on one outbound connection.
pub const MAX_QUEUE: usize = 1024 * 1024;
/// Most datagrams queued on the UDP socket while it would block.
const MAX_UDP_QUEUE: usize = 1024;

const UDP_V4: Token = Token(CALLBACK_TOKEN_BASE);
const UDP_V6: Token = Token(CALLBACK_TOKEN_BASE + 1);
const TCP_BASE: usize = CALLBACK_TOKEN_BASE + 16;

#[derive(Debug)]
struct Out {
    id: CallbackId,
    stream: TcpStream,
    connected: bool,
    queue: VecDeque<Bytes>,
    queued: usize,
}

struct Udp {
    socket: UdpSocket,
    token: Token,
    queue: VecDeque<(SocketAddr, Bytes)>,
}

#[derive(Debug, Clone, Copy)]
enum Chan {
    Tcp(Token),
    Udp(SocketAddr),
}

/// The outbound sockets. See the module documentation.
pub struct CallbackIo {
    registry: Option<Registry>,
    udp: Vec<Udp>,
    tcp: BTreeMap<Token, Out>,
    chans: BTreeMap<CallbackId, Chan>,
    /// UDP channel of each destination (datagrams that come back from it).
    udp_dest: BTreeMap<SocketAddr, CallbackId>,
    next_token: usize,
    buf: Vec<u8>,
}

impl std::fmt::Debug for CallbackIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackIo")
            .field("tcp", &self.tcp.len())
            .field("channels", &self.chans.len())
            .finish_non_exhaustive()
    }
}

impl Default for CallbackIo {
    fn default() -> Self {
        Self::new()
    }
}

impl CallbackIo {
    /// No sockets yet; [`CallbackIo::register`] opens the UDP sockets.
    pub fn new() -> Self {
        CallbackIo {
            registry: None,
            udp: Vec::new(),
            tcp: BTreeMap::new(),
            chans: BTreeMap::new(),
            udp_dest: BTreeMap::new(),
            next_token: TCP_BASE,
            buf: vec![0; 65_536],
        }
    }

    /// Opens the UDP sockets (IPv4 and, if the host has it, IPv6, on ephemeral ports) and
    /// keeps a registry clone for TCP connections made later.
    pub fn register(&mut self, registry: &Registry) -> io::Result<()> {
        let any4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
        let any6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0);
        for (addr, token) in [(any4, UDP_V4), (any6, UDP_V6)] {
            let mut socket = match UdpSocket::bind(addr) {
                Ok(s) => s,
                Err(e) if addr.is_ipv6() => {
                    tracing::debug!("no IPv6 socket for NLM callbacks: {e}");
                    continue;
                }
                Err(e) => return Err(e),
            };
            registry.register(&mut socket, token, Interest::READABLE | Interest::WRITABLE)?;
            self.udp.push(Udp {
                socket,
                token,
                queue: VecDeque::new(),
            });
        }
        self.registry = Some(registry.try_clone()?);
        Ok(())
    }

    /// Carries out one command of the core; failures known now are returned.
    pub fn apply(&mut self, cmd: CallbackCommand) -> Vec<CallbackEvent> {
        let mut events = Vec::new();
        match cmd {
            CallbackCommand::Connect {
                id,
                addr,
                transport,
            } => match transport {
                Transport::Udp => {
                    self.chans.insert(id, Chan::Udp(addr));
                    self.udp_dest.insert(addr, id);
                }
                Transport::Tcp => {
                    if let Err(e) = self.connect(id, addr) {
                        tracing::debug!(%addr, "NLM callback connection failed: {e}");
                        events.push(CallbackEvent::Failed(id));
                    }
                }
            },
            CallbackCommand::Send { id, data } => match self.chans.get(&id).copied() {
                Some(Chan::Udp(dest)) => {
                    let want = if dest.is_ipv4() { UDP_V4 } else { UDP_V6 };
                    match self.udp.iter_mut().find(|u| u.token == want) {
                        Some(u) => {
                            if u.queue.len() < MAX_UDP_QUEUE {
                                u.queue.push_back((dest, data));
                            }
                            Self::flush_udp(u);
                        }
                        None => events.push(CallbackEvent::Failed(id)),
                    }
                }
                Some(Chan::Tcp(token)) => {
                    let Some(c) = self.tcp.get_mut(&token) else {
                        return events;
                    };
                    if c.queued + data.len() > MAX_QUEUE {
                        tracing::debug!("NLM callback queue full");
                        self.close(token, &mut events);
                        return events;
                    }
                    c.queued += data.len();
                    c.queue.push_back(data);
                    if c.connected && !Self::flush_tcp(c) {
                        self.close(token, &mut events);
                    }
                }
                // Closed meanwhile (the core hears of it through the failure it got).
                None => {}
            },
            CallbackCommand::Close { id } => match self.chans.remove(&id) {
                Some(Chan::Tcp(token)) => {
                    if let Some(mut c) = self.tcp.remove(&token) {
                        if let Some(r) = self.registry.as_ref() {
                            let _ = r.deregister(&mut c.stream);
                        }
                    }
                }
                Some(Chan::Udp(dest)) => {
                    self.udp_dest.remove(&dest);
                }
                None => {}
            },
        }
        events
    }

    fn connect(&mut self, id: CallbackId, dest: SocketAddr) -> io::Result<()> {
        let Some(registry) = self.registry.as_ref() else {
            return Err(io::Error::other("not registered"));
        };
        let mut stream = TcpStream::connect(dest)?;
        let token = Token(self.next_token);
        self.next_token += 1;
        registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
        let _ = stream.set_nodelay(true);
        self.tcp.insert(
            token,
            Out {
                id,
                stream,
                connected: false,
                queue: VecDeque::new(),
                queued: 0,
            },
        );
        self.chans.insert(id, Chan::Tcp(token));
        Ok(())
    }

    fn flush_udp(u: &mut Udp) {
        while let Some((dest, data)) = u.queue.front() {
            match u.socket.send_to(data, *dest) {
                Ok(_) => {
                    u.queue.pop_front();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // The call's retransmission timer reports it if nothing comes back.
                    tracing::debug!(%dest, "NLM callback datagram not sent: {e}");
                    u.queue.pop_front();
                }
            }
        }
    }

    /// Writes what is queued; false when the connection failed.
    fn flush_tcp(c: &mut Out) -> bool {
        while let Some(front) = c.queue.front_mut() {
            match c.stream.write(front) {
                Ok(0) => return false,
                Ok(n) => {
                    c.queued -= n;
                    if n == front.len() {
                        c.queue.pop_front();
                    } else {
                        front.advance(n);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    }

    fn close(&mut self, token: Token, events: &mut Vec<CallbackEvent>) {
        if let Some(mut c) = self.tcp.remove(&token) {
            if let Some(r) = self.registry.as_ref() {
                let _ = r.deregister(&mut c.stream);
            }
            self.chans.remove(&c.id);
            events.push(CallbackEvent::Failed(c.id));
        }
    }

    /// Readiness of one of our tokens: reads replies, finishes connects, writes queues.
    pub fn handle_ready(
        &mut self,
        token: Token,
        readable: bool,
        writable: bool,
    ) -> Vec<CallbackEvent> {
        let mut events = Vec::new();
        if token == UDP_V4 || token == UDP_V6 {
            let Some(i) = self.udp.iter().position(|u| u.token == token) else {
                return events;
            };
            if writable {
                Self::flush_udp(&mut self.udp[i]);
            }
            if readable {
                loop {
                    match self.udp[i].socket.recv_from(&mut self.buf) {
                        Ok((n, from)) => {
                            // A reply comes from the port the call went to; others match no
                            // channel.
                            if let Some(id) = self.udp_dest.get(&from) {
                                events.push(CallbackEvent::Bytes(
                                    *id,
                                    Bytes::copy_from_slice(&self.buf[..n]),
                                ));
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            // An ICMP error of an earlier send; the call times out.
                            tracing::debug!("NLM callback socket: {e}");
                        }
                    }
                }
            }
            return events;
        }
        let Some(c) = self.tcp.get_mut(&token) else {
            return events;
        };
        let mut failed = false;
        if !c.connected && (writable || readable) {
            match c.stream.take_error() {
                Ok(Some(_)) | Err(_) => failed = true,
                Ok(None) => match c.stream.peer_addr() {
                    Ok(_) => {
                        c.connected = true;
                        events.push(CallbackEvent::Connected(c.id));
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => {}
                    Err(_) => failed = true,
                },
            }
        }
        if !failed && c.connected && !Self::flush_tcp(c) {
            failed = true;
        }
        if !failed && c.connected && readable {
            loop {
                match c.stream.read(&mut self.buf) {
                    Ok(0) => {
                        failed = true;
                        break;
                    }
                    Ok(n) => events.push(CallbackEvent::Bytes(
                        c.id,
                        Bytes::copy_from_slice(&self.buf[..n]),
                    )),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
        }
        if failed {
            self.close(token, &mut events);
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn pump(
        poll: &mut mio::Poll,
        io: &mut CallbackIo,
        until: impl Fn(&[CallbackEvent]) -> bool,
    ) -> Vec<CallbackEvent> {
        let mut got = Vec::new();
        let mut events = mio::Events::with_capacity(16);
        for _ in 0..100 {
            if until(&got) {
                break;
            }
            poll.poll(&mut events, Some(Duration::from_millis(20)))
                .unwrap();
            for ev in events.iter() {
                got.extend(io.handle_ready(ev.token(), ev.is_readable(), ev.is_writable()));
            }
        }
        got
    }

    #[test]
    fn tcp_connect_refused_is_reported_and_udp_round_trips() {
        let mut poll = mio::Poll::new().unwrap();
        let mut io = CallbackIo::new();
        io.register(poll.registry()).unwrap();
        // A port nobody listens on: bind then drop.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = l.local_addr().unwrap();
        drop(l);
        let id = CallbackId(1);
        let mut failed = io.apply(CallbackCommand::Connect {
            id,
            addr: dead,
            transport: Transport::Tcp,
        });
        failed.extend(io.apply(CallbackCommand::Send {
            id,
            data: Bytes::from_static(b"\x80\0\0\x04abcd"),
        }));
        if failed.is_empty() {
            failed = pump(&mut poll, &mut io, |g| !g.is_empty());
        }
        assert_eq!(failed, vec![CallbackEvent::Failed(id)]);

        // UDP: a peer echoes; the echo comes back as bytes of the channel.
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let dest = peer.local_addr().unwrap();
        let u = CallbackId(2);
        assert!(io
            .apply(CallbackCommand::Connect {
                id: u,
                addr: dest,
                transport: Transport::Udp
            })
            .is_empty());
        assert!(io
            .apply(CallbackCommand::Send {
                id: u,
                data: Bytes::from_static(b"ping")
            })
            .is_empty());
        let mut b = [0u8; 16];
        let (n, from) = peer.recv_from(&mut b).unwrap();
        peer.send_to(&b[..n], from).unwrap();
        let got = pump(&mut poll, &mut io, |g| !g.is_empty());
        assert_eq!(
            got,
            vec![CallbackEvent::Bytes(u, Bytes::from_static(b"ping"))]
        );
    }

    #[test]
    fn tcp_channel_connects_sends_and_reads() {
        let mut poll = mio::Poll::new().unwrap();
        let mut io = CallbackIo::new();
        io.register(poll.registry()).unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let id = CallbackId(7);
        io.apply(CallbackCommand::Connect {
            id,
            addr: l.local_addr().unwrap(),
            transport: Transport::Tcp,
        });
        io.apply(CallbackCommand::Send {
            id,
            data: Bytes::from_static(b"hello"),
        });
        let (mut s, _) = l.accept().unwrap();
        let got = pump(&mut poll, &mut io, |g| {
            g.contains(&CallbackEvent::Connected(id))
        });
        assert!(got.contains(&CallbackEvent::Connected(id)), "{got:?}");
        let mut b = [0u8; 5];
        s.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"hello");
        s.write_all(b"back").unwrap();
        let got = pump(&mut poll, &mut io, |g| !g.is_empty());
        assert_eq!(
            got,
            vec![CallbackEvent::Bytes(id, Bytes::from_static(b"back"))]
        );
        io.apply(CallbackCommand::Close { id });
        assert!(io.tcp.is_empty() && io.chans.is_empty());
    }
}
