//! Fuzz target `pskc`: see `seedvault::fuzzing::pskc_plain`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| seedvault::fuzzing::pskc_plain(data));
