//! Benchmark (not a test): `seedvault backup` of a vault with 1,000,000
//! seeds in 1,000 batches, against `sqlite3 .backup` of the same file
//! (target: backup <= 1.5x sqlite3).
//!
//!     cargo bench --bench backup [-- SEEDS [RUNS]]
//!
//! The vault is built with the vault's own ingest (SEEDS / 1,000 tokens per
//! batch). The quorum unseals once, outside the timing (the KDF is not what
//! is measured). Each round then times one `UnsealedVault::backup` (the
//! online-backup copy, its SHA-256, the signed checkpoint, the signed
//! manifest, the log entry, the rename) and one `sqlite3 vault.db ".backup
//! FILE"`, alternating which goes first so neither always has the warmer
//! cache. Medians with min and max are printed.

// A benchmark that cannot set itself up stops with the reason: unwrap and
// expect say where.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use seedvault::crypto::KdfParams;
use seedvault::vault::{UnsealedVault, Vault};

#[path = "common/mod.rs"]
mod common;

const PER_BATCH: u64 = 1_000;

fn ours(u: &mut UnsealedVault, out: &Path) -> f64 {
    let t = Instant::now();
    u.backup(out).expect("backup");
    let s = t.elapsed().as_secs_f64();
    std::fs::remove_dir_all(out).expect("remove backup");
    s
}

fn sqlite3(db: &Path, out: &Path) -> f64 {
    let t = Instant::now();
    let st = Command::new("sqlite3")
        .arg(db)
        .arg(format!(".backup '{}'", out.display()))
        .status()
        .expect("sqlite3 runs (apt-get install sqlite3)");
    let s = t.elapsed().as_secs_f64();
    assert!(st.success(), "sqlite3 .backup failed");
    std::fs::remove_file(out).expect("remove copy");
    s
}

/// (median, min, max) of `v`.
fn stats(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<u64>().ok());
    let seeds = args.next().unwrap_or(1_000_000);
    let runs = args.next().unwrap_or(5);
    let batches = seeds.div_ceil(PER_BATCH);
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = common::vault(tmp.path(), KdfParams::INSECURE_FAST);
    let dir = tmp.path().join("vault");
    let mut u = Vault::open(&dir)
        .expect("open")
        .unseal(common::quorum(&out), "bench")
        .expect("unseal");
    let t = Instant::now();
    let csv = tmp.path().join("batch.csv");
    for b in 0..batches {
        common::make_batch(
            "azure-csv",
            PER_BATCH,
            40_000_000 + b * PER_BATCH,
            u32::try_from(b).expect("batch number"),
            &csv,
        );
        common::ingest(&mut u, &csv);
        std::fs::remove_file(&csv).expect("remove batch");
    }
    let setup_s = t.elapsed().as_secs_f64();
    let db = dir.join("vault.db");
    let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    println!(
        "backup benchmark: {seeds} seeds in {batches} batches (vault.db {:.0} MB, built in {setup_s:.0} s), {runs} rounds",
        size as f64 / 1e6
    );

    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let ours_out = tmp.path().join(format!("backup-{i}"));
        let theirs_out = tmp.path().join(format!("sqlite3-{i}.db"));
        if i % 2 == 0 {
            a.push(ours(&mut u, &ours_out));
            b.push(sqlite3(&db, &theirs_out));
        } else {
            b.push(sqlite3(&db, &theirs_out));
            a.push(ours(&mut u, &ours_out));
        }
    }
    drop(u.seal());
    let (am, amin, amax) = stats(&mut a);
    let (bm, bmin, bmax) = stats(&mut b);
    println!("  seedvault backup:  median {am:>6.2} s (min {amin:.2}, max {amax:.2})");
    println!("  sqlite3 .backup:   median {bm:>6.2} s (min {bmin:.2}, max {bmax:.2})");
    println!(
        "  ratio {:.2}x (target <= 1.5x)",
        if bm > 0.0 { am / bm } else { f64::NAN }
    );
}
