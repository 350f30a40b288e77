//! One SLIP-0039 share and its mnemonic form.
//!
//! Why its own type: a share is the only thing a custodian holds, so its
//! value is a secret from the moment it is decoded to the moment it is
//! dropped (`SecretBox`, zeroized), while its header (identifier, indices,
//! thresholds) is public and is what error messages and `Debug` may show.
//! A `Share` can only be made by decoding a mnemonic that passed every
//! check, or by `split`, so the rest of the module trusts its fields.

use std::fmt;

use secrecy::{ExposeSecret, SecretBox, SecretString};
use zeroize::Zeroizing;

use super::error::ShareError;
use super::rs1024;
use super::wordlist;

/// Words of header: identifier, flag and exponent (2), indices and thresholds (2).
const HEADER_WORDS: usize = 4;
/// Header and checksum words together.
const METADATA_WORDS: usize = HEADER_WORDS + rs1024::CHECKSUM_WORDS;
/// Shortest mnemonic: metadata plus 13 words for a 128-bit value.
const MIN_WORDS: usize = METADATA_WORDS + 13;

/// The secret value of a share (one point's y-vector), wiped on drop.
struct ShareValue(SecretBox<Vec<u8>>);

/// A SLIP-0039 share: public header and secret value.
pub struct Share {
    identifier: u16,
    extendable: bool,
    iteration_exponent: u8,
    group_index: u8,
    group_threshold: u8,
    group_count: u8,
    member_index: u8,
    member_threshold: u8,
    value: ShareValue,
}

impl Clone for Share {
    fn clone(&self) -> Self {
        Share {
            value: ShareValue(SecretBox::new(Box::new(self.value().to_vec()))),
            ..*self
        }
    }
}

impl fmt::Debug for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Share")
            .field("identifier", &self.identifier)
            .field("extendable", &self.extendable)
            .field("iteration_exponent", &self.iteration_exponent)
            .field("group_index", &self.group_index)
            .field("group_threshold", &self.group_threshold)
            .field("group_count", &self.group_count)
            .field("member_index", &self.member_index)
            .field("member_threshold", &self.member_threshold)
            .field("value", &"[REDACTED]")
            .finish()
    }
}

/// Public header fields of a share, as `split` and `combine` use them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header {
    pub identifier: u16,
    pub extendable: bool,
    pub iteration_exponent: u8,
    pub group_index: u8,
    pub group_threshold: u8,
    pub group_count: u8,
    pub member_index: u8,
    pub member_threshold: u8,
}

impl Share {
    /// Builds a share from parts `split` has validated (all 4-bit fields in
    /// range, thresholds >= 1). `value` is moved in, not copied.
    pub(crate) fn from_parts(h: Header, value: Vec<u8>) -> Share {
        Share {
            identifier: h.identifier & 0x7fff,
            extendable: h.extendable,
            iteration_exponent: h.iteration_exponent,
            group_index: h.group_index,
            group_threshold: h.group_threshold,
            group_count: h.group_count,
            member_index: h.member_index,
            member_threshold: h.member_threshold,
            value: ShareValue(SecretBox::new(Box::new(value))),
        }
    }

    /// Reads a mnemonic: words separated by any whitespace, in any ASCII case.
    ///
    /// Checks every word is in the list, the length, the RS1024 checksum
    /// (with the customization string the extendable flag selects), that the
    /// group threshold does not exceed the group count, and the padding.
    pub fn from_mnemonic(words: &str) -> Result<Share, ShareError> {
        // Word indices encode the secret value: wiped on drop, and reserved
        // at their final size so no reallocation leaves a copy behind.
        let mut indices = Zeroizing::new(Vec::with_capacity(words.split_whitespace().count()));
        for (i, word) in words.split_whitespace().enumerate() {
            match wordlist::index_of(word) {
                Some(index) => indices.push(index),
                None => {
                    return Err(ShareError::UnknownWord {
                        position: i + 1,
                        word: word.to_owned(),
                    });
                }
            }
        }
        let count = indices.len();
        if count < MIN_WORDS {
            return Err(ShareError::WordCount { count });
        }
        let value_words = count - METADATA_WORDS;
        let padding = (10 * value_words) % 16;
        if padding > 8 {
            return Err(ShareError::WordCount { count });
        }

        let w: [u16; HEADER_WORDS] = [indices[0], indices[1], indices[2], indices[3]];
        let identifier = (w[0] << 5) | (w[1] >> 5);
        let extendable = (w[1] >> 4) & 1 == 1;
        // Masked to 4 bits: the casts below are exact.
        let iteration_exponent = (w[1] & 0x0f) as u8;
        if !rs1024::verify(extendable, &indices) {
            return Err(ShareError::Checksum);
        }
        let group_index = ((w[2] >> 6) & 0x0f) as u8;
        let group_threshold = ((w[2] >> 2) & 0x0f) as u8 + 1;
        // Two bits and two bits (w[3] has 10): at most 15, exact in u8.
        #[allow(clippy::cast_possible_truncation)]
        let group_count = (((w[2] & 0x03) << 2) | (w[3] >> 8)) as u8 + 1;
        let member_index = ((w[3] >> 4) & 0x0f) as u8;
        let member_threshold = (w[3] & 0x0f) as u8 + 1;
        if group_threshold > group_count {
            return Err(ShareError::GroupThresholdAboveCount {
                threshold: group_threshold,
                count: group_count,
            });
        }

        let value = decode_value(
            &indices[HEADER_WORDS..count - rs1024::CHECKSUM_WORDS],
            padding,
        )?;
        Ok(Share {
            identifier,
            extendable,
            iteration_exponent,
            group_index,
            group_threshold,
            group_count,
            member_index,
            member_threshold,
            value: ShareValue(SecretBox::new(Box::new(value))),
        })
    }

    /// The mnemonic of this share, words separated by single spaces.
    pub fn to_mnemonic(&self) -> SecretString {
        // Word indices encode the secret value: wiped on drop, and reserved
        // at their final size so no reallocation leaves a copy behind.
        let word_count = METADATA_WORDS + (8 * self.value().len()).div_ceil(10);
        let mut indices = Zeroizing::new(Vec::with_capacity(word_count));
        let id = self.identifier & 0x7fff;
        let e = u16::from(self.iteration_exponent & 0x0f);
        let gt = u16::from(self.group_threshold.wrapping_sub(1) & 0x0f);
        let gc = u16::from(self.group_count.wrapping_sub(1) & 0x0f);
        let mt = u16::from(self.member_threshold.wrapping_sub(1) & 0x0f);
        indices.push(id >> 5);
        indices.push(((id & 0x1f) << 5) | (u16::from(self.extendable) << 4) | e);
        indices.push((u16::from(self.group_index & 0x0f) << 6) | (gt << 2) | (gc >> 2));
        indices.push(((gc & 0x03) << 8) | (u16::from(self.member_index & 0x0f) << 4) | mt);
        encode_value(self.value(), &mut indices);
        let checksum = rs1024::create(self.extendable, &indices);
        indices.extend_from_slice(&checksum);

        // Spell the words into a buffer reserved for the longest possible
        // text, so it never reallocates (a reallocation would leave a copy
        // in freed memory); it is wiped on drop.
        let mut spelled = Zeroizing::new(String::with_capacity(
            indices.len() * (wordlist::MAX_WORD_LEN + 1),
        ));
        for (i, &index) in indices.iter().enumerate() {
            if i > 0 {
                spelled.push(' ');
            }
            wordlist::push_word(index, &mut spelled);
        }
        // Copy into a string of exactly the final length: `SecretString`
        // turns it into a `Box<str>`, which would reallocate (and leave an
        // unwiped copy) if capacity exceeded length.
        let mut exact = String::with_capacity(spelled.len());
        exact.push_str(&spelled);
        SecretString::from(exact)
    }

    /// The member index (0..=15), the share's x-coordinate in its group.
    pub fn member_index(&self) -> u8 {
        self.member_index
    }

    /// How many shares of this group are needed (1..=16).
    pub fn member_threshold(&self) -> u8 {
        self.member_threshold
    }

    /// The 15-bit random identifier common to all shares of one split.
    pub fn identifier(&self) -> u16 {
        self.identifier
    }

    /// Whether the share is "extendable" (identifier not mixed into the
    /// encryption; all shares seedvault makes are).
    pub fn extendable(&self) -> bool {
        self.extendable
    }

    /// The iteration exponent e (PBKDF2 runs 10000 * 2^e iterations in total).
    pub fn iteration_exponent(&self) -> u8 {
        self.iteration_exponent
    }

    /// The group index (0..=15).
    pub fn group_index(&self) -> u8 {
        self.group_index
    }

    /// How many groups are needed (1..=16).
    pub fn group_threshold(&self) -> u8 {
        self.group_threshold
    }

    /// How many groups there are (1..=16).
    pub fn group_count(&self) -> u8 {
        self.group_count
    }

    /// The secret share value: the y-vector of this share's point.
    ///
    /// SECRET: any `threshold` of these reveal the master key's encrypted
    /// form. Use it only where it is consumed (e.g. to seal a custodian card
    /// or compute a commitment), and copy it only into zeroizing buffers.
    pub fn value(&self) -> &[u8] {
        self.value.0.expose_secret()
    }

    /// The public header.
    pub(crate) fn header(&self) -> Header {
        Header {
            identifier: self.identifier,
            extendable: self.extendable,
            iteration_exponent: self.iteration_exponent,
            group_index: self.group_index,
            group_threshold: self.group_threshold,
            group_count: self.group_count,
            member_index: self.member_index,
            member_threshold: self.member_threshold,
        }
    }
}

/// Appends the 10-bit words of `value`, left-padded with zero bits to a
/// multiple of 10. Loops depend only on the (public) length.
fn encode_value(value: &[u8], out: &mut Vec<u16>) {
    let bits = 8 * value.len();
    let padding = (10 - bits % 10) % 10;
    let mut acc: u32 = 0;
    let mut n = padding;
    for &b in value {
        acc = (acc << 8) | u32::from(b);
        n += 8;
        while n >= 10 {
            n -= 10;
            // Masked to 10 bits: exact.
            out.push(((acc >> n) & 0x3ff) as u16);
            acc &= (1 << n) - 1;
        }
    }
}

/// The share value from its words; `padding` (<= 8) leading bits must be 0.
fn decode_value(words: &[u16], padding: usize) -> Result<Vec<u8>, ShareError> {
    let len = (10 * words.len() - padding) / 8;
    let mut out = Vec::with_capacity(len);
    let mut acc: u32 = 0;
    let mut n: usize = 0;
    let mut padding_bits: u32 = 0;
    for (i, &w) in words.iter().enumerate() {
        let w = u32::from(w);
        if i == 0 {
            padding_bits = w >> (10 - padding);
            acc = w & ((1 << (10 - padding)) - 1);
            n = 10 - padding;
        } else {
            acc = (acc << 10) | w;
            n += 10;
        }
        while n >= 8 {
            n -= 8;
            // Masked to 8 bits: exact.
            out.push(((acc >> n) & 0xff) as u8);
            acc &= (1 << n) - 1;
        }
    }
    if padding_bits != 0 {
        // Wipe the partial value before reporting.
        zeroize::Zeroize::zeroize(&mut out);
        return Err(ShareError::Padding);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn value_codec_round_trips() {
        for len in [16usize, 18, 20, 32, 64] {
            let value: Vec<u8> = (0..len)
                .map(|i| u8::try_from((i * 37 + 5) % 256).unwrap())
                .collect();
            let mut words = Vec::new();
            encode_value(&value, &mut words);
            assert_eq!(words.len(), (8 * len).div_ceil(10));
            let padding = (10 * words.len()) % 16;
            assert_eq!(decode_value(&words, padding).unwrap(), value);
        }
    }

    #[test]
    fn debug_redacts_value() {
        let share = Share::from_parts(
            Header {
                identifier: 7,
                extendable: true,
                iteration_exponent: 1,
                group_index: 0,
                group_threshold: 1,
                group_count: 1,
                member_index: 2,
                member_threshold: 2,
            },
            vec![0xab; 16],
        );
        let dbg = format!("{share:?}");
        assert!(dbg.contains("[REDACTED]"));
        assert!(dbg.contains("member_index: 2"));
        assert!(!dbg.contains("171"), "{dbg}");
    }

    #[test]
    fn mnemonic_round_trips_and_tolerates_spacing_and_case() {
        let share = Share::from_parts(
            Header {
                identifier: 0x5a5a,
                extendable: false,
                iteration_exponent: 3,
                group_index: 2,
                group_threshold: 2,
                group_count: 4,
                member_index: 9,
                member_threshold: 5,
            },
            (0u8..32).collect(),
        );
        let m = share.to_mnemonic();
        let words: Vec<&str> = m.expose_secret().split(' ').collect();
        assert_eq!(words.len(), 33);
        let messy = format!(
            "  {}\n\t",
            m.expose_secret().to_uppercase().replace(' ', "   ")
        );
        let back = Share::from_mnemonic(&messy).unwrap();
        assert_eq!(format!("{back:?}"), format!("{share:?}"));
        assert_eq!(back.value(), share.value());
    }

    #[test]
    fn names_unknown_word_and_position() {
        let err = Share::from_mnemonic("academic acid acne acadmic").unwrap_err();
        match &err {
            ShareError::UnknownWord { position, word } => {
                assert_eq!(*position, 4);
                assert_eq!(word, "acadmic");
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("word 4"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any header (every 4-bit field, both flags) and any even value
        /// length of 16 to 64 bytes survive the trip through words.
        #[test]
        fn any_share_round_trips(
            identifier in 0u16..0x8000,
            extendable in any::<bool>(),
            fields in proptest::collection::vec(0u8..16, 6),
            value in proptest::collection::vec(any::<u16>(), 8..=32)
                .prop_map(|v| v.iter().flat_map(|w| w.to_be_bytes()).collect::<Vec<u8>>()),
        ) {
            let share = Share::from_parts(
                Header {
                    identifier,
                    extendable,
                    iteration_exponent: fields[0],
                    group_index: fields[3],
                    group_threshold: fields[1] + 1,
                    group_count: fields[2].max(fields[1]) + 1,
                    member_index: fields[4],
                    member_threshold: fields[5] + 1,
                },
                value,
            );
            let back = Share::from_mnemonic(share.to_mnemonic().expose_secret()).unwrap();
            prop_assert_eq!(format!("{back:?}"), format!("{share:?}"));
            prop_assert_eq!(back.value(), share.value());
        }
    }

    #[test]
    fn short_mnemonic_is_refused() {
        let err = Share::from_mnemonic("academic acid acne").unwrap_err();
        assert!(matches!(err, ShareError::WordCount { count: 3 }));
    }
}
