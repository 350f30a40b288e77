//! Benchmark (not a test): the key ceremony and one unseal with the
//! production Argon2id parameters (RFC 9106 second option: t=3, p=4,
//! 64 MiB). Prints figures; run with `cargo bench --bench ceremony`.

// A benchmark that cannot set itself up stops with the reason: unwrap and
// expect say where.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use seedvault::crypto::KdfParams;
use seedvault::vault::Vault;

#[path = "common/mod.rs"]
mod common;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let runs = 5;
    let mut inits = Vec::new();
    let mut unseals = Vec::new();
    for _ in 0..runs {
        let tmp = tempfile::tempdir().expect("tempdir");
        let t = Instant::now();
        let out = common::vault(tmp.path(), KdfParams::RFC9106_SECOND);
        inits.push(t.elapsed());

        let t = Instant::now();
        let v = Vault::open(&tmp.path().join("vault")).expect("open");
        let unsealed = v.unseal(common::quorum(&out), "benchmark").expect("unseal");
        unseals.push(t.elapsed());
        drop(unsealed);
    }
    println!("ceremony benchmark, Argon2id m=64 MiB t=3 p=4, {runs} runs, median:");
    println!(
        "  init 2-of-2 (2 cards sealed, vault key, database): {:>8.1} ms",
        median(inits).as_secs_f64() * 1e3
    );
    println!(
        "  unseal with 2 cards (2 x Argon2id, combine, check): {:>8.1} ms",
        median(unseals).as_secs_f64() * 1e3
    );
}
