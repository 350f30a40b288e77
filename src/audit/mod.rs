//! The append-only, hash-chained audit log.
//!
//! Each entry is a JSON object stored as the exact bytes that were hashed;
//! verifiers hash the stored bytes and never re-serialize, so the format
//! can be checked by a few lines of any language (`docs/audit-log.md`):
//!
//! ```text
//! body_n = {"v":1,"seq":n,"prev":hex(hash_{n-1}),"time":..,"vault":..,
//!           "event":..,"actors":[..],"data":{..}}
//! hash_n = SHA-256(body_n)          hash_0 = 32 zero bytes
//! ```
//!
//! Entries are appended only inside the transaction of the change they
//! record (`Store::write`), so a change without its entry, or an entry
//! without its change, cannot be committed. No entry holds a secret.

pub mod binaries;
pub mod checkpoint;
pub mod events;
pub mod export;
pub mod index;
pub mod replay;
pub mod verify;
mod walk;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::crypto;

pub use checkpoint::{Checkpoint, CheckpointError};
pub use replay::{replay, ReplayReport};
pub use verify::{verify_chain, ChainProblem, ChainReport};

/// Format version written in every entry.
pub const ENTRY_VERSION: u32 = 1;

/// A state change to record.
#[derive(Debug, Clone)]
pub struct Event {
    /// What happened, e.g. `vault.init` (see [`events`]).
    pub kind: &'static str,
    /// Who did it: custodian names (from their cards) or `system`.
    pub actors: Vec<String>,
    /// What changed; public data only.
    pub data: serde_json::Value,
}

/// The end of the chain: how many entries and the last hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Number of entries (the last `seq`).
    pub count: u64,
    /// SHA-256 of the last entry (zeros for an empty log).
    pub hash: [u8; 32],
}

impl Head {
    /// The hash as lower-case hex.
    pub fn hash_hex(&self) -> String {
        crypto::hex(&self.hash)
    }
}

/// Audit failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The database failed.
    #[error("audit log database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// An entry could not be encoded (cannot happen for well-formed events).
    #[error("audit entry encoding failed: {0}")]
    Encode(#[from] serde_json::Error),
}

#[derive(Serialize)]
struct Body<'a> {
    v: u32,
    seq: u64,
    prev: String,
    time: &'a str,
    vault: &'a str,
    event: &'a str,
    actors: &'a [String],
    data: &'a serde_json::Value,
}

/// The current head.
pub fn head(conn: &Connection) -> Result<Head, AuditError> {
    // rusqlite refuses a negative or oversized stored seq (an edited row)
    // with an out-of-range error instead of wrapping it.
    let row: Option<(u64, Vec<u8>)> = conn
        .query_row(
            "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(match row {
        None => Head {
            count: 0,
            hash: [0; 32],
        },
        Some((seq, h)) => {
            let mut hash = [0u8; 32];
            if h.len() == 32 {
                hash.copy_from_slice(&h);
            }
            Head { count: seq, hash }
        }
    })
}

/// The stored body of the genesis entry (entry 1), `None` when there is
/// none. Read as stored: its hash is the chain walk's to check.
pub fn genesis_body(conn: &Connection) -> rusqlite::Result<Option<Vec<u8>>> {
    conn.query_row("SELECT body FROM audit WHERE seq = 1", [], |r| r.get(0))
        .optional()
}

/// Current time as RFC 3339 UTC with seconds, the log's time format.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

/// Appends `event` after the current head. Call inside the transaction of
/// the change the event records.
pub fn append(conn: &Connection, vault_id: &str, event: &Event) -> Result<Head, AuditError> {
    let prev = head(conn)?;
    let time = now_rfc3339();
    let body = serde_json::to_vec(&Body {
        v: ENTRY_VERSION,
        seq: prev.count + 1,
        prev: crypto::hex(&prev.hash),
        time: &time,
        vault: vault_id,
        event: event.kind,
        actors: &event.actors,
        data: &event.data,
    })?;
    let hash = crypto::sha256(&body);
    conn.execute(
        "INSERT INTO audit (seq, body, hash) VALUES (?1, ?2, ?3)",
        params![prev.count + 1, body, &hash[..]],
    )?;
    index::add(conn, prev.count + 1, event.kind, &event.actors, &event.data)?;
    Ok(Head {
        count: prev.count + 1,
        hash,
    })
}
