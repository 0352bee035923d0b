//! The client side of SMB2 session establishment, sans-IO: what a test client, a fuzz seed
//! writer or a tool needs to log on to an SMB2 server with SPNEGO + NTLMv2 and protect its
//! requests afterwards. The server of this crate is in [`crate::server`]; this module is
//! its counterpart, built from the same codecs and crypto.
//!
//! - [`negotiate_request`] and [`Negotiated`]: the NEGOTIATE a client sends (MS-SMB2
//!   §3.2.4.2.2.2, with the 3.1.1 contexts of §2.2.3.1) and what it keeps from the answer
//!   (§3.2.5.2): dialect, signing algorithm, cipher and the connection's preauth integrity
//!   hash value.
//! - [`NtlmClient`]: MS-NLMP §3.1.5 for a client: the NEGOTIATE_MESSAGE (§2.2.1.1) wrapped in
//!   a SPNEGO NegTokenInit (RFC 4178 §4.2.1); from the server's CHALLENGE_MESSAGE, the
//!   AUTHENTICATE_MESSAGE (§2.2.1.3) with the NTLMv2 response (§3.3.2), the key exchange
//!   (§3.1.5.1.2, EncryptedRandomSessionKey), MsvAvFlags "MIC present" and the MIC, wrapped
//!   in a NegTokenResp with the mechListMIC (RFC 4178 §5, NTLM GSS_GetMIC §3.4.4.2).
//! - [`create_request`]: the common shape of a CREATE, for tests that open many files.
//! - [`ClientSession`]: the session's keys (MS-SMB2 §3.2.5.3.1: the same derivation as the
//!   server's, directions swapped) and the signing (§3.2.4.1.1) and encryption (§3.2.4.1.8)
//!   of requests, the verification and decryption of responses.
//!
//! Nothing here draws random bytes or reads a clock: the NTLMv2 blob's time, the client
//! challenge, the random session key and every transform nonce are inputs
//! ([`ClientInputs`], [`ClientSession::encrypt`]).
//!
//! Deviations: the client needs extended session security and 128-bit keys (the only form
//! [`crate::auth::ntlm::SessionSecurity`] offers) and always sends a MIC; it does not check
//! the server's MsvAvTimestamp, send channel bindings, or check the server's mechListMIC
//! itself (the caller can, with [`NtlmLogon::security`]).

use crate::auth::ntlm::{
    self, AuthenticateMessage, AvPair, ChallengeMessage, NegotiateMessage, NtlmAuth,
    SessionSecurity,
};
use crate::auth::spnego::{self, NegToken, NegTokenInit, NegTokenResp, OID_NTLMSSP};
use crate::cmd::create::CreateRequest;
use crate::cmd::negotiate::{
    capabilities, dialect, signing_algorithm, NegotiateContext, NegotiateRequest,
    NegotiateResponse, HASH_SHA512,
};
use crate::cmd::session_setup::{SessionSetupRequest, SessionSetupResponse};
use crate::crypto::kdf::{derive_server_keys, SessionKeys};
use crate::crypto::preauth::PreauthHash;
use crate::crypto::signing::{self, SigningAlgorithm};
use crate::crypto::transform::{self, Cipher};
use crate::crypto::CryptoError;
use crate::error::DecodeError;
use crate::wire::utf16le;

/// NegotiateFlags a client offers by default: Unicode, NTLM, signing, extended session
/// security, key exchange and 128-bit keys (what Windows and smbprotocol offer, less
/// sealing and the version field).
pub const DEFAULT_NTLM_FLAGS: u32 = ntlm::flags::UNICODE
    | ntlm::flags::NTLM
    | ntlm::flags::SIGN
    | ntlm::flags::ALWAYS_SIGN
    | ntlm::flags::EXTENDED_SESSIONSECURITY
    | ntlm::flags::KEY_EXCH
    | ntlm::flags::NEGOTIATE_128;

/// A NEGOTIATE request (MS-SMB2 §2.2.3) offering `dialects` with SecurityMode "signing
/// enabled". With 3.1.1 among the dialects it carries the contexts (§2.2.3.1): SHA-512
/// preauth integrity with `salt`, the `ciphers` in the order given, and the signing
/// algorithms AES-GMAC then AES-CMAC.
pub fn negotiate_request(
    dialects: &[u16],
    ciphers: &[u16],
    capabilities: u32,
    client_guid: [u8; 16],
    salt: [u8; 32],
) -> NegotiateRequest {
    let contexts = if dialects.contains(&dialect::SMB311) {
        vec![
            NegotiateContext::PreauthIntegrity {
                hash_algorithms: vec![HASH_SHA512],
                salt: salt.to_vec(),
            },
            NegotiateContext::Encryption {
                ciphers: ciphers.to_vec(),
            },
            NegotiateContext::Signing {
                algorithms: vec![signing_algorithm::AES_GMAC, signing_algorithm::AES_CMAC],
            },
        ]
    } else {
        Vec::new()
    };
    NegotiateRequest {
        security_mode: 1,
        capabilities,
        client_guid,
        dialects: dialects.to_vec(),
        client_start_time: 0,
        contexts,
    }
}

/// A CREATE request (MS-SMB2 §2.2.13) for `name` (share-relative, `\\`-separated) with
/// no oplock, impersonation level Impersonation, no attributes and no create contexts;
/// the caller sets the rest with struct update syntax.
pub fn create_request(
    name: &str,
    desired_access: u32,
    share_access: u32,
    create_disposition: u32,
    create_options: u32,
) -> CreateRequest {
    CreateRequest {
        security_flags: 0,
        requested_oplock_level: 0,
        impersonation_level: 2,
        smb_create_flags: 0,
        desired_access,
        file_attributes: 0,
        share_access,
        create_disposition,
        create_options,
        name: name.encode_utf16().collect(),
        contexts: Vec::new(),
    }
}

/// What a client keeps from a NEGOTIATE exchange (MS-SMB2 §3.2.5.2).
#[derive(Debug, Clone)]
pub struct Negotiated {
    /// The decoded response.
    pub response: NegotiateResponse,
    /// Connection.Dialect.
    pub dialect: u16,
    /// The signing algorithm: the server's choice in a 3.1.1 SIGNING context, else the
    /// dialect's (HMAC-SHA256 for 2.x, AES-CMAC for 3.x).
    pub signing: SigningAlgorithm,
    /// Connection.CipherId: the server's choice in a 3.1.1 ENCRYPTION context; for 3.0 and
    /// 3.0.2, AES-128-CCM when the server set SMB2_GLOBAL_CAP_ENCRYPTION; else none (also
    /// when the server chose "no common cipher" or one this crate does not know).
    pub cipher: Option<Cipher>,
    /// Connection.PreauthIntegrityHashValue after the exchange: the request and the response
    /// hashed for 3.1.1, the initial (zero) value for the other dialects.
    pub preauth: PreauthHash,
}

impl Negotiated {
    /// From the request and the response, both whole messages (SMB2 header first) as they
    /// went over the wire.
    pub fn from_exchange(request: &[u8], response: &[u8]) -> Result<Negotiated, DecodeError> {
        let resp = NegotiateResponse::decode(response)?;
        let mut n = Negotiated {
            dialect: resp.dialect,
            signing: SigningAlgorithm::for_dialect(resp.dialect),
            cipher: None,
            preauth: PreauthHash::new(),
            response: resp,
        };
        if n.dialect == dialect::SMB311 {
            n.preauth.update(request);
            n.preauth.update(response);
            for c in &n.response.contexts {
                match c {
                    NegotiateContext::Encryption { ciphers } => {
                        n.cipher = ciphers.first().and_then(|&id| Cipher::from_id(id).ok());
                    }
                    NegotiateContext::Signing { algorithms } => {
                        if let Some(a) = algorithms
                            .first()
                            .and_then(|&id| SigningAlgorithm::from_id(id).ok())
                        {
                            n.signing = a;
                        }
                    }
                    _ => {}
                }
            }
        } else if n.dialect >= dialect::SMB300
            && n.response.capabilities & capabilities::ENCRYPTION != 0
        {
            n.cipher = Some(Cipher::Aes128Ccm);
        }
        Ok(n)
    }
}

/// Who logs on: the user, the domain NTOWFv2 is computed with, the workstation name sent,
/// and the NT hash of the password (MS-NLMP §3.3.1).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub user: String,
    /// The domain (empty for a standalone server: MS-NLMP lets either form through, and so
    /// does [`ntlm::verify_authenticate`]).
    pub domain: String,
    /// The workstation name the AUTHENTICATE_MESSAGE carries.
    pub workstation: String,
    /// The NT hash of the password ([`ntlm::nt_hash`]).
    pub nt_hash: [u8; 16],
}

impl core::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("domain", &self.domain)
            .field("workstation", &self.workstation)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Credentials from a clear-text password.
    pub fn password(user: &str, domain: &str, workstation: &str, password: &str) -> Self {
        Credentials {
            user: user.into(),
            domain: domain.into(),
            workstation: workstation.into(),
            nt_hash: ntlm::nt_hash(password),
        }
    }
}

/// The values a client draws at random or from its clock, as inputs (the sans-IO rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientInputs {
    /// The NTLMv2 blob's time stamp (FILETIME, 100 ns since 1601).
    pub time: u64,
    /// ChallengeFromClient (§3.3.2).
    pub client_challenge: [u8; 8],
    /// RandomSessionKey (§3.1.5.1.2), which becomes the exported session key when the
    /// server agrees to key exchange.
    pub random_session_key: [u8; 16],
}

/// Why a client could not answer the server's token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The token or the CHALLENGE_MESSAGE in it does not decode.
    #[error("server token: {0}")]
    Decode(#[from] DecodeError),
    /// The server's token is a SPNEGO NegTokenResp without a CHALLENGE_MESSAGE (a reject,
    /// or a NegTokenInit where a response was expected).
    #[error("the server's token carries no NTLM challenge")]
    NoChallenge,
    /// The negotiated flags lack extended session security or 128-bit keys.
    #[error("the server did not agree to extended session security with 128-bit keys")]
    NoSessionSecurity,
    /// Encryption asked for on a connection without a cipher.
    #[error("no cipher was negotiated")]
    NoCipher,
    /// Signing, encryption or decryption failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// One NTLM authentication, client side (MS-NLMP §3.1.5.1): created with the flags to
/// offer, the credentials and the client's random inputs, it holds the NEGOTIATE_MESSAGE
/// the MIC later covers.
#[derive(Debug, Clone)]
pub struct NtlmClient {
    negotiate: Vec<u8>,
    init: NegTokenInit,
    creds: Credentials,
    inputs: ClientInputs,
}

/// The client's second leg: what to send and the session's keys.
#[derive(Debug)]
pub struct NtlmLogon {
    /// The SPNEGO NegTokenResp to send: the AUTHENTICATE_MESSAGE and the mechListMIC.
    pub token: Vec<u8>,
    /// The AUTHENTICATE_MESSAGE alone, as sent (MIC filled in).
    pub authenticate: Vec<u8>,
    /// The negotiated flags (the CHALLENGE_MESSAGE's, echoed in the AUTHENTICATE_MESSAGE).
    pub flags: u32,
    /// ExportedSessionKey: the SMB2 session key (MS-SMB2 §3.2.5.3.1).
    pub session_key: [u8; 16],
    /// NTLM session security, for checking the server's mechListMIC with
    /// [`SessionSecurity::server_mic`]; after [`NtlmClient::authenticate`] the client's
    /// sequence number is 1 (its mechListMIC used 0).
    pub security: SessionSecurity,
}

impl NtlmClient {
    /// An authentication of `creds` offering `flags` (see [`DEFAULT_NTLM_FLAGS`]).
    pub fn new(flags: u32, creds: Credentials, inputs: ClientInputs) -> Self {
        let negotiate = NegotiateMessage {
            flags,
            domain: Vec::new(),
            workstation: Vec::new(),
            version: None,
        }
        .encode();
        let init = NegTokenInit {
            mech_types: vec![OID_NTLMSSP.to_vec()],
            mech_token: Some(negotiate.clone()),
            mech_list_mic: None,
        };
        NtlmClient {
            negotiate,
            init,
            creds,
            inputs,
        }
    }

    /// The NEGOTIATE_MESSAGE as sent.
    pub fn negotiate_message(&self) -> &[u8] {
        &self.negotiate
    }

    /// The first SESSION_SETUP's security buffer: a NegTokenInit offering NTLMSSP with the
    /// NEGOTIATE_MESSAGE as its mechToken.
    pub fn init_token(&self) -> Vec<u8> {
        self.init.encode()
    }

    /// The first SESSION_SETUP request of a new session (MS-SMB2 §3.2.4.2.3): the
    /// [`NtlmClient::init_token`], no previous session, not binding.
    pub fn session_setup(&self, security_mode: u8, capabilities: u32) -> SessionSetupRequest {
        SessionSetupRequest {
            flags: 0,
            security_mode,
            capabilities,
            channel: 0,
            previous_session_id: 0,
            security_buffer: self.init_token(),
        }
    }

    /// Answers the first SESSION_SETUP response (a whole message, SMB2 header first): its
    /// security buffer goes to [`NtlmClient::authenticate`].
    pub fn answer(&self, session_setup_response: &[u8]) -> Result<NtlmLogon, ClientError> {
        let resp = SessionSetupResponse::decode(session_setup_response)?;
        self.authenticate(&resp.security_buffer)
    }

    /// Answers the server's SPNEGO token (the first SESSION_SETUP response's security
    /// buffer, a NegTokenResp carrying the CHALLENGE_MESSAGE).
    pub fn authenticate(&self, server_token: &[u8]) -> Result<NtlmLogon, ClientError> {
        let NegToken::Resp(resp) = spnego::decode_token(server_token)? else {
            return Err(ClientError::NoChallenge);
        };
        let challenge = resp.response_token.ok_or(ClientError::NoChallenge)?;
        let mut logon = self.authenticate_challenge(&challenge)?;
        let mech_list_mic = logon
            .security
            .client_mic(&self.init.mech_type_list_der())
            .to_vec();
        logon.token = NegTokenResp {
            neg_state: None,
            supported_mech: None,
            response_token: Some(logon.authenticate.clone()),
            mech_list_mic: Some(mech_list_mic),
        }
        .encode();
        Ok(logon)
    }

    /// The AUTHENTICATE_MESSAGE for a bare CHALLENGE_MESSAGE (`token` is left empty and
    /// the session security unused: no SPNEGO is involved).
    pub fn authenticate_challenge(&self, challenge: &[u8]) -> Result<NtlmLogon, ClientError> {
        let (creds, inputs) = (&self.creds, &self.inputs);
        let chal = ChallengeMessage::decode(challenge)?;
        let response_key = ntlm::ntowf_v2(&creds.nt_hash, &creds.user, &creds.domain);
        // §3.1.5.1.2: the client adds MsvAvFlags with "MIC present" to the server's pairs.
        let mut pairs = chal.target_info.clone();
        match pairs.iter_mut().find(|p| p.id == ntlm::av_id::FLAGS) {
            Some(p) if p.value.len() == 4 => {
                let v = u32::from_le_bytes([p.value[0], p.value[1], p.value[2], p.value[3]]);
                p.value = (v | ntlm::AV_FLAG_MIC_PRESENT).to_le_bytes().to_vec();
            }
            _ => pairs.push(AvPair {
                id: ntlm::av_id::FLAGS,
                value: ntlm::AV_FLAG_MIC_PRESENT.to_le_bytes().to_vec(),
            }),
        }
        let blob = ntlm::ntlmv2_blob(inputs.time, &inputs.client_challenge, &pairs);
        let (nt_response, session_base_key) =
            ntlm::ntlmv2_response(&response_key, &chal.server_challenge, &blob);
        // §3.4.5.1 KXKEY with NTLMv2 is the SessionBaseKey.
        let (session_key, encrypted_key) = if chal.flags & ntlm::flags::KEY_EXCH != 0 {
            let k = inputs.random_session_key;
            (k, ntlm::encrypt_session_key(&session_base_key, &k).to_vec())
        } else {
            (session_base_key, Vec::new())
        };
        let mut authenticate = AuthenticateMessage {
            lm_response: vec![0; 24],
            nt_response,
            domain: utf16le(&creds.domain),
            user: utf16le(&creds.user),
            workstation: utf16le(&creds.workstation),
            encrypted_random_session_key: encrypted_key,
            flags: chal.flags,
            version: None,
            mic: Some([0; 16]),
        }
        .encode();
        let mic = ntlm::compute_mic(&session_key, &self.negotiate, challenge, &authenticate);
        authenticate[ntlm::MIC_OFFSET..ntlm::MIC_OFFSET + 16].copy_from_slice(&mic);
        let security = SessionSecurity::new(&NtlmAuth {
            user: creds.user.clone(),
            domain: creds.domain.clone(),
            workstation: creds.workstation.clone(),
            flags: chal.flags,
            exported_session_key: session_key,
        })
        .ok_or(ClientError::NoSessionSecurity)?;
        Ok(NtlmLogon {
            token: Vec::new(),
            authenticate,
            flags: chal.flags,
            session_key,
            security,
        })
    }
}

/// An established session as its client sees it: the keys and the algorithms that protect
/// its messages (MS-SMB2 §3.2.5.3.1, §3.2.4.1.1, §3.2.4.1.8).
#[derive(Debug, Clone)]
pub struct ClientSession {
    /// SessionId.
    pub session_id: u64,
    /// The keys, as [`derive_server_keys`] names them: the client encrypts with
    /// `decryption` (the server's decryption key is the client's encryption key) and
    /// decrypts with `encryption`.
    pub keys: SessionKeys,
    /// The connection's signing algorithm.
    pub signing: SigningAlgorithm,
    /// The connection's cipher, if any.
    pub cipher: Option<Cipher>,
}

impl ClientSession {
    /// The session for `session_key` (the authentication's exported session key) on a
    /// negotiated connection; `session_preauth` is Session.PreauthIntegrityHashValue (the
    /// connection's value updated with each SESSION_SETUP request and every response but
    /// the final one), used by 3.1.1 only.
    pub fn new(
        negotiated: &Negotiated,
        session_id: u64,
        session_key: &[u8; 16],
        session_preauth: &PreauthHash,
    ) -> Self {
        let keys = derive_server_keys(
            session_key,
            negotiated.dialect,
            (negotiated.dialect == dialect::SMB311).then_some(session_preauth.value()),
            negotiated.cipher.map_or(0, Cipher::id),
        );
        ClientSession {
            session_id,
            keys,
            signing: negotiated.signing,
            cipher: negotiated.cipher,
        }
    }

    /// Signs a message (or each message of a chain as [`signing::sign`] does) in place.
    pub fn sign(&self, msg: &mut [u8]) -> Result<(), ClientError> {
        Ok(signing::sign(self.signing, &self.keys.signing, msg)?)
    }

    /// Whether a signed message's signature is right.
    pub fn verify(&self, msg: &[u8]) -> bool {
        signing::verify(self.signing, &self.keys.signing, msg)
    }

    /// Encrypts a message or chain for the server: the transform header and ciphertext.
    /// `nonce` must not repeat within the session (the caller counts or draws it).
    pub fn encrypt(&self, nonce: &[u8; 16], msg: &[u8]) -> Result<Vec<u8>, ClientError> {
        let c = self.cipher.ok_or(ClientError::NoCipher)?;
        Ok(transform::encrypt(
            c,
            &self.keys.decryption,
            nonce,
            self.session_id,
            msg,
        )?)
    }

    /// Decrypts a transform message from the server; returns the plaintext.
    pub fn decrypt(&self, msg: &[u8]) -> Result<Vec<u8>, ClientError> {
        let c = self.cipher.ok_or(ClientError::NoCipher)?;
        Ok(transform::decrypt(c, &self.keys.encryption, msg)?.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::ntlm::{av_id, ChallengeParams};

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// MS-NLMP §4.2.4: user "User", domain "Domain", password "Password", server challenge
    /// 0123456789abcdef, client challenge aa..aa, time 0, random session key 55..55.
    fn nlmp_inputs() -> (Credentials, ClientInputs) {
        (
            Credentials::password("User", "Domain", "COMPUTER", "Password"),
            ClientInputs {
                time: 0,
                client_challenge: [0xaa; 8],
                random_session_key: [0x55; 16],
            },
        )
    }

    fn nlmp_challenge(flags: u32, target_info: Vec<AvPair>) -> Vec<u8> {
        ChallengeMessage {
            target_name: utf16le("Domain"),
            flags,
            server_challenge: [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef],
            target_info,
            version: None,
        }
        .encode()
    }

    /// The §4.2.4 values where the published example has them: with the example's pairs
    /// (plus the MsvAvFlags a MIC-sending client adds), the key exchange gives the exported
    /// key 55..55 and the server recovers it; the NTProofStr of the exact §4.2.4 blob is
    /// checked in `tests/crypto_vectors.rs`.
    #[test]
    fn nlmp_example_authenticates_and_exchanges_the_key() {
        let (creds, inputs) = nlmp_inputs();
        let client = NtlmClient::new(DEFAULT_NTLM_FLAGS, creds, inputs);
        let pairs = vec![
            AvPair {
                id: av_id::NB_DOMAIN_NAME,
                value: utf16le("Domain"),
            },
            AvPair {
                id: av_id::NB_COMPUTER_NAME,
                value: utf16le("Server"),
            },
        ];
        let chal = nlmp_challenge(DEFAULT_NTLM_FLAGS, pairs);
        let logon = client.authenticate_challenge(&chal).unwrap();
        assert_eq!(logon.session_key, [0x55; 16]);
        let auth = AuthenticateMessage::decode(&logon.authenticate).unwrap();
        // The blob: header, time 0, client challenge, the pairs with MsvAvFlags = 2.
        assert_eq!(
            auth.nt_response[16..],
            hex("0101000000000000 0000000000000000 aaaaaaaaaaaaaaaa 00000000
                 02000c0044006f006d00610069006e00 01000c00530065007200760065007200
                 0600040002000000 00000000 00000000")[..]
        );
        assert_eq!(auth.user_name(), "User");
        assert_eq!(auth.workstation_name(), "COMPUTER");
        let server = ntlm::verify_authenticate(
            client.negotiate_message(),
            &chal,
            &[0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef],
            &logon.authenticate,
            |u, d| {
                assert_eq!((u, d), ("User", "Domain"));
                Some(ntlm::nt_hash("Password"))
            },
        )
        .unwrap();
        assert_eq!(server.exported_session_key, [0x55; 16]);
        // A wrong password is refused; a tampered NEGOTIATE breaks the MIC.
        let wrong = Credentials::password("User", "Domain", "COMPUTER", "password");
        let bad = NtlmClient::new(DEFAULT_NTLM_FLAGS, wrong, inputs)
            .authenticate_challenge(&chal)
            .unwrap();
        let r = ntlm::verify_authenticate(
            client.negotiate_message(),
            &chal,
            &[0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef],
            &bad.authenticate,
            |_, _| Some(ntlm::nt_hash("Password")),
        );
        assert_eq!(r.unwrap_err(), ntlm::NtlmError::WrongPassword);
        let r = ntlm::verify_authenticate(
            b"other",
            &chal,
            &[0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef],
            &logon.authenticate,
            |_, _| Some(ntlm::nt_hash("Password")),
        );
        assert_eq!(r.unwrap_err(), ntlm::NtlmError::MicMismatch);
    }

    #[test]
    fn without_key_exchange_the_session_base_key_is_the_session_key() {
        let (creds, inputs) = nlmp_inputs();
        let flags = DEFAULT_NTLM_FLAGS & !ntlm::flags::KEY_EXCH;
        let client = NtlmClient::new(flags, creds, inputs);
        let chal = nlmp_challenge(flags, Vec::new());
        let logon = client.authenticate_challenge(&chal).unwrap();
        // Without KEY_EXCH, ExportedSessionKey is KeyExchangeKey, the SessionBaseKey of
        // this response (§3.1.5.1.2, §3.4.5.1): recomputed from the blob that was sent.
        let key = ntlm::ntowf_v2(&ntlm::nt_hash("Password"), "User", "Domain");
        let auth = AuthenticateMessage::decode(&logon.authenticate).unwrap();
        let (_, sbk) = ntlm::ntlmv2_response(
            &key,
            &[0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef],
            &auth.nt_response[16..],
        );
        assert_eq!(logon.session_key, sbk);
        assert!(auth.encrypted_random_session_key.is_empty());
        let server = ntlm::verify_authenticate(
            client.negotiate_message(),
            &chal,
            &[0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef],
            &logon.authenticate,
            |_, _| Some(ntlm::nt_hash("Password")),
        )
        .unwrap();
        assert_eq!(server.exported_session_key, sbk);
    }

    /// Against the server side of SPNEGO: the server's CHALLENGE (built by
    /// [`ChallengeMessage::for_negotiate`]) answered, the mechListMIC verifiable by the server
    /// and the server's verifiable by the client.
    #[test]
    fn spnego_round_trip_with_mech_list_mics() {
        let (creds, inputs) = nlmp_inputs();
        let nt_hash = creds.nt_hash;
        let client = NtlmClient::new(DEFAULT_NTLM_FLAGS, creds, inputs);
        let NegToken::Init(init) = spnego::decode_token(&client.init_token()).unwrap() else {
            panic!("not a NegTokenInit");
        };
        let neg = NegotiateMessage::decode(init.mech_token.as_deref().unwrap()).unwrap();
        let chal = ChallengeMessage::for_negotiate(
            &neg,
            &ChallengeParams {
                server_challenge: [4; 8],
                timestamp: 1,
                nb_computer: "SERVER".into(),
                nb_domain: "DOMAIN".into(),
                dns_computer: "server".into(),
                dns_domain: String::new(),
            },
        )
        .encode();
        let first = client.session_setup(1, 0);
        assert_eq!(first.security_buffer, client.init_token());
        let response = message(crate::Command::SESSION_SETUP, |o| {
            SessionSetupResponse {
                session_flags: 0,
                security_buffer: NegTokenResp::accept_incomplete(chal.clone()).encode(),
            }
            .encode(o)
        });
        let mut logon = client.answer(&response).unwrap();
        let NegToken::Resp(resp) = spnego::decode_token(&logon.token).unwrap() else {
            panic!("not a NegTokenResp");
        };
        assert_eq!(
            resp.response_token.as_deref(),
            Some(&logon.authenticate[..])
        );
        let auth = ntlm::verify_authenticate(
            client.negotiate_message(),
            &chal,
            &[4; 8],
            &logon.authenticate,
            |_, _| Some(nt_hash),
        )
        .unwrap();
        let mut server = SessionSecurity::new(&auth).unwrap();
        let mech_types = init.mech_type_list_der();
        assert!(server.verify_client_mic(&mech_types, resp.mech_list_mic.as_deref().unwrap()));
        let server_mic = server.server_mic(&mech_types);
        assert_eq!(logon.security.server_mic(&mech_types), server_mic);
        // Not a challenge: a reject, or garbage.
        assert_eq!(
            client
                .authenticate(&NegTokenResp::reject().encode())
                .unwrap_err(),
            ClientError::NoChallenge
        );
        assert!(matches!(
            client.authenticate(&[0xa1, 0x00]),
            Err(ClientError::Decode(_))
        ));
    }

    fn message(command: crate::Command, body: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut m = Vec::new();
        crate::Header {
            credit_charge: 0,
            status: crate::NtStatus::SUCCESS,
            command,
            credits: 1,
            flags: 0,
            next_command: 0,
            message_id: 0,
            id: crate::HeaderId::Sync {
                process_id: 0,
                tree_id: 0,
            },
            session_id: 0,
            signature: [0; 16],
        }
        .encode(&mut m);
        body(&mut m);
        m
    }

    fn response(dialect_: u16, capabilities: u32, contexts: Vec<NegotiateContext>) -> Vec<u8> {
        message(crate::Command::NEGOTIATE, |o| {
            NegotiateResponse {
                security_mode: 1,
                dialect: dialect_,
                server_guid: [1; 16],
                capabilities,
                max_transact_size: 65536,
                max_read_size: 65536,
                max_write_size: 65536,
                system_time: 0,
                server_start_time: 0,
                security_buffer: Vec::new(),
                contexts,
            }
            .encode(o)
        })
    }

    #[test]
    fn negotiate_keeps_the_servers_choices() {
        let req = negotiate_request(
            &[dialect::SMB300, dialect::SMB311],
            &[0x0002, 0x0001],
            capabilities::ENCRYPTION,
            [9; 16],
            [3; 32],
        );
        assert_eq!(req.contexts.len(), 3);
        let req = message(crate::Command::NEGOTIATE, |o| req.encode(o));
        let resp = response(
            dialect::SMB311,
            0,
            vec![
                NegotiateContext::PreauthIntegrity {
                    hash_algorithms: vec![HASH_SHA512],
                    salt: vec![4; 32],
                },
                NegotiateContext::Encryption {
                    ciphers: vec![0x0001],
                },
                NegotiateContext::Signing {
                    algorithms: vec![signing_algorithm::AES_GMAC],
                },
            ],
        );
        let n = Negotiated::from_exchange(&req, &resp).unwrap();
        assert_eq!(n.dialect, dialect::SMB311);
        assert_eq!(n.cipher, Some(Cipher::Aes128Ccm));
        assert_eq!(n.signing, SigningAlgorithm::AesGmac);
        let mut expected = PreauthHash::new();
        expected.update(&req);
        expected.update(&resp);
        assert_eq!(n.preauth.value(), expected.value());
        // 3.0: the capability names the cipher, the preauth hash stays initial.
        let req = negotiate_request(&[dialect::SMB300], &[], 0, [9; 16], [0; 32]);
        assert!(req.contexts.is_empty());
        let req = message(crate::Command::NEGOTIATE, |o| req.encode(o));
        let resp = response(dialect::SMB300, capabilities::ENCRYPTION, Vec::new());
        let n = Negotiated::from_exchange(&req, &resp).unwrap();
        assert_eq!(
            (n.cipher, n.signing),
            (Some(Cipher::Aes128Ccm), SigningAlgorithm::AesCmac)
        );
        assert_eq!(n.preauth.value(), PreauthHash::new().value());
        let resp = response(dialect::SMB210, capabilities::ENCRYPTION, Vec::new());
        let n = Negotiated::from_exchange(&req, &resp).unwrap();
        assert_eq!(n.cipher, None);
        assert!(Negotiated::from_exchange(&req, &resp[..70]).is_err());
    }

    #[test]
    fn create_request_round_trips() {
        let req = create_request("d\\a.txt", 0x0012_0089, 7, 1, 0x40);
        let m = message(crate::Command::CREATE, |o| req.encode(o));
        let back = CreateRequest::decode(&m).unwrap();
        assert_eq!(back, req);
        assert_eq!(
            String::from_utf16(&back.name).unwrap(),
            "d\\a.txt",
            "the name as UTF-16"
        );
        assert_eq!(
            (
                back.desired_access,
                back.share_access,
                back.create_disposition
            ),
            (0x0012_0089, 7, 1)
        );
        assert_eq!((back.create_options, back.impersonation_level), (0x40, 2));
    }

    #[test]
    fn session_protects_both_directions() {
        let req = message(crate::Command::NEGOTIATE, |o| {
            negotiate_request(&[dialect::SMB300], &[], 0, [9; 16], [0; 32]).encode(o)
        });
        let resp = response(dialect::SMB300, capabilities::ENCRYPTION, Vec::new());
        let n = Negotiated::from_exchange(&req, &resp).unwrap();
        let s = ClientSession::new(&n, 5, &[0x5a; 16], &PreauthHash::new());
        let server = derive_server_keys(&[0x5a; 16], dialect::SMB300, None, 0x0001);
        assert_eq!(s.keys, server);
        let mut msg = message(crate::Command::ECHO, |o| o.extend_from_slice(&[4, 0, 0, 0]));
        s.sign(&mut msg).unwrap();
        assert!(s.verify(&msg));
        assert!(signing::verify(
            SigningAlgorithm::AesCmac,
            &server.signing,
            &msg
        ));
        let mut tampered = msg.clone();
        tampered[66] ^= 1;
        assert!(!s.verify(&tampered));
        let wire = s.encrypt(&[1; 16], &msg).unwrap();
        let (h, plain) = transform::decrypt(Cipher::Aes128Ccm, &server.decryption, &wire).unwrap();
        assert_eq!((h.session_id, plain), (5, msg.clone()));
        let back =
            transform::encrypt(Cipher::Aes128Ccm, &server.encryption, &[2; 16], 5, &msg).unwrap();
        assert_eq!(s.decrypt(&back).unwrap(), msg);
        assert!(s.decrypt(&wire).is_err(), "its own direction's key");
        // Without a cipher (2.1) there is nothing to encrypt with.
        let resp = response(dialect::SMB210, 0, Vec::new());
        let n = Negotiated::from_exchange(&req, &resp).unwrap();
        let s = ClientSession::new(&n, 5, &[0x5a; 16], &PreauthHash::new());
        assert_eq!(
            s.encrypt(&[1; 16], &msg).unwrap_err(),
            ClientError::NoCipher
        );
    }
}
