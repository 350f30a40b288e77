//! Batch generation: seeds for a production run, made inside the vault,
//! sealed like an ingested batch, and sent to the factory as a burn file
//! encrypted to the factory's key and signed by the vault.
//!
//! Interrupted at any point, the vault holds the seeds and the medium both
//! files, or neither: the burn file and its manifest are written under
//! temporary names (`.NAME.partial`) and fsynced *inside* the transaction
//! that stores the seeds and logs `batch.generated` (with both files'
//! SHA-256); only after that transaction has committed are they linked to
//! their final names. A kill before the commit leaves no seed and no final
//! file (a re-run removes the partial files and starts afresh); a kill
//! after it leaves the seeds and the partial files the log vouches for,
//! and a re-run of the same command moves them into place
//! (`docs/decisions/2026-11-29-batch-generation.md`).

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use serde_json::json;
use zeroize::Zeroizing;

use super::crash::point as crash_point;
use super::export::{check_media, check_room, partial_of};
use super::ingest::{self, SealedRow};
use super::{clock, keys, UnsealedVault, VaultError};
use crate::audit::{self, events, Event};
use crate::crypto::{self, random, CounterSealer, Key32, Sha256};
use crate::formats::{self, Format, FormatError, WriteOptions};
use crate::pgp::{self, PgpError, RecipientCert};
use crate::token::{Algorithm, OtpKind, Seed, Serial, Token, TokenParams};

/// Seeds made, sealed and handed on at a time.
const CHUNK: usize = 1024;
/// The most seeds one run generates.
pub const MAX_COUNT: u64 = 10_000_000;

/// What to generate.
#[derive(Debug)]
pub struct GenerateSpec<'a> {
    /// How many tokens.
    pub count: u64,
    /// The first serial's number, as the officer typed it: its length is
    /// the width every serial's number is zero-padded to.
    pub first_serial: &'a str,
    /// Letters, digits and `-` put before every number (may be empty).
    pub serial_prefix: &'a str,
    /// The tokens' parameters (the same for the whole batch).
    pub params: TokenParams,
    /// The factory's OpenPGP certificate (armored or binary).
    pub factory_key: &'a [u8],
    /// Where the certificate came from, for messages.
    pub factory_key_name: &'a str,
    /// The burn file's format.
    pub format: Format,
    /// The medium the burn file goes to.
    pub media: &'a Path,
    /// A label for the batch (e.g. the production run's reference).
    pub label: Option<String>,
}

/// A generated batch and its files on the medium.
#[derive(Debug, Clone, Serialize)]
pub struct GenerateOutcome {
    /// Batch id.
    pub batch_id: i64,
    /// Tokens generated.
    pub count: u64,
    /// First serial.
    pub first_serial: String,
    /// Last serial.
    pub last_serial: String,
    /// The burn file's format.
    pub format: String,
    /// The factory key's primary fingerprint.
    pub factory_fingerprint: String,
    /// The burn file (encrypted to the factory, signed by the vault).
    pub burn_file: PathBuf,
    /// Its SHA-256.
    pub burn_sha256: String,
    /// The clearsigned manifest.
    pub manifest: PathBuf,
    /// Its SHA-256.
    pub manifest_sha256: String,
    /// Whether this run only finished an interrupted one (moved the files
    /// its committed batch vouches for into place) rather than generating.
    pub finished_interrupted: bool,
}

/// Parses `--params KIND,ALG,DIGITS,STEP`: `totp,sha1,6,30` (STEP the time
/// step in seconds) or `hotp,sha256,8,0` (STEP the initial counter).
pub fn parse_params(
    text: &str,
    manufacturer: Option<String>,
    model: Option<String>,
) -> Result<TokenParams, String> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    let [kind, alg, digits, step] = parts[..] else {
        return Err(format!(
            "--params takes KIND,ALG,DIGITS,STEP (e.g. totp,sha1,6,30); {} field(s) given",
            parts.len()
        ));
    };
    let algorithm = Algorithm::parse(alg)
        .ok_or("--params: the algorithm must be sha1, sha256 or sha512".to_owned())?;
    let digits = match digits {
        "6" => 6,
        "8" => 8,
        _ => return Err("--params: digits must be 6 or 8".into()),
    };
    let kind = match kind.to_ascii_lowercase().as_str() {
        "totp" => {
            let period: u32 = step
                .parse()
                .ok()
                .filter(|p| (1..=3600).contains(p))
                .ok_or("--params: a TOTP time step is whole seconds from 1 to 3600")?;
            OtpKind::Totp { period }
        }
        "hotp" => OtpKind::Hotp {
            counter: step
                .parse()
                .map_err(|_| "--params: an HOTP initial counter is a whole number")?,
        },
        _ => return Err("--params: the kind must be totp or hotp".into()),
    };
    for (what, v) in [("--manufacturer", &manufacturer), ("--model", &model)] {
        if v.as_deref().is_some_and(|v| {
            v.trim().is_empty() || v.len() > 128 || v.chars().any(char::is_control)
        }) {
            return Err(format!(
                "{what} must be 1 to 128 characters with no control character"
            ));
        }
    }
    Ok(TokenParams {
        algorithm,
        digits,
        kind,
        manufacturer,
        model,
    })
}

/// Seed length for an algorithm: 160 bits for SHA1 (RFC 4226's
/// recommendation), the hash's output length for SHA256 and SHA512.
pub fn seed_len(algorithm: Algorithm) -> usize {
    match algorithm {
        Algorithm::Sha1 => 20,
        Algorithm::Sha256 => 32,
        Algorithm::Sha512 => 64,
    }
}

/// The serials of a batch: a prefix and a number zero-padded to a fixed
/// width, so serials sort as their numbers do.
#[derive(Debug, Clone)]
struct SerialRange {
    prefix: String,
    first: u64,
    width: usize,
    count: u64,
}

impl SerialRange {
    fn new(prefix: &str, first: &str, count: u64) -> Result<Self, VaultError> {
        let refused = |m: String| Err(VaultError::Refused(m));
        if count == 0 || count > MAX_COUNT {
            return refused(format!("--count must be 1 to {MAX_COUNT}"));
        }
        let first_t = first.trim();
        if first_t.is_empty() || first_t.len() > 18 || !first_t.bytes().all(|b| b.is_ascii_digit())
        {
            return refused(
                "--first-serial must be 1 to 18 digits (its length is the width every number is zero-padded to)".into(),
            );
        }
        let width = first_t.len();
        let n: u64 = first_t
            .parse()
            .map_err(|_| VaultError::Refused("--first-serial is not a number".into()))?;
        let last = n + (count - 1);
        if last.to_string().len() > width {
            return refused(format!(
                "--first-serial {first_t} has {width} digit(s), but the {count} serials would run to {last}: give a wider first serial (e.g. with leading zeros)"
            ));
        }
        let range = SerialRange {
            prefix: prefix.trim().to_owned(),
            first: n,
            width,
            count,
        };
        for s in [range.serial(0), range.serial(count - 1)] {
            Serial::parse(&s).map_err(|e| {
                VaultError::Refused(format!("--serial-prefix with --first-serial: {e}"))
            })?;
        }
        Ok(range)
    }

    /// The `i`th serial (from 0).
    fn serial(&self, i: u64) -> String {
        format!("{}{:0w$}", self.prefix, self.first + i, w = self.width)
    }

    /// Whether `s` is one of the range's serials (given that it sorts
    /// between the first and the last).
    fn holds(&self, s: &str) -> bool {
        s.len() == self.prefix.len() + self.width
            && s.starts_with(&self.prefix)
            && s[self.prefix.len()..].bytes().all(|b| b.is_ascii_digit())
    }
}

/// The first serial of `range` the vault has ever held, and where it was
/// found: the seeds table, any log entry naming a serial (voids, orders,
/// destructions: through the index), and every batch's logged serial
/// lists (which outlive destroyed seed rows).
fn first_clash(
    conn: &rusqlite::Connection,
    range: &SerialRange,
) -> Result<Option<(String, String)>, VaultError> {
    let (lo, hi) = (range.serial(0), range.serial(range.count - 1));
    let len = i64::try_from(lo.len()).unwrap_or(i64::MAX);
    let mut best: Option<(String, String)> = None;
    let mut consider = |s: String, where_: String| {
        if range.holds(&s) && best.as_ref().is_none_or(|(b, _)| s < *b) {
            best = Some((s, where_));
        }
    };
    let mut st = conn.prepare(
        "SELECT serial, batch_id FROM seeds WHERE serial >= ?1 AND serial <= ?2 AND length(serial) = ?3 ORDER BY serial",
    )?;
    let mut rows = st.query(params![lo, hi, len])?;
    while let Some(r) = rows.next()? {
        let (s, b): (String, i64) = (r.get(0)?, r.get(1)?);
        if range.holds(&s) {
            consider(s, format!("it is in batch {b}"));
            break;
        }
    }
    let mut st = conn.prepare(
        "SELECT value, min(seq) FROM audit_index WHERE key = 'serial' AND value >= ?1 AND value <= ?2 AND length(value) = ?3 GROUP BY value ORDER BY value",
    )?;
    let mut rows = st.query(params![lo, hi, len])?;
    while let Some(r) = rows.next()? {
        let (s, seq): (String, i64) = (r.get(0)?, r.get(1)?);
        if range.holds(&s) {
            consider(s, format!("audit entry {seq} names it"));
            break;
        }
    }
    // Every batch's serial list, read from the entries themselves.
    let mut st = conn.prepare(
        "SELECT a.seq, a.body FROM audit_index i JOIN audit a ON a.seq = i.seq \
         WHERE i.key = 'event' AND i.value = ?1 ORDER BY a.seq",
    )?;
    let mut rows = st.query([events::BATCH_SERIALS])?;
    #[derive(serde::Deserialize)]
    struct Part {
        data: PartData,
    }
    #[derive(serde::Deserialize)]
    struct PartData {
        batch_id: i64,
        serials: Vec<String>,
    }
    while let Some(r) = rows.next()? {
        let (seq, body): (i64, Vec<u8>) = (r.get(0)?, r.get(1)?);
        let Ok(part) = serde_json::from_slice::<Part>(&body) else {
            continue;
        };
        if let Some(s) = part
            .data
            .serials
            .into_iter()
            .filter(|s| s.as_str() >= lo.as_str() && s.as_str() <= hi.as_str() && range.holds(s))
            .min()
        {
            consider(
                s,
                format!("batch {} held it (audit entry {seq})", part.data.batch_id),
            );
        }
    }
    Ok(best)
}

/// Why the burn file could not be made.
enum BurnError {
    Pgp(PgpError),
    Format(FormatError),
}

impl From<PgpError> for BurnError {
    fn from(e: PgpError) -> Self {
        BurnError::Pgp(e)
    }
}

/// The burn file as it is written: buffered, hashed on the way.
struct HashingFile {
    out: BufWriter<File>,
    hash: Sha256,
}

impl Write for HashingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> VaultError + '_ {
    move |source| VaultError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Creates `path` (never over an existing file) and remembers it in
/// `written` as this run's.
fn create_new(path: &Path, written: &mut Vec<PathBuf>) -> Result<File, VaultError> {
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                VaultError::WouldOverwrite(path.to_owned())
            } else {
                VaultError::Io {
                    path: path.to_owned(),
                    source: e,
                }
            }
        })?;
    written.push(path.to_owned());
    Ok(f)
}

/// A seed of `len` random bytes that passes the ingest checks, starting
/// from the bytes of `candidate` (drawn again, should they ever be weak).
fn fresh_seed(candidate: &[u8]) -> Result<Seed, VaultError> {
    let mut bytes = candidate.to_vec();
    loop {
        match Seed::new(bytes) {
            Ok(s) => return Ok(s),
            Err(_) => {
                // Astronomically unlikely (all one byte value): draw again.
                let mut again = vec![0u8; candidate.len()];
                random::fill(&mut again).map_err(|e| VaultError::Crypto(e.to_string()))?;
                bytes = again;
            }
        }
    }
}

/// What the transaction committed.
struct Committed {
    batch_id: i64,
    burn_sha256: String,
    manifest_sha256: String,
}

/// Room asked of the medium: the burn file's plaintext per token (serial,
/// seed in text, the format's other fields), armored, plus the manifest.
fn room_needed(spec: &GenerateSpec<'_>, serial_len: usize) -> u64 {
    let per_token = match spec.format {
        Format::Pskc => 1200,
        _ => 48,
    } + serial_len
        + 2 * seed_len(spec.params.algorithm)
        + spec.params.manufacturer.as_deref().map_or(0, str::len)
        + spec.params.model.as_deref().map_or(0, str::len);
    let per_token = u64::try_from(per_token).unwrap_or(u64::MAX);
    spec.count.saturating_mul(per_token).saturating_mul(4) / 3 + 256 * 1024
}

impl UnsealedVault {
    /// Generates a production batch: `spec.count` seeds from the OS
    /// CSPRNG, sealed and logged (`batch.generated`) like an ingested
    /// batch, and the burn file for the factory (encrypted to its key,
    /// signed by the vault) with a clearsigned manifest on `spec.media`.
    ///
    /// Everything is checked before anything is written: the parameters
    /// and the format, the factory key (as a customer's), every serial
    /// against every serial the vault ever held, the medium and its room.
    /// Run again after an interruption, it either starts afresh or (when
    /// the batch had committed) moves the files into place.
    pub fn generate_batch(
        &mut self,
        spec: &GenerateSpec<'_>,
    ) -> Result<GenerateOutcome, VaultError> {
        let range = SerialRange::new(spec.serial_prefix, spec.first_serial, spec.count)?;
        let (lo, hi) = (range.serial(0), range.serial(spec.count - 1));
        let slen = seed_len(spec.params.algorithm);
        if let Some(why) = formats::cannot_carry(spec.format, &spec.params, slen) {
            return Err(VaultError::Refused(format!(
                "the burn file cannot be written as {}: {why}; nothing was written",
                spec.format.name()
            )));
        }
        let factory = RecipientCert::parse(spec.factory_key, clock::now()).map_err(|ps| {
            let ps: Vec<String> = ps.iter().map(ToString::to_string).collect();
            VaultError::Refused(format!(
                "factory key {}: {}; nothing was written",
                spec.factory_key_name,
                ps.join("; ")
            ))
        })?;
        let media = check_media(spec.media, self.vault().dir())?;
        let stem = format!("burn-{lo}-{hi}");
        let burn = media.join(format!("{stem}.{}.asc", spec.format.extension()));
        let manifest = media.join(format!("{stem}.manifest.asc"));

        if let Some(done) = self.finish_interrupted(&range, &media, &burn, &manifest)? {
            return Ok(done);
        }
        if let Some((serial, where_)) = first_clash(self.vault().store().conn(), &range)? {
            return Err(VaultError::Refused(format!(
                "serials {lo} to {hi} overlap serials the vault has held: the first is {serial} ({where_}); nothing was written"
            )));
        }
        for p in [&burn, &manifest] {
            if p.exists() {
                return Err(VaultError::WouldOverwrite(p.clone()));
            }
        }
        // Partial files of a run that died before its commit: they hold
        // ciphertext of seeds the vault never stored, for no one. A run
        // still writing holds a lock on its burn file: that one is left.
        let burn_partial = partial_of(&media, &burn);
        if burn_partial.is_file() {
            let f = File::open(&burn_partial).map_err(io_err(&burn_partial))?;
            if rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err()
            {
                return Err(VaultError::Refused(format!(
                    "{} is being written by another `batch generate` of these serials; nothing was written",
                    burn_partial.display()
                )));
            }
        }
        for p in [&burn, &manifest] {
            let partial = partial_of(&media, p);
            if partial.is_file() {
                fs::remove_file(&partial).map_err(io_err(&partial))?;
            }
        }
        check_room(&media, room_needed(spec, lo.len()))?;

        let mut written = Vec::new();
        let committed =
            self.generate_commit(spec, &range, &factory, &burn, &manifest, &mut written);
        let committed = match committed {
            Ok(c) => c,
            Err(e) => {
                for p in written.iter().rev() {
                    let _ = fs::remove_file(p);
                }
                let _ = super::init::sync_dir(&media);
                return Err(e);
            }
        };
        crash_point("generate-committed");
        let out = GenerateOutcome {
            batch_id: committed.batch_id,
            count: spec.count,
            first_serial: lo,
            last_serial: hi,
            format: spec.format.name().into(),
            factory_fingerprint: factory.fingerprint(),
            burn_file: burn,
            burn_sha256: committed.burn_sha256,
            manifest,
            manifest_sha256: committed.manifest_sha256,
            finished_interrupted: false,
        };
        place_files(&media, &out)?;
        Ok(out)
    }

    /// The one transaction: seeds made, sealed and stored, the burn file and
    /// manifest written and synced under their temporary names, the batch
    /// logged. Returns once it has committed.
    fn generate_commit(
        &mut self,
        spec: &GenerateSpec<'_>,
        range: &SerialRange,
        factory: &RecipientCert,
        burn: &Path,
        manifest: &Path,
        written: &mut Vec<PathBuf>,
    ) -> Result<Committed, VaultError> {
        let media = burn.parent().map(Path::to_owned).unwrap_or_default();
        let info = self.vault().info().clone();
        let vault_id = info.vault_id;
        let vid = vault_id.to_string();
        let officers = self.officer_names();
        let vault_key = self.vault_key()?;
        let (dk, dk_id, wrapped) = self.new_data_key()?;
        let (format, params, count) = (spec.format, &spec.params, spec.count);
        let burn_tmp = partial_of(&media, burn);
        let manifest_tmp = partial_of(&media, manifest);
        let name_of = |p: &Path| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let (burn_name, manifest_name) = (name_of(burn), name_of(manifest));
        let (lo, hi) = (range.serial(0), range.serial(count - 1));
        let mut locks = Vec::new();

        // Inserts the batch, data key and parameter set its seeds point to.
        self.vault_mut().store_mut().write_own_references(|tx| {
            let now_dk: i64 =
                tx.query_row("SELECT coalesce(max(id), 0) + 1 FROM data_keys", [], |r| {
                    r.get(0)
                })?;
            if now_dk != dk_id {
                return Err(VaultError::VaultChanged {
                    command: "batch generate",
                });
            }
            tx.execute(
                "INSERT INTO data_keys (id, key_version, wrapped) VALUES (?1, ?2, ?3)",
                params![dk_id, info.key_version, wrapped],
            )?;
            let officers_json = serde_json::to_string(&officers)
                .map_err(|e| VaultError::Crypto(e.to_string()))?;
            tx.execute(
                "INSERT INTO batches (label, source_sha256, format, count, officers, created_at, data_key_id, audit_seq)
                 VALUES (?1, '', ?2, 0, ?3, ?4, ?5, 0)",
                params![spec.label, format.name(), officers_json, audit::now_rfc3339(), dk_id],
            )?;
            let batch_id = tx.last_insert_rowid();

            let file = create_new(&burn_tmp, written)?;
            // Held until this function returns (after the commit): a second
            // run of these serials sees the file is being written.
            let lock = file.try_clone().map_err(io_err(&burn_tmp))?;
            rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
                .map_err(|e| io_err(&burn_tmp)(e.into()))?;
            locks.push(lock);
            let (stored, burned) = make_seeds(
                tx, vault_id, &officers, batch_id, dk_id, dk, range, params, format, factory,
                &vault_key, file,
            );
            let burn_sha256 = burned.map_err(|e| match e {
                BurnError::Pgp(PgpError::Io(source)) => VaultError::Io {
                    path: burn_tmp.clone(),
                    source,
                },
                BurnError::Pgp(p) => VaultError::Refused(format!(
                    "cannot encrypt the burn file to the factory key: {p}"
                )),
                BurnError::Format(f) => VaultError::Refused(format!(
                    "cannot write the burn file as {format}: {f}"
                )),
            })?;
            let stored = stored?;
            if stored.count != count {
                return Err(VaultError::Crypto(format!(
                    "{} of {count} seeds were stored; nothing was kept",
                    stored.count
                )));
            }
            crash_point("generate-burn-written");

            let text = manifest_text(&ManifestFields {
                info: &info,
                batch_id,
                factory,
                format,
                params,
                count,
                lo: &lo,
                hi: &hi,
                burn_name: &burn_name,
                burn_sha256: &burn_sha256,
                officers: &officers,
            });
            let signed = pgp::clearsign(&vault_key, &text).map_err(VaultError::Pgp)?;
            let mut f = create_new(&manifest_tmp, written)?;
            f.write_all(signed.as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(io_err(&manifest_tmp))?;
            super::init::sync_dir(&media)?;
            let manifest_sha256 = crypto::hex(&crypto::sha256(signed.as_bytes()));
            crash_point("generate-manifest-written");

            let head = audit::append(
                tx,
                &vid,
                &Event {
                    kind: events::BATCH_GENERATED,
                    actors: officers.clone(),
                    data: json!({
                        "batch_id": batch_id,
                        "label": spec.label,
                        "source_sha256": burn_sha256,
                        "format": format.name(),
                        "count": stored.count,
                        "parts": stored.parts,
                        "serials_sha256": stored.serials_sha256,
                        "params": stored.params,
                        "first_serial": lo,
                        "last_serial": hi,
                        "factory_fingerprint": factory.fingerprint(),
                        "factory_subkeys": factory.encryption_subkey_fingerprints(),
                        "burn_file": burn_name,
                        "burn_sha256": burn_sha256,
                        "manifest": manifest_name,
                        "manifest_sha256": manifest_sha256,
                    }),
                },
            )?;
            tx.execute(
                "UPDATE batches SET count = ?1, source_sha256 = ?2, audit_seq = ?3 WHERE id = ?4",
                params![stored.count, burn_sha256, head.count, batch_id],
            )?;
            crash_point("generate-before-commit");
            Ok(Committed {
                batch_id,
                burn_sha256,
                manifest_sha256,
            })
        })
    }

    /// A re-run of a generate whose batch committed but whose files were not
    /// all moved into place: the batch holding the first serial was
    /// generated for exactly this range, and its entry names the files and
    /// their SHA-256. Moves them into place and returns the batch; `None`
    /// when this is not such a re-run.
    fn finish_interrupted(
        &self,
        range: &SerialRange,
        media: &Path,
        burn: &Path,
        manifest: &Path,
    ) -> Result<Option<GenerateOutcome>, VaultError> {
        let conn = self.vault().store().conn();
        let (lo, hi) = (range.serial(0), range.serial(range.count - 1));
        let row: Option<(i64, i64)> = conn
            .query_row(
                "SELECT b.id, b.audit_seq FROM seeds s JOIN batches b ON b.id = s.batch_id WHERE s.serial = ?1",
                [&lo],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((batch_id, seq)) = row else {
            return Ok(None);
        };
        let entry: Option<(Vec<u8>, Vec<u8>)> = conn
            .query_row("SELECT body, hash FROM audit WHERE seq = ?1", [seq], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let Some((body, hash)) = entry else {
            return Ok(None);
        };
        let Some(d) =
            super::query::batch_entry_data(seq, &body, &hash, events::BATCH_INGESTED, batch_id)?
        else {
            return Ok(None);
        };
        let text = |k: &str| d[k].as_str().unwrap_or_default().to_owned();
        let name_of = |p: &Path| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        if text("first_serial") != lo
            || text("last_serial") != hi
            || d["count"].as_u64() != Some(range.count)
            || text("burn_file") != name_of(burn)
            || text("manifest") != name_of(manifest)
        {
            return Ok(None);
        }
        let out = GenerateOutcome {
            batch_id,
            count: range.count,
            first_serial: lo,
            last_serial: hi,
            format: text("format"),
            factory_fingerprint: text("factory_fingerprint"),
            burn_file: burn.to_owned(),
            burn_sha256: text("burn_sha256"),
            manifest: manifest.to_owned(),
            manifest_sha256: text("manifest_sha256"),
            finished_interrupted: true,
        };
        place_files(media, &out)?;
        Ok(Some(out))
    }
}

/// Links the burn file and the manifest from their temporary names to
/// their final ones (never over another file), removes the temporary
/// names, syncs the directory, and reads both back against the SHA-256 the
/// log holds. Already in place: only the read-back.
fn place_files(media: &Path, out: &GenerateOutcome) -> Result<(), VaultError> {
    let files = [
        (&out.burn_file, &out.burn_sha256, true),
        (&out.manifest, &out.manifest_sha256, false),
    ];
    for (path, sha, is_burn) in files {
        let partial = partial_of(media, path);
        if !path.exists() {
            if !partial.is_file() {
                return Err(VaultError::Refused(format!(
                    "batch {} was generated, but neither {} nor its temporary copy {} is on this medium: give the --media of the interrupted run",
                    out.batch_id,
                    path.display(),
                    partial.display()
                )));
            }
            if ingest::file_sha256(&partial).map_err(io_err(&partial))? != *sha {
                return Err(VaultError::Tampered(format!(
                    "{} is not the file batch {} logged (SHA-256 differs)",
                    partial.display(),
                    out.batch_id
                )));
            }
            fs::hard_link(&partial, path).map_err(io_err(path))?;
        }
        if partial.exists() {
            fs::remove_file(&partial).map_err(io_err(&partial))?;
        }
        super::init::sync_dir(media)?;
        if is_burn {
            crash_point("generate-burn-placed");
        } else {
            crash_point("generate-manifest-placed");
        }
    }
    for (path, sha, _) in files {
        if ingest::file_sha256(path).map_err(io_err(path))? != *sha {
            return Err(VaultError::ReadBackMismatch {
                path: path.to_owned(),
            });
        }
    }
    Ok(())
}

/// Makes the seeds: one thread draws and seals them, another writes the
/// burn file (format, encrypt, sign) to `file`, and this one (it holds the
/// transaction) stores the sealed rows. Plaintext never reaches this
/// thread. Returns what was stored and the burn file's SHA-256 (synced).
#[allow(clippy::too_many_arguments)]
fn make_seeds(
    tx: &rusqlite::Transaction<'_>,
    vault_id: crate::cards::VaultId,
    officers: &[String],
    batch_id: i64,
    dk_id: i64,
    dk: Key32,
    range: &SerialRange,
    params: &TokenParams,
    format: Format,
    factory: &RecipientCert,
    vault_key: &pgp::SecretCert,
    file: File,
) -> (
    Result<ingest::SealedBatch, VaultError>,
    Result<String, BurnError>,
) {
    let slen = seed_len(params.algorithm);
    std::thread::scope(|scope| {
        let (to_db, rows) = std::sync::mpsc::sync_channel::<Vec<SealedRow>>(8);
        let (to_burn, tokens) = std::sync::mpsc::sync_channel::<Vec<Token>>(8);
        let maker = scope.spawn(move || -> Result<(), VaultError> {
            let mut sealer = CounterSealer::new(dk);
            let mut aad = keys::SeedAad::new(vault_id);
            let digest = params.sha256_hex();
            // Holds seed plaintext: wiped on drop.
            let mut buf = Zeroizing::new(vec![0u8; CHUNK * slen]);
            let mut i = 0u64;
            while i < range.count {
                let n = usize::try_from((range.count - i).min(CHUNK as u64)).unwrap_or(CHUNK);
                random::fill(&mut buf[..n * slen])
                    .map_err(|e| VaultError::Crypto(e.to_string()))?;
                let mut sealed = Vec::with_capacity(n);
                let mut plain = Vec::with_capacity(n);
                for (k, bytes) in buf[..n * slen].chunks_exact(slen).enumerate() {
                    let serial = range.serial(i + k as u64);
                    let seed = fresh_seed(bytes)?;
                    let ct = sealer
                        .seal(aad.of(&serial, dk_id, &digest), seed.expose())
                        .map_err(|e| VaultError::Crypto(e.to_string()))?;
                    let parsed = Serial::parse(&serial)
                        .map_err(|e| VaultError::Refused(format!("serial {serial}: {e}")))?;
                    sealed.push((serial, ct));
                    plain.push(Token {
                        serial: parsed,
                        seed,
                        params: params.clone(),
                    });
                }
                // A closed channel: the other side failed, and its error is
                // the one reported.
                if to_burn.send(plain).is_err() || to_db.send(sealed).is_err() {
                    return Ok(());
                }
                i += n as u64;
            }
            Ok(())
        });
        let burner = scope.spawn(move || -> Result<String, BurnError> {
            let mut sink = HashingFile {
                out: BufWriter::with_capacity(1 << 20, file),
                hash: Sha256::new(),
            };
            pgp::encrypt_and_sign_with(
                factory,
                vault_key,
                &mut sink,
                pgp::Framing::Armored,
                |w| {
                    let mut out = formats::Writer::new(format, w, &WriteOptions::default())
                        .map_err(BurnError::Format)?;
                    for chunk in tokens {
                        for t in &chunk {
                            out.push(t).map_err(BurnError::Format)?;
                        }
                    }
                    out.finish().map_err(BurnError::Format)
                },
            )?;
            sink.out.flush().map_err(PgpError::Io)?;
            let file = sink
                .out
                .into_inner()
                .map_err(|e| PgpError::Io(e.into_error()))?;
            file.sync_all().map_err(PgpError::Io)?;
            Ok(crypto::hex(&sink.hash.finish()))
        });
        let vid = vault_id.to_string();
        let stored = ingest::insert_sealed(tx, &vid, officers, batch_id, dk_id, params, rows)
            .map_err(|e| match e {
                ingest::IngestError::Vault(v) => v,
                other => VaultError::Refused(format!("{other}")),
            });
        let made = maker
            .join()
            .unwrap_or_else(|_| Err(VaultError::Crypto("the seed maker panicked".into())));
        let burned = burner.join().unwrap_or_else(|_| {
            Err(BurnError::Pgp(PgpError::Io(std::io::Error::other(
                "the burn file writer panicked",
            ))))
        });
        (made.and(stored), burned)
    })
}

/// What the manifest says.
struct ManifestFields<'a> {
    info: &'a super::VaultInfo,
    batch_id: i64,
    factory: &'a RecipientCert,
    format: Format,
    params: &'a TokenParams,
    count: u64,
    lo: &'a str,
    hi: &'a str,
    burn_name: &'a str,
    burn_sha256: &'a str,
    officers: &'a [String],
}

/// The manifest's text (`docs/formats.md`, "Burn file and its manifest").
fn manifest_text(m: &ManifestFields<'_>) -> String {
    let p = m.params;
    let mut t = String::from("seedvault burn file manifest v1\n");
    t += &format!("vault: {}\n", m.info.vault_id);
    t += if m.info.test_vault {
        "test-vault: yes (made with --insecure-fast-kdf; NOT FOR REAL SEEDS)\n"
    } else {
        "test-vault: no\n"
    };
    t += &format!("batch: {}\n", m.batch_id);
    t += &format!("factory-key: {}\n", m.factory.fingerprint());
    t += &format!(
        "encryption-subkeys: {}\n",
        m.factory.encryption_subkey_fingerprints().join(" ")
    );
    t += &format!("format: {}\n", m.format.name());
    let (kind, step) = match p.kind {
        OtpKind::Totp { period } => ("totp", period.to_string()),
        OtpKind::Hotp { counter } => ("hotp", counter.to_string()),
    };
    t += &format!(
        "params: {kind},{},{},{step}\n",
        p.algorithm.name().to_ascii_lowercase(),
        p.digits
    );
    // Checked at parse: no control character, so no extra line.
    if let Some(v) = &p.manufacturer {
        t += &format!("manufacturer: {v}\n");
    }
    if let Some(v) = &p.model {
        t += &format!("model: {v}\n");
    }
    t += &format!(
        "count: {}\nfirst-serial: {}\nlast-serial: {}\n",
        m.count, m.lo, m.hi
    );
    t += &format!(
        "burn-file: {}\nburn-file-sha256: {}\n",
        m.burn_name, m.burn_sha256
    );
    t += &format!(
        "generated-by: {}\ngenerated-at: {}\n",
        m.officers.join(", "),
        audit::now_rfc3339()
    );
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_zero_padded_to_the_first_serials_width() {
        let r = SerialRange::new("TK-", "000990", 20).unwrap();
        assert_eq!(r.serial(0), "TK-000990");
        assert_eq!(r.serial(19), "TK-001009");
        assert!(r.holds("TK-001000"));
        assert!(!r.holds("TK-00100A"));
        let e = SerialRange::new("", "990", 20).unwrap_err().to_string();
        assert!(e.contains("run to 1009"), "{e}");
        assert!(SerialRange::new("-X", "1", 1).is_err());
        assert!(SerialRange::new("", "12a", 1).is_err());
    }

    #[test]
    fn params_parse_and_refuse_by_field() {
        let p = parse_params("totp,sha256,8,60", None, None).unwrap();
        assert_eq!(p.algorithm, Algorithm::Sha256);
        assert_eq!(p.digits, 8);
        assert_eq!(p.kind, OtpKind::Totp { period: 60 });
        assert!(parse_params("totp,md5,6,30", None, None)
            .unwrap_err()
            .contains("algorithm"));
        assert!(parse_params("totp,sha1,7,30", None, None)
            .unwrap_err()
            .contains("digits"));
        assert!(parse_params("totp,sha1,6", None, None)
            .unwrap_err()
            .contains("3 field"));
        assert_eq!(seed_len(Algorithm::Sha512), 64);
    }
}
