//! Read-only queries for front ends that browse the vault (the terminal
//! UI's audit tab, `serial show`). Nothing here needs a card or changes
//! anything.
//!
//! Commands without a quorum cannot open a seed, so the AEAD that binds a
//! seed to its token parameters cannot speak for them; the log can. The
//! parameters a serial was ingested with are looked up in its batch's
//! `batch.ingested` and `batch.serials` entries and compared with the
//! table, so a forged `token_params` row is named, not shown.

use serde::Deserialize;
use serde_json::Value;

use super::{Vault, VaultError};
use crate::audit::events;
use crate::token::TokenParams;

/// One audit entry, decoded for display. The stored bytes are what is
/// hashed; `json` is a pretty-printed copy for people to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Position in the chain (1 = genesis).
    pub seq: u64,
    /// When (RFC 3339 UTC).
    pub time: String,
    /// Event kind, e.g. `vault.unseal`.
    pub event: String,
    /// Who.
    pub actors: Vec<String>,
    /// The whole entry, pretty-printed (or the raw text if it is not JSON).
    pub json: String,
}

#[derive(Deserialize, Default)]
struct Summary {
    #[serde(default)]
    time: String,
    #[serde(default)]
    event: String,
    #[serde(default)]
    actors: Vec<String>,
}

impl Vault {
    /// The last `limit` audit entries in chain order (a long-lived vault's
    /// log has millions; a screen needs the recent ones, and `audit export`
    /// gives them all). An entry that does not decode is still listed
    /// (event `(unreadable)`), so a damaged log stays visible;
    /// `verify_audit` says what is wrong with it.
    pub fn audit_entries(&self, limit: u64) -> Result<Vec<AuditEntry>, VaultError> {
        let conn = self.store().conn();
        let mut stmt = conn.prepare(
            "SELECT seq, body FROM audit WHERE seq > (SELECT coalesce(max(seq), 0) FROM audit) - ?1 ORDER BY seq",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map([limit], |r| {
            let seq = r.get::<_, u64>(0)?;
            let body = r.get::<_, Vec<u8>>(1).unwrap_or_default();
            Ok((seq, body))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, body) = row?;
            let value: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
            out.push(decode_entry(seq, &body, value));
        }
        Ok(out)
    }
}

/// One stored entry as shown: an entry that does not decode is still
/// listed (event `(unreadable)`), so a damaged log stays visible.
pub(crate) fn decode_entry(seq: u64, body: &[u8], value: Option<serde_json::Value>) -> AuditEntry {
    let summary = value
        .clone()
        .and_then(|v| serde_json::from_value::<Summary>(v).ok())
        .unwrap_or_else(|| Summary {
            event: "(unreadable)".into(),
            ..Summary::default()
        });
    let json = value
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    AuditEntry {
        seq,
        time: summary.time,
        event: summary.event,
        actors: summary.actors,
        json,
    }
}

/// One stored entry for a list: its summary read without building the
/// whole document (a batch's serial lists make entries of 150 kB), and
/// `json` the stored text as is ([`pretty_json`] when it is opened).
pub(crate) fn decode_entry_raw(seq: u64, body: &[u8]) -> AuditEntry {
    let summary = serde_json::from_slice::<Summary>(body).unwrap_or_else(|_| Summary {
        event: "(unreadable)".into(),
        ..Summary::default()
    });
    AuditEntry {
        seq,
        time: summary.time,
        event: summary.event,
        actors: summary.actors,
        json: String::from_utf8_lossy(body).into_owned(),
    }
}

/// An entry's text pretty-printed for reading (as stored if it is not JSON).
pub fn pretty_json(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.to_owned())
}

/// One audit entry's `data`, after checking that its stored hash is the
/// SHA-256 of its body and that it is a `kind` entry of batch `batch_id`.
/// `None` when it is another event or batch.
pub(crate) fn batch_entry_data(
    seq: i64,
    body: &[u8],
    hash: &[u8],
    kind: &str,
    batch_id: i64,
) -> Result<Option<Value>, VaultError> {
    if crate::crypto::sha256(body)[..] != *hash {
        return Err(VaultError::Tampered(format!(
            "audit entry {seq} does not match its hash"
        )));
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| VaultError::Tampered(format!("audit entry {seq} cannot be read")))?;
    // A generated batch's own entry (`batch.generated`) stands where an
    // ingested batch's `batch.ingested` does, with the same fields.
    let event = v["event"].as_str();
    let same = event == Some(kind)
        || (kind == events::BATCH_INGESTED && event == Some(events::BATCH_GENERATED));
    if !same || v["data"]["batch_id"].as_i64() != Some(batch_id) {
        return Ok(None);
    }
    Ok(Some(v["data"].clone()))
}

/// The parameter sets the log recorded for batch `batch_id` (its
/// `batch.ingested` entry is `ingested_seq`, checked against its stored
/// hash); `serial` names the seed the check is for, in the error.
pub(crate) fn logged_sets(
    conn: &rusqlite::Connection,
    serial: &str,
    batch_id: i64,
    ingested_seq: i64,
) -> Result<Vec<TokenParams>, VaultError> {
    let not_logged = |why: String| {
        VaultError::Tampered(format!(
            "serial {serial}: {why}; its token parameters cannot be checked against the log"
        ))
    };
    let row: Option<(Vec<u8>, Vec<u8>)> = rusqlite::OptionalExtension::optional(conn.query_row(
        "SELECT body, hash FROM audit WHERE seq = ?1",
        [ingested_seq],
        |r| Ok((r.get(0)?, r.get(1)?)),
    ))?;
    let (body, hash) = row.ok_or_else(|| {
        not_logged(format!(
            "the log entry of batch {batch_id} ({ingested_seq}) is missing"
        ))
    })?;
    let ingested = batch_entry_data(ingested_seq, &body, &hash, events::BATCH_INGESTED, batch_id)?
        .ok_or_else(|| {
            not_logged(format!(
                "audit entry {ingested_seq} is not the ingest of batch {batch_id}"
            ))
        })?;
    serde_json::from_value(ingested["params"].clone())
        .map_err(|_| not_logged(format!("entry {ingested_seq} lists no parameter sets")))
}

/// The token parameters the log recorded for `serial` when batch
/// `batch_id` was ingested (its `batch.ingested` entry is `ingested_seq`).
/// Reads that entry and the one `batch.serials` part naming the serial;
/// any inconsistency is an integrity error naming the serial.
pub(crate) fn logged_params(
    conn: &rusqlite::Connection,
    serial: &str,
    batch_id: i64,
    ingested_seq: i64,
) -> Result<TokenParams, VaultError> {
    let not_logged = |why: &str| {
        VaultError::Tampered(format!(
            "serial {serial}: {why}; its token parameters cannot be checked against the log"
        ))
    };
    let row: Option<(Vec<u8>, Vec<u8>)> = rusqlite::OptionalExtension::optional(conn.query_row(
        "SELECT body, hash FROM audit WHERE seq = ?1",
        [ingested_seq],
        |r| Ok((r.get(0)?, r.get(1)?)),
    ))?;
    let (body, hash) = row.ok_or_else(|| {
        not_logged(&format!(
            "the log entry of batch {batch_id} ({ingested_seq}) is missing"
        ))
    })?;
    let ingested = batch_entry_data(ingested_seq, &body, &hash, events::BATCH_INGESTED, batch_id)?
        .ok_or_else(|| {
            not_logged(&format!(
                "audit entry {ingested_seq} is not the ingest of batch {batch_id}"
            ))
        })?;
    let sets: Vec<TokenParams> = serde_json::from_value(ingested["params"].clone())
        .map_err(|_| not_logged(&format!("entry {ingested_seq} lists no parameter sets")))?;
    let parts = ingested["parts"].as_i64().unwrap_or(0);
    // The parts are the entries just before `batch.ingested` (one
    // transaction); only the one whose text names the serial is parsed.
    // Serials are letters, digits and inner dashes: no LIKE wildcard.
    let mut st = conn.prepare(
        "SELECT seq, body, hash FROM audit WHERE seq >= ?1 AND seq < ?2 AND CAST(body AS TEXT) LIKE ?3 ORDER BY seq",
    )?;
    let needle = format!("%\"{serial}\"%");
    let mut rows = st.query(rusqlite::params![
        ingested_seq - parts,
        ingested_seq,
        needle
    ])?;
    while let Some(row) = rows.next()? {
        let (seq, body, hash): (i64, Vec<u8>, Vec<u8>) = (row.get(0)?, row.get(1)?, row.get(2)?);
        let Some(part) = batch_entry_data(seq, &body, &hash, events::BATCH_SERIALS, batch_id)?
        else {
            continue;
        };
        let Some(pos) = part["serials"]
            .as_array()
            .and_then(|a| a.iter().position(|s| s.as_str() == Some(serial)))
        else {
            continue;
        };
        let runs: Vec<(usize, u64)> = serde_json::from_value(part["params"].clone())
            .map_err(|_| not_logged(&format!("entry {seq} says no parameter set per serial")))?;
        let mut at = 0u64;
        for (set, n) in runs {
            at += n;
            if (pos as u64) < at {
                return sets.get(set).cloned().ok_or_else(|| {
                    not_logged(&format!("entry {seq} names parameter set {set}, which entry {ingested_seq} does not list"))
                });
            }
        }
        return Err(not_logged(&format!(
            "entry {seq} gives fewer parameter sets than serials"
        )));
    }
    Err(not_logged(&format!(
        "it is not in the logged serial list of batch {batch_id}"
    )))
}
