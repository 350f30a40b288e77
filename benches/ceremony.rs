//! Benchmark (not a test): the key ceremony and one unseal with the
//! production Argon2id parameters (RFC 9106 second option: t=3, p=4,
//! 64 MiB). Prints figures; run with `cargo bench --bench ceremony`.

use std::time::{Duration, Instant};

use secrecy::SecretString;
use seedvault::cards::SealedCard;
use seedvault::crypto::KdfParams;
use seedvault::vault::{self, InitParams, Vault};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let runs = 5;
    let names = ["alice", "bob", "carol"];
    let pass = |n: &str| SecretString::from(format!("{n}-bench-passphrase"));
    let mut inits = Vec::new();
    let mut unseals = Vec::new();
    for _ in 0..runs {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("vault");
        let cards = tmp.path().join("cards");
        let t = Instant::now();
        let out = vault::init(
            &dir,
            InitParams {
                threshold: 2,
                custodians: names.iter().map(|s| s.to_string()).collect(),
                passphrases: names.iter().map(|n| pass(n)).collect(),
                kdf: KdfParams::RFC9106_SECOND,
                approval_ttl_s: vault::DEFAULT_APPROVAL_TTL_S,
                cards_out: cards,
            },
        )
        .expect("init");
        inits.push(t.elapsed());

        let t = Instant::now();
        let v = Vault::open(&dir).expect("open");
        let quorum = out.card_paths[..2]
            .iter()
            .zip(names)
            .map(|(p, n)| (SealedCard::read(p).expect("card"), pass(n)))
            .collect();
        let unsealed = v.unseal(quorum, "benchmark").expect("unseal");
        unseals.push(t.elapsed());
        drop(unsealed);
    }
    println!("ceremony benchmark, Argon2id m=64 MiB t=3 p=4, {runs} runs, median:");
    println!("  init 2-of-3 (3 cards sealed, vault key, database): {:>8.1} ms", median(inits).as_secs_f64() * 1e3);
    println!("  unseal with 2 cards (2 x Argon2id, combine, check): {:>8.1} ms", median(unseals).as_secs_f64() * 1e3);
}
