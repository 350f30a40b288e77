//! The few primitives the vault is built from, each behind a type that
//! keeps its key secret.
//!
//! ring gives SHA-256, HMAC, HKDF and the system CSPRNG; aes-gcm gives the
//! AEAD; argon2 gives the passphrase KDF. Nothing else in the crate calls a
//! cipher: it goes through `SealingKey`, whose every use binds a context in
//! the AAD, so a ciphertext moved to another row, another vault or another
//! key version does not open.

pub mod aead;
pub mod kdf;
pub mod random;
pub mod selftest;

use std::fmt;

use secrecy::{ExposeSecret, ExposeSecretMut, SecretBox};
use sha2::Digest;
use zeroize::Zeroize;

pub use aead::{AeadError, CounterSealer, SealingKey};
pub use kdf::{argon2id, hkdf_sha256, KdfError, KdfParams};

/// A 256-bit secret key (master key, key-encryption key, data key).
/// Wiped on drop; `Debug` prints `[REDACTED]`.
pub struct Key32(SecretBox<[u8; 32]>);

impl Key32 {
    /// A fresh key from the system CSPRNG.
    pub fn random() -> Result<Self, random::RandomError> {
        let mut k = Key32(SecretBox::new(Box::new([0u8; 32])));
        random::fill(k.0.expose_secret_mut())?;
        Ok(k)
    }

    /// Takes a key from a buffer, wiping the buffer.
    pub fn from_slice_wiping(bytes: &mut [u8]) -> Option<Self> {
        if bytes.len() != 32 {
            bytes.zeroize();
            return None;
        }
        let mut k = Key32(SecretBox::new(Box::new([0u8; 32])));
        k.0.expose_secret_mut().copy_from_slice(bytes);
        bytes.zeroize();
        Some(k)
    }

    /// The key bytes, for the one line that uses them.
    pub fn expose(&self) -> &[u8; 32] {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Key32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key32([REDACTED])")
    }
}

/// SHA-256 of `data`. RustCrypto's `sha2` rather than ring's digest: both
/// use the CPU's SHA extensions, but `sha2` costs less per call (a fifth
/// less on a 273-byte audit entry, of which `audit verify` hashes a
/// million), and the same on long inputs.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(data).into()
}

/// Incremental SHA-256, for files streamed through the vault.
#[derive(Clone)]
pub struct Sha256(sha2::Sha256);

impl Sha256 {
    /// An empty hash.
    pub fn new() -> Self {
        Sha256(sha2::Sha256::new())
    }
    /// Adds bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data)
    }
    /// The digest.
    pub fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sha256")
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

/// Constant-time equality of two byte strings (length is not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(subtle::ConstantTimeEq::ct_eq(a, b))
}
