//! Rekey (issue 13, item 1): a new master key and share set, every new
//! card verified, no lock-out window, old cards retired after commit, and
//! a crash at any step leaving the vault with exactly one working card set.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::{read_truth, request_id, text, Gpg, TestVault};

const NEW: [&str; 5] = ["alice", "bob", "dave", "erin", "frank"];

/// The passphrase file of `name` (old and new cards of a name share it).
fn pass(v: &TestVault, name: &str) -> PathBuf {
    let f = v.tmp.path().join(format!("{name}.pass"));
    if !f.exists() {
        std::fs::write(&f, format!("{name}-passphrase-123\n")).unwrap();
    }
    f
}

fn new_dir(v: &TestVault) -> PathBuf {
    v.tmp.path().join("new-cards")
}

fn new_card(v: &TestVault, name: &str) -> PathBuf {
    new_dir(v).join(format!("{name}.card"))
}

/// `--card DIR/NAME.card --passphrase-file NAME.pass` for each name.
fn cards_args(v: &TestVault, dir: &Path, names: &[&str]) -> Vec<std::ffi::OsString> {
    let mut a = Vec::new();
    for n in names {
        a.push("--card".into());
        a.push(dir.join(format!("{n}.card")).into_os_string());
        a.push("--passphrase-file".into());
        a.push(pass(v, n).into_os_string());
    }
    a
}

fn start_cmd(v: &TestVault, threshold: u8, names: &[&str]) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("seedvault"));
    c.env_remove("SEEDVAULT_DIR");
    c.arg("--vault")
        .arg(&v.vault)
        .args(["rekey", "start", "--threshold", &threshold.to_string()]);
    for n in names {
        c.args(["--custodian", n]);
    }
    c.arg("--cards-out").arg(new_dir(v));
    for n in names {
        c.arg("--new-passphrase-file").arg(pass(v, n));
    }
    c.args(v.quorum(&["alice", "bob"]));
    c
}

fn start(v: &TestVault) -> String {
    let out = start_cmd(v, 3, &NEW).output().unwrap();
    request_id(&out) // the last stdout line: the rekey id
}

fn verify(v: &TestVault, name: &str) -> Output {
    v.cmd()
        .args(["rekey", "verify", "--card"])
        .arg(new_card(v, name))
        .arg("--passphrase-file")
        .arg(pass(v, name))
        .output()
        .unwrap()
}

fn commit(v: &TestVault, names: &[&str]) -> Output {
    v.cmd()
        .args(["rekey", "commit"])
        .args(cards_args(v, &new_dir(v), names))
        .output()
        .unwrap()
}

/// `seedvault unseal` with the cards `names` from `dir`.
fn unseal(v: &TestVault, dir: &Path, names: &[&str]) -> Output {
    v.cmd()
        .arg("unseal")
        .args(cards_args(v, dir, names))
        .output()
        .unwrap()
}

fn old_set_works(v: &TestVault) -> bool {
    unseal(v, &v.cards, &["alice", "bob"]).status.success()
}

fn new_set_works(v: &TestVault) -> bool {
    unseal(v, &new_dir(v), &["alice", "dave", "erin"])
        .status
        .success()
}

fn audit_ok(v: &TestVault) {
    let out = v.cmd().args(["audit", "verify"]).output().unwrap();
    assert!(out.status.success(), "audit verify: {}", text(&out));
    let out = v.cmd().args(["audit", "replay"]).output().unwrap();
    assert!(out.status.success(), "audit replay: {}", text(&out));
}

fn status_json(v: &TestVault) -> serde_json::Value {
    let out = v
        .cmd()
        .args(["rekey", "status", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn verify_all(v: &TestVault) {
    for n in NEW {
        let out = verify(v, n);
        assert!(out.status.success(), "verify {n}: {}", text(&out));
    }
}

fn today() -> String {
    time::OffsetDateTime::now_utc().date().to_string()
}

/// HKDF-SHA256 of the words combined by the reference implementation:
/// Python's `shamir_mnemonic` combines them, and the check value is
/// derived with Python's standard library as docs/architecture.md says.
fn python_check_value(words: &[String], vault_id: &str) -> String {
    let script = r#"
import hashlib, hmac, importlib.metadata, json, sys
import shamir_mnemonic
assert importlib.metadata.version("shamir-mnemonic") == "0.3.0"
req = json.load(sys.stdin)
mk = shamir_mnemonic.combine_mnemonics(req["words"], b"")
salt = ("seedvault/v1/" + req["vault"]).encode()
prk = hmac.new(salt, mk, hashlib.sha256).digest()
print(hmac.new(prk, b"check\x01", hashlib.sha256).hexdigest())
"#;
    let mut child = Command::new(crate::common::python())
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = serde_json::json!({ "words": words, "vault": vault_id }).to_string();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python: {}", text(&out));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn a_2_of_3_vault_with_an_export_is_rekeyed_to_3_of_5() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let truth = read_truth(&v.ingest("hex", 2000, 700_000, 13));
    // An order of 20 serials; its first 10 are exported before the rekey.
    let serials: Vec<&str> = truth[..20].iter().map(|t| t.0.as_str()).collect();
    v.add_order("4321", "Acme", &["it@acme.example"], "alice");
    v.assign("4321", &serials, "alice");
    let gpg = Gpg::new();
    gpg.make(
        "Acme IT <it@acme.example>",
        "ed25519",
        Some("cv25519"),
        "never",
        None,
    );
    let key = gpg.export("it@acme.example", &v.tmp.path().join("acme.asc"));
    let first = v.tmp.path().join("first.txt");
    std::fs::write(&first, serials[..10].join("\n")).unwrap();
    let req1 = request_id(&v.create_request(
        "4321",
        "it@acme.example",
        "hex",
        &key,
        "alice",
        &["--serials-file", first.to_str().unwrap()],
    ));
    v.approve_ok(&req1, "bob");
    let media1 = v.media();
    v.export_ok(&req1, &media1, &["carol", "alice"]);
    let old_cp = v.tmp.path().join("before-rekey.checkpoint");
    v.cmd()
        .args(["audit", "checkpoint", "--out"])
        .arg(&old_cp)
        .assert()
        .success();

    // Start: 3 of 5, carol leaves, dave, erin and frank join.
    let id = start(&v);
    let st = status_json(&v);
    assert_eq!(st["pending"]["rekey_id"], id.as_str());
    assert_eq!(st["pending"]["new_version"], 2);
    let share_set = st["pending"]["share_set"].as_str().unwrap().to_owned();
    // Every new card's header names this rekey and its share set.
    for n in NEW {
        let card = seedvault::cards::SealedCard::read(&new_card(&v, n)).unwrap();
        let e = card.header.epoch.expect("a rekey card names its epoch");
        assert_eq!(e.key_version, 2);
        assert_eq!(data_encoding::HEXLOWER.encode(&e.rekey_id), id);
        assert_eq!(data_encoding::HEXLOWER.encode(&e.share_set), share_set);
    }
    // Until commit, the old cards work.
    assert!(old_set_works(&v));

    // Commit before every card was verified: refused, nothing changes.
    for n in ["alice", "bob", "dave", "erin"] {
        let out = verify(&v, n);
        assert!(out.status.success(), "verify {n}: {}", text(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains(&id));
    }
    let out = commit(&v, &["alice", "bob", "dave"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("1 of 5 new cards were not verified (frank)"),
        "{stderr}"
    );
    assert_eq!(status_json(&v)["key_version"], 1);
    assert!(old_set_works(&v));

    let out = verify(&v, "frank");
    assert!(out.status.success(), "{}", text(&out));
    let out = commit(&v, &["alice", "bob", "dave"]);
    assert!(out.status.success(), "commit: {}", text(&out));
    let st = status_json(&v);
    assert_eq!(st["key_version"], 2);
    assert_eq!(st["threshold"], 3);
    assert_eq!(st["share_count"], 5);
    assert!(st["pending"].is_null());
    assert_eq!(v.events("vault.rekeyed"), 1);
    let rekeyed = v.sqlite(
        "SELECT json_extract(CAST(body AS TEXT), '$.data.share_set') || ' ' || json_extract(CAST(body AS TEXT), '$.data.rekey_id')
         FROM audit WHERE json_extract(CAST(body AS TEXT), '$.event') = 'vault.rekeyed'",
    );
    assert_eq!(rekeyed.trim(), format!("{share_set} {id}"));

    // Every old card is refused, by name, before its passphrase matters.
    let retired = format!("card of key version 1, retired by rekey on {}", today());
    for n in ["alice", "bob", "carol"] {
        let out = v
            .cmd()
            .args(["card", "check"])
            .arg(v.card(n))
            .arg("--passphrase-file")
            .arg(pass(&v, n))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(&retired),
            "{n}: {}",
            text(&out)
        );
    }
    let out = unseal(&v, &v.cards, &["alice", "bob", "carol"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&retired));

    // The new cards' words combine in the reference implementation to the
    // key whose check value the vault holds.
    let words: Vec<String> = ["bob", "erin", "frank"]
        .iter()
        .map(|n| {
            let out = v
                .cmd()
                .args(["card", "words"])
                .arg(new_card(&v, n))
                .arg("--passphrase-file")
                .arg(pass(&v, n))
                .output()
                .unwrap();
            assert!(out.status.success(), "words {n}: {}", text(&out));
            String::from_utf8(out.stdout).unwrap().trim().to_owned()
        })
        .collect();
    assert_eq!(
        python_check_value(&words, &v.vault_id),
        st["master_check"].as_str().unwrap()
    );

    // A new export works with new officers and cards; gpg decrypts it.
    let nq = |names: &[&str]| cards_args(&v, &new_dir(&v), names);
    let out = v
        .cmd()
        .args(["request", "create", "--order", "4321"])
        .args(["--requester", "it@acme.example", "--format", "hex"])
        .arg("--recipient-key")
        .arg(&key)
        .args(nq(&["dave"]))
        .output()
        .unwrap();
    let req2 = request_id(&out);
    let out = v
        .cmd()
        .args(["request", "approve", &req2])
        .args(nq(&["erin"]))
        .output()
        .unwrap();
    assert!(out.status.success(), "approve: {}", text(&out));
    let media2 = v.tmp.path().join("media2");
    std::fs::create_dir(&media2).unwrap();
    let out = v
        .cmd()
        .args(["export", &req2, "--media"])
        .arg(&media2)
        .args(nq(&["alice", "bob", "frank"]))
        .output()
        .unwrap();
    assert!(out.status.success(), "export: {}", text(&out));
    gpg.run(&["--import", v.cards.join("vault-cert.asc").to_str().unwrap()]);
    let bundle = media2.join(format!("4321-{req2}.hex.asc"));
    let dec = gpg.run(&["--status-fd", "2", "--decrypt", bundle.to_str().unwrap()]);
    let status = String::from_utf8_lossy(&dec.stderr);
    assert!(status.contains("GOODSIG"), "{status}");
    let plain = String::from_utf8(dec.stdout).unwrap();
    let want: Vec<String> = truth[10..20]
        .iter()
        .map(|(s, h, _)| format!("{s},{h}"))
        .collect();
    let got: Vec<String> = plain
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.trim().to_lowercase())
        .collect();
    let want: Vec<String> = want.iter().map(|l| l.to_lowercase()).collect();
    assert_eq!(got, want);

    // The log: chain, the checkpoint from before the rekey, replay.
    let out = v
        .cmd()
        .args(["audit", "verify", "--checkpoint"])
        .arg(&old_cp)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "verify old checkpoint: {}",
        text(&out)
    );
    audit_ok(&v);
}

#[test]
fn a_rekey_cancelled_half_way_leaves_the_old_cards_working() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let id = start(&v);
    for n in ["alice", "dave"] {
        assert!(verify(&v, n).status.success());
    }
    let out = v
        .cmd()
        .args(["rekey", "cancel", "--card"])
        .arg(v.card("carol"))
        .arg("--passphrase-file")
        .arg(pass(&v, "carol"))
        .output()
        .unwrap();
    assert!(out.status.success(), "cancel: {}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&id));
    assert_eq!(v.events("rekey.cancelled"), 1);
    assert!(old_set_works(&v));
    // The new cards open nothing, and say why.
    let out = unseal(&v, &new_dir(&v), &["alice", "dave", "erin"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("was made by rekey {id}"))
            && stderr.contains("cancelled or never committed"),
        "{stderr}"
    );
    let out = verify(&v, "erin");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no rekey is pending"));
    // A new rekey may write over the cancelled one's cards, and commits.
    let id2 = start(&v);
    assert_ne!(id, id2);
    verify_all(&v);
    assert!(commit(&v, &["alice", "dave", "erin"]).status.success());
    assert!(new_set_works(&v) && !old_set_works(&v));
    audit_ok(&v);
}

#[test]
fn a_second_rekey_is_refused_while_one_is_pending() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let id = start(&v);
    let before = v.audit_len();
    let out = start_cmd(&v, 2, &["x1", "x2"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("rekey {id}")) && stderr.contains("at most one rekey"),
        "{stderr}"
    );
    assert_eq!(v.audit_len(), before, "refused before any unseal");
}

#[test]
fn an_edited_pending_rekey_is_tampering_at_commit() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    start(&v);
    verify_all(&v);
    // An attacker without cards lowers the new threshold in the table.
    v.sqlite("UPDATE rekey_pending SET threshold = 2");
    let out = commit(&v, &["alice", "bob", "dave"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not match its rekey.started entry"));
    v.sqlite("UPDATE rekey_pending SET threshold = 3");
    assert!(commit(&v, &["alice", "bob", "dave"]).status.success());
    audit_ok(&v);
}

#[test]
fn only_signed_verifications_count_not_the_table() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    start(&v);
    for n in ["alice", "bob", "dave", "erin"] {
        assert!(verify(&v, n).status.success());
    }
    // An attacker marks frank's card verified in the table.
    v.sqlite("UPDATE rekey_custodians SET verified_at = '2026-01-01T00:00:00Z'");
    let out = commit(&v, &["alice", "bob", "dave"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("(frank)"));
    assert!(old_set_works(&v));
}

/// Runs `cmd` with the crash point `at` armed; it must die there.
fn crash(mut cmd: Command, at: &str) {
    let out = cmd.env("SEEDVAULT_TEST_CRASH_AT", at).output().unwrap();
    assert!(
        !out.status.success() && out.status.code().is_none(),
        "{at}: the process should have been killed: {}",
        text(&out)
    );
}

fn verify_cmd(v: &TestVault, name: &str) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("seedvault"));
    c.env_remove("SEEDVAULT_DIR")
        .arg("--vault")
        .arg(&v.vault)
        .args(["rekey", "verify", "--card"])
        .arg(new_card(v, name))
        .arg("--passphrase-file")
        .arg(pass(v, name));
    c
}

fn commit_cmd(v: &TestVault) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("seedvault"));
    c.env_remove("SEEDVAULT_DIR")
        .arg("--vault")
        .arg(&v.vault)
        .args(["rekey", "commit"])
        .args(cards_args(v, &new_dir(v), &["alice", "dave", "erin"]));
    c
}

/// Exactly one card set opens the vault, and the log verifies.
fn one_set(v: &TestVault, committed: bool) {
    assert_eq!(old_set_works(v), !committed, "old cards");
    assert_eq!(new_set_works(v), committed, "new cards");
    audit_ok(v);
}

#[test]
fn a_crash_at_every_step_of_start_leaves_the_old_cards_and_a_rerun_works() {
    for at in ["rekey-start-cards-written", "rekey-start-committed"] {
        let v = TestVault::new(2, &["alice", "bob", "carol"]);
        v.ingest("hex", 50, 100, 1);
        crash(start_cmd(&v, 3, &NEW), at);
        // The cards were written before the kill in both cases.
        assert!(new_card(&v, "frank").exists(), "{at}");
        one_set(&v, false);
        let pending = status_json(&v)["pending"].clone();
        if at == "rekey-start-cards-written" {
            // The cards name a rekey that never started: not mistaken for one.
            assert!(pending.is_null(), "{at}");
            let out = verify(&v, "alice");
            assert_eq!(out.status.code(), Some(1), "{at}");
            let out = unseal(&v, &new_dir(&v), &["alice", "dave", "erin"]);
            assert!(
                String::from_utf8_lossy(&out.stderr).contains("cancelled or never committed"),
                "{at}: {}",
                text(&out)
            );
            // A re-run replaces those cards.
            start(&v);
        } else {
            assert!(!pending.is_null(), "{at}");
        }
        verify_all(&v);
        let out = commit(&v, &["alice", "dave", "erin"]);
        assert!(out.status.success(), "{at}: {}", text(&out));
        one_set(&v, true);
    }
}

#[test]
fn a_crash_at_every_step_of_verify_and_commit_leaves_exactly_one_card_set() {
    for at in ["rekey-verify-before", "rekey-verify-committed"] {
        let v = TestVault::new(2, &["alice", "bob", "carol"]);
        start(&v);
        crash(verify_cmd(&v, "erin"), at);
        one_set(&v, false);
        let erin = status_json(&v)["pending"]["custodians"][3]["verified"].clone();
        assert_eq!(erin, at == "rekey-verify-committed", "{at}");
        verify_all(&v); // a re-run of every verify
        assert!(commit(&v, &["alice", "dave", "erin"]).status.success());
        one_set(&v, true);
    }
    for at in ["rekey-commit-before", "rekey-commit-committed"] {
        let v = TestVault::new(2, &["alice", "bob", "carol"]);
        v.ingest("hex", 50, 100, 1);
        start(&v);
        verify_all(&v);
        crash(commit_cmd(&v), at);
        let committed = at == "rekey-commit-committed";
        one_set(&v, committed);
        let out = commit(&v, &["alice", "dave", "erin"]);
        if committed {
            assert_eq!(out.status.code(), Some(1), "{at}: {}", text(&out));
            assert!(String::from_utf8_lossy(&out.stderr).contains("no rekey is pending"));
        } else {
            assert!(out.status.success(), "{at}: re-run: {}", text(&out));
        }
        one_set(&v, true);
    }
}

#[test]
fn a_crash_during_cancel_leaves_the_old_cards() {
    for at in ["rekey-cancel-before", "rekey-cancel-committed"] {
        let v = TestVault::new(2, &["alice", "bob", "carol"]);
        start(&v);
        let mut c = Command::new(assert_cmd::cargo::cargo_bin("seedvault"));
        c.env_remove("SEEDVAULT_DIR")
            .arg("--vault")
            .arg(&v.vault)
            .args(["rekey", "cancel", "--card"])
            .arg(v.card("bob"))
            .arg("--passphrase-file")
            .arg(pass(&v, "bob"));
        crash(c, at);
        one_set(&v, false);
        assert_eq!(
            status_json(&v)["pending"].is_null(),
            at == "rekey-cancel-committed",
            "{at}"
        );
    }
}

/// Officer `name`'s signing key from their card in `dir` (what a person
/// holding that card and its passphrase can sign with).
fn officer_key(v: &TestVault, dir: &Path, name: &str) -> seedvault::pgp::SecretCert {
    let card = seedvault::cards::SealedCard::read(&dir.join(format!("{name}.card"))).unwrap();
    let secrets = card
        .open(&secrecy::SecretString::from(format!(
            "{name}-passphrase-123"
        )))
        .unwrap();
    let _ = v;
    seedvault::pgp::SecretCert::from_secret_bytes(&secrets.officer_key).unwrap()
}

#[test]
fn statements_signed_before_the_rekey_verify_and_a_retired_key_signs_nothing_new() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let truth = read_truth(&v.ingest("hex", 20, 900, 5));
    let serials: Vec<&str> = truth.iter().map(|t| t.0.as_str()).collect();
    v.add_order("77", "Acme", &["it@acme.example"], "alice");
    v.assign("77", &serials, "alice");
    let (key, _) = v.customer_key("Acme <it@acme.example>", "acme.asc");
    let half = |range: std::ops::Range<usize>, file: &str| {
        let f = v.tmp.path().join(file);
        std::fs::write(&f, serials[range].join("\n")).unwrap();
        f
    };
    let a = half(0..10, "a.txt");
    let b = half(10..20, "b.txt");
    // Request A: created and approved before the rekey.
    let req_a = request_id(&v.create_request(
        "77",
        "it@acme.example",
        "hex",
        &key,
        "alice",
        &["--serials-file", a.to_str().unwrap()],
    ));
    v.approve_ok(&req_a, "bob");
    // Request B: created before the rekey, still pending.
    let req_b = request_id(&v.create_request(
        "77",
        "it@acme.example",
        "hex",
        &key,
        "alice",
        &["--serials-file", b.to_str().unwrap()],
    ));
    start(&v);
    verify_all(&v);
    assert!(commit(&v, &["alice", "bob", "dave"]).status.success());

    // Carol (retired) approves B after the rekey by editing the database,
    // with a genuine signature of her old officer key.
    let statement = v.sqlite(&format!(
        "SELECT statement FROM requests WHERE id = '{req_b}'"
    ));
    let statement = statement.strip_suffix('\n').unwrap();
    let expires = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    let decision = seedvault::vault::statement::render_decision(
        statement,
        &seedvault::vault::statement::Decision::Approve {
            by: "carol".into(),
            expires,
        },
    );
    let sig =
        seedvault::pgp::sign_detached(&officer_key(&v, &v.cards, "carol"), decision.as_bytes())
            .unwrap();
    v.sqlite(&format!(
        "UPDATE requests SET state = 'approved', decided_at = '2026-11-29T00:00:00Z', decided_by = 'carol',
         decision_sig = '{sig}', expires_at = {expires} WHERE id = '{req_b}'"
    ));
    let media = v.media();
    let out = v
        .cmd()
        .args(["export", &req_b, "--media"])
        .arg(&media)
        .args(cards_args(&v, &new_dir(&v), &["alice", "bob", "dave"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("carol's key of key version 1, retired by the rekey"),
        "{stderr}"
    );
    assert!(crate::common::file_names(&media).is_empty());

    // A, signed by alice and bob before the rekey, still exports.
    let out = v
        .cmd()
        .args(["export", &req_a, "--media"])
        .arg(&media)
        .args(cards_args(&v, &new_dir(&v), &["alice", "bob", "dave"]))
        .output()
        .unwrap();
    assert!(out.status.success(), "export A: {}", text(&out));
}

#[test]
fn after_a_rekey_the_tables_are_checked_against_the_rekeyed_entry() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    start(&v);
    verify_all(&v);
    assert!(commit(&v, &["alice", "bob", "dave"]).status.success());
    audit_ok(&v);
    let verify_exit = |v: &TestVault| {
        let out = v.cmd().args(["audit", "verify"]).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    // The threshold lowered behind the log's back.
    v.sqlite("UPDATE vault SET threshold = 2");
    let (code, msg) = verify_exit(&v);
    assert_eq!(code, Some(3), "{msg}");
    assert!(msg.contains("threshold"), "{msg}");
    v.sqlite("UPDATE vault SET threshold = 3");
    assert_eq!(verify_exit(&v).0, Some(0));
    // The record of the rekey removed: the vault's key version is unexplained.
    v.sqlite("DELETE FROM key_epochs");
    let (code, msg) = verify_exit(&v);
    assert_eq!(code, Some(3), "{msg}");
    assert!(msg.contains("no rekey to it is recorded"), "{msg}");
}

/// A card re-issued after a rekey belongs to the new key epoch: it opens
/// the vault with the other new cards, the custodian acts as an officer
/// with it, and the log still verifies and replays.
#[test]
fn a_card_reissued_after_a_rekey_opens_the_vault_in_the_new_epoch() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    start(&v);
    verify_all(&v);
    let out = commit(&v, &["alice", "dave", "erin"]);
    assert!(out.status.success(), "commit: {}", text(&out));
    // dave's new card is damaged; alice, erin and frank re-issue it.
    let out_dir = v.tmp.path().join("reissued");
    std::fs::create_dir_all(&out_dir).unwrap();
    let dave_new_pass = v.tmp.path().join("dave-reissued.pass");
    std::fs::write(&dave_new_pass, "dave-brand-new-passphrase\n").unwrap();
    let out = v
        .cmd()
        .args(["card", "reissue", "--custodian", "dave", "--cards-out"])
        .arg(&out_dir)
        .arg("--new-passphrase-file")
        .arg(&dave_new_pass)
        .args(cards_args(&v, &new_dir(&v), &["alice", "erin", "frank"]))
        .output()
        .unwrap();
    assert!(out.status.success(), "reissue: {}", text(&out));
    let dave = out_dir.join("dave.card");
    // The re-issued card with two other new cards unseals the vault.
    let out = v
        .cmd()
        .arg("unseal")
        .arg("--card")
        .arg(&dave)
        .arg("--passphrase-file")
        .arg(&dave_new_pass)
        .args(cards_args(&v, &new_dir(&v), &["erin", "frank"]))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "unseal with the re-issued card: {}",
        text(&out)
    );
    // dave acts as an officer with it.
    let out = v
        .cmd()
        .args(["order", "add", "--id", "9001", "--customer", "Acme"])
        .args(["--email", "it@acme.example", "--card"])
        .arg(&dave)
        .arg("--passphrase-file")
        .arg(&dave_new_pass)
        .output()
        .unwrap();
    assert!(out.status.success(), "order add by dave: {}", text(&out));
    // The old card of the old epoch stays refused.
    assert!(!old_set_works(&v));
    audit_ok(&v);
}

/// `status` says a rekey is pending, and how many new cards were verified.
#[test]
fn status_shows_a_pending_rekey() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let id = start(&v);
    let out = v.cmd().arg("status").output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        shown.contains(&format!("Rekey        {id} pending since"))
            && shown.contains("0 of 5 new cards verified"),
        "{shown}"
    );
    let out = verify(&v, "alice");
    assert!(out.status.success(), "{}", text(&out));
    let out = v.cmd().arg("status").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 of 5 new cards verified"));
}
