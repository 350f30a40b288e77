//! The command-line front end: parse, call the library, report.
//!
//! Nothing here opens the database or calls a cipher; it turns arguments
//! into library calls and library errors into messages and exit codes
//! (see `error.rs` for the contract).

mod args;
mod audit;
mod backup;
mod cards;
mod ceremony;
mod demo;
mod destroy;
mod error;
mod generate;
mod inspect;
mod orders;
mod passphrase;
mod quorum;
mod rekey;
mod seeds;
mod setup;
mod version;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

pub(crate) use args::Cli;
use args::Command;
pub(crate) use error::{CliError, EXIT_REFUSED, EXIT_USAGE};

/// A reader that stops early (`seedvault request list | head`) closes the
/// pipe; Rust then panics inside `println!`. Output that nobody reads is
/// not a failure worth a backtrace: leave quietly with exit 1, as the
/// output is incomplete. A panic the library catches and refuses itself
/// (`pgp::decrypt::panic_is_caught`) prints nothing. Every other panic
/// keeps the default report.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(i32::from(EXIT_REFUSED));
        }
        if seedvault::pgp::decrypt::panic_is_caught() {
            return;
        }
        default(info);
    }));
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    quiet_on_broken_pipe();
    if let Err(e) = seedvault::hygiene::harden_process() {
        eprintln!("error: {e}; refusing to run");
        return ExitCode::from(EXIT_REFUSED);
    }
    if let Err(e) = seedvault::crypto::selftest::run() {
        eprintln!("error: {e}");
        return ExitCode::from(EXIT_REFUSED);
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors to stderr (exit 2).
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    let dir = vault_dir(&cli);
    match run(cli).map_err(|e| e.on_full_disk(&dir)) {
        Ok(()) => {
            let _ = std::io::stdout().flush();
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = std::io::stdout().flush();
            eprintln!("{e}");
            ExitCode::from(e.code)
        }
    }
}

/// The vault directory: `--vault`, else `$SEEDVAULT_DIR`, else `./vault`.
fn vault_dir(cli: &Cli) -> PathBuf {
    cli.vault.clone().unwrap_or_else(|| PathBuf::from("vault"))
}

fn run(cli: Cli) -> Result<(), CliError> {
    let dir = vault_dir(&cli);
    match cli.command {
        Command::Init(a) => setup::init(&dir, a),
        Command::Status(a) => inspect::status(&dir, a),
        Command::VaultCert => inspect::vault_cert(&dir),
        Command::Card(a) => cards::run(&dir, a),
        Command::Ingest(a) => seeds::ingest(&dir, a),
        Command::Serial(a) => seeds::serial(&dir, a),
        Command::VerifyToken(a) => seeds::verify_token(&dir, a),
        Command::Order(a) => orders::order(&dir, a),
        Command::Request(a) => orders::request(&dir, a),
        Command::Export(a) => orders::export(&dir, a),
        Command::Unseal(a) => quorum::rehearse(&dir, a),
        Command::Audit(a) => audit::run(&dir, a),
        Command::Demo(a) => demo::run(a),
        Command::Rekey(a) => rekey::run(&dir, a),
        Command::Backup(a) => backup::backup(&dir, a),
        Command::Restore(a) => backup::restore(&dir, a),
        Command::Ceremony(a) => ceremony::run(&dir, a),
        Command::Batch(a) => generate::run(&dir, a),
        Command::Version(a) => version::run(a),
        Command::Retention(a) => destroy::retention(&dir, a),
        Command::Seeds(a) => destroy::seeds(&dir, a),
        Command::Tui(a) => Ok(seedvault::tui::run(
            &dir,
            std::time::Duration::from_secs(a.idle_timeout),
            a.media,
        )?),
    }
}

pub(crate) use seedvault::vault::counted;

/// A `--format` name, or a usage error listing every format.
pub(crate) fn parse_format(name: &str) -> Result<seedvault::formats::Format, CliError> {
    use seedvault::formats::Format;
    Format::from_name(name).ok_or_else(|| {
        let all: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
        CliError::usage(format!(
            "unknown format {name:?}; one of: {}",
            all.join(", ")
        ))
    })
}

/// Prints one JSON document to stdout.
pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| CliError::refused(e.to_string()))?;
    println!("{text}");
    Ok(())
}
