//! The vault signs and unseals only over a log it has verified, and holds
//! every card to sane Argon2id bounds and to the vault's own KDF policy.
//!
//! Each tamper is made as an attacker with write access to the database
//! would make it (the `sqlite3` CLI, or rusqlite for a rewrite with
//! recomputed hashes); each refusal is checked for its exit code, its
//! message, its audit entry, and that no checkpoint was signed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{text, TestVault};
use rusqlite::{params, Connection};
use secrecy::SecretString;
use seedvault::cards::{self, SealedCard};
use seedvault::crypto::{self, KdfParams};

fn checkpoint_rows(v: &TestVault) -> String {
    v.sqlite("SELECT seq FROM checkpoints ORDER BY seq")
}

/// The event of the last entry, and its `data` as JSON text.
fn last_entry(v: &TestVault) -> (String, serde_json::Value) {
    let body = v.sqlite("SELECT CAST(body AS TEXT) FROM audit ORDER BY seq DESC LIMIT 1");
    let e: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    (e["event"].as_str().unwrap().to_owned(), e["data"].clone())
}

fn events(v: &TestVault) -> Vec<String> {
    v.sqlite("SELECT json_extract(CAST(body AS TEXT), '$.event') FROM audit ORDER BY seq")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn unseal(v: &TestVault, names: &[&str], extra: &[&str]) -> std::process::Output {
    v.cmd()
        .arg("unseal")
        .args(v.quorum(names))
        .args(extra)
        .output()
        .unwrap()
}

/// A test vault after three quorum sessions: checkpoints at entries 2, 3, 4.
fn vault_with_sessions() -> TestVault {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    for q in [["alice", "bob"], ["bob", "carol"], ["carol", "alice"]] {
        let out = unseal(&v, &q, &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    assert_eq!(v.audit_len(), 4);
    assert_eq!(checkpoint_rows(&v), "2\n3\n4\n");
    v
}

/// Asserts a refused quorum session over a broken log: exit 3, `expect`
/// in the message, the refusal logged, no checkpoint written.
fn assert_refused(v: &TestVault, out: &std::process::Output, expect: &str) {
    let cps = checkpoint_rows(v);
    assert_eq!(out.status.code(), Some(3), "{}", text(out));
    let msg = String::from_utf8_lossy(&out.stderr);
    assert!(
        msg.contains("the audit log is broken; refusing quorum check"),
        "{msg}"
    );
    assert!(msg.contains(expect), "expected {expect:?} in {msg}");
    assert!(msg.contains("--accept-broken-log"), "{msg}");
    let (event, data) = last_entry(v);
    assert_eq!(event, "audit.broken_log_refused", "{data}");
    assert!(data["reason"].as_str().unwrap().contains(expect), "{data}");
    assert_eq!(data["purpose"], "quorum check");
    assert_eq!(checkpoint_rows(v), cps, "a checkpoint was written");
}

/// With `--accept-broken-log` the session runs, the acceptance is logged
/// right after its unseal, and no checkpoint is signed.
fn assert_accepted(v: &TestVault, expect: &str) {
    let cps = checkpoint_rows(v);
    let out = unseal(v, &["alice", "carol"], &["--accept-broken-log"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let msg = String::from_utf8_lossy(&out.stderr);
    assert!(msg.contains("WARNING: the audit log is broken"), "{msg}");
    assert!(msg.contains("no checkpoint was signed"), "{msg}");
    let ev = events(v);
    assert_eq!(
        &ev[ev.len() - 2..],
        ["vault.unsealed", "audit.broken_log_accepted"],
        "{ev:?}"
    );
    let (_, data) = last_entry(v);
    assert!(data["reason"].as_str().unwrap().contains(expect), "{data}");
    assert_eq!(data["cards"], serde_json::json!(["alice", "carol"]));
    assert_eq!(checkpoint_rows(v), cps, "a checkpoint was signed");
    // The log stays broken: the next session without the flag is refused again.
    let out = unseal(v, &["alice", "bob"], &[]);
    assert_refused(v, &out, expect);
}

#[test]
fn an_unseal_entry_records_the_checkpoint_its_session_verified() {
    let v = vault_with_sessions();
    let first = v.sqlite("SELECT CAST(body AS TEXT) FROM audit WHERE seq = 2");
    let first: serde_json::Value = serde_json::from_str(first.trim()).unwrap();
    assert_eq!(first["data"]["checkpoint"], serde_json::Value::Null);
    let last = v.sqlite("SELECT CAST(body AS TEXT) FROM audit WHERE seq = 4");
    let last: serde_json::Value = serde_json::from_str(last.trim()).unwrap();
    let head3 = v.sqlite("SELECT lower(hex(hash)) FROM audit WHERE seq = 3");
    assert_eq!(last["data"]["checkpoint"]["entries"], 3);
    assert_eq!(last["data"]["checkpoint"]["head"], head3.trim());
    // And the intact log verifies, for both verifiers.
    v.cmd().args(["audit", "verify"]).assert().success();
    v.cmd().args(["audit", "replay"]).assert().success();
}

#[test]
fn a_deleted_tail_refuses_the_next_quorum_session_until_accepted() {
    let v = vault_with_sessions();
    v.sqlite("DELETE FROM audit WHERE seq > 2");
    let expect = "the log no longer extends checkpoint 4";
    let out = unseal(&v, &["alice", "bob"], &[]);
    assert_refused(&v, &out, expect);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("the log has 2 entries but the checkpoint of"),
        "{}",
        text(&out)
    );
    // A quorum command with real work is refused the same way, and so is
    // one whose cards are refused anyway.
    let out = v
        .cmd()
        .args(["verify-token", "12345", "--code", "123456"])
        .args(v.quorum(&["bob", "carol"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains(expect), "{}", text(&out));
    assert_accepted(&v, expect);
}

#[test]
fn audit_verify_alone_reports_a_tail_cut_below_the_stored_checkpoints() {
    let v = vault_with_sessions();
    // The intact vault verifies without any checkpoint file.
    let out = v.cmd().args(["audit", "verify"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The remaining chain is intact, but the vault's own signed checkpoint
    // says the log was longer: no --checkpoint file is needed to see it.
    v.sqlite("DELETE FROM audit WHERE seq > 2");
    let out = v.cmd().args(["audit", "verify"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("the log no longer extends checkpoint 4"),
        "{}",
        text(&out)
    );
    let out = v
        .cmd()
        .args(["audit", "verify", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["ok"], false, "{doc}");
}

#[test]
fn a_deleted_tail_with_its_checkpoint_rows_is_still_caught_by_a_surviving_row() {
    let v = vault_with_sessions();
    // Cut past checkpoints 3 and 4, deleting their rows too: checkpoint 2
    // still stands, and the log must extend it.
    v.sqlite("DELETE FROM audit WHERE seq > 1; DELETE FROM checkpoints WHERE seq > 2;");
    let out = unseal(&v, &["alice", "bob"], &[]);
    assert_refused(&v, &out, "the log no longer extends checkpoint 2");
}

#[test]
fn an_edited_entry_in_the_middle_refuses_the_next_quorum_session() {
    let v = vault_with_sessions();
    let conn = Connection::open(v.db()).unwrap();
    let b = body(&conn, 3).replace("\"bob\"", "\"eve\"");
    conn.execute(
        "UPDATE audit SET body = ?1 WHERE seq = 3",
        params![b.as_bytes()],
    )
    .unwrap();
    drop(conn);
    let expect = "entry 3: contents do not match the stored hash";
    let out = unseal(&v, &["alice", "bob"], &[]);
    assert_refused(&v, &out, expect);
    assert_accepted(&v, expect);
}

fn body(conn: &Connection, seq: u64) -> String {
    let b: Vec<u8> = conn
        .query_row("SELECT body FROM audit WHERE seq = ?1", [seq as i64], |r| {
            r.get(0)
        })
        .unwrap();
    String::from_utf8(b).unwrap()
}

/// Re-links entries `from..` after an edit: each `prev` set to the hash
/// of the body before it and each stored hash recomputed.
fn relink(conn: &Connection, from: u64) {
    let last: i64 = conn
        .query_row("SELECT max(seq) FROM audit", [], |r| r.get(0))
        .unwrap();
    let mut prev = crypto::sha256(body(conn, from - 1).as_bytes());
    for seq in from..=last as u64 {
        let b = body(conn, seq);
        let at = b.find("\"prev\":\"").unwrap() + 8;
        let b = format!("{}{}{}", &b[..at], crypto::hex(&prev), &b[at + 64..]);
        prev = crypto::sha256(b.as_bytes());
        conn.execute(
            "UPDATE audit SET body = ?1, hash = ?2 WHERE seq = ?3",
            params![b.as_bytes(), &prev[..], seq as i64],
        )
        .unwrap();
    }
}

#[test]
fn a_rewritten_log_without_its_checkpoint_rows_is_caught_by_the_logs_own_record() {
    let v = vault_with_sessions();
    // Entry 3 said bob and carol unsealed: make it say alice, re-link every
    // later entry, and delete every checkpoint row so no signed text is left.
    let conn = Connection::open(v.db()).unwrap();
    let b = body(&conn, 3).replace("\"bob\"", "\"alice\"");
    conn.execute(
        "UPDATE audit SET body = ?1 WHERE seq = 3",
        params![b.as_bytes()],
    )
    .unwrap();
    relink(&conn, 3);
    conn.execute("DELETE FROM checkpoints", []).unwrap();
    drop(conn);
    // The chain alone is consistent again, but entry 4 recorded checkpoint
    // 3 with the old head: `audit verify` and the next session both say so.
    let out = v.cmd().args(["audit", "verify"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("the log no longer extends checkpoint 3"),
        "{}",
        text(&out)
    );
    let out = unseal(&v, &["alice", "bob"], &[]);
    assert_refused(&v, &out, "the log no longer extends checkpoint 3");
    assert!(
        text(&out).contains("recorded by entry 4; its row in the checkpoints table is gone"),
        "{}",
        text(&out)
    );
}

#[test]
fn stored_checkpoints_count_for_their_signed_text_not_their_columns() {
    // A row relabelled to a lower seq cannot hide the highest checkpoint.
    let v = vault_with_sessions();
    v.sqlite("DELETE FROM audit WHERE seq > 3; UPDATE checkpoints SET seq = 1 WHERE seq = 4;");
    let out = unseal(&v, &["alice", "bob"], &[]);
    assert_refused(
        &v,
        &out,
        "checkpoint row 1 holds the checkpoint of entry 4, not its own columns",
    );
    assert!(
        text(&out).contains("the log no longer extends checkpoint 4"),
        "{}",
        text(&out)
    );

    // A forged row above the others must carry the vault key's signature.
    let v = vault_with_sessions();
    let signed = v.sqlite("SELECT signed FROM checkpoints WHERE seq = 4");
    let forged = signed.replace("entries: 4", "entries: 9");
    let conn = Connection::open(v.db()).unwrap();
    let head: Vec<u8> = conn
        .query_row("SELECT head_hash FROM checkpoints WHERE seq = 4", [], |r| {
            r.get(0)
        })
        .unwrap();
    conn.execute(
        "INSERT INTO checkpoints (seq, head_hash, created_at, signed) VALUES (9, ?1, 'now', ?2)",
        params![head, forged.trim_end()],
    )
    .unwrap();
    drop(conn);
    let out = unseal(&v, &["alice", "bob"], &[]);
    assert_refused(
        &v,
        &out,
        "the highest stored checkpoint (entry 9) cannot be trusted: its signature does not match its text",
    );
}

/// A copy of `name`'s card with the big-endian u32 at `offset` replaced by
/// `value` and the (unkeyed) trailing SHA-256 recomputed.
fn patched_card(v: &TestVault, name: &str, offset: usize, value: u32) -> PathBuf {
    let mut b = std::fs::read(v.card(name)).unwrap();
    let n = b.len();
    b[offset..offset + 4].copy_from_slice(&value.to_be_bytes());
    let sum = crypto::sha256(&b[..n - 32]);
    b[n - 32..].copy_from_slice(&sum);
    let path = v.tmp.path().join(format!("{name}-{offset}-{value}.card"));
    std::fs::write(&path, b).unwrap();
    path
}

#[test]
fn card_kdf_parameters_out_of_bounds_are_refused_quickly_and_logged() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    // Offsets from docs/formats.md: m at 19, t at 23, p at 27.
    for (offset, value, param) in [
        (
            23,
            u32::MAX,
            "Argon2id t (passes) = 4294967295 is outside the allowed 1..=16",
        ),
        (
            19,
            u32::MAX,
            "Argon2id m (memory, KiB) = 4294967295 is outside the allowed",
        ),
        (
            27,
            0,
            "Argon2id p (lanes) = 0 is outside the allowed 1..=16",
        ),
    ] {
        let card = patched_card(&v, "alice", offset, value);
        let before = v.audit_len();
        let started = Instant::now();
        let out = v
            .cmd()
            .arg("unseal")
            .arg("--card")
            .arg(&card)
            .arg("--passphrase-file")
            .arg(v.pass("alice"))
            .args(v.quorum(&["bob"]))
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{param}: took {:?}",
            started.elapsed()
        );
        assert_eq!(out.status.code(), Some(1), "{param}: {}", text(&out));
        let msg = String::from_utf8_lossy(&out.stderr);
        assert!(
            msg.contains(&format!(
                "card {} (custodian alice) is refused",
                card.display()
            )),
            "{msg}"
        );
        assert!(msg.contains(param), "{msg}");
        assert_eq!(v.audit_len(), before + 1);
        let (event, data) = last_entry(&v);
        assert_eq!(event, "vault.unseal_failed");
        assert!(data["reason"].as_str().unwrap().contains(param), "{data}");
        assert_eq!(checkpoint_rows(&v), "");

        // `card check` refuses it the same way.
        let out = v
            .cmd()
            .args(["card", "check"])
            .arg(&card)
            .arg("--passphrase-file")
            .arg(v.pass("alice"))
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(text(&out).contains(param), "{}", text(&out));
    }
}

fn init_production(dir: &Path) -> (PathBuf, PathBuf, String) {
    let vault = dir.join("vault");
    let cards = dir.join("cards");
    let mut cmd = crate::common::seedvault();
    cmd.arg("--vault")
        .arg(&vault)
        .args(["init", "--threshold", "2", "--custodian", "alice"])
        .args(["--custodian", "bob", "--cards-out"])
        .arg(&cards);
    for n in ["alice", "bob"] {
        let f = dir.join(format!("{n}.pass"));
        std::fs::write(&f, format!("{n}-passphrase-123\n")).unwrap();
        cmd.arg("--passphrase-file").arg(f);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let id = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned();
    (vault, cards, id)
}

#[test]
fn a_production_vault_refuses_a_card_resealed_with_test_parameters() {
    let tmp = tempfile::tempdir().unwrap();
    let (vault, cards_dir, _id) = init_production(tmp.path());
    let sq = |sql: &str| {
        let out = std::process::Command::new("sqlite3")
            .arg(vault.join("vault.db"))
            .arg(sql)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    // The genesis records the ceremony's parameters: the vault's policy.
    assert_eq!(
        sq("SELECT json_extract(CAST(body AS TEXT), '$.data.kdf') FROM audit WHERE seq = 1").trim(),
        r#"{"m_kib":65536,"p":4,"t":3}"#
    );

    // Alice's card, opened with her passphrase and sealed again with the
    // test parameters (what a custodian with a cheap tool could do).
    let pass = SecretString::from("alice-passphrase-123".to_owned());
    let card = SealedCard::read(&cards_dir.join("alice.card")).unwrap();
    let secrets = card.open(&pass).unwrap();
    let h = &card.header;
    let weak = cards::seal(
        (h.vault_id, h.member_index, h.threshold, h.name.as_str()),
        KdfParams::INSECURE_FAST,
        &pass,
        &secrets,
    )
    .unwrap();
    let weak_path = tmp.path().join("alice-weak.card");
    std::fs::write(&weak_path, weak).unwrap();

    let out = crate::common::seedvault()
        .arg("--vault")
        .arg(&vault)
        .arg("unseal")
        .arg("--card")
        .arg(&weak_path)
        .arg("--passphrase-file")
        .arg(tmp.path().join("alice.pass"))
        .arg("--card")
        .arg(cards_dir.join("bob.card"))
        .arg("--passphrase-file")
        .arg(tmp.path().join("bob.pass"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let msg = String::from_utf8_lossy(&out.stderr);
    assert!(
        msg.contains(&format!(
            "card {} (custodian alice) is sealed with Argon2id m = 64 KiB, t = 1, p = 1, weaker than this vault's policy m = 65536 KiB, t = 3, p = 4",
            weak_path.display()
        )),
        "{msg}"
    );
    let last = sq("SELECT json_extract(CAST(body AS TEXT), '$.event') || ' ' || json_extract(CAST(body AS TEXT), '$.data.reason') FROM audit ORDER BY seq DESC LIMIT 1");
    assert!(
        last.starts_with("vault.unseal_failed ")
            && last.contains("weaker than this vault's policy"),
        "{last}"
    );
    assert_eq!(sq("SELECT count(*) FROM checkpoints").trim(), "0");
}

#[test]
fn a_log_changed_during_a_session_gets_no_checkpoint_and_the_refusal_is_logged() {
    // Through the library: the change must land between unseal and finish.
    let v = vault_with_sessions();
    let quorum = ["alice", "bob"]
        .iter()
        .map(|n| {
            let card = SealedCard::read(&v.card(n)).unwrap();
            let pass = std::fs::read_to_string(v.pass(n)).unwrap();
            (card, SecretString::from(pass.trim_end().to_owned()))
        })
        .collect();
    let unsealed = seedvault::vault::Vault::open(&v.vault)
        .unwrap()
        .unseal(quorum, "test session")
        .unwrap();
    assert_eq!(unsealed.verified_head().map(|h| h.count), Some(4));
    // Behind the session's back: the tail is cut, the session's own unseal
    // entry with it.
    v.sqlite("DELETE FROM audit WHERE seq > 3");
    let (_vault, cp) = unsealed.finish();
    let e = cp.unwrap_err();
    assert!(e.is_tampering(), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("no checkpoint was signed: the log no longer extends the head this session verified (entry 4)"),
        "{msg}"
    );
    assert_eq!(checkpoint_rows(&v), "2\n3\n4\n");
    let (event, data) = last_entry(&v);
    assert_eq!(event, "audit.checkpoint_refused", "{data}");
    assert_eq!(data["purpose"], "test session");
}

#[test]
fn an_officers_act_over_a_broken_log_is_refused_until_accepted() {
    let v = vault_with_sessions();
    v.sqlite("DELETE FROM audit WHERE seq > 3");
    let order_add = |extra: &[&str]| {
        v.cmd()
            .args(["order", "add", "--id", "4711", "--customer", "Example Ltd"])
            .args(["--email", "it@example.com", "--card"])
            .arg(v.card("alice"))
            .arg("--passphrase-file")
            .arg(v.pass("alice"))
            .args(extra)
            .output()
            .unwrap()
    };
    let out = order_add(&[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let msg = String::from_utf8_lossy(&out.stderr);
    assert!(
        msg.contains(
            "the audit log is broken; refusing order add: the log no longer extends checkpoint 4"
        ),
        "{msg}"
    );
    let (event, data) = last_entry(&v);
    assert_eq!(event, "audit.broken_log_refused", "{data}");
    assert_eq!(v.sqlite("SELECT count(*) FROM orders").trim(), "0");

    let out = order_add(&["--accept-broken-log"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let ev = events(&v);
    assert_eq!(
        &ev[ev.len() - 2..],
        ["audit.broken_log_accepted", "order.added"],
        "{ev:?}"
    );
    assert_eq!(v.sqlite("SELECT count(*) FROM orders").trim(), "1");
    assert_eq!(checkpoint_rows(&v), "2\n3\n4\n");
}
