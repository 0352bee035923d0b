//! The RPC client side of the service's outbound calls, sans-IO: turns each
//! [`OutboundCall`] into an RPC call message (RFC 5531 §9, AUTH_SYS with our host name as
//! Linux lockd sends its callbacks), retransmits it, matches replies by xid and reports one
//! [`CallResult`] per call, so the runtime only moves bytes.
//!
//! # Shape
//! - Inputs: [`CallbackClient::submit`], [`CallbackClient::handle_reply`] (one whole reply
//!   message: a UDP datagram, or a TCP record without its marker),
//!   [`CallbackClient::connection_failed`], [`CallbackClient::handle_timeout`].
//! - Outputs, drained after every input: [`CallbackClient::poll_transmit`] (bytes for a
//!   destination; TCP data carries its record marker), [`CallbackClient::poll_result`]
//!   (for [`NlmService::handle_call_result`](super::NlmService::handle_call_result));
//!   [`CallbackClient::poll_timeout`].
//! - Time only moves forward.
//!
//! The runtime keeps one UDP socket and at most one TCP connection per destination for
//! these calls; a reply arriving on either is handed to `handle_reply`.

use core::net::SocketAddr;
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use proto_nfs::rpc::client::{ClientEvent, RetryPolicy, RpcClient};
use proto_nfs::rpc::record::record_bytes;
use proto_nfs::rpc::{AuthSysParms, OpaqueAuth};
use proto_nfs::server::Transport;

use super::outbound::{CallFailure, CallResult, OutboundCall, OutboundId};

/// Bytes to send for an outbound call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackTransmit {
    /// Destination.
    pub dest: SocketAddr,
    /// Transport (TCP: connect if needed, then write `data`, which includes the marker).
    pub transport: Transport,
    /// The message.
    pub data: Bytes,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    id: OutboundId,
    dest: SocketAddr,
    transport: Transport,
}

/// See the module documentation.
#[derive(Debug)]
pub struct CallbackClient {
    rpc: RpcClient,
    cred: OpaqueAuth,
    pending: BTreeMap<u32, Pending>,
    transmits: VecDeque<CallbackTransmit>,
    results: VecDeque<(OutboundId, CallResult)>,
}

impl CallbackClient {
    /// A client whose first xid is `first_xid` (random from the runtime, so xids do not
    /// repeat across restarts), sending AUTH_SYS as `machinename` (uid 0, gid 0). Each call
    /// is sent up to three times within `call_timeout` before it is reported timed out.
    pub fn new(first_xid: u32, machinename: Bytes, call_timeout: Duration) -> Self {
        let mut machinename = machinename;
        machinename.truncate(255);
        let cred = OpaqueAuth::sys(&AuthSysParms {
            stamp: first_xid,
            machinename,
            uid: 0,
            gid: 0,
            gids: Vec::new(),
        });
        let policy = RetryPolicy {
            timeout: (call_timeout / 3).max(Duration::from_millis(100)),
            max_transmissions: 3,
            backoff: false,
        };
        CallbackClient {
            rpc: RpcClient::new(first_xid, policy),
            cred,
            pending: BTreeMap::new(),
            transmits: VecDeque::new(),
            results: VecDeque::new(),
        }
    }

    fn frame(transport: Transport, message: &[u8]) -> Bytes {
        match transport {
            Transport::Tcp => record_bytes(message),
            Transport::Udp => Bytes::copy_from_slice(message),
        }
    }

    /// Starts an outbound call.
    pub fn submit(&mut self, now: Instant, call: OutboundCall) {
        let out = self.rpc.call(
            now,
            call.program,
            call.version,
            call.procedure,
            &self.cred,
            &call.args,
        );
        self.pending.insert(
            out.xid,
            Pending {
                id: call.id,
                dest: call.dest,
                transport: call.transport,
            },
        );
        self.transmits.push_back(CallbackTransmit {
            dest: call.dest,
            transport: call.transport,
            data: Self::frame(call.transport, &out.message),
        });
    }

    /// A reply message arrived (from anywhere: it is matched by xid). Returns false if it
    /// matched no outstanding call (late, duplicate, malformed).
    pub fn handle_reply(&mut self, now: Instant, message: &Bytes) -> bool {
        let Ok(reply) = self.rpc.handle_reply(now, message) else {
            return false;
        };
        let Some(p) = self.pending.remove(&reply.xid) else {
            return false;
        };
        let result = match reply.results() {
            Ok(body) => CallResult::Success(body.clone()),
            Err(_) => CallResult::Failed(CallFailure::Rejected),
        };
        self.results.push_back((p.id, result));
        true
    }

    /// The runtime could not reach `dest` over `transport` (connection refused or reset,
    /// ICMP unreachable): every call outstanding there fails now.
    pub fn connection_failed(&mut self, dest: SocketAddr, transport: Transport) {
        let xids: Vec<u32> = self
            .pending
            .iter()
            .filter(|(_, p)| p.dest == dest && p.transport == transport)
            .map(|(x, _)| *x)
            .collect();
        for xid in xids {
            self.rpc.cancel(xid);
            if let Some(p) = self.pending.remove(&xid) {
                self.results
                    .push_back((p.id, CallResult::Failed(CallFailure::Unreachable)));
            }
        }
    }

    /// Time passed: retransmit or give up.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.rpc.handle_timeout(now);
        while let Some(ev) = self.rpc.poll_event() {
            match ev {
                ClientEvent::Retransmit { xid, message } => {
                    if let Some(p) = self.pending.get(&xid) {
                        self.transmits.push_back(CallbackTransmit {
                            dest: p.dest,
                            transport: p.transport,
                            data: Self::frame(p.transport, &message),
                        });
                    }
                }
                ClientEvent::TimedOut { xid } => {
                    if let Some(p) = self.pending.remove(&xid) {
                        self.results
                            .push_back((p.id, CallResult::Failed(CallFailure::TimedOut)));
                    }
                }
            }
        }
    }

    /// Next bytes to send.
    pub fn poll_transmit(&mut self) -> Option<CallbackTransmit> {
        self.transmits.pop_front()
    }

    /// Next finished call.
    pub fn poll_result(&mut self) -> Option<(OutboundId, CallResult)> {
        self.results.pop_front()
    }

    /// When `handle_timeout` should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.rpc.poll_timeout()
    }

    /// Calls waiting for a reply.
    pub fn outstanding(&self) -> usize {
        self.pending.len()
    }
}
