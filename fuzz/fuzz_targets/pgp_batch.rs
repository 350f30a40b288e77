//! Fuzz target `pgp_batch`: see `seedvault::fuzzing::pgp_batch`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| seedvault::fuzzing::pgp_batch(data));
