//! Whole files as they arrive: a noisy Azure export, format detection, and
//! the synthetic batches of `tests/common/batch.rs` against their truth.

use std::path::Path;

use crate::common::batch::BatchSpec;
use seedvault::formats::{self, BatchReader, Format, FormatError, ReadOptions};
use seedvault::token::{Algorithm, OtpKind, Token};

fn read_all(format: Format, bytes: &[u8]) -> Vec<Token> {
    let opts = ReadOptions::default();
    let batch = BatchReader::open(format, Box::new(bytes), &opts).unwrap();
    let mut batch = batch;
    let tokens: Vec<Token> = batch.by_ref().collect();
    assert!(batch.errors().is_empty(), "{}", batch.errors());
    tokens
}

#[test]
fn noisy_azure_file() {
    // BOM, CRLF, spaces around fields, a quoted manufacturer, lowercase
    // Base32 in groups with padding, serial 000123, a spreadsheet's row of
    // empty cells and a trailing empty line.
    let text = "\u{feff}UPN , Serial Number,Secret Key, Time Interval ,Manufacturer,Model\r\n\
                alice@example.com, 000123 , gezd gnbv gy3t qojq gezd gnbv gy3t qojq ,30,\"Token2, Ltd\", C202 \r\n\
,123,GEZDGNBVGY3TQOJQGEZDGNBVGY======,60,,\r\n\
                ,,,,,\r\n\
                \r\n";
    assert_eq!(formats::detect(text.as_bytes()).unwrap(), Format::AzureCsv);
    let tokens = read_all(Format::AzureCsv, text.as_bytes());
    assert_eq!(tokens.len(), 2);
    let t = &tokens[0];
    assert_eq!(t.serial.as_str(), "000123");
    assert_eq!(t.seed.expose(), b"12345678901234567890");
    assert_eq!(t.params.kind, OtpKind::Totp { period: 30 });
    assert_eq!(t.params.manufacturer.as_deref(), Some("Token2, Ltd"));
    assert_eq!(t.params.model.as_deref(), Some("C202"));
    let t = &tokens[1];
    assert_eq!(
        t.serial.as_str(),
        "123",
        "000123 and 123 are different serials"
    );
    assert_eq!(t.seed.expose(), b"1234567890123456");
    assert_eq!(t.params.kind, OtpKind::Totp { period: 60 });
    assert_eq!(
        (t.params.manufacturer.as_ref(), t.params.model.as_ref()),
        (None, None)
    );
}

#[test]
fn detection_rules() {
    let b32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    let hex = "3132333435363738393031323334353637383930";
    let cases: Vec<(String, Format)> = vec![
        (
            "<?xml version=\"1.0\"?>\n<KeyContainer>".into(),
            Format::Pskc,
        ),
        ("\u{feff}\n  <pskc:KeyContainer>".into(), Format::Pskc),
        (
            format!("OTPAUTH://totp/A:1?secret={b32}\n"),
            Format::Otpauth,
        ),
        (
            "upn,serial number,secret key,time interval,manufacturer,model\n".into(),
            Format::AzureCsv,
        ),
        (
            format!("# version: 1\n1, {hex}, hotp, 6, 0\n"),
            Format::PrivacyIdea,
        ),
        (format!("1,{hex}\n2,{hex}\n"), Format::Hex),
        (format!("serial,secret_hex\n1,{hex}\n"), Format::Hex),
        (
            format!("1,{b32}\n2,{}\n", b32.to_lowercase()),
            Format::Base32,
        ),
        // Valid in both encodings (only A-F and 2-7): hex by rule.
        ("1,abcdef2345672345abcdef2345672345\n".into(), Format::Hex),
        // ... unless another line shows Base32's other letters.
        (
            format!("1,ABCDEF2345672345ABCDEF2345672345\n2,{b32}\n"),
            Format::Base32,
        ),
        // Azure rows without their header: reading will say the header is missing.
        (format!(",1,{b32},30,Token2,C202\n"), Format::AzureCsv),
        // A cut-off last line is ignored.
        (format!("1,{hex}\n2,{}", &b32[..5]), Format::Hex),
    ];
    for (text, format) in cases {
        assert_eq!(
            formats::detect(text.as_bytes()).unwrap(),
            format,
            "{text:?}"
        );
    }
    for text in ["", "\n\n", "a,b,c\n", "1,not-a-secret!\n"] {
        assert!(
            matches!(
                formats::detect(text.as_bytes()),
                Err(FormatError::Undetected(_))
            ),
            "{text:?}"
        );
    }
}

#[derive(serde::Deserialize)]
struct Truth {
    serial: String,
    secret_hex: String,
    algorithm: Algorithm,
    digits: u8,
    period: u32,
}

fn make_batch(dir: &Path, format: &str, period: u32, rng_seed: u32) -> (Vec<u8>, Vec<Truth>) {
    let out = dir.join(format!("batch.{format}"));
    let truth = dir.join(format!("truth.{format}.jsonl"));
    let spec = BatchSpec {
        period,
        ..BatchSpec::new(300, 60_000_000, u64::from(rng_seed))
    };
    crate::common::batch::write_files(format, &spec, &out, Some(&truth)).unwrap();
    let truth = std::fs::read_to_string(truth)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (std::fs::read(out).unwrap(), truth)
}

#[test]
fn make_batch_formats_match_their_truth() {
    // PSKC is read by src/formats/pskc.rs and tested with it.
    let dir = tempfile::tempdir().unwrap();
    for (name, format, carries_params) in [
        ("azure-csv", Format::AzureCsv, true),
        ("hex", Format::Hex, false),
        ("base32", Format::Base32, false),
        ("otpauth", Format::Otpauth, true),
        ("privacyidea", Format::PrivacyIdea, true),
    ] {
        for (period, rng_seed) in [(30, 7), (60, 8)] {
            let (bytes, truth) = make_batch(dir.path(), name, period, rng_seed);
            assert_eq!(
                formats::detect(&bytes[..bytes.len().min(8192)]).unwrap(),
                format,
                "{name}"
            );
            let tokens = read_all(format, &bytes);
            assert_eq!(tokens.len(), truth.len(), "{name}");
            for (t, want) in tokens.iter().zip(&truth) {
                assert_eq!(t.serial.as_str(), want.serial, "{name}");
                assert_eq!(
                    data_encoding::HEXLOWER.encode(t.seed.expose()),
                    want.secret_hex,
                    "{name} {}",
                    want.serial
                );
                if carries_params {
                    assert_eq!(t.params.algorithm, want.algorithm, "{name}");
                    assert_eq!(t.params.digits, want.digits, "{name}");
                    assert_eq!(
                        t.params.kind,
                        OtpKind::Totp {
                            period: want.period
                        },
                        "{name}"
                    );
                }
            }
            if format == Format::AzureCsv {
                assert_eq!(tokens[0].params.manufacturer.as_deref(), Some("Token2"));
                assert_eq!(tokens[0].params.model.as_deref(), Some("C202"));
            }
        }
    }
}

#[test]
fn runaway_line_is_one_error_not_a_whole_file_in_memory() {
    let hex = "3132333435363738393031323334353637383930";
    let text = format!("1,{hex}\n2,{}\n3,{hex}\n", "a".repeat(200_000));
    let opts = ReadOptions::default();
    let errs = BatchReader::open(Format::Hex, Box::new(text.as_bytes()), &opts)
        .unwrap()
        .finish()
        .unwrap_err();
    assert_eq!(errs.listed.len(), 1);
    assert_eq!(errs.listed[0].line, 2);
    assert!(errs.listed[0].problem.to_string().contains("longer than"));
    let tokens: Vec<_> = formats::reader(Format::Hex, Box::new(text.as_bytes()), &opts)
        .unwrap()
        .filter_map(Result::ok)
        .map(|t| t.serial.to_string())
        .collect();
    assert_eq!(tokens, ["1", "3"]);
}

#[test]
fn detect_buffered_does_not_consume() {
    let text =
        "# exported by the factory\notpauth://totp/7?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n";
    let mut input = std::io::BufReader::new(text.as_bytes());
    assert_eq!(
        formats::detect_buffered(&mut input).unwrap(),
        Format::Otpauth
    );
    let tokens = read_all(Format::Otpauth, text.as_bytes());
    assert_eq!(tokens.len(), 1);
    let opts = ReadOptions::default();
    assert_eq!(
        formats::reader(Format::Otpauth, Box::new(input), &opts)
            .unwrap()
            .count(),
        1
    );
}
