//! A tiny synchronous driver of the core for tests: RPC calls in over UDP, jobs run on the
//! test's thread when the test says so, replies decoded.

#![allow(dead_code)]

pub mod layer;
pub mod smb;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use proto_nfs::nfs3::{Nfs3Call, Nfs3Reply};
use proto_nfs::rpc::{
    AcceptStat, AuthSysParms, CallBody, MessageBody, OpaqueAuth, ReplyBody, RpcMessage,
};
use proto_nfs::xdr::XdrEncode;
use server::{Core, CoreConfig, Job, JobDone, Listener, ShareBackend};

/// The share id every test uses.
pub const SHARE: u32 = 3;

/// A peer address for calls.
pub fn peer() -> SocketAddr {
    "127.0.0.1:800".parse().unwrap()
}

/// The configuration of [`core_over`]: share [`SHARE`] ("s"), root not squashed, write
/// verifier "bootverf", defaults otherwise.
pub fn base_config() -> CoreConfig {
    CoreConfig {
        shares: vec![smb::share(SHARE, "s", false)],
        write_verifier: *b"bootverf",
        ..CoreConfig::default()
    }
}

/// A core serving `vfs` as share [`SHARE`] ("s"), root not squashed.
pub fn core_over(vfs: Arc<dyn vfs::Vfs>, journal: Vec<Vec<u8>>, now: Instant) -> Core {
    Core::new(
        base_config(),
        vec![ShareBackend {
            share_id: SHARE,
            vfs,
        }],
        journal,
        true,
        now,
    )
    .unwrap()
}

/// An RPC call with AUTH_SYS uid/gid 1000.
pub fn call(xid: u32, prog: u32, vers: u32, proc_: u32, args: Bytes) -> Bytes {
    let cred = OpaqueAuth::sys(&AuthSysParms {
        stamp: 0,
        machinename: Bytes::from_static(b"test"),
        uid: 1000,
        gid: 1000,
        gids: vec![],
    });
    RpcMessage {
        xid,
        body: MessageBody::Call(CallBody {
            rpcvers: 2,
            prog,
            vers,
            proc_,
            cred,
            verf: OpaqueAuth::none(),
            args,
        }),
    }
    .to_bytes()
}

/// The encoded arguments of an NFSv3 call.
pub fn nfs_args(c: &Nfs3Call) -> Bytes {
    let mut b = BytesMut::new();
    c.encode(&mut b);
    b.freeze()
}

/// Sends an NFSv3 call over UDP.
pub fn send_nfs(core: &mut Core, xid: u32, c: &Nfs3Call, now: Instant) {
    let msg = call(xid, 100_003, 3, c.procedure(), nfs_args(c));
    core.handle_datagram(Listener::Nfs, peer(), &msg, now);
}

/// Every job the core emitted so far.
pub fn jobs(core: &mut Core) -> Vec<Job> {
    std::iter::from_fn(|| core.poll_job()).collect()
}

/// Runs `job`; returns its result (handed back) and its follow-up (not run).
pub fn run(core: &mut Core, job: Job, now: Instant) -> Option<Job> {
    let mut done: JobDone = job.run();
    let next = done.take_follow_up();
    core.handle_job_done(done, now);
    next
}

/// Runs every job the core emits, follow-ups included, until it emits none.
pub fn run_all(core: &mut Core, now: Instant) {
    while let Some(job) = core.poll_job() {
        let mut next = Some(job);
        while let Some(j) = next.take() {
            next = run(core, j, now);
        }
    }
}

/// A decoded reply: xid and accept status (with the results of SUCCESS).
#[derive(Debug)]
pub struct Reply {
    pub xid: u32,
    pub stat: AcceptStat,
}

/// Every reply the core lets out now.
pub fn replies(core: &mut Core) -> Vec<Reply> {
    std::iter::from_fn(|| core.poll_transmit())
        .map(|t| {
            let bytes = t.data.to_bytes();
            // UDP datagrams carry no record marker; TCP ones do.
            let body = if t.dest.is_some() {
                bytes
            } else {
                bytes.slice(4..)
            };
            let msg = RpcMessage::decode_bytes(&body).unwrap();
            match msg.body {
                MessageBody::Reply(ReplyBody::Accepted(a)) => Reply {
                    xid: msg.xid,
                    stat: a.stat,
                },
                other => panic!("not an accepted reply: {other:?}"),
            }
        })
        .collect()
}

/// The NFSv3 reply of procedure `proc_` in `r`.
pub fn nfs_reply(r: &Reply, proc_: u32) -> Nfs3Reply {
    match &r.stat {
        AcceptStat::Success(b) => Nfs3Reply::decode(proc_, b).unwrap(),
        other => panic!("xid {}: {other:?}", r.xid),
    }
}

/// The one real clock reading of a test: the start of virtual time, which the tests then
/// move forward by adding `Duration`s.
#[allow(clippy::disallowed_methods)]
pub fn start_of_time() -> Instant {
    Instant::now()
}
