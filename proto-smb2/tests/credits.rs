//! The sequence window against a model (an unbounded set of usable ids), and the request
//! dispatcher.

use proptest::collection::vec;
use proptest::prelude::*;
use proto_smb2::credits::{charge_for, check_charge, CreditError, CreditWindow};
use std::collections::BTreeSet;

#[test]
fn a_new_connection_has_message_id_zero_only() {
    let mut w = CreditWindow::new(512);
    assert_eq!(w.held(), 1);
    assert!(w.consume(1, 1).is_err());
    w.consume(0, 1).unwrap();
    // Reuse of an id is refused, and that ends the connection.
    let e = w.consume(0, 1).unwrap_err();
    assert_eq!(e.status(), None);
    assert_eq!(w.held(), 0);
    // With nothing held, a response grants at least one credit.
    assert_eq!(w.grant(0), 1);
    assert_eq!(w.grant(100), 100);
    assert_eq!(w.held(), 101);
    // Multi-credit: ids 1..=64 at once; then 65 is next in line.
    w.consume(1, 64).unwrap();
    w.consume(65, 0).unwrap();
    assert_eq!(w.held(), 36);
    // Never more than max_credits held.
    assert_eq!(w.grant(u16::MAX), 512 - 36);
    assert_eq!(w.grant(10), 0);
}

#[test]
fn a_hole_stops_the_window_and_grants_shrink_instead_of_memory_growing() {
    let mut w = CreditWindow::new(8);
    w.grant(7);
    // The client never uses id 0 but uses everything else, again and again.
    let mut next = 1;
    for _ in 0..100 {
        while w.consume(next, 1).is_ok() {
            next += 1;
        }
        w.grant(8);
    }
    // The window spans at most 2 * 8 ids from the hole: ids beyond are never granted.
    assert!(w.next_id() <= 16);
    assert!(w.consume(0, 1).is_ok(), "the hole is still usable");
}

#[test]
fn charges_cover_payloads() {
    assert_eq!(charge_for(0), 1);
    assert_eq!(charge_for(65536), 1);
    assert_eq!(charge_for(65537), 2);
    assert_eq!(charge_for(8 << 20), 128);
    assert!(check_charge(0, 65536).is_ok());
    assert_eq!(
        check_charge(1, 1 << 20),
        Err(CreditError::ChargeTooSmall {
            charge: 1,
            payload: 1 << 20
        })
    );
    assert_eq!(
        check_charge(1, 1 << 20).unwrap_err().status(),
        Some(proto_smb2::NtStatus::INVALID_PARAMETER)
    );
    assert!(check_charge(16, 1 << 20).is_ok());
}

#[derive(Debug, Clone)]
enum Op {
    Consume { back: u64, charge: u16 },
    Grant(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u64..40, 0u16..5).prop_map(|(back, charge)| Op::Consume { back, charge }),
        (0u16..20).prop_map(Op::Grant),
    ]
}

proptest! {
    /// Every decision equals the model's; what the client holds is what the model holds,
    /// never above the maximum.
    #[test]
    fn window_matches_model(max in 1u32..40, ops in vec(op(), 1..200)) {
        let mut w = CreditWindow::new(max);
        let mut model: BTreeSet<u64> = BTreeSet::from([0]);
        let mut next = 1u64;
        for op in ops {
            match op {
                Op::Consume { back, charge } => {
                    let id = next.saturating_sub(back);
                    let ids: Vec<u64> = (id..id + u64::from(charge.max(1))).collect();
                    let ok = ids.iter().all(|i| model.contains(i));
                    prop_assert_eq!(w.consume(id, charge).is_ok(), ok);
                    if ok {
                        for i in ids {
                            model.remove(&i);
                        }
                    }
                }
                Op::Grant(n) => {
                    let g = w.grant(n);
                    prop_assert!(g <= n.max(1));
                    for i in next..next + u64::from(g) {
                        model.insert(i);
                    }
                    next += u64::from(g);
                    // A client holding no credit has consumed every id, so the window is
                    // empty and a grant always leaves it at least one (§3.3.1.2).
                    prop_assert!(!model.is_empty());
                }
            }
            prop_assert_eq!(w.held() as usize, model.len());
            prop_assert!(w.held() <= max);
            prop_assert_eq!(w.next_id(), next);
        }
    }
}
