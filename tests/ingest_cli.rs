//! Factory batches in, as a security officer runs them: every format,
//! refusals that add nothing, real-world noise, OpenPGP-wrapped batches,
//! the OTP check against oathtool, and no plaintext anywhere on disk.

use std::process::Command;

use crate::common::{make_batch, read_truth, text, Gpg, TestVault};
use secrecy::SecretString;
use seedvault::token::{OtpKind, Serial};

const FORMATS: [&str; 6] = [
    "azure-csv",
    "hex",
    "base32",
    "pskc",
    "otpauth",
    "privacyidea",
];

fn seeds(v: &TestVault) -> u64 {
    let out = v.cmd().args(["status", "--json"]).output().unwrap();
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    s["counts"]["seeds"].as_u64().unwrap()
}

#[test]
fn six_formats_ingest_and_read_back_equal_to_the_truth() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let mut truths = Vec::new();
    for (i, f) in FORMATS.iter().enumerate() {
        let (batch, truth) =
            make_batch(v.tmp.path(), f, 50, 60_000_000 + 1000 * i as u64, i as u32);
        let out = v.ingest_output(&batch, &["alice", "bob"]);
        assert!(out.status.success(), "{f}: {}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains(&format!("batch {}: 50 tokens ingested ({f})", i + 1)),
            "{stdout}"
        );
        truths.push(truth);
    }
    assert_eq!(seeds(&v), 300);
    let unsealed = v.unseal(&["bob", "carol"], "test");
    for truth in &truths {
        for (serial, secret_hex, period) in read_truth(truth) {
            let t = unsealed
                .open_token(&Serial::parse(&serial).unwrap())
                .unwrap();
            assert_eq!(
                data_encoding::HEXLOWER.encode(t.seed.expose()),
                secret_hex,
                "serial {serial}"
            );
            assert_eq!(
                t.params.kind,
                OtpKind::Totp {
                    period: period as u32
                },
                "serial {serial}"
            );
            assert_eq!(t.params.digits, 6);
        }
    }
    drop(unsealed);
    v.cmd().args(["audit", "verify"]).assert().success();
}

#[test]
fn one_card_cannot_ingest_and_nothing_is_added() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let (batch, _) = make_batch(v.tmp.path(), "hex", 10, 1000, 1);
    let out = v.ingest_output(&batch, &["alice"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("2 of 3 cards needed, 1 given"),
        "{}",
        text(&out)
    );
    assert_eq!(seeds(&v), 0);
}

#[test]
fn an_overlapping_batch_is_refused_naming_the_serials_and_adds_nothing() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    v.ingest("base32", 20, 5000, 1);
    // 5015..5034: five serials already in the vault.
    let (second, _) = make_batch(v.tmp.path(), "hex", 20, 5015, 2);
    let out = v.ingest_output(&second, &["alice", "bob"]);
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out);
    assert!(
        t.contains("5 serial(s) are already in the vault: 5015, 5016, 5017, 5018, 5019"),
        "{t}"
    );
    assert!(t.contains("nothing was ingested"), "{t}");
    assert_eq!(seeds(&v), 20);
    // The refusal is logged, with no secret.
    let refused =
        v.sqlite("SELECT count(*) FROM audit WHERE CAST(body AS TEXT) LIKE '%batch.refused%'");
    assert_eq!(refused.trim(), "1");
}

#[test]
fn one_bad_line_among_good_ones_is_named_and_nothing_is_stored() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let (batch, _) = make_batch(v.tmp.path(), "azure-csv", 30, 7000, 3);
    let mut lines: Vec<String> = std::fs::read_to_string(&batch)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    // Line 11 (serial 7009): a secret of 80 bits.
    lines[10] = ",7009,JBSWY3DPEHPK3PXP,30,Token2,C202".into();
    // Line 21 (serial 7019): an interval Entra does not allow.
    lines[20] = lines[20].replace(",30,", ",45,");
    std::fs::write(&batch, lines.join("\n") + "\n").unwrap();
    let out = v.ingest_output(&batch, &["alice", "bob"]);
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out);
    assert!(
        t.contains("line 11 (serial 7009)") && t.contains("at least 128 bits"),
        "{t}"
    );
    assert!(
        t.contains("line 21 (serial 7019)"),
        "every problem is reported, not only the first: {t}"
    );
    assert_eq!(seeds(&v), 0);
    assert_eq!(v.sqlite("SELECT count(*) FROM batches").trim(), "0");
}

#[test]
fn a_noisy_real_world_azure_file_ingests_and_serial_show_finds_000123() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let f = v.tmp.path().join("noisy.csv");
    std::fs::write(
        &f,
        b"\xEF\xBB\xBFupn,serial number,secret key,time interval,manufacturer,model\r\n\
          ,000123, jbswy3dpehpk3pxpjbswy3dpehpk3pxp ,30,Token2,C202\r\n\
          user@example.com,000124,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ====,60,Token2,C202\r\n\r\n",
    )
    .unwrap();
    v.ingest_file(&f);
    let out = v
        .cmd()
        .args(["serial", "show", "000123", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["serial"], "000123");
    assert_eq!(r["state"], "active");
    assert_eq!(r["params"]["manufacturer"], "Token2");
    // `123` is another serial: leading zeros are kept.
    v.cmd().args(["serial", "show", "123"]).assert().code(1);
    let shown = String::from_utf8(
        v.cmd()
            .args(["serial", "show", "000123"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(
        !shown.to_lowercase().contains("jbswy3dp"),
        "serial show must never print the secret: {shown}"
    );
}

fn oathtool(args: &[&str]) -> String {
    crate::common::require_tool("oathtool");
    let out = Command::new("oathtool").args(args).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn verify_token_accepts_oathtools_code_two_steps_back_with_drift_minus_2() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let truth = v.ingest("base32", 3, 424242, 4);
    let (serial, secret_hex, _) = read_truth(&truth).remove(1);
    let at: u64 = 1_790_000_015;
    let code = oathtool(&["--totp", &format!("--now=@{}", at - 60), &secret_hex]);
    let out = v
        .cmd()
        .args([
            "verify-token",
            &serial,
            "--code",
            &code,
            "--at",
            &at.to_string(),
            "--json",
        ])
        .args(v.quorum(&["carol", "alice"]))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["matched"], true);
    assert_eq!(r["drift"], -2);

    // 11 steps away is outside the window: exit 1, "no match".
    let far = oathtool(&["--totp", &format!("--now=@{}", at - 330), &secret_hex]);
    let out = v
        .cmd()
        .args([
            "verify-token",
            &serial,
            "--code",
            &far,
            "--at",
            &at.to_string(),
        ])
        .args(v.quorum(&["alice", "bob"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("no match"), "{}", text(&out));
}

#[test]
fn an_openpgp_encrypted_batch_is_decrypted_and_a_required_factory_signature_is_checked() {
    crate::common::require_tool("gpg");
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let gpg = Gpg::with_flags(&["--quiet"]);
    gpg.run(&["--import", v.cards.join("vault-cert.asc").to_str().unwrap()]);
    gpg.run(&[
        "--passphrase",
        "",
        "--quick-gen-key",
        "Factory <factory@example.com>",
        "ed25519",
        "sign",
        "never",
    ]);
    let factory_cert = v.tmp.path().join("factory.asc");
    std::fs::write(
        &factory_cert,
        gpg.run(&["--armor", "--export", "factory@example.com"])
            .stdout,
    )
    .unwrap();
    let vault_uid = format!("vault-{}@seedvault.invalid", v.vault_id);

    let (plain, truth) = make_batch(v.tmp.path(), "hex", 10, 880000, 5);
    let signed = v.tmp.path().join("signed.gpg");
    gpg.run(&[
        "--trust-model",
        "always",
        "-u",
        "factory@example.com",
        "-r",
        &vault_uid,
        "--sign",
        "--encrypt",
        "-o",
        signed.to_str().unwrap(),
        plain.to_str().unwrap(),
    ]);
    let (plain2, _) = make_batch(v.tmp.path(), "hex", 10, 990000, 6);
    let unsigned = v.tmp.path().join("unsigned.gpg");
    gpg.run(&[
        "--trust-model",
        "always",
        "-r",
        &vault_uid,
        "--encrypt",
        "-o",
        unsigned.to_str().unwrap(),
        plain2.to_str().unwrap(),
    ]);

    // Unsigned but a signature required: refused, nothing stored.
    let out = v
        .cmd()
        .arg("ingest")
        .arg(&unsigned)
        .arg("--factory-cert")
        .arg(&factory_cert)
        .args(v.quorum(&["alice", "bob"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("nothing was ingested"),
        "{}",
        text(&out)
    );
    assert_eq!(seeds(&v), 0);

    // Signed by the factory: in.
    let out = v
        .cmd()
        .arg("ingest")
        .arg(&signed)
        .arg("--factory-cert")
        .arg(&factory_cert)
        .args(v.quorum(&["alice", "bob"]))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("OpenPGP-encrypted"));
    // Unsigned without the requirement: in.
    v.ingest_file(&unsigned);
    assert_eq!(seeds(&v), 20);

    let unsealed = v.unseal(&["alice", "carol"], "test");
    for (serial, hex, _) in read_truth(&truth) {
        let t = unsealed
            .open_token(&Serial::parse(&serial).unwrap())
            .unwrap();
        assert_eq!(data_encoding::HEXLOWER.encode(t.seed.expose()), hex);
    }
}

#[test]
fn no_plaintext_seed_anywhere_under_the_vault_directory() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let mut secrets = Vec::new();
    for (i, f) in FORMATS.iter().enumerate() {
        let (batch, truth) = make_batch(
            v.tmp.path(),
            f,
            40,
            300_000 + 1000 * i as u64,
            10 + i as u32,
        );
        v.ingest_file(&batch);
        secrets.extend(read_truth(&truth).into_iter().map(|(_, h, _)| h));
    }
    v.cmd()
        .arg("verify-token")
        .args(["300001", "--code", "000000"])
        .args(v.quorum(&["alice", "bob"]))
        .assert()
        .code(1);
    let mut files = Vec::new();
    for e in std::fs::read_dir(&v.vault).unwrap() {
        files.push(std::fs::read(e.unwrap().path()).unwrap());
    }
    assert!(!files.is_empty());
    for hex in &secrets {
        let raw = data_encoding::HEXLOWER.decode(hex.as_bytes()).unwrap();
        let b32 = data_encoding::BASE32_NOPAD.encode(&raw);
        let (hex_up, b32_low) = (hex.to_uppercase(), b32.to_lowercase());
        let forms: [&[u8]; 5] = [
            &raw,
            hex.as_bytes(),
            hex_up.as_bytes(),
            b32.as_bytes(),
            b32_low.as_bytes(),
        ];
        for data in &files {
            for form in forms {
                assert!(
                    !data.windows(form.len()).any(|w| w == form),
                    "a seed appears in clear under the vault directory"
                );
            }
        }
    }
}

#[test]
fn void_needs_a_reason_and_an_officer_and_shows_in_serial_show() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    v.ingest("hex", 5, 123450, 7);
    let card = |n: &str| {
        vec![
            "--card".into(),
            v.card(n).into_os_string(),
            "--passphrase-file".into(),
            v.pass(n).into_os_string(),
        ]
    };
    let out = v
        .cmd()
        .args(["serial", "void", "123452", "--reason", " "])
        .args(card("carol"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("a reason is required"),
        "{}",
        text(&out)
    );
    let out = v
        .cmd()
        .args(["serial", "void", "999999", "--reason", "reprogrammed"])
        .args(card("carol"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("serial 999999 is not in the vault"),
        "{}",
        text(&out)
    );
    v.cmd()
        .args([
            "serial",
            "void",
            "123452",
            "--reason",
            "reprogrammed by customer",
        ])
        .args(card("carol"))
        .assert()
        .success();
    let out = v
        .cmd()
        .args(["serial", "show", "123452", "--json"])
        .output()
        .unwrap();
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["state"], "voided");
    assert_eq!(r["void_reason"], "reprogrammed by customer");
    assert_eq!(r["voided_by"], "carol");
    assert_eq!(
        r["history"].as_array().unwrap().last().unwrap()["event"],
        "serial.voided"
    );
    v.cmd()
        .args(["serial", "void", "123452", "--reason", "again"])
        .args(card("alice"))
        .assert()
        .code(1);
    v.cmd().args(["audit", "verify"]).assert().success();
}

#[test]
fn encrypted_pskc_ingests_with_its_password_or_key_file_and_not_without() {
    use secrecy::SecretBox;
    use seedvault::formats::{self, Format, PskcKey, WriteOptions};
    use seedvault::token::{Seed, Token, TokenParams};
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let tokens: Vec<Token> = (0..5u8)
        .map(|i| Token {
            serial: Serial::parse(&format!("PSKC{i}")).unwrap(),
            seed: Seed::new((0..20).map(|b| b ^ i.wrapping_mul(37)).collect()).unwrap(),
            params: TokenParams::default(),
        })
        .collect();
    let write = |key: PskcKey, name: &str| {
        let mut out = Vec::new();
        formats::write(
            Format::Pskc,
            &mut tokens[..].iter(),
            &mut out,
            &WriteOptions {
                pskc_key: Some(key),
                ..Default::default()
            },
        )
        .unwrap();
        let p = v.tmp.path().join(name);
        std::fs::write(&p, out).unwrap();
        p
    };
    let by_password = write(
        PskcKey::Password(SecretString::from("factory-transport-pw".to_owned())),
        "pw.pskc",
    );
    let key_hex = "000102030405060708090a0b0c0d0e0f";
    let by_key = write(
        PskcKey::PreShared(SecretBox::new(Box::new(
            data_encoding::HEXLOWER.decode(key_hex.as_bytes()).unwrap(),
        ))),
        "psk.pskc",
    );
    let pw_file = v.tmp.path().join("pskc.pw");
    std::fs::write(&pw_file, "factory-transport-pw\n").unwrap();
    let key_file = v.tmp.path().join("pskc.key");
    std::fs::write(&key_file, key_hex).unwrap();

    let out = v.ingest_output(&by_password, &["alice", "bob"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("--pskc-password-file"),
        "{}",
        text(&out)
    );
    let wrong = v.tmp.path().join("wrong.pw");
    std::fs::write(&wrong, "not-the-password\n").unwrap();
    let out = v
        .cmd()
        .arg("ingest")
        .arg(&by_password)
        .arg("--pskc-password-file")
        .arg(&wrong)
        .args(v.quorum(&["alice", "bob"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("wrong"), "{}", text(&out));
    assert_eq!(seeds(&v), 0);

    v.cmd()
        .arg("ingest")
        .arg(&by_password)
        .arg("--pskc-password-file")
        .arg(&pw_file)
        .args(v.quorum(&["alice", "bob"]))
        .assert()
        .success();
    // The same serials again, under a pre-shared key: refused as already present, which proves the file decrypted.
    let out = v
        .cmd()
        .arg("ingest")
        .arg(&by_key)
        .arg("--pskc-key-file")
        .arg(&key_file)
        .args(v.quorum(&["alice", "bob"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("5 serial(s) are already in the vault"),
        "{}",
        text(&out)
    );
    let unsealed = v.unseal(&["alice", "bob"], "test");
    for t in &tokens {
        assert_eq!(unsealed.open_token(&t.serial).unwrap().seed, t.seed);
    }
}

#[test]
fn serials_with_an_inner_hyphen_are_ingested_and_shown() {
    // SPEC: '-' is allowed inside a serial (a real vendor's `306EUO4-00960`),
    // never first or last.
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let file = v.tmp.path().join("hyphen.csv");
    std::fs::write(
        &file,
        "306EUO4-00960,3132333435363738393031323334353637383930\n\
         306EUO4-00961,4132333435363738393031323334353637383930\n",
    )
    .unwrap();
    let out = v
        .cmd()
        .args(["ingest", "--format", "hex"])
        .arg(&file)
        .args(v.quorum(&["alice", "bob"]))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = v
        .cmd()
        .args(["serial", "show", "306EUO4-00961", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let rec: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rec["serial"], "306EUO4-00961", "{rec}");

    // A hyphen at either end is refused, naming the line, and nothing is added.
    std::fs::write(&file, "-306EUO4,5132333435363738393031323334353637383930\n").unwrap();
    let out = v
        .cmd()
        .args(["ingest", "--format", "hex"])
        .arg(&file)
        .args(v.quorum(&["alice", "bob"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("line 1"), "{}", text(&out));
    assert_eq!(seeds(&v), 2);
}
