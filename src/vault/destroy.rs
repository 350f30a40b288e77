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

/// The entries of `event`, found through the log's index and kept only
/// when their body says that event (a forged index row selects nothing; a
/// deleted one hides an entry, which only makes fewer seeds destroyable).
fn entries_of(
    conn: &rusqlite::Connection,
    key: &str,
    value: &str,
) -> Result<Vec<(u64, Value)>, VaultError> {
    let mut st = conn.prepare_cached(
        "SELECT a.seq, a.body FROM audit_index i JOIN audit a ON a.seq = i.seq
         WHERE i.key = ?1 AND i.value = ?2 ORDER BY i.seq",
    )?;
    let rows = st.query_map([key, value], |r| {
        Ok((r.get::<_, u64>(0)?, r.get::<_, Vec<u8>>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, body) = row?;
        if let Ok(v) = serde_json::from_slice::<Value>(&body) {
            out.push((seq, v));
        }
    }
    Ok(out)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

/// The serials the log assigned to `order` (`order.assigned` entries).
fn logged_order_serials(
    conn: &rusqlite::Connection,
    order: &str,
) -> Result<Vec<String>, VaultError> {
    let mut out = Vec::new();
    for (_, e) in entries_of(conn, "order", order)? {
        if e["event"] == events::ORDER_ASSIGNED && e["data"]["order_id"] == order {
            out.extend(strings(&e["data"]["serials"]));
        }
    }
    Ok(out)
}

/// Checks from the log alone that request `id` was created and approved
/// by two different enrolled officers whose signatures verify, and that
/// `exported` is the serial set they signed.
fn check_signed_request(
    conn: &rusqlite::Connection,
    officers: &EnrolledOfficers,
    id: &str,
    exported: &[String],
) -> Result<(), VaultError> {
    let bad =
        |what: String| VaultError::Tampered(format!("the logged export of request {id}: {what}"));
    let (mut created, mut approved) = (None, None);
    for (_, e) in entries_of(conn, "request", id)? {
        if e["data"]["request_id"] != id {
            continue;
        }
        let pair = || {
            (
                e["data"]["statement"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                e["data"]["signature"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        };
        if e["event"] == events::REQUEST_CREATED {
            created = Some(pair());
        } else if e["event"] == events::REQUEST_APPROVED {
            approved = Some(pair());
        }
    }
    let (c_text, c_sig) =
        created.ok_or_else(|| bad("the log holds no signed creation of it".into()))?;
    let (a_text, a_sig) =
        approved.ok_or_else(|| bad("the log holds no signed approval of it".into()))?;
    let st = RequestStatement::parse(&c_text)
        .map_err(|why| bad(format!("its creation statement is unreadable: {why}")))?;
    officers
        .verify(conn, &st.created_by, c_text.as_bytes(), &c_sig)
        .map_err(|why| {
            bad(format!(
                "the creation signature of {} does not verify: {why}",
                st.created_by
            ))
        })?;
    let (_, prefix, decision) = statement::parse_decision(&a_text)
        .map_err(|why| bad(format!("its approval statement is unreadable: {why}")))?;
    let Decision::Approve { by, .. } = decision else {
        return Err(bad("its logged approval is a rejection".into()));
    };
    if prefix != c_text || by == st.created_by {
        return Err(bad(
            "its approval is not of the logged creation by a second officer".into(),
        ));
    }
    officers
        .verify(conn, &by, a_text.as_bytes(), &a_sig)
        .map_err(|why| {
            bad(format!(
                "the approval signature of {by} does not verify: {why}"
            ))
        })?;
    let in_order = crypto::hex(&crypto::sha256(exported.join("\n").as_bytes()));
    let signed_set = exported.len() as u64 == st.serials
        && (statement::serials_sha256_v2(exported) == st.serials_sha256
            || (st.version == 1 && in_order == st.serials_sha256));
    if !signed_set {
        return Err(bad(format!(
            "it lists {} serials, not the {} the officers signed",
            exported.len(),
            st.serials
        )));
    }
    Ok(())
}

/// Of `wanted`, the serials the log shows delivered (in an
/// `export.completed` of a request both officers signed) or voided.
fn delivered_or_voided(
    conn: &rusqlite::Connection,
    officers: &EnrolledOfficers,
    wanted: &HashSet<&str>,
) -> Result<HashSet<String>, VaultError> {
    let mut ok = HashSet::new();
    let mut checked: HashSet<String> = HashSet::new();
    for (_, e) in entries_of(conn, "event", events::EXPORT_COMPLETED)? {
        if e["event"] != events::EXPORT_COMPLETED {
            continue;
        }
        let serials = strings(&e["data"]["serials"]);
        let hits: Vec<&String> = serials
            .iter()
            .filter(|s| wanted.contains(s.as_str()))
            .collect();
        if hits.is_empty() {
            continue;
        }
        let id = e["data"]["request_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if !checked.contains(&id) {
            check_signed_request(conn, officers, &id, &serials)?;
            checked.insert(id);
        }
        ok.extend(hits.into_iter().cloned());
    }
    for (_, e) in entries_of(conn, "event", events::SERIAL_VOIDED)? {
        if e["event"] != events::SERIAL_VOIDED {
            continue;
        }
        if let Some(s) = e["data"]["serial"].as_str().filter(|s| wanted.contains(s)) {
            ok.insert(s.to_owned());
        }
    }
    Ok(ok)
}

/// Of `serials`, those the vault recorded as destroyed: serial ->
/// (destruction, date).
fn destroyed_among(
    conn: &rusqlite::Connection,
    serials: &[String],
) -> Result<HashMap<String, (i64, String)>, VaultError> {
    let total: i64 = conn.query_row("SELECT count(*) FROM destroyed_serials", [], |r| r.get(0))?;
    let mut out = HashMap::new();
    if usize::try_from(total).unwrap_or(usize::MAX) <= serials.len() {
        let want: HashSet<&str> = serials.iter().map(String::as_str).collect();
        let mut st = conn.prepare(
            "SELECT d.serial, d.destruction_id, coalesce(x.destroyed_at, '?') FROM destroyed_serials d
             LEFT JOIN destructions x ON x.id = d.destruction_id",
        )?;
        for row in st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })? {
            let (s, id, at) = row?;
            if want.contains(s.as_str()) {
                out.insert(s, (id, day_of(&at)));
            }
        }
    } else {
        for s in serials {
            if let Some(d) = destroyed_serial(conn, s)? {
                out.insert(s.clone(), d);
            }
        }
    }
    Ok(out)
}

/// Whether `serial` was destroyed: (destruction, date).
pub(crate) fn destroyed_serial(
    conn: &rusqlite::Connection,
    serial: &str,
) -> Result<Option<(i64, String)>, VaultError> {
    let row: Option<(i64, String)> = conn
        .prepare_cached(
            "SELECT d.destruction_id, coalesce(x.destroyed_at, '?') FROM destroyed_serials d
             LEFT JOIN destructions x ON x.id = d.destruction_id WHERE d.serial = ?1",
        )?
        .query_row([serial], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(row.map(|(id, at)| (id, day_of(&at))))
}

/// The refusal for a destroyed `serial`, if it was destroyed.
pub(crate) fn destroyed_refusal(
    conn: &rusqlite::Connection,
    serial: &str,
) -> Result<Option<VaultError>, VaultError> {
    Ok(
        destroyed_serial(conn, serial)?.map(|(_, date)| VaultError::SeedDestroyed {
            serial: serial.to_owned(),
            date,
        }),
    )
}

/// Every destroyed serial among `serials` (request create, export), in
/// their order, with its refusal's message.
pub(crate) fn destroyed_problems(
    conn: &rusqlite::Connection,
    serials: &[String],
) -> Result<Vec<(String, String)>, VaultError> {
    let found = destroyed_among(conn, serials)?;
    Ok(serials
        .iter()
        .filter_map(|s| {
            found.get(s).map(|(_, date)| {
                let e = VaultError::SeedDestroyed {
                    serial: s.clone(),
                    date: date.clone(),
                };
                (s.clone(), e.to_string())
            })
        })
        .collect())
}

/// Refuses a batch being ingested (`batch_id`, rows inserted but not
/// committed) that holds a serial whose seed was destroyed: the log must
/// never show a serial ingested twice, and a destroyed serial stays gone.
/// Costs one lookup per destroyed serial, not per ingested one.
pub(crate) fn refuse_destroyed_in_batch(
    tx: &rusqlite::Connection,
    name: &str,
    batch_id: i64,
) -> Result<(), VaultError> {
    let mut st = tx.prepare(
        "SELECT d.serial, coalesce(x.destroyed_at, '?') FROM destroyed_serials d
         JOIN seeds s ON s.serial = d.serial
         LEFT JOIN destructions x ON x.id = d.destruction_id
         WHERE s.batch_id = ?1 ORDER BY d.serial",
    )?;
    let lines = st
        .query_map([batch_id], |r| {
            Ok(VaultError::SeedDestroyed {
                serial: r.get(0)?,
                date: day_of(&r.get::<_, String>(1)?),
            }
            .to_string())
        })?
        .collect::<Result<Vec<_>, _>>()?;
    if lines.is_empty() {
        return Ok(());
    }
    Err(VaultError::Refused(format!(
        "{name}: {} serial(s) had their seeds destroyed and are never ingested again; nothing was ingested:\n  {}",
        lines.len(),
        listed(&lines)
    )))
}

/// Who destroyed what: a destruction as its log entry records it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DestructionRecord {
    /// Its number.
    pub destruction_id: i64,
    /// When (RFC 3339).
    pub destroyed_at: String,
    /// The officers who signed it.
    pub officers: Vec<String>,
    /// Why.
    pub reason: String,
    /// Its `seeds.destroyed` entry.
    pub audit_seq: u64,
}

/// The `seeds.destroyed` entry of destruction `id`, from its table row's
/// pointer, checked against the entry's body.
pub(crate) fn destruction_entry(
    conn: &rusqlite::Connection,
    id: i64,
) -> Result<(u64, Value), VaultError> {
    let seq: Option<i64> = conn
        .query_row(
            "SELECT audit_seq FROM destructions WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    let seq = seq.ok_or_else(|| {
        VaultError::Tampered(format!(
            "destruction {id} is missing from the destructions table"
        ))
    })?;
    let body: Option<Vec<u8>> = conn
        .query_row("SELECT body FROM audit WHERE seq = ?1", [seq], |r| r.get(0))
        .optional()?;
    let e = body
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .filter(|e| e["event"] == events::SEEDS_DESTROYED && e["data"]["destruction_id"] == id)
        .ok_or_else(|| {
            VaultError::Tampered(format!(
                "destruction {id}: log entry {seq} is not its seeds.destroyed entry"
            ))
        })?;
    Ok((super::stored(seq, "audit entry")?, e))
}

/// The record of destruction `id`, from its log entry.
pub(crate) fn destruction_record(
    conn: &rusqlite::Connection,
    id: i64,
) -> Result<DestructionRecord, VaultError> {
    let (seq, e) = destruction_entry(conn, id)?;
    Ok(DestructionRecord {
        destruction_id: id,
        destroyed_at: e["data"]["destroyed_at"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        officers: strings(&e["actors"]),
        reason: e["data"]["reason"].as_str().unwrap_or_default().to_owned(),
        audit_seq: seq,
    })
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
                if self.order(&id)?.is_none() {
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

impl Vault {
    /// A destruction killed between its commit and the scrub leaves its
    /// journal behind (header zeroed, so SQLite ignores it, but holding the
    /// deleted pages): overwritten with zeros and removed here, under the
    /// write lock so that no other command's live journal is touched.
    fn scrub_stale_journal(&mut self) -> Result<(), VaultError> {
        let path = self
            .dir()
            .join(format!("{}-journal", crate::store::DB_FILE));
        if !path.exists() {
            return Ok(());
        }
        self.store_mut().write(|_tx| {
            let Ok(mut f) = OpenOptions::new().read(true).write(true).open(&path) else {
                return Ok(());
            };
            let io = |source| VaultError::Io {
                path: path.clone(),
                source,
            };
            let mut header = [0u8; 28];
            let stale = f.read_exact(&mut header).is_ok() && header.iter().all(|b| *b == 0);
            if stale {
                zero_file(&mut f).map_err(io)?;
                drop(f);
                fs::remove_file(&path).map_err(io)?;
            }
            Ok::<_, VaultError>(())
        })
    }
}

/// Overwrites the whole of `f` with zeros and syncs it.
fn zero_file(f: &mut fs::File) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom};
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(0))?;
    let zeros = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = usize::try_from(left.min(zeros.len() as u64)).unwrap_or(zeros.len());
        f.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    f.sync_all()
}

/// Writes `bytes` to `path` (never over an existing file) through a
/// temporary name: fsync, link into place, fsync the directory, then read
/// back and compare. A temporary file a crashed run left is removed first
/// (the name is this command's own).
fn write_receipt(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), VaultError> {
    let io = |p: &Path| {
        let p = p.to_owned();
        move |source| VaultError::Io {
            path: p.clone(),
            source,
        }
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.partial"));
    if tmp.exists() {
        fs::remove_file(&tmp).map_err(io(&tmp))?;
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&tmp)
        .map_err(io(&tmp))?;
    let wrote = f.write_all(bytes).and_then(|()| f.sync_all());
    if let Err(e) = wrote {
        let _ = fs::remove_file(&tmp);
        return Err(VaultError::Io {
            path: tmp,
            source: e,
        });
    }
    crash_point("destroy-receipt-partial");
    let linked = fs::hard_link(&tmp, path).map_err(|e| VaultError::creating(path, e));
    let _ = fs::remove_file(&tmp);
    linked?;
    super::init::sync_dir(dir)?;
    let mut back = Vec::new();
    fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut back))
        .map_err(io(path))?;
    if back != bytes {
        return Err(VaultError::ReadBackMismatch {
            path: path.to_owned(),
        });
    }
    Ok(())
}

/// The destruction statement every officer of the quorum signs.
fn statement_text(
    vault: &str,
    id: i64,
    plan: &DestroyPlan,
    sha: &str,
    at: &str,
    officers: &[String],
) -> String {
    let js = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut t = format!("{STATEMENT_HEADER}\n");
    t += &format!("vault: {}\n", js(vault));
    t += &format!("destruction: {id}\n");
    t += &format!("selection: {}\n", js(plan.selection.kind()));
    t += &format!(
        "order: {}\n",
        plan.order_id
            .as_deref()
            .map_or_else(|| "null".to_owned(), js)
    );
    t += &format!("serials: {}\n", plan.serials.len());
    t += &format!("serials-sha256: {}\n", js(sha));
    t += &format!("reason: {}\n", js(&plan.reason));
    t += &format!("destroyed-at: {}\n", js(at));
    t += &format!(
        "officers: {}\n",
        serde_json::to_string(officers).unwrap_or_default()
    );
    t
}

/// The receipt's text (clearsigned by the vault key).
#[allow(clippy::too_many_arguments)]
fn receipt_text(
    info: &super::VaultInfo,
    id: i64,
    plan: &DestroyPlan,
    sha: &str,
    at: &str,
    officers: &[(String, String)],
    shredded: &[i64],
    statement_sha: &str,
) -> String {
    let mut t = format!("{RECEIPT_HEADER}\n");
    t += &format!("vault: {}\n", info.vault_id);
    t += if info.test_vault {
        "test-vault: yes (made with --insecure-fast-kdf; NOT FOR REAL SEEDS)\n"
    } else {
        "test-vault: no\n"
    };
    t += &format!("destruction: {id}\n");
    t += &format!("selection: {}\n", plan.selection.kind());
    t += &format!("order: {}\n", plan.order_id.as_deref().unwrap_or("(none)"));
    t += &format!("destroyed-at: {at}\n");
    t += &format!("reason: {}\n", plan.reason);
    for (name, fpr) in officers {
        t += &format!("officer: {name} {fpr}\n");
    }
    t += &format!("serials: {}\n", plan.serials.len());
    t += &format!("serials-sha256: {sha}\n");
    t += &format!(
        "batches-shredded: {}\n",
        if shredded.is_empty() {
            "none".to_owned()
        } else {
            shredded
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        }
    );
    t += &format!("statement-sha256: {statement_sha}\n");
    if plan.serials.len() <= RECEIPT_LISTS_UP_TO {
        for s in &plan.serials {
            t += &format!("serial: {s}\n");
        }
    }
    t
}

impl UnsealedVault {
    /// Destroys the seeds of a plan ([`Vault::plan_destruction`]),
    /// checking it again first. Every officer of the quorum (at least two)
    /// signs the destruction statement; every seed is opened before its
    /// row is deleted; the rows, the data keys of batches left without a
    /// seed, the destruction's records and its log entries commit in one
    /// transaction; then the journal is scrubbed and the receipt written
    /// to the medium. A plan that only re-writes an earlier receipt does
    /// that and nothing else.
    pub fn destroy(&mut self, plan: DestroyPlan) -> Result<DestroyOutcome, VaultError> {
        if plan.recovery.is_some() {
            return self.vault_mut().rewrite_receipt(&plan);
        }
        let plan = self
            .vault()
            .plan_destruction(plan.selection, &plan.reason, &plan.media)?;
        if plan.recovery.is_some() {
            return self.vault_mut().rewrite_receipt(&plan);
        }
        let names: BTreeSet<&str> = self.officers().iter().map(|o| o.name.as_str()).collect();
        if names.len() < 2 {
            return Err(VaultError::Refused(
                "destroying seeds takes two officers' cards (two-person rule)".into(),
            ));
        }
        let officer_list: Vec<(String, String)> = self
            .officers()
            .iter()
            .map(|o| (o.name.clone(), o.signing_key().fingerprint()))
            .collect();
        let officer_names: Vec<String> = officer_list.iter().map(|(n, _)| n.clone()).collect();
        let vault_key = self.vault_key()?;
        let batches = self.reauthenticate(&plan.serials)?;

        let info = self.vault().info().clone();
        let vid = info.vault_id.to_string();
        let sha = statement::serials_sha256_v2(&plan.serials);
        let at = audit::now_rfc3339();
        let id: i64 = self.vault().store().conn().query_row(
            "SELECT coalesce(max(id), 0) + 1 FROM destructions",
            [],
            |r| r.get(0),
        )?;
        let statement = statement_text(&vid, id, &plan, &sha, &at, &officer_names);
        let mut signatures = serde_json::Map::new();
        for o in self.officers() {
            let sig = crate::pgp::sign_detached(o.signing_key(), statement.as_bytes())
                .map_err(VaultError::Pgp)?;
            signatures.insert(o.name.clone(), Value::String(sig));
        }
        let statement_sha = crypto::hex(&crypto::sha256(statement.as_bytes()));
        let receipt_name = match &plan.order_id {
            Some(o) => format!("{o}-destruction-{id}.receipt.asc"),
            None => format!("destruction-{id}.receipt.asc"),
        };
        let receipt_path = plan.media.join(&receipt_name);
        if receipt_path.exists() {
            return Err(VaultError::WouldOverwrite(receipt_path));
        }
        let n = plan.serials.len();

        // Foreign keys are off for this one transaction: a shredded batch
        // keeps its row as history, naming a data key that is gone.
        let conn = self.vault().store().conn();
        conn.pragma_update(None, "foreign_keys", "OFF")?;
        // The journal stays after the commit (its header zeroed) so it can
        // be overwritten before it is deleted; the exclusive lock keeps any
        // other connection from writing into it meanwhile.
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
        conn.pragma_update(None, "journal_mode", "PERSIST")?;
        let committed = self.vault_mut().store_mut().write(|tx| {
            let deleted_rows: usize = tx.execute(
                "INSERT INTO destroyed_serials (serial, destruction_id, batch_id, order_id)
                 SELECT s.serial, ?1, s.batch_id, s.order_id FROM temp.destroy_sel t JOIN seeds s ON s.serial = t.serial",
                [id],
            )?;
            let deleted = tx.execute(
                "DELETE FROM seeds WHERE serial IN (SELECT serial FROM temp.destroy_sel)",
                [],
            )?;
            if deleted != n || deleted_rows != n {
                return Err(VaultError::VaultChanged { command: "seeds destroy" });
            }
            // Crypto-shredding: a batch none of whose seeds is left loses
            // its data key. Counted against the batch's logged size, and
            // only destroyed rows whose seed is really gone count.
            let mut shredded = Vec::new();
            for (batch, logged) in &batches {
                let gone: u64 = tx.query_row(
                    "SELECT count(*) FROM destroyed_serials d WHERE d.batch_id = ?1
                     AND NOT EXISTS (SELECT 1 FROM seeds s WHERE s.serial = d.serial)",
                    [batch],
                    |r| r.get(0),
                )?;
                if gone >= *logged {
                    let dk: i64 = tx.query_row(
                        "SELECT data_key_id FROM batches WHERE id = ?1",
                        [batch],
                        |r| r.get(0),
                    )?;
                    tx.execute("DELETE FROM rekey_wraps WHERE data_key_id = ?1", [dk])?;
                    tx.execute("DELETE FROM data_keys WHERE id = ?1", [dk])?;
                    shredded.push(*batch);
                }
            }
            let text = receipt_text(
                &info,
                id,
                &plan,
                &sha,
                &at,
                &officer_list,
                &shredded,
                &statement_sha,
            );
            let receipt = crate::pgp::clearsign(&vault_key, &text).map_err(VaultError::Pgp)?;
            let receipt_sha = crypto::hex(&crypto::sha256(receipt.as_bytes()));
            let parts = n.div_ceil(PART);
            for (i, chunk) in plan.serials.chunks(PART).enumerate() {
                audit::append(
                    tx,
                    &vid,
                    &Event {
                        kind: events::SEEDS_DESTROYED_SERIALS,
                        actors: officer_names.clone(),
                        data: json!({ "destruction_id": id, "part": i + 1, "destroyed": chunk }),
                    },
                )?;
            }
            let head = audit::head(tx)?;
            tx.execute(
                "INSERT INTO destructions (id, audit_seq, destroyed_at, selection, order_id, serials_sha256, count, receipt_name, receipt)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    id,
                    head.count + 1,
                    at,
                    plan.selection.kind(),
                    plan.order_id,
                    sha,
                    n,
                    receipt_name,
                    receipt.as_bytes()
                ],
            )?;
            audit::append(
                tx,
                &vid,
                &Event {
                    kind: events::SEEDS_DESTROYED,
                    actors: officer_names.clone(),
                    data: json!({
                        "destruction_id": id,
                        "selection": plan.selection.kind(),
                        "order_id": plan.order_id,
                        "count": n,
                        "parts": parts,
                        "serials_sha256": sha,
                        "reason": plan.reason,
                        "destroyed_at": at,
                        "officers": officer_list.iter().map(|(n, f)| json!({"name": n, "fingerprint": f})).collect::<Vec<_>>(),
                        "statement": statement,
                        "signatures": signatures,
                        "batches_shredded": shredded,
                        "receipt": receipt_name,
                        "receipt_sha256": receipt_sha,
                    }),
                },
            )?;
            Ok::<_, VaultError>((shredded, receipt, receipt_sha))
        });
        let scrubbed = if committed.is_ok() {
            crash_point("destroy-committed");
            self.scrub_journal()
        } else {
            Ok(())
        };
        let conn = self.vault().store().conn();
        let restored = conn
            .pragma_update(None, "journal_mode", "DELETE")
            .and_then(|()| conn.pragma_update(None, "locking_mode", "NORMAL"))
            .and_then(|()| conn.pragma_update(None, "foreign_keys", "ON"))
            // The exclusive lock is let go at the next access.
            .and_then(|()| conn.query_row("SELECT count(*) FROM vault", [], |_| Ok(())));
        let _ = conn.execute("DELETE FROM temp.destroy_sel", []);
        let (shredded, receipt, receipt_sha) = committed?;
        scrubbed?;
        restored?;
        crash_point("destroy-scrubbed");
        write_receipt(&plan.media, &receipt_path, receipt.as_bytes())?;
        Ok(DestroyOutcome {
            destruction_id: id,
            order_id: plan.order_id,
            count: n as u64,
            destroyed_at: at,
            officers: officer_names,
            reason: plan.reason,
            batches_shredded: shredded,
            receipt: receipt_path,
            receipt_sha256: receipt_sha,
            earlier: false,
            receipt_was_there: false,
        })
    }

    /// Opens every seed about to be destroyed (the rows are the vault's own
    /// sealed seeds, in place) and fills `temp.destroy_sel` with the
    /// serials. Returns each batch touched with its logged size.
    fn reauthenticate(&self, serials: &[String]) -> Result<Vec<(i64, u64)>, VaultError> {
        let conn = self.vault().store().conn();
        conn.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS destroy_sel (serial TEXT PRIMARY KEY) WITHOUT ROWID;
             DELETE FROM temp.destroy_sel;
             BEGIN;",
        )?;
        let filled = (|| -> Result<(), VaultError> {
            let mut ins =
                conn.prepare_cached("INSERT INTO temp.destroy_sel (serial) VALUES (?1)")?;
            for s in serials {
                ins.execute([s])?;
            }
            Ok(())
        })();
        conn.execute_batch(if filled.is_ok() { "COMMIT" } else { "ROLLBACK" })?;
        filled?;
        let mut sets: HashMap<i64, Option<String>> = HashMap::new();
        {
            let mut st = conn.prepare("SELECT id, json FROM token_params")?;
            for row in st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))? {
                let (id, j) = row?;
                sets.insert(
                    id,
                    serde_json::from_str::<TokenParams>(&j)
                        .ok()
                        .map(|p| p.sha256_hex()),
                );
            }
        }
        let mut aad = SeedAad::new(self.vault().info().vault_id);
        let mut batches: HashMap<i64, u64> = HashMap::new();
        let mut opened = 0usize;
        let mut last_key: Option<(i64, std::sync::Arc<crate::crypto::SealingKey>)> = None;
        let mut st = conn.prepare(
            "SELECT s.serial, s.data_key_id, s.params_id, s.sealed, s.batch_id
             FROM temp.destroy_sel t JOIN seeds s ON s.serial = t.serial",
        )?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let serial: String = r.get(0)?;
            let (dk, pid, batch): (i64, i64, i64) = (r.get(1)?, r.get(2)?, r.get(4)?);
            let sealed = r.get_ref(3)?.as_blob().map_err(rusqlite::Error::from)?;
            let params_sha = match sets.get(&pid) {
                Some(Some(h)) => h.as_str(),
                Some(None) => {
                    return Err(super::seeds::seed_fault(
                        &serial,
                        super::SeedFault::ParamsUnreadable { set: pid },
                    ))
                }
                None => {
                    return Err(super::seeds::seed_fault(
                        &serial,
                        super::SeedFault::ParamsMissing { set: pid },
                    ))
                }
            };
            let key = match &last_key {
                Some((id, k)) if *id == dk => k.clone(),
                _ => {
                    let k = self.data_key(dk)?;
                    last_key = Some((dk, k.clone()));
                    k
                }
            };
            // Opened and dropped at once: the seed wipes itself.
            drop(super::seeds::open_seed(
                &key, &mut aad, &serial, dk, params_sha, sealed,
            )?);
            batches.entry(batch).or_insert(0);
            opened += 1;
        }
        if opened != serials.len() {
            let mut have = conn.prepare_cached("SELECT 1 FROM seeds WHERE serial = ?1")?;
            let mut missing = Vec::new();
            for s in serials {
                if !have.exists([s])? {
                    missing.push(s.clone());
                }
            }
            return Err(VaultError::Tampered(format!(
                "the log shows these serials delivered, but their seed rows are gone (deleted behind the log): {}",
                missing.iter().take(MAX_LISTED_REFUSALS).cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        // Each batch's size as its `batch.ingested` entry logged it.
        let mut out = Vec::new();
        for batch in batches.into_keys() {
            let seq: i64 = conn.query_row(
                "SELECT audit_seq FROM batches WHERE id = ?1",
                [batch],
                |r| r.get(0),
            )?;
            let body: Option<Vec<u8>> = conn
                .query_row("SELECT body FROM audit WHERE seq = ?1", [seq], |r| r.get(0))
                .optional()?;
            let e = body.and_then(|b| serde_json::from_slice::<Value>(&b).ok());
            let count = e
                .filter(|e| e["data"]["batch_id"] == batch)
                .and_then(|e| e["data"]["count"].as_u64())
                .ok_or_else(|| {
                    VaultError::Tampered(format!(
                        "batch {batch}: log entry {seq} is not its batch entry"
                    ))
                })?;
            out.push((batch, count));
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Overwrites the rollback journal the destruction left (PERSIST mode:
    /// header zeroed, pages still there) with zeros and syncs it, so the
    /// deleted seeds' pages are not left in the freed blocks of a deleted
    /// file. Runs under the exclusive lock taken for the destruction.
    fn scrub_journal(&self) -> Result<(), VaultError> {
        let path = self
            .vault()
            .dir()
            .join(format!("{}-journal", crate::store::DB_FILE));
        let Ok(mut f) = OpenOptions::new().write(true).open(&path) else {
            return Ok(());
        };
        zero_file(&mut f).map_err(|source| VaultError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(())
    }
}

/// The record of a serial whose seed was destroyed (`serial show`): its
/// batch and token parameters as the log recorded them at ingest, its
/// history, and who destroyed it, when and why (from the log entry).
pub(super) fn destroyed_serial_record(
    vault: &Vault,
    serial: &Serial,
) -> Result<Option<super::SerialRecord>, VaultError> {
    let conn = vault.store().conn();
    let row: Option<(i64, i64, Option<String>)> = conn
        .query_row(
            "SELECT destruction_id, batch_id, order_id FROM destroyed_serials WHERE serial = ?1",
            [serial.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((id, batch, order_id)) = row else {
        return Ok(None);
    };
    let (label, format, ingested_at, batch_seq): (Option<String>, String, String, i64) = conn
        .query_row(
            "SELECT label, format, created_at, audit_seq FROM batches WHERE id = ?1",
            [batch],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?
        .ok_or_else(|| {
            VaultError::Tampered(format!("serial {serial}: its batch {batch} is missing"))
        })?;
    let params = super::query::logged_params(conn, serial.as_str(), batch, batch_seq)?;
    let record = destruction_record(conn, id)?;
    // The destruction's own entry names the serials by hash only; its
    // parts (`seeds.destroyed_serials`) name this one.
    let mut history = super::seeds::serial_history(conn, serial.as_str(), batch_seq)?;
    let at = i64::try_from(record.audit_seq).unwrap_or(i64::MAX);
    if !history.iter().any(|h| h.seq == at) {
        history.extend(super::seeds::history_item(conn, at)?);
    }
    let exports: i64 = conn.query_row(
        "SELECT count(*) FROM request_serials rs JOIN exports e ON e.request_id = rs.request_id
         WHERE rs.serial = ?1 AND e.state = 'completed'",
        [serial.as_str()],
        |r| r.get(0),
    )?;
    Ok(Some(super::SerialRecord {
        serial: serial.to_string(),
        state: "destroyed".into(),
        batch_id: batch,
        batch_label: label,
        batch_format: format,
        ingested_at,
        params,
        void_reason: None,
        voided_at: None,
        voided_by: None,
        order_id,
        exports,
        history,
        destroyed: Some(record),
    }))
}
