//! What `seedvault status` reports: no card needed, nothing secret.

use serde::Serialize;

use super::{init::genesis_data, RequestStateKind, VaultError, VaultInfo};
use crate::audit;
use crate::store::Store;

/// Seed and batch counts.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Counts {
    /// Sealed seeds in the vault.
    pub seeds: u64,
    /// Seeds that can still be exported.
    pub active: u64,
    /// Voided seeds (e.g. reprogrammed tokens).
    pub voided: u64,
    /// Seeds exported at least once.
    pub exported: u64,
    /// Ingested batches.
    pub batches: u64,
}

/// `n` with its noun, singular for exactly one: "1 batch", "2 batches".
/// Both front ends word their counts with it.
pub fn counted(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

impl Counts {
    /// The line both front ends show: "20 (18 active, 2 voided, 10
    /// exported) in 1 batch".
    pub fn summary(&self) -> String {
        format!(
            "{} ({} active, {} voided, {} exported) in {}",
            self.seeds,
            self.active,
            self.voided,
            self.exported,
            counted(self.batches, "batch", "batches")
        )
    }
}

/// The audit log's head.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AuditStatus {
    /// Number of entries.
    pub entries: u64,
    /// SHA-256 of the last entry, hex.
    pub head: String,
}

impl AuditStatus {
    /// "N entries, head H" (singular for one entry).
    pub fn summary(&self) -> String {
        format!(
            "{}, head {}",
            counted(self.entries, "entry", "entries"),
            self.head
        )
    }
}

/// The vault at a glance.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Vault id.
    pub vault_id: String,
    /// Created at (RFC 3339).
    pub created_at: String,
    /// M.
    pub threshold: u8,
    /// N.
    pub share_count: u8,
    /// Custodian names, by share.
    pub custodians: Vec<String>,
    /// True for a vault made with `--insecure-fast-kdf`: never for real seeds.
    pub test_vault: bool,
    /// Master key version.
    pub key_version: u32,
    /// Vault key fingerprint.
    pub vault_fingerprint: String,
    /// Counts.
    pub counts: Counts,
    /// Audit log head.
    pub audit: AuditStatus,
    /// Orders recorded.
    pub orders: u64,
    /// Seed requests by state: pending, approved (awaiting export).
    pub requests_pending: u64,
    /// Approved, not yet exported.
    pub requests_approved: u64,
    /// Exports that started and never completed (the process was killed
    /// or the machine lost power): check the medium and the log.
    pub unfinished_exports: Vec<UnfinishedExport>,
    /// Mounted removable media, with free space.
    pub media: Vec<crate::media::Medium>,
    /// Rejected requests.
    pub requests_rejected: u64,
    /// Exported requests.
    pub requests_exported: u64,
    /// The latest checkpoint the vault stored (as its table says: the
    /// signature is checked by `audit verify`), if any.
    pub last_checkpoint: Option<CheckpointStatus>,
    /// The last backup the log records (`vault.backed_up`), if any.
    pub last_backup: Option<LastBackup>,
    /// The retention policy in force (`retention.set`), if any (d1).
    pub retention: Option<super::RetentionPolicy>,
    /// Serials whose seeds were destroyed (`seeds destroy`, d1).
    pub destroyed: u64,
}

/// The last backup, from its `vault.backed_up` entry (branch k2).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LastBackup {
    /// When it was written (RFC 3339, the entry's time).
    pub at: String,
    /// Its age in seconds.
    pub age_s: i64,
    /// Where it was written.
    pub out: String,
    /// The backup's log head: entries.
    pub entries: u64,
    /// The backup's log head: hash.
    pub head: String,
    /// True when a rekey (`vault.rekeyed`) came after it: that backup still
    /// opens with the retired cards, so destroy it and take a new one.
    pub predates_rekey: bool,
}

/// The last entry of `event` as (seq, parsed body), found through the
/// log's lookup table (`audit_index`) and checked against the entry's own
/// body. For display only: a deleted index row shows an older backup,
/// never a backup that did not happen.
pub(super) fn last_entry(
    conn: &rusqlite::Connection,
    event: &str,
) -> Result<Option<(u64, serde_json::Value)>, VaultError> {
    let mut stmt = conn.prepare(
        "SELECT a.seq, a.body FROM audit_index i JOIN audit a ON a.seq = i.seq \
         WHERE i.key = 'event' AND i.value = ?1 ORDER BY i.seq DESC",
    )?;
    let mut rows = stmt.query([event])?;
    while let Some(r) = rows.next()? {
        let body: Vec<u8> = r.get(1)?;
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
            if v["event"] == event {
                return Ok(Some((r.get(0)?, v)));
            }
        }
    }
    Ok(None)
}

/// The last backup and whether a rekey came after it.
fn last_backup(conn: &rusqlite::Connection) -> Result<Option<LastBackup>, VaultError> {
    let Some((seq, e)) = last_entry(conn, audit::events::VAULT_BACKED_UP)? else {
        return Ok(None);
    };
    let rekeyed = last_entry(conn, "vault.rekeyed")?.is_some_and(|(r, _)| r > seq);
    let at = e["time"].as_str().unwrap_or_default().to_owned();
    let age_s = time::OffsetDateTime::parse(&at, &time::format_description::well_known::Rfc3339)
        .map(|t| super::clock::unix_now() - t.unix_timestamp())
        .unwrap_or(0);
    let d = &e["data"];
    Ok(Some(LastBackup {
        at,
        age_s,
        out: d["out"].as_str().unwrap_or_default().to_owned(),
        entries: d["head"]["entries"].as_u64().unwrap_or(0),
        head: d["head"]["hash"].as_str().unwrap_or_default().to_owned(),
        predates_rekey: rekeyed,
    }))
}

/// The latest stored checkpoint, for display.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CheckpointStatus {
    /// Entries it covers.
    pub entries: u64,
    /// When it was signed.
    pub created_at: String,
}

/// An export with an `export.started` entry and no end.
#[derive(Debug, Clone, Serialize)]
pub struct UnfinishedExport {
    /// Export id.
    pub export_id: i64,
    /// Its request.
    pub request_id: String,
    /// When it started.
    pub started_at: String,
}

impl super::Vault {
    /// Collects the status.
    pub fn status(&self) -> Result<Status, VaultError> {
        let conn = self.store.conn();
        let count = |sql: &str| -> Result<u64, VaultError> {
            Ok(conn.query_row(sql, [], |r| r.get::<_, u64>(0))?)
        };
        // Both counts come from the `seeds_state` index; the schema's CHECK
        // allows only the two states, so the active ones are the rest.
        let seeds = count("SELECT count(*) FROM seeds")?;
        let voided = count("SELECT count(*) FROM seeds WHERE state = 'voided'")?;
        let counts = Counts {
            seeds,
            active: seeds.saturating_sub(voided),
            voided,
            exported: count("SELECT count(*) FROM seed_exports")?,
            batches: count("SELECT count(*) FROM batches")?,
        };
        let requests_in = |k: RequestStateKind| -> Result<u64, VaultError> {
            Ok(conn.query_row(
                "SELECT count(*) FROM requests WHERE state = ?1",
                [k.as_str()],
                |r| r.get::<_, u64>(0),
            )?)
        };
        let head = audit::head(conn)?;
        let info = &self.info;
        let vault_fingerprint = crate::pgp::keys::parse_public_cert(&info.vault_cert)
            .map(|c| c.fingerprint().to_hex())
            .unwrap_or_else(|_| "(unreadable)".into());
        Ok(Status {
            vault_id: info.vault_id.to_string(),
            created_at: info.created_at.clone(),
            threshold: info.threshold,
            share_count: info.share_count,
            custodians: info.custodians.iter().map(|c| c.name.clone()).collect(),
            test_vault: info.test_vault,
            key_version: info.key_version,
            vault_fingerprint,
            counts,
            audit: AuditStatus {
                entries: head.count,
                head: head.hash_hex(),
            },
            orders: count("SELECT count(*) FROM orders")?,
            requests_pending: requests_in(RequestStateKind::Pending)?,
            requests_approved: requests_in(RequestStateKind::Approved)?,
            unfinished_exports: super::export::unfinished(conn)?
                .into_iter()
                .map(|(export_id, request_id, started_at)| UnfinishedExport {
                    export_id,
                    request_id,
                    started_at,
                })
                .collect(),
            media: crate::media::removable_media(),
            requests_rejected: requests_in(RequestStateKind::Rejected)?,
            requests_exported: requests_in(RequestStateKind::Exported)?,
            last_checkpoint: rusqlite::OptionalExtension::optional(conn.query_row(
                "SELECT seq, created_at FROM checkpoints ORDER BY seq DESC LIMIT 1",
                [],
                |r| {
                    Ok(CheckpointStatus {
                        entries: r.get(0)?,
                        created_at: r.get(1)?,
                    })
                },
            ))?,
            last_backup: last_backup(conn)?,
            retention: self.retention_policy()?,
            destroyed: count("SELECT count(*) FROM destroyed_serials")?,
        })
    }
}

/// Compares the vault's fixed facts with what the genesis entry recorded;
/// `Some(problem)` when they differ (the tables were edited). The log's
/// re-issue and rekey entries are `enrolments` when the caller has read
/// them (`reissue::enrolment_entries`, or a full chain walk), or read here.
pub(crate) fn genesis_mismatch_given(
    store: &Store,
    info: &VaultInfo,
    enrolments: Option<crate::audit::verify::Enrolments>,
) -> Result<Option<String>, VaultError> {
    let body = crate::audit::genesis_body(store.conn())?;
    let Some(body) = body else { return Ok(None) }; // reported by the chain walk
    let Ok(entry) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return Ok(None);
    };
    let recorded = entry.get("data").cloned().unwrap_or_default();
    // After a rekey the tables hold the latest epoch's custodians and keys.
    let mut recorded =
        match super::rekey::current_epoch_data(store.conn(), recorded, info.key_version) {
            Ok(r) => r,
            Err(why) => {
                return Ok(Some(format!(
                    "the vault's key epoch is inconsistent: {why}"
                )))
            }
        };
    // Officer keys a re-issue enrolled in the epoch in force (signed by the
    // vault key) replace that epoch's in the custodians table.
    let epoch_start = super::rekey::epochs(store.conn())?
        .last()
        .map_or(0, |e| e.audit_seq);
    let reenrolled = match enrolments {
        Some(rows) => super::reissue::reenrolled_in(store.conn(), rows, &info.vault_cert),
        None => super::reissue::reenrolled(store.conn(), &info.vault_cert),
    };
    let reenrolled = match reenrolled {
        Ok(r) => r,
        Err(problem) => return Ok(Some(problem)),
    };
    for r in reenrolled.into_iter().filter(|r| r.seq > epoch_start) {
        for c in recorded["custodians"].as_array_mut().into_iter().flatten() {
            if c["name"] == r.name.as_str() {
                c["officer_fingerprint"] = r.fingerprint.clone().into();
                c["officer_cert"] = data_encoding::BASE64.encode(&r.cert).into();
            }
        }
    }
    let expected = genesis_data(info);
    if recorded == expected {
        return Ok(None);
    }
    let fields: Vec<String> = match (expected.as_object(), recorded.as_object()) {
        (Some(e), Some(r)) => e
            .iter()
            .filter(|(k, v)| r.get(*k) != Some(v))
            .map(|(k, _)| k.clone())
            .collect(),
        _ => vec!["data".into()],
    };
    Ok(Some(format!(
        "the vault's configuration differs from what the genesis entry recorded ({}): the vault or custodians table was edited",
        fields.join(", ")
    )))
}

#[cfg(test)]
mod k2_tests {
    use super::*;
    use crate::audit::{append, Event};

    fn log(events: &[&'static str]) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE audit (seq INTEGER PRIMARY KEY, body BLOB NOT NULL, hash BLOB NOT NULL);
             CREATE TABLE audit_index (key TEXT NOT NULL, value TEXT NOT NULL, seq INTEGER NOT NULL,
                 PRIMARY KEY (key, value, seq)) STRICT, WITHOUT ROWID;",
        )
        .unwrap();
        for (i, kind) in events.iter().enumerate() {
            let data = serde_json::json!({
                "head": { "entries": i, "hash": "ab" },
                "out": format!("/media/b{i}"),
                "new_version": 2,
            });
            append(
                &conn,
                "00",
                &Event {
                    kind,
                    actors: vec![],
                    data,
                },
            )
            .unwrap();
        }
        conn
    }

    /// Branch k2: the last backup, and the warning once a rekey follows it.
    #[test]
    fn last_backup_warns_when_a_rekey_came_after_it() {
        assert_eq!(last_backup(&log(&["vault.init"])).unwrap(), None);
        let b = last_backup(&log(&[
            "vault.rekeyed",
            "vault.backed_up",
            "vault.backed_up",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            (b.out.as_str(), b.entries, b.predates_rekey),
            ("/media/b2", 2, false)
        );
        assert!(b.age_s >= 0 && b.age_s < 60, "{}", b.age_s);
        let b = last_backup(&log(&["vault.backed_up", "vault.rekeyed"]))
            .unwrap()
            .unwrap();
        assert!(b.predates_rekey);
    }
}
