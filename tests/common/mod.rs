//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// The Python interpreter of the test venv (with shamir-mnemonic and
/// python-pskc). `scripts/test` creates it and sets SEEDVAULT_TEST_PYTHON;
/// a missing interpreter fails the test, it never skips it.
pub fn python() -> PathBuf {
    let p = std::env::var_os("SEEDVAULT_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/pyenv/bin/python"));
    assert!(
        p.exists(),
        "the interop tests need the Python venv at {}: run ./scripts/test, which creates it",
        p.display()
    );
    p
}

/// Fails the test with advice when an external tool is missing.
pub fn require_tool(name: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(found, "the interop tests need `{name}`: run ./scripts/test, which installs it");
}

/// Path to the shared directory beside the repository (SPEC, vectors, tools).
pub fn shared_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared")
}
