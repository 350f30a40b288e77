//! Export bundles: seeds encrypted to the customer, signed by the vault.
//!
//! The message is what `gpg --encrypt --sign --armor` would make, minus
//! compression: armor( PKESK... SEIPD( OnePassSig Literal Signature ) ).
//! Seeds are high-entropy and small, so compression would buy nothing and
//! cost time on a 5 MB bundle. SEIPDv1 (CFB + MDC) is used unless every
//! recipient key advertises SEIPDv2, which GnuPG 2.2 keys never do.
//!
//! sequoia's writer stack requires a `Send + Sync` sink. A caller that has
//! one uses [`encrypt_and_sign_with`]; for a `&mut dyn Write`, which is
//! neither, [`encrypt_and_sign`] stages each chunk the stack emits in a
//! small shared buffer and drains it to the caller after every input chunk,
//! so memory stays bounded by the chunk size and sequoia's own buffers.

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};

use sequoia_openpgp as openpgp;

use openpgp::serialize::stream::{Armorer, Encryptor, LiteralWriter, Message, Recipient, Signer};
use openpgp::types::{HashAlgorithm, KeyFlags};
use zeroize::Zeroizing;

use super::sign::signing_keypair;
use super::{PgpError, RecipientCert, SecretCert, POLICY};

/// Plaintext is read in chunks of this size.
const CHUNK: usize = 64 * 1024;

/// Encrypts `plaintext` to every valid encryption-capable key of
/// `recipient` (transport and storage), signs it with `signer`'s signing
/// key, and writes the ASCII-armored message to `out` as it goes.
///
/// Recipient keys are chosen as of the time the certificate was checked
/// ([`RecipientCert::checked_at`]), so the keys used are the ones reported.
/// On error, `out` may hold a partial message; callers write to a
/// temporary file and rename it only on success.
pub fn encrypt_and_sign(
    recipient: &RecipientCert,
    signer: &SecretCert,
    plaintext: &mut dyn Read,
    out: &mut dyn Write,
) -> Result<(), PgpError> {
    let staged = Staging::default();
    let mut sink = staged.clone();
    encrypt_and_sign_with(recipient, signer, &mut sink, Framing::Armored, |message| {
        // Holds seed plaintext: wiped on drop.
        let mut buf = Zeroizing::new(vec![0u8; CHUNK]);
        loop {
            let n = match plaintext.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(PgpError::Io(e)),
            };
            message.write_all(&buf[..n]).map_err(PgpError::from_io)?;
            staged.drain_to(out)?;
        }
    })?;
    staged.drain_to(out)?;
    out.flush()?;
    Ok(())
}

/// How [`encrypt_and_sign_with`] hands the message on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// ASCII armor (`-----BEGIN PGP MESSAGE-----`), as customers receive it.
    Armored,
    /// The binary message, for [`armor_message`] to armor on another
    /// thread: armoring is about a third of the work, and sequoia hands
    /// its output on in bursts of 4 MiB, so armoring beside the
    /// encryption shortens the whole.
    Binary,
}

/// The ASCII-armored form (`PGP MESSAGE`) of the binary message whose
/// pieces `binary` yields in order, as sequoia's own armorer writes it
/// (the same writer [`Framing::Armored`] stacks on the message).
pub fn armor_message<P: AsRef<[u8]>>(
    binary: impl IntoIterator<Item = P>,
) -> Result<Vec<u8>, PgpError> {
    let mut w = openpgp::armor::Writer::new(Vec::new(), openpgp::armor::Kind::Message)
        .map_err(PgpError::Io)?;
    for piece in binary {
        w.write_all(piece.as_ref()).map_err(PgpError::Io)?;
    }
    w.finalize().map_err(PgpError::Io)
}

/// Like [`encrypt_and_sign`], for a producer that writes its plaintext:
/// `fill` is handed the message to write into, and the message goes to
/// `sink` as it is made, armored or binary as `framing` says. An error
/// from `fill` abandons the message (`sink` then holds a partial one, to
/// be discarded).
pub fn encrypt_and_sign_with<W, E>(
    recipient: &RecipientCert,
    signer: &SecretCert,
    sink: &mut W,
    framing: Framing,
    fill: impl FnOnce(&mut dyn Write) -> Result<(), E>,
) -> Result<(), E>
where
    W: Write + Send + Sync,
    E: From<PgpError>,
{
    let no_key = || PgpError::NoEncryptionKey {
        fingerprint: recipient.fingerprint(),
    };
    let keypair = signing_keypair(signer)?;
    let vc = recipient
        .cert()
        .with_policy(&POLICY, recipient.checked_at())
        .map_err(|_| no_key())?;
    let flags = KeyFlags::empty()
        .set_transport_encryption()
        .set_storage_encryption();
    // Exactly the keys the check reported as usable: sequoia's `supported()`
    // looks at the algorithm only, not at the curve of an ECDH key.
    let usable = recipient.encryption_subkey_fingerprints();
    let recipients: Vec<Recipient> = vc
        .keys()
        .supported()
        .alive()
        .revoked(false)
        .key_flags(flags)
        .filter(|ka| usable.contains(&ka.key().fingerprint().to_hex()))
        .map(Into::into)
        .collect();
    if recipients.is_empty() {
        return Err(no_key().into());
    }

    let mut message = Message::new(sink);
    if framing == Framing::Armored {
        message = Armorer::new(message).build().map_err(PgpError::openpgp)?;
    }
    let message = Encryptor::for_recipients(message, recipients)
        .build()
        .map_err(PgpError::openpgp)?;
    // SHA-256 rather than sequoia's default SHA-512: as strong for an
    // Ed25519 signature, and with the CPU's SHA extensions it hashes a
    // million-seed bundle several times faster.
    let message = Signer::new(message, keypair)
        .map_err(PgpError::openpgp)?
        .hash_algo(HashAlgorithm::SHA256)
        .map_err(PgpError::openpgp)?
        .build()
        .map_err(PgpError::openpgp)?;
    let mut message = LiteralWriter::new(message)
        .build()
        .map_err(PgpError::openpgp)?;
    fill(&mut message)?;
    message.finalize().map_err(PgpError::openpgp)?;
    Ok(())
}

/// A `Send + Sync` sink whose content is moved to the real output after
/// each chunk. Holds only ciphertext.
#[derive(Clone, Default)]
struct Staging(Arc<Mutex<Vec<u8>>>);

impl Staging {
    fn drain_to(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut buf = self.0.lock().map_err(|_| poisoned())?;
        out.write_all(&buf)?;
        buf.clear();
        Ok(())
    }
}

impl Write for Staging {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| poisoned())?
            .extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn poisoned() -> io::Error {
    io::Error::other("staging buffer lock poisoned")
}
