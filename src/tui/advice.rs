//! What to do next, in the console's own words, for each refusal of the
//! library. The CLI has its own table (with its flags); this one speaks of
//! keys and screens, so the TUI never points an officer at a command line.
//! Every screen shows a failed act as [`Shown`]: the library's message, as
//! the CLI prints it, and this advice under it.

use std::fmt;

use crate::vault::VaultError;

/// A refusal as a screen shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// The library's message, verbatim.
    pub message: String,
    /// What to do next, if there is a useful hint.
    pub advice: Option<&'static str>,
}

impl Shown {
    /// A message of the TUI's own (no library error behind it).
    pub fn text(message: impl Into<String>, advice: Option<&'static str>) -> Shown {
        Shown {
            message: message.into(),
            advice,
        }
    }
}

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(a) = self.advice {
            write!(f, "\n→ {a}")?;
        }
        Ok(())
    }
}

impl From<&VaultError> for Shown {
    fn from(e: &VaultError) -> Shown {
        shown(e)
    }
}

impl From<VaultError> for Shown {
    fn from(e: VaultError) -> Shown {
        shown(&e)
    }
}

/// The error with its advice.
pub fn shown(e: &VaultError) -> Shown {
    Shown {
        message: e.to_string(),
        advice: for_error(e),
    }
}

const INCIDENT: &str = "stop and involve the auditors: on the Audit screen (5) press v to verify and p to replay the log";

/// The advice for a library error, in TUI words (keys, screens), if any.
pub fn for_error(e: &VaultError) -> Option<&'static str> {
    use VaultError as E;
    Some(match e {
        E::TooFewCards { .. } => "select more cards with Space; the title says how many are needed",
        E::ForeignCard { .. } => "that card belongs to another vault: deselect it (Space)",
        E::DuplicateCard { .. } => "each custodian counts once: deselect the second copy (Space)",
        E::UnknownCustodian { .. } => "that card names no custodian of this vault: deselect it (Space)",
        E::Card(_) => "type the passphrase again (Ctrl-U clears the field); a card that never opens needs a re-issue by a quorum",
        E::ShareMismatch { .. } | E::WeakCardKdf { .. } => "set the card aside and report it: it was damaged or altered",
        E::WrongMasterKey(_) => "report this to the security officer: these cards do not open this vault",
        E::BrokenLog { .. } | E::Tampered(_) | E::RequestTampered { .. } | E::SeedIntegrity { .. } => INCIDENT,
        E::RequestNotFound { .. } | E::OrderNotFound { .. } | E::SerialNotFound { .. } => "press r to re-read the vault, then pick again",
        E::RequestNotPending { .. } | E::RequestNotApproved { .. } | E::VaultChanged { .. } => "press r to re-read the vault: someone else acted first",
        E::TwoPersonRule { .. } => "a different officer must present their card",
        E::ApprovalExpired { .. } => "a second officer must approve the request again",
        E::MediaMissing { .. } => "mount the medium, then choose its directory again",
        E::MediaInsideVault { .. } => "choose a directory on removable media, outside the vault",
        E::MediaNotWritable { .. } => "use a writable medium (is it write-protected?)",
        E::MediaTooSmall { .. } => "use a medium with more free space",
        E::MediumWriteFailed { .. } | E::ReadBackMismatch { .. } => "try another medium; nothing was marked exported",
        E::WouldOverwrite(_) => "choose another directory, or move the old file away first",
        E::Store(_) | E::Io { .. } => "check the disk and the medium, then try again",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_speaks_of_keys_not_flags() {
        let e = VaultError::TooFewCards {
            needed: 2,
            total: 3,
            given: 1,
        };
        let s = shown(&e);
        assert!(s.message.contains("2 of 3 cards needed"), "{s}");
        assert!(s.to_string().contains("Space"));
        assert!(!s.to_string().contains("--"));
    }
}
