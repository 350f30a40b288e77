//! What the log says about a destruction: which serials were delivered
//! (an `export.completed` of a request two officers signed) or voided,
//! which were destroyed and when, and each destruction's own entry. Every
//! entry is found through the lookup table and kept only when its body
//! says what was asked, so an edit of the table can only hide evidence,
//! which makes fewer seeds destroyable, never more.

use super::*;

/// The entries of `event`, found through the log's index and kept only
/// when their body says that event (a forged index row selects nothing; a
/// deleted one hides an entry, which only makes fewer seeds destroyable).
pub(super) fn entries_of(
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

pub(super) fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

/// The serials the log assigned to `order` (`order.assigned` entries).
pub(super) fn logged_order_serials(
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
pub(super) fn check_signed_request(
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
pub(super) fn delivered_or_voided(
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
pub(super) fn destroyed_among(
    conn: &rusqlite::Connection,
    serials: &[String],
) -> Result<HashMap<String, (i64, String)>, VaultError> {
    let total: i64 = conn.query_row("SELECT count(*) FROM destroyed_serials", [], |r| r.get(0))?;
    let mut out = HashMap::new();
    if total == 0 {
        // The common case: nothing was ever destroyed. No set of the
        // serials to build (a tenth of a 100,000-seed export's reader).
        return Ok(out);
    }
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
    // Driven from the destroyed serials (CROSS JOIN keeps that order):
    // the planner, without statistics, walked the whole seeds table for
    // the batch's rows, a tenth of a second per million seeds ingested.
    let mut st = tx.prepare(
        "SELECT d.serial, coalesce(x.destroyed_at, '?') FROM destroyed_serials d
         CROSS JOIN seeds s ON s.serial = d.serial
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
    Ok((crate::vault::stored(seq, "audit entry")?, e))
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

/// The record of a serial whose seed was destroyed (`serial show`): its
/// batch and token parameters as the log recorded them at ingest, its
/// history, and who destroyed it, when and why (from the log entry).
pub(in crate::vault) fn destroyed_serial_record(
    vault: &Vault,
    serial: &Serial,
) -> Result<Option<crate::vault::SerialRecord>, VaultError> {
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
    let params = crate::vault::query::logged_params(conn, serial.as_str(), batch, batch_seq)?;
    let record = destruction_record(conn, id)?;
    // The destruction's own entry names the serials by hash only; its
    // parts (`seeds.destroyed_serials`) name this one.
    let mut history = crate::vault::seeds::serial_history(conn, serial.as_str(), batch_seq)?;
    let at = i64::try_from(record.audit_seq).unwrap_or(i64::MAX);
    if !history.iter().any(|h| h.seq == at) {
        history.extend(crate::vault::seeds::history_item(conn, at)?);
    }
    let exports: i64 = conn.query_row(
        "SELECT count(*) FROM request_serials rs JOIN exports e ON e.request_id = rs.request_id
         WHERE rs.serial = ?1 AND e.state = 'completed'",
        [serial.as_str()],
        |r| r.get(0),
    )?;
    Ok(Some(crate::vault::SerialRecord {
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
