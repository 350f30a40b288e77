//! Every shipped ceremony script rehearsed end to end with scripted
//! answers (participants and initials from an answers file, passphrases
//! from files), as CI rehearses them: what the log holds, what lands on
//! the media, and the transcript's signature as `gpg` checks it.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::common::{request_id, seedvault, text, Gpg, TestVault};

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("ceremony-scripts")
        .join(name)
}

/// The room: CA, IW, then `extra` participants (`"Name, IN"`).
fn people(extra: &[&str]) -> Vec<String> {
    let mut v = vec!["Ann Admin, AA".to_owned(), "Will Witness, WW".to_owned()];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// Writes an answers file in `dir`: `lines`, and passphrase files by custodian.
fn answers(dir: &Path, lines: &[String], passes: &[(&str, PathBuf)]) -> PathBuf {
    let mut t = format!("lines = {}\n[passphrase_files]\n", toml_list(lines));
    for (name, f) in passes {
        t.push_str(&format!("{name} = {:?}\n", f.display().to_string()));
    }
    let f = dir.join("answers.toml");
    std::fs::write(&f, t).unwrap();
    f
}

fn toml_list(lines: &[String]) -> String {
    let quoted: Vec<String> = lines.iter().map(|l| format!("{l:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

/// `seedvault --vault VAULT ceremony run SCRIPT --record REC --answers A --set ...`.
fn run(
    vault: &Path,
    name: &str,
    record: &Path,
    answers: &Path,
    sets: &[(&str, &Path)],
    extra: &[&str],
) -> Output {
    std::fs::create_dir_all(record).unwrap();
    let mut c = seedvault();
    c.arg("--vault")
        .arg(vault)
        .args(["ceremony", "run"])
        .arg(script(name));
    c.arg("--record").arg(record).arg("--answers").arg(answers);
    for (k, v) in sets {
        c.arg("--set").arg(format!("{k}={}", v.display()));
    }
    c.args(extra);
    c.write_stdin("").output().unwrap()
}

/// The log as `audit export` writes it: the entries after the header.
fn exported(vault: &Path, dir: &Path) -> Vec<Value> {
    let out = dir.join(format!("export-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&out);
    let o = seedvault()
        .arg("--vault")
        .arg(vault)
        .args(["audit", "export", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let t = std::fs::read_to_string(&out).unwrap();
    std::fs::remove_file(&out).unwrap();
    t.lines()
        .skip(1)
        .map(|l| {
            let line: Value = serde_json::from_str(l).unwrap();
            let body = data_encoding::BASE64
                .decode(line["body_b64"].as_str().unwrap().as_bytes())
                .unwrap();
            serde_json::from_slice(&body).unwrap()
        })
        .collect()
}

fn events_of<'a>(log: &'a [Value], kind: &str) -> Vec<&'a Value> {
    log.iter().filter(|e| e["event"] == kind).collect()
}

fn position(log: &[Value], kind: &str) -> usize {
    log.iter()
        .position(|e| e["event"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

/// `audit verify` and `audit replay` both exit 0.
fn log_is_sound(vault: &Path) {
    for cmd in ["verify", "replay"] {
        let o = seedvault()
            .arg("--vault")
            .arg(vault)
            .args(["audit", cmd])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "audit {cmd}: {}", text(&o));
    }
}

/// gpg verifies `file` against the certificate `cert`; returns the signer's fingerprint.
fn gpg_verify(cert: &Path, file: &Path) -> String {
    let gpg = Gpg::new();
    gpg.run(&["--import", cert.to_str().unwrap()]);
    let out = gpg.run(&["--status-fd", "1", "--verify", file.to_str().unwrap()]);
    let status = String::from_utf8_lossy(&out.stdout).into_owned();
    status
        .lines()
        .find_map(|l| l.strip_prefix("[GNUPG:] VALIDSIG "))
        .unwrap_or_else(|| panic!("no valid signature: {status}"))
        .split(' ')
        .next()
        .unwrap()
        .to_owned()
}

/// The text a clearsigned file signs (dash-escaping undone).
fn cleartext(signed: &str) -> String {
    let body = signed.split_once("\n\n").unwrap().1;
    let body = body
        .split("\n-----BEGIN PGP SIGNATURE-----")
        .next()
        .unwrap();
    let mut out = String::new();
    for l in body.lines() {
        out.push_str(l.strip_prefix("- ").unwrap_or(l));
        out.push('\n');
    }
    out
}

fn transcript(record: &Path) -> PathBuf {
    let files = crate::common::file_names(record);
    assert_eq!(files.len(), 1, "one transcript: {files:?}");
    record.join(&files[0])
}

fn ceremony_id(log: &[Value]) -> String {
    events_of(log, "ceremony.started")[0]["data"]["ceremony_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn vault_fingerprint(vault: &Path) -> String {
    let o = seedvault()
        .arg("--vault")
        .arg(vault)
        .args(["status", "--json"])
        .output()
        .unwrap();
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    s["vault_fingerprint"].as_str().unwrap().to_owned()
}

#[test]
fn key_ceremony_creates_a_2_of_3_vault_logs_every_step_and_signs_the_transcript() {
    let tmp = tempfile::tempdir().unwrap();
    let (vault, cards, record) = (
        tmp.path().join("vault"),
        tmp.path().join("cards"),
        tmp.path().join("record"),
    );
    let mut passes = Vec::new();
    for n in ["alice", "bob", "carol"] {
        let f = tmp.path().join(format!("{n}.pass"));
        std::fs::write(&f, format!("{n}-rehearsal-passphrase\n")).unwrap();
        passes.push((n, f));
    }
    let mut lines = people(&["Alice A, AL", "Bob B, BB", "Carol C, CC"]);
    lines.extend(std::iter::repeat_n("ww".to_owned(), 13));
    let a = answers(tmp.path(), &lines, &passes);
    let out = run(
        &vault,
        "key-ceremony.toml",
        &record,
        &a,
        &[("cards_out", &cards)],
        &["--insecure-fast-kdf"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !text(&out).contains("rehearsal-passphrase"),
        "a passphrase was shown"
    );

    // A 2-of-3 vault with three cards.
    let st = seedvault()
        .arg("--vault")
        .arg(&vault)
        .args(["status", "--json"])
        .output()
        .unwrap();
    let st: Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(
        (st["threshold"].as_u64(), st["share_count"].as_u64()),
        (Some(2), Some(3)),
        "{st}"
    );
    for n in ["alice", "bob", "carol"] {
        assert!(cards.join(format!("{n}.card")).is_file());
    }

    // The log: genesis, then the ceremony; one entry per step with initials and time.
    let log = exported(&vault, tmp.path());
    assert_eq!(log[0]["event"], "vault.init");
    assert_eq!(log[1]["event"], "ceremony.started");
    let started = &log[1]["data"];
    let sha = seedvault::crypto::hex(&seedvault::crypto::sha256(
        &std::fs::read(script("key-ceremony.toml")).unwrap(),
    ));
    assert_eq!(started["script"], "key-ceremony.toml");
    assert_eq!(started["script_sha256"], sha.as_str());
    assert_eq!(started["participants"].as_array().unwrap().len(), 5);
    assert_eq!(started["participants"][1]["initials"], "WW");
    let steps = events_of(&log, "ceremony.step");
    assert_eq!(steps.len(), 13);
    for (i, s) in steps.iter().enumerate() {
        assert_eq!(s["data"]["step"].as_u64(), Some(i as u64 + 1));
        assert_eq!(s["data"]["initials"], "WW", "{s}");
        assert!(s["data"]["time"].as_str().unwrap().ends_with('Z'), "{s}");
        assert!(
            ["done", "ok"].contains(&s["data"]["result"].as_str().unwrap()),
            "{s}"
        );
    }
    // Steps 1-3 came before the vault existed: logged after genesis with their own times.
    assert!(
        steps[0]["data"]["time"].as_str().unwrap() <= steps[3]["data"]["time"].as_str().unwrap()
    );
    assert_eq!(steps[3]["data"]["action"], "init");
    let finished = events_of(&log, "ceremony.finished");
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0]["data"]["result"], "completed");
    assert_eq!(finished[0]["data"]["steps"].as_u64(), Some(13));
    assert_eq!(log.last().unwrap()["event"], "ceremony.finished");
    // The tool steps' own entries sit between start and finish.
    let (s, f) = (
        position(&log, "ceremony.started"),
        position(&log, "ceremony.finished"),
    );
    for kind in ["card.words_shown", "vault.unsealed"] {
        let p = position(&log, kind);
        assert!(s < p && p < f, "{kind} at {p}, not between {s} and {f}");
    }
    log_is_sound(&vault);

    // The transcript: clearsigned by the vault key, as gpg checks it.
    let file = transcript(&record);
    assert!(file.extension().unwrap() == "asc", "{}", file.display());
    let signer = gpg_verify(&cards.join("vault-cert.asc"), &file);
    assert_eq!(signer, vault_fingerprint(&vault));
    let signed = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        finished[0]["data"]["transcript_sha256"],
        seedvault::crypto::hex(&seedvault::crypto::sha256(signed.as_bytes())).as_str()
    );
    let clear = cleartext(&signed);
    assert!(clear.contains("Step | Activity"), "{clear}");
    assert!(clear.contains("| WW       | "), "{clear}");
    // `ceremony show` rebuilds the same text from the log.
    let id = ceremony_id(&log);
    let show = seedvault()
        .arg("--vault")
        .arg(&vault)
        .args(["ceremony", "show", &id])
        .output()
        .unwrap();
    assert!(show.status.success(), "{}", text(&show));
    assert_eq!(String::from_utf8_lossy(&show.stdout), clear);
    let list = seedvault()
        .arg("--vault")
        .arg(&vault)
        .args(["ceremony", "list"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&list.stdout).contains(&format!("{id}  ")),
        "{}",
        text(&list)
    );
}

/// Answers for `names` in a TestVault: each card's own passphrase file,
/// unless `swap` gives another's.
fn vault_passes<'a>(
    v: &TestVault,
    names: &[&'a str],
    swap: Option<(&'a str, &str)>,
) -> Vec<(&'a str, PathBuf)> {
    names
        .iter()
        .map(|n| match swap {
            Some((who, other)) if who == *n => (*n, v.pass(other)),
            _ => (*n, v.pass(n)),
        })
        .collect()
}

#[test]
fn a_wrong_passphrase_at_card_check_opens_an_exception_with_reason_and_witness_initials() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let record = v.tmp.path().join("record");
    let mut lines = people(&["Alice A, AL"]);
    lines.extend(
        [
            "WW",
            "WW",
            "alice typed an old passphrase; she checks again next week",
            "WW",
            "WW",
        ]
        .map(String::from),
    );
    let a = answers(
        v.tmp.path(),
        &lines,
        &vault_passes(&v, &["alice"], Some(("alice", "bob"))),
    );
    let card = v.card("alice");
    let out = run(
        &v.vault,
        "card-check.toml",
        &record,
        &a,
        &[("custodian", Path::new("alice")), ("card", &card)],
        &[],
    );
    assert!(
        out.status.success(),
        "the script goes on after an exception: {}",
        text(&out)
    );
    assert!(text(&out).contains("wrong passphrase"), "{}", text(&out));

    let log = exported(&v.vault, v.tmp.path());
    let x = events_of(&log, "ceremony.exception");
    assert_eq!(x.len(), 1);
    assert_eq!(x[0]["data"]["step"].as_u64(), Some(2));
    assert_eq!(
        x[0]["data"]["reason"],
        "alice typed an old passphrase; she checks again next week"
    );
    assert_eq!(x[0]["data"]["witness_initials"], "WW");
    assert!(
        x[0]["data"]["error"]
            .as_str()
            .unwrap()
            .contains("wrong passphrase"),
        "{}",
        x[0]
    );
    let steps = events_of(&log, "ceremony.step");
    assert_eq!(steps[1]["data"]["result"], "failed");
    assert_eq!(steps.len(), 3);
    // The card check's own refusal is logged inside the ceremony.
    let (s, f) = (
        position(&log, "ceremony.started"),
        position(&log, "ceremony.finished"),
    );
    let p = position(&log, "vault.unseal_failed");
    assert!(s < p && p < f);
    let fin = &events_of(&log, "ceremony.finished")[0]["data"];
    assert_eq!(
        (fin["result"].as_str(), fin["exceptions"].as_u64()),
        (Some("completed"), Some(1))
    );
    log_is_sound(&v.vault);

    // No quorum was held: the transcript is unsigned and says so.
    let t = std::fs::read_to_string(transcript(&record)).unwrap();
    assert!(t.contains("UNSIGNED"), "{t}");
    assert!(t.contains("Reason: alice typed an old passphrase"), "{t}");
    assert!(
        !text(&out).contains("passphrase-123"),
        "a passphrase was shown"
    );

    // Someone edits the witness's initials in the database: `ceremony show`
    // still prints, but says the log is broken and exits 3.
    let id = ceremony_id(&log);
    v.sqlite(
        "UPDATE audit SET body = CAST(replace(CAST(body AS TEXT), '\"initials\":\"WW\"', '\"initials\":\"XX\"') AS BLOB)
         WHERE json_extract(CAST(body AS TEXT), '$.event') = 'ceremony.step'",
    );
    let show = v.cmd().args(["ceremony", "show", &id]).output().unwrap();
    assert_eq!(show.status.code(), Some(3), "{}", text(&show));
    assert!(
        String::from_utf8_lossy(&show.stderr).contains("proves nothing"),
        "{}",
        text(&show)
    );
}

#[test]
fn an_export_of_an_unapproved_request_aborts_the_ceremony_and_the_log_says_aborted() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    v.ingest("azure-csv", 4, 80_000_000, 3);
    v.add_order("4711", "Acme", &["it@acme.example"], "alice");
    v.assign("4711", 80_000_000..80_000_004, "alice");
    let (key, _) = v.customer_key("Acme IT <it@acme.example>", "acme.asc");
    let req = request_id(&v.create_request("4711", "it@acme.example", "hex", &key, "alice", &[]));
    let media = v.media();
    let record = v.tmp.path().join("record");
    let mut lines = people(&["Bob B, BB", "Carol C, CC"]);
    lines.extend(
        [
            "WW",
            "WW",
            "WW",
            "WW",
            "the request was not approved yet",
            "WW",
        ]
        .map(String::from),
    );
    let a = answers(
        v.tmp.path(),
        &lines,
        &vault_passes(&v, &["bob", "carol"], None),
    );
    let out = run(
        &v.vault,
        "export.toml",
        &record,
        &a,
        &[
            ("request", Path::new(&req)),
            ("media", &media),
            ("card1", &v.card("bob")),
            ("card2", &v.card("carol")),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("aborted"), "{}", text(&out));
    assert!(
        crate::common::file_names(&media).is_empty(),
        "nothing on the medium"
    );

    let log = exported(&v.vault, v.tmp.path());
    let fin = &events_of(&log, "ceremony.finished")[0]["data"];
    assert_eq!(fin["result"], "aborted");
    assert_eq!(
        fin["steps"].as_u64(),
        Some(4),
        "steps 5 and 6 were not walked"
    );
    let x = &events_of(&log, "ceremony.exception")[0]["data"];
    assert_eq!(x["reason"], "the request was not approved yet");
    assert_eq!(x["witness_initials"], "WW");
    log_is_sound(&v.vault);
    // The quorum was held: even the aborted ceremony's transcript is signed.
    let file = transcript(&record);
    gpg_verify(&v.cards.join("vault-cert.asc"), &file);
    assert!(std::fs::read_to_string(&file).unwrap().contains("aborted"));
}

#[test]
fn export_ceremony_puts_the_bundle_and_the_vault_certificate_on_the_medium() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    v.ingest("azure-csv", 4, 81_000_000, 4);
    v.add_order("4712", "Acme", &["it@acme.example"], "alice");
    v.assign("4712", 81_000_000..81_000_004, "alice");
    let (key, _) = v.customer_key("Acme IT <it@acme.example>", "acme.asc");
    let req = request_id(&v.create_request("4712", "it@acme.example", "hex", &key, "alice", &[]));
    v.approve_ok(&req, "bob");
    let media = v.media();
    let record = v.tmp.path().join("record");
    let mut lines = people(&["Bob B, BB", "Carol C, CC"]);
    lines.extend(std::iter::repeat_n("WW".to_owned(), 6));
    let a = answers(
        v.tmp.path(),
        &lines,
        &vault_passes(&v, &["bob", "carol"], None),
    );
    let out = run(
        &v.vault,
        "export.toml",
        &record,
        &a,
        &[
            ("request", Path::new(&req)),
            ("media", &media),
            ("card1", &v.card("bob")),
            ("card2", &v.card("carol")),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let cert = media.join("vault-cert.asc");
    assert!(cert.is_file());
    gpg_verify(&cert, &media.join(format!("4712-{req}.manifest.asc")));
    assert!(media.join(format!("4712-{req}.hex.asc")).is_file());
    gpg_verify(&cert, &transcript(&record));
    let log = exported(&v.vault, v.tmp.path());
    let (s, f) = (
        position(&log, "ceremony.started"),
        position(&log, "ceremony.finished"),
    );
    let p = position(&log, "export.completed");
    assert!(s < p && p < f);
    log_is_sound(&v.vault);
}

#[test]
fn ingest_ceremony_ingests_the_factory_batch() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let (batch, _) = crate::common::make_batch(v.tmp.path(), "azure-csv", 5, 82_000_000, 5);
    let record = v.tmp.path().join("record");
    let mut lines = people(&["Alice A, AL", "Carol C, CC"]);
    lines.extend(std::iter::repeat_n("WW".to_owned(), 5));
    let a = answers(
        v.tmp.path(),
        &lines,
        &vault_passes(&v, &["alice", "carol"], None),
    );
    let out = run(
        &v.vault,
        "ingest.toml",
        &record,
        &a,
        &[
            ("batch", &batch),
            ("label", Path::new("PO-4711")),
            ("card1", &v.card("alice")),
            ("card2", &v.card("carol")),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let log = exported(&v.vault, v.tmp.path());
    let b = &events_of(&log, "batch.ingested")[0]["data"];
    assert_eq!(
        (b["count"].as_u64(), b["label"].as_str()),
        (Some(5), Some("PO-4711"))
    );
    let step = &events_of(&log, "ceremony.step")[2]["data"];
    assert!(
        step["detail"].as_str().unwrap().contains("5 tokens"),
        "{step}"
    );
    gpg_verify(&v.cards.join("vault-cert.asc"), &transcript(&record));
    log_is_sound(&v.vault);
}

#[test]
fn audit_ceremony_on_a_sealed_vault_logs_its_steps_and_writes_the_checkpoint_and_log() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    v.ingest("hex", 3, 83_000_000, 6); // a quorum session: a signed checkpoint exists
    let media = v.media();
    let record = v.tmp.path().join("record");
    let mut lines = people(&["Aude Auditor, AU"]);
    lines.extend(std::iter::repeat_n("WW".to_owned(), 6));
    let a = answers(v.tmp.path(), &lines, &[]);
    let out = run(
        &v.vault,
        "audit.toml",
        &record,
        &a,
        &[("media", &media)],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        crate::common::file_names(&media),
        ["audit-log.jsonl", "checkpoint.asc"]
    );
    gpg_verify(
        &v.cards.join("vault-cert.asc"),
        &media.join("checkpoint.asc"),
    );
    let o = v
        .cmd()
        .args(["audit", "verify", "--checkpoint"])
        .arg(media.join("checkpoint.asc"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let log = exported(&v.vault, v.tmp.path());
    let steps = events_of(&log, "ceremony.step");
    assert_eq!(steps.len(), 6);
    assert!(steps.iter().all(|s| s["data"]["initials"] == "WW"));
    assert_eq!(
        events_of(&log, "ceremony.finished")[0]["data"]["result"],
        "completed"
    );
    assert!(std::fs::read_to_string(transcript(&record))
        .unwrap()
        .contains("UNSIGNED"));
    log_is_sound(&v.vault);
}

#[test]
fn backup_ceremony_writes_a_backup_and_signs_the_transcript() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let out_dir = v.tmp.path().join("backup-media").join("vault-backup");
    std::fs::create_dir_all(out_dir.parent().unwrap()).unwrap();
    let record = v.tmp.path().join("record");
    let mut lines = people(&["Alice A, AL", "Bob B, BB"]);
    lines.extend(std::iter::repeat_n("WW".to_owned(), 4));
    let a = answers(
        v.tmp.path(),
        &lines,
        &vault_passes(&v, &["alice", "bob"], None),
    );
    let out = run(
        &v.vault,
        "backup.toml",
        &record,
        &a,
        &[
            ("out", &out_dir),
            ("card1", &v.card("alice")),
            ("card2", &v.card("bob")),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        out_dir.join("vault.db").is_file(),
        "{:?}",
        crate::common::file_names(&out_dir)
    );
    let log = exported(&v.vault, v.tmp.path());
    let (s, f) = (
        position(&log, "ceremony.started"),
        position(&log, "ceremony.finished"),
    );
    let p = position(&log, "vault.backed_up");
    assert!(s < p && p < f);
    gpg_verify(&v.cards.join("vault-cert.asc"), &transcript(&record));
    log_is_sound(&v.vault);
}

#[test]
fn a_ceremony_killed_before_its_end_leaves_a_sound_log_and_a_rerun_succeeds() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    v.ingest("hex", 3, 84_000_000, 7);
    let mut lines = people(&["Aude Auditor, AU"]);
    lines.extend(std::iter::repeat_n("WW".to_owned(), 6));
    let a = answers(v.tmp.path(), &lines, &[]);
    for point in ["ceremony-step-logged", "ceremony-transcript-written"] {
        let media = v.tmp.path().join(format!("media-{point}"));
        std::fs::create_dir(&media).unwrap();
        let record = v.tmp.path().join(format!("record-{point}"));
        let mut c = seedvault();
        std::fs::create_dir_all(&record).unwrap();
        c.arg("--vault")
            .arg(&v.vault)
            .args(["ceremony", "run"])
            .arg(script("audit.toml"));
        c.arg("--record").arg(&record).arg("--answers").arg(&a);
        c.arg("--set").arg(format!("media={}", media.display()));
        let out = c
            .env("SEEDVAULT_TEST_CRASH_AT", point)
            .write_stdin("")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), None, "killed at {point}: {}", text(&out));
        log_is_sound(&v.vault);
    }
    let list = v.cmd().args(["ceremony", "list"]).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&list.stdout)
            .matches("interrupted")
            .count(),
        2,
        "{}",
        text(&list)
    );
    let media = v.tmp.path().join("media-again");
    std::fs::create_dir(&media).unwrap();
    let out = run(
        &v.vault,
        "audit.toml",
        &v.tmp.path().join("record-again"),
        &a,
        &[("media", &media)],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    log_is_sound(&v.vault);
}
