//! Fuzz target `hex_base32`: see `seedvault::fuzzing::hex_base32`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| seedvault::fuzzing::hex_base32(data));
