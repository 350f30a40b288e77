//! Setup shared by the benchmarks: synthetic batches and a
//! fast-KDF vault (the benchmarks measure ingest, export and audit, not
//! Argon2id; `ceremony` measures that with the production parameters).
#![allow(dead_code)]

/// The batch generator the integration tests use.
#[path = "../../tests/common/batch.rs"]
pub mod batch;

use std::path::Path;

use secrecy::SecretString;
use seedvault::cards::SealedCard;
use seedvault::crypto::KdfParams;
use seedvault::vault::{self, InitOutcome, InitParams};

/// The custodians of a benchmark vault.
pub const NAMES: [&str; 2] = ["alice", "bob"];

/// Writes a synthetic batch of `count` tokens (the tests' generator,
/// `tests/common/batch.rs`) to `out`.
pub fn make_batch(format: &str, count: u64, first: u64, rng_seed: u32, out: &Path) {
    let spec = batch::BatchSpec::new(count, first, u64::from(rng_seed));
    batch::write_files(format, &spec, out, None)
        .unwrap_or_else(|e| panic!("writing the batch {}: {e}", out.display()));
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
