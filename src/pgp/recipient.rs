//! Customer certificates: checked once, trusted afterwards.
//!
//! The spec's promise is that a malformed key never produces an empty or
//! undecryptable bundle. So a certificate is only turned into a
//! [`RecipientCert`] after every check an export depends on has passed, and
//! when it fails, *every* reason is reported at once so the customer can fix
//! their key in one round trip instead of one problem per e-mail.
//!
//! Armor is checked by hand before sequoia sees the bytes: sequoia's armor
//! reader is lenient and would happily parse a key block whose END line (and
//! maybe more) was lost in a copy-paste, and a half key is exactly what must
//! not be accepted silently.

use std::fmt;
use std::time::SystemTime;

use sequoia_openpgp as openpgp;

use openpgp::cert::prelude::*;
use openpgp::crypto::mpi;
use openpgp::packet::key::{KeyParts, KeyRole};
use openpgp::packet::Key;
use openpgp::parse::Parse;
use openpgp::types::{Curve, KeyFlags, PublicKeyAlgorithm, RevocationStatus};
use openpgp::Cert;

use super::POLICY;

/// One reason a certificate cannot be used as an export recipient.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertProblem {
    /// The bytes are neither an armored nor a binary OpenPGP certificate.
    #[error("not a readable OpenPGP certificate: {0}")]
    Unparsable(String),
    /// The armor has a BEGIN line but no matching END line: the key was cut
    /// off (often a copy-paste that lost its last lines).
    #[error("the armored key is truncated: it has a \"-----BEGIN {0}-----\" line but no \"-----END {0}-----\" line")]
    TruncatedArmor(String),
    /// The input holds no certificate, or more than one.
    #[error("expected exactly one certificate, found {0}")]
    NotOneCertificate(usize),
    /// A transferable *secret* key was given instead of the public
    /// certificate.
    #[error("this is a secret (private) key, not a public certificate: the customer must send only the public key (gpg --export, never --export-secret-keys) and should consider this key compromised")]
    SecretKeyMaterial,
    /// The certificate has been revoked by its owner.
    #[error("the certificate is revoked{0}")]
    Revoked(String),
    /// The certificate's primary key expired.
    #[error("the certificate expired on {0}")]
    Expired(String),
    /// The certificate's primary key was created after the check time.
    #[error("the certificate is not valid yet: it was created on {0}, in the future")]
    NotYetValid(String),
    /// No (sub)key is marked for encryption (e.g. a sign-only key).
    #[error("the certificate has no encryption-capable key (it can only sign or certify); the customer needs a key with an encryption subkey")]
    NoEncryptionKey,
    /// Keys are marked for encryption, but none can be used now.
    #[error("no encryption-capable key is usable: {0}")]
    EncryptionKeysUnusable(String),
    /// An RSA key shorter than 2048 bits.
    #[error("{role} {fingerprint} is RSA with only {bits} bits; at least 2048 bits are required")]
    WeakRsa {
        /// "the primary key" or "subkey".
        role: &'static str,
        /// Fingerprint of the weak key.
        fingerprint: String,
        /// Its modulus size.
        bits: usize,
    },
    /// A key lies on an elliptic curve the OpenPGP backend of this build
    /// cannot compute with (the pure-Rust backend has no brainpool curves):
    /// its signatures cannot be checked and nothing can be encrypted to it.
    #[error("curve {curve} is not supported ({role} {fingerprint} uses it); supported are {supported}; the customer needs a key of one of these kinds")]
    UnsupportedCurve {
        /// The curve's name, e.g. `brainpoolP256r1`.
        curve: String,
        /// "the primary key" or "encryption subkey".
        role: &'static str,
        /// Fingerprint of the key on that curve.
        fingerprint: String,
        /// What this build supports, in words.
        supported: String,
    },
    /// sequoia's StandardPolicy refuses the certificate or one of its keys
    /// (weak hash such as SHA-1 in a binding signature, weak algorithm...).
    #[error("refused by the OpenPGP policy: {0}")]
    PolicyRejected(String),
}

/// A customer's certificate that passed every check at `checked_at`: one
/// public certificate, not revoked, not expired, with at least one valid
/// encryption-capable key accepted by the standard policy.
#[derive(Clone)]
pub struct RecipientCert {
    cert: Cert,
    checked_at: SystemTime,
    encryption_keys: Vec<String>,
}

impl fmt::Debug for RecipientCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecipientCert({})", self.fingerprint())
    }
}

impl RecipientCert {
    /// Checks a customer's key (armored or binary) as of `now` and refuses
    /// it with every problem found.
    pub fn parse(bytes: &[u8], now: SystemTime) -> Result<RecipientCert, Vec<CertProblem>> {
        if let Some(p) = armor_problem(bytes) {
            return Err(vec![p]);
        }
        let cert = parse_one(bytes).map_err(|p| vec![p])?;
        let mut problems = Vec::new();

        if cert.is_tsk() {
            problems.push(CertProblem::SecretKeyMaterial);
        }
        weak_rsa(&cert, &mut problems);

        let created = cert.primary_key().key().creation_time();
        let primary_curve = unsupported_curve(cert.primary_key().key());
        let encryption_keys = match cert.with_policy(&POLICY, now) {
            // No signature of a key on an unsupported curve can be checked,
            // so sequoia's complaint ("No binding signature at time ...")
            // would hide the one thing the customer must change.
            _ if primary_curve.is_some() => {
                if let Some(curve) = primary_curve {
                    problems.push(curve_problem(
                        curve,
                        "the primary key",
                        cert.fingerprint().to_hex(),
                    ));
                }
                Vec::new()
            }
            // Before its creation a key has no valid binding; say that
            // rather than a policy complaint.
            Err(_) if created > now => {
                problems.push(CertProblem::NotYetValid(super::fmt_time(created)));
                Vec::new()
            }
            Err(e) => {
                problems.push(CertProblem::PolicyRejected(format!(
                    "primary key {}: {e:#}",
                    cert.fingerprint()
                )));
                Vec::new()
            }
            Ok(vc) => check_valid(&vc, now, &mut problems),
        };

        if problems.is_empty() {
            Ok(RecipientCert {
                cert,
                checked_at: now,
                encryption_keys,
            })
        } else {
            Err(problems)
        }
    }

    /// Upper-case hex fingerprint of the primary key.
    pub fn fingerprint(&self) -> String {
        self.cert.fingerprint().to_hex()
    }

    /// Fingerprints (upper-case hex) of the keys an export is encrypted to.
    pub fn encryption_subkey_fingerprints(&self) -> Vec<String> {
        self.encryption_keys.clone()
    }

    /// The certificate's user ids valid at check time (e.g.
    /// `Customer <c@example.com>`), lossily decoded as UTF-8.
    pub fn user_ids(&self) -> Vec<String> {
        match self.cert.with_policy(&POLICY, self.checked_at) {
            Ok(vc) => vc
                .userids()
                .map(|u| String::from_utf8_lossy(u.userid().value()).into_owned())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Whether one of the valid user ids carries the e-mail address
    /// `email` (compared without regard to case; a user id `Name <addr>`
    /// carries `addr`, a bare user id is compared whole).
    pub fn names_email(&self, email: &str) -> bool {
        let want = email.trim();
        self.user_ids().iter().any(|u| {
            let addr = match (u.rfind('<'), u.rfind('>')) {
                (Some(a), Some(b)) if a < b => &u[a + 1..b],
                _ => u.as_str(),
            };
            addr.trim().eq_ignore_ascii_case(want)
        })
    }

    /// The checked certificate.
    pub fn cert(&self) -> &Cert {
        &self.cert
    }

    /// The time the certificate was checked at; encryption keys are chosen
    /// as of this time.
    pub fn checked_at(&self) -> SystemTime {
        self.checked_at
    }
}

/// Refuses armor without a matching END line before sequoia sees it. Every
/// BEGIN line (wherever it is, e.g. after the text of an e-mail) needs its
/// END line after it.
fn armor_problem(bytes: &[u8]) -> Option<CertProblem> {
    let text = String::from_utf8_lossy(bytes);
    let mut rest: &str = &text;
    while let Some(at) = rest.find("-----BEGIN ") {
        let after = &rest[at + "-----BEGIN ".len()..];
        let label = match after.find("-----") {
            Some(end) => after[..end].trim().to_string(),
            None => {
                return Some(CertProblem::TruncatedArmor(
                    after.lines().next().unwrap_or("").trim().to_string(),
                ))
            }
        };
        let end_line = format!("-----END {label}-----");
        match after.find(&end_line) {
            Some(end) => rest = &after[end + end_line.len()..],
            None => return Some(CertProblem::TruncatedArmor(label)),
        }
    }
    None
}

fn parse_one(bytes: &[u8]) -> Result<Cert, CertProblem> {
    let unparsable = |e: anyhow::Error| {
        let eof = e
            .downcast_ref::<std::io::Error>()
            .map(|io| io.kind() == std::io::ErrorKind::UnexpectedEof)
            .unwrap_or(false);
        if eof {
            CertProblem::Unparsable(format!("the data is not OpenPGP, or it is cut short ({e})"))
        } else {
            CertProblem::Unparsable(format!("{e:#}"))
        }
    };
    let parser = CertParser::from_bytes(bytes).map_err(unparsable)?;
    let mut certs = Vec::new();
    for c in parser {
        certs.push(c.map_err(unparsable)?);
    }
    if certs.len() != 1 {
        return Err(CertProblem::NotOneCertificate(certs.len()));
    }
    certs.pop().ok_or(CertProblem::NotOneCertificate(0))
}

/// The curve of an elliptic-curve key when this build cannot use it.
pub(crate) fn unsupported_curve<P: KeyParts, R: KeyRole>(key: &Key<P, R>) -> Option<Curve> {
    let curve = match key.mpis() {
        mpi::PublicKey::ECDSA { curve, .. }
        | mpi::PublicKey::EdDSA { curve, .. }
        | mpi::PublicKey::ECDH { curve, .. } => curve,
        _ => return None,
    };
    (!curve.is_supported()).then(|| curve.clone())
}

/// What a customer key may be, for this build's OpenPGP backend, in words:
/// RSA of 2048 bits or more and every supported curve GnuPG 2.2 makes.
pub fn supported_key_kinds() -> String {
    let mut kinds = vec!["RSA (2048 bits or more)".to_string()];
    for c in [
        Curve::Cv25519,
        Curve::NistP256,
        Curve::NistP384,
        Curve::NistP521,
        Curve::BrainpoolP256,
        Curve::BrainpoolP384,
        Curve::BrainpoolP512,
    ] {
        if c.is_supported() {
            kinds.push(match c {
                Curve::Cv25519 => "Curve25519 (cv25519/ed25519)".to_string(),
                other => other.to_string(),
            });
        }
    }
    kinds.join(", ")
}

fn curve_problem(curve: Curve, role: &'static str, fingerprint: String) -> CertProblem {
    CertProblem::UnsupportedCurve {
        curve: curve.to_string(),
        role,
        fingerprint,
        supported: supported_key_kinds(),
    }
}

fn weak_rsa(cert: &Cert, problems: &mut Vec<CertProblem>) {
    for ka in cert.keys() {
        let key = ka.key();
        #[allow(deprecated)] // RSAEncrypt and RSASign still occur in old keys.
        let rsa = matches!(
            key.pk_algo(),
            PublicKeyAlgorithm::RSAEncryptSign
                | PublicKeyAlgorithm::RSAEncrypt
                | PublicKeyAlgorithm::RSASign
        );
        if let (true, Some(bits)) = (rsa, key.mpis().bits()) {
            if bits < 2048 {
                problems.push(CertProblem::WeakRsa {
                    role: if ka.primary() {
                        "the primary key"
                    } else {
                        "subkey"
                    },
                    fingerprint: key.fingerprint().to_hex(),
                    bits,
                });
            }
        }
    }
}

/// Revocation, expiry and encryption capability of a policy-valid cert;
/// returns the usable encryption keys.
fn check_valid(
    vc: &ValidCert<'_>,
    now: SystemTime,
    problems: &mut Vec<CertProblem>,
) -> Vec<String> {
    let mut cert_dead = false;
    if let RevocationStatus::Revoked(sigs) = vc.revocation_status() {
        cert_dead = true;
        let reason = sigs
            .first()
            .and_then(|s| s.reason_for_revocation())
            .map(|(code, msg)| {
                let msg = String::from_utf8_lossy(msg);
                let msg = msg.trim();
                if msg.is_empty() {
                    format!(" (reason: {code})")
                } else {
                    format!(" (reason: {code}: \"{msg}\")")
                }
            })
            .unwrap_or_default();
        problems.push(CertProblem::Revoked(reason));
    }
    let primary = vc.primary_key();
    if primary.key().creation_time() > now {
        cert_dead = true;
        problems.push(CertProblem::NotYetValid(super::fmt_time(
            primary.key().creation_time(),
        )));
    } else if let Some(t) = primary.key_expiration_time() {
        if t <= now {
            cert_dead = true;
            problems.push(CertProblem::Expired(super::fmt_time(t)));
        }
    }

    let flags = KeyFlags::empty()
        .set_transport_encryption()
        .set_storage_encryption();
    let candidates: Vec<_> = vc.keys().key_flags(flags).collect();
    let mut usable = Vec::new();
    let mut why_not = Vec::new();
    let mut bad_curves = Vec::new();
    for ka in &candidates {
        let fpr = ka.key().fingerprint().to_hex();
        if let Some(curve) = unsupported_curve(ka.key()) {
            bad_curves.push(curve_problem(curve, "encryption subkey", fpr));
        } else if !ka.key().pk_algo().is_supported() {
            why_not.push(format!(
                "{fpr} uses the unsupported algorithm {}",
                ka.key().pk_algo()
            ));
        } else if let RevocationStatus::Revoked(_) = ka.revocation_status() {
            why_not.push(format!("{fpr} is revoked"));
        } else if ka.alive().is_err() {
            match ka.key_expiration_time() {
                Some(t) if t <= now => {
                    why_not.push(format!("{fpr} expired on {}", super::fmt_time(t)))
                }
                _ => why_not.push(format!("{fpr} is not live at the check time")),
            }
        } else {
            usable.push(fpr);
        }
    }
    if candidates.is_empty() {
        // Subkeys the policy dropped do not show up in `vc.keys()`: say why
        // they were dropped, since that is what the customer must fix.
        let mut rejected = false;
        for ka in vc.cert().keys().subkeys() {
            if let Err(e) = ka.clone().with_policy(&POLICY, now) {
                let for_enc = ka
                    .self_signatures()
                    .next()
                    .and_then(|s| s.key_flags())
                    .map(|f| f.for_transport_encryption() || f.for_storage_encryption())
                    .unwrap_or(false);
                if for_enc {
                    rejected = true;
                    problems.push(CertProblem::PolicyRejected(format!(
                        "encryption subkey {}: {e:#}",
                        ka.key().fingerprint()
                    )));
                }
            }
        }
        if !rejected {
            problems.push(CertProblem::NoEncryptionKey);
        }
    } else if usable.is_empty() && !cert_dead {
        // A key on an unsupported curve is only a problem when nothing
        // else can be encrypted to; then it is the one to name.
        problems.append(&mut bad_curves);
        if !why_not.is_empty() {
            problems.push(CertProblem::EncryptionKeysUnusable(why_not.join("; ")));
        }
    }
    usable
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn armor_needs_its_end_line() {
        let ok = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxx\n-----END PGP PUBLIC KEY BLOCK-----\n";
        assert_eq!(armor_problem(ok.as_bytes()), None);
        let mail = format!("Hi, here is my key:\n\n{ok}\nRegards\n");
        assert_eq!(armor_problem(mail.as_bytes()), None);
        let cut = format!("Hi:\n{}", &ok[..50]);
        assert_eq!(
            armor_problem(cut.as_bytes()),
            Some(CertProblem::TruncatedArmor("PGP PUBLIC KEY BLOCK".into()))
        );
        let two = format!("{ok}{}", &ok[..60]);
        assert!(armor_problem(two.as_bytes()).is_some());
        assert_eq!(armor_problem(b"\x99\x01\x0d\x04binary"), None);
    }

    #[test]
    fn our_own_vault_cert_is_a_valid_recipient() {
        let vault = crate::pgp::generate_vault_key("0123abcd").unwrap();
        let rc = RecipientCert::parse(
            vault.public_armored().unwrap().as_bytes(),
            SystemTime::now(),
        )
        .unwrap();
        assert_eq!(rc.fingerprint(), vault.fingerprint());
        assert_eq!(rc.encryption_subkey_fingerprints().len(), 1);
        // The officer key signs only.
        let officer = crate::pgp::generate_officer_key("alice", "0123abcd").unwrap();
        let p =
            RecipientCert::parse(&officer.public_bytes().unwrap(), SystemTime::now()).unwrap_err();
        assert_eq!(p, vec![CertProblem::NoEncryptionKey]);
        // The secret key is refused, with the reason.
        let p =
            RecipientCert::parse(&vault.to_secret_bytes().unwrap(), SystemTime::now()).unwrap_err();
        assert_eq!(p, vec![CertProblem::SecretKeyMaterial]);
    }
}
