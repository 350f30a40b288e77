//! Custodian cards: one share of the master key, sealed under a passphrase.
//!
//! A card is what a custodian carries away from the ceremony on their own
//! removable medium. It must be useless without the passphrase, must say
//! whose it is and which vault it belongs to *before* the slow KDF runs (so
//! a wrong card is named at once), and must tell a corrupted file from a
//! wrong passphrase. The byte layout is specified in `docs/formats.md`:
//!
//! ```text
//! magic "SVCARD\0\x01" | vault id (8) | member index (1) | threshold (1)
//! | kdf id (1) | m_kib (4) | t (4) | p (4) | salt (16) | name len (1) | name
//! | sealed len (4) | sealed = nonce (12) || AES-256-GCM(payload) || tag (16)
//! | SHA-256 of everything before (32)
//! ```
//!
//! The AAD of the seal is every header byte (magic through sealed len), so
//! no header field can be changed without the card failing to open. The
//! trailing SHA-256 is only a corruption check (it has no key): a card whose
//! checksum holds but whose seal does not open was opened with the wrong
//! passphrase.

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::crypto::kdf::KdfOutOfBounds;
use crate::crypto::{self, argon2id, KdfParams, SealingKey};

const MAGIC: &[u8; 8] = b"SVCARD\0\x01";
/// Format 2: format 1 plus the key epoch (key version, rekey id, share-set
/// fingerprint) after the name. Written by `rekey start`.
const MAGIC_V2: &[u8; 8] = b"SVCARD\0\x02";
/// Length of the epoch fields of a format 2 header.
const EPOCH_LEN: usize = 4 + 8 + 32;
const KDF_ARGON2ID_V13: u8 = 1;
const PAYLOAD_VERSION: u8 = 1;
const SALT_LEN: usize = 16;
/// Longest custodian name (bytes).
pub const MAX_NAME_LEN: usize = 64;

/// A vault id: 8 random bytes, shown as 16 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct VaultId(pub [u8; 8]);

impl VaultId {
    /// Parses 16 hex digits.
    pub fn parse(s: &str) -> Option<Self> {
        let v = data_encoding::HEXLOWER_PERMISSIVE
            .decode(s.trim().as_bytes())
            .ok()?;
        Some(VaultId(v.try_into().ok()?))
    }
}

impl fmt::Display for VaultId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crypto::hex(&self.0))
    }
}

impl fmt::Debug for VaultId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VaultId({self})")
    }
}

/// Why a card cannot be used. Every message names the card.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CardError {
    /// The file could not be read.
    #[error("cannot read card {path}: {source}")]
    Io {
        /// The card file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not a seedvault card at all.
    #[error("{path} is not a seedvault custodian card")]
    NotACard {
        /// The file.
        path: PathBuf,
    },
    /// A card of a format this build does not know.
    #[error("card {path} uses an unsupported format version")]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
    },
    /// The file is damaged (checksum or structure).
    #[error("card {path} is corrupted ({why}); use the custodian's backup copy or paper words")]
    Corrupted {
        /// The file.
        path: PathBuf,
        /// What is damaged.
        why: String,
    },
    /// The header asks for Argon2id parameters outside the bounds every
    /// card is held to (`crypto::kdf::KDF_BOUNDS`): refused before any key
    /// derivation, which could otherwise hang or abort the process.
    #[error("card {path} (custodian {name}) is refused: {bounds}; the card's header was altered or the card was not made by seedvault")]
    KdfOutOfBounds {
        /// The file.
        path: PathBuf,
        /// The custodian named in the card.
        name: String,
        /// Which parameter, its value and the allowed range.
        bounds: KdfOutOfBounds,
    },
    /// The passphrase does not open the card.
    #[error("wrong passphrase for card {path} (custodian {name})")]
    WrongPassphrase {
        /// The file.
        path: PathBuf,
        /// The custodian named in the card.
        name: String,
    },
}

/// The public header of a card, readable without the passphrase.
#[derive(Clone, PartialEq, Eq)]
pub struct CardHeader {
    /// The vault the card belongs to.
    pub vault_id: VaultId,
    /// The share's member index (SLIP-0039), 0..=15.
    pub member_index: u8,
    /// The vault's threshold M.
    pub threshold: u8,
    /// Argon2id cost.
    pub kdf: KdfParams,
    /// The custodian.
    pub name: String,
    /// The key epoch the card was made for (format 2 cards, written by a
    /// rekey); `None` for a card of the key ceremony (key version 1).
    pub epoch: Option<CardEpoch>,
    salt: [u8; SALT_LEN],
}

/// The key epoch a rekey's card belongs to: shown on every prompt and
/// bound into the card's seal, so a card of a restarted, cancelled or
/// substituted rekey is told apart from the committed set before anyone
/// types a passphrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardEpoch {
    /// The master key version the card's share belongs to.
    pub key_version: u32,
    /// The rekey that made the card.
    pub rekey_id: [u8; 8],
    /// SHA-256 fingerprint of the new share set (`docs/formats.md`).
    pub share_set: [u8; 32],
}

impl fmt::Debug for CardHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardHeader")
            .field("vault_id", &self.vault_id)
            .field("member_index", &self.member_index)
            .field("threshold", &self.threshold)
            .field("kdf", &self.kdf)
            .field("name", &self.name)
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

/// A card file as read from disk, not yet opened.
#[derive(Clone)]
pub struct SealedCard {
    /// Where it was read from (for messages).
    pub path: PathBuf,
    /// The public header.
    pub header: CardHeader,
    aad: Vec<u8>,
    sealed: Vec<u8>,
}

impl fmt::Debug for SealedCard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedCard")
            .field("path", &self.path)
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

/// What a card holds once opened: the share and the custodian's own
/// signing key. Both are secrets; `Debug` shows neither.
pub struct CardSecrets {
    /// The SLIP-0039 mnemonic of the custodian's share.
    pub mnemonic: SecretString,
    /// The custodian's OpenPGP secret key (binary), wiped on drop.
    pub officer_key: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for CardSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CardSecrets([REDACTED])")
    }
}

/// Seals a new card. `passphrase` is the custodian's.
pub fn seal(
    header_fields: (VaultId, u8, u8, &str),
    kdf: KdfParams,
    passphrase: &SecretString,
    secrets: &CardSecrets,
) -> Result<Vec<u8>, crypto::AeadError> {
    seal_in_epoch(header_fields, None, kdf, passphrase, secrets)
}

/// Seals a new card that names its key epoch (format 2) when `epoch` is
/// given, else a format 1 card as [`seal`] does.
pub fn seal_in_epoch(
    header_fields: (VaultId, u8, u8, &str),
    epoch: Option<CardEpoch>,
    kdf: KdfParams,
    passphrase: &SecretString,
    secrets: &CardSecrets,
) -> Result<Vec<u8>, crypto::AeadError> {
    let (vault_id, member_index, threshold, name) = header_fields;
    let salt: [u8; SALT_LEN] = crypto::random::array().map_err(|_| crypto::AeadError::Random)?;
    let header = CardHeader {
        vault_id,
        member_index,
        threshold,
        kdf,
        name: name.to_owned(),
        epoch,
        salt,
    };

    // The payload holds the share and key in the clear; wiped on drop.
    let mnemonic = secrets.mnemonic.expose_secret().as_bytes();
    let mut payload = Zeroizing::new(Vec::with_capacity(
        8 + mnemonic.len() + secrets.officer_key.len(),
    ));
    payload.push(PAYLOAD_VERSION);
    // A SLIP-0039 mnemonic is a few hundred bytes and an Ed25519 officer key
    // a few hundred more: both lengths fit their fields exactly.
    #[allow(clippy::cast_possible_truncation)]
    let (mnemonic_len, key_len) = (mnemonic.len() as u16, secrets.officer_key.len() as u32);
    payload.extend_from_slice(&mnemonic_len.to_be_bytes());
    payload.extend_from_slice(mnemonic);
    payload.extend_from_slice(&key_len.to_be_bytes());
    payload.extend_from_slice(&secrets.officer_key);

    let sealed_len = payload.len() + crypto::aead::OVERHEAD;
    let mut out = encode_header(&header, sealed_len);
    let key = argon2id(passphrase.expose_secret().as_bytes(), &salt, kdf)
        .map_err(|_| crypto::AeadError::Integrity)?;
    let sealed = SealingKey::new(&key).seal(&out, &payload)?;
    out.extend_from_slice(&sealed);
    let sum = crypto::sha256(&out);
    out.extend_from_slice(&sum);
    Ok(out)
}

fn encode_header(h: &CardHeader, sealed_len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(if h.epoch.is_some() { MAGIC_V2 } else { MAGIC });
    out.extend_from_slice(&h.vault_id.0);
    out.push(h.member_index);
    out.push(h.threshold);
    out.push(KDF_ARGON2ID_V13);
    out.extend_from_slice(&h.kdf.m_kib.to_be_bytes());
    out.extend_from_slice(&h.kdf.t.to_be_bytes());
    out.extend_from_slice(&h.kdf.p.to_be_bytes());
    out.extend_from_slice(&h.salt);
    // Names are at most MAX_NAME_LEN (64) bytes, checked at init, and the
    // sealed payload is under a kilobyte: both fit their fields exactly.
    #[allow(clippy::cast_possible_truncation)]
    let (name_len, sealed_len) = (h.name.len() as u8, sealed_len as u32);
    out.push(name_len);
    out.extend_from_slice(h.name.as_bytes());
    if let Some(e) = &h.epoch {
        out.extend_from_slice(&e.key_version.to_be_bytes());
        out.extend_from_slice(&e.rekey_id);
        out.extend_from_slice(&e.share_set);
    }
    out.extend_from_slice(&sealed_len.to_be_bytes());
    out
}

/// A little cursor over card bytes; every short read is "corrupted".
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.bytes.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

impl SealedCard {
    /// Reads and checks the structure of a card file (no passphrase needed).
    pub fn read(path: &Path) -> Result<Self, CardError> {
        let bytes = std::fs::read(path).map_err(|source| CardError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &bytes)
    }

    /// Parses card bytes; `path` is for messages.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self, CardError> {
        let path = path.to_owned();
        if bytes.len() < 8 || bytes[..6] != MAGIC[..6] {
            return Err(CardError::NotACard { path });
        }
        let v2 = bytes[6..8] == MAGIC_V2[6..8];
        if bytes[6..8] != MAGIC[6..8] && !v2 {
            return Err(CardError::UnsupportedVersion { path });
        }
        let corrupted = |why: &str| CardError::Corrupted {
            path: path.clone(),
            why: why.to_owned(),
        };
        if bytes.len() < 8 + 32 {
            return Err(corrupted("file is truncated"));
        }
        let (body, sum) = bytes.split_at(bytes.len() - 32);
        if !crypto::ct_eq(&crypto::sha256(body), sum) {
            return Err(corrupted("checksum mismatch"));
        }
        let mut c = Cursor {
            bytes: body,
            pos: 8,
        };
        let short = || corrupted("file is truncated");
        let vault_id = VaultId(
            c.take(8)
                .ok_or_else(short)?
                .try_into()
                .map_err(|_| short())?,
        );
        let member_index = c.u8().ok_or_else(short)?;
        let threshold = c.u8().ok_or_else(short)?;
        if c.u8().ok_or_else(short)? != KDF_ARGON2ID_V13 {
            return Err(corrupted("unknown key-derivation function"));
        }
        let kdf = KdfParams {
            m_kib: c.u32().ok_or_else(short)?,
            t: c.u32().ok_or_else(short)?,
            p: c.u32().ok_or_else(short)?,
        };
        let salt: [u8; SALT_LEN] = c
            .take(SALT_LEN)
            .ok_or_else(short)?
            .try_into()
            .map_err(|_| short())?;
        let name_len = c.u8().ok_or_else(short)? as usize;
        let name = std::str::from_utf8(c.take(name_len).ok_or_else(short)?)
            .map_err(|_| corrupted("custodian name is not UTF-8"))?
            .to_owned();
        let epoch = if v2 {
            let e = c.take(EPOCH_LEN).ok_or_else(short)?;
            let (version, rest) = e.split_at(4);
            let (id, set) = rest.split_at(8);
            Some(CardEpoch {
                key_version: u32::from_be_bytes(version.try_into().map_err(|_| short())?),
                rekey_id: id.try_into().map_err(|_| short())?,
                share_set: set.try_into().map_err(|_| short())?,
            })
        } else {
            None
        };
        let sealed_len = c.u32().ok_or_else(short)? as usize;
        let aad = body[..c.pos].to_vec();
        let sealed = c.take(sealed_len).ok_or_else(short)?.to_vec();
        if c.pos != body.len() {
            return Err(corrupted("trailing bytes"));
        }
        if member_index > 15 || threshold == 0 || name.is_empty() {
            return Err(corrupted("impossible header values"));
        }
        // The trailing checksum has no key, so these values are whatever
        // the file says: bound them before anyone derives a key with them.
        if let Err(bounds) = kdf.check_bounds() {
            return Err(CardError::KdfOutOfBounds { path, name, bounds });
        }
        Ok(SealedCard {
            path,
            header: CardHeader {
                vault_id,
                member_index,
                threshold,
                kdf,
                name,
                epoch,
                salt,
            },
            aad,
            sealed,
        })
    }

    /// Opens the card with its custodian's passphrase (runs Argon2id).
    pub fn open(&self, passphrase: &SecretString) -> Result<CardSecrets, CardError> {
        // `parse` checked the bounds; the header is a public field, so again.
        if let Err(bounds) = self.header.kdf.check_bounds() {
            return Err(CardError::KdfOutOfBounds {
                path: self.path.clone(),
                name: self.header.name.clone(),
                bounds,
            });
        }
        let key = argon2id(
            passphrase.expose_secret().as_bytes(),
            &self.header.salt,
            self.header.kdf,
        )
        .map_err(|e| CardError::Corrupted {
            path: self.path.clone(),
            why: e.to_string(),
        })?;
        let payload = SealingKey::new(&key)
            .open(&self.aad, &self.sealed)
            .map_err(|_| CardError::WrongPassphrase {
                path: self.path.clone(),
                name: self.header.name.clone(),
            })?;
        let corrupted = || CardError::Corrupted {
            path: self.path.clone(),
            why: "bad payload".into(),
        };
        let mut c = Cursor {
            bytes: &payload,
            pos: 0,
        };
        if c.u8().ok_or_else(corrupted)? != PAYLOAD_VERSION {
            return Err(corrupted());
        }
        let lb = c.take(2).ok_or_else(corrupted)?;
        let mlen = u16::from_be_bytes([lb[0], lb[1]]) as usize;
        let mnemonic = std::str::from_utf8(c.take(mlen).ok_or_else(corrupted)?)
            .map_err(|_| corrupted())?
            .to_owned();
        let klen = c.u32().ok_or_else(corrupted)? as usize;
        let officer_key = Zeroizing::new(c.take(klen).ok_or_else(corrupted)?.to_vec());
        Ok(CardSecrets {
            mnemonic: SecretString::from(mnemonic),
            officer_key,
        })
    }
}

/// Reads a secret from a file (a passphrase, a PSKC password or key):
/// the raw bytes are wiped, one trailing newline (LF or CRLF) is dropped.
/// The error names the file, never its content. Shared by the command
/// line's `--passphrase-file` and the console's file fields.
pub fn read_secret_file(path: &Path) -> Result<SecretString, String> {
    let raw = Zeroizing::new(
        std::fs::read(path)
            .map_err(|e| format!("cannot read passphrase file {}: {e}", path.display()))?,
    );
    let mut text = Zeroizing::new(
        std::str::from_utf8(&raw)
            .map_err(|_| format!("passphrase file {} is not UTF-8 text", path.display()))?
            .to_owned(),
    );
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(SecretString::from(text.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets() -> CardSecrets {
        CardSecrets {
            mnemonic: SecretString::from("academic acid acrobat".to_owned()),
            officer_key: Zeroizing::new(vec![9u8; 40]),
        }
    }

    fn card() -> Vec<u8> {
        let pass = SecretString::from("correct horse battery".to_owned());
        seal(
            (VaultId([1; 8]), 2, 2, "alice"),
            KdfParams::INSECURE_FAST,
            &pass,
            &secrets(),
        )
        .unwrap()
    }

    #[test]
    fn round_trip() {
        let c = SealedCard::parse(Path::new("a.card"), &card()).unwrap();
        assert_eq!(c.header.name, "alice");
        assert_eq!(c.header.member_index, 2);
        let s = c
            .open(&SecretString::from("correct horse battery".to_owned()))
            .unwrap();
        assert_eq!(s.mnemonic.expose_secret(), "academic acid acrobat");
        assert_eq!(&s.officer_key[..], &[9u8; 40][..]);
    }

    fn epoch_card() -> (Vec<u8>, CardEpoch) {
        let epoch = CardEpoch {
            key_version: 2,
            rekey_id: [7; 8],
            share_set: [0xab; 32],
        };
        let pass = SecretString::from("correct horse battery".to_owned());
        let bytes = seal_in_epoch(
            (VaultId([1; 8]), 1, 3, "dave"),
            Some(epoch),
            KdfParams::INSECURE_FAST,
            &pass,
            &secrets(),
        )
        .unwrap();
        (bytes, epoch)
    }

    #[test]
    fn format_2_cards_carry_their_epoch_and_open() {
        let (bytes, epoch) = epoch_card();
        assert_eq!(&bytes[..8], b"SVCARD\0\x02");
        let c = SealedCard::parse(Path::new("d.card"), &bytes).unwrap();
        assert_eq!(c.header.epoch, Some(epoch));
        assert_eq!(c.header.name, "dave");
        let s = c
            .open(&SecretString::from("correct horse battery".to_owned()))
            .unwrap();
        assert_eq!(s.mnemonic.expose_secret(), "academic acid acrobat");
        // Format 1 cards have none.
        let c = SealedCard::parse(Path::new("a.card"), &card()).unwrap();
        assert_eq!(c.header.epoch, None);
    }

    #[test]
    fn an_epoch_field_changed_with_a_fixed_checksum_fails_to_open() {
        let (mut b, _) = epoch_card();
        let n = b.len();
        // The name "dave" ends at 48 + 4; the key version's last byte is at 55.
        b[55] = 3;
        let sum = crypto::sha256(&b[..n - 32]);
        b[n - 32..].copy_from_slice(&sum);
        let c = SealedCard::parse(Path::new("d.card"), &b).unwrap();
        assert_eq!(c.header.epoch.map(|e| e.key_version), Some(3));
        assert!(c
            .open(&SecretString::from("correct horse battery".to_owned()))
            .is_err());
    }

    #[test]
    fn wrong_passphrase_is_named() {
        let c = SealedCard::parse(Path::new("a.card"), &card()).unwrap();
        let e = c
            .open(&SecretString::from("wrong horse battery".to_owned()))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "wrong passphrase for card a.card (custodian alice)"
        );
    }

    #[test]
    fn any_flipped_byte_is_corruption_or_not_a_card() {
        let good = card();
        for i in 0..good.len() {
            let mut b = good.clone();
            b[i] ^= 0x40;
            let e = SealedCard::parse(Path::new("a.card"), &b).unwrap_err();
            assert!(
                matches!(
                    e,
                    CardError::Corrupted { .. }
                        | CardError::NotACard { .. }
                        | CardError::UnsupportedVersion { .. }
                ),
                "byte {i}: {e}"
            );
        }
    }

    #[test]
    fn header_change_with_fixed_checksum_fails_to_open() {
        let mut b = card();
        let n = b.len();
        b[16] = 5; // member index
        let sum = crypto::sha256(&b[..n - 32]);
        b[n - 32..].copy_from_slice(&sum);
        let c = SealedCard::parse(Path::new("a.card"), &b).unwrap();
        assert!(c
            .open(&SecretString::from("correct horse battery".to_owned()))
            .is_err());
    }

    #[test]
    fn fail_kdf_parameters_out_of_bounds_with_fixed_checksum_are_named() {
        // m at offset 19, t at 23, p at 27 (docs/formats.md).
        for (offset, value, param) in [
            (23usize, u32::MAX, "t (passes)"),
            (19, u32::MAX, "m (memory, KiB)"),
            (27, 0, "p (lanes)"),
        ] {
            let mut b = card();
            let n = b.len();
            b[offset..offset + 4].copy_from_slice(&value.to_be_bytes());
            let sum = crypto::sha256(&b[..n - 32]);
            b[n - 32..].copy_from_slice(&sum);
            let e = SealedCard::parse(Path::new("a.card"), &b).unwrap_err();
            assert!(
                matches!(&e, CardError::KdfOutOfBounds { name, bounds, .. }
                    if name == "alice" && bounds.param == param && bounds.value == value),
                "{e}"
            );
            let msg = e.to_string();
            assert!(msg.contains("card a.card (custodian alice)"), "{msg}");
            assert!(msg.contains(param), "{msg}");
        }
    }

    #[test]
    fn debug_shows_no_secret() {
        let s = secrets();
        assert_eq!(format!("{s:?}"), "CardSecrets([REDACTED])");
    }
}
