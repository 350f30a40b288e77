//! Which binaries unsealed the vault, read from the `vault.unsealed`
//! entries, for `audit replay`.
//!
//! Each unseal records the SHA-256 of the executable that held the master
//! key (`binary_sha256`, see `vault::binary`). An auditor compares those
//! with the published release hashes; what they need from the log is the
//! list of distinct binaries with when each was used, and the entries where
//! one session's binary differs from the previous session's. Entries
//! written before the field existed count as one "not recorded" binary, so
//! an upgrade to a recording version shows as a change too.

use serde::Serialize;
use serde_json::Value;

/// One binary seen in `vault.unsealed` entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BinarySeen {
    /// Its SHA-256, or null for entries that recorded none.
    pub sha256: Option<String>,
    /// The version it logged (`binary_version`), if any.
    pub version: Option<String>,
    /// How many unseals it made.
    pub unseals: u64,
    /// Its first unseal: entry number and time.
    pub first_entry: u64,
    /// Time of `first_entry`.
    pub first_time: String,
    /// Its last unseal.
    pub last_entry: u64,
    /// Time of `last_entry`.
    pub last_time: String,
}

/// An unseal by another binary than the unseal before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BinaryChange {
    /// The entry of the first unseal by the new binary.
    pub entry: u64,
    /// Its time.
    pub time: String,
    /// The previous unseal's binary (null: not recorded).
    pub from: Option<String>,
    /// This unseal's binary (null: not recorded).
    pub to: Option<String>,
}

/// Collects [`BinarySeen`] and [`BinaryChange`] entry by entry.
#[derive(Debug, Default)]
pub struct BinaryTracker {
    seen: Vec<BinarySeen>,
    changes: Vec<BinaryChange>,
    /// The binary of the last unseal, once there was one.
    last: Option<Option<String>>,
}

impl BinaryTracker {
    /// Takes in one `vault.unsealed` entry.
    pub fn unsealed(&mut self, seq: u64, time: &str, data: &Value) {
        let sha = data
            .get("binary_sha256")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let version = data
            .get("binary_version")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let Some(prev) = &self.last {
            if *prev != sha {
                self.changes.push(BinaryChange {
                    entry: seq,
                    time: time.to_owned(),
                    from: prev.clone(),
                    to: sha.clone(),
                });
            }
        }
        match self.seen.iter_mut().find(|b| b.sha256 == sha) {
            Some(b) => {
                b.unseals += 1;
                b.last_entry = seq;
                time.clone_into(&mut b.last_time);
                if b.version.is_none() {
                    b.version = version;
                }
            }
            None => self.seen.push(BinarySeen {
                sha256: sha.clone(),
                version,
                unseals: 1,
                first_entry: seq,
                first_time: time.to_owned(),
                last_entry: seq,
                last_time: time.to_owned(),
            }),
        }
        self.last = Some(sha);
    }

    /// The binaries in order of first use, and the changes in log order.
    pub fn finish(self) -> (Vec<BinarySeen>, Vec<BinaryChange>) {
        (self.seen, self.changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_are_named_where_they_happen() {
        let mut t = BinaryTracker::default();
        t.unsealed(2, "t2", &json!({ "purpose": "ingest" }));
        t.unsealed(
            5,
            "t5",
            &json!({ "binary_sha256": "aa", "binary_version": "0.1.0" }),
        );
        t.unsealed(
            9,
            "t9",
            &json!({ "binary_sha256": "aa", "binary_version": "0.1.0" }),
        );
        t.unsealed(
            12,
            "t12",
            &json!({ "binary_sha256": "bb", "binary_version": "0.2.0" }),
        );
        t.unsealed(
            15,
            "t15",
            &json!({ "binary_sha256": "aa", "binary_version": "0.1.0" }),
        );
        let (seen, changes) = t.finish();
        let shas: Vec<_> = seen.iter().map(|b| b.sha256.as_deref()).collect();
        assert_eq!(shas, [None, Some("aa"), Some("bb")]);
        assert_eq!(
            (seen[1].unseals, seen[1].first_entry, seen[1].last_entry),
            (3, 5, 15)
        );
        let at: Vec<_> = changes
            .iter()
            .map(|c| (c.entry, c.from.as_deref(), c.to.as_deref()))
            .collect();
        assert_eq!(
            at,
            [
                (5, None, Some("aa")),
                (12, Some("aa"), Some("bb")),
                (15, Some("bb"), Some("aa"))
            ]
        );
    }
}
