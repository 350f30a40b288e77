//! A refused factory file leaves no trace of its seeds: not on the
//! terminal, not in any file under the vault directory, not in the audit
//! log. Every format is fed rows with swapped and shifted columns, empty
//! cells, extra and missing fields and bad secrets, through the real
//! binary; the outputs are searched for every seed of the file in every
//! encoding a person or a script could recognize (raw, hex in both cases,
//! Base32 in both cases with and without padding, base64), and for any
//! 16-character stretch of those encodings. The `batch.refused` entry must
//! name the file's SHA-256 and the lines, and only kinds of problem.

use std::path::{Path, PathBuf};

use crate::common::{text, Gpg, TestVault};

/// A deterministic generator of seed bytes (xorshift64*): the test makes
/// its own data and needs nothing beside the repository.
struct Rng(u64);

impl Rng {
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 >> 12;
                self.0 ^= self.0 << 25;
                self.0 ^= self.0 >> 27;
                (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
            })
            .collect()
    }
}

fn hex(b: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(b)
}

fn b32(b: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(b)
}

fn b64(b: &[u8]) -> String {
    data_encoding::BASE64.encode(b)
}

fn sha256_hex(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    hex(ring::digest::digest(&ring::digest::SHA256, &bytes).as_ref())
}

/// Every text form of `seed` that must not appear anywhere.
fn text_forms(seed: &[u8]) -> Vec<String> {
    let padded = data_encoding::BASE32.encode(seed);
    let b64 = b64(seed);
    vec![
        hex(seed),
        hex(seed).to_uppercase(),
        b32(seed),
        b32(seed).to_lowercase(),
        padded.clone(),
        padded.to_lowercase(),
        b64.clone(),
        b64.trim_end_matches('=').to_owned(),
    ]
}

/// Needles: each text form whole and every 16-character stretch of it (a
/// shortened echo is a leak too), and the raw bytes (10-byte stretches).
/// A seed that is one byte repeated is kept apart (the third list): runs
/// such as `0000...` occur in any database and log by themselves (the
/// genesis entry's `prev`), so those are searched in the command's output
/// and in the refusal's own entry only.
fn needles(seeds: &[Vec<u8>]) -> (Vec<String>, Vec<Vec<u8>>, Vec<String>) {
    let mut texts = Vec::new();
    let mut raws = Vec::new();
    let mut runs = Vec::new();
    for seed in seeds {
        let distinct = seed.iter().any(|&b| b != seed[0]);
        if !distinct {
            runs.extend(text_forms(seed));
            continue;
        }
        for form in text_forms(seed) {
            let chars: Vec<char> = form.chars().collect();
            if chars.len() <= 16 {
                texts.push(form.clone());
            } else {
                for w in chars.windows(16) {
                    texts.push(w.iter().collect());
                }
            }
        }
        if seed.len() >= 10 {
            for w in seed.windows(10) {
                raws.push(w.to_vec());
            }
        }
    }
    (texts, raws, runs)
}

fn find_in(hay: &[u8], texts: &[String], raws: &[Vec<u8>]) -> Option<String> {
    let lower = String::from_utf8_lossy(hay).into_owned();
    for t in texts {
        if lower.contains(t.as_str()) {
            return Some(format!("text {t:?}"));
        }
    }
    for r in raws {
        if hay.windows(r.len()).any(|w| w == r.as_slice()) {
            return Some(format!("raw bytes {}", hex(r)));
        }
    }
    None
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The audit log through `audit export`: the export's own bytes followed
/// by every entry's body decoded (the export carries bodies in base64,
/// where a search would not see a secret), and the bodies parsed.
fn audit_export(v: &TestVault) -> (Vec<u8>, Vec<serde_json::Value>) {
    let out_file = v.tmp.path().join("audit.jsonl");
    let out = v
        .cmd()
        .args(["audit", "export", "--out"])
        .arg(&out_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "audit export: {}", text(&out));
    let mut bytes = std::fs::read(&out_file).unwrap();
    let _ = std::fs::remove_file(&out_file);
    let mut entries = Vec::new();
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&bytes)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for line in lines {
        if let Some(b) = line["body_b64"].as_str() {
            let body = data_encoding::BASE64.decode(b.as_bytes()).unwrap();
            entries.push(serde_json::from_slice(&body).unwrap());
            bytes.push(b'\n');
            bytes.extend_from_slice(&body);
        }
    }
    assert!(!entries.is_empty(), "the export holds no entry");
    (bytes, entries)
}

/// One refused file: its content, the format to name (None: detect), the
/// seeds it holds, the lines that must be named, and characters the
/// message must not quote.
struct Case {
    name: &'static str,
    format: Option<&'static str>,
    body: String,
    seeds: Vec<Vec<u8>>,
    lines: Vec<u64>,
}

/// Ingests `path` and checks everything a leak could reach. Returns stderr.
fn refuse_without_leak(
    v: &TestVault,
    path: &Path,
    format: Option<&str>,
    extra: &[&str],
    seeds: &[Vec<u8>],
    lines: &[u64],
    what: &str,
) -> String {
    let mut cmd = v.cmd();
    cmd.arg("ingest").arg(path);
    if let Some(f) = format {
        cmd.args(["--format", f]);
    }
    cmd.args(extra).args(v.quorum(&["alice", "bob"]));
    let out = cmd.output().unwrap();
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{what}: {shown}");
    let (texts, raws, runs) = needles(seeds);
    let all: Vec<String> = texts.iter().chain(&runs).cloned().collect();
    if let Some(hit) = find_in(&out.stdout, &all, &raws) {
        panic!("{what}: stdout holds a seed ({hit}): {shown}");
    }
    if let Some(hit) = find_in(&out.stderr, &all, &raws) {
        panic!("{what}: stderr holds a seed ({hit}): {shown}");
    }
    for f in files_under(&v.vault) {
        let bytes = std::fs::read(&f).unwrap();
        if let Some(hit) = find_in(&bytes, &texts, &raws) {
            panic!("{what}: {} holds a seed ({hit})", f.display());
        }
    }
    let (log, entries) = audit_export(v);
    if let Some(hit) = find_in(&log, &texts, &raws) {
        panic!("{what}: the audit export holds a seed ({hit})");
    }
    let refused = entries
        .iter()
        .rev()
        .find(|e| e["event"] == "batch.refused")
        .unwrap_or_else(|| panic!("{what}: no batch.refused entry"));
    if let Some(hit) = find_in(refused.to_string().as_bytes(), &all, &raws) {
        panic!("{what}: the batch.refused entry holds a seed ({hit}): {refused}");
    }
    let data = &refused["data"];
    assert_eq!(
        data["source_sha256"].as_str(),
        Some(sha256_hex(path).as_str()),
        "{what}: {refused}"
    );
    let logged: Vec<u64> = data["listed"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["line"].as_u64())
        .collect();
    for line in lines {
        assert!(
            logged.contains(line),
            "{what}: line {line} is not in the entry: {refused}"
        );
        assert!(
            shown.contains(&format!("line {line}")),
            "{what}: line {line} is not named: {shown}"
        );
    }
    for p in data["listed"].as_array().unwrap() {
        let kind = p["kind"].as_str().unwrap();
        assert!(
            !kind.is_empty()
                && kind
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{what}: kind {kind:?}"
        );
        assert_eq!(p.as_object().unwrap().len(), 2, "{what}: {p}");
    }
    assert!(data.get("reason").is_none(), "{what}: {refused}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const AZ_HEADER: &str = "upn,serial number,secret key,time interval,manufacturer,model";

fn cases(rng: &mut Rng) -> Vec<Case> {
    let mut s = || rng.bytes(20);
    let mut cases = Vec::new();
    let (a, b, c) = (s(), s(), s());
    cases.push(Case {
        name: "hex, swapped columns (secret_hex,serial)",
        format: Some("hex"),
        body: format!(
            "{},100001\n{},100002\n{},100003\n",
            hex(&a),
            hex(&b),
            hex(&c)
        ),
        seeds: vec![a, b, c],
        lines: vec![1, 2, 3],
    });
    let (a, b) = (s(), s());
    cases.push(Case {
        name: "hex detected, swapped columns upper case",
        format: None,
        body: format!(
            "{},100011\n{},100012\n",
            hex(&a).to_uppercase(),
            hex(&b).to_uppercase()
        ),
        seeds: vec![a, b],
        lines: vec![1, 2],
    });
    let (a, b, c, d) = (s(), s(), s(), s());
    cases.push(Case {
        name: "hex, shifted, extra and missing fields, empty cells",
        format: Some("hex"),
        body: format!(
            ",100021,{}\n100022,{},extra\n{}\n100024,\n,{}\n",
            hex(&a),
            hex(&b),
            hex(&c),
            hex(&d)
        ),
        seeds: vec![a, b, c, d],
        lines: vec![1, 2, 3, 4, 5],
    });
    let (a, b, c) = (s(), s(), s());
    let short = a[..8].to_vec();
    let mut nonhex = hex(&b);
    nonhex.replace_range(10..11, "g");
    let odd = hex(&c)[..39].to_owned();
    cases.push(Case {
        name: "hex, bad secrets",
        format: Some("hex"),
        body: format!(
            "100031,{}\n100032,{nonhex}\n100033,{odd}\n100034,{}\n100035,{}\n",
            hex(&short),
            "00".repeat(20),
            "a7".repeat(20)
        ),
        seeds: vec![short, b, c, vec![0; 20], vec![0xa7; 20]],
        lines: vec![1, 2, 3, 4, 5],
    });
    let (a, b) = (s(), s());
    cases.push(Case {
        name: "base32, swapped columns and a hex secret",
        format: Some("base32"),
        body: format!("{},100041\n100042,{}\n", b32(&a), hex(&b)),
        seeds: vec![a, b],
        lines: vec![1, 2],
    });
    let (a, b, c) = (s(), s(), s());
    let mut bad = b32(&b);
    bad.replace_range(5..6, "!");
    cases.push(Case {
        name: "base32, short, bad character, padding out of place, extra field",
        format: Some("base32"),
        body: format!(
            "100051,{}\n100052,{bad}\n100053,{}=={}\n100054,{},x\n",
            b32(&a[..10]).to_lowercase(),
            &b32(&c)[..8],
            &b32(&c)[8..],
            data_encoding::BASE32.encode(&c)
        ),
        seeds: vec![a[..10].to_vec(), b, c],
        lines: vec![1, 2, 3, 4],
    });
    let (a, b, c, d) = (s(), s(), s(), s());
    cases.push(Case {
        name: "azure-csv, no upn cell, swapped, too few and too many fields",
        format: Some("azure-csv"),
        body: format!(
            "{AZ_HEADER}\n100061,{},30,Token2,C202\n,{},100062,30,Token2,C202\n,100063,{}\n,100064,{},30,Token2,C202,x,y\n",
            b32(&a),
            b32(&b),
            b32(&c),
            b32(&d)
        ),
        seeds: vec![a, b, c, d],
        lines: vec![2, 3, 4, 5],
    });
    let (a, b) = (s(), s());
    cases.push(Case {
        name: "azure-csv, secret in the interval column, bad secret",
        format: None,
        body: format!(
            "{AZ_HEADER}\n,100071,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ,{},Token2,C202\n,100072,{},30,,\n",
            b32(&a),
            hex(&b)
        ),
        seeds: vec![a, b],
        lines: vec![2, 3],
    });
    let (a, b, c, d) = (s(), s(), s(), s());
    cases.push(Case {
        name: "otpauth, secret in the label, missing, empty and bad secrets",
        format: Some("otpauth"),
        body: format!(
            "otpauth://totp/ACME:{}?secret=100081\notpauth://totp/ACME:100082?issuer={}\notpauth://totp/ACME:100083?secret=\notpauth://totp/ACME:100084?secret={}\notpauth://totp/ACME:100085?secret={}&digits={}\n",
            b32(&a),
            b32(&b),
            hex(&c),
            b32(&[1, 2]),
            b32(&d)
        ),
        seeds: vec![a, b, c, d],
        lines: vec![1, 2, 3, 4, 5],
    });
    let (a, b, c, d) = (s(), s(), s(), s());
    cases.push(Case {
        name: "privacyidea, swapped and shifted columns, secret as digits and hash",
        format: Some("privacyidea"),
        body: format!(
            "{}, 100091, totp, 6, 30\n100092, totp, {}, 6, 30\n100093, {}, {}, 6, 30\n100094, 3132, totp, {}, 30\n100095, 313233343536373839303132333435363738, totp, 6, 30, {}\n",
            hex(&a),
            hex(&b),
            "GEZDGNBVGY3TQOJQ",
            hex(&c),
            hex(&d),
            hex(&d)
        ),
        seeds: vec![a, b, c, d],
        lines: vec![1, 2, 3, 4, 5],
    });
    let (a, b, c, d, e) = (s(), s(), s(), s(), s());
    let pkg = |serial: &str, alg: &str, suite: &str, secret: &str, interval: &str| {
        format!(
            "<KeyPackage><DeviceInfo><SerialNo>{serial}</SerialNo></DeviceInfo>\n\
             <Key Id=\"k\" Algorithm=\"{alg}\"><AlgorithmParameters><Suite>{suite}</Suite></AlgorithmParameters>\n\
             <Data><Secret><PlainValue>{secret}</PlainValue></Secret>\n\
             <TimeInterval><PlainValue>{interval}</PlainValue></TimeInterval></Data></Key></KeyPackage>\n"
        )
    };
    let totp = "urn:ietf:params:xml:ns:keyprov:pskc:totp";
    cases.push(Case {
        name: "pskc, secret in serial, algorithm, suite, interval; bad base64",
        format: Some("pskc"),
        body: format!(
            "<?xml version=\"1.0\"?>\n<KeyContainer Version=\"1.0\" xmlns=\"urn:ietf:params:xml:ns:keyprov:pskc\">\n{}{}{}{}{}</KeyContainer>\n",
            pkg(&hex(&a), totp, "SHA1", "MTIz", "30"),
            pkg("100102", &b64(&b), "SHA1", &b64(&b32(&b).into_bytes()[..20]), "30"),
            pkg("100103", totp, &b32(&c), "MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=", "30"),
            pkg("100104", totp, "SHA1", &b64(&d), &hex(&d)),
            pkg("100105", totp, "SHA1", &format!("{}*", &b64(&e)[..10]), "30"),
        ),
        seeds: vec![a, b, c, d, e],
        lines: vec![3, 7, 11, 15, 19],
    });
    let (a, b) = (s(), s());
    cases.push(Case {
        name: "azure-csv, a good row whose model column holds its secret",
        format: Some("azure-csv"),
        body: format!("{AZ_HEADER}\n,100111,{},30,Token2,{}\n", b32(&a), b32(&a)),
        seeds: vec![a],
        lines: vec![2],
    });
    cases.push(Case {
        name: "otpauth, a good URI whose issuer is its secret",
        format: Some("otpauth"),
        body: format!("otpauth://totp/{}:100121?secret={}\n", b32(&b), b32(&b)),
        seeds: vec![b],
        lines: vec![1],
    });
    let a = s();
    cases.push(Case {
        name: "undetectable file of secrets",
        format: None,
        body: format!("{} {}\n{}\n", hex(&a), b32(&a), b64(&a)),
        seeds: vec![a],
        lines: vec![],
    });
    cases
}

#[test]
fn no_refused_file_leaves_a_seed_on_screen_on_disk_or_in_the_log() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let mut rng = Rng(0x5eed_0000_c0ff_ee01);
    for (i, case) in cases(&mut rng).into_iter().enumerate() {
        let path = v.tmp.path().join(format!("case-{i}.txt"));
        std::fs::write(&path, &case.body).unwrap();
        let stderr = refuse_without_leak(
            &v,
            &path,
            case.format,
            &[],
            &case.seeds,
            &case.lines,
            case.name,
        );
        // No message quotes a character of a secret or its offset.
        assert!(
            !stderr.contains("'g'") && !stderr.contains("'!'") && !stderr.contains("character 1"),
            "{}: {stderr}",
            case.name
        );
    }
    // Nothing was stored by any of them.
    let out = v.cmd().args(["status", "--json"]).output().unwrap();
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["counts"]["seeds"].as_u64(), Some(0), "{s}");
    let out = v.cmd().args(["audit", "verify"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn a_swapped_hex_row_names_its_line_and_describes_the_serial_field() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let seed = Rng(7).bytes(20);
    let path = v.tmp.path().join("swapped.hex");
    std::fs::write(&path, format!("{},100001\n", hex(&seed))).unwrap();
    let stderr = refuse_without_leak(
        &v,
        &path,
        Some("hex"),
        &[],
        std::slice::from_ref(&seed),
        &[1],
        "swapped",
    );
    assert!(
        stderr.contains("line 1") && stderr.contains("40 characters"),
        "{stderr}"
    );
    let (_, entries) = audit_export(&v);
    let refused = entries
        .iter()
        .rev()
        .find(|e| e["event"] == "batch.refused")
        .unwrap();
    assert_eq!(
        refused["data"]["listed"][0]["kind"], "secret_too_short",
        "{refused}"
    );
}

#[test]
fn an_encrypted_pskc_with_a_broken_mac_leaks_nothing() {
    use secrecy::SecretBox;
    use seedvault::formats::{self, Format, PskcKey, WriteOptions};
    use seedvault::token::{Seed, Serial, Token, TokenParams};
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let mut rng = Rng(0xfeed);
    let seeds: Vec<Vec<u8>> = (0..3).map(|_| rng.bytes(20)).collect();
    // The first serial is a hex string of 16 bytes: valid, but withheld.
    let serials = [hex(&rng.bytes(16)), "200002".into(), "200003".into()];
    let tokens: Vec<Token> = seeds
        .iter()
        .zip(&serials)
        .map(|(s, n)| Token {
            serial: Serial::parse(n).unwrap(),
            seed: Seed::new(s.clone()).unwrap(),
            params: TokenParams::default(),
        })
        .collect();
    let key_hex = "000102030405060708090a0b0c0d0e0f";
    let key = || {
        PskcKey::PreShared(SecretBox::new(Box::new(
            data_encoding::HEXLOWER.decode(key_hex.as_bytes()).unwrap(),
        )))
    };
    let mut out = Vec::new();
    formats::write(
        Format::Pskc,
        &mut tokens.iter(),
        &mut out,
        &WriteOptions {
            pskc_key: Some(key()),
            ..Default::default()
        },
    )
    .unwrap();
    // Break the first two ValueMACs: one character each.
    let mut xml = String::from_utf8(out).unwrap();
    let mut from = 0;
    for _ in 0..2 {
        let at = xml[from..].find("<pskc:ValueMAC>").unwrap() + from + "<pskc:ValueMAC>".len();
        let c = if &xml[at..at + 1] == "A" { "B" } else { "A" };
        xml.replace_range(at..at + 1, c);
        from = at;
    }
    let path = v.tmp.path().join("broken.pskc");
    std::fs::write(&path, &xml).unwrap();
    let key_file = v.tmp.path().join("pskc.key");
    std::fs::write(&key_file, format!("{key_hex}\n")).unwrap();
    let stderr = refuse_without_leak(
        &v,
        &path,
        None,
        &["--pskc-key-file", key_file.to_str().unwrap()],
        &seeds,
        &[],
        "encrypted pskc",
    );
    assert!(
        stderr.contains("does not match") && !stderr.contains(serials[0].as_str()),
        "{stderr}"
    );
    assert!(
        stderr.contains("serial not shown: 32 characters"),
        "{stderr}"
    );
    assert!(stderr.contains("(serial 200002)"), "{stderr}");
    // The key itself is nowhere either.
    assert!(!stderr.contains(key_hex), "{stderr}");
    let (log, _) = audit_export(&v);
    assert!(!String::from_utf8_lossy(&log).contains(key_hex));
}

#[test]
fn an_openpgp_wrapped_bad_batch_leaks_nothing() {
    crate::common::require_tool("gpg");
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let gpg = Gpg::with_flags(&["--quiet"]);
    gpg.run(&["--import", v.cards.join("vault-cert.asc").to_str().unwrap()]);
    let mut rng = Rng(99);
    let (a, b) = (rng.bytes(20), rng.bytes(20));
    let plain = v.tmp.path().join("bad.hex");
    std::fs::write(
        &plain,
        format!("{},300001\n300002,{}\n", hex(&a), &hex(&b)[..30]),
    )
    .unwrap();
    let wrapped = v.tmp.path().join("bad.hex.gpg");
    gpg.run(&[
        "--trust-model",
        "always",
        "-r",
        &format!("vault-{}@seedvault.invalid", v.vault_id),
        "--encrypt",
        "-o",
        wrapped.to_str().unwrap(),
        plain.to_str().unwrap(),
    ]);
    refuse_without_leak(
        &v,
        &wrapped,
        Some("hex"),
        &[],
        &[a, b],
        &[1, 2],
        "openpgp-wrapped hex",
    );
}

#[test]
fn a_huge_pskc_text_node_is_refused_at_the_limit() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let path = v.tmp.path().join("huge.pskc");
    let head = "<?xml version=\"1.0\"?>\n<KeyContainer Version=\"1.0\" xmlns=\"urn:ietf:params:xml:ns:keyprov:pskc\">\n\
        <KeyPackage><DeviceInfo><SerialNo>1</SerialNo></DeviceInfo>\n\
        <Key Id=\"1\" Algorithm=\"urn:ietf:params:xml:ns:keyprov:pskc:totp\"><Data><Secret><PlainValue>";
    let tail = "</PlainValue></Secret></Data></Key></KeyPackage></KeyContainer>\n";
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        f.write_all(head.as_bytes()).unwrap();
        let chunk = "QUFB".repeat(16 * 1024);
        for _ in 0..(24 << 20) / chunk.len() {
            f.write_all(chunk.as_bytes()).unwrap();
        }
        f.write_all(tail.as_bytes()).unwrap();
    }
    let out = v.ingest_output(&path, &["alice", "bob"]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("longer than 1114112 bytes") && shown.contains("line 4"),
        "{shown}"
    );
    assert!(!shown.contains("QUFBQUFB"), "{shown}");
}
