//! Security descriptors ([MS-DTYP] §2.4): SIDs (§2.4.2), ACEs (§2.4.4), ACLs (§2.4.5) and
//! the self-relative SECURITY_DESCRIPTOR (§2.4.6) that QUERY_INFO/SET_INFO carry for
//! InfoType SMB2_0_INFO_SECURITY (MS-SMB2 §2.2.37, §3.3.5.20.3, §3.3.5.21.3).
//!
//! Janus keeps no ACLs: a file's descriptor is derived from its Unix owner, group and mode
//! in Samba's form ([`SecurityDescriptor::from_unix`]): owner `S-1-22-1-<uid>`, group
//! `S-1-22-2-<gid>`, and a protected DACL of three allow ACEs (owner, group, Everyone) whose
//! masks come from the rwx bits as Samba's `map_canon_ace_perms` maps them with its defaults
//! (`acl map full control = yes`, `dos filemode = no`). An incoming descriptor is mapped back
//! by [`SecurityDescriptor::to_unix`] where a mode can say what it says, and reported as
//! [`NotRepresentable`] otherwise.

use crate::error::{DecodeError, DecodeResult};
use crate::status::NtStatus;
use bytes::BufMut;
use nom::bytes::complete::take;
use nom::number::complete::{le_u16, le_u32, le_u8};
use nom::sequence::tuple;
use std::fmt;
use std::str::FromStr;

/// Most sub-authorities in a SID ([MS-DTYP] §2.4.2.2: 15).
pub const MAX_SUB_AUTHORITIES: usize = 15;
/// Most ACEs decoded from one ACL (an ACL is at most 64 KiB, an ACE at least 8 bytes).
pub const MAX_ACES: usize = 8192;

/// A security identifier ([MS-DTYP] §2.4.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid {
    /// Revision (1).
    pub revision: u8,
    /// IdentifierAuthority, the 48-bit big-endian value.
    pub authority: u64,
    /// SubAuthority values.
    pub sub_authorities: Vec<u32>,
}

impl Sid {
    /// A revision-1 SID.
    pub fn new(authority: u64, sub_authorities: &[u32]) -> Sid {
        Sid {
            revision: 1,
            authority: authority & 0xFFFF_FFFF_FFFF,
            sub_authorities: sub_authorities.to_vec(),
        }
    }

    /// Everyone, S-1-1-0.
    pub fn everyone() -> Sid {
        Sid::new(1, &[0])
    }

    /// Samba's SID for a Unix user, S-1-22-1-`uid`.
    pub fn unix_user(uid: u32) -> Sid {
        Sid::new(22, &[1, uid])
    }

    /// Samba's SID for a Unix group, S-1-22-2-`gid`.
    pub fn unix_group(gid: u32) -> Sid {
        Sid::new(22, &[2, gid])
    }

    /// The uid of an S-1-22-1-`uid` SID.
    pub fn as_unix_user(&self) -> Option<u32> {
        match (
            self.revision,
            self.authority,
            self.sub_authorities.as_slice(),
        ) {
            (1, 22, [1, uid]) => Some(*uid),
            _ => None,
        }
    }

    /// The gid of an S-1-22-2-`gid` SID.
    pub fn as_unix_group(&self) -> Option<u32> {
        match (
            self.revision,
            self.authority,
            self.sub_authorities.as_slice(),
        ) {
            (1, 22, [2, gid]) => Some(*gid),
            _ => None,
        }
    }

    /// Encoded length: 8 + 4 per sub-authority.
    pub fn len(&self) -> usize {
        8 + 4 * self.sub_authorities.len()
    }

    /// A SID always has its 8-byte header, so it is never empty.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the SID.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u8(self.revision);
        out.put_u8(self.sub_authorities.len() as u8);
        out.put_slice(&self.authority.to_be_bytes()[2..]);
        for s in &self.sub_authorities {
            out.put_u32_le(*s);
        }
    }

    /// Reads a SID from the start of `b`, returning it and the bytes after it.
    pub fn decode(b: &[u8]) -> DecodeResult<(Sid, &[u8])> {
        let what = "SID";
        let (rest, (rev, count, auth)) =
            crate::wire::run(what, b, tuple((le_u8, le_u8, take(6usize))))?;
        if rev != 1 {
            return Err(DecodeError::Invalid { what });
        }
        crate::wire::limit(what, count as usize, MAX_SUB_AUTHORITIES)?;
        let mut a = [0u8; 8];
        a[2..].copy_from_slice(auth);
        let mut subs = Vec::with_capacity(count as usize);
        let mut rest = rest;
        for _ in 0..count {
            let (r, s) = crate::wire::run(what, rest, le_u32)?;
            subs.push(s);
            rest = r;
        }
        Ok((
            Sid {
                revision: rev,
                authority: u64::from_be_bytes(a),
                sub_authorities: subs,
            },
            rest,
        ))
    }
}

/// The string form ([MS-DTYP] §2.4.2.1): `S-1-5-21-...`, the authority in hex when it does
/// not fit 32 bits.
impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "S-{}-", self.revision)?;
        if self.authority >> 32 == 0 {
            write!(f, "{}", self.authority)?;
        } else {
            write!(f, "0x{:012X}", self.authority)?;
        }
        for s in &self.sub_authorities {
            write!(f, "-{s}")?;
        }
        Ok(())
    }
}

/// A malformed SID string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a SID string")]
pub struct BadSidString;

impl FromStr for Sid {
    type Err = BadSidString;

    fn from_str(s: &str) -> Result<Sid, BadSidString> {
        let rest = s
            .strip_prefix("S-")
            .or_else(|| s.strip_prefix("s-"))
            .ok_or(BadSidString)?;
        let mut parts = rest.split('-');
        let rev: u8 = parts
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or(BadSidString)?;
        let auth_s = parts.next().ok_or(BadSidString)?;
        let authority = match auth_s
            .strip_prefix("0x")
            .or_else(|| auth_s.strip_prefix("0X"))
        {
            Some(h) => u64::from_str_radix(h, 16).map_err(|_| BadSidString)?,
            None => auth_s.parse::<u64>().map_err(|_| BadSidString)?,
        };
        if rev != 1 || authority > 0xFFFF_FFFF_FFFF {
            return Err(BadSidString);
        }
        let subs = parts
            .map(|p| p.parse::<u32>().map_err(|_| BadSidString))
            .collect::<Result<Vec<u32>, _>>()?;
        if subs.len() > MAX_SUB_AUTHORITIES {
            return Err(BadSidString);
        }
        Ok(Sid {
            revision: rev,
            authority,
            sub_authorities: subs,
        })
    }
}

/// Access mask bits ([MS-DTYP] §2.4.3, [MS-SMB2] §2.2.13.1.1).
pub mod access {
    /// FILE_READ_DATA / FILE_LIST_DIRECTORY.
    pub const FILE_READ_DATA: u32 = 0x0000_0001;
    /// FILE_WRITE_DATA / FILE_ADD_FILE.
    pub const FILE_WRITE_DATA: u32 = 0x0000_0002;
    /// FILE_APPEND_DATA / FILE_ADD_SUBDIRECTORY.
    pub const FILE_APPEND_DATA: u32 = 0x0000_0004;
    /// FILE_READ_EA.
    pub const FILE_READ_EA: u32 = 0x0000_0008;
    /// FILE_WRITE_EA.
    pub const FILE_WRITE_EA: u32 = 0x0000_0010;
    /// FILE_EXECUTE / FILE_TRAVERSE.
    pub const FILE_EXECUTE: u32 = 0x0000_0020;
    /// FILE_DELETE_CHILD.
    pub const FILE_DELETE_CHILD: u32 = 0x0000_0040;
    /// FILE_READ_ATTRIBUTES.
    pub const FILE_READ_ATTRIBUTES: u32 = 0x0000_0080;
    /// FILE_WRITE_ATTRIBUTES.
    pub const FILE_WRITE_ATTRIBUTES: u32 = 0x0000_0100;
    /// DELETE.
    pub const DELETE: u32 = 0x0001_0000;
    /// READ_CONTROL.
    pub const READ_CONTROL: u32 = 0x0002_0000;
    /// WRITE_DAC.
    pub const WRITE_DAC: u32 = 0x0004_0000;
    /// WRITE_OWNER.
    pub const WRITE_OWNER: u32 = 0x0008_0000;
    /// SYNCHRONIZE.
    pub const SYNCHRONIZE: u32 = 0x0010_0000;
    /// ACCESS_SYSTEM_SECURITY: needed to read or write a SACL.
    pub const ACCESS_SYSTEM_SECURITY: u32 = 0x0100_0000;
    /// MAXIMUM_ALLOWED.
    pub const MAXIMUM_ALLOWED: u32 = 0x0200_0000;
    /// GENERIC_ALL.
    pub const GENERIC_ALL: u32 = 0x1000_0000;
    /// GENERIC_EXECUTE.
    pub const GENERIC_EXECUTE: u32 = 0x2000_0000;
    /// GENERIC_WRITE.
    pub const GENERIC_WRITE: u32 = 0x4000_0000;
    /// GENERIC_READ.
    pub const GENERIC_READ: u32 = 0x8000_0000;

    /// FILE_GENERIC_READ: READ_CONTROL | READ_DATA | READ_ATTRIBUTES | READ_EA | SYNCHRONIZE.
    pub const FILE_GENERIC_READ: u32 =
        READ_CONTROL | FILE_READ_DATA | FILE_READ_ATTRIBUTES | FILE_READ_EA | SYNCHRONIZE;
    /// FILE_GENERIC_WRITE: READ_CONTROL | WRITE_DATA | WRITE_ATTRIBUTES | WRITE_EA |
    /// APPEND_DATA | SYNCHRONIZE.
    pub const FILE_GENERIC_WRITE: u32 = READ_CONTROL
        | FILE_WRITE_DATA
        | FILE_WRITE_ATTRIBUTES
        | FILE_WRITE_EA
        | FILE_APPEND_DATA
        | SYNCHRONIZE;
    /// FILE_GENERIC_EXECUTE: READ_CONTROL | READ_ATTRIBUTES | EXECUTE | SYNCHRONIZE.
    pub const FILE_GENERIC_EXECUTE: u32 =
        READ_CONTROL | FILE_READ_ATTRIBUTES | FILE_EXECUTE | SYNCHRONIZE;
    /// FILE_ALL_ACCESS (0x001F01FF).
    pub const FILE_ALL_ACCESS: u32 = 0x001F_01FF;

    /// The mask with the four GENERIC_* bits replaced by the file rights they stand for
    /// (the file generic mapping, [MS-SMB2] §3.3.5.9 / MS-FSA).
    pub const fn map_generic(mask: u32) -> u32 {
        let mut m = mask & !(GENERIC_ALL | GENERIC_EXECUTE | GENERIC_WRITE | GENERIC_READ);
        if mask & GENERIC_READ != 0 {
            m |= FILE_GENERIC_READ;
        }
        if mask & GENERIC_WRITE != 0 {
            m |= FILE_GENERIC_WRITE;
        }
        if mask & GENERIC_EXECUTE != 0 {
            m |= FILE_GENERIC_EXECUTE;
        }
        if mask & GENERIC_ALL != 0 {
            m |= FILE_ALL_ACCESS;
        }
        m
    }
}

/// ACE types ([MS-DTYP] §2.4.4.1).
pub mod ace_type {
    /// ACCESS_ALLOWED_ACE_TYPE.
    pub const ACCESS_ALLOWED: u8 = 0x00;
    /// ACCESS_DENIED_ACE_TYPE.
    pub const ACCESS_DENIED: u8 = 0x01;
    /// SYSTEM_AUDIT_ACE_TYPE.
    pub const SYSTEM_AUDIT: u8 = 0x02;
}

/// ACE flags ([MS-DTYP] §2.4.4.1).
pub mod ace_flags {
    /// OBJECT_INHERIT_ACE.
    pub const OBJECT_INHERIT: u8 = 0x01;
    /// CONTAINER_INHERIT_ACE.
    pub const CONTAINER_INHERIT: u8 = 0x02;
    /// NO_PROPAGATE_INHERIT_ACE.
    pub const NO_PROPAGATE_INHERIT: u8 = 0x04;
    /// INHERIT_ONLY_ACE.
    pub const INHERIT_ONLY: u8 = 0x08;
    /// INHERITED_ACE.
    pub const INHERITED: u8 = 0x10;
}

/// An ACE ([MS-DTYP] §2.4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ace {
    /// An ACE with a mask and a SID (allowed, denied, audit: §2.4.4.2-4). Any bytes after the
    /// SID inside AceSize are dropped.
    Basic {
        /// AceType.
        ace_type: u8,
        /// AceFlags.
        flags: u8,
        /// Mask.
        mask: u32,
        /// Sid.
        sid: Sid,
    },
    /// Any other ACE type (object, callback, ...), kept as bytes after the 4-byte header.
    Other {
        /// AceType.
        ace_type: u8,
        /// AceFlags.
        flags: u8,
        /// The body.
        body: Vec<u8>,
    },
}

impl Ace {
    /// An allow ACE without flags.
    pub fn allow(sid: Sid, mask: u32) -> Ace {
        Ace::Basic {
            ace_type: ace_type::ACCESS_ALLOWED,
            flags: 0,
            mask,
            sid,
        }
    }

    /// AceSize.
    pub fn len(&self) -> usize {
        match self {
            Ace::Basic { sid, .. } => 8 + sid.len(),
            Ace::Other { body, .. } => 4 + body.len(),
        }
    }

    /// An ACE always has its 4-byte header, so it is never empty.
    pub fn is_empty(&self) -> bool {
        false
    }

    fn encode(&self, out: &mut impl BufMut) {
        match self {
            Ace::Basic {
                ace_type,
                flags,
                mask,
                sid,
            } => {
                out.put_u8(*ace_type);
                out.put_u8(*flags);
                out.put_u16_le(self.len() as u16);
                out.put_u32_le(*mask);
                sid.encode(out);
            }
            Ace::Other {
                ace_type,
                flags,
                body,
            } => {
                out.put_u8(*ace_type);
                out.put_u8(*flags);
                out.put_u16_le(self.len() as u16);
                out.put_slice(body);
            }
        }
    }

    fn decode(b: &[u8]) -> DecodeResult<(Ace, &[u8])> {
        let what = "ACE";
        let (_, (t, flags, size)) = crate::wire::run(what, b, tuple((le_u8, le_u8, le_u16)))?;
        let size = size as usize;
        if size < 4 {
            return Err(DecodeError::Invalid { what });
        }
        let whole = b.get(..size).ok_or(DecodeError::Truncated { what })?;
        let rest = &b[size..];
        let body = &whole[4..];
        let ace = match t {
            ace_type::ACCESS_ALLOWED | ace_type::ACCESS_DENIED | ace_type::SYSTEM_AUDIT => {
                let (sid_bytes, mask) = crate::wire::run(what, body, le_u32)?;
                let (sid, _) = Sid::decode(sid_bytes)?;
                Ace::Basic {
                    ace_type: t,
                    flags,
                    mask,
                    sid,
                }
            }
            _ => Ace::Other {
                ace_type: t,
                flags,
                body: body.to_vec(),
            },
        };
        Ok((ace, rest))
    }
}

/// An ACL ([MS-DTYP] §2.4.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    /// AclRevision (2, or 4 with object ACEs).
    pub revision: u8,
    /// The ACEs, in order.
    pub aces: Vec<Ace>,
}

impl Acl {
    /// AclSize.
    pub fn len(&self) -> usize {
        8 + self.aces.iter().map(Ace::len).sum::<usize>()
    }

    /// True when the ACL has no ACE.
    pub fn is_empty(&self) -> bool {
        self.aces.is_empty()
    }

    fn encode(&self, out: &mut impl BufMut) {
        out.put_u8(self.revision);
        out.put_u8(0);
        out.put_u16_le(self.len() as u16);
        out.put_u16_le(self.aces.len() as u16);
        out.put_u16_le(0);
        for a in &self.aces {
            a.encode(out);
        }
    }

    fn decode(b: &[u8]) -> DecodeResult<Acl> {
        let what = "ACL";
        let (_, (rev, _, size, count, _)) =
            crate::wire::run(what, b, tuple((le_u8, le_u8, le_u16, le_u16, le_u16)))?;
        if !(2..=4).contains(&rev) || (size as usize) < 8 {
            return Err(DecodeError::Invalid { what });
        }
        crate::wire::limit(what, count as usize, MAX_ACES)?;
        let whole = b
            .get(..size as usize)
            .ok_or(DecodeError::Truncated { what })?;
        let mut rest = &whole[8..];
        let mut aces = Vec::with_capacity(usize::from(count).min(64));
        for _ in 0..count {
            let (a, r) = Ace::decode(rest)?;
            aces.push(a);
            rest = r;
        }
        Ok(Acl {
            revision: rev,
            aces,
        })
    }
}

/// SECURITY_INFORMATION bits of AdditionalInformation ([MS-DTYP] §2.4.7).
pub mod security_information {
    /// OWNER_SECURITY_INFORMATION.
    pub const OWNER: u32 = 0x0000_0001;
    /// GROUP_SECURITY_INFORMATION.
    pub const GROUP: u32 = 0x0000_0002;
    /// DACL_SECURITY_INFORMATION.
    pub const DACL: u32 = 0x0000_0004;
    /// SACL_SECURITY_INFORMATION.
    pub const SACL: u32 = 0x0000_0008;
    /// LABEL_SECURITY_INFORMATION.
    pub const LABEL: u32 = 0x0000_0010;
    /// ATTRIBUTE_SECURITY_INFORMATION.
    pub const ATTRIBUTE: u32 = 0x0000_0020;
    /// SCOPE_SECURITY_INFORMATION.
    pub const SCOPE: u32 = 0x0000_0040;
    /// BACKUP_SECURITY_INFORMATION.
    pub const BACKUP: u32 = 0x0001_0000;
}

/// SECURITY_DESCRIPTOR Control bits ([MS-DTYP] §2.4.6).
pub mod control {
    /// SE_OWNER_DEFAULTED.
    pub const OWNER_DEFAULTED: u16 = 0x0001;
    /// SE_GROUP_DEFAULTED.
    pub const GROUP_DEFAULTED: u16 = 0x0002;
    /// SE_DACL_PRESENT.
    pub const DACL_PRESENT: u16 = 0x0004;
    /// SE_DACL_DEFAULTED.
    pub const DACL_DEFAULTED: u16 = 0x0008;
    /// SE_SACL_PRESENT.
    pub const SACL_PRESENT: u16 = 0x0010;
    /// SE_DACL_AUTO_INHERITED.
    pub const DACL_AUTO_INHERITED: u16 = 0x0400;
    /// SE_SACL_AUTO_INHERITED.
    pub const SACL_AUTO_INHERITED: u16 = 0x0800;
    /// SE_DACL_PROTECTED.
    pub const DACL_PROTECTED: u16 = 0x1000;
    /// SE_SACL_PROTECTED.
    pub const SACL_PROTECTED: u16 = 0x2000;
    /// SE_SELF_RELATIVE.
    pub const SELF_RELATIVE: u16 = 0x8000;
}

/// A self-relative SECURITY_DESCRIPTOR ([MS-DTYP] §2.4.6). `dacl == None` with
/// DACL_PRESENT in `control` is a NULL DACL (everyone has every right).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityDescriptor {
    /// Control.
    pub control: u16,
    /// OwnerSid.
    pub owner: Option<Sid>,
    /// GroupSid.
    pub group: Option<Sid>,
    /// Sacl.
    pub sacl: Option<Acl>,
    /// Dacl.
    pub dacl: Option<Acl>,
}

/// The owner, group and permission bits of a file, as a descriptor is derived from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UnixOwnership {
    /// Owner uid.
    pub uid: u32,
    /// Group gid.
    pub gid: u32,
    /// Mode; only the 0o777 bits count.
    pub mode: u32,
    /// A directory (the write bit then also grants FILE_DELETE_CHILD).
    pub directory: bool,
}

/// What a SET_INFO security descriptor asks to change, in Unix terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UnixSecurityChange {
    /// The new owner (OWNER_SECURITY_INFORMATION).
    pub uid: Option<u32>,
    /// The new group (GROUP_SECURITY_INFORMATION).
    pub gid: Option<u32>,
    /// The new permission bits, 0o777 at most (DACL_SECURITY_INFORMATION).
    pub mode: Option<u32>,
}

/// Why a descriptor cannot be expressed as owner, group and mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotRepresentable {
    /// The owner SID is not S-1-22-1-uid.
    #[error("owner SID is not a Unix user SID")]
    Owner,
    /// The group SID is not S-1-22-2-gid.
    #[error("group SID is not a Unix group SID")]
    Group,
    /// The DACL has something a mode cannot say: deny ACEs, inheritance, other
    /// trustees, rights without the matching read/write/execute right, or a NULL DACL.
    #[error("DACL cannot be expressed as a mode: {0}")]
    Dacl(&'static str),
    /// A SACL or other part the server does not keep.
    #[error("security information the server does not keep")]
    Unsupported,
}

impl NotRepresentable {
    /// The status a SET_INFO answers: STATUS_INVALID_OWNER / STATUS_INVALID_PRIMARY_GROUP for
    /// SIDs without a Unix id, STATUS_NOT_SUPPORTED for DACLs a mode cannot express and for
    /// SACLs, labels and the like (Janus keeps no ACLs).
    pub fn status(self) -> NtStatus {
        match self {
            NotRepresentable::Owner => NtStatus::INVALID_OWNER,
            NotRepresentable::Group => NtStatus::INVALID_PRIMARY_GROUP,
            NotRepresentable::Dacl(_) | NotRepresentable::Unsupported => NtStatus::NOT_SUPPORTED,
        }
    }
}

/// The rights Samba grants for one rwx triplet (`perms` in 0..=7, r=4 w=2 x=1):
/// `map_canon_ace_perms` with `acl map full control = yes` and `dos filemode = no`.
/// rwx is FILE_ALL_ACCESS (without DELETE on a file); none is 0; otherwise the union of
/// FILE_GENERIC_READ, FILE_GENERIC_WRITE (plus FILE_DELETE_CHILD on a directory) and
/// FILE_GENERIC_EXECUTE.
pub fn rwx_to_mask(perms: u32, directory: bool) -> u32 {
    use access::*;
    let perms = perms & 7;
    if perms == 7 {
        return if directory {
            FILE_ALL_ACCESS
        } else {
            FILE_ALL_ACCESS & !DELETE
        };
    }
    let mut m = 0;
    if perms & 4 != 0 {
        m |= FILE_GENERIC_READ;
    }
    if perms & 2 != 0 {
        m |= FILE_GENERIC_WRITE;
        if directory {
            m |= FILE_DELETE_CHILD;
        }
    }
    if perms & 1 != 0 {
        m |= FILE_GENERIC_EXECUTE;
    }
    m
}

/// The rwx triplet a mask grants, if a triplet can say it: read needs FILE_READ_DATA, write
/// FILE_WRITE_DATA, execute FILE_EXECUTE; every other bit of the mask must be one that
/// triplet's [`rwx_to_mask`] grants, or DELETE / WRITE_DAC / WRITE_OWNER / FILE_DELETE_CHILD
/// (which "Full control" adds and a mode cannot withhold from the owner anyway).
pub fn mask_to_rwx(mask: u32, directory: bool) -> Option<u32> {
    use access::*;
    let mask = map_generic(mask);
    let mut perms = 0;
    if mask & FILE_READ_DATA != 0 {
        perms |= 4;
    }
    if mask & FILE_WRITE_DATA != 0 {
        perms |= 2;
    }
    if mask & FILE_EXECUTE != 0 {
        perms |= 1;
    }
    let tolerated = rwx_to_mask(perms, directory)
        | READ_CONTROL
        | SYNCHRONIZE
        | FILE_READ_ATTRIBUTES
        | DELETE
        | WRITE_DAC
        | WRITE_OWNER
        | FILE_DELETE_CHILD;
    if mask & !tolerated != 0 {
        return None;
    }
    Some(perms)
}

impl SecurityDescriptor {
    /// The descriptor of a file in Samba's form, holding the parts AdditionalInformation
    /// asks for (MS-SMB2 §3.3.5.20.3): OWNER → S-1-22-1-uid, GROUP → S-1-22-2-gid, DACL →
    /// a protected DACL of allow ACEs for owner, group and Everyone (S-1-1-0) in that order,
    /// always all three even with no rights, as Samba answers. SACL is answered as absent
    /// (Janus keeps no audit ACEs; the server checks ACCESS_SYSTEM_SECURITY before asking).
    pub fn from_unix(u: &UnixOwnership, additional_information: u32) -> SecurityDescriptor {
        Self::from_mode(
            Sid::unix_user(u.uid),
            Sid::unix_group(u.gid),
            u.mode,
            u.directory,
            additional_information,
        )
    }

    /// [`SecurityDescriptor::from_unix`] with explicit owner and group SIDs (Samba maps a
    /// uid with a passdb account to that account's SID instead of S-1-22-1-uid; the tests
    /// use this to rebuild Samba's answer byte for byte).
    pub fn from_mode(
        owner: Sid,
        group: Sid,
        mode: u32,
        directory: bool,
        additional_information: u32,
    ) -> SecurityDescriptor {
        use security_information as si;
        let mut sd = SecurityDescriptor {
            control: control::SELF_RELATIVE,
            owner: None,
            group: None,
            sacl: None,
            dacl: None,
        };
        if additional_information & si::DACL != 0 {
            sd.control |= control::DACL_PRESENT | control::DACL_PROTECTED;
            sd.dacl = Some(mode_dacl(owner.clone(), group.clone(), mode, directory));
        }
        if additional_information & si::OWNER != 0 {
            sd.owner = Some(owner);
        }
        if additional_information & si::GROUP != 0 {
            sd.group = Some(group);
        }
        sd
    }

    /// Encoded length.
    pub fn len(&self) -> usize {
        20 + self.owner.as_ref().map_or(0, Sid::len)
            + self.group.as_ref().map_or(0, Sid::len)
            + self.sacl.as_ref().map_or(0, Acl::len)
            + self.dacl.as_ref().map_or(0, Acl::len)
    }

    /// Never empty: the 20-byte header is always there.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the self-relative form, parts in Samba's order (owner, group, SACL, DACL).
    /// SACL_PRESENT/DACL_PRESENT in Control follow the parts present (a NULL DACL keeps
    /// DACL_PRESENT as given).
    pub fn encode(&self, out: &mut impl BufMut) {
        let mut ctl = self.control | control::SELF_RELATIVE;
        if self.sacl.is_some() {
            ctl |= control::SACL_PRESENT;
        }
        if self.dacl.is_some() {
            ctl |= control::DACL_PRESENT;
        }
        let mut at = 20u32;
        let mut off = |len: Option<usize>| -> u32 {
            match len {
                Some(l) => {
                    let o = at;
                    at += l as u32;
                    o
                }
                None => 0,
            }
        };
        let o_owner = off(self.owner.as_ref().map(Sid::len));
        let o_group = off(self.group.as_ref().map(Sid::len));
        let o_sacl = off(self.sacl.as_ref().map(Acl::len));
        let o_dacl = off(self.dacl.as_ref().map(Acl::len));
        out.put_u8(1);
        out.put_u8(0);
        out.put_u16_le(ctl);
        out.put_u32_le(o_owner);
        out.put_u32_le(o_group);
        out.put_u32_le(o_sacl);
        out.put_u32_le(o_dacl);
        if let Some(s) = &self.owner {
            s.encode(out);
        }
        if let Some(s) = &self.group {
            s.encode(out);
        }
        if let Some(a) = &self.sacl {
            a.encode(out);
        }
        if let Some(a) = &self.dacl {
            a.encode(out);
        }
    }

    /// The encoding as a vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len());
        self.encode(&mut v);
        v
    }

    /// Reads a self-relative descriptor (MS-SMB2 §3.3.5.21.3 hands SET_INFO's buffer here);
    /// malformed input is a [`DecodeError`], which the server answers with
    /// STATUS_INVALID_SECURITY_DESCR ([`decode_status`]).
    pub fn decode(b: &[u8]) -> DecodeResult<SecurityDescriptor> {
        let what = "SECURITY_DESCRIPTOR";
        let (_, (rev, _, ctl, o_owner, o_group, o_sacl, o_dacl)) = crate::wire::run(
            what,
            b,
            tuple((le_u8, le_u8, le_u16, le_u32, le_u32, le_u32, le_u32)),
        )?;
        if rev != 1 || ctl & control::SELF_RELATIVE == 0 {
            return Err(DecodeError::Invalid { what });
        }
        let at = |o: u32| -> DecodeResult<Option<&[u8]>> {
            if o == 0 {
                return Ok(None);
            }
            if (o as usize) < 20 {
                return Err(DecodeError::OutOfBounds { what });
            }
            b.get(o as usize..)
                .map(Some)
                .ok_or(DecodeError::OutOfBounds { what })
        };
        let owner = at(o_owner)?
            .map(|s| Sid::decode(s).map(|x| x.0))
            .transpose()?;
        let group = at(o_group)?
            .map(|s| Sid::decode(s).map(|x| x.0))
            .transpose()?;
        let sacl = if ctl & control::SACL_PRESENT != 0 {
            at(o_sacl)?.map(Acl::decode).transpose()?
        } else {
            None
        };
        let dacl = if ctl & control::DACL_PRESENT != 0 {
            at(o_dacl)?.map(Acl::decode).transpose()?
        } else {
            None
        };
        Ok(SecurityDescriptor {
            control: ctl,
            owner,
            group,
            sacl,
            dacl,
        })
    }

    /// What this descriptor (from a SET_INFO with `additional_information`) asks of a file
    /// owned as `current`, in Unix terms, or why a mode cannot say it.
    ///
    /// OWNER maps S-1-22-1-uid, GROUP S-1-22-2-gid. DACL maps to a mode when every ACE is
    /// an allow ACE without inheritance flags (INHERITED is ignored) for the (new) owner's,
    /// the (new) group's S-1-22 SID or Everyone, and each trustee's combined mask is what
    /// an rwx triplet grants ([`mask_to_rwx`]); a trustee without an ACE gets no rights.
    /// The mode's setuid/setgid/sticky bits are the server's to keep. SACL, LABEL and the
    /// other parts are refused ([`NotRepresentable::Unsupported`]).
    pub fn to_unix(
        &self,
        additional_information: u32,
        current: &UnixOwnership,
    ) -> Result<UnixSecurityChange, NotRepresentable> {
        use security_information as si;
        let mut change = UnixSecurityChange::default();
        if additional_information & !(si::OWNER | si::GROUP | si::DACL | si::BACKUP) != 0 {
            return Err(NotRepresentable::Unsupported);
        }
        if additional_information & si::OWNER != 0 {
            let uid = self
                .owner
                .as_ref()
                .and_then(Sid::as_unix_user)
                .ok_or(NotRepresentable::Owner)?;
            change.uid = Some(uid);
        }
        if additional_information & si::GROUP != 0 {
            let gid = self
                .group
                .as_ref()
                .and_then(Sid::as_unix_group)
                .ok_or(NotRepresentable::Group)?;
            change.gid = Some(gid);
        }
        if additional_information & si::DACL != 0 {
            let dacl = self
                .dacl
                .as_ref()
                .ok_or(NotRepresentable::Dacl("NULL DACL"))?;
            let owner = Sid::unix_user(change.uid.unwrap_or(current.uid));
            let group = Sid::unix_group(change.gid.unwrap_or(current.gid));
            let mut masks = [0u32; 3];
            for ace in &dacl.aces {
                let Ace::Basic {
                    ace_type,
                    flags,
                    mask,
                    sid,
                } = ace
                else {
                    return Err(NotRepresentable::Dacl("ACE type"));
                };
                if *ace_type != ace_type::ACCESS_ALLOWED {
                    return Err(NotRepresentable::Dacl("deny or audit ACE"));
                }
                if flags & !ace_flags::INHERITED != 0 {
                    return Err(NotRepresentable::Dacl("inheritance"));
                }
                let who = if *sid == owner {
                    0
                } else if *sid == group {
                    1
                } else if *sid == Sid::everyone() {
                    2
                } else {
                    return Err(NotRepresentable::Dacl("trustee"));
                };
                masks[who] |= *mask;
            }
            let mut mode = 0;
            for (i, m) in masks.iter().enumerate() {
                let rwx =
                    mask_to_rwx(*m, current.directory).ok_or(NotRepresentable::Dacl("rights"))?;
                mode |= rwx << (6 - 3 * i);
            }
            change.mode = Some(mode);
        }
        Ok(change)
    }
}

/// The status for a SET_INFO security buffer that does not decode (MS-SMB2 §3.3.5.21.3,
/// as Windows answers): STATUS_INVALID_SECURITY_DESCR.
pub fn decode_status(_e: &DecodeError) -> NtStatus {
    NtStatus::INVALID_SECURITY_DESCR
}

/// Samba's DACL for a mode: allow owner, group and Everyone their rwx rights.
fn mode_dacl(owner: Sid, group: Sid, mode: u32, directory: bool) -> Acl {
    Acl {
        revision: 2,
        aces: vec![
            Ace::allow(owner, rwx_to_mask(mode >> 6, directory)),
            Ace::allow(group, rwx_to_mask(mode >> 3, directory)),
            Ace::allow(Sid::everyone(), rwx_to_mask(mode, directory)),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sid_strings() {
        let s: Sid = "S-1-5-21-3553247562-3211422669-2500877402-1000"
            .parse()
            .unwrap();
        assert_eq!(
            s.to_string(),
            "S-1-5-21-3553247562-3211422669-2500877402-1000"
        );
        assert_eq!(Sid::unix_user(1000).to_string(), "S-1-22-1-1000");
        assert_eq!(Sid::everyone().to_string(), "S-1-1-0");
        assert_eq!(
            Sid::new(0x1_0000_0000, &[1]).to_string(),
            "S-1-0x000100000000-1"
        );
        assert_eq!(
            "S-1-0x000100000000-1".parse::<Sid>().unwrap(),
            Sid::new(0x1_0000_0000, &[1])
        );
        assert!("S-2-1-0".parse::<Sid>().is_err());
        assert!("S-1-1-0-x".parse::<Sid>().is_err());
        assert!(format!("S-1-5{}", "-1".repeat(16)).parse::<Sid>().is_err());
        let mut v = Vec::new();
        Sid::unix_group(0).encode(&mut v);
        assert_eq!(v, [1, 2, 0, 0, 0, 0, 0, 22, 2, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn samba_masks() {
        // Figures from Samba 4.17 (smbclient showacls in the lab).
        assert_eq!(rwx_to_mask(6, false), 0x0012_019F);
        assert_eq!(rwx_to_mask(4, false), 0x0012_0089);
        assert_eq!(rwx_to_mask(0, false), 0);
        assert_eq!(rwx_to_mask(7, false), 0x001E_01FF);
        assert_eq!(rwx_to_mask(5, false), 0x0012_00A9);
        assert_eq!(rwx_to_mask(1, false), 0x0012_00A0);
        assert_eq!(rwx_to_mask(7, true), 0x001F_01FF);
        assert_eq!(rwx_to_mask(2, true), 0x0012_0156);
        for d in [false, true] {
            for p in 0..8 {
                assert_eq!(mask_to_rwx(rwx_to_mask(p, d), d), Some(p));
            }
        }
        assert_eq!(mask_to_rwx(access::GENERIC_ALL, false), Some(7));
        assert_eq!(mask_to_rwx(access::FILE_ALL_ACCESS, false), Some(7));
        // Append without write data cannot be said by a mode.
        assert_eq!(mask_to_rwx(access::FILE_APPEND_DATA, false), None);
    }

    #[test]
    fn derived_descriptor_round_trips_to_mode() {
        let u = UnixOwnership {
            uid: 1000,
            gid: 100,
            mode: 0o750,
            directory: true,
        };
        let sd = SecurityDescriptor::from_unix(&u, 0x7);
        let bytes = sd.to_vec();
        assert_eq!(bytes.len(), sd.len());
        let back = SecurityDescriptor::decode(&bytes).unwrap();
        assert_eq!(back, sd);
        assert_eq!(
            back.to_unix(0x7, &u),
            Ok(UnixSecurityChange {
                uid: Some(1000),
                gid: Some(100),
                mode: Some(0o750)
            })
        );
        // Only the owner asked for.
        let o = SecurityDescriptor::from_unix(&u, security_information::OWNER);
        assert_eq!(o.to_vec().len(), 20 + 16);
        assert_eq!(o.control, control::SELF_RELATIVE);
    }

    #[test]
    fn not_representable() {
        let u = UnixOwnership {
            uid: 1,
            gid: 2,
            mode: 0o644,
            directory: false,
        };
        let mut sd = SecurityDescriptor::from_unix(&u, 0x7);
        sd.owner = Some("S-1-5-21-1-2-3-500".parse().unwrap());
        assert_eq!(sd.to_unix(0x1, &u), Err(NotRepresentable::Owner));
        assert_eq!(
            sd.to_unix(0x1, &u).unwrap_err().status(),
            NtStatus::INVALID_OWNER
        );
        let deny = SecurityDescriptor {
            control: control::SELF_RELATIVE | control::DACL_PRESENT,
            owner: None,
            group: None,
            sacl: None,
            dacl: Some(Acl {
                revision: 2,
                aces: vec![Ace::Basic {
                    ace_type: ace_type::ACCESS_DENIED,
                    flags: 0,
                    mask: 1,
                    sid: Sid::everyone(),
                }],
            }),
        };
        assert!(matches!(
            deny.to_unix(0x4, &u),
            Err(NotRepresentable::Dacl(_))
        ));
        let null = SecurityDescriptor {
            dacl: None,
            ..deny.clone()
        };
        assert!(matches!(
            null.to_unix(0x4, &u),
            Err(NotRepresentable::Dacl(_))
        ));
        assert_eq!(deny.to_unix(0x8, &u), Err(NotRepresentable::Unsupported));
        // Everyone read only: mode 0o004.
        let only = SecurityDescriptor {
            dacl: Some(Acl {
                revision: 2,
                aces: vec![Ace::allow(Sid::everyone(), access::GENERIC_READ)],
            }),
            ..deny
        };
        assert_eq!(only.to_unix(0x4, &u).unwrap().mode, Some(0o004));
    }

    #[test]
    fn malformed() {
        assert!(SecurityDescriptor::decode(&[1, 0, 0, 0x80]).is_err());
        // Owner offset into the header.
        let mut b = vec![1, 0, 0x04, 0x80, 4, 0, 0, 0];
        b.extend_from_slice(&[0; 12]);
        assert!(SecurityDescriptor::decode(&b).is_err());
        // 16 sub-authorities.
        let mut s = vec![1, 16, 0, 0, 0, 0, 0, 5];
        s.extend_from_slice(&[0; 64]);
        assert!(Sid::decode(&s).is_err());
    }
}
