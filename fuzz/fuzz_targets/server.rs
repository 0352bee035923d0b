//! Fuzz target `server`: the body is `janus_tests::fuzz_targets::server` (see its documentation
//! for the input layout), which `cargo test` also runs on every file of `corpus/server`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| janus_tests::fuzz_targets::server(data));
