//! Customer keys of every kind GnuPG 2.2 makes and encrypts to, made by
//! gpg itself: each is either used for a bundle that gpg opens (and whose
//! vault signature gpg verifies), or refused at `request create` with one
//! plain sentence naming the curve and what is supported instead.
//!
//! The pure-Rust OpenPGP backend (the default build) has no brainpool
//! curves; the refusal texts below are what that build says.

use std::path::Path;

use crate::common::{file_names, request_id, text, Gpg, TestVault};

/// A vault with 12 tokens in order 1234, requester it@acme.example.
fn vault() -> TestVault {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    v.ingest("hex", 12, 70_000_000, 5);
    v.add_order("1234", "Acme", &["it@acme.example"], "alice");
    v.assign("1234", 70_000_000..70_000_012, "alice");
    v
}

/// A gpg home holding one key: a signing primary of `primary` and an
/// encryption subkey of `sub`; returns the home and the exported public key.
fn customer(v: &TestVault, name: &str, primary: &str, sub: &str) -> (Gpg, std::path::PathBuf) {
    let gpg = Gpg::new();
    let fpr = gpg.make(
        &format!("Acme {name} <it@acme.example>"),
        primary,
        Some(sub),
        "never",
        None,
    );
    let key = gpg.export(&fpr, &v.tmp.path().join(format!("{name}.asc")));
    (gpg, key)
}

fn serials_file(v: &TestVault, name: &str, serials: &[u64]) -> String {
    let f = v.tmp.path().join(format!("{name}.serials"));
    let list: Vec<String> = serials.iter().map(u64::to_string).collect();
    std::fs::write(&f, list.join("\n")).unwrap();
    f.to_str().unwrap().to_owned()
}

/// Request, approve, export to a fresh medium, and open the bundle with gpg:
/// the plaintext holds the serials, and gpg verifies the vault's signature.
fn round_trip(v: &TestVault, name: &str, primary: &str, sub: &str, serials: &[u64]) {
    let (gpg, key) = customer(v, name, primary, sub);
    let list = serials_file(v, name, serials);
    let out = v.create_request(
        "1234",
        "it@acme.example",
        "hex",
        &key,
        "alice",
        &["--serials-file", &list],
    );
    let req = request_id(&out);
    v.approve_ok(&req, "bob");
    let media = v.tmp.path().join(format!("media-{name}"));
    std::fs::create_dir(&media).unwrap();
    v.export_ok(&req, &media, &["carol", "alice"]);
    let bundle = media.join(format!("1234-{req}.hex.asc"));
    assert!(
        file_names(&media).contains(&format!("1234-{req}.hex.asc")),
        "{name}: {:?}",
        file_names(&media)
    );
    gpg.run(&["--import", v.cards.join("vault-cert.asc").to_str().unwrap()]);
    let dec = gpg.run(&["--status-fd", "2", "--decrypt", bundle.to_str().unwrap()]);
    let status = String::from_utf8_lossy(&dec.stderr);
    let vault_fpr = vault_fingerprint(v);
    assert!(
        status.contains("[GNUPG:] GOODSIG ")
            && status.contains(&format!("[GNUPG:] VALIDSIG {vault_fpr}")),
        "{name}: gpg does not verify the vault's signature:\n{status}"
    );
    assert!(status.contains("DECRYPTION_OKAY"), "{name}: {status}");
    let plain = String::from_utf8(dec.stdout).unwrap();
    for s in serials {
        assert!(
            plain.contains(&format!("{s},")),
            "{name}: serial {s} missing from the bundle:\n{plain}"
        );
    }
}

fn vault_fingerprint(v: &TestVault) -> String {
    let g = Gpg::new();
    g.run(&["--import", v.cards.join("vault-cert.asc").to_str().unwrap()]);
    let out = g.run(&["--with-colons", "--list-keys"]);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("fpr:"))
        .unwrap()
        .split(':')
        .nth(9)
        .unwrap()
        .to_owned()
}

#[test]
fn nist_curves_curve25519_and_rsa_keys_open_the_bundle_in_gpg() {
    let v = vault();
    // RSA-4096 takes gpg seconds to make; 2048 and 3072 cover the size rule.
    for (i, (name, primary, sub)) in [
        ("p256", "nistp256", "nistp256"),
        ("p384", "nistp384", "nistp384"),
        ("p521", "nistp521", "nistp521"),
        ("cv25519", "ed25519", "cv25519"),
        ("rsa2048", "rsa2048", "rsa2048"),
    ]
    .into_iter()
    .enumerate()
    {
        let first = 70_000_000 + 2 * u64::try_from(i).unwrap();
        round_trip(&v, name, primary, sub, &[first, first + 1]);
    }
    v.cmd().args(["audit", "verify"]).assert().success();
}

/// `request create` with `key`: refused with exit 1, no request made (the
/// refusal itself is logged).
fn refused(v: &TestVault, key: &Path) -> String {
    let before = v.events("request.created");
    let out = v.create_request("1234", "it@acme.example", "hex", key, "alice", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(v.events("request.created"), before, "no request is made");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn brainpool_keys_are_refused_naming_the_curve_and_what_is_supported() {
    let v = vault();
    for (name, curve) in [
        ("bp256", "brainpoolP256r1"),
        ("bp384", "brainpoolP384r1"),
        ("bp512", "brainpoolP512r1"),
    ] {
        let (_gpg, key) = customer(&v, name, curve, curve);
        let err = refused(&v, &key);
        assert!(
            err.contains(&format!("curve {curve} is not supported")),
            "{name}: {err}"
        );
        for kind in [
            "RSA (2048 bits or more)",
            "Curve25519",
            "NIST P-256",
            "NIST P-521",
        ] {
            assert!(err.contains(kind), "{name}: {kind} not listed: {err}");
        }
        // One sentence per problem, not sequoia's doubled internal error.
        assert!(!err.contains("No binding signature"), "{name}: {err}");
        assert_eq!(err.matches("is not supported").count(), 1, "{name}: {err}");
    }
}

#[test]
fn a_brainpool_encryption_subkey_under_an_ed25519_primary_is_named() {
    let v = vault();
    let (gpg, key) = customer(&v, "mixed", "ed25519", "brainpoolP256r1");
    let err = refused(&v, &key);
    assert!(
        err.contains("curve brainpoolP256r1 is not supported (encryption subkey"),
        "{err}"
    );
    // With a second, Curve25519 encryption subkey the key is usable, and
    // the bundle is encrypted to that subkey only.
    let fpr = gpg.fpr("it@acme.example");
    gpg.run(&[
        "--passphrase",
        "",
        "--quick-add-key",
        &fpr,
        "cv25519",
        "encr",
        "never",
    ]);
    let key = gpg.export(&fpr, &v.tmp.path().join("mixed2.asc"));
    let out = v.create_request("1234", "it@acme.example", "hex", &key, "alice", &[]);
    let req = request_id(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("encrypts to subkey").count(), 1, "{stdout}");
    v.approve_ok(&req, "bob");
    let media = v.media();
    v.export_ok(&req, &media, &["carol", "alice"]);
    let bundle = media.join(format!("1234-{req}.hex.asc"));
    gpg.run(&["--import", v.cards.join("vault-cert.asc").to_str().unwrap()]);
    let dec = gpg.run(&["--decrypt", bundle.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&dec.stdout).contains("70000011,"));
}
