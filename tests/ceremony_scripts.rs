//! The ceremony scripts, run as a rehearsal runs them (passphrases from
//! files, no terminal) against the real binary: what the people in a
//! ceremony would see checked must really be checked.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{request_id, require_tool, text, Gpg, TestVault};

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("ceremony-scripts")
        .join(name)
}

/// `bash SCRIPT` with the binary under test, no terminal, no inherited vault.
fn run(name: &str, args: &[&std::ffi::OsStr]) -> Output {
    require_tool("bash");
    Command::new("bash")
        .arg(script(name))
        .args(args)
        .env("SEEDVAULT", env!("CARGO_BIN_EXE_seedvault"))
        .env("SV_NONINTERACTIVE", "1")
        .env_remove("SEEDVAULT_DIR")
        .env_remove("SV_PASSPHRASE_DIR")
        .env_remove("SV_PASSPHRASE_FILE")
        .env_remove("SV_EXPECT_FINGERPRINT")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

fn os<S: AsRef<std::ffi::OsStr> + ?Sized>(s: &S) -> &std::ffi::OsStr {
    s.as_ref()
}

fn write_passphrases(dir: &Path, names: &[&str]) {
    std::fs::create_dir_all(dir).unwrap();
    for n in names {
        std::fs::write(
            dir.join(format!("{n}.txt")),
            format!("{n}-rehearsal-passphrase\n"),
        )
        .unwrap();
    }
}

#[test]
fn key_ceremony_writes_checked_cards_and_prints_the_record() {
    let tmp = tempfile::tempdir().unwrap();
    let (vault, cards, pp) = (
        tmp.path().join("vault"),
        tmp.path().join("cards"),
        tmp.path().join("pp"),
    );
    let record = tmp.path().join("record.txt");
    write_passphrases(&pp, &["ann", "ben", "cat"]);
    let out = run(
        "key-ceremony.sh",
        &[
            os("--vault"),
            vault.as_os_str(),
            os("--cards-out"),
            cards.as_os_str(),
            os("--threshold"),
            os("2"),
            os("--custodian"),
            os("ann"),
            os("--custodian"),
            os("ben"),
            os("--custodian"),
            os("cat"),
            os("--passphrase-dir"),
            pp.as_os_str(),
            os("--insecure-fast-kdf"),
            os("--record"),
            record.as_os_str(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    for f in ["ann.card", "ben.card", "cat.card", "vault-cert.asc"] {
        assert!(cards.join(f).is_file(), "{f} missing: {}", text(&out));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let vault_id = stdout
        .lines()
        .last()
        .unwrap()
        .strip_prefix("vault id: ")
        .expect("last line names the vault id")
        .to_owned();
    assert!(
        vault_id.len() == 16 && vault_id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{vault_id}"
    );

    // The printed id and fingerprint are the vault's own.
    let status = crate::common::seedvault()
        .arg("--vault")
        .arg(&vault)
        .args(["status", "--json"])
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["vault_id"], vault_id.as_str());
    let fpr = status["vault_fingerprint"].as_str().unwrap();
    let grouped: Vec<String> = fpr
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    assert!(
        stdout.contains(&grouped.join(" ")),
        "record shows the certificate fingerprint: {stdout}"
    );
    assert!(
        stdout.contains("TEST VAULT"),
        "a fast-KDF vault is flagged in the record"
    );
    assert_eq!(
        std::fs::read_to_string(&record).unwrap().lines().count() + 1,
        stdout.lines().count()
    );

    // Every custodian checked their own card; the checks are in stderr.
    let stderr = String::from_utf8_lossy(&out.stderr);
    for n in ["ann", "ben", "cat"] {
        assert!(
            stderr.contains(&format!("card OK: custodian {n}")),
            "{stderr}"
        );
    }
    // No passphrase ever reaches the output.
    assert!(!text(&out).contains("rehearsal-passphrase"));
}

#[test]
fn key_ceremony_refuses_a_cards_directory_that_is_not_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let (vault, cards, pp) = (
        tmp.path().join("vault"),
        tmp.path().join("cards"),
        tmp.path().join("pp"),
    );
    write_passphrases(&pp, &["ann", "ben"]);
    std::fs::create_dir(&cards).unwrap();
    std::fs::write(cards.join("old.card"), b"an old card").unwrap();
    let out = run(
        "key-ceremony.sh",
        &[
            os("--vault"),
            vault.as_os_str(),
            os("--cards-out"),
            cards.as_os_str(),
            os("--threshold"),
            os("2"),
            os("--custodian"),
            os("ann"),
            os("--custodian"),
            os("ben"),
            os("--passphrase-dir"),
            pp.as_os_str(),
            os("--insecure-fast-kdf"),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not empty"),
        "{}",
        text(&out)
    );
    assert!(!vault.join("vault.db").exists(), "no vault was made");
}

#[test]
fn card_check_passes_the_right_passphrase_and_refuses_a_wrong_one() {
    let v = TestVault::new(2, &["alice", "bob"]);
    let card = v.card("alice");
    let ok = run(
        "card-check.sh",
        &[
            card.as_os_str(),
            os("--vault"),
            v.vault.as_os_str(),
            os("--passphrase-file"),
            v.pass("alice").as_os_str(),
        ],
    );
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(
        text(&ok).contains("card OK: custodian alice"),
        "{}",
        text(&ok)
    );
    let bad = run(
        "card-check.sh",
        &[
            card.as_os_str(),
            os("--vault"),
            v.vault.as_os_str(),
            os("--passphrase-file"),
            v.pass("bob").as_os_str(),
        ],
    );
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(text(&bad).contains("wrong passphrase"), "{}", text(&bad));
}

/// A customer key made by gpg; returns (armored certificate file, fingerprint).
fn customer_key(dir: &Path) -> (PathBuf, String) {
    let gpg = Gpg::with_flags(&["--passphrase", ""]);
    let fpr = gpg.make(
        "Acme IT <it@acme.example>",
        "ed25519",
        Some("cv25519"),
        "never",
        None,
    );
    let file = gpg.export("it@acme.example", &dir.join("acme.asc"));
    (file, fpr)
}

#[test]
fn export_ceremony_confirms_the_fingerprint_exports_and_verifies_the_manifest() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let dir = v.tmp.path();
    v.ingest("azure-csv", 6, 70_000_000, 5);
    v.add_order("4711", "Acme", &["it@acme.example"], "alice");
    v.assign("4711", 70_000_000..70_000_003, "alice");
    let (key, fpr) = customer_key(dir);
    let req = request_id(&v.create_request("4711", "it@acme.example", "hex", &key, "alice", &[]));
    let media = v.media();
    let ceremony = |expect: &str| {
        run(
            "export-ceremony.sh",
            &[
                os("--vault"),
                v.vault.as_os_str(),
                os("--request"),
                os(&req),
                os("--media"),
                media.as_os_str(),
                os("--card"),
                v.card("bob").as_os_str(),
                os("--card"),
                v.card("carol").as_os_str(),
                os("--passphrase-file"),
                v.pass("bob").as_os_str(),
                os("--passphrase-file"),
                v.pass("carol").as_os_str(),
                os("--expect-fingerprint"),
                os(expect),
            ],
        )
    };

    // Not approved yet: refused before any card is asked for.
    let early = ceremony(&fpr);
    assert_eq!(early.status.code(), Some(1), "{}", text(&early));
    assert!(
        text(&early).contains("only an approved request"),
        "{}",
        text(&early)
    );
    v.approve_ok(&req, "bob");

    // A fingerprint other than the confirmed one stops the ceremony before export.
    let wrong = ceremony("0000000000000000000000000000000000000000");
    assert_eq!(wrong.status.code(), Some(1), "{}", text(&wrong));
    assert!(text(&wrong).contains("do not export"), "{}", text(&wrong));
    assert_eq!(
        std::fs::read_dir(&media).unwrap().count(),
        0,
        "nothing written on a wrong fingerprint"
    );

    // A certificate on the medium that is not the vault's stops the ceremony before export.
    let planted = media.join("vault-cert.asc");
    std::fs::copy(&key, &planted).unwrap();
    let foreign = ceremony(&fpr);
    assert_eq!(foreign.status.code(), Some(1), "{}", text(&foreign));
    assert!(
        text(&foreign).contains("is not this vault's certificate"),
        "{}",
        text(&foreign)
    );
    assert_eq!(
        std::fs::read_dir(&media).unwrap().count(),
        1,
        "nothing but the planted file"
    );
    std::fs::remove_file(&planted).unwrap();

    // The fingerprint as read aloud (grouped, lower case) is accepted.
    let spoken: Vec<String> = fpr
        .to_lowercase()
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    let out = ceremony(&spoken.join(" "));
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("manifest verified: yes"), "{stdout}");
    let bundle = media.join(format!("4711-{req}.hex.asc"));
    let manifest = std::fs::read_to_string(media.join(format!("4711-{req}.manifest.asc"))).unwrap();
    assert!(
        media.join("vault-cert.asc").is_file(),
        "the vault certificate goes on the medium"
    );
    let sha = {
        let out = Command::new("sha256sum").arg(&bundle).output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    assert!(
        stdout.contains(&format!("bundle sha256  {sha}")),
        "{stdout}"
    );
    assert!(
        manifest.contains(&format!("bundle-sha256: {sha}\n")),
        "{manifest}"
    );
    assert!(
        manifest.contains(&format!("recipient: {fpr}\n")),
        "{manifest}"
    );

    let state = v.cmd().args(["request", "list"]).output().unwrap();
    assert!(text(&state).contains("exported"), "{}", text(&state));
}
