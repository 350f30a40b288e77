//! Benchmark (not a test): export of 100,000 seeds against
//! `gpg --encrypt --sign --armor` of the same plaintext to the same
//! RSA-3072 recipient, measured in the same run (target: wall ratio <= 1.0).
//!
//!     cargo bench --bench export [-- COUNT [ROUNDS]]
//!
//! The export is timed in-process through the library: checking the
//! officers' statements, opening every sealed seed, writing the Azure CSV,
//! encrypting and signing, fsync, rename, read-back and the database
//! updates. CPU time is this process's (all threads) for the export and
//! the child's for gpg. A warm-up export makes the plaintext gpg encrypts
//! (as the customer decrypts it); then each of ROUNDS rounds (default 7)
//! exports COUNT serials never exported before and runs gpg, alternating
//! which goes first. A shared machine varies by tens of percent from run
//! to run, so medians are compared, with min and max beside them.

// A benchmark that cannot set itself up stops with the reason: unwrap and
// expect say where.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Its counts (100,000 seeds) fit every integer type they meet.
#![allow(clippy::cast_possible_truncation)]

use std::path::Path;
use std::process::Command;

use seedvault::crypto::KdfParams;
use seedvault::formats::Format;
use seedvault::token::Serial;
use seedvault::vault::{NewRequest, Vault};

#[path = "common/mod.rs"]
mod common;

fn gpg(home: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new("gpg")
        .arg("--homedir")
        .arg(home)
        .args(["--batch", "--yes", "--quiet"])
        .args(args)
        .output()
        .expect("gpg runs");
    assert!(
        out.status.success(),
        "gpg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn main() {
    let numbers: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let count = numbers.first().copied().unwrap_or(100_000);
    let rounds = numbers.get(1).copied().unwrap_or(7).max(1) as usize;
    // One more set of serials than rounds: the first export is a warm-up
    // whose plaintext gpg encrypts in every round.
    let sets = rounds + 1;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let csv = dir.join("batch.csv");
    common::make_batch("azure-csv", count * sets as u64, 20_000_000, 2, &csv);

    // The customer: an RSA-3072 key (signing primary, encryption subkey).
    let home = dir.join("gnupg");
    std::fs::create_dir(&home).expect("mkdir");
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("chmod");
    gpg(
        &home,
        &[
            "--passphrase",
            "",
            "--quick-gen-key",
            "Bench <bench@example.com>",
            "rsa3072",
            "sign",
            "never",
        ],
    );
    let list = String::from_utf8(
        gpg(
            &home,
            &["--with-colons", "--list-keys", "bench@example.com"],
        )
        .stdout,
    )
    .expect("utf8");
    let fpr = list
        .lines()
        .find(|l| l.starts_with("fpr:"))
        .and_then(|l| l.split(':').nth(9))
        .expect("fpr")
        .to_owned();
    gpg(
        &home,
        &[
            "--passphrase",
            "",
            "--quick-add-key",
            &fpr,
            "rsa3072",
            "encr",
            "never",
        ],
    );
    let cert = gpg(&home, &["--armor", "--export", "bench@example.com"]).stdout;

    let out = common::vault(dir, KdfParams::INSECURE_FAST);
    let vdir = dir.join("vault");
    let cards = || common::quorum(&out);
    let pass = common::pass;
    let mut unsealed = Vault::open(&vdir)
        .expect("open")
        .unseal(cards(), "bench")
        .expect("unseal");
    common::ingest(&mut unsealed, &csv);
    let mut v = unsealed.seal();
    let alice = v
        .authenticate(&cards()[0].0, &pass("alice"), "bench")
        .expect("alice");
    let bob = v
        .authenticate(&cards()[1].0, &pass("bob"), "bench")
        .expect("bob");
    v.add_order("1", "Bench", &["bench@example.com".to_owned()], &alice)
        .expect("order");
    let serials: Vec<Serial> = (20_000_000..20_000_000 + count * sets as u64)
        .map(|s| Serial::parse(&s.to_string()).expect("serial"))
        .collect();
    v.assign_serials("1", &serials, &alice).expect("assign");
    gpg(
        &home,
        &[
            "--import",
            dir.join("cards/vault-cert.asc").to_str().expect("path"),
        ],
    );
    // Approved requests, one per set of serials, made before any timing.
    let requests: Vec<String> = (0..sets)
        .map(|set| {
            let request = NewRequest {
                order_id: "1",
                requester: "bench@example.com",
                recipient_key: &cert,
                format: Format::AzureCsv,
                serials: Some(serials[set * count as usize..(set + 1) * count as usize].to_vec()),
                reexport_reason: None,
                upns: None,
            };
            let (req, made) =
                common::time_in_process(|| v.create_request(request, &alice).expect("request"));
            let ((), decided) = common::time_in_process(|| {
                v.decide_request(&req.id, true, None, &bob)
                    .expect("approve");
            });
            if set == 0 {
                println!(
                    "  request create of {count} serials: {:.3} s wall, {:.2} s CPU; approve: {:.3} s wall",
                    made.wall, made.cpu, decided.wall
                );
            }
            req.id
        })
        .collect();
    let mut unsealed = v.unseal(cards(), "bench").expect("unseal");
    let export = |u: &mut seedvault::vault::UnsealedVault, set: usize| {
        let media = dir.join(format!("media-{set}"));
        std::fs::create_dir(&media).expect("mkdir");
        u.export(&requests[set], &media).expect("export")
    };

    // Warm-up: the plaintext gpg encrypts, as the customer reads it.
    let warm = export(&mut unsealed, 0);
    let dec = gpg(&home, &["--decrypt", warm.bundle.to_str().expect("path")]);
    let plain = dir.join("plain.csv");
    std::fs::write(&plain, &dec.stdout).expect("write");
    let bundle_len = std::fs::metadata(&warm.bundle)
        .map(|m| m.len())
        .unwrap_or(0);

    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let run_gpg = |theirs: &mut Vec<common::Sample>| {
            let out = dir.join(format!("gpg-{round}.asc"));
            let ((), s) = common::time_child(|| {
                gpg(
                    &home,
                    &[
                        "--trust-model",
                        "always",
                        "--encrypt",
                        "--sign",
                        "--armor",
                        "-r",
                        "bench@example.com",
                        "-u",
                        "bench@example.com",
                        "-o",
                        out.to_str().expect("path"),
                        plain.to_str().expect("path"),
                    ],
                );
            });
            theirs.push(s);
        };
        // Alternating which goes first, so neither always finds the
        // page cache or the other helpers' load in its favour.
        if round % 2 == 1 {
            run_gpg(&mut theirs);
        }
        let (_, s) = common::time_in_process(|| export(&mut unsealed, round + 1));
        ours.push(s);
        if round % 2 == 0 {
            run_gpg(&mut theirs);
        }
        println!(
            "  round {round}: export {:.3} s wall {:.2} s CPU, gpg {:.3} s wall {:.2} s CPU",
            ours[round].wall, ours[round].cpu, theirs[round].wall, theirs[round].cpu
        );
    }
    drop(unsealed);
    // The agent gpg started for this home would outlive the directory.
    let _ = Command::new("gpgconf")
        .arg("--homedir")
        .arg(&home)
        .args(["--kill", "gpg-agent"])
        .status();

    println!(
        "export benchmark: {count} seeds as azure-csv ({:.1} MB plaintext, {:.1} MB bundle) to an RSA-3072 recipient",
        dec.stdout.len() as f64 / 1e6,
        bundle_len as f64 / 1e6
    );
    common::print_versus(
        "export",
        (
            "seedvault export (open, write, encrypt+sign, fsync, read back, log)",
            &ours,
        ),
        ("gpg --encrypt --sign --armor (same plaintext)", &theirs),
        "wall <= 1.0",
    );
}
