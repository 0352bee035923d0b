//! An SMB client for tests, built from proto-smb2's codecs and NTLM helpers (as
//! `proto-smb2/tests/server_conn.rs` does), talking to a [`Core`] over a TCP connection id;
//! jobs run on the test's thread. Also the cores the SMB tests start from: users whose
//! password is `pw-<name>`, shares over [`MemoryFs`].
//!
//! What differs between the tests is a parameter: the dialect, capabilities and ClientGuid
//! of [`Client::negotiate`], the user of [`Client::session_setup`], the share of
//! [`Client::tree`]. [`Client::ready`] is the common case (SMB 2.1, alice).

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use proto_smb2::auth::ntlm;
use proto_smb2::client;
use proto_smb2::cmd::negotiate::dialect;
use proto_smb2::cmd::{
    CancelRequest, CloseRequest, CloseResponse, CreateRequest, CreateResponse, FileId, ReadRequest,
    ReadResponse, SessionSetupRequest, TreeConnectRequest, WriteRequest, WriteResponse,
};
use proto_smb2::compound::split_compound;
use proto_smb2::nbss;
use proto_smb2::{Command, Header, HeaderId, NtStatus};
use server::users::{User, Users};
use server::{ConnId, Core, CoreConfig, Listener, ShareBackend, ShareConfig};
use vfs::memory::{MemoryFs, MemoryFsConfig};
use vfs::Vfs;

/// The client's NTLM timestamp (a FILETIME).
pub const NOW_FT: u64 = 133_500_000_000_000_000;
/// alice's password.
pub const PASSWORD: &str = "pw-alice";

/// The password of every test user: `pw-<name>`.
pub fn password(user: &str) -> String {
    format!("pw-{user}")
}

/// The peer address of every SMB connection.
pub fn peer() -> SocketAddr {
    "127.0.0.1:50000".parse().unwrap()
}

/// Users `(name, uid)`, gid = uid, password [`password`]`(name)`.
pub fn users(list: &[(&str, u32)]) -> Users {
    let mut users = Users::new();
    for &(name, uid) in list {
        users
            .insert(User {
                name: name.into(),
                uid: Some(uid),
                gid: Some(uid),
                nt_hash: ntlm::nt_hash(&password(name)),
                groups: vec![],
            })
            .unwrap();
    }
    users
}

/// Share `id` named `name`, root not squashed, SMB defaults.
pub fn share(id: u32, name: &str, read_only: bool) -> ShareConfig {
    ShareConfig {
        share_id: id,
        name: name.into(),
        read_only,
        clients: vec![],
        root_squash: false,
        all_squash: false,
        anon_uid: 65534,
        anon_gid: 65534,
        smb: Default::default(),
    }
}

/// `shares` and `users` with a fixed SMB seed, defaults otherwise.
pub fn config(shares: Vec<ShareConfig>, users: Users) -> CoreConfig {
    CoreConfig {
        shares,
        users,
        smb_seed: [5; 32],
        ..CoreConfig::default()
    }
}

/// An empty in-memory file system.
pub fn memory_fs() -> Arc<MemoryFs> {
    Arc::new(MemoryFs::new(
        MemoryFsConfig::default(),
        vfs::memory::system_clock(),
    ))
}

/// A core over `backends` that has read `journal` (`clean`: the last stop was orderly), its
/// wall clock set.
pub fn boot(
    config: CoreConfig,
    backends: Vec<ShareBackend>,
    journal: Vec<Vec<u8>>,
    clean: bool,
    now: Instant,
) -> Core {
    let mut core = Core::new(config, backends, journal, clean, now).unwrap();
    core.handle_wall_clock(1_700_000_000);
    core
}

/// A core with share `export` (id 1) and a read-only share `ro` (id 2) holding
/// `readme.txt` ("read only"), user alice (uid/gid 1000); `export`'s file system.
pub fn core() -> (Core, Arc<MemoryFs>, Instant) {
    let now = super::start_of_time();
    let fs = memory_fs();
    let ro = memory_fs();
    let config = config(
        vec![share(1, "export", false), share(2, "ro", true)],
        users(&[("alice", 1000)]),
    );
    let backends = vec![
        ShareBackend {
            share_id: 1,
            vfs: fs.clone(),
        },
        ShareBackend {
            share_id: 2,
            vfs: ro.clone(),
        },
    ];
    // Something to read on the read-only share.
    let (h, _) = ro
        .create(
            &ro.root(),
            b"readme.txt",
            vfs::CreateHow::Guarded,
            &vfs::SetAttrs {
                mode: Some(0o644),
                ..Default::default()
            },
            &vfs::Caller {
                uid: 0,
                gid: 0,
                gids: vec![],
            },
        )
        .unwrap();
    ro.write(&h, 0, b"read only", vfs::Stability::FileSync)
        .unwrap();
    (boot(config, backends, vec![], true, now), fs, now)
}

/// Runs every job the core emits; none may have a follow-up.
pub fn run_jobs(core: &mut Core, now: Instant) {
    while let Some(job) = core.poll_job() {
        let mut done = job.run();
        assert!(done.take_follow_up().is_none());
        core.handle_job_done(done, now);
    }
}

/// One SMB2 message the core sent.
#[derive(Debug)]
pub struct Resp {
    pub header: Header,
    pub msg: Vec<u8>,
}

impl Resp {
    pub fn status(&self) -> NtStatus {
        self.header.status
    }

    /// An unsolicited oplock or lease break notification (MessageId 0xFFFFFFFFFFFFFFFF,
    /// MS-SMB2 §3.3.4.6/.7).
    pub fn is_break(&self) -> bool {
        self.header.command == Command::OPLOCK_BREAK && self.header.message_id == u64::MAX
    }
}

/// The statuses of `r`, in order.
pub fn statuses(r: &[Resp]) -> Vec<NtStatus> {
    r.iter().map(Resp::status).collect()
}

thread_local! {
    /// Frames the core sent to other connections than the one a test was reading.
    static MAILBOX: RefCell<Vec<(ConnId, Bytes)>> = const { RefCell::new(Vec::new()) };
}

/// Takes what the core sends now into the mailbox, for [`recv`]; returns the connection of
/// each frame, in the order sent. NFS replies (UDP) are dropped.
pub fn set_aside(core: &mut Core) -> Vec<ConnId> {
    let mut order = Vec::new();
    while let Some(t) = core.poll_transmit() {
        if t.dest.is_none() {
            order.push(t.conn);
            MAILBOX.with(|m| m.borrow_mut().push((t.conn, t.data.to_bytes())));
        }
    }
    order
}

/// The messages for `conn`: what the core sends now, and what earlier reads of other
/// connections set aside. NFS replies (UDP) are dropped.
pub fn recv(core: &mut Core, conn: ConnId) -> Vec<Resp> {
    set_aside(core);
    let mine: Vec<Bytes> = MAILBOX.with(|m| {
        let mut m = m.borrow_mut();
        let (mine, rest): (Vec<_>, Vec<_>) = m.drain(..).partition(|(c, _)| *c == conn);
        *m = rest;
        mine.into_iter().map(|(_, b)| b).collect()
    });
    let mut out = Vec::new();
    for b in mine {
        let mut buf = BytesMut::from(&b[..]);
        while let Some(f) = nbss::take_frame(&mut buf, nbss::MAX_FRAME_LEN).unwrap() {
            for p in split_compound(&f.payload, 64).unwrap() {
                out.push(Resp {
                    header: p.header,
                    msg: p.msg.to_vec(),
                });
            }
        }
    }
    out
}

/// One SMB client connection to the core.
pub struct Client {
    pub conn: ConnId,
    pub next_mid: u64,
    pub sid: u64,
    pub tid: u32,
    /// CreditCharge of the next request (large READs and WRITEs need more than one).
    pub charge: u16,
    /// Header flags of the next request.
    pub flags: u32,
    /// PreviousSessionId of the next login.
    pub previous_session_id: u64,
}

impl Client {
    /// Opens connection `id` (nothing sent yet).
    pub fn connect(core: &mut Core, id: u64, now: Instant) -> Client {
        let conn = ConnId((1 << 32) | id);
        core.handle_conn_open(conn, Listener::Smb, peer(), now);
        Client {
            conn,
            next_mid: 0,
            sid: 0,
            tid: 0,
            charge: 1,
            flags: 0,
            previous_session_id: 0,
        }
    }

    /// Connection `id`, logged on as alice with SMB 2.1, on `share`.
    pub fn ready(core: &mut Core, id: u64, now: Instant, share: &str) -> Client {
        let mut c = Client::connect(core, id, now);
        assert_eq!(c.login(core, now, "alice", PASSWORD), NtStatus::SUCCESS);
        assert_eq!(c.tree(core, now, share), NtStatus::SUCCESS);
        c
    }

    /// The next request: `command` with the body `body` writes, in this session and tree.
    pub fn build(&mut self, command: Command, body: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let charge = std::mem::replace(&mut self.charge, 1);
        let h = Header {
            credit_charge: charge,
            status: NtStatus::SUCCESS,
            command,
            credits: 32,
            flags: std::mem::take(&mut self.flags),
            next_command: 0,
            message_id: self.next_mid,
            id: HeaderId::Sync {
                process_id: 0xfeff,
                tree_id: self.tid,
            },
            session_id: self.sid,
            signature: [0; 16],
        };
        self.next_mid += u64::from(charge);
        let mut m = Vec::new();
        h.encode(&mut m);
        body(&mut m);
        m
    }

    /// A CANCEL of request `mid` (by MessageId, MS-SMB2 §3.3.5.16); it takes no MessageId
    /// of its own.
    pub fn cancel_msg(&self, mid: u64) -> Vec<u8> {
        let h = Header {
            credit_charge: 0,
            status: NtStatus::SUCCESS,
            command: Command::CANCEL,
            credits: 0,
            flags: 0,
            next_command: 0,
            message_id: mid,
            id: HeaderId::Sync {
                process_id: 0xfeff,
                tree_id: self.tid,
            },
            session_id: self.sid,
            signature: [0; 16],
        };
        let mut m = Vec::new();
        h.encode(&mut m);
        CancelRequest.encode(&mut m);
        m
    }

    /// Sends without waiting for the answer (jobs are not run).
    pub fn send(&mut self, core: &mut Core, now: Instant, m: &[u8]) {
        let mut f = Vec::new();
        nbss::put_frame(&mut f, m);
        core.handle_tcp_bytes(self.conn, &f, now);
    }

    /// Sends a request and runs the jobs; returns its MessageId.
    pub fn submit(
        &mut self,
        core: &mut Core,
        now: Instant,
        command: Command,
        body: impl FnOnce(&mut Vec<u8>),
    ) -> u64 {
        let mid = self.next_mid;
        let m = self.build(command, body);
        self.send(core, now, &m);
        run_jobs(core, now);
        mid
    }

    /// Sends one request, runs the jobs, and returns the one response that came.
    pub fn call(
        &mut self,
        core: &mut Core,
        now: Instant,
        command: Command,
        body: impl FnOnce(&mut Vec<u8>),
    ) -> Resp {
        self.submit(core, now, command, body);
        let mut r = self.recv(core);
        assert_eq!(r.len(), 1, "one response: {r:?}");
        r.remove(0)
    }

    /// The messages the core sent to this connection (see [`recv`]).
    pub fn recv(&self, core: &mut Core) -> Vec<Resp> {
        recv(core, self.conn)
    }

    /// NEGOTIATE offering `dialect` and capabilities `caps` as ClientGuid `guid`; asserts
    /// SUCCESS.
    pub fn negotiate(
        &mut self,
        core: &mut Core,
        now: Instant,
        dialect: u16,
        caps: u32,
        guid: [u8; 16],
    ) -> Resp {
        let neg = client::negotiate_request(&[dialect], &[], caps, guid, [0; 32]);
        let r = self.call(core, now, Command::NEGOTIATE, |o| neg.encode(o));
        assert_eq!(r.status(), NtStatus::SUCCESS);
        r
    }

    /// The two NTLM SESSION_SETUP legs as `user`; the status of the second.
    pub fn session_setup(
        &mut self,
        core: &mut Core,
        now: Instant,
        user: &str,
        password: &str,
    ) -> NtStatus {
        let auth = client::NtlmClient::new(
            client::DEFAULT_NTLM_FLAGS,
            client::Credentials::password(user, "WORKGROUP", "CLIENT", password),
            client::ClientInputs {
                time: NOW_FT,
                client_challenge: [0x99; 8],
                random_session_key: [0x5a; 16],
            },
        );
        let ss = SessionSetupRequest {
            previous_session_id: self.previous_session_id,
            ..auth.session_setup(1, 0)
        };
        let r = self.call(core, now, Command::SESSION_SETUP, |o| ss.encode(o));
        assert_eq!(r.status(), NtStatus::MORE_PROCESSING_REQUIRED);
        self.sid = r.header.session_id;
        let ss2 = SessionSetupRequest {
            security_buffer: auth.answer(&r.msg).unwrap().token,
            ..ss
        };
        self.call(core, now, Command::SESSION_SETUP, |o| ss2.encode(o))
            .status()
    }

    /// NEGOTIATE (SMB 2.1, no capabilities) and SESSION_SETUP as `user`.
    pub fn login(&mut self, core: &mut Core, now: Instant, user: &str, password: &str) -> NtStatus {
        self.negotiate(core, now, dialect::SMB210, 0, [9; 16]);
        self.session_setup(core, now, user, password)
    }

    /// TREE_CONNECT to `\\janus\<share>`; the tree is this client's from then on.
    pub fn tree(&mut self, core: &mut Core, now: Instant, share: &str) -> NtStatus {
        let tc = TreeConnectRequest {
            flags: 0,
            path: format!("\\\\janus\\{share}").encode_utf16().collect(),
            extension: None,
        };
        let r = self.call(core, now, Command::TREE_CONNECT, |o| tc.encode(o));
        if r.status() == NtStatus::SUCCESS {
            self.tid = r.header.tree_id().unwrap();
        }
        r.status()
    }
}

/// A CREATE of `name` with DesiredAccess `access`, ShareAccess `share`,
/// CreateDisposition `disposition` and CreateOptions `options`.
pub fn create_req(
    name: &str,
    access: u32,
    share: u32,
    disposition: u32,
    options: u32,
) -> CreateRequest {
    client::create_request(name, access, share, disposition, options)
}

// ---- the common requests ----

/// CREATE `req`: the response, or the status of a failure.
pub fn create(
    c: &mut Client,
    core: &mut Core,
    now: Instant,
    req: CreateRequest,
) -> Result<CreateResponse, NtStatus> {
    let r = c.call(core, now, Command::CREATE, |o| req.encode(o));
    if r.status() != NtStatus::SUCCESS {
        return Err(r.status());
    }
    Ok(CreateResponse::decode(&r.msg).unwrap())
}

/// CLOSE `file_id` with `flags`: the status, and the response on success.
pub fn close(
    c: &mut Client,
    core: &mut Core,
    now: Instant,
    file_id: FileId,
    flags: u16,
) -> (NtStatus, Option<CloseResponse>) {
    let r = c.call(core, now, Command::CLOSE, |o| {
        CloseRequest { flags, file_id }.encode(o)
    });
    let body = (r.status() == NtStatus::SUCCESS).then(|| CloseResponse::decode(&r.msg).unwrap());
    (r.status(), body)
}

/// WRITE `data` at `offset` (CreditCharge for its size): the count written, or the status.
pub fn write(
    c: &mut Client,
    core: &mut Core,
    now: Instant,
    file_id: FileId,
    offset: u64,
    data: &[u8],
) -> Result<u32, NtStatus> {
    let req = WriteRequest {
        offset,
        file_id,
        channel: 0,
        remaining_bytes: 0,
        channel_info: Vec::new(),
        flags: 0,
        data: Bytes::copy_from_slice(data),
    };
    c.charge = data.len().div_ceil(65536).max(1) as u16;
    let r = c.call(core, now, Command::WRITE, |o| req.encode(o));
    if r.status() != NtStatus::SUCCESS {
        return Err(r.status());
    }
    Ok(WriteResponse::decode(&r.msg).unwrap().count)
}

/// READ `length` bytes at `offset` (CreditCharge for its size): the data, or the status.
pub fn read(
    c: &mut Client,
    core: &mut Core,
    now: Instant,
    file_id: FileId,
    offset: u64,
    length: u32,
) -> Result<Vec<u8>, NtStatus> {
    let req = ReadRequest {
        padding: 0x50,
        flags: 0,
        length,
        offset,
        file_id,
        minimum_count: 0,
        channel: 0,
        remaining_bytes: 0,
        channel_info: Vec::new(),
    };
    c.charge = (length as usize).div_ceil(65536).max(1) as u16;
    let r = c.call(core, now, Command::READ, |o| req.encode(o));
    if r.status() != NtStatus::SUCCESS {
        return Err(r.status());
    }
    Ok(ReadResponse::decode(&Bytes::from(r.msg))
        .unwrap()
        .data
        .to_vec())
}
