//! Property tests: for every non-PSKC format, reading what we wrote gives
//! back the tokens (or, for formats that drop parameters, what the format
//! carries), detection names the format we wrote, and a BatchReader finds
//! no problem in our own output.

use proptest::prelude::*;
use seedvault::formats::{self, BatchReader, Format, ReadOptions, WriteOptions};
use seedvault::token::{Algorithm, OtpKind, Seed, Serial, Token, TokenParams};

fn seed() -> impl Strategy<Value = Seed> {
    prop::collection::vec(any::<u8>(), 16..=64).prop_filter_map("weak seed", |b| Seed::new(b).ok())
}

fn algorithm() -> impl Strategy<Value = Algorithm> {
    prop_oneof![
        Just(Algorithm::Sha1),
        Just(Algorithm::Sha256),
        Just(Algorithm::Sha512)
    ]
}

fn kind() -> impl Strategy<Value = OtpKind> {
    prop_oneof![
        (1u32..=u32::MAX).prop_map(|period| OtpKind::Totp { period }),
        any::<u64>().prop_map(|counter| OtpKind::Hotp { counter }),
    ]
}

fn text() -> impl Strategy<Value = Option<String>> {
    // Anything printable, commas, quotes and surrounding spaces included.
    prop::option::of("[ -~]{1,16}|\\PC{1,8}")
}

/// Distinct serials, so the batch reader's duplicate check stays quiet.
fn serials(n: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = Vec<Serial>> {
    prop::collection::btree_set("[A-Za-z0-9]{1,24}", n).prop_map(|set| {
        set.into_iter()
            .map(|s| Serial::parse(&s).unwrap())
            .collect()
    })
}

fn tokens(params: fn() -> BoxedStrategy<TokenParams>) -> impl Strategy<Value = Vec<Token>> {
    serials(1..=20).prop_flat_map(move |serials| {
        let n = serials.len();
        (Just(serials), prop::collection::vec((seed(), params()), n)).prop_map(|(serials, rest)| {
            serials
                .into_iter()
                .zip(rest)
                .map(|(serial, (seed, params))| Token {
                    serial,
                    seed,
                    params,
                })
                .collect()
        })
    })
}

fn azure_params() -> BoxedStrategy<TokenParams> {
    (prop_oneof![Just(30u32), Just(60)], text(), text())
        .prop_map(|(period, manufacturer, model)| TokenParams {
            kind: OtpKind::Totp { period },
            manufacturer,
            model,
            ..TokenParams::default()
        })
        .boxed()
}

fn otpauth_params() -> BoxedStrategy<TokenParams> {
    (algorithm(), prop_oneof![Just(6u8), Just(8)], kind(), text())
        .prop_map(|(algorithm, digits, kind, manufacturer)| TokenParams {
            algorithm,
            digits,
            kind,
            manufacturer,
            model: None,
        })
        .boxed()
}

fn privacyidea_params() -> BoxedStrategy<TokenParams> {
    (algorithm(), prop_oneof![Just(6u8), Just(8)], kind())
        .prop_map(|(algorithm, digits, kind)| TokenParams {
            algorithm,
            digits,
            kind,
            manufacturer: None,
            model: None,
        })
        .boxed()
}

fn any_params() -> BoxedStrategy<TokenParams> {
    (
        algorithm(),
        prop_oneof![Just(6u8), Just(8)],
        kind(),
        text(),
        text(),
    )
        .prop_map(
            |(algorithm, digits, kind, manufacturer, model)| TokenParams {
                algorithm,
                digits,
                kind,
                manufacturer,
                model,
            },
        )
        .boxed()
}

/// What a hex or Base32 file can mean: TOTP, SHA1, 6 digits, 30 s (the
/// maker and model are simply not carried).
fn pair_params() -> BoxedStrategy<TokenParams> {
    (text(), text())
        .prop_map(|(manufacturer, model)| TokenParams {
            manufacturer,
            model,
            ..TokenParams::default()
        })
        .boxed()
}

fn write(format: Format, tokens: &[Token]) -> Vec<u8> {
    let mut out = Vec::new();
    let opts = WriteOptions {
        upn: Some("ops@example.com".into()),
        upns: None,
        ..WriteOptions::default()
    };
    formats::write(format, &mut tokens.iter(), &mut out, &opts).unwrap();
    out
}

fn read(format: Format, bytes: &[u8]) -> Vec<Token> {
    let opts = ReadOptions::default();
    let records = formats::reader(format, Box::new(bytes), &opts).unwrap();
    records.collect::<Result<Vec<_>, _>>().unwrap()
}

/// The round trip, plus detection and a clean batch read.
fn check(format: Format, written: &[Token], expected: &[Token]) -> Result<(), TestCaseError> {
    let bytes = write(format, written);
    prop_assert_eq!(read(format, &bytes), expected);
    prop_assert_eq!(formats::detect(&bytes).unwrap(), format);
    let opts = ReadOptions::default();
    let batch = BatchReader::open(format, Box::new(&bytes[..]), &opts).unwrap();
    prop_assert_eq!(batch.finish(), Ok(expected.len() as u64));
    Ok(())
}

/// The tokens privacyIDEA can take, as it would read them: the hash it
/// implies by the seed length (32 bytes SHA256, 64 SHA512, else SHA1),
/// without the 28- and 48-byte seeds it takes as SHA224 and SHA384.
fn as_privacyidea_reads(tokens: Vec<Token>) -> Vec<Token> {
    tokens
        .into_iter()
        .filter(|t| t.seed.len() != 28 && t.seed.len() != 48)
        .map(|mut t| {
            t.params.algorithm = match t.seed.len() {
                32 => Algorithm::Sha256,
                64 => Algorithm::Sha512,
                _ => Algorithm::Sha1,
            };
            t
        })
        .collect()
}

/// What a format that carries only serial and seed gives back.
fn defaults(tokens: &[Token]) -> Vec<Token> {
    tokens
        .iter()
        .map(|t| Token {
            params: TokenParams::default(),
            ..t.clone()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn azure_round_trip(tokens in tokens(azure_params)) {
        check(Format::AzureCsv, &tokens, &tokens)?;
    }

    #[test]
    fn otpauth_round_trip(tokens in tokens(otpauth_params)) {
        check(Format::Otpauth, &tokens, &tokens)?;
    }

    #[test]
    fn privacyidea_round_trip(tokens in tokens(privacyidea_params).prop_map(as_privacyidea_reads).prop_filter("no token left", |t| !t.is_empty())) {
        check(Format::PrivacyIdea, &tokens, &tokens)?;
    }

    #[test]
    fn privacyidea_refuses_a_hash_its_seed_length_does_not_imply(tokens in tokens(privacyidea_params)) {
        let readable = as_privacyidea_reads(tokens.clone());
        let faithful = readable.len() == tokens.len()
            && readable.iter().zip(&tokens).all(|(r, t)| r.params == t.params);
        let mut out = Vec::new();
        let r = formats::write(Format::PrivacyIdea, &mut tokens.iter(), &mut out, &WriteOptions::default());
        prop_assert_eq!(r.is_ok(), faithful, "wrote tokens privacyIDEA would misread, or refused ones it reads");
    }

    #[test]
    fn hex_round_trip_carries_serial_and_seed(tokens in tokens(pair_params)) {
        check(Format::Hex, &tokens, &defaults(&tokens))?;
    }

    #[test]
    fn base32_round_trip_carries_serial_and_seed(tokens in tokens(pair_params)) {
        check(Format::Base32, &tokens, &defaults(&tokens))?;
    }

    #[test]
    fn hex_and_base32_refuse_tokens_they_cannot_describe(tokens in tokens(any_params)) {
        let describable = tokens.iter().all(|t| {
            let d = TokenParams::default();
            (t.params.algorithm, t.params.digits, t.params.kind) == (d.algorithm, d.digits, d.kind)
        });
        for format in [Format::Hex, Format::Base32] {
            let mut out = Vec::new();
            let r = formats::write(format, &mut tokens.iter(), &mut out, &WriteOptions::default());
            prop_assert_eq!(r.is_ok(), describable, "{} wrote tokens it cannot describe, or refused ones it can", format);
            if let Err(e) = r {
                prop_assert!(matches!(e, formats::FormatError::Unrepresentable { .. }), "{}", e);
            }
        }
    }

    #[test]
    fn otpauth_drops_only_the_model(tokens in tokens(any_params)) {
        let expected: Vec<Token> = tokens.iter().map(|t| {
            let mut t = t.clone();
            t.params.model = None;
            t
        }).collect();
        check(Format::Otpauth, &tokens, &expected)?;
    }

    #[test]
    fn privacyidea_drops_only_manufacturer_and_model(tokens in tokens(any_params).prop_map(as_privacyidea_reads).prop_filter("no token left", |t| !t.is_empty())) {
        let expected: Vec<Token> = tokens.iter().map(|t| {
            let mut t = t.clone();
            t.params.manufacturer = None;
            t.params.model = None;
            t
        }).collect();
        check(Format::PrivacyIdea, &tokens, &expected)?;
    }
}
