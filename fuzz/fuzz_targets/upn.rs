//! Fuzz target `upn`: see `seedvault::fuzzing::upn`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| seedvault::fuzzing::upn(data));
