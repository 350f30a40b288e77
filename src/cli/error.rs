//! How the binary reports failure: a message, advice, and an exit code.
//!
//! Exit codes are a contract (SPEC "CLI contract"): 0 success; 1 refused
//! or failed, vault unchanged; 2 usage error; 3 tampering or inconsistency.

use std::fmt;

use seedvault::vault::{RequestStateKind, VaultError};

/// Exit code: refused or failed.
pub const EXIT_REFUSED: u8 = 1;
/// Exit code: usage error.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: verification found tampering.
pub const EXIT_TAMPERED: u8 = 3;

/// SQLite's words for SQLITE_FULL.
const SQLITE_FULL: &str = "database or disk is full";
/// The operating system's words for ENOSPC.
const ENOSPC: &str = "No space left on device";
/// How a full disk under the vault is named.
const DISK_FULL: &str = "disk full under";

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
    /// Names a full disk under the vault directory `dir` as such: SQLite
    /// reports SQLITE_FULL as "database or disk is full" wherever in the
    /// command it happens (the message may have been wrapped by then, as
    /// in a batch refusal), and a file written into `dir` fails with
    /// ENOSPC. The refusal stays exit 1: every write is one transaction,
    /// so the vault is as before the command.
    pub fn on_full_disk(mut self, dir: &std::path::Path) -> Self {
        let sqlite_full = self.message.contains(SQLITE_FULL);
        let file_full =
            self.message.contains(ENOSPC) && self.message.contains(&*dir.to_string_lossy());
        if (sqlite_full || file_full) && !self.message.starts_with(DISK_FULL) {
            self.message = format!("{DISK_FULL} {}: {}", dir.display(), self.message);
            self.advice = Some(
                "nothing of this command was stored; free space on that file system \
                 (or move the vault to a larger one) and run the command again"
                    .into(),
            );
        }
        self
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

/// What to run or check next after a vault error, by variant: the
/// library states the fact, the command line adds the flag or command.
fn advice_for(e: &VaultError) -> Option<String> {
    let advice = match e {
        VaultError::TooFewCards { .. } => {
            "give one --card per custodian present, each with its passphrase"
        }
        VaultError::Card(seedvault::cards::CardError::WrongPassphrase { .. }) => {
            "the attempt was logged; the custodian may retry with the right passphrase"
        }
        VaultError::ForeignCard { .. } => {
            "check that --vault points at the vault this card was made for"
        }
        VaultError::Tampered(_)
        | VaultError::RequestTampered { .. }
        | VaultError::SeedIntegrity { .. } => {
            "run `seedvault audit verify` and involve your auditors before using this vault"
        }
        VaultError::BrokenLog { .. } => BROKEN_LOG_ADVICE,
        VaultError::Store(seedvault::store::StoreError::NoVault(_)) => {
            "create one with `seedvault init` (or try `seedvault demo`), or give --vault DIR or set SEEDVAULT_DIR"
        }
        VaultError::RequestNotFound { .. } => "`seedvault request list` shows every request",
        VaultError::RequestNotApproved { state, .. } if *state == RequestStateKind::Pending => {
            "another officer approves it with `seedvault request approve ID --card CARD`"
        }
        VaultError::ApprovalExpired { .. } => {
            "create the request again (`seedvault request create`) and have it approved"
        }
        VaultError::RequestChanged { .. } => {
            "nothing was recorded by this run; check the request with `seedvault request list` and run the command again if still needed"
        }
        VaultError::RequestRefused {
            already_exported, ..
        } if !already_exported.is_empty() => {
            return Some(format!(
                "to export {} again, give --reexport --reason TEXT (the re-export is flagged in the log)",
                if already_exported.len() == 1 {
                    format!("serial {}", already_exported[0])
                } else {
                    format!("these {} serials", already_exported.len())
                }
            ))
        }
        VaultError::FormatCannotCarry { format, .. } => {
            return Some(if *format == "pskc" {
                "leave these serials out with --serials-file".to_owned()
            } else {
                "choose --format pskc, which carries every token parameter, or leave these serials out with --serials-file".to_owned()
            })
        }
        VaultError::SerialNotFound { .. } => {
            "check the serial against the factory file and `seedvault order show --id ID`; seeds enter the vault with `seedvault ingest FILE`"
        }
        VaultError::SerialVoided { serial } => {
            return Some(format!(
                "`seedvault serial show {serial}` shows who voided it and why"
            ))
        }
        VaultError::VaultChanged { .. } => "run the command again",
        VaultError::OrderNotFound { .. } => {
            "record it first with `seedvault order add --id ID --customer NAME --email ADDR`"
        }
        VaultError::OrderExists { .. } => "`seedvault order show --id ID` shows what is recorded",
        VaultError::MediaMissing { .. } => "mount the medium and give its directory with --media DIR",
        VaultError::MediaInsideVault { .. } => {
            "export to removable media: give --media DIR outside the vault directory"
        }
        VaultError::MediaNotWritable { .. } => {
            "check that the medium is mounted read-write and is not write-protected"
        }
        VaultError::MediaTooSmall { .. } => "export to a medium with more free space (--media DIR)",
        VaultError::MediumWriteFailed { .. } => {
            "export it again to a medium that works: `seedvault export ID --media DIR`"
        }
        VaultError::WouldOverwrite(_) => "seedvault never overwrites a file; move it away or choose another directory",
        _ => return None,
    };
    Some(advice.to_owned())
}

/// Advice after a refusal over a broken audit log.
const BROKEN_LOG_ADVICE: &str = "the refusal was logged. Do not go on with this vault: run `seedvault audit verify`, involve your auditors, and restore a copy whose log extends the checkpoint. For incident response only, the command may go on with --accept-broken-log (logged; no checkpoint is signed)";

impl From<VaultError> for CliError {
    fn from(e: VaultError) -> Self {
        let code = if e.is_tampering() {
            EXIT_TAMPERED
        } else {
            EXIT_REFUSED
        };
        CliError {
            message: e.to_string(),
            advice: advice_for(&e),
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use seedvault::store::StoreError;

    fn cli(e: VaultError) -> CliError {
        CliError::from(e)
    }

    #[test]
    fn each_typed_refusal_exits_1_and_tampering_exits_3() {
        let id = || "R0007".to_owned();
        let media = || PathBuf::from("/media/usb");
        let refusals = [
            VaultError::RequestNotFound { id: id() },
            VaultError::RequestNotPending {
                id: id(),
                state: RequestStateKind::Approved,
            },
            VaultError::RequestNotApproved {
                id: id(),
                state: RequestStateKind::Pending,
            },
            VaultError::ApprovalExpired { id: id() },
            VaultError::TwoPersonRule {
                officer: "alice".into(),
                id: id(),
                action: "approve",
            },
            VaultError::RequestChanged {
                id: id(),
                what: "changed while it was being read".into(),
            },
            VaultError::RequestRefused {
                problems: vec!["serial A1 was already exported".into()],
                already_exported: vec!["A1".into()],
            },
            VaultError::ExportRefused {
                id: id(),
                problems: vec!["serial A1 is voided".into()],
            },
            VaultError::FormatCannotCarry {
                format: "privacyidea",
                listed: vec![("A1".into(), "SHA1 with a 32-byte seed".into())],
                more: 0,
            },
            VaultError::SerialNotFound {
                serial: "A1".into(),
            },
            VaultError::SerialVoided {
                serial: "A1".into(),
            },
            VaultError::VaultChanged { command: "ingest" },
            VaultError::OrderNotFound { id: "4711".into() },
            VaultError::OrderExists { id: "4711".into() },
            VaultError::MediaMissing { path: media() },
            VaultError::MediaInsideVault { path: media() },
            VaultError::MediaNotWritable {
                path: media(),
                source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
            },
            VaultError::MediaTooSmall {
                path: media(),
                free: 1,
                need: 2,
            },
            VaultError::MediumWriteFailed {
                id: id(),
                source: Box::new(VaultError::ReadBackMismatch {
                    path: media().join("b.asc"),
                }),
            },
            VaultError::WouldOverwrite(media().join("b.asc")),
            VaultError::Store(StoreError::NoVault(media())),
        ];
        for e in refusals {
            let shown = format!("{e:?}");
            let c = cli(e);
            assert_eq!(c.code, EXIT_REFUSED, "{shown}");
        }
        let tampering = [
            VaultError::RequestTampered {
                id: id(),
                what: "it is marked approved but carries no signed approval".into(),
            },
            VaultError::Tampered("the vault record is missing".into()),
            VaultError::SeedIntegrity {
                serial: "A1".into(),
                what: seedvault::vault::SeedFault::Sealed,
            },
            VaultError::BrokenLog {
                purpose: "export".into(),
                reason: "entry 3 does not hash to its stored hash".into(),
            },
        ];
        for e in tampering {
            let shown = format!("{e:?}");
            let c = cli(e);
            assert_eq!(c.code, EXIT_TAMPERED, "{shown}");
            let advice = c.advice.unwrap_or_default();
            assert!(
                advice.contains("seedvault audit verify"),
                "{shown}: {advice}"
            );
        }
    }

    /// The library states the fact; the flag to give is the CLI's advice.
    #[test]
    fn flags_are_advice_not_part_of_the_library_message() {
        let c = cli(VaultError::Store(StoreError::NoVault(PathBuf::from(
            "/srv/none",
        ))));
        assert_eq!(c.message, "no vault at /srv/none");
        let advice = c.advice.unwrap_or_default();
        assert!(
            advice.contains("seedvault init") && advice.contains("--vault DIR"),
            "{advice}"
        );

        let c = cli(VaultError::RequestRefused {
            problems: vec!["serial A1 was already exported".into()],
            already_exported: vec!["A1".into()],
        });
        assert!(!c.message.contains("--"), "{}", c.message);
        assert_eq!(
            c.advice.as_deref(),
            Some("to export serial A1 again, give --reexport --reason TEXT (the re-export is flagged in the log)")
        );
        // A refusal for other reasons does not suggest a re-export.
        let c = cli(VaultError::RequestRefused {
            problems: vec!["serial A2 is voided".into()],
            already_exported: vec![],
        });
        assert_eq!(c.advice, None);

        // Serial refusals: the fact in the message, the command in the hint.
        let c = cli(VaultError::SerialVoided {
            serial: "A1".into(),
        });
        assert_eq!(c.message, "serial A1 is already voided");
        assert_eq!(
            c.advice.as_deref(),
            Some("`seedvault serial show A1` shows who voided it and why")
        );
        let c = cli(VaultError::SerialNotFound {
            serial: "A1".into(),
        });
        assert!(!c.message.contains("seedvault"), "{}", c.message);
        assert!(c.advice.unwrap_or_default().contains("seedvault ingest"));
        let c = cli(VaultError::VaultChanged { command: "ingest" });
        assert!(!c.message.contains("again"), "{}", c.message);
        assert_eq!(c.advice.as_deref(), Some("run the command again"));

        let c = cli(VaultError::MediaInsideVault {
            path: PathBuf::from("/srv/vault/out"),
        });
        assert!(!c.message.contains("--media"), "{}", c.message);
        assert!(c.advice.unwrap_or_default().contains("--media DIR"));
    }
}
