//! Passphrases: from a file given at the same position as its card, or
//! typed on the terminal without echo. Never from an argument (it would
//! land in shell history and `ps`), never echoed, never logged.

use std::path::{Path, PathBuf};

use secrecy::SecretString;

use super::error::CliError;

/// Reads a passphrase file; one trailing newline (LF or CRLF) is dropped.
pub fn from_file(path: &Path) -> Result<SecretString, CliError> {
    seedvault::cards::read_secret_file(path).map_err(CliError::refused)
}

/// Asks on the terminal. Fails with exit 1 when there is no terminal.
pub fn prompt(what: &str) -> Result<SecretString, CliError> {
    rpassword::prompt_password(format!("Passphrase for {what}: "))
        .map(SecretString::from)
        .map_err(|_| {
            CliError::refused(format!("no terminal to ask the passphrase for {what}"))
                .advise("give it with --passphrase-file PATH (at the same position as its card)")
        })
}

/// Asks twice on the terminal (for a new passphrase).
pub fn prompt_new(what: &str) -> Result<SecretString, CliError> {
    let first = prompt(what)?;
    let again = rpassword::prompt_password(format!("Repeat the passphrase for {what}: "))
        .map(SecretString::from)
        .map_err(|_| CliError::refused(format!("no terminal to ask the passphrase for {what}")))?;
    use secrecy::ExposeSecret;
    if first.expose_secret() != again.expose_secret() {
        return Err(CliError::refused(format!(
            "the two passphrases for {what} differ; nothing was created"
        )));
    }
    Ok(first)
}

/// The passphrase for item `i`: file `files[i]` if given, else the terminal.
pub fn nth(files: &[PathBuf], i: usize, what: &str, new: bool) -> Result<SecretString, CliError> {
    match files.get(i) {
        Some(f) => from_file(f),
        None if new => prompt_new(what),
        None => prompt(what),
    }
}
