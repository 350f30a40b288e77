//! What can go wrong reading, splitting and combining shares.
//!
//! Messages are written for the custodian at the keyboard: they say which
//! share and which word, and what to do about it. They never contain a word
//! of a share that was read correctly (those words encode the secret); the
//! one exception is [`ShareError::UnknownWord`], which repeats the word as
//! it was typed so the person can find their typo.

/// An error from the `shares` module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShareError {
    /// A word of a mnemonic is not in the SLIP-0039 word list. `position`
    /// counts from 1. `word` is what was typed: it may be a near-miss of a
    /// secret word, so show it to the person typing but do not log it.
    #[error("word {position} (\"{word}\") is not a SLIP-0039 word: check its spelling on the paper share")]
    UnknownWord {
        /// 1-based position of the word in the mnemonic.
        position: usize,
        /// The word as typed.
        word: String,
    },

    /// The mnemonic has a number of words no SLIP-0039 share can have.
    #[error("a share cannot have {count} words (a share of a 128-bit secret has 20, of a 256-bit secret 33): a word is missing or extra")]
    WordCount {
        /// Number of words read.
        count: usize,
    },

    /// The RS1024 checksum (the last three words) does not match.
    #[error("the share's checksum does not match: a word is miscopied, missing, or out of order")]
    Checksum,

    /// The bits between the header and the share value are not zero.
    #[error("the share is malformed: its padding bits are not zero (it was not made by a SLIP-0039 tool, or words are miscopied)")]
    Padding,

    /// A share says more groups are needed than exist.
    #[error("the share is malformed: it needs {threshold} groups but says there are only {count}")]
    GroupThresholdAboveCount {
        /// Group threshold written in the share.
        threshold: u8,
        /// Group count written in the share.
        count: u8,
    },

    /// `combine` was given no shares.
    #[error("no shares were given")]
    NoShares,

    /// Shares that must agree on a parameter do not: they come from
    /// different splits (or one is forged).
    #[error("the shares do not belong together: their {field} differ (are they from different vaults or splits?)")]
    Mismatch {
        /// The parameter that differs, e.g. "identifiers".
        field: &'static str,
    },

    /// Two shares of one group have the same member index.
    #[error("two shares have the same member index {member_index}: the same share was given twice, or one is forged")]
    DuplicateMemberIndex {
        /// The member index (0-based, as stored in the share).
        member_index: u8,
    },

    /// Fewer shares than the threshold.
    #[error("{needed} shares needed, {given} given")]
    TooFewShares {
        /// The member threshold.
        needed: u8,
        /// Number of distinct shares given.
        given: usize,
    },

    /// More shares than the threshold (SLIP-0039 combines exactly the
    /// threshold number).
    #[error("exactly {needed} shares are needed, {given} given: leave the extra ones out")]
    TooManyShares {
        /// The member threshold.
        needed: u8,
        /// Number of shares given.
        given: usize,
    },

    /// Fewer share groups than the group threshold.
    #[error("shares from {needed} groups needed, {given} given")]
    TooFewGroups {
        /// The group threshold.
        needed: u8,
        /// Number of distinct groups given.
        given: usize,
    },

    /// More share groups than the group threshold.
    #[error("shares from exactly {needed} groups are needed, {given} given")]
    TooManyGroups {
        /// The group threshold.
        needed: u8,
        /// Number of distinct groups given.
        given: usize,
    },

    /// The shares combine, but the digest stored with the secret does not
    /// match: at least one share is wrong.
    #[error("the shares do not combine to a valid secret (digest mismatch): at least one share is wrong or has been tampered with")]
    DigestMismatch,

    /// `split` was asked for a threshold scheme it does not make.
    #[error("cannot split {threshold}-of-{count}: need 2 <= threshold <= count <= 16")]
    InvalidThreshold {
        /// Requested threshold.
        threshold: u8,
        /// Requested number of shares.
        count: u8,
    },

    /// `split` was given a master secret of unsupported length.
    #[error("the master secret must be 16 to 32 bytes long, an even number; it is {len}")]
    InvalidSecretLength {
        /// Length in bytes.
        len: usize,
    },

    /// `split` was given an iteration exponent that does not fit 4 bits.
    #[error("the iteration exponent must be 0 to 15, not {exponent}")]
    InvalidIterationExponent {
        /// The requested exponent.
        exponent: u8,
    },

    /// `split` was given a passphrase that SLIP-0039 does not allow.
    #[error("the passphrase must contain only printable ASCII characters (space to '~')")]
    InvalidPassphrase,

    /// The system random number generator failed.
    #[error("the system random number generator failed")]
    Random,

    /// A share's structure is inconsistent in a way the other variants do
    /// not name (e.g. a share built to sit at x >= 16).
    #[error("a share is malformed: {reason}")]
    Malformed {
        /// What is wrong.
        reason: &'static str,
    },

    /// One mnemonic of a list could not be read.
    #[error("share {index}: {source}")]
    InMnemonic {
        /// 1-based position of the mnemonic in the list given.
        index: usize,
        /// What is wrong with it.
        #[source]
        source: Box<ShareError>,
    },
}
