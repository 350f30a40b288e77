//! The key ceremony that creates a vault.
//!
//! Everything is generated in memory first: master key, shares, vault key,
//! officer keys, cards. Then the files appear in an order that never
//! leaves a usable vault without its cards: cards are written under
//! temporary names, the database is built under a temporary name and
//! linked into place (no-clobber, so two ceremonies cannot race), and only
//! then do the cards take their final names. On any failure the temporary
//! files are removed and nothing is left behind.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rusqlite::params;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::{keys, VaultError, VaultInfo};
use crate::audit::{self, events, Event};
use crate::cards::{self, CardSecrets, VaultId};
use crate::crypto::{self, KdfParams, Key32, SealingKey};
use crate::pgp;
use crate::shares;
use crate::store::{Store, DB_FILE};

/// Most custodians a vault can have (SLIP-0039 member indices 0..=15).
pub const MAX_CUSTODIANS: usize = 16;
/// Shortest passphrase accepted for a card.
pub const MIN_PASSPHRASE_CHARS: usize = 12;
/// SLIP-0039 iteration exponent for the master key's shares. The shares
/// are protected by the card seal, not by the SLIP-0039 passphrase (which
/// is empty), so the exponent only needs to match the reference default.
pub(super) const ITERATION_EXPONENT: u8 = 1;
/// The public certificate written beside the cards.
pub const CERT_FILE: &str = "vault-cert.asc";

/// What a ceremony needs.
#[derive(Debug)]
pub struct InitParams {
    /// M.
    pub threshold: u8,
    /// The custodians, in order; member index = position.
    pub custodians: Vec<String>,
    /// One passphrase per custodian, same order.
    pub passphrases: Vec<SecretString>,
    /// Argon2id cost for the cards. Weaker than RFC 9106's second
    /// recommendation makes the vault a test vault.
    pub kdf: KdfParams,
    /// Lifetime of an approval.
    pub approval_ttl_s: i64,
    /// Where the cards and `vault-cert.asc` go.
    pub cards_out: PathBuf,
}

/// What a ceremony produced.
#[derive(Debug, Clone)]
pub struct InitOutcome {
    /// The new vault's id.
    pub vault_id: VaultId,
    /// One card per custodian, in order.
    pub card_paths: Vec<PathBuf>,
    /// The public certificate file.
    pub cert_path: PathBuf,
    /// The vault key's fingerprint.
    pub vault_fingerprint: String,
    /// Made with a fast (insecure) KDF.
    pub test_vault: bool,
}

pub(super) fn check_name(name: &str) -> Result<(), VaultError> {
    let bad = |why| {
        Err(VaultError::BadCustodianName {
            name: name.to_owned(),
            why,
        })
    };
    if name.is_empty() || name.len() > cards::MAX_NAME_LEN {
        return bad("names are 1 to 64 characters");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return bad("use letters, digits, '.', '_' and '-' only (it becomes the card's file name)");
    }
    if name.starts_with(['.', '-']) {
        return bad("a name cannot start with '.' or '-'");
    }
    Ok(())
}

/// Checks everything about a ceremony that needs no passphrase: the
/// quorum, the names, and that nothing would be overwritten. The CLI calls
/// it before asking anyone to type a passphrase.
pub fn preflight(
    dir: &Path,
    threshold: u8,
    custodians: &[String],
    cards_out: &Path,
) -> Result<(), VaultError> {
    let (m, n) = (threshold as usize, custodians.len());
    if !(2..=n).contains(&m) || n > MAX_CUSTODIANS {
        return Err(VaultError::BadQuorum { m, n });
    }
    let mut seen = std::collections::HashSet::new();
    for name in custodians {
        check_name(name)?;
        // Card media are often FAT-formatted: names differing only in case collide.
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(VaultError::DuplicateCustodian(name.clone()));
        }
    }
    if dir.join(DB_FILE).exists() {
        return Err(VaultError::AlreadyExists(dir.to_owned()));
    }
    clear_interrupted(dir, custodians, cards_out);
    for path in card_paths(custodians, cards_out)
        .iter()
        .chain([&cards_out.join(CERT_FILE)])
    {
        if path.exists() {
            return Err(VaultError::WouldOverwrite(path.clone()));
        }
    }
    Ok(())
}

/// Removes what an init killed before its database was linked into place
/// left behind (there is no `vault.db` in `dir`): the temporary card and
/// certificate files, and the cards and certificate already linked, but
/// only those of the vault its temporary database names (the commit point
/// of init is the database's link, so that vault never existed). Files of
/// any other vault are left alone and refused by the caller as before.
fn clear_interrupted(dir: &Path, custodians: &[String], cards_out: &Path) {
    let cert = cards_out.join(CERT_FILE);
    let mut ours = Vec::new();
    for path in card_paths(custodians, cards_out).iter().chain([&cert]) {
        let _ = fs::remove_file(partial_of(path));
        ours.push(path.clone());
    }
    let db_tmp = dir.join(format!("{DB_FILE}.partial"));
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(&db_tmp, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return;
    };
    let Ok((id, vault_cert)) = conn.query_row("SELECT vault_id, vault_cert FROM vault", [], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
    }) else {
        return;
    };
    let fpr = pgp::keys::parse_public_cert(&vault_cert).map(|c| c.fingerprint());
    for path in ours {
        let leftover = if path == cert {
            fs::read(&path)
                .ok()
                .and_then(|b| pgp::keys::parse_public_cert(&b).ok())
                .is_some_and(|c| fpr.as_ref().is_ok_and(|f| *f == c.fingerprint()))
        } else {
            cards::SealedCard::read(&path).is_ok_and(|c| c.header.vault_id.to_string() == id)
        };
        if leftover {
            let _ = fs::remove_file(&path);
        }
    }
    drop(conn);
    let _ = fs::remove_file(&db_tmp);
}

/// The temporary name a card or certificate is written under before it is
/// linked into place.
fn partial_of(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

fn card_paths(custodians: &[String], cards_out: &Path) -> Vec<PathBuf> {
    custodians
        .iter()
        .map(|n| cards_out.join(format!("{n}.card")))
        .collect()
}

fn validate(dir: &Path, p: &InitParams) -> Result<(), VaultError> {
    preflight(dir, p.threshold, &p.custodians, &p.cards_out)?;
    let n = p.custodians.len();
    if p.passphrases.len() != n {
        return Err(VaultError::PassphraseCount {
            needed: n,
            given: p.passphrases.len(),
        });
    }
    for (name, pass) in p.custodians.iter().zip(&p.passphrases) {
        let chars = pass.expose_secret().chars().count();
        if chars < MIN_PASSPHRASE_CHARS {
            return Err(VaultError::WeakPassphrase {
                custodian: name.clone(),
                chars,
            });
        }
    }
    Ok(())
}

/// Writes a new file (never overwriting) and syncs it to disk.
pub(crate) fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), VaultError> {
    let io = |source| VaultError::Io {
        path: path.to_owned(),
        source,
    };
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Syncs a directory so renames and creations in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), VaultError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| VaultError::Io {
            path: dir.to_owned(),
            source,
        })
}

/// Moves `from` to `to` without ever replacing an existing `to`.
fn link_into_place(from: &Path, to: &Path) -> Result<(), VaultError> {
    fs::hard_link(from, to).map_err(|source| VaultError::creating(to, source))?;
    let _ = fs::remove_file(from);
    Ok(())
}

/// The genesis entry's data, derived from the vault's fixed facts. `audit
/// verify` recomputes it from the tables and compares.
pub(crate) fn genesis_data(info: &VaultInfo) -> serde_json::Value {
    let b64 = |b: &[u8]| data_encoding::BASE64.encode(b);
    let custodians: Vec<_> = info
        .custodians
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "member_index": c.member_index,
                "commitment": crypto::hex(&c.commitment),
                "officer_fingerprint": c.officer_fingerprint,
                "officer_cert": b64(&c.officer_cert),
            })
        })
        .collect();
    let vault_fpr = pgp::keys::parse_public_cert(&info.vault_cert)
        .map(|c| c.fingerprint().to_hex())
        .unwrap_or_default();
    let mut data = json!({
        "vault_id": info.vault_id.to_string(),
        "created_at": info.created_at,
        "threshold": info.threshold,
        "share_count": info.share_count,
        "test_vault": info.test_vault,
        "approval_ttl_s": info.approval_ttl_s,
        "master_check": crypto::hex(&info.master_check),
        "vault_fingerprint": vault_fpr,
        "vault_cert": b64(&info.vault_cert),
        "custodians": custodians,
    });
    // The card KDF policy (checked at every unseal); absent from the genesis
    // of vaults made before it was recorded.
    if let (Some(kdf), Some(obj)) = (info.kdf_recorded, data.as_object_mut()) {
        obj.insert("kdf".into(), json!(kdf));
    }
    data
}

struct Temporaries(Vec<PathBuf>);
impl Drop for Temporaries {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = fs::remove_file(p);
        }
    }
}

/// Runs the ceremony: creates the vault in `dir` and the cards.
pub fn init(dir: &Path, p: InitParams) -> Result<InitOutcome, VaultError> {
    validate(dir, &p)?;
    let db_path = dir.join(DB_FILE);
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| VaultError::Io { path, source }
    };
    // A vault directory made here is its owner's alone (0700).
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(dir))?;
    fs::create_dir_all(&p.cards_out).map_err(io(&p.cards_out))?;
    let card_paths = card_paths(&p.custodians, &p.cards_out);
    let cert_path = p.cards_out.join(CERT_FILE);

    // Secrets: the master key and its shares.
    let vault_id = VaultId(crypto::random::array().map_err(|e| VaultError::Crypto(e.to_string()))?);
    let mk = Key32::random().map_err(|e| VaultError::Crypto(e.to_string()))?;
    let m = p.threshold;
    let n = u8::try_from(p.custodians.len()).map_err(|_| VaultError::BadQuorum {
        m: m.into(),
        n: p.custodians.len(),
    })?;
    let shares = shares::split(
        mk.expose(),
        m,
        n,
        b"",
        ITERATION_EXPONENT,
        &crypto::random::system(),
    )
    .map_err(|e| VaultError::Crypto(e.to_string()))?;

    // The vault's OpenPGP key, sealed under KEK_1.
    let key_version = 1u32;
    let vault_key = pgp::generate_vault_key(&vault_id.to_string())
        .map_err(|e| VaultError::Crypto(e.to_string()))?;
    let kek = SealingKey::new(&keys::kek(&mk, vault_id, key_version));
    let vault_key_sealed = {
        let tsk = vault_key
            .to_secret_bytes()
            .map_err(|e| VaultError::Crypto(e.to_string()))?;
        kek.seal(&keys::aad_vault_key(vault_id, key_version), &tsk)
            .map_err(|e| VaultError::Crypto(e.to_string()))?
    };
    let vault_cert = vault_key
        .public_bytes()
        .map_err(|e| VaultError::Crypto(e.to_string()))?;

    // One card per custodian.
    let mut custodians = Vec::new();
    let mut card_bytes = Vec::new();
    for ((name, pass), share) in p.custodians.iter().zip(&p.passphrases).zip(&shares) {
        let officer = pgp::generate_officer_key(name, &vault_id.to_string())
            .map_err(|e| VaultError::Crypto(e.to_string()))?;
        let mnemonic = share.to_mnemonic();
        let idx = share.member_index();
        custodians.push(super::Custodian {
            name: name.clone(),
            member_index: idx,
            commitment: keys::share_commitment(vault_id, idx, mnemonic.expose_secret()),
            officer_fingerprint: officer.fingerprint(),
            officer_cert: officer
                .public_bytes()
                .map_err(|e| VaultError::Crypto(e.to_string()))?,
        });
        let secrets = CardSecrets {
            officer_key: officer
                .to_secret_bytes()
                .map_err(|e| VaultError::Crypto(e.to_string()))?,
            mnemonic,
        };
        let bytes = cards::seal((vault_id, idx, m, name), p.kdf, pass, &secrets)
            .map_err(|e| VaultError::Crypto(e.to_string()))?;
        card_bytes.push(bytes);
    }
    drop(shares);

    let info = VaultInfo {
        vault_id,
        threshold: m,
        share_count: n,
        test_vault: !p.kdf.is_at_least_default(),
        created_at: audit::now_rfc3339(),
        key_version,
        custodians,
        vault_cert,
        approval_ttl_s: p.approval_ttl_s,
        kdf_recorded: Some(p.kdf),
        master_check: keys::master_check(&mk, vault_id).to_vec(),
        vault_key_sealed,
    };
    drop(mk);

    // Files: cards and certificate under temporary names, then the
    // database, all synced; then the cards and the certificate linked into
    // place, and last the database (the commit point: a kill before it
    // leaves no vault, and the next init clears what it left).
    let armored = vault_key
        .public_armored()
        .map_err(|e| VaultError::Crypto(e.to_string()))?;
    let mut temps = Temporaries(Vec::new());
    for (path, bytes) in card_paths
        .iter()
        .zip(card_bytes.iter().map(|b| (&b[..], 0o600)))
        .chain([(&cert_path, (armored.as_bytes(), 0o644))])
    {
        temps.0.push(partial_of(path));
        write_new(&partial_of(path), bytes.0, bytes.1)?;
    }
    super::crash::point("init-cards-written");
    let db_tmp = dir.join(format!("{DB_FILE}.partial"));
    let _ = fs::remove_file(&db_tmp);
    temps.0.push(db_tmp.clone());
    create_database(&db_tmp, &info)?;
    super::crash::point("init-database-created");
    for path in card_paths.iter().chain([&cert_path]) {
        link_into_place(&partial_of(path), path)?;
        temps.0.push(path.clone());
    }
    sync_dir(&p.cards_out)?;
    super::crash::point("init-cards-linked");
    link_into_place(&db_tmp, &db_path)?;
    sync_dir(dir)?;
    super::crash::point("init-database-linked");
    temps.0.clear();

    Ok(InitOutcome {
        vault_id,
        card_paths,
        cert_path,
        vault_fingerprint: vault_key.fingerprint(),
        test_vault: info.test_vault,
    })
}

fn create_database(path: &Path, info: &VaultInfo) -> Result<(), VaultError> {
    let mut store = Store::create(path)?;
    let id = info.vault_id.to_string();
    let actors: Vec<String> = info.custodians.iter().map(|c| c.name.clone()).collect();
    store.write(|tx| {
        tx.execute(
            "INSERT INTO vault (singleton, vault_id, threshold, share_count, test_vault, created_at,
                key_version, master_check, vault_cert, vault_key_sealed, approval_ttl_s)
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                id,
                info.threshold,
                info.share_count,
                info.test_vault,
                info.created_at,
                info.key_version,
                info.master_check,
                info.vault_cert,
                info.vault_key_sealed,
                info.approval_ttl_s
            ],
        )?;
        super::insert_custodians(tx, super::CustodianTable::Current, &info.custodians)?;
        audit::append(
            tx,
            &id,
            &Event {
                kind: events::VAULT_INIT,
                actors,
                data: genesis_data(info),
            },
        )?;
        Ok::<_, VaultError>(())
    })
}
