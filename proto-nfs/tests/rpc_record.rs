//! Record marking (RFC 5531 §11) as a property: however a record is cut into fragments and
//! however the byte stream is cut into reads, the framer returns exactly the records sent.

use bytes::BytesMut;
use proptest::prelude::*;
use proto_nfs::rpc::record::{put_record, take_record, RecordError, RecordMarker};

fn fragmented(payload: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (payload.len() + 1)).collect();
    points.sort_unstable();
    points.dedup();
    let mut out = Vec::new();
    let mut start = 0;
    for p in points.into_iter().chain(std::iter::once(payload.len())) {
        let last = p == payload.len();
        if p < start || (p == start && !last) {
            continue;
        }
        out.extend_from_slice(
            &RecordMarker {
                last,
                len: (p - start) as u32,
            }
            .to_bytes(),
        );
        out.extend_from_slice(&payload[start..p]);
        start = p;
        if last {
            break;
        }
    }
    out
}

proptest! {
    #[test]
    fn any_fragmentation_and_any_reads_give_back_the_records(
        records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..5),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
        reads in proptest::collection::vec(1usize..50, 1..20),
    ) {
        let mut stream = Vec::new();
        for r in &records {
            stream.extend(fragmented(r, &cuts));
        }
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut pos = 0;
        let mut i = 0;
        while pos < stream.len() {
            let end = (pos + reads[i % reads.len()]).min(stream.len());
            i += 1;
            buf.extend_from_slice(&stream[pos..end]);
            pos = end;
            while let Some(rec) = take_record(&mut buf, 300).expect("within limit") {
                got.push(rec.to_vec());
            }
        }
        prop_assert_eq!(got, records);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn put_record_then_take_record_is_identity(payload in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut buf = BytesMut::new();
        put_record(&mut buf, &payload);
        prop_assert_eq!(buf.len(), payload.len() + 4);
        let rec = take_record(&mut buf, 2000).expect("ok").expect("complete");
        prop_assert_eq!(&rec[..], &payload[..]);
    }

    #[test]
    fn the_limit_is_enforced_on_headers_alone(len in 301u32..0x7fff_ffff, last in any::<bool>()) {
        let mut buf = BytesMut::from(&RecordMarker { last, len }.to_bytes()[..]);
        let r = take_record(&mut buf, 300);
        prop_assert!(
            matches!(r, Err(RecordError::TooLarge { claimed, max: 300 }) if claimed == u64::from(len)),
            "{:?}", r
        );
    }
}
