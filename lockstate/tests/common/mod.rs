//! Shared helpers for the lockstate integration tests: a table on virtual time and short
//! constructors for the requests of every protocol.
#![allow(dead_code)]

use std::time::{Duration, Instant};

pub use lockstate::*;

pub const F: FileId = FileId(1);

/// A table plus a virtual clock.
pub struct Harness {
    pub t: LockTable,
    pub now: Instant,
    pub events: Vec<Event>,
    pub records: Vec<Record>,
}

impl Harness {
    pub fn new() -> Self {
        Self::with(Config::default())
    }
    // The virtual clock needs one real origin; after that time only moves by `advance`.
    #[allow(clippy::disallowed_methods)]
    pub fn with(cfg: Config) -> Self {
        Harness {
            t: LockTable::new(cfg),
            now: Instant::now(),
            events: Vec::new(),
            records: Vec::new(),
        }
    }
    /// Drains events and records; returns the events drained now.
    pub fn drain(&mut self) -> Vec<Event> {
        let mut v = Vec::new();
        while let Some(e) = self.t.poll_event() {
            v.push(e);
        }
        while let Some(r) = self.t.poll_record() {
            self.records.push(r);
        }
        self.events.extend(v.iter().cloned());
        v
    }
    /// The break notices drained now.
    pub fn breaks(&mut self) -> Vec<BreakNotice> {
        self.drain()
            .into_iter()
            .filter_map(|e| match e {
                Event::Break(b) => Some(b),
                _ => None,
            })
            .collect()
    }
    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        while let Some(at) = self.t.poll_timeout() {
            if at > self.now {
                break;
            }
            self.t.handle_timeout(self.now);
        }
    }

    // ---- NLM ----
    pub fn nlm_lock(
        &mut self,
        who: &NlmOwner,
        first: u64,
        len: u64,
        excl: bool,
        block: bool,
    ) -> Outcome {
        let range = LockRange::nlm(first, len).unwrap();
        self.t.nlm_lock(
            NlmLockArgs {
                file: F,
                owner: who.clone(),
                range,
                exclusive: excl,
                block,
                reclaim: false,
            },
            self.now,
        )
    }
    #[allow(clippy::too_many_arguments)]
    pub fn nlm_lock_on(
        &mut self,
        file: FileId,
        who: &NlmOwner,
        first: u64,
        len: u64,
        excl: bool,
        block: bool,
        reclaim: bool,
    ) -> Outcome {
        let range = LockRange::nlm(first, len).unwrap();
        self.t.nlm_lock(
            NlmLockArgs {
                file,
                owner: who.clone(),
                range,
                exclusive: excl,
                block,
                reclaim,
            },
            self.now,
        )
    }
    pub fn nlm_unlock(&mut self, who: &NlmOwner, first: u64, len: u64) -> Outcome {
        let r = LockRange::nlm(first, len).unwrap();
        self.t.nlm_unlock(F, who, r, self.now)
    }
    pub fn nlm_test(&mut self, who: &NlmOwner, first: u64, len: u64, excl: bool) -> Outcome {
        let r = LockRange::nlm(first, len).unwrap();
        self.t.nlm_test(F, who, r, excl, self.now)
    }
    pub fn nlm_share(&mut self, who: &NlmOwner, access: u32, deny: u32) -> Outcome {
        self.t.nlm_share(
            NlmShareArgs {
                file: F,
                owner: who.clone(),
                access,
                deny,
                reclaim: false,
            },
            self.now,
        )
    }

    // ---- SMB ----
    pub fn smb_open(&mut self, open: u64, client: u8, access: u32, share: u32) -> Outcome {
        self.t.smb_create(
            SmbCreate::new(F, OpenId(open), guid(client), access, share),
            self.now,
        )
    }
    pub fn smb_open_lease(&mut self, open: u64, client: u8, key: u8, state: LeaseState) -> Outcome {
        let mut c = SmbCreate::new(
            F,
            OpenId(open),
            guid(client),
            access::READ_DATA | access::WRITE_DATA,
            share::ALL,
        );
        c.cache = CacheRequest::Lease {
            key: lkey(key),
            state,
            version: LeaseVersion::V2 { parent: None },
        };
        self.t.smb_create(c, self.now)
    }
    pub fn smb_open_oplock(&mut self, open: u64, client: u8, level: OplockLevel) -> Outcome {
        let mut c = SmbCreate::new(
            F,
            OpenId(open),
            guid(client),
            access::READ_DATA | access::WRITE_DATA,
            share::ALL,
        );
        c.cache = CacheRequest::Oplock(level);
        self.t.smb_create(c, self.now)
    }
    pub fn smb_lock(
        &mut self,
        open: u64,
        offset: u64,
        length: u64,
        excl: bool,
        fail: bool,
    ) -> Outcome {
        self.t.smb_lock(
            SmbLockArgs {
                open: OpenId(open),
                offset,
                length,
                exclusive: excl,
                fail_immediately: fail,
            },
            self.now,
        )
    }
    pub fn ack(&mut self, client: u8, key: u8, state: LeaseState) -> Result<LeaseState, AckError> {
        self.t
            .smb_lease_break_ack(guid(client), lkey(key), state, self.now)
    }
    pub fn lease(&self, client: u8, key: u8) -> LeaseView {
        self.t
            .lease_view(CacheKey::Lease(guid(client), lkey(key)))
            .expect("lease exists")
    }
    /// Completion events for a ticket among the events drained so far.
    pub fn completion(&mut self, ticket: Ticket) -> Option<Outcome> {
        self.drain();
        self.events.iter().find_map(|e| match e {
            Event::Completed {
                ticket: t, outcome, ..
            } if *t == ticket => Some(outcome.clone()),
            _ => None,
        })
    }
}

pub fn guid(n: u8) -> ClientGuid {
    ClientGuid([n; 16])
}
pub fn lkey(n: u8) -> LeaseKey {
    LeaseKey([n; 16])
}
pub fn owner(host: &str, svid: i32) -> NlmOwner {
    NlmOwner::new(host, svid, format!("{host}-{svid}").into_bytes())
}
pub fn granted_lease(o: &Outcome) -> LeaseState {
    match o {
        Outcome::Opened(OpenGrant { lease: Some(l), .. }) => l.state,
        other => panic!("expected an open with a lease, got {other:?}"),
    }
}
pub fn ticket(o: &Outcome) -> Ticket {
    o.ticket()
        .unwrap_or_else(|| panic!("expected Wait, got {o:?}"))
}
