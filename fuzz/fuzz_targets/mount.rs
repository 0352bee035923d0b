//! Fuzz target `mount`: the body is `janus_tests::fuzz_targets::mount` (see its documentation
//! for the input layout), which `cargo test` also runs on every file of `corpus/mount`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| janus_tests::fuzz_targets::mount(data));
