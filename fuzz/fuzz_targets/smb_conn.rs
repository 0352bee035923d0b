//! Fuzz target `smb_conn`: the body is `janus_tests::smb_fuzz::smb_conn` (see its
//! documentation for the input layout and oracles), which `cargo test` also runs on every
//! file of `corpus/smb_conn`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| janus_tests::smb_fuzz::smb_conn(data));
