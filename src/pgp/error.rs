//! The one error type of the OpenPGP layer.
//!
//! Each variant names what went wrong in words an officer can act on; the
//! binary adds the advice. No variant ever carries plaintext or secret key
//! material, only fingerprints, key ids and sequoia's own diagnostics.

/// Failures of encrypting, signing, verifying and decrypting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgpError {
    /// The signing certificate holds no usable, unencrypted secret signing
    /// key (none at all, expired, revoked, or rejected by the policy).
    #[error("the key {fingerprint} has no usable secret signing key")]
    NoSigningKey {
        /// Primary fingerprint of the would-be signer.
        fingerprint: String,
    },
    /// The recipient has no encryption-capable key valid at the time it
    /// was checked. [`crate::pgp::RecipientCert::parse`] refuses such keys,
    /// so this only shows a bug or a certificate changed since.
    #[error("the recipient key {fingerprint} has no valid encryption-capable key")]
    NoEncryptionKey {
        /// Primary fingerprint of the recipient.
        fingerprint: String,
    },
    /// Reading the input or writing the output failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// sequoia failed to build or parse a message.
    #[error("OpenPGP error: {0}")]
    OpenPgp(String),
    /// The text given for verification is not a cleartext-signed message
    /// (no `-----BEGIN PGP SIGNED MESSAGE-----` line).
    #[error("this is not a clearsigned message (no \"-----BEGIN PGP SIGNED MESSAGE-----\" line)")]
    NotClearsigned,
    /// The message or detached signature carries no signature at all.
    #[error("the message is not signed")]
    NoSignature,
    /// A signature by the expected key does not match the data: the data
    /// or the signature was altered.
    #[error(
        "bad signature by {fingerprint}: the signed data was altered or the signature is damaged"
    )]
    BadSignature {
        /// Fingerprint of the key whose signature failed.
        fingerprint: String,
    },
    /// The data is signed, but by some other key than the expected one.
    #[error("signed by an unknown key {issuers}, not by the expected key {expected}")]
    UnknownSigner {
        /// Issuer key ids or fingerprints named in the signatures found.
        issuers: String,
        /// Primary fingerprint of the key that should have signed.
        expected: String,
    },
    /// A signature by the expected key exists but cannot be accepted:
    /// the key was not valid for signing at signature time, the signature
    /// is malformed, or the policy rejects its algorithms.
    #[error("the signature cannot be accepted: {0}")]
    SignatureRejected(String),
    /// A batch that should be encrypted to the vault is not encrypted.
    #[error("the message is not encrypted; factory batches must be encrypted to the vault key")]
    NotEncrypted,
    /// The message is encrypted, but not to the vault's key.
    #[error("the message is not encrypted to the vault key {vault}; it is for {recipients}")]
    NotForThisKey {
        /// Primary fingerprint of the vault key.
        vault: String,
        /// Recipient key ids named in the message.
        recipients: String,
    },
    /// The input is not a well-formed OpenPGP message.
    #[error("malformed OpenPGP message: {0}")]
    Malformed(String),
}

impl PgpError {
    /// A copy of this error, for handing one verdict to two callers (an
    /// I/O error is copied as its kind and message).
    pub(crate) fn duplicate(&self) -> PgpError {
        use PgpError::*;
        match self {
            NoSigningKey { fingerprint } => NoSigningKey {
                fingerprint: fingerprint.clone(),
            },
            NoEncryptionKey { fingerprint } => NoEncryptionKey {
                fingerprint: fingerprint.clone(),
            },
            Io(e) => Io(std::io::Error::new(e.kind(), e.to_string())),
            OpenPgp(s) => OpenPgp(s.clone()),
            NotClearsigned => NotClearsigned,
            NoSignature => NoSignature,
            BadSignature { fingerprint } => BadSignature {
                fingerprint: fingerprint.clone(),
            },
            UnknownSigner { issuers, expected } => UnknownSigner {
                issuers: issuers.clone(),
                expected: expected.clone(),
            },
            SignatureRejected(s) => SignatureRejected(s.clone()),
            NotEncrypted => NotEncrypted,
            NotForThisKey { vault, recipients } => NotForThisKey {
                vault: vault.clone(),
                recipients: recipients.clone(),
            },
            Malformed(s) => Malformed(s.clone()),
        }
    }

    /// Wraps a sequoia error, keeping its whole cause chain in the message.
    pub(crate) fn openpgp(e: anyhow::Error) -> Self {
        match e.downcast::<PgpError>() {
            Ok(p) => p,
            Err(e) => match e.downcast::<std::io::Error>() {
                Ok(io) => Self::from_io(io),
                Err(e) => PgpError::OpenPgp(format!("{e:#}")),
            },
        }
    }

    /// Recovers a `PgpError` that travelled through an `io::Error` (sequoia's
    /// readers wrap the verification helper's errors that way, and anyhow
    /// hands over the original error object when boxed).
    pub(crate) fn from_io(e: std::io::Error) -> Self {
        let ours = e
            .get_ref()
            .map(|r| r.is::<PgpError>() || r.is::<sequoia_openpgp::Error>())
            .unwrap_or(false);
        if !ours {
            return PgpError::Io(e);
        }
        let kind = e.kind();
        match e.into_inner() {
            Some(inner) => match inner.downcast::<PgpError>() {
                Ok(p) => *p,
                Err(inner) => match inner.downcast::<sequoia_openpgp::Error>() {
                    Ok(o) => PgpError::OpenPgp(o.to_string()),
                    Err(other) => PgpError::Io(std::io::Error::new(kind, other)),
                },
            },
            None => PgpError::Io(std::io::Error::from(kind)),
        }
    }
}
