//! The Janus runtime: a small mio event loop that drives the sans-IO protocol machines, the
//! file-system backends they act on, the state journal, configuration, and the `janus`
//! binary.

pub mod replay;
pub mod vfs;
