//! Fuzz target `audit_log`: see `seedvault::fuzzing::audit_log`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| seedvault::fuzzing::audit_log(data));
