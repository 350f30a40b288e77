//! One KeyPackage to one token.
//!
//! Everything here is a record error, not a file error: one bad package
//! must not hide the others, so ingest can list them all. Messages name the
//! field and never carry a secret, not even a wrong one.

use zeroize::Zeroizing;

use super::read::{base64, encrypted_data, printable, Keys};
use super::xml::{Element, Ns};
use crate::formats::RecordError;
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
        })
        .map(printable);
    let fail = |problem: String| RecordError {
        line: pkg.line,
        serial: serial_text.clone(),
        problem,
    };

    let key = key.ok_or_else(|| fail("the KeyPackage has no Key".into()))?;
    if pkg.children_named(Ns::Pskc, "Key").count() > 1 {
        return Err(fail("the KeyPackage has more than one Key".into()));
    }
    let serial = match &serial_text {
        Some(text) => Serial::parse(text).map_err(|e| fail(e.to_string()))?,
        None => {
            return Err(fail(
                "no serial: the KeyPackage has neither DeviceInfo/SerialNo nor a Key Id".into(),
            ))
        }
    };

    let uri = key
        .attr("Algorithm")
        .ok_or_else(|| fail("the Key has no Algorithm".into()))?;
    let otp = otp_type(uri).ok_or_else(|| {
        fail(format!(
            "unknown algorithm {:?}; only HOTP and TOTP keys can be read",
            printable(uri)
        ))
    })?;

    let params = key.child(Ns::Pskc, "AlgorithmParameters");
    let algorithm = match params
        .and_then(|p| p.child(Ns::Pskc, "Suite"))
        .map(|s| s.trimmed())
    {
        None | Some("") => Algorithm::Sha1,
        Some(suite) => Algorithm::parse(suite).ok_or_else(|| {
            fail(format!(
                "unknown hash {:?} in Suite; SHA1, SHA256 and SHA512 are supported",
                printable(suite)
            ))
        })?,
    };
    let digits = match params.and_then(|p| p.child(Ns::Pskc, "ResponseFormat")) {
        None => 6,
        Some(format) => {
            if let Some(encoding) = format.attr("Encoding") {
                if !encoding.trim().eq_ignore_ascii_case("DECIMAL") {
                    return Err(fail(format!(
                        "ResponseFormat Encoding {:?} is not supported; only DECIMAL is",
                        printable(encoding)
                    )));
                }
            }
            let length = format.attr("Length").unwrap_or_default().trim();
            match length {
                "6" => 6,
                "8" => 8,
                _ => {
                    return Err(fail(format!(
                        "ResponseFormat Length {:?} is not supported; codes have 6 or 8 digits",
                        printable(length)
                    )))
                }
            }
        }
    };

    let data = key.child(Ns::Pskc, "Data");
    let field = |name: &str| data.and_then(|d| d.child(Ns::Pskc, name));
    let secret = field("Secret").ok_or_else(|| fail("the Key has no Data/Secret".into()))?;
    let bytes = match value(secret, keys).map_err(&fail)? {
        Raw::Plain(_) if keys.encrypted => {
            return Err(fail(
                "the Secret is in plain text in an encrypted file; refused, since nothing shows who put it there"
                    .into(),
            ))
        }
        Raw::Plain(text) => base64(text).map_err(|e| fail(format!("the Secret is {e}")))?,
        Raw::Decrypted(mut plain) => std::mem::take(&mut *plain),
    };
    let seed = Seed::new(bytes).map_err(|e| fail(e.to_string()))?;

    let kind = match otp {
        OtpType::Hotp => OtpKind::Hotp {
            counter: match field("Counter") {
                Some(el) => integer(el, keys).map_err(&fail)?,
                None => 0,
            },
        },
        OtpType::Totp => {
            let period = match field("TimeInterval") {
                Some(el) => integer(el, keys).map_err(&fail)?,
                None => u64::from(DEFAULT_PERIOD),
            };
            let period = u32::try_from(period)
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| {
                    fail(format!(
                        "TimeInterval {period} is not a usable period in seconds"
                    ))
                })?;
            if let Some(el) = field("Time") {
                let t0 = integer(el, keys).map_err(&fail)?;
                if t0 != 0 {
                    return Err(fail(format!(
                        "Time (T0) is {t0}; only tokens counting from the Unix epoch (0) are supported"
                    )));
                }
            }
            if let Some(el) = field("TimeDrift") {
                // Checked, then left out: verification allows a window of steps.
                signed(el, keys).map_err(&fail)?;
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
    Ok(Token {
        serial,
        seed,
        params: TokenParams {
            algorithm,
            digits,
            kind,
            manufacturer: text("Manufacturer"),
            model: text("Model"),
        },
    })
}

/// The PlainValue, or the EncryptedValue after its ValueMAC is checked.
fn value<'e>(el: &'e Element, keys: &Keys) -> Result<Raw<'e>, String> {
    let name = &el.name;
    if let Some(plain) = el.child(Ns::Pskc, "PlainValue") {
        return Ok(Raw::Plain(plain.trimmed()));
    }
    let Some(encrypted) = el.child(Ns::Pskc, "EncryptedValue") else {
        return Err(format!(
            "the {name} has neither a PlainValue nor an EncryptedValue"
        ));
    };
    let (cipher, data) = encrypted_data(encrypted).map_err(|e| format!("{name}: {e}"))?;
    let Some(mac) = el.child(Ns::Pskc, "ValueMAC") else {
        return Err(format!(
            "the encrypted {name} has no ValueMAC, so it cannot be checked"
        ));
    };
    let Some(enc_key) = &keys.enc else {
        return Err(format!("the {name} is encrypted and no key was given"));
    };
    let Some((alg, mac_key)) = &keys.mac else {
        return Err(format!(
            "the {name} has a ValueMAC but the file has no MACMethod to check it with"
        ));
    };
    let tag = base64(&mac.text).map_err(|e| format!("the ValueMAC of the {name} is {e}"))?;
    // Encrypt-then-MAC: the MAC covers IV || ciphertext and is checked
    // first, so nothing unauthenticated is ever decrypted.
    if !alg.verify(super::crypto::expose(mac_key), &data, &tag) {
        return Err(format!(
            "the ValueMAC of the {name} does not match: the key or password is wrong, or the file was altered"
        ));
    }
    let plain = cipher
        .decrypt(super::crypto::expose(enc_key), &data)
        .map_err(|e| format!("cannot decrypt the {name}: {e}"))?;
    Ok(Raw::Decrypted(plain))
}

/// A non-negative integer field (Counter, TimeInterval, Time): decimal
/// text when plain, a big-endian binary integer when encrypted (as
/// python-pskc writes it).
fn integer(el: &Element, keys: &Keys) -> Result<u64, String> {
    match value(el, keys)? {
        Raw::Plain(text) => text.parse::<u64>().map_err(|_| {
            format!(
                "{} {:?} is not a non-negative integer",
                el.name,
                printable(text)
            )
        }),
        Raw::Decrypted(bytes) => big_endian(el, &bytes),
    }
}

/// A signed integer field (TimeDrift).
fn signed(el: &Element, keys: &Keys) -> Result<i64, String> {
    match value(el, keys)? {
        Raw::Plain(text) => text
            .parse::<i64>()
            .map_err(|_| format!("{} {:?} is not an integer", el.name, printable(text))),
        // Two's complement of the same width: the cast is the intent.
        Raw::Decrypted(bytes) => big_endian(el, &bytes).map(|n| n as i64),
    }
}

fn big_endian(el: &Element, bytes: &[u8]) -> Result<u64, String> {
    if bytes.len() > 8 {
        return Err(format!(
            "the encrypted {} is {} bytes, longer than an integer",
            el.name,
            bytes.len()
        ));
    }
    Ok(bytes.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b)))
}
