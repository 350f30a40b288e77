//! The integration tests: one binary, a module per topic.
//!
//! Every test binary links sequoia-openpgp and SQLite again, so the suite
//! is one binary (as ripgrep's `tests/tests.rs`), with `autotests = false`
//! in Cargo.toml. Add a topic as `tests/<topic>.rs` and a `mod` line here.
//! Helpers shared with the benches are in `tests/common/`.

// A test fails by panicking: unwrap and expect say where. Its numbers are
// small test data (counts, sequence numbers) that fit every type they meet.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

mod common;

mod approval_binding;
mod audit_export;
mod audit_tamper;
mod binary_identity;
mod card_words_interop;
mod ceremony_run;
mod ceremony_scripts;
mod crash_harness;
mod duplicate_set;
mod export_cli;
mod export_spans;
mod first_hour;
mod format_capabilities;
mod formats_files;
mod formats_reject;
mod formats_robust;
mod formats_roundtrip;
mod foundation_cli;
mod full_disk;
mod fuzz_corpus;
mod hygiene;
mod ingest_cli;
mod interop_importers;
mod key_recovery;
mod log_and_card_guards;
mod no_secret_leak;
mod otp_oathtool;
mod otp_vectors;
mod params_tamper;
mod perf_paths;
mod pgp_curves;
mod pgp_gpg;
mod pgp_stream;
mod pskc_interop;
mod pskc_vectors;
mod rekey;
mod replay_cli;
mod request_lifecycle;
mod seed_destroy;
mod seed_generate;
mod serial_errors;
mod slip39_interop;
mod slip39_vectors;
mod tui_acts;
mod tui_app;
mod tui_quorum;
mod tui_shell;
mod tui_tmux;
mod typed_errors;
mod vendor_files;
