//! Leases and oplocks on the SMB side: what a CREATE asks for and is answered, break
//! notifications sent to the owning client, and break acknowledgments. Every decision is
//! the lock table's (`lockstate`: MS-FSA 2.1.5.17–18 grants, the break state machine, the
//! break timeout); this module only translates between the wire and the table.
//!
//! - CREATE (MS-SMB2 §3.3.5.9, §3.3.5.9.8, §3.3.5.9.11): [`cache_ask`] reads
//!   RequestedOplockLevel and the RqLs context (v1, or v2 on 3.x with its Epoch and
//!   ParentLeaseKey) into a [`CacheRequest`]; [`create_answer`] turns the table's
//!   [`OpenGrant`] into the response's OplockLevel and lease context (state, epoch,
//!   SMB2_LEASE_FLAG_BREAK_IN_PROGRESS, the parent key echoed). A lease key already used by
//!   the client on another file is the table's `Deny::LeaseKeyInUse`:
//!   STATUS_INVALID_PARAMETER (§3.3.5.9.8). A directory gets a lease only on 3.x
//!   (SMB2_GLOBAL_CAP_DIRECTORY_LEASING) and never W (§3.3.5.9.11, the table's rule).
//! - Breaks (§3.3.4.6 oplocks, §3.3.4.7 leases): the table's `Event::Break` is sent as an
//!   unsolicited notification ([`proto_smb2::server::Connection::send_break`]): an oplock
//!   break on its open's connection, a lease break on the client's oldest connection (as
//!   Samba), encrypted as the open's session is. A break nobody can be told of (the client
//!   has no connection) is
//!   completed as acknowledged to NONE, as §3.3.4.6/§3.3.4.7 treat an open without a
//!   connection; a *durable* open whose connection is gone is the durable-handle code's
//!   ([`Core::smb_break_undeliverable`] is the hook).
//! - Acknowledgments (§3.3.5.22.1 oplock, §3.3.5.22.2 lease): the table validates; its
//!   [`AckError`]s become the statuses the sections name.

use std::time::Instant;

use lockstate::{
    AckError, BreakNotice, CacheKey, CacheRequest, ClientGuid, LeaseKey, LeaseState, LeaseVersion,
    OpenGrant, OplockLevel,
};
use proto_smb2::cmd::create_context::{LeaseRequest, ResponseContext};
use proto_smb2::cmd::negotiate::dialect;
use proto_smb2::cmd::OplockBreak;
use proto_smb2::server::Reply;
use proto_smb2::NtStatus;

use super::{body, smb_file_id, Ctx};
use crate::Core;

/// STATUS_UNSUCCESSFUL.
const STATUS_UNSUCCESSFUL: NtStatus = NtStatus(0xC000_0001);
/// STATUS_INVALID_OPLOCK_PROTOCOL.
const STATUS_INVALID_OPLOCK_PROTOCOL: NtStatus = NtStatus(0xC000_00E3);

/// RequestedOplockLevel / OplockLevel values (MS-SMB2 §2.2.13, §2.2.14).
pub(crate) mod level {
    /// SMB2_OPLOCK_LEVEL_NONE.
    pub const NONE: u8 = 0x00;
    /// SMB2_OPLOCK_LEVEL_II.
    pub const II: u8 = 0x01;
    /// SMB2_OPLOCK_LEVEL_EXCLUSIVE.
    pub const EXCLUSIVE: u8 = 0x08;
    /// SMB2_OPLOCK_LEVEL_BATCH.
    pub const BATCH: u8 = 0x09;
    /// SMB2_OPLOCK_LEVEL_LEASE.
    pub const LEASE: u8 = 0xFF;
}

/// SMB2_LEASE_FLAG_BREAK_IN_PROGRESS (§2.2.14.2.10).
const LEASE_FLAG_BREAK_IN_PROGRESS: u32 = 0x02;
/// SMB2_LEASE_FLAG_PARENT_LEASE_KEY_SET (§2.2.13.2.10).
const LEASE_FLAG_PARENT_LEASE_KEY_SET: u32 = 0x04;
/// SMB2_NOTIFY_BREAK_LEASE_FLAG_ACK_REQUIRED (§2.2.23.2).
const NOTIFY_BREAK_ACK_REQUIRED: u32 = 0x01;

/// What a CREATE asked for, kept until its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CacheAsk {
    /// For the lock table.
    pub cache: CacheRequest,
    /// The lease asked for (answered with a lease context in the request's version).
    pub lease: Option<LeaseAsk>,
}

/// A lease request as the response echoes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LeaseAsk {
    /// LeaseKey.
    pub key: [u8; 16],
    /// A v2 request on 3.x: its ParentLeaseKey if SMB2_LEASE_FLAG_PARENT_LEASE_KEY_SET.
    pub v2: Option<Option<[u8; 16]>>,
    /// The v2 Epoch.
    pub epoch: u16,
}

impl CacheAsk {
    /// Nothing asked.
    pub const NONE: CacheAsk = CacheAsk {
        cache: CacheRequest::None,
        lease: None,
    };

    /// The lease key of the requester's parent directory lease (v2), which a change it
    /// makes in that directory does not break (MS-FSA 2.1.4.12.2 PARENT_OBJECT).
    pub fn parent_key(&self, client: ClientGuid) -> Option<CacheKey> {
        self.lease?
            .v2?
            .map(|p| CacheKey::Lease(client, LeaseKey(p)))
    }
}

/// MS-SMB2 §3.3.5.9: the caching a CREATE asks for. A lease needs RequestedOplockLevel
/// SMB2_OPLOCK_LEVEL_LEASE with an RqLs context on 2.1 or later (§3.3.5.9.8: otherwise
/// the context is ignored); a v2 context counts as v2 on 3.x only. `directory`: a
/// directory is leased only where directory leasing was negotiated (`dir_leasing`,
/// SMB2_GLOBAL_CAP_DIRECTORY_LEASING); it gets no oplock (the table).
pub(crate) fn cache_ask(
    requested: u8,
    lease: Option<LeaseRequest>,
    conn_dialect: u16,
    directory: bool,
    dir_leasing: bool,
) -> CacheAsk {
    let oplock = |l| CacheAsk {
        cache: CacheRequest::Oplock(l),
        lease: None,
    };
    match requested {
        level::II => oplock(OplockLevel::LevelII),
        level::EXCLUSIVE => oplock(OplockLevel::Exclusive),
        level::BATCH => oplock(OplockLevel::Batch),
        level::LEASE if conn_dialect >= dialect::SMB210 && conn_dialect != 0x02FF => {
            let Some(l) = lease else {
                return CacheAsk::NONE;
            };
            let three = conn_dialect >= dialect::SMB300;
            if directory && !(three && dir_leasing) {
                return CacheAsk::NONE;
            }
            let v2 = match l.v2 {
                Some((parent, _)) if three => {
                    Some((l.flags & LEASE_FLAG_PARENT_LEASE_KEY_SET != 0).then_some(parent))
                }
                _ => None,
            };
            let epoch = match l.v2 {
                Some((_, e)) if three => e,
                _ => 0,
            };
            let version = match v2 {
                Some(parent) => LeaseVersion::V2 {
                    parent: parent.map(LeaseKey),
                },
                None => LeaseVersion::V1,
            };
            CacheAsk {
                cache: CacheRequest::Lease {
                    key: LeaseKey(l.lease_key),
                    // Only R, H and W mean anything (§2.2.13.2.8); the table keeps the
                    // valid states.
                    state: LeaseState((l.lease_state & 7) as u8),
                    version,
                },
                lease: Some(LeaseAsk {
                    key: l.lease_key,
                    v2,
                    epoch,
                }),
            }
        }
        _ => CacheAsk::NONE,
    }
}

/// The OplockLevel and lease context of a CREATE response for what the table granted
/// (§3.3.5.9.8, §3.3.5.9.11; §2.2.14.2.10/.11). The context has the layout of the lease as
/// it was created (v2 with its epoch and parent key, or v1), whatever version this request
/// used, as Windows and Samba answer (smbtorture smb2.lease.v2_epoch2/3).
pub(crate) fn create_answer(
    ask: &CacheAsk,
    grant: Option<&OpenGrant>,
) -> (u8, Option<ResponseContext>) {
    match (ask.lease, grant.and_then(|g| g.lease)) {
        (Some(l), Some(g)) => {
            let mut flags = if g.break_in_progress {
                LEASE_FLAG_BREAK_IN_PROGRESS
            } else {
                0
            };
            let v2 = match g.version {
                LeaseVersion::V2 { parent } => {
                    if parent.is_some() {
                        flags |= LEASE_FLAG_PARENT_LEASE_KEY_SET;
                    }
                    Some((parent.map_or([0; 16], |p| p.0), g.epoch))
                }
                LeaseVersion::V1 => None,
            };
            let ctx = ResponseContext::Lease {
                lease_key: l.key,
                lease_state: u32::from(g.state.0),
                flags,
                v2,
            };
            (level::LEASE, Some(ctx))
        }
        _ => {
            let l = match grant.and_then(|g| g.oplock) {
                Some(OplockLevel::LevelII) => level::II,
                Some(OplockLevel::Exclusive) => level::EXCLUSIVE,
                Some(OplockLevel::Batch) => level::BATCH,
                _ => level::NONE,
            };
            (l, None)
        }
    }
}

/// The wire OplockLevel of a break to `to`.
fn oplock_wire(to: LeaseState) -> u8 {
    match OplockLevel::from_lease(to) {
        OplockLevel::None => level::NONE,
        OplockLevel::LevelII => level::II,
        OplockLevel::Exclusive => level::EXCLUSIVE,
        OplockLevel::Batch => level::BATCH,
    }
}

impl Core {
    /// Whether the SMB side delivers this break: the lease or oplock belongs to an open
    /// of an SMB connection (breaks of opens made directly through `Core::smb_request`
    /// stay for `Core::poll_lock_event`), or SMB is being served at all (then a break
    /// of an open without a connection is the SMB side's to resolve).
    pub(super) fn smb_owns_break(&self, b: &BreakNotice) -> bool {
        if self.smb.served {
            return true;
        }
        match b.key {
            CacheKey::Oplock(open) => self.smb.opens.by_lock(open).is_some(),
            CacheKey::Lease(..) => self
                .nlm
                .table
                .lease_view(b.key)
                .is_some_and(|l| l.opens.iter().any(|o| self.smb.opens.by_lock(*o).is_some())),
        }
    }

    /// Sends a break notification to the client (MS-SMB2 §3.3.4.6 / §3.3.4.7). An oplock
    /// break goes on its open's connection, encrypted as its session is. A lease break goes
    /// on the client's oldest connection (the lowest connection id with its ClientGuid),
    /// where Samba sends it too (smbtorture smb2.lease.v2_complex1 waits for it there even
    /// when the lease's open is on another connection of the client), encrypted as the
    /// session of an open of the lease on that connection is, if it has one. Without a
    /// connection: [`Core::smb_break_undeliverable`].
    pub(super) fn smb_send_break(&mut self, b: BreakNotice, now: Instant) {
        let target = match b.key {
            CacheKey::Oplock(open) => self.smb.opens.by_lock(open).map(|(volatile, o)| {
                let n = OplockBreak::Oplock {
                    oplock_level: oplock_wire(b.to),
                    file_id: smb_file_id(volatile),
                };
                (o.conn, Some((o.session, o.tree)), n)
            }),
            CacheKey::Lease(client, key) => {
                let conn = self.smb.conns.iter().find_map(|(id, c)| {
                    (c.machine.client_guid() == Some(client.0)
                        && c.machine.dialect().is_some_and(|d| d >= dialect::SMB210))
                    .then_some(*id)
                });
                conn.map(|conn| {
                    let opens = self
                        .nlm
                        .table
                        .lease_view(b.key)
                        .map(|l| l.opens)
                        .unwrap_or_default();
                    let session = opens.iter().find_map(|o| {
                        let (_, o) = self.smb.opens.by_lock(*o)?;
                        (o.conn == conn).then_some((o.session, o.tree))
                    });
                    let n = OplockBreak::LeaseNotification {
                        new_epoch: b.epoch,
                        flags: if b.ack_required {
                            NOTIFY_BREAK_ACK_REQUIRED
                        } else {
                            0
                        },
                        lease_key: key.0,
                        current_lease_state: u32::from(b.from.0),
                        new_lease_state: u32::from(b.to.0),
                    };
                    (conn, session, n)
                })
            }
        };
        if let Some((conn, session, notification)) = target {
            if self.smb.reconnecting.contains_key(&conn) {
                // A durable reconnect on this connection has not been answered yet: the
                // client must learn the FileId before a break names it (a client drops a
                // break for a handle it does not know, and then never acknowledges it).
                self.smb.held_breaks.entry(conn).or_default().push(b);
                return;
            }
            if let Some(c) = self.smb.conns.get_mut(&conn) {
                match c.machine.send_break(&notification, session) {
                    Ok(()) => {
                        tracing::debug!(
                            conn = conn.0,
                            from = %b.from,
                            to = %b.to,
                            ack = b.ack_required,
                            "SMB break sent"
                        );
                        self.smb.dirty.insert(conn);
                        return;
                    }
                    Err(e) => tracing::debug!(conn = conn.0, error = %e, "SMB break not sent"),
                }
            }
        }
        self.smb_break_undeliverable(b, now);
    }

    /// A break no connection can carry (§3.3.4.6/§3.3.4.7: the open has no connection):
    /// completed at once as acknowledged to NONE, so nothing waits out the break timeout
    /// for a client that cannot answer. Breaks that need no acknowledgment already took
    /// effect in the table.
    ///
    /// Hook for durable handles: a disconnected durable open keeps its lease in the table
    /// while its client may reconnect; what happens to it on a break (MS-SMB2 §3.3.5.9.7,
    /// §3.3.4.7: closed if it would lose H) is decided there, before this default.
    pub(super) fn smb_break_undeliverable(&mut self, b: BreakNotice, now: Instant) {
        // Disconnected durable opens are closed instead (`durable`).
        if self.smb_durable_break_undeliverable(b.key, now) {
            return;
        }
        tracing::debug!(from = %b.from, to = %b.to, "SMB break without a connection: acknowledged to NONE");
        if !b.ack_required {
            return;
        }
        let r = match b.key {
            CacheKey::Oplock(open) => self
                .nlm
                .table
                .smb_oplock_break_ack(open, OplockLevel::None, now)
                .map(|_| ()),
            CacheKey::Lease(client, key) => self
                .nlm
                .table
                .smb_lease_break_ack(client, key, LeaseState::NONE, now)
                .map(|_| ()),
        };
        if let Err(e) = r {
            tracing::debug!(error = %e, "undeliverable break already over");
        }
    }

    /// An entry of directory `dir` was added, removed or renamed by SMB: the directory's
    /// leases are broken (R and H to NONE, MS-FSA 2.1.4.12.2 PARENT_OBJECT) except the
    /// lease `except` of the client that made the change (its v2 ParentLeaseKey, MS-SMB2
    /// §3.3.5.9.11). NFS changes do the same through the NFS side (O12).
    pub(super) fn smb_parent_changed(&mut self, dir: lockstate::FileId, except: Option<CacheKey>) {
        let now = self.now;
        self.nlm.table.parent_changed(dir, except, now);
    }

    /// OPLOCK_BREAK from the client: an Oplock Break Acknowledgment (§3.3.5.22.1) or a
    /// Lease Break Acknowledgment (§3.3.5.22.2), answered with the break response
    /// (§2.2.25.1 / §2.2.25.2) or the status the sections give.
    pub(super) fn smb_oplock_break(&mut self, ctx: &Ctx, req: OplockBreak, now: Instant) {
        match req {
            OplockBreak::Oplock {
                oplock_level,
                file_id,
            } => {
                let open = match self.smb_file(ctx, file_id.volatile) {
                    Ok(f) => f.lock_open,
                    Err(_) => return self.smb_error(ctx, NtStatus::FILE_CLOSED),
                };
                let t = &mut self.nlm.table;
                let breaking = t
                    .lease_view(CacheKey::Oplock(open))
                    .is_some_and(|l| l.breaking);
                // §3.3.5.22.1 answers an acknowledgment of an oplock that is not breaking
                // with STATUS_INVALID_DEVICE_STATE; Windows and Samba answer
                // STATUS_INVALID_OPLOCK_PROTOCOL (smbtorture smb2.oplock.levelii500: the
                // client acknowledges a break from Level II, which needs none). We follow
                // them.
                if !breaking {
                    return self.smb_error(ctx, STATUS_INVALID_OPLOCK_PROTOCOL);
                }
                let ack = match oplock_level {
                    level::NONE => Some(OplockLevel::None),
                    level::II => Some(OplockLevel::LevelII),
                    _ => None,
                };
                // §3.3.5.22.1: an acknowledgment to SMB2_OPLOCK_LEVEL_LEASE, or to a level
                // the break did not offer, ends the break at NONE and fails.
                let refused = |t: &mut lockstate::LockTable, status| {
                    let _ = t.smb_oplock_break_ack(open, OplockLevel::None, now);
                    status
                };
                let result = match ack {
                    None if oplock_level == level::LEASE => {
                        Err(refused(t, NtStatus::INVALID_PARAMETER))
                    }
                    None => Err(refused(t, STATUS_INVALID_OPLOCK_PROTOCOL)),
                    Some(l) => match t.smb_oplock_break_ack(open, l, now) {
                        Ok(l) => Ok(l),
                        Err(AckError::NotSubset) => Err(refused(t, STATUS_INVALID_OPLOCK_PROTOCOL)),
                        Err(_) => Err(STATUS_INVALID_OPLOCK_PROTOCOL),
                    },
                };
                match result {
                    Ok(l) => {
                        let resp = OplockBreak::Oplock {
                            oplock_level: oplock_wire(l.to_lease()),
                            file_id,
                        };
                        self.smb_reply(ctx, Reply::ok(body(|b| resp.encode(b))));
                    }
                    Err(s) => self.smb_error(ctx, s),
                }
            }
            OplockBreak::LeaseAck {
                lease_key,
                lease_state,
                ..
            } => {
                let client = self.smb_client_guid(ctx.conn);
                let state = LeaseState((lease_state & 7) as u8);
                let r = self
                    .nlm
                    .table
                    .smb_lease_break_ack(client, LeaseKey(lease_key), state, now);
                match r {
                    Ok(s) => {
                        let resp = OplockBreak::LeaseAck {
                            flags: 0,
                            lease_key,
                            lease_state: u32::from(s.0),
                            lease_duration: 0,
                        };
                        self.smb_reply(ctx, Reply::ok(body(|b| resp.encode(b))));
                    }
                    Err(e) => {
                        let s = match e {
                            AckError::NotFound => NtStatus::OBJECT_NAME_NOT_FOUND,
                            AckError::NotBreaking | AckError::TimedOut => STATUS_UNSUCCESSFUL,
                            AckError::NotSubset => NtStatus::REQUEST_NOT_ACCEPTED,
                        };
                        self.smb_error(ctx, s)
                    }
                }
            }
            // A notification layout from a client: malformed as a request.
            OplockBreak::LeaseNotification { .. } => {
                self.smb_error(ctx, NtStatus::INVALID_PARAMETER)
            }
        }
    }

    /// Connection.ClientGuid of `conn` as the lock table keys leases (all zeros for a
    /// connection that has none).
    pub(super) fn smb_client_guid(&self, conn: proto_nfs::server::ConnId) -> ClientGuid {
        ClientGuid(
            self.smb
                .conns
                .get(&conn)
                .and_then(|c| c.machine.client_guid())
                .unwrap_or([0; 16]),
        )
    }
}
