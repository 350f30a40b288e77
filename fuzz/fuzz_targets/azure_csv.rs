//! Fuzz target `azure_csv`: see `seedvault::fuzzing::azure_csv`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| seedvault::fuzzing::azure_csv(data));
