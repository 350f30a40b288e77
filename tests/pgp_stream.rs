//! Streaming behaviour of the OpenPGP layer on large inputs, without gpg:
//! a batch larger than sequoia's 25 MiB verification buffer yields
//! plaintext before its signature is checked, and a wrong signer still
//! fails the read at the latest at EOF (ingest commits only after EOF).

use std::io::Read;
use std::time::SystemTime;

use seedvault::pgp::{
    decrypt_batch, encrypt_and_sign, generate_officer_key, generate_vault_key, PgpError,
    RecipientCert,
};

/// Deterministic, incompressible-enough filler.
fn filler(len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for b in v.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = b'a' + (x % 26) as u8;
    }
    v
}

#[test]
fn large_batch_with_wrong_signer_fails_by_eof() {
    let vault = generate_vault_key("0123abcd").unwrap();
    let factory = generate_officer_key("factory", "0123abcd").unwrap();
    let rogue = generate_officer_key("rogue", "0123abcd").unwrap();
    let to_vault = RecipientCert::parse(&vault.public_bytes().unwrap(), SystemTime::now()).unwrap();

    let data = filler(27 * 1024 * 1024);
    let mut msg = Vec::new();
    encrypt_and_sign(&to_vault, &rogue, &mut data.as_slice(), &mut msg).unwrap();

    // The right signer reads everything.
    let mut r = decrypt_batch(
        &vault,
        Box::new(std::io::Cursor::new(&msg[..])),
        Some(rogue.cert()),
    )
    .unwrap();
    let mut out = Vec::new();
    r.read_to_end(&mut out).unwrap();
    assert!(out == data);

    // The wrong one: plaintext flows first, then the read fails.
    let mut r = decrypt_batch(
        &vault,
        Box::new(std::io::Cursor::new(&msg[..])),
        Some(factory.cert()),
    )
    .unwrap();
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let err = loop {
        match r.read(&mut buf) {
            Ok(0) => panic!("reached EOF without a signature error"),
            Ok(n) => got += n,
            Err(e) => break e,
        }
    };
    assert!(
        got > 0 && got < data.len(),
        "read {got} bytes before the error"
    );
    let err = err.into_inner().unwrap().downcast::<PgpError>().unwrap();
    assert!(matches!(*err, PgpError::UnknownSigner { .. }), "{err:?}");
}
