//! One serial at a time: open its sealed seed, show its record, void it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use fallible_streaming_iterator::FallibleStreamingIterator;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use serde_json::json;
use zeroize::Zeroizing;

use super::keys::{self, SeedAad};
use super::{Officer, UnsealedVault, Vault, VaultError};
use crate::audit::{events, Event};
use crate::crypto::{Key32, SealingKey};
use crate::otp;
use crate::token::{Seed, Serial, Token, TokenParams, MAX_SEED_BYTES, MAX_SERIAL_LEN};

/// Largest drift `verify-token` searches, in time steps (or counter values).
pub const VERIFY_WINDOW: u32 = 10;

/// What the vault records about a serial (never its seed).
#[derive(Debug, Clone, Serialize)]
pub struct SerialRecord {
    /// The serial.
    pub serial: String,
    /// `active` or `voided`.
    pub state: String,
    /// Batch id.
    pub batch_id: i64,
    /// Batch label.
    pub batch_label: Option<String>,
    /// Batch format.
    pub batch_format: String,
    /// When the batch was ingested.
    pub ingested_at: String,
    /// Token parameters.
    pub params: TokenParams,
    /// Why it was voided.
    pub void_reason: Option<String>,
    /// When.
    pub voided_at: Option<String>,
    /// By whom.
    pub voided_by: Option<String>,
    /// The order it shipped in.
    pub order_id: Option<String>,
    /// How many times it was exported.
    pub exports: i64,
    /// Its history from the audit log: `(seq, time, event, actors)`.
    pub history: Vec<HistoryItem>,
}

/// One logged event concerning a serial.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryItem {
    /// Entry number.
    pub seq: i64,
    /// When.
    pub time: String,
    /// What.
    pub event: String,
    /// Who.
    pub actors: Vec<String>,
}

impl Vault {
    /// The record of `serial`, or `None` if the vault does not hold it.
    pub fn serial_record(&self, serial: &Serial) -> Result<Option<SerialRecord>, VaultError> {
        let conn = self.store().conn();
        let row = conn
            .query_row(
                &format!(
                    "SELECT s.state, s.batch_id, b.label, b.format, b.created_at, p.json, s.void_reason,
                            s.voided_at, s.voided_by, s.order_id, {}, b.audit_seq, s.params_id
                     FROM seeds s JOIN batches b ON b.id = s.batch_id LEFT JOIN token_params p ON p.id = s.params_id
                     WHERE s.serial = ?1",
                    super::EXPORTS_OF_SERIAL
                ),
                [serial.as_str()],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, Option<String>>(5)?,
                        r.get::<_, Option<String>>(6)?,
                        r.get::<_, Option<String>>(7)?,
                        r.get::<_, Option<String>>(8)?,
                        r.get::<_, Option<String>>(9)?,
                        r.get::<_, i64>(10)?,
                        r.get::<_, i64>(11)?,
                        r.get::<_, i64>(12)?,
                    ))
                },
            )
            .optional()?;
        let Some(r) = row else { return Ok(None) };
        // What is shown is what the log recorded at ingest; a parameter row
        // that is gone, unreadable or different is tampering.
        let pid = r.12;
        let stored = r.5.ok_or_else(|| {
            VaultError::Tampered(format!(
                "the token parameters of serial {serial} (set {pid}) are missing from the vault"
            ))
        })?;
        let params: TokenParams = serde_json::from_str(&stored).map_err(|_| {
            VaultError::Tampered(format!(
                "the token parameters of serial {serial} (set {pid}) are unreadable"
            ))
        })?;
        let logged = super::query::logged_params(conn, serial.as_str(), r.1, r.11)?;
        if params != logged {
            return Err(VaultError::Tampered(format!(
                "the token parameters of serial {serial} were changed behind the log: the vault holds {}, batch {} was ingested with {}",
                params.canonical_json(),
                r.1,
                logged.canonical_json()
            )));
        }
        let mut history = Vec::new();
        let mut push = |seq: i64| -> Result<(), VaultError> {
            if let Some(item) = history_item(conn, seq)? {
                history.push(item);
            }
            Ok(())
        };
        push(r.11)?;
        // Later events name the serial in their payload, alone (`"serial":"X"`)
        // or in a list (requests, exports): any JSON string equal to it.
        // Serials are letters and digits, so they hold no LIKE wildcard.
        let needle = format!("%\"{}\"%", serial.as_str());
        let mut stmt = conn.prepare(
            "SELECT seq FROM audit WHERE seq > ?1 AND CAST(body AS TEXT) LIKE ?2 ORDER BY seq",
        )?;
        let seqs: Vec<i64> = stmt
            .query_map(params![r.11, needle], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        for s in seqs {
            push(s)?;
        }
        Ok(Some(SerialRecord {
            serial: serial.to_string(),
            state: r.0,
            batch_id: r.1,
            batch_label: r.2,
            batch_format: r.3,
            ingested_at: r.4,
            params,
            void_reason: r.6,
            voided_at: r.7,
            voided_by: r.8,
            order_id: r.9,
            exports: r.10,
            history,
        }))
    }

    /// Voids a serial (a reprogrammed token has no valid factory seed any
    /// more); it can never be exported after. One officer's card suffices.
    pub fn void_serial(
        &mut self,
        serial: &Serial,
        reason: &str,
        officer: &Officer,
    ) -> Result<(), VaultError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(VaultError::Refused(
                "a reason is required to void a serial".into(),
            ));
        }
        let id = self.info().vault_id.to_string();
        let now = crate::audit::now_rfc3339();
        let serial_s = serial.as_str().to_owned();
        let name = officer.name.clone();
        self.store_mut().write(|tx| {
            let state: Option<String> = tx
                .query_row("SELECT state FROM seeds WHERE serial = ?1", [&serial_s], |r| r.get(0))
                .optional()?;
            match state.as_deref() {
                None => return Err(VaultError::Refused(format!("serial {serial_s} is not in the vault"))),
                Some("voided") => return Err(VaultError::Refused(format!("serial {serial_s} is already voided"))),
                _ => {}
            }
            tx.execute(
                "UPDATE seeds SET state = 'voided', void_reason = ?1, voided_at = ?2, voided_by = ?3 WHERE serial = ?4",
                params![reason, now, name, serial_s],
            )?;
            crate::audit::append(
                tx,
                &id,
                &Event {
                    kind: events::SERIAL_VOIDED,
                    actors: vec![name.clone()],
                    data: json!({ "serial": serial_s, "reason": reason }),
                },
            )?;
            Ok(())
        })
    }
}

fn history_item(conn: &rusqlite::Connection, seq: i64) -> Result<Option<HistoryItem>, VaultError> {
    let body: Option<Vec<u8>> = conn
        .query_row("SELECT body FROM audit WHERE seq = ?1", [seq], |r| r.get(0))
        .optional()?;
    let Some(body) = body else { return Ok(None) };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return Ok(None);
    };
    Ok(Some(HistoryItem {
        seq,
        time: v["time"].as_str().unwrap_or_default().to_owned(),
        event: v["event"].as_str().unwrap_or_default().to_owned(),
        actors: v["actors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
    }))
}

/// Opens one sealed seed under its data key, the AAD binding the vault,
/// the serial, the key and the token parameter set (`params_sha256`). A
/// ciphertext altered or moved from another row, or a parameter set
/// changed or swapped, fails naming the serial.
fn open_seed(
    key: &SealingKey,
    aad: &mut SeedAad,
    serial: &str,
    dk_id: i64,
    params_sha256: &str,
    sealed: &[u8],
) -> Result<Seed, VaultError> {
    let mut plain = key
        .open(aad.of(serial, dk_id, params_sha256), sealed)
        .map_err(|_| integrity_failed(serial))?;
    // Moved, not copied: the seed wipes it when dropped.
    Seed::new(std::mem::take(&mut *plain))
        .map_err(|e| VaultError::Tampered(format!("seed of serial {serial}: {e}")))
}

fn integrity_failed(serial: &str) -> VaultError {
    VaultError::Tampered(format!(
        "integrity check failed for the seed of serial {serial}: its ciphertext or its token parameters were altered, or it was moved from another row"
    ))
}

/// A token parameter set as stored, with the SHA-256 its seeds' AAD binds
/// (computed once per set, not per seed).
#[derive(Debug)]
pub(crate) struct ParamSet {
    params: TokenParams,
    sha256: String,
}

/// Every parameter set of the vault by id; `None` for a row whose JSON
/// does not read (reported only if a serial of the request uses it).
type ParamSets = HashMap<i64, Option<ParamSet>>;

fn read_param_sets(conn: &rusqlite::Connection) -> Result<ParamSets, VaultError> {
    let mut sets = ParamSets::new();
    let mut st = conn.prepare("SELECT id, json FROM token_params")?;
    for row in st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))? {
        let (id, json) = row?;
        let set = serde_json::from_str::<TokenParams>(&json)
            .ok()
            .map(|params| ParamSet {
                sha256: params.sha256_hex(),
                params,
            });
        sets.insert(id, set);
    }
    Ok(sets)
}

/// The parameter set `pid` that `serial` names, or an integrity error
/// naming the serial when the row is gone or unreadable.
fn param_set<'a>(sets: &'a ParamSets, serial: &str, pid: i64) -> Result<&'a ParamSet, VaultError> {
    match sets.get(&pid) {
        Some(Some(set)) => Ok(set),
        Some(None) => Err(VaultError::Tampered(format!(
            "the token parameters of serial {serial} (set {pid}) are unreadable"
        ))),
        None => Err(VaultError::Tampered(format!(
            "the token parameters of serial {serial} (set {pid}) are missing from the vault"
        ))),
    }
}

/// Unwrapped data keys of one unsealed session, by id.
#[derive(Default)]
pub(crate) struct DataKeyCache(Mutex<HashMap<i64, std::sync::Arc<SealingKey>>>);

impl DataKeyCache {
    /// How many data keys are cached (a poisoned cache still holds its keys).
    pub(crate) fn len(&self) -> usize {
        self.0
            .lock()
            .map_or_else(|poisoned| poisoned.into_inner().len(), |c| c.len())
    }
}

impl std::fmt::Debug for DataKeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKeyCache([REDACTED])")
    }
}

/// Most tokens in one [`SeedBatch`].
pub(crate) const REQUEST_BATCH: usize = 1024;

/// Bytes of serials and seeds one [`SeedBatch`] holds at most.
const BATCH_BYTES: usize = 32 * 1024;

/// Opened seeds of a request, packed to be handed to another thread: the
/// serials and seeds of up to [`REQUEST_BATCH`] tokens in one wiped buffer
/// that never grows (growing would leave a copy of the seeds in freed
/// memory), and an index into it. The receiver makes the [`Token`]s, so
/// their many small allocations are made and freed on one thread.
pub(crate) struct SeedBatch {
    bytes: Zeroizing<Vec<u8>>,
    /// Per token: where its serial ends and its seed ends (each starts where
    /// the one before ends), and its parameter set.
    entries: Vec<(usize, usize, i64)>,
    params: Arc<ParamSets>,
}

impl std::fmt::Debug for SeedBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SeedBatch({} tokens, [REDACTED])", self.entries.len())
    }
}

impl SeedBatch {
    fn new(params: Arc<ParamSets>) -> Self {
        SeedBatch {
            bytes: Zeroizing::new(Vec::with_capacity(BATCH_BYTES)),
            entries: Vec::with_capacity(REQUEST_BATCH),
            params,
        }
    }

    /// Whether another token of any allowed size may not fit.
    fn is_full(&self) -> bool {
        self.entries.len() == REQUEST_BATCH
            || BATCH_BYTES - self.bytes.len() < MAX_SERIAL_LEN + MAX_SEED_BYTES
    }

    /// Opens the seed of `serial` into the batch.
    fn open(
        &mut self,
        key: &SealingKey,
        aad: &mut SeedAad,
        serial: &str,
        dk_id: i64,
        sealed: &[u8],
        params_id: i64,
    ) -> Result<(), VaultError> {
        if serial.len() > MAX_SERIAL_LEN
            || sealed.len() > MAX_SEED_BYTES + crate::crypto::aead::OVERHEAD
        {
            return Err(VaultError::Tampered(format!(
                "serial {serial} or its sealed seed is longer than the vault allows"
            )));
        }
        let set = param_set(&self.params, serial, params_id)?;
        let start = self.bytes.len();
        self.bytes.extend_from_slice(serial.as_bytes());
        let serial_end = self.bytes.len();
        key.open_append(aad.of(serial, dk_id, &set.sha256), sealed, &mut self.bytes)
            .map_err(|_| {
                self.bytes.truncate(start);
                integrity_failed(serial)
            })?;
        self.entries.push((serial_end, self.bytes.len(), params_id));
        Ok(())
    }

    /// How many tokens the batch holds.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The tokens, in the order they were opened.
    pub(crate) fn tokens(&self) -> impl Iterator<Item = Result<Token, VaultError>> + '_ {
        let mut start = 0;
        self.entries
            .iter()
            .map(move |&(serial_end, seed_end, params_id)| {
                let (serial, seed) = (
                    &self.bytes[start..serial_end],
                    &self.bytes[serial_end..seed_end],
                );
                start = seed_end;
                let serial = std::str::from_utf8(serial)
                    .ok()
                    .and_then(|s| Serial::parse(s).ok())
                    .ok_or_else(|| {
                        VaultError::Tampered("a serial in the vault is not a valid serial".into())
                    })?;
                let seed = Seed::new(seed.to_vec())
                    .map_err(|e| VaultError::Tampered(format!("seed of serial {serial}: {e}")))?;
                let params = param_set(&self.params, serial.as_str(), params_id)?
                    .params
                    .clone();
                Ok(Token {
                    serial,
                    seed,
                    params,
                })
            })
    }
}

/// What opening a request's seeds found besides the tokens.
#[derive(Debug, Default)]
pub(crate) struct RequestSerials {
    /// Every serial of the request, in order.
    pub serials: Vec<String>,
    /// Every problem that forbids the export; empty when it may go ahead.
    pub problems: Vec<String>,
}

/// Result of `verify-token`.
#[derive(Debug, Clone, Serialize)]
pub struct TokenCheck {
    /// The serial.
    pub serial: String,
    /// Whether the code matched within the window.
    pub matched: bool,
    /// Drift in time steps (TOTP) or counter values (HOTP), when matched.
    pub drift: Option<i64>,
    /// The window searched (±).
    pub window: u32,
}

impl UnsealedVault {
    fn data_key(&self, dk_id: i64) -> Result<std::sync::Arc<SealingKey>, VaultError> {
        let mut cache = self
            .data_keys
            .0
            .lock()
            .map_err(|_| VaultError::Crypto("data key cache poisoned".into()))?;
        if let Some(k) = cache.get(&dk_id) {
            return Ok(k.clone());
        }
        let info = self.vault().info();
        let (version, wrapped): (i64, Vec<u8>) = self
            .vault()
            .store()
            .conn()
            .query_row(
                "SELECT key_version, wrapped FROM data_keys WHERE id = ?1",
                [dk_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .ok_or_else(|| VaultError::Tampered(format!("data key {dk_id} is missing")))?;
        let mut raw = self
            .kek()
            .open(
                &keys::aad_data_key(
                    info.vault_id,
                    dk_id,
                    super::stored(version, &format!("key version of data key {dk_id}"))?,
                ),
                &wrapped,
            )
            .map_err(|_| {
                VaultError::Tampered(format!("data key {dk_id} does not open (altered or moved)"))
            })?
            .to_vec();
        let key = Key32::from_slice_wiping(&mut raw).ok_or_else(|| {
            VaultError::Tampered(format!("data key {dk_id} has the wrong length"))
        })?;
        let k = std::sync::Arc::new(SealingKey::new(&key));
        cache.insert(dk_id, k.clone());
        Ok(k)
    }

    /// Opens the sealed seed of `serial`. A ciphertext that was altered or
    /// moved from another row fails with an integrity error naming the serial.
    pub fn open_token(&self, serial: &Serial) -> Result<Token, VaultError> {
        // A LEFT JOIN: a deleted parameter row is tampering, not an unknown serial.
        let row: Option<(i64, i64, Option<String>, Vec<u8>)> = self
            .vault()
            .store()
            .conn()
            .query_row(
                "SELECT s.data_key_id, s.params_id, p.json, s.sealed
                 FROM seeds s LEFT JOIN token_params p ON p.id = s.params_id
                 WHERE s.serial = ?1",
                [serial.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let (dk_id, pid, params, sealed) =
            row.ok_or_else(|| VaultError::Refused(format!("serial {serial} is not in the vault")))?;
        let params = params.ok_or_else(|| {
            VaultError::Tampered(format!(
                "the token parameters of serial {serial} (set {pid}) are missing from the vault"
            ))
        })?;
        let params: TokenParams = serde_json::from_str(&params).map_err(|_| {
            VaultError::Tampered(format!(
                "the token parameters of serial {serial} (set {pid}) are unreadable"
            ))
        })?;
        let key = self.data_key(dk_id)?;
        let seed = open_seed(
            &key,
            &mut SeedAad::new(self.vault().info().vault_id),
            serial.as_str(),
            dk_id,
            &params.sha256_hex(),
            &sealed,
        )?;
        Ok(Token {
            serial: serial.clone(),
            seed,
            params,
        })
    }

    /// Opens every seed of a request in one pass over the database (an
    /// export of 100,000 seeds must not run 100,000 queries), checking on
    /// the way that each serial is still in the vault, active, in `order`
    /// and (unless `reexport`) not exported yet.
    ///
    /// The seeds go to `deliver`, in serial order and in [`SeedBatch`]es, so
    /// that they never all exist at once; delivery
    /// stops at the first problem (the export is then refused) or when
    /// `deliver` returns false (then nothing more is read). After a problem
    /// every serial is still checked, so the returned problems are all of
    /// them. Same integrity guarantees as
    /// [`UnsealedVault::open_token`].
    pub(crate) fn open_request_tokens(
        &self,
        request_id: &str,
        order: &str,
        reexport: bool,
        deliver: &mut dyn FnMut(SeedBatch) -> bool,
    ) -> Result<RequestSerials, VaultError> {
        let conn = self.vault().store().conn();
        // Once per request, not per row: the parameter sets (a handful)
        // and the digest each one's seeds bind in their AAD.
        let params = Arc::new(read_param_sets(conn)?);
        // A merge join: the request's serials in order, against a forward
        // walk of `seeds` (clustered on the serial) and, unless this is a
        // re-export, of the serial index of every request's serials, whose
        // rows say which requests hold each serial: a serial held by a
        // request with a completed export was exported meanwhile. A
        // request's serials are mostly ranges, so stepping to the next row is
        // the common case and far cheaper than a seek per serial (the cost
        // follows the request, not the vault's history); a gap of more than
        // `MAX_STEPS` rows is jumped with fresh seeks instead.
        const MAX_STEPS: u32 = 8;
        let completed: std::collections::HashSet<String> = conn
            .prepare("SELECT request_id FROM exports WHERE state = 'completed'")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut wanted_st = conn
            .prepare("SELECT serial FROM request_serials WHERE request_id = ?1 ORDER BY serial")?;
        let mut seeds_st = conn.prepare(
            "SELECT serial, state, order_id, data_key_id, params_id, sealed FROM seeds WHERE serial >= ?1 ORDER BY serial",
        )?;
        let mut takers_st = if reexport {
            None
        } else {
            Some(conn.prepare(
                "SELECT serial, request_id FROM request_serials WHERE serial >= ?1 ORDER BY serial",
            )?)
        };
        fn text<'r>(
            row: &'r rusqlite::Row<'_>,
            i: usize,
        ) -> Result<Option<&'r str>, rusqlite::Error> {
            row.get_ref(i)?
                .as_str_or_null()
                .map_err(rusqlite::Error::from)
        }
        let mut aad = SeedAad::new(self.vault().info().vault_id);
        let mut found = RequestSerials::default();
        let mut batch = SeedBatch::new(params.clone());
        let mut delivering = true;
        // A request's seeds mostly share one data key: keep the last one at hand.
        let mut last_key: Option<(i64, std::sync::Arc<SealingKey>)> = None;
        let mut wanted = wanted_st.query([request_id])?;
        wanted.advance()?;
        'seek: while let Some(first) = wanted.get() {
            let first = text(first, 0)?.unwrap_or_default();
            let mut seeds = seeds_st.query([first])?;
            seeds.advance()?;
            let mut takers = takers_st.as_mut().map(|st| st.query([first])).transpose()?;
            if let Some(t) = takers.as_mut() {
                t.advance()?;
            }
            while let Some(wanted_row) = wanted.get() {
                let serial_text = text(wanted_row, 0)?.unwrap_or_default();
                let mut exported = false;
                if let Some(t) = takers.as_mut() {
                    let mut steps = 0;
                    while let Some(row) = t.get() {
                        match text(row, 0)?.unwrap_or_default().cmp(serial_text) {
                            std::cmp::Ordering::Less if steps < MAX_STEPS => steps += 1,
                            std::cmp::Ordering::Less => continue 'seek,
                            std::cmp::Ordering::Equal => {
                                exported |= completed.contains(text(row, 1)?.unwrap_or_default())
                            }
                            std::cmp::Ordering::Greater => break,
                        }
                        t.advance()?;
                    }
                }
                let mut steps = 0;
                let present = loop {
                    let Some(row) = seeds.get() else { break false };
                    match text(row, 0)?.unwrap_or_default().cmp(serial_text) {
                        std::cmp::Ordering::Less if steps < MAX_STEPS => steps += 1,
                        std::cmp::Ordering::Less => continue 'seek,
                        std::cmp::Ordering::Equal => break true,
                        std::cmp::Ordering::Greater => break false,
                    }
                    seeds.advance()?;
                };
                found.serials.push(serial_text.to_owned());
                let row = match seeds.get() {
                    Some(row) if present => row,
                    _ => {
                        found
                            .problems
                            .push(format!("serial {serial_text} is no longer in the vault"));
                        delivering = false;
                        wanted.advance()?;
                        continue;
                    }
                };
                let problem = match (text(row, 1)?, text(row, 2)?) {
                    (Some("voided"), _) => Some(format!("serial {serial_text} was voided")),
                    (_, o) if o != Some(order) => {
                        Some(format!("serial {serial_text} is not in order {order}"))
                    }
                    _ if exported => Some(format!("serial {serial_text} was exported meanwhile")),
                    _ => None,
                };
                if let Some(p) = problem {
                    found.problems.push(p);
                    delivering = false;
                }
                let (dk_id, pid): (i64, i64) = (row.get(3)?, row.get(4)?);
                let key = match &last_key {
                    Some((id, k)) if *id == dk_id => k.clone(),
                    _ => {
                        let k = self.data_key(dk_id)?;
                        last_key = Some((dk_id, k.clone()));
                        k
                    }
                };
                let sealed = row.get_ref(5)?.as_blob().map_err(rusqlite::Error::from)?;
                if delivering {
                    batch.open(&key, &mut aad, serial_text, dk_id, sealed, pid)?;
                    if batch.is_full() {
                        let full = std::mem::replace(&mut batch, SeedBatch::new(params.clone()));
                        if !deliver(full) {
                            // The receiver gave up; its own error is the one to report.
                            return Ok(found);
                        }
                    }
                } else {
                    // Opened even when nothing more is delivered: an altered
                    // seed is reported as such, whatever else is wrong.
                    let set = param_set(&params, serial_text, pid)?;
                    open_seed(&key, &mut aad, serial_text, dk_id, &set.sha256, sealed)?;
                }
                // Serials are unique in both tables: both move on.
                seeds.advance()?;
                wanted.advance()?;
            }
        }
        if delivering && batch.len() > 0 {
            deliver(batch);
        }
        Ok(found)
    }

    /// Logs that the export of `request_id` was refused before it started
    /// (nothing reached the medium), with the reason. Best effort: the
    /// refusal itself is what the officer must see.
    pub(crate) fn log_export_refusal(&mut self, request_id: &str, e: &VaultError) {
        let mut reason = e.to_string();
        if reason.len() > 2000 {
            let mut cut = 2000;
            while !reason.is_char_boundary(cut) {
                cut -= 1;
            }
            reason.truncate(cut);
        }
        let actors = self.officer_names();
        let _ = self.vault_mut().log(&Event {
            kind: events::EXPORT_REFUSED,
            actors,
            data: json!({ "request_id": request_id, "reason": reason }),
        });
    }

    /// Checks a code shown by a token, within ±[`VERIFY_WINDOW`] steps of `unix_time`.
    pub fn verify_token(
        &mut self,
        serial: &Serial,
        code: &str,
        unix_time: u64,
    ) -> Result<TokenCheck, VaultError> {
        let code = code.trim();
        let token = self.open_token(serial)?;
        if code.len() != token.params.digits as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(VaultError::Refused(format!(
                "the code must be {} digits for serial {serial}",
                token.params.digits
            )));
        }
        let drift = otp::verify(&token.seed, &token.params, code, unix_time, VERIFY_WINDOW);
        let id = self.vault().info().vault_id.to_string();
        let actors = self.officer_names();
        let serial_s = serial.to_string();
        self.vault_mut().store_mut().write(|tx| {
            crate::audit::append(
                tx,
                &id,
                &Event {
                    kind: events::TOKEN_VERIFIED,
                    actors,
                    data: json!({ "serial": serial_s, "at": unix_time, "matched": drift.is_some(), "drift": drift }),
                },
            )
            .map_err(VaultError::from)
        })?;
        Ok(TokenCheck {
            serial: serial.to_string(),
            matched: drift.is_some(),
            drift,
            window: VERIFY_WINDOW,
        })
    }
}
