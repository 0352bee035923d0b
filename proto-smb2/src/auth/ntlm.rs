//! NTLMSSP, server side, NTLMv2 only (MS-NLMP).
//!
//! - [`NegotiateMessage`] (§2.2.1.1) is decoded from the client's first token.
//! - [`ChallengeMessage::for_negotiate`] builds the server's answer (§2.2.1.2, §3.2.5.1.1):
//!   the server challenge and the timestamp are inputs (random bytes and wall time come
//!   from the caller), the target info carries the NetBIOS/DNS names and MsvAvTimestamp.
//! - [`verify_authenticate`] checks an [`AuthenticateMessage`] (§2.2.1.3, §3.2.5.1.2,
//!   §3.3.2): anonymous and NTLMv1/LM responses are refused with their own errors; the
//!   NTLMv2 NTProofStr is recomputed from the stored NT hash; the session key is derived
//!   (with KEY_EXCH, the exported session key is RC4-decrypted); the MIC is checked when the
//!   client's MsvAvFlags says one is present.
//! - [`SessionSecurity`] is NTLM session security with extended session security (§3.4.4.2,
//!   §3.4.5): the GSS_GetMIC / VerifyMIC a SPNEGO mechListMIC needs.
//!
//! Not checked: MsvAvTimestamp skew and channel bindings (MsvAvChannelBindings); both are
//! optional for a server in MS-NLMP.

use crate::error::{DecodeError, DecodeResult};
use crate::wire::{le16, le32, utf16le};
use hmac::{Hmac, Mac};
use md4::{Digest, Md4};
use md5::Md5;
use rc4::{KeyInit, Rc4, StreamCipher};

/// Signature that starts every NTLMSSP message.
pub const NTLMSSP_SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

/// NegotiateFlags (§2.2.2.5).
#[allow(missing_docs)]
pub mod flags {
    pub const UNICODE: u32 = 0x0000_0001;
    pub const OEM: u32 = 0x0000_0002;
    pub const REQUEST_TARGET: u32 = 0x0000_0004;
    pub const SIGN: u32 = 0x0000_0010;
    pub const SEAL: u32 = 0x0000_0020;
    pub const LM_KEY: u32 = 0x0000_0080;
    pub const NTLM: u32 = 0x0000_0200;
    pub const ANONYMOUS: u32 = 0x0000_0800;
    pub const ALWAYS_SIGN: u32 = 0x0000_8000;
    pub const TARGET_TYPE_DOMAIN: u32 = 0x0001_0000;
    pub const TARGET_TYPE_SERVER: u32 = 0x0002_0000;
    pub const EXTENDED_SESSIONSECURITY: u32 = 0x0008_0000;
    pub const TARGET_INFO: u32 = 0x0080_0000;
    pub const VERSION: u32 = 0x0200_0000;
    pub const NEGOTIATE_128: u32 = 0x2000_0000;
    pub const KEY_EXCH: u32 = 0x4000_0000;
    pub const NEGOTIATE_56: u32 = 0x8000_0000;
}

/// AV pair ids (§2.2.2.1).
#[allow(missing_docs)]
pub mod av_id {
    pub const EOL: u16 = 0x0000;
    pub const NB_COMPUTER_NAME: u16 = 0x0001;
    pub const NB_DOMAIN_NAME: u16 = 0x0002;
    pub const DNS_COMPUTER_NAME: u16 = 0x0003;
    pub const DNS_DOMAIN_NAME: u16 = 0x0004;
    pub const DNS_TREE_NAME: u16 = 0x0005;
    pub const FLAGS: u16 = 0x0006;
    pub const TIMESTAMP: u16 = 0x0007;
    pub const SINGLE_HOST: u16 = 0x0008;
    pub const TARGET_NAME: u16 = 0x0009;
    pub const CHANNEL_BINDINGS: u16 = 0x000A;
}

/// MsvAvFlags bit: the AUTHENTICATE_MESSAGE carries a MIC (§2.2.2.1).
pub const AV_FLAG_MIC_PRESENT: u32 = 0x0000_0002;

/// Most AV pairs accepted in one list.
pub const MAX_AV_PAIRS: usize = 64;

/// The version the server announces (§2.2.2.10): 6.1 build 7601, NTLMSSP revision 15
/// (only for debugging, MS-NLMP says; Windows clients display it).
pub const SERVER_VERSION: [u8; 8] = [6, 1, 0xb1, 0x1d, 0, 0, 0, 15];

/// Length of NTProofStr, and of the fixed part of an NTLMv2 client challenge blob
/// (§2.2.2.7: RespType .. Reserved3, before the AV pairs).
const NT_PROOF_LEN: usize = 16;
const BLOB_FIXED_LEN: usize = 28;

/// Why an AUTHENTICATE_MESSAGE is refused. All but `Malformed` are answered with
/// STATUS_LOGON_FAILURE by the server (or treated as guest where a share allows it); the
/// variants say why for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NtlmError {
    /// The message does not follow MS-NLMP.
    #[error("malformed NTLMSSP message: {0}")]
    Malformed(#[from] DecodeError),
    /// Anonymous authentication (empty user and responses, §3.3.2), which is refused.
    #[error("anonymous NTLM authentication refused")]
    Anonymous,
    /// An NTLMv1 or LM-only response (an NtChallengeResponse of 24 bytes or none), refused:
    /// only NTLMv2 is accepted.
    #[error("NTLMv1/LM response ({nt_response_len}-byte NtChallengeResponse) refused")]
    NotNtlmV2 {
        /// Length of the NtChallengeResponse received.
        nt_response_len: usize,
    },
    /// The user is not known.
    #[error("unknown user")]
    UnknownUser,
    /// NTProofStr does not match: wrong password (or user/domain).
    #[error("wrong password")]
    WrongPassword,
    /// The MIC over the three messages does not match.
    #[error("MIC mismatch")]
    MicMismatch,
}

impl NtlmError {
    /// The status of the SESSION_SETUP response: a malformed token is
    /// STATUS_INVALID_PARAMETER; every refusal is STATUS_LOGON_FAILURE, which tells a client
    /// nothing about which check failed (MS-SMB2 §3.3.5.5.3).
    pub fn status(&self) -> crate::status::NtStatus {
        match self {
            NtlmError::Malformed(_) => crate::status::NtStatus::INVALID_PARAMETER,
            _ => crate::status::NtStatus::LOGON_FAILURE,
        }
    }
}

/// One AV pair (§2.2.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvPair {
    /// AvId.
    pub id: u16,
    /// Value.
    pub value: Vec<u8>,
}

/// Decodes an AV pair list up to MsvAvEOL (required, §2.2.2.1).
pub fn decode_av_pairs(mut b: &[u8]) -> DecodeResult<Vec<AvPair>> {
    let mut out = Vec::new();
    loop {
        if b.len() < 4 {
            return Err(DecodeError::Truncated { what: "AV pair" });
        }
        let id = le16(b, 0);
        let len = usize::from(le16(b, 2));
        if id == av_id::EOL {
            return Ok(out);
        }
        if out.len() >= MAX_AV_PAIRS {
            return Err(DecodeError::TooMany {
                what: "AV pairs",
                count: out.len() + 1,
                max: MAX_AV_PAIRS,
            });
        }
        let value = b
            .get(4..4 + len)
            .ok_or(DecodeError::Truncated { what: "AV pair" })?;
        out.push(AvPair {
            id,
            value: value.to_vec(),
        });
        b = &b[4 + len..];
    }
}

/// Encodes an AV pair list and its terminating MsvAvEOL.
pub fn encode_av_pairs(pairs: &[AvPair]) -> Vec<u8> {
    let mut v = Vec::new();
    for p in pairs {
        v.extend_from_slice(&p.id.to_le_bytes());
        v.extend_from_slice(&(p.value.len() as u16).to_le_bytes());
        v.extend_from_slice(&p.value);
    }
    v.extend_from_slice(&[0, 0, 0, 0]);
    v
}

fn header(what: &'static str, b: &[u8], ty: u32, min: usize) -> DecodeResult<()> {
    if b.len() < min {
        return Err(DecodeError::Truncated { what });
    }
    if &b[..8] != NTLMSSP_SIGNATURE || le32(b, 8) != ty {
        return Err(DecodeError::Invalid { what });
    }
    Ok(())
}

/// The payload a Len/MaxLen/Offset field triple at `at` names (§2.2.1: offsets count from
/// the start of the message).
fn field<'a>(what: &'static str, b: &'a [u8], at: usize) -> DecodeResult<&'a [u8]> {
    let len = usize::from(le16(b, at));
    let off = le32(b, at + 4) as usize;
    if len == 0 {
        return Ok(&[]);
    }
    b.get(off..off.saturating_add(len))
        .ok_or(DecodeError::OutOfBounds { what })
}

fn put_field(fixed: &mut Vec<u8>, payload: &mut Vec<u8>, base: usize, data: &[u8]) {
    let off = base + payload.len();
    fixed.extend_from_slice(&(data.len() as u16).to_le_bytes());
    fixed.extend_from_slice(&(data.len() as u16).to_le_bytes());
    fixed.extend_from_slice(&(off as u32).to_le_bytes());
    payload.extend_from_slice(data);
}

fn version_of(b: &[u8], flags_value: u32, at: usize) -> Option<[u8; 8]> {
    if flags_value & flags::VERSION == 0 {
        return None;
    }
    let mut v = [0u8; 8];
    v.copy_from_slice(b.get(at..at + 8)?);
    Some(v)
}

/// NEGOTIATE_MESSAGE (§2.2.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiateMessage {
    /// NegotiateFlags.
    pub flags: u32,
    /// DomainName (OEM), when supplied.
    pub domain: Vec<u8>,
    /// Workstation (OEM), when supplied.
    pub workstation: Vec<u8>,
    /// Version, when NEGOTIATE_VERSION is set.
    pub version: Option<[u8; 8]>,
}

impl NegotiateMessage {
    /// Decodes the message.
    pub fn decode(b: &[u8]) -> DecodeResult<Self> {
        const WHAT: &str = "NTLMSSP NEGOTIATE_MESSAGE";
        header(WHAT, b, 1, 16)?;
        let f = le32(b, 12);
        // Old clients stop after NegotiateFlags; the name fields are then absent.
        let (domain, workstation) = if b.len() >= 32 {
            (field(WHAT, b, 16)?.to_vec(), field(WHAT, b, 24)?.to_vec())
        } else {
            (Vec::new(), Vec::new())
        };
        Ok(NegotiateMessage {
            flags: f,
            domain,
            workstation,
            version: version_of(b, f, 32),
        })
    }

    /// Encodes the message (fields and version always written).
    pub fn encode(&self) -> Vec<u8> {
        let mut fixed = Vec::with_capacity(40);
        let mut payload = Vec::new();
        fixed.extend_from_slice(NTLMSSP_SIGNATURE);
        fixed.extend_from_slice(&1u32.to_le_bytes());
        fixed.extend_from_slice(&self.flags.to_le_bytes());
        put_field(&mut fixed, &mut payload, 40, &self.domain);
        put_field(&mut fixed, &mut payload, 40, &self.workstation);
        fixed.extend_from_slice(&self.version.unwrap_or_default());
        fixed.extend_from_slice(&payload);
        fixed
    }
}

/// What the server puts in its CHALLENGE_MESSAGE: random bytes, wall time and names are
/// inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeParams {
    /// ServerChallenge: 8 random bytes, fresh for each authentication.
    pub server_challenge: [u8; 8],
    /// MsvAvTimestamp: the server's time as a FILETIME (100 ns since 1601-01-01 UTC).
    pub timestamp: u64,
    /// NetBIOS domain (or workgroup) name, also the TargetName.
    pub nb_domain: String,
    /// NetBIOS computer name.
    pub nb_computer: String,
    /// DNS domain name.
    pub dns_domain: String,
    /// DNS computer name.
    pub dns_computer: String,
}

/// CHALLENGE_MESSAGE (§2.2.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeMessage {
    /// NegotiateFlags.
    pub flags: u32,
    /// TargetName (UTF-16LE bytes).
    pub target_name: Vec<u8>,
    /// ServerChallenge.
    pub server_challenge: [u8; 8],
    /// TargetInfo.
    pub target_info: Vec<AvPair>,
    /// Version.
    pub version: Option<[u8; 8]>,
}

impl ChallengeMessage {
    /// The server's CHALLENGE for a client's NEGOTIATE (§3.2.5.1.1): Unicode, NTLM,
    /// target info, and the session-security flags the client asked for that NTLMv2 can
    /// honour (extended session security, key exchange, 128-bit, signing, sealing).
    pub fn for_negotiate(neg: &NegotiateMessage, p: &ChallengeParams) -> Self {
        let mirrored = neg.flags
            & (flags::SIGN
                | flags::SEAL
                | flags::ALWAYS_SIGN
                | flags::EXTENDED_SESSIONSECURITY
                | flags::KEY_EXCH
                | flags::NEGOTIATE_128
                | flags::NEGOTIATE_56);
        let f = flags::UNICODE
            | flags::REQUEST_TARGET
            | flags::NTLM
            | flags::TARGET_TYPE_SERVER
            | flags::TARGET_INFO
            | flags::VERSION
            | mirrored;
        let s = |id, v: &str| AvPair {
            id,
            value: utf16le(v),
        };
        ChallengeMessage {
            flags: f,
            target_name: utf16le(&p.nb_domain),
            server_challenge: p.server_challenge,
            target_info: vec![
                s(av_id::NB_DOMAIN_NAME, &p.nb_domain),
                s(av_id::NB_COMPUTER_NAME, &p.nb_computer),
                s(av_id::DNS_DOMAIN_NAME, &p.dns_domain),
                s(av_id::DNS_COMPUTER_NAME, &p.dns_computer),
                AvPair {
                    id: av_id::TIMESTAMP,
                    value: p.timestamp.to_le_bytes().to_vec(),
                },
            ],
            version: Some(SERVER_VERSION),
        }
    }

    /// Decodes the message.
    pub fn decode(b: &[u8]) -> DecodeResult<Self> {
        const WHAT: &str = "NTLMSSP CHALLENGE_MESSAGE";
        header(WHAT, b, 2, 48)?;
        let f = le32(b, 20);
        let mut server_challenge = [0u8; 8];
        server_challenge.copy_from_slice(&b[24..32]);
        let ti = field(WHAT, b, 40)?;
        Ok(ChallengeMessage {
            flags: f,
            target_name: field(WHAT, b, 12)?.to_vec(),
            server_challenge,
            target_info: if ti.is_empty() {
                Vec::new()
            } else {
                decode_av_pairs(ti)?
            },
            version: version_of(b, f, 48),
        })
    }

    /// Encodes the message: fixed part (56 bytes), TargetName, TargetInfo.
    pub fn encode(&self) -> Vec<u8> {
        let mut fixed = Vec::with_capacity(56);
        let mut payload = Vec::new();
        fixed.extend_from_slice(NTLMSSP_SIGNATURE);
        fixed.extend_from_slice(&2u32.to_le_bytes());
        put_field(&mut fixed, &mut payload, 56, &self.target_name);
        fixed.extend_from_slice(&self.flags.to_le_bytes());
        fixed.extend_from_slice(&self.server_challenge);
        fixed.extend_from_slice(&[0; 8]);
        let ti = if self.target_info.is_empty() {
            Vec::new()
        } else {
            encode_av_pairs(&self.target_info)
        };
        put_field(&mut fixed, &mut payload, 56, &ti);
        fixed.extend_from_slice(&self.version.unwrap_or_default());
        fixed.extend_from_slice(&payload);
        fixed
    }
}

/// AUTHENTICATE_MESSAGE (§2.2.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticateMessage {
    /// LmChallengeResponse.
    pub lm_response: Vec<u8>,
    /// NtChallengeResponse: NTProofStr followed by the client's blob for NTLMv2.
    pub nt_response: Vec<u8>,
    /// DomainName (UTF-16LE or OEM bytes, per UNICODE).
    pub domain: Vec<u8>,
    /// UserName.
    pub user: Vec<u8>,
    /// Workstation.
    pub workstation: Vec<u8>,
    /// EncryptedRandomSessionKey.
    pub encrypted_random_session_key: Vec<u8>,
    /// NegotiateFlags.
    pub flags: u32,
    /// Version.
    pub version: Option<[u8; 8]>,
    /// MIC, when the client's MsvAvFlags announces one.
    pub mic: Option<[u8; 16]>,
}

/// Offset of the MIC in an AUTHENTICATE_MESSAGE (after Version).
pub const MIC_OFFSET: usize = 72;

fn text(b: &[u8], unicode: bool) -> String {
    if unicode {
        let units: Vec<u16> = b
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        b.iter().map(|&c| char::from(c)).collect()
    }
}

/// The AV pairs in an NTLMv2 NtChallengeResponse (after NTProofStr and the blob's fixed
/// part), or `None` when the response is not NTLMv2-shaped.
fn response_av_pairs(nt_response: &[u8]) -> Option<Vec<AvPair>> {
    let av = nt_response.get(NT_PROOF_LEN + BLOB_FIXED_LEN..)?;
    decode_av_pairs(av).ok()
}

fn mic_present(nt_response: &[u8]) -> bool {
    response_av_pairs(nt_response).is_some_and(|pairs| {
        pairs.iter().any(|p| {
            p.id == av_id::FLAGS
                && p.value.len() == 4
                && le32(&p.value, 0) & AV_FLAG_MIC_PRESENT != 0
        })
    })
}

impl AuthenticateMessage {
    /// Decodes the message.
    pub fn decode(b: &[u8]) -> DecodeResult<Self> {
        const WHAT: &str = "NTLMSSP AUTHENTICATE_MESSAGE";
        header(WHAT, b, 3, 64)?;
        let f = le32(b, 60);
        let nt_response = field(WHAT, b, 20)?.to_vec();
        let mic = if mic_present(&nt_response) {
            let m = b
                .get(MIC_OFFSET..MIC_OFFSET + 16)
                .ok_or(DecodeError::Truncated { what: WHAT })?;
            let mut a = [0u8; 16];
            a.copy_from_slice(m);
            Some(a)
        } else {
            None
        };
        Ok(AuthenticateMessage {
            lm_response: field(WHAT, b, 12)?.to_vec(),
            nt_response,
            domain: field(WHAT, b, 28)?.to_vec(),
            user: field(WHAT, b, 36)?.to_vec(),
            workstation: field(WHAT, b, 44)?.to_vec(),
            encrypted_random_session_key: field(WHAT, b, 52)?.to_vec(),
            flags: f,
            version: version_of(b, f, 64),
            mic,
        })
    }

    /// Encodes the message: fixed part with Version and, when `mic` is set, the MIC
    /// (88 bytes; 72 without MIC), then the payload in field order.
    pub fn encode(&self) -> Vec<u8> {
        let base = if self.mic.is_some() { 88 } else { 72 };
        let mut fixed = Vec::with_capacity(base);
        let mut payload = Vec::new();
        fixed.extend_from_slice(NTLMSSP_SIGNATURE);
        fixed.extend_from_slice(&3u32.to_le_bytes());
        put_field(&mut fixed, &mut payload, base, &self.lm_response);
        put_field(&mut fixed, &mut payload, base, &self.nt_response);
        put_field(&mut fixed, &mut payload, base, &self.domain);
        put_field(&mut fixed, &mut payload, base, &self.user);
        put_field(&mut fixed, &mut payload, base, &self.workstation);
        put_field(
            &mut fixed,
            &mut payload,
            base,
            &self.encrypted_random_session_key,
        );
        fixed.extend_from_slice(&self.flags.to_le_bytes());
        fixed.extend_from_slice(&self.version.unwrap_or_default());
        if let Some(m) = &self.mic {
            fixed.extend_from_slice(m);
        }
        fixed.extend_from_slice(&payload);
        fixed
    }

    /// UserName as text.
    pub fn user_name(&self) -> String {
        text(&self.user, self.flags & flags::UNICODE != 0)
    }

    /// DomainName as text.
    pub fn domain_name(&self) -> String {
        text(&self.domain, self.flags & flags::UNICODE != 0)
    }

    /// Workstation as text.
    pub fn workstation_name(&self) -> String {
        text(&self.workstation, self.flags & flags::UNICODE != 0)
    }
}

fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    let mut out = [0u8; 16];
    // HMAC takes keys of any length.
    if let Ok(mut m) = <Hmac<Md5> as Mac>::new_from_slice(key) {
        for p in parts {
            m.update(p);
        }
        out.copy_from_slice(&m.finalize().into_bytes());
    }
    out
}

fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = <Md5 as md5::Digest>::new();
    for p in parts {
        md5::Digest::update(&mut h, p);
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&md5::Digest::finalize(h));
    out
}

fn rc4_16(key: &[u8; 16], data: &mut [u8]) {
    let mut c = Rc4::<rc4::consts::U16>::new(key.into());
    c.apply_keystream(data);
}

/// The NT hash of a password: MD4 of its UTF-16LE form (§3.3.1, NTOWFv1). This is what a
/// user file stores instead of the password.
pub fn nt_hash(password: &str) -> [u8; 16] {
    let mut h = Md4::new();
    h.update(utf16le(password));
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize());
    out
}

/// NTOWFv2 (§3.3.2): HMAC-MD5 keyed with the NT hash over UTF-16LE(Uppercase(user) ||
/// domain).
pub fn ntowf_v2(nt_hash: &[u8; 16], user: &str, domain: &str) -> [u8; 16] {
    let mut s = user.to_uppercase();
    s.push_str(domain);
    hmac_md5(nt_hash, &[&utf16le(&s)])
}

/// The NTLMv2 computation shared by client and server (§3.3.2): given ResponseKeyNT
/// (NTOWFv2), the server challenge and the client's blob ("temp": RespType, HiRespType,
/// reserved, time, client challenge, reserved, AV pairs), returns the NtChallengeResponse
/// (NTProofStr || blob) and the SessionBaseKey.
pub fn ntlmv2_response(
    response_key_nt: &[u8; 16],
    server_challenge: &[u8; 8],
    blob: &[u8],
) -> (Vec<u8>, [u8; 16]) {
    let proof = hmac_md5(response_key_nt, &[server_challenge, blob]);
    let session_base_key = hmac_md5(response_key_nt, &[&proof]);
    let mut resp = proof.to_vec();
    resp.extend_from_slice(blob);
    (resp, session_base_key)
}

/// The client blob (`temp`, §3.3.2) for a time, client challenge and AV pairs.
pub fn ntlmv2_blob(time: u64, client_challenge: &[u8; 8], av_pairs: &[AvPair]) -> Vec<u8> {
    let mut b = vec![1, 1, 0, 0, 0, 0, 0, 0];
    b.extend_from_slice(&time.to_le_bytes());
    b.extend_from_slice(client_challenge);
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&encode_av_pairs(av_pairs));
    b.extend_from_slice(&[0; 4]);
    b
}

/// A successful NTLMv2 authentication.
#[derive(Clone, PartialEq, Eq)]
pub struct NtlmAuth {
    /// The user, as the client spelled it.
    pub user: String,
    /// The domain the client named.
    pub domain: String,
    /// The client's workstation name.
    pub workstation: String,
    /// The negotiated flags (the AUTHENTICATE_MESSAGE's).
    pub flags: u32,
    /// ExportedSessionKey: the SMB2 session key (MS-SMB2 §3.3.5.5.3).
    pub exported_session_key: [u8; 16],
}

impl core::fmt::Debug for NtlmAuth {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NtlmAuth")
            .field("user", &self.user)
            .field("domain", &self.domain)
            .field("workstation", &self.workstation)
            .field("flags", &format_args!("{:#010x}", self.flags))
            .finish_non_exhaustive()
    }
}

/// Verifies an AUTHENTICATE_MESSAGE (server side of §3.2.5.1.2 with §3.3.2).
///
/// `negotiate`, `challenge` and `authenticate` are the three messages as they were sent
/// (the MIC covers them); `server_challenge` is the one the CHALLENGE carried; `lookup`
/// maps (user, domain) to the stored NT hash. The NTLMv2 proof is checked with the
/// client's domain and, failing that, with an empty domain (clients that authenticate to
/// a standalone server compute NTOWFv2 either way; Samba accepts both too).
pub fn verify_authenticate(
    negotiate: &[u8],
    challenge: &[u8],
    server_challenge: &[u8; 8],
    authenticate: &[u8],
    lookup: impl FnOnce(&str, &str) -> Option<[u8; 16]>,
) -> Result<NtlmAuth, NtlmError> {
    let auth = AuthenticateMessage::decode(authenticate)?;
    let user = auth.user_name();
    let domain = auth.domain_name();
    let lm_empty = auth.lm_response.is_empty() || auth.lm_response == [0];
    if user.is_empty() && auth.nt_response.is_empty() && lm_empty {
        return Err(NtlmError::Anonymous);
    }
    let nt_len = auth.nt_response.len();
    if nt_len == 0 || nt_len == 24 {
        return Err(NtlmError::NotNtlmV2 {
            nt_response_len: nt_len,
        });
    }
    if nt_len < NT_PROOF_LEN + BLOB_FIXED_LEN || auth.nt_response[NT_PROOF_LEN] != 1 {
        return Err(DecodeError::Invalid {
            what: "NTLMv2 response",
        }
        .into());
    }
    // The client challenge's AV pairs (§2.2.2.7) must parse, MsvAvEOL included: a
    // response whose list is cut short is malformed (STATUS_INVALID_PARAMETER, as Samba
    // answers since its bug 14932; smbtorture smb2.session.ntlmssp_bug14932), not a wrong
    // password.
    decode_av_pairs(&auth.nt_response[NT_PROOF_LEN + BLOB_FIXED_LEN..])?;
    let hash = lookup(&user, &domain).ok_or(NtlmError::UnknownUser)?;
    let blob = &auth.nt_response[NT_PROOF_LEN..];
    let proof = &auth.nt_response[..NT_PROOF_LEN];
    let mut session_base_key = None;
    for d in [domain.as_str(), ""] {
        let key = ntowf_v2(&hash, &user, d);
        let (resp, sbk) = ntlmv2_response(&key, server_challenge, blob);
        if crate::crypto::ct_eq(&resp[..NT_PROOF_LEN], proof) {
            session_base_key = Some(sbk);
            break;
        }
    }
    let key_exchange_key = session_base_key.ok_or(NtlmError::WrongPassword)?;
    let exported_session_key = if auth.flags & flags::KEY_EXCH != 0 {
        let mut k: [u8; 16] = auth
            .encrypted_random_session_key
            .as_slice()
            .try_into()
            .map_err(|_| DecodeError::Invalid {
                what: "EncryptedRandomSessionKey",
            })?;
        rc4_16(&key_exchange_key, &mut k);
        k
    } else {
        key_exchange_key
    };
    if let Some(mic) = auth.mic {
        let mut zeroed = authenticate.to_vec();
        zeroed[MIC_OFFSET..MIC_OFFSET + 16].fill(0);
        let expected = hmac_md5(&exported_session_key, &[negotiate, challenge, &zeroed]);
        if !crate::crypto::ct_eq(&expected, &mic) {
            return Err(NtlmError::MicMismatch);
        }
    }
    Ok(NtlmAuth {
        user,
        domain,
        workstation: auth.workstation_name(),
        flags: auth.flags,
        exported_session_key,
    })
}

/// The MIC a client puts in its AUTHENTICATE_MESSAGE (§3.1.5.1.2): HMAC-MD5 with the
/// exported session key over the three messages, the MIC field zeroed. For tests and
/// clients.
pub fn compute_mic(
    exported_session_key: &[u8; 16],
    negotiate: &[u8],
    challenge: &[u8],
    authenticate_mic_zeroed: &[u8],
) -> [u8; 16] {
    hmac_md5(
        exported_session_key,
        &[negotiate, challenge, authenticate_mic_zeroed],
    )
}

/// RC4 with the client's key exchange: EncryptedRandomSessionKey from the random session
/// key (§3.1.5.1.2). For tests and clients.
pub fn encrypt_session_key(key_exchange_key: &[u8; 16], random_session_key: &[u8; 16]) -> [u8; 16] {
    let mut k = *random_session_key;
    rc4_16(key_exchange_key, &mut k);
    k
}

const CLIENT_SIGN_MAGIC: &[u8] = b"session key to client-to-server signing key magic constant\0";
const SERVER_SIGN_MAGIC: &[u8] = b"session key to server-to-client signing key magic constant\0";
const CLIENT_SEAL_MAGIC: &[u8] = b"session key to client-to-server sealing key magic constant\0";
const SERVER_SEAL_MAGIC: &[u8] = b"session key to server-to-client sealing key magic constant\0";

/// NTLM session security with extended session security and 128-bit keys (§3.4.4.2,
/// §3.4.5.2, §3.4.5.3), server side: what SPNEGO's mechListMIC needs (GSS_GetMIC of the
/// MechTypeList). Each direction has its signing key, its RC4 sealing state (which runs on
/// from message to message) and its sequence number.
pub struct SessionSecurity {
    key_exch: bool,
    client_sign: [u8; 16],
    server_sign: [u8; 16],
    client_seal: Rc4<rc4::consts::U16>,
    server_seal: Rc4<rc4::consts::U16>,
    client_seq: u32,
    server_seq: u32,
}

impl core::fmt::Debug for SessionSecurity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SessionSecurity(..)")
    }
}

impl SessionSecurity {
    /// Session security for an authentication, or `None` when its flags do not give
    /// extended session security with 128-bit keys (the only form this crate offers; every
    /// NTLMv2 client negotiates it).
    pub fn new(auth: &NtlmAuth) -> Option<Self> {
        let need = flags::EXTENDED_SESSIONSECURITY | flags::NEGOTIATE_128;
        if auth.flags & need != need {
            return None;
        }
        let k = &auth.exported_session_key;
        Some(SessionSecurity {
            key_exch: auth.flags & flags::KEY_EXCH != 0,
            client_sign: md5(&[k, CLIENT_SIGN_MAGIC]),
            server_sign: md5(&[k, SERVER_SIGN_MAGIC]),
            client_seal: Rc4::new((&md5(&[k, CLIENT_SEAL_MAGIC])).into()),
            server_seal: Rc4::new((&md5(&[k, SERVER_SEAL_MAGIC])).into()),
            client_seq: 0,
            server_seq: 0,
        })
    }

    fn mac(
        sign_key: &[u8; 16],
        seal: &mut Rc4<rc4::consts::U16>,
        key_exch: bool,
        seq: u32,
        msg: &[u8],
    ) -> [u8; 16] {
        let seq_bytes = seq.to_le_bytes();
        let full = hmac_md5(sign_key, &[&seq_bytes, msg]);
        let mut checksum = [0u8; 8];
        checksum.copy_from_slice(&full[..8]);
        if key_exch {
            seal.apply_keystream(&mut checksum);
        }
        let mut sig = [0u8; 16];
        sig[..4].copy_from_slice(&1u32.to_le_bytes());
        sig[4..12].copy_from_slice(&checksum);
        sig[12..].copy_from_slice(&seq_bytes);
        sig
    }

    /// VerifyMIC of a client's signature over `msg` (advances the client sequence).
    pub fn verify_client_mic(&mut self, msg: &[u8], signature: &[u8]) -> bool {
        let expected = Self::mac(
            &self.client_sign,
            &mut self.client_seal,
            self.key_exch,
            self.client_seq,
            msg,
        );
        self.client_seq = self.client_seq.wrapping_add(1);
        crate::crypto::ct_eq(&expected, signature)
    }

    /// GSS_GetMIC by the client over `msg` (advances the client sequence). For tests and
    /// clients; a server uses [`SessionSecurity::verify_client_mic`].
    pub fn client_mic(&mut self, msg: &[u8]) -> [u8; 16] {
        let sig = Self::mac(
            &self.client_sign,
            &mut self.client_seal,
            self.key_exch,
            self.client_seq,
            msg,
        );
        self.client_seq = self.client_seq.wrapping_add(1);
        sig
    }

    /// GSS_GetMIC by the server over `msg` (advances the server sequence).
    pub fn server_mic(&mut self, msg: &[u8]) -> [u8; 16] {
        let sig = Self::mac(
            &self.server_sign,
            &mut self.server_seal,
            self.key_exch,
            self.server_seq,
            msg,
        );
        self.server_seq = self.server_seq.wrapping_add(1);
        sig
    }
}
