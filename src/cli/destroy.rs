//! `retention set|due` and `seeds destroy` (d1).

use std::path::Path;

use serde_json::json;

use super::args::{DestroyArgs, RetentionCommand, SeedsCommand};
use super::error::CliError;
use super::{counted, print_json, quorum};
use seedvault::vault::{DestroySelection, Vault};

/// How many serials of an order `retention due` prints (all with --json).
const SHOWN_PER_ORDER: usize = 20;

pub fn retention(dir: &Path, cmd: RetentionCommand) -> Result<(), CliError> {
    match cmd {
        RetentionCommand::Set(a) => {
            let mut vault = Vault::open(dir)?;
            let officer = super::seeds::officer(&mut vault, &a.officer, "retention set")?;
            let p = vault.set_retention(a.after_export, &officer)?;
            println!(
                "retention set by {}: seeds are due for destruction {} after their first export",
                p.set_by,
                counted(u64::from(p.after_export_days), "day", "days")
            );
            Ok(())
        }
        RetentionCommand::Due(a) => {
            let vault = Vault::open(dir)?;
            let (policy, due) = vault.retention_due(seedvault::vault::clock::unix_now())?;
            if a.json {
                return print_json(&json!({ "policy": policy, "orders": due }));
            }
            let total: usize = due.iter().map(|o| o.serials.len()).sum();
            println!(
                "{} due for destruction ({} after export, policy set {} by {})",
                counted(total as u64, "serial", "serials"),
                counted(u64::from(policy.after_export_days), "day", "days"),
                policy.set_at,
                policy.set_by
            );
            for o in &due {
                let shown: Vec<&str> = o
                    .serials
                    .iter()
                    .take(SHOWN_PER_ORDER)
                    .map(String::as_str)
                    .collect();
                let more = o.serials.len().saturating_sub(SHOWN_PER_ORDER);
                println!(
                    "order {}: {} (first exported {}): {}{}",
                    o.order_id,
                    counted(o.serials.len() as u64, "serial", "serials"),
                    o.first_exported_at,
                    shown.join(" "),
                    if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    }
                );
            }
            Ok(())
        }
    }
}

pub fn seeds(dir: &Path, cmd: SeedsCommand) -> Result<(), CliError> {
    match cmd {
        SeedsCommand::Destroy(a) => destroy(dir, a),
    }
}

fn destroy(dir: &Path, a: DestroyArgs) -> Result<(), CliError> {
    let selection = match (&a.order, &a.serials_file, a.due) {
        (Some(o), None, false) => DestroySelection::Order(o.clone()),
        (None, Some(f), false) => {
            DestroySelection::Serials(seedvault::vault::read_serials_file(f)?)
        }
        (None, None, true) => DestroySelection::Due,
        _ => {
            return Err(CliError::usage(
                "give exactly one of --order, --serials-file and --due",
            ))
        }
    };
    // Everything is checked before a card is read or a passphrase asked:
    // a refusal changes nothing and logs nothing.
    let plan = Vault::open(dir)?.plan_destruction(selection, &a.reason, &a.media)?;
    let out = if plan.rewrites_receipt_of().is_some() {
        // An earlier run destroyed these seeds; only its receipt is missing
        // (or already there): no key is needed to write stored bytes.
        Vault::open(dir)?.rewrite_receipt(&plan)?
    } else {
        quorum::session(dir, &a.quorum, "seeds destroy", |u| Ok(u.destroy(plan)?))?
    };
    if a.json {
        return print_json(&out);
    }
    let order = out
        .order_id
        .as_deref()
        .map(|o| format!(" of order {o}"))
        .unwrap_or_default();
    if out.earlier {
        println!(
            "nothing more to destroy: the {}{order} were destroyed on {} by {} (destruction {})",
            counted(out.count, "seed", "seeds"),
            out.destroyed_at,
            out.officers.join(", "),
            out.destruction_id
        );
        if out.receipt_was_there {
            println!(
                "receipt {} is already on the medium, unchanged",
                out.receipt.display()
            );
        } else {
            println!("receipt written again: {}", out.receipt.display());
        }
    } else {
        println!(
            "destroyed {}{order} (destruction {}) on {} by {}",
            counted(out.count, "seed", "seeds"),
            out.destruction_id,
            out.destroyed_at,
            out.officers.join(", ")
        );
        if !out.batches_shredded.is_empty() {
            let b: Vec<String> = out.batches_shredded.iter().map(i64::to_string).collect();
            println!(
                "batch data keys deleted (every seed of the batch is gone): {}",
                b.join(", ")
            );
        }
        println!("receipt: {}", out.receipt.display());
    }
    println!("receipt sha256: {}", out.receipt_sha256);
    Ok(())
}
