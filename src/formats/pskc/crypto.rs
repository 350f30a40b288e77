//! The cryptography RFC 6030 section 6 prescribes, and only that.
//!
//! PSKC encrypts each value with AES-CBC (the IV is the first block of the
//! CipherValue, padding is PKCS #7) and authenticates it with an HMAC over
//! IV || ciphertext (the ValueMAC), keyed by a MAC key that travels in the
//! file encrypted under the same encryption key. The encryption key is
//! either pre-shared or derived from a password with PBKDF2. Every MAC is
//! checked before anything is decrypted, in constant time, so a wrong key
//! or an altered file is reported as such and never yields a wrong seed.

use std::num::NonZeroU32;

use aes::{Aes128, Aes192, Aes256};
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretBox};
use zeroize::{Zeroize, Zeroizing};

/// AES block size, which is also the IV length.
pub(super) const BLOCK: usize = 16;

/// The AES-CBC variants of XML Encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cipher {
    /// `http://www.w3.org/2001/04/xmlenc#aes128-cbc`.
    Aes128,
    /// `http://www.w3.org/2001/04/xmlenc#aes192-cbc`.
    Aes192,
    /// `http://www.w3.org/2001/04/xmlenc#aes256-cbc`.
    Aes256,
}

impl Cipher {
    /// Recognizes the XML Encryption algorithm URI.
    pub fn from_uri(uri: &str) -> Option<Cipher> {
        match uri.trim() {
            "http://www.w3.org/2001/04/xmlenc#aes128-cbc" => Some(Cipher::Aes128),
            "http://www.w3.org/2001/04/xmlenc#aes192-cbc" => Some(Cipher::Aes192),
            "http://www.w3.org/2001/04/xmlenc#aes256-cbc" => Some(Cipher::Aes256),
            _ => None,
        }
    }

    /// The XML Encryption algorithm URI.
    pub fn uri(self) -> &'static str {
        match self {
            Cipher::Aes128 => "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
            Cipher::Aes192 => "http://www.w3.org/2001/04/xmlenc#aes192-cbc",
            Cipher::Aes256 => "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
        }
    }

    /// Short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Cipher::Aes128 => "aes128-cbc",
            Cipher::Aes192 => "aes192-cbc",
            Cipher::Aes256 => "aes256-cbc",
        }
    }

    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Cipher::Aes128 => 16,
            Cipher::Aes192 => 24,
            Cipher::Aes256 => 32,
        }
    }

    /// The cipher that takes a key of this length.
    pub fn for_key_len(len: usize) -> Option<Cipher> {
        match len {
            16 => Some(Cipher::Aes128),
            24 => Some(Cipher::Aes192),
            32 => Some(Cipher::Aes256),
            _ => None,
        }
    }

    /// Decrypts IV || ciphertext. The plaintext, and every intermediate
    /// copy of it, lives in wiped memory.
    pub fn decrypt(self, key: &[u8], data: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
        if key.len() != self.key_len() {
            return Err(format!(
                "the key is {} bytes but {} needs {}",
                key.len(),
                self.name(),
                self.key_len()
            ));
        }
        if data.len() < 2 * BLOCK || data.len() % BLOCK != 0 {
            return Err(format!(
                "the CipherValue is {} bytes; {} needs a 16-byte IV and whole 16-byte blocks",
                data.len(),
                self.name()
            ));
        }
        let (iv, ciphertext) = data.split_at(BLOCK);
        let mut buf = Zeroizing::new(ciphertext.to_vec());
        let len = match self {
            Cipher::Aes128 => {
                unpad_len(cbc::Decryptor::<Aes128>::new_from_slices(key, iv), &mut buf)
            }
            Cipher::Aes192 => {
                unpad_len(cbc::Decryptor::<Aes192>::new_from_slices(key, iv), &mut buf)
            }
            Cipher::Aes256 => {
                unpad_len(cbc::Decryptor::<Aes256>::new_from_slices(key, iv), &mut buf)
            }
        }
        .ok_or_else(|| {
            "the decrypted value has bad padding (wrong key, or the file was altered)".to_owned()
        })?;
        // Wipe the padding before shortening: truncate does not clear.
        buf[len..].zeroize();
        buf.truncate(len);
        Ok(buf)
    }

    /// Encrypts `plain` under a fresh random IV and returns IV || ciphertext.
    pub fn encrypt(self, key: &[u8], plain: &[u8], rng: &SystemRandom) -> Result<Vec<u8>, String> {
        let mut iv = [0u8; BLOCK];
        rng.fill(&mut iv)
            .map_err(|_| "the system random number generator failed".to_owned())?;
        let ciphertext = match self {
            Cipher::Aes128 => cbc::Encryptor::<Aes128>::new_from_slices(key, &iv)
                .map(|c| c.encrypt_padded_vec_mut::<Pkcs7>(plain)),
            Cipher::Aes192 => cbc::Encryptor::<Aes192>::new_from_slices(key, &iv)
                .map(|c| c.encrypt_padded_vec_mut::<Pkcs7>(plain)),
            Cipher::Aes256 => cbc::Encryptor::<Aes256>::new_from_slices(key, &iv)
                .map(|c| c.encrypt_padded_vec_mut::<Pkcs7>(plain)),
        }
        .map_err(|_| {
            format!(
                "the key is {} bytes but {} needs {}",
                key.len(),
                self.name(),
                self.key_len()
            )
        })?;
        let mut out = iv.to_vec();
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }
}

/// Decrypts in place and returns the unpadded length, or None on a bad key
/// length or bad padding.
fn unpad_len<D: BlockDecryptMut>(
    dec: Result<D, cbc::cipher::InvalidLength>,
    buf: &mut [u8],
) -> Option<usize> {
    dec.ok()?
        .decrypt_padded_mut::<Pkcs7>(buf)
        .ok()
        .map(|plain| plain.len())
}

/// The HMACs a MACMethod may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MacAlg {
    /// HMAC-SHA-1 (RFC 6030's examples).
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-384.
    Sha384,
    /// HMAC-SHA-512.
    Sha512,
}

impl MacAlg {
    /// Recognizes the XML Signature algorithm URI.
    pub fn from_uri(uri: &str) -> Option<MacAlg> {
        match uri.trim() {
            "http://www.w3.org/2000/09/xmldsig#hmac-sha1" => Some(MacAlg::Sha1),
            "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256" => Some(MacAlg::Sha256),
            "http://www.w3.org/2001/04/xmldsig-more#hmac-sha384" => Some(MacAlg::Sha384),
            "http://www.w3.org/2001/04/xmldsig-more#hmac-sha512" => Some(MacAlg::Sha512),
            _ => None,
        }
    }

    /// The XML Signature algorithm URI.
    pub fn uri(self) -> &'static str {
        match self {
            MacAlg::Sha1 => "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
            MacAlg::Sha256 => "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256",
            MacAlg::Sha384 => "http://www.w3.org/2001/04/xmldsig-more#hmac-sha384",
            MacAlg::Sha512 => "http://www.w3.org/2001/04/xmldsig-more#hmac-sha512",
        }
    }

    /// Output length, which is also the MAC key length the writer uses.
    pub fn len(self) -> usize {
        match self {
            MacAlg::Sha1 => 20,
            MacAlg::Sha256 => 32,
            MacAlg::Sha384 => 48,
            MacAlg::Sha512 => 64,
        }
    }

    fn ring(self) -> hmac::Algorithm {
        match self {
            // RFC 6030 and the files made after it use HMAC-SHA-1; as a
            // MAC (not a hash) it is still sound.
            MacAlg::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            MacAlg::Sha256 => hmac::HMAC_SHA256,
            MacAlg::Sha384 => hmac::HMAC_SHA384,
            MacAlg::Sha512 => hmac::HMAC_SHA512,
        }
    }

    /// Checks `tag` over `data` in constant time.
    pub fn verify(self, key: &[u8], data: &[u8], tag: &[u8]) -> bool {
        hmac::verify(&hmac::Key::new(self.ring(), key), data, tag).is_ok()
    }

    /// The tag over `data`.
    pub fn sign(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        hmac::sign(&hmac::Key::new(self.ring(), key), data)
            .as_ref()
            .to_vec()
    }
}

/// The pseudo-random functions PBKDF2-params may name (default HMAC-SHA-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Prf {
    /// HMAC-SHA-1, PKCS #5's default.
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-384.
    Sha384,
    /// HMAC-SHA-512.
    Sha512,
}

impl Prf {
    /// Recognizes a PRF by its XML Signature URI, or by the name at its end
    /// (`hmac-sha256`), as python-pskc writes it.
    pub fn from_uri(uri: &str) -> Option<Prf> {
        let name = uri
            .trim()
            .rsplit('#')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match name.as_str() {
            "hmac-sha1" | "hmacwithsha1" => Some(Prf::Sha1),
            "hmac-sha256" | "hmacwithsha256" => Some(Prf::Sha256),
            "hmac-sha384" | "hmacwithsha384" => Some(Prf::Sha384),
            "hmac-sha512" | "hmacwithsha512" => Some(Prf::Sha512),
            _ => None,
        }
    }

    /// PBKDF2 of `password`.
    pub fn derive(
        self,
        iterations: NonZeroU32,
        salt: &[u8],
        password: &[u8],
        len: usize,
    ) -> SecretBox<Vec<u8>> {
        let alg = match self {
            Prf::Sha1 => ring::pbkdf2::PBKDF2_HMAC_SHA1,
            Prf::Sha256 => ring::pbkdf2::PBKDF2_HMAC_SHA256,
            Prf::Sha384 => ring::pbkdf2::PBKDF2_HMAC_SHA384,
            Prf::Sha512 => ring::pbkdf2::PBKDF2_HMAC_SHA512,
        };
        let mut key = SecretBox::new(Box::new(vec![0u8; len]));
        ring::pbkdf2::derive(
            alg,
            iterations,
            salt,
            password,
            secrecy::ExposeSecretMut::expose_secret_mut(&mut key),
        );
        key
    }
}

/// Random bytes for a salt or a MAC key, in wiped memory.
pub(super) fn random(len: usize, rng: &SystemRandom) -> Result<SecretBox<Vec<u8>>, String> {
    let mut bytes = SecretBox::new(Box::new(vec![0u8; len]));
    rng.fill(secrecy::ExposeSecretMut::expose_secret_mut(&mut bytes))
        .map_err(|_| "the system random number generator failed".to_owned())?;
    Ok(bytes)
}

/// Shows a secret key to the line that uses it.
pub(super) fn expose(key: &SecretBox<Vec<u8>>) -> &[u8] {
    key.expose_secret()
}
