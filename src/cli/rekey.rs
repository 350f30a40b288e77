//! `seedvault rekey start|status|verify|commit|cancel`: the key lifecycle
//! at the console. Every prompt names the rekey and its share set, so a
//! custodian sees which rekey they are typing a passphrase for.

use std::path::Path;

use serde_json::json;

use super::args::{QuorumArgs, RekeyCommand, RekeyOneCardArgs, RekeyStartArgs};
use super::error::CliError;
use super::{passphrase, print_json, quorum};
use seedvault::cards::SealedCard;
use seedvault::vault::{short_share_set, PendingRekey, Vault, VaultError};

pub fn run(dir: &Path, cmd: RekeyCommand) -> Result<(), CliError> {
    match cmd {
        RekeyCommand::Start(a) => start(dir, a),
        RekeyCommand::Status(a) => status(dir, a.json),
        RekeyCommand::Verify(a) => verify(dir, a),
        RekeyCommand::Commit(a) => commit(dir, a),
        RekeyCommand::Cancel(a) => cancel(dir, a),
    }
}

/// How a rekey is named on prompts and in messages.
fn label(p: &PendingRekey) -> String {
    format!(
        "rekey {} (share set {}, key version {} -> {})",
        p.rekey_id,
        short_share_set(&p.share_set),
        p.old_version,
        p.new_version
    )
}

fn pending_advice(e: VaultError) -> CliError {
    let advice = match &e {
        VaultError::RekeyPending { .. } => Some(
            "`seedvault rekey status` shows it; finish it (`rekey verify`, `rekey commit`) or discard it with `seedvault rekey cancel --card CARD`",
        ),
        VaultError::NoPendingRekey => Some("start one with `seedvault rekey start`"),
        VaultError::RekeyNotVerified { .. } => Some(
            "each new custodian runs `seedvault rekey verify --card NEW` with their own card; `seedvault rekey status` shows who is missing",
        ),
        VaultError::NotOfPendingRekey { .. } | VaultError::UncommittedCard { .. } => Some(
            "use the cards this pending rekey wrote (their headers name its id and share set); `seedvault rekey status` shows it",
        ),
        VaultError::RetiredCard { .. } => Some(
            "cards of a retired key version open nothing; use a card of the current set (`seedvault status` lists its custodians) and destroy the old one",
        ),
        _ => None,
    };
    let cli = CliError::from(e);
    match advice {
        Some(a) => cli.advise(a),
        None => cli,
    }
}

fn start(dir: &Path, a: RekeyStartArgs) -> Result<(), CliError> {
    if a.new_passphrase_files.len() > a.custodians.len() {
        return Err(CliError::usage(format!(
            "{} --new-passphrase-file given for {} --custodian",
            a.new_passphrase_files.len(),
            a.custodians.len()
        )));
    }
    // Refuse a pending rekey, a bad quorum or name, or a card that would
    // be overwritten before anyone types a passphrase.
    let vault = Vault::open(dir)?;
    let next = vault.info().key_version + 1;
    vault
        .rekey_preflight(a.threshold, &a.custodians, &a.cards_out)
        .map_err(pending_advice)?;
    drop(vault);
    let started = quorum::session(dir, &a.quorum, "rekey start", |u| {
        // The new key, shares and officer keys exist before anyone types,
        // so every prompt names this rekey and its share set.
        let prepared = u
            .rekey_prepare(a.threshold, &a.custodians, &a.cards_out)
            .map_err(pending_advice)?;
        let this = format!(
            "rekey {} (share set {}, key version {next})",
            prepared.rekey_id(),
            short_share_set(&prepared.share_set())
        );
        eprintln!("Preparing {this}: each new custodian now chooses a passphrase for their card.");
        let mut passphrases = Vec::new();
        for (i, name) in a.custodians.iter().enumerate() {
            passphrases.push(passphrase::nth(
                &a.new_passphrase_files,
                i,
                &format!("new custodian {name}, card of {this}"),
                true,
            )?);
        }
        u.rekey_start_prepared(prepared, passphrases)
            .map_err(pending_advice)
    })?;
    eprintln!(
        "Rekey {} started: key version {} with {} of {} cards ({}).",
        started.rekey_id,
        started.new_version,
        a.threshold,
        a.custodians.len(),
        a.custodians.join(", ")
    );
    eprintln!(
        "  share set {} (every new card's header names it)",
        short_share_set(&started.share_set)
    );
    for p in &started.card_paths {
        eprintln!("  new card: {}", p.display());
    }
    eprintln!("The current cards keep working until commit. Each new custodian now runs `seedvault rekey verify --card THEIR.card`; then `seedvault rekey commit` with {} new cards.", a.threshold);
    println!("{}", started.rekey_id);
    Ok(())
}

fn status(dir: &Path, as_json: bool) -> Result<(), CliError> {
    let vault = Vault::open(dir)?;
    let pending = vault.pending_rekey()?;
    if as_json {
        return print_json(&json!({
            "key_version": vault.info().key_version,
            "threshold": vault.info().threshold,
            "share_count": vault.info().share_count,
            "master_check": vault.info().master_check_hex(),
            "pending": pending,
        }));
    }
    let Some(p) = pending else {
        println!(
            "no rekey pending; the vault runs on key version {}",
            vault.info().key_version
        );
        return Ok(());
    };
    println!("{} pending since {}", label(&p), p.started_at);
    println!(
        "  share set {} ({} of {} cards will unseal)",
        p.share_set, p.threshold, p.share_count
    );
    for c in &p.custodians {
        println!(
            "  {} (share {}): {}",
            c.name,
            c.member_index + 1,
            if c.verified {
                "verified"
            } else {
                "NOT verified"
            }
        );
    }
    let missing = p.unverified();
    if missing.is_empty() {
        println!(
            "every new card was verified; commit with {} of them",
            p.threshold
        );
    } else {
        println!(
            "commit needs every card verified; missing: {}",
            missing.join(", ")
        );
    }
    Ok(())
}

fn read_one(vault: &mut Vault, path: &Path, purpose: &str) -> Result<SealedCard, CliError> {
    Ok(quorum::read_cards(vault, &[path.to_owned()], purpose)?.remove(0))
}

fn verify(dir: &Path, a: RekeyOneCardArgs) -> Result<(), CliError> {
    let mut vault = Vault::open(dir)?;
    let card = read_one(&mut vault, &a.card, "rekey verify")?;
    let p = vault
        .check_rekey_cards(std::slice::from_ref(&card), false)
        .map_err(pending_advice)?;
    // An act recorded in the log, over a log that verifies.
    quorum::check_log(
        &mut vault,
        std::slice::from_ref(&card),
        "rekey verify",
        false,
    )?;
    let pass = match &a.passphrase_file {
        Some(f) => passphrase::from_file(f)?,
        None => passphrase::prompt(&format!(
            "{} ({}), new card of {}",
            card.header.name,
            a.card.display(),
            label(&p)
        ))?,
    };
    let c = vault.rekey_verify(&card, &pass).map_err(pending_advice)?;
    let now = vault.pending_rekey()?;
    if a.json {
        return print_json(&json!({ "verified": c, "pending": now }));
    }
    println!(
        "card OK: {} (share {}) verified for {}",
        c.name,
        c.member_index + 1,
        label(&p)
    );
    if let Some(now) = now {
        let missing = now.unverified();
        if missing.is_empty() {
            println!("every new card is verified; `seedvault rekey commit` with {} of them switches the vault", now.threshold);
        } else {
            println!("still to verify: {}", missing.join(", "));
        }
    }
    Ok(())
}

fn commit(dir: &Path, a: QuorumArgs) -> Result<(), CliError> {
    if a.passphrase_files.len() > a.cards.len() {
        return Err(CliError::usage(format!(
            "{} --passphrase-file given for {} --card",
            a.passphrase_files.len(),
            a.cards.len()
        )));
    }
    const PURPOSE: &str = "rekey commit";
    let mut vault = Vault::open(dir)?;
    let cards = quorum::read_cards(&mut vault, &a.cards, PURPOSE)?;
    // Every card verified and M of them given: refused before anyone types.
    let p = vault
        .check_rekey_cards(&cards, true)
        .map_err(pending_advice)?;
    // The commit acts on the log's rekey.started entry: a broken log refuses.
    let log = quorum::check_log(&mut vault, &cards, PURPOSE, false)?;
    let mut with_pass = Vec::new();
    for (i, card) in cards.into_iter().enumerate() {
        let what = format!(
            "{} ({}), new card of {}",
            card.header.name,
            card.path.display(),
            label(&p)
        );
        let pass = passphrase::nth(&a.passphrase_files, i, &what, false)?;
        with_pass.push((card, pass));
    }
    let (done, unsealed) = vault.rekey_commit(with_pass, log).map_err(pending_advice)?;
    let (_sealed, checkpoint) = unsealed.finish();
    eprintln!(
        "Rekey {} committed: the vault runs on key version {} ({} of {} cards); {} batch data keys rewrapped, no seed re-encrypted.",
        done.rekey_id, done.new_version, done.threshold, done.share_count, done.data_keys
    );
    eprintln!(
        "The cards of key version {} are retired: destroy them, and destroy backups made before this rekey (they open with the old cards).",
        done.old_version
    );
    if let Err(e) = checkpoint {
        return Err(CliError::from(e).advise(
            "the rekey is committed, but no checkpoint was written; the next quorum command writes one",
        ));
    }
    println!("{}", done.rekey_id);
    Ok(())
}

fn cancel(dir: &Path, a: RekeyOneCardArgs) -> Result<(), CliError> {
    const PURPOSE: &str = "rekey cancel";
    let mut vault = Vault::open(dir)?;
    let card = read_one(&mut vault, &a.card, PURPOSE)?;
    // Named on the prompt; rows that do not match the log are still
    // cancelled (cancel only deletes them).
    let shown = match vault.pending_rekey() {
        Ok(Some(p)) => label(&p),
        Ok(None) => return Err(pending_advice(VaultError::NoPendingRekey)),
        Err(_) => "the pending rekey (its rows do not match the log)".to_owned(),
    };
    let log = quorum::check_log(&mut vault, std::slice::from_ref(&card), PURPOSE, false)?;
    let pass = match &a.passphrase_file {
        Some(f) => passphrase::from_file(f)?,
        None => passphrase::prompt(&format!(
            "{} ({}), to cancel {shown}",
            card.header.name,
            a.card.display()
        ))?,
    };
    let officer = vault.authenticate_checked(&card, &pass, PURPOSE, log)?;
    let p = vault.rekey_cancel(&officer).map_err(pending_advice)?;
    if a.json {
        return print_json(
            &json!({ "cancelled": p.rekey_id, "share_set": p.share_set, "by": officer.name }),
        );
    }
    println!(
        "rekey {} (share set {}) cancelled by {}; the vault stays on key version {} and its cards; the new cards open nothing and may be destroyed",
        p.rekey_id,
        short_share_set(&p.share_set),
        officer.name,
        p.old_version
    );
    Ok(())
}
