//! Fuzz target `rpc_message`: the body is `janus_tests::fuzz_targets::rpc_message` (see its documentation
//! for the input layout), which `cargo test` also runs on every file of `corpus/rpc_message`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| janus_tests::fuzz_targets::rpc_message(data));
