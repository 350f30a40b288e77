//! Signatures a person checks with stock tools: clearsigned manifests and
//! checkpoints (`gpg --verify` reads them as they are), and detached
//! signatures over approvals made with officers' card keys.
//!
//! Verification takes exactly one expected certificate. A signature by any
//! other key is an [`PgpError::UnknownSigner`], not a success: "signed by
//! someone" is worthless for a two-person rule.

use std::io::Write;

use sequoia_openpgp as openpgp;

use openpgp::crypto::KeyPair;
use openpgp::parse::stream::{
    DetachedVerifierBuilder, MessageStructure, VerificationHelper, VerifierBuilder,
};
use openpgp::parse::Parse;
use openpgp::serialize::stream::{Armorer, Message, Signer};
use openpgp::{Cert, KeyHandle};

use super::{verify, PgpError, SecretCert, POLICY};

/// The signer's first usable signing key, ready to sign now.
pub(crate) fn signing_keypair(signer: &SecretCert) -> Result<KeyPair, PgpError> {
    let no_key = || PgpError::NoSigningKey {
        fingerprint: signer.fingerprint(),
    };
    let vc = signer
        .cert()
        .with_policy(&POLICY, None)
        .map_err(|_| no_key())?;
    let ka = vc
        .keys()
        .unencrypted_secret()
        .supported()
        .alive()
        .revoked(false)
        .for_signing()
        .next()
        .ok_or_else(no_key)?;
    ka.key().clone().into_keypair().map_err(|_| no_key())
}

/// Clearsigns `text` (Cleartext Signature Framework), as `gpg --clearsign`
/// does. Trailing spaces and tabs on each line are not signed by the
/// framework and are dropped; a final newline is added if missing.
pub fn clearsign(signer: &SecretCert, text: &str) -> Result<String, PgpError> {
    let keypair = signing_keypair(signer)?;
    let mut sink = Vec::new();
    {
        let message = Message::new(&mut sink);
        // `cleartext()` makes the signature a text signature itself.
        let mut message = Signer::new(message, keypair)
            .map_err(PgpError::openpgp)?
            .cleartext()
            .build()
            .map_err(PgpError::openpgp)?;
        message.write_all(text.as_bytes())?;
        message.finalize().map_err(PgpError::openpgp)?;
    }
    String::from_utf8(sink).map_err(|e| PgpError::OpenPgp(e.to_string()))
}

/// Checks a clearsigned message against `cert` and returns the signed
/// text as the framework defines it: without trailing whitespace on lines,
/// and without the line ending that precedes the signature. (So text
/// clearsigned here comes back exactly, `clearsign` keeps a final newline by
/// emitting an extra line ending; text from `gpg --clearsign` comes back
/// without its final newline.)
pub fn verify_clearsigned(signed: &str, cert: &Cert) -> Result<String, PgpError> {
    let head = signed.trim_start_matches('\u{feff}').trim_start();
    if !head.starts_with("-----BEGIN PGP SIGNED MESSAGE-----") {
        return Err(PgpError::NotClearsigned);
    }
    let helper = OneSigner {
        cert,
        verdict: None,
    };
    let mut verifier = VerifierBuilder::from_bytes(signed.as_bytes())
        .map_err(malformed)?
        .with_policy(&POLICY, None, helper)
        .map_err(malformed)?;
    let mut text = Vec::new();
    if let Err(e) = std::io::copy(&mut verifier, &mut text) {
        // Past sequoia's buffer the verdict arrives as an opaque io::Error;
        // the helper kept the original.
        return Err(verifier
            .helper_mut()
            .verdict
            .take()
            .unwrap_or_else(|| malformed(e.into())));
    }
    String::from_utf8(text).map_err(|_| PgpError::Malformed("the signed text is not UTF-8".into()))
}

/// Makes an armored detached signature over `data` (binary signature
/// type, as `gpg --detach-sign --armor` does).
pub fn sign_detached(signer: &SecretCert, data: &[u8]) -> Result<String, PgpError> {
    let keypair = signing_keypair(signer)?;
    let mut sink = Vec::new();
    {
        let message = Message::new(&mut sink);
        let message = Armorer::new(message)
            .kind(openpgp::armor::Kind::Signature)
            .build()
            .map_err(PgpError::openpgp)?;
        let mut message = Signer::new(message, keypair)
            .map_err(PgpError::openpgp)?
            .detached()
            .build()
            .map_err(PgpError::openpgp)?;
        message.write_all(data)?;
        message.finalize().map_err(PgpError::openpgp)?;
    }
    String::from_utf8(sink).map_err(|e| PgpError::OpenPgp(e.to_string()))
}

/// Checks a detached signature (armored or binary) over `data` by `cert`.
pub fn verify_detached(cert: &Cert, data: &[u8], signature: &[u8]) -> Result<(), PgpError> {
    let helper = OneSigner {
        cert,
        verdict: None,
    };
    let mut verifier = DetachedVerifierBuilder::from_bytes(signature)
        .map_err(malformed)?
        .with_policy(&POLICY, None, helper)
        .map_err(malformed)?;
    verifier.verify_bytes(data).map_err(malformed)
}

/// For inputs held in memory, every failure that is not a verdict of the
/// verification policy is a malformed message (an `UnexpectedEof` from
/// sequoia means "not a complete OpenPGP message", not a failing disk).
fn malformed(e: anyhow::Error) -> PgpError {
    match PgpError::openpgp(e) {
        PgpError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => PgpError::Malformed(
            format!("not an OpenPGP signature, or it is cut short ({e})"),
        ),
        PgpError::Io(e) => PgpError::Malformed(e.to_string()),
        PgpError::OpenPgp(s) => PgpError::Malformed(s),
        verdict => verdict,
    }
}

/// Hands the one expected certificate to sequoia and judges the result.
struct OneSigner<'c> {
    cert: &'c Cert,
    verdict: Option<PgpError>,
}

impl VerificationHelper for OneSigner<'_> {
    fn get_certs(&mut self, _ids: &[KeyHandle]) -> openpgp::Result<Vec<Cert>> {
        Ok(vec![self.cert.clone()])
    }

    fn check(&mut self, structure: MessageStructure) -> openpgp::Result<()> {
        let (_, verdict) = verify::judge(structure, self.cert);
        verdict.map_err(|e| {
            self.verdict = Some(e.duplicate());
            e.into()
        })
    }
}
