//! Which program is running: the SHA-256 of the executable and its version.
//!
//! An auditor ties what the log says happened to reviewed source in two
//! steps: `scripts/release` builds a commit reproducibly and publishes the
//! binary's SHA-256, and every `vault.unsealed` entry records the SHA-256 of
//! the binary that held the master key. The hash is of the file the kernel
//! ran: `/proc/self/exe` names the executable's inode, so replacing the file
//! at its path after the start does not change what is hashed. It is read
//! once per process (a console session unseals many times) and kept.
//!
//! A program reports on itself here: this catches a binary changed by
//! mistake or unnoticed between sessions, and lets the published release
//! hash be compared with each session; it cannot catch a binary built to
//! lie, which the reproducible build and the custody of the machine do.

use std::io::Read;
use std::path::Path;
use std::sync::OnceLock;

use serde::Serialize;

/// Where the running executable is read from.
pub const SELF_EXE: &str = "/proc/self/exe";

/// The package version (`Cargo.toml`).
pub const PACKAGE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The commit `scripts/release` built, from `SEEDVAULT_BUILD_COMMIT` at
/// compile time; `None` for any other build (no build time is recorded:
/// it would make two builds of one commit differ).
pub fn build_commit() -> Option<&'static str> {
    option_env!("SEEDVAULT_BUILD_COMMIT").filter(|c| !c.is_empty())
}

/// The version as logged: `0.1.0`, or `0.1.0+<commit>` for a release build.
pub fn version() -> String {
    match build_commit() {
        Some(c) => format!("{PACKAGE_VERSION}+{c}"),
        None => PACKAGE_VERSION.to_owned(),
    }
}

/// The running executable could not be read to hash it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot read the running executable ({SELF_EXE}) to hash it: {0}")]
pub struct SelfHashError(String);

/// SHA-256 (lowercase hex) of the running executable, computed on the
/// first call of the process and kept.
pub fn self_sha256() -> Result<&'static str, SelfHashError> {
    static CACHE: OnceLock<Result<String, String>> = OnceLock::new();
    let cached = CACHE.get_or_init(|| {
        file_sha256(Path::new(SELF_EXE))
            .map(|h| crate::crypto::hex(&h))
            .map_err(|e| e.to_string())
    });
    match cached {
        Ok(h) => Ok(h.as_str()),
        Err(e) => Err(SelfHashError(e.clone())),
    }
}

/// SHA-256 of a file, read in blocks (an executable is tens of MB).
pub fn file_sha256(path: &Path) -> std::io::Result<[u8; 32]> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = crate::crypto::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(buf.get(..n).unwrap_or_default());
    }
    Ok(hasher.finish())
}

/// What `seedvault version --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct BinaryIdentity {
    /// As logged in `vault.unsealed` (`binary_version`).
    pub version: String,
    /// The package version alone.
    pub package_version: &'static str,
    /// The commit of a release build, else null.
    pub commit: Option<&'static str>,
    /// SHA-256 of the running executable (`binary_sha256`).
    pub sha256: &'static str,
    /// Where the executable was started from, as the kernel names it.
    pub path: Option<String>,
}

/// The running binary's identity, hashing it if not done yet.
pub fn identity() -> Result<BinaryIdentity, SelfHashError> {
    Ok(BinaryIdentity {
        version: version(),
        package_version: PACKAGE_VERSION,
        commit: build_commit(),
        sha256: self_sha256()?,
        path: std::env::current_exe()
            .ok()
            .map(|p| p.display().to_string()),
    })
}

/// The fields every `vault.unsealed` entry carries: `binary_sha256` (null,
/// with `binary_error`, if the executable could not be read) and
/// `binary_version`.
pub(crate) fn unseal_fields() -> serde_json::Map<String, serde_json::Value> {
    let mut map = serde_json::Map::new();
    match self_sha256() {
        Ok(h) => {
            map.insert("binary_sha256".into(), h.into());
        }
        Err(e) => {
            map.insert("binary_sha256".into(), serde_json::Value::Null);
            map.insert("binary_error".into(), e.to_string().into());
        }
    }
    map.insert("binary_version".into(), version().into());
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_hash_streams_across_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        // Two blocks and a bit: the block loop must join them.
        let data: Vec<u8> = (0..(2 * 65536 + 7u32))
            .map(|i| u8::try_from(i % 251).unwrap())
            .collect();
        std::fs::write(&p, &data).unwrap();
        assert_eq!(file_sha256(&p).unwrap(), crate::crypto::sha256(&data));
    }

    #[test]
    fn version_is_package_version_without_a_release_commit() {
        let v = version();
        assert!(v.starts_with(PACKAGE_VERSION));
        assert_eq!(v == PACKAGE_VERSION, build_commit().is_none());
    }
}
