//! Factory seed files: reading what factories send, writing what customers load.
//!
//! Every reader is a stream of `Result<Token, RecordError>`: a million-token
//! batch never sits whole in memory, and a bad line does not stop the read,
//! so ingest can report every problem of a file at once. The rules every
//! format shares are applied once each: the seed and serial rules by the
//! types themselves (`Seed::new`, `Serial::parse`) as a reader builds a
//! token, duplicates inside one file by [`BatchReader`].
//!
//! Module map: `lines` holds the text machinery every line format shares
//! (line buffer, CSV field splitting, tolerant Base32/hex decoding, the
//! digits, period and counter rules); the line formats `hexbase32` (`hex`
//! and `base32`), `privacyidea`, `azure` and `otpauth` build on it; `pskc`
//! is XML; `detect` tells the formats apart when `--format` is not given.

use std::fmt;
use std::io::{BufRead, Write};

use secrecy::{SecretBox, SecretString};

use crate::token::{OtpKind, Token, TokenParams};

pub mod azure;
mod detect;
mod hexbase32;
pub mod lines;
pub mod otpauth;
mod privacyidea;
pub mod problem;
pub mod pskc;

pub use detect::{detect, detect_buffered, DETECT_HEAD_BYTES};
pub use problem::{could_be_secret, Problem, RecordSerial, RecordWarning, Warning, Warnings};

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

    /// File extension for exported bundles (before `.asc`): the name.
    pub fn extension(self) -> &'static str {
        self.name()
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One problem in an input file, with where it is. Never contains a secret
/// nor any field content: the problem is a [`Problem`] kind (fixed text
/// around numbers) and the serial is shown only when it is a valid serial
/// that cannot be a secret (see [`problem`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// 1-based line number in the input file (for XML: the line where the
    /// offending element starts).
    pub line: u64,
    /// The serial of the record, as far as it may be shown.
    pub serial: RecordSerial,
    /// What is wrong.
    pub problem: Problem,
}

impl RecordError {
    /// A problem of the line itself (no serial read).
    pub fn at(line: u64, problem: Problem) -> Self {
        RecordError {
            line,
            serial: RecordSerial::Unknown,
            problem,
        }
    }

    /// A problem of the record with this (valid) serial.
    pub fn of(line: u64, serial: &crate::token::Serial, problem: Problem) -> Self {
        RecordError {
            line,
            serial: RecordSerial::of(serial),
            problem,
        }
    }
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.serial {
            RecordSerial::Shown(s) => write!(f, "line {} (serial {}): {}", self.line, s, self.problem),
            RecordSerial::Withheld { chars } => write!(
                f,
                "line {} (serial not shown: {chars} characters that could be a secret in the wrong column): {}",
                self.line, self.problem
            ),
            RecordSerial::Unknown => write!(f, "line {}: {}", self.line, self.problem),
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

impl FormatError {
    /// A stable, machine-readable name of the kind of problem, for the
    /// log (see [`Problem::kind`] for record problems).
    pub fn kind(&self) -> &'static str {
        match self {
            FormatError::Undetected(_) => "format_undetected",
            FormatError::KeyNeeded(_) => "pskc_key_needed",
            FormatError::Structure { .. } => "file_structure",
            FormatError::Unrepresentable { .. } => "unrepresentable",
            FormatError::Io(_) => "read_failed",
        }
    }

    /// The line the problem is on, when it has one.
    pub fn line(&self) -> Option<u64> {
        match self {
            FormatError::Structure { line, .. } if *line > 0 => Some(*line),
            _ => None,
        }
    }
}

/// The key protecting an encrypted PSKC file.
pub enum PskcKey {
    /// A pre-shared AES key (16, 24 or 32 bytes).
    PreShared(SecretBox<Vec<u8>>),
    /// A password for the PBKDF2 derivation the file names.
    Password(SecretString),
}

impl PskcKey {
    /// A pre-shared key written as hex (spaces around it ignored; its
    /// length is checked against the file's cipher when read). The text and every copy of it stay in wiped memory; the
    /// error never repeats the text.
    pub fn from_hex(text: &SecretString) -> Result<PskcKey, &'static str> {
        use secrecy::ExposeSecret;
        let hex = text.expose_secret().trim().as_bytes();
        let enc = &data_encoding::HEXLOWER_PERMISSIVE;
        let len = enc
            .decode_len(hex.len())
            .map_err(|_| "the PSKC key must be hex (32, 48 or 64 digits)")?;
        // Decoded straight into wiped memory: a partial result is a secret too.
        let mut bytes = zeroize::Zeroizing::new(vec![0u8; len]);
        let n = enc
            .decode_mut(hex, &mut bytes)
            .map_err(|_| "the PSKC key must be hex (32, 48 or 64 digits)")?;
        bytes.truncate(n);
        Ok(PskcKey::PreShared(SecretBox::new(Box::new(
            std::mem::take(&mut *bytes),
        ))))
    }
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
    /// What the readers accepted generously (e.g. stray Base32 bits in an
    /// Entra file), gathered as they read.
    pub warnings: Warnings,
}

/// Options for writing.
#[derive(Debug, Default)]
pub struct WriteOptions {
    /// For PSKC: encrypt the secrets with this key and add ValueMACs.
    pub pskc_key: Option<PskcKey>,
    /// For Azure CSV: the `upn` column (empty when `None`).
    pub upn: Option<String>,
    /// For Azure CSV: each serial's own `upn` (a request's signed UPN
    /// mapping); a serial it does not hold gets `upn`.
    pub upns: Option<std::collections::BTreeMap<String, String>>,
}

/// A stream of records of one file.
pub type Records<'a> = Box<dyn Iterator<Item = Result<Token, RecordError>> + 'a>;

/// A stream of records with the 1-based line each one starts on, for
/// reports that must say where a problem is (duplicates). For PSKC it is
/// the line where the record's `<KeyPackage>` starts.
pub type LocatedRecords<'a> = Box<dyn Iterator<Item = Result<(u64, Token), RecordError>> + 'a>;

/// Opens a stream of the tokens in `input`, read as `format`. Fails at once
/// only when the file as a whole is unreadable (e.g. a missing Azure header
/// or an encrypted PSKC file without a key); bad records come as errors in
/// the stream, and reading goes on after them.
pub fn reader<'a>(
    format: Format,
    input: Box<dyn BufRead + 'a>,
    opts: &'a ReadOptions,
) -> Result<Records<'a>, FormatError> {
    if format == Format::Pskc {
        return pskc::reader(input, opts);
    }
    Ok(Box::new(
        located_reader(format, input, opts)?.map(|r| r.map(|(_, t)| t)),
    ))
}

/// As [`reader`], with the line each record starts on.
pub fn located_reader<'a>(
    format: Format,
    input: Box<dyn BufRead + 'a>,
    opts: &'a ReadOptions,
) -> Result<LocatedRecords<'a>, FormatError> {
    Ok(match format {
        Format::AzureCsv => azure::read_located(input, &opts.warnings)?,
        Format::Hex => hexbase32::read_pairs(input, hexbase32::SecretEncoding::Hex),
        Format::Base32 => hexbase32::read_pairs(input, hexbase32::SecretEncoding::Base32),
        Format::Otpauth => otpauth::read_located(input),
        Format::PrivacyIdea => privacyidea::read_privacyidea(input),
        Format::Pskc => pskc::located_reader(input, opts)?,
    })
}

/// Writes `tokens` in `format`. A token the format cannot hold stops the
/// write with [`FormatError::Unrepresentable`] (part of the output may have
/// been written: write to a temporary file and rename on success).
pub fn write(
    format: Format,
    tokens: &mut dyn Iterator<Item = &Token>,
    out: &mut dyn Write,
    opts: &WriteOptions,
) -> Result<(), FormatError> {
    let mut w = Writer::new(format, out, opts)?;
    for t in tokens {
        w.push(t)?;
    }
    w.finish()
}

/// A file in one format, written a token at a time: the header (if the
/// format has one) when made, each token on [`Writer::push`], the rest on
/// [`Writer::finish`]. For producers that cannot hand over all tokens at
/// once (an export opens seeds on one thread while another encrypts).
///
/// Secrets pass through buffers that are wiped; a writer dropped without
/// `finish` leaves its output incomplete, never a wrong but well-formed file
/// (a PSKC container lacks its closing tag; line formats may lack lines).
pub struct Writer<'w>(WriterKind<'w>, Format);

impl std::fmt::Debug for Writer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("formats::Writer")
    }
}

enum WriterKind<'w> {
    /// One line per token, gathered in a wiped buffer.
    Lines {
        out: lines::SecretOut<'w>,
        format: LineFormat,
    },
    Pskc(pskc::write::Writer<'w>),
}

enum LineFormat {
    Azure {
        upn: String,
        upns: Option<std::collections::BTreeMap<String, String>>,
    },
    Pairs(hexbase32::SecretEncoding),
    Otpauth,
    PrivacyIdea,
}

impl<'w> Writer<'w> {
    /// Starts a file in `format` on `out`.
    pub fn new(
        format: Format,
        out: &'w mut dyn Write,
        opts: &WriteOptions,
    ) -> Result<Self, FormatError> {
        let name = format;
        let format = match format {
            Format::Pskc => {
                return Ok(Writer(
                    WriterKind::Pskc(pskc::writer(out, opts)?),
                    Format::Pskc,
                ))
            }
            Format::AzureCsv => LineFormat::Azure {
                upn: azure::upn(opts)?,
                upns: opts.upns.clone(),
            },
            Format::Hex => LineFormat::Pairs(hexbase32::SecretEncoding::Hex),
            Format::Base32 => LineFormat::Pairs(hexbase32::SecretEncoding::Base32),
            Format::Otpauth => LineFormat::Otpauth,
            Format::PrivacyIdea => LineFormat::PrivacyIdea,
        };
        let mut out = lines::SecretOut::new(out);
        if let LineFormat::Azure { .. } = format {
            azure::push_header(&mut out.buf);
        }
        Ok(Writer(WriterKind::Lines { out, format }, name))
    }

    /// Adds one token. A token the format cannot hold gives
    /// [`FormatError::Unrepresentable`]; the file is then unusable.
    pub fn push(&mut self, token: &Token) -> Result<(), FormatError> {
        // The last line of the capability check `request create` made.
        check_carry(self.1, token)?;
        let (out, format) = match &mut self.0 {
            WriterKind::Pskc(w) => return w.push(token),
            WriterKind::Lines { out, format } => (out, format),
        };
        match format {
            LineFormat::Azure { upn, upns } => {
                let upn = upns
                    .as_ref()
                    .and_then(|m| m.get(token.serial.as_str()))
                    .unwrap_or(upn);
                azure::push_line(&mut out.buf, upn, token)?
            }
            LineFormat::Pairs(encoding) => hexbase32::push_pair(&mut out.buf, *encoding, token),
            LineFormat::Otpauth => otpauth::push_line(&mut out.buf, token)?,
            LineFormat::PrivacyIdea => privacyidea::push_privacyidea(&mut out.buf, token),
        }
        out.maybe_flush()
    }

    /// Completes the file and flushes `out`.
    pub fn finish(self) -> Result<(), FormatError> {
        match self.0 {
            WriterKind::Lines { mut out, .. } => out.flush(),
            WriterKind::Pskc(w) => w.finish(),
        }
    }
}

/// Why a token with `params` and a seed of `seed_len` bytes cannot be
/// written in `format`: every reason, in plain words, joined by `; `;
/// `None` when the format carries it faithfully (the customer's tool
/// computes the same codes from the file).
///
/// One rule set per writer, and the only one: `request create` asks it
/// for every requested token before the request is signed, and every
/// [`Writer`] asks it again (with the authenticated parameters and the
/// real seed) before it writes a token. The answer depends on the seed's
/// length only, never on its bytes.
pub fn cannot_carry(format: Format, params: &TokenParams, seed_len: usize) -> Option<String> {
    let reasons = match format {
        Format::AzureCsv => azure::limits(params, seed_len),
        Format::Hex | Format::Base32 => hexbase32::limits(params),
        Format::Otpauth => lines::limits(params),
        Format::PrivacyIdea => privacyidea::limits(params, seed_len),
        Format::Pskc => pskc_limits(params),
    };
    (!reasons.is_empty()).then(|| reasons.join("; "))
}

/// [`cannot_carry`] for a whole token, as the writers' error.
pub(crate) fn check_carry(format: Format, t: &Token) -> Result<(), FormatError> {
    match cannot_carry(format, &t.params, t.seed.len()) {
        None => Ok(()),
        Some(problem) => Err(FormatError::Unrepresentable {
            serial: t.serial.to_string(),
            format: format.name(),
            problem,
        }),
    }
}

/// What PSKC cannot carry: a manufacturer or model with a character XML
/// 1.0 cannot hold (the writer's `text` check, said before writing).
fn pskc_limits(params: &TokenParams) -> Vec<String> {
    [
        ("manufacturer", &params.manufacturer),
        ("model", &params.model),
    ]
    .into_iter()
    .filter_map(|(what, v)| v.as_deref().map(|v| (what, v)))
    .filter(|(_, v)| {
        v.chars()
            .any(|c| c.is_control() || matches!(c, '\u{FFFE}' | '\u{FFFF}'))
    })
    .map(|(what, _)| format!("the {what} contains a control character, which XML cannot hold"))
    .collect()
}

/// A token's kind in plain words: `TOTP with a 30 s time step`, `HOTP`.
pub(crate) fn kind_words(kind: OtpKind) -> String {
    match kind {
        OtpKind::Totp { period } => format!("TOTP with a {period} s time step"),
        OtpKind::Hotp { .. } => "HOTP".to_owned(),
    }
}

/// How many record errors a [`BatchErrors`] lists; the rest are counted.
pub const MAX_LISTED_ERRORS: usize = 100;

/// Every problem of one file: the first [`MAX_LISTED_ERRORS`] in full, and
/// how many more there were.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchErrors {
    /// The first problems, in file order.
    pub listed: Vec<RecordError>,
    /// How many problems came after the listed ones.
    pub more: u64,
}

impl BatchErrors {
    /// True when the file had no problem.
    pub fn is_empty(&self) -> bool {
        self.listed.is_empty()
    }

    /// How many problems in all.
    pub fn total(&self) -> u64 {
        self.listed.len() as u64 + self.more
    }

    fn push(&mut self, e: RecordError) {
        if self.listed.len() < MAX_LISTED_ERRORS {
            self.listed.push(e);
        } else {
            self.more += 1;
        }
    }
}

impl fmt::Display for BatchErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} problem(s) in the file:", self.total())?;
        for e in &self.listed {
            write!(f, "\n  {e}")?;
        }
        if self.more > 0 {
            write!(f, "\n  and {} more", self.more)?;
        }
        Ok(())
    }
}

impl std::error::Error for BatchErrors {}

/// Reads a whole batch the way ingest needs it: every record checked, the
/// serials checked for duplicates inside the file, and every problem
/// gathered instead of stopping at the first.
///
/// Iterating yields only the tokens that passed; call [`BatchReader::finish`]
/// at the end to learn whether the file as a whole was clean. Ingest is
/// all-or-nothing, so a caller stores the yielded tokens provisionally (in
/// one transaction) and commits only when `finish` returns `Ok`.
pub struct BatchReader<'a> {
    records: LocatedRecords<'a>,
    /// Every serial read so far and where it first appeared (records with
    /// errors count, so a serial repeated after a bad line is still
    /// reported).
    first_seen: SeenSerials,
    /// Whether repeats are looked for here (see
    /// [`BatchReader::leave_repeats_to_caller`]).
    find_repeats: bool,
    errors: BatchErrors,
    position: u64,
    good: u64,
}

impl fmt::Debug for BatchReader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchReader")
            .field("records_read", &self.position)
            .field("good", &self.good)
            .field("errors", &self.errors.total())
            .finish_non_exhaustive()
    }
}

impl<'a> BatchReader<'a> {
    /// Wraps any located record stream.
    pub fn new(records: LocatedRecords<'a>) -> Self {
        BatchReader {
            records,
            first_seen: SeenSerials::default(),
            find_repeats: true,
            errors: BatchErrors::default(),
            position: 0,
            good: 0,
        }
    }

    /// Opens `input` as `format` (see [`located_reader`]) and wraps it.
    pub fn open(
        format: Format,
        input: Box<dyn BufRead + 'a>,
        opts: &'a ReadOptions,
    ) -> Result<Self, FormatError> {
        Ok(Self::new(located_reader(format, input, opts)?))
    }

    /// The problems found so far.
    pub fn errors(&self) -> &BatchErrors {
        &self.errors
    }

    /// Reads what is left and returns the number of good tokens, or every
    /// problem of the file.
    pub fn finish(mut self) -> Result<u64, BatchErrors> {
        for _ in self.by_ref() {}
        if self.errors.is_empty() {
            Ok(self.good)
        } else {
            Err(self.errors)
        }
    }

    /// Makes room for about `n` records in the duplicate check at once,
    /// rather than growing (and rehashing) it as they come: an estimate,
    /// e.g. from the file's size.
    pub fn expect_records(&mut self, n: usize) {
        self.first_seen.reserve(n);
    }

    /// Stops looking for serials repeated within the file: the caller
    /// finds them itself, cheaper (the ingest's database refuses a second
    /// row with a serial it holds), and when it finds one reads the file
    /// again with a reader that looks, to report every problem with its
    /// lines. Keeping every serial of a million-token file in a table was
    /// an eighth of the ingest's time.
    pub fn leave_repeats_to_caller(&mut self) {
        self.find_repeats = false;
    }

    /// Records `serial` at `line`; the error when it was seen before.
    fn check_duplicate(&mut self, serial: &crate::token::Serial, line: u64) -> Option<RecordError> {
        if !self.find_repeats {
            return None;
        }
        let first = self
            .first_seen
            .insert_or_first(serial.as_str(), line, self.position)?;
        Some(RecordError::of(
            line,
            serial,
            Problem::DuplicateSerial { first },
        ))
    }
}

/// The serials of a batch and where each first appeared, packed for a
/// batch of millions: the serials' bytes in one arena, a table of indices
/// hashed with foldhash (randomly seeded per set, much cheaper than
/// SipHash on short keys), and one word per serial for its place. A map of
/// boxed strings held about 100 bytes per serial (an allocation each, and
/// 32-byte slots); this holds about 30 plus the serial.
///
/// The serials are chosen by whoever wrote the file: the random seed keeps
/// them from picking colliding keys, and a probe compares the full bytes,
/// so a collision costs time, never a wrong answer.
#[derive(Default)]
struct SeenSerials {
    /// Indices into `ends` and `first`.
    table: hashbrown::HashTable<usize>,
    /// Every serial, concatenated in the order first seen.
    bytes: Vec<u8>,
    /// Where serial `i` ends in `bytes` (it starts where `i - 1` ends).
    ends: Vec<usize>,
    /// Where serial `i` first appeared: its line, or with [`RECORD_BIT`]
    /// set its record number (a reader that reports no line).
    first: Vec<u64>,
    hasher: foldhash::fast::RandomState,
}

/// The hash of serial `j` of a [`SeenSerials`] (for moving it when the
/// table grows).
fn hash_of(hasher: &foldhash::fast::RandomState, bytes: &[u8], ends: &[usize], j: usize) -> u64 {
    use std::hash::BuildHasher;
    let start = j
        .checked_sub(1)
        .and_then(|b| ends.get(b))
        .copied()
        .unwrap_or(0);
    let end = ends.get(j).copied().unwrap_or(start);
    hasher.hash_one(bytes.get(start..end).unwrap_or_default())
}

/// Marks a place in [`SeenSerials::first`] as a record number.
const RECORD_BIT: u64 = 1 << 63;

impl SeenSerials {
    /// Makes room for `n` more serials.
    fn reserve(&mut self, n: usize) {
        let (hasher, bytes, ends) = (&self.hasher, &self.bytes, &self.ends);
        self.table.reserve(n, |&j| hash_of(hasher, bytes, ends, j));
        self.ends.reserve(n);
        self.first.reserve(n);
        self.bytes.reserve(n.saturating_mul(8));
    }

    /// The bytes of serial `i`.
    fn serial(&self, i: usize) -> &[u8] {
        let start = match i.checked_sub(1) {
            Some(before) => self.ends.get(before).copied().unwrap_or(0),
            None => 0,
        };
        let end = self.ends.get(i).copied().unwrap_or(start);
        self.bytes.get(start..end).unwrap_or_default()
    }

    /// Records `serial` at `line` (0: none) and record `position`; if it was
    /// recorded before, returns where it first appeared instead.
    fn insert_or_first(
        &mut self,
        serial: &str,
        line: u64,
        position: u64,
    ) -> Option<problem::Place> {
        use std::hash::BuildHasher;
        let key = serial.as_bytes();
        let hash = self.hasher.hash_one(key);
        let found = self.table.find(hash, |&i| self.serial(i) == key).copied();
        if let Some(i) = found {
            let at = self.first.get(i).copied().unwrap_or(0);
            return Some(if at & RECORD_BIT != 0 {
                problem::Place::Record(at & !RECORD_BIT)
            } else {
                problem::Place::Line(at)
            });
        }
        let i = self.ends.len();
        self.bytes.extend_from_slice(key);
        self.ends.push(self.bytes.len());
        // A line number never reaches 2^63; a record number either.
        self.first.push(if line > 0 {
            line
        } else {
            position | RECORD_BIT
        });
        let (hasher, bytes, ends) = (&self.hasher, &self.bytes, &self.ends);
        self.table
            .insert_unique(hash, i, |&j| hash_of(hasher, bytes, ends, j));
        None
    }
}

impl Iterator for BatchReader<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        loop {
            let record = self.records.next()?;
            self.position += 1;
            match record {
                Ok((line, token)) => {
                    if let Some(e) = self.check_duplicate(&token.serial, line) {
                        self.errors.push(e);
                        continue;
                    }
                    self.good += 1;
                    return Some(token);
                }
                Err(e) => {
                    // Only a shown serial is kept to check for repeats: a
                    // withheld one is not kept anywhere.
                    let serial = match &e.serial {
                        RecordSerial::Shown(s) => Some(s.clone()),
                        _ => None,
                    };
                    if let Some(serial) = serial {
                        let dup = self.check_duplicate(&serial, e.line);
                        self.errors.push(e);
                        if let Some(d) = dup {
                            self.errors.push(d);
                        }
                        continue;
                    }
                    self.errors.push(e);
                }
            }
        }
    }
}
