//! The MOUNT v3 service (RFC 1813 Appendix I): MNT against the configured exports, the
//! mount list for DUMP, and EXPORT.
//!
//! Rules:
//! - MNT of `/<name>` (a trailing `/` is tolerated) returns the export's root handle and the
//!   flavors [AUTH_SYS, AUTH_NONE]. Any other path is MNT3ERR_NOENT (sub-directories of an
//!   export are not mountable: a deviation from servers that allow it, named here).
//! - A client outside the export's networks gets MNT3ERR_ACCES.
//! - The mount list (DUMP) records (client address, path) for each successful MNT, bounded
//!   at [`MAX_MOUNTS`] entries (the oldest is forgotten first); UMNT and UMNTALL remove
//!   entries. RFC 1813 calls the list advisory; it is not used for access decisions.

use std::collections::VecDeque;
use std::net::IpAddr;

use bytes::Bytes;

use super::msg::{ExportNode, MntResult, MountBody, MountCall, MountReply, MountStat};
use crate::rpc::AuthFlavor;
use crate::server::Export;

/// Most entries in the mount list.
pub const MAX_MOUNTS: usize = 1024;

/// MOUNT service state: the mount list.
#[derive(Debug, Clone, Default)]
pub struct MountService {
    mounts: VecDeque<MountBody>,
}

/// Finds the export a MOUNT path names.
pub fn export_for_path<'a>(exports: &'a [Export], path: &[u8]) -> Option<&'a Export> {
    let name = path.strip_prefix(b"/")?;
    let name = name.strip_suffix(b"/").unwrap_or(name);
    if name.is_empty() {
        return None;
    }
    exports.iter().find(|e| e.name.as_bytes() == name)
}

impl MountService {
    /// An empty mount list.
    pub fn new() -> Self {
        MountService::default()
    }

    /// The mount list, oldest first.
    pub fn mounts(&self) -> impl Iterator<Item = &MountBody> {
        self.mounts.iter()
    }

    /// Answers one call from `client`.
    pub fn handle(&mut self, exports: &[Export], client: IpAddr, call: MountCall) -> MountReply {
        let host = Bytes::from(client.to_canonical().to_string());
        match call {
            MountCall::Null => MountReply::Null,
            MountCall::Mnt(path) => {
                let Some(export) = export_for_path(exports, &path) else {
                    return MountReply::Mnt(MntResult::Err(MountStat::Noent));
                };
                if !export.allows(client) {
                    return MountReply::Mnt(MntResult::Err(MountStat::Acces));
                }
                let entry = MountBody {
                    hostname: host,
                    directory: path,
                };
                if !self.mounts.contains(&entry) {
                    if self.mounts.len() >= MAX_MOUNTS {
                        self.mounts.pop_front();
                    }
                    self.mounts.push_back(entry);
                }
                MountReply::Mnt(MntResult::Ok {
                    fhandle: export.root.clone(),
                    auth_flavors: vec![AuthFlavor::SYS.0, AuthFlavor::NONE.0],
                })
            }
            MountCall::Dump => MountReply::Dump(self.mounts.iter().cloned().collect()),
            MountCall::Umnt(path) => {
                self.mounts
                    .retain(|m| !(m.hostname == host && m.directory == path));
                MountReply::Umnt
            }
            MountCall::Umntall => {
                self.mounts.retain(|m| m.hostname != host);
                MountReply::Umntall
            }
            MountCall::Export => MountReply::Export(
                exports
                    .iter()
                    .map(|e| ExportNode {
                        dir: Bytes::from(format!("/{}", e.name)),
                        groups: e
                            .clients
                            .iter()
                            .map(|c| Bytes::from(c.to_string()))
                            .collect(),
                    })
                    .collect(),
            ),
        }
    }
}
