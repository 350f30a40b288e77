//! The destruction statement the officers sign, the receipt the vault
//! signs, and writing it to the medium; the journal scrub a re-run does.

use super::*;

impl Vault {
    /// A destruction killed between its commit and the scrub leaves its
    /// journal behind (header zeroed, so SQLite ignores it, but holding the
    /// deleted pages): overwritten with zeros and removed here, under the
    /// write lock so that no other command's live journal is touched.
    pub(super) fn scrub_stale_journal(&mut self) -> Result<(), VaultError> {
        let path = self
            .dir()
            .join(format!("{}-journal", crate::store::DB_FILE));
        if !path.exists() {
            return Ok(());
        }
        self.store_mut().write(|_tx| {
            let Ok(mut f) = OpenOptions::new().read(true).write(true).open(&path) else {
                return Ok(());
            };
            let io = |source| VaultError::Io {
                path: path.clone(),
                source,
            };
            let mut header = [0u8; 28];
            let stale = f.read_exact(&mut header).is_ok() && header.iter().all(|b| *b == 0);
            if stale {
                zero_file(&mut f).map_err(io)?;
                drop(f);
                fs::remove_file(&path).map_err(io)?;
            }
            Ok::<_, VaultError>(())
        })
    }
}

/// Overwrites the whole of `f` with zeros and syncs it.
pub(super) fn zero_file(f: &mut fs::File) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom};
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(0))?;
    let zeros = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = usize::try_from(left.min(zeros.len() as u64)).unwrap_or(zeros.len());
        f.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    f.sync_all()
}

/// Writes `bytes` to `path` (never over an existing file) through a
/// temporary name: fsync, link into place, fsync the directory, then read
/// back and compare. A temporary file a crashed run left is removed first
/// (the name is this command's own).
pub(super) fn write_receipt(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), VaultError> {
    let io = |p: &Path| {
        let p = p.to_owned();
        move |source| VaultError::Io {
            path: p.clone(),
            source,
        }
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.partial"));
    if tmp.exists() {
        fs::remove_file(&tmp).map_err(io(&tmp))?;
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&tmp)
        .map_err(io(&tmp))?;
    let wrote = f.write_all(bytes).and_then(|()| f.sync_all());
    if let Err(e) = wrote {
        let _ = fs::remove_file(&tmp);
        return Err(VaultError::Io {
            path: tmp,
            source: e,
        });
    }
    crash_point("destroy-receipt-partial");
    let linked = fs::hard_link(&tmp, path).map_err(|e| VaultError::creating(path, e));
    let _ = fs::remove_file(&tmp);
    linked?;
    crate::vault::init::sync_dir(dir)?;
    let mut back = Vec::new();
    fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut back))
        .map_err(io(path))?;
    if back != bytes {
        return Err(VaultError::ReadBackMismatch {
            path: path.to_owned(),
        });
    }
    Ok(())
}

/// The destruction statement every officer of the quorum signs.
pub(super) fn statement_text(
    vault: &str,
    id: i64,
    plan: &DestroyPlan,
    sha: &str,
    at: &str,
    officers: &[String],
) -> String {
    let js = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut t = format!("{STATEMENT_HEADER}\n");
    t += &format!("vault: {}\n", js(vault));
    t += &format!("destruction: {id}\n");
    t += &format!("selection: {}\n", js(plan.selection.kind()));
    t += &format!(
        "order: {}\n",
        plan.order_id
            .as_deref()
            .map_or_else(|| "null".to_owned(), js)
    );
    t += &format!("serials: {}\n", plan.serials.len());
    t += &format!("serials-sha256: {}\n", js(sha));
    t += &format!("reason: {}\n", js(&plan.reason));
    t += &format!("destroyed-at: {}\n", js(at));
    t += &format!(
        "officers: {}\n",
        serde_json::to_string(officers).unwrap_or_default()
    );
    t
}

/// The receipt's text (clearsigned by the vault key).
#[allow(clippy::too_many_arguments)]
pub(super) fn receipt_text(
    info: &crate::vault::VaultInfo,
    id: i64,
    plan: &DestroyPlan,
    sha: &str,
    at: &str,
    officers: &[(String, String)],
    shredded: &[i64],
    statement_sha: &str,
) -> String {
    let mut t = format!("{RECEIPT_HEADER}\n");
    t += &format!("vault: {}\n", info.vault_id);
    t += if info.test_vault {
        "test-vault: yes (made with --insecure-fast-kdf; NOT FOR REAL SEEDS)\n"
    } else {
        "test-vault: no\n"
    };
    t += &format!("destruction: {id}\n");
    t += &format!("selection: {}\n", plan.selection.kind());
    t += &format!("order: {}\n", plan.order_id.as_deref().unwrap_or("(none)"));
    t += &format!("destroyed-at: {at}\n");
    t += &format!("reason: {}\n", plan.reason);
    for (name, fpr) in officers {
        t += &format!("officer: {name} {fpr}\n");
    }
    t += &format!("serials: {}\n", plan.serials.len());
    t += &format!("serials-sha256: {sha}\n");
    t += &format!(
        "batches-shredded: {}\n",
        if shredded.is_empty() {
            "none".to_owned()
        } else {
            shredded
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        }
    );
    t += &format!("statement-sha256: {statement_sha}\n");
    if plan.serials.len() <= RECEIPT_LISTS_UP_TO {
        for s in &plan.serials {
            t += &format!("serial: {s}\n");
        }
    }
    t
}
