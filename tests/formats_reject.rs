//! Every rejection rule of SPEC "Seed formats", each asserting the line and
//! serial named in the error, and that no error repeats the secret.

use seedvault::formats::{
    self, BatchReader, Format, FormatError, ReadOptions, RecordError, MAX_LISTED_ERRORS,
};

const HEADER: &str = "upn,serial number,secret key,time interval,manufacturer,model\n";
/// "12345678901234567890" (160 bits).
const B32: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
const HEX: &str = "3132333435363738393031323334353637383930";

fn errors(format: Format, text: &str) -> Vec<RecordError> {
    let opts = ReadOptions::default();
    let records = formats::reader(format, Box::new(text.as_bytes()), &opts).unwrap();
    records.filter_map(Result::err).collect()
}

/// Reads `text`, expects exactly one error, checks line and serial, and
/// that `secret` (when given) does not appear in it.
fn one(format: Format, text: &str, line: u64, serial: Option<&str>, secret: &str) -> String {
    let errs = errors(format, text);
    assert_eq!(errs.len(), 1, "{errs:?}");
    let e = &errs[0];
    assert_eq!(e.line, line, "{e}");
    assert_eq!(e.serial.as_deref(), serial, "{e}");
    if !secret.is_empty() {
        assert!(
            !e.to_string().contains(secret),
            "the error repeats the secret: {e}"
        );
    }
    e.problem.to_string()
}

fn azure(rows: &str) -> String {
    format!("{HEADER},100,{B32},30,Token2,C202\n{rows}")
}

#[test]
fn azure_secret_under_128_bits() {
    let p = one(
        Format::AzureCsv,
        &azure(",101,GEZDGNBVGY3TQOJQ,30,,\n"),
        3,
        Some("101"),
        "GEZDGNBVGY3TQOJQ",
    );
    assert!(p.contains("80 bits") && p.contains("128"), "{p}");
}

#[test]
fn azure_all_zero_and_repeated_byte_secrets() {
    let zero = "A".repeat(32);
    let p = one(
        Format::AzureCsv,
        &azure(&format!(",102,{zero},30,,\n")),
        3,
        Some("102"),
        &zero,
    );
    assert!(p.contains("all zero"), "{p}");
    let same = "7".repeat(32);
    let p = one(
        Format::AzureCsv,
        &azure(&format!("\n,103,{same},60,,\n")),
        4,
        Some("103"),
        &same,
    );
    assert!(p.contains("repeats a single byte"), "{p}");
}

#[test]
fn azure_non_base32_character_is_placed_but_not_shown() {
    let bad = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1";
    let p = one(
        Format::AzureCsv,
        &azure(&format!(",104,{bad},30,,\n")),
        3,
        Some("104"),
        bad,
    );
    assert!(p.contains("at its end") && !p.contains("'1'"), "{p}");
    let p = one(
        Format::AzureCsv,
        &azure(",105,GEZDGNBV-GY3TQOJQGEZDGNBVGY3TQOJQ,30,,\n"),
        3,
        Some("105"),
        "GY3TQOJQ",
    );
    assert!(p.contains("in its middle") && !p.contains("'-'"), "{p}");
}

#[test]
fn azure_secret_over_128_characters() {
    let long = "GEZDGNBV".repeat(17);
    let p = one(
        Format::AzureCsv,
        &azure(&format!(",106,{long},30,,\n")),
        3,
        Some("106"),
        &long,
    );
    assert!(p.contains("136 characters") && p.contains("128"), "{p}");
}

#[test]
fn azure_interval_other_than_30_or_60() {
    let p = one(
        Format::AzureCsv,
        &azure(&format!(",107,{B32},45,,\n")),
        3,
        Some("107"),
        B32,
    );
    assert!(p.contains("30 or 60") && p.contains("45"), "{p}");
}

#[test]
fn azure_bad_serial() {
    let p = one(
        Format::AzureCsv,
        &azure(&format!(",12_34,{B32},30,,\n")),
        3,
        None,
        B32,
    );
    // Described, not shown: a serial field that is not a serial may be a secret.
    assert!(
        p.contains("bad serial") && p.contains("5 characters") && !p.contains("12_34"),
        "{p}"
    );
}

#[test]
fn azure_missing_or_wrong_header_is_a_structure_error_on_line_1() {
    let opts = ReadOptions::default();
    for text in [
        format!(",100,{B32},30,Token2,C202\n"),
        format!("upn,serial,secret,interval,manufacturer,model\n,100,{B32},30,,\n"),
        String::new(),
    ] {
        match formats::reader(Format::AzureCsv, Box::new(text.as_bytes()), &opts) {
            Err(FormatError::Structure { line: 1, problem }) => {
                assert!(
                    problem.contains("header") && !problem.contains(B32),
                    "{problem}"
                )
            }
            Err(e) => panic!("wrong error for {text:?}: {e}"),
            Ok(_) => panic!("accepted {text:?}"),
        }
    }
}

#[test]
fn hex_rules() {
    let p = one(
        Format::Hex,
        &format!("200,{HEX}\n201,{}\n", &HEX[..30]),
        2,
        Some("201"),
        &HEX[..30],
    );
    assert!(p.contains("120 bits"), "{p}");
    let bad = format!("{}g{}", &HEX[..10], &HEX[11..]);
    let p = one(Format::Hex, &format!("202,{bad}\n"), 1, Some("202"), &bad);
    assert!(p.contains("not hex") && p.contains("in its middle"), "{p}");
    assert!(!p.contains("'g'") && !p.contains("11"), "{p}");
    let p = one(
        Format::Hex,
        &format!("203,{}\n", &HEX[..39]),
        1,
        Some("203"),
        &HEX[..39],
    );
    assert!(p.contains("odd"), "{p}");
    let zero = "00".repeat(20);
    let p = one(
        Format::Hex,
        &format!("\n\n204,{zero}\n"),
        3,
        Some("204"),
        &zero,
    );
    assert!(p.contains("all zero"), "{p}");
    let same = "ab".repeat(20);
    let p = one(Format::Hex, &format!("205,{same}\n"), 1, Some("205"), &same);
    assert!(p.contains("repeats"), "{p}");
}

#[test]
fn base32_rules() {
    let bad = "GEZDGNBVGY3TQOJ8GEZDGNBVGY3TQOJQ";
    let p = one(
        Format::Base32,
        &format!("300,{B32}\n301,{bad}\n"),
        2,
        Some("301"),
        bad,
    );
    assert!(
        p.contains("not Base32") && p.contains("in its middle"),
        "{p}"
    );
    assert!(!p.contains("'8'") && !p.contains("16"), "{p}");
    let p = one(
        Format::Base32,
        &format!("302,{}\n", &B32[..20]),
        1,
        Some("302"),
        &B32[..20],
    );
    assert!(p.contains("bits"), "{p}");
    let p = one(Format::Base32, "303\n", 1, Some("303"), "");
    assert!(p.contains("missing"), "{p}");
}

#[test]
fn privacyidea_rules() {
    let cases = [
        (
            format!("400, {HEX}, totp, 6, 30, md5\n"),
            "unknown hash algorithm",
        ),
        (format!("401, {HEX}, totp, 7, 30\n"), "6 or 8"),
        (format!("402, {HEX}, ocra, 6, 30\n"), "not supported"),
        (format!("403, {HEX}, totp, 6, 0\n"), "time step"),
        (format!("404, {HEX}, hotp, 6, -1\n"), "counter"),
    ];
    for (i, (text, expect)) in cases.iter().enumerate() {
        let text = format!("# version: 1\n{text}");
        let serial = format!("{}", 400 + i);
        let p = one(Format::PrivacyIdea, &text, 2, Some(&serial), HEX);
        assert!(p.contains(expect), "{p}");
    }
}

#[test]
fn otpauth_rules() {
    let cases = [
        (
            format!("otpauth://totp/ACME:500?secret={B32}&algorithm=MD5"),
            "unknown hash algorithm",
        ),
        (
            format!("otpauth://totp/ACME:501?secret={B32}&digits=7"),
            "6 or 8",
        ),
        (
            format!("otpauth://motp/ACME:502?secret={B32}"),
            "not supported",
        ),
        (
            "otpauth://totp/ACME:503?issuer=ACME".to_owned(),
            "secret is missing",
        ),
        (format!("otpauth://hotp/504?secret={B32}"), "counter"),
        (
            format!("otpauth://totp/ACME%3A505?secret={}", &B32[..16]),
            "bits",
        ),
    ];
    for (i, (text, expect)) in cases.iter().enumerate() {
        let serial = format!("{}", 500 + i);
        let p = one(
            Format::Otpauth,
            &format!("\n{text}\n"),
            2,
            Some(&serial),
            B32,
        );
        assert!(p.contains(expect), "{p}");
    }
    let p = one(
        Format::Otpauth,
        &format!("otpauth://totp/ACME:alice@example.com?secret={B32}\n"),
        1,
        None,
        B32,
    );
    assert!(p.contains("bad serial") && !p.contains("alice"), "{p}");
}

#[test]
fn duplicate_serials_name_both_lines() {
    let text = format!("{HEADER},600,{B32},30,,\n,601,{B32},30,,\n\n,600,{B32},60,,\n");
    let opts = ReadOptions::default();
    let mut batch = BatchReader::open(Format::AzureCsv, Box::new(text.as_bytes()), &opts).unwrap();
    let good: Vec<_> = batch.by_ref().map(|t| t.serial.to_string()).collect();
    assert_eq!(good, ["600", "601"]);
    let errs = batch.finish().unwrap_err();
    assert_eq!(errs.listed.len(), 1);
    let e = &errs.listed[0];
    assert_eq!((e.line, e.serial.as_deref()), (5, Some("600")));
    assert!(
        e.problem.to_string().contains("duplicate") && e.problem.to_string().contains("line 2"),
        "{e}"
    );
}

#[test]
fn duplicate_of_a_bad_record_is_reported_too() {
    let text = format!("700,{}\n701,{HEX}\n700,{HEX}\n", &HEX[..20]);
    let opts = ReadOptions::default();
    let errs = BatchReader::open(Format::Hex, Box::new(text.as_bytes()), &opts)
        .unwrap()
        .finish()
        .unwrap_err();
    let lines: Vec<_> = errs
        .listed
        .iter()
        .map(|e| (e.line, e.serial.as_deref().unwrap().to_owned()))
        .collect();
    assert_eq!(lines, [(1, "700".to_owned()), (3, "700".to_owned())]);
    assert!(errs.listed[1].problem.to_string().contains("line 1"));
}

#[test]
fn every_error_is_gathered_up_to_the_cap() {
    let mut text = String::new();
    for i in 0..150 {
        text.push_str(&format!("{},{}\n", 1000 + i, &HEX[..20]));
    }
    text.push_str(&format!("9999,{HEX}\n"));
    let opts = ReadOptions::default();
    let mut batch = BatchReader::open(Format::Hex, Box::new(text.as_bytes()), &opts).unwrap();
    assert_eq!(batch.by_ref().count(), 1);
    let errs = batch.finish().unwrap_err();
    assert_eq!(errs.listed.len(), MAX_LISTED_ERRORS);
    assert_eq!(errs.more, 50);
    assert_eq!(errs.total(), 150);
    assert_eq!(errs.listed[99].line, 100);
    let shown = errs.to_string();
    assert!(
        shown.starts_with("150 problem(s)") && shown.ends_with("and 50 more"),
        "{shown}"
    );
}

#[test]
fn writers_refuse_what_a_format_cannot_hold() {
    use seedvault::formats::WriteOptions;
    use seedvault::token::{Algorithm, OtpKind, Seed, Serial, Token, TokenParams};
    let token = |serial: &str, params: TokenParams| Token {
        serial: Serial::parse(serial).unwrap(),
        seed: Seed::new(b"12345678901234567890".to_vec()).unwrap(),
        params,
    };
    let cases = [
        (
            Format::AzureCsv,
            token(
                "800",
                TokenParams {
                    kind: OtpKind::Hotp { counter: 0 },
                    ..TokenParams::default()
                },
            ),
            "HOTP",
        ),
        (
            Format::AzureCsv,
            token(
                "801",
                TokenParams {
                    kind: OtpKind::Totp { period: 45 },
                    ..TokenParams::default()
                },
            ),
            "30 or 60",
        ),
        (
            Format::AzureCsv,
            token(
                "802",
                TokenParams {
                    algorithm: Algorithm::Sha256,
                    ..TokenParams::default()
                },
            ),
            "SHA1",
        ),
        (
            Format::AzureCsv,
            token(
                "803",
                TokenParams {
                    digits: 8,
                    ..TokenParams::default()
                },
            ),
            "6-digit",
        ),
        (
            Format::Otpauth,
            token(
                "804",
                TokenParams {
                    digits: 7,
                    ..TokenParams::default()
                },
            ),
            "6 or 8",
        ),
        (
            Format::PrivacyIdea,
            token(
                "805",
                TokenParams {
                    kind: OtpKind::Totp { period: 0 },
                    ..TokenParams::default()
                },
            ),
            "period",
        ),
    ];
    for (format, t, expect) in cases {
        let mut out = Vec::new();
        match formats::write(
            format,
            &mut std::iter::once(&t),
            &mut out,
            &WriteOptions::default(),
        ) {
            Err(FormatError::Unrepresentable {
                serial,
                format: name,
                problem,
            }) => {
                assert_eq!(serial, t.serial.as_str());
                assert_eq!(name, format.name());
                assert!(problem.contains(expect), "{problem}");
            }
            other => panic!("{format}: {other:?}"),
        }
    }
}

#[test]
fn azure_second_header_from_joined_files() {
    let text = format!("{HEADER},100,{B32},30,,\n{HEADER},101,{B32},30,,\n");
    let p = one(Format::AzureCsv, &text, 3, None, B32);
    assert!(p.contains("second header"), "{p}");
}
