//! Sockets for NLM/NSM's outbound RPC calls (GRANTED_MSG, the `_RES` calls, SM_NOTIFY, the
//! PMAP GETPORT that finds a client's NLM or NSM port): one non-blocking UDP socket and at
//! most one TCP connection per destination, all registered in the event loop's poll with
//! tokens from [`EXTERNAL_TOKEN_BASE`] up.
//!
//! This module only moves bytes: `proto_nlm::service::callback::CallbackClient` builds,
//! retransmits and matches the calls. Bytes come from its `poll_transmit` (TCP data already
//! carries the record marker, RFC 5531 §11); every reply message that arrives (a datagram, or
//! a TCP record without its marker) is returned by [`CallbackIo::handle_ready`] for
//! `CallbackClient::handle_reply`; a refused or reset connection is returned as a failure for
//! `CallbackClient::connection_failed`.
//!
//! Limits: at most [`MAX_TCP`] outbound connections (more → the call fails at once as
//! unreachable), a per-connection queue of [`MAX_QUEUE`] bytes, replies of at most
//! [`MAX_REPLY`] bytes (a larger record closes the connection). A connection idle for
//! [`IDLE_CLOSE`] is closed (every call on it has timed out long before).

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use mio::net::{TcpStream, UdpSocket};
use mio::{Interest, Registry, Token};
use proto_nfs::rpc::record::take_record;
use proto_nfs::server::Transport;

use crate::event_loop::EXTERNAL_TOKEN_BASE;

/// Most outbound TCP connections at once.
pub const MAX_TCP: usize = 256;
/// Most bytes queued on one outbound connection.
pub const MAX_QUEUE: usize = 1024 * 1024;
/// Largest reply message accepted.
pub const MAX_REPLY: usize = 64 * 1024;
/// An outbound connection without traffic for this long is closed.
pub const IDLE_CLOSE: Duration = Duration::from_secs(120);
/// Most datagrams queued on the UDP socket while it would block.
const MAX_UDP_QUEUE: usize = 1024;

const UDP_V4: Token = Token(EXTERNAL_TOKEN_BASE);
const UDP_V6: Token = Token(EXTERNAL_TOKEN_BASE + 1);
const TCP_BASE: usize = EXTERNAL_TOKEN_BASE + 16;

/// Something that happened on the sockets, for the callback client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IoEvent {
    /// A reply message (for `CallbackClient::handle_reply`).
    Reply(Bytes),
    /// `dest` cannot be reached over `transport` (for `CallbackClient::connection_failed`).
    Failed(SocketAddr, Transport),
}

#[derive(Debug)]
struct Out {
    stream: TcpStream,
    dest: SocketAddr,
    connected: bool,
    last_used: Instant,
    queue: VecDeque<Bytes>,
    queued: usize,
    read_buf: BytesMut,
}

struct Udp {
    socket: UdpSocket,
    token: Token,
    queue: VecDeque<(SocketAddr, Bytes)>,
}

/// The outbound sockets. See the module documentation.
pub struct CallbackIo {
    registry: Option<Registry>,
    udp: Vec<Udp>,
    tcp: HashMap<Token, Out>,
    by_dest: HashMap<SocketAddr, Token>,
    next_token: usize,
    buf: Vec<u8>,
}

impl std::fmt::Debug for CallbackIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackIo")
            .field("tcp", &self.tcp.len())
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
            tcp: HashMap::new(),
            by_dest: HashMap::new(),
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

    /// Sends `data` to `dest`: at once over UDP (queued while the socket would block), or
    /// queued on the destination's TCP connection, connecting first if needed. Failures
    /// that are known now are returned.
    pub fn send(&mut self, dest: SocketAddr, transport: Transport, data: Bytes) -> Vec<IoEvent> {
        let mut events = Vec::new();
        match transport {
            Transport::Udp => {
                let Some(u) = self
                    .udp
                    .iter_mut()
                    .find(|u| u.token == if dest.is_ipv4() { UDP_V4 } else { UDP_V6 })
                else {
                    events.push(IoEvent::Failed(dest, transport));
                    return events;
                };
                if u.queue.len() < MAX_UDP_QUEUE {
                    u.queue.push_back((dest, data));
                }
                Self::flush_udp(u);
            }
            Transport::Tcp => {
                let token = match self.by_dest.get(&dest) {
                    Some(t) => *t,
                    None => match self.connect(dest) {
                        Ok(t) => t,
                        Err(e) => {
                            tracing::debug!(%dest, "NLM callback connection failed: {e}");
                            events.push(IoEvent::Failed(dest, transport));
                            return events;
                        }
                    },
                };
                let Some(c) = self.tcp.get_mut(&token) else {
                    return events;
                };
                if c.queued + data.len() > MAX_QUEUE {
                    tracing::debug!(%dest, "NLM callback queue full");
                    self.close(token, &mut events);
                    return events;
                }
                c.queued += data.len();
                c.last_used = Instant::now();
                c.queue.push_back(data);
                if c.connected && !Self::flush_tcp(c) {
                    self.close(token, &mut events);
                }
            }
        }
        events
    }

    fn connect(&mut self, dest: SocketAddr) -> io::Result<Token> {
        if self.tcp.len() >= MAX_TCP {
            return Err(io::Error::other("too many outbound connections"));
        }
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
                stream,
                dest,
                connected: false,
                last_used: Instant::now(),
                queue: VecDeque::new(),
                queued: 0,
                read_buf: BytesMut::new(),
            },
        );
        self.by_dest.insert(dest, token);
        Ok(token)
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

    fn close(&mut self, token: Token, events: &mut Vec<IoEvent>) {
        if let Some(mut c) = self.tcp.remove(&token) {
            if let Some(r) = self.registry.as_ref() {
                let _ = r.deregister(&mut c.stream);
            }
            self.by_dest.remove(&c.dest);
            events.push(IoEvent::Failed(c.dest, Transport::Tcp));
        }
    }

    /// When the next idle connection should be closed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.tcp.values().map(|c| c.last_used + IDLE_CLOSE).min()
    }

    /// Closes the connections idle since `now - IDLE_CLOSE` (quietly: nothing is pending).
    pub fn handle_timeout(&mut self, now: Instant) {
        let idle: Vec<Token> = self
            .tcp
            .iter()
            .filter(|(_, c)| c.last_used + IDLE_CLOSE <= now)
            .map(|(t, _)| *t)
            .collect();
        for t in idle {
            if let Some(mut c) = self.tcp.remove(&t) {
                if let Some(r) = self.registry.as_ref() {
                    let _ = r.deregister(&mut c.stream);
                }
                self.by_dest.remove(&c.dest);
            }
        }
    }

    /// Readiness of one of our tokens: reads replies, finishes connects, writes queues.
    pub fn handle_ready(&mut self, token: Token, readable: bool, writable: bool) -> Vec<IoEvent> {
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
                        Ok((n, _)) => {
                            events.push(IoEvent::Reply(Bytes::copy_from_slice(&self.buf[..n])))
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
        c.last_used = Instant::now();
        let mut failed = false;
        if !c.connected && (writable || readable) {
            match c.stream.take_error() {
                Ok(Some(_)) | Err(_) => failed = true,
                Ok(None) => match c.stream.peer_addr() {
                    Ok(_) => c.connected = true,
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
                    Ok(n) => {
                        c.read_buf.extend_from_slice(&self.buf[..n]);
                        loop {
                            match take_record(&mut c.read_buf, MAX_REPLY) {
                                Ok(Some(m)) => events.push(IoEvent::Reply(m)),
                                Ok(None) => break,
                                Err(_) => {
                                    failed = true;
                                    break;
                                }
                            }
                        }
                        if failed {
                            break;
                        }
                    }
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

    #[test]
    fn tcp_connect_refused_is_reported_and_udp_round_trips() {
        let mut poll = mio::Poll::new().unwrap();
        let mut io = CallbackIo::new();
        io.register(poll.registry()).unwrap();
        // A port nobody listens on: bind then drop.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = l.local_addr().unwrap();
        drop(l);
        let mut failed = io.send(
            dead,
            Transport::Tcp,
            Bytes::from_static(b"\x80\0\0\x04abcd"),
        );
        let mut events = mio::Events::with_capacity(16);
        for _ in 0..50 {
            if !failed.is_empty() {
                break;
            }
            poll.poll(&mut events, Some(Duration::from_millis(20)))
                .unwrap();
            for ev in events.iter() {
                failed.extend(io.handle_ready(ev.token(), ev.is_readable(), ev.is_writable()));
            }
        }
        assert_eq!(failed, vec![IoEvent::Failed(dead, Transport::Tcp)]);

        // UDP: a peer echoes; the echo comes back as a reply.
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let dest = peer.local_addr().unwrap();
        assert!(io
            .send(dest, Transport::Udp, Bytes::from_static(b"ping"))
            .is_empty());
        let mut b = [0u8; 16];
        let (n, from) = peer.recv_from(&mut b).unwrap();
        peer.send_to(&b[..n], SocketAddr::new(dest.ip(), from.port()))
            .unwrap();
        let mut got = Vec::new();
        for _ in 0..50 {
            if !got.is_empty() {
                break;
            }
            poll.poll(&mut events, Some(Duration::from_millis(20)))
                .unwrap();
            for ev in events.iter() {
                got.extend(io.handle_ready(ev.token(), ev.is_readable(), ev.is_writable()));
            }
        }
        assert_eq!(got, vec![IoEvent::Reply(Bytes::from_static(b"ping"))]);
    }

    #[test]
    fn idle_connections_are_closed() {
        let poll = mio::Poll::new().unwrap();
        let mut io = CallbackIo::new();
        io.register(poll.registry()).unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dest = l.local_addr().unwrap();
        assert!(io
            .send(
                dest,
                Transport::Tcp,
                Bytes::from_static(b"\x80\0\0\x04abcd")
            )
            .is_empty());
        assert_eq!(io.tcp.len(), 1);
        let due = io.poll_timeout().expect("an idle deadline");
        io.handle_timeout(due - Duration::from_secs(1));
        assert_eq!(io.tcp.len(), 1, "not idle yet");
        io.handle_timeout(due);
        assert!(io.tcp.is_empty() && io.by_dest.is_empty());
        assert_eq!(io.poll_timeout(), None);
    }
}
