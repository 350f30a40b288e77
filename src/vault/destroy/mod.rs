//! Destruction of delivered seeds, with a receipt signed by the vault.
//!
//! A seed that reached its customer is a liability in the vault: RFC 4226
//! and 6238 ask that seeds be kept no longer and no more exposed than
//! needed. `seeds destroy` deletes sealed seeds for good, under the same
//! two-person rule as an export:
//!
//! - What may be destroyed is decided from the log and the officers'
//!   signatures, never from a status column (SPEC §8): a serial must be
//!   listed by an `export.completed` entry whose request carries a
//!   creation and an approval signature that verify against the enrolled
//!   officers, or be voided by a `serial.voided` entry. Anything else is
//!   refused, naming the serials, before a card is asked for.
//! - The quorum's officers (at least two) each sign a destruction
//!   statement naming the serials (by count and SHA-256); every seed is
//!   opened once more (the rows deleted are the vault's own sealed seeds),
//!   then the rows, the data keys of batches left empty (crypto-shredding)
//!   and the log entries change in one transaction. SQLite's
//!   `secure_delete` zeroes what the deletion frees; the rollback journal,
//!   which holds the deleted pages until the commit, is overwritten with
//!   zeros before SQLite deletes it (see the decision record).
//! - The receipt, clearsigned by the vault key, is made inside that
//!   transaction and kept in `destructions`, so after a crash a re-run
//!   writes the very bytes whose SHA-256 the log holds.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use serde_json::{json, Value};

use super::approval::EnrolledOfficers;
use super::crash::point as crash_point;
use super::keys::SeedAad;
use super::statement::{self, Decision, RequestStatement};
use super::{UnsealedVault, Vault, VaultError};
use crate::audit::{self, events, Event};
use crate::crypto;
use crate::token::{Serial, TokenParams};

mod commit;
mod evidence;
mod receipt;

pub(super) use evidence::destroyed_serial_record;
pub use evidence::DestructionRecord;
use evidence::*;
pub(crate) use evidence::{destroyed_problems, destroyed_refusal, refuse_destroyed_in_batch};
use receipt::*;

/// How many serials a refusal names; the rest are counted.
pub const MAX_LISTED_REFUSALS: usize = 50;
/// Serials per `seeds.destroyed_serials` entry.
const PART: usize = 10_000;
/// A receipt lists its serials one per line up to this count; above it,
/// their count and SHA-256 only (a million lines help no reader).
pub(crate) const RECEIPT_LISTS_UP_TO: usize = 1_000;
/// Longest reason accepted, in characters.
const MAX_REASON_CHARS: usize = 500;
/// First line of a destruction statement.
const STATEMENT_HEADER: &str = "seedvault seed destruction v1";
/// First line of a destruction receipt.
const RECEIPT_HEADER: &str = "seedvault destruction receipt v1";

/// Which seeds to destroy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestroySelection {
    /// Every serial the log assigned to this order (`--order`).
    Order(String),
    /// These serials (`--serials-file`).
    Serials(Vec<Serial>),
    /// What the retention policy makes due now (`--due`).
    Due,
}

impl DestroySelection {
    fn kind(&self) -> &'static str {
        match self {
            DestroySelection::Order(_) => "order",
            DestroySelection::Serials(_) => "serials",
            DestroySelection::Due => "due",
        }
    }
}

/// A destruction checked with the vault sealed and nothing written
/// ([`Vault::plan_destruction`]): what [`UnsealedVault::destroy`] takes.
#[derive(Debug)]
pub struct DestroyPlan {
    /// The log's head when the plan was made: unchanged at the
    /// destruction, the plan still holds (every check reads the log).
    head: audit::Head,
    selection: DestroySelection,
    order_id: Option<String>,
    serials: Vec<String>,
    reason: String,
    media: PathBuf,
    recovery: Option<Recovery>,
}

impl DestroyPlan {
    /// The serials that will be destroyed, ascending (empty when the plan
    /// only writes the receipt of an earlier destruction again).
    pub fn serials(&self) -> &[String] {
        &self.serials
    }
    /// The earlier destruction whose receipt a re-run writes again, if so.
    pub fn rewrites_receipt_of(&self) -> Option<i64> {
        self.recovery.as_ref().map(|r| r.id)
    }
}

/// A committed destruction whose receipt a re-run writes (again).
#[derive(Debug)]
struct Recovery {
    id: i64,
    destroyed_at: String,
    order_id: Option<String>,
    count: u64,
    receipt_name: String,
    receipt: Vec<u8>,
    officers: Vec<String>,
    reason: String,
    batches_shredded: Vec<i64>,
}

/// What a destruction did.
#[derive(Debug, Clone, Serialize)]
pub struct DestroyOutcome {
    /// Its number.
    pub destruction_id: i64,
    /// The order, when destroyed by order.
    pub order_id: Option<String>,
    /// Serials destroyed.
    pub count: u64,
    /// When (RFC 3339).
    pub destroyed_at: String,
    /// The officers who signed it.
    pub officers: Vec<String>,
    /// Why.
    pub reason: String,
    /// Batches whose data key went with their last seed.
    pub batches_shredded: Vec<i64>,
    /// The receipt on the medium.
    pub receipt: PathBuf,
    /// SHA-256 of the receipt file (as logged).
    pub receipt_sha256: String,
    /// True when this run destroyed nothing: the serials were destroyed by
    /// an earlier run, whose receipt this one wrote or found on the medium.
    pub earlier: bool,
    /// With `earlier`: the receipt was already on the medium, unchanged.
    pub receipt_was_there: bool,
}

/// A reason as the statement and receipt carry it: one line of plain text.
fn check_reason(reason: &str) -> Result<String, VaultError> {
    let r = reason.trim();
    if r.is_empty() {
        return Err(VaultError::Refused(
            "a reason is required to destroy seeds (--reason)".into(),
        ));
    }
    super::orders::check_free_text("the reason", r)?;
    let chars = r.chars().count();
    if chars > MAX_REASON_CHARS {
        return Err(VaultError::Refused(format!(
            "the reason has {chars} characters; at most {MAX_REASON_CHARS}"
        )));
    }
    Ok(r.to_owned())
}

/// "serial A: ..." lines, the first [`MAX_LISTED_REFUSALS`] and a count.
fn listed(lines: &[String]) -> String {
    let mut out: Vec<String> = lines.iter().take(MAX_LISTED_REFUSALS).cloned().collect();
    if lines.len() > MAX_LISTED_REFUSALS {
        out.push(format!("and {} more", lines.len() - MAX_LISTED_REFUSALS));
    }
    out.join("\n  ")
}

/// The date part of an RFC 3339 time.
pub(crate) fn day_of(rfc3339: &str) -> String {
    rfc3339.get(..10).unwrap_or(rfc3339).to_owned()
}

impl Vault {
    /// Checks a destruction with the vault sealed and writes nothing: the
    /// reason, the medium, the selection, and that every serial is
    /// delivered or voided according to the log and the officers'
    /// signatures. A refusal names the serials (the first
    /// [`MAX_LISTED_REFUSALS`], then how many more). When every selected
    /// serial was destroyed by an earlier run of the same selection, the
    /// plan writes that run's receipt again (a re-run after a crash).
    pub fn plan_destruction(
        &self,
        selection: DestroySelection,
        reason: &str,
        media: &Path,
    ) -> Result<DestroyPlan, VaultError> {
        let reason = check_reason(reason)?;
        let media = super::export::check_media(media, self.dir())?;
        let conn = self.store().conn();
        let (order_id, mut selected) = match &selection {
            DestroySelection::Order(id) => {
                let id = super::orders::check_order_id(id)?;
                // Existence only: `order()` would also count every serial's exports.
                let known = conn
                    .prepare_cached("SELECT 1 FROM orders WHERE id = ?1")?
                    .exists([&id])?;
                if !known {
                    return Err(VaultError::OrderNotFound { id });
                }
                let serials = logged_order_serials(conn, &id)?;
                (Some(id), serials)
            }
            DestroySelection::Serials(list) => {
                let mut seen = HashSet::new();
                let twice: Vec<String> = list
                    .iter()
                    .filter(|s| !seen.insert(s.as_str()))
                    .map(|s| format!("serial {s} is listed twice"))
                    .collect();
                if !twice.is_empty() {
                    return Err(VaultError::Refused(format!(
                        "seeds destroy refused, nothing was changed:\n  {}",
                        listed(&twice)
                    )));
                }
                (None, list.iter().map(|s| s.as_str().to_owned()).collect())
            }
            DestroySelection::Due => {
                let (_, due) = self.retention_due(super::clock::unix_now())?;
                (None, due.into_iter().flat_map(|o| o.serials).collect())
            }
        };
        selected.sort_unstable();
        selected.dedup();
        let destroyed = destroyed_among(conn, &selected)?;
        let remaining: Vec<String> = selected
            .iter()
            .filter(|s| !destroyed.contains_key(*s))
            .cloned()
            .collect();
        let kind = selection.kind();
        let destroyed_lines = || {
            let mut v: Vec<String> = selected
                .iter()
                .filter_map(|s| {
                    destroyed.get(s).map(|(_, date)| {
                        VaultError::SeedDestroyed {
                            serial: s.clone(),
                            date: date.clone(),
                        }
                        .to_string()
                    })
                })
                .collect();
            v.sort();
            v
        };
        if remaining.is_empty() {
            let sha = statement::serials_sha256_v2(&selected);
            let earlier: Option<i64> = match &selection {
                DestroySelection::Order(_) => conn
                    .query_row(
                        "SELECT max(id) FROM destructions WHERE selection = 'order' AND order_id = ?1",
                        [&order_id],
                        |r| r.get(0),
                    )?,
                DestroySelection::Serials(_) => conn.query_row(
                    "SELECT max(id) FROM destructions WHERE selection = 'serials' AND serials_sha256 = ?1",
                    [&sha],
                    |r| r.get(0),
                )?,
                DestroySelection::Due => conn.query_row(
                    "SELECT max(id) FROM destructions WHERE selection = 'due'",
                    [],
                    |r| r.get(0),
                )?,
            };
            let Some(id) = earlier.filter(|_| !selected.is_empty() || kind == "due") else {
                return Err(VaultError::Refused(match &selection {
                    DestroySelection::Order(_) if selected.is_empty() => format!(
                        "order {} has no serial assigned; nothing to destroy",
                        order_id.unwrap_or_default()
                    ),
                    DestroySelection::Due => "nothing is due for destruction under the retention policy".into(),
                    _ => format!(
                        "seeds destroy refused, nothing was changed; every serial was destroyed already:\n  {}",
                        listed(&destroyed_lines())
                    ),
                }));
            };
            let recovery = self.recovery(id)?;
            return Ok(DestroyPlan {
                selection,
                order_id: recovery.order_id.clone(),
                serials: Vec::new(),
                reason,
                media,
                recovery: Some(recovery),
                head: audit::head(conn)?,
            });
        }
        if kind == "serials" && !destroyed.is_empty() {
            return Err(VaultError::Refused(format!(
                "seeds destroy refused, nothing was changed; {} serial(s) were destroyed already:\n  {}",
                destroyed.len(),
                listed(&destroyed_lines())
            )));
        }
        let officers = self.genesis_officers()?;
        let wanted: HashSet<&str> = remaining.iter().map(String::as_str).collect();
        let ok = delivered_or_voided(conn, &officers, &wanted)?;
        let mut problems = Vec::new();
        let mut in_vault = conn.prepare_cached("SELECT 1 FROM seeds WHERE serial = ?1")?;
        for s in remaining.iter().filter(|s| !ok.contains(*s)) {
            if in_vault.exists([s])? {
                problems.push(format!("serial {s}: never exported (delivered) nor voided"));
            } else {
                problems.push(format!("serial {s} is not in the vault"));
            }
        }
        if !problems.is_empty() {
            return Err(VaultError::Refused(format!(
                "seeds destroy refused, nothing was changed; {} serial(s) cannot be destroyed \
                 (only seeds that were exported or voided can):\n  {}",
                problems.len(),
                listed(&problems)
            )));
        }
        Ok(DestroyPlan {
            selection,
            order_id,
            serials: remaining,
            reason,
            media,
            recovery: None,
            head: audit::head(conn)?,
        })
    }

    /// Destruction `id` as committed, for writing its receipt again: the
    /// stored receipt must be the one whose SHA-256 its log entry holds.
    fn recovery(&self, id: i64) -> Result<Recovery, VaultError> {
        let conn = self.store().conn();
        let (name, receipt): (String, Vec<u8>) = conn.query_row(
            "SELECT receipt_name, receipt FROM destructions WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let (seq, e) = destruction_entry(conn, id)?;
        let d = &e["data"];
        if d["receipt_sha256"] != crypto::hex(&crypto::sha256(&receipt)) || d["receipt"] != name {
            return Err(VaultError::Tampered(format!(
                "destruction {id}: the stored receipt is not the one log entry {seq} records"
            )));
        }
        Ok(Recovery {
            id,
            destroyed_at: d["destroyed_at"].as_str().unwrap_or_default().to_owned(),
            order_id: d["order_id"].as_str().map(str::to_owned),
            count: d["count"].as_u64().unwrap_or(0),
            receipt_name: name,
            receipt,
            officers: strings(&e["actors"]),
            reason: d["reason"].as_str().unwrap_or_default().to_owned(),
            batches_shredded: d["batches_shredded"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_i64)
                .collect(),
        })
    }

    /// Writes the receipt of an earlier destruction to the plan's medium,
    /// or finds it there unchanged; destroys nothing and logs nothing.
    pub fn rewrite_receipt(&mut self, plan: &DestroyPlan) -> Result<DestroyOutcome, VaultError> {
        self.scrub_stale_journal()?;
        let r = plan
            .recovery
            .as_ref()
            .ok_or_else(|| VaultError::Refused("this destruction has not happened yet".into()))?;
        let path = plan.media.join(&r.receipt_name);
        let was_there = path.exists();
        if was_there {
            let mut have = Vec::new();
            fs::File::open(&path)
                .and_then(|mut f| f.read_to_end(&mut have))
                .map_err(|source| VaultError::Io {
                    path: path.clone(),
                    source,
                })?;
            if have != r.receipt {
                return Err(VaultError::WouldOverwrite(path));
            }
        } else {
            write_receipt(&plan.media, &path, &r.receipt)?;
        }
        Ok(DestroyOutcome {
            destruction_id: r.id,
            order_id: r.order_id.clone(),
            count: r.count,
            destroyed_at: r.destroyed_at.clone(),
            officers: r.officers.clone(),
            reason: r.reason.clone(),
            batches_shredded: r.batches_shredded.clone(),
            receipt: path,
            receipt_sha256: crypto::hex(&crypto::sha256(&r.receipt)),
            earlier: true,
            receipt_was_there: was_there,
        })
    }
}
