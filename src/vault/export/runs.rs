//! Export runs: the lock each run holds while it lives, and what a run
//! killed before it completed left (closed as failed by the next run).

use std::fs::{self, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rusqlite::params;
use serde_json::json;

use super::media::io_err;
use crate::audit::{self, events, Event};
use crate::vault::VaultError;

/// The lock file of export run `export_id`, in the vault directory.
pub(super) fn lock_path(vault_dir: &Path, export_id: i64) -> PathBuf {
    vault_dir.join(format!(".export-{export_id}.lock"))
}

/// Takes the run lock of export `export_id` (an exclusive `flock`, which
/// the kernel releases when the process dies); `None` when a live run
/// holds it.
pub(super) fn run_lock(vault_dir: &Path, export_id: i64) -> Result<Option<fs::File>, VaultError> {
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
pub(super) fn interrupted_of(
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
pub(super) fn close_interrupted(
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
