//! A second runtime for Janus's sans-IO server core: a seeded, deterministic simulation.
//!
//! [`world::World`] drives `server::Core` exactly through its public API, as `runtime-mio`
//! does, but with a virtual clock, an in-memory network with faults, a journal whose durable
//! prefix it chooses, `vfs::memory::MemoryFs` as the disk, and simulated client hosts
//! ([`client`]) that speak NFSv3, MOUNT, NLM v4 and NSM with the project's codecs and
//! answer the server's callbacks, and SMB clients ([`smb`]) that log on, open the same
//! files with share modes, write and read them back. [`check`] holds the invariants, [`model`] the reference
//! models they are checked against. It shares no code with `runtime-mio`.
//!
//! A run is a function of its seed ([`rng`] is the only randomness; nothing reads the OS
//! clock except one `Instant` taken as the origin of virtual time, which never reaches the
//! trace): the same seed gives the same trace, byte for byte.
//!
//! Rerun one seed with its trace: `SIM_SEED=<seed> cargo test -p sim --test seeds -- --nocapture one_seed`.

pub mod check;
pub mod client;
pub mod model;
pub mod rng;
pub mod smb;
pub mod trace;
pub mod world;

/// Trace bytes kept for a rerun of one seed.
pub const FULL_TRACE: usize = 64 << 20;

/// Runs `seed`, keeping at most `trace_bytes` of its trace.
pub fn run_seed(seed: u64, trace_bytes: usize) -> world::Outcome {
    world::World::new(world::Params::from_seed(seed), trace_bytes).run()
}

/// Runs `seed` with deliberate runtime bugs switched on (to test the checker).
pub fn run_seed_with(seed: u64, knobs: world::Knobs, trace_bytes: usize) -> world::Outcome {
    let mut p = world::Params::from_seed(seed);
    p.knobs = knobs;
    world::World::new(p, trace_bytes).run()
}

/// The command that reruns `seed` with its trace printed.
pub fn rerun_command(seed: u64) -> String {
    format!("SIM_SEED={seed} cargo test -p sim --test seeds -- --nocapture one_seed")
}
