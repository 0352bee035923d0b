//! READ replies leave the server as segments: the encoded head, the data buffer of the
//! file-system result (not a copy) and the XDR padding (RFC 1813 §3.3.6 READ3resok, whose
//! last field is an opaque padded to four bytes, RFC 4506 §4.10). These tests hold them
//! to the bytes a single-buffer encoding gives, for every padding length, over TCP and UDP,
//! and check that a retransmitted READ (idempotent, so never cached) is answered the same.

mod support;

use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use bytes::{Bytes, BytesMut};
use proto_nfs::nfs3::{Fattr3, FileHandle, Nfs3Call, Nfs3Reply, Nfs3Result, ReadArgs, ReadOk};
use proto_nfs::rpc::message::put_success_header;
use proto_nfs::rpc::record::record_bytes;
use proto_nfs::server::{ConnId, Transmit, Transport};
use support::{call, local, Harness};

fn read_call(offset: u64, count: u32) -> Nfs3Call {
    Nfs3Call::Read(ReadArgs {
        file: FileHandle::new(1, b"file-inode").expect("handle"),
        offset,
        count,
    })
}

fn nfs(xid: u32, c: &Nfs3Call) -> support::CallBuilder {
    let mut args = BytesMut::new();
    c.encode(&mut args);
    call(xid)
        .prog(100_003, 3)
        .proc_(c.procedure())
        .auth_sys(1000, 100)
        .args(&args)
}

/// A READ result of `len` bytes (a pattern, so misplaced bytes show) with attributes.
fn read_result(len: usize, eof: bool) -> (Nfs3Reply, Bytes) {
    let attrs = Fattr3::arbitrary(&mut Unstructured::new(&[0x5a; 128])).expect("attrs");
    let data = Bytes::from((0..len).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    let reply = Nfs3Reply::Read(Nfs3Result::Ok(ReadOk {
        file_attributes: Some(attrs),
        eof,
        data: data.clone(),
    }));
    (reply, data)
}

/// The reply as one buffer, the way the server encoded every reply before READ data was
/// sent as its own segment: RPC accepted-reply header, `Nfs3Reply::encode`, and for TCP
/// the record marker in front.
fn single_buffer(xid: u32, reply: &Nfs3Reply, transport: Transport) -> Bytes {
    let mut out = BytesMut::new();
    put_success_header(&mut out, xid);
    reply.encode(&mut out);
    match transport {
        Transport::Tcp => record_bytes(&out),
        Transport::Udp => out.freeze(),
    }
}

/// Sends a READ over `transport`, answers it with `reply` and returns the one transmit.
fn exchange(h: &mut Harness, transport: Transport, xid: u32, reply: Nfs3Reply) -> Transmit {
    let c = read_call(4096, 1 << 20);
    match transport {
        Transport::Tcp => h.tcp(1, local(800), &nfs(xid, &c).record()),
        Transport::Udp => h.udp(local(801), &nfs(xid, &c).message()),
    }
    let reqs = h.fs_requests();
    assert_eq!(reqs.len(), 1, "READ goes to the file system");
    assert_eq!(reqs[0].call, c);
    h.advance(Duration::from_micros(50));
    h.server.handle_fs_result(h.now, reqs[0].id, reply);
    let mut t = h.transmits();
    assert_eq!(t.len(), 1, "one reply");
    t.remove(0)
}

#[test]
fn read_reply_segments_are_the_single_buffer_encoding_and_share_the_data() {
    let lens = [
        0,
        1,
        2,
        3,
        4,
        5,
        6,
        7,
        8,
        4093,
        65_537,
        (1 << 20) - 1,
        1 << 20,
    ];
    for transport in [Transport::Tcp, Transport::Udp] {
        for (i, &len) in lens.iter().enumerate() {
            let mut h = Harness::new();
            let xid = 0x100 + i as u32;
            let (reply, data) = read_result(len, i % 2 == 0);
            let expected = single_buffer(xid, &reply, transport);
            let t = exchange(&mut h, transport, xid, reply);
            assert_eq!(t.data.len(), expected.len(), "{transport:?} len {len}");
            assert!(
                t.data.eq_bytes(&expected),
                "{transport:?} len {len}: segments differ from the single-buffer encoding"
            );
            assert_eq!(t.data.to_bytes(), expected, "{transport:?} len {len}");

            let parts: Vec<&Bytes> = t.data.iter().collect();
            // Head, data, padding; an empty data or padding segment is left out.
            let pad = (4 - len % 4) % 4;
            assert_eq!(
                parts.len(),
                1 + usize::from(len > 0) + usize::from(pad > 0),
                "{transport:?} len {len}"
            );
            // marker (TCP) + RPC reply header 24 + status 4 + post_op_attr 88
            // + count 4 + eof 4 + opaque length 4
            let marker = if transport == Transport::Tcp { 4 } else { 0 };
            assert_eq!(parts[0].len(), marker + 24 + 4 + 88 + 12);
            if len > 0 {
                assert_eq!(
                    parts[1].as_ptr(),
                    data.as_ptr(),
                    "{transport:?} len {len}: data was copied"
                );
                assert_eq!(parts[1].len(), len);
            }
            if pad > 0 {
                assert_eq!(&parts[parts.len() - 1][..], &[0u8; 3][..pad]);
            }
        }
    }
}

#[test]
fn retransmitted_read_is_executed_again_and_answered_byte_identically() {
    for transport in [Transport::Tcp, Transport::Udp] {
        let mut h = Harness::new();
        let (reply, _) = read_result(1001, true);
        let first = exchange(&mut h, transport, 0x55, reply.clone());
        // The client lost the reply and retransmits (over TCP on a new connection, as
        // clients do after a reconnect). READ is idempotent (RFC 1813 §4.1): it is not in
        // the duplicate-request cache, so it reaches the file system again.
        h.advance(Duration::from_secs(1));
        h.server.connection_closed(ConnId(1));
        let again = exchange(&mut h, transport, 0x55, reply.clone());
        assert_eq!(again.data, first.data, "{transport:?}");
        assert_eq!(
            again.data.to_bytes(),
            single_buffer(0x55, &reply, transport),
            "{transport:?}"
        );
        assert_eq!(h.server.stats().drc_hits, 0, "READ must not be cached");
        assert_eq!(h.server.stats().drc_in_progress_drops, 0);
    }
}
