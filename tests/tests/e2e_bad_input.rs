//! Hostile bytes on the NFS port (RFC 5531 §9 errors, §11 record marking): each gets the
//! right RPC error or a closed connection, the server stays up, and a well-behaved client
//! (nfs-ls) working at the same time is not disturbed.

use std::io::{ErrorKind, Read};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use janus_tests::e2e::rpc::{
    accept, decode_reply, encode_call, frame, prog, Auth, ReplyBody, RpcClient, XdrOut,
};
use janus_tests::e2e::{nfs_ls, pseudo_random_bytes, Server, ServerBuilder};

/// Read until the peer closes (Ok(bytes received)) or `limit` passes (Err).
fn wait_closed(c: &mut RpcClient, limit: Duration) -> Result<Vec<u8>, String> {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut stream = c.stream();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 65536];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(got),
            Err(e) => return Err(format!("read error {e}")),
        }
        if start.elapsed() > limit {
            return Err(format!("connection still open after {limit:?}"));
        }
    }
}

/// Every complete record in `bytes` must be an RPC reply (a server may answer garbage with an
/// error reply before closing, never with anything else).
fn only_replies(bytes: &[u8]) {
    let mut rest = bytes;
    while rest.len() >= 4 {
        let len = (u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) & 0x7fff_ffff) as usize;
        if rest.len() < 4 + len {
            break;
        }
        decode_reply(&rest[4..4 + len]).expect("server sent something that is not an RPC reply");
        rest = &rest[4 + len..];
    }
}

fn null_call_works(server: &Server) {
    let mut c = RpcClient::connect(server.nfs_port()).unwrap();
    c.call_ok(prog::NFS, 3, 0, &[])
        .expect("NFS NULL on a fresh connection");
}

fn accepted_stat(reply: &ReplyBody) -> (u32, Option<(u32, u32)>) {
    match reply {
        ReplyBody::Accepted { stat, mismatch, .. } => (*stat, *mismatch),
        other => panic!("expected MSG_ACCEPTED, got {other:?}"),
    }
}

#[test]
fn hostile_input_gets_errors_or_close_and_others_keep_working() {
    let server = ServerBuilder::new("bad").share("export").start();
    std::fs::write(server.share_dir("export").join("f"), b"x").unwrap();

    // A well-behaved client lists the share in a loop the whole time.
    let stop = Arc::new(AtomicBool::new(false));
    let url = server.url("export", "");
    let lister = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut runs = 0u32;
            while !stop.load(Ordering::Relaxed) || runs == 0 {
                let out = nfs_ls(&url);
                assert!(
                    out.success(),
                    "nfs-ls during hostile input: {}",
                    out.describe()
                );
                assert!(out.stdout_str().contains(" f"), "{}", out.describe());
                runs += 1;
            }
            runs
        })
    };

    // 1. Bursts of random bytes (the first word is a random record mark).
    for seed in 1..=4u64 {
        let mut c = RpcClient::connect(server.nfs_port()).unwrap();
        let junk = pseudo_random_bytes(seed * 0x9e37_79b9, 256 * 1024);
        let _ = c.send_raw(&junk); // the server may close while we are still writing
        let _ = c.stream().shutdown(Shutdown::Write);
        let got = wait_closed(&mut c, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("random burst {seed}: {e}"));
        only_replies(&got);
    }
    // A burst that starts with a plausible record mark (1 KiB, last fragment) of garbage.
    {
        let mut c = RpcClient::connect(server.nfs_port()).unwrap();
        let mut junk = 0x8000_0400u32.to_be_bytes().to_vec();
        junk.extend(pseudo_random_bytes(77, 1024));
        c.send_raw(&junk).unwrap();
        // Then a real call: the server either drops the garbage record (and answers this)
        // or closes the connection.
        let null = encode_call(0x1234, prog::NFS, 3, 0, Auth::None, &[]);
        let _ = c.send_raw(&frame(&null));
        let _ = c.stream().shutdown(Shutdown::Write);
        let got = wait_closed(&mut c, Duration::from_secs(10)).expect("garbage record");
        only_replies(&got);
    }
    null_call_works(&server);

    // 2. A call whose arguments are cut short inside a complete record: GARBAGE_ARGS.
    {
        let mut c = RpcClient::connect(server.nfs_port()).unwrap();
        // GETATTR: nfs_fh3 claims 32 bytes, only 8 follow.
        let args = XdrOut::new().u32(32).u64(0x0102_0304_0506_0708).0.clone();
        let call = encode_call(0x5151, prog::NFS, 3, 1, Auth::Sys { uid: 0, gid: 0 }, &args);
        c.send_raw(&frame(&call)).unwrap();
        let rec = c
            .read_record()
            .unwrap()
            .expect("reply to a truncated GETATTR");
        let reply = decode_reply(&rec).unwrap();
        assert_eq!(reply.xid, 0x5151);
        assert_eq!(accepted_stat(&reply.body).0, accept::GARBAGE_ARGS);
        // The connection stays usable.
        c.call_ok(prog::NFS, 3, 0, &[])
            .expect("NULL after GARBAGE_ARGS");
    }
    // A call cut inside its RPC header (credentials missing): an error reply or a close,
    // never a hang; a following good call on the same connection is answered or refused by
    // closing.
    {
        let mut c = RpcClient::connect(server.nfs_port()).unwrap();
        let call = encode_call(0x6161, prog::NFS, 3, 0, Auth::Sys { uid: 0, gid: 0 }, &[]);
        c.send_raw(&frame(&call[..28])).unwrap();
        let null = encode_call(0x6162, prog::NFS, 3, 0, Auth::None, &[]);
        let _ = c.send_raw(&frame(&null));
        let _ = c.stream().shutdown(Shutdown::Write);
        let got = wait_closed(&mut c, Duration::from_secs(10)).expect("truncated header");
        only_replies(&got);
    }
    // A fragment that never completes (peer goes away mid-record).
    {
        let mut c = RpcClient::connect(server.nfs_port()).unwrap();
        let call = encode_call(0x7171, prog::NFS, 3, 0, Auth::None, &[]);
        let framed = frame(&call);
        c.send_raw(&framed[..framed.len() - 5]).unwrap();
        let _ = c.stream().shutdown(Shutdown::Write);
        let got = wait_closed(&mut c, Duration::from_secs(10)).expect("incomplete fragment");
        assert!(got.is_empty(), "reply to an incomplete record");
    }
    null_call_works(&server);

    // 3. Absurd fragment lengths: the server must not wait for (or allocate) 2 GiB; it
    // closes the connection while we keep ours open.
    for mark in [0x7fff_ffffu32, 0xffff_ffff] {
        let mut c = RpcClient::connect(server.nfs_port()).unwrap();
        let mut bytes = mark.to_be_bytes().to_vec();
        bytes.extend(encode_call(0x8181, prog::NFS, 3, 0, Auth::None, &[]));
        c.send_raw(&bytes).unwrap();
        // Measured: nfs-ganesha 4.3 keeps waiting for the 2 GiB; Janus must not.
        match wait_closed(&mut c, Duration::from_secs(10)) {
            Ok(got) => only_replies(&got),
            Err(e) => server.require(false, format!("fragment header {mark:#x}: {e}")),
        }
    }
    null_call_works(&server);

    // 4. Unknown program, version, procedure, RPC version, and oversized credentials.
    {
        let mut c = RpcClient::connect(server.nfs_port()).unwrap();
        let r = c.call(0x2000_4a4e, 1, 0, &[]).unwrap();
        assert_eq!(
            accepted_stat(&r.body).0,
            accept::PROG_UNAVAIL,
            "unknown program"
        );
        let r = c.call(prog::NFS, 2, 0, &[]).unwrap();
        let (stat, range) = accepted_stat(&r.body);
        assert_eq!(stat, accept::PROG_MISMATCH, "NFS version 2");
        let (low, high) = range.unwrap();
        assert!(
            low <= 3 && 3 <= high && low > 2,
            "NFS version range {low}..{high}"
        );
        let r = c.call(prog::NFS, 3, 99, &[]).unwrap();
        assert_eq!(
            accepted_stat(&r.body).0,
            accept::PROC_UNAVAIL,
            "NFSv3 procedure 99"
        );

        // rpcvers 3 (RFC 5531 §9: RPC_MISMATCH with the supported range 2..2).
        let mut call = encode_call(0x9191, prog::NFS, 3, 0, Auth::None, &[]);
        call[8..12].copy_from_slice(&3u32.to_be_bytes());
        c.send_raw(&frame(&call)).unwrap();
        // Measured: nfs-ganesha 4.3 closes the connection instead.
        match c.read_record().unwrap() {
            Some(rec) => {
                let reply = decode_reply(&rec).unwrap();
                assert_eq!(reply.xid, 0x9191);
                assert_eq!(
                    reply.body,
                    ReplyBody::Denied { stat: 0, detail: 2 },
                    "RPC_MISMATCH 2..2"
                );
            }
            None => {
                server.require(false, "connection closed instead of RPC_MISMATCH");
                c = RpcClient::connect(server.nfs_port()).unwrap();
            }
        }

        // AUTH_SYS with 17 supplementary gids (RFC 5531 appendix A allows at most 16):
        // AUTH_ERROR / AUTH_BADCRED.
        let mut body = XdrOut::new();
        body.u32(0).string("bad").u32(0).u32(0).u32(17);
        for g in 0..17 {
            body.u32(g);
        }
        let mut call = XdrOut::new();
        call.u32(0xa1a1).u32(0).u32(2).u32(prog::NFS).u32(3).u32(0);
        call.u32(1).opaque(&body.0).u32(0).u32(0);
        c.send_raw(&frame(&call.0)).unwrap();
        match c.read_record().unwrap() {
            Some(rec) => {
                let reply = decode_reply(&rec).unwrap();
                assert_eq!(reply.xid, 0xa1a1);
                assert_eq!(
                    reply.body,
                    ReplyBody::Denied { stat: 1, detail: 1 },
                    "AUTH_BADCRED"
                );
            }
            None => {
                server.require(false, "connection closed instead of AUTH_BADCRED");
                c = RpcClient::connect(server.nfs_port()).unwrap();
            }
        }
        // Still one healthy connection after all that.
        c.call_ok(prog::NFS, 3, 0, &[])
            .expect("NULL after RPC errors");
    }

    stop.store(true, Ordering::Relaxed);
    let runs = lister.join().expect("nfs-ls loop failed");
    assert!(runs >= 1);
    null_call_works(&server);
    nfs_ls(&server.url("export", "")).ok();
}
