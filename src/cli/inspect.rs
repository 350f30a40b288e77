//! Read-only commands: `status`, `vault-cert`, `audit ...`.

use std::path::Path;

use super::args::JsonArg;
use super::error::CliError;
use super::{counted, print_json};
use seedvault::vault::{Status, Vault};

pub fn status(dir: &Path, a: JsonArg) -> Result<(), CliError> {
    let vault = Vault::open(dir)?;
    let s = vault.status()?;
    if a.json {
        return print_json(&s);
    }
    print!("{}", render_status(&s));
    // A pending rekey: the old cards still work until it is committed.
    // (Read as the rekey commands read it; `rekey status` checks it.)
    if let Ok(Some(p)) = vault.pending_rekey() {
        let verified = p.custodians.len().saturating_sub(p.unverified().len());
        println!(
            "Rekey        {} pending since {} (key version {} -> {}), {verified} of {} new cards verified: `seedvault rekey status`",
            p.rekey_id,
            p.started_at,
            p.old_version,
            p.new_version,
            p.custodians.len()
        );
    }
    Ok(())
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
    match &s.retention {
        None => {
            out += &format!(
                "Retention    no policy set; {} destroyed\n",
                counted(s.destroyed, "seed", "seeds")
            )
        }
        Some(r) => {
            out += &format!(
                "Retention    seeds due {} after export (set {} by {}); {} destroyed\n",
                counted(u64::from(r.after_export_days), "day", "days"),
                r.set_at,
                r.set_by,
                counted(s.destroyed, "seed", "seeds")
            )
        }
    }
    match &s.last_backup {
        None => out += "Backup       none recorded: take one with `seedvault backup`\n",
        Some(b) => {
            out += &format!(
                "Backup       {} ({} days ago) to {}, head {}\n",
                b.at,
                b.age_s / 86_400,
                b.out,
                b.entries
            );
            if b.predates_rekey {
                out += "WARNING      the last backup predates the last rekey: it still opens with the retired cards; destroy it and take a new backup\n";
            }
        }
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
            seedvault::media::human_bytes(m.free_bytes),
            seedvault::media::human_bytes(m.total_bytes)
        );
    }
    out
}

pub fn vault_cert(dir: &Path) -> Result<(), CliError> {
    let vault = Vault::open(dir)?;
    print!("{}", vault.vault_cert_armored()?);
    Ok(())
}
