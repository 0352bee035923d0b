//! Connection admission under hostile load (`server::admission`): limits, eviction order,
//! slowloris deadlines and rate-limited warnings.

use server::admission::*;
use std::net::IpAddr;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

#[allow(clippy::disallowed_methods)]
fn t0() -> Instant {
    Instant::now()
}

fn table(max: usize, per_client: usize) -> Admission<usize> {
    Admission::new(AdmissionLimits {
        max_connections: max,
        max_per_client: per_client,
        record_timeout: T,
    })
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn secs(t: Instant, s: u64) -> Instant {
    t + Duration::from_secs(s)
}

#[test]
fn room_means_accept() {
    let mut a = table(2, 2);
    assert_eq!(a.admit(ip("10.0.0.1"), |_| false), Admit::Accept);
    a.insert(0, ip("10.0.0.1"));
    assert_eq!(a.admit(ip("10.0.0.2"), |_| false), Admit::Accept);
    assert_eq!(a.stats(), AdmissionStats::default());
}

#[test]
fn full_table_evicts_the_connection_idle_longest() {
    let mut a = table(3, 10);
    let t = t0();
    for slot in 0..3 {
        a.insert(slot, ip(&format!("10.0.0.{slot}")));
    }
    // Slot 1 spoke first, then slot 2 was answered, then slot 0 spoke: slot 1 idled
    // longest.
    a.input(1, secs(t, 1), true, false);
    a.output(2);
    a.input(0, secs(t, 9), true, false);
    assert_eq!(
        a.admit(ip("10.9.9.9"), |_| false),
        Admit::Evict {
            slot: 1,
            limit: Limit::Table
        }
    );
    // A busy connection is never the victim, however long it has been quiet.
    assert_eq!(
        a.admit(ip("10.9.9.9"), |s| s == 1),
        Admit::Evict {
            slot: 2,
            limit: Limit::Table
        }
    );
    assert_eq!(
        a.admit(ip("10.9.9.9"), |_| true),
        Admit::Refuse(Limit::Table)
    );
    assert_eq!(
        a.stats(),
        AdmissionStats {
            evicted: 2,
            refused: 1,
            record_timeouts: 0
        }
    );
}

#[test]
fn a_partial_record_gives_way_after_every_idle_connection() {
    let mut a = table(3, 10);
    let t = t0();
    for slot in 0..3 {
        a.insert(slot, ip("10.0.0.1"));
    }
    // Slots 0 and 1 hold partial records (0 started later), slot 2 is idle and spoke
    // most recently.
    a.input(0, secs(t, 3), false, true);
    a.input(1, secs(t, 2), false, true);
    a.input(2, secs(t, 4), true, false);
    let evict = |slot| Admit::Evict {
        slot,
        limit: Limit::Table,
    };
    assert_eq!(a.admit(ip("10.0.0.2"), |_| false), evict(2));
    assert_eq!(a.admit(ip("10.0.0.2"), |s| s == 2), evict(1));
    a.remove(1);
    a.insert(1, ip("10.0.0.3"));
    assert_eq!(
        a.admit(ip("10.0.0.2"), |s| s == 2),
        evict(1),
        "idle beats partial"
    );
}

#[test]
fn a_client_at_its_cap_gives_way_among_its_own_connections() {
    let mut a = table(100, 2);
    a.insert(0, ip("10.0.0.1"));
    a.insert(1, ip("10.0.0.2"));
    a.insert(2, ip("10.0.0.2"));
    // 10.0.0.1 is the idlest, but 10.0.0.2 reached its cap: its own oldest goes.
    assert_eq!(
        a.admit(ip("10.0.0.2"), |_| false),
        Admit::Evict {
            slot: 1,
            limit: Limit::Client
        }
    );
    assert_eq!(
        a.admit(ip("10.0.0.2"), |s| s != 0),
        Admit::Refuse(Limit::Client)
    );
    assert_eq!(a.admit(ip("10.0.0.3"), |_| true), Admit::Accept);
    // Counts follow removals.
    a.remove(1);
    assert_eq!(a.admit(ip("10.0.0.2"), |_| true), Admit::Accept);
    a.remove(2);
    a.remove(2);
    assert_eq!(a.len(), 1);
    assert_eq!(a.clients(), 1, "no counter left for a client that has gone");
}

/// Accepts of one loop pass share their `now`; a newcomer put into the slot its
/// victim freed must still not be the next victim.
#[test]
fn the_oldest_goes_first_also_among_connections_of_one_instant() {
    let mut a = table(100, 8);
    for slot in 0..8 {
        a.insert(slot, ip("10.0.0.9"));
    }
    let mut oldest = (0..8).collect::<std::collections::VecDeque<usize>>();
    for _ in 0..20 {
        let Admit::Evict { slot, .. } = a.admit(ip("10.0.0.9"), |_| false) else {
            panic!("expected an eviction");
        };
        assert_eq!(Some(slot), oldest.pop_front());
        a.remove(slot);
        a.insert(slot, ip("10.0.0.9"));
        oldest.push_back(slot);
    }
}

#[test]
fn ipv6_clients_are_counted_by_their_64_and_mapped_ipv4_as_ipv4() {
    assert_eq!(
        client_of(ip("2001:db8:1:2:aaaa::1")),
        client_of(ip("2001:db8:1:2:bbbb::7"))
    );
    assert_ne!(
        client_of(ip("2001:db8:1:2::1")),
        client_of(ip("2001:db8:1:3::1"))
    );
    assert_eq!(client_of(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
    let mut a = table(100, 1);
    a.insert(0, ip("2001:db8::1"));
    assert!(matches!(
        a.admit(ip("2001:db8::ffff"), |_| false),
        Admit::Evict {
            slot: 0,
            limit: Limit::Client
        }
    ));
}

#[test]
fn a_record_must_be_complete_within_the_timeout_of_its_first_byte() {
    let mut a = table(10, 10);
    let t = t0();
    a.insert(0, ip("10.0.0.1"));
    a.insert(1, ip("10.0.0.1"));
    assert_eq!(a.next_deadline(), None);
    // Slot 0 drips bytes into one record; slot 1 streams records, each started anew.
    a.input(0, secs(t, 1), false, true);
    a.input(1, secs(t, 1), false, true);
    for s in 2..=30 {
        a.input(0, secs(t, s), false, true);
        a.input(1, secs(t, s), true, true);
    }
    assert_eq!(a.next_deadline(), Some(secs(t, 31)));
    assert!(a.take_expired(secs(t, 30), |_| true).is_empty());
    assert_eq!(a.take_expired(secs(t, 31), |_| true), vec![0]);
    assert_eq!(a.stats().record_timeouts, 1);
    assert_eq!(a.next_deadline(), Some(secs(t, 60)));
    // Slot 1 completes its record and buffers nothing: no deadline.
    a.input(1, secs(t, 40), true, false);
    assert_eq!(a.next_deadline(), None);
}

#[test]
fn back_pressure_restarts_the_deadline_instead_of_closing() {
    let mut a = table(10, 10);
    let t = t0();
    a.insert(3, ip("10.0.0.1"));
    a.input(3, t, false, true);
    assert!(a.take_expired(secs(t, 30), |_| false).is_empty());
    assert_eq!(a.next_deadline(), Some(secs(t, 60)));
    assert_eq!(a.take_expired(secs(t, 60), |_| true), vec![3]);
    // Removing a connection drops its deadline.
    a.input(3, secs(t, 61), false, true);
    a.remove(3);
    assert_eq!(a.next_deadline(), None);
    assert!(a.is_empty());
}

#[test]
fn warnings_are_rate_limited() {
    let mut a = table(1, 1);
    let t = t0();
    assert!(a.warn_due(t, Warning::Admission));
    assert!(!a.warn_due(secs(t, 9), Warning::Admission));
    assert!(a.warn_due(secs(t, 9), Warning::RecordTimeout));
    assert!(a.warn_due(secs(t, 10), Warning::Admission));
    assert!(!a.warn_due(secs(t, 10), Warning::Admission));
    assert!(!a.warn_due(secs(t, 18), Warning::RecordTimeout));
}

#[test]
fn reinserting_a_slot_forgets_the_old_connection() {
    let mut a = table(10, 10);
    let t = t0();
    a.insert(0, ip("10.0.0.1"));
    a.input(0, t, false, true);
    a.insert(0, ip("10.0.0.2"));
    assert_eq!(a.next_deadline(), None);
    assert_eq!(a.connections_of(ip("10.0.0.1")), 0);
    assert_eq!(a.connections_of(ip("10.0.0.2")), 1);
}

#[test]
fn logon_deadlines_close_who_never_logs_on() {
    let mut l = LogonDeadlines::new(T);
    let t = t0();
    l.start(1, t);
    l.start(2, secs(t, 5));
    l.start(3, secs(t, 10));
    assert_eq!(l.next_deadline(), Some(secs(t, 30)));
    // 2 logs on; 3 goes away.
    l.end(2);
    l.end(3);
    assert!(l.take_expired(secs(t, 29)).is_empty());
    assert_eq!(l.take_expired(secs(t, 30)), vec![1]);
    assert!(l.is_empty());
    assert_eq!(l.next_deadline(), None);
    assert_eq!(l.expired(), 1);
}

#[test]
fn logon_deadlines_in_order_and_restarted_by_a_new_start() {
    let mut l = LogonDeadlines::new(T);
    let t = t0();
    for (conn, at) in [(5, 3), (4, 1), (6, 2)] {
        l.start(conn, secs(t, at));
    }
    // A slot reused for a new connection starts over.
    l.start(4, secs(t, 20));
    assert_eq!(l.len(), 3);
    assert_eq!(l.take_expired(secs(t, 40)), vec![6, 5]);
    assert_eq!(l.next_deadline(), Some(secs(t, 50)));
    assert_eq!(l.take_expired(secs(t, 60)), vec![4]);
    assert_eq!(l.expired(), 3);
    assert!(l.warn_due(secs(t, 60)));
    assert!(!l.warn_due(secs(t, 69)));
    assert!(l.warn_due(secs(t, 70)));
}
