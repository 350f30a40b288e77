//! Benchmark (not a test): `audit verify` and `audit replay` on a
//! 1,000,000-entry log (issue 17: verify <= 0.6 s, replay <= 1.5 s wall).
//!
//!     cargo bench --bench audit [-- ENTRIES]
//!
//! The log is built with the vault's own code: a real 200,000-token ingest
//! (its batch and serial-list entries), then token checks appended with
//! `audit::append` in one transaction until the log holds ENTRIES entries.
//! Replay therefore rebuilds and compares 200,000 serials while parsing
//! every entry.

// A benchmark that cannot set itself up stops with the reason: unwrap and
// expect say where.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use seedvault::audit::{self, events, Event};
use seedvault::crypto::KdfParams;
use seedvault::vault::Vault;

#[path = "common/mod.rs"]
mod common;

fn main() {
    let numbers: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let entries = numbers.first().copied().unwrap_or(1_000_000);
    let rounds = usize::try_from(numbers.get(1).copied().unwrap_or(7).max(1)).expect("rounds");
    let tokens = 200_000u64;
    let tmp = tempfile::tempdir().expect("tempdir");
    let csv = tmp.path().join("batch.csv");
    common::make_batch("azure-csv", tokens, 30_000_000, 3, &csv);
    let out = common::vault(tmp.path(), KdfParams::INSECURE_FAST);
    let dir = tmp.path().join("vault");
    let mut u = Vault::open(&dir)
        .expect("open")
        .unseal(common::quorum(&out), "bench")
        .expect("unseal");
    common::ingest(&mut u, &csv);
    drop(u.seal());

    let id = out.vault_id.to_string();
    let mut conn = rusqlite::Connection::open(dir.join("vault.db")).expect("db");
    let tx = conn.transaction().expect("tx");
    let mut head = audit::head(&tx).expect("head");
    let mut i = 0u64;
    while head.count < entries {
        let serial = 30_000_000 + (i % tokens);
        head = audit::append(
            &tx,
            &id,
            &Event {
                kind: events::TOKEN_VERIFIED,
                actors: vec!["alice".into(), "bob".into()],
                data: serde_json::json!({ "serial": serial.to_string(), "at": 1_800_000_000u64 + i, "matched": true, "drift": 0 }),
            },
        )
        .expect("append");
        i += 1;
    }
    tx.commit().expect("commit");
    drop(conn);

    // The peer: SHA-256 over the same bytes, read the same way (the
    // floor any chain check stands on).
    let hash_all = || {
        let conn = rusqlite::Connection::open(dir.join("vault.db")).expect("db");
        let mut st = conn
            .prepare("SELECT body FROM audit ORDER BY seq")
            .expect("prepare");
        let mut rows = st.query([]).expect("query");
        let mut acc = 0u8;
        while let Some(row) = rows.next().expect("row") {
            let body = row.get_ref(0).expect("body").as_blob().expect("blob");
            acc ^= seedvault::crypto::sha256(body)[0];
        }
        acc
    };
    let (mut verify, mut replay, mut floor) = (Vec::new(), Vec::new(), Vec::new());
    let (mut report, mut r) = (None, None);
    for round in 0..rounds {
        // Alternating which goes first.
        if round % 2 == 1 {
            floor.push(common::time_in_process(hash_all).1);
        }
        let v = Vault::open(&dir).expect("open");
        let (rep, s) = common::time_in_process(|| v.verify_audit().expect("verify"));
        assert!(rep.problems.is_empty(), "{:?}", rep.problems.first());
        verify.push(s);
        let (rr, s) = common::time_in_process(|| v.replay_audit().expect("replay"));
        assert!(rr.differences.is_empty(), "{:?}", rr.differences.first());
        replay.push(s);
        if round % 2 == 0 {
            floor.push(common::time_in_process(hash_all).1);
        }
        println!(
            "  round {round}: verify {:.3} s, replay {:.3} s, SHA-256 of the bodies {:.3} s (wall)",
            verify[round].wall, replay[round].wall, floor[round].wall
        );
        (report, r) = (Some(rep), Some(rr));
    }
    let (report, r) = (report.expect("a round"), r.expect("a round"));
    let size = std::fs::metadata(dir.join("vault.db"))
        .map(|m| m.len())
        .unwrap_or(0);

    println!(
        "audit benchmark: {} entries ({} serials in the vault, vault.db {:.0} MB)",
        report.entries,
        r.serials,
        size as f64 / 1e6
    );
    common::print_versus(
        "audit verify",
        ("audit verify (chain + genesis + checkpoints)", &verify),
        ("SHA-256 of every body, read from SQLite", &floor),
        "verify <= 0.6 s wall",
    );
    common::print_versus(
        "audit replay",
        ("audit replay (rebuild + compare)", &replay),
        ("SHA-256 of every body, read from SQLite", &floor),
        "replay <= 1.5 s wall",
    );
}
