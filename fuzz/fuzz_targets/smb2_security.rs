//! Fuzz target `smb2_security`: the body is `janus_tests::fuzz_targets::smb2_security` (see its documentation
//! for the input layout), which `cargo test` also runs on every file of `corpus/smb2_security`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| janus_tests::fuzz_targets::smb2_security(data));
