//! Checking the chain: every entry's hash, its position, and its link to
//! the one before. Problems are collected, not stopped at, so an auditor
//! sees every altered entry at once.

use std::fmt;

use serde::Deserialize;

use super::{AuditError, Head};
use crate::crypto;

/// One inconsistency, with the entry it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainProblem {
    /// The entry (`seq`), or 0 for the log as a whole.
    pub seq: u64,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.seq == 0 {
            write!(f, "log: {}", self.problem)
        } else {
            write!(f, "entry {}: {}", self.seq, self.problem)
        }
    }
}

/// The result of walking the chain.
#[derive(Debug, Clone)]
pub struct ChainReport {
    /// Entries read.
    pub entries: u64,
    /// The head as recomputed from the bodies.
    pub head: Head,
    /// Everything found wrong; empty means the chain is intact.
    pub problems: Vec<ChainProblem>,
    /// The highest checkpoint an entry of the log records as verified at
    /// an unseal (`vault.unsealed` data `checkpoint`), and that entry's
    /// `seq`: what the log itself knows of its checkpoints, should rows of
    /// the `checkpoints` table be deleted.
    pub recorded_checkpoint: Option<(u64, RecordedCheckpoint)>,
}

/// A checkpoint as an entry records it (unsigned: the entry is covered by
/// the chain instead).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RecordedCheckpoint {
    /// The entries it covers.
    pub entries: u64,
    /// Hex SHA-256 of entry `entries`.
    pub head: String,
    /// When it was signed.
    pub time: String,
}

#[derive(Deserialize)]
struct Link<'a> {
    v: u32,
    seq: u64,
    #[serde(borrow)]
    prev: &'a str,
    #[serde(borrow)]
    vault: &'a str,
    #[serde(borrow)]
    event: &'a str,
    #[serde(default)]
    data: LinkData,
}

/// The one part of an entry's payload the walk reads: a recorded checkpoint.
#[derive(Deserialize, Default)]
struct LinkData {
    // Any shape here, so that another event's `checkpoint` key of another
    // type never makes an entry "invalid"; only unseal entries are read.
    #[serde(default)]
    checkpoint: Option<serde_json::Value>,
}

/// Walks the whole log in `seq` order and checks each link.
/// `vault_id` is the id the vault table claims; every entry must agree.
pub fn verify_chain(
    conn: &rusqlite::Connection,
    vault_id: &str,
) -> Result<ChainReport, AuditError> {
    walk(conn, vault_id, None, &mut |_, _| {})
}

/// Entries between two progress reports of a long walk.
pub const PROGRESS_EVERY: u64 = 20_000;

/// [`verify_chain`], reporting `(entries read, entries in the log)` to
/// `progress` every [`PROGRESS_EVERY`] entries (a front end shows a bar).
pub fn verify_chain_progress(
    conn: &rusqlite::Connection,
    vault_id: &str,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ChainReport, AuditError> {
    walk(conn, vault_id, None, progress)
}

/// Checks that the log still extends `from` (a head verified earlier, by
/// a full walk): entry `from.count` still hashes to `from.hash`, and every
/// later entry links to the one before. The work is proportional to the
/// entries after `from`, not to the log: this is what a session checks
/// before it signs a checkpoint over the entries it added. Entries before
/// `from.count` are not read again; an edit to one of them that keeps the
/// later hashes cannot change what the hash of entry `from.count` commits
/// to, and one that recomputes them changes that hash.
pub fn verify_since(
    conn: &rusqlite::Connection,
    vault_id: &str,
    from: Head,
) -> Result<ChainReport, AuditError> {
    walk(conn, vault_id, Some(from), &mut |_, _| {})
}

/// Entries handed from the reading thread to the checking one at a time.
const CHUNK_ROWS: usize = 4096;
/// Bytes of bodies after which a chunk is handed over early.
const CHUNK_BYTES: usize = 1 << 20;

/// Rows as read and hashed, on their way to the checker.
#[derive(Default)]
struct Chunk {
    /// The bodies, one after the other.
    bytes: Vec<u8>,
    rows: Vec<ReadRow>,
}

/// One row: where its body ends in [`Chunk::bytes`], and what the reader
/// found.
struct ReadRow {
    /// The stored `seq`; a negative one (an edited row) reads as 0.
    seq: u64,
    end: usize,
    /// Whether the body column holds a blob.
    blob: bool,
    /// SHA-256 of the body.
    hash: [u8; 32],
    /// Whether it is the stored hash.
    hash_matches: bool,
}

impl Chunk {
    fn push(&mut self, row: &rusqlite::Row<'_>) -> rusqlite::Result<()> {
        // A negative number (an edited row) reads as 0: out of order, reported.
        let seq = u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0);
        let body = row.get_ref(1).ok().and_then(|v| v.as_blob().ok());
        let stored = row
            .get_ref(2)
            .ok()
            .and_then(|v| v.as_blob().ok())
            .unwrap_or_default();
        let hash = crypto::sha256(body.unwrap_or_default());
        self.bytes.extend_from_slice(body.unwrap_or_default());
        self.rows.push(ReadRow {
            seq,
            end: self.bytes.len(),
            blob: body.is_some(),
            hash,
            hash_matches: crypto::ct_eq(&hash, stored),
        });
        Ok(())
    }
}

/// The walk's state on the checking thread.
struct Checker<'a> {
    vault_id: &'a str,
    prev: [u8; 32],
    expected: u64,
    problems: Vec<ChainProblem>,
    recorded_checkpoint: Option<(u64, RecordedCheckpoint)>,
}

impl Checker<'_> {
    fn check(&mut self, chunk: &Chunk) {
        let mut start = 0;
        for row in &chunk.rows {
            let body = &chunk.bytes[start..row.end];
            start = row.end;
            self.entry(row, body);
        }
    }

    /// Checks one entry against the one before, as read.
    fn entry(&mut self, row: &ReadRow, body: &[u8]) {
        let (seq, expected) = (row.seq, self.expected);
        let problems = &mut self.problems;
        if !row.blob {
            problems.push(ChainProblem {
                seq,
                problem: "body is not a blob (altered)".into(),
            });
        }
        if seq != expected {
            let problem = if seq > expected {
                format!("entries {expected}..{} are missing (deleted)", seq - 1)
            } else {
                format!("out of order after entry {}", expected - 1)
            };
            problems.push(ChainProblem { seq, problem });
        }
        if !row.hash_matches {
            problems.push(ChainProblem {
                seq,
                problem: "contents do not match the stored hash (entry altered)".into(),
            });
        }
        match serde_json::from_slice::<Link<'_>>(body) {
            Err(_) => problems.push(ChainProblem {
                seq,
                problem: "not a valid entry (altered)".into(),
            }),
            Ok(link) => {
                if link.v != super::ENTRY_VERSION {
                    problems.push(ChainProblem {
                        seq,
                        problem: format!("unknown entry version {}", link.v),
                    });
                }
                if link.seq != seq {
                    problems.push(ChainProblem {
                        seq,
                        problem: format!(
                            "entry says it is entry {} (moved or renumbered)",
                            link.seq
                        ),
                    });
                }
                if !is_hex_of(link.prev, &self.prev) {
                    problems.push(ChainProblem {
                        seq,
                        problem: format!(
                            "does not follow entry {} (chain broken: an entry was inserted, deleted, swapped or changed)",
                            seq.saturating_sub(1)
                        ),
                    });
                }
                if link.vault != self.vault_id {
                    problems.push(ChainProblem {
                        seq,
                        problem: format!("belongs to vault {}, not {}", link.vault, self.vault_id),
                    });
                }
                if seq == 1 && link.event != super::events::VAULT_INIT {
                    problems.push(ChainProblem {
                        seq,
                        problem: "the first entry is not the vault's genesis".into(),
                    });
                }
                if link.event == super::events::UNSEAL {
                    let cp = link
                        .data
                        .checkpoint
                        .and_then(|v| serde_json::from_value::<RecordedCheckpoint>(v).ok());
                    if let Some(cp) = cp {
                        if self
                            .recorded_checkpoint
                            .as_ref()
                            .is_none_or(|(_, r)| r.entries < cp.entries)
                        {
                            self.recorded_checkpoint = Some((seq, cp));
                        }
                    }
                }
            }
        }
        self.prev = row.hash;
        self.expected = seq + 1;
    }
}

/// Whether `text` is the lower-case hex of `bytes` (what `crypto::hex`
/// writes), without allocating.
fn is_hex_of(text: &str, bytes: &[u8; 32]) -> bool {
    let mut want = [0u8; 64];
    data_encoding::HEXLOWER.encode_mut(bytes, &mut want);
    text.as_bytes() == want
}

fn walk(
    conn: &rusqlite::Connection,
    vault_id: &str,
    from: Option<Head>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ChainReport, AuditError> {
    let total = super::head(conn)?.count;
    let mut problems = Vec::new();
    let mut prev = [0u8; 32];
    let mut expected: u64 = 1;
    let mut entries = 0u64;
    if let Some(from) = from.filter(|f| f.count > 0) {
        let body: Option<Vec<u8>> = rusqlite::OptionalExtension::optional(conn.query_row(
            "SELECT body FROM audit WHERE seq = ?1",
            [from.count],
            |r| r.get(0),
        ))?;
        match body {
            None => problems.push(ChainProblem {
                seq: from.count,
                problem: format!(
                    "missing: this session began with {} entries (the log was truncated during the session)",
                    from.count
                ),
            }),
            Some(b) if !crypto::ct_eq(&crypto::sha256(&b), &from.hash) => {
                problems.push(ChainProblem {
                    seq: from.count,
                    problem: "hashes to something else than when this session began (the log was rewritten during the session)".into(),
                })
            }
            Some(_) => {}
        }
        prev = from.hash;
        expected = from.count + 1;
    }
    // Two stages on two threads: this one (it owns the connection) reads
    // the rows and hashes each body while it is in cache; the checker
    // parses the entries and follows the links, in order. Bodies travel in
    // chunks of one buffer each (they hold no secret: the log holds none).
    let mut stmt =
        conn.prepare("SELECT seq, body, hash FROM audit WHERE seq >= ?1 ORDER BY seq")?;
    let mut rows = stmt.query([expected])?;
    let mut checker = Checker {
        vault_id,
        prev,
        expected,
        problems,
        recorded_checkpoint: None,
    };
    let (to_checker, chunks) = std::sync::mpsc::sync_channel::<Chunk>(4);
    let read = std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            for chunk in chunks {
                checker.check(&chunk);
            }
            checker
        });
        let read = (|| -> Result<(), AuditError> {
            let mut chunk = Chunk::default();
            while let Some(row) = rows.next()? {
                entries += 1;
                if entries % PROGRESS_EVERY == 0 {
                    progress(entries, total);
                }
                chunk.push(row)?;
                let full = chunk.rows.len() == CHUNK_ROWS || chunk.bytes.len() >= CHUNK_BYTES;
                // A send fails only when the checker stopped: a bug, raised at join.
                if full && to_checker.send(std::mem::take(&mut chunk)).is_err() {
                    break;
                }
            }
            if !chunk.rows.is_empty() {
                let _ = to_checker.send(chunk);
            }
            Ok(())
        })();
        drop(to_checker);
        (read, worker.join())
    });
    read.0?;
    // The checker only slices bodies it was handed whole: a panic there
    // is a bug, passed on as one.
    let checker = read.1.unwrap_or_else(|e| std::panic::resume_unwind(e));
    let Checker {
        prev,
        expected,
        mut problems,
        recorded_checkpoint,
        ..
    } = checker;
    if entries == 0 && from.is_none() {
        problems.push(ChainProblem {
            seq: 0,
            problem: "the log is empty (no genesis entry)".into(),
        });
    }
    Ok(ChainReport {
        entries,
        head: Head {
            count: expected - 1,
            hash: prev,
        },
        problems,
        recorded_checkpoint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{append, events, Event};

    const VAULT: &str = "0123456789abcdef";

    fn log(n: usize) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE audit (seq INTEGER PRIMARY KEY, body BLOB NOT NULL, hash BLOB NOT NULL);
             CREATE TABLE audit_index (key TEXT, value TEXT, seq INTEGER, PRIMARY KEY (key, value, seq));",
        )
        .unwrap();
        append(
            &conn,
            VAULT,
            &event(events::VAULT_INIT, serde_json::json!({})),
        )
        .unwrap();
        for _ in 1..n {
            add(&conn);
        }
        conn
    }

    fn event(kind: &'static str, data: serde_json::Value) -> Event {
        Event {
            kind,
            actors: vec!["alice".into()],
            data,
        }
    }

    fn add(conn: &rusqlite::Connection) -> Head {
        append(
            conn,
            VAULT,
            &event(events::TOKEN_VERIFIED, serde_json::json!({})),
        )
        .unwrap()
    }

    #[test]
    fn verify_since_accepts_appends_and_refuses_a_rewritten_anchor() {
        let conn = log(5);
        let anchor = verify_chain(&conn, VAULT).unwrap().head;
        assert_eq!(anchor.count, 5);
        for _ in 0..3 {
            add(&conn);
        }
        let r = verify_since(&conn, VAULT, anchor).unwrap();
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!(r.head.count, 8);
        assert_eq!(r.entries, 3, "only the entries after the anchor are read");

        // The anchor entry rewritten (hash recomputed): refused.
        conn.execute(
            "UPDATE audit SET body = CAST(replace(CAST(body AS TEXT), 'alice', 'eve') AS BLOB) WHERE seq = 5",
            [],
        )
        .unwrap();
        let r = verify_since(&conn, VAULT, anchor).unwrap();
        assert_eq!(r.problems[0].seq, 5, "{:?}", r.problems);
        assert!(r.problems[0]
            .problem
            .contains("rewritten during the session"));

        // Cut below the anchor: refused.
        let conn = log(5);
        let anchor = verify_chain(&conn, VAULT).unwrap().head;
        conn.execute("DELETE FROM audit WHERE seq > 3", []).unwrap();
        // Forged entries in place of the cut ones (the same ones would be
        // the same history: same bytes within the same second).
        for n in 0..3 {
            let forged = event(events::TOKEN_VERIFIED, serde_json::json!({ "n": n }));
            append(&conn, VAULT, &forged).unwrap();
        }
        let r = verify_since(&conn, VAULT, anchor).unwrap();
        assert!(
            r.problems[0]
                .problem
                .contains("truncated during the session")
                || r.problems[0]
                    .problem
                    .contains("rewritten during the session"),
            "{:?}",
            r.problems
        );
    }

    #[test]
    fn the_walk_finds_the_highest_checkpoint_an_unseal_entry_records() {
        let conn = log(2);
        let cp = |n: u64| serde_json::json!({ "checkpoint": { "entries": n, "head": "ab".repeat(32), "time": "2026-11-22T14:05:23Z" } });
        append(&conn, VAULT, &event(events::UNSEAL, cp(2))).unwrap();
        append(&conn, VAULT, &event(events::UNSEAL, cp(3))).unwrap();
        // Another event's `checkpoint` key, of any shape, is neither read nor a problem.
        append(
            &conn,
            VAULT,
            &event(
                events::TOKEN_VERIFIED,
                serde_json::json!({ "checkpoint": 99 }),
            ),
        )
        .unwrap();
        append(
            &conn,
            VAULT,
            &event(events::UNSEAL, serde_json::json!({ "checkpoint": null })),
        )
        .unwrap();
        let r = verify_chain(&conn, VAULT).unwrap();
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        let (seq, recorded) = r.recorded_checkpoint.unwrap();
        assert_eq!((seq, recorded.entries), (4, 3));
    }

    #[test]
    fn the_two_stage_walk_names_problems_across_chunk_boundaries() {
        let n = CHUNK_ROWS * 2 + 100;
        let conn = log(n);
        let r = verify_chain(&conn, VAULT).unwrap();
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!((r.entries, r.head.count), (n as u64, n as u64));
        let last = CHUNK_ROWS as u64;
        // The last entry of the first chunk deleted, a later body altered.
        conn.execute("DELETE FROM audit WHERE seq = ?1", [last])
            .unwrap();
        let altered = last * 2 + 7;
        conn.execute(
            "UPDATE audit SET body = CAST(replace(CAST(body AS TEXT), 'alice', 'alicf') AS BLOB) WHERE seq = ?1",
            [altered],
        )
        .unwrap();
        let r = verify_chain(&conn, VAULT).unwrap();
        let named: Vec<(u64, &str)> = r
            .problems
            .iter()
            .map(|p| (p.seq, p.problem.as_str()))
            .collect();
        assert_eq!(named.len(), 4, "{named:?}");
        assert_eq!(named[0].0, last + 1);
        assert!(named[0].1.contains("are missing (deleted)"), "{named:?}");
        assert!(named[1].1.contains("does not follow entry"), "{named:?}");
        assert_eq!(
            named[2],
            (
                altered,
                "contents do not match the stored hash (entry altered)"
            )
        );
        assert_eq!(named[3].0, altered + 1);
        assert!(named[3].1.contains("does not follow entry"), "{named:?}");
    }
}
