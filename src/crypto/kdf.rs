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
        self.m_kib >= Self::RFC9106_SECOND.m_kib && self.t >= Self::RFC9106_SECOND.t
    }
}

/// Argon2id refused its parameters (only possible with a corrupted card).
#[derive(Debug, thiserror::Error)]
#[error("invalid Argon2id parameters: {0}")]
pub struct KdfError(String);

/// Argon2id (v1.3) of `passphrase` with `salt`, 32-byte output.
pub fn argon2id(passphrase: &[u8], salt: &[u8], params: KdfParams) -> Result<Key32, KdfError> {
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
