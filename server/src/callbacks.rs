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

use core::net::SocketAddr;
use std::collections::BTreeMap;
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
    /// Send `bytes` on the channel (TCP: queued until connected; the record marker is
    /// included; UDP: one datagram).
    Send {
        /// The channel.
        id: CallbackId,
        /// The bytes.
        bytes: Bytes,
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
            self.commands
                .push(CallbackCommand::Send { id, bytes: data });
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
