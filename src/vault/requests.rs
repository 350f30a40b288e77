//! Seed requests: created by one officer, decided by another.
//!
//! A seed request names the order, the requester, the serials and the
//! customer's OpenPGP certificate. Creation goes in three steps: it is
//! checked completely (every problem reported at once, before anything is
//! written), the creating officer signs a statement of it, and statement,
//! signature and rows are inserted with their log entry in one
//! transaction. A second officer approves (until an expiry) or rejects it
//! with a signed decision over that statement, so an auditor can verify
//! who decided what without trusting the vault. The stages are the types
//! of `lifecycle.rs`.

use std::collections::HashSet;

use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use serde_json::json;

use super::clock;
use super::lifecycle::{format_from_column, Request, RequestState, RequestStateKind};
use super::orders::{check_free_text, normalize_email, Order};
use super::seeds::{self, SeedFault};
use super::statement::{self, Decision, RequestStatement};
use super::upn::{self, UpnLine, UpnMap};
use super::{Officer, Vault, VaultError};
use crate::audit::{self, events, Event};
use crate::formats::{self, Format};
use crate::pgp::{self, RecipientCert};
use crate::token::{Serial, TokenParams};

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
    /// azure-csv only: each serial's Entra user (a parsed `--upn-file`),
    /// checked against the request's serials and signed (by hash).
    pub upns: Option<Vec<UpnLine>>,
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
    /// What the approving officer must see (e.g. a recipient key that
    /// does not name the requester's e-mail); the request is made anyway.
    pub warnings: Vec<String>,
}

/// The warning for a recipient certificate none of whose user ids carries
/// the requester's e-mail: not a refusal (companies use role keys), but
/// the officers must confirm out of band that the key is the requester's.
/// Both facts are in the signed statement (the recipient's fingerprint,
/// whose certificate is checked against it, and the requester).
pub(crate) fn recipient_email_warning(cert: &RecipientCert, requester: &str) -> Option<String> {
    if cert.names_email(requester) {
        return None;
    }
    let uids = cert.user_ids();
    let shown = if uids.is_empty() {
        "it has no valid user id".to_owned()
    } else {
        format!("its user ids: {}", uids.join("; "))
    };
    Some(format!(
        "the recipient key {} does not name the requester's e-mail {requester} ({shown}); \
         confirm with the requester out of band that this key is theirs before approving",
        cert.fingerprint()
    ))
}

/// A request that passed every check: what the statement will sign.
struct CheckedRequest {
    order_id: String,
    requester: String,
    format: Format,
    recipient: RecipientCert,
    /// Ascending: the statement and the table (whose key orders it the
    /// same way) then name one list.
    serials: Vec<String>,
    reexport_reason: Option<String>,
    upns: Option<UpnMap>,
}

/// What the checks of `request create` found (see `gather_request`).
pub(super) struct Gathered {
    /// The order id, trimmed.
    pub(super) order_id: String,
    /// The requester, normalized when it parsed.
    pub(super) requester: String,
    /// The recipient certificate, if it parsed.
    pub(super) recipient: Option<RecipientCert>,
    /// The requested serials, in request order.
    pub(super) serials: Vec<String>,
    /// The checked UPN mapping (azure-csv), if one was given and fits.
    pub(super) upns: Option<UpnMap>,
    /// Every problem.
    pub(super) problems: Vec<String>,
    /// Serials refused only because they were exported.
    pub(super) already_exported: Vec<String>,
    /// The tokens the format cannot carry (found only when nothing else
    /// was wrong): `create_request`'s refusal then.
    pub(super) uncarried: Option<VaultError>,
}

/// A checked request with its id and the creating officer's signature.
struct SignedRequest {
    id: String,
    statement: String,
    signature: String,
    recipient_cert: Vec<u8>,
}

/// How many tokens a [`VaultError::FormatCannotCarry`] names; the rest
/// are counted.
pub const MAX_LISTED_UNCARRIED: usize = 50;

/// The serials a request asks for: the listed ones (each once), or by
/// default every serial of the order neither voided nor (unless a
/// re-export) exported. Problems found on the way go to `problems`.
fn requested_serials(
    order: Option<&Order>,
    order_id: &str,
    requester: &str,
    r: &NewRequest<'_>,
    problems: &mut Vec<String>,
) -> Vec<String> {
    match (order, &r.serials) {
        (None, _) => {
            problems.push(format!("order {order_id} does not exist"));
            Vec::new()
        }
        (Some(o), _) if !o.emails.iter().any(|e| e == requester) => {
            problems.push(format!(
                "{requester} is not authorized to request the seeds of order {order_id}"
            ));
            r.serials
                .as_ref()
                .map(|v| v.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default()
        }
        (Some(o), None) => {
            let voided: HashSet<&String> = o.voided.iter().collect();
            let exported: HashSet<&String> = o.exported.iter().collect();
            o.serials
                .iter()
                .filter(|s| {
                    !voided.contains(s) && (r.reexport_reason.is_some() || !exported.contains(s))
                })
                .cloned()
                .collect()
        }
        (Some(_), Some(list)) => {
            let mut seen = HashSet::new();
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
    }
}

/// A seed row as `uncarried` reads it: serial, parameter set, length of
/// the sealed seed, batch, and the `seq` of the batch's ingest entry.
type SeedRow = (String, i64, i64, i64, i64);

/// The seed rows `uncarried` reads of those of `serials` that order
/// `order_id` holds, in serial order ([`super::orders::order_rows`]).
fn seed_rows(
    store: &crate::store::Store,
    order_id: &str,
    serials: &[String],
) -> Result<Vec<SeedRow>, VaultError> {
    super::orders::order_rows(
        store,
        order_id,
        Some(serials),
        "SELECT s.serial, s.params_id, length(s.sealed), s.batch_id, b.audit_seq
         FROM seeds s JOIN batches b ON b.id = s.batch_id",
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        |r: &SeedRow| &r.0,
    )
}

/// Each serial against the order: recorded for it, not voided, not
/// exported unless this is a re-export.
fn check_serials_in_order(
    o: &Order,
    serials: &[String],
    reexport: bool,
    problems: &mut Vec<String>,
    already_exported: &mut Vec<String>,
) {
    let in_order: HashSet<&String> = o.serials.iter().collect();
    let voided: HashSet<&String> = o.voided.iter().collect();
    let exported: HashSet<&String> = o.exported.iter().collect();
    for s in serials {
        if !in_order.contains(s) {
            problems.push(format!("serial {s} is not one recorded for order {}", o.id));
        } else if voided.contains(s) {
            problems.push(format!(
                "serial {s} is voided (reprogrammed tokens have no valid factory seed)"
            ));
        } else if exported.contains(s) && !reexport {
            problems.push(format!("serial {s} was already exported"));
            already_exported.push(s.clone());
        }
    }
    if serials.is_empty() && problems.is_empty() {
        problems.push(format!("order {} has no serial left to export", o.id));
    }
}

impl Vault {
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
        let checked = self.check_request(&r, officer)?;
        let mut created = CreatedRequest {
            id: String::new(),
            recipient_fingerprint: checked.recipient.fingerprint(),
            encryption_subkeys: checked.recipient.encryption_subkey_fingerprints(),
            user_ids: checked.recipient.user_ids(),
            serials: checked.serials.len(),
            warnings: recipient_email_warning(&checked.recipient, &checked.requester)
                .into_iter()
                .collect(),
        };
        created.id = self.insert_request(&checked, &created, officer)?;
        Ok(created)
    }

    /// The first step of `request create`: every check, every problem at
    /// once. A refusal is logged (`request.refused`) and nothing else
    /// happens.
    fn check_request(
        &mut self,
        r: &NewRequest<'_>,
        officer: &Officer,
    ) -> Result<CheckedRequest, VaultError> {
        let g = self.gather_request(r)?;
        if let Some(e) = g.uncarried {
            self.log_request_refusal(&g.order_id, &g.requester, officer, &[e.to_string()]);
            return Err(e);
        }
        let recipient = match (g.recipient, g.problems.is_empty()) {
            (Some(c), true) => c,
            _ => {
                self.log_request_refusal(&g.order_id, &g.requester, officer, &g.problems);
                return Err(VaultError::RequestRefused {
                    problems: g.problems,
                    already_exported: g.already_exported,
                });
            }
        };
        let mut serials = g.serials;
        serials.sort_unstable();
        Ok(CheckedRequest {
            order_id: g.order_id,
            requester: g.requester,
            format: r.format,
            recipient,
            serials,
            upns: g.upns,
            reexport_reason: r
                .reexport_reason
                .as_deref()
                .map(str::trim)
                .map(str::to_owned),
        })
    }

    /// Every check of `request create`, every problem gathered, nothing
    /// written or logged (the console's preview shows this before the
    /// officer signs; `check_request` logs a refusal).
    pub(super) fn gather_request(&self, r: &NewRequest<'_>) -> Result<Gathered, VaultError> {
        let mut problems: Vec<String> = Vec::new();
        let mut already_exported: Vec<String> = Vec::new();
        let order_id = r.order_id.trim().to_owned();
        let requester = normalize_email(r.requester).unwrap_or_else(|p| {
            problems.push(p);
            r.requester.trim().to_owned()
        });
        // The recipient certificate first: a malformed key must never get as far as a file.
        let cert = match RecipientCert::parse(r.recipient_key, clock::now()) {
            Ok(c) => Some(c),
            Err(ps) => {
                problems.extend(ps.iter().map(|p| format!("recipient key: {p}")));
                None
            }
        };
        // A list is checked against the order serial by serial; a request
        // for the whole order needs all of it.
        let order = match &r.serials {
            Some(list) => {
                let listed: Vec<String> = list.iter().map(ToString::to_string).collect();
                self.order_among(&order_id, &listed)?
            }
            None => self.order(&order_id)?,
        };
        let mut serials =
            requested_serials(order.as_ref(), &order_id, &requester, r, &mut problems);
        // Destroyed seeds (d1) are named as such, not as outside the order.
        let destroyed = super::destroy::destroyed_problems(self.store().conn(), &serials)?;
        if !destroyed.is_empty() {
            let gone: HashSet<&String> = destroyed.iter().map(|(s, _)| s).collect();
            serials.retain(|s| !gone.contains(s));
            problems.extend(destroyed.iter().map(|(_, m)| m.clone()));
        }
        if let Some(o) = &order {
            check_serials_in_order(
                o,
                &serials,
                r.reexport_reason.is_some(),
                &mut problems,
                &mut already_exported,
            );
        }
        if let Some(reason) = &r.reexport_reason {
            if reason.trim().is_empty() {
                problems.push("a re-export needs a reason".into());
            } else if let Err(e) = check_free_text("the re-export reason", reason) {
                problems.push(e.to_string());
            }
        }
        // The UPN mapping: Entra's file only, covering exactly these serials.
        let upns = match &r.upns {
            Some(_) if r.format != Format::AzureCsv => {
                problems.push(format!(
                    "a UPN file (--upn-file) is only for the azure-csv format (Entra); this request's format is {}",
                    r.format
                ));
                None
            }
            Some(lines) => upn::check_against(lines, &serials, &mut problems),
            None => None,
        };
        // The chosen format must carry every one of these tokens: each
        // one it cannot is named, with why (checked once the serials are
        // known to be the order's).
        let mut uncarried = None;
        if problems.is_empty() {
            let (listed, more) = self.uncarried(&order_id, &serials, r.format)?;
            if !listed.is_empty() {
                uncarried = Some(VaultError::FormatCannotCarry {
                    format: r.format.name(),
                    listed,
                    more,
                });
            }
        }
        Ok(Gathered {
            order_id,
            requester,
            recipient: cert,
            serials,
            upns,
            problems,
            already_exported,
            uncarried,
        })
    }

    /// The tokens among `serials` (of order `order_id`) that `format`
    /// cannot carry, each with why (the first [`MAX_LISTED_UNCARRIED`]),
    /// and how many more there are.
    ///
    /// Without the master key, the parameters are the `token_params` row
    /// each seed names, checked to be one of the sets its batch's
    /// `batch.ingested` log entry lists (a row edited behind the log is
    /// tampering, exit 3), and the seed length is that of its ciphertext.
    /// Which of its batch's logged sets a seed has, and its length, are
    /// not authenticated here: a seed repointed to another set of its
    /// batch can make this check wrong, but never puts a wrong file on the
    /// medium, since the export opens every seed under an AAD binding its
    /// set's hash (the AEAD binds the length) and the writer checks each
    /// token again. A missing or unreadable set is reported as the export
    /// would report it.
    fn uncarried(
        &self,
        order_id: &str,
        serials: &[String],
        format: Format,
    ) -> Result<(Vec<(String, String)>, u64), VaultError> {
        use std::collections::hash_map::Entry;
        use std::collections::HashMap;
        let conn = self.store().conn();
        // Parsed once per set, logged sets once per batch, each (set,
        // batch) pair checked once, one verdict per (set, seed length).
        let mut sets: HashMap<i64, TokenParams> = HashMap::new();
        let mut logged: HashMap<i64, Vec<TokenParams>> = HashMap::new();
        let mut checked: HashSet<(i64, i64)> = HashSet::new();
        let mut verdicts: HashMap<(i64, usize), Option<String>> = HashMap::new();
        let (mut listed, mut more) = (Vec::new(), 0u64);
        for (serial, set, sealed_len, batch, ingested_seq) in
            seed_rows(self.store(), order_id, serials)?
        {
            let seed_len = usize::try_from(sealed_len)
                .ok()
                .and_then(|l| l.checked_sub(crate::crypto::aead::OVERHEAD))
                .ok_or_else(|| seeds::seed_fault(&serial, SeedFault::Sealed))?;
            let params = match sets.entry(set) {
                Entry::Occupied(p) => p.into_mut(),
                Entry::Vacant(slot) => {
                    let json: Option<String> = conn
                        .query_row("SELECT json FROM token_params WHERE id = ?1", [set], |r| {
                            r.get(0)
                        })
                        .optional()?;
                    let json = json.ok_or_else(|| {
                        seeds::seed_fault(&serial, SeedFault::ParamsMissing { set })
                    })?;
                    slot.insert(serde_json::from_str(&json).map_err(|_| {
                        seeds::seed_fault(&serial, SeedFault::ParamsUnreadable { set })
                    })?)
                }
            };
            if checked.insert((set, batch)) {
                let batch_sets = match logged.entry(batch) {
                    Entry::Occupied(v) => v.into_mut(),
                    Entry::Vacant(slot) => slot.insert(super::query::logged_sets(
                        conn,
                        &serial,
                        batch,
                        ingested_seq,
                    )?),
                };
                if !batch_sets.contains(params) {
                    return Err(VaultError::Tampered(format!(
                        "the token parameters of serial {serial} were changed behind the log: the vault holds {}, which batch {batch} was not ingested with",
                        params.canonical_json()
                    )));
                }
            }
            let verdict = verdicts
                .entry((set, seed_len))
                .or_insert_with(|| formats::cannot_carry(format, params, seed_len));
            if let Some(why) = verdict {
                if listed.len() < MAX_LISTED_UNCARRIED {
                    listed.push((serial, why.clone()));
                } else {
                    more += 1;
                }
            }
        }
        Ok((listed, more))
    }

    /// The second step of `request create`, inside its write transaction:
    /// the next request id (read there, so two creates cannot take the
    /// same one) and the creating officer's signature over the canonical
    /// statement.
    fn sign_request(
        tx: &rusqlite::Transaction<'_>,
        vault_id: &str,
        c: &CheckedRequest,
        officer: &Officer,
    ) -> Result<SignedRequest, VaultError> {
        // One past the highest id, not the row count: after a row was
        // deleted behind the log, the count would name a request that
        // still exists. (Reusing the id of a deleted last row is what
        // `audit replay` reports: the log then creates that id twice.)
        let next: i64 = tx.query_row(
            "SELECT coalesce(max(CAST(substr(id, 2) AS INTEGER)), 0) + 1 FROM requests",
            [],
            |r| r.get(0),
        )?;
        let id = format!("R{next:04}");
        let statement = RequestStatement {
            version: 2,
            vault: vault_id.to_owned(),
            request: id.clone(),
            order: c.order_id.clone(),
            requester: c.requester.clone(),
            format: c.format.name().to_owned(),
            recipient: c.recipient.fingerprint(),
            serials: c.serials.len() as u64,
            serials_sha256: statement::serials_sha256_v2(&c.serials),
            upns_sha256: c.upns.as_ref().map(UpnMap::sha256),
            reexport: c.reexport_reason.clone(),
            created_by: officer.name.clone(),
        }
        .render();
        let signature = pgp::sign_detached(officer.signing_key(), statement.as_bytes())
            .map_err(VaultError::Pgp)?;
        let recipient_cert = {
            use sequoia_openpgp::serialize::SerializeInto;
            c.recipient
                .cert()
                .to_vec()
                .map_err(|e| VaultError::Crypto(e.to_string()))?
        };
        Ok(SignedRequest {
            id,
            statement,
            signature,
            recipient_cert,
        })
    }

    /// The last step of `request create`: the id, the signature, the rows
    /// and `request.created`, in one transaction. Returns the id.
    fn insert_request(
        &mut self,
        c: &CheckedRequest,
        created: &CreatedRequest,
        officer: &Officer,
    ) -> Result<String, VaultError> {
        let vid = self.info().vault_id.to_string();
        let name = officer.name.clone();
        self.store_mut().write(|tx| {
            let s = &Self::sign_request(tx, &vid, c, officer)?;
            tx.execute(
                "INSERT INTO requests (id, order_id, requester, format, recipient_cert, recipient_fpr, reexport_reason,
                    state, statement, created_at, created_by, create_sig)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    s.id,
                    c.order_id,
                    c.requester,
                    c.format.name(),
                    s.recipient_cert,
                    created.recipient_fingerprint,
                    c.reexport_reason,
                    RequestStateKind::Pending.as_str(),
                    s.statement,
                    audit::now_rfc3339(),
                    name,
                    s.signature
                ],
            )?;
            let mut ins = tx.prepare_cached(
                "INSERT INTO request_serials (request_id, serial) VALUES (?1, ?2)",
            )?;
            for serial in &c.serials {
                ins.execute(params![s.id, serial])?;
            }
            let mut ins_upn = tx.prepare_cached(
                "INSERT INTO request_upns (request_id, serial, upn) VALUES (?1, ?2, ?3)",
            )?;
            for (serial, upn) in c.upns.iter().flat_map(UpnMap::iter) {
                ins_upn.execute(params![s.id, serial, upn])?;
            }
            let mut data = json!({
                        "request_id": s.id,
                        "order_id": c.order_id,
                        "requester": c.requester,
                        "format": c.format.name(),
                        "recipient_fingerprint": created.recipient_fingerprint,
                        "encryption_subkeys": created.encryption_subkeys,
                        "serials": c.serials,
                        "reexport_reason": c.reexport_reason,
                        "statement": s.statement,
                        "signature": s.signature,
                    });
            // Only a request with a mapping has the key: older entries and
            // requests without one read the same.
            if let (Some(m), Some(obj)) = (&c.upns, data.as_object_mut()) {
                obj.insert("upns".into(), json!(m.as_map()));
            }
            audit::append(
                tx,
                &vid,
                &Event {
                    kind: events::REQUEST_CREATED,
                    actors: vec![name.clone()],
                    data,
                },
            )?;
            super::crash::point("request-create-before-commit");
            Ok::<_, VaultError>(s.id.clone())
        })
    }

    /// What the officer deciding request `id` must know, from what its
    /// creator signed: a recipient key that does not name the requester's
    /// e-mail, or why the request does not verify at all (then it cannot
    /// be approved or exported either).
    pub fn request_warnings(&self, id: &str) -> Vec<String> {
        match self.verified_creation(id) {
            Ok(v) => recipient_email_warning(&v.recipient, &v.statement.requester)
                .into_iter()
                .collect(),
            Err(e) => vec![format!("request {id} cannot be approved or exported: {e}")],
        }
    }

    /// The user ids of request `id`'s stored recipient certificate and its
    /// stored UPN mapping (serial to UPN), for display: what export uses
    /// is checked against the signed statement there, not here.
    #[allow(clippy::type_complexity)]
    pub fn request_recipient_and_upns(
        &self,
        id: &str,
    ) -> Result<
        (
            Vec<String>,
            Option<std::collections::BTreeMap<String, String>>,
        ),
        VaultError,
    > {
        let conn = self.store().conn();
        let cert: Option<Vec<u8>> = conn
            .query_row(
                "SELECT recipient_cert FROM requests WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        let user_ids = cert
            .and_then(|c| RecipientCert::parse(&c, clock::now()).ok())
            .map(|c| c.user_ids())
            .unwrap_or_default();
        let mut st = conn.prepare_cached(
            "SELECT serial, upn FROM request_upns WHERE request_id = ?1 ORDER BY serial",
        )?;
        let upns: std::collections::BTreeMap<String, String> = st
            .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok((user_ids, (!upns.is_empty()).then_some(upns)))
    }

    /// A request by id. A row whose state or format does not parse is
    /// [`VaultError::RequestTampered`].
    pub fn request(&self, id: &str) -> Result<Option<Request>, VaultError> {
        let conn = self.store().conn();
        let raw = conn
            .query_row(
                &format!("{REQUEST_COLUMNS} WHERE r.id = ?1"),
                [id],
                RawRequest::read,
            )
            .optional()?;
        raw.map(RawRequest::parse).transpose()
    }

    /// Every request, oldest first. A row whose state or format does not
    /// parse is [`VaultError::RequestTampered`], naming it.
    pub fn requests(&self) -> Result<Vec<Request>, VaultError> {
        let conn = self.store().conn();
        let mut st = conn.prepare(&format!("{REQUEST_COLUMNS} ORDER BY r.created_at, r.id"))?;
        let raw = st
            .query_map([], RawRequest::read)?
            .collect::<Result<Vec<_>, _>>()?;
        raw.into_iter().map(RawRequest::parse).collect()
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
        let what = if approve { "approve" } else { "reject" };
        let req = match self.request(id) {
            Ok(Some(r)) => r,
            Ok(None) => return Err(VaultError::RequestNotFound { id: id.to_owned() }),
            Err(e) => return Err(self.decision_refused(id, what, officer, e)),
        };
        if req.state != RequestState::Pending {
            return Err(VaultError::RequestNotPending {
                id: id.to_owned(),
                state: req.state.kind(),
            });
        }
        let reason = reason.map(str::trim).unwrap_or("");
        if !approve {
            if reason.is_empty() {
                return Err(VaultError::Refused("a rejection needs a reason".into()));
            }
            check_free_text("the reason", reason)?;
        }
        let creation = match self.verified_creation(id) {
            Ok(c) => c,
            Err(e) => return Err(self.decision_refused(id, what, officer, e)),
        };
        if creation.statement.created_by == officer.name {
            let e = VaultError::TwoPersonRule {
                officer: officer.name.clone(),
                id: id.to_owned(),
                action: what,
            };
            self.log_decision_refusal(id, what, officer, &e);
            return Err(e);
        }
        let statement = creation.row.statement;
        let decision = if approve {
            Decision::Approve {
                by: officer.name.clone(),
                expires: clock::unix_now() + self.info().approval_ttl_s,
            }
        } else {
            Decision::Reject {
                by: officer.name.clone(),
                reason: reason.to_owned(),
            }
        };
        let signed = statement::render_decision(&statement, &decision);
        let sig = pgp::sign_detached(officer.signing_key(), signed.as_bytes())
            .map_err(VaultError::Pgp)?;
        super::export::pause_point("decide-before-write");
        self.record_decision(id, &statement, &decision, &signed, &sig)?;
        self.request(id)?.ok_or_else(|| VaultError::RequestChanged {
            id: id.to_owned(),
            what: "vanished after its decision was recorded".into(),
        })
    }

    /// Logs tampering found while deciding (`request.decision_refused`)
    /// and hands the error back.
    fn decision_refused(
        &mut self,
        id: &str,
        what: &str,
        officer: &Officer,
        e: VaultError,
    ) -> VaultError {
        if e.is_tampering() {
            self.log_decision_refusal(id, what, officer, &e);
        }
        e
    }

    /// Logs `request.decision_refused` for `e` (best effort: the refusal
    /// itself is what the officer is told).
    fn log_decision_refusal(&mut self, id: &str, what: &str, officer: &Officer, e: &VaultError) {
        let _ = self.log(&Event {
            kind: events::REQUEST_DECISION_REFUSED,
            actors: vec![officer.name.clone()],
            data: json!({ "request_id": id, "decision": what, "reason": e.to_string() }),
        });
    }

    /// Writes a signed decision and its log entry in one transaction, only
    /// while the request is still pending and its statement is the one
    /// `decision` was signed over.
    fn record_decision(
        &mut self,
        id: &str,
        statement: &str,
        decision: &Decision,
        signed: &str,
        sig: &str,
    ) -> Result<(), VaultError> {
        let vid = self.info().vault_id.to_string();
        let pending = RequestStateKind::Pending;
        self.store_mut().write(|tx| {
            let what = match decision {
                Decision::Approve { .. } => "approve",
                Decision::Reject { .. } => "reject",
            };
            // The decision stands only on the request as read and signed above.
            let now_row: Option<(String, String)> = tx
                .query_row(
                    "SELECT state, statement FROM requests WHERE id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            match now_row {
                Some((state, _)) if RequestStateKind::parse(&state) != Some(pending) => {
                    let now = RequestStateKind::parse(&state)
                        .map_or_else(|| "changed".to_owned(), |k| k.to_string());
                    return Err(VaultError::RequestChanged {
                        id: id.to_owned(),
                        what: format!("was {now} meanwhile by another run; this {what} was not recorded"),
                    });
                }
                Some((_, st)) if st == statement => {}
                _ => {
                    return Err(VaultError::RequestChanged {
                        id: id.to_owned(),
                        what: "changed while it was being decided; nothing was recorded".into(),
                    })
                }
            }
            let now = audit::now_rfc3339();
            let (kind, actor, data) = match decision {
                Decision::Approve { by, expires } => {
                    tx.execute(
                        "UPDATE requests SET state = ?1, decided_at = ?2, decided_by = ?3, decision_sig = ?4, expires_at = ?5
                         WHERE id = ?6 AND state = ?7",
                        params![RequestStateKind::Approved.as_str(), now, by, sig, expires, id, pending.as_str()],
                    )?;
                    (events::REQUEST_APPROVED, by, json!({ "request_id": id, "expires_at": expires, "statement": signed, "signature": sig }))
                }
                Decision::Reject { by, reason } => {
                    tx.execute(
                        "UPDATE requests SET state = ?1, decided_at = ?2, decided_by = ?3, decision_sig = ?4, reject_reason = ?5
                         WHERE id = ?6 AND state = ?7",
                        params![RequestStateKind::Rejected.as_str(), now, by, sig, reason, id, pending.as_str()],
                    )?;
                    (events::REQUEST_REJECTED, by, json!({ "request_id": id, "reason": reason, "statement": signed, "signature": sig }))
                }
            };
            audit::append(tx, &vid, &Event { kind, actors: vec![actor.clone()], data })?;
            super::crash::point(match decision {
                Decision::Approve { .. } => "request-approve-before-commit",
                Decision::Reject { .. } => "request-reject-before-commit",
            });
            Ok::<_, VaultError>(())
        })
    }
}

/// The columns [`RawRequest::read`] reads, in its order.
const REQUEST_COLUMNS: &str =
    "SELECT r.id, r.order_id, r.requester, r.format, r.recipient_fpr, r.state,
            (SELECT count(*) FROM request_serials s WHERE s.request_id = r.id),
            r.reexport_reason, r.created_at, r.created_by, r.decided_by, r.decided_at, r.reject_reason, r.expires_at
     FROM requests r";

/// A request row as SQLite hands it over, before its state and format
/// are parsed.
struct RawRequest {
    id: String,
    order_id: String,
    requester: String,
    format: String,
    recipient_fingerprint: String,
    state: String,
    serials: i64,
    reexport_reason: Option<String>,
    created_at: String,
    created_by: String,
    decided_by: Option<String>,
    decided_at: Option<String>,
    reject_reason: Option<String>,
    expires_at: Option<i64>,
}

impl RawRequest {
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRequest> {
        Ok(RawRequest {
            id: r.get(0)?,
            order_id: r.get(1)?,
            requester: r.get(2)?,
            format: r.get(3)?,
            recipient_fingerprint: r.get(4)?,
            state: r.get(5)?,
            serials: r.get(6)?,
            reexport_reason: r.get(7)?,
            created_at: r.get(8)?,
            created_by: r.get(9)?,
            decided_by: r.get(10)?,
            decided_at: r.get(11)?,
            reject_reason: r.get(12)?,
            expires_at: r.get(13)?,
        })
    }

    fn parse(self) -> Result<Request, VaultError> {
        let state =
            RequestState::from_columns(&self.id, &self.state, self.expires_at, self.reject_reason)?;
        Ok(Request {
            format: format_from_column(&self.id, &self.format)?,
            state,
            id: self.id,
            order_id: self.order_id,
            requester: self.requester,
            recipient_fingerprint: self.recipient_fingerprint,
            serials: u64::try_from(self.serials).unwrap_or_default(),
            reexport_reason: self.reexport_reason,
            created_at: self.created_at,
            created_by: self.created_by,
            decided_by: self.decided_by,
            decided_at: self.decided_at,
        })
    }
}
