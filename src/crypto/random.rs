//! The system CSPRNG (getrandom via ring). One place, so a reviewer can see
//! that every key, nonce, salt and share coefficient comes from it.

use ring::rand::{SecureRandom, SystemRandom};

/// The operating system refused to give random bytes.
#[derive(Debug, thiserror::Error)]
#[error("the system random number generator failed")]
pub struct RandomError;

/// Fills `buf` with random bytes.
pub fn fill(buf: &mut [u8]) -> Result<(), RandomError> {
    SystemRandom::new().fill(buf).map_err(|_| RandomError)
}

/// `N` random bytes.
pub fn array<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut out = [0u8; N];
    fill(&mut out)?;
    Ok(out)
}

/// The generator itself, for APIs that take a `SecureRandom`.
pub fn system() -> SystemRandom {
    SystemRandom::new()
}
