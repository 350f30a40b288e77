//! Key epochs: which key version, share set and officer certificates are
//! in force, as the genesis entry and each `vault.rekeyed` entry record
//! them, and what a card of another epoch is told.

use serde_json::Value;

use super::{hex_id, short_share_set};
use crate::audit::{self, events};
use crate::cards::{CardEpoch, SealedCard, VaultId};
use crate::crypto;
use crate::vault::{stored, Custodian, Vault, VaultError};
use rusqlite::OptionalExtension;

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

impl Vault {
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
