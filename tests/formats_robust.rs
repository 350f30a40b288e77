//! Outside input must never crash a reader: arbitrary bytes, and lines
//! built from the characters the formats care about, read in every format
//! (and detected) without a panic; every error names a line in the input.

use proptest::prelude::*;
use seedvault::formats::{self, BatchReader, Format, ReadOptions};

const LINE_FORMATS: [Format; 5] = [
    Format::AzureCsv,
    Format::Hex,
    Format::Base32,
    Format::Otpauth,
    Format::PrivacyIdea,
];

fn exercise(bytes: &[u8]) {
    let _ = formats::detect(bytes);
    let lines = bytes.split(|&b| b == b'\n').count() as u64;
    let opts = ReadOptions::default();
    for format in LINE_FORMATS {
        if let Ok(batch) = BatchReader::open(format, Box::new(bytes), &opts) {
            if let Err(errors) = batch.finish() {
                for e in errors.listed {
                    assert!(
                        e.line >= 1 && e.line <= lines,
                        "{format}: line {} of {lines}",
                        e.line
                    );
                }
            }
        };
    }
}

fn noisy_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("upn,serial number,secret key,time interval,manufacturer,model\n".to_owned()),
        Just("otpauth://totp/A%3AB:12?secret=".to_owned()),
        Just("&counter=".to_owned()),
        Just(", totp, 6, 30".to_owned()),
        Just("GEZDGNBVGY3TQOJQ".to_owned()),
        Just("3132333435363738".to_owned()),
        Just("\u{feff}".to_owned()),
        "[,\"=%&?:# \r\n0-9a-zA-Z\u{e9}\u{2003}]{0,12}",
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        exercise(&bytes);
    }

    #[test]
    fn format_like_text_never_panics(text in noisy_text()) {
        exercise(text.as_bytes());
    }
}
