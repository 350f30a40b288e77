//! privacyIDEA's OATH CSV: `serial, seed_hex, type, digits, timestep`.
//!
//! The one CSV format that carries most token parameters, column by
//! column, and the one customers running privacyIDEA import. Both ways
//! follow what privacyIDEA's own importer (`parseOATHcsv` in
//! `privacyidea/lib/importotp.py`, with each token class's
//! `get_import_csv`) does with the same file, so a token means here what
//! it will mean there:
//!
//! - privacyIDEA has no hash column: it takes the hash from the length of
//!   the hex key (64 hex digits SHA256, 128 SHA512, 56 SHA224, 96 SHA384,
//!   anything else SHA1). The reader applies that rule; the writer refuses
//!   every token whose hash is not the one its seed length implies
//!   ([`limits`]), since privacyIDEA would compute other codes from it.
//! - A first line `# version: 2` puts three user columns (user, resolver,
//!   realm) before the serial. The reader skips them (the vault keeps no
//!   users); the writer writes no version line.
//! - The fifth column is the HOTP counter or the TOTP time step; missing
//!   trailing columns take privacyIDEA's defaults (type hotp, 6 digits,
//!   30 s, counter 0).

use std::io::BufRead;

use super::lines::{
    decode_hex, parse_counter, parse_digits, parse_period, push_hex, serial_and_field_count,
    to_seed, Fields, Lines,
};
use super::problem::Problem;
use super::{LocatedRecords, RecordError};
use crate::token::{Algorithm, OtpKind, Token, TokenParams};

/// The token types privacyIDEA's CSV import knows besides hotp and totp,
/// refused by name (the vault holds HOTP and TOTP seeds only).
const OTHER_TYPES: [&str; 8] = [
    "ocra",
    "tan",
    "daypassword",
    "motp",
    "spass",
    "paper",
    "yubikey",
    "indexedsecret",
];

/// The hash privacyIDEA takes for a hex key of `hex_digits` characters
/// (`TokenClass.get_import_csv`): its name, and ours when the vault can
/// hold it.
fn implied_hash(hex_digits: usize) -> (&'static str, Option<Algorithm>) {
    match hex_digits {
        64 => ("SHA256", Some(Algorithm::Sha256)),
        128 => ("SHA512", Some(Algorithm::Sha512)),
        56 => ("SHA224", None),
        96 => ("SHA384", None),
        _ => ("SHA1", Some(Algorithm::Sha1)),
    }
}

/// Reads privacyIDEA's OATH CSV as its importer (`parseOATHcsv`) does:
///
/// ```text
/// serial, seed_hex, totp, [6|8], [timestep]
/// serial, seed_hex, hotp, [6|8], [counter]
/// ```
///
/// With `# version: 2` as the very first line, every line starts with
/// three user columns (user, resolver, realm), which are skipped. Other
/// `#` lines are comments. The hash is the one privacyIDEA takes from the
/// key's length; a sixth column naming a hash (LinOTP's variant) is
/// accepted only when it names that same hash, since privacyIDEA ignores
/// it and would compute other codes than the column says.
pub(crate) fn read_privacyidea<'a>(input: Box<dyn BufRead + 'a>) -> LocatedRecords<'a> {
    let mut scratch = Vec::new();
    let mut user_columns = false;
    // Comments are handled here: the first line may be the version line.
    Lines::new(input, false, true).into_records(move |line, l| {
        let text = l.text();
        if text.starts_with('#') {
            if line == 1 {
                user_columns = is_version_2(text);
            }
            return None;
        }
        let fields = l.fields();
        Some(if user_columns {
            privacyidea_record(line, fields.skip(3), LAYOUT_V2, &mut scratch)
        } else {
            privacyidea_record(line, fields, LAYOUT, &mut scratch)
        })
    })
}

const LAYOUT: &str =
    "at most 6 fields (`serial, seed_hex, type, digits, timestep|counter, hash`; with user columns first, the file starts with `# version: 2`)";
const LAYOUT_V2: &str =
    "at most 9 fields in a `# version: 2` file (`user, resolver, realm, serial, seed_hex, type, digits, timestep|counter, hash`)";

/// privacyIDEA's test `^#\s*version:\s*(\d+)` on the first line, with the
/// number compared as text to `2` (so `02` is not 2 there, nor here).
fn is_version_2(first: &str) -> bool {
    let rest = first.trim_start_matches('#').trim_start();
    let Some(rest) = rest.strip_prefix("version:") else {
        return false;
    };
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits == "2"
}

fn privacyidea_record(
    line: u64,
    f: Fields<'_>,
    layout: &'static str,
    scratch: &mut Vec<u8>,
) -> Result<Token, RecordError> {
    // The count before the serial: a line with more columns than the
    // layout may start with a user name, which must not be called a serial.
    if f.error.is_none() && f.len_used() > 6 {
        return Err(RecordError::at(
            line,
            Problem::FieldCount {
                expected: layout,
                found: f.len_used(),
            },
        ));
    }
    let serial = serial_and_field_count(line, &f, 6, layout)?;
    let err = |p: Problem| RecordError::of(line, &serial, p);
    let kind_name = match f.get(2) {
        "" => "hotp".to_owned(),
        k => k.to_ascii_lowercase(),
    };
    if kind_name != "totp" && kind_name != "hotp" {
        return Err(err(match OTHER_TYPES.iter().find(|t| **t == kind_name) {
            Some(name) => Problem::TypeNamedUnsupported { name },
            None => Problem::TypeUnsupported,
        }));
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
    let key_digits = f.get(1).chars().count();
    let (implied, ours) = implied_hash(key_digits);
    let named = match f.get(5) {
        "" => None,
        a => Some(Algorithm::parse(a).ok_or_else(|| err(Problem::HashUnknown))?),
    };
    let algorithm = match (ours, named) {
        (Some(a), None) => a,
        (Some(a), Some(n)) if a == n => a,
        (_, named) => {
            return Err(err(Problem::PrivacyIdeaHash {
                key_digits,
                implied,
                named: named.map(Algorithm::name),
            }))
        }
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

/// What a privacyIDEA file cannot carry faithfully, every reason (empty
/// when it can): digits other than 6 or 8, a time step of 0, and a hash
/// other than the one privacyIDEA takes from the seed's length.
pub(crate) fn limits(p: &TokenParams, seed_len: usize) -> Vec<String> {
    let mut reasons = super::lines::limits(p);
    let (implied, _) = implied_hash(seed_len.saturating_mul(2));
    if p.algorithm.name() != implied {
        reasons.push(format!(
            "{} with a {seed_len}-byte seed; privacyIDEA takes the hash from the seed length and would compute {implied} codes",
            p.algorithm
        ));
    }
    reasons
}

/// Appends a privacyIDEA line: `serial, seed_hex, type, digits,
/// timestep|counter`. No hash column: privacyIDEA ignores one (the
/// [`super::Writer`] refused every token whose hash the seed length does
/// not imply).
pub(crate) fn push_privacyidea(buf: &mut Vec<u8>, t: &Token) {
    buf.extend_from_slice(t.serial.as_str().as_bytes());
    buf.extend_from_slice(b", ");
    push_hex(buf, &t.seed);
    let p = &t.params;
    let tail = match p.kind {
        OtpKind::Totp { period } => format!(", totp, {}, {}\n", p.digits, period),
        OtpKind::Hotp { counter } => format!(", hotp, {}, {}\n", p.digits, counter),
    };
    buf.extend_from_slice(tail.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_line_is_read_as_privacyidea_reads_it() {
        assert!(is_version_2("# version: 2"));
        assert!(is_version_2("#version:2"));
        assert!(is_version_2("# version: 2 (with users)"));
        assert!(!is_version_2("# version: 1"));
        assert!(!is_version_2("# version: 02"));
        assert!(!is_version_2("# version: 23"));
        assert!(!is_version_2("# comment"));
    }

    #[test]
    fn the_hash_follows_the_key_length() {
        assert_eq!(implied_hash(40), ("SHA1", Some(Algorithm::Sha1)));
        assert_eq!(implied_hash(64), ("SHA256", Some(Algorithm::Sha256)));
        assert_eq!(implied_hash(128), ("SHA512", Some(Algorithm::Sha512)));
        assert_eq!(implied_hash(96), ("SHA384", None));
        assert_eq!(implied_hash(56), ("SHA224", None));
    }
}
