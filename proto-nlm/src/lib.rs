//! NLM v4 (program 100021) and NSM v1 (program 100024) for Janus, sans-IO.
//!
//! - [`wire`]: codecs for every NLM v4 and NSM v1 message (XNFS "Protocols for
//!   Interworking", chapters 10 and 11; the `nlm4_*` forms as Linux `fs/lockd/xdr4.c` decodes
//!   them).
//! - [`service`]: the NLM/NSM service state machine: owners, blocked locks and GRANTED
//!   callbacks, `_MSG`/`_RES`, the NSM monitor list, SM_NOTIFY and client-reboot cleanup;
//!   lock decisions go to the lock table through [`service::LockBackend`].
//!
//! Nothing here does I/O or reads a clock: see `docs/architecture.md`, "The sans-IO rule".

pub mod service;
pub mod wire;
