//! Quorum: from M cards and their passphrases to the master key.
//!
//! The order of checks is chosen so that a custodian hears about the
//! cheapest mistake first: a card of another vault, the same card twice or
//! too few cards are refused from the headers alone, before anyone types a
//! passphrase; then each card is opened (Argon2id), its share checked
//! against the vault's commitment (naming a bad card instead of combining
//! into a wrong key), and only then are the shares combined. Every refusal
//! is written to the audit log with the cards involved.

use std::fmt;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::{keys, Custodian, Vault, VaultError};
use super::{BrokenLogPolicy, LogCheck};
use crate::audit::{events, Event, Head};
use crate::cards::{CardSecrets, SealedCard, VaultId};
use crate::crypto::{self, KdfParams, Key32, SealingKey};
use crate::pgp::SecretCert;
use crate::shares::{self, Share};

/// A custodian proven by their card and passphrase; holds their signing key.
pub struct Officer {
    /// Custodian name.
    pub name: String,
    /// Share index.
    pub member_index: u8,
    key: SecretCert,
}

impl Officer {
    /// Their card's signing key (for approvals and rejections).
    pub fn signing_key(&self) -> &SecretCert {
        &self.key
    }
}

impl fmt::Debug for Officer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Officer({}, key [REDACTED])", self.name)
    }
}

/// What `card check` confirms.
#[derive(Debug, Clone)]
pub struct CardCheck {
    /// Custodian.
    pub name: String,
    /// Share index.
    pub member_index: u8,
    /// Vault.
    pub vault_id: VaultId,
    /// The card's Argon2id cost.
    pub kdf: KdfParams,
    /// Fingerprint of the card's signing key.
    pub officer_fingerprint: String,
}

/// An unsealed vault: the master key is in memory for this command or
/// session only, and is wiped when this value is dropped.
pub struct UnsealedVault {
    vault: Vault,
    kek: SealingKey,
    officers: Vec<Officer>,
    /// The names of the officers whose cards unsealed it. Kept apart from
    /// `officers` so that a long session can drop the signing keys and
    /// still name its quorum in the entries its acts write.
    names: Vec<String>,
    pub(crate) data_keys: super::seeds::DataKeyCache,
    /// The head the log check verified before the unseal; `None` when the
    /// session went on over a broken log (it then signs no checkpoint).
    verified: Option<Head>,
    purpose: String,
}

impl fmt::Debug for UnsealedVault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnsealedVault")
            .field("vault", &self.vault.info.vault_id)
            .field("officers", &self.officers)
            .finish_non_exhaustive()
    }
}

fn card_names(cards: &[&SealedCard]) -> (Vec<String>, Vec<String>) {
    let names = cards.iter().map(|c| c.header.name.clone()).collect();
    let described = cards
        .iter()
        .map(|c| format!("{} ({})", c.header.name, c.path.display()))
        .collect();
    (names, described)
}

/// The card KDF parameters the genesis entry recorded, if it did.
pub(crate) fn recorded_kdf(conn: &rusqlite::Connection) -> Option<KdfParams> {
    let body = crate::audit::genesis_body(conn).ok()??;
    let entry: serde_json::Value = serde_json::from_slice(&body).ok()?;
    serde_json::from_value(entry.get("data")?.get("kdf")?.clone()).ok()
}

impl super::VaultInfo {
    /// The weakest Argon2id parameters this vault's cards may carry: those
    /// of its ceremony, as the genesis entry recorded them. A vault whose
    /// genesis predates the record had only two choices: the production
    /// default, or the test parameters (`test_vault`, in the genesis too).
    pub fn kdf_policy(&self) -> KdfParams {
        match self.kdf_recorded {
            Some(k) => k,
            None if self.test_vault => KdfParams::INSECURE_FAST,
            None => KdfParams::RFC9106_SECOND,
        }
    }
}

impl Vault {
    /// The custodian a card claims to be, if the card belongs here.
    fn custodian_of(&self, card: &SealedCard) -> Result<&Custodian, VaultError> {
        let info = &self.info;
        if card.header.vault_id != info.vault_id {
            return Err(VaultError::ForeignCard {
                path: card.path.clone(),
                card_vault: card.header.vault_id,
                vault: info.vault_id,
            });
        }
        // A card of another key epoch (retired, pending, cancelled) is
        // named as such from its header, before any passphrase.
        if let Some(e) = super::rekey::epoch_refusal(self, card) {
            return Err(e);
        }
        info.custodians
            .iter()
            .find(|c| c.member_index == card.header.member_index && c.name == card.header.name)
            .ok_or_else(|| {
                super::rekey::genesis_card_refusal(self, card, None).unwrap_or_else(|| {
                    VaultError::UnknownCustodian {
                        path: card.path.clone(),
                        name: card.header.name.clone(),
                        index: card.header.member_index,
                    }
                })
            })
    }

    /// Checks, from the card headers alone, that `cards` can form a quorum:
    /// all of this vault, no card twice, at least M. Call before asking
    /// for passphrases.
    pub fn check_quorum_cards(&self, cards: &[SealedCard]) -> Result<(), VaultError> {
        let mut seen: Vec<(u8, PathBuf)> = Vec::new();
        for card in cards {
            let cust = self.custodian_of(card)?;
            if let Some((_, first)) = seen.iter().find(|(i, _)| *i == cust.member_index) {
                return Err(VaultError::DuplicateCard {
                    path: card.path.clone(),
                    name: cust.name.clone(),
                    first: first.clone(),
                });
            }
            seen.push((cust.member_index, card.path.clone()));
        }
        let needed = self.info.threshold as usize;
        if seen.len() < needed {
            return Err(VaultError::TooFewCards {
                needed,
                total: self.info.share_count as usize,
                given: seen.len(),
            });
        }
        Ok(())
    }

    /// Opens one card and checks it against the vault's records.
    pub(super) fn open_card(
        &self,
        card: &SealedCard,
        pass: &SecretString,
    ) -> Result<(Officer, Share), VaultError> {
        let cust = self.custodian_of(card)?.clone();
        // Before any key derivation: a card re-sealed with cheaper
        // parameters than the ceremony's is as weak as its cheapest card.
        let policy = self.info.kdf_policy();
        if card.header.kdf.weaker_than(&policy) {
            return Err(VaultError::WeakCardKdf {
                path: card.path.clone(),
                name: cust.name.clone(),
                card: card.header.kdf,
                policy,
            });
        }
        let secrets: CardSecrets = card.open(pass)?;
        let mismatch = || VaultError::ShareMismatch {
            path: card.path.clone(),
            name: cust.name.clone(),
        };
        let share =
            Share::from_mnemonic(secrets.mnemonic.expose_secret()).map_err(|_| mismatch())?;
        let canonical = share.to_mnemonic();
        let commitment = keys::share_commitment(
            self.info.vault_id,
            share.member_index(),
            canonical.expose_secret(),
        );
        if share.member_index() != cust.member_index
            || !crypto::ct_eq(&commitment, &cust.commitment)
        {
            // A key ceremony card whose custodian is in the new set too.
            return Err(
                super::rekey::genesis_card_refusal(self, card, Some(&commitment))
                    .unwrap_or_else(mismatch),
            );
        }
        let key = SecretCert::from_secret_bytes(&secrets.officer_key).map_err(|_| mismatch())?;
        if key.fingerprint() != cust.officer_fingerprint {
            return Err(mismatch());
        }
        Ok((
            Officer {
                name: cust.name,
                member_index: cust.member_index,
                key,
            },
            share,
        ))
    }

    /// Logs a refused attempt; the refusal itself is what the caller
    /// returns. `actors` are the custodian names the cards claim (or file
    /// names when a card could not be read); `cards` describe the cards.
    pub fn record_refusal(
        &mut self,
        purpose: &str,
        actors: Vec<String>,
        cards: Vec<String>,
        reason: &str,
    ) {
        // A refusal changes nothing, so a log that cannot be written (read-only
        // medium, full disk) must not hide the refusal's own message.
        let _ = self.log(&Event {
            kind: events::UNSEAL_FAILED,
            actors,
            data: json!({ "purpose": purpose, "cards": cards, "reason": reason }),
        });
    }

    fn refused<T>(
        &mut self,
        purpose: &str,
        cards: &[&SealedCard],
        e: VaultError,
    ) -> Result<T, VaultError> {
        let (names, described) = card_names(cards);
        self.record_refusal(purpose, names, described, &e.to_string());
        Err(e)
    }

    /// `card check`: opens one card and checks it against the vault's
    /// commitment, without a quorum.
    pub fn check_card(
        &mut self,
        card: &SealedCard,
        pass: &SecretString,
    ) -> Result<CardCheck, VaultError> {
        self.check_card_for(card, pass, "card check")
    }

    /// [`Vault::check_card`] for another `purpose` (as a refusal logs it):
    /// the terminal UI checks each passphrase as it is typed, so a wrong
    /// one is asked again for that card alone.
    pub fn check_card_for(
        &mut self,
        card: &SealedCard,
        pass: &SecretString,
        purpose: &str,
    ) -> Result<CardCheck, VaultError> {
        match self.open_card(card, pass) {
            Ok((officer, _share)) => Ok(CardCheck {
                name: officer.name,
                member_index: officer.member_index,
                vault_id: card.header.vault_id,
                kdf: card.header.kdf,
                officer_fingerprint: officer.key.fingerprint(),
            }),
            Err(e) => self.refused(purpose, &[card], e),
        }
    }

    /// `card words`: the card's SLIP-0039 mnemonic for a paper backup,
    /// after checking it against the commitment. Showing it is logged.
    pub fn card_words(
        &mut self,
        card: &SealedCard,
        pass: &SecretString,
    ) -> Result<SecretString, VaultError> {
        match self.open_card(card, pass) {
            Ok((officer, share)) => {
                self.log(&Event {
                    kind: events::CARD_WORDS_SHOWN,
                    actors: vec![officer.name.clone()],
                    data: json!({ "custodian": officer.name, "member_index": officer.member_index }),
                })?;
                Ok(share.to_mnemonic())
            }
            Err(e) => self.refused("card words", &[card], e),
        }
    }

    /// Proves one officer (for acts that need a person, not a quorum:
    /// creating, approving or rejecting a request, voiding a serial).
    /// The log is checked first, as for a quorum session: an officer's act
    /// over a broken log is refused.
    pub fn authenticate(
        &mut self,
        card: &SealedCard,
        pass: &SecretString,
        purpose: &str,
    ) -> Result<Officer, VaultError> {
        let log = self.check_log_for_session(
            std::slice::from_ref(card),
            purpose,
            BrokenLogPolicy::Refuse,
        )?;
        self.authenticate_checked(card, pass, purpose, log)
    }

    /// [`Vault::authenticate`] given the log check made before the
    /// passphrase was asked for. Over a broken log (accepted), the
    /// acceptance is logged with the officer as its actor.
    pub fn authenticate_checked(
        &mut self,
        card: &SealedCard,
        pass: &SecretString,
        purpose: &str,
        log: LogCheck,
    ) -> Result<Officer, VaultError> {
        if !log.is_intact() && log.policy != BrokenLogPolicy::Accept {
            let e = VaultError::BrokenLog {
                purpose: purpose.to_owned(),
                reason: log.reason(),
            };
            return self.refused(purpose, &[card], e);
        }
        let officer = match self.open_card(card, pass) {
            Ok((officer, _)) => officer,
            Err(e) => return self.refused(purpose, &[card], e),
        };
        if !log.is_intact() {
            self.log(&Event {
                kind: events::BROKEN_LOG_ACCEPTED,
                actors: vec![officer.name.clone()],
                data: json!({
                    "purpose": purpose,
                    "cards": [officer.name.clone()],
                    "reason": log.reason(),
                    "checkpoint": log.checkpoint_json(),
                }),
            })?;
        }
        Ok(officer)
    }

    /// Checks the log before a quorum session ([`Vault::check_log`]) and
    /// logs what it found: a broken log refuses the session
    /// ([`VaultError::BrokenLog`], logged as `audit.broken_log_refused`)
    /// unless `policy` accepts it, in which case the acceptance is logged
    /// by [`Vault::unseal_checked`] once the cards are proven. Call before
    /// asking for passphrases; `cards` are only named.
    pub fn check_log_for_session(
        &mut self,
        cards: &[SealedCard],
        purpose: &str,
        policy: BrokenLogPolicy,
    ) -> Result<LogCheck, VaultError> {
        let all: Vec<&SealedCard> = cards.iter().collect();
        let log = match self.check_log(policy) {
            Ok(l) => l,
            Err(e) => return self.refused(purpose, &all, e),
        };
        if log.is_intact() || policy == BrokenLogPolicy::Accept {
            return Ok(log);
        }
        let (names, described) = card_names(&all);
        let reason = log.reason();
        // The refusal's own message must survive a log that cannot be written.
        let _ = self.log(&Event {
            kind: events::BROKEN_LOG_REFUSED,
            actors: names,
            data: json!({
                "purpose": purpose,
                "cards": described,
                "reason": reason,
                "checkpoint": log.checkpoint_json(),
            }),
        });
        Err(VaultError::BrokenLog {
            purpose: purpose.to_owned(),
            reason,
        })
    }

    /// Combines M cards into the master key for this command or session,
    /// after checking the log (a broken log refuses it).
    pub fn unseal(
        self,
        cards: Vec<(SealedCard, SecretString)>,
        purpose: &str,
    ) -> Result<UnsealedVault, VaultError> {
        self.unseal_with(cards, purpose, BrokenLogPolicy::Refuse)
    }

    /// [`Vault::unseal`] with a chosen [`BrokenLogPolicy`].
    pub fn unseal_with(
        mut self,
        cards: Vec<(SealedCard, SecretString)>,
        purpose: &str,
        policy: BrokenLogPolicy,
    ) -> Result<UnsealedVault, VaultError> {
        let headers: Vec<SealedCard> = cards.iter().map(|(c, _)| c.clone()).collect();
        let log = self.check_log_for_session(&headers, purpose, policy)?;
        self.unseal_checked(cards, purpose, log)
    }

    /// Combines M cards into the master key, given the log check made
    /// before the passphrases were asked for. A session over a broken log
    /// (accepted) logs the acceptance with the unseal and signs no
    /// checkpoint when it ends.
    pub fn unseal_checked(
        mut self,
        cards: Vec<(SealedCard, SecretString)>,
        purpose: &str,
        log: LogCheck,
    ) -> Result<UnsealedVault, VaultError> {
        let headers: Vec<SealedCard> = cards.iter().map(|(c, _)| c.clone()).collect();
        let all: Vec<&SealedCard> = headers.iter().collect();
        // The executable is hashed (once per process) before any secret
        // is in memory.
        let binary = super::binary::unseal_fields();
        if !log.is_intact() && log.policy != BrokenLogPolicy::Accept {
            let e = VaultError::BrokenLog {
                purpose: purpose.to_owned(),
                reason: log.reason(),
            };
            return self.refused(purpose, &all, e);
        }
        if let Err(e) = self.check_quorum_cards(&headers) {
            return self.refused(purpose, &all, e);
        }
        let mut officers = Vec::new();
        let mut shares = Vec::new();
        for (card, pass) in &cards {
            match self.open_card(card, pass) {
                Ok((o, s)) => {
                    officers.push(o);
                    shares.push(s);
                }
                Err(e) => return self.refused(purpose, &all, e),
            }
        }
        // Every card given was checked above; SLIP-0039 combines exactly M.
        shares.truncate(self.info.threshold as usize);
        let mk = match shares::combine(&shares, b"") {
            Ok(secret) => {
                let mut bytes = secret.expose_secret().clone();
                match Key32::from_slice_wiping(&mut bytes) {
                    Some(k) => k,
                    None => {
                        let e = VaultError::WrongMasterKey(
                            "the shares hold a secret of the wrong length".into(),
                        );
                        return self.refused(purpose, &all, e);
                    }
                }
            }
            Err(e) => {
                return self.refused(purpose, &all, VaultError::WrongMasterKey(e.to_string()))
            }
        };
        drop(shares);
        let id = self.info.vault_id;
        if !crypto::ct_eq(&keys::master_check(&mk, id), &self.info.master_check) {
            let e = VaultError::WrongMasterKey("its check value does not match the vault's".into());
            return self.refused(purpose, &all, e);
        }
        let kek = SealingKey::new(&keys::kek(&mk, id, self.info.key_version));
        drop(mk);
        let names: Vec<String> = officers.iter().map(|o| o.name.clone()).collect();
        let id = self.info.vault_id.to_string();
        // The checkpoint this session found the log extending: the log's
        // own record of it, should its row be deleted. And the binary that
        // now holds the key, for auditors to compare with the release.
        let mut data =
            json!({ "purpose": purpose, "cards": names, "checkpoint": log.checkpoint_json() });
        if let Some(map) = data.as_object_mut() {
            map.extend(binary);
        }
        let unsealed = Event {
            kind: events::UNSEAL,
            actors: names.clone(),
            data,
        };
        let accepted = (!log.is_intact()).then(|| Event {
            kind: events::BROKEN_LOG_ACCEPTED,
            actors: names.clone(),
            data: json!({
                "purpose": purpose,
                "cards": names,
                "reason": log.reason(),
                "checkpoint": log.checkpoint_json(),
            }),
        });
        self.store.write(|tx| {
            crate::audit::append(tx, &id, &unsealed)?;
            if let Some(a) = &accepted {
                crate::audit::append(tx, &id, a)?;
            }
            Ok::<_, VaultError>(())
        })?;
        Ok(UnsealedVault {
            vault: self,
            kek,
            officers,
            names,
            data_keys: Default::default(),
            verified: log.verified,
            purpose: purpose.to_owned(),
        })
    }
}

impl UnsealedVault {
    /// The vault just switched to a new key by `rekey commit`, unsealed
    /// with the KEK the new cards combined to (no officer signing key),
    /// so the commit ends with a checkpoint as every quorum command does.
    pub(super) fn after_rekey(
        vault: Vault,
        kek: SealingKey,
        names: Vec<String>,
        verified: Option<Head>,
        purpose: &str,
    ) -> Self {
        UnsealedVault {
            vault,
            kek,
            officers: Vec::new(),
            names,
            data_keys: Default::default(),
            verified,
            purpose: purpose.to_owned(),
        }
    }

    /// The officers whose cards formed the quorum.
    pub fn officers(&self) -> &[Officer] {
        &self.officers
    }

    /// Their names, for audit entries.
    pub fn officer_names(&self) -> Vec<String> {
        self.names.clone()
    }

    /// The head the session's log check verified; `None` when it went on
    /// over a broken log.
    pub fn verified_head(&self) -> Option<Head> {
        self.verified
    }

    /// Whether the session went on over a broken log (`--accept-broken-log`).
    pub fn accepted_broken_log(&self) -> bool {
        self.verified.is_none()
    }

    /// What the session was unsealed for.
    pub fn purpose(&self) -> &str {
        &self.purpose
    }

    /// The sealed view (status, log).
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// For modules of this crate that change state.
    pub(crate) fn vault_mut(&mut self) -> &mut Vault {
        &mut self.vault
    }

    /// The key-encryption key of the current version.
    pub(crate) fn kek(&self) -> &SealingKey {
        &self.kek
    }

    /// Opens the vault's OpenPGP secret key.
    pub fn vault_key(&self) -> Result<SecretCert, VaultError> {
        let info = &self.vault.info;
        let tsk = self
            .kek
            .open(
                &keys::aad_vault_key(info.vault_id, info.key_version),
                &info.vault_key_sealed,
            )
            .map_err(|_| {
                VaultError::Tampered(
                    "the sealed vault key does not open under this vault's key".into(),
                )
            })?;
        SecretCert::from_secret_bytes(&tsk).map_err(|e| VaultError::Tampered(e.to_string()))
    }

    /// Seals again: the keys are wiped, the sealed vault remains. Writes
    /// no checkpoint: commands and sessions end with
    /// [`UnsealedVault::finish`], which signs one first.
    pub fn seal(self) -> Vault {
        self.vault
    }
}

/// The secrets an unsealed vault or session holds in memory, counted from
/// what it actually holds (for the TUI to show the officer at the console,
/// and for tests). No secret itself, only how many of each kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldSecrets {
    /// Version of the key-encryption key held (derived from the master key
    /// at unseal; the master key itself is wiped then).
    pub kek_version: u32,
    /// Officers' card signing keys held.
    pub officer_keys: usize,
    /// Batch data keys opened and cached.
    pub data_keys: usize,
}

impl UnsealedVault {
    /// What this value holds in memory.
    pub fn held_secrets(&self) -> HeldSecrets {
        HeldSecrets {
            kek_version: self.vault.info.key_version,
            officer_keys: self.officers.len(),
            data_keys: self.data_keys.len(),
        }
    }

    /// Keeps only what a session that stays unsealed needs between acts,
    /// and wipes the rest now: every officer's signing key and every
    /// cached data key are dropped here.
    pub fn into_session(mut self) -> UnsealedSession {
        // The signing keys go with the `Officer` values (wiped on drop).
        self.officers.clear();
        self.data_keys = Default::default();
        UnsealedSession {
            inner: self,
            opened: std::time::Instant::now(),
        }
    }
}

/// An unsealed vault as a long session (the terminal UI) keeps it: the
/// vault, the key-encryption key of the current version, and the names of
/// the officers whose cards unsealed it. Nothing else.
///
/// The KEK is the one secret held: the vault's OpenPGP key (checkpoints,
/// bundles) and the batch data keys (seeds) are opened from it when an act
/// needs them and wiped when it ends, so they are never held between acts.
/// Officers' signing keys are not held at all: they cannot be derived from
/// the master key, and an act that needs an officer's signature (approve,
/// reject) proves that officer with their card at the time of the act
/// ([`Vault::authenticate`]), as the two-person rule intends. The master
/// key is not held either: the KEK is all that any act below it needs.
pub struct UnsealedSession {
    /// An unsealed vault with no officer signing key and, between acts,
    /// no data key.
    inner: UnsealedVault,
    /// When the session began (its `vault.sealed` entry says how long).
    opened: std::time::Instant,
}

impl fmt::Debug for UnsealedSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnsealedSession")
            .field("vault", &self.inner.vault.info.vault_id)
            .field("officers", &self.inner.names)
            .finish_non_exhaustive()
    }
}

impl UnsealedSession {
    /// The sealed view (status, log).
    pub fn vault(&self) -> &Vault {
        &self.inner.vault
    }

    /// The officers whose cards unsealed the session.
    pub fn officer_names(&self) -> Vec<String> {
        self.inner.officer_names()
    }

    /// What the session holds in memory: the KEK, nothing more.
    pub fn held_secrets(&self) -> HeldSecrets {
        HeldSecrets {
            kek_version: self.inner.vault.info.key_version,
            officer_keys: 0,
            data_keys: 0,
        }
    }

    /// Runs one quorum act (ingest, export, checkpoint, ...) with the
    /// session's key, exactly as a command with the same cards would: the
    /// act's entries name the session's officers. Any data key the act
    /// opened is wiped when it returns, so between acts the session holds
    /// the KEK only.
    pub fn act<R>(&mut self, f: impl FnOnce(&mut UnsealedVault) -> R) -> R {
        let out = f(&mut self.inner);
        self.inner.data_keys = Default::default();
        self.inner.officers.clear();
        out
    }

    /// Ends the session as [`UnsealedVault::finish`] does: signs a
    /// checkpoint with the vault key, opened from the KEK for this
    /// signature only, then seals (the KEK is wiped).
    pub fn finish(self) -> (Vault, Result<Option<crate::audit::Checkpoint>, VaultError>) {
        self.inner.finish()
    }

    /// Ends the session for `reason`: logs `vault.sealed` (why, and how
    /// long the session was open), then [`UnsealedSession::finish`]es, so
    /// the closing checkpoint covers the entry. It always seals; an entry
    /// that cannot be written is reported in the result, like a
    /// checkpoint that cannot be signed.
    pub fn end(
        mut self,
        reason: SealReason,
    ) -> (Vault, Result<Option<crate::audit::Checkpoint>, VaultError>) {
        let event = Event {
            kind: events::SEALED,
            actors: self.inner.names.clone(),
            data: json!({
                "purpose": self.inner.purpose(),
                "reason": reason.as_str(),
                "open_s": self.opened.elapsed().as_secs(),
            }),
        };
        let logged = self.inner.vault.log(&event);
        let (vault, cp) = self.inner.finish();
        (vault, logged.and(cp))
    }
}

/// Why an unsealed session ended (the `reason` of `vault.sealed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealReason {
    /// The officer pressed the seal key.
    Key,
    /// No key was pressed for the idle timeout.
    Idle,
    /// The officer quit.
    Quit,
    /// The program failed (a panic); the session was wiped on the way out.
    Panic,
    /// The front end went away without saying why.
    Closed,
}

impl SealReason {
    /// As logged: `s`, `idle`, `quit`, `panic`, `closed`.
    pub fn as_str(self) -> &'static str {
        match self {
            SealReason::Key => "s",
            SealReason::Idle => "idle",
            SealReason::Quit => "quit",
            SealReason::Panic => "panic",
            SealReason::Closed => "closed",
        }
    }
}
