//! RPC authentication (RFC 5531 §8.2, §9 `auth_stat`, Appendix A AUTH_SYS).
//!
//! An [`OpaqueAuth`] is what travels on the wire: a flavor and at most 400 bytes of body.
//! [`Credential::from_call`] interprets the credential/verifier pair of a call: AUTH_NONE and
//! AUTH_SYS are understood, anything else is refused with the `auth_stat` the server sends
//! back (RFC 5531 §9: AUTH_ERROR).

use arbitrary::Arbitrary;
use bytes::{Bytes, BytesMut};

use crate::xdr::{self, XResult, XdrDecode, XdrEncode, XdrError, XdrErrorKind};

/// Largest `opaque_auth` body (RFC 5531 §8.2: `opaque body<400>`).
pub const MAX_AUTH_BYTES: u32 = 400;
/// Largest AUTH_SYS machine name (RFC 5531 Appendix A: `string machinename<255>`).
pub const MAX_MACHINE_NAME: u32 = 255;
/// Most supplementary gids in AUTH_SYS (RFC 5531 Appendix A: `unsigned int gids<16>`).
pub const MAX_AUTH_SYS_GIDS: u32 = 16;

/// An authentication flavor number (RFC 5531 §8.2 `auth_flavor`). Kept open-ended because
/// flavors are assigned by IANA and a peer may send any of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Arbitrary)]
pub struct AuthFlavor(pub u32);

impl AuthFlavor {
    /// AUTH_NONE (0).
    pub const NONE: AuthFlavor = AuthFlavor(0);
    /// AUTH_SYS, formerly AUTH_UNIX (1).
    pub const SYS: AuthFlavor = AuthFlavor(1);
    /// AUTH_SHORT (2).
    pub const SHORT: AuthFlavor = AuthFlavor(2);
    /// AUTH_DH (3).
    pub const DH: AuthFlavor = AuthFlavor(3);
    /// RPCSEC_GSS (6, RFC 2203).
    pub const RPCSEC_GSS: AuthFlavor = AuthFlavor(6);
}

/// `opaque_auth` (RFC 5531 §8.2): a flavor and an opaque body of at most 400 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Arbitrary)]
pub struct OpaqueAuth {
    /// The flavor.
    pub flavor: AuthFlavor,
    /// The flavor-specific body.
    #[arbitrary(with = arb_auth_body)]
    pub body: Bytes,
}

fn arb_auth_body(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Bytes> {
    super::arb::bytes_max(u, MAX_AUTH_BYTES as usize)
}

impl OpaqueAuth {
    /// The AUTH_NONE credential or verifier with an empty body.
    pub const fn none() -> Self {
        OpaqueAuth {
            flavor: AuthFlavor::NONE,
            body: Bytes::new(),
        }
    }

    /// An AUTH_SYS credential carrying `parms`.
    pub fn sys(parms: &AuthSysParms) -> Self {
        OpaqueAuth {
            flavor: AuthFlavor::SYS,
            body: parms.to_bytes(),
        }
    }
}

impl XdrDecode for OpaqueAuth {
    fn decode(input: &[u8]) -> XResult<'_, Self> {
        let (rest, flavor) = xdr::u32(input)?;
        let (rest, body) = xdr::opaque_bytes(rest, MAX_AUTH_BYTES)?;
        Ok((
            rest,
            OpaqueAuth {
                flavor: AuthFlavor(flavor),
                body,
            },
        ))
    }
}

impl XdrEncode for OpaqueAuth {
    fn encode(&self, out: &mut BytesMut) {
        xdr::put_u32(out, self.flavor.0);
        xdr::put_opaque_var(out, &self.body);
    }
}

/// `authsys_parms` (RFC 5531 Appendix A), the body of an AUTH_SYS credential.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Arbitrary)]
pub struct AuthSysParms {
    /// Arbitrary id the client generates.
    pub stamp: u32,
    /// The caller's host name (at most 255 bytes, not necessarily UTF-8).
    #[arbitrary(with = arb_machine_name)]
    pub machinename: Bytes,
    /// Effective user id.
    pub uid: u32,
    /// Effective group id.
    pub gid: u32,
    /// Supplementary groups, at most 16.
    #[arbitrary(with = arb_gids)]
    pub gids: Vec<u32>,
}

fn arb_machine_name(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Bytes> {
    super::arb::bytes_max(u, MAX_MACHINE_NAME as usize)
}

fn arb_gids(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Vec<u32>> {
    super::arb::u32s_max(u, MAX_AUTH_SYS_GIDS as usize)
}

impl XdrDecode for AuthSysParms {
    fn decode(input: &[u8]) -> XResult<'_, Self> {
        let (rest, stamp) = xdr::u32(input)?;
        let (rest, machinename) = xdr::string(rest, MAX_MACHINE_NAME)?;
        let (rest, uid) = xdr::u32(rest)?;
        let (rest, gid) = xdr::u32(rest)?;
        let (rest, gids) = xdr::array(rest, MAX_AUTH_SYS_GIDS, 4, xdr::u32)?;
        Ok((
            rest,
            AuthSysParms {
                stamp,
                machinename,
                uid,
                gid,
                gids,
            },
        ))
    }
}

impl XdrEncode for AuthSysParms {
    fn encode(&self, out: &mut BytesMut) {
        xdr::put_u32(out, self.stamp);
        xdr::put_string(out, &self.machinename);
        xdr::put_u32(out, self.uid);
        xdr::put_u32(out, self.gid);
        xdr::put_array(out, &self.gids, |o, g| xdr::put_u32(o, *g));
    }
}

/// `auth_stat` (RFC 5531 §9, RFC 2203 §5.3.3.3): why authentication failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Arbitrary)]
#[repr(u32)]
pub enum AuthStat {
    /// AUTH_OK: success (never sent inside AUTH_ERROR).
    Ok = 0,
    /// AUTH_BADCRED: bad credential (seal broken, malformed body).
    BadCred = 1,
    /// AUTH_REJECTEDCRED: client must begin a new session.
    RejectedCred = 2,
    /// AUTH_BADVERF: bad verifier.
    BadVerf = 3,
    /// AUTH_REJECTEDVERF: verifier expired or replayed.
    RejectedVerf = 4,
    /// AUTH_TOOWEAK: rejected for security reasons.
    TooWeak = 5,
    /// AUTH_INVALIDRESP: bogus response verifier (client side).
    InvalidResp = 6,
    /// AUTH_FAILED: reason unknown.
    Failed = 7,
    /// AUTH_KERB_GENERIC: Kerberos generic error.
    KerbGeneric = 8,
    /// AUTH_TIMEEXPIRE: time of credential expired.
    TimeExpire = 9,
    /// AUTH_TKT_FILE: problem with ticket file.
    TktFile = 10,
    /// AUTH_DECODE: cannot decode authenticator.
    Decode = 11,
    /// AUTH_NET_ADDR: wrong net address in ticket.
    NetAddr = 12,
    /// RPCSEC_GSS_CREDPROBLEM: no credentials for user (RFC 2203).
    RpcsecGssCredProblem = 13,
    /// RPCSEC_GSS_CTXPROBLEM: problem with context (RFC 2203).
    RpcsecGssCtxProblem = 14,
}

impl AuthStat {
    /// The wire value.
    pub const fn to_u32(self) -> u32 {
        self as u32
    }

    /// Parses a wire value; `None` for values RFC 5531 does not define.
    pub const fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            0 => AuthStat::Ok,
            1 => AuthStat::BadCred,
            2 => AuthStat::RejectedCred,
            3 => AuthStat::BadVerf,
            4 => AuthStat::RejectedVerf,
            5 => AuthStat::TooWeak,
            6 => AuthStat::InvalidResp,
            7 => AuthStat::Failed,
            8 => AuthStat::KerbGeneric,
            9 => AuthStat::TimeExpire,
            10 => AuthStat::TktFile,
            11 => AuthStat::Decode,
            12 => AuthStat::NetAddr,
            13 => AuthStat::RpcsecGssCredProblem,
            14 => AuthStat::RpcsecGssCtxProblem,
            _ => return None,
        })
    }
}

impl XdrDecode for AuthStat {
    fn decode(input: &[u8]) -> XResult<'_, Self> {
        let (rest, v) = xdr::u32(input)?;
        match AuthStat::from_u32(v) {
            Some(s) => Ok((rest, s)),
            None => XdrError::fail(input, XdrErrorKind::BadDiscriminant(v)),
        }
    }
}

impl XdrEncode for AuthStat {
    fn encode(&self, out: &mut BytesMut) {
        xdr::put_u32(out, self.to_u32());
    }
}

/// An authenticated caller as the server understands it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Credential {
    /// AUTH_NONE: an anonymous caller.
    None,
    /// AUTH_SYS: the caller's claimed identity.
    Sys(AuthSysParms),
}

impl Credential {
    /// Interprets a call's credential and verifier (RFC 5531 §8.2, Appendix A).
    ///
    /// - AUTH_NONE credential: body must be empty, else AUTH_BADCRED.
    /// - AUTH_SYS credential: body must be exactly one well-formed `authsys_parms` (machine
    ///   name ≤ 255 bytes, ≤ 16 gids, no trailing bytes), else AUTH_BADCRED.
    /// - Any other flavor: AUTH_BADCRED (the flavor is not one this server speaks; Linux's
    ///   sunrpc answers the same).
    /// - The verifier of both flavors must be AUTH_NONE with an empty body, else
    ///   AUTH_BADVERF (Appendix A: "the verifier accompanying the credentials should be of
    ///   AUTH_NONE").
    pub fn from_call(cred: &OpaqueAuth, verf: &OpaqueAuth) -> Result<Credential, AuthStat> {
        let credential = match cred.flavor {
            AuthFlavor::NONE if cred.body.is_empty() => Credential::None,
            AuthFlavor::SYS => match AuthSysParms::decode_exact(&cred.body) {
                Ok(parms) => Credential::Sys(parms),
                Err(_) => return Err(AuthStat::BadCred),
            },
            _ => return Err(AuthStat::BadCred),
        };
        if verf.flavor != AuthFlavor::NONE || !verf.body.is_empty() {
            return Err(AuthStat::BadVerf);
        }
        Ok(credential)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sys_body(gids: u32, name_len: u32) -> Bytes {
        let mut out = BytesMut::new();
        xdr::put_u32(&mut out, 7);
        xdr::put_u32(&mut out, name_len);
        xdr::put_opaque_fixed(&mut out, &vec![b'h'; name_len as usize]);
        xdr::put_u32(&mut out, 1000);
        xdr::put_u32(&mut out, 100);
        xdr::put_u32(&mut out, gids);
        for g in 0..gids {
            xdr::put_u32(&mut out, g);
        }
        out.freeze()
    }

    fn sys(body: Bytes) -> OpaqueAuth {
        OpaqueAuth {
            flavor: AuthFlavor::SYS,
            body,
        }
    }

    #[test]
    fn auth_sys_with_16_gids_is_accepted() {
        let c = Credential::from_call(&sys(sys_body(16, 255)), &OpaqueAuth::none());
        let Ok(Credential::Sys(p)) = c else {
            panic!("expected AUTH_SYS, got {c:?}")
        };
        assert_eq!((p.uid, p.gid, p.gids.len()), (1000, 100, 16));
    }

    #[test]
    fn auth_sys_with_17_gids_is_badcred() {
        let c = Credential::from_call(&sys(sys_body(17, 4)), &OpaqueAuth::none());
        assert_eq!(c, Err(AuthStat::BadCred));
    }

    #[test]
    fn auth_sys_machine_name_over_255_is_badcred() {
        let c = Credential::from_call(&sys(sys_body(0, 256)), &OpaqueAuth::none());
        assert_eq!(c, Err(AuthStat::BadCred));
    }

    #[test]
    fn auth_sys_truncated_or_trailing_is_badcred() {
        let body = sys_body(2, 4);
        let short = body.slice(..body.len() - 4);
        assert_eq!(
            Credential::from_call(&sys(short), &OpaqueAuth::none()),
            Err(AuthStat::BadCred)
        );
        let mut long = BytesMut::from(&body[..]);
        long.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(
            Credential::from_call(&sys(long.freeze()), &OpaqueAuth::none()),
            Err(AuthStat::BadCred)
        );
    }

    #[test]
    fn unknown_flavor_is_badcred_and_bad_verifier_is_badverf() {
        let gss = OpaqueAuth {
            flavor: AuthFlavor::RPCSEC_GSS,
            body: Bytes::new(),
        };
        assert_eq!(
            Credential::from_call(&gss, &OpaqueAuth::none()),
            Err(AuthStat::BadCred)
        );
        let verf = OpaqueAuth {
            flavor: AuthFlavor::SYS,
            body: Bytes::new(),
        };
        assert_eq!(
            Credential::from_call(&OpaqueAuth::none(), &verf),
            Err(AuthStat::BadVerf)
        );
    }
}
