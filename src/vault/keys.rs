//! The key hierarchy below the master key, and the AAD of every seal.
//!
//! ```text
//! master key MK (256 bits; exists only while M cards are combined)
//!  ├─ check     = HKDF(MK, salt, "check")          stored: proves a combine
//!  └─ KEK_v     = HKDF(MK, salt, "kek" || v)       never stored
//!      ├─ wraps the vault's OpenPGP secret key     AAD: vault-key | id | v
//!      └─ wraps each batch's data key DK_i          AAD: data-key | id | i | v
//!          └─ DK_i seals each seed of batch i       AAD: seed | id | serial | i | P
//! ```
//!
//! `salt` is "seedvault/v1/" followed by the vault id. `P` is the SHA-256
//! (hex) of the seed's token parameter set in canonical form
//! (`TokenParams::canonical_json`), so the digits, algorithm, period or
//! counter, manufacturer and model an export writes are the ones sealed
//! with the seed (label `seedvault/v2/seed`; v1 bound no parameters). A rekey makes a new
//! MK and KEK_{v+1} and rewraps the data keys and the vault key; no seed is
//! re-encrypted. Every AAD starts with a purpose label and the vault id and
//! separates fields with NUL (serials and ids never contain NUL), so a
//! ciphertext copied to another row, vault, purpose or key version fails.

use crate::cards::VaultId;
use crate::crypto::{hkdf_sha256, sha256, Key32};

fn salt(vault: VaultId) -> Vec<u8> {
    format!("seedvault/v1/{vault}").into_bytes()
}

/// Public check value of a master key (HKDF output; reveals nothing of MK).
pub(crate) fn master_check(mk: &Key32, vault: VaultId) -> [u8; 32] {
    *hkdf_sha256(mk.expose(), &salt(vault), b"check").expose()
}

/// Key-encryption key of version `v`.
pub(crate) fn kek(mk: &Key32, vault: VaultId, v: u32) -> Key32 {
    hkdf_sha256(mk.expose(), &salt(vault), format!("kek\0{v}").as_bytes())
}

fn aad(parts: &[&str]) -> Vec<u8> {
    parts.join("\0").into_bytes()
}

/// AAD of the sealed vault OpenPGP key.
pub(crate) fn aad_vault_key(vault: VaultId, v: u32) -> Vec<u8> {
    aad(&["seedvault/v1/vault-key", &vault.to_string(), &v.to_string()])
}

/// AAD of a wrapped data key.
pub(crate) fn aad_data_key(vault: VaultId, dk_id: i64, v: u32) -> Vec<u8> {
    aad(&[
        "seedvault/v1/data-key",
        &vault.to_string(),
        &dk_id.to_string(),
        &v.to_string(),
    ])
}

/// AAD of sealed seeds, `seedvault/v2/seed | id | serial | i | P`, built
/// in one reused buffer whose first part (purpose and vault id) is made
/// once: ingest and export build a million of them. `P`, the parameter
/// set's SHA-256 in hex, is computed once per set by the caller.
pub(crate) struct SeedAad {
    buf: Vec<u8>,
    prefix: usize,
    /// The last data key id and its decimal text: a batch's seeds share one.
    key_id: Option<(i64, String)>,
}

impl SeedAad {
    pub(crate) fn new(vault: VaultId) -> Self {
        let buf = format!("seedvault/v2/seed\0{vault}\0").into_bytes();
        SeedAad {
            prefix: buf.len(),
            buf,
            key_id: None,
        }
    }

    /// The AAD of the seed of `serial` sealed under data key `dk_id` with
    /// the parameter set whose SHA-256 hex is `params_sha256`.
    pub(crate) fn of(&mut self, serial: &str, dk_id: i64, params_sha256: &str) -> &[u8] {
        self.buf.truncate(self.prefix);
        self.buf.extend_from_slice(serial.as_bytes());
        self.buf.push(0);
        let text = match &mut self.key_id {
            Some((id, text)) if *id == dk_id => text,
            slot => &slot.insert((dk_id, dk_id.to_string())).1,
        };
        self.buf.extend_from_slice(text.as_bytes());
        self.buf.push(0);
        self.buf.extend_from_slice(params_sha256.as_bytes());
        &self.buf
    }
}

/// The per-share commitment stored in the vault: lets a custodian check
/// their card alone and lets a combine name a bad card. A share value is
/// 256 random bits, so its hash cannot be searched.
pub fn share_commitment(vault: VaultId, member_index: u8, share_mnemonic: &str) -> [u8; 32] {
    let mut m = Vec::with_capacity(64 + share_mnemonic.len());
    m.extend_from_slice(b"seedvault/v1/share-commitment\0");
    m.extend_from_slice(vault.to_string().as_bytes());
    m.push(0);
    m.push(member_index);
    m.push(0);
    m.extend_from_slice(share_mnemonic.as_bytes());
    let c = sha256(&m);
    zeroize::Zeroize::zeroize(&mut m); // held the mnemonic
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_aad_is_the_documented_layout_every_time() {
        // Sealed seeds on disk depend on these exact bytes. Changed on
        // purpose on 2026-11-29 (v1 -> v2: the parameter set's SHA-256 is
        // bound); see docs/decisions/2026-11-29-token-parameters-in-the-seed-aad.md.
        let vault = VaultId([0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]);
        let p = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let mut aad = SeedAad::new(vault);
        let mut want = b"seedvault/v2/seed\x000123456789abcdef\x00SN0001\x007\x00".to_vec();
        want.extend_from_slice(p.as_bytes());
        assert_eq!(aad.of("SN0001", 7, p), &want[..]);
        // Reuse leaves nothing of the previous, longer serial behind.
        let mut want = b"seedvault/v2/seed\x000123456789abcdef\x009\x0012\x00".to_vec();
        want.extend_from_slice(b"ab");
        assert_eq!(aad.of("9", 12, "ab"), &want[..]);
        assert_eq!(aad.of("9", 12, "ab"), &want[..]);
        // Back to the first key: its id, not the last one's.
        let mut want = b"seedvault/v2/seed\x000123456789abcdef\x00SN0001\x007\x00".to_vec();
        want.extend_from_slice(p.as_bytes());
        assert_eq!(aad.of("SN0001", 7, p), &want[..]);
    }
}
