//! Splitting the master key among custodians, and putting it back together.
//!
//! (SLIP-0039 mnemonics and the public API follow; this step adds the
//! constant-time field arithmetic and the raw Shamir layer they rest on.)

// Used by the mnemonic layer added next.
#[allow(dead_code)]
mod gf256;
#[allow(dead_code)]
mod shamir;
