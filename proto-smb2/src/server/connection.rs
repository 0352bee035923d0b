//! The connection machine: framing, the receive pipeline of MS-SMB2 §3.3.5.2 (decryption,
//! compound splitting, message-id window, signature, credit charge, session and tree
//! checks), dispatch, and the send path of §3.3.4 (credits, signing, encryption, compound
//! assembly). The commands the machine answers itself are in `setup.rs`.

use super::config::{ServerConfig, Share};
use super::rng::Rng;
use super::{
    AsyncError, BreakError, Call, CallId, CloseReason, CompoundPosition, Event, FileTime, Identity,
    Reply, ReplyError, REPLY_HEADROOM,
};
use crate::cmd::negotiate::dialect;
use crate::cmd::{ErrorResponse, FileId, Request};
use crate::compound::{split_compound, CompoundPart, CompoundWriter};
use crate::credits::{check_charge, CreditWindow};
use crate::crypto::kdf::SessionKeys;
use crate::crypto::preauth::PreauthHash;
use crate::crypto::signing::{self, SigningAlgorithm};
use crate::crypto::transform::{self, Cipher, TRANSFORM_HEADER_LEN};
use crate::header::{flags, Command, Header, HeaderId, HEADER_LEN};
use crate::nbss;
use crate::status::NtStatus;
use bytes::{Bytes, BytesMut};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// The negotiated state of a connection (MS-SMB2 §3.3.1.7).
#[derive(Debug, Clone)]
pub(super) struct Negotiated {
    pub dialect: u16,
    pub client_guid: [u8; 16],
    pub client_security_mode: u16,
    pub client_capabilities: u32,
    pub client_dialects: Vec<u16>,
    pub server_capabilities: u32,
    pub server_security_mode: u16,
    pub cipher: Option<Cipher>,
    pub signing: SigningAlgorithm,
}

impl Negotiated {
    /// Multi-credit requests (SMB2_GLOBAL_CAP_LARGE_MTU, 2.1 and later).
    pub fn large_mtu(&self) -> bool {
        self.dialect >= dialect::SMB210
    }
}

/// Where the NEGOTIATE exchange stands (Connection.NegotiateDialect, §3.3.1.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NegState {
    /// Nothing yet (0xFFFF).
    Initial,
    /// An SMB1 negotiate was answered with 2.??? (0x02FF): an SMB2 NEGOTIATE must follow.
    Wildcard,
    /// A dialect is chosen.
    Done,
}

/// An authentication in progress on a session.
#[derive(Debug, Clone)]
pub(super) enum AuthStage {
    /// Waiting for the NTLMSSP NEGOTIATE_MESSAGE.
    AwaitNegotiate,
    /// CHALLENGE sent, waiting for the AUTHENTICATE_MESSAGE.
    AwaitAuthenticate {
        negotiate: Vec<u8>,
        challenge: Vec<u8>,
        server_challenge: [u8; 8],
    },
}

#[derive(Debug, Clone)]
pub(super) struct Auth {
    pub stage: AuthStage,
    /// The client wraps NTLMSSP in SPNEGO (else raw NTLMSSP tokens).
    pub spnego: bool,
    /// The client's DER MechTypeList, what a mechListMIC covers.
    pub mech_list: Option<Vec<u8>>,
}

/// A tree connect (§3.3.1.10).
#[derive(Debug, Clone)]
pub(super) struct Tree {
    pub share: Arc<Share>,
    pub encrypt: bool,
    pub signing_required: bool,
}

/// A session (§3.3.1.8).
#[derive(Debug)]
pub(super) struct Session {
    /// Authenticated (Session.State Valid).
    pub valid: bool,
    pub auth: Option<Auth>,
    pub preauth: PreauthHash,
    /// None for guest sessions and before the first authentication completes.
    pub keys: Option<SessionKeys>,
    pub identity: Option<Arc<Identity>>,
    pub signing_required: bool,
    pub encrypt_data: bool,
    pub trees: BTreeMap<u32, Tree>,
    pub next_tree_id: u32,
    /// Nonce prefix and counter for the transform headers this server sends.
    pub nonce_high: [u8; 8],
    pub nonce_counter: u64,
}

impl Session {
    pub fn new(preauth: PreauthHash, nonce_high: [u8; 8]) -> Self {
        Session {
            valid: false,
            auth: None,
            preauth,
            keys: None,
            identity: None,
            signing_required: false,
            encrypt_data: false,
            trees: BTreeMap::new(),
            next_tree_id: 1,
            nonce_high,
            nonce_counter: 0,
        }
    }
}

/// What one message of a chain is processed with: its header and the ids in force.
#[derive(Debug, Clone)]
pub(super) struct Ctx {
    pub header: Header,
    pub session_id: u64,
    pub tree_id: u32,
    /// The signature was present and verified.
    pub signed: bool,
    /// The response must not be signed (a failed signature check).
    pub no_sign: bool,
    pub encrypted: bool,
}

/// How a response is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SignHow {
    /// By the rules of §3.3.4.1.1.
    Auto,
    /// Never (NEGOTIATE, interim responses, unauthenticated legs).
    Never,
    /// With the session's key whatever the rules say (a final SESSION_SETUP response).
    Always,
}

/// A response being assembled: the message is `buf[at..]`, with room before it for the
/// NBSS and transform headers ([`REPLY_HEADROOM`]), so that a lone response is framed,
/// signed and encrypted where it lies.
struct OutMsg {
    buf: Vec<u8>,
    at: usize,
    sign: Option<(SigningAlgorithm, [u8; 16])>,
}

impl OutMsg {
    fn msg(&self) -> &[u8] {
        &self.buf[self.at..]
    }
}

/// Where the SMB2 header of a response starts in its buffer: after the room for the NBSS
/// header and a transform header.
const MSG_AT: usize = REPLY_HEADROOM - HEADER_LEN;

/// `body` copied after [`REPLY_HEADROOM`] zero bytes.
fn framed(body: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(REPLY_HEADROOM + body.len());
    buf.resize(REPLY_HEADROOM, 0);
    buf.extend_from_slice(body);
    buf
}

/// Writes `h` into the [`HEADER_LEN`] bytes of `buf` at [`MSG_AT`].
fn put_header(h: &Header, buf: &mut [u8]) {
    let mut w = &mut buf[MSG_AT..REPLY_HEADROOM];
    h.encode(&mut w);
}

/// What the previous message of a chain left for a related one (§3.3.5.2.7.2).
#[derive(Debug, Clone, Copy)]
pub(super) struct Prev {
    pub session_id: u64,
    pub tree_id: u32,
    pub file_id: Option<FileId>,
}

/// A frame being answered: one compound chain (a lone request is a chain of one).
pub(super) struct Chain {
    pub parts: Vec<CompoundPart>,
    next: usize,
    out: Vec<OutMsg>,
    pub encrypted: bool,
    /// The key and nonce that encrypt the answer, once a message requires it.
    encrypt_with: Option<Sealer>,
    prev: Prev,
    /// The error every later related request of the chain fails with: a failed CREATE's
    /// status, or INVALID_PARAMETER when the chain began with a related request. Windows
    /// and Samba pass on only these (smbtorture smb2.compound.related6, related8,
    /// related9); an unrelated request starts afresh. MS-SMB2 §3.3.5.2.7.2 words it as
    /// "the previous operation failed", which they read as the CREATE that should have
    /// produced the FileId.
    create_err: Option<NtStatus>,
}

/// What encrypts one outgoing frame.
#[derive(Clone)]
struct Sealer {
    cipher: Cipher,
    key: Vec<u8>,
    nonce: [u8; 16],
    session_id: u64,
}

/// An encrypted response to seal elsewhere than on the machine's thread
/// ([`Connection::poll_seal`]): the message with room before it, and the key, nonce and
/// session that seal it (taken when the response was built, so the nonce is used once).
/// [`Seal::run`] is pure; the sealed frame goes back with [`Connection::handle_sealed`].
/// Responses on a connection may be sent in any order (MS-SMB2 §3.3.4.1: the client
/// matches them by MessageId), so a sealed frame takes its place when it comes back.
#[derive(Clone)]
pub struct Seal {
    buf: Vec<u8>,
    at: usize,
    sealer: Sealer,
}

impl std::fmt::Debug for Seal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Seal")
            .field("len", &(self.buf.len() - self.at))
            .field("session_id", &self.sealer.session_id)
            .finish_non_exhaustive()
    }
}

impl Seal {
    /// The length of the sealed NBSS frame.
    pub fn frame_len(&self) -> usize {
        self.buf.len() - self.at + TRANSFORM_HEADER_LEN + nbss::NBSS_HEADER_LEN
    }

    /// Encrypts the message (MS-SMB2 §3.1.4.3) and frames it: the bytes to send.
    pub fn run(self) -> Result<Bytes, crate::crypto::CryptoError> {
        seal_frame(self.buf, self.at, &self.sealer)
    }
}

/// Encrypts the payload `buf[at..]` with the transform header written in the room before
/// it (`at` ≥ [`MSG_AT`]) and frames it for NBSS.
fn seal_frame(
    mut buf: Vec<u8>,
    at: usize,
    e: &Sealer,
) -> Result<Bytes, crate::crypto::CryptoError> {
    let at = at - TRANSFORM_HEADER_LEN;
    transform::encrypt_in_place(e.cipher, &e.key, &e.nonce, e.session_id, &mut buf[at..])?;
    Ok(nbss_frame(buf, at))
}

/// Writes the NBSS header for the payload `buf[at..]` into the 4 bytes before it.
fn nbss_frame(mut buf: Vec<u8>, at: usize) -> Bytes {
    let at = at - nbss::NBSS_HEADER_LEN;
    let len = buf.len() - at - nbss::NBSS_HEADER_LEN;
    debug_assert!(len <= nbss::MAX_FRAME_LEN, "NBSS payload over 24 bits");
    buf[at..at + nbss::NBSS_HEADER_LEN].copy_from_slice(&nbss::frame_header(len));
    Bytes::from(buf).slice(at..)
}

/// An encrypted request to decrypt elsewhere than on the machine's thread
/// ([`Connection::poll_unseal`]): the transform message and the session's decryption key,
/// looked up when it arrived (§3.3.5.2.1.1). [`Unseal::run`] is pure; its result goes back
/// with [`Connection::handle_unsealed`], and the request then continues the receive
/// pipeline. Requests that arrived after it may be processed before it meanwhile, as on a
/// server that processes requests in parallel (§3.3.5.2: ordering is not guaranteed to a
/// client; a compound chain is one frame and stays together).
#[derive(Clone)]
pub struct Unseal {
    frame: BytesMut,
    cipher: Cipher,
    key: Vec<u8>,
    session_id: u64,
}

impl std::fmt::Debug for Unseal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Unseal")
            .field("len", &self.frame.len())
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

/// What [`Unseal::run`] produced: the plaintext, or why the message is refused.
#[derive(Debug, Clone)]
pub struct Unsealed {
    session_id: u64,
    plain: Result<Bytes, &'static str>,
}

impl Unseal {
    /// Decrypts the message where it lies (MS-SMB2 §3.3.5.2.1.1).
    pub fn run(mut self) -> Unsealed {
        let plain = match transform::decrypt_in_place(self.cipher, &self.key, &mut self.frame) {
            Err(_) => Err("not authentic"),
            Ok(_) => {
                let plain = self.frame.split_off(TRANSFORM_HEADER_LEN).freeze();
                if transform::is_transform(&plain) || crate::smb1::is_smb1(&plain) {
                    Err("nested transform")
                } else {
                    Ok(plain)
                }
            }
        };
        Unsealed {
            session_id: self.session_id,
            plain,
        }
    }
}

/// A call handed to the upper layer.
struct CallState {
    chain: u64,
    index: usize,
    ctx: Ctx,
    file_id: Option<FileId>,
    async_id: Option<u64>,
    cancelled: bool,
}

/// The result of processing one message.
pub(super) enum Step {
    /// A response was queued; the next message of the chain may follow.
    Done(Prev),
    /// No response (CANCEL).
    Silent,
    /// Handed to the upper layer.
    Wait,
    /// The connection is closing.
    Close,
}

/// One SMB2/3 server connection. See the [module documentation](super) for how it is
/// driven.
pub struct Connection {
    pub(super) config: Arc<ServerConfig>,
    pub(super) rng: Rng,
    pub(super) now: FileTime,
    inbuf: BytesMut,
    pub(super) state: NegState,
    pub(super) neg: Option<Negotiated>,
    /// Connection.PreauthIntegrityHashValue (3.1.1).
    pub(super) preauth: PreauthHash,
    pub(super) credits: CreditWindow,
    pub(super) sessions: BTreeMap<u64, Session>,
    /// Sessions ended (LOGOFF, a newer session of the user) while async calls of theirs
    /// were unanswered: kept, out of `sessions` (no request finds them), only to sign or
    /// encrypt those final responses — a LOCK or CHANGE_NOTIFY the upper layer ends at the
    /// LOGOFF (MS-SMB2 §3.3.5.6 closes the session's opens) — and dropped with the last.
    retired: BTreeMap<u64, Session>,
    chains: BTreeMap<u64, Chain>,
    next_chain: u64,
    calls: BTreeMap<CallId, CallState>,
    next_call: u64,
    next_async: u64,
    async_count: usize,
    pub(super) events: VecDeque<Event>,
    transmits: VecDeque<Bytes>,
    /// Responses handed out for sealing, not yet taken ([`Connection::poll_seal`]).
    seals: VecDeque<Seal>,
    /// Requests to decrypt, not yet taken ([`Connection::poll_unseal`]).
    unseals: VecDeque<Unseal>,
    /// Requests handed out for decrypting and not back yet (they hold reading as calls do).
    unsealing: usize,
    queued_bytes: usize,
    close: Option<CloseReason>,
    close_reported: bool,
}

impl core::fmt::Debug for Connection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Connection")
            .field("state", &self.state)
            .field("dialect", &self.dialect())
            .field("sessions", &self.sessions.len())
            .field("calls", &self.calls.len())
            .field("close", &self.close)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// A new connection. `seed` must be unpredictable to peers (the runtime draws it from
    /// the OS); the machine expands it into challenges, session ids, salts and nonces.
    pub fn new(config: Arc<ServerConfig>, seed: [u8; 32]) -> Self {
        let max_credits = u32::from(config.limits.max_credits);
        Connection {
            config,
            rng: Rng::new(seed),
            now: 0,
            inbuf: BytesMut::new(),
            state: NegState::Initial,
            neg: None,
            preauth: PreauthHash::new(),
            credits: CreditWindow::new(max_credits),
            sessions: BTreeMap::new(),
            retired: BTreeMap::new(),
            chains: BTreeMap::new(),
            next_chain: 0,
            calls: BTreeMap::new(),
            next_call: 1,
            next_async: 1,
            async_count: 0,
            events: VecDeque::new(),
            transmits: VecDeque::new(),
            seals: VecDeque::new(),
            unseals: VecDeque::new(),
            unsealing: 0,
            queued_bytes: 0,
            close: None,
            close_reported: false,
        }
    }

    // ---- getters ----

    /// The negotiated dialect, once NEGOTIATE completed.
    pub fn dialect(&self) -> Option<u16> {
        self.neg.as_ref().map(|n| n.dialect)
    }

    /// The negotiated cipher id (3.x), if any.
    pub fn cipher_id(&self) -> Option<u16> {
        self.neg.as_ref().and_then(|n| n.cipher).map(Cipher::id)
    }

    /// Sessions on the connection, authenticated or not.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Whether the runtime should read more bytes: false while the upper layer or the
    /// runtime has too much outstanding, and once the connection is closing.
    pub fn wants_read(&self) -> bool {
        self.close.is_none() && self.has_capacity()
    }

    /// Whether the session `session` exists on this connection (a `TreeClosed` event for a
    /// session that no longer does came from its LOGOFF, not a TREE_DISCONNECT).
    pub fn has_session(&self, session: u64) -> bool {
        self.sessions.contains_key(&session)
    }

    /// Whether `tree` of `session` is connected (the session is valid and the tree not
    /// disconnected): the upper layer asks before it keeps state for a call that was
    /// answered late.
    pub fn has_tree(&self, session: u64, tree: u32) -> bool {
        self.sessions
            .get(&session)
            .is_some_and(|s| s.valid && s.trees.contains_key(&tree))
    }

    /// Ends the session `sid` of this connection if it is valid and `user`'s (MS-SMB2
    /// §3.3.5.5.3: a SESSION_SETUP with a PreviousSessionId has the server end that earlier
    /// session of the same user, on whatever connection it is; its trees and opens close as
    /// at LOGOFF, and a request on it gets STATUS_USER_SESSION_DELETED). Returns whether it
    /// ended. A guest session is never ended this way.
    pub fn end_previous_session(&mut self, sid: u64, user: &Identity) -> bool {
        let same = self.sessions.get(&sid).is_some_and(|s| {
            s.valid
                && s.identity.as_deref().is_some_and(|i| {
                    !i.guest
                        && !user.guest
                        && i.uid == user.uid
                        && i.user.eq_ignore_ascii_case(&user.user)
                        && i.domain.eq_ignore_ascii_case(&user.domain)
                })
        });
        if same {
            self.drop_session(sid);
        }
        same
    }

    /// Whether the machine decided to close.
    pub fn is_closed(&self) -> bool {
        self.close.is_some()
    }

    fn has_capacity(&self) -> bool {
        let l = &self.config.limits;
        self.calls.len().saturating_sub(self.async_count) + self.unsealing < l.max_calls
            && self.queued_bytes < l.max_queued_bytes
    }

    /// The frame limit in force: smaller until a session is authenticated.
    fn frame_limit(&self) -> usize {
        let l = &self.config.limits;
        if self.sessions.values().any(|s| s.valid) {
            l.max_frame
        } else {
            l.max_frame_before_auth
        }
    }

    /// How many bytes a runtime that buffers what it reads should gather before calling
    /// [`Connection::handle_bytes`] (`held`: what it has gathered so far): the rest of the
    /// NBSS frame in progress (MS-SMB2 §2.1: a zero type byte and a 24-bit length, or a
    /// keep-alive), whose start may already be in this machine's buffer, at most `max`
    /// (the runtime's buffer); only the rest of the header when the header is one the
    /// machine refuses at once (a bad type, a length over the frame limit in force), so
    /// that nothing is gathered for a claim. Handing over earlier is harmless, later stalls:
    /// the client may wait for the answer to this frame before sending anything more.
    pub fn hand_over_at(&self, held: &[u8], max: usize) -> usize {
        let tail = &self.inbuf[self.whole_frames_len()..];
        let mut h = [0u8; nbss::NBSS_HEADER_LEN];
        let from_tail = tail.len().min(h.len());
        let header_rest = h.len() - from_tail;
        let from_held = header_rest.min(held.len());
        h[..from_tail].copy_from_slice(&tail[..from_tail]);
        h[from_tail..from_tail + from_held].copy_from_slice(&held[..from_held]);
        if from_held < header_rest {
            return header_rest;
        }
        match nbss::frame_total(h, self.frame_limit()) {
            Some(total) => total.saturating_sub(tail.len()).min(max).max(1),
            None => header_rest.max(1),
        }
    }

    /// Whether part of a frame is buffered (the runtime runs its arrival deadline on it).
    /// Whole frames waiting for capacity (back-pressure) do not count.
    pub fn has_partial_frame(&self) -> bool {
        self.inbuf.len() > self.whole_frames_len()
    }

    /// The bytes at the front of the buffer that are whole frames (waiting for capacity).
    fn whole_frames_len(&self) -> usize {
        let limit = self.frame_limit();
        let mut at = 0;
        while let Some(h) = self.inbuf.get(at..at + nbss::NBSS_HEADER_LEN) {
            let mut hdr = [0u8; nbss::NBSS_HEADER_LEN];
            hdr.copy_from_slice(h);
            match nbss::frame_total(hdr, limit) {
                Some(total) if at + total <= self.inbuf.len() => at += total,
                _ => break,
            }
        }
        at
    }

    // ---- inputs ----

    /// Bytes from the TCP stream, with the wall time.
    pub fn handle_bytes(&mut self, data: &[u8], now: FileTime) {
        if self.close.is_some() {
            return;
        }
        self.now = now;
        self.reserve_frame(data);
        self.inbuf.extend_from_slice(data);
        self.after_input();
    }

    /// [`Connection::handle_bytes`] for a runtime that hands its receive buffer over:
    /// taken as it is when nothing is buffered (no copy; the frames in it are split off
    /// where they lie), else appended.
    pub fn handle_buf(&mut self, data: BytesMut, now: FileTime) {
        if self.close.is_some() {
            return;
        }
        self.now = now;
        if self.inbuf.is_empty() {
            self.inbuf = data;
        } else {
            self.reserve_frame(&data);
            self.inbuf.extend_from_slice(&data);
        }
        self.after_input();
    }

    /// Before `data` is appended: room for the whole frame at the front (within the frame
    /// limit), so that a large WRITE arriving in pieces is gathered in one allocation (one
    /// copy, no regrowth).
    fn reserve_frame(&mut self, data: &[u8]) {
        let front: &[u8] = if self.inbuf.is_empty() {
            data
        } else {
            &self.inbuf
        };
        let want = nbss::frame_len(front, self.frame_limit())
            .map_or(0, |f| f.saturating_sub(self.inbuf.len()));
        self.inbuf.reserve(want.max(data.len()));
    }

    fn after_input(&mut self) {
        self.pump();
        // A peer that ignores back-pressure cannot make the buffer grow past one frame.
        if self.close.is_none() && self.inbuf.len() > self.frame_limit() + 2 * nbss::NBSS_HEADER_LEN
        {
            self.close_with(CloseReason::InputOverLimit);
        }
    }

    /// The upper layer's answer to a call.
    pub fn handle_reply(&mut self, id: CallId, reply: Reply) -> Result<(), ReplyError> {
        let cs = self.calls.remove(&id).ok_or(ReplyError::UnknownCall(id))?;
        if self.close.is_some() {
            return Ok(());
        }
        if let Some(async_id) = cs.async_id {
            self.async_count -= 1;
            self.send_async_final(&cs.ctx, async_id, reply);
            self.release_retired(cs.ctx.session_id);
        } else if let Some(mut ch) = self.chains.remove(&cs.chain) {
            let (status, buf) = reply_parts(reply);
            let file_id = match (&status, cs.ctx.header.command) {
                (_, Command::CREATE) if !status.is_error() => buf
                    .get(REPLY_HEADROOM + 64..REPLY_HEADROOM + 80)
                    .map(FileId::from_slice),
                _ => cs.file_id,
            };
            if cs.ctx.header.command == Command::CREATE && status.is_error() {
                ch.create_err = Some(status);
            }
            self.respond_buf(&mut ch, &cs.ctx, status, buf, SignHow::Auto);
            ch.prev = Prev {
                session_id: cs.ctx.session_id,
                tree_id: cs.ctx.tree_id,
                file_id,
            };
            ch.next = cs.index + 1;
            self.run_chain(cs.chain, ch);
        }
        self.pump();
        Ok(())
    }

    /// Turns a call async (MS-SMB2 §3.3.4.2): the machine sends the interim response
    /// (STATUS_PENDING with the AsyncId, granting credits) now, and the final response
    /// when the upper layer answers. Returns the AsyncId.
    pub fn go_async(&mut self, id: CallId) -> Result<u64, AsyncError> {
        let cs = self.calls.get(&id).ok_or(AsyncError::UnknownCall(id))?;
        if cs.async_id.is_some() {
            return Err(AsyncError::AlreadyAsync);
        }
        let chain_id = cs.chain;
        let index = cs.index;
        let ctx = cs.ctx.clone();
        let Some(mut ch) = self.chains.remove(&chain_id) else {
            return Err(AsyncError::UnknownCall(id));
        };
        if index + 1 != ch.parts.len() {
            self.chains.insert(chain_id, ch);
            return Err(AsyncError::NotLastInChain);
        }
        if self.async_count >= self.config.limits.max_async {
            self.chains.insert(chain_id, ch);
            return Err(AsyncError::TooMany);
        }
        let async_id = self.next_async;
        self.next_async += 1;
        self.async_count += 1;
        if let Some(cs) = self.calls.get_mut(&id) {
            cs.async_id = Some(async_id);
        }
        // §3.3.4.2: the interim response grants credits; §3.3.4.1.1: it is never signed.
        let granted = self.credits.grant(ctx.header.credits);
        let h = response_header(&ctx, NtStatus::PENDING, granted, Some(async_id));
        let mut body = Vec::with_capacity(9);
        ErrorResponse::empty().encode(&mut body);
        let mut buf = framed(&body);
        put_header(&h, &mut buf);
        self.note_encryption(&mut ch, &ctx);
        ch.out.push(OutMsg {
            buf,
            at: MSG_AT,
            sign: None,
        });
        self.finish_chain(ch);
        Ok(async_id)
    }

    /// The transport is gone (peer closed, reset, idle timeout): every session and tree
    /// ends, reported as events so the upper layer closes their opens; pending calls are
    /// forgotten (their answers are refused with [`ReplyError::UnknownCall`]).
    pub fn handle_connection_lost(&mut self) {
        let sids: Vec<u64> = self.sessions.keys().copied().collect();
        for sid in sids {
            self.drop_session(sid);
        }
        self.close_with(CloseReason::ConnectionLost);
        // The runtime already knows; nothing is to be reported back.
        self.close_reported = true;
        self.transmits.clear();
        self.seals.clear();
        self.unseals.clear();
        self.queued_bytes = 0;
    }

    /// The Capabilities of the NEGOTIATE response (Connection.ServerCapabilities,
    /// §3.3.1.7), once NEGOTIATE completed: e.g. whether directory leasing was announced.
    pub fn server_capabilities(&self) -> Option<u32> {
        self.neg.as_ref().map(|n| n.server_capabilities)
    }

    /// Connection.ClientGuid (MS-SMB2 §3.3.1.7), once NEGOTIATE completed: the key of the
    /// client's lease table (§3.3.1.5). All zeros for 2.0.2, which has no leases.
    pub fn client_guid(&self) -> Option<[u8; 16]> {
        self.neg.as_ref().map(|n| n.client_guid)
    }

    /// Sends an unsolicited break notification: an Oplock Break Notification (§2.2.23.1,
    /// [`OplockBreak::Oplock`], §3.3.4.6) or a Lease Break Notification (§2.2.23.2,
    /// [`OplockBreak::LeaseNotification`], §3.3.4.7). The header is the one §3.3.4.6/7
    /// prescribe: Command OPLOCK_BREAK, MessageId 0xFFFFFFFFFFFFFFFF, no credits, SessionId
    /// and TreeId 0, not signed (a client does not verify a message with that MessageId,
    /// §3.2.5.1.3). It is encrypted (§3.3.4.1.4) when `session` — the session of the open
    /// whose oplock or lease breaks — has Session.EncryptData or `tree` of it requires
    /// encryption, with that session's key in the transform header, as Samba does.
    ///
    /// Refused with [`BreakError`] before NEGOTIATE, once the connection is closing, for a
    /// lease break on 2.0.2 (no leases, §2.2.23.2), and for an acknowledgment layout.
    ///
    /// [`OplockBreak::Oplock`]: crate::cmd::OplockBreak::Oplock
    /// [`OplockBreak::LeaseNotification`]: crate::cmd::OplockBreak::LeaseNotification
    pub fn send_break(
        &mut self,
        notification: &crate::cmd::OplockBreak,
        session: Option<(u64, u32)>,
    ) -> Result<(), BreakError> {
        use crate::cmd::OplockBreak;
        if self.close.is_some() {
            return Err(BreakError::Closed);
        }
        let chosen = self.dialect().ok_or(BreakError::NotNegotiated)?;
        match notification {
            OplockBreak::Oplock { .. } => {}
            OplockBreak::LeaseNotification { .. } if chosen >= dialect::SMB210 => {}
            OplockBreak::LeaseNotification { .. } => return Err(BreakError::NoLeases),
            OplockBreak::LeaseAck { .. } => return Err(BreakError::NotANotification),
        }
        let header = Header {
            credit_charge: 0,
            status: NtStatus::SUCCESS,
            command: Command::OPLOCK_BREAK,
            credits: 0,
            flags: flags::SERVER_TO_REDIR,
            next_command: 0,
            message_id: u64::MAX,
            id: HeaderId::Sync {
                process_id: 0,
                tree_id: 0,
            },
            session_id: 0,
            signature: [0; 16],
        };
        let mut body = Vec::with_capacity(44);
        notification.encode(&mut body);
        let mut buf = framed(&body);
        put_header(&header, &mut buf);
        let seal = match session {
            Some((session_id, tree_id)) => {
                let ctx = Ctx {
                    header,
                    session_id,
                    tree_id,
                    signed: false,
                    no_sign: true,
                    encrypted: false,
                };
                match self.encryption_for(&ctx) {
                    Ok(e) => e,
                    Err(r) => {
                        self.close_with(r);
                        return Err(BreakError::Closed);
                    }
                }
            }
            None => None,
        };
        self.send_framed(buf, MSG_AT, seal);
        Ok(())
    }

    // ---- outputs ----

    /// The next event for the upper layer.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next bytes to write to the TCP stream (whole NBSS frames).
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        let b = self.transmits.pop_front()?;
        self.queued_bytes -= b.len();
        if self.transmits.is_empty() {
            self.pump();
        }
        Some(b)
    }

    /// Whether an event, a seal or an unseal waits to be polled (draining the transmits
    /// may have let the machine take more frames from its buffer).
    pub fn has_output(&self) -> bool {
        !self.events.is_empty() || !self.seals.is_empty() || !self.unseals.is_empty()
    }

    /// The next response to seal off the machine's thread ([`Limits::seal_offload_min`]):
    /// run [`Seal::run`] anywhere and hand the frame back with
    /// [`Connection::handle_sealed`]. Its bytes count as queued until then.
    ///
    /// [`Limits::seal_offload_min`]: super::Limits::seal_offload_min
    pub fn poll_seal(&mut self) -> Option<Seal> {
        self.seals.pop_front()
    }

    /// A frame sealed by [`Seal::run`] (of length [`Seal::frame_len`]), to send; an error
    /// closes the connection. Ignored once the connection is closing or lost.
    pub fn handle_sealed(&mut self, sealed: Result<Bytes, crate::crypto::CryptoError>) {
        if self.close.is_some() {
            return;
        }
        match sealed {
            Ok(b) => self.transmits.push_back(b),
            Err(_) => self.close_with(CloseReason::Decrypt("encryption failed")),
        }
    }

    /// The next encrypted request to decrypt off the machine's thread
    /// ([`Limits::seal_offload_min`]): run [`Unseal::run`] anywhere and hand the result
    /// back with [`Connection::handle_unsealed`].
    ///
    /// [`Limits::seal_offload_min`]: super::Limits::seal_offload_min
    pub fn poll_unseal(&mut self) -> Option<Unseal> {
        self.unseals.pop_front()
    }

    /// The result of [`Unseal::run`]: the request continues the receive pipeline (a
    /// message that is not authentic closes the connection). Ignored once the connection
    /// is closing or lost.
    pub fn handle_unsealed(&mut self, done: Unsealed, now: FileTime) {
        self.unsealing = self.unsealing.saturating_sub(1);
        if self.close.is_some() {
            return;
        }
        self.now = now;
        match done.plain {
            Ok(plain) => self.handle_plain(plain, true, done.session_id),
            Err(why) => self.close_with(CloseReason::Decrypt(why)),
        }
        self.pump();
    }

    /// Once: the connection must be closed (after writing what `poll_transmit` gave).
    pub fn poll_close(&mut self) -> Option<CloseReason> {
        if self.close_reported {
            return None;
        }
        let r = self.close.clone()?;
        self.close_reported = true;
        Some(r)
    }

    // ---- the receive pipeline ----

    pub(super) fn close_with(&mut self, reason: CloseReason) {
        if self.close.is_none() {
            self.close = Some(reason);
            self.calls.clear();
            self.async_count = 0;
            self.chains.clear();
            self.inbuf.clear();
        }
    }

    fn pump(&mut self) {
        while self.close.is_none() && self.has_capacity() {
            let limit = self.frame_limit();
            match nbss::take_frame_mut(&mut self.inbuf, limit) {
                Ok(Some((frame, _))) => self.handle_frame(frame),
                Ok(None) => break,
                Err(e) => self.close_with(e.into()),
            }
        }
    }

    fn handle_frame(&mut self, mut frame: BytesMut) {
        if crate::smb1::is_smb1(&frame) {
            self.smb1_negotiate(&frame);
            return;
        }
        if !transform::is_transform(&frame) {
            return self.handle_plain(frame.freeze(), false, 0);
        }
        if frame.len() >= self.config.limits.seal_offload_min {
            match self.unseal_of(frame) {
                Ok(u) => {
                    self.unsealing += 1;
                    self.unseals.push_back(u);
                }
                Err(r) => self.close_with(r),
            }
            return;
        }
        match self.decrypt(&mut frame) {
            Ok(sid) => self.handle_plain(frame.split_off(TRANSFORM_HEADER_LEN).freeze(), true, sid),
            Err(r) => self.close_with(r),
        }
    }

    /// The receive pipeline after decryption: compound splitting, the checks of every
    /// message, then the chain. `transform_session`: the session of the transform header
    /// the frame came in (`encrypted`).
    fn handle_plain(&mut self, frame: Bytes, encrypted: bool, transform_session: u64) {
        let parts = match split_compound(&frame, self.config.limits.max_compound) {
            Ok(p) => p,
            Err(e) if e.status().is_none() => return self.close_with(CloseReason::NotSmb2(e)),
            Err(e) => return self.close_with(CloseReason::Compound(e)),
        };
        let large_mtu = self.neg.as_ref().is_some_and(Negotiated::large_mtu);
        for p in &parts {
            let h = &p.header;
            if h.is_response() {
                return self.close_with(CloseReason::ResponseFlag);
            }
            // §3.3.5.2.1.1: every message of a decrypted frame belongs to the transform's
            // session (related ones inherit it).
            if encrypted && !h.is_related() && h.session_id != transform_session {
                return self.close_with(CloseReason::Decrypt(
                    "SessionId differs from the transform's",
                ));
            }
            // §3.3.5.2.3: all ids of the chain are consumed on arrival, so a message
            // waiting behind an upper-layer call cannot be replayed meanwhile. CANCEL
            // consumes nothing (§3.3.5.16).
            if h.command == Command::CANCEL {
                continue;
            }
            let charge = if large_mtu { h.credit_charge.max(1) } else { 1 };
            if self.credits.consume(h.message_id, charge).is_err() {
                return self.close_with(CloseReason::MessageId(h.message_id));
            }
        }
        let chain = Chain {
            parts,
            next: 0,
            out: Vec::new(),
            encrypted,
            encrypt_with: None,
            prev: Prev {
                session_id: 0,
                tree_id: 0,
                file_id: None,
            },
            create_err: None,
        };
        let id = self.next_chain;
        self.next_chain += 1;
        self.run_chain(id, chain);
    }

    /// §3.3.5.2.1.1: the transform names the session whose decryption key opens it; an
    /// unknown session is a disconnect. What decrypts `frame` elsewhere.
    fn unseal_of(&self, frame: BytesMut) -> Result<Unseal, CloseReason> {
        let (cipher, key, session_id) = self.decryption_key(&frame)?;
        Ok(Unseal {
            frame,
            cipher,
            key: key.to_vec(),
            session_id,
        })
    }

    /// The cipher, key and session that decrypt the transform message `frame`.
    fn decryption_key(&self, frame: &[u8]) -> Result<(Cipher, &[u8], u64), CloseReason> {
        let neg = self
            .neg
            .as_ref()
            .ok_or(CloseReason::Decrypt("before NEGOTIATE"))?;
        let cipher = neg
            .cipher
            .ok_or(CloseReason::Decrypt("no cipher negotiated"))?;
        let th = transform::TransformHeader::decode(frame)
            .map_err(|_| CloseReason::Decrypt("malformed transform header"))?;
        let keys = self
            .sessions
            .get(&th.session_id)
            .and_then(|s| s.keys.as_ref())
            .ok_or(CloseReason::Decrypt("unknown session"))?;
        Ok((cipher, &keys.decryption, th.session_id))
    }

    /// §3.3.5.2.1.1: the transform names the session whose decryption key opens it; an
    /// unknown session or a failed decryption is a disconnect.
    /// Decrypts the transform message `frame` where it lies (the plaintext follows the
    /// header); returns the session it names.
    fn decrypt(&mut self, frame: &mut [u8]) -> Result<u64, CloseReason> {
        let (cipher, key, session_id) = self.decryption_key(frame)?;
        transform::decrypt_in_place(cipher, key, frame)
            .map_err(|_| CloseReason::Decrypt("not authentic"))?;
        let plain = &frame[TRANSFORM_HEADER_LEN..];
        if transform::is_transform(plain) || crate::smb1::is_smb1(plain) {
            return Err(CloseReason::Decrypt("nested transform"));
        }
        Ok(session_id)
    }

    fn run_chain(&mut self, id: u64, mut ch: Chain) {
        while ch.next < ch.parts.len() {
            if self.close.is_some() {
                return;
            }
            let i = ch.next;
            match self.process(&mut ch, id, i) {
                Step::Done(prev) => {
                    ch.prev = prev;
                    ch.next += 1;
                }
                Step::Silent => ch.next += 1,
                Step::Wait => {
                    self.chains.insert(id, ch);
                    return;
                }
                Step::Close => return,
            }
        }
        self.finish_chain(ch);
    }

    /// One message of a chain, through the checks of §3.3.5.2 in order.
    fn process(&mut self, ch: &mut Chain, chain_id: u64, i: usize) -> Step {
        let part = ch.parts[i].clone();
        let h = part.header;
        let related = h.is_related() && i > 0;
        let (session_id, tree_id) = if related {
            // §3.3.5.2.7.2: a related operation uses the previous one's session and tree.
            (ch.prev.session_id, ch.prev.tree_id)
        } else {
            (h.session_id, h.tree_id().unwrap_or(0))
        };
        let mut ctx = Ctx {
            header: h,
            session_id,
            tree_id,
            signed: false,
            no_sign: false,
            encrypted: ch.encrypted,
        };
        // §3.3.5.2: before a dialect is chosen only NEGOTIATE is allowed.
        if self.state != NegState::Done && h.command != Command::NEGOTIATE {
            self.close_with(CloseReason::NegotiationState("a request before NEGOTIATE"));
            return Step::Close;
        }
        if h.command == Command::CANCEL {
            self.cancel(&ctx, &part);
            return Step::Silent;
        }
        // §3.3.5.2.7.2: the first message of a chain cannot be related; the requests
        // related to it fail alike.
        if h.is_related() && i == 0 {
            ch.create_err = Some(NtStatus::INVALID_PARAMETER);
            return self.fail(ch, &ctx, NtStatus::INVALID_PARAMETER);
        }
        if !related {
            ch.create_err = None;
        } else if let Some(e) = ch.create_err {
            return self.fail(ch, &ctx, e);
        }
        if h.command == Command::NEGOTIATE {
            return self.negotiate(ch, &ctx, &part);
        }
        // No session of that id: STATUS_USER_SESSION_DELETED (§3.3.5.2.9); for a related
        // request, whose session is the previous operation's (§3.3.5.2.7.2), the previous
        // one had none: STATUS_INVALID_PARAMETER, as Windows and Samba answer (smbtorture
        // smb2.compound.invalid2).
        let no_session = if related {
            NtStatus::INVALID_PARAMETER
        } else {
            NtStatus::USER_SESSION_DELETED
        };
        // §3.3.5.2.4: verify the signature of a signed, unencrypted request.
        if h.is_signed() && !ch.encrypted {
            let Some(s) = self.sessions.get(&session_id) else {
                return self.fail(ch, &ctx, no_session);
            };
            let alg = self
                .neg
                .as_ref()
                .map_or(SigningAlgorithm::AesCmac, |n| n.signing);
            let ok = s
                .keys
                .as_ref()
                .is_some_and(|k| signing::verify(alg, &k.signing, &part.msg));
            if !ok {
                ctx.no_sign = true;
                return self.fail(ch, &ctx, NtStatus::ACCESS_DENIED);
            }
            ctx.signed = true;
        }
        if h.command == Command::SESSION_SETUP {
            return self.session_setup(ch, &ctx, &part);
        }
        if h.command == Command::ECHO && session_id == 0 {
            // ECHO needs no session (Windows and Samba answer it on any negotiated
            // connection).
            return self.echo(ch, &ctx, &part);
        }
        // §3.3.5.2.9: the session.
        let Some(s) = self.sessions.get(&session_id) else {
            return self.fail(ch, &ctx, no_session);
        };
        if !s.valid {
            // §3.3.5.2.9: a session still authenticating may only be logged off (CLOSE
            // and LOCK need opens, which it cannot have); anything else gets an
            // implementation-specific error, ACCESS_DENIED as in Samba.
            if h.command == Command::LOGOFF {
                return self.logoff(ch, &ctx);
            }
            return self.fail(ch, &ctx, NtStatus::ACCESS_DENIED);
        }
        // §3.3.5.2.4: a session that requires signing refuses unsigned requests.
        if s.signing_required && !ctx.signed && !ch.encrypted {
            ctx.no_sign = true;
            return self.fail(ch, &ctx, NtStatus::ACCESS_DENIED);
        }
        // §3.3.5.2.9: Session.EncryptData refuses unencrypted requests.
        if s.encrypt_data && !ch.encrypted {
            return self.fail(ch, &ctx, NtStatus::ACCESS_DENIED);
        }
        let identity = s.identity.clone();
        let is_311 = self.dialect() == Some(dialect::SMB311);
        let mut req = match Request::decode(h.command, &part.msg, is_311) {
            Ok(r) => r,
            Err(e) => {
                return self.fail(ch, &ctx, e.status().unwrap_or(NtStatus::INVALID_PARAMETER))
            }
        };
        if let Err(st) = self.check_sizes(&h, &req) {
            return self.fail(ch, &ctx, st);
        }
        match h.command {
            Command::LOGOFF => return self.logoff(ch, &ctx),
            Command::ECHO => return self.echo(ch, &ctx, &part),
            Command::TREE_CONNECT => {
                let Request::TreeConnect(tc) = req else {
                    return self.fail(ch, &ctx, NtStatus::INVALID_PARAMETER);
                };
                return self.tree_connect(ch, &ctx, &tc);
            }
            _ => {}
        }
        // §3.3.5.2.11: the tree connect.
        let Some(tree) = self
            .sessions
            .get(&session_id)
            .and_then(|s| s.trees.get(&tree_id))
            .cloned()
        else {
            return self.fail(ch, &ctx, NtStatus::NETWORK_NAME_DELETED);
        };
        if tree.encrypt && !ch.encrypted {
            return self.fail(ch, &ctx, NtStatus::ACCESS_DENIED);
        }
        if tree.signing_required && !ctx.signed && !ch.encrypted {
            ctx.no_sign = true;
            return self.fail(ch, &ctx, NtStatus::ACCESS_DENIED);
        }
        if h.command == Command::TREE_DISCONNECT {
            return self.tree_disconnect(ch, &ctx);
        }
        if let Request::Ioctl(io) = &req {
            if io.ctl_code == crate::cmd::ioctl::ctl_code::VALIDATE_NEGOTIATE_INFO {
                return self.validate_negotiate(ch, &ctx, io);
            }
        }
        // §3.3.5.2.7.2: a related operation's all-ones FileId is the previous one's; if
        // the previous operation failed, this one fails with the same status.
        let mut file_id = file_id_of(&req);
        if related && file_id == Some(FileId::RELATED) {
            let Some(prev) = ch.prev.file_id else {
                return self.fail(ch, &ctx, NtStatus::FILE_CLOSED);
            };
            set_file_id(&mut req, prev);
            file_id = Some(prev);
        }
        let Some(identity) = identity else {
            return self.fail(ch, &ctx, NtStatus::ACCESS_DENIED);
        };
        let id = CallId(self.next_call);
        self.next_call += 1;
        let call = Call {
            id,
            request: req,
            header: h,
            session_id,
            identity,
            tree_id,
            share: tree.share.clone(),
            dialect: self.dialect().unwrap_or(0),
            credit_charge: h.credit_charge,
            signed: ctx.signed,
            encrypted: ch.encrypted,
            compound: CompoundPosition {
                index: i,
                count: ch.parts.len(),
                related,
            },
        };
        self.calls.insert(
            id,
            CallState {
                chain: chain_id,
                index: i,
                ctx,
                file_id,
                async_id: None,
                cancelled: false,
            },
        );
        self.events.push_back(Event::Call(Box::new(call)));
        Step::Wait
    }

    /// §3.3.5.2.5 and the size rules of READ (§3.3.5.12), WRITE (§3.3.5.13) and the
    /// QUERY/IOCTL commands: the CreditCharge covers the payload (multi-credit
    /// connections) and no request asks for more than the negotiated maximum.
    fn check_sizes(&self, h: &Header, req: &Request) -> Result<(), NtStatus> {
        let Some(neg) = self.neg.as_ref() else {
            return Ok(());
        };
        let c = &self.config;
        let (payload, max) = match req {
            Request::Read(r) => (r.length as usize, c.max_read_size),
            Request::Write(w) => (w.data.len(), c.max_write_size),
            Request::QueryDirectory(q) => (q.output_buffer_length as usize, c.max_transact_size),
            Request::ChangeNotify(n) => (n.output_buffer_length as usize, c.max_transact_size),
            Request::QueryInfo(q) => (
                (q.output_buffer_length as usize).max(q.input.len()),
                c.max_transact_size,
            ),
            Request::SetInfo(s) => (s.buffer.len(), c.max_transact_size),
            Request::Ioctl(io) => (
                (io.max_output_response as usize).max(io.input.len()),
                c.max_transact_size,
            ),
            _ => (0, u32::MAX),
        };
        let max = if neg.large_mtu() { max } else { max.min(65536) };
        if payload > max as usize {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        if neg.large_mtu() && check_charge(h.credit_charge, payload).is_err() {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        Ok(())
    }

    /// CANCEL (§3.3.5.16): find the request by AsyncId or MessageId and tell the upper
    /// layer; CANCEL itself gets no response. A CANCEL whose signature does not verify is
    /// dropped.
    fn cancel(&mut self, ctx: &Ctx, part: &CompoundPart) {
        let h = &ctx.header;
        if h.is_signed() && !ctx.encrypted {
            let alg = self
                .neg
                .as_ref()
                .map_or(SigningAlgorithm::AesCmac, |n| n.signing);
            let ok = self
                .sessions
                .get(&h.session_id)
                .and_then(|s| s.keys.as_ref())
                .is_some_and(|k| signing::verify(alg, &k.signing, &part.msg));
            if !ok {
                return;
            }
        }
        let target = match h.id {
            HeaderId::Async { async_id } => self
                .calls
                .iter_mut()
                .find(|(_, c)| c.async_id == Some(async_id) && c.ctx.session_id == h.session_id),
            // §3.3.5.16: a sync CANCEL names the request by MessageId, also when it went
            // async meanwhile (the client sent the CANCEL before the interim response
            // reached it).
            HeaderId::Sync { .. } => self.calls.iter_mut().find(|(_, c)| {
                c.ctx.header.message_id == h.message_id && c.ctx.session_id == h.session_id
            }),
        };
        if let Some((id, c)) = target {
            if !c.cancelled {
                c.cancelled = true;
                self.events.push_back(Event::Cancel(*id));
            }
        }
    }

    // ---- the send path ----

    /// Queues an ERROR response and ends the message.
    pub(super) fn fail(&mut self, ch: &mut Chain, ctx: &Ctx, status: NtStatus) -> Step {
        if ctx.header.command == Command::CREATE && status.is_error() {
            ch.create_err = Some(status);
        }
        let mut body = Vec::with_capacity(9);
        ErrorResponse::empty().encode(&mut body);
        self.respond(ch, ctx, status, &body, SignHow::Auto);
        Step::Done(Prev {
            session_id: ctx.session_id,
            tree_id: ctx.tree_id,
            file_id: None,
        })
    }

    /// Builds a response to `ctx`'s request with `body`, granting credits, and queues it
    /// in the chain with its signing decision (§3.3.4.1.1). Returns the message as queued
    /// (unsigned), which the 3.1.1 preauth chain needs.
    pub(super) fn respond<'c>(
        &mut self,
        ch: &'c mut Chain,
        ctx: &Ctx,
        status: NtStatus,
        body: &[u8],
        how: SignHow,
    ) -> &'c [u8] {
        self.respond_buf(ch, ctx, status, framed(body), how)
    }

    /// [`Self::respond`] with the body in `buf` after [`REPLY_HEADROOM`] bytes of room,
    /// where the header is written (no copy of the body).
    fn respond_buf<'c>(
        &mut self,
        ch: &'c mut Chain,
        ctx: &Ctx,
        status: NtStatus,
        mut buf: Vec<u8>,
        how: SignHow,
    ) -> &'c [u8] {
        let granted = self.credits.grant(ctx.header.credits);
        let h = response_header(ctx, status, granted, None);
        put_header(&h, &mut buf);
        if self.lost_encryption(ctx) {
            return &[];
        }
        let sign = self.sign_key(ctx, how);
        if ctx.header.command != Command::SESSION_SETUP && ctx.header.command != Command::NEGOTIATE
        {
            self.note_encryption(ch, ctx);
        }
        ch.out.push(OutMsg {
            buf,
            at: MSG_AT,
            sign,
        });
        ch.out.last().map_or(&[], OutMsg::msg)
    }

    /// An encrypted request whose session ended (LOGOFF) before its answer: the answer
    /// cannot be encrypted any more and is dropped rather than sent in the clear.
    fn lost_encryption(&self, ctx: &Ctx) -> bool {
        ctx.encrypted && self.session_or_retired(ctx.session_id).is_none()
    }

    /// The session `sid`, or the ended one kept for its async calls' answers.
    fn session_or_retired(&self, sid: u64) -> Option<&Session> {
        self.sessions.get(&sid).or_else(|| self.retired.get(&sid))
    }

    /// Drops the ended session `sid` once no async call of it waits for its answer.
    fn release_retired(&mut self, sid: u64) {
        if self.retired.contains_key(&sid)
            && !self
                .calls
                .values()
                .any(|c| c.async_id.is_some() && c.ctx.session_id == sid)
        {
            self.retired.remove(&sid);
        }
    }

    /// The key a response is signed with, if it is signed (§3.3.4.1.1): the request was
    /// signed and verified, or the session requires signing; never for guest sessions
    /// (no key), NEGOTIATE, interim responses or answers to a bad signature.
    fn sign_key(&self, ctx: &Ctx, how: SignHow) -> Option<(SigningAlgorithm, [u8; 16])> {
        if how == SignHow::Never || ctx.no_sign || ctx.session_id == 0 {
            return None;
        }
        let s = self.session_or_retired(ctx.session_id)?;
        let keys = s.keys.as_ref()?;
        let alg = self.neg.as_ref()?.signing;
        let tree_requires = s
            .trees
            .get(&ctx.tree_id)
            .is_some_and(|t| t.signing_required);
        let sign = match how {
            SignHow::Always => true,
            _ => s.valid && (ctx.signed || s.signing_required || tree_requires),
        };
        sign.then_some((alg, keys.signing))
    }

    /// Whether the response must be encrypted (§3.3.4.1.4): the request was, or the
    /// session or tree requires it. The key and a fresh nonce are taken now, so a
    /// LOGOFF that removes the session still gets its answer encrypted.
    fn note_encryption(&mut self, ch: &mut Chain, ctx: &Ctx) {
        if ch.encrypt_with.is_some() {
            return;
        }
        match self.encryption_for(ctx) {
            Ok(e) => ch.encrypt_with = e,
            Err(r) => self.close_with(r),
        }
    }

    fn encryption_for(&mut self, ctx: &Ctx) -> Result<Option<Sealer>, CloseReason> {
        let Some(cipher) = self.neg.as_ref().and_then(|n| n.cipher) else {
            return Ok(None);
        };
        let s = match self.sessions.get_mut(&ctx.session_id) {
            Some(s) => s,
            None => match self.retired.get_mut(&ctx.session_id) {
                Some(s) => s,
                None => return Ok(None),
            },
        };
        let Some(keys) = s.keys.as_ref() else {
            return Ok(None);
        };
        // A TREE_CONNECT's answer is encrypted as its request was: the tree it creates
        // governs the requests that follow (§3.3.5.7).
        let tree = ctx.header.command != Command::TREE_CONNECT
            && s.trees.get(&ctx.tree_id).is_some_and(|t| t.encrypt);
        if !(ctx.encrypted || (s.valid && s.encrypt_data) || tree) {
            return Ok(None);
        }
        // Nonce: an 8-byte counter then the session's random prefix (§3.1.4.3: a nonce
        // never repeats under one key).
        s.nonce_counter = s
            .nonce_counter
            .checked_add(1)
            .ok_or(CloseReason::NonceExhausted)?;
        let mut nonce = [0u8; 16];
        nonce[..8].copy_from_slice(&s.nonce_counter.to_le_bytes());
        nonce[8..].copy_from_slice(&s.nonce_high);
        Ok(Some(Sealer {
            cipher,
            key: keys.encryption.clone(),
            nonce,
            session_id: ctx.session_id,
        }))
    }

    /// Assembles the chain's responses into one frame: each message padded to 8 bytes
    /// and linked by NextCommand (§3.3.4.1.3), each signed over its padded range, the
    /// whole encrypted when a message required it (§3.3.4.1.4).
    fn finish_chain(&mut self, ch: Chain) {
        if ch.out.is_empty() {
            return;
        }
        if ch.out.len() == 1 {
            // A lone response: signed in place, no chain to build.
            let mut out = ch.out;
            let mut m = out.remove(0);
            if ch.encrypt_with.is_none() {
                if let Some((alg, key)) = &m.sign {
                    let _ = signing::sign(*alg, key, &mut m.buf[m.at..]);
                }
            }
            return self.send_framed(m.buf, m.at, ch.encrypt_with);
        }
        let mut w = CompoundWriter::new();
        for m in &ch.out {
            w.push(m.msg());
        }
        let ranges = w.ranges().to_vec();
        if ch.encrypt_with.is_none() {
            for (m, r) in ch.out.iter().zip(ranges) {
                if let Some((alg, key)) = &m.sign {
                    // The message is at least a header long, so signing cannot fail.
                    let _ = signing::sign(*alg, key, &mut w.bytes_mut()[r]);
                }
            }
        }
        let payload = w.finish();
        let mut buf = Vec::with_capacity(MSG_AT + payload.len());
        buf.resize(MSG_AT, 0);
        buf.extend_from_slice(&payload);
        self.send_framed(buf, MSG_AT, ch.encrypt_with);
    }

    /// Sends the payload `buf[at..]` (one message or a chain), encrypted with `seal` if
    /// given: the transform and NBSS headers go into the room before `at`, which must be
    /// [`MSG_AT`] bytes (the payload is copied when it is not).
    fn send_framed(&mut self, mut buf: Vec<u8>, mut at: usize, seal: Option<Sealer>) {
        if at < MSG_AT {
            let mut b = Vec::with_capacity(MSG_AT + buf.len() - at);
            b.resize(MSG_AT, 0);
            b.extend_from_slice(&buf[at..]);
            (buf, at) = (b, MSG_AT);
        }
        let frame = match seal {
            None => nbss_frame(buf, at),
            Some(sealer) if buf.len() - at >= self.config.limits.seal_offload_min => {
                let s = Seal { buf, at, sealer };
                self.queued_bytes += s.frame_len();
                self.seals.push_back(s);
                return;
            }
            Some(e) => match seal_frame(buf, at, &e) {
                Ok(f) => f,
                Err(_) => return self.close_with(CloseReason::Decrypt("encryption failed")),
            },
        };
        self.queued_bytes += frame.len();
        self.transmits.push_back(frame);
    }

    /// The final response of an async call: the async header form, no credits (they
    /// were granted with the interim response, §3.3.4.2), signed and encrypted as any
    /// response.
    fn send_async_final(&mut self, ctx: &Ctx, async_id: u64, reply: Reply) {
        if self.lost_encryption(ctx) {
            return;
        }
        let (status, mut buf) = reply_parts(reply);
        let h = response_header(ctx, status, 0, Some(async_id));
        put_header(&h, &mut buf);
        let enc = match self.encryption_for(ctx) {
            Ok(e) => e,
            Err(r) => return self.close_with(r),
        };
        if enc.is_none() {
            if let Some((alg, key)) = self.sign_key(ctx, SignHow::Auto) {
                let _ = signing::sign(alg, &key, &mut buf[MSG_AT..]);
            }
        }
        self.send_framed(buf, MSG_AT, enc);
    }

    /// Sends a message outside any chain (the SMB1 negotiate answer).
    pub(super) fn send_plain(&mut self, msg: Vec<u8>) {
        self.send_framed(msg, 0, None);
    }

    /// Closes the trees of a session and the session itself, telling the upper layer.
    pub(super) fn drop_session(&mut self, sid: u64) {
        if let Some(s) = self.sessions.remove(&sid) {
            for tid in s.trees.keys() {
                self.events.push_back(Event::TreeClosed {
                    session_id: sid,
                    tree_id: *tid,
                });
            }
            if s.valid {
                self.events
                    .push_back(Event::SessionClosed { session_id: sid });
            }
            if self
                .calls
                .values()
                .any(|c| c.async_id.is_some() && c.ctx.session_id == sid)
            {
                self.retired.insert(sid, s);
            }
        }
    }
}

/// The status of `reply` and its body in a buffer after [`REPLY_HEADROOM`] bytes of room.
fn reply_parts(reply: Reply) -> (NtStatus, Vec<u8>) {
    match reply {
        Reply::Body { status, body } => (status, framed(&body)),
        Reply::Framed { status, buf } if buf.len() >= REPLY_HEADROOM => (status, buf),
        // Too short to hold the room: an empty body.
        Reply::Framed { status, .. } => (status, framed(&[])),
        Reply::Error { status, error } => {
            let mut b = Vec::new();
            error.encode(&mut b);
            (status, framed(&b))
        }
    }
}

/// The header of a response to `ctx`'s request (§3.3.4.1): the request's MessageId,
/// CreditCharge and related flag, the session and tree in force.
fn response_header(ctx: &Ctx, status: NtStatus, granted: u16, async_id: Option<u64>) -> Header {
    let h = &ctx.header;
    let id = match async_id {
        Some(async_id) => HeaderId::Async { async_id },
        None => HeaderId::Sync {
            process_id: match h.id {
                HeaderId::Sync { process_id, .. } => process_id,
                HeaderId::Async { .. } => 0,
            },
            tree_id: ctx.tree_id,
        },
    };
    Header {
        credit_charge: h.credit_charge,
        status,
        command: h.command,
        credits: granted,
        flags: flags::SERVER_TO_REDIR | (h.flags & flags::RELATED_OPERATIONS),
        next_command: 0,
        message_id: h.message_id,
        id,
        session_id: ctx.session_id,
        signature: [0; 16],
    }
}

/// The FileId a request names, if its command has one.
fn file_id_of(req: &Request) -> Option<FileId> {
    Some(match req {
        Request::Close(r) => r.file_id,
        Request::Flush(r) => r.file_id,
        Request::Read(r) => r.file_id,
        Request::Write(r) => r.file_id,
        Request::Lock(r) => r.file_id,
        Request::Ioctl(r) => r.file_id,
        Request::QueryDirectory(r) => r.file_id,
        Request::ChangeNotify(r) => r.file_id,
        Request::QueryInfo(r) => r.file_id,
        Request::SetInfo(r) => r.file_id,
        _ => return None,
    })
}

fn set_file_id(req: &mut Request, f: FileId) {
    match req {
        Request::Close(r) => r.file_id = f,
        Request::Flush(r) => r.file_id = f,
        Request::Read(r) => r.file_id = f,
        Request::Write(r) => r.file_id = f,
        Request::Lock(r) => r.file_id = f,
        Request::Ioctl(r) => r.file_id = f,
        Request::QueryDirectory(r) => r.file_id = f,
        Request::ChangeNotify(r) => r.file_id = f,
        Request::QueryInfo(r) => r.file_id = f,
        Request::SetInfo(r) => r.file_id = f,
        _ => {}
    }
}
