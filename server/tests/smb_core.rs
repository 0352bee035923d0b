//! SMB through `server::Core` over `MemoryFs`: the client of `support::smb` (proto-smb2's
//! codecs and NTLM helpers) talks to the core over a TCP connection id; jobs run on the
//! test's thread. Each test asserts the exact statuses.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use proto_smb2::client;
use proto_smb2::cmd::create_context::{RequestContext, ResponseContext};
use proto_smb2::cmd::negotiate::dialect;
use proto_smb2::cmd::*;
use proto_smb2::nbss;
use proto_smb2::{Command, NtStatus};
use server::{ConnId, Core};
use vfs::Vfs;

mod support;

use support::smb::{
    close, core, create, create_req, read, recv, run_jobs, statuses, write, Client, Resp, PASSWORD,
};

const GENERIC_READ: u32 = 0x8000_0000;
const GENERIC_WRITE: u32 = 0x4000_0000;
const DELETE: u32 = 0x0001_0000;
const FILE_READ_ATTRIBUTES: u32 = 0x80;
const SHARE_READ: u32 = 1;
const SHARE_WRITE: u32 = 2;
const SHARE_DELETE: u32 = 4;
const OPEN: u32 = 1;
const CREATE: u32 = 2;
const OPEN_IF: u32 = 3;
const OVERWRITE: u32 = 4;
const OVERWRITE_IF: u32 = 5;
const SUPERSEDE: u32 = 0;
const DIRECTORY_FILE: u32 = 1;
const NON_DIRECTORY_FILE: u32 = 0x40;
const DELETE_ON_CLOSE: u32 = 0x1000;

#[test]
fn create_write_read_close_round_trip() {
    let (mut core, fs, now) = core();
    let mut c = Client::ready(&mut core, 1, now, "export");
    let mut req = create_req(
        "dir\\f.txt",
        GENERIC_READ | GENERIC_WRITE,
        SHARE_READ,
        CREATE,
        NON_DIRECTORY_FILE,
    );
    assert_eq!(
        create(&mut c, &mut core, now, req.clone()),
        Err(NtStatus::OBJECT_PATH_NOT_FOUND)
    );
    let d = create(
        &mut c,
        &mut core,
        now,
        create_req("dir", GENERIC_READ, 7, CREATE, DIRECTORY_FILE),
    )
    .unwrap();
    assert_eq!(d.create_action, 2, "FILE_CREATED");
    assert_eq!(d.file_attributes & 0x10, 0x10, "a directory");
    req.contexts = vec![
        RequestContext::QueryMaximalAccess { timestamp: None }.to_context(),
        RequestContext::QueryOnDiskId.to_context(),
    ];
    let f = create(&mut c, &mut core, now, req).unwrap();
    assert_eq!(f.create_action, 2);
    assert_eq!(
        f.file_attributes, 0x20,
        "a new file is FILE_ATTRIBUTE_ARCHIVE (MS-FSA)"
    );
    let ctxs: Vec<_> = f
        .contexts
        .iter()
        .map(|c| ResponseContext::parse(c).unwrap().unwrap())
        .collect();
    let (dirh, _) = fs.lookup(&fs.root(), b"dir").unwrap();
    let (fh, fattr) = fs.lookup(&dirh, b"f.txt").unwrap();
    assert_eq!(
        (fattr.uid, fattr.gid),
        (1000, 1000),
        "owned by the session's user"
    );
    assert!(ctxs.contains(&ResponseContext::OnDiskId {
        disk_file_id: fattr.fileid,
        volume_id: fattr.fsid
    }));
    assert!(ctxs.iter().any(|c| matches!(c, ResponseContext::MaximalAccess { query_status: 0, maximal_access } if maximal_access & 0x2 != 0)));
    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
    assert_eq!(
        write(&mut c, &mut core, now, f.file_id, 0, &data),
        Ok(100_000)
    );
    assert_eq!(
        read(&mut c, &mut core, now, f.file_id, 0, 200_000).unwrap(),
        data
    );
    assert_eq!(
        read(&mut c, &mut core, now, f.file_id, 99_990, 100).unwrap(),
        &data[99_990..]
    );
    assert_eq!(
        read(&mut c, &mut core, now, f.file_id, 100_000, 10),
        Err(NtStatus::END_OF_FILE)
    );
    assert_eq!(
        fs.read(&fh, 0, 10).unwrap().0,
        &data[..10],
        "the data is in the backend"
    );
    assert_eq!(core.smb_open_count(), 2);
    let (st, body) = close(&mut c, &mut core, now, f.file_id, 1);
    assert_eq!(st, NtStatus::SUCCESS);
    let body = body.unwrap();
    assert_eq!(body.flags, 1);
    assert_eq!(body.info.end_of_file, 100_000);
    assert_eq!(
        close(&mut c, &mut core, now, f.file_id, 0).0,
        NtStatus::FILE_CLOSED
    );
    assert_eq!(
        read(&mut c, &mut core, now, f.file_id, 0, 10),
        Err(NtStatus::FILE_CLOSED)
    );
    // Case-insensitive names (the share's default).
    let g = create(
        &mut c,
        &mut core,
        now,
        create_req("DIR\\F.TXT", GENERIC_READ, 7, OPEN, 0),
    )
    .unwrap();
    assert_eq!(g.create_action, 1, "FILE_OPENED");
    assert_eq!(g.info.end_of_file, 100_000);
    assert_eq!(
        read(&mut c, &mut core, now, g.file_id, 0, 5).unwrap(),
        &data[..5]
    );
    assert_eq!(
        write(&mut c, &mut core, now, g.file_id, 0, b"x"),
        Err(NtStatus::ACCESS_DENIED),
        "opened for reading only"
    );
    assert_eq!(
        close(&mut c, &mut core, now, g.file_id, 0).0,
        NtStatus::SUCCESS
    );
    assert_eq!(
        close(&mut c, &mut core, now, d.file_id, 0).0,
        NtStatus::SUCCESS
    );
    assert_eq!(core.smb_open_count(), 0);
    assert!(
        core.lock_table().files().is_empty(),
        "every open released in the lock table"
    );
}

#[test]
fn dispositions() {
    let (mut core, fs, now) = core();
    let mut c = Client::ready(&mut core, 1, now, "export");
    let rw = GENERIC_READ | GENERIC_WRITE;
    assert_eq!(
        create(&mut c, &mut core, now, create_req("a", rw, 7, OPEN, 0)).err(),
        Some(NtStatus::OBJECT_NAME_NOT_FOUND)
    );
    assert_eq!(
        create(&mut c, &mut core, now, create_req("a", rw, 7, OVERWRITE, 0)).err(),
        Some(NtStatus::OBJECT_NAME_NOT_FOUND)
    );
    let a = create(&mut c, &mut core, now, create_req("a", rw, 7, OPEN_IF, 0)).unwrap();
    assert_eq!(a.create_action, 2);
    write(&mut c, &mut core, now, a.file_id, 0, b"hello").unwrap();
    close(&mut c, &mut core, now, a.file_id, 0);
    assert_eq!(
        create(&mut c, &mut core, now, create_req("a", rw, 7, CREATE, 0)).err(),
        Some(NtStatus::OBJECT_NAME_COLLISION)
    );
    let o = create(&mut c, &mut core, now, create_req("a", rw, 7, OPEN_IF, 0)).unwrap();
    assert_eq!((o.create_action, o.info.end_of_file), (1, 5));
    close(&mut c, &mut core, now, o.file_id, 0);
    for (disp, action) in [(OVERWRITE, 3), (OVERWRITE_IF, 3), (SUPERSEDE, 0)] {
        let o = create(&mut c, &mut core, now, create_req("a", rw, 7, disp, 0)).unwrap();
        assert_eq!(
            (o.create_action, o.info.end_of_file),
            (action, 0),
            "disposition {disp}"
        );
        write(&mut c, &mut core, now, o.file_id, 0, b"again").unwrap();
        close(&mut c, &mut core, now, o.file_id, 0);
    }
    let n = create(
        &mut c,
        &mut core,
        now,
        create_req("new", rw, 7, OVERWRITE_IF, 0),
    )
    .unwrap();
    assert_eq!(n.create_action, 2);
    close(&mut c, &mut core, now, n.file_id, 0);
    // Directories and files are what the options say.
    assert_eq!(
        create(
            &mut c,
            &mut core,
            now,
            create_req("a", rw, 7, OPEN, DIRECTORY_FILE)
        )
        .err(),
        Some(NtStatus(0xC000_0103))
    );
    let d = create(
        &mut c,
        &mut core,
        now,
        create_req("d", GENERIC_READ, 7, OPEN_IF, DIRECTORY_FILE),
    )
    .unwrap();
    close(&mut c, &mut core, now, d.file_id, 0);
    assert_eq!(
        create(
            &mut c,
            &mut core,
            now,
            create_req("d", GENERIC_READ, 7, OPEN, NON_DIRECTORY_FILE)
        )
        .err(),
        Some(NtStatus(0xC000_00BA))
    );
    assert_eq!(
        create(
            &mut c,
            &mut core,
            now,
            create_req("d", rw, 7, OVERWRITE_IF, DIRECTORY_FILE)
        )
        .err(),
        Some(NtStatus::INVALID_PARAMETER)
    );
    assert_eq!(
        create(&mut c, &mut core, now, create_req("x", rw, 7, 6, 0)).err(),
        Some(NtStatus::INVALID_PARAMETER)
    );
    assert_eq!(
        create(
            &mut c,
            &mut core,
            now,
            create_req("x", rw, 7, OPEN_IF, DIRECTORY_FILE | NON_DIRECTORY_FILE)
        )
        .err(),
        Some(NtStatus::INVALID_PARAMETER)
    );
    // Names that could leave the share never reach the file system.
    for bad in ["..\\x", "\\..\\x", "a:stream", "x\u{0}y"] {
        assert!(
            create(&mut c, &mut core, now, create_req(bad, rw, 7, OPEN_IF, 0)).is_err(),
            "{bad:?}"
        );
    }
    assert!(fs.lookup(&fs.root(), b"x").is_err());
    let (h, _) = fs.lookup(&fs.root(), b"a").unwrap();
    assert_eq!(fs.read(&h, 0, 100).unwrap().0, b"again");
}

#[test]
fn share_modes_conflict_between_two_opens() {
    let (mut core, _fs, now) = core();
    let mut c1 = Client::ready(&mut core, 1, now, "export");
    let mut c2 = Client::ready(&mut core, 2, now, "export");
    let rw = GENERIC_READ | GENERIC_WRITE;
    let a = create(
        &mut c1,
        &mut core,
        now,
        create_req("f", rw, SHARE_READ, OPEN_IF, 0),
    )
    .unwrap();
    // The first open shares reading only: a second writer is refused, a reader is not.
    assert_eq!(
        create(&mut c2, &mut core, now, create_req("f", rw, 7, OPEN, 0)).err(),
        Some(NtStatus::SHARING_VIOLATION)
    );
    let r = create(
        &mut c2,
        &mut core,
        now,
        create_req("f", GENERIC_READ, SHARE_READ | SHARE_WRITE, OPEN, 0),
    )
    .unwrap();
    // An overwrite needs write access: refused while shared for reading only.
    assert_eq!(
        create(
            &mut c2,
            &mut core,
            now,
            create_req("f", GENERIC_WRITE, 7, OVERWRITE, 0)
        )
        .err(),
        Some(NtStatus::SHARING_VIOLATION)
    );
    close(&mut c2, &mut core, now, r.file_id, 0);
    close(&mut c1, &mut core, now, a.file_id, 0);
    let w = create(&mut c2, &mut core, now, create_req("f", rw, 7, OPEN, 0)).unwrap();
    close(&mut c2, &mut core, now, w.file_id, 0);
    // A lost connection releases its opens in the lock table.
    let held = create(&mut c1, &mut core, now, create_req("f", rw, 0, OPEN, 0)).unwrap();
    let _ = held;
    assert_eq!(
        create(
            &mut c2,
            &mut core,
            now,
            create_req("f", GENERIC_READ, 7, OPEN, 0)
        )
        .err(),
        Some(NtStatus::SHARING_VIOLATION)
    );
    core.handle_conn_closed(c1.conn, now);
    let again = create(
        &mut c2,
        &mut core,
        now,
        create_req("f", GENERIC_READ, 7, OPEN, 0),
    )
    .unwrap();
    close(&mut c2, &mut core, now, again.file_id, 0);
    assert_eq!(core.smb_open_count(), 0);
    assert!(core.lock_table().files().is_empty());
}

#[test]
fn delete_on_close_and_delete_pending() {
    let (mut core, fs, now) = core();
    let mut c = Client::ready(&mut core, 1, now, "export");
    let rw = GENERIC_READ | GENERIC_WRITE;
    assert_eq!(
        create(
            &mut c,
            &mut core,
            now,
            create_req("t", rw, 7, CREATE, DELETE_ON_CLOSE)
        )
        .err(),
        Some(NtStatus::ACCESS_DENIED),
        "DELETE_ON_CLOSE needs DELETE"
    );
    let a = create(
        &mut c,
        &mut core,
        now,
        create_req("t", rw | DELETE, 7, CREATE, DELETE_ON_CLOSE),
    )
    .unwrap();
    let b = create(
        &mut c,
        &mut core,
        now,
        create_req("t", GENERIC_READ, 7, OPEN, 0),
    )
    .unwrap();
    close(&mut c, &mut core, now, a.file_id, 0);
    assert!(fs.lookup(&fs.root(), b"t").is_ok(), "still open");
    assert_eq!(
        create(
            &mut c,
            &mut core,
            now,
            create_req("t", GENERIC_READ, 7, OPEN, 0)
        )
        .err(),
        Some(NtStatus::DELETE_PENDING)
    );
    close(&mut c, &mut core, now, b.file_id, 0);
    assert_eq!(
        fs.lookup(&fs.root(), b"t").err(),
        Some(vfs::VfsError::NotFound),
        "removed at the last close"
    );
    // A directory too.
    let d = create(
        &mut c,
        &mut core,
        now,
        create_req(
            "dd",
            GENERIC_READ | DELETE,
            7,
            CREATE,
            DIRECTORY_FILE | DELETE_ON_CLOSE,
        ),
    )
    .unwrap();
    close(&mut c, &mut core, now, d.file_id, 0);
    assert!(fs.lookup(&fs.root(), b"dd").is_err());
    let _ = FILE_READ_ATTRIBUTES;
    let _ = SHARE_DELETE;
}

#[test]
fn read_only_share_refuses_writes() {
    let (mut core, _fs, now) = core();
    let mut c = Client::ready(&mut core, 1, now, "ro");
    assert_eq!(
        create(
            &mut c,
            &mut core,
            now,
            create_req("new", GENERIC_WRITE, 7, CREATE, 0)
        )
        .err(),
        Some(NtStatus::ACCESS_DENIED)
    );
    assert_eq!(
        create(
            &mut c,
            &mut core,
            now,
            create_req("readme.txt", GENERIC_WRITE, 7, OPEN, 0)
        )
        .err(),
        Some(NtStatus::ACCESS_DENIED)
    );
    assert_eq!(
        create(
            &mut c,
            &mut core,
            now,
            create_req("readme.txt", GENERIC_READ, 7, OVERWRITE, 0)
        )
        .err(),
        Some(NtStatus::ACCESS_DENIED)
    );
    let f = create(
        &mut c,
        &mut core,
        now,
        create_req("README.TXT", GENERIC_READ, 7, OPEN, 0),
    )
    .unwrap();
    assert_eq!(
        read(&mut c, &mut core, now, f.file_id, 0, 100).unwrap(),
        b"read only"
    );
    assert_eq!(
        write(&mut c, &mut core, now, f.file_id, 0, b"x"),
        Err(NtStatus::ACCESS_DENIED)
    );
    close(&mut c, &mut core, now, f.file_id, 0);
}

#[test]
fn wrong_password_is_refused() {
    let (mut core, _fs, now) = core();
    let mut c = Client::connect(&mut core, 1, now);
    assert_eq!(
        c.login(&mut core, now, "alice", "wrong"),
        NtStatus::LOGON_FAILURE
    );
}

#[test]
fn a_directory_opened_twice_with_full_access() {
    let (mut core, _fs, now) = core();
    let mut c1 = Client::ready(&mut core, 1, now, "export");
    let mut c2 = Client::ready(&mut core, 2, now, "export");
    let all = 0x001f_01ff;
    let a = create(
        &mut c1,
        &mut core,
        now,
        create_req("d", all, 7, OPEN_IF, DIRECTORY_FILE),
    )
    .unwrap();
    assert_eq!(a.create_action, 2);
    let b = create(
        &mut c2,
        &mut core,
        now,
        create_req("d", all, 7, OPEN_IF, DIRECTORY_FILE),
    )
    .unwrap();
    assert_eq!(b.create_action, 1);
    // Both CREATEs in flight at once: the second finds the directory made by the first.
    let req = create_req("e", all, 7, OPEN_IF, DIRECTORY_FILE);
    let m1 = c1.build(Command::CREATE, |o| req.encode(o));
    let m2 = c2.build(Command::CREATE, |o| req.encode(o));
    c1.send(&mut core, now, &m1);
    c2.send(&mut core, now, &m2);
    run_jobs(&mut core, now);
    let statuses: Vec<NtStatus> = [c1.conn, c2.conn]
        .into_iter()
        .flat_map(|c| recv(&mut core, c))
        .map(|r| r.status())
        .collect();
    assert_eq!(statuses, vec![NtStatus::SUCCESS, NtStatus::SUCCESS]);
}

#[test]
fn change_notify_fires_on_smb_and_nfs_changes() {
    use proto_nfs::nfs3::{
        CreateArgs, CreateHow3, DirOpArgs3, FileHandle, Filename3, Nfs3Call, Sattr3,
    };
    let (mut core, fs, now) = core();
    let mut c1 = Client::ready(&mut core, 1, now, "export");
    let mut c2 = Client::ready(&mut core, 2, now, "export");
    let d = open_dir(&mut c1, &mut core, now, "w");
    let notify = |c: &mut Client, core: &mut Core| notify_send(c, core, now, d, 0, 0x3, 4096);
    let r = notify(&mut c1, &mut core);
    assert_eq!(statuses(&r), [NtStatus::PENDING], "interim");
    // Another SMB client creates a file in the directory: the watch fires.
    let f = create(
        &mut c2,
        &mut core,
        now,
        create_req("w\\new.txt", GENERIC_READ | GENERIC_WRITE, 7, CREATE, 0),
    )
    .unwrap();
    let r = recv(&mut core, c1.conn);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status(), NtStatus::SUCCESS);
    let out = OutputBufferResponse::decode(&r[0].msg).unwrap().data;
    let name: Vec<u16> = "new.txt".encode_utf16().collect();
    assert_eq!(
        u32::from_le_bytes(out[4..8].try_into().unwrap()),
        1,
        "FILE_ACTION_ADDED"
    );
    assert_eq!(
        &out[12..],
        &name
            .iter()
            .flat_map(|u| u.to_le_bytes())
            .collect::<Vec<u8>>()[..]
    );
    close(&mut c2, &mut core, now, f.file_id, 0);
    // An NFS client creates one: the next request is answered with it.
    let (dh, _) = fs.lookup(&fs.root(), b"w").unwrap();
    let call = Nfs3Call::Create(CreateArgs {
        where_: DirOpArgs3 {
            dir: FileHandle::new(1, &dh.0).unwrap(),
            name: Filename3(Bytes::from_static(b"from-nfs")),
        },
        how: CreateHow3::Unchecked(Sattr3::default()),
    });
    support::send_nfs(&mut core, 7, &call, now);
    run_jobs(&mut core, now);
    assert!(fs.lookup(&dh, b"from-nfs").is_ok(), "NFS created it");
    let r = notify(&mut c1, &mut core);
    assert_eq!(
        statuses(&r),
        [NtStatus::SUCCESS],
        "kept since the last request"
    );
    let out = OutputBufferResponse::decode(&r[0].msg).unwrap().data;
    let name: Vec<u8> = "from-nfs"
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    assert_eq!(&out[12..], &name[..]);
    // A waiting request ends with the close of its open.
    let r = notify(&mut c1, &mut core);
    assert_eq!(statuses(&r), [NtStatus::PENDING]);
    let m = c1.build(Command::CLOSE, |o| {
        CloseRequest {
            flags: 0,
            file_id: d,
        }
        .encode(o)
    });
    c1.send(&mut core, now, &m);
    run_jobs(&mut core, now);
    let r = recv(&mut core, c1.conn);
    assert_eq!(
        statuses(&r),
        vec![NtStatus(0x0000_010B), NtStatus::SUCCESS],
        "STATUS_NOTIFY_CLEANUP"
    );
}

#[test]
fn a_create_answered_after_its_tree_ended_leaves_no_open() {
    let (mut core, fs, now) = core();
    let mut c = Client::ready(&mut core, 1, now, "export");
    let req = create_req("late.txt", GENERIC_READ | GENERIC_WRITE, 0, CREATE, 0);
    let m = c.build(Command::CREATE, |o| req.encode(o));
    c.send(&mut core, now, &m);
    // The CREATE's job has not run when the tree is disconnected.
    let jobs: Vec<_> = std::iter::from_fn(|| core.poll_job()).collect();
    assert_eq!(jobs.len(), 1);
    let m = c.build(Command::TREE_DISCONNECT, |o| {
        TreeDisconnectRequest.encode(o)
    });
    c.send(&mut core, now, &m);
    for j in jobs {
        core.handle_job_done(j.run(), now);
    }
    run_jobs(&mut core, now);
    let _ = recv(&mut core, c.conn);
    assert!(
        fs.lookup(&fs.root(), b"late.txt").is_ok(),
        "the file was made"
    );
    assert_eq!(core.smb_open_count(), 0, "but no open is left behind");
    assert!(core.lock_table().files().is_empty());
}

#[test]
fn a_waiting_change_notify_is_cancelled_by_message_id() {
    let (mut core, _fs, now) = core();
    let mut c = Client::ready(&mut core, 1, now, "export");
    let d = open_dir(&mut c, &mut core, now, "w");
    let mid = c.next_mid;
    let r = notify_send(&mut c, &mut core, now, d, 0, 0x3, 4096);
    assert_eq!(statuses(&r), [NtStatus::PENDING]);
    // A sync CANCEL (MessageId, no AsyncId), as a client sends it before the interim
    // response reached it (MS-SMB2 §3.3.5.16).
    let m = c.cancel_msg(mid);
    c.send(&mut core, now, &m);
    let r = recv(&mut core, c.conn);
    assert_eq!(statuses(&r), vec![NtStatus::CANCELLED]);
    close(&mut c, &mut core, now, d, 0);
}

#[test]
fn a_waiting_change_notify_ends_with_notify_cleanup_at_tree_disconnect() {
    // MS-FSA 2.1.5.4: closing the open completes its pending CHANGE_NOTIFY with
    // STATUS_NOTIFY_CLEANUP; TREE_DISCONNECT closes the tree's opens (smbtorture
    // smb2.notify.tdis1 waits for that answer).
    let (mut core, _fs, now) = core();
    let mut c = Client::ready(&mut core, 1, now, "export");
    let d = open_dir(&mut c, &mut core, now, "w");
    let r = notify_send(&mut c, &mut core, now, d, 0, 0x3, 4096);
    assert_eq!(statuses(&r), [NtStatus::PENDING]);
    let m = c.build(Command::TREE_DISCONNECT, |o| {
        TreeDisconnectRequest.encode(o)
    });
    c.send(&mut core, now, &m);
    run_jobs(&mut core, now);
    let statuses: Vec<_> = recv(&mut core, c.conn).iter().map(Resp::status).collect();
    assert!(
        statuses.contains(&NtStatus(0x0000_010B)),
        "the pending notify is answered STATUS_NOTIFY_CLEANUP: {statuses:?}"
    );
    assert_eq!(core.smb_open_count(), 0);
}

/// Hands `bytes` over the way `runtime-mio` does: gathered in the runtime's buffer until
/// `Core::hand_over_at` says the core can make progress, then `handle_tcp_buf`.
fn runtime_feed(core: &mut Core, conn: ConnId, held: &mut BytesMut, bytes: &[u8], now: Instant) {
    held.extend_from_slice(bytes);
    if held.len() >= core.hand_over_at(conn, held) {
        core.handle_tcp_buf(conn, held, now);
    }
}

fn framed(m: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    nbss::put_frame(&mut f, m);
    f
}

#[test]
fn hand_over_follows_the_nbss_frames_of_the_stream() {
    let (mut core, _fs, now) = core();
    let mut c = Client::ready(&mut core, 1, now, "export");
    let conn = c.conn;
    assert_eq!(core.hand_over_at(conn, &[]), 4);
    assert!(!core.holds_partial_record(conn));
    // A WRITE of data that looks like RPC record marks (the stall of issue 10) and like
    // NBSS headers, fed in pieces at arbitrary offsets: every piece that completes the
    // frame is handed over, and the WRITE is answered.
    let f = create(
        &mut c,
        &mut core,
        now,
        create_req("w.bin", GENERIC_WRITE, 0, CREATE, NON_DIRECTORY_FILE),
    )
    .unwrap();
    let data: Vec<u8> = (0..20_000u32)
        .flat_map(|i| [0x80, 0x02, 0xd8, (i % 251) as u8])
        .collect();
    let req = WriteRequest {
        offset: 0,
        file_id: f.file_id,
        channel: 0,
        remaining_bytes: 0,
        channel_info: Vec::new(),
        flags: 0,
        data: Bytes::from(data.clone()),
    };
    c.charge = data.len().div_ceil(65536) as u16;
    let frame = framed(&c.build(Command::WRITE, |o| req.encode(o)));
    let mut held = BytesMut::new();
    for piece in frame.chunks(4093) {
        runtime_feed(&mut core, conn, &mut held, piece, now);
        if held.is_empty() && core.holds_partial_record(conn) {
            // The core holds the start of the frame: it asks for exactly the rest.
            assert!(core.hand_over_at(conn, &[0x80, 0, 0, 16]) <= frame.len());
        }
    }
    assert!(held.is_empty(), "everything handed over");
    assert!(!core.holds_partial_record(conn));
    run_jobs(&mut core, now);
    let r = recv(&mut core, conn);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status(), NtStatus::SUCCESS);
}

#[test]
fn logon_deadline_closes_connections_that_never_log_on() {
    let (mut core, _fs, now) = core();
    let silent = Client::connect(&mut core, 1, now);
    let mut late = Client::connect(&mut core, 2, now + Duration::from_secs(10));
    let mut ok = Client::connect(&mut core, 3, now);
    assert_eq!(
        ok.login(&mut core, now, "alice", PASSWORD),
        NtStatus::SUCCESS
    );
    let mut wrong = Client::connect(&mut core, 4, now);
    assert_eq!(
        wrong.login(&mut core, now, "alice", "wrong"),
        NtStatus::LOGON_FAILURE
    );
    let deadline = now + server::DEFAULT_SMB_LOGON_TIMEOUT;
    assert_eq!(core.poll_timeout(), Some(deadline));
    core.handle_timeout(deadline - Duration::from_millis(1));
    assert_eq!(core.poll_close(), None, "nothing before the deadline");
    core.handle_timeout(deadline);
    let mut closed = Vec::new();
    while let Some(c) = core.poll_close() {
        closed.push(c);
    }
    closed.sort();
    assert_eq!(closed, vec![silent.conn, wrong.conn]);
    for c in closed {
        core.handle_conn_closed(c, deadline);
    }
    // The one that connected later gets its own 30 s; logging on ends it.
    assert_eq!(
        core.poll_timeout(),
        Some(deadline + Duration::from_secs(10))
    );
    assert_eq!(
        late.login(&mut core, deadline, "alice", PASSWORD),
        NtStatus::SUCCESS
    );
    assert_eq!(core.poll_timeout(), None);
    core.handle_timeout(deadline + Duration::from_secs(3600));
    assert_eq!(core.poll_close(), None, "logged-on connections stay");
    assert_eq!(ok.tree(&mut core, deadline, "export"), NtStatus::SUCCESS);
}

#[test]
fn an_smb_connection_held_back_is_resumed() {
    let (mut core, _fs, now) = core();
    let mut c = Client::ready(&mut core, 1, now, "export");
    let conn = c.conn;
    // Credits for what follows.
    for _ in 0..8 {
        let r = c.call(&mut core, now, Command::ECHO, |o| {
            o.extend_from_slice(&[4, 0, 0, 0])
        });
        assert_eq!(r.status(), NtStatus::SUCCESS);
    }
    // More CREATEs than the machine takes at once (max_calls 128), jobs not run: the core
    // stops wanting bytes.
    let mut held = BytesMut::new();
    for i in 0..140 {
        let req = create_req(
            &format!("f{i}"),
            GENERIC_WRITE,
            0,
            CREATE,
            NON_DIRECTORY_FILE,
        );
        let f = framed(&c.build(Command::CREATE, |o| req.encode(o)));
        runtime_feed(&mut core, conn, &mut held, &f, now);
    }
    assert!(!core.wants_read(conn));
    assert_eq!(core.poll_resumed(), None);
    run_jobs(&mut core, now);
    assert!(core.wants_read(conn));
    assert_eq!(core.poll_resumed(), Some(conn), "told to read again");
    run_jobs(&mut core, now);
    let r = recv(&mut core, conn);
    assert_eq!(r.len(), 140);
    assert!(r.iter().all(|r| r.status() == NtStatus::SUCCESS));
}

/// CHANGE_NOTIFY on the directory open `dir` of `c`; the responses that came at once.
fn notify_send(
    c: &mut Client,
    core: &mut Core,
    now: Instant,
    dir: FileId,
    flags: u16,
    filter: u32,
    len: u32,
) -> Vec<Resp> {
    let req = ChangeNotifyRequest {
        flags,
        output_buffer_length: len,
        file_id: dir,
        completion_filter: filter,
    };
    let m = c.build(Command::CHANGE_NOTIFY, |o| req.encode(o));
    c.send(core, now, &m);
    run_jobs(core, now);
    recv(core, c.conn)
}

/// The (action, name) pairs of a FILE_NOTIFY_INFORMATION list (MS-FSCC §2.7.1).
fn notify_changes(r: &Resp) -> Vec<(u32, String)> {
    let out = OutputBufferResponse::decode(&r.msg).unwrap().data;
    let mut v = Vec::new();
    let mut at = 0usize;
    loop {
        let le = |i: usize| u32::from_le_bytes(out[at + i..at + i + 4].try_into().unwrap());
        let (next, action, len) = (le(0), le(4), le(8) as usize);
        let name: Vec<u16> = out[at + 12..at + 12 + len]
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        v.push((action, String::from_utf16(&name).unwrap()));
        if next == 0 {
            return v;
        }
        at += next as usize;
    }
}

const WATCH_TREE: u16 = 1;
const CHANGE_FILE_NAME: u32 = 0x1;
const CHANGE_DIR_NAME: u32 = 0x2;
const CHANGE_ATTRIBUTES: u32 = 0x4;
const CHANGE_LAST_WRITE: u32 = 0x10;
const ADDED: u32 = 1;
const MODIFIED: u32 = 3;
const STATUS_NOTIFY_ENUM_DIR: NtStatus = NtStatus(0x0000_010C);

fn open_dir(c: &mut Client, core: &mut Core, now: Instant, name: &str) -> FileId {
    create(
        c,
        core,
        now,
        create_req(name, GENERIC_READ, 7, OPEN_IF, DIRECTORY_FILE),
    )
    .unwrap()
    .file_id
}

#[test]
fn a_watch_tree_sees_changes_below_its_directory_by_relative_name() {
    // MS-SMB2 §2.2.35 SMB2_WATCH_TREE, MS-FSA 2.1.5.10 WatchTree: changes anywhere below
    // the directory, named by their path from it (smbtorture smb2.notify.rec).
    let (mut core, _fs, now) = core();
    let mut c1 = Client::ready(&mut core, 1, now, "export");
    let mut c2 = Client::ready(&mut core, 2, now, "export");
    let top = open_dir(&mut c1, &mut core, now, "top");
    let flat = open_dir(&mut c1, &mut core, now, "top");
    let names = CHANGE_FILE_NAME | CHANGE_DIR_NAME;
    let r = notify_send(&mut c1, &mut core, now, top, WATCH_TREE, names, 4096);
    assert_eq!(statuses(&r), vec![NtStatus::PENDING]);
    let r = notify_send(&mut c1, &mut core, now, flat, 0, names, 4096);
    assert_eq!(statuses(&r), vec![NtStatus::PENDING]);
    let sub = open_dir(&mut c2, &mut core, now, "top\\sub");
    close(&mut c2, &mut core, now, sub, 0);
    // Both see the direct child.
    let r = recv(&mut core, c1.conn);
    assert_eq!(statuses(&r), vec![NtStatus::SUCCESS; 2]);
    for x in &r {
        assert_eq!(notify_changes(x), vec![(ADDED, "sub".to_string())]);
    }
    // A file two levels down, the directories spelled in another case: only the
    // WATCH_TREE watch sees it, by its path from "top".
    let r = notify_send(&mut c1, &mut core, now, top, WATCH_TREE, names, 4096);
    assert_eq!(statuses(&r), vec![NtStatus::PENDING]);
    let f = create(
        &mut c2,
        &mut core,
        now,
        create_req("TOP\\Sub\\f.txt", GENERIC_WRITE, 7, CREATE, 0),
    )
    .unwrap();
    let r = recv(&mut core, c1.conn);
    assert_eq!(statuses(&r), vec![NtStatus::SUCCESS]);
    assert_eq!(
        notify_changes(&r[0]),
        vec![(ADDED, "Sub\\f.txt".to_string())]
    );
    close(&mut c2, &mut core, now, f.file_id, 0);
    let r = notify_send(&mut c1, &mut core, now, flat, 0, names, 4096);
    assert_eq!(
        statuses(&r),
        vec![NtStatus::PENDING],
        "the plain watch saw nothing below its directory"
    );
    // A change of "top" itself belongs to its parent: not reported to its own watch.
    let r = notify_send(&mut c1, &mut core, now, top, WATCH_TREE, names, 4096);
    assert_eq!(statuses(&r), vec![NtStatus::PENDING]);
    let other = open_dir(&mut c2, &mut core, now, "other");
    close(&mut c2, &mut core, now, other, 0);
    assert!(
        recv(&mut core, c1.conn).is_empty(),
        "a sibling is not below"
    );
    for d in [top, flat] {
        let m = c1.build(Command::CLOSE, |o| {
            CloseRequest {
                flags: 0,
                file_id: d,
            }
            .encode(o)
        });
        c1.send(&mut core, now, &m);
        run_jobs(&mut core, now);
        assert_eq!(
            statuses(&recv(&mut core, c1.conn)),
            vec![NtStatus(0x0000_010B), NtStatus::SUCCESS],
            "the waiting request ends with the close (STATUS_NOTIFY_CLEANUP)"
        );
    }
}

#[test]
fn the_first_change_notify_fixes_the_filter_and_later_ones_queue() {
    // MS-FSA 2.1.5.10: a second request on the open reuses its watch (the first filter,
    // smbtorture smb2.notify.mask-change); several wait, answered oldest first.
    let (mut core, _fs, now) = core();
    let mut c1 = Client::ready(&mut core, 1, now, "export");
    let mut c2 = Client::ready(&mut core, 2, now, "export");
    let d = open_dir(&mut c1, &mut core, now, "w");
    let mid1 = c1.next_mid;
    let r = notify_send(&mut c1, &mut core, now, d, 0, CHANGE_DIR_NAME, 4096);
    assert_eq!(statuses(&r), vec![NtStatus::PENDING]);
    // The second asks for file names: ignored, the watch reports directory names only.
    let mid2 = c1.next_mid;
    let r = notify_send(&mut c1, &mut core, now, d, 0, CHANGE_FILE_NAME, 4096);
    assert_eq!(statuses(&r), vec![NtStatus::PENDING]);
    let f = create(
        &mut c2,
        &mut core,
        now,
        create_req("w\\file", GENERIC_WRITE, 7, CREATE, 0),
    )
    .unwrap();
    close(&mut c2, &mut core, now, f.file_id, 0);
    assert!(
        recv(&mut core, c1.conn).is_empty(),
        "a file name is not watched"
    );
    for (mid, name) in [(mid1, "d1"), (mid2, "d2")] {
        let x = open_dir(&mut c2, &mut core, now, &format!("w\\{name}"));
        close(&mut c2, &mut core, now, x, 0);
        let r = recv(&mut core, c1.conn);
        assert_eq!(statuses(&r), vec![NtStatus::SUCCESS]);
        assert_eq!(r[0].header.message_id, mid, "the oldest waiting request");
        assert_eq!(notify_changes(&r[0]), vec![(ADDED, name.to_string())]);
    }
    close(&mut c1, &mut core, now, d, 0);
}

#[test]
fn a_watched_directory_deleted_while_open_ends_its_watch_with_delete_pending() {
    // MS-FSA 2.1.5.4: the directory's pending notifications complete with
    // STATUS_DELETE_PENDING once it is to be deleted (smbtorture smb2.notify.rmdir1-4).
    let (mut core, fs, now) = core();
    let mut c1 = Client::ready(&mut core, 1, now, "export");
    let mut c2 = Client::ready(&mut core, 2, now, "export");
    let d = open_dir(&mut c1, &mut core, now, "gone");
    let r = notify_send(&mut c1, &mut core, now, d, 0, CHANGE_FILE_NAME, 4096);
    assert_eq!(statuses(&r), vec![NtStatus::PENDING]);
    let rm = create(
        &mut c2,
        &mut core,
        now,
        create_req("gone", DELETE, 7, OPEN, DIRECTORY_FILE | DELETE_ON_CLOSE),
    )
    .unwrap();
    assert!(recv(&mut core, c1.conn).is_empty());
    close(&mut c2, &mut core, now, rm.file_id, 0);
    assert_eq!(
        statuses(&recv(&mut core, c1.conn)),
        vec![NtStatus::DELETE_PENDING]
    );
    // A new request on it is refused the same way; the last close removes it.
    let r = notify_send(&mut c1, &mut core, now, d, 0, CHANGE_FILE_NAME, 4096);
    assert_eq!(statuses(&r), vec![NtStatus::DELETE_PENDING]);
    close(&mut c1, &mut core, now, d, 0);
    assert!(fs.lookup(&fs.root(), b"gone").is_err());
}

#[test]
fn writes_and_attribute_changes_are_reported_as_modified() {
    // SET_INFO basic: the bits of the fields set (MS-FSA 2.1.5.15.1), at once; WRITE: at
    // the CLOSE of the open (LAST_WRITE and SIZE).
    let (mut core, _fs, now) = core();
    let mut c1 = Client::ready(&mut core, 1, now, "export");
    let mut c2 = Client::ready(&mut core, 2, now, "export");
    let d = open_dir(&mut c1, &mut core, now, "w");
    let f = create(
        &mut c2,
        &mut core,
        now,
        create_req("w\\f", GENERIC_READ | GENERIC_WRITE, 7, CREATE, 0),
    )
    .unwrap();
    let r = notify_send(&mut c1, &mut core, now, d, 0, CHANGE_LAST_WRITE, 4096);
    assert_eq!(statuses(&r), vec![NtStatus::PENDING]);
    // Only the attributes are set: a LAST_WRITE watch does not see it.
    let basic = proto_smb2::fscc::file::FileBasicInformation {
        creation_time: 0,
        last_access_time: 0,
        last_write_time: 0,
        change_time: 0,
        file_attributes: 0x2,
    };
    let set = SetInfoRequest {
        info_type: 1,
        file_info_class: 4,
        additional_information: 0,
        file_id: f.file_id,
        buffer: {
            use proto_smb2::fscc::InfoClass;
            let mut b = Vec::new();
            basic.encode(&mut b);
            b
        },
    };
    let r = c2.call(&mut core, now, Command::SET_INFO, |o| set.encode(o));
    assert_eq!(r.status(), NtStatus::SUCCESS);
    assert!(recv(&mut core, c1.conn).is_empty(), "attributes only");
    assert_eq!(write(&mut c2, &mut core, now, f.file_id, 0, b"data"), Ok(4));
    assert!(recv(&mut core, c1.conn).is_empty(), "not before the close");
    close(&mut c2, &mut core, now, f.file_id, 0);
    let r = recv(&mut core, c1.conn);
    assert_eq!(statuses(&r), vec![NtStatus::SUCCESS]);
    assert_eq!(notify_changes(&r[0]), vec![(MODIFIED, "f".to_string())]);
    close(&mut c1, &mut core, now, d, 0);
    // An ATTRIBUTES watch sees the SET_INFO at once.
    let d = open_dir(&mut c1, &mut core, now, "w");
    let r = notify_send(&mut c1, &mut core, now, d, 0, CHANGE_ATTRIBUTES, 4096);
    assert_eq!(statuses(&r), vec![NtStatus::PENDING]);
    let f = create(
        &mut c2,
        &mut core,
        now,
        create_req("w\\f", GENERIC_READ | GENERIC_WRITE, 7, OPEN, 0),
    )
    .unwrap();
    let set = SetInfoRequest {
        file_id: f.file_id,
        ..set
    };
    let r = c2.call(&mut core, now, Command::SET_INFO, |o| set.encode(o));
    assert_eq!(r.status(), NtStatus::SUCCESS);
    let r = recv(&mut core, c1.conn);
    assert_eq!(notify_changes(&r[0]), vec![(MODIFIED, "f".to_string())]);
    close(&mut c2, &mut core, now, f.file_id, 0);
    close(&mut c1, &mut core, now, d, 0);
}

#[test]
fn changes_kept_between_requests_must_fit_the_first_requests_buffer() {
    // Windows and Samba size the kept changes by the first request: with a 1-byte first
    // request every later one is answered STATUS_NOTIFY_ENUM_DIR (smbtorture
    // smb2.notify.valid-req).
    let (mut core, _fs, now) = core();
    let mut c1 = Client::ready(&mut core, 1, now, "export");
    let mut c2 = Client::ready(&mut core, 2, now, "export");
    let d = open_dir(&mut c1, &mut core, now, "w");
    let r = notify_send(&mut c1, &mut core, now, d, 0, CHANGE_DIR_NAME, 1);
    assert_eq!(statuses(&r), vec![NtStatus::PENDING]);
    let x = open_dir(&mut c2, &mut core, now, "w\\a");
    close(&mut c2, &mut core, now, x, 0);
    assert_eq!(
        statuses(&recv(&mut core, c1.conn)),
        vec![STATUS_NOTIFY_ENUM_DIR],
        "does not fit in 1 byte"
    );
    let x = open_dir(&mut c2, &mut core, now, "w\\b");
    close(&mut c2, &mut core, now, x, 0);
    let r = notify_send(&mut c1, &mut core, now, d, 0, CHANGE_DIR_NAME, 4096);
    assert_eq!(
        statuses(&r),
        vec![STATUS_NOTIFY_ENUM_DIR],
        "kept too much for 1 byte"
    );
    close(&mut c1, &mut core, now, d, 0);
}

#[test]
fn a_session_setup_with_previous_session_id_ends_that_session() {
    // MS-SMB2 §3.3.5.5.3: the earlier session of the same user ends (its opens close, its
    // waiting CHANGE_NOTIFY gets STATUS_NOTIFY_CLEANUP) and is gone for later requests
    // (smbtorture smb2.notify.session-reconnect); another user's session is left alone.
    let (mut core, _fs, now) = core();
    let mut c = Client::ready(&mut core, 1, now, "export");
    let d = open_dir(&mut c, &mut core, now, "w");
    let r = notify_send(
        &mut c,
        &mut core,
        now,
        d,
        WATCH_TREE,
        CHANGE_FILE_NAME,
        4096,
    );
    assert_eq!(statuses(&r), vec![NtStatus::PENDING]);
    // A new session of the same user, on another connection, naming the old one.
    let mut c2 = Client::connect(&mut core, 2, now);
    c2.previous_session_id = c.sid;
    assert_eq!(
        c2.login(&mut core, now, "alice", PASSWORD),
        NtStatus::SUCCESS
    );
    let r = recv(&mut core, c.conn);
    assert_eq!(
        statuses(&r),
        vec![NtStatus(0x0000_010B)],
        "the old session's watch ends with its open"
    );
    assert_eq!(core.smb_open_count(), 0);
    let r = c.call(&mut core, now, Command::LOGOFF, |o| LogoffRequest.encode(o));
    assert_eq!(r.status(), NtStatus::USER_SESSION_DELETED);
}

#[test]
fn a_session_setup_naming_another_connections_session_is_judged_by_the_core_lookup() {
    // MS-SMB2 §3.3.5.5: the core finds the session on the connection that holds it
    // (GlobalSessionTable); binding from a 2.x connection is refused with
    // REQUEST_NOT_ACCEPTED, a session no connection holds is USER_SESSION_DELETED
    // (smbtorture smb2.session.bind_negative_smb210s), and the session keeps serving.
    let (mut core, _fs, now) = core();
    let mut c = Client::ready(&mut core, 1, now, "export");
    let mut c2 = Client::connect(&mut core, 2, now);
    let neg = client::negotiate_request(&[dialect::SMB210], &[], 0, [9; 16], [0; 32]);
    let r = c2.call(&mut core, now, Command::NEGOTIATE, |o| neg.encode(o));
    assert_eq!(r.status(), NtStatus::SUCCESS);
    let bind = SessionSetupRequest {
        flags: session_setup::request_flags::BINDING,
        security_mode: 1,
        capabilities: 0,
        channel: 0,
        previous_session_id: 0,
        security_buffer: vec![0x60, 0x00],
    };
    for (sid, want) in [
        (c.sid, NtStatus::REQUEST_NOT_ACCEPTED),
        (c.sid ^ 1, NtStatus::USER_SESSION_DELETED),
    ] {
        c2.sid = sid;
        let r = c2.call(&mut core, now, Command::SESSION_SETUP, |o| bind.encode(o));
        assert_eq!(r.status(), want, "session {sid:#x}");
        assert_eq!(r.header.session_id, sid);
    }
    let r = c.call(&mut core, now, Command::ECHO, |o| EchoRequest.encode(o));
    assert_eq!(r.status(), NtStatus::SUCCESS, "the session is untouched");
}

#[test]
fn an_allocation_size_context_reserves_space_for_a_new_or_overwritten_file() {
    // MS-SMB2 §2.2.13.2.6 AlSi, MS-FSA 2.1.5.1.2.1: the new file's allocation, reported in
    // the CREATE response (smbtorture smb2.create.blob); an existing file opened without
    // overwrite keeps its own; a create context name under 4 bytes is refused.
    let (mut core, _fs, now) = core();
    let mut c = Client::ready(&mut core, 1, now, "export");
    let mut req = create_req("alloc.bin", GENERIC_READ | GENERIC_WRITE, 7, CREATE, 0);
    req.contexts = vec![RequestContext::AllocationSize(1 << 20).to_context()];
    let f = create(&mut c, &mut core, now, req.clone()).unwrap();
    assert_eq!((f.info.allocation_size, f.info.end_of_file), (1 << 20, 0));
    close(&mut c, &mut core, now, f.file_id, 0);
    req.create_disposition = OPEN;
    req.contexts = vec![RequestContext::AllocationSize(4 << 20).to_context()];
    let f = create(&mut c, &mut core, now, req.clone()).unwrap();
    assert_eq!(f.info.allocation_size, 1 << 20, "opened, not reallocated");
    close(&mut c, &mut core, now, f.file_id, 0);
    req.create_disposition = OVERWRITE;
    let f = create(&mut c, &mut core, now, req.clone()).unwrap();
    assert_eq!(
        f.info.allocation_size,
        4 << 20,
        "overwritten with the new allocation"
    );
    close(&mut c, &mut core, now, f.file_id, 0);
    for name in [&b""[..], b"x", b"xyz"] {
        req.contexts = vec![CreateContext {
            name: name.to_vec(),
            data: Vec::new(),
        }];
        assert_eq!(
            create(&mut c, &mut core, now, req.clone()),
            Err(NtStatus::INVALID_PARAMETER),
            "name {name:?}"
        );
    }
    req.contexts = vec![CreateContext {
        name: b"FooO".to_vec(),
        data: Vec::new(),
    }];
    let f = create(&mut c, &mut core, now, req).unwrap();
    close(&mut c, &mut core, now, f.file_id, 0);
}

#[test]
fn writes_to_one_file_run_one_at_a_time_in_order() {
    let (mut core, fs, now) = core();
    let mut c = Client::ready(&mut core, 1, now, "export");
    let conn = c.conn;
    let open = |c: &mut Client, core: &mut Core, name: &str| {
        create(
            c,
            core,
            now,
            create_req(name, GENERIC_WRITE, 0, CREATE, NON_DIRECTORY_FILE),
        )
        .unwrap()
        .file_id
    };
    let (a, b) = (
        open(&mut c, &mut core, "a.bin"),
        open(&mut c, &mut core, "b.bin"),
    );
    // Three WRITEs over the same bytes of a.bin and one to b.bin, all pipelined: only
    // a.bin's first and b.bin's run.
    for (file, offset, byte) in [(a, 0u64, 1u8), (a, 0, 2), (b, 0, 9), (a, 0, 3)] {
        let req = WriteRequest {
            offset,
            file_id: file,
            channel: 0,
            remaining_bytes: 0,
            channel_info: Vec::new(),
            flags: 0,
            data: Bytes::from(vec![byte; 4]),
        };
        let m = c.build(Command::WRITE, |o| req.encode(o));
        c.send(&mut core, now, &m);
    }
    let mut ready = Vec::new();
    while let Some(job) = core.poll_job() {
        ready.push(job);
    }
    assert_eq!(ready.len(), 2, "one WRITE of each file at a time");
    // Each finished WRITE lets the next of its file go, in the order they came.
    let mut done = 0;
    while let Some(job) = ready.pop().or_else(|| core.poll_job()) {
        let r = job.run();
        core.handle_job_done(r, now);
        done += 1;
        let mut next = Vec::new();
        while let Some(job) = core.poll_job() {
            next.push(job);
        }
        assert!(next.len() <= 1, "one WRITE of a.bin follows each one done");
        ready.extend(next);
    }
    assert_eq!(done, 4);
    let r = recv(&mut core, conn);
    assert_eq!(r.len(), 4);
    assert!(r.iter().all(|r| r.status() == NtStatus::SUCCESS));
    let root = fs.root();
    let (h, _) = fs.lookup(&root, b"a.bin").unwrap();
    assert_eq!(
        fs.read(&h, 0, 12).unwrap().0,
        [3u8; 4],
        "the last WRITE sent wins"
    );
}
