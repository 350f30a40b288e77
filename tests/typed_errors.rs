//! Refusals as a person at the console sees them: the library states the
//! fact (which request, order, medium or file), the CLI adds on a `hint:`
//! line the flag or command to give next, and the exit code says whether
//! it is a refusal (1) or tampering (3).

use std::path::{Path, PathBuf};

use crate::common::{make_batch, text, TestVault};

/// The `error:` line(s) and the `hint:` line of a failed command's stderr.
fn error_and_hint(out: &std::process::Output) -> (String, String) {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    match stderr.split_once("\nhint: ") {
        Some((error, hint)) => (error.to_owned(), hint.trim().to_owned()),
        None => (stderr, String::new()),
    }
}

/// A 2-of-3 vault with 4 tokens, all in order 1234, and a customer
/// certificate in `acme.asc`.
fn vault_with_order() -> TestVault {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let (batch, _) = make_batch(v.tmp.path(), "azure-csv", 4, 70_000_000, 11);
    v.cmd()
        .arg("ingest")
        .arg(&batch)
        .args(v.quorum(&["alice", "bob"]))
        .assert()
        .success();
    v.cmd()
        .args(["order", "add", "--id", "1234", "--customer", "Acme"])
        .args(["--email", "it@acme.example"])
        .args(v.quorum(&["alice"]))
        .assert()
        .success();
    let serials = v.tmp.path().join("order.txt");
    let list: Vec<String> = (70_000_000..70_000_004).map(|s| s.to_string()).collect();
    std::fs::write(&serials, list.join("\n")).unwrap();
    v.cmd()
        .args(["order", "assign", "--id", "1234", "--serials-file"])
        .arg(&serials)
        .args(v.quorum(&["alice"]))
        .assert()
        .success();
    let key = seedvault::pgp::keys::generate_customer_key("Acme IT <it@acme.example>").unwrap();
    std::fs::write(v.tmp.path().join("acme.asc"), key.public_armored().unwrap()).unwrap();
    v
}

/// `request create` by alice for order 1234 with `extra` arguments.
fn create(v: &TestVault, extra: &[&str]) -> std::process::Output {
    v.cmd()
        .args(["request", "create", "--order", "1234"])
        .args(["--requester", "it@acme.example", "--format", "hex"])
        .arg("--recipient-key")
        .arg(v.tmp.path().join("acme.asc"))
        .args(extra)
        .args(v.quorum(&["alice"]))
        .output()
        .unwrap()
}

fn request_id(out: &std::process::Output) -> String {
    assert!(out.status.success(), "{}", text(out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned()
}

fn export(v: &TestVault, id: &str, media: &Path) -> std::process::Output {
    v.cmd()
        .args(["export", id, "--media"])
        .arg(media)
        .args(v.quorum(&["alice", "carol"]))
        .output()
        .unwrap()
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
    v.cmd()
        .args(["request", "approve", &id])
        .args(v.quorum(&["bob"]))
        .assert()
        .success();
    let out = export(&v, &id, &media(&v, "usb1"));
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
    let out = export(&v, &id, &media(&v, "usb"));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let (error, hint) = error_and_hint(&out);
    assert!(
        error.contains(&format!("request {id} is not approved yet")),
        "{error}"
    );
    assert!(hint.contains("seedvault request approve"), "{hint}");
    v.cmd()
        .args(["request", "approve", &id])
        .args(v.quorum(&["bob"]))
        .assert()
        .success();

    let out = export(&v, &id, &v.vault);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let (error, hint) = error_and_hint(&out);
    assert!(error.contains("is inside the vault directory"), "{error}");
    assert!(!error.contains("--media"), "{error}");
    assert!(hint.contains("--media DIR"), "{hint}");

    let out = export(&v, &id, &v.tmp.path().join("not-mounted"));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let (error, hint) = error_and_hint(&out);
    assert!(
        error.contains("not-mounted does not exist (is the medium mounted?)"),
        "{error}"
    );
    assert!(hint.contains("--media DIR"), "{hint}");
    // Nothing was exported: the request still exports to a real medium.
    let out = export(&v, &id, &v.tmp.path().join("usb"));
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
    let out = v
        .cmd()
        .args(["request", "approve", &id])
        .args(v.quorum(&["bob"]))
        .output()
        .unwrap();
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
