//! The fuzz target `smb_conn` (body shared with `cargo test`, see [`crate::fuzz_targets`])
//! and the transcripts its seed corpus starts from.
//!
//! Input layout: a flags byte (bit 0 signing required, bit 1 encryption required, bit 2
//! guest logons allowed), a chunk byte (the stream is fed in pieces of `4·b + 1` bytes),
//! then the client's byte stream. The upper layer answers calls by their id: errors,
//! bodies, CREATE-like bodies with a FileId, async with a later answer, all deterministic.
//!
//! Oracles: nothing panics; every transmit is one NBSS frame holding an SMB2 response
//! chain (every message flagged as a response) or a transform for a known session; the
//! machine's queued output stays under its limit; once it closes, it sends nothing more;
//! the stream fed whole or in pieces gives the same output.

use bytes::BytesMut;
use proto_smb2::client;
use proto_smb2::cmd::negotiate::cipher;
use proto_smb2::cmd::*;
use proto_smb2::compound::{split_compound, CompoundWriter};
use proto_smb2::crypto::transform;
use proto_smb2::header::flags;
use proto_smb2::nbss;
use proto_smb2::server::{
    Connection, EncryptPolicy, Event, Reply, ServerConfig, Share, ShareKind, UserMap,
};
use proto_smb2::{Command, Header, HeaderId, NtStatus};
use std::sync::Arc;

/// The fixed wall time of the target.
pub const NOW: u64 = 133_500_000_000_000_000;
/// The fixed seed of the target's connection.
pub const SEED: [u8; 32] = [7; 32];
const PASSWORD: &str = "fuzz-pw";

/// The target's configuration for a flags byte.
pub fn config(flags: u8) -> ServerConfig {
    let users = UserMap::default().with_password("alice", PASSWORD, 1000, 1000);
    let share = Share {
        name: "export".into(),
        id: 1,
        kind: ShareKind::Disk,
        read_only: false,
        guest_ok: true,
        encrypt: EncryptPolicy::Off,
        signing_required: false,
    };
    let mut c = ServerConfig::new([0x42; 16], vec![share], Arc::new(users));
    c.signing_required = flags & 1 != 0;
    c.encrypt = if flags & 2 != 0 {
        EncryptPolicy::Required
    } else {
        EncryptPolicy::Off
    };
    c.guest = (flags & 4 != 0).then_some((65534, 65534));
    c.limits.max_frame = 1 << 20;
    c.limits.max_queued_bytes = 4 << 20;
    c
}

/// The fuzz target body.
pub fn smb_conn(data: &[u8]) {
    let Some((&[flags, chunk], stream)) = data.split_first_chunk::<2>() else {
        return;
    };
    let chunked = run(flags, usize::from(chunk) * 4 + 1, stream);
    // Every request is answered however the stream was cut: fed in one piece, the machine
    // answers the same requests and closes (or not) alike. Statuses and order may differ,
    // since calls then wait while later frames (a LOGOFF, say) are processed. Bounded to
    // inputs that cannot fill the call limit in one piece, where back-pressure
    // legitimately changes what happens.
    if stream.len() <= 8192 {
        let whole = run(flags, stream.len().max(1), stream);
        assert_eq!(
            chunked.1, whole.1,
            "closing depends on how the input was cut"
        );
        if !chunked.1 {
            assert_eq!(
                answered(&chunked.0),
                answered(&whole.0),
                "the requests answered depend on how the input was cut"
            );
        }
    }
}

/// The requests answered: (MessageId, command), an interim and a final answer once.
fn answered(a: &[Answer]) -> Vec<(u64, u16)> {
    let mut v: Vec<(u64, u16)> = a.iter().map(|x| (x.0, x.1)).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// One answer as the oracle compares it: MessageId, command, status, async; an encrypted
/// frame is its session id.
type Answer = (u64, u16, u32, bool);

/// Runs the machine over `stream` fed in pieces of `chunk` bytes; returns its answers,
/// sorted, and whether it closed.
fn run(flags: u8, chunk: usize, stream: &[u8]) -> (Vec<Answer>, bool) {
    let config = config(flags);
    let max_queued = config.limits.max_queued_bytes;
    let mut conn = Connection::new(Arc::new(config), SEED);
    let mut pending = Vec::new();
    let mut closed = false;
    let mut sent = Vec::new();
    for piece in stream.chunks(chunk) {
        conn.handle_bytes(piece, NOW);
        drive(&mut conn, &mut pending, &mut closed, max_queued, &mut sent);
    }
    for id in std::mem::take(&mut pending) {
        let _ = conn.handle_reply(id, Reply::error(NtStatus::CANCELLED));
    }
    drive(&mut conn, &mut pending, &mut closed, max_queued, &mut sent);
    sent.sort_unstable();
    (sent, closed)
}

fn drive(
    conn: &mut Connection,
    pending: &mut Vec<proto_smb2::server::CallId>,
    closed: &mut bool,
    max_queued: usize,
    sent: &mut Vec<Answer>,
) {
    for _ in 0..1000 {
        let mut progress = false;
        while let Some(ev) = conn.poll_event() {
            progress = true;
            match ev {
                Event::Call(c) => match c.id.0 % 4 {
                    0 => {
                        let _ = conn.handle_reply(c.id, Reply::error(NtStatus::NOT_SUPPORTED));
                    }
                    1 => {
                        let _ = conn.handle_reply(c.id, Reply::ok(vec![0x11; 17]));
                    }
                    2 => {
                        // A CREATE-shaped body: its FileId at offset 64 feeds related ops.
                        let mut b = vec![0u8; 89];
                        b[0] = 89;
                        b[64..80].copy_from_slice(&[0x5a; 16]);
                        let _ = conn.handle_reply(c.id, Reply::ok(b));
                    }
                    _ => {
                        if conn.go_async(c.id).is_ok() {
                            pending.push(c.id);
                        } else {
                            let _ = conn.handle_reply(c.id, Reply::error(NtStatus::END_OF_FILE));
                        }
                    }
                },
                Event::Cancel(id) => {
                    if let Some(i) = pending.iter().position(|p| *p == id) {
                        pending.remove(i);
                        let _ = conn.handle_reply(id, Reply::error(NtStatus::CANCELLED));
                    }
                }
                // One connection: no other holds the session.
                Event::SessionLookup { session_id } => conn.handle_session_lookup(session_id, None),
                Event::SessionEstablished { .. }
                | Event::SessionClosed { .. }
                | Event::TreeClosed { .. } => {}
            }
        }
        while let Some(out) = conn.poll_transmit() {
            progress = true;
            assert!(!*closed, "output after the close");
            assert!(out.len() <= max_queued + nbss::MAX_FRAME_LEN);
            sent.extend(check_frame(&out));
        }
        if conn.poll_close().is_some() {
            *closed = true;
        }
        if !progress {
            return;
        }
    }
    panic!("the machine keeps producing output without input");
}

fn check_frame(out: &[u8]) -> Vec<Answer> {
    let mut buf = BytesMut::from(out);
    let f = nbss::take_frame(&mut buf, nbss::MAX_FRAME_LEN)
        .expect("a well-formed NBSS frame")
        .expect("a whole frame");
    assert!(buf.is_empty(), "one frame per transmit");
    if transform::is_transform(&f.payload) {
        let th = transform::TransformHeader::decode(&f.payload).expect("transform header");
        assert_ne!(th.session_id, 0);
        return vec![(th.session_id, u16::MAX, 0, false)];
    }
    let parts = split_compound(&f.payload, 1024).expect("a response chain");
    parts
        .iter()
        .map(|p| {
            let h = &p.header;
            assert!(h.is_response(), "a response");
            let is_async = matches!(h.id, HeaderId::Async { .. });
            (h.message_id, h.command.0, h.status.0, is_async)
        })
        .collect()
}

/// A client that records the bytes it sends, for seed corpora: it drives a machine of the
/// target's configuration (flags 0) through NEGOTIATE, NTLMv2 SESSION_SETUP, TREE_CONNECT
/// and a few requests, answering its challenge for real (the seed is fixed, so the
/// transcript replays).
pub fn transcript(dialect_: u16) -> Vec<u8> {
    let mut t = Transcript {
        conn: Connection::new(Arc::new(config(0)), SEED),
        sent: vec![0, 15],
        mid: 0,
        sid: 0,
        tid: 0,
    };
    let neg = client::negotiate_request(&[dialect_], &[cipher::AES128_GCM], 0x04, [3; 16], [1; 32]);
    t.call(Command::NEGOTIATE, |o| neg.encode(o));
    let auth = client::NtlmClient::new(
        client::DEFAULT_NTLM_FLAGS,
        client::Credentials::password("alice", "", "", PASSWORD),
        client::ClientInputs {
            time: NOW,
            client_challenge: [9; 8],
            random_session_key: [0x33; 16],
        },
    );
    let ss = auth.session_setup(1, 0);
    let r = t.call(Command::SESSION_SETUP, |o| ss.encode(o));
    t.sid = Header::decode(&r).map(|h| h.session_id).unwrap_or(0);
    let Ok(logon) = auth.answer(&r) else {
        return t.sent;
    };
    let ss2 = SessionSetupRequest {
        security_buffer: logon.token,
        ..ss
    };
    t.call(Command::SESSION_SETUP, |o| ss2.encode(o));
    let tc = TreeConnectRequest {
        flags: 0,
        path: "\\\\h\\export".encode_utf16().collect(),
        extension: None,
    };
    let r = t.call(Command::TREE_CONNECT, |o| tc.encode(o));
    t.tid = Header::decode(&r)
        .ok()
        .and_then(|h| h.tree_id())
        .unwrap_or(0);
    t.call(Command::ECHO, |o| EchoRequest.encode(o));
    let fid = FileId {
        persistent: 1,
        volatile: 2,
    };
    t.call(Command::READ, |o| {
        ReadRequest {
            padding: 0x50,
            flags: 0,
            length: 4096,
            offset: 0,
            file_id: fid,
            minimum_count: 0,
            channel: 0,
            remaining_bytes: 0,
            channel_info: Vec::new(),
        }
        .encode(o)
    });
    // A related chain: CREATE, QUERY_INFO, CLOSE on the CREATE's FileId.
    let mut w = CompoundWriter::new();
    let create = t.message(Command::CREATE, 0, |o| {
        client::create_request("f", 0x0012_0089, 7, 1, 0).encode(o)
    });
    w.push(&create);
    let qi = t.message(Command::QUERY_INFO, flags::RELATED_OPERATIONS, |o| {
        QueryInfoRequest {
            info_type: 1,
            file_info_class: 5,
            output_buffer_length: 1024,
            additional_information: 0,
            flags: 0,
            file_id: FileId::RELATED,
            input: Vec::new(),
        }
        .encode(o)
    });
    w.push(&qi);
    let close = t.message(Command::CLOSE, flags::RELATED_OPERATIONS, |o| {
        CloseRequest {
            flags: 0,
            file_id: FileId::RELATED,
        }
        .encode(o)
    });
    w.push(&close);
    t.send(&w.finish());
    t.call(Command::TREE_DISCONNECT, |o| {
        TreeDisconnectRequest.encode(o)
    });
    t.call(Command::LOGOFF, |o| LogoffRequest.encode(o));
    t.sent
}

struct Transcript {
    conn: Connection,
    sent: Vec<u8>,
    mid: u64,
    sid: u64,
    tid: u32,
}

impl Transcript {
    fn message(
        &mut self,
        command: Command,
        extra_flags: u32,
        body: impl FnOnce(&mut Vec<u8>),
    ) -> Vec<u8> {
        let h = Header {
            credit_charge: 1,
            status: NtStatus::SUCCESS,
            command,
            credits: 8,
            flags: extra_flags,
            next_command: 0,
            message_id: self.mid,
            id: HeaderId::Sync {
                process_id: 0xfeff,
                tree_id: self.tid,
            },
            session_id: self.sid,
            signature: [0; 16],
        };
        self.mid += 1;
        let mut m = Vec::new();
        h.encode(&mut m);
        body(&mut m);
        m
    }

    fn send(&mut self, payload: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        nbss::put_frame(&mut f, payload);
        self.sent.extend_from_slice(&f);
        self.conn.handle_bytes(&f, NOW);
        let mut last = Vec::new();
        // Calls are refused; the target answers differently, which changes no state the
        // authentication depends on (challenge, session id and salt are drawn before).
        while let Some(ev) = self.conn.poll_event() {
            if let Event::Call(c) = ev {
                let _ = self
                    .conn
                    .handle_reply(c.id, Reply::error(NtStatus::NOT_SUPPORTED));
            }
        }
        while let Some(out) = self.conn.poll_transmit() {
            let mut b = BytesMut::from(&out[..]);
            if let Ok(Some(fr)) = nbss::take_frame(&mut b, nbss::MAX_FRAME_LEN) {
                last = fr.payload.to_vec();
            }
        }
        last
    }

    fn call(&mut self, command: Command, body: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let m = self.message(command, 0, body);
        self.send(&m)
    }
}
