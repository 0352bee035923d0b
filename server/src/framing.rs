//! How many received bytes a runtime that keeps its own receive buffer gathers before it
//! hands them to the core ([`crate::Core::hand_over_at`]): the record framing of each
//! protocol. RPC over TCP uses record marking (RFC 5531 §11); SMB uses NBSS, which its
//! connection machine frames (`proto_smb2::server::Connection::hand_over_at`), since it
//! keeps the part of a frame it was given. The two must never be mixed up: NBSS bytes read
//! as a record mark (a WRITE's data in the middle of a frame, say) can claim a record the
//! client never sends, and the runtime would wait for it until the record deadline.

use proto_nfs::rpc::record::RecordMarker;

/// RFC 5531 §11 record marking: the whole record at the front of `buf` when it is one
/// fragment within `max_record` — what every client sends — else just the first header (the
/// RPC server joins fragments itself, and refuses an oversize claim at once without anything
/// being allocated for it by the runtime).
pub(crate) fn rpc_hand_over_at(buf: &[u8], max_record: usize) -> usize {
    const HDR: usize = 4;
    let Some(hdr) = buf.first_chunk::<HDR>() else {
        return HDR;
    };
    let marker = RecordMarker::from_bytes(*hdr);
    match usize::try_from(marker.len) {
        Ok(len) if marker.last && len <= max_record => HDR + len,
        _ => HDR,
    }
}

#[cfg(test)]
mod tests {
    use super::rpc_hand_over_at as hand_over_at;

    fn hdr(last: bool, len: u32) -> Vec<u8> {
        (len | if last { 1 << 31 } else { 0 })
            .to_be_bytes()
            .to_vec()
    }

    #[test]
    fn hand_over_waits_for_the_whole_single_fragment_record() {
        assert_eq!(hand_over_at(&[], 1000), 4);
        assert_eq!(hand_over_at(&[0x80, 0], 1000), 4, "a partial header");
        assert_eq!(hand_over_at(&hdr(true, 0), 1000), 4);
        let mut buf = hdr(true, 1000);
        assert_eq!(hand_over_at(&buf, 1000), 1004);
        buf.extend_from_slice(&[7; 1000]);
        assert_eq!(
            hand_over_at(&buf, 1000),
            1004,
            "only the front record counts"
        );
    }

    #[test]
    fn hand_over_at_once_what_the_server_must_judge() {
        // Over the limit: the header alone goes to the server, which closes the connection;
        // nothing is reserved for the claim.
        assert_eq!(hand_over_at(&hdr(true, 1001), 1000), 4);
        assert_eq!(hand_over_at(&hdr(true, u32::MAX >> 1), 1000), 4);
        // Not the last fragment: the server joins fragments.
        assert_eq!(hand_over_at(&hdr(false, 10), 1000), 4);
    }
}
