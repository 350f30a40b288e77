//! Generating, serializing and loading the vault's and the officers' keys.
//!
//! A `SecretCert` is a certificate that carries secret key material. It is
//! only ever serialized into a buffer that is zeroized on drop and then
//! sealed (under the master key for the vault key, under the custodian's
//! passphrase for a card key); it never reaches the disk in the clear.
//!
//! That buffer is allocated once, at the size sequoia computes before
//! writing, and never grows: a `Vec` that grows copies what it holds to a
//! new allocation and frees the old one unwiped, which would leave pieces
//! of the secret key in freed memory that no `Zeroizing` ever reaches. If
//! the key turns out larger than announced, serializing is refused rather
//! than the buffer grown (see [`serialize_wiped`]).

use std::fmt;
use std::io;

use sequoia_openpgp as openpgp;

use openpgp::cert::{CertBuilder, CipherSuite};
use openpgp::parse::Parse;
use openpgp::serialize::{Serialize, SerializeInto};
use openpgp::types::KeyFlags;
use openpgp::{Cert, Profile};
use zeroize::Zeroizing;

/// Failures of key handling. Never contains secret material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// sequoia refused to build or serialize a key.
    #[error("OpenPGP key operation failed: {0}")]
    OpenPgp(String),
    /// Bytes that should hold a secret key did not.
    #[error("the stored key is not a valid OpenPGP secret key: {0}")]
    NotASecretKey(String),
    /// A secret key did not fit the buffer sized for it; it was not
    /// serialized (the buffer is never grown, see [`SecretCert::to_secret_bytes`]).
    #[error("the secret key needs more than the {capacity} bytes reserved for it; refused rather than copied into a larger buffer")]
    TooLarge {
        /// The bytes that were reserved.
        capacity: usize,
    },
}

fn pgp_err(e: anyhow::Error) -> KeyError {
    KeyError::OpenPgp(e.to_string())
}

/// A certificate with its secret keys. `Debug` shows only the fingerprint.
pub struct SecretCert(Cert);

impl SecretCert {
    /// Serializes the whole transferable secret key (binary) into a buffer
    /// of its exact size, wiped when dropped, never reallocated.
    pub fn to_secret_bytes(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let tsk = self.0.as_tsk();
        serialize_wiped(&tsk, SerializeInto::serialized_len(&tsk))
    }

    /// Loads a transferable secret key made by [`SecretCert::to_secret_bytes`].
    pub fn from_secret_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let cert = Cert::from_bytes(bytes).map_err(|e| KeyError::NotASecretKey(e.to_string()))?;
        if !cert.is_tsk() {
            return Err(KeyError::NotASecretKey(
                "it holds no secret key material".into(),
            ));
        }
        Ok(SecretCert(cert))
    }

    /// The certificate, secrets included; for signing and decrypting.
    pub fn cert(&self) -> &Cert {
        &self.0
    }

    /// The public certificate, ASCII-armored, as `gpg --import` takes it.
    pub fn public_armored(&self) -> Result<String, KeyError> {
        let bytes = self.0.armored().to_vec().map_err(pgp_err)?;
        String::from_utf8(bytes).map_err(|e| KeyError::OpenPgp(e.to_string()))
    }

    /// The public certificate, binary.
    pub fn public_bytes(&self) -> Result<Vec<u8>, KeyError> {
        self.0.to_vec().map_err(pgp_err)
    }

    /// Upper-case hex fingerprint of the primary key.
    pub fn fingerprint(&self) -> String {
        self.0.fingerprint().to_hex()
    }
}

impl fmt::Debug for SecretCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretCert({}, secrets [REDACTED])", self.fingerprint())
    }
}

/// The vault's own key: an Ed25519 primary that certifies and signs
/// (bundles, manifests, checkpoints) and a Cv25519 subkey that factories
/// encrypt batches to. No expiry: the vault is retired by ceremony, not by
/// a clock on an air-gapped machine.
pub fn generate_vault_key(vault_id: &str) -> Result<SecretCert, KeyError> {
    let (cert, _revocation) = CertBuilder::new()
        .set_profile(Profile::RFC4880)
        .map_err(pgp_err)?
        .set_cipher_suite(CipherSuite::Cv25519)
        .set_primary_key_flags(KeyFlags::empty().set_certification().set_signing())
        .add_userid(format!(
            "seedvault {vault_id} <vault-{vault_id}@seedvault.invalid>"
        ))
        .add_subkey(
            KeyFlags::empty()
                .set_storage_encryption()
                .set_transport_encryption(),
            None,
            None,
        )
        .generate()
        .map_err(pgp_err)?;
    Ok(SecretCert(cert))
}

/// An officer's card key: Ed25519, signing only. Approvals and rejections
/// are signed with it, so an auditor can check who approved what.
pub fn generate_officer_key(name: &str, vault_id: &str) -> Result<SecretCert, KeyError> {
    let (cert, _revocation) = CertBuilder::new()
        .set_profile(Profile::RFC4880)
        .map_err(pgp_err)?
        .set_cipher_suite(CipherSuite::Cv25519)
        .set_primary_key_flags(KeyFlags::empty().set_certification().set_signing())
        .add_userid(format!("{name} (seedvault {vault_id} custodian)"))
        .generate()
        .map_err(pgp_err)?;
    Ok(SecretCert(cert))
}

/// A customer key for the demo and tests: Ed25519 primary with a Cv25519
/// encryption subkey, as `gpg --quick-gen-key ... future-default` makes,
/// and like GnuPG 2.2's keys it advertises SEIPDv1 only, so what the vault
/// encrypts to it opens in GnuPG 2.2. (The vault never uses such a key.)
pub fn generate_customer_key(user_id: &str) -> Result<SecretCert, KeyError> {
    let (cert, _revocation) = CertBuilder::general_purpose(Some(user_id))
        .set_profile(Profile::RFC4880)
        .map_err(pgp_err)?
        .set_features(openpgp::types::Features::empty().set_seipdv1())
        .map_err(pgp_err)?
        .set_cipher_suite(CipherSuite::Cv25519)
        .generate()
        .map_err(pgp_err)?;
    Ok(SecretCert(cert))
}

/// The transferable secret key, ASCII-armored (for `gpg --import`), in a
/// buffer allocated once and wiped when dropped.
pub fn secret_armored(key: &SecretCert) -> Result<Zeroizing<String>, KeyError> {
    let armored = key.0.as_tsk().armored();
    let mut bytes = serialize_wiped(&armored, SerializeInto::serialized_len(&armored))?;
    // The bytes move into the string, allocation and all (no copy); armor is
    // ASCII, so the error arm is only reached if sequoia breaks, and then
    // the bytes are wiped before they are dropped.
    String::from_utf8(std::mem::take(&mut *bytes))
        .map(Zeroizing::new)
        .map_err(|e| {
            drop(Zeroizing::new(e.into_bytes()));
            KeyError::OpenPgp("the armored key is not ASCII".into())
        })
}

/// Serializes `what` into a zeroizing buffer of `capacity` bytes allocated
/// up front, and returns it truncated to what was written.
///
/// The buffer is handed to sequoia as a fixed slice, so it cannot grow:
/// a serialization that needs more than `capacity` bytes fails with
/// [`KeyError::TooLarge`] and the partial output is wiped. (sequoia's own
/// `to_vec` would shrink its buffer to fit, a copy, and its
/// `serialize_into` falls back to a growing `Vec` when its size estimate
/// is short; neither is used here.)
fn serialize_wiped(what: &dyn Serialize, capacity: usize) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let mut out = Zeroizing::new(vec![0u8; capacity]);
    let mut sink = io::Cursor::new(&mut out[..]);
    if let Err(e) = Serialize::serialize(what, &mut sink) {
        let short = e
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::WriteZero);
        return Err(if short {
            KeyError::TooLarge { capacity }
        } else {
            pgp_err(e)
        });
    }
    let written = usize::try_from(sink.position()).unwrap_or(capacity);
    out.truncate(written);
    Ok(out)
}

/// Parses a public certificate (armored or binary).
pub fn parse_public_cert(bytes: &[u8]) -> Result<Cert, KeyError> {
    Cert::from_bytes(bytes).map_err(pgp_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_key_round_trips_and_is_v4() {
        let k = generate_vault_key("0123abcd").unwrap();
        assert_eq!(k.cert().primary_key().key().version(), 4);
        let bytes = k.to_secret_bytes().unwrap();
        let back = SecretCert::from_secret_bytes(&bytes).unwrap();
        assert_eq!(back.fingerprint(), k.fingerprint());
        assert!(k
            .public_armored()
            .unwrap()
            .starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
    }

    #[test]
    fn secret_bytes_are_written_into_one_buffer_of_the_announced_size() {
        let k = generate_vault_key("0123abcd").unwrap();
        let tsk = k.cert().as_tsk();
        let announced = SerializeInto::serialized_len(&tsk);
        let bytes = k.to_secret_bytes().unwrap();
        // The allocation made before writing is the one returned: it never
        // grew (capacity would exceed the announced size) nor moved to a
        // smaller copy (capacity would equal the length, which is less).
        assert_eq!(bytes.capacity(), announced);
        assert!(bytes.len() <= announced);
        assert_eq!(&bytes[..], &tsk.to_vec().unwrap()[..]);
    }

    #[test]
    fn a_key_larger_than_its_buffer_is_refused_not_copied_into_a_larger_one() {
        let k = generate_officer_key("alice", "0123abcd").unwrap();
        let tsk = k.cert().as_tsk();
        let needed = tsk.to_vec().unwrap().len();
        let e = serialize_wiped(&tsk, needed - 1).unwrap_err();
        assert!(
            matches!(e, KeyError::TooLarge { capacity } if capacity == needed - 1),
            "{e}"
        );
        // Exactly enough room is enough, and the buffer keeps its size.
        let bytes = serialize_wiped(&tsk, needed).unwrap();
        assert_eq!((bytes.len(), bytes.capacity()), (needed, needed));
    }

    #[test]
    fn armored_secret_key_keeps_its_first_allocation() {
        let k = generate_customer_key("Carol <carol@example.com>").unwrap();
        let armored = k.cert().as_tsk().armored();
        let announced = SerializeInto::serialized_len(&armored);
        let text = secret_armored(&k).unwrap();
        assert!(text.starts_with("-----BEGIN PGP PRIVATE KEY BLOCK-----"));
        assert_eq!(text.capacity(), announced);
        let back = openpgp::Cert::from_bytes(text.as_bytes()).unwrap();
        assert!(back.is_tsk());
        assert_eq!(back.fingerprint().to_hex(), k.fingerprint());
    }

    #[test]
    fn debug_hides_secrets() {
        let k = generate_officer_key("alice", "0123abcd").unwrap();
        let d = format!("{k:?}");
        assert!(d.contains("[REDACTED]") && d.contains(&k.fingerprint()));
    }
}
