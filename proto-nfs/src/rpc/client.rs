//! The client side of ONC RPC (RFC 5531 §9): encode calls and match replies to them.
//!
//! NLM `*_MSG`/GRANTED callbacks and NSM `SM_NOTIFY` are calls *from* the server *to* a
//! client's callback service. [`RpcClient`] is the pure part of that: it hands out xids,
//! encodes calls, matches replies to outstanding xids, and turns time into retransmissions
//! and time-outs. It does no I/O; the runtime sends what it is given.
//!
//! # Shape
//! - Inputs: [`RpcClient::call`] (returns the message to send), [`RpcClient::handle_reply`],
//!   [`RpcClient::handle_timeout`], [`RpcClient::cancel`].
//! - Outputs: [`RpcClient::poll_event`] (retransmit or time out), [`RpcClient::poll_timeout`].
//! - Time only moves forward.
//!
//! The first xid is an input (a random number from the runtime), so that xids do not repeat
//! across restarts (RFC 5531 §9 leaves the choice to the client).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::auth::{AuthStat, OpaqueAuth};
use super::message::{
    put_call_header, AcceptStat, AcceptedReply, MessageBody, RejectedReply, ReplyBody, RpcMessage,
};
use crate::xdr::XdrErrorKind;

/// Encodes a call (without record marker) with an AUTH_NONE verifier.
pub fn encode_call(
    xid: u32,
    prog: u32,
    vers: u32,
    proc_: u32,
    cred: &OpaqueAuth,
    args: &[u8],
) -> Bytes {
    let mut out = BytesMut::with_capacity(40 + cred.body.len() + args.len());
    put_call_header(&mut out, xid, prog, vers, proc_, cred, &OpaqueAuth::none());
    out.extend_from_slice(args);
    out.freeze()
}

/// How long to wait for a reply and how often to send a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait after the first transmission.
    pub timeout: Duration,
    /// Transmissions in total (1 = never retransmit).
    pub max_transmissions: u32,
    /// Double the wait after each retransmission.
    pub backoff: bool,
}

impl Default for RetryPolicy {
    /// 5 s, then 10 s, 20 s: four transmissions, about 75 s in all.
    fn default() -> Self {
        RetryPolicy {
            timeout: Duration::from_secs(5),
            max_transmissions: 4,
            backoff: true,
        }
    }
}

/// A call ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingCall {
    /// The xid chosen for it.
    pub xid: u32,
    /// The RPC message, without record marker (add one for TCP with
    /// [`super::record::record_bytes`]).
    pub message: Bytes,
}

/// What the client needs the runtime to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// No reply in time: send these bytes again (same xid, so the server's duplicate cache
    /// recognises it).
    Retransmit {
        /// The call's xid.
        xid: u32,
        /// The message to send again (no record marker).
        message: Bytes,
    },
    /// Every transmission went unanswered; the call is forgotten.
    TimedOut {
        /// The call's xid.
        xid: u32,
    },
}

/// A reply matched to an outstanding call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientReply {
    /// The xid of the call it answers.
    pub xid: u32,
    /// The reply.
    pub body: ReplyBody,
}

/// Why a reply could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// Not a well-formed RPC message.
    #[error("malformed reply: {0:?}")]
    Malformed(XdrErrorKind),
    /// A call arrived where a reply was expected.
    #[error("xid {0:#x}: a call, not a reply")]
    NotAReply(u32),
    /// A reply to no outstanding call (late, duplicate, or never sent).
    #[error("xid {0:#x}: no outstanding call")]
    Unmatched(u32),
}

/// How a matched reply turned out for the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// Accepted, but not SUCCESS.
    #[error("call not executed: {0:?}")]
    NotExecuted(AcceptStat),
    /// Rejected for the RPC version.
    #[error("server speaks RPC versions {low}..={high}")]
    RpcMismatch {
        /// Lowest version.
        low: u32,
        /// Highest version.
        high: u32,
    },
    /// Rejected for authentication.
    #[error("authentication failed: {0:?}")]
    Auth(AuthStat),
}

impl ClientReply {
    /// The procedure's results if the call succeeded, otherwise why not.
    pub fn results(&self) -> Result<&Bytes, ReplyError> {
        match &self.body {
            ReplyBody::Accepted(AcceptedReply {
                stat: AcceptStat::Success(r),
                ..
            }) => Ok(r),
            ReplyBody::Accepted(a) => Err(ReplyError::NotExecuted(a.stat.clone())),
            ReplyBody::Denied(RejectedReply::RpcMismatch { low, high }) => {
                Err(ReplyError::RpcMismatch {
                    low: *low,
                    high: *high,
                })
            }
            ReplyBody::Denied(RejectedReply::AuthError(s)) => Err(ReplyError::Auth(*s)),
        }
    }
}

#[derive(Debug, Clone)]
struct Pending {
    message: Bytes,
    deadline: Instant,
    wait: Duration,
    sent: u32,
}

/// Outstanding calls of one client endpoint. See the module documentation.
#[derive(Debug, Clone)]
pub struct RpcClient {
    next_xid: u32,
    policy: RetryPolicy,
    pending: BTreeMap<u32, Pending>,
    events: VecDeque<ClientEvent>,
}

impl RpcClient {
    /// A client whose first call gets xid `first_xid`.
    pub fn new(first_xid: u32, policy: RetryPolicy) -> Self {
        RpcClient {
            next_xid: first_xid,
            policy,
            pending: BTreeMap::new(),
            events: VecDeque::new(),
        }
    }

    /// Calls waiting for a reply.
    pub fn outstanding(&self) -> usize {
        self.pending.len()
    }

    /// Starts a call: picks an xid not in use, encodes the message and arms its deadline.
    /// The caller sends `message` now.
    pub fn call(
        &mut self,
        now: Instant,
        prog: u32,
        vers: u32,
        proc_: u32,
        cred: &OpaqueAuth,
        args: &[u8],
    ) -> OutgoingCall {
        let mut xid = self.next_xid;
        while self.pending.contains_key(&xid) {
            xid = xid.wrapping_add(1);
        }
        self.next_xid = xid.wrapping_add(1);
        let message = encode_call(xid, prog, vers, proc_, cred, args);
        let wait = self.policy.timeout;
        self.pending.insert(
            xid,
            Pending {
                message: message.clone(),
                deadline: now + wait,
                wait,
                sent: 1,
            },
        );
        OutgoingCall { xid, message }
    }

    /// A message arrived for this client: match it to its call.
    pub fn handle_reply(
        &mut self,
        _now: Instant,
        record: &Bytes,
    ) -> Result<ClientReply, ClientError> {
        let msg = RpcMessage::decode_bytes(record).map_err(ClientError::Malformed)?;
        let body = match msg.body {
            MessageBody::Reply(r) => r,
            MessageBody::Call(_) => return Err(ClientError::NotAReply(msg.xid)),
        };
        if self.pending.remove(&msg.xid).is_none() {
            return Err(ClientError::Unmatched(msg.xid));
        }
        Ok(ClientReply { xid: msg.xid, body })
    }

    /// Stops waiting for `xid` (e.g. the callback was cancelled); true if it was pending.
    pub fn cancel(&mut self, xid: u32) -> bool {
        self.pending.remove(&xid).is_some()
    }

    /// Time passed: retransmit or give up on every call whose deadline is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<u32> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(x, _)| *x)
            .collect();
        for xid in due {
            let Some(p) = self.pending.get_mut(&xid) else {
                continue;
            };
            if p.sent >= self.policy.max_transmissions {
                self.pending.remove(&xid);
                self.events.push_back(ClientEvent::TimedOut { xid });
                continue;
            }
            p.sent += 1;
            if self.policy.backoff {
                p.wait = p.wait.saturating_mul(2);
            }
            p.deadline = now + p.wait;
            self.events.push_back(ClientEvent::Retransmit {
                xid,
                message: p.message.clone(),
            });
        }
    }

    /// Next thing to do.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// When `handle_timeout` should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending.values().map(|p| p.deadline).min()
    }
}
