//! What can be wrong with one record of a seed file, in words that never
//! carry the record's content.
//!
//! A refused record is shown on the terminal and kept in the audit log,
//! which is permanent: whatever a message holds, the hash chain holds
//! forever. Factory rows go wrong in ways that move a secret into any
//! column (a shifted row, swapped columns, an empty cell), so a message
//! cannot trust a field to be harmless because of where it sits. The rule
//! is therefore made a type: a [`Problem`] is a kind and at most a few
//! numbers (lengths, bit counts, a field's position, an integer that
//! parsed), its `Display` is fixed text around them, and
//! [`Problem::kind`] is a stable machine-readable name for the log. A
//! record's serial is shown only when it is a valid serial that does not
//! look like encoded data of 16 bytes or more ([`RecordSerial`]); a bad
//! secret is described by what is wrong and where in the field (start,
//! middle, end), never by a character of it or its offset.

use std::fmt;

use crate::token::{SeedError, Serial, SerialError};

/// Fewest characters of base64 that decode to 16 bytes (128 bits, the
/// shortest seed): shorter text cannot be a seed in any encoding the
/// readers accept (hex needs 32, Base32 26, base64 22).
const SECRET_LIKE_CHARS: usize = 22;

/// True when `text` could be a seed written in hex, Base32 or base64
/// (standard or URL alphabet), with or without padding and spaces between
/// groups: at least [`SECRET_LIKE_CHARS`] symbols and nothing else. Such
/// text is never put into a message, whatever field it came from.
pub fn could_be_secret(text: &str) -> bool {
    let mut symbols = 0usize;
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' | b'-' | b'_' => symbols += 1,
            b' ' | b'\t' | b'=' => {}
            _ => return false,
        }
    }
    symbols >= SECRET_LIKE_CHARS
}

/// `text` as a message may quote it (a name from the file's markup, a
/// label): without control characters, cut at 64 characters, and
/// replaced by a description when it could be a secret.
pub(crate) fn shown(text: &str) -> String {
    if could_be_secret(text) {
        return format!(
            "[{} characters not shown: they could be a secret]",
            text.chars().count()
        );
    }
    let clean: String = text.chars().filter(|c| !c.is_control()).take(64).collect();
    if text.chars().count() > 64 {
        format!("{clean}...")
    } else {
        clean
    }
}

/// The serial of a refused record, as far as a message may show it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RecordSerial {
    /// No serial was read: the problem is with the line itself, or with
    /// the serial field (then the [`Problem`] says what).
    #[default]
    Unknown,
    /// A valid serial.
    Shown(Serial),
    /// A valid serial that is not shown because it could be a secret in
    /// the wrong column (long, and made only of an encoding's symbols).
    Withheld {
        /// Its length in characters.
        chars: usize,
    },
}

impl RecordSerial {
    /// Classifies a valid serial.
    pub fn of(serial: &Serial) -> RecordSerial {
        if could_be_secret(serial.as_str()) {
            RecordSerial::Withheld {
                chars: serial.as_str().len(),
            }
        } else {
            RecordSerial::Shown(serial.clone())
        }
    }

    /// The serial when it may be shown.
    pub fn as_deref(&self) -> Option<&str> {
        match self {
            RecordSerial::Shown(s) => Some(s.as_str()),
            _ => None,
        }
    }
}

/// Where in a field a bad character is, coarsely: enough to find a typo
/// or a stray prefix, too little to learn anything of the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// The first character of the field.
    Start,
    /// Neither the first nor the last.
    Middle,
    /// The last character of the field.
    End,
}

impl Position {
    /// The class of character `index` (0-based) of a field of `len` characters.
    pub fn of(index: usize, len: usize) -> Position {
        if index == 0 {
            Position::Start
        } else if index + 1 >= len {
            Position::End
        } else {
            Position::Middle
        }
    }

    fn words(self) -> &'static str {
        match self {
            Position::Start => "at its start",
            Position::Middle => "in its middle",
            Position::End => "at its end",
        }
    }
}

/// How a secret field is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Hex digits.
    Hex,
    /// RFC 4648 Base32.
    Base32,
}

impl Encoding {
    fn alphabet(self) -> &'static str {
        match self {
            Encoding::Hex => "hex (0-9, a-f)",
            Encoding::Base32 => "Base32 (A-Z, 2-7)",
        }
    }
}

/// Why a valid-looking serial field is not a serial (the field itself is
/// never shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SerialFlaw {
    /// Longer than a serial may be.
    TooLong,
    /// Holds a character other than those a serial may hold.
    BadCharacter,
    /// Any other rule of [`Serial::parse`].
    Other,
}

/// Where a serial was seen first, for a duplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A 1-based line.
    Line(u64),
    /// A 1-based record number (PSKC, whose reader reports no line).
    Record(u64),
}

/// One problem of one record. `Display` is fixed text around numbers;
/// nothing read from the file appears in it (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// Reading the input failed (an I/O or OpenPGP error, not file content).
    ReadFailed(String),
    /// A line longer than any record.
    LineTooLong {
        /// The limit in bytes.
        max: usize,
    },
    /// A line that is not UTF-8.
    NotUtf8 {
        /// The 1-based comma-separated field the bad byte is in, when known.
        field: Option<usize>,
    },
    /// A quoted CSV field without its closing quote.
    UnclosedQuote,
    /// Text after a CSV field's closing quote.
    TextAfterQuote,
    /// The wrong number of fields.
    FieldCount {
        /// The layout expected, fixed text.
        expected: &'static str,
        /// Fields found.
        found: usize,
    },
    /// An Azure header line in the middle of the file.
    SecondHeader,
    /// An otpauth line that is not an `otpauth://` URI.
    NotOtpauthUri,
    /// A `%` escape that is not two hex digits, or decodes to no UTF-8.
    BadPercentEscape {
        /// Which part of the URI (fixed text).
        part: &'static str,
    },
    /// The serial field is empty.
    SerialMissing,
    /// The serial field holds something that is not a serial.
    SerialInvalid {
        /// The field's length in characters.
        chars: usize,
        /// What rule it breaks.
        flaw: SerialFlaw,
    },
    /// The serial appeared before in the same file.
    DuplicateSerial {
        /// Where it appeared first.
        first: Place,
    },
    /// The secret field is empty or absent.
    SecretMissing,
    /// The secret has a character outside its encoding.
    SecretBadCharacter {
        /// The encoding the field should be in.
        encoding: Encoding,
        /// Where in the field.
        at: Position,
        /// The whole field is hex digits (a hex file read as Base32?).
        looks_hex: bool,
    },
    /// Base32 text after the `=` padding.
    SecretAfterPadding,
    /// The number of symbols does not make whole bytes.
    SecretPartialByte {
        /// The encoding.
        encoding: Encoding,
        /// Symbols counted (not secret: the length is reported anyway).
        symbols: usize,
    },
    /// The last Base32 symbol has bits set beyond the last byte.
    SecretStrayBits,
    /// Fewer than 128 bits.
    SecretTooShort {
        /// Bits found.
        bits: usize,
    },
    /// More bytes than a seed may have.
    SecretTooLong {
        /// Bytes found.
        bytes: usize,
    },
    /// More characters than the format allows (Azure: 128).
    SecretTooManyCharacters {
        /// Characters found.
        chars: usize,
        /// The format's limit.
        max: usize,
    },
    /// Every byte is zero.
    SecretAllZero,
    /// Every byte is the same value.
    SecretRepeatedByte,
    /// Another rule of [`crate::token::Seed::new`].
    SecretRejected,
    /// An Azure time interval other than 30 or 60.
    IntervalInvalid {
        /// The value, when the field is a number.
        value: Option<u64>,
    },
    /// Digits other than 6 or 8.
    DigitsInvalid {
        /// The value, when the field is a number.
        value: Option<u64>,
    },
    /// A TOTP period that is not a positive number of seconds.
    PeriodInvalid {
        /// The value, when the field is a number.
        value: Option<u64>,
    },
    /// An HOTP counter that is not a whole number.
    CounterInvalid,
    /// A token type other than TOTP and HOTP.
    TypeUnsupported,
    /// A hash algorithm other than SHA1, SHA256, SHA512.
    HashUnknown,
    /// A token type the vault does not hold, known by name (privacyIDEA's
    /// `ocra`, `tan`, ...).
    TypeNamedUnsupported {
        /// The type, from a fixed list.
        name: &'static str,
    },
    /// privacyIDEA takes the hash from the key's length: it implies one
    /// the vault cannot hold, or other than the file's hash column names.
    PrivacyIdeaHash {
        /// Length of the key field in characters.
        key_digits: usize,
        /// The hash privacyIDEA takes (fixed text).
        implied: &'static str,
        /// The hash the file's sixth column names, if any (fixed text).
        named: Option<&'static str>,
    },
    /// An HOTP URI without a counter.
    HotpWithoutCounter,
    /// A text field the vault would keep in clear (manufacturer, model)
    /// holds what could be a secret: a column out of place.
    TextLooksSecret {
        /// Which field (fixed text).
        field: &'static str,
    },
    /// A PSKC KeyPackage's problem.
    Pskc(PskcProblem),
    /// The XML of a PSKC file is broken (or too large) at this point.
    Xml {
        /// Stable kind (e.g. `xml_malformed`, `xml_too_large`).
        kind: &'static str,
        /// Fixed text and element names (names that could be a secret are
        /// described, see [`shown`]).
        message: String,
    },
}

/// Problems only a PSKC KeyPackage can have. `field` names are fixed
/// text (`Secret`, `Counter`, ...), never taken from the file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PskcProblem {
    /// No `Key` element.
    NoKey,
    /// More than one `Key`.
    ManyKeys,
    /// Neither `DeviceInfo/SerialNo` nor `Key Id`.
    NoSerial,
    /// The Key has no `Algorithm`.
    NoAlgorithm,
    /// The Key's `Algorithm` is not HOTP or TOTP.
    AlgorithmUnsupported,
    /// `ResponseFormat Encoding` other than DECIMAL.
    ResponseEncoding,
    /// No `Data/Secret`.
    NoSecret,
    /// A plain Secret inside an encrypted file.
    PlainSecretInEncryptedFile,
    /// A value that is not valid base64.
    NotBase64 {
        /// The field.
        field: &'static str,
    },
    /// `Time` (T0) other than 0.
    TimeOrigin,
    /// Neither PlainValue nor EncryptedValue.
    NoValue {
        /// The field.
        field: &'static str,
    },
    /// An EncryptedValue without a usable EncryptionMethod or CipherValue.
    BadEncryptedValue {
        /// The field.
        field: &'static str,
        /// What is missing or unsupported (fixed text).
        what: &'static str,
    },
    /// An EncryptedValue without a ValueMAC.
    NoValueMac {
        /// The field.
        field: &'static str,
    },
    /// An encrypted value and no key.
    NoKeyGiven {
        /// The field.
        field: &'static str,
    },
    /// A ValueMAC and no MACMethod.
    NoMacMethod {
        /// The field.
        field: &'static str,
    },
    /// The ValueMAC does not match.
    MacMismatch {
        /// The field.
        field: &'static str,
    },
    /// The value does not decrypt (length or padding).
    Undecryptable {
        /// The field.
        field: &'static str,
    },
    /// An integer field that is not one.
    NotInteger {
        /// The field.
        field: &'static str,
    },
    /// An encrypted integer longer than 8 bytes.
    IntegerTooLong {
        /// The field.
        field: &'static str,
        /// Its length.
        bytes: usize,
    },
}

impl From<SeedError> for Problem {
    fn from(e: SeedError) -> Self {
        match e {
            SeedError::TooShort(bits) => Problem::SecretTooShort { bits },
            SeedError::TooLong(bytes) => Problem::SecretTooLong { bytes },
            SeedError::AllZero => Problem::SecretAllZero,
            SeedError::RepeatedByte => Problem::SecretRepeatedByte,
            #[allow(unreachable_patterns)] // SeedError is non-exhaustive
            _ => Problem::SecretRejected,
        }
    }
}

impl Problem {
    /// The problem of a serial field that [`Serial::parse`] refused; the
    /// field is described by its length only.
    pub fn serial(text: &str, e: &SerialError) -> Problem {
        let chars = text.trim().chars().count();
        let flaw = match e {
            SerialError::Empty => return Problem::SerialMissing,
            SerialError::TooLong(_) => SerialFlaw::TooLong,
            SerialError::BadCharacter(..) | SerialError::EdgeHyphen(..) => SerialFlaw::BadCharacter,
            #[allow(unreachable_patterns)] // SerialError is non-exhaustive
            _ => SerialFlaw::Other,
        };
        Problem::SerialInvalid { chars, flaw }
    }

    /// A stable, machine-readable name of the kind of problem (logged in
    /// `batch.refused`; see docs/audit-log.md).
    pub fn kind(&self) -> &'static str {
        match self {
            Problem::ReadFailed(_) => "read_failed",
            Problem::LineTooLong { .. } => "line_too_long",
            Problem::NotUtf8 { .. } => "not_utf8",
            Problem::UnclosedQuote => "unclosed_quote",
            Problem::TextAfterQuote => "text_after_quote",
            Problem::FieldCount { .. } => "field_count",
            Problem::SecondHeader => "second_header",
            Problem::NotOtpauthUri => "not_otpauth_uri",
            Problem::BadPercentEscape { .. } => "bad_percent_escape",
            Problem::SerialMissing => "serial_missing",
            Problem::SerialInvalid { .. } => "serial_invalid",
            Problem::DuplicateSerial { .. } => "duplicate_serial",
            Problem::SecretMissing => "secret_missing",
            Problem::SecretBadCharacter { .. } => "secret_bad_character",
            Problem::SecretAfterPadding => "secret_after_padding",
            Problem::SecretPartialByte { .. } => "secret_partial_byte",
            Problem::SecretStrayBits => "secret_stray_bits",
            Problem::SecretTooShort { .. } => "secret_too_short",
            Problem::SecretTooLong { .. } => "secret_too_long",
            Problem::SecretTooManyCharacters { .. } => "secret_too_many_characters",
            Problem::SecretAllZero => "secret_all_zero",
            Problem::SecretRepeatedByte => "secret_repeated_byte",
            Problem::SecretRejected => "secret_rejected",
            Problem::IntervalInvalid { .. } => "interval_invalid",
            Problem::DigitsInvalid { .. } => "digits_invalid",
            Problem::PeriodInvalid { .. } => "period_invalid",
            Problem::CounterInvalid => "counter_invalid",
            Problem::TypeUnsupported => "type_unsupported",
            Problem::HashUnknown => "hash_unknown",
            Problem::TypeNamedUnsupported { .. } => "type_unsupported",
            Problem::PrivacyIdeaHash { .. } => "privacyidea_hash",
            Problem::HotpWithoutCounter => "hotp_without_counter",
            Problem::TextLooksSecret { .. } => "text_looks_secret",
            Problem::Pskc(p) => p.kind(),
            Problem::Xml { kind, .. } => kind,
        }
    }
}

impl PskcProblem {
    fn kind(&self) -> &'static str {
        match self {
            PskcProblem::NoKey => "pskc_no_key",
            PskcProblem::ManyKeys => "pskc_many_keys",
            PskcProblem::NoSerial => "serial_missing",
            PskcProblem::NoAlgorithm => "pskc_no_algorithm",
            PskcProblem::AlgorithmUnsupported => "type_unsupported",
            PskcProblem::ResponseEncoding => "pskc_response_encoding",
            PskcProblem::NoSecret => "secret_missing",
            PskcProblem::PlainSecretInEncryptedFile => "pskc_plain_secret_in_encrypted_file",
            PskcProblem::NotBase64 { .. } => "pskc_not_base64",
            PskcProblem::TimeOrigin => "pskc_time_origin",
            PskcProblem::NoValue { .. } => "pskc_no_value",
            PskcProblem::BadEncryptedValue { .. } => "pskc_bad_encrypted_value",
            PskcProblem::NoValueMac { .. } => "pskc_no_value_mac",
            PskcProblem::NoKeyGiven { .. } => "pskc_key_needed",
            PskcProblem::NoMacMethod { .. } => "pskc_no_mac_method",
            PskcProblem::MacMismatch { .. } => "pskc_mac_mismatch",
            PskcProblem::Undecryptable { .. } => "pskc_undecryptable",
            PskcProblem::NotInteger { .. } => "pskc_not_integer",
            PskcProblem::IntegerTooLong { .. } => "pskc_integer_too_long",
        }
    }
}

/// `value` when known, for "not N" in a message.
fn not_value(value: Option<u64>) -> String {
    match value {
        Some(v) => format!("it is {v}"),
        None => "the field is not a number".to_owned(),
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::ReadFailed(e) => write!(f, "cannot read the file: {e}"),
            Problem::LineTooLong { max } => {
                write!(f, "the line is longer than {max} bytes; no record is that long")
            }
            Problem::NotUtf8 { field: Some(n) } => {
                write!(f, "the line is not UTF-8 text (in field {n})")
            }
            Problem::NotUtf8 { field: None } => f.write_str("the line is not UTF-8 text"),
            Problem::UnclosedQuote => f.write_str("a quoted field is not closed"),
            Problem::TextAfterQuote => f.write_str("text follows a closing quote"),
            Problem::FieldCount { expected, found } => {
                write!(f, "expected {expected}, found {found} field(s)")
            }
            Problem::SecondHeader => f.write_str("a second header line; were two files joined?"),
            Problem::NotOtpauthUri => f.write_str("not an otpauth:// URI"),
            Problem::BadPercentEscape { part } => write!(
                f,
                "the {part} has a `%` escape that is not two hex digits or not UTF-8"
            ),
            Problem::SerialMissing => f.write_str("the serial field is empty"),
            Problem::SerialInvalid { chars, flaw } => {
                write!(f, "bad serial: the serial field is not a valid serial ({chars} characters")?;
                match flaw {
                    SerialFlaw::TooLong => write!(
                        f,
                        "; at most {} are allowed)",
                        crate::token::MAX_SERIAL_LEN
                    ),
                    SerialFlaw::BadCharacter => f.write_str(
                        ", not only letters, digits and inner '-'); is a column missing or out of place?",
                    ),
                    SerialFlaw::Other => f.write_str(")"),
                }
            }
            Problem::DuplicateSerial { first } => match first {
                Place::Line(n) => write!(f, "duplicate serial: it first appears on line {n}"),
                Place::Record(n) => write!(f, "duplicate serial: it first appears on record {n}"),
            },
            Problem::SecretMissing => f.write_str("the secret is missing or empty"),
            Problem::SecretBadCharacter {
                encoding,
                at,
                looks_hex,
            } => {
                write!(
                    f,
                    "secret has a character that is not {} {}",
                    encoding.alphabet(),
                    at.words()
                )?;
                if *looks_hex {
                    f.write_str("; the field is all hex digits: is the secret hex?")?;
                }
                Ok(())
            }
            Problem::SecretAfterPadding => f.write_str("secret has characters after its '=' padding"),
            Problem::SecretPartialByte {
                encoding: Encoding::Base32,
                symbols,
            } => write!(
                f,
                "secret has {symbols} Base32 characters, which is not a whole number of bytes (truncated?)"
            ),
            Problem::SecretPartialByte {
                encoding: Encoding::Hex,
                symbols,
            } => write!(f, "secret has {symbols} hex digits, an odd number (truncated?)"),
            Problem::SecretStrayBits => f.write_str(
                "secret's last Base32 character has stray bits set (truncated or mistyped?)",
            ),
            Problem::SecretTooShort { bits } => write!(
                f,
                "secret is {bits} bits; at least 128 bits are required"
            ),
            Problem::SecretTooLong { bytes } => write!(
                f,
                "secret is {bytes} bytes; at most {} are allowed",
                crate::token::MAX_SEED_BYTES
            ),
            Problem::SecretTooManyCharacters { chars, max } => write!(
                f,
                "secret key is {chars} characters; Azure MFA allows at most {max}"
            ),
            Problem::SecretAllZero => f.write_str("secret is all zero bytes"),
            Problem::SecretRepeatedByte => f.write_str("secret repeats a single byte value"),
            Problem::SecretRejected => f.write_str("secret is not an acceptable seed"),
            Problem::IntervalInvalid { value } => write!(
                f,
                "time interval must be 30 or 60 ({}); is a column missing or out of place?",
                not_value(*value)
            ),
            Problem::DigitsInvalid { value } => {
                write!(f, "digits must be 6 or 8 ({})", not_value(*value))
            }
            Problem::PeriodInvalid { value } => write!(
                f,
                "time step must be a positive number of seconds ({})",
                not_value(*value)
            ),
            Problem::CounterInvalid => f.write_str("counter must be a whole number"),
            Problem::TypeUnsupported => {
                f.write_str("token type is not supported; expected totp or hotp")
            }
            Problem::HashUnknown => {
                f.write_str("unknown hash algorithm; expected SHA1, SHA256 or SHA512")
            }
            Problem::TypeNamedUnsupported { name } => write!(
                f,
                "token type {name} is not supported; the vault holds totp and hotp seeds only"
            ),
            Problem::PrivacyIdeaHash {
                key_digits,
                implied,
                named: None,
            } => write!(
                f,
                "privacyIDEA takes a key of {key_digits} hex digits as {implied}, which the vault does not hold (SHA1, SHA256, SHA512); ask the factory for a PSKC file"
            ),
            Problem::PrivacyIdeaHash {
                key_digits,
                implied,
                named: Some(named),
            } => write!(
                f,
                "the hash column says {named}, but privacyIDEA ignores that column and takes a key of {key_digits} hex digits as {implied}; the file means other codes there than it says: ask the factory for a PSKC file, or drop the column if {implied} is meant"
            ),
            Problem::HotpWithoutCounter => f.write_str("HOTP URI without a counter parameter"),
            Problem::TextLooksSecret { field } => write!(
                f,
                "the {field} looks like encoded data of 16 bytes or more, which the vault would keep in clear; \
                 is a secret in the wrong column?"
            ),
            Problem::Pskc(p) => p.fmt(f),
            Problem::Xml { message, .. } => f.write_str(message),
        }
    }
}

impl fmt::Display for PskcProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PskcProblem::NoKey => f.write_str("the KeyPackage has no Key"),
            PskcProblem::ManyKeys => f.write_str("the KeyPackage has more than one Key"),
            PskcProblem::NoSerial => f.write_str(
                "no serial: the KeyPackage has neither DeviceInfo/SerialNo nor a Key Id",
            ),
            PskcProblem::NoAlgorithm => f.write_str("the Key has no Algorithm"),
            PskcProblem::AlgorithmUnsupported => f.write_str(
                "unknown algorithm: the Key's Algorithm is not a HOTP or TOTP URI; only HOTP and TOTP keys can be read",
            ),
            PskcProblem::ResponseEncoding => {
                f.write_str("ResponseFormat Encoding is not supported; only DECIMAL is")
            }
            PskcProblem::NoSecret => f.write_str("the Key has no Data/Secret"),
            PskcProblem::PlainSecretInEncryptedFile => f.write_str(
                "the Secret is in plain text in an encrypted file; refused, since nothing shows who put it there",
            ),
            PskcProblem::NotBase64 { field } => write!(f, "the {field} is not valid base64"),
            PskcProblem::TimeOrigin => f.write_str(
                "Time (T0) is not 0; only tokens counting from the Unix epoch are supported",
            ),
            PskcProblem::NoValue { field } => write!(
                f,
                "the {field} has neither a PlainValue nor an EncryptedValue"
            ),
            PskcProblem::BadEncryptedValue { field, what } => {
                write!(f, "the encrypted {field} {what}")
            }
            PskcProblem::NoValueMac { field } => write!(
                f,
                "the encrypted {field} has no ValueMAC, so it cannot be checked"
            ),
            PskcProblem::NoKeyGiven { field } => {
                write!(f, "the {field} is encrypted and no key was given")
            }
            PskcProblem::NoMacMethod { field } => write!(
                f,
                "the {field} has a ValueMAC but the file has no MACMethod to check it with"
            ),
            PskcProblem::MacMismatch { field } => write!(
                f,
                "the ValueMAC of the {field} does not match: the key or password is wrong, or the file was altered"
            ),
            PskcProblem::Undecryptable { field } => write!(
                f,
                "cannot decrypt the {field}: its length or padding is wrong (wrong key, or the file was altered)"
            ),
            PskcProblem::NotInteger { field } => {
                write!(f, "the {field} is not a non-negative integer")
            }
            PskcProblem::IntegerTooLong { field, bytes } => write!(
                f,
                "the encrypted {field} is {bytes} bytes, longer than an integer"
            ),
        }
    }
}

/// `text` as a manufacturer or model to keep in clear, refused when it
/// could be a secret.
pub(crate) fn clear_text(text: &str, field: &'static str) -> Result<(), Problem> {
    if could_be_secret(text) {
        Err(Problem::TextLooksSecret { field })
    } else {
        Ok(())
    }
}

/// A number field for a message: its value when it is a short decimal
/// number (such a value cannot be a seed), else nothing.
pub(crate) fn number(text: &str) -> Option<u64> {
    let t = text.trim();
    (!t.is_empty() && t.len() <= 9 && t.bytes().all(|b| b.is_ascii_digit()))
        .then(|| t.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_like_text_is_recognized_in_every_encoding() {
        for t in [
            "3132333435363738393031323334353637383930",
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
            "gezd gnbv gy3t qojq gezd gnbv gy3t qojq",
            "GEZDGNBVGY3TQOJQGEZDGNBVGY======",
            "MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=",
            "MTIzNDU2Nzg5MDEyMzQ1Njc4OTA",
            "ab-_cdefghijklmnopqrstuv",
        ] {
            assert!(could_be_secret(t), "{t}");
            assert!(!shown(t).contains(t.trim()), "{t}");
        }
        for t in [
            "306EUO4-00960",
            "Pre-shared-key",
            "urn:ietf:params:xml:ns:keyprov:pskc:ocra",
            "",
        ] {
            assert!(!could_be_secret(t), "{t}");
        }
    }

    #[test]
    fn serials_that_could_be_secrets_are_withheld() {
        let s = Serial::parse("3132333435363738393031323334353637383930").unwrap();
        assert_eq!(RecordSerial::of(&s), RecordSerial::Withheld { chars: 40 });
        let s = Serial::parse("60100000").unwrap();
        assert_eq!(RecordSerial::of(&s).as_deref(), Some("60100000"));
    }

    #[test]
    fn messages_carry_no_field_content() {
        let p = Problem::serial(
            "GEZDGNBV=GY3TQOJQ",
            &Serial::parse("GEZDGNBV=GY3TQOJQ").unwrap_err(),
        );
        let shown = p.to_string();
        assert!(
            shown.contains("17 characters") && !shown.contains("GEZD"),
            "{shown}"
        );
        assert!(!shown.contains('='), "{shown}");
        assert_eq!(p.kind(), "serial_invalid");
        let p = Problem::SecretBadCharacter {
            encoding: Encoding::Base32,
            at: Position::of(10, 32),
            looks_hex: true,
        };
        assert!(p.to_string().contains("in its middle"), "{p}");
        assert_eq!(number("45"), Some(45));
        assert_eq!(number("3132333435363738393031323334353637383930"), None);
    }
}

/// Something a reader accepted but changed or read generously, that the
/// person ingesting the file should know about. Like [`Problem`], fixed
/// text around numbers: nothing of the record's content.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// The last Base32 symbol of the secret had bits set beyond the last
    /// whole byte; they were dropped, as Entra and authenticator apps do.
    Base32StrayBitsIgnored {
        /// How many bits the last symbol carries beyond the last byte.
        bits: usize,
    },
}

impl Warning {
    /// A stable, machine-readable name of the kind of warning.
    pub fn kind(&self) -> &'static str {
        match self {
            Warning::Base32StrayBitsIgnored { .. } => "base32_stray_bits_ignored",
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::Base32StrayBitsIgnored { bits } => write!(
                f,
                "the last Base32 character of the secret sets some of its {bits} bits beyond the \
                 last whole byte; they were ignored, as Microsoft Entra and authenticator apps \
                 do (check the seed with the factory if in doubt)"
            ),
        }
    }
}

/// A [`Warning`] with the line and serial of its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordWarning {
    /// 1-based line of the record.
    pub line: u64,
    /// The serial, as far as it may be shown.
    pub serial: RecordSerial,
    /// What was noticed.
    pub warning: Warning,
}

impl fmt::Display for RecordWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.serial {
            RecordSerial::Shown(s) => {
                write!(f, "line {} (serial {}): {}", self.line, s, self.warning)
            }
            _ => write!(f, "line {}: {}", self.line, self.warning),
        }
    }
}

/// The warnings of one read, gathered while a reader streams (possibly on
/// another thread than the one that reports them).
#[derive(Debug, Default)]
pub struct Warnings(std::sync::Mutex<Vec<RecordWarning>>);

impl Warnings {
    /// Records a warning.
    pub fn push(&self, w: RecordWarning) {
        // A poisoned lock means a reader thread panicked; the read fails
        // anyway, so losing its warnings loses nothing.
        if let Ok(mut v) = self.0.lock() {
            v.push(w);
        }
    }

    /// Takes every warning recorded so far, in the order they came.
    pub fn take(&self) -> Vec<RecordWarning> {
        self.0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }
}
