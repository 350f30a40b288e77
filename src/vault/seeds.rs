//! One serial at a time: open its sealed seed, show its record, void it,
//! check a code it shows.
//!
//! Opening a seed (its AAD, the data-key cache, the [`SeedFault`] that
//! names the serial when it fails) is defined here once; the export's
//! batched reader (`export_reader.rs`) opens through the same functions.

use std::collections::HashMap;
use std::sync::Mutex;

use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use serde_json::json;

use super::keys::{self, SeedAad};
use super::{Officer, UnsealedVault, Vault, VaultError};
use crate::audit::{events, Event};
use crate::crypto::{Key32, SealingKey};
use crate::otp;
use crate::token::{Seed, Serial, Token, TokenParams};

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
    /// When its seed was destroyed (state `destroyed`), by whom and why.
    pub destroyed: Option<super::destroy::DestructionRecord>,
}

/// The entries about `serial` after its batch's entry `from` (included):
/// later events name it in their payload, alone (`"serial":"X"`) or in a
/// list (requests, exports, destructions): any JSON string equal to it.
/// Serials are letters, digits and `-`, so they hold no LIKE wildcard.
pub(super) fn serial_history(
    conn: &rusqlite::Connection,
    serial: &str,
    from: i64,
) -> Result<Vec<HistoryItem>, VaultError> {
    let mut history = Vec::new();
    if let Some(item) = history_item(conn, from)? {
        history.push(item);
    }
    let needle = format!("%\"{serial}\"%");
    let mut stmt = conn.prepare(
        "SELECT seq FROM audit WHERE seq > ?1 AND CAST(body AS TEXT) LIKE ?2 ORDER BY seq",
    )?;
    let seqs: Vec<i64> = stmt
        .query_map(params![from, needle], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    for s in seqs {
        if let Some(item) = history_item(conn, s)? {
            history.push(item);
        }
    }
    Ok(history)
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
        let Some(r) = row else {
            return super::destroy::destroyed_serial_record(self, serial);
        };
        // What is shown is what the log recorded at ingest; a parameter row
        // that is gone, unreadable or different is tampering.
        let params = parse_params(serial.as_str(), r.12, r.5.as_deref())?;
        let logged = super::query::logged_params(conn, serial.as_str(), r.1, r.11)?;
        if params != logged {
            return Err(VaultError::Tampered(format!(
                "the token parameters of serial {serial} were changed behind the log: the vault holds {}, batch {} was ingested with {}",
                params.canonical_json(),
                r.1,
                logged.canonical_json()
            )));
        }
        let history = serial_history(conn, serial.as_str(), r.11)?;
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
            destroyed: None,
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
                None => return Err(VaultError::SerialNotFound { serial: serial_s.clone() }),
                Some("voided") => return Err(VaultError::SerialVoided { serial: serial_s.clone() }),
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
            super::crash::point("serial-void-before-commit");
            Ok(())
        })
    }
}

pub(super) fn history_item(
    conn: &rusqlite::Connection,
    seq: i64,
) -> Result<Option<HistoryItem>, VaultError> {
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

/// Why a seed of the vault failed to open: each is tampering (or a
/// damaged database), reported as [`VaultError::SeedIntegrity`] naming the
/// serial. Never holds seed bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SeedFault {
    /// The sealed seed does not open under its data key and AAD: its
    /// ciphertext or its parameter set was altered, or it was moved.
    Sealed,
    /// The parameter set the serial names is gone.
    ParamsMissing {
        /// The set's id.
        set: i64,
    },
    /// The parameter set the serial names does not read.
    ParamsUnreadable {
        /// The set's id.
        set: i64,
    },
    /// The serial or its sealed seed is longer than the vault stores.
    Oversized,
    /// The opened bytes are not an acceptable seed.
    Malformed(crate::token::SeedError),
}

impl SeedFault {
    /// The message for `serial` (without the "tampering detected" prefix).
    pub(crate) fn describe(&self, serial: &str) -> String {
        match self {
            SeedFault::Sealed => format!(
                "integrity check failed for the seed of serial {serial}: its ciphertext or its token parameters were altered, or it was moved from another row"
            ),
            SeedFault::ParamsMissing { set } => format!(
                "the token parameters of serial {serial} (set {set}) are missing from the vault"
            ),
            SeedFault::ParamsUnreadable { set } => {
                format!("the token parameters of serial {serial} (set {set}) are unreadable")
            }
            SeedFault::Oversized => {
                format!("serial {serial} or its sealed seed is longer than the vault allows")
            }
            SeedFault::Malformed(e) => format!("seed of serial {serial}: {e}"),
        }
    }
}

/// The error for a seed of `serial` that failed to open.
pub(super) fn seed_fault(serial: &str, what: SeedFault) -> VaultError {
    VaultError::SeedIntegrity {
        serial: serial.to_owned(),
        what,
    }
}

/// The token parameters of `serial` from the JSON of set `set` as stored
/// (`None`: the row is gone).
fn parse_params(serial: &str, set: i64, json: Option<&str>) -> Result<TokenParams, VaultError> {
    let json = json.ok_or_else(|| seed_fault(serial, SeedFault::ParamsMissing { set }))?;
    serde_json::from_str(json).map_err(|_| seed_fault(serial, SeedFault::ParamsUnreadable { set }))
}

/// Opens one sealed seed under its data key, the AAD binding the vault,
/// the serial, the key and the token parameter set (`params_sha256`). A
/// ciphertext altered or moved from another row, or a parameter set
/// changed or swapped, fails naming the serial. Both `open_token` and the
/// export reader open seeds through here (the reader's batches through
/// the same AAD and [`SeedFault`]s).
pub(super) fn open_seed(
    key: &SealingKey,
    aad: &mut SeedAad,
    serial: &str,
    dk_id: i64,
    params_sha256: &str,
    sealed: &[u8],
) -> Result<Seed, VaultError> {
    let mut plain = key
        .open(aad.of(serial, dk_id, params_sha256), sealed)
        .map_err(|_| seed_fault(serial, SeedFault::Sealed))?;
    // Moved, not copied: the seed wipes it when dropped.
    Seed::new(std::mem::take(&mut *plain)).map_err(|e| seed_fault(serial, SeedFault::Malformed(e)))
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
    pub(super) fn data_key(&self, dk_id: i64) -> Result<std::sync::Arc<SealingKey>, VaultError> {
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
        let Some((dk_id, pid, params, sealed)) = row else {
            let conn = self.vault().store().conn();
            return Err(
                super::destroy::destroyed_refusal(conn, serial.as_str())?.unwrap_or(
                    VaultError::SerialNotFound {
                        serial: serial.to_string(),
                    },
                ),
            );
        };
        let params = parse_params(serial.as_str(), pid, params.as_deref())?;
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
