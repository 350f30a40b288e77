//! The verification policy shared by clearsigned, detached and encrypted
//! messages: exactly one expected signer, and a failure names why.

use sequoia_openpgp as openpgp;

use openpgp::parse::stream::{MessageLayer, MessageStructure, VerificationError};
use openpgp::{Cert, KeyHandle};

use super::PgpError;

/// What a message's layers showed, for [`judge`].
#[derive(Debug, Default)]
pub(crate) struct Seen {
    /// The message had an encryption layer.
    pub encrypted: bool,
}

/// Accepts the message if any signature in it is a good signature by
/// `expected`; otherwise returns the most telling reason.
pub(crate) fn judge(
    structure: MessageStructure<'_>,
    expected: &Cert,
) -> (Seen, Result<(), PgpError>) {
    let expected_fpr = expected.fingerprint();
    let mut seen = Seen::default();
    let mut any = false;
    let mut bad: Option<PgpError> = None;
    let mut rejected: Option<PgpError> = None;
    let mut issuers: Vec<KeyHandle> = Vec::new();

    for layer in structure.into_iter() {
        match layer {
            MessageLayer::Encryption { .. } => seen.encrypted = true,
            MessageLayer::Compression { .. } => {}
            MessageLayer::SignatureGroup { results } => {
                for r in results {
                    any = true;
                    match r {
                        Ok(good) => {
                            // An encryption layer always precedes the
                            // signatures, so `seen` is complete here.
                            if good.ka.cert().fingerprint() == expected_fpr {
                                return (seen, Ok(()));
                            }
                        }
                        Err(VerificationError::MissingKey { sig }) => {
                            issuers.extend(sig.get_issuers());
                        }
                        Err(VerificationError::BadSignature { ka, .. }) => {
                            bad = Some(PgpError::BadSignature {
                                fingerprint: ka.cert().fingerprint().to_hex(),
                            });
                        }
                        Err(e) => {
                            rejected = Some(PgpError::SignatureRejected(e.to_string()));
                        }
                    }
                }
            }
        }
    }
    let verdict = if let Some(b) = bad {
        Err(b)
    } else if let Some(r) = rejected {
        Err(r)
    } else if !issuers.is_empty() {
        Err(PgpError::UnknownSigner {
            issuers: name_issuers(&issuers),
            expected: expected_fpr.to_hex(),
        })
    } else if any {
        // Signatures without issuer information.
        Err(PgpError::UnknownSigner {
            issuers: "(not named in the signature)".into(),
            expected: expected_fpr.to_hex(),
        })
    } else {
        Err(PgpError::NoSignature)
    };
    (seen, verdict)
}

/// Names each issuer once: a fingerprint, or a key id when no fingerprint
/// of the same key was given.
fn name_issuers(issuers: &[KeyHandle]) -> String {
    let mut names: Vec<String> = Vec::new();
    for h in issuers {
        let better = match h {
            KeyHandle::KeyID(_) => issuers
                .iter()
                .any(|o| matches!(o, KeyHandle::Fingerprint(_)) && o.aliases(h)),
            _ => false,
        };
        let name = h.to_hex();
        if !better && !names.contains(&name) {
            names.push(name);
        }
    }
    names.join(", ")
}
