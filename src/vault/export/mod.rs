//! Export: the approved serials' seeds, encrypted to the customer, onto
//! removable media.
//!
//! The order of events is what makes an export auditable and safe to
//! interrupt: everything is checked first (approval, expiry, serials,
//! medium); `export.started` is committed before any byte reaches the
//! medium; files are written under temporary names, fsynced, renamed and
//! read back; only then does one transaction log `export.completed` and
//! mark the serials exported. A failure removes what this run wrote and
//! logs `export.failed`; a kill leaves `export.started` alone in the log,
//! which `status` reports as an export that never completed.

use super::crash::point as crash_point;
use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use serde_json::json;

use super::clock::unix_now;
use super::{ApprovedRequest, RequestStateKind, UnsealedVault, VaultError};
use crate::audit::{self, events, Event};
use crate::pgp;
use bundle::manifest_text;
pub(crate) use media::{check_media, check_room, partial_of};
use media::{free_space, io_err, write_both};
pub(crate) use runs::unfinished;
use runs::{close_interrupted, interrupted_of, lock_path, run_lock};

mod bundle;
mod media;
mod runs;

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportOutcome {
    /// The request.
    pub request_id: String,
    /// The encrypted, signed bundle.
    pub bundle: PathBuf,
    /// The clearsigned manifest.
    pub manifest: PathBuf,
    /// SHA-256 of the bundle file.
    pub bundle_sha256: String,
    /// Serials exported.
    pub serials: usize,
    /// Recipient fingerprint.
    pub recipient_fingerprint: String,
}

/// Room asked for on the medium besides the bundle: the manifest (a few
/// KiB) with a wide margin.
const MANIFEST_ALLOWANCE: u64 = 64 * 1024;

/// What an export would do, checked and measured with nothing written
/// ([`UnsealedVault::export_plan`]): what the officers confirm.
#[derive(Debug, Clone, Serialize)]
pub struct ExportPlan {
    /// The request.
    pub request_id: String,
    /// Its order.
    pub order_id: String,
    /// Who asked.
    pub requester: String,
    /// The bundle's format.
    pub format: String,
    /// Serials to export.
    pub serials: usize,
    /// The recipient's primary key fingerprint (as the officers signed it).
    pub recipient_fingerprint: String,
    /// The encryption subkeys the bundle will be encrypted to.
    pub encryption_subkeys: Vec<String>,
    /// The recipient's user ids.
    pub user_ids: Vec<String>,
    /// Officer who created the request.
    pub created_by: String,
    /// Officer who approved it.
    pub approved_by: String,
    /// When the approval ends (unix seconds).
    pub expires_at: i64,
    /// The bundle file that will be written.
    pub bundle: PathBuf,
    /// The manifest file that will be written.
    pub manifest: PathBuf,
    /// Size of the bundle as made now, in bytes (the export makes it again,
    /// with a fresh session key: the same size within a few bytes).
    pub bundle_bytes: u64,
    /// Room the export asks of the medium.
    pub need_bytes: u64,
    /// Room on the medium now.
    pub free_bytes: u64,
}

/// Where an export is ([`UnsealedVault::export_with`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExportStep {
    /// Checking the approval and opening and encrypting the seeds.
    Sealing {
        /// Serials in the bundle.
        serials: usize,
    },
    /// Writing a file to the medium.
    Writing(PathBuf),
    /// Reading a written file back from the medium and comparing it.
    ReadingBack(PathBuf),
    /// Recording the completed export in the log.
    Recording,
}

/// What is ready before `export.started`: checked, sealed, in memory.
struct Prepared {
    bundle: PathBuf,
    manifest: PathBuf,
    armored: Vec<u8>,
    vault_key: pgp::SecretCert,
}

impl UnsealedVault {
    /// Exports an approved, unexpired request onto `media`.
    ///
    /// Nothing is taken from the request's row on trust: the export runs
    /// on the [`ApprovedRequest`] that [`Vault::approved_request`] builds
    /// from the officers' verified statements. Tampering found before the
    /// first byte is written refuses the export (exit 3) and is logged as
    /// `export.refused`.
    ///
    /// [`Vault::approved_request`]: super::Vault::approved_request
    pub fn export(&mut self, request_id: &str, media: &Path) -> Result<ExportOutcome, VaultError> {
        self.export_with(request_id, media, &|_| {})
    }

    /// [`UnsealedVault::export`], telling `progress` each step.
    pub fn export_with(
        &mut self,
        request_id: &str,
        media: &Path,
        progress: &dyn Fn(ExportStep),
    ) -> Result<ExportOutcome, VaultError> {
        let prepared = self
            .vault()
            .approved_request(request_id, unix_now())
            .and_then(|req| {
                progress(ExportStep::Sealing {
                    serials: req.serials().len(),
                });
                let p = self.prepare(&req, media)?;
                Ok((req, p))
            });
        match prepared {
            Ok((req, p)) => self.write_export(req, p, progress),
            Err(e) => {
                if e.is_tampering() {
                    self.log_export_refusal(request_id, &e);
                }
                Err(e)
            }
        }
    }

    /// Checks everything [`UnsealedVault::export`] checks before writing
    /// (the approval from the officers' statements and its expiry, every
    /// serial, the medium, files that would be overwritten, room) and
    /// makes the bundle in memory to measure it; writes nothing and keeps
    /// nothing. Refuses as the export would, with the same errors; a
    /// refusal for tampering is logged as the export logs it
    /// (`export.refused`), any other leaves no trace.
    pub fn export_plan(
        &mut self,
        request_id: &str,
        media: &Path,
    ) -> Result<ExportPlan, VaultError> {
        let planned = self
            .vault()
            .approved_request(request_id, unix_now())
            .and_then(|req| {
                let p = self.prepare(&req, media)?;
                let media = p
                    .bundle
                    .parent()
                    .map(Path::to_owned)
                    .unwrap_or_else(|| PathBuf::from("."));
                let bundle_bytes = p.armored.len() as u64;
                let recipient = req.recipient();
                Ok(ExportPlan {
                    request_id: req.id().to_owned(),
                    order_id: req.order_id().to_owned(),
                    requester: req.requester().to_owned(),
                    format: req.format().name().to_owned(),
                    serials: req.serials().len(),
                    recipient_fingerprint: recipient.fingerprint(),
                    encryption_subkeys: recipient.encryption_subkey_fingerprints(),
                    user_ids: recipient.user_ids(),
                    created_by: req.created_by().to_owned(),
                    approved_by: req.approved_by().to_owned(),
                    expires_at: req.expires_at(),
                    bundle_bytes,
                    need_bytes: bundle_bytes + MANIFEST_ALLOWANCE,
                    free_bytes: free_space(&media)?,
                    bundle: p.bundle,
                    manifest: p.manifest,
                })
            });
        if let Err(e) = &planned {
            if e.is_tampering() {
                self.log_export_refusal(request_id, e);
            }
        }
        planned
    }

    /// Logs that the export of `request_id` was refused before it started
    /// (nothing reached the medium), with the reason. Best effort: the
    /// refusal itself is what the officer must see.
    fn log_export_refusal(&mut self, request_id: &str, e: &VaultError) {
        let mut reason = e.to_string();
        if reason.len() > 2000 {
            let mut cut = 2000;
            while !reason.is_char_boundary(cut) {
                cut -= 1;
            }
            reason.truncate(cut);
        }
        let actors = self.officer_names();
        let _ = self.vault_mut().log(&Event {
            kind: events::EXPORT_REFUSED,
            actors,
            data: json!({ "request_id": request_id, "reason": reason }),
        });
    }

    /// Checks the medium and makes the bundle in memory; writes nothing.
    fn prepare(&self, req: &ApprovedRequest, media: &Path) -> Result<Prepared, VaultError> {
        let format = req.format();
        let media = check_media(media, self.vault().dir())?;
        let stem = format!("{}-{}", req.order_id(), req.id());
        let bundle = media.join(format!("{stem}.{}.asc", format.extension()));
        let manifest = media.join(format!("{stem}.manifest.asc"));
        // Files of this request's own killed run (an export that started
        // and never completed) are replaced once the new run has started.
        let interrupted =
            !interrupted_of(self.vault().store().conn(), self.vault().dir(), req.id(), 0)?
                .is_empty();
        for p in [&bundle, &manifest] {
            for q in [p.clone(), partial_of(&media, p)] {
                if q.exists() && !interrupted {
                    return Err(VaultError::WouldOverwrite(q));
                }
            }
        }
        // A destroyed seed is gone for good (d1): say so, not "missing".
        let destroyed =
            super::destroy::destroyed_problems(self.vault().store().conn(), req.serials())?;
        if !destroyed.is_empty() {
            return Err(VaultError::ExportRefused {
                id: req.id().to_owned(),
                problems: destroyed.into_iter().map(|(_, m)| m).collect(),
            });
        }
        let vault_key = self.vault_key()?;
        // Every serial is checked again now (voids or other exports may have
        // happened since approval) while the bundle is made, in memory: no
        // byte reaches the medium before `export.started` is logged.
        // The bundle holds exactly the signed serials: the reader walks
        // that list, and any of them it cannot deliver refuses the export.
        let armored = self.seal_bundle(req, &vault_key)?;
        check_room(&media, armored.len() as u64 + MANIFEST_ALLOWANCE)?;
        Ok(Prepared {
            bundle,
            manifest,
            armored,
            vault_key,
        })
    }

    fn write_export(
        &mut self,
        mut req: ApprovedRequest,
        p: Prepared,
        progress: &dyn Fn(ExportStep),
    ) -> Result<ExportOutcome, VaultError> {
        let request_id = req.id().to_owned();
        let format = req.format();
        let recipient_fpr = req.recipient().fingerprint();
        let Prepared {
            bundle,
            manifest,
            armored,
            vault_key,
        } = p;
        let serial_count = req.serials().len();
        let media = bundle
            .parent()
            .map(Path::to_owned)
            .unwrap_or_else(|| PathBuf::from("."));
        let info = self.vault().info().clone();
        let vid = info.vault_id.to_string();
        let officers = self.officer_names();
        let file_name = |p: &Path| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let bundle_name = file_name(&bundle);
        let manifest_name = file_name(&manifest);

        pause_point("export-before-start");
        // export.started: committed before any byte reaches the medium, and
        // only while the request is still approved and not exported by
        // another run (checked inside the transaction; a lost race is
        // refused with nothing logged).
        let vault_dir = self.vault().dir().to_owned();
        // The run lock, taken inside the transaction, with its file: if the
        // transaction then fails (a full disk at its commit), the file is
        // removed while the lock is still held (a run that reads the same
        // id meanwhile finds it taken), so that a refused start leaves the
        // vault directory as it was.
        let mut lock_made: Option<(PathBuf, fs::File)> = None;
        let started = self.vault_mut().store_mut().write(|tx| {
            let state: Option<String> = tx
                .query_row("SELECT state FROM requests WHERE id = ?1", [&request_id], |r| r.get(0))
                .optional()?;
            let state = state.map(|s| RequestStateKind::parse(&s));
            let done: i64 = tx.query_row(
                "SELECT count(*) FROM exports WHERE request_id = ?1 AND state = 'completed'",
                [&request_id],
                |r| r.get(0),
            )?;
            if state != Some(Some(RequestStateKind::Approved)) || done > 0 {
                return Err(VaultError::RequestChanged {
                    id: request_id.clone(),
                    what: format!(
                        "was exported or changed by another run meanwhile (it is {}); nothing was written",
                        match state {
                            None => "gone".to_owned(),
                            Some(None) => "in an unknown state".to_owned(),
                            Some(Some(k)) => k.to_string(),
                        }
                    ),
                });
            }
            tx.execute(
                "INSERT INTO exports (request_id, state, started_at, bundle_path, manifest_path) VALUES (?1, 'started', ?2, ?3, ?4)",
                params![request_id, audit::now_rfc3339(), bundle.display().to_string(), manifest.display().to_string()],
            )?;
            let export_id = tx.last_insert_rowid();
            // Held until this run ends, taken before its row is visible to
            // any other run: a run whose lock is free was killed.
            let run_lock = run_lock(&vault_dir, export_id)?.ok_or_else(|| VaultError::Io {
                path: lock_path(&vault_dir, export_id),
                source: std::io::ErrorKind::WouldBlock.into(),
            })?;
            lock_made = Some((lock_path(&vault_dir, export_id), run_lock));
            let interrupted = interrupted_of(tx, &vault_dir, &request_id, export_id)?;
            for old in &interrupted {
                close_interrupted(tx, &vid, &officers, *old, &request_id, export_id)?;
            }
            audit::append(
                tx,
                &vid,
                &Event {
                    kind: events::EXPORT_STARTED,
                    actors: officers.clone(),
                    data: json!({
                        "export_id": export_id,
                        "request_id": request_id,
                        "order_id": req.order_id(),
                        "recipient_fingerprint": recipient_fpr,
                        "format": format.name(),
                        "serials": serial_count,
                        "bundle": bundle_name,
                        "manifest": manifest_name,
                    }),
                },
            )?;
            crash_point("export-start-before-commit");
            Ok::<_, VaultError>((export_id, interrupted))
        });
        let (export_id, closed) = match started {
            Ok(started) => started,
            Err(e) => {
                if let Some((path, lock)) = lock_made {
                    let _ = fs::remove_file(path);
                    drop(lock);
                }
                return Err(e);
            }
        };
        // Held until this function returns.
        let _run_lock = lock_made;

        crash_point("export-started");
        // What a killed run of this request left on this medium: only its
        // own names, ciphertext only; its export is closed as failed above.
        for id in &closed {
            let _ = fs::remove_file(lock_path(&vault_dir, *id));
        }
        for p in [&bundle, &manifest]
            .into_iter()
            .filter(|_| !closed.is_empty())
        {
            for q in [partial_of(&media, p), p.clone()] {
                match fs::remove_file(&q) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(io_err(&q)(e))
                    }
                    _ => {}
                }
            }
        }
        let mut written = Vec::new();
        let mut result = (|| -> Result<String, VaultError> {
            let bundle_sha = write_both(
                &media,
                (&bundle, &armored),
                &manifest,
                |sha| {
                    let text =
                        manifest_text(&info, &req, serial_count, &bundle_name, sha, &officers);
                    pgp::clearsign(&vault_key, &text).map_err(VaultError::Pgp)
                },
                &mut written,
                progress,
            )?;
            crash_point("export-files-written");
            Ok(bundle_sha)
        })();

        if let Ok(bundle_sha) = &result {
            progress(ExportStep::Recording);
            pause_point("export-before-complete");
            // The signed serials move into the entry's data rather than
            // being copied: the bundle is written, nothing else needs them.
            let mut data = json!({
                "export_id": export_id,
                "request_id": request_id,
                "bundle_sha256": bundle_sha,
            });
            data["serials"] = serde_json::Value::Array(
                req.take_serials()
                    .into_iter()
                    .map(serde_json::Value::String)
                    .collect(),
            );
            let completed = self.vault_mut().store_mut().write(|tx| {
                // The completed export row is what makes its serials exported
                // (view seed_exports). Only one export of an approval completes.
                let changed = tx.execute(
                    "UPDATE requests SET state = ?2 WHERE id = ?1 AND state = ?3",
                    params![
                        request_id,
                        RequestStateKind::Exported.as_str(),
                        RequestStateKind::Approved.as_str()
                    ],
                )?;
                let others: i64 = tx.query_row(
                    "SELECT count(*) FROM exports WHERE request_id = ?1 AND state = 'completed'",
                    [&request_id],
                    |r| r.get(0),
                )?;
                if changed != 1 || others > 0 {
                    return Err(VaultError::RequestChanged {
                        id: request_id.clone(),
                        what: "was exported by another run that completed first; what this run wrote is removed".into(),
                    });
                }
                tx.execute(
                    "UPDATE exports SET state = 'completed', finished_at = ?1, bundle_sha256 = ?2 WHERE id = ?3",
                    params![audit::now_rfc3339(), bundle_sha, export_id],
                )?;
                audit::append(
                    tx,
                    &vid,
                    &Event {
                        kind: events::EXPORT_COMPLETED,
                        actors: officers.clone(),
                        data,
                    },
                )?;
                crash_point("export-complete-before-commit");
                Ok::<_, VaultError>(())
            });
            if let Err(e) = completed {
                result = Err(e);
            }
        }

        let _ = fs::remove_file(lock_path(&vault_dir, export_id));
        match result {
            Ok(bundle_sha) => Ok(ExportOutcome {
                request_id,
                bundle,
                manifest,
                bundle_sha256: bundle_sha,
                serials: serial_count,
                recipient_fingerprint: recipient_fpr,
            }),
            Err(e) => {
                // Only what this run created: `written` lists a file once
                // this run has created it, never one that was there before.
                for p in written.iter().rev() {
                    let _ = fs::remove_file(p);
                }
                let _ = super::init::sync_dir(&media);
                let reason = e.to_string();
                let _ = self.vault_mut().store_mut().write(|tx| {
                    tx.execute(
                        "UPDATE exports SET state = 'failed', finished_at = ?1 WHERE id = ?2",
                        params![audit::now_rfc3339(), export_id],
                    )?;
                    audit::append(
                        tx,
                        &vid,
                        &Event {
                            kind: events::EXPORT_FAILED,
                            actors: officers.clone(),
                            data: json!({ "export_id": export_id, "request_id": request_id, "reason": reason }),
                        },
                    )?;
                    Ok::<_, VaultError>(())
                });
                Err(match e {
                    e @ (VaultError::Io { .. } | VaultError::ReadBackMismatch { .. }) => {
                        VaultError::MediumWriteFailed {
                            id: request_id,
                            source: Box::new(e),
                        }
                    }
                    other => other,
                })
            }
        }
    }
}

/// Test builds only: when `SEEDVAULT_TEST_PAUSE_AT` names this point,
/// creates the file `$SEEDVAULT_TEST_PAUSE_FILE.reached` and waits (at most
/// a minute) until `$SEEDVAULT_TEST_PAUSE_FILE` exists, so a test can run
/// a second command in between, as a second console would. Compiled out of
/// release builds.
pub(crate) fn pause_point(name: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("SEEDVAULT_TEST_PAUSE_AT").as_deref() == Ok(name) {
        if let Some(go) = std::env::var_os("SEEDVAULT_TEST_PAUSE_FILE").map(PathBuf::from) {
            let mut reached = go.clone().into_os_string();
            reached.push(".reached");
            let _ = fs::write(&reached, name);
            for _ in 0..1200 {
                if go.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
    }
    let _ = name;
}
