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
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use serde_json::json;
use zeroize::Zeroizing;

use super::clock::unix_now;
use super::export_reader::SeedBatch;
use super::{ApprovedRequest, RequestStateKind, UnsealedVault, VaultError};
use crate::audit::{self, events, Event};
use crate::crypto;
use crate::formats::{self, FormatError, WriteOptions};
use crate::pgp;

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

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> VaultError + '_ {
    move |source| VaultError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Checks the medium: a writable directory outside the vault. Returns its
/// canonical path.
pub(crate) fn check_media(media: &Path, vault_dir: &Path) -> Result<PathBuf, VaultError> {
    if !media.is_dir() {
        return Err(VaultError::MediaMissing {
            path: media.to_owned(),
        });
    }
    let m = fs::canonicalize(media).map_err(io_err(media))?;
    let v = fs::canonicalize(vault_dir).map_err(io_err(vault_dir))?;
    if m.starts_with(&v) || v.starts_with(&m) {
        return Err(VaultError::MediaInsideVault {
            path: media.to_owned(),
        });
    }
    let probe = m.join(format!(".seedvault-probe-{}", std::process::id()));
    match OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(_) => {
            let _ = fs::remove_file(&probe);
        }
        Err(source) => {
            return Err(VaultError::MediaNotWritable {
                path: media.to_owned(),
                source,
            })
        }
    }
    Ok(m)
}

/// Checks that the medium has room for `need` bytes.
pub(crate) fn check_room(media: &Path, need: u64) -> Result<(), VaultError> {
    let free = free_space(media)?;
    if free < need {
        return Err(VaultError::MediaTooSmall {
            path: media.to_owned(),
            free,
            need,
        });
    }
    Ok(())
}

/// Bytes available on the medium to this user.
fn free_space(media: &Path) -> Result<u64, VaultError> {
    let st = rustix::fs::statvfs(media).map_err(|e| VaultError::Io {
        path: media.to_owned(),
        source: e.into(),
    })?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Creates the temporary file `final_path` is written under (never an
/// existing one) and records it in `written`: from then on it is this
/// run's to remove.
fn create_partial(
    dir: &Path,
    final_path: &Path,
    written: &mut Vec<PathBuf>,
) -> Result<(PathBuf, fs::File), VaultError> {
    let tmp = partial_of(dir, final_path);
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    written.push(tmp.clone());
    Ok((tmp, f))
}

/// Writes `bytes` into `f` and fsyncs it.
fn write_synced(f: &mut fs::File, bytes: &[u8], may_fault: bool) -> std::io::Result<()> {
    if may_fault && fault_point("media-full") {
        f.write_all(&bytes[..bytes.len() / 2])?;
        return Err(rustix::io::Errno::NOSPC.into());
    }
    f.write_all(bytes)?;
    f.sync_all()
}

/// Moves the partial `tmp` to `final_path` without ever replacing an
/// existing file: link, then unlink.
fn link_partial(
    tmp: &Path,
    final_path: &Path,
    written: &mut Vec<PathBuf>,
) -> Result<(), VaultError> {
    fs::hard_link(tmp, final_path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            VaultError::WouldOverwrite(final_path.to_owned())
        } else {
            VaultError::Io {
                path: final_path.to_owned(),
                source: e,
            }
        }
    })?;
    written.push(final_path.to_owned());
    fs::remove_file(tmp).map_err(io_err(tmp))?;
    // Gone: a file of that name appearing later is not this run's.
    written.retain(|p| p != tmp);
    Ok(())
}

/// Writes the bundle and its signed manifest onto the medium and returns
/// the bundle's SHA-256 (the manifest, made by `sign_manifest` from that
/// hash, vouches for it).
///
/// Both files are written under temporary names and fsynced, the bundle on
/// a second thread while this one hashes it and signs the manifest, so the
/// two syncs overlap with each other and with the signing. Only then are
/// both linked into place (never over an existing file) and the directory
/// fsynced, once for both. Then each is read back and compared byte for
/// byte; before that its pages are dropped from the page cache (they are
/// clean after the fsync), so on a medium that honours that the bytes
/// compared are the medium's, not the copy still in memory.
fn write_both(
    dir: &Path,
    (bundle, armored): (&Path, &[u8]),
    manifest: &Path,
    sign_manifest: impl FnOnce(&str) -> Result<String, VaultError>,
    written: &mut Vec<PathBuf>,
    progress: &dyn Fn(ExportStep),
) -> Result<String, VaultError> {
    progress(ExportStep::Writing(bundle.to_owned()));
    let (bundle_tmp, mut bundle_file) = create_partial(dir, bundle, written)?;
    let (bundle_wrote, signed) = std::thread::scope(|scope| {
        let writer = scope.spawn(move || write_synced(&mut bundle_file, armored, true));
        let signed = (|| {
            let sha = crypto::hex(&crypto::sha256(armored));
            let signed = sign_manifest(&sha)?;
            progress(ExportStep::Writing(manifest.to_owned()));
            let (tmp, mut f) = create_partial(dir, manifest, written)?;
            write_synced(&mut f, signed.as_bytes(), false).map_err(io_err(&tmp))?;
            Ok::<_, VaultError>((sha, tmp, signed))
        })();
        (writer.join(), signed)
    });
    // The bundle's failure first: it is the one a full medium meets.
    bundle_wrote
        .map_err(|_| VaultError::Crypto("the bundle writing thread panicked".into()))?
        .map_err(io_err(&bundle_tmp))?;
    let (sha, manifest_tmp, signed) = signed?;
    crash_point("export-partial-written");
    link_partial(&bundle_tmp, bundle, written)?;
    crash_point("export-bundle-written");
    link_partial(&manifest_tmp, manifest, written)?;
    super::init::sync_dir(dir)?;
    for (path, want) in [(bundle, armored), (manifest, signed.as_bytes())] {
        progress(ExportStep::ReadingBack(path.to_owned()));
        if !reads_back_as(path, want).map_err(io_err(path))? {
            return Err(VaultError::ReadBackMismatch {
                path: path.to_owned(),
            });
        }
    }
    Ok(sha)
}

/// Whether the file at `path` holds exactly `want`, read from the medium
/// where the kernel lets go of its cached copy.
fn reads_back_as(path: &Path, want: &[u8]) -> std::io::Result<bool> {
    use std::io::Read;
    let mut f = fs::File::open(path)?;
    // Advice only: where it is not followed, the read still checks the
    // length and the bytes the kernel holds.
    let _ = rustix::fs::fadvise(&f, 0, 0, rustix::fs::Advice::DontNeed);
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(at == want.len());
        }
        if want.get(at..at + n) != Some(&buf[..n]) {
            return Ok(false);
        }
        at += n;
    }
}

/// What is ready before `export.started`: checked, sealed, in memory.
struct Prepared {
    bundle: PathBuf,
    manifest: PathBuf,
    armored: Vec<u8>,
    vault_key: pgp::SecretCert,
}

/// The temporary name a file is written under before it is linked into place.
pub(crate) fn partial_of(dir: &Path, final_path: &Path) -> PathBuf {
    let name = final_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.join(format!(".{name}.partial"))
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

/// Bytes in one chunk from the formatter to the encryptor, and from the
/// encryptor to the armorer.
const TEXT_CHUNK: usize = 64 * 1024;

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
    fn seal_bundle(
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
fn manifest_text(
    info: &super::VaultInfo,
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

/// Test builds only: whether the test asked, with `SEEDVAULT_TEST_FAIL_AT`,
/// for the operation at this point to fail as a medium filling up or
/// vanishing mid-write would. Compiled out of release builds.
fn fault_point(name: &str) -> bool {
    #[cfg(debug_assertions)]
    if std::env::var("SEEDVAULT_TEST_FAIL_AT").as_deref() == Ok(name) {
        return true;
    }
    let _ = name;
    false
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

/// The lock file of export run `export_id`, in the vault directory.
fn lock_path(vault_dir: &Path, export_id: i64) -> PathBuf {
    vault_dir.join(format!(".export-{export_id}.lock"))
}

/// Takes the run lock of export `export_id` (an exclusive `flock`, which
/// the kernel releases when the process dies); `None` when a live run
/// holds it.
fn run_lock(vault_dir: &Path, export_id: i64) -> Result<Option<fs::File>, VaultError> {
    let path = lock_path(vault_dir, export_id);
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(io_err(&path))?;
    match rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(f)),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
        Err(e) => Err(VaultError::Io {
            path,
            source: e.into(),
        }),
    }
}

/// The exports of `request_id` (other than `except`) whose run was
/// killed: started in the table and in the log (the entry, not the bare
/// row, is what counts; the index only finds it), with no completion or
/// failure logged, and no live run holding their lock.
fn interrupted_of(
    conn: &rusqlite::Connection,
    vault_dir: &Path,
    request_id: &str,
    except: i64,
) -> Result<Vec<i64>, VaultError> {
    let mut st = conn.prepare_cached(
        "SELECT e.id FROM exports e
         WHERE e.request_id = ?1 AND e.state = 'started' AND e.id != ?2
           AND EXISTS (SELECT 1 FROM audit_index i JOIN audit a ON a.seq = i.seq
               WHERE i.key = 'request' AND i.value = e.request_id
                 AND json_extract(CAST(a.body AS TEXT), '$.event') = 'export.started'
                 AND json_extract(CAST(a.body AS TEXT), '$.data.export_id') = e.id
                 AND json_extract(CAST(a.body AS TEXT), '$.data.request_id') = e.request_id)
           AND NOT EXISTS (SELECT 1 FROM audit_index i JOIN audit a ON a.seq = i.seq
               WHERE i.key = 'request' AND i.value = e.request_id
                 AND json_extract(CAST(a.body AS TEXT), '$.event') IN ('export.completed', 'export.failed')
                 AND json_extract(CAST(a.body AS TEXT), '$.data.export_id') = e.id)
         ORDER BY e.id",
    )?;
    let started = st
        .query_map(params![request_id, except], |r| r.get::<_, i64>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    let mut dead = Vec::new();
    for id in started {
        // Taken and dropped at once: only whether a live run holds it matters.
        if run_lock(vault_dir, id)?.is_some() {
            dead.push(id);
        }
    }
    Ok(dead)
}

/// Closes export `old` of `request_id`, whose run was killed, as failed:
/// export `by` of the same request replaces it.
fn close_interrupted(
    tx: &rusqlite::Transaction<'_>,
    vid: &str,
    officers: &[String],
    old: i64,
    request_id: &str,
    by: i64,
) -> Result<(), VaultError> {
    tx.execute(
        "UPDATE exports SET state = 'failed', finished_at = ?1 WHERE id = ?2",
        params![audit::now_rfc3339(), old],
    )?;
    audit::append(
        tx,
        vid,
        &Event {
            kind: events::EXPORT_FAILED,
            actors: officers.to_vec(),
            data: json!({
                "export_id": old,
                "request_id": request_id,
                "reason": format!("interrupted: the run was killed before it completed; export {by} of the request replaces it and removes what it left on the medium"),
            }),
        },
    )?;
    Ok(())
}

/// Exports that started and never completed or failed (the process died).
pub(crate) fn unfinished(
    conn: &rusqlite::Connection,
) -> Result<Vec<(i64, String, String)>, VaultError> {
    let mut st = conn.prepare(
        "SELECT id, request_id, started_at FROM exports WHERE state = 'started' ORDER BY id",
    )?;
    let v = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(v)
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
