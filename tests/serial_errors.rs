//! Serial-level refusals and seed tampering as a person at the console
//! sees them: the `error:` line states the fact and names the serial, the
//! `hint:` line says what to run next, and the exit code tells a refusal
//! (1) from tampering (3). Nothing is changed by a refused command.

use crate::common::{error_and_hint, text, TestVault};

/// A 2-of-3 vault holding serials 71000000..71000003.
fn vault() -> TestVault {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    v.ingest("azure-csv", 4, 71_000_000, 12);
    v
}

fn log_length(v: &TestVault) -> String {
    v.sqlite("SELECT count(*) FROM audit")
}

#[test]
fn voiding_a_serial_twice_is_refused_naming_it_and_pointing_at_its_record() {
    let v = vault();
    v.cmd()
        .args(["serial", "void", "71000001", "--reason", "reprogrammed"])
        .args(v.officer("bob"))
        .assert()
        .success();
    let entries = log_length(&v);
    let out = v
        .cmd()
        .args(["serial", "void", "71000001", "--reason", "again"])
        .args(v.officer("carol"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let (error, hint) = error_and_hint(&out);
    assert_eq!(error.trim(), "error: serial 71000001 is already voided");
    assert_eq!(
        hint,
        "`seedvault serial show 71000001` shows who voided it and why"
    );
    assert_eq!(
        v.sqlite("SELECT void_reason FROM seeds WHERE serial = '71000001'")
            .trim(),
        "reprogrammed",
        "the first reason stays"
    );
    assert_eq!(log_length(&v), entries, "nothing was logged by the refusal");
}

#[test]
fn an_unknown_serial_is_refused_with_exit_1_by_show_void_and_verify_token() {
    let v = vault();
    let entries = log_length(&v);
    let show = v
        .cmd()
        .args(["serial", "show", "71999999"])
        .output()
        .unwrap();
    let void = v
        .cmd()
        .args(["serial", "void", "71999999", "--reason", "lost"])
        .args(v.officer("bob"))
        .output()
        .unwrap();
    assert_eq!(log_length(&v), entries, "a refused void logs nothing");
    let verify = v
        .cmd()
        .args(["verify-token", "71999999", "--code", "123456"])
        .args(v.quorum(&["alice", "bob"]))
        .output()
        .unwrap();
    for out in [show, void, verify] {
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let (error, hint) = error_and_hint(&out);
        assert_eq!(error.trim(), "error: serial 71999999 is not in the vault");
        assert!(hint.contains("seedvault ingest"), "{hint}");
    }
}

#[test]
fn a_swapped_seed_is_tampering_exit_3_naming_the_serial() {
    let v = vault();
    v.sqlite(
        "UPDATE seeds SET sealed = CASE serial
            WHEN '71000002' THEN (SELECT sealed FROM seeds WHERE serial = '71000003')
            WHEN '71000003' THEN (SELECT sealed FROM seeds WHERE serial = '71000002') END
         WHERE serial IN ('71000002', '71000003')",
    );
    let out = v
        .cmd()
        .args(["verify-token", "71000002", "--code", "123456"])
        .args(v.quorum(&["alice", "bob"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let (error, hint) = error_and_hint(&out);
    assert!(
        error.starts_with(
            "error: tampering detected: integrity check failed for the seed of serial 71000002"
        ),
        "{error}"
    );
    assert!(hint.contains("seedvault audit verify"), "{hint}");
}

#[test]
fn a_deleted_parameter_set_is_tampering_naming_the_serial_and_the_set() {
    let v = vault();
    let set = v.sqlite("SELECT params_id FROM seeds WHERE serial = '71000000'");
    let set = set.trim();
    v.sqlite(&format!(
        "PRAGMA foreign_keys = OFF; DELETE FROM token_params WHERE id = {set}"
    ));
    let out = v
        .cmd()
        .args(["verify-token", "71000000", "--code", "123456"])
        .args(v.quorum(&["alice", "bob"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let (error, _) = error_and_hint(&out);
    assert_eq!(
        error.trim(),
        format!("error: tampering detected: the token parameters of serial 71000000 (set {set}) are missing from the vault")
    );
}
