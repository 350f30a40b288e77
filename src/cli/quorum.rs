//! Gathering a quorum at the console: cards first (refused from their
//! headers before anyone types), then each card's passphrase.

use std::path::{Path, PathBuf};

use super::args::QuorumArgs;
use super::error::CliError;
use super::passphrase;
use seedvault::cards::SealedCard;
use seedvault::vault::{BrokenLogPolicy, LogCheck, UnsealedVault, Vault};

/// Reads every `--card`; unreadable cards are logged as a refused attempt.
pub fn read_cards(
    vault: &mut Vault,
    paths: &[PathBuf],
    purpose: &str,
) -> Result<Vec<SealedCard>, CliError> {
    let mut cards = Vec::new();
    for p in paths {
        match SealedCard::read(p) {
            Ok(c) => cards.push(c),
            Err(e) => {
                let given: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
                vault.record_refusal(purpose, given.clone(), given, &e.to_string());
                return Err(e.into());
            }
        }
    }
    Ok(cards)
}

fn check_pairing(a: &QuorumArgs) -> Result<(), CliError> {
    if a.passphrase_files.len() > a.cards.len() {
        return Err(CliError::usage(format!(
            "{} --passphrase-file given for {} --card",
            a.passphrase_files.len(),
            a.cards.len()
        )));
    }
    Ok(())
}

/// Checks the log before anyone types a passphrase (for a quorum session
/// or an officer's act): a broken log is refused (exit 3, logged) unless
/// `accept` (`--accept-broken-log`), which goes on with a warning.
pub fn check_log(
    vault: &mut Vault,
    cards: &[SealedCard],
    purpose: &str,
    accept: bool,
) -> Result<LogCheck, CliError> {
    let policy = if accept {
        BrokenLogPolicy::Accept
    } else {
        BrokenLogPolicy::Refuse
    };
    let log = vault
        .check_log_for_session(cards, purpose, policy)
        // A broken log gets its advice by variant (`CliError::from`).
        .map_err(CliError::from)?;
    if !log.is_intact() {
        eprintln!(
            "WARNING: the audit log is broken ({}); going on under --accept-broken-log: the acceptance is logged and no checkpoint will be signed",
            log.reason()
        );
    }
    Ok(log)
}

/// Opens the vault and unseals it with the cards of `a` for `purpose`.
/// The log is checked before anyone types a passphrase: a broken log
/// refuses the session (exit 3) unless `--accept-broken-log` is given.
pub fn unseal(dir: &Path, a: &QuorumArgs, purpose: &str) -> Result<UnsealedVault, CliError> {
    check_pairing(a)?;
    let mut vault = Vault::open(dir)?;
    let cards = read_cards(&mut vault, &a.cards, purpose)?;
    let log = check_log(&mut vault, &cards, purpose, a.accept_broken_log)?;
    if let Err(e) = vault.check_quorum_cards(&cards) {
        let names: Vec<String> = cards.iter().map(|c| c.header.name.clone()).collect();
        let described = cards
            .iter()
            .map(|c| format!("{} ({})", c.header.name, c.path.display()))
            .collect();
        vault.record_refusal(purpose, names, described, &e.to_string());
        return Err(e.into());
    }
    let mut with_pass = Vec::new();
    for (i, card) in cards.into_iter().enumerate() {
        let what = format!("{} ({})", card.header.name, card.path.display());
        let pass = passphrase::nth(&a.passphrase_files, i, &what, false)?;
        with_pass.push((card, pass));
    }
    Ok(vault.unseal_checked(with_pass, purpose, log)?)
}

/// `seedvault unseal`: proves a quorum opens the vault, changes nothing
/// else (but the log's unseal entry and the closing checkpoint).
pub fn rehearse(dir: &Path, a: QuorumArgs) -> Result<(), CliError> {
    let (names, info) = session(dir, &a, "quorum check", |u| {
        Ok((u.officer_names().join(", "), u.vault().info().clone()))
    })?;
    println!(
        "quorum OK: {names} unseal vault {} ({} of {} needed); sealed again",
        info.vault_id, info.threshold, info.share_count
    );
    Ok(())
}

/// Every quorum command runs through here: unseals with the cards of `a`
/// for `purpose`, runs `work`, and ends with [`UnsealedVault::finish`]
/// (a signed checkpoint, then the keys wiped) whether `work` succeeded or
/// not, since the unseal was logged either way.
pub fn session<T>(
    dir: &Path,
    a: &QuorumArgs,
    purpose: &str,
    work: impl FnOnce(&mut UnsealedVault) -> Result<T, CliError>,
) -> Result<T, CliError> {
    let mut unsealed = unseal(dir, a, purpose)?;
    seedvault::vault::crash::point("session-unsealed");
    let out = work(&mut unsealed);
    seedvault::vault::crash::point("session-worked");
    let (_sealed, checkpoint) = unsealed.finish();
    let out = out?;
    match checkpoint {
        Ok(Some(_)) => {}
        Ok(None) => eprintln!(
            "WARNING: no checkpoint was signed: this session went on over a broken audit log (--accept-broken-log)"
        ),
        Err(e) if e.is_tampering() => {
            return Err(CliError::from(e).advise(
                "the command's work is committed, but the log changed behind it; the refusal was logged: run `seedvault audit verify`",
            ))
        }
        Err(e) => {
            return Err(CliError::from(e).advise("the command's work is committed, but no checkpoint was written; the next quorum command writes one"))
        }
    }
    Ok(out)
}
