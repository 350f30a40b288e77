//! `rekey start`: the new key, shares, officer keys and cards, made in
//! memory, then the cards written, then the start recorded.

use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::{params, OptionalExtension};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::epochs::share_set_fingerprint;
use super::{crash_point, crypto_err, custodian_json, hex_id, RekeyParams, RekeyStarted};
use crate::audit::{self, events, Event};
use crate::cards::{self, CardEpoch, CardSecrets};
use crate::crypto::{self, Key32, SealingKey};
use crate::pgp;
use crate::shares;
use crate::vault::{init, keys, stored, Custodian, UnsealedVault, Vault, VaultError};
use crate::vault::{insert_custodians, CustodianTable};

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
            insert_custodians(tx, CustodianTable::Pending, &custodians)?;
            let mut ins = tx
                .prepare_cached("INSERT INTO rekey_wraps (data_key_id, wrapped) VALUES (?1, ?2)")?;
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
