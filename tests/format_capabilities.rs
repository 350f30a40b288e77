//! What each format can carry: privacyIDEA files read as privacyIDEA
//! reads them, and `request create` naming every token the chosen format
//! cannot carry, in plain words, before anything is signed.

use seedvault::formats::{self, Format, ReadOptions};
use seedvault::token::{Algorithm, OtpKind};

use crate::common::batch::BatchSpec;
use crate::common::{text, TestVault};

/// The tokens of a privacyIDEA file, or the problems, as display text.
fn read_privacyidea(file: &str) -> Vec<Result<(String, Algorithm, OtpKind, u8), String>> {
    let opts = ReadOptions::default();
    formats::reader(
        Format::PrivacyIdea,
        Box::new(std::io::Cursor::new(file.as_bytes().to_vec())),
        &opts,
    )
    .unwrap()
    .map(|r| {
        r.map(|t| {
            (
                t.serial.to_string(),
                t.params.algorithm,
                t.params.kind,
                t.params.digits,
            )
        })
        .map_err(|e| e.to_string())
    })
    .collect()
}

fn hex(bytes: usize, seed: u64) -> String {
    let mut spec = BatchSpec::new(1, 1, seed);
    spec.secret_bytes = bytes;
    spec.tokens().next().unwrap().secret_hex()
}

#[test]
fn privacyidea_lines_without_a_hash_take_the_hash_privacyidea_takes_from_the_key_length() {
    let file = format!(
        "L20, {}, totp, 6, 30\nL32, {}, totp, 6, 30\nL64, {}, hotp, 8, 5\n",
        hex(20, 1),
        hex(32, 2),
        hex(64, 3)
    );
    let got = read_privacyidea(&file);
    assert_eq!(
        got,
        vec![
            Ok((
                "L20".into(),
                Algorithm::Sha1,
                OtpKind::Totp { period: 30 },
                6
            )),
            Ok((
                "L32".into(),
                Algorithm::Sha256,
                OtpKind::Totp { period: 30 },
                6
            )),
            Ok((
                "L64".into(),
                Algorithm::Sha512,
                OtpKind::Hotp { counter: 5 },
                8
            )),
        ]
    );
}

#[test]
fn privacyidea_hashes_the_vault_cannot_hold_or_a_hash_column_privacyidea_would_ignore_are_refused()
{
    let file = format!(
        "S384, {}, totp, 6, 30\nS224, {}, totp, 6, 30\nX1, {}, totp, 6, 30, sha256\nX2, {}, totp, 6, 30, sha256\n",
        hex(48, 4),
        hex(28, 5),
        hex(20, 6),
        hex(32, 7)
    );
    let got = read_privacyidea(&file);
    let err = |i: usize| got[i].clone().unwrap_err();
    assert!(
        err(0).starts_with("line 1 (serial S384): privacyIDEA takes a key of 96 hex digits as SHA384, which the vault does not hold"),
        "{}",
        err(0)
    );
    assert!(err(1).contains("56 hex digits as SHA224"), "{}", err(1));
    assert!(
        err(2).starts_with("line 3 (serial X1): the hash column says SHA256, but privacyIDEA ignores that column and takes a key of 40 hex digits as SHA1"),
        "{}",
        err(2)
    );
    // A hash column that agrees with the key length is fine.
    assert_eq!(
        got[3],
        Ok((
            "X2".into(),
            Algorithm::Sha256,
            OtpKind::Totp { period: 30 },
            6
        ))
    );
    for e in [err(0), err(1), err(2)] {
        assert!(!e.contains(&hex(20, 6)[..12]) && !e.contains(&hex(48, 4)[..12]));
    }
}

#[test]
fn a_privacyidea_version_2_file_has_user_columns_and_no_user_is_called_a_serial() {
    let file = format!(
        "# version: 2\nhelga, ldap, realm1, 60100000, {}, totp, 8, 60\n, , , 60100001, {}, hotp, 6, 9\n",
        hex(20, 8),
        hex(20, 9)
    );
    assert_eq!(
        read_privacyidea(&file),
        vec![
            Ok((
                "60100000".into(),
                Algorithm::Sha1,
                OtpKind::Totp { period: 60 },
                8
            )),
            Ok((
                "60100001".into(),
                Algorithm::Sha1,
                OtpKind::Hotp { counter: 9 },
                6
            )),
        ]
    );
    // Without the version line (or with it further down, where
    // privacyIDEA does not look), user columns are too many fields, and
    // the user name is not taken for a serial.
    let body = format!(
        "helga, ldap, realm1, 60100000, {}, totp, 8, 60\n",
        hex(20, 8)
    );
    for file in [body.clone(), format!("# hello\n# version: 2\n{body}")] {
        let got = read_privacyidea(&file);
        let e = got[0].clone().unwrap_err();
        assert!(e.contains("found 8 field(s)"), "{e}");
        assert!(e.contains("# version: 2"), "{e}");
        assert!(!e.contains("helga"), "{e}");
    }
}

#[test]
fn privacyidea_token_types_other_than_totp_and_hotp_are_refused_by_name() {
    let file = format!(
        "O1, {}, ocra, OCRA-1:HOTP-SHA1-6:QN08\nT1, {}, daypassword, 6, 30\nZ1, {}, frobnicate, 6\n",
        hex(20, 10),
        hex(20, 11),
        hex(20, 12)
    );
    let got = read_privacyidea(&file);
    let e: Vec<String> = got.into_iter().map(|r| r.unwrap_err()).collect();
    assert!(
        e[0].ends_with(
            "token type ocra is not supported; the vault holds totp and hotp seeds only"
        ),
        "{}",
        e[0]
    );
    assert!(
        e[1].contains("token type daypassword is not supported"),
        "{}",
        e[1]
    );
    assert!(e[2].contains("token type is not supported"), "{}", e[2]);
    assert!(!e[2].contains("frobnicate"), "{}", e[2]);
}

/// A vault with `lines` (otpauth URIs) ingested and assigned to order 5.
fn vault_with(lines: &[String], serials: &[String]) -> (TestVault, std::path::PathBuf) {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let batch = v.tmp.path().join("tokens.otpauth");
    std::fs::write(&batch, lines.join("\n") + "\n").unwrap();
    v.ingest_file(&batch);
    v.add_order("5", "Customer", &["it@customer.example"], "alice");
    v.assign("5", serials, "alice");
    let (key, _) = v.customer_key("Customer IT <it@customer.example>", "customer.asc");
    (v, key)
}

/// alice's request, in `format`, of the serials `listed` of order 5 (a
/// serials file).
fn request_of(
    v: &TestVault,
    key: &std::path::Path,
    format: &str,
    listed: &[&str],
) -> std::process::Output {
    let list = v.tmp.path().join("listed.txt");
    std::fs::write(&list, listed.join("\n") + "\n").unwrap();
    v.create_request(
        "5",
        "it@customer.example",
        format,
        key,
        "alice",
        &["--serials-file", list.to_str().unwrap()],
    )
}

fn uri(serial: &str, bytes: usize, seed: u64, tail: &str) -> String {
    let mut spec = BatchSpec::new(1, 1, seed);
    spec.secret_bytes = bytes;
    let b32 = spec.tokens().next().unwrap().secret_base32();
    format!("otpauth://totp/{serial}?secret={b32}&{tail}")
}

#[test]
fn request_create_refuses_an_azure_secret_over_128_base32_characters_naming_the_serial() {
    let lines = vec![
        uri("A80", 80, 1, "period=30"),
        uri("A81", 81, 2, "period=30"),
    ];
    let (v, key) = vault_with(&lines, &["A80".into(), "A81".into()]);
    let before = v.events("request.refused");
    let out = v.create_request("5", "it@customer.example", "azure-csv", &key, "alice", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("1 token(s) cannot be written as azure-csv:\n  serial A81: a secret of 130 Base32 characters; Entra allows 128"),
        "{err}"
    );
    assert!(!err.contains("serial A80"), "{err}");
    assert_eq!(v.events("request.refused"), before + 1);
    assert_eq!(v.sqlite("SELECT count(*) FROM requests").trim(), "0");
    v.cmd().args(["audit", "verify"]).assert().success();
    // Without it, the request goes through.
    let out = request_of(&v, &key, "azure-csv", &["A80"]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn request_create_lists_every_token_a_format_cannot_carry_up_to_fifty_then_counts() {
    let serials: Vec<String> = (0..62).map(|i| format!("H{i:03}")).collect();
    let mut lines: Vec<String> = serials[..60]
        .iter()
        .enumerate()
        .map(|(i, s)| uri(s, 20, 100 + i as u64, "period=60"))
        .collect();
    // One HOTP SHA256 8-digit token: every reason on its line.
    lines.push(
        uri("H060", 20, 300, "algorithm=SHA256&digits=8").replace("totp", "hotp") + "&counter=3",
    );
    lines.push(uri("H061", 20, 301, "period=30"));
    let (v, key) = vault_with(&lines, &serials);
    let out = v.create_request("5", "it@customer.example", "hex", &key, "alice", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("61 token(s) cannot be written as hex:"),
        "{err}"
    );
    let listed = err.lines().filter(|l| l.starts_with("  serial H")).count();
    assert_eq!(listed, 50, "{err}");
    assert!(err.contains("\n  and 11 more\n"), "{err}");
    assert!(
        err.contains("serial H000: TOTP with a 60 s time step; the file can only mean TOTP with a 30 s time step"),
        "{err}"
    );
    assert!(!err.contains("H061"), "{err}");
    assert!(!err.contains("Totp {") && !err.contains("Hotp {"), "{err}");
    assert!(err.contains("hint: choose --format pskc"), "{err}");

    // The HOTP token alone: all three reasons, in words.
    let out = request_of(&v, &key, "base32", &["H060"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("serial H060: HOTP; the file can only mean TOTP with a 30 s time step; SHA256 codes; the file can only mean SHA1; 8 digits; the file can only mean 6"),
        "{err}"
    );
}

#[test]
fn a_few_serials_of_a_larger_order_are_checked_one_by_one_and_listed_the_same_way() {
    let serials: Vec<String> = (0..62).map(|i| format!("H{i:03}")).collect();
    let lines: Vec<String> = serials
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let period = if i == 61 { "period=30" } else { "period=60" };
            uri(s, 20, 100 + i as u64, period)
        })
        .collect();
    let (v, key) = vault_with(&lines, &serials);
    // A hex request of the serials `listed`; the serials its refusal
    // names as uncarried, in the order named.
    let request = |listed: &[&str]| {
        let out = request_of(&v, &key, "hex", listed);
        let named: Vec<String> = String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter_map(|l| l.strip_prefix("  serial "))
            .map(|l| l[..4].to_owned())
            .collect();
        (out, named)
    };
    // 7 of the order's 62, unsorted: read serial by serial, not by
    // reading the order whole, and listed in serial order as a whole-order
    // request lists them. H061 (30 s) can be carried.
    let (out, named) = request(&["H009", "H061", "H005", "H000", "H007", "H006", "H008"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("6 token(s) cannot be written as hex:"),
        "{}",
        text(&out)
    );
    assert_eq!(named, ["H000", "H005", "H006", "H007", "H008", "H009"]);
    // A third of the order (read by scanning it, filtered): the same.
    let third: Vec<String> = (0..21).rev().map(|i| format!("H{i:03}")).collect();
    let (out, named) = request(&third.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        text(&out).contains("21 token(s) cannot be written as hex:"),
        "{}",
        text(&out)
    );
    let mut sorted = third.clone();
    sorted.sort();
    assert_eq!(named, sorted);
    // A serial outside the order is named as such; the carried one alone
    // is a request.
    let (out, _) = request(&["H061", "H999"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("serial H999 is not one recorded for order 5"),
        "{}",
        text(&out)
    );
    let (out, _) = request(&["H061"]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn a_parameter_row_edited_behind_the_log_is_tampering_at_request_create() {
    let lines = vec![uri("P1", 20, 7, "period=60")];
    let (v, key) = vault_with(&lines, &["P1".into()]);
    // The attacker makes the 60 s token look like a 30 s one, which hex
    // can carry.
    v.sqlite("UPDATE token_params SET json = replace(json, '60', '30')");
    let out = v.create_request("5", "it@customer.example", "hex", &key, "alice", &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("the token parameters of serial P1 were changed behind the log"),
        "{}",
        text(&out)
    );
    assert_eq!(v.sqlite("SELECT count(*) FROM requests").trim(), "0");
}

#[test]
fn a_seed_repointed_to_another_set_of_its_batch_never_puts_a_file_on_the_medium() {
    // One batch, two sets: P1 60 s, P2 30 s.
    let lines = vec![uri("P1", 20, 7, "period=60"), uri("P2", 20, 8, "period=30")];
    let (v, key) = vault_with(&lines, &["P1".into(), "P2".into()]);
    v.sqlite(
        "UPDATE seeds SET params_id = (SELECT params_id FROM seeds WHERE serial = 'P2') WHERE serial = 'P1'",
    );
    // request create cannot tell without the key (see its docs) ...
    let out = request_of(&v, &key, "hex", &["P1"]);
    let req = crate::common::request_id(&out);
    v.approve_ok(&req, "bob");
    // ... the export, which opens the seed under its set's hash, refuses.
    let media = v.media();
    let out = v.export(&req, &media, &["alice", "bob"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("serial P1"), "{}", text(&out));
    assert!(crate::common::file_names(&media).is_empty());
}

#[test]
fn request_create_reports_a_missing_parameter_set_as_an_inconsistency_naming_the_serial() {
    let lines = vec![uri("M1", 20, 8, "period=30")];
    let (v, key) = vault_with(&lines, &["M1".into()]);
    v.sqlite("UPDATE seeds SET params_id = 999 WHERE serial = 'M1'");
    let out = v.create_request("5", "it@customer.example", "hex", &key, "alice", &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("serial M1"), "{}", text(&out));
}

#[test]
fn a_privacyidea_version_2_file_is_detected_and_ingested_with_its_serials() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let file = v.tmp.path().join("users.csv");
    std::fs::write(
        &file,
        format!(
            "# version: 2\nhelga, ldap, realm1, 60100000, {}, totp, 6, 30\nolaf, ldap, realm1, 60100001, {}, hotp, 8, 4\n",
            hex(32, 20),
            hex(20, 21)
        ),
    )
    .unwrap();
    v.ingest_file(&file);
    let out = v
        .cmd()
        .args(["serial", "show", "60100000"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("SHA256"), "{shown}");
    let out = v.cmd().args(["serial", "show", "helga"]).output().unwrap();
    assert!(!out.status.success(), "a user name became a serial");
}
