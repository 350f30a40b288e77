//! Real vendors' files as they come: Nagra ID's hyphenated serials all the
//! way from ingest to a bundle gpg opens, Microsoft's own Entra example row
//! (stray bits in its last Base32 character: read as Entra reads it, with
//! a warning naming the line), and the UPN column Entra wants, filled from
//! a mapping the officers signed.

use std::path::{Path, PathBuf};

use crate::common::{request_id, text, Gpg, TestVault};

const HEADER: &str = "upn,serial number,secret key,time interval,manufacturer,model";

/// Nagra ID style serials, with a `-` inside, and distinct secrets.
const NAGRA: [(&str, &str); 3] = [
    ("306EUO4-00960", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXA"),
    ("306EUO4-00961", "KRUGS4ZANFZSAYJAORSXG5BAONSWKZBB"),
    ("306EUO4-00962", "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U"),
];

fn write(v: &TestVault, name: &str, body: &str) -> PathBuf {
    let p = v.tmp.path().join(name);
    std::fs::write(&p, body).unwrap();
    p
}

fn nagra_file(v: &TestVault) -> PathBuf {
    let mut body = format!("{HEADER}\n");
    for (serial, secret) in NAGRA {
        body.push_str(&format!(",{serial},{secret},30,Nagra ID,Display Card\n"));
    }
    write(v, "nagra.csv", &body)
}

/// A customer key made by gpg; returns the home and the exported key.
fn customer(v: &TestVault) -> (Gpg, PathBuf) {
    let gpg = Gpg::new();
    let fpr = gpg.make(
        "Acme IT <it@acme.example>",
        "ed25519",
        Some("cv25519"),
        "never",
        None,
    );
    let key = gpg.export(&fpr, &v.tmp.path().join("acme.asc"));
    gpg.run(&["--import", v.cards.join("vault-cert.asc").to_str().unwrap()]);
    (gpg, key)
}

/// Opens `bundle` with gpg (asserting the vault's good signature) and
/// returns the plaintext.
fn open(gpg: &Gpg, bundle: &Path) -> String {
    let dec = gpg.run(&["--status-fd", "2", "--decrypt", bundle.to_str().unwrap()]);
    let status = String::from_utf8_lossy(&dec.stderr);
    assert!(status.contains("[GNUPG:] GOODSIG "), "{status}");
    String::from_utf8(dec.stdout).unwrap()
}

#[test]
fn hyphenated_nagra_serials_go_from_ingest_to_a_bundle_gpg_opens() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let out = v.ingest_output(&nagra_file(&v), &["alice", "bob"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("WARNING"), "{}", text(&out));
    v.add_order("4711", "Acme", &["it@acme.example"], "alice");
    v.assign("4711", NAGRA.iter().map(|(s, _)| *s), "alice");

    let show = v
        .cmd()
        .args(["serial", "show", "306EUO4-00961", "--json"])
        .output()
        .unwrap();
    assert!(show.status.success(), "{}", text(&show));
    let s: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(s["serial"], "306EUO4-00961", "{s}");
    // verify-token takes the serial too, and computes oathtool's code.
    crate::common::require_tool("oathtool");
    let at = 1_800_000_000u64;
    let code = std::process::Command::new("oathtool")
        .args(["--totp", "-b", &format!("--now=@{at}"), NAGRA[1].1])
        .output()
        .unwrap();
    let code = String::from_utf8(code.stdout).unwrap().trim().to_owned();
    let out = v
        .cmd()
        .args(["verify-token", "306EUO4-00961", "--code", &code])
        .args(["--at", &at.to_string(), "--json"])
        .args(v.quorum(&["alice", "bob"]))
        .output()
        .unwrap();
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["matched"], true, "{r}");

    // A request for two of them, by serials file.
    let list = write(&v, "req.txt", "306EUO4-00960\n306EUO4-00962\n");
    let (gpg, key) = customer(&v);
    let out = v.create_request(
        "4711",
        "it@acme.example",
        "azure-csv",
        &key,
        "alice",
        &["--serials-file", list.to_str().unwrap()],
    );
    let req = request_id(&out);
    v.approve_ok(&req, "bob");
    let media = v.media();
    v.export_ok(&req, &media, &["carol", "alice"]);
    let csv = open(&gpg, &media.join(format!("4711-{req}.azure-csv.asc")));
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(
        rows,
        vec![
            format!(",306EUO4-00960,{},30,Nagra ID,Display Card", NAGRA[0].1),
            format!(",306EUO4-00962,{},30,Nagra ID,Display Card", NAGRA[2].1),
        ],
        "{csv}"
    );
    // The export shows in the serial's history, and the log verifies.
    let show = v
        .cmd()
        .args(["serial", "show", "306EUO4-00960", "--json"])
        .output()
        .unwrap();
    let s: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(s["exports"], 1, "{s}");
    v.cmd().args(["audit", "verify"]).assert().success();
    v.cmd().args(["audit", "replay"]).assert().success();
    // A UPN row slipped in for a request that signed no mapping: replay
    // reports it.
    v.sqlite(&format!(
        "INSERT INTO request_upns VALUES ('{req}', '306EUO4-00960', 'mallory@contoso.com')"
    ));
    let replay = v.cmd().args(["audit", "replay"]).output().unwrap();
    assert_eq!(replay.status.code(), Some(3), "{}", text(&replay));
    assert!(text(&replay).contains("UPN mapping"), "{}", text(&replay));
}

#[test]
fn hyphens_at_the_edges_or_doubled_dots_are_refused_naming_the_line() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let body = format!(
        "{HEADER}\n,-306EUO4,{},30,,\n,306EUO4-,{},30,,\n,306..EUO4,{},30,,\n,306/EUO4,{},30,,\n",
        NAGRA[0].1, NAGRA[1].1, NAGRA[2].1, NAGRA[0].1
    );
    let out = v.ingest_output(&write(&v, "bad.csv", &body), &["alice", "bob"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    for line in 2..=5 {
        assert!(err.contains(&format!("line {line}")), "line {line}: {err}");
    }
}

/// Microsoft's own example row, from Entra's documentation of the upload file.
const ENTRA_EXAMPLE: &str =
    "Helga@contoso.com,1234567,2234567abcdef2234567abcdef,60,Contoso,HardwareKey";

#[test]
fn microsofts_entra_example_row_ingests_with_a_warning_naming_the_line() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let file = write(&v, "entra.csv", &format!("{HEADER}\n{ENTRA_EXAMPLE}\n"));
    let out = v.ingest_output(&file, &["alice", "bob"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let warning = stdout
        .lines()
        .find(|l| l.starts_with("WARNING: "))
        .unwrap_or_else(|| panic!("no warning line: {stdout}"));
    assert!(
        warning.contains("line 2 (serial 1234567)") && warning.contains("ignored"),
        "{warning}"
    );
    assert!(
        !stdout.to_ascii_lowercase().contains("2234567abcdef"),
        "{stdout}"
    );
    // The log counts the warning, never the secret.
    let logged = v.sqlite(
        "SELECT json_extract(CAST(body AS TEXT), '$.data.warnings') FROM audit \
         WHERE json_extract(CAST(body AS TEXT), '$.event') = 'batch.ingested'",
    );
    assert_eq!(logged.trim(), "1");
    let all = v.sqlite("SELECT CAST(body AS TEXT) FROM audit");
    assert!(!all.to_ascii_lowercase().contains("2234567abcdef"));

    // The token computes what Entra would: the code oathtool computes from
    // the decoded bytes (stray bits dropped) matches at drift 0.
    crate::common::require_tool("oathtool");
    let at = 1_800_000_000u64;
    let code = std::process::Command::new("oathtool")
        .args([
            "--totp",
            "--time-step-size=60s",
            &format!("--now=@{at}"),
            "d6b7cefbe0088642eb5be77df0044321",
        ])
        .output()
        .unwrap();
    let code = String::from_utf8(code.stdout).unwrap().trim().to_owned();
    let out = v
        .cmd()
        .args(["verify-token", "1234567", "--code", &code])
        .args(["--at", &at.to_string(), "--json"])
        .args(v.quorum(&["alice", "bob"]))
        .output()
        .unwrap();
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (r["matched"].clone(), r["drift"].clone()),
        (true.into(), 0.into()),
        "{r}"
    );
}

/// The Nagra vault with order 4711 holding the three tokens, and a key.
fn entra_flow() -> (TestVault, Gpg, PathBuf) {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    v.ingest_file(&nagra_file(&v));
    v.add_order("4711", "Acme", &["it@acme.example"], "alice");
    v.assign("4711", NAGRA.iter().map(|(s, _)| *s), "alice");
    let (gpg, key) = customer(&v);
    (v, gpg, key)
}

const UPNS: &str = "serial,upn\n306EUO4-00962,carl@contoso.com\n306EUO4-00960,Helga@contoso.com\n\
                    306EUO4-00961,olaf.m@contoso.com\n";

#[test]
fn the_upn_mapping_fills_entras_upn_column_in_the_bundle_gpg_opens() {
    let (v, gpg, key) = entra_flow();
    let upns = write(&v, "upns.csv", UPNS);
    let out = v.create_request(
        "4711",
        "it@acme.example",
        "azure-csv",
        &key,
        "alice",
        &["--upn-file", upns.to_str().unwrap()],
    );
    let req = request_id(&out);
    // The officers sign the mapping's hash (statement v3).
    let statement = v.sqlite(&format!(
        "SELECT statement FROM requests WHERE id = '{req}'"
    ));
    assert!(
        statement.starts_with("seedvault seed request v3\n") && statement.contains("upns-sha256: "),
        "{statement}"
    );
    v.approve_ok(&req, "bob");
    let media = v.media();
    v.export_ok(&req, &media, &["carol", "alice"]);
    let csv = open(&gpg, &media.join(format!("4711-{req}.azure-csv.asc")));
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], HEADER);
    assert_eq!(
        rows[1..],
        [
            format!(
                "Helga@contoso.com,306EUO4-00960,{},30,Nagra ID,Display Card",
                NAGRA[0].1
            ),
            format!(
                "olaf.m@contoso.com,306EUO4-00961,{},30,Nagra ID,Display Card",
                NAGRA[1].1
            ),
            format!(
                "carl@contoso.com,306EUO4-00962,{},30,Nagra ID,Display Card",
                NAGRA[2].1
            ),
        ],
        "{csv}"
    );
    v.cmd().args(["audit", "replay"]).assert().success();
    v.cmd().args(["audit", "verify"]).assert().success();
}

#[test]
fn a_tampered_upn_row_stops_the_export_and_fails_the_replay() {
    let (v, _gpg, key) = entra_flow();
    let upns = write(&v, "upns.csv", UPNS);
    let out = v.create_request(
        "4711",
        "it@acme.example",
        "azure-csv",
        &key,
        "alice",
        &["--upn-file", upns.to_str().unwrap()],
    );
    let req = request_id(&out);
    v.approve_ok(&req, "bob");
    v.cmd().args(["audit", "replay"]).assert().success();
    // Someone with the sqlite3 CLI hands Helga's token to another user.
    v.sqlite("UPDATE request_upns SET upn = 'mallory@contoso.com' WHERE serial = '306EUO4-00960'");
    let media = v.media();
    let out = v.export(&req, &media, &["carol", "alice"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("UPN mapping"),
        "{}",
        text(&out)
    );
    assert!(
        crate::common::file_names(&media).is_empty(),
        "nothing written"
    );
    let replay = v.cmd().args(["audit", "replay"]).output().unwrap();
    assert_eq!(replay.status.code(), Some(3), "{}", text(&replay));
    assert!(text(&replay).contains("306EUO4-00960"), "{}", text(&replay));
    // Restored, the replay agrees again; a deleted row stops the export too.
    v.sqlite("UPDATE request_upns SET upn = 'Helga@contoso.com' WHERE serial = '306EUO4-00960'");
    v.cmd().args(["audit", "replay"]).assert().success();
    v.sqlite("DELETE FROM request_upns WHERE serial = '306EUO4-00961'");
    let out = v.export(&req, &media, &["carol", "alice"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
}

#[test]
fn upn_files_are_refused_line_by_line_and_only_for_azure_csv() {
    let (v, _gpg, key) = entra_flow();
    let create = |format: &str, body: &str| {
        let f = write(&v, "upns.csv", body);
        let out = v.create_request(
            "4711",
            "it@acme.example",
            format,
            &key,
            "alice",
            &["--upn-file", f.to_str().unwrap()],
        );
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = create("hex", UPNS);
    assert!(
        err.contains("only for the azure-csv format") && err.contains("format is hex"),
        "{err}"
    );
    let err = create(
        "azure-csv",
        "306EUO4-00960,Helga@contoso.com\n306EUO4-00960,carl@contoso.com\n306EUO4-09999,x@contoso.com\n",
    );
    assert!(
        err.contains("line 2: serial 306EUO4-00960 is listed twice (first on line 1)"),
        "{err}"
    );
    assert!(
        err.contains("line 3: serial 306EUO4-09999 is not one of the request's serials"),
        "{err}"
    );
    assert!(
        err.contains("no line for 2 serial(s) of the request: 306EUO4-00961, 306EUO4-00962"),
        "{err}"
    );
    let err = create(
        "azure-csv",
        "306EUO4-00960,Helga at contoso\n306EUO4-00961\n",
    );
    assert!(
        err.contains("line 1 (serial 306EUO4-00960): the UPN is not e-mail-like"),
        "{err}"
    );
    assert!(!err.contains("Helga at contoso"), "{err}");
    assert!(err.contains("line 2: expected `serial,upn`"), "{err}");
    assert_eq!(v.events("request.created"), 0);
}

// ---- PSKC messages ----

/// `ingest FILE extra...`, refused with exit 1; returns stderr.
fn ingest_refused(v: &TestVault, file: &Path, extra: &[&str]) -> String {
    let out = v
        .cmd()
        .arg("ingest")
        .arg(file)
        .args(extra)
        .args(v.quorum(&["alice", "bob"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_duplicate_serial_in_rfc6030_figure_10_is_reported_at_both_lines() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let fig10 =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/pskc/rfc6030_figure10.pskcxml");
    let text = std::fs::read_to_string(&fig10).unwrap();
    let packages: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains("<KeyPackage>") || l.contains("<pskc:KeyPackage>"))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(packages.len(), 4);
    let err = ingest_refused(&v, &fig10, &[]);
    let want = format!(
        "line {} (serial 9999999): duplicate serial: it first appears on line {}",
        packages[3], packages[2]
    );
    assert!(err.contains(&want), "want {want:?} in:\n{err}");
    assert!(!err.contains("line 0"), "{err}");
    assert!(!err.contains("record"), "{err}");
}

const PSKC_KEY_HEX: &str = "12345678901234567890123456789012";

#[test]
fn a_mac_under_xmldsig_more_hmac_sha1_gets_a_message_that_names_the_right_uri() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let file = write(
        &v,
        "mac.pskcxml",
        r#"<?xml version="1.0" encoding="UTF-8"?>
<KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc"
    xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:xenc="http://www.w3.org/2001/04/xmlenc#">
  <EncryptionKey><ds:KeyName>Pre-shared-key</ds:KeyName></EncryptionKey>
  <MACMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#hmac-sha1">
    <MACKey>
      <xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>
      <xenc:CipherData><xenc:CipherValue>ESIzRFVmd4iZABEiM0RVZgKn6WjLaTC1sbeBMSvIhRejN9vJa2BOlSaMrR7I5wSX</xenc:CipherValue></xenc:CipherData>
    </MACKey>
  </MACMethod>
</KeyContainer>
"#,
    );
    let key = write(&v, "psk.hex", PSKC_KEY_HEX);
    let err = ingest_refused(&v, &file, &["--pskc-key-file", key.to_str().unwrap()]);
    assert!(
        err.contains("xmldsig-more#hmac-sha1")
            && err
                .contains("hmac-sha1 is identified as http://www.w3.org/2000/09/xmldsig#hmac-sha1"),
        "{err}"
    );
    // It no longer reads as if hmac-sha1 itself were unsupported.
    assert!(!err.contains("is not supported (hmac-sha1"), "{err}");
}

#[test]
fn password_based_draft_files_are_called_drafts_not_asymmetric_encryption() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    // draft-ietf-keyprov-pskc-02 figure 5's layout: DerivedKey in the PSKC namespace.
    let draft02 = write(
        &v,
        "draft02.pskcxml",
        r#"<?xml version="1.0" encoding="UTF-8"?>
<KeyContainer xmlns="urn:ietf:params:xml:ns:keyprov:pskc" Version="1.0"
    xmlns:pkcs5="http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#">
  <EncryptionKey>
    <DerivedKey>
      <CarriedKeyName>Passphrase1</CarriedKeyName>
      <KeyDerivationMethod Algorithm="http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#pbkdf2"/>
    </DerivedKey>
  </EncryptionKey>
</KeyContainer>
"#,
    );
    let err = ingest_refused(&v, &draft02, &[]);
    assert!(
        err.contains("password-based key (DerivedKey)") && err.contains("drafts before RFC 6030"),
        "{err}"
    );
    assert!(!err.contains("asymmetric"), "{err}");

    // draft-hoyer-keyprov-portable-symmetric-key-container-01: PBE-3DES.
    let hoyer = write(
        &v,
        "hoyer.pskcxml",
        r#"<?xml version="1.0" encoding="UTF-8"?>
<KeyContainer xmlns="urn:ietf:params:xml:ns:keyprov:container">
  <EncryptionMethod algorithm="PBE-3DES112-CBC">
    <PBESalt>y6TzckeLRQw=</PBESalt>
    <PBEIterationCount>999</PBEIterationCount>
  </EncryptionMethod>
</KeyContainer>
"#,
    );
    let err = ingest_refused(&v, &hoyer, &["--format", "pskc"]);
    assert!(
        err.contains("PSKC draft written before RFC 6030") && err.contains("RFC 6030 export"),
        "{err}"
    );
}

// ---- the recipient's e-mail ----

#[test]
fn a_recipient_key_without_the_requesters_email_is_accepted_with_a_warning_the_approver_sees() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    v.ingest_file(&nagra_file(&v));
    v.add_order("4711", "Acme", &["it@acme.example"], "alice");
    v.assign("4711", NAGRA.iter().map(|(s, _)| *s), "alice");
    let (other, _) = v.customer_key("Acme Ops <ops@acme.example>", "ops.asc");
    let out = v.create_request("4711", "IT@acme.example", "hex", &other, "alice", &[]);
    let req = request_id(&out);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let warning = stdout
        .lines()
        .find(|l| l.starts_with("WARNING: "))
        .unwrap_or_else(|| panic!("no warning: {stdout}"));
    assert!(
        warning.contains("does not name the requester's e-mail it@acme.example")
            && warning.contains("ops@acme.example"),
        "{warning}"
    );

    let list = v.cmd().args(["request", "list"]).output().unwrap();
    assert!(text(&list).contains("WARNING: "), "{}", text(&list));
    let show = v
        .cmd()
        .args(["request", "show", &req, "--json"])
        .output()
        .unwrap();
    let j: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(j["warnings"].as_array().unwrap().len(), 1, "{j}");
    assert_eq!(j["user_ids"][0], "Acme Ops <ops@acme.example>", "{j}");
    let show = v.cmd().args(["request", "show", &req]).output().unwrap();
    assert!(show.status.success(), "{}", text(&show));
    let shown = String::from_utf8_lossy(&show.stdout);
    assert!(
        shown.contains("user id  Acme Ops <ops@acme.example>") && shown.contains("WARNING: "),
        "{shown}"
    );

    // The approver reads it before signing.
    let out = v.approve(&req, "bob");
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let w = stdout.find("WARNING: ").expect("warning at approve");
    let approved = stdout.find("approved by bob").expect("approved line");
    assert!(w < approved, "{stdout}");

    // A key that names the requester draws no warning.
    let (own, _) = v.customer_key("Acme IT <it@acme.example>", "it.asc");
    let out = v.create_request("4711", "it@acme.example", "hex", &own, "alice", &[]);
    request_id(&out);
    assert!(!text(&out).contains("WARNING"), "{}", text(&out));
}
