//! Fuzz target `otpauth`: see `seedvault::fuzzing::otpauth`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| seedvault::fuzzing::otpauth(data));
