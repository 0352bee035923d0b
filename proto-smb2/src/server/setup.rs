//! The commands the connection machine answers itself: the SMB1 negotiate upgrade,
//! NEGOTIATE, SESSION_SETUP, LOGOFF, ECHO, TREE_CONNECT, TREE_DISCONNECT and
//! FSCTL_VALIDATE_NEGOTIATE_INFO (MS-SMB2 §3.3.5.3–§3.3.5.10, §3.3.5.15.12).

use super::config::{EncryptPolicy, ShareKind};
use super::connection::{
    Auth, AuthStage, Chain, Connection, Ctx, NegState, Negotiated, Prev, Session, SignHow, Step,
    Tree,
};
use super::{CloseReason, Identity};
use crate::auth::ntlm::{
    self, AuthenticateMessage, ChallengeMessage, ChallengeParams, NegotiateMessage, NtlmError,
    SessionSecurity, NTLMSSP_SIGNATURE,
};
use crate::auth::spnego::{self, NegState as SpnegoState, NegToken, NegTokenResp, OID_NTLMSSP};
use crate::cmd::ioctl::{ctl_code, IoctlRequest, IoctlResponse};
use crate::cmd::negotiate::{
    capabilities, cipher, context_type, dialect, security_mode, NegotiateContext, HASH_SHA512,
};
use crate::cmd::session_setup::{request_flags, session_flags};
use crate::cmd::tree_connect::{share_flags, share_type};
use crate::cmd::{
    EchoResponse, LogoffResponse, NegotiateRequest, NegotiateResponse, SessionSetupRequest,
    SessionSetupResponse, TreeConnectRequest, TreeConnectResponse, TreeDisconnectResponse,
    ValidateNegotiateInfoRequest, ValidateNegotiateInfoResponse,
};
use crate::compound::CompoundPart;
use crate::crypto::kdf::derive_server_keys;
use crate::crypto::signing::SigningAlgorithm;
use crate::crypto::transform::Cipher;
use crate::header::{flags, Command, Header, HeaderId};
use crate::smb1::Smb1Negotiate;
use crate::status::NtStatus;
use std::sync::Arc;

/// STATUS_SMB_NO_PREAUTH_INTEGRITY_HASH_OVERLAP (§3.3.5.4).
const NO_PREAUTH_OVERLAP: NtStatus = NtStatus(0xC05D_0000);
/// SMB2_SHAREFLAG_NO_CACHING: named pipes are not cached (§2.2.10).
const NO_CACHING: u32 = 0x0000_0030;
/// MaximalAccess of a writable share: FILE_ALL_ACCESS (MS-DTYP §2.4.3).
const ACCESS_ALL: u32 = 0x001F_01FF;
/// MaximalAccess of a read-only share: FILE_GENERIC_READ | FILE_GENERIC_EXECUTE.
const ACCESS_READ: u32 = 0x0012_00A9;

impl Connection {
    fn security_mode(&self) -> u16 {
        security_mode::SIGNING_ENABLED
            | if self.config.signing_required {
                security_mode::SIGNING_REQUIRED
            } else {
                0
            }
    }

    /// Whether the client can encrypt: a 3.x dialect with a cipher agreed.
    pub(super) fn client_can_encrypt(&self) -> bool {
        self.neg
            .as_ref()
            .is_some_and(|n| n.dialect >= dialect::SMB300 && n.cipher.is_some())
    }

    fn negotiate_response(
        &mut self,
        chosen: u16,
        client_caps: u32,
        contexts: Vec<NegotiateContext>,
    ) -> NegotiateResponse {
        let mut caps = 0;
        if chosen >= dialect::SMB210 {
            // §3.3.5.4: leasing from 2.1 on.
            caps |= capabilities::LARGE_MTU | capabilities::LEASING;
        }
        // Directory leasing on 3.x (the lock table grants a directory R and H, never W,
        // §3.3.5.9.11), announced only to a client that offers it, as the capabilities of
        // §3.3.5.4 that a client opts into are: impacket 0.13, which does not, mishandles
        // CREATEs at the share root once the server announces it.
        if chosen >= dialect::SMB300 && client_caps & capabilities::DIRECTORY_LEASING != 0 {
            caps |= capabilities::DIRECTORY_LEASING;
        }
        if (chosen == dialect::SMB300 || chosen == dialect::SMB302)
            && client_caps & capabilities::ENCRYPTION != 0
            && self.config.ciphers.contains(&cipher::AES128_CCM)
        {
            caps |= capabilities::ENCRYPTION;
        }
        let small = chosen == dialect::SMB202 || chosen == dialect::SMB2_WILDCARD;
        let cap = |v: u32| if small { v.min(65536) } else { v };
        NegotiateResponse {
            security_mode: self.security_mode(),
            dialect: chosen,
            server_guid: self.config.server_guid,
            capabilities: caps,
            max_transact_size: cap(self.config.max_transact_size),
            max_read_size: cap(self.config.max_read_size),
            max_write_size: cap(self.config.max_write_size),
            system_time: self.now,
            server_start_time: 0,
            security_buffer: spnego::server_init_token(),
            contexts,
        }
    }

    /// An SMB1 SMB_COM_NEGOTIATE (§3.3.5.3.1): answered with an SMB2 NEGOTIATE response,
    /// 2.??? (the client then sends an SMB2 NEGOTIATE) or 2.0.2 (negotiation done).
    pub(super) fn smb1_negotiate(&mut self, frame: &[u8]) {
        if self.state != NegState::Initial {
            return self.close_with(CloseReason::NegotiationState("an SMB1 message"));
        }
        let req = match Smb1Negotiate::decode(frame) {
            Ok(r) => r,
            Err(e) => return self.close_with(CloseReason::NotSmb2(e)),
        };
        let has = |s: &[u8]| req.dialects.iter().any(|d| d == s);
        let allowed = |d: u16| self.config.dialects.contains(&d);
        let chosen =
            if has(b"SMB 2.???") && self.config.dialects.iter().any(|d| *d >= dialect::SMB210) {
                dialect::SMB2_WILDCARD
            } else if has(b"SMB 2.002") && allowed(dialect::SMB202) {
                dialect::SMB202
            } else {
                return self.close_with(CloseReason::NoSmb2Dialect);
            };
        // The SMB1 request used message id 0; the SMB2 NEGOTIATE that follows uses 1.
        if self.credits.consume(0, 1).is_err() {
            return self.close_with(CloseReason::MessageId(0));
        }
        let resp = self.negotiate_response(chosen, 0, Vec::new());
        let granted = self.credits.grant(1);
        let h = Header {
            credit_charge: 0,
            status: NtStatus::SUCCESS,
            command: Command::NEGOTIATE,
            credits: granted,
            flags: flags::SERVER_TO_REDIR,
            next_command: 0,
            message_id: 0,
            id: HeaderId::Sync {
                process_id: 0,
                tree_id: 0,
            },
            session_id: 0,
            signature: [0; 16],
        };
        let mut msg = Vec::new();
        h.encode(&mut msg);
        resp.encode(&mut msg);
        if chosen == dialect::SMB202 {
            self.neg = Some(Negotiated {
                dialect: chosen,
                client_guid: [0; 16],
                client_security_mode: 0,
                client_capabilities: 0,
                client_dialects: vec![dialect::SMB202],
                server_capabilities: resp.capabilities,
                server_security_mode: resp.security_mode,
                cipher: None,
                signing: SigningAlgorithm::HmacSha256,
            });
            self.state = NegState::Done;
        } else {
            self.state = NegState::Wildcard;
        }
        self.send_plain(msg);
    }

    /// NEGOTIATE (§3.3.5.4).
    pub(super) fn negotiate(&mut self, ch: &mut Chain, ctx: &Ctx, part: &CompoundPart) -> Step {
        if self.state == NegState::Done {
            self.close_with(CloseReason::NegotiationState("a second NEGOTIATE"));
            return Step::Close;
        }
        // §3.3.5.2.4: a signed NEGOTIATE is STATUS_INVALID_PARAMETER.
        if ctx.header.is_signed() {
            return self.fail(ch, ctx, NtStatus::INVALID_PARAMETER);
        }
        let req = match NegotiateRequest::decode(&part.msg) {
            Ok(r) => r,
            Err(e) => return self.fail(ch, ctx, e.status().unwrap_or(NtStatus::INVALID_PARAMETER)),
        };
        let Some(chosen) = self
            .config
            .dialects
            .iter()
            .copied()
            .filter(|d| req.dialects.contains(d))
            .max()
        else {
            return self.fail(ch, ctx, NtStatus::NOT_SUPPORTED);
        };
        let mut contexts = Vec::new();
        let mut chosen_cipher = None;
        let mut signing_alg = SigningAlgorithm::for_dialect(chosen);
        if chosen == dialect::SMB311 {
            let count = |t: u16| {
                req.contexts
                    .iter()
                    .filter(|c| c.context_type() == t)
                    .count()
            };
            if count(context_type::PREAUTH_INTEGRITY) != 1
                || count(context_type::ENCRYPTION) > 1
                || count(context_type::SIGNING) > 1
            {
                return self.fail(ch, ctx, NtStatus::INVALID_PARAMETER);
            }
            let mut enc_offered = false;
            let mut sign_offered = false;
            let mut sign_choice = None;
            for c in &req.contexts {
                match c {
                    NegotiateContext::PreauthIntegrity {
                        hash_algorithms, ..
                    } => {
                        if !hash_algorithms.contains(&HASH_SHA512) {
                            return self.fail(ch, ctx, NO_PREAUTH_OVERLAP);
                        }
                    }
                    NegotiateContext::Encryption { ciphers } => {
                        enc_offered = true;
                        // The client's order of preference among the ciphers allowed.
                        chosen_cipher = ciphers
                            .iter()
                            .copied()
                            .find(|c| self.config.ciphers.contains(c));
                    }
                    NegotiateContext::Signing { algorithms } => {
                        sign_offered = true;
                        sign_choice = algorithms
                            .iter()
                            .copied()
                            .find(|a| self.config.signing_algorithms.contains(a));
                    }
                    NegotiateContext::Other { .. } => {}
                }
            }
            let salt = self.rng.bytes::<32>().to_vec();
            contexts.push(NegotiateContext::PreauthIntegrity {
                hash_algorithms: vec![HASH_SHA512],
                salt,
            });
            if enc_offered {
                // §3.3.5.4: no common cipher is answered with cipher 0.
                contexts.push(NegotiateContext::Encryption {
                    ciphers: vec![chosen_cipher.unwrap_or(0)],
                });
            }
            if sign_offered {
                let alg = sign_choice.unwrap_or(crate::cmd::negotiate::signing_algorithm::AES_CMAC);
                signing_alg = SigningAlgorithm::from_id(alg).unwrap_or(SigningAlgorithm::AesCmac);
                contexts.push(NegotiateContext::Signing {
                    algorithms: vec![alg],
                });
            }
        }
        let resp = self.negotiate_response(chosen, req.capabilities, contexts);
        if (chosen == dialect::SMB300 || chosen == dialect::SMB302)
            && resp.capabilities & capabilities::ENCRYPTION != 0
        {
            chosen_cipher = Some(cipher::AES128_CCM);
        }
        let mut body = Vec::new();
        resp.encode(&mut body);
        let sent = self
            .respond(ch, ctx, NtStatus::SUCCESS, &body, SignHow::Never)
            .to_vec();
        if chosen == dialect::SMB311 {
            // §3.3.5.4: the connection's preauth hash covers this request and response.
            self.preauth.update(&part.msg);
            self.preauth.update(&sent);
        }
        self.neg = Some(Negotiated {
            dialect: chosen,
            client_guid: req.client_guid,
            client_security_mode: req.security_mode,
            client_capabilities: req.capabilities,
            client_dialects: req.dialects.clone(),
            server_capabilities: resp.capabilities,
            server_security_mode: resp.security_mode,
            cipher: chosen_cipher.and_then(|c| Cipher::from_id(c).ok()),
            signing: signing_alg,
        });
        self.state = NegState::Done;
        Step::Done(done(ctx))
    }

    /// SESSION_SETUP (§3.3.5.5): SPNEGO around NTLMSSP, NTLMv2 only.
    pub(super) fn session_setup(&mut self, ch: &mut Chain, ctx: &Ctx, part: &CompoundPart) -> Step {
        let req = match SessionSetupRequest::decode(&part.msg) {
            Ok(r) => r,
            Err(e) => return self.fail(ch, ctx, e.status().unwrap_or(NtStatus::INVALID_PARAMETER)),
        };
        let dialect = self.dialect().unwrap_or(0);
        // §3.3.5.5: binding a session to a second channel needs multichannel, which this
        // server does not advertise.
        if req.flags & request_flags::BINDING != 0 && dialect >= dialect::SMB300 {
            return self.fail(ch, ctx, NtStatus::REQUEST_NOT_ACCEPTED);
        }
        let mut ctx = ctx.clone();
        if ctx.session_id == 0 {
            let l = self.config.limits;
            let pending = self.sessions.values().filter(|s| !s.valid).count();
            if self.sessions.len() >= l.max_sessions || pending >= l.max_pending_auth {
                return self.fail(ch, &ctx, NtStatus::INSUFFICIENT_RESOURCES);
            }
            let sid = loop {
                let v = self.rng.u64();
                if v != 0 && v != u64::MAX && !self.sessions.contains_key(&v) {
                    break v;
                }
            };
            let nonce_high = self.rng.bytes::<8>();
            let mut s = Session::new(self.preauth, nonce_high);
            s.auth = Some(new_auth());
            self.sessions.insert(sid, s);
            ctx.session_id = sid;
        }
        let sid = ctx.session_id;
        let Some(s) = self.sessions.get_mut(&sid) else {
            return self.fail(ch, &ctx, NtStatus::USER_SESSION_DELETED);
        };
        if s.auth.is_none() {
            // Reauthentication of a valid session (§3.3.5.5.2): the session keeps serving
            // with its keys while the new exchange runs.
            s.auth = Some(new_auth());
        }
        let reauth = s.valid;
        if dialect == dialect::SMB311 && !reauth {
            s.preauth.update(&part.msg);
        }
        let Some(mut auth) = s.auth.take() else {
            return self.fail(ch, &ctx, NtStatus::INVALID_PARAMETER);
        };
        let token = req.security_buffer.as_slice();
        // Which NTLMSSP message the client sent, and in which wrapping.
        let (ntlm_token, client_mic) = if token.starts_with(NTLMSSP_SIGNATURE) {
            auth.spnego = false;
            (Some(token.to_vec()), None)
        } else {
            match spnego::decode_token(token) {
                Ok(NegToken::Init(init)) => {
                    if !init.mech_types.iter().any(|m| m == OID_NTLMSSP) {
                        return self.auth_failed(ch, &ctx, NtStatus::LOGON_FAILURE);
                    }
                    auth.mech_list = Some(init.mech_type_list_der());
                    if init.mech_types.first().map(Vec::as_slice) == Some(OID_NTLMSSP) {
                        (init.mech_token, init.mech_list_mic)
                    } else {
                        // RFC 4178 §5: the preferred mechanism is not ours; propose
                        // NTLMSSP and wait for its first token.
                        (None, None)
                    }
                }
                Ok(NegToken::Resp(r)) => (r.response_token, r.mech_list_mic),
                Err(e) => {
                    return self.auth_failed(
                        ch,
                        &ctx,
                        e.status().unwrap_or(NtStatus::INVALID_PARAMETER),
                    )
                }
            }
        };
        let Some(ntlm_token) = ntlm_token else {
            if !matches!(auth.stage, AuthStage::AwaitNegotiate) {
                return self.auth_failed(ch, &ctx, NtStatus::INVALID_PARAMETER);
            }
            let answer = NegTokenResp {
                neg_state: Some(SpnegoState::AcceptIncomplete),
                supported_mech: Some(OID_NTLMSSP.to_vec()),
                response_token: None,
                mech_list_mic: None,
            };
            return self.more_processing(ch, &ctx, auth, answer.encode(), reauth);
        };
        match auth.stage.clone() {
            AuthStage::AwaitNegotiate => {
                let Ok(neg) = NegotiateMessage::decode(&ntlm_token) else {
                    return self.auth_failed(ch, &ctx, NtStatus::INVALID_PARAMETER);
                };
                let server_challenge = self.rng.bytes::<8>();
                let params = ChallengeParams {
                    server_challenge,
                    timestamp: self.now,
                    nb_domain: self.config.nb_domain.clone(),
                    nb_computer: self.config.nb_computer.clone(),
                    dns_domain: self.config.dns_domain.clone(),
                    dns_computer: self.config.dns_computer.clone(),
                };
                let challenge = ChallengeMessage::for_negotiate(&neg, &params).encode();
                let answer = if auth.spnego {
                    NegTokenResp::accept_incomplete(challenge.clone()).encode()
                } else {
                    challenge.clone()
                };
                auth.stage = AuthStage::AwaitAuthenticate {
                    negotiate: ntlm_token,
                    challenge,
                    server_challenge,
                };
                self.more_processing(ch, &ctx, auth, answer, reauth)
            }
            AuthStage::AwaitAuthenticate {
                negotiate,
                challenge,
                server_challenge,
            } => self.authenticate(
                ch,
                &ctx,
                &req,
                &auth,
                (&negotiate, &challenge, &server_challenge, &ntlm_token),
                client_mic,
                reauth,
            ),
        }
    }

    /// A STATUS_MORE_PROCESSING_REQUIRED leg: the session keeps its authentication state
    /// and, for a new 3.1.1 session, hashes the response into its preauth value.
    fn more_processing(
        &mut self,
        ch: &mut Chain,
        ctx: &Ctx,
        auth: Auth,
        token: Vec<u8>,
        reauth: bool,
    ) -> Step {
        let sid = ctx.session_id;
        if let Some(s) = self.sessions.get_mut(&sid) {
            s.auth = Some(auth);
        }
        let mut body = Vec::new();
        SessionSetupResponse {
            session_flags: 0,
            security_buffer: token,
        }
        .encode(&mut body);
        let how = if reauth {
            SignHow::Auto
        } else {
            SignHow::Never
        };
        let sent = self
            .respond(ch, ctx, NtStatus::MORE_PROCESSING_REQUIRED, &body, how)
            .to_vec();
        if self.dialect() == Some(dialect::SMB311) && !reauth {
            if let Some(s) = self.sessions.get_mut(&sid) {
                s.preauth.update(&sent);
            }
        }
        Step::Done(done(ctx))
    }

    /// A failed authentication: the session is removed (§3.3.5.5.3) and the client told
    /// the status, unsigned.
    fn auth_failed(&mut self, ch: &mut Chain, ctx: &Ctx, status: NtStatus) -> Step {
        self.drop_session(ctx.session_id);
        let mut ctx = ctx.clone();
        ctx.no_sign = true;
        self.fail(ch, &ctx, status)
    }

    #[allow(clippy::too_many_arguments)]
    fn authenticate(
        &mut self,
        ch: &mut Chain,
        ctx: &Ctx,
        req: &SessionSetupRequest,
        auth: &Auth,
        msgs: (&[u8], &[u8], &[u8; 8], &[u8]),
        client_mic: Option<Vec<u8>>,
        reauth: bool,
    ) -> Step {
        let (negotiate, challenge, server_challenge, authenticate) = msgs;
        let users = self.config.users.clone();
        let mut entry = None;
        let result = ntlm::verify_authenticate(
            negotiate,
            challenge,
            server_challenge,
            authenticate,
            |u, d| {
                entry = users.lookup(u, d);
                entry.as_ref().map(|e| e.nt_hash)
            },
        );
        let sid = ctx.session_id;
        let (identity, ntlm_auth) = match result {
            Ok(a) => {
                let Some(e) = entry else {
                    return self.auth_failed(ch, ctx, NtStatus::LOGON_FAILURE);
                };
                let id = Identity {
                    user: a.user.clone(),
                    domain: a.domain.clone(),
                    uid: e.uid,
                    gid: e.gid,
                    guest: false,
                };
                (id, Some(a))
            }
            // An unknown user becomes a guest where guest logons are allowed and nothing
            // requires the keys a guest session lacks (signing, encryption).
            Err(NtlmError::UnknownUser)
                if self.config.guest.is_some()
                    && !self.config.signing_required
                    && self.config.encrypt != EncryptPolicy::Required
                    && !reauth
                    && req.security_mode & security_mode::SIGNING_REQUIRED as u8 == 0 =>
            {
                let (uid, gid) = self.config.guest.unwrap_or((u32::MAX, u32::MAX));
                let user = AuthenticateMessage::decode(authenticate)
                    .map(|a| a.user_name())
                    .unwrap_or_default();
                let id = Identity {
                    user,
                    domain: String::new(),
                    uid,
                    gid,
                    guest: true,
                };
                (id, None)
            }
            Err(e) => return self.auth_failed(ch, ctx, e.status()),
        };
        // The SPNEGO mechListMIC (RFC 4178 §5) under NTLM session security.
        let mut server_mic = None;
        if let (Some(a), true, Some(mic)) = (&ntlm_auth, auth.spnego, client_mic) {
            let (Some(mut sec), Some(list)) = (SessionSecurity::new(a), auth.mech_list.as_ref())
            else {
                return self.auth_failed(ch, ctx, NtStatus::LOGON_FAILURE);
            };
            if !sec.verify_client_mic(list, &mic) {
                return self.auth_failed(ch, ctx, NtStatus::LOGON_FAILURE);
            }
            server_mic = Some(sec.server_mic(list).to_vec());
        }
        let token = if auth.spnego {
            NegTokenResp::accept_completed(server_mic).encode()
        } else {
            Vec::new()
        };
        let dialect = self.dialect().unwrap_or(0);
        let can_encrypt = self.client_can_encrypt();
        let cipher_id = self
            .neg
            .as_ref()
            .and_then(|n| n.cipher)
            .map_or(0, Cipher::id);
        let global_encrypt = self.config.encrypt;
        let server_signing = self.config.signing_required;
        let Some(s) = self.sessions.get_mut(&sid) else {
            return self.fail(ch, ctx, NtStatus::USER_SESSION_DELETED);
        };
        if reauth {
            // §3.3.5.5.3: reauthentication keeps the keys; it may not change the user.
            let same = s
                .identity
                .as_ref()
                .is_some_and(|old| old.user.eq_ignore_ascii_case(&identity.user));
            if !same {
                return self.auth_failed(ch, ctx, NtStatus::ACCESS_DENIED);
            }
            s.auth = None;
        } else {
            if let Some(a) = &ntlm_auth {
                let preauth = (dialect == dialect::SMB311).then(|| *s.preauth.value());
                s.keys = Some(derive_server_keys(
                    &a.exported_session_key,
                    dialect,
                    preauth.as_ref(),
                    cipher_id,
                ));
                s.encrypt_data = match global_encrypt {
                    EncryptPolicy::Required => {
                        if !can_encrypt {
                            return self.auth_failed(ch, ctx, NtStatus::ACCESS_DENIED);
                        }
                        true
                    }
                    EncryptPolicy::Desired => can_encrypt,
                    EncryptPolicy::Off => false,
                };
                // §3.3.5.5.3: signing is required when the server or the client says so.
                s.signing_required = server_signing
                    || req.security_mode & security_mode::SIGNING_REQUIRED as u8 != 0;
            }
            let identity = Arc::new(identity);
            s.identity = Some(identity.clone());
            s.valid = true;
            s.auth = None;
            self.events.push_back(super::Event::SessionEstablished {
                session_id: sid,
                identity,
                previous_session_id: req.previous_session_id,
            });
        }
        let Some(s) = self.sessions.get(&sid) else {
            return self.fail(ch, ctx, NtStatus::USER_SESSION_DELETED);
        };
        let mut sflags = 0;
        if s.encrypt_data {
            sflags |= session_flags::ENCRYPT_DATA;
        }
        if s.identity.as_ref().is_some_and(|i| i.guest) {
            sflags |= session_flags::IS_GUEST;
        }
        let sign_final =
            s.keys.is_some() && (dialect >= dialect::SMB300 || s.signing_required || ctx.signed);
        let mut body = Vec::new();
        SessionSetupResponse {
            session_flags: sflags,
            security_buffer: token,
        }
        .encode(&mut body);
        // §3.3.5.5.3: a 3.x session's final response is signed with the new signing key
        // (for 3.1.1 derived from the preauth value before this response).
        let how = if sign_final {
            SignHow::Always
        } else {
            SignHow::Never
        };
        self.respond(ch, ctx, NtStatus::SUCCESS, &body, how);
        Step::Done(done(ctx))
    }

    /// LOGOFF (§3.3.5.6): the response is signed with the session's key, then the session
    /// and its trees are gone.
    pub(super) fn logoff(&mut self, ch: &mut Chain, ctx: &Ctx) -> Step {
        let mut body = Vec::new();
        LogoffResponse.encode(&mut body);
        self.respond(ch, ctx, NtStatus::SUCCESS, &body, SignHow::Auto);
        self.drop_session(ctx.session_id);
        Step::Done(done(ctx))
    }

    /// ECHO (§3.3.5.17).
    pub(super) fn echo(&mut self, ch: &mut Chain, ctx: &Ctx, part: &CompoundPart) -> Step {
        if let Err(e) = crate::cmd::EchoRequest::decode(&part.msg) {
            return self.fail(ch, ctx, e.status().unwrap_or(NtStatus::INVALID_PARAMETER));
        }
        let mut body = Vec::new();
        EchoResponse.encode(&mut body);
        self.respond(ch, ctx, NtStatus::SUCCESS, &body, SignHow::Auto);
        Step::Done(done(ctx))
    }

    /// TREE_CONNECT (§3.3.5.7): `\\server\share`, the server name not checked (clients
    /// use names and addresses alike).
    pub(super) fn tree_connect(
        &mut self,
        ch: &mut Chain,
        ctx: &Ctx,
        tc: &TreeConnectRequest,
    ) -> Step {
        let path = tc.path_string();
        let name = path
            .strip_prefix("\\\\")
            .and_then(|rest| rest.split_once('\\'))
            .map(|(_server, share)| share)
            .filter(|s| !s.is_empty() && !s.contains('\\'));
        let Some(share) = name.and_then(|n| self.config.share(n)).cloned() else {
            return self.fail(ch, ctx, NtStatus::BAD_NETWORK_NAME);
        };
        let can_encrypt = self.client_can_encrypt();
        let max_trees = self.config.limits.max_trees;
        let Some(s) = self.sessions.get_mut(&ctx.session_id) else {
            return self.fail(ch, ctx, NtStatus::USER_SESSION_DELETED);
        };
        let guest = s.identity.as_ref().is_none_or(|i| i.guest);
        if guest && !share.guest_ok {
            return self.fail(ch, ctx, NtStatus::ACCESS_DENIED);
        }
        if s.trees.len() >= max_trees {
            return self.fail(ch, ctx, NtStatus::INSUFFICIENT_RESOURCES);
        }
        let can_encrypt = can_encrypt && s.keys.is_some();
        // §3.3.5.7: a share that requires encryption refuses clients that cannot.
        let encrypt = match share.encrypt {
            EncryptPolicy::Required if !can_encrypt => {
                return self.fail(ch, ctx, NtStatus::ACCESS_DENIED)
            }
            EncryptPolicy::Required => true,
            EncryptPolicy::Desired => can_encrypt,
            EncryptPolicy::Off => false,
        };
        if share.signing_required && s.keys.is_none() {
            return self.fail(ch, ctx, NtStatus::ACCESS_DENIED);
        }
        let tid = loop {
            let t = s.next_tree_id;
            s.next_tree_id = s.next_tree_id.wrapping_add(1).max(1);
            if t != 0 && t != u32::MAX && !s.trees.contains_key(&t) {
                break t;
            }
        };
        s.trees.insert(
            tid,
            Tree {
                share: share.clone(),
                encrypt,
                signing_required: share.signing_required,
            },
        );
        let (stype, mut sflags) = match share.kind {
            ShareKind::Disk => (share_type::DISK, share_flags::MANUAL_CACHING),
            ShareKind::Ipc => (share_type::PIPE, NO_CACHING),
        };
        if encrypt {
            sflags |= share_flags::ENCRYPT_DATA;
        }
        let resp = TreeConnectResponse {
            share_type: stype,
            share_flags: sflags,
            capabilities: 0,
            maximal_access: if share.read_only {
                ACCESS_READ
            } else {
                ACCESS_ALL
            },
        };
        let mut body = Vec::new();
        resp.encode(&mut body);
        let mut ctx = ctx.clone();
        ctx.tree_id = tid;
        self.respond(ch, &ctx, NtStatus::SUCCESS, &body, SignHow::Auto);
        Step::Done(done(&ctx))
    }

    /// TREE_DISCONNECT (§3.3.5.8).
    pub(super) fn tree_disconnect(&mut self, ch: &mut Chain, ctx: &Ctx) -> Step {
        let mut body = Vec::new();
        TreeDisconnectResponse.encode(&mut body);
        self.respond(ch, ctx, NtStatus::SUCCESS, &body, SignHow::Auto);
        if let Some(s) = self.sessions.get_mut(&ctx.session_id) {
            if s.trees.remove(&ctx.tree_id).is_some() {
                self.events.push_back(super::Event::TreeClosed {
                    session_id: ctx.session_id,
                    tree_id: ctx.tree_id,
                });
            }
        }
        Step::Done(done(ctx))
    }

    /// FSCTL_VALIDATE_NEGOTIATE_INFO (§3.3.5.15.12): any mismatch with what the NEGOTIATE
    /// carried ends the connection.
    pub(super) fn validate_negotiate(
        &mut self,
        ch: &mut Chain,
        ctx: &Ctx,
        io: &IoctlRequest,
    ) -> Step {
        let Some(neg) = self.neg.clone() else {
            self.close_with(CloseReason::ValidateNegotiate("no NEGOTIATE"));
            return Step::Close;
        };
        let mismatch = |what| Err::<(), _>(CloseReason::ValidateNegotiate(what));
        let check = (|| {
            if neg.dialect == dialect::SMB311 {
                return mismatch("not used with 3.1.1");
            }
            if (io.max_output_response as usize) < 24 {
                return mismatch("MaxOutputResponse too small");
            }
            let Ok(v) = ValidateNegotiateInfoRequest::decode(&io.input) else {
                return mismatch("malformed request");
            };
            if v.dialects != neg.client_dialects {
                return mismatch("Dialects");
            }
            let best = self
                .config
                .dialects
                .iter()
                .copied()
                .filter(|d| v.dialects.contains(d))
                .max();
            if best != Some(neg.dialect) {
                return mismatch("dialect");
            }
            if v.guid != neg.client_guid {
                return mismatch("Guid");
            }
            if v.security_mode != neg.client_security_mode {
                return mismatch("SecurityMode");
            }
            if v.capabilities != neg.client_capabilities {
                return mismatch("Capabilities");
            }
            Ok(())
        })();
        if let Err(r) = check {
            self.close_with(r);
            return Step::Close;
        }
        let mut output = Vec::new();
        ValidateNegotiateInfoResponse {
            capabilities: neg.server_capabilities,
            guid: self.config.server_guid,
            security_mode: neg.server_security_mode,
            dialect: neg.dialect,
        }
        .encode(&mut output);
        let mut body = Vec::with_capacity(48 + output.len());
        IoctlResponse {
            ctl_code: ctl_code::VALIDATE_NEGOTIATE_INFO,
            file_id: io.file_id,
            flags: 0,
            input: Vec::new(),
            output,
        }
        .encode(&mut body);
        self.respond(ch, ctx, NtStatus::SUCCESS, &body, SignHow::Auto);
        Step::Done(done(ctx))
    }
}

fn new_auth() -> Auth {
    Auth {
        stage: AuthStage::AwaitNegotiate,
        spnego: true,
        mech_list: None,
    }
}

fn done(ctx: &Ctx) -> Prev {
    Prev {
        session_id: ctx.session_id,
        tree_id: ctx.tree_id,
        file_id: None,
    }
}
