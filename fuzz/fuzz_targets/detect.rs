//! Fuzz target `detect`: see `seedvault::fuzzing::detect`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| seedvault::fuzzing::detect(data));
