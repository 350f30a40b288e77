//! The export's reader: every seed of an approved request, read in one
//! pass over the database and handed, sealed, to the formatting thread in
//! batches, which opens them.
//!
//! An export of 100,000 seeds must not cost 100,000 queries, must not hold
//! every seed at once, and must not get slower as the vault's export
//! history grows (docs/decisions/2026-11-22-export-pipeline.md,
//! 2026-11-30-export-speed.md). So the request's serials, as the officers
//! signed them, are walked beside range scans of `seeds`, each span of
//! serials is checked against completed exports with one query, and the
//! sealed seeds travel to the other thread packed in a [`SeedBatch`]; the
//! plaintext exists only there, one seed at a time (a wiped [`Seed`]).
//!
//! It lives apart from `seeds.rs` because its concerns are throughput and
//! thread hand-over. What a seed's integrity means is not repeated here:
//! a batch opens each seed with `seeds::open_seed`, under the same AAD
//! (`keys::SeedAad`) as `open_token`, and a failure is the same
//! [`SeedFault`] naming the serial.
//!
//! [`Seed`]: crate::token::Seed

use std::collections::HashMap;
use std::sync::Arc;

use fallible_streaming_iterator::FallibleStreamingIterator;

use super::keys::SeedAad;
use super::seeds::{open_seed, seed_fault, SeedFault};
use super::{UnsealedVault, VaultError};
use crate::cards::VaultId;
use crate::crypto::SealingKey;
use crate::token::{Serial, Token, TokenParams, MAX_SEED_BYTES, MAX_SERIAL_LEN};

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
        Some(None) => Err(seed_fault(serial, SeedFault::ParamsUnreadable { set: pid })),
        None => Err(seed_fault(serial, SeedFault::ParamsMissing { set: pid })),
    }
}

/// Most tokens in one [`SeedBatch`].
pub(crate) const REQUEST_BATCH: usize = 1024;

/// Bytes of serials and sealed seeds one [`SeedBatch`] holds at most.
const BATCH_BYTES: usize = 48 * 1024;

/// Sealed seeds of a request, packed to be handed to another thread,
/// which opens them: the serials and sealed seeds of up to
/// [`REQUEST_BATCH`] tokens in one buffer (ciphertext: no secret), an
/// index into it, and the data keys they are sealed under. Opening on the
/// receiving thread splits the work of an export more evenly between the
/// reader (SQLite) and the formatter, and the receiver makes the
/// [`Token`]s, so their many small allocations are made and freed on one
/// thread.
pub(crate) struct SeedBatch {
    bytes: Vec<u8>,
    /// Per token: where its serial ends and its sealed seed ends (each
    /// starts where the one before ends), its parameter set and its data key.
    entries: Vec<(usize, usize, i64, i64)>,
    /// The data keys the entries name (a request's seeds mostly share one).
    keys: Vec<(i64, Arc<SealingKey>)>,
    params: Arc<ParamSets>,
    vault: VaultId,
}

impl std::fmt::Debug for SeedBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SeedBatch({} tokens, [REDACTED])", self.entries.len())
    }
}

impl SeedBatch {
    fn new(params: Arc<ParamSets>, vault: VaultId) -> Self {
        SeedBatch {
            bytes: Vec::with_capacity(BATCH_BYTES),
            entries: Vec::with_capacity(REQUEST_BATCH),
            keys: Vec::new(),
            params,
            vault,
        }
    }

    /// Whether another token of any allowed size may not fit.
    fn is_full(&self) -> bool {
        self.entries.len() == REQUEST_BATCH
            || BATCH_BYTES - self.bytes.len()
                < MAX_SERIAL_LEN + MAX_SEED_BYTES + crate::crypto::aead::OVERHEAD
    }

    /// Adds the sealed seed of `serial`, to be opened by [`SeedBatch::each_token`].
    fn push(
        &mut self,
        key: &Arc<SealingKey>,
        serial: &str,
        dk_id: i64,
        sealed: &[u8],
        params_id: i64,
    ) -> Result<(), VaultError> {
        if serial.len() > MAX_SERIAL_LEN
            || sealed.len() > MAX_SEED_BYTES + crate::crypto::aead::OVERHEAD
        {
            return Err(seed_fault(serial, SeedFault::Oversized));
        }
        // Checked here, where the serial is named in the request's order.
        param_set(&self.params, serial, params_id)?;
        if !self.keys.iter().any(|(id, _)| *id == dk_id) {
            self.keys.push((dk_id, key.clone()));
        }
        self.bytes.extend_from_slice(serial.as_bytes());
        let serial_end = self.bytes.len();
        self.bytes.extend_from_slice(sealed);
        self.entries
            .push((serial_end, self.bytes.len(), params_id, dk_id));
        Ok(())
    }

    /// How many tokens the batch holds.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Opens each seed (same checks and errors as `open_token`: the AAD
    /// binds vault, serial, data key and parameter set) and hands the
    /// token to `f`, in the order they were read. The token's parameters
    /// are kept from one token to the next while the set is the same (a
    /// batch mostly holds one), so a token costs its serial and its seed,
    /// not a fresh copy of its parameters.
    pub(crate) fn each_token<E: From<VaultError>>(
        &self,
        mut f: impl FnMut(&Token) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut aad = SeedAad::new(self.vault);
        let mut start = 0;
        let mut kept: Option<(i64, TokenParams)> = None;
        // The set in use, looked up again only when it changes.
        let mut set_in_use: Option<(i64, &ParamSet)> = None;
        for &(serial_end, sealed_end, params_id, dk_id) in &self.entries {
            let (serial, sealed) = (
                &self.bytes[start..serial_end],
                &self.bytes[serial_end..sealed_end],
            );
            start = sealed_end;
            let serial = std::str::from_utf8(serial)
                .ok()
                .and_then(|s| Serial::parse(s).ok())
                .ok_or_else(|| {
                    VaultError::Tampered("a serial in the vault is not a valid serial".into())
                })?;
            let set = match set_in_use {
                Some((id, set)) if id == params_id => set,
                _ => {
                    let set = param_set(&self.params, serial.as_str(), params_id)?;
                    set_in_use = Some((params_id, set));
                    set
                }
            };
            let key = self
                .keys
                .iter()
                .find(|(id, _)| *id == dk_id)
                .map(|(_, k)| k)
                .ok_or_else(|| VaultError::Crypto("a seed's data key went missing".into()))?;
            let seed = open_seed(key, &mut aad, serial.as_str(), dk_id, &set.sha256, sealed)?;
            let params = match kept.take() {
                Some((id, params)) if id == params_id => params,
                _ => set.params.clone(),
            };
            let token = Token {
                serial,
                seed,
                params,
            };
            f(&token)?;
            // The serial and the seed (wiped) go; the parameters stay.
            let Token { params, .. } = token;
            kept = Some((params_id, params));
        }
        Ok(())
    }
}

impl UnsealedVault {
    /// Opens the seed of every serial in `serials` (the request's, as the
    /// officers signed them, sorted) in one pass over the database (an
    /// export of 100,000 seeds must not run 100,000 queries), checking on
    /// the way that each serial is still in the vault, active, in `order`
    /// and (unless `reexport`) not exported meanwhile. Returns every
    /// problem that forbids the export, in serial order; none when it may
    /// go ahead.
    ///
    /// The seeds go to `deliver`, in serial order and in [`SeedBatch`]es, so
    /// that they never all exist at once; delivery stops once a problem is
    /// known (the export is then refused and the bundle, ciphertext in
    /// memory, dropped) or when `deliver` returns false (then nothing more
    /// is read). After a problem every serial is still checked, so the
    /// returned problems are all of them. Same integrity guarantees as
    /// [`UnsealedVault::open_token`].
    pub(crate) fn open_request_tokens(
        &self,
        serials: &[String],
        order: &str,
        reexport: bool,
        deliver: &mut dyn FnMut(SeedBatch) -> bool,
    ) -> Result<Vec<String>, VaultError> {
        let conn = self.vault().store().conn();
        // Once per request, not per row: the parameter sets (a handful)
        // and the digest each one's seeds bind in their AAD.
        let params = Arc::new(read_param_sets(conn)?);
        // The request's serials are walked beside a forward range scan of
        // `seeds` (clustered on the serial): a request's serials are mostly
        // runs of consecutive ones, so stepping to the next row is the
        // common case and far cheaper than a seek per serial; a gap of more
        // than `MAX_STEPS` rows ends the scan and the next serial starts a
        // fresh one, so the cost follows the request, never the vault.
        // Whether a row is voided or in another order is worked out by
        // SQLite: one integer, not two strings, crosses per row.
        const MAX_STEPS: u32 = 8;
        let mut seeds_st = conn.prepare(
            "SELECT serial, data_key_id, params_id, sealed,
                    CASE WHEN state = 'voided' THEN 1 WHEN order_id IS ?2 THEN 0 ELSE 2 END
             FROM seeds WHERE serial >= ?1 ORDER BY serial",
        )?;
        // "Exported meanwhile": a serial that a request with a completed
        // export holds. Asked once per range scan of `seeds`, over the same
        // span of serials: SQLite walks that span of `request_serials` and
        // returns only the rows of completed requests (normally none). The
        // span holds this request's serials and at most `MAX_STEPS` others
        // per gap, so this too follows the request. A re-export may repeat
        // serials and skips it.
        let mut exported_st = if reexport {
            None
        } else {
            Some(conn.prepare(
                "SELECT serial FROM request_serials
                 WHERE serial BETWEEN ?1 AND ?2
                   AND request_id IN (SELECT request_id FROM exports WHERE state = 'completed')",
            )?)
        };
        let mut aad = SeedAad::new(self.vault().info().vault_id);
        // By index into `serials`: at most one problem per serial.
        let mut problems = std::collections::BTreeMap::<usize, String>::new();
        let vault_id = self.vault().info().vault_id;
        let mut batch = SeedBatch::new(params.clone(), vault_id);
        let mut delivering = true;
        // A request's seeds mostly share one data key: keep the last one at hand.
        let mut last_key: Option<(i64, std::sync::Arc<SealingKey>)> = None;
        let mut next = 0;
        while let Some(first) = serials.get(next) {
            let start = next;
            let mut rows = seeds_st.query(rusqlite::params![first, order])?;
            rows.advance()?;
            'scan: while let Some(serial) = serials.get(next) {
                let mut steps = 0;
                let present = loop {
                    let Some(row) = rows.get() else { break false };
                    match text_bytes(row, 0)?.cmp(serial.as_bytes()) {
                        std::cmp::Ordering::Less if steps < MAX_STEPS => steps += 1,
                        // A fresh scan starts at this serial.
                        std::cmp::Ordering::Less => break 'scan,
                        std::cmp::Ordering::Equal => break true,
                        std::cmp::Ordering::Greater => break false,
                    }
                    rows.advance()?;
                };
                let row = match rows.get() {
                    Some(row) if present => row,
                    _ => {
                        problems.insert(next, format!("serial {serial} is no longer in the vault"));
                        delivering = false;
                        next += 1;
                        continue;
                    }
                };
                let problem = match row.get::<_, i64>(4)? {
                    0 => None,
                    1 => Some(format!("serial {serial} was voided")),
                    _ => Some(format!("serial {serial} is not in order {order}")),
                };
                if let Some(p) = problem {
                    problems.insert(next, p);
                    delivering = false;
                }
                let (dk_id, pid): (i64, i64) = (row.get(1)?, row.get(2)?);
                let key = match &last_key {
                    Some((id, k)) if *id == dk_id => k.clone(),
                    _ => {
                        let k = self.data_key(dk_id)?;
                        last_key = Some((dk_id, k.clone()));
                        k
                    }
                };
                let sealed = row.get_ref(3)?.as_blob().map_err(rusqlite::Error::from)?;
                if delivering {
                    batch.push(&key, serial, dk_id, sealed, pid)?;
                    if batch.is_full() {
                        let full =
                            std::mem::replace(&mut batch, SeedBatch::new(params.clone(), vault_id));
                        if !deliver(full) {
                            // The receiver gave up; its own error is the one to report.
                            return Ok(Vec::new());
                        }
                    }
                } else {
                    // Opened even when nothing more is delivered: an altered
                    // seed is reported as such, whatever else is wrong.
                    let set = param_set(&params, serial, pid)?;
                    open_seed(&key, &mut aad, serial, dk_id, &set.sha256, sealed)?;
                }
                // Serials are unique in both: both move on.
                rows.advance()?;
                next += 1;
            }
            drop(rows);
            let (Some(st), Some(span)) = (exported_st.as_mut(), serials.get(start..next)) else {
                continue;
            };
            let (Some(low), Some(high)) = (span.first(), span.last()) else {
                continue;
            };
            let taken = st
                .query_map([low, high], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            for s in taken {
                // The span may hold serials of no concern to this request.
                if let Ok(k) = span.binary_search(&s) {
                    problems
                        .entry(start + k)
                        .or_insert_with(|| format!("serial {s} was exported meanwhile"));
                    delivering = false;
                }
            }
        }
        if !delivering {
            // Seeds read before the first problem and never delivered are
            // opened here: an altered seed is reported as such, whatever
            // else is wrong.
            batch.each_token(|_| Ok::<(), VaultError>(()))?;
        } else if batch.len() > 0 {
            deliver(batch);
        }
        Ok(problems.into_values().collect())
    }
}

/// The bytes of text column `i` (empty for NULL): compared as SQLite's
/// BINARY collation orders them, with no UTF-8 check per row.
fn text_bytes<'r>(row: &'r rusqlite::Row<'_>, i: usize) -> rusqlite::Result<&'r [u8]> {
    use rusqlite::types::ValueRef;
    match row.get_ref(i)? {
        ValueRef::Text(b) | ValueRef::Blob(b) => Ok(b),
        _ => Ok(&[]),
    }
}
