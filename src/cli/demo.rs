//! `seedvault demo`: a demo vault in a fresh directory, for a first look.

use std::fs;

use secrecy::SecretString;

use super::args::DemoArgs;
use super::error::CliError;
use super::inspect::render_status;
use crate::crypto::KdfParams;
use crate::vault::{self, InitParams, Vault};

/// The demo custodians and their passphrases (printed: this is a demo).
const CUSTODIANS: [(&str, &str); 3] = [
    ("alice", "alice-demo-passphrase"),
    ("bob", "bob-demo-passphrase"),
    ("carol", "carol-demo-passphrase"),
];

pub fn run(a: DemoArgs) -> Result<(), CliError> {
    let root = a.dir;
    if root.exists() && fs::read_dir(&root).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Err(CliError::refused(format!("{} exists and is not empty", root.display()))
            .advise("choose another --dir, or remove the old demo"));
    }
    let vault_dir = root.join("vault");
    let cards_dir = root.join("cards");
    let pass_dir = root.join("passphrases");
    fs::create_dir_all(&pass_dir).map_err(|e| CliError::refused(format!("{}: {e}", pass_dir.display())))?;

    println!("== Key ceremony: 2 of 3 custodians (alice, bob, carol)");
    for (name, pass) in CUSTODIANS {
        let f = pass_dir.join(format!("{name}.txt"));
        fs::write(&f, format!("{pass}\n")).map_err(|e| CliError::refused(format!("{}: {e}", f.display())))?;
        println!("   {name:<6} passphrase {pass:?}  (file {})", f.display());
    }
    let outcome = vault::init(
        &vault_dir,
        InitParams {
            threshold: 2,
            custodians: CUSTODIANS.iter().map(|(n, _)| n.to_string()).collect(),
            passphrases: CUSTODIANS.iter().map(|(_, p)| SecretString::from(p.to_string())).collect(),
            kdf: KdfParams::RFC9106_SECOND,
            approval_ttl_s: vault::DEFAULT_APPROVAL_TTL_S,
            cards_out: cards_dir.clone(),
        },
    )?;
    println!("   vault {} created in {}", outcome.vault_id, vault_dir.display());
    for p in &outcome.card_paths {
        println!("   card {}", p.display());
    }
    println!("   vault certificate {}", outcome.cert_path.display());

    let vault = Vault::open(&vault_dir)?;
    println!("\n== Status");
    print!("{}", render_status(&vault.status()?));
    let report = vault.verify_audit()?;
    println!("\n== Audit log: {} entries, {}", report.entries, if report.problems.is_empty() { "intact" } else { "TAMPERED" });

    let v = vault_dir.display();
    let c = cards_dir.display();
    let p = pass_dir.display();
    println!("\nTry next:");
    println!("   seedvault --vault {v} status");
    println!("   seedvault --vault {v} card check {c}/alice.card --passphrase-file {p}/alice.txt");
    println!("   seedvault --vault {v} audit verify");
    Ok(())
}

