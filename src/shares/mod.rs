//! Splitting the master key among custodians, and putting it back together.
//!
//! Why SLIP-0039 rather than a home-made encoding: a custodian's share must
//! outlive this program. SLIP-0039 gives paper-friendly words with a strong
//! checksum, a digest that turns a wrong or forged share into an error
//! instead of a wrong key, and an independent reference implementation
//! (`shamir-mnemonic` on PyPI) that can recover the key without seedvault.
//! seedvault makes single-group M-of-N shares (2 <= M <= N <= 16), always
//! "extendable", with the iteration exponent and passphrase its caller
//! gives; it reads any valid SLIP-0039 share set, including multi-group
//! ones, so the standard's test vectors pass.
//!
//! Layers, from the bottom:
//! - `gf256`: constant-time field arithmetic and Lagrange interpolation;
//! - `shamir`: SplitSecret/RecoverSecret (secret at x = 255, digest at 254);
//! - `cipher`: the Feistel/PBKDF2 encryption of the master secret;
//! - `rs1024`, `wordlist`, `share`: the mnemonic form of one share;
//! - this file: `split`, `combine`, `combine_mnemonics`.
//!
//! Every intermediate buffer holding secret material (encrypted master
//! secret, group secrets, share values, word indices, spelled words) lives
//! in a `Zeroizing` or `SecretBox` and is wiped when dropped; buffers are
//! reserved at their final size so no reallocation leaves a copy behind.
//!
//! # Design notes
//!
//! - **Where the points sit.** SPEC says "never x = 0"; that rule exists for
//!   the textbook scheme, where the secret is f(0) and a share at x = 0
//!   *is* the secret. SLIP-0039 moves the secret to x = 255 and a digest to
//!   x = 254, and shares sit at their member indices 0..N-1 (the first
//!   share is at x = 0, which is safe here). The invariant that matters,
//!   "no share ever sits at the secret's point", holds by construction: the
//!   member index is a 4-bit field (0..=15), `split` only makes indices
//!   0..N-1 with N <= 16, and `shamir::recover` refuses any share point
//!   above 15, so neither a decoded nor a hand-built share can sit at 254
//!   or 255.
//! - **Randomness of the polynomial.** The polynomial is fixed by T points:
//!   T-2 uniformly random shares, the secret, and the digest point, whose
//!   last n-4 bytes are uniform and whose first 4 bytes are
//!   HMAC-SHA256(R, S). Fewer than T shares therefore leak nothing beyond
//!   the standard's documented 32 bits of the digest (the reason SLIP-0039
//!   requires secrets of at least 128 bits).
//! - **Exactly the threshold.** SLIP-0039 combines exactly T shares (and
//!   exactly GT groups); more are refused, as the reference implementation
//!   does, so an extra bad share cannot hide behind good ones. A share given
//!   twice is refused as a duplicate member index (the reference
//!   implementation silently drops exact duplicates).
//! - **What "N" means in errors.** A SLIP-0039 share records its threshold
//!   but not how many shares were made, so `TooFewShares` says "2 shares
//!   needed, 1 given"; a caller that knows N (the vault) can add it.
//! - **Passphrase.** `split` enforces the standard's printable-ASCII rule;
//!   `combine` does not, so shares made elsewhere stay recoverable.
//! - **Timing.** Field arithmetic, interpolation, the checksum and word
//!   look-up are branch-free and table-free in secret data. What remains
//!   visible: the lengths of the words written by `to_mnemonic` (visible in
//!   its output anyway), and whether a check failed.
//!
//! # Example
//!
//! ```
//! use secrecy::ExposeSecret;
//! use seedvault::shares::{combine_mnemonics, split};
//!
//! let rng = ring::rand::SystemRandom::new();
//! let master_key = [7u8; 32];
//! let shares = split(&master_key, 2, 3, b"", 1, &rng)?;
//! let third = shares[2].to_mnemonic();
//! let first = shares[0].to_mnemonic();
//! let back = combine_mnemonics(&[third.expose_secret(), first.expose_secret()], b"")?;
//! assert_eq!(back.expose_secret().as_slice(), &master_key);
//! # Ok::<(), seedvault::shares::ShareError>(())
//! ```

mod cipher;
mod error;
mod gf256;
mod rs1024;
mod shamir;
mod share;
mod wordlist;

use std::collections::BTreeMap;

use ring::rand::SecureRandom;
use secrecy::SecretBox;
use zeroize::Zeroizing;

pub use error::ShareError;
pub use share::Share;

use shamir::{RawError, RawShare};
use share::Header;

/// Most shares (and groups) a 4-bit index allows.
const MAX_SHARES: u8 = 16;

impl From<RawError> for ShareError {
    fn from(e: RawError) -> Self {
        match e {
            RawError::Random => ShareError::Random,
            RawError::DuplicateIndex(member_index) => {
                ShareError::DuplicateMemberIndex { member_index }
            }
            RawError::IndexOutOfRange(_) => ShareError::Malformed {
                reason: "its index is above 15",
            },
            RawError::Malformed => ShareError::Malformed {
                reason: "share values of different lengths",
            },
            RawError::Digest => ShareError::DigestMismatch,
        }
    }
}

/// SLIP-0039 single-group split of a 16..=32-byte (even length) master
/// secret with the given passphrase (seedvault uses b""), extendable = true,
/// iteration exponent as given (seedvault uses 1).
///
/// Returns `count` shares at member indices 0..count; any `threshold` of
/// them give the secret back, fewer reveal nothing about it beyond the
/// standard's documented 32-bit digest (see the module's design notes).
pub fn split(
    master_secret: &[u8],
    threshold: u8,
    count: u8,
    passphrase: &[u8],
    iteration_exponent: u8,
    rng: &dyn SecureRandom,
) -> Result<Vec<Share>, ShareError> {
    if threshold < 2 || threshold > count || count > MAX_SHARES {
        return Err(ShareError::InvalidThreshold { threshold, count });
    }
    let len = master_secret.len();
    if !(16..=32).contains(&len) || len % 2 != 0 {
        return Err(ShareError::InvalidSecretLength { len });
    }
    if iteration_exponent > 15 {
        return Err(ShareError::InvalidIterationExponent {
            exponent: iteration_exponent,
        });
    }
    if !passphrase.iter().all(|c| (32..=126).contains(c)) {
        return Err(ShareError::InvalidPassphrase);
    }
    let mut id_bytes = [0u8; 2];
    rng.fill(&mut id_bytes).map_err(|_| ShareError::Random)?;
    let identifier = u16::from_be_bytes(id_bytes) & 0x7fff;
    let params = cipher::Params {
        identifier,
        extendable: true,
        iteration_exponent,
    };

    // The encrypted master secret: zeroized on drop.
    let ems = cipher::encrypt(&params, passphrase, master_secret);
    // One group, group threshold 1: the group secret is the EMS itself
    // (SplitSecret with T = 1 copies it), so split the EMS among members.
    let raw = shamir::split(threshold, count, &ems, rng)?;
    let shares = raw
        .into_iter()
        .map(|mut r| {
            let header = Header {
                identifier,
                extendable: true,
                iteration_exponent,
                group_index: 0,
                group_threshold: 1,
                group_count: 1,
                member_index: r.x,
                member_threshold: threshold,
            };
            // Move the value out without a copy: the emptied wrapper has
            // nothing left to wipe, and the Share's SecretBox wipes it on drop.
            Share::from_parts(header, std::mem::take(&mut *r.y))
        })
        .collect();
    Ok(shares)
}

/// Combines shares (all groups logic per spec) and decrypts with the passphrase.
///
/// SLIP-0039 combines exactly the threshold: exactly `group_threshold`
/// groups, each with exactly its `member_threshold` shares. Checks, in
/// order: shares agree on identifier, extendable flag, iteration exponent,
/// group threshold and count, and value length; within a group, on the
/// member threshold, with distinct member indices; the number of groups and
/// of shares per group; the digest of each recovered secret.
pub fn combine(shares: &[Share], passphrase: &[u8]) -> Result<SecretBox<Vec<u8>>, ShareError> {
    let Some(first) = shares.first() else {
        return Err(ShareError::NoShares);
    };
    let common = first.header();
    for share in shares {
        let h = share.header();
        let field = if h.identifier != common.identifier {
            Some("identifiers")
        } else if h.extendable != common.extendable {
            Some("extendable flags")
        } else if h.iteration_exponent != common.iteration_exponent {
            Some("iteration exponents")
        } else if h.group_threshold != common.group_threshold {
            Some("group thresholds")
        } else if h.group_count != common.group_count {
            Some("group counts")
        } else if share.value().len() != first.value().len() {
            Some("lengths")
        } else {
            None
        };
        if let Some(field) = field {
            return Err(ShareError::Mismatch { field });
        }
    }
    if common.group_threshold > common.group_count {
        return Err(ShareError::GroupThresholdAboveCount {
            threshold: common.group_threshold,
            count: common.group_count,
        });
    }

    let mut groups: BTreeMap<u8, Vec<&Share>> = BTreeMap::new();
    for share in shares {
        groups.entry(share.group_index()).or_default().push(share);
    }
    for members in groups.values() {
        let threshold = members[0].member_threshold();
        if members.iter().any(|s| s.member_threshold() != threshold) {
            return Err(ShareError::Mismatch {
                field: "member thresholds",
            });
        }
        for (i, s) in members.iter().enumerate() {
            if members[..i]
                .iter()
                .any(|t| t.member_index() == s.member_index())
            {
                return Err(ShareError::DuplicateMemberIndex {
                    member_index: s.member_index(),
                });
            }
        }
    }
    let needed_groups = common.group_threshold;
    if groups.len() < usize::from(needed_groups) {
        return Err(ShareError::TooFewGroups {
            needed: needed_groups,
            given: groups.len(),
        });
    }
    if groups.len() > usize::from(needed_groups) {
        return Err(ShareError::TooManyGroups {
            needed: needed_groups,
            given: groups.len(),
        });
    }
    for members in groups.values() {
        let needed = members[0].member_threshold();
        if members.len() < usize::from(needed) {
            return Err(ShareError::TooFewShares {
                needed,
                given: members.len(),
            });
        }
        if members.len() > usize::from(needed) {
            return Err(ShareError::TooManyShares {
                needed,
                given: members.len(),
            });
        }
    }

    // Group secrets, then the encrypted master secret: all zeroized on drop.
    let mut group_secrets = Vec::with_capacity(groups.len());
    for (&group_index, members) in &groups {
        let raw: Vec<RawShare> = members
            .iter()
            .map(|s| RawShare {
                x: s.member_index(),
                y: Zeroizing::new(s.value().to_vec()),
            })
            .collect();
        let secret = shamir::recover(members[0].member_threshold(), &raw)?;
        group_secrets.push(RawShare {
            x: group_index,
            y: secret,
        });
    }
    let ems = shamir::recover(needed_groups, &group_secrets)?;
    drop(group_secrets);
    let params = cipher::Params {
        identifier: common.identifier,
        extendable: common.extendable,
        iteration_exponent: common.iteration_exponent,
    };
    let mut master = cipher::decrypt(&params, passphrase, &ems);
    // Move the plaintext into the SecretBox without a copy.
    Ok(SecretBox::new(Box::new(std::mem::take(&mut *master))))
}

/// Recomputes the share at `member_index` of the split that `shares`
/// belong to (branch k2: re-issue of a damaged card).
///
/// The shares must be exactly the threshold of one single-group split; they
/// are first combined as [`combine`] would (same checks, and the digest at
/// x = 254 must hold, so a wrong or forged share is refused instead of
/// producing a wrong share). The polynomial they fix is then evaluated at
/// the member index: the result is the very share that split made there,
/// with the same header (identifier, thresholds, iteration exponent).
pub fn share_at(shares: &[Share], member_index: u8) -> Result<Share, ShareError> {
    let Some(first) = shares.first() else {
        return Err(ShareError::NoShares);
    };
    if member_index > shamir::MAX_SHARE_INDEX {
        return Err(ShareError::Malformed {
            reason: "its index is above 15",
        });
    }
    if first.group_count() != 1 || first.group_threshold() != 1 {
        return Err(ShareError::Mismatch {
            field: "group counts",
        });
    }
    // Every consistency check, and the digest, as a combine does; the
    // passphrase only affects the decryption, which is not used here.
    drop(combine(shares, b"")?);
    let raw: Vec<(u8, &[u8])> = shares
        .iter()
        .map(|s| (s.member_index(), s.value()))
        .collect();
    let mut y = gf256::interpolate_zeroizing(member_index, &raw).map_err(RawError::from)?;
    let mut header = first.header();
    header.member_index = member_index;
    // Moved into the Share without a copy; the emptied buffer has nothing to wipe.
    Ok(Share::from_parts(header, std::mem::take(&mut *y)))
}

/// Reads each mnemonic and combines them; an unreadable mnemonic is named
/// by its 1-based position in `mnemonics`.
pub fn combine_mnemonics(
    mnemonics: &[&str],
    passphrase: &[u8],
) -> Result<SecretBox<Vec<u8>>, ShareError> {
    let shares = mnemonics
        .iter()
        .enumerate()
        .map(|(i, m)| {
            Share::from_mnemonic(m).map_err(|e| ShareError::InMnemonic {
                index: i + 1,
                source: Box::new(e),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    combine(&shares, passphrase)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use ring::rand::SystemRandom;
    use secrecy::ExposeSecret;

    fn shuffled(n: usize, seed: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        let mut s = seed;
        for i in (1..n).rev() {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            order.swap(i, (s >> 33) as usize % (i + 1));
        }
        order
    }

    #[test]
    fn refuses_bad_split_parameters() {
        let rng = SystemRandom::new();
        let s = [1u8; 16];
        assert!(matches!(
            split(&s, 1, 3, b"", 0, &rng),
            Err(ShareError::InvalidThreshold { .. })
        ));
        assert!(matches!(
            split(&s, 4, 3, b"", 0, &rng),
            Err(ShareError::InvalidThreshold { .. })
        ));
        assert!(matches!(
            split(&s, 2, 17, b"", 0, &rng),
            Err(ShareError::InvalidThreshold { .. })
        ));
        assert!(matches!(
            split(&[1u8; 15], 2, 3, b"", 0, &rng),
            Err(ShareError::InvalidSecretLength { len: 15 })
        ));
        assert!(matches!(
            split(&[1u8; 17], 2, 3, b"", 0, &rng),
            Err(ShareError::InvalidSecretLength { len: 17 })
        ));
        assert!(matches!(
            split(&[1u8; 34], 2, 3, b"", 0, &rng),
            Err(ShareError::InvalidSecretLength { len: 34 })
        ));
        assert!(matches!(
            split(&s, 2, 3, b"", 16, &rng),
            Err(ShareError::InvalidIterationExponent { .. })
        ));
        assert!(matches!(
            split(&s, 2, 3, "é".as_bytes(), 0, &rng),
            Err(ShareError::InvalidPassphrase)
        ));
    }

    #[test]
    fn split_shares_are_single_group_extendable() {
        let rng = SystemRandom::new();
        let shares = split(&[3u8; 32], 3, 5, b"", 1, &rng).unwrap();
        assert_eq!(shares.len(), 5);
        for (i, s) in shares.iter().enumerate() {
            assert_eq!(usize::from(s.member_index()), i);
            assert_eq!(s.member_threshold(), 3);
            assert_eq!(s.identifier(), shares[0].identifier());
            assert!(s.extendable());
            assert_eq!(
                (s.group_index(), s.group_threshold(), s.group_count()),
                (0, 1, 1)
            );
            assert_eq!(s.iteration_exponent(), 1);
            assert_eq!(s.value().len(), 32);
        }
    }

    #[test]
    fn custodian_messages() {
        let rng = SystemRandom::new();
        let shares = split(&[3u8; 16], 2, 3, b"", 0, &rng).unwrap();
        let err = combine(&shares[..1], b"").unwrap_err();
        assert_eq!(err.to_string(), "2 shares needed, 1 given");
        let err = combine(&[shares[0].clone(), shares[0].clone()], b"").unwrap_err();
        assert!(matches!(
            err,
            ShareError::DuplicateMemberIndex { member_index: 0 }
        ));
        let err = combine(&shares, b"").unwrap_err();
        assert!(matches!(
            err,
            ShareError::TooManyShares {
                needed: 2,
                given: 3
            }
        ));
        assert!(matches!(combine(&[], b""), Err(ShareError::NoShares)));
        let other = split(&[3u8; 16], 2, 3, b"", 0, &rng).unwrap();
        if other[0].identifier() != shares[0].identifier() {
            let err = combine(&[shares[0].clone(), other[1].clone()], b"").unwrap_err();
            assert!(matches!(
                err,
                ShareError::Mismatch {
                    field: "identifiers"
                }
            ));
        }
        let m = shares[1].to_mnemonic();
        let err = combine_mnemonics(&["academic acid", m.expose_secret()], b"").unwrap_err();
        assert!(err.to_string().starts_with("share 1: "), "{err}");
    }

    /// A share of the right split but a different length is refused
    /// before any interpolation.
    #[test]
    fn mixed_lengths_are_refused() {
        let rng = SystemRandom::new();
        let shares = split(&[3u8; 16], 2, 3, b"", 0, &rng).unwrap();
        let mut header = shares[1].header();
        header.member_index = 1;
        let longer = Share::from_parts(header, vec![0u8; 32]);
        let err = combine(&[shares[0].clone(), longer], b"").unwrap_err();
        assert!(
            matches!(err, ShareError::Mismatch { field: "lengths" }),
            "{err}"
        );
    }

    /// Shares claiming an index outside 0..=15 never reach interpolation
    /// at the secret's point (only `split` and the decoder make shares, and
    /// both keep indices in 4 bits; this checks the last line of defence).
    #[test]
    fn share_at_secret_point_is_refused() {
        let rng = SystemRandom::new();
        let shares = split(&[3u8; 16], 2, 3, b"", 0, &rng).unwrap();
        let mut header = shares[1].header();
        header.member_index = shamir::SECRET_INDEX;
        let forged = Share::from_parts(header, shares[1].value().to_vec());
        let err = combine(&[shares[0].clone(), forged], b"").unwrap_err();
        assert!(matches!(err, ShareError::Malformed { .. }), "{err}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Any M of the N shares, in any order and via their mnemonics,
        /// give the secret back; M-1 are refused.
        #[test]
        fn any_threshold_subset_combines(
            long in any::<bool>(),
            bytes in proptest::collection::vec(any::<u8>(), 32),
            threshold in 2u8..=16,
            extra in 0u8..=15,
            seed in any::<u64>(),
        ) {
            let secret = if long { &bytes[..] } else { &bytes[..16] };
            let count = threshold.saturating_add(extra).min(16);
            let rng = SystemRandom::new();
            let shares = split(secret, threshold, count, b"", 0, &rng).unwrap();
            prop_assert_eq!(shares.len(), usize::from(count));

            let order = shuffled(usize::from(count), seed);
            let chosen: Vec<Share> = order[..usize::from(threshold)]
                .iter()
                .map(|&i| shares[i].clone())
                .collect();
            let got = combine(&chosen, b"").unwrap();
            prop_assert_eq!(&got.expose_secret()[..], secret);

            // Mnemonic round trip, then combine from the words.
            let mnemonics: Vec<_> = chosen.iter().map(|s| s.to_mnemonic()).collect();
            for (m, s) in mnemonics.iter().zip(&chosen) {
                let back = Share::from_mnemonic(m.expose_secret()).unwrap();
                prop_assert_eq!(format!("{back:?}"), format!("{s:?}"));
                prop_assert_eq!(back.value(), s.value());
            }
            let words: Vec<&str> = mnemonics.iter().map(|m| m.expose_secret()).collect();
            let got = combine_mnemonics(&words, b"").unwrap();
            prop_assert_eq!(&got.expose_secret()[..], secret);

            // One short of the threshold is refused.
            let fewer = &chosen[1..];
            let refused = matches!(
                combine(fewer, b""),
                Err(ShareError::TooFewShares { needed, given }) if needed == threshold && given == fewer.len()
            );
            prop_assert!(refused);
        }
    }

    /// Branch k2: a share recomputed from any threshold of the others is
    /// the share the split made at that index, words and all.
    #[test]
    fn share_at_recomputes_every_member_exactly() {
        let rng = SystemRandom::new();
        let shares = split(&[0x5au8; 32], 3, 5, b"", 1, &rng).unwrap();
        for lost in 0..5u8 {
            let others: Vec<Share> = (0..5u8)
                .filter(|&i| i != lost)
                .take(3)
                .map(|i| {
                    Share::from_mnemonic(shares[usize::from(i)].to_mnemonic().expose_secret())
                        .unwrap()
                })
                .collect();
            let again = share_at(&others, lost).unwrap();
            assert_eq!(
                again.to_mnemonic().expose_secret(),
                shares[usize::from(lost)].to_mnemonic().expose_secret()
            );
        }
        // Too few shares, or a damaged one, give no share at all.
        assert!(share_at(&shares[..2], 4).is_err());
        let mut bad: Vec<Share> = shares[..3]
            .iter()
            .map(|s| Share::from_mnemonic(s.to_mnemonic().expose_secret()).unwrap())
            .collect();
        let mut h = bad[2].header();
        h.member_index = 4;
        bad[2] = Share::from_parts(h, bad[2].value().to_vec());
        assert!(matches!(share_at(&bad, 3), Err(ShareError::DigestMismatch)));
    }
}
