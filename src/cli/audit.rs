//! `audit verify`, `audit replay`, `audit checkpoint`, `audit export`.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::args::{AuditCommand, AuditVerifyArgs, JsonArg, OutArg};
use super::error::CliError;
use super::{counted, print_json};
use seedvault::audit::CheckpointError;
use seedvault::vault::Vault;

pub fn run(dir: &Path, cmd: AuditCommand) -> Result<(), CliError> {
    match cmd {
        AuditCommand::Verify(a) => verify(dir, a),
        AuditCommand::Replay(a) => replay(dir, a),
        AuditCommand::Checkpoint(a) => checkpoint(dir, a),
        AuditCommand::Export(a) => export(dir, a),
    }
}

/// One `--checkpoint` file's verdict.
struct CheckpointResult {
    file: PathBuf,
    verdict: Result<seedvault::audit::Checkpoint, CheckpointError>,
}

fn verify(dir: &Path, a: AuditVerifyArgs) -> Result<(), CliError> {
    let vault = Vault::open(dir)?;
    // Read every checkpoint first: an unreadable file is a mistake (exit 1), not tampering.
    let mut texts = Vec::new();
    for f in &a.checkpoints {
        let text = std::fs::read_to_string(f).map_err(|e| {
            CliError::refused(format!("cannot read checkpoint {}: {e}", f.display()))
        })?;
        texts.push((f.clone(), text));
    }
    let report = vault.verify_audit()?;
    let mut results = Vec::new();
    for (file, text) in texts {
        let verdict = vault.verify_checkpoint(&text);
        if let Err(CheckpointError::Audit(e)) = verdict {
            return Err(CliError::refused(format!(
                "checkpoint {}: {e}",
                file.display()
            )));
        }
        results.push(CheckpointResult { file, verdict });
    }
    let mut problems: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
    for r in &results {
        if let Err(e) = &r.verdict {
            problems.push(format!("checkpoint {}: {e}", r.file.display()));
        }
    }
    let ok = problems.is_empty();
    // A checkpoint is compared with the stored hash of its entry; once the
    // chain is broken those hashes prove nothing, so no checkpoint is said
    // to be extended by this log.
    let chain_broken = !report.problems.is_empty();
    const UNCHECKED: &str =
        "not compared: the log's hash chain is broken, so it cannot be said to extend this checkpoint";
    if a.json {
        let chain: Vec<_> = report
            .problems
            .iter()
            .map(|p| json!({"entry": p.seq, "problem": p.problem}))
            .collect();
        let cps: Vec<_> = results
            .iter()
            .map(|r| match &r.verdict {
                Ok(cp) if chain_broken => json!({"file": r.file, "ok": false, "entries": cp.entries, "head": cp.head_hex(), "time": cp.time, "problem": UNCHECKED}),
                Ok(cp) => json!({"file": r.file, "ok": true, "entries": cp.entries, "head": cp.head_hex(), "time": cp.time}),
                Err(e) => json!({"file": r.file, "ok": false, "problem": e.to_string()}),
            })
            .collect();
        print_json(&json!({
            "ok": ok,
            "entries": report.entries,
            "head": report.head.hash_hex(),
            "problems": chain,
            "checkpoints": cps,
        }))?;
    } else {
        for p in &report.problems {
            println!("TAMPERED {p}");
        }
        if ok {
            println!(
                "audit log intact: {}, head {}",
                counted(report.entries, "entry", "entries"),
                report.head.hash_hex()
            );
        } else if report.problems.is_empty() {
            println!(
                "hash chain consistent: {}, head {}",
                counted(report.entries, "entry", "entries"),
                report.head.hash_hex()
            );
        }
        for r in &results {
            match &r.verdict {
                Ok(cp) if chain_broken => println!(
                    "checkpoint {}: signed by this vault ({}, {}); {UNCHECKED}",
                    r.file.display(),
                    counted(cp.entries, "entry", "entries"),
                    cp.time
                ),
                Ok(cp) => println!(
                    "checkpoint {}: the log extends it ({}, {})",
                    r.file.display(),
                    counted(cp.entries, "entry", "entries"),
                    cp.time
                ),
                Err(e) => println!("TAMPERED checkpoint {}: {e}", r.file.display()),
            }
        }
    }
    if ok {
        return Ok(());
    }
    Err(CliError::tampered(format!(
        "the audit log failed verification ({}; first: {})",
        counted(problems.len() as u64, "problem", "problems"),
        problems[0]
    ))
    .advise("do not use this vault for exports; compare with your last exported checkpoint and involve your auditors"))
}

/// Refuses an `--out` file whose directory is missing, naming it and the
/// fix, before anything is read or written.
fn out_dir_ready(out: &Path) -> Result<(), CliError> {
    let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };
    if parent.is_dir() {
        return Ok(());
    }
    let what = if parent.exists() {
        "is not a directory"
    } else {
        "does not exist"
    };
    Err(CliError::refused(format!(
        "cannot write {}: the directory {} {what}",
        out.display(),
        parent.display()
    ))
    .advise(format!(
        "mount the medium or create the directory (`mkdir -p {}`), then run the command again",
        parent.display()
    )))
}

fn checkpoint(dir: &Path, a: OutArg) -> Result<(), CliError> {
    let vault = Vault::open(dir)?;
    out_dir_ready(&a.out)?;
    match vault.save_checkpoint(&a.out)? {
        Some(cp) => {
            println!("{}: {cp}", a.out.display());
            Ok(())
        }
        None => Err(CliError::refused("this vault has no checkpoint yet")
            .advise("checkpoints are signed when a quorum command ends (e.g. `seedvault unseal --card ...`)")),
    }
}

fn export(dir: &Path, a: OutArg) -> Result<(), CliError> {
    let vault = Vault::open(dir)?;
    out_dir_ready(&a.out)?;
    let n = vault.export_audit(&a.out)?;
    println!(
        "{}: {} exported",
        a.out.display(),
        counted(n, "audit entry", "audit entries")
    );
    Ok(())
}

fn replay(dir: &Path, a: JsonArg) -> Result<(), CliError> {
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
        for u in &r.unfinished {
            println!("UNFINISHED {u}");
        }
        print_binaries(&r);
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

/// The binaries that unsealed the vault and where the binary changed
/// (`audit replay`), for comparison with the published release hashes.
fn print_binaries(r: &seedvault::audit::ReplayReport) {
    let name = |sha: &Option<String>| sha.clone().unwrap_or_else(|| "(not recorded)".into());
    if !r.binaries.is_empty() {
        println!("binaries that unsealed the vault:");
    }
    for b in &r.binaries {
        println!(
            "  {}  {}  {}, entries {}..{} ({} to {})",
            name(&b.sha256),
            b.version.as_deref().unwrap_or("(no version)"),
            counted(b.unseals, "unseal", "unseals"),
            b.first_entry,
            b.last_entry,
            b.first_time,
            b.last_time
        );
    }
    for c in &r.binary_changes {
        println!(
            "binary changed at entry {} ({}): {} -> {}",
            c.entry,
            c.time,
            name(&c.from),
            name(&c.to)
        );
    }
}
