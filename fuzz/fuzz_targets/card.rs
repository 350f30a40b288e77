//! Fuzz target `card`: see `seedvault::fuzzing::card`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| seedvault::fuzzing::card(data));
