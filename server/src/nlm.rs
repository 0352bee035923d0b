//! NLM v4 (100021) and NSM v1 (100024) in the core: [`Nlm`] drives
//! `proto_nlm::service::NlmService` with the core's one `lockstate::LockTable`, hands the
//! records that make locks and the monitor list durable to the journal policy
//! ([`crate::nlm_journal`]), and makes its outbound calls through the callback client
//! ([`crate::callbacks`]). It follows the wiring steps of proto-nlm's service module
//! documentation; the semantics are in docs/cross-protocol.md.
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
//! Before the core starts, the runtime may rewrite a journal that is mostly dead records
//! (released locks, replaced monitor entries) with the live ones only
//! ([`crate::nlm_compact`] decides which).
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
//! Records that grant or monitor something are appended in the same call that produced
//! them; the core holds the call's reply and every outbound call made meanwhile until the
//! runtime reports those records durable (`Core::handle_journal_durable`), so a GRANTED
//! reply or a GRANTED_MSG never reaches a client before the lock and the monitor entry are
//! on disk.
//!
//! Releases wait in memory and a lock re-taken while its release waits reuses the
//! journalled grant, so a lock/unlock loop costs no `fdatasync` after its first grant: see
//! [`crate::nlm_journal`] for the rules and why no reply's promise is weakened.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use lockstate::{FileId, LockTable, Record};
use proto_nfs::nfs3::FileHandle;
use proto_nfs::xdr::XdrDecode;
use proto_nlm::service::callback::CallbackClient;
use proto_nlm::service::{
    CallOutcome, DeferredReply, FileHandles, IncomingCall, NlmConfig, NlmService, NsmRecord,
    Resolved,
};

use crate::nlm_journal::{Appends, RecordSink};

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

impl Default for NlmSettings {
    fn default() -> Self {
        NlmSettings {
            grace_period: Duration::from_secs(90),
            nfs_wait: Duration::from_secs(1),
            nlm_wait: Duration::from_secs(5),
            break_timeout: Duration::from_secs(35),
            callback_portmap_port: 111,
            server_name: "janus".into(),
        }
    }
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

/// The configured shares as NLM sees them: share id → read-only.
#[derive(Debug, Default)]
pub(crate) struct Shares(pub(crate) BTreeMap<u32, bool>);

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

/// What [`Nlm::restore`] found in the journal.
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

/// NLM and NSM with the lock table and the callback client. See the module documentation.
#[derive(Debug)]
pub struct Nlm {
    pub(crate) svc: NlmService,
    pub(crate) table: LockTable,
    pub(crate) cb: CallbackClient,
    shares: Shares,
    sink: RecordSink,
    report: StartReport,
    /// Table events that are not NLM's, in order, for the core to route.
    pub(crate) others: Vec<lockstate::Event>,
}

impl Nlm {
    /// Restores the lock table and the monitor list from the journal's `records` (oldest
    /// first), starts the grace period when needed and queues SM_NOTIFY to every monitored
    /// client. `boot_count` is the state directory's boot counter, `first_xid` the first
    /// xid of the callback client (an input: random in production, fixed in tests).
    #[allow(clippy::too_many_arguments)]
    pub fn restore(
        settings: &NlmSettings,
        shares: impl IntoIterator<Item = (u32, bool)>,
        records: &[Vec<u8>],
        was_clean: bool,
        boot_count: u64,
        first_xid: u32,
        now: Instant,
    ) -> Result<Nlm, String> {
        let mut lock_records = Vec::new();
        let mut nsm_records = Vec::new();
        for (i, r) in records.iter().enumerate() {
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
            break_timeout: settings.break_timeout,
            grace_period: settings.grace_period,
            nfs_wait: settings.nfs_wait,
            nlm_wait: settings.nlm_wait,
            ..lockstate::Config::default()
        };
        let mut table = LockTable::restore(cfg, lock_records).map_err(|e| {
            format!(
                "the journal's lock state does not replay ({e}); move the journal away to \
                 start without locks"
            )
        })?;
        table.start_grace(now);
        // Lessons #3: an unclean stop always gets a grace period; a clean one only if
        // something is left to reclaim.
        if was_clean && table.grace_unreclaimed() == 0 {
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
            server_name: Bytes::from(settings.server_name.clone().into_bytes()),
            client_portmap_port: settings.callback_portmap_port,
            ..NlmConfig::default()
        };
        let call_timeout = config.call_timeout;
        let svc = NlmService::new(config, now, nsm_state, nsm_records);
        let cb = CallbackClient::new(
            first_xid,
            Bytes::from(settings.server_name.clone().into_bytes()),
            call_timeout,
        );
        let report = StartReport {
            lock_records: n_lock,
            nsm_records: n_nsm,
            grace,
            nsm_state,
        };
        Ok(Nlm {
            svc,
            table,
            cb,
            shares: Shares(shares.into_iter().collect()),
            sink: RecordSink::new(),
            report,
            others: Vec::new(),
        })
    }

    /// What the restore found.
    pub fn start_report(&self) -> StartReport {
        self.report
    }

    /// Whether the grace period runs.
    pub fn in_grace(&self) -> bool {
        self.table.in_grace()
    }

    /// The lock table (read-only: tests, metrics).
    pub fn table(&self) -> &LockTable {
        &self.table
    }

    /// The NLM/NSM service (read-only: tests, metrics).
    pub fn service(&self) -> &NlmService {
        &self.svc
    }

    /// Journal-policy counters.
    pub fn sink_stats(&self) -> crate::nlm_journal::SinkStats {
        self.sink.stats()
    }

    /// Handles a call to NLM or NSM; records go to `journal`, replies held back earlier
    /// and now due to `replies`.
    pub fn handle_call(
        &mut self,
        now: Instant,
        call: IncomingCall,
        journal: &mut Appends,
        replies: &mut Vec<DeferredReply>,
    ) -> CallOutcome {
        let out = self
            .svc
            .handle_call(now, &mut self.table, &self.shares, call);
        self.drive(now, journal, replies);
        out
    }

    /// Steps 4–7 of the wiring: table events, records to the journal, held replies,
    /// outbound calls and their results, until nothing moves.
    pub fn drive(&mut self, now: Instant, journal: &mut Appends, replies: &mut Vec<DeferredReply>) {
        loop {
            let mut progress = false;
            // Events about NFS requests held on a break, lease breaks and SMB completions
            // are routed by the core (`crate::nfs_locks`).
            let others = self.svc.handle_table_events(now, &mut self.table);
            self.others.extend(others);
            while let Some(r) = self.svc.poll_record() {
                self.sink.nsm(journal, &r);
            }
            while let Some(r) = self.table.poll_record() {
                self.sink.lock(now, journal, r);
            }
            while let Some(r) = self.svc.poll_reply() {
                replies.push(r);
            }
            while let Some(c) = self.svc.poll_outbound() {
                progress = true;
                self.cb.submit(now, c);
            }
            while let Some((id, result)) = self.cb.poll_result() {
                progress = true;
                self.svc
                    .handle_call_result(now, &mut self.table, id, result);
            }
            if !progress {
                break;
            }
        }
    }

    /// When [`Nlm::handle_timeout`] should next be called.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        [
            self.svc.poll_timeout(),
            self.table.poll_timeout(),
            self.cb.poll_timeout(),
            self.sink.deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Time passed.
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        journal: &mut Appends,
        replies: &mut Vec<DeferredReply>,
    ) {
        self.sink.handle_timeout(now, journal);
        self.table.handle_timeout(now);
        self.cb.handle_timeout(now);
        self.svc.handle_timeout(now, &mut self.table);
        self.drive(now, journal, replies);
    }

    /// Shutting down: append every waiting release.
    pub fn flush(&mut self, journal: &mut Appends) {
        self.sink.flush(journal);
    }
}

/// Our name for SM_NOTIFY: the bound address, or the host name when bound to all.
pub fn server_name(bind: core::net::IpAddr, hostname: &str) -> String {
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
    fn file_ids_are_stable_and_distinct() {
        // FNV-1a 64 of four zero bytes (share 0, empty backend): the basis times the prime 4x.
        assert_eq!(file_id(0, b"").0, {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for _ in 0..4 {
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
            h
        });
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
