//! Benchmark (not a test): destroying 1,000,000 exported seeds with
//! `seeds destroy --order` (target <= 10 s).
//!
//!     cargo bench --bench destroy [-- COUNT]
//!
//! The fixture is built through the library: a fast-KDF 2-of-2 vault, COUNT
//! Azure CSV seeds ingested, one order holding them all, one request
//! created by alice, approved by bob and exported. What is timed is the
//! whole destruction as the command runs it once the cards are open: the
//! plan (every serial checked against the log's `export.completed` entry
//! and the officers' signatures), re-opening every seed, the one
//! transaction (rows deleted with `secure_delete`, the data key shredded,
//! the serial list logged), the journal scrubbed and the receipt written,
//! synced and read back. A VACUUM afterwards is timed too, for the
//! decision record (the destruction does not run one).

// A benchmark that cannot set itself up stops with the reason: unwrap and
// expect say where.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::cast_possible_truncation)]

use std::time::Instant;

use seedvault::crypto::KdfParams;
use seedvault::formats::Format;
use seedvault::token::Serial;
use seedvault::vault::{DestroySelection, NewRequest, Vault};

#[path = "common/mod.rs"]
mod common;

/// CPU time (user + system, all threads) of this process so far, in
/// seconds: on a shared machine a steadier figure than the wall clock.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends with ')'): utime is the
    // 12th, stime the 13th, in clock ticks (100 a second on Linux).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

fn main() {
    let count: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let csv = dir.join("batch.csv");
    let first = 30_000_000u64;
    let t = Instant::now();
    common::make_batch("azure-csv", count, first, 3, &csv);
    let out = common::vault(dir, KdfParams::INSECURE_FAST);
    let vdir = dir.join("vault");
    let cards = || common::quorum(&out);
    let mut unsealed = Vault::open(&vdir)
        .expect("open")
        .unseal(cards(), "bench")
        .expect("unseal");
    common::ingest(&mut unsealed, &csv);
    let mut v = unsealed.seal();
    let alice = v
        .authenticate(&cards()[0].0, &common::pass("alice"), "bench")
        .expect("alice");
    let bob = v
        .authenticate(&cards()[1].0, &common::pass("bob"), "bench")
        .expect("bob");
    v.add_order("1", "Bench", &["bench@example.com".to_owned()], &alice)
        .expect("order");
    let serials: Vec<Serial> = (first..first + count)
        .map(|s| Serial::parse(&s.to_string()).expect("serial"))
        .collect();
    v.assign_serials("1", &serials, &alice).expect("assign");
    let customer =
        seedvault::pgp::keys::generate_customer_key("Bench <bench@example.com>").expect("key");
    let cert = customer.public_armored().expect("armor");
    let req = v
        .create_request(
            NewRequest {
                order_id: "1",
                requester: "bench@example.com",
                recipient_key: cert.as_bytes(),
                format: Format::AzureCsv,
                serials: None,
                reexport_reason: None,
                upns: None,
            },
            &alice,
        )
        .expect("request");
    v.decide_request(&req.id, true, None, &bob)
        .expect("approve");
    let export_media = dir.join("export-media");
    std::fs::create_dir(&export_media).expect("mkdir");
    let mut unsealed = v.unseal(cards(), "bench").expect("unseal");
    unsealed.export(&req.id, &export_media).expect("export");
    drop(unsealed.seal());
    let db_bytes = std::fs::metadata(vdir.join("vault.db")).expect("db").len();
    println!(
        "fixture: {count} seeds ingested, assigned, requested, approved and exported in {:.1} s (vault.db {:.0} MB)",
        t.elapsed().as_secs_f64(),
        db_bytes as f64 / 1e6
    );

    let media = dir.join("media");
    std::fs::create_dir(&media).expect("mkdir");
    let mut unsealed = Vault::open(&vdir)
        .expect("open")
        .unseal(cards(), "bench")
        .expect("unseal");
    let t = Instant::now();
    let cpu = cpu_seconds();
    let plan = unsealed
        .vault()
        .plan_destruction(
            DestroySelection::Order("1".into()),
            "bench: retention ended",
            &media,
        )
        .expect("plan");
    let planned = t.elapsed().as_secs_f64();
    let planned_cpu = cpu_seconds() - cpu;
    let done = unsealed.destroy(plan).expect("destroy");
    let total = t.elapsed().as_secs_f64();
    let total_cpu = cpu_seconds() - cpu;
    assert_eq!(done.count, count);
    drop(unsealed.seal());
    println!("destroy benchmark: {count} seeds of one order");
    println!("  plan (log and signatures):                {planned:>7.3} s wall, {planned_cpu:>6.2} s CPU");
    println!(
        "  seeds destroy --order, whole:             {total:>7.3} s wall, {total_cpu:>6.2} s CPU   (target <= 10 s)"
    );
    println!(
        "  batches shredded: {:?}; receipt {} bytes",
        done.batches_shredded,
        std::fs::metadata(&done.receipt).expect("receipt").len()
    );

    // For the decision record: what a VACUUM would add.
    let conn = rusqlite::Connection::open(vdir.join("vault.db")).expect("db");
    let t = Instant::now();
    conn.execute_batch("VACUUM").expect("vacuum");
    println!(
        "  (not run by destroy) VACUUM afterwards:   {:>7.3} s",
        t.elapsed().as_secs_f64()
    );
}
