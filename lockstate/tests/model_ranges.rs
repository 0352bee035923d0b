//! Model-based property tests of byte-range semantics against deliberately simple reference
//! models: a per-byte owner map for POSIX/NLM, and a per-point list for MS-FSA (every byte
//! `k` is point `2k+1`, the boundary before byte `k` is point `2k`, so zero-length ranges are
//! single boundary points and `{0,0}` touches nothing).

mod common;
use common::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

// ---------------- POSIX / NLM ----------------

/// Byte 64 stands for "64 and everything after it".
const TOP: usize = 64;

#[derive(Debug, Clone)]
enum NOp {
    Lock {
        who: u8,
        first: u64,
        len: u64,
        excl: bool,
    },
    Unlock {
        who: u8,
        first: u64,
        len: u64,
    },
    Test {
        who: u8,
        first: u64,
        len: u64,
        excl: bool,
    },
}

fn nop() -> impl Strategy<Value = NOp> {
    let r = (0u8..3, 0u64..40, 0u64..24);
    prop_oneof![
        (r.clone(), any::<bool>()).prop_map(|((who, first, len), excl)| NOp::Lock {
            who,
            first,
            len,
            excl
        }),
        r.clone()
            .prop_map(|(who, first, len)| NOp::Unlock { who, first, len }),
        (r, any::<bool>()).prop_map(|((who, first, len), excl)| NOp::Test {
            who,
            first,
            len,
            excl
        }),
    ]
}

/// bytes[b] = owner → exclusive.
type Bytes = Vec<BTreeMap<u8, bool>>;

fn bytes_of(first: u64, len: u64) -> std::ops::RangeInclusive<usize> {
    let f = first as usize;
    if len == 0 {
        f..=TOP
    } else {
        f..=(first + len - 1) as usize
    }
}

fn model_conflict(m: &Bytes, who: u8, first: u64, len: u64, excl: bool) -> bool {
    bytes_of(first, len).any(|b| m[b].iter().any(|(o, x)| *o != who && (*x || excl)))
}

/// The canonical lock list an owner must have: maximal runs of equal type.
fn runs(m: &Bytes, who: u8) -> Vec<(u64, u64, bool)> {
    let mut v: Vec<(u64, u64, bool)> = Vec::new();
    for (b, byte) in m.iter().enumerate() {
        let Some(&x) = byte.get(&who) else { continue };
        let last = if b == TOP { u64::MAX } else { b as u64 };
        match v.last_mut() {
            Some(r) if r.2 == x && r.1 + 1 == b as u64 => r.1 = last,
            _ => v.push((b as u64, last, x)),
        }
    }
    v
}

fn real_locks(h: &Harness, who: &NlmOwner) -> Vec<(u64, u64, bool)> {
    let mut v: Vec<_> =
        h.t.view(F)
            .locks
            .iter()
            .filter(|l| matches!(&l.holder.who, HolderKind::Nlm(o) if **o == *who))
            .map(|l| (l.holder.span.first, l.holder.span.last, l.holder.exclusive))
            .collect();
    v.sort();
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn posix_semantics_match_byte_model(ops in prop::collection::vec(nop(), 1..60)) {
        let mut h = Harness::new();
        let owners: Vec<NlmOwner> = (0..3).map(|i| owner("h", i)).collect();
        let mut m: Bytes = vec![BTreeMap::new(); TOP + 1];
        for op in ops {
            match op {
                NOp::Lock { who, first, len, excl } => {
                    let out = h.nlm_lock(&owners[who as usize], first, len, excl, false);
                    if model_conflict(&m, who, first, len, excl) {
                        prop_assert!(matches!(out, Outcome::Deny(Deny::Conflict(_))), "{:?}", out);
                    } else {
                        prop_assert_eq!(out, Outcome::Proceed);
                        for b in bytes_of(first, len) { m[b].insert(who, excl); }
                    }
                }
                NOp::Unlock { who, first, len } => {
                    prop_assert_eq!(h.nlm_unlock(&owners[who as usize], first, len), Outcome::Proceed);
                    for b in bytes_of(first, len) { m[b].remove(&who); }
                }
                NOp::Test { who, first, len, excl } => {
                    let out = h.nlm_test(&owners[who as usize], first, len, excl);
                    if model_conflict(&m, who, first, len, excl) {
                        // The reported holder really conflicts.
                        let Outcome::Deny(Deny::Conflict(holder)) = out else {
                            return Err(TestCaseError::fail(format!("{out:?}")));
                        };
                        let HolderKind::Nlm(o) = &holder.who else { panic!() };
                        prop_assert!(**o != owners[who as usize]);
                        prop_assert!(holder.exclusive || excl);
                    } else {
                        prop_assert_eq!(out, Outcome::Proceed);
                    }
                }
            }
            for (i, o) in owners.iter().enumerate() {
                prop_assert_eq!(real_locks(&h, o), runs(&m, i as u8), "owner {}", i);
            }
        }
        let n: usize = owners.iter().map(|o| real_locks(&h, o).len()).sum();
        prop_assert_eq!(h.t.lock_count(), n);
    }
}

// ---------------- MS-FSA / SMB ----------------

#[derive(Debug, Clone)]
enum SOp {
    Lock {
        open: u8,
        off: u64,
        len: u64,
        excl: bool,
    },
    Unlock {
        open: u8,
        off: u64,
        len: u64,
    },
    Read {
        open: u8,
        off: u64,
        len: u64,
    },
    Write {
        open: u8,
        off: u64,
        len: u64,
    },
}

fn sop() -> impl Strategy<Value = SOp> {
    let r = (0u8..3, 0u64..16, 0u64..6);
    prop_oneof![
        3 => (r.clone(), any::<bool>()).prop_map(|((open, off, len), excl)| SOp::Lock { open, off, len, excl }),
        2 => r.clone().prop_map(|(open, off, len)| SOp::Unlock { open, off, len }),
        1 => r.clone().prop_map(|(open, off, len)| SOp::Read { open, off, len }),
        1 => r.prop_map(|(open, off, len)| SOp::Write { open, off, len }),
    ]
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct MLock {
    open: u8,
    off: u64,
    len: u64,
    excl: bool,
}

/// The points a range covers.
fn points(off: u64, len: u64) -> Vec<u64> {
    if len == 0 {
        if off == 0 {
            vec![]
        } else {
            vec![2 * off]
        }
    } else {
        (2 * off + 1..=2 * (off + len - 1) + 1).collect()
    }
}

fn m_overlap(a: (u64, u64), b: (u64, u64)) -> bool {
    if a.1 == 0 && b.1 == 0 {
        return false;
    }
    let pa = points(a.0, a.1);
    let pb = points(b.0, b.1);
    pa.iter().any(|p| pb.contains(p))
}

/// MS-FSA 2.1.4.10 as written: `lock_intent` true for lock requests.
fn m_conflict(
    locks: &[MLock],
    open: u8,
    off: u64,
    len: u64,
    excl: bool,
    lock_intent: bool,
) -> bool {
    locks.iter().any(|l| {
        if !m_overlap((off, len), (l.off, l.len)) {
            return false;
        }
        if l.open == open {
            // MS-FSA 2.1.5.8: the open's own locks block its exclusive lock requests and
            // (shared ones) its writes; a shared lock stacks on its own exclusive lock.
            excl && (lock_intent || !l.excl)
        } else {
            l.excl || excl
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn msfsa_semantics_match_point_model(ops in prop::collection::vec(sop(), 1..60)) {
        let mut h = Harness::new();
        for o in 0..3u64 {
            prop_assert!(h.smb_open(o, o as u8, access::READ_DATA | access::WRITE_DATA, share::ALL).is_success());
        }
        let mut m: Vec<MLock> = Vec::new();
        for op in ops {
            match op {
                SOp::Lock { open, off, len, excl } => {
                    let out = h.smb_lock(open as u64, off, len, excl, true);
                    if m_conflict(&m, open, off, len, excl, true) {
                        prop_assert!(matches!(out, Outcome::Deny(Deny::Conflict(_))), "{:?}", out);
                    } else {
                        prop_assert_eq!(out, Outcome::Proceed);
                        m.push(MLock { open, off, len, excl });
                    }
                }
                SOp::Unlock { open, off, len } => {
                    let out = h.t.smb_unlock(OpenId(open as u64), off, len, h.now);
                    let pick = m.iter().position(|l| l.open == open && l.off == off && l.len == len && l.excl)
                        .or_else(|| m.iter().position(|l| l.open == open && l.off == off && l.len == len));
                    match pick {
                        Some(i) => { prop_assert_eq!(out, Outcome::Proceed); m.remove(i); }
                        None => prop_assert_eq!(out, Outcome::Deny(Deny::RangeNotLocked)),
                    }
                }
                SOp::Read { open, off, len } | SOp::Write { open, off, len } => {
                    let write = matches!(op, SOp::Write { .. });
                    let out = if write {
                        h.t.smb_write(OpenId(open as u64), off, len, h.now)
                    } else {
                        h.t.smb_read(OpenId(open as u64), off, len, h.now)
                    };
                    if m_conflict(&m, open, off, len, write, false) {
                        prop_assert!(matches!(out, Outcome::Deny(Deny::Conflict(_))), "{:?}", out);
                    } else {
                        prop_assert_eq!(out, Outcome::Proceed);
                    }
                }
            }
            let mut real: Vec<MLock> = h.t.view(F).locks.iter().map(|l| {
                let HolderKind::Smb { open, .. } = l.holder.who else { panic!() };
                MLock { open: open.0 as u8, off: l.holder.span.first, len: l.holder.span.smb_length(), excl: l.holder.exclusive }
            }).collect();
            real.sort();
            let mut mm = m.clone();
            mm.sort();
            prop_assert_eq!(real, mm);
        }
    }

    /// NLM and SMB owners on one file: conflicts across protocols follow overlap + either
    /// exclusive, with the MS-FSA overlap for pairs involving an SMB (possibly zero-length)
    /// lock.
    #[test]
    fn cross_protocol_lock_conflicts_match_model(ops in prop::collection::vec((any::<bool>(), 0u64..16, 0u64..6, any::<bool>()), 1..40)) {
        let mut h = Harness::new();
        h.smb_open(0, 0, access::READ_DATA, share::ALL);
        let n = owner("n", 0);
        // (is_smb, off, len, excl); NLM len 0 means to EOF.
        let mut held: Vec<(bool, u64, u64, bool)> = Vec::new();
        for (smb, off, len, excl) in ops {
            if !smb {
                // One NLM lock at a time keeps POSIX same-owner merging out of this test.
                h.nlm_unlock(&n, 0, 0);
                held.retain(|&(hs, ..)| hs);
            }
            // Every remaining pair is either cross-protocol (conflict iff overlap and either
            // side exclusive) or SMB same-open (MS-FSA 2.1.5.8: iff overlap and the request
            // exclusive; a shared lock stacks on the open's own exclusive lock).
            let conflict = held.iter().any(|&(hs, ho, hl, hx)| {
                let nlm_as_smb = |o: u64, l: u64| if l == 0 { (o, 64 - o) } else { (o, l) };
                let a = if smb { (off, len) } else { nlm_as_smb(off, len) };
                let b = if hs { (ho, hl) } else { nlm_as_smb(ho, hl) };
                m_overlap(a, b) && (if smb && hs { excl } else { hx || excl })
            });
            let out = if smb { h.smb_lock(0, off, len, excl, true) } else { h.nlm_lock(&n, off, len, excl, false) };
            if conflict {
                prop_assert!(matches!(out, Outcome::Deny(Deny::Conflict(_))), "{:?}", out);
            } else {
                prop_assert_eq!(out, Outcome::Proceed);
                held.push((smb, off, len, excl));
            }
        }
    }
}
