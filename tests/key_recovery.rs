//! Key lifecycle, part 2 (issue 13, branch k2): re-issue of a damaged card,
//! backup and restore. Every test drives the real binary and checks what
//! an operator would: exit codes, messages, files, `audit verify` and
//! `audit replay`, and codes computed here for `verify-token`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{read_truth, require_tool, seedvault, text, TestVault};

const NAMES: [&str; 3] = ["alice", "bob", "carol"];

fn out_of(c: &mut assert_cmd::Command) -> Output {
    c.output().unwrap()
}

fn words(v: &TestVault, card: &Path, pass: &Path) -> String {
    let out = out_of(
        v.cmd()
            .args(["card", "words"])
            .arg(card)
            .arg("--passphrase-file")
            .arg(pass),
    );
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn new_pass(v: &TestVault) -> PathBuf {
    let p = v.tmp.path().join("alice-new.pass");
    std::fs::write(&p, "alice-brand-new-passphrase\n").unwrap();
    p
}

/// `card reissue --custodian alice` by bob and carol into `out`.
fn reissue(v: &TestVault, out: &Path, crash_at: Option<&str>) -> Output {
    let mut c = v.cmd();
    c.args(["card", "reissue", "--custodian", "alice", "--cards-out"])
        .arg(out)
        .arg("--new-passphrase-file")
        .arg(new_pass(v))
        .args(v.quorum(&["bob", "carol"]));
    if let Some(at) = crash_at {
        c.env("SEEDVAULT_TEST_CRASH_AT", at);
    }
    out_of(&mut c)
}

fn audit_ok(vault: &Path) {
    for what in ["verify", "replay"] {
        let out = out_of(seedvault().arg("--vault").arg(vault).args(["audit", what]));
        assert_eq!(out.status.code(), Some(0), "audit {what}: {}", text(&out));
    }
}

fn unseal_with(v: &TestVault, cards: &[(&Path, &Path)]) -> Output {
    let mut c = v.cmd();
    c.arg("unseal");
    for (card, pass) in cards {
        c.arg("--card").arg(card).arg("--passphrase-file").arg(pass);
    }
    out_of(&mut c)
}

#[test]
fn a_reissued_card_holds_the_same_share_and_opens_the_vault_without_the_damaged_one() {
    let v = TestVault::new(2, &NAMES);
    let before = words(&v, &v.card("alice"), &v.pass("alice"));
    // Alice's own card in the quorum is refused before any passphrase.
    let own = out_of(
        v.cmd()
            .args(["card", "reissue", "--custodian", "alice", "--cards-out"])
            .arg(v.tmp.path().join("x"))
            .arg("--new-passphrase-file")
            .arg(new_pass(&v))
            .args(v.quorum(&["alice", "bob"])),
    );
    assert_eq!(own.status.code(), Some(1), "{}", text(&own));
    assert!(text(&own).contains("alice's own card"), "{}", text(&own));

    // The card is damaged: its file is overwritten in the middle.
    let mut bytes = std::fs::read(v.card("alice")).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(v.card("alice"), &bytes).unwrap();
    let damaged = unseal_with(
        &v,
        &[
            (&v.card("alice"), &v.pass("alice")),
            (&v.card("bob"), &v.pass("bob")),
        ],
    );
    assert_eq!(damaged.status.code(), Some(1), "{}", text(&damaged));

    let out_dir = v.tmp.path().join("new-cards");
    let out = reissue(&v, &out_dir, None);
    assert!(out.status.success(), "{}", text(&out));
    let card = out_dir.join("alice.card");
    assert!(
        text(&out).contains("re-issued by bob, carol"),
        "{}",
        text(&out)
    );
    // The same share, in the same words, under the new passphrase.
    assert_eq!(words(&v, &card, &new_pass(&v)), before);
    // With another custodian's card it opens the vault; the damaged one is not needed.
    let ok = unseal_with(
        &v,
        &[(&card, &new_pass(&v)), (&v.card("carol"), &v.pass("carol"))],
    );
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("quorum OK: alice, carol"));
    // The new officer key acts for alice (one officer's act), and the log
    // with the re-issue verifies and replays.
    let order = out_of(
        v.cmd()
            .args([
                "order",
                "add",
                "--id",
                "4711",
                "--customer",
                "ACME",
                "--email",
                "it@acme.example",
            ])
            .arg("--card")
            .arg(&card)
            .arg("--passphrase-file")
            .arg(new_pass(&v)),
    );
    assert!(order.status.success(), "{}", text(&order));
    assert_eq!(v.events("card.reissued"), 1);
    audit_ok(&v.vault);
    // Someone with sqlite3 swaps alice's officer certificate back: refused.
    v.sqlite("UPDATE custodians SET officer_fpr = 'AA', officer_cert = X'00' WHERE name = 'alice'");
    let out = out_of(v.cmd().args(["audit", "verify"]));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
}

#[test]
fn a_reissue_killed_before_its_log_entry_leaves_no_card_and_runs_again() {
    let v = TestVault::new(2, &NAMES);
    let out_dir = v.tmp.path().join("new-cards");
    let crashed = reissue(&v, &out_dir, Some("reissue-card-written"));
    assert_eq!(crashed.status.code(), None, "killed: {}", text(&crashed));
    assert!(!out_dir.join("alice.card").exists());
    assert_eq!(v.events("card.reissued"), 0);
    // The half-written card is not taken for one: its officer key was never enrolled.
    let partial = out_dir.join("alice.card.partial");
    assert!(partial.exists());
    let refused = unseal_with(
        &v,
        &[(&partial, &new_pass(&v)), (&v.card("bob"), &v.pass("bob"))],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    let again = reissue(&v, &out_dir, None);
    assert!(again.status.success(), "{}", text(&again));
    assert!(!partial.exists());
    let ok = unseal_with(
        &v,
        &[
            (&out_dir.join("alice.card"), &new_pass(&v)),
            (&v.card("bob"), &v.pass("bob")),
        ],
    );
    assert!(ok.status.success(), "{}", text(&ok));
    audit_ok(&v.vault);
}

fn backup(v: &TestVault, out: &Path, crash_at: Option<&str>) -> Output {
    let mut c = v.cmd();
    c.arg("backup")
        .arg("--out")
        .arg(out)
        .args(v.quorum(&["alice", "bob"]));
    if let Some(at) = crash_at {
        c.env("SEEDVAULT_TEST_CRASH_AT", at);
    }
    out_of(&mut c)
}

fn restore(
    v: &TestVault,
    from: &Path,
    to: &Path,
    extra: &[&Path],
    crash_at: Option<&str>,
) -> Output {
    let mut c = seedvault();
    c.arg("--vault")
        .arg(to)
        .arg("restore")
        .arg(from)
        .args(v.quorum(&["bob", "carol"]));
    for cp in extra {
        c.arg("--checkpoint").arg(cp);
    }
    if let Some(at) = crash_at {
        c.env("SEEDVAULT_TEST_CRASH_AT", at);
    }
    out_of(&mut c)
}

fn status_json(vault: &Path) -> serde_json::Value {
    let out = out_of(
        seedvault()
            .arg("--vault")
            .arg(vault)
            .args(["status", "--json"]),
    );
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Code of `hex` seed at `at` (30 s, 6 digits, SHA1: the batch defaults).
fn code(hex: &str, at: u64) -> String {
    let seed = seedvault::token::Seed::new(data_encoding::HEXLOWER.decode(hex.as_bytes()).unwrap())
        .unwrap();
    seedvault::otp::totp(&seed, &seedvault::token::TokenParams::default(), at)
}

#[test]
fn backup_then_restore_round_trips_status_seeds_and_chain() {
    let v = TestVault::new(2, &NAMES);
    let truth = read_truth(&v.ingest("hex", 40, 9_100_000, 5));
    let bk = v.tmp.path().join("media").join("backup-1");
    std::fs::create_dir_all(bk.parent().unwrap()).unwrap();
    let out = backup(&v, &bk, None);
    assert!(out.status.success(), "{}", text(&out));
    let mut names = crate::common::file_names(&bk);
    names.sort();
    assert_eq!(
        names,
        [
            "MANIFEST.sha256",
            "MANIFEST.sha256.asc",
            "checkpoint.asc",
            "vault.db"
        ]
    );
    // The manifest is what `sha256sum -c` reads.
    require_tool("sha256sum");
    let sums = Command::new("sha256sum")
        .args(["-c", "MANIFEST.sha256"])
        .current_dir(&bk)
        .output()
        .unwrap();
    assert!(sums.status.success(), "{}", text(&sums));
    assert_eq!(v.events("vault.backed_up"), 1);
    let original = status_json(&v.vault);
    assert_eq!(original["last_backup"]["out"], bk.display().to_string());
    assert_eq!(original["last_backup"]["predates_rekey"], false);

    let restored = v.tmp.path().join("restored");
    let out = restore(&v, &bk, &restored, &[], None);
    assert!(out.status.success(), "{}", text(&out));
    audit_ok(&restored);
    let s = status_json(&restored);
    // Equal but for what must differ: the log (the restored one goes on
    // with its unseal and `vault.restored`) and the last backup (logged in
    // the original after the copy was taken).
    for k in [
        "vault_id",
        "created_at",
        "threshold",
        "share_count",
        "custodians",
        "test_vault",
        "key_version",
        "vault_fingerprint",
        "counts",
        "orders",
        "requests_pending",
        "requests_approved",
        "unfinished_exports",
    ] {
        assert_eq!(s[k], original[k], "{k}");
    }
    assert_ne!(s["audit"], original["audit"]);
    assert!(s["last_backup"].is_null());
    let restored_events = Command::new("sqlite3")
        .arg(restored.join("vault.db"))
        .arg("SELECT json_extract(CAST(body AS TEXT), '$.data.backup_head.entries') FROM audit WHERE json_extract(CAST(body AS TEXT), '$.event') = 'vault.restored'")
        .output()
        .unwrap();
    let backup_entries = String::from_utf8_lossy(&restored_events.stdout)
        .trim()
        .to_owned();
    assert_eq!(
        backup_entries,
        original["last_backup"]["entries"].to_string(),
        "vault.restored names the backup's head"
    );
    // The same seeds: codes computed here match in the restored vault.
    let at = 1_800_000_000u64;
    for (serial, hex, _) in truth.iter().step_by(9) {
        let out = out_of(
            seedvault()
                .arg("--vault")
                .arg(&restored)
                .args([
                    "verify-token",
                    serial,
                    "--code",
                    &code(hex, at),
                    "--at",
                    &at.to_string(),
                ])
                .args(v.quorum(&["alice", "carol"])),
        );
        assert!(out.status.success(), "{serial}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("match"),
            "{}",
            text(&out)
        );
    }

    // Never over an existing vault; never a backup over a backup or in the vault.
    let again = restore(&v, &bk, &restored, &[], None);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    let twice = backup(&v, &bk, None);
    assert_eq!(twice.status.code(), Some(1), "{}", text(&twice));
    assert!(
        text(&twice).contains("refusing to overwrite"),
        "{}",
        text(&twice)
    );
    let inside = backup(&v, &v.vault.join("bk"), None);
    assert_eq!(inside.status.code(), Some(1), "{}", text(&inside));
    assert!(
        text(&inside).contains("inside the vault directory"),
        "{}",
        text(&inside)
    );
}

/// A fresh copy of the backup `bk` with byte `at` of `file` changed.
fn damaged_copy(bk: &Path, file: &str, at: usize, n: usize) -> PathBuf {
    let copy = bk.with_file_name(format!("damaged-{file}-{n}"));
    std::fs::create_dir_all(&copy).unwrap();
    for f in crate::common::file_names(bk) {
        std::fs::copy(bk.join(&f), copy.join(&f)).unwrap();
    }
    let mut b = std::fs::read(copy.join(file)).unwrap();
    let at = at.min(b.len() - 1);
    b[at] ^= 0x01;
    std::fs::write(copy.join(file), b).unwrap();
    copy
}

#[test]
fn a_backup_with_one_byte_changed_is_refused_with_exit_3() {
    let v = TestVault::new(2, &NAMES);
    v.ingest("hex", 10, 9_200_000, 6);
    let bk = v.tmp.path().join("bk");
    assert!(backup(&v, &bk, None).status.success());
    let len = |f: &str| std::fs::metadata(bk.join(f)).unwrap().len() as usize;
    let cases = [
        ("vault.db", 0),
        ("vault.db", len("vault.db") / 2),
        ("vault.db", len("vault.db") - 1),
        ("MANIFEST.sha256", 3),
        ("MANIFEST.sha256", 66),
        ("MANIFEST.sha256", len("MANIFEST.sha256") - 1),
        ("checkpoint.asc", len("checkpoint.asc") / 2),
        ("MANIFEST.sha256.asc", 10),
        ("MANIFEST.sha256.asc", len("MANIFEST.sha256.asc") / 2),
        ("MANIFEST.sha256.asc", len("MANIFEST.sha256.asc") - 1),
    ];
    for (n, (file, at)) in cases.into_iter().enumerate() {
        let bad = damaged_copy(&bk, file, at, n);
        let target = v.tmp.path().join(format!("r{n}"));
        let out = restore(&v, &bad, &target, &[], None);
        assert_eq!(
            out.status.code(),
            Some(3),
            "{file} byte {at}: {}",
            text(&out)
        );
        assert!(text(&out).contains("tampering detected"), "{}", text(&out));
        assert!(!target.exists(), "{file}: no vault is left behind");
        assert!(!v
            .tmp
            .path()
            .join(format!(".r{n}.seedvault-partial"))
            .exists());
    }
    // A file missing: not a complete backup.
    let bad = damaged_copy(&bk, "vault.db", 5, 99);
    std::fs::remove_file(bad.join("MANIFEST.sha256")).unwrap();
    let out = restore(&v, &bad, &v.tmp.path().join("r99"), &[], None);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("not a complete backup"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_backup_older_than_a_given_checkpoint_is_refused_naming_both_heads() {
    let v = TestVault::new(2, &NAMES);
    let early = v.tmp.path().join("early.asc");
    assert!(
        out_of(v.cmd().args(["unseal"]).args(v.quorum(&["alice", "bob"])))
            .status
            .success()
    );
    assert!(
        out_of(v.cmd().args(["audit", "checkpoint", "--out"]).arg(&early))
            .status
            .success()
    );
    let bk = v.tmp.path().join("bk");
    assert!(backup(&v, &bk, None).status.success());
    v.ingest("hex", 5, 9_300_000, 7);
    let late = v.tmp.path().join("late.asc");
    assert!(
        out_of(v.cmd().args(["audit", "checkpoint", "--out"]).arg(&late))
            .status
            .success()
    );

    let target = v.tmp.path().join("restored");
    let out = restore(&v, &bk, &target, &[&late], None);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let msg = text(&out);
    assert!(msg.contains("older than checkpoint"), "{msg}");
    let cp: String = std::fs::read_to_string(&late).unwrap();
    let late_head = cp
        .lines()
        .find_map(|l| l.strip_prefix("head: "))
        .unwrap()
        .to_owned();
    assert!(
        msg.contains(&late_head),
        "names the checkpoint's head: {msg}"
    );
    assert!(!target.exists());
    // A checkpoint the backup extends is fine.
    let out = restore(&v, &bk, &target, &[&early], None);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn interrupted_backup_and_restore_leave_nothing_taken_for_complete_and_run_again() {
    let v = TestVault::new(2, &NAMES);
    v.ingest("hex", 5, 9_400_000, 8);
    let bk = v.tmp.path().join("bk");
    let crashed = backup(&v, &bk, Some("backup-copied"));
    assert_eq!(crashed.status.code(), None, "killed: {}", text(&crashed));
    assert!(!bk.exists(), "no directory by the backup's name");
    let partial = v.tmp.path().join(".bk.seedvault-partial");
    assert!(partial.join("vault.db").exists());
    // The half-written copy is not a backup.
    let out = restore(&v, &partial, &v.tmp.path().join("r"), &[], None);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("not a complete backup"),
        "{}",
        text(&out)
    );
    let again = backup(&v, &bk, None);
    assert!(again.status.success(), "{}", text(&again));
    assert!(!partial.exists());

    let target = v.tmp.path().join("restored");
    let crashed = restore(&v, &bk, &target, &[], Some("restore-before-rename"));
    assert_eq!(crashed.status.code(), None, "killed: {}", text(&crashed));
    assert!(!target.exists(), "no vault by the new name");
    let again = restore(&v, &bk, &target, &[], None);
    assert!(again.status.success(), "{}", text(&again));
    assert!(!v.tmp.path().join(".restored.seedvault-partial").exists());
    audit_ok(&target);
    audit_ok(&v.vault);
}

#[test]
fn statements_signed_before_a_reissue_still_verify_and_the_new_key_signs_after_it() {
    let v = TestVault::new(2, &NAMES);
    let truth = read_truth(&v.ingest("hex", 6, 9_500_000, 9));
    let serials: Vec<String> = truth.iter().map(|t| t.0.clone()).collect();
    v.add_order("4711", "ACME", &["it@acme.example"], "bob");
    v.assign("4711", &serials, "bob");
    let (key, _) = v.customer_key("it@acme.example", "acme.asc");
    let first = v.tmp.path().join("first.txt");
    std::fs::write(&first, serials[..3].join("\n")).unwrap();
    let before = v.create_request(
        "4711",
        "it@acme.example",
        "hex",
        &key,
        "alice",
        &["--serials-file", first.to_str().unwrap()],
    );
    assert!(before.status.success(), "{}", text(&before));
    let r1 = crate::common::request_id(&before);

    let out_dir = v.tmp.path().join("new-cards");
    assert!(reissue(&v, &out_dir, None).status.success());
    // From now on alice is her new card and passphrase.
    std::fs::copy(out_dir.join("alice.card"), v.card("alice")).unwrap();
    std::fs::copy(new_pass(&v), v.pass("alice")).unwrap();

    // Created with alice's old key, approved and exported after the re-issue.
    v.approve_ok(&r1, "bob");
    let media = v.media();
    v.export_ok(&r1, &media, &["bob", "carol"]);
    // Created with her new key.
    let after = v.create_request("4711", "it@acme.example", "hex", &key, "alice", &[]);
    assert!(after.status.success(), "{}", text(&after));
    let r2 = crate::common::request_id(&after);
    v.approve_ok(&r2, "carol");
    v.export_ok(&r2, &media, &["alice", "bob"]);
    audit_ok(&v.vault);
}

#[test]
fn a_copied_reissue_entry_cannot_enrol_an_old_key_again() {
    let v = TestVault::new(2, &NAMES);
    let first = v.tmp.path().join("first");
    assert!(reissue(&v, &first, None).status.success());
    let second = v.tmp.path().join("second");
    assert!(reissue(&v, &second, None).status.success());
    audit_ok(&v.vault);
    // Someone appends a copy of the first re-issue, correctly chained, and
    // points the table at its key: the copy follows the wrong key.
    let n = v.audit_len();
    let body = v.sqlite(
        "SELECT CAST(body AS TEXT) FROM audit WHERE json_extract(CAST(body AS TEXT), '$.event') = 'card.reissued' ORDER BY seq LIMIT 1",
    );
    let prev = v
        .sqlite(&format!("SELECT hex(hash) FROM audit WHERE seq = {n}"))
        .trim()
        .to_lowercase();
    let mut e: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    e["seq"] = (n + 1).into();
    e["prev"] = prev.into();
    let bytes = serde_json::to_vec(&e).unwrap();
    let hash = seedvault::crypto::hex(&seedvault::crypto::sha256(&bytes));
    let fpr = e["data"]["officer_fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    let cert = e["data"]["officer_cert"].as_str().unwrap().to_owned();
    let cert_hex = seedvault::crypto::hex(&data_encoding::BASE64.decode(cert.as_bytes()).unwrap());
    v.sqlite(&format!(
        "INSERT INTO audit (seq, body, hash) VALUES ({}, X'{}', X'{hash}'); UPDATE custodians SET officer_fpr = '{fpr}', officer_cert = X'{cert_hex}' WHERE name = 'alice'",
        n + 1,
        seedvault::crypto::hex(&bytes)
    ));
    let out = out_of(v.cmd().args(["audit", "verify"]));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("copied entry"), "{}", text(&out));
}

/// The reference SLIP-0039 implementation combines the re-issued card's
/// words with another custodian's to the master key (checked against the
/// genesis check value, recomputed in Python's standard library).
#[test]
fn a_reissued_cards_words_combine_in_shamir_mnemonic_to_the_master_key() {
    const COMBINE_AND_CHECK: &str = r#"
import hashlib, hmac, json, sys
import shamir_mnemonic
words, vault_id, want_check = json.loads(sys.stdin.read())
secret = shamir_mnemonic.combine_mnemonics(words)
salt = ("seedvault/v1/" + vault_id).encode()
prk = hmac.new(salt, secret, hashlib.sha256).digest()
print(hmac.new(prk, b"check" + b"\x01", hashlib.sha256).hexdigest() == want_check)
"#;
    let v = TestVault::new(2, &NAMES);
    let out_dir = v.tmp.path().join("new-cards");
    std::fs::remove_file(v.card("alice")).unwrap(); // the old card is gone
    let out = reissue(&v, &out_dir, None);
    assert!(out.status.success(), "{}", text(&out));
    let new_words = words(&v, &out_dir.join("alice.card"), &new_pass(&v));
    let genesis = v.sqlite("SELECT CAST(body AS TEXT) FROM audit WHERE seq = 1");
    let genesis: serde_json::Value = serde_json::from_str(genesis.trim()).unwrap();
    let check = genesis["data"]["master_check"].as_str().unwrap().to_owned();
    for other in ["bob", "carol"] {
        let input = serde_json::json!([
            [new_words, words(&v, &v.card(other), &v.pass(other))],
            v.vault_id,
            check
        ]);
        let mut child = Command::new(crate::common::python())
            .args(["-c", COMBINE_AND_CHECK])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "python: {}", text(&out));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "True",
            "alice + {other}"
        );
    }
}
