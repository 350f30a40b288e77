//! `batch generate`: seeds for a production run, with the factory's burn file.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::args::QuorumArgs;
use super::error::CliError;
use super::{print_json, quorum};
use seedvault::vault::{self, GenerateSpec};

/// `seedvault batch ...`
#[derive(Debug, Subcommand)]
pub enum BatchCommand {
    /// Generate a production batch in the vault and write its burn file,
    /// encrypted to the factory's key, to media; needs the quorum.
    Generate(GenerateArgs),
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// How many tokens.
    #[arg(long, value_name = "N")]
    pub count: u64,
    /// The first serial's number; its length is the width every number is
    /// zero-padded to (e.g. 00001000).
    #[arg(long, value_name = "S")]
    pub first_serial: String,
    /// Letters, digits and '-' before every number (e.g. TK-).
    #[arg(long, value_name = "P", default_value = "")]
    pub serial_prefix: String,
    /// KIND,ALG,DIGITS,STEP: e.g. totp,sha1,6,30 (STEP is the time step, or an HOTP's initial counter).
    #[arg(long, value_name = "KIND,ALG,DIGITS,STEP")]
    pub params: String,
    /// The manufacturer recorded for every token.
    #[arg(long, value_name = "M")]
    pub manufacturer: Option<String>,
    /// The model recorded for every token.
    #[arg(long, value_name = "X")]
    pub model: Option<String>,
    /// The factory's OpenPGP certificate: the burn file is encrypted to it.
    #[arg(long, value_name = "FILE")]
    pub factory_key: PathBuf,
    /// The burn file's format: azure-csv, hex, base32, pskc, otpauth, privacyidea.
    #[arg(long, value_name = "NAME")]
    pub format: String,
    /// The medium (a directory) the burn file and its manifest go to.
    #[arg(long, value_name = "DIR")]
    pub media: PathBuf,
    /// A label for the batch (e.g. the production run's reference).
    #[arg(long, value_name = "TEXT")]
    pub label: Option<String>,
    /// Print one JSON document to stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub quorum: QuorumArgs,
}

pub fn run(dir: &Path, cmd: BatchCommand) -> Result<(), CliError> {
    match cmd {
        BatchCommand::Generate(a) => generate(dir, a),
    }
}

fn generate(dir: &Path, a: GenerateArgs) -> Result<(), CliError> {
    let format = super::parse_format(&a.format)?;
    let params = vault::parse_params(&a.params, a.manufacturer.clone(), a.model.clone())
        .map_err(CliError::usage)?;
    let key = std::fs::read(&a.factory_key)
        .map_err(|e| CliError::refused(format!("{}: {e}", a.factory_key.display())))?;
    let key_name = a.factory_key.display().to_string();
    let out = quorum::session(dir, &a.quorum, "batch generate", |unsealed| {
        Ok(unsealed.generate_batch(&GenerateSpec {
            count: a.count,
            first_serial: &a.first_serial,
            serial_prefix: &a.serial_prefix,
            params,
            factory_key: &key,
            factory_key_name: &key_name,
            format,
            media: &a.media,
            label: a.label.clone(),
        })?)
    })?;
    if a.json {
        return print_json(&out);
    }
    if out.finished_interrupted {
        println!(
            "batch {}: the interrupted generation was finished: its files are now in place",
            out.batch_id
        );
    }
    println!(
        "batch {}: {} tokens generated, serials {} to {}",
        out.batch_id, out.count, out.first_serial, out.last_serial
    );
    println!(
        "burn file {} ({}, encrypted to {}), sha256 {}",
        out.burn_file.display(),
        out.format,
        out.factory_fingerprint,
        out.burn_sha256
    );
    println!(
        "manifest {}, sha256 {}",
        out.manifest.display(),
        out.manifest_sha256
    );
    Ok(())
}
