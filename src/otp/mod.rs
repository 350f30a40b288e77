//! HOTP (RFC 4226) and TOTP (RFC 6238): the codes a token shows.
//!
//! The vault computes codes for one reason: to check that a token in hand
//! belongs to the seed on file (`verify-token`), e.g. before a seed is
//! exported or a token voided. So the API is small — compute a code, or
//! find the drift at which a code a person typed matches — and `verify`
//! compares codes in constant time and tries every step of the window
//! whatever it finds, so timing tells nothing about the seed or the match.

use ring::hmac;
use subtle::ConstantTimeEq;

use crate::token::{Algorithm, OtpKind, Seed, TokenParams};

fn hmac_algorithm(algorithm: Algorithm) -> hmac::Algorithm {
    match algorithm {
        // RFC 4226 is defined on SHA-1; ring names it "legacy" only to
        // discourage new protocols from picking it.
        Algorithm::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        Algorithm::Sha256 => hmac::HMAC_SHA256,
        Algorithm::Sha512 => hmac::HMAC_SHA512,
    }
}

/// RFC 4226 dynamic truncation of the HMAC of `counter`, as a number.
fn truncated(key: &hmac::Key, counter: u64) -> u32 {
    let tag = hmac::sign(key, &counter.to_be_bytes());
    let mac = tag.as_ref();
    // Every supported MAC is at least 20 bytes, so offset + 3 <= 15 + 3 < 20.
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ])
}

/// Formats the low `digits` decimal digits of `value`, zero-padded.
fn format_code(value: u32, digits: u8) -> String {
    // 10^10 exceeds any 31-bit value, so more than 10 digits only pads.
    let modulus = 10u64.pow(u32::from(digits.min(10)));
    format!(
        "{:0width$}",
        u64::from(value) % modulus,
        width = usize::from(digits)
    )
}

/// The HOTP code for `counter` (RFC 4226), `digits` long, zero-padded.
/// Real tokens use 6 or 8 digits; RFC 4226 asks for at least 6.
pub fn hotp(seed: &Seed, algorithm: Algorithm, digits: u8, counter: u64) -> String {
    let key = hmac::Key::new(hmac_algorithm(algorithm), seed.expose());
    format_code(truncated(&key, counter), digits)
}

/// The time step `unix_time` falls in (a period of 0 is taken as 1 s).
fn time_step(unix_time: u64, period: u32) -> u64 {
    unix_time / u64::from(period.max(1))
}

/// The code a token shows at `unix_time` (RFC 6238, T0 = 0). For an HOTP
/// token, which has no clock, it is the code of the token's stored counter.
pub fn totp(seed: &Seed, params: &TokenParams, unix_time: u64) -> String {
    let counter = match params.kind {
        OtpKind::Totp { period } => time_step(unix_time, period),
        OtpKind::Hotp { counter } => counter,
    };
    hotp(seed, params.algorithm, params.digits, counter)
}

/// Checks `code` against the codes of the `window` steps either side of
/// now (TOTP: the time step of `unix_time`; HOTP: the stored counter, and
/// `unix_time` is ignored). Returns the offset in steps of the match
/// nearest zero (the earlier one when two are equally near), or `None`.
///
/// Every step in the window is computed and compared in constant time,
/// whatever matched; the work grows with `window`.
pub fn verify(
    seed: &Seed,
    params: &TokenParams,
    code: &str,
    unix_time: u64,
    window: u32,
) -> Option<i64> {
    if code.len() != usize::from(params.digits) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let base = match params.kind {
        OtpKind::Totp { period } => time_step(unix_time, period),
        OtpKind::Hotp { counter } => counter,
    };
    let key = hmac::Key::new(hmac_algorithm(params.algorithm), seed.expose());
    let window = i64::from(window);
    let mut best: Option<i64> = None;
    for offset in -window..=window {
        let Some(counter) = base.checked_add_signed(offset) else {
            continue;
        };
        let candidate = format_code(truncated(&key, counter), params.digits);
        let matched: bool = candidate.as_bytes().ct_eq(code.as_bytes()).into();
        if matched && best.is_none_or(|b| offset.abs() < b.abs()) {
            best = Some(offset);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc_seed() -> Seed {
        Seed::new(b"12345678901234567890".to_vec()).unwrap()
    }

    #[test]
    fn rfc4226_first_codes() {
        let s = rfc_seed();
        assert_eq!(hotp(&s, Algorithm::Sha1, 6, 0), "755224");
        assert_eq!(hotp(&s, Algorithm::Sha1, 6, 9), "520489");
    }

    #[test]
    fn verify_finds_drift_and_rejects_outside_window() {
        let s = rfc_seed();
        let p = TokenParams::default();
        let code = totp(&s, &p, 59 + 2 * 30);
        assert_eq!(verify(&s, &p, &code, 59, 3), Some(2));
        assert_eq!(verify(&s, &p, &code, 59, 1), None);
        assert_eq!(verify(&s, &p, "12345", 59, 3), None);
    }
}
