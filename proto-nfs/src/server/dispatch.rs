//! From a complete RPC record to a reply, a file-system request or an external call:
//! header checks, authentication, program/version/procedure dispatch (RFC 5531 §9), and the
//! NFS pre-checks (export, client network, read-only, duplicate-request cache).
//!
//! The order follows RFC 5531 and Linux's sunrpc: RPC version, then authentication, then
//! program, version, procedure, arguments.

use core::net::SocketAddr;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::mount_resolve::MntCaller;
use super::status::{HeaderAction, NfsRefusal, Refusal};
use super::{
    encode_message, ConnId, Event, Export, FsRequest, FsRequestId, PendingCall, RpcServer,
    Transmit, Transport,
};
use crate::mount::msg::{MNTPATHLEN, MOUNTPROC3_MNT};
use crate::mount::{
    MntResult, MountAction, MountCall, MountReply, MountStat, MOUNT_PROGRAM, MOUNT_V3,
};
use crate::nfs3::{Nfs3Call, Nfs3Reply, NFS_PROGRAM, NFS_V3};
use crate::portmap::service::{handle_pmap, handle_rpcb, PortmapContext};
use crate::portmap::{PmapCall, RpcbCall, PMAP_PROGRAM, PMAP_V2, RPCBIND_V4};
use crate::rpc::drc::{DrcKey, DrcLookup};
use crate::rpc::message::{put_success_header, CallHeader, RpcMessage};
use crate::rpc::segments::Segments;
use crate::rpc::{Credential, ProcedureCall, ProcedureReply};
use crate::xdr::XdrEncode;

/// Where a call is going, once its program and version are accepted.
enum Program {
    Portmap,
    Mount,
    Nfs,
    External,
}

/// The context of one call being dispatched.
struct Ctx {
    conn: ConnId,
    peer: SocketAddr,
    transport: Transport,
    xid: u32,
}

impl RpcServer {
    /// Handles one complete RPC message.
    pub(super) fn handle_record(
        &mut self,
        now: Instant,
        conn: ConnId,
        peer: SocketAddr,
        transport: Transport,
        record: Bytes,
    ) {
        let (header, args) = match CallHeader::decode(&record) {
            Ok(v) => v,
            Err(e) => {
                let ctx = Ctx {
                    conn,
                    peer,
                    transport,
                    xid: 0,
                };
                match HeaderAction::from(e) {
                    HeaderAction::Refuse(xid, refusal) => self.refuse(&Ctx { xid, ..ctx }, refusal),
                    HeaderAction::GiveUp(reason) => match transport {
                        Transport::Tcp => self.close(conn, reason),
                        Transport::Udp => self.stats.dropped_datagrams += 1,
                    },
                }
                return;
            }
        };
        self.stats.calls += 1;
        let ctx = Ctx {
            conn,
            peer,
            transport,
            xid: header.xid,
        };
        let cred = match Credential::from_call(&header.cred, &header.verf) {
            Ok(c) => c,
            Err(stat) => return self.refuse(&ctx, Refusal::Auth(stat)),
        };
        let program = match self.program(header.prog, header.vers) {
            Ok(p) => p,
            Err(refusal) => return self.refuse(&ctx, refusal),
        };
        match program {
            Program::Portmap => self.portmap_call(now, &ctx, &header, &args),
            Program::Mount => self.mount_call(&ctx, &header, &cred, &args),
            Program::Nfs => self.nfs_call(&ctx, &header, &cred, args),
            Program::External => self.external_call(&ctx, header, args),
        }
    }

    /// Program and version check: PROG_UNAVAIL / PROG_MISMATCH (RFC 5531 §9).
    fn program(&self, prog: u32, vers: u32) -> Result<Program, Refusal> {
        let (low, high, program) = match prog {
            PMAP_PROGRAM => (PMAP_V2, RPCBIND_V4, Program::Portmap),
            MOUNT_PROGRAM => (MOUNT_V3, MOUNT_V3, Program::Mount),
            NFS_PROGRAM => (NFS_V3, NFS_V3, Program::Nfs),
            _ => {
                let ranges = self
                    .config
                    .external_programs
                    .iter()
                    .filter(|(p, _, _)| *p == prog);
                let range = ranges.fold(None, |acc: Option<(u32, u32)>, &(_, l, h)| {
                    Some(acc.map_or((l, h), |(al, ah)| (al.min(l), ah.max(h))))
                });
                let Some((low, high)) = range else {
                    return Err(Refusal::ProgUnavail);
                };
                (low, high, Program::External)
            }
        };
        if vers < low || vers > high {
            return Err(Refusal::ProgMismatch { low, high });
        }
        Ok(program)
    }

    fn portmap_call(&mut self, now: Instant, ctx: &Ctx, h: &CallHeader, args: &[u8]) {
        let pctx = PortmapContext {
            peer: ctx.peer,
            tcp: ctx.transport == Transport::Tcp,
            host: super::answer_host(self.config.bind_addr),
            unix_time: self
                .wall_clock
                .map(|(at, secs)| secs.saturating_add(now.saturating_duration_since(at).as_secs())),
        };
        let result = if h.vers == PMAP_V2 {
            PmapCall::decode_args(h.proc_, args)
                .map_err(Refusal::from)
                .and_then(|call| {
                    handle_pmap(&mut self.registry, &pctx, call).map_err(Refusal::from)
                })
                .map(|r| encode_results(&r))
        } else {
            RpcbCall::decode_args(h.proc_, args)
                .map_err(Refusal::from)
                .and_then(|call| {
                    handle_rpcb(&mut self.registry, &pctx, h.vers, call).map_err(Refusal::from)
                })
                .map(|r| encode_results(&r))
        };
        match result {
            Ok(body) => self.reply_success(ctx, &body),
            Err(refusal) => self.refuse(ctx, refusal),
        }
    }

    fn mount_call(&mut self, ctx: &Ctx, h: &CallHeader, cred: &Credential, args: &[u8]) {
        let call = match MountCall::decode_args(h.proc_, args) {
            Ok(call) => call,
            Err(_) if h.proc_ == MOUNTPROC3_MNT && is_overlong_dirpath(args) => {
                let reply = MountReply::Mnt(MntResult::Err(MountStat::NameTooLong));
                return self.reply_success(ctx, &encode_results(&reply));
            }
            Err(e) => return self.refuse(ctx, Refusal::from(e)),
        };
        // DUMP lists every recorded mount (up to MAX_MOUNTS entries of up to MNTPATHLEN
        // bytes): over UDP, where the source address can be forged, only loopback callers
        // get it, others PROC_UNAVAIL, as for the portmapper's DUMP (see
        // `portmap::service` for the reasoning). `showmount -a` asks over TCP first
        // (nfs-utils, `nfs_get_mount_client`).
        if matches!(call, MountCall::Dump)
            && ctx.transport == Transport::Udp
            && !ctx.peer.ip().to_canonical().is_loopback()
        {
            return self.refuse(ctx, Refusal::ProcUnavail);
        }
        match self.mount.handle(&self.config.exports, ctx.peer.ip(), call) {
            MountAction::Reply(reply) => self.reply_success(ctx, &encode_results(&reply)),
            MountAction::Resolve {
                export,
                path,
                components,
            } => {
                let (share_id, root) = (export.share_id, export.root.clone());
                let creds = export.effective_creds(cred);
                let caller = MntCaller {
                    conn: ctx.conn,
                    peer: ctx.peer,
                    transport: ctx.transport,
                    xid: ctx.xid,
                };
                self.start_mount_resolution(caller, share_id, root, creds, path, components);
            }
        }
    }

    fn nfs_call(&mut self, ctx: &Ctx, h: &CallHeader, cred: &Credential, args: Bytes) {
        // WRITE data stays a slice of the record: no copy of up to 1 MiB per WRITE.
        let call = match Nfs3Call::decode_shared(h.proc_, &args) {
            Ok(c) => c,
            Err(None) => return self.refuse(ctx, Refusal::ProcUnavail),
            Err(Some(_)) => return self.refuse(ctx, Refusal::GarbageArgs),
        };
        if call == Nfs3Call::Null {
            return self.reply_success(ctx, &[]);
        }
        let export = match nfs_checks(&self.config.exports, &call, ctx.peer) {
            Ok(e) => e,
            Err(refusal) => {
                let reply = Nfs3Reply::error_for(&call, refusal.status());
                let mut body = BytesMut::new();
                reply.encode(&mut body);
                return self.reply_success(ctx, &body);
            }
        };
        let share_id = export.share_id;
        let creds = export.effective_creds(cred);
        let drc_key = if call.is_idempotent() {
            None
        } else {
            let key = DrcKey::new(ctx.peer.ip(), ctx.xid, h.prog, h.vers, h.proc_, &args);
            match self.drc.check(key) {
                DrcLookup::New => Some(key),
                DrcLookup::InProgress => return,
                DrcLookup::Done(message) => return self.send_message(ctx, &message, false),
            }
        };
        let id = FsRequestId(self.next_fs_id);
        self.next_fs_id += 1;
        if let Some(c) = self.conns.get_mut(&ctx.conn) {
            c.in_flight += 1;
        }
        self.pending.insert(
            id,
            PendingCall {
                conn: ctx.conn,
                peer: ctx.peer,
                xid: ctx.xid,
                drc_key,
                read_only_access: export.read_only && matches!(call, Nfs3Call::Access(_)),
            },
        );
        self.fs_requests.push_back(FsRequest {
            id,
            share_id,
            creds,
            call,
        });
    }

    fn external_call(&mut self, ctx: &Ctx, h: CallHeader, args: Bytes) {
        if self.external_non_idempotent.contains(&(h.prog, h.proc_)) {
            let key = DrcKey::new(ctx.peer.ip(), ctx.xid, h.prog, h.vers, h.proc_, &args);
            match self.drc.check(key) {
                DrcLookup::New => {
                    self.external_pending.insert((ctx.conn, ctx.xid), key);
                }
                DrcLookup::InProgress => return,
                DrcLookup::Done(message) => return self.send_message(ctx, &message, true),
            }
        }
        self.events.push_back(Event::Call {
            conn: ctx.conn,
            peer: ctx.peer,
            transport: ctx.transport,
            xid: ctx.xid,
            program: h.prog,
            version: h.vers,
            procedure: h.proc_,
            cred_flavor: h.cred.flavor.0,
            cred_body: h.cred.body,
            args,
        });
    }

    fn reply_success(&mut self, ctx: &Ctx, body: &[u8]) {
        let (wire, _) = encode_message(ctx.transport, 64 + body.len(), |out| {
            put_success_header(out, ctx.xid);
            out.extend_from_slice(body);
            None
        });
        self.push_transmit(ctx, wire);
    }

    fn refuse(&mut self, ctx: &Ctx, refusal: Refusal) {
        self.stats.rpc_errors += 1;
        let msg = RpcMessage {
            xid: ctx.xid,
            body: crate::rpc::MessageBody::Reply(refusal.reply_body()),
        };
        let (wire, _) = encode_message(ctx.transport, 64, |out| {
            msg.encode(out);
            None
        });
        self.push_transmit(ctx, wire);
    }

    /// Sends a cached message (no record marker) again; `external`: it answers an external
    /// program's call ([`Transmit::external_replay`]).
    fn send_message(&mut self, ctx: &Ctx, message: &Bytes, external: bool) {
        let wire = match ctx.transport {
            Transport::Udp => message.clone(),
            Transport::Tcp => crate::rpc::record::record_bytes(message),
        };
        self.transmits.push_back(Transmit {
            conn: ctx.conn,
            peer: ctx.peer,
            data: Segments::single(wire),
            external_replay: external,
        });
    }

    fn push_transmit(&mut self, ctx: &Ctx, data: Segments) {
        self.transmits.push_back(Transmit {
            conn: ctx.conn,
            peer: ctx.peer,
            data,
            external_replay: false,
        });
    }
}

fn encode_results(reply: &impl ProcedureReply) -> BytesMut {
    let mut out = BytesMut::new();
    reply.encode_results(&mut out);
    out
}

/// Whether MNT arguments are one well-formed XDR string longer than MNTPATHLEN: answered
/// MNT3ERR_NAMETOOLONG rather than GARBAGE_ARGS (RFC 1813 Appendix I bounds `dirpath` at
/// MNTPATHLEN; a strict XDR decoder, like rpcgen's in knfsd's mountd, refuses it as
/// garbage, but the MOUNT status says what is wrong). The record limit bounds the length.
fn is_overlong_dirpath(args: &[u8]) -> bool {
    let Some((len, rest)) = args.split_first_chunk::<4>() else {
        return false;
    };
    let len = u32::from_be_bytes(*len);
    len > MNTPATHLEN && rest.len() == (len as usize).next_multiple_of(4)
}

/// The checks an NFS call passes before the file system sees it; returns the export its
/// handles name.
fn nfs_checks<'a>(
    exports: &'a [Export],
    call: &Nfs3Call,
    peer: SocketAddr,
) -> Result<&'a Export, NfsRefusal> {
    let mut share = None;
    for fh in call.file_handles() {
        let id = fh.share_id().ok_or(NfsRefusal::BadHandle)?;
        match share {
            None => share = Some(id),
            Some(s) if s != id => return Err(NfsRefusal::CrossShare),
            Some(_) => {}
        }
    }
    // Every procedure but NULL (answered before) carries a handle.
    let share = share.ok_or(NfsRefusal::BadHandle)?;
    let export = exports
        .iter()
        .find(|e| e.share_id == share)
        .ok_or(NfsRefusal::Stale)?;
    if !export.allows(peer.ip()) {
        return Err(NfsRefusal::Acces);
    }
    if export.read_only && call.is_modifying() {
        return Err(NfsRefusal::ReadOnly);
    }
    Ok(export)
}
