//! The tamper suite: every way of changing the log behind the vault's back
//! that the issue lists, each caught by `audit verify` (exit 3, a specific
//! message, never a panic), and the standard-library verifier
//! (`tools/verify_log.py`) agreeing. Checkpoint signatures are outside
//! what the Python script checks; for those cases `gpg --verify`, the
//! auditor's tool for signatures, is asserted to refuse instead.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{text, TestVault};
use rusqlite::{params, Connection};
use seedvault::crypto;

/// A vault with a few sessions behind it and checkpoints saved on "media".
struct Fixture {
    v: TestVault,
    /// Checkpoint after the last session (covers every entry).
    cp: PathBuf,
    /// Checkpoint after the first session (entries 1..=2).
    cp_early: PathBuf,
    /// vault.db as it was after the first session.
    old_db: Vec<u8>,
    /// vault.db at the end.
    pristine: Vec<u8>,
    entries: u64,
}

fn fixture() -> Fixture {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let media = v.tmp.path().join("media");
    std::fs::create_dir(&media).unwrap();
    // 2: unsealed (checkpoint 2).
    v.cmd()
        .arg("unseal")
        .args(v.quorum(&["alice", "bob"]))
        .assert()
        .success();
    let cp_early = media.join("early.asc");
    v.cmd()
        .args(["audit", "checkpoint", "--out"])
        .arg(&cp_early)
        .assert()
        .success();
    let old_db = std::fs::read(v.db()).unwrap();
    // 3: a refused unseal; 4: unsealed; 5: refused (verify-token of an unknown serial).
    v.cmd()
        .arg("unseal")
        .args(v.quorum(&["alice"]))
        .assert()
        .code(1);
    v.cmd()
        .arg("verify-token")
        .args(["NOSUCH1", "--code", "123456"])
        .args(v.quorum(&["bob", "carol"]))
        .assert()
        .code(1);
    // 6: unsealed.
    v.cmd()
        .arg("unseal")
        .args(v.quorum(&["carol", "alice"]))
        .assert()
        .success();
    let cp = media.join("checkpoint.asc");
    v.cmd()
        .args(["audit", "checkpoint", "--out"])
        .arg(&cp)
        .assert()
        .success();
    let n = v.audit_len();
    assert!(n >= 5, "fixture has {n} entries");
    let pristine = std::fs::read(v.db()).unwrap();
    let f = Fixture {
        v,
        cp,
        cp_early,
        old_db,
        pristine,
        entries: n,
    };
    // The untouched vault passes, for both verifiers.
    let out = f.verify(&[&f.cp, &f.cp_early]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let py = f.python(&[&f.cp, &f.cp_early]);
    assert_eq!(py.status.code(), Some(0), "{}", text(&py));
    f
}

impl Fixture {
    fn restore(&self) {
        std::fs::write(self.v.db(), &self.pristine).unwrap();
    }

    fn conn(&self) -> Connection {
        Connection::open(self.v.db()).unwrap()
    }

    fn verify(&self, cps: &[&Path]) -> std::process::Output {
        let mut c = self.v.cmd();
        c.args(["audit", "verify", "--json"]);
        for cp in cps {
            c.arg("--checkpoint").arg(cp);
        }
        c.output().unwrap()
    }

    fn python(&self, cps: &[&Path]) -> std::process::Output {
        let mut c = Command::new("python3");
        c.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/verify_log.py"))
            .arg(self.v.db());
        for cp in cps {
            c.arg("--checkpoint").arg(cp);
        }
        c.output().unwrap()
    }

    /// `audit verify` exits 3 naming `expect`, with JSON on stdout and no
    /// panic; the Python verifier exits 3 with the same words.
    fn caught(&self, case: &str, cps: &[&Path], expect: &str) {
        let out = self.verify(cps);
        let all = text(&out);
        assert_eq!(out.status.code(), Some(3), "{case}: {all}");
        assert!(!all.contains("panicked"), "{case}: {all}");
        let r: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{case}: {e}: {all}"));
        assert_eq!(r["ok"], false, "{case}");
        let mut found: Vec<String> = r["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| format!("entry {}: {}", p["entry"], p["problem"].as_str().unwrap()))
            .collect();
        for c in r["checkpoints"].as_array().unwrap() {
            if c["ok"] == false {
                found.push(c["problem"].as_str().unwrap().to_owned());
            }
        }
        assert!(
            found.iter().any(|p| p.contains(expect)),
            "{case}: expected {expect:?} in {found:?}"
        );
        let py = self.python(cps);
        assert_eq!(py.status.code(), Some(3), "{case} (python): {}", text(&py));
        assert!(
            text(&py).contains(expect),
            "{case} (python): expected {expect:?} in {}",
            text(&py)
        );
    }
}

fn body(conn: &Connection, seq: u64) -> Vec<u8> {
    conn.query_row("SELECT body FROM audit WHERE seq = ?1", [seq as i64], |r| {
        r.get(0)
    })
    .unwrap()
}

/// Rewrites entries `from..` so the chain is consistent again: each
/// body's `seq` and `prev` fixed, each hash recomputed (what a forger
/// with write access to the database can do).
fn rechain(conn: &Connection, from: u64) {
    let last: i64 = conn
        .query_row("SELECT max(seq) FROM audit", [], |r| r.get(0))
        .unwrap();
    let mut prev = if from == 1 {
        [0u8; 32]
    } else {
        crypto::sha256(&body(conn, from - 1))
    };
    for seq in from..=last as u64 {
        let b = String::from_utf8(body(conn, seq)).unwrap();
        let s = b.find("\"seq\":").unwrap() + 6;
        let e = s + b[s..].find(',').unwrap();
        let p = b.find("\"prev\":\"").unwrap() + 8;
        let b = format!(
            "{}{seq}{}{}{}",
            &b[..s],
            &b[e..p],
            crypto::hex(&prev),
            &b[p + 64..]
        );
        prev = crypto::sha256(b.as_bytes());
        conn.execute(
            "UPDATE audit SET body = ?1, hash = ?2 WHERE seq = ?3",
            params![b.as_bytes(), &prev[..], seq as i64],
        )
        .unwrap();
    }
}

/// A different character of the same kind, so the entry stays valid JSON.
fn bump(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b'0' + (b - b'0' + 1) % 10,
        b'a'..=b'z' => b'a' + (b - b'a' + 1) % 26,
        b'A'..=b'Z' => b'A' + (b - b'A' + 1) % 26,
        _ => b'X',
    }
}

#[test]
fn a_flipped_byte_in_any_field_of_an_entry_is_named() {
    let f = fixture();
    let seq = 4; // an unseal entry in the middle of the log
                 // Where the value starts, after `"key":`, skipping `"`, `["` or `{"`.
    for (field, skip) in [
        ("seq", 0),
        ("prev", 1),
        ("time", 1),
        ("vault", 1),
        ("event", 1),
        ("actors", 2),
        ("data", 2),
    ] {
        let conn = f.conn();
        let mut b = body(&conn, seq);
        let key = format!("\"{field}\":");
        let at = b
            .windows(key.len())
            .position(|w| w == key.as_bytes())
            .unwrap()
            + key.len()
            + skip;
        b[at] = bump(b[at]);
        conn.execute("UPDATE audit SET body = ?1 WHERE seq = ?2", params![b, seq])
            .unwrap();
        drop(conn);
        f.caught(
            &format!("field {field}"),
            &[&f.cp],
            "entry 4: contents do not match the stored hash",
        );
        f.restore();
    }
    // The stored hash itself.
    let conn = f.conn();
    let mut h: Vec<u8> = conn
        .query_row("SELECT hash FROM audit WHERE seq = 4", [], |r| r.get(0))
        .unwrap();
    h[7] ^= 0x01;
    conn.execute("UPDATE audit SET hash = ?1 WHERE seq = 4", params![h])
        .unwrap();
    drop(conn);
    f.caught(
        "stored hash",
        &[&f.cp],
        "entry 4: contents do not match the stored hash",
    );
    f.restore();
}

#[test]
fn deleted_inserted_swapped_and_reordered_entries_are_named() {
    let f = fixture();
    let cases: [(&str, &str, &str); 4] = [
        (
            "deleted",
            "DELETE FROM audit WHERE seq = 4",
            "entries 4..4 are missing (deleted)",
        ),
        (
            "inserted",
            "UPDATE audit SET seq = seq + 100 WHERE seq > 3;
             UPDATE audit SET seq = seq - 99 WHERE seq > 100;
             INSERT INTO audit (seq, body, hash) SELECT 4, body, hash FROM audit WHERE seq = 3;",
            "entry 4: entry says it is entry 3 (moved or renumbered)",
        ),
        (
            "swapped",
            "UPDATE audit SET seq = -1 WHERE seq = 4; UPDATE audit SET seq = 4 WHERE seq = 5;
             UPDATE audit SET seq = 5 WHERE seq = -1;",
            "entry 4: entry says it is entry 5 (moved or renumbered)",
        ),
        (
            "reordered",
            "UPDATE audit SET seq = -1 WHERE seq = 3; UPDATE audit SET seq = 3 WHERE seq = 4;
             UPDATE audit SET seq = 4 WHERE seq = 5; UPDATE audit SET seq = 5 WHERE seq = -1;",
            "entry 5: entry says it is entry 3 (moved or renumbered)",
        ),
    ];
    for (case, sql, expect) in cases {
        f.conn().execute_batch(sql).unwrap();
        f.caught(case, &[&f.cp], expect);
        f.caught(&format!("{case} (no checkpoint)"), &[], expect);
        f.restore();
    }
}

#[test]
fn a_rewritten_log_with_recomputed_hashes_is_caught_only_by_the_checkpoint() {
    let f = fixture();
    let conn = f.conn();
    // Entry 2 said alice and bob unsealed; make it say carol, and re-hash everything after.
    let b = String::from_utf8(body(&conn, 2))
        .unwrap()
        .replace("\"alice\"", "\"carol\"");
    conn.execute(
        "UPDATE audit SET body = ?1 WHERE seq = 2",
        params![b.as_bytes()],
    )
    .unwrap();
    rechain(&conn, 2);
    drop(conn);
    // The chain alone is consistent again (the standard-library script,
    // which walks only the chain, passes)...
    assert_eq!(f.python(&[]).status.code(), Some(0));
    // ...but the vault's own stored checkpoint catches it, with no file...
    let out = f.verify(&[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("no longer extends checkpoint"),
        "{}",
        text(&out)
    );
    // ...and it no longer extends either checkpoint kept outside.
    let expect = format!("entry {} hashes to", f.entries);
    f.caught("rewritten", &[&f.cp], &expect);
    f.caught(
        "rewritten, early checkpoint",
        &[&f.cp_early],
        "entry 2 hashes to",
    );
    f.caught("rewritten", &[&f.cp], "the log forked");
}

#[test]
fn truncation_forged_appends_and_rollback_are_caught_by_a_checkpoint() {
    let f = fixture();
    let n = f.entries;

    // The tail cut by one: a shorter, consistent chain.
    f.conn()
        .execute("DELETE FROM audit WHERE seq = ?1", [n as i64])
        .unwrap();
    // The vault's own stored checkpoint says the log was longer.
    assert_eq!(f.verify(&[]).status.code(), Some(3));
    f.caught(
        "truncated by one",
        &[&f.cp],
        &format!("the log has {} entries but the checkpoint of", n - 1),
    );
    f.caught(
        "truncated by one",
        &[&f.cp],
        "the log was truncated or rolled back to an older copy",
    );
    f.restore();

    // Cut past an earlier checkpoint.
    f.conn()
        .execute("DELETE FROM audit WHERE seq > 1", [])
        .unwrap();
    f.caught(
        "truncated past a checkpoint",
        &[&f.cp_early],
        "covers 2: the log was truncated or rolled back",
    );
    f.restore();

    // Cut by two, then two forged entries appended: the length is right again.
    let conn = f.conn();
    conn.execute("DELETE FROM audit WHERE seq > ?1", [(n - 2) as i64])
        .unwrap();
    for seq in [n - 1, n] {
        conn.execute(
            "INSERT INTO audit (seq, body, hash) SELECT ?1, body, hash FROM audit WHERE seq = 2",
            [seq as i64],
        )
        .unwrap();
    }
    rechain(&conn, n - 1);
    drop(conn);
    assert_eq!(
        f.python(&[]).status.code(),
        Some(0),
        "forged appends make a consistent chain"
    );
    assert_eq!(
        f.verify(&[]).status.code(),
        Some(3),
        "the vault's stored checkpoint still sees the fork"
    );
    f.caught(
        "truncated then forged",
        &[&f.cp],
        &format!("entry {n} hashes to"),
    );
    f.restore();

    // The whole database rolled back to an older copy.
    std::fs::write(f.v.db(), &f.old_db).unwrap();
    // The old copy is consistent with itself: only a checkpoint kept
    // outside the vault shows it is a rollback.
    assert_eq!(f.verify(&[]).status.code(), Some(0));
    f.caught(
        "rollback",
        &[&f.cp, &f.cp_early],
        "the log has 2 entries but the checkpoint of",
    );
    f.restore();
}

#[test]
fn a_vault_replaced_by_a_fresh_genesis_is_caught_by_its_checkpoint() {
    let f = fixture();
    std::fs::remove_dir_all(&f.v.vault).unwrap();
    let mut c = f.v.cmd();
    c.args([
        "init",
        "--threshold",
        "2",
        "--custodian",
        "alice",
        "--custodian",
        "bob",
        "--cards-out",
    ])
    .arg(f.v.tmp.path().join("cards2"))
    .arg("--insecure-fast-kdf")
    .arg("--passphrase-file")
    .arg(f.v.pass("alice"))
    .arg("--passphrase-file")
    .arg(f.v.pass("bob"));
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let new_id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(
        f.verify(&[]).status.code(),
        Some(0),
        "a fresh vault is a consistent log"
    );
    f.caught(
        "fresh genesis",
        &[&f.cp],
        &format!(
            "it is a checkpoint of vault {}, not of this vault {new_id}",
            f.v.vault_id
        ),
    );
}

fn gpg_verify(f: &Fixture, cp: &Path) -> std::process::Output {
    crate::common::require_tool("gpg");
    let home = f.v.tmp.path().join("gnupg");
    if !home.exists() {
        std::fs::create_dir(&home).unwrap();
        let mut perms = std::fs::metadata(&home).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o700);
        std::fs::set_permissions(&home, perms).unwrap();
        let out = Command::new("gpg")
            .arg("--homedir")
            .arg(&home)
            .args(["--batch", "--import"])
            .arg(f.v.cards.join("vault-cert.asc"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }
    Command::new("gpg")
        .arg("--homedir")
        .arg(&home)
        .args(["--batch", "--verify"])
        .arg(cp)
        .output()
        .unwrap()
}

/// The checkpoint's signature block (from `-----BEGIN PGP SIGNATURE-----`).
fn split_signature(signed: &str) -> (&str, &str) {
    let at = signed.find("-----BEGIN PGP SIGNATURE-----").unwrap();
    signed.split_at(at)
}

#[test]
fn gpg_accepts_a_checkpoint_and_edited_or_wrongly_signed_ones_are_refused() {
    let f = fixture();
    let out = gpg_verify(&f, &f.cp);
    assert!(out.status.success(), "gpg --verify: {}", text(&out));
    assert!(text(&out).contains("Good signature"), "{}", text(&out));
    let signed = std::fs::read_to_string(&f.cp).unwrap();
    let dir = f.v.tmp.path();

    // Edited: the count lowered by one (Python sees entry n-1 is not that head).
    let edited = dir.join("edited.asc");
    let n = f.entries;
    std::fs::write(
        &edited,
        signed.replace(&format!("entries: {n}\n"), &format!("entries: {}\n", n - 1)),
    )
    .unwrap();
    let out = f.verify(&[&edited]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("its signature does not match its text: the checkpoint was edited"),
        "{}",
        text(&out)
    );
    assert_eq!(f.python(&[&edited]).status.code(), Some(3));
    assert!(!gpg_verify(&f, &edited).status.success());

    // Wrongly signed: this text under the early checkpoint's (genuine) signature.
    let early = std::fs::read_to_string(&f.cp_early).unwrap();
    let wrong = dir.join("wrong.asc");
    std::fs::write(
        &wrong,
        format!(
            "{}{}",
            split_signature(&signed).0,
            split_signature(&early).1
        ),
    )
    .unwrap();
    let out = f.verify(&[&wrong]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("its signature does not match its text"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("panicked"));
    // The text is intact, so the Python count/head check passes; gpg refuses the signature.
    assert_eq!(f.python(&[&wrong]).status.code(), Some(0));
    assert!(!gpg_verify(&f, &wrong).status.success());

    // Signed by an unknown key: the genuine text clearsigned by another key with gpg.
    let mallory = dir.join("mallory");
    std::fs::create_dir(&mallory).unwrap();
    let mut perms = std::fs::metadata(&mallory).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o700);
    std::fs::set_permissions(&mallory, perms).unwrap();
    let gpg = |args: &[&str]| {
        let out = Command::new("gpg")
            .arg("--homedir")
            .arg(&mallory)
            .arg("--batch")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "gpg {args:?}: {}", text(&out));
    };
    gpg(&[
        "--passphrase",
        "",
        "--quick-gen-key",
        "mallory <mallory@example.invalid>",
        "ed25519",
        "sign",
        "never",
    ]);
    let doc: String = {
        let body = split_signature(&signed).0;
        let start = body.find("seedvault checkpoint v1").unwrap();
        body[start..].trim_end_matches('\n').to_owned() + "\n"
    };
    let doc_file = dir.join("doc.txt");
    std::fs::write(&doc_file, doc).unwrap();
    let unknown = dir.join("unknown.asc");
    gpg(&[
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "",
        "--output",
        unknown.to_str().unwrap(),
        "--clearsign",
        doc_file.to_str().unwrap(),
    ]);
    let out = f.verify(&[&unknown]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("it is signed by an unknown key"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("not by this vault's key"),
        "{}",
        text(&out)
    );
    assert_eq!(f.python(&[&unknown]).status.code(), Some(0));
    assert!(!gpg_verify(&f, &unknown).status.success());

    // Another vault's checkpoint.
    let other = TestVault::new(2, &["alice", "bob"]);
    other
        .cmd()
        .arg("unseal")
        .args(other.quorum(&["alice", "bob"]))
        .assert()
        .success();
    let foreign = dir.join("foreign.asc");
    other
        .cmd()
        .args(["audit", "checkpoint", "--out"])
        .arg(&foreign)
        .assert()
        .success();
    f.caught(
        "another vault's checkpoint",
        &[&foreign],
        &format!("it is a checkpoint of vault {}", other.vault_id),
    );

    // Not a checkpoint at all.
    let junk = dir.join("junk.asc");
    std::fs::write(&junk, "hello\n").unwrap();
    let out = f.verify(&[&junk]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("not a signed checkpoint"),
        "{}",
        text(&out)
    );
}

#[test]
fn checkpoints_are_written_after_each_quorum_command_and_never_overwrite() {
    let v = TestVault::new(2, &["alice", "bob"]);
    let out_file = v.tmp.path().join("cp.asc");
    // None yet: init unsealed nothing.
    let out = v
        .cmd()
        .args(["audit", "checkpoint", "--out"])
        .arg(&out_file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("no checkpoint yet"), "{}", text(&out));
    assert!(!out_file.exists());
    // A failed quorum command writes no checkpoint (no key), a finished one does.
    v.cmd()
        .arg("unseal")
        .args(v.quorum(&["alice"]))
        .assert()
        .code(1);
    assert_eq!(v.sqlite("SELECT count(*) FROM checkpoints").trim(), "0");
    v.cmd()
        .arg("unseal")
        .args(v.quorum(&["alice", "bob"]))
        .assert()
        .success();
    v.cmd()
        .arg("verify-token")
        .args(["NOSUCH1", "--code", "123456"])
        .args(v.quorum(&["alice", "bob"]))
        .assert()
        .code(1);
    // Each checkpoint covers the head as its command ended; writing it added no entry.
    let rows = v.sqlite("SELECT seq FROM checkpoints ORDER BY seq");
    let n = v.audit_len();
    assert_eq!(
        rows.split_whitespace().last().unwrap(),
        n.to_string(),
        "{rows}"
    );
    assert_eq!(rows.split_whitespace().count(), 2, "{rows}");
    v.cmd()
        .args(["audit", "checkpoint", "--out"])
        .arg(&out_file)
        .assert()
        .success();
    let text1 = std::fs::read_to_string(&out_file).unwrap();
    assert!(
        text1.contains(&format!("\nentries: {n}\n"))
            && text1.contains(&format!("\nvault: {}\n", v.vault_id)),
        "{text1}"
    );
    // Refuses to overwrite.
    let out = v
        .cmd()
        .args(["audit", "checkpoint", "--out"])
        .arg(&out_file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("refusing to overwrite"),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), text1);
    // An older checkpoint still verifies once the log has grown.
    v.cmd()
        .arg("unseal")
        .args(v.quorum(&["bob", "alice"]))
        .assert()
        .success();
    let out = v
        .cmd()
        .args(["audit", "verify", "--json", "--checkpoint"])
        .arg(&out_file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["checkpoints"][0]["ok"], true, "{r}");
    assert_eq!(r["checkpoints"][0]["entries"], n, "{r}");
}
