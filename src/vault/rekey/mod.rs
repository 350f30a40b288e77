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

mod commit;
mod epochs;
mod start;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rusqlite::OptionalExtension;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use super::{init, keys, stored, Custodian, Vault, VaultError};
use crate::audit::events;
use crate::cards::{SealedCard, VaultId};
use crate::crypto;
use crate::pgp::{self, SecretCert};
use crate::shares::Share;

use epochs::share_set_fingerprint;
pub(crate) use epochs::{
    current_epoch_data, custodians_of, entry_at, epoch_refusal, epochs, genesis_card_refusal,
};
pub use start::PreparedRekey;

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

pub(super) fn custodian_json(c: &Custodian) -> Value {
    json!({
        "name": c.name,
        "member_index": c.member_index,
        "commitment": crypto::hex(&c.commitment),
        "officer_fingerprint": c.officer_fingerprint,
        "officer_cert": data_encoding::BASE64.encode(&c.officer_cert),
    })
}

/// Test builds only: dies here, as a power cut or `kill -9` would, when
/// `SEEDVAULT_TEST_CRASH_AT` names this point. Compiled out of release
/// builds.
pub(super) fn crash_point(name: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("SEEDVAULT_TEST_CRASH_AT").as_deref() == Ok(name) {
        std::process::abort();
    }
    let _ = name;
}

/// The pending rekey's rows as stored (not yet checked).
pub(super) struct PendingRows {
    pub(super) rekey_id: String,
    pub(super) new_version: u32,
    pub(super) threshold: u8,
    pub(super) share_set: String,
    pub(super) master_check: Vec<u8>,
    pub(super) vault_key_sealed: Vec<u8>,
    pub(super) started_at: String,
    pub(super) audit_seq: u64,
    pub(super) custodians: Vec<Custodian>,
}

pub(super) fn crypto_err(e: impl std::fmt::Display) -> VaultError {
    VaultError::Crypto(e.to_string())
}

pub(super) fn hex_id(id: &[u8; 8]) -> String {
    crypto::hex(id)
}

/// The statement a new custodian's card signs at `rekey verify`.
pub(super) fn verify_statement(
    vault: VaultId,
    rekey_id: &str,
    share_set: &str,
    c: &Custodian,
) -> String {
    format!(
        "seedvault rekey card verified\nvault: {vault}\nrekey: {rekey_id}\nshare-set: {share_set}\ncustodian: {}\nmember-index: {}\nofficer: {}",
        c.name, c.member_index, c.officer_fingerprint
    )
}

impl Vault {
    pub(super) fn pending_rows(&self) -> Result<Option<PendingRows>, VaultError> {
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
    pub(super) fn checked_pending(&self) -> Result<Option<PendingRows>, VaultError> {
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
    pub(super) fn verified_members(&self, p: &PendingRows) -> Result<BTreeSet<u8>, VaultError> {
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
    pub(super) fn is_abandoned_card(&self, path: &Path) -> Result<bool, VaultError> {
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
    pub(super) fn pending_custodian_of<'a>(
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
    pub(super) fn open_pending_card(
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

    pub(super) fn refuse<T>(
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
    pub(super) fn require_pending(&self) -> Result<PendingRows, VaultError> {
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
}

pub(super) fn discard_pending(tx: &rusqlite::Transaction<'_>) -> Result<(), rusqlite::Error> {
    tx.execute("DELETE FROM rekey_wraps", [])?;
    tx.execute("DELETE FROM rekey_custodians", [])?;
    tx.execute("DELETE FROM rekey_pending", [])?;
    Ok(())
}
