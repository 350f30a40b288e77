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
use super::upn::UpnMap;
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
    upns: Option<UpnMap>,
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
    /// Takes the signed serial set out (the request then holds none):
    /// for the export's last step, which logs them.
    pub(crate) fn take_serials(&mut self) -> Vec<String> {
        std::mem::take(&mut self.serials)
    }
    /// The UPN mapping whose hash was signed, if the request has one.
    pub fn upns(&self) -> Option<&UpnMap> {
        self.upns.as_ref()
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
    pub upns: Option<UpnMap>,
    pub officers: EnrolledOfficers,
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

/// Request `id`'s UPN rows, checked against the hash its statement signed
/// (`None`: it signed no mapping, and then the table must hold none).
fn verified_upns(
    conn: &rusqlite::Connection,
    id: &str,
    signed: Option<&str>,
) -> Result<Option<UpnMap>, VaultError> {
    let mut q = conn.prepare_cached(
        "SELECT serial, upn FROM request_upns WHERE request_id = ?1 ORDER BY serial",
    )?;
    let rows = q
        .query_map([id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let n = rows.len();
    let map = UpnMap::from_pairs(rows);
    match signed {
        None if n == 0 => Ok(None),
        None => Err(tampered(
            id,
            format!("the table holds {n} UPN row(s), but its creation statement signed no UPN mapping"),
        )),
        Some(h) if map.len() == n && map.sha256() == h => Ok(Some(map)),
        Some(_) => Err(tampered(
            id,
            format!(
                "its UPN mapping in the table ({n} row(s)) is not the one the creation statement signed \
                 (the upns-sha256 differs)"
            ),
        )),
    }
}

fn tampered(id: &str, what: impl std::fmt::Display) -> VaultError {
    VaultError::RequestTampered {
        id: id.to_owned(),
        what: what.to_string(),
    }
}

impl Vault {
    /// The officers' signing certificates of every key epoch, by name:
    /// the genesis entry's, then each `vault.rekeyed` entry's (the last
    /// are in force). Refused as tampering when the genesis entry does
    /// not hash to its stored hash, or the custodians table no longer
    /// matches the epoch in force.
    pub(crate) fn genesis_officers(&self) -> Result<EnrolledOfficers, VaultError> {
        self.genesis_officers_from(super::reissue::enrolment_entries(self.store().conn()))
    }

    /// [`Vault::genesis_officers`], with the log's re-issue and rekey
    /// entries already read (`super::reissue::enrolment_entries`).
    fn genesis_officers_from(
        &self,
        enrolments: crate::audit::verify::Enrolments,
    ) -> Result<EnrolledOfficers, VaultError> {
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
        if let Some(p) = super::status::genesis_mismatch_given(
            self.store(),
            self.info(),
            Some(enrolments.clone()),
        )? {
            return Err(VaultError::Tampered(p));
        }
        let entry: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| bad("is not valid JSON"))?;
        let mut epochs = vec![(1u32, certs_of(&entry["data"], "the genesis entry")?)];
        let mut retired_at = Vec::new();
        for ep in super::rekey::epochs(conn)? {
            let e = super::rekey::entry_at(conn, ep.audit_seq).map_err(VaultError::Tampered)?;
            let what = format!("the vault.rekeyed entry {}", ep.audit_seq);
            epochs.push((ep.key_version, certs_of(&e["data"], &what)?));
            retired_at.push(ep.audit_seq);
        }
        // Officer keys a re-issue enrolled (vault-key signed) join the
        // epoch they were enrolled in; earlier keys stay, so statements
        // signed before the re-issue still verify.
        let vault_cert = &self.info().vault_cert;
        for r in super::reissue::reenrolled_in(conn, enrolments, vault_cert)
            .map_err(VaultError::Tampered)?
        {
            let cert = crate::pgp::keys::parse_public_cert(&r.cert)
                .map_err(|e| VaultError::Tampered(e.to_string()))?;
            let epoch = retired_at.iter().filter(|at| **at < r.seq).count();
            if let Some((_, certs)) = epochs.get_mut(epoch) {
                certs.entry(r.name).or_default().push(cert);
            }
        }
        let (_, current) = epochs.pop().unwrap_or_default();
        let retired = epochs
            .into_iter()
            .zip(retired_at)
            .map(|((version, certs), seq)| (version, certs, seq))
            .collect();
        Ok(EnrolledOfficers { current, retired })
    }

    /// Checks a request's creation: its statement is a canonical v2
    /// statement signed by an enrolled officer, and every column an
    /// approval or export uses (order, requester, format, recipient
    /// certificate, re-export reason, creator, serial set) says what the
    /// statement signed.
    pub(crate) fn verified_creation(&self, id: &str) -> Result<VerifiedCreation, VaultError> {
        let row = read_row(self.store().conn(), id)?
            .ok_or_else(|| VaultError::RequestNotFound { id: id.to_owned() })?;
        let conn = self.store().conn();
        self.verify_creation(id, row, self.genesis_officers()?, || {
            request_serials(conn, id)
        })
    }

    /// [`Vault::verified_creation`] of request `id`'s row, already read,
    /// against `officers` ([`Vault::genesis_officers`]), with the serials
    /// its table holds from `serials` (a read that may be running on
    /// another thread meanwhile).
    fn verify_creation(
        &self,
        id: &str,
        row: RequestRow,
        officers: EnrolledOfficers,
        serials: impl FnOnce() -> Result<Vec<String>, VaultError>,
    ) -> Result<VerifiedCreation, VaultError> {
        let conn = self.store().conn();
        let st = RequestStatement::parse(&row.statement)
            .map_err(|why| tampered(id, format!("its creation statement is unreadable: {why}")))?;
        if st.version < 2 {
            return Err(VaultError::Refused(format!(
                "request {id} was created with a version 1 statement, which this seedvault no longer acts on; \
                 create the request again"
            )));
        }
        if !officers.knows(&st.created_by) {
            return Err(tampered(
                id,
                format!("its creator {:?} is not an enrolled officer", st.created_by),
            ));
        }
        officers
            .verify(
                conn,
                &st.created_by,
                row.statement.as_bytes(),
                &row.create_sig,
            )
            .map_err(|why| {
                tampered(
                    id,
                    format!(
                        "the creation statement does not verify against {}'s certificate from the log: {why}",
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
        let serials = serials()?;
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
        let upns = verified_upns(conn, id, st.upns_sha256.as_deref())?;
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
            upns,
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
        // The two long reads run side by side: the request's serials (on a
        // second, read-only connection) and the whole log, read once for
        // both things this check asks of it (the officers' enrolments and
        // whether an export of `id` completed). Nothing is acted on before
        // both are in and checked.
        let reader = self.store().reader()?;
        std::thread::scope(|scope| {
            let serials = scope.spawn(move || request_serials(&reader, id));
            let log = export_log_facts(self.store().conn(), id)?;
            let officers = self.genesis_officers_from(log.enrolments)?;
            let v = self.verify_creation(id, row, officers, || {
                serials.join().map_err(|_| {
                    VaultError::Crypto("the request's serial reading thread panicked".into())
                })?
            })?;
            self.approved_from(id, v, expires, now, log.completed)
        })
    }

    /// The rest of [`Vault::approved_request`], once the creation verified.
    fn approved_from(
        &self,
        id: &str,
        v: VerifiedCreation,
        expires: i64,
        now: i64,
        logged_export: Option<u64>,
    ) -> Result<ApprovedRequest, VaultError> {
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
        if !v.officers.knows(by) {
            return Err(tampered(
                id,
                format!("its approver {by:?} is not an enrolled officer"),
            ));
        }
        let decision = statement::render_decision(
            &v.row.statement,
            &Decision::Approve {
                by: by.to_owned(),
                expires,
            },
        );
        v.officers
            .verify(self.store().conn(), by, decision.as_bytes(), sig)
            .map_err(|why| {
                tampered(
                    id,
                    format!(
                        "no approval by {by} expiring at {expires} verifies against {by}'s certificate from the log \
                         (approval, approver or expiry changed in the table): {why}"
                    ),
                )
            })?;
        if approval_ended(expires, now) {
            return Err(VaultError::ApprovalExpired { id: id.to_owned() });
        }
        if let Some(seq) = self.completed_export_of(id, logged_export)? {
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
            upns: v.upns,
            reexport_reason: v.statement.reexport,
            created_by: v.statement.created_by,
            approved_by: by.to_owned(),
            expires_at: expires,
        })
    }

    /// Where a completed export of request `id` is recorded, by the
    /// exports table or by the log (`logged`, the entry
    /// [`export_log_facts`] found; either may have been edited, so
    /// both are asked).
    fn completed_export_of(
        &self,
        id: &str,
        logged: Option<u64>,
    ) -> Result<Option<String>, VaultError> {
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
        Ok(logged.map(|seq| format!("log entry {seq}")))
    }
}

/// What [`Vault::approved_request`] reads from the log, in one pass.
fn export_log_facts(conn: &rusqlite::Connection, id: &str) -> Result<ExportLogFacts, VaultError> {
    // Every body is searched here (SIMD), not with SQL's LIKE, which
    // compares at every byte of a log that grows with every export; only
    // a body naming both the event and this request is parsed.
    let event = format!("\"event\":\"{}\"", crate::audit::events::EXPORT_COMPLETED);
    let request = format!("\"request_id\":{}", serde_json::Value::from(id));
    let (event, request) = (
        memchr::memmem::Finder::new(event.as_bytes()),
        memchr::memmem::Finder::new(request.as_bytes()),
    );
    let [enrolments, exports] = super::reissue::pick_entries(conn, |body| {
        if event.find(body).is_some() && request.find(body).is_some() {
            Some(1)
        } else {
            super::reissue::may_enrol(body).then_some(0)
        }
    })?;
    let completed = exports.into_iter().find_map(|(seq, body)| {
        let entry = serde_json::from_slice::<serde_json::Value>(&body).ok()?;
        (entry["event"] == crate::audit::events::EXPORT_COMPLETED
            && entry["data"]["request_id"] == id)
            .then_some(seq)
    });
    Ok(ExportLogFacts {
        enrolments: Ok(enrolments),
        completed,
    })
}

/// Request `id`'s serials as its table holds them, ascending.
fn request_serials(conn: &rusqlite::Connection, id: &str) -> Result<Vec<String>, VaultError> {
    let mut q = conn.prepare_cached(
        "SELECT serial FROM request_serials WHERE request_id = ?1 ORDER BY serial",
    )?;
    let serials = q
        .query_map([id], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(serials)
}

/// What an export's check reads from the log ([`export_log_facts`]).
struct ExportLogFacts {
    /// The entries that may enrol officer keys (re-issues, rekeys).
    enrolments: crate::audit::verify::Enrolments,
    /// The first `export.completed` entry of the request, if any.
    completed: Option<u64>,
}

/// Every officer certificate the log enrolled, by key epoch (k1). A
/// signature by a certificate in force verifies as it is; one by a
/// certificate a rekey retired verifies only if the log recorded that very
/// signature before the rekey: a retired officer key cannot sign anything
/// new that the vault would act on.
#[derive(Default)]
pub(crate) struct EnrolledOfficers {
    /// The certificates in force, by name: the epoch's, then any a
    /// re-issue enrolled in it (each still verifies what it signed).
    current: HashMap<String, Vec<Cert>>,
    /// Retired epochs: key version, certificates by name, and the audit
    /// entry of the rekey that retired them.
    retired: Vec<(u32, HashMap<String, Vec<Cert>>, u64)>,
}

/// The officer certificates a genesis or `vault.rekeyed` entry's data lists.
fn certs_of(
    data: &serde_json::Value,
    what: &str,
) -> Result<HashMap<String, Vec<Cert>>, VaultError> {
    let mut out = HashMap::new();
    for c in data["custodians"].as_array().into_iter().flatten() {
        let name = c["name"]
            .as_str()
            .ok_or_else(|| VaultError::Tampered(format!("{what} names no custodian")))?;
        let cert = c["officer_cert"]
            .as_str()
            .and_then(|b| data_encoding::BASE64.decode(b.as_bytes()).ok())
            .and_then(|b| crate::pgp::keys::parse_public_cert(&b).ok())
            .ok_or_else(|| {
                VaultError::Tampered(format!(
                    "{what} holds no readable certificate for officer {name}"
                ))
            })?;
        out.insert(name.to_owned(), vec![cert]);
    }
    Ok(out)
}

impl EnrolledOfficers {
    /// Whether `name` was an officer in any epoch.
    pub(crate) fn knows(&self, name: &str) -> bool {
        self.current.contains_key(name) || self.retired.iter().any(|(_, c, _)| c.contains_key(name))
    }

    /// Checks `sig` over `data` by officer `name`, as the type's doc says;
    /// `Err` says why not.
    pub(crate) fn verify(
        &self,
        conn: &rusqlite::Connection,
        name: &str,
        data: &[u8],
        sig: &str,
    ) -> Result<(), String> {
        let signed_by = |certs: Option<&Vec<Cert>>| {
            certs
                .into_iter()
                .flatten()
                .any(|cert| crate::pgp::verify_detached(cert, data, sig.as_bytes()).is_ok())
        };
        if signed_by(self.current.get(name)) {
            return Ok(());
        }
        for (version, certs, rekey_seq) in &self.retired {
            if !signed_by(certs.get(name)) {
                continue;
            }
            // The signature as the log's JSON holds it.
            let quoted = serde_json::to_string(sig).map_err(|e| e.to_string())?;
            let needle = quoted
                .get(1..quoted.len().saturating_sub(1))
                .unwrap_or_default()
                .as_bytes()
                .to_vec();
            let logged: Option<i64> = conn
                .query_row(
                    "SELECT seq FROM audit WHERE seq < ?1 AND instr(body, ?2) > 0 LIMIT 1",
                    rusqlite::params![i64::try_from(*rekey_seq).unwrap_or(i64::MAX), needle],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| e.to_string())?;
            if logged.is_some() {
                return Ok(());
            }
            return Err(format!(
                "it is signed with {name}'s key of key version {version}, retired by the rekey at audit entry {rekey_seq}, \
                 and the log holds no such signature from before that rekey"
            ));
        }
        Err("the signature does not verify".into())
    }
}
