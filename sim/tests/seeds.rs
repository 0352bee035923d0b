//! The deterministic simulation as a test: many seeds, one seed on demand, and the
//! determinism of a run.

use std::time::Instant;

use sim::{rerun_command, run_seed, run_seed_with, world::Knobs, FULL_TRACE};

/// Seeds `cargo test` runs (override with `SIM_SEEDS=<n>`; `SIM_FIRST=<seed>` to start
/// elsewhere).
const SEEDS: u64 = 1000;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// Every seed must pass (issue 9 §4: at least 1,000 seeds in `cargo test`, in well under a
/// minute). A failure prints the command that reruns the seed with its trace.
#[test]
fn many_seeds() {
    let n = env_u64("SIM_SEEDS").unwrap_or(SEEDS);
    let first = env_u64("SIM_FIRST").unwrap_or(0);
    let start = Instant::now();
    let mut failed = Vec::new();
    let mut t = sim::check::Stats::default();
    for seed in first..first + n {
        let out = run_seed(seed, 0);
        let s = out.stats;
        t.grants += s.grants;
        t.callback_grants += s.callback_grants;
        t.reclaims += s.reclaims;
        t.lost += s.lost;
        t.crashes += s.crashes;
        t.reboots += s.reboots;
        t.dropped += s.dropped;
        t.duplicated += s.duplicated;
        t.cuts += s.cuts;
        t.reads_checked += s.reads_checked;
        t.grace_denials += s.grace_denials;
        t.smb_writes += s.smb_writes;
        t.smb_reads_checked += s.smb_reads_checked;
        t.smb_shared_opens += s.smb_shared_opens;
        t.smb_sharing_violations += s.smb_sharing_violations;
        t.smb_lock_conflicts += s.smb_lock_conflicts;
        t.smb_locks += s.smb_locks;
        t.smb_locks_refused += s.smb_locks_refused;
        t.smb_leases += s.smb_leases;
        t.smb_oplocks += s.smb_oplocks;
        t.smb_breaks += s.smb_breaks;
        t.smb_durable += s.smb_durable;
        t.smb_reconnects += s.smb_reconnects;
        if !out.violations.is_empty() {
            eprintln!("seed {seed} FAILED: {}", out.summary);
            for v in out.violations.iter().take(5) {
                eprintln!("    {v}");
            }
            eprintln!("  rerun: {}", rerun_command(seed));
            failed.push(seed);
        }
    }
    eprintln!(
        "{n} seeds from {first} in {:.1} s, {} failed; in all: {} grants ({} by callback), {} reclaims, {} locks lost in grace, {} grace denials, {} reads checked, SMB: {} writes, {} reads checked, {} opens beside another handle, {} sharing violations, {} I/O lock conflicts, {} locks granted, {} refused, {} leases and {} oplocks granted, {} breaks, {} durable handles, {} reconnected; {} server crashes, {} client reboots, {} datagrams lost, {} duplicated, {} connections cut",
        start.elapsed().as_secs_f64(),
        failed.len(),
        t.grants,
        t.callback_grants,
        t.reclaims,
        t.lost,
        t.grace_denials,
        t.reads_checked,
        t.smb_writes,
        t.smb_reads_checked,
        t.smb_shared_opens,
        t.smb_sharing_violations,
        t.smb_lock_conflicts,
        t.smb_locks,
        t.smb_locks_refused,
        t.smb_leases,
        t.smb_oplocks,
        t.smb_breaks,
        t.smb_durable,
        t.smb_reconnects,
        t.crashes,
        t.reboots,
        t.dropped,
        t.duplicated,
        t.cuts
    );
    assert!(failed.is_empty(), "failing seeds: {failed:?}");
    // The SMB clients did real work: rules 6-10 were exercised, not vacuously true.
    if n >= 100 {
        assert!(
            t.smb_writes > 0
                && t.smb_reads_checked > 0
                && t.smb_shared_opens > 0
                && t.smb_sharing_violations > 0
                && t.smb_leases > 0
                && t.smb_oplocks > 0
                && t.smb_breaks > 0,
            "the SMB clients did too little: {t:?}"
        );
    }
}

#[test]
fn one_seed() {
    let Some(seed) = env_u64("SIM_SEED") else {
        return;
    };
    let out = run_seed(seed, FULL_TRACE);
    println!("{}", out.trace);
    println!("{}", out.summary);
    for v in &out.violations {
        println!("VIOLATION {v}");
    }
    assert!(
        out.violations.is_empty(),
        "seed {seed} failed; rerun: {}",
        rerun_command(seed)
    );
}

#[test]
fn same_seed_same_trace() {
    for seed in [3, 17, 4242] {
        let a = run_seed(seed, FULL_TRACE);
        let b = run_seed(seed, FULL_TRACE);
        assert_eq!(a.trace_hash, b.trace_hash, "seed {seed}: traces differ");
        assert_eq!(a.trace, b.trace, "seed {seed}: traces differ");
        assert!(
            a.trace.lines().count() > 100,
            "seed {seed}: a trace this short tests nothing"
        );
    }
}

/// Debugging aid: where two runs of `SIM_SEED` first differ (`cargo test -p sim --test seeds
/// -- --ignored --nocapture first_divergence`).
#[test]
#[ignore]
fn first_divergence() {
    let seed = env_u64("SIM_SEED").unwrap_or(3);
    let a = run_seed(seed, FULL_TRACE);
    let b = run_seed(seed, FULL_TRACE);
    for (i, (x, y)) in a.trace.lines().zip(b.trace.lines()).enumerate() {
        if x != y {
            let al: Vec<&str> = a.trace.lines().collect();
            let bl: Vec<&str> = b.trace.lines().collect();
            println!(
                "line {i}:\n{}\n---\n{}",
                al[i.saturating_sub(5)..(i + 3).min(al.len())].join("\n"),
                bl[i.saturating_sub(5)..(i + 3).min(bl.len())].join("\n")
            );
            return;
        }
    }
}

/// The checker is not vacuous: a runtime that reports records durable before their fsync
/// lets grants reach clients before the journal holds them, and rule 3 says so.
#[test]
fn a_runtime_that_lies_about_durability_is_caught() {
    let knobs = Knobs {
        lie_about_durability: true,
    };
    let caught = (0..30)
        .filter(|&seed| {
            run_seed_with(seed, knobs, 0)
                .violations
                .iter()
                .any(|v| v.contains("before a durable journal record holds it"))
        })
        .count();
    assert!(
        caught >= 10,
        "only {caught} of 30 seeds caught the early durability reports"
    );
}

/// Seeds that once failed outside the range `many_seeds` runs, kept as regressions:
/// 4610 — after the journal failed, an SMB LOCK of a durable open was still answered, so the
/// client believed a lock a restart then lost (its answer now waits for its record).
const REGRESSION_SEEDS: &[u64] = &[4610];

#[test]
fn regression_seeds() {
    for &seed in REGRESSION_SEEDS {
        let out = run_seed(seed, 0);
        assert!(
            out.violations.is_empty(),
            "seed {seed}: {}\n  rerun: {}",
            out.summary,
            rerun_command(seed)
        );
    }
}
