//! Fuzz target `nsm`: the body is `janus_tests::fuzz_targets::nsm` (see its documentation
//! for the input layout), which `cargo test` also runs on every file of `corpus/nsm`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| janus_tests::fuzz_targets::nsm(data));
