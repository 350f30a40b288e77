//! Fuzz target `pskc_encrypted`: see `seedvault::fuzzing::pskc_encrypted`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| seedvault::fuzzing::pskc_encrypted(data));
