//! Retention: how long a delivered seed stays in the vault.
//!
//! A vendor keeps seeds "for a limited period of time and then deletes
//! them after the seeds were transferred to end users" (Token2). The
//! policy is one number, days after a seed's first completed export, set
//! by one officer and kept in the log only (`retention.set`): there is no
//! table to edit. It decides nothing by itself: `retention due` lists what
//! it makes due, and destroying those seeds still takes two officers who
//! sign the very serials (`destroy/`), each checked against the log as
//! exported or voided. So a forged policy can at most list seeds early;
//! it cannot destroy one.

use serde::Serialize;
use serde_json::json;

use super::{Officer, Vault, VaultError};
use crate::audit::{self, events, Event};

/// Longest retention accepted, in days (a century).
pub const MAX_RETENTION_DAYS: u32 = 36_500;

/// The retention policy in force, from its `retention.set` entry.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Seeds are due this many days after their first completed export.
    pub after_export_days: u32,
    /// When it was set (RFC 3339).
    pub set_at: String,
    /// By whom.
    pub set_by: String,
    /// Its log entry.
    pub audit_seq: u64,
}

/// The serials of one order that are due for destruction.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DueOrder {
    /// The order.
    pub order_id: String,
    /// Its due serials, ascending.
    pub serials: Vec<String>,
    /// The earliest first export among them (RFC 3339).
    pub first_exported_at: String,
}

/// `time` (RFC 3339, the log's format) `days` days before `now` (unix).
fn cutoff(now: i64, days: u32) -> String {
    let t = now.saturating_sub(i64::from(days) * 86_400);
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "0000-00-00T00:00:00Z".into())
}

impl Vault {
    /// The policy in force: the last `retention.set` entry (found through
    /// the log's index and checked against the entry's body), or `None`.
    pub fn retention_policy(&self) -> Result<Option<RetentionPolicy>, VaultError> {
        let Some((seq, e)) = super::status::last_entry(self.store().conn(), events::RETENTION_SET)?
        else {
            return Ok(None);
        };
        let days = e["data"]["after_export_days"]
            .as_u64()
            .and_then(|d| u32::try_from(d).ok())
            .ok_or_else(|| {
                VaultError::Tampered(format!(
                    "the retention.set entry {seq} holds no readable number of days"
                ))
            })?;
        Ok(Some(RetentionPolicy {
            after_export_days: days,
            set_at: e["time"].as_str().unwrap_or_default().to_owned(),
            set_by: e["actors"][0].as_str().unwrap_or_default().to_owned(),
            audit_seq: seq,
        }))
    }

    /// Sets the retention policy (`retention set`); one officer's card.
    pub fn set_retention(
        &mut self,
        after_export_days: u32,
        officer: &Officer,
    ) -> Result<RetentionPolicy, VaultError> {
        if after_export_days > MAX_RETENTION_DAYS {
            return Err(VaultError::Refused(format!(
                "--after-export {after_export_days}: at most {MAX_RETENTION_DAYS} days"
            )));
        }
        let previous = self.retention_policy()?.map(|p| p.after_export_days);
        let id = self.info().vault_id.to_string();
        let name = officer.name.clone();
        let head = self.store_mut().write(|tx| {
            audit::append(
                tx,
                &id,
                &Event {
                    kind: events::RETENTION_SET,
                    actors: vec![name.clone()],
                    data: json!({ "after_export_days": after_export_days, "previous": previous }),
                },
            )
            .map_err(VaultError::from)
        })?;
        self.retention_policy()?
            .filter(|p| p.audit_seq == head.count)
            .ok_or_else(|| {
                VaultError::Tampered("the retention.set entry just written cannot be read".into())
            })
    }

    /// The serials due for destruction at `now` (unix seconds) under the
    /// policy in force, grouped by order: exported (first completed
    /// export) at least the policy's days ago and still in the vault.
    /// Refused when no policy is set.
    pub fn retention_due(&self, now: i64) -> Result<(RetentionPolicy, Vec<DueOrder>), VaultError> {
        let policy = self.retention_policy()?.ok_or_else(|| {
            VaultError::Refused(
                "no retention policy is set; set one with `seedvault retention set --after-export DAYS`"
                    .into(),
            )
        })?;
        let conn = self.store().conn();
        let mut st = conn.prepare(
            "SELECT r.order_id, rs.serial, min(e.finished_at) AS first
             FROM exports e JOIN requests r ON r.id = e.request_id
             JOIN request_serials rs ON rs.request_id = e.request_id
             WHERE e.state = 'completed' AND e.finished_at IS NOT NULL
               AND EXISTS (SELECT 1 FROM seeds s WHERE s.serial = rs.serial)
             GROUP BY rs.serial HAVING first <= ?1
             ORDER BY r.order_id, rs.serial",
        )?;
        let mut out: Vec<DueOrder> = Vec::new();
        let rows = st.query_map([cutoff(now, policy.after_export_days)], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        for row in rows {
            let (order, serial, first) = row?;
            match out.last_mut() {
                Some(o) if o.order_id == order => {
                    o.serials.push(serial);
                    if first < o.first_exported_at {
                        o.first_exported_at = first;
                    }
                }
                _ => out.push(DueOrder {
                    order_id: order,
                    serials: vec![serial],
                    first_exported_at: first,
                }),
            }
        }
        Ok((policy, out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutoff_is_days_before_now_in_the_logs_format() {
        // 2026-11-29T00:00:00Z
        let now = 1_795_910_400;
        assert_eq!(cutoff(now, 0), "2026-11-29T00:00:00Z");
        assert_eq!(cutoff(now, 30), "2026-10-30T00:00:00Z");
    }
}
