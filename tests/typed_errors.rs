//! Refusals as a person at the console sees them: the library states the
//! fact (which request, order, medium or file), the CLI adds on a `hint:`
//! line the flag or command to give next, and the exit code says whether
//! it is a refusal (1) or tampering (3).

use std::path::PathBuf;

use crate::common::{error_and_hint, request_id, text, TestVault};

/// A 2-of-3 vault with 4 tokens, all in order 1234, and a customer
/// certificate in `acme.asc`.
fn vault_with_order() -> TestVault {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    v.ingest("azure-csv", 4, 70_000_000, 11);
    v.add_order("1234", "Acme", &["it@acme.example"], "alice");
    v.assign("1234", 70_000_000..70_000_004, "alice");
    v.customer_key("Acme IT <it@acme.example>", "acme.asc");
    v
}

/// `request create` by alice for order 1234 with `extra` arguments.
fn create(v: &TestVault, extra: &[&str]) -> std::process::Output {
    let key = v.tmp.path().join("acme.asc");
    v.create_request("1234", "it@acme.example", "hex", &key, "alice", extra)
}

fn media(v: &TestVault, name: &str) -> PathBuf {
    let m = v.tmp.path().join(name);
    std::fs::create_dir(&m).unwrap();
    m
}

#[test]
fn an_already_exported_serial_is_a_fact_and_the_re_export_flag_is_the_hint() {
    let v = vault_with_order();
    let id = request_id(&create(&v, &[]));
    v.approve_ok(&id, "bob");
    let out = v.export(&id, &media(&v, "usb1"), &["alice", "carol"]);
    assert!(out.status.success(), "{}", text(&out));

    let one = v.tmp.path().join("one.txt");
    std::fs::write(&one, "70000002\n").unwrap();
    let out = create(&v, &["--serials-file", one.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let (error, hint) = error_and_hint(&out);
    assert!(
        error.contains("request refused, nothing was written")
            && error.contains("serial 70000002 was already exported"),
        "{error}"
    );
    assert!(!error.contains("--reexport"), "the flag is advice: {error}");
    assert!(
        hint.contains("serial 70000002") && hint.contains("--reexport --reason TEXT"),
        "{hint}"
    );
    // The hint is right: with the flag and a reason the request is made.
    let out = create(
        &v,
        &[
            "--serials-file",
            one.to_str().unwrap(),
            "--reexport",
            "--reason",
            "the customer lost the first bundle",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn media_refusals_name_the_medium_and_hint_at_the_media_flag() {
    let v = vault_with_order();
    let id = request_id(&create(&v, &[]));
    // Not approved yet: the fact, and who acts next.
    let out = v.export(&id, &media(&v, "usb"), &["alice", "carol"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let (error, hint) = error_and_hint(&out);
    assert!(
        error.contains(&format!("request {id} is not approved yet")),
        "{error}"
    );
    assert!(hint.contains("seedvault request approve"), "{hint}");
    v.approve_ok(&id, "bob");

    let out = v.export(&id, &v.vault, &["alice", "carol"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let (error, hint) = error_and_hint(&out);
    assert!(error.contains("is inside the vault directory"), "{error}");
    assert!(!error.contains("--media"), "{error}");
    assert!(hint.contains("--media DIR"), "{hint}");

    let out = v.export(&id, &v.tmp.path().join("not-mounted"), &["alice", "carol"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let (error, hint) = error_and_hint(&out);
    assert!(
        error.contains("not-mounted does not exist (is the medium mounted?)"),
        "{error}"
    );
    assert!(hint.contains("--media DIR"), "{hint}");
    // Nothing was exported: the request still exports to a real medium.
    let out = v.export(&id, &v.tmp.path().join("usb"), &["alice", "carol"]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn an_unknown_request_or_order_is_named_with_where_to_look() {
    let v = vault_with_order();
    let out = v
        .cmd()
        .args(["request", "approve", "R9999"])
        .args(v.quorum(&["bob"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let (error, hint) = error_and_hint(&out);
    assert_eq!(error.trim(), "error: request R9999 does not exist");
    assert!(hint.contains("seedvault request list"), "{hint}");

    let out = v
        .cmd()
        .args(["order", "show", "--id", "9999"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let (error, hint) = error_and_hint(&out);
    assert_eq!(error.trim(), "error: order 9999 does not exist");
    assert!(hint.contains("seedvault order add"), "{hint}");
}

#[test]
fn a_request_row_edited_in_the_table_exits_3_with_the_audit_hint() {
    let v = vault_with_order();
    let id = request_id(&create(&v, &[]));
    v.sqlite(&format!(
        "UPDATE requests SET requester = 'mallory@evil.example' WHERE id = '{id}'"
    ));
    let out = v.approve(&id, "bob");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let (error, hint) = error_and_hint(&out);
    assert!(
        error.contains(&format!(
            "tampering detected: request {id}: the table differs from the signed creation statement"
        )),
        "{error}"
    );
    assert!(
        !error.contains("shipped"),
        "the bad value is not echoed: {error}"
    );
    assert!(hint.contains("seedvault audit verify"), "{hint}");
}

#[test]
fn no_vault_and_cards_of_another_vault_hint_at_the_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let out = crate::common::seedvault()
        .arg("--vault")
        .arg(tmp.path().join("none"))
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let (error, hint) = error_and_hint(&out);
    assert!(error.contains("no vault at"), "{error}");
    assert!(!error.contains("--vault"), "{error}");
    assert!(
        hint.contains("seedvault init") && hint.contains("--vault DIR"),
        "{hint}"
    );

    // A second vault whose cards would land on the first one's.
    let v = TestVault::new(2, &["alice", "bob"]);
    let out = crate::common::seedvault()
        .arg("--vault")
        .arg(v.tmp.path().join("vault2"))
        .args(["init", "--threshold", "2", "--custodian", "alice"])
        .args(["--custodian", "bob", "--cards-out"])
        .arg(&v.cards)
        .arg("--insecure-fast-kdf")
        .arg("--passphrase-file")
        .arg(v.pass("alice"))
        .arg("--passphrase-file")
        .arg(v.pass("bob"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let (error, hint) = error_and_hint(&out);
    assert!(
        error.contains("already exists; refusing to overwrite it"),
        "{error}"
    );
    assert!(!error.contains("--cards-out"), "{error}");
    assert!(hint.contains("--cards-out directory"), "{hint}");
    assert!(!v.tmp.path().join("vault2").join("vault.db").exists());
}
