//! Re-issuing a damaged card: the same share, a new card, a new passphrase.
//!
//! A custodian whose card file is damaged or whose passphrase is forgotten
//! still holds their place in the split: their share is the polynomial's
//! value at their member index, and any M *other* custodians' shares fix
//! that polynomial. So a quorum of the others recomputes the share
//! (`shares::share_at`), which must match the vault's commitment to it (a
//! check that the recomputation is right, not a matter of trust), and a new
//! card is sealed under the custodian's new passphrase.
//!
//! The officer signing key sealed in the old card cannot be recovered (it
//! lived only there), so the new card carries a new officer key. Its
//! certificate is enrolled by the `card.reissued` entry, which the vault key
//! signs (reachable only with the quorum): an attacker who edits the
//! database cannot enrol a key of their own by writing such an entry or by
//! editing the custodians table. Statements signed with the old key before
//! the re-issue stay verifiable against the old certificate (genesis or an
//! earlier re-issue). See docs/decisions/2026-11-29-card-reissue-and-backup.md.

use std::path::{Path, PathBuf};

use data_encoding::BASE64;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::{keys, UnsealedVault, Vault, VaultError};
use crate::audit::{self, events, Event};
use crate::cards::{self, CardSecrets, SealedCard};
use crate::crypto;
use crate::pgp;
use crate::shares::{self, Share};

/// What a re-issue wrote.
#[derive(Debug, Clone)]
pub struct ReissueOutcome {
    /// The new card.
    pub card_path: PathBuf,
    /// The custodian.
    pub custodian: String,
    /// Their member index (share `member_index + 1` of N).
    pub member_index: u8,
    /// Fingerprint of the new card's officer signing key.
    pub officer_fingerprint: String,
    /// Fingerprint of the officer key it replaces.
    pub previous_officer_fingerprint: String,
    /// SHA-256 of the new card file, hex.
    pub card_sha256: String,
    /// The officers whose cards re-issued it.
    pub quorum: Vec<String>,
}

/// An officer certificate enrolled by a verified `card.reissued` entry.
#[derive(Debug, Clone)]
pub(crate) struct Reenrolled {
    /// The custodian.
    pub name: String,
    /// New officer key fingerprint.
    pub fingerprint: String,
    /// New officer certificate (binary).
    pub cert: Vec<u8>,
    /// The `card.reissued` entry's sequence number (which key epoch it
    /// belongs to: the one whose `vault.rekeyed` entry precedes it).
    pub seq: u64,
}

/// Each custodian's officer key fingerprint, as a genesis or
/// `vault.rekeyed` entry's data lists them.
fn officer_keys(data: &serde_json::Value) -> std::collections::HashMap<String, String> {
    data["custodians"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let field = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
            (field("name"), field("officer_fingerprint"))
        })
        .collect()
}

/// The file a re-issue writes before it is logged; renamed to
/// `NAME.card` only after the log entry commits, so a crash never leaves a
/// file named like a card whose officer key the vault does not know.
fn partial_path(card: &Path) -> PathBuf {
    let mut s = card.as_os_str().to_owned();
    s.push(".partial");
    PathBuf::from(s)
}

/// The statement the vault key signs for a re-issue: one line per fact.
fn statement(vault_id: &str, name: &str, index: u8, fpr: &str, cert: &[u8], prev: &str) -> String {
    format!(
        "seedvault card re-issue v1\nvault: {vault_id}\ncustodian: {name}\nmember-index: {index}\n\
         officer-fingerprint: {fpr}\nofficer-cert-sha256: {}\nprevious-officer-fingerprint: {prev}\n",
        crypto::hex(&crypto::sha256(cert))
    )
}

impl Vault {
    /// Checks a re-issue before anyone types a passphrase: the custodian
    /// exists, none of the quorum's cards is theirs, and the card to write
    /// is not there yet. Returns the card's path.
    pub fn preflight_reissue(
        &self,
        custodian: &str,
        cards_out: &Path,
        quorum: &[SealedCard],
    ) -> Result<PathBuf, VaultError> {
        let cust = self
            .info
            .custodians
            .iter()
            .find(|c| c.name == custodian)
            .ok_or_else(|| {
                VaultError::Refused(format!(
                    "{custodian:?} is not a custodian of this vault (custodians: {})",
                    self.info
                        .custodians
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        if let Some(own) = quorum
            .iter()
            .find(|c| c.header.member_index == cust.member_index)
        {
            return Err(VaultError::Refused(format!(
                "card {} is {custodian}'s own card; a re-issue takes a quorum of the other custodians' cards",
                own.path.display()
            )));
        }
        self.check_quorum_cards(quorum)?;
        let path = cards_out.join(format!("{custodian}.card"));
        if path.exists() {
            return Err(VaultError::WouldOverwrite(path));
        }
        Ok(path)
    }
}

impl UnsealedVault {
    /// Re-issues `custodian`'s card into `cards_out` with `passphrase`.
    ///
    /// `quorum` are the cards (and passphrases) that unsealed this vault;
    /// they are opened again here for their shares, which the unseal does
    /// not keep. Writes `NAME.card.partial`, commits the custodians row and
    /// the signed `card.reissued` entry in one transaction, then renames the
    /// card into place.
    pub fn reissue_card(
        &mut self,
        custodian: &str,
        cards_out: &Path,
        passphrase: &SecretString,
        quorum: &[(SealedCard, SecretString)],
    ) -> Result<ReissueOutcome, VaultError> {
        let headers: Vec<SealedCard> = quorum.iter().map(|(c, _)| c.clone()).collect();
        let card_path = self
            .vault()
            .preflight_reissue(custodian, cards_out, &headers)?;
        let info = self.vault().info().clone();
        let cust = info
            .custodians
            .iter()
            .find(|c| c.name == custodian)
            .cloned()
            .ok_or_else(|| VaultError::Refused(format!("{custodian:?} is not a custodian")))?;
        if passphrase.expose_secret().chars().count() < super::MIN_PASSPHRASE_CHARS {
            return Err(VaultError::WeakPassphrase {
                custodian: custodian.to_owned(),
                chars: passphrase.expose_secret().chars().count(),
            });
        }

        // The others' shares fix the polynomial; evaluate it at the index.
        let mut others: Vec<Share> = Vec::new();
        for (card, pass) in quorum.iter().take(usize::from(info.threshold)) {
            let (_officer, share) = self.vault().open_card(card, pass)?;
            others.push(share);
        }
        let share = shares::share_at(&others, cust.member_index)
            .map_err(|e| VaultError::WrongMasterKey(e.to_string()))?;
        drop(others);
        let mnemonic = share.to_mnemonic();
        let commitment =
            keys::share_commitment(info.vault_id, cust.member_index, mnemonic.expose_secret());
        if !crypto::ct_eq(&commitment, &cust.commitment) {
            return Err(VaultError::Tampered(format!(
                "the share recomputed for {custodian} does not match the vault's commitment to it"
            )));
        }

        // A new officer key (the old one was sealed only in the lost card).
        let vault_id = info.vault_id.to_string();
        let officer = pgp::generate_officer_key(custodian, &vault_id)
            .map_err(|e| VaultError::Crypto(e.to_string()))?;
        let cert = officer
            .public_bytes()
            .map_err(|e| VaultError::Crypto(e.to_string()))?;
        let fpr = officer.fingerprint();
        let secrets = CardSecrets {
            mnemonic,
            officer_key: officer
                .to_secret_bytes()
                .map_err(|e| VaultError::Crypto(e.to_string()))?,
        };
        // After a rekey a card names its key epoch (format 2).
        let epoch = self.vault().card_epoch()?;
        let bytes = cards::seal_in_epoch(
            (info.vault_id, cust.member_index, info.threshold, custodian),
            epoch,
            info.kdf_policy(),
            passphrase,
            &secrets,
        )
        .map_err(|e| VaultError::Crypto(e.to_string()))?;
        drop(secrets);
        let card_sha256 = crypto::hex(&crypto::sha256(&bytes));

        // The vault key signs what is enrolled.
        let st = statement(
            &vault_id,
            custodian,
            cust.member_index,
            &fpr,
            &cert,
            &cust.officer_fingerprint,
        );
        let signature =
            pgp::sign_detached(&self.vault_key()?, st.as_bytes()).map_err(VaultError::Pgp)?;

        std::fs::create_dir_all(cards_out).map_err(|source| VaultError::Io {
            path: cards_out.to_owned(),
            source,
        })?;
        let partial = partial_path(&card_path);
        // A partial card of an earlier run that crashed before its entry
        // committed: its officer key was never enrolled, so it opens nothing.
        let _ = std::fs::remove_file(&partial);
        super::init::write_new(&partial, &bytes, 0o600)?;
        super::crash::point("reissue-card-written");

        let quorum_names = self.officer_names();
        let event = Event {
            kind: events::CARD_REISSUED,
            actors: quorum_names.clone(),
            data: json!({
                "custodian": custodian,
                "member_index": cust.member_index,
                "officer_fingerprint": fpr,
                "officer_cert": BASE64.encode(&cert),
                "previous_officer_fingerprint": cust.officer_fingerprint,
                "card_sha256": card_sha256,
                "quorum": quorum_names,
                "statement": st,
                "signature": signature,
            }),
        };
        let idx = i64::from(cust.member_index);
        self.vault_mut().store_mut().write(|tx| {
            let n = tx.execute(
                "UPDATE custodians SET officer_fpr = ?1, officer_cert = ?2
                 WHERE member_index = ?3 AND name = ?4",
                rusqlite::params![fpr, cert, idx, custodian],
            )?;
            if n != 1 {
                return Err(VaultError::Tampered(format!(
                    "the custodians table has no row for {custodian} at share {}",
                    cust.member_index + 1
                )));
            }
            audit::append(tx, &vault_id, &event)?;
            Ok(())
        })?;
        // The table row changed: the in-memory facts follow it.
        if let Some(c) = self
            .vault_mut()
            .info
            .custodians
            .iter_mut()
            .find(|c| c.name == custodian)
        {
            c.officer_fingerprint = fpr.clone();
            c.officer_cert = cert;
        }
        std::fs::hard_link(&partial, &card_path)
            .map_err(|source| VaultError::creating(&card_path, source))?;
        let _ = std::fs::remove_file(&partial);
        super::init::sync_dir(cards_out)?;
        Ok(ReissueOutcome {
            card_path,
            custodian: custodian.to_owned(),
            member_index: cust.member_index,
            officer_fingerprint: fpr,
            previous_officer_fingerprint: cust.officer_fingerprint,
            card_sha256,
            quorum: quorum_names,
        })
    }
}

/// Log entries as (`seq`, body), in log order.
pub(crate) type Entries = Vec<(u64, Vec<u8>)>;

/// One pass over the whole log: each entry (`seq`, body) for which
/// `pick` names one of the `N` lists goes into it, in log order. A check
/// that wants several kinds of entries reads the log once, not once per
/// kind: the log only grows, and an export's checks used to read it three
/// times.
pub(crate) fn pick_entries<const N: usize>(
    conn: &rusqlite::Connection,
    mut pick: impl FnMut(&[u8]) -> Option<usize>,
) -> rusqlite::Result<[Entries; N]> {
    let mut stmt = conn.prepare_cached("SELECT seq, body FROM audit ORDER BY seq")?;
    let mut rows = stmt.query([])?;
    let mut out: [Entries; N] = std::array::from_fn(|_| Vec::new());
    while let Some(row) = rows.next()? {
        // Read as SQL's CAST(body AS TEXT) read it: a text body too.
        let body = match row.get_ref(1)? {
            rusqlite::types::ValueRef::Blob(b) | rusqlite::types::ValueRef::Text(b) => b,
            _ => continue,
        };
        if let Some(list) = pick(body).and_then(|i| out.get_mut(i)) {
            // A body that is not a blob is refused here, as before.
            list.push((row.get::<_, u64>(0)?, row.get::<_, Vec<u8>>(1)?));
        }
    }
    Ok(out)
}

/// Whether `body` may be an entry [`reenrolled`] reads (a superset: it
/// parses each and keeps the re-issues and rekeys).
pub(crate) fn may_enrol(body: &[u8]) -> bool {
    static FINDERS: std::sync::OnceLock<Vec<memchr::memmem::Finder<'static>>> =
        std::sync::OnceLock::new();
    FINDERS
        .get_or_init(|| {
            audit::verify::ENROLMENT_NEEDLES
                .iter()
                .map(|n| memchr::memmem::Finder::new(n.as_bytes()))
                .collect()
        })
        .iter()
        .any(|f| f.find(body).is_some())
}

/// The entries [`reenrolled_in`] needs, read from the log.
pub(crate) fn enrolment_entries(conn: &rusqlite::Connection) -> audit::verify::Enrolments {
    let [rows] =
        pick_entries(conn, |body| may_enrol(body).then_some(0)).map_err(|e| e.to_string())?;
    Ok(rows)
}

/// Every officer certificate enrolled by a re-issue, in log order, each
/// checked: its statement says what the entry says and the vault key
/// (`vault_cert`, the genesis certificate) signed it. `Err` names the
/// first entry that fails: the log or the database was edited.
pub(crate) fn reenrolled(
    conn: &rusqlite::Connection,
    vault_cert: &[u8],
) -> Result<Vec<Reenrolled>, String> {
    // A rekey enrols a new set of officer keys: the re-issues after it
    // follow the keys its `vault.rekeyed` entry names.
    reenrolled_in(conn, enrolment_entries(conn), vault_cert)
}

/// [`reenrolled`] over the entries a full chain walk already collected
/// (`ChainReport::enrolments`: the same entries, read the same way), so
/// `audit verify` does not read the log a second time.
pub(crate) fn reenrolled_in(
    conn: &rusqlite::Connection,
    rows: audit::verify::Enrolments,
    vault_cert: &[u8],
) -> Result<Vec<Reenrolled>, String> {
    let mut out = Vec::new();
    let rows = rows.map_err(|e| format!("the audit log cannot be read: {e}"))?;
    if rows.is_empty() {
        return Ok(out);
    }
    let vault = pgp::keys::parse_public_cert(vault_cert)
        .map_err(|e| format!("the vault certificate is unreadable: {e}"))?;
    // Each re-issue must follow the key it replaces: genesis first, then
    // each earlier re-issue. A copied (replayed) entry names a key that is
    // no longer the custodian's.
    let mut current = audit::genesis_body(conn)
        .ok()
        .flatten()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .map(|g| officer_keys(&g["data"]))
        .unwrap_or_default();
    for (seq, body) in rows {
        let entry: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| format!("entry {seq} cannot be read"))?;
        if entry["event"] == events::VAULT_REKEYED {
            current = officer_keys(&entry["data"]);
            continue;
        }
        if entry["event"] != events::CARD_REISSUED {
            continue;
        }
        let d = &entry["data"];
        let s = |k: &str| d[k].as_str().unwrap_or_default().to_owned();
        let bad = |what: &str| format!("entry {seq} (card.reissued of {}): {what}", s("custodian"));
        let cert = BASE64
            .decode(s("officer_cert").as_bytes())
            .map_err(|_| bad("its officer certificate is not base64"))?;
        let index = d["member_index"]
            .as_u64()
            .and_then(|i| u8::try_from(i).ok())
            .ok_or_else(|| bad("its member index is missing"))?;
        let vault_id = entry["vault"].as_str().unwrap_or_default();
        let expected = statement(
            vault_id,
            &s("custodian"),
            index,
            &s("officer_fingerprint"),
            &cert,
            &s("previous_officer_fingerprint"),
        );
        if s("statement") != expected {
            return Err(bad("its statement does not say what the entry says"));
        }
        let parsed = pgp::keys::parse_public_cert(&cert)
            .map_err(|_| bad("its officer certificate is unreadable"))?;
        if parsed.fingerprint().to_hex() != s("officer_fingerprint") {
            return Err(bad("its officer certificate has another fingerprint"));
        }
        pgp::verify_detached(&vault, expected.as_bytes(), s("signature").as_bytes())
            .map_err(|_| bad("the vault key's signature on it does not verify"))?;
        let previous = s("previous_officer_fingerprint");
        if current.get(&s("custodian")) != Some(&previous) {
            return Err(bad(
                "it replaces an officer key that was not the custodian's at the time (a copied entry?)",
            ));
        }
        current.insert(s("custodian"), s("officer_fingerprint"));
        out.push(Reenrolled {
            name: s("custodian"),
            fingerprint: s("officer_fingerprint"),
            cert,
            seq,
        });
    }
    Ok(out)
}
