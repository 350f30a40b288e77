//! Where the vault meets its checkpoints and its auditors: signing a
//! checkpoint when an unsealed command or session ends, checking a saved
//! checkpoint against the log, and exporting the log.
//!
//! A checkpoint needs the vault key, so only an [`UnsealedVault`] makes
//! one; [`UnsealedVault::finish`] is the one way a command or session that
//! unsealed the vault should end.

use std::fs::{self, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde_json::json;

use super::{UnsealedVault, Vault, VaultError};
use crate::audit::{self, checkpoint, export, Checkpoint, CheckpointError};
use crate::pgp;

impl UnsealedVault {
    /// Signs a checkpoint of the log as it stands now and stores it (in
    /// the `checkpoints` table, outside the chain). If the latest stored
    /// checkpoint already covers the head, that one is returned.
    pub fn checkpoint(&mut self) -> Result<(Checkpoint, String), VaultError> {
        let key = self.vault_key()?;
        let id = self.vault().info().vault_id.to_string();
        self.vault_mut().store_mut().write(|tx| {
            let head = audit::head(tx)?;
            if let Some((cp, signed)) = checkpoint::latest(tx, &id)? {
                if cp.entries == head.count && cp.head == head.hash {
                    return Ok((cp, signed));
                }
            }
            let cp = Checkpoint::of(&id, &head);
            let signed = cp
                .sign(&key)
                .map_err(|e| VaultError::Crypto(format!("signing the checkpoint failed: {e}")))?;
            checkpoint::store(tx, &cp, &signed)?;
            Ok((cp, signed))
        })
    }

    /// Ends an unsealed command or session: signs and stores a checkpoint
    /// of the log, then seals (the keys are wiped). Every command or
    /// session that unsealed the vault ends here, whether its work
    /// succeeded or not, since the unseal itself was logged. It always
    /// seals; the checkpoint's result says whether one was written.
    pub fn finish(mut self) -> (Vault, Result<Checkpoint, VaultError>) {
        let cp = self.checkpoint().map(|(cp, _)| cp);
        (self.seal(), cp)
    }
}

/// Creates `path` for writing, refusing to replace an existing file.
fn create_new(path: &Path) -> Result<fs::File, VaultError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)
        .map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                VaultError::WouldOverwrite(path.to_owned())
            } else {
                VaultError::Io {
                    path: path.to_owned(),
                    source,
                }
            }
        })
}

impl Vault {
    /// The latest stored checkpoint (clearsigned text), if any.
    pub fn latest_checkpoint(&self) -> Result<Option<String>, VaultError> {
        let id = self.info().vault_id.to_string();
        Ok(checkpoint::latest(self.store().conn(), &id)?.map(|(_, s)| s))
    }

    /// Writes the latest checkpoint to a new file; `None` if there is none yet.
    pub fn save_checkpoint(&self, path: &Path) -> Result<Option<Checkpoint>, VaultError> {
        let id = self.info().vault_id.to_string();
        let Some((cp, signed)) = checkpoint::latest(self.store().conn(), &id)? else {
            return Ok(None);
        };
        let mut file = create_new(path)?;
        let io = |source| VaultError::Io {
            path: path.to_owned(),
            source,
        };
        if let Err(e) = file
            .write_all(signed.as_bytes())
            .and_then(|()| file.sync_all())
        {
            let _ = fs::remove_file(path);
            return Err(io(e));
        }
        Ok(Some(cp))
    }

    /// Checks a saved checkpoint: signed by this vault's key, about this
    /// vault, and extended by the log as it is now.
    pub fn verify_checkpoint(&self, signed: &str) -> Result<Checkpoint, CheckpointError> {
        let info = self.info();
        let cert = pgp::keys::parse_public_cert(&info.vault_cert).map_err(|e| {
            CheckpointError::NotSigned(format!("the vault's stored certificate is unreadable: {e}"))
        })?;
        let cp = Checkpoint::open(signed, &cert, &info.vault_id.to_string())?;
        cp.check_extended_by(self.store().conn())?;
        Ok(cp)
    }

    /// Writes the log to a new file `path` as JSON Lines (docs/audit-log.md):
    /// a header with what a verifier needs, then every entry's stored
    /// bytes. Returns the number of entries. A partial file is removed.
    pub fn export_audit(&self, path: &Path) -> Result<u64, VaultError> {
        let header = self.export_header()?;
        let file = create_new(path)?;
        let io = |source| VaultError::Io {
            path: path.to_owned(),
            source,
        };
        let result = (|| {
            let mut w = BufWriter::new(file);
            let n =
                export::write_jsonl(self.store().conn(), &header, &mut w).map_err(|e| match e {
                    export::ExportError::Io(e) => io(e),
                    export::ExportError::Audit(a) => a.into(),
                })?;
            w.flush().map_err(io)?;
            w.into_inner()
                .map_err(|e| io(e.into_error()))?
                .sync_all()
                .map_err(io)?;
            Ok(n)
        })();
        if result.is_err() {
            let _ = fs::remove_file(path);
        }
        result
    }

    /// The export's first record: vault id and certificate, and the
    /// officers' certificates as the genesis entry recorded them.
    fn export_header(&self) -> Result<serde_json::Value, VaultError> {
        let conn = self.store().conn();
        let genesis: Vec<u8> = conn
            .query_row("SELECT body FROM audit WHERE seq = 1", [], |r| r.get(0))
            .map_err(|_| VaultError::Tampered("the log has no readable genesis entry".into()))?;
        let genesis: serde_json::Value = serde_json::from_slice(&genesis)
            .map_err(|_| VaultError::Tampered("the genesis entry is not valid JSON".into()))?;
        let armor = |b64: &str| -> Result<String, VaultError> {
            let bytes = data_encoding::BASE64.decode(b64.as_bytes()).map_err(|_| {
                VaultError::Tampered("a certificate in the genesis entry is not base64".into())
            })?;
            let cert = pgp::keys::parse_public_cert(&bytes).map_err(|e| {
                VaultError::Tampered(format!(
                    "a certificate in the genesis entry is unreadable: {e}"
                ))
            })?;
            use sequoia_openpgp::serialize::SerializeInto;
            let a = cert
                .armored()
                .to_vec()
                .map_err(|e| VaultError::Crypto(e.to_string()))?;
            String::from_utf8(a).map_err(|e| VaultError::Crypto(e.to_string()))
        };
        let mut officers = Vec::new();
        for c in genesis["data"]["custodians"]
            .as_array()
            .into_iter()
            .flatten()
        {
            officers.push(json!({
                "name": c["name"],
                "member_index": c["member_index"],
                "fingerprint": c["officer_fingerprint"],
                "cert": armor(c["officer_cert"].as_str().unwrap_or_default())?,
            }));
        }
        let head = audit::head(conn)?;
        let info = self.info();
        let fpr = pgp::keys::parse_public_cert(&info.vault_cert)
            .map(|c| c.fingerprint().to_hex())
            .unwrap_or_default();
        Ok(json!({
            "format": export::FORMAT,
            "version": export::VERSION,
            "vault_id": info.vault_id.to_string(),
            "vault_fingerprint": fpr,
            "vault_cert": self.vault_cert_armored()?,
            "officers": officers,
            "entries": head.count,
            "head": head.hash_hex(),
        }))
    }
}
