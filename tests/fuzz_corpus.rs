//! Replays every committed fuzz input (the seed corpus under
//! `fuzz/corpus/<target>/` and the crash cases under
//! `fuzz/regressions/<target>/`) through the same entry points the fuzz
//! targets call (`seedvault::fuzzing`), without libFuzzer: CI proves that
//! no committed input panics. A failure names the target and the file.

use std::path::{Path, PathBuf};

use seedvault::fuzzing::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files directly in `dir`, sorted; none when it does not exist.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// Runs `f` on every file of `dir`, naming each input that panics.
fn replay(target: &str, f: fn(&[u8]), dir: &Path) -> usize {
    let files = inputs(dir);
    let mut failed = Vec::new();
    for file in &files {
        let data = std::fs::read(file).unwrap();
        if std::panic::catch_unwind(|| f(&data)).is_err() {
            failed.push(file.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "fuzz target {target}: these inputs panic:\n  {}",
        failed.join("\n  ")
    );
    files.len()
}

#[test]
fn every_fuzz_target_has_a_seed_corpus_and_a_target_file() {
    let fuzz = fuzz_dir();
    for (name, _) in TARGETS {
        assert!(
            fuzz.join("fuzz_targets")
                .join(format!("{name}.rs"))
                .is_file(),
            "fuzz/fuzz_targets/{name}.rs is missing"
        );
        assert!(
            !inputs(&fuzz.join("corpus").join(name)).is_empty(),
            "fuzz/corpus/{name}/ holds no seed input"
        );
    }
    // No corpus or regression directory of a target that no longer exists.
    for sub in ["corpus", "regressions"] {
        for e in std::fs::read_dir(fuzz.join(sub)).unwrap() {
            let e = e.unwrap();
            if e.path().is_dir() {
                let name = e.file_name().to_string_lossy().into_owned();
                assert!(
                    TARGETS.iter().any(|(t, _)| *t == name),
                    "fuzz/{sub}/{name}/ belongs to no fuzz target"
                );
            }
        }
    }
}

#[test]
fn no_seed_corpus_input_panics() {
    let mut total = 0;
    for (name, f) in TARGETS {
        total += replay(name, *f, &fuzz_dir().join("corpus").join(name));
    }
    assert!(
        total >= TARGETS.len(),
        "only {total} corpus inputs replayed"
    );
}

#[test]
fn no_regression_input_panics() {
    let mut total = 0;
    for (name, f) in TARGETS {
        total += replay(name, *f, &fuzz_dir().join("regressions").join(name));
    }
    assert!(total > 0, "fuzz/regressions/ holds no input");
}

/// Replays a campaign's grown corpus (`fuzz/work/<target>/`, or below the
/// directory `SEEDVAULT_FUZZ_WORK` names) through the current code: after
/// a change to a parser, the inputs an earlier build found interesting.
/// Not in the default suite, since the grown corpus is not committed:
/// `cargo nextest run --run-ignored only -E 'test(grown_corpus)'`.
#[test]
#[ignore = "needs a fuzzing campaign's grown corpus (fuzz/README.md)"]
fn no_grown_corpus_input_panics() {
    let work = std::env::var_os("SEEDVAULT_FUZZ_WORK")
        .map_or_else(|| fuzz_dir().join("work"), PathBuf::from);
    let mut total = 0;
    for (name, f) in TARGETS {
        total += replay(name, *f, &work.join(name));
    }
    assert!(total > 0, "{} holds no grown corpus", work.display());
    eprintln!(
        "{total} grown corpus inputs replayed from {}",
        work.display()
    );
}

/// Found by the `pgp_batch` target: sequoia-openpgp panicked (exit 101)
/// on an encrypted batch cut short inside its encrypted data packet's
/// header. `ingest` now refuses it as malformed, exit 1, without a panic
/// report, and the log still verifies.
#[test]
fn an_encrypted_batch_cut_short_is_refused_not_a_panic() {
    let v = crate::common::TestVault::new(2, &["alice", "bob", "carol"]);
    let (batch, _) = crate::common::make_batch(v.tmp.path(), "hex", 10, 40_000_000, 3);
    // Encrypted by gpg, as a factory does (binary, unsigned).
    let gpg = crate::common::Gpg::new();
    let cert = v.cards.join("vault-cert.asc");
    gpg.run(&["--import", cert.to_str().unwrap()]);
    let encrypted = v.tmp.path().join("batch.pgp");
    gpg.run(&[
        "--trust-model",
        "always",
        "--recipient",
        &format!("vault-{}@seedvault.invalid", v.vault_id),
        "--output",
        encrypted.to_str().unwrap(),
        "--encrypt",
        batch.to_str().unwrap(),
    ]);
    let msg = std::fs::read(&encrypted).unwrap();
    // A new-format PKESK with a one-byte length, then the encrypted data
    // packet. Cut in its first bytes: some cuts hold the cipher's header
    // but not the MDC sequoia reserves after it (the panic), others fail
    // earlier; every one is refused with exit 1, none panics.
    let seip = match msg[0] {
        0x84 | 0xC1 => 2 + usize::from(msg[1]),
        other => panic!("a PKESK with a one-byte length first, not {other:#x}"),
    };
    let mut cut_short = 0;
    for body in (16..48).step_by(2) {
        let cut = v.tmp.path().join(format!("cut-{body}.pgp"));
        std::fs::write(&cut, &msg[..seip + body]).unwrap();
        let out = v.ingest_output(&cut, &["alice", "bob"]);
        let t = crate::common::text(&out);
        assert_eq!(out.status.code(), Some(1), "cut after {body} bytes: {t}");
        assert!(!t.contains("panicked"), "{t}");
        assert!(t.contains("nothing was ingested"), "{t}");
        if t.contains("the message is cut short or damaged") {
            cut_short += 1;
        }
    }
    assert!(cut_short > 0, "no cut reached the encrypted data's header");
    v.cmd().args(["audit", "verify"]).assert().success();
}
