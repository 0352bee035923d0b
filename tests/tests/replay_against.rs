//! `janus replay --against memory` over the ganesha captures: the client side of each
//! capture is fed to Janus's RpcServer + NFSv3 executor over a MemoryFs seeded as the capture
//! implies (and NLM calls to the NLM service over the lock table), and Janus's replies are
//! compared with nfs-ganesha 4.3's.
//!
//! Every difference from ganesha must be listed in [`ACCEPTED`] with the reason it is
//! accepted; a new difference, or a listed one that no longer happens, fails the test.

use std::collections::BTreeSet;
use std::path::PathBuf;

use replay::against::AgainstReport;
use replay::decode::{procedure_name, program_name};
use replay::{replay_command, Against};

const CAPTURES: [&str; 8] = [
    "ganesha-ls",
    "ganesha-cat",
    "ganesha-cp-in",
    "ganesha-cp-out",
    "ganesha-cp-out-large",
    "ganesha-errors",
    "ganesha-ls-portmap",
    "ganesha-nlm",
];

/// How Janus's reply differs from ganesha's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// Different status.
    Status,
    /// Same status, different results (file handles aside).
    Results,
}

/// Accepted differences: (capture, "PROGRAM PROC", kind, reason).
const ACCEPTED: &[(&str, &str, Kind, &str)] = &[
    (
        "ganesha-errors",
        "MOUNT3 MNT",
        Kind::Status,
        "MNT of a path that is no export: Janus answers MNT3ERR_NOENT (proto-nfs mount \
         service: any other path is NOENT), ganesha MNT3ERR_ACCES (as Linux mountd does for an \
         unexported path); clients report both as a failed mount",
    ),
    (
        "*",
        "MOUNT3 MNT",
        Kind::Results,
        "auth flavours: Janus offers [AUTH_SYS, AUTH_NONE], ganesha (SecType = sys) only \
         AUTH_SYS; the handle is each server's own",
    ),
    (
        "*",
        "NFS3 FSINFO",
        Kind::Results,
        "transfer sizes are each server's choice (RFC 1813 §3.3.19): Janus rtmax/wtmax 1 MiB, \
         dtpref 64 KiB; ganesha 64 MiB and 16 KiB",
    ),
    (
        "*",
        "PMAP2 GETPORT",
        Kind::Results,
        "Janus serves NFS, MOUNT, NLM and NSM on one port (2049 in the replay); the lab's \
         ganesha uses 20490/20048/20021 and statd a random port",
    ),
];

fn against(name: &str) -> AgainstReport {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("pcaps")
        .join(format!("{name}.pcap"));
    replay_command(
        &p,
        &["nfs=20490".into(), "nlm=20021".into()],
        Some(Against::Memory),
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"))
    .against
    .expect("--against report")
}

#[test]
fn janus_replies_beside_ganesha_snapshots() {
    for name in CAPTURES {
        insta::assert_snapshot!(format!("against-{name}"), against(name).to_string());
    }
}

#[test]
fn differences_from_ganesha_are_exactly_the_accepted_ones() {
    let mut seen = BTreeSet::new();
    let mut unexplained = Vec::new();
    let mut replayed = 0;
    for name in CAPTURES {
        let r = against(name);
        for c in &r.comparisons {
            if !c.replayed() {
                continue;
            }
            replayed += 1;
            let what = format!(
                "{} {}",
                program_name(c.procedure.prog, c.procedure.vers),
                procedure_name(c.procedure)
            );
            let kind = if !c.matches() {
                Kind::Status
            } else if c.results_differ() {
                Kind::Results
            } else {
                continue;
            };
            match ACCEPTED.iter().position(|(cap, w, k, _)| {
                (*cap == name || *cap == "*") && *w == what && *k == kind
            }) {
                Some(i) => {
                    seen.insert(i);
                }
                None => unexplained.push(format!(
                    "{name} frame {} {what}: {kind:?}: captured {:?} janus {:?} ({} / {:?})",
                    c.frame, c.captured, c.janus, c.detail, c.captured_detail
                )),
            }
        }
        assert!(r.notes.is_empty(), "{name}: {:?}", r.notes);
    }
    assert!(
        unexplained.is_empty(),
        "differences without a written reason:\n{}",
        unexplained.join("\n")
    );
    let stale: Vec<_> = (0..ACCEPTED.len())
        .filter(|i| !seen.contains(i))
        .map(|i| ACCEPTED[i])
        .collect();
    assert!(
        stale.is_empty(),
        "accepted differences that no longer occur: {stale:?}"
    );
    assert!(replayed >= 60, "only {replayed} calls replayed");
}

#[test]
fn janus_own_captures_replay_identically() {
    // Captures of `janus serve` (memory backend) replayed against Janus: every reply has the
    // same status and the same results (handles aside), so a behaviour change of the server
    // shows up here as a difference.
    for name in ["janus-ls", "janus-cat", "janus-cp-in", "janus-cp-out"] {
        let r = against(name);
        assert!(r.notes.is_empty(), "{name}: {:?}", r.notes);
        assert!(r.comparisons.len() >= 8, "{name}");
        for c in &r.comparisons {
            assert!(c.matches() && !c.results_differ(), "{name}: {c:?}");
        }
    }
}

#[test]
fn nlm_session_matches_ganesha() {
    // lock, conflicting TEST (with the holder), blocking LOCK -> BLOCKED, CANCEL, UNLOCK,
    // shared LOCK, UNLOCK to EOF: Janus's NLM service over the lock table answers every call
    // as ganesha did, holder included. Only ganesha's own SM_MON/SM_UNMON to its statd are
    // not replayed (they are not client traffic).
    let r = against("ganesha-nlm");
    let nlm: Vec<_> = r
        .comparisons
        .iter()
        .filter(|c| c.procedure.prog == 100_021)
        .collect();
    assert_eq!(nlm.len(), 8);
    for c in &nlm {
        assert!(c.matches() && !c.results_differ(), "{c:?}");
    }
    let statuses: Vec<_> = nlm.iter().filter_map(|c| c.janus.as_deref()).collect();
    assert_eq!(
        statuses,
        [
            "void",
            "NLM4_GRANTED",
            "NLM4_DENIED",
            "NLM4_BLOCKED",
            "NLM4_GRANTED",
            "NLM4_GRANTED",
            "NLM4_GRANTED",
            "NLM4_GRANTED"
        ]
    );
    let skipped: Vec<_> = r.comparisons.iter().filter(|c| !c.replayed()).collect();
    assert_eq!(skipped.len(), 4);
    assert!(skipped.iter().all(|c| c.procedure.prog == 100_024));
    assert!(skipped
        .iter()
        .all(|c| c.detail.starts_with("not replayed: NSM traffic")));
}
