//! Service tests on virtual time (an integration test, so the library's sources read no
//! clock): a harness drives one [`NlmService`] with calls built from
//! the wire types, plays the client's portmapper and NLM/NSM services by answering the
//! outbound calls, and routes the lock table's events back, as the runtime will.

mod model;
mod real;

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use proto_nfs::server::{ConnId, Transport};
use proto_nfs::xdr::{XdrDecode, XdrEncode};

use proto_nlm::service::outbound::{PMAPPROC_GETPORT, PMAP_PROGRAM};
use proto_nlm::service::*;
use proto_nlm::wire::*;

use self::model::{ModelLocks, LEASE_FILE};

/// The one real clock reading, outside the library: the start of virtual time, which the
/// tests then move forward by adding `Duration`s.
#[allow(clippy::disallowed_methods)]
fn test_clock() -> Instant {
    Instant::now()
}

const CLIENT_A: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const CLIENT_B: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
const REMOTE: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
const PORTMAP: u16 = 30111;
const CLIENT_NLM_PORT: u16 = 40021;

struct Files;

impl FileHandles for Files {
    fn resolve(&self, fh: &[u8]) -> Resolved {
        match fh {
            [b'f', n] => Resolved::File {
                id: FileId(u64::from(*n)),
                read_only: false,
            },
            b"ro" => Resolved::File {
                id: FileId(50),
                read_only: true,
            },
            b"lease" => Resolved::File {
                id: LEASE_FILE,
                read_only: false,
            },
            _ => Resolved::Stale,
        }
    }
}

/// A lock table the harness can drive: its events, and whether a host holds a lock.
trait TestTable: LockBackend {
    fn next_event(&mut self) -> Option<BackendEvent>;
    fn holds(&self, caller: &[u8], file: FileId) -> bool;
}

impl TestTable for ModelLocks {
    fn next_event(&mut self) -> Option<BackendEvent> {
        self.events.pop_front()
    }
    fn holds(&self, caller: &[u8], file: FileId) -> bool {
        ModelLocks::holds(self, caller, file)
    }
}

struct Harness<B = ModelLocks> {
    svc: NlmService,
    locks: B,
    now: Instant,
    xid: u32,
    records: Vec<NsmRecord>,
}

fn config() -> NlmConfig {
    NlmConfig {
        server_name: Bytes::from_static(b"janus-test"),
        client_portmap_port: PORTMAP,
        ..NlmConfig::default()
    }
}

fn alock(caller: &'static str, svid: i32, fh: &'static [u8], off: u64, len: u64) -> Nlm4Lock {
    Nlm4Lock {
        caller_name: LmString::from_static(caller.as_bytes()),
        fh: Netobj::from_static(fh),
        oh: Netobj::from_static(caller.as_bytes()),
        svid,
        l_offset: off,
        l_len: len,
    }
}

fn lock_args(l: Nlm4Lock, exclusive: bool, block: bool) -> Nlm4LockArgs {
    Nlm4LockArgs {
        cookie: Netobj::from_static(b"ck"),
        block,
        exclusive,
        alock: l,
        reclaim: false,
        state: 3,
    }
}

impl Harness<ModelLocks> {
    fn new() -> Self {
        Harness::with(ModelLocks::default(), test_clock())
    }
}

impl<B: TestTable> Harness<B> {
    fn with(locks: B, now: Instant) -> Self {
        Harness {
            svc: NlmService::new(config(), now, 7, []),
            locks,
            now,
            xid: 100,
            records: Vec::new(),
        }
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.svc.handle_timeout(self.now, &mut self.locks);
        self.pump();
    }

    /// Routes the table's events to the service and collects durable records.
    fn pump(&mut self) {
        while let Some(ev) = self.locks.next_event() {
            assert!(self
                .svc
                .handle_backend_event(self.now, &mut self.locks, &ev));
        }
        while let Some(r) = self.svc.poll_record() {
            self.records.push(r);
        }
    }

    fn raw(
        &mut self,
        from: IpAddr,
        program: u32,
        version: u32,
        procedure: u32,
        args: Bytes,
    ) -> CallOutcome {
        self.xid += 1;
        let call = IncomingCall {
            conn: ConnId(1),
            peer: SocketAddr::new(from, 800),
            transport: Transport::Udp,
            xid: self.xid,
            program,
            version,
            procedure,
            args,
        };
        let out = self
            .svc
            .handle_call(self.now, &mut self.locks, &Files, call);
        self.pump();
        out
    }

    fn nlm(&mut self, from: IpAddr, c: Nlm4Call) -> CallOutcome {
        let p = c.procedure().to_u32();
        self.raw(from, NLM_PROGRAM, 4, p, c.args_bytes())
    }

    fn nsm(&mut self, from: IpAddr, c: NsmCall) -> CallOutcome {
        let p = c.procedure().to_u32();
        self.raw(from, NSM_PROGRAM, 1, p, c.args_bytes())
    }

    /// A call whose reply is an `nlm4_res`: its status.
    fn stat(&mut self, from: IpAddr, c: Nlm4Call) -> Nlm4Stats {
        let p = c.procedure();
        match self.nlm(from, c) {
            CallOutcome::Reply(body) => match Nlm4Reply::decode(p, &body).expect("reply decodes") {
                Nlm4Reply::Res(r) => r.stat,
                Nlm4Reply::Share(r) => r.stat,
                Nlm4Reply::Test(r) => r.stat.stat(),
                Nlm4Reply::Void => panic!("void reply"),
            },
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    fn lock(&mut self, from: IpAddr, l: Nlm4Lock, exclusive: bool, block: bool) -> Nlm4Stats {
        self.stat(from, Nlm4Call::Lock(lock_args(l, exclusive, block)))
    }

    fn unlock(&mut self, from: IpAddr, l: Nlm4Lock) -> Nlm4Stats {
        self.stat(
            from,
            Nlm4Call::Unlock(Nlm4UnlockArgs {
                cookie: Netobj::from_static(b"u"),
                alock: l,
            }),
        )
    }

    fn outbound(&mut self) -> Option<OutboundCall> {
        self.svc.poll_outbound()
    }

    fn result(&mut self, id: OutboundId, r: CallResult) {
        self.svc
            .handle_call_result(self.now, &mut self.locks, id, r);
        self.pump();
    }

    /// Plays the client's portmapper: expects a GETPORT for (program, version) at `ip` and
    /// answers `port`. Returns the call that follows it.
    fn answer_getport(
        &mut self,
        ip: IpAddr,
        program: u32,
        version: u32,
        port: u16,
    ) -> OutboundCall {
        let gp = self.outbound().expect("a GETPORT");
        assert_eq!(gp.dest, SocketAddr::new(ip, PORTMAP));
        assert_eq!((gp.program, gp.procedure), (PMAP_PROGRAM, PMAPPROC_GETPORT));
        assert_eq!(
            &gp.args[..8],
            &[program.to_be_bytes(), version.to_be_bytes()].concat()[..]
        );
        self.result(
            gp.id,
            CallResult::Success(Bytes::copy_from_slice(&u32::from(port).to_be_bytes())),
        );
        self.outbound().expect("the call after GETPORT")
    }
}

fn granted_msg_args(call: &OutboundCall) -> Nlm4TestArgs {
    assert_eq!(
        (call.program, call.version, call.procedure),
        (NLM_PROGRAM, 4, Nlm4Proc::GrantedMsg.to_u32())
    );
    Nlm4TestArgs::decode_exact(&call.args).expect("GRANTED_MSG args decode")
}

#[test]
fn blocking_lock_is_granted_by_callback_after_the_holder_unlocks() {
    let mut h = Harness::new();
    let a = alock("hostA", 1, b"f\x01", 0, 100);
    let b = alock("hostB", 2, b"f\x01", 50, 10);
    assert_eq!(h.lock(CLIENT_A, a.clone(), true, false), Nlm4Stats::Granted);
    assert_eq!(h.lock(CLIENT_B, b.clone(), true, false), Nlm4Stats::Denied);
    assert_eq!(h.lock(CLIENT_B, b.clone(), true, true), Nlm4Stats::Blocked);
    // A retransmitted LOCK while queued: BLOCKED again, still one block.
    assert_eq!(h.lock(CLIENT_B, b.clone(), true, true), Nlm4Stats::Blocked);
    assert_eq!(h.svc.blocked_count(), 1);
    assert!(h.outbound().is_none());

    assert_eq!(h.unlock(CLIENT_A, a), Nlm4Stats::Granted);
    assert!(h.locks.holds(b"hostB", FileId(1)));
    let call = h.answer_getport(CLIENT_B, NLM_PROGRAM, 4, CLIENT_NLM_PORT);
    assert_eq!(call.dest, SocketAddr::new(CLIENT_B, CLIENT_NLM_PORT));
    let args = granted_msg_args(&call);
    assert_eq!(args.alock, b, "XNFS: alock is the one of the original LOCK");
    assert!(args.exclusive);
    h.result(call.id, CallResult::Success(Bytes::new()));

    // The client answers with GRANTED_RES carrying our cookie.
    let res = Nlm4Res {
        cookie: args.cookie,
        stat: Nlm4Stats::Granted,
    };
    assert_eq!(
        h.nlm(CLIENT_B, Nlm4Call::GrantedRes(res)),
        CallOutcome::Reply(Bytes::new())
    );
    assert_eq!(h.svc.blocked_count(), 0);
    assert!(h.svc.poll_timeout().is_none(), "nothing left to retry");
    // A retransmitted LOCK of the granted lock answers GRANTED.
    assert_eq!(h.lock(CLIENT_B, b, true, true), Nlm4Stats::Granted);
    assert_eq!(h.svc.counters().granted_callbacks, 1);
}

#[test]
fn callback_is_retried_while_the_client_is_silent_then_withdrawn() {
    let mut h = Harness::new();
    let a = alock("hostA", 1, b"f\x01", 0, 0);
    let b = alock("hostB", 2, b"f\x01", 0, 0);
    assert_eq!(h.lock(CLIENT_A, a.clone(), true, false), Nlm4Stats::Granted);
    assert_eq!(h.lock(CLIENT_B, b.clone(), true, true), Nlm4Stats::Blocked);
    assert_eq!(h.unlock(CLIENT_A, a.clone()), Nlm4Stats::Granted);

    let call = h.answer_getport(CLIENT_B, NLM_PROGRAM, 4, CLIENT_NLM_PORT);
    granted_msg_args(&call);
    h.result(call.id, CallResult::Failed(CallFailure::TimedOut));
    let attempts = h.svc.config().granted_attempts;
    for attempt in 2..=attempts {
        let due = h.svc.poll_timeout().expect("a retry is armed");
        assert_eq!(
            due,
            h.now + Duration::from_secs(10),
            "Linux retries every 10 s"
        );
        h.advance(Duration::from_secs(10));
        // The failed call made us forget the port: ask the portmapper again.
        let call = h.answer_getport(CLIENT_B, NLM_PROGRAM, 4, CLIENT_NLM_PORT);
        granted_msg_args(&call);
        h.result(call.id, CallResult::Failed(CallFailure::TimedOut));
        assert_eq!(h.svc.counters().granted_callbacks, u64::from(attempt));
    }
    assert!(h.locks.holds(b"hostB", FileId(1)));
    h.advance(Duration::from_secs(10));
    assert!(!h.locks.holds(b"hostB", FileId(1)), "grant withdrawn");
    assert_eq!(h.svc.counters().grants_withdrawn, 1);
    assert_eq!(h.svc.blocked_count(), 0);
    assert!(h.outbound().is_none());
    assert_eq!(h.lock(CLIENT_A, a, true, false), Nlm4Stats::Granted);
}

#[test]
fn delivered_callback_waits_for_granted_res_then_resends() {
    let mut h = Harness::new();
    let a = alock("hostA", 1, b"f\x01", 0, 0);
    let b = alock("hostB", 2, b"f\x01", 0, 0);
    h.lock(CLIENT_A, a.clone(), true, false);
    h.lock(CLIENT_B, b, true, true);
    h.unlock(CLIENT_A, a);
    let call = h.answer_getport(CLIENT_B, NLM_PROGRAM, 4, CLIENT_NLM_PORT);
    h.result(call.id, CallResult::Success(Bytes::new()));
    assert_eq!(h.svc.poll_timeout(), Some(h.now + Duration::from_secs(60)));
    h.advance(Duration::from_secs(60));
    // The port is cached: the retry goes straight to the client's NLM.
    let again = h.outbound().expect("resent");
    assert_eq!(again.dest, SocketAddr::new(CLIENT_B, CLIENT_NLM_PORT));
    let args = granted_msg_args(&again);
    // GRANTED_RES with DENIED_GRACE_PERIOD: try again in 10 s (Linux `nlmsvc_grant_reply`).
    h.result(again.id, CallResult::Success(Bytes::new()));
    let res = Nlm4Res {
        cookie: args.cookie.clone(),
        stat: Nlm4Stats::DeniedGracePeriod,
    };
    h.nlm(CLIENT_B, Nlm4Call::GrantedRes(res));
    assert_eq!(h.svc.poll_timeout(), Some(h.now + Duration::from_secs(10)));
    h.advance(Duration::from_secs(10));
    let third = h.outbound().expect("resent after grace refusal");
    h.result(third.id, CallResult::Success(Bytes::new()));
    // GRANTED_RES with DENIED: the client does not want it; the lock is released.
    let res = Nlm4Res {
        cookie: args.cookie,
        stat: Nlm4Stats::Denied,
    };
    h.nlm(CLIENT_B, Nlm4Call::GrantedRes(res));
    assert!(!h.locks.holds(b"hostB", FileId(1)));
    assert_eq!(h.svc.blocked_count(), 0);
}

#[test]
fn cancel_racing_a_grant_releases_the_lock() {
    let mut h = Harness::new();
    let a = alock("hostA", 1, b"f\x02", 0, 10);
    let b = alock("hostB", 2, b"f\x02", 0, 10);
    h.lock(CLIENT_A, a.clone(), true, false);
    assert_eq!(h.lock(CLIENT_B, b.clone(), true, true), Nlm4Stats::Blocked);
    h.unlock(CLIENT_A, a.clone());
    let call = h.answer_getport(CLIENT_B, NLM_PROGRAM, 4, CLIENT_NLM_PORT);
    let args = granted_msg_args(&call);
    // The client gave up waiting before our callback arrived.
    let cancel = Nlm4Call::Cancel(Nlm4CancArgs {
        cookie: Netobj::from_static(b"c"),
        block: true,
        exclusive: true,
        alock: b.clone(),
    });
    assert_eq!(h.stat(CLIENT_B, cancel), Nlm4Stats::Granted);
    assert!(
        !h.locks.holds(b"hostB", FileId(2)),
        "cancel overrides the grant"
    );
    // The callback's late outcome and a late GRANTED_RES change nothing.
    h.result(call.id, CallResult::Success(Bytes::new()));
    let res = Nlm4Res {
        cookie: args.cookie,
        stat: Nlm4Stats::Granted,
    };
    h.nlm(CLIENT_B, Nlm4Call::GrantedRes(res));
    assert_eq!(h.svc.counters().unmatched_res, 1);
    assert!(h.svc.poll_timeout().is_none());
    assert_eq!(h.lock(CLIENT_A, a, true, false), Nlm4Stats::Granted);
}

#[test]
fn cancel_and_unlock_remove_a_queued_block() {
    let mut h = Harness::new();
    let a = alock("hostA", 1, b"f\x03", 0, 10);
    let b = alock("hostB", 2, b"f\x03", 0, 10);
    h.lock(CLIENT_A, a.clone(), true, false);
    h.lock(CLIENT_B, b.clone(), true, true);
    let cancel = Nlm4Call::Cancel(Nlm4CancArgs {
        cookie: Netobj::from_static(b"c"),
        block: true,
        exclusive: true,
        alock: b.clone(),
    });
    assert_eq!(h.stat(CLIENT_B, cancel.clone()), Nlm4Stats::Granted);
    assert_eq!(h.svc.blocked_count(), 0);
    assert!(h.locks.waiters.is_empty());
    // CANCEL with nothing pending still answers GRANTED (Linux).
    assert_eq!(h.stat(CLIENT_B, cancel), Nlm4Stats::Granted);
    // UNLOCK implies CANCEL.
    h.lock(CLIENT_B, b.clone(), true, true);
    assert_eq!(h.unlock(CLIENT_B, b), Nlm4Stats::Granted);
    assert_eq!(h.svc.blocked_count(), 0);
    h.unlock(CLIENT_A, a);
    assert!(h.outbound().is_none(), "no callback for a withdrawn block");
}

#[test]
fn free_all_releases_a_host_and_wakes_waiters() {
    let mut h = Harness::new();
    let a1 = alock("hostA", 1, b"f\x01", 0, 0);
    let a2 = alock("hostA", 1, b"f\x02", 0, 0);
    let b1 = alock("hostB", 2, b"f\x01", 0, 0);
    h.lock(CLIENT_A, a1, true, false);
    h.lock(CLIENT_A, a2, false, false);
    assert_eq!(h.lock(CLIENT_B, b1.clone(), true, true), Nlm4Stats::Blocked);
    assert!(h.svc.is_monitored(b"hostA"));
    let out = h.nlm(
        CLIENT_A,
        Nlm4Call::FreeAll(Nlm4Notify {
            name: LmName::from_static(b"hostA"),
            state: 9,
        }),
    );
    assert_eq!(out, CallOutcome::Reply(Bytes::new()));
    assert!(!h.locks.holds(b"hostA", FileId(1)));
    assert!(!h.locks.holds(b"hostA", FileId(2)));
    assert!(!h.svc.is_monitored(b"hostA"));
    assert!(h.records.contains(&NsmRecord::Unmonitored {
        name: Bytes::from_static(b"hostA")
    }));
    // hostB's waiter was woken and is being told.
    assert!(h.locks.holds(b"hostB", FileId(1)));
    let call = h.answer_getport(CLIENT_B, NLM_PROGRAM, 4, CLIENT_NLM_PORT);
    assert_eq!(granted_msg_args(&call).alock, b1);
}

#[test]
fn sm_notify_with_a_new_state_frees_the_rebooted_client() {
    let mut h = Harness::new();
    let a = alock("hostA", 1, b"f\x01", 0, 0);
    let b = alock("hostB", 2, b"f\x01", 0, 0);
    h.lock(CLIENT_A, a.clone(), true, false);
    assert_eq!(
        h.records,
        vec![NsmRecord::Monitored {
            name: Bytes::from_static(b"hostA"),
            addr: CLIENT_A,
            state: 3
        }]
    );
    h.lock(CLIENT_B, b, true, true);
    let notify = |state| {
        NsmCall::Notify(StatChge {
            mon_name: SmString::from_static(b"hostA"),
            state,
        })
    };
    // The same state again is not a reboot.
    assert_eq!(h.nsm(CLIENT_A, notify(3)), CallOutcome::Reply(Bytes::new()));
    assert!(h.locks.holds(b"hostA", FileId(1)));
    // A new state is.
    h.nsm(CLIENT_A, notify(5));
    assert!(!h.locks.holds(b"hostA", FileId(1)));
    assert!(h.locks.holds(b"hostB", FileId(1)), "waiter woken");
    assert!(h.outbound().is_some(), "hostB is being told");
    assert_eq!(h.svc.counters().hosts_freed, 1);
    // An older state is a delayed notification of an earlier reboot: nothing is freed.
    let a2 = alock("hostA", 1, b"f\x02", 0, 0);
    let mut args = lock_args(a2, true, false);
    args.state = 5;
    assert_eq!(h.stat(CLIENT_A, Nlm4Call::Lock(args)), Nlm4Stats::Granted);
    h.nsm(CLIENT_A, notify(3));
    assert!(h.locks.holds(b"hostA", FileId(2)));
    assert_eq!(h.svc.counters().hosts_freed, 1);
    // An unknown host's notification frees nothing and is still answered.
    assert_eq!(
        h.nsm(
            REMOTE,
            NsmCall::Notify(StatChge {
                mon_name: SmString::from_static(b"stranger"),
                state: 1
            })
        ),
        CallOutcome::Reply(Bytes::new())
    );
}

#[test]
fn grace_refuses_new_locks_accepts_reclaims_and_frees_a_rebooted_client() {
    let mut h = Harness::new();
    h.locks.grace = true;
    let a = alock("hostA", 1, b"f\x01", 0, 0);
    assert_eq!(
        h.lock(CLIENT_A, a.clone(), true, false),
        Nlm4Stats::DeniedGracePeriod
    );
    let mut reclaim = lock_args(a.clone(), true, false);
    reclaim.reclaim = true;
    assert_eq!(
        h.stat(CLIENT_A, Nlm4Call::Lock(reclaim.clone())),
        Nlm4Stats::Granted
    );
    // A client that reboots during our grace loses what it reclaimed (XNFS ch. 11: its
    // earlier state is gone); what it asks for afterwards is judged as usual.
    h.nsm(
        CLIENT_A,
        NsmCall::Notify(StatChge {
            mon_name: SmString::from_static(b"hostA"),
            state: 11,
        }),
    );
    assert!(!h.locks.holds(b"hostA", FileId(1)));
    assert_eq!(
        h.stat(CLIENT_A, Nlm4Call::Lock(reclaim.clone())),
        Nlm4Stats::Granted
    );
    h.locks.grace = false;
    assert_eq!(
        h.stat(CLIENT_A, Nlm4Call::Lock(reclaim)),
        Nlm4Stats::DeniedGracePeriod
    );
}

#[test]
fn restart_notifies_every_monitored_client_with_retries() {
    let now = test_clock();
    let records = vec![
        NsmRecord::Monitored {
            name: Bytes::from_static(b"hostA"),
            addr: CLIENT_A,
            state: 3,
        },
        NsmRecord::Monitored {
            name: Bytes::from_static(b"hostB"),
            addr: CLIENT_B,
            state: 1,
        },
        NsmRecord::Unmonitored {
            name: Bytes::from_static(b"hostB"),
        },
    ];
    let mut h = Harness::new();
    h.now = now;
    h.svc = NlmService::new(config(), now, 9, records);
    let call = h.answer_getport(CLIENT_A, NSM_PROGRAM, 1, 40024);
    assert!(h.outbound().is_none(), "hostB was unmonitored");
    assert_eq!(call.dest, SocketAddr::new(CLIENT_A, 40024));
    assert_eq!((call.program, call.procedure), (NSM_PROGRAM, 6));
    assert_eq!(
        StatChge::decode_exact(&call.args),
        Ok(StatChge {
            mon_name: SmString::from_static(b"janus-test"),
            state: 9
        })
    );
    h.result(call.id, CallResult::Failed(CallFailure::Unreachable));
    h.advance(Duration::from_secs(10));
    let again = h.answer_getport(CLIENT_A, NSM_PROGRAM, 1, 40024);
    h.result(again.id, CallResult::Success(Bytes::new()));
    assert!(h.svc.poll_timeout().is_none(), "notified: done");
    assert_eq!(h.svc.counters().notifies_sent, 2);
}

/// Everything the service sends after a restart with `records`: each GETPORT answered,
/// then each SM_NOTIFY, as (destination, program, procedure, arguments) in emission order.
fn restart_traffic(now: Instant, records: Vec<NsmRecord>) -> Vec<(SocketAddr, u32, u32, Bytes)> {
    let mut h = Harness::new();
    h.now = now;
    h.svc = NlmService::new(config(), now, 11, records);
    let mut sent = Vec::new();
    let mut getports = Vec::new();
    while let Some(call) = h.outbound() {
        sent.push((call.dest, call.program, call.procedure, call.args.clone()));
        getports.push(call.id);
    }
    for id in getports {
        h.result(
            id,
            CallResult::Success(Bytes::from_static(&[0, 0, 0x9c, 0x58])),
        );
        while let Some(call) = h.outbound() {
            sent.push((call.dest, call.program, call.procedure, call.args.clone()));
        }
    }
    sent
}

/// Issue 9 §5: the order of SM_NOTIFY (and of the GETPORTs before them) after a restart
/// depends only on the monitor list, not on a hash seed or on the order the journal holds
/// the hosts in. With std `HashMap` (seeded per map) this differed from one service to
/// the next.
#[test]
fn restart_notifications_are_sent_in_the_same_order_every_time() {
    let now = test_clock();
    let hosts: Vec<NsmRecord> = (0u8..24)
        .map(|i| NsmRecord::Monitored {
            name: Bytes::from(format!("host{:02}", (i * 7) % 24)),
            addr: IpAddr::V4(Ipv4Addr::new(127, 0, 1, i + 1)),
            state: 1,
        })
        .collect();
    let forward = restart_traffic(now, hosts.clone());
    let reversed = restart_traffic(now, hosts.iter().rev().cloned().collect());
    // Interleaved: odd positions first, then even ones.
    let interleaved = restart_traffic(
        now,
        hosts
            .iter()
            .skip(1)
            .step_by(2)
            .chain(hosts.iter().step_by(2))
            .cloned()
            .collect(),
    );
    assert_eq!(forward.len(), 48, "one GETPORT and one SM_NOTIFY per host");
    assert_eq!(forward, reversed);
    assert_eq!(forward, interleaved);
    assert_eq!(
        forward,
        restart_traffic(now, hosts.clone()),
        "same input, same run"
    );
    // The order is the hosts' names: host00 (127.0.1.1), host01 (127.0.1.8), ...
    let first: Vec<IpAddr> = forward[..3].iter().map(|c| c.0.ip()).collect();
    assert_eq!(
        first,
        [1, 8, 15].map(|d| IpAddr::V4(Ipv4Addr::new(127, 0, 1, d)))
    );
    let notifies: Vec<_> = forward[24..].iter().map(|c| c.0).collect();
    let getports: Vec<_> = forward[..24].iter().map(|c| c.0.ip()).collect();
    assert_eq!(
        notifies.iter().map(|d| d.ip()).collect::<Vec<_>>(),
        getports,
        "each SM_NOTIFY follows its host's GETPORT answer, in the same order"
    );
    assert!(forward[24..]
        .iter()
        .all(|c| (c.1, c.2) == (NSM_PROGRAM, 6) && c.0.port() == 40024));
}

#[test]
fn restart_notification_gives_up_after_the_configured_time() {
    let now = test_clock();
    let records = [NsmRecord::Monitored {
        name: Bytes::from_static(b"gone"),
        addr: REMOTE,
        state: 1,
    }];
    let mut h = Harness::new();
    h.now = now;
    let cfg = NlmConfig {
        notify_give_up: Duration::from_secs(25),
        ..config()
    };
    h.svc = NlmService::new(cfg, now, 3, records);
    let mut sent = 0;
    while let Some(gp) = h.outbound() {
        sent += 1;
        h.result(gp.id, CallResult::Failed(CallFailure::TimedOut));
        h.advance(Duration::from_secs(10));
    }
    assert_eq!(sent, 3, "at 0, 10 and 20 s; given up at 30 s");
    assert!(h.svc.poll_timeout().is_none());
}

#[test]
fn msg_calls_are_answered_by_res_calls() {
    let mut h = Harness::new();
    let a = alock("hostA", 1, b"f\x01", 0, 0);
    let out = h.nlm(
        CLIENT_A,
        Nlm4Call::LockMsg(lock_args(a.clone(), true, false)),
    );
    assert_eq!(out, CallOutcome::Reply(Bytes::new()), "void RPC reply");
    let res = h.answer_getport(CLIENT_A, NLM_PROGRAM, 4, CLIENT_NLM_PORT);
    assert_eq!(res.procedure, Nlm4Proc::LockRes.to_u32());
    assert_eq!(
        Nlm4Res::decode_exact(&res.args),
        Ok(Nlm4Res {
            cookie: Netobj::from_static(b"ck"),
            stat: Nlm4Stats::Granted
        })
    );
    h.result(res.id, CallResult::Success(Bytes::new()));
    // TEST_MSG from another host: TEST_RES with the holder; port cache is per host.
    let b = alock("hostB", 2, b"f\x01", 5, 1);
    h.nlm(
        CLIENT_B,
        Nlm4Call::TestMsg(Nlm4TestArgs {
            cookie: Netobj::from_static(b"t"),
            exclusive: false,
            alock: b,
        }),
    );
    let res = h.answer_getport(CLIENT_B, NLM_PROGRAM, 4, CLIENT_NLM_PORT);
    assert_eq!(res.procedure, Nlm4Proc::TestRes.to_u32());
    let r = Nlm4TestRes::decode_exact(&res.args).expect("decodes");
    match r.stat {
        Nlm4TestRply::Denied(holder) => {
            assert_eq!((holder.svid, holder.exclusive, holder.l_len), (1, true, 0));
        }
        other => panic!("expected DENIED with holder, got {other:?}"),
    }
    // UNLOCK_MSG from hostA: the port is cached now, straight to the client.
    h.nlm(
        CLIENT_A,
        Nlm4Call::UnlockMsg(Nlm4UnlockArgs {
            cookie: Netobj::from_static(b"u"),
            alock: a,
        }),
    );
    let res = h.outbound().expect("UNLOCK_RES");
    assert_eq!(res.dest, SocketAddr::new(CLIENT_A, CLIENT_NLM_PORT));
    assert_eq!(res.procedure, Nlm4Proc::UnlockRes.to_u32());
}

#[test]
fn rpc_level_errors_and_handle_checks() {
    let mut h = Harness::new();
    assert_eq!(
        h.raw(CLIENT_A, NLM_PROGRAM, 3, 0, Bytes::new()),
        CallOutcome::Error(AcceptError::ProgMismatch { low: 4, high: 4 })
    );
    assert_eq!(
        h.raw(CLIENT_A, NLM_PROGRAM, 4, 17, Bytes::new()),
        CallOutcome::Error(AcceptError::ProcUnavail)
    );
    assert_eq!(
        h.raw(CLIENT_A, NLM_PROGRAM, 4, 2, Bytes::from_static(&[0, 0, 0])),
        CallOutcome::Error(AcceptError::GarbageArgs)
    );
    assert_eq!(
        h.raw(CLIENT_A, 100_003, 3, 0, Bytes::new()),
        CallOutcome::Error(AcceptError::ProgUnavail)
    );
    assert_eq!(
        h.lock(CLIENT_A, alock("hostA", 1, b"nope", 0, 0), true, false),
        Nlm4Stats::StaleFh
    );
    assert_eq!(
        h.lock(CLIENT_A, alock("hostA", 1, b"ro", 0, 0), true, false),
        Nlm4Stats::Rofs
    );
    assert_eq!(
        h.lock(CLIENT_A, alock("hostA", 1, b"ro", 0, 0), false, false),
        Nlm4Stats::Granted
    );
    assert_eq!(
        h.lock(
            CLIENT_A,
            alock("hostA", 1, b"f\x01", 1 << 63, 1),
            true,
            false
        ),
        Nlm4Stats::Fbig
    );
    assert_eq!(
        h.nlm(CLIENT_A, Nlm4Call::Null),
        CallOutcome::Reply(Bytes::new())
    );
    // We hold no client-side locks: a GRANTED to us matches nothing.
    let g = Nlm4Call::Granted(Nlm4TestArgs {
        cookie: Netobj::from_static(b"g"),
        exclusive: true,
        alock: alock("hostA", 1, b"f\x01", 0, 0),
    });
    assert_eq!(h.stat(CLIENT_A, g), Nlm4Stats::Denied);
}

#[test]
fn nm_lock_is_not_monitored_and_does_not_block() {
    let mut h = Harness::new();
    let a = alock("hostA", 1, b"f\x01", 0, 0);
    let b = alock("pcnfs", 2, b"f\x01", 0, 0);
    h.lock(CLIENT_A, a, true, false);
    h.records.clear();
    let nm = Nlm4Call::NmLock(lock_args(b, true, true));
    assert_eq!(
        h.stat(CLIENT_B, nm),
        Nlm4Stats::Denied,
        "NM_LOCK never blocks"
    );
    assert!(h.records.is_empty());
    assert!(!h.svc.is_monitored(b"pcnfs"));
    assert_eq!(h.svc.blocked_count(), 0);
}

#[test]
fn held_requests_answer_when_the_break_resolves_or_the_hold_expires() {
    let mut h = Harness::new();
    let l = alock("hostA", 1, b"lease", 0, 0);
    assert_eq!(
        h.nlm(CLIENT_A, Nlm4Call::Lock(lock_args(l.clone(), true, false))),
        CallOutcome::NoReplyYet
    );
    let (t, _) = *h.locks.waiters.front().expect("held in the table");
    h.locks.finish_held(t);
    h.pump();
    let r = h.svc.poll_reply().expect("deferred reply");
    assert_eq!(r.xid, h.xid);
    assert_eq!(
        Nlm4Res::decode_exact(&r.body).map(|r| r.stat),
        Ok(Nlm4Stats::Granted)
    );

    // A blocking request whose hold expires answers BLOCKED and is granted by callback.
    let l2 = alock("hostB", 2, b"lease", 0, 0);
    assert_eq!(
        h.nlm(CLIENT_B, Nlm4Call::Lock(lock_args(l2.clone(), true, true))),
        CallOutcome::NoReplyYet
    );
    let (t2, _) = *h.locks.waiters.front().expect("held");
    let ev = BackendEvent::HoldExpired {
        ticket: t2,
        still_waiting: true,
    };
    assert!(h.svc.handle_backend_event(h.now, &mut h.locks, &ev));
    let r = h.svc.poll_reply().expect("BLOCKED reply");
    assert_eq!(
        Nlm4Res::decode_exact(&r.body).map(|r| r.stat),
        Ok(Nlm4Stats::Blocked)
    );
    h.locks.finish_held(t2);
    h.pump();
    let call = h.answer_getport(CLIENT_B, NLM_PROGRAM, 4, CLIENT_NLM_PORT);
    assert_eq!(granted_msg_args(&call).alock, l2);

    // A non-blocking request whose hold expires gets no reply (O4: the client retransmits).
    let l3 = alock("hostC", 3, b"lease", 0, 0);
    h.nlm(CLIENT_A, Nlm4Call::Lock(lock_args(l3, true, false)));
    let (t3, _) = *h.locks.waiters.back().expect("held");
    let ev = BackendEvent::HoldExpired {
        ticket: t3,
        still_waiting: false,
    };
    assert!(h.svc.handle_backend_event(h.now, &mut h.locks, &ev));
    assert!(h.svc.poll_reply().is_none());
    // Tickets that are not ours are left to others.
    assert!(!h.svc.handle_backend_event(
        h.now,
        &mut h.locks,
        &BackendEvent::Granted(WaitTicket(4242))
    ));
}

#[test]
fn share_and_unshare() {
    let mut h = Harness::new();
    let share = |caller: &'static str, mode, access| {
        Nlm4Call::Share(Nlm4ShareArgs {
            cookie: Netobj::from_static(b"s"),
            share: Nlm4Share {
                caller_name: LmString::from_static(caller.as_bytes()),
                fh: Netobj::from_static(b"f\x04"),
                oh: Netobj::from_static(b"o"),
                mode,
                access,
            },
            reclaim: false,
        })
    };
    assert_eq!(
        h.stat(CLIENT_A, share("pc1", FshMode::DenyWrite, FshAccess::Read)),
        Nlm4Stats::Granted
    );
    assert_eq!(
        h.stat(CLIENT_B, share("pc2", FshMode::DenyNone, FshAccess::Write)),
        Nlm4Stats::Denied
    );
    let unshare = Nlm4Call::Unshare(Nlm4ShareArgs {
        cookie: Netobj::from_static(b"s"),
        share: Nlm4Share {
            caller_name: LmString::from_static(b"pc1"),
            fh: Netobj::from_static(b"f\x04"),
            oh: Netobj::from_static(b"o"),
            mode: FshMode::DenyWrite,
            access: FshAccess::Read,
        },
        reclaim: false,
    });
    assert_eq!(h.stat(CLIENT_A, unshare), Nlm4Stats::Granted);
    assert_eq!(
        h.stat(CLIENT_B, share("pc2", FshMode::DenyNone, FshAccess::Write)),
        Nlm4Stats::Granted
    );
}

#[test]
fn sm_mon_registrations_are_local_durable_and_called_back() {
    let mut h = Harness::new();
    let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mon = Mon {
        mon_id: MonId {
            mon_name: SmString::from_static(b"peer1"),
            my_id: MyId {
                my_name: SmString::from_static(b"localhost"),
                my_prog: 200_001,
                my_vers: 1,
                my_proc: 7,
            },
        },
        priv_: [5; 16],
    };
    let succ = |state| {
        CallOutcome::Reply(
            NsmReply::StatRes(SmStatRes {
                res_stat: SmRes::Succ,
                state,
            })
            .to_bytes(),
        )
    };
    assert_eq!(h.nsm(local, NsmCall::Mon(mon.clone())), succ(7));
    assert!(h.records.contains(&NsmRecord::Registered {
        mon: mon.clone(),
        addr: local
    }));
    assert_eq!(
        h.nsm(REMOTE, NsmCall::Mon(mon.clone())),
        CallOutcome::Reply(
            NsmReply::StatRes(SmStatRes {
                res_stat: SmRes::Fail,
                state: 7
            })
            .to_bytes()
        ),
        "remote SM_MON refused, as rpc.statd does"
    );
    assert_eq!(
        h.nsm(
            REMOTE,
            NsmCall::Stat(SmName {
                mon_name: SmString::from_static(b"x")
            })
        ),
        succ(7)
    );
    h.nsm(
        REMOTE,
        NsmCall::Notify(StatChge {
            mon_name: SmString::from_static(b"peer1"),
            state: 13,
        }),
    );
    let cb = h.answer_getport(local, 200_001, 1, 41000);
    assert_eq!((cb.program, cb.version, cb.procedure), (200_001, 1, 7));
    assert_eq!(
        SmStatus::decode_exact(&cb.args),
        Ok(SmStatus {
            mon_name: SmString::from_static(b"peer1"),
            state: 13,
            priv_: [5; 16]
        })
    );
    // SM_UNMON_ALL for that callback removes it.
    h.nsm(local, NsmCall::UnmonAll(mon.mon_id.my_id.clone()));
    assert!(h.records.contains(&NsmRecord::Unregistered {
        mon_id: mon.mon_id.clone()
    }));
    h.nsm(
        REMOTE,
        NsmCall::Notify(StatChge {
            mon_name: SmString::from_static(b"peer1"),
            state: 15,
        }),
    );
    assert!(h.outbound().is_none());
}

#[test]
fn simu_crash_advances_the_state_and_notifies() {
    let mut h = Harness::new();
    h.lock(CLIENT_A, alock("hostA", 1, b"f\x01", 0, 0), true, false);
    h.nsm(IpAddr::V4(Ipv4Addr::LOCALHOST), NsmCall::SimuCrash);
    assert_eq!(h.svc.nsm_state(), 9);
    assert!(h.records.contains(&NsmRecord::OwnState(9)));
    let n = h.answer_getport(CLIENT_A, NSM_PROGRAM, 1, 40024);
    assert_eq!(StatChge::decode_exact(&n.args).map(|c| c.state), Ok(9));
    // Not from a remote host.
    h.nsm(REMOTE, NsmCall::SimuCrash);
    assert_eq!(h.svc.nsm_state(), 9);
}
