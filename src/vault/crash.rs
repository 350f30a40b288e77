//! Crash points for the crash tests: the one place the vault kills itself.
//!
//! Every operation that writes in more than one place (the database, a
//! medium, card files) names the moments between its writes. A test sets
//! `SEEDVAULT_TEST_CRASH_AT` to one of those names; the process then dies
//! there by SIGKILL, as `kill -9` or a power cut would: no destructor, no
//! flush, no rollback hook runs. Debug builds only: in a release build
//! the check is compiled out, so no environment variable can interrupt a
//! production act.
//!
//! [`POINTS`] lists every point there is. The crash harness
//! (`tests/crash_harness.rs`) has one case per entry and checks that the
//! list matches the `point("...")` calls in the source, so a new point
//! without a case fails the suite. See
//! `docs/decisions/2026-11-29-crash-harness.md`.

/// Every crash point, in the order an operation reaches them. Adding a
/// point: call [`point`] with a new name, add the name here, and add one
/// line to the harness's table.
pub const POINTS: &[&str] = &[
    // init: cards and database under temporary names, then linked.
    "init-cards-written",
    "init-database-created",
    "init-cards-linked",
    "init-database-linked",
    // Every quorum command (CLI session): unsealed, worked, checkpointed.
    "session-unsealed",
    "session-worked",
    "checkpoint-before-commit",
    "checkpoint-committed",
    // audit checkpoint --out
    "checkpoint-file-written",
    // ingest
    "ingest-mid-insert",
    "ingest-before-commit",
    "ingest-committed",
    // orders
    "order-add-before-commit",
    "order-add-committed",
    "order-assign-before-commit",
    "order-assign-committed",
    // requests
    "request-create-before-commit",
    "request-create-committed",
    "request-approve-before-commit",
    "request-approve-committed",
    "request-reject-before-commit",
    "request-reject-committed",
    // serial void
    "serial-void-before-commit",
    "serial-void-committed",
    // export
    "export-start-before-commit",
    "export-started",
    "export-partial-written",
    "export-bundle-written",
    "export-files-written",
    "export-complete-before-commit",
    "export-committed",
    // backup and restore
    "backup-copied",
    "restore-before-rename",
    // card reissue
    "reissue-card-written",
    // rekey
    "rekey-start-cards-written",
    "rekey-start-committed",
    "rekey-verify-before",
    "rekey-verify-committed",
    "rekey-cancel-before",
    "rekey-cancel-committed",
    "rekey-commit-before",
    "rekey-commit-committed",
    "generate-burn-written",
    "generate-manifest-written",
    "generate-before-commit",
    "generate-committed",
    "generate-burn-placed",
    "generate-manifest-placed",
    "destroy-committed",
    "destroy-scrubbed",
    "destroy-receipt-partial",
    "ceremony-step-logged",
    "ceremony-transcript-written",
];

/// Dies here by SIGKILL when `SEEDVAULT_TEST_CRASH_AT` is `name` (debug
/// builds only).
pub fn point(name: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("SEEDVAULT_TEST_CRASH_AT").as_deref() == Ok(name) {
        let me = rustix::process::getpid();
        let _ = rustix::process::kill_process(me, rustix::process::Signal::Kill);
        // Not reached; should the signal be refused, die all the same.
        std::process::abort();
    }
    let _ = name;
}
