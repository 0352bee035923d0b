//! Journal compaction for the NLM/NSM records: at start, keep only the records that still
//! describe live state, in their original order, so the journal does not grow with every
//! LOCK/UNLOCK ever served (docs/architecture.md, "Persistence and restart").
//!
//! A record is live when no later record cancels it:
//! - lock table (`lockstate::Change`): a grant (`NlmLock`, `SmbLock`) until its
//!   `LockReleased`; an `Open` until its `OpenClosed`; the last `Lease` of a key until its
//!   `LeaseRemoved`; the last `NlmShare` of (file, owner) until its `NlmShareReleased`; the
//!   last `Monitored` of a host until its `Unmonitored`;
//! - monitor list (`NsmRecord`): the last `Monitored` of a name until its `Unmonitored`; the
//!   last `Registered` of a `mon_id` until its `Unregistered`; the largest `OwnState`;
//! - durable SMB handles (`smb::durable::Record`): a `Granted` until its `Gone`.
//!
//! Replaying the live records gives the same table and monitor list as replaying all of them
//! (every record is an insert-or-replace of its key, every cancelling record a removal), and
//! their sequence numbers still increase. Records with other tags are kept as they are.

use lockstate::FxMap as HashMap;
use std::sync::Arc;

use lockstate::{CacheKey, Change, FileId, LockId, NlmOwner, OpenId, Record};
use proto_nfs::xdr::XdrDecode;
use proto_nlm::service::NsmRecord;
use proto_nlm::wire::MonId;

use crate::nlm_journal::{TAG_LOCK, TAG_NSM};
use crate::smb::durable::TAG_SMB_DURABLE;

#[derive(Default)]
struct Live {
    locks: HashMap<LockId, usize>,
    opens: HashMap<OpenId, usize>,
    leases: HashMap<CacheKey, usize>,
    shares: HashMap<(FileId, Arc<NlmOwner>), usize>,
    table_hosts: HashMap<Vec<u8>, usize>,
    nsm_hosts: HashMap<bytes::Bytes, usize>,
    registrations: HashMap<MonId, usize>,
    own_state: Option<(i32, usize)>,
    /// Durable SMB opens (`smb::durable` records) by volatile FileId.
    durables: HashMap<u64, usize>,
    other: Vec<usize>,
}

/// The indices of `records` that are live, in order. Records that do not decode are kept
/// (the start-up replay reports them).
pub fn live_indices(records: &[Vec<u8>]) -> Vec<usize> {
    let mut l = Live::default();
    for (i, raw) in records.iter().enumerate() {
        match raw.split_first() {
            Some((&TAG_LOCK, body)) => match Record::from_bytes(body) {
                Ok(r) => match r.change {
                    Change::NlmLock { id, .. } | Change::SmbLock { id, .. } => {
                        l.locks.insert(id, i);
                    }
                    Change::LockReleased { id, .. } => {
                        l.locks.remove(&id);
                    }
                    Change::Open { open, .. } => {
                        l.opens.insert(open, i);
                    }
                    Change::OpenClosed { open, .. } => {
                        l.opens.remove(&open);
                    }
                    Change::Lease { key, .. } => {
                        l.leases.insert(key, i);
                    }
                    Change::LeaseRemoved { key } => {
                        l.leases.remove(&key);
                    }
                    Change::NlmShare { file, owner, .. } => {
                        l.shares.insert((file, owner), i);
                    }
                    Change::NlmShareReleased { file, owner } => {
                        l.shares.remove(&(file, owner));
                    }
                    Change::Monitored { host, .. } => {
                        l.table_hosts.insert(host, i);
                    }
                    Change::Unmonitored { host } => {
                        l.table_hosts.remove(&host);
                    }
                },
                Err(_) => l.other.push(i),
            },
            Some((&TAG_NSM, body)) => match NsmRecord::decode_exact(body) {
                Ok(NsmRecord::Monitored { name, .. }) => {
                    l.nsm_hosts.insert(name, i);
                }
                Ok(NsmRecord::Unmonitored { name }) => {
                    l.nsm_hosts.remove(&name);
                }
                Ok(NsmRecord::Registered { mon, .. }) => {
                    l.registrations.insert(mon.mon_id, i);
                }
                Ok(NsmRecord::Unregistered { mon_id }) => {
                    l.registrations.remove(&mon_id);
                }
                Ok(NsmRecord::OwnState(s)) => {
                    if l.own_state.is_none_or(|(max, _)| s >= max) {
                        l.own_state = Some((s, i));
                    }
                }
                Err(_) => l.other.push(i),
            },
            Some((&TAG_SMB_DURABLE, body)) => match crate::smb::durable::record_key(body) {
                Some((v, true)) => {
                    l.durables.insert(v, i);
                }
                Some((v, false)) => {
                    l.durables.remove(&v);
                }
                None => l.other.push(i),
            },
            _ => l.other.push(i),
        }
    }
    // The maps' iteration order does not reach the output: the indices are sorted.
    let mut keep: Vec<usize> = l
        .locks
        .into_values()
        .chain(l.opens.into_values())
        .chain(l.leases.into_values())
        .chain(l.shares.into_values())
        .chain(l.table_hosts.into_values())
        .chain(l.nsm_hosts.into_values())
        .chain(l.registrations.into_values())
        .chain(l.own_state.map(|(_, i)| i))
        .chain(l.durables.into_values())
        .chain(l.other)
        .collect();
    keep.sort_unstable();
    keep
}

/// Whether compacting `total` records down to `live` is worth a rewrite.
pub fn worth_it(total: usize, live: usize) -> bool {
    total > 256 && total > 2 * live
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{IpAddr, Ipv4Addr};
    use lockstate::LockRange;
    use proto_nfs::xdr::XdrEncode;

    fn lock(seq: u64, change: Change) -> Vec<u8> {
        let mut v = vec![TAG_LOCK];
        v.extend(Record { seq, change }.to_bytes());
        v
    }

    fn nsm(r: NsmRecord) -> Vec<u8> {
        let mut v = vec![TAG_NSM];
        v.extend_from_slice(&r.to_bytes());
        v
    }

    #[test]
    fn durable_handle_records_are_live_until_gone() {
        use crate::smb::durable::{Durable, Record as D, Saved};
        let granted = |volatile| {
            D::Granted {
                volatile,
                open: Box::new(Durable {
                    lock_open: OpenId(volatile),
                    file: FileId(9),
                    share_id: 1,
                    client: [1; 16],
                    create_guid: None,
                    timeout: std::time::Duration::from_secs(60),
                    user: "alice".into(),
                    lease_key: None,
                    name: "f".into(),
                    saved: Saved {
                        handle: vec![1],
                        parent: None,
                        disk_name: b"f".to_vec(),
                        components: vec!["f".into()],
                        access: 3,
                        share_access: 0,
                        options: 0,
                        is_dir: false,
                    },
                }),
            }
            .to_bytes()
        };
        let gone = |volatile| D::Gone { volatile }.to_bytes();
        let records = vec![granted(5), granted(6), gone(5), gone(7)];
        assert_eq!(live_indices(&records), vec![1]);
    }

    #[test]
    fn only_live_records_remain_in_order() {
        let owner = Arc::new(NlmOwner::new("h", 1, b"o".to_vec()));
        let grant = |seq, id| {
            lock(
                seq,
                Change::NlmLock {
                    id: LockId(id),
                    file: FileId(9),
                    owner: owner.clone(),
                    range: LockRange::nlm(id * 10, 10).unwrap(),
                    exclusive: true,
                },
            )
        };
        let release = |seq, id| {
            lock(
                seq,
                Change::LockReleased {
                    id: LockId(id),
                    file: FileId(9),
                },
            )
        };
        let addr = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let records = vec![
            grant(1, 1),   // 0: released at 2
            release(2, 1), // 1
            grant(3, 2),   // 2: live
            nsm(NsmRecord::Monitored {
                name: "h".into(),
                addr,
                state: 1,
            }), // 3: replaced by 6
            lock(
                4,
                Change::Monitored {
                    host: b"h".to_vec(),
                    nsm_state: 1,
                },
            ), // 4: live
            nsm(NsmRecord::OwnState(7)), // 5: live (max)
            nsm(NsmRecord::Monitored {
                name: "h".into(),
                addr,
                state: 3,
            }), // 6: live
            nsm(NsmRecord::Monitored {
                name: "gone".into(),
                addr,
                state: 1,
            }), // 7: removed at 8
            nsm(NsmRecord::Unmonitored {
                name: "gone".into(),
            }), // 8
            vec![99, 1, 2], // 9: unknown tag, kept
            nsm(NsmRecord::OwnState(5)), // 10: smaller, dropped
        ];
        assert_eq!(live_indices(&records), vec![2, 4, 5, 6, 9]);
        // The live lock records replay into a table that holds exactly lock 2.
        let kept: Vec<Record> = live_indices(&records)
            .into_iter()
            .filter(|&i| records[i][0] == TAG_LOCK)
            .map(|i| Record::from_bytes(&records[i][1..]).unwrap())
            .collect();
        assert!(lockstate::LockTable::restore(lockstate::Config::default(), kept).is_ok());
        assert!(worth_it(1000, 10) && !worth_it(1000, 600) && !worth_it(100, 1));
    }
}
