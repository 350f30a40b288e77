//! `seedvault version [--json]`: the version and the SHA-256 of the running
//! binary, for an operator to compare with the published release hash
//! before a ceremony (the same values every `vault.unsealed` entry logs).

use super::args::JsonArg;
use super::{print_json, CliError};

pub(crate) fn run(a: JsonArg) -> Result<(), CliError> {
    let id = seedvault::vault::binary::identity().map_err(|e| {
        CliError::refused(e.to_string()).advise(
            "run seedvault from a system with /proc mounted, or hash the file with sha256sum",
        )
    })?;
    if a.json {
        return print_json(&id);
    }
    println!("seedvault {}", id.version);
    match id.commit {
        Some(c) => println!("commit {c}"),
        None => println!("commit (none recorded: not built by scripts/release)"),
    }
    println!("sha256 {}", id.sha256);
    if let Some(p) = &id.path {
        println!("path   {p}");
    }
    Ok(())
}
