//! The vault's OpenPGP: its own key, the custodians' card keys, and the
//! certificates of customers and factories.
//!
//! Everything here goes through sequoia-openpgp and produces what GnuPG 2.2
//! reads: v4 keys (RFC 4880 profile), Ed25519 signatures, Cv25519
//! encryption, SEIPDv1 unless a recipient advertises more. The vault never
//! makes any other kind of key.

pub mod keys;

pub use keys::{generate_officer_key, generate_vault_key, KeyError, SecretCert};
