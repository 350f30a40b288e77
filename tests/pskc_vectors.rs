//! PSKC reading against RFC 6030's own examples, the failing vectors
//! (`fail_*`), and a synthetic factory batch with its truth file.

use std::io::BufReader;
use std::path::PathBuf;

use secrecy::{SecretBox, SecretString};
use seedvault::formats::{pskc, FormatError, PskcKey, ReadOptions, RecordError};
use seedvault::token::{Algorithm, OtpKind, Token};

/// The RFC 6030 figure 6 pre-shared key.
const RFC_KEY: &str = "12345678901234567890123456789012";
/// The RFC 6030 figure 7 password.
const RFC_PASSWORD: &str = "qwerty";
/// "12345678901234567890", the secret of most RFC 6030 figures.
const RFC_SECRET: &[u8] = b"12345678901234567890";

fn vector(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors/pskc")
        .join(name)
}

fn pre_shared(hex: &str) -> Option<PskcKey> {
    let bytes = data_encoding::HEXLOWER_PERMISSIVE
        .decode(hex.as_bytes())
        .unwrap();
    Some(PskcKey::PreShared(SecretBox::new(Box::new(bytes))))
}

fn password(p: &str) -> Option<PskcKey> {
    Some(PskcKey::Password(SecretString::from(p.to_owned())))
}

type Read = Result<Vec<Result<Token, RecordError>>, FormatError>;

fn read_file(path: &std::path::Path, key: Option<PskcKey>) -> Read {
    let opts = ReadOptions {
        pskc_key: key,
        ..ReadOptions::default()
    };
    let file = std::fs::File::open(path).unwrap();
    let records = pskc::reader(Box::new(BufReader::new(file)), &opts)?;
    Ok(records.collect())
}

fn read(name: &str, key: Option<PskcKey>) -> Read {
    read_file(&vector(name), key)
}

fn only_token(name: &str, key: Option<PskcKey>) -> Token {
    let mut records = read(name, key).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(records.len(), 1, "{name}");
    records.remove(0).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn only_error(name: &str, key: Option<PskcKey>) -> RecordError {
    let mut records = read(name, key).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(records.len(), 1, "{name}");
    match records.remove(0) {
        Ok(t) => panic!("{name}: read {:?}", t.serial),
        Err(e) => e,
    }
}

fn assert_rfc_hotp8(t: &Token, serial: &str) {
    assert_eq!(t.serial.as_str(), serial);
    assert_eq!(t.seed.expose(), RFC_SECRET);
    assert_eq!(t.params.algorithm, Algorithm::Sha1);
    assert_eq!(t.params.digits, 8);
    assert_eq!(t.params.kind, OtpKind::Hotp { counter: 0 });
}

#[test]
fn figure2_secret_is_too_short() {
    // No DeviceInfo: the serial falls back to the Key Id.
    let e = only_error("rfc6030_figure2.pskcxml", None);
    assert_eq!(e.serial.as_deref(), Some("12345678"));
    assert_eq!(e.line, 11);
    assert!(
        e.problem.to_string().contains("at least 128 bits"),
        "{}",
        e.problem
    );
}

#[test]
fn figure3_supplementary_data() {
    let t = only_token("rfc6030_figure3.pskcxml", None);
    assert_rfc_hotp8(&t, "987654321");
    assert_eq!(t.params.manufacturer.as_deref(), Some("Manufacturer"));
    assert_eq!(t.params.model, None);
}

#[test]
fn figure4_has_no_secret() {
    let e = only_error("rfc6030_figure4.pskcxml", None);
    assert_eq!(e.serial.as_deref(), Some("987654321"));
    assert!(
        e.problem.to_string().contains("no Data/Secret"),
        "{}",
        e.problem
    );
}

#[test]
fn figure5_reads_the_hotp_key_and_refuses_the_pin() {
    let records = read("rfc6030_figure5.pskcxml", None).unwrap();
    assert_eq!(records.len(), 2);
    assert_rfc_hotp8(records[0].as_ref().unwrap(), "987654321");
    let e = records[1].as_ref().unwrap_err();
    assert!(
        e.problem.to_string().contains("unknown algorithm"),
        "{}",
        e.problem
    );
    assert_eq!(e.line, 42);
}

#[test]
fn figure6_pre_shared_key() {
    let t = only_token("rfc6030_figure6.pskcxml", pre_shared(RFC_KEY));
    assert_rfc_hotp8(&t, "987654321");
}

#[test]
fn figure6_needs_its_key() {
    let e = read("rfc6030_figure6.pskcxml", None).unwrap_err();
    assert!(
        matches!(&e, FormatError::KeyNeeded(why) if why.contains("Pre-shared-key")),
        "{e}"
    );
    let e = read("rfc6030_figure6.pskcxml", password(RFC_PASSWORD)).unwrap_err();
    assert!(matches!(e, FormatError::KeyNeeded(_)), "{e}");
}

#[test]
fn figure6_with_a_wrong_key_is_refused() {
    match read(
        "rfc6030_figure6.pskcxml",
        pre_shared("00112233445566778899aabbccddeeff"),
    ) {
        Err(FormatError::Structure { problem, .. }) => {
            assert!(problem.contains("wrong"), "{problem}")
        }
        Ok(records) => {
            let e = records[0].as_ref().unwrap_err();
            assert!(e.problem.to_string().contains("wrong"), "{}", e.problem);
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn figure7_pbkdf2_password() {
    let t = only_token("rfc6030_figure7.pskcxml", password(RFC_PASSWORD));
    assert_rfc_hotp8(&t, "987654321");
    assert_eq!(t.params.manufacturer.as_deref(), Some("TokenVendorAcme"));
}

#[test]
fn figure7_needs_its_password() {
    let e = read("rfc6030_figure7.pskcxml", None).unwrap_err();
    assert!(
        matches!(&e, FormatError::KeyNeeded(why) if why.contains("password")),
        "{e}"
    );
}

#[test]
fn figure8_asymmetric_encryption_is_not_supported() {
    let e = read("rfc6030_figure8.pskcxml", None).unwrap_err();
    assert!(
        matches!(&e, FormatError::Structure { problem, .. } if problem.contains("asymmetric")),
        "{e}"
    );
}

#[test]
fn figure9_signed_container() {
    let t = only_token("rfc6030_figure9.pskcxml", None);
    assert_eq!(t.serial.as_str(), "0755225266");
    assert_eq!(t.seed.expose(), RFC_SECRET);
    assert_eq!(t.params.digits, 6);
}

#[test]
fn figure10_bulk_with_a_duplicate_serial() {
    // Duplicate serials (9999999 twice) are for the shared batch checks of
    // formats::mod, not for the PSKC reader.
    let records = read("rfc6030_figure10.pskcxml", None).unwrap();
    let serials: Vec<_> = records
        .iter()
        .map(|r| r.as_ref().unwrap().serial.to_string())
        .collect();
    assert_eq!(serials, ["654321", "123456", "9999999", "9999999"]);
    for r in &records {
        assert_eq!(r.as_ref().unwrap().seed.expose(), RFC_SECRET);
    }
}

#[test]
fn fail_tampered_ciphervalue() {
    let e = only_error("fail_tampered_ciphervalue.pskcxml", pre_shared(RFC_KEY));
    assert_eq!(e.serial.as_deref(), Some("987654321"));
    assert!(
        e.problem.to_string().contains("ValueMAC") && e.problem.to_string().contains("altered"),
        "{}",
        e.problem
    );
}

#[test]
fn fail_wrong_mac() {
    let e = only_error("fail_wrong_mac.pskcxml", pre_shared(RFC_KEY));
    assert!(
        e.problem.to_string().contains("does not match"),
        "{}",
        e.problem
    );
}

#[test]
fn fail_missing_valuemac() {
    let e = only_error("fail_missing_valuemac.pskcxml", pre_shared(RFC_KEY));
    assert!(
        e.problem.to_string().contains("no ValueMAC"),
        "{}",
        e.problem
    );
}

#[test]
fn fail_wrong_password() {
    match read("fail_wrong_password.pskcxml", password(RFC_PASSWORD)) {
        Err(FormatError::Structure { problem, .. }) => {
            assert!(problem.contains("password is wrong"), "{problem}")
        }
        Ok(records) => {
            let e = records[0].as_ref().unwrap_err();
            assert!(
                e.problem.to_string().contains("password is wrong"),
                "{}",
                e.problem
            );
        }
        Err(e) => panic!("{e}"),
    }
    // With the right password the same file reads.
    let t = only_token("fail_wrong_password.pskcxml", password("not-qwerty"));
    assert_rfc_hotp8(&t, "987654321");
}

#[test]
fn fail_unknown_algorithm() {
    let e = only_error("fail_unknown_algorithm.pskcxml", None);
    assert!(
        e.problem.to_string().contains("unknown algorithm"),
        "{}",
        e.problem
    );
    // The attribute is not echoed: a refusal never quotes a field it could not use.
    assert!(
        !e.problem.to_string().contains("frobnicate"),
        "{}",
        e.problem
    );
}

#[test]
fn fail_short_secret() {
    let e = only_error("fail_short_secret.pskcxml", None);
    assert_eq!(e.serial.as_deref(), Some("987654321"));
    assert!(e.problem.to_string().contains("80 bits"), "{}", e.problem);
    assert!(
        !e.problem.to_string().contains("MTIz"),
        "the message must not carry the secret"
    );
}

#[test]
fn fail_truncated() {
    let records = read("fail_truncated.pskcxml", None).unwrap();
    assert_eq!(records.len(), 2);
    assert!(records[0].is_ok());
    let e = records[1].as_ref().unwrap_err();
    assert!(e.problem.to_string().contains("truncated"), "{}", e.problem);
}

#[test]
fn not_pskc_is_a_structure_error() {
    let opts = ReadOptions::default();
    for (text, want) in [
        ("", "no XML element"),
        ("serial,secret\n1,ABC\n", "no XML element"),
        ("<html><body/></html>", "not a PSKC"),
        ("<KeyContainer Version=\"1.0\"/>", "not a PSKC"),
        (
            "<KeyContainer Version=\"2.0\" xmlns=\"urn:ietf:params:xml:ns:keyprov:pskc\"/>",
            "Version",
        ),
    ] {
        let e = pskc::reader(Box::new(text.as_bytes()), &opts)
            .err()
            .unwrap_or_else(|| panic!("{text:?} was accepted"));
        assert!(
            matches!(&e, FormatError::Structure { problem, .. } if problem.contains(want)),
            "{text:?}: {e}"
        );
    }
}

/// Writes a synthetic PSKC batch (`tests/common/batch.rs`) and its truth.
fn make_batch(dir: &std::path::Path, count: u64, first: u64, seed: u64) -> (PathBuf, PathBuf) {
    let out = dir.join("batch.pskc");
    let truth = dir.join("truth.jsonl");
    let spec = crate::common::batch::BatchSpec::new(count, first, seed);
    crate::common::batch::write_files("pskc", &spec, &out, Some(&truth)).unwrap();
    (out, truth)
}

#[test]
fn make_batch_file_reads_to_its_truth() {
    let dir = tempfile::tempdir().unwrap();
    let (out, truth) = make_batch(dir.path(), 500, 60_000_000, 7);
    let records = read_file(&out, None).unwrap();
    let truth = std::fs::read_to_string(&truth).unwrap();
    let truth: Vec<serde_json::Value> = truth
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), truth.len());
    for (i, (r, want)) in records.iter().zip(&truth).enumerate() {
        let t = r.as_ref().unwrap();
        assert_eq!(t.serial.as_str(), want["serial"].as_str().unwrap());
        let hex = data_encoding::HEXLOWER.encode(t.seed.expose());
        assert_eq!(hex, want["secret_hex"].as_str().unwrap());
        assert_eq!(
            t.params.algorithm.name(),
            want["algorithm"].as_str().unwrap()
        );
        assert_eq!(u64::from(t.params.digits), want["digits"].as_u64().unwrap());
        assert_eq!(
            t.params.kind,
            OtpKind::Totp {
                period: want["period"].as_u64().unwrap() as u32
            }
        );
        assert_eq!(t.params.manufacturer.as_deref(), Some("Token2"));
        assert_eq!(t.params.model.as_deref(), Some("C202"));
        assert!(i < truth.len());
    }
}

#[test]
fn record_errors_name_the_line_of_their_keypackage() {
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = make_batch(dir.path(), 5, 100, 1);
    // The generator writes a 2-line header, then 7 lines per KeyPackage: the
    // third package (serial 102) starts on line 3 + 2 * 7 = 17.
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let data = &mut lines[16 + 4];
    let start = data.find("<PlainValue>").unwrap() + "<PlainValue>".len();
    let end = data.find("</PlainValue>").unwrap();
    data.replace_range(start..end, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    let text = lines.join("\r\n");
    let opts = ReadOptions::default();
    let records: Vec<_> = pskc::reader(Box::new(text.as_bytes()), &opts)
        .unwrap()
        .collect();
    assert_eq!(records.len(), 5);
    let e = records[2].as_ref().unwrap_err();
    assert_eq!((e.line, e.serial.as_deref()), (17, Some("102")), "{e}");
    assert!(e.problem.to_string().contains("all zero"), "{e}");
    assert!(records.iter().enumerate().all(|(i, r)| i == 2 || r.is_ok()));
}

#[test]
fn fail_plain_secret_in_encrypted_file() {
    let records = read(
        "fail_plain_secret_in_encrypted_file.pskcxml",
        pre_shared(RFC_KEY),
    )
    .unwrap();
    assert_eq!(records.len(), 2);
    assert_rfc_hotp8(records[0].as_ref().unwrap(), "987654321");
    let e = records[1].as_ref().unwrap_err();
    assert_eq!(e.serial.as_deref(), Some("123123123"));
    assert!(
        e.problem
            .to_string()
            .contains("plain text in an encrypted file"),
        "{}",
        e.problem
    );
}

#[test]
fn a_key_for_a_plain_file_is_refused() {
    // Stripping a file's encryption must not pass unnoticed by whoever
    // expected it to be encrypted.
    let e = read("rfc6030_figure3.pskcxml", password(RFC_PASSWORD)).unwrap_err();
    assert!(
        matches!(&e, FormatError::Structure { problem, .. } if problem.contains("not encrypted")),
        "{e}"
    );
}
