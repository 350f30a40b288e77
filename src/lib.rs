//! seedvault: an offline vault for the factory seeds of TOTP/HOTP tokens.
//!
//! The library is the product; the CLI (`src/main.rs` and `src/cli/`, a
//! module of the binary that the library cannot import) and the terminal UI
//! are thin front ends that translate between a person and these modules. Neither
//! opens the database nor calls a cipher itself.
//!
//! | module    | what it holds |
//! |-----------|---------------|
//! | `crypto`  | AEAD, KDFs, randomness, power-on self-tests |
//! | `shares`  | constant-time Shamir over GF(256) and SLIP-0039 mnemonics |
//! | `cards`   | custodian card files sealed under a passphrase |
//! | `store`   | the SQLite database and its migrations |
//! | `audit`   | the hash-chained log, signed checkpoints, replay, export |
//! | `ceremony`| ceremony scripts walked step by step, logged, transcribed |
//! | `vault`   | init, unseal (quorum), ingest, orders and requests, export, status |
//! | `media`   | mounted removable media and their free space |
//! | `formats` | factory seed files, read and written |
//! | `otp`     | HOTP/TOTP |
//! | `pgp`     | the vault's and officers' OpenPGP keys, customer certificates |
//! | `tui`     | the terminal UI front end (the CLI lives in the binary) |

pub mod audit;
pub mod cards;
pub mod ceremony;
pub mod crypto;
pub mod formats;
#[doc(hidden)]
pub mod fuzzing;
pub mod hygiene;
pub mod media;
pub mod otp;
pub mod pgp;
pub mod shares;
pub mod store;
pub mod token;
pub mod tui;
pub mod vault;
