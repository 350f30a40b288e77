//! Benchmark (not a test): ingest of a 1,000,000-token `azure-csv` batch
//! made by the tests' generator, against `sqlite3 .import` of the same file into
//! a plain table, measured in the same run. Prints wall times, their
//! ratio (target <= 1.5) and this process's peak RSS (target <= 256 MB).
//!
//!     cargo bench --bench ingest [-- COUNT]
//!
//! It then ingests the same tokens into a second vault as the console's
//! ingest wizard does: the full check first (`preview_ingest`, nothing
//! stored), then `ingest_with` a progress callback and the confirmed
//! SHA-256, and prints both times next to the plain ingest's, so the cost
//! of the check and of the progress reports can be read off.
//!
//! Ingest runs in this process through the library (the CLI adds only
//! argument parsing and two Argon2id runs), so the peak RSS read from
//! /proc/self/status is ingest's own plus the harness's small overhead.

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

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn sqlite_import(csv: &Path, db: &Path) -> f64 {
    let t = Instant::now();
    let st = Command::new("sqlite3")
        .arg(db)
        .args([
            "PRAGMA synchronous=FULL;",
            "CREATE TABLE t (upn TEXT, serial TEXT, secret TEXT, interval TEXT, manufacturer TEXT, model TEXT);",
            ".mode csv",
        ])
        .arg(format!(".import --skip 1 {} t", csv.display()))
        .status()
        .expect("sqlite3 runs (apt-get install sqlite3)");
    assert!(st.success(), "sqlite3 .import failed");
    t.elapsed().as_secs_f64()
}

fn main() {
    let count: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
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

    let import_s = sqlite_import(&csv, &tmp.path().join("plain.db"));

    let out = common::vault(tmp.path(), KdfParams::INSECURE_FAST);
    let dir = tmp.path().join("vault");
    let mut unsealed = Vault::open(&dir)
        .expect("open")
        .unseal(common::quorum(&out), "benchmark")
        .expect("unseal");
    let rss_before = peak_rss_mb();
    let opts = ReadOptions::default();
    let t = Instant::now();
    let r = unsealed
        .ingest(&IngestSource {
            path: &csv,
            format: None,
            label: None,
            factory_cert: None,
            read_options: &opts,
        })
        .expect("ingest");
    let ingest_s = t.elapsed().as_secs_f64();
    assert_eq!(r.count, count);
    let db_size = std::fs::metadata(dir.join("vault.db"))
        .map(|m| m.len())
        .unwrap_or(0);

    println!(
        "ingest benchmark: {count} azure-csv tokens ({:.1} MB file)",
        size as f64 / 1e6
    );
    println!(
        "  seedvault ingest:       {ingest_s:>7.2} s  ({:.0} tokens/s, vault.db {:.0} MB)",
        count as f64 / ingest_s,
        db_size as f64 / 1e6
    );
    println!("  sqlite3 .import:        {import_s:>7.2} s");
    println!(
        "  ratio ingest / import:  {:>7.2}   (target <= 1.5)",
        ingest_s / import_s
    );
    println!(
        "  peak RSS (process):     {:>7.1} MB (target <= 256; {:.1} MB before ingest)",
        peak_rss_mb(),
        rss_before
    );
    drop(unsealed);

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
