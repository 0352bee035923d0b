//! SPNEGO (RFC 4178, with the GSS-API framing of RFC 2743 §3.1), as much as an SMB server
//! offering NTLMSSP needs:
//!
//! - the NegTokenInit the server puts in its NEGOTIATE response ([`server_init_token`]):
//!   mechTypes = { NTLMSSP };
//! - the client's first token, a GSS InitialContextToken wrapping a NegTokenInit whose
//!   mechToken is the NTLMSSP NEGOTIATE_MESSAGE, and its later NegTokenResp tokens carrying
//!   the AUTHENTICATE_MESSAGE ([`decode_token`]);
//! - the server's NegTokenResp answers: accept-incomplete with the CHALLENGE_MESSAGE, then
//!   accept-completed (or reject) ([`NegTokenResp`]).
//!
//! mechTypes are kept as the contents of their OBJECT IDENTIFIERs; [`NegTokenInit::
//! mech_type_list_der`] re-encodes the list, which is what a mechListMIC covers (RFC 4178
//! §5). DER is canonical, so the re-encoding is the client's bytes.

use super::der;
use crate::error::{DecodeError, DecodeResult};

/// The SPNEGO mechanism OID 1.3.6.1.5.5.2 (contents of the OBJECT IDENTIFIER).
pub const OID_SPNEGO: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
/// The NTLMSSP OID 1.3.6.1.4.1.311.2.2.10.
pub const OID_NTLMSSP: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a];

/// Most mechTypes accepted in one list.
pub const MAX_MECH_TYPES: usize = 16;

const WHAT: &str = "SPNEGO token";
const TAG_APPLICATION_0: u8 = 0x60;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_OID: u8 = 0x06;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_ENUMERATED: u8 = 0x0a;
const fn ctx(n: u8) -> u8 {
    0xa0 | n
}

/// negState of a NegTokenResp (RFC 4178 §4.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NegState {
    /// accept-completed.
    AcceptCompleted,
    /// accept-incomplete.
    AcceptIncomplete,
    /// reject.
    Reject,
    /// request-mic.
    RequestMic,
}

impl NegState {
    fn value(self) -> u8 {
        match self {
            NegState::AcceptCompleted => 0,
            NegState::AcceptIncomplete => 1,
            NegState::Reject => 2,
            NegState::RequestMic => 3,
        }
    }

    fn from_value(v: &[u8]) -> DecodeResult<Self> {
        match v {
            [0] => Ok(NegState::AcceptCompleted),
            [1] => Ok(NegState::AcceptIncomplete),
            [2] => Ok(NegState::Reject),
            [3] => Ok(NegState::RequestMic),
            _ => Err(DecodeError::Invalid { what: "negState" }),
        }
    }
}

/// NegTokenInit (RFC 4178 §4.2.1). reqFlags is accepted and dropped (it is deprecated).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NegTokenInit {
    /// mechTypes, each the contents of an OBJECT IDENTIFIER, in preference order.
    pub mech_types: Vec<Vec<u8>>,
    /// mechToken: the first token of the preferred mechanism.
    pub mech_token: Option<Vec<u8>>,
    /// mechListMIC.
    pub mech_list_mic: Option<Vec<u8>>,
}

/// NegTokenResp (RFC 4178 §4.2.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NegTokenResp {
    /// negState.
    pub neg_state: Option<NegState>,
    /// supportedMech (OID contents).
    pub supported_mech: Option<Vec<u8>>,
    /// responseToken.
    pub response_token: Option<Vec<u8>>,
    /// mechListMIC.
    pub mech_list_mic: Option<Vec<u8>>,
}

/// A decoded SPNEGO token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NegToken {
    /// The initial token (inside the GSS InitialContextToken framing).
    Init(NegTokenInit),
    /// A later token.
    Resp(NegTokenResp),
}

fn mech_list(v: &[u8]) -> DecodeResult<Vec<Vec<u8>>> {
    let seq = der::expect(WHAT, TAG_SEQUENCE, v)?;
    let mut rest = seq.value;
    let mut out = Vec::new();
    while !rest.is_empty() {
        if out.len() >= MAX_MECH_TYPES {
            return Err(DecodeError::TooMany {
                what: "mechTypes",
                count: out.len() + 1,
                max: MAX_MECH_TYPES,
            });
        }
        let oid = der::expect(WHAT, TAG_OID, rest)?;
        out.push(oid.value.to_vec());
        rest = oid.rest;
    }
    Ok(out)
}

fn octets(v: &[u8]) -> DecodeResult<Vec<u8>> {
    Ok(der::expect(WHAT, TAG_OCTET_STRING, v)?.value.to_vec())
}

/// Decodes a token from a SESSION_SETUP request (or, for tests and clients, a response).
pub fn decode_token(b: &[u8]) -> DecodeResult<NegToken> {
    let outer = der::read(WHAT, b)?;
    match outer.tag {
        TAG_APPLICATION_0 => {
            let oid = der::expect(WHAT, TAG_OID, outer.value)?;
            if oid.value != OID_SPNEGO {
                return Err(DecodeError::Invalid {
                    what: "SPNEGO mechanism OID",
                });
            }
            let inner = der::expect(WHAT, ctx(0), oid.rest)?;
            let seq = der::expect(WHAT, TAG_SEQUENCE, inner.value)?;
            let mut init = NegTokenInit::default();
            let mut rest = seq.value;
            while !rest.is_empty() {
                let f = der::read(WHAT, rest)?;
                match f.tag {
                    0xa0 => init.mech_types = mech_list(f.value)?,
                    0xa1 => {} // reqFlags
                    0xa2 => init.mech_token = Some(octets(f.value)?),
                    // [3] is mechListMIC from a client, negHints in a server's
                    // NegTokenInit2 (MS-SPNG §2.2.1); only an OCTET STRING is a MIC.
                    0xa3 => {
                        if let Ok(m) = octets(f.value) {
                            init.mech_list_mic = Some(m);
                        }
                    }
                    0xa4 => {} // mechListMIC after negHints (NegTokenInit2)
                    _ => return Err(DecodeError::Invalid { what: WHAT }),
                }
                rest = f.rest;
            }
            Ok(NegToken::Init(init))
        }
        0xa1 => {
            let seq = der::expect(WHAT, TAG_SEQUENCE, outer.value)?;
            let mut resp = NegTokenResp::default();
            let mut rest = seq.value;
            while !rest.is_empty() {
                let f = der::read(WHAT, rest)?;
                match f.tag {
                    0xa0 => {
                        let e = der::expect(WHAT, TAG_ENUMERATED, f.value)?;
                        resp.neg_state = Some(NegState::from_value(e.value)?);
                    }
                    0xa1 => {
                        resp.supported_mech =
                            Some(der::expect(WHAT, TAG_OID, f.value)?.value.to_vec())
                    }
                    0xa2 => resp.response_token = Some(octets(f.value)?),
                    0xa3 => resp.mech_list_mic = Some(octets(f.value)?),
                    _ => return Err(DecodeError::Invalid { what: WHAT }),
                }
                rest = f.rest;
            }
            Ok(NegToken::Resp(resp))
        }
        _ => Err(DecodeError::Invalid { what: WHAT }),
    }
}

fn encode_mech_list(mechs: &[Vec<u8>]) -> Vec<u8> {
    let mut oids = Vec::new();
    for m in mechs {
        der::put(&mut oids, TAG_OID, m);
    }
    der::tlv(TAG_SEQUENCE, &oids)
}

impl NegTokenInit {
    /// The DER MechTypeList, the bytes a mechListMIC covers (RFC 4178 §5).
    pub fn mech_type_list_der(&self) -> Vec<u8> {
        encode_mech_list(&self.mech_types)
    }

    /// The whole token, in the GSS InitialContextToken framing.
    pub fn encode(&self) -> Vec<u8> {
        let mut fields = Vec::new();
        der::put(&mut fields, ctx(0), &self.mech_type_list_der());
        if let Some(t) = &self.mech_token {
            der::put(&mut fields, ctx(2), &der::tlv(TAG_OCTET_STRING, t));
        }
        if let Some(m) = &self.mech_list_mic {
            der::put(&mut fields, ctx(3), &der::tlv(TAG_OCTET_STRING, m));
        }
        let mut inner = der::tlv(TAG_OID, OID_SPNEGO);
        der::put(&mut inner, ctx(0), &der::tlv(TAG_SEQUENCE, &fields));
        der::tlv(TAG_APPLICATION_0, &inner)
    }
}

impl NegTokenResp {
    /// The whole token.
    pub fn encode(&self) -> Vec<u8> {
        let mut fields = Vec::new();
        if let Some(s) = self.neg_state {
            der::put(&mut fields, ctx(0), &der::tlv(TAG_ENUMERATED, &[s.value()]));
        }
        if let Some(m) = &self.supported_mech {
            der::put(&mut fields, ctx(1), &der::tlv(TAG_OID, m));
        }
        if let Some(t) = &self.response_token {
            der::put(&mut fields, ctx(2), &der::tlv(TAG_OCTET_STRING, t));
        }
        if let Some(m) = &self.mech_list_mic {
            der::put(&mut fields, ctx(3), &der::tlv(TAG_OCTET_STRING, m));
        }
        der::tlv(0xa1, &der::tlv(TAG_SEQUENCE, &fields))
    }

    /// The server's answer to the NTLMSSP NEGOTIATE: accept-incomplete, supportedMech
    /// NTLMSSP, the CHALLENGE_MESSAGE as responseToken.
    pub fn accept_incomplete(challenge: Vec<u8>) -> Self {
        NegTokenResp {
            neg_state: Some(NegState::AcceptIncomplete),
            supported_mech: Some(OID_NTLMSSP.to_vec()),
            response_token: Some(challenge),
            mech_list_mic: None,
        }
    }

    /// The server's final answer after a verified AUTHENTICATE: accept-completed, with the
    /// server's mechListMIC when the client sent one.
    pub fn accept_completed(mech_list_mic: Option<Vec<u8>>) -> Self {
        NegTokenResp {
            neg_state: Some(NegState::AcceptCompleted),
            supported_mech: None,
            response_token: None,
            mech_list_mic,
        }
    }

    /// The server's answer when authentication failed.
    pub fn reject() -> Self {
        NegTokenResp {
            neg_state: Some(NegState::Reject),
            ..Self::default()
        }
    }
}

/// The security buffer of the server's NEGOTIATE response: a NegTokenInit offering NTLMSSP
/// (MS-SMB2 §3.3.5.4: the server's GSS token, here without the optional negHints).
pub fn server_init_token() -> Vec<u8> {
    NegTokenInit {
        mech_types: vec![OID_NTLMSSP.to_vec()],
        mech_token: None,
        mech_list_mic: None,
    }
    .encode()
}
