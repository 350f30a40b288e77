//! PSKC against the reference library python-pskc (tests/requirements.txt):
//! it reads what we write, plain, with a password and with a pre-shared key,
//! and we read what it writes. A missing venv fails these tests.

use std::path::Path;
use std::process::Command;

use secrecy::{SecretBox, SecretString};
use seedvault::formats::{pskc, PskcKey, ReadOptions, WriteOptions};
use seedvault::token::{Algorithm, OtpKind, Seed, Serial, Token, TokenParams};
use serde_json::{json, Value};

/// Reads a PSKC file with python-pskc and prints its keys as JSON.
/// argv: path, mode (plain | password | key), password or hex key.
const PY_READ: &str = r#"
import json, sys, pskc
path, mode, secret = sys.argv[1:4]
p = pskc.PSKC(path)
encrypted = p.encryption.is_encrypted
if mode == "password":
    p.encryption.derive_key(secret)
elif mode == "key":
    p.encryption.key = bytes.fromhex(secret)
out = []
for k in p.keys:
    out.append(dict(
        serial=k.serial, id=k.id, secret=k.secret.hex(), algorithm=k.algorithm,
        suite=k.algorithm_suite, digits=k.response_length, encoding=k.response_encoding,
        counter=k.counter, interval=k.time_interval,
        manufacturer=k.manufacturer, model=k.model,
    ))
print(json.dumps(dict(encrypted=encrypted, keys=out)))
"#;

/// Writes a PSKC file with python-pskc from JSON tokens.
/// argv: path, mode (plain | password | key), password or hex key, tokens.
const PY_WRITE: &str = r#"
import json, sys, pskc
path, mode, secret, tokens = sys.argv[1:5]
p = pskc.PSKC()
for t in json.loads(tokens):
    kw = dict(
        id=t["serial"], serial=t["serial"], secret=bytes.fromhex(t["secret"]),
        algorithm=t["algorithm"], response_length=t["digits"], response_encoding="DECIMAL",
        algorithm_suite=t["suite"], manufacturer=t.get("manufacturer"), model=t.get("model"),
    )
    if "counter" in t:
        kw["counter"] = t["counter"]
    else:
        kw["time_interval"] = t["interval"]
    p.add_key(**kw)
if mode == "password":
    p.encryption.setup_pbkdf2(secret)
elif mode == "key":
    key = bytes.fromhex(secret)
    p.encryption.setup_preshared_key(key=key, algorithm={16: "AES128-CBC", 24: "AES192-CBC", 32: "AES256-CBC"}[len(key)])
p.write(path)
"#;

fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new(crate::common::python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "python-pskc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn tokens() -> Vec<Token> {
    let t = |serial: &str,
             seed: Vec<u8>,
             algorithm,
             digits,
             kind,
             manufacturer: Option<&str>,
             model: Option<&str>| Token {
        serial: Serial::parse(serial).unwrap(),
        seed: Seed::new(seed).unwrap(),
        params: TokenParams {
            algorithm,
            digits,
            kind,
            manufacturer: manufacturer.map(str::to_owned),
            model: model.map(str::to_owned),
        },
    };
    vec![
        t(
            "60000001",
            (1..=20).collect(),
            Algorithm::Sha1,
            6,
            OtpKind::Totp { period: 30 },
            Some("Token2"),
            Some("C202"),
        ),
        t(
            "000123",
            (100..132).collect(),
            Algorithm::Sha256,
            8,
            OtpKind::Hotp { counter: 42 },
            Some("A & <B>"),
            None,
        ),
        t(
            "X9",
            (7..71).collect(),
            Algorithm::Sha512,
            8,
            OtpKind::Totp { period: 60 },
            None,
            Some("Model \"Q\""),
        ),
    ]
}

fn expected(t: &Token) -> Value {
    let (uri, counter, interval) = match t.params.kind {
        OtpKind::Hotp { counter } => (pskc::HOTP_URI, json!(counter), Value::Null),
        OtpKind::Totp { period } => (pskc::TOTP_URI, Value::Null, json!(period)),
    };
    json!({
        "serial": t.serial.as_str(),
        "id": t.serial.as_str(),
        "secret": data_encoding::HEXLOWER.encode(t.seed.expose()),
        "algorithm": uri,
        "suite": t.params.algorithm.name(),
        "digits": t.params.digits,
        "encoding": "DECIMAL",
        "counter": counter,
        "interval": interval,
        "manufacturer": t.params.manufacturer,
        "model": t.params.model,
    })
}

fn write_ours(path: &Path, key: Option<PskcKey>) {
    let opts = WriteOptions {
        pskc_key: key,
        upn: None,
        upns: None,
    };
    let mut file = std::fs::File::create(path).unwrap();
    let tokens = tokens();
    pskc::write(&mut tokens.iter(), &mut file, &opts).unwrap();
}

fn python_reads(path: &Path, mode: &str, secret: &str) -> Value {
    serde_json::from_str(&python(PY_READ, &[path.to_str().unwrap(), mode, secret])).unwrap()
}

fn check_python_read(read: Value, encrypted: bool) {
    assert_eq!(read["encrypted"], json!(encrypted));
    let want: Vec<Value> = tokens().iter().map(expected).collect();
    assert_eq!(read["keys"], json!(want));
}

const PASSWORD: &str = "correct horse battery staple";

#[test]
fn python_pskc_reads_our_plain_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain.pskc");
    write_ours(&path, None);
    check_python_read(python_reads(&path, "plain", ""), false);
}

#[test]
fn python_pskc_reads_our_password_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("password.pskc");
    write_ours(
        &path,
        Some(PskcKey::Password(SecretString::from(PASSWORD.to_owned()))),
    );
    check_python_read(python_reads(&path, "password", PASSWORD), true);
}

#[test]
fn python_pskc_reads_our_pre_shared_key_files() {
    let dir = tempfile::tempdir().unwrap();
    for len in [16usize, 24, 32] {
        let key: Vec<u8> = (0..len as u8).map(|b| b.wrapping_mul(37)).collect();
        let path = dir.path().join(format!("psk{len}.pskc"));
        write_ours(
            &path,
            Some(PskcKey::PreShared(SecretBox::new(Box::new(key.clone())))),
        );
        check_python_read(
            python_reads(&path, "key", &data_encoding::HEXLOWER.encode(&key)),
            true,
        );
    }
}

#[test]
fn python_pskc_refuses_our_password_file_with_a_wrong_password() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("password.pskc");
    write_ours(
        &path,
        Some(PskcKey::Password(SecretString::from(PASSWORD.to_owned()))),
    );
    let out = Command::new(crate::common::python())
        .arg("-c")
        .arg(PY_READ)
        .args([path.to_str().unwrap(), "password", "wrong"])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "python-pskc decrypted with a wrong password"
    );
}

fn python_writes(path: &Path, mode: &str, secret: &str) {
    let tokens: Vec<Value> = tokens()
        .iter()
        .map(|t| {
            let mut v = expected(t);
            let o = v.as_object_mut().unwrap();
            o.retain(|_, v| !v.is_null());
            v
        })
        .collect();
    python(
        PY_WRITE,
        &[
            path.to_str().unwrap(),
            mode,
            secret,
            &json!(tokens).to_string(),
        ],
    );
}

fn read_ours(path: &Path, key: Option<PskcKey>) -> Vec<Token> {
    let opts = ReadOptions {
        pskc_key: key,
        ..ReadOptions::default()
    };
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    pskc::reader(Box::new(file), &opts)
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

#[test]
fn we_read_python_pskc_plain_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("py-plain.pskc");
    python_writes(&path, "plain", "");
    assert_eq!(read_ours(&path, None), tokens());
}

#[test]
fn we_read_python_pskc_password_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("py-password.pskc");
    python_writes(&path, "password", PASSWORD);
    let key = || Some(PskcKey::Password(SecretString::from(PASSWORD.to_owned())));
    assert_eq!(read_ours(&path, key()), tokens());
    // And without the password it is refused before any record.
    let opts = ReadOptions::default();
    let file = std::io::BufReader::new(std::fs::File::open(&path).unwrap());
    assert!(matches!(
        pskc::reader(Box::new(file), &opts),
        Err(seedvault::formats::FormatError::KeyNeeded(_))
    ));
}

#[test]
fn we_read_python_pskc_pre_shared_key_files() {
    let dir = tempfile::tempdir().unwrap();
    for len in [16usize, 32] {
        let key: Vec<u8> = (0..len as u8)
            .map(|b| b.wrapping_mul(11).wrapping_add(3))
            .collect();
        let path = dir.path().join(format!("py-psk{len}.pskc"));
        python_writes(&path, "key", &data_encoding::HEXLOWER.encode(&key));
        let psk = Some(PskcKey::PreShared(SecretBox::new(Box::new(key))));
        assert_eq!(read_ours(&path, psk), tokens());
    }
}
