//! SLIP-0039's SplitSecret and RecoverSecret: Shamir's scheme with the
//! secret at x = 255 and a keyed digest of it at x = 254.
//!
//! Why the secret is not at x = 0: shares sit at their member indices,
//! 0..=15 (a 4-bit field), so the secret's point 255 and the digest's point
//! 254 can never be a share's point, and a forged share that moves itself to
//! the secret's x-coordinate cannot exist. `recover` still refuses any share
//! x-coordinate above 15, so nothing that bypasses the mnemonic decoder can
//! place a point at 254 or 255 either. The digest makes a wrong or forged
//! share set fail loudly (with chance 2^-32 of slipping through) instead of
//! yielding a wrong key.

use ring::hmac;
use ring::rand::SecureRandom;
use zeroize::Zeroizing;

use super::gf256::{self, InterpolationError};

/// x-coordinate of the shared secret.
pub(crate) const SECRET_INDEX: u8 = 255;
/// x-coordinate of the digest.
pub(crate) const DIGEST_INDEX: u8 = 254;
/// Bytes of HMAC-SHA256 kept as the digest.
const DIGEST_LENGTH: usize = 4;
/// Highest x-coordinate a share may have (member and group indices are 4 bits).
pub(crate) const MAX_SHARE_INDEX: u8 = 15;

/// Why the raw layer failed; the public layer maps these to `ShareError`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawError {
    /// The random generator failed.
    Random,
    /// Two points with the same x-coordinate.
    DuplicateIndex(u8),
    /// A point outside 0..=15.
    IndexOutOfRange(u8),
    /// Values of different lengths, or no points.
    Malformed,
    /// The recovered digest does not match the recovered secret.
    Digest,
}

impl From<InterpolationError> for RawError {
    fn from(e: InterpolationError) -> Self {
        match e {
            InterpolationError::DuplicateX(x) => RawError::DuplicateIndex(x),
            InterpolationError::Empty | InterpolationError::LengthMismatch => RawError::Malformed,
        }
    }
}

/// A point of the sharing polynomial: x-coordinate and value vector. The
/// value is secret and zeroized on drop.
pub(crate) struct RawShare {
    pub x: u8,
    pub y: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for RawShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawShare")
            .field("x", &self.x)
            .field("y", &"[REDACTED]")
            .finish()
    }
}

fn random_bytes(rng: &dyn SecureRandom, len: usize) -> Result<Zeroizing<Vec<u8>>, RawError> {
    let mut v = Zeroizing::new(vec![0u8; len]);
    rng.fill(&mut v).map_err(|_| RawError::Random)?;
    Ok(v)
}

/// First 4 bytes of HMAC-SHA256(key = random_part, msg = secret).
fn digest(random_part: &[u8], secret: &[u8]) -> [u8; DIGEST_LENGTH] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, random_part);
    let tag = hmac::sign(&key, secret);
    let mut out = [0u8; DIGEST_LENGTH];
    out.copy_from_slice(&tag.as_ref()[..DIGEST_LENGTH]);
    out
}

/// Shares for x = 0..count of `secret` with the given threshold.
///
/// Callers check 1 <= threshold <= count <= 16 and the secret's length
/// (>= 16 bytes, so the digest's random part is not empty).
pub(crate) fn split(
    threshold: u8,
    count: u8,
    secret: &[u8],
    rng: &dyn SecureRandom,
) -> Result<Vec<RawShare>, RawError> {
    if threshold == 0
        || threshold > count
        || count > MAX_SHARE_INDEX + 1
        || secret.len() < DIGEST_LENGTH
    {
        return Err(RawError::Malformed);
    }
    if threshold == 1 {
        return Ok((0..count)
            .map(|x| RawShare {
                x,
                y: Zeroizing::new(secret.to_vec()),
            })
            .collect());
    }
    let random_count = threshold - 2;
    // The first T-2 shares are uniformly random.
    let mut shares = Vec::with_capacity(usize::from(count));
    for x in 0..random_count {
        shares.push(RawShare {
            x,
            y: random_bytes(rng, secret.len())?,
        });
    }
    // D = digest(R, S) || R, placed at x = 254; the secret at x = 255.
    let random_part = random_bytes(rng, secret.len() - DIGEST_LENGTH)?;
    let mut digest_value = Zeroizing::new(Vec::with_capacity(secret.len()));
    digest_value.extend_from_slice(&digest(&random_part, secret));
    digest_value.extend_from_slice(&random_part);

    let mut base: Vec<(u8, &[u8])> = shares.iter().map(|s| (s.x, &s.y[..])).collect();
    base.push((DIGEST_INDEX, &digest_value));
    base.push((SECRET_INDEX, secret));
    // The T points above fix the polynomial; the remaining shares are its
    // values at x = T-2 .. N-1.
    let mut rest = Vec::with_capacity(usize::from(count - random_count));
    for x in random_count..count {
        rest.push(RawShare {
            x,
            y: gf256::interpolate_zeroizing(x, &base)?,
        });
    }
    drop(base);
    shares.extend(rest);
    Ok(shares)
}

/// RecoverSecret: interpolates the secret at x = 255 and checks the digest
/// at x = 254. The caller has checked that exactly `threshold` shares are given.
pub(crate) fn recover(threshold: u8, shares: &[RawShare]) -> Result<Zeroizing<Vec<u8>>, RawError> {
    if let Some(s) = shares.iter().find(|s| s.x > MAX_SHARE_INDEX) {
        return Err(RawError::IndexOutOfRange(s.x));
    }
    let points: Vec<(u8, &[u8])> = shares.iter().map(|s| (s.x, &s.y[..])).collect();
    if threshold == 1 {
        return match points.as_slice() {
            [(_, y)] => Ok(Zeroizing::new(y.to_vec())),
            _ => Err(RawError::Malformed),
        };
    }
    let secret = gf256::interpolate_zeroizing(SECRET_INDEX, &points)?;
    let digest_value = gf256::interpolate_zeroizing(DIGEST_INDEX, &points)?;
    if digest_value.len() < DIGEST_LENGTH {
        return Err(RawError::Malformed);
    }
    let (expected, random_part) = digest_value.split_at(DIGEST_LENGTH);
    if gf256::ct_eq(&digest(random_part, &secret), expected) {
        Ok(secret)
    } else {
        Err(RawError::Digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use ring::rand::SystemRandom;

    #[test]
    fn split_places_points_per_spec() {
        let rng = SystemRandom::new();
        let secret = [0x42u8; 16];
        let shares = split(3, 5, &secret, &rng).unwrap();
        let xs: Vec<u8> = shares.iter().map(|s| s.x).collect();
        assert_eq!(xs, vec![0, 1, 2, 3, 4]);
        // Any 3 of them put the secret back at 255.
        assert_eq!(&recover(3, &shares[2..]).unwrap()[..], &secret);
    }

    #[test]
    fn threshold_one_copies_the_secret() {
        let rng = SystemRandom::new();
        let secret = [9u8; 16];
        let shares = split(1, 1, &secret, &rng).unwrap();
        assert_eq!(&shares[0].y[..], &secret);
        assert_eq!(&recover(1, &shares).unwrap()[..], &secret);
    }

    #[test]
    fn refuses_points_at_or_near_the_secret() {
        let y = Zeroizing::new(vec![1u8; 16]);
        let shares = vec![
            RawShare { x: 0, y: y.clone() },
            RawShare { x: SECRET_INDEX, y },
        ];
        assert_eq!(
            recover(2, &shares).unwrap_err(),
            RawError::IndexOutOfRange(255)
        );
    }

    #[test]
    fn tampered_share_fails_digest() {
        let rng = SystemRandom::new();
        let secret = [5u8; 32];
        let mut shares = split(2, 3, &secret, &rng).unwrap();
        shares[1].y[7] ^= 0x80;
        assert_eq!(recover(2, &shares[..2]).unwrap_err(), RawError::Digest);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// T-1 points interpolate at x = 255 to something other than the
        /// secret; T points (any T) give it back.
        #[test]
        fn below_threshold_does_not_reveal(
            secret in proptest::collection::vec(any::<u8>(), 16..=32),
            threshold in 2u8..=16,
            extra in 0u8..=15,
            seed in any::<u64>(),
        ) {
            let count = threshold.saturating_add(extra).min(16);
            let rng = SystemRandom::new();
            let shares = split(threshold, count, &secret, &rng).unwrap();
            // A pseudo-random subset of T shares, from the seed.
            let mut order: Vec<usize> = (0..usize::from(count)).collect();
            let mut s = seed;
            for i in (1..order.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                order.swap(i, (s >> 33) as usize % (i + 1));
            }
            let chosen: Vec<RawShare> = order[..usize::from(threshold)]
                .iter()
                .map(|&i| RawShare { x: shares[i].x, y: shares[i].y.clone() })
                .collect();
            prop_assert_eq!(&recover(threshold, &chosen).unwrap()[..], &secret[..]);
            let fewer: Vec<(u8, &[u8])> = chosen[1..].iter().map(|s| (s.x, &s.y[..])).collect();
            let guess = gf256::interpolate(SECRET_INDEX, &fewer).unwrap();
            prop_assert_ne!(&guess[..], &secret[..]);
        }
    }
}
