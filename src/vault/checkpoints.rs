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
use crate::audit::{self, checkpoint, events, export, Checkpoint, CheckpointError, Event, Head};
use crate::pgp;

/// Most problems named in one refusal; `audit verify` lists them all.
const PROBLEMS_SHOWN: usize = 5;

/// What a quorum session does when the log is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokenLogPolicy {
    /// Refuse the session (the default).
    Refuse,
    /// Go on, for incident response (`--accept-broken-log`): the acceptance
    /// is logged and the session signs no checkpoint.
    Accept,
}

/// What the vault found when it checked its log before a quorum session:
/// the proof [`Vault::unseal_checked`] needs. Only this crate makes one.
#[derive(Debug, Clone)]
pub struct LogCheck {
    /// The head verified: chain intact from genesis, genesis matching the
    /// vault's tables, extending the highest known checkpoint. `None` when
    /// the log is broken.
    pub(crate) verified: Option<Head>,
    /// The highest checkpoint known (stored and signed, or recorded by an
    /// unseal entry).
    pub checkpoint: Option<Checkpoint>,
    /// Everything wrong; empty when the log is intact.
    pub problems: Vec<String>,
    /// Checked under [`BrokenLogPolicy::Accept`].
    pub(crate) policy: BrokenLogPolicy,
}

impl LogCheck {
    /// Whether the log is intact.
    pub fn is_intact(&self) -> bool {
        self.verified.is_some()
    }

    /// The problems, for a message (the first few).
    pub fn reason(&self) -> String {
        let mut r = self
            .problems
            .iter()
            .take(PROBLEMS_SHOWN)
            .cloned()
            .collect::<Vec<_>>()
            .join("; ");
        if self.problems.len() > PROBLEMS_SHOWN {
            r += &format!(
                "; and {} more problems",
                self.problems.len() - PROBLEMS_SHOWN
            );
        }
        r
    }

    /// The known checkpoint as the log records it in an unseal entry.
    pub(crate) fn checkpoint_json(&self) -> serde_json::Value {
        match &self.checkpoint {
            None => serde_json::Value::Null,
            Some(cp) => json!({ "entries": cp.entries, "head": cp.head_hex(), "time": cp.time }),
        }
    }
}

impl Vault {
    /// Checks the log as a quorum session needs it: the whole chain (as
    /// `audit verify` does; about 1.3 s per million entries), then the
    /// highest checkpoint known, from the `checkpoints` table (signature
    /// checked with the vault certificate of the genesis entry, which the
    /// chain covers, not the table's copy) or, should its row have been
    /// deleted, from the log's own unseal entries. The log must extend it.
    /// Problems are collected; `Err` only when the database cannot be
    /// read. (Edits to the vault's tables, as opposed to its log, are what
    /// `audit verify` and `audit replay` report, and each use of a record
    /// checks it: a card against its commitment, a request against its
    /// signatures.)
    pub fn check_log(&self, policy: BrokenLogPolicy) -> Result<LogCheck, VaultError> {
        let report = audit::verify_chain(self.store().conn(), &self.info().vault_id.to_string())?;
        let found = self.check_checkpoints(&report)?;
        let problems: Vec<String> = found
            .not_extended
            .into_iter()
            .chain(report.problems.iter().map(|p| p.to_string()))
            .chain(found.problems)
            .collect();
        Ok(LogCheck {
            verified: problems.is_empty().then_some(report.head),
            checkpoint: found.checkpoint,
            problems,
            policy,
        })
    }

    /// The stored and recorded checkpoints, and whether the log of
    /// `report` (a chain already walked: `audit verify` walks it once for
    /// both) extends the highest of them. The chain's own problems are
    /// not repeated here.
    pub(crate) fn check_checkpoints(
        &self,
        report: &audit::ChainReport,
    ) -> Result<CheckpointsFound, VaultError> {
        let id = self.info().vault_id.to_string();
        let conn = self.store().conn();
        let mut problems = Vec::new();
        let stored = match genesis_cert(conn) {
            Ok(cert) => checkpoint::stored(conn, &id, &cert)?,
            Err(e) => {
                problems.push(e);
                checkpoint::StoredCheckpoints::default()
            }
        };
        problems.extend(stored.problems);
        let recorded = report.recorded_checkpoint.clone().and_then(|(seq, r)| {
            let head: [u8; 32] = data_encoding::HEXLOWER
                .decode(r.head.as_bytes())
                .ok()?
                .try_into()
                .ok()?;
            Some((
                seq,
                Checkpoint {
                    vault_id: id.clone(),
                    entries: r.entries,
                    head,
                    time: r.time,
                },
            ))
        });
        let known = match (stored.highest, recorded) {
            (Some(s), Some((seq, r))) if r.entries > s.entries => Some((r, Some(seq))),
            (Some(s), Some((seq, r))) if r.entries == s.entries && r.head != s.head => {
                problems.push(format!(
                    "checkpoint {} says head {}, but entry {seq} recorded it as {} (the log or the checkpoints table was rewritten)",
                    s.entries,
                    s.head_hex(),
                    r.head_hex()
                ));
                Some((s, None))
            }
            (Some(s), _) => Some((s, None)),
            (None, Some((seq, r))) => Some((r, Some(seq))),
            (None, None) => None,
        };
        let mut not_extended = None;
        if let Some((cp, recorded_in)) = &known {
            if let Err(e) = cp.check_extended_by(conn) {
                let source = match recorded_in {
                    None => format!("signed {}", cp.time),
                    Some(seq) => format!(
                        "signed {}, recorded by entry {seq}; its row in the checkpoints table is gone",
                        cp.time
                    ),
                };
                not_extended = Some(format!(
                    "the log no longer extends checkpoint {} ({source}): {e}",
                    cp.entries
                ));
            }
        }
        Ok(CheckpointsFound {
            checkpoint: known.map(|(cp, _)| cp),
            not_extended,
            problems,
        })
    }
}

/// What [`Vault::check_checkpoints`] found beside the chain.
pub(crate) struct CheckpointsFound {
    /// The highest checkpoint known.
    pub(crate) checkpoint: Option<Checkpoint>,
    /// The log does not extend it: the first problem named.
    pub(crate) not_extended: Option<String>,
    /// Every other problem with the stored or recorded checkpoints.
    pub(crate) problems: Vec<String>,
}

impl UnsealedVault {
    /// Signs a checkpoint of the log as it stands now and stores it (in
    /// the `checkpoints` table, outside the chain), but only over a log
    /// that extends the head verified when the session began (checked now
    /// for the entries added since). If the latest stored checkpoint
    /// already covers the head, that one is returned. `Ok(None)`: the
    /// session went on over a broken log (`--accept-broken-log`) and signs
    /// nothing. A log changed behind the session is refused, and the
    /// refusal logged.
    pub fn checkpoint(&mut self) -> Result<Option<(Checkpoint, String)>, VaultError> {
        let Some(verified) = self.verified_head() else {
            return Ok(None);
        };
        let key = self.vault_key()?;
        let id = self.vault().info().vault_id.to_string();
        let cert = genesis_cert(self.vault().store().conn()).map_err(VaultError::Tampered)?;
        // The key opened under the master key is the real one; the genesis
        // certificate, which checked the stored checkpoints, must be its own.
        if key.cert().fingerprint() != cert.fingerprint() {
            return Err(VaultError::Tampered(format!(
                "the vault certificate {} of the genesis entry is not that of the vault's key {}: the log was rewritten from its genesis",
                cert.fingerprint().to_hex(),
                key.cert().fingerprint().to_hex()
            )));
        }
        let result = self.vault_mut().store_mut().write(|tx| {
            let report = audit::verify::verify_since(tx, &id, verified)?;
            if !report.problems.is_empty() {
                let reason = report
                    .problems
                    .iter()
                    .take(PROBLEMS_SHOWN)
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join("; ");
                return Ok(Err((report.head, reason)));
            }
            let head = report.head;
            if let Some((cp, signed)) = checkpoint::latest(tx, &id)? {
                if cp.entries == head.count && cp.head == head.hash {
                    return Ok(Ok((cp, signed)));
                }
            }
            let cp = Checkpoint::of(&id, &head);
            let signed = cp
                .sign(&key)
                .map_err(|e| VaultError::Crypto(format!("signing the checkpoint failed: {e}")))?;
            checkpoint::store(tx, &cp, &signed)?;
            super::crash::point("checkpoint-before-commit");
            Ok::<_, VaultError>(Ok((cp, signed)))
        })?;
        super::crash::point("checkpoint-committed");
        match result {
            Ok(done) => Ok(Some(done)),
            Err((head, reason)) => {
                let reason = format!(
                    "the log no longer extends the head this session verified (entry {}): {reason}",
                    verified.count
                );
                let purpose = self.purpose().to_owned();
                let names = self.officer_names();
                // The refusal is what matters; a log that cannot take its
                // entry must not hide it.
                let _ = self.vault_mut().log(&Event {
                    kind: events::CHECKPOINT_REFUSED,
                    actors: names,
                    data: json!({
                        "purpose": purpose,
                        "entries": head.count,
                        "head": head.hash_hex(),
                        "reason": reason,
                    }),
                });
                Err(VaultError::Tampered(format!(
                    "no checkpoint was signed: {reason}"
                )))
            }
        }
    }

    /// Ends an unsealed command or session: signs and stores a checkpoint
    /// of the log, then seals (the keys are wiped). Every command or
    /// session that unsealed the vault ends here, whether its work
    /// succeeded or not, since the unseal itself was logged. It always
    /// seals; the checkpoint's result says whether one was written
    /// (`Ok(None)`: the session accepted a broken log and signs none).
    pub fn finish(mut self) -> (Vault, Result<Option<Checkpoint>, VaultError>) {
        let cp = self.checkpoint().map(|o| o.map(|(cp, _)| cp));
        (self.seal(), cp)
    }
}

/// The vault certificate as the genesis entry recorded it.
fn genesis_cert(conn: &rusqlite::Connection) -> Result<sequoia_openpgp::Cert, String> {
    let bad = |why: &str| format!("the genesis entry's vault certificate {why}");
    let body = audit::genesis_body(conn)
        .ok()
        .flatten()
        .ok_or_else(|| bad("cannot be read (no genesis entry)"))?;
    let entry: serde_json::Value =
        serde_json::from_slice(&body).map_err(|_| bad("cannot be read (not JSON)"))?;
    let b64 = entry["data"]["vault_cert"]
        .as_str()
        .ok_or_else(|| bad("is missing"))?;
    let bytes = data_encoding::BASE64
        .decode(b64.as_bytes())
        .map_err(|_| bad("is not base64"))?;
    pgp::keys::parse_public_cert(&bytes).map_err(|e| bad(&format!("is unreadable: {e}")))
}

/// Creates `path` for writing, refusing to replace an existing file.
fn create_new(path: &Path) -> Result<fs::File, VaultError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)
        .map_err(|source| VaultError::creating(path, source))
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
        if path.exists() {
            return Err(VaultError::creating(
                path,
                std::io::ErrorKind::AlreadyExists.into(),
            ));
        }
        // Written whole under a hidden temporary name, then linked into
        // place (never over a file): a kill leaves no half-written
        // checkpoint, only a temporary the next run replaces.
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let tmp = path.with_file_name(format!(".{}.partial", name.unwrap_or_default()));
        let _ = fs::remove_file(&tmp);
        let mut file = create_new(&tmp)?;
        if let Err(e) = file
            .write_all(signed.as_bytes())
            .and_then(|()| file.sync_all())
        {
            let _ = fs::remove_file(&tmp);
            return Err(VaultError::Io {
                path: path.to_owned(),
                source: e,
            });
        }
        super::crash::point("checkpoint-file-written");
        let linked = fs::hard_link(&tmp, path).map_err(|source| VaultError::creating(path, source));
        let _ = fs::remove_file(&tmp);
        linked?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            super::init::sync_dir(dir)?;
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
        let genesis = audit::genesis_body(conn)
            .ok()
            .flatten()
            .ok_or_else(|| VaultError::Tampered("the log has no readable genesis entry".into()))?;
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
        // The officers of each later key epoch, as its vault.rekeyed entry
        // lists them: an auditor checks each signature against the
        // officers of its epoch (docs/audit-log.md).
        let mut epochs = Vec::new();
        for ep in super::rekey::epochs(conn)? {
            let entry = super::rekey::entry_at(conn, ep.audit_seq).map_err(VaultError::Tampered)?;
            let mut list = Vec::new();
            for c in entry["data"]["custodians"].as_array().into_iter().flatten() {
                list.push(json!({
                    "name": c["name"],
                    "member_index": c["member_index"],
                    "fingerprint": c["officer_fingerprint"],
                    "cert": armor(c["officer_cert"].as_str().unwrap_or_default())?,
                }));
            }
            epochs.push(json!({
                "key_version": ep.key_version,
                "rekey_id": ep.rekey_id,
                "from_entry": ep.audit_seq,
                "officers": list,
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
            "epochs": epochs,
            "entries": head.count,
            "head": head.hash_hex(),
        }))
    }
}
