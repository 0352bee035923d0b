//! MNT of a directory below an export (RFC 1813 Appendix I, MOUNTPROC3_MNT): the path's
//! components are looked up one by one below the export's root through the same
//! file-system request path NFS calls take — one [`FsRequest`] with an NFSv3 LOOKUP
//! (RFC 1813 §3.3.3) per component, run by the runtime with the export's effective
//! credentials for the MNT call's credential — and the MNT is answered with the handle of
//! the last one if it is a directory.
//!
//! The lookups share the id space of NFS calls ([`FsRequestId`]s from one counter) but are
//! kept in their own table, so [`RpcServer::handle_fs_result`] tells them apart by id;
//! results for ids in neither table (e.g. of a closed connection) are ignored.
//!
//! Bounds: at most [`MAX_RESOLUTIONS_PER_CONN`] resolutions per connection and
//! [`MAX_RESOLUTIONS`] in all. A MNT over either limit is dropped on UDP (the client
//! retransmits, as to any overloaded server) and answered MNT3ERR_SERVERFAULT on TCP. A
//! retransmitted MNT (same connection, peer and xid) while the first is being resolved is
//! dropped. A resolution holds one of its connection's in-flight slots (back-pressure) from
//! the first lookup to the reply. Closing the connection forgets its resolutions.

use core::net::SocketAddr;
use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;

use super::{
    encode_message, ConnId, Creds, FsRequest, FsRequestId, RpcServer, Transmit, Transport,
};
use crate::mount::service::{mnt_status_for, MAX_RESOLUTIONS, MAX_RESOLUTIONS_PER_CONN};
use crate::mount::{MntResult, MountReply, MountStat};
use crate::nfs3::{
    DirOpArgs3, FType3, Fattr3, FileHandle, Filename3, GetattrArgs, LookupArgs, Nfs3Call,
    Nfs3Reply, Nfs3Result,
};
use crate::rpc::message::put_success_header;
use crate::rpc::ProcedureReply;

/// Where a MNT call came from and what it asked for.
#[derive(Debug, Clone)]
pub(super) struct MntCaller {
    /// The connection.
    pub conn: ConnId,
    /// The peer.
    pub peer: SocketAddr,
    /// Its transport.
    pub transport: Transport,
    /// The call's xid.
    pub xid: u32,
}

/// One MNT waiting for a lookup.
#[derive(Debug)]
struct Resolution {
    caller: MntCaller,
    /// The path as sent (what the mount list records).
    path: Bytes,
    share_id: u32,
    creds: Creds,
    /// Names still to look up, next first.
    remaining: VecDeque<Bytes>,
    /// Set while a GETATTR asks for the type of this handle (the last LOOKUP returned no
    /// attributes).
    getattr_of: Option<FileHandle>,
}

/// The resolutions under way, by the id of their outstanding file-system request.
#[derive(Debug, Default)]
pub(super) struct Resolutions {
    by_id: BTreeMap<FsRequestId, Resolution>,
}

impl Resolutions {
    fn of_conn(&self, conn: ConnId) -> impl Iterator<Item = &Resolution> {
        self.by_id.values().filter(move |r| r.caller.conn == conn)
    }

    /// Forgets the resolutions of a closed connection.
    pub(super) fn connection_closed(&mut self, conn: ConnId) {
        self.by_id.retain(|_, r| r.caller.conn != conn);
    }
}

impl RpcServer {
    /// Starts resolving `components` below the root `root` of share `share_id` for a MNT
    /// of `path`: emits the first LOOKUP.
    pub(super) fn start_mount_resolution(
        &mut self,
        caller: MntCaller,
        share_id: u32,
        root: FileHandle,
        creds: Creds,
        path: Bytes,
        components: Vec<Bytes>,
    ) {
        let res = &self.mount_resolutions;
        if res
            .of_conn(caller.conn)
            .any(|r| r.caller.peer == caller.peer && r.caller.xid == caller.xid)
        {
            // A retransmission of a MNT still being resolved: the first one answers.
            return;
        }
        if res.by_id.len() >= MAX_RESOLUTIONS
            || res.of_conn(caller.conn).count() >= MAX_RESOLUTIONS_PER_CONN
        {
            if caller.transport == Transport::Tcp {
                self.send_mount_reply(
                    &caller,
                    &MountReply::Mnt(MntResult::Err(MountStat::ServerFault)),
                );
            }
            return;
        }
        if let Some(c) = self.conns.get_mut(&caller.conn) {
            c.in_flight += 1;
        }
        let mut remaining = VecDeque::from(components);
        let Some(first) = remaining.pop_front() else {
            // Never: the mount service answers a path without components itself.
            self.finish_mount(
                &caller,
                MountReply::Mnt(MntResult::Err(MountStat::ServerFault)),
            );
            return;
        };
        let r = Resolution {
            caller,
            path,
            share_id,
            creds,
            remaining,
            getattr_of: None,
        };
        self.emit_mount_lookup(r, root, first);
    }

    fn emit_mount_lookup(&mut self, r: Resolution, dir: FileHandle, name: Bytes) {
        let call = Nfs3Call::Lookup(LookupArgs {
            what: DirOpArgs3 {
                dir,
                name: Filename3(name),
            },
        });
        self.emit_mount_request(r, call);
    }

    fn emit_mount_request(&mut self, r: Resolution, call: Nfs3Call) {
        let id = FsRequestId(self.next_fs_id);
        self.next_fs_id += 1;
        self.fs_requests.push_back(FsRequest {
            id,
            share_id: r.share_id,
            creds: r.creds.clone(),
            call,
        });
        self.mount_resolutions.by_id.insert(id, r);
    }

    /// A file-system result that is not an NFS call's: if it belongs to a MNT resolution,
    /// take its next step. Results for unknown ids are ignored.
    pub(super) fn handle_mount_fs_result(&mut self, id: FsRequestId, reply: Nfs3Reply) {
        let Some(mut r) = self.mount_resolutions.by_id.remove(&id) else {
            return;
        };
        if self.conns.get(&r.caller.conn).is_none_or(|c| c.closing) {
            self.release_slot(r.caller.conn);
            return;
        }
        let outcome = match reply {
            Nfs3Reply::Lookup(Nfs3Result::Ok(ok)) if r.getattr_of.is_none() => {
                if let Some(next) = r.remaining.pop_front() {
                    return self.emit_mount_lookup(r, ok.object, next);
                }
                match ok.obj_attributes {
                    Some(attr) => directory(ok.object, &attr),
                    None => {
                        // LOOKUP's attributes are optional (post_op_attr): ask for them.
                        let call = Nfs3Call::Getattr(GetattrArgs {
                            object: ok.object.clone(),
                        });
                        r.getattr_of = Some(ok.object);
                        return self.emit_mount_request(r, call);
                    }
                }
            }
            // The GETATTR asked about the handle the last LOOKUP returned.
            Nfs3Reply::Getattr(Nfs3Result::Ok(ok)) => match r.getattr_of.take() {
                Some(object) => directory(object, &ok.obj_attributes),
                None => Err(MountStat::ServerFault),
            },
            Nfs3Reply::Lookup(Nfs3Result::Err(s, _))
            | Nfs3Reply::Getattr(Nfs3Result::Err(s, _)) => Err(mnt_status_for(s)),
            // The runtime answered another procedure than the one asked.
            _ => Err(MountStat::ServerFault),
        };
        let reply = match outcome {
            Ok(fhandle) => self.mount.mounted(r.caller.peer.ip(), r.path, fhandle),
            Err(stat) => MountReply::Mnt(MntResult::Err(stat)),
        };
        self.finish_mount(&r.caller, reply);
    }

    /// Answers a resolved MNT and frees its in-flight slot.
    fn finish_mount(&mut self, caller: &MntCaller, reply: MountReply) {
        if self.release_slot(caller.conn).is_some() {
            self.send_mount_reply(caller, &reply);
        } else {
            self.stats.orphaned_replies += 1;
        }
    }

    fn send_mount_reply(&mut self, caller: &MntCaller, reply: &MountReply) {
        let (wire, _) = encode_message(caller.transport, 128, |out| {
            put_success_header(out, caller.xid);
            reply.encode_results(out);
            None
        });
        self.transmits.push_back(Transmit {
            conn: caller.conn,
            peer: caller.peer,
            data: wire,
            external_replay: false,
        });
    }
}

/// The MNT outcome for the object a path resolved to.
fn directory(object: FileHandle, attr: &Fattr3) -> Result<FileHandle, MountStat> {
    if attr.ftype == FType3::Dir {
        Ok(object)
    } else {
        Err(MountStat::Notdir)
    }
}
