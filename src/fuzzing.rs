//! Entry points for the fuzz targets (`fuzz/`) and for the test that
//! replays their corpus (`tests/fuzz_corpus.rs`): one function per parser
//! of outside input, taking raw bytes, driving the parser to the end and
//! formatting every error it returns (a panic in a message is a crash too).
//!
//! Each function returns normally for every input; a panic, a hang or a
//! huge allocation inside one is a bug in the parser it calls. They are
//! thin: the parsing is the product's own code, reached through the same
//! functions the CLI uses, so that internals stay private.

use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use secrecy::SecretString;

use crate::audit::Checkpoint;
use crate::formats::{self, Format, PskcKey, ReadOptions};
use crate::pgp::{self, RecipientCert, SecretCert};
use crate::shares::Share;

/// A fuzz entry point: any bytes in, nothing out, never a panic.
pub type Entry = fn(&[u8]);

/// Every fuzz target, by the name of its directory under `fuzz/corpus/`,
/// with the function it calls. `tests/fuzz_corpus.rs` and the fuzz
/// targets use this one table.
pub const TARGETS: &[(&str, Entry)] = &[
    ("detect", detect),
    ("azure_csv", azure_csv),
    ("hex_base32", hex_base32),
    ("otpauth", otpauth),
    ("privacyidea", privacyidea),
    ("pskc", pskc_plain),
    ("pskc_encrypted", pskc_encrypted),
    ("card", card),
    ("slip39", slip39),
    ("pgp_cert", pgp_cert),
    ("pgp_batch", pgp_batch),
    ("checkpoint", checkpoint),
    ("serials", serials),
    ("upn", upn),
    ("statement", statement),
    ("audit_log", audit_log),
];

/// The pre-shared key [`pskc_encrypted`] tries: RFC 6030's examples' key.
pub const PSKC_FUZZ_KEY_HEX: &str = "12345678901234567890123456789012";
/// The password [`pskc_encrypted`] tries: RFC 6030's example password.
pub const PSKC_FUZZ_PASSWORD: &str = "qwerty";

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// Reads every record of `data` as `format`, formatting each error.
fn read_all(format: Format, data: &[u8], opts: &ReadOptions) {
    let input: Box<dyn std::io::BufRead + '_> = Box::new(BufReader::new(data));
    match formats::located_reader(format, input, opts) {
        Err(e) => drop(e.to_string()),
        Ok(records) => {
            for r in records {
                match r {
                    Ok((_, token)) => drop(format!("{token:?}")),
                    Err(e) => drop(e.to_string()),
                }
            }
        }
    }
    for w in opts.warnings.take() {
        drop(format!("{w:?}"));
    }
}

/// Format detection on a file's head, and through a buffered reader.
pub fn detect(data: &[u8]) {
    if let Err(e) = formats::detect(data) {
        drop(e.to_string());
    }
    let mut r = BufReader::new(data);
    if let Err(e) = formats::detect_buffered(&mut r) {
        drop(e.to_string());
    }
}

/// The Azure / Entra CSV reader.
pub fn azure_csv(data: &[u8]) {
    read_all(Format::AzureCsv, data, &ReadOptions::default());
}

/// The `serial,hex` and `serial,base32` readers.
pub fn hex_base32(data: &[u8]) {
    read_all(Format::Hex, data, &ReadOptions::default());
    read_all(Format::Base32, data, &ReadOptions::default());
}

/// The `otpauth://` URI reader.
pub fn otpauth(data: &[u8]) {
    read_all(Format::Otpauth, data, &ReadOptions::default());
}

/// The privacyIDEA OATH CSV reader.
pub fn privacyidea(data: &[u8]) {
    read_all(Format::PrivacyIdea, data, &ReadOptions::default());
}

/// The PSKC reader without a key (plain files; encrypted ones refused).
pub fn pskc_plain(data: &[u8]) {
    read_all(Format::Pskc, data, &ReadOptions::default());
}

/// The PSKC reader with RFC 6030's pre-shared key, then with its password
/// (PBKDF2 with the file's own parameters, bounded by the reader).
pub fn pskc_encrypted(data: &[u8]) {
    let key = SecretString::from(PSKC_FUZZ_KEY_HEX.to_owned());
    if let Ok(k) = PskcKey::from_hex(&key) {
        let opts = ReadOptions {
            pskc_key: Some(k),
            ..ReadOptions::default()
        };
        read_all(Format::Pskc, data, &opts);
    }
    let opts = ReadOptions {
        pskc_key: Some(PskcKey::Password(SecretString::from(
            PSKC_FUZZ_PASSWORD.to_owned(),
        ))),
        ..ReadOptions::default()
    };
    read_all(Format::Pskc, data, &opts);
}

/// A custodian card file's structure (no passphrase: the KDF is not run).
pub fn card(data: &[u8]) {
    match crate::cards::SealedCard::parse(Path::new("fuzz.card"), data) {
        Ok(c) => drop(format!("{c:?}")),
        Err(e) => drop(e.to_string()),
    }
}

/// SLIP-0039 mnemonics: each line one share; then the lines combined with
/// an empty passphrase, as `recover` does.
pub fn slip39(data: &[u8]) {
    let t = text(data);
    let lines: Vec<&str> = t.lines().filter(|l| !l.trim().is_empty()).collect();
    for l in &lines {
        match Share::from_mnemonic(l) {
            Ok(s) => drop(s.to_mnemonic()),
            Err(e) => drop(e.to_string()),
        }
    }
    if lines.len() <= 16 {
        if let Err(e) = crate::shares::combine_mnemonics(&lines, b"") {
            drop(e.to_string());
        }
    }
}

/// A customer's certificate (armored or binary) as `request create`
/// checks it, and the plain certificate parser.
pub fn pgp_cert(data: &[u8]) {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    match RecipientCert::parse(data, now) {
        Ok(c) => {
            drop(c.user_ids());
            drop(c.encryption_subkey_fingerprints());
        }
        Err(problems) => {
            for p in problems {
                drop(p.to_string());
            }
        }
    }
    if let Err(e) = pgp::keys::parse_public_cert(data) {
        drop(e.to_string());
    }
}

/// The vault id the fuzz targets' checkpoints and log entries name.
pub const FUZZ_VAULT_ID: &str = "f022f022f022f022";

/// A fixed test key (Ed25519 signing, Cv25519 encryption; it protects
/// nothing) standing for the vault key, so that corpus files can be
/// encrypted to it and signed by it: `fuzz/keys/fuzz-vault-key.pgp`.
pub const FUZZ_VAULT_KEY: &[u8] = include_bytes!("../fuzz/keys/fuzz-vault-key.pgp");

/// [`FUZZ_VAULT_KEY`], loaded once.
fn fuzz_vault_key() -> Option<&'static SecretCert> {
    static KEY: OnceLock<Option<SecretCert>> = OnceLock::new();
    KEY.get_or_init(|| SecretCert::from_secret_bytes(FUZZ_VAULT_KEY).ok())
        .as_ref()
}

/// Wraps the panic hook in place (libFuzzer's, which aborts) so that a
/// panic the library catches and refuses itself
/// ([`crate::pgp::decrypt::panic_is_caught`]) is not reported as a crash;
/// every other panic still reaches the hook. Call once before fuzzing.
pub fn pass_caught_panics() {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(|| {
        let next = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !crate::pgp::decrypt::panic_is_caught() {
                next(info);
            }
        }));
    });
}

/// A factory batch (an OpenPGP message, armored or binary) decrypted with
/// the vault key, read to the end; then with a required signer (the vault
/// key itself), as ingest does with `--factory-cert`.
pub fn pgp_batch(data: &[u8]) {
    let _ = pgp::is_openpgp_message(data);
    let Some(key) = fuzz_vault_key() else {
        return;
    };
    for signer in [None, Some(key.cert())] {
        match pgp::decrypt_batch(key, Box::new(data), signer) {
            Err(e) => drop(e.to_string()),
            Ok(mut r) => {
                let mut buf = [0u8; 4096];
                loop {
                    match r.read(&mut buf) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(e) => {
                            drop(e.to_string());
                            break;
                        }
                    }
                }
            }
        }
    }
}

/// A checkpoint file: the document parser, and the clearsigned file
/// checked against a vault certificate, as `audit verify --checkpoint` does.
pub fn checkpoint(data: &[u8]) {
    let t = text(data);
    if let Err(e) = Checkpoint::parse(&t) {
        drop(e.to_string());
    }
    if let Some(key) = fuzz_vault_key() {
        match Checkpoint::open(&t, key.cert(), FUZZ_VAULT_ID) {
            Ok(cp) => drop(cp.document()),
            Err(e) => drop(e.to_string()),
        }
    }
}

/// A serials file (`order assign`, `request create`, `serial` commands).
pub fn serials(data: &[u8]) {
    match crate::vault::parse_serials_text(&text(data)) {
        Ok(s) => drop(s),
        Err(bad) => drop(bad.join("\n")),
    }
}

/// A UPN file (`request create --upn-file`).
pub fn upn(data: &[u8]) {
    match crate::vault::upn::parse_upn_file(&text(data)) {
        Ok(lines) => drop(lines),
        Err(bad) => drop(bad.join("\n")),
    }
}

/// A signed request statement and a decision statement, as read back from
/// the database (which the disk's owner can edit) before their signatures
/// are checked.
pub fn statement(data: &[u8]) {
    let t = text(data);
    match crate::vault::statement::RequestStatement::parse(&t) {
        Ok(s) => drop(s.render()),
        Err(e) => drop(e),
    }
    if let Err(e) = crate::vault::statement::parse_decision(&t) {
        drop(e);
    }
}

/// The vault's schema, made once in a temporary directory and copied into
/// memory for each input.
fn template_db() -> Option<&'static std::sync::Mutex<rusqlite::Connection>> {
    static DB: OnceLock<Option<std::sync::Mutex<rusqlite::Connection>>> = OnceLock::new();
    DB.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("seedvault-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).ok()?;
        let file = dir.join("vault.db");
        let store = crate::store::Store::create(&file).ok()?;
        drop(store);
        let conn = rusqlite::Connection::open(&file).ok()?;
        let mut mem = rusqlite::Connection::open_in_memory().ok()?;
        {
            let b = rusqlite::backup::Backup::new(&conn, &mut mem).ok()?;
            b.run_to_completion(64, Duration::ZERO, None).ok()?;
        }
        drop(conn);
        let _ = std::fs::remove_dir_all(&dir);
        Some(std::sync::Mutex::new(mem))
    })
    .as_ref()
}

/// The audit log as the verifier and `audit replay` read it: each line of
/// `data` is one entry's body (JSON), stored with its true hash so that
/// the walk reaches the body's own checks; then the chain is verified and
/// the log replayed against the (empty) tables.
pub fn audit_log(data: &[u8]) {
    let Some(template) = template_db() else {
        return;
    };
    let Ok(template) = template.lock() else {
        return;
    };
    let Ok(mut conn) = rusqlite::Connection::open_in_memory() else {
        return;
    };
    {
        let Ok(b) = rusqlite::backup::Backup::new(&template, &mut conn) else {
            return;
        };
        if b.run_to_completion(64, Duration::ZERO, None).is_err() {
            return;
        }
    }
    drop(template);
    for (i, line) in data.split(|&b| b == b'\n').take(4096).enumerate() {
        let hash = crate::crypto::sha256(line);
        let seq = i64::try_from(i).unwrap_or(i64::MAX).saturating_add(1);
        if conn
            .execute(
                "INSERT INTO audit (seq, body, hash) VALUES (?1, ?2, ?3)",
                rusqlite::params![seq, line, &hash[..]],
            )
            .is_err()
        {
            return;
        }
    }
    match crate::audit::verify_chain(&conn, FUZZ_VAULT_ID) {
        Ok(r) => {
            for p in r.problems {
                drop(p.to_string());
            }
        }
        Err(e) => drop(e.to_string()),
    }
    match crate::audit::replay(&conn) {
        Ok(r) => drop(format!("{r:?}")),
        Err(e) => drop(e.to_string()),
    }
}
