//! Signed checkpoints: the only defence of a hash chain against its own
//! tail.
//!
//! The chain proves every entry relative to the head, but a log cut short
//! (or a whole database rolled back to an older copy, or rewritten from
//! some entry on with every later hash recomputed) is again a consistent
//! chain. A checkpoint pins one point of the log, `entries` and the hash of
//! entry `entries`, under the vault key's signature, and is kept outside
//! the vault (removable media, an auditor's files). A log extends a
//! checkpoint when it has at least `entries` entries and entry `entries`
//! still hashes to `head`.
//!
//! The document is small, line-oriented and clearsigned, so `gpg --verify`
//! checks it with `vault-cert.asc` and a person reads it without tools.
//! A checkpoint is *not* an audit entry: writing one changes no state the
//! log describes, and making it an entry would move the head it pins.
//! Checkpoints are kept in the `checkpoints` table (outside the chain).

use std::fmt;

use rusqlite::{params, Connection, OptionalExtension};

use super::{AuditError, Head};
use crate::crypto;
use crate::pgp::{self, PgpError, SecretCert};

/// First line of every checkpoint document.
pub const MAGIC: &str = "seedvault checkpoint v1";

/// What a checkpoint states. Its text form ([`Checkpoint::document`]) is
/// what the vault key signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The vault's id (16 lower-case hex digits).
    pub vault_id: String,
    /// How many entries the log had.
    pub entries: u64,
    /// SHA-256 of entry `entries`.
    pub head: [u8; 32],
    /// When it was made (RFC 3339 UTC, seconds).
    pub time: String,
}

/// Why a checkpoint was refused, or why the log does not extend it.
/// Every variant but the last three means the checkpoint itself cannot be
/// trusted; the last three mean the log was changed behind the vault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Not a clearsigned document at all, or a signature that cannot be parsed.
    #[error("not a signed checkpoint: {0}")]
    NotSigned(String),
    /// Signed text that is not a checkpoint document.
    #[error("not a seedvault checkpoint: {0}")]
    Malformed(String),
    /// A checkpoint that names another vault.
    #[error("it is a checkpoint of vault {claimed}, not of this vault {vault} (the vault database was replaced, or this is another vault's checkpoint)")]
    OtherVault {
        /// The vault the checkpoint names.
        claimed: String,
        /// This vault.
        vault: String,
    },
    /// The vault key's signature does not match the text.
    #[error("its signature does not match its text: the checkpoint was edited or its signature replaced")]
    Edited,
    /// Signed, but not by this vault's key.
    #[error("it is signed by an unknown key {signer}, not by this vault's key {vault}")]
    UnknownSigner {
        /// Who signed it (key ids or fingerprints).
        signer: String,
        /// The vault key's fingerprint.
        vault: String,
    },
    /// The vault key signed it, but the signature cannot be accepted.
    #[error("its signature cannot be accepted: {0}")]
    Rejected(String),
    /// The log is shorter than the checkpoint.
    #[error("the log has {have} entries but the checkpoint of {time} covers {want}: the log was truncated or rolled back to an older copy")]
    Truncated {
        /// Entries in the log.
        have: u64,
        /// Entries in the checkpoint.
        want: u64,
        /// When the checkpoint was made.
        time: String,
    },
    /// Entry `entries` hashes to something else.
    #[error("entry {seq} hashes to {have}, but the checkpoint of {time} says {want}: the log forked (entries up to {seq} were rewritten and their hashes recomputed, or replaced)")]
    Forked {
        /// The entry.
        seq: u64,
        /// Its hash now.
        have: String,
        /// The hash signed in the checkpoint.
        want: String,
        /// When the checkpoint was made.
        time: String,
    },
    /// The log could not be read.
    #[error(transparent)]
    Audit(#[from] AuditError),
}

impl From<rusqlite::Error> for CheckpointError {
    fn from(e: rusqlite::Error) -> Self {
        CheckpointError::Audit(AuditError::Sqlite(e))
    }
}

impl Checkpoint {
    /// A checkpoint of `head` in vault `vault_id`, made now.
    pub fn of(vault_id: &str, head: &Head) -> Checkpoint {
        Checkpoint {
            vault_id: vault_id.to_owned(),
            entries: head.count,
            head: head.hash,
            time: super::now_rfc3339(),
        }
    }

    /// The document the vault key signs (docs/audit-log.md, byte-exact):
    /// five lines, each ended by LF.
    pub fn document(&self) -> String {
        format!(
            "{MAGIC}\nvault: {}\nentries: {}\nhead: {}\ntime: {}\n",
            self.vault_id,
            self.entries,
            crypto::hex(&self.head),
            self.time
        )
    }

    /// Parses a document (the final LF may be missing: `gpg` drops it
    /// from the signed text). Anything else than the five lines is refused.
    pub fn parse(text: &str) -> Result<Checkpoint, CheckpointError> {
        let bad = |why: String| CheckpointError::Malformed(why);
        let text = text.strip_suffix('\n').unwrap_or(text);
        let lines: Vec<&str> = text.split('\n').collect();
        if lines.first() != Some(&MAGIC) {
            return Err(bad(format!("the first line is not {MAGIC:?}")));
        }
        if lines.len() != 5 {
            return Err(bad(format!("{} lines instead of 5", lines.len())));
        }
        let field = |i: usize, name: &str| -> Result<&str, CheckpointError> {
            lines[i]
                .strip_prefix(name)
                .and_then(|r| r.strip_prefix(": "))
                .ok_or_else(|| bad(format!("line {} is not \"{name}: ...\"", i + 1)))
        };
        let vault_id = field(1, "vault")?;
        if vault_id.len() != 16
            || !vault_id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(bad(format!(
                "the vault id {vault_id:?} is not 16 lower-case hex digits"
            )));
        }
        let entries_s = field(2, "entries")?;
        let entries: u64 = entries_s
            .parse()
            .ok()
            .filter(|n| *n > 0 && !entries_s.starts_with('0'))
            .ok_or_else(|| {
                bad(format!(
                    "the entry count {entries_s:?} is not a positive number"
                ))
            })?;
        let head_s = field(3, "head")?;
        let head = parse_hash(head_s).ok_or_else(|| {
            bad(format!(
                "the head {head_s:?} is not 64 lower-case hex digits"
            ))
        })?;
        let time = field(4, "time")?;
        if time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339)
            .is_err()
        {
            return Err(bad(format!("the time {time:?} is not RFC 3339")));
        }
        Ok(Checkpoint {
            vault_id: vault_id.to_owned(),
            entries,
            head,
            time: time.to_owned(),
        })
    }

    /// The head as lower-case hex.
    pub fn head_hex(&self) -> String {
        crypto::hex(&self.head)
    }

    /// Signs the document as clearsigned text.
    pub fn sign(&self, vault_key: &SecretCert) -> Result<String, PgpError> {
        pgp::clearsign(vault_key, &self.document())
    }

    /// Checks a clearsigned checkpoint against the vault's certificate and
    /// id; returns what it states. Does not look at the log.
    pub fn open(
        signed: &str,
        vault_cert: &sequoia_openpgp::Cert,
        vault_id: &str,
    ) -> Result<Checkpoint, CheckpointError> {
        let vault_fpr = vault_cert.fingerprint().to_hex();
        let text = match pgp::verify_clearsigned(signed, vault_cert) {
            Ok(text) => text,
            Err(e) => {
                // Name another vault's checkpoint as such, from its (unverified) text.
                if let Some(claimed) =
                    unverified_text(signed).and_then(|t| Checkpoint::parse(&t).ok())
                {
                    if claimed.vault_id != vault_id && matches!(e, PgpError::UnknownSigner { .. }) {
                        return Err(CheckpointError::OtherVault {
                            claimed: claimed.vault_id,
                            vault: vault_id.to_owned(),
                        });
                    }
                }
                return Err(match e {
                    PgpError::BadSignature { .. } => CheckpointError::Edited,
                    PgpError::UnknownSigner { issuers, .. } => CheckpointError::UnknownSigner {
                        signer: issuers,
                        vault: vault_fpr,
                    },
                    PgpError::SignatureRejected(s) => CheckpointError::Rejected(s),
                    other => CheckpointError::NotSigned(other.to_string()),
                });
            }
        };
        let cp = Checkpoint::parse(&text)?;
        if cp.vault_id != vault_id {
            return Err(CheckpointError::OtherVault {
                claimed: cp.vault_id,
                vault: vault_id.to_owned(),
            });
        }
        Ok(cp)
    }

    /// Proves that the log in `conn` extends this checkpoint: it has at
    /// least `entries` entries and entry `entries` (its stored bytes,
    /// hashed now) hashes to `head`.
    pub fn check_extended_by(&self, conn: &Connection) -> Result<(), CheckpointError> {
        let have = super::head(conn)?.count;
        let body: Option<Vec<u8>> = conn
            .query_row(
                "SELECT body FROM audit WHERE seq = ?1",
                params![self.entries],
                |r| r.get(0),
            )
            .optional()?;
        let Some(body) = body.filter(|_| have >= self.entries) else {
            return Err(CheckpointError::Truncated {
                have,
                want: self.entries,
                time: self.time.clone(),
            });
        };
        let hash = crypto::sha256(&body);
        if !crypto::ct_eq(&hash, &self.head) {
            return Err(CheckpointError::Forked {
                seq: self.entries,
                have: crypto::hex(&hash),
                want: self.head_hex(),
                time: self.time.clone(),
            });
        }
        Ok(())
    }
}

impl fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "checkpoint of vault {} at entry {} ({}), head {}",
            self.vault_id,
            self.entries,
            self.time,
            self.head_hex()
        )
    }
}

fn parse_hash(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let bytes = data_encoding::HEXLOWER.decode(s.as_bytes()).ok()?;
    bytes.try_into().ok()
}

/// The text of a clearsigned message, without checking anything: only to
/// name the vault a foreign checkpoint claims. Undoes dash-escaping.
fn unverified_text(signed: &str) -> Option<String> {
    let mut lines = signed
        .lines()
        .skip_while(|l| l.trim_end() != "-----BEGIN PGP SIGNED MESSAGE-----");
    lines.next()?;
    // Armor headers ("Hash: ...") up to the first empty line.
    for l in lines.by_ref() {
        if l.trim_end().is_empty() {
            break;
        }
    }
    let mut out = String::new();
    for l in lines {
        if l.trim_end() == "-----BEGIN PGP SIGNATURE-----" {
            // The line ending before the signature is not part of the text.
            out.pop();
            return Some(out);
        }
        out.push_str(l.strip_prefix("- ").unwrap_or(l));
        out.push('\n');
    }
    None
}

/// Stores a signed checkpoint (outside the chain).
pub fn store(conn: &Connection, cp: &Checkpoint, signed: &str) -> Result<(), AuditError> {
    conn.execute(
        "INSERT INTO checkpoints (seq, head_hash, created_at, signed) VALUES (?1, ?2, ?3, ?4)",
        params![cp.entries, &cp.head[..], cp.time, signed],
    )?;
    Ok(())
}

/// The latest stored checkpoint of vault `vault_id`: what it states (from
/// the table's columns) and its signed text.
pub fn latest(
    conn: &Connection,
    vault_id: &str,
) -> Result<Option<(Checkpoint, String)>, AuditError> {
    let row = conn
        .query_row(
            "SELECT seq, head_hash, created_at, signed FROM checkpoints ORDER BY seq DESC LIMIT 1",
            [],
            |r| {
                Ok((
                    // Out of range (an edited row) is an error, not a wrap.
                    r.get::<_, u64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            },
        )
        .optional()?;
    Ok(row.map(|(seq, h, time, signed)| {
        let mut head = [0u8; 32];
        if h.len() == 32 {
            head.copy_from_slice(&h);
        }
        (
            Checkpoint {
                vault_id: vault_id.to_owned(),
                entries: seq,
                head,
                time,
            },
            signed,
        )
    }))
}

/// What the `checkpoints` table holds, judged by the signed texts.
#[derive(Debug, Clone, Default)]
pub struct StoredCheckpoints {
    /// The highest checkpoint, its signature checked with the vault's
    /// certificate; `None` when there is none or it does not verify.
    pub highest: Option<Checkpoint>,
    /// Rows that contradict their own signed text, or a highest checkpoint
    /// whose signature does not verify: the table was edited.
    pub problems: Vec<String>,
}

/// Reads every stored checkpoint. The table is on the untrusted disk, so a
/// row counts for what its signed text says, not for its columns: the
/// highest is chosen by the entry count in the text (a row relabelled to
/// a lower `seq` cannot hide it), and only that one's signature needs
/// checking (one verification, however many sessions the vault has had):
/// lower checkpoints add nothing once the log is shown to extend the
/// highest and its chain is intact.
pub fn stored(
    conn: &Connection,
    vault_id: &str,
    vault_cert: &sequoia_openpgp::Cert,
) -> Result<StoredCheckpoints, AuditError> {
    let mut stmt = conn.prepare("SELECT seq, head_hash, signed FROM checkpoints ORDER BY seq")?;
    let mut rows = stmt.query([])?;
    let mut problems = Vec::new();
    let mut top: Option<(Checkpoint, String)> = None;
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(0)?;
        let head: Vec<u8> = row.get(1).unwrap_or_default();
        let Ok(signed) = row.get::<_, String>(2) else {
            problems.push(format!("checkpoint row {seq} holds no signed text"));
            continue;
        };
        let Some(claimed) = unverified_text(&signed).and_then(|t| Checkpoint::parse(&t).ok())
        else {
            problems.push(format!(
                "checkpoint row {seq} does not hold a signed checkpoint document"
            ));
            continue;
        };
        if i64::try_from(claimed.entries).ok() != Some(seq) || claimed.head[..] != head[..] {
            problems.push(format!(
                "checkpoint row {seq} holds the checkpoint of entry {}, not its own columns (the row was edited)",
                claimed.entries
            ));
        }
        if top
            .as_ref()
            .is_none_or(|(t, _)| t.entries < claimed.entries)
        {
            top = Some((claimed, signed));
        }
    }
    let mut highest = None;
    if let Some((claimed, signed)) = top {
        match Checkpoint::open(&signed, vault_cert, vault_id) {
            Ok(cp) => highest = Some(cp),
            Err(e) => problems.push(format!(
                "the highest stored checkpoint (entry {}) cannot be trusted: {e}",
                claimed.entries
            )),
        }
    }
    Ok(StoredCheckpoints { highest, problems })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        Checkpoint {
            vault_id: "0123456789abcdef".into(),
            entries: 7,
            head: [0xab; 32],
            time: "2026-11-22T14:05:23Z".into(),
        }
    }

    #[test]
    fn document_is_byte_exact_and_parses_back() {
        let cp = sample();
        let doc = cp.document();
        assert_eq!(
            doc,
            format!("seedvault checkpoint v1\nvault: 0123456789abcdef\nentries: 7\nhead: {}\ntime: 2026-11-22T14:05:23Z\n", "ab".repeat(32))
        );
        assert_eq!(Checkpoint::parse(&doc).unwrap(), cp);
        assert_eq!(Checkpoint::parse(doc.trim_end()).unwrap(), cp);
    }

    #[test]
    fn malformed_documents_are_refused() {
        let doc = sample().document();
        for bad in [
            doc.replace("v1", "v2"),
            doc.replace("entries: 7", "entries: 07"),
            doc.replace("entries: 7", "entries: 0"),
            doc.replace("entries: 7", "entries: -7"),
            doc.replace("vault: ", "vault:"),
            doc.replace("ab", "AB"),
            doc.replace("2026-11-22T14:05:23Z", "yesterday"),
            format!("{doc}extra: 1\n"),
            doc.replace("\n", "\r\n"),
        ] {
            assert!(
                matches!(Checkpoint::parse(&bad), Err(CheckpointError::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn signed_checkpoints_open_and_edits_are_named() {
        let key = pgp::generate_vault_key("0123456789abcdef").unwrap();
        let cert = key.cert().clone().strip_secret_key_material();
        let cp = sample();
        let signed = cp.sign(&key).unwrap();
        assert_eq!(
            Checkpoint::open(&signed, &cert, "0123456789abcdef").unwrap(),
            cp
        );
        let edited = signed.replace("entries: 7", "entries: 6");
        assert!(matches!(
            Checkpoint::open(&edited, &cert, "0123456789abcdef"),
            Err(CheckpointError::Edited)
        ));
        let other = pgp::generate_vault_key("fedcba9876543210").unwrap();
        let by_other = cp.sign(&other).unwrap();
        assert!(matches!(
            Checkpoint::open(&by_other, &cert, "0123456789abcdef"),
            Err(CheckpointError::UnknownSigner { .. })
        ));
        let foreign = Checkpoint {
            vault_id: "fedcba9876543210".into(),
            ..sample()
        }
        .sign(&other)
        .unwrap();
        assert!(matches!(
            Checkpoint::open(&foreign, &cert, "0123456789abcdef"),
            Err(CheckpointError::OtherVault { .. })
        ));
        assert!(matches!(
            Checkpoint::open("hello", &cert, "0123456789abcdef"),
            Err(CheckpointError::NotSigned(_))
        ));
    }
}
