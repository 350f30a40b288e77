//! Benchmark (not a test): `audit verify` and `audit replay` on a
//! 1,000,000-entry log (targets: verify <= 2 s, replay <= 5 s).
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

use std::time::Instant;

use seedvault::audit::{self, events, Event};
use seedvault::crypto::KdfParams;
use seedvault::formats::ReadOptions;
use seedvault::vault::{IngestSource, Vault};

#[path = "common/mod.rs"]
mod common;

fn main() {
    let entries: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
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
    u.ingest(&IngestSource {
        path: &csv,
        format: None,
        label: None,
        factory_cert: None,
        read_options: &ReadOptions::default(),
    })
    .expect("ingest");
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

    let v = Vault::open(&dir).expect("open");
    let t = Instant::now();
    let report = v.verify_audit().expect("verify");
    let verify_s = t.elapsed().as_secs_f64();
    assert!(report.problems.is_empty(), "{:?}", report.problems.first());
    let t = Instant::now();
    let r = v.replay_audit().expect("replay");
    let replay_s = t.elapsed().as_secs_f64();
    assert!(r.differences.is_empty(), "{:?}", r.differences.first());
    let size = std::fs::metadata(dir.join("vault.db"))
        .map(|m| m.len())
        .unwrap_or(0);

    println!(
        "audit benchmark: {} entries ({} serials in the vault, vault.db {:.0} MB)",
        report.entries,
        r.serials,
        size as f64 / 1e6
    );
    println!("  audit verify (chain + genesis): {verify_s:>6.2} s   (target <= 2)");
    println!("  audit replay (rebuild + compare): {replay_s:>6.2} s   (target <= 5)");
}
