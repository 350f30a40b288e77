//! Key derivation: Argon2id for passphrases, HKDF-SHA256 for key hierarchy.

use argon2::{Algorithm, Argon2, Params, Version};
use ring::hkdf;
use serde::{Deserialize, Serialize};

use super::Key32;

/// Argon2id cost parameters, stored beside each card's salt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl KdfParams {
    /// RFC 9106 section 4, second recommended option: Argon2id, t=3, p=4,
    /// 64 MiB. The production default for custodian cards.
    pub const RFC9106_SECOND: KdfParams = KdfParams {
        m_kib: 64 * 1024,
        t: 3,
        p: 4,
    };

    /// For tests and demos only (`--insecure-fast-kdf`): a vault made with
    /// it says so in `status` and in every export manifest.
    pub const INSECURE_FAST: KdfParams = KdfParams {
        m_kib: 64,
        t: 1,
        p: 1,
    };

    /// The weakest parameters a card may carry and still be opened without
    /// the vault being marked as a test vault.
    pub fn is_at_least_default(&self) -> bool {
        !self.weaker_than(&Self::RFC9106_SECOND)
    }

    /// Whether these parameters cost a guesser less than `policy`: less
    /// memory or fewer passes. Lanes are not compared: they let the
    /// legitimate user spread the same work over cores, and do not change
    /// the work a guesser must do per guess.
    pub fn weaker_than(&self, policy: &KdfParams) -> bool {
        self.m_kib < policy.m_kib || self.t < policy.t
    }

    /// Checks the parameters against [`KDF_BOUNDS`] before any key
    /// derivation: a header asking for 4 TiB of memory or 2^32 passes
    /// would otherwise abort the process (allocation failure) or hang it,
    /// before the refusal could be logged. Returns the first parameter out
    /// of bounds.
    pub fn check_bounds(&self) -> Result<(), KdfOutOfBounds> {
        let b = KDF_BOUNDS;
        let out = |param: &'static str, value: u32, min: u32, max: u32| KdfOutOfBounds {
            param,
            value,
            min,
            max,
        };
        if !(b.t_min..=b.t_max).contains(&self.t) {
            return Err(out("t (passes)", self.t, b.t_min, b.t_max));
        }
        if !(b.p_min..=b.p_max).contains(&self.p) {
            return Err(out("p (lanes)", self.p, b.p_min, b.p_max));
        }
        // Argon2 itself needs 8 KiB per lane; p <= 16 keeps this <= 128 KiB.
        let m_min = b.m_kib_min.max(8 * self.p);
        if !(m_min..=b.m_kib_max).contains(&self.m_kib) {
            return Err(out("m (memory, KiB)", self.m_kib, m_min, b.m_kib_max));
        }
        Ok(())
    }
}

impl std::fmt::Display for KdfParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "m = {} KiB, t = {}, p = {}", self.m_kib, self.t, self.p)
    }
}

/// The Argon2id parameters any card may carry (docs/formats.md). A vault
/// additionally refuses cards weaker than the parameters of its own
/// ceremony (its genesis entry), so the low end only serves test vaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfBounds {
    /// Fewest memory KiB (the test parameters' 64 KiB; at least 8 per lane).
    pub m_kib_min: u32,
    /// Most memory KiB: 4 GiB, what a console can be expected to hold.
    pub m_kib_max: u32,
    /// Fewest passes.
    pub t_min: u32,
    /// Most passes: 16 (RFC 9106's recommendations use 1 to 3).
    pub t_max: u32,
    /// Fewest lanes.
    pub p_min: u32,
    /// Most lanes: 16.
    pub p_max: u32,
}

/// The bounds every card is held to before any key derivation.
pub const KDF_BOUNDS: KdfBounds = KdfBounds {
    m_kib_min: KdfParams::INSECURE_FAST.m_kib,
    m_kib_max: 4 * 1024 * 1024,
    t_min: 1,
    t_max: 16,
    p_min: 1,
    p_max: 16,
};

/// One Argon2id parameter outside [`KDF_BOUNDS`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Argon2id {param} = {value} is outside the allowed {min}..={max}")]
pub struct KdfOutOfBounds {
    /// Which parameter.
    pub param: &'static str,
    /// Its value.
    pub value: u32,
    /// The smallest allowed.
    pub min: u32,
    /// The largest allowed.
    pub max: u32,
}

/// Argon2id refused its parameters (only possible with a corrupted card).
#[derive(Debug, thiserror::Error)]
#[error("invalid Argon2id parameters: {0}")]
pub struct KdfError(String);

/// Argon2id (v1.3) of `passphrase` with `salt`, 32-byte output.
/// Refuses parameters outside [`KDF_BOUNDS`] before any work.
pub fn argon2id(passphrase: &[u8], salt: &[u8], params: KdfParams) -> Result<Key32, KdfError> {
    params.check_bounds().map_err(|e| KdfError(e.to_string()))?;
    argon2id_full(passphrase, salt, None, None, params)
}

/// Argon2id with RFC 9106's optional secret and associated data; the
/// self-test uses the RFC's vector, which sets both.
pub(crate) fn argon2id_full(
    passphrase: &[u8],
    salt: &[u8],
    secret: Option<&[u8]>,
    ad: Option<&[u8]>,
    params: KdfParams,
) -> Result<Key32, KdfError> {
    let mut builder = argon2::ParamsBuilder::new();
    builder
        .m_cost(params.m_kib)
        .t_cost(params.t)
        .p_cost(params.p)
        .output_len(32);
    if let Some(ad) = ad {
        builder.data(argon2::AssociatedData::new(ad).map_err(|e| KdfError(e.to_string()))?);
    }
    let p: Params = builder.build().map_err(|e| KdfError(e.to_string()))?;
    let a = match secret {
        Some(s) => Argon2::new_with_secret(s, Algorithm::Argon2id, Version::V0x13, p)
            .map_err(|e| KdfError(e.to_string()))?,
        None => Argon2::new(Algorithm::Argon2id, Version::V0x13, p),
    };
    // The output buffer is wiped by `from_slice_wiping` below.
    let mut out = [0u8; 32];
    a.hash_password_into(passphrase, salt, &mut out)
        .map_err(|e| KdfError(e.to_string()))?;
    Key32::from_slice_wiping(&mut out).ok_or_else(|| KdfError("output length".into()))
}

struct Len(usize);
impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-SHA256 (RFC 5869) into `out`.
pub(crate) fn hkdf_sha256_into(ikm: &[u8], salt: &[u8], info: &[u8], out: &mut [u8]) {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm);
    // `expand` fails only when the length exceeds 255 * 32 bytes, and
    // `fill` only when `out` differs from the requested length; callers
    // pass at most 64 bytes of the same length, so neither can happen.
    #[allow(clippy::expect_used)]
    prk.expand(&[info], Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .expect("HKDF output length is within bounds");
}

/// HKDF-SHA256 to a 256-bit key: the key hierarchy below the master key.
pub fn hkdf_sha256(ikm: &[u8], salt: &[u8], info: &[u8]) -> Key32 {
    let mut out = [0u8; 32];
    hkdf_sha256_into(ikm, salt, info, &mut out);
    // Exactly 32 bytes, so `from_slice_wiping` returns Some.
    #[allow(clippy::expect_used)]
    Key32::from_slice_wiping(&mut out).expect("32-byte HKDF output")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vaults_own_parameters_are_within_bounds() {
        assert_eq!(KdfParams::RFC9106_SECOND.check_bounds(), Ok(()));
        assert_eq!(KdfParams::INSECURE_FAST.check_bounds(), Ok(()));
        let max = KdfParams {
            m_kib: KDF_BOUNDS.m_kib_max,
            t: KDF_BOUNDS.t_max,
            p: KDF_BOUNDS.p_max,
        };
        assert_eq!(max.check_bounds(), Ok(()));
    }

    #[test]
    fn fail_out_of_bounds_parameters_name_the_parameter() {
        let ok = KdfParams::RFC9106_SECOND;
        let cases = [
            (KdfParams { t: u32::MAX, ..ok }, "t (passes)", u32::MAX),
            (KdfParams { t: 0, ..ok }, "t (passes)", 0),
            (KdfParams { t: 17, ..ok }, "t (passes)", 17),
            (KdfParams { p: 0, ..ok }, "p (lanes)", 0),
            (KdfParams { p: 17, ..ok }, "p (lanes)", 17),
            (
                KdfParams {
                    m_kib: u32::MAX,
                    ..ok
                },
                "m (memory, KiB)",
                u32::MAX,
            ),
            (
                KdfParams {
                    m_kib: 4 * 1024 * 1024 + 1,
                    ..ok
                },
                "m (memory, KiB)",
                4 * 1024 * 1024 + 1,
            ),
            (
                KdfParams {
                    m_kib: 63,
                    t: 1,
                    p: 1,
                },
                "m (memory, KiB)",
                63,
            ),
            // Argon2 needs 8 KiB per lane.
            (
                KdfParams {
                    m_kib: 64,
                    t: 1,
                    p: 16,
                },
                "m (memory, KiB)",
                64,
            ),
        ];
        for (params, param, value) in cases {
            let e = params.check_bounds().unwrap_err();
            assert_eq!((e.param, e.value), (param, value), "{params:?}");
            // And the KDF itself refuses them before any work.
            assert!(argon2id(b"pass", &[0u8; 16], params).is_err(), "{params:?}");
        }
    }

    #[test]
    fn weaker_compares_memory_and_passes_not_lanes() {
        let policy = KdfParams::RFC9106_SECOND;
        assert!(KdfParams::INSECURE_FAST.weaker_than(&policy));
        assert!(KdfParams { t: 2, ..policy }.weaker_than(&policy));
        assert!(KdfParams {
            m_kib: policy.m_kib - 1,
            ..policy
        }
        .weaker_than(&policy));
        assert!(!KdfParams { p: 1, ..policy }.weaker_than(&policy));
        assert!(!KdfParams { t: 4, ..policy }.weaker_than(&policy));
        assert!(!policy.weaker_than(&KdfParams::INSECURE_FAST));
    }
}
