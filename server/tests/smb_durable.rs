//! Durable handles through `server::Core` (MS-SMB2 §3.3.5.9.6/.7/.10/.12, §3.3.7.1): the
//! grant conditions, a connection loss and the reconnect, the scavenger, the checks of a
//! reconnect, an undeliverable break, and a restart with reclaim in grace. Virtual time; the
//! journal is kept by the test and reported durable at once, as a runtime would after its
//! `fdatasync`.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use lockstate::{Outcome, SmbLockArgs};
use proto_smb2::client;
use proto_smb2::cmd::create_context::{RequestContext, ResponseContext};
use proto_smb2::cmd::negotiate::dialect;
use proto_smb2::cmd::*;
use proto_smb2::{Command, NtStatus};
use server::{Core, CoreConfig, ShareBackend, SmbRequest, SmbSubmit};
use vfs::memory::MemoryFs;
use vfs::Vfs;

mod support;

use support::smb::{self, recv, statuses, Resp};

const GENERIC_READ: u32 = 0x8000_0000;
const GENERIC_WRITE: u32 = 0x4000_0000;
const OPEN_IF: u32 = 3;
const DIRECTORY_FILE: u32 = 1;
const BATCH: u8 = 0x09;
const LEVEL_II: u8 = 0x01;
const STATUS_DUPLICATE_OBJECTID: NtStatus = NtStatus(0xC000_022A);

/// A core, its file system, the journal it wrote, and the virtual time.
struct World {
    core: Core,
    fs: Arc<MemoryFs>,
    journal: Vec<Vec<u8>>,
    now: Instant,
}

fn config() -> CoreConfig {
    smb::config(
        vec![smb::share(1, "export", false)],
        smb::users(&[("alice", 1000), ("bob", 1001)]),
    )
}

impl World {
    fn new() -> World {
        let now = support::start_of_time();
        let fs = smb::memory_fs();
        let core = Self::boot(&fs, vec![], true, now);
        World {
            core,
            fs,
            journal: Vec::new(),
            now,
        }
    }

    fn boot(fs: &Arc<MemoryFs>, journal: Vec<Vec<u8>>, clean: bool, now: Instant) -> Core {
        let backends = vec![ShareBackend {
            share_id: 1,
            vfs: fs.clone(),
        }];
        smb::boot(config(), backends, journal, clean, now)
    }

    /// A crash (`kill -9`) and a start over the same journal and files.
    fn restart(&mut self) {
        self.settle();
        self.now += Duration::from_secs(1);
        self.core = Self::boot(&self.fs, self.journal.clone(), false, self.now);
        self.settle();
    }

    /// Runs the jobs and makes every journal record durable, until nothing moves.
    fn settle(&mut self) {
        loop {
            let mut any = false;
            while let Some(job) = self.core.poll_job() {
                any = true;
                let mut done = job.run();
                assert!(done.take_follow_up().is_none());
                self.core.handle_job_done(done, self.now);
            }
            let mut last = None;
            while let Some((seq, rec)) = self.core.poll_journal_append() {
                self.journal.push(rec);
                last = Some(seq);
            }
            if let Some(seq) = last {
                any = true;
                self.core.handle_journal_durable(seq, self.now);
            }
            if !any {
                return;
            }
        }
    }

    /// Time passes; timers fire.
    fn advance(&mut self, d: Duration) {
        let until = self.now + d;
        while let Some(t) = self.core.poll_timeout().filter(|t| *t <= until) {
            self.now = self.now.max(t);
            self.core.handle_timeout(self.now);
            self.settle();
        }
        self.now = until;
        self.core.handle_timeout(until);
        self.settle();
    }
}

/// One SMB client connection of a [`World`]: the shared client, whose requests settle the
/// world (jobs and journal) rather than only run the jobs.
struct Client {
    smb: smb::Client,
    /// Unsolicited break notifications received (MessageId 0xFFFFFFFFFFFFFFFF).
    breaks: Vec<Resp>,
}

impl Deref for Client {
    type Target = smb::Client;
    fn deref(&self) -> &smb::Client {
        &self.smb
    }
}

impl DerefMut for Client {
    fn deref_mut(&mut self) -> &mut smb::Client {
        &mut self.smb
    }
}

impl Client {
    /// Connection `id`, ClientGuid `[guid; 16]`, logged on as `user` with SMB 3.0.2, on
    /// share `export`.
    fn ready(w: &mut World, id: u64, guid: u8, user: &str) -> Client {
        let mut c = smb::Client::connect(&mut w.core, id, w.now);
        c.negotiate(&mut w.core, w.now, dialect::SMB302, 0, [guid; 16]);
        assert_eq!(
            c.session_setup(&mut w.core, w.now, user, &smb::password(user)),
            NtStatus::SUCCESS
        );
        assert_eq!(c.tree(&mut w.core, w.now, "export"), NtStatus::SUCCESS);
        w.settle();
        Client {
            smb: c,
            breaks: Vec::new(),
        }
    }

    fn send(&mut self, w: &mut World, command: Command, body: impl FnOnce(&mut Vec<u8>)) {
        let m = self.smb.build(command, body);
        self.smb.send(&mut w.core, w.now, &m);
        w.settle();
    }

    fn call(&mut self, w: &mut World, command: Command, body: impl FnOnce(&mut Vec<u8>)) -> Resp {
        self.send(w, command, body);
        let (breaks, mut r): (Vec<Resp>, Vec<Resp>) = recv(&mut w.core, self.conn)
            .into_iter()
            .partition(|r| r.header.message_id == u64::MAX);
        self.breaks.extend(breaks);
        assert_eq!(r.len(), 1, "one response");
        r.remove(0)
    }

    /// Sends CREATE `req` and returns what came back at once: an interim response, the
    /// final one, or both.
    fn start_create(&mut self, w: &mut World, req: &CreateRequest) -> Vec<Resp> {
        self.send(w, Command::CREATE, |o| req.encode(o));
        recv(&mut w.core, self.conn)
    }

    fn create(&mut self, w: &mut World, req: &CreateRequest) -> Result<CreateResponse, NtStatus> {
        let r = self.call(w, Command::CREATE, |o| req.encode(o));
        if r.header.status != NtStatus::SUCCESS {
            return Err(r.header.status);
        }
        Ok(CreateResponse::decode(&r.msg).unwrap())
    }

    fn close(&mut self, w: &mut World, f: FileId) -> NtStatus {
        self.call(w, Command::CLOSE, |o| {
            CloseRequest {
                flags: 0,
                file_id: f,
            }
            .encode(o)
        })
        .header
        .status
    }

    fn write(&mut self, w: &mut World, f: FileId, data: &[u8]) -> NtStatus {
        let req = WriteRequest {
            offset: 0,
            file_id: f,
            channel: 0,
            remaining_bytes: 0,
            channel_info: Vec::new(),
            flags: 0,
            data: Bytes::copy_from_slice(data),
        };
        self.call(w, Command::WRITE, |o| req.encode(o))
            .header
            .status
    }

    fn read(&mut self, w: &mut World, f: FileId, len: u32) -> Result<Vec<u8>, NtStatus> {
        let req = ReadRequest {
            padding: 0x50,
            flags: 0,
            length: len,
            offset: 0,
            file_id: f,
            minimum_count: 0,
            channel: 0,
            remaining_bytes: 0,
            channel_info: Vec::new(),
        };
        let r = self.call(w, Command::READ, |o| req.encode(o));
        if r.header.status != NtStatus::SUCCESS {
            return Err(r.header.status);
        }
        Ok(ReadResponse::decode(&Bytes::from(r.msg))
            .unwrap()
            .data
            .to_vec())
    }

    /// The TCP connection dies.
    fn drop_connection(self, w: &mut World) {
        w.core.handle_conn_closed(self.conn, w.now);
        w.settle();
    }
}

fn open_req(name: &str, share: u32, oplock: u8, ctx: Vec<RequestContext>) -> CreateRequest {
    let mut r = client::create_request(name, GENERIC_READ | GENERIC_WRITE, share, OPEN_IF, 0);
    r.requested_oplock_level = oplock;
    r.contexts = ctx.iter().map(RequestContext::to_context).collect();
    r
}

fn dhnq() -> RequestContext {
    RequestContext::DurableHandleRequest
}

fn dh2q(guid: u8, flags: u32) -> RequestContext {
    RequestContext::DurableHandleRequestV2 {
        timeout: 0,
        flags,
        create_guid: [guid; 16],
    }
}

fn dhnc(f: FileId) -> RequestContext {
    RequestContext::DurableHandleReconnect(f)
}

fn dh2c(f: FileId, guid: u8) -> RequestContext {
    RequestContext::DurableHandleReconnectV2 {
        file_id: f,
        create_guid: [guid; 16],
        flags: 0,
    }
}

/// OplockLevel SMB2_OPLOCK_LEVEL_LEASE.
const LEASE: u8 = 0xFF;

/// A v2 lease request for RWH under `[key; 16]`.
fn lease(key: u8) -> RequestContext {
    RequestContext::Lease(proto_smb2::cmd::create_context::LeaseRequest {
        lease_key: [key; 16],
        lease_state: 7,
        flags: 0,
        v2: Some(([0; 16], 0)),
    })
}

/// The (key, state) of the lease of a CREATE response, if any.
fn lease_of(r: &CreateResponse) -> Option<([u8; 16], u32)> {
    r.contexts
        .iter()
        .find_map(|c| match ResponseContext::parse(c).unwrap() {
            Some(ResponseContext::Lease {
                lease_key,
                lease_state,
                ..
            }) => Some((lease_key, lease_state)),
            _ => None,
        })
}

/// The durable response context of a CREATE response, if any.
fn durable_of(r: &CreateResponse) -> Option<ResponseContext> {
    r.contexts.iter().find_map(|c| {
        ResponseContext::parse(c).unwrap().filter(|x| {
            matches!(
                x,
                ResponseContext::DurableHandle | ResponseContext::DurableHandleV2 { .. }
            )
        })
    })
}

#[test]
fn durable_is_granted_only_with_a_batch_oplock_and_never_persistent() {
    let mut w = World::new();
    let mut c = Client::ready(&mut w, 1, 1, "alice");
    // No oplock, Level II: the request is ignored (§3.3.5.9.6).
    for (i, level) in [0u8, LEVEL_II].into_iter().enumerate() {
        let r = c
            .create(&mut w, &open_req(&format!("f{i}"), 7, level, vec![dhnq()]))
            .unwrap();
        assert_eq!((r.oplock_level, durable_of(&r)), (level, None));
        assert_eq!(c.close(&mut w, r.file_id), NtStatus::SUCCESS);
    }
    let r = c
        .create(&mut w, &open_req("g", 7, BATCH, vec![dhnq()]))
        .unwrap();
    assert_eq!(r.oplock_level, BATCH);
    assert_eq!(durable_of(&r), Some(ResponseContext::DurableHandle));
    assert_eq!(w.core.smb_durable_count(), 1);
    assert_eq!(c.close(&mut w, r.file_id), NtStatus::SUCCESS);
    assert_eq!(w.core.smb_durable_count(), 0, "CLOSE ends durability");
    // v2: the timeout granted for 0 is 60 s; the persistent flag is not granted (no share
    // is continuously available).
    let r = c
        .create(&mut w, &open_req("h", 7, BATCH, vec![dh2q(1, 2)]))
        .unwrap();
    assert_eq!(
        durable_of(&r),
        Some(ResponseContext::DurableHandleV2 {
            timeout: 60_000,
            flags: 0
        })
    );
    // A second DH2Q with the same CreateGuid: not a replay, a duplicate (§3.3.5.9.10).
    assert_eq!(
        c.create(&mut w, &open_req("h2", 7, BATCH, vec![dh2q(1, 0)])),
        Err(STATUS_DUPLICATE_OBJECTID)
    );
    // The replay (SMB2_FLAGS_REPLAY_OPERATION) answers the same open again.
    c.flags = 0x2000_0000;
    let again = c
        .create(&mut w, &open_req("h", 7, BATCH, vec![dh2q(1, 0)]))
        .unwrap();
    assert_eq!(again.file_id, r.file_id);
    // DHnQ with DH2Q: refused.
    assert_eq!(
        c.create(&mut w, &open_req("i", 7, BATCH, vec![dhnq(), dh2q(2, 0)])),
        Err(NtStatus::INVALID_PARAMETER)
    );
    // A directory is never durable.
    let mut d = client::create_request("dir", GENERIC_READ, 7, OPEN_IF, DIRECTORY_FILE);
    d.requested_oplock_level = BATCH;
    d.contexts = vec![dhnq().to_context()];
    let r = c.create(&mut w, &d).unwrap();
    assert_eq!(durable_of(&r), None);
}

#[test]
fn a_durable_open_outlives_its_connection_and_is_reconnected() {
    let mut w = World::new();
    let mut c = Client::ready(&mut w, 1, 1, "alice");
    let r = c
        .create(&mut w, &open_req("f", 0, BATCH, vec![dhnq()]))
        .unwrap();
    let fid = r.file_id;
    assert_eq!(c.write(&mut w, fid, b"kept"), NtStatus::SUCCESS);
    c.drop_connection(&mut w);
    // The open, its oplock and its share mode stay in the lock table.
    let table = w.core.lock_table();
    let file = table.files()[0];
    assert_eq!(table.view(file).opens.len(), 1);
    assert_eq!(w.core.smb_durable_count(), 1);
    // The scavenger's deadline is the handle's timeout.
    assert_eq!(w.core.poll_timeout(), Some(w.now + Duration::from_secs(60)));
    w.advance(Duration::from_secs(30));
    let mut c = Client::ready(&mut w, 2, 1, "alice");
    let r = c
        .create(&mut w, &open_req("f", 0, BATCH, vec![dhnc(fid)]))
        .unwrap();
    assert_eq!(r.file_id, fid, "the same FileId");
    assert_eq!(r.create_action, 1, "FILE_OPENED");
    assert_eq!(r.oplock_level, BATCH);
    assert_eq!(
        durable_of(&r),
        None,
        "a reconnect's response has no durable context"
    );
    assert_eq!(r.info.end_of_file, 4);
    assert_eq!(c.read(&mut w, fid, 16).unwrap(), b"kept");
    // Still durable: a second loss is survived too, and the deadline is gone meanwhile.
    assert_eq!(w.core.poll_timeout(), None);
    c.drop_connection(&mut w);
    let mut c = Client::ready(&mut w, 3, 1, "alice");
    let r = c
        .create(&mut w, &open_req("f", 0, BATCH, vec![dhnc(fid)]))
        .unwrap();
    assert_eq!(r.file_id, fid);
    assert_eq!(c.close(&mut w, fid), NtStatus::SUCCESS);
    assert!(w.core.lock_table().files().is_empty());
}

#[test]
fn the_scavenger_closes_a_disconnected_open_at_its_timeout() {
    let mut w = World::new();
    let mut c = Client::ready(&mut w, 1, 1, "alice");
    let mut req = open_req("f", 0, BATCH, vec![]);
    req.contexts = vec![RequestContext::DurableHandleRequestV2 {
        timeout: 5_000,
        flags: 0,
        create_guid: [7; 16],
    }
    .to_context()];
    let r = c.create(&mut w, &req).unwrap();
    assert_eq!(
        durable_of(&r),
        Some(ResponseContext::DurableHandleV2 {
            timeout: 5_000,
            flags: 0
        })
    );
    c.drop_connection(&mut w);
    w.advance(Duration::from_millis(4_999));
    assert_eq!(w.core.smb_durable_count(), 1);
    w.advance(Duration::from_millis(1));
    assert_eq!(w.core.smb_durable_count(), 0);
    assert!(w.core.lock_table().files().is_empty(), "state released");
    assert_eq!(w.core.smb_open_count(), 0);
    let mut c = Client::ready(&mut w, 2, 1, "alice");
    assert_eq!(
        c.create(&mut w, &open_req("f", 0, BATCH, vec![dh2c(r.file_id, 7)])),
        Err(NtStatus::OBJECT_NAME_NOT_FOUND)
    );
}

#[test]
fn a_reconnect_is_checked_against_the_stored_open() {
    let mut w = World::new();
    let mut c = Client::ready(&mut w, 1, 1, "alice");
    let v1 = c
        .create(&mut w, &open_req("one", 7, BATCH, vec![dhnq()]))
        .unwrap()
        .file_id;
    let v2 = c
        .create(&mut w, &open_req("two", 7, BATCH, vec![dh2q(5, 0)]))
        .unwrap()
        .file_id;
    // Still connected: nothing to reconnect.
    assert_eq!(
        c.create(&mut w, &open_req("one", 7, BATCH, vec![dhnc(v1)])),
        Err(NtStatus::OBJECT_NAME_NOT_FOUND)
    );
    c.drop_connection(&mut w);
    let nf = Err(NtStatus::OBJECT_NAME_NOT_FOUND);
    // Another user of the same client: access denied.
    let mut bob = Client::ready(&mut w, 3, 1, "bob");
    assert_eq!(
        bob.create(&mut w, &open_req("one", 7, BATCH, vec![dhnc(v1)])),
        Err(NtStatus::ACCESS_DENIED)
    );
    let mut c = Client::ready(&mut w, 4, 1, "alice");
    let unknown = FileId {
        persistent: 999,
        volatile: 999,
    };
    assert_eq!(
        c.create(&mut w, &open_req("one", 7, BATCH, vec![dhnc(unknown)])),
        nf
    );
    // v2 with another CreateGuid, a v2 reconnect of a v1 open: not found. (A v1 reconnect
    // of a v2 open is allowed, smbtorture durable-v2-open.reopen2b.)
    assert_eq!(
        c.create(&mut w, &open_req("two", 7, BATCH, vec![dh2c(v2, 6)])),
        nf
    );
    assert_eq!(
        c.create(&mut w, &open_req("one", 7, BATCH, vec![dh2c(v1, 9)])),
        nf
    );
    // The failures changed nothing: the right reconnects succeed. An oplock's open may be
    // reconnected from another ClientGuid (MS-SMB2 compares it for leased opens only;
    // smbtorture durable-open.reopen1a does it).
    let mut other = Client::ready(&mut w, 5, 2, "alice");
    assert_eq!(
        other
            .create(&mut w, &open_req("one", 7, BATCH, vec![dhnc(v1)]))
            .unwrap()
            .file_id,
        v1
    );
    let r = c
        .create(&mut w, &open_req("two", 7, BATCH, vec![dh2c(v2, 5)]))
        .unwrap();
    assert_eq!(r.file_id, v2);
    assert_eq!(durable_of(&r), None);
    // Fields a reconnect ignores: a nonsense impersonation level and options.
    c.drop_connection(&mut w);
    let mut c = Client::ready(&mut w, 6, 1, "alice");
    let mut odd = open_req("whatever", 0x7777, 0x78, vec![dh2c(v2, 5)]);
    odd.impersonation_level = 0x1234_5678;
    odd.create_options = 0x1234_5678;
    odd.create_disposition = 0x1234_5678;
    assert_eq!(c.create(&mut w, &odd).unwrap().file_id, v2);
}

#[test]
fn logoff_keeps_a_durable_open_and_delete_on_close_does_not() {
    let mut w = World::new();
    let mut c = Client::ready(&mut w, 1, 1, "alice");
    let fid = c
        .create(&mut w, &open_req("f", 0, BATCH, vec![dhnq()]))
        .unwrap()
        .file_id;
    let mut doc = open_req("gone", 0, BATCH, vec![dhnq()]);
    doc.desired_access |= 0x0001_0000; // DELETE
    doc.create_options = 0x1000; // FILE_DELETE_ON_CLOSE
    let r = c.create(&mut w, &doc).unwrap();
    assert!(durable_of(&r).is_some(), "granted, as Samba does");
    // LOGOFF: the durable open stays for a reconnect (smbtorture durable-open.reopen4).
    assert_eq!(
        c.call(&mut w, Command::LOGOFF, |o| o
            .extend_from_slice(&[4, 0, 0, 0]))
            .header
            .status,
        NtStatus::SUCCESS
    );
    assert_eq!(
        w.core.smb_durable_count(),
        1,
        "the delete-on-close open was closed"
    );
    assert!(
        w.fs.lookup(&w.fs.root(), b"gone").is_err(),
        "and its file removed"
    );
    let mut c = Client::ready(&mut w, 2, 1, "alice");
    assert_eq!(
        c.create(&mut w, &open_req("f", 0, BATCH, vec![dhnc(fid)]))
            .unwrap()
            .file_id,
        fid
    );
}

#[test]
fn a_break_for_a_disconnected_open_closes_it_and_the_newcomer_proceeds() {
    let mut w = World::new();
    let mut a = Client::ready(&mut w, 1, 1, "alice");
    let fid = a
        .create(&mut w, &open_req("f", 0, BATCH, vec![dhnq()]))
        .unwrap()
        .file_id;
    a.drop_connection(&mut w);
    // Another client's open must break the Batch oplock; the break cannot be delivered, so
    // the durable open is closed and the newcomer gets Batch at once (smbtorture
    // durable-open.oplock).
    // (It went async on the break first: an interim STATUS_PENDING, then the answer.)
    let mut b = Client::ready(&mut w, 2, 2, "alice");
    let got = b.start_create(&mut w, &open_req("f", 0, BATCH, vec![dhnq()]));
    assert_eq!(statuses(&got), [NtStatus::PENDING, NtStatus::SUCCESS]);
    let r = CreateResponse::decode(&got[1].msg).unwrap();
    assert_eq!(r.oplock_level, BATCH);
    assert!(durable_of(&r).is_some());
    let mut a = Client::ready(&mut w, 3, 1, "alice");
    assert_eq!(
        a.create(&mut w, &open_req("f", 0, BATCH, vec![dhnc(fid)])),
        Err(NtStatus::OBJECT_NAME_NOT_FOUND)
    );
}

#[test]
fn after_a_restart_a_durable_open_is_reclaimed_in_grace() {
    let mut w = World::new();
    let mut c = Client::ready(&mut w, 1, 1, "alice");
    let fid = c
        .create(&mut w, &open_req("f", 0, BATCH, vec![dh2q(3, 0)]))
        .unwrap()
        .file_id;
    assert_eq!(c.write(&mut w, fid, b"before"), NtStatus::SUCCESS);
    // A byte-range lock of the durable open (SMB2 LOCK is the lock work's: taken through
    // the core's lock-table entry point, as the LOCK command does).
    let file = w.core.lock_table().files()[0];
    let open = w.core.lock_table().view(file).opens[0].open;
    assert!(w.core.lock_table().view(file).opens[0].durable);
    let lock = SmbRequest::Lock {
        file,
        args: SmbLockArgs {
            open,
            offset: 0,
            length: 10,
            exclusive: true,
            fail_immediately: true,
        },
    };
    assert_eq!(
        w.core.smb_request(lock, w.now),
        SmbSubmit::Done(Outcome::Proceed)
    );
    w.restart();
    assert!(w.core.in_grace());
    assert_eq!(w.core.smb_durable_count(), 1);
    // The open and its lock wait to be reclaimed: unreclaimed state of the file.
    assert_eq!(w.core.lock_table().view(file).unreclaimed, 2);
    // A newcomer meeting the unreclaimed open waits (STATUS_PENDING).
    let mut b = Client::ready(&mut w, 2, 2, "alice");
    let r = b.start_create(&mut w, &open_req("f", 7, 0, vec![]));
    assert_eq!(statuses(&r), [NtStatus::PENDING]);
    // The mismatched reclaims fail and change nothing.
    let mut x = Client::ready(&mut w, 3, 9, "bob");
    assert_eq!(
        x.create(&mut w, &open_req("f", 0, BATCH, vec![dh2c(fid, 3)])),
        Err(NtStatus::ACCESS_DENIED)
    );
    let mut c = Client::ready(&mut w, 4, 1, "alice");
    assert_eq!(
        c.create(&mut w, &open_req("f", 0, BATCH, vec![dh2c(fid, 4)])),
        Err(NtStatus::OBJECT_NAME_NOT_FOUND)
    );
    // The reclaim lets the newcomer's waiting CREATE run, which breaks the reclaimed Batch
    // oplock: the client gets its CREATE response first, then the break of the FileId it
    // names (a client ignores a break for a FileId it does not know yet).
    let mut rs = c.start_create(&mut w, &open_req("f", 0, BATCH, vec![dh2c(fid, 3)]));
    assert_eq!(
        rs.iter()
            .map(|r| (r.header.command, r.header.message_id == u64::MAX))
            .collect::<Vec<_>>(),
        [(Command::CREATE, false), (Command::OPLOCK_BREAK, true)],
        "the reconnect's response before the break"
    );
    c.breaks.push(rs.remove(1));
    assert_eq!(rs[0].status(), NtStatus::SUCCESS);
    let r = CreateResponse::decode(&rs[0].msg).unwrap();
    assert_eq!((r.file_id, r.oplock_level), (fid, BATCH));
    assert_eq!(c.read(&mut w, fid, 16).unwrap(), b"before");
    assert!(!w.core.in_grace(), "everything reclaimed: grace ends early");
    // The lock came back with the open.
    let v = w.core.lock_table().view(file);
    assert_eq!((v.opens.len(), v.locks.len()), (1, 1));
    assert_eq!(
        v.locks[0].holder.who,
        lockstate::HolderKind::Smb {
            client: lockstate::ClientGuid([1; 16]),
            open
        }
    );
    // A new open gets a FileId of its own, not the restored one.
    let g = c
        .create(&mut w, &open_req("g", 7, 0, vec![]))
        .unwrap()
        .file_id;
    assert_ne!(g.volatile, fid.volatile);
    // The newcomer's CREATE now meets the reclaimed open's share mode (deny all): its Batch
    // oplock is broken first (the reclaiming client is told; unacknowledged, the break
    // times out after 35 s), then the share check refuses.
    assert_eq!(
        c.breaks
            .iter()
            .map(|r| r.header.command)
            .collect::<Vec<_>>(),
        [Command::OPLOCK_BREAK]
    );
    w.advance(Duration::from_secs(36));
    let r = recv(&mut w.core, b.conn);
    assert_eq!(statuses(&r), [NtStatus::SHARING_VIOLATION]);
}

#[test]
fn an_unreclaimed_open_holds_newcomers_until_grace_ends() {
    let mut w = World::new();
    let mut c = Client::ready(&mut w, 1, 1, "alice");
    let fid = c
        .create(&mut w, &open_req("f", 0, BATCH, vec![dhnq()]))
        .unwrap()
        .file_id;
    w.restart();
    let mut b = Client::ready(&mut w, 2, 2, "alice");
    assert_eq!(
        b.start_create(&mut w, &open_req("f", 7, 0, vec![]))[0]
            .header
            .status,
        NtStatus::PENDING
    );
    w.advance(Duration::from_secs(89));
    assert!(recv(&mut w.core, b.conn).is_empty(), "still waiting");
    w.advance(Duration::from_secs(1));
    assert!(!w.core.in_grace());
    let r = recv(&mut w.core, b.conn);
    assert_eq!(r[0].header.status, NtStatus::SUCCESS, "grace ended");
    // The open was not reclaimed: it is gone, and so is its durable record.
    assert_eq!(w.core.smb_durable_count(), 0);
    let mut c = Client::ready(&mut w, 3, 1, "alice");
    assert_eq!(
        c.create(&mut w, &open_req("f", 0, BATCH, vec![dhnc(fid)])),
        Err(NtStatus::OBJECT_NAME_NOT_FOUND)
    );
    // A later restart finds nothing to reclaim.
    w.restart();
    assert_eq!(w.core.smb_durable_count(), 0);
}

/// A durable open with an RWH lease, reclaimed after a restart: the reclaim must name the
/// lease key (a wrong one, or none, is refused) and comes from the same ClientGuid; the
/// response carries the lease as it was (MS-SMB2 §3.3.5.9.12).
#[test]
fn a_leased_durable_open_is_reclaimed_with_its_lease() {
    let mut w = World::new();
    let mut c = Client::ready(&mut w, 1, 1, "alice");
    let r = c
        .create(&mut w, &open_req("f", 7, LEASE, vec![lease(4), dh2q(3, 0)]))
        .unwrap();
    assert_eq!(lease_of(&r), Some(([4; 16], 7)));
    assert!(durable_of(&r).is_some(), "an H lease allows durability");
    let fid = r.file_id;
    w.restart();
    // Another ClientGuid, a wrong lease key, no lease: not found. The wrong file name with
    // the right key: invalid parameter (a leased open's name is checked).
    let mut x = Client::ready(&mut w, 2, 9, "alice");
    let nf = Err(NtStatus::OBJECT_NAME_NOT_FOUND);
    assert_eq!(
        x.create(
            &mut w,
            &open_req("f", 7, LEASE, vec![lease(4), dh2c(fid, 3)])
        ),
        nf
    );
    let mut c = Client::ready(&mut w, 3, 1, "alice");
    assert_eq!(
        c.create(
            &mut w,
            &open_req("f", 7, LEASE, vec![lease(5), dh2c(fid, 3)])
        ),
        nf
    );
    assert_eq!(
        c.create(&mut w, &open_req("f", 7, LEASE, vec![dh2c(fid, 3)])),
        nf
    );
    assert_eq!(
        c.create(
            &mut w,
            &open_req("g", 7, LEASE, vec![lease(4), dh2c(fid, 3)])
        ),
        Err(NtStatus::INVALID_PARAMETER)
    );
    let r = c
        .create(
            &mut w,
            &open_req("f", 7, LEASE, vec![lease(4), dh2c(fid, 3)]),
        )
        .unwrap();
    assert_eq!(r.file_id, fid);
    assert_eq!(r.oplock_level, LEASE);
    assert_eq!(lease_of(&r), Some(([4; 16], 7)), "the lease as it was");
    assert!(!w.core.in_grace());
}

/// Any break a disconnected durable open would have to receive closes it, even one that
/// would leave H (RWH → RH for another client's read open), as Windows and Samba do
/// (smbtorture durable-open.lease: the newcomer gets the full RWH lease and the old handle
/// cannot be reconnected).
#[test]
fn a_disconnected_leased_open_is_closed_by_any_break() {
    let mut w = World::new();
    let mut a = Client::ready(&mut w, 1, 1, "alice");
    let fid = a
        .create(&mut w, &open_req("f", 7, LEASE, vec![lease(4), dh2q(3, 0)]))
        .unwrap()
        .file_id;
    a.drop_connection(&mut w);
    // Another client asks for RWH too, sharing everything: the disconnected lease must be
    // broken, cannot be told, and its open is closed; the newcomer gets RWH.
    let mut b = Client::ready(&mut w, 2, 2, "alice");
    let got = b.start_create(&mut w, &open_req("f", 7, LEASE, vec![lease(5)]));
    let last = got.last().unwrap();
    assert_eq!(last.header.status, NtStatus::SUCCESS);
    assert_eq!(
        lease_of(&CreateResponse::decode(&last.msg).unwrap()).map(|l| l.1),
        Some(7)
    );
    assert_eq!(w.core.smb_durable_count(), 0);
    let mut a = Client::ready(&mut w, 3, 1, "alice");
    assert_eq!(
        a.create(
            &mut w,
            &open_req("f", 7, LEASE, vec![lease(4), dh2c(fid, 3)])
        ),
        Err(NtStatus::OBJECT_NAME_NOT_FOUND)
    );
}

/// LOCK of `f` with one element; its status.
fn lock_status(
    c: &mut Client,
    w: &mut World,
    f: FileId,
    offset: u64,
    length: u64,
    flags: u32,
) -> NtStatus {
    let req = LockRequest {
        lock_sequence: 0,
        file_id: f,
        locks: vec![lock::LockElement {
            offset,
            length,
            flags,
        }],
    };
    c.call(w, Command::LOCK, |o| req.encode(o)).header.status
}

#[test]
fn a_durable_open_s_lock_comes_back_with_its_reclaim_in_grace() {
    const X_NOW: u32 = lock::lock_flags::EXCLUSIVE_LOCK | lock::lock_flags::FAIL_IMMEDIATELY;
    let mut w = World::new();
    let mut c = Client::ready(&mut w, 1, 1, "alice");
    // An RH lease (H: durable allowed), sharing read and write: another client's open of
    // the file conflicts with neither once the open is reclaimed.
    let rh = || {
        RequestContext::Lease(LeaseRequest {
            lease_key: [7; 16],
            lease_state: 3,
            flags: 0,
            v2: Some(([0; 16], 0)),
        })
    };
    let fid = c
        .create(&mut w, &open_req("f", 3, 0xFF, vec![rh(), dh2q(3, 0)]))
        .unwrap()
        .file_id;
    assert_eq!(
        lock_status(&mut c, &mut w, fid, 0, 10, X_NOW),
        NtStatus::SUCCESS
    );
    // A second durable open that is never reclaimed keeps the grace period going.
    c.create(&mut w, &open_req("g", 0, BATCH, vec![dh2q(4, 0)]))
        .unwrap();
    w.restart();
    assert!(w.core.in_grace());
    // Another client's open of f waits while f has unreclaimed state (its open and lock).
    let mut b = Client::ready(&mut w, 2, 2, "alice");
    let r = b.start_create(&mut w, &open_req("f", 3, 0, vec![]));
    assert_eq!(statuses(&r), [NtStatus::PENDING]);
    // The reclaim brings the open and its lock back; the waiting open then completes.
    let mut c = Client::ready(&mut w, 3, 1, "alice");
    let r = c
        .create(&mut w, &open_req("f", 3, 0xFF, vec![rh(), dh2c(fid, 3)]))
        .unwrap();
    assert_eq!(r.file_id, fid);
    assert!(w.core.in_grace(), "g is still unreclaimed");
    let r = recv(&mut w.core, b.conn);
    assert_eq!(statuses(&r), [NtStatus::SUCCESS]);
    let bf = CreateResponse::decode(&r[0].msg).unwrap().file_id;
    assert_eq!(
        lock_status(&mut b, &mut w, bf, 0, 10, X_NOW),
        NtStatus(0xC000_0055),
        "the reclaimed lock holds its range: STATUS_LOCK_NOT_GRANTED"
    );
    assert_eq!(
        lock_status(&mut c, &mut w, fid, 0, 10, lock::lock_flags::UNLOCK),
        NtStatus::SUCCESS
    );
    assert_eq!(
        lock_status(&mut b, &mut w, bf, 0, 10, X_NOW),
        NtStatus::SUCCESS
    );
}
