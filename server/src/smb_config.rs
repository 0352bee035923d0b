//! The SMB settings of a share (issue 10's per-share config keys `guest_ok`,
//! `smb_encrypt`, `smb_signing`, `case_insensitive`), as the runtime resolved them; the SMB
//! connection machine applies them at TREE_CONNECT and on every request of the tree.
//! `read_only` and `clients` are the share's own ([`crate::ShareConfig`]) and apply to
//! both protocols.

/// Encryption of a share's traffic (`smb_encrypt`, MS-SMB2 §3.3.5.7: Share.EncryptData,
/// Server.RejectUnencryptedAccess).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmbEncrypt {
    /// Never encrypt (clients that ask for it per session still get it).
    Off,
    /// Encrypt for clients that can (SMB 3.x); others are served in the clear.
    #[default]
    Desired,
    /// Encrypt always; a client that cannot (SMB 2.x) is refused with
    /// STATUS_ACCESS_DENIED at TREE_CONNECT.
    Required,
}

impl SmbEncrypt {
    /// The config value: `off`, `desired`, `required`.
    pub fn as_str(self) -> &'static str {
        match self {
            SmbEncrypt::Off => "off",
            SmbEncrypt::Desired => "desired",
            SmbEncrypt::Required => "required",
        }
    }

    /// Parses a config value (exactly as [`SmbEncrypt::as_str`] writes it).
    pub fn parse(s: &str) -> Option<Self> {
        [SmbEncrypt::Off, SmbEncrypt::Desired, SmbEncrypt::Required]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// Signing of a share's traffic (`smb_signing`, MS-SMB2 §3.3.5.5: the NEGOTIATE
/// SecurityMode and Session.SigningRequired).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmbSigning {
    /// Sign when the client asks for it (SMB2_NEGOTIATE_SIGNING_ENABLED).
    #[default]
    Enabled,
    /// Sessions using the share must sign (SMB2_NEGOTIATE_SIGNING_REQUIRED); unsigned
    /// requests are refused.
    Required,
}

impl SmbSigning {
    /// The config value: `enabled`, `required`.
    pub fn as_str(self) -> &'static str {
        match self {
            SmbSigning::Enabled => "enabled",
            SmbSigning::Required => "required",
        }
    }

    /// Parses a config value (exactly as [`SmbSigning::as_str`] writes it).
    pub fn parse(s: &str) -> Option<Self> {
        [SmbSigning::Enabled, SmbSigning::Required]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// The SMB settings of one share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmbShareConfig {
    /// Let unauthenticated (guest) sessions use the share, as the share's `anon_uid` /
    /// `anon_gid` (`guest_ok`, default false).
    pub guest_ok: bool,
    /// `smb_encrypt` (default [`SmbEncrypt::Desired`]).
    pub encrypt: SmbEncrypt,
    /// `smb_signing` (default [`SmbSigning::Enabled`]).
    pub signing: SmbSigning,
    /// Match SMB names to directory entries without regard to case, as Windows clients
    /// expect and Samba does on a case-sensitive disk (`case_insensitive`, default true).
    pub case_insensitive: bool,
}

impl Default for SmbShareConfig {
    fn default() -> Self {
        SmbShareConfig {
            guest_ok: false,
            encrypt: SmbEncrypt::Desired,
            signing: SmbSigning::Enabled,
            case_insensitive: true,
        }
    }
}

/// A share key with a value it does not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    /// The key (`smb_encrypt`, `smb_signing`).
    pub key: &'static str,
    /// The value given.
    pub value: String,
    /// What the key takes.
    pub expected: &'static str,
}

impl SmbShareConfig {
    /// The settings from a share's config keys as written (`None`: not given, the
    /// default).
    pub fn from_keys(
        guest_ok: Option<bool>,
        smb_encrypt: Option<&str>,
        smb_signing: Option<&str>,
        case_insensitive: Option<bool>,
    ) -> Result<SmbShareConfig, KeyError> {
        let d = SmbShareConfig::default();
        let bad = |key, value: &str, expected| KeyError {
            key,
            value: value.to_string(),
            expected,
        };
        Ok(SmbShareConfig {
            guest_ok: guest_ok.unwrap_or(d.guest_ok),
            encrypt: match smb_encrypt {
                None => d.encrypt,
                Some(v) => SmbEncrypt::parse(v).ok_or_else(|| {
                    bad(
                        "smb_encrypt",
                        v,
                        "expected \"off\", \"desired\" or \"required\"",
                    )
                })?,
            },
            signing: match smb_signing {
                None => d.signing,
                Some(v) => SmbSigning::parse(v)
                    .ok_or_else(|| bad("smb_signing", v, "expected \"enabled\" or \"required\""))?,
            },
            case_insensitive: case_insensitive.unwrap_or(d.case_insensitive),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_defaults_are_issue_10s() {
        for v in [SmbEncrypt::Off, SmbEncrypt::Desired, SmbEncrypt::Required] {
            assert_eq!(SmbEncrypt::parse(v.as_str()), Some(v));
        }
        for v in [SmbSigning::Enabled, SmbSigning::Required] {
            assert_eq!(SmbSigning::parse(v.as_str()), Some(v));
        }
        assert_eq!(SmbEncrypt::parse("Desired"), None);
        assert_eq!(SmbSigning::parse("disabled"), None);
        let d = SmbShareConfig::default();
        assert!(!d.guest_ok && d.case_insensitive);
        assert_eq!(
            (d.encrypt, d.signing),
            (SmbEncrypt::Desired, SmbSigning::Enabled)
        );
    }

    #[test]
    fn from_keys_fills_defaults_and_names_the_bad_key() {
        assert_eq!(
            SmbShareConfig::from_keys(None, None, None, None),
            Ok(SmbShareConfig::default())
        );
        assert_eq!(
            SmbShareConfig::from_keys(Some(true), Some("off"), Some("required"), Some(false)),
            Ok(SmbShareConfig {
                guest_ok: true,
                encrypt: SmbEncrypt::Off,
                signing: SmbSigning::Required,
                case_insensitive: false,
            })
        );
        let e = SmbShareConfig::from_keys(None, Some("yes"), None, None).unwrap_err();
        assert_eq!((e.key, e.value.as_str()), ("smb_encrypt", "yes"));
        let e = SmbShareConfig::from_keys(None, None, Some("off"), None).unwrap_err();
        assert_eq!((e.key, e.value.as_str()), ("smb_signing", "off"));
    }
}
