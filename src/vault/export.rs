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

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rusqlite::params;
use serde::Serialize;
use serde_json::json;

use super::orders::unix_now;
use super::seeds::SeedBatch;
use super::{UnsealedVault, VaultError};
use crate::audit::{self, events, Event};
use crate::crypto;
use crate::formats::{self, Format, FormatError, WriteOptions};
use crate::pgp::{self, RecipientCert};

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

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> VaultError + '_ {
    move |source| VaultError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Checks the medium: a writable directory outside the vault. Returns its
/// canonical path.
pub(crate) fn check_media(media: &Path, vault_dir: &Path) -> Result<PathBuf, VaultError> {
    let refused = |m: String| Err(VaultError::Refused(m));
    if !media.is_dir() {
        return refused(format!(
            "media directory {} does not exist (is the medium mounted?)",
            media.display()
        ));
    }
    let m = fs::canonicalize(media).map_err(io_err(media))?;
    let v = fs::canonicalize(vault_dir).map_err(io_err(vault_dir))?;
    if m.starts_with(&v) || v.starts_with(&m) {
        return refused(format!(
            "media directory {} is inside the vault directory (or contains it); export to removable media",
            media.display()
        ));
    }
    let probe = m.join(format!(".seedvault-probe-{}", std::process::id()));
    match OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(_) => {
            let _ = fs::remove_file(&probe);
        }
        Err(e) => {
            return refused(format!(
                "media directory {} is not writable: {e}",
                media.display()
            ))
        }
    }
    Ok(m)
}

/// Checks that the medium has room for `need` bytes.
fn check_room(media: &Path, need: u64) -> Result<(), VaultError> {
    let st = rustix::fs::statvfs(media).map_err(|e| VaultError::Io {
        path: media.to_owned(),
        source: e.into(),
    })?;
    let free = st.f_bavail.saturating_mul(st.f_frsize);
    if free < need {
        return Err(VaultError::Refused(format!(
            "media {} has {free} bytes free; the export needs about {need}",
            media.display()
        )));
    }
    Ok(())
}

/// Writes `bytes` to `final_path` via a temporary file: fsync, rename
/// (never over an existing file), fsync the directory, then read it back
/// and compare byte for byte. Returns the SHA-256 of `bytes`.
///
/// Before the read-back the file's pages are dropped from the page cache
/// (they are clean after the fsync), so on a medium that honours that the
/// bytes compared are the medium's, not the copy still in memory. The hash
/// is computed on a second thread while the file is written and synced.
fn write_durably(
    dir: &Path,
    final_path: &Path,
    written: &mut Vec<PathBuf>,
    bytes: &[u8],
) -> Result<String, VaultError> {
    let name = final_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.partial"));
    written.push(tmp.clone());
    let (wrote, sha) = std::thread::scope(|scope| {
        let hasher = scope.spawn(|| crypto::hex(&crypto::sha256(bytes)));
        let wrote = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(&tmp)?;
            if fault_point("media-full") {
                f.write_all(&bytes[..bytes.len() / 2])?;
                return Err(rustix::io::Errno::NOSPC.into());
            }
            f.write_all(bytes)?;
            f.sync_all()
        })();
        (wrote, hasher.join())
    });
    wrote.map_err(io_err(&tmp))?;
    let sha = sha.map_err(|_| VaultError::Crypto("the hashing thread panicked".into()))?;
    // No-clobber move: link then unlink.
    fs::hard_link(&tmp, final_path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            VaultError::Refused(format!(
                "{} already exists; refusing to overwrite it",
                final_path.display()
            ))
        } else {
            VaultError::Io {
                path: final_path.to_owned(),
                source: e,
            }
        }
    })?;
    written.push(final_path.to_owned());
    fs::remove_file(&tmp).map_err(io_err(&tmp))?;
    super::init::sync_dir(dir)?;
    if !reads_back_as(final_path, bytes).map_err(io_err(final_path))? {
        return Err(VaultError::Refused(format!(
            "{} reads back differently from what was written (bad medium?)",
            final_path.display()
        )));
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

impl UnsealedVault {
    /// Exports an approved, unexpired request onto `media`.
    pub fn export(&mut self, request_id: &str, media: &Path) -> Result<ExportOutcome, VaultError> {
        let req = self
            .vault()
            .request(request_id)?
            .ok_or_else(|| VaultError::Refused(format!("request {request_id} does not exist")))?;
        match req.state.as_str() {
            "approved" => {}
            "pending" => {
                return Err(VaultError::Refused(format!(
                    "request {request_id} is not approved yet (a second officer must approve it)"
                )))
            }
            other => {
                return Err(VaultError::Refused(format!(
                    "request {request_id} is {other}; only an approved request can be exported"
                )))
            }
        }
        let now = unix_now();
        if req.expires_at.is_none_or(|t| t <= now) {
            return Err(VaultError::Refused(format!(
                "the approval of request {request_id} expired; create and approve a new request"
            )));
        }
        let format = Format::from_name(&req.format).ok_or_else(|| {
            VaultError::Tampered(format!("request {request_id} names an unknown format"))
        })?;
        let conn = self.vault().store().conn();
        let cert_bytes: Vec<u8> = conn.query_row(
            "SELECT recipient_cert FROM requests WHERE id = ?1",
            [request_id],
            |r| r.get(0),
        )?;
        // The certificate was valid at creation; it must still be now.
        let recipient =
            RecipientCert::parse(&cert_bytes, std::time::SystemTime::now()).map_err(|ps| {
                let reasons: Vec<String> = ps.iter().map(|p| p.to_string()).collect();
                VaultError::Refused(format!(
                    "the recipient key of request {request_id} is no longer usable: {}",
                    reasons.join("; ")
                ))
            })?;
        if recipient.fingerprint() != req.recipient_fingerprint {
            return Err(VaultError::Tampered(format!(
                "the stored recipient key of request {request_id} changed"
            )));
        }
        let media = check_media(media, self.vault().dir())?;
        let stem = format!("{}-{}", req.order_id, req.id);
        let bundle = media.join(format!("{stem}.{}.asc", format.extension()));
        let manifest = media.join(format!("{stem}.manifest.asc"));
        for p in [&bundle, &manifest] {
            if p.exists() {
                return Err(VaultError::Refused(format!(
                    "{} already exists; refusing to overwrite it",
                    p.display()
                )));
            }
        }
        let vault_key = self.vault_key()?;
        // Every serial is checked again now (voids or other exports may have
        // happened since approval) while the bundle is made, in memory: no
        // byte reaches the medium before `export.started` is logged.
        let (armored, serials) = self
            .seal_bundle(request_id, &req, format, &recipient, &vault_key)
            .inspect_err(|e| self.log_export_refusal(request_id, e))?;
        check_room(&media, armored.len() as u64 + 64 * 1024)?;
        let info = self.vault().info().clone();
        let vid = info.vault_id.to_string();
        let officers = self.officer_names();
        let bundle_name = bundle
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let manifest_name = manifest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();

        // export.started: committed before any byte reaches the medium.
        let export_id = self.vault_mut().store_mut().write(|tx| {
            tx.execute(
                "INSERT INTO exports (request_id, state, started_at, bundle_path, manifest_path) VALUES (?1, 'started', ?2, ?3, ?4)",
                params![request_id, audit::now_rfc3339(), bundle.display().to_string(), manifest.display().to_string()],
            )?;
            let export_id = tx.last_insert_rowid();
            audit::append(
                tx,
                &vid,
                &Event {
                    kind: events::EXPORT_STARTED,
                    actors: officers.clone(),
                    data: json!({
                        "export_id": export_id,
                        "request_id": request_id,
                        "order_id": req.order_id,
                        "recipient_fingerprint": req.recipient_fingerprint,
                        "format": format.name(),
                        "serials": serials.len(),
                        "bundle": bundle_name,
                        "manifest": manifest_name,
                    }),
                },
            )?;
            Ok::<_, VaultError>(export_id)
        })?;

        crash_point("export-started");
        let mut written = Vec::new();
        let result = (|| -> Result<String, VaultError> {
            let bundle_sha = write_durably(&media, &bundle, &mut written, &armored)?;
            let text = manifest_text(
                &info,
                &req,
                &recipient,
                format,
                serials.len(),
                &bundle_name,
                &bundle_sha,
                &officers,
            );
            let signed =
                pgp::clearsign(&vault_key, &text).map_err(|e| VaultError::Crypto(e.to_string()))?;
            write_durably(&media, &manifest, &mut written, signed.as_bytes())?;
            Ok(bundle_sha)
        })();

        match result {
            Ok(bundle_sha) => {
                self.vault_mut().store_mut().write(|tx| {
                    // The completed export row is what makes its serials exported (view seed_exports).
                    tx.execute("UPDATE requests SET state = 'exported' WHERE id = ?1", [request_id])?;
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
                            data: json!({
                                "export_id": export_id,
                                "request_id": request_id,
                                "bundle_sha256": bundle_sha,
                                "serials": serials,
                            }),
                        },
                    )?;
                    Ok::<_, VaultError>(())
                })?;
                Ok(ExportOutcome {
                    request_id: request_id.to_owned(),
                    bundle,
                    manifest,
                    bundle_sha256: bundle_sha,
                    serials: serials.len(),
                    recipient_fingerprint: req.recipient_fingerprint,
                })
            }
            Err(e) => {
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
                    VaultError::Io { .. } => VaultError::Refused(format!(
                        "writing to the medium failed: {e}\nWhat was written is removed; nothing is marked exported and \
                         request {request_id} stays approved: export it again to a medium that works."
                    )),
                    other => other,
                })
            }
        }
    }
}

/// Why a bundle could not be made.
enum BundleError {
    Pgp(pgp::PgpError),
    Format(FormatError),
    Vault(VaultError),
}

impl From<pgp::PgpError> for BundleError {
    fn from(e: pgp::PgpError) -> Self {
        BundleError::Pgp(e)
    }
}

impl UnsealedVault {
    /// Makes the armored, encrypted and signed bundle of a request in
    /// memory, and returns it with the request's serials.
    ///
    /// Seeds are opened on this thread (it owns the database connection)
    /// and handed in batches to a second one that formats, encrypts and
    /// signs them, so the two halves of the work overlap and the plaintext
    /// never exists whole: only the batches in the channel (the opener may
    /// run up to 64 ahead, as the encryptor works in bursts) and the format
    /// writer's wiped buffer. Any problem with a serial refuses the export,
    /// naming every one.
    fn seal_bundle(
        &self,
        request_id: &str,
        req: &super::Request,
        format: Format,
        recipient: &RecipientCert,
        vault_key: &pgp::SecretCert,
    ) -> Result<(Vec<u8>, Vec<String>), VaultError> {
        let (to_encryptor, batches) = std::sync::mpsc::sync_channel::<SeedBatch>(64);
        let (opened, sealed) = std::thread::scope(|scope| {
            let encryptor = scope.spawn(move || {
                let mut armored = Vec::new();
                pgp::encrypt_and_sign_with(recipient, vault_key, &mut armored, |w| {
                    let mut file = formats::Writer::new(format, w, &WriteOptions::default())
                        .map_err(BundleError::Format)?;
                    for batch in batches {
                        for token in batch.tokens() {
                            file.push(&token.map_err(BundleError::Vault)?)
                                .map_err(BundleError::Format)?;
                        }
                    }
                    file.finish().map_err(BundleError::Format)
                })
                .map(|()| armored)
            });
            let opened = self.open_request_tokens(
                request_id,
                &req.order_id,
                req.reexport_reason.is_some(),
                &mut |batch| to_encryptor.send(batch).is_ok(),
            );
            drop(to_encryptor);
            (opened, encryptor.join())
        });
        let found = opened?;
        if !found.problems.is_empty() {
            return Err(VaultError::Refused(format!(
                "request {request_id} cannot be exported:\n  {}",
                found.problems.join("\n  ")
            )));
        }
        match sealed {
            Ok(Ok(armored)) => Ok((armored, found.serials)),
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

#[allow(clippy::too_many_arguments)]
fn manifest_text(
    info: &super::VaultInfo,
    req: &super::Request,
    recipient: &RecipientCert,
    format: Format,
    count: usize,
    bundle_name: &str,
    bundle_sha: &str,
    officers: &[String],
) -> String {
    let mut t = String::from("seedvault export manifest v1\n");
    t += &format!("vault: {}\n", info.vault_id);
    if info.test_vault {
        t += "test-vault: yes (made with --insecure-fast-kdf; NOT FOR REAL SEEDS)\n";
    } else {
        t += "test-vault: no\n";
    }
    t += &format!(
        "request: {}\norder: {}\nrequester: {}\n",
        req.id, req.order_id, req.requester
    );
    t += &format!("recipient: {}\n", recipient.fingerprint());
    t += &format!(
        "encryption-subkeys: {}\n",
        recipient.encryption_subkey_fingerprints().join(" ")
    );
    t += &format!("format: {format}\nserials: {count}\n");
    t += &format!("bundle: {bundle_name}\nbundle-sha256: {bundle_sha}\n");
    t += &format!(
        "created-by: {}\napproved-by: {}\n",
        req.created_by,
        req.decided_by.as_deref().unwrap_or("")
    );
    if let Some(r) = &req.reexport_reason {
        t += &format!("reexport: {r}\n");
    }
    t += &format!(
        "exported-by: {}\nexported-at: {}\n",
        officers.join(", "),
        audit::now_rfc3339()
    );
    t
}

/// Test builds only: dies here, as a power cut would, when
/// `SEEDVAULT_TEST_CRASH_AT` names this point. Compiled out of release
/// builds, so no environment variable can interrupt a production export.
fn crash_point(name: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("SEEDVAULT_TEST_CRASH_AT").as_deref() == Ok(name) {
        std::process::abort();
    }
    let _ = name;
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
