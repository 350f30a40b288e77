//! Ingest: a factory batch goes in whole or not at all.
//!
//! The file is streamed once: hashed as given (before any OpenPGP
//! decryption), decrypted if it is an OpenPGP message to the vault,
//! parsed, and every good token sealed and inserted inside one
//! transaction, while every problem of the file is gathered. Only a file
//! with no problem at all and no serial already in the vault commits;
//! anything else rolls back and is logged as a refused ingest. The log
//! records the batch with its token parameter sets and, in parts of
//! 10,000, its serials in file order with the set each one has, so the log
//! alone says which serial came in which batch with which parameters; the
//! seed's AAD binds the same set, so export refuses a forged one.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::json;

use super::{keys, UnsealedVault, VaultError};
use crate::audit::{self, events, Event};
use crate::crypto::{self, CounterSealer, Key32, Sha256};
use crate::formats::{self, BatchErrors, BatchReader, Format, FormatError, ReadOptions};
use crate::pgp;
use insert::{already_present, insert_batch};
pub(super) use insert::{insert_sealed, SealedBatch, SealedRow};

mod insert;

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
    /// What was accepted generously, one line per record (line, serial,
    /// what), e.g. stray bits in an Entra secret. Never a secret.
    pub warnings: Vec<String>,
}

/// How a front end follows and guards an ingest ([`UnsealedVault::ingest_with`]).
#[derive(Default)]
pub struct IngestControl<'a> {
    /// Refuse the batch unless the file's SHA-256 (hex) is this one: the
    /// one the officer confirmed after [`UnsealedVault::preview_ingest`].
    /// A file changed in between is refused, and nothing is stored.
    pub expect_sha256: Option<String>,
    /// Called with the number of tokens read so far, every
    /// [`PROGRESS_EVERY`] tokens or so (once per chunk of work, never per
    /// token, so it costs nothing measurable), on the calling thread.
    pub progress: Option<&'a dyn Fn(u64)>,
}

impl std::fmt::Debug for IngestControl<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestControl")
            .field("expect_sha256", &self.expect_sha256)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// Tokens between two progress reports.
pub const PROGRESS_EVERY: u64 = ROWS_PER_CHUNK as u64;

/// What a batch file would bring in, read and checked in full without
/// storing anything ([`UnsealedVault::preview_ingest`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct BatchPreview {
    /// The format read (detected or forced).
    pub format: String,
    /// Whether the file is an OpenPGP message (decrypted with the vault key).
    pub openpgp: bool,
    /// Fingerprint of the factory certificate whose signature was checked.
    pub factory_signer: Option<String>,
    /// Size of the file as given, in bytes.
    pub size: u64,
    /// Tokens in the file.
    pub count: u64,
    /// SHA-256 of the file as given (hex): what the ingest will record.
    pub source_sha256: String,
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
    #[error(
        "{path}: {count} serial(s) are already in the vault: {listed}{more}\nnothing was ingested"
    )]
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
    /// The file changed between the check the officer confirmed and the
    /// ingest.
    #[error("{path}: the file changed after it was checked (its SHA-256 is not the one confirmed); nothing was ingested")]
    Changed {
        /// The file.
        path: String,
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

impl IngestError {
    /// For the log: how many problems in all, the first ones as
    /// `{"line", "kind"}` (line null when the problem has none), and how
    /// many more were not listed. Never a field of the file.
    fn problem_kinds(&self) -> (u64, Vec<serde_json::Value>, u64) {
        let one = |line: Option<u64>, kind: &str| vec![json!({ "line": line, "kind": kind })];
        match self {
            IngestError::Records { errors, .. } => (
                errors.total(),
                errors
                    .listed
                    .iter()
                    .map(|e| json!({ "line": e.line, "kind": e.problem.kind() }))
                    .collect(),
                errors.more,
            ),
            IngestError::Format { source, .. } => (1, one(source.line(), source.kind()), 0),
            IngestError::AlreadyPresent { count, .. } => {
                (*count, one(None, "serial_already_present"), 0)
            }
            IngestError::Empty(_) => (1, one(None, "no_tokens"), 0),
            IngestError::OpenPgp { .. } => (1, one(None, "openpgp"), 0),
            IngestError::Changed { .. } => (1, one(None, "file_changed"), 0),
            IngestError::Vault(_) => (1, one(None, "vault"), 0),
        }
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
    e.get_ref()
        .and_then(|i| i.downcast_ref::<pgp::PgpError>())
        .map(|p| p.to_string())
}

impl UnsealedVault {
    /// A fresh batch data key, the id it will get (the next in
    /// `data_keys`) and its wrap under the current KEK, bound to that id
    /// and key version: what an ingested or a generated batch stores.
    pub(crate) fn new_data_key(&self) -> Result<(Key32, i64, Vec<u8>), VaultError> {
        let info = self.vault().info();
        let dk = Key32::random().map_err(|e| VaultError::Crypto(e.to_string()))?;
        let id: i64 = self.vault().store().conn().query_row(
            "SELECT coalesce(max(id), 0) + 1 FROM data_keys",
            [],
            |r| r.get(0),
        )?;
        let wrapped = self
            .kek()
            .seal(
                &keys::aad_data_key(info.vault_id, id, info.key_version),
                dk.expose(),
            )
            .map_err(|e| VaultError::Crypto(e.to_string()))?;
        Ok((dk, id, wrapped))
    }

    /// Ingests one batch file, all or nothing.
    pub fn ingest(&mut self, src: &IngestSource<'_>) -> Result<IngestOutcome, IngestError> {
        self.ingest_with(src, &IngestControl::default())
    }

    /// [`UnsealedVault::ingest`], followed by `ctl.progress` and refused
    /// unless the file is the one confirmed (`ctl.expect_sha256`).
    pub fn ingest_with(
        &mut self,
        src: &IngestSource<'_>,
        ctl: &IngestControl<'_>,
    ) -> Result<IngestOutcome, IngestError> {
        let name = src.path.display().to_string();
        let hash = Arc::new(Mutex::new(Sha256::new()));
        match self.ingest_inner(src, &name, &hash, ctl) {
            Ok(o) => Ok(o),
            Err(e) => {
                self.log_batch_refused(src, &name, &e);
                Err(e)
            }
        }
    }

    /// Reads and checks a whole batch file as [`UnsealedVault::ingest`]
    /// would (decrypting an OpenPGP message with the vault key and
    /// checking the factory signature, every record, and every serial
    /// against the vault) and stores nothing. A file the ingest would
    /// refuse is refused here with the same error, and logged as the
    /// ingest would log it (`batch.refused`); a good file leaves no trace.
    pub fn preview_ingest(
        &mut self,
        src: &IngestSource<'_>,
        progress: Option<&dyn Fn(u64)>,
    ) -> Result<BatchPreview, IngestError> {
        let name = src.path.display().to_string();
        let hash = Arc::new(Mutex::new(Sha256::new()));
        match self.preview_inner(src, &name, &hash, progress) {
            Ok(p) => Ok(p),
            Err(e) => {
                self.log_batch_refused(src, &name, &e);
                Err(e)
            }
        }
    }

    /// Logs a refused batch: kinds and line numbers only.
    fn log_batch_refused(&mut self, src: &IngestSource<'_>, name: &str, e: &IngestError) {
        // Finish hashing the file so the refusal names exactly what was offered.
        let sha = file_sha256(src.path).unwrap_or_default();
        let (problems, listed, more) = e.problem_kinds();
        let actors = self.officer_names();
        // Kinds and line numbers only: the log is permanent, and a
        // message, however careful, is field content.
        let _ = self.vault_mut().log(&Event {
            kind: events::BATCH_REFUSED,
            actors,
            data: json!({
                "source_name": name,
                "source_sha256": sha,
                "format": src.format.map(|f| f.name()),
                "problems": problems,
                "listed": listed,
                "more": more,
            }),
        });
    }

    fn preview_inner(
        &mut self,
        src: &IngestSource<'_>,
        name: &str,
        hash: &Arc<Mutex<Sha256>>,
        progress: Option<&dyn Fn(u64)>,
    ) -> Result<BatchPreview, IngestError> {
        let (input, format, openpgp) = self.open_input(src, name, hash)?;
        let mut records = BatchReader::open(format, input, src.read_options).map_err(|e| {
            IngestError::Format {
                path: name.into(),
                source: e,
            }
        })?;
        records.expect_records(expected_records(src.path, format));
        let conn = self.vault().store().conn();
        let mut known = conn.prepare("SELECT 1 FROM seeds WHERE serial = ?1")?;
        let mut count = 0u64;
        let mut present = Vec::new();
        let mut present_count = 0u64;
        // The lookups go in read transactions of PROGRESS_EVERY serials:
        // one each had SQLite take and drop its shared lock and look for a
        // hot journal per serial (three quarters of the check's time),
        // while one for the whole file would keep a writer waiting all
        // along. Nothing is written, so each ends by rolling back.
        let mut reading = conn.unchecked_transaction()?;
        for token in records.by_ref() {
            count += 1;
            if known.exists([token.serial.as_str()])? {
                present_count += 1;
                if present.len() < MAX_LISTED_PRESENT {
                    present.push(token.serial.as_str().to_owned());
                }
            }
            if count % PROGRESS_EVERY == 0 {
                reading.rollback()?;
                reading = conn.unchecked_transaction()?;
                if let Some(p) = progress {
                    p(count);
                }
            }
        }
        reading.rollback()?;
        if let Err(errors) = records.finish() {
            return Err(IngestError::Records {
                path: name.into(),
                errors,
            });
        }
        if present_count > 0 {
            return Err(already_present(name, present, present_count));
        }
        if count == 0 {
            return Err(IngestError::Empty(name.into()));
        }
        let size =
            std::fs::metadata(src.path)
                .map(|m| m.len())
                .map_err(|e| IngestError::Format {
                    path: name.into(),
                    source: e.into(),
                })?;
        let source_sha256 = hash
            .lock()
            .map(|h| crypto::hex(&h.clone().finish()))
            .unwrap_or_default();
        Ok(BatchPreview {
            format: format.name().into(),
            openpgp,
            factory_signer: src.factory_cert.map(|c| c.fingerprint().to_hex()),
            size,
            count,
            source_sha256,
        })
    }

    /// Opens the batch file for reading: hashed as given, decrypted if it
    /// is an OpenPGP message to the vault, its format detected unless
    /// forced. Returns the plain input, the format and whether it was
    /// OpenPGP.
    fn open_input(
        &self,
        src: &IngestSource<'_>,
        name: &str,
        hash: &Arc<Mutex<Sha256>>,
    ) -> Result<(Box<dyn BufRead + Send>, Format, bool), IngestError> {
        let file = File::open(src.path).map_err(|e| IngestError::Format {
            path: name.into(),
            source: e.into(),
        })?;
        let hashing = HashingReader {
            inner: file,
            hash: hash.clone(),
        };
        let mut raw = BufReader::with_capacity(256 * 1024, hashing);
        let head = raw.fill_buf().map_err(|e| IngestError::Format {
            path: name.into(),
            source: e.into(),
        })?;
        let openpgp = pgp::is_openpgp_message(head);
        let mut input: Box<dyn BufRead + Send> = if openpgp {
            let vault_key = self.vault_key()?;
            let plain =
                pgp::decrypt_batch(&vault_key, Box::new(raw), src.factory_cert).map_err(|e| {
                    IngestError::OpenPgp {
                        path: name.into(),
                        reason: e.to_string(),
                    }
                })?;
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
        let format = match src.format {
            Some(f) => f,
            None => formats::detect_buffered(&mut input).map_err(|e| match e {
                FormatError::Io(io) => match pgp_reason(&io) {
                    Some(reason) => IngestError::OpenPgp {
                        path: name.into(),
                        reason,
                    },
                    None => IngestError::Format {
                        path: name.into(),
                        source: io.into(),
                    },
                },
                other => IngestError::Format {
                    path: name.into(),
                    source: other,
                },
            })?,
        };
        Ok((input, format, openpgp))
    }

    fn ingest_inner(
        &mut self,
        src: &IngestSource<'_>,
        name: &str,
        hash: &Arc<Mutex<Sha256>>,
        ctl: &IngestControl<'_>,
    ) -> Result<IngestOutcome, IngestError> {
        let (input, format, openpgp) = self.open_input(src, name, hash)?;
        let info = self.vault().info().clone();
        let vault_id = info.vault_id;
        let officers = self.officer_names();
        let (dk, next_dk, wrapped) = self.new_data_key()?;
        // Warnings of an earlier read with the same options are not this batch's.
        src.read_options.warnings.take();
        let batch = BatchMeta {
            warnings: &src.read_options.warnings,
            vault_id,
            dk_id: next_dk,
            kek_version: info.key_version,
            wrapped,
            format,
            openpgp,
            label: src.label.clone(),
            officers,
            name,
            factory_signer: src.factory_cert.map(|c| c.fingerprint().to_hex()),
            expect_sha256: ctl.expect_sha256.as_deref(),
        };
        let progress = ctl.progress;
        let read_options = src.read_options;
        let store = self.vault_mut().store_mut();

        // Two stages on the machine's two cores: this thread inserts inside
        // the transaction while the parser thread reads, checks and seals.
        // Seed plaintext never leaves the parser thread: only serials,
        // parameters and ciphertext cross the channel.
        // Set when the batch is refused for its records or serials:
        // whether the database found a serial the file repeats.
        let mut recheck: Option<bool> = None;
        let outcome = std::thread::scope(|scope| {
            let (to_db, from_parser) = std::sync::mpsc::sync_channel::<SealedChunk>(8);
            // The data key is fresh and seals this batch only: counter nonces.
            let mut sealer = CounterSealer::new(dk);
            let parser = scope.spawn(move || -> Result<Result<u64, BatchErrors>, IngestError> {
                let mut records = BatchReader::open(format, input, read_options).map_err(|e| {
                    IngestError::Format {
                        path: name.into(),
                        source: e,
                    }
                })?;
                records.leave_repeats_to_caller();
                let mut seed_aad = keys::SeedAad::new(vault_id);
                let mut chunk = SealedChunk::default();
                // The parameter set's digest goes into every seed's AAD; a
                // batch has few sets, so it is computed when the set changes,
                // and only then does the set cross to the inserting side.
                let mut set: Option<(crate::token::TokenParams, String)> = None;
                for token in records.by_ref() {
                    let new_set = match &set {
                        Some((p, _)) if *p == token.params => None,
                        _ => {
                            let d = token.params.sha256_hex();
                            set = Some((token.params.clone(), d));
                            Some(token.params)
                        }
                    };
                    let digest = set.as_ref().map(|(_, d)| d.as_str()).unwrap_or_default();
                    let serial = token.serial.as_str();
                    let aad = seed_aad.of(serial, next_dk, digest);
                    chunk.bytes.extend_from_slice(serial.as_bytes());
                    let serial_end = chunk.bytes.len();
                    sealer
                        .seal_append(aad, token.seed.expose(), &mut chunk.bytes)
                        .map_err(|e| VaultError::Crypto(e.to_string()))?;
                    chunk.rows.push(PackedRow {
                        serial_end,
                        sealed_end: chunk.bytes.len(),
                        new_set,
                    });
                    if chunk.rows.len() == ROWS_PER_CHUNK {
                        let next = SealedChunk::sized_as(&chunk);
                        if to_db.send(std::mem::replace(&mut chunk, next)).is_err() {
                            // The inserting side failed; its error is the one to report.
                            return Ok(Ok(0));
                        }
                    }
                }
                if !chunk.rows.is_empty() {
                    let _ = to_db.send(chunk);
                }
                drop(to_db);
                Ok(records.finish())
            });
            // Inserts the batch, data key and parameter set its seeds point to.
            store.write_own_references(|tx| {
                insert_batch(
                    tx,
                    &batch,
                    from_parser,
                    parser,
                    hash,
                    progress,
                    &mut recheck,
                )
            })
        });
        match recheck {
            Some(repeated) => Err(self.recheck(src, name, hash, repeated, outcome.err())),
            None => outcome,
        }
    }

    /// The refusal of a batch the ingest found a problem in (`refused`), as
    /// a check would word it: the file read again with every check (serials
    /// repeated within the file included, which the ingest's reader leaves
    /// to the database), so every problem is listed with its lines; when
    /// that finds none (serials only already in the vault), `refused`
    /// stands. A file that reads differently the second time, or that the
    /// database saw repeat a serial (`repeated`) and now does not, changed
    /// under the ingest.
    fn recheck(
        &self,
        src: &IngestSource<'_>,
        name: &str,
        first: &Arc<Mutex<Sha256>>,
        repeated: bool,
        refused: Option<IngestError>,
    ) -> IngestError {
        let again = Arc::new(Mutex::new(Sha256::new()));
        let (input, format, _) = match self.open_input(src, name, &again) {
            Ok(opened) => opened,
            Err(e) => return e,
        };
        src.read_options.warnings.take();
        let mut records = match BatchReader::open(format, input, src.read_options) {
            Ok(r) => r,
            Err(source) => {
                return IngestError::Format {
                    path: name.into(),
                    source,
                }
            }
        };
        records.expect_records(expected_records(src.path, format));
        let result = records.finish();
        let digest = |h: &Arc<Mutex<Sha256>>| {
            h.lock()
                .map(|h| crypto::hex(&h.clone().finish()))
                .unwrap_or_default()
        };
        let changed = IngestError::Changed { path: name.into() };
        if digest(first) != digest(&again) {
            return changed;
        }
        match (result, refused) {
            (Err(errors), _) => IngestError::Records {
                path: name.into(),
                errors,
            },
            (Ok(_), Some(refused)) if !repeated => refused,
            _ => changed,
        }
    }
}

/// Rows handed from the parser thread to the inserting thread at a time
/// (a multiple of [`insert::ROWS_PER_INSERT`]: a chunk is inserted whole).
const ROWS_PER_CHUNK: usize = 1000;

/// Sealed tokens on their way to the database, packed (no plaintext
/// crosses): the serials' and sealed seeds' bytes one after the other in
/// one buffer, and where each ends. A few allocations per thousand tokens
/// instead of three per token made on one thread and freed on the other.
#[derive(Default)]
struct SealedChunk {
    bytes: Vec<u8>,
    rows: Vec<PackedRow>,
}

impl SealedChunk {
    /// An empty chunk with the room `full` had, so the next thousand
    /// tokens do not grow it step by step again.
    fn sized_as(full: &SealedChunk) -> Self {
        SealedChunk {
            bytes: Vec::with_capacity(full.bytes.capacity()),
            rows: Vec::with_capacity(ROWS_PER_CHUNK),
        }
    }
}

/// One token of a [`SealedChunk`]: its serial ends at `serial_end`, its
/// sealed seed (starting there) at `sealed_end`.
struct PackedRow {
    serial_end: usize,
    sealed_end: usize,
    /// Its parameter set when it is not the previous token's (always for
    /// the batch's first token).
    new_set: Option<crate::token::TokenParams>,
}

/// About how many records a batch file of this format holds, from its
/// size: the duplicate check reserves room for them once instead of
/// growing (and rehashing) its table twenty times. An estimate only: too
/// low costs a rehash, too high some memory, so it is capped.
fn expected_records(path: &Path, format: Format) -> usize {
    // Bytes of the shortest usual record of each line format; XML costs
    // far more per token and is not estimated.
    let per_record: u64 = match format {
        Format::AzureCsv | Format::PrivacyIdea => 48,
        Format::Hex | Format::Base32 => 32,
        Format::Otpauth => 80,
        Format::Pskc => return 0,
    };
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    usize::try_from((size / per_record).min(4_000_000)).unwrap_or(0)
}

/// What the inserting side needs to know about the batch.
struct BatchMeta<'a> {
    warnings: &'a formats::Warnings,
    vault_id: crate::cards::VaultId,
    dk_id: i64,
    kek_version: u32,
    wrapped: Vec<u8>,
    format: Format,
    openpgp: bool,
    label: Option<String>,
    officers: Vec<String>,
    name: &'a str,
    factory_signer: Option<String>,
    /// The SHA-256 the officer confirmed, if any.
    expect_sha256: Option<&'a str>,
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
