//! Fuzz target `slip39`: see `seedvault::fuzzing::slip39`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| seedvault::fuzzing::slip39(data));
