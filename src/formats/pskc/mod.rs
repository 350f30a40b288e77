//! PSKC (RFC 6030): the XML KeyContainer token vendors ship seeds in.
//!
//! Reading is the part that matters for safety: factory files are outside
//! input, may be encrypted, and may hold a million tokens. So the file is
//! streamed (one KeyPackage in memory at a time), names are matched by
//! namespace rather than prefix, and every encrypted value must carry a
//! ValueMAC that is checked, in constant time, before it is decrypted: a
//! wrong password or an altered file is reported, never turned into a wrong
//! seed. An encrypted file without a key is refused before any record
//! ([`FormatError::KeyNeeded`]). Two refusals guard against someone who
//! can write to the factory media but does not hold the key: a secret in
//! plain text inside an encrypted file is a record error (nothing vouches
//! for it), and a key given for a file that is not encrypted is a file
//! error (stripping the encryption also strips the MACs). RFC 6030's MACs
//! do not bind a value to its KeyPackage, so whole encrypted values can
//! still be swapped between packages of one file; that is the format's
//! limit, not the reader's.
//!
//! What the reader takes from each KeyPackage:
//!
//! - the serial from `DeviceInfo/SerialNo`, or, when a package has none,
//!   from the `Id` attribute of its `Key` (RFC 6030's own figure 2 has no
//!   DeviceInfo; vendors put the serial in `Key Id` then);
//! - `Manufacturer` and `Model` from `DeviceInfo`;
//! - the type from the `Key Algorithm` URI: [`HOTP_URI`] and [`TOTP_URI`],
//!   and the `…:pskc#hotp` / `…:pskc#totp` and
//!   `http://www.ietf.org/keyprov/pskc#hotp` spellings seen in the wild;
//!   anything else (PIN, OCRA, vendor algorithms) is a record error;
//! - digits from `ResponseFormat Length` (6 or 8, `Encoding="DECIMAL"`),
//!   the hash from `AlgorithmParameters/Suite` (SHA1 when absent);
//! - `Data/Secret`, `Counter` (HOTP, default 0), `TimeInterval` (TOTP,
//!   default 30), each a PlainValue or an EncryptedValue with ValueMAC.
//!   `Time` (T0) must be 0, since a token's parameters have no place for
//!   another epoch; `TimeDrift` is checked to be a number and otherwise
//!   ignored (verification already allows a window of steps).
//!
//! A problem in one KeyPackage is a [`RecordError`](super::RecordError) with the line where the
//! package starts and its serial; the rest of the file is still read. A
//! problem with the file as a whole (not XML, no KeyContainer, a Version
//! other than 1.0, an unusable EncryptionKey, a MAC key that the key given
//! cannot decrypt) is a [`FormatError`] before any record; XML that breaks
//! in the middle ends the stream with one last record error.
//!
//! Writing produces what RFC 6030 section 6 describes: plain values with no
//! key; with a password, PBKDF2-HMAC-SHA1 ([`PBKDF2_ITERATIONS`] rounds, a
//! random 16-byte salt, a 16-byte key) and aes128-cbc with an hmac-sha1
//! ValueMAC under a random MAC key that travels encrypted in `MACMethod`;
//! with a pre-shared key, the `ds:KeyName` `Pre-shared-key` and the AES-CBC
//! that fits the key's length, with hmac-sha1 (16-byte keys) or hmac-sha256
//! (24- and 32-byte keys). Counters and intervals stay plain, as
//! python-pskc writes them.

mod crypto;
mod package;
mod read;
pub(crate) mod write;
mod xml;

#[cfg(test)]
mod tests;

use std::io::{BufRead, Write};

use super::{FormatError, LocatedRecords, ReadOptions, Records, WriteOptions};
use crate::token::Token;

/// The HOTP algorithm URI of RFC 6030 section 10.
pub const HOTP_URI: &str = "urn:ietf:params:xml:ns:keyprov:pskc:hotp";
/// The TOTP algorithm URI of the IANA PSKC algorithm registry.
pub const TOTP_URI: &str = "urn:ietf:params:xml:ns:keyprov:pskc:totp";

/// PBKDF2-HMAC-SHA1 rounds the writer uses for password-protected files:
/// OWASP's 2023 recommendation for PBKDF2-HMAC-SHA1 (1,300,000), which
/// costs about half a second once per file; RFC 6030 does not set one.
pub const PBKDF2_ITERATIONS: u32 = 1_300_000;

/// Most PBKDF2 rounds the reader accepts, so that a file cannot stall an
/// ingest for hours; ten times what the writer uses.
pub const MAX_PBKDF2_ITERATIONS: u32 = 13_000_000;

/// Opens a PSKC KeyContainer and streams its KeyPackages as tokens.
///
/// Reads the container's header (the root, `EncryptionKey`, `MACMethod`)
/// before returning, so a file that is not PSKC, or is encrypted and no key
/// was given, fails here rather than at the first record.
pub fn reader<'a>(
    input: Box<dyn BufRead + 'a>,
    opts: &'a ReadOptions,
) -> Result<Records<'a>, FormatError> {
    Ok(Box::new(
        read::open(input, opts)?.map(|r| r.map(|(_, t)| t)),
    ))
}

/// As [`reader`], with the line each `<KeyPackage>` starts on (so that a
/// duplicate serial is reported at the lines of both packages).
pub(crate) fn located_reader<'a>(
    input: Box<dyn BufRead + 'a>,
    opts: &'a ReadOptions,
) -> Result<LocatedRecords<'a>, FormatError> {
    read::open(input, opts)
}

/// Writes `tokens` as one KeyContainer, encrypted when `opts.pskc_key` is
/// set (see the module documentation for the exact algorithms).
pub fn write(
    tokens: &mut dyn Iterator<Item = &Token>,
    out: &mut dyn Write,
    opts: &WriteOptions,
) -> Result<(), FormatError> {
    write::write(tokens, out, opts, PBKDF2_ITERATIONS)
}

/// A KeyContainer written one token at a time (see [`crate::formats::Writer`]).
pub(crate) fn writer<'w>(
    out: &'w mut dyn Write,
    opts: &WriteOptions,
) -> Result<write::Writer<'w>, FormatError> {
    write::Writer::new(out, opts, PBKDF2_ITERATIONS)
}
