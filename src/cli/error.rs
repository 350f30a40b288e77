//! How the binary reports failure: a message, advice, and an exit code.
//!
//! Exit codes are a contract (SPEC "CLI contract"): 0 success; 1 refused
//! or failed, vault unchanged; 2 usage error; 3 tampering or inconsistency.

use std::fmt;

use seedvault::vault::VaultError;

/// Exit code: refused or failed.
pub const EXIT_REFUSED: u8 = 1;
/// Exit code: usage error.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: verification found tampering.
pub const EXIT_TAMPERED: u8 = 3;

/// A failure as the person at the console sees it.
#[derive(Debug)]
pub struct CliError {
    /// What went wrong (names the file, card, line or serial).
    pub message: String,
    /// What to do next, when there is something useful to say.
    pub advice: Option<String>,
    /// The exit code.
    pub code: u8,
}

impl CliError {
    /// Refused or failed (exit 1).
    pub fn refused(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            advice: None,
            code: EXIT_REFUSED,
        }
    }
    /// Usage error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            advice: None,
            code: EXIT_USAGE,
        }
    }
    /// Tampering found (exit 3).
    pub fn tampered(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            advice: None,
            code: EXIT_TAMPERED,
        }
    }
    /// Adds advice.
    pub fn advise(mut self, advice: impl Into<String>) -> Self {
        self.advice = Some(advice.into());
        self
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
        if let Some(a) = &self.advice {
            write!(f, "\nhint: {a}")?;
        }
        Ok(())
    }
}

fn advice_for(e: &VaultError) -> Option<&'static str> {
    Some(match e {
        VaultError::TooFewCards { .. } => {
            "give one --card per custodian present, each with its passphrase"
        }
        VaultError::Card(seedvault::cards::CardError::WrongPassphrase { .. }) => {
            "the attempt was logged; the custodian may retry with the right passphrase"
        }
        VaultError::ForeignCard { .. } => {
            "check that --vault points at the vault this card was made for"
        }
        VaultError::Tampered(_) => {
            "run `seedvault audit verify` and involve your auditors before using this vault"
        }
        VaultError::Store(seedvault::store::StoreError::NoVault(_)) => {
            "set --vault DIR or SEEDVAULT_DIR, or run `seedvault init` / `seedvault demo`"
        }
        _ => return None,
    })
}

impl From<VaultError> for CliError {
    fn from(e: VaultError) -> Self {
        let code = if e.is_tampering() {
            EXIT_TAMPERED
        } else {
            EXIT_REFUSED
        };
        CliError {
            message: e.to_string(),
            advice: advice_for(&e).map(str::to_owned),
            code,
        }
    }
}

impl From<seedvault::tui::TuiError> for CliError {
    fn from(e: seedvault::tui::TuiError) -> Self {
        match e {
            seedvault::tui::TuiError::Vault(v) => v.into(),
            other => CliError::refused(other.to_string()),
        }
    }
}

impl From<seedvault::cards::CardError> for CliError {
    fn from(e: seedvault::cards::CardError) -> Self {
        VaultError::Card(e).into()
    }
}

impl From<seedvault::store::StoreError> for CliError {
    fn from(e: seedvault::store::StoreError) -> Self {
        VaultError::Store(e).into()
    }
}
