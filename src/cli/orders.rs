//! `order`, `request` and `export`.

use std::path::Path;

use super::args::{ExportArgs, OrderCommand, RequestCommand};
use super::error::CliError;
use super::seeds::officer;
use super::{print_json, quorum};
use seedvault::token::Serial;
use seedvault::vault::check_free_text;
use seedvault::vault::{NewRequest, RequestStateKind, Vault, VaultError};

/// Reads a serials file, as the console does (the library's reader).
fn read_serials(path: &Path) -> Result<Vec<Serial>, CliError> {
    Ok(seedvault::vault::read_serials_file(path)?)
}

/// Reads a UPN file (`serial,upn` per line), as the console does.
fn read_upns(path: &Path) -> Result<Vec<seedvault::vault::upn::UpnLine>, CliError> {
    Ok(seedvault::vault::read_upn_file(path)?)
}

pub fn order(dir: &Path, cmd: OrderCommand) -> Result<(), CliError> {
    match cmd {
        OrderCommand::Add {
            id,
            customer,
            emails,
            officer: o,
        } => {
            // Free text is checked before a passphrase is asked for.
            check_free_text("the customer name", &customer)?;
            let mut vault = Vault::open(dir)?;
            let who = officer(&mut vault, &o, "order add")?;
            vault.add_order(&id, &customer, &emails, &who)?;
            seedvault::vault::crash::point("order-add-committed");
            println!(
                "order {id} recorded for {customer} ({} authorized address(es))",
                emails.len()
            );
            Ok(())
        }
        OrderCommand::Assign {
            id,
            serials_file,
            officer: o,
        } => {
            let serials = read_serials(&serials_file)?;
            let mut vault = Vault::open(dir)?;
            let who = officer(&mut vault, &o, "order assign")?;
            let n = vault.assign_serials(&id, &serials, &who)?;
            seedvault::vault::crash::point("order-assign-committed");
            let distinct: std::collections::HashSet<&str> =
                serials.iter().map(|s| s.as_str()).collect();
            println!(
                "{n} serial(s) assigned to order {id} ({} already were)",
                distinct.len() - n
            );
            Ok(())
        }
        OrderCommand::Show { id, json } => {
            let vault = Vault::open(dir)?;
            let o = vault
                .order(&id)?
                .ok_or_else(|| CliError::from(VaultError::OrderNotFound { id: id.clone() }))?;
            if json {
                return print_json(&o);
            }
            println!("Order      {}", o.id);
            println!("Customer   {}", o.customer);
            println!("Requesters {}", o.emails.join(", "));
            println!(
                "Serials    {} ({} voided, {} exported)",
                o.serials.len(),
                o.voided.len(),
                o.exported.len()
            );
            println!("Recorded   {} by {}", o.created_at, o.created_by);
            for s in &o.serials {
                let mark = if o.voided.contains(s) {
                    " voided"
                } else if o.exported.contains(s) {
                    " exported"
                } else {
                    ""
                };
                println!("  {s}{mark}");
            }
            Ok(())
        }
    }
}

pub fn request(dir: &Path, cmd: RequestCommand) -> Result<(), CliError> {
    match cmd {
        RequestCommand::Create {
            order,
            requester,
            recipient_key,
            format,
            serials_file,
            upn_file,
            reexport,
            reason,
            json,
            officer: o,
        } => {
            let format = super::parse_format(&format)?;
            if reexport && reason.is_none() {
                return Err(CliError::usage("--reexport needs --reason TEXT"));
            }
            if let Some(r) = &reason {
                check_free_text("the reason", r)?;
            }
            let key = std::fs::read(&recipient_key)
                .map_err(|e| CliError::refused(format!("{}: {e}", recipient_key.display())))?;
            let serials = match &serials_file {
                Some(f) => Some(read_serials(f)?),
                None => None,
            };
            let upns = match &upn_file {
                Some(f) => Some(read_upns(f)?),
                None => None,
            };
            let mut vault = Vault::open(dir)?;
            let who = officer(&mut vault, &o, "request create")?;
            let created = vault.create_request(
                NewRequest {
                    order_id: &order,
                    requester: &requester,
                    recipient_key: &key,
                    format,
                    serials,
                    reexport_reason: if reexport { reason } else { None },
                    upns,
                },
                &who,
            )?;
            seedvault::vault::crash::point("request-create-committed");
            if json {
                return print_json(&created);
            }
            println!(
                "Request for order {order}: {} serial(s) as {format}, created by {}",
                created.serials, who.name
            );
            println!("Recipient  {}", created.recipient_fingerprint);
            for uid in &created.user_ids {
                println!("  user id  {uid}");
            }
            for k in &created.encryption_subkeys {
                println!("  encrypts to subkey {k}");
            }
            for w in &created.warnings {
                println!("WARNING: {w}");
            }
            println!("Confirm these fingerprints with the customer out of band before approving.");
            println!("{}", created.id);
            Ok(())
        }
        RequestCommand::Approve { id, officer: o } => {
            let mut vault = Vault::open(dir)?;
            let who = officer(&mut vault, &o, "request approve")?;
            // Shown before the approval is signed: the officer reads what
            // they are about to vouch for.
            for w in vault.request_warnings(&id) {
                println!("WARNING: {w}");
            }
            let r = vault.decide_request(&id, true, None, &who)?;
            seedvault::vault::crash::point("request-approve-committed");
            let ttl = vault.info().approval_ttl_s;
            println!(
                "request {id} approved by {} (created by {}); valid for export for {} h {} min",
                who.name,
                r.created_by,
                ttl / 3600,
                (ttl % 3600) / 60
            );
            Ok(())
        }
        RequestCommand::Reject {
            id,
            reason,
            officer: o,
        } => {
            check_free_text("the reason", &reason)?;
            let mut vault = Vault::open(dir)?;
            let who = officer(&mut vault, &o, "request reject")?;
            vault.decide_request(&id, false, Some(&reason), &who)?;
            seedvault::vault::crash::point("request-reject-committed");
            println!("request {id} rejected by {}", who.name);
            Ok(())
        }
        RequestCommand::List { json } => {
            let vault = Vault::open(dir)?;
            let list = vault.requests()?;
            // Warnings matter while a request can still be approved or exported.
            let warnings = |r: &seedvault::vault::Request| match r.state.kind() {
                RequestStateKind::Pending | RequestStateKind::Approved => {
                    vault.request_warnings(&r.id)
                }
                _ => Vec::new(),
            };
            if json {
                // The shape scripts rely on; `request show --json` has the warnings.
                return print_json(&list);
            }
            if list.is_empty() {
                println!("no seed requests");
            }
            for r in &list {
                println!(
                    "{:<6} {:<9} order {:<8} {:>5} serial(s) {:<12} {} created by {}{}",
                    r.id,
                    r.state.kind(),
                    r.order_id,
                    r.serials,
                    r.format.name(),
                    r.requester,
                    r.created_by,
                    r.decided_by
                        .as_deref()
                        .map(|d| format!(", decided by {d}"))
                        .unwrap_or_default()
                );
                for w in warnings(r) {
                    println!("       WARNING: {w}");
                }
            }
            Ok(())
        }
        RequestCommand::Show { id, json } => {
            let vault = Vault::open(dir)?;
            let r = vault
                .request(&id)?
                .ok_or_else(|| CliError::from(VaultError::RequestNotFound { id: id.clone() }))?;
            let warnings = vault.request_warnings(&id);
            let (user_ids, upns) = vault.request_recipient_and_upns(&id)?;
            if json {
                let mut v =
                    serde_json::to_value(&r).map_err(|e| CliError::refused(e.to_string()))?;
                if let Some(obj) = v.as_object_mut() {
                    obj.insert("user_ids".into(), serde_json::json!(user_ids));
                    obj.insert("upns".into(), serde_json::json!(upns));
                    obj.insert("warnings".into(), serde_json::json!(warnings));
                }
                return print_json(&v);
            }
            println!("Request    {} ({})", r.id, r.state.kind());
            println!("Order      {}", r.order_id);
            println!("Requester  {}", r.requester);
            println!("Format     {}", r.format.name());
            println!("Serials    {}", r.serials);
            println!("Recipient  {}", r.recipient_fingerprint);
            for uid in &user_ids {
                println!("  user id  {uid}");
            }
            if let Some(m) = &upns {
                println!(
                    "UPNs       {} serial(s) mapped (signed with the request)",
                    m.len()
                );
                for (serial, upn) in m {
                    println!("  {serial} -> {upn}");
                }
            }
            if let Some(reason) = &r.reexport_reason {
                println!("Re-export  {reason}");
            }
            println!("Created    {} by {}", r.created_at, r.created_by);
            if let (Some(by), Some(at)) = (&r.decided_by, &r.decided_at) {
                println!("Decided    {at} by {by}");
            }
            for w in &warnings {
                println!("WARNING: {w}");
            }
            Ok(())
        }
    }
}

pub fn export(dir: &Path, a: ExportArgs) -> Result<(), CliError> {
    let out = quorum::session(dir, &a.quorum, "export", |unsealed| {
        Ok(unsealed.export(&a.request, &a.media)?)
    })?;
    seedvault::vault::crash::point("export-committed");
    if a.json {
        return print_json(&out);
    }
    println!(
        "exported {} serial(s) of request {} to {}",
        out.serials, out.request_id, out.recipient_fingerprint
    );
    println!(
        "  bundle   {} (sha256 {})",
        out.bundle.display(),
        out.bundle_sha256
    );
    println!("  manifest {}", out.manifest.display());
    Ok(())
}
