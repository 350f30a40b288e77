//! Checking the chain: every entry's hash, its position, and its link to
//! the one before. Problems are collected, not stopped at, so an auditor
//! sees every altered entry at once.

use std::fmt;

use serde::Deserialize;

use memchr::memmem::Finder;

use super::walk::{Chunk, Row};
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
    /// What the re-issue check reads from the log, as this walk found it
    /// (complete only for a walk of the whole log; taken by
    /// `Vault::verify_audit`).
    pub(crate) enrolments: Option<Enrolments>,
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

/// The bodies of the entries the officer-key re-issue check reads
/// (`vault::reissue`): every one that names `card.reissued` or
/// `vault.rekeyed` as `"event":"..."` anywhere, in log order, or the error
/// reading one gave (the first). Collected by the full walk, which reads
/// every body anyway, so `audit verify` reads the log once.
pub(crate) type Enrolments = Result<Vec<(u64, Vec<u8>)>, String>;

/// What the re-issue check looks for in a body, by bytes (a superset:
/// it parses each match and keeps those whose event is one of the two).
pub(crate) const ENROLMENT_NEEDLES: [&str; 2] =
    ["\"event\":\"card.reissued\"", "\"event\":\"vault.rekeyed\""];

/// Whether `body` holds one of [`ENROLMENT_NEEDLES`], found by looking
/// at each place `event_key` (`"event":"`, how both begin) occurs.
fn names_enrolment(event_key: &Finder<'_>, body: &[u8]) -> bool {
    let mut from = 0;
    while let Some(at) = event_key.find(&body[from..]) {
        let place = &body[from + at..];
        if ENROLMENT_NEEDLES
            .iter()
            .any(|n| place.starts_with(n.as_bytes()))
        {
            return true;
        }
        from += at + 1;
    }
    false
}

/// What a worker found in one row.
struct Facts {
    /// SHA-256 of the body.
    hash: [u8; 32],
    /// Whether it is the stored hash.
    hash_matches: bool,
    /// The entry's fields, or `None`: not a valid entry.
    link: Option<LinkFacts>,
    /// The body names an enrolment (see [`ENROLMENT_NEEDLES`]).
    enrolment: bool,
}

/// The fields of an entry the walk checks.
struct LinkFacts {
    v: u32,
    seq: u64,
    /// `prev` as the hash it is the hex of, `None` if it is not one.
    prev: Option<[u8; 32]>,
    /// `None` when it is the vault's id; otherwise the id it names.
    other_vault: Option<Box<str>>,
    /// Its event is the genesis.
    genesis: bool,
    /// The checkpoint an unseal entry records.
    checkpoint: Option<RecordedCheckpoint>,
}

/// Reads the fields the walk checks from `body`: by bytes when it is in
/// the form `append` writes, with serde (as always) otherwise. The byte
/// path is taken only where it gives what serde gives: never for an
/// unseal entry (its checkpoint is read with serde) nor for data naming a
/// `checkpoint` key (serde refuses a repeated one).
fn link_facts(
    body: &[u8],
    envelope: Option<&super::walk::Envelope<'_>>,
    vault_id: &str,
    checkpoint_key: &Finder<'_>,
) -> Option<LinkFacts> {
    if let Some(e) = envelope {
        if e.event != super::events::UNSEAL.as_bytes() && checkpoint_key.find(e.data).is_none() {
            return Some(LinkFacts {
                v: super::ENTRY_VERSION,
                seq: e.seq,
                prev: super::walk::unhex32(e.prev),
                // Printable ASCII (see `envelope`): the text is the bytes.
                other_vault: (e.vault != vault_id.as_bytes())
                    .then(|| String::from_utf8_lossy(e.vault).into()),
                genesis: e.event == super::events::VAULT_INIT.as_bytes(),
                checkpoint: None,
            });
        }
    }
    let link = serde_json::from_slice::<Link<'_>>(body).ok()?;
    let checkpoint = if link.event == super::events::UNSEAL {
        link.data
            .checkpoint
            .and_then(|v| serde_json::from_value::<RecordedCheckpoint>(v).ok())
    } else {
        None
    };
    Some(LinkFacts {
        v: link.v,
        seq: link.seq,
        prev: super::walk::unhex32(link.prev.as_bytes()),
        other_vault: (link.vault != vault_id).then(|| link.vault.into()),
        genesis: link.event == super::events::VAULT_INIT,
        checkpoint,
    })
}

/// The walk's state on the consuming thread.
struct Checker<'a> {
    vault_id: &'a str,
    prev: [u8; 32],
    expected: u64,
    problems: Vec<ChainProblem>,
    recorded_checkpoint: Option<(u64, RecordedCheckpoint)>,
    enrolments: Enrolments,
}

impl Checker<'_> {
    fn check(&mut self, chunk: &Chunk, facts: Vec<Facts>) {
        for (row, f) in chunk.rows.iter().zip(facts) {
            if f.enrolment {
                self.enrolment(chunk, row);
            }
            self.entry(row, f);
        }
    }

    /// Keeps an enrolment's body as the re-issue check reads it: by its
    /// stored `seq` as an unsigned number, from a blob.
    fn enrolment(&mut self, chunk: &Chunk, row: &Row) {
        let Ok(found) = &mut self.enrolments else {
            return;
        };
        let seq = match u64::try_from(row.raw_seq) {
            Ok(seq) => seq,
            Err(_) => {
                let e = rusqlite::Error::IntegralValueOutOfRange(0, row.raw_seq);
                self.enrolments = Err(e.to_string());
                return;
            }
        };
        if !row.blob {
            let e =
                rusqlite::Error::InvalidColumnType(1, "body".into(), rusqlite::types::Type::Text);
            self.enrolments = Err(e.to_string());
            return;
        }
        found.push((seq, chunk.body(row).to_vec()));
    }

    /// Checks one entry against the one before, as read.
    fn entry(&mut self, row: &Row, f: Facts) {
        let (seq, expected) = (row.seq(), self.expected);
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
        if !f.hash_matches {
            problems.push(ChainProblem {
                seq,
                problem: "contents do not match the stored hash (entry altered)".into(),
            });
        }
        match f.link {
            None => problems.push(ChainProblem {
                seq,
                problem: "not a valid entry (altered)".into(),
            }),
            Some(link) => {
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
                if link.prev != Some(self.prev) {
                    problems.push(ChainProblem {
                        seq,
                        problem: format!(
                            "does not follow entry {} (chain broken: an entry was inserted, deleted, swapped or changed)",
                            seq.saturating_sub(1)
                        ),
                    });
                }
                if let Some(other) = link.other_vault {
                    problems.push(ChainProblem {
                        seq,
                        problem: format!("belongs to vault {other}, not {}", self.vault_id),
                    });
                }
                if seq == 1 && !link.genesis {
                    problems.push(ChainProblem {
                        seq,
                        problem: "the first entry is not the vault's genesis".into(),
                    });
                }
                if let Some(cp) = link.checkpoint {
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
        self.prev = f.hash;
        self.expected = seq + 1;
    }
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
    // The reader (it owns the connection) only reads; workers hash and
    // parse chunks side by side; this checker follows the links in log
    // order, so problems come out exactly as a one-thread walk names them.
    let mut stmt =
        conn.prepare("SELECT seq, body, hash FROM audit WHERE seq >= ?1 ORDER BY seq")?;
    let mut checker = Checker {
        vault_id,
        prev,
        expected,
        problems,
        recorded_checkpoint: None,
        enrolments: Ok(Vec::new()),
    };
    let checkpoint_key = Finder::new(b"\"checkpoint\"");
    // Both needles begin with this; each place it occurs is looked at.
    let event_key = Finder::new(b"\"event\":\"");
    let work = |chunk: &Chunk| -> Vec<Facts> {
        chunk
            .rows
            .iter()
            .map(|row| {
                let body = chunk.blob(row);
                let hash = crypto::sha256(body);
                // Both hashes are public (the log holds no secret): a
                // plain comparison, not a constant-time one.
                let hash_matches = row.stored == Some(hash);
                let envelope = super::walk::envelope(body);
                // In a body of the form `append` writes, `"event":"` can
                // only be the envelope's key (its strings hold no quote, its
                // actors no colon) or inside the data: only those are
                // looked at.
                let enrolment = match &envelope {
                    Some(e) => {
                        ENROLMENT_NEEDLES
                            .iter()
                            .any(|n| n.as_bytes()[9..n.len() - 1] == *e.event)
                            || names_enrolment(&event_key, e.data)
                    }
                    None => (row.blob || row.text) && names_enrolment(&event_key, chunk.body(row)),
                };
                Facts {
                    hash,
                    hash_matches,
                    link: link_facts(body, envelope.as_ref(), vault_id, &checkpoint_key),
                    enrolment,
                }
            })
            .collect()
    };
    let entries = super::walk::walk(
        &mut stmt,
        [expected],
        false,
        total,
        progress,
        work,
        |chunk, facts| checker.check(chunk, facts),
    )?;
    let Checker {
        prev,
        expected,
        mut problems,
        recorded_checkpoint,
        enrolments,
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
        enrolments: Some(enrolments),
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
    fn the_enrolment_needles_name_the_two_events() {
        for (needle, kind) in ENROLMENT_NEEDLES
            .iter()
            .zip([events::CARD_REISSUED, events::VAULT_REKEYED])
        {
            assert_eq!(*needle, format!("\"event\":\"{kind}\""));
        }
    }

    #[test]
    fn an_enrolment_is_found_in_the_envelope_or_the_data() {
        // The walk's shortcut for bodies in `append`'s form against the
        // search of the whole body that `reissue::reenrolled` makes.
        let conn = log(1);
        let key = Finder::new(b"\"event\":\"");
        for (kind, data) in [
            (events::CARD_REISSUED, serde_json::json!({})),
            (events::VAULT_REKEYED, serde_json::json!({"a": ["x"]})),
            (
                events::TOKEN_VERIFIED,
                serde_json::json!({"event": "card.reissued"}),
            ),
            (
                events::TOKEN_VERIFIED,
                serde_json::json!({"x": {"event": "vault.rekeyed"}}),
            ),
            (
                events::TOKEN_VERIFIED,
                serde_json::json!({"event": "card.reissue"}),
            ),
            (events::TOKEN_VERIFIED, serde_json::json!({"event": 1})),
        ] {
            append(&conn, VAULT, &event(kind, data)).unwrap();
        }
        let r = verify_chain(&conn, VAULT).unwrap();
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        let found: Vec<u64> = r
            .enrolments
            .unwrap()
            .unwrap()
            .iter()
            .map(|(seq, _)| *seq)
            .collect();
        let mut st = conn
            .prepare("SELECT seq, body FROM audit ORDER BY seq")
            .unwrap();
        let searched: Vec<u64> = st
            .query_map([], |r| Ok((r.get::<_, u64>(0)?, r.get::<_, Vec<u8>>(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .filter(|(_, b)| names_enrolment(&key, b))
            .map(|(seq, _)| seq)
            .collect();
        assert_eq!(found, vec![2, 3, 4, 5]);
        assert_eq!(found, searched);
    }

    #[test]
    fn an_enrolment_is_found_wherever_its_needle_is() {
        let key = Finder::new(b"\"event\":\"");
        for (body, named) in [
            (r#"{"event":"card.reissued","x":1}"#, true),
            (r#"{"event":"x","data":{"event":"vault.rekeyed"}}"#, true),
            (r#"{"event":"event":"card.reissued"}"#, true),
            (r#"{"event":"card.reissue"}"#, false),
            (r#"{"event": "card.reissued"}"#, false),
        ] {
            assert_eq!(names_enrolment(&key, body.as_bytes()), named, "{body}");
        }
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
        let n = crate::audit::walk::CHUNK_ROWS * 2 + 100;
        let conn = log(n);
        let r = verify_chain(&conn, VAULT).unwrap();
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!((r.entries, r.head.count), (n as u64, n as u64));
        let last = crate::audit::walk::CHUNK_ROWS as u64;
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
