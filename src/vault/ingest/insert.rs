//! Ingest's storing half: sealed tokens handed over in packed chunks,
//! inserted in groups, and their serials logged in `batch.serials` parts;
//! also used by `batch generate` for seeds made inside the vault.

use std::sync::{Arc, Mutex};

use rusqlite::params;
use serde_json::json;

use super::{
    BatchMeta, IngestError, IngestOutcome, SealedChunk, MAX_LISTED_PRESENT, SERIALS_PER_PART,
};
use crate::audit::{self, events, Event};
use crate::crypto::{self, Sha256};
use crate::formats::{self, BatchErrors};
use crate::vault::VaultError;

/// Rows per multi-row INSERT statement (5 parameters each, far below
/// SQLite's limit); one statement per row spent its time in statement
/// overhead rather than in the B-tree.
pub(super) const ROWS_PER_INSERT: usize = 200;

/// Serials accepted (in file order, not yet logged, each with its
/// parameter set's id) and refused as already present.
#[derive(Default)]
pub(super) struct Accepted {
    inserted: Vec<(String, i64)>,
    present: Vec<String>,
    present_count: u64,
    /// Rows whose serial an earlier row of the same batch has.
    repeated: u64,
}

/// The accepted serials of a batch, logged in parts of
/// [`SERIALS_PER_PART`] in file order, with a running hash of the list,
/// and which parameter set each serial has: the batch's sets are listed
/// once (in `batch.ingested`, in order of first use) and each part says,
/// as runs of `[set index, count]`, which set its serials have.
#[derive(Default)]
pub(super) struct SerialLog {
    part: Vec<String>,
    /// Runs of the part in progress: `(index into sets, serials)`.
    runs: Vec<(usize, u64)>,
    /// The batch's parameter sets in order of first use, with their ids.
    sets: Vec<(crate::token::TokenParams, i64)>,
    parts: u64,
    hash: Sha256,
    count: u64,
}

impl SerialLog {
    /// Records the parameter set `params` with id `pid` as one of the
    /// batch's, if it is new to the batch.
    fn add_set(&mut self, params: &crate::token::TokenParams, pid: i64) {
        if !self.sets.iter().any(|(_, id)| *id == pid) {
            self.sets.push((params.clone(), pid));
        }
    }

    /// Takes `serials` (emptying it), logging each full part.
    fn accept(
        &mut self,
        tx: &rusqlite::Connection,
        id: &str,
        officers: &[String],
        batch_id: i64,
        serials: &mut Vec<(String, i64)>,
    ) -> Result<(), IngestError> {
        for (serial, pid) in serials.drain(..) {
            if self.count > 0 {
                self.hash.update(b"\n");
            }
            self.hash.update(serial.as_bytes());
            self.count += 1;
            self.part.push(serial);
            // Every id was added by `add_set` before its rows were inserted.
            let set = self
                .sets
                .iter()
                .position(|(_, id)| *id == pid)
                .ok_or_else(|| {
                    VaultError::Crypto(format!("parameter set {pid} was not recorded"))
                })?;
            match self.runs.last_mut() {
                Some((s, n)) if *s == set => *n += 1,
                _ => self.runs.push((set, 1)),
            }
            if self.part.len() == SERIALS_PER_PART {
                self.flush(tx, id, officers, batch_id)?;
            }
        }
        Ok(())
    }

    /// Logs the part in progress, if any.
    fn flush(
        &mut self,
        tx: &rusqlite::Connection,
        id: &str,
        officers: &[String],
        batch_id: i64,
    ) -> Result<(), IngestError> {
        if self.part.is_empty() {
            return Ok(());
        }
        self.parts += 1;
        log_part(
            tx,
            id,
            officers,
            batch_id,
            self.parts,
            &mut self.part,
            &mut self.runs,
        )
    }
}

/// Inserts `group` (serial, parameter set id, sealed seed) with one
/// statement. Rows whose serial is already in the vault are ignored by
/// SQLite; only then (rare: the batch is refused anyway) each row is
/// looked up to name them.
pub(super) fn insert_group(
    tx: &rusqlite::Transaction<'_>,
    batch_id: i64,
    dk_id: i64,
    group: &[(&str, i64, &[u8])],
    acc: &mut Accepted,
) -> Result<(), IngestError> {
    if group.is_empty() {
        return Ok(());
    }
    let mut sql = String::from("INSERT OR IGNORE INTO seeds (serial, batch_id, data_key_id, params_id, sealed, state) VALUES ");
    for i in 0..group.len() {
        sql.push_str(if i == 0 {
            "(?,?,?,?,?,'active')"
        } else {
            ",(?,?,?,?,?,'active')"
        });
    }
    let mut stmt = tx.prepare_cached(&sql)?;
    let mut values: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(group.len() * 5);
    for (serial, pid, sealed) in group {
        values.extend([
            serial as &dyn rusqlite::ToSql,
            &batch_id,
            &dk_id,
            pid,
            sealed,
        ]);
    }
    let inserted = stmt.execute(values.as_slice())?;
    drop(values);
    if inserted == group.len() {
        acc.inserted
            .extend(group.iter().map(|&(s, pid, _)| (s.to_owned(), pid)));
        return Ok(());
    }
    // The row stored under the serial is this one when it holds this
    // sealed seed (every seal has its own nonce); another row of this
    // batch means the file repeats the serial.
    let mut owner =
        tx.prepare_cached("SELECT batch_id, sealed = ?2 FROM seeds WHERE serial = ?1")?;
    for &(serial, pid, sealed) in group {
        let (b, this): (i64, bool) =
            owner.query_row(params![serial, sealed], |r| Ok((r.get(0)?, r.get(1)?)))?;
        if b == batch_id && this {
            acc.inserted.push((serial.to_owned(), pid));
        } else if b == batch_id {
            acc.repeated += 1;
        } else {
            acc.present_count += 1;
            if acc.present.len() < MAX_LISTED_PRESENT {
                acc.present.push(serial.to_owned());
            }
        }
    }
    Ok(())
}

pub(super) type ParserResult = Result<Result<u64, BatchErrors>, IngestError>;

/// The inserting stage, inside the batch's transaction. Commits (by
/// returning `Ok`) only when the parser read the whole file without a
/// problem and no serial was already in the vault.
pub(super) fn insert_batch(
    tx: &rusqlite::Transaction<'_>,
    b: &BatchMeta<'_>,
    rows: std::sync::mpsc::Receiver<SealedChunk>,
    parser: std::thread::ScopedJoinHandle<'_, ParserResult>,
    hash: &Arc<Mutex<Sha256>>,
    progress: Option<&dyn Fn(u64)>,
    recheck: &mut Option<bool>,
) -> Result<IngestOutcome, IngestError> {
    let id = b.vault_id.to_string();
    let dk_id: i64 = tx.query_row("SELECT coalesce(max(id), 0) + 1 FROM data_keys", [], |r| {
        r.get(0)
    })?;
    if dk_id != b.dk_id {
        return Err(VaultError::VaultChanged { command: "ingest" }.into());
    }
    tx.execute(
        "INSERT INTO data_keys (id, key_version, wrapped) VALUES (?1, ?2, ?3)",
        params![dk_id, b.kek_version, b.wrapped],
    )?;
    let officers_json = serde_json::to_string(&b.officers).map_err(audit::AuditError::from)?;
    tx.execute(
        "INSERT INTO batches (label, source_sha256, format, count, officers, created_at, data_key_id, audit_seq)
         VALUES (?1, '', ?2, 0, ?3, ?4, ?5, 0)",
        params![b.label, b.format.name(), officers_json, audit::now_rfc3339(), dk_id],
    )?;
    let batch_id = tx.last_insert_rowid();
    let params_id = |json: &str| -> Result<i64, rusqlite::Error> {
        tx.execute(
            "INSERT OR IGNORE INTO token_params (json) VALUES (?1)",
            [json],
        )?;
        tx.query_row("SELECT id FROM token_params WHERE json = ?1", [json], |r| {
            r.get(0)
        })
    };
    let mut acc = Accepted::default();
    let mut log = SerialLog::default();
    // The parser sends a parameter set only when it changes: its id.
    let mut pid: Option<i64> = None;
    let garbled = || VaultError::Crypto("a sealed chunk from the parser is garbled".into());
    for chunk in rows.iter() {
        let mut group: Vec<(&str, i64, &[u8])> = Vec::with_capacity(ROWS_PER_INSERT);
        let mut start = 0;
        for row in &chunk.rows {
            if let Some(params) = &row.new_set {
                // Stored in canonical form: the bytes whose SHA-256 the seeds' AAD binds.
                let id = params_id(&params.canonical_json())?;
                log.add_set(params, id);
                pid = Some(id);
            }
            let serial = chunk
                .bytes
                .get(start..row.serial_end)
                .and_then(|b| std::str::from_utf8(b).ok())
                .ok_or_else(garbled)?;
            let sealed = chunk
                .bytes
                .get(row.serial_end..row.sealed_end)
                .ok_or_else(garbled)?;
            start = row.sealed_end;
            group.push((serial, pid.ok_or_else(garbled)?, sealed));
            if group.len() == ROWS_PER_INSERT {
                insert_group(tx, batch_id, dk_id, &group, &mut acc)?;
                group.clear();
            }
        }
        insert_group(tx, batch_id, dk_id, &group, &mut acc)?;
        log.accept(tx, &id, &b.officers, batch_id, &mut acc.inserted)?;
        crate::vault::crash::point("ingest-mid-insert");
        if let Some(p) = progress {
            p(log.count + acc.present_count);
        }
    }
    let (count, present, present_count) = (log.count, acc.present, acc.present_count);
    let parsed = parser
        .join()
        .map_err(|_| VaultError::Crypto("the batch parser stopped unexpectedly".into()))??;
    // The parser left repeated serials to the database: when a record is
    // refused or a serial repeated, the caller reads the file again with
    // every check for the report (see `UnsealedVault::recheck`).
    if parsed.is_err() || acc.repeated > 0 || acc.present_count > 0 {
        *recheck = Some(acc.repeated > 0);
    }
    if let Err(errors) = parsed {
        return Err(IngestError::Records {
            path: b.name.into(),
            errors,
        });
    }
    if acc.repeated > 0 {
        // Replaced by the re-read's report, which names the lines.
        return Err(IngestError::Records {
            path: b.name.into(),
            errors: formats::BatchErrors::default(),
        });
    }
    if present_count > 0 {
        return Err(already_present(b.name, present, present_count));
    }
    // A serial whose seed was destroyed (d1) is never ingested again.
    crate::vault::destroy::refuse_destroyed_in_batch(tx, b.name, batch_id)?;
    if count == 0 {
        return Err(IngestError::Empty(b.name.into()));
    }
    // The parser has finished: every warning is in.
    let warnings: Vec<String> = b.warnings.take().iter().map(|w| w.to_string()).collect();
    let source_sha256 = hash
        .lock()
        .map(|h| crypto::hex(&h.clone().finish()))
        .unwrap_or_default();
    if b.expect_sha256.is_some_and(|want| want != source_sha256) {
        return Err(IngestError::Changed {
            path: b.name.into(),
        });
    }
    log.flush(tx, &id, &b.officers, batch_id)?;
    let parts = log.parts;
    let head = audit::append(
        tx,
        &id,
        &Event {
            kind: events::BATCH_INGESTED,
            actors: b.officers.clone(),
            data: json!({
                "batch_id": batch_id,
                "label": b.label,
                "source_name": b.name,
                "source_sha256": source_sha256,
                "format": b.format.name(),
                "openpgp": b.openpgp,
                "factory_signer": b.factory_signer,
                "count": count,
                "parts": parts,
                "serials_sha256": crypto::hex(&log.hash.finish()),
                "warnings": warnings.len(),
                "params": log.sets.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            }),
        },
    )?;
    tx.execute(
        "UPDATE batches SET count = ?1, source_sha256 = ?2, audit_seq = ?3 WHERE id = ?4",
        params![count, source_sha256, head.count, batch_id],
    )?;
    crate::vault::crash::point("ingest-before-commit");
    Ok(IngestOutcome {
        batch_id,
        count,
        format: b.format.name().into(),
        source_sha256,
        openpgp: b.openpgp,
        warnings,
    })
}

/// The refusal for serials already in the vault (`count` in all, the
/// first of them in `present`).
pub(super) fn already_present(name: &str, present: Vec<String>, count: u64) -> IngestError {
    // A serial that could be a secret in the wrong column is counted,
    // not shown (see formats::problem).
    let present: Vec<String> = present
        .into_iter()
        .filter(|s| !formats::could_be_secret(s))
        .collect();
    let more = count - present.len() as u64;
    IngestError::AlreadyPresent {
        path: name.into(),
        count,
        listed: present.join(", "),
        more: if more > 0 {
            format!(", and {more} more")
        } else {
            String::new()
        },
    }
}

pub(super) fn log_part(
    tx: &rusqlite::Connection,
    id: &str,
    officers: &[String],
    batch_id: i64,
    part: u64,
    serials: &mut Vec<String>,
    runs: &mut Vec<(usize, u64)>,
) -> Result<(), IngestError> {
    audit::append(
        tx,
        id,
        &Event {
            kind: events::BATCH_SERIALS,
            actors: officers.to_vec(),
            // The serials move into the entry: no copy of 10,000 strings.
            data: json!({
                "batch_id": batch_id,
                "part": part,
                "serials": serde_json::Value::Array(serials.drain(..).map(serde_json::Value::String).collect()),
                "params": runs,
            }),
        },
    )?;
    runs.clear();
    Ok(())
}

/// [`insert_group`] for rows that own their bytes; empties `group`.
pub(super) fn insert_owned(
    tx: &rusqlite::Transaction<'_>,
    batch_id: i64,
    dk_id: i64,
    group: &mut Vec<(String, i64, Vec<u8>)>,
    acc: &mut Accepted,
) -> Result<(), IngestError> {
    let borrowed: Vec<(&str, i64, &[u8])> = group
        .iter()
        .map(|(s, pid, sealed)| (s.as_str(), *pid, sealed.as_slice()))
        .collect();
    insert_group(tx, batch_id, dk_id, &borrowed, acc)?;
    group.clear();
    Ok(())
}

// ---- g1: batch generate ----

/// One sealed seed for [`insert_sealed`]: serial and ciphertext (never
/// plaintext); the batch has one parameter set.
pub(in crate::vault) type SealedRow = (String, Vec<u8>);

/// What [`insert_sealed`] stored and logged.
pub(in crate::vault) struct SealedBatch {
    /// Rows stored.
    pub(in crate::vault) count: u64,
    /// `batch.serials` parts logged.
    pub(in crate::vault) parts: u64,
    /// SHA-256 (hex) of the serials joined by `\n`, in order.
    pub(in crate::vault) serials_sha256: String,
    /// The batch's parameter sets, in order of first use.
    pub(in crate::vault) params: Vec<crate::token::TokenParams>,
}

/// Ingest's storing half, for seeds made inside the vault (`batch
/// generate`): inserts the sealed rows of batch `batch_id` (data key
/// `dk_id`, the one parameter set `params`) as they arrive and logs their
/// serials in `batch.serials` parts exactly as an ingest does. The caller writes the batch's own entry.
/// A serial already in the vault refuses the whole batch.
pub(in crate::vault) fn insert_sealed(
    tx: &rusqlite::Transaction<'_>,
    vault_id: &str,
    officers: &[String],
    batch_id: i64,
    dk_id: i64,
    params: &crate::token::TokenParams,
    rows: std::sync::mpsc::Receiver<Vec<SealedRow>>,
) -> Result<SealedBatch, IngestError> {
    let mut acc = Accepted::default();
    let mut log = SerialLog::default();
    let json = params.canonical_json();
    tx.execute(
        "INSERT OR IGNORE INTO token_params (json) VALUES (?1)",
        [&json],
    )?;
    let pid: i64 = tx.query_row(
        "SELECT id FROM token_params WHERE json = ?1",
        [&json],
        |r| r.get(0),
    )?;
    log.add_set(params, pid);
    let mut group: Vec<(String, i64, Vec<u8>)> = Vec::with_capacity(ROWS_PER_INSERT);
    for chunk in rows.iter() {
        for (serial, sealed) in chunk {
            group.push((serial, pid, sealed));
            if group.len() == ROWS_PER_INSERT {
                insert_owned(tx, batch_id, dk_id, &mut group, &mut acc)?;
            }
        }
        log.accept(tx, vault_id, officers, batch_id, &mut acc.inserted)?;
    }
    insert_owned(tx, batch_id, dk_id, &mut group, &mut acc)?;
    log.accept(tx, vault_id, officers, batch_id, &mut acc.inserted)?;
    if acc.repeated > 0 {
        // Generated serials are counted up: a repeat is a bug, stopped here.
        return Err(VaultError::Crypto(format!(
            "the generated batch repeats {} serial(s)",
            acc.repeated
        ))
        .into());
    }
    if acc.present_count > 0 {
        return Err(already_present(
            "the generated batch",
            acc.present,
            acc.present_count,
        ));
    }
    log.flush(tx, vault_id, officers, batch_id)?;
    Ok(SealedBatch {
        count: log.count,
        parts: log.parts,
        serials_sha256: crypto::hex(&log.hash.finish()),
        params: log.sets.into_iter().map(|(p, _)| p).collect(),
    })
}
