//! `audit export`: the exact stored bytes of every entry plus what a
//! verifier needs, readable by the standard-library verifier, and no
//! secret in it (nor in the checkpoint, nor anywhere under the vault).

use std::path::Path;
use std::process::Command;

use crate::common::{make_batch, read_truth, text, TestVault};
use rusqlite::Connection;

#[test]
fn export_holds_the_stored_bytes_and_the_certificates_and_no_seed() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let mut secrets = Vec::new();
    for (i, f) in ["hex", "base32", "azure-csv", "pskc"].iter().enumerate() {
        let (batch, truth) = make_batch(
            v.tmp.path(),
            f,
            30,
            700_000 + 1000 * i as u64,
            40 + i as u32,
        );
        v.ingest_file(&batch);
        secrets.extend(read_truth(&truth).into_iter().map(|(_, h, _)| h));
    }
    v.cmd()
        .arg("verify-token")
        .args(["700001", "--code", "000000"])
        .args(v.quorum(&["bob", "carol"]))
        .assert()
        .code(1);
    let export = v.tmp.path().join("audit.jsonl");
    let cp = v.tmp.path().join("checkpoint.asc");
    let out = v
        .cmd()
        .args(["audit", "export", "--out"])
        .arg(&export)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    v.cmd()
        .args(["audit", "checkpoint", "--out"])
        .arg(&cp)
        .assert()
        .success();

    // Header, then one record per entry with the stored bytes.
    let content = std::fs::read_to_string(&export).unwrap();
    let mut lines = content.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["format"], "seedvault-audit-export");
    assert_eq!(header["version"], 1);
    assert_eq!(header["vault_id"], v.vault_id.as_str());
    let cert = std::fs::read_to_string(v.cards.join("vault-cert.asc")).unwrap();
    assert_eq!(header["vault_cert"], cert.as_str());
    let officers = header["officers"].as_array().unwrap();
    assert_eq!(officers.len(), 3);
    assert_eq!(officers[1]["name"], "bob");
    assert!(officers[1]["cert"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
    let conn = Connection::open(v.db()).unwrap();
    let mut stmt = conn
        .prepare("SELECT seq, body, hash FROM audit ORDER BY seq")
        .unwrap();
    let stored: Vec<(i64, Vec<u8>, Vec<u8>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let records: Vec<serde_json::Value> = lines.map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), stored.len());
    assert_eq!(header["entries"], stored.len() as u64);
    for (rec, (seq, body, hash)) in records.iter().zip(&stored) {
        assert_eq!(rec["seq"], *seq);
        assert_eq!(
            data_encoding::BASE64
                .decode(rec["body_b64"].as_str().unwrap().as_bytes())
                .unwrap(),
            *body
        );
        assert_eq!(rec["hash"], seedvault::crypto::hex(hash));
    }

    // The standard-library verifier accepts the export, with the checkpoint.
    let py = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/verify_log.py"))
        .arg(&export)
        .arg("--checkpoint")
        .arg(&cp)
        .output()
        .unwrap();
    assert_eq!(py.status.code(), Some(0), "{}", text(&py));

    // Refuses to overwrite.
    let out = v
        .cmd()
        .args(["audit", "export", "--out"])
        .arg(&export)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("refusing to overwrite"),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read_to_string(&export).unwrap(), content);

    // No seed, in raw, hex or Base32 form, in the export, the checkpoint or the vault directory.
    let mut files = vec![std::fs::read(&export).unwrap(), std::fs::read(&cp).unwrap()];
    for e in std::fs::read_dir(&v.vault).unwrap() {
        files.push(std::fs::read(e.unwrap().path()).unwrap());
    }
    assert_eq!(secrets.len(), 120);
    for hex in &secrets {
        let raw = data_encoding::HEXLOWER.decode(hex.as_bytes()).unwrap();
        let b32 = data_encoding::BASE32_NOPAD.encode(&raw);
        let b64 = data_encoding::BASE64.encode(&raw);
        let (hex_up, b32_low) = (hex.to_uppercase(), b32.to_lowercase());
        let forms: [&[u8]; 6] = [
            &raw,
            hex.as_bytes(),
            hex_up.as_bytes(),
            b32.as_bytes(),
            b32_low.as_bytes(),
            b64.as_bytes(),
        ];
        for data in &files {
            for form in forms {
                assert!(
                    !data.windows(form.len()).any(|w| w == form),
                    "a seed appears in clear in the export, checkpoint or vault"
                );
            }
        }
    }
}
