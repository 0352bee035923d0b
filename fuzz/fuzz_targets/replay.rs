//! Fuzz target `replay`: the body is `janus_tests::fuzz_targets::replay` (see its documentation
//! for the input layout), which `cargo test` also runs on every file of `corpus/replay`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| janus_tests::fuzz_targets::replay(data));
