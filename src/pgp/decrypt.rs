//! Factory batches arrive encrypted to the vault's Cv25519 subkey, e.g. from
//! `gpg --encrypt -r <vault fingerprint>`, possibly compressed and signed.
//!
//! Decryption streams. When a factory signer is required, the verdict on the
//! signature can only be known once the whole message has been read (the
//! signature packet trails the data). sequoia holds back the last 25 MiB of
//! plaintext until the verdict, so a batch smaller than that is verified
//! before the first byte comes out; a larger one yields data before its
//! signature is checked and fails at EOF. Ingest therefore must read to EOF
//! and commit nothing before the reader has returned `Ok(0)`: a failed
//! signature surfaces as a read error, at the latest at EOF.
//!
//! An OpenPGP message that is not encrypted (e.g. only signed) is refused:
//! a factory that wraps a batch in OpenPGP must encrypt it. (A plain,
//! non-OpenPGP batch file is a different matter: ingest accepts it unless
//! `--factory-cert` asks for a signature.)

use std::fmt;
use std::io::{self, Read};

use sequoia_openpgp as openpgp;

use openpgp::crypto::{KeyPair, SessionKey};
use openpgp::packet::{PKESK, SKESK};
use openpgp::parse::stream::{
    DecryptionHelper, Decryptor, DecryptorBuilder, MessageStructure, VerificationHelper,
};
use openpgp::parse::Parse;
use openpgp::types::SymmetricAlgorithm;
use openpgp::{Cert, KeyHandle};

use super::{verify, PgpError, SecretCert, POLICY};

/// Streaming plaintext of a factory batch. Errors are `io::Error`s whose
/// inner error is a [`PgpError`] (recover it with
/// `e.get_ref().and_then(|i| i.downcast_ref::<PgpError>())`), except errors
/// of the underlying input, which pass through unchanged.
pub struct BatchReader<'a>(Decryptor<'a, BatchHelper>);

impl fmt::Debug for BatchReader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BatchReader { .. }")
    }
}

impl Read for BatchReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            // sequoia hands the helper's error through `io::Error` in a
            // form that cannot be downcast; the helper kept the original.
            let verdict = self.0.helper_mut().verdict.take();
            match verdict.unwrap_or_else(|| PgpError::from_io(e)) {
                PgpError::Io(e) => e,
                other => io::Error::new(io::ErrorKind::InvalidData, other),
            }
        })
    }
}

/// Opens a batch encrypted to `vault_key`. With `required_signer`, the
/// batch must carry a good signature by that certificate, or reading fails
/// (at the latest at EOF; see the module documentation).
///
/// Errors found while parsing the head of the message (not OpenPGP, not
/// encrypted to the vault, and for batches under 25 MiB also the
/// signature verdict) are returned here.
pub fn decrypt_batch<'a>(
    vault_key: &SecretCert,
    input: Box<dyn Read + Send + Sync + 'a>,
    required_signer: Option<&Cert>,
) -> Result<BatchReader<'a>, PgpError> {
    let mut keys = Vec::new();
    if let Ok(vc) = vault_key.cert().with_policy(&POLICY, None) {
        for ka in vc
            .keys()
            .unencrypted_secret()
            .supported()
            .for_transport_encryption()
            .for_storage_encryption()
        {
            if let Ok(pair) = ka.key().clone().into_keypair() {
                keys.push(pair);
            }
        }
    }
    let helper = BatchHelper {
        vault: vault_key.fingerprint(),
        keys,
        signer: required_signer.cloned(),
        verdict: None,
    };
    let builder = DecryptorBuilder::from_reader(input).map_err(as_malformed)?;
    let decryptor = builder
        .with_policy(&POLICY, None, helper)
        .map_err(as_malformed)?;
    Ok(BatchReader(decryptor))
}

/// sequoia's parse failures, and an early EOF, mean the input is not a
/// (complete) OpenPGP message; other I/O errors are the input's own.
fn as_malformed(e: anyhow::Error) -> PgpError {
    match PgpError::openpgp(e) {
        PgpError::OpenPgp(s) => PgpError::Malformed(s),
        PgpError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => PgpError::Malformed(
            format!("the input ends early or is not an OpenPGP message ({e})"),
        ),
        other => other,
    }
}

/// Whether `head` (the first bytes of a file; 16 are plenty) starts an
/// OpenPGP message: the armor line `-----BEGIN PGP MESSAGE-----`, or a
/// binary packet that can open a message (PKESK, SKESK, one-pass
/// signature, signature, compressed, literal, marker, SEIPD, AEAD).
pub fn is_openpgp_message(head: &[u8]) -> bool {
    let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = text
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(text.len());
    if text[start..].starts_with(b"-----BEGIN PGP MESSAGE-----") {
        return true;
    }
    let Some((&first, rest)) = head.split_first() else {
        return false;
    };
    if first & 0x80 == 0 {
        return false;
    }
    let (tag, body) = if first & 0x40 != 0 {
        // New format: one length octet (or more) follows.
        let body = match rest.first() {
            Some(&l) if l < 192 => rest.get(1..),
            Some(&l) if l < 224 => rest.get(2..),
            Some(&255) => rest.get(5..),
            Some(_) => rest.get(1..), // partial body length
            None => None,
        };
        (first & 0x3f, body)
    } else {
        let len_octets = match first & 0x03 {
            0 => 1,
            1 => 2,
            2 => 4,
            _ => 0,
        };
        ((first >> 2) & 0x0f, rest.get(len_octets..))
    };
    let version = body.and_then(|b| b.first().copied());
    match tag {
        // PKESK: version 3 (v6 is RFC 9580).
        1 => matches!(version, None | Some(3) | Some(6)),
        // Signature, SKESK, one-pass signature.
        2 => matches!(version, None | Some(3) | Some(4) | Some(6)),
        3 => matches!(version, None | Some(4) | Some(6)),
        4 => matches!(version, None | Some(3) | Some(6)),
        // Compressed: algorithm 0..=3.
        8 => matches!(version, None | Some(0..=3)),
        // Marker: "PGP".
        10 => matches!(version, None | Some(b'P')),
        // Literal: format b, t, u, l, 1, m.
        11 => matches!(
            version,
            None | Some(b'b' | b't' | b'u' | b'l' | b'1' | b'm')
        ),
        // SEIPD v1/v2, AEAD (LibrePGP) v1.
        18 => matches!(version, None | Some(1) | Some(2)),
        20 => matches!(version, None | Some(1)),
        _ => false,
    }
}

/// The vault's decryption keys and the signer policy for one batch.
struct BatchHelper {
    vault: String,
    keys: Vec<KeyPair>,
    signer: Option<Cert>,
    /// The signature verdict, kept for [`BatchReader::read`].
    verdict: Option<PgpError>,
}

thread_local! {
    /// Set while this thread runs sequoia code whose panic is caught and
    /// refused as a malformed message (see [`BatchHelper`]'s `decrypt`).
    static CATCHING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether a panic now on this thread is one the library catches and turns
/// into an error (sequoia's, on a batch cut short): a front end's panic
/// hook stays quiet for it, since the refusal says what happened.
pub fn panic_is_caught() -> bool {
    CATCHING.with(std::cell::Cell::get)
}

impl BatchHelper {
    /// Records a refusal and returns it for sequoia.
    fn refuse(&mut self, e: PgpError) -> anyhow::Error {
        self.verdict = Some(e.duplicate());
        e.into()
    }
}

impl DecryptionHelper for BatchHelper {
    fn decrypt(
        &mut self,
        pkesks: &[PKESK],
        _skesks: &[SKESK],
        sym_algo: Option<SymmetricAlgorithm>,
        decrypt: &mut dyn FnMut(Option<SymmetricAlgorithm>, &SessionKey) -> bool,
    ) -> openpgp::Result<Option<Cert>> {
        for pkesk in pkesks {
            let handle = pkesk.recipient();
            for pair in &mut self.keys {
                let ours = match &handle {
                    None => true, // anonymous recipient: try every key
                    Some(h) => h.aliases(KeyHandle::from(pair.public().fingerprint())),
                };
                if !ours {
                    continue;
                }
                if let Some((algo, sk)) = pkesk.decrypt(pair, sym_algo) {
                    // sequoia-openpgp 2.4 panics (an `unwrap` in
                    // `PacketParser::decrypt`) when the encrypted data
                    // packet is too short for its own header and MDC: a
                    // batch cut short. Found by fuzzing; the input is
                    // fuzz/regressions/pgp_batch/. Refused as malformed.
                    CATCHING.with(|c| c.set(true));
                    let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        decrypt(algo, &sk)
                    }));
                    CATCHING.with(|c| c.set(false));
                    match opened {
                        Ok(true) => return Ok(None),
                        Ok(false) => {}
                        Err(_) => {
                            return Err(self.refuse(PgpError::Malformed(
                                "the encrypted data ends inside its own header: the message is cut short or damaged".into(),
                            )))
                        }
                    }
                }
            }
        }
        let recipients: Vec<String> = pkesks
            .iter()
            .map(|p| {
                p.recipient()
                    .map(|h| h.to_hex())
                    .unwrap_or_else(|| "an anonymous recipient".into())
            })
            .collect();
        let recipients = if recipients.is_empty() {
            "no public-key recipient (password-encrypted?)".to_string()
        } else {
            recipients.join(", ")
        };
        Err(PgpError::NotForThisKey {
            vault: self.vault.clone(),
            recipients,
        }
        .into())
    }
}

impl VerificationHelper for BatchHelper {
    fn get_certs(&mut self, _ids: &[KeyHandle]) -> openpgp::Result<Vec<Cert>> {
        Ok(self.signer.iter().cloned().collect())
    }

    fn check(&mut self, structure: MessageStructure) -> openpgp::Result<()> {
        let verdict = match &self.signer {
            Some(signer) => {
                let (seen, verdict) = verify::judge(structure, signer);
                if seen.encrypted {
                    verdict
                } else {
                    Err(PgpError::NotEncrypted)
                }
            }
            None => {
                let encrypted = structure
                    .iter()
                    .any(|l| matches!(l, openpgp::parse::stream::MessageLayer::Encryption { .. }));
                if encrypted {
                    Ok(())
                } else {
                    Err(PgpError::NotEncrypted)
                }
            }
        };
        verdict.map_err(|e| self.refuse(e))
    }
}

#[cfg(test)]
mod tests {
    use super::is_openpgp_message;

    #[test]
    fn tells_messages_from_seed_files() {
        assert!(is_openpgp_message(b"-----BEGIN PGP MESSAGE-----\n"));
        assert!(is_openpgp_message(b"\n  -----BEGIN PGP MESSAGE-----\n"));
        // New-format PKESK v3, old-format PKESK v3, compressed ZIP.
        assert!(is_openpgp_message(&[0xc1, 0x5e, 0x03, 0x11]));
        assert!(is_openpgp_message(&[0x84, 0x5e, 0x03, 0x11]));
        assert!(is_openpgp_message(&[0xa3, 0x01]));
        assert!(!is_openpgp_message(
            b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n"
        ));
        assert!(!is_openpgp_message(b"serial,secret\n"));
        assert!(!is_openpgp_message(b"\xEF\xBB\xBFupn,serial number"));
        assert!(!is_openpgp_message("Árvíztűrő".as_bytes()));
        assert!(!is_openpgp_message(b""));
    }
}
