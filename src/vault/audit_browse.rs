//! Paging and filtering the audit log for a browser (the terminal UI's
//! Audit screen), without reading the whole log.
//!
//! A page is a window of consecutive entries that match a filter, found by
//! `seq` with SQL `LIMIT`, so the cost of a key press is the cost of one
//! page whatever the log's length. A filter goes through the lookup table
//! `audit_index` ([`crate::audit::index`]), which is outside the chain: each
//! entry it points to is read and kept only if its own body says what the
//! filter asks. An edited index therefore never shows an entry that does
//! not match; it can only hide one from a filtered view, and the
//! unfiltered log and `audit verify` stay the truth.

use serde_json::Value;

pub use super::query::pretty_json;
use super::query::AuditEntry;
use super::{Vault, VaultError};

/// What a filter looks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditFilter {
    /// Entries of one event type (`vault.unsealed`).
    Event(String),
    /// Entries naming a serial (alone or in a list).
    Serial(String),
    /// Entries of one order.
    Order(String),
    /// Entries of one seed request.
    Request(String),
    /// Entries one officer acted in.
    Officer(String),
}

impl AuditFilter {
    /// Reads `kind:value` (kinds `event`, `serial`, `order`, `request`,
    /// `officer`); a bare value is an event type.
    pub fn parse(text: &str) -> Result<AuditFilter, VaultError> {
        let text = text.trim();
        let (kind, value) = text.split_once(':').unwrap_or(("event", text));
        let value = value.trim().to_owned();
        if value.is_empty() {
            return Err(VaultError::Refused(
                "the filter is empty: type kind:value, e.g. serial:306EUO4-00960".into(),
            ));
        }
        Ok(match kind.trim() {
            "event" => AuditFilter::Event(value),
            "serial" => AuditFilter::Serial(value),
            "order" => AuditFilter::Order(value),
            "request" => AuditFilter::Request(value),
            "officer" => AuditFilter::Officer(value),
            _ => {
                return Err(VaultError::Refused(
                    "unknown filter kind: use event, serial, order, request or officer".into(),
                ))
            }
        })
    }

    /// The index key and value.
    fn term(&self) -> (&'static str, &str) {
        match self {
            AuditFilter::Event(v) => ("event", v),
            AuditFilter::Serial(v) => ("serial", v),
            AuditFilter::Order(v) => ("order", v),
            AuditFilter::Request(v) => ("request", v),
            AuditFilter::Officer(v) => ("officer", v),
        }
    }

    /// Whether an entry's body says what the filter asks (the index is
    /// only a hint).
    pub fn matches(&self, body: &Value) -> bool {
        let data = &body["data"];
        let is = |v: &Value, want: &str| v.as_str() == Some(want);
        match self {
            AuditFilter::Event(w) => is(&body["event"], w),
            AuditFilter::Officer(w) => body["actors"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| is(x, w))),
            AuditFilter::Order(w) => is(&data["order_id"], w),
            AuditFilter::Request(w) => is(&data["request_id"], w),
            AuditFilter::Serial(w) => {
                is(&data["serial"], w)
                    || data["serials"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|x| is(x, w)))
            }
        }
    }
}

/// The fields a filter other than `serial` reads; the rest of the body
/// (a batch's 10,000 serials) is skipped, not built.
#[derive(serde::Deserialize)]
struct Probe {
    #[serde(default)]
    event: Value,
    #[serde(default)]
    actors: Value,
    #[serde(default)]
    data: Option<ProbeData>,
}

#[derive(serde::Deserialize, Default)]
struct ProbeData {
    #[serde(default)]
    order_id: Value,
    #[serde(default)]
    request_id: Value,
}

impl AuditFilter {
    /// [`AuditFilter::matches`] on the stored bytes, reading only what the
    /// filter needs.
    pub fn matches_body(&self, body: &[u8]) -> bool {
        if let AuditFilter::Serial(_) = self {
            return serde_json::from_slice::<Value>(body).is_ok_and(|v| self.matches(&v));
        }
        let Ok(p) = serde_json::from_slice::<Probe>(body) else {
            return false;
        };
        let data = p.data.unwrap_or_default();
        let v = serde_json::json!({
            "event": p.event,
            "actors": p.actors,
            "data": {"order_id": data.order_id, "request_id": data.request_id},
        });
        self.matches(&v)
    }
}

impl std::fmt::Display for AuditFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (k, v) = self.term();
        write!(f, "{k}:{v}")
    }
}

/// Where a page lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// The first entries.
    First,
    /// The last entries.
    Last,
    /// Starting at this `seq` (or the first match after it).
    From(u64),
    /// Ending at this `seq` (or the last match before it).
    Until(u64),
    /// The entries after this `seq`.
    After(u64),
    /// The entries before this `seq`.
    Before(u64),
}

/// One window of the log.
#[derive(Debug, Clone, Default)]
pub struct AuditPage {
    /// The entries, in `seq` order (at most the rows asked for; fewer only
    /// when fewer match). Each `json` is the entry as stored; show it with
    /// [`pretty_json`] when opened.
    pub entries: Vec<AuditEntry>,
    /// Whether matching entries come before the first.
    pub more_before: bool,
    /// Whether matching entries come after the last.
    pub more_after: bool,
}

impl AuditPage {
    /// The first entry's `seq`.
    pub fn first_seq(&self) -> Option<u64> {
        self.entries.first().map(|e| e.seq)
    }

    /// The last entry's `seq`.
    pub fn last_seq(&self) -> Option<u64> {
        self.entries.last().map(|e| e.seq)
    }
}

/// Most candidates read per query while a filter drops entries.
const MAX_BATCH: usize = 1024;

impl Vault {
    /// A window of at most `rows` entries matching `filter` at `anchor`.
    /// A window that would run past either end is moved back inside
    /// (paging never shows an empty page while entries match).
    pub fn audit_page(
        &self,
        filter: Option<&AuditFilter>,
        anchor: Anchor,
        rows: usize,
    ) -> Result<AuditPage, VaultError> {
        let rows = rows.max(1);
        let (mut found, forward) = match anchor {
            Anchor::First => (self.scan(filter, true, 0, rows)?, true),
            Anchor::Last => (self.scan(filter, false, u64::MAX, rows)?, false),
            Anchor::From(s) => (self.scan(filter, true, s.saturating_sub(1), rows)?, true),
            Anchor::After(s) => (self.scan(filter, true, s, rows)?, true),
            Anchor::Until(s) => (self.scan(filter, false, s.saturating_add(1), rows)?, false),
            Anchor::Before(s) => (self.scan(filter, false, s, rows)?, false),
        };
        if !forward {
            found.reverse();
        }
        if found.len() < rows {
            // Ran into an end: the window is the one at that end.
            found = if forward {
                let mut v = self.scan(filter, false, u64::MAX, rows)?;
                v.reverse();
                v
            } else {
                self.scan(filter, true, 0, rows)?
            };
        }
        let more_before = match found.first() {
            Some(e) => !self.scan(filter, false, e.seq, 1)?.is_empty(),
            None => false,
        };
        let more_after = match found.last() {
            Some(e) => !self.scan(filter, true, e.seq, 1)?.is_empty(),
            None => false,
        };
        Ok(AuditPage {
            entries: found,
            more_before,
            more_after,
        })
    }

    /// Up to `want` matching entries after (`forward`) or before `from`,
    /// nearest first.
    fn scan(
        &self,
        filter: Option<&AuditFilter>,
        forward: bool,
        from: u64,
        want: usize,
    ) -> Result<Vec<AuditEntry>, VaultError> {
        let conn = self.store().conn();
        let from = i64::try_from(from).unwrap_or(i64::MAX);
        let (cmp, order) = if forward { (">", "ASC") } else { ("<", "DESC") };
        let mut out = Vec::new();
        let mut cursor = from;
        // Ask for what is wanted; ask for more (doubling) only when the
        // bodies drop candidates (a stale index), so a page of large
        // entries (a batch's serial lists) reads no more than it shows.
        let mut limit = want.max(1);
        loop {
            let limit_sql = i64::try_from(limit).unwrap_or(i64::MAX);
            let mut got: Vec<(i64, Vec<u8>)> = Vec::new();
            match filter {
                None => {
                    let sql = format!(
                        "SELECT seq, body FROM audit WHERE seq {cmp} ?1 ORDER BY seq {order} LIMIT ?2"
                    );
                    let mut stmt = conn.prepare_cached(&sql)?;
                    let rows = stmt.query_map(rusqlite::params![cursor, limit_sql], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, Vec<u8>>(1).unwrap_or_default(),
                        ))
                    })?;
                    for r in rows {
                        got.push(r?);
                    }
                }
                Some(f) => {
                    let (k, v) = f.term();
                    let sql = if k == "serial" {
                        // The serial's own entries, the `export.completed`
                        // of each request that holds it (an export's list
                        // is not indexed serial by serial), and the
                        // `batch.serials` part of its batch that names it
                        // (the parts are written just before the batch's
                        // `batch.ingested`, which counts them; SQLite's
                        // substring search narrows them to the one naming
                        // the serial). The body check below confirms each.
                        format!(
                            "SELECT a.seq, a.body FROM ( \
                               SELECT seq FROM ( \
                                 SELECT i.seq AS seq FROM audit_index i WHERE i.key = ?1 AND i.value = ?2 \
                                 UNION \
                                 SELECT e.seq AS seq FROM request_serials r \
                                   JOIN audit_index e ON e.key = 'request' AND e.value = r.request_id \
                                   JOIN audit_index k ON k.key = 'event' AND k.value = 'export.completed' AND k.seq = e.seq \
                                   WHERE r.serial = ?2 \
                                 UNION \
                                 SELECT p.seq AS seq FROM seeds s JOIN batches b ON b.id = s.batch_id \
                                   JOIN audit g ON g.seq = b.audit_seq \
                                   JOIN audit_index p ON p.key = 'event' AND p.value = 'batch.serials' \
                                     AND p.seq < b.audit_seq \
                                     AND p.seq >= b.audit_seq - COALESCE(json_extract(CAST(g.body AS TEXT), '$.data.parts'), 0) \
                                   JOIN audit pa ON pa.seq = p.seq \
                                   WHERE s.serial = ?2 \
                                     AND instr(CAST(pa.body AS TEXT), '\"' || ?2 || '\"') > 0) \
                               WHERE seq {cmp} ?3 ORDER BY seq {order} LIMIT ?4) c \
                             JOIN audit a ON a.seq = c.seq ORDER BY a.seq {order}"
                        )
                    } else {
                        format!(
                            "SELECT i.seq, a.body FROM audit_index i JOIN audit a ON a.seq = i.seq \
                             WHERE i.key = ?1 AND i.value = ?2 AND i.seq {cmp} ?3 \
                             ORDER BY i.seq {order} LIMIT ?4"
                        )
                    };
                    let mut stmt = conn.prepare_cached(&sql)?;
                    let rows = stmt.query_map(rusqlite::params![k, v, cursor, limit_sql], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, Vec<u8>>(1).unwrap_or_default(),
                        ))
                    })?;
                    for r in rows {
                        got.push(r?);
                    }
                }
            }
            let exhausted = got.len() < limit;
            for (seq, body) in got {
                cursor = seq;
                if filter.is_some_and(|f| !f.matches_body(&body)) {
                    continue; // the index says so, the entry does not
                }
                out.push(super::query::decode_entry_raw(
                    u64::try_from(seq).unwrap_or(0),
                    &body,
                ));
                if out.len() == want {
                    return Ok(out);
                }
            }
            if exhausted {
                return Ok(out);
            }
            limit = (limit * 2).min(MAX_BATCH.max(want));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_and_match_the_body() {
        let f = AuditFilter::parse("serial:A-1").unwrap();
        assert_eq!(f, AuditFilter::Serial("A-1".into()));
        let body = serde_json::json!({"event": "order.assigned", "actors": ["bob"],
            "data": {"order_id": "1234", "serials": ["A-1"]}});
        assert!(f.matches(&body));
        assert!(AuditFilter::parse("order:1234").unwrap().matches(&body));
        assert!(AuditFilter::parse("officer:bob").unwrap().matches(&body));
        assert!(AuditFilter::parse("order.assigned").unwrap().matches(&body));
        assert!(!AuditFilter::parse("officer:alice").unwrap().matches(&body));
        let bytes = serde_json::to_vec(&body).unwrap();
        for f in ["serial:A-1", "order:1234", "officer:bob", "order.assigned"] {
            assert!(AuditFilter::parse(f).unwrap().matches_body(&bytes), "{f}");
        }
        assert!(!AuditFilter::parse("request:R1")
            .unwrap()
            .matches_body(&bytes));
        assert!(!AuditFilter::parse("order:1234")
            .unwrap()
            .matches_body(b"not json"));
        assert!(AuditFilter::parse("colour:red").is_err());
        assert!(AuditFilter::parse("serial:").is_err());
    }
}
