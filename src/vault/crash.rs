//! Crash points for the crash tests: the one place the vault kills itself.
//!
//! Every operation that writes in more than one place (the database, a
//! medium, card files) names the moments between its writes. A test sets
//! `SEEDVAULT_TEST_CRASH_AT` to one of those names; the process then dies
//! there by SIGKILL, as `kill -9` or a power cut would: no destructor, no
//! flush, no rollback hook runs. Debug builds only: in a release build
//! the check is compiled out, so no environment variable can interrupt a
//! production act.

/// Dies here by SIGKILL when `SEEDVAULT_TEST_CRASH_AT` is `name` (debug
/// builds only).
pub(crate) fn point(name: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("SEEDVAULT_TEST_CRASH_AT").as_deref() == Ok(name) {
        let me = rustix::process::getpid();
        let _ = rustix::process::kill_process(me, rustix::process::Signal::Kill);
        // Not reached; should the signal be refused, die all the same.
        std::process::abort();
    }
    let _ = name;
}
