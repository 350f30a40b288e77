//! Exports bound to what the officers signed: a database edited with the
//! sqlite3 CLI (recipient, serials, state, format, expiry) is refused at
//! export with exit 3 and nothing on the medium, and `audit replay` names
//! the edit; free text cannot add a line to a signed statement; and a
//! decision or export that lost a race with another console is refused.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{file_names, request_id, text, TestVault};
use seedvault::vault::statement::{self, Decision};

struct Flow {
    v: TestVault,
    media: PathBuf,
}

/// A 2-of-3 vault (alice, bob, carol) with 12 tokens; order 1234 holds the
/// first 8; a customer certificate in `acme.asc`.
fn flow() -> Flow {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    v.ingest("azure-csv", 12, 60_000_000, 7);
    v.add_order("1234", "Acme", &["it@acme.example"], "alice");
    v.assign("1234", 60_000_000..60_000_008, "alice");
    v.customer_key("Acme IT <it@acme.example>", "acme.asc");
    let media = v.media();
    Flow { v, media }
}

/// `request create` by alice, as hex; returns the request id.
fn create(f: &Flow) -> String {
    let key = f.v.tmp.path().join("acme.asc");
    request_id(&f.v.create_request("1234", "it@acme.example", "hex", &key, "alice", &[]))
}

fn approve(f: &Flow, id: &str, by: &str) -> std::process::Output {
    f.v.approve(id, by)
}

fn export_to(f: &Flow, id: &str, media: &Path) -> std::process::Output {
    f.v.export(id, media, &["alice", "carol"])
}

fn replay(v: &TestVault) -> std::process::Output {
    v.cmd().args(["audit", "replay"]).output().unwrap()
}

/// R0001 created by alice and approved by bob; replay agrees with the tables.
fn approved() -> (Flow, String) {
    let f = flow();
    let id = create(&f);
    let out = approve(&f, &id, "bob");
    assert!(out.status.success(), "{}", text(&out));
    let r = replay(&f.v);
    assert!(r.status.success(), "clean vault: {}", text(&r));
    (f, id)
}

/// After `sql`, the export is refused as tampering (exit 3) naming
/// `export_says`, nothing reaches the medium, the refusal is logged, and
/// `audit replay` exits 3 naming `replay_says`.
fn refused_as_tampering(f: &Flow, id: &str, sql: &str, export_says: &str, replay_says: &str) {
    f.v.sqlite(sql);
    let out = export_to(f, id, &f.media);
    let msg = text(&out);
    assert_eq!(out.status.code(), Some(3), "{sql}: {msg}");
    assert!(msg.contains(export_says), "{sql}: {msg}");
    assert!(
        file_names(&f.media).is_empty(),
        "{sql}: {:?}",
        file_names(&f.media)
    );
    assert_eq!(f.v.events("export.refused"), 1, "{sql}");
    assert_eq!(f.v.events("export.started"), 0, "{sql}");
    let r = replay(&f.v);
    assert_eq!(r.status.code(), Some(3), "{sql}: {}", text(&r));
    assert!(text(&r).contains(replay_says), "{sql}: {}", text(&r));
}

#[test]
fn a_swapped_recipient_is_refused_and_replay_names_it() {
    let (f, id) = approved();
    let (mallory, fpr) = f.v.customer_key("Mallory <m@evil.example>", "mallory.asc");
    // The binary certificate, as the vault stores it.
    let cert = seedvault::pgp::keys::parse_public_cert(&std::fs::read(&mallory).unwrap()).unwrap();
    let bytes = sequoia_openpgp::serialize::SerializeInto::to_vec(&cert).unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
    refused_as_tampering(
        &f,
        &id,
        &format!("UPDATE requests SET recipient_cert = X'{hex}', recipient_fpr = '{fpr}'"),
        "recipient",
        "recipient fingerprint is",
    );
}

#[test]
fn a_swapped_serial_is_refused_and_replay_names_it() {
    let (f, id) = approved();
    refused_as_tampering(
        &f,
        &id,
        "UPDATE request_serials SET serial = '60000010' WHERE serial = '60000003'",
        "serials",
        "its serials differ from the log (in the table only: 60000010; signed only: 60000003)",
    );
}

#[test]
fn a_forged_approval_is_refused_and_replay_names_it() {
    let f = flow();
    let id = create(&f);
    refused_as_tampering(
        &f,
        &id,
        "UPDATE requests SET state = 'approved', decided_by = 'bob', expires_at = 4102444800",
        "no signed approval",
        "marked approved in the table, but the log holds no signed approval",
    );
}

#[test]
fn a_changed_format_is_refused_and_replay_names_it() {
    let (f, id) = approved();
    refused_as_tampering(
        &f,
        &id,
        "UPDATE requests SET format = 'base32'",
        "format",
        "the table's format is base32, the signed request's hex",
    );
}

#[test]
fn a_prolonged_expiry_is_refused_and_replay_names_it() {
    let (f, id) = approved();
    refused_as_tampering(
        &f,
        &id,
        "UPDATE requests SET expires_at = expires_at + 31536000",
        "expiry changed",
        "the decision signature or expiry in the table",
    );
}

#[test]
fn an_approval_moved_to_its_creator_is_refused() {
    let (f, id) = approved();
    refused_as_tampering(
        &f,
        &id,
        "UPDATE requests SET decided_by = 'alice'",
        "two-person rule",
        "decided by Some(\"alice\")",
    );
}

#[test]
fn the_honest_export_names_the_signed_approver() {
    let (f, id) = approved();
    let out = export_to(&f, &id, &f.media);
    assert!(out.status.success(), "{}", text(&out));
    let manifest =
        std::fs::read_to_string(f.media.join(format!("1234-{id}.manifest.asc"))).unwrap();
    assert!(
        manifest.contains("created-by: alice\napproved-by: bob\n"),
        "{manifest}"
    );
    assert!(replay(&f.v).status.success());
    // A second export of the same approval: the request is exported now.
    let again = f.v.tmp.path().join("again");
    std::fs::create_dir(&again).unwrap();
    let out = export_to(&f, &id, &again);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(file_names(&again).is_empty());
    // Set back to approved in the table: the log knows it was exported.
    f.v.sqlite("UPDATE requests SET state = 'approved'");
    f.v.sqlite("UPDATE exports SET state = 'failed'");
    let out = export_to(&f, &id, &again);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("already exported"), "{}", text(&out));
    assert!(file_names(&again).is_empty());
    assert_eq!(replay(&f.v).status.code(), Some(3));
}

#[test]
fn a_newline_in_free_text_is_refused_before_it_reaches_a_statement() {
    let f = flow();
    let id = create(&f);
    let injected = "not paid\napproved-by: carol";
    let out =
        f.v.cmd()
            .args(["request", "reject", &id, "--reason", injected])
            .args(f.v.officer("bob"))
            .output()
            .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("control character"), "{}", text(&out));
    assert!(
        !text(&out).contains("approved-by"),
        "never echoed: {}",
        text(&out)
    );
    assert_eq!(f.v.events("request.rejected"), 0);
    let out =
        f.v.cmd()
            .args(["serial", "void", "60000001", "--reason", "a\tb"])
            .args(f.v.officer("bob"))
            .output()
            .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("control character"), "{}", text(&out));
    let out =
        f.v.cmd()
            .args([
                "order",
                "add",
                "--id",
                "99",
                "--customer",
                "Acme\nrequest: R0042",
                "--email",
                "a@b.example",
            ])
            .args(f.v.officer("bob"))
            .output()
            .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("control character"), "{}", text(&out));
    assert_eq!(f.v.events("serial.voided") + f.v.events("order.added"), 1);

    // Quotes, backslashes and a colon are fine, and the signed statement
    // parses back to exactly the fields given.
    let reason = "not paid \"yet\": ask \\ later";
    let out =
        f.v.cmd()
            .args(["request", "reject", &id, "--reason", reason])
            .args(f.v.officer("bob"))
            .output()
            .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let body = f.v.sqlite(
        "SELECT CAST(body AS TEXT) FROM audit WHERE json_extract(CAST(body AS TEXT), '$.event') = 'request.rejected'",
    );
    let entry: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    let signed = entry["data"]["statement"].as_str().unwrap();
    let keys: Vec<&str> = signed
        .lines()
        .skip(1)
        .map(|l| l.split_once(": ").unwrap().0)
        .collect();
    assert_eq!(
        keys,
        [
            "vault",
            "request",
            "order",
            "requester",
            "format",
            "recipient",
            "serials",
            "serials-sha256",
            "reexport",
            "created-by",
            "decision",
            "rejected-by",
            "reason"
        ]
    );
    let (req, _, decision) = statement::parse_decision(signed).unwrap();
    assert_eq!(
        decision,
        Decision::Reject {
            by: "bob".into(),
            reason: reason.into()
        }
    );
    assert_eq!(
        (
            req.request.as_str(),
            req.order.as_str(),
            req.created_by.as_str()
        ),
        (id.as_str(), "1234", "alice")
    );
    assert_eq!(req.serials, 8);
    assert!(replay(&f.v).status.success(), "{}", text(&replay(&f.v)));
}

#[test]
fn a_second_decision_is_refused_with_no_second_entry() {
    let f = flow();
    let id = create(&f);
    assert!(approve(&f, &id, "bob").status.success());
    let out = approve(&f, &id, "carol");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("not pending"), "{}", text(&out));
    let out =
        f.v.cmd()
            .args(["request", "reject", &id, "--reason", "too late"])
            .args(f.v.officer("carol"))
            .output()
            .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(f.v.events("request.approved"), 1);
    assert_eq!(f.v.events("request.rejected"), 0);
    assert_eq!(f.v.events("request.decision_refused"), 0);
}

/// Starts `seedvault --vault V args...` paused at `point`; returns it once
/// it got there, with the file that releases it.
fn paused(
    v: &TestVault,
    args: Vec<std::ffi::OsString>,
    point: &str,
) -> (std::process::Child, PathBuf) {
    let go = v.tmp.path().join(format!("go-{point}"));
    let mut reached = go.clone().into_os_string();
    reached.push(".reached");
    let child = Command::new(assert_cmd::cargo::cargo_bin("seedvault"))
        .env_remove("SEEDVAULT_DIR")
        .env("SEEDVAULT_TEST_PAUSE_AT", point)
        .env("SEEDVAULT_TEST_PAUSE_FILE", &go)
        .arg("--vault")
        .arg(&v.vault)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !Path::new(&reached).exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "{point} never reached"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, go)
}

fn args(list: &[&str], then: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    list.iter().map(|a| a.into()).chain(then).collect()
}

#[test]
fn concurrent_approvals_record_one_decision() {
    let f = flow();
    let id = create(&f);
    let carol = args(&["request", "approve", &id], f.v.officer("carol"));
    let (child, go) = paused(&f.v, carol, "decide-before-write");
    // Bob decides while carol's console holds a signed approval.
    let out = approve(&f, &id, "bob");
    assert!(out.status.success(), "{}", text(&out));
    std::fs::write(&go, "").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("meanwhile"), "{}", text(&out));
    assert_eq!(f.v.events("request.approved"), 1);
    assert_eq!(
        f.v.sqlite(&format!(
            "SELECT decided_by FROM requests WHERE id = '{id}'"
        ))
        .trim(),
        "bob"
    );
    assert!(replay(&f.v).status.success(), "{}", text(&replay(&f.v)));
}

#[test]
fn concurrent_exports_complete_once() {
    let (f, id) = approved();
    let first = f.v.tmp.path().join("first");
    std::fs::create_dir(&first).unwrap();
    let mut a = args(&["export", &id, "--media"], vec![first.clone().into()]);
    a.extend(f.v.quorum(&["alice", "carol"]));
    let (child, go) = paused(&f.v, a, "export-before-start");
    let out = export_to(&f, &id, &f.media);
    assert!(out.status.success(), "{}", text(&out));
    std::fs::write(&go, "").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("another run meanwhile"),
        "{}",
        text(&out)
    );
    assert!(file_names(&first).is_empty(), "{:?}", file_names(&first));
    assert_eq!(f.v.events("export.started"), 1);
    assert_eq!(f.v.events("export.completed"), 1);
    assert!(replay(&f.v).status.success(), "{}", text(&replay(&f.v)));
}

#[test]
fn an_export_that_loses_the_race_at_completion_removes_its_files() {
    let (f, id) = approved();
    let first = f.v.tmp.path().join("first");
    std::fs::create_dir(&first).unwrap();
    let mut a = args(&["export", &id, "--media"], vec![first.clone().into()]);
    a.extend(f.v.quorum(&["alice", "carol"]));
    let (child, go) = paused(&f.v, a, "export-before-complete");
    assert_eq!(file_names(&first).len(), 2, "written, not yet completed");
    let out = export_to(&f, &id, &f.media);
    assert!(out.status.success(), "{}", text(&out));
    std::fs::write(&go, "").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("completed first"), "{}", text(&out));
    assert!(file_names(&first).is_empty(), "{:?}", file_names(&first));
    assert_eq!(file_names(&f.media).len(), 2);
    assert_eq!(f.v.events("export.completed"), 1);
    assert_eq!(f.v.events("export.failed"), 1);
    assert!(replay(&f.v).status.success(), "{}", text(&replay(&f.v)));
}

#[test]
fn a_partial_file_that_was_already_there_is_left_alone() {
    let (f, id) = approved();
    let partial = f.media.join(format!(".1234-{id}.hex.asc.partial"));
    std::fs::write(&partial, "someone else's").unwrap();
    let out = export_to(&f, &id, &f.media);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("already exists"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&partial).unwrap(), "someone else's");
    assert_eq!(f.v.events("export.started"), 0);
}

#[test]
fn an_edited_pending_request_is_not_approved() {
    let f = flow();
    let id = create(&f);
    f.v.sqlite("UPDATE requests SET format = 'base32'");
    let out = approve(&f, &id, "bob");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("signed creation statement"),
        "{}",
        text(&out)
    );
    assert_eq!(f.v.events("request.approved"), 0);
    assert_eq!(f.v.events("request.decision_refused"), 1);
    assert_eq!(
        f.v.sqlite(&format!("SELECT state FROM requests WHERE id = '{id}'"))
            .trim(),
        "pending"
    );
}
