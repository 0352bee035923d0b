//! `Connection::hand_over_at` and `has_partial_frame`: how much a runtime that buffers what it
//! reads gathers before handing it to the machine. The answer follows the NBSS framing of the
//! whole stream (MS-SMB2 §2.1), including the part the machine already holds, so bytes in the
//! middle of a frame are never taken for a header (the stall issue 10 names: a WRITE's data
//! read as an RPC record mark made the runtime wait for bytes the client never sent).

use proto_smb2::nbss;
use proto_smb2::server::{Connection, ServerConfig, UserMap};
use std::sync::Arc;

const MAX: usize = 1 << 20;

fn conn() -> Connection {
    let c = ServerConfig::new([0x11; 16], Vec::new(), Arc::new(UserMap::default()));
    Connection::new(Arc::new(c), [7; 32])
}

fn header(len: usize) -> Vec<u8> {
    nbss::frame_header(len).to_vec()
}

#[test]
fn a_fresh_connection_waits_for_the_whole_first_frame() {
    let c = conn();
    assert_eq!(c.hand_over_at(&[], MAX), 4, "nothing yet: the header");
    assert_eq!(c.hand_over_at(&[0, 0], MAX), 4, "part of the header");
    let mut held = header(100);
    assert_eq!(c.hand_over_at(&held, MAX), 104);
    held.extend_from_slice(&[0xfe; 100]);
    held.extend_from_slice(&header(50_000));
    assert_eq!(
        c.hand_over_at(&held, MAX),
        104,
        "only the front frame counts"
    );
    assert_eq!(
        c.hand_over_at(&header(100), 60),
        60,
        "at most the runtime's maximum"
    );
    assert_eq!(c.hand_over_at(&[0x85, 0, 0, 0], MAX), 4, "a keep-alive");
    assert!(!c.has_partial_frame());
}

#[test]
fn headers_the_machine_refuses_are_handed_over_at_once() {
    let c = conn();
    // Over the limit before authentication (a few tens of KiB): nothing is gathered for it.
    assert_eq!(
        c.hand_over_at(&header(nbss::MAX_FRAME_BEFORE_AUTH + 1), MAX),
        4
    );
    assert_eq!(c.hand_over_at(&[0x00, 0xff, 0xff, 0xff], MAX), 4);
    assert_eq!(c.hand_over_at(&[0x42, 0, 0, 10], MAX), 4, "a bad type");
    assert_eq!(
        c.hand_over_at(&[0x85, 0, 0, 1], MAX),
        4,
        "a keep-alive with a length"
    );
    // An RPC record mark (last fragment, 100 bytes) is no NBSS header either.
    assert_eq!(c.hand_over_at(&[0x80, 0, 0, 100], MAX), 4);
}

#[test]
fn the_rest_of_a_frame_the_machine_holds_part_of() {
    let mut c = conn();
    // Half of a 1,000-byte frame handed over: the machine holds it, the runtime is now in
    // the middle of the frame, whatever its next bytes look like.
    let mut first = header(1000);
    first.extend_from_slice(&[0x80; 500]);
    c.handle_bytes(&first, 0);
    assert!(c.has_partial_frame());
    assert!(!c.is_closed());
    assert_eq!(c.hand_over_at(&[], MAX), 500);
    // Data that reads as an NBSS header (or an RPC record mark) changes nothing.
    assert_eq!(c.hand_over_at(&[0x00, 0x00, 0x00, 0x10], MAX), 500);
    assert_eq!(c.hand_over_at(&[0x80, 0x02, 0xd8, 0x45, 1, 2, 3], MAX), 500);
    assert_eq!(
        c.hand_over_at(&[], 100),
        100,
        "at most the runtime's maximum"
    );
}

#[test]
fn a_header_split_between_machine_and_runtime() {
    let mut c = conn();
    // A keep-alive, then two bytes of the next header.
    c.handle_bytes(&[0x85, 0, 0, 0, 0x00, 0x00], 0);
    assert!(!c.is_closed());
    assert!(c.has_partial_frame());
    assert_eq!(c.hand_over_at(&[], MAX), 2, "the header's rest");
    assert_eq!(c.hand_over_at(&[0x01], MAX), 2);
    // Header 00 00 01 00: a 256-byte payload, 2 header bytes already in the machine.
    assert_eq!(c.hand_over_at(&[0x01, 0x00], MAX), 258);
}

#[test]
fn nothing_partial_after_a_close() {
    let mut c = conn();
    c.handle_bytes(&[0x42, 0, 0, 10, 1, 2], 0);
    assert!(c.is_closed());
    assert!(!c.has_partial_frame());
}
