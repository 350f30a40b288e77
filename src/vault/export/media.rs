//! Writing to the medium: the checks of the medium and its room, and the
//! write itself (temporary names, fsync, links into place, read-back).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::ExportStep;
use crate::crypto;
use crate::vault::crash::point as crash_point;
use crate::vault::VaultError;

pub(super) fn io_err(path: &Path) -> impl Fn(std::io::Error) -> VaultError + '_ {
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
pub(super) fn free_space(media: &Path) -> Result<u64, VaultError> {
    let st = rustix::fs::statvfs(media).map_err(|e| VaultError::Io {
        path: media.to_owned(),
        source: e.into(),
    })?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Creates the temporary file `final_path` is written under (never an
/// existing one) and records it in `written`: from then on it is this
/// run's to remove.
pub(super) fn create_partial(
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
pub(super) fn write_synced(f: &mut fs::File, bytes: &[u8], may_fault: bool) -> std::io::Result<()> {
    if may_fault && fault_point("media-full") {
        f.write_all(&bytes[..bytes.len() / 2])?;
        return Err(rustix::io::Errno::NOSPC.into());
    }
    f.write_all(bytes)?;
    f.sync_all()
}

/// Moves the partial `tmp` to `final_path` without ever replacing an
/// existing file: link, then unlink.
pub(super) fn link_partial(
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
pub(super) fn write_both(
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
    crate::vault::init::sync_dir(dir)?;
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
pub(super) fn reads_back_as(path: &Path, want: &[u8]) -> std::io::Result<bool> {
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

/// The temporary name a file is written under before it is linked into place.
pub(crate) fn partial_of(dir: &Path, final_path: &Path) -> PathBuf {
    let name = final_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.join(format!(".{name}.partial"))
}

/// Test builds only: whether the test asked, with `SEEDVAULT_TEST_FAIL_AT`,
/// for the operation at this point to fail as a medium filling up or
/// vanishing mid-write would. Compiled out of release builds.
pub(super) fn fault_point(name: &str) -> bool {
    #[cfg(debug_assertions)]
    if std::env::var("SEEDVAULT_TEST_FAIL_AT").as_deref() == Ok(name) {
        return true;
    }
    let _ = name;
    false
}
