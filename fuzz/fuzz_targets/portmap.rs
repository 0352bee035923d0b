//! Fuzz target `portmap`: the body is `janus_tests::fuzz_targets::portmap` (see its documentation
//! for the input layout), which `cargo test` also runs on every file of `corpus/portmap`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| janus_tests::fuzz_targets::portmap(data));
