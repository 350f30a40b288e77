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

/// `n` with its noun, singular for exactly one: "1 order", "2 orders".
pub(crate) fn counted(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The human form of `status`.
pub(crate) fn render_status(s: &Status) -> String {
    let mut out = String::new();
    let marker = if s.test_vault {
        "   [TEST VAULT: insecure fast KDF, never for real seeds]"
    } else {
        ""
    };
    out += &format!("Vault        {}{marker}\n", s.vault_id);
    out += &format!("Created      {}\n", s.created_at);
    out += &format!(
        "Quorum       {} of {} cards ({})\n",
        s.threshold,
        s.share_count,
        s.custodians.join(", ")
    );
    out += &format!(
        "Vault key    {} (key version {})\n",
        s.vault_fingerprint, s.key_version
    );
    out += &format!("Seeds        {}\n", s.counts.summary());
    out += &format!(
        "Orders       {} ({} pending approval, {} approved awaiting export)\n",
        s.orders,
        counted(s.requests_pending, "request", "requests"),
        s.requests_approved
    );
    out += &format!("Audit log    {}\n", s.audit.summary());
    for u in &s.unfinished_exports {
        out += &format!(
            "WARNING      export {} of request {} started {} and never completed: check the medium and the log\n",
            u.export_id, u.request_id, u.started_at
        );
    }
    if s.media.is_empty() {
        out += "Media        no removable media mounted under /media, /run/media or /mnt\n";
    }
    for m in &s.media {
        out += &format!(
            "Media        {} ({}, {}) {} free of {}\n",
            m.mount_point.display(),
            m.device,
            m.fs_type,
            crate::media::human_bytes(m.free_bytes),
            crate::media::human_bytes(m.total_bytes)
        );
    }
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

pub(super) fn replay(dir: &Path, a: JsonArg) -> Result<(), CliError> {
    let vault = Vault::open(dir)?;
    let r = vault.replay_audit()?;
    if a.json {
        print_json(&r)?;
    } else {
        println!(
            "replayed {}: {}, {} ({} voided), {}, {}, {}; {} checked",
            counted(r.entries, "entry", "entries"),
            counted(r.batches, "batch", "batches"),
            counted(r.serials, "serial", "serials"),
            r.voided,
            counted(r.orders, "order", "orders"),
            counted(r.requests, "request", "requests"),
            counted(r.exports, "export", "exports"),
            counted(
                r.signatures_checked,
                "officer signature",
                "officer signatures"
            ),
        );
        for d in &r.differences {
            println!("DIFFERS {d}");
        }
    }
    if r.differences.is_empty() {
        if !a.json {
            println!("the tables match the log");
        }
        Ok(())
    } else {
        Err(CliError::tampered(format!(
            "the tables differ from what the log records ({}; first: {})",
            counted(r.differences.len() as u64, "difference", "differences"),
            r.differences[0]
        ))
        .advise("something changed the database behind the log; involve your auditors"))
    }
}
