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
    for (name, f) in TARGETS {
        replay(name, *f, &fuzz_dir().join("regressions").join(name));
    }
}
