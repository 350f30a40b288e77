//! privacyIDEA's OATH CSV: `serial, seed_hex, type, digits, timestep`.
//!
//! The one CSV format that carries every token parameter, column by column,
//! and the one customers running privacyIDEA (or LinOTP) import. Reading
//! follows what privacyIDEA's importer does with the same file, including
//! its defaults for missing trailing columns and its use of the fifth
//! column as the HOTP counter, so a token reads here as it would load
//! there. Writing first refuses what this reader would refuse (digits
//! other than 6 or 8, a period of 0), so no file we write is one we would
//! not read.

use std::io::BufRead;

use super::lines::{
    check_params, decode_hex, parse_counter, parse_digits, parse_period, push_hex,
    serial_and_field_count, to_seed, Fields, Lines,
};
use super::problem::Problem;
use super::{FormatError, LocatedRecords, RecordError};
use crate::token::{Algorithm, OtpKind, Token, TokenParams};

/// Reads privacyIDEA's OATH CSV, as its importer (`parseOATHcsv`) documents it:
///
/// ```text
/// serial, seed_hex, totp, [6|8], [timestep]
/// serial, seed_hex, hotp, [6|8], [counter]
/// ```
///
/// For HOTP the fifth column is the counter (privacyIDEA's own reading).
/// Missing trailing columns take privacyIDEA's defaults (type hotp, 6
/// digits, 30 s, counter 0). A sixth column, when present, names the hash
/// (`sha1`, `sha256`, `sha512`), as LinOTP's variant of the format does;
/// without it the hash is SHA1. `#` lines (e.g. `# version: 2`) are comments.
pub(crate) fn read_privacyidea<'a>(input: Box<dyn BufRead + 'a>) -> LocatedRecords<'a> {
    let mut scratch = Vec::new();
    Lines::new(input, true, true)
        .into_records(move |line, l| Some(privacyidea_record(line, l.fields(), &mut scratch)))
}

fn privacyidea_record(
    line: u64,
    f: Fields<'_>,
    scratch: &mut Vec<u8>,
) -> Result<Token, RecordError> {
    let serial = serial_and_field_count(
        line,
        &f,
        6,
        "at most 6 fields (`serial, seed_hex, type, digits, timestep, hash`)",
    )?;
    let err = |p: Problem| RecordError::of(line, &serial, p);
    let kind_name = match f.get(2) {
        "" => "hotp".to_owned(),
        k => k.to_ascii_lowercase(),
    };
    if kind_name != "totp" && kind_name != "hotp" {
        return Err(err(Problem::TypeUnsupported));
    }
    let digits = parse_digits(f.get(3)).map_err(err)?;
    let kind = if kind_name == "totp" {
        OtpKind::Totp {
            period: parse_period(f.get(4)).map_err(err)?,
        }
    } else {
        OtpKind::Hotp {
            counter: parse_counter(f.get(4)).map_err(err)?,
        }
    };
    let algorithm = match f.get(5) {
        "" => Algorithm::Sha1,
        a => Algorithm::parse(a).ok_or_else(|| err(Problem::HashUnknown))?,
    };
    let seed = decode_hex(f.get(1), scratch)
        .and_then(to_seed)
        .map_err(err)?;
    let params = TokenParams {
        algorithm,
        digits,
        kind,
        manufacturer: None,
        model: None,
    };
    Ok(Token {
        serial,
        seed,
        params,
    })
}

/// Appends a privacyIDEA line: `serial, seed_hex, type, digits,
/// timestep|counter`, plus the hash as a sixth column when it is not SHA1.
pub(crate) fn push_privacyidea(buf: &mut Vec<u8>, t: &Token) -> Result<(), FormatError> {
    check_params(t, "privacyidea")?;
    buf.extend_from_slice(t.serial.as_str().as_bytes());
    buf.extend_from_slice(b", ");
    push_hex(buf, &t.seed);
    let p = &t.params;
    let tail = match p.kind {
        OtpKind::Totp { period } => format!(", totp, {}, {}", p.digits, period),
        OtpKind::Hotp { counter } => format!(", hotp, {}, {}", p.digits, counter),
    };
    buf.extend_from_slice(tail.as_bytes());
    if p.algorithm != Algorithm::Sha1 {
        buf.extend_from_slice(b", ");
        buf.extend_from_slice(p.algorithm.name().to_ascii_lowercase().as_bytes());
    }
    buf.push(b'\n');
    Ok(())
}
