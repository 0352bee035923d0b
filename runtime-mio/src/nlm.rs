//! NLM v4 (100021) and NSM v1 (100024) in the event loop: the [`ExternalPrograms`] hook
//! that drives `proto_nlm::service::NlmService` with the shared `lockstate::LockTable`, the
//! journal records that make locks and the monitor list durable, and the outbound calls
//! (through [`crate::nlm_callbacks`]). It follows the wiring steps of proto-nlm's service
//! module documentation; the semantics are in `docs/cross-protocol.md` §3 and §5.
//!
//! # Start (after a restart)
//! 1. Replay the journal: records tagged [`TAG_LOCK`] are `lockstate::Record`s (their byte
//!    form is `lockstate`'s codec), records tagged [`TAG_NSM`] are `NsmRecord`s (XDR).
//! 2. `LockTable::restore`, then the grace period (`--grace-period`): always after an
//!    unclean shutdown, even with no lock records (docs/architecture.md lesson 3: a crash may
//!    have lost the tail of what clients held); after a clean shutdown only when locks or
//!    shares were held.
//! 3. `NlmService::new` with our NSM state `2 * boot + 1` (odd, larger every boot; above any
//!    `OwnState` an SM_SIMU_CRASH journalled) and the monitor records: every monitored
//!    client is sent SM_NOTIFY through its portmapper at `--nlm-callback-portmap-port`.
//!
//! Before replaying, a journal that is mostly dead records (released locks, replaced
//! monitor entries) is rewritten with the live ones only ([`crate::nlm_compact`]).
//!
//! # Files
//! An NLM call names a file by its NFS file handle. [`file_id`] maps a Janus handle to the
//! lock table's `FileId` by a stable 64-bit FNV-1a hash of (share id, backend handle bytes),
//! so every protocol that holds the same backend handle meets the same lock state, and ids
//! survive a restart (they are journalled). Handles are checked without touching the file
//! system: any well-formed Janus handle of a configured share is accepted (a handle of a
//! file deleted since is not detected: NLM4_STALE_FH is answered for malformed handles and
//! unknown shares only). Exclusive locks on read-only shares get NLM4_ROFS.
//!
//! # Durability
//! Records that grant or monitor something are appended to the journal in the same call
//! that produced them; the event loop commits (one `fdatasync` for the pass) before it
//! writes the pass's replies and before [`ExternalPrograms::flush_io`] sends outbound
//! calls, so a GRANTED reply or a GRANTED_MSG never reaches a client before the lock and
//! the monitor entry are on disk.
//!
//! Releases wait in memory and a lock re-taken while its release waits reuses the
//! journalled grant, so a lock/unlock loop costs no `fdatasync` after its first grant: see
//! [`crate::nlm_journal`] for the rules and why no reply's promise is weakened.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use lockstate::{FileId, LockTable, Record};
use mio::{Registry, Token};
use proto_nfs::nfs3::FileHandle;
use proto_nfs::xdr::XdrDecode;
use proto_nlm::service::callback::CallbackClient;
use proto_nlm::service::{
    CallOutcome, FileHandles, IncomingCall, NlmConfig, NlmService, NsmRecord, Resolved,
};

use crate::event_loop::{ExternalCall, ExternalPrograms, ExternalReply, HeldReply};
use crate::journal::Journal;
use crate::nlm_callbacks::{CallbackIo, IoEvent};
use crate::nlm_journal::RecordSink;

pub use crate::nlm_journal::{RELEASE_FLUSH, TAG_LOCK, TAG_NSM};

/// Settings of the NLM/NSM service (from the config file and flags).
#[derive(Debug, Clone)]
pub struct NlmSettings {
    /// Grace period after a restart (`--grace-period`).
    pub grace_period: Duration,
    /// `T_nfs` (O3): how long an NFS operation waits for a lease break.
    pub nfs_wait: Duration,
    /// `T_nlm` (O4): how long an NLM request is held on a lease break.
    pub nlm_wait: Duration,
    /// SMB lease/oplock break timeout (MS-SMB2 3.3.6.5: 35 s).
    pub break_timeout: Duration,
    /// Port of the clients' portmappers (111; tests use their own listener).
    pub callback_portmap_port: u16,
    /// Our name in SM_NOTIFY and in the AUTH_SYS credential of callbacks.
    pub server_name: String,
}

/// One exported share, as NLM needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NlmShare {
    /// The share id in file handles.
    pub share_id: u32,
    /// Exported read-only (exclusive locks → NLM4_ROFS).
    pub read_only: bool,
}

/// The lock table's id of the file a Janus handle `(share_id, backend)` names: 64-bit
/// FNV-1a over the share id (big-endian) and the backend bytes. Stable across restarts and
/// builds (it is journalled), the same for every protocol that knows the backend handle.
pub fn file_id(share_id: u32, backend: &[u8]) -> FileId {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in share_id.to_be_bytes().iter().chain(backend) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    FileId(h)
}

#[derive(Debug)]
struct Shares(HashMap<u32, bool>);

impl FileHandles for Shares {
    fn resolve(&self, fh: &[u8]) -> Resolved {
        if fh.len() > FileHandle::MAX_LEN {
            return Resolved::Stale;
        }
        let h = FileHandle(Bytes::copy_from_slice(fh));
        match (h.share_id(), h.backend()) {
            (Some(share), Some(backend)) if !backend.is_empty() => match self.0.get(&share) {
                Some(&read_only) => Resolved::File {
                    id: file_id(share, backend),
                    read_only,
                },
                None => Resolved::Stale,
            },
            _ => Resolved::Stale,
        }
    }
}

#[derive(Debug)]
struct Started {
    svc: NlmService,
    table: LockTable,
    cb: CallbackClient,
}

/// What [`NlmHook::start`] found in the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartReport {
    /// Lock-table records replayed.
    pub lock_records: usize,
    /// Monitor records replayed.
    pub nsm_records: usize,
    /// Whether the grace period runs.
    pub grace: bool,
    /// Our NSM state number for this boot.
    pub nsm_state: i32,
}

/// The NLM/NSM hook of the event loop. See the module documentation.
#[derive(Debug)]
pub struct NlmHook {
    settings: NlmSettings,
    shares: Shares,
    started: Option<Started>,
    io: CallbackIo,
    replies: VecDeque<HeldReply>,
    /// Work is queued that the next pass must commit and send.
    kick: Option<Instant>,
    /// Where records go (see "Durability").
    sink: RecordSink,
}

impl NlmHook {
    /// A hook for these shares; [`NlmHook::start`] must run before it serves.
    pub fn new(settings: NlmSettings, shares: impl IntoIterator<Item = NlmShare>) -> Self {
        NlmHook {
            settings,
            shares: Shares(
                shares
                    .into_iter()
                    .map(|s| (s.share_id, s.read_only))
                    .collect(),
            ),
            started: None,
            io: CallbackIo::new(),
            replies: VecDeque::new(),
            kick: None,
            sink: RecordSink::new(),
        }
    }

    /// Restores the lock table and the monitor list from `journal`, starts the grace period
    /// when needed and queues SM_NOTIFY to every monitored client. `boot_count` is the state
    /// directory's boot counter.
    pub fn start(
        &mut self,
        now: Instant,
        journal: &mut Journal,
        boot_count: u64,
    ) -> Result<StartReport, String> {
        let mut raw = journal.replay().map_err(|e| e.to_string())?;
        let live = crate::nlm_compact::live_indices(&raw);
        if crate::nlm_compact::worth_it(raw.len(), live.len()) {
            let kept: Vec<Vec<u8>> = live.iter().map(|&i| raw[i].clone()).collect();
            match journal.rewrite(&kept) {
                Ok(()) => {
                    tracing::info!(before = raw.len(), after = kept.len(), "journal compacted");
                    raw = kept;
                }
                Err(e) => tracing::warn!("journal not compacted: {e}"),
            }
        }
        let mut lock_records = Vec::new();
        let mut nsm_records = Vec::new();
        for (i, r) in raw.iter().enumerate() {
            match r.split_first() {
                Some((&TAG_LOCK, rest)) => {
                    lock_records.push(Record::from_bytes(rest).map_err(|e| {
                        format!("journal record {i} (lock state) does not decode: {e}")
                    })?)
                }
                Some((&TAG_NSM, rest)) => {
                    nsm_records.push(NsmRecord::decode_exact(rest).map_err(|e| {
                        format!("journal record {i} (monitor list) does not decode: {e:?}")
                    })?)
                }
                // Records of other services (SMB later) are theirs.
                _ => {}
            }
        }
        let (n_lock, n_nsm) = (lock_records.len(), nsm_records.len());
        let cfg = lockstate::Config {
            break_timeout: self.settings.break_timeout,
            grace_period: self.settings.grace_period,
            nfs_wait: self.settings.nfs_wait,
            nlm_wait: self.settings.nlm_wait,
            ..lockstate::Config::default()
        };
        let mut table = LockTable::restore(cfg, lock_records).map_err(|e| {
            format!(
                "journal {}: lock state does not replay ({e}); move the file away to start \
                 without locks",
                journal.path().display()
            )
        })?;
        table.start_grace(now);
        // Lessons #3: an unclean stop always gets a grace period; a clean one only if
        // something is left to reclaim.
        if journal.was_clean() && table.grace_unreclaimed() == 0 {
            table.end_grace(now);
        }
        let grace = table.in_grace();
        let mut nsm_state =
            i32::try_from(boot_count.saturating_mul(2).saturating_add(1)).unwrap_or(i32::MAX);
        for r in &nsm_records {
            if let NsmRecord::OwnState(s) = r {
                if *s >= nsm_state {
                    nsm_state = s.saturating_add(2) | 1;
                }
            }
        }
        let config = NlmConfig {
            server_name: Bytes::from(self.settings.server_name.clone().into_bytes()),
            client_portmap_port: self.settings.callback_portmap_port,
            ..NlmConfig::default()
        };
        let call_timeout = config.call_timeout;
        let svc = NlmService::new(config, now, nsm_state, nsm_records);
        let first_xid = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
            ^ ((boot_count as u32) << 20);
        let cb = CallbackClient::new(
            first_xid,
            Bytes::from(self.settings.server_name.clone().into_bytes()),
            call_timeout,
        );
        self.started = Some(Started { svc, table, cb });
        self.drive(now, journal);
        self.kick = Some(now);
        tracing::info!(
            lock_records = n_lock,
            monitor_records = n_nsm,
            grace,
            nsm_state,
            "NLM/NSM state restored"
        );
        Ok(StartReport {
            lock_records: n_lock,
            nsm_records: n_nsm,
            grace,
            nsm_state,
        })
    }

    /// Steps 4–7 of the wiring: table events, records to the journal, held replies,
    /// outbound calls and their results, until nothing moves.
    fn drive(&mut self, now: Instant, journal: &mut Journal) {
        let Some(s) = self.started.as_mut() else {
            return;
        };
        loop {
            let mut progress = false;
            for ev in s.svc.handle_table_events(now, &mut s.table) {
                // Lease breaks and SMB completions belong to SMB, which is not served yet.
                tracing::debug!(?ev, "lock-table event with no NLM request");
            }
            while let Some(r) = s.svc.poll_record() {
                self.sink.nsm(journal, &r);
            }
            while let Some(r) = s.table.poll_record() {
                self.sink.lock(now, journal, r);
            }
            while let Some(r) = s.svc.poll_reply() {
                self.replies.push_back(HeldReply {
                    conn: r.conn,
                    peer: r.peer,
                    xid: r.xid,
                    body: r.body,
                });
            }
            while let Some(c) = s.svc.poll_outbound() {
                progress = true;
                s.cb.submit(now, c);
            }
            while let Some((id, result)) = s.cb.poll_result() {
                progress = true;
                s.svc.handle_call_result(now, &mut s.table, id, result);
            }
            if !progress {
                break;
            }
        }
    }

    fn io_events(&mut self, now: Instant, events: Vec<IoEvent>) {
        let Some(s) = self.started.as_mut() else {
            return;
        };
        for ev in events {
            match ev {
                IoEvent::Reply(m) => {
                    if !s.cb.handle_reply(now, &m) {
                        tracing::debug!("NLM callback reply matched nothing");
                    }
                }
                IoEvent::Failed(dest, transport) => s.cb.connection_failed(dest, transport),
            }
        }
    }

    /// Whether the grace period runs (tests).
    pub fn in_grace(&self) -> bool {
        self.started.as_ref().is_some_and(|s| s.table.in_grace())
    }
}

impl ExternalPrograms for NlmHook {
    fn programs(&self) -> Vec<(u32, u32, u32)> {
        NlmService::programs().to_vec()
    }

    fn handle_call(
        &mut self,
        now: Instant,
        call: ExternalCall,
        journal: &mut Journal,
    ) -> ExternalReply {
        let Some(s) = self.started.as_mut() else {
            return ExternalReply::Refuse(proto_nfs::server::status::Refusal::ProgUnavail);
        };
        let incoming = IncomingCall {
            conn: call.conn,
            peer: call.peer,
            transport: call.transport,
            xid: call.xid,
            program: call.program,
            version: call.version,
            procedure: call.procedure,
            args: call.args,
        };
        let out = s.svc.handle_call(now, &mut s.table, &self.shares, incoming);
        self.drive(now, journal);
        match out {
            CallOutcome::Reply(body) => ExternalReply::Success(body),
            CallOutcome::Error(e) => ExternalReply::Refuse(e.into()),
            CallOutcome::NoReplyYet => ExternalReply::None,
        }
    }

    fn start(
        &mut self,
        now: Instant,
        journal: &mut Journal,
        boot_count: u64,
    ) -> Result<(), String> {
        NlmHook::start(self, now, journal, boot_count).map(|_| ())
    }

    fn poll_reply(&mut self) -> Option<HeldReply> {
        self.replies.pop_front()
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        let s = self.started.as_mut()?;
        [
            s.svc.poll_timeout(),
            s.table.poll_timeout(),
            s.cb.poll_timeout(),
            self.kick,
            self.sink.deadline(),
            self.io.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn handle_timeout(&mut self, now: Instant, journal: &mut Journal) {
        self.kick = None;
        self.sink.handle_timeout(now, journal);
        self.io.handle_timeout(now);
        let Some(s) = self.started.as_mut() else {
            return;
        };
        s.table.handle_timeout(now);
        s.cb.handle_timeout(now);
        s.svc.handle_timeout(now, &mut s.table);
        self.drive(now, journal);
    }

    fn shutdown(&mut self, journal: &mut Journal) {
        self.sink.flush(journal);
    }

    fn register_io(&mut self, registry: &Registry) -> std::io::Result<()> {
        self.io.register(registry)
    }

    fn handle_io(
        &mut self,
        now: Instant,
        token: Token,
        readable: bool,
        writable: bool,
        journal: &mut Journal,
    ) {
        let events = self.io.handle_ready(token, readable, writable);
        self.io_events(now, events);
        self.drive(now, journal);
    }

    fn flush_io(&mut self, now: Instant) {
        let Some(s) = self.started.as_mut() else {
            return;
        };
        let mut failures = Vec::new();
        while let Some(t) = s.cb.poll_transmit() {
            failures.extend(self.io.send(t.dest, t.transport, t.data));
        }
        if !failures.is_empty() {
            // Their consequences (records, retries) go through the next pass's commit.
            self.io_events(now, failures);
            self.kick = Some(now);
        }
    }
}

/// Our name for SM_NOTIFY: the bound address, or the host name when bound to all.
pub fn server_name(bind: IpAddr, hostname: &str) -> String {
    if bind.is_unspecified() {
        hostname.to_string()
    } else {
        bind.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_come_from_file_and_flags() {
        use crate::cli::ServeArgs;
        use crate::config::{Config, FileConfig};
        let file = FileConfig {
            nlm_callback_portmap_port: Some(999),
            nlm_wait_ms: Some(250),
            nfs_wait_ms: Some(100),
            break_timeout: Some(10),
            grace_period: Some(7),
            bind: Some("127.0.0.1".parse().unwrap()),
            ..FileConfig::default()
        };
        let share = || ServeArgs {
            shares: vec!["x=/tmp".into()],
            ..ServeArgs::default()
        };
        let c = Config::resolve(&share(), Some(file), None).unwrap();
        let n = c.nlm_settings();
        assert_eq!(n.callback_portmap_port, 999);
        assert_eq!(n.nlm_wait, Duration::from_millis(250));
        assert_eq!(n.nfs_wait, Duration::from_millis(100));
        assert_eq!(n.break_timeout, Duration::from_secs(10));
        assert_eq!(n.grace_period, Duration::from_secs(7));
        assert_eq!(n.server_name, "127.0.0.1");
        // The flag beats the file; defaults otherwise.
        let args = ServeArgs {
            nlm_callback_portmap_port: Some(4242),
            ..share()
        };
        let file = FileConfig {
            nlm_callback_portmap_port: Some(999),
            ..FileConfig::default()
        };
        let c = Config::resolve(&args, Some(file), None).unwrap();
        assert_eq!(c.nlm_callback_portmap_port, 4242);
        assert_eq!(c.nlm_wait, Duration::from_secs(5));
        assert_eq!(c.break_timeout, Duration::from_secs(35));
        let bad = FileConfig {
            nlm_wait_ms: Some(0),
            ..FileConfig::default()
        };
        assert!(Config::resolve(&share(), Some(bad), None).is_err());
    }

    #[test]
    fn file_ids_are_stable_and_distinct() {
        // FNV-1a 64 reference: empty input is the offset basis.
        let a = file_id(1, b"abc");
        assert_eq!(a, file_id(1, b"abc"));
        assert_ne!(a, file_id(2, b"abc"));
        assert_ne!(a, file_id(1, b"abd"));
        let shares = Shares([(1, false), (2, true)].into_iter().collect());
        let fh = FileHandle::new(1, b"abc").unwrap();
        assert_eq!(
            shares.resolve(&fh.0),
            Resolved::File {
                id: a,
                read_only: false
            }
        );
        let ro = FileHandle::new(2, b"abc").unwrap();
        assert!(matches!(
            shares.resolve(&ro.0),
            Resolved::File {
                read_only: true,
                ..
            }
        ));
        // Unknown share, bad version byte, too long, too short.
        assert_eq!(
            shares.resolve(&FileHandle::new(3, b"abc").unwrap().0),
            Resolved::Stale
        );
        assert_eq!(shares.resolve(&[2, 0, 0, 0, 1, 7]), Resolved::Stale);
        assert_eq!(shares.resolve(&[1; 65]), Resolved::Stale);
        assert_eq!(shares.resolve(&[1, 0, 0]), Resolved::Stale);
        assert_eq!(shares.resolve(&[1, 0, 0, 0, 1]), Resolved::Stale);
    }
}
