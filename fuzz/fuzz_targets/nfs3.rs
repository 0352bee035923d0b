//! Fuzz target `nfs3`: the body is `janus_tests::fuzz_targets::nfs3` (see its documentation
//! for the input layout), which `cargo test` also runs on every file of `corpus/nfs3`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| janus_tests::fuzz_targets::nfs3(data));
