//! Calls to services on client hosts (their NLM for GRANTED_MSG and `_RES`, their NSM for
//! SM_NOTIFY, SM_MON registrants' callbacks): the port is found with PMAP GETPORT at the
//! host's portmapper (RFC 1833 §3.2) and cached for `port_cache_ttl`; a failed call forgets
//! the port so the next attempt asks again.

use core::net::{IpAddr, SocketAddr};
use std::time::Instant;

use bytes::Bytes;
use proto_nfs::server::Transport;

use super::*;

impl NlmService {
    pub(super) fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Starts a call to (program, version, procedure) on host `ip`, asking its portmapper
    /// for the port unless we know it.
    pub(super) fn deliver(
        &mut self,
        now: Instant,
        ip: IpAddr,
        transport: Transport,
        (program, version, procedure): (u32, u32, u32),
        args: Bytes,
        purpose: Purpose,
    ) {
        let key = (ip, program, version, transport);
        let cached = self
            .ports
            .get(&key)
            .filter(|(_, until)| *until > now)
            .map(|(p, _)| *p);
        let d = Delivery {
            ip,
            transport,
            program,
            version,
            procedure,
            args,
            purpose,
            resolving: cached.is_none(),
        };
        let id = OutboundId(self.next_id());
        let call = match cached {
            Some(port) => OutboundCall {
                id,
                dest: SocketAddr::new(ip, port),
                transport,
                program,
                version,
                procedure,
                args: d.args.clone(),
                timeout: self.config.call_timeout,
            },
            None => OutboundCall {
                id,
                dest: SocketAddr::new(ip, self.config.client_portmap_port),
                transport,
                program: outbound::PMAP_PROGRAM,
                version: outbound::PMAP_VERSION,
                procedure: outbound::PMAPPROC_GETPORT,
                args: outbound::getport_args(program, version, transport),
                timeout: self.config.call_timeout,
            },
        };
        self.deliveries.insert(id, d);
        self.outbound.push_back(call);
    }

    /// The runtime finished an [`OutboundCall`].
    pub fn handle_call_result(
        &mut self,
        now: Instant,
        locks: &mut dyn LockBackend,
        id: OutboundId,
        result: CallResult,
    ) {
        let Some(mut d) = self.deliveries.remove(&id) else {
            return;
        };
        let key = (d.ip, d.program, d.version, d.transport);
        if d.resolving {
            let port = match &result {
                CallResult::Success(body) => outbound::decode_getport_result(body).ok(),
                CallResult::Failed(_) => None,
            };
            match port {
                Some(port) if port != 0 => {
                    self.ports
                        .insert(key, (port, now + self.config.port_cache_ttl));
                    d.resolving = false;
                    let id = OutboundId(self.next_id());
                    self.outbound.push_back(OutboundCall {
                        id,
                        dest: SocketAddr::new(d.ip, port),
                        transport: d.transport,
                        program: d.program,
                        version: d.version,
                        procedure: d.procedure,
                        args: d.args.clone(),
                        timeout: self.config.call_timeout,
                    });
                    self.deliveries.insert(id, d);
                }
                // Not registered, or the portmapper did not answer.
                _ => self.delivered(now, locks, d.purpose, false),
            }
            return;
        }
        let ok = matches!(result, CallResult::Success(_));
        if !ok {
            // The service may have moved: ask the portmapper next time.
            self.ports.remove(&key);
        }
        self.delivered(now, locks, d.purpose, ok);
    }

    pub(super) fn delivered(
        &mut self,
        now: Instant,
        _locks: &mut dyn LockBackend,
        purpose: Purpose,
        ok: bool,
    ) {
        match purpose {
            Purpose::Granted(id, attempt) => {
                let current = self.blocks.get(&id).is_some_and(|b| {
                    matches!(b.state, BlockState::Granting { attempts, .. } if attempts == attempt)
                });
                if !current {
                    return;
                }
                let wait = if ok {
                    self.config.granted_res_wait
                } else {
                    self.config.granted_retry
                };
                self.rearm_block(id, now + wait);
            }
            Purpose::Notify(name) => {
                if ok {
                    self.notifies.remove(&name);
                    return;
                }
                let Some(n) = self.notifies.get_mut(&name) else {
                    return;
                };
                n.in_flight = false;
                // Give up when the next attempt would fall after `notify_give_up`.
                let next = now + self.config.notify_retry;
                if next.saturating_duration_since(n.started) > self.config.notify_give_up {
                    self.notifies.remove(&name);
                    return;
                }
                n.next = next;
                self.timers.insert((n.next, Timer::Notify(name)));
            }
            Purpose::MsgRes | Purpose::StatusCallback => {}
        }
    }
}
