//! The byte-level inputs of the core: TCP records split across `handle_tcp_bytes` calls are
//! buffered in the core, a bad record marker makes the core ask for the connection to be
//! closed, and a closed connection's late job result is dropped.

mod support;

use std::sync::Arc;

use proto_nfs::nfs3::{FileHandle, GetattrArgs, Nfs3Call};
use proto_nfs::rpc::AcceptStat;
use server::{ConnId, Listener};
use support::*;
use vfs::memory::{MemoryFs, MemoryFsConfig};
use vfs::Vfs;

fn getattr_record(xid: u32, root: &FileHandle) -> Vec<u8> {
    let c = Nfs3Call::Getattr(GetattrArgs {
        object: root.clone(),
    });
    let msg = call(xid, 100_003, 3, 1, nfs_args(&c));
    let mut v = (0x8000_0000u32 | msg.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(&msg);
    v
}

#[test]
fn split_records_are_buffered_and_bad_framing_closes() {
    let fs: Arc<dyn Vfs> = Arc::new(MemoryFs::new(
        MemoryFsConfig::default(),
        vfs::memory::system_clock(),
    ));
    let now = support::start_of_time();
    let mut core = core_over(Arc::clone(&fs), vec![], now);
    let root = FileHandle::new(SHARE, &fs.root().0).unwrap();
    let conn = ConnId(1 << 32);
    core.handle_conn_open(conn, Listener::Nfs, peer(), now);
    assert_eq!(core.conn_listener(conn), Some(Listener::Nfs));
    let rec = getattr_record(9, &root);
    core.handle_tcp_bytes(conn, &rec[..5], now);
    assert!(core.poll_job().is_none(), "half a record");
    core.handle_tcp_bytes(conn, &rec[5..], now);
    run_all(&mut core, now);
    let r = replies(&mut core);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].xid, 9);
    assert!(matches!(r[0].stat, AcceptStat::Success(_)));

    // A request whose connection closes before its result: the result goes nowhere.
    core.handle_tcp_bytes(conn, &getattr_record(10, &root), now);
    let job = core.poll_job().expect("a job");
    core.handle_conn_closed(conn, now);
    assert!(run(&mut core, job, now).is_none());
    assert!(replies(&mut core).is_empty());
    assert_eq!(core.rpc_stats().orphaned_replies, 1);

    // A record marker claiming more than the limit: the core wants the connection closed.
    let bad = ConnId(2 << 32);
    core.handle_conn_open(bad, Listener::Portmap, peer(), now);
    core.handle_tcp_bytes(bad, &0xffff_ffffu32.to_be_bytes(), now);
    assert_eq!(core.poll_close(), Some(bad));
}
