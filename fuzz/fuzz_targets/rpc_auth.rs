//! Fuzz target `rpc_auth`: the body is `janus_tests::fuzz_targets::rpc_auth` (see its documentation
//! for the input layout), which `cargo test` also runs on every file of `corpus/rpc_auth`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| janus_tests::fuzz_targets::rpc_auth(data));
