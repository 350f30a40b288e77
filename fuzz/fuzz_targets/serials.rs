//! Fuzz target `serials`: see `seedvault::fuzzing::serials`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| seedvault::fuzzing::serials(data));
