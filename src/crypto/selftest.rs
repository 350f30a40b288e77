//! Power-on known-answer tests, run at every start before anything else.
//!
//! A vault is only as good as its primitives; a miscompiled or broken AES,
//! SHA or Argon2 would seal seeds that cannot be opened, or worse, that can
//! be opened by anyone. Each test compares against a published vector; on
//! any mismatch the binary refuses to run. The whole set takes a few
//! milliseconds (the Argon2id vector uses 32 KiB).

use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};

use super::{aead::SealingKey, kdf, Key32};

/// A known-answer test failed: this build cannot be trusted with secrets.
#[derive(Debug, thiserror::Error)]
#[error("cryptographic self-test failed: {0}; refusing to run")]
pub struct SelfTestError(pub &'static str);

fn unhex(s: &str) -> Vec<u8> {
    // Only ever called on the literal vectors below, which are valid hex.
    #[allow(clippy::expect_used)]
    data_encoding::HEXLOWER_PERMISSIVE
        .decode(s.as_bytes())
        .expect("vector is hex")
}

fn check(ok: bool, what: &'static str) -> Result<(), SelfTestError> {
    if ok {
        Ok(())
    } else {
        Err(SelfTestError(what))
    }
}

/// Runs every known-answer test.
pub fn run() -> Result<(), SelfTestError> {
    sha256()?;
    hmac_sha256()?;
    hkdf()?;
    aes_256_gcm()?;
    argon2id()?;
    ed25519()?;
    Ok(())
}

/// FIPS 180-2 appendix B.1: SHA-256("abc").
fn sha256() -> Result<(), SelfTestError> {
    let want = unhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    check(
        super::sha256(b"abc")[..] == want[..],
        "SHA-256 (FIPS 180-2 B.1)",
    )
}

/// RFC 4231 test case 2.
fn hmac_sha256() -> Result<(), SelfTestError> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"Jefe");
    let tag = ring::hmac::sign(&key, b"what do ya want for nothing?");
    let want = unhex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    check(tag.as_ref() == &want[..], "HMAC-SHA256 (RFC 4231 case 2)")
}

/// RFC 5869 test case 1.
fn hkdf() -> Result<(), SelfTestError> {
    let ikm = [0x0bu8; 22];
    let salt = unhex("000102030405060708090a0b0c");
    let info = unhex("f0f1f2f3f4f5f6f7f8f9");
    let want = unhex(
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
    );
    let mut out = [0u8; 42];
    kdf::hkdf_sha256_into(&ikm, &salt, &info, &mut out);
    check(out[..] == want[..], "HKDF-SHA256 (RFC 5869 case 1)")
}

/// The GCM specification's test case 16 (AES-256, 60-byte message, AAD).
fn aes_256_gcm() -> Result<(), SelfTestError> {
    let mut k = unhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
    let key = Key32::from_slice_wiping(&mut k).ok_or(SelfTestError("AES-256-GCM key"))?;
    let pt = unhex(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
         1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
    );
    let aad = unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    let nonce: [u8; 12] = [
        0xca, 0xfe, 0xba, 0xbe, 0xfa, 0xce, 0xdb, 0xad, 0xde, 0xca, 0xf8, 0x88,
    ];
    let want = unhex(
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
         8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662\
         76fc6ece0f4e1768cddf8853bb2d551b",
    );
    let sk = SealingKey::new(&key);
    let sealed = sk
        .seal_with_nonce(&nonce, &aad, &pt)
        .map_err(|_| SelfTestError("AES-256-GCM (GCM spec case 16)"))?;
    check(sealed[12..] == want[..], "AES-256-GCM (GCM spec case 16)")?;
    let opened = sk
        .open(&aad, &sealed)
        .map_err(|_| SelfTestError("AES-256-GCM open"))?;
    check(opened[..] == pt[..], "AES-256-GCM open")?;
    let mut bad = sealed.clone();
    bad[20] ^= 1;
    check(
        sk.open(&aad, &bad).is_err(),
        "AES-256-GCM rejects a forgery",
    )
}

/// RFC 9106 section 5.3: the Argon2id test vector.
fn argon2id() -> Result<(), SelfTestError> {
    let params = kdf::KdfParams {
        m_kib: 32,
        t: 3,
        p: 4,
    };
    let tag = kdf::argon2id_full(
        &[1u8; 32],
        &[2u8; 16],
        Some(&[3u8; 8]),
        Some(&[4u8; 12]),
        params,
    )
    .map_err(|_| SelfTestError("Argon2id (RFC 9106 5.3)"))?;
    let want = unhex("0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659");
    check(tag.expose()[..] == want[..], "Argon2id (RFC 9106 5.3)")
}

/// RFC 8032 section 7.1, test 1 (empty message).
fn ed25519() -> Result<(), SelfTestError> {
    let seed = unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    let want_pub = unhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    let want_sig = unhex(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    );
    let kp = Ed25519KeyPair::from_seed_and_public_key(&seed, &want_pub)
        .map_err(|_| SelfTestError("Ed25519 key (RFC 8032 test 1)"))?;
    check(
        kp.public_key().as_ref() == &want_pub[..],
        "Ed25519 public key (RFC 8032 test 1)",
    )?;
    let sig = kp.sign(b"");
    check(
        sig.as_ref() == &want_sig[..],
        "Ed25519 signature (RFC 8032 test 1)",
    )?;
    let pk = UnparsedPublicKey::new(&ED25519, &want_pub);
    check(
        pk.verify(b"", &want_sig).is_ok(),
        "Ed25519 verify (RFC 8032 test 1)",
    )?;
    check(
        pk.verify(b"x", &want_sig).is_err(),
        "Ed25519 rejects a forgery",
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn all_known_answers_pass() {
        super::run().unwrap();
    }
}
