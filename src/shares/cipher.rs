//! SLIP-0039's passphrase encryption of the master secret: a four-round
//! Feistel network with PBKDF2-HMAC-SHA256 as the round function.
//!
//! Why it exists even with an empty passphrase (as seedvault uses): it is a
//! wide-block pseudorandom permutation, so someone who learns the first bytes
//! of T shares learns nothing about the first bytes of the master secret.
//! The Shamir layer works on the encrypted master secret (EMS); only this
//! module sees the master secret itself.

use std::num::NonZeroU32;

use ring::pbkdf2;
use zeroize::{Zeroize, Zeroizing};

/// Iterations of one round at exponent 0 (10000 over the four rounds).
const BASE_ROUND_ITERATIONS: u32 = 2500;
/// Rounds of the Feistel network.
const ROUNDS: u8 = 4;
/// Salt prefix for non-extendable shares (followed by the identifier).
const SALT_PREFIX: &[u8] = b"shamir";

/// Parameters that key the permutation, all public (they are in every share).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Params {
    pub identifier: u16,
    pub extendable: bool,
    /// 0..=15; callers validate it (it is a 4-bit field).
    pub iteration_exponent: u8,
}

impl Params {
    fn salt_prefix(&self) -> Vec<u8> {
        if self.extendable {
            Vec::new()
        } else {
            let mut s = SALT_PREFIX.to_vec();
            s.extend_from_slice(&self.identifier.to_be_bytes());
            s
        }
    }

    fn iterations(&self) -> NonZeroU32 {
        // The exponent is a 4-bit field, so 2500 << 15 = 81,920,000 is the
        // largest value: no overflow, and never zero.
        let exp = u32::from(self.iteration_exponent & 0x0f);
        NonZeroU32::new(BASE_ROUND_ITERATIONS << exp).unwrap_or(NonZeroU32::MIN)
    }
}

/// The round function F(i, R), xored into `target`.
fn xor_round(
    params: &Params,
    passphrase: &[u8],
    round: u8,
    r: &[u8],
    salt_prefix: &[u8],
    target: &mut [u8],
) {
    // Password = i || passphrase; Salt = salt_prefix || R. Both hold secret
    // material (R is half of a secret) and are wiped when dropped.
    let mut password = Zeroizing::new(Vec::with_capacity(1 + passphrase.len()));
    password.push(round);
    password.extend_from_slice(passphrase);
    let mut salt = Zeroizing::new(Vec::with_capacity(salt_prefix.len() + r.len()));
    salt.extend_from_slice(salt_prefix);
    salt.extend_from_slice(r);
    let mut f = Zeroizing::new(vec![0u8; target.len()]);
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        params.iterations(),
        &salt,
        &password,
        &mut f,
    );
    for (t, k) in target.iter_mut().zip(f.iter()) {
        *t ^= k;
    }
}

/// Runs the network with the given round order; `data` has even length.
fn feistel(
    params: &Params,
    passphrase: &[u8],
    data: &[u8],
    rounds: impl Iterator<Item = u8>,
) -> Zeroizing<Vec<u8>> {
    let half = data.len() / 2;
    // L and R are halves of the (encrypted) master secret: zeroized on drop.
    let mut l = Zeroizing::new(data[..half].to_vec());
    let mut r = Zeroizing::new(data[half..].to_vec());
    let salt_prefix = params.salt_prefix();
    for round in rounds {
        // (L, R) = (R, L xor F(i, R))
        xor_round(params, passphrase, round, &r, &salt_prefix, &mut l);
        std::mem::swap(&mut l, &mut r);
    }
    // Output is R || L.
    let mut out = Zeroizing::new(Vec::with_capacity(data.len()));
    out.extend_from_slice(&r);
    out.extend_from_slice(&l);
    l.zeroize();
    r.zeroize();
    out
}

/// EMS = Encrypt(MS); `master_secret` has even length.
pub(crate) fn encrypt(
    params: &Params,
    passphrase: &[u8],
    master_secret: &[u8],
) -> Zeroizing<Vec<u8>> {
    feistel(params, passphrase, master_secret, 0..ROUNDS)
}

/// MS = Decrypt(EMS); `ems` has even length.
pub(crate) fn decrypt(params: &Params, passphrase: &[u8], ems: &[u8]) -> Zeroizing<Vec<u8>> {
    feistel(params, passphrase, ems, (0..ROUNDS).rev())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decrypt_inverts_encrypt() {
        let ms: Vec<u8> = (0u8..16).collect();
        for extendable in [false, true] {
            let p = Params {
                identifier: 0x1234,
                extendable,
                iteration_exponent: 0,
            };
            let ems = encrypt(&p, b"TREZOR", &ms);
            assert_ne!(&ems[..], &ms[..]);
            assert_eq!(&decrypt(&p, b"TREZOR", &ems)[..], &ms[..]);
            assert_ne!(&decrypt(&p, b"", &ems)[..], &ms[..]);
        }
    }

    #[test]
    fn identifier_salts_only_non_extendable() {
        let ms = [7u8; 16];
        let a = Params {
            identifier: 1,
            extendable: true,
            iteration_exponent: 0,
        };
        let b = Params { identifier: 2, ..a };
        assert_eq!(encrypt(&a, b"", &ms), encrypt(&b, b"", &ms));
        let a = Params {
            extendable: false,
            ..a
        };
        let b = Params {
            extendable: false,
            ..b
        };
        assert_ne!(encrypt(&a, b"", &ms), encrypt(&b, b"", &ms));
    }
}
