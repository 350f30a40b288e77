//! (being written) RFC 6030 PSKC: placeholder so the format dispatch compiles.
//!
//! The real reader and writer land from another branch; this file is
//! replaced at merge.

use std::io::{BufRead, Write};

use super::{FormatError, ReadOptions, Records, WriteOptions};
use crate::token::Token;

/// Placeholder: PSKC reading is not in this build.
pub fn reader<'a>(input: Box<dyn BufRead + 'a>, opts: &'a ReadOptions) -> Result<Records<'a>, FormatError> {
    let _ = (input, opts);
    Err(FormatError::Structure { line: 0, problem: "PSKC support is not in this build".into() })
}

/// Placeholder: PSKC writing is not in this build.
pub fn write(
    tokens: &mut dyn Iterator<Item = &Token>,
    out: &mut dyn Write,
    opts: &WriteOptions,
) -> Result<(), FormatError> {
    let _ = (tokens, out, opts);
    Err(FormatError::Structure { line: 0, problem: "PSKC support is not in this build".into() })
}
