//! `otpauth://` Key URIs, one per line (the Google Authenticator Key Uri
//! Format that every authenticator app and many provisioning tools accept).
//!
//! ```text
//! otpauth://totp/Issuer:SERIAL?secret=BASE32&issuer=Issuer&algorithm=SHA1&digits=6&period=30
//! otpauth://hotp/SERIAL?secret=BASE32&counter=0
//! ```
//!
//! The serial is the account-name part of the label (after the last `:`);
//! the issuer (the `issuer` parameter, else the label prefix) is kept as
//! the token's manufacturer. The model is not carried. Parameters are
//! percent-decoded; unknown parameters are ignored, as the format asks.

use std::io::BufRead;

use super::lines::{
    self, decode_base32, parse_counter, parse_digits, parse_period, parse_serial, to_seed, Lines,
};
use super::problem::Problem;
use super::{FormatError, LocatedRecords, ReadOptions, RecordError, Records};
use crate::token::{Algorithm, OtpKind, Token, TokenParams};

const SCHEME: &str = "otpauth://";

/// Reads one URI per line; blank lines and `#` comments are skipped.
pub fn reader<'a>(
    input: Box<dyn BufRead + 'a>,
    opts: &'a ReadOptions,
) -> Result<Records<'a>, FormatError> {
    let _ = opts;
    Ok(Box::new(read_located(input).map(|r| r.map(|(_, t)| t))))
}

/// As [`reader`], with the line of each record.
pub(crate) fn read_located<'a>(input: Box<dyn BufRead + 'a>) -> LocatedRecords<'a> {
    let mut scratch = Vec::new();
    Lines::new(input, true, false)
        .into_records(move |line, l| Some(parse_uri(line, l.text(), &mut scratch)))
}

/// Decodes `%XX` escapes (and `+` as a space when `plus_is_space`, as
/// query strings are often written). The secret goes through here when it
/// is escaped, so the work buffer is wiped on every path; the error says
/// nothing of the text.
fn percent_decode(text: &str, plus_is_space: bool) -> Result<String, ()> {
    if !text.contains(['%', '+']) {
        return Ok(text.to_owned());
    }
    let b = text.as_bytes();
    let mut out = zeroize::Zeroizing::new(Vec::with_capacity(b.len()));
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok()).ok_or(())?;
                out.push(byte);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    std::str::from_utf8(&out).map_err(|_| ())?;
    // Checked just above; the bytes move into the String without a copy.
    String::from_utf8(std::mem::take(&mut *out)).map_err(|_| ())
}

fn parse_uri(line: u64, text: &str, scratch: &mut Vec<u8>) -> Result<Token, RecordError> {
    let scheme_ok = text
        .get(..SCHEME.len())
        .is_some_and(|s| s.eq_ignore_ascii_case(SCHEME));
    if !scheme_ok {
        return Err(RecordError::at(line, Problem::NotOtpauthUri));
    }
    let rest = &text[SCHEME.len()..];
    let (kind_name, rest) = rest.split_once('/').unwrap_or((rest, ""));
    let (label, query) = rest.split_once('?').unwrap_or((rest, ""));
    let label = percent_decode(label, false)
        .map_err(|()| RecordError::at(line, Problem::BadPercentEscape { part: "label" }))?;
    let (label_issuer, account) = match label.rsplit_once(':') {
        Some((i, a)) => (Some(i.trim()), a),
        None => (None, label.as_str()),
    };
    let serial = parse_serial(line, account)?;
    let err = |p: Problem| RecordError::of(line, &serial, p);

    let mut secret = None;
    let (mut issuer, mut algorithm, mut digits, mut period, mut counter) =
        (None, None, None, None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key.to_ascii_lowercase().as_str() {
            // The secret is Base32 and needs no decoding; never copy it around.
            "secret" => secret = Some(value),
            "issuer" => {
                issuer = Some(
                    percent_decode(value, true)
                        .map_err(|()| err(Problem::BadPercentEscape { part: "issuer" }))?,
                )
            }
            "algorithm" => algorithm = Some(value),
            "digits" => digits = Some(value),
            "period" => period = Some(value),
            "counter" => counter = Some(value),
            _ => {}
        }
    }
    let kind = match kind_name.to_ascii_lowercase().as_str() {
        "totp" => OtpKind::Totp {
            period: parse_period(period.unwrap_or("")).map_err(err)?,
        },
        "hotp" => match counter {
            Some(c) if !c.is_empty() => OtpKind::Hotp {
                counter: parse_counter(c).map_err(err)?,
            },
            _ => return Err(err(Problem::HotpWithoutCounter)),
        },
        _ => return Err(err(Problem::TypeUnsupported)),
    };
    let algorithm = match algorithm {
        None | Some("") => Algorithm::Sha1,
        Some(a) => Algorithm::parse(a).ok_or_else(|| err(Problem::HashUnknown))?,
    };
    let digits = parse_digits(digits.unwrap_or("")).map_err(err)?;
    let Some(secret) = secret else {
        return Err(err(Problem::SecretMissing));
    };
    // Base32 from a URI may carry `%3D` padding or `%20` group spaces.
    let seed = if secret.contains('%') {
        let mut decoded = percent_decode(secret, false)
            .map_err(|()| err(Problem::BadPercentEscape { part: "secret" }))?;
        let seed = decode_base32(&decoded, scratch);
        zeroize::Zeroize::zeroize(&mut decoded);
        seed
    } else {
        decode_base32(secret, scratch)
    };
    let seed = seed.and_then(to_seed).map_err(err)?;
    let manufacturer = issuer
        .or(label_issuer.map(str::to_owned))
        .filter(|i| !i.is_empty());
    if let Some(m) = &manufacturer {
        super::problem::clear_text(m, "issuer").map_err(err)?;
    }
    let params = TokenParams {
        algorithm,
        digits,
        kind,
        manufacturer,
        model: None,
    };
    Ok(Token {
        serial,
        seed,
        params,
    })
}

/// Appends `text` percent-encoded (everything but RFC 3986 unreserved characters).
fn push_encoded(buf: &mut Vec<u8>, text: &str) {
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            buf.push(b);
        } else {
            buf.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
}

/// Writes one URI per token: label `Manufacturer:SERIAL` (or `SERIAL`),
/// secret in unpadded Base32, and every parameter spelled out.
pub(crate) fn push_line(buf: &mut Vec<u8>, t: &Token) -> Result<(), FormatError> {
    let p = &t.params;
    let kind = match p.kind {
        OtpKind::Totp { .. } => "totp",
        OtpKind::Hotp { .. } => "hotp",
    };
    buf.extend_from_slice(SCHEME.as_bytes());
    buf.extend_from_slice(kind.as_bytes());
    buf.push(b'/');
    if let Some(m) = &p.manufacturer {
        push_encoded(buf, m);
        buf.push(b':');
    }
    buf.extend_from_slice(t.serial.as_str().as_bytes());
    buf.extend_from_slice(b"?secret=");
    lines::push_base32(buf, &t.seed);
    if let Some(m) = &p.manufacturer {
        buf.extend_from_slice(b"&issuer=");
        push_encoded(buf, m);
    }
    let tail = match p.kind {
        OtpKind::Totp { period } => format!(
            "&algorithm={}&digits={}&period={period}\n",
            p.algorithm, p.digits
        ),
        OtpKind::Hotp { counter } => format!(
            "&algorithm={}&digits={}&counter={counter}\n",
            p.algorithm, p.digits
        ),
    };
    buf.extend_from_slice(tail.as_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("ACME%20Co%3A", false).unwrap(), "ACME Co:");
        assert_eq!(percent_decode("a+b", true).unwrap(), "a b");
        assert!(percent_decode("%G0", false).is_err());
    }
}
