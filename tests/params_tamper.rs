//! Token parameters are what the customer's tokens compute with: someone
//! who edits `token_params` or `seeds.params_id` with sqlite3 (no cards)
//! must not change what an export carries. Each forgery is named at
//! `serial show`, refused at export (nothing on the medium, the refusal
//! logged) and at `verify-token`, and reported by `audit replay`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{file_names, request_id, text, Gpg, TestVault};

/// Six tokens, two parameter sets: PT0001-PT0004 SHA1/6/30 s from Token2,
/// PT0005-PT0006 SHA256/8/60 s from Acme.
const BATCH: &str = "\
otpauth://totp/Token2:PT0001?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Token2&algorithm=SHA1&digits=6&period=30
otpauth://totp/Token2:PT0002?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXQ&issuer=Token2&algorithm=SHA1&digits=6&period=30
otpauth://totp/Token2:PT0003?secret=KRUGS4ZANFZSAYJAONSWG4TFOQQGC3TE&issuer=Token2&algorithm=SHA1&digits=6&period=30
otpauth://totp/Token2:PT0004?secret=MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U&issuer=Token2&algorithm=SHA1&digits=6&period=30
otpauth://totp/Acme:PT0005?secret=OVZGC3TJOVWXEZLTORQXEZLTOVXGS5DF&issuer=Acme&algorithm=SHA256&digits=8&period=60
otpauth://totp/Acme:PT0006?secret=NZQXAZLSNFXGK43UMFZGC3TFMFZHI2LE&issuer=Acme&algorithm=SHA256&digits=8&period=60
";

/// What the bundle must say for each serial: issuer, algorithm, digits, period.
const INGESTED: &[(&str, &str, &str, &str, &str)] = &[
    ("PT0001", "Token2", "SHA1", "6", "30"),
    ("PT0002", "Token2", "SHA1", "6", "30"),
    ("PT0003", "Token2", "SHA1", "6", "30"),
    ("PT0004", "Token2", "SHA1", "6", "30"),
    ("PT0005", "Acme", "SHA256", "8", "60"),
    ("PT0006", "Acme", "SHA256", "8", "60"),
];

/// A GnuPG home holding the customer's key.
struct Customer {
    gpg: Gpg,
    key: PathBuf,
}

fn customer(dir: &Path) -> Customer {
    let gpg = Gpg::with_flags(&["--passphrase", ""]);
    gpg.make(
        "IT <it@acme.example>",
        "ed25519",
        Some("cv25519"),
        "1y",
        None,
    );
    let key = gpg.export("it@acme.example", &dir.join("customer.asc"));
    Customer { gpg, key }
}

struct Setup {
    v: TestVault,
    customer: Customer,
    media: PathBuf,
    request: String,
}

/// The six tokens ingested, order 4711 holding them all, and an approved
/// request for them in otpauth format (which carries every parameter).
fn approved_request() -> Setup {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let file = v.tmp.path().join("batch.otpauth");
    std::fs::write(&file, BATCH).unwrap();
    v.ingest_file(&file);
    v.add_order("4711", "Acme", &["it@acme.example"], "alice");
    v.assign("4711", INGESTED.iter().map(|t| t.0), "alice");
    let customer = customer(v.tmp.path());
    let out = v.create_request(
        "4711",
        "it@acme.example",
        "otpauth",
        &customer.key,
        "alice",
        &[],
    );
    let request = request_id(&out);
    v.approve_ok(&request, "bob");
    let media = v.media();
    Setup {
        v,
        customer,
        media,
        request,
    }
}

fn export(s: &Setup) -> std::process::Output {
    s.v.cmd()
        .args(["export", &s.request, "--media"])
        .arg(&s.media)
        .args(s.v.quorum(&["alice", "bob"]))
        .output()
        .unwrap()
}

/// The `params_id` of a serial, for SQL that targets its set.
fn set_of(serial: &str) -> String {
    format!("(SELECT params_id FROM seeds WHERE serial = '{serial}')")
}

/// Runs one forgery against a copy of the approved vault and checks that
/// every command that uses the parameters names `serial` and exits 3.
fn forged_params_are_refused_everywhere(sql: &str, serial: &str) {
    let s = approved_request();
    s.v.sqlite(sql);

    let out = s.v.cmd().args(["serial", "show", serial]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{sql}: serial show: {}",
        text(&out)
    );
    assert!(
        text(&out).contains(&format!("serial {serial}")),
        "{sql}: serial show must name {serial}: {}",
        text(&out)
    );

    let out = s.v.cmd().args(["audit", "replay"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{sql}: replay: {}", text(&out));
    assert!(
        text(&out).contains(&format!("seed row {serial}: token parameter")),
        "{sql}: replay must name {serial}: {}",
        text(&out)
    );

    let out = export(&s);
    assert_eq!(out.status.code(), Some(3), "{sql}: export: {}", text(&out));
    assert!(
        text(&out).contains(&format!("serial {serial}")),
        "{sql}: export must name {serial}: {}",
        text(&out)
    );
    assert!(
        file_names(&s.media).is_empty(),
        "{sql}: nothing on the medium: {:?}",
        file_names(&s.media)
    );
    let refused = s.v.sqlite(&format!(
        "SELECT count(*) FROM audit WHERE json_extract(CAST(body AS TEXT), '$.event') = 'export.refused'
           AND json_extract(CAST(body AS TEXT), '$.data.request_id') = '{}'
           AND json_extract(CAST(body AS TEXT), '$.data.reason') LIKE '%serial {serial}%'",
        s.request
    ));
    assert_eq!(refused.trim(), "1", "{sql}: the refusal is logged once");
    let started = s.v.sqlite(
        "SELECT count(*) FROM audit WHERE json_extract(CAST(body AS TEXT), '$.event') = 'export.started'",
    );
    assert_eq!(started.trim(), "0", "{sql}: no export was started");

    let out =
        s.v.cmd()
            .args(["verify-token", serial, "--code", "12345678"])
            .args(s.v.quorum(&["alice", "bob"]))
            .output()
            .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{sql}: verify-token: {}",
        text(&out)
    );
    assert!(
        text(&out).contains(&format!("serial {serial}")),
        "{sql}: verify-token must name {serial}: {}",
        text(&out)
    );
}

#[test]
fn changed_digits_are_refused_everywhere() {
    forged_params_are_refused_everywhere(
        &format!(
            "UPDATE token_params SET json = replace(json, '\"digits\":6', '\"digits\":8') WHERE id = {}",
            set_of("PT0001")
        ),
        "PT0001",
    );
}

#[test]
fn changed_algorithm_is_refused_everywhere() {
    forged_params_are_refused_everywhere(
        &format!(
            "UPDATE token_params SET json = replace(json, '\"SHA256\"', '\"SHA1\"') WHERE id = {}",
            set_of("PT0005")
        ),
        "PT0005",
    );
}

#[test]
fn changed_period_is_refused_everywhere() {
    forged_params_are_refused_everywhere(
        &format!(
            "UPDATE token_params SET json = replace(json, '\"period\":30', '\"period\":60') WHERE id = {}",
            set_of("PT0001")
        ),
        "PT0001",
    );
}

#[test]
fn changed_manufacturer_is_refused_everywhere() {
    forged_params_are_refused_everywhere(
        &format!(
            "UPDATE token_params SET json = replace(json, '\"Token2\"', '\"Evil\"') WHERE id = {}",
            set_of("PT0001")
        ),
        "PT0001",
    );
}

#[test]
fn a_seed_repointed_to_another_parameter_set_is_refused_everywhere() {
    forged_params_are_refused_everywhere(
        &format!(
            "UPDATE seeds SET params_id = {} WHERE serial = 'PT0001'",
            set_of("PT0005")
        ),
        "PT0001",
    );
}

#[test]
fn a_deleted_parameter_set_is_refused_everywhere() {
    // Not "not in the vault": the serial is there, its parameters are gone.
    forged_params_are_refused_everywhere(
        &format!("DELETE FROM token_params WHERE id = {}", set_of("PT0005")),
        "PT0005",
    );
}

#[test]
fn a_deleted_parameter_set_is_not_reported_as_a_missing_serial() {
    let s = approved_request();
    s.v.sqlite(&format!(
        "DELETE FROM token_params WHERE id = {}",
        set_of("PT0001")
    ));
    let out =
        s.v.cmd()
            .args(["serial", "show", "PT0002"])
            .output()
            .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("token parameters of serial PT0002")
            && !text(&out).contains("is not in the vault"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_forged_parameter_set_in_the_log_does_not_launder_a_forged_row() {
    // Both the table and the batch entry rewritten: the chain breaks
    // (audit verify) and the seed's AAD still refuses the set at export.
    let s = approved_request();
    s.v.sqlite(&format!(
        "UPDATE token_params SET json = replace(json, '\"digits\":6', '\"digits\":8') WHERE id = {0};
         UPDATE audit SET body = CAST(replace(CAST(body AS TEXT), '\"digits\":6', '\"digits\":8') AS BLOB)
           WHERE json_extract(CAST(body AS TEXT), '$.event') = 'batch.ingested'",
        set_of("PT0001")
    ));
    let out = s.v.cmd().args(["audit", "verify"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    // The broken chain alone stops the quorum session...
    let out = export(&s);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("audit log is broken"), "{}", text(&out));
    assert!(file_names(&s.media).is_empty());
    // ...and an officer who goes on for incident response still gets no
    // bundle: the seed's AAD refuses the forged set, naming the serial.
    let out =
        s.v.cmd()
            .args(["export", &s.request, "--accept-broken-log", "--media"])
            .arg(&s.media)
            .args(s.v.quorum(&["alice", "bob"]))
            .output()
            .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("serial PT0001"), "{}", text(&out));
    assert!(file_names(&s.media).is_empty());
}

#[test]
fn an_untouched_vault_shows_replays_and_exports_the_ingested_parameters() {
    let s = approved_request();
    let out =
        s.v.cmd()
            .args(["serial", "show", "PT0005", "--json"])
            .output()
            .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let rec: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rec["params"]["digits"], 8);
    assert_eq!(rec["params"]["algorithm"], "SHA256");
    assert_eq!(rec["params"]["kind"]["period"], 60);
    assert_eq!(rec["params"]["manufacturer"], "Acme");

    s.v.cmd().args(["audit", "replay"]).assert().success();

    let out = export(&s);
    assert!(out.status.success(), "{}", text(&out));
    let bundle = s.media.join(format!("4711-{}.otpauth.asc", s.request));
    assert!(bundle.is_file(), "{:?}", file_names(&s.media));
    // The customer knows the vault's certificate: the signature checks too.
    let cert = s.v.cards.join("vault-cert.asc");
    s.customer.gpg.run(&["--import", cert.to_str().unwrap()]);
    let out = s.customer.gpg.run(&["--decrypt", bundle.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Good signature"),
        "{}",
        text(&out)
    );
    let plain = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = plain.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), INGESTED.len(), "{plain}");
    for (serial, issuer, alg, digits, period) in INGESTED {
        let line = lines
            .iter()
            .find(|l| l.contains(&format!(":{serial}?")))
            .unwrap_or_else(|| panic!("{serial} is in the bundle: {plain}"));
        for want in [
            format!("otpauth://totp/{issuer}:{serial}?"),
            format!("&issuer={issuer}"),
            format!("&algorithm={alg}"),
            format!("&digits={digits}"),
            format!("&period={period}"),
        ] {
            assert!(line.contains(&want), "{serial}: {want} in {line}");
        }
    }
}

#[test]
fn verify_token_checks_codes_with_the_sealed_parameters() {
    // oathtool computes the code with the ingested parameters; the vault,
    // opening the seed with the same (authenticated) set, accepts it.
    crate::common::require_tool("oathtool");
    let s = approved_request();
    let at = "1700000000";
    let out = Command::new("oathtool")
        .args([
            "--totp=SHA256",
            "--digits=8",
            "--time-step-size=60",
            "--base32",
            "--now",
            "2023-11-14 22:13:20 UTC",
            "OVZGC3TJOVWXEZLTORQXEZLTOVXGS5DF",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let code = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let out =
        s.v.cmd()
            .args(["verify-token", "PT0005", "--code", &code, "--at", at])
            .args(s.v.quorum(&["alice", "bob"]))
            .output()
            .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("match: serial PT0005"),
        "{}",
        text(&out)
    );
}
