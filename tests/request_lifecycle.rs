//! The request lifecycle as a user sees it: `request list --json` keeps
//! its shape through pending, approved, rejected and exported, `status`
//! counts by stage, and a row whose stage is unreadable or lacks what its
//! stage needs (an edit with the sqlite3 CLI) is tampering wherever the
//! vault reads it: exit 3, the request named, nothing decided or written,
//! and `audit replay` names it too.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use crate::common::{request_id, text, TestVault};
use serde_json::Value;

struct Flow {
    v: TestVault,
    media: PathBuf,
}

/// A 2-of-3 vault (alice, bob, carol) with 8 tokens, all in order 4711,
/// and a customer certificate in `acme.asc`.
fn flow() -> Flow {
    let v = TestVault::new(2, &["alice", "bob", "carol"]);
    v.ingest("hex", 8, 70_000_000, 3);
    v.add_order("4711", "Acme", &["it@acme.example"], "alice");
    v.assign("4711", 70_000_000..70_000_008, "alice");
    v.customer_key("Acme IT <it@acme.example>", "acme.asc");
    let media = v.media();
    Flow { v, media }
}

/// `request create` by alice for `serials` (one per line); returns the id.
fn create(f: &Flow, serials: &[&str]) -> String {
    let file = f.v.tmp.path().join(format!("req-{}.txt", serials[0]));
    std::fs::write(&file, serials.join("\n")).unwrap();
    let file = file.to_str().unwrap();
    let key = f.v.tmp.path().join("acme.asc");
    request_id(&f.v.create_request(
        "4711",
        "it@acme.example",
        "hex",
        &key,
        "alice",
        &["--serials-file", file],
    ))
}

fn run(f: &Flow, args: &[&str], cards: &[&str]) -> std::process::Output {
    f.v.cmd()
        .args(args)
        .args(f.v.quorum(cards))
        .output()
        .unwrap()
}

fn export_to(f: &Flow, id: &str, media: &Path) -> std::process::Output {
    f.v.export(id, media, &["alice", "carol"])
}

fn json(f: &Flow, args: &[&str]) -> Value {
    let out = f.v.cmd().args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn listed(f: &Flow, id: &str) -> Value {
    json(f, &["request", "list", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .cloned()
        .unwrap()
}

const KEYS: [&str; 14] = [
    "id",
    "order_id",
    "requester",
    "format",
    "recipient_fingerprint",
    "state",
    "serials",
    "reexport_reason",
    "created_at",
    "created_by",
    "decided_by",
    "decided_at",
    "reject_reason",
    "expires_at",
];

fn keys(r: &Value) -> Vec<String> {
    r.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn request_list_json_keeps_its_shape_through_every_stage() {
    let f = flow();
    let mut want: Vec<String> = KEYS.iter().map(|k| k.to_string()).collect();
    want.sort();

    let a = create(&f, &["70000000", "70000001"]);
    let b = create(&f, &["70000002"]);
    let r = listed(&f, &a);
    let mut got = keys(&r);
    got.sort();
    assert_eq!(got, want);
    assert_eq!(
        (r["state"].as_str(), r["format"].as_str()),
        (Some("pending"), Some("hex"))
    );
    assert_eq!(
        (r["expires_at"].clone(), r["reject_reason"].clone()),
        (Value::Null, Value::Null)
    );
    let st = json(&f, &["status", "--json"]);
    assert_eq!(
        (
            st["requests_pending"].as_u64(),
            st["requests_approved"].as_u64()
        ),
        (Some(2), Some(0))
    );

    let out = run(&f, &["request", "approve", &a], &["bob"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = run(
        &f,
        &["request", "reject", &b, "--reason", "not paid"],
        &["carol"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let r = listed(&f, &a);
    assert_eq!(r["state"], "approved");
    assert!(r["expires_at"].as_i64().unwrap() > 0, "{r}");
    assert_eq!(r["decided_by"], "bob");
    let rb = listed(&f, &b);
    assert_eq!(
        (rb["state"].as_str(), rb["reject_reason"].as_str()),
        (Some("rejected"), Some("not paid"))
    );
    assert_eq!(rb["expires_at"], Value::Null);
    let st = json(&f, &["status", "--json"]);
    assert_eq!(
        (
            st["requests_pending"].as_u64(),
            st["requests_approved"].as_u64()
        ),
        (Some(0), Some(1))
    );

    let out = export_to(&f, &a, &f.media);
    assert!(out.status.success(), "{}", text(&out));
    let exported = listed(&f, &a);
    assert_eq!(exported["state"], "exported");
    assert_eq!(
        exported["expires_at"], r["expires_at"],
        "the approval it went out under"
    );
    let plain = f.v.cmd().args(["request", "list"]).output().unwrap();
    assert!(
        text(&plain).contains(&format!("{a:<6} exported ")),
        "{}",
        text(&plain)
    );
    f.v.cmd().args(["audit", "replay"]).assert().success();
}

#[test]
fn a_state_that_names_no_stage_is_tampering_wherever_it_is_read() {
    let f = flow();
    let id = create(&f, &["70000003"]);
    // The schema's CHECK constraint stops a careless edit, not an attacker.
    f.v.sqlite("PRAGMA ignore_check_constraints = ON; UPDATE requests SET state = 'approvedish'");

    let out = f.v.cmd().args(["request", "list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("request {id}")),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("none of pending, approved, rejected, exported"),
        "{}",
        text(&out)
    );
    assert!(
        !text(&out).contains("approvedish"),
        "the unreadable text is not repeated: {}",
        text(&out)
    );

    let out = run(&f, &["request", "approve", &id], &["bob"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(f.v.events("request.decision_refused"), 1);
    assert_eq!(f.v.events("request.approved"), 0);
    assert_eq!(
        f.v.sqlite("SELECT state, decided_by IS NULL FROM requests")
            .trim(),
        "approvedish|1"
    );

    let out = export_to(&f, &id, &f.media);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        std::fs::read_dir(&f.media).unwrap().next().is_none(),
        "nothing on the medium"
    );
    assert_eq!(f.v.events("export.refused"), 1);
    assert_eq!(f.v.events("export.started"), 0);

    let out = f.v.cmd().args(["audit", "replay"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("request {id}: table says an unknown state")),
        "{}",
        text(&out)
    );
}

#[test]
fn a_stage_without_what_it_carries_is_tampering() {
    let f = flow();
    let a = create(&f, &["70000004"]);
    let b = create(&f, &["70000005"]);
    let out = run(
        &f,
        &["request", "reject", &a, "--reason", "wrong key"],
        &["bob"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = run(&f, &["request", "approve", &b], &["bob"]);
    assert!(out.status.success(), "{}", text(&out));

    let pristine = std::fs::read(f.v.db()).unwrap();
    for (sql, id, says) in [
        (
            format!("UPDATE requests SET reject_reason = NULL WHERE id = '{a}'"),
            &a,
            "marked rejected but carries no reason",
        ),
        (
            format!("UPDATE requests SET expires_at = NULL WHERE id = '{b}'"),
            &b,
            "marked approved but carries no signed approval",
        ),
        (
            format!("UPDATE requests SET format = 'hexx' WHERE id = '{b}'"),
            &b,
            "its format in the table is not one this seedvault knows",
        ),
    ] {
        f.v.sqlite(&sql);
        let out =
            f.v.cmd()
                .args(["request", "list", "--json"])
                .output()
                .unwrap();
        assert_eq!(out.status.code(), Some(3), "{sql}: {}", text(&out));
        assert!(out.stdout.is_empty(), "{sql}: no partial list");
        assert!(
            text(&out).contains(&format!("request {id}: ")) && text(&out).contains(says),
            "{sql}: {}",
            text(&out)
        );
        if id == &b {
            let out = export_to(&f, &b, &f.media);
            assert_eq!(out.status.code(), Some(3), "{sql}: {}", text(&out));
            assert!(text(&out).contains(says), "{sql}: {}", text(&out));
            assert!(
                std::fs::read_dir(&f.media).unwrap().next().is_none(),
                "{sql}"
            );
        }
        std::fs::write(f.v.db(), &pristine).unwrap();
    }
    f.v.cmd().args(["request", "list"]).assert().success();
}
