//! TEMPORARY signature stub; replaced by the h/shares branch at merge.
#![allow(missing_docs, clippy::all, unused_variables)]
use secrecy::{SecretBox, SecretString};
#[derive(Debug)]
pub struct Share;
#[derive(Debug, thiserror::Error)]
#[error("shares not built")]
pub struct ShareError;
impl Share {
    pub fn from_mnemonic(words: &str) -> Result<Share, ShareError> { Err(ShareError) }
    pub fn to_mnemonic(&self) -> SecretString { SecretString::from(String::new()) }
    pub fn member_index(&self) -> u8 { 0 }
    pub fn member_threshold(&self) -> u8 { 0 }
    pub fn identifier(&self) -> u16 { 0 }
    pub fn value(&self) -> &[u8] { &[] }
}
pub fn split(master_secret: &[u8], threshold: u8, count: u8, passphrase: &[u8], iteration_exponent: u8,
             rng: &dyn ring::rand::SecureRandom) -> Result<Vec<Share>, ShareError> { Err(ShareError) }
pub fn combine(shares: &[Share], passphrase: &[u8]) -> Result<SecretBox<Vec<u8>>, ShareError> { Err(ShareError) }
