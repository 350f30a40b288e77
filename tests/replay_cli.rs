//! `audit replay`: changes made to the tables behind the log's back are
//! found and named; an untouched vault replays clean.

use crate::common::{request_id, text, TestVault};

/// A vault that went through the whole flow: 12 tokens, order 77 with 6 of
/// them, one voided, one request approved and exported.
fn flowed() -> TestVault {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    v.ingest("hex", 12, 900_000, 21);
    v.add_order("77", "Acme", &["it@acme.example"], "carol");
    v.assign("77", 900_000..900_006, "carol");
    v.cmd()
        .args(["serial", "void", "900005", "--reason", "reprogrammed"])
        .args(v.officer("bob"))
        .assert()
        .success();
    let (kf, _) = v.customer_key("Acme <it@acme.example>", "acme.asc");
    let out = v.create_request("77", "it@acme.example", "base32", &kf, "carol", &[]);
    let req = request_id(&out);
    v.approve_ok(&req, "alice");
    let media = v.media();
    let out = v.export(&req, &media, &["alice", "bob"]);
    assert!(out.status.success(), "{}", text(&out));
    v
}

#[test]
fn an_untouched_vault_replays_clean_and_tables_changed_behind_the_log_are_named() {
    let v = flowed();
    let out = v
        .cmd()
        .args(["audit", "replay", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            r["serials"].clone(),
            r["voided"].clone(),
            r["orders"].clone(),
            r["exports"].clone()
        ),
        (12.into(), 1.into(), 1.into(), 1.into())
    );
    assert_eq!(r["signatures_checked"], 2);
    let pristine = std::fs::read(v.db()).unwrap();

    let cases: &[(&str, &str)] = &[
        ("DELETE FROM seeds WHERE serial = '900007'", "seed row 900007 is missing"),
        ("UPDATE seeds SET state = 'active', void_reason = NULL WHERE serial = '900005'", "seed row 900005: state active, the log says voided"),
        ("UPDATE seeds SET order_id = NULL WHERE serial = '900001'", "seed row 900001: order None"),
        ("UPDATE exports SET state = 'failed'", "seed row 900002: exported 0 time(s), the log says 1"),
        ("UPDATE seeds SET order_id = '77' WHERE serial = '900009'", "seed row 900009: order Some(\"77\")"),
        ("INSERT INTO seeds SELECT '999999', batch_id, data_key_id, params_id, sealed, 'active', NULL, NULL, NULL, NULL FROM seeds WHERE serial = '900010'", "seed row 999999 is not in the log"),
        ("DELETE FROM order_emails", "order 77: customer or authorized e-mails differ"),
        ("UPDATE requests SET decided_by = 'carol'", "decided by Some(\"carol\"); the log says exported, created by carol, decided by Some(\"alice\")"),
        ("DELETE FROM request_serials WHERE serial = '900000'", "its serials differ from the log"),
        ("UPDATE batches SET count = 11", "batch 1: table says 11 tokens"),
        ("DELETE FROM exports", "export 1 of request R0001 is missing"),
    ];
    for (sql, want) in cases {
        v.sqlite(sql);
        let out = v.cmd().args(["audit", "replay"]).output().unwrap();
        assert_eq!(out.status.code(), Some(3), "{sql}: {}", text(&out));
        assert!(
            text(&out).contains(want),
            "{sql}: expected {want:?} in {}",
            text(&out)
        );
        std::fs::write(v.db(), &pristine).unwrap();
    }
    v.cmd().args(["audit", "replay"]).assert().success();
}

#[test]
fn two_seed_ciphertexts_swapped_between_rows_fail_with_an_integrity_error_naming_the_serial() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    v.ingest("hex", 4, 700_000, 5);
    v.sqlite(
        "UPDATE seeds SET sealed = CASE serial
            WHEN '700001' THEN (SELECT sealed FROM seeds WHERE serial = '700002')
            WHEN '700002' THEN (SELECT sealed FROM seeds WHERE serial = '700001') END
         WHERE serial IN ('700001', '700002')",
    );
    let out = v
        .cmd()
        .args(["verify-token", "700001", "--code", "123456"])
        .args(v.quorum(&["alice", "bob"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("integrity check failed for the seed of serial 700001"),
        "{}",
        text(&out)
    );
    // An untouched row still opens.
    let out = v
        .cmd()
        .args(["verify-token", "700003", "--code", "123456"])
        .args(v.quorum(&["alice", "bob"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}
