//! End-to-end harness: start the real `janus` binary (or, to validate the tests themselves,
//! nfs-ganesha) on free loopback ports with its own temporary share and state directories,
//! run third-party clients against it with timeouts, talk raw ONC RPC to it, and capture the
//! traffic with tshark.
//!
//! Everything here binds 127.0.0.1 only, starts only its own processes and stops them by PID
//! (on drop, also when a test panics). The target server is chosen by the environment:
//!
//! | variable | meaning |
//! |---|---|
//! | `JANUS_BIN` | path of the `janus` binary (default: `target/release/janus`, then `target/debug/janus`) |
//! | `JANUS_E2E_TARGET` | `janus` (default) or `ganesha`: run the same tests against nfs-ganesha 4.x |
//! | `JANUS_E2E_KEEP` | `1`: keep the temporary directories (logs, pcaps) for inspection |
//! | `JANUS_E2E_LOG` | log filter handed to `janus serve --log` (default `info`) |
//! | `JANUS_VENV` | the SMB tests' Python venv (default `target/janus-venv`, see [`smb_python`]) |

pub mod capture;
pub mod clients;
pub mod process;
pub mod rpc;
pub mod server;
pub mod smb_serve;
pub mod tmp;

pub use capture::Capture;
pub use clients::{build_c_client, nfs_cat, nfs_cp, nfs_ls, smb_py_check, smb_python};
pub use process::{raise_nofile, run, CmdOutput};
pub use server::{Server, ServerBuilder, Target};
pub use tmp::TempDir;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// Cargo's target directory (`CARGO_TARGET_DIR` or `<workspace>/target`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        None => workspace_root().join("target"),
    }
}

/// Deterministic pseudo-random bytes (xorshift64*), so a failing run can be reproduced from
/// its seed; the tests need unpredictable-looking data, not secrecy.
pub fn pseudo_random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// FNV-1a 64 of `data`: a short fingerprint to print beside a byte comparison.
pub fn fnv1a64(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Writes `dir/janus-users` (mode 0600) with one user, `user` with `password`, running as the
/// share's anonymous ids (no uid/gid of its own); returns its path, for `janus serve --users`.
pub fn users_file(dir: &Path, user: &str, password: &str) -> PathBuf {
    use ::server::users::{nt_hash, User, Users};
    let mut users = Users::new();
    users
        .insert(User {
            name: user.into(),
            uid: None,
            gid: None,
            nt_hash: nt_hash(password),
            groups: Vec::new(),
        })
        .expect("user");
    let file = dir.join("janus-users");
    std::fs::write(&file, users.to_text()).expect("write users");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    file
}
