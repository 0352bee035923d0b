//! NFS obeys the lock table (docs/cross-protocol.md §4, rows 4–10; `server::nfs_locks`): real
//! NFSv3 calls go into the core over UDP (and TCP), SMB opens, leases and byte-range locks go
//! into the one table through the core's SMB entry points, and the tests watch the replies, the
//! jobs the core emits and the lock events it hands the SMB side. Virtual time throughout.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use lockstate::{
    access, share, BreakNotice, CacheKey, CacheRequest, ClientGuid, FileId, LeaseKey, LeaseState,
    LeaseVersion, OpenId, Outcome, SmbCreate, SmbLockArgs,
};
use proto_nfs::nfs3::*;
use server::{Core, CoreConfig, LockEvent, ShareBackend, SmbRequest, SmbSubmit};
use support::layer::{Hooks, Layered};
use support::*;
use vfs::memory::{MemoryFs, MemoryFsConfig, VirtualClock};
use vfs::{Caller, CreateHow, Handle, SetAttrs, Stability, Timestamp, Vfs};

const RW_DATA: u32 = access::READ_DATA | access::WRITE_DATA;

fn guid(n: u8) -> ClientGuid {
    ClientGuid([n; 16])
}

fn lkey(n: u8) -> LeaseKey {
    LeaseKey([n; 16])
}

fn name(s: &str) -> Filename3 {
    Filename3(Bytes::copy_from_slice(s.as_bytes()))
}

fn caller() -> Caller {
    Caller {
        uid: 1000,
        gid: 1000,
        gids: vec![],
    }
}

struct Rig {
    core: Core,
    vfs: Arc<MemoryFs>,
    root: Handle,
    now: Instant,
    xid: u32,
    procs: BTreeMap<u32, u32>,
    /// Replies seen, by xid.
    got: BTreeMap<u32, Nfs3Reply>,
    events: Vec<LockEvent>,
}

fn config(max_held: usize) -> CoreConfig {
    let mut c = base_config();
    c.limits.max_held_nfs = max_held;
    // `nfs_wait_ms` (T_nfs), not the 1 s default: the hold tests show it is the one read.
    c.nlm.nfs_wait = Duration::from_millis(400);
    c
}

impl Rig {
    fn new() -> Rig {
        Rig::with(config(1024), vec![], true)
    }

    fn with(config: CoreConfig, journal: Vec<Vec<u8>>, was_clean: bool) -> Rig {
        let fs = MemoryFs::with_virtual_clock(
            MemoryFsConfig {
                root_mode: 0o777,
                ..MemoryFsConfig::default()
            },
            VirtualClock::new(Timestamp {
                secs: 1_700_000_000,
                nsecs: 0,
            }),
        );
        let vfs = Arc::new(fs);
        let now = start_of_time();
        let core = Core::new(
            config,
            vec![ShareBackend {
                share_id: SHARE,
                vfs: Arc::clone(&vfs) as Arc<dyn Vfs>,
            }],
            journal,
            was_clean,
            now,
        )
        .unwrap();
        let root = vfs.root();
        let mut r = Rig {
            core,
            vfs,
            root,
            now,
            xid: 100,
            procs: BTreeMap::new(),
            got: BTreeMap::new(),
            events: Vec::new(),
        };
        r.collect();
        assert!(r.events.is_empty(), "no SMB request, no lock event");
        r
    }

    /// A regular file `name` in `dir` with 100 bytes.
    fn file_in(&self, dir: &Handle, name: &str) -> Handle {
        let (h, _) = self
            .vfs
            .create(
                dir,
                name.as_bytes(),
                CreateHow::Unchecked,
                &SetAttrs::default(),
                &caller(),
            )
            .unwrap();
        self.vfs
            .write(&h, 0, &[7; 100], Stability::FileSync)
            .unwrap();
        h
    }

    fn file(&self, name: &str) -> Handle {
        self.file_in(&self.root.clone(), name)
    }

    fn dir(&self, name: &str) -> Handle {
        let (h, _) = self
            .vfs
            .mkdir(&self.root, name.as_bytes(), &SetAttrs::default(), &caller())
            .unwrap();
        h
    }

    fn send(&mut self, c: &Nfs3Call) -> u32 {
        self.xid += 1;
        self.procs.insert(self.xid, c.procedure());
        send_nfs(&mut self.core, self.xid, c, self.now);
        self.collect();
        self.xid
    }

    /// Runs every job the core emits (internal lookups included) until it emits none.
    fn run(&mut self) {
        run_all(&mut self.core, self.now);
        self.collect();
    }

    fn collect(&mut self) {
        for r in replies(&mut self.core) {
            let p = self.procs[&r.xid];
            self.got.insert(r.xid, nfs_reply(&r, p));
        }
        while let Some(e) = self.core.poll_lock_event() {
            self.events.push(e);
        }
    }

    /// The status of `xid`'s reply, if it was sent.
    fn status(&mut self, xid: u32) -> Option<Nfs3Status> {
        self.collect();
        self.got.get(&xid).map(Nfs3Reply::status)
    }

    /// Sends `c`, runs the jobs, returns the status (None: held).
    fn call(&mut self, c: &Nfs3Call) -> (u32, Option<Nfs3Status>) {
        let x = self.send(c);
        self.run();
        (x, self.status(x))
    }

    fn breaks(&mut self) -> Vec<BreakNotice> {
        self.collect();
        let mut out = Vec::new();
        self.events.retain(|e| match e {
            LockEvent::Break(b) => {
                out.push(b.clone());
                false
            }
            _ => true,
        });
        out
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.core.handle_timeout(self.now);
        self.collect();
    }

    fn smb(&mut self, r: SmbRequest) -> SmbSubmit {
        let out = self.core.smb_request(r, self.now);
        self.collect();
        out
    }

    /// SMB client `client` opens `file` as open `open` with `acc`/`shr` and, if given, a
    /// lease of `lease` under key `client`.
    fn smb_open(
        &mut self,
        file: FileId,
        open: u64,
        client: u8,
        acc: u32,
        shr: u32,
        lease: Option<LeaseState>,
    ) -> Outcome {
        let mut c = SmbCreate::new(file, OpenId(open), guid(client), acc, shr);
        if let Some(state) = lease {
            c.cache = CacheRequest::Lease {
                key: lkey(client),
                state,
                version: LeaseVersion::V2 { parent: None },
            };
        }
        match self.smb(SmbRequest::Create {
            create: c,
            parent: None,
        }) {
            SmbSubmit::Done(o) => o,
            p => panic!("parked: {p:?}"),
        }
    }

    /// Client `client` holds a lease in `state` on `file` (through open `client`).
    fn lease(&mut self, file: FileId, client: u8, state: LeaseState) {
        let o = self.smb_open(
            file,
            u64::from(client),
            client,
            RW_DATA,
            share::ALL,
            Some(state),
        );
        match o {
            Outcome::Opened(g) => assert_eq!(g.lease.map(|l| l.state), Some(state)),
            o => panic!("{o:?}"),
        }
        assert!(self.breaks().is_empty());
    }

    fn smb_lock(&mut self, file: FileId, open: u64, offset: u64, length: u64, exclusive: bool) {
        let r = self.smb(SmbRequest::Lock {
            file,
            args: SmbLockArgs {
                open: OpenId(open),
                offset,
                length,
                exclusive,
                fail_immediately: true,
            },
        });
        assert_eq!(r, SmbSubmit::Done(Outcome::Proceed));
    }

    fn ack(&mut self, client: u8, state: LeaseState) {
        self.core
            .smb_lease_break_ack(guid(client), lkey(client), state, self.now)
            .unwrap();
        self.collect();
    }

    fn lease_state(&self, client: u8) -> LeaseState {
        self.core
            .lock_table()
            .lease_view(CacheKey::Lease(guid(client), lkey(client)))
            .unwrap()
            .state
    }

    fn waiters(&self, file: FileId) -> usize {
        self.core.lock_table().view(file).waiters.len()
    }
}

fn fid(h: &Handle) -> FileId {
    server::file_id(SHARE, &h.0)
}

fn fh(h: &Handle) -> FileHandle {
    FileHandle::new(SHARE, &h.0).unwrap()
}

fn dirop(dir: &Handle, n: &str) -> DirOpArgs3 {
    DirOpArgs3 {
        dir: fh(dir),
        name: name(n),
    }
}

fn read(h: &Handle, offset: u64, count: u32) -> Nfs3Call {
    Nfs3Call::Read(ReadArgs {
        file: fh(h),
        offset,
        count,
    })
}

fn write(h: &Handle, offset: u64, data: &'static [u8]) -> Nfs3Call {
    Nfs3Call::Write(WriteArgs {
        file: fh(h),
        offset,
        stable: StableHow::FileSync,
        data: Bytes::from_static(data),
    })
}

fn set_size(h: &Handle, size: u64) -> Nfs3Call {
    Nfs3Call::Setattr(SetattrArgs {
        object: fh(h),
        new_attributes: Sattr3 {
            size: Some(size),
            ..Sattr3::default()
        },
        guard: None,
    })
}

fn create(dir: &Handle, n: &str, how: CreateHow3) -> Nfs3Call {
    Nfs3Call::Create(CreateArgs {
        where_: dirop(dir, n),
        how,
    })
}

fn truncate(dir: &Handle, n: &str) -> Nfs3Call {
    create(
        dir,
        n,
        CreateHow3::Unchecked(Sattr3 {
            size: Some(0),
            ..Sattr3::default()
        }),
    )
}

fn remove(dir: &Handle, n: &str) -> Nfs3Call {
    Nfs3Call::Remove(RemoveArgs {
        object: dirop(dir, n),
    })
}

fn rename(from: &Handle, a: &str, to: &Handle, b: &str) -> Nfs3Call {
    Nfs3Call::Rename(RenameArgs {
        from: dirop(from, a),
        to: dirop(to, b),
    })
}

fn size_of(r: &Rig, h: &Handle) -> u64 {
    r.vfs.getattr(h).unwrap().size
}

// ---- no SMB state ----

#[test]
fn core_nfs_ops_without_table_state_are_served_without_lookups() {
    let mut r = Rig::new();
    let f = r.file("f");
    let g = r.file("g");
    let root = r.root.clone();
    assert_eq!(r.call(&read(&f, 0, 10)).1, Some(Nfs3Status::Ok));
    assert_eq!(r.call(&write(&f, 0, b"abc")).1, Some(Nfs3Status::Ok));
    assert_eq!(r.call(&set_size(&f, 50)).1, Some(Nfs3Status::Ok));
    assert_eq!(r.call(&truncate(&root, "f")).1, Some(Nfs3Status::Ok));
    assert_eq!(size_of(&r, &f), 0);
    assert_eq!(
        r.call(&rename(&root, "g", &root, "h")).1,
        Some(Nfs3Status::Ok)
    );
    assert_eq!(r.call(&remove(&root, "h")).1, Some(Nfs3Status::Ok));
    assert!(r.vfs.getattr(&g).is_err(), "removed");
    let s = r.core.nfs_lock_stats();
    assert_eq!(
        (s.lookups, s.holds, s.denied, s.jukebox, s.parked, s.held),
        (0, 0, 0, 0, 0, 0)
    );
    assert!(r.events.is_empty());
    assert!(r.core.lock_table().files().is_empty(), "no state was made");
}

// ---- Matrix A: byte-range locks and share modes ----

#[test]
fn core_nfs_io_vs_smb_byte_range_locks() {
    let mut r = Rig::new();
    let f = r.file("f");
    let root = r.root.clone();
    let id = fid(&f);
    // Open 1 holds a shared lock on 0..10, open 2 an exclusive lock on 20..30.
    assert!(r.smb_open(id, 1, 1, RW_DATA, share::ALL, None).is_success());
    assert!(r.smb_open(id, 2, 2, RW_DATA, share::ALL, None).is_success());
    r.smb_lock(id, 1, 0, 10, false);
    r.smb_lock(id, 2, 20, 10, true);
    // A4.SMB-S: a shared lock allows reads. A4.SMB-X: NFS3ERR_ACCES (O9).
    assert_eq!(r.call(&read(&f, 0, 10)).1, Some(Nfs3Status::Ok));
    assert_eq!(r.call(&read(&f, 25, 1)).1, Some(Nfs3Status::Acces));
    // A5.SMB-S and A5.SMB-X: writes into either lock: NFS3ERR_ACCES; the data is untouched.
    assert_eq!(r.call(&write(&f, 5, b"x")).1, Some(Nfs3Status::Acces));
    assert_eq!(r.call(&write(&f, 29, b"xy")).1, Some(Nfs3Status::Acces));
    assert_eq!(r.vfs.read(&f, 0, 100).unwrap().0, vec![7; 100]);
    // Outside both ranges: served.
    assert_eq!(r.call(&write(&f, 40, b"x")).1, Some(Nfs3Status::Ok));
    // A6.SMB-S/SMB-X: size changes are not checked against locks.
    assert_eq!(r.call(&set_size(&f, 90)).1, Some(Nfs3Status::Ok));
    // A10b.SMB-S/SMB-X: as row 6.
    assert_eq!(r.call(&truncate(&root, "f")).1, Some(Nfs3Status::Ok));
    assert_eq!(size_of(&r, &f), 0);
    assert_eq!(r.core.nfs_lock_stats().denied, 3);
    assert!(r.breaks().is_empty());
}

#[test]
fn core_nfs_remove_and_rename_source_ignore_smb_locks() {
    let mut r = Rig::new();
    let f = r.file("f");
    let g = r.file("g");
    let root = r.root.clone();
    for (h, open) in [(&f, 1), (&g, 2)] {
        assert!(r
            .smb_open(fid(h), open, open as u8, RW_DATA, share::ALL, None)
            .is_success());
        r.smb_lock(fid(h), open, 0, 10, open == 1);
    }
    // A7.SMB-S/SMB-X, A8.SMB-S/SMB-X: locks never block namespace operations (O10).
    assert_eq!(r.call(&remove(&root, "f")).1, Some(Nfs3Status::Ok));
    assert_eq!(
        r.call(&rename(&root, "g", &root, "g2")).1,
        Some(Nfs3Status::Ok)
    );
    assert!(r.core.nfs_lock_stats().lookups >= 3, "names were resolved");
    // The locks stay on the orphaned file (O10).
    assert_eq!(r.core.lock_table().view(fid(&f)).locks.len(), 1);
}

#[test]
fn core_nfs_ops_vs_smb_share_modes_get_acces() {
    let mut r = Rig::new();
    let root = r.root.clone();
    let f = r.file("f");
    let id = fid(&f);
    // An SMB open that shares nothing: every NFS access conflicts.
    assert!(r.smb_open(id, 1, 1, RW_DATA, 0, None).is_success());
    // A4.Share (deny-read), A5.Share (deny-write), A6.Share, A10b.Share.
    assert_eq!(r.call(&read(&f, 0, 1)).1, Some(Nfs3Status::Acces));
    assert_eq!(r.call(&write(&f, 0, b"x")).1, Some(Nfs3Status::Acces));
    assert_eq!(r.call(&set_size(&f, 1)).1, Some(Nfs3Status::Acces));
    assert_eq!(r.call(&truncate(&root, "f")).1, Some(Nfs3Status::Acces));
    // A7.Share, A8.Share: the open lacks FILE_SHARE_DELETE.
    assert_eq!(r.call(&remove(&root, "f")).1, Some(Nfs3Status::Acces));
    assert_eq!(
        r.call(&rename(&root, "f", &root, "f2")).1,
        Some(Nfs3Status::Acces)
    );
    assert_eq!(size_of(&r, &f), 100, "nothing changed");
    assert!(r.vfs.lookup(&root, b"f").is_ok());
    // A9.Share / A9.SMB-S / A9.SMB-X: rename over a target that has an open (with a lock)
    // and no lease to break: NFS3ERR_ACCES (MS-FSA 2.1.5.15.12).
    let t = r.file("t");
    r.file("src");
    assert!(r
        .smb_open(fid(&t), 2, 2, RW_DATA, share::ALL, None)
        .is_success());
    r.smb_lock(fid(&t), 2, 0, 1, false);
    r.smb_lock(fid(&t), 2, 10, 1, true);
    assert_eq!(
        r.call(&rename(&root, "src", &root, "t")).1,
        Some(Nfs3Status::Acces)
    );
    assert_eq!(r.vfs.lookup(&root, b"t").unwrap().0, t, "target kept");
    assert!(r.breaks().is_empty());
}

#[test]
fn core_nfs_remove_vs_share_mode_with_h_lease_breaks_h_then_acces() {
    let mut r = Rig::new();
    let root = r.root.clone();
    let f = r.file("f");
    // A7.Share with H (O5): an open without FILE_SHARE_DELETE that holds RH.
    let o = r.smb_open(
        fid(&f),
        1,
        1,
        access::READ_DATA,
        share::READ | share::WRITE,
        Some(LeaseState::RH),
    );
    assert!(o.is_success());
    let (x, st) = r.call(&remove(&root, "f"));
    assert_eq!(st, None, "held while H breaks");
    let b = r.breaks();
    assert_eq!(
        b.iter().map(|b| (b.from, b.to)).collect::<Vec<_>>(),
        vec![(LeaseState::RH, LeaseState::R)]
    );
    r.ack(1, LeaseState::R);
    r.run();
    assert_eq!(r.status(x), Some(Nfs3Status::Acces), "then the share check");
    assert!(r.vfs.lookup(&root, b"f").is_ok());
}

#[test]
fn core_nfs_create_guarded_over_existing_name_consults_no_state() {
    let mut r = Rig::new();
    let root = r.root.clone();
    let f = r.file("f");
    // A10a / B10a: even an exclusive lock, a deny-all open and an RWH lease change nothing.
    assert!(r
        .smb_open(fid(&f), 1, 1, RW_DATA, 0, Some(LeaseState::RWH))
        .is_success());
    r.smb_lock(fid(&f), 1, 0, 100, true);
    let guarded = create(&root, "f", CreateHow3::Guarded(Sattr3::default()));
    assert_eq!(r.call(&guarded).1, Some(Nfs3Status::Exist));
    let excl = create(&root, "f", CreateHow3::Exclusive(*b"verifier"));
    assert_eq!(r.call(&excl).1, Some(Nfs3Status::Exist));
    assert!(r.breaks().is_empty());
    assert_eq!(r.lease_state(1), LeaseState::RWH);
}

// ---- Matrix B: leases ----

#[derive(Debug, Clone, Copy, PartialEq)]
enum Exp {
    /// Served, no break.
    G,
    /// Break to the state without waiting; served at once.
    Nw(LeaseState),
    /// Break to the state; held until the ack, then served.
    W(LeaseState),
}

/// For each lease state: a fresh rig, client 9 holds the lease on file "f" (and on "t",
/// the rename target, when `on_target`), `op` is sent, and the outcome is checked against
/// `exp`; `done` checks the file system after the operation was served.
fn lease_row(
    exp: [(LeaseState, Exp); 4],
    on_target: bool,
    op: impl Fn(&Rig, &Handle) -> Nfs3Call,
    done: impl Fn(&Rig, &Handle),
) {
    for (held, e) in exp {
        let mut r = Rig::new();
        let f = r.file("f");
        r.file("src");
        let t = r.file("t");
        let leased = if on_target { &t } else { &f };
        r.lease(fid(leased), 9, held);
        let call = op(&r, &f);
        let (x, st) = r.call(&call);
        let b = r.breaks();
        match e {
            Exp::G => {
                assert_eq!(st, Some(Nfs3Status::Ok), "{held:?}");
                assert!(b.is_empty(), "{held:?}: no break: {b:?}");
                assert_eq!(r.lease_state(9), held);
            }
            Exp::Nw(to) => {
                assert_eq!(st, Some(Nfs3Status::Ok), "{held:?}: served at once");
                assert_eq!(b.len(), 1, "{held:?}: {b:?}");
                assert_eq!((b[0].from, b[0].to), (held, to));
                assert_eq!(b[0].ack_required, held != LeaseState::R);
            }
            Exp::W(to) => {
                assert_eq!(st, None, "{held:?}: held");
                assert_eq!(b.len(), 1, "{held:?}: {b:?}");
                assert_eq!((b[0].from, b[0].to, b[0].ack_required), (held, to, true));
                assert_eq!(r.waiters(fid(leased)), 1);
                assert!(r.core.has_calls_in_progress(server::NFS_UDP));
                r.ack(9, to);
                r.run();
                assert_eq!(
                    r.status(x),
                    Some(Nfs3Status::Ok),
                    "{held:?}: served after the ack"
                );
                assert_eq!(r.waiters(fid(leased)), 0);
            }
        }
        done(&r, &f);
    }
}

use LeaseState as L;

#[test]
fn core_b4_nfs_read_vs_leases() {
    lease_row(
        [
            (L::R, Exp::G),
            (L::RH, Exp::G),
            (L::RW, Exp::W(L::R)),
            (L::RWH, Exp::W(L::RH)),
        ],
        false,
        |_, f| read(f, 0, 10),
        |_, _| {},
    );
}

#[test]
fn core_b5_nfs_write_vs_leases() {
    lease_row(
        [
            (L::R, Exp::Nw(L::NONE)),
            (L::RH, Exp::Nw(L::NONE)),
            (L::RW, Exp::W(L::NONE)),
            (L::RWH, Exp::W(L::NONE)),
        ],
        false,
        |_, f| write(f, 0, b"new"),
        |r, f| assert_eq!(&r.vfs.read(f, 0, 3).unwrap().0, b"new"),
    );
}

#[test]
fn core_b6_nfs_set_size_vs_leases() {
    lease_row(
        [
            (L::R, Exp::Nw(L::NONE)),
            (L::RH, Exp::Nw(L::NONE)),
            (L::RW, Exp::W(L::NONE)),
            (L::RWH, Exp::W(L::NONE)),
        ],
        false,
        |_, f| set_size(f, 3),
        |r, f| assert_eq!(size_of(r, f), 3),
    );
}

#[test]
fn core_b7_nfs_remove_vs_leases() {
    lease_row(
        [
            (L::R, Exp::G),
            (L::RH, Exp::W(L::R)),
            (L::RW, Exp::G),
            (L::RWH, Exp::W(L::RW)),
        ],
        false,
        |r, _| remove(&r.root, "f"),
        |r, _| assert!(r.vfs.lookup(&r.root, b"f").is_err()),
    );
}

#[test]
fn core_b8_nfs_rename_source_vs_leases() {
    lease_row(
        [
            (L::R, Exp::G),
            (L::RH, Exp::W(L::R)),
            (L::RW, Exp::G),
            (L::RWH, Exp::W(L::RW)),
        ],
        false,
        |r, _| rename(&r.root, "f", &r.root, "f2"),
        |r, f| assert_eq!(&r.vfs.lookup(&r.root, b"f2").unwrap().0, f),
    );
}

#[test]
fn core_b9_nfs_rename_target_vs_leases() {
    lease_row(
        [
            (L::R, Exp::Nw(L::NONE)),
            (L::RH, Exp::Nw(L::NONE)),
            (L::RW, Exp::W(L::NONE)),
            (L::RWH, Exp::W(L::NONE)),
        ],
        true,
        |r, _| rename(&r.root, "src", &r.root, "t"),
        |r, _| assert!(r.vfs.lookup(&r.root, b"src").is_err()),
    );
}

#[test]
fn core_b10b_nfs_create_truncate_vs_leases() {
    lease_row(
        [
            (L::R, Exp::Nw(L::NONE)),
            (L::RH, Exp::Nw(L::NONE)),
            (L::RW, Exp::W(L::NONE)),
            (L::RWH, Exp::W(L::NONE)),
        ],
        false,
        |r, _| truncate(&r.root, "f"),
        |r, f| assert_eq!(size_of(r, f), 0),
    );
}

#[test]
fn core_b10a_nfs_create_guarded_vs_leases_no_break() {
    for held in [L::R, L::RH, L::RW, L::RWH] {
        let mut r = Rig::new();
        let root = r.root.clone();
        let f = r.file("f");
        r.lease(fid(&f), 9, held);
        let c = create(&root, "f", CreateHow3::Guarded(Sattr3::default()));
        assert_eq!(r.call(&c).1, Some(Nfs3Status::Exist));
        assert!(r.breaks().is_empty());
    }
}

#[test]
fn core_nfs_hold_expires_after_nfs_wait_with_jukebox_and_the_ticket_is_dropped() {
    // Every waiting cell of rows 4–10 answers NFS3ERR_JUKEBOX when the ack does not come
    // within T_nfs (O3), with its procedure's reply shape.
    type MakeCall = fn(&Rig, &Handle) -> Nfs3Call;
    let calls: [(&str, MakeCall, bool); 7] = [
        ("read", |_, f| read(f, 0, 1), false),
        ("write", |_, f| write(f, 0, b"x"), false),
        ("setattr", |_, f| set_size(f, 1), false),
        ("truncate", |r, _| truncate(&r.root, "f"), false),
        ("remove", |r, _| remove(&r.root, "f"), false),
        (
            "rename source",
            |r, _| rename(&r.root, "f", &r.root, "f2"),
            false,
        ),
        (
            "rename target",
            |r, _| rename(&r.root, "src", &r.root, "t"),
            true,
        ),
    ];
    for (what, op, on_target) in calls {
        let mut r = Rig::new();
        let f = r.file("f");
        r.file("src");
        let t = r.file("t");
        let leased = if on_target { t.clone() } else { f.clone() };
        r.lease(fid(&leased), 9, L::RWH);
        let call = op(&r, &f);
        let (x, st) = r.call(&call);
        assert_eq!(st, None, "{what}: held");
        let b = r.breaks();
        assert_eq!(b.len(), 1);
        assert_eq!(r.core.nfs_lock_stats().held, 1);
        r.advance(Duration::from_millis(399));
        assert_eq!(r.status(x), None, "{what}: still held before T_nfs");
        r.advance(Duration::from_millis(1));
        let reply = r.got[&x].clone();
        assert_eq!(reply.status(), Nfs3Status::Jukebox, "{what}");
        assert_eq!(reply, Nfs3Reply::error_for(&call, Nfs3Status::Jukebox));
        assert_eq!(r.waiters(fid(&leased)), 0, "{what}: the waiter is gone");
        assert_eq!(r.core.nfs_lock_stats().held, 0);
        assert!(!r.core.has_calls_in_progress(server::NFS_UDP));
        assert!(r.core.poll_job().is_none(), "{what}: no job ran");
        assert_eq!(size_of(&r, &f), 100, "{what}: nothing changed");
        // The break goes on; a late ack is still accepted, and the retry is served.
        r.ack(9, b[0].to);
        let st = r.call(&call).1;
        // The rename target's open stays, now with no lease to break: MS-FSA 2.1.5.15.12.
        let want = if on_target {
            Nfs3Status::Acces
        } else {
            Nfs3Status::Ok
        };
        assert_eq!(st, Some(want), "{what}: the retry");
    }
}

// ---- parent-directory leases ----

#[test]
fn core_parent_directory_leases_break_on_child_create_remove_rename() {
    let mut r = Rig::new();
    let d = r.dir("d");
    let e = r.dir("e");
    let x = r.file_in(&d, "x");
    let _ = x;
    // P.R: client 1 holds R on d; P.RH: client 2 holds RH on e.
    for (dir, client, state) in [(&d, 1u8, L::R), (&e, 2, L::RH)] {
        let mut c = SmbCreate::new(
            fid(dir),
            OpenId(u64::from(client)),
            guid(client),
            access::READ_DATA,
            share::ALL,
        );
        c.directory = true;
        c.cache = CacheRequest::Lease {
            key: lkey(client),
            state,
            version: LeaseVersion::V2 { parent: None },
        };
        assert!(matches!(
            r.smb(SmbRequest::Create {
                create: c,
                parent: None
            }),
            SmbSubmit::Done(Outcome::Opened(_))
        ));
    }
    // A create in d breaks R→NONE (no ack), without holding the create.
    let c = create(&d, "new", CreateHow3::Unchecked(Sattr3::default()));
    assert_eq!(r.call(&c).1, Some(Nfs3Status::Ok));
    let b = r.breaks();
    assert_eq!(
        b.iter()
            .map(|b| (b.file, b.from, b.to, b.ack_required))
            .collect::<Vec<_>>(),
        vec![(fid(&d), L::R, L::NONE, false)]
    );
    assert_eq!(r.lease_state(1), L::NONE);
    // A cross-directory rename d/x → e/x breaks e's RH→NONE (ack required, not awaited).
    assert_eq!(r.call(&rename(&d, "x", &e, "x")).1, Some(Nfs3Status::Ok));
    let b = r.breaks();
    assert_eq!(
        b.iter()
            .map(|b| (b.file, b.from, b.to, b.ack_required))
            .collect::<Vec<_>>(),
        vec![(fid(&e), L::RH, L::NONE, true)]
    );
    r.ack(2, L::NONE);
    // Both get their lease back; a remove in e and a mkdir in d break them again.
    for (dir, client, state) in [(&d, 1u8, L::R), (&e, 2, L::RH)] {
        let _ = r.core.smb_request(
            SmbRequest::Close {
                open: OpenId(u64::from(client)),
            },
            r.now,
        );
        let mut c = SmbCreate::new(
            fid(dir),
            OpenId(10 + u64::from(client)),
            guid(client),
            access::READ_DATA,
            share::ALL,
        );
        c.directory = true;
        c.cache = CacheRequest::Lease {
            key: lkey(client),
            state,
            version: LeaseVersion::V2 { parent: None },
        };
        assert!(matches!(
            r.smb(SmbRequest::Create {
                create: c,
                parent: None
            }),
            SmbSubmit::Done(Outcome::Opened(_))
        ));
    }
    assert_eq!(r.call(&remove(&e, "x")).1, Some(Nfs3Status::Ok));
    let mkdir = Nfs3Call::Mkdir(MkdirArgs {
        where_: dirop(&d, "sub"),
        attributes: Sattr3::default(),
    });
    assert_eq!(r.call(&mkdir).1, Some(Nfs3Status::Ok));
    let mut b: Vec<_> = r.breaks().iter().map(|b| (b.file, b.from, b.to)).collect();
    b.sort();
    let mut want = vec![(fid(&e), L::RH, L::NONE), (fid(&d), L::R, L::NONE)];
    want.sort();
    assert_eq!(b, want);
}

// ---- closing the window ----

#[test]
fn core_smb_create_waits_for_an_admitted_nfs_job_in_flight() {
    let mut r = Rig::new();
    let f = r.file("f");
    let id = fid(&f);
    // The table admits a WRITE (no state on f); its job is emitted but not run yet.
    let w = r.send(&write(&f, 0, b"nfs"));
    let job = r.core.poll_job().expect("the WRITE's job");
    // An SMB CREATE asking for RWH now would be granted W while the WRITE is about to
    // change the file: it is parked instead.
    let mut c = SmbCreate::new(id, OpenId(1), guid(1), RW_DATA, share::ALL);
    c.cache = CacheRequest::Lease {
        key: lkey(1),
        state: L::RWH,
        version: LeaseVersion::V2 { parent: None },
    };
    let SmbSubmit::Parked(pid) = r.smb(SmbRequest::Create {
        create: c,
        parent: None,
    }) else {
        panic!("not parked")
    };
    assert!(r.core.lock_table().view(id).opens.is_empty());
    // An NFS READ arriving now waits behind the parked CREATE (no starvation of SMB).
    let rd = r.send(&read(&f, 0, 3));
    assert!(r.core.poll_job().is_none(), "the READ waits at the gate");
    assert_eq!(r.core.nfs_lock_stats().parked, 2);
    // Releases of state never wait.
    assert!(matches!(
        r.smb(SmbRequest::Close { open: OpenId(77) }),
        SmbSubmit::Done(_)
    ));
    // The WRITE's job comes back: the CREATE runs (gets RWH), then the READ is decided
    // against the lease: it breaks W and is held.
    support::run(&mut r.core, job, r.now);
    r.collect();
    assert_eq!(r.status(w), Some(Nfs3Status::Ok));
    let done: Vec<_> = r
        .events
        .iter()
        .filter_map(|e| match e {
            LockEvent::SmbParkedDone { id, outcome } => Some((*id, outcome.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].0, pid);
    assert!(matches!(&done[0].1, Outcome::Opened(g) if g.lease.unwrap().state == L::RWH));
    assert_eq!(r.status(rd), None, "held on the break");
    let b = r.breaks();
    assert_eq!((b[0].from, b[0].to), (L::RWH, L::RH));
    r.ack(1, L::RH);
    r.run();
    assert_eq!(r.status(rd), Some(Nfs3Status::Ok));
    match &r.got[&rd] {
        Nfs3Reply::Read(Nfs3Result::Ok(ok)) => assert_eq!(&ok.data[..], b"nfs"),
        o => panic!("{o:?}"),
    }
    assert_eq!(r.core.nfs_lock_stats().parked, 0);
}

#[test]
fn core_smb_lock_waits_for_a_held_then_released_nfs_write() {
    let mut r = Rig::new();
    let f = r.file("f");
    let id = fid(&f);
    // Client 2 holds RW through open 2, and will lock through that open.
    r.lease(id, 2, L::RW);
    // The WRITE waits for W to break; once the ack comes the table admits it and the core
    // emits its job in the same step, taking the gate before any other input.
    let w = r.send(&write(&f, 0, b"abc"));
    assert_eq!(r.breaks().len(), 1);
    r.core
        .smb_lease_break_ack(guid(2), lkey(2), L::NONE, r.now)
        .unwrap();
    let job = r.core.poll_job().expect("emitted on the ack");
    // An exclusive SMB lock over the range arrives before the job ran: it waits for it.
    let sub = r.smb(SmbRequest::Lock {
        file: id,
        args: SmbLockArgs {
            open: OpenId(2),
            offset: 0,
            length: 10,
            exclusive: true,
            fail_immediately: true,
        },
    });
    assert!(matches!(sub, SmbSubmit::Parked(_)));
    assert!(r.core.lock_table().view(id).locks.is_empty());
    support::run(&mut r.core, job, r.now);
    r.collect();
    assert_eq!(r.status(w), Some(Nfs3Status::Ok));
    assert_eq!(&r.vfs.read(&f, 0, 3).unwrap().0, b"abc");
    assert!(r.events.iter().any(|e| matches!(
        e,
        LockEvent::SmbParkedDone {
            outcome: Outcome::Proceed,
            ..
        }
    )));
    // Now the lock is there and the next WRITE is refused.
    assert_eq!(r.call(&write(&f, 0, b"z")).1, Some(Nfs3Status::Acces));
}

#[test]
fn core_namespace_decisions_serialize_per_directory() {
    let mut r = Rig::new();
    let root = r.root.clone();
    let d = r.dir("d");
    let a = r.file_in(&d, "a");
    let b = r.file_in(&d, "b");
    // Some SMB state elsewhere: names must now be resolved before deciding.
    let other = r.file("other");
    r.lease(fid(&other), 5, L::R);
    // REMOVE d/a: an internal LOOKUP of d/a is emitted; d is held for the decision.
    let rm = r.send(&remove(&d, "a"));
    let lookup = r.core.poll_job().expect("the lookup");
    assert!(format!("{lookup:?}").contains("procedure: 3"), "{lookup:?}");
    // A RENAME d/b → d/a arriving now would change what "a" names: it waits.
    let mv = r.send(&rename(&d, "b", &d, "a"));
    assert!(r.core.poll_job().is_none(), "the rename waits for d");
    // So does an SMB CREATE in d.
    let sub = r.smb(SmbRequest::Create {
        create: SmbCreate::new(FileId(42), OpenId(1), guid(1), RW_DATA, share::ALL),
        parent: Some(fid(&d)),
    });
    assert!(matches!(sub, SmbSubmit::Parked(_)));
    // And an SMB rename of another file in d (its open is on "other").
    assert!(r
        .smb_open(fid(&other), 6, 6, access::READ_DATA, share::ALL, None)
        .is_success());
    let ren = r.smb(SmbRequest::Namespace {
        open: OpenId(6),
        rename: true,
        dirs: [Some(fid(&d)), None],
    });
    assert!(matches!(ren, SmbSubmit::Parked(_)));
    // A READ elsewhere is not affected.
    let rd = r.send(&read(&other, 0, 1));
    // The lookup comes back; the REMOVE is decided on the file it found and runs; then the
    // RENAME and the CREATE.
    support::run(&mut r.core, lookup, r.now);
    r.run();
    assert_eq!(r.status(rd), Some(Nfs3Status::Ok));
    assert_eq!(r.status(rm), Some(Nfs3Status::Ok));
    assert_eq!(r.status(mv), Some(Nfs3Status::Ok));
    assert!(
        r.vfs.getattr(&a).is_err(),
        "the file the decision was about was removed"
    );
    assert_eq!(r.vfs.lookup(&d, b"a").unwrap().0, b, "then the rename");
    assert!(r.events.iter().any(|e| matches!(
        e,
        LockEvent::SmbParkedDone {
            outcome: Outcome::Opened(_),
            ..
        }
    )));
    assert!(r.events.iter().any(|e| matches!(
        e,
        LockEvent::SmbParkedDone {
            outcome: Outcome::Proceed,
            ..
        }
    )));
    assert_eq!(r.core.nfs_lock_stats().parked, 0);
    let _ = root;
}

#[test]
fn core_deferred_write_keeps_the_gate_until_its_data_is_written() {
    // A write-behind WRITE is answered before its data is written; the gate stays taken
    // until the data write ends, so SMB cannot be granted state in between.
    #[derive(Debug)]
    struct Wb;
    impl Hooks for Wb {
        fn write_behind(&self, _: &dyn Vfs) -> bool {
            true
        }
    }
    let wb = Arc::new(Layered::new(
        MemoryFs::with_virtual_clock(
            MemoryFsConfig {
                root_mode: 0o777,
                ..MemoryFsConfig::default()
            },
            VirtualClock::new(Timestamp {
                secs: 1_700_000_000,
                nsecs: 0,
            }),
        ),
        Wb,
    ));
    let (h, _) = wb
        .create(
            &wb.root(),
            b"f",
            CreateHow::Unchecked,
            &SetAttrs::default(),
            &caller(),
        )
        .unwrap();
    let now = start_of_time();
    let mut core = core_over(Arc::clone(&wb) as Arc<dyn Vfs>, vec![], now);
    let call = Nfs3Call::Write(WriteArgs {
        file: fh(&h),
        offset: 0,
        stable: StableHow::Unstable,
        data: Bytes::from_static(b"late"),
    });
    send_nfs(&mut core, 9, &call, now);
    let job = core.poll_job().unwrap();
    let data = run(&mut core, job, now).expect("the deferred data write");
    assert_eq!(
        replies(&mut core).len(),
        1,
        "answered before the data is written"
    );
    let sub = core.smb_request(
        SmbRequest::Create {
            create: SmbCreate::new(fid(&h), OpenId(1), guid(1), RW_DATA, share::ALL),
            parent: None,
        },
        now,
    );
    assert!(matches!(sub, SmbSubmit::Parked(_)));
    assert!(run(&mut core, data, now).is_none());
    assert!(matches!(
        core.poll_lock_event(),
        Some(LockEvent::SmbParkedDone {
            outcome: Outcome::Opened(_),
            ..
        })
    ));
}

// ---- held requests: connections and bounds ----

fn record(msg: &[u8]) -> Vec<u8> {
    let mut v = (0x8000_0000u32 | msg.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(msg);
    v
}

#[test]
fn core_held_requests_vanish_when_their_connection_closes() {
    let mut r = Rig::new();
    let f = r.file("f");
    let id = fid(&f);
    r.lease(id, 9, L::RWH);
    let conn = server::ConnId(1000);
    r.core
        .handle_conn_open(conn, server::Listener::Nfs, peer(), r.now);
    let c = write(&f, 0, b"tcp");
    let msg = call(500, 100_003, 3, c.procedure(), nfs_args(&c));
    r.core.handle_tcp_bytes(conn, &record(&msg), r.now);
    r.collect();
    assert_eq!(r.breaks().len(), 1);
    assert_eq!(r.core.nfs_lock_stats().held, 1);
    assert!(
        r.core.has_calls_in_progress(conn),
        "a held request is in progress"
    );
    assert_eq!(r.waiters(id), 1);
    r.core.handle_conn_closed(conn, r.now);
    assert_eq!(r.core.nfs_lock_stats().held, 0);
    assert_eq!(r.waiters(id), 0, "the ticket was withdrawn");
    assert!(!r.core.has_calls_in_progress(conn));
    // The ack completes nothing; no job, no transmit.
    r.ack(9, L::NONE);
    assert!(r.core.poll_job().is_none());
    assert!(r.core.poll_transmit().is_none());
    assert_eq!(&r.vfs.read(&f, 0, 3).unwrap().0, &[7, 7, 7]);
    // A retransmission on a new connection is executed (not dropped as in progress).
    let conn2 = server::ConnId(1001);
    r.core
        .handle_conn_open(conn2, server::Listener::Nfs, peer(), r.now);
    r.core.handle_tcp_bytes(conn2, &record(&msg), r.now);
    run_all(&mut r.core, r.now);
    assert_eq!(&r.vfs.read(&f, 0, 3).unwrap().0, b"tcp");
    assert!(r.core.poll_transmit().is_some());
}

#[test]
fn core_held_requests_are_bounded_by_max_held_nfs() {
    let mut r = Rig::with(config(2), vec![], true);
    let f = r.file("f");
    r.lease(fid(&f), 9, L::RWH);
    let a = r.send(&read(&f, 0, 1));
    let b = r.send(&read(&f, 1, 1));
    assert_eq!((r.status(a), r.status(b)), (None, None));
    let c = r.send(&read(&f, 2, 1));
    assert_eq!(
        r.status(c),
        Some(Nfs3Status::Jukebox),
        "over the bound: at once"
    );
    assert_eq!(r.core.nfs_lock_stats().held, 2);
    assert_eq!(r.waiters(fid(&f)), 2, "its ticket was cancelled");
    r.ack(9, L::RH);
    r.run();
    assert_eq!(
        (r.status(a), r.status(b)),
        (Some(Nfs3Status::Ok), Some(Nfs3Status::Ok))
    );
}

// ---- grace ----

#[test]
fn core_nfs_io_on_unreclaimed_smb_state_gets_jukebox() {
    // G9: a durable SMB open is journalled; after an unclean restart NFS I/O on its file
    // gets NFS3ERR_JUKEBOX while it is unreclaimed, other files are served.
    let mut r = Rig::new();
    let f = r.file("f");
    let g = r.file("g");
    let mut c = SmbCreate::new(fid(&f), OpenId(1), guid(1), RW_DATA, share::ALL);
    c.durable = true;
    assert!(matches!(
        r.smb(SmbRequest::Create {
            create: c,
            parent: None
        }),
        SmbSubmit::Done(Outcome::Opened(_))
    ));
    let journal: Vec<Vec<u8>> = std::iter::from_fn(|| r.core.poll_journal_append())
        .map(|(_, b)| b)
        .collect();
    assert!(!journal.is_empty(), "the durable open is journalled");
    let vfs = Arc::clone(&r.vfs);
    let now = r.now;
    let mut core = Core::new(
        config(1024),
        vec![ShareBackend {
            share_id: SHARE,
            vfs: vfs as Arc<dyn Vfs>,
        }],
        journal,
        false,
        now,
    )
    .unwrap();
    assert!(core.in_grace());
    send_nfs(&mut core, 1, &read(&f, 0, 1), now);
    send_nfs(&mut core, 2, &read(&g, 0, 1), now);
    run_all(&mut core, now);
    let got: BTreeMap<u32, Nfs3Status> = replies(&mut core)
        .iter()
        .map(|x| (x.xid, nfs_reply(x, 6).status()))
        .collect();
    assert_eq!(got[&1], Nfs3Status::Jukebox);
    assert_eq!(got[&2], Nfs3Status::Ok);
}

// ---- NLM locks are advisory to NFS (§4.1 rule 3, O10) ----

/// Sends an NLM4 LOCK (non-blocking, whole file) for `h` by owner `svid` into the core.
fn nlm_lock(r: &mut Rig, h: &Handle, svid: i32, exclusive: bool) {
    use proto_nfs::xdr::XdrEncode;
    use proto_nlm::wire::{LmString, Netobj, Nlm4Lock, Nlm4LockArgs};
    let mut out = bytes::BytesMut::new();
    Nlm4LockArgs {
        cookie: Netobj::from_static(b"k"),
        block: false,
        exclusive,
        alock: Nlm4Lock {
            caller_name: LmString::new(Bytes::from_static(b"nlmclient")).unwrap(),
            fh: Netobj::new(fh(h).0.clone()).unwrap(),
            oh: Netobj::from_static(b"oh"),
            svid,
            l_offset: 0,
            l_len: 0,
        },
        reclaim: false,
        state: 1,
    }
    .encode(&mut out);
    r.xid += 1;
    let msg = call(r.xid, 100_021, 4, 2, out.freeze());
    r.core
        .handle_datagram(server::Listener::Nfs, peer(), &msg, r.now);
    assert_eq!(r.core.lock_table().view(fid(h)).locks.len(), 1, "locked");
}

#[test]
fn core_nfs_ops_ignore_nlm_locks_advisory() {
    for exclusive in [false, true] {
        let mut r = Rig::new();
        let root = r.root.clone();
        let f = r.file("f");
        let g = r.file("g");
        let t = r.file("t");
        r.file("src");
        for (h, svid) in [(&f, 1), (&g, 2), (&t, 3)] {
            nlm_lock(&mut r, h, svid, exclusive);
        }
        // A4–A6, A10b (NLM-S / NLM-X): I/O and size changes are served.
        assert_eq!(r.call(&read(&f, 0, 10)).1, Some(Nfs3Status::Ok));
        assert_eq!(r.call(&write(&f, 0, b"abc")).1, Some(Nfs3Status::Ok));
        assert_eq!(r.call(&set_size(&f, 50)).1, Some(Nfs3Status::Ok));
        assert_eq!(r.call(&truncate(&root, "f")).1, Some(Nfs3Status::Ok));
        // A10a: GUARDED over an existing name is NFS3ERR_EXIST, whatever the locks.
        let guarded = create(&root, "f", CreateHow3::Guarded(Sattr3::default()));
        assert_eq!(r.call(&guarded).1, Some(Nfs3Status::Exist));
        // A7–A9 (O10): remove, rename source and rename over a locked target are served,
        // and the locks stay with the orphaned files.
        assert_eq!(r.call(&remove(&root, "f")).1, Some(Nfs3Status::Ok));
        assert_eq!(
            r.call(&rename(&root, "g", &root, "g2")).1,
            Some(Nfs3Status::Ok)
        );
        assert_eq!(
            r.call(&rename(&root, "src", &root, "t")).1,
            Some(Nfs3Status::Ok)
        );
        for h in [&f, &g, &t] {
            assert_eq!(r.core.lock_table().view(fid(h)).locks.len(), 1);
        }
        assert_eq!(r.core.nfs_lock_stats().denied, 0);
        assert!(r.breaks().is_empty());
    }
}

#[test]
fn core_nfs_rename_waits_for_the_source_then_the_target_break() {
    // B8.RWH then B9.RW in one RENAME: the source's H breaks first, then the target's lease
    // breaks to NONE; the job runs after both acks, and the directory stays held for it.
    let mut r = Rig::new();
    let root = r.root.clone();
    let src = r.file("src");
    let t = r.file("t");
    r.lease(fid(&src), 1, L::RWH);
    r.lease(fid(&t), 2, L::RW);
    let (x, st) = r.call(&rename(&root, "src", &root, "t"));
    assert_eq!(st, None);
    let b = r.breaks();
    assert_eq!(
        b.iter().map(|b| (b.file, b.from, b.to)).collect::<Vec<_>>(),
        vec![(fid(&src), L::RWH, L::RW)]
    );
    // Another namespace change in the directory waits for the rename's decision and job.
    let (y, st) = r.call(&remove(&root, "other"));
    assert_eq!(st, None, "the directory is held");
    r.ack(1, L::RW);
    r.run();
    assert_eq!(r.status(x), None, "now waiting for the target");
    let b = r.breaks();
    assert_eq!(
        b.iter().map(|b| (b.file, b.from, b.to)).collect::<Vec<_>>(),
        vec![(fid(&t), L::RW, L::NONE)]
    );
    r.ack(2, L::NONE);
    r.run();
    assert_eq!(r.status(x), Some(Nfs3Status::Ok));
    assert_eq!(r.vfs.lookup(&root, b"t").unwrap().0, src);
    assert_eq!(r.status(y), Some(Nfs3Status::NoEnt), "then the remove ran");
    assert_eq!(r.core.nfs_lock_stats().holds, 2);
}
