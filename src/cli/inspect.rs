//! Read-only commands: `status`, `vault-cert`, `audit ...`.

use std::path::Path;

use super::args::{AuditCommand, JsonArg};
use super::error::CliError;
use super::print_json;
use crate::vault::{Status, Vault};

pub fn status(dir: &Path, a: JsonArg) -> Result<(), CliError> {
    let vault = Vault::open(dir)?;
    let s = vault.status()?;
    if a.json {
        return print_json(&s);
    }
    print!("{}", render_status(&s));
    Ok(())
}

/// The human form of `status`.
pub(crate) fn render_status(s: &Status) -> String {
    let mut out = String::new();
    let marker = if s.test_vault { "   [TEST VAULT: insecure fast KDF, never for real seeds]" } else { "" };
    out += &format!("Vault        {}{marker}\n", s.vault_id);
    out += &format!("Created      {}\n", s.created_at);
    out += &format!("Quorum       {} of {} cards ({})\n", s.threshold, s.share_count, s.custodians.join(", "));
    out += &format!("Vault key    {} (key version {})\n", s.vault_fingerprint, s.key_version);
    let c = &s.counts;
    out += &format!(
        "Seeds        {} ({} active, {} voided, {} exported) in {} batches\n",
        c.seeds, c.active, c.voided, c.exported, c.batches
    );
    out += &format!("Audit log    {} entries, head {}\n", s.audit.entries, s.audit.head);
    out
}

pub fn vault_cert(dir: &Path) -> Result<(), CliError> {
    let vault = Vault::open(dir)?;
    print!("{}", vault.vault_cert_armored()?);
    Ok(())
}

pub fn audit(dir: &Path, cmd: AuditCommand) -> Result<(), CliError> {
    super::audit::run(dir, cmd)
}
