//! The log as a file an auditor takes away: JSON Lines, a header record
//! and then one record per entry holding the entry's exact stored bytes
//! (base64), never a re-serialization, so the hashes an auditor computes
//! are the hashes the vault computed. Format: docs/audit-log.md.

use std::io::Write;

use rusqlite::Connection;

use super::AuditError;
use crate::crypto;

/// `format` value of the header record.
pub const FORMAT: &str = "seedvault-audit-export";
/// `version` value of the header record.
pub const VERSION: u32 = 1;

/// Writes the header record (`header`, one JSON object) and every entry in
/// `seq` order; returns how many entries were written.
pub fn write_jsonl(
    conn: &Connection,
    header: &serde_json::Value,
    out: &mut impl Write,
) -> Result<u64, ExportError> {
    serde_json::to_writer(&mut *out, header).map_err(AuditError::Encode)?;
    out.write_all(b"\n")?;
    let mut stmt = conn
        .prepare("SELECT seq, body, hash FROM audit ORDER BY seq")
        .map_err(AuditError::Sqlite)?;
    let mut rows = stmt.query([]).map_err(AuditError::Sqlite)?;
    let mut n = 0u64;
    let mut line = String::new();
    while let Some(row) = rows.next().map_err(AuditError::Sqlite)? {
        let seq: i64 = row.get(0).map_err(AuditError::Sqlite)?;
        // Bytes exactly as stored; a body altered into TEXT is exported as its bytes too.
        let body: Vec<u8> = match row.get_ref(1).map_err(AuditError::Sqlite)? {
            rusqlite::types::ValueRef::Blob(b) | rusqlite::types::ValueRef::Text(b) => b.to_vec(),
            _ => Vec::new(),
        };
        let hash: Vec<u8> = row.get(2).unwrap_or_default();
        line.clear();
        line.push_str("{\"seq\":");
        line.push_str(&seq.to_string());
        line.push_str(",\"hash\":\"");
        line.push_str(&crypto::hex(&hash));
        line.push_str("\",\"body_b64\":\"");
        data_encoding::BASE64.encode_append(&body, &mut line);
        line.push_str("\"}\n");
        out.write_all(line.as_bytes())?;
        n += 1;
    }
    Ok(n)
}

/// Export failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The log could not be read.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The file could not be written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
