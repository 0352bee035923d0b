//! Fuzz target `rpc_record`: the body is `janus_tests::fuzz_targets::rpc_record` (see its documentation
//! for the input layout), which `cargo test` also runs on every file of `corpus/rpc_record`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| janus_tests::fuzz_targets::rpc_record(data));
