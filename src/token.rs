//! The domain values every other module trusts once they are built.
//!
//! A `Serial` or a `Seed` is checked once, where it enters the program (a
//! factory file, a command-line argument, a database row), and is trusted
//! afterwards: nothing downstream re-validates, so nothing downstream can
//! forget to. The seed is a secret and lives in a `SecretBox`; its `Debug`
//! prints `[REDACTED]`.

use std::fmt;

use secrecy::{ExposeSecret, SecretBox};

/// Longest serial accepted; factory serials are far shorter.
pub const MAX_SERIAL_LEN: usize = 64;
/// Shortest acceptable seed: 128 bits (RFC 4226 section 4, R6).
pub const MIN_SEED_BYTES: usize = 16;
/// Longest acceptable seed: Entra's 128 Base32 characters are 80 bytes;
/// 128 bytes leaves room for SHA-512 keys of full block length.
pub const MAX_SEED_BYTES: usize = 128;

/// A token serial number: 1 to 64 ASCII letters and digits, kept as a
/// string so leading zeros survive (`000123` is not `123`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial(String);

/// Why a string is not a serial.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SerialError {
    /// The serial is empty (after trimming surrounding spaces).
    #[error("serial is empty")]
    Empty,
    /// The serial is longer than [`MAX_SERIAL_LEN`].
    #[error("serial is {0} characters long; at most {MAX_SERIAL_LEN} are allowed")]
    TooLong(usize),
    /// The serial contains something other than ASCII letters, digits and
    /// inner hyphens. The text is not repeated: a serial that fails to parse
    /// may be another column (a secret) in the wrong place.
    #[error("serial ({0} characters) contains a character other than letters, digits and '-'")]
    BadCharacter(usize),
    /// The serial starts or ends with `-` (allowed only inside, as in
    /// `306EUO4-00960`).
    #[error("serial ({0} characters) starts or ends with '-'; '-' is allowed only inside")]
    EdgeHyphen(usize),
}

impl Serial {
    /// Checks `text` (surrounding spaces are ignored) and builds a serial.
    pub fn parse(text: &str) -> Result<Self, SerialError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(SerialError::Empty);
        }
        if text.len() > MAX_SERIAL_LEN {
            return Err(SerialError::TooLong(text.chars().count()));
        }
        let chars = text.chars().count();
        if !text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(SerialError::BadCharacter(chars));
        }
        if text.starts_with('-') || text.ends_with('-') {
            return Err(SerialError::EdgeHyphen(chars));
        }
        Ok(Serial(text.to_owned()))
    }

    /// The serial as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The serial as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serial({})", self.0)
    }
}

impl std::str::FromStr for Serial {
    type Err = SerialError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Serial::parse(s)
    }
}

/// A token's shared secret (the factory seed). Never printed, never logged.
pub struct Seed(SecretBox<Vec<u8>>);

/// Why bytes are not an acceptable seed. Messages never contain the bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SeedError {
    /// Fewer than 128 bits.
    #[error("secret is {0} bits; at least 128 bits are required")]
    TooShort(usize),
    /// More than [`MAX_SEED_BYTES`].
    #[error("secret is {0} bytes; at most {MAX_SEED_BYTES} are allowed")]
    TooLong(usize),
    /// Every byte is zero.
    #[error("secret is all zero bytes")]
    AllZero,
    /// Every byte is the same value: no entropy worth the name.
    #[error("secret repeats a single byte value")]
    RepeatedByte,
}

impl Seed {
    /// Checks the rules of SPEC "Seed formats" and takes ownership of the
    /// bytes (the caller's buffer is moved, not copied).
    pub fn new(bytes: Vec<u8>) -> Result<Self, SeedError> {
        let secret = SecretBox::new(Box::new(bytes));
        let b = secret.expose_secret();
        if b.len() < MIN_SEED_BYTES {
            return Err(SeedError::TooShort(b.len() * 8));
        }
        if b.len() > MAX_SEED_BYTES {
            return Err(SeedError::TooLong(b.len()));
        }
        // Variable-time comparison is fine: the outcome is reported anyway.
        if b.iter().all(|&x| x == 0) {
            return Err(SeedError::AllZero);
        }
        if b.iter().all(|&x| x == b[0]) {
            return Err(SeedError::RepeatedByte);
        }
        Ok(Seed(secret))
    }

    /// The seed bytes, for the one line that needs them.
    pub fn expose(&self) -> &[u8] {
        self.0.expose_secret()
    }

    /// Length in bytes (not secret).
    pub fn len(&self) -> usize {
        self.0.expose_secret().len()
    }

    /// Always false for a valid seed; present for clippy's len_without_is_empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Clone for Seed {
    fn clone(&self) -> Self {
        Seed(SecretBox::new(Box::new(self.0.expose_secret().clone())))
    }
}

impl PartialEq for Seed {
    /// Constant-time comparison (tests and round-trip checks use it).
    fn eq(&self, other: &Self) -> bool {
        crate::crypto::ct_eq(self.expose(), other.expose())
    }
}
impl Eq for Seed {}

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Seed([REDACTED])")
    }
}

/// HMAC hash of an OATH token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Algorithm {
    /// HMAC-SHA-1, what almost every hardware token uses.
    #[serde(rename = "SHA1")]
    Sha1,
    /// HMAC-SHA-256.
    #[serde(rename = "SHA256")]
    Sha256,
    /// HMAC-SHA-512.
    #[serde(rename = "SHA512")]
    Sha512,
}

impl Algorithm {
    /// The name used in files and the log: `SHA1`, `SHA256`, `SHA512`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
        }
    }

    /// Parses `SHA1`, `sha-256`, `HMAC-SHA512` and similar spellings.
    pub fn parse(text: &str) -> Option<Self> {
        let t: String = text
            .trim()
            .to_ascii_uppercase()
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .collect();
        match t.trim_start_matches("HMAC") {
            "SHA1" => Some(Algorithm::Sha1),
            "SHA256" => Some(Algorithm::Sha256),
            "SHA512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Time-based or counter-based, with the moving factor's parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum OtpKind {
    /// RFC 6238: `period` seconds per step (30 or 60 on real tokens).
    Totp {
        /// Seconds per time step.
        period: u32,
    },
    /// RFC 4226: the counter value the token starts from.
    Hotp {
        /// Initial counter.
        counter: u64,
    },
}

/// Everything about a token except its secret. Not secret; goes in the log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenParams {
    /// HMAC hash.
    pub algorithm: Algorithm,
    /// Code length: 6 or 8.
    pub digits: u8,
    /// TOTP with period, or HOTP with counter.
    pub kind: OtpKind,
    /// Manufacturer, when the file says.
    pub manufacturer: Option<String>,
    /// Model, when the file says.
    pub model: Option<String>,
}

impl TokenParams {
    /// The set's canonical bytes: compact JSON with the fields in
    /// declaration order (`algorithm`, `digits`, `kind` {`type`, `period` |
    /// `counter`}, `manufacturer`, `model`), as stored in `token_params`.
    /// Two sets are the same set exactly when these bytes are equal.
    #[allow(clippy::expect_used)]
    pub fn canonical_json(&self) -> String {
        // Serializing a struct of strings, integers and enums cannot fail
        // (no map with non-string keys, no custom serializer). Should it
        // ever, stop: an empty string here would be bound into every
        // seed's AAD and leave the parameters unauthenticated.
        serde_json::to_string(self).expect("token parameters serialize to JSON")
    }

    /// SHA-256 of [`TokenParams::canonical_json`], lower-case hex: what a
    /// sealed seed's AAD binds, so a changed parameter row fails to open.
    pub fn sha256_hex(&self) -> String {
        crate::crypto::hex(&crate::crypto::sha256(self.canonical_json().as_bytes()))
    }
}

impl Default for TokenParams {
    /// What a file that says nothing means: SHA1, 6 digits, TOTP every 30 s.
    fn default() -> Self {
        TokenParams {
            algorithm: Algorithm::Sha1,
            digits: 6,
            kind: OtpKind::Totp { period: 30 },
            manufacturer: None,
            model: None,
        }
    }
}

/// One token of a factory batch: serial, secret and parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The token's serial.
    pub serial: Serial,
    /// The token's secret.
    pub seed: Seed,
    /// How codes are computed.
    pub params: TokenParams,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_keeps_leading_zeros_and_trims() {
        assert_eq!(Serial::parse(" 000123 ").unwrap().as_str(), "000123");
    }

    #[test]
    fn serial_rejects_punctuation_and_empty() {
        assert_eq!(Serial::parse("12_3"), Err(SerialError::BadCharacter(4)));
        assert_eq!(Serial::parse("12 3"), Err(SerialError::BadCharacter(4)));
        assert_eq!(Serial::parse("  "), Err(SerialError::Empty));
    }

    #[test]
    fn serial_allows_hyphens_inside_only() {
        // A real vendor's serial (SPEC): '-' inside, never first or last.
        assert_eq!(
            Serial::parse("306EUO4-00960").unwrap().as_str(),
            "306EUO4-00960"
        );
        assert_eq!(Serial::parse("A-B-C").unwrap().as_str(), "A-B-C");
        assert_eq!(Serial::parse("-123"), Err(SerialError::EdgeHyphen(4)));
        assert_eq!(Serial::parse("123-"), Err(SerialError::EdgeHyphen(4)));
        assert_eq!(Serial::parse("-"), Err(SerialError::EdgeHyphen(1)));
    }

    #[test]
    fn a_refused_serial_is_not_repeated() {
        let secret = "JBSWY3DPEHPK3PXP+JBSWY3DPEHPK3PXP";
        let e = Serial::parse(secret).unwrap_err();
        assert!(!e.to_string().contains("JBSW"), "{e}");
        assert!(!format!("{e:?}").contains("JBSW"), "{e:?}");
    }

    #[test]
    fn seed_rules() {
        assert_eq!(
            Seed::new(vec![1; 15]).unwrap_err(),
            SeedError::TooShort(120)
        );
        assert_eq!(Seed::new(vec![0; 20]).unwrap_err(), SeedError::AllZero);
        assert_eq!(Seed::new(vec![7; 20]).unwrap_err(), SeedError::RepeatedByte);
        assert!(Seed::new((0..20).collect()).is_ok());
    }

    #[test]
    fn canonical_json_is_the_documented_layout() {
        // Sealed seeds and the log depend on these exact bytes.
        let p = TokenParams {
            manufacturer: Some("Token2".into()),
            ..TokenParams::default()
        };
        assert_eq!(
            p.canonical_json(),
            r#"{"algorithm":"SHA1","digits":6,"kind":{"type":"totp","period":30},"manufacturer":"Token2","model":null}"#
        );
        let h = TokenParams {
            kind: OtpKind::Hotp { counter: 5 },
            ..TokenParams::default()
        };
        assert_eq!(
            h.canonical_json(),
            r#"{"algorithm":"SHA1","digits":6,"kind":{"type":"hotp","counter":5},"manufacturer":null,"model":null}"#
        );
        assert_eq!(p.sha256_hex().len(), 64);
        assert_ne!(p.sha256_hex(), h.sha256_hex());
    }

    #[test]
    fn seed_debug_is_redacted() {
        let s = Seed::new(b"12345678901234567890".to_vec()).unwrap();
        assert_eq!(format!("{s:?}"), "Seed([REDACTED])");
    }
}
