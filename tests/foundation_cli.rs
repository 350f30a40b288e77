//! The foundation as a custodian meets it: init, status, cards, unseal,
//! and the audit chain, driven through the real binary.

use crate::common::{text, TestVault};
use predicates::prelude::*;

#[test]
fn init_writes_three_cards_and_a_certificate_and_status_shows_the_quorum() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    for n in ["alice", "bob", "carol"] {
        assert!(v.card(n).is_file(), "{n}.card missing");
    }
    assert!(v.cards.join("vault-cert.asc").is_file());
    assert_eq!(
        v.vault_id.len(),
        16,
        "vault id printed last: {}",
        v.vault_id
    );

    let out = v.cmd().args(["status", "--json"]).output().unwrap();
    assert!(out.status.success());
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["threshold"], 2);
    assert_eq!(
        s["custodians"],
        serde_json::json!(["alice", "bob", "carol"])
    );
    assert_eq!(s["test_vault"], true);
    assert_eq!(s["vault_id"], v.vault_id.as_str());
    assert_eq!(s["audit"]["entries"], 1);

    v.cmd()
        .arg("status")
        .assert()
        .success()
        .stdout(predicate::str::contains("TEST VAULT"));
}

#[test]
fn gpg_imports_the_vault_certificate() {
    crate::common::require_tool("gpg");
    let v = TestVault::new(2, &["alice", "bob"]);
    let home = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("gpg")
        .arg("--homedir")
        .arg(home.path())
        .args(["--batch", "--import"])
        .arg(v.cards.join("vault-cert.asc"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("imported: 1"), "{}", text(&out));
    // The same certificate comes out of `vault-cert`.
    let printed = v.cmd().arg("vault-cert").output().unwrap();
    assert_eq!(
        printed.stdout,
        std::fs::read(v.cards.join("vault-cert.asc")).unwrap()
    );
}

fn init_cmd(
    tmp: &std::path::Path,
    threshold: &str,
    names: &[&str],
    pass_len: usize,
) -> assert_cmd::Command {
    let mut c = crate::common::seedvault();
    c.arg("--vault")
        .arg(tmp.join("vault"))
        .args(["init", "--threshold", threshold]);
    for n in names {
        c.args(["--custodian", n]);
    }
    c.arg("--cards-out")
        .arg(tmp.join("cards"))
        .arg("--insecure-fast-kdf");
    for (i, _) in names.iter().enumerate() {
        let f = tmp.join(format!("p{i}"));
        std::fs::write(&f, "x".repeat(pass_len)).unwrap();
        c.arg("--passphrase-file").arg(f);
    }
    c
}

#[test]
fn init_refusals_are_clear_and_leave_nothing_behind() {
    let cases: &[(&str, &[&str], usize, &str)] = &[
        ("1", &["a", "b", "c"], 12, "invalid quorum 1 of 3"),
        ("4", &["a", "b", "c"], 12, "invalid quorum 4 of 3"),
        ("2", &["alice", "Alice"], 12, "\"Alice\" is given twice"),
        ("2", &["alice", "../bob"], 12, "not allowed"),
        ("2", &["alice", "bob"], 11, "at least 12 are required"),
    ];
    for (m, names, plen, msg) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let out = init_cmd(tmp.path(), m, names, *plen).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{m} {names:?}: {}", text(&out));
        assert!(
            text(&out).contains(msg),
            "{m} {names:?}: expected {msg:?} in {}",
            text(&out)
        );
        assert!(!tmp.path().join("vault/vault.db").exists());
        assert!(
            !tmp.path().join("cards/a.card").exists()
                && !tmp.path().join("cards/alice.card").exists()
        );
    }
    let seventeen: Vec<String> = (0..17).map(|i| format!("c{i}")).collect();
    let refs: Vec<&str> = seventeen.iter().map(String::as_str).collect();
    let tmp = tempfile::tempdir().unwrap();
    let out = init_cmd(tmp.path(), "2", &refs, 12).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("invalid quorum 2 of 17"),
        "{}",
        text(&out)
    );
}

#[test]
fn init_refuses_to_overwrite_a_vault_and_usage_errors_exit_2() {
    let v = TestVault::new(2, &["alice", "bob"]);
    let before = std::fs::read(v.db()).unwrap();
    let mut c = v.cmd();
    c.args([
        "init",
        "--threshold",
        "2",
        "--custodian",
        "x1",
        "--custodian",
        "x2",
        "--cards-out",
    ])
    .arg(v.tmp.path().join("other"))
    .arg("--insecure-fast-kdf");
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("already exists"), "{}", text(&out));
    assert_eq!(std::fs::read(v.db()).unwrap(), before);

    crate::common::seedvault()
        .args(["init", "--custodian", "a"])
        .assert()
        .code(2);
    crate::common::seedvault()
        .args(["no-such-command"])
        .assert()
        .code(2);
}

#[test]
fn without_terminal_or_passphrase_file_init_exits_1() {
    // `setsid` starts the binary in a new session with no controlling
    // terminal, as on CI or under cron.
    crate::common::require_tool("setsid");
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("setsid")
        .arg("-w")
        .arg(assert_cmd::cargo::cargo_bin("seedvault"))
        .arg("--vault")
        .arg(tmp.path().join("v"))
        .args([
            "init",
            "--threshold",
            "2",
            "--custodian",
            "a",
            "--custodian",
            "b",
            "--cards-out",
        ])
        .arg(tmp.path().join("c"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("no terminal to ask the passphrase for custodian a"),
        "{}",
        text(&out)
    );
    assert!(!tmp.path().join("v/vault.db").exists());
}

#[test]
fn card_check_confirms_a_good_card_and_names_each_bad_one() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    v.cmd()
        .args(["card", "check"])
        .arg(v.card("bob"))
        .arg("--passphrase-file")
        .arg(v.pass("bob"))
        .assert()
        .success()
        .stdout(predicate::str::contains("card OK: custodian bob"));

    // Wrong passphrase: names the card, exit 1, and the attempt is logged.
    let out = v
        .cmd()
        .args(["card", "check"])
        .arg(v.card("bob"))
        .arg("--passphrase-file")
        .arg(v.pass("alice"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("wrong passphrase for card") && text(&out).contains("bob.card"),
        "{}",
        text(&out)
    );
    let logged = v.sqlite("SELECT count(*) FROM audit WHERE CAST(body AS TEXT) LIKE '%vault.unseal_failed%' AND CAST(body AS TEXT) LIKE '%card check%'");
    assert_eq!(logged.trim(), "1");

    // Corrupted card.
    let bad = v.tmp.path().join("corrupt.card");
    let mut bytes = std::fs::read(v.card("alice")).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&bad, bytes).unwrap();
    let out = v
        .cmd()
        .args(["card", "check"])
        .arg(&bad)
        .arg("--passphrase-file")
        .arg(v.pass("alice"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("corrupt.card is corrupted"),
        "{}",
        text(&out)
    );

    // A card of another vault.
    let other = TestVault::new(2, &["alice", "bob"]);
    let out = v
        .cmd()
        .args(["card", "check"])
        .arg(other.card("alice"))
        .arg("--passphrase-file")
        .arg(other.pass("alice"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains(&format!("belongs to vault {}", other.vault_id)),
        "{}",
        text(&out)
    );

    // Not a card at all.
    let out = v
        .cmd()
        .args(["card", "check"])
        .arg(v.cards.join("vault-cert.asc"))
        .arg("--passphrase-file")
        .arg(v.pass("alice"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("is not a seedvault custodian card"),
        "{}",
        text(&out)
    );
}

#[test]
fn unseal_needs_m_distinct_good_cards_and_names_what_is_wrong() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    v.cmd()
        .arg("unseal")
        .args(v.quorum(&["alice", "carol"]))
        .assert()
        .success()
        .stdout(predicate::str::contains("quorum OK"));
    v.cmd()
        .arg("unseal")
        .args(v.quorum(&["carol", "bob", "alice"]))
        .assert()
        .success();

    let out = v
        .cmd()
        .arg("unseal")
        .args(v.quorum(&["alice"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("2 of 3 cards needed, 1 given"),
        "{}",
        text(&out)
    );

    let out = v
        .cmd()
        .arg("unseal")
        .args(v.quorum(&["alice", "alice"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("already given"), "{}", text(&out));

    // bob's card with alice's passphrase.
    let mut args = v.quorum(&["alice"]);
    args.extend([
        "--card".into(),
        v.card("bob").into(),
        "--passphrase-file".into(),
        v.pass("alice").into(),
    ]);
    let out = v.cmd().arg("unseal").args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("wrong passphrase for card") && text(&out).contains("custodian bob"),
        "{}",
        text(&out)
    );

    let other = TestVault::new(2, &["alice", "bob"]);
    let mut args = v.quorum(&["alice"]);
    args.extend([
        "--card".into(),
        other.card("bob").into(),
        "--passphrase-file".into(),
        other.pass("bob").into(),
    ]);
    let out = v.cmd().arg("unseal").args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("belongs to vault"), "{}", text(&out));

    // Every refusal is in the log, and the log still verifies.
    let failed = v
        .sqlite("SELECT count(*) FROM audit WHERE CAST(body AS TEXT) LIKE '%vault.unseal_failed%'");
    assert_eq!(failed.trim(), "4");
    v.cmd().args(["audit", "verify"]).assert().success();
}

#[test]
fn a_share_that_does_not_match_its_commitment_is_named() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    // Replace carol's recorded commitment: her (genuine) card no longer matches.
    v.sqlite("UPDATE custodians SET commitment = randomblob(32) WHERE name = 'carol'");
    let out = v
        .cmd()
        .arg("unseal")
        .args(v.quorum(&["alice", "carol"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("card")
            && text(&out).contains("custodian carol")
            && text(&out).contains("does not match"),
        "{}",
        text(&out)
    );
    // ...and audit verify notices the edited custodians table.
    v.cmd().args(["audit", "verify"]).assert().code(3);
}

#[test]
fn flipping_any_byte_of_any_audit_entry_makes_verify_exit_3_naming_it() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    v.cmd()
        .arg("unseal")
        .args(v.quorum(&["alice", "bob"]))
        .assert()
        .success();
    v.cmd()
        .arg("unseal")
        .args(v.quorum(&["alice"]))
        .assert()
        .code(1);
    let entries: u64 = v
        .sqlite("SELECT count(*) FROM audit")
        .trim()
        .parse()
        .unwrap();
    assert_eq!(entries, 3);
    let pristine = std::fs::read(v.db()).unwrap();
    v.cmd()
        .args(["audit", "verify"])
        .assert()
        .success()
        .stdout(predicate::str::contains("3 entries"));

    for seq in 1..=entries {
        let len: usize = v
            .sqlite(&format!("SELECT length(body) FROM audit WHERE seq = {seq}"))
            .trim()
            .parse()
            .unwrap();
        for pos in [1, 2, len / 3, len / 2, len - 1, len] {
            // Replace the byte at `pos` (1-based) with one that differs.
            let cur = v.sqlite(&format!(
                "SELECT hex(substr(body, {pos}, 1)) FROM audit WHERE seq = {seq}"
            ));
            let byte = u8::from_str_radix(cur.trim(), 16).unwrap();
            let new = if byte == b'#' { b'%' } else { b'#' };
            v.sqlite(&format!(
                "UPDATE audit SET body = CAST(substr(body, 1, {}) || X'{:02X}' || substr(body, {}) AS BLOB) WHERE seq = {seq}",
                pos - 1,
                new,
                pos + 1
            ));
            let out = v
                .cmd()
                .args(["audit", "verify", "--json"])
                .output()
                .unwrap();
            assert_eq!(
                out.status.code(),
                Some(3),
                "entry {seq} byte {pos}: {}",
                text(&out)
            );
            let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(r["ok"], false);
            assert_eq!(
                r["problems"][0]["entry"], seq,
                "entry {seq} byte {pos}: {r}"
            );
            std::fs::write(v.db(), &pristine).unwrap();
        }
        // The stored hash, too.
        v.sqlite(&format!(
            "UPDATE audit SET hash = randomblob(32) WHERE seq = {seq}"
        ));
        let out = v.cmd().args(["audit", "verify"]).output().unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert!(
            text(&out).contains(&format!("entry {seq}")),
            "{}",
            text(&out)
        );
        std::fs::write(v.db(), &pristine).unwrap();
    }
    // Deleting an entry in the middle is named too.
    v.sqlite("DELETE FROM audit WHERE seq = 2");
    let out = v.cmd().args(["audit", "verify"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out).contains("missing"), "{}", text(&out));
}

#[test]
fn status_without_a_vault_says_how_to_make_one() {
    let tmp = tempfile::tempdir().unwrap();
    let out = crate::common::seedvault()
        .arg("--vault")
        .arg(tmp.path().join("none"))
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("no vault at") && text(&out).contains("seedvault init"),
        "{}",
        text(&out)
    );
}
