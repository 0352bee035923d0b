//! NSM v1 procedures of the service (XNFS chapter 11; docs/cross-protocol.md §3.4): Janus is its
//! own status monitor. SM_STAT/SM_MON/SM_UNMON/SM_UNMON_ALL/SM_SIMU_CRASH, incoming SM_NOTIFY
//! (client reboot: free its state, call back the SM_MON registrants) and our own SM_NOTIFY after a
//! restart.

use core::net::IpAddr;
use std::time::Instant;

use bytes::Bytes;
use proto_nfs::server::Transport;
use proto_nfs::xdr::XdrEncode;

use super::*;

impl NlmService {
    pub(super) fn nsm_call(
        &mut self,
        now: Instant,
        locks: &mut dyn LockBackend,
        call: &IncomingCall,
        c: NsmCall,
    ) -> CallOutcome {
        let local = is_local(call.peer.ip());
        let reply = |r: NsmReply| CallOutcome::Reply(r.to_bytes());
        let stat_res = |ok: bool, state: i32| {
            reply(NsmReply::StatRes(SmStatRes {
                res_stat: if ok { SmRes::Succ } else { SmRes::Fail },
                state,
            }))
        };
        match c {
            NsmCall::Null => reply(NsmReply::Void),
            // XNFS SM_STAT: "Implementations should not rely on" it; we can monitor anyone.
            NsmCall::Stat(_) => stat_res(true, self.nsm_state),
            // Only local callers may change the monitor list, as Linux rpc.statd enforces:
            // a remote SM_MON would let anyone make us call arbitrary programs.
            NsmCall::Mon(mon) => {
                if !local
                    || (self.registrations.len() >= self.config.max_registrations
                        && !self
                            .registrations
                            .iter()
                            .any(|r| r.mon.mon_id == mon.mon_id))
                {
                    return stat_res(false, self.nsm_state);
                }
                let addr = call.peer.ip();
                self.records.push_back(NsmRecord::Registered {
                    mon: mon.clone(),
                    addr,
                });
                self.apply_record(NsmRecord::Registered { mon, addr });
                stat_res(true, self.nsm_state)
            }
            NsmCall::Unmon(mon_id) => {
                if local && self.registrations.iter().any(|r| r.mon.mon_id == mon_id) {
                    self.records.push_back(NsmRecord::Unregistered {
                        mon_id: mon_id.clone(),
                    });
                    self.apply_record(NsmRecord::Unregistered { mon_id });
                }
                reply(NsmReply::Stat(SmStat {
                    state: self.nsm_state,
                }))
            }
            NsmCall::UnmonAll(my_id) => {
                if local {
                    let gone: Vec<MonId> = self
                        .registrations
                        .iter()
                        .filter(|r| r.mon.mon_id.my_id == my_id)
                        .map(|r| r.mon.mon_id.clone())
                        .collect();
                    for mon_id in gone {
                        self.records.push_back(NsmRecord::Unregistered {
                            mon_id: mon_id.clone(),
                        });
                        self.apply_record(NsmRecord::Unregistered { mon_id });
                    }
                }
                reply(NsmReply::Stat(SmStat {
                    state: self.nsm_state,
                }))
            }
            NsmCall::SimuCrash => {
                if local {
                    // A simulated reboot: the state number advances (staying odd, "up") and
                    // every monitored client is told, as after a real restart.
                    self.nsm_state = self.nsm_state.wrapping_add(2);
                    self.records.push_back(NsmRecord::OwnState(self.nsm_state));
                    self.notify_monitored(now);
                }
                reply(NsmReply::Void)
            }
            NsmCall::Notify(chge) => {
                self.peer_rebooted(now, locks, call.peer.ip(), &chge);
                reply(NsmReply::Void)
            }
        }
    }

    /// A client announced a new NSM state (it rebooted): free what its previous life held
    /// and tell the SM_MON registrants for that name.
    ///
    /// XNFS chapter 11: the notification means the host's earlier state is gone, so it is
    /// freed in our grace period too (docs/architecture.md lesson 3): locks and shares it
    /// reclaimed since our restart (they belong to the life that ended), what it had still
    /// to reclaim (its new life will not), and its blocks; waiters behind them are woken.
    /// What it locks or reclaims after the notification is judged as usual. A state older
    /// than the one we know is a delayed notification of an earlier reboot, already
    /// superseded (NSM states only grow, by two per reboot; compared as serial numbers, RFC
    /// 1982): it frees nothing, or it would free the locks of the host's current life.
    pub(super) fn peer_rebooted(
        &mut self,
        now: Instant,
        locks: &mut dyn LockBackend,
        from: IpAddr,
        chge: &StatChge,
    ) {
        let name = chge.mon_name.bytes().clone();
        let known = self.hosts.get(&name).map(|h| h.client_state);
        let rebooted = match known {
            None => false,
            Some(None) => true,
            Some(Some(old)) => chge.state.wrapping_sub(old) > 0,
        };
        if rebooted {
            self.free_host(now, locks, &name);
            if let Some(h) = self.hosts.get_mut(&name) {
                h.client_state = Some(chge.state);
                h.addr = from;
            }
        }
        let callbacks: Vec<(IpAddr, MyId, [u8; SM_PRIV_SIZE])> = self
            .registrations
            .iter()
            .filter(|r| r.mon.mon_id.mon_name == chge.mon_name)
            .map(|r| (r.addr, r.mon.mon_id.my_id.clone(), r.mon.priv_))
            .collect();
        for (addr, my_id, priv_) in callbacks {
            let status = SmStatus {
                mon_name: chge.mon_name.clone(),
                state: chge.state,
                priv_,
            };
            self.deliver(
                now,
                addr,
                Transport::Udp,
                (my_id.my_prog, my_id.my_vers, my_id.my_proc),
                status.to_bytes(),
                Purpose::StatusCallback,
            );
        }
    }

    /// Starts SM_NOTIFY to every monitored host (XNFS chapter 11: what a reboot owes
    /// them): after a restart from the journal and after SM_SIMU_CRASH.
    pub(super) fn notify_monitored(&mut self, now: Instant) {
        let monitored: Vec<(Bytes, IpAddr)> = self
            .hosts
            .iter()
            .filter(|(_, h)| h.monitored)
            .map(|(n, h)| (n.clone(), h.addr))
            .collect();
        for (name, addr) in monitored {
            self.start_notify(now, name, addr);
        }
    }

    pub(super) fn start_notify(&mut self, now: Instant, name: Bytes, addr: IpAddr) {
        if let Some(old) = self.notifies.remove(&name) {
            self.timers.remove(&(old.next, Timer::Notify(name.clone())));
        }
        self.notifies.insert(
            name.clone(),
            Notify {
                addr,
                started: now,
                in_flight: false,
                next: now,
            },
        );
        self.send_notify(now, name);
    }

    pub(super) fn send_notify(&mut self, now: Instant, name: Bytes) {
        let Some(n) = self.notifies.get_mut(&name) else {
            return;
        };
        n.in_flight = true;
        let addr = n.addr;
        let Ok(mon_name) = SmString::new(self.config.server_name.clone()) else {
            return;
        };
        let args = StatChge {
            mon_name,
            state: self.nsm_state,
        }
        .to_bytes();
        self.counters.notifies_sent += 1;
        self.deliver(
            now,
            addr,
            Transport::Udp,
            (NSM_PROGRAM, NSM_VERSION_1, NsmProc::Notify.to_u32()),
            args,
            Purpose::Notify(name),
        );
    }
}
