//! The RS1024 checksum that ends every share mnemonic (three words).
//!
//! Why it matters: it catches a miscopied word before the share is used,
//! and it is domain-separated by a customization string so that a share
//! read with the wrong "extendable" flag, or one from another scheme, does
//! not pass. The standard's bit-by-bit polynomial reduction is done here
//! with masks instead of branches because the words it runs over encode the
//! secret share value.

/// Customization string for shares whose `extendable` flag is 0.
const CUSTOMIZATION: &[u8] = b"shamir";
/// Customization string for shares whose `extendable` flag is 1.
const CUSTOMIZATION_EXTENDABLE: &[u8] = b"shamir_extendable";

/// Number of checksum words.
pub(crate) const CHECKSUM_WORDS: usize = 3;

/// Generator constants of the code, from the standard.
const GEN: [u32; 10] = [
    0x00e0_e040,
    0x01c1_c080,
    0x0383_8100,
    0x0707_0200,
    0x0e0e_0009,
    0x1c0c_2412,
    0x3808_6c24,
    0x3090_fc48,
    0x21b1_f890,
    0x03f3_f120,
];

fn customization(extendable: bool) -> &'static [u8] {
    if extendable {
        CUSTOMIZATION_EXTENDABLE
    } else {
        CUSTOMIZATION
    }
}

fn polymod(values: impl IntoIterator<Item = u32>) -> u32 {
    let mut chk: u32 = 1;
    for v in values {
        let top = chk >> 20;
        chk = ((chk & 0x000f_ffff) << 10) ^ v;
        for (i, g) in GEN.iter().enumerate() {
            chk ^= g & 0u32.wrapping_sub((top >> i) & 1);
        }
    }
    chk
}

fn prefixed<'a>(extendable: bool, data: &'a [u16]) -> impl Iterator<Item = u32> + 'a {
    customization(extendable)
        .iter()
        .map(|&c| u32::from(c))
        .chain(data.iter().map(|&w| u32::from(w)))
}

/// The three checksum words for the data words of a share.
pub(crate) fn create(extendable: bool, data: &[u16]) -> [u16; CHECKSUM_WORDS] {
    let pm = polymod(prefixed(extendable, data).chain([0, 0, 0])) ^ 1;
    // Each value is masked to 10 bits, so the casts are exact.
    [
        ((pm >> 20) & 0x3ff) as u16,
        ((pm >> 10) & 0x3ff) as u16,
        (pm & 0x3ff) as u16,
    ]
}

/// Whether `words` (data words followed by the checksum words) verify.
pub(crate) fn verify(extendable: bool, words: &[u16]) -> bool {
    polymod(prefixed(extendable, words)) == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_then_verify() {
        let data: Vec<u16> = (0..17u16).map(|i| i * 97 % 1024).collect();
        for ext in [false, true] {
            let mut words = data.clone();
            words.extend(create(ext, &data));
            assert!(verify(ext, &words));
            assert!(!verify(!ext, &words), "customization string must matter");
            words[5] ^= 1;
            assert!(!verify(ext, &words));
        }
    }
}
