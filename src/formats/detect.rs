//! Telling the format of a seed file from its first bytes, for `ingest`
//! without `--format`.
//!
//! Detection is kept apart from the readers because it is the one place
//! that knows every format at once, while each reader knows only its own.
//! It is a guess, and it does not judge the file: it picks the reader that
//! will then name every problem line by line. That is why it counts fitting
//! lines rather than require them all, and why a headerless Azure row is
//! still called Azure (its reader says the header is missing, which helps
//! more than "unknown format"). It looks only at the head the caller has
//! buffered, so a million-line file is not read twice. The rules are the
//! ones docs/formats.md ("Detection") promises operators: change both or
//! neither.

use std::io::BufRead;

use super::{hexbase32, Format, FormatError};
/// How many bytes of the start of a file [`detect`] wants to see.
pub const DETECT_HEAD_BYTES: usize = 8 * 1024;

/// Tells the format of a file from its first bytes (ideally
/// [`DETECT_HEAD_BYTES`]; a partial last line is ignored).
///
/// The rule, in order, on the first line with content (after a UTF-8 BOM,
/// blank lines and `#` comments):
///
/// 1. it starts with `<` (XML; a KeyContainer, the only XML format): `pskc`;
/// 2. it starts with `otpauth://` (any case): `otpauth`;
/// 3. its first field is `upn` (the Azure header, even a misspelt one), or
///    it is a headerless Azure row (6 fields, the fourth 30 or 60), so that
///    reading names what is wrong with it: `azure-csv`;
/// 4. it has 3 to 6 comma-separated fields and the third is `totp` or
///    `hotp`, or (privacyIDEA's `# version: 2` layout, three user columns
///    first) 6 to 9 fields and the sixth is one of them: `privacyidea`;
/// 5. most lines seen have 2 fields (a first line like `serial,secret_hex`
///    is a header and skipped): `hex` when every secret is hex digits of
///    even length, or when at least as many are hex as Base32; else
///    `base32`. Lines that fit neither are left for the reader to name.
///
/// Ambiguity in rule 5: a secret made only of `A`-`F` and `2`-`7` is valid
/// in both encodings. It resolves to hex, because every line of the head
/// is checked: a Base32 secret of 128 bits or more almost surely holds a
/// letter after `F` somewhere in the file's first lines, whereas a hex
/// file never holds one. Files that still mislead can name `--format`.
pub fn detect(head: &[u8]) -> Result<Format, FormatError> {
    let head = head
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(head);
    let trimmed = head.trim_ascii_start();
    if trimmed.starts_with(b"<") {
        return Ok(Format::Pskc);
    }
    // A cut-off last line says nothing reliable; drop it unless it is all.
    let complete = match head.iter().rposition(|&b| b == b'\n') {
        Some(end) if end + 1 < head.len() => &head[..end + 1],
        _ => head,
    };
    let text = String::from_utf8_lossy(complete);
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .peekable();
    let Some(first) = lines.peek().copied() else {
        return Err(FormatError::Undetected("the file holds no records".into()));
    };
    if first
        .get(..10)
        .is_some_and(|s| s.eq_ignore_ascii_case("otpauth://"))
    {
        return Ok(Format::Otpauth);
    }
    let fields = |l: &str| {
        l.split(',')
            .map(|f| f.trim().trim_matches('"').trim().to_ascii_lowercase())
            .collect::<Vec<_>>()
    };
    let f = fields(first);
    // A headerless Azure row (6 fields, interval 30/60) is still Azure, so
    // reading reports the missing header rather than "unknown format".
    if f[0] == "upn" || (f.len() == 6 && (f[3] == "30" || f[3] == "60")) {
        return Ok(Format::AzureCsv);
    }
    if (3..=6).contains(&f.len()) && (f[2] == "totp" || f[2] == "hotp") {
        return Ok(Format::PrivacyIdea);
    }
    // privacyIDEA's `# version: 2` layout: user, resolver, realm first.
    if (6..=9).contains(&f.len()) && (f[5] == "totp" || f[5] == "hotp") {
        return Ok(Format::PrivacyIdea);
    }
    if f.len() == 2 && hexbase32::is_pair_header(&f[0], &f[1]) {
        lines.next();
    }
    // Count, rather than require, fitting lines: one bad line must not
    // hide the format; the reader then names that line.
    let (mut hex, mut base32, mut pairs, mut seen) = (0usize, 0usize, 0usize, 0usize);
    for line in lines {
        seen += 1;
        let f = fields(line);
        if f.len() != 2 {
            continue;
        }
        pairs += 1;
        let secret: Vec<u8> = f[1].bytes().filter(|b| *b != b' ').collect();
        if !secret.is_empty() && secret.len() % 2 == 0 && secret.iter().all(u8::is_ascii_hexdigit) {
            hex += 1;
        }
        if !secret.is_empty()
            && secret
                .iter()
                .all(|&b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b) || b == b'=')
        {
            base32 += 1;
        }
    }
    if seen == 0 {
        return Err(FormatError::Undetected(
            "no records after the header".into(),
        ));
    }
    if pairs * 2 <= seen {
        return Err(FormatError::Undetected(
            "most lines are not `serial,secret` pairs; no known format fits".into(),
        ));
    }
    if hex == pairs || (hex > 0 && hex >= base32) {
        Ok(Format::Hex)
    } else if base32 > 0 {
        Ok(Format::Base32)
    } else {
        Err(FormatError::Undetected(
            "the secrets are neither hex nor Base32".into(),
        ))
    }
}

/// [`detect`] on what `input` has buffered, without consuming it, so the
/// same reader can then be handed to [`reader`](super::reader). Wrap files in a
/// `BufReader` of at least [`DETECT_HEAD_BYTES`]; a pipe's first read may
/// be shorter, which detection tolerates (it looks at complete lines).
pub fn detect_buffered(input: &mut dyn BufRead) -> Result<Format, FormatError> {
    let head = input.fill_buf()?;
    detect(&head[..head.len().min(DETECT_HEAD_BYTES)])
}
