//! The second runtime: drives `server::Core` (the same sans-IO core `runtime-mio` drives)
//! with a virtual clock, an in-memory network, a journal whose durable prefix it chooses,
//! file-system jobs run in a random order over `vfs::memory::MemoryFs`, and the simulated
//! client hosts of [`crate::client`]. Every input to the core is followed by draining every
//! `poll_*` output until `None`, as the API requires, and by the invariant checks.
//!
//! Faults, all drawn from the run's seed: datagrams lost, duplicated, delayed (and so
//! reordered); TCP connections cut (bytes in flight lost, both ends told); the server
//! crashing at any event with the journal cut at any record boundary at or after the last
//! one reported durable, file-system jobs in progress either done or not, then restarting
//! (`Core::new` with the surviving records, `was_clean = false`) into grace; client hosts
//! rebooting (they forget everything and send SM_NOTIFY when back). SMB clients
//! ([`crate::smb`]) share the TCP model: their connections are cut like the NFS ones, and a
//! server crash ends them.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use proto_nfs::rpc::record::{record_bytes, take_record};
use server::{
    CallbackCommand, CallbackEvent, CallbackId, ConnId, Core, CoreConfig, Job, Listener,
    NlmSettings, RecordSeq, ShareBackend, ShareConfig, Transport,
};
use vfs::memory::{MemoryFs, MemoryFsConfig, SeedEntry, VirtualClock};
use vfs::Timestamp;

use crate::check::Checker;
use crate::client::{
    Chan, Host, HostConfig, CLIENT_NFS_SRC_PORT, CLIENT_NLM_PORT, CLIENT_NLM_SRC_PORT,
    CLIENT_NSM_PORT, CLIENT_NSM_SRC_PORT, CLIENT_PMAP_PORT,
};
use crate::model::Durable;
use crate::rng::Rng;
use crate::smb::SmbClient;
use crate::trace;
use crate::trace::Micros;

/// The server's address.
pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// The server's NFS port (NFS, MOUNT, NLM, NSM).
pub const NFS_PORT: u16 = 2049;
/// The server's portmapper port.
pub const PORTMAP_PORT: u16 = 111;
/// Unix time of the start of every run (file times are deterministic too).
const EPOCH_UNIX: u64 = 1_700_000_000;
/// Grace period of the simulated server.
pub const GRACE: Micros = 25_000_000;
/// Source port of the client's portmap queries.
const CLIENT_PMAP_SRC_PORT: u16 = 802;

/// How hostile a run's environment is.
#[derive(Debug, Clone, Copy)]
pub struct Faults {
    /// Datagrams lost, per mille.
    pub drop: u32,
    /// Datagrams duplicated, per mille.
    pub dup: u32,
    /// Messages delayed by up to [`Faults::long_delay`], per mille (they overtake others).
    pub delay: u32,
    /// Longest long delay.
    pub long_delay: Micros,
    /// TCP connections cut per send, per mille.
    pub cut: u32,
    /// Server crashes in the run.
    pub crashes: u32,
    /// Client reboots in the run.
    pub reboots: u32,
    /// The journal's disk fails once (writes and syncs fail until the next restart).
    pub journal_fails: bool,
}

/// Deliberate runtime bugs, to show that the checker catches them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Knobs {
    /// Report every journal record durable as soon as it is appended (before its fsync).
    pub lie_about_durability: bool,
}

/// The shape of one run, all drawn from the seed.
#[derive(Debug, Clone)]
pub struct Params {
    /// The seed.
    pub seed: u64,
    /// Client hosts.
    pub hosts: usize,
    /// Locking processes per host.
    pub procs: usize,
    /// Shared lock files.
    pub files: usize,
    /// Largest lock offset.
    pub span: u64,
    /// SMB clients.
    pub smb_clients: usize,
    /// Virtual run time.
    pub duration: Micros,
    /// Faults.
    pub faults: Faults,
    /// Deliberate runtime bugs (none in a normal run).
    pub knobs: Knobs,
}

impl Params {
    /// The parameters of `seed`: a mix of calm runs (no network faults: the liveness rules
    /// are sharpest there), lossy ones, and hostile ones.
    pub fn from_seed(seed: u64) -> Params {
        let mut r = Rng::new(seed ^ 0x5eed_5eed_5eed_5eed);
        let kind = r.below(3);
        let faults = match kind {
            0 => Faults {
                drop: 0,
                dup: 0,
                delay: 0,
                long_delay: 0,
                cut: 0,
                crashes: r.below(3) as u32,
                reboots: r.below(2) as u32,
                journal_fails: false,
            },
            1 => Faults {
                drop: r.range(5, 60) as u32,
                dup: r.range(0, 50) as u32,
                delay: r.range(0, 30) as u32,
                long_delay: 3_000_000,
                cut: r.range(0, 10) as u32,
                crashes: r.below(3) as u32,
                reboots: r.below(3) as u32,
                journal_fails: r.chance(150),
            },
            _ => Faults {
                drop: r.range(50, 200) as u32,
                dup: r.range(20, 150) as u32,
                delay: r.range(20, 150) as u32,
                long_delay: 10_000_000,
                cut: r.range(5, 40) as u32,
                crashes: r.range(1, 4) as u32,
                reboots: r.range(0, 3) as u32,
                journal_fails: r.chance(150),
            },
        };
        Params {
            seed,
            hosts: r.range(2, 4) as usize,
            procs: r.range(1, 3) as usize,
            files: r.range(1, 3) as usize,
            span: r.range(8, 64),
            duration: r.range(120, 300) * 1_000_000,
            faults,
            knobs: Knobs::default(),
            smb_clients: r.range(1, 3) as usize,
        }
    }
}

#[derive(Debug)]
enum Ev {
    SrvConnOpen(usize),
    SrvBytes(usize, Bytes),
    CliBytes(usize, Bytes),
    CliConnReset(usize),
    SrvDgram {
        host: usize,
        src_port: u16,
        listener: Listener,
        data: Bytes,
    },
    CliDgram {
        host: usize,
        port: u16,
        data: Bytes,
    },
    CbConnect(u64, bool),
    CbToClient(u64, Bytes),
    CbToServer(u64, Bytes),
    Job(usize),
    Fsync(usize),
    Crash,
    JournalFail,
    Restart,
    Reboot(usize),
    Boot(usize),
}

impl Ev {
    /// Whether the event belongs to one boot of the server (dropped if the server restarted
    /// since it was scheduled): its inputs, and bytes on its callback channels, whose ids
    /// start again at every boot (the channels died with the process).
    fn of_one_boot(&self) -> bool {
        matches!(
            self,
            Ev::SrvConnOpen(_)
                | Ev::SrvBytes(..)
                | Ev::SrvDgram { .. }
                | Ev::CbConnect(..)
                | Ev::CbToServer(..)
                | Ev::CbToClient(..)
                | Ev::Job(_)
                | Ev::Fsync(_)
        )
    }
}

#[derive(Debug)]
struct Conn {
    host: usize,
    chan: Chan,
    open: bool,
    epoch: u32,
    host_boot: u32,
    cli_buf: BytesMut,
    last_to_srv: Micros,
    last_to_cli: Micros,
}

#[derive(Debug)]
struct Cb {
    host: usize,
    port: u16,
    tcp: bool,
    cli_buf: BytesMut,
    last_to_cli: Micros,
    last_to_srv: Micros,
}

/// The outcome of one run.
#[derive(Debug)]
pub struct Outcome {
    /// The seed.
    pub seed: u64,
    /// The trace (bounded).
    pub trace: String,
    /// Hash of the full trace.
    pub trace_hash: u64,
    /// Violations.
    pub violations: Vec<String>,
    /// One-line summary.
    pub summary: String,
    /// Counters.
    pub stats: crate::check::Stats,
}

/// The simulated world. See the module documentation.
pub struct World {
    p: Params,
    rng: Rng,
    now: Micros,
    base: Instant,
    queue: BinaryHeap<Reverse<(Micros, u64)>>,
    events: BTreeMap<u64, (u32, Ev)>,
    seq: u64,
    core: Option<Core>,
    epoch: u32,
    boot_count: u64,
    fs: Arc<MemoryFs>,
    clock: VirtualClock,
    hosts: Vec<Host>,
    smbs: Vec<SmbClient>,
    conns: Vec<Conn>,
    host_conn: BTreeMap<(usize, Chan), usize>,
    cbs: BTreeMap<u64, Cb>,
    jobs: Vec<Option<Job>>,
    /// Every record on disk or in the page cache: earlier runs' survivors, then this run's.
    journal: Vec<Vec<u8>>,
    /// Index in `journal` of this run's `RecordSeq(1)`.
    run_base: usize,
    /// Records reported durable (a prefix of `journal`).
    durable_len: usize,
    fsync_in_flight: bool,
    journal_failed: bool,
    last_unreclaimed: usize,
    ck: Checker,
}

impl World {
    /// A world for `p`, the server started on an empty journal.
    pub fn new(p: Params, trace_bytes: usize) -> World {
        let mut rng = Rng::new(p.seed);
        let clock = VirtualClock::new(Timestamp {
            secs: EPOCH_UNIX as i64,
            nsecs: 0,
        });
        let mut entries = Vec::new();
        for f in 0..p.files {
            entries.push(SeedEntry::File {
                path: format!("f{f}"),
                data: Vec::new(),
                mode: 0o666,
            });
        }
        let c2 = clock.clone();
        let fs = Arc::new(
            MemoryFs::with_tree(
                MemoryFsConfig::default(),
                Arc::new(move || c2.now()),
                &entries,
            )
            .expect("seed tree"),
        );
        let hosts = (1..=p.hosts)
            .map(|i| {
                let cfg = HostConfig {
                    nlm_tcp: rng.chance(400),
                    procs: p.procs,
                    files: p.files,
                    span: p.span,
                };
                Host::new(i, cfg, rng.fork())
            })
            .collect();
        let mut w = World {
            p,
            rng,
            now: 0,
            base: Instant::now(),
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            seq: 0,
            core: None,
            epoch: 0,
            boot_count: 0,
            fs,
            clock,
            hosts,
            smbs: Vec::new(),
            conns: Vec::new(),
            host_conn: BTreeMap::new(),
            cbs: BTreeMap::new(),
            jobs: Vec::new(),
            journal: Vec::new(),
            run_base: 0,
            durable_len: 0,
            fsync_in_flight: false,
            journal_failed: false,
            last_unreclaimed: 0,
            ck: Checker::new(trace_bytes),
        };
        trace!(w.ck.trace, 0, "seed {} params {:?}", w.p.seed, w.p);
        for h in &w.hosts {
            trace!(
                w.ck.trace,
                0,
                "c{} nlm over {}",
                h.idx,
                if h.nlm_tcp() { "tcp" } else { "udp" }
            );
        }
        w.start_server(true);
        let f = w.p.faults;
        for _ in 0..f.crashes {
            let t = w.rng.range(
                5_000_000,
                w.p.duration.saturating_sub(10_000_000).max(6_000_000),
            );
            w.schedule_at(t, Ev::Crash);
        }
        if f.journal_fails {
            let t = w.rng.range(5_000_000, w.p.duration.max(6_000_000));
            w.schedule_at(t, Ev::JournalFail);
        }
        for _ in 0..f.reboots {
            let t = w.rng.range(
                5_000_000,
                w.p.duration.saturating_sub(10_000_000).max(6_000_000),
            );
            let h = w.rng.range(1, w.p.hosts as u64) as usize;
            w.schedule_at(t, Ev::Reboot(h));
        }
        for i in 1..=w.p.smb_clients {
            let start = w.rng.range(100_000, 2_000_000);
            let rng = w.rng.fork();
            w.smbs.push(SmbClient::new(i, w.p.files, rng, start));
        }
        w
    }

    fn instant(&self, t: Micros) -> Instant {
        self.base + Duration::from_micros(t)
    }

    /// Virtual time of `i`, rounded up (a deadline is due at the first microsecond that
    /// is not before it).
    fn micros(&self, i: Instant) -> Micros {
        i.saturating_duration_since(self.base)
            .as_nanos()
            .div_ceil(1000) as Micros
    }

    fn config(&self) -> CoreConfig {
        CoreConfig {
            shares: vec![ShareConfig {
                share_id: 1,
                name: "export".into(),
                read_only: false,
                clients: Vec::new(),
                root_squash: false,
                all_squash: false,
                anon_uid: 65534,
                anon_gid: 65534,
                smb: Default::default(),
            }],
            bind_addr: IpAddr::V4(SERVER_IP),
            nfs_port: NFS_PORT,
            portmap_port: PORTMAP_PORT,
            nlm: NlmSettings {
                grace_period: Duration::from_micros(GRACE),
                callback_portmap_port: CLIENT_PMAP_PORT,
                server_name: "janus".into(),
                ..NlmSettings::default()
            },
            boot_count: self.boot_count,
            // A new verifier every boot, as runtime-mio derives it from the boot counter.
            write_verifier: {
                let mut v = *b"SIM\0\0\0\0\0";
                v[4..].copy_from_slice(&(self.boot_count as u32).to_be_bytes());
                v
            },
            callback_xid: 0x5000_0000 + (self.boot_count as u32) * 0x0100_0000,
            users: {
                let mut u = server::users::Users::new();
                u.insert(server::users::User {
                    name: crate::smb::USER.into(),
                    uid: Some(1000),
                    gid: Some(1000),
                    nt_hash: proto_smb2::auth::ntlm::nt_hash(crate::smb::PASSWORD),
                    groups: vec![],
                })
                .expect("one user");
                u
            },
            smb_seed: {
                let mut s = [0x5b; 32];
                s[..8].copy_from_slice(&self.boot_count.to_le_bytes());
                s
            },
            ..CoreConfig::default()
        }
    }

    fn start_server(&mut self, first: bool) {
        self.boot_count += 1;
        self.epoch += 1;
        let records = self.journal.clone();
        self.run_base = self.journal.len();
        let now = self.instant(self.now);
        let shares = vec![ShareBackend {
            share_id: 1,
            vfs: self.fs.clone(),
        }];
        match Core::new(self.config(), shares, records, first, now) {
            Ok(mut core) => {
                core.handle_wall_clock(EPOCH_UNIX + self.now / 1_000_000);
                trace!(
                    self.ck.trace,
                    self.now,
                    "core restored {} locks, {} to reclaim, grace {}",
                    core.nlm().table().lock_count(),
                    core.nlm().table().grace_unreclaimed(),
                    core.in_grace()
                );
                self.core = Some(core);
                self.ck.server_up = true;
                trace!(
                    self.ck.trace,
                    self.now,
                    "server boot {} with {} journal records{}",
                    self.boot_count,
                    self.journal.len(),
                    if first { "" } else { ", grace" }
                );
                if !first {
                    self.ck.faults_since_start = false;
                    self.ck.beliefs.server_restarted();
                    for h in &mut self.hosts {
                        h.server_restarted();
                        // A reclaim still being retransmitted is on its way to the new
                        // server: its answer decides, not the end of grace.
                        for (owner, file, range) in h.reclaims_in_flight() {
                            self.ck.beliefs.reclaim_sent(owner, file, range);
                        }
                    }
                    self.check_restored();
                }
                self.drain();
            }
            Err(e) => {
                self.ck.violation(format!("server cannot restart: {e}"));
                self.core = None;
            }
        }
    }

    /// Rule 2 at restart: every lock a client believes it holds is in the restored state.
    fn check_restored(&mut self) {
        if !self.ck.check_durable {
            return;
        }
        let beliefs: Vec<_> = self.ck.beliefs.all().to_vec();
        for h in beliefs {
            if h.owner.host >= crate::smb::SMB_OWNER_BASE {
                // A durable SMB handle's lock: its reconnect decides (rule 11).
                continue;
            }
            let w = self.hosts[h.owner.host - 1].wire_owner(h.owner, h.file);
            if !self.ck.durable.covers(&w, h.range, h.excl) {
                self.ck.violation(format!(
                    "after the crash, {} f{} {} {} is neither held nor reclaimable (not in the surviving journal)",
                    h.owner,
                    h.file,
                    h.range,
                    crate::check::mode(h.excl)
                ));
            }
        }
    }

    fn schedule_at(&mut self, at: Micros, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq)));
        self.events.insert(self.seq, (self.epoch, ev));
    }

    fn latency(&mut self) -> Micros {
        let f = self.p.faults;
        let mut d = self.rng.range(50, 2_000);
        if f.delay > 0 && self.rng.chance(f.delay) {
            d += self.rng.range(100_000, f.long_delay.max(100_001));
        }
        d
    }

    /// A datagram into the network: maybe lost, maybe duplicated, delayed.
    fn send_dgram(&mut self, mk: impl Fn() -> Ev, what: &str) {
        let f = self.p.faults;
        if f.drop > 0 && self.rng.chance(f.drop) {
            self.ck.stats.dropped += 1;
            self.ck.fault();
            trace!(self.ck.trace, self.now, "net: lost {what}");
            return;
        }
        let copies = if f.dup > 0 && self.rng.chance(f.dup) {
            self.ck.stats.duplicated += 1;
            trace!(self.ck.trace, self.now, "net: duplicated {what}");
            2
        } else {
            1
        };
        for _ in 0..copies {
            let t = self.now + self.latency();
            self.schedule_at(t, mk());
        }
    }

    fn core(&mut self) -> Option<&mut Core> {
        self.core.as_mut()
    }

    /// Runs the world to the end of the run.
    pub fn run(mut self) -> Outcome {
        let end = self.p.duration;
        let mut steps: u64 = 0;
        loop {
            let next_ev = self.queue.peek().map(|Reverse((t, _))| *t);
            let core_t = self
                .core
                .as_ref()
                .and_then(|c| c.poll_timeout())
                .map(|i| self.micros(i));
            let host_t = self
                .hosts
                .iter()
                .filter_map(|h| h.next_timer())
                .chain(self.smbs.iter().filter_map(|c| c.next_timer()))
                .min();
            let Some(t) = [next_ev, core_t, host_t].into_iter().flatten().min() else {
                break;
            };
            if t > end {
                break;
            }
            steps += 1;
            if steps > 3_000_000 {
                self.ck
                    .violation("the run does not make progress (3,000,000 steps)".into());
                break;
            }
            self.now = self.now.max(t);
            self.ck.now = self.now;
            self.clock.set(Timestamp {
                secs: (EPOCH_UNIX + self.now / 1_000_000) as i64,
                nsecs: ((self.now % 1_000_000) * 1000) as u32,
            });
            if next_ev == Some(t) {
                let Reverse((_, seq)) = self.queue.pop().expect("peeked");
                let (epoch, ev) = self.events.remove(&seq).expect("scheduled");
                if ev.of_one_boot() && epoch != self.epoch {
                    continue;
                }
                self.handle_event(ev);
            } else if core_t == Some(t) {
                let now = self.instant(self.now);
                if let Some(c) = self.core() {
                    c.handle_timeout(now);
                }
                // A deadline the core does not move is a livelock.
                let again = self.core.as_ref().and_then(|c| c.poll_timeout());
                if again.is_some_and(|i| self.micros(i) <= t) {
                    self.ck
                        .violation("the core's deadline does not move after handle_timeout".into());
                    break;
                }
            } else {
                for i in 0..self.hosts.len() {
                    if self.hosts[i].next_timer().is_some_and(|ht| ht <= t) {
                        self.hosts[i].on_timer(self.now, &mut self.ck);
                        self.flush_host(i + 1);
                    }
                }
                for i in 0..self.smbs.len() {
                    if self.smbs[i].next_timer().is_some_and(|ht| ht <= t) {
                        self.smbs[i].on_timer(self.now, &mut self.ck);
                        self.flush_smb(i + 1);
                    }
                }
            }
            self.drain();
            let hosts = &self.hosts;
            let grace = self.core.as_ref().is_some_and(|c| c.in_grace());
            let unrec = self
                .core
                .as_ref()
                .map_or(0, |c| c.nlm().table().grace_unreclaimed());
            if unrec != self.last_unreclaimed {
                trace!(
                    self.ck.trace,
                    self.now,
                    "core: {unrec} locks left to reclaim"
                );
                self.last_unreclaimed = unrec;
            }
            if grace != self.ck.grace && self.ck.server_up {
                trace!(
                    self.ck.trace,
                    self.now,
                    "core: grace {}",
                    if grace { "runs" } else { "ended" }
                );
            }
            self.ck.step(grace, &|h| hosts[h - 1].notified);
        }
        let s = self.ck.stats;
        let summary = format!(
            "seed {}: {} hosts x {} procs, {} SMB clients, {} files, {} s, {} steps; grants {} (callbacks {}), reclaims {}, lost {}, grace denials {}, reads checked {}, SMB writes {} reads checked {} shared opens {} sharing violations {} lock conflicts {} locks {} refused {} leases {} oplocks {} breaks {} durable {} reconnected {}, crashes {}, reboots {}, dropped {}, dup {}, cuts {}, journal {} records ({} undecoded); {} violations",
            self.p.seed,
            self.p.hosts,
            self.p.procs,
            self.p.smb_clients,
            self.p.files,
            self.p.duration / 1_000_000,
            steps,
            s.grants,
            s.callback_grants,
            s.reclaims,
            s.lost,
            s.grace_denials,
            s.reads_checked,
            s.smb_writes,
            s.smb_reads_checked,
            s.smb_shared_opens,
            s.smb_sharing_violations,
            s.smb_lock_conflicts,
            s.smb_locks,
            s.smb_locks_refused,
            s.smb_leases,
            s.smb_oplocks,
            s.smb_breaks,
            s.smb_durable,
            s.smb_reconnects,
            s.crashes,
            s.reboots,
            s.dropped,
            s.duplicated,
            s.cuts,
            self.journal.len(),
            self.ck.durable.undecoded,
            self.ck.violations.len()
        );
        trace!(self.ck.trace, self.now, "{summary}");
        Outcome {
            seed: self.p.seed,
            trace: self.ck.trace.text(),
            trace_hash: self.ck.trace.hash(),
            violations: self.ck.violations,
            summary,
            stats: s,
        }
    }

    fn handle_event(&mut self, ev: Ev) {
        let now_i = self.instant(self.now);
        match ev {
            Ev::SrvConnOpen(c) => {
                let port = CLIENT_NFS_SRC_PORT.wrapping_add(c as u16);
                let (listener, peer) = if self.conns[c].chan == Chan::Smb {
                    let ip = smb_ip(self.conns[c].host - SMB_HOST_BASE);
                    (Listener::Smb, SocketAddr::new(IpAddr::V4(ip), port))
                } else {
                    (Listener::Nfs, self.peer(self.conns[c].host, port))
                };
                if self.conns[c].open {
                    if let Some(core) = self.core() {
                        core.handle_conn_open(conn_id(c), listener, peer, now_i);
                    }
                }
            }
            Ev::SrvBytes(c, data) => {
                if self.conns[c].open && self.conns[c].epoch == self.epoch {
                    if let Some(core) = self.core() {
                        core.handle_tcp_bytes(conn_id(c), &data, now_i);
                    }
                }
            }
            Ev::CliBytes(c, data) if self.conns[c].chan == Chan::Smb => self.smb_bytes(c, data),
            Ev::CliBytes(c, data) => {
                let h = self.conns[c].host;
                if !self.conns[c].open || self.conns[c].host_boot != self.hosts[h - 1].boot {
                    return;
                }
                self.conns[c].cli_buf.extend_from_slice(&data);
                loop {
                    match take_record(&mut self.conns[c].cli_buf, 1 << 22) {
                        Ok(Some(rec)) => {
                            self.hosts[h - 1].handle_reply(self.now, &rec, &mut self.ck);
                            self.flush_host(h);
                        }
                        Ok(None) => break,
                        Err(e) => {
                            self.ck.violation(format!(
                                "c{h}: bad record marking from the server: {e:?}"
                            ));
                            self.cut(c);
                            break;
                        }
                    }
                }
            }
            Ev::CliConnReset(c) if self.conns[c].chan == Chan::Smb => {
                let i = self.conns[c].host - SMB_HOST_BASE;
                if self.conns[c].host_boot == self.smbs[i - 1].gen {
                    self.smbs[i - 1].conn_reset(self.now, &mut self.ck);
                }
            }
            Ev::CliConnReset(c) => {
                let h = self.conns[c].host;
                let chan = self.conns[c].chan;
                if self.conns[c].host_boot == self.hosts[h - 1].boot {
                    self.hosts[h - 1].conn_reset(self.now, chan);
                    self.flush_host(h);
                }
            }
            Ev::SrvDgram {
                host,
                src_port,
                listener,
                data,
            } => {
                let peer = self.peer(host, src_port);
                trace!(
                    self.ck.trace,
                    self.now,
                    "srv <- c{host}:{src_port} udp xid={:#x}",
                    xid_of(&data)
                );
                if self.core.is_some() && self.hosts[host - 1].up {
                    let xid = xid_of(&data);
                    self.hosts[host - 1].datagram_delivered(self.now, xid, &mut self.ck);
                }
                if let Some(core) = self.core() {
                    core.handle_datagram(listener, peer, &data, now_i);
                }
            }
            Ev::CliDgram { host, port, data } => {
                trace!(
                    self.ck.trace,
                    self.now,
                    "c{host}:{port} <- srv udp xid={:#x}",
                    xid_of(&data)
                );
                if matches!(
                    port,
                    CLIENT_NLM_SRC_PORT | CLIENT_NSM_SRC_PORT | CLIENT_PMAP_SRC_PORT
                ) {
                    self.hosts[host - 1].handle_reply(self.now, &data, &mut self.ck);
                    self.flush_host(host);
                }
            }
            Ev::CbConnect(id, ok) => {
                if !self.cbs.contains_key(&id) {
                    return;
                }
                let ev = if ok {
                    CallbackEvent::Connected(CallbackId(id))
                } else {
                    self.cbs.remove(&id);
                    CallbackEvent::Failed(CallbackId(id))
                };
                if let Some(core) = self.core() {
                    core.handle_callback(ev, now_i);
                }
            }
            Ev::CbToClient(id, data) => self.cb_to_client(id, data),
            Ev::CbToServer(id, data) => {
                if self.cbs.contains_key(&id) {
                    if let Some(core) = self.core() {
                        core.handle_callback(CallbackEvent::Bytes(CallbackId(id), data), now_i);
                    }
                }
            }
            Ev::Job(i) => {
                if let Some(job) = self.jobs[i].take() {
                    let mut done = job.run();
                    let follow = done.take_follow_up();
                    if let Some(core) = self.core() {
                        core.handle_job_done(done, now_i);
                    }
                    if let Some(f) = follow {
                        self.jobs.push(Some(f));
                        let j = self.jobs.len() - 1;
                        let t = self.now + self.rng.range(1, 200);
                        self.schedule_at(t, Ev::Job(j));
                    }
                }
            }
            Ev::Fsync(upto) => {
                self.fsync_in_flight = false;
                if self.journal_failed {
                    return;
                }
                let upto = upto.min(self.journal.len());
                if upto > self.durable_len {
                    for r in &self.journal[self.durable_len..upto] {
                        self.ck.durable.apply(r);
                    }
                    self.durable_len = upto;
                    let seq = RecordSeq((upto - self.run_base) as u64);
                    trace!(
                        self.ck.trace,
                        self.now,
                        "journal durable up to {} (run seq {})",
                        upto,
                        seq.0
                    );
                    if let Some(core) = self.core() {
                        core.handle_journal_durable(seq, now_i);
                    }
                }
                self.schedule_fsync();
            }
            Ev::Crash => self.crash(),
            Ev::JournalFail => {
                if !self.journal_failed {
                    if let Some(core) = self.core.as_mut() {
                        trace!(
                            self.ck.trace,
                            self.now,
                            "JOURNAL FAILS: {} records, {} durable",
                            self.journal.len(),
                            self.durable_len
                        );
                        self.journal_failed = true;
                        self.ck.fault();
                        core.handle_journal_failed(now_i);
                    }
                }
            }
            Ev::Restart => {
                if self.core.is_none() {
                    self.start_server(false);
                }
            }
            Ev::Reboot(h) => {
                if self.hosts[h - 1].up {
                    self.hosts[h - 1].crash(self.now, &mut self.ck);
                    self.host_down(h);
                    let t = self.now + self.rng.range(500_000, 8_000_000);
                    self.schedule_at(t, Ev::Boot(h));
                }
            }
            Ev::Boot(h) => {
                trace!(self.ck.trace, self.now, "c{h} is back");
                self.hosts[h - 1].boot(self.now, &mut self.ck);
                self.flush_host(h);
            }
        }
    }

    fn peer(&self, host: usize, port: u16) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(host_ip(host)), port)
    }

    fn cb_to_client(&mut self, id: u64, data: Bytes) {
        let Some(cb) = self.cbs.get_mut(&id) else {
            return;
        };
        let (h, port, tcp) = (cb.host, cb.port, cb.tcp);
        if !self.hosts[h - 1].up {
            if tcp {
                self.cbs.remove(&id);
                let now_i = self.instant(self.now);
                if let Some(core) = self.core() {
                    core.handle_callback(CallbackEvent::Failed(CallbackId(id)), now_i);
                }
            }
            return;
        }
        let mut msgs = Vec::new();
        if tcp {
            cb.cli_buf.extend_from_slice(&data);
            loop {
                match take_record(&mut cb.cli_buf, 1 << 20) {
                    Ok(Some(r)) => msgs.push(r),
                    Ok(None) => break,
                    Err(e) => {
                        self.ck.violation(format!(
                            "c{h}: bad record marking on a callback connection: {e:?}"
                        ));
                        return;
                    }
                }
            }
        } else {
            msgs.push(data);
        }
        for m in msgs {
            let reply = self.hosts[h - 1].handle_inbound(self.now, port, &m, &mut self.ck);
            self.flush_host(h);
            let Some(reply) = reply else { continue };
            if tcp {
                let t = {
                    let lat = self.latency();
                    let cb = self.cbs.get_mut(&id).expect("present");
                    let t = (self.now + lat).max(cb.last_to_srv);
                    cb.last_to_srv = t;
                    t
                };
                self.schedule_at(t, Ev::CbToServer(id, record_bytes(&reply)));
            } else {
                self.send_dgram(|| Ev::CbToServer(id, reply.clone()), "callback reply");
            }
        }
    }

    /// The host's sockets are gone: its connections reset, callback connections to it fail.
    fn host_down(&mut self, h: usize) {
        let now_i = self.instant(self.now);
        let conns: Vec<usize> = self
            .host_conn
            .iter()
            .filter(|((hh, _), _)| *hh == h)
            .map(|(_, c)| *c)
            .collect();
        for c in conns {
            if self.conns[c].open {
                self.conns[c].open = false;
                if let Some(core) = self.core() {
                    core.handle_conn_closed(conn_id(c), now_i);
                }
            }
        }
        self.host_conn.retain(|(hh, _), _| *hh != h);
        let ids: Vec<u64> = self
            .cbs
            .iter()
            .filter(|(_, cb)| cb.host == h && cb.tcp)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.cbs.remove(&id);
            if let Some(core) = self.core() {
                core.handle_callback(CallbackEvent::Failed(CallbackId(id)), now_i);
            }
        }
    }

    fn cut(&mut self, c: usize) {
        if !self.conns[c].open {
            return;
        }
        self.ck.stats.cuts += 1;
        self.ck.fault();
        trace!(
            self.ck.trace,
            self.now,
            "net: connection {c} of {} cut",
            self.conn_owner(c)
        );
        self.conns[c].open = false;
        if self.conns[c].chan == Chan::Smb {
            // The server hears of it now and drops the client's handles with it.
            self.ck.smb_conn_lost(self.conns[c].host - SMB_HOST_BASE);
        }
        let h = self.conns[c].host;
        let chan = self.conns[c].chan;
        if self.host_conn.get(&(h, chan)) == Some(&c) {
            self.host_conn.remove(&(h, chan));
        }
        let now_i = self.instant(self.now);
        if let Some(core) = self.core() {
            core.handle_conn_closed(conn_id(c), now_i);
        }
        let t = self.now + self.latency();
        self.schedule_at(t, Ev::CliConnReset(c));
    }

    fn crash(&mut self) {
        if self.core.is_none() {
            return;
        }
        self.ck.stats.crashes += 1;
        self.ck.fault();
        // The journal keeps every record reported durable and any number of the ones
        // appended after (a write may have reached the disk without its fsync returning).
        let keep = self
            .rng
            .range(self.durable_len as u64, self.journal.len() as u64) as usize;
        trace!(
            self.ck.trace,
            self.now,
            "SERVER CRASH: journal {} records, {} durable, {} survive",
            self.journal.len(),
            self.durable_len,
            keep
        );
        self.journal.truncate(keep);
        self.durable_len = keep;
        self.fsync_in_flight = false;
        // A failed journal stays failed for the rest of this boot only: the core refuses
        // NLM/NSM calls "until the server is restarted" (server crate documentation), so
        // the restart is the operator's repair and the next boot's journal syncs again.
        // (Before, the next core was never told of the failure nor given durability: a
        // runtime that reports neither breaks the core's contract, and every reply and
        // SM_NOTIFY of that boot waited forever.)
        self.journal_failed = false;
        let mut d = Durable::default();
        for r in &self.journal {
            d.apply(r);
        }
        self.ck.durable = d;
        // Jobs in progress: done on the file system or not, their results lost.
        for i in 0..self.jobs.len() {
            if let Some(job) = self.jobs[i].take() {
                if self.rng.chance(500) {
                    let mut done = job.run();
                    if let Some(f) = done.take_follow_up() {
                        if self.rng.chance(500) {
                            drop(f.run());
                        }
                    }
                }
            }
        }
        self.core = None;
        self.ck.server_up = false;
        for h in &mut self.hosts {
            h.server_crashed();
        }
        for i in 1..=self.smbs.len() {
            self.ck.smb_conn_lost(i);
        }
        for c in 0..self.conns.len() {
            if self.conns[c].open {
                self.conns[c].open = false;
                let t = self.now + self.latency();
                self.schedule_at(t, Ev::CliConnReset(c));
            }
        }
        self.host_conn.clear();
        self.cbs.clear();
        let t = self.now + self.rng.range(500_000, 10_000_000);
        self.schedule_at(t, Ev::Restart);
    }

    fn schedule_fsync(&mut self) {
        if !self.fsync_in_flight
            && !self.journal_failed
            && self.journal.len() > self.durable_len
            && self.core.is_some()
        {
            self.fsync_in_flight = true;
            let t = self.now + self.rng.range(100, 30_000);
            let upto = self.journal.len();
            self.schedule_at(t, Ev::Fsync(upto));
        }
    }

    /// Sends what host `h` queued.
    fn flush_host(&mut self, h: usize) {
        while let Some(o) = self.hosts[h - 1].out.pop_front() {
            let tcp = match o.chan {
                Chan::Nfs | Chan::Smb => true,
                Chan::Nlm => self.hosts[h - 1].nlm_tcp(),
                Chan::Nsm | Chan::Pmap => false,
            };
            if tcp {
                self.send_stream(h, o.chan, record_bytes(&o.msg));
            } else {
                let (src_port, listener) = match o.chan {
                    Chan::Nsm => (CLIENT_NSM_SRC_PORT, Listener::Nfs),
                    Chan::Pmap => (CLIENT_PMAP_SRC_PORT, Listener::Portmap),
                    _ => (CLIENT_NLM_SRC_PORT, Listener::Nfs),
                };
                let data = o.msg;
                self.send_dgram(
                    || Ev::SrvDgram {
                        host: h,
                        src_port,
                        listener,
                        data: data.clone(),
                    },
                    &format!("c{h} datagram to the server"),
                );
            }
        }
    }

    fn send_stream(&mut self, h: usize, chan: Chan, data: Bytes) {
        let c = match self.host_conn.get(&(h, chan)) {
            Some(c) => *c,
            None => {
                let c = self.conns.len();
                self.conns.push(Conn {
                    host: h,
                    chan,
                    open: true,
                    epoch: self.epoch,
                    host_boot: if chan == Chan::Smb {
                        self.smbs[h - SMB_HOST_BASE - 1].gen
                    } else {
                        self.hosts[h - 1].boot
                    },
                    cli_buf: BytesMut::new(),
                    last_to_srv: 0,
                    last_to_cli: 0,
                });
                self.host_conn.insert((h, chan), c);
                let t = self.now + self.rng.range(50, 500);
                self.conns[c].last_to_srv = t;
                if self.core.is_some() {
                    self.schedule_at(t, Ev::SrvConnOpen(c));
                } else {
                    // Connection refused: the server is down.
                    self.conns[c].open = false;
                    self.host_conn.remove(&(h, chan));
                    self.schedule_at(t, Ev::CliConnReset(c));
                    return;
                }
                c
            }
        };
        let f = self.p.faults;
        if f.cut > 0 && self.rng.chance(f.cut) {
            self.cut(c);
            return;
        }
        // Split the record at a random point now and then (reassembly in the core).
        let parts: Vec<Bytes> = if data.len() > 8 && self.rng.chance(200) {
            let at = self.rng.range(1, data.len() as u64 - 1) as usize;
            vec![data.slice(..at), data.slice(at..)]
        } else {
            vec![data]
        };
        for part in parts {
            let t = (self.now + self.latency()).max(self.conns[c].last_to_srv);
            self.conns[c].last_to_srv = t;
            self.schedule_at(t, Ev::SrvBytes(c, part));
        }
    }

    /// Sends what SMB client `i` (1-based) queued, each message in its NBSS frame.
    fn flush_smb(&mut self, i: usize) {
        while let Some(m) = self.smbs[i - 1].out.pop_front() {
            let mut f = Vec::with_capacity(m.len() + 4);
            proto_smb2::nbss::put_frame(&mut f, &m);
            self.send_stream(SMB_HOST_BASE + i, Chan::Smb, Bytes::from(f));
        }
    }

    /// Bytes from the server on SMB connection `c`: whole NBSS frames go to the client.
    fn smb_bytes(&mut self, c: usize, data: Bytes) {
        let i = self.conns[c].host - SMB_HOST_BASE;
        if !self.conns[c].open || self.conns[c].host_boot != self.smbs[i - 1].gen {
            return;
        }
        self.conns[c].cli_buf.extend_from_slice(&data);
        loop {
            match proto_smb2::nbss::take_frame(&mut self.conns[c].cli_buf, 1 << 24) {
                Ok(Some(f)) => {
                    let parts = match proto_smb2::compound::split_compound(&f.payload, 64) {
                        Ok(p) => p,
                        Err(e) => {
                            self.ck
                                .violation(format!("s{i}: bad SMB2 frame from the server: {e}"));
                            self.cut(c);
                            return;
                        }
                    };
                    for p in parts {
                        self.smbs[i - 1].handle_message(self.now, &p.msg, &mut self.ck);
                    }
                    self.flush_smb(i);
                }
                Ok(None) => break,
                Err(e) => {
                    self.ck
                        .violation(format!("s{i}: bad NBSS framing from the server: {e:?}"));
                    self.cut(c);
                    break;
                }
            }
        }
    }

    /// Who a connection belongs to, for the trace.
    fn conn_owner(&self, c: usize) -> String {
        if self.conns[c].chan == Chan::Smb {
            format!("s{}", self.conns[c].host - SMB_HOST_BASE)
        } else {
            format!("c{}", self.conns[c].host)
        }
    }

    /// Drains every output of the core until all are empty.
    fn drain(&mut self) {
        loop {
            let Some(core) = self.core.as_mut() else {
                return;
            };
            if let Some((seq, rec)) = core.poll_journal_append() {
                let expect = (self.journal.len() - self.run_base + 1) as u64;
                if seq.0 != expect {
                    self.ck.violation(format!(
                        "journal append numbered {} where {} was next",
                        seq.0, expect
                    ));
                }
                trace!(
                    self.ck.trace,
                    self.now,
                    "journal +{}: {}",
                    self.journal.len() + 1,
                    Durable::describe(&rec)
                );
                self.journal.push(rec);
                self.schedule_fsync();
                if self.p.knobs.lie_about_durability {
                    let now_i = self.instant(self.now);
                    if let Some(core) = self.core.as_mut() {
                        core.handle_journal_durable(seq, now_i);
                    }
                }
                continue;
            }
            if let Some(t) = core.poll_transmit() {
                let data = t.data.to_bytes();
                match t.dest {
                    Some(dest) => {
                        let Some(h) = host_of(dest.ip()) else {
                            continue;
                        };
                        let port = dest.port();
                        self.send_dgram(
                            || Ev::CliDgram {
                                host: h,
                                port,
                                data: data.clone(),
                            },
                            &format!("server datagram to c{h}"),
                        );
                    }
                    None => {
                        let Some(c) = conn_index(t.conn) else {
                            continue;
                        };
                        if c < self.conns.len() && self.conns[c].open {
                            let tt = (self.now + self.latency()).max(self.conns[c].last_to_cli);
                            self.conns[c].last_to_cli = tt;
                            self.schedule_at(tt, Ev::CliBytes(c, data));
                        }
                    }
                }
                continue;
            }
            if let Some(job) = core.poll_job() {
                self.jobs.push(Some(job));
                let j = self.jobs.len() - 1;
                let t = self.now + self.rng.range(10, 5_000);
                self.schedule_at(t, Ev::Job(j));
                continue;
            }
            if let Some(cmd) = core.poll_callback() {
                self.callback_command(cmd);
                continue;
            }
            if let Some(c) = core.poll_close() {
                if let Some(i) = conn_index(c) {
                    if i < self.conns.len() && self.conns[i].open {
                        trace!(self.ck.trace, self.now, "server closes connection {i}");
                        self.conns[i].open = false;
                        if self.conns[i].chan == Chan::Smb {
                            self.ck.smb_conn_lost(self.conns[i].host - SMB_HOST_BASE);
                        }
                        let (h, chan) = (self.conns[i].host, self.conns[i].chan);
                        if self.host_conn.get(&(h, chan)) == Some(&i) {
                            self.host_conn.remove(&(h, chan));
                        }
                        let now_i = self.instant(self.now);
                        if let Some(core) = self.core() {
                            core.handle_conn_closed(c, now_i);
                        }
                        let t = self.now + self.latency();
                        self.schedule_at(t, Ev::CliConnReset(i));
                    }
                }
                continue;
            }
            if core.poll_resumed().is_some() {
                continue;
            }
            return;
        }
    }

    fn callback_command(&mut self, cmd: CallbackCommand) {
        match cmd {
            CallbackCommand::Connect {
                id,
                addr,
                transport,
            } => {
                let Some(h) = host_of(addr.ip()) else {
                    self.ck
                        .violation(format!("callback to an unknown address {addr}"));
                    return;
                };
                let tcp = transport == Transport::Tcp;
                trace!(
                    self.ck.trace,
                    self.now,
                    "server opens callback channel {} to c{h}:{} {}",
                    id.0,
                    addr.port(),
                    if tcp { "tcp" } else { "udp" }
                );
                self.cbs.insert(
                    id.0,
                    Cb {
                        host: h,
                        port: addr.port(),
                        tcp,
                        cli_buf: BytesMut::new(),
                        last_to_cli: 0,
                        last_to_srv: 0,
                    },
                );
                if tcp {
                    let listening = self.hosts[h - 1].up
                        && matches!(
                            addr.port(),
                            CLIENT_PMAP_PORT | CLIENT_NLM_PORT | CLIENT_NSM_PORT
                        );
                    let t = self.now + self.rng.range(50, 2_000);
                    self.schedule_at(t, Ev::CbConnect(id.0, listening));
                }
            }
            CallbackCommand::Send { id, bytes: data } => {
                let Some(cb) = self.cbs.get(&id.0) else {
                    trace!(
                        self.ck.trace,
                        self.now,
                        "server sends on callback channel {} that is gone",
                        id.0
                    );
                    return;
                };
                trace!(
                    self.ck.trace,
                    self.now,
                    "server sends {} bytes on callback channel {} ({})",
                    data.len(),
                    id.0,
                    if cb.tcp { "tcp" } else { "udp" }
                );
                if cb.tcp {
                    let f = self.p.faults;
                    if f.cut > 0 && self.rng.chance(f.cut) {
                        // The callback connection breaks: the bytes are lost, the core hears
                        // of a reset.
                        self.ck.stats.cuts += 1;
                        self.ck.fault();
                        trace!(
                            self.ck.trace,
                            self.now,
                            "net: callback channel {} cut",
                            id.0
                        );
                        self.cbs.remove(&id.0);
                        let now_i = self.instant(self.now);
                        if let Some(core) = self.core() {
                            core.handle_callback(CallbackEvent::Failed(id), now_i);
                        }
                        return;
                    }
                    let lat = self.latency();
                    let cb = self.cbs.get_mut(&id.0).expect("present");
                    let t = (self.now + lat).max(cb.last_to_cli);
                    cb.last_to_cli = t;
                    self.schedule_at(t, Ev::CbToClient(id.0, data));
                } else {
                    self.send_dgram(|| Ev::CbToClient(id.0, data.clone()), "callback datagram");
                }
            }
            CallbackCommand::Close { id } => {
                trace!(
                    self.ck.trace,
                    self.now,
                    "server closes callback channel {}",
                    id.0
                );
                self.cbs.remove(&id.0);
            }
        }
    }
}

/// The xid of an RPC message (0 if too short).
fn xid_of(m: &[u8]) -> u32 {
    m.get(..4)
        .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn conn_id(c: usize) -> ConnId {
    ConnId(1000 + c as u64)
}

fn conn_index(c: ConnId) -> Option<usize> {
    c.0.checked_sub(1000).map(|i| i as usize)
}

/// Connections of SMB client `i` are owned by "host" `SMB_HOST_BASE + i` in the world's
/// connection table (NFS hosts are 1..).
const SMB_HOST_BASE: usize = 1000;

/// The address of SMB client `i` (1-based).
pub fn smb_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 2, i as u8)
}

/// The address of client host `h` (1-based).
pub fn host_ip(h: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 1, h as u8)
}

fn host_of(ip: IpAddr) -> Option<usize> {
    match ip {
        IpAddr::V4(v4) if v4.octets()[..3] == [10, 0, 1] && v4.octets()[3] > 0 => {
            Some(v4.octets()[3] as usize)
        }
        _ => None,
    }
}
