//! The event types of the log. Each constant's doc says what its `data`
//! holds; `docs/audit-log.md` is the full reference.

/// Genesis: `vault_id`, `threshold`, `share_count`, `test_vault`, `kdf`,
/// `approval_ttl_s`, `key_version`, `vault_cert` (base64 of the public
/// certificate), `vault_fingerprint`, and `custodians`: a list of
/// `{name, member_index, commitment, officer_fingerprint, officer_cert}`.
pub const VAULT_INIT: &str = "vault.init";
/// A quorum unsealed the vault for a command: `purpose`, `cards`.
pub const UNSEAL: &str = "vault.unsealed";
/// A refused unseal or card check: `purpose`, `cards` (names claimed by the
/// card headers or file names), `reason`.
pub const UNSEAL_FAILED: &str = "vault.unseal_failed";
/// A custodian displayed their card's SLIP-0039 words: `custodian`,
/// `member_index` (never the words).
pub const CARD_WORDS_SHOWN: &str = "card.words_shown";
