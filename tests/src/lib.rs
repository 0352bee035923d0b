//! Shared helpers for Janus's integration tests (end-to-end runs against the real `janus`
//! binary with third-party clients, the simulation runtime, and pcap replay).

pub mod e2e;
pub mod fuzz_targets;
pub mod replay;
pub mod smb_fuzz;
pub mod smb_harness;
