//! The destruction itself, with the cards open: every seed opened once
//! more, one transaction, the journal scrubbed, the receipt written.

use super::*;

impl UnsealedVault {
    /// Destroys the seeds of a plan ([`Vault::plan_destruction`]),
    /// checking it again first. Every officer of the quorum (at least two)
    /// signs the destruction statement; every seed is opened before its
    /// row is deleted; the rows, the data keys of batches left without a
    /// seed, the destruction's records and its log entries commit in one
    /// transaction; then the journal is scrubbed and the receipt written
    /// to the medium. A plan that only re-writes an earlier receipt does
    /// that and nothing else.
    pub fn destroy(&mut self, plan: DestroyPlan) -> Result<DestroyOutcome, VaultError> {
        if plan.recovery.is_some() {
            return self.vault_mut().rewrite_receipt(&plan);
        }
        // Planned again unless the log is where the plan left it (another
        // command may have exported, voided or destroyed meanwhile).
        let plan = if log_unchanged_since(self.vault().store().conn(), plan.head)? {
            plan
        } else {
            self.vault()
                .plan_destruction(plan.selection, &plan.reason, &plan.media)?
        };
        if plan.recovery.is_some() {
            return self.vault_mut().rewrite_receipt(&plan);
        }
        let names: BTreeSet<&str> = self.officers().iter().map(|o| o.name.as_str()).collect();
        if names.len() < 2 {
            return Err(VaultError::Refused(
                "destroying seeds takes two officers' cards (two-person rule)".into(),
            ));
        }
        let officer_list: Vec<(String, String)> = self
            .officers()
            .iter()
            .map(|o| (o.name.clone(), o.signing_key().fingerprint()))
            .collect();
        let officer_names: Vec<String> = officer_list.iter().map(|(n, _)| n.clone()).collect();
        let vault_key = self.vault_key()?;

        let info = self.vault().info().clone();
        let vid = info.vault_id.to_string();
        let sha = statement::serials_sha256_v2(&plan.serials);
        let at = audit::now_rfc3339();
        let id: i64 = self.vault().store().conn().query_row(
            "SELECT coalesce(max(id), 0) + 1 FROM destructions",
            [],
            |r| r.get(0),
        )?;
        let statement = statement_text(&vid, id, &plan, &sha, &at, &officer_names);
        let mut signatures = serde_json::Map::new();
        for o in self.officers() {
            let sig = crate::pgp::sign_detached(o.signing_key(), statement.as_bytes())
                .map_err(VaultError::Pgp)?;
            signatures.insert(o.name.clone(), Value::String(sig));
        }
        let statement_sha = crypto::hex(&crypto::sha256(statement.as_bytes()));
        let receipt_name = match &plan.order_id {
            Some(o) => format!("{o}-destruction-{id}.receipt.asc"),
            None => format!("destruction-{id}.receipt.asc"),
        };
        let receipt_path = plan.media.join(&receipt_name);
        if receipt_path.exists() {
            return Err(VaultError::WouldOverwrite(receipt_path));
        }
        let n = plan.serials.len();

        // Foreign keys are off for this one transaction: a shredded batch
        // keeps its row as history, naming a data key that is gone.
        let conn = self.vault().store().conn();
        conn.pragma_update(None, "foreign_keys", "OFF")?;
        // The journal stays after the commit (its header zeroed) so it can
        // be overwritten before it is deleted; the exclusive lock keeps any
        // other connection from writing into it meanwhile.
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
        conn.pragma_update(None, "journal_mode", "PERSIST")?;
        // The seeds are opened under that lock: the first read takes a
        // shared lock that exclusive mode keeps, so no other connection can
        // change a row between its opening and its deletion.
        let committed = self.reauthenticate(&plan.serials).and_then(|found| {
            self.vault_mut().store_mut().write(|tx| {
                commit_destruction(
                    tx,
                    id,
                    n,
                    &found,
                    CommitText {
                        info: &info,
                        vid: &vid,
                        plan: &plan,
                        sha: &sha,
                        at: &at,
                        officer_list: &officer_list,
                        officer_names: &officer_names,
                        statement: &statement,
                        statement_sha: &statement_sha,
                        signatures: &signatures,
                        receipt_name: &receipt_name,
                        vault_key: &vault_key,
                    },
                )
            })
        });
        let scrubbed = if committed.is_ok() {
            crash_point("destroy-committed");
            self.scrub_journal()
        } else {
            Ok(())
        };
        let conn = self.vault().store().conn();
        let restored = conn
            .pragma_update(None, "journal_mode", "DELETE")
            .and_then(|()| conn.pragma_update(None, "locking_mode", "NORMAL"))
            .and_then(|()| conn.pragma_update(None, "foreign_keys", "ON"))
            // The exclusive lock is let go at the next access.
            .and_then(|()| conn.query_row("SELECT count(*) FROM vault", [], |_| Ok(())));
        let (shredded, receipt, receipt_sha) = committed?;
        scrubbed?;
        restored?;
        crash_point("destroy-scrubbed");
        write_receipt(&plan.media, &receipt_path, receipt.as_bytes())?;
        Ok(DestroyOutcome {
            destruction_id: id,
            order_id: plan.order_id,
            count: n as u64,
            destroyed_at: at,
            officers: officer_names,
            reason: plan.reason,
            batches_shredded: shredded,
            receipt: receipt_path,
            receipt_sha256: receipt_sha,
            earlier: false,
            receipt_was_there: false,
        })
    }

    /// Opens every seed about to be destroyed (the rows are the vault's own
    /// sealed seeds, in place). `serials` is ascending, as the table's key:
    /// one scan along the key merges them with the rows (seeking again past
    /// a gap of unselected rows), and cuts them into runs of rows adjacent
    /// in the table, so the transaction deletes a run by its key range and
    /// checks that exactly the rows opened went. Returns each batch touched
    /// with its logged size, and the runs.
    fn reauthenticate(&self, serials: &[String]) -> Result<Reauthenticated, VaultError> {
        let conn = self.vault().store().conn();
        let mut sets: HashMap<i64, Option<String>> = HashMap::new();
        {
            let mut st = conn.prepare("SELECT id, json FROM token_params")?;
            for row in st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))? {
                let (id, j) = row?;
                sets.insert(
                    id,
                    serde_json::from_str::<TokenParams>(&j)
                        .ok()
                        .map(|p| p.sha256_hex()),
                );
            }
        }
        let vault_id = self.vault().info().vault_id;
        let mut batches: HashMap<i64, u64> = HashMap::new();
        let mut runs: Vec<Run> = Vec::new();
        let mut missing: Vec<String> = Vec::new();
        // The rows are read here, in chunks; two workers open them (AES-GCM
        // and the AAD), while this thread walks the table.
        let (to_workers, chunks) = std::sync::mpsc::sync_channel::<OpenChunk>(4);
        let chunks = std::sync::Mutex::new(chunks);
        let read = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..OPEN_THREADS)
                .map(|_| scope.spawn(|| open_chunks(&chunks, &sets, vault_id)))
                .collect();
            let read = (|| -> Result<(), VaultError> {
                let mut keys: HashMap<i64, std::sync::Arc<crate::crypto::SealingKey>> =
                    HashMap::new();
                let mut st = conn.prepare(
                    "SELECT serial, data_key_id, params_id, sealed, batch_id
                     FROM seeds WHERE serial >= ?1 ORDER BY serial",
                )?;
                let mut chunk = OpenChunk::default();
                let mut next = 0usize;
                // Whether the last row read was selected (a run goes on).
                let mut in_run = false;
                'seek: while next < serials.len() {
                    let mut rows = st.query([&serials[next]])?;
                    let mut gap = 0usize;
                    while next < serials.len() {
                        let Some(r) = rows.next()? else {
                            missing.extend(serials[next..].iter().cloned());
                            break 'seek;
                        };
                        let serial = r.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?;
                        let wanted = serials[next].as_str();
                        match serial.cmp(wanted) {
                            std::cmp::Ordering::Less => {
                                // A row not selected: the run ends.
                                in_run = false;
                                gap += 1;
                                if gap > RESEEK_AFTER {
                                    continue 'seek;
                                }
                            }
                            std::cmp::Ordering::Greater => {
                                // No row for the wanted serial; this row is
                                // compared with the next wanted one.
                                missing.push(wanted.to_owned());
                                next += 1;
                                while next < serials.len() && serial > serials[next].as_str() {
                                    missing.push(serials[next].clone());
                                    next += 1;
                                }
                                if next < serials.len() && serial == serials[next].as_str() {
                                    take_row(r, &mut keys, &mut chunk, &mut batches, self)?;
                                    extend_run(&mut runs, &mut in_run, &serials[next]);
                                    next += 1;
                                } else {
                                    in_run = false;
                                }
                                gap = 0;
                            }
                            std::cmp::Ordering::Equal => {
                                take_row(r, &mut keys, &mut chunk, &mut batches, self)?;
                                extend_run(&mut runs, &mut in_run, &serials[next]);
                                next += 1;
                                gap = 0;
                            }
                        }
                        if chunk.rows.len() >= OPEN_CHUNK {
                            chunk.keys = keys.clone();
                            if to_workers.send(std::mem::take(&mut chunk)).is_err() {
                                // Both workers stopped: their error is returned.
                                return Ok(());
                            }
                        }
                    }
                }
                if !chunk.rows.is_empty() {
                    chunk.keys = keys.clone();
                    let _ = to_workers.send(chunk);
                }
                Ok(())
            })();
            drop(to_workers);
            let mut result = read;
            for w in workers {
                let done = w.join().unwrap_or_else(|_| {
                    Err(VaultError::Crypto("a seed-opening thread panicked".into()))
                });
                if result.is_ok() {
                    result = done;
                }
            }
            result
        });
        read?;
        if !missing.is_empty() {
            return Err(VaultError::Tampered(format!(
                "the log shows these serials delivered, but their seed rows are gone (deleted behind the log): {}",
                missing.iter().take(MAX_LISTED_REFUSALS).cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        // Each batch's size as its `batch.ingested` entry logged it.
        let mut out = Vec::new();
        for batch in batches.into_keys() {
            let seq: i64 = conn.query_row(
                "SELECT audit_seq FROM batches WHERE id = ?1",
                [batch],
                |r| r.get(0),
            )?;
            let body: Option<Vec<u8>> = conn
                .query_row("SELECT body FROM audit WHERE seq = ?1", [seq], |r| r.get(0))
                .optional()?;
            let e = body.and_then(|b| serde_json::from_slice::<Value>(&b).ok());
            let count = e
                .filter(|e| e["data"]["batch_id"] == batch)
                .and_then(|e| e["data"]["count"].as_u64())
                .ok_or_else(|| {
                    VaultError::Tampered(format!(
                        "batch {batch}: log entry {seq} is not its batch entry"
                    ))
                })?;
            out.push((batch, count));
        }
        out.sort_unstable();
        Ok(Reauthenticated { batches: out, runs })
    }

    /// Overwrites the rollback journal the destruction left (PERSIST mode:
    /// header zeroed, pages still there) with zeros and syncs it, so the
    /// deleted seeds' pages are not left in the freed blocks of a deleted
    /// file. Runs under the exclusive lock taken for the destruction.
    fn scrub_journal(&self) -> Result<(), VaultError> {
        let path = self
            .vault()
            .dir()
            .join(format!("{}-journal", crate::store::DB_FILE));
        let Ok(mut f) = OpenOptions::new().write(true).open(&path) else {
            return Ok(());
        };
        zero_file(&mut f).map_err(|source| VaultError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(())
    }
}

/// What [`UnsealedVault::reauthenticate`] found: each batch touched with
/// its logged size, and the selected serials as runs of adjacent rows.
struct Reauthenticated {
    batches: Vec<(i64, u64)>,
    runs: Vec<Run>,
}

/// Selected rows adjacent in the table's key order: the first and last
/// serial, and how many rows lie between them (both included).
struct Run {
    first: String,
    last: String,
    rows: usize,
}

/// Adds `serial` (just read, selected) to the current run or starts one.
fn extend_run(runs: &mut Vec<Run>, in_run: &mut bool, serial: &str) {
    match runs.last_mut() {
        Some(run) if *in_run => {
            run.last = serial.to_owned();
            run.rows += 1;
        }
        _ => runs.push(Run {
            first: serial.to_owned(),
            last: serial.to_owned(),
            rows: 1,
        }),
    }
    *in_run = true;
}

/// Copies a selected row into the chunk for opening, loading its data key.
fn take_row(
    r: &rusqlite::Row<'_>,
    keys: &mut HashMap<i64, std::sync::Arc<crate::crypto::SealingKey>>,
    chunk: &mut OpenChunk,
    batches: &mut HashMap<i64, u64>,
    v: &UnsealedVault,
) -> Result<(), VaultError> {
    let (dk, pid, batch): (i64, i64, i64) = (r.get(1)?, r.get(2)?, r.get(4)?);
    if let std::collections::hash_map::Entry::Vacant(e) = keys.entry(dk) {
        e.insert(v.data_key(dk)?);
    }
    let sealed = r.get_ref(3)?.as_blob().map_err(rusqlite::Error::from)?;
    chunk.rows.push((r.get(0)?, dk, pid, sealed.to_vec()));
    batches.entry(batch).or_insert(0);
    Ok(())
}

/// Unselected rows read in a row before the scan seeks to the next
/// selected serial instead.
const RESEEK_AFTER: usize = 32;

/// The texts and officers a destruction's transaction records.
struct CommitText<'a> {
    info: &'a crate::vault::VaultInfo,
    vid: &'a str,
    plan: &'a DestroyPlan,
    sha: &'a str,
    at: &'a str,
    officer_list: &'a [(String, String)],
    officer_names: &'a [String],
    statement: &'a str,
    statement_sha: &'a str,
    signatures: &'a serde_json::Map<String, Value>,
    receipt_name: &'a str,
    vault_key: &'a crate::pgp::SecretCert,
}

/// The destruction's one transaction: each run of opened rows recorded in
/// `destroyed_serials` and deleted by its key range (exactly the rows
/// opened, or nothing commits), the data keys of emptied batches shredded,
/// the receipt made, the log entries appended.
fn commit_destruction(
    tx: &rusqlite::Transaction<'_>,
    id: i64,
    n: usize,
    found: &Reauthenticated,
    t: CommitText<'_>,
) -> Result<(Vec<i64>, String, String), VaultError> {
    let CommitText {
        info,
        vid,
        plan,
        sha,
        at,
        officer_list,
        officer_names,
        statement,
        statement_sha,
        signatures,
        receipt_name,
        vault_key,
    } = t;
    let batches = &found.batches;
    let (mut recorded, mut deleted) = (0usize, 0usize);
    {
        let mut record = tx.prepare(
            "INSERT INTO destroyed_serials (serial, destruction_id, batch_id, order_id)
             SELECT serial, ?1, batch_id, order_id FROM seeds WHERE serial BETWEEN ?2 AND ?3",
        )?;
        let mut delete = tx.prepare("DELETE FROM seeds WHERE serial BETWEEN ?1 AND ?2")?;
        for run in &found.runs {
            let r = record.execute(params![id, run.first, run.last])?;
            let d = delete.execute(params![run.first, run.last])?;
            if r != run.rows || d != run.rows {
                return Err(VaultError::VaultChanged {
                    command: "seeds destroy",
                });
            }
            recorded += r;
            deleted += d;
        }
    }
    if deleted != n || recorded != n {
        return Err(VaultError::VaultChanged {
            command: "seeds destroy",
        });
    }
    // Crypto-shredding: a batch none of whose seeds is left loses
    // its data key. Counted against the batch's logged size, and
    // only destroyed rows whose seed is really gone count.
    let mut shredded = Vec::new();
    // One pass over the destroyed rows (not one per batch: a
    // million seeds may span a thousand batches).
    let mut gone: HashMap<i64, u64> = HashMap::new();
    {
        let mut st = tx.prepare(
            "SELECT d.batch_id, count(*) FROM destroyed_serials d
             WHERE NOT EXISTS (SELECT 1 FROM seeds s WHERE s.serial = d.serial)
             GROUP BY d.batch_id",
        )?;
        for row in st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, u64>(1)?)))? {
            let (b, n) = row?;
            gone.insert(b, n);
        }
    }
    for (batch, logged) in batches {
        if gone.get(batch).copied().unwrap_or(0) >= *logged {
            let dk: i64 = tx.query_row(
                "SELECT data_key_id FROM batches WHERE id = ?1",
                [batch],
                |r| r.get(0),
            )?;
            tx.execute("DELETE FROM rekey_wraps WHERE data_key_id = ?1", [dk])?;
            tx.execute("DELETE FROM data_keys WHERE id = ?1", [dk])?;
            shredded.push(*batch);
        }
    }
    let text = receipt_text(
        info,
        id,
        plan,
        sha,
        at,
        officer_list,
        &shredded,
        statement_sha,
    );
    let receipt = crate::pgp::clearsign(vault_key, &text).map_err(VaultError::Pgp)?;
    let receipt_sha = crypto::hex(&crypto::sha256(receipt.as_bytes()));
    let parts = n.div_ceil(PART);
    for (i, chunk) in plan.serials.chunks(PART).enumerate() {
        audit::append(
            tx,
            vid,
            &Event {
                kind: events::SEEDS_DESTROYED_SERIALS,
                actors: officer_names.to_vec(),
                data: json!({ "destruction_id": id, "part": i + 1, "destroyed": chunk }),
            },
        )?;
    }
    let head = audit::head(tx)?;
    tx.execute(
        "INSERT INTO destructions (id, audit_seq, destroyed_at, selection, order_id, serials_sha256, count, receipt_name, receipt)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            id,
            head.count + 1,
            at,
            plan.selection.kind(),
            plan.order_id,
            sha,
            n,
            receipt_name,
            receipt.as_bytes()
        ],
    )?;
    audit::append(
        tx,
        vid,
        &Event {
            kind: events::SEEDS_DESTROYED,
            actors: officer_names.to_vec(),
            data: json!({
                "destruction_id": id,
                "selection": plan.selection.kind(),
                "order_id": plan.order_id,
                "count": n,
                "parts": parts,
                "serials_sha256": sha,
                "reason": plan.reason,
                "destroyed_at": at,
                "officers": officer_list.iter().map(|(n, f)| json!({"name": n, "fingerprint": f})).collect::<Vec<_>>(),
                "statement": statement,
                "signatures": signatures,
                "batches_shredded": shredded,
                "receipt": receipt_name,
                "receipt_sha256": receipt_sha,
            }),
        },
    )?;
    Ok::<_, VaultError>((shredded, receipt, receipt_sha))
}

/// Threads opening seeds before their destruction.
const OPEN_THREADS: usize = 2;
/// Seeds per chunk handed to an opening thread.
const OPEN_CHUNK: usize = 8192;

/// Rows read for opening, with the data keys they name.
#[derive(Default)]
struct OpenChunk {
    /// (serial, data key id, parameter set id, sealed bytes).
    rows: Vec<(String, i64, i64, Vec<u8>)>,
    keys: HashMap<i64, std::sync::Arc<crate::crypto::SealingKey>>,
}

/// Opens every seed of the chunks it receives (each dropped at once: the
/// seed wipes itself); the first seed that does not open stops it with its
/// fault, naming the serial.
fn open_chunks(
    chunks: &std::sync::Mutex<std::sync::mpsc::Receiver<OpenChunk>>,
    sets: &HashMap<i64, Option<String>>,
    vault_id: crate::cards::VaultId,
) -> Result<(), VaultError> {
    let mut aad = SeedAad::new(vault_id);
    loop {
        let next = match chunks.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return Err(VaultError::Crypto("a seed-opening thread panicked".into())),
        };
        let Ok(chunk) = next else {
            return Ok(());
        };
        for (serial, dk, pid, sealed) in &chunk.rows {
            let params_sha = match sets.get(pid) {
                Some(Some(h)) => h.as_str(),
                Some(None) => {
                    return Err(crate::vault::seeds::seed_fault(
                        serial,
                        crate::vault::SeedFault::ParamsUnreadable { set: *pid },
                    ))
                }
                None => {
                    return Err(crate::vault::seeds::seed_fault(
                        serial,
                        crate::vault::SeedFault::ParamsMissing { set: *pid },
                    ))
                }
            };
            let key = chunk
                .keys
                .get(dk)
                .ok_or_else(|| VaultError::Crypto(format!("data key {dk} was not loaded")))?;
            drop(crate::vault::seeds::open_seed(
                key, &mut aad, serial, *dk, params_sha, sealed,
            )?);
        }
    }
}

/// Whether the log is still at `head`, but for the `vault.unsealed` entry
/// of this very session (the CLI plans with the vault sealed, then asks
/// for the cards): nothing a plan reads has changed.
fn log_unchanged_since(conn: &rusqlite::Connection, head: audit::Head) -> Result<bool, VaultError> {
    let seq = i64::try_from(head.count).unwrap_or(i64::MAX);
    let hash: Option<Vec<u8>> = conn
        .query_row("SELECT hash FROM audit WHERE seq = ?1", [seq], |r| r.get(0))
        .optional()?;
    if head.count > 0 && hash.as_deref() != Some(&head.hash[..]) {
        return Ok(false);
    }
    let other: i64 = conn.query_row(
        "SELECT count(*) FROM audit WHERE seq > ?1
         AND json_extract(CAST(body AS TEXT), '$.event') IS NOT ?2",
        rusqlite::params![seq, events::UNSEAL],
        |r| r.get(0),
    )?;
    Ok(other == 0)
}
