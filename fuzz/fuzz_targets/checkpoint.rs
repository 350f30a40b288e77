//! Fuzz target `checkpoint`: see `seedvault::fuzzing::checkpoint`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| seedvault::fuzzing::checkpoint(data));
