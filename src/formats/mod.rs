//! Factory seed files: reading what factories send, writing what customers load.
//!
//! Every reader is a stream of `Result<Token, RecordError>`: a million-token
//! batch never sits whole in memory, and a bad line does not stop the read,
//! so ingest can report every problem of a file at once. The checks shared
//! by all formats (seed rules, serial rules, duplicates inside one file) are
//! applied here, once, by [`BatchReader`].

use std::fmt;
#[allow(unused_imports)] // used by the readers and writers being added
use std::io::{BufRead, Write};

use secrecy::{SecretBox, SecretString};

use crate::token::Token;

pub mod azure;
pub mod lines;
pub mod otpauth;
pub mod pskc;

/// The seed file formats of SPEC "Seed formats".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Microsoft Entra (Azure MFA) OATH CSV.
    AzureCsv,
    /// `serial,secret_hex` per line.
    Hex,
    /// `serial,secret_base32` per line.
    Base32,
    /// RFC 6030 KeyContainer.
    Pskc,
    /// One `otpauth://` URI per line.
    Otpauth,
    /// privacyIDEA OATH CSV: `serial, seed_hex, type, digits, timestep`.
    PrivacyIdea,
}

impl Format {
    /// Every format, in the order SPEC lists them.
    pub const ALL: [Format; 6] = [
        Format::AzureCsv,
        Format::Hex,
        Format::Base32,
        Format::Pskc,
        Format::Otpauth,
        Format::PrivacyIdea,
    ];

    /// The name used on the command line and in the log.
    pub fn name(self) -> &'static str {
        match self {
            Format::AzureCsv => "azure-csv",
            Format::Hex => "hex",
            Format::Base32 => "base32",
            Format::Pskc => "pskc",
            Format::Otpauth => "otpauth",
            Format::PrivacyIdea => "privacyidea",
        }
    }

    /// The inverse of [`Format::name`].
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }

    /// File extension for exported bundles (before `.asc`).
    pub fn extension(self) -> &'static str {
        match self {
            Format::AzureCsv => "azure-csv",
            Format::Hex => "hex",
            Format::Base32 => "base32",
            Format::Pskc => "pskc",
            Format::Otpauth => "otpauth",
            Format::PrivacyIdea => "privacyidea",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One problem in an input file, with where it is. Never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// 1-based line number in the input file (for XML: the line where the
    /// offending element starts).
    pub line: u64,
    /// The serial of the record, when it could be read.
    pub serial: Option<String>,
    /// What is wrong, for a person.
    pub problem: String,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.serial {
            Some(s) => write!(f, "line {} (serial {}): {}", self.line, s, self.problem),
            None => write!(f, "line {}: {}", self.line, self.problem),
        }
    }
}

/// A problem with the file as a whole (it cannot be read at all).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// Auto-detection found no format that fits.
    #[error("cannot tell the format of the file: {0}; name it with --format")]
    Undetected(String),
    /// A PSKC file is encrypted and no key or password was given.
    #[error("the PSKC file is encrypted ({0}); give the key with --pskc-key-file or the password with --pskc-password-file")]
    KeyNeeded(String),
    /// The file is not what its format says, before any record (e.g. a
    /// missing header), with the line.
    #[error("line {line}: {problem}")]
    Structure {
        /// 1-based line.
        line: u64,
        /// What is wrong.
        problem: String,
    },
    /// A token cannot be written in the chosen format (e.g. an HOTP token
    /// in Azure CSV, which only holds TOTP).
    #[error("serial {serial} cannot be written as {format}: {problem}")]
    Unrepresentable {
        /// The token's serial.
        serial: String,
        /// The target format's name.
        format: &'static str,
        /// Why not.
        problem: String,
    },
    /// Reading or writing failed.
    #[error("cannot read or write the file: {0}")]
    Io(#[from] std::io::Error),
}

/// The key protecting an encrypted PSKC file.
pub enum PskcKey {
    /// A pre-shared AES key (16, 24 or 32 bytes).
    PreShared(SecretBox<Vec<u8>>),
    /// A password for the PBKDF2 derivation the file names.
    Password(SecretString),
}

impl fmt::Debug for PskcKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PskcKey::PreShared(_) => f.write_str("PskcKey::PreShared([REDACTED])"),
            PskcKey::Password(_) => f.write_str("PskcKey::Password([REDACTED])"),
        }
    }
}

/// Options for reading.
#[derive(Debug, Default)]
pub struct ReadOptions {
    /// Key for encrypted PSKC.
    pub pskc_key: Option<PskcKey>,
}

/// Options for writing.
#[derive(Debug, Default)]
pub struct WriteOptions {
    /// For PSKC: encrypt the secrets with this key and add ValueMACs.
    pub pskc_key: Option<PskcKey>,
    /// For Azure CSV: the `upn` column (empty when `None`).
    pub upn: Option<String>,
}

/// A stream of records of one file.
pub type Records<'a> = Box<dyn Iterator<Item = Result<Token, RecordError>> + 'a>;
