//! What the upper layer tells the connection machine once, when it creates it: the server's
//! identity, the dialects and security policy, the share table, the user lookup and the
//! limits that keep a connection's memory bounded.

use crate::cmd::negotiate::{cipher, dialect, signing_algorithm};
use crate::nbss::MAX_FRAME_BEFORE_AUTH;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Encryption policy, global or per share (issue 10: `smb_encrypt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncryptPolicy {
    /// Never ask the client to encrypt (it may still encrypt on its own, and then gets
    /// encrypted answers, MS-SMB2 §3.3.4.1.4).
    Off,
    /// Ask the client to encrypt when it can (3.x with a cipher), accept it when it cannot.
    #[default]
    Desired,
    /// Refuse clients that cannot encrypt (MS-SMB2 §3.3.5.5.3, §3.3.5.7: STATUS_ACCESS_DENIED).
    Required,
}

/// What a share is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareKind {
    /// A directory tree served by the upper layer.
    Disk,
    /// The IPC$ share of named pipes (srvsvc, ...).
    Ipc,
}

/// One share of the share table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    /// The name clients use in `\\server\share` (compared case-insensitively).
    pub name: String,
    /// The upper layer's id of the share (export index, ...), handed back in every call.
    pub id: u32,
    /// Disk or IPC$.
    pub kind: ShareKind,
    /// The share refuses changes; TREE_CONNECT answers a read-only MaximalAccess.
    pub read_only: bool,
    /// Guest sessions may connect.
    pub guest_ok: bool,
    /// Encryption policy of this share (TREE_CONNECT's SMB2_SHAREFLAG_ENCRYPT_DATA).
    pub encrypt: EncryptPolicy,
    /// Every request on the share must be signed or encrypted (issue 10: `smb_signing`).
    pub signing_required: bool,
}

impl Share {
    /// The IPC$ share, added to every share table that lacks one: clients connect to it
    /// before anything else (srvsvc, VALIDATE_NEGOTIATE_INFO).
    pub fn ipc() -> Share {
        Share {
            name: "IPC$".into(),
            id: u32::MAX,
            kind: ShareKind::Ipc,
            read_only: false,
            guest_ok: true,
            encrypt: EncryptPolicy::Off,
            signing_required: false,
        }
    }
}

/// A user the lookup knows: the NT hash (never the password) and the Unix identity the
/// user's file operations run as.
#[derive(Clone, PartialEq, Eq)]
pub struct UserEntry {
    /// NT hash: MD4 of the UTF-16LE password ([`crate::auth::ntlm::nt_hash`]).
    pub nt_hash: [u8; 16],
    /// Unix uid.
    pub uid: u32,
    /// Unix gid.
    pub gid: u32,
}

impl core::fmt::Debug for UserEntry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UserEntry")
            .field("uid", &self.uid)
            .field("gid", &self.gid)
            .finish_non_exhaustive()
    }
}

/// The user table as the machine sees it; the users file behind it is the upper layer's.
pub trait UserLookup: Send + Sync {
    /// The entry of `user` as the client spelled it in its NTLM AUTHENTICATE_MESSAGE, with
    /// the domain it named (a standalone server usually ignores the domain).
    fn lookup(&self, user: &str, domain: &str) -> Option<UserEntry>;
}

/// A fixed user map, keyed by lower-case user name (domains ignored), for tests and for
/// an upper layer that loads its users file into memory.
#[derive(Debug, Clone, Default)]
pub struct UserMap(pub BTreeMap<String, UserEntry>);

impl UserMap {
    /// Adds a user with a password (hashed here) and a Unix identity.
    pub fn with_password(mut self, name: &str, password: &str, uid: u32, gid: u32) -> Self {
        self.0.insert(
            name.to_lowercase(),
            UserEntry {
                nt_hash: crate::auth::ntlm::nt_hash(password),
                uid,
                gid,
            },
        );
        self
    }
}

impl UserLookup for UserMap {
    fn lookup(&self, user: &str, _domain: &str) -> Option<UserEntry> {
        self.0.get(&user.to_lowercase()).cloned()
    }
}

/// Hard limits of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest NBSS frame before any session of the connection is authenticated.
    pub max_frame_before_auth: usize,
    /// Largest NBSS frame afterwards (at least MaxWriteSize plus headers).
    pub max_frame: usize,
    /// Most credits a client may hold (MS-SMB2 §3.3.1.2). The default is Samba's
    /// `smb2 max credits` (8192), which clients and smbtorture's smb2.credits expect; the
    /// window's bitmap is then at most 16 Ki flags per connection.
    pub max_credits: u16,
    /// Most sessions, authenticated or not, on the connection.
    pub max_sessions: usize,
    /// Most sessions still authenticating: sessions that never finish stay bounded.
    pub max_pending_auth: usize,
    /// Most tree connects per session.
    pub max_trees: usize,
    /// Most messages in one compound chain.
    pub max_compound: usize,
    /// Most requests that went async and are not completed yet.
    pub max_async: usize,
    /// Most calls handed to the upper layer and not answered (beyond this the machine
    /// stops reading: `wants_read` is false).
    pub max_calls: usize,
    /// Most response bytes queued for the runtime before the machine stops reading
    /// (responses handed out for sealing included).
    pub max_queued_bytes: usize,
    /// Encrypted responses of at least this many bytes (a large READ's) are handed out
    /// for sealing off the machine's thread (`Connection::poll_seal`) instead of being
    /// encrypted inline, and encrypted requests as large (a large WRITE's) for decrypting
    /// (`Connection::poll_unseal`); `usize::MAX` (the default) does everything inline.
    pub seal_offload_min: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_before_auth: MAX_FRAME_BEFORE_AUTH,
            max_frame: (8 << 20) + 4096,
            max_credits: 8192,
            max_sessions: 64,
            max_pending_auth: 8,
            max_trees: 256,
            max_compound: 64,
            max_async: 256,
            max_calls: 128,
            max_queued_bytes: 32 << 20,
            seal_offload_min: usize::MAX,
        }
    }
}

/// Server-wide configuration, shared by every connection (`Arc`).
#[derive(Clone)]
pub struct ServerConfig {
    /// ServerGuid of NEGOTIATE responses.
    pub server_guid: [u8; 16],
    /// Dialects offered ([`dialect`] values; 0x02FF is implied by any 2.1+ dialect).
    pub dialects: Vec<u16>,
    /// SMB2_NEGOTIATE_SIGNING_REQUIRED: every session must sign.
    pub signing_required: bool,
    /// Global encryption policy (whole sessions; shares add their own).
    pub encrypt: EncryptPolicy,
    /// Ciphers accepted, in the server's preference order (3.1.1 encryption context).
    pub ciphers: Vec<u16>,
    /// Signing algorithms accepted for the 3.1.1 signing context (the client's order of
    /// preference picks among them). HMAC-SHA256 is one (MS-SMB2 §2.2.3.1.7 lists it for
    /// 3.1.1; Samba accepts it): a client offering only it would otherwise get an
    /// algorithm it did not offer and drop the connection.
    pub signing_algorithms: Vec<u16>,
    /// The share table (IPC$ is added when missing).
    pub shares: Vec<Arc<Share>>,
    /// The users.
    pub users: Arc<dyn UserLookup>,
    /// The Unix identity of guest sessions, or `None` when guest logons are refused. A
    /// logon by an unknown user becomes a guest session when this is set (Samba's "map to
    /// guest = bad user"); a known user with a wrong password never does.
    pub guest: Option<(u32, u32)>,
    /// NetBIOS domain (workgroup) name for the NTLM challenge.
    pub nb_domain: String,
    /// NetBIOS computer name.
    pub nb_computer: String,
    /// DNS domain name.
    pub dns_domain: String,
    /// DNS computer name.
    pub dns_computer: String,
    /// MaxTransactSize of NEGOTIATE responses.
    pub max_transact_size: u32,
    /// MaxReadSize.
    pub max_read_size: u32,
    /// MaxWriteSize.
    pub max_write_size: u32,
    /// The limits.
    pub limits: Limits,
}

impl core::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("dialects", &self.dialects)
            .field("signing_required", &self.signing_required)
            .field("encrypt", &self.encrypt)
            .field("shares", &self.shares)
            .field("guest", &self.guest)
            .finish_non_exhaustive()
    }
}

impl ServerConfig {
    /// A configuration with every dialect, signing enabled (not required), encryption
    /// desired, all four ciphers (GCM first), AES-GMAC and AES-CMAC signing, no guest,
    /// 8 MiB reads and writes, and the default limits. IPC$ is added to `shares`.
    pub fn new(server_guid: [u8; 16], shares: Vec<Share>, users: Arc<dyn UserLookup>) -> Self {
        let mut shares: Vec<Arc<Share>> = shares.into_iter().map(Arc::new).collect();
        if !shares.iter().any(|s| s.name.eq_ignore_ascii_case("IPC$")) {
            shares.push(Arc::new(Share::ipc()));
        }
        ServerConfig {
            server_guid,
            dialects: vec![
                dialect::SMB202,
                dialect::SMB210,
                dialect::SMB300,
                dialect::SMB302,
                dialect::SMB311,
            ],
            signing_required: false,
            encrypt: EncryptPolicy::Desired,
            ciphers: vec![
                cipher::AES128_GCM,
                cipher::AES128_CCM,
                cipher::AES256_GCM,
                cipher::AES256_CCM,
            ],
            signing_algorithms: vec![
                signing_algorithm::AES_GMAC,
                signing_algorithm::AES_CMAC,
                signing_algorithm::HMAC_SHA256,
            ],
            shares,
            users,
            guest: None,
            nb_domain: "WORKGROUP".into(),
            nb_computer: "JANUS".into(),
            dns_domain: String::new(),
            dns_computer: "janus".into(),
            max_transact_size: 8 << 20,
            max_read_size: 8 << 20,
            max_write_size: 8 << 20,
            limits: Limits::default(),
        }
    }

    /// The share named `name` (case-insensitive, as Windows compares share names).
    pub fn share(&self, name: &str) -> Option<&Arc<Share>> {
        let lower = name.to_lowercase();
        self.shares.iter().find(|s| s.name.to_lowercase() == lower)
    }
}
