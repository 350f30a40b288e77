//! Rekey: a new master key and a new share set, with no lock-out window.
//!
//! The failures this is built against are HashiCorp Vault's and OpenBao's:
//! a rekey hijacked by a restart with other keys (vault#844), new shares
//! lost when the last caller failed to store them (vault#845), only a
//! threshold of the new shares checked (vault#8278), a root rotation that
//! replaced the key without handing out shares (openbao#2613). So:
//!
//! - `start` (a quorum of the current cards) makes master key v+1 and its
//!   cards, rewraps every batch data key and the vault's OpenPGP key under
//!   KEK_{v+1} into *pending* tables, and writes the cards before its
//!   transaction commits. Nothing of key v is touched: the old cards keep
//!   working until commit. Every new card names the rekey id and the new
//!   share set's fingerprint in its header, so a card of a crashed,
//!   cancelled or substituted start is never taken for this one.
//! - `verify`: each new custodian opens their own card; the vault records
//!   it with a statement signed by the card's new officer key.
//! - `commit` (M new cards) refuses until all N were verified, checks the
//!   pending tables against the `rekey.started` entry, opens every new
//!   wrap under the key the new cards combine to, and then switches the
//!   key version, replaces the custodians and deletes the old wraps in one
//!   transaction with its `vault.rekeyed` entry.
//! - `cancel` (one card of the current set) discards the pending set.
//!
//! The disk is not trusted: the pending rows could be edited, so commit
//! acts only on what the chained `rekey.started` entry recorded and on
//! wraps that authenticate under the new key. A forged pending set cannot
//! hold the vault's own OpenPGP key, which commit checks.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::{params, OptionalExtension};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use super::{init, keys, stored, Custodian, LogCheck, UnsealedVault, Vault, VaultError};
use crate::audit::{self, events, Event};
use crate::cards::{self, CardEpoch, CardSecrets, SealedCard, VaultId};
use crate::crypto::{self, Key32, SealingKey};
use crate::pgp::{self, SecretCert};
use crate::shares::{self, Share};

/// What `rekey start` needs besides the quorum.
#[derive(Debug)]
pub struct RekeyParams {
    /// The new threshold M.
    pub threshold: u8,
    /// The new custodians, in order; member index = position.
    pub custodians: Vec<String>,
    /// One passphrase per new custodian, same order.
    pub passphrases: Vec<SecretString>,
    /// Where the new cards go.
    pub cards_out: PathBuf,
}

/// A rekey prepared in memory: the new master key, the new custodians'
/// shares and officer keys, the rekey id and the share-set fingerprint.
/// Nothing of it is written until
/// [`UnsealedVault::rekey_start_prepared`]; dropping it wipes the keys.
pub struct PreparedRekey {
    rekey_bytes: [u8; 8],
    rekey_id: String,
    new_version: u32,
    threshold: u8,
    share_count: u8,
    share_set: [u8; 32],
    custodians: Vec<Custodian>,
    secrets: Vec<CardSecrets>,
    mk: Key32,
    cards_out: PathBuf,
}

impl PreparedRekey {
    /// The rekey's id (16 hex digits).
    pub fn rekey_id(&self) -> &str {
        &self.rekey_id
    }

    /// The new share set's fingerprint (64 hex digits).
    pub fn share_set(&self) -> String {
        crypto::hex(&self.share_set)
    }

    /// The key version the rekey makes.
    pub fn new_version(&self) -> u32 {
        self.new_version
    }
}

impl std::fmt::Debug for PreparedRekey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedRekey")
            .field("rekey_id", &self.rekey_id)
            .field("new_version", &self.new_version)
            .field("threshold", &self.threshold)
            .field("share_count", &self.share_count)
            .finish_non_exhaustive()
    }
}

/// What `rekey start` produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RekeyStarted {
    /// The rekey's id (16 hex digits).
    pub rekey_id: String,
    /// The new share set's fingerprint (64 hex digits).
    pub share_set: String,
    /// The key version the rekey makes.
    pub new_version: u32,
    /// The new cards, one per custodian, in order.
    pub card_paths: Vec<PathBuf>,
}

/// A new custodian of the pending rekey.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PendingCustodian {
    /// Name.
    pub name: String,
    /// Share index.
    pub member_index: u8,
    /// Their new officer key's fingerprint.
    pub officer_fingerprint: String,
    /// Whether the log records their `rekey verify`.
    pub verified: bool,
}

/// The pending rekey as `rekey status` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PendingRekey {
    /// The rekey's id.
    pub rekey_id: String,
    /// The new share set's fingerprint.
    pub share_set: String,
    /// The current key version.
    pub old_version: u32,
    /// The key version commit switches to.
    pub new_version: u32,
    /// New M.
    pub threshold: u8,
    /// New N.
    pub share_count: u8,
    /// When it started.
    pub started_at: String,
    /// The audit entry of its start.
    pub started_entry: u64,
    /// The new custodians.
    pub custodians: Vec<PendingCustodian>,
}

impl PendingRekey {
    /// The custodians whose cards were not verified yet.
    pub fn unverified(&self) -> Vec<String> {
        self.custodians
            .iter()
            .filter(|c| !c.verified)
            .map(|c| c.name.clone())
            .collect()
    }
}

/// What `rekey commit` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RekeyCommitted {
    /// The rekey's id.
    pub rekey_id: String,
    /// The share set now in force.
    pub share_set: String,
    /// The retired key version.
    pub old_version: u32,
    /// The key version now in force.
    pub new_version: u32,
    /// M.
    pub threshold: u8,
    /// N.
    pub share_count: u8,
    /// Batch data keys rewrapped.
    pub data_keys: u64,
    /// When (RFC 3339).
    pub at: String,
    /// The new master key's check value (hex): `docs/architecture.md`
    /// gives its derivation, so words combined elsewhere can be checked.
    pub master_check: String,
}

/// The share-set fingerprint shown on prompts: the first 16 bytes of it,
/// grouped by four hex digits.
pub fn short_share_set(share_set: &str) -> String {
    let head: String = share_set.chars().take(32).collect();
    head.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// SHA-256 over the vault, the rekey, the new key version and threshold,
/// and every new custodian (index, name, commitment, officer key): names
/// exactly one share set (`docs/formats.md`).
pub(crate) fn share_set_fingerprint(
    vault: VaultId,
    rekey_id: &str,
    version: u32,
    threshold: u8,
    custodians: &[Custodian],
) -> [u8; 32] {
    let mut t = format!(
        "seedvault/v1/share-set\0{vault}\0{rekey_id}\0{version}\0{threshold}\0{}",
        custodians.len()
    );
    for c in custodians {
        t.push_str(&format!(
            "\0{}\0{}\0{}\0{}",
            c.member_index,
            c.name,
            crypto::hex(&c.commitment),
            c.officer_fingerprint
        ));
    }
    crypto::sha256(t.as_bytes())
}

fn custodian_json(c: &Custodian) -> Value {
    json!({
        "name": c.name,
        "member_index": c.member_index,
        "commitment": crypto::hex(&c.commitment),
        "officer_fingerprint": c.officer_fingerprint,
        "officer_cert": data_encoding::BASE64.encode(&c.officer_cert),
    })
}

/// The custodians a genesis or `vault.rekeyed` / `rekey.started` entry's
/// data lists, or why they cannot be read.
pub(crate) fn custodians_of(data: &Value) -> Result<Vec<Custodian>, String> {
    let mut out = Vec::new();
    for c in data["custodians"].as_array().into_iter().flatten() {
        let name = c["name"].as_str().ok_or("a custodian has no name")?;
        let bad = |what: &str| format!("custodian {name}'s {what} is unreadable");
        let member_index = c["member_index"]
            .as_u64()
            .and_then(|i| u8::try_from(i).ok())
            .ok_or_else(|| bad("member index"))?;
        let commitment: [u8; 32] = data_encoding::HEXLOWER_PERMISSIVE
            .decode(c["commitment"].as_str().unwrap_or_default().as_bytes())
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| bad("commitment"))?;
        let officer_cert = data_encoding::BASE64
            .decode(c["officer_cert"].as_str().unwrap_or_default().as_bytes())
            .map_err(|_| bad("officer certificate"))?;
        out.push(Custodian {
            name: name.to_owned(),
            member_index,
            commitment,
            officer_fingerprint: c["officer_fingerprint"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            officer_cert,
        });
    }
    Ok(out)
}

/// The entry at `seq` as stored, checked against its stored hash, parsed.
pub(crate) fn entry_at(conn: &rusqlite::Connection, seq: u64) -> Result<Value, String> {
    let row: Option<(Vec<u8>, Vec<u8>)> = conn
        .query_row(
            "SELECT body, hash FROM audit WHERE seq = ?1",
            [i64::try_from(seq).unwrap_or(i64::MAX)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(|e| e.to_string())?;
    let (body, hash) = row.ok_or_else(|| format!("audit entry {seq} is missing"))?;
    if crypto::sha256(&body)[..] != hash[..] {
        return Err(format!(
            "audit entry {seq} does not hash to its stored hash"
        ));
    }
    serde_json::from_slice(&body).map_err(|_| format!("audit entry {seq} is not valid JSON"))
}

/// A committed key epoch: the version, its rekey, its `vault.rekeyed` entry.
#[derive(Debug, Clone)]
pub(crate) struct Epoch {
    pub key_version: u32,
    pub rekey_id: String,
    pub audit_seq: u64,
    pub at: String,
}

/// Every committed rekey, oldest first.
pub(crate) fn epochs(conn: &rusqlite::Connection) -> Result<Vec<Epoch>, VaultError> {
    let mut q = conn.prepare_cached(
        "SELECT key_version, rekey_id, audit_seq, rekeyed_at FROM key_epochs ORDER BY key_version",
    )?;
    let rows = q
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(v, id, seq, at)| {
            Ok(Epoch {
                key_version: stored(v, "key version of a key epoch")?,
                rekey_id: id,
                audit_seq: stored(seq, "audit entry of a key epoch")?,
                at,
            })
        })
        .collect()
}

/// The genesis data with the latest committed rekey applied: what the
/// vault and custodians tables must say now (`genesis_mismatch` compares).
/// `Err` names why the epoch record cannot be used.
pub(crate) fn current_epoch_data(
    conn: &rusqlite::Connection,
    mut genesis: Value,
    key_version: u32,
) -> Result<Value, String> {
    let all = epochs(conn).map_err(|e| e.to_string())?;
    let Some(last) = all.last() else {
        if key_version == 1 {
            return Ok(genesis);
        }
        return Err(format!(
            "the vault runs on key version {key_version} but no rekey to it is recorded"
        ));
    };
    if last.key_version != key_version {
        return Err(format!(
            "the vault runs on key version {key_version} but the last recorded rekey made version {}",
            last.key_version
        ));
    }
    let entry = entry_at(conn, last.audit_seq)?;
    let d = &entry["data"];
    if entry["event"] != events::VAULT_REKEYED
        || d["new_version"].as_u64() != Some(u64::from(key_version))
        || d["rekey_id"].as_str() != Some(last.rekey_id.as_str())
    {
        return Err(format!(
            "audit entry {} is not the vault.rekeyed entry of rekey {} to key version {key_version}",
            last.audit_seq, last.rekey_id
        ));
    }
    if let Some(obj) = genesis.as_object_mut() {
        for k in ["threshold", "share_count", "master_check", "custodians"] {
            obj.insert(k.into(), d[k].clone());
        }
    }
    Ok(genesis)
}

/// Test builds only: dies here, as a power cut or `kill -9` would, when
/// `SEEDVAULT_TEST_CRASH_AT` names this point. Compiled out of release
/// builds.
fn crash_point(name: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("SEEDVAULT_TEST_CRASH_AT").as_deref() == Ok(name) {
        std::process::abort();
    }
    let _ = name;
}

/// The pending rekey's rows as stored (not yet checked).
struct PendingRows {
    rekey_id: String,
    new_version: u32,
    threshold: u8,
    share_set: String,
    master_check: Vec<u8>,
    vault_key_sealed: Vec<u8>,
    started_at: String,
    audit_seq: u64,
    custodians: Vec<Custodian>,
}

fn crypto_err(e: impl std::fmt::Display) -> VaultError {
    VaultError::Crypto(e.to_string())
}

fn hex_id(id: &[u8; 8]) -> String {
    crypto::hex(id)
}

/// The statement a new custodian's card signs at `rekey verify`.
fn verify_statement(vault: VaultId, rekey_id: &str, share_set: &str, c: &Custodian) -> String {
    format!(
        "seedvault rekey card verified\nvault: {vault}\nrekey: {rekey_id}\nshare-set: {share_set}\ncustodian: {}\nmember-index: {}\nofficer: {}",
        c.name, c.member_index, c.officer_fingerprint
    )
}

impl Vault {
    fn pending_rows(&self) -> Result<Option<PendingRows>, VaultError> {
        let conn = self.store().conn();
        let row = conn
            .query_row(
                "SELECT rekey_id, new_version, threshold, share_set, master_check, vault_key_sealed,
                        started_at, audit_seq FROM rekey_pending",
                [],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Vec<u8>>(4)?,
                        r.get::<_, Vec<u8>>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, i64>(7)?,
                    ))
                },
            )
            .optional()?;
        let Some(row) = row else { return Ok(None) };
        let mut q = conn.prepare(
            "SELECT member_index, name, commitment, officer_fpr, officer_cert
             FROM rekey_custodians ORDER BY member_index",
        )?;
        let custodians = q
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Vec<u8>>(4)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .map(|(i, name, c, fpr, cert)| {
                Ok(Custodian {
                    member_index: stored(i, "member index of a pending custodian")?,
                    commitment: c.try_into().map_err(|_| {
                        VaultError::Tampered(format!(
                            "the pending rekey's commitment of {name} is malformed"
                        ))
                    })?,
                    name,
                    officer_fingerprint: fpr,
                    officer_cert: cert,
                })
            })
            .collect::<Result<Vec<_>, VaultError>>()?;
        Ok(Some(PendingRows {
            rekey_id: row.0,
            new_version: stored(row.1, "pending key version")?,
            threshold: stored(row.2, "pending threshold")?,
            share_set: row.3,
            master_check: row.4,
            vault_key_sealed: row.5,
            started_at: row.6,
            audit_seq: stored(row.7, "audit entry of the pending rekey")?,
            custodians,
        }))
    }

    /// The pending rekey's rows, checked against its `rekey.started`
    /// entry (and the share-set fingerprint recomputed): an edited row is
    /// tampering (exit 3).
    fn checked_pending(&self) -> Result<Option<PendingRows>, VaultError> {
        let Some(p) = self.pending_rows()? else {
            return Ok(None);
        };
        let t = |why: String| {
            VaultError::Tampered(format!(
                "the pending rekey {} does not match its rekey.started entry ({}): {why}",
                p.rekey_id, p.audit_seq
            ))
        };
        let entry = entry_at(self.store().conn(), p.audit_seq).map_err(t)?;
        let d = &entry["data"];
        if entry["event"] != events::REKEY_STARTED {
            return Err(t("that entry is not a rekey.started entry".into()));
        }
        let mut differ = Vec::new();
        let mut cmp = |what: &str, ok: bool| {
            if !ok {
                differ.push(what.to_owned());
            }
        };
        cmp("rekey id", d["rekey_id"].as_str() == Some(&p.rekey_id));
        cmp(
            "key version",
            d["new_version"].as_u64() == Some(u64::from(p.new_version))
                && p.new_version == self.info().key_version + 1,
        );
        cmp(
            "threshold",
            d["threshold"].as_u64() == Some(u64::from(p.threshold)),
        );
        cmp("share set", d["share_set"].as_str() == Some(&p.share_set));
        cmp(
            "master check value",
            d["master_check"].as_str() == Some(&crypto::hex(&p.master_check)),
        );
        let logged = custodians_of(d).map_err(t)?;
        cmp("custodians", logged == p.custodians);
        let fpr = share_set_fingerprint(
            self.info().vault_id,
            &p.rekey_id,
            p.new_version,
            p.threshold,
            &logged,
        );
        cmp("share-set fingerprint", crypto::hex(&fpr) == p.share_set);
        if !differ.is_empty() {
            return Err(t(format!("{} differ", differ.join(", "))));
        }
        Ok(Some(p))
    }

    /// The signed `rekey.verified` entries of rekey `p` since it started:
    /// the member indices whose signature verifies against the officer
    /// certificate the start recorded.
    fn verified_members(&self, p: &PendingRows) -> Result<BTreeSet<u8>, VaultError> {
        let conn = self.store().conn();
        let mut q = conn.prepare("SELECT body FROM audit WHERE seq > ?1 ORDER BY seq")?;
        let bodies = q
            .query_map([i64::try_from(p.audit_seq).unwrap_or(i64::MAX)], |r| {
                r.get::<_, Vec<u8>>(0)
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let vault = self.info().vault_id;
        let mut out = BTreeSet::new();
        for body in bodies {
            let Ok(e) = serde_json::from_slice::<Value>(&body) else {
                continue;
            };
            let d = &e["data"];
            if e["event"] != events::REKEY_VERIFIED || d["rekey_id"].as_str() != Some(&p.rekey_id) {
                continue;
            }
            let Some(c) = p
                .custodians
                .iter()
                .find(|c| d["member_index"].as_u64() == Some(u64::from(c.member_index)))
            else {
                continue;
            };
            let statement = verify_statement(vault, &p.rekey_id, &p.share_set, c);
            let ok = d["statement"].as_str() == Some(statement.as_str())
                && pgp::keys::parse_public_cert(&c.officer_cert)
                    .ok()
                    .is_some_and(|cert| {
                        pgp::verify_detached(
                            &cert,
                            statement.as_bytes(),
                            d["signature"].as_str().unwrap_or_default().as_bytes(),
                        )
                        .is_ok()
                    });
            if ok {
                out.insert(c.member_index);
            }
        }
        Ok(out)
    }

    /// The epoch fields a card of the key version in force must carry
    /// (`None` at key version 1, whose cards are format 1): for a card
    /// re-issued after a rekey.
    pub fn card_epoch(&self) -> Result<Option<CardEpoch>, VaultError> {
        let all = epochs(self.store().conn())?;
        let Some(last) = all.last() else {
            return Ok(None);
        };
        let entry = entry_at(self.store().conn(), last.audit_seq).map_err(VaultError::Tampered)?;
        let bad = || {
            VaultError::Tampered(format!(
                "the vault.rekeyed entry of rekey {} is unreadable",
                last.rekey_id
            ))
        };
        let rekey_id = data_encoding::HEXLOWER_PERMISSIVE
            .decode(last.rekey_id.as_bytes())
            .ok()
            .and_then(|v| <[u8; 8]>::try_from(v).ok())
            .ok_or_else(bad)?;
        let share_set = data_encoding::HEXLOWER_PERMISSIVE
            .decode(
                entry["data"]["share_set"]
                    .as_str()
                    .unwrap_or_default()
                    .as_bytes(),
            )
            .ok()
            .and_then(|v| <[u8; 32]>::try_from(v).ok())
            .ok_or_else(bad)?;
        Ok(Some(CardEpoch {
            key_version: last.key_version,
            rekey_id,
            share_set,
        }))
    }

    /// The pending rekey, if any, checked against the log (`rekey status`).
    pub fn pending_rekey(&self) -> Result<Option<PendingRekey>, VaultError> {
        let Some(p) = self.checked_pending()? else {
            return Ok(None);
        };
        let verified = self.verified_members(&p)?;
        Ok(Some(PendingRekey {
            rekey_id: p.rekey_id.clone(),
            share_set: p.share_set.clone(),
            old_version: self.info().key_version,
            new_version: p.new_version,
            threshold: p.threshold,
            share_count: u8::try_from(p.custodians.len()).unwrap_or(u8::MAX),
            started_at: p.started_at.clone(),
            started_entry: p.audit_seq,
            custodians: p
                .custodians
                .iter()
                .map(|c| PendingCustodian {
                    name: c.name.clone(),
                    member_index: c.member_index,
                    officer_fingerprint: c.officer_fingerprint.clone(),
                    verified: verified.contains(&c.member_index),
                })
                .collect(),
        }))
    }

    /// Whether a card names a rekey that is neither pending nor committed
    /// (left by a start that crashed or was cancelled): such a file in
    /// `--cards-out` may be replaced by a new start.
    fn is_abandoned_card(&self, path: &Path) -> Result<bool, VaultError> {
        let Ok(card) = SealedCard::read(path) else {
            return Ok(false);
        };
        let Some(e) = card.header.epoch else {
            return Ok(false);
        };
        if card.header.vault_id != self.info().vault_id {
            return Ok(false);
        }
        let id = hex_id(&e.rekey_id);
        let pending = self.pending_rows()?.is_some_and(|p| p.rekey_id == id);
        let committed = epochs(self.store().conn())?
            .iter()
            .any(|ep| ep.rekey_id == id);
        Ok(!pending && !committed)
    }

    /// Checks everything about `rekey start` that needs no passphrase: no
    /// rekey pending, the new quorum and names, and that no card would be
    /// overwritten (a card of an abandoned rekey may be). Call before
    /// asking anyone to type.
    pub fn rekey_preflight(
        &self,
        threshold: u8,
        custodians: &[String],
        cards_out: &Path,
    ) -> Result<(), VaultError> {
        if let Some(p) = self.pending_rows()? {
            return Err(VaultError::RekeyPending {
                rekey_id: p.rekey_id,
                share_set: short_share_set(&p.share_set),
            });
        }
        let (m, n) = (threshold as usize, custodians.len());
        if !(2..=n).contains(&m) || n > init::MAX_CUSTODIANS {
            return Err(VaultError::BadQuorum { m, n });
        }
        let mut seen = std::collections::HashSet::new();
        for name in custodians {
            init::check_name(name)?;
            if !seen.insert(name.to_ascii_lowercase()) {
                return Err(VaultError::DuplicateCustodian(name.clone()));
            }
        }
        for name in custodians {
            let path = cards_out.join(format!("{name}.card"));
            if path.exists() && !self.is_abandoned_card(&path)? {
                return Err(VaultError::WouldOverwrite(path));
            }
        }
        Ok(())
    }

    /// The card header checks of a new card of the pending rekey: the
    /// vault, the rekey and share set, and a custodian of the set.
    fn pending_custodian_of<'a>(
        &self,
        p: &'a PendingRows,
        card: &SealedCard,
    ) -> Result<&'a Custodian, VaultError> {
        let h = &card.header;
        if h.vault_id != self.info().vault_id {
            return Err(VaultError::ForeignCard {
                path: card.path.clone(),
                card_vault: h.vault_id,
                vault: self.info().vault_id,
            });
        }
        let not_of_this = |what: String| VaultError::NotOfPendingRekey {
            path: card.path.clone(),
            name: h.name.clone(),
            rekey: format!(
                "{} (share set {})",
                p.rekey_id,
                short_share_set(&p.share_set)
            ),
            what,
        };
        let Some(e) = h.epoch else {
            return Err(not_of_this(
                "it is a card of the key ceremony, not of a rekey".into(),
            ));
        };
        if hex_id(&e.rekey_id) != p.rekey_id || crypto::hex(&e.share_set) != p.share_set {
            return Err(not_of_this(format!(
                "it was made by rekey {} (share set {}), a rekey that was cancelled, abandoned or replaced",
                hex_id(&e.rekey_id),
                short_share_set(&crypto::hex(&e.share_set))
            )));
        }
        p.custodians
            .iter()
            .find(|c| c.member_index == h.member_index && c.name == h.name)
            .ok_or_else(|| {
                not_of_this(format!(
                    "it names custodian {} (share {}), who is not in the new set",
                    h.name, h.member_index
                ))
            })
    }

    /// Opens a new card of the pending rekey and checks its share and
    /// officer key against the set the start recorded.
    fn open_pending_card(
        &self,
        p: &PendingRows,
        card: &SealedCard,
        pass: &SecretString,
    ) -> Result<(Custodian, Share, SecretCert), VaultError> {
        let cust = self.pending_custodian_of(p, card)?.clone();
        let policy = self.info().kdf_policy();
        if card.header.kdf.weaker_than(&policy) {
            return Err(VaultError::WeakCardKdf {
                path: card.path.clone(),
                name: cust.name.clone(),
                card: card.header.kdf,
                policy,
            });
        }
        let secrets = card.open(pass)?;
        let mismatch = || VaultError::ShareMismatch {
            path: card.path.clone(),
            name: cust.name.clone(),
        };
        let share =
            Share::from_mnemonic(secrets.mnemonic.expose_secret()).map_err(|_| mismatch())?;
        let canonical = share.to_mnemonic();
        let commitment = keys::share_commitment(
            self.info().vault_id,
            share.member_index(),
            canonical.expose_secret(),
        );
        if share.member_index() != cust.member_index
            || !crypto::ct_eq(&commitment, &cust.commitment)
        {
            return Err(mismatch());
        }
        let key = SecretCert::from_secret_bytes(&secrets.officer_key).map_err(|_| mismatch())?;
        if key.fingerprint() != cust.officer_fingerprint {
            return Err(mismatch());
        }
        Ok((cust, share, key))
    }

    fn refuse<T>(
        &mut self,
        purpose: &str,
        cards: &[&SealedCard],
        e: VaultError,
    ) -> Result<T, VaultError> {
        let names = cards.iter().map(|c| c.header.name.clone()).collect();
        let described = cards
            .iter()
            .map(|c| format!("{} ({})", c.header.name, c.path.display()))
            .collect();
        self.record_refusal(purpose, names, described, &e.to_string());
        Err(e)
    }

    /// The pending rekey (checked), or the refusal that none is.
    fn require_pending(&self) -> Result<PendingRows, VaultError> {
        self.checked_pending()?.ok_or(VaultError::NoPendingRekey)
    }

    /// Checks, from the card headers alone, that `cards` are of the
    /// pending rekey and that their passphrases are worth asking for:
    /// for `rekey verify` one card; for `rekey commit` M distinct cards
    /// and every card of the set verified. Returns the pending rekey.
    pub fn check_rekey_cards(
        &mut self,
        cards: &[SealedCard],
        commit: bool,
    ) -> Result<PendingRekey, VaultError> {
        let purpose = if commit {
            "rekey commit"
        } else {
            "rekey verify"
        };
        let all: Vec<&SealedCard> = cards.iter().collect();
        let result = (|| {
            let p = self.require_pending()?;
            let mut seen = BTreeSet::new();
            for card in cards {
                let c = self.pending_custodian_of(&p, card)?;
                if !seen.insert(c.member_index) {
                    return Err(VaultError::Refused(format!(
                        "card {} of {} is given twice",
                        card.path.display(),
                        c.name
                    )));
                }
            }
            let status = self.pending_rekey()?.ok_or(VaultError::NoPendingRekey)?;
            if commit {
                let unverified = status.unverified();
                if !unverified.is_empty() {
                    return Err(VaultError::RekeyNotVerified {
                        rekey_id: p.rekey_id.clone(),
                        unverified,
                        total: p.custodians.len(),
                    });
                }
                if seen.len() < usize::from(p.threshold) {
                    return Err(VaultError::TooFewCards {
                        needed: usize::from(p.threshold),
                        total: p.custodians.len(),
                        given: seen.len(),
                    });
                }
            }
            Ok(status)
        })();
        match result {
            Ok(s) => Ok(s),
            Err(e) => self.refuse(purpose, &all, e),
        }
    }

    /// `rekey verify`: a new custodian opens their own card of the pending
    /// rekey; the vault records it with a statement signed by the card's
    /// new officer key (commit counts only those signatures).
    pub fn rekey_verify(
        &mut self,
        card: &SealedCard,
        pass: &SecretString,
    ) -> Result<PendingCustodian, VaultError> {
        let p = match self.require_pending() {
            Ok(p) => p,
            Err(e) => return self.refuse("rekey verify", &[card], e),
        };
        let (cust, _share, key) = match self.open_pending_card(&p, card, pass) {
            Ok(x) => x,
            Err(e) => return self.refuse("rekey verify", &[card], e),
        };
        let statement = verify_statement(self.info().vault_id, &p.rekey_id, &p.share_set, &cust);
        let signature = pgp::sign_detached(&key, statement.as_bytes()).map_err(VaultError::Pgp)?;
        drop(key);
        crash_point("rekey-verify-before");
        let id = self.info().vault_id.to_string();
        let event = Event {
            kind: events::REKEY_VERIFIED,
            actors: vec![cust.name.clone()],
            data: json!({
                "rekey_id": p.rekey_id,
                "share_set": p.share_set,
                "custodian": cust.name,
                "member_index": cust.member_index,
                "statement": statement,
                "signature": signature,
            }),
        };
        let now = audit::now_rfc3339();
        let rekey_id = p.rekey_id.clone();
        self.store_mut().write(|tx| {
            let still: Option<String> = tx
                .query_row("SELECT rekey_id FROM rekey_pending", [], |r| r.get(0))
                .optional()?;
            if still.as_deref() != Some(rekey_id.as_str()) {
                return Err(VaultError::NoPendingRekey);
            }
            tx.execute(
                "UPDATE rekey_custodians SET verified_at = ?1 WHERE member_index = ?2",
                params![now, cust.member_index],
            )?;
            audit::append(tx, &id, &event)?;
            Ok::<_, VaultError>(())
        })?;
        crash_point("rekey-verify-committed");
        Ok(PendingCustodian {
            name: cust.name,
            member_index: cust.member_index,
            officer_fingerprint: cust.officer_fingerprint,
            verified: true,
        })
    }

    /// `rekey cancel`: `officer` (proven with a card of the current set)
    /// discards the pending rekey; its cards then open nothing.
    pub fn rekey_cancel(&mut self, officer: &super::Officer) -> Result<PendingRekey, VaultError> {
        // Cancel must work on a pending set whose rows were edited: it
        // only deletes them, so the rows are read unchecked.
        let p = self.pending_rows()?.ok_or(VaultError::NoPendingRekey)?;
        let id = self.info().vault_id.to_string();
        let event = Event {
            kind: events::REKEY_CANCELLED,
            actors: vec![officer.name.clone()],
            data: json!({
                "rekey_id": p.rekey_id,
                "share_set": p.share_set,
                "new_version": p.new_version,
                "by": officer.name,
            }),
        };
        crash_point("rekey-cancel-before");
        self.store_mut().write(|tx| {
            discard_pending(tx)?;
            audit::append(tx, &id, &event)?;
            Ok::<_, VaultError>(())
        })?;
        crash_point("rekey-cancel-committed");
        Ok(PendingRekey {
            rekey_id: p.rekey_id,
            share_set: p.share_set,
            old_version: self.info().key_version,
            new_version: p.new_version,
            threshold: p.threshold,
            share_count: u8::try_from(p.custodians.len()).unwrap_or(u8::MAX),
            started_at: p.started_at,
            started_entry: p.audit_seq,
            custodians: Vec::new(),
        })
    }

    /// `rekey commit`: M new cards (all N verified) switch the vault to
    /// the new key in one transaction, then a checkpoint is signed with
    /// the vault key opened under the new key. `log` is the log check made
    /// before the passphrases were asked for (a broken log refuses).
    pub fn rekey_commit(
        mut self,
        cards: Vec<(SealedCard, SecretString)>,
        log: LogCheck,
    ) -> Result<(RekeyCommitted, UnsealedVault), VaultError> {
        const PURPOSE: &str = "rekey commit";
        let headers: Vec<SealedCard> = cards.iter().map(|(c, _)| c.clone()).collect();
        let all: Vec<&SealedCard> = headers.iter().collect();
        if !log.is_intact() {
            let e = VaultError::BrokenLog {
                purpose: PURPOSE.into(),
                reason: log.reason(),
            };
            return self.refuse(PURPOSE, &all, e);
        }
        // Refusals are logged by the check.
        self.check_rekey_cards(&headers, true)?;
        let p = self.require_pending()?;
        let mut shares = Vec::new();
        let mut names = Vec::new();
        for (card, pass) in &cards {
            match self.open_pending_card(&p, card, pass) {
                Ok((c, s, _key)) => {
                    names.push(c.name);
                    shares.push(s);
                }
                Err(e) => return self.refuse(PURPOSE, &all, e),
            }
        }
        shares.truncate(usize::from(p.threshold));
        let vault_id = self.info().vault_id;
        let mk = match shares::combine(&shares, b"")
            .map_err(|e| e.to_string())
            .and_then(|s| {
                let mut bytes = s.expose_secret().clone();
                Key32::from_slice_wiping(&mut bytes)
                    .ok_or_else(|| "the shares hold a secret of the wrong length".to_owned())
            }) {
            Ok(k) => k,
            Err(why) => return self.refuse(PURPOSE, &all, VaultError::WrongMasterKey(why)),
        };
        drop(shares);
        if !crypto::ct_eq(&keys::master_check(&mk, vault_id), &p.master_check) {
            let e = VaultError::WrongMasterKey(
                "its check value does not match the one the rekey's start recorded".into(),
            );
            return self.refuse(PURPOSE, &all, e);
        }
        let kek = SealingKey::new(&keys::kek(&mk, vault_id, p.new_version));
        drop(mk);
        // The vault's own key must open under the new key: a pending set
        // forged without a quorum cannot hold it.
        let tsk = kek
            .open(
                &keys::aad_vault_key(vault_id, p.new_version),
                &p.vault_key_sealed,
            )
            .map_err(|_| {
                VaultError::Tampered(format!(
                    "the vault key of pending rekey {} does not open under the new key",
                    p.rekey_id
                ))
            })?;
        let key =
            SecretCert::from_secret_bytes(&tsk).map_err(|e| VaultError::Tampered(e.to_string()))?;
        let cert = pgp::keys::parse_public_cert(&self.info().vault_cert)
            .map_err(|e| VaultError::Tampered(e.to_string()))?;
        if key.cert().fingerprint() != cert.fingerprint() {
            return Err(VaultError::Tampered(format!(
                "pending rekey {} holds a vault key that is not this vault's",
                p.rekey_id
            )));
        }
        drop(key);
        // Every data key has a new wrap, and each opens under the new key.
        let wraps: Vec<(i64, Option<Vec<u8>>)> = {
            let mut q = self.store().conn().prepare(
                "SELECT d.id, w.wrapped FROM data_keys d
                 LEFT JOIN rekey_wraps w ON w.data_key_id = d.id ORDER BY d.id",
            )?;
            let rows = q
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            rows
        };
        for (dk, wrapped) in &wraps {
            let Some(w) = wrapped else {
                return Err(VaultError::Refused(format!(
                    "batch data key {dk} was made after rekey {} started (a batch was ingested meanwhile), so it has no wrap under the new key; \
                     cancel this rekey and start it again",
                    p.rekey_id
                )));
            };
            kek.open(&keys::aad_data_key(vault_id, *dk, p.new_version), w)
                .map_err(|_| {
                    VaultError::Tampered(format!(
                        "the new wrap of data key {dk} in pending rekey {} does not open under the new key",
                        p.rekey_id
                    ))
                })?;
        }
        let share_count = u8::try_from(p.custodians.len())
            .map_err(|_| VaultError::Tampered("too many pending custodians".into()))?;
        let old_version = self.info().key_version;
        let at = audit::now_rfc3339();
        let data_keys = wraps.len() as u64;
        let event = Event {
            kind: events::VAULT_REKEYED,
            actors: names.clone(),
            data: json!({
                "rekey_id": p.rekey_id,
                "share_set": p.share_set,
                "old_version": old_version,
                "new_version": p.new_version,
                "at": at,
                "threshold": p.threshold,
                "share_count": share_count,
                "master_check": crypto::hex(&p.master_check),
                "custodians": p.custodians.iter().map(custodian_json).collect::<Vec<_>>(),
                "data_keys": data_keys,
            }),
        };
        crash_point("rekey-commit-before");
        let id = vault_id.to_string();
        let rekey_id = p.rekey_id.clone();
        self.store_mut().write(|tx| {
            let still: Option<String> = tx
                .query_row("SELECT rekey_id FROM rekey_pending", [], |r| r.get(0))
                .optional()?;
            if still.as_deref() != Some(rekey_id.as_str()) {
                return Err(VaultError::NoPendingRekey);
            }
            tx.execute(
                "UPDATE vault SET threshold = ?1, share_count = ?2, key_version = ?3,
                    master_check = ?4, vault_key_sealed = ?5",
                params![
                    p.threshold,
                    share_count,
                    p.new_version,
                    p.master_check,
                    p.vault_key_sealed
                ],
            )?;
            tx.execute("DELETE FROM custodians", [])?;
            for c in &p.custodians {
                tx.execute(
                    "INSERT INTO custodians (member_index, name, commitment, officer_fpr, officer_cert)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        c.member_index,
                        c.name,
                        &c.commitment[..],
                        c.officer_fingerprint,
                        c.officer_cert
                    ],
                )?;
            }
            // The old wraps are overwritten in place; secure_delete (on
            // for every connection) zeroes what SQLite frees.
            let changed = tx.execute(
                "UPDATE data_keys SET key_version = ?1,
                    wrapped = (SELECT wrapped FROM rekey_wraps WHERE data_key_id = data_keys.id)",
                [p.new_version],
            )?;
            if changed as u64 != data_keys {
                return Err(VaultError::VaultChanged {
                    command: "rekey commit",
                });
            }
            discard_pending(tx)?;
            let head = audit::append(tx, &id, &event)?;
            tx.execute(
                "INSERT INTO key_epochs (key_version, rekey_id, audit_seq, rekeyed_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![p.new_version, rekey_id, head.count, at],
            )?;
            Ok::<_, VaultError>(())
        })?;
        crash_point("rekey-commit-committed");
        let vault = Vault::open(self.dir())?;
        let committed = RekeyCommitted {
            rekey_id: p.rekey_id.clone(),
            share_set: p.share_set.clone(),
            old_version,
            new_version: p.new_version,
            threshold: p.threshold,
            share_count,
            data_keys,
            at,
            master_check: crypto::hex(&p.master_check),
        };
        let unsealed = UnsealedVault::after_rekey(vault, kek, names, log.verified, PURPOSE);
        Ok((committed, unsealed))
    }
}

fn discard_pending(tx: &rusqlite::Transaction<'_>) -> Result<(), rusqlite::Error> {
    tx.execute("DELETE FROM rekey_wraps", [])?;
    tx.execute("DELETE FROM rekey_custodians", [])?;
    tx.execute("DELETE FROM rekey_pending", [])?;
    Ok(())
}

impl UnsealedVault {
    /// `rekey start`: makes master key v+1 and one card per new custodian,
    /// rewraps every data key and the vault key under KEK_{v+1} into the
    /// pending tables, and writes the cards to `p.cards_out` before the
    /// transaction that records the start. Nothing of key v changes.
    pub fn rekey_start(&mut self, p: RekeyParams) -> Result<RekeyStarted, VaultError> {
        let prepared = self.rekey_prepare(p.threshold, &p.custodians, &p.cards_out)?;
        self.rekey_start_prepared(prepared, p.passphrases)
    }

    /// The first half of `rekey start`, before the new custodians type
    /// their passphrases: the new master key, shares and officer keys in
    /// memory, and so the rekey id and the share-set fingerprint every
    /// prompt shows. Nothing is written.
    pub fn rekey_prepare(
        &self,
        threshold: u8,
        names: &[String],
        cards_out: &Path,
    ) -> Result<PreparedRekey, VaultError> {
        self.vault().rekey_preflight(threshold, names, cards_out)?;
        let info = self.vault().info();
        let vault_id = info.vault_id;
        let new_version = info.key_version + 1;
        let rekey_bytes: [u8; 8] = crypto::random::array().map_err(crypto_err)?;
        let rekey_id = hex_id(&rekey_bytes);
        let m = threshold;
        let n = u8::try_from(names.len()).map_err(|_| VaultError::BadQuorum {
            m: m.into(),
            n: names.len(),
        })?;
        let mk = Key32::random().map_err(crypto_err)?;
        let shares = shares::split(
            mk.expose(),
            m,
            n,
            b"",
            init::ITERATION_EXPONENT,
            &crypto::random::system(),
        )
        .map_err(crypto_err)?;
        let mut custodians = Vec::new();
        let mut secrets = Vec::new();
        for (name, share) in names.iter().zip(&shares) {
            let officer =
                pgp::generate_officer_key(name, &vault_id.to_string()).map_err(crypto_err)?;
            let mnemonic = share.to_mnemonic();
            let idx = share.member_index();
            custodians.push(Custodian {
                name: name.clone(),
                member_index: idx,
                commitment: keys::share_commitment(vault_id, idx, mnemonic.expose_secret()),
                officer_fingerprint: officer.fingerprint(),
                officer_cert: officer.public_bytes().map_err(crypto_err)?,
            });
            secrets.push(CardSecrets {
                officer_key: officer.to_secret_bytes().map_err(crypto_err)?,
                mnemonic,
            });
        }
        drop(shares);
        let share_set = share_set_fingerprint(vault_id, &rekey_id, new_version, m, &custodians);
        Ok(PreparedRekey {
            rekey_bytes,
            rekey_id,
            new_version,
            threshold: m,
            share_count: n,
            share_set,
            custodians,
            secrets,
            mk,
            cards_out: cards_out.to_owned(),
        })
    }

    /// The second half of `rekey start`: seals one card per custodian of
    /// `prepared` under their passphrase (same order), rewraps, writes the
    /// cards and then records the start. See [`UnsealedVault::rekey_start`].
    pub fn rekey_start_prepared(
        &mut self,
        prepared: PreparedRekey,
        passphrases: Vec<SecretString>,
    ) -> Result<RekeyStarted, VaultError> {
        let PreparedRekey {
            rekey_bytes,
            rekey_id,
            new_version,
            threshold: m,
            share_count: n,
            share_set: share_set_bytes,
            custodians,
            secrets,
            mk,
            cards_out,
        } = prepared;
        let names: Vec<String> = custodians.iter().map(|c| c.name.clone()).collect();
        // Again: another command may have started a rekey meanwhile.
        self.vault().rekey_preflight(m, &names, &cards_out)?;
        if passphrases.len() != names.len() {
            return Err(VaultError::PassphraseCount {
                needed: names.len(),
                given: passphrases.len(),
            });
        }
        for (name, pass) in names.iter().zip(&passphrases) {
            let chars = pass.expose_secret().chars().count();
            if chars < init::MIN_PASSPHRASE_CHARS {
                return Err(VaultError::WeakPassphrase {
                    custodian: name.clone(),
                    chars,
                });
            }
        }
        let info = self.vault().info().clone();
        if new_version != info.key_version + 1 {
            return Err(VaultError::VaultChanged {
                command: "rekey start",
            });
        }
        let vault_id = info.vault_id;
        let share_set = crypto::hex(&share_set_bytes);
        let master_check = keys::master_check(&mk, vault_id);

        // Rewrap under KEK_{v+1}: every data key, and the vault key.
        let new_kek = SealingKey::new(&keys::kek(&mk, vault_id, new_version));
        drop(mk);
        let vault_key_sealed = {
            let tsk = self.vault_key()?.to_secret_bytes().map_err(crypto_err)?;
            new_kek
                .seal(&keys::aad_vault_key(vault_id, new_version), &tsk)
                .map_err(crypto_err)?
        };
        let old: Vec<(i64, i64, Vec<u8>)> = {
            let mut q = self
                .vault()
                .store()
                .conn()
                .prepare("SELECT id, key_version, wrapped FROM data_keys ORDER BY id")?;
            let rows = q
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            rows
        };
        let mut wraps = Vec::with_capacity(old.len());
        for (dk, version, wrapped) in old {
            let version: u32 = stored(version, &format!("key version of data key {dk}"))?;
            let raw = self
                .kek()
                .open(&keys::aad_data_key(vault_id, dk, version), &wrapped)
                .map_err(|_| {
                    VaultError::Tampered(format!("data key {dk} does not open (altered or moved)"))
                })?;
            let rewrapped = new_kek
                .seal(&keys::aad_data_key(vault_id, dk, new_version), &raw)
                .map_err(crypto_err)?;
            wraps.push((dk, rewrapped));
        }
        drop(new_kek);

        // The cards, each naming the rekey and the share set.
        let epoch = CardEpoch {
            key_version: new_version,
            rekey_id: rekey_bytes,
            share_set: share_set_bytes,
        };
        let kdf = info.kdf_policy();
        let mut card_bytes = Vec::new();
        for ((c, s), pass) in custodians.iter().zip(&secrets).zip(&passphrases) {
            card_bytes.push(
                cards::seal_in_epoch(
                    (vault_id, c.member_index, m, &c.name),
                    Some(epoch),
                    kdf,
                    pass,
                    s,
                )
                .map_err(crypto_err)?,
            );
        }
        drop(secrets);
        let card_paths = write_cards(self.vault(), &cards_out, &names, &card_bytes)?;
        crash_point("rekey-start-cards-written");

        let id = vault_id.to_string();
        let started_at = audit::now_rfc3339();
        let event = Event {
            kind: events::REKEY_STARTED,
            actors: self.officer_names(),
            data: json!({
                "rekey_id": rekey_id,
                "old_version": info.key_version,
                "new_version": new_version,
                "threshold": m,
                "share_count": n,
                "share_set": share_set,
                "master_check": crypto::hex(&master_check),
                "custodians": custodians.iter().map(custodian_json).collect::<Vec<_>>(),
            }),
        };
        self.vault_mut().store_mut().write(|tx| {
            let pending: Option<String> = tx
                .query_row("SELECT rekey_id FROM rekey_pending", [], |r| r.get(0))
                .optional()?;
            if let Some(other) = pending {
                return Err(VaultError::RekeyPending {
                    rekey_id: other,
                    share_set: String::new(),
                });
            }
            let head = audit::append(tx, &id, &event)?;
            tx.execute(
                "INSERT INTO rekey_pending (singleton, rekey_id, new_version, threshold, share_set,
                    master_check, vault_key_sealed, started_at, audit_seq)
                 VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    rekey_id,
                    new_version,
                    m,
                    share_set,
                    &master_check[..],
                    vault_key_sealed,
                    started_at,
                    head.count
                ],
            )?;
            for c in &custodians {
                tx.execute(
                    "INSERT INTO rekey_custodians (member_index, name, commitment, officer_fpr, officer_cert)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        c.member_index,
                        c.name,
                        &c.commitment[..],
                        c.officer_fingerprint,
                        c.officer_cert
                    ],
                )?;
            }
            let mut ins = tx.prepare_cached(
                "INSERT INTO rekey_wraps (data_key_id, wrapped) VALUES (?1, ?2)",
            )?;
            for (dk, w) in &wraps {
                ins.execute(params![dk, w])?;
            }
            Ok::<_, VaultError>(())
        })?;
        crash_point("rekey-start-committed");
        Ok(RekeyStarted {
            rekey_id,
            share_set,
            new_version,
            card_paths,
        })
    }
}

/// Writes the new cards: each under a temporary name, synced, then linked
/// to `NAME.card` (replacing only a card of an abandoned rekey).
fn write_cards(
    vault: &Vault,
    cards_out: &Path,
    names: &[String],
    bytes: &[Vec<u8>],
) -> Result<Vec<PathBuf>, VaultError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| VaultError::Io { path, source }
    };
    fs::create_dir_all(cards_out).map_err(io(cards_out))?;
    let mut paths = Vec::new();
    for (name, b) in names.iter().zip(bytes) {
        let path = cards_out.join(format!("{name}.card"));
        let partial = path.with_extension("card.partial");
        // A partial file is only ever left by a start that died here.
        let _ = fs::remove_file(&partial);
        init::write_new(&partial, b, 0o600)?;
        if path.exists() {
            if !vault.is_abandoned_card(&path)? {
                let _ = fs::remove_file(&partial);
                return Err(VaultError::WouldOverwrite(path));
            }
            fs::remove_file(&path).map_err(io(&path))?;
        }
        fs::hard_link(&partial, &path).map_err(|e| VaultError::creating(&path, e))?;
        let _ = fs::remove_file(&partial);
        paths.push(path);
    }
    init::sync_dir(cards_out)?;
    Ok(paths)
}

/// What the vault says about a card of another key epoch than the one in
/// force, from its header alone; `None` when the header is of this epoch
/// or says nothing (a key ceremony card).
pub(crate) fn epoch_refusal(vault: &Vault, card: &SealedCard) -> Option<VaultError> {
    // A key ceremony card once the vault was rekeyed: every card of a
    // later epoch names its epoch (a re-issue after a rekey too, see
    // `Vault::card_epoch`), so this one is of key version 1.
    let Some(e) = card.header.epoch else {
        return genesis_card_refusal(vault, card, None);
    };
    let current = vault.info().key_version;
    let conn = vault.store().conn();
    let all = epochs(conn).ok()?;
    let id = hex_id(&e.rekey_id);
    if e.key_version < current {
        return Some(retired(card, e.key_version, &all));
    }
    if all
        .iter()
        .any(|ep| ep.key_version == e.key_version && ep.rekey_id == id)
    {
        return None;
    }
    let pending = vault.pending_rows().ok().flatten();
    let state = match pending {
        Some(p) if p.rekey_id == id => format!(
            "is pending and not committed yet (key version {}); until `seedvault rekey commit` the current cards open the vault",
            p.new_version
        ),
        _ => "was cancelled or never committed; the card opens nothing".to_owned(),
    };
    Some(VaultError::UncommittedCard {
        path: card.path.clone(),
        name: card.header.name.clone(),
        rekey: format!(
            "{id} (share set {})",
            short_share_set(&crypto::hex(&e.share_set))
        ),
        state,
    })
}

/// The refusal of a card of key version `version`, retired by the rekey
/// that made version + 1.
fn retired(card: &SealedCard, version: u32, all: &[Epoch]) -> VaultError {
    let date = all
        .iter()
        .find(|ep| ep.key_version == version + 1)
        .map(|ep| ep.at.chars().take(10).collect::<String>())
        .unwrap_or_else(|| "an unrecorded date".into());
    VaultError::RetiredCard {
        path: card.path.clone(),
        name: card.header.name.clone(),
        version,
        date,
    }
}

/// For a key ceremony card (no epoch in its header) when the vault has
/// been rekeyed: the refusal naming it retired, if it is one of the
/// genesis set (by name and index, or by the share's commitment when
/// `commitment` is given).
pub(crate) fn genesis_card_refusal(
    vault: &Vault,
    card: &SealedCard,
    commitment: Option<&[u8; 32]>,
) -> Option<VaultError> {
    if card.header.epoch.is_some() || vault.info().key_version == 1 {
        return None;
    }
    let body = audit::genesis_body(vault.store().conn()).ok()??;
    let entry: Value = serde_json::from_slice(&body).ok()?;
    let genesis = custodians_of(&entry["data"]).ok()?;
    let hit = genesis.iter().any(|c| {
        c.member_index == card.header.member_index
            && c.name == card.header.name
            && commitment.is_none_or(|x| crypto::ct_eq(x, &c.commitment))
    });
    let all = epochs(vault.store().conn()).ok()?;
    hit.then(|| retired(card, 1, &all))
}
