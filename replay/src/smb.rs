//! SMB2 messages of a capture, decoded with `proto_smb2`'s codecs, one line per message.
//!
//! A captured NBSS frame holds one SMB2 message or a compound chain (MS-SMB2 §3.2.4.1.4):
//! each element of a chain gets its own line, marked `[compound i/n]` and `related` when
//! its header says so. Requests are decoded with the request decoders, responses with the
//! response decoders of their command, or as an ERROR response (§2.2.2) when the status
//! says the body is one (§3.3.4.4). Responses are matched to their request by MessageId per
//! connection, which gives the information class a QUERY_INFO or QUERY_DIRECTORY response
//! is in; a STATUS_PENDING interim response (§3.3.4.2) keeps the request open for its final
//! response. Statuses are printed by their MS-ERREF name.
//!
//! Not decoded, said so on the line: SMB3 TRANSFORM frames (encrypted, §2.2.41; the keys
//! are not in the capture), SMB1 other than the NEGOTIATE that opens a connection
//! (MS-CIFS §2.2.4.52), and the payloads inside IOCTLs other than
//! FSCTL_VALIDATE_NEGOTIATE_INFO and FSCTL_DFS_GET_REFERRALS (only sizes). A message that
//! does not decode is shown as `malformed: <reason>`; nothing here panics on any input.
//! SESSION_SETUP shows the NTLMSSP message type and, for AUTHENTICATE, the user, domain and
//! workstation names: never hashes, challenges or keys.
//!
//! Every decoded message is also a codec test: the header and body are re-encoded with
//! `proto_smb2`'s encoders and compared with the captured bytes (up to the zero padding
//! before the next element of a chain).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;

use bytes::{BufMut, Bytes, BytesMut};
use proto_smb2::auth::ntlm::{AuthenticateMessage, ChallengeMessage, NTLMSSP_SIGNATURE};
use proto_smb2::auth::spnego::{self, NegState, NegToken};
use proto_smb2::cmd::create_context::ResponseContext;
use proto_smb2::cmd::ioctl::ctl_code;
use proto_smb2::cmd::negotiate::{
    capabilities, cipher, context_type, dialect, security_mode, signing_algorithm, HASH_SHA512,
};
use proto_smb2::cmd::query::{info_type, query_directory_flags};
use proto_smb2::cmd::session_setup::session_flags;
use proto_smb2::cmd::{
    ChangeNotifyRequest, CloseRequest, CloseResponse, CreateContext, CreateRequest, CreateResponse,
    EchoResponse, ErrorResponse, FileId, FlushResponse, IoctlRequest, IoctlResponse, LockRequest,
    LockResponse, LogoffResponse, NegotiateContext, NegotiateRequest, NegotiateResponse,
    OplockBreak, OutputBufferResponse, ReadRequest, ReadResponse, Request, SessionSetupRequest,
    SessionSetupResponse, SetInfoRequest, SetInfoResponse, TreeConnectResponse,
    TreeDisconnectResponse, ValidateNegotiateInfoRequest, ValidateNegotiateInfoResponse,
    WriteRequest, WriteResponse,
};
use proto_smb2::crypto::transform::{is_transform, TransformHeader, TRANSFORM_HEADER_LEN};
use proto_smb2::fscc::dir::DirClass;
use proto_smb2::fscc::file::SetFileInfo;
use proto_smb2::fscc::{file_class_name, fs_class_name};
use proto_smb2::header::PROTOCOL_ID;
use proto_smb2::smb1::{is_smb1, Smb1Negotiate, SMB_COM_NEGOTIATE};
use proto_smb2::{Command, DecodeError, Header, HeaderId, NtStatus, HEADER_LEN};

use crate::conversation::Message;
use crate::decode::{data_name, Decoded, Direction, RoundTrip};
use crate::reassembly::ConnId;

/// Most elements of one compound chain shown; the rest of the frame gets one line saying so.
pub const MAX_CHAIN: usize = 64;
/// Most directory entry names printed for one QUERY_DIRECTORY response.
const MAX_NAMES: usize = 32;

/// What a response needs from its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Detail {
    None,
    /// QUERY_INFO: InfoType and class.
    Info(u8, u8),
    /// QUERY_DIRECTORY: FileInformationClass.
    Dir(u8),
    /// IOCTL: the control code.
    Ioctl(u32),
}

/// An SMB2 request waiting for its (final) response.
#[derive(Debug, Clone, Copy)]
struct Pending {
    command: Command,
    detail: Detail,
}

/// Decodes SMB messages in capture order, remembering per connection the outstanding
/// requests, the dialect and which side is the client.
#[derive(Debug, Default)]
pub struct SmbDecoder {
    outstanding: HashMap<(ConnId, u64), Pending>,
    dialect: HashMap<ConnId, u16>,
    client: HashMap<ConnId, SocketAddr>,
}

/// Bounded: a capture of many connections that never answer cannot grow this without
/// limit (the oldest entries are simply forgotten then).
const MAX_OUTSTANDING: usize = 65_536;

impl SmbDecoder {
    /// A decoder with no connection state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes one NBSS frame: its first message in the returned value, the other
    /// elements of a compound chain in its [`Decoded::chain`].
    pub fn decode(&mut self, m: &Message) -> Decoded {
        let body = &m.body;
        // SMB clients speak first; a capture that starts with a response names the client
        // by that response's flags.
        self.client.entry(m.conn).or_insert_with(|| {
            if Header::decode(body).is_ok_and(|h| h.is_response()) {
                m.to
            } else {
                m.from
            }
        });
        let dir = self.direction_of(m);
        if is_transform(body) {
            return self.transform(m);
        }
        if is_smb1(body) {
            return self.smb1(m);
        }
        if body.get(..4) != Some(&PROTOCOL_ID[..]) {
            return bare(
                dir,
                format!(
                    "malformed: not an SMB2 message ({} bytes, protocol id {:02x?})",
                    body.len(),
                    &body[..body.len().min(4)]
                ),
            );
        }
        // Each element with whether its header says "related".
        let mut parts: Vec<(Decoded, bool)> = Vec::new();
        let mut start = 0usize;
        loop {
            let header = match Header::decode(&body[start..]) {
                Ok(h) => h,
                Err(e) => {
                    parts.push((bare(dir, format!("malformed: {e}")), false));
                    break;
                }
            };
            let next = header.next_command as usize;
            let end = if next == 0 {
                body.len()
            } else if next % 8 != 0 || next < HEADER_LEN || start + next + HEADER_LEN > body.len() {
                let mut d = self.message(m, &header, body.slice(start..));
                d.text
                    .push_str(" [malformed: NextCommand points outside the frame]");
                parts.push((d, header.is_related()));
                break;
            } else {
                start + next
            };
            if parts.len() == MAX_CHAIN {
                parts.push((
                    bare(
                        dir,
                        format!("compound chain longer than {MAX_CHAIN}: the rest is not shown"),
                    ),
                    false,
                ));
                break;
            }
            let d = self.message(m, &header, body.slice(start..end));
            parts.push((d, header.is_related()));
            if next == 0 {
                break;
            }
            start = end;
        }
        let n = parts.len();
        let mut lines = parts.into_iter().enumerate().map(|(i, (mut d, related))| {
            let related = if related { ", related" } else { "" };
            if n > 1 {
                let _ = write!(d.text, " [compound {}/{n}{related}]", i + 1);
            } else if !related.is_empty() {
                d.text.push_str(" [related]");
            }
            d
        });
        let mut first = lines
            .next()
            .unwrap_or_else(|| bare(dir, "empty SMB2 frame".into()));
        first.chain = lines.collect();
        first
    }

    fn direction_of(&self, m: &Message) -> Option<Direction> {
        self.client.get(&m.conn).map(|c| {
            if *c == m.from {
                Direction::Call
            } else {
                Direction::Reply
            }
        })
    }

    fn transform(&mut self, m: &Message) -> Decoded {
        let dir = self.direction_of(m);
        let text = match TransformHeader::decode(&m.body) {
            Ok(t) => format!(
                "SMB3 TRANSFORM sid=0x{:x}: encrypted, not decoded ({} bytes)",
                t.session_id,
                m.body.len() - TRANSFORM_HEADER_LEN.min(m.body.len()),
            ),
            Err(e) => format!("SMB3 TRANSFORM malformed: {e}"),
        };
        bare(dir, text)
    }

    fn smb1(&mut self, m: &Message) -> Decoded {
        let b = &m.body;
        let command = b.get(4).copied().unwrap_or_default();
        // SMB_FLAGS_REPLY (MS-CIFS §2.2.3.1).
        let reply = b.get(9).is_some_and(|f| f & 0x80 != 0);
        let dir = Some(if reply {
            Direction::Reply
        } else {
            Direction::Call
        });
        let text = match (command, reply) {
            (SMB_COM_NEGOTIATE, false) => match Smb1Negotiate::decode(b) {
                Ok(n) => {
                    // The SMB2 NEGOTIATE response that answers it has MessageId 0
                    // (MS-SMB2 §3.3.5.3.1).
                    self.outstanding.insert(
                        (m.conn, 0),
                        Pending {
                            command: Command::NEGOTIATE,
                            detail: Detail::None,
                        },
                    );
                    let names: Vec<String> = n
                        .dialects
                        .iter()
                        .map(|d| q(&String::from_utf8_lossy(d)))
                        .collect();
                    format!("SMB1 NEGOTIATE dialects=[{}]", names.join(" "))
                }
                Err(e) => format!("SMB1 NEGOTIATE malformed: {e}"),
            },
            (SMB_COM_NEGOTIATE, true) => {
                "SMB1 NEGOTIATE response: not decoded (Janus answers SMB1 only with SMB2)".into()
            }
            (c, _) => format!("SMB1 command 0x{c:02x}: not decoded (only SMB1 NEGOTIATE is)"),
        };
        bare(dir, text)
    }

    /// One message of a chain (`msg` includes the padding up to the next one).
    fn message(&mut self, m: &Message, h: &Header, msg: Bytes) -> Decoded {
        let mut tags = String::new();
        if let HeaderId::Async { async_id } = h.id {
            let _ = write!(tags, " async=0x{async_id:x}");
        }
        if h.is_response() {
            self.response(m, h, &msg, &tags)
        } else {
            self.request(m, h, &msg, &tags)
        }
    }

    fn request(&mut self, m: &Message, h: &Header, msg: &Bytes, tags: &str) -> Decoded {
        let name = format!("SMB2 {}", h.command);
        let dialect_311 = self.dialect.get(&m.conn) == Some(&dialect::SMB311);
        let (text, rt) = match Request::decode(h.command, msg, dialect_311) {
            Ok(req) => {
                let detail = match &req {
                    Request::QueryInfo(q) => Detail::Info(q.info_type, q.file_info_class),
                    Request::QueryDirectory(q) => Detail::Dir(q.file_information_class),
                    Request::Ioctl(i) => Detail::Ioctl(i.ctl_code),
                    _ => Detail::None,
                };
                // CANCEL names another request by its own MessageId and gets no response.
                if h.command != Command::CANCEL {
                    if self.outstanding.len() >= MAX_OUTSTANDING {
                        self.outstanding.clear();
                    }
                    self.outstanding.insert(
                        (m.conn, h.message_id),
                        Pending {
                            command: h.command,
                            detail,
                        },
                    );
                }
                let args = request_args(h, &req);
                let mut out = BytesMut::new();
                encode_request(&req, &mut out);
                let rt = round_trip(h, msg, &out);
                (format!("{name}{args}{tags}"), rt)
            }
            Err(e) => (
                format!("{name}{tags} malformed: {e}"),
                RoundTrip::NotChecked,
            ),
        };
        Decoded {
            xid: None,
            smb: true,
            message_id: Some(h.message_id),
            direction: Some(Direction::Call),
            procedure: None,
            status: None,
            text,
            round_trip: rt,
            chain: Vec::new(),
        }
    }

    fn response(&mut self, m: &Message, h: &Header, msg: &Bytes, tags: &str) -> Decoded {
        let key = (m.conn, h.message_id);
        let interim = h.status == NtStatus::PENDING && matches!(h.id, HeaderId::Async { .. });
        let pending = if interim {
            self.outstanding.get(&key).copied()
        } else {
            self.outstanding.remove(&key)
        };
        let status = h.status.to_string();
        let mut text = format!("SMB2 {}: {status}", h.command);
        let mut rt = RoundTrip::NotChecked;
        if let Some(p) = pending {
            if p.command != h.command {
                let _ = write!(text, " (request was {}, same message id)", p.command);
            }
        } else if h.message_id != u64::MAX {
            // MessageId 0xFFFFFFFFFFFFFFFF is an unsolicited OPLOCK_BREAK notification.
            text.push_str(" (request not in capture)");
        }
        let detail = pending.map(|p| p.detail).unwrap_or(Detail::None);
        if error_body(h.command, h.status, msg) {
            match ErrorResponse::decode(msg) {
                Ok(e) => {
                    if interim {
                        text.push_str(" interim");
                    }
                    if !e.error_data.is_empty() {
                        let _ = write!(text, " error_data={} bytes", e.error_data.len());
                    }
                    let mut out = BytesMut::new();
                    e.encode(&mut out);
                    rt = round_trip(h, msg, &out);
                }
                Err(e) => {
                    let _ = write!(text, " malformed: {e}");
                }
            }
        } else {
            match self.response_body(m.conn, h, msg, detail) {
                Ok((details, out)) => {
                    text.push_str(&details);
                    rt = round_trip(h, msg, &out);
                }
                Err(e) => {
                    let _ = write!(text, " malformed: {e}");
                }
            }
        }
        text.push_str(tags);
        Decoded {
            xid: None,
            smb: true,
            message_id: Some(h.message_id),
            direction: Some(Direction::Reply),
            procedure: None,
            status: Some(status),
            text,
            round_trip: rt,
            chain: Vec::new(),
        }
    }

    /// The details of a response with a normal body, and its re-encoding.
    fn response_body(
        &mut self,
        conn: ConnId,
        h: &Header,
        msg: &Bytes,
        detail: Detail,
    ) -> Result<(String, BytesMut), DecodeError> {
        let mut out = BytesMut::new();
        let mut s = String::new();
        match h.command {
            Command::NEGOTIATE => {
                let r = NegotiateResponse::decode(msg)?;
                self.dialect.insert(conn, r.dialect);
                let _ = write!(
                    s,
                    " dialect={} {} caps={} max_read={} max_write={} max_transact={}",
                    dialect_name(r.dialect),
                    security_mode_text(r.security_mode),
                    capabilities_text(r.capabilities),
                    r.max_read_size,
                    r.max_write_size,
                    r.max_transact_size
                );
                if !r.contexts.is_empty() {
                    let _ = write!(s, " contexts=[{}]", contexts_text(&r.contexts));
                }
                s.push_str(&security_blob(&r.security_buffer));
                r.encode(&mut out);
            }
            Command::SESSION_SETUP => {
                let r = SessionSetupResponse::decode(msg)?;
                let _ = write!(s, " sid=0x{:x}", h.session_id);
                let f = flag_names(
                    u32::from(r.session_flags),
                    &[
                        (u32::from(session_flags::IS_GUEST), "guest"),
                        (u32::from(session_flags::IS_NULL), "null"),
                        (u32::from(session_flags::ENCRYPT_DATA), "encrypt"),
                    ],
                );
                if r.session_flags != 0 {
                    let _ = write!(s, " flags={f}");
                }
                s.push_str(&security_blob(&r.security_buffer));
                r.encode(&mut out);
            }
            Command::LOGOFF => LogoffResponse::decode(msg)?.encode(&mut out),
            Command::TREE_CONNECT => {
                let r = TreeConnectResponse::decode(msg)?;
                let share = match r.share_type {
                    1 => "disk".to_string(),
                    2 => "pipe".to_string(),
                    3 => "print".to_string(),
                    t => format!("type {t}"),
                };
                let _ = write!(
                    s,
                    " tid=0x{:x} {share} share_flags=0x{:x} caps=0x{:x} access=0x{:08x}",
                    h.tree_id().unwrap_or_default(),
                    r.share_flags,
                    r.capabilities,
                    r.maximal_access
                );
                r.encode(&mut out);
            }
            Command::TREE_DISCONNECT => TreeDisconnectResponse::decode(msg)?.encode(&mut out),
            Command::CREATE => {
                let r = CreateResponse::decode(msg)?;
                let action = match r.create_action {
                    0 => "SUPERSEDED".to_string(),
                    1 => "OPENED".to_string(),
                    2 => "CREATED".to_string(),
                    3 => "OVERWRITTEN".to_string(),
                    a => format!("action {a}"),
                };
                let _ = write!(
                    s,
                    " {} {action} size={} attrs={}",
                    fid_name(&r.file_id),
                    r.info.end_of_file,
                    attributes_text(r.file_attributes)
                );
                if r.oplock_level != 0 {
                    let _ = write!(s, " oplock={}", oplock_name(r.oplock_level));
                }
                if !r.contexts.is_empty() {
                    let _ = write!(s, " ctx=[{}]", response_contexts_text(&r.contexts));
                }
                r.encode(&mut out);
            }
            Command::CLOSE => {
                let r = CloseResponse::decode(msg)?;
                if r.flags & 1 != 0 {
                    let _ = write!(
                        s,
                        " size={} attrs={}",
                        r.info.end_of_file,
                        attributes_text(r.file_attributes)
                    );
                }
                r.encode(&mut out);
            }
            Command::FLUSH => FlushResponse::decode(msg)?.encode(&mut out),
            Command::READ => {
                let r = ReadResponse::decode(msg)?;
                let _ = write!(s, " count={} {}", r.data.len(), data_name(&r.data));
                r.encode(&mut out);
            }
            Command::WRITE => {
                let r = WriteResponse::decode(msg)?;
                let _ = write!(s, " count={}", r.count);
                r.encode(&mut out);
            }
            Command::LOCK => LockResponse::decode(msg)?.encode(&mut out),
            Command::IOCTL => {
                let r = IoctlResponse::decode(msg)?;
                let _ = write!(
                    s,
                    " {} {} out={} bytes",
                    ctl_name(r.ctl_code),
                    fid_name(&r.file_id),
                    r.output.len()
                );
                if r.ctl_code == ctl_code::VALIDATE_NEGOTIATE_INFO {
                    match ValidateNegotiateInfoResponse::decode(&r.output) {
                        Ok(v) => {
                            let _ = write!(
                                s,
                                " dialect={} {}",
                                dialect_name(v.dialect),
                                security_mode_text(v.security_mode)
                            );
                        }
                        Err(e) => {
                            let _ = write!(s, " (output malformed: {e})");
                        }
                    }
                }
                if detail != Detail::Ioctl(r.ctl_code) && detail != Detail::None {
                    s.push_str(" (request had another control code)");
                }
                r.encode(&mut out);
            }
            Command::ECHO => EchoResponse::decode(msg)?.encode(&mut out),
            Command::QUERY_DIRECTORY => {
                let r = OutputBufferResponse::decode(msg)?;
                let _ = write!(s, " {} bytes", r.data.len());
                if let Detail::Dir(class) = detail {
                    if let Some(c) = DirClass::from_class(class) {
                        match c.decode_entries(&r.data) {
                            Ok(entries) => {
                                let names: Vec<String> = entries
                                    .iter()
                                    .take(MAX_NAMES)
                                    .map(|e| q(&String::from_utf16_lossy(&e.file_name)))
                                    .collect();
                                let more = entries.len().saturating_sub(MAX_NAMES);
                                let _ = write!(s, " [{}]", names.join(" "));
                                if more > 0 {
                                    let _ = write!(s, " and {more} more");
                                }
                            }
                            Err(e) => {
                                let _ = write!(s, " (entries malformed: {e})");
                            }
                        }
                    }
                }
                r.encode(&mut out);
            }
            Command::QUERY_INFO => {
                let r = OutputBufferResponse::decode(msg)?;
                let _ = write!(s, " {} bytes", r.data.len());
                if let Detail::Info(info, class) = detail {
                    s.push_str(&info_details(info, class, &r.data));
                }
                r.encode(&mut out);
            }
            Command::CHANGE_NOTIFY => {
                let r = OutputBufferResponse::decode(msg)?;
                let _ = write!(s, " {} bytes", r.data.len());
                if !r.data.is_empty() {
                    s.push_str(&notify_details(&r.data));
                }
                r.encode(&mut out);
            }
            Command::SET_INFO => SetInfoResponse::decode(msg)?.encode(&mut out),
            Command::OPLOCK_BREAK => {
                let b = OplockBreak::decode(msg)?;
                s.push(' ');
                s.push_str(&oplock_break_text(&b));
                b.encode(&mut out);
            }
            other => {
                return Err(DecodeError::Invalid {
                    what: if other == Command::CANCEL {
                        "CANCEL has no response"
                    } else {
                        "Command"
                    },
                })
            }
        }
        Ok((s, out))
    }
}

/// A decoded line without an SMB2 header to take ids from.
fn bare(direction: Option<Direction>, text: String) -> Decoded {
    Decoded {
        xid: None,
        smb: true,
        message_id: None,
        direction,
        procedure: None,
        status: None,
        text,
        round_trip: RoundTrip::NotChecked,
        chain: Vec::new(),
    }
}

/// Whether a response with `status` carries an ERROR response body (MS-SMB2 §3.3.4.4)
/// rather than the command's own: every status but success, except the ones the command's
/// processing rule answers with its normal body (a SESSION_SETUP that needs another round
/// trip, a READ / QUERY_INFO / IOCTL / CHANGE_NOTIFY whose data did not all fit). A
/// success-class status other than STATUS_PENDING on a command whose response is an output
/// buffer (CHANGE_NOTIFY's STATUS_NOTIFY_ENUM_DIR and STATUS_NOTIFY_CLEANUP) comes either way
/// (Janus sends the command's body, Samba an ERROR response): both have StructureSize 9, and
/// the second field tells them apart, an OutputBufferOffset (72) or ErrorContextCount and
/// Reserved (0).
fn error_body(command: Command, status: NtStatus, msg: &[u8]) -> bool {
    if status == NtStatus::SUCCESS {
        return false;
    }
    match command {
        Command::SESSION_SETUP => status != NtStatus::MORE_PROCESSING_REQUIRED,
        Command::READ | Command::IOCTL if status == NtStatus::BUFFER_OVERFLOW => false,
        Command::QUERY_INFO | Command::QUERY_DIRECTORY | Command::CHANGE_NOTIFY => {
            if status == NtStatus::BUFFER_OVERFLOW {
                return false;
            }
            let success_class = status.0 >> 30 == 0 && status != NtStatus::PENDING;
            let second = msg.get(HEADER_LEN + 2..HEADER_LEN + 4);
            !(success_class && second.is_some_and(|b| b != [0, 0]))
        }
        _ => true,
    }
}

/// Compares `header + body` re-encoded with the captured message (which may end in zero
/// padding up to the next element of a chain, §3.2.4.1.4).
fn round_trip(h: &Header, msg: &[u8], body: &[u8]) -> RoundTrip {
    let mut enc = BytesMut::with_capacity(HEADER_LEN + body.len());
    h.encode(&mut enc);
    enc.put_slice(body);
    let same_prefix = msg.get(..enc.len()) == Some(&enc[..]);
    let rest = msg.get(enc.len()..).unwrap_or_default();
    if same_prefix && rest.len() < 8 && rest.iter().all(|b| *b == 0) {
        return RoundTrip::Equal;
    }
    let at = msg.iter().zip(enc.iter()).position(|(a, b)| a != b);
    RoundTrip::Differs(format!(
        "SMB2 {}: {} captured bytes, {} re-encoded, first difference at {}",
        h.command,
        msg.len(),
        enc.len(),
        at.map(|a| a.to_string())
            .unwrap_or_else(|| "the end".into())
    ))
}

fn encode_request(r: &Request, out: &mut BytesMut) {
    match r {
        Request::Negotiate(x) => x.encode(out),
        Request::SessionSetup(x) => x.encode(out),
        Request::Logoff(x) => x.encode(out),
        Request::TreeConnect(x) => x.encode(out),
        Request::TreeDisconnect(x) => x.encode(out),
        Request::Create(x) => x.encode(out),
        Request::Close(x) => x.encode(out),
        Request::Flush(x) => x.encode(out),
        Request::Read(x) => x.encode(out),
        Request::Write(x) => x.encode(out),
        Request::Lock(x) => x.encode(out),
        Request::Ioctl(x) => x.encode(out),
        Request::Cancel(x) => x.encode(out),
        Request::Echo(x) => x.encode(out),
        Request::QueryDirectory(x) => x.encode(out),
        Request::ChangeNotify(x) => x.encode(out),
        Request::QueryInfo(x) => x.encode(out),
        Request::SetInfo(x) => x.encode(out),
        Request::OplockBreak(x) => x.encode(out),
    }
}

/// The key arguments of a request, each with a leading space.
fn request_args(h: &Header, r: &Request) -> String {
    let mut s = String::new();
    let tid = h.tree_id().unwrap_or_default();
    match r {
        Request::Negotiate(n) => negotiate_request_text(&mut s, n),
        Request::SessionSetup(x) => session_setup_text(&mut s, h, x),
        Request::Logoff(_) => {
            let _ = write!(s, " sid=0x{:x}", h.session_id);
        }
        Request::TreeConnect(t) => {
            let _ = write!(s, " sid=0x{:x} {}", h.session_id, q(&t.path_string()));
        }
        Request::TreeDisconnect(_) => {
            let _ = write!(s, " tid=0x{tid:x}");
        }
        Request::Create(c) => create_request_text(&mut s, tid, c),
        Request::Close(c) => close_request_text(&mut s, c),
        Request::Flush(f) => {
            let _ = write!(s, " {}", fid_name(&f.file_id));
        }
        Request::Read(r) => read_request_text(&mut s, r),
        Request::Write(w) => write_request_text(&mut s, w),
        Request::Lock(l) => lock_request_text(&mut s, l),
        Request::Ioctl(i) => ioctl_request_text(&mut s, tid, i),
        Request::Cancel(_) => {
            // An async CANCEL names its target by the AsyncId the line already shows.
            if let HeaderId::Sync { .. } = h.id {
                let _ = write!(s, " of mid={}", h.message_id);
            }
        }
        Request::Echo(_) => {}
        Request::QueryDirectory(d) => {
            let _ = write!(
                s,
                " {} {} {}",
                fid_name(&d.file_id),
                dir_class_name(d.file_information_class),
                q(&d.pattern_string())
            );
            let f = flag_names(
                u32::from(d.flags),
                &[
                    (
                        u32::from(query_directory_flags::RESTART_SCANS),
                        "RESTART_SCANS",
                    ),
                    (
                        u32::from(query_directory_flags::RETURN_SINGLE_ENTRY),
                        "RETURN_SINGLE_ENTRY",
                    ),
                    (
                        u32::from(query_directory_flags::INDEX_SPECIFIED),
                        "INDEX_SPECIFIED",
                    ),
                    (u32::from(query_directory_flags::REOPEN), "REOPEN"),
                ],
            );
            if d.flags != 0 {
                let _ = write!(s, " flags={f}");
            }
            let _ = write!(s, " max={}", d.output_buffer_length);
        }
        Request::ChangeNotify(c) => change_notify_text(&mut s, c),
        Request::QueryInfo(qi) => {
            let _ = write!(
                s,
                " {} {}",
                fid_name(&qi.file_id),
                class_name(qi.info_type, qi.file_info_class)
            );
            if qi.info_type == info_type::SECURITY {
                let _ = write!(s, " {}", security_info_text(qi.additional_information));
            }
            let _ = write!(s, " max={}", qi.output_buffer_length);
        }
        Request::SetInfo(si) => set_info_text(&mut s, si),
        Request::OplockBreak(b) => {
            s.push(' ');
            s.push_str(&oplock_break_text(b));
        }
    }
    s
}

fn negotiate_request_text(s: &mut String, n: &NegotiateRequest) {
    let d: Vec<String> = n.dialects.iter().map(|d| dialect_name(*d)).collect();
    let _ = write!(
        s,
        " dialects=[{}] {} caps={}",
        d.join(" "),
        security_mode_text(n.security_mode),
        capabilities_text(n.capabilities)
    );
    if !n.contexts.is_empty() {
        let _ = write!(s, " contexts=[{}]", contexts_text(&n.contexts));
    }
}

fn session_setup_text(s: &mut String, h: &Header, x: &SessionSetupRequest) {
    if h.session_id != 0 {
        let _ = write!(s, " sid=0x{:x}", h.session_id);
    }
    if x.flags & proto_smb2::cmd::session_setup::request_flags::BINDING != 0 {
        s.push_str(" binding");
    }
    if x.previous_session_id != 0 {
        let _ = write!(s, " previous=0x{:x}", x.previous_session_id);
    }
    s.push_str(&security_blob(&x.security_buffer));
}

fn create_request_text(s: &mut String, tid: u32, c: &CreateRequest) {
    let _ = write!(
        s,
        " tid=0x{tid:x} {} {} access=0x{:08x} share={} options={}",
        q(&c.name_string()),
        disposition_name(c.create_disposition),
        c.desired_access,
        share_text(c.share_access),
        create_options_text(c.create_options)
    );
    if c.file_attributes != 0 {
        let _ = write!(s, " attrs={}", attributes_text(c.file_attributes));
    }
    if c.requested_oplock_level != 0 {
        let _ = write!(s, " oplock={}", oplock_name(c.requested_oplock_level));
    }
    if !c.contexts.is_empty() {
        let tags: Vec<String> = c.contexts.iter().map(|x| context_tag(&x.name)).collect();
        let _ = write!(s, " ctx=[{}]", tags.join(" "));
    }
}

fn close_request_text(s: &mut String, c: &CloseRequest) {
    let _ = write!(s, " {}", fid_name(&c.file_id));
    if c.flags & 1 != 0 {
        s.push_str(" POSTQUERY_ATTRIB");
    }
}

fn read_request_text(s: &mut String, r: &ReadRequest) {
    let _ = write!(
        s,
        " {} offset={} length={}",
        fid_name(&r.file_id),
        r.offset,
        r.length
    );
    if r.minimum_count != 0 {
        let _ = write!(s, " min={}", r.minimum_count);
    }
}

fn write_request_text(s: &mut String, w: &WriteRequest) {
    let _ = write!(
        s,
        " {} offset={} length={} {}",
        fid_name(&w.file_id),
        w.offset,
        w.data.len(),
        data_name(&w.data)
    );
    if w.flags & 1 != 0 {
        s.push_str(" WRITE_THROUGH");
    }
}

fn lock_request_text(s: &mut String, l: &LockRequest) {
    let locks: Vec<String> = l
        .locks
        .iter()
        .map(|e| {
            let f = flag_names(
                e.flags,
                &[
                    (0x1, "SHARED"),
                    (0x2, "EXCLUSIVE"),
                    (0x4, "UNLOCK"),
                    (0x10, "FAIL_IMMEDIATELY"),
                ],
            );
            format!("{}+{}:{f}", e.offset, e.length)
        })
        .collect();
    let _ = write!(s, " {} [{}]", fid_name(&l.file_id), locks.join(" "));
}

fn ioctl_request_text(s: &mut String, tid: u32, i: &IoctlRequest) {
    let _ = write!(
        s,
        " tid=0x{tid:x} {} {} in={} bytes max_out={}",
        ctl_name(i.ctl_code),
        fid_name(&i.file_id),
        i.input.len(),
        i.max_output_response
    );
    match i.ctl_code {
        ctl_code::VALIDATE_NEGOTIATE_INFO => match ValidateNegotiateInfoRequest::decode(&i.input) {
            Ok(v) => {
                let d: Vec<String> = v.dialects.iter().map(|d| dialect_name(*d)).collect();
                let _ = write!(
                    s,
                    " dialects=[{}] {}",
                    d.join(" "),
                    security_mode_text(v.security_mode)
                );
            }
            Err(e) => {
                let _ = write!(s, " (input malformed: {e})");
            }
        },
        ctl_code::DFS_GET_REFERRALS => {
            // REQ_GET_DFS_REFERRAL (MS-DFSC §2.2.2): MaxReferralLevel, then the
            // NUL-terminated UTF-16 RequestFileName.
            if let Some(name) = i.input.get(2..) {
                let units: Vec<u16> = name
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .take_while(|u| *u != 0)
                    .collect();
                let _ = write!(s, " {}", q(&String::from_utf16_lossy(&units)));
            }
        }
        _ => {}
    }
}

fn change_notify_text(s: &mut String, c: &ChangeNotifyRequest) {
    let _ = write!(
        s,
        " {} filter=0x{:x}",
        fid_name(&c.file_id),
        c.completion_filter
    );
    if c.flags & 1 != 0 {
        s.push_str(" WATCH_TREE");
    }
}

fn set_info_text(s: &mut String, si: &SetInfoRequest) {
    let _ = write!(
        s,
        " {} {}",
        fid_name(&si.file_id),
        class_name(si.info_type, si.file_info_class)
    );
    if si.info_type != info_type::FILE {
        let _ = write!(s, " {} bytes", si.buffer.len());
        return;
    }
    match SetFileInfo::decode(si.file_info_class, &si.buffer) {
        Ok(SetFileInfo::Rename(r)) => {
            let _ = write!(
                s,
                " -> {}{}",
                q(&String::from_utf16_lossy(&r.file_name)),
                if r.replace_if_exists {
                    " REPLACE_IF_EXISTS"
                } else {
                    ""
                }
            );
        }
        Ok(SetFileInfo::Link(l)) => {
            let _ = write!(s, " -> {}", q(&String::from_utf16_lossy(&l.0.file_name)));
        }
        Ok(SetFileInfo::Disposition(d)) => {
            let _ = write!(s, " delete_pending={}", d.delete_pending);
        }
        Ok(SetFileInfo::EndOfFile(e)) => {
            let _ = write!(s, " size={}", e.end_of_file);
        }
        Ok(SetFileInfo::Allocation(a)) => {
            let _ = write!(s, " allocation={}", a.allocation_size);
        }
        Ok(SetFileInfo::Basic(b)) => {
            let _ = write!(s, " attrs={}", attributes_text(b.file_attributes));
        }
        Ok(_) => {
            let _ = write!(s, " {} bytes", si.buffer.len());
        }
        Err(st) => {
            let _ = write!(s, " {} bytes (not decodable: {st})", si.buffer.len());
        }
    }
}

fn oplock_break_text(b: &OplockBreak) -> String {
    match b {
        OplockBreak::Oplock {
            oplock_level,
            file_id,
        } => format!(
            "oplock {} level={}",
            fid_name(file_id),
            oplock_name(*oplock_level)
        ),
        OplockBreak::LeaseNotification {
            current_lease_state,
            new_lease_state,
            ..
        } => format!(
            "lease break {} -> {}",
            lease_state(*current_lease_state),
            lease_state(*new_lease_state)
        ),
        OplockBreak::LeaseAck { lease_state: l, .. } => {
            format!("lease ack {}", lease_state(*l))
        }
    }
}

fn lease_state(s: u32) -> String {
    let mut out = String::new();
    for (bit, c) in [(1, 'R'), (2, 'H'), (4, 'W')] {
        if s & bit != 0 {
            out.push(c);
        }
    }
    if out.is_empty() {
        out.push_str("none");
    }
    out
}

/// The key values of a QUERY_INFO output buffer, decoded with proto-smb2's MS-FSCC and
/// MS-DTYP codecs (sizes, attributes, names, SIDs; not times, which differ run to run).
fn info_details(info: u8, class: u8, data: &[u8]) -> String {
    use proto_smb2::fscc::file::{
        FileAllInformation, FileAttributeTagInformation, FileBasicInformation,
        FileInternalInformation, FileNetworkOpenInformation, FileStandardInformation,
        FileStreamInformation,
    };
    use proto_smb2::fscc::fs::{
        FileFsAttributeInformation, FileFsFullSizeInformation, FileFsSizeInformation,
        FileFsVolumeInformation,
    };
    use proto_smb2::fscc::{file_class as fc, fs_class as fsc, InfoClass};
    use proto_smb2::security::SecurityDescriptor;
    fn get<T: InfoClass>(data: &[u8], f: impl Fn(T) -> String) -> String {
        match T::decode(data) {
            Ok(v) => f(v),
            Err(e) => format!(" (not decodable: {e})"),
        }
    }
    let utf16 = |u: &[u16]| q(&String::from_utf16_lossy(u));
    match (info, class) {
        (info_type::FILE, fc::BASIC) => get(data, |v: FileBasicInformation| {
            format!(" attrs={}", attributes_text(v.file_attributes))
        }),
        (info_type::FILE, fc::STANDARD) => {
            get(data, |v: FileStandardInformation| standard_text(&v))
        }
        (info_type::FILE, fc::INTERNAL) => get(data, |v: FileInternalInformation| {
            format!(" index={}", v.index_number)
        }),
        (info_type::FILE, fc::ALL) => get(data, |v: FileAllInformation| {
            format!(
                " attrs={}{} name={}",
                attributes_text(v.basic.file_attributes),
                standard_text(&v.standard),
                utf16(&v.name.file_name)
            )
        }),
        (info_type::FILE, fc::NETWORK_OPEN) => get(data, |v: FileNetworkOpenInformation| {
            format!(
                " size={} attrs={}",
                v.end_of_file,
                attributes_text(v.file_attributes)
            )
        }),
        (info_type::FILE, fc::ATTRIBUTE_TAG) => get(data, |v: FileAttributeTagInformation| {
            format!(" attrs={}", attributes_text(v.file_attributes))
        }),
        (info_type::FILE, fc::STREAM) => get(data, |v: FileStreamInformation| {
            let names: Vec<String> = v
                .entries
                .iter()
                .map(|e| format!("{}:{}", utf16(&e.name), e.size))
                .collect();
            format!(" streams=[{}]", names.join(" "))
        }),
        (info_type::FILESYSTEM, fsc::VOLUME) => get(data, |v: FileFsVolumeInformation| {
            format!(" label={}", utf16(&v.volume_label))
        }),
        (info_type::FILESYSTEM, fsc::SIZE) => get(data, |v: FileFsSizeInformation| {
            format!(
                " units={} available={} unit={}x{}",
                v.total_allocation_units,
                v.available_allocation_units,
                v.sectors_per_allocation_unit,
                v.bytes_per_sector
            )
        }),
        (info_type::FILESYSTEM, fsc::FULL_SIZE) => get(data, |v: FileFsFullSizeInformation| {
            format!(
                " units={} available={} unit={}x{}",
                v.total_allocation_units,
                v.caller_available_allocation_units,
                v.sectors_per_allocation_unit,
                v.bytes_per_sector
            )
        }),
        (info_type::FILESYSTEM, fsc::ATTRIBUTE) => get(data, |v: FileFsAttributeInformation| {
            format!(
                " fs={} attributes=0x{:x} max_name={}",
                utf16(&v.file_system_name),
                v.file_system_attributes,
                v.maximum_component_name_length
            )
        }),
        (info_type::SECURITY, _) => match SecurityDescriptor::decode(data) {
            Ok(sd) => {
                let sid = |s: &Option<proto_smb2::security::Sid>| {
                    s.as_ref()
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "-".into())
                };
                let mut t = format!(" owner={} group={}", sid(&sd.owner), sid(&sd.group));
                match &sd.dacl {
                    Some(d) => {
                        let _ = write!(t, " dacl={} aces", d.aces.len());
                    }
                    None => t.push_str(" dacl=none"),
                }
                t
            }
            Err(e) => format!(" (not decodable: {e})"),
        },
        _ => String::new(),
    }
}

fn standard_text(v: &proto_smb2::fscc::file::FileStandardInformation) -> String {
    format!(
        " size={} links={}{}{}",
        v.end_of_file,
        v.number_of_links,
        if v.directory { " directory" } else { "" },
        if v.delete_pending {
            " delete_pending"
        } else {
            ""
        }
    )
}

/// The changes of a CHANGE_NOTIFY response: FILE_NOTIFY_INFORMATION entries (MS-FSCC
/// §2.7.1: NextEntryOffset, Action, FileNameLength, FileName).
fn notify_details(data: &[u8]) -> String {
    let mut out = Vec::new();
    let mut at = 0usize;
    loop {
        let Some(fixed) = data.get(at..at + 12) else {
            return " (changes malformed: truncated entry)".into();
        };
        let le =
            |i: usize| u32::from_le_bytes([fixed[i], fixed[i + 1], fixed[i + 2], fixed[i + 3]]);
        let (next, action, len) = (le(0) as usize, le(4), le(8) as usize);
        let Some(name) = data.get(at + 12..(at + 12).saturating_add(len)) else {
            return " (changes malformed: name outside the buffer)".into();
        };
        let units: Vec<u16> = name
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        let action = match action {
            1 => "ADDED".to_string(),
            2 => "REMOVED".to_string(),
            3 => "MODIFIED".to_string(),
            4 => "RENAMED_OLD_NAME".to_string(),
            5 => "RENAMED_NEW_NAME".to_string(),
            6 => "ADDED_STREAM".to_string(),
            7 => "REMOVED_STREAM".to_string(),
            8 => "MODIFIED_STREAM".to_string(),
            a => format!("action {a}"),
        };
        out.push(format!("{action} {}", q(&String::from_utf16_lossy(&units))));
        if next == 0 || out.len() >= MAX_NAMES {
            break;
        }
        at = at.saturating_add(next);
    }
    format!(" [{}]", out.join(", "))
}

/// What a SESSION_SETUP or NEGOTIATE security buffer holds: the SPNEGO state and the
/// NTLMSSP message type, with the names of an AUTHENTICATE_MESSAGE (MS-NLMP §2.2.1.3) and
/// the target of a CHALLENGE_MESSAGE. Never responses, hashes, challenges or keys.
fn security_blob(b: &[u8]) -> String {
    if b.is_empty() {
        return String::new();
    }
    if b.starts_with(NTLMSSP_SIGNATURE) {
        return format!(" {}", ntlmssp_text(b));
    }
    match spnego::decode_token(b) {
        Ok(NegToken::Init(init)) => {
            let mechs: Vec<&str> = init.mech_types.iter().map(|m| mech_name(m)).collect();
            let mut s = format!(" spnego=init mechs=[{}]", mechs.join(" "));
            if let Some(t) = &init.mech_token {
                let _ = write!(s, " {}", ntlmssp_text(t));
            }
            s
        }
        Ok(NegToken::Resp(resp)) => {
            let mut s = String::from(" spnego=");
            s.push_str(match resp.neg_state {
                Some(NegState::AcceptCompleted) => "accept-completed",
                Some(NegState::AcceptIncomplete) => "accept-incomplete",
                Some(NegState::Reject) => "reject",
                Some(NegState::RequestMic) => "request-mic",
                None => "resp",
            });
            if let Some(t) = &resp.response_token {
                let _ = write!(s, " {}", ntlmssp_text(t));
            }
            if resp.mech_list_mic.is_some() {
                s.push_str(" mic");
            }
            s
        }
        Err(e) => format!(" security blob {} bytes (not SPNEGO: {e})", b.len()),
    }
}

fn ntlmssp_text(t: &[u8]) -> String {
    if !t.starts_with(NTLMSSP_SIGNATURE) {
        return format!("token {} bytes (not NTLMSSP)", t.len());
    }
    let ty = t
        .get(8..12)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    match ty {
        Some(1) => "NTLMSSP NEGOTIATE".into(),
        Some(2) => match ChallengeMessage::decode(t) {
            Ok(c) => {
                let units: Vec<u16> = c
                    .target_name
                    .chunks_exact(2)
                    .map(|p| u16::from_le_bytes([p[0], p[1]]))
                    .collect();
                format!(
                    "NTLMSSP CHALLENGE target={}",
                    q(&String::from_utf16_lossy(&units))
                )
            }
            Err(e) => format!("NTLMSSP CHALLENGE malformed: {e}"),
        },
        Some(3) => match AuthenticateMessage::decode(t) {
            Ok(a) => format!(
                "NTLMSSP AUTHENTICATE user={} domain={} workstation={}",
                q(&a.user_name()),
                q(&a.domain_name()),
                q(&a.workstation_name())
            ),
            Err(e) => format!("NTLMSSP AUTHENTICATE malformed: {e}"),
        },
        Some(n) => format!("NTLMSSP message type {n}"),
        None => "NTLMSSP malformed: truncated".into(),
    }
}

fn mech_name(oid: &[u8]) -> &'static str {
    match oid {
        spnego::OID_NTLMSSP => "NTLMSSP",
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02] => "krb5",
        [0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02] => "ms-krb5",
        [0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x1e] => "NEGOEX",
        _ => "other",
    }
}

/// `fid:` and a short hash of the 16 bytes (like `fh:` for NFS handles), `fid:related`
/// for the all-ones FileId of related compound requests.
pub fn fid_name(f: &FileId) -> String {
    if *f == FileId::RELATED {
        return "fid:related".into();
    }
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&f.persistent.to_le_bytes());
    b[8..].copy_from_slice(&f.volatile.to_le_bytes());
    crate::decode::fh_name(&b).replacen("fh:", "fid:", 1)
}

/// A name in double quotes; backslashes (every SMB path has them) are kept as they are,
/// quotes and control characters escaped.
fn q(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            c if c.is_control() => {
                let _ = write!(out, "{}", c.escape_debug());
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn flag_names(v: u32, names: &[(u32, &str)]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut rest = v;
    for (bit, n) in names {
        if v & bit != 0 {
            parts.push((*n).to_string());
            rest &= !bit;
        }
    }
    if rest != 0 {
        parts.push(format!("0x{rest:x}"));
    }
    if parts.is_empty() {
        "0".into()
    } else {
        parts.join("|")
    }
}

fn dialect_name(d: u16) -> String {
    match d {
        dialect::SMB202 => "2.0.2".into(),
        dialect::SMB210 => "2.1".into(),
        dialect::SMB300 => "3.0".into(),
        dialect::SMB302 => "3.0.2".into(),
        dialect::SMB311 => "3.1.1".into(),
        dialect::SMB2_WILDCARD => "2.???".into(),
        other => format!("0x{other:04x}"),
    }
}

fn security_mode_text(m: u16) -> String {
    format!(
        "signing={}",
        flag_names(
            u32::from(m),
            &[
                (u32::from(security_mode::SIGNING_ENABLED), "enabled"),
                (u32::from(security_mode::SIGNING_REQUIRED), "required"),
            ],
        )
    )
}

fn capabilities_text(c: u32) -> String {
    flag_names(
        c,
        &[
            (capabilities::DFS, "DFS"),
            (capabilities::LEASING, "LEASING"),
            (capabilities::LARGE_MTU, "LARGE_MTU"),
            (capabilities::MULTI_CHANNEL, "MULTI_CHANNEL"),
            (capabilities::PERSISTENT_HANDLES, "PERSISTENT_HANDLES"),
            (capabilities::DIRECTORY_LEASING, "DIRECTORY_LEASING"),
            (capabilities::ENCRYPTION, "ENCRYPTION"),
            (capabilities::NOTIFICATIONS, "NOTIFICATIONS"),
        ],
    )
}

fn cipher_name(c: u16) -> String {
    match c {
        cipher::AES128_CCM => "AES-128-CCM".into(),
        cipher::AES128_GCM => "AES-128-GCM".into(),
        cipher::AES256_CCM => "AES-256-CCM".into(),
        cipher::AES256_GCM => "AES-256-GCM".into(),
        0 => "none".into(),
        other => format!("0x{other:04x}"),
    }
}

fn signing_name(a: u16) -> String {
    match a {
        signing_algorithm::HMAC_SHA256 => "HMAC-SHA256".into(),
        signing_algorithm::AES_CMAC => "AES-CMAC".into(),
        signing_algorithm::AES_GMAC => "AES-GMAC".into(),
        other => format!("0x{other:04x}"),
    }
}

fn contexts_text(cs: &[NegotiateContext]) -> String {
    let list = |v: &[u16], f: fn(u16) -> String| -> String {
        v.iter().map(|x| f(*x)).collect::<Vec<_>>().join(",")
    };
    cs.iter()
        .map(|c| match c {
            NegotiateContext::PreauthIntegrity {
                hash_algorithms, ..
            } => format!(
                "preauth({})",
                list(hash_algorithms, |h| if h == HASH_SHA512 {
                    "SHA-512".into()
                } else {
                    format!("0x{h:04x}")
                })
            ),
            NegotiateContext::Encryption { ciphers } => {
                format!("encryption({})", list(ciphers, cipher_name))
            }
            NegotiateContext::Signing { algorithms } => {
                format!("signing({})", list(algorithms, signing_name))
            }
            NegotiateContext::Other { context_type, .. } => match *context_type {
                context_type::COMPRESSION => "compression".into(),
                context_type::NETNAME => "netname".into(),
                context_type::TRANSPORT => "transport".into(),
                context_type::RDMA_TRANSFORM => "rdma-transform".into(),
                // SMB2_POSIX_EXTENSIONS_AVAILABLE (Samba's SMB3 POSIX extensions).
                0x0100 => "posix".into(),
                other => format!("0x{other:04x}"),
            },
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A file information class by name (QUERY_DIRECTORY).
fn dir_class_name(class: u8) -> String {
    match file_class_name(class) {
        Some(n) => n.into(),
        None => format!("class {class}"),
    }
}

/// InfoType and class of a QUERY_INFO or SET_INFO (`FILE/FileAllInformation`).
fn class_name(info: u8, class: u8) -> String {
    match info {
        info_type::FILE => format!("FILE/{}", dir_class_name(class)),
        info_type::FILESYSTEM => match fs_class_name(class) {
            Some(n) => format!("FILESYSTEM/{n}"),
            None => format!("FILESYSTEM/class {class}"),
        },
        info_type::SECURITY => "SECURITY".into(),
        info_type::QUOTA => "QUOTA".into(),
        other => format!("InfoType {other}/class {class}"),
    }
}

fn security_info_text(a: u32) -> String {
    flag_names(
        a,
        &[
            (0x1, "OWNER"),
            (0x2, "GROUP"),
            (0x4, "DACL"),
            (0x8, "SACL"),
            (0x10, "LABEL"),
            (0x20, "ATTRIBUTE"),
            (0x40, "SCOPE"),
            (0x1_0000, "BACKUP"),
        ],
    )
}

fn ctl_name(code: u32) -> String {
    match ctl_code::name(code) {
        Some(n) => n.into(),
        None => format!("ctl 0x{code:08x}"),
    }
}

/// CreateDisposition (MS-SMB2 §2.2.13).
fn disposition_name(d: u32) -> String {
    match d {
        0 => "SUPERSEDE".into(),
        1 => "OPEN".into(),
        2 => "CREATE".into(),
        3 => "OPEN_IF".into(),
        4 => "OVERWRITE".into(),
        5 => "OVERWRITE_IF".into(),
        other => format!("disposition {other}"),
    }
}

/// ShareAccess as R, W, D (MS-SMB2 §2.2.13), `-` for none.
fn share_text(s: u32) -> String {
    let mut out = String::new();
    for (bit, c) in [(1, 'R'), (2, 'W'), (4, 'D')] {
        if s & bit != 0 {
            out.push(c);
        }
    }
    if s & !7 != 0 {
        let _ = write!(out, "+0x{:x}", s & !7);
    }
    if out.is_empty() {
        out.push('-');
    }
    out
}

/// CreateOptions (MS-SMB2 §2.2.13).
fn create_options_text(o: u32) -> String {
    flag_names(
        o,
        &[
            (0x0000_0001, "DIRECTORY_FILE"),
            (0x0000_0002, "WRITE_THROUGH"),
            (0x0000_0004, "SEQUENTIAL_ONLY"),
            (0x0000_0008, "NO_INTERMEDIATE_BUFFERING"),
            (0x0000_0010, "SYNCHRONOUS_IO_ALERT"),
            (0x0000_0020, "SYNCHRONOUS_IO_NONALERT"),
            (0x0000_0040, "NON_DIRECTORY_FILE"),
            (0x0000_0100, "COMPLETE_IF_OPLOCKED"),
            (0x0000_0200, "NO_EA_KNOWLEDGE"),
            (0x0000_0400, "OPEN_REMOTE_INSTANCE"),
            (0x0000_0800, "RANDOM_ACCESS"),
            (0x0000_1000, "DELETE_ON_CLOSE"),
            (0x0000_2000, "OPEN_BY_FILE_ID"),
            (0x0000_4000, "OPEN_FOR_BACKUP_INTENT"),
            (0x0000_8000, "NO_COMPRESSION"),
            (0x0001_0000, "OPEN_REQUIRING_OPLOCK"),
            (0x0002_0000, "DISALLOW_EXCLUSIVE"),
            (0x0010_0000, "RESERVE_OPFILTER"),
            (0x0020_0000, "OPEN_REPARSE_POINT"),
            (0x0040_0000, "OPEN_NO_RECALL"),
            (0x0080_0000, "OPEN_FOR_FREE_SPACE_QUERY"),
        ],
    )
}

/// FILE_ATTRIBUTE_* (MS-FSCC §2.6).
fn attributes_text(a: u32) -> String {
    flag_names(
        a,
        &[
            (0x0001, "READONLY"),
            (0x0002, "HIDDEN"),
            (0x0004, "SYSTEM"),
            (0x0010, "DIRECTORY"),
            (0x0020, "ARCHIVE"),
            (0x0080, "NORMAL"),
            (0x0100, "TEMPORARY"),
            (0x0200, "SPARSE_FILE"),
            (0x0400, "REPARSE_POINT"),
            (0x0800, "COMPRESSED"),
            (0x1000, "OFFLINE"),
            (0x2000, "NOT_CONTENT_INDEXED"),
            (0x4000, "ENCRYPTED"),
        ],
    )
}

/// OplockLevel (MS-SMB2 §2.2.13).
fn oplock_name(l: u8) -> String {
    match l {
        0x00 => "none".into(),
        0x01 => "II".into(),
        0x08 => "exclusive".into(),
        0x09 => "batch".into(),
        0xFF => "lease".into(),
        other => format!("0x{other:02x}"),
    }
}

/// A create context name: the 4-character tag, or the GUID of a 16-byte name in hex.
fn context_tag(name: &[u8]) -> String {
    if name.iter().all(|b| b.is_ascii_graphic()) {
        String::from_utf8_lossy(name).into_owned()
    } else {
        name.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }
}

fn response_contexts_text(cs: &[CreateContext]) -> String {
    cs.iter()
        .map(|c| match ResponseContext::parse(c) {
            Ok(Some(ResponseContext::MaximalAccess {
                query_status,
                maximal_access,
            })) => format!(
                "MxAc({} access=0x{maximal_access:08x})",
                NtStatus(query_status)
            ),
            Ok(Some(ResponseContext::OnDiskId { .. })) => "QFid".into(),
            Ok(Some(ResponseContext::DurableHandle)) => "DHnQ".into(),
            Ok(Some(ResponseContext::DurableHandleV2 { timeout, flags })) => {
                format!("DH2Q(timeout={timeout} flags=0x{flags:x})")
            }
            Ok(Some(ResponseContext::Lease {
                lease_state,
                flags,
                v2,
                ..
            })) => match v2 {
                Some((_, epoch)) => {
                    format!("RqLs(state=0x{lease_state:x} flags=0x{flags:x} epoch={epoch})")
                }
                None => format!("RqLs(state=0x{lease_state:x} flags=0x{flags:x})"),
            },
            Ok(None) => context_tag(&c.name),
            Err(e) => format!("{}(malformed: {e})", context_tag(&c.name)),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts() {
        assert_eq!(share_text(7), "RWD");
        assert_eq!(share_text(0), "-");
        assert_eq!(share_text(9), "R+0x8");
        assert_eq!(
            create_options_text(0x41),
            "DIRECTORY_FILE|NON_DIRECTORY_FILE"
        );
        assert_eq!(create_options_text(0x8000_0000), "0x80000000");
        assert_eq!(create_options_text(0), "0");
        assert_eq!(attributes_text(0x30), "DIRECTORY|ARCHIVE");
        assert_eq!(q("dir\\a \"b\"\n"), "\"dir\\a \\\"b\\\"\\n\"");
        assert_eq!(dialect_name(0x0311), "3.1.1");
        assert_eq!(context_tag(b"MxAc"), "MxAc");
        assert_eq!(context_tag(&[0x93, 0xad, 0x25, 0x50]), "93ad2550");
        assert_eq!(fid_name(&FileId::RELATED), "fid:related");
        let none = [0u8; 72];
        assert!(error_body(
            Command::CREATE,
            NtStatus::OBJECT_NAME_NOT_FOUND,
            &none
        ));
        assert!(!error_body(
            Command::SESSION_SETUP,
            NtStatus::MORE_PROCESSING_REQUIRED,
            &none
        ));
        assert!(!error_body(Command::READ, NtStatus::BUFFER_OVERFLOW, &none));
        assert!(error_body(Command::READ, NtStatus::END_OF_FILE, &none));
        assert!(error_body(
            Command::QUERY_DIRECTORY,
            NtStatus::NO_MORE_FILES,
            &none
        ));
        // STATUS_NOTIFY_ENUM_DIR with an output buffer body (offset 72) or an ERROR body.
        let enum_dir = NtStatus(0x0000_010C);
        let mut output = [0u8; 72];
        output[64..68].copy_from_slice(&[9, 0, 72, 0]);
        assert!(!error_body(Command::CHANGE_NOTIFY, enum_dir, &output));
        output[66] = 0;
        assert!(error_body(Command::CHANGE_NOTIFY, enum_dir, &output));
        assert!(error_body(Command::CHANGE_NOTIFY, NtStatus::PENDING, &none));
    }

    fn notify_entry(next: u32, action: u32, name: &str) -> Vec<u8> {
        let units = proto_smb2::wire::utf16le(name);
        let mut v = next.to_le_bytes().to_vec();
        v.extend_from_slice(&action.to_le_bytes());
        v.extend_from_slice(&(units.len() as u32).to_le_bytes());
        v.extend_from_slice(&units);
        v
    }

    #[test]
    fn notify_changes() {
        let mut b = notify_entry(16, 4, "a");
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&notify_entry(0, 5, "b"));
        assert_eq!(
            notify_details(&b),
            " [RENAMED_OLD_NAME \"a\", RENAMED_NEW_NAME \"b\"]"
        );
        let mut long = notify_entry(0, 1, "x");
        long[8] = 200;
        assert_eq!(
            notify_details(&long),
            " (changes malformed: name outside the buffer)"
        );
        assert_eq!(
            notify_details(&[1, 2, 3]),
            " (changes malformed: truncated entry)"
        );
        let mut zero_next = notify_entry(0, 1, "x");
        zero_next[..4].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(notify_details(&zero_next), " [ADDED \"x\"]");
        // NextEntryOffset 1 lands inside the first entry: its "name length" is garbage.
        let mut spin = notify_entry(0, 1, "x");
        spin[..4].copy_from_slice(&1u32.to_le_bytes());
        spin.extend_from_slice(&[0; 16]);
        assert_eq!(
            notify_details(&spin),
            " (changes malformed: name outside the buffer)"
        );
    }
}
