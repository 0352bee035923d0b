//! The journal form of [`NsmRecord`]: XDR (RFC 4506), a discriminant then the fields, with
//! the same length limits as the wire (names ≤ 1024 bytes). The runtime stores the bytes as
//! opaque journal records and hands the decoded records back to [`NlmService::new`].
//!
//! | tag | record | fields |
//! |---|---|---|
//! | 1 | `Monitored` | name `string<1024>`, address, state `int` |
//! | 2 | `Unmonitored` | name |
//! | 3 | `Registered` | `mon` (XNFS `mon`), address |
//! | 4 | `Unregistered` | `mon_id` |
//! | 5 | `OwnState` | state `int` |
//!
//! An address is `unsigned` family (4 or 6) then 4 or 16 bytes of fixed opaque data.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::BytesMut;
use proto_nfs::xdr::{self, XResult, XdrDecode, XdrEncode, XdrError, XdrErrorKind};

use super::{NlmService, NsmRecord};
use crate::wire::{LmString, Mon, MonId};

fn put_addr(out: &mut BytesMut, a: &IpAddr) {
    match a {
        IpAddr::V4(v4) => {
            xdr::put_u32(out, 4);
            xdr::put_opaque_fixed(out, &v4.octets());
        }
        IpAddr::V6(v6) => {
            xdr::put_u32(out, 6);
            xdr::put_opaque_fixed(out, &v6.octets());
        }
    }
}

fn addr(input: &[u8]) -> XResult<'_, IpAddr> {
    let (rest, family) = xdr::u32(input)?;
    match family {
        4 => {
            let (rest, o) = xdr::opaque_array::<4>(rest)?;
            Ok((rest, IpAddr::V4(Ipv4Addr::from(o))))
        }
        6 => {
            let (rest, o) = xdr::opaque_array::<16>(rest)?;
            Ok((rest, IpAddr::V6(Ipv6Addr::from(o))))
        }
        other => XdrError::fail(input, XdrErrorKind::BadDiscriminant(other)),
    }
}

impl XdrEncode for NsmRecord {
    fn encode(&self, out: &mut BytesMut) {
        match self {
            NsmRecord::Monitored { name, addr, state } => {
                xdr::put_u32(out, 1);
                xdr::put_string(out, name);
                put_addr(out, addr);
                xdr::put_i32(out, *state);
            }
            NsmRecord::Unmonitored { name } => {
                xdr::put_u32(out, 2);
                xdr::put_string(out, name);
            }
            NsmRecord::Registered { mon, addr } => {
                xdr::put_u32(out, 3);
                mon.encode(out);
                put_addr(out, addr);
            }
            NsmRecord::Unregistered { mon_id } => {
                xdr::put_u32(out, 4);
                mon_id.encode(out);
            }
            NsmRecord::OwnState(s) => {
                xdr::put_u32(out, 5);
                xdr::put_i32(out, *s);
            }
        }
    }
}

impl XdrDecode for NsmRecord {
    fn decode(input: &[u8]) -> XResult<'_, Self> {
        let (rest, tag) = xdr::u32(input)?;
        match tag {
            1 => {
                let (rest, name) = LmString::decode(rest)?;
                let (rest, addr) = addr(rest)?;
                let (rest, state) = xdr::i32(rest)?;
                Ok((
                    rest,
                    NsmRecord::Monitored {
                        name: name.bytes().clone(),
                        addr,
                        state,
                    },
                ))
            }
            2 => {
                let (rest, name) = LmString::decode(rest)?;
                Ok((
                    rest,
                    NsmRecord::Unmonitored {
                        name: name.bytes().clone(),
                    },
                ))
            }
            3 => {
                let (rest, mon) = Mon::decode(rest)?;
                let (rest, addr) = addr(rest)?;
                Ok((rest, NsmRecord::Registered { mon, addr }))
            }
            4 => {
                let (rest, mon_id) = MonId::decode(rest)?;
                Ok((rest, NsmRecord::Unregistered { mon_id }))
            }
            5 => {
                let (rest, s) = xdr::i32(rest)?;
                Ok((rest, NsmRecord::OwnState(s)))
            }
            other => XdrError::fail(input, XdrErrorKind::BadDiscriminant(other)),
        }
    }
}

impl NlmService {
    /// Decodes journalled monitor records (in journal order) for [`NlmService::new`].
    /// A record that does not decode is an error: the journal's CRC already rejected torn
    /// writes, so a bad record is corruption or a version mismatch, not something to skip.
    pub fn decode_records<'a>(
        records: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Vec<NsmRecord>, XdrErrorKind> {
        records.into_iter().map(NsmRecord::decode_exact).collect()
    }
}

#[cfg(test)]
mod tests {
    use arbitrary::{Arbitrary, Unstructured};
    use proptest::prelude::*;

    use super::*;
    use crate::wire::SmString;

    fn arbitrary_record(u: &mut Unstructured<'_>) -> arbitrary::Result<NsmRecord> {
        Ok(match u.int_in_range(1..=5u8)? {
            1 => NsmRecord::Monitored {
                name: LmString::arbitrary(u)?.bytes().clone(),
                addr: IpAddr::arbitrary(u)?,
                state: u.arbitrary()?,
            },
            2 => NsmRecord::Unmonitored {
                name: LmString::arbitrary(u)?.bytes().clone(),
            },
            3 => NsmRecord::Registered {
                mon: Mon::arbitrary(u)?,
                addr: IpAddr::arbitrary(u)?,
            },
            4 => NsmRecord::Unregistered {
                mon_id: MonId::arbitrary(u)?,
            },
            _ => NsmRecord::OwnState(u.arbitrary()?),
        })
    }

    proptest! {
        #[test]
        fn records_round_trip(seed in proptest::collection::vec(any::<u8>(), 0..2500)) {
            let mut u = Unstructured::new(&seed);
            if let Ok(r) = arbitrary_record(&mut u) {
                let bytes = r.to_bytes();
                prop_assert_eq!(NsmRecord::decode_exact(&bytes), Ok(r));
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(r) = NsmRecord::decode_exact(&bytes) {
                prop_assert_eq!(&r.to_bytes()[..], &bytes[..]);
            }
        }
    }

    #[test]
    fn monitored_record_bytes() {
        let r = NsmRecord::Monitored {
            name: bytes::Bytes::from_static(b"hostA"),
            addr: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
            state: 3,
        };
        assert_eq!(
            &r.to_bytes()[..],
            &[
                0, 0, 0, 1, 0, 0, 0, 5, b'h', b'o', b's', b't', b'A', 0, 0, 0, 0, 0, 0, 4, 127, 0,
                0, 2, 0, 0, 0, 3
            ]
        );
        let unreg = NsmRecord::Unregistered {
            mon_id: MonId {
                mon_name: SmString::from_static(b"x"),
                my_id: crate::wire::MyId {
                    my_name: SmString::from_static(b"y"),
                    my_prog: 1,
                    my_vers: 2,
                    my_proc: 3,
                },
            },
        };
        let bytes = unreg.to_bytes();
        assert_eq!(
            NlmService::decode_records([&bytes[..], &r.to_bytes()[..]]),
            Ok(vec![unreg, r])
        );
        assert!(NlmService::decode_records([&[0u8, 0, 0, 9][..]]).is_err());
    }
}
