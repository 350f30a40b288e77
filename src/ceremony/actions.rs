//! The tool steps: each calls the library as the CLI's commands do, and
//! reports one line for the transcript (ids, counts, files, fingerprints;
//! never a secret).

use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

use super::run::{Ctx, Held, StepError};
use super::script::{Action, Params};
use crate::cards::SealedCard;
use crate::vault::{self, BrokenLogPolicy, InitParams, Vault};

type Done = Result<String, StepError>;

fn need<'a, T>(v: &'a Option<T>, key: &str) -> Result<&'a T, StepError> {
    // The script was checked at load: a required parameter is present.
    v.as_ref()
        .ok_or_else(|| StepError::from(format!("params.{key} is missing")))
}

fn vault_of(held: &mut Held) -> Result<&mut Vault, StepError> {
    held.vault_mut().ok_or_else(|| {
        StepError::from("there is no vault yet (an init step comes first)".to_owned())
    })
}

fn read_card(vault: &mut Vault, path: &str, purpose: &str) -> Result<SealedCard, StepError> {
    SealedCard::read(Path::new(path)).map_err(|e| {
        vault.record_refusal(
            purpose,
            vec![path.to_owned()],
            vec![path.to_owned()],
            &e.to_string(),
        );
        StepError::from(e.to_string())
    })
}

fn pass(ctx: &mut Ctx<'_>, card: &SealedCard) -> Result<SecretString, StepError> {
    ctx.console
        .passphrase(&card.header.name, false)
        .map_err(StepError::from)
}

/// One officer proven by their card (order, request and approval steps).
fn officer(held: &mut Held, ctx: &mut Ctx<'_>, card: &str) -> Result<vault::Officer, StepError> {
    let purpose = ctx.purpose.clone();
    let v = vault_of(held)?;
    let card = read_card(v, card, &purpose)?;
    let log = v.check_log_for_session(
        std::slice::from_ref(&card),
        &purpose,
        BrokenLogPolicy::Refuse,
    )?;
    let p = pass(ctx, &card)?;
    let v = vault_of(held)?;
    Ok(v.authenticate_checked(&card, &p, &purpose, log)?)
}

fn unsealed(held: &mut Held) -> Result<&mut vault::UnsealedVault, StepError> {
    match held {
        Held::Unsealed(u) => Ok(u),
        _ => Err(StepError::from(
            "this step needs the quorum: an unseal step must come first".to_owned(),
        )),
    }
}

/// Performs `action`.
pub(super) fn perform(action: Action, p: &Params, held: &mut Held, ctx: &mut Ctx<'_>) -> Done {
    match action {
        Action::Init => init(p, held, ctx),
        Action::CardCheck | Action::CardWords => {
            let purpose = if action == Action::CardCheck {
                "card check"
            } else {
                "card words"
            };
            let v = vault_of(held)?;
            let card = read_card(v, need(&p.card, "card")?, purpose)?;
            let pp = pass(ctx, &card)?;
            let v = vault_of(held)?;
            if action == Action::CardCheck {
                let c = v.check_card(&card, &pp)?;
                Ok(format!(
                    "card OK: custodian {}, share {}, signing key {}",
                    c.name,
                    c.member_index + 1,
                    c.officer_fingerprint
                ))
            } else {
                let words = v.card_words(&card, &pp)?;
                ctx.console.say(&format!(
                    "   SLIP-0039 share of custodian {} (only they look now):\n\n{}\n",
                    card.header.name,
                    words.expose_secret()
                ));
                Ok(format!(
                    "custodian {} was shown the words of share {}",
                    card.header.name,
                    card.header.member_index + 1
                ))
            }
        }
        Action::Unseal => unseal(p, held, ctx),
        Action::Ingest => {
            let format = match &p.format {
                Some(f) => Some(
                    crate::formats::Format::from_name(f)
                        .ok_or_else(|| StepError::from(format!("unknown format {f:?}")))?,
                ),
                None => None,
            };
            let opts = crate::formats::ReadOptions::default();
            let file = PathBuf::from(need(&p.file, "file")?);
            let out = unsealed(held)?
                .ingest(&vault::IngestSource {
                    path: &file,
                    format,
                    label: p.label.clone(),
                    factory_cert: None,
                    read_options: &opts,
                })
                .map_err(|e| StepError::from(e.to_string()))?;
            Ok(format!(
                "batch {}: {} tokens ({}), file SHA-256 {}",
                out.batch_id, out.count, out.format, out.source_sha256
            ))
        }
        Action::OrderAdd => {
            let o = officer(held, ctx, need(&p.card, "card")?)?;
            let id = need(&p.order, "order")?;
            vault_of(held)?.add_order(
                id,
                need(&p.customer, "customer")?,
                need(&p.emails, "emails")?,
                &o,
            )?;
            Ok(format!("order {id} recorded by {}", o.name))
        }
        Action::OrderAssign => {
            let serials =
                vault::read_serials_file(Path::new(need(&p.serials_file, "serials_file")?))?;
            let o = officer(held, ctx, need(&p.card, "card")?)?;
            let id = need(&p.order, "order")?;
            let n = vault_of(held)?.assign_serials(id, &serials, &o)?;
            Ok(format!("{n} serials assigned to order {id} by {}", o.name))
        }
        Action::RequestCreate => {
            let fmt = need(&p.format, "format")?;
            let format = crate::formats::Format::from_name(fmt)
                .ok_or_else(|| StepError::from(format!("unknown format {fmt:?}")))?;
            let key_path = need(&p.recipient_key, "recipient_key")?;
            let key =
                std::fs::read(key_path).map_err(|e| StepError::from(format!("{key_path}: {e}")))?;
            let serials = match &p.serials_file {
                Some(f) => Some(vault::read_serials_file(Path::new(f))?),
                None => None,
            };
            let o = officer(held, ctx, need(&p.card, "card")?)?;
            let created = vault_of(held)?.create_request(
                vault::NewRequest {
                    order_id: need(&p.order, "order")?,
                    requester: need(&p.requester, "requester")?,
                    recipient_key: &key,
                    format,
                    serials,
                    reexport_reason: None,
                    upns: None,
                },
                &o,
            )?;
            ctx.created_request = Some(created.id.clone());
            Ok(format!(
                "request {} created by {}: {} serials to {}",
                created.id, o.name, created.serials, created.recipient_fingerprint
            ))
        }
        Action::RequestApprove => {
            let id = request_id(p, ctx)?;
            let o = officer(held, ctx, need(&p.card, "card")?)?;
            vault_of(held)?.decide_request(&id, true, None, &o)?;
            Ok(format!("request {id} approved by {}", o.name))
        }
        Action::Export => {
            let id = request_id(p, ctx)?;
            let media = PathBuf::from(need(&p.media, "media")?);
            let u = unsealed(held)?;
            let out = u.export(&id, &media)?;
            let cert = media.join(vault::CERT_FILE);
            if !cert.exists() {
                let armored = u.vault().vault_cert_armored()?;
                super::record::write_to_medium(&cert, armored.as_bytes())?;
            }
            Ok(format!(
                "request {id}: {} serials to {}; bundle {} SHA-256 {}; manifest {}; {} on the medium",
                out.serials,
                out.recipient_fingerprint,
                file_name(&out.bundle),
                out.bundle_sha256,
                file_name(&out.manifest),
                vault::CERT_FILE
            ))
        }
        Action::AuditVerify => {
            let r = vault_of(held)?.verify_audit()?;
            if r.problems.is_empty() {
                Ok(format!(
                    "chain intact: {} entries, head {}",
                    r.entries,
                    r.head.hash_hex()
                ))
            } else {
                let shown: Vec<String> =
                    r.problems.iter().take(5).map(ToString::to_string).collect();
                Err(StepError {
                    message: format!(
                        "the log is broken ({} problems): {}",
                        r.problems.len(),
                        shown.join("; ")
                    ),
                    tampering: true,
                })
            }
        }
        Action::AuditReplay => {
            let r = vault_of(held)?.replay_audit()?;
            if r.differences.is_empty() {
                Ok(format!(
                    "replay matches the tables: {} entries, {} batches, {} serials, {} orders, {} requests, {} exports, {} signatures checked",
                    r.entries, r.batches, r.serials, r.orders, r.requests, r.exports, r.signatures_checked
                ))
            } else {
                let shown: Vec<&str> = r.differences.iter().take(5).map(String::as_str).collect();
                Err(StepError {
                    message: format!(
                        "replay differs from the tables ({}): {}",
                        r.differences.len(),
                        shown.join("; ")
                    ),
                    tampering: true,
                })
            }
        }
        Action::AuditExport => {
            let out = PathBuf::from(need(&p.out, "out")?);
            let n = vault_of(held)?.export_audit(&out)?;
            Ok(format!("{n} entries written to {}", out.display()))
        }
        Action::Checkpoint => {
            let out = PathBuf::from(need(&p.out, "out")?);
            match vault_of(held)?.save_checkpoint(&out)? {
                Some(cp) => Ok(format!(
                    "checkpoint of {} entries (head {}, {}) written to {}",
                    cp.entries,
                    cp.head_hex(),
                    cp.time,
                    out.display()
                )),
                None => Err(StepError::from(
                    "the vault has no signed checkpoint yet (a quorum session writes one)"
                        .to_owned(),
                )),
            }
        }
        Action::Backup => {
            let out = PathBuf::from(need(&p.out, "out")?);
            let b = unsealed(held)?.backup(&out)?;
            Ok(format!(
                "backup in {}: {} entries, vault.db SHA-256 {}",
                b.dir.display(),
                b.head.count,
                b.db_sha256
            ))
        }
        Action::Rekey | Action::SeedsDestroy => Err(StepError::from(format!(
            "action {} cannot be walked yet",
            action.name()
        ))),
    }
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// `request = "@created"` names the request this ceremony created.
fn request_id(p: &Params, ctx: &Ctx<'_>) -> Result<String, StepError> {
    let r = need(&p.request, "request")?;
    if r == "@created" {
        ctx.created_request.clone().ok_or_else(|| {
            StepError::from(
                "request = \"@created\", but no request was created in this ceremony".to_owned(),
            )
        })
    } else {
        Ok(r.clone())
    }
}

fn init(p: &Params, held: &mut Held, ctx: &mut Ctx<'_>) -> Done {
    if !matches!(held, Held::None) {
        return Err(StepError::from("the vault exists already".to_owned()));
    }
    let threshold = *need(&p.threshold, "threshold")?;
    let custodians = need(&p.custodians, "custodians")?.clone();
    let cards_out = PathBuf::from(need(&p.cards_out, "cards_out")?);
    let dir = ctx.opts.vault_dir.clone();
    vault::preflight(&dir, threshold, &custodians, &cards_out)?;
    let mut passphrases = Vec::new();
    for name in &custodians {
        passphrases.push(
            ctx.console
                .passphrase(name, true)
                .map_err(StepError::from)?,
        );
    }
    let out = vault::init(
        &dir,
        InitParams {
            threshold,
            custodians: custodians.clone(),
            passphrases,
            kdf: ctx.opts.kdf,
            approval_ttl_s: vault::DEFAULT_APPROVAL_TTL_S,
            cards_out,
        },
    )?;
    *held = Held::Sealed(Box::new(Vault::open(&dir)?));
    for c in &out.card_paths {
        ctx.console.say(&format!("   card: {}", c.display()));
    }
    ctx.console.say(&format!(
        "   vault certificate: {}",
        out.cert_path.display()
    ));
    Ok(format!(
        "vault {} created: {threshold} of {} cards ({}); vault key {}{}",
        out.vault_id,
        custodians.len(),
        custodians.join(", "),
        out.vault_fingerprint,
        if out.test_vault {
            "; TEST VAULT (insecure fast KDF)"
        } else {
            ""
        }
    ))
}

fn unseal(p: &Params, held: &mut Held, ctx: &mut Ctx<'_>) -> Done {
    let purpose = ctx.purpose.clone();
    if matches!(held, Held::Unsealed(_)) {
        return Err(StepError::from("the vault is unsealed already".to_owned()));
    }
    let mut cards = Vec::new();
    {
        let v = vault_of(held)?;
        for c in need(&p.cards, "cards")? {
            cards.push(read_card(v, c, &purpose)?);
        }
        let log = v.check_log_for_session(&cards, &purpose, BrokenLogPolicy::Refuse)?;
        if let Err(e) = v.check_quorum_cards(&cards) {
            let names = cards.iter().map(|c| c.header.name.clone()).collect();
            let described = cards
                .iter()
                .map(|c| format!("{} ({})", c.header.name, c.path.display()))
                .collect();
            v.record_refusal(&purpose, names, described, &e.to_string());
            return Err(e.into());
        }
        let mut with_pass = Vec::new();
        for card in cards {
            let pp = pass(ctx, &card)?;
            with_pass.push((card, pp));
        }
        let Held::Sealed(sealed) = std::mem::replace(held, Held::None) else {
            return Err(StepError::from("the vault is not sealed".to_owned()));
        };
        let dir = sealed.dir().to_owned();
        match (*sealed).unseal_checked(with_pass, &purpose, log) {
            Ok(u) => {
                let names = u.officer_names().join(", ");
                *held = Held::Unsealed(Box::new(u));
                Ok(format!("unsealed by {names} for the rest of the ceremony"))
            }
            Err(e) => {
                // The refused unseal consumed the sealed view: open it again.
                *held = Held::Sealed(Box::new(Vault::open(&dir).map_err(StepError::from)?));
                Err(e.into())
            }
        }
    }
}
