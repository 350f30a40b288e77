//! Ingest: a factory batch goes in whole or not at all.
//!
//! The file is streamed once: hashed as given (before any OpenPGP
//! decryption), decrypted if it is an OpenPGP message to the vault,
//! parsed, and every good token sealed and inserted inside one
//! transaction, while every problem of the file is gathered. Only a file
//! with no problem at all and no serial already in the vault commits;
//! anything else rolls back and is logged as a refused ingest. The log
//! records the batch and, in parts of 10,000, its serials in file order,
//! so the log alone says which serial came in which batch.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::params;
use serde_json::json;

use super::{keys, UnsealedVault, VaultError};
use crate::audit::{self, events, Event};
use crate::crypto::{self, CounterSealer, Key32, Sha256};
use crate::formats::{self, BatchErrors, BatchReader, Format, FormatError, ReadOptions};
use crate::pgp;

/// Serials per `batch.serials` log entry.
const SERIALS_PER_PART: usize = 10_000;
/// Serials already in the vault listed by name in a refusal.
const MAX_LISTED_PRESENT: usize = 100;

/// What to ingest.
#[derive(Debug)]
pub struct IngestSource<'a> {
    /// The batch file.
    pub path: &'a Path,
    /// Force a format instead of detecting it.
    pub format: Option<Format>,
    /// A label for the batch (e.g. the factory's shipment reference).
    pub label: Option<String>,
    /// Require a valid signature by this factory certificate (OpenPGP-wrapped batches).
    pub factory_cert: Option<&'a sequoia_openpgp::Cert>,
    /// Keys for encrypted PSKC.
    pub read_options: &'a ReadOptions,
}

/// A committed batch.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IngestOutcome {
    /// Batch id.
    pub batch_id: i64,
    /// Tokens stored.
    pub count: u64,
    /// The format read.
    pub format: String,
    /// SHA-256 of the file as given.
    pub source_sha256: String,
    /// Whether the file was an OpenPGP message.
    pub openpgp: bool,
}

/// Why a batch was refused. Nothing was stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The file as a whole is unreadable or of no known format.
    #[error("{path}: {source}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        source: FormatError,
    },
    /// Problems in records: every one is listed (up to a cap).
    #[error("{path}: {errors}\nnothing was ingested")]
    Records {
        /// The file.
        path: String,
        /// The problems.
        errors: BatchErrors,
    },
    /// Serials already in the vault.
    #[error("{path}: {count} serial(s) are already in the vault: {listed}{more}\nnothing was ingested")]
    AlreadyPresent {
        /// The file.
        path: String,
        /// How many.
        count: u64,
        /// The first ones.
        listed: String,
        /// ", and N more" or "".
        more: String,
    },
    /// The file holds no token.
    #[error("{0}: the file holds no token; nothing was ingested")]
    Empty(String),
    /// OpenPGP decryption or signature verification failed.
    #[error("{path}: {reason}\nnothing was ingested")]
    OpenPgp {
        /// The file.
        path: String,
        /// What failed.
        reason: String,
    },
    /// The vault refused or failed.
    #[error(transparent)]
    Vault(#[from] VaultError),
}

impl From<rusqlite::Error> for IngestError {
    fn from(e: rusqlite::Error) -> Self {
        IngestError::Vault(e.into())
    }
}

impl From<audit::AuditError> for IngestError {
    fn from(e: audit::AuditError) -> Self {
        IngestError::Vault(e.into())
    }
}

/// Hashes everything read through it; the digest is shared so it can be
/// read after the reader was handed to the OpenPGP layer.
struct HashingReader<R> {
    inner: R,
    hash: Arc<Mutex<Sha256>>,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Ok(mut h) = self.hash.lock() {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// The problem of an OpenPGP read error, if that is what it is.
fn pgp_reason(e: &std::io::Error) -> Option<String> {
    e.get_ref().and_then(|i| i.downcast_ref::<pgp::PgpError>()).map(|p| p.to_string())
}

impl UnsealedVault {
    /// Ingests one batch file, all or nothing.
    pub fn ingest(&mut self, src: &IngestSource<'_>) -> Result<IngestOutcome, IngestError> {
        let name = src.path.display().to_string();
        let hash = Arc::new(Mutex::new(Sha256::new()));
        match self.ingest_inner(src, &name, &hash) {
            Ok(o) => Ok(o),
            Err(e) => {
                // Finish hashing the file so the refusal names exactly what was offered.
                let sha = file_sha256(src.path).unwrap_or_default();
                let problems = match &e {
                    IngestError::Records { errors, .. } => errors.total(),
                    IngestError::AlreadyPresent { count, .. } => *count,
                    _ => 1,
                };
                let mut reason = e.to_string();
                reason.truncate(2000);
                let actors = self.officer_names();
                let _ = self.vault_mut().log(&Event {
                    kind: events::BATCH_REFUSED,
                    actors,
                    data: json!({
                        "source_name": name,
                        "source_sha256": sha,
                        "format": src.format.map(|f| f.name()),
                        "problems": problems,
                        "reason": reason,
                    }),
                });
                Err(e)
            }
        }
    }

    fn ingest_inner(
        &mut self,
        src: &IngestSource<'_>,
        name: &str,
        hash: &Arc<Mutex<Sha256>>,
    ) -> Result<IngestOutcome, IngestError> {
        let file = File::open(src.path).map_err(|e| IngestError::Format { path: name.into(), source: e.into() })?;
        let hashing = HashingReader { inner: file, hash: hash.clone() };
        let mut raw = BufReader::with_capacity(256 * 1024, hashing);
        let head = raw.fill_buf().map_err(|e| IngestError::Format { path: name.into(), source: e.into() })?;
        let openpgp = pgp::is_openpgp_message(head);
        let mut input: Box<dyn BufRead> = if openpgp {
            let vault_key = self.vault_key()?;
            let plain = pgp::decrypt_batch(&vault_key, Box::new(raw), src.factory_cert)
                .map_err(|e| IngestError::OpenPgp { path: name.into(), reason: e.to_string() })?;
            Box::new(BufReader::with_capacity(256 * 1024, plain))
        } else {
            if src.factory_cert.is_some() {
                return Err(IngestError::OpenPgp {
                    path: name.into(),
                    reason: "--factory-cert was given but the file is not an OpenPGP message, so it carries no signature".into(),
                });
            }
            Box::new(raw)
        };
        let io_err = |e: std::io::Error| match pgp_reason(&e) {
            Some(reason) => IngestError::OpenPgp { path: name.into(), reason },
            None => IngestError::Format { path: name.into(), source: e.into() },
        };
        let format = match src.format {
            Some(f) => f,
            None => formats::detect_buffered(&mut input).map_err(|e| match e {
                FormatError::Io(io) => io_err(io),
                other => IngestError::Format { path: name.into(), source: other },
            })?,
        };
        let mut batch = BatchReader::open(format, input, src.read_options)
            .map_err(|e| IngestError::Format { path: name.into(), source: e })?;

        let info = self.vault().info().clone();
        let vault_id = info.vault_id;
        let id = vault_id.to_string();
        let officers = self.officer_names();
        let officers_json = serde_json::to_string(&officers).unwrap_or_default();
        let dk = Key32::random().map_err(|e| VaultError::Crypto(e.to_string()))?;
        let kek_version = info.key_version;
        let now = audit::now_rfc3339();
        let label = src.label.clone();

        // The KEK is borrowed from self while the store is borrowed mutably:
        // wrap the data key before opening the transaction.
        let conn_next_dk: i64 = self
            .vault()
            .store()
            .conn()
            .query_row("SELECT coalesce(max(id), 0) + 1 FROM data_keys", [], |r| r.get(0))?;
        let wrapped = self
            .kek()
            .seal(&keys::aad_data_key(vault_id, conn_next_dk, kek_version), dk.expose())
            .map_err(|e| VaultError::Crypto(e.to_string()))?;
        // The data key is fresh and seals this batch only: counter nonces.
        let mut sealer = CounterSealer::new(dk);

        let outcome = self.vault_mut().store_mut().write(|tx| -> Result<IngestOutcome, IngestError> {
            let dk_id: i64 = tx.query_row("SELECT coalesce(max(id), 0) + 1 FROM data_keys", [], |r| r.get(0))?;
            if dk_id != conn_next_dk {
                return Err(VaultError::Crypto("another command changed the vault during ingest; try again".into()).into());
            }
            tx.execute("INSERT INTO data_keys (id, key_version, wrapped) VALUES (?1, ?2, ?3)", params![dk_id, kek_version, wrapped])?;
            tx.execute(
                "INSERT INTO batches (label, source_sha256, format, count, officers, created_at, data_key_id, audit_seq)
                 VALUES (?1, '', ?2, 0, ?3, ?4, ?5, 0)",
                params![label, format.name(), officers_json, now, dk_id],
            )?;
            let batch_id = tx.last_insert_rowid();
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO seeds (serial, batch_id, data_key_id, params, sealed, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'active')",
            )?;
            let mut present: Vec<String> = Vec::new();
            let mut present_count = 0u64;
            let mut part: Vec<String> = Vec::with_capacity(SERIALS_PER_PART);
            let mut parts = 0u64;
            let mut serials_hash = Sha256::new();
            let mut count = 0u64;
            let mut last_params: Option<(crate::token::TokenParams, String)> = None;
            let mut aad = Vec::with_capacity(96);
            for token in batch.by_ref() {
                let serial = token.serial.as_str();
                // Most batches repeat one parameter set: encode it once.
                let params_json = match &last_params {
                    Some((p, j)) if *p == token.params => j.clone(),
                    _ => {
                        let j = serde_json::to_string(&token.params).map_err(audit::AuditError::from)?;
                        last_params = Some((token.params.clone(), j.clone()));
                        j
                    }
                };
                keys::aad_seed_into(&mut aad, vault_id, serial, dk_id);
                let sealed = sealer
                    .seal(&aad, token.seed.expose())
                    .map_err(|e| VaultError::Crypto(e.to_string()))?;
                if insert.execute(params![serial, batch_id, dk_id, params_json, sealed])? == 0 {
                    present_count += 1;
                    if present.len() < MAX_LISTED_PRESENT {
                        present.push(serial.to_owned());
                    }
                    continue;
                }
                if count > 0 {
                    serials_hash.update(b"\n");
                }
                serials_hash.update(serial.as_bytes());
                count += 1;
                part.push(serial.to_owned());
                if part.len() == SERIALS_PER_PART {
                    parts += 1;
                    log_part(tx, &id, &officers, batch_id, parts, &mut part)?;
                }
            }
            let finished = batch.finish();
            // The reader may have ended on an OpenPGP error (bad signature at EOF).
            if let Err(errors) = finished {
                return Err(IngestError::Records { path: name.into(), errors });
            }
            if present_count > 0 {
                let more = present_count - present.len() as u64;
                return Err(IngestError::AlreadyPresent {
                    path: name.into(),
                    count: present_count,
                    listed: present.join(", "),
                    more: if more > 0 { format!(", and {more} more") } else { String::new() },
                });
            }
            if count == 0 {
                return Err(IngestError::Empty(name.into()));
            }
            if !part.is_empty() {
                parts += 1;
                log_part(tx, &id, &officers, batch_id, parts, &mut part)?;
            }
            let source_sha256 = hash.lock().map(|h| crypto::hex(&h.clone().finish())).unwrap_or_default();
            let head = audit::append(
                tx,
                &id,
                &Event {
                    kind: events::BATCH_INGESTED,
                    actors: officers.clone(),
                    data: json!({
                        "batch_id": batch_id,
                        "label": label,
                        "source_name": name,
                        "source_sha256": source_sha256,
                        "format": format.name(),
                        "openpgp": openpgp,
                        "factory_signer": src.factory_cert.map(|c| c.fingerprint().to_hex()),
                        "count": count,
                        "parts": parts,
                        "serials_sha256": crypto::hex(&serials_hash.finish()),
                    }),
                },
            )?;
            tx.execute(
                "UPDATE batches SET count = ?1, source_sha256 = ?2, audit_seq = ?3 WHERE id = ?4",
                params![count as i64, source_sha256, head.count as i64, batch_id],
            )?;
            Ok(IngestOutcome { batch_id, count, format: format.name().into(), source_sha256, openpgp })
        })?;
        Ok(outcome)
    }
}

fn log_part(
    tx: &rusqlite::Connection,
    id: &str,
    officers: &[String],
    batch_id: i64,
    part: u64,
    serials: &mut Vec<String>,
) -> Result<(), IngestError> {
    audit::append(
        tx,
        id,
        &Event {
            kind: events::BATCH_SERIALS,
            actors: officers.to_vec(),
            data: json!({ "batch_id": batch_id, "part": part, "serials": serials }),
        },
    )?;
    serials.clear();
    Ok(())
}

/// SHA-256 of a file, hex.
pub(crate) fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(crypto::hex(&h.finish()))
}
