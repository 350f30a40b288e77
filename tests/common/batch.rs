//! Synthetic factory batches for the tests and the benchmarks, and the
//! truth they encode.
//!
//! The project's own generator, so a clone needs nothing beside it. It
//! writes each seed format by hand, the way a factory's tool would, rather
//! than through `seedvault::formats`: a reader tested only against its own
//! writer proves little. The same seed, count and first serial always give
//! the same tokens, so one batch written in two formats holds the same
//! seeds. Serials are `first`, `first + 1`, ...; every token is SHA1, six
//! digits, TOTP, made by "Token2", model "C202".
//!
//! Shared by `tests/common` and (through `#[path]`) `benches/common`, so it
//! depends on nothing but std and `data_encoding`.
#![allow(dead_code)]

use std::io::{self, Write};
use std::path::Path;

/// Manufacturer written where a format carries one.
pub const MANUFACTURER: &str = "Token2";
/// Model written where a format carries one.
pub const MODEL: &str = "C202";

/// The formats the generator writes (the names `--format` takes).
pub const FORMATS: [&str; 6] = [
    "azure-csv",
    "hex",
    "base32",
    "otpauth",
    "privacyidea",
    "pskc",
];

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct BatchSpec {
    /// Number of tokens.
    pub count: u64,
    /// The first serial (the others follow it).
    pub first: u64,
    /// Seed of the deterministic generator.
    pub seed: u64,
    /// Secret length in bytes (at least 16, as the vault requires).
    pub secret_bytes: usize,
    /// TOTP period in seconds.
    pub period: u32,
}

impl BatchSpec {
    /// `count` tokens from serial `first`, 20-byte secrets, 30 s period.
    pub fn new(count: u64, first: u64, seed: u64) -> BatchSpec {
        BatchSpec {
            count,
            first,
            seed,
            secret_bytes: 20,
            period: 30,
        }
    }

    /// The tokens, in serial order.
    pub fn tokens(&self) -> Tokens {
        Tokens {
            spec: *self,
            next: 0,
            rng: SplitMix64::new(self.seed),
        }
    }
}

/// One generated token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeToken {
    /// The serial, in decimal.
    pub serial: String,
    /// The secret.
    pub secret: Vec<u8>,
    /// TOTP period in seconds.
    pub period: u32,
}

impl FakeToken {
    /// The secret in lowercase hex.
    pub fn secret_hex(&self) -> String {
        data_encoding::HEXLOWER.encode(&self.secret)
    }

    /// The secret in unpadded Base32, as factories write it.
    pub fn secret_base32(&self) -> String {
        data_encoding::BASE32_NOPAD.encode(&self.secret)
    }
}

/// SplitMix64 (Steele, Lea and Flood, 2014): small, fast, and every seed
/// gives a full-period, well-mixed stream. Not for keys; for test data.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// The iterator of [`BatchSpec::tokens`].
#[derive(Debug)]
pub struct Tokens {
    spec: BatchSpec,
    next: u64,
    rng: SplitMix64,
}

impl Iterator for Tokens {
    type Item = FakeToken;

    fn next(&mut self) -> Option<FakeToken> {
        if self.next >= self.spec.count {
            return None;
        }
        let mut secret = vec![0u8; self.spec.secret_bytes];
        // The vault refuses a secret that repeats one byte (all zero
        // included); draw again in the rare case the stream gives one.
        loop {
            self.rng.fill(&mut secret);
            if secret.iter().any(|&b| b != secret[0]) {
                break;
            }
        }
        let token = FakeToken {
            serial: (self.spec.first + self.next).to_string(),
            secret,
            period: self.spec.period,
        };
        self.next += 1;
        Some(token)
    }
}

/// Writes the tokens of `spec` in `format` to `out`.
///
/// Panics on an unknown format name: a test asking for one is wrong.
pub fn write_batch(format: &str, spec: &BatchSpec, out: &mut dyn Write) -> io::Result<()> {
    let tokens = spec.tokens();
    match format {
        "azure-csv" => {
            writeln!(
                out,
                "upn,serial number,secret key,time interval,manufacturer,model"
            )?;
            for t in tokens {
                writeln!(
                    out,
                    ",{},{},{},{MANUFACTURER},{MODEL}",
                    t.serial,
                    t.secret_base32(),
                    t.period
                )?;
            }
        }
        "hex" => {
            for t in tokens {
                writeln!(out, "{},{}", t.serial, t.secret_hex())?;
            }
        }
        "base32" => {
            for t in tokens {
                writeln!(out, "{},{}", t.serial, t.secret_base32())?;
            }
        }
        "otpauth" => {
            for t in tokens {
                writeln!(
                    out,
                    "otpauth://totp/{MANUFACTURER}:{}?secret={}&issuer={MANUFACTURER}&algorithm=SHA1&digits=6&period={}",
                    t.serial,
                    t.secret_base32(),
                    t.period
                )?;
            }
        }
        "privacyidea" => {
            for t in tokens {
                writeln!(
                    out,
                    "{}, {}, totp, 6, {}",
                    t.serial,
                    t.secret_hex(),
                    t.period
                )?;
            }
        }
        "pskc" => write_pskc(tokens, out)?,
        other => panic!("the batch generator has no format {other:?}; one of {FORMATS:?}"),
    }
    Ok(())
}

/// RFC 6030 plain PSKC: a two-line header, then seven lines per
/// KeyPackage (the fifth holds the secret), then the closing tag. Tests
/// count on this layout to name lines.
fn write_pskc(tokens: Tokens, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc">"#
    )?;
    for t in tokens {
        let s = &t.serial;
        writeln!(out, "  <KeyPackage>")?;
        writeln!(
            out,
            "    <DeviceInfo><Manufacturer>{MANUFACTURER}</Manufacturer><SerialNo>{s}</SerialNo><Model>{MODEL}</Model></DeviceInfo>"
        )?;
        writeln!(
            out,
            r#"    <Key Id="{s}" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp">"#
        )?;
        writeln!(
            out,
            r#"      <AlgorithmParameters><ResponseFormat Length="6" Encoding="DECIMAL"/></AlgorithmParameters>"#
        )?;
        writeln!(
            out,
            "      <Data><Secret><PlainValue>{}</PlainValue></Secret><TimeInterval><PlainValue>{}</PlainValue></TimeInterval></Data>",
            data_encoding::BASE64.encode(&t.secret),
            t.period
        )?;
        writeln!(out, "    </Key>")?;
        writeln!(out, "  </KeyPackage>")?;
    }
    writeln!(out, "</KeyContainer>")
}

/// The truth file: one JSON object per token (serial, secret_hex,
/// algorithm, digits, period), one a line.
pub fn write_truth(spec: &BatchSpec, out: &mut dyn Write) -> io::Result<()> {
    for t in spec.tokens() {
        writeln!(
            out,
            r#"{{"serial": "{}", "secret_hex": "{}", "algorithm": "SHA1", "digits": 6, "period": {}}}"#,
            t.serial,
            t.secret_hex(),
            t.period
        )?;
    }
    Ok(())
}

/// Writes the batch to `batch` and, if given, its truth to `truth`.
pub fn write_files(
    format: &str,
    spec: &BatchSpec,
    batch: &Path,
    truth: Option<&Path>,
) -> io::Result<()> {
    let mut out = io::BufWriter::new(std::fs::File::create(batch)?);
    write_batch(format, spec, &mut out)?;
    out.flush()?;
    if let Some(truth) = truth {
        let mut out = io::BufWriter::new(std::fs::File::create(truth)?);
        write_truth(spec, &mut out)?;
        out.flush()?;
    }
    Ok(())
}
