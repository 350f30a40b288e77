//! One KeyPackage to one token.
//!
//! Everything here is a record error, not a file error: one bad package
//! must not hide the others, so ingest can list them all. Problems are
//! typed ([`PskcProblem`]): they name the field, never its content.

use zeroize::Zeroizing;

use super::read::{base64, encrypted_data, Keys};
use super::xml::{Element, Ns};
use crate::formats::problem::{clear_text, number, PskcProblem};
use crate::formats::{Problem, RecordError, RecordSerial};
use crate::token::{Algorithm, OtpKind, Seed, Serial, Token, TokenParams};

/// TOTP period when a file gives no TimeInterval (RFC 6238's default).
const DEFAULT_PERIOD: u32 = 30;

/// HOTP or TOTP, from the Key's Algorithm URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OtpType {
    /// RFC 4226.
    Hotp,
    /// RFC 6238.
    Totp,
}

/// Recognizes the algorithm URIs of HOTP and TOTP: RFC 6030's
/// `urn:ietf:params:xml:ns:keyprov:pskc:hotp`, the registry's `…:totp`, and
/// the `#hotp`/`#totp` and `http://www.ietf.org/keyprov/pskc` forms older
/// drafts used and some vendors still write. Case is ignored.
pub(super) fn otp_type(uri: &str) -> Option<OtpType> {
    let uri = uri.trim().to_ascii_lowercase();
    [
        "urn:ietf:params:xml:ns:keyprov:pskc",
        "http://www.ietf.org/keyprov/pskc",
    ]
    .iter()
    .find_map(|base| match uri.strip_prefix(base)? {
        ":hotp" | "#hotp" => Some(OtpType::Hotp),
        ":totp" | "#totp" => Some(OtpType::Totp),
        _ => None,
    })
}

/// A value as the file holds it: plain text, or decrypted bytes.
enum Raw<'e> {
    Plain(&'e str),
    Decrypted(Zeroizing<Vec<u8>>),
}

/// The fixed name of a value field, for messages (never the file's text).
fn field_name(el: &Element) -> &'static str {
    match el.name.as_str() {
        "Secret" => "Secret",
        "Counter" => "Counter",
        "TimeInterval" => "TimeInterval",
        "Time" => "Time",
        "TimeDrift" => "TimeDrift",
        _ => "value",
    }
}

/// Reads a KeyPackage element into a token.
pub(super) fn token(pkg: &Element, keys: &Keys) -> Result<Token, RecordError> {
    let device = pkg.child(Ns::Pskc, "DeviceInfo");
    let key = pkg.child(Ns::Pskc, "Key");
    let serial_text = device
        .and_then(|d| d.child(Ns::Pskc, "SerialNo"))
        .map(|s| s.trimmed())
        .filter(|s| !s.is_empty())
        .or_else(|| {
            key.and_then(|k| k.attr("Id"))
                .map(str::trim)
                .filter(|s| !s.is_empty())
        });
    // Checked first, so that every message can say which serial, and none
    // shows a serial field that is not one.
    let serial = serial_text.map(|t| Serial::parse(t).map_err(|e| Problem::serial(t, &e)));
    let shown = match &serial {
        Some(Ok(s)) => RecordSerial::of(s),
        _ => RecordSerial::Unknown,
    };
    let fail = |problem: Problem| RecordError {
        line: pkg.line,
        serial: shown.clone(),
        problem,
    };
    let pskc = |p: PskcProblem| fail(Problem::Pskc(p));

    let key = key.ok_or_else(|| pskc(PskcProblem::NoKey))?;
    if pkg.children_named(Ns::Pskc, "Key").count() > 1 {
        return Err(pskc(PskcProblem::ManyKeys));
    }
    let serial = match serial {
        Some(Ok(serial)) => serial,
        Some(Err(p)) => return Err(fail(p)),
        None => return Err(pskc(PskcProblem::NoSerial)),
    };

    let uri = key
        .attr("Algorithm")
        .ok_or_else(|| pskc(PskcProblem::NoAlgorithm))?;
    let otp = otp_type(uri).ok_or_else(|| pskc(PskcProblem::AlgorithmUnsupported))?;

    let params = key.child(Ns::Pskc, "AlgorithmParameters");
    let algorithm = match params
        .and_then(|p| p.child(Ns::Pskc, "Suite"))
        .map(|s| s.trimmed())
    {
        None | Some("") => Algorithm::Sha1,
        Some(suite) => Algorithm::parse(suite).ok_or_else(|| fail(Problem::HashUnknown))?,
    };
    let digits = match params.and_then(|p| p.child(Ns::Pskc, "ResponseFormat")) {
        None => 6,
        Some(format) => {
            if let Some(encoding) = format.attr("Encoding") {
                if !encoding.trim().eq_ignore_ascii_case("DECIMAL") {
                    return Err(pskc(PskcProblem::ResponseEncoding));
                }
            }
            let length = format.attr("Length").unwrap_or_default().trim();
            match length {
                "6" => 6,
                "8" => 8,
                _ => {
                    return Err(fail(Problem::DigitsInvalid {
                        value: number(length),
                    }))
                }
            }
        }
    };

    let data = key.child(Ns::Pskc, "Data");
    let field = |name: &str| data.and_then(|d| d.child(Ns::Pskc, name));
    let secret = field("Secret").ok_or_else(|| pskc(PskcProblem::NoSecret))?;
    let bytes = match value(secret, keys).map_err(&pskc)? {
        Raw::Plain(_) if keys.encrypted => {
            return Err(pskc(PskcProblem::PlainSecretInEncryptedFile))
        }
        Raw::Plain(text) => {
            base64(text).map_err(|()| pskc(PskcProblem::NotBase64 { field: "Secret" }))?
        }
        Raw::Decrypted(mut plain) => std::mem::take(&mut *plain),
    };
    let seed = Seed::new(bytes).map_err(|e| fail(e.into()))?;

    let kind = match otp {
        OtpType::Hotp => OtpKind::Hotp {
            counter: match field("Counter") {
                Some(el) => integer(el, keys).map_err(&pskc)?,
                None => 0,
            },
        },
        OtpType::Totp => {
            let period = match field("TimeInterval") {
                Some(el) => integer(el, keys).map_err(&pskc)?,
                None => u64::from(DEFAULT_PERIOD),
            };
            let period = u32::try_from(period)
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| {
                    fail(Problem::PeriodInvalid {
                        value: Some(period),
                    })
                })?;
            if let Some(el) = field("Time") {
                let t0 = integer(el, keys).map_err(&pskc)?;
                if t0 != 0 {
                    return Err(pskc(PskcProblem::TimeOrigin));
                }
            }
            if let Some(el) = field("TimeDrift") {
                // Checked, then left out: verification allows a window of steps.
                signed(el, keys).map_err(&pskc)?;
            }
            OtpKind::Totp { period }
        }
    };

    let text = |name: &str| {
        device
            .and_then(|d| d.child(Ns::Pskc, name))
            .map(|e| e.trimmed().to_owned())
            .filter(|s| !s.is_empty())
    };
    let (manufacturer, model) = (text("Manufacturer"), text("Model"));
    for (value, field) in [(&manufacturer, "Manufacturer"), (&model, "Model")] {
        if let Some(v) = value {
            clear_text(v, field).map_err(&fail)?;
        }
    }
    Ok(Token {
        serial,
        seed,
        params: TokenParams {
            algorithm,
            digits,
            kind,
            manufacturer,
            model,
        },
    })
}

/// The PlainValue, or the EncryptedValue after its ValueMAC is checked.
fn value<'e>(el: &'e Element, keys: &Keys) -> Result<Raw<'e>, PskcProblem> {
    let field = field_name(el);
    if let Some(plain) = el.child(Ns::Pskc, "PlainValue") {
        return Ok(Raw::Plain(plain.trimmed()));
    }
    let Some(encrypted) = el.child(Ns::Pskc, "EncryptedValue") else {
        return Err(PskcProblem::NoValue { field });
    };
    let (cipher, data) =
        encrypted_data(encrypted).map_err(|what| PskcProblem::BadEncryptedValue { field, what })?;
    let Some(mac) = el.child(Ns::Pskc, "ValueMAC") else {
        return Err(PskcProblem::NoValueMac { field });
    };
    let Some(enc_key) = &keys.enc else {
        return Err(PskcProblem::NoKeyGiven { field });
    };
    let Some((alg, mac_key)) = &keys.mac else {
        return Err(PskcProblem::NoMacMethod { field });
    };
    let tag = base64(&mac.text).map_err(|()| PskcProblem::NotBase64 { field: "ValueMAC" })?;
    // Encrypt-then-MAC: the MAC covers IV || ciphertext and is checked
    // first, so nothing unauthenticated is ever decrypted.
    if !alg.verify(super::crypto::expose(mac_key), &data, &tag) {
        return Err(PskcProblem::MacMismatch { field });
    }
    let plain = cipher
        .decrypt(super::crypto::expose(enc_key), &data)
        .map_err(|_| PskcProblem::Undecryptable { field })?;
    Ok(Raw::Decrypted(plain))
}

/// A non-negative integer field (Counter, TimeInterval, Time): decimal
/// text when plain, a big-endian binary integer when encrypted (as
/// python-pskc writes it).
fn integer(el: &Element, keys: &Keys) -> Result<u64, PskcProblem> {
    match value(el, keys)? {
        Raw::Plain(text) => text.parse::<u64>().map_err(|_| PskcProblem::NotInteger {
            field: field_name(el),
        }),
        Raw::Decrypted(bytes) => big_endian(el, &bytes),
    }
}

/// A signed integer field (TimeDrift).
fn signed(el: &Element, keys: &Keys) -> Result<i64, PskcProblem> {
    match value(el, keys)? {
        Raw::Plain(text) => text.parse::<i64>().map_err(|_| PskcProblem::NotInteger {
            field: field_name(el),
        }),
        // Two's complement of the same width: the cast is the intent.
        #[allow(clippy::cast_possible_wrap)]
        Raw::Decrypted(bytes) => big_endian(el, &bytes).map(|n| n as i64),
    }
}

fn big_endian(el: &Element, bytes: &[u8]) -> Result<u64, PskcProblem> {
    if bytes.len() > 8 {
        return Err(PskcProblem::IntegerTooLong {
            field: field_name(el),
            bytes: bytes.len(),
        });
    }
    Ok(bytes.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b)))
}
