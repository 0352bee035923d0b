//! The channels of NLM/NSM's outbound RPC calls (GRANTED_MSG, the `_RES` calls, SM_NOTIFY,
//! the PMAP GETPORT that finds a client's NLM or NSM port), as the core sees them: one
//! channel per (destination, transport), opened with [`CallbackCommand::Connect`], written
//! with [`CallbackCommand::Send`] and closed with [`CallbackCommand::Close`]; the runtime owns
//! the sockets and reports what happens on them as [`CallbackEvent`]s.
//!
//! `proto_nlm::service::callback::CallbackClient` builds, retransmits and matches the calls;
//! this module only maps its transmits to channels and frames what comes back: over TCP the
//! reply messages are cut out of the byte stream here (RFC 5531 §11 record marking), over UDP
//! every datagram is one message.
//!
//! Limits: at most [`MAX_CHANNELS`] channels (more → the call fails at once as unreachable),
//! replies of at most [`MAX_REPLY`] bytes (a larger record closes the channel). A channel
//! idle for [`IDLE_CLOSE`] is closed (every call on it has timed out long before).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use proto_nfs::rpc::record::take_record;
use proto_nfs::server::Transport;
use proto_nlm::service::callback::{CallbackClient, CallbackTransmit};

/// Most channels at once.
pub const MAX_CHANNELS: usize = 256;
/// Largest reply message accepted.
pub const MAX_REPLY: usize = 64 * 1024;
/// A channel without traffic for this long is closed.
pub const IDLE_CLOSE: Duration = Duration::from_secs(120);
/// Most bytes buffered of an incomplete TCP reply.
const MAX_BUFFERED: usize = 2 * MAX_REPLY;

/// Identifies one outbound channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallbackId(pub u64);

/// What the core asks the runtime to do with outbound channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackCommand {
    /// Open channel `id` to `addr`: a TCP connection, or a UDP socket whose datagrams go to
    /// `addr` (and whose datagrams from `addr` come back as [`CallbackEvent::Bytes`]).
    Connect {
        /// The channel.
        id: CallbackId,
        /// Destination.
        addr: SocketAddr,
        /// Transport.
        transport: Transport,
    },
    /// Send `data` on the channel (TCP: queued until connected; the record marker is
    /// included; UDP: one datagram).
    Send {
        /// The channel.
        id: CallbackId,
        /// The bytes.
        data: Bytes,
    },
    /// Close the channel; nothing more is sent or reported for it.
    Close {
        /// The channel.
        id: CallbackId,
    },
}

/// What happened on an outbound channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackEvent {
    /// The TCP connection is established.
    Connected(CallbackId),
    /// Bytes arrived: a stream chunk (TCP) or one datagram (UDP).
    Bytes(CallbackId, Bytes),
    /// The channel failed (connection refused or reset, write error, queue over its limit).
    Failed(CallbackId),
    /// The peer closed the channel.
    Closed(CallbackId),
}

#[derive(Debug)]
struct Channel {
    dest: SocketAddr,
    transport: Transport,
    last_used: Instant,
    read_buf: BytesMut,
}

/// The channel table. See the module documentation.
#[derive(Debug, Default)]
pub struct Callbacks {
    channels: BTreeMap<CallbackId, Channel>,
    by_dest: BTreeMap<(SocketAddr, bool), CallbackId>,
    next_id: u64,
    commands: Vec<CallbackCommand>,
}

fn is_tcp(t: Transport) -> bool {
    t == Transport::Tcp
}

impl Callbacks {
    /// Moves the callback client's transmits to channels (opening them as needed); the
    /// commands come out of [`Callbacks::take_commands`].
    pub fn send_all(&mut self, now: Instant, cb: &mut CallbackClient) {
        while let Some(CallbackTransmit {
            dest,
            transport,
            data,
        }) = cb.poll_transmit()
        {
            let key = (dest, is_tcp(transport));
            let id = match self.by_dest.get(&key) {
                Some(id) => *id,
                None => {
                    if self.channels.len() >= MAX_CHANNELS {
                        tracing::debug!(%dest, "too many callback channels");
                        cb.connection_failed(dest, transport);
                        continue;
                    }
                    self.next_id += 1;
                    let id = CallbackId(self.next_id);
                    self.channels.insert(
                        id,
                        Channel {
                            dest,
                            transport,
                            last_used: now,
                            read_buf: BytesMut::new(),
                        },
                    );
                    self.by_dest.insert(key, id);
                    self.commands.push(CallbackCommand::Connect {
                        id,
                        addr: dest,
                        transport,
                    });
                    id
                }
            };
            if let Some(c) = self.channels.get_mut(&id) {
                c.last_used = now;
            }
            self.commands.push(CallbackCommand::Send { id, data });
        }
    }

    /// The commands produced since the last call, in order.
    pub fn take_commands(&mut self) -> Vec<CallbackCommand> {
        std::mem::take(&mut self.commands)
    }

    fn remove(&mut self, id: CallbackId) -> Option<Channel> {
        let c = self.channels.remove(&id)?;
        self.by_dest.remove(&(c.dest, is_tcp(c.transport)));
        Some(c)
    }

    /// Something happened on a channel; reply messages go to the callback client.
    pub fn handle(&mut self, now: Instant, ev: CallbackEvent, cb: &mut CallbackClient) {
        match ev {
            CallbackEvent::Connected(id) => {
                if let Some(c) = self.channels.get_mut(&id) {
                    c.last_used = now;
                }
            }
            CallbackEvent::Bytes(id, data) => {
                let Some(c) = self.channels.get_mut(&id) else {
                    return;
                };
                c.last_used = now;
                if !is_tcp(c.transport) {
                    if data.len() <= MAX_REPLY && !cb.handle_reply(now, &data) {
                        tracing::debug!("NLM callback reply matched nothing");
                    }
                    return;
                }
                c.read_buf.extend_from_slice(&data);
                let mut bad = c.read_buf.len() > MAX_BUFFERED;
                while !bad {
                    match take_record(&mut c.read_buf, MAX_REPLY) {
                        Ok(Some(m)) => {
                            if !cb.handle_reply(now, &m) {
                                tracing::debug!("NLM callback reply matched nothing");
                            }
                        }
                        Ok(None) => break,
                        Err(_) => bad = true,
                    }
                }
                if bad {
                    if let Some(c) = self.remove(id) {
                        self.commands.push(CallbackCommand::Close { id });
                        cb.connection_failed(c.dest, c.transport);
                    }
                }
            }
            CallbackEvent::Failed(id) | CallbackEvent::Closed(id) => {
                if let Some(c) = self.remove(id) {
                    cb.connection_failed(c.dest, c.transport);
                }
            }
        }
    }

    /// When the next idle channel should be closed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.channels
            .values()
            .map(|c| c.last_used + IDLE_CLOSE)
            .min()
    }

    /// Closes the channels idle since `now - IDLE_CLOSE` (quietly: nothing is pending).
    pub fn handle_timeout(&mut self, now: Instant) {
        let idle: Vec<CallbackId> = self
            .channels
            .iter()
            .filter(|(_, c)| c.last_used + IDLE_CLOSE <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in idle {
            self.remove(id);
            self.commands.push(CallbackCommand::Close { id });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto_nfs::rpc::{AcceptStat, MessageBody, RpcMessage};
    use proto_nfs::xdr::XdrEncode;
    use proto_nlm::service::{CallResult, OutboundCall, OutboundId};

    fn client() -> CallbackClient {
        CallbackClient::new(100, Bytes::from_static(b"janus"), Duration::from_secs(5))
    }

    fn call(id: u64, dest: SocketAddr, transport: Transport) -> OutboundCall {
        OutboundCall {
            id: OutboundId(id),
            dest,
            transport,
            program: 100_021,
            version: 4,
            procedure: 5,
            args: Bytes::from_static(&[0, 0, 0, 1]),
            timeout: Duration::from_secs(5),
        }
    }

    /// The xid of the call in a Send command's bytes (`marked`: TCP record marker first).
    fn xid_of(data: &Bytes, marked: bool) -> u32 {
        let body = if marked { data.slice(4..) } else { data.clone() };
        let m = RpcMessage::decode_bytes(&body).unwrap();
        assert!(matches!(m.body, MessageBody::Call(_)));
        m.xid
    }

    fn reply(xid: u32) -> Bytes {
        RpcMessage::accepted(xid, AcceptStat::Success(Bytes::from_static(b"ok!!"))).to_bytes()
    }

    #[test]
    fn tcp_replies_are_framed_across_chunks_and_channels_are_reused() {
        let now = Instant::now();
        let dest: SocketAddr = "127.0.0.1:4045".parse().unwrap();
        let mut cb = client();
        let mut chans = Callbacks::default();
        cb.submit(now, call(1, dest, Transport::Tcp));
        cb.submit(now, call(2, dest, Transport::Tcp));
        chans.send_all(now, &mut cb);
        let cmds = chans.take_commands();
        assert_eq!(cmds.len(), 3, "one Connect, two Sends: {cmds:?}");
        let CallbackCommand::Connect { id, addr, transport } = cmds[0].clone() else {
            panic!("{cmds:?}")
        };
        assert_eq!((addr, transport), (dest, Transport::Tcp));
        let xids: Vec<u32> = cmds[1..]
            .iter()
            .map(|c| match c {
                CallbackCommand::Send { id: i, data } if *i == id => xid_of(data, true),
                other => panic!("{other:?}"),
            })
            .collect();
        // Both replies in one stream, cut at an awkward place.
        let mut stream = Vec::new();
        for x in &xids {
            let r = reply(*x);
            stream.extend((0x8000_0000u32 | r.len() as u32).to_be_bytes());
            stream.extend_from_slice(&r);
        }
        chans.handle(now, CallbackEvent::Connected(id), &mut cb);
        chans.handle(now, CallbackEvent::Bytes(id, Bytes::copy_from_slice(&stream[..7])), &mut cb);
        assert!(cb.poll_result().is_none(), "half a header is not a reply");
        chans.handle(now, CallbackEvent::Bytes(id, Bytes::copy_from_slice(&stream[7..])), &mut cb);
        let mut got: Vec<(OutboundId, CallResult)> = std::iter::from_fn(|| cb.poll_result()).collect();
        got.sort_by_key(|(i, _)| *i);
        assert_eq!(
            got,
            vec![
                (OutboundId(1), CallResult::Success(Bytes::from_static(b"ok!!"))),
                (OutboundId(2), CallResult::Success(Bytes::from_static(b"ok!!"))),
            ]
        );
        // A later call to the same destination reuses the channel.
        cb.submit(now, call(3, dest, Transport::Tcp));
        chans.send_all(now, &mut cb);
        let cmds = chans.take_commands();
        assert!(matches!(&cmds[..], [CallbackCommand::Send { id: i, .. }] if *i == id));
    }

    #[test]
    fn failures_close_the_channel_and_idle_channels_are_closed() {
        let now = Instant::now();
        let dest: SocketAddr = "127.0.0.1:4045".parse().unwrap();
        let mut cb = client();
        let mut chans = Callbacks::default();
        cb.submit(now, call(1, dest, Transport::Tcp));
        chans.send_all(now, &mut cb);
        let CallbackCommand::Connect { id, .. } = chans.take_commands()[0].clone() else {
            panic!()
        };
        // A record claiming more than MAX_REPLY: the channel is closed and the call fails.
        let huge = (0x8000_0000u32 | (MAX_REPLY as u32 + 1)).to_be_bytes();
        chans.handle(now, CallbackEvent::Bytes(id, Bytes::copy_from_slice(&huge)), &mut cb);
        assert_eq!(chans.take_commands(), vec![CallbackCommand::Close { id }]);
        assert!(chans.channels.is_empty());
        assert!(matches!(
            cb.poll_result(),
            Some((OutboundId(1), CallResult::Failed(_)))
        ));

        // UDP: one datagram is one reply; an idle channel is closed after IDLE_CLOSE.
        cb.submit(now, call(2, dest, Transport::Udp));
        chans.send_all(now, &mut cb);
        let cmds = chans.take_commands();
        let (CallbackCommand::Connect { id: u, .. }, CallbackCommand::Send { data, .. }) =
            (cmds[0].clone(), cmds[1].clone())
        else {
            panic!("{cmds:?}")
        };
        chans.handle(now, CallbackEvent::Bytes(u, reply(xid_of(&data, false))), &mut cb);
        assert!(matches!(
            cb.poll_result(),
            Some((OutboundId(2), CallResult::Success(_)))
        ));
        assert_eq!(chans.poll_timeout(), Some(now + IDLE_CLOSE));
        chans.handle_timeout(now + IDLE_CLOSE - Duration::from_secs(1));
        assert!(chans.take_commands().is_empty(), "not idle yet");
        chans.handle_timeout(now + IDLE_CLOSE);
        assert_eq!(chans.take_commands(), vec![CallbackCommand::Close { id: u }]);
        assert_eq!(chans.poll_timeout(), None);
    }
}
