//! Orders and seed requests: the vendor's published rules, enforced.
//!
//! An order records who bought which serials and which e-mail addresses
//! may ask for their seeds. A seed request names the order, the requester,
//! the serials and the customer's OpenPGP certificate; it is checked
//! completely at creation (every problem reported at once, before anything
//! is written) and needs a second officer's approval, which expires.
//! Creation, approval and rejection are statements signed with the
//! officer's card key; statement and signature go into the log so an
//! auditor can verify who decided what without trusting the vault.

use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use serde_json::json;

use super::statement::{self, Decision, RequestStatement};
use super::{Officer, Vault, VaultError};
use crate::audit::{self, events, Event};
use crate::formats::{self, Format};
use crate::pgp::{self, RecipientCert};
use crate::token::{Seed, Serial, Token, TokenParams};

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

/// A seed request as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct Request {
    /// Request id.
    pub id: String,
    /// Order.
    pub order_id: String,
    /// Who asked.
    pub requester: String,
    /// Bundle format.
    pub format: String,
    /// Recipient certificate fingerprint.
    pub recipient_fingerprint: String,
    /// pending, approved, rejected, exported.
    pub state: String,
    /// Number of serials.
    pub serials: u64,
    /// Set for a re-export.
    pub reexport_reason: Option<String>,
    /// Created when and by whom.
    pub created_at: String,
    /// Officer who created it.
    pub created_by: String,
    /// Officer who approved or rejected it.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<String>,
    /// Why rejected.
    pub reject_reason: Option<String>,
    /// Approval expiry (unix time).
    pub expires_at: Option<i64>,
}

/// What `request create` needs.
#[derive(Debug)]
pub struct NewRequest<'a> {
    /// The order.
    pub order_id: &'a str,
    /// The requester's e-mail.
    pub requester: &'a str,
    /// The customer's certificate file contents.
    pub recipient_key: &'a [u8],
    /// Bundle format.
    pub format: Format,
    /// Serials; `None` = every serial of the order neither voided nor exported.
    pub serials: Option<Vec<Serial>>,
    /// Allow serials already exported, with this reason.
    pub reexport_reason: Option<String>,
}

/// A created request.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedRequest {
    /// Its id.
    pub id: String,
    /// Primary fingerprint of the recipient certificate.
    pub recipient_fingerprint: String,
    /// Encryption subkeys that will be used.
    pub encryption_subkeys: Vec<String>,
    /// User ids of the certificate.
    pub user_ids: Vec<String>,
    /// Serial count.
    pub serials: usize,
}

/// Unix time now.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn normalize_email(e: &str) -> Result<String, String> {
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
pub(crate) fn check_free_text(what: &str, text: &str) -> Result<(), VaultError> {
    match statement::control_char_at(text) {
        None => Ok(()),
        Some(at) => Err(VaultError::Refused(format!(
            "{what} contains a control character (line break, tab or similar) at character {at}; \
             give it as one line of plain text"
        ))),
    }
}

fn check_order_id(id: &str) -> Result<String, VaultError> {
    Serial::parse(id).map(Serial::into_string).map_err(|e| {
        VaultError::Refused(format!(
            "invalid order id: {}",
            e.to_string().replacen("serial", "order id", 1)
        ))
    })
}

/// Whether tokens with `params` can be written in `format` (the writer's
/// own rules, tried on a fixed non-secret dummy seed).
fn representable(format: Format, params: &TokenParams) -> Result<(), String> {
    let dummy = Seed::new(b"representability-check".to_vec()).map_err(|e| e.to_string())?;
    let t = Token {
        serial: Serial::parse("CHECK").map_err(|e| e.to_string())?,
        seed: dummy,
        params: params.clone(),
    };
    match formats::write(
        format,
        &mut std::iter::once(&t),
        &mut std::io::sink(),
        &Default::default(),
    ) {
        Ok(()) => Ok(()),
        Err(formats::FormatError::Unrepresentable { problem, .. }) => Err(problem),
        Err(e) => Err(e.to_string()),
    }
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
                return Err(VaultError::Refused(format!("order {id} already exists")));
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
        if serials.is_empty() {
            return Err(VaultError::Refused(
                "the serials file lists no serial".into(),
            ));
        }
        let vid = self.info().vault_id.to_string();
        let name = officer.name.clone();
        self.store_mut().write(|tx| {
            if tx
                .query_row(
                    "SELECT 1 FROM orders WHERE id = ?1",
                    [&order_id],
                    |_| Ok(()),
                )
                .optional()?
                .is_none()
            {
                return Err(VaultError::Refused(format!(
                    "order {order_id} does not exist"
                )));
            }
            let mut problems = Vec::new();
            let mut fresh = Vec::new();
            let mut fresh_set = std::collections::HashSet::new();
            {
                let mut q =
                    tx.prepare_cached("SELECT state, order_id FROM seeds WHERE serial = ?1")?;
                for s in serials {
                    let row: Option<(String, Option<String>)> = q
                        .query_row([s.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()?;
                    match row {
                        None => problems.push(format!("serial {s} is not in the vault")),
                        Some((state, _)) if state == "voided" => {
                            problems.push(format!("serial {s} is voided"))
                        }
                        Some((_, Some(o))) if o == order_id => {}
                        Some((_, Some(o))) => {
                            problems.push(format!("serial {s} already belongs to order {o}"))
                        }
                        Some((_, None)) => {
                            if fresh_set.insert(s.as_str()) {
                                fresh.push(s.as_str());
                            }
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
            Ok(fresh.len())
        })
    }

    /// An order with its serials.
    pub fn order(&self, id: &str) -> Result<Option<Order>, VaultError> {
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
        let mut st = conn.prepare(&format!(
            "SELECT s.serial, s.state, {} FROM seeds s WHERE s.order_id = ?1 ORDER BY s.serial",
            super::EXPORTS_OF_SERIAL
        ))?;
        let rows = st
            .query_map([id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
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

    fn log_request_refusal(
        &mut self,
        order_id: &str,
        requester: &str,
        officer: &Officer,
        problems: &[String],
    ) {
        let _ = self.log(&Event {
            kind: events::REQUEST_REFUSED,
            actors: vec![officer.name.clone()],
            data: json!({ "order_id": order_id, "requester": requester, "problems": problems }),
        });
    }

    /// `request create`: checks everything, reports every problem at once,
    /// and writes nothing unless all is well.
    pub fn create_request(
        &mut self,
        r: NewRequest<'_>,
        officer: &Officer,
    ) -> Result<CreatedRequest, VaultError> {
        let mut problems: Vec<String> = Vec::new();
        let order_id = r.order_id.trim().to_owned();
        let requester = normalize_email(r.requester).unwrap_or_else(|p| {
            problems.push(p);
            r.requester.trim().to_owned()
        });
        // The recipient certificate first: a malformed key must never get as far as a file.
        let cert = match RecipientCert::parse(r.recipient_key, SystemTime::now()) {
            Ok(c) => Some(c),
            Err(ps) => {
                problems.extend(ps.iter().map(|p| format!("recipient key: {p}")));
                None
            }
        };
        let order = self.order(&order_id)?;
        let serials: Vec<String> = match (&order, &r.serials) {
            (None, _) => {
                problems.push(format!("order {order_id} does not exist"));
                Vec::new()
            }
            (Some(o), _) if !o.emails.contains(&requester) => {
                problems.push(format!(
                    "{requester} is not authorized to request the seeds of order {order_id}"
                ));
                r.serials
                    .as_ref()
                    .map(|v| v.iter().map(|s| s.to_string()).collect())
                    .unwrap_or_default()
            }
            (Some(o), None) => {
                let voided: std::collections::HashSet<&String> = o.voided.iter().collect();
                let exported: std::collections::HashSet<&String> = o.exported.iter().collect();
                o.serials
                    .iter()
                    .filter(|s| {
                        !voided.contains(s)
                            && (r.reexport_reason.is_some() || !exported.contains(s))
                    })
                    .cloned()
                    .collect()
            }
            (Some(_), Some(list)) => {
                let mut seen = std::collections::HashSet::new();
                let mut out = Vec::new();
                for s in list {
                    if seen.insert(s.as_str()) {
                        out.push(s.to_string());
                    } else {
                        problems.push(format!("serial {s} is listed twice"));
                    }
                }
                out
            }
        };
        if let Some(o) = &order {
            use std::collections::HashSet;
            let in_order: HashSet<&String> = o.serials.iter().collect();
            let voided: HashSet<&String> = o.voided.iter().collect();
            let exported: HashSet<&String> = o.exported.iter().collect();
            for s in &serials {
                if !in_order.contains(s) {
                    problems.push(format!(
                        "serial {s} is not one recorded for order {order_id}"
                    ));
                } else if voided.contains(s) {
                    problems.push(format!(
                        "serial {s} is voided (reprogrammed tokens have no valid factory seed)"
                    ));
                } else if exported.contains(s) && r.reexport_reason.is_none() {
                    problems.push(format!(
                        "serial {s} was already exported (use --reexport --reason TEXT)"
                    ));
                }
            }
            if serials.is_empty() && problems.is_empty() {
                problems.push(format!("order {order_id} has no serial left to export"));
            }
        }
        if let Some(reason) = &r.reexport_reason {
            if reason.trim().is_empty() {
                problems.push("a re-export needs a reason".into());
            } else if let Err(e) = check_free_text("the re-export reason", reason) {
                problems.push(e.to_string());
            }
        }
        // The chosen format must be able to hold these tokens.
        if problems.is_empty() {
            let conn = self.store().conn();
            let mut st = conn.prepare_cached(
                "SELECT DISTINCT p.json FROM seeds s JOIN token_params p ON p.id = s.params_id WHERE s.order_id = ?1",
            )?;
            let sets = st
                .query_map([&order_id], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            for j in sets {
                if let Ok(p) = serde_json::from_str::<TokenParams>(&j) {
                    if let Err(why) = representable(r.format, &p) {
                        problems.push(format!("format {}: {why}", r.format));
                        break;
                    }
                }
            }
        }
        let cert = match (cert, problems.is_empty()) {
            (Some(c), true) => c,
            _ => {
                self.log_request_refusal(&order_id, &requester, officer, &problems);
                return Err(VaultError::Refused(format!(
                    "request refused, nothing was written; {} problem(s):\n  {}",
                    problems.len(),
                    problems.join("\n  ")
                )));
            }
        };

        let vid = self.info().vault_id.to_string();
        let next: i64 =
            self.store()
                .conn()
                .query_row("SELECT count(*) + 1 FROM requests", [], |r| r.get(0))?;
        let id = format!("R{next:04}");
        // The signed serial set is ascending: the statement and the table
        // (whose key orders it the same way) then name one list.
        let mut serials = serials;
        serials.sort_unstable();
        let reexport_reason = r
            .reexport_reason
            .as_deref()
            .map(str::trim)
            .map(str::to_owned);
        let statement = RequestStatement {
            version: 2,
            vault: vid.clone(),
            request: id.clone(),
            order: order_id.clone(),
            requester: requester.clone(),
            format: r.format.name().to_owned(),
            recipient: cert.fingerprint(),
            serials: serials.len() as u64,
            serials_sha256: statement::serials_sha256_v2(&serials),
            reexport: reexport_reason.clone(),
            created_by: officer.name.clone(),
        }
        .render();
        let sig = pgp::sign_detached(officer.signing_key(), statement.as_bytes())
            .map_err(|e| VaultError::Crypto(e.to_string()))?;
        let cert_bytes = {
            use sequoia_openpgp::serialize::SerializeInto;
            cert.cert()
                .to_vec()
                .map_err(|e| VaultError::Crypto(e.to_string()))?
        };
        let created = CreatedRequest {
            id: id.clone(),
            recipient_fingerprint: cert.fingerprint(),
            encryption_subkeys: cert.encryption_subkey_fingerprints(),
            user_ids: cert.user_ids(),
            serials: serials.len(),
        };
        let name = officer.name.clone();
        self.store_mut().write(|tx| {
            tx.execute(
                "INSERT INTO requests (id, order_id, requester, format, recipient_cert, recipient_fpr, reexport_reason,
                    state, statement, created_at, created_by, create_sig)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8, ?9, ?10, ?11)",
                params![
                    id,
                    order_id,
                    requester,
                    r.format.name(),
                    cert_bytes,
                    created.recipient_fingerprint,
                    reexport_reason,
                    statement,
                    audit::now_rfc3339(),
                    name,
                    sig
                ],
            )?;
            let mut ins = tx.prepare_cached("INSERT INTO request_serials (request_id, serial) VALUES (?1, ?2)")?;
            for s in &serials {
                ins.execute(params![id, s])?;
            }
            audit::append(
                tx,
                &vid,
                &Event {
                    kind: events::REQUEST_CREATED,
                    actors: vec![name.clone()],
                    data: json!({
                        "request_id": id,
                        "order_id": order_id,
                        "requester": requester,
                        "format": r.format.name(),
                        "recipient_fingerprint": created.recipient_fingerprint,
                        "encryption_subkeys": created.encryption_subkeys,
                        "serials": serials,
                        "reexport_reason": reexport_reason,
                        "statement": statement,
                        "signature": sig,
                    }),
                },
            )?;
            Ok::<_, VaultError>(())
        })?;
        Ok(created)
    }

    /// A request by id.
    pub fn request(&self, id: &str) -> Result<Option<Request>, VaultError> {
        let conn = self.store().conn();
        conn.query_row(
            "SELECT r.id, r.order_id, r.requester, r.format, r.recipient_fpr, r.state,
                    (SELECT count(*) FROM request_serials s WHERE s.request_id = r.id),
                    r.reexport_reason, r.created_at, r.created_by, r.decided_by, r.decided_at, r.reject_reason, r.expires_at
             FROM requests r WHERE r.id = ?1",
            [id],
            request_row,
        )
        .optional()
        .map_err(VaultError::from)
    }

    /// Every request, oldest first.
    pub fn requests(&self) -> Result<Vec<Request>, VaultError> {
        let conn = self.store().conn();
        let mut st = conn.prepare(
            "SELECT r.id, r.order_id, r.requester, r.format, r.recipient_fpr, r.state,
                    (SELECT count(*) FROM request_serials s WHERE s.request_id = r.id),
                    r.reexport_reason, r.created_at, r.created_by, r.decided_by, r.decided_at, r.reject_reason, r.expires_at
             FROM requests r ORDER BY r.created_at, r.id",
        )?;
        let v = st
            .query_map([], request_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(v)
    }

    /// Approves (`approve = true`) or rejects a pending request. The
    /// deciding officer must differ from the creator (two-person rule).
    /// The creation statement is verified first (against the officers'
    /// certificates from the genesis entry, and against the columns), so
    /// an officer never signs a decision over a request edited in the
    /// table. The request is read again inside the transaction that
    /// records the decision: when another officer decided it meanwhile,
    /// this decision is refused and nothing is logged.
    pub fn decide_request(
        &mut self,
        id: &str,
        approve: bool,
        reason: Option<&str>,
        officer: &Officer,
    ) -> Result<Request, VaultError> {
        let req = self
            .request(id)?
            .ok_or_else(|| VaultError::Refused(format!("request {id} does not exist")))?;
        if req.state != "pending" {
            return Err(VaultError::Refused(format!(
                "request {id} is {}, not pending",
                req.state
            )));
        }
        let what = if approve { "approve" } else { "reject" };
        let reason = reason.map(str::trim).unwrap_or("");
        if !approve {
            if reason.is_empty() {
                return Err(VaultError::Refused("a rejection needs a reason".into()));
            }
            check_free_text("the reason", reason)?;
        }
        let creation = match self.verified_creation(id) {
            Ok(c) => c,
            Err(e) => {
                if e.is_tampering() {
                    let _ = self.log(&Event {
                        kind: events::REQUEST_DECISION_REFUSED,
                        actors: vec![officer.name.clone()],
                        data: json!({ "request_id": id, "decision": what, "reason": e.to_string() }),
                    });
                }
                return Err(e);
            }
        };
        if creation.statement.created_by == officer.name {
            let msg = format!(
                "{} created request {id} and cannot {what} it: a different officer must (two-person rule)",
                officer.name
            );
            let _ = self.log(&Event {
                kind: events::REQUEST_DECISION_REFUSED,
                actors: vec![officer.name.clone()],
                data: json!({ "request_id": id, "decision": what, "reason": msg }),
            });
            return Err(VaultError::Refused(msg));
        }
        let statement = creation.row.statement;
        let expires_at = unix_now() + self.info().approval_ttl_s;
        let decision = if approve {
            Decision::Approve {
                by: officer.name.clone(),
                expires: expires_at,
            }
        } else {
            Decision::Reject {
                by: officer.name.clone(),
                reason: reason.to_owned(),
            }
        };
        let signed = statement::render_decision(&statement, &decision);
        let sig = pgp::sign_detached(officer.signing_key(), signed.as_bytes())
            .map_err(|e| VaultError::Crypto(e.to_string()))?;
        super::export::pause_point("decide-before-write");
        let vid = self.info().vault_id.to_string();
        let name = officer.name.clone();
        self.store_mut().write(|tx| {
            // The decision stands only on the request as read and signed above.
            let now_row: Option<(String, String)> = tx
                .query_row(
                    "SELECT state, statement FROM requests WHERE id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            match now_row {
                Some((state, _)) if state != "pending" => {
                    return Err(VaultError::Refused(format!(
                        "request {id} was {state} meanwhile by another run; this {what} was not recorded"
                    )))
                }
                Some((_, st)) if st == statement => {}
                _ => {
                    return Err(VaultError::Refused(format!(
                        "request {id} changed while it was being decided; nothing was recorded, try again"
                    )))
                }
            }
            let now = audit::now_rfc3339();
            if approve {
                tx.execute(
                    "UPDATE requests SET state = 'approved', decided_at = ?1, decided_by = ?2, decision_sig = ?3, expires_at = ?4
                     WHERE id = ?5 AND state = 'pending'",
                    params![now, name, sig, expires_at, id],
                )?;
            } else {
                tx.execute(
                    "UPDATE requests SET state = 'rejected', decided_at = ?1, decided_by = ?2, decision_sig = ?3, reject_reason = ?4
                     WHERE id = ?5 AND state = 'pending'",
                    params![now, name, sig, reason, id],
                )?;
            }
            let (kind, data) = if approve {
                (events::REQUEST_APPROVED, json!({ "request_id": id, "expires_at": expires_at, "statement": signed, "signature": sig }))
            } else {
                (events::REQUEST_REJECTED, json!({ "request_id": id, "reason": reason, "statement": signed, "signature": sig }))
            };
            audit::append(tx, &vid, &Event { kind, actors: vec![name.clone()], data })?;
            Ok::<_, VaultError>(())
        })?;
        self.request(id)?
            .ok_or_else(|| VaultError::Refused(format!("request {id} vanished")))
    }
}

fn request_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Request> {
    Ok(Request {
        id: r.get(0)?,
        order_id: r.get(1)?,
        requester: r.get(2)?,
        format: r.get(3)?,
        recipient_fingerprint: r.get(4)?,
        state: r.get(5)?,
        serials: r.get::<_, i64>(6)? as u64,
        reexport_reason: r.get(7)?,
        created_at: r.get(8)?,
        created_by: r.get(9)?,
        decided_by: r.get(10)?,
        decided_at: r.get(11)?,
        reject_reason: r.get(12)?,
        expires_at: r.get(13)?,
    })
}
