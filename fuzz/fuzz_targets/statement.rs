//! Fuzz target `statement`: see `seedvault::fuzzing::statement`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| seedvault::fuzzing::statement(data));
