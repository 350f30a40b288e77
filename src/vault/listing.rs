//! What the console lists and checks before an officer signs.
//!
//! The terminal UI shows batches and orders as lists, and it shows an
//! officer the outcome of an act *before* the card is asked for: the count
//! and every refusal of an `order assign`, the recipient's fingerprints
//! and every refusal of a `request create`. Those previews run the very
//! checks the acts run (`assign_plan` is what `assign_serials` calls,
//! `gather_request` what `create_request` calls), so what the console
//! announces is what the act then does, in the same words, and they write
//! nothing: a preview is not an attempt, so nothing is logged.
//!
//! The lists are the unsigned view of the tables, for reading (SPEC §8):
//! an edited row can change what a list shows, never what an act does,
//! since every act re-reads and re-checks what it acts on.

use std::path::Path;

use rusqlite::OptionalExtension;
use serde::Serialize;

use super::{NewRequest, Vault, VaultError};
use crate::token::Serial;

/// A batch as the batches list shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BatchSummary {
    /// Batch id.
    pub id: i64,
    /// Label given at ingest.
    pub label: Option<String>,
    /// File format it was read from.
    pub format: String,
    /// Tokens in it.
    pub count: i64,
    /// When it was ingested.
    pub created_at: String,
    /// The officers of the ingest quorum.
    pub officers: Vec<String>,
    /// SHA-256 of the factory file, hex.
    pub source_sha256: String,
}

/// An order as the orders list shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OrderSummary {
    /// Order id.
    pub id: String,
    /// Customer.
    pub customer: String,
    /// Addresses authorized to request its seeds.
    pub emails: Vec<String>,
    /// Serials shipped in it.
    pub serials: i64,
    /// When it was recorded.
    pub created_at: String,
    /// By whom.
    pub created_by: String,
}

/// What an `order assign` would do: the serials it would add.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AssignPlan {
    /// The order (normalized id).
    pub order_id: String,
    /// Serials that would be added, each once, in file order.
    pub fresh: Vec<String>,
    /// Distinct serials of the file already recorded for this order.
    pub already: usize,
}

/// What a `request create` would be, before anyone signs it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RequestPreview {
    /// Primary fingerprint of the recipient certificate, if it parsed.
    pub recipient_fingerprint: Option<String>,
    /// Its encryption subkeys that would be used.
    pub encryption_subkeys: Vec<String>,
    /// Its user ids.
    pub user_ids: Vec<String>,
    /// How many serials the request would hold.
    pub serials: usize,
    /// Every problem, as `request create` would refuse them.
    pub problems: Vec<String>,
    /// Of the serials, those refused only because they were exported.
    pub already_exported: Vec<String>,
    /// What the officers must confirm out of band (not refusals), e.g. a
    /// recipient key that does not name the requester's e-mail.
    pub warnings: Vec<String>,
    /// The format's refusal of tokens it cannot carry, in its words
    /// (checked only when nothing else is wrong).
    pub uncarried: Option<String>,
}

impl RequestPreview {
    /// The refusal `request create` would give, in its words; `None` when
    /// it would go through.
    pub fn refusal(&self) -> Option<String> {
        if let Some(e) = &self.uncarried {
            return Some(e.clone());
        }
        if self.problems.is_empty() {
            return None;
        }
        Some(
            VaultError::RequestRefused {
                problems: self.problems.clone(),
                already_exported: self.already_exported.clone(),
            }
            .to_string(),
        )
    }
}

/// Reads a serials file: one serial per line; blank lines and `#`
/// comments ignored; every bad line reported at once with its number.
/// The words are the command line's (`order assign`, `request create`).
pub fn read_serials_file(path: &Path) -> Result<Vec<Serial>, VaultError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| VaultError::Refused(format!("{}: {e}", path.display())))?;
    parse_serials_text(&text).map_err(|bad| {
        VaultError::Refused(format!(
            "{}: {} bad line(s):\n  {}",
            path.display(),
            bad.len(),
            bad.join("\n  ")
        ))
    })
}

/// The text of a serials file read as [`read_serials_file`] reads it: the
/// serials, or every bad line (`line N: why`).
pub(crate) fn parse_serials_text(text: &str) -> Result<Vec<Serial>, Vec<String>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        match Serial::parse(l) {
            Ok(s) => out.push(s),
            Err(e) => bad.push(format!("line {}: {e}", i + 1)),
        }
    }
    if bad.is_empty() {
        Ok(out)
    } else {
        Err(bad)
    }
}

/// Reads a UPN file (`serial,upn` per line, for azure-csv requests);
/// every bad line reported at once, in the command line's words.
pub fn read_upn_file(path: &Path) -> Result<Vec<super::upn::UpnLine>, VaultError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| VaultError::Refused(format!("{}: {e}", path.display())))?;
    super::upn::parse_upn_file(&text).map_err(|bad| {
        VaultError::Refused(format!(
            "{}: {} bad line(s):\n  {}",
            path.display(),
            bad.len(),
            bad.join("\n  ")
        ))
    })
}

/// The serials `order assign` would add to `order_id`, or its refusal
/// naming every problem. Shared by [`Vault::assign_serials`] (inside its
/// write transaction) and [`Vault::check_assign`].
pub(super) fn assign_plan(
    conn: &rusqlite::Connection,
    order_id: &str,
    serials: &[Serial],
) -> Result<AssignPlan, VaultError> {
    if serials.is_empty() {
        return Err(VaultError::Refused(
            "the serials file lists no serial".into(),
        ));
    }
    if conn
        .query_row("SELECT 1 FROM orders WHERE id = ?1", [order_id], |_| Ok(()))
        .optional()?
        .is_none()
    {
        return Err(VaultError::OrderNotFound {
            id: order_id.to_owned(),
        });
    }
    let mut problems = Vec::new();
    let mut fresh = Vec::new();
    let mut fresh_set = std::collections::HashSet::new();
    let mut already = std::collections::HashSet::new();
    let mut q = conn.prepare_cached("SELECT state, order_id FROM seeds WHERE serial = ?1")?;
    for s in serials {
        let row: Option<(String, Option<String>)> = q
            .query_row([s.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        match row {
            None => problems.push(format!("serial {s} is not in the vault")),
            Some((state, _)) if state == "voided" => problems.push(format!("serial {s} is voided")),
            Some((_, Some(o))) if o == order_id => {
                already.insert(s.as_str().to_owned());
            }
            Some((_, Some(o))) => problems.push(format!("serial {s} already belongs to order {o}")),
            Some((_, None)) => {
                if fresh_set.insert(s.as_str()) {
                    fresh.push(s.as_str().to_owned());
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(VaultError::Refused(format!(
            "nothing assigned to order {order_id}; {} problem(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        )));
    }
    Ok(AssignPlan {
        order_id: order_id.to_owned(),
        fresh,
        already: already.len(),
    })
}

impl Vault {
    /// Every batch, newest first.
    pub fn batches(&self) -> Result<Vec<BatchSummary>, VaultError> {
        let conn = self.store().conn();
        let mut st = conn.prepare(
            "SELECT id, label, format, count, created_at, officers, source_sha256
             FROM batches ORDER BY id DESC",
        )?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows
            .into_iter()
            .map(|r| BatchSummary {
                id: r.0,
                label: r.1,
                format: r.2,
                count: r.3,
                created_at: r.4,
                // The list only shows them; an unreadable column shows none.
                officers: serde_json::from_str(&r.5).unwrap_or_default(),
                source_sha256: r.6,
            })
            .collect())
    }

    /// Every order, by id.
    pub fn orders(&self) -> Result<Vec<OrderSummary>, VaultError> {
        let conn = self.store().conn();
        let mut st = conn.prepare(
            "SELECT o.id, o.customer, o.created_at, o.created_by,
                    (SELECT count(*) FROM seeds s WHERE s.order_id = o.id),
                    (SELECT group_concat(e.email, ' ') FROM order_emails e WHERE e.order_id = o.id)
             FROM orders o ORDER BY o.id",
        )?;
        let rows = st
            .query_map([], |r| {
                Ok(OrderSummary {
                    id: r.get(0)?,
                    customer: r.get(1)?,
                    created_at: r.get(2)?,
                    created_by: r.get(3)?,
                    serials: r.get(4)?,
                    emails: r
                        .get::<_, Option<String>>(5)?
                        .map(|s| s.split(' ').map(str::to_owned).collect())
                        .unwrap_or_default(),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// A dry run of [`Vault::assign_serials`]: the serials it would add,
    /// or the refusal it would give, in its words. Writes nothing.
    pub fn check_assign(
        &self,
        order_id: &str,
        serials: &[Serial],
    ) -> Result<AssignPlan, VaultError> {
        let order_id = super::orders::check_order_id(order_id)?;
        assign_plan(self.store().conn(), &order_id, serials)
    }

    /// A dry run of [`Vault::create_request`]: the recipient as it would
    /// be recorded and every problem it would refuse, gathered at once.
    /// Writes and logs nothing (nobody has signed anything yet).
    pub fn preview_request(&self, r: &NewRequest<'_>) -> Result<RequestPreview, VaultError> {
        let g = self.gather_request(r)?;
        Ok(RequestPreview {
            recipient_fingerprint: g.recipient.as_ref().map(|c| c.fingerprint()),
            encryption_subkeys: g
                .recipient
                .as_ref()
                .map(|c| c.encryption_subkey_fingerprints())
                .unwrap_or_default(),
            user_ids: g
                .recipient
                .as_ref()
                .map(|c| c.user_ids())
                .unwrap_or_default(),
            serials: g.serials.len(),
            warnings: g
                .recipient
                .as_ref()
                .and_then(|c| super::requests::recipient_email_warning(c, &g.requester))
                .into_iter()
                .collect(),
            problems: g.problems,
            already_exported: g.already_exported,
            uncarried: g.uncarried.map(|e| e.to_string()),
        })
    }
}
