//! Read-only queries for front ends that browse the vault (the terminal
//! UI's audit tab). Nothing here needs a card or changes anything.

use serde::Deserialize;

use super::{Vault, VaultError};

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
        let rows = stmt.query_map([limit.min(i64::MAX as u64) as i64], |r| {
            let seq = r.get::<_, i64>(0)? as u64;
            let body = r.get::<_, Vec<u8>>(1).unwrap_or_default();
            Ok((seq, body))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, body) = row?;
            let value: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
            let summary = value
                .clone()
                .and_then(|v| serde_json::from_value::<Summary>(v).ok())
                .unwrap_or_else(|| Summary {
                    event: "(unreadable)".into(),
                    ..Summary::default()
                });
            let json = value
                .and_then(|v| serde_json::to_string_pretty(&v).ok())
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            out.push(AuditEntry {
                seq,
                time: summary.time,
                event: summary.event,
                actors: summary.actors,
                json,
            });
        }
        Ok(out)
    }
}
