//! `hex` and `base32`: the bare `serial,secret` files many factories send.
//!
//! One format with two encodings of the secret column, hence one module:
//! the header rule, the field count, the defaults and the refusal to write
//! what the file cannot say are the same for both, and only the decoder
//! and the encoder differ (a [`SecretEncoding`] picks them). Two modules
//! would hold the same reader twice and could drift apart.
//!
//! The file carries no token parameters, so a reader must take every token
//! as TOTP, SHA1, 6 digits, 30 s. Writing refuses any other token for that
//! reason: the customer would load a file that computes wrong codes.

use std::io::BufRead;

use super::lines::{
    decode_base32, decode_hex, push_base32, push_hex, serial_and_field_count, to_seed, Fields,
    Lines,
};
use super::problem::Problem;
use super::{LocatedRecords, RecordError};
use crate::token::{Token, TokenParams};

/// How the secret column of a two-column file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SecretEncoding {
    Hex,
    Base32,
}

/// True when a first line `a,b` of a two-column file is a header such as
/// `serial,secret_hex` or `Serial Number,Seed`, not a record.
pub(crate) fn is_pair_header(first: &str, second: &str) -> bool {
    let (a, b) = (
        first.trim().to_ascii_lowercase(),
        second.trim().to_ascii_lowercase(),
    );
    a.starts_with("serial") && ["secret", "seed", "key"].iter().any(|w| b.starts_with(w))
}

/// Reads `serial,secret` lines (`hex` or `base32`). A first line like
/// `serial,secret_hex` is taken as a header and skipped (see [`is_pair_header`]);
/// `#` lines are comments. Tokens get the defaults (SHA1, 6 digits, TOTP 30 s).
pub(crate) fn read_pairs<'a>(
    input: Box<dyn BufRead + 'a>,
    encoding: SecretEncoding,
) -> LocatedRecords<'a> {
    let mut scratch = Vec::new();
    let mut first = true;
    Lines::new(input, true, true).into_records(move |line, l| {
        let f = l.fields();
        if std::mem::take(&mut first) && is_pair_header(f.get(0), f.get(1)) {
            return None;
        }
        Some(pair_record(line, f, encoding, &mut scratch))
    })
}

fn pair_record(
    line: u64,
    f: Fields<'_>,
    encoding: SecretEncoding,
    scratch: &mut Vec<u8>,
) -> Result<Token, RecordError> {
    let serial = serial_and_field_count(line, &f, 2, "2 fields (`serial,secret`)")?;
    let err = |p: Problem| RecordError::of(line, &serial, p);
    let bytes = match encoding {
        SecretEncoding::Hex => decode_hex(f.get(1), scratch),
        SecretEncoding::Base32 => decode_base32(f.get(1), scratch),
    };
    let seed = bytes.and_then(to_seed).map_err(err)?;
    Ok(Token {
        serial,
        seed,
        params: TokenParams::default(),
    })
}

/// What a `serial,secret` file cannot carry: anything but the defaults
/// every reader assumes (TOTP, 30 s, SHA1, 6 digits). Writing another
/// token would hand the customer a file that computes wrong codes. A
/// manufacturer or model is simply not written (it changes no code).
pub(crate) fn limits(p: &TokenParams) -> Vec<String> {
    let d = TokenParams::default();
    let mut reasons = Vec::new();
    if p.kind != d.kind {
        reasons.push(format!(
            "{}; the file can only mean {}",
            super::kind_words(p.kind),
            super::kind_words(d.kind)
        ));
    }
    if p.algorithm != d.algorithm {
        reasons.push(format!(
            "{} codes; the file can only mean {}",
            p.algorithm, d.algorithm
        ));
    }
    if p.digits != d.digits {
        reasons.push(format!(
            "{} digits; the file can only mean {}",
            p.digits, d.digits
        ));
    }
    reasons
}

/// Appends a `serial,secret` line; parameters are not carried (the
/// [`super::Writer`] refused any token [`limits`] names).
pub(crate) fn push_pair(buf: &mut Vec<u8>, encoding: SecretEncoding, t: &Token) {
    buf.extend_from_slice(t.serial.as_str().as_bytes());
    buf.push(b',');
    match encoding {
        SecretEncoding::Hex => push_hex(buf, &t.seed),
        SecretEncoding::Base32 => push_base32(buf, &t.seed),
    }
    buf.push(b'\n');
}
