//! From a row in `requests` to something the vault may act on.
//!
//! The database is not trusted (SPEC §8): anyone with the sqlite3 CLI can
//! set a request's state to `approved`, swap its recipient certificate or
//! its serials. What the officers signed cannot be changed that way, so
//! approval and export act on the signed statements and use the columns
//! only after checking that they say the same. The certificates the
//! signatures are checked against come from the genesis entry of the log,
//! and only while the custodians table still matches that entry.
//!
//! [`ApprovedRequest`] is the proof value: the only way to make one is
//! [`Vault::approved_request`], which checks both signatures, the
//! two-person rule, every field the export will use and the expiry; export
//! takes nothing else.

use std::collections::HashMap;

use rusqlite::OptionalExtension;
use sequoia_openpgp::Cert;

use super::clock;
use super::lifecycle::{approval_ended, format_from_column, RequestState};
use super::statement::{self, Decision, RequestStatement};
use super::{Vault, VaultError};
use crate::formats::Format;
use crate::pgp::RecipientCert;

/// A request whose creation and approval statements verified against the
/// officers enrolled at genesis, and whose recipient, serials, format,
/// order, re-export flag and expiry are the signed ones.
#[derive(Debug)]
pub struct ApprovedRequest {
    id: String,
    order_id: String,
    requester: String,
    format: Format,
    recipient: RecipientCert,
    serials: Vec<String>,
    reexport_reason: Option<String>,
    created_by: String,
    approved_by: String,
    expires_at: i64,
}

impl ApprovedRequest {
    /// Request id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// Order id, as signed.
    pub fn order_id(&self) -> &str {
        &self.order_id
    }
    /// Requester, as signed.
    pub fn requester(&self) -> &str {
        &self.requester
    }
    /// Bundle format, as signed.
    pub fn format(&self) -> Format {
        self.format
    }
    /// The recipient certificate whose fingerprint was signed, checked
    /// usable now.
    pub fn recipient(&self) -> &RecipientCert {
        &self.recipient
    }
    /// The signed serial set, ascending.
    pub fn serials(&self) -> &[String] {
        &self.serials
    }
    /// Re-export reason, as signed.
    pub fn reexport_reason(&self) -> Option<&str> {
        self.reexport_reason.as_deref()
    }
    /// Creating officer (verified signer).
    pub fn created_by(&self) -> &str {
        &self.created_by
    }
    /// Approving officer (verified signer).
    pub fn approved_by(&self) -> &str {
        &self.approved_by
    }
    /// Expiry of the approval (unix seconds), as signed.
    pub fn expires_at(&self) -> i64 {
        self.expires_at
    }
}

/// A request row, every column the checks need, state and format parsed.
pub(crate) struct RequestRow {
    pub id: String,
    pub order_id: String,
    pub requester: String,
    pub format: Format,
    pub recipient_cert: Vec<u8>,
    pub recipient_fpr: String,
    pub reexport_reason: Option<String>,
    pub state: RequestState,
    pub statement: String,
    pub created_by: String,
    pub create_sig: String,
    pub decided_by: Option<String>,
    pub decision_sig: Option<String>,
}

/// A request statement whose signature verified and whose row agrees.
pub(crate) struct VerifiedCreation {
    pub row: RequestRow,
    pub statement: RequestStatement,
    pub recipient: RecipientCert,
    pub serials: Vec<String>,
    pub officers: HashMap<String, Vec<Cert>>,
}

/// Request `id`'s row; a state or format that does not parse is
/// [`VaultError::RequestTampered`].
pub(crate) fn read_row(
    conn: &rusqlite::Connection,
    id: &str,
) -> Result<Option<RequestRow>, VaultError> {
    conn.query_row(
        "SELECT id, order_id, requester, format, recipient_cert, recipient_fpr, reexport_reason, state,
                statement, created_by, create_sig, decided_by, decision_sig, expires_at, reject_reason
         FROM requests WHERE id = ?1",
        [id],
        |r| Ok(parse_row(id, r)),
    )
    .optional()?
    .transpose()
}

fn parse_row(id: &str, r: &rusqlite::Row<'_>) -> Result<RequestRow, VaultError> {
    Ok(RequestRow {
        id: r.get(0)?,
        order_id: r.get(1)?,
        requester: r.get(2)?,
        format: format_from_column(id, &r.get::<_, String>(3)?)?,
        recipient_cert: r.get(4)?,
        recipient_fpr: r.get(5)?,
        reexport_reason: r.get(6)?,
        state: RequestState::from_columns(id, &r.get::<_, String>(7)?, r.get(13)?, r.get(14)?)?,
        statement: r.get(8)?,
        created_by: r.get(9)?,
        create_sig: r.get(10)?,
        decided_by: r.get(11)?,
        decision_sig: r.get(12)?,
    })
}

fn tampered(id: &str, what: impl std::fmt::Display) -> VaultError {
    VaultError::RequestTampered {
        id: id.to_owned(),
        what: what.to_string(),
    }
}

impl Vault {
    /// The officers' signing certificates as the genesis entry enrolled
    /// them, by name. Refused as tampering when the genesis entry does not
    /// hash to its stored hash or the custodians table no longer matches it.
    pub(crate) fn genesis_officers(&self) -> Result<HashMap<String, Vec<Cert>>, VaultError> {
        let conn = self.store().conn();
        let row: Option<(Vec<u8>, Vec<u8>)> = conn
            .query_row("SELECT body, hash FROM audit WHERE seq = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let bad = |m: &str| VaultError::Tampered(format!("the genesis entry {m}"));
        let (body, hash) = row.ok_or_else(|| bad("is missing"))?;
        if crate::crypto::sha256(&body)[..] != hash[..] {
            return Err(bad("does not hash to its stored hash"));
        }
        if let Some(p) = super::status::genesis_mismatch(self.store(), self.info())? {
            return Err(VaultError::Tampered(p));
        }
        let entry: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| bad("is not valid JSON"))?;
        let mut out = HashMap::new();
        for c in entry["data"]["custodians"].as_array().into_iter().flatten() {
            let name = c["name"]
                .as_str()
                .ok_or_else(|| bad("names no custodian"))?;
            let cert = c["officer_cert"]
                .as_str()
                .and_then(|b| data_encoding::BASE64.decode(b.as_bytes()).ok())
                .and_then(|b| crate::pgp::keys::parse_public_cert(&b).ok())
                .ok_or_else(|| {
                    VaultError::Tampered(format!(
                        "the genesis entry holds no readable certificate for officer {name}"
                    ))
                })?;
            out.insert(name.to_owned(), vec![cert]);
        }
        // Officer keys enrolled by a re-issue (vault-key signed, checked by
        // genesis_mismatch above); earlier certificates stay, so statements
        // signed before the re-issue still verify.
        let vault_cert = &self.info().vault_cert;
        for r in super::reissue::reenrolled(conn, vault_cert).map_err(VaultError::Tampered)? {
            let cert = crate::pgp::keys::parse_public_cert(&r.cert)
                .map_err(|e| VaultError::Tampered(e.to_string()))?;
            out.entry(r.name).or_default().push(cert);
        }
        Ok(out)
    }

    /// Checks a request's creation: its statement is a canonical v2
    /// statement signed by an enrolled officer, and every column an
    /// approval or export uses (order, requester, format, recipient
    /// certificate, re-export reason, creator, serial set) says what the
    /// statement signed.
    pub(crate) fn verified_creation(&self, id: &str) -> Result<VerifiedCreation, VaultError> {
        let row = read_row(self.store().conn(), id)?
            .ok_or_else(|| VaultError::RequestNotFound { id: id.to_owned() })?;
        self.verify_creation(id, row)
    }

    /// [`Vault::verified_creation`] of request `id`'s row, already read.
    fn verify_creation(&self, id: &str, row: RequestRow) -> Result<VerifiedCreation, VaultError> {
        let conn = self.store().conn();
        let officers = self.genesis_officers()?;
        let st = RequestStatement::parse(&row.statement)
            .map_err(|why| tampered(id, format!("its creation statement is unreadable: {why}")))?;
        if st.version != 2 {
            return Err(VaultError::Refused(format!(
                "request {id} was created with a version 1 statement, which this seedvault no longer acts on; \
                 create the request again"
            )));
        }
        let certs = officers.get(&st.created_by).ok_or_else(|| {
            tampered(
                id,
                format!("its creator {:?} is not an enrolled officer", st.created_by),
            )
        })?;
        certs
            .iter()
            .find_map(|c| {
                crate::pgp::verify_detached(c, row.statement.as_bytes(), row.create_sig.as_bytes())
                    .ok()
            })
            .ok_or(())
            .map_err(|()| {
                tampered(
                    id,
                    format!(
                        "the creation statement does not verify against {}'s certificate from the genesis entry",
                        st.created_by
                    ),
                )
            })?;
        let vault_id = self.info().vault_id.to_string();
        let mut differ = Vec::new();
        let mut cmp = |what: &str, table: &str, signed: &str| {
            if table != signed {
                differ.push(format!("{what} (table {table:?}, signed {signed:?})"));
            }
        };
        cmp("vault", &vault_id, &st.vault);
        cmp("request id", &row.id, &st.request);
        cmp("order", &row.order_id, &st.order);
        cmp("requester", &row.requester, &st.requester);
        cmp("format", row.format.name(), &st.format);
        cmp("recipient fingerprint", &row.recipient_fpr, &st.recipient);
        cmp("creator", &row.created_by, &st.created_by);
        cmp(
            "re-export reason",
            row.reexport_reason.as_deref().unwrap_or("(none)"),
            st.reexport.as_deref().unwrap_or("(none)"),
        );
        if !differ.is_empty() {
            return Err(tampered(
                id,
                format!(
                    "the table differs from the signed creation statement: {}",
                    differ.join(", ")
                ),
            ));
        }
        let mut q = conn.prepare_cached(
            "SELECT serial FROM request_serials WHERE request_id = ?1 ORDER BY serial",
        )?;
        let serials = q
            .query_map([id], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        if serials.len() as u64 != st.serials
            || statement::serials_sha256_v2(&serials) != st.serials_sha256
        {
            return Err(tampered(
                id,
                format!(
                    "its serials in the table ({}) are not the {} serials the creation statement signed",
                    serials.len(),
                    st.serials
                ),
            ));
        }
        let recipient = RecipientCert::parse(&row.recipient_cert, clock::now());
        let recipient = match recipient {
            Ok(c) if c.fingerprint() != st.recipient => {
                return Err(tampered(
                    id,
                    format!(
                        "the stored recipient certificate is {}, the creation statement signed {}",
                        c.fingerprint(),
                        st.recipient
                    ),
                ))
            }
            Ok(c) => c,
            Err(ps) => {
                let reasons: Vec<String> = ps.iter().map(|p| p.to_string()).collect();
                return Err(VaultError::Refused(format!(
                    "the recipient key of request {id} is no longer usable: {}",
                    reasons.join("; ")
                )));
            }
        };
        Ok(VerifiedCreation {
            row,
            statement: st,
            recipient,
            serials,
            officers,
        })
    }

    /// The proof an export needs: request `id` is approved, by an officer
    /// other than its creator, both statements verify against the genesis
    /// certificates, every column the export uses is the signed value, the
    /// signed expiry is after `now` (unix seconds), and no export of it
    /// has completed. Tampering is [`VaultError::RequestTampered`] (or
    /// [`VaultError::Tampered`] for the genesis entry); a request that is
    /// simply not (or no longer) exportable is
    /// [`VaultError::RequestNotFound`], [`VaultError::RequestNotApproved`]
    /// or [`VaultError::ApprovalExpired`].
    pub fn approved_request(&self, id: &str, now: i64) -> Result<ApprovedRequest, VaultError> {
        // Read once: the state checked here is the row's that is verified.
        let row = read_row(self.store().conn(), id)?
            .ok_or_else(|| VaultError::RequestNotFound { id: id.to_owned() })?;
        let expires = match row.state {
            RequestState::Approved { expires_at } => expires_at,
            ref other => {
                return Err(VaultError::RequestNotApproved {
                    id: id.to_owned(),
                    state: other.kind(),
                })
            }
        };
        let v = self.verify_creation(id, row)?;
        let (Some(by), Some(sig)) = (v.row.decided_by.as_deref(), v.row.decision_sig.as_deref())
        else {
            return Err(tampered(
                id,
                "it is marked approved but carries no signed approval",
            ));
        };
        if by == v.statement.created_by {
            return Err(tampered(
                id,
                format!("it is marked approved by its own creator {by} (two-person rule)"),
            ));
        }
        let certs = v.officers.get(by).ok_or_else(|| {
            tampered(
                id,
                format!("its approver {by:?} is not an enrolled officer"),
            )
        })?;
        let decision = statement::render_decision(
            &v.row.statement,
            &Decision::Approve {
                by: by.to_owned(),
                expires,
            },
        );
        certs
            .iter()
            .find_map(|c| crate::pgp::verify_detached(c, decision.as_bytes(), sig.as_bytes()).ok())
            .ok_or(())
            .map_err(|()| {
            tampered(
                id,
                format!(
                    "no approval by {by} expiring at {expires} verifies against {by}'s certificate from the genesis entry \
                     (approval, approver or expiry changed in the table)"
                ),
            )
        })?;
        if approval_ended(expires, now) {
            return Err(VaultError::ApprovalExpired { id: id.to_owned() });
        }
        if let Some(seq) = self.completed_export_of(id)? {
            return Err(tampered(
                id,
                format!("it is marked approved but was already exported ({seq})"),
            ));
        }
        let format = Format::from_name(&v.statement.format)
            .ok_or_else(|| tampered(id, "its signed format is unknown to this seedvault"))?;
        Ok(ApprovedRequest {
            id: v.row.id,
            order_id: v.statement.order,
            requester: v.statement.requester,
            format,
            recipient: v.recipient,
            serials: v.serials,
            reexport_reason: v.statement.reexport,
            created_by: v.statement.created_by,
            approved_by: by.to_owned(),
            expires_at: expires,
        })
    }

    /// Where a completed export of request `id` is recorded, by the
    /// exports table or by the log (either may have been edited; both
    /// are asked).
    fn completed_export_of(&self, id: &str) -> Result<Option<String>, VaultError> {
        let conn = self.store().conn();
        let row: Option<i64> = conn
            .query_row(
                "SELECT id FROM exports WHERE request_id = ?1 AND state = 'completed' LIMIT 1",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(e) = row {
            return Ok(Some(format!("export {e}")));
        }
        let seq: Option<i64> = conn
            .query_row(
                "SELECT seq FROM audit
                 WHERE CAST(body AS TEXT) LIKE '%\"event\":\"export.completed\"%'
                   AND json_extract(CAST(body AS TEXT), '$.data.request_id') = ?1 LIMIT 1",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(seq.map(|s| format!("log entry {s}")))
    }
}
