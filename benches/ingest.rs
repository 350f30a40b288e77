//! Benchmark (not a test): ingest of a 1,000,000-token `azure-csv` batch
//! made by the tests' generator, against `sqlite3 .import` of the same file
//! into a table with a primary key on the serial, measured in the same run,
//! alternating. Prints both sides' wall and CPU times (medians of ROUNDS
//! runs, default 7, with min and max), their ratios (target: CPU <= 1.2)
//! and the peak RSS of the ingest (target <= 160 MB).
//!
//!     cargo bench --bench ingest [-- COUNT [ROUNDS]]
//!
//! Each round ingests the file into a fresh fast-KDF vault (sealing every
//! seed, logging every serial, one transaction) and imports it into a
//! fresh SQLite file. Ingest runs in this process through the library (the
//! CLI adds only argument parsing and two Argon2id runs); its CPU time is
//! this process's, both threads, and sqlite3's is the child's. The peak RSS
//! is read from /proc/self/status after resetting it (/proc/self/clear_refs)
//! before each ingest, so it is the ingest's own plus the harness's.
//!
//! It then ingests the same tokens into another vault as the console's
//! ingest wizard does: the full check first (`preview_ingest`, nothing
//! stored), then `ingest_with` a progress callback and the confirmed
//! SHA-256, and prints both times next to the plain ingest's, so the cost
//! of the check and of the progress reports can be read off.

// A benchmark that cannot set itself up stops with the reason: unwrap and
// expect say where.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use seedvault::crypto::KdfParams;
use seedvault::formats::ReadOptions;
use seedvault::vault::{IngestControl, IngestSource, Vault};

#[path = "common/mod.rs"]
mod common;

fn sqlite_import(csv: &Path, db: &Path) {
    let st = Command::new("sqlite3")
        .arg(db)
        .args([
            "PRAGMA synchronous=FULL;",
            "CREATE TABLE t (upn TEXT, serial TEXT PRIMARY KEY, secret TEXT, interval TEXT, manufacturer TEXT, model TEXT);",
            ".mode csv",
        ])
        .arg(format!(".import --skip 1 {} t", csv.display()))
        .status()
        .expect("sqlite3 runs (apt-get install sqlite3)");
    assert!(st.success(), "sqlite3 .import failed");
}

fn main() {
    let numbers: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let count = numbers.first().copied().unwrap_or(1_000_000);
    let rounds = numbers.get(1).copied().unwrap_or(7).max(1);
    let tmp = tempfile::tempdir().expect("tempdir");
    let csv = tmp.path().join("batch.csv");
    let t = Instant::now();
    common::make_batch("azure-csv", count, 10_000_000, 1, &csv);
    let size = std::fs::metadata(&csv).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "made {count} tokens ({:.1} MB) in {:.1} s",
        size as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    let opts = ReadOptions::default();
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let mut peak_rss = 0f64;
    let mut db_size = 0;
    for round in 0..rounds {
        let root = tmp.path().join(format!("round-{round}"));
        std::fs::create_dir_all(&root).expect("round dir");
        let import = |theirs: &mut Vec<common::Sample>| {
            let db = root.join("plain.db");
            let ((), s) = common::time_child(|| sqlite_import(&csv, &db));
            theirs.push(s);
            let _ = std::fs::remove_file(&db);
        };
        if round % 2 == 1 {
            import(&mut theirs);
        }
        let out = common::vault(&root, KdfParams::INSECURE_FAST);
        let dir = root.join("vault");
        let mut unsealed = Vault::open(&dir)
            .expect("open")
            .unseal(common::quorum(&out), "benchmark")
            .expect("unseal");
        // Resets VmHWM to the current RSS (Linux >= 4.0).
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let (r, s) = common::time_in_process(|| common::ingest(&mut unsealed, &csv));
        peak_rss = peak_rss.max(common::peak_rss_mb());
        assert_eq!(r.count, count);
        ours.push(s);
        drop(unsealed);
        db_size = std::fs::metadata(dir.join("vault.db"))
            .map(|m| m.len())
            .unwrap_or(0);
        if round % 2 == 0 {
            import(&mut theirs);
        }
        let _ = std::fs::remove_dir_all(&root);
        println!(
            "  round {round}: ingest {:.2} s wall {:.2} s CPU, sqlite3 .import {:.2} s wall {:.2} s CPU",
            s.wall,
            s.cpu,
            theirs[theirs.len() - 1].wall,
            theirs[theirs.len() - 1].cpu
        );
    }

    println!(
        "ingest benchmark: {count} azure-csv tokens ({:.1} MB file, vault.db {:.0} MB)",
        size as f64 / 1e6,
        db_size as f64 / 1e6
    );
    common::print_versus(
        "ingest",
        ("seedvault ingest (parse, seal, insert, log)", &ours),
        ("sqlite3 .import, serial PRIMARY KEY", &theirs),
        "CPU <= 1.2",
    );
    println!("  peak RSS of an ingest: {peak_rss:.1} MB (target <= 160)");
    let ingest_s = common::stats(&ours.iter().map(|s| s.wall).collect::<Vec<_>>()).0;

    // The console's way: check everything, then ingest with progress.
    let root2 = tmp.path().join("console");
    std::fs::create_dir_all(&root2).expect("console dir");
    let out2 = common::vault(&root2, KdfParams::INSECURE_FAST);
    let mut unsealed = Vault::open(&root2.join("vault"))
        .expect("open")
        .unseal(common::quorum(&out2), "benchmark")
        .expect("unseal");
    let src = IngestSource {
        path: &csv,
        format: None,
        label: None,
        factory_cert: None,
        read_options: &opts,
    };
    let reports = std::cell::Cell::new(0u64);
    let progress = |_n: u64| reports.set(reports.get() + 1);
    let t = Instant::now();
    let preview = unsealed
        .preview_ingest(&src, Some(&progress))
        .expect("preview");
    let preview_s = t.elapsed().as_secs_f64();
    assert_eq!(preview.count, count);
    let t = Instant::now();
    let r = unsealed
        .ingest_with(
            &src,
            &IngestControl {
                expect_sha256: Some(preview.source_sha256.clone()),
                progress: Some(&progress),
            },
        )
        .expect("ingest with progress");
    let console_s = t.elapsed().as_secs_f64();
    assert_eq!(r.count, count);
    println!(
        "  console: check (preview_ingest):       {preview_s:>7.2} s  ({:.0} tokens/s)",
        count as f64 / preview_s
    );
    println!(
        "  console: ingest with progress:         {console_s:>7.2} s  ({:.2} x the plain ingest; {} progress reports in all)",
        console_s / ingest_s,
        reports.get()
    );
}
