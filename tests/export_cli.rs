//! Orders, two-person requests and exports as officers and customers meet
//! them: recipient keys made by gpg itself, bundles opened by gpg, codes
//! cross-checked with oathtool, and every refusal writing nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{file_names, read_truth, request_id, text, Gpg, TestVault};

struct Flow {
    v: TestVault,
    truth: Vec<(String, String, u64)>,
    media: PathBuf,
}

/// A vault with 20 tokens, order 1234 holding the first 10, requester it@acme.example.
fn flow_with(extra_init: &[&str]) -> Flow {
    let v = if extra_init.is_empty() {
        TestVault::new(2, &["alice", "bob", "carol"])
    } else {
        TestVault::with_init_args(2, &["alice", "bob", "carol"], extra_init)
    };
    let truth = v.ingest("azure-csv", 20, 50_000_000, 11);
    v.add_order("1234", "Acme", &["IT@acme.example"], "alice");
    v.assign("1234", 50_000_000..50_000_010, "alice");
    let media = v.media();
    Flow {
        v,
        truth: read_truth(&truth),
        media,
    }
}

fn create(f: &Flow, key: &Path, by: &str, extra: &[&str]) -> std::process::Output {
    f.v.create_request("1234", "it@acme.example", "azure-csv", key, by, extra)
}

/// The Entra rules a strict importer checks.
fn assert_entra_csv(csv: &str) -> Vec<(String, String)> {
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("upn,serial number,secret key,time interval,manufacturer,model")
    );
    let mut rows = Vec::new();
    for l in lines.filter(|l| !l.is_empty()) {
        let f: Vec<&str> = l.split(',').collect();
        assert_eq!(f.len(), 6, "{l}");
        assert!(!f[2].is_empty() && f[2].len() <= 128, "{l}");
        assert!(
            f[2].bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)),
            "Base32 alphabet: {l}"
        );
        assert!(f[3] == "30" || f[3] == "60", "{l}");
        rows.push((f[1].to_owned(), f[2].to_owned()));
    }
    rows
}

fn exported_end_to_end(primary: &str, sub: &str) {
    let f = flow_with(&[]);
    let gpg = Gpg::new();
    gpg.make(
        "Acme IT <it@acme.example>",
        primary,
        Some(sub),
        "never",
        None,
    );
    let key = gpg.export("it@acme.example", &f.v.tmp.path().join("acme.asc"));
    let out = create(&f, &key, "alice", &[]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let req = request_id(&out);
    assert!(
        stdout.contains(&gpg.fpr("it@acme.example")),
        "fingerprint shown for confirmation: {stdout}"
    );
    f.v.approve_ok(&req, "bob");
    f.v.export_ok(&req, &f.media, &["carol", "alice"]);
    // The export session ended with a signed checkpoint of the log's head.
    assert_eq!(
        f.v.sqlite("SELECT max(seq) FROM checkpoints"),
        f.v.sqlite("SELECT max(seq) FROM audit")
    );
    assert_eq!(
        file_names(&f.media),
        vec![
            format!("1234-{req}.azure-csv.asc"),
            format!("1234-{req}.manifest.asc")
        ]
    );

    gpg.run(&[
        "--import",
        f.v.cards.join("vault-cert.asc").to_str().unwrap(),
    ]);
    let dec = gpg.run(&[
        "--status-fd",
        "2",
        "--decrypt",
        f.media
            .join(format!("1234-{req}.azure-csv.asc"))
            .to_str()
            .unwrap(),
    ]);
    let status = String::from_utf8_lossy(&dec.stderr);
    assert!(
        status.contains("GOODSIG") && status.contains("VALIDSIG"),
        "{status}"
    );
    let csv = String::from_utf8(dec.stdout).unwrap();
    let rows = assert_entra_csv(&csv);
    // Exactly the approved serials, with the factory's seeds.
    let want: Vec<(String, String)> = f.truth[..10]
        .iter()
        .map(|(s, h, _)| {
            (
                s.clone(),
                data_encoding::BASE32_NOPAD
                    .encode(&data_encoding::HEXLOWER.decode(h.as_bytes()).unwrap()),
            )
        })
        .collect();
    assert_eq!(rows, want);
    let ver = gpg.run(&[
        "--status-fd",
        "2",
        "--verify",
        f.media
            .join(format!("1234-{req}.manifest.asc"))
            .to_str()
            .unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&ver.stderr).contains("GOODSIG"));
    let manifest =
        std::fs::read_to_string(f.media.join(format!("1234-{req}.manifest.asc"))).unwrap();
    let sha = {
        let out = Command::new("sha256sum")
            .arg(f.media.join(format!("1234-{req}.azure-csv.asc")))
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    for line in [
        &format!("bundle-sha256: {sha}"),
        "serials: 10",
        "test-vault: yes",
        "order: 1234",
        &format!("request: {req}"),
    ] {
        assert!(
            manifest.contains(line),
            "manifest lacks {line:?}:\n{manifest}"
        );
    }

    // oathtool computes from an exported secret the code the vault accepts at drift 0.
    crate::common::require_tool("oathtool");
    let (serial, secret) = &rows[3];
    let at = 1_800_000_000u64;
    let code = Command::new("oathtool")
        .args(["--totp", "-b", &format!("--now=@{at}"), secret])
        .output()
        .unwrap();
    let code = String::from_utf8(code.stdout).unwrap().trim().to_owned();
    let out =
        f.v.cmd()
            .args([
                "verify-token",
                serial,
                "--code",
                &code,
                "--at",
                &at.to_string(),
                "--json",
            ])
            .args(f.v.quorum(&["alice", "bob"]))
            .output()
            .unwrap();
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (r["matched"].clone(), r["drift"].clone()),
        (serde_json::json!(true), serde_json::json!(0))
    );

    // Exported serials: order show says so, and they are not requested again by default.
    let o: serde_json::Value = serde_json::from_slice(
        &f.v.cmd()
            .args(["order", "show", "--id", "1234", "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(o["exported"].as_array().unwrap().len(), 10);
    // A serial's history shows its whole way out of the vault.
    let r: serde_json::Value = serde_json::from_slice(
        &f.v.cmd()
            .args(["serial", "show", serial, "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(r["exports"], 1);
    let events: Vec<&str> = r["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["event"].as_str().unwrap())
        .collect();
    for want in [
        "batch.ingested",
        "order.assigned",
        "request.created",
        "export.completed",
    ] {
        assert!(
            events.contains(&want),
            "{want} missing from the history {events:?}"
        );
    }
    f.v.cmd().args(["audit", "verify"]).assert().success();
}

#[test]
fn rsa3072_recipient_made_by_gpg_opens_the_bundle_in_gpg() {
    exported_end_to_end("rsa3072", "rsa3072");
}

#[test]
fn curve25519_recipient_made_by_gpg_opens_the_bundle_in_gpg() {
    exported_end_to_end("ed25519", "cv25519");
}

#[test]
fn every_request_refusal_names_its_cause_and_writes_nothing() {
    let f = flow_with(&[]);
    let gpg = Gpg::new();
    let dir = f.v.tmp.path();
    gpg.make(
        "Good <good@acme.example>",
        "ed25519",
        Some("cv25519"),
        "never",
        None,
    );
    let good = gpg.export("good@acme.example", &dir.join("good.asc"));
    gpg.make("Signer <sign@acme.example>", "ed25519", None, "never", None);
    let sign_only = gpg.export("sign@acme.example", &dir.join("sign.asc"));
    gpg.make(
        "Old <old@acme.example>",
        "ed25519",
        Some("cv25519"),
        "1d",
        Some("20200101T000000"),
    );
    let expired = gpg.export("old@acme.example", &dir.join("old.asc"));
    gpg.make(
        "Weak <weak@acme.example>",
        "rsa1024",
        Some("rsa1024"),
        "never",
        None,
    );
    let weak = gpg.export("weak@acme.example", &dir.join("weak.asc"));
    let fpr = gpg.make(
        "Gone <gone@acme.example>",
        "ed25519",
        Some("cv25519"),
        "never",
        None,
    );
    let rev = std::fs::read_to_string(gpg.home.path().join(format!("openpgp-revocs.d/{fpr}.rev")))
        .unwrap();
    std::fs::write(
        dir.join("rev.asc"),
        rev.replace(":-----BEGIN", "-----BEGIN"),
    )
    .unwrap();
    gpg.run(&["--import", dir.join("rev.asc").to_str().unwrap()]);
    let revoked = gpg.export("gone@acme.example", &dir.join("gone.asc"));
    let armored = std::fs::read_to_string(&good).unwrap();
    let cut: Vec<&str> = armored
        .lines()
        .filter(|l| !l.starts_with("-----END"))
        .collect();
    let no_end = dir.join("noend.asc");
    std::fs::write(&no_end, cut.join("\n")).unwrap();

    let check = |key: &Path, extra: &[&str], requester: &str, want: &str| {
        let out =
            f.v.cmd()
                .args([
                    "request",
                    "create",
                    "--order",
                    "1234",
                    "--requester",
                    requester,
                    "--format",
                    "azure-csv",
                    "--recipient-key",
                ])
                .arg(key)
                .args(extra)
                .args(f.v.officer("alice"))
                .output()
                .unwrap();
        assert_eq!(out.status.code(), Some(1), "{want}: {}", text(&out));
        assert!(
            text(&out).to_lowercase().contains(&want.to_lowercase()),
            "expected {want:?} in: {}",
            text(&out)
        );
    };
    check(
        &good,
        &[],
        "eve@evil.example",
        "eve@evil.example is not authorized",
    );
    let outside = dir.join("outside.txt");
    std::fs::write(&outside, "50000001\n50000015\n").unwrap();
    check(
        &good,
        &["--serials-file", outside.to_str().unwrap()],
        "it@acme.example",
        "serial 50000015 is not one recorded for order 1234",
    );
    check(&no_end, &[], "it@acme.example", "END");
    check(&expired, &[], "it@acme.example", "expired");
    check(&revoked, &[], "it@acme.example", "revoked");
    check(&sign_only, &[], "it@acme.example", "encryption");
    check(&weak, &[], "it@acme.example", "1024");
    // Every problem at once: bad requester and bad key together.
    let out =
        f.v.cmd()
            .args([
                "request",
                "create",
                "--order",
                "1234",
                "--requester",
                "eve@evil.example",
                "--format",
                "azure-csv",
                "--recipient-key",
            ])
            .arg(&sign_only)
            .args(f.v.officer("alice"))
            .output()
            .unwrap();
    assert!(text(&out).contains("2 problem(s)"), "{}", text(&out));

    // Voided serial.
    f.v.cmd()
        .args(["serial", "void", "50000002", "--reason", "reprogrammed"])
        .args(f.v.officer("bob"))
        .assert()
        .success();
    let one = dir.join("one.txt");
    std::fs::write(&one, "50000002\n").unwrap();
    check(
        &good,
        &["--serials-file", one.to_str().unwrap()],
        "it@acme.example",
        "serial 50000002 is voided",
    );

    // Approval by the creator; export of an unapproved request.
    let req = request_id(&create(&f, &good, "alice", &[]));
    let out = f.v.approve(&req, "alice");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("two-person rule"), "{}", text(&out));
    let out = f.v.export(&req, &f.media, &["alice", "bob"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("not approved"), "{}", text(&out));
    // Media inside the vault is refused.
    f.v.approve_ok(&req, "bob");
    let out = f.v.export(&req, &f.v.vault, &["alice", "bob"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("inside the vault"), "{}", text(&out));
    let out =
        f.v.export(&req, &dir.join("no-such-medium"), &["alice", "bob"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("does not exist"), "{}", text(&out));
    assert!(
        file_names(&f.media).is_empty(),
        "nothing on the medium: {:?}",
        file_names(&f.media)
    );

    // Already exported, then again without --reexport.
    f.v.export_ok(&req, &f.media, &["alice", "bob"]);
    let before = file_names(&f.media);
    check(
        &good,
        &[
            "--serials-file",
            outside.to_str().unwrap().replace("outside", "one").as_str(),
        ],
        "it@acme.example",
        "voided",
    );
    let again = dir.join("again.txt");
    std::fs::write(&again, "50000003\n").unwrap();
    check(
        &good,
        &["--serials-file", again.to_str().unwrap()],
        "it@acme.example",
        "serial 50000003 was already exported",
    );
    let out = create(
        &f,
        &good,
        "carol",
        &[
            "--serials-file",
            again.to_str().unwrap(),
            "--reexport",
            "--reason",
            "customer lost the file",
        ],
    );
    request_id(&out);
    assert_eq!(file_names(&f.media), before);
    let refused =
        f.v.sqlite("SELECT count(*) FROM audit WHERE CAST(body AS TEXT) LIKE '%request.refused%'");
    assert!(
        refused.trim().parse::<u32>().unwrap() >= 9,
        "refusals are logged: {refused}"
    );
    f.v.cmd().args(["audit", "verify"]).assert().success();
}

#[test]
fn an_expired_approval_cannot_be_exported() {
    let f = flow_with(&["--approval-ttl-seconds", "1"]);
    let gpg = Gpg::new();
    gpg.make(
        "Acme IT <it@acme.example>",
        "ed25519",
        Some("cv25519"),
        "never",
        None,
    );
    let key = gpg.export("it@acme.example", &f.v.tmp.path().join("acme.asc"));
    let req = request_id(&create(&f, &key, "alice", &[]));
    f.v.approve_ok(&req, "bob");
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let out = f.v.export(&req, &f.media, &["alice", "bob"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("expired"), "{}", text(&out));
    assert!(file_names(&f.media).is_empty());
}

#[test]
fn rejection_is_signed_logged_and_final() {
    let f = flow_with(&[]);
    let gpg = Gpg::new();
    gpg.make(
        "Acme IT <it@acme.example>",
        "ed25519",
        Some("cv25519"),
        "never",
        None,
    );
    let key = gpg.export("it@acme.example", &f.v.tmp.path().join("acme.asc"));
    let req = request_id(&create(&f, &key, "alice", &[]));
    f.v.cmd()
        .args(["request", "reject", &req, "--reason", "order not paid"])
        .args(f.v.officer("bob"))
        .assert()
        .success();
    f.v.cmd()
        .args(["request", "approve", &req])
        .args(f.v.officer("carol"))
        .assert()
        .code(1);
    let list: serde_json::Value = serde_json::from_slice(
        &f.v.cmd()
            .args(["request", "list", "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(list[0]["state"], "rejected");
    assert_eq!(list[0]["reject_reason"], "order not paid");
    // The logged decision carries bob's signature over the statement, verifiable with gpg and bob's certificate from the genesis.
    let body = f.v.sqlite(
        "SELECT CAST(body AS TEXT) FROM audit WHERE CAST(body AS TEXT) LIKE '%request.rejected%'",
    );
    let entry: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    let genesis: serde_json::Value = serde_json::from_str(
        f.v.sqlite("SELECT CAST(body AS TEXT) FROM audit WHERE seq = 1")
            .trim(),
    )
    .unwrap();
    let bob = genesis["data"]["custodians"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "bob")
        .unwrap();
    let cert = data_encoding::BASE64
        .decode(bob["officer_cert"].as_str().unwrap().as_bytes())
        .unwrap();
    let dir = f.v.tmp.path();
    std::fs::write(dir.join("bob.pgp"), cert).unwrap();
    std::fs::write(
        dir.join("statement.txt"),
        entry["data"]["statement"].as_str().unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("statement.sig"),
        entry["data"]["signature"].as_str().unwrap(),
    )
    .unwrap();
    gpg.run(&["--import", dir.join("bob.pgp").to_str().unwrap()]);
    let v = gpg.run(&[
        "--status-fd",
        "2",
        "--verify",
        dir.join("statement.sig").to_str().unwrap(),
        dir.join("statement.txt").to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&v.stderr).contains("GOODSIG"));
}

#[test]
fn the_readme_demo_exports_a_bundle_gpg_opens() {
    crate::common::require_tool("gpg");
    let tmp = tempfile::tempdir().unwrap();
    let demo = tmp.path().join("demo");
    let out = crate::common::seedvault()
        .args(["demo", "--dir"])
        .arg(&demo)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let gpg = Gpg::new();
    gpg.run(&[
        "--import",
        demo.join("customer/customer-secret-key.asc")
            .to_str()
            .unwrap(),
        demo.join("cards/vault-cert.asc").to_str().unwrap(),
    ]);
    let bundle = std::fs::read_dir(demo.join("media"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".azure-csv.asc"))
        .unwrap();
    let dec = gpg.run(&["--status-fd", "2", "--decrypt", bundle.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&dec.stderr).contains("GOODSIG"));
    assert_eq!(
        assert_entra_csv(&String::from_utf8(dec.stdout).unwrap()).len(),
        10
    );
    crate::common::seedvault()
        .arg("--vault")
        .arg(demo.join("vault"))
        .args(["audit", "verify"])
        .assert()
        .success();
}

/// The standard flow with a request for all of order 1234, created by
/// alice for a sequoia-made customer key and approved by bob.
fn approved_request() -> (Flow, String) {
    let f = flow_with(&[]);
    let key = seedvault::pgp::keys::generate_customer_key("Acme IT <it@acme.example>").unwrap();
    let kf = f.v.tmp.path().join("acme.asc");
    std::fs::write(&kf, key.public_armored().unwrap()).unwrap();
    let req = request_id(&create(&f, &kf, "alice", &[]));
    f.v.approve_ok(&req, "bob");
    (f, req)
}

#[test]
fn an_export_killed_after_it_started_is_visible_in_status_and_the_log() {
    let (f, req) = approved_request();
    let out =
        f.v.cmd()
            .env("SEEDVAULT_TEST_CRASH_AT", "export-started")
            .args(["export", &req, "--media"])
            .arg(&f.media)
            .args(f.v.quorum(&["alice", "bob"]))
            .output()
            .unwrap();
    assert!(
        !out.status.success(),
        "the export was meant to die: {}",
        text(&out)
    );
    assert!(
        file_names(&f.media).is_empty(),
        "nothing was written before the crash point"
    );
    let s: serde_json::Value = serde_json::from_slice(
        &f.v.cmd()
            .args(["status", "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(s["unfinished_exports"][0]["request_id"], req.as_str());
    assert_eq!(s["counts"]["exported"], 0, "nothing marked exported");
    f.v.cmd()
        .arg("status")
        .assert()
        .success()
        .stdout(predicates::str::contains("never completed"));
    // A kill is not tampering: the tables and the log agree, and replay
    // names the unfinished export without failing (the crash harness).
    let out = f.v.cmd().args(["audit", "replay"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("UNFINISHED export 1 of request R0001 started and never completed"),
        "{}",
        text(&out)
    );
    // The chain itself is intact: the entry is there, its completion is not.
    f.v.cmd().args(["audit", "verify"]).assert().success();
}

/// A tmpfs mounted for one test and unmounted when dropped.
struct TinyMedium(PathBuf);

impl TinyMedium {
    fn mount(at: PathBuf, size: &str) -> TinyMedium {
        std::fs::create_dir_all(&at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&at)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs as a full medium and needs root: {}",
            text(&out)
        );
        TinyMedium(at)
    }
}

impl Drop for TinyMedium {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_medium_is_refused_and_nothing_is_marked_exported() {
    let (f, req) = approved_request();
    let medium = TinyMedium::mount(f.v.tmp.path().join("usb"), "16k");
    std::fs::write(medium.0.join("filler"), vec![0u8; 12 * 1024]).unwrap();
    let out = f.v.export(&req, &medium.0, &["alice", "bob"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("bytes free"), "{}", text(&out));
    let left: Vec<_> = std::fs::read_dir(&medium.0)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        left,
        vec![std::ffi::OsString::from("filler")],
        "no partial file left"
    );
    let s: serde_json::Value = serde_json::from_slice(
        &f.v.cmd()
            .args(["status", "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(s["counts"]["exported"], 0);
    assert_eq!(
        s["requests_approved"], 1,
        "the request stays approved for a retry on another medium"
    );
    // On a medium with room, the same request exports.
    f.v.export_ok(&req, &f.media, &["alice", "bob"]);
}

#[test]
fn a_medium_that_fills_up_mid_write_leaves_no_partial_file_and_marks_nothing_exported() {
    let (f, req) = approved_request();
    // Debug builds only: half the bundle is written, then the medium reports
    // "no space left", as one filled by something else meanwhile would.
    let out =
        f.v.cmd()
            .env("SEEDVAULT_TEST_FAIL_AT", "media-full")
            .args(["export", &req, "--media"])
            .arg(&f.media)
            .args(f.v.quorum(&["alice", "bob"]))
            .output()
            .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("No space left on device"),
        "{}",
        text(&out)
    );
    assert!(
        file_names(&f.media).is_empty(),
        "no partial file left: {:?}",
        file_names(&f.media)
    );
    let s: serde_json::Value = serde_json::from_slice(
        &f.v.cmd()
            .args(["status", "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(s["counts"]["exported"], 0, "nothing marked exported");
    let failed = f.v.sqlite(
        "SELECT CAST(body AS TEXT) FROM audit WHERE CAST(body AS TEXT) LIKE '%export.failed%'",
    );
    assert!(
        failed.contains("No space left on device"),
        "the failure and its reason are logged: {failed}"
    );
    f.v.cmd().args(["audit", "replay"]).assert().success();
    // The request stays approved: on a medium with room it exports.
    f.v.export_ok(&req, &f.media, &["alice", "bob"]);
    assert_eq!(file_names(&f.media).len(), 2);
}

#[test]
fn a_serial_listed_twice_and_a_format_that_cannot_hold_the_tokens_are_refused_by_name() {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    // Two 60-second TOTP tokens: hex and base32 files cannot say "60 s".
    let f = v.tmp.path().join("t.otpauth");
    std::fs::write(
        &f,
        "otpauth://totp/Token2:880001?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&period=60\n\
         otpauth://totp/Token2:880002?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&period=60\n",
    )
    .unwrap();
    v.ingest_file(&f);
    v.cmd()
        .args([
            "order",
            "add",
            "--id",
            "9",
            "--customer",
            "C",
            "--email",
            "c@c.example",
        ])
        .args(v.officer("alice"))
        .assert()
        .success();
    let s = v.tmp.path().join("s.txt");
    std::fs::write(&s, "880001\n880002\n").unwrap();
    v.cmd()
        .args(["order", "assign", "--id", "9", "--serials-file"])
        .arg(&s)
        .args(v.officer("alice"))
        .assert()
        .success();
    let key = seedvault::pgp::keys::generate_customer_key("C <c@c.example>").unwrap();
    let kf = v.tmp.path().join("c.asc");
    std::fs::write(&kf, key.public_armored().unwrap()).unwrap();
    let request = |format: &str, serials: &str| {
        let sf = v.tmp.path().join("req.txt");
        std::fs::write(&sf, serials).unwrap();
        v.cmd()
            .args([
                "request",
                "create",
                "--order",
                "9",
                "--requester",
                "c@c.example",
                "--format",
                format,
                "--recipient-key",
            ])
            .arg(&kf)
            .arg("--serials-file")
            .arg(&sf)
            .args(v.officer("alice"))
            .output()
            .unwrap()
    };
    let out = request("otpauth", "880001\n880001\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("serial 880001 is listed twice"),
        "{}",
        text(&out)
    );
    let out = request("hex", "880001\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("cannot be written as hex:\n  serial 880001: TOTP with a 60 s time step; the file can only mean TOTP with a 30 s time step"),
        "{}",
        text(&out)
    );
    // otpauth carries the period: accepted.
    assert!(request("otpauth", "880001\n880002\n").status.success());
}

/// `(serial, secret hex)` lines.
type SerialHex = Vec<(String, String)>;
/// A vault holding `count` hex tokens from `first`, all in order 55; the
/// request (`serials` of them, or all) is made, approved, exported and
/// decrypted by gpg. Returns the truth and the decrypted `(serial, hex)` lines.
fn export_hex(count: u32, first: u64, pick: impl Fn(usize) -> bool) -> (SerialHex, SerialHex) {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    let truth = v.ingest("base32", count, first, 31);
    v.cmd()
        .args([
            "order",
            "add",
            "--id",
            "55",
            "--customer",
            "Big",
            "--email",
            "it@big.example",
        ])
        .args(v.officer("alice"))
        .assert()
        .success();
    let truth = read_truth(&truth);
    let list = v.tmp.path().join("all.txt");
    std::fs::write(
        &list,
        truth
            .iter()
            .map(|t| t.0.clone())
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    v.cmd()
        .args(["order", "assign", "--id", "55", "--serials-file"])
        .arg(&list)
        .args(v.officer("alice"))
        .assert()
        .success();
    let mut wanted: Vec<(String, String)> = truth
        .iter()
        .enumerate()
        .filter(|(i, _)| pick(*i))
        .map(|(_, t)| (t.0.clone(), t.1.clone()))
        .collect();
    let picked = v.tmp.path().join("picked.txt");
    std::fs::write(
        &picked,
        wanted
            .iter()
            .map(|t| t.0.clone())
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    let gpg = Gpg::new();
    gpg.make(
        "Big IT <it@big.example>",
        "ed25519",
        Some("cv25519"),
        "never",
        None,
    );
    let key = gpg.export("it@big.example", &v.tmp.path().join("big.asc"));
    let out = v
        .cmd()
        .args([
            "request",
            "create",
            "--order",
            "55",
            "--requester",
            "it@big.example",
            "--format",
            "hex",
            "--recipient-key",
        ])
        .arg(&key)
        .arg("--serials-file")
        .arg(&picked)
        .args(v.officer("alice"))
        .output()
        .unwrap();
    let req = request_id(&out);
    v.approve_ok(&req, "bob");
    let media = v.tmp.path().join("media");
    std::fs::create_dir(&media).unwrap();
    v.export_ok(&req, &media, &["alice", "bob"]);
    gpg.run(&["--import", v.cards.join("vault-cert.asc").to_str().unwrap()]);
    let dec = gpg.run(&[
        "--decrypt",
        media.join(format!("55-{req}.hex.asc")).to_str().unwrap(),
    ]);
    let got: Vec<(String, String)> = String::from_utf8(dec.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (s, h) = l.split_once(',').unwrap();
            (s.to_owned(), h.to_owned())
        })
        .collect();
    wanted.sort();
    (wanted, got)
}

#[test]
fn a_large_request_exports_every_serial_in_order_with_its_factory_seed() {
    let (want, got) = export_hex(12_000, 40_000_000, |_| true);
    assert_eq!(got.len(), 12_000);
    assert_eq!(
        got, want,
        "every serial, in serial order, with its factory seed"
    );
}

#[test]
fn a_request_of_scattered_serials_and_runs_exports_exactly_those() {
    // Single serials far apart, a contiguous run, small gaps and the very
    // first and last serial of the vault: every way the export's walk over
    // the seeds can move from one requested serial to the next.
    let pick = |i: usize| {
        i == 0
            || i == 2999
            || i % 97 == 5
            || (1000..1600).contains(&i)
            || (2000..2100).contains(&i) && i % 3 == 0
    };
    let picked: Vec<usize> = (0..3_000).filter(|&i| pick(i)).collect();
    let gaps: Vec<usize> = picked.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.contains(&1) && gaps.contains(&3) && gaps.iter().any(|&g| g > 50),
        "the pick has runs, small gaps and far jumps"
    );
    let (want, got) = export_hex(3_000, 70_000_000, pick);
    assert_eq!(want.len(), picked.len());
    assert_eq!(
        got, want,
        "exactly the requested serials, in order, with their factory seeds"
    );
}

#[test]
fn two_approved_requests_for_the_same_serial_export_it_once() {
    let (f, first) = approved_request();
    let key = seedvault::pgp::keys::generate_customer_key("Acme IT <it@acme.example>").unwrap();
    let kf = f.v.tmp.path().join("acme2.asc");
    std::fs::write(&kf, key.public_armored().unwrap()).unwrap();
    let one = f.v.tmp.path().join("one.txt");
    std::fs::write(&one, "50000003\n").unwrap();
    let second = request_id(&create(
        &f,
        &kf,
        "alice",
        &["--serials-file", one.to_str().unwrap()],
    ));
    f.v.approve_ok(&second, "bob");
    f.v.export_ok(&first, &f.media, &["alice", "bob"]);
    let before = file_names(&f.media);
    let out = f.v.export(&second, &f.media, &["alice", "bob"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("serial 50000003 was exported meanwhile"),
        "{}",
        text(&out)
    );
    assert_eq!(
        file_names(&f.media),
        before,
        "the second export wrote nothing"
    );
}

/// Moves two seeds' ciphertexts to each other's rows (each still opens
/// under its own key, but not under the other row's AAD).
fn swap_sealed_seeds_of_50000004_and_50000005(v: &TestVault) {
    v.sqlite(
        "UPDATE seeds SET sealed = CASE serial
            WHEN '50000004' THEN (SELECT sealed FROM seeds WHERE serial = '50000005')
            WHEN '50000005' THEN (SELECT sealed FROM seeds WHERE serial = '50000004') END
         WHERE serial IN ('50000004', '50000005')",
    );
}

#[test]
fn a_seed_ciphertext_moved_to_another_row_stops_the_export_as_tampering() {
    let (f, req) = approved_request();
    swap_sealed_seeds_of_50000004_and_50000005(&f.v);
    let out = f.v.export(&req, &f.media, &["alice", "bob"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("integrity check failed for the seed of serial 50000004"),
        "{}",
        text(&out)
    );
    assert!(
        file_names(&f.media).is_empty(),
        "nothing on the medium: {:?}",
        file_names(&f.media)
    );
    let started =
        f.v.sqlite("SELECT count(*) FROM audit WHERE CAST(body AS TEXT) LIKE '%export.started%'");
    assert_eq!(started.trim(), "0", "no export was started");
}

#[test]
fn an_altered_seed_is_reported_as_tampering_before_a_later_voided_serial() {
    // The seeds are opened on the formatting thread while the reader goes
    // on: a serial voided after the altered seed must not hide it.
    let (f, req) = approved_request();
    swap_sealed_seeds_of_50000004_and_50000005(&f.v);
    f.v.cmd()
        .args(["serial", "void", "50000007", "--reason", "reprogrammed"])
        .args(f.v.officer("bob"))
        .assert()
        .success();
    let out = f.v.export(&req, &f.media, &["alice", "bob"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("integrity check failed for the seed of serial 50000004"),
        "{}",
        text(&out)
    );
    assert!(file_names(&f.media).is_empty());
}

#[test]
fn serials_voided_or_gone_since_approval_are_all_named_and_nothing_is_written() {
    let (f, req) = approved_request();
    f.v.cmd()
        .args(["serial", "void", "50000002", "--reason", "reprogrammed"])
        .args(f.v.officer("bob"))
        .assert()
        .success();
    f.v.sqlite("DELETE FROM seeds WHERE serial = '50000007'");
    let out = f.v.export(&req, &f.media, &["alice", "bob"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    for want in [
        "serial 50000002 was voided",
        "serial 50000007 is no longer in the vault",
    ] {
        assert!(
            text(&out).contains(want),
            "expected {want:?} in: {}",
            text(&out)
        );
    }
    assert!(
        file_names(&f.media).is_empty(),
        "nothing on the medium: {:?}",
        file_names(&f.media)
    );
    let started =
        f.v.sqlite("SELECT count(*) FROM audit WHERE CAST(body AS TEXT) LIKE '%export.started%'");
    assert_eq!(started.trim(), "0", "no export was started");
}
