//! `audit verify`, `audit checkpoint`, `audit export` (`audit replay` is in `inspect`).

use std::path::{Path, PathBuf};

use serde_json::json;

use super::args::{AuditCommand, AuditVerifyArgs, OutArg};
use super::error::CliError;
use super::print_json;
use crate::audit::CheckpointError;
use crate::vault::Vault;

pub fn run(dir: &Path, cmd: AuditCommand) -> Result<(), CliError> {
    match cmd {
        AuditCommand::Verify(a) => verify(dir, a),
        AuditCommand::Replay(a) => super::inspect::replay(dir, a),
        AuditCommand::Checkpoint(a) => checkpoint(dir, a),
        AuditCommand::Export(a) => export(dir, a),
    }
}

/// One `--checkpoint` file's verdict.
struct CheckpointResult {
    file: PathBuf,
    verdict: Result<crate::audit::Checkpoint, CheckpointError>,
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
    if a.json {
        let chain: Vec<_> = report
            .problems
            .iter()
            .map(|p| json!({"entry": p.seq, "problem": p.problem}))
            .collect();
        let cps: Vec<_> = results
            .iter()
            .map(|r| match &r.verdict {
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
                "audit log intact: {} entries, head {}",
                report.entries,
                report.head.hash_hex()
            );
        } else if report.problems.is_empty() {
            println!(
                "hash chain consistent: {} entries, head {}",
                report.entries,
                report.head.hash_hex()
            );
        }
        for r in &results {
            match &r.verdict {
                Ok(cp) => println!(
                    "checkpoint {}: the log extends it ({} entries, {})",
                    r.file.display(),
                    cp.entries,
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
        "the audit log failed verification ({} problem{}; first: {})",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" },
        problems[0]
    ))
    .advise("do not use this vault for exports; compare with your last exported checkpoint and involve your auditors"))
}

fn checkpoint(dir: &Path, a: OutArg) -> Result<(), CliError> {
    let vault = Vault::open(dir)?;
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
    let n = vault.export_audit(&a.out)?;
    println!("{}: {n} audit entries exported", a.out.display());
    Ok(())
}
