//! The bundle: the seeds formatted, encrypted to the customer and signed
//! by the vault, in wiped chunks through three threads; and the manifest.

use std::io::Write;

use zeroize::Zeroizing;

use crate::audit;
use crate::formats::{self, FormatError, WriteOptions};
use crate::pgp;
use crate::vault::export_reader::SeedBatch;
use crate::vault::{ApprovedRequest, UnsealedVault, VaultError, VaultInfo};

/// Bytes in one chunk from the formatter to the encryptor, and from the
/// encryptor to the armorer.
pub(super) const TEXT_CHUNK: usize = 64 * 1024;

/// The formatter's output: the bundle's plaintext in wiped chunks of
/// [`TEXT_CHUNK`] bytes, each sent to the encryptor when full. A chunk
/// never grows (growing would leave a copy of seeds in freed memory). The
/// encryptor sends its binary message to the armorer the same way.
struct ChunkSink {
    buf: Zeroizing<Vec<u8>>,
    to: std::sync::mpsc::SyncSender<Zeroizing<Vec<u8>>>,
}

impl ChunkSink {
    fn new(to: std::sync::mpsc::SyncSender<Zeroizing<Vec<u8>>>) -> Self {
        ChunkSink {
            buf: Zeroizing::new(Vec::with_capacity(TEXT_CHUNK)),
            to,
        }
    }

    /// Sends the last, partly filled chunk. (A failed send means the
    /// encryptor stopped; its error is the one reported.)
    fn send_rest(self) {
        if !self.buf.is_empty() {
            let _ = self.to.send(self.buf);
        }
    }
}

impl Write for ChunkSink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() == TEXT_CHUNK {
            let full = std::mem::replace(
                &mut self.buf,
                Zeroizing::new(Vec::with_capacity(TEXT_CHUNK)),
            );
            self.to
                .send(full)
                .map_err(|_| std::io::Error::other("the next stage of the bundle stopped"))?;
        }
        let n = data.len().min(TEXT_CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Why a bundle could not be made.
enum BundleError {
    Pgp(pgp::PgpError),
    Format(FormatError),
    Vault(VaultError),
}

impl From<VaultError> for BundleError {
    fn from(e: VaultError) -> Self {
        BundleError::Vault(e)
    }
}

impl From<pgp::PgpError> for BundleError {
    fn from(e: pgp::PgpError) -> Self {
        BundleError::Pgp(e)
    }
}

impl UnsealedVault {
    /// Makes the armored, encrypted and signed bundle of a request's
    /// signed serials in memory.
    ///
    /// Sealed seeds are read on this thread (it owns the database
    /// connection) and handed in batches to a second one that opens and
    /// formats them into wiped chunks of text, which a third encrypts,
    /// signs and armors: the three parts of the work overlap on the
    /// machine's cores, and the plaintext never exists whole: only the
    /// token being formatted, the chunks in the channel and the format
    /// writer's wiped buffer (the batches hold ciphertext; the reader may
    /// run up to 64 of them ahead, as the others work in bursts). Any
    /// problem with a serial refuses the export, naming every one.
    pub(super) fn seal_bundle(
        &self,
        req: &ApprovedRequest,
        vault_key: &pgp::SecretCert,
    ) -> Result<Vec<u8>, VaultError> {
        let (request_id, format, recipient) = (req.id(), req.format(), req.recipient());
        // The UPN mapping whose hash the officers signed (checked by
        // `approved_request`); only the azure-csv writer uses it.
        let write_options = WriteOptions {
            upns: req.upns().map(|m| m.as_map().clone()),
            ..WriteOptions::default()
        };
        let (to_formatter, batches) = std::sync::mpsc::sync_channel::<SeedBatch>(64);
        let (to_encryptor, texts) = std::sync::mpsc::sync_channel::<Zeroizing<Vec<u8>>>(16);
        let (to_armorer, binary) = std::sync::mpsc::sync_channel::<Zeroizing<Vec<u8>>>(256);
        let (opened, formatted, sealed) = std::thread::scope(|scope| {
            let formatter = scope.spawn(move || -> Result<(), BundleError> {
                let mut sink = ChunkSink::new(to_encryptor);
                let mut file = formats::Writer::new(format, &mut sink, &write_options)
                    .map_err(BundleError::Format)?;
                for batch in batches {
                    batch.each_token(|token| file.push(token).map_err(BundleError::Format))?;
                }
                file.finish().map_err(BundleError::Format)?;
                sink.send_rest();
                Ok(())
            });
            let encryptor = scope.spawn(move || {
                // Ciphertext: wiped like the text only because the chunk
                // type is shared.
                let mut sink = ChunkSink::new(to_armorer);
                let binary = pgp::Framing::Binary;
                pgp::encrypt_and_sign_with(recipient, vault_key, &mut sink, binary, |w| {
                    for text in texts {
                        w.write_all(&text)
                            .map_err(|e| BundleError::Pgp(pgp::PgpError::Io(e)))?;
                    }
                    Ok::<(), BundleError>(())
                })?;
                sink.send_rest();
                Ok::<(), BundleError>(())
            });
            // Ciphertext only, armored as it comes.
            let armorer = scope.spawn(move || pgp::armor_message(binary));
            let opened = self.open_request_tokens(
                req.serials(),
                req.order_id(),
                req.reexport_reason().is_some(),
                &mut |batch| to_formatter.send(batch).is_ok(),
            );
            drop(to_formatter);
            let formatted = formatter.join();
            // The armor of a message the encryptor gave up on is not used.
            let sealed = match (encryptor.join(), armorer.join()) {
                (Ok(Ok(())), Ok(armored)) => Ok(armored.map_err(BundleError::Pgp)),
                (Ok(Err(e)), _) => Ok(Err(e)),
                (Err(p), _) | (_, Err(p)) => Err(p),
            };
            (opened, formatted, sealed)
        });
        // The formatter's own failure comes first: the encryptor then saw
        // a text cut short and sealed it without complaint.
        let sealed = match formatted {
            Ok(Ok(())) => sealed,
            Ok(Err(e)) => Ok(Err(e)),
            Err(p) => Err(p),
        };
        let mut problems = opened?;
        // A seed that does not open is tampering, found where the seeds are
        // opened (the formatter's thread): it comes before the request's
        // other problems, as when the reader opened the seeds itself.
        if let Ok(Err(BundleError::Vault(_))) = &sealed {
            problems.clear();
        }
        if !problems.is_empty() {
            return Err(VaultError::ExportRefused {
                id: request_id.to_owned(),
                problems,
            });
        }
        match sealed {
            Ok(Ok(armored)) => Ok(armored),
            Ok(Err(BundleError::Format(e))) => Err(VaultError::Refused(format!(
                "cannot write the bundle as {format}: {e}"
            ))),
            Ok(Err(BundleError::Pgp(e))) => Err(VaultError::Refused(format!(
                "cannot encrypt the bundle: {e}"
            ))),
            Ok(Err(BundleError::Vault(e))) => Err(e),
            Err(_) => Err(VaultError::Crypto(
                "the bundle encryption thread panicked".into(),
            )),
        }
    }
}

/// The manifest's text. Every request field in it is the signed one.
pub(super) fn manifest_text(
    info: &VaultInfo,
    req: &ApprovedRequest,
    count: usize,
    bundle_name: &str,
    bundle_sha: &str,
    officers: &[String],
) -> String {
    let recipient = req.recipient();
    let mut t = String::from("seedvault export manifest v1\n");
    t += &format!("vault: {}\n", info.vault_id);
    if info.test_vault {
        t += "test-vault: yes (made with --insecure-fast-kdf; NOT FOR REAL SEEDS)\n";
    } else {
        t += "test-vault: no\n";
    }
    t += &format!(
        "request: {}\norder: {}\nrequester: {}\n",
        req.id(),
        req.order_id(),
        req.requester()
    );
    t += &format!("recipient: {}\n", recipient.fingerprint());
    t += &format!(
        "encryption-subkeys: {}\n",
        recipient.encryption_subkey_fingerprints().join(" ")
    );
    t += &format!("format: {}\nserials: {count}\n", req.format());
    t += &format!("bundle: {bundle_name}\nbundle-sha256: {bundle_sha}\n");
    t += &format!(
        "created-by: {}\napproved-by: {}\n",
        req.created_by(),
        req.approved_by()
    );
    // Signed free text holds no control character (statement v2), so it
    // cannot add a line here.
    if let Some(r) = req.reexport_reason() {
        t += &format!("reexport: {r}\n");
    }
    t += &format!(
        "exported-by: {}\nexported-at: {}\n",
        officers.join(", "),
        audit::now_rfc3339()
    );
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chunk_sink_sends_full_chunks_that_never_grew_and_then_the_rest() {
        let (to, from) = std::sync::mpsc::sync_channel(64);
        let mut sink = ChunkSink::new(to);
        let text: Vec<u8> = (0..(TEXT_CHUNK * 2 + 123))
            .map(|i| u8::try_from(i % 251).unwrap())
            .collect();
        // One write larger than a chunk, then small ones.
        sink.write_all(&text[..TEXT_CHUNK + 7]).unwrap();
        for piece in text[TEXT_CHUNK + 7..].chunks(1000) {
            sink.write_all(piece).unwrap();
        }
        sink.send_rest();
        let chunks: Vec<Zeroizing<Vec<u8>>> = from.iter().collect();
        assert_eq!(chunks.len(), 3);
        for c in &chunks[..2] {
            assert_eq!((c.len(), c.capacity()), (TEXT_CHUNK, TEXT_CHUNK));
        }
        let joined: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        assert_eq!(joined, text);
    }

    #[test]
    fn the_chunk_sink_fails_once_the_next_stage_is_gone() {
        let (to, from) = std::sync::mpsc::sync_channel(1);
        drop(from);
        let mut sink = ChunkSink::new(to);
        let err = sink.write_all(&vec![0u8; TEXT_CHUNK + 1]).unwrap_err();
        assert!(
            err.to_string().contains("next stage of the bundle stopped"),
            "{err}"
        );
    }
}
