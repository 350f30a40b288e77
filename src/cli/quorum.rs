//! Gathering a quorum at the console: cards first (refused from their
//! headers before anyone types), then each card's passphrase.

use std::path::{Path, PathBuf};

use super::args::QuorumArgs;
use super::error::CliError;
use super::passphrase;
use crate::cards::SealedCard;
use crate::vault::{UnsealedVault, Vault};

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

/// Opens the vault and unseals it with the cards of `a` for `purpose`.
pub fn unseal(dir: &Path, a: &QuorumArgs, purpose: &str) -> Result<UnsealedVault, CliError> {
    check_pairing(a)?;
    let mut vault = Vault::open(dir)?;
    let cards = read_cards(&mut vault, &a.cards, purpose)?;
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
    Ok(vault.unseal(with_pass, purpose)?)
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
    let out = work(&mut unsealed);
    let (_sealed, checkpoint) = unsealed.finish();
    let out = out?;
    checkpoint.map_err(|e| {
        CliError::from(e).advise("the command's work is committed, but no checkpoint was written; the next quorum command writes one")
    })?;
    Ok(out)
}
