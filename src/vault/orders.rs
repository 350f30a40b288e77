//! Orders: who bought which serials, and who may ask for their seeds.
//!
//! An order records the customer, the e-mail addresses authorized to
//! request its seeds and the serials shipped in it. Seed requests
//! (`requests.rs`) are checked against what is recorded here: a serial
//! outside the order, a voided serial or an address not on the order is
//! refused there.

use std::collections::HashSet;

use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use serde_json::json;

use super::statement;
use super::{Officer, Vault, VaultError};
use crate::audit::{self, events, Event};
use crate::store::Store;
use crate::token::Serial;

/// An order as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct Order {
    /// Order id (the customer's seed-request id).
    pub id: String,
    /// Customer.
    pub customer: String,
    /// Addresses authorized to request seeds.
    pub emails: Vec<String>,
    /// Serials shipped in it.
    pub serials: Vec<String>,
    /// Of those, voided.
    pub voided: Vec<String>,
    /// Of those, exported at least once.
    pub exported: Vec<String>,
    /// When recorded.
    pub created_at: String,
    /// By whom.
    pub created_by: String,
}

pub(super) fn normalize_email(e: &str) -> Result<String, String> {
    if let Some(at) = statement::control_char_at(e.trim()) {
        return Err(format!(
            "the e-mail address holds a control character at character {at}"
        ));
    }
    let e = e.trim().to_ascii_lowercase();
    let ok = e.len() <= 254
        && !e
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ',')
        && matches!(e.split_once('@'), Some((l, d)) if !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.') && !d.contains('@'));
    if ok {
        Ok(e)
    } else {
        Err(format!("{e:?} is not an e-mail address"))
    }
}

/// Refuses free text (a reason, a customer name) holding a control
/// character: it would go into signed statements, manifests and logs,
/// where a line break could pass for a field of its own. The message names
/// the field and the position, never the text.
pub fn check_free_text(what: &str, text: &str) -> Result<(), VaultError> {
    match statement::control_char_at(text) {
        None => Ok(()),
        Some(at) => Err(VaultError::Refused(format!(
            "{what} contains a control character (line break, tab or similar) at character {at}; \
             give it as one line of plain text"
        ))),
    }
}

pub(super) fn check_order_id(id: &str) -> Result<String, VaultError> {
    Serial::parse(id).map(Serial::into_string).map_err(|e| {
        VaultError::Refused(format!(
            "invalid order id: {}",
            e.to_string().replacen("serial", "order id", 1)
        ))
    })
}

impl Vault {
    /// Records an order (`order add`). One officer.
    pub fn add_order(
        &mut self,
        id: &str,
        customer: &str,
        emails: &[String],
        officer: &Officer,
    ) -> Result<(), VaultError> {
        let id = check_order_id(id)?;
        let customer = customer.trim();
        if customer.is_empty() {
            return Err(VaultError::Refused("the customer name is empty".into()));
        }
        check_free_text("the customer name", customer)?;
        let mut problems = Vec::new();
        let mut clean = Vec::new();
        for e in emails {
            match normalize_email(e) {
                Ok(e) if !clean.contains(&e) => clean.push(e),
                Ok(_) => {}
                Err(p) => problems.push(p),
            }
        }
        if clean.is_empty() && problems.is_empty() {
            problems.push("at least one authorized e-mail address is required".into());
        }
        if !problems.is_empty() {
            return Err(VaultError::Refused(format!(
                "order {id} refused: {}",
                problems.join("; ")
            )));
        }
        let vid = self.info().vault_id.to_string();
        let name = officer.name.clone();
        self.store_mut().write(|tx| {
            if tx
                .query_row("SELECT 1 FROM orders WHERE id = ?1", [&id], |_| Ok(()))
                .optional()?
                .is_some()
            {
                return Err(VaultError::OrderExists { id: id.clone() });
            }
            tx.execute(
                "INSERT INTO orders (id, customer, created_at, created_by) VALUES (?1, ?2, ?3, ?4)",
                params![id, customer, audit::now_rfc3339(), name],
            )?;
            for e in &clean {
                tx.execute(
                    "INSERT INTO order_emails (order_id, email) VALUES (?1, ?2)",
                    params![id, e],
                )?;
            }
            audit::append(
                tx,
                &vid,
                &Event {
                    kind: events::ORDER_ADDED,
                    actors: vec![name.clone()],
                    data: json!({ "order_id": id, "customer": customer, "emails": clean }),
                },
            )?;
            super::crash::point("order-add-before-commit");
            Ok(())
        })
    }

    /// Records the serials shipped in an order (`order assign`). Every
    /// problem is reported at once; nothing changes unless all are fine.
    pub fn assign_serials(
        &mut self,
        order_id: &str,
        serials: &[Serial],
        officer: &Officer,
    ) -> Result<usize, VaultError> {
        let order_id = check_order_id(order_id)?;
        let vid = self.info().vault_id.to_string();
        let name = officer.name.clone();
        self.store_mut().write(|tx| {
            // The checks the console's dry run (`check_assign`) shows.
            let fresh = super::listing::assign_plan(tx, &order_id, serials)?.fresh;
            let mut up = tx.prepare_cached("UPDATE seeds SET order_id = ?1 WHERE serial = ?2")?;
            for s in &fresh {
                up.execute(params![order_id, s])?;
            }
            audit::append(
                tx,
                &vid,
                &Event {
                    kind: events::ORDER_ASSIGNED,
                    actors: vec![name.clone()],
                    data: json!({ "order_id": order_id, "serials": fresh }),
                },
            )?;
            super::crash::point("order-assign-before-commit");
            Ok(fresh.len())
        })
    }

    /// An order with its serials.
    pub fn order(&self, id: &str) -> Result<Option<Order>, VaultError> {
        self.order_with(id, None)
    }

    /// An order with only those of `listed` it holds as its `serials`
    /// (and of those, `voided` and `exported`): what a request for
    /// `listed` is checked against, read serial by serial so that a few
    /// serials of a large order do not cost the whole order.
    pub(super) fn order_among(
        &self,
        id: &str,
        listed: &[String],
    ) -> Result<Option<Order>, VaultError> {
        self.order_with(id, Some(listed))
    }

    fn order_with(&self, id: &str, listed: Option<&[String]>) -> Result<Option<Order>, VaultError> {
        let conn = self.store().conn();
        let row: Option<(String, String, String)> = conn
            .query_row(
                "SELECT customer, created_at, created_by FROM orders WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((customer, created_at, created_by)) = row else {
            return Ok(None);
        };
        let mut st =
            conn.prepare("SELECT email FROM order_emails WHERE order_id = ?1 ORDER BY email")?;
        let emails = st
            .query_map([id], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        let rows = order_rows(
            self.store(),
            id,
            listed,
            &format!(
                "SELECT s.serial, s.state, {} FROM seeds s",
                super::EXPORTS_OF_SERIAL
            ),
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            },
            |r| &r.0,
        )?;
        Ok(Some(Order {
            id: id.to_owned(),
            customer,
            emails,
            serials: rows.iter().map(|r| r.0.clone()).collect(),
            voided: rows
                .iter()
                .filter(|r| r.1 == "voided")
                .map(|r| r.0.clone())
                .collect(),
            exported: rows
                .iter()
                .filter(|r| r.2 > 0)
                .map(|r| r.0.clone())
                .collect(),
            created_at,
            created_by,
        }))
    }
}

/// The rows `select` (a `SELECT` over `seeds s` without `WHERE`, its
/// first column `s.serial`) gives for the seeds of order `order_id`, in
/// serial order: all of them, or those of `listed` (`serial` names a
/// row's serial). A list of fewer than a quarter of the order is looked
/// up serial by serial, in one read transaction, so that a few serials of
/// a large order do not cost the whole order; a longer one reads the order
/// once, filtered (in the export bench a lookup cost about two rows of
/// the scan; a quarter leaves room).
pub(super) fn order_rows<R>(
    store: &Store,
    order_id: &str,
    listed: Option<&[String]>,
    select: &str,
    row: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<R>,
    serial: impl Fn(&R) -> &str,
) -> Result<Vec<R>, VaultError> {
    let conn = store.conn();
    let few = match listed {
        None => false,
        Some(listed) => {
            let in_order: u64 = conn.query_row(
                "SELECT count(*) FROM seeds WHERE order_id = ?1",
                [order_id],
                |r| r.get(0),
            )?;
            u64::try_from(listed.len())
                .unwrap_or(u64::MAX)
                .saturating_mul(4)
                < in_order
        }
    };
    if let (true, Some(listed)) = (few, listed) {
        let mut sorted: Vec<&str> = listed.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        sorted.dedup();
        let mut st =
            conn.prepare_cached(&format!("{select} WHERE s.serial = ?1 AND s.order_id = ?2"))?;
        return store.read(|| {
            let mut rows = Vec::with_capacity(sorted.len());
            for s in sorted {
                if let Some(r) = st.query_row(params![s, order_id], &row).optional()? {
                    rows.push(r);
                }
            }
            Ok(rows)
        });
    }
    let wanted: Option<HashSet<&str>> = listed.map(|l| l.iter().map(String::as_str).collect());
    let mut st =
        conn.prepare_cached(&format!("{select} WHERE s.order_id = ?1 ORDER BY s.serial"))?;
    let mut rows = Vec::new();
    for r in st.query_map([order_id], &row)? {
        let r = r?;
        if wanted.as_ref().is_none_or(|w| w.contains(serial(&r))) {
            rows.push(r);
        }
    }
    Ok(rows)
}
