//! The MOUNT v3 service (RFC 1813 Appendix I): MNT against the configured exports, the
//! mount list for DUMP, and EXPORT.
//!
//! Rules:
//! - MNT of `/<name>` (a trailing `/` is tolerated) returns the export's root handle and the
//!   flavors [AUTH_SYS, AUTH_NONE].
//! - MNT of a directory below an export, `/<name>/<rest>`, is allowed as knfsd and
//!   nfs-ganesha allow it (libnfs clients rely on it: `nfs://host/export/dir` mounts
//!   `/export/dir`). This service cannot look at the file system, so it answers
//!   [`MountAction::Resolve`]: the components of `<rest>` to look up one by one below the
//!   export's root (the server does that through the NFS LOOKUP path, with the caller's
//!   effective credentials), after which [`MountService::mounted`] records the mount and
//!   builds the reply, or [`mnt_status_for`] maps the failure.
//! - Components are normalised: empty ones (`//`, a trailing `/`) and `.` are skipped; `..`
//!   is refused with MNT3ERR_ACCES, so a MNT never climbs above the export's root whatever
//!   the backend does; a component longer than NAME_MAX (255) is MNT3ERR_NAMETOOLONG; one
//!   holding a NUL byte is MNT3ERR_INVAL. Symbolic links are not followed (a link as the
//!   last component is MNT3ERR_NOTDIR): a deviation from knfsd's mountd, which resolves the
//!   path with realpath(3) before matching it against the exports.
//! - A path naming no export is MNT3ERR_NOENT (knfsd's mountd says MNT3ERR_ACCES; NOENT
//!   tells the user what is wrong). A client outside the export's networks gets
//!   MNT3ERR_ACCES, before anything is looked up.
//! - The mount list (DUMP) records (client address, path as sent) for each successful MNT,
//!   bounded at [`MAX_MOUNTS`] entries (the oldest is forgotten first); UMNT and UMNTALL
//!   remove entries. RFC 1813 calls the list advisory; it is not used for access decisions.
//!   Over UDP the server answers DUMP only to loopback callers (PROC_UNAVAIL for others,
//!   before this service sees the call): the list is a reflection amplifier, as the
//!   portmapper's DUMP is (`crate::portmap::service`).

use core::net::IpAddr;
use std::collections::VecDeque;

use bytes::Bytes;

use super::msg::{ExportNode, MntResult, MountBody, MountCall, MountReply, MountStat};
use crate::nfs3::{FileHandle, Nfs3Status, NAME_MAX};
use crate::rpc::AuthFlavor;
use crate::server::Export;

/// Most entries in the mount list.
pub const MAX_MOUNTS: usize = 1024;

/// Most MNT path resolutions (see [`MountAction::Resolve`]) one connection, or the UDP
/// socket, may have under way in the server.
pub const MAX_RESOLUTIONS_PER_CONN: usize = 8;

/// Most MNT path resolutions under way in the server in all.
pub const MAX_RESOLUTIONS: usize = 256;

/// MOUNT service state: the mount list.
#[derive(Debug, Clone, Default)]
pub struct MountService {
    mounts: VecDeque<MountBody>,
}

/// What a MOUNT call needs: an answer now, or file-system lookups first.
#[derive(Debug, Clone)]
pub enum MountAction<'a> {
    /// Send this reply.
    Reply(MountReply),
    /// MNT of a directory below an export: look up `components` one after the other,
    /// starting at the export's root, then answer with [`MountService::mounted`] (if the
    /// last one is a directory) or [`mnt_status_for`] (if a lookup failed).
    Resolve {
        /// The export the path is in (the client was checked against its networks).
        export: &'a Export,
        /// The path as the client sent it (what the mount list records).
        path: Bytes,
        /// Names to look up, in order; never empty, never `.`, `..` or empty names.
        components: Vec<Bytes>,
    },
}

/// Finds the export a MOUNT path is in: the export whose `/<name>` is the path or a prefix
/// of it ending at a `/` (the longest such name wins). Returns it with the rest of the path.
pub fn find_export<'a, 'p>(
    exports: &'a [Export],
    path: &'p [u8],
) -> Option<(&'a Export, &'p [u8])> {
    let name_and_rest = path.strip_prefix(b"/")?;
    let export = exports
        .iter()
        .filter(|e| {
            !e.name.is_empty()
                && name_and_rest.starts_with(e.name.as_bytes())
                && matches!(name_and_rest.get(e.name.len()), None | Some(b'/'))
        })
        .max_by_key(|e| e.name.len())?;
    Some((export, &name_and_rest[export.name.len()..]))
}

/// Splits the part of a MOUNT path below an export into the names to look up. See the
/// module documentation for how components are normalised and refused.
pub fn path_components(rest: &[u8]) -> Result<Vec<Bytes>, MountStat> {
    let mut components = Vec::new();
    for c in rest.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err(MountStat::Acces),
            c if c.len() > NAME_MAX => return Err(MountStat::NameTooLong),
            c if c.contains(&0) => return Err(MountStat::Inval),
            c => components.push(Bytes::copy_from_slice(c)),
        }
    }
    Ok(components)
}

/// Finds the export a MOUNT path names exactly (`/<name>`, trailing `/` and `.` tolerated).
pub fn export_for_path<'a>(exports: &'a [Export], path: &[u8]) -> Option<&'a Export> {
    let (export, rest) = find_export(exports, path)?;
    path_components(rest)
        .ok()
        .filter(|c| c.is_empty())
        .map(|_| export)
}

/// The MNT status for a failed lookup while resolving a path below an export.
pub fn mnt_status_for(status: Nfs3Status) -> MountStat {
    match status {
        // A stale root handle: the exported directory itself is gone.
        Nfs3Status::NoEnt | Nfs3Status::Stale => MountStat::Noent,
        Nfs3Status::NotDir => MountStat::Notdir,
        Nfs3Status::Acces | Nfs3Status::Perm => MountStat::Acces,
        Nfs3Status::NameTooLong => MountStat::NameTooLong,
        Nfs3Status::Io => MountStat::Io,
        Nfs3Status::Inval => MountStat::Inval,
        Nfs3Status::NotSupp => MountStat::NotSupp,
        _ => MountStat::ServerFault,
    }
}

/// The flavors a successful MNT offers, preferred first.
fn flavors() -> Vec<u32> {
    vec![AuthFlavor::SYS.0, AuthFlavor::NONE.0]
}

fn host_of(client: IpAddr) -> Bytes {
    Bytes::from(client.to_canonical().to_string())
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

    /// Answers one call from `client`, or says which lookups a MNT needs first.
    pub fn handle<'a>(
        &mut self,
        exports: &'a [Export],
        client: IpAddr,
        call: MountCall,
    ) -> MountAction<'a> {
        let host = host_of(client);
        let reply = match call {
            MountCall::Null => MountReply::Null,
            MountCall::Mnt(path) => {
                let Some((export, rest)) = find_export(exports, &path) else {
                    return MountAction::Reply(MountReply::Mnt(MntResult::Err(MountStat::Noent)));
                };
                // The client check comes first: an outside client learns nothing about
                // the paths below the export.
                if !export.allows(client) {
                    return MountAction::Reply(MountReply::Mnt(MntResult::Err(MountStat::Acces)));
                }
                match path_components(rest) {
                    Err(stat) => MountReply::Mnt(MntResult::Err(stat)),
                    Ok(components) if components.is_empty() => {
                        self.mounted(client, path, export.root.clone())
                    }
                    Ok(components) => {
                        return MountAction::Resolve {
                            export,
                            path,
                            components,
                        }
                    }
                }
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
        };
        MountAction::Reply(reply)
    }

    /// A MNT of `path` by `client` succeeded with the directory `fhandle`: records it in
    /// the mount list and returns the reply.
    pub fn mounted(&mut self, client: IpAddr, path: Bytes, fhandle: FileHandle) -> MountReply {
        let entry = MountBody {
            hostname: host_of(client),
            directory: path,
        };
        if !self.mounts.contains(&entry) {
            if self.mounts.len() >= MAX_MOUNTS {
                self.mounts.pop_front();
            }
            self.mounts.push_back(entry);
        }
        MountReply::Mnt(MntResult::Ok {
            fhandle,
            auth_flavors: flavors(),
        })
    }
}
