//! Benchmark (not a test): rekey of a vault holding 1,000,000 seeds in
//! 1,000 batches (target: <= 2 s, the key derivation of the cards
//! excluded: the vault uses the fast test KDF).
//!
//!     cargo bench --bench rekey [-- SEEDS [BATCHES]]
//!
//! Timed in-process through the library, as the commands run it: `start`
//! (new key and cards, every data key and the vault key rewrapped, the
//! pending tables and the entry written, the closing checkpoint), the five
//! new custodians' `verify`, and `commit` (the log check over the whole
//! chain, the cards' shares, every new wrap opened under the new key, the
//! switch in one transaction, the closing checkpoint). Setting up the
//! vault (1,000 ingests) is not timed.

// A benchmark that cannot set itself up stops with the reason: unwrap and
// expect say where.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Its counts fit every integer type they meet.
#![allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]

use std::time::Instant;

use seedvault::cards::SealedCard;
use seedvault::crypto::KdfParams;
use seedvault::vault::{BrokenLogPolicy, RekeyParams, Vault};

#[path = "common/mod.rs"]
mod common;

const NEW: [&str; 5] = ["alice", "bob", "dave", "erin", "frank"];

fn main() {
    let numbers: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let seeds = numbers.first().copied().unwrap_or(1_000_000);
    let batches = numbers.get(1).copied().unwrap_or(1_000).max(1);
    let per_batch = seeds / batches;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let out = common::vault(dir, KdfParams::INSECURE_FAST);
    let vdir = dir.join("vault");

    // Setup (not timed): BATCHES ingests of SEEDS / BATCHES tokens.
    let t = Instant::now();
    let mut unsealed = Vault::open(&vdir)
        .expect("open")
        .unseal(common::quorum(&out), "benchmark setup")
        .expect("unseal");
    let csv = dir.join("batch.csv");
    for b in 0..batches {
        common::make_batch("hex", per_batch, 1_000_000 + b * per_batch, 7, &csv);
        common::ingest(&mut unsealed, &csv);
        std::fs::remove_file(&csv).expect("rm");
    }
    let (_v, cp) = unsealed.finish();
    cp.expect("checkpoint");
    eprintln!(
        "set up {} seeds in {batches} batches in {:.1} s",
        per_batch * batches,
        t.elapsed().as_secs_f64()
    );

    // start
    let t = Instant::now();
    let mut unsealed = Vault::open(&vdir)
        .expect("open")
        .unseal(common::quorum(&out), "rekey start")
        .expect("unseal");
    let cards_out = dir.join("new-cards");
    let started = unsealed
        .rekey_start(RekeyParams {
            threshold: 3,
            custodians: NEW.iter().map(|s| s.to_string()).collect(),
            passphrases: NEW.iter().map(|n| common::pass(n)).collect(),
            cards_out: cards_out.clone(),
        })
        .expect("rekey start");
    let (_v, cp) = unsealed.finish();
    cp.expect("checkpoint");
    let start_s = t.elapsed().as_secs_f64();

    // verify, each custodian their own card
    let card = |n: &str| SealedCard::read(&cards_out.join(format!("{n}.card"))).expect("card");
    let t = Instant::now();
    for n in NEW {
        let mut v = Vault::open(&vdir).expect("open");
        v.check_rekey_cards(&[card(n)], false).expect("header");
        v.rekey_verify(&card(n), &common::pass(n)).expect("verify");
    }
    let verify_s = t.elapsed().as_secs_f64();

    // commit with 3 of the 5
    let t = Instant::now();
    let mut v = Vault::open(&vdir).expect("open");
    let cards: Vec<SealedCard> = ["alice", "dave", "frank"].iter().map(|n| card(n)).collect();
    v.check_rekey_cards(&cards, true).expect("all verified");
    let log = v.check_log(BrokenLogPolicy::Refuse).expect("log");
    let with_pass = cards
        .into_iter()
        .zip(["alice", "dave", "frank"])
        .map(|(c, n)| (c, common::pass(n)))
        .collect();
    let (done, unsealed) = v.rekey_commit(with_pass, log).expect("commit");
    let (_v, cp) = unsealed.finish();
    cp.expect("checkpoint");
    let commit_s = t.elapsed().as_secs_f64();
    assert_eq!(done.data_keys, batches);
    assert_eq!(done.rekey_id, started.rekey_id);

    let total = start_s + verify_s + commit_s;
    println!(
        "rekey benchmark: {} seeds in {batches} batches, 2-of-2 -> 3-of-5 (fast KDF)",
        per_batch * batches
    );
    println!("  rekey start:             {start_s:>7.3} s  (unseal, new key and cards, {batches} data keys + vault key rewrapped, checkpoint)");
    println!("  rekey verify x5:         {verify_s:>7.3} s");
    println!("  rekey commit:            {commit_s:>7.3} s  (log check, combine, {batches} wraps opened, switch, checkpoint)");
    println!("  total:                   {total:>7.3} s  (target <= 2)");
}
