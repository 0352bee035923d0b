//! ONC RPC version 2 (RFC 5531): messages, authentication, record marking, the
//! duplicate-request cache and client-side calls.
