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
use seedvault::formats::ReadOptions;
use seedvault::vault::{self, IngestOutcome, IngestSource, InitOutcome, InitParams, UnsealedVault};

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

/// Ingests `file` into `u` as `seedvault ingest FILE` does: the format
/// detected, no label, no factory certificate.
pub fn ingest(u: &mut UnsealedVault, file: &Path) -> IngestOutcome {
    u.ingest(&IngestSource {
        path: file,
        format: None,
        label: None,
        factory_cert: None,
        read_options: &ReadOptions::default(),
    })
    .unwrap_or_else(|e| panic!("ingesting {}: {e}", file.display()))
}

/// CPU seconds (user + system) used so far by this process (`self`, all
/// its threads, living and exited) and by its waited-for children
/// (`children`), from `/proc/self/stat` (clock ticks, usually 10 ms).
pub fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name may hold spaces: fields are counted after its ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // After ')': state is field 3, utime 14, stime 15, cutime 16, cstime 17.
    let at = |n: usize| f.get(n - 3).copied().unwrap_or(0.0);
    let tick = clock_ticks();
    ((at(14) + at(15)) / tick, (at(16) + at(17)) / tick)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux).
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// One timed run: wall seconds and CPU seconds (user + system).
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Elapsed time.
    pub wall: f64,
    /// CPU time of the work (this process's or the child's).
    pub cpu: f64,
}

/// Times `work` run in this process (CPU: this process, all threads).
pub fn time_in_process<T>(work: impl FnOnce() -> T) -> (T, Sample) {
    let (cpu0, _) = cpu_seconds();
    let t = std::time::Instant::now();
    let out = work();
    let wall = t.elapsed().as_secs_f64();
    let (cpu1, _) = cpu_seconds();
    (
        out,
        Sample {
            wall,
            cpu: cpu1 - cpu0,
        },
    )
}

/// Times `work`, which runs a child process to completion (CPU: the
/// waited-for children's, so the peer tool's own).
pub fn time_child<T>(work: impl FnOnce() -> T) -> (T, Sample) {
    let (_, c0) = cpu_seconds();
    let t = std::time::Instant::now();
    let out = work();
    let wall = t.elapsed().as_secs_f64();
    let (_, c1) = cpu_seconds();
    (out, Sample { wall, cpu: c1 - c0 })
}

/// Median, min and max of `v` (not empty).
pub fn stats(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    (s[s.len() / 2], s[0], s[s.len() - 1])
}

/// Prints one side's figures: median (min..max) of wall and CPU time.
pub fn print_side(label: &str, samples: &[Sample]) {
    let (w, wmin, wmax) = stats(&samples.iter().map(|s| s.wall).collect::<Vec<_>>());
    let (c, cmin, cmax) = stats(&samples.iter().map(|s| s.cpu).collect::<Vec<_>>());
    println!(
        "  {label:<44} wall {w:>7.3} s ({wmin:.3}..{wmax:.3})   CPU {c:>7.3} s ({cmin:.3}..{cmax:.3})"
    );
}

/// Prints "ours vs peer, ratio": both sides' medians with min and max, and
/// the ratios of the medians in wall and CPU time, with the target.
pub fn print_versus(what: &str, ours: (&str, &[Sample]), peer: (&str, &[Sample]), target: &str) {
    println!(
        "{what}: ours vs peer, median of {} alternating runs (min..max)",
        ours.1.len()
    );
    print_side(ours.0, ours.1);
    print_side(peer.0, peer.1);
    let med = |s: &[Sample], f: fn(&Sample) -> f64| stats(&s.iter().map(f).collect::<Vec<_>>()).0;
    println!(
        "  ours vs peer, ratio: wall {:.2}, CPU {:.2}   (target: {target})",
        med(ours.1, |s| s.wall) / med(peer.1, |s| s.wall),
        med(ours.1, |s| s.cpu) / med(peer.1, |s| s.cpu),
    );
}

/// Peak resident set size of this process so far (VmHWM), in MB.
pub fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}
