//! The text machinery every line format shares: `hex` and `base32`,
//! `privacyidea`, Azure CSV and otpauth all read and write through it.
//!
//! Factory files are large and messy: a million lines, written on Windows
//! (BOM, CRLF), edited in spreadsheets (spaces around fields, quoted cells,
//! trailing empty lines). The reader here reads one line at a time into a
//! buffer it reuses, splits it into fields without allocating once the
//! buffers have grown, and wipes those buffers because they held secrets.
//! A bad line becomes a [`RecordError`] naming its line and serial; reading
//! goes on, so ingest can list every problem of a file at once.
//!
//! The secret decoders and the rules for serial, digits, period and counter
//! live here too rather than in each format: a Base32 secret with spaces is
//! read alike in Azure CSV and in otpauth, and a refusal is worded alike
//! (never showing the field) whichever format the file is in.
use std::io::{BufRead, Write};
use std::ops::Range;

use zeroize::Zeroize;

use super::problem::{Encoding, Position, Problem};
use super::{FormatError, LocatedRecords, RecordError};
use crate::token::{OtpKind, Seed, Serial, Token, TokenParams};

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Longest line accepted. A record is well under 1 KiB; the bound keeps a
/// file without line breaks from being read into memory whole.
pub(crate) const MAX_LINE_BYTES: usize = 64 * 1024;

/// Consumes input up to and including the next line break, in the reader's
/// own buffer-sized steps (a runaway line is skipped, not stored).
fn skip_rest_of_line<R: BufRead>(input: &mut R) -> std::io::Result<()> {
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        match buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                input.consume(i + 1);
                return Ok(());
            }
            None => {
                let n = buf.len();
                input.consume(n);
            }
        }
    }
}

/// Wipes the bytes a buffer holds and empties it, keeping its allocation
/// for the next line. Only the used part is wiped (not the whole capacity,
/// which `Zeroize for Vec` does): every byte ever stored was inside the
/// used part when it was wiped, so spare capacity holds no secret (except
/// an allocation a growing buffer left behind, which is rare: buffers start
/// large enough for any ordinary line). This runs per line of a
/// million-line file, where wiping full capacities with volatile writes
/// cost a large share of the read time.
fn wipe(buf: &mut Vec<u8>) {
    buf.as_mut_slice().zeroize();
    buf.clear();
}

/// As [`wipe`], for a string.
fn wipe_string(buf: &mut String) {
    let mut bytes = std::mem::take(buf).into_bytes();
    wipe(&mut bytes);
    // An empty byte vector is always valid UTF-8; the default is never used.
    *buf = String::from_utf8(bytes).unwrap_or_default();
}

/// A line reader that keeps one line (and its fields) at a time.
pub(crate) struct Lines<R> {
    input: R,
    /// The raw bytes of the current line. Holds secrets: wiped per line and on drop.
    raw: Vec<u8>,
    /// Where the trimmed line text is inside `raw`.
    text: Range<usize>,
    /// Field values, unquoted, one after the other. Holds secrets: wiped likewise.
    fields: String,
    ranges: Vec<Range<usize>>,
    split_error: Option<Problem>,
    line_no: u64,
    done: bool,
    /// Skip lines whose first non-space character is `#`.
    comments: bool,
    /// Split lines into comma-separated fields.
    split: bool,
}

impl<R> Drop for Lines<R> {
    fn drop(&mut self) {
        // The buffers held seed text; wipe them before the memory is freed.
        self.raw.zeroize();
        self.fields.zeroize();
    }
}

impl<R: BufRead> Lines<R> {
    pub(crate) fn new(input: R, comments: bool, split: bool) -> Self {
        Lines {
            input,
            raw: Vec::with_capacity(256),
            text: 0..0,
            fields: String::with_capacity(256),
            ranges: Vec::with_capacity(8),
            split_error: None,
            line_no: 0,
            done: false,
            comments,
            split,
        }
    }

    /// Advances to the next line that has content; returns its 1-based
    /// number. Blank lines, rows of empty cells (when splitting) and
    /// comments (when enabled) are skipped. A read
    /// failure ends the stream with one error.
    pub(crate) fn next_line(&mut self) -> Option<Result<u64, RecordError>> {
        loop {
            if self.done {
                return None;
            }
            wipe(&mut self.raw);
            // Bounded, so a file without line breaks is never held whole.
            let mut bounded = std::io::Read::take(&mut self.input, MAX_LINE_BYTES as u64 + 1);
            let read = bounded.read_until(b'\n', &mut self.raw);
            let read = match read {
                Ok(0) => {
                    self.done = true;
                    return None;
                }
                Ok(_) if self.raw.len() > MAX_LINE_BYTES && !self.raw.ends_with(b"\n") => {
                    wipe(&mut self.raw);
                    skip_rest_of_line(&mut self.input)
                }
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            };
            self.line_no += 1;
            let line = self.line_no;
            if let Err(e) = read {
                self.done = true;
                return Some(Err(RecordError::at(
                    line,
                    Problem::ReadFailed(e.to_string()),
                )));
            }
            if self.raw.is_empty() {
                let problem = Problem::LineTooLong {
                    max: MAX_LINE_BYTES,
                };
                return Some(Err(RecordError::at(line, problem)));
            }
            let mut start = 0;
            if line == 1 && self.raw.starts_with(BOM) {
                start = BOM.len();
            }
            let mut end = self.raw.len();
            while end > start && matches!(self.raw[end - 1], b'\n' | b'\r') {
                end -= 1;
            }
            let text = match std::str::from_utf8(&self.raw[start..end]) {
                Ok(t) => t,
                Err(e) => {
                    // Name the field, not the column: a column is an
                    // offset into what may be a secret.
                    let before = &self.raw[start..start + e.valid_up_to()];
                    let field = self
                        .split
                        .then(|| before.iter().filter(|&&b| b == b',').count() + 1);
                    return Some(Err(RecordError::at(line, Problem::NotUtf8 { field })));
                }
            };
            let trimmed = text.trim_start();
            let lead = text.len() - trimmed.len();
            let trimmed = trimmed.trim_end();
            if trimmed.is_empty() || (self.comments && trimmed.starts_with('#')) {
                continue;
            }
            self.text = start + lead..start + lead + trimmed.len();
            if self.split {
                wipe_string(&mut self.fields);
                self.ranges.clear();
                self.split_error = split_fields(trimmed, &mut self.fields, &mut self.ranges).err();
                // A row of empty cells (`,,,,,`) is what spreadsheets leave
                // below the data: as blank as a blank line.
                if self.split_error.is_none() && self.fields.is_empty() {
                    continue;
                }
            }
            return Some(Ok(line));
        }
    }

    /// The current line, without surrounding spaces and line ending.
    pub(crate) fn text(&self) -> &str {
        // from_utf8 succeeded on a range containing this one, and the range
        // ends come from str::trim, which cuts at char boundaries.
        std::str::from_utf8(&self.raw[self.text.clone()]).unwrap_or("")
    }

    /// The records of the remaining lines, one per line that `record`
    /// reads (`None` from it skips the line, e.g. a header), each with its
    /// line; a line the reader refuses is an error in the stream.
    pub(crate) fn into_records<'a>(
        mut self,
        mut record: impl FnMut(u64, &Self) -> Option<Result<Token, RecordError>> + 'a,
    ) -> LocatedRecords<'a>
    where
        R: 'a,
    {
        Box::new(std::iter::from_fn(move || loop {
            let line = match self.next_line()? {
                Ok(l) => l,
                Err(e) => return Some(Err(e)),
            };
            if let Some(r) = record(line, &self) {
                return Some(r.map(|t| (line, t)));
            }
        }))
    }

    /// The fields of the current line (when splitting is enabled).
    pub(crate) fn fields(&self) -> Fields<'_> {
        Fields {
            buf: &self.fields,
            ranges: &self.ranges,
            error: self.split_error.as_ref(),
        }
    }
}

/// The comma-separated fields of one line. They hold the secret, so
/// `Debug` shows only how many there are.
#[derive(Clone, Copy)]
pub(crate) struct Fields<'l> {
    buf: &'l str,
    ranges: &'l [Range<usize>],
    /// Why the line could not be split (an unclosed quote), if it could not.
    pub(crate) error: Option<&'l Problem>,
}

impl std::fmt::Debug for Fields<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fields")
            .field("count", &self.ranges.len())
            .field("content", &"[REDACTED]")
            .field("error", &self.error.map(Problem::kind))
            .finish()
    }
}

impl<'l> Fields<'l> {
    /// Field `i`, trimmed; empty when the line has fewer fields.
    pub(crate) fn get(&self, i: usize) -> &'l str {
        self.ranges
            .get(i)
            .and_then(|r| self.buf.get(r.clone()))
            .unwrap_or("")
    }

    /// How many fields the line has.
    pub(crate) fn len(&self) -> usize {
        self.ranges.len()
    }

    /// The number of fields once trailing empty ones (a spreadsheet's
    /// `,,,`) are dropped.
    pub(crate) fn len_used(&self) -> usize {
        let mut n = self.len();
        while n > 0 && self.get(n - 1).is_empty() {
            n -= 1;
        }
        n
    }

    /// The fields after the first `n` (a layout with leading columns the
    /// vault does not keep, such as privacyIDEA's user columns).
    pub(crate) fn skip(self, n: usize) -> Fields<'l> {
        Fields {
            buf: self.buf,
            ranges: self.ranges.get(n..).unwrap_or(&[]),
            error: self.error,
        }
    }
}

/// Splits `line` at commas into `out`, with CSV double quotes (`""` is a
/// quote inside a quoted field). Unquoted fields are trimmed; a quoted
/// field keeps its inner spaces.
fn split_fields(
    line: &str,
    out: &mut String,
    ranges: &mut Vec<Range<usize>>,
) -> Result<(), Problem> {
    let mut rest = line;
    loop {
        let s = rest.trim_ascii_start();
        let start = out.len();
        if let Some(body) = s.strip_prefix('"') {
            let mut after = None;
            let mut chunk_start = 0;
            let bytes = body.as_bytes();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'"' {
                    out.push_str(&body[chunk_start..i]);
                    if bytes.get(i + 1) == Some(&b'"') {
                        out.push('"');
                        i += 2;
                        chunk_start = i;
                        continue;
                    }
                    after = Some(&body[i + 1..]);
                    break;
                }
                i += 1;
            }
            let Some(after) = after else {
                return Err(Problem::UnclosedQuote);
            };
            ranges.push(start..out.len());
            let after = after.trim_ascii_start();
            if after.is_empty() {
                return Ok(());
            }
            match after.strip_prefix(',') {
                Some(r) => rest = r,
                None => return Err(Problem::TextAfterQuote),
            }
        } else {
            match s.find(',') {
                Some(i) => {
                    out.push_str(s[..i].trim_ascii_end());
                    ranges.push(start..out.len());
                    rest = &s[i + 1..];
                }
                None => {
                    out.push_str(s.trim_ascii_end());
                    ranges.push(start..out.len());
                    return Ok(());
                }
            }
        }
    }
}

/// Checks a serial field; the error describes the field (its length and
/// what is wrong), never shows it: a field that is not a serial may well
/// be a secret in the wrong column.
pub(crate) fn parse_serial(line: u64, text: &str) -> Result<Serial, RecordError> {
    Serial::parse(text).map_err(|e| RecordError::at(line, Problem::serial(text, &e)))
}

/// The start every `serial,secret,...` record shares: a split error of the
/// line, then the serial, then at least the secret and at most `max_fields`
/// fields (`expected` describes them in the error). Returns the serial.
pub(crate) fn serial_and_field_count(
    line: u64,
    f: &Fields<'_>,
    max_fields: usize,
    expected: &'static str,
) -> Result<Serial, RecordError> {
    if let Some(problem) = f.error {
        return Err(RecordError::at(line, problem.clone()));
    }
    let serial = parse_serial(line, f.get(0))?;
    let used = f.len_used();
    if used < 2 {
        return Err(RecordError::of(line, &serial, Problem::SecretMissing));
    }
    if used > max_fields {
        return Err(RecordError::of(
            line,
            &serial,
            Problem::FieldCount {
                expected,
                found: used,
            },
        ));
    }
    Ok(serial)
}

/// Turns decoded bytes into a seed, with Seed's rules (the bytes are moved).
pub(crate) fn to_seed(bytes: Vec<u8>) -> Result<Seed, Problem> {
    Seed::new(bytes).map_err(Problem::from)
}

/// Decodes `input` into a fresh buffer; on failure the partly decoded
/// secret is wiped rather than freed as is. `None` for empty input too.
fn decode_wiping(enc: &data_encoding::Encoding, input: &[u8]) -> Option<Vec<u8>> {
    let len = enc.decode_len(input.len()).ok().filter(|&n| n > 0)?;
    let mut out = vec![0u8; len];
    match enc.decode_mut(input, &mut out) {
        Ok(n) => {
            out.truncate(n);
            Some(out)
        }
        Err(_) => {
            out.zeroize();
            None
        }
    }
}

/// The problem of a character outside `encoding` at byte `i` of `text`:
/// where it is, coarsely, and never which character it is.
fn bad_character(text: &str, i: usize, encoding: Encoding) -> Problem {
    let body = text.trim();
    let lead = text.len() - text.trim_start().len();
    let at = Position::of(i.saturating_sub(lead), body.len());
    let looks_hex = encoding == Encoding::Base32
        && body
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b' ' || b == b'\t');
    Problem::SecretBadCharacter {
        encoding,
        at,
        looks_hex,
    }
}

/// Decodes a Base32 secret as real files write it: any case, `=` padding,
/// spaces between groups. `scratch` is a buffer the caller reuses; it is
/// wiped here after use. Errors name the kind of problem and a coarse
/// position, never a character of the secret nor its offset.
pub(crate) fn decode_base32(text: &str, scratch: &mut Vec<u8>) -> Result<Vec<u8>, Problem> {
    // Fast path for the million well-formed records: one pass, straight
    // from the line. Anything it refuses (spaces between groups, or an
    // error) goes the careful way below, which finds words for the problem.
    let body = text.trim_end_matches('=');
    if let Some(bytes) = decode_wiping(&data_encoding::BASE32_NOPAD_NOCASE, body.as_bytes()) {
        return Ok(bytes);
    }
    wipe(scratch);
    let mut padding = false;
    let mut result = Ok(());
    for (i, &b) in text.as_bytes().iter().enumerate() {
        match b {
            b' ' | b'\t' => {}
            b'=' => padding = true,
            b'a'..=b'z' | b'A'..=b'Z' | b'2'..=b'7' if !padding => {
                scratch.push(b.to_ascii_uppercase())
            }
            _ => {
                result = Err(if padding {
                    Problem::SecretAfterPadding
                } else {
                    bad_character(text, i, Encoding::Base32)
                });
                break;
            }
        }
    }
    let decoded = result.and_then(|()| {
        if scratch.is_empty() {
            return Err(Problem::SecretMissing);
        }
        let enc = &data_encoding::BASE32_NOPAD;
        if enc.decode_len(scratch.len()).is_err() {
            return Err(Problem::SecretPartialByte {
                encoding: Encoding::Base32,
                symbols: scratch.len(),
            });
        }
        decode_wiping(enc, scratch).ok_or(Problem::SecretStrayBits)
    });
    wipe(scratch);
    decoded
}

/// Decodes a hex secret: any case, spaces between groups allowed.
/// Same error discipline as [`decode_base32`].
pub(crate) fn decode_hex(text: &str, scratch: &mut Vec<u8>) -> Result<Vec<u8>, Problem> {
    if let Some(bytes) = decode_wiping(&data_encoding::HEXLOWER_PERMISSIVE, text.as_bytes()) {
        return Ok(bytes);
    }
    wipe(scratch);
    let mut result = Ok(());
    for (i, &b) in text.as_bytes().iter().enumerate() {
        match b {
            b' ' | b'\t' => {}
            b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => scratch.push(b),
            _ => {
                result = Err(bad_character(text, i, Encoding::Hex));
                break;
            }
        }
    }
    let decoded = result.and_then(|()| {
        if scratch.is_empty() {
            return Err(Problem::SecretMissing);
        }
        if scratch.len() % 2 == 1 {
            return Err(Problem::SecretPartialByte {
                encoding: Encoding::Hex,
                symbols: scratch.len(),
            });
        }
        decode_wiping(&data_encoding::HEXLOWER_PERMISSIVE, scratch).ok_or(
            Problem::SecretBadCharacter {
                encoding: Encoding::Hex,
                at: Position::Middle,
                looks_hex: false,
            },
        )
    });
    wipe(scratch);
    decoded
}

/// A write buffer for secret-bearing output: lines gather here and go out
/// in large writes (the caller's writer may be an unbuffered file); the
/// buffer is wiped after every write and on drop.
pub(crate) struct SecretOut<'w> {
    out: &'w mut dyn Write,
    pub(crate) buf: Vec<u8>,
}

impl<'w> SecretOut<'w> {
    const CHUNK: usize = 64 * 1024;

    pub(crate) fn new(out: &'w mut dyn Write) -> Self {
        SecretOut {
            out,
            buf: Vec::with_capacity(Self::CHUNK + 512),
        }
    }

    /// Writes out what has gathered when it is large.
    pub(crate) fn maybe_flush(&mut self) -> Result<(), FormatError> {
        if self.buf.len() >= Self::CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes out everything gathered and flushes the writer.
    pub(crate) fn flush(&mut self) -> Result<(), FormatError> {
        let r = self.out.write_all(&self.buf);
        wipe(&mut self.buf);
        r?;
        self.out.flush()?;
        Ok(())
    }
}

impl Drop for SecretOut<'_> {
    fn drop(&mut self) {
        self.buf.zeroize();
    }
}

/// Appends a seed in Base32 (uppercase, unpadded) without an intermediate copy.
pub(crate) fn push_base32(buf: &mut Vec<u8>, seed: &Seed) {
    let enc = &data_encoding::BASE32_NOPAD;
    let start = buf.len();
    buf.resize(start + enc.encode_len(seed.len()), 0);
    enc.encode_mut(seed.expose(), &mut buf[start..]);
}

/// Appends a seed in lowercase hex without an intermediate copy.
pub(crate) fn push_hex(buf: &mut Vec<u8>, seed: &Seed) {
    let enc = &data_encoding::HEXLOWER;
    let start = buf.len();
    buf.resize(start + enc.encode_len(seed.len()), 0);
    enc.encode_mut(seed.expose(), &mut buf[start..]);
}

/// Digits: 6 or 8; empty means 6.
pub(crate) fn parse_digits(text: &str) -> Result<u8, Problem> {
    match text {
        "" | "6" => Ok(6),
        "8" => Ok(8),
        other => Err(Problem::DigitsInvalid {
            value: super::problem::number(other),
        }),
    }
}

/// Seconds per TOTP step: a positive whole number; empty means 30.
pub(crate) fn parse_period(text: &str) -> Result<u32, Problem> {
    if text.is_empty() {
        return Ok(30);
    }
    match text.parse::<u32>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(Problem::PeriodInvalid {
            value: super::problem::number(text),
        }),
    }
}

/// HOTP counter: a whole number; empty means 0.
pub(crate) fn parse_counter(text: &str) -> Result<u64, Problem> {
    if text.is_empty() {
        return Ok(0);
    }
    text.parse::<u64>().map_err(|_| Problem::CounterInvalid)
}

/// What the otpauth and privacyIDEA readers (ours and the customers')
/// would refuse: digits other than 6 or 8, a TOTP period of 0.
pub(crate) fn limits(p: &TokenParams) -> Vec<String> {
    let mut reasons = Vec::new();
    if p.digits != 6 && p.digits != 8 {
        reasons.push(format!("{} digits; the format holds 6 or 8", p.digits));
    }
    if p.kind == (OtpKind::Totp { period: 0 }) {
        reasons.push("a TOTP period of 0 seconds".to_owned());
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> Vec<String> {
        let mut out = String::new();
        let mut ranges = Vec::new();
        split_fields(line, &mut out, &mut ranges).unwrap();
        ranges.into_iter().map(|r| out[r].to_owned()).collect()
    }

    #[test]
    fn splits_plain_and_quoted_fields() {
        assert_eq!(split(" a , b,c "), ["a", "b", "c"]);
        assert_eq!(split("a,,"), ["a", "", ""]);
        assert_eq!(split(r#"a," x, ""y"" ",c"#), ["a", r#" x, "y" "#, "c"]);
    }

    #[test]
    fn base32_tolerates_case_spaces_padding() {
        let mut s = Vec::new();
        let a = decode_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", &mut s).unwrap();
        let b = decode_base32("gezd gnbv gy3t qojq gezd gnbv gy3t qojq", &mut s).unwrap();
        assert_eq!(a, b"12345678901234567890");
        assert_eq!(a, b);
        let c = decode_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY======", &mut s).unwrap();
        assert_eq!(c, b"1234567890123456");
    }

    #[test]
    fn base32_errors_name_the_kind_and_place_not_the_character() {
        let mut s = Vec::new();
        let e = decode_base32("GEZDGNBVGY3TQOJ!", &mut s).unwrap_err();
        let shown = e.to_string();
        assert!(
            shown.contains("at its end") && !shown.contains('!'),
            "{shown}"
        );
        assert!(!shown.contains("16") && !shown.contains("GEZD"), "{shown}");
        let e = decode_base32("3132333435363738393031323334353637383930", &mut s).unwrap_err();
        assert_eq!(e.kind(), "secret_bad_character");
        let shown = e.to_string();
        assert!(
            shown.contains("is the secret hex?") && !shown.contains('1'),
            "{shown}"
        );
    }

    #[test]
    fn fields_debug_shows_no_content() {
        let mut lines = Lines::new(
            &b"100,3132333435363738393031323334353637383930\n"[..],
            true,
            true,
        );
        lines.next_line().unwrap().unwrap();
        let shown = format!("{:?}", lines.fields());
        assert!(
            shown.contains("count: 2") && shown.contains("REDACTED"),
            "{shown}"
        );
        assert!(!shown.contains("3132") && !shown.contains("100"), "{shown}");
    }

    #[test]
    fn fast_and_careful_decoders_agree() {
        let mut s = Vec::new();
        for text in [
            "GEZD=GNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
            "GEZDGNBVGY3TQOJQGEZDGNBVGZ",
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ",
            " = ",
        ] {
            assert!(decode_base32(text, &mut s).is_err(), "{text}");
        }
        assert_eq!(
            decode_base32("  gezdgnbvgy3tqojq GEZDGNBVGY3TQOJQ == ", &mut s).unwrap(),
            b"12345678901234567890"
        );
        assert!(decode_base32("GEZDGNBVGY3TQOJQGEZDGNBVGZ", &mut s)
            .unwrap_err()
            .to_string()
            .contains("stray bits"));
        assert!(decode_base32("GEZDGNBVGY3TQOJQGEZDGNBVG", &mut s)
            .unwrap_err()
            .to_string()
            .contains("whole number"));
        assert_eq!(
            decode_hex("31 32 33 34 35 36 37 38 39 30 31 32 33 34 35 36", &mut s).unwrap(),
            b"1234567890123456"
        );
        assert_eq!(
            decode_hex("3132333435363738393031323334353A", &mut s).unwrap(),
            b"123456789012345:"
        );
        assert!(decode_hex("313233343536373839303132333435363", &mut s)
            .unwrap_err()
            .to_string()
            .contains("odd"));
    }
}
