//! Authentication for SESSION_SETUP: SPNEGO (RFC 4178) around NTLMSSP (MS-NLMP), server
//! side, NTLMv2 only.

pub mod der;
pub mod ntlm;
pub mod spnego;
