//! Benchmark (not a test): export of 100,000 seeds against
//! `gpg --encrypt --sign --armor` of the same plaintext to the same
//! recipient, measured in the same run (target ratio <= 1.2).
//!
//!     cargo bench --bench export [-- COUNT [ROUNDS]]
//!
//! The export is timed in-process through the library: opening every
//! sealed seed, writing the Azure CSV, encrypting and signing, fsync,
//! rename, read-back and the database updates. gpg signs with an Ed25519
//! key, as the vault does. Each round exports COUNT serials never exported
//! before (a request approved by the second officer) and then runs gpg, so
//! both see the same machine; a shared VM varies by tens of percent from run
//! to run, so the medians of ROUNDS rounds (default 5) are compared.

// A benchmark that cannot set itself up stops with the reason: unwrap and
// expect say where.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Its counts (100,000 seeds) fit every integer type they meet.
#![allow(clippy::cast_possible_truncation)]

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use seedvault::crypto::KdfParams;
use seedvault::formats::{Format, ReadOptions};
use seedvault::token::Serial;
use seedvault::vault::{IngestSource, NewRequest, Vault};

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
    let rounds = numbers.get(1).copied().unwrap_or(5).max(1) as usize;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let csv = dir.join("batch.csv");
    common::make_batch("azure-csv", count * rounds as u64, 20_000_000, 2, &csv);

    // The customer: a gpg key (Ed25519 + Cv25519), used by both sides.
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
            "ed25519",
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
            "cv25519",
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
    unsealed
        .ingest(&IngestSource {
            path: &csv,
            format: None,
            label: None,
            factory_cert: None,
            read_options: &ReadOptions::default(),
        })
        .expect("ingest");
    let mut v = unsealed.seal();
    let alice = v
        .authenticate(&cards()[0].0, &pass("alice"), "bench")
        .expect("alice");
    let bob = v
        .authenticate(&cards()[1].0, &pass("bob"), "bench")
        .expect("bob");
    v.add_order("1", "Bench", &["bench@example.com".to_owned()], &alice)
        .expect("order");
    let serials: Vec<Serial> = (20_000_000..20_000_000 + count * rounds as u64)
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
    let plain = dir.join("plain.csv");
    let mut plain_len = 0;
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let these = serials[round * count as usize..(round + 1) * count as usize].to_vec();
        let request = NewRequest {
            order_id: "1",
            requester: "bench@example.com",
            recipient_key: &cert,
            format: Format::AzureCsv,
            serials: Some(these),
            reexport_reason: None,
            upns: None,
        };
        let req = v.create_request(request, &alice).expect("request");
        v.decide_request(&req.id, true, None, &bob)
            .expect("approve");
        let mut unsealed = v.unseal(cards(), "bench").expect("unseal");
        let media = dir.join(format!("media-{round}"));
        std::fs::create_dir(&media).expect("mkdir");

        let t = Instant::now();
        let done = unsealed.export(&req.id, &media).expect("export");
        ours.push(t.elapsed().as_secs_f64());
        v = unsealed.seal();

        // The same plaintext, through gpg, to the same recipient.
        let dec = gpg(&home, &["--decrypt", done.bundle.to_str().expect("path")]);
        plain_len = dec.stdout.len();
        std::fs::write(&plain, &dec.stdout).expect("write");
        let out = dir.join(format!("gpg-{round}.asc"));
        let t = Instant::now();
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
        theirs.push(t.elapsed().as_secs_f64());
        println!(
            "  round {round}: export {:.3} s, gpg {:.3} s, ratio {:.2}",
            ours[round],
            theirs[round],
            ours[round] / theirs[round]
        );
    }
    let (export_s, gpg_s) = (median(&mut ours), median(&mut theirs));
    // The agent gpg started for this home would outlive the directory.
    let _ = Command::new("gpgconf")
        .arg("--homedir")
        .arg(&home)
        .args(["--kill", "gpg-agent"])
        .status();

    println!("export benchmark: {count} seeds as azure-csv ({:.1} MB plaintext), median of {rounds} rounds", plain_len as f64 / 1e6);
    println!("  seedvault export (open seeds, write, encrypt+sign, fsync, read back, log): {export_s:>6.3} s");
    println!("  gpg --encrypt --sign --armor of the same plaintext:                        {gpg_s:>6.3} s");
    println!(
        "  ratio export / gpg: {:.2}   (target <= 1.2)",
        export_s / gpg_s
    );
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
