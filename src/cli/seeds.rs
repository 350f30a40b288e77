//! `ingest`, `serial show`, `serial void`, `verify-token`.

use std::path::Path;

use super::args::{IngestArgs, OneOfficer, SerialCommand, VerifyTokenArgs};
use super::error::CliError;
use super::{passphrase, print_json, quorum};
use seedvault::formats::{PskcKey, ReadOptions};
use seedvault::token::Serial;
use seedvault::vault::{IngestError, Vault, VaultError};

fn parse_serial(s: &str) -> Result<Serial, CliError> {
    Serial::parse(s).map_err(|e| CliError::usage(format!("invalid serial: {e}")))
}

impl From<IngestError> for CliError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Vault(v) => v.into(),
            other => CliError::refused(other.to_string()),
        }
    }
}

fn read_options(a: &IngestArgs) -> Result<ReadOptions, CliError> {
    let pskc_key = match (&a.pskc_key_file, &a.pskc_password_file) {
        (Some(_), Some(_)) => {
            return Err(CliError::usage(
                "give either --pskc-key-file or --pskc-password-file, not both",
            ))
        }
        (Some(f), None) => {
            let text = passphrase::from_file(f)?;
            let key = PskcKey::from_hex(&text)
                .map_err(|e| CliError::refused(format!("{}: {e}", f.display())))?;
            Some(key)
        }
        (None, Some(f)) => Some(PskcKey::Password(passphrase::from_file(f)?)),
        (None, None) => None,
    };
    Ok(ReadOptions {
        pskc_key,
        ..ReadOptions::default()
    })
}

pub fn ingest(dir: &Path, a: IngestArgs) -> Result<(), CliError> {
    let format = a.format.as_deref().map(super::parse_format).transpose()?;
    if !a.file.is_file() {
        return Err(CliError::refused(format!(
            "{}: no such file",
            a.file.display()
        )));
    }
    let factory = match &a.factory_cert {
        Some(f) => {
            let bytes =
                std::fs::read(f).map_err(|e| CliError::refused(format!("{}: {e}", f.display())))?;
            Some(
                seedvault::pgp::keys::parse_public_cert(&bytes).map_err(|e| {
                    CliError::refused(format!("{}: not an OpenPGP certificate: {e}", f.display()))
                })?,
            )
        }
        None => None,
    };
    let read_options = read_options(&a)?;
    let out = quorum::session(dir, &a.quorum, "ingest", |unsealed| {
        Ok(unsealed.ingest(&seedvault::vault::IngestSource {
            path: &a.file,
            format,
            label: a.label.clone(),
            factory_cert: factory.as_ref(),
            read_options: &read_options,
        })?)
    })?;
    seedvault::vault::crash::point("ingest-committed");
    if a.json {
        return print_json(&out);
    }
    println!(
        "batch {}: {} tokens ingested ({}{}), sha256 {}",
        out.batch_id,
        out.count,
        out.format,
        if out.openpgp {
            ", OpenPGP-encrypted"
        } else {
            ""
        },
        out.source_sha256
    );
    for w in &out.warnings {
        println!("WARNING: {w}");
    }
    Ok(())
}

/// Proves one officer by their card and passphrase.
pub(crate) fn officer(
    vault: &mut Vault,
    o: &OneOfficer,
    purpose: &str,
) -> Result<seedvault::vault::Officer, CliError> {
    let cards = quorum::read_cards(vault, std::slice::from_ref(&o.card), purpose)?;
    let log = quorum::check_log(vault, &cards, purpose, o.accept_broken_log)?;
    let card = &cards[0];
    let pass = match &o.passphrase_file {
        Some(f) => passphrase::from_file(f)?,
        None => passphrase::prompt(&format!("{} ({})", card.header.name, card.path.display()))?,
    };
    Ok(vault.authenticate_checked(card, &pass, purpose, log)?)
}

pub fn serial(dir: &Path, cmd: SerialCommand) -> Result<(), CliError> {
    match cmd {
        SerialCommand::Show { serial, json } => {
            let serial = parse_serial(&serial)?;
            let vault = Vault::open(dir)?;
            let rec = vault
                .serial_record(&serial)?
                .ok_or_else(|| VaultError::SerialNotFound {
                    serial: serial.to_string(),
                })?;
            if json {
                return print_json(&rec);
            }
            println!("Serial     {}", rec.serial);
            println!("State      {}", rec.state);
            let label = rec
                .batch_label
                .as_deref()
                .map(|l| format!(" \"{l}\""))
                .unwrap_or_default();
            // The batch's own entry is the first of the history.
            let made = if rec
                .history
                .first()
                .is_some_and(|h| h.event == seedvault::audit::events::BATCH_GENERATED)
            {
                "generated"
            } else {
                "ingested"
            };
            println!(
                "Batch      {}{label} ({}, {made} {})",
                rec.batch_id, rec.batch_format, rec.ingested_at
            );
            let p = &rec.params;
            let kind = match p.kind {
                seedvault::token::OtpKind::Totp { period } => format!("TOTP every {period} s"),
                seedvault::token::OtpKind::Hotp { counter } => {
                    format!("HOTP from counter {counter}")
                }
            };
            println!("Token      {kind}, {} digits, {}", p.digits, p.algorithm);
            if p.manufacturer.is_some() || p.model.is_some() {
                println!(
                    "Made by    {} {}",
                    p.manufacturer.as_deref().unwrap_or(""),
                    p.model.as_deref().unwrap_or("")
                );
            }
            if let Some(r) = &rec.void_reason {
                println!(
                    "Voided     {} by {}: {r}",
                    rec.voided_at.as_deref().unwrap_or("?"),
                    rec.voided_by.as_deref().unwrap_or("?")
                );
            }
            if let Some(d) = &rec.destroyed {
                println!(
                    "Destroyed  {} by {} (destruction {}): {}",
                    d.destroyed_at,
                    d.officers.join(", "),
                    d.destruction_id,
                    d.reason
                );
            }
            println!("Order      {}", rec.order_id.as_deref().unwrap_or("(none)"));
            println!("Exports    {}", rec.exports);
            println!("History");
            for h in &rec.history {
                println!(
                    "  #{:<6} {}  {:<18} {}",
                    h.seq,
                    h.time,
                    h.event,
                    h.actors.join(", ")
                );
            }
            Ok(())
        }
        SerialCommand::Void {
            serial,
            reason,
            officer: o,
        } => {
            let serial = parse_serial(&serial)?;
            // Before any passphrase is asked: the reason goes into the log
            // and into `serial show`, one line of plain text.
            seedvault::vault::check_free_text("the reason", &reason)?;
            let mut vault = Vault::open(dir)?;
            let officer = officer(&mut vault, &o, "serial void")?;
            vault.void_serial(&serial, &reason, &officer)?;
            seedvault::vault::crash::point("serial-void-committed");
            println!(
                "serial {serial} voided by {}: it can never be exported",
                officer.name
            );
            Ok(())
        }
    }
}

pub fn verify_token(dir: &Path, a: VerifyTokenArgs) -> Result<(), CliError> {
    let serial = parse_serial(&a.serial)?;
    let at = match a.at {
        Some(t) => t,
        None => seedvault::vault::clock::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .map_err(|_| CliError::refused("the system clock is before 1970"))?,
    };
    let r = quorum::session(dir, &a.quorum, "verify-token", |unsealed| {
        Ok(unsealed.verify_token(&serial, &a.code, at)?)
    })?;
    if a.json {
        print_json(&r)?;
    } else if let Some(d) = r.drift {
        println!(
            "match: serial {} code accepted, drift {d:+} steps",
            r.serial
        );
    }
    if r.matched {
        Ok(())
    } else {
        // Said once, on stderr (the JSON document above is for scripts).
        Err(CliError::refused(format!(
            "no match: the code is not accepted for serial {} within ±{} steps",
            r.serial, r.window
        )))
    }
}
