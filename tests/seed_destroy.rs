//! Retention and destruction of delivered seeds (issue 14, branch d1): the
//! signed receipt as gpg reads it, the database file and its journal
//! searched for the destroyed ciphertexts, every later use of a destroyed
//! serial refused, refusals that change nothing, crash points, and
//! `audit verify` / `audit replay` over all of it. Also deletion by runs of
//! adjacent rows (branch x1): a sparse selection, whose gaps make the scan
//! seek again, destroys exactly the serials listed, and a seed row deleted
//! behind the log is named with nothing destroyed.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{read_truth, request_id, text, Gpg, TestVault};

const ORDER: &str = "4711";
const FIRST: u64 = 70_000_000;

struct Fx {
    v: TestVault,
    truth: Vec<(String, String, u64)>,
    key: PathBuf,
}

/// A 2-of-3 vault with `tokens` TOTP tokens; order 4711 holds the first
/// `in_order`, requested by alice, approved by bob and exported.
fn exported(tokens: u32, in_order: u64) -> Fx {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let truth = read_truth(&v.ingest("base32", tokens, FIRST, 7));
    v.add_order(ORDER, "Acme", &["it@acme.example"], "alice");
    v.assign(ORDER, FIRST..FIRST + in_order, "alice");
    let (key, _) = v.customer_key("IT <it@acme.example>", "customer.asc");
    let req = request_id(&v.create_request(ORDER, "it@acme.example", "hex", &key, "alice", &[]));
    v.approve_ok(&req, "bob");
    let out_media = v.tmp.path().join("export-media");
    std::fs::create_dir(&out_media).unwrap();
    v.export_ok(&req, &out_media, &["alice", "bob"]);
    Fx { v, truth, key }
}

fn destroy(
    v: &TestVault,
    which: &[&str],
    media: &Path,
    env: Option<(&str, &str)>,
) -> std::process::Output {
    let mut c = v.cmd();
    c.args(["seeds", "destroy"])
        .args(which)
        .args([
            "--reason",
            "delivered to the customer; retention ended",
            "--media",
        ])
        .arg(media)
        .args(v.quorum(&["alice", "bob"]));
    if let Some((k, val)) = env {
        c.env(k, val);
    }
    c.output().unwrap()
}

fn audit_passes(v: &TestVault) {
    for what in ["verify", "replay"] {
        let out = v.cmd().args(["audit", what]).output().unwrap();
        assert!(out.status.success(), "audit {what}: {}", text(&out));
    }
}

fn today() -> String {
    let out = Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The stored ciphertexts of `serials`, read with the sqlite3 CLI.
fn ciphertexts(v: &TestVault, serials: impl Iterator<Item = u64>) -> Vec<Vec<u8>> {
    let list: Vec<String> = serials.map(|s| format!("'{s}'")).collect();
    let rows = v.sqlite(&format!(
        "SELECT hex(sealed) FROM seeds WHERE serial IN ({})",
        list.join(",")
    ));
    let out: Vec<Vec<u8>> = rows
        .lines()
        .map(|hex| {
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect()
        })
        .collect();
    assert_eq!(out.len(), list.len(), "some serials have no sealed seed");
    out
}

/// The stored ciphertext of `serial`.
fn sealed_of(v: &TestVault, serial: u64) -> Vec<u8> {
    ciphertexts(v, std::iter::once(serial)).remove(0)
}

fn count(v: &TestVault, sql: &str) -> u64 {
    v.sqlite(sql).trim().parse().unwrap()
}

/// How many of the stored seeds `sealed` have some 12-byte window of
/// their ciphertext and tag in `hay` (`nonce (12) || ciphertext || tag`:
/// the nonce is a counter, mostly zero bytes, found in any zeroed page).
fn found_in(hay: &[u8], sealed: &[Vec<u8>]) -> usize {
    let mut windows: std::collections::HashMap<&[u8], usize> = std::collections::HashMap::new();
    for (i, c) in sealed.iter().enumerate() {
        for w in c[12..].windows(12).step_by(6) {
            windows.insert(w, i);
        }
    }
    let hits: std::collections::HashSet<usize> = hay
        .windows(12)
        .filter_map(|w| windows.get(w).copied())
        .collect();
    hits.len()
}

/// Whether `hay` holds part of the ciphertext of the stored seed `sealed`.
fn holds_part_of(hay: &[u8], sealed: &[u8]) -> bool {
    found_in(hay, &[sealed.to_vec()]) > 0
}

/// The TOTP code oathtool computes from a hex secret at `at`.
fn code_at(secret_hex: &str, at: u64) -> String {
    crate::common::require_tool("oathtool");
    let out = Command::new("oathtool")
        .args(["--totp", &format!("--now=@{at}"), secret_hex])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn verify_token(v: &TestVault, serial: &str, secret: &str) -> std::process::Output {
    let at = 1_800_000_000u64;
    v.cmd()
        .args([
            "verify-token",
            serial,
            "--code",
            &code_at(secret, at),
            "--at",
            &at.to_string(),
        ])
        .args(v.quorum(&["alice", "bob"]))
        .output()
        .unwrap()
}

#[test]
fn destroy_by_order_leaves_a_receipt_gpg_verifies_and_no_ciphertext_on_disk() {
    let f = exported(10, 6);
    let v = &f.v;
    // A re-export approved before the destruction: its export must fail after.
    let list = v.tmp.path().join("again.txt");
    std::fs::write(&list, format!("{}\n{}\n", FIRST, FIRST + 1)).unwrap();
    let again = request_id(&v.create_request(
        ORDER,
        "it@acme.example",
        "hex",
        &f.key,
        "alice",
        &[
            "--serials-file",
            list.to_str().unwrap(),
            "--reexport",
            "--reason",
            "medium lost",
        ],
    ));
    v.approve_ok(&again, "carol");
    let sealed = ciphertexts(v, FIRST..FIRST + 6);
    let kept = ciphertexts(v, FIRST + 6..FIRST + 10);

    let media = v.media();
    let out = destroy(v, &["--order", ORDER], &media, None);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("destroyed 6 seeds of order 4711"),
        "{}",
        text(&out)
    );

    // The receipt: clearsigned by the vault key, as gpg sees it.
    let receipt = media.join("4711-destruction-1.receipt.asc");
    let body = std::fs::read_to_string(&receipt).unwrap();
    for line in [
        "seedvault destruction receipt v1",
        "order: 4711",
        "serials: 6",
        "reason: delivered to the customer; retention ended",
        "batches-shredded: none",
        &format!("serial: {FIRST}"),
        &format!("serial: {}", FIRST + 5),
    ] {
        assert!(body.contains(line), "receipt lacks {line:?}:\n{body}");
    }
    assert!(
        body.contains("\nofficer: alice ") && body.contains("\nofficer: bob "),
        "{body}"
    );
    assert!(!body.contains(&format!("serial: {}", FIRST + 6)), "{body}");
    let gpg = Gpg::new();
    gpg.run(&["--import", v.cards.join("vault-cert.asc").to_str().unwrap()]);
    let checked = gpg.run(&["--status-fd", "1", "--verify", receipt.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&checked.stdout).contains("[GNUPG:] GOODSIG"),
        "{}",
        text(&checked)
    );
    // The log holds the receipt's SHA-256.
    let logged = v.sqlite(
        "SELECT json_extract(CAST(body AS TEXT), '$.data.receipt_sha256') FROM audit \
         WHERE json_extract(CAST(body AS TEXT), '$.event') = 'seeds.destroyed'",
    );
    let sha = Command::new("sha256sum").arg(&receipt).output().unwrap();
    assert_eq!(
        logged.trim(),
        String::from_utf8(sha.stdout)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
    );

    // Neither the database file nor a journal holds any part of the destroyed ciphertexts.
    let db = std::fs::read(v.db()).unwrap();
    assert!(
        !v.vault.join("vault.db-journal").exists(),
        "the journal was left"
    );
    for (i, c) in sealed.iter().enumerate() {
        assert!(
            !holds_part_of(&db, c),
            "vault.db still holds ciphertext of serial {}",
            FIRST + i as u64
        );
    }
    // The search finds what is there: the seeds kept.
    assert!(kept.iter().all(|c| holds_part_of(&db, c)));

    // Every later use of a destroyed serial is refused with the date.
    let refused = format!("serial {FIRST}: seed destroyed on {}", today());
    let out = v.export(&again, &media, &["alice", "bob"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains(&refused), "{}", text(&out));
    let (s0, secret0, _) = &f.truth[0];
    let out = verify_token(v, s0, secret0);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains(&refused), "{}", text(&out));
    let out = v.create_request(
        ORDER,
        "it@acme.example",
        "hex",
        &f.key,
        "alice",
        &[
            "--serials-file",
            list.to_str().unwrap(),
            "--reexport",
            "--reason",
            "again",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains(&refused), "{}", text(&out));
    // A seed of the same batch that was not destroyed still works.
    let (s7, secret7, _) = &f.truth[7];
    let out = verify_token(v, s7, secret7);
    assert!(out.status.success(), "{}", text(&out));

    // serial show: destroyed, when, by whom, why.
    let shown = text(
        &v.cmd()
            .args(["serial", "show", &FIRST.to_string()])
            .output()
            .unwrap(),
    );
    assert!(shown.contains("State      destroyed"), "{shown}");
    assert!(
        shown.contains(&format!("Destroyed  {}", today()))
            && shown.contains(
                "by alice, bob (destruction 1): delivered to the customer; retention ended"
            ),
        "{shown}"
    );
    let out = v
        .cmd()
        .args(["serial", "show", &FIRST.to_string(), "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let rec: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rec["state"], "destroyed");
    assert_eq!(
        rec["destroyed"]["officers"],
        serde_json::json!(["alice", "bob"])
    );
    assert_eq!(
        rec["destroyed"]["reason"],
        "delivered to the customer; retention ended"
    );
    assert!(rec["history"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["event"] == "seeds.destroyed"));
    let st: serde_json::Value =
        serde_json::from_slice(&v.cmd().args(["status", "--json"]).output().unwrap().stdout)
            .unwrap();
    assert_eq!(
        (st["destroyed"].clone(), st["counts"]["seeds"].clone()),
        (6.into(), 4.into())
    );
    audit_passes(v);
}

#[test]
fn destroying_a_serial_never_exported_is_refused_and_changes_nothing() {
    let f = exported(10, 6);
    let v = &f.v;
    let media = v.media();
    let list = v.tmp.path().join("some.txt");
    std::fs::write(
        &list,
        format!("{}\n{}\n{}\n", FIRST + 2, FIRST + 8, 99_999_999),
    )
    .unwrap();
    let db = std::fs::read(v.db()).unwrap();
    let entries = v.audit_len();
    let out = destroy(v, &["--serials-file", list.to_str().unwrap()], &media, None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let msg = text(&out);
    assert!(
        msg.contains(&format!(
            "serial {}: never exported (delivered) nor voided",
            FIRST + 8
        )),
        "{msg}"
    );
    assert!(msg.contains("serial 99999999 is not in the vault"), "{msg}");
    assert!(!msg.contains(&format!("serial {}:", FIRST + 2)), "{msg}");
    assert_eq!(std::fs::read(v.db()).unwrap(), db, "the database changed");
    assert_eq!(v.audit_len(), entries);
    assert_eq!(std::fs::read_dir(&media).unwrap().count(), 0);

    // An order with an unexported serial is refused as a whole, naming it.
    v.assign(ORDER, [FIRST + 9], "alice");
    let entries = v.audit_len();
    let out = destroy(v, &["--order", ORDER], &media, None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("serial {}: never exported", FIRST + 9)),
        "{}",
        text(&out)
    );

    // Many: the first 50 are named, the rest counted.
    let many = v.tmp.path().join("many.txt");
    let lines: Vec<String> = (0..60).map(|i| format!("X{i:03}")).collect();
    std::fs::write(&many, lines.join("\n")).unwrap();
    let out = destroy(v, &["--serials-file", many.to_str().unwrap()], &media, None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("serial X049 is not in the vault\n  and 10 more"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("X050"), "{}", text(&out));
    assert_eq!(v.audit_len(), entries);
    audit_passes(v);
}

#[test]
fn a_whole_batch_destroyed_loses_its_data_key_and_voided_serials_may_go() {
    let f = exported(10, 8);
    let v = &f.v;
    // The two serials outside the order: voided, so destroyable too.
    for s in [FIRST + 8, FIRST + 9] {
        v.cmd()
            .args(["serial", "void", &s.to_string(), "--reason", "reprogrammed"])
            .args(v.officer("carol"))
            .assert()
            .success();
    }
    assert_eq!(v.sqlite("SELECT count(*) FROM data_keys").trim(), "1");
    let list = v.tmp.path().join("all.txt");
    let all: Vec<String> = (FIRST..FIRST + 10).map(|s| s.to_string()).collect();
    std::fs::write(&list, all.join("\n")).unwrap();
    let media = v.media();
    let out = destroy(v, &["--serials-file", list.to_str().unwrap()], &media, None);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("batch data keys deleted (every seed of the batch is gone): 1"),
        "{}",
        text(&out)
    );
    assert_eq!(v.sqlite("SELECT count(*) FROM data_keys").trim(), "0");
    assert_eq!(
        v.sqlite("SELECT count(*) FROM batches").trim(),
        "1",
        "the batch stays as history"
    );
    let body = std::fs::read_to_string(media.join("destruction-1.receipt.asc")).unwrap();
    assert!(
        body.contains("batches-shredded: 1\n") && body.contains("order: (none)"),
        "{body}"
    );
    // A second run of the same file destroys nothing and says so.
    let out = destroy(v, &["--serials-file", list.to_str().unwrap()], &media, None);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("already on the medium, unchanged"),
        "{}",
        text(&out)
    );
    // The factory file again: a destroyed serial is never ingested again.
    let again = v.ingest_output(
        &v.tmp.path().join(format!("batch-{FIRST}.base32")),
        &["alice", "bob"],
    );
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(
        text(&again).contains(&format!("serial {FIRST}: seed destroyed on {}", today())),
        "{}",
        text(&again)
    );
    assert!(
        text(&again).contains("and are never ingested again"),
        "{}",
        text(&again)
    );
    assert_eq!(v.sqlite("SELECT count(*) FROM seeds").trim(), "0");
    audit_passes(v);
}

#[test]
fn a_crash_after_the_commit_or_mid_receipt_is_finished_by_a_rerun() {
    for point in [
        "destroy-committed",
        "destroy-scrubbed",
        "destroy-receipt-partial",
    ] {
        let f = exported(10, 6);
        let v = &f.v;
        let media = v.media();
        let sealed = ciphertexts(v, FIRST..FIRST + 6);
        let out = destroy(
            v,
            &["--order", ORDER],
            &media,
            Some(("SEEDVAULT_TEST_CRASH_AT", point)),
        );
        assert!(
            !out.status.success(),
            "{point}: the crash point was not reached"
        );
        assert!(
            !media.join("4711-destruction-1.receipt.asc").exists(),
            "{point}"
        );
        assert_eq!(
            v.events("seeds.destroyed"),
            1,
            "{point}: the destruction is committed"
        );
        if point == "destroy-committed" {
            // The journal the deletion left holds the deleted pages: why
            // it is scrubbed, and why a re-run scrubs a stale one.
            let journal = std::fs::read(v.vault.join("vault.db-journal")).unwrap();
            assert!(
                found_in(&journal, &sealed) > 0,
                "the journal holds no deleted page"
            );
        }
        // Whatever the crash left, the log and the tables agree.
        audit_passes(v);
        let out = destroy(v, &["--order", ORDER], &media, None);
        assert!(out.status.success(), "{point}: {}", text(&out));
        assert!(
            text(&out).contains("receipt written again"),
            "{point}: {}",
            text(&out)
        );
        let receipt = media.join("4711-destruction-1.receipt.asc");
        let sha = Command::new("sha256sum").arg(&receipt).output().unwrap();
        let logged = v.sqlite(
            "SELECT json_extract(CAST(body AS TEXT), '$.data.receipt_sha256') FROM audit \
             WHERE json_extract(CAST(body AS TEXT), '$.event') = 'seeds.destroyed'",
        );
        assert_eq!(
            logged.trim(),
            String::from_utf8(sha.stdout)
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap(),
            "{point}"
        );
        assert_eq!(
            crate::common::file_names(&media),
            ["4711-destruction-1.receipt.asc"],
            "{point}"
        );
        assert!(!v.vault.join("vault.db-journal").exists(), "{point}");
        assert_eq!(
            found_in(&std::fs::read(v.db()).unwrap(), &sealed),
            0,
            "{point}"
        );
        assert_eq!(v.events("seeds.destroyed"), 1, "{point}");
        audit_passes(v);
    }
}

#[test]
fn retention_policy_lists_what_is_due_and_destroy_due_takes_it() {
    let f = exported(10, 6);
    let v = &f.v;
    let out = v.cmd().args(["retention", "due"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("no retention policy is set"),
        "{}",
        text(&out)
    );
    v.cmd()
        .args(["retention", "set", "--after-export", "30"])
        .args(v.officer("carol"))
        .assert()
        .success();
    let st = text(&v.cmd().arg("status").output().unwrap());
    assert!(
        st.contains("Retention    seeds due 30 days after export (set "),
        "{st}"
    );
    let due: serde_json::Value = serde_json::from_slice(
        &v.cmd()
            .args(["retention", "due", "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(due["orders"], serde_json::json!([]));
    assert_eq!(due["policy"]["after_export_days"], 30);
    let media = v.media();
    let out = destroy(v, &["--due"], &media, None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("nothing is due"), "{}", text(&out));

    v.cmd()
        .args(["retention", "set", "--after-export", "0"])
        .args(v.officer("alice"))
        .assert()
        .success();
    let st: serde_json::Value =
        serde_json::from_slice(&v.cmd().args(["status", "--json"]).output().unwrap().stdout)
            .unwrap();
    assert_eq!(st["retention"]["after_export_days"], 0);
    assert_eq!(st["retention"]["set_by"], "alice");
    let due: serde_json::Value = serde_json::from_slice(
        &v.cmd()
            .args(["retention", "due", "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let want: Vec<String> = (FIRST..FIRST + 6).map(|s| s.to_string()).collect();
    assert_eq!(due["orders"][0]["order_id"], ORDER);
    assert_eq!(due["orders"][0]["serials"], serde_json::json!(want));
    let out = destroy(v, &["--due"], &media, None);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("destroyed 6 seeds"), "{}", text(&out));
    let out = v.cmd().args(["retention", "due"]).output().unwrap();
    assert!(text(&out).contains("0 serials due"), "{}", text(&out));
    assert_eq!(v.events("retention.set"), 2);
    audit_passes(v);
}

#[test]
fn replay_names_a_destroyed_serial_forged_into_the_tables() {
    let f = exported(10, 6);
    let v = &f.v;
    let media = v.media();
    assert!(destroy(v, &["--order", ORDER], &media, None)
        .status
        .success());
    audit_passes(v);
    // Someone marks a live serial destroyed to shred its batch later.
    v.sqlite(&format!(
        "INSERT INTO destroyed_serials (serial, destruction_id, batch_id) VALUES ('{}', 1, 1)",
        FIRST + 8
    ));
    let out = v.cmd().args(["audit", "replay"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "serial {} is recorded as destroyed, but the log holds no destruction of it",
            FIRST + 8
        )),
        "{}",
        text(&out)
    );
}

#[test]
fn a_reason_must_be_one_line_and_one_officer_is_not_enough() {
    let f = exported(10, 6);
    let v = &f.v;
    let media = v.media();
    let out = v
        .cmd()
        .args([
            "seeds", "destroy", "--order", ORDER, "--reason", "a\nb", "--media",
        ])
        .arg(&media)
        .args(v.quorum(&["alice", "bob"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("the reason contains a control character"),
        "{}",
        text(&out)
    );
    let out = v
        .cmd()
        .args([
            "seeds", "destroy", "--order", ORDER, "--reason", "done", "--media",
        ])
        .arg(&media)
        .args(v.quorum(&["alice"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(v.events("seeds.destroyed"), 0);
}

/// Every second serial of 3,000 destroyed: the deletion frees cells
/// inside pages that stay, where only `secure_delete` can clear them.
#[test]
fn interleaved_destruction_leaves_no_ciphertext_in_pages_that_stay() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    v.ingest("base32", 3000, FIRST, 7);
    v.add_order(ORDER, "Acme", &["it@acme.example"], "alice");
    v.assign(ORDER, (FIRST..FIRST + 3000).step_by(2), "alice");
    let (key, _) = v.customer_key("IT <it@acme.example>", "customer.asc");
    let req = request_id(&v.create_request(ORDER, "it@acme.example", "hex", &key, "alice", &[]));
    v.approve_ok(&req, "bob");
    let m = v.tmp.path().join("export-media");
    std::fs::create_dir(&m).unwrap();
    v.export_ok(&req, &m, &["alice", "bob"]);
    let sealed = ciphertexts(&v, (FIRST..FIRST + 3000).step_by(2));
    let kept = ciphertexts(&v, (FIRST + 1..FIRST + 3000).step_by(2));
    let media = v.media();
    let out = destroy(&v, &["--order", ORDER], &media, None);
    assert!(out.status.success(), "{}", text(&out));
    let db = std::fs::read(v.db()).unwrap();
    let n = found_in(&db, &sealed);
    assert_eq!(
        n,
        0,
        "{n} of {} destroyed ciphertexts still in vault.db",
        sealed.len()
    );
    assert_eq!(
        found_in(&db, &kept),
        kept.len(),
        "the search misses seeds that are there"
    );
    assert!(!v.vault.join("vault.db-journal").exists());
    audit_passes(&v);
}

/// Seeds in the vault and in the order for the run tests: enough rows
/// for gaps that make the deleting scan seek again.
const RUNS: u32 = 400;

#[test]
fn a_sparse_serial_list_destroys_exactly_those_rows_and_their_ciphertexts() {
    let Fx { v, .. } = exported(RUNS, RUNS.into());
    // Gaps of 99 and 148 rows make the scan seek again; 100 and 101 are one run.
    let picked = [
        FIRST,
        FIRST + 100,
        FIRST + 101,
        FIRST + 250,
        FIRST + u64::from(RUNS) - 1,
    ];
    let sealed: Vec<Vec<u8>> = picked.iter().map(|s| sealed_of(&v, *s)).collect();
    let kept = [FIRST + 1, FIRST + 99, FIRST + 102, FIRST + 249, FIRST + 251];
    let kept_sealed: Vec<Vec<u8>> = kept.iter().map(|s| sealed_of(&v, *s)).collect();
    let list = v.tmp.path().join("sparse.txt");
    let lines: Vec<String> = picked.iter().map(u64::to_string).collect();
    std::fs::write(&list, lines.join("\n") + "\n").unwrap();
    let out = destroy(
        &v,
        &["--serials-file", list.to_str().unwrap()],
        &v.media(),
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(count(&v, "SELECT count(*) FROM seeds"), u64::from(RUNS) - 5);
    assert_eq!(count(&v, "SELECT count(*) FROM destroyed_serials"), 5);
    for s in picked {
        assert_eq!(
            count(
                &v,
                &format!("SELECT count(*) FROM seeds WHERE serial = '{s}'")
            ),
            0,
            "{s} still has a seed row"
        );
    }
    let db = std::fs::read(v.db()).unwrap();
    for (s, c) in picked.iter().zip(&sealed) {
        assert!(
            !holds_part_of(&db, c),
            "a piece of {s}'s ciphertext is in vault.db"
        );
    }
    for (s, c) in kept.iter().zip(&kept_sealed) {
        assert!(
            holds_part_of(&db, c),
            "the search misses {s}, which is kept"
        );
    }
    assert!(!v.vault.join("vault.db-journal").exists());
    for what in ["verify", "replay"] {
        let out = v.cmd().args(["audit", what]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "audit {what}: {}", text(&out));
    }
}

#[test]
fn a_seed_row_deleted_behind_the_log_is_named_and_nothing_is_destroyed() {
    let Fx { v, .. } = exported(RUNS, RUNS.into());
    let gone = FIRST + 123;
    v.sqlite(&format!("DELETE FROM seeds WHERE serial = '{gone}'"));
    let media = v.media();
    let out = destroy(&v, &["--order", ORDER], &media, None);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let msg = text(&out);
    assert!(
        msg.contains(&gone.to_string()) && msg.contains("deleted behind the log"),
        "{msg}"
    );
    assert_eq!(v.events("seeds.destroyed"), 0);
    assert_eq!(count(&v, "SELECT count(*) FROM seeds"), u64::from(RUNS) - 1);
    assert_eq!(count(&v, "SELECT count(*) FROM destroyed_serials"), 0);
    assert!(std::fs::read_dir(&media).unwrap().next().is_none());
}
