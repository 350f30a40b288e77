//! Fuzz target `pgp_cert`: see `seedvault::fuzzing::pgp_cert`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| seedvault::fuzzing::pgp_cert(data));
