//! Benchmark (not a test): `batch generate` of 1,000,000 TOTP seeds with
//! their burn file (Azure CSV, encrypted to a factory key and signed),
//! against ingesting the same count from an Azure CSV file, measured in the
//! same run. Rounds alternate (generate, ingest, generate, ...), each into
//! a fresh vault, and the medians are compared (target: generate <= 1.5x
//! ingest), with the minimum and maximum of each.
//!
//!     cargo bench --bench generate [-- COUNT [ROUNDS]]
//!
//! Both run in this process through the library (the CLI adds argument
//! parsing and the card KDFs only).

// A benchmark that cannot set itself up stops with the reason: unwrap and
// expect say where.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use seedvault::crypto::KdfParams;
use seedvault::formats::Format;
use seedvault::vault::{parse_params, GenerateSpec, Vault};

#[path = "common/mod.rs"]
mod common;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<u64>().ok());
    let count = args.next().unwrap_or(1_000_000);
    let rounds = args.next().unwrap_or(3);
    let tmp = tempfile::tempdir().expect("tempdir");
    let csv = tmp.path().join("batch.csv");
    common::make_batch("azure-csv", count, 10_000_000, 1, &csv);
    let factory = seedvault::pgp::keys::generate_customer_key("Factory <factory@example.com>")
        .expect("factory key");
    let factory_key = factory.public_armored().expect("armored").into_bytes();
    let params = parse_params("totp,sha1,6,30", None, None).expect("params");
    let first = format!("{:08}", 20_000_000);

    let (mut gen, mut ing) = (Vec::new(), Vec::new());
    let mut burn_mb = 0.0;
    for round in 0..rounds {
        // Generate.
        let dir = tmp.path().join(format!("g{round}"));
        std::fs::create_dir(&dir).unwrap();
        let out = common::vault(&dir, KdfParams::INSECURE_FAST);
        let media = dir.join("media");
        std::fs::create_dir(&media).unwrap();
        let mut u = Vault::open(&dir.join("vault"))
            .expect("open")
            .unseal(common::quorum(&out), "benchmark")
            .expect("unseal");
        let t = Instant::now();
        let r = u
            .generate_batch(&GenerateSpec {
                count,
                first_serial: &first,
                serial_prefix: "",
                params: params.clone(),
                factory_key: &factory_key,
                factory_key_name: "factory.asc",
                format: Format::AzureCsv,
                media: &media,
                label: None,
            })
            .expect("generate");
        gen.push(t.elapsed().as_secs_f64());
        assert_eq!(r.count, count);
        burn_mb = std::fs::metadata(&r.burn_file)
            .map(|m| m.len())
            .unwrap_or(0) as f64
            / 1e6;
        drop(u.finish());
        std::fs::remove_dir_all(&dir).unwrap();

        // Ingest the same count.
        let dir = tmp.path().join(format!("i{round}"));
        std::fs::create_dir(&dir).unwrap();
        let out = common::vault(&dir, KdfParams::INSECURE_FAST);
        let mut u = Vault::open(&dir.join("vault"))
            .expect("open")
            .unseal(common::quorum(&out), "benchmark")
            .expect("unseal");
        let t = Instant::now();
        let r = common::ingest(&mut u, &csv);
        ing.push(t.elapsed().as_secs_f64());
        assert_eq!(r.count, count);
        drop(u.finish());
        std::fs::remove_dir_all(&dir).unwrap();
        eprintln!(
            "round {}: generate {:.2} s, ingest {:.2} s",
            round + 1,
            gen[gen.len() - 1],
            ing[ing.len() - 1]
        );
    }
    let (gmin, gmax) = (
        gen.iter().copied().fold(f64::INFINITY, f64::min),
        gen.iter().copied().fold(0.0, f64::max),
    );
    let (imin, imax) = (
        ing.iter().copied().fold(f64::INFINITY, f64::min),
        ing.iter().copied().fold(0.0, f64::max),
    );
    let (gm, im) = (median(&mut gen), median(&mut ing));
    println!("generate benchmark: {count} TOTP seeds, {rounds} alternating rounds");
    println!(
        "  batch generate (+ burn file, {burn_mb:.1} MB): median {gm:>6.2} s  (min {gmin:.2}, max {gmax:.2})"
    );
    println!(
        "  ingest of an Azure CSV:             median {im:>6.2} s  (min {imin:.2}, max {imax:.2})"
    );
    println!(
        "  ratio generate / ingest (medians):  {:>6.2}   (target <= 1.5)",
        gm / im
    );
}
