//! `seedvault init`: the key ceremony at the console.

use std::path::Path;

use super::args::InitArgs;
use super::error::CliError;
use super::passphrase;
use seedvault::crypto::KdfParams;
use seedvault::vault::{self, InitParams};

pub fn init(dir: &Path, a: InitArgs) -> Result<(), CliError> {
    if a.passphrase_files.len() > a.custodians.len() {
        return Err(CliError::usage(format!(
            "{} --passphrase-file given for {} custodians",
            a.passphrase_files.len(),
            a.custodians.len()
        )));
    }
    let kdf = if a.insecure_fast_kdf {
        KdfParams::INSECURE_FAST
    } else {
        KdfParams::RFC9106_SECOND
    };
    let outcome = init_with(dir, &a, kdf)?;
    let names = a.custodians.join(", ");
    eprintln!(
        "Vault {} created in {}: {} of {} cards unseal it ({names}).",
        outcome.vault_id,
        dir.display(),
        a.threshold,
        a.custodians.len()
    );
    if outcome.test_vault {
        eprintln!("WARNING: TEST VAULT (--insecure-fast-kdf): card passphrases are cheap to guess. Never put real seeds in it.");
    }
    for p in &outcome.card_paths {
        eprintln!("  card: {}", p.display());
    }
    eprintln!(
        "  vault certificate: {} ({})",
        outcome.cert_path.display(),
        outcome.vault_fingerprint
    );
    eprintln!("Each custodian now takes their card away and may write down its words with `seedvault card words`.");
    println!("{}", outcome.vault_id);
    Ok(())
}

fn init_with(dir: &Path, a: &InitArgs, kdf: KdfParams) -> Result<vault::InitOutcome, CliError> {
    // Refuse a bad quorum, name or existing vault before anyone types a passphrase.
    vault::preflight(dir, a.threshold, &a.custodians, &a.cards_out).map_err(cards_out_advice)?;
    let mut passphrases = Vec::new();
    for (i, name) in a.custodians.iter().enumerate() {
        passphrases.push(passphrase::nth(
            &a.passphrase_files,
            i,
            &format!("custodian {name}"),
            true,
        )?);
    }
    let params = InitParams {
        threshold: a.threshold,
        custodians: a.custodians.clone(),
        passphrases,
        kdf,
        approval_ttl_s: a
            .approval_ttl_seconds
            .map(i64::from)
            .unwrap_or(i64::from(a.approval_ttl_hours) * 3600),
        cards_out: a.cards_out.clone(),
    };
    vault::init(dir, params).map_err(cards_out_advice)
}

/// `init` writes cards and the certificate only into `--cards-out`: a file
/// already there is one of another vault.
fn cards_out_advice(e: vault::VaultError) -> CliError {
    let overwrite = matches!(e, vault::VaultError::WouldOverwrite(_));
    let e = CliError::from(e);
    if overwrite {
        e.advise("choose a --cards-out directory without cards of another vault")
    } else {
        e
    }
}
