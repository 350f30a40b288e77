//! `seedvault card check` and `seedvault card words`.

use std::path::Path;

use secrecy::ExposeSecret;

use super::args::{CardCommand, OneCardArgs};
use super::error::CliError;
use super::passphrase;
use seedvault::cards::SealedCard;
use seedvault::vault::Vault;

fn open(
    dir: &Path,
    a: &OneCardArgs,
    purpose: &str,
) -> Result<(Vault, SealedCard, secrecy::SecretString), CliError> {
    let mut vault = Vault::open(dir)?;
    let card =
        super::quorum::read_cards(&mut vault, std::slice::from_ref(&a.card), purpose)?.remove(0);
    let pass = match &a.passphrase_file {
        Some(f) => passphrase::from_file(f)?,
        None => passphrase::prompt(&format!("{} ({})", card.header.name, a.card.display()))?,
    };
    Ok((vault, card, pass))
}

pub fn run(dir: &Path, cmd: CardCommand) -> Result<(), CliError> {
    match cmd {
        CardCommand::Check(a) => {
            let (mut vault, card, pass) = open(dir, &a, "card check")?;
            let c = vault.check_card(&card, &pass)?;
            let info = vault.info();
            println!(
                "card OK: custodian {}, share {} of vault {} ({} of {} needed)",
                c.name,
                c.member_index + 1,
                c.vault_id,
                info.threshold,
                info.share_count
            );
            println!("signing key {}", c.officer_fingerprint);
            if !c.kdf.is_at_least_default() {
                println!("WARNING: this card uses a test-only fast KDF");
            }
            Ok(())
        }
        CardCommand::Reissue(a) => super::backup::reissue(dir, a),
        CardCommand::Words(a) => {
            let (mut vault, card, pass) = open(dir, &a, "card words")?;
            let words = vault.card_words(&card, &pass)?;
            eprintln!(
                "SLIP-0039 share of custodian {} (share {} of {}). Write these words on paper, keep them as safe as the card; anyone with {} such shares holds the master key.",
                card.header.name,
                card.header.member_index + 1,
                vault.info().share_count,
                vault.info().threshold
            );
            println!("{}", words.expose_secret());
            Ok(())
        }
    }
}
