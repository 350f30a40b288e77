//! `rekey verify`, `rekey cancel` and `rekey commit`.

use rusqlite::{params, OptionalExtension};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::{
    crash_point, custodian_json, discard_pending, verify_statement, PendingCustodian, PendingRekey,
    RekeyCommitted,
};
use crate::audit::{self, events, Event};
use crate::cards::SealedCard;
use crate::crypto::{self, Key32, SealingKey};
use crate::pgp::{self, SecretCert};
use crate::shares;
use crate::vault::{insert_custodians, CustodianTable};
use crate::vault::{keys, LogCheck, Officer, UnsealedVault, Vault, VaultError};

impl Vault {
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
    pub fn rekey_cancel(&mut self, officer: &Officer) -> Result<PendingRekey, VaultError> {
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
            insert_custodians(tx, CustodianTable::Current, &p.custodians)?;
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
