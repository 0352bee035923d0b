//! The SMB user table: who may log on over SMB, with which NT hash, and which Unix uid and
//! gid their file operations run as. [`Users::parse`] reads the users file written by
//! `janus user add|del` and [`Users::to_text`] writes it; the SMB connection machine looks a
//! logon name up with [`Users::lookup`]. Bytes in, struct out: the runtime reads and writes
//! the file (mode 0600, atomic replace).
//!
//! # The users file, version 1
//! ```text
//! # janus users v1
//! # name:uid:gid:nthash -- written by `janus user add|del`; keep it mode 0600
//! alice:1000:1000:8846f7eaee8fb117ad06bdd830b7586c
//! guest-writer:-:-:31d6cfe0d16ae931b73c59d7e0c089c0
//! ```
//! - The first line is the header `# janus users v1`; a file with another version is
//!   refused rather than misread. An empty file is an empty table.
//! - Every other line is empty, a comment (`#` first), or one user: four fields separated
//!   by `:` — the name, the uid, the gid (decimal, or `-` for "the share's `anon_uid` /
//!   `anon_gid`": the user has no local account), and the NT hash as 32 hex digits.
//! - The NT hash is MD4 of the UTF-16LE password (MS-NLMP §3.3.1, NTOWFv1): enough to
//!   check an NTLMv2 response (NTOWFv2 is keyed with it), so the file is a password
//!   equivalent and must stay private; the password itself is never stored.
//! - Names are compared case-insensitively, as Windows compares account names, with a
//!   one-to-one upper-case mapping per character ([`fold`]); two names that fold alike are
//!   one user. Comments other than the header are not kept when the file is rewritten.
//!
//! Names follow the Windows rules for user logon names (1 to [`MAX_NAME_CHARS`] characters,
//! none of `" / \ [ ] : ; | = , + * ? < >`, no control characters, not only dots and
//! spaces) and, for this file's sake, neither start nor end with whitespace nor start with
//! `#`.

use std::collections::BTreeMap;
use std::fmt;

/// The header line of version 1 of the users file.
pub const HEADER_V1: &str = "# janus users v1";
/// The start of the header line of every version.
const HEADER_PREFIX: &str = "# janus users v";
/// Longest user name, in characters (Windows' limit for a logon name is 20; local Unix
/// accounts may be longer, and NTLM carries any length).
pub const MAX_NAME_CHARS: usize = 64;
/// Most users in one file: bounds the memory a file can make the server take.
pub const MAX_USERS: usize = 65_536;
/// Largest users file accepted, in bytes (a generous bound above [`MAX_USERS`] lines).
pub const MAX_FILE_BYTES: usize = 16 << 20;

/// Characters Windows refuses in a user logon name.
const FORBIDDEN: &[char] = &[
    '"', '/', '\\', '[', ']', ':', ';', '|', '=', ',', '+', '*', '?', '<', '>',
];

/// One SMB user.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// The name as written by `janus user add` (lookups ignore case).
    pub name: String,
    /// Unix uid of the user's file operations; `None`: the share's `anon_uid`.
    pub uid: Option<u32>,
    /// Unix gid of the user's file operations; `None`: the share's `anon_gid`.
    pub gid: Option<u32>,
    /// MD4 of the UTF-16LE password (MS-NLMP §3.3.1).
    pub nt_hash: [u8; 16],
    /// Supplementary gids of the local account with the user's uid, as `/etc/group` lists
    /// them when the server starts ([`Users::resolve_groups`]); not stored in the file, so
    /// a change of group membership takes effect at the next start, as a login's does.
    pub groups: Vec<u32>,
}

impl User {
    /// The uid and gid the user's file operations run as on a share whose anonymous ids
    /// are `anon_uid`/`anon_gid`.
    pub fn ids(&self, anon_uid: u32, anon_gid: u32) -> (u32, u32) {
        (self.uid.unwrap_or(anon_uid), self.gid.unwrap_or(anon_gid))
    }

    /// The credentials the user's file operations run with on such a share, for the access
    /// checks ([`crate::smb_access`]) and the `vfs` caller: its uid and gid, and the
    /// supplementary groups of its account ([`Users::resolve_groups`]).
    pub fn creds(&self, anon_uid: u32, anon_gid: u32) -> proto_nfs::server::Creds {
        let (uid, gid) = self.ids(anon_uid, anon_gid);
        proto_nfs::server::Creds {
            uid,
            gid,
            // Only a user with its own uid has its account's groups.
            gids: if self.uid.is_some() {
                self.groups.clone()
            } else {
                Vec::new()
            },
        }
    }
}

/// The hash is a password equivalent: it never reaches a log through `{:?}`.
impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("uid", &self.uid)
            .field("gid", &self.gid)
            .field("nt_hash", &"<redacted>")
            .field("groups", &self.groups)
            .finish()
    }
}

/// Why a user name is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    /// The name is empty.
    Empty,
    /// The name has more than [`MAX_NAME_CHARS`] characters.
    TooLong(usize),
    /// The name contains a character Windows or this file does not allow.
    Char(char),
    /// The name is only dots and spaces (Windows refuses it).
    OnlyDotsAndSpaces,
    /// The name starts or ends with whitespace, or starts with `#`.
    Edge,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => write!(f, "the user name is empty"),
            NameError::TooLong(n) => write!(
                f,
                "the user name has {n} characters, more than {MAX_NAME_CHARS}"
            ),
            NameError::Char(c) if c.is_control() => write!(
                f,
                "the user name contains the control character U+{:04X}",
                u32::from(*c)
            ),
            NameError::Char(c) => write!(
                f,
                "the user name contains {c:?}; none of \" / \\ [ ] : ; | = , + * ? < > is allowed"
            ),
            NameError::OnlyDotsAndSpaces => {
                write!(f, "the user name is only dots and spaces")
            }
            NameError::Edge => write!(
                f,
                "the user name starts or ends with whitespace, or starts with '#'"
            ),
        }
    }
}

impl std::error::Error for NameError {}

/// Checks a user name against the rules in the module documentation.
pub fn check_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(NameError::TooLong(chars));
    }
    if let Some(c) = name
        .chars()
        .find(|c| c.is_control() || FORBIDDEN.contains(c))
    {
        return Err(NameError::Char(c));
    }
    if name.chars().all(|c| c == '.' || c == ' ') {
        return Err(NameError::OnlyDotsAndSpaces);
    }
    let edge = |c: Option<char>| c.is_some_and(char::is_whitespace);
    if edge(name.chars().next()) || edge(name.chars().last()) || name.starts_with('#') {
        return Err(NameError::Edge);
    }
    Ok(())
}

/// The case-insensitive key of a name: every character upper-cased where that maps it to
/// exactly one character (Windows' `RtlUpcaseUnicodeChar` is a per-character table, so `ß`
/// stays `ß` and does not become `SS`).
pub fn fold(name: &str) -> String {
    name.chars()
        .map(|c| {
            let mut up = c.to_uppercase();
            match (up.next(), up.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        })
        .collect()
}

/// A users file that cannot be read: the line (counting from 1) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Line number, from 1 (0: the file as a whole).
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.reason)
        } else {
            write!(f, "line {}: {}", self.line, self.reason)
        }
    }
}

impl std::error::Error for ParseError {}

/// The user table: users in file order, looked up by name without regard to case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Users {
    users: Vec<User>,
    /// [`fold`]ed name -> index in `users`.
    index: BTreeMap<String, usize>,
}

/// Adding a user failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertError {
    /// The name is not valid.
    Name(NameError),
    /// The table already has [`MAX_USERS`] users.
    Full,
}

impl fmt::Display for InsertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InsertError::Name(e) => e.fmt(f),
            InsertError::Full => write!(f, "the users file already has {MAX_USERS} users"),
        }
    }
}

impl std::error::Error for InsertError {}

impl Users {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a users file (see the module documentation). Errors name the line.
    pub fn parse(text: &str) -> Result<Users, ParseError> {
        let err = |line: usize, reason: String| ParseError { line, reason };
        if text.len() > MAX_FILE_BYTES {
            return Err(err(
                0,
                format!(
                    "the file has {} bytes, more than the {MAX_FILE_BYTES} a users file may have",
                    text.len()
                ),
            ));
        }
        let mut users = Users::new();
        if text.is_empty() {
            return Ok(users);
        }
        // Which line each user came from, to name both lines of a duplicate.
        let mut line_of: Vec<usize> = Vec::new();
        for (i, raw) in text.split('\n').enumerate() {
            let n = i + 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if n == 1 {
                if line == HEADER_V1 {
                    continue;
                }
                return Err(match line.strip_prefix(HEADER_PREFIX) {
                    Some(v) => err(
                        1,
                        format!(
                            "users file version {v:?} is not supported by this janus (it reads v1)"
                        ),
                    ),
                    None => err(
                        1,
                        format!("not a janus users file: the first line must be {HEADER_V1:?}"),
                    ),
                });
            }
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split(':').collect();
            let [name, uid, gid, hash] = fields[..] else {
                return Err(err(
                    n,
                    format!(
                        "expected name:uid:gid:nthash (4 fields separated by ':'), found {} fields",
                        fields.len()
                    ),
                ));
            };
            check_name(name).map_err(|e| err(n, format!("user {name:?}: {e}")))?;
            let id = |what: &str, s: &str| -> Result<Option<u32>, ParseError> {
                if s == "-" {
                    return Ok(None);
                }
                // `u32::from_str` accepts a leading '+'; the file has plain digits only.
                if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err(
                        n,
                        format!("user {name:?}: {what} {s:?} is not a number from 0 to 4294967295 or '-'"),
                    ));
                }
                s.parse::<u32>().map(Some).map_err(|_| {
                    err(
                        n,
                        format!("user {name:?}: {what} {s:?} is not a number from 0 to 4294967295 or '-'"),
                    )
                })
            };
            let uid = id("uid", uid)?;
            let gid = id("gid", gid)?;
            let nt_hash = parse_hash(hash).ok_or_else(|| {
                err(
                    n,
                    format!("user {name:?}: the NT hash must be 32 hexadecimal digits"),
                )
            })?;
            if let Some(&j) = users.index.get(&fold(name)) {
                return Err(err(
                    n,
                    format!(
                        "user {name:?} is already declared on line {} as {:?} (names are not case-sensitive)",
                        line_of[j], users.users[j].name
                    ),
                ));
            }
            if users.users.len() >= MAX_USERS {
                return Err(err(n, format!("more than {MAX_USERS} users")));
            }
            users.index.insert(fold(name), users.users.len());
            users.users.push(User {
                name: name.to_string(),
                uid,
                gid,
                nt_hash,
                groups: Vec::new(),
            });
            line_of.push(n);
        }
        Ok(users)
    }

    /// The file text: the header, a comment naming the fields, one line per user in table
    /// order. [`Users::parse`] of it gives the same table.
    pub fn to_text(&self) -> String {
        use fmt::Write as _;
        let mut s = String::with_capacity(80 + self.users.len() * 64);
        s.push_str(HEADER_V1);
        s.push('\n');
        s.push_str("# name:uid:gid:nthash -- written by `janus user add|del`; keep it mode 0600\n");
        let id = |v: Option<u32>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
        for u in &self.users {
            let _ = write!(s, "{}:{}:{}:", u.name, id(u.uid), id(u.gid));
            for b in u.nt_hash {
                let _ = write!(s, "{b:02x}");
            }
            s.push('\n');
        }
        s
    }

    /// The user with this logon name, ignoring case.
    pub fn lookup(&self, name: &str) -> Option<&User> {
        self.index.get(&fold(name)).map(|&i| &self.users[i])
    }

    /// Adds `user`, or replaces the user whose name folds alike (keeping its place in the
    /// table; the name takes the new spelling). Returns the user replaced.
    pub fn insert(&mut self, user: User) -> Result<Option<User>, InsertError> {
        check_name(&user.name).map_err(InsertError::Name)?;
        let key = fold(&user.name);
        if let Some(&i) = self.index.get(&key) {
            return Ok(Some(std::mem::replace(&mut self.users[i], user)));
        }
        if self.users.len() >= MAX_USERS {
            return Err(InsertError::Full);
        }
        self.index.insert(key, self.users.len());
        self.users.push(user);
        Ok(None)
    }

    /// Removes the user with this name (ignoring case); returns it.
    pub fn remove(&mut self, name: &str) -> Option<User> {
        let i = self.index.remove(&fold(name))?;
        let user = self.users.remove(i);
        for j in self.index.values_mut() {
            if *j > i {
                *j -= 1;
            }
        }
        Some(user)
    }

    /// The users in table (file) order.
    pub fn iter(&self) -> impl Iterator<Item = &User> {
        self.users.iter()
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether the table has no user.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// Where the ids of a user added by `janus user add` came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdSource {
    /// `--uid` / `--gid`.
    Flag,
    /// The local account of the same name (`/etc/passwd`).
    Passwd,
    /// Kept from the user being replaced.
    Kept,
    /// None: the share's `anon_uid` / `anon_gid` apply.
    Anonymous,
}

/// What [`Users::add_or_replace`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddOutcome {
    /// Whether a user of that name (ignoring case) was replaced.
    pub replaced: bool,
    /// The user as stored.
    pub user: User,
    /// Where its uid came from.
    pub uid_from: IdSource,
    /// Where its gid came from.
    pub gid_from: IdSource,
}

impl fmt::Display for AddOutcome {
    /// The one line `janus user add` prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let u = &self.user;
        let id = |v: Option<u32>, from: IdSource, anon: &str| match (v, from) {
            (Some(v), IdSource::Passwd) => format!("{v} (local account)"),
            (Some(v), IdSource::Kept) => format!("{v} (kept)"),
            (Some(v), _) => v.to_string(),
            (None, _) => format!("the share's {anon}"),
        };
        if self.replaced {
            write!(f, "replaced the password of user {:?}", u.name)?;
        } else {
            write!(f, "added user {:?}", u.name)?;
        }
        write!(
            f,
            "; file operations run as uid {}, gid {}",
            id(u.uid, self.uid_from, "anon_uid"),
            id(u.gid, self.gid_from, "anon_gid")
        )
    }
}

impl Users {
    /// `janus user add`: stores `name` with `nt_hash`. The ids are, in order of precedence,
    /// `uid`/`gid` (the `--uid`/`--gid` flags), those of the user being replaced, those of
    /// the local account of the same name in `passwd` (the text of `/etc/passwd`, if it
    /// could be read), else none (the share's anonymous ids).
    pub fn add_or_replace(
        &mut self,
        name: &str,
        nt_hash: [u8; 16],
        uid: Option<u32>,
        gid: Option<u32>,
        passwd: Option<&str>,
    ) -> Result<AddOutcome, InsertError> {
        check_name(name).map_err(InsertError::Name)?;
        let old = self.lookup(name).cloned();
        let local = passwd.and_then(|p| passwd_ids(p, name));
        let pick = |flag: Option<u32>, kept: Option<Option<u32>>, local: Option<u32>| match (
            flag, kept, local,
        ) {
            (Some(v), _, _) => (Some(v), IdSource::Flag),
            (None, Some(k), _) => (
                k,
                if k.is_some() {
                    IdSource::Kept
                } else {
                    IdSource::Anonymous
                },
            ),
            (None, None, Some(v)) => (Some(v), IdSource::Passwd),
            (None, None, None) => (None, IdSource::Anonymous),
        };
        let (uid, uid_from) = pick(uid, old.as_ref().map(|o| o.uid), local.map(|l| l.0));
        let (gid, gid_from) = pick(gid, old.as_ref().map(|o| o.gid), local.map(|l| l.1));
        let user = User {
            name: name.to_string(),
            uid,
            gid,
            nt_hash,
            groups: Vec::new(),
        };
        let replaced = self.insert(user.clone())?.is_some();
        Ok(AddOutcome {
            replaced,
            user,
            uid_from,
            gid_from,
        })
    }

    /// `janus user list`: a header and one line per user with its name, uid and gid
    /// (`anon` for the share's anonymous id); never the hash.
    pub fn list_text(&self) -> String {
        let width = self
            .users
            .iter()
            .map(|u| u.name.chars().count())
            .max()
            .unwrap_or(0)
            .max(4);
        let id = |v: Option<u32>| v.map_or_else(|| "anon".to_string(), |v| v.to_string());
        let mut s = format!("{:<width$}  {:>10}  {:>10}\n", "NAME", "UID", "GID");
        for u in &self.users {
            s.push_str(&format!(
                "{:<width$}  {:>10}  {:>10}\n",
                u.name,
                id(u.uid),
                id(u.gid)
            ));
        }
        s
    }
}

/// Most supplementary groups kept per user (Linux's NGROUPS_MAX is 65536; a bound so a
/// huge `/etc/group` cannot make the table large).
pub const MAX_GROUPS: usize = 1024;

/// The gids of the groups that list `member` in the text of an `/etc/group` file
/// (`name:password:gid:member,member,...`, group(5)), sorted, without duplicates, at most
/// [`MAX_GROUPS`]. Malformed lines are skipped.
pub fn group_ids(group: &str, member: &str) -> Vec<u32> {
    let mut gids: Vec<u32> = group
        .lines()
        .filter_map(|line| {
            let mut f = line.split(':');
            let (_name, _password) = (f.next()?, f.next()?);
            let gid = f.next()?.parse().ok()?;
            f.next()?.split(',').any(|m| m == member).then_some(gid)
        })
        .collect();
    gids.sort_unstable();
    gids.dedup();
    gids.truncate(MAX_GROUPS);
    gids
}

/// The name of the first local account with `uid` in the text of an `/etc/passwd` file.
pub fn passwd_name(passwd: &str, uid: u32) -> Option<&str> {
    passwd.lines().find_map(|line| {
        let mut f = line.split(':');
        let name = f.next()?;
        let _password = f.next()?;
        (f.next()?.parse::<u32>().ok()? == uid).then_some(name)
    })
}

impl Users {
    /// Gives every user with a uid the supplementary groups of the local account with that
    /// uid (`passwd`, `group`: the texts of `/etc/passwd` and `/etc/group`), as a login
    /// (`initgroups`) would: the SMB user then has the same group permissions as the Unix
    /// account over NFS or locally. Users without an account keep none.
    pub fn resolve_groups(&mut self, passwd: &str, group: &str) {
        for u in &mut self.users {
            u.groups = match u.uid.and_then(|uid| passwd_name(passwd, uid)) {
                Some(account) => group_ids(group, account),
                None => Vec::new(),
            };
        }
    }
}

/// Longest password accepted, in characters (Windows' limit is 256).
pub const MAX_PASSWORD_CHARS: usize = 256;

/// A password as typed (one line, its line ending dropped), or why it is refused: empty,
/// or longer than [`MAX_PASSWORD_CHARS`].
pub fn password_from_line(mut line: String) -> Result<String, &'static str> {
    if line.ends_with('\n') {
        line.pop();
        if line.ends_with('\r') {
            line.pop();
        }
    }
    if line.is_empty() {
        return Err("empty password refused");
    }
    if line.chars().count() > MAX_PASSWORD_CHARS {
        return Err("password longer than 256 characters");
    }
    Ok(line)
}

/// Why a users file with permission bits `mode`, owned by `owner`, must not be used by the
/// user `me` (the file holds password equivalents): someone else's file, or any
/// permission for group or others; `None` when it is fine. `path` is for the fix named.
pub fn file_permission_problem(mode: u32, owner: u32, me: u32, path: &str) -> Option<String> {
    if owner != me {
        return Some(format!(
            "owned by uid {owner}, not by the user running janus (uid {me}): it holds password hashes"
        ));
    }
    let mode = mode & 0o7777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "mode {mode:04o} lets group or others at the password hashes; fix: chmod 600 {path}"
        )
    })
}

fn parse_hash(s: &str) -> Option<[u8; 16]> {
    let b = s.as_bytes();
    if b.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        let hex = |c: u8| (c as char).to_digit(16);
        out[i] = u8::try_from(hex(pair[0])? * 16 + hex(pair[1])?).ok()?;
    }
    Some(out)
}

/// The NT hash of a password: MD4 of its UTF-16LE form (MS-NLMP §3.3.1, NTOWFv1), what the
/// users file stores. The one implementation is proto-smb2's.
pub fn nt_hash(password: &str) -> [u8; 16] {
    proto_smb2::auth::ntlm::nt_hash(password)
}

/// The uid and gid of the local account `name` in the text of an `/etc/passwd` file
/// (`name:password:uid:gid:gecos:home:shell`, passwd(5)), compared exactly, as Unix
/// account names are case-sensitive. Malformed lines are skipped.
pub fn passwd_ids(passwd: &str, name: &str) -> Option<(u32, u32)> {
    passwd.lines().find_map(|line| {
        let mut f = line.split(':');
        if f.next()? != name {
            return None;
        }
        let _password = f.next()?;
        let uid = f.next()?.parse().ok()?;
        let gid = f.next()?.parse().ok()?;
        Some((uid, gid))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, uid: Option<u32>, gid: Option<u32>, pw: &str) -> User {
        User {
            name: name.into(),
            uid,
            gid,
            nt_hash: nt_hash(pw),
            groups: Vec::new(),
        }
    }

    #[test]
    fn nt_hash_is_ntowfv1() {
        // MS-NLMP §4.2.2.1.2: NTOWFv1("Password") = a4f49c406510bdcab6824ee7c30fd852.
        assert_eq!(
            nt_hash("Password"),
            [
                0xa4, 0xf4, 0x9c, 0x40, 0x65, 0x10, 0xbd, 0xca, 0xb6, 0x82, 0x4e, 0xe7, 0xc3, 0x0f,
                0xd8, 0x52
            ]
        );
    }

    #[test]
    fn round_trip_keeps_order_ids_and_hashes() {
        let mut t = Users::new();
        t.insert(user("zed", Some(1000), Some(100), "a")).unwrap();
        t.insert(user("Alice Smith", None, None, "b")).unwrap();
        t.insert(user("bob", Some(0), None, "c")).unwrap();
        let text = t.to_text();
        assert!(text.starts_with("# janus users v1\n"), "{text}");
        assert!(text.contains("\nzed:1000:100:"), "{text}");
        assert!(text.contains("\nAlice Smith:-:-:"), "{text}");
        assert!(text.contains("\nbob:0:-:"), "{text}");
        let back = Users::parse(&text).unwrap();
        assert_eq!(back, t);
        let names: Vec<_> = back.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["zed", "Alice Smith", "bob"]);
        assert_eq!(back.to_text(), text);
    }

    #[test]
    fn parses_a_hand_written_file() {
        let t = Users::parse(
            "# janus users v1\r\n\r\n# a comment\nalice:1000:1000:8846F7EAEE8FB117AD06BDD830B7586C\n",
        )
        .unwrap();
        let a = t.lookup("alice").unwrap();
        assert_eq!((a.uid, a.gid), (Some(1000), Some(1000)));
        assert_eq!(a.nt_hash, nt_hash("password"));
        assert_eq!(Users::parse("").unwrap().len(), 0);
        assert!(Users::parse("# janus users v1").unwrap().is_empty());
    }

    #[test]
    fn lookup_ignores_case_with_a_one_to_one_mapping() {
        let mut t = Users::new();
        t.insert(user("Alice", Some(1), Some(2), "x")).unwrap();
        t.insert(user("straße", Some(3), Some(4), "y")).unwrap();
        t.insert(user("élan", Some(5), Some(6), "z")).unwrap();
        assert_eq!(t.lookup("ALICE").unwrap().name, "Alice");
        assert_eq!(t.lookup("alice").unwrap().uid, Some(1));
        assert_eq!(t.lookup("STRAßE").unwrap().uid, Some(3));
        assert!(
            t.lookup("STRASSE").is_none(),
            "ß is not SS (per-character upcase)"
        );
        assert_eq!(t.lookup("ÉLAN").unwrap().uid, Some(5));
        assert!(t.lookup("alic").is_none());
        assert!(t.lookup("").is_none());
    }

    #[test]
    fn insert_replaces_a_name_that_folds_alike_in_place() {
        let mut t = Users::new();
        t.insert(user("alice", Some(1), Some(1), "old")).unwrap();
        t.insert(user("bob", Some(2), Some(2), "b")).unwrap();
        let old = t
            .insert(user("ALICE", Some(7), Some(7), "new"))
            .unwrap()
            .expect("replaced");
        assert_eq!(old.nt_hash, nt_hash("old"));
        assert_eq!(t.len(), 2);
        let first = t.iter().next().unwrap();
        assert_eq!((first.name.as_str(), first.uid), ("ALICE", Some(7)));
        assert_eq!(t.lookup("alice").unwrap().nt_hash, nt_hash("new"));
        assert_eq!(
            t.insert(user("a:b", None, None, "x")),
            Err(InsertError::Name(NameError::Char(':')))
        );
    }

    #[test]
    fn remove_keeps_the_index_consistent() {
        let mut t = Users::new();
        for n in ["a", "b", "c", "d"] {
            t.insert(user(n, None, None, n)).unwrap();
        }
        assert_eq!(t.remove("B").unwrap().name, "b");
        assert!(t.remove("b").is_none());
        assert_eq!(t.lookup("c").unwrap().nt_hash, nt_hash("c"));
        assert_eq!(t.lookup("d").unwrap().nt_hash, nt_hash("d"));
        assert_eq!(t.lookup("a").unwrap().nt_hash, nt_hash("a"));
        t.insert(user("e", None, None, "e")).unwrap();
        assert_eq!(t.lookup("e").unwrap().nt_hash, nt_hash("e"));
        assert_eq!(Users::parse(&t.to_text()).unwrap(), t);
    }

    #[test]
    fn names() {
        for ok in [
            "alice",
            "Alice Smith",
            "a.b-c_d",
            "ü",
            "x@example",
            &"n".repeat(64),
        ] {
            assert_eq!(check_name(ok), Ok(()), "{ok:?}");
        }
        assert_eq!(check_name(""), Err(NameError::Empty));
        assert_eq!(check_name(&"n".repeat(65)), Err(NameError::TooLong(65)));
        assert_eq!(check_name("a:b"), Err(NameError::Char(':')));
        assert_eq!(check_name("a\nb"), Err(NameError::Char('\n')));
        assert_eq!(check_name("a\u{7f}"), Err(NameError::Char('\u{7f}')));
        assert_eq!(check_name("dom\\user"), Err(NameError::Char('\\')));
        assert_eq!(check_name("a*"), Err(NameError::Char('*')));
        assert_eq!(check_name(". ."), Err(NameError::OnlyDotsAndSpaces));
        assert_eq!(check_name(" alice"), Err(NameError::Edge));
        assert_eq!(check_name("alice\t"), Err(NameError::Char('\t')));
        assert_eq!(check_name("#alice"), Err(NameError::Edge));
        for e in [
            NameError::Char('\u{1}'),
            NameError::Char(':'),
            NameError::Edge,
        ] {
            assert!(!e.to_string().contains('\n'));
        }
    }

    #[test]
    fn parse_errors_name_the_line() {
        let h = "# janus users v1\n";
        let hash = "31d6cfe0d16ae931b73c59d7e0c089c0";
        let cases = [
            ("alice:1:1:".to_string() + hash, 1, "first line must be"),
            (
                "# janus users v2\n".to_string(),
                1,
                "version \"2\" is not supported",
            ),
            (format!("{h}alice:1:1\n"), 2, "found 3 fields"),
            (format!("{h}\nalice:1:1:{hash}:x\n"), 3, "found 5 fields"),
            (format!("{h}alice:x:1:{hash}\n"), 2, "uid \"x\""),
            (format!("{h}alice:1:+1:{hash}\n"), 2, "gid \"+1\""),
            (
                format!("{h}alice:1:4294967296:{hash}\n"),
                2,
                "gid \"4294967296\"",
            ),
            (format!("{h}alice:1::{hash}\n"), 2, "gid \"\""),
            (
                format!("{h}alice:1:1:{}\n", &hash[1..]),
                2,
                "32 hexadecimal",
            ),
            (
                format!("{h}alice:1:1:{}g\n", &hash[1..]),
                2,
                "32 hexadecimal",
            ),
            (format!("{h}:1:1:{hash}\n"), 2, "is empty"),
            (format!("{h} al:1:1:{hash}\n"), 2, "whitespace"),
            (
                format!("{h}a\u{1}:1:1:{hash}\n"),
                2,
                "control character U+0001",
            ),
            (
                format!("{h}alice:1:1:{hash}\n# c\nALICE:2:2:{hash}\n"),
                4,
                "already declared on line 2 as \"alice\"",
            ),
        ];
        for (text, line, want) in cases {
            let e = Users::parse(&text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            let s = e.to_string();
            assert!(s.starts_with(&format!("line {line}: ")), "{s}");
            assert!(s.contains(want), "{s:?} should contain {want:?}");
            assert!(!s.contains('\n'), "{s:?}");
            assert!(!s.contains(hash), "the hash is not echoed: {s}");
        }
    }

    #[test]
    fn oversized_input_is_refused_before_parsing() {
        let big = "#".repeat(MAX_FILE_BYTES + 1);
        let e = Users::parse(&big).unwrap_err();
        assert_eq!(e.line, 0);
        assert!(e.to_string().contains("more than"));
    }

    #[test]
    fn debug_never_shows_the_hash() {
        let u = user("alice", None, None, "password");
        let d = format!(
            "{u:?} {:?}",
            Users::parse(&{
                let mut t = Users::new();
                t.insert(u.clone()).unwrap();
                t.to_text()
            })
        );
        assert!(d.contains("<redacted>"), "{d}");
        assert!(!d.contains("136"), "{d}"); // 0x88 = 136, the hash's first byte
        assert!(!d.contains("8846"), "{d}");
    }

    #[test]
    fn ids_default_to_the_share_anonymous_ids() {
        assert_eq!(user("a", None, None, "").ids(65534, 65533), (65534, 65533));
        assert_eq!(user("a", Some(5), None, "").ids(65534, 65533), (5, 65533));
        assert_eq!(user("a", Some(5), Some(6), "").ids(1, 1), (5, 6));
        let c = user("a", None, Some(6), "").creds(7, 8);
        assert_eq!((c.uid, c.gid, c.gids.len()), (7, 6, 0));
    }

    #[test]
    fn add_or_replace_picks_ids_and_says_what_it_did() {
        let passwd = "alice:x:1000:100::/home/alice:/bin/sh\n";
        let mut t = Users::new();
        let o = t
            .add_or_replace("alice", nt_hash("a"), None, None, Some(passwd))
            .unwrap();
        assert!(!o.replaced);
        assert_eq!((o.user.uid, o.user.gid), (Some(1000), Some(100)));
        assert_eq!(
            o.to_string(),
            "added user \"alice\"; file operations run as uid 1000 (local account), gid 100 (local account)"
        );
        // No local account: the share's anonymous ids.
        let o = t
            .add_or_replace("bob", nt_hash("b"), None, None, Some(passwd))
            .unwrap();
        assert_eq!((o.user.uid, o.user.gid), (None, None));
        assert!(
            o.to_string()
                .contains("uid the share's anon_uid, gid the share's anon_gid"),
            "{o}"
        );
        // Flags win; a replacement keeps the ids it is not given and says it replaced.
        let o = t
            .add_or_replace("ALICE", nt_hash("new"), None, Some(7), Some(passwd))
            .unwrap();
        assert!(o.replaced);
        assert_eq!((o.user.uid, o.user.gid), (Some(1000), Some(7)));
        assert!(
            o.to_string()
                .starts_with("replaced the password of user \"ALICE\""),
            "{o}"
        );
        assert!(o.to_string().contains("uid 1000 (kept), gid 7"), "{o}");
        assert_eq!(t.lookup("alice").unwrap().nt_hash, nt_hash("new"));
        let o = t
            .add_or_replace("carol", nt_hash("c"), Some(5), None, None)
            .unwrap();
        assert_eq!(
            (o.uid_from, o.gid_from),
            (IdSource::Flag, IdSource::Anonymous)
        );
        assert!(t
            .add_or_replace("a:b", nt_hash("c"), None, None, None)
            .is_err());
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn list_shows_names_and_ids_never_hashes() {
        let mut t = Users::new();
        t.insert(user("alice", Some(1000), Some(100), "password"))
            .unwrap();
        t.insert(user("a much longer name", None, Some(5), "x"))
            .unwrap();
        let l = t.list_text();
        let lines: Vec<&str> = l.lines().collect();
        assert_eq!(lines.len(), 3, "{l}");
        assert!(lines[0].starts_with("NAME "), "{l}");
        let f: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(f, ["alice", "1000", "100"]);
        assert!(lines[2].starts_with("a much longer name"), "{l}");
        assert!(lines[2].ends_with(" anon           5"), "{l}");
        assert!(!l.contains("8846"), "{l}");
        assert_eq!(Users::new().list_text().lines().count(), 1);
    }

    #[test]
    fn password_lines() {
        assert_eq!(password_from_line("pw\n".into()).unwrap(), "pw");
        assert_eq!(password_from_line("pw\r\n".into()).unwrap(), "pw");
        assert_eq!(password_from_line("pw".into()).unwrap(), "pw");
        assert_eq!(password_from_line(" sp ace \n".into()).unwrap(), " sp ace ");
        assert!(password_from_line("\n".into()).is_err());
        assert!(password_from_line(String::new()).is_err());
        assert!(password_from_line("x".repeat(257)).is_err());
        assert!(password_from_line("\u{e9}".repeat(256)).is_ok());
    }

    #[test]
    fn file_permissions() {
        assert_eq!(file_permission_problem(0o100600, 5, 5, "f"), None);
        assert_eq!(file_permission_problem(0o400, 5, 5, "f"), None);
        let e = file_permission_problem(0o100644, 5, 5, "/x/f").unwrap();
        assert_eq!(
            e,
            "mode 0644 lets group or others at the password hashes; fix: chmod 600 /x/f"
        );
        assert!(file_permission_problem(0o601, 5, 5, "f").is_some());
        assert!(file_permission_problem(0o610, 5, 5, "f").is_some());
        let e = file_permission_problem(0o600, 0, 5, "f").unwrap();
        assert!(
            e.starts_with("owned by uid 0, not by the user running janus (uid 5)"),
            "{e}"
        );
    }

    #[test]
    fn groups_come_from_the_account_with_the_users_uid() {
        let passwd = "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/h:/bin/sh\n";
        let group = "root:x:0:\nstaff:x:50:alice,bob\nwheel:x:10:root,alice\nbad line\nnogid:x:zz:alice\nbig:x:70:bob\nstaff2:x:50:alice\n";
        assert_eq!(group_ids(group, "alice"), vec![10, 50]);
        assert_eq!(group_ids(group, "ali"), Vec::<u32>::new());
        assert_eq!(passwd_name(passwd, 1000), Some("alice"));
        assert_eq!(passwd_name(passwd, 7), None);
        let mut t = Users::new();
        // The SMB name differs from the account: the uid decides.
        t.insert(user("Alice Smith", Some(1000), Some(1000), "a"))
            .unwrap();
        t.insert(user("guesty", None, None, "g")).unwrap();
        t.insert(user("ghost", Some(4242), None, "h")).unwrap();
        t.resolve_groups(passwd, group);
        let a = t.lookup("alice smith").unwrap();
        assert_eq!(a.groups, vec![10, 50]);
        assert_eq!(a.creds(65534, 65534).gids, vec![10, 50]);
        assert!(t.lookup("guesty").unwrap().groups.is_empty());
        assert!(t.lookup("ghost").unwrap().groups.is_empty());
        // Not written to the file.
        let back = Users::parse(&t.to_text()).unwrap();
        assert!(back.lookup("alice smith").unwrap().groups.is_empty());
        assert_eq!(back.to_text(), t.to_text());
    }

    #[test]
    fn passwd_lookup() {
        let p = "root:x:0:0:root:/root:/bin/bash\nbad line\nAlice:x:1001:1001::/h:/bin/sh\nalice:x:1000:100:A:/home/alice:/bin/sh\nnum:x:no:1::/:\n";
        assert_eq!(passwd_ids(p, "alice"), Some((1000, 100)));
        assert_eq!(passwd_ids(p, "Alice"), Some((1001, 1001)));
        assert_eq!(passwd_ids(p, "root"), Some((0, 0)));
        assert_eq!(
            passwd_ids(p, "ALICE"),
            None,
            "Unix names are case-sensitive"
        );
        assert_eq!(passwd_ids(p, "num"), None);
        assert_eq!(passwd_ids(p, "bob"), None);
    }
}
