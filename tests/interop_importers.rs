//! Our exports read by the importers customers really run: privacyIDEA's
//! own `parseOATHcsv` and `parsePSKCdata` (the `privacyidea` package) and
//! pyotp's `parse_uri`, through the helper scripts in `tests/interop/`
//! and the venv of tests/requirements.txt. A missing venv or package
//! fails these tests; it never skips them.
//!
//! Every token kind (TOTP/HOTP x SHA1/256/512 x 20/32/64-byte seeds x 6/8
//! digits x 30/60 s, or for HOTP counter 0/7) goes through the whole
//! path a customer's file takes: ingest, order, request, approval,
//! export, gpg decryption, the customer's importer. Each token is either
//! refused at `request create` with its serial named, or read by the
//! importer as the same seed, type, digits, step or counter and hash.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::batch::BatchSpec;
use crate::common::{request_id, text, Gpg, TestVault};
use serde_json::Value;

/// One token of the matrix.
#[derive(Debug, Clone)]
struct Kind {
    serial: String,
    seed_hex: String,
    seed_b32: String,
    totp: bool,
    /// The period (TOTP) or the counter (HOTP).
    step_or_counter: u64,
    algorithm: &'static str,
    digits: u8,
}

impl Kind {
    /// What privacyIDEA's importer can carry: it takes the hash from the
    /// seed length (32 bytes SHA256, 64 SHA512, else SHA1).
    fn privacyidea_carries(&self) -> bool {
        let implied = match self.seed_hex.len() / 2 {
            32 => "SHA256",
            64 => "SHA512",
            _ => "SHA1",
        };
        implied == self.algorithm
    }

    fn otpauth_uri(&self) -> String {
        let (kind, last) = if self.totp {
            ("totp", format!("period={}", self.step_or_counter))
        } else {
            ("hotp", format!("counter={}", self.step_or_counter))
        };
        format!(
            "otpauth://{kind}/{}?secret={}&algorithm={}&digits={}&{last}",
            self.serial, self.seed_b32, self.algorithm, self.digits
        )
    }
}

/// Every token kind of the acceptance table, seeds from the project's
/// batch generator (one deterministic stream per seed length).
fn matrix() -> Vec<Kind> {
    let mut out = Vec::new();
    let mut n = 0u64;
    for totp in [true, false] {
        for algorithm in ["SHA1", "SHA256", "SHA512"] {
            for seed_bytes in [20usize, 32, 64] {
                for digits in [6u8, 8] {
                    let steps: [u64; 2] = if totp { [30, 60] } else { [0, 7] };
                    for step_or_counter in steps {
                        let serial = 7_100_000 + n;
                        let mut spec = BatchSpec::new(1, serial, 1200 + n);
                        spec.secret_bytes = seed_bytes;
                        let fake = spec.tokens().next().unwrap();
                        out.push(Kind {
                            serial: fake.serial.clone(),
                            seed_hex: fake.secret_hex(),
                            seed_b32: fake.secret_base32(),
                            totp,
                            step_or_counter,
                            algorithm,
                            digits,
                        });
                        n += 1;
                    }
                }
            }
        }
    }
    out
}

/// A vault holding the matrix in order 12, a customer (gpg) who can
/// decrypt its bundles, and the customer's certificate file.
struct Setup {
    v: TestVault,
    gpg: Gpg,
    key: PathBuf,
    kinds: Vec<Kind>,
}

fn setup() -> Setup {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let kinds = matrix();
    let batch = v.tmp.path().join("matrix.otpauth");
    let lines: Vec<String> = kinds.iter().map(Kind::otpauth_uri).collect();
    std::fs::write(&batch, lines.join("\n") + "\n").unwrap();
    v.ingest_file(&batch);
    v.add_order("12", "Customer", &["it@customer.example"], "alice");
    v.assign("12", kinds.iter().map(|k| k.serial.clone()), "alice");
    let gpg = Gpg::new();
    gpg.make(
        "Customer IT <it@customer.example>",
        "ed25519",
        Some("cv25519"),
        "never",
        None,
    );
    let key = gpg.export("it@customer.example", &v.tmp.path().join("customer.asc"));
    // The vault's certificate, so gpg checks the bundle's signature.
    gpg.run(&["--import", v.cards.join("vault-cert.asc").to_str().unwrap()]);
    Setup { v, gpg, key, kinds }
}

impl Setup {
    /// `request create` for `serials` in `format`, by alice.
    fn request(&self, format: &str, serials: &[&Kind]) -> std::process::Output {
        let list = self.v.tmp.path().join(format!("{format}-serials.txt"));
        let names: Vec<&str> = serials.iter().map(|k| k.serial.as_str()).collect();
        std::fs::write(&list, names.join("\n")).unwrap();
        self.v.create_request(
            "12",
            "it@customer.example",
            format,
            &self.key,
            "alice",
            &["--serials-file", list.to_str().unwrap()],
        )
    }

    /// Creates, approves and exports a request; returns the decrypted
    /// file as the customer saves it.
    fn export(&self, format: &str, serials: &[&Kind]) -> PathBuf {
        let req = request_id(&self.request(format, serials));
        self.v.approve_ok(&req, "bob");
        let media = self.v.tmp.path().join(format!("media-{format}"));
        std::fs::create_dir(&media).unwrap();
        self.v.export_ok(&req, &media, &["alice", "bob"]);
        let bundle = media.join(format!("12-{req}.{format}.asc"));
        let out = self.gpg.run(&["--decrypt", bundle.to_str().unwrap()]);
        let plain = self.v.tmp.path().join(format!("customer.{format}"));
        std::fs::write(&plain, &out.stdout).unwrap();
        plain
    }
}

/// Runs `tests/interop/<script>` with the venv's Python; its JSON output.
fn run_script(script: &str, args: &[&str]) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(script);
    let out = Command::new(crate::common::python())
        .arg(&path)
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{script} failed (is tests/requirements.txt installed? run ./scripts/test): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// What privacyIDEA must enrol for `k`.
fn privacyidea_expects(k: &Kind) -> Value {
    let mut v = serde_json::json!({
        "type": if k.totp { "totp" } else { "hotp" },
        "otpkey": k.seed_hex,
        "otplen": k.digits,
        "hashlib": k.algorithm.to_ascii_lowercase(),
    });
    let field = if k.totp { "timeStep" } else { "counter" };
    v[field] = Value::from(k.step_or_counter);
    v
}

/// Compares privacyIDEA's reading with the tokens, serial by serial.
fn assert_privacyidea_read(read: &Value, kinds: &[&Kind], how: &str) {
    let read = read.as_object().unwrap();
    assert_eq!(read.len(), kinds.len(), "{how}: tokens read {read:?}");
    for k in kinds {
        let got = read
            .get(&k.serial)
            .unwrap_or_else(|| panic!("{how}: serial {} not read", k.serial));
        assert_eq!(got, &privacyidea_expects(k), "{how}: serial {}", k.serial);
    }
}

#[test]
fn privacyidea_reads_our_privacyidea_export_or_request_create_names_what_it_would_misread() {
    let s = setup();
    let all: Vec<&Kind> = s.kinds.iter().collect();
    let (carried, misread): (Vec<&Kind>, Vec<&Kind>) =
        all.iter().partition(|k| k.privacyidea_carries());
    assert_eq!((carried.len(), misread.len()), (24, 48));

    // The whole order: refused, every token privacyIDEA would misread
    // named with its serial and why, no other, nothing written.
    let requests_before = s.v.sqlite("SELECT count(*) FROM requests");
    let out = s.request("privacyidea", &all);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        err.contains("48 token(s) cannot be written as privacyidea"),
        "{err}"
    );
    for k in &misread {
        let line = err
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("serial {}:", k.serial)))
            .unwrap_or_else(|| panic!("serial {} not named:\n{err}", k.serial));
        assert!(
            line.contains(&format!(
                "{} with a {}-byte seed",
                k.algorithm,
                k.seed_hex.len() / 2
            )) && line.contains("privacyIDEA takes the hash from the seed length"),
            "{line}"
        );
    }
    for k in &carried {
        assert!(
            !err.contains(&format!("serial {}:", k.serial)),
            "{} is carried: {err}",
            k.serial
        );
    }
    assert!(!err.contains("Hotp {") && !err.contains("Totp {"), "{err}");
    assert!(err.contains("--format pskc"), "{err}");
    assert_eq!(s.v.sqlite("SELECT count(*) FROM requests"), requests_before);

    // The rest: exported, and privacyIDEA enrols each as it is here.
    let file = s.export("privacyidea", &carried);
    let read = run_script("privacyidea_import.py", &["csv", file.to_str().unwrap()]);
    assert_privacyidea_read(&read, &carried, "parseOATHcsv");
}

#[test]
fn privacyidea_reads_every_token_kind_of_our_pskc_export() {
    let s = setup();
    let all: Vec<&Kind> = s.kinds.iter().collect();
    let file = s.export("pskc", &all);
    let read = run_script("privacyidea_import.py", &["pskc", file.to_str().unwrap()]);
    assert_privacyidea_read(&read, &all, "parsePSKCdata");
}

#[test]
fn pyotp_parses_every_token_kind_of_our_otpauth_export() {
    let s = setup();
    let all: Vec<&Kind> = s.kinds.iter().collect();
    let file = s.export("otpauth", &all);
    let read = run_script("pyotp_uris.py", &[file.to_str().unwrap()]);
    let by_name: BTreeMap<String, &Value> = read
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["name"].as_str().unwrap().to_owned(), u))
        .collect();
    assert_eq!(by_name.len(), all.len());
    for k in &all {
        let got = by_name
            .get(&k.serial)
            .unwrap_or_else(|| panic!("serial {} not parsed", k.serial));
        assert_eq!(
            got["secret"],
            Value::from(k.seed_hex.clone()),
            "{}",
            k.serial
        );
        assert_eq!(got["digits"], Value::from(k.digits), "{}", k.serial);
        assert_eq!(got["algorithm"], Value::from(k.algorithm), "{}", k.serial);
        let (kind, field) = if k.totp {
            ("totp", "interval")
        } else {
            ("hotp", "counter")
        };
        assert_eq!(got["type"], Value::from(kind), "{}", k.serial);
        assert_eq!(got[field], Value::from(k.step_or_counter), "{}", k.serial);
    }
}

/// The key or password python-pskc's own tests open each encrypted file
/// of its corpus with (from its `tests/*.doctest`); other files are read
/// without one.
const CORPUS_KEYS: [(&str, CorpusKey); 44] = [
    (
        "actividentity/test.pskcxml",
        CorpusKey::Hex("fe0de6b806c09b762c4b49a666a27b72"),
    ),
    (
        "draft-hoyer-keyprov-portable-symmetric-key-container-00/password-encrypted.pskcxml",
        CorpusKey::Password("qwerty"),
    ),
    (
        "draft-hoyer-keyprov-portable-symmetric-key-container-01/password-encrypted.pskcxml",
        CorpusKey::Password("qwerty"),
    ),
    (
        "draft-ietf-keyprov-pskc-02/figure4.pskcxml",
        CorpusKey::Hex("12345678901234567890123456789012"),
    ),
    (
        "draft-ietf-keyprov-pskc-02/figure5.pskcxml",
        CorpusKey::Password("qwerty"),
    ),
    (
        "encryption/aes128-cbc.pskcxml",
        CorpusKey::Hex("12345678901234567890123456789012"),
    ),
    (
        "encryption/aes192-cbc.pskcxml",
        CorpusKey::Hex("123456789012345678901234567890123456789012345678"),
    ),
    (
        "encryption/aes256-cbc.pskcxml",
        CorpusKey::Hex("1234567890123456789012345678901234567890123456789012345678901234"),
    ),
    (
        "encryption/tripledes-cbc.pskcxml",
        CorpusKey::Hex("12345678901234567890123456789012"),
    ),
    (
        "encryption/kw-aes128.pskcxml",
        CorpusKey::Hex("000102030405060708090a0b0c0d0e0f"),
    ),
    (
        "encryption/kw-aes192.pskcxml",
        CorpusKey::Hex("000102030405060708090a0b0c0d0e0f1011121314151617"),
    ),
    (
        "encryption/kw-aes256.pskcxml",
        CorpusKey::Hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"),
    ),
    (
        "encryption/kw-tripledes.pskcxml",
        CorpusKey::Hex("255e0d1c07b646dfb3134cc843ba8aa71f025b7c0838251f"),
    ),
    (
        "encryption/camellia128-cbc.pskcxml",
        CorpusKey::Hex("200497e673a6fae2256e9749468a67ac"),
    ),
    (
        "encryption/camellia192-cbc.pskcxml",
        CorpusKey::Hex("e263279877384c84c987661a9d06766affdb9b3211eae801"),
    ),
    (
        "encryption/camellia256-cbc.pskcxml",
        CorpusKey::Hex("33b37e31c5a0a16f004e7fe727d4ff808fc1f879d85ccd8f06dbb5799565d2f5"),
    ),
    (
        "encryption/kw-camellia128.pskcxml",
        CorpusKey::Hex("e35b135a09bfff8b314a5a0c32193c37"),
    ),
    (
        "encryption/kw-camellia192.pskcxml",
        CorpusKey::Hex("5eb0bccad29abe52d143d5aebc1c1ba174b8d379ce763c28"),
    ),
    (
        "encryption/kw-camellia256.pskcxml",
        CorpusKey::Hex("0e187c656c36975b0d6bded79d7089142209457114ce8e6f4ae78339d71114e8"),
    ),
    (
        "encryption/aes128-cbc-noiv.pskcxml",
        CorpusKey::Hex("12345678901234567890123456789012"),
    ),
    (
        "encryption/no-mac-key.pskcxml",
        CorpusKey::Hex("12345678901234567890123456789012"),
    ),
    (
        "encryption/mac-over-plaintext.pskcxml",
        CorpusKey::Hex("12345678901234567890123456789012"),
    ),
    (
        "invalid/incomplete-derivation.pskcxml",
        CorpusKey::Password("qwerty"),
    ),
    (
        "invalid/mac-algorithm.pskcxml",
        CorpusKey::Hex("12345678901234567890123456789012"),
    ),
    (
        "invalid/mac-value.pskcxml",
        CorpusKey::Hex("12345678901234567890123456789012"),
    ),
    (
        "invalid/missing-encryption-method.pskcxml",
        CorpusKey::Hex("12345678901234567890123456789012"),
    ),
    (
        "invalid/missing-encryption.pskcxml",
        CorpusKey::Hex("12345678901234567890123456789012"),
    ),
    (
        "invalid/no-mac-method.pskcxml",
        CorpusKey::Hex("12345678901234567890123456789012"),
    ),
    (
        "invalid/unknown-encryption.pskcxml",
        CorpusKey::Hex("12345678901234567890123456789012"),
    ),
    (
        "misc/SampleFullyQualifiedNS.xml",
        CorpusKey::Password("3FCA3158035072D6"),
    ),
    (
        "misc/integers.pskcxml",
        CorpusKey::Hex("12345678901234567890123456789012"),
    ),
    (
        "multiotp/pskc-hotp-aes.txt",
        CorpusKey::Hex("12345678901234567890123456789012"),
    ),
    ("multiotp/pskc-hotp-pbe.txt", CorpusKey::Password("qwerty")),
    (
        "multiotp/pskc-totp-aes.txt",
        CorpusKey::Hex("12345678901234567890123456789012"),
    ),
    ("multiotp/pskc-totp-pbe.txt", CorpusKey::Password("qwerty")),
    (
        "multiotp/tokens_hotp_aes.pskc",
        CorpusKey::Hex("12345678901234567890123456789012"),
    ),
    (
        "multiotp/tokens_hotp_pbe.pskc",
        CorpusKey::Password("qwerty"),
    ),
    (
        "multiotp/tokens_ocra_aes.pskc",
        CorpusKey::Hex("12345678901234567890123456789012"),
    ),
    (
        "multiotp/tokens_ocra_pbe.pskc",
        CorpusKey::Password("qwerty"),
    ),
    (
        "multiotp/tokens_totp_aes.pskc",
        CorpusKey::Hex("12345678901234567890123456789012"),
    ),
    (
        "multiotp/tokens_totp_pbe.pskc",
        CorpusKey::Password("qwerty"),
    ),
    (
        "nagraid/file1.pskcxml",
        CorpusKey::Hex("4A057F6AB6FCB57AB5408E46A9835E68"),
    ),
    (
        "rfc6030/figure6.pskcxml",
        CorpusKey::Hex("12345678901234567890123456789012"),
    ),
    ("rfc6030/figure7.pskcxml", CorpusKey::Password("qwerty")),
];

#[derive(Debug, Clone, Copy)]
enum CorpusKey {
    Hex(&'static str),
    Password(&'static str),
}

/// Every file of the corpus, relative to its directory, sorted.
fn corpus_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.parent() != Some(dir) {
                // Files at the top are the licence and the README.
                let rel = p.strip_prefix(dir).unwrap().to_str().unwrap();
                out.push(rel.replace('\\', "/"));
            }
        }
    }
    out.sort();
    out
}

/// What ingest makes of one corpus file: its table row.
fn corpus_row(dir: &Path, file: &str) -> String {
    use seedvault::formats::{BatchReader, Format, PskcKey, ReadOptions};
    let key = CORPUS_KEYS
        .iter()
        .find(|(f, _)| *f == file)
        .map(|(_, k)| *k);
    let pskc_key = key.map(|k| match k {
        CorpusKey::Hex(h) => PskcKey::from_hex(&secrecy::SecretString::from(h)).unwrap(),
        CorpusKey::Password(p) => PskcKey::Password(secrecy::SecretString::from(p)),
    });
    let opts = ReadOptions {
        pskc_key,
        ..Default::default()
    };
    let input = std::io::BufReader::new(std::fs::File::open(dir.join(file)).unwrap());
    let result = match BatchReader::open(Format::Pskc, Box::new(input), &opts) {
        Err(e) => format!("refused: {e}"),
        Ok(reader) => match reader.finish() {
            // Ingest refuses a file without tokens (nothing to ingest).
            Ok(0) => "refused: the file holds no token".to_owned(),
            Ok(n) => format!("accepted, {n} token(s)"),
            Err(errors) => {
                let more = errors.total() - 1;
                let tail = if more > 0 {
                    format!(" (and {more} more)")
                } else {
                    String::new()
                };
                format!("refused: {}{tail}", errors.listed[0])
            }
        },
    };
    let given = match key {
        None => "",
        Some(CorpusKey::Hex(_)) => "key",
        Some(CorpusKey::Password(_)) => "password",
    };
    format!(
        "| `{file}` | {given} | {} |",
        result.replace('|', "\\|").replace('\n', " ")
    )
}

#[test]
fn the_python_pskc_corpus_table_in_formats_md_is_what_ingest_does() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("tests/vectors/python-pskc");
    let files = corpus_files(&dir);
    assert!(files.len() > 70, "the corpus is incomplete: {files:?}");
    for (f, _) in CORPUS_KEYS {
        assert!(files.iter().any(|x| x == f), "{f} is not in the corpus");
    }
    let mut want = vec![
        "| File | Given | Result |".to_owned(),
        "|---|---|---|".to_owned(),
    ];
    want.extend(files.iter().map(|f| corpus_row(&dir, f)));
    let doc = std::fs::read_to_string(root.join("docs/formats.md")).unwrap();
    let begin = "<!-- python-pskc corpus: begin -->";
    let end = "<!-- python-pskc corpus: end -->";
    let table = doc
        .split_once(begin)
        .and_then(|(_, rest)| rest.split_once(end))
        .map(|(t, _)| t.trim().lines().map(str::to_owned).collect::<Vec<_>>())
        .unwrap_or_default();
    assert!(
        table == want,
        "docs/formats.md's python-pskc table differs from what ingest does now; the table is:\n{}",
        want.join("\n")
    );
}
