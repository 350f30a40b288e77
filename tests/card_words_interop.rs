//! A custodian's paper backup works without seedvault: the words of any M
//! cards, typed into the reference SLIP-0039 implementation, give the
//! vault's master key. "The master key" is checked against the public
//! check value the genesis entry recorded (HKDF-SHA256, recomputed in
//! Python with the standard library).

use crate::common::TestVault;

const COMBINE_AND_CHECK: &str = r#"
import hashlib, hmac, json, sys
import shamir_mnemonic
words, vault_id, want_check = json.loads(sys.stdin.read())
secret = shamir_mnemonic.combine_mnemonics(words)
salt = ("seedvault/v1/" + vault_id).encode()
prk = hmac.new(salt, secret, hashlib.sha256).digest()
check = hmac.new(prk, b"check" + b"\x01", hashlib.sha256).hexdigest()
print(json.dumps({"secret": secret.hex(), "check_ok": check == want_check}))
"#;

fn words(v: &TestVault, name: &str) -> String {
    let out = v
        .cmd()
        .args(["card", "words"])
        .arg(v.card(name))
        .arg("--passphrase-file")
        .arg(v.pass(name))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", crate::common::text(&out));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn any_two_cards_words_combine_in_shamir_mnemonic_to_the_master_key() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let w: Vec<String> = ["alice", "bob", "carol"]
        .iter()
        .map(|n| words(&v, n))
        .collect();
    for words in &w {
        assert_eq!(
            words.split(' ').count(),
            33,
            "a 256-bit share is 33 words: {words:?}"
        );
    }
    let genesis = v.sqlite("SELECT CAST(body AS TEXT) FROM audit WHERE seq = 1");
    let genesis: serde_json::Value = serde_json::from_str(genesis.trim()).unwrap();
    let want_check = genesis["data"]["master_check"].as_str().unwrap().to_owned();

    let mut secrets = Vec::new();
    for (a, b) in [(0, 1), (0, 2), (1, 2), (2, 0)] {
        let input = serde_json::json!([[w[a], w[b]], v.vault_id, want_check]).to_string();
        let out = std::process::Command::new(crate::common::python())
            .args(["-c", COMBINE_AND_CHECK])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(input.as_bytes())?;
                c.wait_with_output()
            })
            .unwrap();
        assert!(
            out.status.success(),
            "python: {}",
            crate::common::text(&out)
        );
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            r["check_ok"], true,
            "cards {a},{b} do not combine to this vault's master key"
        );
        secrets.push(r["secret"].as_str().unwrap().to_owned());
    }
    assert!(secrets.windows(2).all(|p| p[0] == p[1]));
    assert_eq!(secrets[0].len(), 64);

    // Showing the words is an audited act.
    let shown =
        v.sqlite("SELECT count(*) FROM audit WHERE CAST(body AS TEXT) LIKE '%card.words_shown%'");
    assert_eq!(shown.trim(), "3");
}

#[test]
fn one_card_alone_does_not_combine_in_shamir_mnemonic() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let out = std::process::Command::new(crate::common::python())
        .args([
            "-c",
            "import shamir_mnemonic,sys; shamir_mnemonic.combine_mnemonics([sys.argv[1]])",
        ])
        .arg(words(&v, "alice"))
        .output()
        .unwrap();
    assert!(!out.status.success(), "one share must not be enough");
}
