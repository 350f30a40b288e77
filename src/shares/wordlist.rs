//! The SLIP-0039 word list, and word <-> index conversion that does not leak
//! which word was meant.
//!
//! Why this is not a `HashMap` or a binary search: the words of a share
//! encode its secret value, and a search that stops early or a table indexed
//! by the word's number reveals, through timing and cache lines, which entry
//! was touched. Both directions therefore scan all 1024 entries and select
//! the match with masks. The list is parsed at compile time from the
//! normative text file, so a damaged file is a build error, not a run-time
//! panic.

/// The normative word list, one word a line, in index order.
const WORDLIST_TEXT: &str = include_str!("wordlist.txt");

/// Number of words (10 bits per word).
pub(crate) const WORD_COUNT: usize = 1024;

/// Longest word in the list; every word has 4 to 8 letters.
pub(crate) const MAX_WORD_LEN: usize = 8;

/// Each word, lowercase ASCII, padded with zero bytes to 8.
static WORDS: [[u8; MAX_WORD_LEN]; WORD_COUNT] = parse(WORDLIST_TEXT.as_bytes());

/// Compile-time parser: any deviation from "1024 lines of 1 to 8 lowercase
/// letters" stops the build.
const fn parse(text: &[u8]) -> [[u8; MAX_WORD_LEN]; WORD_COUNT] {
    let mut words = [[0u8; MAX_WORD_LEN]; WORD_COUNT];
    let mut word = 0;
    let mut letter = 0;
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        if c == b'\n' {
            assert!(letter > 0, "wordlist.txt: empty line");
            word += 1;
            letter = 0;
        } else if c != b'\r' {
            assert!(
                c.is_ascii_lowercase(),
                "wordlist.txt: not a lowercase letter"
            );
            assert!(word < WORD_COUNT, "wordlist.txt: more than 1024 words");
            assert!(
                letter < MAX_WORD_LEN,
                "wordlist.txt: word longer than 8 letters"
            );
            words[word][letter] = c;
            letter += 1;
        }
        i += 1;
    }
    if letter > 0 {
        word += 1;
    }
    assert!(word == WORD_COUNT, "wordlist.txt: fewer than 1024 words");
    words
}

/// 1 if `diff` is 0, else 0, without a branch.
#[inline(always)]
fn is_zero(diff: u32) -> u32 {
    // For diff in 0..2^31, diff - 1 has its top bit set only when diff == 0.
    diff.wrapping_sub(1) >> 31
}

/// The index of `word` (any ASCII case), or `None` if it is not in the list.
///
/// Scans the whole list whatever the word; only the length test (a word
/// longer than 8 letters is in no list) exits early, and that says nothing
/// about a valid word.
pub(crate) fn index_of(word: &str) -> Option<u16> {
    let bytes = word.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_WORD_LEN {
        return None;
    }
    let mut padded = [0u8; MAX_WORD_LEN];
    for (p, b) in padded.iter_mut().zip(bytes) {
        *p = b.to_ascii_lowercase();
    }
    let mut found = 0u32;
    let mut index = 0u32;
    for (i, entry) in WORDS.iter().enumerate() {
        let mut diff = 0u32;
        for (a, b) in entry.iter().zip(&padded) {
            diff |= u32::from(a ^ b);
        }
        let hit = is_zero(diff);
        found |= hit;
        // i < 1024, so the cast is exact (and try_from would branch).
        #[allow(clippy::cast_possible_truncation)]
        let i = i as u32;
        index |= i & 0u32.wrapping_sub(hit);
    }
    // Wipe the copy of a possibly secret word.
    zeroize::Zeroize::zeroize(&mut padded);
    if found == 1 {
        // index < 1024 fits in u16.
        #[allow(clippy::cast_possible_truncation)]
        let index = index as u16;
        Some(index)
    } else {
        None
    }
}

/// Appends the word with index `index` (the low 10 bits are used) to `out`.
///
/// Selects the entry by scanning all 1024 with masks. The appended length
/// is the word's length; that is visible in the output anyway.
pub(crate) fn push_word(index: u16, out: &mut String) {
    let index = u32::from(index) & 0x3ff;
    let mut word = [0u8; MAX_WORD_LEN];
    for (i, entry) in WORDS.iter().enumerate() {
        // i < 1024, so the cast is exact; is_zero gives 0 or 1.
        #[allow(clippy::cast_possible_truncation)]
        let select = 0u8.wrapping_sub(is_zero((i as u32) ^ index) as u8);
        for (w, e) in word.iter_mut().zip(entry) {
            *w |= e & select;
        }
    }
    for &c in word.iter().take_while(|&&c| c != 0) {
        out.push(char::from(c));
    }
    zeroize::Zeroize::zeroize(&mut word);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_sorted_unique_with_unique_prefixes() {
        let words: Vec<&str> = WORDLIST_TEXT.lines().collect();
        assert_eq!(words.len(), WORD_COUNT);
        for pair in words.windows(2) {
            assert!(pair[0] < pair[1], "{} !< {}", pair[0], pair[1]);
            assert_ne!(pair[0][..4], pair[1][..4]);
        }
    }

    #[test]
    fn every_word_round_trips() {
        for (i, w) in WORDLIST_TEXT.lines().enumerate() {
            let i = u16::try_from(i).unwrap();
            assert_eq!(index_of(w), Some(i));
            assert_eq!(index_of(&w.to_uppercase()), Some(i));
            let mut s = String::new();
            push_word(i, &mut s);
            assert_eq!(s, w);
        }
    }

    #[test]
    fn unknown_words() {
        assert_eq!(index_of("academi"), None);
        assert_eq!(index_of("academicx"), None);
        assert_eq!(index_of(""), None);
        assert_eq!(index_of("zzzz"), None);
        assert_eq!(index_of("acadé"), None);
        assert_eq!(index_of("academic"), Some(0));
        assert_eq!(index_of("zero"), Some(1023));
    }
}
