//! Backup and restore: a verified copy of the vault on other media.
//!
//! A backup is a directory of four files:
//!
//! - `vault.db`: a consistent copy of the database, made with SQLite's
//!   online backup API (never a file copy, which could catch a write half
//!   done). It holds what the vault holds: sealed seeds and sealed keys,
//!   never the master key, which exists only while a quorum's cards are
//!   combined.
//! - `checkpoint.asc`: a checkpoint of the copy's log head, signed by the
//!   vault key (the same document `audit checkpoint` writes).
//! - `MANIFEST.sha256`: the SHA-256 of those two files, in `sha256sum`
//!   format (so `sha256sum -c MANIFEST.sha256` checks them too).
//! - `MANIFEST.sha256.asc`: the vault key's detached signature over the
//!   manifest.
//!
//! It is written into a hidden sibling directory and renamed into place
//! only when complete, so a directory with the backup's name is always a
//! whole backup. A restore trusts nothing in it until it has checked, in
//! this order: every hash in the manifest (over the copy it will use), the
//! hash chain of the copy's log, the checkpoint (its head must be the
//! copy's head exactly), the manifest's signature, any newer checkpoint the
//! operator gives (a backup older than it is refused), and finally that a
//! quorum's cards open the copy's vault key, whose certificate made those
//! signatures: a backup re-signed by anyone else's key fails there.

use super::crash::point as crash_point;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde_json::json;

use super::{UnsealedVault, Vault, VaultError};
use crate::audit::{self, events, Checkpoint, Event, Head};
use crate::cards::SealedCard;
use crate::crypto;
use crate::pgp;

/// The database copy in a backup.
pub const BACKUP_DB: &str = "vault.db";
/// The signed checkpoint of the copy's head.
pub const BACKUP_CHECKPOINT: &str = "checkpoint.asc";
/// SHA-256 of the two files above (`sha256sum` format).
pub const BACKUP_MANIFEST: &str = "MANIFEST.sha256";
/// The vault key's detached signature over the manifest.
pub const BACKUP_SIGNATURE: &str = "MANIFEST.sha256.asc";

/// What a backup wrote.
#[derive(Debug, Clone)]
pub struct BackupOutcome {
    /// The backup directory.
    pub dir: PathBuf,
    /// The copy's log head (what the checkpoint signs).
    pub head: Head,
    /// SHA-256 of `vault.db`, hex.
    pub db_sha256: String,
    /// Size of `vault.db` in bytes.
    pub db_bytes: u64,
}

/// What a restore made.
#[derive(Debug, Clone)]
pub struct RestoreOutcome {
    /// The new vault directory.
    pub vault_dir: PathBuf,
    /// The backup's head (the restored log continues from it).
    pub backup_head: Head,
    /// The restored vault's id.
    pub vault_id: String,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> VaultError + '_ {
    move |source| VaultError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The hidden sibling a directory is built in before it is renamed to
/// `target`: `.NAME.seedvault-partial` next to it.
fn partial_dir(target: &Path) -> Result<PathBuf, VaultError> {
    let name = target
        .file_name()
        .ok_or_else(|| VaultError::Refused(format!("{} names no directory", target.display())))?;
    let mut hidden = std::ffi::OsString::from(".");
    hidden.push(name);
    hidden.push(".seedvault-partial");
    Ok(target.with_file_name(hidden))
}

/// Makes a fresh partial directory (removing one an interrupted run left).
fn fresh_partial(target: &Path) -> Result<PathBuf, VaultError> {
    let tmp = partial_dir(target)?;
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&tmp)
        .map_err(io(&tmp))?;
    Ok(tmp)
}

/// Removes a partial directory when a run fails before renaming it.
struct PartialGuard(Option<PathBuf>);
impl Drop for PartialGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_dir_all(p);
        }
    }
}

/// Renames `from` to `to`, never replacing an existing `to` (even an
/// empty directory, which a plain rename would).
fn rename_noreplace(from: &Path, to: &Path) -> Result<(), VaultError> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE).map_err(|e| {
        VaultError::creating(to, std::io::Error::from_raw_os_error(e.raw_os_error()))
    })?;
    if let Some(parent) = to.parent().filter(|p| !p.as_os_str().is_empty()) {
        super::init::sync_dir(parent)?;
    }
    Ok(())
}

/// SHA-256 of a file, streamed.
fn file_sha256(path: &Path) -> Result<([u8; 32], u64), VaultError> {
    let mut f = fs::File::open(path).map_err(io(path))?;
    let mut h = crypto::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        total += u64::try_from(n).unwrap_or(u64::MAX);
    }
    Ok((h.finish(), total))
}

fn manifest_text(db: &str, checkpoint: &str) -> String {
    format!("{db}  {BACKUP_DB}\n{checkpoint}  {BACKUP_CHECKPOINT}\n")
}

/// Whether `inner` is `outer` or below it (both made absolute).
fn within(inner: &Path, outer: &Path) -> bool {
    let abs = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
    abs(inner).starts_with(abs(outer))
}

impl Vault {
    /// Checks a backup's target before anyone types a passphrase: it does
    /// not exist, its parent does, and it is neither in the vault directory
    /// nor around it.
    pub fn preflight_backup(&self, out: &Path) -> Result<(), VaultError> {
        if out.exists() {
            return Err(VaultError::WouldOverwrite(out.to_owned()));
        }
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        if !parent.is_dir() {
            return Err(VaultError::MediaMissing { path: parent });
        }
        if within(&parent, self.dir())
            || within(
                self.dir(),
                &parent.join(out.file_name().unwrap_or_default()),
            )
        {
            return Err(VaultError::Refused(format!(
                "backup directory {} is inside the vault directory {}; a backup goes on other media",
                out.display(),
                self.dir().display()
            )));
        }
        Ok(())
    }
}

impl UnsealedVault {
    /// Writes a backup of the vault into `out` (a new directory) and logs
    /// `vault.backed_up`.
    pub fn backup(&mut self, out: &Path) -> Result<BackupOutcome, VaultError> {
        self.vault().preflight_backup(out)?;
        let tmp = fresh_partial(out)?;
        let mut guard = PartialGuard(Some(tmp.clone()));
        let db_path = tmp.join(BACKUP_DB);

        // The copy: SQLite's online backup, every page in one step, under
        // one read transaction (a consistent snapshot). The file is made
        // 0600 first, as the vault's own is.
        super::init::write_new(&db_path, b"", 0o600)?;
        {
            let mut dst = rusqlite::Connection::open(&db_path)?;
            // The copy is a new file nobody else reads until it is renamed
            // into place: no rollback journal is needed, and one fsync
            // after the copy (below) makes it durable.
            dst.pragma_update(None, "journal_mode", "OFF")?;
            dst.pragma_update(None, "synchronous", "OFF")?;
            let b = rusqlite::backup::Backup::new(self.vault().store().conn(), &mut dst)?;
            loop {
                match b.step(-1)? {
                    rusqlite::backup::StepResult::Done => break,
                    rusqlite::backup::StepResult::More => {}
                    _ => std::thread::sleep(std::time::Duration::from_millis(20)),
                }
            }
        }
        fs::File::open(&db_path)
            .and_then(|f| f.sync_all())
            .map_err(io(&db_path))?;
        let head = {
            let c = rusqlite::Connection::open_with_flags(
                &db_path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )?;
            audit::head(&c)?
        };
        let (db_hash, db_bytes) = file_sha256(&db_path)?;
        crash_point("backup-copied");

        let info = self.vault().info().clone();
        let vault_id = info.vault_id.to_string();
        let key = self.vault_key()?;
        let checkpoint = Checkpoint::of(&vault_id, &head)
            .sign(&key)
            .map_err(VaultError::Pgp)?;
        super::init::write_new(&tmp.join(BACKUP_CHECKPOINT), checkpoint.as_bytes(), 0o600)?;
        let db_sha256 = crypto::hex(&db_hash);
        let manifest = manifest_text(
            &db_sha256,
            &crypto::hex(&crypto::sha256(checkpoint.as_bytes())),
        );
        let signature = pgp::sign_detached(&key, manifest.as_bytes()).map_err(VaultError::Pgp)?;
        drop(key);
        super::init::write_new(&tmp.join(BACKUP_MANIFEST), manifest.as_bytes(), 0o600)?;
        super::init::write_new(&tmp.join(BACKUP_SIGNATURE), signature.as_bytes(), 0o600)?;
        super::init::sync_dir(&tmp)?;

        let officers = self.officer_names();
        let event = Event {
            kind: events::VAULT_BACKED_UP,
            actors: officers,
            data: json!({
                "head": { "entries": head.count, "hash": head.hash_hex() },
                "vault_db_sha256": db_sha256,
                "vault_db_bytes": db_bytes,
                "manifest_sha256": crypto::hex(&crypto::sha256(manifest.as_bytes())),
                "out": out.display().to_string(),
            }),
        };
        self.vault_mut().log(&event)?;
        super::init::sync_dir(&tmp)?;
        rename_noreplace(&tmp, out)?;
        guard.0 = None;
        Ok(BackupOutcome {
            dir: out.to_owned(),
            head,
            db_sha256,
            db_bytes,
        })
    }
}

/// A backup checked file by file and copied into a hidden directory next
/// to the new vault, waiting for the quorum that proves it.
#[derive(Debug)]
pub struct PreparedRestore {
    vault: Vault,
    backup: PathBuf,
    target: PathBuf,
    head: Head,
    db_sha256: String,
    guard: PartialGuard,
}

impl std::fmt::Debug for PartialGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PartialGuard({:?})", self.0)
    }
}

fn tampered(backup: &Path, what: impl std::fmt::Display) -> VaultError {
    VaultError::Tampered(format!("backup {}: {what}", backup.display()))
}

/// Reads the manifest: exactly the two lines a backup writes, in order.
fn parse_manifest(backup: &Path, text: &[u8]) -> Result<([u8; 32], [u8; 32]), VaultError> {
    let bad = || {
        tampered(
            backup,
            format!("{BACKUP_MANIFEST} is not the manifest a backup writes"),
        )
    };
    let text = std::str::from_utf8(text).map_err(|_| bad())?;
    let mut lines = text.split_inclusive('\n');
    let mut take = |name: &str| -> Result<[u8; 32], VaultError> {
        let line = lines.next().ok_or_else(bad)?;
        let (hex, rest) = line.split_at_checked(64).ok_or_else(bad)?;
        if rest != format!("  {name}\n")
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(bad());
        }
        let v = data_encoding::HEXLOWER
            .decode(hex.as_bytes())
            .map_err(|_| bad())?;
        v.try_into().map_err(|_| bad())
    };
    let db = take(BACKUP_DB)?;
    let cp = take(BACKUP_CHECKPOINT)?;
    if lines.next().is_some() {
        return Err(bad());
    }
    Ok((db, cp))
}

/// Checks the manifest's signature byte for byte: it verifies with the
/// vault certificate, and the file is exactly the armor of the signature
/// it holds (so no byte of it can change unnoticed, not even in the armor).
fn check_signature(
    backup: &Path,
    cert: &sequoia_openpgp::Cert,
    manifest: &[u8],
    sig: &[u8],
) -> Result<(), VaultError> {
    use sequoia_openpgp::parse::Parse;
    use sequoia_openpgp::serialize::MarshalInto;
    let bad = |what: &str| tampered(backup, format!("{BACKUP_SIGNATURE} {what}"));
    pgp::verify_detached(cert, manifest, sig).map_err(|_| {
        bad("does not verify with the vault key: the manifest or its signature was changed")
    })?;
    let parsed = sequoia_openpgp::Packet::from_bytes(sig).map_err(|_| bad("is unreadable"))?;
    let sequoia_openpgp::Packet::Signature(s) = &parsed else {
        return Err(bad("is not a signature"));
    };
    // Only the unhashed issuer the signer writes may be outside the hash.
    let signer = cert.keys().map(|k| k.key().keyid()).collect::<Vec<_>>();
    for sub in s.unhashed_area().iter() {
        match sub.value() {
            sequoia_openpgp::packet::signature::subpacket::SubpacketValue::Issuer(id)
                if signer.contains(id) => {}
            _ => return Err(bad("carries unsigned data")),
        }
    }
    let again = (|| -> std::io::Result<Vec<u8>> {
        use std::io::Write;
        let binary = parsed.to_vec().map_err(std::io::Error::other)?;
        let mut w = sequoia_openpgp::armor::Writer::new(
            Vec::new(),
            sequoia_openpgp::armor::Kind::Signature,
        )?;
        w.write_all(&binary)?;
        w.finalize()
    })()
    .map_err(|e| VaultError::Crypto(e.to_string()))?;
    if again != sig {
        return Err(bad(
            "is not in the form the vault writes (a byte was changed)",
        ));
    }
    Ok(())
}

/// `restore`, first half: checks `backup` file by file and copies its
/// database next to `target` (which must not exist). No card is needed
/// yet; the returned value names the vault whose cards must follow.
/// `checkpoints` are signed checkpoints (text, where from) the backup
/// must not be older than.
pub fn prepare_restore(
    backup: &Path,
    target: &Path,
    checkpoints: &[(String, PathBuf)],
) -> Result<PreparedRestore, VaultError> {
    if target.exists() {
        return Err(VaultError::AlreadyExists(target.to_owned()));
    }
    if !backup.is_dir() {
        return Err(VaultError::Refused(format!(
            "backup directory {} does not exist (is the medium mounted?)",
            backup.display()
        )));
    }
    let read = |name: &str| -> Result<Vec<u8>, VaultError> {
        let p = backup.join(name);
        fs::read(&p).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                tampered(
                    backup,
                    format!("is not a complete backup: {name} is missing"),
                )
            } else {
                VaultError::Io { path: p, source: e }
            }
        })
    };
    let manifest = read(BACKUP_MANIFEST)?;
    let sig = read(BACKUP_SIGNATURE)?;
    let checkpoint = read(BACKUP_CHECKPOINT)?;
    let (db_hash, cp_hash) = parse_manifest(backup, &manifest)?;
    if !crypto::ct_eq(&crypto::sha256(&checkpoint), &cp_hash) {
        return Err(tampered(
            backup,
            format!("{BACKUP_CHECKPOINT} does not match its SHA-256 in the manifest"),
        ));
    }
    if !backup.join(BACKUP_DB).is_file() {
        return Err(tampered(
            backup,
            format!("is not a complete backup: {BACKUP_DB} is missing"),
        ));
    }

    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(VaultError::Refused(format!(
            "{} does not exist; make it first (the restored vault goes into {})",
            parent.display(),
            target.display()
        )));
    }
    let tmp = fresh_partial(target)?;
    let guard = PartialGuard(Some(tmp.clone()));
    // The copy is what is checked and used, so nothing can change between
    // the check and the use.
    let copy = tmp.join(crate::store::DB_FILE);
    super::init::write_new(&copy, b"", 0o600)?;
    {
        let mut from =
            fs::File::open(backup.join(BACKUP_DB)).map_err(io(&backup.join(BACKUP_DB)))?;
        let mut to = fs::OpenOptions::new()
            .write(true)
            .open(&copy)
            .map_err(io(&copy))?;
        std::io::copy(&mut from, &mut to).map_err(io(&copy))?;
        to.sync_all().map_err(io(&copy))?;
    }
    let (hash, _) = file_sha256(&copy)?;
    if !crypto::ct_eq(&hash, &db_hash) {
        return Err(tampered(
            backup,
            format!("{BACKUP_DB} does not match its SHA-256 in the manifest"),
        ));
    }
    let db_sha256 = crypto::hex(&hash);
    let vault = Vault::open(&tmp)
        .map_err(|e| tampered(backup, format!("its database cannot be opened: {e}")))?;

    // The chain, then the checkpoint of exactly this head.
    let report = vault.verify_audit()?;
    if let Some(p) = report.problems.first() {
        return Err(tampered(
            backup,
            format!(
                "its audit log does not verify: entry {}: {}",
                p.seq, p.problem
            ),
        ));
    }
    let head = report.head;
    let cert = pgp::keys::parse_public_cert(&vault.info().vault_cert)
        .map_err(|e| tampered(backup, format!("its vault certificate is unreadable: {e}")))?;
    let vault_id = vault.info().vault_id.to_string();
    let text = String::from_utf8(checkpoint)
        .map_err(|_| tampered(backup, "its checkpoint is not text"))?;
    let cp = Checkpoint::open(&text, &cert, &vault_id)
        .map_err(|e| tampered(backup, format!("{BACKUP_CHECKPOINT}: {e}")))?;
    if cp.entries != head.count || cp.head != head.hash {
        return Err(tampered(
            backup,
            format!(
                "its checkpoint signs head {} ({}) but its log ends at {} ({})",
                cp.entries,
                cp.head_hex(),
                head.count,
                head.hash_hex()
            ),
        ));
    }
    check_signature(backup, &cert, &manifest, &sig)?;

    // Not older than any checkpoint the operator saved since.
    for (signed, from) in checkpoints {
        let given = Checkpoint::open(signed, &cert, &vault_id)
            .map_err(|e| tampered(backup, format!("checkpoint {}: {e}", from.display())))?;
        if given.entries > head.count {
            return Err(tampered(
                backup,
                format!(
                    "it is older than checkpoint {}: the backup's head is entry {} ({}), the checkpoint's entry {} ({}); restore a newer backup",
                    from.display(),
                    head.count,
                    head.hash_hex(),
                    given.entries,
                    given.head_hex()
                ),
            ));
        }
        given.check_extended_by(vault.store().conn()).map_err(|e| {
            tampered(
                backup,
                format!(
                    "its log does not extend checkpoint {} ({e}); it is another history",
                    from.display()
                ),
            )
        })?;
    }
    Ok(PreparedRestore {
        vault,
        backup: backup.to_owned(),
        target: target.to_owned(),
        head,
        db_sha256,
        guard,
    })
}

impl PreparedRestore {
    /// The backup's vault (sealed): its id and custodians, to read the
    /// cards against.
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// The backup's verified head.
    pub fn head(&self) -> Head {
        self.head
    }

    /// `restore`, second half: a quorum of the backup's cards unseals the
    /// copy and opens its vault key (which must be the key that signed the
    /// checkpoint and manifest); `vault.restored` is logged and a
    /// checkpoint signed; then the directory is renamed into place.
    pub fn finish(
        self,
        cards: Vec<(SealedCard, SecretString)>,
    ) -> Result<RestoreOutcome, VaultError> {
        let PreparedRestore {
            vault,
            backup,
            target,
            head,
            db_sha256,
            mut guard,
        } = self;
        let mut unsealed = vault.unseal(cards, "restore")?;
        let key = unsealed.vault_key()?;
        let cert_fpr = pgp::keys::parse_public_cert(&unsealed.vault().info().vault_cert)
            .map(|c| c.fingerprint().to_hex())
            .unwrap_or_default();
        if key.fingerprint() != cert_fpr {
            return Err(tampered(
                &backup,
                "its vault key is not the key of its certificate",
            ));
        }
        drop(key);
        let event = Event {
            kind: events::VAULT_RESTORED,
            actors: unsealed.officer_names(),
            data: json!({
                "backup_head": { "entries": head.count, "hash": head.hash_hex() },
                "from": backup.display().to_string(),
                "vault_db_sha256": db_sha256,
            }),
        };
        unsealed.vault_mut().log(&event)?;
        let vault_id = unsealed.vault().info().vault_id.to_string();
        let (sealed, checkpoint) = unsealed.finish();
        checkpoint?;
        drop(sealed);
        let tmp = guard.0.clone().unwrap_or_default();
        crash_point("restore-before-rename");
        rename_noreplace(&tmp, &target)?;
        guard.0 = None;
        Ok(RestoreOutcome {
            vault_dir: target,
            backup_head: head,
            vault_id,
        })
    }
}
