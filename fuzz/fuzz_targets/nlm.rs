//! Fuzz target `nlm`: the body is `janus_tests::fuzz_targets::nlm` (see its documentation
//! for the input layout), which `cargo test` also runs on every file of `corpus/nlm`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| janus_tests::fuzz_targets::nlm(data));
