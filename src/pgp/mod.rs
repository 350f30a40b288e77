//! The vault's OpenPGP: its own key, the custodians' card keys, and the
//! certificates of customers and factories.
//!
//! Everything here goes through sequoia-openpgp and produces what GnuPG 2.2
//! reads: v4 keys (RFC 4880 profile), Ed25519 signatures, Cv25519
//! encryption, SEIPDv1 unless a recipient advertises more. The vault never
//! makes any other kind of key.
//!
//! Every validity decision uses sequoia's [`StandardPolicy`] ([`POLICY`]),
//! so what is accepted here is what current OpenPGP practice accepts, and
//! a refusal can name the rule that was broken.

pub mod decrypt;
pub mod encrypt;
pub mod error;
pub mod keys;
pub mod recipient;
pub mod sign;
mod verify;

use sequoia_openpgp::policy::StandardPolicy;

pub use decrypt::{decrypt_batch, is_openpgp_message, BatchReader};
pub use encrypt::{armor_message, encrypt_and_sign, encrypt_and_sign_with, Framing};
pub use error::PgpError;
pub use keys::{generate_officer_key, generate_vault_key, KeyError, SecretCert};
pub use recipient::{CertProblem, RecipientCert};
pub use sign::{clearsign, sign_detached, verify_clearsigned, verify_detached};

/// The one policy every OpenPGP decision of the vault is made under.
pub static POLICY: StandardPolicy<'static> = StandardPolicy::new();

/// A time for a person: `2026-11-22 14:00:00 UTC`.
pub(crate) fn fmt_time(t: std::time::SystemTime) -> String {
    let fmt =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    time::OffsetDateTime::from(t)
        .format(&fmt)
        .unwrap_or_else(|_| format!("{t:?}"))
}
