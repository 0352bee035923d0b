//! Persistence records of a real table survive their byte encoding: what the runtime
//! journals (`Record::to_bytes`) restores the same locks (`Record::from_bytes` +
//! `LockTable::restore`). An integration test, so the one real clock reading stays outside
//! the sans-IO crate's sources.

use std::time::Instant;

use lockstate::{Config, FileId, LockRange, LockTable, NlmLockArgs, NlmOwner, Outcome, Record};

#[test]
fn records_of_a_real_table_restore_from_bytes() {
    #[allow(clippy::disallowed_methods)] // the one real reading virtual time starts from
    let now = Instant::now();
    let mut t = LockTable::new(Config::default());
    let o = NlmOwner::new("h", 1, b"o".to_vec());
    for (off, len) in [(0, 10), (20, 10), (5, 20)] {
        let out = t.nlm_lock(
            NlmLockArgs {
                file: FileId(1),
                owner: o.clone(),
                range: LockRange::nlm(off, len).unwrap(),
                exclusive: true,
                block: false,
                reclaim: false,
            },
            now,
        );
        assert_eq!(out, Outcome::Proceed);
    }
    let mut bytes = Vec::new();
    while let Some(r) = t.poll_record() {
        bytes.push(r.to_bytes());
    }
    let recs: Vec<Record> = bytes
        .iter()
        .map(|b| Record::from_bytes(b).unwrap())
        .collect();
    let mut t2 = LockTable::restore(Config::default(), recs).unwrap();
    // The merged lock 0..=29 is back: another owner conflicts at its last byte.
    let other = NlmOwner::new("g", 2, b"p".to_vec());
    let out = t2.nlm_test(
        FileId(1),
        &other,
        LockRange::nlm(29, 1).unwrap(),
        false,
        now,
    );
    assert!(matches!(out, Outcome::Deny(_)), "{out:?}");
    let out = t2.nlm_test(
        FileId(1),
        &other,
        LockRange::nlm(30, 1).unwrap(),
        false,
        now,
    );
    assert_eq!(out, Outcome::Proceed);
}
