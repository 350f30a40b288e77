//! Fuzz target `privacyidea`: see `seedvault::fuzzing::privacyidea`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| seedvault::fuzzing::privacyidea(data));
