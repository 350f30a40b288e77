//! Microsoft Entra (Azure MFA) OATH hardware-token CSV.
//!
//! The file Entra's admin center uploads, and the one customers most often
//! ask for. Its header is fixed (`upn,serial number,secret key,time
//! interval,manufacturer,model`), the secret is Base32 of at most 128
//! characters and the interval 30 or 60. Entra computes SHA-1, 6-digit TOTP
//! codes, so writing refuses any other token rather than hand the customer a
//! file whose codes would never match.
//!
//! Reading is the hot path of a million-token ingest: no CSV crate, one
//! reused line buffer, fields split in place (see [`super::lines`]).

use std::io::BufRead;

use super::lines::{self, decode_base32, parse_serial, to_seed, Fields, Lines};
use super::problem::{clear_text, number, Problem, RecordSerial, RecordWarning, Warning, Warnings};
use super::{FormatError, LocatedRecords, ReadOptions, RecordError, Records, WriteOptions};
use crate::token::{Algorithm, OtpKind, Token, TokenParams};

/// The header line, as Entra's template writes it.
pub const HEADER: &str = "upn,serial number,secret key,time interval,manufacturer,model";
/// Entra's limit on the secret key column.
pub const MAX_SECRET_CHARS: usize = 128;
const COLUMNS: [&str; 6] = [
    "upn",
    "serial number",
    "secret key",
    "time interval",
    "manufacturer",
    "model",
];

/// Reads an Azure CSV file. Fails at once when the header is missing or wrong.
pub fn reader<'a>(
    input: Box<dyn BufRead + 'a>,
    opts: &'a ReadOptions,
) -> Result<Records<'a>, FormatError> {
    Ok(Box::new(
        read_located(input, &opts.warnings)?.map(|r| r.map(|(_, t)| t)),
    ))
}

/// As [`reader`], with the line of each record; what was read generously
/// goes to `warnings`.
pub(crate) fn read_located<'a>(
    input: Box<dyn BufRead + 'a>,
    warnings: &'a Warnings,
) -> Result<LocatedRecords<'a>, FormatError> {
    let mut lines = Lines::new(input, false, true);
    let header_line = match lines.next_line() {
        None => {
            return Err(FormatError::Structure {
                line: 1,
                problem: format!("the file is empty; expected the header `{HEADER}`"),
            })
        }
        Some(Err(e)) => {
            return Err(FormatError::Structure {
                line: e.line,
                problem: e.problem.to_string(),
            })
        }
        Some(Ok(l)) => l,
    };
    check_header(header_line, lines.fields())?;
    let mut scratch = Vec::new();
    Ok(lines.into_records(move |line, l| Some(record(line, l.fields(), &mut scratch, warnings))))
}

fn check_header(line: u64, f: Fields<'_>) -> Result<(), FormatError> {
    let matches = f.error.is_none()
        && f.len_used() == COLUMNS.len()
        && COLUMNS
            .iter()
            .enumerate()
            .all(|(i, c)| f.get(i).eq_ignore_ascii_case(c));
    if matches {
        return Ok(());
    }
    // Never echo the line: without a header it is a record, with a
    // secret. Name the columns that differ, by position.
    let found = if f.error.is_some() {
        "; the line is not valid CSV".to_owned()
    } else {
        let wrong: Vec<String> = COLUMNS
            .iter()
            .enumerate()
            .filter(|(i, c)| !f.get(*i).eq_ignore_ascii_case(c))
            .map(|(i, c)| format!("{} (`{c}`)", i + 1))
            .collect();
        let mut found = format!("; found {} fields", f.len_used());
        if !wrong.is_empty() {
            found.push_str(&format!(
                "; column(s) not as expected: {}",
                wrong.join(", ")
            ));
        }
        found
    };
    Err(FormatError::Structure {
        line,
        problem: format!("missing or wrong Azure MFA header: expected `{HEADER}`{found}"),
    })
}

const LAYOUT: &str = "6 fields (upn,serial number,secret key,time interval,manufacturer,model)";

fn record(
    line: u64,
    f: Fields<'_>,
    scratch: &mut Vec<u8>,
    warnings: &Warnings,
) -> Result<Token, RecordError> {
    if let Some(problem) = f.error {
        return Err(RecordError::at(line, problem.clone()));
    }
    if f.len() < 4 {
        // Too short to know which field is the serial: do not guess.
        return Err(RecordError::at(
            line,
            Problem::FieldCount {
                expected: LAYOUT,
                found: f.len(),
            },
        ));
    }
    if f.get(1).eq_ignore_ascii_case(COLUMNS[1]) && f.get(2).eq_ignore_ascii_case(COLUMNS[2]) {
        return Err(RecordError::at(line, Problem::SecondHeader));
    }
    let serial = parse_serial(line, f.get(1))?;
    let err = |p: Problem| RecordError::of(line, &serial, p);
    if f.len_used() > 6 {
        return Err(err(Problem::FieldCount {
            expected: LAYOUT,
            found: f.len_used(),
        }));
    }
    let secret = f.get(2);
    // Chars other than spaces and padding, counted on bytes (continuation
    // bytes of UTF-8 do not start a char).
    let chars = secret
        .bytes()
        .filter(|&b| !matches!(b, b' ' | b'\t' | b'=') && b & 0xC0 != 0x80)
        .count();
    if chars > MAX_SECRET_CHARS {
        return Err(err(Problem::SecretTooManyCharacters {
            chars,
            max: MAX_SECRET_CHARS,
        }));
    }
    let period = match f.get(3) {
        "30" => 30,
        "60" => 60,
        other => {
            return Err(err(Problem::IntervalInvalid {
                value: number(other),
            }))
        }
    };
    let bytes = match decode_base32(secret, scratch) {
        Err(Problem::SecretStrayBits) => {
            let (bytes, bits) = decode_ignoring_stray_bits(secret).map_err(err)?;
            warnings.push(RecordWarning {
                line,
                serial: RecordSerial::of(&serial),
                warning: Warning::Base32StrayBitsIgnored { bits },
            });
            bytes
        }
        other => other.map_err(err)?,
    };
    let seed = to_seed(bytes).map_err(err)?;
    clear_text(f.get(4), "manufacturer").map_err(err)?;
    clear_text(f.get(5), "model").map_err(err)?;
    let text = |i: usize| Some(f.get(i)).filter(|t| !t.is_empty()).map(str::to_owned);
    let params = TokenParams {
        algorithm: Algorithm::Sha1,
        digits: 6,
        kind: OtpKind::Totp { period },
        manufacturer: text(4),
        model: text(5),
    };
    Ok(Token {
        serial,
        seed,
        params,
    })
}

/// Decodes a Base32 secret whose last symbol sets bits beyond the last
/// whole byte, dropping those bits as Entra and authenticator apps do
/// (RFC 4648 lets a decoder refuse such text, and [`decode_base32`] does).
/// Called only after `decode_base32` found nothing else wrong; returns the
/// bytes and how many bits the last symbol carried past the last byte.
fn decode_ignoring_stray_bits(secret: &str) -> Result<(Vec<u8>, usize), Problem> {
    // The symbols of the secret: wiped on drop.
    let symbols: zeroize::Zeroizing<Vec<u8>> = zeroize::Zeroizing::new(
        secret
            .bytes()
            .filter(|b| !matches!(b, b' ' | b'\t' | b'='))
            .map(|b| b.to_ascii_uppercase())
            .collect(),
    );
    let mut spec = data_encoding::Specification::new();
    spec.symbols.push_str("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
    spec.check_trailing_bits = false;
    let enc = spec.encoding().map_err(|_| Problem::SecretStrayBits)?;
    let len = enc
        .decode_len(symbols.len())
        .map_err(|_| Problem::SecretStrayBits)?;
    let mut out = zeroize::Zeroizing::new(vec![0u8; len]);
    let n = enc
        .decode_mut(&symbols, &mut out)
        .map_err(|_| Problem::SecretStrayBits)?;
    out.truncate(n);
    // Moved out, not copied: the seed takes this buffer over.
    Ok((std::mem::take(&mut *out), symbols.len() * 5 % 8))
}

/// Appends `field` as one CSV cell, quoted when it has to be.
fn push_cell(buf: &mut Vec<u8>, field: &str) {
    let needs_quotes = field.contains([',', '"'])
        || field.starts_with(char::is_whitespace)
        || field.ends_with(char::is_whitespace);
    if needs_quotes {
        buf.push(b'"');
        buf.extend_from_slice(field.replace('"', "\"\"").as_bytes());
        buf.push(b'"');
    } else {
        buf.extend_from_slice(field.as_bytes());
    }
}

/// What an Azure file cannot carry, every reason (empty when it can):
/// Entra computes SHA1, 6-digit TOTP codes every 30 or 60 s from a secret
/// of at most 128 Base32 characters.
pub(crate) fn limits(p: &TokenParams, seed_len: usize) -> Vec<String> {
    let mut reasons = Vec::new();
    match p.kind {
        OtpKind::Totp { period: 30 | 60 } => {}
        OtpKind::Totp { period } => {
            reasons.push(format!("a time step of {period} s; Entra takes 30 or 60"))
        }
        OtpKind::Hotp { .. } => reasons.push("an HOTP token; Entra holds TOTP only".into()),
    }
    if p.algorithm != Algorithm::Sha1 {
        reasons.push(format!("{} codes; Entra computes SHA1 only", p.algorithm));
    }
    if p.digits != 6 {
        reasons.push(format!(
            "{} digits; Entra computes 6-digit codes only",
            p.digits
        ));
    }
    let base32_len = data_encoding::BASE32_NOPAD.encode_len(seed_len);
    if base32_len > MAX_SECRET_CHARS {
        reasons.push(format!(
            "a secret of {base32_len} Base32 characters; Entra allows {MAX_SECRET_CHARS}"
        ));
    }
    if [&p.manufacturer, &p.model]
        .into_iter()
        .flatten()
        .any(|text| text.contains(['\r', '\n']))
    {
        reasons.push("the manufacturer or model contains a line break".into());
    }
    reasons
}

/// The `upn` every line repeats (empty when `opts` has none).
pub(crate) fn upn(opts: &WriteOptions) -> Result<String, FormatError> {
    let upn = opts.upn.clone().unwrap_or_default();
    if upn.contains(['\r', '\n']) {
        return Err(FormatError::Structure {
            line: 0,
            problem: "the upn contains a line break".into(),
        });
    }
    Ok(upn)
}

/// Appends the exact header line an Azure file starts with.
pub(crate) fn push_header(buf: &mut Vec<u8>) {
    buf.extend_from_slice(HEADER.as_bytes());
    buf.push(b'\n');
}

/// Appends one token's line, the secret in unpadded uppercase Base32.
pub(crate) fn push_line(buf: &mut Vec<u8>, upn: &str, t: &Token) -> Result<(), FormatError> {
    // The Writer refused what `limits` names: the period is 30 or 60.
    let period = match t.params.kind {
        OtpKind::Totp { period } => period,
        OtpKind::Hotp { .. } => 0,
    };
    push_cell(buf, upn);
    buf.push(b',');
    buf.extend_from_slice(t.serial.as_str().as_bytes());
    buf.push(b',');
    lines::push_base32(buf, &t.seed);
    buf.extend_from_slice(if period == 30 { b",30," } else { b",60," });
    push_cell(buf, t.params.manufacturer.as_deref().unwrap_or(""));
    buf.push(b',');
    push_cell(buf, t.params.model.as_deref().unwrap_or(""));
    buf.push(b'\n');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, warnings: &Warnings) -> Vec<Result<(u64, Token), RecordError>> {
        read_located(Box::new(text.as_bytes()), warnings)
            .unwrap()
            .collect()
    }

    #[test]
    fn microsofts_example_row_decodes_like_entra_with_a_warning() {
        let w = Warnings::default();
        let text = format!(
            "{HEADER}\nHelga@contoso.com,1234567,2234567abcdef2234567abcdef,60,Contoso,HardwareKey\n"
        );
        let got = read(&text, &w);
        let (line, t) = got[0].as_ref().unwrap();
        assert_eq!((*line, t.serial.as_str()), (2, "1234567"));
        // What Python's base64.b32decode (and Entra) make of it.
        assert_eq!(
            data_encoding::HEXLOWER.encode(t.seed.expose()),
            "d6b7cefbe0088642eb5be77df0044321"
        );
        assert_eq!(t.params.kind, OtpKind::Totp { period: 60 });
        let warnings = w.take();
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].line, 2);
        assert_eq!(
            warnings[0].warning,
            Warning::Base32StrayBitsIgnored { bits: 2 }
        );
        let shown = warnings[0].to_string();
        assert!(shown.starts_with("line 2 (serial 1234567): "), "{shown}");
        assert!(
            !shown.to_ascii_lowercase().contains("2234567abc"),
            "{shown}"
        );
        assert!(w.take().is_empty());
    }

    #[test]
    fn clean_secrets_give_no_warning_and_other_faults_stay_errors() {
        let w = Warnings::default();
        let text = format!(
            "{HEADER}\n,1,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ,30,,\n,2,GEZDGNBVGY3TQOJQGEZDGNBVG,30,,\n"
        );
        let got = read(&text, &w);
        assert!(got[0].is_ok());
        let e = got[1].as_ref().unwrap_err();
        assert!(
            matches!(e.problem, Problem::SecretPartialByte { .. }),
            "{e}"
        );
        assert!(w.take().is_empty());
    }
}
