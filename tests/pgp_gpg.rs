//! The OpenPGP layer against the real GnuPG 2.2: what we write, gpg reads;
//! what gpg writes, we read; and customer keys gpg makes are accepted or
//! refused for the stated reason.
//!
//! Every test runs gpg in its own temporary GNUPGHOME. gpg-made keys are
//! generated once per test run (in a throwaway home) and shared as bytes.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use seedvault::pgp::{
    clearsign, decrypt_batch, encrypt_and_sign, generate_officer_key, generate_vault_key,
    is_openpgp_message, sign_detached, verify_clearsigned, verify_detached, CertProblem, PgpError,
    RecipientCert, SecretCert,
};
use sequoia_openpgp::parse::Parse;
use sequoia_openpgp::Cert;

/// A gpg with its own home directory; its agent is stopped on drop.
struct Gpg {
    home: tempfile::TempDir,
}

impl Gpg {
    fn new() -> Gpg {
        crate::common::require_tool("gpg");
        let home = tempfile::Builder::new().prefix("sv-gpg").tempdir().unwrap();
        // gpg warns about a home other users can read.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        Gpg { home }
    }

    fn path(&self) -> &Path {
        self.home.path()
    }

    fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = Command::new("gpg")
            .arg("--homedir")
            .arg(self.path())
            .args([
                "--batch",
                "--no-tty",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
            ])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut sin = child.stdin.take().unwrap();
        let data = stdin.to_vec();
        let feeder = std::thread::spawn(move || {
            let _ = sin.write_all(&data);
        });
        let out = child.wait_with_output().unwrap();
        feeder.join().unwrap();
        out
    }

    fn ok(&self, args: &[&str], stdin: &[u8]) -> Output {
        let o = self.run(args, stdin);
        assert!(
            o.status.success(),
            "gpg {args:?} failed:\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        o
    }

    /// `--quick-gen-key`; returns the primary fingerprint.
    fn gen(&self, extra: &[&str], uid: &str, algo: &str, usage: &str, expire: &str) -> String {
        let mut args = extra.to_vec();
        args.extend(["--quick-gen-key", uid, algo, usage, expire]);
        self.ok(&args, b"");
        self.fpr(uid)
    }

    fn fpr(&self, uid: &str) -> String {
        let o = self.ok(&["--with-colons", "--list-keys", uid], b"");
        let text = String::from_utf8(o.stdout).unwrap();
        let line = text.lines().find(|l| l.starts_with("fpr:")).unwrap();
        line.split(':').nth(9).unwrap().to_string()
    }

    fn export(&self, fpr: &str) -> Vec<u8> {
        self.ok(&["--armor", "--export", fpr], b"").stdout
    }

    fn export_secret(&self, fpr: &str) -> Vec<u8> {
        self.ok(&["--armor", "--export-secret-keys", fpr], b"")
            .stdout
    }

    fn import(&self, key: &[u8]) {
        self.ok(&["--import"], key);
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.path())
            .args(["--kill", "gpg-agent"])
            .status();
    }
}

/// Keys made by gpg, as a customer or a factory would make them.
struct GpgKeys {
    /// `rsa3072 default never` plus an `rsa3072 encr` subkey.
    rsa_pub: Vec<u8>,
    rsa_sec: Vec<u8>,
    /// `rsa3072 default never` alone: gpg makes it sign/certify only.
    rsa_bare_pub: Vec<u8>,
    /// `future-default` (Ed25519 + Cv25519).
    cv_pub: Vec<u8>,
    cv_sec: Vec<u8>,
    /// `ed25519 sign` plus a `cv25519 encr` subkey.
    ed_pub: Vec<u8>,
    /// `ed25519 sign`: no encryption subkey.
    sign_only_pub: Vec<u8>,
    /// Made on 2020-01-01 with a one-day expiry.
    expired_pub: Vec<u8>,
    /// Valid, with a one-day expiry starting now.
    one_day_pub: Vec<u8>,
    /// Revoked with gpg's automatic revocation certificate.
    revoked_pub: Vec<u8>,
    /// RSA-1024 primary with an RSA-1024 encryption subkey.
    rsa1024_pub: Vec<u8>,
    /// Self-signatures over SHA-1 (`--cert-digest-algo SHA1`).
    sha1_pub: Vec<u8>,
    /// Ed25519 primary with two encryption subkeys, Cv25519 and RSA-3072.
    two_pub: Vec<u8>,
    two_sec: Vec<u8>,
}

fn gpg_keys() -> &'static GpgKeys {
    static KEYS: OnceLock<GpgKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let g = Gpg::new();
        let rsa = g.gen(
            &[],
            "Customer <c@example.com>",
            "rsa3072",
            "default",
            "never",
        );
        let rsa_bare_pub = g.export(&rsa);
        g.ok(&["--quick-add-key", &rsa, "rsa3072", "encr", "never"], b"");
        let cv = g.gen(
            &[],
            "Curve Customer <cv@example.com>",
            "future-default",
            "default",
            "never",
        );
        // gpg 2.2 does not take "ed25519/cv25519" (2.3+ syntax): add the
        // Cv25519 subkey by hand.
        let ed = g.gen(
            &[],
            "Ed Customer <ed@example.com>",
            "ed25519",
            "sign",
            "never",
        );
        g.ok(&["--quick-add-key", &ed, "cv25519", "encr", "never"], b"");
        let sign_only = g.gen(&[], "Signer <s@example.com>", "ed25519", "sign", "never");
        let expired = g.gen(
            &["--faked-system-time", "20200101T000000"],
            "Expired <x@example.com>",
            "future-default",
            "default",
            "1d",
        );
        let one_day = g.gen(
            &[],
            "One Day <d@example.com>",
            "future-default",
            "default",
            "1d",
        );
        let revoked = g.gen(
            &[],
            "Revoked <r@example.com>",
            "future-default",
            "default",
            "never",
        );
        let rev = std::fs::read_to_string(g.path().join(format!("openpgp-revocs.d/{revoked}.rev")))
            .unwrap();
        // gpg guards the stored certificate against accidental import with
        // a leading ':' on the BEGIN line.
        let rev = rev.replace(
            ":-----BEGIN PGP PUBLIC KEY BLOCK-----",
            "-----BEGIN PGP PUBLIC KEY BLOCK-----",
        );
        g.import(rev.as_bytes());
        let weak = g.gen(&[], "Weak <w@example.com>", "rsa1024", "default", "never");
        g.ok(&["--quick-add-key", &weak, "rsa1024", "encr", "never"], b"");
        let sha1 = g.gen(
            &["--cert-digest-algo", "SHA1"],
            "Old <o@example.com>",
            "future-default",
            "default",
            "never",
        );
        let two = g.gen(&[], "Two <two@example.com>", "ed25519", "sign", "never");
        g.ok(&["--quick-add-key", &two, "cv25519", "encr", "never"], b"");
        g.ok(&["--quick-add-key", &two, "rsa3072", "encr", "never"], b"");
        GpgKeys {
            sha1_pub: g.export(&sha1),
            two_pub: g.export(&two),
            two_sec: g.export_secret(&two),
            rsa_pub: g.export(&rsa),
            rsa_sec: g.export_secret(&rsa),
            rsa_bare_pub,
            cv_pub: g.export(&cv),
            cv_sec: g.export_secret(&cv),
            ed_pub: g.export(&ed),
            sign_only_pub: g.export(&sign_only),
            expired_pub: g.export(&expired),
            one_day_pub: g.export(&one_day),
            revoked_pub: g.export(&revoked),
            rsa1024_pub: g.export(&weak),
        }
    })
}

fn vault() -> &'static SecretCert {
    static VAULT: OnceLock<SecretCert> = OnceLock::new();
    VAULT.get_or_init(|| generate_vault_key("0123abcd").unwrap())
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn problems(key: &[u8], now: SystemTime) -> Vec<CertProblem> {
    match RecipientCert::parse(key, now) {
        Ok(c) => panic!("{c:?} was accepted"),
        Err(p) => p,
    }
}

// ---------------------------------------------------------------- keys

#[test]
fn gpg_imports_the_vault_cert() {
    let g = Gpg::new();
    let o = g.ok(
        &["--status-fd", "2", "--import"],
        vault().public_armored().unwrap().as_bytes(),
    );
    assert!(stderr(&o).contains("[GNUPG:] IMPORT_OK"), "{}", stderr(&o));
    let listed = g.ok(
        &["--with-colons", "--list-keys", &vault().fingerprint()],
        b"",
    );
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("pub:") && l.split(':').nth(3) == Some("22")),
        "Ed25519 primary:\n{listed}"
    );
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("sub:") && l.split(':').nth(3) == Some("18")),
        "Cv25519 subkey:\n{listed}"
    );
}

#[test]
fn gpg_made_keys_are_valid_recipients() {
    let k = gpg_keys();
    let now = SystemTime::now();
    for (name, key, uid) in [
        (
            "rsa3072 + encr subkey",
            &k.rsa_pub,
            "Customer <c@example.com>",
        ),
        (
            "future-default",
            &k.cv_pub,
            "Curve Customer <cv@example.com>",
        ),
        (
            "ed25519 + cv25519 subkey",
            &k.ed_pub,
            "Ed Customer <ed@example.com>",
        ),
        (
            "one-day expiry, still valid",
            &k.one_day_pub,
            "One Day <d@example.com>",
        ),
    ] {
        let rc = RecipientCert::parse(key, now).unwrap_or_else(|p| panic!("{name}: {p:?}"));
        assert_eq!(rc.user_ids(), vec![uid.to_string()], "{name}");
        assert_eq!(rc.encryption_subkey_fingerprints().len(), 1, "{name}");
        assert_ne!(
            rc.encryption_subkey_fingerprints()[0],
            rc.fingerprint(),
            "{name}"
        );
        assert_eq!(
            format!("{rc:?}"),
            format!("RecipientCert({})", rc.fingerprint())
        );
    }
    // Armor with Windows line endings, as pasted from a mail client.
    let crlf = String::from_utf8(k.cv_pub.clone())
        .unwrap()
        .replace('\n', "\r\n");
    assert!(RecipientCert::parse(crlf.as_bytes(), now).is_ok());
    // Binary works as well as armor.
    let bin = Cert::from_bytes(&k.cv_pub).unwrap();
    let bin = sequoia_openpgp::serialize::SerializeInto::to_vec(&bin).unwrap();
    assert!(RecipientCert::parse(&bin, now).is_ok());
}

#[test]
fn refuses_truncated_armor() {
    let key = String::from_utf8(gpg_keys().cv_pub.clone()).unwrap();
    let cut = &key[..key.find("-----END").unwrap()];
    let p = problems(cut.as_bytes(), SystemTime::now());
    assert_eq!(
        p,
        vec![CertProblem::TruncatedArmor("PGP PUBLIC KEY BLOCK".into())]
    );
    assert!(
        p[0].to_string()
            .contains("no \"-----END PGP PUBLIC KEY BLOCK-----\" line"),
        "{}",
        p[0]
    );
    // Cut in the middle: same reason, nothing half-parsed.
    let p = problems(&key.as_bytes()[..key.len() / 2], SystemTime::now());
    assert!(matches!(p[..], [CertProblem::TruncatedArmor(_)]), "{p:?}");
}

#[test]
fn refuses_expired_key_and_says_when() {
    let p = problems(&gpg_keys().expired_pub, SystemTime::now());
    assert!(
        p.contains(&CertProblem::Expired("2020-01-02 00:00:00 UTC".into())),
        "{p:?}"
    );
    assert!(
        p[0].to_string().contains("expired on 2020-01-02"),
        "{}",
        p[0]
    );
    // A valid one-day key, checked three days later.
    let later = SystemTime::now() + Duration::from_secs(3 * 86400);
    let p = problems(&gpg_keys().one_day_pub, later);
    assert!(matches!(p[..], [CertProblem::Expired(_)]), "{p:?}");
}

#[test]
fn refuses_revoked_key() {
    let p = problems(&gpg_keys().revoked_pub, SystemTime::now());
    assert!(matches!(p[..], [CertProblem::Revoked(_)]), "{p:?}");
    assert!(
        p[0].to_string().starts_with("the certificate is revoked"),
        "{}",
        p[0]
    );
}

#[test]
fn refuses_sign_only_keys() {
    let p = problems(&gpg_keys().sign_only_pub, SystemTime::now());
    assert_eq!(p, vec![CertProblem::NoEncryptionKey]);
    // gpg's `rsa3072 default` without an added subkey is sign-only too.
    let p = problems(&gpg_keys().rsa_bare_pub, SystemTime::now());
    assert_eq!(p, vec![CertProblem::NoEncryptionKey]);
}

#[test]
fn refuses_rsa_1024_naming_the_size() {
    let p = problems(&gpg_keys().rsa1024_pub, SystemTime::now());
    let weak: Vec<_> = p
        .iter()
        .filter(|p| matches!(p, CertProblem::WeakRsa { bits: 1024, .. }))
        .collect();
    assert_eq!(weak.len(), 2, "primary and subkey: {p:?}");
    assert!(
        weak[0].to_string().contains("only 1024 bits"),
        "{}",
        weak[0]
    );
    // StandardPolicy rejects RSA-1024 as well, and says so.
    assert!(
        p.iter()
            .any(|p| matches!(p, CertProblem::PolicyRejected(_))),
        "{p:?}"
    );
}

#[test]
fn refuses_sha1_self_signatures_saying_why() {
    let p = problems(&gpg_keys().sha1_pub, SystemTime::now());
    assert!(matches!(p[..], [CertProblem::PolicyRejected(_)]), "{p:?}");
    assert!(p[0].to_string().contains("SHA1"), "{}", p[0]);
}

#[test]
fn refuses_key_checked_before_its_creation() {
    let before = SystemTime::now() - Duration::from_secs(365 * 86400);
    let p = problems(&gpg_keys().cv_pub, before);
    assert!(matches!(p[..], [CertProblem::NotYetValid(_)]), "{p:?}");
}

#[test]
fn refuses_secret_key() {
    let p = problems(&gpg_keys().cv_sec, SystemTime::now());
    assert_eq!(p, vec![CertProblem::SecretKeyMaterial]);
    assert!(
        p[0].to_string().contains("secret (private) key"),
        "{}",
        p[0]
    );
}

#[test]
fn refuses_garbage_and_several_certs() {
    let p = problems(b"hello, this is not a key", SystemTime::now());
    assert!(matches!(p[..], [CertProblem::Unparsable(_)]), "{p:?}");
    let k = gpg_keys();
    let mut two = k.cv_pub.clone();
    two.extend_from_slice(&k.ed_pub);
    let p = problems(&two, SystemTime::now());
    assert_eq!(p, vec![CertProblem::NotOneCertificate(2)]);
}

// ----------------------------------------------------- encrypt and sign

fn plaintext(len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len);
    let mut i: u32 = 0;
    while v.len() < len {
        v.extend_from_slice(format!("TK{i:08},{:040x}\n", i.wrapping_mul(2654435761)).as_bytes());
        i += 1;
    }
    v.truncate(len);
    v
}

fn gpg_decrypts(customer_pub: &[u8], customer_sec: &[u8]) {
    let rc = RecipientCert::parse(customer_pub, SystemTime::now()).unwrap();
    let data = plaintext(300_000);
    let mut out = Vec::new();
    encrypt_and_sign(&rc, vault(), &mut data.as_slice(), &mut out).unwrap();
    assert!(out.starts_with(b"-----BEGIN PGP MESSAGE-----"));

    let g = Gpg::new();
    g.import(customer_sec);
    g.import(vault().public_armored().unwrap().as_bytes());
    let o = g.ok(&["--status-fd", "2", "--decrypt"], &out);
    let err = stderr(&o);
    assert!(o.stdout == data, "plaintext differs");
    assert!(err.contains("[GNUPG:] GOODSIG "), "{err}");
    assert!(
        err.contains(&format!("[GNUPG:] VALIDSIG {}", vault().fingerprint())),
        "{err}"
    );
    assert!(err.contains("[GNUPG:] DECRYPTION_OKAY"), "{err}");
    assert!(err.contains("[GNUPG:] GOODMDC"), "SEIPDv1 with MDC: {err}");
    // The container gpg sees: SEIPD v1 (mdc_method 2), no compression.
    let packets = g.ok(&["--list-packets"], &out);
    let listing = String::from_utf8_lossy(&packets.stdout);
    assert!(
        listing.contains(":encrypted data packet:") && listing.contains("mdc_method: 2"),
        "{listing}"
    );
    assert!(!listing.contains(":compressed packet:"), "{listing}");
    assert_eq!(
        listing.matches(":pubkey enc packet:").count(),
        rc.encryption_subkey_fingerprints().len()
    );
}

#[test]
fn gpg_decrypts_for_rsa3072_recipient() {
    let k = gpg_keys();
    gpg_decrypts(&k.rsa_pub, &k.rsa_sec);
}

#[test]
fn gpg_decrypts_for_curve25519_recipient() {
    let k = gpg_keys();
    gpg_decrypts(&k.cv_pub, &k.cv_sec);
}

#[test]
fn gpg_decrypts_for_recipient_with_two_encryption_subkeys() {
    let k = gpg_keys();
    let rc = RecipientCert::parse(&k.two_pub, SystemTime::now()).unwrap();
    assert_eq!(rc.encryption_subkey_fingerprints().len(), 2);
    // gpg_decrypts checks there is one PKESK per encryption subkey.
    gpg_decrypts(&k.two_pub, &k.two_sec);
}

// ---------------------------------------------------------- signatures

const MANIFEST: &str = "request: 0042-7\nrecipient: ABCDEF\nserials: 3\n- leading dash\n";

#[test]
fn gpg_verifies_our_clearsigned_text() {
    let signed = clearsign(vault(), MANIFEST).unwrap();
    assert!(signed.starts_with("-----BEGIN PGP SIGNED MESSAGE-----"));
    let g = Gpg::new();
    g.import(vault().public_armored().unwrap().as_bytes());
    let o = g.ok(&["--status-fd", "2", "--verify"], signed.as_bytes());
    assert!(
        stderr(&o).contains(&format!("[GNUPG:] VALIDSIG {}", vault().fingerprint())),
        "{}",
        stderr(&o)
    );
    // gpg gives back the text it verified (plus its own final newline).
    let o = g.ok(&["--decrypt"], signed.as_bytes());
    assert!(String::from_utf8(o.stdout).unwrap().starts_with(MANIFEST));
}

#[test]
fn clearsigned_round_trip_and_refusals() {
    let signed = clearsign(vault(), MANIFEST).unwrap();
    let text = verify_clearsigned(&signed, vault().cert()).unwrap();
    assert_eq!(text, MANIFEST);

    let edited = signed.replace("serials: 3", "serials: 4");
    let e = verify_clearsigned(&edited, vault().cert()).unwrap_err();
    assert!(matches!(e, PgpError::BadSignature { .. }), "{e:?}");

    let other = generate_officer_key("mallory", "0123abcd").unwrap();
    let e = verify_clearsigned(&clearsign(&other, MANIFEST).unwrap(), vault().cert()).unwrap_err();
    assert!(matches!(e, PgpError::UnknownSigner { .. }), "{e:?}");
    assert!(e.to_string().contains(&vault().fingerprint()), "{e}");

    let e = verify_clearsigned(MANIFEST, vault().cert()).unwrap_err();
    assert!(matches!(e, PgpError::NotClearsigned), "{e:?}");
}

#[test]
fn we_verify_gpg_clearsigned_text() {
    let g = Gpg::new();
    let fpr = g.gen(
        &[],
        "Factory <f@example.com>",
        "future-default",
        "default",
        "never",
    );
    let cert = Cert::from_bytes(&g.export(&fpr)).unwrap();
    let o = g.ok(&["--clearsign"], MANIFEST.as_bytes());
    let text = verify_clearsigned(&String::from_utf8(o.stdout).unwrap(), &cert).unwrap();
    // The framework does not sign the line ending before the signature.
    assert_eq!(text, MANIFEST.trim_end_matches('\n'));
}

#[test]
fn detached_round_trip_gpg_and_refusals() {
    let officer = generate_officer_key("alice", "0123abcd").unwrap();
    let data = b"approve request 7 of order 0042\n";
    let sig = sign_detached(&officer, data).unwrap();
    assert!(sig.starts_with("-----BEGIN PGP SIGNATURE-----"));
    verify_detached(officer.cert(), data, sig.as_bytes()).unwrap();

    let e = verify_detached(
        officer.cert(),
        b"approve request 8 of order 0042\n",
        sig.as_bytes(),
    )
    .unwrap_err();
    assert!(matches!(e, PgpError::BadSignature { .. }), "{e:?}");
    let bob = generate_officer_key("bob", "0123abcd").unwrap();
    let e = verify_detached(bob.cert(), data, sig.as_bytes()).unwrap_err();
    assert!(matches!(e, PgpError::UnknownSigner { .. }), "{e:?}");
    let e = verify_detached(officer.cert(), data, b"not a signature").unwrap_err();
    assert!(matches!(e, PgpError::Malformed(_)), "{e:?}");

    let g = Gpg::new();
    g.import(officer.public_armored().unwrap().as_bytes());
    std::fs::write(g.path().join("data"), data).unwrap();
    std::fs::write(g.path().join("data.asc"), &sig).unwrap();
    let (s, d) = (g.path().join("data.asc"), g.path().join("data"));
    let o = g.ok(
        &[
            "--status-fd",
            "2",
            "--verify",
            s.to_str().unwrap(),
            d.to_str().unwrap(),
        ],
        b"",
    );
    assert!(
        stderr(&o).contains(&format!("[GNUPG:] VALIDSIG {}", officer.fingerprint())),
        "{}",
        stderr(&o)
    );
}

// ------------------------------------------------------- factory batches

fn read_batch(data: &[u8], signer: Option<&Cert>) -> Result<Vec<u8>, PgpError> {
    let mut r = decrypt_batch(
        vault(),
        Box::new(std::io::Cursor::new(data.to_vec())),
        signer,
    )?;
    let mut out = Vec::new();
    match r.read_to_end(&mut out) {
        Ok(_) => Ok(out),
        Err(e) => {
            let inner = e.into_inner().expect("a PgpError inside");
            Err(*inner.downcast::<PgpError>().expect("a PgpError inside"))
        }
    }
}

#[test]
fn decrypts_gpg_factory_batches() {
    let g = Gpg::new();
    g.import(vault().public_armored().unwrap().as_bytes());
    let factory = g.gen(
        &[],
        "Factory <f@example.com>",
        "future-default",
        "default",
        "never",
    );
    let rogue = g.gen(
        &[],
        "Rogue <r@example.com>",
        "future-default",
        "default",
        "never",
    );
    let factory_cert = Cert::from_bytes(&g.export(&factory)).unwrap();
    let batch = plaintext(200_000);
    let to_vault = ["--trust-model", "always", "--encrypt", "-r"];
    let enc = |extra: &[&str]| {
        let mut args = to_vault.to_vec();
        args.push(Box::leak(vault().fingerprint().into_boxed_str()));
        args.extend_from_slice(extra);
        g.ok(&args, &batch).stdout
    };
    let unsigned = enc(&[]);
    let signed = enc(&["--sign", "--local-user", &factory, "--armor"]);
    let by_rogue = enc(&["--sign", "--local-user", &rogue]);

    assert!(is_openpgp_message(&unsigned[..16]));
    assert!(is_openpgp_message(&signed[..40]));
    assert!(!is_openpgp_message(&batch[..16]));
    assert!(!is_openpgp_message(b"\xEF\xBB\xBFserial,secret\n"));

    assert!(read_batch(&unsigned, None).unwrap() == batch);
    assert!(read_batch(&signed, None).unwrap() == batch);
    assert!(read_batch(&signed, Some(&factory_cert)).unwrap() == batch);

    let e = read_batch(&unsigned, Some(&factory_cert)).unwrap_err();
    assert!(matches!(e, PgpError::NoSignature), "{e:?}");
    let e = read_batch(&by_rogue, Some(&factory_cert)).unwrap_err();
    assert!(matches!(e, PgpError::UnknownSigner { .. }), "{e:?}");

    // Encrypted to someone else.
    let not_ours = g
        .ok(
            &["--trust-model", "always", "--encrypt", "-r", &factory],
            &batch,
        )
        .stdout;
    let e = read_batch(&not_ours, None).unwrap_err();
    assert!(matches!(e, PgpError::NotForThisKey { .. }), "{e:?}");
    // Signed but sent in the clear.
    let clear = g.ok(&["--sign", "--local-user", &factory], &batch).stdout;
    let e = read_batch(&clear, Some(&factory_cert)).unwrap_err();
    assert!(matches!(e, PgpError::NotEncrypted), "{e:?}");
    let e = read_batch(&batch, None).unwrap_err();
    assert!(matches!(e, PgpError::Malformed(_)), "{e:?}");
}
