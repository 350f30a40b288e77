//! Setup shared by the benchmarks: batches from make-batch.py and a
//! fast-KDF vault (the benchmarks measure ingest, export and audit, not
//! Argon2id; `ceremony` measures that with the production parameters).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use secrecy::SecretString;
use seedvault::cards::SealedCard;
use seedvault::crypto::KdfParams;
use seedvault::vault::{self, InitOutcome, InitParams};

/// The custodians of a benchmark vault.
pub const NAMES: [&str; 2] = ["alice", "bob"];

/// `shared/` beside the repository, or `$SEEDVAULT_SHARED_DIR`.
pub fn shared() -> PathBuf {
    std::env::var_os("SEEDVAULT_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"))
}

/// Writes a make-batch.py batch of `count` tokens to `out`.
pub fn make_batch(format: &str, count: u64, first: u64, rng_seed: u32, out: &Path) {
    let st = Command::new("python3")
        .arg(shared().join("tools/make-batch.py"))
        .args([
            "--format",
            format,
            "--count",
            &count.to_string(),
            "--first",
            &first.to_string(),
            "--rng-seed",
            &rng_seed.to_string(),
        ])
        .arg("--out")
        .arg(out)
        .status()
        .expect("python3 runs");
    assert!(st.success(), "make-batch.py failed");
}

/// A custodian's benchmark passphrase.
pub fn pass(name: &str) -> SecretString {
    SecretString::from(format!("{name}-bench-passphrase"))
}

/// Creates a 2-of-2 vault in `dir/vault` with cards in `dir/cards`.
pub fn vault(dir: &Path, kdf: KdfParams) -> InitOutcome {
    vault::init(
        &dir.join("vault"),
        InitParams {
            threshold: 2,
            custodians: NAMES.iter().map(|s| s.to_string()).collect(),
            passphrases: NAMES.iter().map(|n| pass(n)).collect(),
            kdf,
            approval_ttl_s: vault::DEFAULT_APPROVAL_TTL_S,
            cards_out: dir.join("cards"),
        },
    )
    .expect("init")
}

/// The quorum of `out`'s cards with their passphrases.
pub fn quorum(out: &InitOutcome) -> Vec<(SealedCard, SecretString)> {
    out.card_paths
        .iter()
        .zip(NAMES)
        .map(|(p, n)| (SealedCard::read(p).expect("card"), pass(n)))
        .collect()
}
