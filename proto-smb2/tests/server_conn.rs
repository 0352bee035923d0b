//! The server connection machine (`proto_smb2::server::Connection`) driven by a client
//! built from this crate's own codecs and crypto: deterministic (fixed seed, fixed time),
//! one behaviour per test, each asserting the exact status or the close the spec asks for.

use bytes::{Bytes, BytesMut};
use proto_smb2::auth::ntlm::{self, NegotiateMessage};
use proto_smb2::auth::spnego::{NegTokenInit, OID_NTLMSSP};
use proto_smb2::client;
use proto_smb2::cmd::negotiate::{cipher, dialect, signing_algorithm};
use proto_smb2::cmd::session_setup::session_flags;
use proto_smb2::cmd::*;
use proto_smb2::compound::{split_compound, CompoundWriter};
use proto_smb2::crypto::kdf::SessionKeys;
use proto_smb2::crypto::preauth::PreauthHash;
use proto_smb2::crypto::signing::{self, SigningAlgorithm};
use proto_smb2::crypto::transform::{self, Cipher};
use proto_smb2::header::flags;
use proto_smb2::nbss;
use proto_smb2::server::*;
use proto_smb2::{Command, Header, HeaderId, NtStatus};
use std::sync::Arc;

const NOW: u64 = 133_500_000_000_000_000;
const PASSWORD: &str = "pw-alice";

fn config() -> ServerConfig {
    let users = UserMap::default().with_password("alice", PASSWORD, 1000, 100);
    let share = Share {
        name: "export".into(),
        id: 7,
        kind: ShareKind::Disk,
        read_only: false,
        guest_ok: false,
        encrypt: EncryptPolicy::Off,
        signing_required: false,
    };
    let mut c = ServerConfig::new([0x11; 16], vec![share], Arc::new(users));
    c.encrypt = EncryptPolicy::Off;
    c
}

/// One message of a response frame, decoded.
#[derive(Debug, Clone)]
struct Resp {
    header: Header,
    msg: Vec<u8>,
}

impl Resp {
    fn status(&self) -> NtStatus {
        self.header.status
    }
}

/// A client built from the crate's codecs, talking to one server connection in memory.
struct Client {
    conn: Connection,
    next_mid: u64,
    sid: u64,
    tid: u32,
    dialect: u16,
    keys: Option<SessionKeys>,
    sign_alg: SigningAlgorithm,
    cipher: Option<Cipher>,
    preauth: PreauthHash,
    sign: bool,
    encrypt: bool,
    nonce: u64,
    /// Whether the last response frame arrived encrypted.
    last_encrypted: bool,
    /// What the last NEGOTIATE settled (the session keys are derived from it).
    negotiated: Option<client::Negotiated>,
    /// The signing algorithms a 3.1.1 NEGOTIATE offers.
    sign_offer: Vec<u16>,
}

impl Client {
    fn new(config: ServerConfig) -> Self {
        Client {
            conn: Connection::new(Arc::new(config), [7; 32]),
            next_mid: 0,
            sid: 0,
            tid: 0,
            dialect: 0,
            keys: None,
            sign_alg: SigningAlgorithm::AesCmac,
            cipher: None,
            preauth: PreauthHash::new(),
            sign: false,
            encrypt: false,
            nonce: 0,
            last_encrypted: false,
            negotiated: None,
            sign_offer: vec![signing_algorithm::AES_GMAC, signing_algorithm::AES_CMAC],
        }
    }

    fn header(&mut self, command: Command, charge: u16) -> Header {
        let mid = self.next_mid;
        self.next_mid += u64::from(charge.max(1));
        Header {
            credit_charge: charge,
            status: NtStatus::SUCCESS,
            command,
            credits: 32,
            flags: 0,
            next_command: 0,
            message_id: mid,
            id: HeaderId::Sync {
                process_id: 0xfeff,
                tree_id: self.tid,
            },
            session_id: self.sid,
            signature: [0; 16],
        }
    }

    fn build(&mut self, command: Command, charge: u16, body: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let h = self.header(command, charge);
        let mut m = Vec::new();
        h.encode(&mut m);
        body(&mut m);
        m
    }

    /// Sends a frame payload as it is (signing and encryption done by the caller), in
    /// two pieces through `handle_buf` as a runtime that hands its buffer over does: the
    /// first taken over by the machine, the second appended to it.
    fn send_raw(&mut self, payload: &[u8]) {
        let mut f = BytesMut::new();
        nbss::put_frame(&mut f, payload);
        let rest = f.split_off(f.len() / 3);
        self.conn.handle_buf(f, NOW);
        self.conn.handle_buf(rest, NOW);
    }

    /// Signs (when signing) and encrypts (when encrypting) a message or chain, then sends.
    fn send(&mut self, mut payload: Vec<u8>) {
        if self.sign && !self.encrypt {
            if let Some(k) = &self.keys {
                signing::sign(self.sign_alg, &k.signing, &mut payload).unwrap();
            }
        }
        if self.encrypt {
            let k = self.keys.as_ref().unwrap();
            self.nonce += 1;
            let mut n = [0u8; 16];
            n[..8].copy_from_slice(&self.nonce.to_le_bytes());
            payload =
                transform::encrypt(self.cipher.unwrap(), &k.decryption, &n, self.sid, &payload)
                    .unwrap();
        }
        self.send_raw(&payload);
    }

    /// Drains the machine's output: response messages, decrypted and split.
    fn recv(&mut self) -> Vec<Resp> {
        let mut out = Vec::new();
        while let Some(b) = self.conn.poll_transmit() {
            let mut buf = BytesMut::from(&b[..]);
            let f = nbss::take_frame(&mut buf, nbss::MAX_FRAME_LEN)
                .unwrap()
                .unwrap();
            assert!(buf.is_empty(), "one frame per transmit");
            let mut payload = f.payload;
            self.last_encrypted = transform::is_transform(&payload);
            if self.last_encrypted {
                let k = self.keys.as_ref().expect("encrypted answer without keys");
                let (_, plain) =
                    transform::decrypt(self.cipher.unwrap(), &k.encryption, &payload).unwrap();
                payload = Bytes::from(plain);
            }
            for p in split_compound(&payload, 64).unwrap() {
                out.push(Resp {
                    header: p.header,
                    msg: p.msg.to_vec(),
                });
            }
        }
        out
    }

    /// Sends one request and returns its one response.
    fn call(&mut self, command: Command, charge: u16, body: impl FnOnce(&mut Vec<u8>)) -> Resp {
        let m = self.build(command, charge, body);
        self.send(m);
        let mut r = self.recv();
        assert_eq!(r.len(), 1, "one response expected: {r:?}");
        r.remove(0)
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.conn.poll_event()).collect()
    }

    fn calls(&mut self) -> Vec<Call> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Call(c) => Some(*c),
                _ => None,
            })
            .collect()
    }

    fn negotiate(&mut self, dialects: &[u16], ciphers: &[u16]) -> Resp {
        let mut req = client::negotiate_request(dialects, ciphers, 0x44, [9; 16], [3; 32]);
        for c in &mut req.contexts {
            if let NegotiateContext::Signing { algorithms } = c {
                algorithms.clone_from(&self.sign_offer);
            }
        }
        let m = self.build(Command::NEGOTIATE, 0, |o| req.encode(o));
        self.send(m.clone());
        let r = self.recv().remove(0);
        assert_eq!(r.status(), NtStatus::SUCCESS);
        self.negotiated = Some(client::Negotiated::from_exchange(&m, &r.msg).unwrap());
        let n = self.negotiated.as_ref().unwrap();
        self.dialect = n.dialect;
        self.sign_alg = n.signing;
        self.cipher = n.cipher;
        self.preauth = n.preauth;
        r
    }

    /// The two SESSION_SETUP legs of SPNEGO + NTLMv2; returns the final response.
    fn login(&mut self, user: &str, password: &str) -> Resp {
        self.login_with(user, password, 1)
    }

    fn login_with(&mut self, user: &str, password: &str, security_mode: u8) -> Resp {
        let reauth = self.keys.is_some();
        let mut preauth = self.preauth;
        let auth = client::NtlmClient::new(
            client::DEFAULT_NTLM_FLAGS,
            client::Credentials::password(user, "WORKGROUP", "CLIENT", password),
            client::ClientInputs {
                time: NOW,
                client_challenge: [0x99; 8],
                random_session_key: [0x5a; 16],
            },
        );
        let ss = auth.session_setup(security_mode, 1);
        let m = self.build(Command::SESSION_SETUP, 1, |o| ss.encode(o));
        preauth.update(&m);
        self.send(m);
        let r = self.recv().remove(0);
        if r.status() != NtStatus::MORE_PROCESSING_REQUIRED {
            return r;
        }
        preauth.update(&r.msg);
        self.sid = r.header.session_id;
        let logon = auth.answer(&r.msg).unwrap();
        let ss2 = SessionSetupRequest {
            security_buffer: logon.token,
            ..ss
        };
        let m = self.build(Command::SESSION_SETUP, 1, |o| ss2.encode(o));
        preauth.update(&m);
        self.send(m);
        let r = self.recv().remove(0);
        if r.status() == NtStatus::SUCCESS && !reauth {
            let flags = SessionSetupResponse::decode(&r.msg).unwrap().session_flags;
            if flags & session_flags::IS_GUEST == 0 {
                let session = client::ClientSession::new(
                    self.negotiated
                        .as_ref()
                        .expect("NEGOTIATE before SESSION_SETUP"),
                    self.sid,
                    &logon.session_key,
                    &preauth,
                );
                if self.dialect >= dialect::SMB300 {
                    assert!(r.header.is_signed(), "final SESSION_SETUP response signed");
                }
                if r.header.is_signed() {
                    assert!(session.verify(&r.msg));
                }
                self.keys = Some(session.keys);
            }
            if flags & session_flags::ENCRYPT_DATA != 0 {
                self.encrypt = true;
            }
        }
        r
    }

    fn tree_connect(&mut self, share: &str) -> Resp {
        let tc = TreeConnectRequest {
            flags: 0,
            path: format!("\\\\janus\\{share}").encode_utf16().collect(),
            extension: None,
        };
        let r = self.call(Command::TREE_CONNECT, 1, |o| tc.encode(o));
        if r.status() == NtStatus::SUCCESS {
            self.tid = r.header.tree_id().unwrap();
        }
        r
    }

    /// NEGOTIATE, SESSION_SETUP and TREE_CONNECT to `export`.
    fn ready(config: ServerConfig, dialect_: u16) -> Client {
        let mut c = Client::new(config);
        c.negotiate(&[dialect_], &[cipher::AES128_GCM]);
        assert_eq!(c.login("alice", PASSWORD).status(), NtStatus::SUCCESS);
        assert_eq!(c.tree_connect("export").status(), NtStatus::SUCCESS);
        c
    }
}

fn read_body(file_id: FileId, length: u32) -> impl FnOnce(&mut Vec<u8>) {
    move |o| {
        ReadRequest {
            padding: 0x50,
            flags: 0,
            length,
            offset: 0,
            file_id,
            minimum_count: 0,
            channel: 0,
            remaining_bytes: 0,
            channel_info: Vec::new(),
        }
        .encode(o)
    }
}

fn close_body(file_id: FileId) -> impl FnOnce(&mut Vec<u8>) {
    move |o| CloseRequest { flags: 0, file_id }.encode(o)
}

const FID: FileId = FileId {
    persistent: 1,
    volatile: 2,
};

// ---- negotiation ----

#[test]
fn negotiate_picks_highest_common_dialect_and_contexts() {
    let mut c = Client::new(config());
    let r = c.negotiate(
        &[dialect::SMB202, dialect::SMB300, dialect::SMB311],
        &[cipher::AES256_GCM, cipher::AES128_CCM],
    );
    let resp = NegotiateResponse::decode(&r.msg).unwrap();
    assert_eq!(resp.dialect, dialect::SMB311);
    assert_eq!(resp.server_guid, [0x11; 16]);
    assert_eq!(resp.system_time, NOW);
    assert!(resp.contexts.contains(&NegotiateContext::Encryption {
        ciphers: vec![cipher::AES256_GCM]
    }));
    assert!(resp.contexts.contains(&NegotiateContext::Signing {
        algorithms: vec![signing_algorithm::AES_GMAC]
    }));
    assert!(!r.header.is_signed());
    assert_eq!(c.conn.dialect(), Some(dialect::SMB311));
}

#[test]
fn negotiate_without_common_dialect_is_not_supported() {
    let mut cfg = config();
    cfg.dialects = vec![dialect::SMB311];
    let mut c = Client::new(cfg);
    let m = c.build(Command::NEGOTIATE, 0, |o| {
        NegotiateRequest {
            security_mode: 1,
            capabilities: 0,
            client_guid: [1; 16],
            dialects: vec![dialect::SMB202, dialect::SMB210],
            client_start_time: 0,
            contexts: Vec::new(),
        }
        .encode(o)
    });
    c.send(m);
    assert_eq!(c.recv()[0].status(), NtStatus::NOT_SUPPORTED);
    assert!(!c.conn.is_closed());
}

#[test]
fn negotiate_311_needs_sha512_preauth() {
    for (contexts, status) in [
        (Vec::new(), NtStatus::INVALID_PARAMETER),
        (
            vec![NegotiateContext::PreauthIntegrity {
                hash_algorithms: vec![0x0002],
                salt: vec![1; 8],
            }],
            NtStatus(0xC05D_0000),
        ),
    ] {
        let mut c = Client::new(config());
        let m = c.build(Command::NEGOTIATE, 0, |o| {
            NegotiateRequest {
                security_mode: 1,
                capabilities: 0,
                client_guid: [1; 16],
                dialects: vec![dialect::SMB311],
                client_start_time: 0,
                contexts,
            }
            .encode(o)
        });
        c.send(m);
        assert_eq!(c.recv()[0].status(), status);
    }
}

#[test]
fn second_negotiate_closes_the_connection() {
    let mut c = Client::new(config());
    c.negotiate(&[dialect::SMB210], &[]);
    let m = c.build(Command::NEGOTIATE, 0, |o| {
        NegotiateRequest {
            security_mode: 1,
            capabilities: 0,
            client_guid: [1; 16],
            dialects: vec![dialect::SMB210],
            client_start_time: 0,
            contexts: Vec::new(),
        }
        .encode(o)
    });
    c.send(m);
    assert!(c.recv().is_empty());
    assert!(matches!(
        c.conn.poll_close(),
        Some(CloseReason::NegotiationState(_))
    ));
    assert_eq!(c.conn.poll_close(), None, "reported once");
}

#[test]
fn request_before_negotiate_closes() {
    let mut c = Client::new(config());
    let m = c.build(Command::ECHO, 1, |o| EchoRequest.encode(o));
    c.send(m);
    assert!(c.recv().is_empty());
    assert!(c.conn.poll_close().is_some());
}

#[test]
fn smb1_negotiate_is_answered_with_the_wildcard() {
    let mut c = Client::new(config());
    let raw = include_bytes!("data/nt1-04-smb1-negotiate-req.nbss");
    c.conn.handle_bytes(raw, NOW);
    let r = c.recv();
    let resp = NegotiateResponse::decode(&r[0].msg).unwrap();
    assert_eq!(resp.dialect, dialect::SMB2_WILDCARD);
    assert_eq!(r[0].header.message_id, 0);
    assert_eq!(c.conn.dialect(), None);
    // The SMB2 NEGOTIATE follows with message id 1.
    c.next_mid = 1;
    c.negotiate(&[dialect::SMB210, dialect::SMB311], &[cipher::AES128_CCM]);
    assert_eq!(c.conn.dialect(), Some(dialect::SMB311));
}

#[test]
fn samba_captured_negotiate_gets_a_311_answer() {
    let mut c = Client::new(config());
    c.conn.handle_bytes(
        include_bytes!("data/smb311-encrypted-04-negotiate-req.nbss"),
        NOW,
    );
    let r = c.recv();
    let resp = NegotiateResponse::decode(&r[0].msg).unwrap();
    assert_eq!(resp.dialect, dialect::SMB311);
    assert!(resp
        .contexts
        .iter()
        .any(|x| matches!(x, NegotiateContext::Encryption { ciphers } if ciphers[0] != 0)));
}

// ---- authentication ----

#[test]
fn ntlmv2_login_each_dialect_and_keys_agree() {
    for d in [
        dialect::SMB202,
        dialect::SMB210,
        dialect::SMB300,
        dialect::SMB302,
        dialect::SMB311,
    ] {
        let mut c = Client::ready(config(), d);
        // A signed ECHO verifies with the client's derived keys both ways.
        c.sign = true;
        let r = c.call(Command::ECHO, 1, |o| EchoRequest.encode(o));
        assert_eq!(r.status(), NtStatus::SUCCESS, "dialect {d:#x}");
        assert!(r.header.is_signed());
        assert!(signing::verify(
            c.sign_alg,
            &c.keys.as_ref().unwrap().signing,
            &r.msg
        ));
    }
}

#[test]
fn wrong_password_and_unknown_user_are_logon_failure() {
    for (user, pw) in [("alice", "wrong"), ("mallory", "x")] {
        let mut c = Client::new(config());
        c.negotiate(&[dialect::SMB311], &[cipher::AES128_GCM]);
        let r = c.login(user, pw);
        assert_eq!(r.status(), NtStatus::LOGON_FAILURE);
        assert!(!r.header.is_signed());
        assert_eq!(c.conn.session_count(), 0, "the failed session is gone");
    }
}

#[test]
fn unknown_user_is_guest_where_allowed() {
    let mut cfg = config();
    cfg.guest = Some((65534, 65534));
    let mut open = (*cfg.shares[0]).clone();
    open.name = "public".into();
    open.guest_ok = true;
    cfg.shares.push(Arc::new(open));
    let mut c = Client::new(cfg);
    c.negotiate(&[dialect::SMB311], &[cipher::AES128_GCM]);
    let r = c.login("visitor", "whatever");
    assert_eq!(r.status(), NtStatus::SUCCESS);
    let flags = SessionSetupResponse::decode(&r.msg).unwrap().session_flags;
    assert_eq!(flags & session_flags::IS_GUEST, session_flags::IS_GUEST);
    assert!(!r.header.is_signed(), "guest sessions have no key");
    assert_eq!(c.tree_connect("export").status(), NtStatus::ACCESS_DENIED);
    assert_eq!(c.tree_connect("public").status(), NtStatus::SUCCESS);
    let m = c.build(Command::READ, 1, read_body(FID, 10));
    c.send(m);
    let call = c.calls().remove(0);
    assert!(call.identity.guest);
    assert_eq!((call.identity.uid, call.identity.gid), (65534, 65534));
    // A known user with a wrong password is never a guest.
    let mut c = Client::new({
        let mut cfg = config();
        cfg.guest = Some((65534, 65534));
        cfg
    });
    c.negotiate(&[dialect::SMB311], &[cipher::AES128_GCM]);
    assert_eq!(c.login("alice", "bad").status(), NtStatus::LOGON_FAILURE);
}

#[test]
fn session_binding_is_refused() {
    let mut c = Client::new(config());
    c.negotiate(&[dialect::SMB311], &[cipher::AES128_GCM]);
    let r = c.call(Command::SESSION_SETUP, 1, |o| {
        SessionSetupRequest {
            flags: session_setup::request_flags::BINDING,
            security_mode: 1,
            capabilities: 0,
            channel: 0,
            previous_session_id: 0,
            security_buffer: vec![0x60, 0x00],
        }
        .encode(o)
    });
    assert_eq!(r.status(), NtStatus::REQUEST_NOT_ACCEPTED);
}

#[test]
fn unfinished_authentications_are_bounded() {
    let mut cfg = config();
    cfg.limits.max_pending_auth = 2;
    let mut c = Client::new(cfg);
    c.negotiate(&[dialect::SMB311], &[cipher::AES128_GCM]);
    let first_leg = |c: &mut Client| {
        c.sid = 0;
        let tok = NegTokenInit {
            mech_types: vec![OID_NTLMSSP.to_vec()],
            mech_token: Some(
                NegotiateMessage {
                    flags: ntlm::flags::UNICODE | ntlm::flags::NTLM,
                    domain: Vec::new(),
                    workstation: Vec::new(),
                    version: None,
                }
                .encode(),
            ),
            mech_list_mic: None,
        };
        c.call(Command::SESSION_SETUP, 1, |o| {
            SessionSetupRequest {
                flags: 0,
                security_mode: 1,
                capabilities: 0,
                channel: 0,
                previous_session_id: 0,
                security_buffer: tok.encode(),
            }
            .encode(o)
        })
        .status()
    };
    assert_eq!(first_leg(&mut c), NtStatus::MORE_PROCESSING_REQUIRED);
    assert_eq!(first_leg(&mut c), NtStatus::MORE_PROCESSING_REQUIRED);
    assert_eq!(first_leg(&mut c), NtStatus::INSUFFICIENT_RESOURCES);
    assert_eq!(c.conn.session_count(), 2);
}

#[test]
fn request_on_unauthenticated_session_is_denied() {
    let mut c = Client::new(config());
    c.negotiate(&[dialect::SMB210], &[]);
    let tok = NegTokenInit {
        mech_types: vec![OID_NTLMSSP.to_vec()],
        mech_token: Some(
            NegotiateMessage {
                flags: ntlm::flags::UNICODE | ntlm::flags::NTLM,
                domain: Vec::new(),
                workstation: Vec::new(),
                version: None,
            }
            .encode(),
        ),
        mech_list_mic: None,
    };
    let r = c.call(Command::SESSION_SETUP, 1, |o| {
        SessionSetupRequest {
            flags: 0,
            security_mode: 1,
            capabilities: 0,
            channel: 0,
            previous_session_id: 0,
            security_buffer: tok.encode(),
        }
        .encode(o)
    });
    c.sid = r.header.session_id;
    let tc = TreeConnectRequest {
        flags: 0,
        path: "\\\\s\\export".encode_utf16().collect(),
        extension: None,
    };
    let r = c.call(Command::TREE_CONNECT, 1, |o| tc.encode(o));
    assert_eq!(r.status(), NtStatus::ACCESS_DENIED);
    // LOGOFF is what such a session may do (§3.3.5.2.9).
    let r = c.call(Command::LOGOFF, 1, |o| LogoffRequest.encode(o));
    assert_eq!(r.status(), NtStatus::SUCCESS);
    assert_eq!(c.conn.session_count(), 0);
}

#[test]
fn reauthentication_keeps_the_session() {
    let mut c = Client::ready(config(), dialect::SMB311);
    c.sign = true;
    let sid = c.sid;
    assert_eq!(c.login("alice", PASSWORD).status(), NtStatus::SUCCESS);
    assert_eq!(c.sid, sid);
    let r = c.call(Command::ECHO, 1, |o| EchoRequest.encode(o));
    assert_eq!(r.status(), NtStatus::SUCCESS);
    // A failed reauthentication ends the session.
    assert_eq!(c.login("alice", "nope").status(), NtStatus::LOGON_FAILURE);
    assert!(c
        .events()
        .iter()
        .any(|e| matches!(e, Event::SessionClosed { session_id } if *session_id == sid)));
    let r = c.call(Command::ECHO, 1, |o| EchoRequest.encode(o));
    assert_eq!(r.status(), NtStatus::USER_SESSION_DELETED);
}

#[test]
fn logoff_ends_the_session_and_its_trees() {
    let mut c = Client::ready(config(), dialect::SMB300);
    let (sid, tid) = (c.sid, c.tid);
    let r = c.call(Command::LOGOFF, 1, |o| LogoffRequest.encode(o));
    assert_eq!(r.status(), NtStatus::SUCCESS);
    let ev = c.events();
    assert!(ev.iter().any(|e| matches!(e, Event::TreeClosed { session_id, tree_id } if *session_id == sid && *tree_id == tid)));
    assert!(ev.iter().any(|e| matches!(e, Event::SessionClosed { .. })));
    let r = c.call(Command::READ, 1, read_body(FID, 1));
    assert_eq!(r.status(), NtStatus::USER_SESSION_DELETED);
}

#[test]
fn an_async_call_answered_after_logoff_is_still_encrypted() {
    // The upper layer ends a waiting LOCK or CHANGE_NOTIFY when the LOGOFF closes its open
    // (MS-SMB2 §3.3.5.6): that answer comes after the session is gone from the table, and
    // is encrypted (or signed) with the ended session's keys, not dropped.
    let mut cfg = config();
    cfg.encrypt = EncryptPolicy::Required;
    let mut c = Client::new(cfg);
    c.negotiate(&[dialect::SMB311], &[cipher::AES128_GCM]);
    assert_eq!(c.login("alice", PASSWORD).status(), NtStatus::SUCCESS);
    assert_eq!(c.tree_connect("export").status(), NtStatus::SUCCESS);
    let m = c.build(Command::CHANGE_NOTIFY, 1, |o| {
        ChangeNotifyRequest {
            flags: 0,
            output_buffer_length: 4096,
            file_id: FID,
            completion_filter: 0x17,
        }
        .encode(o)
    });
    c.send(m);
    let call = c.calls().remove(0);
    let async_id = c.conn.go_async(call.id).unwrap();
    assert_eq!(c.recv().remove(0).status(), NtStatus::PENDING);
    let r = c.call(Command::LOGOFF, 1, |o| LogoffRequest.encode(o));
    assert_eq!(r.status(), NtStatus::SUCCESS);
    assert!(c
        .events()
        .iter()
        .any(|e| matches!(e, Event::SessionClosed { .. })));
    c.conn
        .handle_reply(call.id, Reply::error(NtStatus(0xC000_007E)))
        .unwrap();
    let fin = c.recv();
    assert_eq!(fin.len(), 1, "the final answer is sent");
    assert!(c.last_encrypted, "with the ended session's key");
    assert_eq!(fin[0].status(), NtStatus(0xC000_007E));
    assert_eq!(fin[0].header.id, HeaderId::Async { async_id });
    // The ended session serves no request: one encrypted for it cannot be decrypted.
    let m = c.build(Command::ECHO, 1, |o| EchoRequest.encode(o));
    c.send(m);
    assert!(c.recv().is_empty());
    assert!(matches!(c.conn.poll_close(), Some(CloseReason::Decrypt(_))));
}

#[test]
fn a_previous_session_ends_only_for_its_own_user() {
    // MS-SMB2 §3.3.5.5.3: PreviousSessionId ends the earlier session of the same user.
    let mut c = Client::ready(config(), dialect::SMB300);
    let (sid, tid) = (c.sid, c.tid);
    let _ = c.events();
    let user = |name: &str, uid| Identity {
        user: name.into(),
        domain: "WORKGROUP".into(),
        uid,
        gid: 100,
        guest: false,
    };
    assert!(!c.conn.end_previous_session(sid, &user("bob", 1001)));
    assert!(!c.conn.end_previous_session(sid + 1, &user("alice", 1000)));
    assert!(
        !c.conn.end_previous_session(
            sid,
            &Identity {
                guest: true,
                ..user("alice", 1000)
            }
        ),
        "a guest ends nothing"
    );
    assert!(c.events().is_empty());
    assert!(c.conn.end_previous_session(sid, &user("ALICE", 1000)));
    let ev = c.events();
    assert!(ev.iter().any(|e| matches!(e, Event::TreeClosed { session_id, tree_id } if *session_id == sid && *tree_id == tid)));
    assert!(ev
        .iter()
        .any(|e| matches!(e, Event::SessionClosed { session_id } if *session_id == sid)));
    let r = c.call(Command::READ, 1, read_body(FID, 1));
    assert_eq!(r.status(), NtStatus::USER_SESSION_DELETED);
}

#[test]
fn hmac_sha256_signing_can_be_negotiated_on_311() {
    // MS-SMB2 §2.2.3.1.7: HMAC-SHA256 is a 3.1.1 signing algorithm; a client offering only
    // it gets it (smbtorture smb2.session.signing-hmac-sha-256 and bind_negative_*Hto*),
    // and signed requests work with it.
    let mut c = Client::new(config());
    c.sign_offer = vec![signing_algorithm::HMAC_SHA256];
    c.negotiate(&[dialect::SMB311], &[cipher::AES128_GCM]);
    assert_eq!(c.sign_alg, SigningAlgorithm::HmacSha256);
    assert_eq!(c.login("alice", PASSWORD).status(), NtStatus::SUCCESS);
    c.sign = true;
    assert_eq!(c.tree_connect("export").status(), NtStatus::SUCCESS);
    let r = c.call(Command::ECHO, 1, |o| EchoRequest.encode(o));
    assert_eq!(r.status(), NtStatus::SUCCESS);
    // The client's preference decides among those the server accepts.
    let mut c = Client::new(config());
    c.sign_offer = vec![signing_algorithm::HMAC_SHA256, signing_algorithm::AES_CMAC];
    c.negotiate(&[dialect::SMB311], &[cipher::AES128_GCM]);
    assert_eq!(c.sign_alg, SigningAlgorithm::HmacSha256);
}

// ---- trees ----

#[test]
fn tree_connect_rules() {
    let mut cfg = config();
    cfg.limits.max_trees = 2;
    let mut c = Client::new(cfg);
    c.negotiate(&[dialect::SMB311], &[cipher::AES128_GCM]);
    c.login("alice", PASSWORD);
    assert_eq!(
        c.tree_connect("nosuch").status(),
        NtStatus::BAD_NETWORK_NAME
    );
    let ipc = c.tree_connect("ipc$");
    assert_eq!(ipc.status(), NtStatus::SUCCESS);
    assert_eq!(
        TreeConnectResponse::decode(&ipc.msg).unwrap().share_type,
        tree_connect::share_type::PIPE
    );
    let disk = c.tree_connect("EXPORT");
    assert_eq!(
        TreeConnectResponse::decode(&disk.msg).unwrap().share_type,
        tree_connect::share_type::DISK
    );
    assert_eq!(
        c.tree_connect("export").status(),
        NtStatus::INSUFFICIENT_RESOURCES
    );
    let tid = c.tid;
    assert_eq!(
        c.call(Command::TREE_DISCONNECT, 1, |o| TreeDisconnectRequest
            .encode(o))
            .status(),
        NtStatus::SUCCESS
    );
    assert!(c
        .events()
        .iter()
        .any(|e| matches!(e, Event::TreeClosed { tree_id, .. } if *tree_id == tid)));
    let r = c.call(Command::READ, 1, read_body(FID, 1));
    assert_eq!(r.status(), NtStatus::NETWORK_NAME_DELETED);
}

// ---- signing and encryption ----

#[test]
fn bad_signature_is_access_denied_unsigned() {
    let mut c = Client::ready(config(), dialect::SMB311);
    let mut m = c.build(Command::ECHO, 1, |o| EchoRequest.encode(o));
    signing::sign(c.sign_alg, &c.keys.as_ref().unwrap().signing, &mut m).unwrap();
    m[66] ^= 1; // the body changes after signing
    c.send_raw(&m);
    let r = c.recv().remove(0);
    assert_eq!(r.status(), NtStatus::ACCESS_DENIED);
    assert!(!r.header.is_signed());
}

#[test]
fn unsigned_request_on_signing_required_session_is_denied() {
    let mut cfg = config();
    cfg.signing_required = true;
    let mut c = Client::new(cfg);
    let r = c.negotiate(&[dialect::SMB210], &[]);
    let neg = NegotiateResponse::decode(&r.msg).unwrap();
    assert_eq!(neg.security_mode & 2, 2, "SIGNING_REQUIRED announced");
    assert_eq!(c.login("alice", PASSWORD).status(), NtStatus::SUCCESS);
    assert_eq!(c.tree_connect("export").status(), NtStatus::ACCESS_DENIED);
    c.sign = true;
    assert_eq!(c.tree_connect("export").status(), NtStatus::SUCCESS);
    c.sign = false;
    let r = c.call(Command::READ, 1, read_body(FID, 1));
    assert_eq!(r.status(), NtStatus::ACCESS_DENIED);
    assert!(!r.header.is_signed());
    c.sign = true;
    let m = c.build(Command::READ, 1, read_body(FID, 1));
    c.send(m);
    let call = c.calls().remove(0);
    assert!(call.signed);
    c.conn
        .handle_reply(call.id, Reply::error(NtStatus::END_OF_FILE))
        .unwrap();
    let r = c.recv().remove(0);
    assert_eq!(r.status(), NtStatus::END_OF_FILE);
    assert!(signing::verify(
        c.sign_alg,
        &c.keys.as_ref().unwrap().signing,
        &r.msg
    ));
}

#[test]
fn encrypted_session_refuses_plaintext_and_answers_encrypted() {
    let mut cfg = config();
    cfg.encrypt = EncryptPolicy::Required;
    for (d, ciphers) in [
        (dialect::SMB300, vec![]),
        (dialect::SMB311, vec![cipher::AES128_CCM]),
        (dialect::SMB311, vec![cipher::AES128_GCM]),
        (dialect::SMB311, vec![cipher::AES256_GCM]),
        (dialect::SMB311, vec![cipher::AES256_CCM]),
    ] {
        let mut c = Client::new(cfg.clone());
        c.negotiate(&[d], &ciphers);
        assert_eq!(c.login("alice", PASSWORD).status(), NtStatus::SUCCESS);
        assert!(c.encrypt, "ENCRYPT_DATA set");
        assert_eq!(c.tree_connect("export").status(), NtStatus::SUCCESS);
        assert!(c.last_encrypted);
        c.encrypt = false;
        c.sign = true;
        let r = c.call(Command::ECHO, 1, |o| EchoRequest.encode(o));
        assert_eq!(r.status(), NtStatus::ACCESS_DENIED);
        c.encrypt = true;
        let m = c.build(Command::READ, 1, read_body(FID, 1));
        c.send(m);
        let call = c.calls().remove(0);
        assert!(call.encrypted);
        c.conn
            .handle_reply(call.id, Reply::ok(vec![0; 17]))
            .unwrap();
        let r = c.recv().remove(0);
        assert!(c.last_encrypted);
        assert!(!r.header.is_signed(), "encrypted messages are not signed");
    }
    // A client that cannot encrypt (2.1) is refused.
    let mut c = Client::new(cfg);
    c.negotiate(&[dialect::SMB210], &[]);
    assert_eq!(c.login("alice", PASSWORD).status(), NtStatus::ACCESS_DENIED);
}

#[test]
fn tampered_transform_closes_the_connection() {
    let mut cfg = config();
    cfg.encrypt = EncryptPolicy::Required;
    let mut c = Client::new(cfg);
    c.negotiate(&[dialect::SMB311], &[cipher::AES128_GCM]);
    c.login("alice", PASSWORD);
    let m = c.build(Command::ECHO, 1, |o| EchoRequest.encode(o));
    let k = c.keys.as_ref().unwrap();
    let mut wire =
        transform::encrypt(Cipher::Aes128Gcm, &k.decryption, &[5; 16], c.sid, &m).unwrap();
    let last = wire.len() - 1;
    wire[last] ^= 0x80;
    c.send_raw(&wire);
    assert!(c.recv().is_empty());
    assert!(matches!(c.conn.poll_close(), Some(CloseReason::Decrypt(_))));
}

#[test]
fn validate_negotiate_info() {
    let mut c = Client::ready(config(), dialect::SMB300);
    c.sign = true;
    let vni = |caps: u32| {
        move |o: &mut Vec<u8>| {
            let mut input = Vec::new();
            ValidateNegotiateInfoRequest {
                capabilities: caps,
                guid: [9; 16],
                security_mode: 1,
                dialects: vec![dialect::SMB300],
            }
            .encode(&mut input);
            IoctlRequest {
                ctl_code: ioctl::ctl_code::VALIDATE_NEGOTIATE_INFO,
                file_id: FileId::RELATED,
                max_input_response: 0,
                max_output_response: 24,
                flags: ioctl::IOCTL_IS_FSCTL,
                input,
                output: Vec::new(),
            }
            .encode(o)
        }
    };
    let r = c.call(Command::IOCTL, 1, vni(0x44));
    assert_eq!(r.status(), NtStatus::SUCCESS);
    assert!(signing::verify(
        c.sign_alg,
        &c.keys.as_ref().unwrap().signing,
        &r.msg
    ));
    let out = IoctlResponse::decode(&r.msg).unwrap();
    let v = ValidateNegotiateInfoResponse::decode(&out.output).unwrap();
    assert_eq!((v.dialect, v.guid), (dialect::SMB300, [0x11; 16]));
    // A downgraded capability set ends the connection (§3.3.5.15.12).
    let m = c.build(Command::IOCTL, 1, vni(0x40));
    c.send(m);
    assert!(c.recv().is_empty());
    assert!(matches!(
        c.conn.poll_close(),
        Some(CloseReason::ValidateNegotiate(_))
    ));
}

// ---- credits and message ids ----

#[test]
fn duplicate_and_out_of_window_message_ids_close() {
    let mut c = Client::ready(config(), dialect::SMB210);
    let r = c.call(Command::ECHO, 1, |o| EchoRequest.encode(o));
    assert!(r.header.credits >= 1);
    c.next_mid -= 1; // reuse the id just consumed
    let m = c.build(Command::ECHO, 1, |o| EchoRequest.encode(o));
    c.send(m);
    assert!(c.recv().is_empty());
    assert_eq!(
        c.conn.poll_close(),
        Some(CloseReason::MessageId(c.next_mid - 1))
    );

    let mut c = Client::ready(config(), dialect::SMB210);
    c.next_mid += 10_000; // never granted
    let m = c.build(Command::ECHO, 1, |o| EchoRequest.encode(o));
    c.send(m);
    assert!(c.recv().is_empty());
    assert!(matches!(
        c.conn.poll_close(),
        Some(CloseReason::MessageId(_))
    ));
}

#[test]
fn credits_are_granted_as_asked_and_bounded() {
    let mut cfg = config();
    cfg.limits.max_credits = 40;
    let mut c = Client::ready(cfg, dialect::SMB311);
    let mut m = c.build(Command::ECHO, 1, |o| EchoRequest.encode(o));
    m[14..16].copy_from_slice(&1000u16.to_le_bytes());
    c.sign = true;
    c.send(m);
    let r = c.recv().remove(0);
    assert!(
        r.header.credits <= 40 && r.header.credits >= 1,
        "{}",
        r.header.credits
    );
}

#[test]
fn multi_credit_charge_must_cover_the_payload() {
    let mut c = Client::ready(config(), dialect::SMB311);
    c.sign = true;
    // 256 KiB needs 4 credits.
    let r = c.call(Command::READ, 1, read_body(FID, 256 * 1024));
    assert_eq!(r.status(), NtStatus::INVALID_PARAMETER);
    let m = c.build(Command::READ, 4, read_body(FID, 256 * 1024));
    c.send(m);
    let call = c.calls().remove(0);
    assert_eq!(call.credit_charge, 4);
    c.conn
        .handle_reply(call.id, Reply::error(NtStatus::END_OF_FILE))
        .unwrap();
    assert_eq!(c.recv()[0].status(), NtStatus::END_OF_FILE);
    // Over MaxReadSize is refused whatever the charge (§3.3.5.12).
    let mut cfg = config();
    cfg.max_read_size = 128 * 1024;
    let mut c = Client::ready(cfg, dialect::SMB311);
    c.sign = true;
    let r = c.call(Command::READ, 3, read_body(FID, 128 * 1024 + 1));
    assert_eq!(r.status(), NtStatus::INVALID_PARAMETER);
    assert!(c.calls().is_empty());
}

#[test]
fn cancel_consumes_no_credit_and_reaches_the_call() {
    let mut c = Client::ready(config(), dialect::SMB210);
    let m = c.build(Command::READ, 1, read_body(FID, 10));
    let mid = Header::decode(&m).unwrap().message_id;
    c.send(m);
    let call = c.calls().remove(0);
    let mut h = c.header(Command::CANCEL, 0);
    c.next_mid -= 1;
    h.message_id = mid;
    let mut cm = Vec::new();
    h.encode(&mut cm);
    CancelRequest.encode(&mut cm);
    c.send(cm);
    assert!(c.recv().is_empty(), "CANCEL has no response");
    assert!(matches!(c.events()[..], [Event::Cancel(id)] if id == call.id));
    c.conn
        .handle_reply(call.id, Reply::error(NtStatus::CANCELLED))
        .unwrap();
    assert_eq!(c.recv()[0].status(), NtStatus::CANCELLED);
    // The next id still works: CANCEL consumed none.
    assert_eq!(
        c.call(Command::ECHO, 1, |o| EchoRequest.encode(o)).status(),
        NtStatus::SUCCESS
    );
}

// ---- async ----

#[test]
fn async_interim_cancel_and_final() {
    let mut c = Client::ready(config(), dialect::SMB311);
    c.sign = true;
    let m = c.build(Command::CHANGE_NOTIFY, 1, |o| {
        ChangeNotifyRequest {
            flags: 0,
            output_buffer_length: 4096,
            file_id: FID,
            completion_filter: 0x17,
        }
        .encode(o)
    });
    c.send(m);
    let call = c.calls().remove(0);
    let async_id = c.conn.go_async(call.id).unwrap();
    assert_eq!(c.conn.go_async(call.id), Err(AsyncError::AlreadyAsync));
    let interim = c.recv().remove(0);
    assert_eq!(interim.status(), NtStatus::PENDING);
    assert_eq!(interim.header.id, HeaderId::Async { async_id });
    assert!(
        !interim.header.is_signed(),
        "interim responses are not signed"
    );
    assert!(interim.header.credits >= 1);
    // CANCEL by AsyncId.
    let mut h = c.header(Command::CANCEL, 0);
    c.next_mid -= 1;
    h.flags |= flags::ASYNC_COMMAND;
    h.id = HeaderId::Async { async_id };
    let mut cm = Vec::new();
    h.encode(&mut cm);
    CancelRequest.encode(&mut cm);
    c.send(cm);
    assert!(matches!(c.events()[..], [Event::Cancel(id)] if id == call.id));
    c.conn
        .handle_reply(call.id, Reply::error(NtStatus::CANCELLED))
        .unwrap();
    let fin = c.recv().remove(0);
    assert_eq!(fin.status(), NtStatus::CANCELLED);
    assert_eq!(fin.header.id, HeaderId::Async { async_id });
    assert_eq!(fin.header.credits, 0);
    assert!(signing::verify(
        c.sign_alg,
        &c.keys.as_ref().unwrap().signing,
        &fin.msg
    ));
    assert_eq!(
        c.conn
            .handle_reply(call.id, Reply::error(NtStatus::CANCELLED)),
        Err(ReplyError::UnknownCall(call.id))
    );
}

// ---- compounds ----

fn chain(c: &mut Client, related: bool, msgs: Vec<Vec<u8>>) -> Vec<u8> {
    let mut w = CompoundWriter::new();
    for (i, mut m) in msgs.into_iter().enumerate() {
        if related && i > 0 {
            let f = u32::from_le_bytes(m[16..20].try_into().unwrap()) | flags::RELATED_OPERATIONS;
            m[16..20].copy_from_slice(&f.to_le_bytes());
            m[40..48].fill(0xff);
            m[36..40].fill(0xff);
        }
        w.push(&m);
    }
    let ranges = w.ranges().to_vec();
    if c.sign {
        let k = c.keys.as_ref().unwrap().signing;
        for r in ranges {
            signing::sign(c.sign_alg, &k, &mut w.bytes_mut()[r]).unwrap();
        }
    }
    w.finish().to_vec()
}

fn create_body(o: &mut Vec<u8>) {
    client::create_request("a.txt", 0x0012_0089, 7, 1, 0).encode(o)
}

#[test]
fn related_compound_inherits_file_id_and_errors() {
    let mut c = Client::ready(config(), dialect::SMB311);
    c.sign = true;
    let send_chain = |c: &mut Client| {
        let a = c.build(Command::CREATE, 1, create_body);
        let b = c.build(Command::READ, 1, read_body(FileId::RELATED, 10));
        let d = c.build(Command::CLOSE, 1, close_body(FileId::RELATED));
        let payload = chain(c, true, vec![a, b, d]);
        // Signatures cover each message as sent; the client signed after linking.
        c.send_raw(&payload);
    };
    // 1. CREATE succeeds: READ and CLOSE get its FileId.
    send_chain(&mut c);
    let create = c.calls().remove(0);
    assert_eq!(
        create.compound,
        CompoundPosition {
            index: 0,
            count: 3,
            related: false
        }
    );
    let fid = FileId {
        persistent: 0x77,
        volatile: 0x88,
    };
    let mut body = Vec::new();
    CreateResponse {
        oplock_level: 0,
        flags: 0,
        create_action: 1,
        info: FileTimesAndSizes::default(),
        file_attributes: 0x80,
        file_id: fid,
        contexts: Vec::new(),
    }
    .encode(&mut body);
    c.conn.handle_reply(create.id, Reply::ok(body)).unwrap();
    let read = c.calls().remove(0);
    let Request::Read(rr) = &read.request else {
        panic!()
    };
    assert_eq!(rr.file_id, fid);
    assert!(read.compound.related);
    assert_eq!((read.session_id, read.tree_id), (c.sid, c.tid));
    c.conn
        .handle_reply(read.id, Reply::error(NtStatus::END_OF_FILE))
        .unwrap();
    // A failed READ is not passed on: the CLOSE still gets the CREATE's FileId (Windows
    // and Samba pass on only a failed CREATE's status; smbtorture smb2.compound.related6).
    let close = c.calls().remove(0);
    let Request::Close(cr) = &close.request else {
        panic!()
    };
    assert_eq!(cr.file_id, fid);
    c.conn
        .handle_reply(close.id, Reply::ok(close_response_body()))
        .unwrap();
    let rs = c.recv();
    assert_eq!(rs.len(), 3);
    assert_eq!(rs[0].status(), NtStatus::SUCCESS);
    assert_eq!(rs[1].status(), NtStatus::END_OF_FILE);
    assert_eq!(rs[2].status(), NtStatus::SUCCESS);
    for r in &rs {
        assert!(signing::verify(
            c.sign_alg,
            &c.keys.as_ref().unwrap().signing,
            &r.msg
        ));
        assert!(
            r.msg.len() % 8 == 0 || r.header.next_command == 0,
            "8-byte aligned"
        );
    }
    assert!(rs[1].header.is_related());

    // 2. CREATE fails: the rest fail with its status without reaching the upper layer.
    send_chain(&mut c);
    let create = c.calls().remove(0);
    c.conn
        .handle_reply(create.id, Reply::error(NtStatus::OBJECT_NAME_NOT_FOUND))
        .unwrap();
    assert!(c.calls().is_empty());
    let rs = c.recv();
    assert!(
        rs.iter()
            .all(|r| r.status() == NtStatus::OBJECT_NAME_NOT_FOUND),
        "{rs:?}"
    );
}

#[test]
fn unrelated_compound_with_an_error_in_the_middle() {
    let mut c = Client::ready(config(), dialect::SMB311);
    c.sign = true;
    let a = c.build(Command::ECHO, 1, |o| EchoRequest.encode(o));
    let mut b = c.build(Command::READ, 1, read_body(FID, 10));
    b[36..40].copy_from_slice(&999u32.to_le_bytes()); // unknown tree
    let d = c.build(Command::READ, 1, read_body(FID, 10));
    let payload = chain(&mut c, false, vec![a, b, d]);
    c.send_raw(&payload);
    let call = c.calls().remove(0);
    assert_eq!(call.compound.index, 2);
    c.conn
        .handle_reply(
            call.id,
            Reply::ok(vec![
                0x11, 0, 0x50, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ]),
        )
        .unwrap();
    let rs = c.recv();
    let st: Vec<_> = rs.iter().map(Resp::status).collect();
    assert_eq!(
        st,
        [
            NtStatus::SUCCESS,
            NtStatus::NETWORK_NAME_DELETED,
            NtStatus::SUCCESS
        ]
    );
}

#[test]
fn first_message_related_is_invalid_parameter() {
    let mut c = Client::ready(config(), dialect::SMB311);
    c.sign = true;
    let mut a = c.build(Command::ECHO, 1, |o| EchoRequest.encode(o));
    a[16] |= flags::RELATED_OPERATIONS as u8;
    c.send(a);
    assert_eq!(c.recv()[0].status(), NtStatus::INVALID_PARAMETER);
}

#[test]
fn a_related_request_after_one_without_a_session_is_invalid_parameter() {
    // §3.3.5.2.7.2: a related request uses the previous operation's session; when that one
    // had none (unknown SessionId: USER_SESSION_DELETED), Windows and Samba answer the
    // related one STATUS_INVALID_PARAMETER (smbtorture smb2.compound.invalid2). A related
    // request after a valid one uses its session even if its own header names another.
    let mut c = Client::ready(config(), dialect::SMB311);
    c.sign = true;
    let a = c.build(Command::ECHO, 1, |o| EchoRequest.encode(o));
    let mut b = c.build(Command::ECHO, 1, |o| EchoRequest.encode(o));
    b[16] |= flags::RELATED_OPERATIONS as u8;
    b[40..48].copy_from_slice(&u64::MAX.to_le_bytes());
    let mut d = c.build(Command::ECHO, 1, |o| EchoRequest.encode(o));
    d[40..48].copy_from_slice(&u64::MAX.to_le_bytes());
    let mut e = c.build(Command::ECHO, 1, |o| EchoRequest.encode(o));
    e[16] |= flags::RELATED_OPERATIONS as u8;
    let payload = chain(&mut c, false, vec![a, b, d, e]);
    c.send_raw(&payload);
    let st: Vec<_> = c.recv().iter().map(Resp::status).collect();
    assert_eq!(
        st,
        [
            NtStatus::SUCCESS,
            NtStatus::SUCCESS,
            NtStatus::USER_SESSION_DELETED,
            NtStatus::INVALID_PARAMETER
        ]
    );
    assert!(c.conn.poll_close().is_none());
}

#[test]
fn async_in_the_middle_of_a_chain_is_refused() {
    let mut c = Client::ready(config(), dialect::SMB311);
    c.sign = true;
    let a = c.build(Command::READ, 1, read_body(FID, 1));
    let b = c.build(Command::READ, 1, read_body(FID, 1));
    let payload = chain(&mut c, false, vec![a, b]);
    c.send_raw(&payload);
    let call = c.calls().remove(0);
    assert_eq!(c.conn.go_async(call.id), Err(AsyncError::NotLastInChain));
}

// ---- framing and bounds ----

#[test]
fn oversized_frames_close_before_the_body_arrives() {
    let mut c = Client::new(config());
    let len = nbss::MAX_FRAME_BEFORE_AUTH + 1;
    c.conn.handle_bytes(&nbss::frame_header(len), NOW);
    assert!(matches!(c.conn.poll_close(), Some(CloseReason::Framing(_))));
    // After authentication an 8 MiB WRITE fits.
    let mut c = Client::ready(config(), dialect::SMB311);
    c.sign = true;
    for _ in 0..8 {
        c.call(Command::ECHO, 1, |o| EchoRequest.encode(o));
    }
    let data = vec![0xab; 1 << 20];
    let m = c.build(Command::WRITE, 16, |o| {
        WriteRequest {
            offset: 0,
            file_id: FID,
            channel: 0,
            remaining_bytes: 0,
            channel_info: Vec::new(),
            flags: 0,
            data: Bytes::from(data),
        }
        .encode(o)
    });
    c.send(m);
    let call = c.calls().remove(0);
    let Request::Write(w) = &call.request else {
        panic!()
    };
    assert_eq!(w.data.len(), 1 << 20);
}

#[test]
fn garbage_closes_without_panic() {
    for bytes in [
        &b"\x00\x00\x00\x08XXXXXXXX"[..],
        &b"\x81\x00\x00\x00"[..],
        &b"\x00\x00\x00\x40\xfeSMB"[..],
    ] {
        let mut c = Client::new(config());
        let mut b = bytes.to_vec();
        b.resize(4 + usize::from(bytes[3]), 0);
        c.conn.handle_bytes(&b, NOW);
        assert!(c.conn.is_closed(), "{bytes:?}");
    }
}

#[test]
fn back_pressure_stops_reading() {
    let mut cfg = config();
    cfg.limits.max_calls = 2;
    let mut c = Client::ready(cfg, dialect::SMB311);
    c.sign = true;
    for _ in 0..3 {
        c.call(Command::ECHO, 1, |o| EchoRequest.encode(o));
    }
    for _ in 0..3 {
        let m = c.build(Command::READ, 1, read_body(FID, 1));
        c.send(m);
    }
    let calls = c.calls();
    assert_eq!(calls.len(), 2);
    assert!(!c.conn.wants_read());
    // Answering one lets the buffered third through.
    c.conn
        .handle_reply(calls[0].id, Reply::error(NtStatus::END_OF_FILE))
        .unwrap();
    assert_eq!(c.calls().len(), 1);
    assert!(!c.conn.wants_read());
    c.conn
        .handle_reply(calls[1].id, Reply::error(NtStatus::END_OF_FILE))
        .unwrap();
    assert!(c.conn.wants_read());
}

#[test]
fn same_seed_same_bytes() {
    let run = || {
        let mut c = Client::ready(config(), dialect::SMB311);
        c.sign = true;
        c.call(Command::ECHO, 1, |o| EchoRequest.encode(o)).msg
    };
    assert_eq!(run(), run());
}

#[test]
fn connection_lost_reports_every_session_and_tree() {
    let mut c = Client::ready(config(), dialect::SMB311);
    c.sign = true;
    let m = c.build(Command::READ, 1, read_body(FID, 1));
    c.send(m);
    let call = c.calls().remove(0);
    c.conn.handle_connection_lost();
    let ev = c.events();
    assert!(ev.iter().any(|e| matches!(e, Event::TreeClosed { .. })));
    assert!(ev.iter().any(|e| matches!(e, Event::SessionClosed { .. })));
    assert_eq!(
        c.conn
            .handle_reply(call.id, Reply::error(NtStatus::END_OF_FILE)),
        Err(ReplyError::UnknownCall(call.id))
    );
    assert!(c.recv().is_empty());
    assert_eq!(c.conn.poll_close(), None);
    assert!(!c.conn.wants_read());
}

#[test]
fn session_established_carries_identity_and_previous_session() {
    let mut c = Client::new(config());
    c.negotiate(&[dialect::SMB311], &[cipher::AES128_GCM]);
    assert_eq!(c.login("alice", PASSWORD).status(), NtStatus::SUCCESS);
    let ev = c.events();
    let [Event::SessionEstablished {
        session_id,
        identity,
        previous_session_id,
    }] = &ev[..]
    else {
        panic!("{ev:?}");
    };
    assert_eq!(*session_id, c.sid);
    assert_eq!(
        (identity.user.as_str(), identity.uid, identity.gid),
        ("alice", 1000, 100)
    );
    assert!(!identity.guest);
    assert_eq!(*previous_session_id, 0);
    // Reauthentication establishes nothing new.
    c.sign = true;
    assert_eq!(c.login("alice", PASSWORD).status(), NtStatus::SUCCESS);
    assert!(c.events().is_empty());
}

/// The body of a successful CLOSE response.
fn close_response_body() -> Vec<u8> {
    let mut b = Vec::new();
    proto_smb2::cmd::CloseResponse::default().encode(&mut b);
    b
}

/// A READ answered with `Reply::Framed` (the data after the room for the headers), as the
/// server core does: `len` bytes of data.
fn framed_read(len: usize) -> (Reply, Vec<u8>) {
    let data: Vec<u8> = (0..len).map(|i| (i * 13 + 5) as u8).collect();
    let mut buf = vec![0xaa; REPLY_HEADROOM];
    ReadResponse::encode_fixed(0, 0, len as u32, &mut buf);
    buf.extend_from_slice(&data);
    (
        Reply::Framed {
            status: NtStatus::SUCCESS,
            buf,
        },
        data,
    )
}

#[test]
fn framed_replies_are_signed_and_encrypted_in_place() {
    // Signed, then encrypted with each cipher: the client reads the data back intact.
    let mut c = Client::new(config());
    c.negotiate(&[dialect::SMB311], &[cipher::AES128_GCM]);
    c.login("alice", PASSWORD);
    c.tree_connect("export");
    c.sign = true;
    let m = c.build(Command::READ, 1, read_body(FID, 1000));
    c.send(m);
    let call = c.calls().remove(0);
    let (reply, data) = framed_read(1000);
    c.conn.handle_reply(call.id, reply).unwrap();
    let r = c.recv().remove(0);
    assert!(r.header.is_signed());
    assert_eq!(
        ReadResponse::decode(&Bytes::from(r.msg.clone()))
            .unwrap()
            .data,
        data
    );
    let mut cfg = config();
    cfg.encrypt = EncryptPolicy::Required;
    for ciph in [cipher::AES128_CCM, cipher::AES128_GCM, cipher::AES256_GCM] {
        let mut c = Client::new(cfg.clone());
        c.negotiate(&[dialect::SMB311], &[ciph]);
        c.login("alice", PASSWORD);
        c.tree_connect("export");
        let m = c.build(Command::READ, 1, read_body(FID, 5000));
        c.send(m);
        let call = c.calls().remove(0);
        let (reply, data) = framed_read(5000);
        c.conn.handle_reply(call.id, reply).unwrap();
        let r = c.recv().remove(0);
        assert!(c.last_encrypted);
        assert_eq!(
            ReadResponse::decode(&Bytes::from(r.msg.clone()))
                .unwrap()
                .data,
            data
        );
    }
}

#[test]
fn large_encrypted_responses_are_sealed_elsewhere_and_count_as_queued() {
    let mut cfg = config();
    cfg.encrypt = EncryptPolicy::Required;
    cfg.limits.seal_offload_min = 4096;
    cfg.limits.max_queued_bytes = 10_000;
    let mut c = Client::new(cfg);
    c.negotiate(&[dialect::SMB311], &[cipher::AES128_GCM]);
    c.login("alice", PASSWORD);
    c.tree_connect("export");
    assert!(
        c.conn.poll_seal().is_none(),
        "small responses are sealed inline"
    );
    let m = c.build(Command::READ, 1, read_body(FID, 20_000));
    c.send(m);
    let call = c.calls().remove(0);
    let (reply, data) = framed_read(20_000);
    c.conn.handle_reply(call.id, reply).unwrap();
    // Nothing to send yet: the response waits to be sealed, and its bytes hold reading.
    assert!(c.conn.poll_transmit().is_none());
    assert!(
        !c.conn.wants_read(),
        "the sealing response counts as queued"
    );
    let seal = c.conn.poll_seal().expect("handed out for sealing");
    assert!(c.conn.poll_seal().is_none());
    let len = seal.frame_len();
    let frame = seal.run().unwrap();
    assert_eq!(frame.len(), len);
    c.conn.handle_sealed(Ok(frame));
    let r = c.recv().remove(0);
    assert!(c.last_encrypted);
    assert_eq!(
        ReadResponse::decode(&Bytes::from(r.msg.clone()))
            .unwrap()
            .data,
        data
    );
    assert!(c.conn.wants_read());
    // A small response meanwhile is sealed inline; a failed seal closes the connection.
    let r = c.call(Command::ECHO, 1, |o| EchoRequest.encode(o));
    assert_eq!(r.status(), NtStatus::SUCCESS);
    c.conn
        .handle_sealed(Err(proto_smb2::crypto::CryptoError::NotAuthentic));
    assert!(c.conn.poll_close().is_some());
}

#[test]
fn large_encrypted_requests_are_decrypted_elsewhere_then_continue() {
    let mut cfg = config();
    cfg.encrypt = EncryptPolicy::Required;
    cfg.limits.seal_offload_min = 4096;
    let mut c = Client::new(cfg);
    c.negotiate(&[dialect::SMB311], &[cipher::AES128_GCM]);
    c.login("alice", PASSWORD);
    c.tree_connect("export");
    assert!(
        c.conn.poll_unseal().is_none(),
        "small requests are decrypted inline"
    );
    let data = vec![0x5a; 10_000];
    let m = c.build(Command::WRITE, 1, |o| {
        WriteRequest {
            offset: 0,
            file_id: FID,
            channel: 0,
            remaining_bytes: 0,
            channel_info: Vec::new(),
            flags: 0,
            data: Bytes::from(data.clone()),
        }
        .encode(o)
    });
    c.events();
    c.send(m);
    assert!(c.calls().is_empty(), "no call before the decryption");
    let u = c.conn.poll_unseal().expect("handed out for decrypting");
    // A small request behind it goes ahead meanwhile.
    let r = c.call(Command::ECHO, 1, |o| EchoRequest.encode(o));
    assert_eq!(r.status(), NtStatus::SUCCESS);
    c.conn.handle_unsealed(u.run(), NOW);
    let call = c.calls().remove(0);
    assert!(call.encrypted);
    match &call.request {
        Request::Write(w) => assert_eq!(w.data[..], data[..]),
        other => panic!("{other:?}"),
    }
    // A tampered one closes the connection when its result comes back.
    let m = c.build(Command::WRITE, 1, |o| {
        WriteRequest {
            offset: 0,
            file_id: FID,
            channel: 0,
            remaining_bytes: 0,
            channel_info: Vec::new(),
            flags: 0,
            data: Bytes::from(data.clone()),
        }
        .encode(o)
    });
    let k = c.keys.clone().unwrap();
    let mut sealed =
        transform::encrypt(c.cipher.unwrap(), &k.decryption, &[9; 16], c.sid, &m).unwrap();
    sealed[100] ^= 1;
    c.send_raw(&sealed);
    let u = c.conn.poll_unseal().expect("handed out");
    c.conn.handle_unsealed(u.run(), NOW);
    assert!(c.conn.poll_close().is_some());
}

/// §3.3.4.6/§3.3.4.7: break notifications go out unsolicited (MessageId all ones, no
/// credits, SessionId and TreeId 0, unsigned), encrypted with the open's session key when
/// that session encrypts; a lease break needs 2.1 or later, an ack layout is refused.
#[test]
fn break_notifications_are_unsolicited() {
    let oplock = OplockBreak::Oplock {
        oplock_level: 1,
        file_id: FID,
    };
    let lease = OplockBreak::LeaseNotification {
        new_epoch: 3,
        flags: 1,
        lease_key: [0xab; 16],
        current_lease_state: 7,
        new_lease_state: 3,
    };
    // Signed 3.1.1 session: plain, unsigned.
    let mut c = Client::ready(config(), dialect::SMB311);
    c.sign = true;
    assert_eq!(c.conn.client_guid(), Some([9; 16]));
    for n in [oplock, lease] {
        c.conn.send_break(&n, Some((c.sid, c.tid))).unwrap();
        let r = c.recv();
        assert_eq!(r.len(), 1);
        let h = &r[0].header;
        assert!(!c.last_encrypted);
        assert_eq!(h.command, Command::OPLOCK_BREAK);
        assert_eq!(h.message_id, u64::MAX);
        assert_eq!((h.session_id, h.tree_id(), h.credits), (0, Some(0), 0));
        assert!(!h.is_signed());
        assert_eq!(h.flags & flags::SERVER_TO_REDIR, flags::SERVER_TO_REDIR);
        assert_eq!(OplockBreak::decode(&r[0].msg).unwrap(), n);
    }
    let ack = OplockBreak::LeaseAck {
        flags: 0,
        lease_key: [0; 16],
        lease_state: 0,
        lease_duration: 0,
    };
    assert_eq!(
        c.conn.send_break(&ack, None),
        Err(BreakError::NotANotification)
    );
    // Encrypted session: the notification is sealed with its key.
    let mut cfg = config();
    cfg.encrypt = EncryptPolicy::Required;
    let mut c = Client::ready(cfg, dialect::SMB311);
    c.conn.send_break(&lease, Some((c.sid, c.tid))).unwrap();
    let r = c.recv();
    assert!(c.last_encrypted);
    assert_eq!(r[0].header.message_id, u64::MAX);
    assert_eq!(OplockBreak::decode(&r[0].msg).unwrap(), lease);
    // 2.0.2 has oplocks but no leases; nothing before NEGOTIATE.
    let mut c = Client::ready(config(), dialect::SMB202);
    assert_eq!(c.conn.send_break(&lease, None), Err(BreakError::NoLeases));
    c.conn.send_break(&oplock, None).unwrap();
    assert_eq!(c.recv().len(), 1);
    let mut c = Client::new(config());
    assert_eq!(
        c.conn.send_break(&oplock, None),
        Err(BreakError::NotNegotiated)
    );
    assert!(c.recv().is_empty());
}
