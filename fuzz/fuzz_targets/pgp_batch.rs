//! Fuzz target `pgp_batch`: see `seedvault::fuzzing::pgp_batch`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // A panic inside sequoia that the vault catches and refuses (a batch
    // cut short) is not a crash; any other panic still aborts.
    seedvault::fuzzing::pass_caught_panics();
    seedvault::fuzzing::pgp_batch(data)
});
