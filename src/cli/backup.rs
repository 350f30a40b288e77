//! `seedvault backup`, `seedvault restore` and `seedvault card reissue`:
//! the key lifecycle commands that keep a vault alive past a lost disk or
//! a damaged card (branch k2).

use std::path::Path;

use secrecy::{ExposeSecret, SecretString};

use super::args::{BackupArgs, ReissueArgs, RestoreArgs};
use super::error::CliError;
use super::{passphrase, quorum};
use seedvault::cards::SealedCard;
use seedvault::vault::{self, Vault};

/// `seedvault backup --out DIR --card ...`.
pub fn backup(dir: &Path, a: BackupArgs) -> Result<(), CliError> {
    // Refuse a bad target before anyone types a passphrase.
    Vault::open(dir)?.preflight_backup(&a.out)?;
    let outcome = quorum::session(dir, &a.quorum, "backup", |u| Ok(u.backup(&a.out)?))?;
    eprintln!(
        "Backup of {} MB written to {}: log head entry {} ({}), vault.db SHA-256 {}.",
        outcome.db_bytes / 1_000_000,
        outcome.dir.display(),
        outcome.head.count,
        outcome.head.hash_hex(),
        outcome.db_sha256
    );
    eprintln!("Keep it on media apart from the vault; destroy it after a rekey (it opens with the old cards).");
    println!("{}", outcome.dir.display());
    Ok(())
}

/// `seedvault restore DIR --vault NEW --card ... [--checkpoint FILE ...]`.
pub fn restore(target: &Path, a: RestoreArgs) -> Result<(), CliError> {
    if a.passphrase_files.len() > a.cards.len() {
        return Err(CliError::usage(format!(
            "{} --passphrase-file given for {} --card",
            a.passphrase_files.len(),
            a.cards.len()
        )));
    }
    let mut checkpoints = Vec::new();
    for p in &a.checkpoints {
        let text = std::fs::read_to_string(p).map_err(|e| {
            CliError::refused(format!("cannot read checkpoint {}: {e}", p.display()))
        })?;
        checkpoints.push((text, p.clone()));
    }
    let prepared = vault::prepare_restore(&a.backup, target, &checkpoints)?;
    let mut cards = Vec::new();
    for p in &a.cards {
        cards.push(SealedCard::read(p)?);
    }
    prepared.vault().check_quorum_cards(&cards)?;
    let mut with_pass = Vec::new();
    for (i, card) in cards.into_iter().enumerate() {
        let what = format!("{} ({})", card.header.name, card.path.display());
        let pass = passphrase::nth(&a.passphrase_files, i, &what, false)?;
        with_pass.push((card, pass));
    }
    let head = prepared.head();
    let outcome = prepared.finish(with_pass)?;
    eprintln!(
        "Vault {} restored into {} from {} (backup head entry {}, {}); its log and checkpoint verified.",
        outcome.vault_id,
        outcome.vault_dir.display(),
        a.backup.display(),
        head.count,
        head.hash_hex()
    );
    println!("{}", outcome.vault_dir.display());
    Ok(())
}

/// `seedvault card reissue --custodian NAME --cards-out DIR --card ...`.
pub fn reissue(dir: &Path, a: ReissueArgs) -> Result<(), CliError> {
    let q = &a.quorum;
    if q.passphrase_files.len() > q.cards.len() {
        return Err(CliError::usage(format!(
            "{} --passphrase-file given for {} --card",
            q.passphrase_files.len(),
            q.cards.len()
        )));
    }
    let purpose = "card reissue";
    let mut vault = Vault::open(dir)?;
    let cards = quorum::read_cards(&mut vault, &q.cards, purpose)?;
    if let Err(e) = vault.preflight_reissue(&a.custodian, &a.cards_out, &cards) {
        let names: Vec<String> = cards.iter().map(|c| c.header.name.clone()).collect();
        let described = cards
            .iter()
            .map(|c| format!("{} ({})", c.header.name, c.path.display()))
            .collect();
        vault.record_refusal(purpose, names, described, &e.to_string());
        return Err(e.into());
    }
    let log = quorum::check_log(&mut vault, &cards, purpose, q.accept_broken_log)?;
    let mut with_pass = Vec::new();
    let mut again = Vec::new();
    for (i, card) in cards.into_iter().enumerate() {
        let what = format!("{} ({})", card.header.name, card.path.display());
        let pass = passphrase::nth(&q.passphrase_files, i, &what, false)?;
        // The unseal consumes its copy; the re-issue opens the cards again
        // for their shares (the unseal keeps none).
        again.push((
            card.clone(),
            SecretString::from(pass.expose_secret().to_owned()),
        ));
        with_pass.push((card, pass));
    }
    let new_pass = match &a.new_passphrase_file {
        Some(f) => passphrase::from_file(f)?,
        None => passphrase::prompt_new(&format!("{}'s new card", a.custodian))?,
    };
    let mut unsealed = vault.unseal_checked(with_pass, purpose, log)?;
    let out = unsealed.reissue_card(&a.custodian, &a.cards_out, &new_pass, &again);
    drop(again);
    let (_sealed, checkpoint) = unsealed.finish();
    let outcome = out?;
    if let Err(e) = checkpoint {
        eprintln!("WARNING: the card was re-issued, but no checkpoint was signed: {e}");
    }
    eprintln!(
        "Card of {} (share {}) re-issued by {} into {}.",
        outcome.custodian,
        outcome.member_index + 1,
        outcome.quorum.join(", "),
        outcome.card_path.display()
    );
    eprintln!(
        "New officer signing key {} replaces {}; statements signed with the old one stay verifiable.",
        outcome.officer_fingerprint, outcome.previous_officer_fingerprint
    );
    eprintln!(
        "Destroy the old card. If it or its passphrase may be in someone else's hands, a re-issue is not enough: rekey."
    );
    println!("{}", outcome.card_path.display());
    Ok(())
}
