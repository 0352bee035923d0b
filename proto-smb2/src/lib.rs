//! SMB 2/3 for Janus — not built yet.
//!
//! This crate will hold NBSS framing, the SMB2/3 header and command codecs, compounds,
//! credits, signing and encryption, SPNEGO/NTLMv2, the connection/session/tree/open state
//! machines, async replies (STATUS_PENDING, CANCEL) and oplock/lease break notifications.
//! Like the other protocol crates it is sans-IO and takes every lock decision from
//! `lockstate` (see `docs/architecture.md`, "The sans-IO rule").
